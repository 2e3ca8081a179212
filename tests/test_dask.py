"""fastgru on Dask and xarray, on one LocalCluster(processes=True, n_workers=2,
threads_per_worker=1) that this module starts and closes.

Tiny models and few epochs: the cluster's start, its workers' warm-up (kernels
loaded from the on-disk cache that this process fills first) and the tests
together stay within a minute or so on an idle 2-core machine.
"""

import logging
import os
import pickle
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import fastgru
from fastgru import gufunc

distributed = pytest.importorskip("distributed")
dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
xr = pytest.importorskip("xarray")
joblib = pytest.importorskip("joblib")
import fastgru.dask  # noqa: E402  (needs dask)

TOL64 = dict(rtol=1e-12, atol=1e-13)
SMALL = dict(hidden_size=4, max_epochs=3, batch_size=16, random_state=0, n_jobs=1)


def test_import_fastgru_imports_no_dask():
    code = ("import sys, numpy as np, fastgru, fastgru.gufunc\n"
            "fastgru.GRU(2, 3).forward(np.ones((1, 2, 2)))\n"
            "bad = [m for m in sys.modules if m.split('.')[0] in "
            "('dask', 'distributed', 'xarray')]\n"
            "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], check=True,
                   cwd=os.path.dirname(os.path.dirname(fastgru.__file__)))


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    # fill the on-disk cache here first, so that the workers load the kernels
    # instead of both compiling them at once
    fastgru.warmup(dtypes=("float32",), training=True)
    gufunc.raw_gufunc("float64", False)
    # Dask's scratch space in the test's own folder, not the system's
    with dask.config.set({"temporary-directory": str(tmp_path_factory.mktemp("dask"))}), \
            distributed.LocalCluster(processes=True, n_workers=2, threads_per_worker=1,
                                     dashboard_address=None,
                                     silence_logs=logging.ERROR) as cluster:
        with distributed.Client(cluster) as client:
            seconds = fastgru.dask.warm_workers(client, training=True, num_threads=1)
            assert len(seconds) == 2
            client.register_plugin(fastgru.dask.WarmupPlugin(training=True, num_threads=1))
            yield client


def _cell(variant="gru1", seed=0, dtype="float64"):
    layer = fastgru.GRU(3, 4, variant=variant, dtype=dtype, random_state=seed)
    return layer, gufunc.cell_arrays(layer)


def test_xarray_apply_ufunc_parallelized_equals_in_memory(client):
    data = np.random.default_rng(0).normal(size=(6, 5, 8, 3))
    x = xr.DataArray(data, dims=("station", "day", "time", "feature"))
    # weights of 2 models along their own dimension: broadcast against x
    models = [_cell("gru1", seed=s)[1] for s in (0, 1)]
    Ws = xr.DataArray(np.stack([m[0] for m in models]), dims=("model", "r0", "feature"))
    Us = xr.DataArray(np.stack([m[1] for m in models]), dims=("model", "r1", "hidden"))
    b1s = xr.DataArray(np.stack([m[2] for m in models]), dims=("model", "r2"))
    assert models[0][3] is None  # gru1 has one bias

    def run(xx):
        return xr.apply_ufunc(
            gufunc.gru_layer, xx, Ws, Us, b1s,
            input_core_dims=[["time", "feature"], ["r0", "feature"], ["r1", "hidden"], ["r2"]],
            output_core_dims=[["time", "hidden"]], kwargs={"variant": "gru1"},
            dask="parallelized", output_dtypes=[np.float64])

    lazy = run(x.chunk({"station": 2, "day": 3}))
    assert lazy.chunks[:2] == ((2, 2, 2), (3, 2))  # lazy, chunked as its input
    out = lazy.compute()
    expected = run(x)
    assert out.dims == ("station", "day", "model", "time", "hidden")
    np.testing.assert_allclose(out.values, expected.values, **TOL64)
    for m, (Wm, Um, b1m, _) in enumerate(models):
        np.testing.assert_allclose(out.values[:, :, m],
                                   gufunc.gru_layer(data, Wm, Um, b1m, variant="gru1"),
                                   **TOL64)


def test_dask_apply_gufunc_equals_in_memory(client):
    layer, (W, U, b1, b2) = _cell("torch")
    data = np.random.default_rng(1).normal(size=(10, 4, 7, 3))
    x = da.from_array(data, chunks=(3, 2, 7, 3))
    lazy = da.apply_gufunc(gufunc.gru_layer, "(t,i),(a,i),(b,h),(c),(d)->(t,h)", x, W, U, b1,
                           b2, variant="torch", output_dtypes=np.float64)
    out = lazy.compute()
    np.testing.assert_allclose(out, gufunc.gru_layer(data, W, U, b1, b2), **TOL64)
    np.testing.assert_allclose(out.reshape(40, 7, 4), layer.forward(data.reshape(40, 7, 3))[0],
                               **TOL64)


def _regression_data(n=64, seed=0):
    X = np.random.default_rng(seed).normal(size=(n, 6, 2))
    return X, X[:, :, 0].mean(axis=1) + 0.5 * X[:, -1, 1]


def test_predict_equals_estimator_predict(client):
    X, y = _regression_data()
    est = fastgru.GRURegressor(**SMALL).fit(X, y)
    lazy = fastgru.dask.predict(est, da.from_array(X, chunks=(8, 3, 2)))
    assert lazy.shape == (64,) and lazy.chunks[0] == (8,) * 8
    np.testing.assert_allclose(lazy.compute(), est.predict(X), rtol=1e-6, atol=1e-7)
    # the model is one node of the graph, not pickled into each chunk's task
    graph_bytes = len(pickle.dumps(dict(lazy.__dask_graph__())))
    assert graph_bytes < len(pickle.dumps(est)) + 8 * X[:8].nbytes + 20_000
    labels = np.where(y > 0, "up", "down")
    clf = fastgru.GRUClassifier(**SMALL).fit(X, labels)
    proba = fastgru.dask.predict(clf, da.from_array(X, chunks=16), method="predict_proba")
    assert proba.shape == (64, 2)
    np.testing.assert_allclose(proba.compute(), clf.predict_proba(X), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(fastgru.dask.predict(clf, da.from_array(X, chunks=16)).compute(),
                                  clf.predict(X))


def test_predict_checks_arguments():
    X, y = _regression_data(n=20)
    est = fastgru.GRURegressor(hidden_size=3, max_epochs=1, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="method must be one of"):
        fastgru.dask.predict(est, X, method="fit")
    with pytest.raises(TypeError, match="no method 'predict_proba'"):
        fastgru.dask.predict(est, X, method="predict_proba")
    with pytest.raises(ValueError, match="darr must be 2- or 3-dimensional"):
        fastgru.dask.predict(est, X[0, 0])
    with pytest.raises(ValueError, match="n_jobs must be"):
        fastgru.dask.predict(est, X, n_jobs=0)
    with pytest.raises(ValueError, match="features"):  # the estimator's own check, up front
        fastgru.dask.predict(est, np.ones((4, 6, 5)))


def test_grid_search_on_dask_backend_equals_n_jobs_1(client):
    from sklearn.model_selection import GridSearchCV

    X, y = _regression_data(n=48)
    grid = {"hidden_size": [3, 5], "learning_rate": [1e-3, 1e-2]}
    base = fastgru.GRURegressor(max_epochs=3, batch_size=16, random_state=0, n_jobs=1)
    serial = GridSearchCV(base, grid, cv=2, n_jobs=1).fit(X, y)
    with joblib.parallel_backend("dask"):
        on_dask = GridSearchCV(base, grid, cv=2, n_jobs=-1).fit(X, y)
    assert on_dask.best_params_ == serial.best_params_
    for key in ("mean_test_score", "split0_test_score", "split1_test_score"):
        np.testing.assert_allclose(on_dask.cv_results_[key], serial.cv_results_[key],
                                   rtol=1e-6)


def _series(n=6, length=50):
    t = np.arange(length, dtype=float)
    return {f"s{k}": np.sin(t / (3 + k)) + 0.1 * k for k in range(n)}


def _serial_forecasts(series, horizon, **params):
    return {name: fastgru.GRUForecaster(**params).fit(values).predict(horizon)
            for name, values in series.items()}


FORECAST = dict(window=8, hidden_size=4, max_epochs=3, random_state=0)


def test_fit_forecasters_equals_serial_loop(client):
    pd = pytest.importorskip("pandas")
    series = _series()
    series["broken"] = np.r_[np.ones(30), np.nan, np.ones(19)]
    series["short"] = np.ones(2)  # too short for one training window
    res = fastgru.dask.fit_forecasters(series, forecast_steps=3, series_per_task=2, **FORECAST)
    assert sorted(res.errors) == ["broken", "short"]
    assert "NaN" in res.errors["broken"] and res.errors["broken"].startswith("ValueError")
    good = {k: v for k, v in series.items() if k not in res.errors}
    expected = _serial_forecasts(good, 3, **FORECAST)
    assert sorted(res.forecasts) == sorted(expected) == sorted(res.models)
    for name, forecast in expected.items():
        np.testing.assert_allclose(res.forecasts[name], forecast, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(res.models[name].predict(3), forecast, rtol=1e-6, atol=1e-7)
    # a DataFrame: one series per column, forecasts as pandas with a continued index
    frame = pd.DataFrame(good, index=pd.date_range("2026-01-01", periods=50, freq="D"))
    res = fastgru.dask.fit_forecasters(frame, forecast_steps=2, return_models=False, **FORECAST)
    assert res.models == {} and not res.errors
    assert res.forecasts["s0"].index[0] == pd.Timestamp("2026-02-20")
    np.testing.assert_allclose(res.forecasts["s0"].to_numpy(), expected["s0"][:2], rtol=1e-6)


def test_fit_forecasters_checks_arguments():
    with pytest.raises(ValueError, match="series is empty"):
        fastgru.dask.fit_forecasters({})
    with pytest.raises(TypeError, match="series must be"):
        fastgru.dask.fit_forecasters(np.ones(5))
    with pytest.raises(ValueError, match="series_per_task"):
        fastgru.dask.fit_forecasters(_series(1), series_per_task=0)
    with pytest.raises(ValueError, match="forecast_steps"):
        fastgru.dask.fit_forecasters(_series(1), forecast_steps=0)
    with pytest.raises(ValueError, match="horizon"):  # the forecaster's own
        fastgru.dask.fit_forecasters(_series(1), horizon=0)
    with pytest.raises(ValueError, match="hidden_size"):
        fastgru.dask.fit_forecasters(_series(1), hidden_size=-1)
    with pytest.raises(TypeError, match="unexpected keyword"):
        fastgru.dask.fit_forecasters(_series(1), hidden_sise=4)


def _processing_transitions(key, dask_scheduler=None):
    return sum(1 for t in dask_scheduler.story(key) if t[2] == "processing")


def test_worker_killed_mid_task_loses_nothing(client):
    # 2 tasks of 4 fits each (about a second a task): one worker is killed
    # while it runs one; the nanny restarts it and the scheduler runs the
    # task again
    series = _series(8, length=160)
    params = dict(FORECAST, max_epochs=40)
    pids = client.run(os.getpid)
    box = {}
    runner = threading.Thread(target=lambda: box.update(
        res=fastgru.dask.fit_forecasters(series, forecast_steps=2, series_per_task=4,
                                         **params)))
    runner.start()
    deadline = time.monotonic() + 120
    busy = []
    while not busy and time.monotonic() < deadline:
        # kill as soon as a worker holds a task: a task of about a second is
        # then still running (a stale list, or waiting, let the task finish
        # first now and then, and nothing ran again)
        busy = [(addr, keys) for addr, keys in client.processing().items() if keys]
        if not busy:
            time.sleep(0.01)
    assert busy, "no task started"
    victim, keys = busy[0]
    os.kill(pids[victim], signal.SIGKILL)
    runner.join(timeout=300)
    assert not runner.is_alive()
    res = box["res"]
    assert not res.errors and sorted(res.forecasts) == sorted(series)
    # the killed worker's task was started again
    assert client.run_on_scheduler(_processing_transitions, keys[0]) >= 2
    expected = _serial_forecasts(series, 2, **params)
    for name, forecast in expected.items():
        np.testing.assert_allclose(res.forecasts[name], forecast, rtol=1e-6, atol=1e-7)
    client.wait_for_workers(2, timeout=120)  # the nanny restarted the killed one
    assert pids[victim] not in client.run(os.getpid).values()


def test_fit_forecasters_passes_the_forecasters_horizon():
    """``horizon`` is the forecaster's (steps forecast at once); the forecast
    length of fit_forecasters is ``forecast_steps``."""
    series = _series(2, length=60)
    params = dict(window=14, horizon=7, hidden_size=4, max_epochs=2, random_state=0)
    res = fastgru.dask.fit_forecasters(series, forecast_steps=7, scheduler="sync", **params)
    assert not res.errors
    for name, values in series.items():
        assert res.models[name].horizon == 7
        expected = fastgru.GRUForecaster(**params).fit(values).predict()
        assert expected.shape == (7,)
        np.testing.assert_allclose(res.forecasts[name], expected, rtol=1e-6, atol=1e-7)
    # without forecast_steps: the models only
    res = fastgru.dask.fit_forecasters(series, scheduler="sync", **params)
    assert res.forecasts == {} and sorted(res.models) == sorted(series)


class _KillsItsWorker:
    """A series that ends the process that reads it: its worker dies in every
    fit of it, as one the nanny kills for its memory would. Only a fit reads
    it (``np.asarray``); fit_forecasters sends it unread."""

    def __array__(self, dtype=None, copy=None):
        os._exit(17)


def test_a_poison_series_loses_only_itself(tmp_path):
    """A series too large for the workers is reported without being sent; a
    series that kills every worker it reaches is reported as KilledWorker once
    Dask gives up on it; the series sent with it in one task, and all others,
    are fitted and returned."""
    series = _series(4, length=100)
    # 2 million steps: windows of 64 need ~1.5 GiB, the workers have 1 GB each
    series["huge"] = np.sin(np.arange(2_000_000) / 50.0)
    series["poison"] = _KillsItsWorker()
    order = ["s0", "s1", "s2", "poison", "huge", "s3"]
    series = {name: series[name] for name in order}
    params = dict(FORECAST, window=64, max_epochs=2)
    with dask.config.set({"distributed.scheduler.allowed-failures": 0,
                          "temporary-directory": str(tmp_path)}):
        with distributed.LocalCluster(processes=True, n_workers=2, threads_per_worker=1,
                                      memory_limit="1GB", dashboard_address=None,
                                      silence_logs=logging.CRITICAL) as cluster:
            with distributed.Client(cluster, set_as_default=False) as own:
                res = fastgru.dask.fit_forecasters(series, forecast_steps=2,
                                                   series_per_task=2, scheduler=own,
                                                   **params)
    assert sorted(res.errors) == ["huge", "poison"]
    assert res.errors["huge"].startswith("MemoryError") and "not sent" in res.errors["huge"]
    assert res.errors["poison"].startswith("KilledWorker"), res.errors["poison"]
    healthy = {k: v for k, v in series.items() if k.startswith("s")}
    assert list(res.forecasts) == list(healthy)  # s2 shared a task with the poison
    expected = _serial_forecasts(healthy, 2, **params)
    for name, forecast in expected.items():
        np.testing.assert_allclose(res.forecasts[name], forecast, rtol=1e-6, atol=1e-7)
