"""Serving a fitted GRUForecaster: latency of one request, and requests per
second from several threads.

One run fits the defaults (``horizon=12, season_length=12, random_state=0``)
to a synthetic monthly panel of ``--series`` series of 48 to 143 values,
saves and loads it as a server would, warms it up, then times ``predict``
side by side in one process:

- the stored series, all of them, with and without ``level=[80, 95]``;
- one new series sent as a long DataFrame (``unique_id``, ``ds``, ``y``:
  the frame is read and checked: dates, order, duplicates), with levels;
- the same series as a dict of one NumPy array (positions, no dates).

Each is called ``--calls`` times; the median (p50) and 99th percentile of
the calls are printed in ms. Then the one-series requests run from 1, 2 and
4 threads sharing the model for ``--seconds`` each, every answer compared
with the serial one ("same": identical). Run from the repository root::

    python bench/forecast_serving.py
    python bench/forecast_serving.py --series 1000 --calls 100
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time

import numpy as np
import pandas as pd

import fastgru
from fastgru import GRUForecaster


def panel(n_series, seed=0):
    """Monthly series of 48-143 values: a level, a trend, a season, noise."""
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n_series):
        n = int(rng.integers(48, 144))
        t = np.arange(n)
        level = rng.uniform(50, 5000)
        y = level * (1 + rng.normal(0, 0.002) * t
                     + rng.uniform(0, 0.3) * np.sin(2 * np.pi * t / 12 + rng.uniform(0, 6))
                     + rng.normal(0, 0.05, n))
        ds = pd.date_range(end="2024-12-01", periods=n, freq="MS")
        frames.append(pd.DataFrame({"unique_id": f"s{i:04d}", "ds": ds, "y": y}))
    return pd.concat(frames, ignore_index=True)


def timed(call, n):
    """Milliseconds of each of ``n`` calls."""
    out = np.empty(n)
    for k in range(n):
        start = time.perf_counter()
        call()
        out[k] = time.perf_counter() - start
    return out * 1e3


def throughput(call, expected, threads, seconds):
    """Requests per second from ``threads`` threads, and whether every
    answer equalled ``expected``."""
    stop = time.perf_counter() + seconds
    counts, same = [0] * threads, [True] * threads

    def work(j):
        while time.perf_counter() < stop:
            got = call()
            same[j] &= _equal(got, expected)
            counts[j] += 1

    pool = [threading.Thread(target=work, args=(j,)) for j in range(threads)]
    start = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return sum(counts) / (time.perf_counter() - start), all(same)


def _equal(a, b):
    if isinstance(a, pd.DataFrame):
        return a.equals(b)
    return all(np.array_equal(a[k][c], b[k][c]) for k in b for c in b[k])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", type=int, default=150)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--no-warmup", action="store_true",
                        help="skip fastgru.warmup() (its first calls then compile)")
    args = parser.parse_args(argv)
    df = panel(args.series)
    start = time.perf_counter()
    fitted = GRUForecaster(horizon=12, season_length=12, random_state=0).fit(df)
    print(f"fit: {args.series} series, {len(df):,} values, {time.perf_counter() - start:.1f} s")
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.npz")
        fastgru.save(fitted, path)
        model = fastgru.load(path)
    if not args.no_warmup:
        fastgru.warmup()
    one = df[df.unique_id == "s0000"].assign(unique_id="new")
    arrays = {"new": one.y.to_numpy()}
    requests = {
        f"stored, all {args.series} series, levels": lambda: model.predict(level=[80, 95]),
        f"stored, all {args.series} series": lambda: model.predict(),
        "one new series, long DataFrame, levels": lambda: model.predict(y=one, level=[80, 95]),
        "one new series, dict of an array, levels": lambda: model.predict(
            y=arrays, level=[80, 95]),
    }
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    print("\n| request | p50 ms | p99 ms |\n|---|---|---|")
    for name, call in requests.items():
        call()
        ms = timed(call, args.calls)
        print(f"| {name} | {np.percentile(ms, 50):.2f} | {np.percentile(ms, 99):.2f} |")
    print("\n| request | threads | requests/s | same |\n|---|---|---|---|")
    for name in list(requests)[2:]:
        call = requests[name]
        expected = call()
        for threads in (1, 2, 4):
            rate, same = throughput(call, expected, threads, args.seconds)
            print(f"| {name} | {threads} | {rate:.0f} | {'yes' if same else 'NO'} |")
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
