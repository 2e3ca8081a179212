"""GRUForecaster's mix with the optimised Theta model (``theta_weight``):
forecasts, intervals, new histories, covariates, files."""

import io
import json
import zipfile

import numpy as np
import pytest

import fastgru
from fastgru import GRUForecaster
from fastgru.forecasting import optimized_theta

FAST = dict(horizon=4, season_length=4, hidden_size=8, max_epochs=3, random_state=0)


def _panel(n_series=12, seed=0):
    rng = np.random.default_rng(seed)
    return {f"s{i}": 30 + 3 * i + 4 * np.sin(2 * np.pi * np.arange(n) / 4 + i)
            + rng.normal(0, 1, n).cumsum() * 0.5
            for i, n in enumerate(rng.integers(30, 60, n_series))}


@pytest.fixture(scope="module")
def fitted():
    """The same networks mixed with Theta by 0, 1/3 and 1."""
    series = _panel()
    return series, {w: GRUForecaster(theta_weight=w, **FAST).fit(series)
                    for w in (0.0, 1 / 3, 1.0)}


def test_the_forecast_is_the_weighted_mean_of_the_networks_and_theta(fitted):
    series, models = fitted
    assert models[1 / 3].theta_weight_ == 1 / 3
    assert models[0.0].theta_weight_ == 0 and models[0.0].theta_state_ is None
    nets = np.array(list(models[0.0].predict().values()))
    theta = optimized_theta(list(series.values()), 4, 4)
    mixed = np.array(list(models[1 / 3].predict().values()))
    np.testing.assert_allclose(mixed, 2 / 3 * nets + theta / 3, rtol=1e-12)
    np.testing.assert_allclose(np.array(list(models[1.0].predict().values())), theta,
                               rtol=1e-12)
    # beyond the horizon: the networks feed their own forecasts back, Theta
    # forecasts every step
    long_nets = np.array(list(models[0.0].predict(10).values()))
    np.testing.assert_allclose(np.array(list(models[1 / 3].predict(10).values())),
                               2 / 3 * long_nets + optimized_theta(list(series.values()), 10, 4)
                               / 3, rtol=1e-12)


@pytest.mark.parametrize("alternating, kept", [(False, True), (True, False)])
def test_by_default_theta_is_kept_when_it_lowers_the_held_out_error(alternating, kept):
    """The default mixes in a third of Theta unless that raises the mean
    absolute held-out error (in units of each window's volatility, as the
    calibration errors are) by more than 10%: on noisy seasonal series it
    does not; on series that alternate up and down, which the networks'
    seasonal base follows and Theta (no seasons under 4 steps) smooths out,
    it does."""
    series = _panel(30, seed=4)
    kw = FAST
    if alternating:
        rng = np.random.default_rng(4)
        series = {k: 10 + 3 * (-1.0) ** np.arange(len(v)) + rng.normal(0, 0.1, len(v))
                  for k, v in series.items()}
        kw = {**FAST, "season_length": 2}
    cal = {w: GRUForecaster(theta_weight=w, **kw).fit(series).calibration_ for w in (0, 1)}
    mix = 2 / 3 * cal[0] + cal[1] / 3
    assert (np.abs(mix).mean() <= 1.1 * np.abs(cal[0]).mean()) == kept
    model = GRUForecaster(**kw).fit(series)
    assert model.theta_weight_ == (1 / 3 if kept else 0)
    assert (model.theta_state_ is None) == (not kept)
    np.testing.assert_allclose(model.calibration_, mix if kept else cal[0], rtol=1e-9)
    back = GRUForecaster(theta_weight=0, **kw).fit(series)
    if not kept:
        np.testing.assert_array_equal(np.array(list(model.predict().values())),
                                      np.array(list(back.predict().values())))


def test_the_intervals_are_calibrated_on_the_mixed_errors(fitted):
    """The held-out errors are linear in the weight: the default's are two
    thirds of the networks' and one third of Theta's, and Theta's are its
    forecasts from the held-out origins (the last ``horizon`` steps of each
    series, up to 4 origins per series here) in units of each window's
    volatility, a positive factor per window."""
    series, models = fitted
    cal = {w: m.calibration_ for w, m in models.items()}
    np.testing.assert_allclose(cal[1 / 3], 2 / 3 * cal[0.0] + cal[1.0] / 3, rtol=1e-9,
                               atol=1e-12)
    before, after = [], []
    k = int(np.ceil(200 / len(series)))  # origins per series, at most horizon
    for y in series.values():
        n = len(y)
        for o in range(n - 4 - min(k, 4) + 1, n - 4 + 1):
            before.append(y[:o])
            after.append(y[o:o + 4])
    errors = np.array(after) - optimized_theta(before, 4, 4)
    assert errors.shape == cal[1.0].shape
    unit = errors / cal[1.0]
    assert (unit > 0).all()
    np.testing.assert_allclose(unit, unit[:, :1] * np.ones((1, 4)), rtol=1e-9)
    fc = models[1 / 3].predict(level=[80])
    for key in series:
        assert (fc[key]["lo-80"] < fc[key]["mean"]).all()
        assert (fc[key]["mean"] < fc[key]["hi-80"]).all()


def test_held_out_theta_fits_in_chunks_are_the_same(fitted, monkeypatch):
    """Long series are fitted from their held-out origins a few at a time:
    the same fits as all at once (one series' fit reads no other's)."""
    from fastgru import _forecast_fit
    from fastgru._panel import read_panel

    series = fitted[0]
    panel = read_panel(series, None, None, None)
    val_o = [np.arange(len(v) - 7, len(v) - 3) for v in panel.values]
    whole = _forecast_fit.ThetaMix.fit(1 / 3, panel, val_o, 4, 4)
    monkeypatch.setattr(_forecast_fit, "THETA_CHUNK", 100)  # two or three origins a chunk
    parts = _forecast_fit.ThetaMix.fit(1 / 3, panel, val_o, 4, 4)
    assert whole.held_out_errors.shape == (4 * len(series), 4)
    np.testing.assert_array_equal(parts.held_out_errors, whole.held_out_errors)
    assert np.isfinite(whole.held_out_errors).all()


def test_a_new_history_gets_its_own_theta_fit(fitted):
    series, models = fitted
    rng = np.random.default_rng(9)
    new = {"x": 50 + rng.normal(0, 1, 45).cumsum()}
    nets = models[0.0].predict(y=new)["x"]
    np.testing.assert_allclose(models[1 / 3].predict(y=new)["x"],
                               2 / 3 * nets + optimized_theta([new["x"]], 4, 4)[0] / 3,
                               rtol=1e-12)


def test_a_series_too_short_for_theta_is_forecast_by_the_networks():
    series = _panel(6)
    series["short"] = np.array([5.0, 6.0, 5.5])
    mixed = GRUForecaster(theta_weight=0.5, **FAST).fit(series)
    nets = GRUForecaster(theta_weight=0, **FAST).fit(series)
    np.testing.assert_allclose(mixed.predict()["short"], nets.predict()["short"], rtol=1e-12)
    assert mixed.theta_state_[-1].tolist() == [0.0] * 6  # no fit


def test_covariates_turn_the_default_mix_off(tmp_path):
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(1)
    frames = []
    for i in range(5):
        n = 40
        promo = (rng.random(n) < 0.2).astype(float)
        frames.append(pd.DataFrame({"unique_id": f"s{i}", "ds": np.arange(n),
                                    "y": 10 + 5 * promo + rng.normal(0, 0.3, n),
                                    "promo": promo}))
    df = pd.concat(frames)
    model = GRUForecaster(**FAST).fit(df)
    assert model.theta_weight_ == 0 and model.theta_state_ is None
    chosen = GRUForecaster(theta_weight=0.25, **FAST).fit(df)
    assert chosen.theta_weight_ == 0.25 and chosen.theta_state_.shape == (5, 6)
    # a file claiming the default gave this share on series with covariates
    fastgru.save(chosen, tmp_path / "m.npz")
    _rewrite(tmp_path / "m.npz", tmp_path / "bad.npz", params={"theta_weight": None})
    with pytest.raises(ValueError, match="not what theta_weight=None fits on series with "
                                         "covariates"):
        fastgru.load(tmp_path / "bad.npz")


def test_the_weight_cannot_change_after_fit(fitted):
    model = fitted[1][1 / 3]
    model.set_params(theta_weight=0.5)
    try:
        with pytest.raises(ValueError, match="theta_weight=0.5 was set after fit"):
            model.predict()
    finally:
        model.set_params(theta_weight=1 / 3)
    for flag in (True, False, np.True_):  # 1.0 and 0.0 as numbers, but no share
        fitted_as = 1.0 if flag else 0.0
        model = fitted[1][fitted_as]
        model.set_params(theta_weight=flag)
        try:
            with pytest.raises(ValueError, match=f"theta_weight={flag!r} was set after fit"):
                model.predict()
        finally:
            model.set_params(theta_weight=fitted_as)
    for bad in (1.5, -0.1, True, "a"):  # True is no share of the forecast
        with pytest.raises((ValueError, TypeError), match="theta_weight"):
            GRUForecaster(theta_weight=bad).fit(_panel(3))


def test_an_interrupted_warm_start_with_another_share_keeps_no_intervals(monkeypatch):
    """Intervals calibrated on the networks alone are not kept for a mix:
    a warm start to another share interrupted before its models were all
    measured again has no intervals (and says why)."""
    from fastgru import _forecast_fit

    series = _panel()
    model = GRUForecaster(theta_weight=0, n_models=2, **FAST).fit(series)
    assert model.calibration_ is not None
    calls = []
    real = _forecast_fit.train

    def train(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:  # the second model, after the first's last epochs
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(_forecast_fit, "train", train)
    model.set_params(warm_start=True, theta_weight=1.0)
    with pytest.raises(KeyboardInterrupt):
        model.fit(series)
    assert model.theta_weight_ == 1.0 and model.calibration_ is None
    with pytest.raises(ValueError, match="interrupted"):
        model.predict(level=[80])
    monkeypatch.setattr(_forecast_fit, "train", real)
    model.set_params(theta_weight=0)  # the same share: the intervals stay
    before = model.fit(series).calibration_
    calls.clear()
    monkeypatch.setattr(_forecast_fit, "train", train)
    with pytest.raises(KeyboardInterrupt):
        model.fit(series)
    np.testing.assert_array_equal(model.calibration_, before)


def _rewrite(src, dst, attributes=None, arrays=None, drop=(), params=None):
    """A copy of a saved model with attributes (or parameters), arrays or
    entries changed (a None value removes the key)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            name = item.filename[:-4]
            if name in drop:
                continue
            data = zin.read(item.filename)
            if name == "__meta__" and (attributes or params):
                meta = json.loads(np.lib.format.read_array(io.BytesIO(data)).tobytes())
                for part, changes in (("attributes", attributes), ("params", params)):
                    for key, value in (changes or {}).items():
                        if value is None:
                            meta[part].pop(key)
                        else:
                            meta[part][key] = value
                data = json.dumps(meta).encode()
                buf = io.BytesIO()
                np.lib.format.write_array(buf, np.frombuffer(data, dtype=np.uint8))
                data = buf.getvalue()
            if arrays and name in arrays:
                buf = io.BytesIO()
                np.lib.format.write_array(buf, arrays[name](
                    np.lib.format.read_array(io.BytesIO(data))))
                data = buf.getvalue()
            zout.writestr(item, data)


def test_save_and_load_keep_the_mix(fitted, tmp_path):
    series, models = fitted
    fastgru.save(models[1 / 3], tmp_path / "m.npz")
    back = fastgru.load(tmp_path / "m.npz")
    assert back.theta_weight_ == pytest.approx(1 / 3)
    a, b = models[1 / 3].predict(level=[80]), back.predict(level=[80])
    for key in series:
        for part in ("mean", "lo-80", "hi-80"):
            np.testing.assert_array_equal(a[key][part], b[key][part])
    # a file written before the mix forecasts with its networks only
    _rewrite(tmp_path / "m.npz", tmp_path / "old.npz", attributes={"theta_weight_": None},
             params={"theta_weight": None},
             drop=("attr/theta_state_", "attr/theta_factor_", "attr/theta_offset_"))
    old = fastgru.load(tmp_path / "old.npz")
    assert old.theta_weight_ == 0
    nets = models[1 / 3].predict()
    theta = dict(zip(series, optimized_theta(list(series.values()), 4, 4)))
    for key in series:
        np.testing.assert_allclose(old.predict()[key], (nets[key] - theta[key] / 3) * 1.5,
                                   rtol=1e-9)


def _bad_alpha(a):
    a = a.copy()
    a[0, 3] = 1.5
    return a


def _huge_theta(a):
    a = a.copy()
    a[0, 4] = 1e300
    return a


def _half_length(a):
    a = a.copy()
    a[0, 5] = 20.5
    return a


@pytest.mark.parametrize("change, match", [
    (dict(attributes={"theta_weight_": 2.0}), "theta_weight_ must be a number in"),
    (dict(attributes={"theta_weight_": True}), "theta_weight_"),
    (dict(attributes={"theta_weight_": 0.5}), "not what theta_weight="),
    (dict(attributes={"theta_weight_": 1.0}, params={"theta_weight": True}), "theta_weight"),
    (dict(drop=("attr/theta_state_",)), "Theta fit is not stored"),
    (dict(arrays={"attr/theta_state_": _bad_alpha}), "alpha outside"),
    (dict(arrays={"attr/theta_state_": _half_length}), "whole numbers"),
    (dict(arrays={"attr/theta_state_": _huge_theta}), "theta outside"),
    (dict(arrays={"attr/theta_state_": lambda a: a[:-1]}), "must hold 12 series"),
    (dict(arrays={"attr/theta_factor_": lambda a: -a}), "positive seasonal factors"),
    (dict(arrays={"attr/theta_offset_": lambda a: a[:, :2]}), "must hold 12 series"),
    (dict(arrays={"attr/theta_state_": lambda a: a.astype(str)}), "numbers"),
])
def test_a_file_with_a_broken_theta_fit_is_refused(fitted, tmp_path, change, match):
    fastgru.save(fitted[1][1 / 3], tmp_path / "m.npz")
    _rewrite(tmp_path / "m.npz", tmp_path / "bad.npz", **change)
    with pytest.raises(ValueError, match=match):
        fastgru.load(tmp_path / "bad.npz")
