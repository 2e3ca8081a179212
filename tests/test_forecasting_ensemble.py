"""GRUForecaster's ensembles: several models, each reading its own window length."""

import copy
import json
import zipfile

import numpy as np
import pytest
from _helpers import base_forecast
from sklearn.exceptions import NotFittedError

import fastgru
import fastgru.forecasting as forecasting
from fastgru import GRUForecaster
from fastgru.forecasting import ensemble_size, member_windows

pd = pytest.importorskip("pandas")


def panel(n_series=10, length=60, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(length)
    return {f"s{i}": 10 * (i + 1) + 3 * np.sin(2 * np.pi * t / 12 + i) + rng.normal(size=length)
            for i in range(n_series)}


def fitted(n_models=3, **kw):
    params = dict(horizon=4, season_length=12, max_epochs=4, random_state=0, n_models=n_models)
    return GRUForecaster(**{**params, **kw}).fit(panel())


def one_model(model, j):
    """A copy of an ensemble that holds only its ``j``-th model."""
    nets = [(model.gru_, model.head_), *model.members_]
    single = copy.deepcopy(model)
    single.gru_, single.head_ = copy.deepcopy(nets[j])
    single.members_, single.member_windows_ = [], [model.member_windows_[j]]
    single.window_ = model.member_windows_[j]
    return single


def test_default_size_and_windows():
    assert [ensemble_size(n) for n in (0, 9_999, 10_000, 10**6)] == [1, 1, 3, 3]
    assert ensemble_size(10**6, n_models=1) == 1 and ensemble_size(5, n_models=4) == 4
    with pytest.raises(ValueError, match="n_models"):
        ensemble_size(5, n_models=17)
    assert member_windows(36, 4) == [36, 27, 54, 36]
    assert member_windows(1, 3) == [1, 1, 2]  # never a window of 0 steps


def test_small_panels_get_one_model_and_large_ones_three_each_of_hidden_size_32(monkeypatch):
    model = GRUForecaster(horizon=4, season_length=12, max_epochs=1, random_state=0).fit(panel())
    assert model.members_ == [] and model.member_windows_ == [36]
    assert model.gru_.hidden_size == 32
    monkeypatch.setattr(forecasting, "ENSEMBLE_MIN_WINDOWS", 100)  # this panel has 440
    model = GRUForecaster(horizon=4, season_length=12, max_epochs=1, random_state=0).fit(panel())
    assert model.member_windows_ == [36, 27, 54]
    assert [g.hidden_size for g in [model.gru_, *(m[0] for m in model.members_)]] == [32] * 3
    assert model.history_.shape == (10, 54)  # the longest window of every series
    # a hidden size given is every model's
    model = GRUForecaster(horizon=4, season_length=12, max_epochs=1, random_state=0,
                          hidden_size=8).fit(panel())
    assert {g.hidden_size for g in [model.gru_, *(m[0] for m in model.members_)]} == {8}


def test_the_forecast_is_the_mean_of_the_models_forecasts():
    model = fitted()
    assert model.member_windows_ == [36, 27, 54]
    singles = [one_model(model, j).predict() for j in range(3)]
    ours = model.predict()
    for name in ours:
        np.testing.assert_allclose(ours[name], np.mean([s[name] for s in singles], axis=0),
                                   rtol=1e-12)
    # the models differ (their own windows and initial weights)
    assert not np.allclose(singles[0]["s0"], singles[1]["s0"])
    # fed back beyond the horizon, the first block is the same mean, and
    # the next one is forecast from it (not from any one model's forecast)
    long = model.predict(h=8)
    np.testing.assert_allclose(long["s3"][:4], ours["s3"], rtol=1e-12)
    assert not any(np.allclose(long["s3"][4:], one_model(model, j).predict(h=8)["s3"][4:])
                   for j in range(3))


def test_epochs_of_every_model_are_counted():
    model = fitted(max_epochs=3, n_iter_no_change=50)
    per_model = 3 + forecasting.FINAL_EPOCHS
    assert model.n_iter_ == len(model.loss_curve_) == 3 * per_model
    assert len(model.validation_scores_) == 3 * 3


def test_save_and_load_an_ensemble(tmp_path):
    model = fitted()
    fastgru.save(model, tmp_path / "e.npz")
    again = fastgru.load(tmp_path / "e.npz")
    assert again.member_windows_ == model.member_windows_ and len(again.members_) == 2
    a, b = model.predict(level=[80]), again.predict(level=[80])
    for name in a:
        for col in a[name]:
            np.testing.assert_array_equal(a[name][col], b[name][col])


def _rewrite(src, dst, meta_change=None, drop=()):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            if item.filename[:-4] in drop:
                continue
            data = zin.read(item.filename)
            if item.filename == "__meta__.npy" and meta_change:
                arr = np.lib.format.read_array(__import__("io").BytesIO(data))
                meta = json.loads(arr.tobytes())
                meta_change(meta)
                buf = __import__("io").BytesIO()
                np.lib.format.write_array(buf, np.frombuffer(json.dumps(meta).encode(),
                                                             dtype=np.uint8))
                data = buf.getvalue()
            zout.writestr(item, data)


@pytest.mark.parametrize("change, match", [
    (dict(drop=("member1/head/bias",)), "member1/head/bias"),
    (dict(drop=("member0/gru/weight_hh_l0",)), "missing"),
    (dict(meta_change=lambda m: m["members"].pop()), "unknown members"),
    (dict(meta_change=lambda m: m["members"].extend([m["members"][0]] * 14)), "at most 15"),
    (dict(meta_change=lambda m: m["attributes"].update(member_windows_=[36, 27])),
     "member_windows_"),
    (dict(meta_change=lambda m: m["attributes"].update(member_windows_=[36, 27, 0])),
     "member_windows_"),
    (dict(meta_change=lambda m: m["attributes"].update(member_windows_=[36, 27, 99])),
     "longest window"),
    (dict(meta_change=lambda m: m["members"][0].update(hidden_size=64)), "shape"),
    *[(dict(meta_change=lambda m, v=v, a=a: m["attributes"].update({a: v})), a)
      for a in ("_profile_base", "_recent_unit") for v in ("yes", 1, 0.0, [True])],
])
def test_load_refuses_a_tampered_ensemble(tmp_path, change, match):
    fastgru.save(fitted(), tmp_path / "e.npz")
    _rewrite(tmp_path / "e.npz", tmp_path / "bad.npz", **change)
    with pytest.raises(ValueError, match=match):
        fastgru.load(tmp_path / "bad.npz")


def test_members_in_a_regressor_file_are_refused(tmp_path):
    X = np.random.default_rng(0).normal(size=(20, 5, 2))
    reg = fastgru.GRURegressor(hidden_size=4, max_epochs=1, random_state=0).fit(X, X[:, -1, 0])
    fastgru.save(reg, tmp_path / "r.npz")
    _rewrite(tmp_path / "r.npz", tmp_path / "bad.npz",
             meta_change=lambda m: m.update(members=[m["layer"]]))
    with pytest.raises(ValueError, match="members"):
        fastgru.load(tmp_path / "bad.npz")


def test_ctrl_c_in_the_second_model_keeps_the_first(monkeypatch, tmp_path):
    from fastgru import _optim

    calls = {"n": 0}
    original = _optim.Adam.update

    def update(self, params, grads):
        calls["n"] += 1
        if calls["n"] == 1000:
            raise KeyboardInterrupt
        original(self, params, grads)

    monkeypatch.setattr(_optim.Adam, "update", update)
    full = fitted(max_epochs=2, n_iter_no_change=50)  # counts the updates of one model
    per_model = calls["n"] // 3
    calls["n"] = 1000 - per_model - 2  # the interrupt falls in the second model's first epoch
    model = GRUForecaster(horizon=4, season_length=12, max_epochs=2, n_iter_no_change=50,
                          random_state=0, n_models=3)
    with pytest.raises(KeyboardInterrupt):
        model.fit(panel())
    monkeypatch.undo()
    assert model.member_windows_ == [36] and model.members_ == []
    assert model.n_iter_ == 2 + forecasting.FINAL_EPOCHS  # the second model not counted
    np.testing.assert_array_equal(model.gru_.params["weight_hh_l0"],
                                  full.gru_.params["weight_hh_l0"])
    assert model.calibration_ is not None
    fastgru.save(model, tmp_path / "one.npz")
    np.testing.assert_array_equal(fastgru.load(tmp_path / "one.npz").predict()["s1"],
                                  model.predict()["s1"])


def test_warm_start_continues_every_model():
    model = fitted(max_epochs=2)
    layers = [model.gru_, *(m[0] for m in model.members_)]
    before = [g.params["weight_hh_l0"].copy() for g in layers]
    model.set_params(warm_start=True, max_epochs=1)
    model.fit(panel())
    after = [model.gru_, *(m[0] for m in model.members_)]
    assert all(a is b for a, b in zip(after, layers))  # the same layers, trained further
    assert all(not np.array_equal(g.params["weight_hh_l0"], w) for g, w in zip(after, before))
    # another number of models starts again
    model.set_params(n_models=2)
    model.fit(panel())
    assert model.member_windows_ == [36, 27] and model.gru_ is not layers[0]


def test_warm_start_builds_the_layers_the_parameters_now_describe():
    model = fitted(n_models=2, max_epochs=1, hidden_size=4, warm_start=True)
    model.set_params(hidden_size=6, dtype="float64")
    model.fit(panel())
    for gru in [model.gru_, *(m[0] for m in model.members_)]:
        assert (gru.hidden_size, gru.dtype) == (6, np.float64)


def test_warm_start_trains_with_the_dropout_the_parameters_now_give():
    model = fitted(n_models=2, max_epochs=1, hidden_size=4, num_layers=2, warm_start=True)
    layers = [model.gru_, *(m[0] for m in model.members_)]
    model.set_params(dropout=0.5).fit(panel())
    after = [model.gru_, *(m[0] for m in model.members_)]
    assert all(a is b for a, b in zip(after, layers))  # continued
    assert [g.dropout for g in after] == [0.5, 0.5]


def _widths(model, level=80):
    fc = model.predict(level=[level])
    return np.array([fc[k][f"hi-{level}"] - fc[k][f"lo-{level}"] for k in sorted(fc)])


def test_a_file_from_before_ensembles_and_the_recent_unit_keeps_its_intervals(tmp_path):
    """A yearly model saved without ``member_windows_`` and ``_recent_unit``
    (as files written before them): one model, continued by ``warm_start``,
    and intervals in the unit its calibration used, the window's volatility."""
    rng = np.random.default_rng(1)  # calm, then a burst of volatility at the end
    series = {f"s{i}": np.cumsum(np.r_[0.2 * rng.normal(size=36), 3 * rng.normal(size=4)]) + 50
              for i in range(8)}
    model = GRUForecaster(horizon=4, hidden_size=4, max_epochs=3, random_state=0).fit(series)
    fastgru.save(model, tmp_path / "new.npz")

    def drop(meta):
        del meta["attributes"]["member_windows_"], meta["attributes"]["_recent_unit"]

    _rewrite(tmp_path / "new.npz", tmp_path / "old.npz", meta_change=drop)
    old = fastgru.load(tmp_path / "old.npz")
    assert old.member_windows_ == [old.window_] == [12] and old.members_ == []
    # the unit of each series: its window's mean absolute step, and (new
    # files only) at least that of its last 4 steps
    hist = np.array([series[k][-12:] for k in sorted(series)])
    whole = np.abs(np.diff(hist, axis=1)).mean(axis=1)
    recent = np.abs(np.diff(hist[:, -4:], axis=1)).mean(axis=1)
    assert (recent > 1.5 * whole).all()  # the burst
    ratio = _widths(old) / _widths(fastgru.load(tmp_path / "new.npz"))
    expected = np.repeat((whole / np.maximum(whole, recent))[:, None], 4, axis=1)
    np.testing.assert_allclose(ratio, expected, rtol=1e-6)
    layer = old.gru_
    old.set_params(warm_start=True, max_epochs=1).fit(series)
    assert old.gru_ is layer and old._recent_unit  # continued; refitted in the new unit


def _seasonal_files(tmp_path):
    """Quarterly series, and a model of them saved as ``new.npz`` and, without
    ``_profile_base`` (as files written before it), as ``old.npz``."""
    rng = np.random.default_rng(2)
    t = np.arange(40)
    series = {f"s{i}": 20 + 0.1 * i * t + 3 * np.sin(2 * np.pi * t / 4 + i)
              + rng.normal(size=40) for i in range(6)}
    model = GRUForecaster(horizon=4, season_length=4, hidden_size=4, max_epochs=2,
                          random_state=0, theta_weight=0).fit(series)  # the network alone
    assert model.window_ == 12 and model._profile_base
    fastgru.save(model, tmp_path / "new.npz")
    _rewrite(tmp_path / "new.npz", tmp_path / "old.npz",
             meta_change=lambda meta: meta["attributes"].pop("_profile_base"))
    return series


def test_a_seasonal_file_from_before_the_profile_base_keeps_the_seasonal_naive_base(tmp_path):
    """A seasonal model saved without ``_profile_base`` (as files written
    before it) corrects the seasonal naive forecast it was trained on: its
    forecasts differ from the same network's in a new file by exactly the
    seasonal naive forecast less the profile of the window's seasons."""
    series = _seasonal_files(tmp_path)
    old, new = fastgru.load(tmp_path / "old.npz"), fastgru.load(tmp_path / "new.npz")
    assert not old._profile_base
    got = old.predict(level=[80])
    want = new.predict(level=[80])
    for key, y in series.items():
        profile, naive = base_forecast(y[-12:], 4, 4), y[-4:]
        assert np.abs(naive - profile).max() > 0.1  # the two bases differ
        for part in ("mean", "lo-80", "hi-80"):
            np.testing.assert_allclose(got[key][part] - want[key][part], naive - profile,
                                       atol=1e-4)
    layer = old.gru_
    old.set_params(warm_start=True, max_epochs=1).fit(series)
    # weights made for the other base are not continued: new models
    assert old.gru_ is not layer and old._profile_base


def test_ctrl_c_in_a_warm_start_from_before_the_profile_base_forecasts_no_other_base(
        monkeypatch, tmp_path):
    """A warm start of a seasonal file written before the profile base
    trains new models: interrupted before any epoch ended, it leaves the
    estimator unfitted, as a new fit does, and no model's weights are read
    under a base they were not trained on."""
    from fastgru import _optim

    series = _seasonal_files(tmp_path)
    old = fastgru.load(tmp_path / "old.npz")

    def update(self, params, grads):
        raise KeyboardInterrupt

    monkeypatch.setattr(_optim.Adam, "update", update)
    old.set_params(warm_start=True, max_epochs=1)
    with pytest.raises(KeyboardInterrupt):
        old.fit(series)
    assert not hasattr(old, "gru_") and not hasattr(old, "history_")
    with pytest.raises(NotFittedError):
        old.predict()


def test_each_model_of_an_ensemble_corrects_the_profile_of_its_own_window():
    """Windows of 12, 9 and 18 steps hold 3, 2 and 4 seasons of 4 steps (a
    series of 10 steps: 2 in each): each model's forecast less the same
    model's on the seasonal naive base is the profile of its window's
    seasons on the last season's level less the last season."""
    rng = np.random.default_rng(5)
    series = {f"s{i}": 20 + 3 * np.sin(2 * np.pi * np.arange(n) / 4 + i) + rng.normal(size=n)
              for i, n in enumerate([40, 33, 10, 25])}
    model = GRUForecaster(window=12, horizon=6, season_length=4, hidden_size=4, max_epochs=2,
                          n_models=3, random_state=0, theta_weight=0).fit(series)
    assert model.member_windows_ == [12, 9, 18]
    for j, window in enumerate(model.member_windows_):
        single = one_model(model, j)
        naive = copy.deepcopy(single)
        naive._profile_base = False
        got, base = single.predict(), naive.predict()
        for key, y in series.items():
            want = base_forecast(y[-window:], 4, 6) - np.resize(y[-4:], 6)
            assert np.abs(want).max() > 0.1  # the two bases differ
            np.testing.assert_allclose(got[key] - base[key], want, atol=1e-6)


def test_a_first_layer_too_large_for_memory_is_named_and_leaves_no_state():
    model = GRUForecaster(horizon=4, hidden_size=10**6, random_state=0)
    with pytest.raises(ValueError, match="memory"):
        model.fit(panel())
    assert not hasattr(model, "history_") and not hasattr(model, "gru_")


def test_ctrl_c_before_the_last_epochs_on_everything_keeps_the_intervals(monkeypatch, tmp_path):
    from fastgru import _forecast_fit

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(_forecast_fit, "_final_epochs", interrupted)
    model = GRUForecaster(horizon=4, season_length=12, max_epochs=2, n_iter_no_change=50,
                          random_state=0)
    with pytest.raises(KeyboardInterrupt):
        model.fit(panel())
    assert model.n_iter_ == 2 and model.calibration_ is not None
    fastgru.save(model, tmp_path / "m.npz")
    np.testing.assert_array_equal(_widths(fastgru.load(tmp_path / "m.npz")), _widths(model))


def test_ctrl_c_in_a_continued_ensemble_keeps_every_model_and_its_intervals(monkeypatch):
    from fastgru import _forecast_fit

    model = fitted(max_epochs=2)
    nets = [model.gru_, *(m[0] for m in model.members_)]
    before = _widths(model)
    calls = {"n": 0}
    original = _forecast_fit._train

    def second_interrupted(*args):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return original(*args)

    monkeypatch.setattr(_forecast_fit, "_train", second_interrupted)
    model.set_params(warm_start=True, max_epochs=1)
    with pytest.raises(KeyboardInterrupt):
        model.fit(panel())
    assert [model.gru_, *(m[0] for m in model.members_)] == nets
    assert model.member_windows_ == [36, 27, 54]
    np.testing.assert_array_equal(_widths(model) > 0, before > 0)  # the previous intervals
    assert model.n_iter_ == 1 + forecasting.FINAL_EPOCHS  # the first model's run


def test_a_model_interrupted_after_an_epoch_is_dropped_with_its_epochs(monkeypatch):
    from fastgru import _training

    runs = {"n": 0}
    original = _training.train_epoch

    def epoch(*args):
        if args[-1] == 2:  # an epoch 2: the second run is the first model's last epochs
            runs["n"] += 1
            if runs["n"] == 3:  # the second model's second epoch
                raise KeyboardInterrupt
        return original(*args)

    monkeypatch.setattr(_training, "train_epoch", epoch)
    model = GRUForecaster(horizon=4, season_length=12, max_epochs=4, n_iter_no_change=50,
                          random_state=0, n_models=3).fit(panel())
    assert model.member_windows_ == [36] and model.members_ == []
    assert model.n_iter_ == len(model.loss_curve_) == 4 + forecasting.FINAL_EPOCHS
    assert len(model.validation_scores_) == 4 and model.calibration_ is not None


def _long(n_series, length, start):
    rng = np.random.default_rng(n_series)
    return pd.concat([pd.DataFrame({"unique_id": f"s{i}", "ds": pd.date_range(
        start, periods=length, freq="D"), "y": 10 + rng.normal(size=length).cumsum()})
        for i in range(n_series)], ignore_index=True)


@pytest.mark.parametrize("warm_start", [False, True])
def test_ctrl_c_while_a_refit_keeps_the_new_series_leaves_no_mixed_state(
        monkeypatch, tmp_path, warm_start):
    """An interrupt while a refit stores its series (their ends, then their
    time stamps) leaves the previous fit (continued with warm_start) or none,
    never the new series with the previous series' dates."""
    from fastgru import _forecast_state

    model = GRUForecaster(horizon=3, hidden_size=4, max_epochs=2, random_state=0,
                          warm_start=warm_start).fit(_long(6, 60, "2020-01-01"))
    before = model.predict()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(_forecast_state, "panel_index_info", interrupted)
    with pytest.raises(KeyboardInterrupt):
        model.fit(_long(4, 50, "2021-01-01"))
    monkeypatch.undo()
    if not warm_start:  # a new model that finished no epoch: not fitted
        assert not hasattr(model, "series_ids_") and not hasattr(model, "gru_")
        with pytest.raises(NotFittedError):
            model.predict()
        return
    pd.testing.assert_frame_equal(model.predict(), before)  # the previous series and dates
    fastgru.save(model, tmp_path / "m.npz")
    pd.testing.assert_frame_equal(fastgru.load(tmp_path / "m.npz").predict(), before)


@pytest.mark.parametrize("warm_start", [False, True])
def test_a_refit_on_ids_the_model_cannot_keep_leaves_the_fit_as_it_was(warm_start):
    """Series ids 1 and '1' are refused (the model keeps such ids as text):
    data fit refuses leaves the estimator fitted as it was, with its epochs."""
    model = GRUForecaster(horizon=3, hidden_size=4, max_epochs=2, random_state=0,
                          warm_start=warm_start).fit(_long(2, 40, "2020-01-01"))
    before, epochs = model.predict(), list(model.loss_curve_)
    bad = _long(2, 40, "2020-01-01")
    bad["unique_id"] = [1 if i == "s0" else "1" for i in bad["unique_id"]]
    with pytest.raises(ValueError, match="the same as text"):
        model.fit(bad)
    pd.testing.assert_frame_equal(model.predict(), before)
    assert model.loss_curve_ == epochs and model.n_iter_ == len(epochs) > 0
