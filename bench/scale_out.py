"""The cost of going distributed on one machine: fastgru on a 2-worker
LocalCluster against the same work in this process.

Run: ``PYTHONPATH=. python bench/scale_out.py [--samples 8192] [--series 200]`` (from the
repository root). Prints, as JSON, the median of ``--repeats`` timings of:

* ``predict_inprocess``: ``est.predict(X)`` here with 2 kernel threads
  (``n_jobs=2``);
* ``predict_cluster``: ``fastgru.dask.predict(est, da.from_array(X))`` on
  ``LocalCluster(processes=True, n_workers=2, threads_per_worker=1)``, the
  data sent from here each time;
* ``predict_cluster_persisted``: the same with ``X`` already on the workers
  (``persist``), as when the data are loaded by the workers themselves;
* ``fit_serial``: a loop of ``GRUForecaster(...).fit(s).predict(h)`` over
  ``--series`` series here (``n_jobs=1``);
* ``fit_cluster``: :func:`fastgru.dask.fit_forecasters` on the cluster.

and the ratios cluster / in-process. The workers are warmed first
(:func:`fastgru.dask.warm_workers`); start-up and warm-up are reported apart.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import time

import numpy as np


def _median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=8192)
    parser.add_argument("--chunk", type=int, default=1024)
    parser.add_argument("--series", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    import dask.array as da
    from dask.distributed import Client, LocalCluster

    import fastgru
    import fastgru.dask

    rng = np.random.default_rng(0)
    X = rng.normal(size=(args.samples, 50, 4)).astype(np.float32)
    y = X[:, -10:, 0].mean(axis=1)
    est = fastgru.GRURegressor(hidden_size=32, max_epochs=2, random_state=0)
    est.fit(X[:512], y[:512])
    t = np.arange(200.0)
    series = {k: np.sin(t / (3 + k % 17)) + 0.01 * k for k in range(args.series)}
    params = dict(window=12, hidden_size=8, max_epochs=20, random_state=0, n_jobs=1)
    fastgru.warmup(training=True)

    out = {"samples": args.samples, "chunk": args.chunk, "series": args.series,
           "model_bytes": len(__import__("pickle").dumps(est))}
    est.set_params(n_jobs=2)
    est.predict(X[:64])
    out["predict_inprocess"] = _median_time(lambda: est.predict(X), args.repeats)

    def serial_fits():
        return {k: fastgru.GRUForecaster(**params).fit(s).predict(3) for k, s in series.items()}

    out["fit_serial"] = _median_time(serial_fits, 1)

    start = time.perf_counter()
    with LocalCluster(processes=True, n_workers=2, threads_per_worker=1,
                      dashboard_address=None, silence_logs=logging.ERROR) as cluster, \
            Client(cluster) as client:
        out["cluster_start"] = time.perf_counter() - start
        start = time.perf_counter()
        fastgru.dask.warm_workers(client, training=True, num_threads=1)
        out["workers_warmup"] = time.perf_counter() - start
        darr = da.from_array(X, chunks=(args.chunk, -1, -1))
        fastgru.dask.predict(est, darr[: 2 * args.chunk]).compute()
        out["predict_cluster"] = _median_time(
            lambda: fastgru.dask.predict(est, darr).compute(), args.repeats)
        persisted = darr.persist()
        client.wait_for_workers(2)
        out["predict_cluster_persisted"] = _median_time(
            lambda: fastgru.dask.predict(est, persisted).compute(), args.repeats)
        res = {}
        out["fit_cluster"] = _median_time(
            lambda: res.update(r=fastgru.dask.fit_forecasters(series, forecast_steps=3,
                                                              **params)), 1)
        assert not res["r"].errors
    out["ratio_predict_cluster"] = out["predict_cluster"] / out["predict_inprocess"]
    out["ratio_predict_cluster_persisted"] = (out["predict_cluster_persisted"]
                                              / out["predict_inprocess"])
    out["ratio_fit_cluster"] = out["fit_cluster"] / out["fit_serial"]
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
