"""Interval coverage over rolling origins: M1 and Tourism, refitted.

The forecasting benchmark (``bench/forecasting.py``) scores the intervals on
one period per set, the official test horizon. How well a set's test period
is covered also depends on how much harder or easier that period was than
the end of its history. This script measures the same default forecaster
over several periods: for each set (train and test joined) it runs
``GRUForecaster(horizon=h, season_length=m).cross_validation(df, h,
n_windows, step_size=h, refit=True, level=[80, 95])``, a forecaster refitted
at each of the last ``n_windows`` forecast origins of every series (the
official test period is the last), and prints the fraction of the truth
inside the 80% and 95% intervals, origin by origin and over all of them.
``--ets`` adds statsforecast's AutoETS (``n_jobs=1``) over the same origins.
Series too short for an origin (a training window and a horizon before it)
are left out of it.

Usage::

    python bench/coverage.py                        # all six sets, 4 origins
    python bench/coverage.py --ets --n-windows 4    # with AutoETS
    python bench/coverage.py --sets m1_yearly --random-state 1

Results go to ``bench/coverage.json`` (``--output``) and its table to
``bench/coverage.md``.
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

DEFAULT_OUTPUT = ROOT / "bench" / "coverage.json"
#: fastgru on the series AutoETS ran on (``--ets``)
SAME = "fastgru, AutoETS's series"


def _coverage(cv: pd.DataFrame, name: str) -> dict:
    """Coverage of ``name``'s intervals in a cross-validation frame, by origin
    (1: the last) and over all of them."""
    cv = cv.copy()
    # origins counted back from each series' last (series' cutoffs differ)
    cv["origin"] = cv.groupby("unique_id", sort=False)["cutoff"].rank(
        method="dense", ascending=False).astype(int)
    out = {"origins": []}
    for origin, part in [*cv.groupby("origin", sort=True), ("all", cv)]:
        y = part["y"].to_numpy(dtype=np.float64)
        row = {"origin": origin if origin == "all" else int(origin), "n": int(len(y))}
        for level in LEVELS:
            lo = part[f"{name}-lo-{level}"].to_numpy(dtype=np.float64)
            hi = part[f"{name}-hi-{level}"].to_numpy(dtype=np.float64)
            row[f"coverage_{level}"] = round(float(np.mean((y >= lo) & (y <= hi))), 4)
        if origin == "all":
            out["all"] = row
        else:
            out["origins"].append(row)
    return out


def _fastgru(df, h, m, n_windows, random_state):
    from fastgru import GRUForecaster

    model = GRUForecaster(horizon=h, season_length=m, random_state=random_state)
    return model.cross_validation(df, h=h, n_windows=n_windows, step_size=h, refit=True,
                                  level=LEVELS), "GRUForecaster"


def _ets(df, h, m, n_windows):
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS

    sf = StatsForecast(models=[AutoETS(season_length=m)], freq=1, n_jobs=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cv = sf.cross_validation(df=df, h=h, n_windows=n_windows, step_size=h, level=LEVELS)
    return cv.reset_index() if "unique_id" not in cv.columns else cv, "AutoETS"


def _shortest(df: pd.DataFrame, size: int) -> pd.DataFrame:
    """The series of at least ``size`` values (statsforecast needs every
    series to reach back to the first origin)."""
    n = df.groupby("unique_id", sort=False)["y"].transform("size")
    return df[n >= size]


def run_set(name, n_windows, random_state, ets, limit=None, log=print):
    train, test, h, m = load_set(name, limit)
    df = (pd.concat([train, test]).sort_values(["unique_id", "ds"], kind="stable")
          .reset_index(drop=True))
    result = {"horizon": h, "season_length": m, "n_series": int(df["unique_id"].nunique())}

    def record(method, call):
        begin = time.perf_counter()
        cv, column = call()
        result[method] = _coverage(cv, column)
        result[method].update(time_s=round(time.perf_counter() - begin, 2),
                              n_series=int(cv["unique_id"].nunique()))
        log(f"{name:18s} {method:8s} " + " ".join(
            f"{row['origin']}: {row['coverage_80']:.3f}/{row['coverage_95']:.3f}"
            for row in [*result[method]["origins"], result[method]["all"]])
            + f"  ({result[method]['time_s']:.0f} s)")
        return cv, column

    ours, column = record("fastgru", lambda: _fastgru(df, h, m, n_windows, random_state))
    if ets:
        # AutoETS on the series with, before the first origin, two seasons and at least
        # 12 values (on fewer, it refuses "tiny datasets")
        longest = _shortest(df, h * n_windows + max(2 * m, 12))
        theirs, _ = record("AutoETS", lambda: _ets(longest, h, m, n_windows))
        # fastgru's forecasts of the same series, to compare
        same = ours[ours["unique_id"].isin(theirs["unique_id"])]
        result[SAME] = _coverage(same, column)
        result[SAME]["n_series"] = int(same["unique_id"].nunique())
    return result


def markdown(results: dict) -> str:
    n = results["n_windows"]
    head = ["set", "method", *[f"origin {k}" + (" (test)" if k == 1 else "")
                               for k in range(1, n + 1)], "all"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, result in results["sets"].items():
        for method in ("fastgru", SAME, "AutoETS"):
            if method not in result:
                continue
            cells = {row["origin"]: f"{row['coverage_80']:.3f} / {row['coverage_95']:.3f}"
                     for row in result[method]["origins"]}
            every = result[method]["all"]
            label = f"{method} ({result[method]['n_series']} series)"
            lines.append(f"| {name} | {label} | " + " | ".join(
                cells.get(k, "-") for k in range(1, n + 1))
                + f" | **{every['coverage_80']:.3f} / {every['coverage_95']:.3f}** |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", nargs="+", default=list(SETS), type=canonical,
                        metavar="SET", help=f"sets to run (default: {', '.join(SETS)})")
    parser.add_argument("--n-windows", type=int, default=4,
                        help="forecast origins per series, a horizon apart (default 4)")
    parser.add_argument("--random-state", type=int, default=0,
                        help="the forecaster's random_state (default 0)")
    parser.add_argument("--ets", action="store_true", help="also AutoETS (statsforecast)")
    parser.add_argument("--limit", type=int, default=None,
                        help="only the first LIMIT series of each set")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT,
                        help="the results' JSON (the table goes next to it, as .md)")
    args = parser.parse_args(argv)
    if args.n_windows < 1:
        parser.error("--n-windows must be at least 1")
    results = {"meta": metadata(), "n_windows": args.n_windows,
               "random_state": args.random_state, "levels": LEVELS, "limit": args.limit,
               "sets": {name: run_set(name, args.n_windows, args.random_state, args.ets,
                                      args.limit)
                        for name in args.sets}}
    args.output.write_text(json.dumps(results, indent=1) + "\n")
    table = markdown(results)
    args.output.with_suffix(".md").write_text(
        "# Interval coverage over rolling origins\n\nWritten by `bench/coverage.py` "
        f"({results['meta']['date']}): for each set, a forecaster refitted at each of "
        f"the last {args.n_windows} forecast origins of every series, a horizon apart "
        "(origin 1 forecasts the official test period); fraction of the truth inside "
        f"the 80% / 95% intervals.\n\n{table}\n")
    print(table)
    print(f"\nwritten to {args.output} and {args.output.with_suffix('.md')}")


if __name__ == "__main__":
    main()
