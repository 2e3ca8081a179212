"""fastgru.metrics against values worked out by hand or with plain loops."""

import math
import re
import warnings

import numpy as np
import pytest

from fastgru.metrics import coverage, evaluate, mase, msis, pinball_loss, smape

pd = pytest.importorskip("pandas")


# ---------------------------------------------------------- plain references
def loop_scale(train, m):
    if len(train) <= m:
        m = 1
    total, count = 0.0, 0
    for t in range(m, len(train)):
        if not (math.isnan(train[t]) or math.isnan(train[t - m])):
            total += abs(train[t] - train[t - m])
            count += 1
    return total / count


def loop_mase(y, f, train, m):
    return sum(abs(a - b) for a, b in zip(y, f)) / len(y) / loop_scale(train, m)


def loop_smape(y, f):
    terms = [0.0 if a == b == 0 else 200 * abs(a - b) / (abs(a) + abs(b))
             for a, b in zip(y, f)]
    return sum(terms) / len(terms)


def loop_msis(y, lo, hi, train, m, level):
    a = 1 - level / 100
    total = 0.0
    for yt, l, u in zip(y, lo, hi):
        total += u - l
        if yt < l:
            total += 2 / a * (l - yt)
        if yt > u:
            total += 2 / a * (yt - u)
    return total / len(y) / loop_scale(train, m)


def loop_coverage(y, lo, hi):
    return sum(1 for a, l, u in zip(y, lo, hi) if l <= a <= u) / len(y)


# ------------------------------------------------------------------- mase
def test_mase_by_hand():
    # scale at lag 2: |3-1|, |2-2|, |6-3| -> 5/3; errors 1 and 3 -> 2; MASE 2 / (5/3)
    assert mase([4.0, 5.0], [5.0, 2.0], [1.0, 2.0, 3.0, 2.0, 6.0], season_length=2) == \
        pytest.approx(1.2)
    # lag 1 on the same series: 1 + 1 + 1 + 4 -> 7/4
    assert mase([4.0, 5.0], [5.0, 2.0], [1.0, 2.0, 3.0, 2.0, 6.0]) == pytest.approx(2 / 1.75)


def test_mase_matches_a_loop_on_random_series():
    rng = np.random.default_rng(0)
    for m in (1, 4, 12):
        train = rng.normal(size=40).cumsum()
        y, f = rng.normal(size=8), rng.normal(size=8)
        assert mase(y, f, train, m) == pytest.approx(loop_mase(y, f, train, m), rel=1e-12)


def test_mase_falls_back_to_lag_one_without_a_full_season_and_a_value():
    train = [1.0, 3.0, 2.0, 6.0]  # 4 values: no lag-4 difference
    assert mase([7.0], [6.0], train, season_length=4) == pytest.approx(1 / ((2 + 1 + 4) / 3))
    train5 = [1.0, 3.0, 2.0, 6.0, 4.0]  # 5 values: one lag-4 difference, |4 - 1|
    assert mase([7.0], [6.0], train5, season_length=4) == pytest.approx(1 / 3)


def test_mase_is_nan_for_a_constant_series():
    assert math.isnan(mase([1.0, 2.0], [1.0, 1.0], [5.0, 5.0, 5.0]))
    # constant at the seasonal lag only: undefined at m=2, defined at m=1
    alternating = [1.0, 2.0, 1.0, 2.0, 1.0, 2.0]
    assert math.isnan(mase([1.0], [1.5], alternating, season_length=2))
    assert mase([1.0], [1.5], alternating, season_length=1) == pytest.approx(0.5)


def test_mase_skips_differences_with_nan_in_the_training_series():
    train = [1.0, np.nan, 3.0, 5.0, 4.0]  # valid lag-1 differences: 2 and 1
    assert mase([2.0], [0.5], train) == pytest.approx(1.5 / 1.5)
    assert math.isnan(mase([2.0], [0.5], [np.nan, 1.0, np.nan]))


@pytest.mark.parametrize("call, name", [
    (lambda: mase([1.0, 2.0], [1.0], [1.0, 2.0]), "y_pred"),
    (lambda: mase([1.0, np.nan], [1.0, 2.0], [1.0, 2.0]), "y_true"),
    (lambda: mase([1.0, 2.0], [1.0, np.inf], [1.0, 2.0]), "y_pred"),
    (lambda: mase([1.0], [1.0], [1.0]), "y_train"),
    (lambda: mase([1.0], [1.0], [[1.0, 2.0]]), "y_train"),
    (lambda: mase([1.0], [1.0], [1.0, np.inf]), "y_train"),
    (lambda: mase([], [], [1.0, 2.0]), "y_true"),
])
def test_mase_errors_name_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()


@pytest.mark.parametrize("season_length", [0, -1, 1.5, True, "12"])
def test_season_length_is_checked(season_length):
    with pytest.raises((TypeError, ValueError), match="season_length"):
        mase([1.0], [1.0], [1.0, 2.0, 3.0], season_length=season_length)


# ------------------------------------------------------------------ smape
def test_smape_by_hand_and_its_range():
    assert smape([100.0, 50.0], [110.0, 50.0]) == pytest.approx(200 * 10 / 210 / 2)
    assert smape([1.0, 0.0], [-1.0, 0.0]) == pytest.approx(100.0)  # 200 and 0
    assert smape([3.0], [0.0]) == pytest.approx(200.0)
    rng = np.random.default_rng(1)
    y, f = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    assert smape(y, f) == pytest.approx(loop_smape(y.ravel(), f.ravel()))


def test_smape_checks_its_inputs():
    with pytest.raises(ValueError, match="y_pred"):
        smape([1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="y_true"):
        smape([np.nan], [1.0])


# ---------------------------------------------------- coverage and MSIS
def test_coverage_counts_the_bounds_as_inside():
    assert coverage([1.0, 2.0, 3.0, 4.0], [1.0, 2.5, 0.0, 4.5], [1.0, 3.0, 3.0, 5.0]) == 0.5
    rng = np.random.default_rng(2)
    y = rng.normal(size=50)
    lo, hi = -np.abs(rng.normal(size=50)), np.abs(rng.normal(size=50))
    assert coverage(y, lo, hi) == loop_coverage(y, lo, hi)


def test_coverage_errors_name_the_argument():
    with pytest.raises(ValueError, match="lo is above hi"):
        coverage([1.0], [2.0], [1.5])
    with pytest.raises(ValueError, match="hi"):
        coverage([1.0, 2.0], [0.0, 0.0], [3.0])
    with pytest.raises(ValueError, match="lo"):
        coverage([1.0], [np.nan], [3.0])


def test_msis_by_hand():
    # scale 1 (lag 1 of 0, 1, 2); level 80: a = 0.2, a miss costs 10 per unit
    # widths 2, 2, 2; y=-1 is 1 below lo=0 (+10), y=5 is 2 above hi=3 (+20)
    value = msis([-1.0, 2.0, 5.0], [0.0, 1.0, 1.0], [2.0, 3.0, 3.0], [0.0, 1.0, 2.0],
                 level=80)
    assert value == pytest.approx((2 + 10 + 2 + 2 + 20) / 3)


def test_msis_matches_a_loop():
    rng = np.random.default_rng(3)
    train = rng.normal(size=30).cumsum()
    y = rng.normal(size=6)
    lo, hi = y - rng.uniform(-1, 1, 6) - 0.5, y + rng.uniform(-1, 1, 6) + 0.5
    hi = np.maximum(lo, hi)
    for level, m in ((95, 4), (80, 1)):
        assert msis(y, lo, hi, train, m, level) == pytest.approx(
            loop_msis(y, lo, hi, train, m, level), rel=1e-12)


@pytest.mark.parametrize("level", [0, 100, 120, -5, "95", None])
def test_msis_checks_the_level(level):
    with pytest.raises(ValueError, match="level"):
        msis([1.0], [0.0], [2.0], [0.0, 1.0], level=level)


def test_msis_is_nan_for_a_constant_series():
    assert math.isnan(msis([1.0], [0.0], [2.0], [3.0, 3.0, 3.0]))


# --------------------------------------------------------------- pinball
def test_pinball_loss_by_hand():
    # y - f = 2 (under-forecast) and -3 (over-forecast)
    assert pinball_loss([10.0, 10.0], [8.0, 13.0], q=0.9) == pytest.approx((1.8 + 0.3) / 2)
    assert pinball_loss([10.0, 10.0], [8.0, 13.0], q=0.1) == pytest.approx((0.2 + 2.7) / 2)
    rng = np.random.default_rng(4)
    y, f = rng.normal(size=20), rng.normal(size=20)
    assert pinball_loss(y, f, 0.5) == pytest.approx(np.abs(y - f).mean() / 2)


@pytest.mark.parametrize("q", [0, 1, 1.5, -0.1, True, "0.5"])
def test_pinball_loss_checks_q(q):
    with pytest.raises(ValueError, match="q must"):
        pinball_loss([1.0], [1.0], q)


def test_pinball_loss_checks_shapes():
    with pytest.raises(ValueError, match="q_pred"):
        pinball_loss([1.0, 2.0], [1.0], 0.5)


# --------------------------------------------------------------- evaluate
def panel():
    """Two series (one quarterly-looking, one constant) and two models' forecasts."""
    a_train = [10.0, 12.0, 14.0, 11.0, 13.0, 15.0, 17.0, 14.0, 16.0]
    b_train = [4.0, 6.0, 5.0, 7.0, 6.0]
    train = pd.DataFrame({"unique_id": ["a"] * 9 + ["b"] * 5,
                          "ds": list(range(1, 10)) + list(range(1, 6)),
                          "y": a_train + b_train})
    test = pd.DataFrame({"unique_id": ["a", "a", "a", "b", "b", "b"],
                         "ds": [10, 11, 12, 6, 7, 8],
                         "y": [18.0, 20.0, 17.0, 8.0, 7.0, 9.0]})
    fc = pd.DataFrame({
        "unique_id": ["b", "b", "b", "a", "a", "a"],  # not in the truth's order
        "ds": [6, 7, 8, 10, 11, 12],
        "one": [7.0, 7.0, 7.0, 17.0, 18.0, 19.0],
        "one-lo-80": [6.0, 6.0, 6.0, 16.0, 16.0, 16.0],
        "one-hi-80": [8.0, 8.0, 8.0, 19.0, 21.0, 18.0],
        "two": [8.0, 8.0, 10.0, 18.0, 19.0, 18.0],
    })
    return train, test, fc, {"a": a_train, "b": b_train}


def test_evaluate_matches_loops_over_series():
    train, test, fc, history = panel()
    result = evaluate(fc, test, train, season_length=4)
    truth = {"a": [18.0, 20.0, 17.0], "b": [8.0, 7.0, 9.0]}
    rows = {"a": slice(3, 6), "b": slice(0, 3)}
    for model in ("one", "two"):
        expected_mase = np.mean([loop_mase(truth[s], fc[model][rows[s]].tolist(),
                                           history[s], 4) for s in "ab"])
        expected_smape = np.mean([loop_smape(truth[s], fc[model][rows[s]].tolist())
                                  for s in "ab"])
        assert result.loc[model, "mase"] == pytest.approx(expected_mase, rel=1e-12)
        assert result.loc[model, "smape"] == pytest.approx(expected_smape, rel=1e-12)
        assert result.loc[model, "n_series"] == 2 and result.loc[model, "n_undefined"] == 0
    lo, hi = fc["one-lo-80"].tolist(), fc["one-hi-80"].tolist()
    expected_cov = np.mean([loop_coverage(truth[s], lo[rows[s]], hi[rows[s]]) for s in "ab"])
    expected_msis = np.mean([loop_msis(truth[s], lo[rows[s]], hi[rows[s]], history[s], 4, 80)
                             for s in "ab"])
    assert result.loc["one", "coverage_80"] == pytest.approx(expected_cov)
    assert result.loc["one", "msis_80"] == pytest.approx(expected_msis, rel=1e-12)
    assert math.isnan(result.loc["two", "coverage_80"])  # "two" has no interval


def test_evaluate_scores_cross_validation_forecasts_from_a_single_value():
    # series "b" starts one step before the first cutoff: that forecast has
    # no MASE scale (undefined, as a constant series'), the rest is scored
    train = pd.DataFrame({"unique_id": ["a"] * 8 + ["b"] * 4,
                          "ds": [*range(1, 9), *range(5, 9)],
                          "y": [1.0, 3.0, 2.0, 5.0, 4.0, 6.0, 5.0, 8.0, 7.0, 9.0, 8.0, 10.0]})
    cv = pd.DataFrame({"unique_id": ["a", "a", "b", "b", "a", "b"],
                       "ds": [6, 7, 6, 7, 8, 8], "cutoff": [5, 5, 5, 5, 7, 7],
                       "y": [6.0, 5.0, 9.0, 8.0, 8.0, 10.0],
                       "m": [5.0, 5.0, 7.0, 7.0, 6.0, 8.0]})
    per = evaluate(cv, None, train, 1, per_series=True).set_index(["unique_id", "cutoff"])
    assert math.isnan(per.loc[("b", 5), "mase"])
    # by hand: a's scale up to 5 is mean(|3-1|, |2-3|, |5-2|, |4-5|) = 1.75
    assert per.loc[("a", 5), "mase"] == pytest.approx((1 + 0) / 2 / 1.75)
    # b up to 7: scale mean(|9-7|, |8-9|) = 1.5, error |10-8|
    assert per.loc[("b", 7), "mase"] == pytest.approx(2 / 1.5)
    assert per.loc[("b", 5), "smape"] == pytest.approx(100 * (2 / 16 + 1 / 15))
    summary = evaluate(cv, None, train, 1).loc["m"]
    assert summary["n_undefined"] == 1 and summary["n_series"] == 4
    with pytest.raises(ValueError, match="no value of unique_id='b' up to cutoff=4"):
        evaluate(cv.assign(cutoff=cv.cutoff.replace(5, 4)), None, train, 1)


def test_evaluate_scales_a_series_from_its_first_value_past_leading_nan():
    # a ragged wide frame melted into a long one: "b" starts at ds=4 after
    # three NaN rows, which are no history (the forecaster drops them too)
    ds = [*range(1, 7)] * 2
    y = [1.0, 3.0, 2.0, 5.0, 4.0, 6.0, np.nan, np.nan, np.nan, 7.0, 9.0, 8.0]
    train = pd.DataFrame({"unique_id": ["a"] * 6 + ["b"] * 6, "ds": ds, "y": y})
    test = pd.DataFrame({"unique_id": ["a", "b"], "ds": [7, 7], "y": [7.0, 10.0]})
    fc = test.drop(columns="y").assign(m=[6.0, 9.0])
    per = evaluate(fc, test, train, season_length=4, per_series=True).set_index("unique_id")
    # by hand: b's 3 values are fewer than a season, lag 1: mean(|9-7|, |8-9|) = 1.5
    assert per.loc["b", "mase"] == pytest.approx(1 / 1.5)
    # a's 6 values: lag 4, mean(|4-1|, |6-3|) = 3
    assert per.loc["a", "mase"] == pytest.approx(1 / 3)
    pd.testing.assert_frame_equal(evaluate(fc, test, train.dropna(), 4, per_series=True),
                                  evaluate(fc, test, train, 4, per_series=True))


def test_evaluate_leaves_undefined_series_out_of_the_mase_mean():
    train, test, fc, history = panel()
    train.loc[train["unique_id"] == "b", "y"] = 5.0  # constant: zero scale
    result = evaluate(fc, test, train, season_length=4, models="one")
    a_mase = loop_mase([18.0, 20.0, 17.0], [17.0, 18.0, 19.0], history["a"], 4)
    assert result.loc["one", "mase"] == pytest.approx(a_mase)
    assert result.loc["one", "n_undefined"] == 1 and result.loc["one", "n_series"] == 2
    per = evaluate(fc, test, train, 4, models="one", per_series=True).set_index("unique_id")
    assert math.isnan(per.loc["b", "mase"]) and per.loc["a", "mase"] == pytest.approx(a_mase)


def test_evaluate_agrees_with_utilsforecast_on_cross_validation_frames():
    losses = pytest.importorskip("utilsforecast.losses")
    rng = np.random.default_rng(5)
    full, cv = [], []
    for uid in ("x", "y", "z"):
        y = 50 + rng.normal(size=30).cumsum() + 3 * np.sin(np.arange(30) * np.pi / 2)
        full.append(pd.DataFrame({"unique_id": uid, "ds": np.arange(1, 31), "y": y}))
        for cutoff in (20, 24):
            cv.append(pd.DataFrame({"unique_id": uid, "ds": np.arange(cutoff + 1, cutoff + 5),
                                    "cutoff": cutoff, "y": y[cutoff:cutoff + 4],
                                    "model": y[cutoff - 4:cutoff] + rng.normal(size=4)}))
    full, cv = pd.concat(full, ignore_index=True), pd.concat(cv, ignore_index=True)
    ours = evaluate(cv, None, full, season_length=4, per_series=True)
    theirs = losses.mase(cv, ["model"], 4, full)
    merged = ours.merge(theirs, on=["unique_id", "cutoff"], suffixes=("", "_uf"))
    assert len(merged) == 6
    np.testing.assert_allclose(merged["mase"], merged["model_uf"], rtol=1e-10)
    # and the scale of each window is its history up to the cutoff
    window = cv[(cv["unique_id"] == "y") & (cv["cutoff"] == 20)]
    history = full[(full["unique_id"] == "y") & (full["ds"] <= 20)]["y"].tolist()
    row = ours[(ours["unique_id"] == "y") & (ours["cutoff"] == 20)]
    assert row["mase"].item() == pytest.approx(
        loop_mase(window["y"].tolist(), window["model"].tolist(), history, 4))


def test_evaluate_level_selection():
    train, test, fc, _ = panel()
    with pytest.raises(ValueError, match=r"'two-lo-80'.*: score the models with them, "
                                         r"models=\['one'\], or each model's own levels, "
                                         r"level=None"):
        evaluate(fc, test, train, 4, level=[80])
    result = evaluate(fc, test, train, 4, models=["one"], level=[80])
    assert list(result.columns) == ["mase", "smape", "coverage_80", "msis_80", "n_series",
                                    "n_undefined"]


def test_evaluate_errors_say_what_is_wrong():
    train, test, fc, _ = panel()
    with pytest.raises(ValueError, match="test_df has no true value"):
        evaluate(fc, test.iloc[:-1], train, 4)
    with pytest.raises(ValueError, match="forecasts_df has no forecast"):
        evaluate(fc.iloc[:-1], test, train, 4)
    with pytest.raises(ValueError, match="train_df overlaps"):
        evaluate(fc, test, pd.concat([train, test]), 4)
    with pytest.raises(ValueError, match="train_df has no rows for the series unique_id='b'"):
        evaluate(fc, test, train[train["unique_id"] == "a"], 4)
    with pytest.raises(ValueError, match="no column 'three'"):
        evaluate(fc, test, train, 4, models=["three"])
    with pytest.raises(ValueError, match="train_df has no column 'y'"):
        evaluate(fc, test, train.rename(columns={"y": "value"}), 4)
    bad = fc.copy()
    bad.loc[0, "two"] = np.nan
    with pytest.raises(ValueError, match="column 'two' has NaN"):
        evaluate(bad, test, train, 4)
    swapped = fc.rename(columns={"one-lo-80": "one-hi-80", "one-hi-80": "one-lo-80"})
    with pytest.raises(ValueError, match="'one-lo-80' above 'one-hi-80'"):
        evaluate(swapped, test, train, 4)
    with pytest.raises(TypeError, match="forecasts_df must be a pandas DataFrame"):
        evaluate(fc.to_numpy(), test, train, 4)
    with pytest.raises(TypeError, match="train_df is required: the training series scale"):
        evaluate(fc, test, None, 4)
    with pytest.raises(TypeError, match="forecasts_df is required$"):
        evaluate(None, test, train, 4)
    with pytest.raises(ValueError, match="test_df has more than one row"):
        evaluate(fc, pd.concat([test, test]), train, 4)
    with pytest.raises(ValueError, match="forecasts_df has more than one row"):
        evaluate(pd.concat([fc, fc.iloc[:1]]), test, train, 4)


def test_evaluate_refuses_repeated_training_rows_and_missing_keys():
    """A repeated training row would count twice in the MASE scale; a row
    without a series, date or cutoff would be dropped by the grouping."""
    train, test, fc, _ = panel()
    with pytest.raises(ValueError, match="train_df has more than one row"):
        evaluate(fc, test, pd.concat([train, train.iloc[:1]]), 4)
    with pytest.raises(ValueError, match=r"train_df has missing values in \['ds'\]"):
        evaluate(fc, test, train.assign(ds=train["ds"].where(train.index != 0)), 4)
    cv = fc.merge(test, on=["unique_id", "ds"])
    cv["cutoff"] = cv["unique_id"].map(train.groupby("unique_id")["ds"].max())
    assert evaluate(cv, None, train, 4).loc["one", "n_series"] == 2
    with pytest.raises(ValueError, match=r"forecasts_df has missing values in \['cutoff'\]"):
        evaluate(cv.assign(cutoff=np.nan), None, train, 4)
    with pytest.raises(ValueError, match=r"forecasts_df has missing values in \['unique_id'\]"):
        evaluate(cv.assign(unique_id=cv["unique_id"].where(cv.index != 0)), None, train, 4)


def test_evaluate_names_time_stamps_of_types_it_cannot_compare():
    train, test, fc, _ = panel()
    as_text = train.assign(ds=train["ds"].astype(str))
    with pytest.raises(TypeError, match="train_df's ds of unique_id='a' .* cannot be compared"):
        evaluate(fc, test, as_text, 4)
    cv = fc.merge(test, on=["unique_id", "ds"])
    cv["cutoff"] = cv["unique_id"].map(train.groupby("unique_id")["ds"].max()).astype(str)
    with pytest.raises(TypeError, match="cannot be compared with forecasts_df's cutoff='9'"):
        evaluate(cv, None, train, 4)


def test_evaluate_takes_a_model_column_named_by_a_number():
    train, test, fc, _ = panel()
    numbered = fc.rename(columns={"two": 5})
    table = evaluate(numbered, test, train, 4, models=5)
    expected = evaluate(fc, test, train, 4, models="two")
    np.testing.assert_allclose(table.to_numpy(dtype=float), expected.to_numpy(dtype=float))


def test_evaluate_takes_categorical_ids_with_unused_categories():
    # a frame filtered from a larger categorical one keeps every category
    train, test, fc, _ = panel()
    kinds = pd.CategoricalDtype(["a", "b", "c"])
    expected = evaluate(fc, test, train, season_length=4)
    cv = fc.merge(test, on=["unique_id", "ds"]).assign(cutoff=lambda d: d["ds"] - d["ds"] % 3)
    expected_cv = evaluate(cv, None, train, season_length=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = evaluate(fc.astype({"unique_id": kinds}), test.astype({"unique_id": kinds}),
                       train.astype({"unique_id": kinds}), season_length=4)
        got_cv = evaluate(cv.astype({"unique_id": kinds}), None,
                          train.astype({"unique_id": kinds}), season_length=4)
    pd.testing.assert_frame_equal(got, expected)
    pd.testing.assert_frame_equal(got_cv, expected_cv)


@pytest.mark.parametrize("column, change", [
    ("ds", lambda s: s.astype(str)),                             # numbers as text
    ("ds", lambda s: pd.Timestamp("2000-01-01") + pd.to_timedelta(s, "D")),  # dates
    ("unique_id", lambda s: s.map({"a": 0, "b": 1})),            # ids as integers
])
def test_evaluate_names_keys_it_cannot_match_with_the_truth(column, change):
    # pandas' merge raises its own error, which names neither frame
    train, test, fc, _ = panel()
    other = fc.assign(**{column: change(fc[column])})
    kind = re.escape(f"{column} {other[column].dtype} against")
    with pytest.raises(TypeError, match=f"forecasts_df's and test_df's keys cannot be "
                                        f"matched .*{kind}"):
        evaluate(other, test, train, 4)


def test_evaluate_refuses_dates_as_text_out_of_time_order():
    # the scale and the training rows up to a cutoff follow the order of ds:
    # "10" sorted before "2" (and "2" > "14") scaled by a scrambled history
    y = np.sin(np.arange(16.0)) + 3
    train = pd.DataFrame({"unique_id": "a", "ds": np.arange(1, 17), "y": y})
    cv = pd.DataFrame({"unique_id": "a", "ds": [15, 16], "cutoff": 14, "y": y[14:],
                       "m": [3.0, 3.0]})
    as_text = {"ds": lambda f: f["ds"].astype(str), "cutoff": lambda f: f["cutoff"].astype(str)}
    with pytest.raises(ValueError, match="train_df's and forecasts_df's column 'ds' holds "
                                         "text, read in its order as text, which is not the "
                                         r"order of the numbers it spells \(series 'a'"):
        evaluate(cv.assign(**as_text), None, train.assign(ds=as_text["ds"]), 1)
    # text categories in their (text) order, shared by both frames: the same
    categories = sorted(str(v) for v in range(1, 17))
    as_categories = {k: lambda f, k=k: pd.Categorical(f[k].astype(str), categories)
                     for k in ("ds", "cutoff")}
    with pytest.raises(ValueError, match="train_df's and forecasts_df's column 'ds' holds "
                                         "text, read in its order as text"):
        evaluate(cv.assign(**as_categories), None,
                 train.assign(ds=as_categories["ds"]), 1)
    padded = {"ds": lambda f: f["ds"].map("{:02d}".format),  # in time order as text
              "cutoff": lambda f: f["cutoff"].map("{:02d}".format)}
    pd.testing.assert_frame_equal(evaluate(cv.assign(**padded), None,
                                           train.assign(ds=padded["ds"]), 1),
                                  evaluate(cv, None, train, 1))


def test_evaluate_joins_float_time_stamps_that_differ_in_their_last_digits():
    # the truth's stamps written as 1990 + k / 12, the forecast's summed step
    # by step from the last one (1992.5833333333335 against 1992.5833333333333)
    train = pd.DataFrame({"unique_id": "a", "ds": 1990 + np.arange(30) / 12,
                          "y": np.arange(30.0)})
    test = pd.DataFrame({"unique_id": "a", "ds": 1990 + np.arange(30, 33) / 12,
                         "y": [30.0, 31.0, 32.0]})
    summed = (1990 + 29 / 12) + np.arange(1, 4) * (1 / 12)
    assert not np.array_equal(summed, test["ds"].to_numpy())
    fc = pd.DataFrame({"unique_id": "a", "ds": summed, "m": [30.0, 31.0, 34.0]})
    table = evaluate(fc, test, train, season_length=1)
    assert table.loc["m", "mase"] == pytest.approx(2 / 3)  # errors 0, 0, 2; scale 1
    # stamps half a step apart are other dates
    with pytest.raises(ValueError, match="test_df has no true value for 3 forecast rows"):
        evaluate(fc, test.assign(ds=test["ds"] + 1 / 24), train, season_length=1)
