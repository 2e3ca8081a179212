"""The default forecaster on small panels: random draws of a few series.

A global model learns from the panel it is given. For each set (the
official splits of ``bench/forecasting.py``) and each draw ``d`` of
``--draws``, it picks ``--size`` series at random
(``numpy.random.default_rng(d)``), fits ``GRUForecaster(horizon=h,
season_length=m, random_state=d)`` on them, once with the default Theta mix
and once with the networks alone (``theta_weight=0``), and scores both and
the seasonal naive baseline of ``bench/forecasting.py`` (statsforecast's
``SeasonalNaive``) on the draw's test values, with its MASE. It prints,
per set, the mean MASE over the draws, how many draws each forecaster
scores worse than seasonal naive, and in how many the default kept the
Theta mix. Usage::

    python bench/small_panels.py --sets m1_yearly tourism_yearly m1_quarterly
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout: import this fastgru, not another
    sys.path.insert(0, str(ROOT))

from bench.forecasting import _statsforecast, load_set  # noqa: E402

MODELS = ("default", "networks", "seasonal naive")


def run_set(name, draws, size):
    """Mean MASE over the draws per model, draws worse than seasonal naive,
    and draws whose default kept the Theta mix."""
    from fastgru import GRUForecaster
    from fastgru.metrics import evaluate

    train, test, h, m = load_set(name)
    ids = train["unique_id"].unique()
    scores = {model: [] for model in MODELS}
    kept = 0
    for d in range(draws):
        pick = np.random.default_rng(d).choice(ids, size, replace=False)
        tr, te = train[train["unique_id"].isin(pick)], test[test["unique_id"].isin(pick)]
        for model, weight in (("default", None), ("networks", 0)):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # few held-out forecasts: level warnings
                fc = GRUForecaster(horizon=h, season_length=m, random_state=d,
                                   theta_weight=weight).fit(tr)
            kept += weight is None and fc.theta_weight_ > 0
            scores[model].append(float(evaluate(fc.predict(), te, tr, m, models=[
                "GRUForecaster"]).loc["GRUForecaster", "mase"]))
        naive = evaluate(_statsforecast("SeasonalNaive", tr, h, m), te, tr, m,
                         models=["SeasonalNaive"])
        scores["seasonal naive"].append(float(naive.loc["SeasonalNaive", "mase"]))
    naive = np.array(scores["seasonal naive"])
    return {"set": name, "draws": draws, "size": size,
            "mase": {k: round(float(np.mean(v)), 3) for k, v in scores.items()},
            "worse_than_naive": {k: int((np.array(scores[k]) > naive).sum())
                                 for k in ("default", "networks")},
            "theta_kept": int(kept)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=["m1_yearly", "tourism_yearly",
                                                      "m1_quarterly"])
    parser.add_argument("--draws", type=int, default=20)
    parser.add_argument("--size", type=int, default=9, help="series per draw")
    args = parser.parse_args(argv)
    results = []
    for name in args.sets:
        results.append(run_set(name, args.draws, args.size))
        print(json.dumps(results[-1]), flush=True)
    return results


if __name__ == "__main__":
    main()
