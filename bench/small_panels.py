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
scores worse than seasonal naive, in how many the default kept the Theta
mix, and the mean coverage of the default's 80% and 95% intervals and its
MSIS at 95% (over the draws whose series are long enough to hold out a
horizon: those without intervals are counted). With ``--pooled-intervals``
it fits the default a second time with every series' interval scale at 1,
the panel's held-out errors as one pool, scores those intervals too, and
counts the draws whose two fits forecast the same (the same networks: all
of them). Usage::

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
LEVELS = [80, 95]
INTERVAL_COLUMNS = ("coverage_80", "coverage_95", "msis_95")


def _fit(tr, h, m, d, weight, pooled=False):
    """The forecaster of draw ``d``; ``pooled``: every series' interval scale 1."""
    from fastgru import GRUForecaster, _forecast_fit

    scales = _forecast_fit.interval_scales
    if pooled:
        _forecast_fit.interval_scales = lambda errors, rows, n_series: np.ones(n_series)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # few held-out forecasts: level warnings
            return GRUForecaster(horizon=h, season_length=m, random_state=d,
                                 theta_weight=weight).fit(tr)
    finally:
        _forecast_fit.interval_scales = scales


def run_set(name, draws, size, pooled=False):
    """Mean MASE over the draws per model, draws worse than seasonal naive,
    draws whose default kept the Theta mix, and the default's intervals'
    scores (with ``pooled``, also those of one pool of held-out errors)."""
    from fastgru.metrics import evaluate

    train, test, h, m = load_set(name)
    ids = train["unique_id"].unique()
    scores = {model: [] for model in MODELS}
    kinds = ("default", "pooled") if pooled else ("default",)
    intervals = {kind: [] for kind in kinds}
    kept = same = no_intervals = 0
    for d in range(draws):
        pick = np.random.default_rng(d).choice(ids, min(size, len(ids)), replace=False)
        tr, te = train[train["unique_id"].isin(pick)], test[test["unique_id"].isin(pick)]
        fitted = {}
        for model, weight in (("default", None), ("networks", 0)):
            fc = fitted[model] = _fit(tr, h, m, d, weight)
            kept += weight is None and fc.theta_weight_ > 0
            scores[model].append(float(evaluate(fc.predict(), te, tr, m, models=[
                "GRUForecaster"]).loc["GRUForecaster", "mase"]))
        no_intervals += fitted["default"].calibration_ is None  # too short to hold out
        for kind in kinds if fitted["default"].calibration_ is not None else ():
            fc = fitted[kind] if kind == "default" else _fit(tr, h, m, d, None, pooled=True)
            same += kind == "pooled" and np.array_equal(  # the same networks' forecasts
                fc.predict().GRUForecaster, fitted["default"].predict().GRUForecaster)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                row = evaluate(fc.predict(level=LEVELS), te, tr, m).loc["GRUForecaster"]
            intervals[kind].append([row[c] for c in INTERVAL_COLUMNS])
        naive = evaluate(_statsforecast("SeasonalNaive", tr, h, m), te, tr, m,
                         models=["SeasonalNaive"])
        scores["seasonal naive"].append(float(naive.loc["SeasonalNaive", "mase"]))
    naive = np.array(scores["seasonal naive"])
    return {"set": name, "draws": draws, "size": size,
            "mase": {k: round(float(np.mean(v)), 3) for k, v in scores.items()},
            "worse_than_naive": {k: int((np.array(scores[k]) > naive).sum())
                                 for k in ("default", "networks")},
            "theta_kept": int(kept),
            "intervals": {kind: dict(zip(INTERVAL_COLUMNS, np.round(np.mean(v, axis=0), 3)
                                         .tolist())) for kind, v in intervals.items() if v},
            "draws_without_intervals": no_intervals,
            **({"pooled_same_forecasts": int(same)} if pooled else {})}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=["m1_yearly", "tourism_yearly",
                                                      "m1_quarterly"])
    parser.add_argument("--draws", type=int, default=20)
    parser.add_argument("--size", type=int, default=9,
                        help="series per draw (more than the set has: all of them)")
    parser.add_argument("--pooled-intervals", action="store_true",
                        help="also score intervals from one pool of held-out errors")
    args = parser.parse_args(argv)
    results = []
    for name in args.sets:
        results.append(run_set(name, args.draws, args.size, args.pooled_intervals))
        print(json.dumps(results[-1]), flush=True)
    return results


if __name__ == "__main__":
    main()
