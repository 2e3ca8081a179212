"""The default forecaster on one long series: wall time and peak memory of a fit.

Fits ``GRUForecaster(horizon=24, season_length=24, max_epochs=1,
random_state=0)`` to one synthetic series of ``--steps`` values (a cycle of
24 steps, noise and a random walk), each run in a fresh process so that its
peak resident memory is its own fit's (``fastgru.warmup(training=True)``
runs first, untimed; the memory it leaves is reported as ``rss_before``).
A fit past ``MAX_TRAINING_WINDOWS`` training windows trains on a random
sample of them; ``--every-window`` also fits with the cap raised past the
series' origins, every window cut. Usage::

    python bench/long_series.py --steps 2000000 --every-window
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout: import this fastgru, not another
    sys.path.insert(0, str(ROOT))


def _rss_mb() -> float:
    """This process's peak resident memory so far, in MB (Linux: ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fit_once(steps: int, every_window: bool) -> dict:
    """One fit in this process: its time, peak memory and training windows."""
    import numpy as np

    import fastgru
    from fastgru import GRUForecaster, _forecast_fit, forecasting

    fastgru.warmup(training=True)
    rng = np.random.default_rng(0)
    t = np.arange(steps)
    y = 10 * np.sin(2 * np.pi * t / 24) + rng.normal(0, 1, steps) + 0.05 * rng.normal(
        0, 1, steps).cumsum()
    if every_window:
        forecasting.MAX_TRAINING_WINDOWS = steps  # above the series' origins: no sample
    cut = []
    real = forecasting.cut_windows

    def counted(panel, maker, window, train_o, val_o, dtype):
        cut.append(int(sum(len(o) for o in train_o)))
        return real(panel, maker, window, train_o, val_o, dtype)

    forecasting.cut_windows = counted
    before = _rss_mb()
    start = time.perf_counter()
    GRUForecaster(horizon=24, season_length=24, max_epochs=1, random_state=0).fit(y)
    return {"steps": steps, "every_window": every_window,
            "training_windows": cut[0], "cap": _forecast_fit.MAX_TRAINING_WINDOWS,
            "time_s": round(time.perf_counter() - start, 1),
            "rss_before_mb": round(before), "peak_rss_mb": round(_rss_mb()),
            "threads": fastgru.get_num_threads(), "load_average_1min": os.getloadavg()[0]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2_000_000)
    parser.add_argument("--every-window", action="store_true",
                        help="also fit with every training window cut (no sample)")
    parser.add_argument("--child", choices=["sample", "every"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:  # one fit, its result on the last line
        print(json.dumps(fit_once(args.steps, args.child == "every")))
        return None
    results = []
    for mode in ["sample"] + (["every"] if args.every_window else []):
        run = subprocess.run([sys.executable, __file__, "--steps", str(args.steps),
                              "--child", mode], capture_output=True, text=True, check=True)
        results.append(json.loads(run.stdout.strip().splitlines()[-1]))
        print(json.dumps(results[-1]), flush=True)
    return results


if __name__ == "__main__":
    main()
