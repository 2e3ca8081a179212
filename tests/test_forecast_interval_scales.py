"""Intervals of a panel whose series erred unequally on their held-out end:
a series whose held-out forecasts erred far more than the panel's typical
series gets intervals of its own, wider scale, and no longer widens the
other series' intervals."""

import copy
import pickle

import numpy as np
import pytest

import fastgru
from fastgru import GRUForecaster, _forecast_fit
from fastgru._forecast_fit import SCALE_PRIOR_ROWS, SCALE_RATIO, interval_scales

H = 6
CALM = [f"calm{i}" for i in range(8)]


def _reference_scales(errors, rows, n_series):
    """The rule written out series by series: the series' mean absolute
    error over the median of the series' means, shrunk towards 1 with the
    weight of SCALE_PRIOR_ROWS forecasts, over SCALE_RATIO, at least 1."""
    means = {i: np.abs(errors[rows == i]).mean() for i in range(n_series) if (rows == i).any()}
    typical = np.median(list(means.values()))
    out = []
    for i in range(n_series):
        n = int((rows == i).sum())
        if not n:
            out.append(1.0)
            continue
        shrunk = (n * means[i] / typical + SCALE_PRIOR_ROWS) / (n + SCALE_PRIOR_ROWS)
        out.append(max(1.0, shrunk / SCALE_RATIO))
    return np.array(out)


@pytest.mark.parametrize("seed", range(6))
def test_interval_scales_follow_the_rule_series_by_series(seed):
    rng = np.random.default_rng(seed)
    n_series = 7
    counts = rng.integers(0, 9, n_series)
    counts[0] = max(counts[0], 1)
    rows = np.repeat(np.arange(n_series), counts)
    errors = rng.standard_t(3, (len(rows), 4)) * rng.choice([1, 1, 1, 30], n_series)[rows, None]
    got = interval_scales(errors, rows, n_series)
    np.testing.assert_allclose(got, _reference_scales(errors, rows, n_series), rtol=1e-12)
    assert (got >= 1).all()


def test_of_two_series_neither_is_the_typical_one():
    """The median of two is their mean: no series is twice it, whatever
    their errors (the far-off one cannot be told from the typical one)."""
    rows = np.repeat(np.arange(2), 6)
    errors = np.ones((12, 3))
    errors[rows == 1] = 1e6
    assert interval_scales(errors, rows, 2).tolist() == [1.0, 1.0]
    errors = np.ones((18, 3))
    errors[12:] = 10.0  # a third series: the first two are typical
    np.testing.assert_allclose(interval_scales(errors, np.repeat(np.arange(3), 6), 3),
                               [1.0, 1.0, (6 * 10 + 8) / (6 + 8) / 2])


def test_interval_scales_without_a_typical_error_are_one():
    rows = np.repeat(np.arange(3), 4)
    assert interval_scales(np.zeros((12, 2)), rows, 3).tolist() == [1.0] * 3
    assert interval_scales(np.zeros((0, 2)), np.zeros(0, np.int64), 2).tolist() == [1.0] * 2
    wild = np.ones((12, 2))
    wild[rows == 2] = np.inf  # an error beyond float64's range: no scale from it
    assert interval_scales(wild, rows, 3).tolist() == [1.0] * 3


def _panel():
    """Eight calm seasonal series and one whose level jumps in its last steps,
    which its held-out forecasts miss."""
    t = np.arange(96)
    rng = np.random.default_rng(5)
    series = {k: 10 + np.sin(2 * np.pi * t / 12 + i) + rng.normal(0, 0.2, t.size)
              for i, k in enumerate(CALM)}
    shock = 10 + np.sin(2 * np.pi * t / 12) + rng.normal(0, 0.2, t.size)
    shock[-4:] += 8
    series["shock"] = shock
    return series


@pytest.fixture(scope="module")
def shocked():
    return GRUForecaster(horizon=H, season_length=12, hidden_size=8, max_epochs=5,
                         random_state=0).fit(_panel())


def _interrupted(*args):
    raise KeyboardInterrupt


def _widths(fc, level):
    return {k: np.asarray(v[f"hi-{level}"]) - np.asarray(v[f"lo-{level}"]) for k, v in fc.items()}


def test_one_series_shock_widens_its_own_intervals_not_the_others(shocked):
    model = shocked
    scales = dict(zip(model.series_ids_.tolist(), model.interval_scale_))
    assert scales["shock"] > 1 and all(scales[k] == 1 for k in CALM)
    # each series holds out `horizon` origins, series after series
    assert model.calibration_.shape == (9 * H, H)
    rows = np.repeat(np.arange(9), H)
    pooled = copy.deepcopy(model)  # every series at the panel's scale
    pooled.calibration_ = model.calibration_ * model.interval_scale_[rows, None]
    pooled.interval_scale_ = np.ones(9)
    for level in (80, 95):
        new, old = _widths(model.predict(level=[level]), level), _widths(
            pooled.predict(level=[level]), level)
        calm_new = np.concatenate([new[k] for k in CALM])
        calm_old = np.concatenate([old[k] for k in CALM])
        assert (calm_new <= calm_old * (1 + 1e-12)).all()
        assert calm_new.sum() < calm_old.sum()
        # the shock's errors set the panel's 95% quantiles: the calm series'
        # 95% intervals were more than twice as wide as their own errors need
        if level == 95:
            assert calm_new.sum() < 0.5 * calm_old.sum()
        # the shock series' intervals are wider than every calm series'
        assert new["shock"].min() > calm_new.max()


def test_a_new_history_keeps_the_scale_of_the_series_it_names(shocked):
    model = shocked
    series = _panel()
    np.testing.assert_allclose(_widths(model.predict(y=series, level=[80]), 80)["shock"],
                               _widths(model.predict(level=[80]), 80)["shock"], rtol=1e-9)
    series["unknown"] = series.pop("shock")  # a series the model does not know: scale 1
    widths = _widths(model.predict(y=series, level=[80]), 80)
    named = _widths(model.predict(level=[80]), 80)["shock"]
    s = model.interval_scale_[model.series_ids_.tolist().index("shock")]
    np.testing.assert_allclose(widths["unknown"] * s, named, rtol=1e-9)


def test_save_and_load_keep_the_scales(shocked, tmp_path):
    path = tmp_path / "f.npz"
    fastgru.save(shocked, path)
    loaded = fastgru.load(path)
    np.testing.assert_array_equal(loaded.interval_scale_, shocked.interval_scale_)
    a, b = shocked.predict(level=[80]), loaded.predict(level=[80])
    for k in a:
        np.testing.assert_array_equal(a[k]["lo-80"], b[k]["lo-80"])


def test_an_interrupted_continued_fit_keeps_each_series_scale_by_id(shocked, monkeypatch):
    """Ctrl-C in a continued fit keeps the previous intervals: each series
    keeps its scale, matched by id when the series come in another order."""
    model = copy.deepcopy(shocked)
    before = dict(zip(model.series_ids_.tolist(), model.interval_scale_))
    calibration = model.calibration_.copy()
    monkeypatch.setattr(_forecast_fit, "_train", _interrupted)
    model.set_params(warm_start=True)
    reordered = dict(reversed(list(_panel().items())))
    with pytest.raises(KeyboardInterrupt):
        model.fit(reordered)
    assert model.series_ids_.tolist() == list(reordered)
    assert dict(zip(model.series_ids_.tolist(), model.interval_scale_)) == before
    np.testing.assert_array_equal(model.calibration_, calibration)


def test_ids_given_as_text_find_the_scales_of_integer_ids(monkeypatch):
    series = dict(enumerate(_panel().values()))  # the shock is series 8
    model = GRUForecaster(horizon=H, season_length=12, hidden_size=8, max_epochs=5,
                          random_state=0).fit(series)
    scales = model.interval_scale_.copy()
    assert scales[8] > 1
    as_text = {str(k): v for k, v in series.items()}
    widths = _widths(model.predict(y=as_text, level=[80]), 80)
    np.testing.assert_allclose(widths["8"], _widths(model.predict(level=[80]), 80)[8],
                               rtol=1e-9)
    # a continued fit on the ids as text, interrupted: the previous scales stay
    monkeypatch.setattr(_forecast_fit, "_train", _interrupted)
    with pytest.raises(KeyboardInterrupt):
        model.set_params(warm_start=True).fit(as_text)
    assert model.series_ids_.tolist() == list(as_text)
    np.testing.assert_array_equal(model.interval_scale_, scales)


def test_the_index_of_ids_follows_them_and_stays_out_of_pickles(shocked):
    """predict(y=...) looks series up in an index of the fitted ids built
    once: rebuilt when the ids change (here in place), never pickled."""
    model = copy.deepcopy(shocked)
    shock = _panel()["shock"]
    model.predict(y={"shock": shock}, level=[80])
    assert "_id_cache" in vars(model)
    assert "_id_cache" not in vars(pickle.loads(pickle.dumps(model)))
    model.series_ids_[8] = "jump"
    np.testing.assert_allclose(_widths(model.predict(y={"jump": shock}, level=[80]), 80)["jump"],
                               _widths(model.predict(level=[80]), 80)["jump"], rtol=1e-9)
