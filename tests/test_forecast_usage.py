"""What a user of GRUForecaster meets on small real-world panels: intervals
from few held-out forecasts, covariate frames with dates in another dtype."""

import copy
import pickle
import warnings

import numpy as np
import pytest

from fastgru import GRUForecaster

FAST = dict(hidden_size=8, max_epochs=5, random_state=0)


@pytest.fixture(scope="module")
def one_series_model():
    t = np.arange(150)
    y = 10 + np.sin(2 * np.pi * t / 12) + np.random.default_rng(0).normal(0, 0.2, t.size)
    return GRUForecaster(horizon=6, season_length=12, **FAST).fit(y)


def test_a_level_beyond_the_held_out_forecasts_warns(one_series_model):
    # one series holds out `horizon` = 6 origins: 6 errors per step calibrate a
    # two-sided level up to (6 - 1) / (6 + 1) = 71%; 95% needs 2 / 0.05 - 1 = 39
    m = one_series_model
    assert m.calibration_.shape == (6, 6)
    with pytest.warns(UserWarning, match=r"6 held-out forecasts .* up to 71%.*level=95 needs 39"):
        m.predict(level=[95])


def test_warnings_point_at_the_user_s_line():
    import pandas as pd

    gappy = pd.Series(np.sin(np.arange(40.0)), index=pd.date_range("2000-01-01", periods=41,
                                                                    freq="D").delete(20))
    df = pd.DataFrame({"unique_id": "a", "ds": gappy.index, "y": gappy.to_numpy()})
    calls = {
        "fit, dates": lambda: GRUForecaster(horizon=2, **FAST).fit(gappy),
        "fit, too short": lambda: GRUForecaster(horizon=2, **FAST).fit(np.arange(4.0)),
        "predict, level": lambda: GRUForecaster(horizon=6, **FAST).fit(
            np.sin(np.arange(60.0))).predict(level=[95]),
        "predict(y=...), dates": lambda: GRUForecaster(horizon=2, **FAST).fit(
            np.sin(np.arange(60.0))).predict(y=gappy),
        "cross_validation": lambda: GRUForecaster(horizon=2, **FAST).cross_validation(df),
    }
    for what, call in calls.items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            call()
        ours = [w for w in caught if issubclass(w.category, UserWarning)]
        assert ours, what
        assert {w.filename for w in ours} == {__file__}, (what, [w.filename for w in ours])


@pytest.mark.parametrize("refit", [False, True])
def test_a_backtest_gives_a_warning_that_holds_for_every_window_once(refit):
    import pandas as pd

    t = np.arange(150)
    y = 10 + np.sin(2 * np.pi * t / 12) + np.random.default_rng(0).normal(0, 0.2, t.size)
    df = pd.DataFrame({"unique_id": "a", "ds": pd.date_range("2000-01", periods=150,
                                                             freq="MS"), "y": y})
    model = GRUForecaster(horizon=6, season_length=12, **FAST)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cv = model.cross_validation(df, n_windows=3, level=[95], refit=refit)
        model.fit(df).predict(level=[95])
        model.predict(level=[95])  # a call of its own: said again
    assert cv.cutoff.nunique() == 3
    said = [str(w.message) for w in caught if "held-out forecasts per step" in str(w.message)]
    assert len(said) == 3 and said[0] == said[1] == said[2]
    # the record of what was said ends with the backtest, also when it fails
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ValueError, match="nothing to train on"):
            model.cross_validation(df, n_windows=200, level=[95], refit=refit)
        model.predict(level=[95])
    assert sum("held-out forecasts per step" in str(w.message) for w in caught) == 1


def test_a_backtest_of_dates_with_a_gap_says_how_it_dates_its_forecasts():
    import pandas as pd

    t = np.arange(59)
    y = 10 + np.sin(2 * np.pi * t / 12) + np.random.default_rng(0).normal(0, 0.2, t.size)
    months = pd.date_range("2010-01", periods=60, freq="MS")
    df = pd.concat([pd.DataFrame({"unique_id": "gap", "ds": months.delete(30), "y": y}),
                    pd.DataFrame({"unique_id": "even", "ds": months[:59], "y": y})])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cv = GRUForecaster(horizon=3, season_length=12, **FAST).cross_validation(df,
                                                                                n_windows=2)
        GRUForecaster(horizon=3, season_length=12, **FAST).fit(df)
    said = [str(w.message) for w in caught if "do not follow" in str(w.message)]
    assert len(said) == 2
    # the backtest's forecasts are the rows after each cutoff
    assert said[0].endswith("the model reads their rows as consecutive steps, and "
                            "cross_validation pairs their forecasts with their rows after the "
                            "cutoff")
    assert said[1].endswith("and dates their forecasts by it after their last time stamp")
    gap = cv[cv.unique_id == "gap"]
    expected = df[df.unique_id == "gap"].ds.iloc[-6:].to_numpy()
    np.testing.assert_array_equal(gap.ds.to_numpy(), expected)
    np.testing.assert_allclose(gap.y.to_numpy(), y[-6:])

def test_categorical_ids_keep_their_categories_as_statsforecast_keeps_them(tmp_path):
    import pickle

    import pandas as pd

    import fastgru
    from fastgru.metrics import evaluate

    days = pd.date_range("2020-01-01", periods=40, freq="D")
    df = pd.concat([pd.DataFrame({"unique_id": k, "ds": days, "y": np.sin(np.arange(40.0)) + i})
                    for i, k in enumerate("bac")], ignore_index=True)
    kind = pd.CategoricalDtype(["c", "b", "a", "unused"])
    df["unique_id"] = df["unique_id"].astype(kind)
    model = GRUForecaster(horizon=2, **FAST).fit(df)
    fc = model.predict()
    assert fc.unique_id.dtype == kind  # the unused category too
    assert fc.unique_id.tolist() == ["c", "c", "b", "b", "a", "a"]  # in the categories' order
    fastgru.save(model, tmp_path / "f.npz")
    pd.testing.assert_frame_equal(fastgru.load(tmp_path / "f.npz").predict(), fc)
    pd.testing.assert_frame_equal(pickle.loads(pickle.dumps(model)).predict(), fc)
    # categories that do not hold every series, repeat one, or are not
    # numbers or text: a file load refuses
    with np.load(tmp_path / "f.npz", allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    for bad in (np.array(["c", "b"]), np.array(["c", "b", "a", "a"]),
                np.array([True, False, True])):
        np.savez(tmp_path / "g.npz", **{**arrays, "attr/_id_categories": bad})
        with pytest.raises(ValueError, match="g.npz.*_id_categories must be distinct"):
            fastgru.load(tmp_path / "g.npz")
    # many categories (a store chain's ids) are an array, not the file's metadata
    many = pd.CategoricalDtype(["c", "b", "a", *(f"store {i:06d}" for i in range(100_000))])
    big = GRUForecaster(horizon=2, **FAST).fit(df.astype({"unique_id": many}))
    fastgru.save(big, tmp_path / "big.npz")
    assert fastgru.load(tmp_path / "big.npz").predict().unique_id.dtype == many
    cv = model.cross_validation(df, n_windows=2)
    assert cv.unique_id.dtype == kind
    assert evaluate(cv, None, df, 1).loc["GRUForecaster", "n_series"] == 6
    one = df[df.unique_id == "a"]
    assert model.predict(y=one).unique_id.dtype == kind
    assert model.predict(y=one.astype({"unique_id": str})).unique_id.dtype == object
    # categories of two kinds (the model keeps such ids as text), or beyond
    # what NumPy's integers hold: plain ids
    mixed = df.assign(unique_id=df.unique_id.cat.rename_categories(["c", 2, "a", "unused"]))
    assert GRUForecaster(horizon=2, **FAST).fit(mixed).predict().unique_id.tolist() == [
        "c", "c", "2", "2", "a", "a"]
    huge = df.assign(unique_id=df.unique_id.cat.rename_categories([3, 2, 1, 2**70]))
    assert GRUForecaster(horizon=2, **FAST).fit(huge).predict().unique_id.dtype == np.int64
    # other ids: cross_validation gives them as predict does
    text = df.astype({"unique_id": "string"})
    model.fit(text)
    assert model.cross_validation(text, n_windows=1).unique_id.dtype == \
        model.predict().unique_id.dtype == object


def test_a_gap_after_the_last_cutoff_is_said_once():
    """A gap among the rows a backtest scores (none in what it trains on):
    each step is paired with the next row, and a warning names the series."""
    import pandas as pd

    days = pd.date_range("2020-01-01", periods=60, freq="D")
    df = pd.concat([pd.DataFrame({"unique_id": k, "ds": days, "y": np.sin(np.arange(60.0)) + i})
                    for i, k in enumerate("abc")], ignore_index=True)
    model = GRUForecaster(horizon=3, **FAST)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.cross_validation(df, n_windows=2)
    df = df.drop(index=df.index[-2])  # 2020-02-28 of series c
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cv = model.cross_validation(df, n_windows=2)
    assert [str(w.message) for w in caught] == [
        "cross_validation: the series ['c'] have a gap after a cutoff (or another frequency): "
        "each forecast step is paired with their next row, whatever its date"]
    last = cv[cv.unique_id == "c"].tail(3)
    assert last.ds.astype(str).tolist() == ["2020-02-26", "2020-02-27", "2020-02-29"]
    # boolean ids are labels, not a mask
    two = df[df.unique_id != "c"].assign(unique_id=lambda d: d.unique_id == "a")
    assert len(model.cross_validation(two, n_windows=2)) == 12


def test_interval_quantiles_follow_each_fit_and_warn_at_every_call():
    t = np.arange(150)
    rng = np.random.default_rng(2)
    calm = 10 + np.sin(2 * np.pi * t / 12) + rng.normal(0, 0.1, t.size)
    wild = 10 + np.sin(2 * np.pi * t / 12) + rng.normal(0, 1.0, t.size)
    model = GRUForecaster(horizon=6, season_length=12, **FAST)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(calm).predict(level=[95])
        first = model.predict(level=[95, 50])
        model.predict(level=[95])
    assert sum("held-out forecasts per step" in str(w.message) for w in caught) == 3
    # a refit measures new errors: the intervals are a new model's
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        again = model.fit(wild).predict(level=[95, 50])
        fresh = GRUForecaster(horizon=6, season_length=12, **FAST).fit(wild).predict(
            level=[95, 50])
    for key in ("lo-95", "hi-95", "lo-50", "hi-50"):
        np.testing.assert_array_equal(again[key], fresh[key])
    assert not np.allclose(again["hi-50"] - again["lo-50"], first["hi-50"] - first["lo-50"])


def test_intervals_follow_held_out_errors_changed_in_place():
    t = np.arange(150)
    y = 10 + np.sin(2 * np.pi * t / 12) + np.random.default_rng(1).normal(0, 0.3, t.size)
    model = GRUForecaster(horizon=6, season_length=12, **FAST).fit(y)
    first = model.predict(level=[50])
    model.calibration_ *= 3  # every error three times as large: intervals 3x as wide
    wider = model.predict(level=[50])
    np.testing.assert_array_equal(wider["mean"], first["mean"])
    for side in ("lo-50", "hi-50"):
        np.testing.assert_allclose(wider[side] - wider["mean"],
                                   3 * (first[side] - first["mean"]), rtol=1e-9)


def test_the_quantiles_kept_do_not_grow_with_the_levels_asked(one_series_model):
    m = one_series_model
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # levels beyond the held-out forecasts
        for level in np.linspace(1, 99, 500):  # a server's callers may ask any
            m.intervals([level])
        lo, hi = m.intervals([50.0])
    assert len(m._quantile_cache[1]) <= 16
    # 6 errors per step: the 50% level's corrected rank ceil(7 * 0.75) = 6 of 6
    # is their largest; its lower bound 1 - 6 / 6 = 0, their smallest
    np.testing.assert_array_equal(hi[0], m.calibration_.max(axis=0))
    np.testing.assert_array_equal(lo[0], m.calibration_.min(axis=0))


@pytest.mark.parametrize("copied", [lambda m: m, copy.deepcopy,
                                    lambda m: pickle.loads(pickle.dumps(m))])
def test_changing_the_quantiles_returned_leaves_later_intervals_as_they_were(copied):
    t = np.arange(150)
    y = 10 + np.sin(2 * np.pi * t / 12) + np.random.default_rng(4).normal(0, 0.3, t.size)
    model = copied(GRUForecaster(horizon=6, season_length=12, **FAST).fit(y))
    before = model.predict(level=[50])
    lo, hi = model.intervals([50.0])
    lo -= 100
    hi += 100
    after = model.predict(level=[50])
    for key in ("lo-50", "hi-50"):
        np.testing.assert_array_equal(after[key], before[key])


def test_a_level_the_held_out_forecasts_calibrate_does_not_warn(one_series_model):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fc = one_series_model.predict(level=[50])
    assert np.all(fc["lo-50"] <= fc["hi-50"])


def _monthly_panel_with_holiday():
    pd = pytest.importorskip("pandas")
    ds = pd.date_range("2010-01-01", periods=60, freq="MS")
    rng = np.random.default_rng(1)
    frames = [pd.DataFrame({"unique_id": u, "ds": ds, "y": 10 * (k + 1) + np.sin(np.arange(60))
                            + rng.normal(0, 0.1, 60), "holiday": (ds.month == 12) * 1.0})
              for k, u in enumerate(["a", "b"])]
    df = pd.concat(frames, ignore_index=True)
    future = df.groupby("unique_id").tail(4)
    return df.drop(future.index), future[["unique_id", "ds", "holiday"]]


def test_x_df_with_dates_as_text_names_its_dtype():
    pd = pytest.importorskip("pandas")
    train, future = _monthly_panel_with_holiday()
    m = GRUForecaster(horizon=4, **FAST).fit(train)
    text = future.assign(ds=future["ds"].dt.strftime("%m/%d/%Y"))
    with pytest.raises(ValueError, match=r"X_df lacks series 'a'.*runs from 09/01/2014 to "
                                         r"12/01/2014, of dtype object.*pd.to_datetime"):
        m.predict(X_df=text)
    # ISO dates as text (as read_csv gives them) are read as dates
    iso = future.assign(ds=future["ds"].dt.strftime("%Y-%m-%d"))
    pd.testing.assert_frame_equal(m.predict(X_df=iso), m.predict(X_df=future))


def test_x_df_with_other_dates_says_which_it_holds():
    pd = pytest.importorskip("pandas")
    train, future = _monthly_panel_with_holiday()
    m = GRUForecaster(horizon=4, **FAST).fit(train)
    shifted = future.assign(ds=future["ds"] + pd.DateOffset(years=1))
    with pytest.raises(ValueError, match=r"runs from 2015-09-01 00:00:00 to 2015-12-01") as err:
        m.predict(X_df=shifted)
    assert "dtype" not in str(err.value)


def test_x_df_without_the_series_time_zone_names_both_dtypes():
    train, future = _monthly_panel_with_holiday()
    m = GRUForecaster(horizon=4, **FAST).fit(
        train.assign(ds=train["ds"].dt.tz_localize("Europe/Paris")))
    with pytest.raises(ValueError, match=r"dtype datetime64\[ns\] where the series' dates "
                                         r"are datetime64\[ns, Europe/Paris\]"):
        m.predict(X_df=future)
    fc = m.predict(X_df=future.assign(ds=future["ds"].dt.tz_localize("Europe/Paris")))
    assert str(fc["ds"].iloc[0]) == "2014-09-01 00:00:00+02:00"


def test_forecast_dates_past_pandas_last_date_are_a_clear_error():
    # monthly dates from 2014 run out in April 2262: 3,000 months are too many
    train, _ = _monthly_panel_with_holiday()
    m = GRUForecaster(horizon=4, **FAST).fit(train.drop(columns="holiday"))
    assert m.predict(200)["ds"].max().year == 2031
    with pytest.raises(ValueError, match=r"3000 steps of MS after 2014-08-01.*pass the last "
                                         r"date pandas holds \(2262-04-11"):
        m.predict(3000)


def test_verbose_says_what_the_epochs_after_early_stopping_are(capsys):
    t = np.arange(150)
    GRUForecaster(horizon=6, season_length=12, verbose=True, **FAST).fit(np.sin(t / 3) + 5)
    lines = capsys.readouterr().out.splitlines()
    restart = [i for i, line in enumerate(lines) if line.startswith("epoch 1:")]
    assert len(restart) == 2  # early stopping's run, then the epochs on everything
    assert lines[restart[1] - 1] == ("then 3 epochs on all the windows, the held-out end "
                                     "included:")
    assert "validation" in lines[restart[0]] and "validation" not in lines[restart[1]]


@pytest.mark.parametrize("season_length", [1, 12])
def test_a_constant_series_is_forecast_as_its_value(season_length):
    # among moving series a flat one reads zeros, and the network's correction
    # of them, in units of the series' value, is not zero
    rng = np.random.default_rng(2)
    t = np.arange(120)
    series = {f"s{k}": 50 + 10 * k + 5 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 1, t.size)
              for k in range(4)}
    series["flat"] = np.full(60, 7.0)
    series["flat_end"] = np.r_[rng.normal(7.0, 1.0, 60), np.full(40, 7.0)]
    m = GRUForecaster(horizon=6, season_length=season_length, **FAST).fit(series)
    fc = m.predict(level=[80, 95])
    # and its intervals as the value too, as statsforecast's models give them
    for column in ("mean", "lo-80", "hi-80", "lo-95", "hi-95"):
        np.testing.assert_array_equal(fc["flat"][column], np.full(6, 7.0))
    assert np.all(fc["s0"]["hi-80"] - fc["s0"]["lo-80"] > 0)
    np.testing.assert_array_equal(m.predict(12)["flat"], np.full(12, 7.0))
    again = m.predict(y={"flat": np.full(30, -2.5)}, level=[80])["flat"]
    for column in ("mean", "lo-80", "hi-80"):
        np.testing.assert_array_equal(again[column], np.full(6, -2.5))
    # a series flat only at its end moved before: the model forecasts it
    assert not np.all(fc["flat_end"]["mean"] == 7.0)


def test_score_reads_test_dates_of_another_kind():
    # test frames as users build them: years as text (read from a file),
    # months as Periods; a time zone the model's dates lack is named
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(3)
    frames = [pd.DataFrame({"unique_id": u, "ds": np.arange(1980, 2010),
                            "y": 10 * (k + 1) + rng.normal(0, 1, 30)})
              for k, u in enumerate(["a", "b"])]
    df = pd.concat(frames, ignore_index=True)
    test = df.groupby("unique_id").tail(3)
    m = GRUForecaster(horizon=3, **FAST).fit(df.drop(test.index))
    assert m.score(test.assign(ds=test["ds"].astype(str))) == m.score(test)
    monthly = df.assign(ds=np.tile(pd.date_range("2000-01-01", periods=30, freq="MS"), 2))
    test = monthly.groupby("unique_id").tail(3)
    m = GRUForecaster(horizon=3, **FAST).fit(monthly.drop(test.index))
    assert m.score(test.assign(ds=test["ds"].dt.to_period("M"))) == m.score(test)
    with pytest.raises(ValueError, match=r"dtype datetime64\[ns, UTC\] where the series' "
                                         r"dates are datetime64\[ns\]"):
        m.score(test.assign(ds=test["ds"].dt.tz_localize("UTC")))


def test_dates_as_objects_or_iso_text_are_read_as_dates_and_other_text_warns():
    pd = pytest.importorskip("pandas")
    days = pd.date_range("2020-01-01", periods=40, freq="D")
    df = pd.DataFrame({"unique_id": "a", "ds": days, "y": np.sin(np.arange(40)) + 5})
    dated = GRUForecaster(horizon=3, **FAST).fit(df).predict()
    assert dated.ds.tolist() == list(pd.date_range("2020-02-10", periods=3))
    pa = pytest.importorskip("pyarrow")  # read_csv(dtype_backend="pyarrow")'s text
    utc = GRUForecaster(horizon=3, **FAST).fit(df.assign(ds=days.tz_localize("UTC"))).predict()
    for ds in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d %H:%M:%S+00:00"):  # UTC, as to_csv writes it
        got = GRUForecaster(horizon=3, **FAST).fit(df.assign(ds=days.strftime(ds))).predict()
        pd.testing.assert_frame_equal(got, utc)
    for ds in (days.date, days.strftime("%Y-%m-%d"), days.strftime("%Y-%m-%dT%H:%M:%S"),
               pd.array(days.strftime("%Y-%m-%d"), dtype="string"),
               pd.array(days.strftime("%Y-%m-%d"), dtype=pd.ArrowDtype(pa.string()))):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            got = GRUForecaster(horizon=3, **FAST).fit(df.assign(ds=ds)).predict()
        pd.testing.assert_frame_equal(got, dated)
    assert df.ds.dtype.kind == "M"  # the caller's frame is not changed
    # other spellings of dates, and UTC offsets (one is a fixed zone, whose
    # days would continue at the wrong hour after a daylight saving change):
    # labels, which a warning says to convert
    for ds in (days.strftime("%Y/%m/%d"), days.strftime("%Y-%m-%d %p"),
               days.strftime("%Y-%m-%dT00:00:00+02:00")):
        with pytest.warns(UserWarning, match=r"cannot continue the time stamps.*convert them "
                                             r"with pd.to_datetime"):
            GRUForecaster(horizon=3, **FAST).fit(df.assign(ds=ds))


def test_months_and_quarters_as_text_are_read_as_their_first_days():
    """to_csv writes monthly and quarterly periods as 2020-01 and 2020Q1: read
    back, they are the months' and quarters' first days, in every frame."""
    pd = pytest.importorskip("pandas")
    y = 10 + np.sin(np.arange(48))
    for freq, starts in (("M", "MS"), ("Q", "QS")):
        periods = pd.period_range("2000-01", periods=48, freq=freq)
        df = pd.DataFrame({"unique_id": "a", "ds": periods.to_timestamp(), "y": y})
        dated = GRUForecaster(horizon=2, **FAST).fit(df[:-2])
        text = df.assign(ds=periods.astype(str))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            model = GRUForecaster(horizon=2, **FAST).fit(text[:-2])
        forecast = model.predict()
        pd.testing.assert_frame_equal(forecast, dated.predict())
        assert forecast.ds.tolist() == list(pd.date_range(df.ds.iloc[-2], periods=2,
                                                          freq=starts))
        assert model.score(text[-2:]) == dated.score(df[-2:])


def test_a_dict_of_arrays_and_pandas_series_is_numbered_by_position():
    pd = pytest.importorskip("pandas")
    t = np.arange(40)
    m = GRUForecaster(horizon=3, **FAST).fit({"a": np.sin(t) + 5,
                                              "b": pd.Series(np.cos(t) + 5)})
    fc = m.predict()
    assert sorted(fc) == ["a", "b"] and all(len(v) == 3 for v in fc.values())
    # a dated series beside an array: no one frequency dates both
    dated = pd.Series(np.sin(t) + 5, index=pd.date_range("2024-01-01", periods=40))
    with pytest.warns(UserWarning, match=r"those of series 'b' are int64, those of series 'a' "
                                         r"datetime64\[ns\]\. The forecast is indexed by "
                                         "position"):
        m.fit({"a": dated, "b": np.cos(t[:30]) + 5})
    assert m._index_info["type"] == "position" and len(m.predict()["b"]) == 3


def test_dates_with_the_offsets_of_a_daylight_saving_zone_are_read_in_time_order():
    # text with offsets +01:00 and +02:00 parses to an object column of dates
    # of two fixed zones: they sort by instant, and the model forecasts them
    pd = pytest.importorskip("pandas")
    text = pd.date_range("2019-03-20", periods=30, freq="D", tz="Europe/Berlin").strftime(
        "%Y-%m-%dT%H:%M:%S%z")
    ds = pd.Series([pd.Timestamp(t) for t in text], dtype=object)
    y = np.sin(np.arange(30)) + 5
    df = pd.DataFrame({"unique_id": "a", "ds": ds, "y": y}).iloc[::-1]
    with pytest.warns(UserWarning, match="cannot continue the time stamps"):
        m = GRUForecaster(horizon=3, **FAST).fit(df)
    np.testing.assert_array_equal(m.history_[0, -3:], y[-3:])


def test_score_and_evaluate_read_a_parquet_file_s_pyarrow_timestamps():
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    from fastgru.metrics import evaluate

    rng = np.random.default_rng(4)
    ds = pd.date_range("2020-01-01", periods=30, freq="MS")
    df = pd.concat([pd.DataFrame({"unique_id": u, "ds": ds, "y": 5 + k + rng.normal(0, 1, 30)})
                    for k, u in enumerate("ab")], ignore_index=True)
    arrow = df.astype({"unique_id": "string[pyarrow]", "ds": "timestamp[ns][pyarrow]",
                       "y": "double[pyarrow]"})
    test = df.groupby("unique_id").tail(3)
    m = GRUForecaster(horizon=3, **FAST).fit(df.drop(test.index))
    fc = m.predict()
    expected = evaluate(fc, test, df.drop(test.index), season_length=1)
    arrow_test, arrow_train = arrow.loc[test.index], arrow.drop(test.index)
    assert m.score(arrow_test) == m.score(test)
    pd.testing.assert_frame_equal(evaluate(fc, arrow_test, arrow_train, season_length=1),
                                  expected)


def test_static_columns_repeated_on_every_row_of_a_series_are_read():
    # df[["unique_id", "size"]] of a long frame: each series' value on each row
    pd = pytest.importorskip("pandas")
    t = np.arange(40)
    df = pd.concat([pd.DataFrame({"unique_id": u, "ds": t, "y": np.sin(t) + 5 + k,
                                  "size": float(k)}) for k, u in enumerate("ab")],
                   ignore_index=True)
    once = df.drop_duplicates("unique_id")[["unique_id", "size"]]
    m = GRUForecaster(horizon=3, **FAST).fit(df.drop(columns="size"),
                                             static_df=df[["unique_id", "size"]])
    expected = GRUForecaster(horizon=3, **FAST).fit(df.drop(columns="size"), static_df=once)
    np.testing.assert_array_equal(m.static_, expected.static_)
    np.testing.assert_array_equal(m.predict()["GRUForecaster"],
                                  expected.predict()["GRUForecaster"])


def test_a_panel_whose_longest_series_has_a_gap_names_it_in_the_warning():
    # the panel takes its frequency from its longest series: with a gap in
    # it, every series is numbered by position, and the warning says which
    pd = pytest.importorskip("pandas")
    frames = [pd.DataFrame({"unique_id": uid, "ds": pd.date_range("2020-01-04", periods=n,
                                                                  freq="W-SAT"),
                            "y": np.sin(np.arange(n)) + 5}) for uid, n in (("a", 30),
                                                                          ("long", 40))]
    df = pd.concat(frames, ignore_index=True).drop(index=35)  # a week of "long"
    with pytest.warns(UserWarning, match=r"cannot continue the time stamps of series 'long', "
                                         r"the longest.*no frequency"):
        m = GRUForecaster(horizon=3, **FAST).fit(df)
    assert m.predict().ds.tolist() == [30, 31, 32, 39, 40, 41]


@pytest.mark.parametrize("name, fitted, changed", [
    ("season_length", 12, 4),  # read silently: other forecasts
    ("season_length", 1, 12),
    ("season_length", 12, 1),  # the layer's input size no longer matched
    ("horizon", 4, 2),  # the head's outputs no longer broadcast
    ("season_length", 12, 12.0),  # equal, but no index: a TypingError in the kernels
])
def test_parameters_set_after_fit_are_refused_by_predict_score_and_save(
        name, fitted, changed, tmp_path):
    import fastgru

    pd = pytest.importorskip("pandas")
    t = np.arange(60)
    df = pd.DataFrame({"unique_id": np.repeat(["a", "b"], 60), "ds": np.tile(t, 2),
                       "y": np.r_[np.sin(t * np.pi / 6), np.cos(t * np.pi / 6)] + 5})
    test = df.groupby("unique_id").tail(2)
    params = {"horizon": 4, "season_length": 12, name: fitted}
    model = GRUForecaster(**params, **FAST).fit(df.drop(test.index))
    path = tmp_path / "model.npz"
    fastgru.save(model, path)
    for m in (model, fastgru.load(path)):
        m.set_params(**{name: changed})
        match = f"{name}={changed} was set after fit, which used {name}={fitted}"
        with pytest.raises(ValueError, match=match):
            m.predict()
        with pytest.raises(ValueError, match=match):
            m.score(test)
        # a file keeps the parameters: load would forecast with the changed one
        with pytest.raises(ValueError, match=match):
            fastgru.save(m, tmp_path / "changed.npz")
        assert not (tmp_path / "changed.npz").exists()
        m.set_params(**{name: fitted})
        assert len(m.predict()) == 2 * 4


def test_score_of_a_dated_series_says_the_horizon_was_set_after_fit():
    # a dated series is checked against the forecast's dates: with the
    # horizon changed, that check blamed the dates, not the horizon
    pd = pytest.importorskip("pandas")
    s = pd.Series(10 + np.sin(np.arange(120)),
                  index=pd.date_range("2000-01", periods=120, freq="MS"))
    model = GRUForecaster(horizon=6, season_length=12, **FAST).fit(s[:-6])
    model.set_params(horizon=3)
    with pytest.raises(ValueError, match="horizon=3 was set after fit, which used horizon=6"):
        model.score(s[-6:])


def test_a_panel_in_the_index_is_refused_or_pointed_to_reset_index():
    # y indexed by (unique_id, ds), as df.set_index([...])["y"] gives, was
    # read as one series of every series' values laid end to end
    pd = pytest.importorskip("pandas")
    t = np.arange(30)
    df = pd.DataFrame({"unique_id": np.repeat(["a", "b"], 30), "ds": np.tile(t, 2),
                       "y": np.r_[np.sin(t), np.cos(t)] + 5})
    model = GRUForecaster(horizon=3, **FAST)
    keys = df.set_index(["unique_id", "ds"])
    for y in (keys["y"], keys, {"a": keys["y"]}):
        with pytest.raises(ValueError, match=r"index is a MultiIndex \['unique_id', 'ds'\]: "
                                             r"its values would be read as one series"):
            model.fit(y)
    with pytest.raises(ValueError, match=r"no \['unique_id'\] \(\['unique_id'\] in its "
                                         r"index: call reset_index\(\) first\)"):
        model.fit(df.set_index("unique_id"))
    wide = df.pivot(index="ds", columns="unique_id", values="y")
    wide.iloc[-1, 1] = np.nan
    with pytest.raises(ValueError, match="column 'b' of y has NaN after its first value"):
        model.fit(wide)


def test_past_covariates_dated_otherwise_than_y_are_refused():
    # X is read by position with y: its rows in another order, or other
    # dates, were read silently against other steps
    pd = pytest.importorskip("pandas")
    days = pd.date_range("2020-01-01", periods=40, freq="D")
    y = pd.Series(np.sin(np.arange(40)) + 5, index=days)
    X = pd.DataFrame({"x": np.cos(np.arange(40))}, index=days)
    model = GRUForecaster(horizon=3, **FAST)
    for other in (X.iloc[::-1], X.set_axis(days + pd.Timedelta(days=1)), X.to_period("D")):
        with pytest.raises(ValueError, match="X's dates are not y's"):
            model.fit(y, X=other)
    fitted = model.fit(y, X=X).predict()
    # row numbers (or an array) are positions, read as before
    np.testing.assert_array_equal(model.fit(y, X=X.reset_index(drop=True)).predict(), fitted)
    with pytest.raises(ValueError, match="X's dates are not y's"):
        model.predict(y=y, X=X.iloc[::-1])


def test_future_covariates_with_text_time_stamps_out_of_time_order_are_refused():
    # ds '51'..'98' as text sort in time order; X_df's '99' and '100' do not:
    # its rows were read as '100', '99', each step with the other's covariate
    pd = pytest.importorskip("pandas")
    x = np.random.default_rng(0).normal(size=50)
    df = pd.DataFrame({"unique_id": "a", "ds": [str(i) for i in range(51, 99)],
                       "y": 3 * x[:48], "x": x[:48]})
    with pytest.warns(UserWarning, match="cannot continue the time stamps"):
        model = GRUForecaster(horizon=2, **FAST).fit(df)
    future = pd.DataFrame({"unique_id": "a", "ds": ["99", "100"], "x": x[48:]})
    with pytest.raises(ValueError, match="X_df's column 'ds' holds text, read in its order "
                                         r"as text, .* \(series 'a': '100' sorts before '99'\)"):
        model.predict(X_df=future)
    as_numbers = model.predict(X_df=future.assign(ds=[99, 100]))
    assert len(as_numbers) == 2


def test_text_time_stamps_of_neither_numbers_nor_dates_must_be_in_row_order():
    # "week 10" sorts before "week 2": sorted as text, the history would be
    # scrambled (the last values read would be weeks 6-9) with only a
    # warning that the stamps are labels
    pd = pytest.importorskip("pandas")
    weeks = [f"week {i + 1}" for i in range(24)]
    df = pd.DataFrame({"unique_id": "a", "ds": weeks, "y": np.arange(24.0)})
    df = pd.concat([df.assign(unique_id="b"), df])
    model = GRUForecaster(horizon=2, **FAST)
    with pytest.raises(ValueError, match="neither numbers nor dates, and its order as text is "
                                         "not the order of the rows \\(series 'a': 'week 19' "
                                         "sorts before 'week 2'\\)"):
        model.fit(df)
    quarters = df.assign(ds=[f"Q{i % 4 + 1} {1959 + i // 4}" for i in range(24)] * 2)
    with pytest.raises(ValueError, match="'Q1 1964' sorts before 'Q2 1959'"):
        model.fit(quarters)
    # text in the rows' order is read in it; as categories, in theirs
    padded = df.assign(ds=[f"week {i + 1:02d}" for i in range(24)] * 2)
    with pytest.warns(UserWarning, match="cannot continue the time stamps"):
        model.fit(padded)
    np.testing.assert_array_equal(model.history_[:, -3:], [[21.0, 22.0, 23.0]] * 2)
    with pytest.warns(UserWarning, match="cannot continue the time stamps"):
        model.fit(df.astype({"ds": pd.CategoricalDtype(weeks, ordered=True)}))
    np.testing.assert_array_equal(model.history_[:, -3:], [[21.0, 22.0, 23.0]] * 2)
    # categories in their order as text (pandas' default) tell no more than the text
    with pytest.raises(ValueError, match="'week 19' sorts before 'week 2'"):
        model.fit(df.astype({"ds": "category"}))
    # rows out of order: which order is time's is unknown
    with pytest.raises(ValueError, match="'week 01' sorts before 'week 02'"):
        model.fit(padded.iloc[::-1])
    # categories of numbers in their order are read in it, whatever it is as text
    steps = [str(i + 1) for i in range(24)]
    with pytest.warns(UserWarning, match="cannot continue the time stamps"):
        model.fit(df.assign(ds=pd.Categorical(steps * 2, categories=steps)).iloc[::-1])
    np.testing.assert_array_equal(model.history_[:, -3:], [[21.0, 22.0, 23.0]] * 2)


@pytest.mark.parametrize("spell, what", [
    (lambda ds: (ds.index + 1).astype(str).to_numpy(), "numbers"),  # "10" before "9"
    (lambda ds: ds.dt.strftime("%m/%d/%Y"), "dates"),  # "01/.../2001" before "12/.../2000"
])
def test_text_time_stamps_that_do_not_sort_in_time_order_are_refused(spell, what):
    # the rows are read in the order of ds as text: the series was read
    # out of time order, with only a warning that its stamps are labels
    pd = pytest.importorskip("pandas")
    days = pd.Series(pd.date_range("2000-01-01", periods=24, freq="MS"))
    df = pd.DataFrame({"unique_id": "a", "ds": spell(days), "y": np.arange(24.0)})
    df = pd.concat([df, df.assign(unique_id="b")])
    model = GRUForecaster(horizon=2, **FAST)
    with pytest.raises(ValueError, match=f"not the order of the {what} it spells "
                                         r"\(series 'a': "):
        model.fit(df)
    with pytest.raises(ValueError, match=f"not the order of the {what}"):
        model.cross_validation(df, n_windows=2)
    # as categories (a parquet file's dictionary-encoded text), sorted as text too
    with pytest.raises(ValueError, match=f"not the order of the {what} it spells"):
        model.fit(df.astype({"ds": "category"}))
    # ISO dates as text are read as dates
    iso = df.assign(ds=np.tile(days.dt.strftime("%Y-%m-%d"), 2))
    assert model.fit(iso).predict().ds.tolist() == list(pd.date_range("2002-01-01", periods=2,
                                                                      freq="MS")) * 2
    np.testing.assert_array_equal(model.history_[0, -3:], [21.0, 22.0, 23.0])


def test_score_reads_future_covariates_from_the_frame_it_scores():
    """A test fold of the long frame fit takes carries the covariates of its
    dates: score reads them from it, so GridSearchCV with TimeSeriesSplit
    scores a model with calendar covariates instead of failing every fold."""
    pd = pytest.importorskip("pandas")
    from sklearn.model_selection import GridSearchCV, TimeSeriesSplit

    dates = pd.date_range("2000-01-01", periods=48, freq="QS")
    rng = np.random.default_rng(0)
    df = pd.concat([pd.DataFrame({"unique_id": k, "ds": dates, "y": 10 + np.cumsum(
        rng.normal(size=48)) + 2 * (dates.quarter == 1)}) for k in "abc"])
    df["q1"] = (df.ds.dt.quarter == 1).astype(float)
    df = df.sort_values(["ds", "unique_id"], ignore_index=True)
    test = df.groupby("unique_id").tail(4)
    train = df.drop(test.index)
    model = GRUForecaster(horizon=4, season_length=4, **FAST).fit(train)
    fc = model.predict(X_df=test[["unique_id", "ds", "q1"]]).merge(test, on=["unique_id", "ds"])
    expected = []
    for uid, g in fc.groupby("unique_id"):
        hist = train.loc[train.unique_id == uid, "y"].to_numpy()
        scale = np.mean(np.abs(hist[4:] - hist[:-4]))
        expected.append(np.mean(np.abs(g.y - g.GRUForecaster)) / scale)
    assert model.score(test) == pytest.approx(-np.mean(expected), rel=1e-9)
    with pytest.raises(ValueError, match=r"covariates are read from y without X_df: y needs "
                                         r"every date of the horizon.*X_df lacks series 'a'"):
        model.score(test.groupby("unique_id").head(2))
    search = GridSearchCV(GRUForecaster(horizon=4, season_length=4, **FAST),
                          {"hidden_size": [4, 8]}, cv=TimeSeriesSplit(2, test_size=4 * 3),
                          error_score="raise")
    search.fit(train)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


def test_nan_inside_a_series_is_located_by_its_date_or_position():
    """Real data (statsmodels' weekly co2) has weeks missing as NaN: the error
    says how many and where the first is, to find it among years of rows."""
    pd = pytest.importorskip("pandas")
    weeks = pd.date_range("1958-03-29", periods=30, freq="W-SAT")
    y = pd.Series(np.linspace(316.0, 320.0, 30), index=weeks)
    y.iloc[[0, 6, 7, 20]] = np.nan  # a leading NaN (dropped), then three
    model = GRUForecaster(horizon=4, **FAST)
    where = r"after its first value \(3, the first at 1958-05-10 00:00:00"
    with pytest.raises(ValueError, match="y has NaN " + where):
        model.fit(y)
    with pytest.raises(ValueError, match="series 'co2' has NaN " + where):
        model.fit(pd.DataFrame({"unique_id": "co2", "ds": weeks, "y": y.to_numpy()}))
    with pytest.raises(ValueError, match="series 'co2' has NaN " + where):
        model.fit({"co2": y})
    with pytest.raises(ValueError, match=r"y has NaN after its first value \(3, the first at "
                                         r"position 6"):
        model.fit(y.to_numpy())


def test_a_backtest_counts_a_series_from_its_first_value_past_its_leading_nan():
    """A ragged wide frame melted into a long one (a series starting late)
    has leading NaN rows: at a cutoff before its first value the series has
    no forecast, as when those rows are absent, instead of failing the backtest."""
    pd = pytest.importorskip("pandas")
    dates = pd.date_range("2000-01-01", periods=40, freq="QS")
    rng = np.random.default_rng(1)
    wide = pd.DataFrame({k: 10 + np.cumsum(rng.normal(size=40)) for k in "abc"}, index=dates)
    wide.iloc[:26, 2] = np.nan  # "c" has its 14 last quarters only
    long = wide.reset_index(names="ds").melt(id_vars="ds", var_name="unique_id",
                                             value_name="y")
    model = GRUForecaster(horizon=4, season_length=4, **FAST)
    with_nan = model.cross_validation(long, n_windows=4, step_size=4)
    without = model.cross_validation(long.dropna(), n_windows=4, step_size=4)
    # c's first cutoff (16 quarters before its end) precedes its 14 values
    assert with_nan.groupby("unique_id").size().to_dict() == {"a": 16, "b": 16, "c": 12}
    pd.testing.assert_frame_equal(with_nan, without)


@pytest.mark.parametrize("ids", [[1.0, 2.0, 3.0], [1, "b", 3]])
def test_future_covariates_of_series_with_float_or_mixed_ids_are_found(ids):
    """Float ids are kept as floats, a mix of numbers and text as text: X_df,
    holding the ids as given, is matched with them either way."""
    pd = pytest.importorskip("pandas")
    dates = pd.date_range("2000-01-01", periods=40, freq="QS")
    rng = np.random.default_rng(0)
    df = pd.concat([pd.DataFrame({"unique_id": [k] * 40, "ds": dates, "y": 10 + np.cumsum(
        rng.normal(size=40)), "q1": (dates.quarter == 1).astype(float)}) for k in ids],
        ignore_index=True)
    future = df.groupby("unique_id").tail(4)
    train = df.drop(future.index)
    model = GRUForecaster(horizon=4, season_length=4, **FAST)
    fc = model.fit(train).predict(X_df=future[["unique_id", "ds", "q1"]])
    as_text = model.fit(train.astype({"unique_id": str})).predict(
        X_df=future[["unique_id", "ds", "q1"]].astype({"unique_id": str}))
    # floats as floats; a mix as text
    assert sorted(fc.unique_id.unique().tolist(), key=str) == sorted(np.array(ids).tolist(),
                                                                     key=str)
    pd.testing.assert_frame_equal(fc.astype({"unique_id": str}), as_text)


def test_score_of_a_dated_series_or_wide_frame_checks_dates_and_column_names():
    """A pandas y is scored by position: values dated after the forecast's
    dates (the following year, or more than the horizon) are refused rather
    than scored against other steps, and a wide frame's columns are read by
    name, not by position."""
    pd = pytest.importorskip("pandas")
    months = pd.period_range("2000-01", periods=72, freq="M")
    t = np.arange(72)
    s = pd.Series(100 + 10 * np.sin(2 * np.pi * t / 12) + t, index=months)
    model = GRUForecaster(horizon=6, season_length=12, **FAST).fit(s[:-12])
    point = model.predict().to_numpy()
    truth = s[-12:-6].to_numpy()
    scale = np.mean(np.abs(s[:-12].to_numpy()[12:] - s[:-12].to_numpy()[:-12]))
    assert model.score(s[-12:-6]) == pytest.approx(-np.mean(np.abs(truth - point)) / scale)
    assert model.score(s[-12:-9]) == pytest.approx(
        -np.mean(np.abs(truth[:3] - point[:3])) / scale)
    assert model.score(s[-12:-6].to_timestamp()) == model.score(s[-12:-6])
    for later in (s[-6:], s[-12:], s[-9:-6]):
        with pytest.raises(ValueError, match=r"y is dated .* scored by position against the "
                                             r"6 dates forecast .*from 2005-01 to 2005-06"):
            model.score(later)
    wide = pd.DataFrame({"a": s, "b": 3 * s[::-1].to_numpy()}, index=months)
    two = GRUForecaster(horizon=6, season_length=12, **FAST).fit(wide[:-12])
    test = wide[-12:-6]
    assert two.score(test[["b", "a"]]) == two.score(test)
    with pytest.raises(ValueError, match=r"series 'a' of y is dated 2005-07"):
        two.score(wide[-6:])
    with pytest.raises(ValueError, match=r"y's columns \['a', 'c'\] are not the series"):
        two.score(test.rename(columns={"b": "c"}))


def test_score_checks_numbered_time_stamps_and_the_horizon():
    """Years or other numbers as the index are time stamps as dates are: a
    fold of later years, or of more values than the horizon, is refused
    rather than scored against the first steps forecast (TimeSeriesSplit's
    folds with a gap, or longer than the horizon); values without an index
    are read as the steps forecast, at most ``horizon`` of them."""
    pd = pytest.importorskip("pandas")
    t = np.arange(120)
    s = pd.Series(10 + np.sin(t / 3) + 0.05 * t, index=1871 + t)
    model = GRUForecaster(horizon=4, **FAST).fit(s.iloc[:100])
    point = model.predict().to_numpy()
    scale = np.mean(np.abs(np.diff(s.iloc[:100].to_numpy())))
    truth = s.iloc[100:104].to_numpy()
    expected = -np.mean(np.abs(truth - point)) / scale
    assert model.score(s.iloc[100:104]) == pytest.approx(expected)
    assert model.score(truth) == pytest.approx(expected)
    assert model.score(s.iloc[100:102]) == pytest.approx(
        -np.mean(np.abs(truth[:2] - point[:2])) / scale)
    for later, found in ((s.iloc[110:114], "1981 to 1984"), (s.iloc[100:110], "1971 to 1980"),
                         (pd.Series(truth), "0 to 3")):
        with pytest.raises(ValueError, match=f"y is indexed {found}; its values are scored by "
                                             "position against the 4 steps forecast after "
                                             "the training data, from 1971 to 1974"):
            model.score(later)
    with pytest.raises(ValueError, match="y holds 10 values of a series; .* test_size=4"):
        model.score(s.iloc[100:110].to_numpy())
    halves = pd.Series(s.to_numpy(), index=0.5 * t)  # a float index, steps of 0.5
    model = GRUForecaster(horizon=4, **FAST).fit(halves.iloc[:100])
    assert model.score(halves.iloc[100:104]) == pytest.approx(
        -np.mean(np.abs(truth - model.predict().to_numpy())) / scale)
    with pytest.raises(ValueError, match="indexed 50.5 to 52.0"):
        model.score(halves.iloc[101:105])


def test_score_reads_time_stamps_of_any_unit_and_refuses_those_of_another_kind():
    pd = pytest.importorskip("pandas")
    v = 10 + np.sin(np.arange(40) / 3)
    # dates in microseconds (parquet's, pandas 3's default) are the same dates
    days = pd.Series(v, index=pd.date_range("2000-01-01", periods=40).as_unit("us"))
    model = GRUForecaster(horizon=3, **FAST).fit(days.iloc[:37])
    assert model.score(days.iloc[37:]) == model.score(days.iloc[37:].to_numpy())
    # with freq too, each value must be at its step: a fold of later dates
    # (or across a gap) is refused rather than scored against the first steps
    gappy = pd.Series(v, index=np.delete(np.arange(41), 38))
    model = GRUForecaster(horizon=3, freq=1, **FAST).fit(gappy.iloc[:37])
    with pytest.raises(ValueError, match="y is indexed 37 to 40"):
        model.score(gappy.iloc[37:])
    assert model.score(gappy.iloc[37:].to_numpy()) < 0  # read as the next steps
    # stamps of another kind, or integers past float64's precision, cannot be
    # the steps forecast
    numbered = GRUForecaster(horizon=3, **FAST).fit(pd.Series(v[:30], index=np.arange(30)))
    with pytest.raises(ValueError, match="y is indexed 2000-01-01 00:00:00 to"):
        numbered.score(pd.Series(v[30:33], index=pd.date_range("2000", periods=3)))
    assert numbered.score(pd.Series(v[30:33], index=pd.Index([30, 31, 32], dtype=object))) \
        == numbered.score(v[30:33])
    big = pd.Series(v, index=10**17 + np.arange(40))
    model = GRUForecaster(horizon=3, **FAST).fit(big.iloc[:30])
    with pytest.raises(ValueError, match="y is indexed 100000000000000036 to"):
        model.score(big.iloc[36:39])
    arrays = GRUForecaster(horizon=3, **FAST).fit(v[:30])  # no time stamps: at most horizon
    with pytest.raises(ValueError, match="series 0 of y has 5 values; they are scored by position"):
        arrays.score(pd.DataFrame({"unique_id": 0, "ds": np.arange(5), "y": v[30:35]}))


def test_score_of_boolean_columns_text_dates_and_huge_integer_ids():
    pd = pytest.importorskip("pandas")
    v = 10 + np.sin(np.arange(24) / 3)
    days = pd.date_range("2020-01-01", periods=24)
    wide = pd.DataFrame({True: v, False: v[::-1]}, index=days)  # names, not a row mask
    model = GRUForecaster(horizon=3, **FAST).fit(wide.iloc[:18])
    assert model.score(wide.iloc[18:21]) == model.score(wide.iloc[18:21, ::-1])
    one = GRUForecaster(horizon=3, **FAST).fit(pd.Series(v[:18], index=days[:18]))
    for index in ([str(d.date()) for d in days[18:21]], list(days[18:21].date)):
        assert one.score(pd.Series(v[18:21], index=index)) == one.score(v[18:21])
    with pytest.raises(ValueError, match="y is dated 2020-01-20 to"):
        one.score(pd.Series(v[18:21], index=[str(d.date()) for d in days[19:22]]))
    # integers past int64 beside small ones are text ids, not floats that merge
    ids = np.repeat(np.array([2**63 + 1, 2**63 + 2, 1], dtype=object), 20)
    df = pd.DataFrame({"unique_id": pd.Series(ids, dtype=object),
                       "ds": np.tile(np.arange(20), 3), "y": np.arange(60.0)})
    kept = GRUForecaster(horizon=3, **FAST).fit(df).series_ids_
    assert sorted(kept.tolist()) == ["1", str(2**63 + 1), str(2**63 + 2)]


def test_score_warns_that_a_model_numbering_its_forecasts_cannot_check_the_fold():
    """A model whose time stamps could not be continued (a business day
    series with a holiday, labels) numbers its forecasts by position: score
    reads each series' values as the steps after its history, as
    TimeSeriesSplit's folds are, and warns that it cannot check them (a
    fold cut from the middle, KFold's, is scored wrongly)."""
    pd = pytest.importorskip("pandas")
    from sklearn.model_selection import TimeSeriesSplit, cross_val_score

    y = pd.Series(10 + np.sin(np.arange(40) / 3),
                  index=pd.bdate_range("2024-01-01", periods=41).delete(10))
    with pytest.warns(UserWarning, match="cannot continue the time stamps"):
        model = GRUForecaster(horizon=3, **FAST).fit(y.iloc[:37])
    truth = y.iloc[37:].to_numpy()
    scale = np.mean(np.abs(np.diff(y.iloc[:37].to_numpy())))
    with pytest.warns(UserWarning, match="numbers its forecasts by position .* cannot check "
                                         "y's index"):
        got = model.score(y.iloc[37:])
    assert got == pytest.approx(-np.mean(np.abs(truth - model.predict().to_numpy())) / scale)
    labels = pd.DataFrame({"unique_id": "a", "ds": [f"week {i:02d}" for i in range(40)],
                           "y": y.to_numpy()})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = cross_val_score(GRUForecaster(horizon=3, **FAST), labels, error_score="raise",
                                 cv=TimeSeriesSplit(n_splits=2, test_size=3))
    assert np.isfinite(scores).all()


def test_a_long_frame_whose_values_are_not_named_y_is_pointed_to_rename_them():
    """Real data names its values otherwise (sales, Passengers): read as a
    wide frame, its text and date columns made a TypeError about dtypes."""
    pd = pytest.importorskip("pandas")
    days = pd.date_range("2020-01-01", periods=30, freq="MS")
    df = pd.DataFrame({"unique_id": "a", "ds": days, "sales": np.arange(30.0)})
    model = GRUForecaster(horizon=2, **FAST)
    with pytest.raises(ValueError, match=r"y has the columns \['unique_id', 'ds'\] of a long "
                                         r"DataFrame but no 'y' \(its other columns: "
                                         r"\['sales'\]\).*df.rename\(columns=\{'sales': 'y'\}\)"):
        model.fit(df)
    with pytest.raises(ValueError, match=r"the column \['ds'\] .*df.set_index\('ds'\)"):
        model.fit(df.drop(columns="unique_id"), static_df=df[["unique_id"]])
    model.fit(df.rename(columns={"sales": "y"}).head(28))
    with pytest.raises(ValueError, match=r"no 'y' \(its other columns: \['sales'\]\)"):
        model.score(df.tail(2))


def test_nan_in_covariates_is_located_by_column_and_date():
    pd = pytest.importorskip("pandas")
    months = pd.date_range("2020-01-01", periods=30, freq="MS")
    df = pd.DataFrame({"unique_id": "a", "ds": months, "y": np.arange(30.0),
                       "promo": np.arange(30) % 2, "price": np.ones(30)})
    model = GRUForecaster(horizon=2, **FAST)
    with pytest.raises(ValueError, match=r"series 'a' has NaN or inf in its covariates "
                                         r"\['promo', 'price'\] \(first 'price' at 2020-04-01"
                                         r".*\): fill them, e.g. df\[cols\] = df.groupby\("
                                         r"'unique_id'\)\[cols\].ffill\(\).fillna\(0\), or "
                                         r"drop those rows"):
        model.fit(df.assign(price=df.price.where(df.ds != "2020-04-01")))
    model.fit(df.head(28))
    future = df.tail(2)[["unique_id", "ds", "promo", "price"]]
    with pytest.raises(ValueError, match=r"X_df has NaN or inf for series 'a' \(first 'promo' "
                                         r"at ds=2022-06-01"):
        model.predict(X_df=future.assign(promo=[0.0, np.inf]))


@pytest.mark.filterwarnings("error::RuntimeWarning")  # the error, not NumPy's warning first
def test_bounds_beyond_float64_are_an_error_naming_the_series_not_inf():
    t = np.arange(60.0)
    panel = {"a": 100 * np.sin(t) + 5, "b": 100 * np.cos(t) + 5, "c": 10 * t}
    model = GRUForecaster(horizon=3, **FAST).fit(panel)
    assert all(np.isfinite(v).all() for f in model.predict(level=[80]).values()
               for v in f.values())
    model.calibration_ = np.full_like(model.calibration_, 1e308)  # a damaged file's
    with pytest.raises(ValueError, match="series 'a' or its intervals pass the largest"):
        model.predict(level=[80])
    assert set(model.predict()) == {"a", "b", "c"}  # the points are still finite
    # values near the largest float64 still forecast, within it
    huge = GRUForecaster(horizon=3, **FAST).fit(np.sin(t) * 1e307 + 1.5e308)
    assert all(np.isfinite(v).all() for v in huge.predict(level=[80]).values())
    # a new history held at the largest value forecasts it
    top = np.finfo(np.float64).max
    held = model.predict(y={"r": np.full(50, top)})
    np.testing.assert_array_equal(held["r"], [top] * 3)


def test_x_df_covariates_beyond_what_the_model_reads_are_named_as_x_df_s():
    import pandas as pd

    ds = pd.date_range("2000-01", periods=60, freq="MS")
    df = pd.DataFrame({"unique_id": "a", "ds": ds, "y": np.sin(np.arange(60.0)),
                       "promo": np.arange(60.0) % 2})
    model = GRUForecaster(horizon=3, **FAST).fit(df)
    future = pd.DataFrame({"unique_id": "a", "ds": pd.date_range("2005-01", periods=3,
                                                                 freq="MS"),
                           "promo": [1e40, 0.0, 1.0]})  # beyond float32 once scaled
    with pytest.raises(ValueError, match="X_df's covariates of series 'a' pass the largest "
                                         "float32"):
        model.predict(X_df=future)
    assert model.predict(X_df=future.assign(promo=[5.0, 0.0, 1.0])).shape == (3, 3)


def test_polars_frames_are_read_as_their_pandas_conversion():
    pd = pytest.importorskip("pandas")
    pl = pytest.importorskip("polars")
    from fastgru.metrics import evaluate

    t = np.arange(40)
    df = pd.DataFrame({"unique_id": np.repeat(["a", "b"], 40),
                       "ds": np.tile(pd.date_range("2015-01", periods=40, freq="MS"), 2),
                       "y": np.r_[10 + np.sin(t), 20 + np.cos(t)],
                       "promo": np.tile(t % 3 == 0, 2).astype(float)})
    train, future = df[df.ds < "2018-01"], df[df.ds >= "2018-01"]
    static = pd.DataFrame({"unique_id": ["a", "b"], "size": [1.0, 2.0]})
    model = GRUForecaster(horizon=4, season_length=12, **FAST)
    as_pandas = model.fit(train, static_df=static).predict(
        level=[80], X_df=future.drop(columns="y"))
    as_polars = model.fit(pl.from_pandas(train), static_df=pl.from_pandas(static)).predict(
        level=[80], X_df=pl.from_pandas(future.drop(columns="y")))
    pd.testing.assert_frame_equal(as_polars, as_pandas)  # pandas out
    assert model.score(pl.from_pandas(future)) == model.score(future)
    new = train[train.unique_id == "a"]
    pd.testing.assert_frame_equal(
        model.predict(y=pl.from_pandas(new), X_df=pl.from_pandas(future.drop(columns="y"))),
        model.predict(y=new, X_df=future.drop(columns="y")))
    cv = model.cross_validation(pl.from_pandas(df), n_windows=2, static_df=static)
    pd.testing.assert_frame_equal(cv, model.cross_validation(df, n_windows=2,
                                                             static_df=static))
    pd.testing.assert_frame_equal(
        evaluate(pl.from_pandas(cv), None, pl.from_pandas(df), season_length=12),
        evaluate(cv, None, df, season_length=12))


def _two_panels_and_a_short_one():
    import pandas as pd

    t = np.arange(40)
    long = pd.DataFrame({"unique_id": np.repeat([2, 1], 40), "ds": np.tile(1950 + t, 2),
                         "y": np.r_[10 + np.sin(t), 20 + np.cos(t)]})
    late = long[long.unique_id == 1].assign(unique_id=3, ds=lambda d: d.ds + 5)
    short = pd.DataFrame({"unique_id": 4, "ds": [1990, 1991, 1992], "y": [1.0, 2.0, 3.0]})
    return pd.concat([long, late, short], ignore_index=True)


def test_a_backtest_is_ordered_as_statsforecast_s_and_names_series_without_a_window():
    df = _two_panels_and_a_short_one()
    with pytest.warns(UserWarning, match=r"the series \[4\] \(1 of 4\) have 4 values or fewer"
                                         r".*no forecast in any window"):
        cv = GRUForecaster(horizon=4, **FAST).cross_validation(df, n_windows=3, step_size=2)
    keys = cv[["unique_id", "cutoff", "ds"]]
    assert keys.equals(keys.sort_values(["unique_id", "cutoff", "ds"]).reset_index(drop=True))
    assert set(cv.unique_id) == {1, 2, 3} and len(cv) == 3 * 3 * 4
    statsforecast = pytest.importorskip("statsforecast")
    from statsforecast.models import Naive

    sf = statsforecast.StatsForecast(models=[Naive()], freq=1).cross_validation(
        df=df[df.unique_id != 4], h=4, n_windows=3, step_size=2)
    sf = sf.reset_index() if "unique_id" not in sf.columns else sf
    np.testing.assert_array_equal(cv[["unique_id", "ds", "cutoff", "y"]].to_numpy(),
                                  sf[["unique_id", "ds", "cutoff", "y"]].to_numpy())


def test_a_long_frame_under_other_column_names_is_pointed_to_rename_them():
    import pandas as pd

    df = _two_panels_and_a_short_one()
    other = df.rename(columns={"unique_id": "series", "ds": "time", "y": "value"})
    other["time"] = pd.to_datetime(other["time"].astype(str))
    with pytest.raises(TypeError, match=r"wide DataFrame, a series per column, but its "
                                        r"columns \['time'\] are not numbers.*'unique_id', "
                                        r"'ds' and 'y': rename yours"):
        GRUForecaster(horizon=4, **FAST).fit(other)


def test_series_ids_of_nullable_integers_are_named_as_numbers():
    import pandas as pd

    df = _two_panels_and_a_short_one()
    df["unique_id"] = df["unique_id"].astype("Int64")
    df.loc[5, "y"] = np.nan
    with pytest.raises(ValueError, match=r"^series 2 has NaN after its first value"):
        GRUForecaster(horizon=4, **FAST).fit(df)
    model = GRUForecaster(horizon=4, **FAST).fit(df.dropna())
    with pytest.raises(ValueError, match=r"^y has more than one row for series 2 at ds=1950$"):
        model.score(pd.concat([df.iloc[:1]] * 2))


def test_a_polars_lazy_frame_is_collected_and_a_failed_conversion_says_why(monkeypatch):
    pd = pytest.importorskip("pandas")
    pl = pytest.importorskip("polars")
    df = _two_panels_and_a_short_one()
    df = df[df.unique_id != 4]
    model = GRUForecaster(horizon=4, **FAST)
    pd.testing.assert_frame_equal(model.fit(pl.from_pandas(df).lazy()).predict(),
                                  model.fit(df).predict())

    def no_pyarrow(self, *args, **kwargs):
        raise ModuleNotFoundError("No module named 'pyarrow'")

    monkeypatch.setattr(pl.DataFrame, "to_pandas", no_pyarrow)
    with pytest.raises(ValueError, match=r"y is a polars DataFrame that could not be converted"
                                         r" to pandas .*pyarrow.*pip install pyarrow"):
        model.fit(pl.from_pandas(df))


def test_a_long_frame_s_id_and_date_columns_are_named_in_the_rename_it_suggests():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"id": np.repeat(["a", "b"], 20),
                       "date": pd.date_range("2000-01-01", periods=40), "value": np.ones(40)})
    with pytest.raises(TypeError, match=r"df.rename\(columns=\{'id': 'unique_id', 'date': "
                                        r"'ds'\}\) and the values' column 'y'; a wide one "
                                        r"has its dates as the index, df.set_index\('date'\)"):
        GRUForecaster(horizon=4, **FAST).fit(df)
    # columns of one name (three "a", dates among them) are named alike
    twice = pd.DataFrame({"x": np.ones(40), "y2": np.ones(40),
                          "when": pd.date_range("2000-01-01", periods=40)})
    twice.columns = ["a", "a", "a"]
    with pytest.raises(TypeError, match=r"its columns \['a'\] are not numbers"):
        GRUForecaster(horizon=4, **FAST).fit(twice)


def test_a_window_shorter_than_a_season_is_said():
    t = np.arange(80)
    y = 10 + np.sin(2 * np.pi * t / 12)
    with pytest.warns(UserWarning, match=r"window=6 is shorter than a season \(season_length="
                                         r"12\): the model reads no full season and corrects "
                                         r"the last value; the default window, 36, reads"):
        GRUForecaster(6, horizon=3, season_length=12, **FAST).fit(y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        GRUForecaster(12, horizon=3, season_length=12, **FAST).fit(y)
        GRUForecaster(2, horizon=3, **FAST).fit(y)


def test_infinite_time_stamps_are_refused_as_missing_ones_are():
    """An infinite float ``ds`` sorted after every other row: the model
    forecast from that row's value, and a backtest scored it as the truth."""
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"unique_id": "a", "ds": np.arange(48.0),
                       "y": 10 + np.sin(np.arange(48) * 2 * np.pi / 12)})
    df.loc[3, "ds"] = np.inf
    model = GRUForecaster(horizon=3, **FAST)
    for call in (model.fit, lambda d: model.cross_validation(d, n_windows=1)):
        for frame in (df, df.assign(ds=df.ds.astype(object)), df.assign(ds=-df.ds)):
            with pytest.raises(ValueError, match="column 'ds' has infinite time stamps "
                                                 r"\(series 'a'\)"):
                call(frame)


def test_a_saved_row_index_read_as_a_covariate_is_warned_of():
    """``pd.read_csv`` of a frame written with its index adds 'Unnamed: 0',
    which is otherwise a future-known covariate in silence (and turns the
    Theta mix off)."""
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"unique_id": "a", "ds": pd.date_range("2020-01-01", periods=48,
                                                             freq="MS"),
                       "y": 10 + np.sin(np.arange(48))})
    for column in ("Unnamed: 0", "index"):
        with pytest.warns(UserWarning, match=f"reads the column '{column}' of y as a "
                                             "future-known covariate: it looks like a saved "
                                             "row index"):
            model = GRUForecaster(horizon=6, **FAST).fit(df.assign(**{column: np.arange(48)}))
    future = pd.DataFrame({"unique_id": "a", "ds": pd.date_range("2024-01-01", periods=6,
                                                                 freq="MS"),
                           "index": np.arange(48, 54)})
    with warnings.catch_warnings():  # fit's warning, not every forecast's
        warnings.simplefilter("error")
        model.predict(X_df=future)
        model.predict(y=df.assign(index=np.arange(48)), X_df=future)
        GRUForecaster(horizon=6, **FAST).fit(df.assign(price=np.arange(48.0)))
    static = pd.DataFrame({"unique_id": ["a"], "Unnamed: 0": [0]})
    with pytest.warns(UserWarning, match="reads the column 'Unnamed: 0' of static_df as a "
                                         "static covariate"):
        GRUForecaster(horizon=6, **FAST).fit(df, static_df=static)


def test_a_backtest_of_a_fitted_model_reuses_its_static_covariates():
    pd = pytest.importorskip("pandas")
    t = np.arange(48)
    shop = pd.DataFrame({"unique_id": np.repeat(["a", "b"], 48), "ds": np.tile(t, 2),
                         "y": np.r_[10 + np.sin(t), 20 + np.cos(t)]})
    static = pd.DataFrame({"unique_id": ["b", "a"], "big": [1.0, 0.0]})
    model = GRUForecaster(horizon=6, **FAST).fit(shop, static_df=static)
    given = model.cross_validation(shop, n_windows=2, static_df=static)
    pd.testing.assert_frame_equal(model.cross_validation(shop, n_windows=2), given)
    with pytest.raises(ValueError, match=r"no static covariates for the series \['c'\].*give "
                                         "static_df"):
        model.cross_validation(pd.concat([shop, shop[:48].assign(unique_id="c")]),
                               n_windows=1)


@pytest.mark.parametrize("ids", [[1, "x"], [True, False], [1.5, np.inf], [1, 2.5],
                                 list(np.array(["2020-01-01", "2020-01-02"], "M8[ns]"))])
def test_ids_of_several_kinds_are_matched_as_given_or_as_text(ids):
    """The model keeps ids of several kinds (or booleans, infinite floats)
    as text: predict() gives them so, predict(y=...) and cross_validation
    give the caller's own, and evaluate matches either with the caller's
    frames; a backtest loses no series (ids 1 and 2.5: the model keeps
    1.0, whose text is not '1')."""
    pd = pytest.importorskip("pandas")
    from fastgru.metrics import evaluate

    t = np.arange(40)
    df = pd.DataFrame({"unique_id": np.repeat(np.asarray(ids, dtype=object), 40),
                       "ds": np.tile(t, 2), "y": np.r_[5 + np.sin(t), 5 + np.cos(t)]})
    train, test = df[df.ds < 36], df[df.ds >= 36]
    model = GRUForecaster(horizon=4, **FAST).fit(train)
    for forecast in (model.predict(), model.predict(y=train)):  # (dates: datetime64 again)
        assert len(forecast) == 8
        assert evaluate(forecast, test, train, season_length=1).loc[
            "GRUForecaster", "n_series"] == 2
    cv = model.cross_validation(df, n_windows=2)
    assert len(cv) == 16 and set(cv.unique_id) == set(df.unique_id)
    assert evaluate(cv, None, df, season_length=1).loc["GRUForecaster", "n_series"] == 4
