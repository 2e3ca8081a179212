"""Time stamps a forecaster reads and continues: integers beyond float64's
precision, floats summed step by step, categoricals, periods of several
dates, index names a file must keep."""

import warnings

import numpy as np
import pandas as pd
import pytest

import fastgru
from fastgru import GRUForecaster
from fastgru.metrics import evaluate

FAST = dict(hidden_size=4, max_epochs=1, random_state=0)


def _frame(ds, promo=None):
    y = 10 + np.sin(np.arange(len(ds)))
    frame = pd.DataFrame({"unique_id": "a", "ds": ds, "y": y})
    return frame if promo is None else frame.assign(promo=promo)


def test_integer_stamps_beyond_float64_precision_are_continued():
    # 10**17 + k: float64 holds only every 16th integer there
    start = 10**17
    model = GRUForecaster(horizon=3, **FAST)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "not evenly spaced" warning
        model.fit(_frame(start + np.arange(30)))
    assert model.predict()["ds"].tolist() == [start + 30, start + 31, start + 32]
    # near int64's limit they continue as far as int64 goes, then a clear error
    end = 2**63 - 1
    near = GRUForecaster(horizon=3, **FAST).fit(_frame(np.arange(end - 31, end - 1)))
    assert near.predict(h=2)["ds"].tolist() == [end - 1, end]
    with pytest.raises(ValueError, match="int64 holds"):
        near.predict()
    # uint64 stamps beyond int64: forecasts would be int64, numbered by position
    beyond = np.arange(2**63 + 1, 2**63 + 31, dtype=np.uint64)
    with pytest.warns(UserWarning, match="its integers pass those int64 holds"):
        model = GRUForecaster(horizon=3, **FAST).fit(_frame(beyond))
    assert model.predict()["ds"].tolist() == [30, 31, 32]


def test_a_series_with_a_gap_among_huge_integer_stamps_is_found():
    start = 2**62 + 7
    regular = _frame(start + np.arange(30))
    gap = _frame(np.concatenate([start + np.arange(10), start + 11 + np.arange(10)]))
    panel = pd.concat([regular, gap.assign(unique_id="b")], ignore_index=True)
    with pytest.warns(UserWarning, match=r"series \['b'\] do not follow the panel's frequency"):
        model = GRUForecaster(horizon=3, **FAST).fit(panel)
    # each series dated by the panel's step after its own last stamp
    assert model.predict()["ds"].tolist() == [start + k for k in (30, 31, 32, 21, 22, 23)]


@pytest.mark.parametrize("spell", [lambda k: 1990 + k / 12, lambda k: 2000 + k * 0.1])
def test_float_stamps_summed_step_by_step_match_the_forecast(spell):
    # the caller's own stamps of the next steps, computed as the history's
    k = np.arange(33)
    rng = np.random.default_rng(0)
    promo = rng.random(33)
    df = _frame(spell(k), promo)
    df["y"] += 5 * promo
    train, test = df.iloc[:30], df.iloc[30:]
    model = GRUForecaster(horizon=3, **FAST).fit(train)
    fc = model.predict(X_df=test[["unique_id", "ds", "promo"]])
    np.testing.assert_allclose(fc["ds"], test["ds"], rtol=0, atol=1e-9)
    # each value is scored against the forecast of its own stamp
    scale = np.mean(np.abs(np.diff(train["y"])))
    expected = -np.mean(np.abs(test["y"].to_numpy() - fc["GRUForecaster"].to_numpy())) / scale
    assert model.score(test, X_df=test[["unique_id", "ds", "promo"]]) == pytest.approx(expected)


def test_float_stamps_of_more_decimals_than_the_longest_series_keep_them():
    # series b is a step of 1.0 apart too, half a step off series a's grid
    df = pd.concat([_frame(np.arange(40.0)), _frame(np.arange(20.0) + 0.5).assign(
        unique_id="b")], ignore_index=True)
    fc = GRUForecaster(horizon=3, **FAST).fit(df).predict()
    assert fc.ds.tolist() == [40.0, 41.0, 42.0, 20.5, 21.5, 22.5]  # not 20, 22, 22
    # a last stamp summed step by step (3.0000000000000013) keeps the rounding
    tenths = pd.concat([_frame(np.round(np.arange(40) * 0.1, 1)), _frame(np.cumsum(
        np.full(30, 0.1))).assign(unique_id="b")], ignore_index=True)
    fc = GRUForecaster(horizon=3, **FAST).fit(tenths).predict()
    assert fc.ds.tolist()[3:] == [3.1, 3.2, 3.3]


def test_float_stamps_of_few_decimals_continue_as_written():
    ds = np.round(np.arange(30) * 0.1, 10)  # 0.0, 0.1, ..., 2.9
    df = _frame(ds)
    train, test = df.iloc[:27], df.iloc[27:]
    fc = GRUForecaster(horizon=3, **FAST).fit(train).predict()
    assert fc["ds"].tolist() == [2.7, 2.8, 2.9]
    table = evaluate(fc, test, train, season_length=1)  # joined on ds exactly
    assert table.loc["GRUForecaster", "n_series"] == 1


def test_categorical_stamps_whose_categories_are_not_in_time_order_are_refused():
    dates = pd.date_range("2020-01-01", periods=30, freq="D")
    # the rows sort in the categories' order: here backwards in time
    df = _frame(pd.Categorical(dates, categories=dates[::-1]))
    with pytest.raises(ValueError, match="categorical whose categories are not in increasing"):
        GRUForecaster(horizon=3, **FAST).fit(df)
    ordered = _frame(pd.Categorical(dates))  # categories sorted: read as the dates
    fc = GRUForecaster(horizon=3, **FAST).fit(ordered.assign(ds=ordered["ds"].astype(
        "datetime64[ns]"))).predict()
    assert fc["ds"].tolist() == list(pd.date_range("2020-01-31", periods=3, freq="D"))


def test_two_dates_of_one_forecast_period_are_refused_in_x_df_and_score():
    months = pd.period_range("2020-01", periods=33, freq="M")
    promo = np.random.default_rng(1).random(33)
    df = _frame(months, promo)
    train, test = df.iloc[:30], df.iloc[30:]
    model = GRUForecaster(horizon=3, **FAST).fit(train)
    starts = test["ds"].dt.to_timestamp()
    # each month's first day and its 15th: which of them to read is not said
    twice = pd.DataFrame({"unique_id": "a", "ds": [*starts, *(starts + pd.Timedelta(days=14))],
                          "promo": [*test["promo"], *([100.0] * 3)]})
    with pytest.raises(ValueError, match=r"more than one row for series 'a' at ds=\['2022-07'"):
        model.predict(X_df=twice)
    truth = pd.DataFrame({"unique_id": "a", "ds": [*starts, starts.iloc[0] + pd.Timedelta(days=3)],
                          "y": [*test["y"], 1000.0]})
    with pytest.raises(ValueError, match="more than one row for series 'a' at the forecast's"):
        model.score(truth, X_df=test[["unique_id", "ds", "promo"]])


@pytest.mark.parametrize("name", [np.int64(3), pd.Timestamp("2020-01-01")])
def test_an_index_name_that_is_no_json_is_saved_as_text_or_number(name, tmp_path):
    y = pd.Series(10 + np.sin(np.arange(30)),
                  index=pd.date_range("2020-01-01", periods=30, freq="D", name=name))
    model = GRUForecaster(horizon=3, **FAST).fit(y)
    path = tmp_path / "model.npz"
    fastgru.save(model, path)
    again = fastgru.load(path).predict()
    assert again.index.equals(model.predict().index)
    assert again.index[0] == pd.Timestamp("2020-01-31")


def test_days_continued_past_a_midnight_the_zone_skips_start_at_its_first_time():
    # Sao Paulo's clocks went from 00:00 to 01:00 on 2018-11-04
    days = pd.date_range("2018-10-01", periods=34, freq="D", tz="America/Sao_Paulo")
    model = GRUForecaster(horizon=3, **FAST).fit(pd.Series(10 + np.sin(np.arange(34)),
                                                           index=days))
    assert [str(d) for d in model.predict().index] == [
        "2018-11-04 01:00:00-02:00", "2018-11-05 00:00:00-02:00", "2018-11-06 00:00:00-02:00"]


def test_a_series_dated_on_a_time_the_zone_skips_is_named_and_dated_by_the_panel_s_weeks():
    weeks = pd.date_range("2018-01-07", periods=40, freq="W-SUN", tz="America/Sao_Paulo")
    crossing = pd.date_range("2018-09-02", periods=12, freq="W-SUN").tz_localize(
        "America/Sao_Paulo", nonexistent="shift_forward")  # 2018-11-04 01:00
    panel = pd.concat([_frame(weeks), _frame(crossing).assign(unique_id="b")],
                      ignore_index=True)
    with pytest.warns(UserWarning, match=r"series \['b'\] do not follow the panel's frequency "
                                         r"\(W-SUN\).*dates their forecasts by it after"):
        model = GRUForecaster(horizon=3, **FAST).fit(panel)
    after = [pd.date_range(end.tz_localize(None), periods=4, freq="W-SUN")[1:].tz_localize(
        "America/Sao_Paulo") for end in (weeks[-1], crossing[-1])]
    assert model.predict()["ds"].tolist() == [*after[0], *after[1]]


@pytest.mark.parametrize("info,match", [
    ({"type": "datetime", "freq": "-1D"}, "does not move forwards"),
    ({"type": "float", "step": 0.0}, "nonzero float"),
    ({"type": "integer", "step": 1.5}, "nonzero integer"),
    ({"type": "float", "step": 10**400}, "not finite"),
    ({"type": "float", "step": 1e-320}, "is lost in"),  # 14.5 + 1e-320 is 14.5
    ({"type": "float", "step": 0.5, "decimals": -3}, "decimals must be 0 to 12"),
])
def test_a_file_whose_time_stamps_go_nowhere_or_backwards_is_refused(tmp_path, info, match):
    import json

    y = pd.Series(10 + np.sin(np.arange(30)),
                  index=pd.date_range("2020-01-01", periods=30, freq="D"))
    if info["type"] != "datetime":
        y.index = np.arange(30) * 0.5 if info["type"] == "float" else np.arange(30)
    path = tmp_path / "f.npz"
    fastgru.save(GRUForecaster(horizon=3, **FAST).fit(y), path)
    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(arrays.pop("__meta__").tobytes().decode())
    meta["attributes"]["_index_info"].update(info)
    np.savez(path, __meta__=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8), **arrays)
    with pytest.raises(ValueError, match=match):
        fastgru.load(path)


def test_dates_beyond_nanoseconds_range_are_continued():
    # datetime64[s] holds the year 2969, which nanoseconds (up to 2262) do not
    days = pd.date_range("2969-05-01", periods=30, freq="D", unit="s")
    fc = GRUForecaster(horizon=3, **FAST).fit(_frame(days.to_numpy())).predict()
    assert fc["ds"].tolist() == list(pd.date_range("2969-05-31", periods=3, freq="D", unit="s"))


def test_periods_of_two_frequencies_in_one_column_are_named():
    months = _frame(list(pd.period_range("2020-01", periods=30, freq="M")))
    quarters = _frame(list(pd.period_range("2020Q1", periods=30, freq="Q"))).assign(unique_id="b")
    df = pd.concat([months, quarters], ignore_index=True).astype({"ds": object})
    with pytest.raises(ValueError, match=r"types \['Period\[M\]', 'Period\[Q-DEC\]'\]"):
        GRUForecaster(horizon=3, **FAST).fit(df)


def test_complex_time_stamps_are_labels_numbered_by_position():
    with pytest.warns(UserWarning, match="cannot continue the time stamps.*complex128"):
        model = GRUForecaster(horizon=3, **FAST).fit(_frame(np.arange(30) + 1j))
    assert model.predict()["ds"].tolist() == [30, 31, 32]


def test_a_panel_of_dates_within_and_beyond_nanoseconds_range_keeps_each():
    far = pd.date_range("2969-05-01", periods=30, freq="D", unit="s")
    near = pd.date_range("2020-05-01", periods=30, freq="D", unit="s")
    panel = pd.concat([_frame(far.to_numpy()), _frame(near.to_numpy()).assign(unique_id="b")])
    fc = GRUForecaster(horizon=2, **FAST).fit(panel).predict()
    assert [str(d) for d in fc["ds"]] == ["2969-05-31 00:00:00", "2969-06-01 00:00:00",
                                          "2020-05-31 00:00:00", "2020-06-01 00:00:00"]


def test_business_days_with_holidays_are_not_continued_onto_the_holidays():
    holidays = ["2020-12-24", "2020-12-25"]
    days = pd.bdate_range("2020-11-01", "2020-12-23", freq="C", holidays=holidays)
    y = pd.Series(10 + np.sin(np.arange(len(days))), index=days)
    assert y.index.freqstr == "C"  # the text of the frequency without its holidays
    with pytest.warns(UserWarning, match=r"its frequency <CustomBusinessDay> is not one its "
                                         r"text \('C'\) gives back \(holidays"):
        model = GRUForecaster(horizon=3, **FAST).fit(y)
    assert model.predict().index.tolist() == [len(days), len(days) + 1, len(days) + 2]


def test_a_series_with_a_missing_date_is_told_so_not_to_sort_it():
    dates = pd.date_range("2020-01-01", periods=30, freq="D").tolist()
    dates[-1] = pd.NaT  # sort_index would put it first, and still not in time order
    y = pd.Series(10 + np.sin(np.arange(30)), index=pd.DatetimeIndex(dates))
    with pytest.raises(ValueError, match=r"y's index has missing dates \(NaT\)"):
        GRUForecaster(horizon=3, **FAST).fit(y)
    with pytest.raises(ValueError, match=r"series 'a''s index has missing dates"):
        GRUForecaster(horizon=3, **FAST).fit({"a": y.set_axis(pd.PeriodIndex(dates, freq="D"))})


@pytest.mark.parametrize("same", [lambda i: i.as_unit("s"), lambda i: i.tz_convert("UTC")])
def test_past_covariates_on_y_s_dates_in_another_unit_or_zone_are_aligned(same):
    days = pd.date_range("2020-01-01", periods=30, freq="D", tz="Europe/Berlin")
    y = pd.Series(10 + np.sin(np.arange(30)), index=days)
    X = pd.DataFrame({"x": np.cos(np.arange(30))}, index=same(days))
    GRUForecaster(horizon=3, **FAST).fit(y, X)  # the same dates: read step by step
    with pytest.raises(ValueError, match="X's dates are not y's"):
        GRUForecaster(horizon=3, **FAST).fit(y, X.set_axis(same(days)[::-1]))
    with pytest.raises(ValueError, match="X's dates are not y's"):
        GRUForecaster(horizon=3, **FAST).fit(y, X.set_axis(days.tz_localize(None)))


def test_monthly_dates_mid_month_are_told_to_become_periods():
    # no frequency pandas infers: the warning's advice, periods, continues them
    ds = pd.date_range("2000-01-01", periods=36, freq="MS") + pd.Timedelta(days=14)
    df = pd.DataFrame({"unique_id": "a", "ds": ds, "y": np.sin(np.arange(36.0))})
    model = GRUForecaster(horizon=2, **FAST)
    with pytest.warns(UserWarning, match=r"periods, y.to_period\('M'\) \(in a long frame "
                                         r"df.ds.dt.to_period\('M'\)\)"):
        assert model.fit(df).predict().ds.tolist() == [36, 37]
    fc = model.fit(df.assign(ds=df.ds.dt.to_period("M"))).predict()
    assert fc.ds.tolist() == [pd.Period("2003-01", "M"), pd.Period("2003-02", "M")]


def _months(n, start="2000-01-01"):
    ds = pd.date_range(start, periods=n, freq="MS")
    return pd.DataFrame({"unique_id": "a", "ds": ds, "y": 10 + np.sin(np.arange(n))})


@pytest.mark.parametrize("day", ["2010-06-15", "2010-06-30"])
def test_a_one_value_series_off_the_panel_s_grid_continues_at_the_next_grid_date(day):
    # pandas starts a range of month starts at the first one after a mid-month date:
    # that date is the forecast's first, not skipped
    one = pd.DataFrame({"unique_id": "b", "ds": [pd.Timestamp(day)], "y": [10.0]})
    model = GRUForecaster(horizon=3, **FAST).fit(pd.concat([_months(60), one]))
    got = model.predict().groupby("unique_id").ds.apply(list)
    assert got["b"] == list(pd.to_datetime(["2010-07-01", "2010-08-01", "2010-09-01"]))
    assert got["a"] == list(pd.to_datetime(["2005-01-01", "2005-02-01", "2005-03-01"]))
    # on the grid, as before: the date after it
    got = model.predict(y=one.assign(ds=pd.Timestamp("2010-06-01"))).ds.tolist()
    assert got == list(pd.to_datetime(["2010-07-01", "2010-08-01", "2010-09-01"]))


def test_weeks_of_a_one_value_series_dated_midweek_keep_the_panel_s_weekday():
    weeks = pd.DataFrame({"unique_id": "a", "ds": pd.date_range("2000-01-02", periods=80,
                                                                 freq="W-SUN"),
                          "y": 10 + np.sin(np.arange(80))})
    wed = pd.DataFrame({"unique_id": "b", "ds": [pd.Timestamp("2003-06-04")], "y": [10.0]})
    fc = GRUForecaster(horizon=3, **FAST).fit(pd.concat([weeks, wed])).predict()
    assert fc[fc.unique_id == "b"].ds.tolist() == list(pd.to_datetime(
        ["2003-06-08", "2003-06-15", "2003-06-22"]))


def test_new_series_too_short_to_tell_their_frequency_take_the_model_s():
    model = GRUForecaster(horizon=2, **FAST).fit(_months(60))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "cannot continue" warning
        for ds in (["2010-06-01"], ["2010-05-01", "2010-06-01"]):
            y = pd.DataFrame({"unique_id": "n", "ds": pd.to_datetime(ds), "y": 1.0})
            assert model.predict(y=y).ds.tolist() == list(pd.to_datetime(
                ["2010-07-01", "2010-08-01"]))
    # two dates that are not a step of it apart are still told so
    y = pd.DataFrame({"unique_id": "n", "ds": pd.to_datetime(["2010-05-01", "2010-07-01"]),
                      "y": 1.0})
    with pytest.warns(UserWarning, match=r"do not follow the model's frequency \(MS\)"):
        assert model.predict(y=y).ds.tolist() == list(pd.to_datetime(["2010-08-01",
                                                                      "2010-09-01"]))
    # integer and float steps of the model
    ints = GRUForecaster(horizon=2, **FAST).fit(_months(60).assign(ds=np.arange(0, 300, 5)))
    one = pd.DataFrame({"unique_id": ["n"], "ds": [1000], "y": [1.0]})
    assert ints.predict(y=one).ds.tolist() == [1005, 1010]
    quarters = _months(60).assign(ds=1990 + np.arange(60) / 4)
    floats = GRUForecaster(horizon=2, **FAST).fit(quarters)
    assert floats.predict(y=one.assign(ds=2001.25)).ds.tolist() == [2001.5, 2001.75]
    assert floats.predict(y=one.assign(ds=2001.125)).ds.tolist() == [2001.375, 2001.625]


def _berlin_hours_with_an_hour_covariate(end):
    """A model of Berlin hours up to ``end`` reading the hour of the day, the
    six hours after it and their X_df."""
    ds = pd.date_range(end=end, periods=200, freq="h", tz="Europe/Berlin")
    df = pd.DataFrame({"unique_id": "a", "ds": ds, "y": 10 + np.sin(np.arange(200) / 4),
                       "hour": ds.hour.astype(float)})
    future = pd.date_range(ds[-1], periods=7, freq="h")[1:]
    X_df = pd.DataFrame({"unique_id": "a", "ds": future, "hour": future.hour.astype(float)})
    return GRUForecaster(horizon=6, **FAST).fit(df), future, X_df


@pytest.mark.parametrize("end", ["2023-10-20 00:00", "2023-10-29 00:00"])
def test_x_df_in_another_zone_is_found_across_the_repeated_hour(end):
    # the second forecast runs through Berlin's repeated hour 02:00-03:00 of 2023-10-29
    model, future, X_df = _berlin_hours_with_an_hour_covariate(end)
    in_berlin = model.predict(X_df=X_df)
    in_utc = model.predict(X_df=X_df.assign(ds=future.tz_convert("UTC")))
    pd.testing.assert_frame_equal(in_berlin, in_utc)
    assert in_berlin.ds.tolist() == list(future)


@pytest.mark.parametrize("freq, panel_start, day, expected", [
    # a multiple of a unit keeps the frequency's own steps: last + k * freq
    ("2MS", "2000-02-01", "2010-06-15", ["2010-08-01", "2010-10-01", "2010-12-01"]),
    ("B", "2000-01-03", "2010-06-12", ["2010-06-14", "2010-06-15", "2010-06-16"]),  # a Saturday
    ("bh", "2000-01-03 09:00", "2010-06-12 10:00",  # Saturday 10:00: Monday from 10:00
     ["2010-06-14 10:00", "2010-06-14 11:00", "2010-06-14 12:00"]),
])
def test_a_one_value_series_off_the_grid_continues_as_last_plus_steps_of_the_frequency(
        freq, panel_start, day, expected):
    from pandas.tseries.frequencies import to_offset

    panel = pd.DataFrame({"unique_id": "a", "ds": pd.date_range(panel_start, periods=60,
                                                                 freq=freq),
                          "y": 10 + np.sin(np.arange(60))})
    one = pd.DataFrame({"unique_id": "b", "ds": [pd.Timestamp(day)], "y": [10.0]})
    fc = GRUForecaster(horizon=3, **FAST).fit(pd.concat([panel, one])).predict()
    got = fc[fc.unique_id == "b"].ds.tolist()
    assert got == list(pd.to_datetime(expected))
    step = to_offset(freq)  # the convention of utilsforecast and others
    assert got == [pd.Timestamp(day) + k * step for k in range(1, 4)]


def test_new_series_of_a_number_of_the_other_kind_or_a_one_day_range_take_the_model_s_step():
    one = pd.DataFrame({"unique_id": ["n"], "ds": [2001], "y": [1.0]})
    floats = GRUForecaster(horizon=2, **FAST).fit(_months(60).assign(
        ds=1990 + np.arange(60) / 4))
    assert floats.predict(y=one).ds.tolist() == [2001.25, 2001.5]
    ints = GRUForecaster(horizon=2, **FAST).fit(_months(60).assign(ds=np.arange(0, 300, 5)))
    assert ints.predict(y=one.assign(ds=1000.0)).ds.tolist() == [1005, 1010]
    assert ints.predict(y=one.assign(ds=1000.5)).ds.tolist() == [1005.5, 1010.5]
    # pd.date_range(..., periods=1) carries the frequency "D": one date tells none
    monthly = GRUForecaster(horizon=2, **FAST).fit(_months(60))
    day = pd.Series([1.0], index=pd.date_range("2010-06-01", periods=1))
    assert monthly.predict(y=day).index.tolist() == list(pd.to_datetime(
        ["2010-07-01", "2010-08-01"]))


def test_x_df_dates_of_mixed_offsets_as_objects_or_pyarrow_match_the_repeated_hour():
    model, future, X_df = _berlin_hours_with_an_hour_covariate("2023-10-29 00:00")
    expected = model.predict(X_df=X_df)
    # read_csv of ISO text whose offset changes (+02:00, then +01:00) gives objects
    objects = X_df.assign(ds=pd.Series(list(future), dtype=object))
    assert objects.ds.dtype == object
    pd.testing.assert_frame_equal(model.predict(X_df=objects), expected)
    pytest.importorskip("pyarrow")
    arrow = X_df.assign(ds=pd.Series(future.tz_convert("UTC")).astype(
        "timestamp[ns, tz=UTC][pyarrow]"))
    pd.testing.assert_frame_equal(model.predict(X_df=arrow), expected)
    # a date without a zone is no instant: it matches none
    with pytest.raises(ValueError, match="X_df lacks series 'a'"):
        model.predict(X_df=X_df.assign(ds=future.tz_convert("UTC").tz_localize(None)))


def test_a_fixed_offset_zone_is_saved_as_text_pandas_reads(tmp_path):
    pytz = pytest.importorskip("pytz")
    days = pd.date_range("2020-01-01", periods=40, freq="D", tz=pytz.FixedOffset(60))
    model = GRUForecaster(horizon=2, **FAST).fit(pd.Series(np.sin(np.arange(40.0)),
                                                           index=days))
    assert model._index_info["tz"] == "UTC+01:00"
    expected = [pd.Timestamp("2020-02-10 00:00+01:00"), pd.Timestamp("2020-02-11 00:00+01:00")]
    assert model.predict().index.tolist() == expected
    fastgru.save(model, tmp_path / "m.npz")
    assert fastgru.load(tmp_path / "m.npz").predict().index.tolist() == expected


def test_score_reads_dates_in_another_zone():
    days = pd.date_range("2020-01-01", periods=40, freq="h", tz="Europe/Berlin")
    y = pd.Series(10 + np.sin(np.arange(40.0)), index=days)
    model = GRUForecaster(horizon=3, **FAST).fit(y[:37])
    assert model.score(y[37:]) == model.score(y[37:].tz_convert("UTC"))
    with pytest.raises(ValueError, match="scored by position"):
        model.score(y[37:].tz_localize(None))


def _daily_with_a_gap():
    t = np.arange(60)
    ds = pd.date_range("2020-01-01", periods=60, freq="D")
    df = pd.concat([pd.DataFrame({"unique_id": k, "ds": ds, "y": np.sin(t / 7 * 6.28) + i})
                    for i, k in enumerate("abc")], ignore_index=True)
    return df.drop(index=df[df.unique_id == "c"].index[10])  # 2020-01-11 of series c


def test_freq_dates_every_series_also_one_with_a_gap():
    df = _daily_with_a_gap()
    with pytest.warns(UserWarning, match=r"the series \['c'\] do not follow the panel's "
                                         r"frequency \(D\).*by it after their last"):
        inferred = GRUForecaster(horizon=3, **FAST).fit(df).predict()
    model = GRUForecaster(horizon=3, freq="D", **FAST)
    with pytest.warns(UserWarning, match=r"the series \['c'\] do not follow freq='D' "
                                         "throughout.*dates their forecasts by freq after"):
        model.fit(df)
    fc = model.predict()
    want = pd.date_range("2020-03-01", periods=3, freq="D")
    for key in "abc":  # each series' last date plus one, two, three days
        np.testing.assert_array_equal(fc[fc.unique_id == key].ds.to_numpy(), want.to_numpy())
    pd.testing.assert_frame_equal(fc, inferred)  # the same model, dated alike
    # a new history with a gap, and one of a single value, take it too
    new = pd.DataFrame({"unique_id": ["n", "n", "n", "one"],
                        "ds": pd.to_datetime(["2021-05-01", "2021-05-02", "2021-05-09",
                                              "2021-06-30"]), "y": [1.0, 2.0, 3.0, 4.0]})
    with pytest.warns(UserWarning, match=r"the series \['n'\] do not follow freq='D'"):
        again = model.predict(y=new)
    assert again.ds.tolist() == list(pd.date_range("2021-05-10", periods=3)) + list(
        pd.date_range("2021-07-01", periods=3))


def test_a_gap_in_one_series_keeps_every_series_dated_and_x_df_checked_by_date():
    """Without freq, a store closed one day is dated by the panel's days like
    the others, so X_df's dates are checked (they were read by position);
    a new history with a gap takes the model's days."""
    df = _daily_with_a_gap()
    df["promo"] = np.arange(len(df)) % 7 == 0
    df["promo"] = df["promo"].astype(float)
    with pytest.warns(UserWarning, match=r"the series \['c'\] do not follow the panel's"):
        model = GRUForecaster(horizon=3, **FAST).fit(df)
    days = pd.date_range("2020-03-01", periods=3, freq="D")
    future = pd.DataFrame({"unique_id": np.repeat(list("abc"), 3), "ds": np.tile(days, 3),
                           "promo": 0.0})
    fc = model.predict(X_df=future)
    assert fc.ds.tolist() == list(days) * 3
    with pytest.raises(ValueError, match=r"X_df lacks series 'a' at \['2020-03-01"):
        model.predict(X_df=future.assign(ds=future.ds + pd.Timedelta(days=30)))
    new = df[df.unique_id == "c"].assign(unique_id="n")  # its gap, and no longer history
    with pytest.warns(UserWarning, match=r"the series \['n'\] do not follow the model's "
                                         r"frequency \(D\)"):
        again = model.predict(y=new, X_df=future.replace({"unique_id": {"a": "n"}}))
    assert again.ds.tolist() == list(days)


def test_freq_is_the_step_of_integer_stamps_and_kept_in_a_file(tmp_path):
    df = _daily_with_a_gap()
    df["ds"] = (df.ds - pd.Timestamp("2020-01-01")).dt.days * 5  # steps of 5, a gap in c
    model = GRUForecaster(horizon=3, freq=5, **FAST)
    with pytest.warns(UserWarning, match=r"the series \['c'\] do not follow freq=5"):
        fc = model.fit(df).predict()
    assert fc[fc.unique_id == "c"].ds.tolist() == [300, 305, 310]
    fastgru.save(model, tmp_path / "f.npz")
    loaded = fastgru.load(tmp_path / "f.npz")
    assert loaded.freq == 5
    pd.testing.assert_frame_equal(loaded.predict(), fc)


@pytest.mark.parametrize("freq, ds, match", [
    ("zz", None, "freq='zz' is not a frequency pandas knows"),
    ("-1D", None, "freq='-1D' does not move forwards"),
    (1, None, r"freq=1 is the step of integer time stamps, but the time stamps are "
              r"datetime64\[ns\] \(give dates a frequency, e.g. freq='D'\)"),
    ("D", np.arange(60.0), r"freq='D' is a frequency of dates, but the time stamps are "
                           r"float64 \(give integer time stamps their step, freq=1\)"),
])
def test_a_freq_that_does_not_fit_the_time_stamps_is_refused(freq, ds, match):
    df = _daily_with_a_gap()
    if ds is not None:
        df["ds"] = np.tile(ds, 3)[:len(df)]
    with pytest.raises(ValueError, match=match):
        GRUForecaster(horizon=3, freq=freq, **FAST).fit(df)
    with pytest.raises(ValueError, match="'freq' parameter of GRUForecaster must be"):
        GRUForecaster(horizon=3, freq=0, **FAST).fit(df)


@pytest.mark.parametrize("freq", ["bh", "WOM-1MON", "C", "CBMS"])
def test_offsets_pandas_adds_date_by_date_are_checked_without_its_warning(freq):
    ds = pd.date_range("2024-01-05 15:00", periods=30, freq=freq)
    df = pd.concat([pd.DataFrame({"unique_id": k, "ds": ds, "y": np.sin(np.arange(30.0)) + i})
                    for i, k in enumerate("ab")], ignore_index=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # pandas' PerformanceWarning among them
        fc = GRUForecaster(horizon=2, **FAST).fit(df).predict()
    after = pd.date_range(ds[-1], periods=3, freq=freq)[1:]
    np.testing.assert_array_equal(fc[fc.unique_id == "b"].ds.to_numpy(), after.to_numpy())
    with pytest.warns(UserWarning, match=r"the series \['a'\] do not follow"):
        GRUForecaster(horizon=2, **FAST).fit(df.drop(index=10))


def test_freq_across_daylight_saving_and_on_periods():
    # month ends at 02:30 in Berlin: the next one, 2024-03-31 02:30, does not exist
    ds = pd.date_range("2022-01-31 02:30", "2024-02-29 02:30", freq="ME", tz="Europe/Berlin")
    fc = GRUForecaster(horizon=3, freq="ME", **FAST).fit(
        pd.DataFrame({"unique_id": "a", "ds": ds, "y": np.arange(len(ds), dtype=float)}))
    assert fc.predict().ds.tolist() == [pd.Timestamp("2024-03-31 03:00", tz="Europe/Berlin"),
                                        pd.Timestamp("2024-04-30 02:30", tz="Europe/Berlin"),
                                        pd.Timestamp("2024-05-31 02:30", tz="Europe/Berlin")]
    months = pd.period_range("2020-01", periods=30, freq="M")
    df = pd.concat([pd.DataFrame({"unique_id": np.int64(k), "ds": months.delete(range(5 * k)),
                                  "y": np.arange(30.0 - 5 * k)}) for k in (0, 1)],
                   ignore_index=True)
    df = df.drop(index=10)  # a gap in series 0 (series 1 starts later)
    with pytest.warns(UserWarning, match=r"the series \[0\] do not follow freq='M'"):
        fc = GRUForecaster(horizon=3, freq="M", **FAST).fit(df).predict()
    assert fc.ds.tolist() == list(pd.period_range("2022-07", periods=3, freq="M")) * 2
    for freq, match in (("D", r"freq='D' is not the frequency of the periods in ds \('M'\)"),
                        ("ME", r"freq='ME' is not a frequency pandas knows for periods "
                               r"\(theirs in ds: 'M'\)"),
                        (True, "freq must be a frequency .* or an integer step, got True")):
        with pytest.raises(ValueError, match=match):
            GRUForecaster(horizon=3, freq=freq, **FAST).fit(df)


def test_a_freq_that_does_not_fit_is_refused_before_training(capsys):
    df = _daily_with_a_gap()
    with pytest.raises(ValueError, match="freq=1 is the step of integer time stamps"):
        GRUForecaster(horizon=3, freq=1, **{**FAST, "verbose": 1}).fit(df)
    assert "epoch" not in capsys.readouterr().out


def test_a_backtest_with_freq_says_how_it_dates_series_with_a_gap():
    df = _daily_with_a_gap()
    with pytest.warns(UserWarning) as caught:
        cv = GRUForecaster(horizon=3, freq="D", **FAST).cross_validation(df, n_windows=2)
    said = [str(w.message) for w in caught if "do not follow freq" in str(w.message)]
    assert len(said) == 1 and said[0].endswith(
        "the model reads their rows as consecutive steps, and cross_validation pairs their "
        "forecasts with their rows after the cutoff")
    assert cv.ds.dtype.kind == "M"
