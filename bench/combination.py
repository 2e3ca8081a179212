"""The global GRU's networks averaged with the optimised Theta model: mean MASE per seed.

For each set (the official splits of ``bench/forecasting.py``) and each
seed, it fits ``GRUForecaster(horizon=h, season_length=m, random_state=seed)``
on the long frame of all training series, and
``fastgru.forecasting.optimized_theta`` once, and scores on the test
values, with the MASE of ``bench/forecasting.py``:

* ``Theta`` and ``GRU`` (the networks) alone;
* ``GRU+Theta``, their mean, and ``2GRU+Theta``, two thirds GRU and one
  third Theta (``theta_weight=1/3``);
* ``default``: the forecaster's own forecast, which mixes in a third of
  Theta unless that raises the error of the held-out end by more than 10%
  (``theta_weight_``, recorded as ``weight``).

The networks' forecast is the default's with Theta's share taken out (the
networks are the same whatever the weight).

Point forecasts only. Usage::

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

from bench.forecasting import load_set  # noqa: E402

#: The mixes scored beside the two models: name -> weight of the GRU.
MIXES = {"GRU+Theta": 1 / 2, "2GRU+Theta": 2 / 3}
MODELS = ["Theta", "GRU", *MIXES, "default"]


def run_set(name, seeds, limit=None):
    """One result per seed: ``{"set", "seed", model: mean MASE, ...}``."""
    import pandas as pd

    from fastgru import GRUForecaster
    from fastgru.forecasting import optimized_theta
    from fastgru.metrics import evaluate

    train, test, h, m = load_set(name, limit=limit)
    groups = train.groupby("unique_id", sort=False)
    fc = optimized_theta([g["y"].to_numpy() for _, g in groups], h, m)
    theta = pd.DataFrame({  # the ds after each series' last
        "unique_id": [uid for uid, _ in groups for _ in range(h)],
        "ds": [int(g["ds"].iloc[-1]) + k for _, g in groups for k in range(1, h + 1)],
        "Theta": fc.ravel()})
    results = []
    for seed in seeds:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gru = GRUForecaster(horizon=h, season_length=m, random_state=seed).fit(train)
            fc = gru.predict().rename(columns={"GRUForecaster": "default"})
        both = theta.merge(fc, on=["unique_id", "ds"])
        w = gru.theta_weight_
        both["GRU"] = (both["default"] - w * both["Theta"]) / (1 - w)
        for mix, weight in MIXES.items():
            both[mix] = weight * both["GRU"] + (1 - weight) * both["Theta"]
        scores = evaluate(both, test, train, m, models=MODELS)["mase"]
        results.append({"set": name, "seed": seed, "weight": round(w, 4),
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
