"""The global GRU averaged with statsforecast's AutoTheta: mean MASE per seed.

For each set (the official splits of ``bench/forecasting.py``) and each
seed, it fits ``GRUForecaster(horizon=h, season_length=m, random_state=seed)``
on the long frame of all training series and AutoTheta (``n_jobs=1``) once,
and scores on the test values, with the MASE of ``bench/forecasting.py``:

* ``AutoTheta`` and ``GRU`` alone;
* ``GRU+Theta``, their mean, and ``2GRU+Theta``, two thirds GRU and one
  third Theta (the mix docs/forecasting.md recommends).

Point forecasts only: the GRU's intervals are calibrated on its own errors,
not on a mix's. Usage::

    python bench/combination.py --sets tourism_yearly m1_yearly --seeds 0 1 2
    python bench/combination.py --sets m3_yearly --seeds 0 1   # a held-out set

Each line printed is one set and seed, as JSON; ``--output`` also writes
them and their means per set to a JSON file, keeping the runs of the other
sets already in it.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout: import this fastgru, not another
    sys.path.insert(0, str(ROOT))

from bench.forecasting import _statsforecast, load_set  # noqa: E402

#: The mixes scored beside the two models: name -> weight of the GRU.
MIXES = {"GRU+Theta": 1 / 2, "2GRU+Theta": 2 / 3}
MODELS = ["AutoTheta", "GRU", *MIXES]


def run_set(name, seeds, limit=None):
    """One result per seed: ``{"set", "seed", model: mean MASE, ...}``."""
    from fastgru import GRUForecaster
    from fastgru.metrics import evaluate

    train, test, h, m = load_set(name, limit=limit)
    theta = _statsforecast("AutoTheta", train, h, m)[["unique_id", "ds", "AutoTheta"]]
    results = []
    for seed in seeds:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gru = GRUForecaster(horizon=h, season_length=m, random_state=seed).fit(train)
            fc = gru.predict().rename(columns={"GRUForecaster": "GRU"})
        both = theta.merge(fc, on=["unique_id", "ds"])
        for mix, weight in MIXES.items():
            both[mix] = weight * both["GRU"] + (1 - weight) * both["AutoTheta"]
        scores = evaluate(both, test, train, m, models=MODELS)["mase"]
        results.append({"set": name, "seed": seed,
                        **{model: round(float(scores[model]), 4) for model in MODELS}})
    return results


def means(results):
    """Each set's mean MASE over its seeds, per model."""
    by_set = {}
    for row in results:
        by_set.setdefault(row["set"], []).append(row)
    return {name: {model: round(sum(r[model] for r in rows) / len(rows), 4)
                   for model in MODELS} for name, rows in by_set.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", required=True, metavar="SET",
                        help="sets of bench/forecasting.py (m1_yearly, ..., m3_other)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--limit", type=int, default=None,
                        help="only the first LIMIT series of each set")
    parser.add_argument("--output", default=None, help="write the results as JSON")
    args = parser.parse_args(argv)
    results = []
    for name in args.sets:
        for row in run_set(name, args.seeds, limit=args.limit):
            print(json.dumps(row), flush=True)
            results.append(row)
    for name, row in means(results).items():
        print(f"{name}: mean over seeds {args.seeds}: {json.dumps(row)}")
    if args.output:  # the other sets' runs of an earlier call stay
        path = Path(args.output)
        kept = json.loads(path.read_text())["runs"] if path.exists() else []
        runs = [r for r in kept if r["set"] not in args.sets] + results
        path.write_text(json.dumps({"runs": runs, "means": means(runs)}, indent=1))
    return results


if __name__ == "__main__":
    main()
