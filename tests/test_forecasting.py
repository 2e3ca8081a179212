"""GRUForecaster: a global model over panels, intervals, backtests, covariates, input forms."""

import decimal
import fractions
import warnings

import numpy as np
import pytest
from _helpers import base_forecast

import fastgru
from fastgru import GRUForecaster
from fastgru.datasets import load_airline_passengers
from fastgru.forecasting import sliding_windows

pd = pytest.importorskip("pandas")

FAST = dict(hidden_size=16, max_epochs=30, random_state=0)


def seasonal_panel(n_series=12, length=96, season=12, seed=0):
    """Series of different levels, lengths and trends with a shared seasonal shape."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_series):
        n = length - 3 * i
        t = np.arange(n)
        level = 10.0 ** rng.uniform(0, 3)
        y = level * (1 + 0.3 * np.sin(2 * np.pi * t / season) + 0.002 * i * t
                     + 0.05 * rng.normal(size=n))
        ds = pd.date_range(end="2020-12-01", periods=n, freq="MS")
        rows.append(pd.DataFrame({"unique_id": f"s{i}", "ds": ds, "y": y}))
    return pd.concat(rows, ignore_index=True)


def mase(truth, forecast, history, season):
    scale = np.mean(np.abs(history[season:] - history[:-season]))
    return np.mean(np.abs(truth - forecast)) / scale


def split(df, h):
    """Train and test frames: the last h rows of every series held out."""
    last = df.groupby("unique_id").cumcount(ascending=False) < h
    return df[~last], df[last]


@pytest.mark.parametrize("horizon,season,expected", [
    (6, 1, 18),   # three horizons
    (2, 1, 8),    # at least 8
    (6, 4, 18),   # three horizons
    (8, 4, 20),   # up to 20 steps
    (11, 1, 22),  # two horizons
    (6, 12, 36),  # three seasons
])
def test_default_window(horizon, season, expected):
    t = np.arange(80.0)
    model = GRUForecaster(horizon=horizon, season_length=season, hidden_size=4, max_epochs=1,
                          random_state=0).fit(np.sin(t / 3) + 0.01 * t)
    assert model.window_ == expected


def test_sliding_windows_are_views():
    values = np.arange(20.0).reshape(10, 2)
    x, y = sliding_windows(values, 4, 3)
    assert x.shape == (4, 4, 2) and y.shape == (4, 3, 2)
    assert np.shares_memory(x, values) and np.shares_memory(y, values)
    np.testing.assert_array_equal(x[1, :, 1], [3, 5, 7, 9])
    np.testing.assert_array_equal(y[1, :, 0], [10, 12, 14])
    with pytest.raises(ValueError, match="too short"):
        sliding_windows(values, 8, 3)


@pytest.mark.parametrize("m, window, h", [(1, 12, 3), (2, 5, 1), (4, 13, 9), (7, 30, 1),
                                         (12, 72, 18), (12, 30, 30), (52, 60, 8)])
def test_base_forecast_against_a_plain_loop(m, window, h):
    """At every origin from the first step: the last value below a season
    (or without seasons), else the last season's mean plus each step's
    deviation from its season's mean averaged over the full seasons counted
    back from the origin (a window of one season: the seasonal naive)."""
    from fastgru._windows import WindowMaker

    y = np.random.default_rng(m).normal(size=150) * 10 + 5
    t = np.arange(1, 151 - h)
    got = WindowMaker(window, h, m, seasonal=m > 1)._base(y, t)
    for r, origin in enumerate(t):
        want = base_forecast(y[max(0, origin - window):origin], m, h)
        np.testing.assert_allclose(got[r], want, rtol=1e-12, atol=1e-12)


def test_seasonal_windows_against_a_plain_loop():
    """Seasonal data: input columns (y - y_last) / q and (y_j - y_{j-m}) / q
    within the window, q = max(series scale, the window's mean absolute
    seasonal difference), targets in units of q after the base forecast: the
    last season's mean plus each step's deviation from its season's mean,
    averaged over the window's full seasons (the last season repeated when
    the window holds one, and for models fitted before the profile)."""
    from fastgru._panel import read_panel
    from fastgru._windows import WindowMaker

    rng = np.random.default_rng(3)
    m, L, h = 4, 10, 3
    y = np.cumsum(rng.normal(size=40)) + 5 * np.sin(np.arange(40))
    y[-12:] *= 4  # recent moves much larger than the history's
    panel = read_panel([y])
    scale = np.mean(np.abs(y[m:] - y[:-m]))
    panel.scales = np.array([scale])
    origins = np.array([6, 25, 40 - h])
    win = WindowMaker(L, h, m, seasonal=True).cut(panel, [origins], np.float64)
    old = WindowMaker(L, h, m, seasonal=True, profile_base=False).cut(
        panel, [origins], np.float64)
    assert win.x.shape == (3, L, 2)
    np.testing.assert_array_equal(old.x, win.x)
    for r, t in enumerate(origins):
        a = min(t, L)
        seg = y[t - a:t]
        local = np.mean(np.abs(seg[m:] - seg[:-m])) if a > m else scale
        q = max(local, scale)
        assert win.q[r] == pytest.approx(q)
        for j in range(a):
            assert win.x[r, j, 0] == pytest.approx((seg[j] - seg[-1]) / q)
            ago = (seg[j] - seg[j - m]) / q if j >= m else 0.0
            assert win.x[r, j, 1] == pytest.approx(ago)
        assert not win.x[r, a:].any()
        base = base_forecast(seg, m, h)
        np.testing.assert_allclose(win.targets[r], (y[t:t + h] - base) / q)
        np.testing.assert_allclose(win.base[r], base)
        naive = [seg[-m + (k % m)] for k in range(h)]
        np.testing.assert_array_equal(old.base[r], naive)
        np.testing.assert_allclose(old.targets[r], (y[t:t + h] - naive) / q)
    # the unit of the last window follows the recent moves
    assert win.q[2] > 1.5 * scale
    # yearly data: one input column, the series' scale
    plain = WindowMaker(L, h, 1).cut(panel, [origins], np.float64)
    assert plain.x.shape[2] == 1 and (plain.q == scale).all()
    # its intervals' unit: the larger mean absolute step of the window and
    # of its last h steps
    larger = []
    for r, t in enumerate(origins):
        seg = y[t - min(t, L):t]
        whole, recent = np.mean(np.abs(np.diff(seg))), np.mean(np.abs(np.diff(seg[-h:])))
        assert plain.local[r] == pytest.approx(max(whole, recent))
        larger.append(recent > whole)
    assert larger == [True, False, True]  # both cases are checked


@pytest.mark.parametrize("block", [None, 7])
def test_a_panel_is_cut_as_each_series_alone(monkeypatch, block):
    """Every window of a panel (series of other lengths and levels, with
    future, past and static covariates) is the one cut from its series
    alone, bit for bit: read end to end, in one go or in blocks of rows."""
    from fastgru import _windows
    from fastgru._panel import Panel, read_panel
    from fastgru._windows import Standardizer, series_scales

    if block:
        monkeypatch.setattr(_windows, "CUT_STEPS", block)
    rng = np.random.default_rng(5)
    df = pd.concat([pd.DataFrame({"unique_id": f"s{i}", "ds": np.arange(n),
                                  "y": np.cumsum(rng.normal(size=n)) * 10.0 ** i,
                                  "f": rng.normal(size=n), "p": rng.normal(size=n)})
                    for i, n in enumerate([9, 40, 23, 61])])
    static = pd.DataFrame({"unique_id": [f"s{i}" for i in range(4)], "a": rng.normal(size=4)})
    panel = read_panel(df, static_df=static, hist_exog=["p"])
    h = 3
    panel.scales = series_scales(panel.values, 4)
    maker = _windows.WindowMaker(
        13, h, 4, n_futr=1, n_hist=1, n_static=1, seasonal=True,
        futr_scaler=Standardizer.fit(panel.futr), hist_scaler=Standardizer.fit(panel.hist),
        static_scaler=Standardizer.fit(panel.static))
    origins = [np.arange(maker.min_input, len(v) - h + 1) for v in panel.values]
    future = [rng.normal(size=(h, 1)) for _ in origins]
    whole = maker.cut(panel, origins, np.float32)
    ahead = maker.cut(panel, [np.array([len(v)]) for v in panel.values], np.float32, future,
                      with_targets=False)
    row = 0
    for i, o in enumerate(origins):
        alone = Panel([panel.ids[i]], [panel.values[i]], [None], "list", futr=[panel.futr[i]],
                      hist=[panel.hist[i]], static=panel.static[i:i + 1],
                      scales=panel.scales[i:i + 1])
        one = maker.cut(alone, [o], np.float32)
        last = maker.cut(alone, [np.array([len(panel.values[i])])], np.float32, future[i:i + 1],
                         with_targets=False)
        for name in ("x", "lengths", "base", "q", "local", "targets"):
            np.testing.assert_array_equal(getattr(whole, name)[row:row + len(o)],
                                          getattr(one, name))
            if name != "targets":
                np.testing.assert_array_equal(getattr(ahead, name)[i:i + 1], getattr(last, name))
        row += len(o)
    assert row == len(whole.x) and whole.x[:, :, 2].any()  # the decoder's covariate


def test_running_abs_diffs_are_each_series_cumsum():
    """The kernel's running sums of |lag-step differences| of series laid end
    to end are np.cumsum of each series' own, from 0, bit for bit."""
    from fastgru._kernels.panel import running_abs_diffs

    rng = np.random.default_rng(1)
    sizes = np.array([1, 5, 12, 3, 30])
    starts = np.cumsum(sizes) - sizes
    y = rng.normal(size=sizes.sum()) * 10.0 ** rng.integers(-3, 4, size=sizes.sum())
    for lag in (1, 4):
        got = running_abs_diffs(y, starts, sizes, lag)
        for s, n in zip(starts, sizes):
            v = y[s:s + n]
            want = np.concatenate([[0.0], np.cumsum(np.abs(v[lag:] - v[:-lag]))])
            np.testing.assert_array_equal(got[s:s + len(want)], want)


def test_series_scales_of_a_panel():
    """Each series' mean absolute seasonal difference (lag 1 below a full
    season; a constant series' mean absolute value, 1 for zeros), those of
    one length computed together as each alone."""
    from fastgru._windows import series_scale, series_scales

    rng = np.random.default_rng(4)
    values = [rng.normal(size=30) * 1e6, rng.normal(size=30), np.full(30, -2.0), np.zeros(30),
              rng.normal(size=3), rng.normal(size=17) * 1e-250]
    got = series_scales(values, 4)
    want = [np.mean(np.abs(values[0][4:] - values[0][:-4])),
            np.mean(np.abs(values[1][4:] - values[1][:-4])), 2.0, 1.0,
            np.mean(np.abs(np.diff(values[4]))),
            np.mean(np.abs(values[5][4:] - values[5][:-4]))]
    np.testing.assert_allclose(got, want, rtol=1e-12)
    np.testing.assert_array_equal(got, [series_scale(v, 4) for v in values])
    assert isinstance(series_scale(values[0], 4), float)


def test_a_long_frame_is_read_series_by_series_where_one_holds_nan():
    """A long frame's series in id and time order (rows shuffled); a series
    with leading NaN loses them and their stamps, the others are read as
    they are; NaN after a series' first value is an error naming it."""
    from fastgru._panel import read_panel

    rng = np.random.default_rng(2)
    y = {"b": rng.normal(size=6), "a": np.r_[np.nan, np.nan, rng.normal(size=5)]}
    df = pd.concat([pd.DataFrame({"unique_id": k, "ds": np.arange(len(v)) + 10, "y": v})
                    for k, v in y.items()]).sample(frac=1, random_state=0)
    for frame in (df, df.dropna()):  # series by series, and whole
        panel = read_panel(frame)
        assert panel.ids == ["a", "b"]
        np.testing.assert_array_equal(panel.values[0], y["a"][2:])
        np.testing.assert_array_equal(panel.values[1], y["b"])
        assert list(panel.times[0]) == list(range(12, 17))
        assert list(panel.times[1]) == list(range(10, 16))
    bad = df.copy()
    bad.loc[(bad["unique_id"] == "b") & (bad["ds"] == 13), "y"] = np.nan
    with pytest.raises(ValueError, match="series 'b' has NaN after its first value"):
        read_panel(bad)


def test_panel_forecast_beats_seasonal_naive_with_statsforecast_columns():
    df = seasonal_panel()
    train, test = split(df, 12)
    model = GRUForecaster(horizon=12, season_length=12, **FAST).fit(train)
    fc = model.predict(level=[80, 95])
    assert list(fc.columns) == ["unique_id", "ds", "GRUForecaster", "GRUForecaster-lo-95",
                                "GRUForecaster-lo-80", "GRUForecaster-hi-80",
                                "GRUForecaster-hi-95"]
    merged = fc.merge(test, on=["unique_id", "ds"], how="inner")
    assert len(merged) == len(test) == 12 * 12  # the dates continue each series
    ours, naive = [], []
    for uid, g in merged.groupby("unique_id"):
        hist = train.loc[train.unique_id == uid, "y"].to_numpy()
        ours.append(mase(g.y.to_numpy(), g.GRUForecaster.to_numpy(), hist, 12))
        naive.append(mase(g.y.to_numpy(), hist[-12:], hist, 12))
    assert np.mean(ours) < 0.9 * np.mean(naive), (np.mean(ours), np.mean(naive))
    # nested intervals around the point forecast
    lo95, lo80 = fc["GRUForecaster-lo-95"], fc["GRUForecaster-lo-80"]
    hi80, hi95 = fc["GRUForecaster-hi-80"], fc["GRUForecaster-hi-95"]
    assert (lo95 <= lo80).all() and (lo80 <= hi80).all() and (hi80 <= hi95).all()
    assert ((lo80 <= fc.GRUForecaster) & (fc.GRUForecaster <= hi80)).mean() > 0.9


@pytest.mark.parametrize("n_models, bounds", [
    (1, {80: (0.74, 0.86), 95: (0.91, 0.985)}),
    (3, {80: (0.72, 0.88), 95: (0.90, 0.99)}),  # calibrated on the models' mean forecast
])
def test_intervals_are_calibrated_on_exchangeable_noise(n_models, bounds):
    # i.i.d. noise around a known seasonal pattern: held-out errors are
    # exchangeable with future ones, so split conformal must cover as asked
    rng = np.random.default_rng(1)
    season, n, h = 4, 60, 4
    pattern = np.array([0.0, 2.0, -1.0, 1.0])
    series = {i: 50 + np.tile(pattern, n // season + 2)[: n + h] + rng.normal(size=n + h)
              for i in range(150)}
    train = {i: s[:n] for i, s in series.items()}
    model = GRUForecaster(horizon=h, season_length=season, n_models=n_models, **FAST).fit(train)
    fc = model.predict(level=[80, 95])
    inside = {lev: np.mean([((series[i][n:] >= fc[i][f"lo-{lev}"])
                             & (series[i][n:] <= fc[i][f"hi-{lev}"])).mean()
                            for i in series]) for lev in (80, 95)}
    for lev, (low, high) in bounds.items():
        assert low <= inside[lev] <= high, inside


def test_cross_validation_never_sees_the_future():
    df = seasonal_panel(n_series=6, length=72)
    model = GRUForecaster(horizon=6, season_length=12, **FAST)
    cv = model.cross_validation(df, n_windows=2, step_size=6, level=[90])
    assert list(cv.columns) == ["unique_id", "ds", "cutoff", "y", "GRUForecaster",
                                "GRUForecaster-lo-90", "GRUForecaster-hi-90"]
    assert len(cv) == 6 * 2 * 6
    assert (cv.ds > cv.cutoff).all()
    truth = df.set_index(["unique_id", "ds"]).y
    np.testing.assert_array_equal(cv.y.to_numpy(),
                                  truth.loc[list(zip(cv.unique_id, cv.ds))].to_numpy())
    # changing every value after the first cutoff changes none of its forecasts
    first = cv.cutoff.groupby(cv.unique_id).transform("min")
    cut = df.merge(first.groupby(cv.unique_id).first().rename("c").reset_index(),
                   on="unique_id")
    poisoned = df.copy()
    poisoned.loc[(cut.ds > cut.c).to_numpy(), "y"] *= 100.0
    again = model.cross_validation(poisoned, n_windows=2, step_size=6, level=[90])
    at_first = (cv.cutoff == first).to_numpy()
    np.testing.assert_allclose(again.GRUForecaster[at_first], cv.GRUForecaster[at_first])


def test_refit_false_forecasts_later_cutoffs_with_one_model():
    df = seasonal_panel(n_series=4, length=60)
    model = GRUForecaster(horizon=4, season_length=12, **FAST)
    cv = model.cross_validation(df, n_windows=3, refit=False)
    assert cv.groupby("unique_id").cutoff.nunique().eq(3).all() and len(cv) == 4 * 3 * 4


def test_refit_n_trains_at_every_nth_cutoff_as_in_statsforecast():
    df = seasonal_panel(n_series=4, length=60)
    model = GRUForecaster(horizon=4, season_length=12, **FAST)
    runs = {refit: model.cross_validation(df, n_windows=4, refit=refit)
            for refit in (True, False, 2, 0, 1)}
    by = {refit: dict(tuple(cv.groupby("cutoff"))) for refit, cv in runs.items()}
    cutoffs = sorted(by[2])  # (the panel's series end together)
    assert len(cutoffs) == 4
    for refit, windows in ((False, [0, 1]), (True, [2])):  # trained at cutoffs 0 and 2
        for w in windows:
            pd.testing.assert_frame_equal(by[2][cutoffs[w]], by[refit][cutoffs[w]])
    forecast = model.alias
    assert not np.allclose(by[2][cutoffs[3]][forecast], by[True][cutoffs[3]][forecast])
    assert not np.allclose(by[2][cutoffs[3]][forecast], by[False][cutoffs[3]][forecast])
    pd.testing.assert_frame_equal(runs[0], runs[False])
    pd.testing.assert_frame_equal(runs[1], runs[True])
    for bad, error in ((-1, ValueError), (2.5, TypeError), ("yes", TypeError)):
        with pytest.raises(error, match="refit"):
            model.cross_validation(df, n_windows=2, refit=bad)


def test_cross_validation_says_which_window_it_is_on(capsys):
    df = seasonal_panel(n_series=4, length=60)
    model = GRUForecaster(horizon=4, season_length=12, **{**FAST, "verbose": 1})
    model.cross_validation(df, n_windows=2, refit=False)
    lines = [line for line in capsys.readouterr().out.splitlines()
             if line.startswith("cross_validation")]
    assert lines == [
        "cross_validation: window 1 of 2, cutoffs 8 steps before each series' end: "
        "fitting on 190 rows",  # series of 60, 57, 54 and 51 steps
        "cross_validation: window 2 of 2, cutoffs 4 steps before each series' end: "
        "forecasting from 206 rows"]
    model.set_params(verbose=0).cross_validation(df, n_windows=2)
    assert capsys.readouterr().out == ""


def test_score_is_minus_mase():
    df = seasonal_panel(n_series=5)
    train, test = split(df, 6)
    model = GRUForecaster(horizon=6, season_length=12, **FAST).fit(train)
    fc = model.predict().merge(test, on=["unique_id", "ds"])
    expected = []
    for uid, g in fc.groupby("unique_id", sort=False):
        hist = train.loc[train.unique_id == uid, "y"].to_numpy()
        expected.append(mase(g.y.to_numpy(), g.GRUForecaster.to_numpy(), hist, 12))
    assert model.score(test) == pytest.approx(-np.mean(expected), rel=1e-9)


def test_future_covariates_are_used_and_required():
    rng = np.random.default_rng(2)
    rows = []
    for i in range(20):
        n = 80
        promo = (rng.random(n + 4) < 0.3).astype(float)
        y = 20 + 10 * promo + rng.normal(scale=0.5, size=n + 4)
        ds = np.arange(n + 4)
        rows.append(pd.DataFrame({"unique_id": i, "ds": ds, "y": y, "promo": promo}))
    full = pd.concat(rows, ignore_index=True)
    train, test = split(full, 4)
    slow = dict(FAST, max_epochs=100, learning_rate=3e-3)
    with_x = GRUForecaster(horizon=4, **slow).fit(train)
    fc = with_x.predict(X_df=test[["unique_id", "ds", "promo"]]).merge(test, on=["unique_id",
                                                                              "ds"])
    without = GRUForecaster(horizon=4, **slow).fit(train[["unique_id", "ds", "y"]])
    fc0 = without.predict().merge(test, on=["unique_id", "ds"])
    err = np.mean(np.abs(fc.y - fc.GRUForecaster))
    err0 = np.mean(np.abs(fc0.y - fc0.GRUForecaster))
    assert err < 0.3 * err0, (err, err0)
    with pytest.raises(ValueError, match="X_df"):
        with_x.predict()
    with pytest.raises(ValueError, match="series 3"):
        with_x.predict(X_df=test[test.unique_id != 3][["unique_id", "ds", "promo"]])
    # the ids as text: the same ids of another type, said so
    with pytest.raises(ValueError, match="no rows for series 0 \\(it has '0', a str where "
                                         "the model's ids are int"):
        with_x.predict(X_df=test[["unique_id", "ds", "promo"]].astype({"unique_id": str}))
    with pytest.raises(ValueError, match="no rows for series 0 \\(it has '0.0', a str where "):
        with_x.predict(X_df=test[["unique_id", "ds", "promo"]].astype(
            {"unique_id": float}).astype({"unique_id": str}))  # ids that went through floats
    # past-only covariates need no future values
    past = GRUForecaster(horizon=4, hist_exog=["promo"], **FAST).fit(train)
    assert len(past.predict()) == 20 * 4
    # any sequence of names reads as the list: a pandas Index, a tuple, an array
    for names in (pd.Index(["promo"]), ("promo",), np.array(["promo"])):
        same = GRUForecaster(horizon=4, hist_exog=names, **FAST)
        pd.testing.assert_frame_equal(same.fit(train).predict(), past.predict())
        backtest = same.cross_validation(train, n_windows=1)
        pd.testing.assert_frame_equal(backtest, past.cross_validation(train, n_windows=1))


def test_fewer_steps_than_the_horizon_with_future_covariates():
    """The decoder reads the covariates of the whole horizon: predict(h < horizon)
    takes them from X_df as predict() does and returns the first h steps."""
    t = np.arange(44)
    full = pd.DataFrame({"unique_id": np.repeat(["a", "b"], 44), "ds": np.tile(t, 2),
                         "y": np.r_[np.sin(t), np.cos(t)], "f": np.tile(t % 3, 2) * 1.0})
    train, test = split(full, 4)
    model = GRUForecaster(horizon=4, hidden_size=4, max_epochs=2, random_state=0).fit(train)
    X_df = test[["unique_id", "ds", "f"]]
    all_steps = model.predict(X_df=X_df)
    two = model.predict(2, X_df=X_df)
    expected = all_steps.groupby("unique_id").head(2).reset_index(drop=True)
    pd.testing.assert_frame_equal(two, expected)
    with pytest.raises(TypeError, match="X_df must be a DataFrame"):
        model.predict(X_df=X_df.to_numpy())
    # text, also text that spells numbers, as fit refuses it in a covariate column
    for text in ("x", X_df.f.astype(str)):
        with pytest.raises(ValueError, match=r"X_df's column 'f' is not numeric \(object\): "
                                             r"encode it .* pd.to_numeric"):
            model.predict(X_df=X_df.assign(f=text))
    # dates, durations and categories would be read as numbers
    for values in (pd.to_datetime(X_df.f), pd.to_timedelta(X_df.f, unit="D"),
                   X_df.f.astype("category")):
        with pytest.raises(ValueError, match="X_df's column 'f' is not numeric"):
            model.predict(X_df=X_df.assign(f=values))


def test_a_covariate_column_named_by_a_number():
    t = np.arange(30)
    df = pd.DataFrame({"unique_id": np.repeat(["a", "b"], 30), "ds": np.tile(t, 2),
                       "y": np.r_[np.sin(t), np.cos(t)], 5: np.tile(t % 3, 2) * 1.0})
    model = GRUForecaster(horizon=2, hidden_size=4, max_epochs=1, random_state=0).fit(df)
    X_df = pd.DataFrame({"unique_id": ["a", "a", "b", "b"], "ds": [30, 31, 30, 31],
                         5: [1.0, 2.0, 0.0, 1.0]})
    fc = model.predict(X_df=X_df)
    assert list(fc.unique_id) == ["a", "a", "b", "b"] and list(fc.ds) == [30, 31, 30, 31]
    other = model.predict(X_df=X_df.assign(**{"5": X_df[5] + 1}).drop(columns=5))
    assert not np.allclose(other.GRUForecaster, fc.GRUForecaster)  # the column is read
    cv = model.cross_validation(df, n_windows=2)
    assert len(cv) == 2 * 2 * 2


def test_float_series_ids_in_backtests_scores_and_static_covariates(tmp_path):
    """Float ids (as a CSV column with a gap reads) come back as floats, through
    a save and load too; backtests, scores and static covariates find them."""
    t = np.arange(30)
    df = pd.DataFrame({"unique_id": np.repeat([1.5, 2.5], 30), "ds": np.tile(t, 2),
                       "y": np.r_[np.sin(t), np.cos(t)]})
    static = pd.DataFrame({"unique_id": [1.5, 2.5], "s": [1.0, 2.0]})
    model = GRUForecaster(horizon=2, hidden_size=4, max_epochs=1, random_state=0)
    for refit in (True, False):
        cv = model.cross_validation(df, n_windows=2, refit=refit)
        assert len(cv) == 2 * 2 * 2 and cv.GRUForecaster.notna().all()
    train, test = split(df, 2)
    model.fit(train, static_df=static)
    fc = model.predict()
    again = model.predict(y=train)  # static covariates looked up by the new ids
    np.testing.assert_array_equal(again.GRUForecaster, fc.GRUForecaster)
    assert fc.unique_id.dtype == np.float64 and list(fc.unique_id) == [1.5, 1.5, 2.5, 2.5]
    # the forecast merges with the user's frames on their ids
    assert len(fc.merge(test, on=["unique_id", "ds"])) == 4
    expected = []
    for uid in (1.5, 2.5):
        history = train.loc[train.unique_id == uid, "y"].to_numpy()
        truth = test.loc[test.unique_id == uid, "y"].to_numpy()
        point = fc.loc[fc.unique_id == uid, "GRUForecaster"].to_numpy()
        expected.append(mase(truth, point, history, 1))
    assert model.score(test) == pytest.approx(-np.mean(expected), rel=1e-9)
    path = tmp_path / "f.npz"
    fastgru.save(model, path)
    pd.testing.assert_frame_equal(fastgru.load(path).predict(), fc)


@pytest.mark.parametrize("ids, kept", [
    ([np.inf, 2.5], ["inf", "2.5"]),          # not finite: as text
    ([np.float32(1.5), 2.5], ["1.5", "2.5"]),  # another float type among them: as text
    ([1, 2.5], ["1", "2.5"]),                  # a mix of kinds: as text
])
def test_ids_the_model_keeps_as_text(ids, kept):
    model = GRUForecaster(horizon=2, hidden_size=4, max_epochs=1, random_state=0)
    model.fit(dict(zip(ids, [np.sin(np.arange(30.0)), np.cos(np.arange(30.0))])))
    assert model.series_ids_.tolist() == kept


def test_rows_without_a_series_id_are_refused():
    t = np.arange(30)
    df = pd.DataFrame({"unique_id": np.repeat(["a", None], 30), "ds": np.tile(t, 2),
                       "y": np.r_[np.sin(t), np.cos(t)]})
    model = GRUForecaster(horizon=2, hidden_size=4, max_epochs=1, random_state=0)
    with pytest.raises(ValueError, match="'unique_id' has missing series ids"):
        model.fit(df)


def test_static_covariates():
    df = seasonal_panel(n_series=6)
    static = pd.DataFrame({"unique_id": [f"s{i}" for i in range(6)], "big": [0, 1] * 3})
    model = GRUForecaster(horizon=3, season_length=12, **FAST).fit(df, static_df=static)
    # inputs: the series, its seasonal difference, the static column
    assert model.gru_.input_size == 3 and len(model.predict()) == 18
    with pytest.raises(ValueError, match="no row for the series"):
        GRUForecaster(horizon=3, **FAST).fit(df, static_df=static.iloc[:3])
    # integer ids in the frame, text in static_df: the same ids of another type, said so
    numbered = df.assign(unique_id=df.unique_id.str[1:].astype(int))
    with pytest.raises(ValueError, match=r"no row for the series \[0, 1, 2, 3, 4\] and 1 more "
                                         r"\(it has '0', a str where the model's ids are int: "
                                         r"convert static_df's 'unique_id' to their type\)"):
        GRUForecaster(horizon=3, **FAST).fit(
            numbered, static_df=static.assign(unique_id=static.unique_id.str[1:]))


def test_single_series_forms_agree_and_continue_the_index():
    t = np.arange(120)
    values = np.sin(2 * np.pi * t / 12) + 0.02 * t + 5
    kw = dict(window=12, horizon=3, season_length=12, hidden_size=8, max_epochs=5,
              random_state=0)
    from_np = GRUForecaster(**kw).fit(values).predict()
    from_list = GRUForecaster(**kw).fit(values.tolist()).predict()
    index = pd.period_range("2000-01", periods=120, freq="M")
    series = pd.Series(values, index=index, name="sales")
    from_pd = GRUForecaster(**kw).fit(series).predict()
    long = pd.DataFrame({"unique_id": "sales", "ds": index.to_timestamp(), "y": values})
    from_long = GRUForecaster(**kw).fit(long).predict()
    np.testing.assert_array_equal(from_np, from_list)
    np.testing.assert_array_equal(from_np, from_pd.to_numpy())
    np.testing.assert_array_equal(from_np, from_long.GRUForecaster.to_numpy())
    assert isinstance(from_pd, pd.Series) and from_pd.name == "sales"
    assert list(from_pd.index.astype(str)) == ["2010-01", "2010-02", "2010-03"]
    assert list(from_long.ds.astype(str)) == ["2010-01-01", "2010-02-01", "2010-03-01"]
    model = GRUForecaster(**kw).fit(series)
    assert len(model.predict(horizon=7)) == 7  # forecasts fed back beyond the horizon
    again = model.predict(y=series[:60])
    assert str(again.index[0]) == "2005-01"


def test_airline_forecast_beats_seasonal_naive():
    series = load_airline_passengers(as_frame=False)[1]
    train, test = series[:-12], series[-12:]
    model = GRUForecaster(horizon=12, season_length=12, random_state=0).fit(np.log(train))
    forecast = np.exp(model.predict())
    assert np.mean(np.abs(forecast - test)) < 0.8 * np.mean(np.abs(train[-12:] - test))


def test_columns_of_a_2d_array_with_past_covariates():
    rng = np.random.default_rng(0)
    t = np.arange(200)
    Y = np.stack([np.sin(t / 5), np.cos(t / 7)], axis=1) + 3 + 0.01 * rng.normal(size=(200, 2))
    X = (t % 12 == 0).astype(float)[:, None]
    model = GRUForecaster(window=10, horizon=2, hidden_size=8, max_epochs=5,
                          random_state=0).fit(Y, X)
    assert model.predict().shape == (2, 2)
    assert model.predict(y=Y[:50], X=X[:50]).shape == (2, 2)
    with pytest.raises(ValueError, match="covariates"):
        model.predict(horizon=5)
    with pytest.raises(ValueError, match="covariates"):
        model.predict(y=Y[:50])


def test_short_constant_and_leading_nan_series():
    rng = np.random.default_rng(3)
    series = {"long": 10 + rng.normal(size=80), "short": np.array([5.0, 6.0, 5.5]),
              "flat": np.full(40, 7.0), "late": np.r_[np.full(10, np.nan), 3 + rng.random(50)]}
    model = GRUForecaster(horizon=4, **FAST).fit(series)
    fc = model.predict(level=[80])
    assert all(np.isfinite(fc[k]["mean"]).all() for k in series)
    np.testing.assert_allclose(fc["flat"]["mean"], 7.0, atol=0.5)
    with pytest.raises(ValueError, match="series 'gap' has NaN after its first value"):
        GRUForecaster(horizon=4, **FAST).fit({"gap": np.r_[1.0, np.nan, 2.0, 3.0, 4.0]})


def test_short_panels_hold_out_fewer_origins_before_giving_up_intervals():
    """Three series of 15 steps, horizon 6: holding out 6 origins per series
    leaves nothing to train on, 2 origins leave one training window each."""
    rng = np.random.default_rng(5)
    series = [np.cumsum(rng.normal(size=15)) for _ in range(3)]
    model = GRUForecaster(horizon=6, **FAST).fit(series)
    assert model.calibration_.shape == (3 * 2, 6)
    fc = model.predict(level=[80])
    assert all((f["lo-80"] <= f["mean"]).all() and (f["mean"] <= f["hi-80"]).all() for f in fc)
    # 8 steps: no origin can be held out after a training window
    with pytest.warns(UserWarning, match="too short to hold out"):
        short = GRUForecaster(horizon=6, **FAST).fit([s[:8] for s in series])
    assert short.calibration_ is None


@pytest.mark.filterwarnings("error::RuntimeWarning")  # handled, not leaked
@pytest.mark.parametrize("level, season_length", [(1e300, 1), (1.5e308, 4)])
def test_huge_values_forecast_finite(level, season_length):
    """Values up to float64's limit whose steps do not overflow: the base
    forecast (with seasons, the mean of a season) and the scale stay finite."""
    rng = np.random.default_rng(4)
    series = level * (1 + 0.1 * rng.random(60))
    fc = GRUForecaster(horizon=3, season_length=season_length, **FAST).fit(series).predict()
    assert np.isfinite(fc).all() and (fc > level / 10).all()


@pytest.mark.filterwarnings("error::RuntimeWarning")  # handled, not leaked
def test_seasonal_deviations_that_overflow_leave_the_base_finite():
    """Steps within float64 (0.8e308 to -0.8e308 around 0) whose deviations
    from their season's mean overflow when added over the window's seasons,
    or by themselves: the base forecast is still the mean over the seasons."""
    from fastgru._windows import WindowMaker

    rng = np.random.default_rng(0)
    y = np.tile([0.8e308, -0.8e308, 0.0], 20) * (1 + 1e-3 * rng.random(60))
    base = WindowMaker(12, 3, 3, seasonal=True)._base(y, np.array([60]))[0]
    small = y / 2.0**1000  # exact: the same computation far from the limit
    seasons = [small[60 - 3 * (j + 1):60 - 3 * j] for j in range(4)]
    want = seasons[0].mean() + np.mean([s - s.mean() for s in seasons], axis=0)
    np.testing.assert_allclose(base / 2.0**1000, want, rtol=1e-9, atol=1e-9 * abs(want).max())
    model = GRUForecaster(horizon=3, season_length=3, **FAST).fit(y)
    assert np.isfinite(model.predict()).all()
    # a season of 1.7e308 once and -1.7e308 ten times: a step's deviation from
    # its season's mean overflows, the mean of the seasons' values does not
    season = np.array([1.7e308] + [-1.7e308] * 10 + [0.0])
    new = np.tile(season, 4) * (1 + 1e-6 * rng.random(48))
    t = np.arange(120)
    model = GRUForecaster(horizon=3, season_length=12, **FAST).fit(
        10 + 3 * np.sin(2 * np.pi * t / 12) + rng.normal(size=120))
    np.testing.assert_allclose(model.predict(y=new), season[:3], rtol=1e-3)


@pytest.mark.filterwarnings("error::RuntimeWarning")  # handled, not leaked
def test_values_whose_steps_overflow_are_named():
    """Finite values near float64's limit whose steps overflow (1.7e308 to
    -1.7e308) are refused naming the series, in fit and in a new history."""
    wild = np.where(np.arange(30) % 2, 1.7e308, -1.7e308)
    model = GRUForecaster(horizon=2, hidden_size=4, max_epochs=1, random_state=0)
    with pytest.raises(ValueError, match="series 'b' .* overflow"):
        model.fit({"a": np.sin(np.arange(30.0)), "b": wild})
    model.fit({"a": np.sin(np.arange(30.0))})
    with pytest.raises(ValueError, match="series 'w' .* overflow"):
        model.predict(y={"w": wild})


@pytest.mark.parametrize("ids", [[1, "1"], [2.0, "2.0"]])
def test_ids_that_are_the_same_as_text_are_refused(ids):
    """The model keeps ids other than int or str as text: two that read the
    same would share one forecast (a dict of forecasts would drop one)."""
    model = GRUForecaster(horizon=2, hidden_size=4, max_epochs=1, random_state=0)
    with pytest.raises(ValueError, match="are the same as text"):
        model.fit(dict(zip(ids, [np.sin(np.arange(30.0)), np.cos(np.arange(30.0))])))


def test_tuple_ids_forecast_as_text(tmp_path):
    series = {(1, "a"): np.sin(np.arange(30.0)), (2, "b"): np.cos(np.arange(30.0))}
    model = GRUForecaster(horizon=2, hidden_size=4, max_epochs=1, random_state=0).fit(series)
    fc = model.predict()
    assert sorted(fc) == ["(1, 'a')", "(2, 'b')"]
    fastgru.save(model, tmp_path / "m.npz")
    again = fastgru.load(tmp_path / "m.npz").predict()
    np.testing.assert_array_equal(again["(1, 'a')"], fc["(1, 'a')"])


def test_score_of_a_list_of_one_series_and_of_empty_truth():
    t = np.arange(40.0)
    one = GRUForecaster(horizon=2, hidden_size=4, max_epochs=1, random_state=0).fit([t % 5])
    future = np.array([0.0, 1.0])
    point = one.predict()[0]
    scale = np.mean(np.abs(np.diff(t % 5)))
    expected = -np.mean(np.abs(future - point)) / scale
    assert one.score([future]) == pytest.approx(expected, rel=1e-9)
    two = GRUForecaster(horizon=2, hidden_size=4, max_epochs=1, random_state=0).fit(
        {"a": t % 5, "b": t % 7})
    scale_a = np.mean(np.abs(np.diff(t % 5)))
    expected = -np.abs(future[0] - two.predict()["a"][0]) / scale_a
    assert two.score({"a": future[:1], "b": []}) == pytest.approx(expected, rel=1e-9)
    with pytest.raises(ValueError, match="no values to score"):
        two.score({"a": [], "b": []})


@pytest.mark.parametrize("params, n, match", [
    # a series of 40 weekly steps holds no season of 52 and 4 steps after it
    ({"season_length": 52}, 40, r"needs at least 56: an input of a season \(season_length=52\) "
                                r"and horizon=4"),
    ({"season_length": 4, "window": 3}, 6, r"needs at least 7: an input of window=3 steps"),
    ({}, 5, r"needs at least 6: an input of 2 steps and horizon=4"),
])
def test_fit_on_too_short_series_names_what_the_window_needs(params, n, match):
    model = GRUForecaster(horizon=4, max_epochs=1, random_state=0, **params)
    with pytest.raises(ValueError, match=match):
        model.fit({"a": np.arange(float(n)), "b": np.arange(float(n - 1))})


def test_levels_given_as_fractions_warn_that_they_are_percentages():
    model = GRUForecaster(horizon=2, **FAST).fit(seasonal_panel(n_series=3, length=40))
    with pytest.warns(UserWarning, match=r"level=\[0.8, 0.95\] asks for intervals of 0.8%, "
                                         r"0.95%: levels are percentages \(level=\[80, 95\]"):
        fc = model.predict(level=[0.8, 0.95])
    assert "GRUForecaster-lo-0.8" in fc.columns  # as asked (statsforecast's too)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.predict(level=[0.5, 50])  # a narrow level beside a usual one: as meant


@pytest.mark.parametrize("call,exc,match", [
    (lambda m: m.fit(np.arange(3.0)), ValueError, "needs at least"),
    (lambda m: m.fit(np.r_[np.arange(40.0), np.nan]), ValueError, "NaN"),
    (lambda m: m.fit(np.arange(40.0)).predict(horizon=0), ValueError, "horizon must be >= 1"),
    (lambda m: m.fit(np.arange(40.0)).predict(h=10**9), ValueError, "h must be <="),
    (lambda m: m.fit(np.arange(40.0)).predict(h=9, level=[80]), ValueError, "calibrated up"),
    (lambda m: m.fit(np.arange(40.0)).predict(level=[100]), ValueError, "between 0 and 100"),
    (lambda m: m.fit(np.arange(40.0)).predict(level="80"), ValueError, "got '80'"),
    (lambda m: m.fit(np.arange(40.0)).to_onnx(), NotImplementedError, "gru_.to_onnx"),
    (lambda m: m.fit(pd.DataFrame({"unique_id": [1], "ds": [1], "y": [1.0],
                                                 "x": ["a"]})), ValueError,
     r"column 'x' is not numeric \(object\): every column besides .* is a covariate; "
     r"drop it, or encode it first \(e.g. pd.get_dummies\)"),
    (lambda m: m.fit(pd.DataFrame({"unique_id": [1], "ds": [1], "y": [1.0], "x": [1j]})),
     ValueError, r"column 'x' is not numeric \(complex128\)"),
    (lambda m: m.fit(pd.DataFrame({"unique_id": [1], "ds": [1], "y": [1.0]}),
                     static_df=pd.DataFrame({"unique_id": [1], "s": [1j]})),
     ValueError, r"static column 's' is not numeric \(complex128\)"),
    (lambda m: m.set_params(alias="").fit(np.arange(40.0)), ValueError, "alias=''"),
    (lambda m: m.set_params(alias="gru-lo-x").fit(np.arange(40.0)), ValueError,
     "without '-lo-'"),
    *((lambda m, a=a: m.set_params(alias=a).fit(np.arange(40.0)), ValueError,
       f"alias='{a}' names a column of the forecast frames") for a in (
        "unique_id", "ds", "y", "cutoff")),
    (lambda m: m.set_params(hist_exog=["x0"]).fit(np.arange(40.0), X=np.ones((40, 1))),
     ValueError, "names columns of a long DataFrame"),
    (lambda m: m.set_params(hist_exog="x").fit({"a": np.arange(40.0)}), ValueError,
     "with other input, X holds"),
])
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call(GRUForecaster(window=8, horizon=4, hidden_size=4, max_epochs=2, random_state=0))


def test_save_load_round_trip_keeps_forecasts_and_intervals(tmp_path):
    df = seasonal_panel(n_series=5)
    static = pd.DataFrame({"unique_id": [f"s{i}" for i in range(5)], "k": np.arange(5.0)})
    model = GRUForecaster(horizon=3, season_length=12, **FAST).fit(df, static_df=static)
    path = tmp_path / "f.npz"
    fastgru.save(model, path)
    again = fastgru.load(path)
    pd.testing.assert_frame_equal(again.predict(level=[80]), model.predict(level=[80]))
    fitted = {k for k in vars(model) if k.endswith("_") and not k.startswith("_")}
    loaded = {k for k in vars(again) if k.endswith("_") and not k.startswith("_")}
    assert fitted == loaded


def _rewrite_meta(path, change):
    import json

    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(arrays.pop("__meta__").tobytes().decode())
    change(meta)
    encoded = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(path, __meta__=encoded, **arrays)


@pytest.mark.parametrize("change", [
    lambda m: m["attributes"]["_index_info"].update(freq="not a frequency"),
    lambda m: m["attributes"]["_index_info"].update(type="weekday"),
    lambda m: m["attributes"]["_index_info"].update(tz="Mars/Olympus"),
    lambda m: m["attributes"]["_index_info"].update(tz=5),
    lambda m: m["attributes"]["_index_info"].update(name={"a": 1}),
    lambda m: m["attributes"]["_index_info"].pop("name"),
    lambda m: m["attributes"].update(_id_ordered=True),  # an order of no categories
    lambda m: m["attributes"].update(_index_info=[1, 2]),
    lambda m: m["attributes"].update(_output_kind="tensor"),
    lambda m: m["attributes"].update(window_=0),
    lambda m: m["attributes"].update(futr_exog_=["ghost"]),
    lambda m: m["attributes"].update(static_names_=["ghost"]),  # no static covariates
    lambda m: m["attributes"].update(static_names_=5),
    lambda m: m["params"].update(alias="ds"),  # the forecast would overwrite the dates
    lambda m: m["params"].update(alias="a-lo-b"),
])
def test_load_refuses_tampered_forecaster_metadata(tmp_path, change):
    df = seasonal_panel(n_series=3, length=40)
    model = GRUForecaster(horizon=2, season_length=12, **FAST).fit(df)
    path = tmp_path / "f.npz"
    fastgru.save(model, path)
    _rewrite_meta(path, change)
    with pytest.raises(ValueError, match="f.npz"):
        fastgru.load(path)


@pytest.mark.parametrize("hist_exog", [["ghost"], "ghost", ["p", "q"]])
def test_load_refuses_past_covariates_the_model_was_not_fitted_with(tmp_path, hist_exog):
    # fitted with one past covariate, "p": predict(y=...) would ask for others
    df = seasonal_panel(n_series=3, length=40)
    df["p"] = np.sin(np.arange(len(df)))
    model = GRUForecaster(horizon=2, season_length=12, hist_exog="p", **FAST).fit(df)
    path = tmp_path / "f.npz"
    fastgru.save(model, path)
    _rewrite_meta(path, lambda m: m["params"].update(hist_exog=hist_exog))
    with pytest.raises(ValueError, match=r"f.npz.*hist_exog_ \['p'\] is not what hist_exog="):
        fastgru.load(path)
    for same in ("p", ["p"]):
        _rewrite_meta(path, lambda m, same=same: m["params"].update(hist_exog=same))
        pd.testing.assert_frame_equal(fastgru.load(path).predict(), model.predict())


@pytest.mark.parametrize("ds, fitted, other, same", [
    (pd.date_range("2020-01-06", periods=40, freq="D"), "D", "W-MON", "1D"),
    (pd.period_range("2020-01", periods=40, freq="M"), None, "Q", "M"),
    (np.arange(40) * 5, None, 1, 5),
])
def test_load_refuses_a_freq_that_contradicts_the_stored_time_stamps(tmp_path, ds, fitted,
                                                                    other, same):
    """predict() dates forecasts by the stored stamps, predict(y=...) by
    freq: a file whose freq gives other steps would date the two apart."""
    df = pd.concat([pd.DataFrame({"unique_id": k, "ds": ds, "y": np.sin(np.arange(40.0)) + i})
                    for i, k in enumerate("ab")], ignore_index=True)
    model = GRUForecaster(horizon=2, freq=fitted, **FAST).fit(df)
    path = tmp_path / "f.npz"
    fastgru.save(model, path)
    _rewrite_meta(path, lambda m: m["params"].update(freq=other))
    with pytest.raises(ValueError, match=f"f.npz.*freq={other!r} does not match the stored "
                                         "time stamps"):
        fastgru.load(path)
    _rewrite_meta(path, lambda m: m["params"].update(freq=same))  # the same steps, spelt apart
    loaded = fastgru.load(path)
    history = df[df.unique_id == "b"]
    pd.testing.assert_frame_equal(loaded.predict(y=history), model.predict(y=history))
    pd.testing.assert_frame_equal(loaded.predict(), model.predict())


def test_a_freq_spelt_as_an_older_pandas_wrote_it_loads(tmp_path):
    """pandas 2.2 respelt hours "H" as "h": a file written before, with
    freq="H" and hours stored as "H", loads and forecasts as one written now;
    a freq set after fit is refused before it is saved."""
    hours = pd.date_range("2024-01-01", periods=60, freq="h")
    df = pd.DataFrame({"unique_id": "a", "ds": hours, "y": np.sin(np.arange(60.0))})
    model = GRUForecaster(horizon=2, freq="h", **FAST).fit(df)
    path = tmp_path / "f.npz"
    fastgru.save(model, path)

    def older(meta):
        meta["params"]["freq"] = "H"
        meta["attributes"]["_index_info"]["freq"] = "H"

    _rewrite_meta(path, older)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # pandas' own, of "H"
        loaded = fastgru.load(path)
        pd.testing.assert_frame_equal(loaded.predict(), model.predict())
    with pytest.raises(ValueError, match="freq='D' was set after fit, which used freq='h'"):
        fastgru.save(model.set_params(freq="D"), tmp_path / "g.npz")


def test_past_covariates_named_by_a_float_save_and_load(tmp_path):
    # the file keeps hist_exog None (its names are neither text nor integers)
    df = seasonal_panel(n_series=3, length=40)
    df[1.5] = np.sin(np.arange(len(df)))
    model = GRUForecaster(horizon=2, season_length=12, hist_exog=[1.5], **FAST).fit(df)
    fastgru.save(model, tmp_path / "f.npz")
    loaded = fastgru.load(tmp_path / "f.npz")
    assert loaded.hist_exog is None and loaded.hist_exog_ == ["1.5"]
    pd.testing.assert_frame_equal(loaded.predict(), model.predict())


def _promo_panel(gap=False):
    """Two series with a future-known covariate, the last 4 steps of each held out."""
    t = np.arange(34)
    full = pd.DataFrame({"unique_id": np.repeat(["a", "b"], 34), "ds": np.tile(t, 2),
                         "y": np.r_[np.sin(t), np.cos(t)] + 3, "f": np.tile(t % 3, 2) * 1.0})
    if gap:  # a missing date in the training part: the time stamps cannot be continued
        full = full[full.ds != 10]
    return split(full, 4)


def test_x_df_with_two_rows_for_one_date_is_refused():
    """Rows sorted by date and taken in turn would shift the covariates of
    every later step by one: the repeated date is named instead."""
    train, test = _promo_panel()
    model = GRUForecaster(horizon=4, hidden_size=4, max_epochs=2, random_state=0).fit(train)
    X_df = test[["unique_id", "ds", "f"]]
    again = pd.concat([X_df, X_df[(X_df.unique_id == "a") & (X_df.ds == 30)].assign(f=9.0)])
    with pytest.raises(ValueError, match=r"more than one row for series 'a' at ds=\['30'\]"):
        model.predict(X_df=again)


def test_future_covariates_of_series_whose_time_stamps_cannot_be_continued():
    """With a gap in the dates the forecast is indexed by position: X_df's
    rows, at the series' real dates, are read in date order, and must be
    the horizon's rows exactly."""
    train, test = _promo_panel(gap=True)
    with pytest.warns(UserWarning, match="cannot continue the time stamps"):
        model = GRUForecaster(horizon=4, hidden_size=4, max_epochs=2, random_state=0).fit(train)
    X_df = test[["unique_id", "ds", "f"]]
    fc = model.predict(X_df=X_df)
    assert len(fc) == 8 and np.isfinite(fc.GRUForecaster).all()
    other = model.predict(X_df=X_df.assign(f=X_df.f + 1))
    assert not np.allclose(other.GRUForecaster, fc.GRUForecaster)  # the values are read
    shuffled = model.predict(X_df=X_df.sample(frac=1, random_state=0))
    np.testing.assert_array_equal(shuffled.GRUForecaster, fc.GRUForecaster)
    with pytest.raises(ValueError, match="X_df has 5 rows for series 'a'.*exactly"):
        model.predict(X_df=pd.concat([X_df, X_df.iloc[:1].assign(ds=99)]))


def test_score_pairs_each_true_value_with_the_forecast_of_its_date():
    """Some dates of the horizon, in any order, are scored against their own
    steps; dates outside the horizon (the training data, a shifted frame)
    and repeated dates are refused rather than scored against other steps."""
    df = seasonal_panel(n_series=3, length=40)
    train, test = split(df, 4)
    model = GRUForecaster(horizon=4, season_length=12, hidden_size=4, max_epochs=2,
                          random_state=0).fit(train)
    fc = model.predict()
    some = test.groupby("unique_id").nth([1, 3]).sample(frac=1, random_state=0)
    expected = []
    for uid, g in some.groupby("unique_id"):
        point = fc[fc.unique_id == uid].set_index("ds").GRUForecaster.loc[g.ds].to_numpy()
        hist = train.loc[train.unique_id == uid, "y"].to_numpy()
        expected.append(mase(g.y.to_numpy(), point, hist, 12))
    assert model.score(some) == pytest.approx(-np.mean(expected), rel=1e-9)
    with pytest.raises(ValueError, match="y has rows for series 's0' at ds=.*not among the 4"):
        model.score(test.assign(ds=test.ds + pd.DateOffset(months=1)))
    with pytest.raises(ValueError, match="not among"):
        model.score(train)
    with pytest.raises(ValueError, match="more than one row for series 's0'"):
        model.score(pd.concat([test, test.iloc[:1]]))
    with pytest.raises(ValueError, match=r"no \['ds'\]"):
        model.score(test.drop(columns="ds"))
    with pytest.raises(ValueError, match="no values to score"):
        model.score(test.iloc[:0])


def test_static_df_with_two_rows_for_a_series_is_refused():
    """Two rows of one series (conflicting values) are named, not one of
    them picked; NaN names its series and column."""
    train, _ = _promo_panel()
    train = train.drop(columns="f")
    static = pd.DataFrame({"unique_id": ["a", "b", "a"], "s": [1.0, 2.0, 50.0]})
    model = GRUForecaster(horizon=4, hidden_size=4, max_epochs=2, random_state=0)
    with pytest.raises(ValueError, match=r"more than one row for the series \['a'\]"):
        model.fit(train, static_df=static)
    with pytest.raises(ValueError, match="NaN or inf .series 'b', column 's'"):
        model.fit(train, static_df=static.iloc[:2].assign(s=[1.0, np.nan]))


@pytest.mark.parametrize("change, match", [
    (lambda df: df.assign(ds=df.ds.where(df.index != 5)), "'ds' has missing time stamps"),
    (lambda df: df.assign(unique_id=df.unique_id.where(df.index != 5)),
     "'unique_id' has missing series ids"),
    (lambda df: pd.concat([df, df[(df.unique_id == "a") & (df.ds == 33)]]),
     r"series .a. has duplicate .*\(33 more"),
    (lambda df: pd.concat([df, df[(df.unique_id == "a") & (df.ds == 33)]]).assign(
        unique_id=lambda d: d.unique_id.map({"a": 0, "b": 1, "c": 2})),  # numbers only
     r"series 0 has duplicate time stamps in 'ds' \(33 more"),
    (lambda df: df.assign(ds=df.ds.astype(object).where(df.index != 5, "5")),
     r"mixes time stamps of the types \['int', 'str'\]"),
    (lambda df: df.assign(ds=pd.Series(
        [pd.Timestamp("2000-01-01", tz="UTC" if i % 7 else None) + pd.Timedelta(days=int(d))
         for i, d in enumerate(df.ds)], index=df.index, dtype=object)), "mixes time zones"),
])
def test_cross_validation_refuses_rows_it_would_misplace(change, match):
    """A row without a date or series, or a second row of a date, in the
    part after a cutoff would be paired with another step's forecast; time
    stamps of two types sort by type, out of time order (fit too)."""
    full = pd.concat(_promo_panel(), ignore_index=True).drop(columns="f")
    model = GRUForecaster(horizon=4, hidden_size=4, max_epochs=2, random_state=0)
    with pytest.raises(ValueError, match=match):
        model.cross_validation(change(full))
    with pytest.raises(ValueError, match=match):
        model.fit(change(full))


def test_cross_validation_names_the_window_too_early_to_train():
    full = pd.concat(_promo_panel(), ignore_index=True).drop(columns="f")
    model = GRUForecaster(horizon=4, hidden_size=4, max_epochs=2, random_state=0)
    with pytest.raises(ValueError, match="window 1 of 8 .*32 steps before"):
        model.cross_validation(full, n_windows=8)
    categorical = full.assign(unique_id=pd.Categorical(full.unique_id, ["a", "b", "c"]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no pandas warning about unobserved categories
        cv = model.cross_validation(categorical, n_windows=2)
    assert len(cv) == 2 * 2 * 4 and set(cv.unique_id) == {"a", "b"}


def test_integer_series_ids_stay_integers_in_the_forecast(tmp_path):
    df = seasonal_panel(n_series=3, length=40)
    df["unique_id"] = df.unique_id.str[1:].astype(np.int64) + 100
    model = GRUForecaster(horizon=4, season_length=12, **FAST).fit(df)
    fc = model.predict(level=[80])
    assert fc.unique_id.dtype == np.int64 and list(fc.unique_id.unique()) == [100, 101, 102]
    assert model.cross_validation(df, n_windows=1).unique_id.dtype == np.int64
    fastgru.save(model, tmp_path / "m.npz")
    assert fastgru.load(tmp_path / "m.npz").predict().unique_id.dtype == np.int64
    text = seasonal_panel(n_series=2, length=40)
    assert list(GRUForecaster(horizon=4, **FAST).fit(text).predict().unique_id.unique()) \
        == ["s0", "s1"]


@pytest.mark.parametrize("values, error, match", [
    (pd.date_range("2000-01-01", periods=34, freq="D"), TypeError, "datetime64"),
    (pd.to_timedelta(np.arange(34), unit="D"), TypeError, "timedelta64"),
    (np.arange(34) + 1j, TypeError, "complex"),
    (pd.Categorical(np.arange(34.0) % 5), TypeError, "category"),
    (np.append(np.arange(33.0).astype(object), "1,5"), TypeError, r"holds text \(object\)"),
    (np.arange(34.0).astype(str), TypeError, r"holds text \(object\): convert it first"),
    (pd.array(np.arange(34.0).astype(str), dtype="string"), TypeError, r"holds text \(string"),
])
def test_values_that_are_not_numbers_are_refused(values, error, match):
    """to_numpy would read dates as nanoseconds, categories as their values
    and complex numbers as their real parts, all silently."""
    t = np.arange(34)
    long = pd.DataFrame({"unique_id": "a", "ds": t, "y": values})
    model = GRUForecaster(horizon=4, hidden_size=4, max_epochs=2, random_state=0)
    with pytest.raises(error, match=match):
        model.fit(long)
    with pytest.raises(error, match=match.replace("'a''s 'y'", "'a'")):
        model.fit({"a": pd.Series(values)})
    ok = model.fit(long.assign(y=np.sin(t).astype(object)))  # numbers as objects are numbers
    assert np.isfinite(ok.predict().GRUForecaster).all()
    mixed = np.array([True, decimal.Decimal(1), fractions.Fraction(1, 2)] + [1.5] * 31, object)
    assert np.isfinite(model.fit(long.assign(y=mixed)).predict().GRUForecaster).all()  # mixed
    nullable = long.assign(y=pd.array(np.r_[np.arange(33), 1], dtype="Int64"))
    assert len(model.fit(nullable).predict()) == 4


@pytest.mark.parametrize("other", [
    pd.date_range("2000-01-01", periods=10, freq="MS"),  # monthly in a daily panel
    pd.date_range("2000-01-01", periods=30, freq="D").delete(20),  # a gap
])
def test_a_series_off_the_panels_frequency_is_named_and_dated_by_it(other):
    """The dates are continued with the frequency of the longest series,
    also those of a series of another frequency, or with a gap (as
    statsforecast's freq): a warning names it."""
    daily = pd.date_range("2000-01-01", periods=40, freq="D")
    df = pd.DataFrame({"unique_id": ["a"] * 40 + ["b"] * len(other),
                       "ds": daily.append(other), "y": np.sin(np.arange(40 + len(other)))})
    model = GRUForecaster(horizon=2, hidden_size=4, max_epochs=2, random_state=0)
    with pytest.warns(UserWarning, match=r"the series \['b'\] do not follow .*\(D\)"):
        model.fit(df)
    fc = model.predict()
    assert fc.ds.tolist() == [daily[-1] + pd.Timedelta(days=k) for k in (1, 2)] + [
        other[-1] + pd.Timedelta(days=k) for k in (1, 2)]
    regular = df[df.unique_id == "a"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dated = model.fit(pd.concat([regular, regular.assign(unique_id="b")])).predict()
    assert dated.ds.astype(str).tolist()[:2] == ["2000-02-10", "2000-02-11"]


@pytest.mark.parametrize("freq, periods, expected", [
    ("D", 30, ["2024-03-10 00:00:00-05:00", "2024-03-11 00:00:00-04:00"]),
    ("h", 24 * 8, ["2024-03-10 00:00:00-05:00", "2024-03-10 01:00:00-05:00",
                   "2024-03-10 03:00:00-04:00"]),
])
def test_dates_in_a_time_zone_are_continued_across_daylight_saving(tmp_path, freq, periods,
                                                                    expected):
    """Days stay midnights and hours skip the hour that does not exist when
    the clocks go forward (New York, 10 March 2024); the zone is kept
    through save and load."""
    end = pd.Timestamp("2024-03-10", tz="US/Eastern")
    dates = pd.date_range(end=end, periods=periods + 1, freq=freq, tz="US/Eastern")[:-1]
    df = pd.DataFrame({"unique_id": ["a"] * periods + ["b"] * (periods - 5),
                       "ds": dates.append(dates[5:]),
                       "y": np.sin(np.arange(2 * periods - 5.0)) + 3})
    model = GRUForecaster(horizon=len(expected), hidden_size=4, max_epochs=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every series follows the panel's frequency
        model.fit(df)
    fc = model.predict()
    assert fc.ds.astype(str).tolist() == expected * 2
    path = tmp_path / "f.npz"
    fastgru.save(model, path)
    assert fastgru.load(path).predict().ds.astype(str).tolist() == expected * 2


def test_integer_stamps_with_a_gap_in_a_shorter_series_are_positions():
    long = pd.Series(np.sin(np.arange(40.0)))
    gappy = pd.Series(np.cos(np.arange(20.0)), index=np.r_[np.arange(10), np.arange(11, 21)])
    model = GRUForecaster(horizon=2, hidden_size=4, max_epochs=2, random_state=0)
    with pytest.warns(UserWarning, match=r"the series \['g'\] .*steps of 1"):
        model.fit({"l": long, "g": gappy})
    with pytest.warns(UserWarning, match=r"the series \['g'\]"):
        model.predict(y={"l": long, "g": gappy})


@pytest.mark.parametrize("name, value, match", [
    ("attr/last_ds_", lambda a: np.array([5, 6, 7]), "last_ds_ must hold datetime time stamps"),
    ("attr/last_ds_", lambda a: np.array([1.5, 2.5, 3.5]), "last_ds_ must hold datetime"),
    ("attr/calibration_", lambda a: np.zeros((a.shape[0], 3)), r"calibration_ must be \(n, h"),
    ("attr/calibration_", lambda a: a[:, 0], r"calibration_ must be \(n, horizon\)"),
    ("attr/history_", lambda a: a[:, 1:], "history_ must hold the longest window's steps"),
    ("attr/history_", lambda a: a[:2], "history_ must hold the longest window's steps"),
    ("attr/history_length_", lambda a: a * 0, "history_length_ must hold 1 to"),
    ("attr/series_scale_", lambda a: -a, "series_scale_ must hold one positive scale"),
    ("attr/series_ids_", lambda a: np.arange(3) > 0, "series_ids_ must hold one id"),
    ("attr/series_ids_", lambda a: np.array([1.5, 1.5, 2.0]), "series_ids_ has duplicates"),
    ("attr/interval_scale_", lambda a: a * 0.5, "interval_scale_ must hold one finite scale"),
    ("attr/interval_scale_", lambda a: a * np.nan, "interval_scale_. contains NaN or inf"),
    ("attr/interval_scale_", lambda a: a[:2], "interval_scale_ must hold one finite scale"),
])
def test_load_refuses_tampered_forecaster_arrays(tmp_path, name, value, match):
    """Arrays of other shapes than the series and horizon, and integers
    where the model keeps dates (which would continue them from 1970)."""
    df = seasonal_panel(n_series=3, length=40)
    model = GRUForecaster(horizon=2, season_length=12, **FAST).fit(df)
    path = tmp_path / "f.npz"
    fastgru.save(model, path)
    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    arrays[name] = value(arrays[name])
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=match):
        fastgru.load(path)


def test_x_df_for_a_model_without_future_covariates_is_said_to_be_ignored():
    train, test = _promo_panel()
    model = GRUForecaster(horizon=4, hidden_size=4, max_epochs=2, random_state=0)
    model.fit(train.drop(columns="f"))
    with pytest.warns(UserWarning, match="X_df is ignored"):
        fc = model.predict(X_df=test[["unique_id", "ds", "f"]])
    np.testing.assert_array_equal(fc.GRUForecaster, model.predict().GRUForecaster)


def test_score_of_a_dict_pairs_series_by_key():
    """A dict in another order than the series the model was fitted on is
    scored series by series, by key; a key the model does not know is named."""
    t = np.arange(40.0)
    model = GRUForecaster(horizon=2, hidden_size=4, max_epochs=1, random_state=0).fit(
        {"a": t % 5, "b": t % 7})
    fc = model.predict()
    truth = {"b": np.array([3.0, 4.0]), "a": np.array([0.0, 1.0])}
    expected = np.mean([mase(truth[k], fc[k], t % m, 1) for k, m in (("a", 5), ("b", 7))])
    assert model.score(truth) == pytest.approx(-expected, rel=1e-9)
    with pytest.raises(ValueError, match=r"does not forecast: \['c'\]"):
        model.score({"a": truth["a"], "c": truth["b"]})
    with pytest.raises(ValueError, match="y holds 1 series, the model forecasts 2"):
        model.score({"a": truth["a"]})


def test_cross_validation_with_levels_and_no_intervals_names_the_reason():
    t = np.arange(12)
    short = pd.DataFrame({"unique_id": np.repeat(["a", "b"], 12), "ds": np.tile(t, 2),
                          "y": np.r_[np.sin(t), np.cos(t)] + 3})
    model = GRUForecaster(horizon=4, hidden_size=4, max_epochs=2, random_state=0)
    with pytest.warns(UserWarning, match="too short"), pytest.raises(
            ValueError, match="window 1 of 1 .*no intervals"):
        model.cross_validation(short, level=[80])
    plain = GRUForecaster(horizon=2, early_stopping=False, hidden_size=4, max_epochs=2,
                          random_state=0)
    with pytest.raises(ValueError, match="no intervals"):
        plain.cross_validation(short, level=[80])
    plain.fit(short)
    for call in (lambda: plain.predict(level=[80]), lambda: plain.intervals([80])):
        with pytest.raises(ValueError, match="this model has no intervals.*early_stopping"):
            call()


def test_a_pandas_series_out_of_time_order_is_refused():
    """Its values would be read in the index's order: a shuffled series
    forecast from whichever value came last."""
    index = pd.date_range("2000-01-01", periods=40, freq="D")
    series = pd.Series(np.arange(40.0) + np.sin(np.arange(40.0)), index=index)
    shuffled = series.sample(frac=1, random_state=0)
    model = GRUForecaster(horizon=2, hidden_size=4, max_epochs=2, random_state=0)
    for y, label in ((shuffled, "y"), ({"a": shuffled}, "series 'a'"),
                     (shuffled.to_frame(), "y"), (series[::-1], "y"),
                     (pd.concat([series[:20], series[19:]]), "y")):
        with pytest.raises(ValueError, match=f"{label}'s index is not in increasing"):
            model.fit(y)
    assert np.isfinite(model.fit(shuffled.sort_index()).predict()).all()
    # row labels of a frame sorted by date are no time stamps: read as they come
    labelled = pd.Series(series.to_numpy(), index=np.random.default_rng(0).permutation(40))
    with pytest.warns(UserWarning, match="cannot continue the time stamps"):
        np.testing.assert_array_equal(model.fit(labelled).predict().to_numpy(),
                                      model.fit(series.to_numpy()).predict())
    with pytest.raises(ValueError, match="not in increasing"):
        model.predict(y=shuffled)


def test_covariates_near_1e300_are_standardised_not_zeroed():
    """Their squares overflow: an infinite scale would read every value as 0."""
    from fastgru._windows import Standardizer

    t = np.arange(60)
    huge = np.where(t % 2, 1e300, -1e300)[:, None]
    scaler = Standardizer.fit([huge])
    np.testing.assert_allclose(scaler(huge)[:, 0], np.where(t % 2, 1.0, -1.0))
    df = pd.DataFrame({"unique_id": "a", "ds": t, "y": np.sin(t), "h": huge[:, 0]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = GRUForecaster(horizon=2, hist_exog=["h"], hidden_size=4, max_epochs=2,
                              random_state=0).fit(df)
    assert model.hist_scale_[0] == pytest.approx(1e300)


def test_cross_validation_names_the_window_of_missing_future_covariates():
    """Its X_df is the frame's own rows after each cutoff: NaN there is named
    with the window, as the user passed no X_df."""
    train, test = _promo_panel()
    full = pd.concat([train, test.assign(f=np.where(test.ds == 33, np.nan, test.f))])
    model = GRUForecaster(horizon=4, hidden_size=4, max_epochs=2, random_state=0)
    with pytest.raises(ValueError, match="window 1 of 1 .*X_df is y's rows after them.*NaN"):
        model.cross_validation(full)


def test_refit_false_forecasts_a_series_that_starts_after_the_first_cutoff_with_static_df():
    """Trained once, at the first cutoff, the model forecasts a series that
    begins later with its row of the backtest's static_df."""
    train, test = _promo_panel()
    full = pd.concat([train, test]).drop(columns="f")
    late = pd.DataFrame({"unique_id": "c", "ds": np.arange(6), "y": np.arange(6.0)})
    static = pd.DataFrame({"unique_id": ["a", "b", "c"], "s": [1.0, 2.0, 3.0]})
    model = GRUForecaster(horizon=4, hidden_size=4, max_epochs=2, random_state=0)
    cv = model.cross_validation(pd.concat([full, late]), n_windows=2, refit=False,
                                static_df=static)
    assert cv.groupby("unique_id").size().to_dict() == {"a": 8, "b": 8, "c": 4}
    other = model.cross_validation(pd.concat([full, late]), n_windows=2, refit=False,
                                   static_df=static.assign(s=[1.0, 2.0, 30.0]))
    c = (cv.unique_id == "c").to_numpy()
    assert not np.allclose(other.GRUForecaster[c], cv.GRUForecaster[c])  # its row is read
    np.testing.assert_array_equal(other.GRUForecaster[~c], cv.GRUForecaster[~c])


def test_predict_takes_static_covariates_of_new_series():
    """A new series forecast from its history and its static row gets the
    forecast of a known series with the same history and row, and another
    row changes it."""
    df = seasonal_panel(n_series=4, length=60)
    static = pd.DataFrame({"unique_id": [f"s{i}" for i in range(4)], "k": [0.0, 1.0, 2.0, 3.0]})
    model = GRUForecaster(horizon=3, season_length=12, **FAST).fit(df, static_df=static)
    one = df[df.unique_id == "s1"]
    known = model.predict(y=one).GRUForecaster.to_numpy()
    new = one.assign(unique_id="new")
    with pytest.raises(ValueError, match=r"no static covariates for the series \['new'\]"):
        model.predict(y=new)
    same = model.predict(y=new, static_df=pd.DataFrame({"unique_id": ["new"], "k": [1.0]}))
    np.testing.assert_array_equal(same.GRUForecaster.to_numpy(), known)
    other = model.predict(y=new, static_df=pd.DataFrame({"unique_id": ["new"], "k": [3.0]}))
    assert not np.array_equal(other.GRUForecaster.to_numpy(), known)
    with pytest.raises(ValueError, match="static_df goes with a new history y"):
        model.predict(static_df=static)
    with pytest.raises(ValueError, match="columns"):
        model.predict(y=new, static_df=pd.DataFrame({"unique_id": ["new"], "j": [1.0]}))
    plain = GRUForecaster(horizon=3, season_length=12, **FAST).fit(df)
    with pytest.raises(ValueError, match="fitted without static covariates"):
        plain.predict(y=new, static_df=static)


@pytest.mark.parametrize("alias", ["ds", "unique_id", "y", "cutoff"])
def test_an_alias_never_overwrites_a_column_of_the_frames(alias):
    """Named as one of the frames' own columns, the forecast would replace
    it: the dates or ids of predict, the actual values of cross_validation
    (which evaluate would then score as perfect)."""
    df = seasonal_panel(n_series=2, length=40)
    model = GRUForecaster(horizon=2, hidden_size=4, max_epochs=1, random_state=0, alias=alias)
    with pytest.raises(ValueError, match=f"alias='{alias}' names a column"):
        model.cross_validation(df, n_windows=1)
    with pytest.raises(ValueError, match=f"alias='{alias}' names a column"):
        model.fit(df)


@pytest.mark.parametrize("info,last,at_load", [
    ({"type": "float", "step": float("nan")}, 0.0, True),
    ({"type": "float", "step": 1e308}, 0.0, False),  # one step is finite, three are not
    ({"type": "integer", "step": 2**62}, 0, False),  # three steps pass int64
    ({"type": "integer", "step": 10**30}, 0, True),
    # positions have no step (fit writes none): one would be read as an integer's
    ({"type": "position", "step": 10**30}, 0, True),
    ({"type": "position", "step": -7}, 0, True),
    ({"type": "position", "step": None}, 2**63 - 3, False),  # one step fits, three do not
])
def test_time_stamps_a_file_cannot_continue_are_a_value_error(tmp_path, info, last, at_load):
    """Stamps of a tampered file that leave int64 or float64 are refused by
    load when one step does, else by predict: a ValueError that says so,
    never an OverflowError or NaN dates."""
    t = np.arange(30)
    series = pd.Series(np.sin(t) + 3, index=pd.Index(t * 2, dtype=np.int64))
    model = GRUForecaster(horizon=3, hidden_size=4, max_epochs=1, random_state=0).fit(series)
    path = tmp_path / "f.npz"
    fastgru.save(model, path)
    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    arrays["attr/last_ds_"] = np.array([last])
    np.savez(path, **arrays)
    def rewrite(meta):  # (a key given None is dropped)
        given = meta["attributes"]["_index_info"]
        given.update(info)
        for key in [k for k, v in info.items() if v is None]:
            del given[key]

    _rewrite_meta(path, rewrite)
    if at_load:
        with pytest.raises(ValueError, match="f.npz.*(not finite|int64 holds|position time "
                                             r"stamps has unknown keys \['step'\])"):
            fastgru.load(path)
        return
    loaded = fastgru.load(path)
    with pytest.raises(ValueError, match="not finite|int64 holds"):
        loaded.predict()


@pytest.mark.parametrize("names", ["k", [5], {"k": 1}])
def test_load_refuses_static_names_that_are_not_a_list_of_names(tmp_path, names):
    """predict(y=..., static_df=...) compares static_df's columns, as text,
    with static_names_: names of another kind would refuse every static_df."""
    df = seasonal_panel(n_series=3, length=40)
    static = pd.DataFrame({"unique_id": [f"s{i}" for i in range(3)], "k": np.arange(3.0)})
    model = GRUForecaster(horizon=2, hidden_size=4, max_epochs=1, random_state=0).fit(
        df, static_df=static)
    path = tmp_path / "f.npz"
    fastgru.save(model, path)
    _rewrite_meta(path, lambda m: m["attributes"].update(static_names_=names))
    with pytest.raises(ValueError, match="f.npz.*static_names_ must list"):
        fastgru.load(path)


def test_frames_with_a_column_name_twice_are_a_value_error_naming_it():
    """y, static_df or X_df with two columns of one name (or 5 and "5": the
    model keeps names as text) would be read as a frame where a column goes."""
    train, test = _promo_panel()
    static = pd.DataFrame({"unique_id": ["a", "b"], "k": [1.0, 2.0]})
    model = GRUForecaster(horizon=4, hidden_size=4, max_epochs=1, random_state=0)
    twice = pd.concat([train, train[["f"]]], axis=1)
    with pytest.raises(ValueError, match=r"long DataFrame has more than one column named \['f'\]"):
        model.fit(twice)
    with pytest.raises(ValueError, match=r"static_df has more than one column named \['k'\]"):
        model.fit(train, static_df=pd.concat([static, static[["k"]]], axis=1))
    model.fit(train)
    future = test.drop(columns="y")
    as_text = future.copy()
    as_text[5], as_text["5"] = 1.0, 2.0
    for X_df, name in ((pd.concat([future, future[["f"]]], axis=1), "f"), (as_text, "5")):
        with pytest.raises(ValueError, match=rf"X_df has more than one column named \['{name}'\]"):
            model.predict(X_df=X_df)
    assert len(model.predict(X_df=future)) == 8


def test_a_long_panel_trains_on_a_random_sample_of_its_windows(monkeypatch):
    """Past MAX_TRAINING_WINDOWS training origins a fit cuts a random sample
    of them (its memory bounded however long the series); below it, every one."""
    from fastgru import _forecast_fit, forecasting

    origins = [np.arange(5, 400), np.arange(3, 50), np.arange(0)]
    assert _forecast_fit.sample_origins(origins, 442, 0) is origins  # all of them: kept
    picked = _forecast_fit.sample_origins(origins, 100, 0)
    assert sum(len(o) for o in picked) == 100 and len(picked[2]) == 0
    for got, every in zip(picked, origins):
        assert np.isin(got, every).all() and (np.diff(got) > 0).all()  # in time order
    assert len(picked[0]) > 3 * len(picked[1])  # uniform over all origins: by their count
    again, other = (_forecast_fit.sample_origins(origins, 100, s) for s in (0, 1))
    assert all(np.array_equal(a, b) for a, b in zip(again, picked))
    assert not all(np.array_equal(a, b) for a, b in zip(other, picked))

    cut = []
    real = forecasting.cut_windows

    def spy(panel, maker, window, train_o, val_o, dtype):
        cut.append(sum(len(o) for o in train_o))
        return real(panel, maker, window, train_o, val_o, dtype)

    monkeypatch.setattr(forecasting, "cut_windows", spy)
    monkeypatch.setattr(forecasting, "MAX_TRAINING_WINDOWS", 60)
    y = np.sin(np.arange(300) / 4.0)
    model = GRUForecaster(horizon=3, hidden_size=4, max_epochs=2, random_state=0).fit(y)
    fc = model.predict(level=[80])
    assert cut == [60] and np.isfinite(fc["mean"]).all() and (fc["lo-80"] <= fc["hi-80"]).all()


@pytest.mark.parametrize("block_rows", [None, 3])
def test_the_held_out_checks_reuse_their_buffers(monkeypatch, block_rows):
    """A panel whose held-out windows need more buffers than a layer keeps
    between calls (none here) allocates them at the first check of an epoch
    and reuses them at the next ones, also when they run in blocks (3 rows
    at most: two blocks of 2); the layer keeps none after the fit."""
    from fastgru import _engine, _network
    from fastgru._network import SequenceNet

    monkeypatch.setattr(_engine, "WORKSPACE_KEEP_BYTES", 0)
    if block_rows is not None:
        monkeypatch.setattr(_network, "BLOCK_ROWS", block_rows)
    inference, puts, rows = set(), [], set()
    forward, put = SequenceNet.forward, _engine.Workspace.put

    def spy_forward(self, x, lengths, training=False):
        if not training:
            inference.add(id(self.gru._workspace()))
            rows.add(len(x))
        return forward(self, x, lengths, training)

    def spy_put(self, key, arr):
        puts.append((id(self), str(key)))
        return put(self, key, arr)

    monkeypatch.setattr(SequenceNet, "forward", spy_forward)
    monkeypatch.setattr(_engine.Workspace, "put", spy_put)
    y = np.sin(np.arange(120) / 3.0)
    model = GRUForecaster(horizon=4, hidden_size=4, max_epochs=6, early_stopping=True,
                          random_state=0).fit(y)
    checks = len(model.loss_curve_)
    held = [key for ws, key in puts if ws in inference]
    assert checks >= 3 and len(held) == len(set(held)) > 0  # each buffer made once
    assert rows == ({4} if block_rows is None else {2})  # 4 held-out windows
    assert model.gru_._workspace().nbytes == 0  # and freed after the fit


def test_a_forward_in_blocks_is_the_forward_of_every_row():
    """SequenceNet.forward_blocks: up to its rows, one forward (bitwise); past
    them, blocks of one size (the last overlapping the one before) whose
    rows are each row's forward."""
    from fastgru import GRU
    from fastgru._network import SequenceNet, init_head

    rng = np.random.default_rng(0)
    gru = GRU(2, 8, dtype="float64", random_state=0)
    net = SequenceNet(gru, init_head(8, 3, np.float64, rng))
    x = rng.normal(size=(1001, 7, 2))
    lengths = rng.integers(1, 8, 1001)
    every = np.concatenate([net.forward(x[i:i + 1], lengths[i:i + 1]) for i in range(1001)])
    assert np.array_equal(net.forward_blocks(x, lengths, rows=1001), net.forward(x, lengths))
    sizes = []
    forward = net.forward
    net.forward = lambda x, lengths: sizes.append(len(x)) or forward(x, lengths)
    for rows, want in ((1000, [501, 501]), (300, [251] * 4), (1, [1] * 1001)):
        sizes.clear()
        got = net.forward_blocks(x, lengths, rows=rows)
        assert sizes == want
        np.testing.assert_allclose(got, every, rtol=1e-12, atol=1e-12)
