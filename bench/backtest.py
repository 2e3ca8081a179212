"""Rolling-origin backtest of M1 and Tourism: accuracy and interval
coverage at each of the last few forecast origins, refitted.

The forecasting benchmark (``bench/forecasting.py``) scores each set on one
period, the official test horizon; how hard that period is compared with
the end of its history moves the figures (the intervals' coverage by
several points). This script scores the same defaults over several
periods: for each set (train and test joined) it runs
``GRUForecaster(horizon=h, season_length=m).cross_validation(df, h,
n_windows, step_size=h, refit=True, level=[80, 95])``, a forecaster refitted
at each of the last ``n_windows`` origins of every series, a horizon apart
(origin 1 forecasts the official test period), and prints, origin by origin
and over all of them, the mean MASE over series (seasonal scale from the
values before the origin, lag 1 for a history of ``m`` values or fewer) and
the fraction of the truth inside the 80% and 95% intervals.

``--baselines`` adds statsforecast's AutoETS and AutoTheta (``n_jobs=1``)
over the same origins, on the series with at least 2 values before the
first origin (statsforecast refuses shorter ones); where a model cannot be
fitted on so short a history ("tiny datasets") it gives statsforecast's
fallback, the naive forecast. fastgru's scores on those same series are
shown beside theirs. A forecast from fewer than 2 values (``cross_validation``
forecasts every series with a value before the cutoff) has no MASE scale and
is left out of every figure.

Usage::

    python bench/backtest.py                         # all six sets, 4 origins
    python bench/backtest.py --baselines             # with AutoETS and AutoTheta
    python bench/backtest.py --sets m1_yearly --n-windows 6 --random-state 1

Results go to ``bench/backtest.json`` (``--output``) and the table to
``bench/backtest.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout: import this fastgru, not another
    sys.path.insert(0, str(ROOT))

from bench.forecasting import LEVELS, SETS, canonical, load_set, metadata  # noqa: E402
from fastgru.metrics import mase  # noqa: E402

DEFAULT_OUTPUT = ROOT / "bench" / "backtest.json"
BASELINES = ["AutoETS", "AutoTheta"]
#: fastgru scored on the series the baselines ran on (``--baselines``)
SAME = "fastgru, baselines' series"
ROWS = ["fastgru", SAME, *BASELINES]


def scores(cv: pd.DataFrame, column: str, df: pd.DataFrame, m: int) -> dict:
    """MASE and coverage of ``column`` in a cross-validation frame ``cv``,
    origin by origin (1: each series' last) and over all of them; ``df``
    holds the series (each MASE's scale is that of the values up to the
    cutoff). A forecast from fewer than 2 values has no scale: it is left
    out of both. Bounds are read as given (a baseline's crossing bounds
    cover nothing)."""
    history = {uid: (g["ds"].to_numpy(), g["y"].to_numpy(dtype=np.float64))
               for uid, g in df.groupby("unique_id", sort=False)}
    cv = cv.copy()
    # origins counted back from each series' last (series' cutoffs differ)
    cv["origin"] = cv.groupby("unique_id", sort=False)["cutoff"].rank(
        method="dense", ascending=False).astype(int)
    per = []  # (series, origin, points, mase, coverage at each level) of each forecast
    for (uid, cutoff, origin), g in cv.groupby(["unique_id", "cutoff", "origin"], sort=False):
        ds, y = history[uid]
        before = y[ds <= cutoff]
        if len(before) < 2:
            continue
        truth = g["y"].to_numpy(dtype=np.float64)
        inside = [np.mean((truth >= g[f"{column}-lo-{level}"].to_numpy(dtype=np.float64))
                          & (truth <= g[f"{column}-hi-{level}"].to_numpy(dtype=np.float64)))
                  for level in LEVELS]
        per.append((uid, origin, len(g), mase(truth, g[column].to_numpy(dtype=np.float64),
                                              before, m), *inside))
    per = pd.DataFrame(per, columns=["unique_id", "origin", "n", "mase",
                                     *(f"coverage_{level}" for level in LEVELS)])
    out = {"origins": []}
    for origin, part in [*per.groupby("origin", sort=True), ("all", per)]:
        row = {"origin": origin if origin == "all" else int(origin), "n": int(part["n"].sum()),
               "mase": round(float(part["mase"].mean()), 4)}  # zero scales left out
        for level in LEVELS:  # forecasts of h points each: the mean over the points
            row[f"coverage_{level}"] = round(float(part[f"coverage_{level}"].mean()), 4)
        if origin == "all":
            out["all"] = row
        else:
            out["origins"].append(row)
    out["n_series"] = int(per["unique_id"].nunique())  # series with a scored forecast
    return out


def _fastgru(df, h, m, n_windows, random_state):
    from fastgru import GRUForecaster

    model = GRUForecaster(horizon=h, season_length=m, random_state=random_state)
    return model.cross_validation(df, h=h, n_windows=n_windows, step_size=h, refit=True,
                                  level=LEVELS)


def _baselines(df, h, m, n_windows):
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS, AutoTheta, Naive

    sf = StatsForecast(models=[AutoETS(season_length=m), AutoTheta(season_length=m)],
                       freq=1, n_jobs=1, fallback_model=Naive())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cv = sf.cross_validation(df=df, h=h, n_windows=n_windows, step_size=h, level=LEVELS)
    return cv.reset_index() if "unique_id" not in cv.columns else cv


def _long_enough(df: pd.DataFrame, size: int) -> pd.DataFrame:
    """The series of ``df`` with at least ``size`` values."""
    n = df.groupby("unique_id", sort=False)["y"].transform("size")
    return df[n >= size]


def _line(name, method, result):
    cells = " ".join(f"{row['origin']}: {row['mase']:.3f} {row['coverage_80']:.3f}/"
                     f"{row['coverage_95']:.3f}" for row in [*result["origins"], result["all"]])
    return f"{name:18s} {method:27s} {cells}"


def run_set(name, n_windows, random_state, baselines, limit=None, log=print):
    train, test, h, m = load_set(name, limit)
    df = (pd.concat([train, test]).sort_values(["unique_id", "ds"], kind="stable")
          .reset_index(drop=True))
    result = {"horizon": h, "season_length": m, "n_series": int(df["unique_id"].nunique())}
    start = time.perf_counter()
    ours = _fastgru(df, h, m, n_windows, random_state)
    result["fastgru"] = scores(ours, "GRUForecaster", df, m)
    result["fastgru"]["time_s"] = round(time.perf_counter() - start, 2)
    log(_line(name, "fastgru", result["fastgru"]))
    if baselines:
        subset = _long_enough(df, h * n_windows + 2)
        start = time.perf_counter()
        theirs = _baselines(subset, h, m, n_windows)
        elapsed = round(time.perf_counter() - start, 2)
        for method in BASELINES:
            result[method] = scores(theirs, method, subset, m)
            result[method]["time_s"] = elapsed  # both models together
        same = ours[ours["unique_id"].isin(theirs["unique_id"].unique())]
        result[SAME] = scores(same, "GRUForecaster", df, m)
        for method in (SAME, *BASELINES):
            log(_line(name, method, result[method]))
    return result


def markdown(results: dict) -> str:
    n = results["n_windows"]
    head = ["set", "method", *[f"origin {k}" + (" (test)" if k == 1 else "")
                               for k in range(1, n + 1)], "all origins"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, result in results["sets"].items():
        for method in ROWS:
            if method not in result:
                continue
            cells = {row["origin"]: f"{row['mase']:.3f} ({row['coverage_80']:.2f} / "
                     f"{row['coverage_95']:.2f})" for row in result[method]["origins"]}
            every = result[method]["all"]
            lines.append(f"| {name} | {method} ({result[method]['n_series']} series) | "
                         + " | ".join(cells.get(k, "-") for k in range(1, n + 1))
                         + f" | **{every['mase']:.3f}** ({every['coverage_80']:.3f} / "
                         f"{every['coverage_95']:.3f}) |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", nargs="+", default=list(SETS), type=canonical,
                        metavar="SET", help=f"sets to run (default: {', '.join(SETS)})")
    parser.add_argument("--n-windows", type=int, default=4,
                        help="forecast origins per series, a horizon apart (default 4)")
    parser.add_argument("--random-state", type=int, default=0,
                        help="the forecaster's random_state (default 0)")
    parser.add_argument("--baselines", action="store_true",
                        help="also AutoETS and AutoTheta (statsforecast)")
    parser.add_argument("--limit", type=int, default=None,
                        help="only the first LIMIT series of each set")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT,
                        help="the results' JSON (the table goes next to it, as .md)")
    args = parser.parse_args(argv)
    if args.n_windows < 1:
        parser.error("--n-windows must be at least 1")
    results = {"meta": metadata(), "n_windows": args.n_windows,
               "random_state": args.random_state, "levels": LEVELS, "limit": args.limit,
               "sets": {name: run_set(name, args.n_windows, args.random_state,
                                      args.baselines, args.limit)
                        for name in args.sets}}
    args.output.write_text(json.dumps(results, indent=1) + "\n")
    table = markdown(results)
    args.output.with_suffix(".md").write_text(
        "# Rolling-origin backtest\n\nWritten by `bench/backtest.py` "
        f"({results['meta']['date']}, random_state={args.random_state}): for each set, "
        f"forecasters refitted at each of the last {args.n_windows} forecast origins of "
        "every series, a horizon apart (origin 1 forecasts the official test period). "
        "Each cell: mean MASE over series (seasonal scale from the values before the "
        "origin) and, in brackets, the fraction of the truth inside the 80% / 95% "
        f"intervals.\n\n{table}\n")
    print(table)
    print(f"\nwritten to {args.output} and {args.output.with_suffix('.md')}")


if __name__ == "__main__":
    main()
