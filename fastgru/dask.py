"""fastgru on Dask: batch prediction over dask arrays, many models at once.

Needs the ``dask`` extra (``pip install "fastgru[dask]"``: ``dask[distributed]``
and ``xarray``); ``import fastgru`` never imports it. Every function runs on
Dask's current scheduler: a ``dask.distributed.Client`` once one is created
(a ``LocalCluster`` or a real cluster), else Dask's local threads.

* :func:`predict`: an estimator's ``predict`` (or ``predict_proba``, ...)
  over a dask array of sequences, chunk by chunk, returning a dask array. The
  estimator is one task of the graph (``dask.delayed``), so each worker
  receives it once, not once per chunk.
* :func:`fit_forecasters`: one :class:`fastgru.GRUForecaster` per series,
  fitted in parallel tasks; a series whose fit fails is reported in the
  result's ``errors``, the others are returned.
* :func:`warm_workers` and :class:`WarmupPlugin`: compile (or load from the
  on-disk cache) fastgru's kernels on every worker before the work arrives.

Grid searches need nothing from this module: scikit-learn's ``GridSearchCV``
runs on joblib's Dask backend (``with joblib.parallel_backend("dask"): ...``);
see ``docs/scale-out.md``.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import numpy as np

try:
    import dask
    import dask.array as da
except ImportError as exc:  # pragma: no cover - the extra is not installed
    raise ImportError(
        'fastgru.dask needs dask: pip install "fastgru[dask]" (dask[distributed] and xarray)'
    ) from exc

from . import _config, _runtime
from ._validation import check_bool, check_dtype, check_int

__all__ = ["predict", "fit_forecasters", "ForecastResults", "warm_workers", "WarmupPlugin"]

_METHODS = ("predict", "predict_proba", "predict_log_proba", "transform")


def _predict_chunk(block, estimator, method, n_jobs):
    with _runtime.threads(n_jobs):
        return np.asarray(getattr(estimator, method)(block))


def predict(estimator, darr, *, method="predict", n_jobs=1):
    """``estimator.<method>`` over a dask array of sequences, chunk by chunk.

    Parameters
    ----------
    estimator : fitted fastgru estimator
        A :class:`fastgru.GRURegressor`, :class:`fastgru.GRUClassifier` (or
        a pipeline ending in one): anything whose ``method`` takes ``X``
        ``(n_samples, n_timesteps[, n_features])`` and returns one row per
        sample.
    darr : dask.array.Array or array-like (n_samples, n_timesteps[, n_features])
        Chunked along the samples; chunks along the other axes are merged
        (each task needs whole sequences).
    method : {"predict", "predict_proba", "predict_log_proba", "transform"}
    n_jobs : int or None, default 1
        Kernel threads per task. 1 suits workers that run one task per core
        (a worker's threads already run chunks in parallel); None uses each
        worker's fastgru setting.

    Returns
    -------
    dask.array.Array
        ``(n_samples,)`` or ``(n_samples, k)``, chunked as ``darr``'s samples.
        Its dtype and trailing shape come from one sample predicted here, when
        the graph is built.

    Notes
    -----
    The estimator enters the graph once, as a ``dask.delayed`` task that
    every chunk's task depends on: a distributed worker fetches it once and
    keeps it while the chunks run; it is not pickled into every task. A
    fitted estimator's size (``len(pickle.dumps(est))``) is what travels to
    each worker, plus each chunk's data.

    Examples
    --------
    >>> import numpy as np, dask.array as da, fastgru, fastgru.dask
    >>> X = np.random.default_rng(0).normal(size=(40, 6, 2))
    >>> est = fastgru.GRURegressor(hidden_size=4, max_epochs=2, random_state=0)
    >>> est = est.fit(X, X[:, -1, 0])
    >>> pred = fastgru.dask.predict(est, da.from_array(X, chunks=10))
    >>> bool(np.allclose(pred.compute(), est.predict(X)))
    True
    """
    if method not in _METHODS:
        raise ValueError(f"method must be one of {', '.join(map(repr, _METHODS))}, "
                         f"got {method!r}")
    if not hasattr(estimator, method):
        raise TypeError(f"estimator ({type(estimator).__name__}) has no method {method!r}")
    if n_jobs is not None and (isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral)
                               or n_jobs == 0):
        raise ValueError(f"n_jobs must be None or a non-zero integer, got {n_jobs!r}")
    if not isinstance(darr, da.Array):
        try:
            darr = da.from_array(np.asarray(darr))
        except ValueError as exc:  # ragged sequences: numpy's "inhomogeneous shape"
            raise ValueError(f"darr must be a rectangular array (n_samples, n_timesteps"
                             f"[, n_features]); pad ragged sequences first ({exc})") from None
    if darr.ndim not in (2, 3):
        raise ValueError(f"darr must be 2- or 3-dimensional (n_samples, n_timesteps"
                         f"[, n_features]), got shape {darr.shape}")
    if any(math.isnan(s) for s in darr.shape):
        raise ValueError(f"darr must have known chunk sizes (call compute_chunk_sizes()), "
                         f"got shape {darr.shape}")
    if darr.shape[0] == 0:
        raise ValueError(f"darr is empty (shape {darr.shape})")
    darr = darr.rechunk({axis: -1 for axis in range(1, darr.ndim)})
    # the output's trailing shape and dtype, from one sample predicted here
    # (an estimator not fitted, or of the wrong feature count, fails here)
    probe = _predict_chunk(np.zeros((1, *darr.shape[1:]), dtype=darr.dtype), estimator, method,
                           n_jobs)
    model = dask.delayed(estimator, pure=True, traverse=False)
    tail = probe.shape[1:]
    out_chunks = (darr.chunks[0], *((n,) for n in tail))
    drop = tuple(range(1 + len(tail), darr.ndim))
    new = tuple(range(darr.ndim, 1 + len(tail)))
    return da.map_blocks(_predict_chunk, darr, model, method, n_jobs, dtype=probe.dtype,
                         chunks=out_chunks, drop_axis=drop or None, new_axis=new or None,
                         meta=np.empty((0, *tail), dtype=probe.dtype))


@dataclass
class ForecastResults:
    """What :func:`fit_forecasters` returns, keyed by series name.

    Attributes
    ----------
    models : dict
        The fitted :class:`fastgru.GRUForecaster` of every series that fitted
        (empty when ``return_models=False``).
    forecasts : dict
        Each fitted series' forecast (``predict(forecast_steps)``), when asked for.
    errors : dict
        ``"ExceptionType: message"`` for every series whose fit or forecast
        failed, that would need more memory than a worker has (not sent), or
        whose worker died while fitting it (``KilledWorker``); the other
        series are unaffected.
    """

    models: dict = field(default_factory=dict)
    forecasts: dict = field(default_factory=dict)
    errors: dict = field(default_factory=dict)


def _fit_group(group, params, steps, return_models):
    from .forecasting import GRUForecaster

    out = []
    for name, values in group:
        try:
            model = GRUForecaster(**params).fit(values)
            forecast = None if steps is None else model.predict(steps)
            out.append((name, model if return_models else None, forecast, None))
        except Exception as exc:  # one series' failure is reported, not fatal
            out.append((name, None, None, f"{type(exc).__name__}: {exc}"))
    return out


def _named_series(series):
    """``[(name, values)]`` from a dict, a pandas DataFrame (one series per
    column) or a 2-D array (one series per column)."""
    if isinstance(series, dict):
        items = list(series.items())
    elif hasattr(series, "columns") and hasattr(series, "items"):  # a pandas DataFrame
        if "unique_id" in series.columns and "y" in series.columns:
            # read as columns, its ids, dates and values would each be a series
            raise TypeError("series is a long DataFrame (unique_id, y): fit_forecasters "
                            "takes one series per column; pass {k: g.set_index('ds')['y'] "
                            "for k, g in df.sort_values('ds').groupby('unique_id')} (each "
                            "series dated by its ds), or fit one GRUForecaster on the long "
                            "frame")
        items = [(name, col) for name, col in series.items()]
        if series.columns.has_duplicates:  # their results would share one key
            raise ValueError(f"series has columns of the same name "
                             f"{series.columns[series.columns.duplicated()].unique()[:5].tolist()}"
                             ": name each series once")
    elif isinstance(series, (list, tuple)):  # as an array, a list of series would be transposed
        raise TypeError("series must be a dict of series, a pandas DataFrame or a 2-D numeric "
                        "array (n_timesteps, n_series), got a list: pass "
                        "dict(enumerate(series)) for a list of series")
    else:
        arr = np.asarray(series)
        if arr.ndim != 2 or arr.dtype.kind not in "biuf":
            raise TypeError("series must be a dict of series, a pandas DataFrame or a 2-D "
                            f"numeric array (n_timesteps, n_series), got {type(series).__name__}"
                            + (f" of shape {arr.shape}" if arr.ndim != 2 else ""))
        items = [(j, arr[:, j]) for j in range(arr.shape[1])]
    if not items:
        raise ValueError("series is empty: no series to fit")
    return items


def _fit_bytes(values, config) -> int | None:
    """About the peak memory of ``GRUForecaster(**config).fit(values)``: its
    windows (of the longest window its models read) in the model's dtype
    (twice: the last epochs train on them joined with the held-out ones)
    and the float64 temporaries of cutting them, their float64 targets,
    seasonal naive forecasts and scales, and copies of the series (measured
    with tracemalloc: within 20% of the peak of a 3,000-step series). None
    when the series' length cannot be read without converting it."""
    shape = getattr(values, "shape", None)
    if shape is None:
        try:
            shape = (len(values),)
        except TypeError:
            return None
    if not shape or not all(isinstance(s, numbers.Integral) for s in shape):
        return None
    n_steps = int(shape[0])
    n_series = math.prod(int(s) for s in shape[1:])
    horizon, season = config["horizon"], config["season_length"]
    from .forecasting import default_window, ensemble_size, member_windows

    window = config["window"] or default_window(horizon, season)
    n_windows = max(0, n_steps - min(window, max(2, season)) - horizon + 1)
    # an ensemble's longest window (its windows are cut one model at a time)
    window = max(member_windows(window, ensemble_size(min(n_windows * n_series, 2**31 - 1),
                                                      config.get("n_models"))))
    features = 1 + (season > 1)  # the seasonal difference is a second input
    # the inputs twice, and three float64 temporaries of cutting them
    per_window = (2 * features * np.dtype(config["dtype"]).itemsize + 24) * window \
        + 20 * horizon + 32
    return n_windows * n_series * per_window + 3 * 8 * n_steps * n_series


def _memory_per_task(client) -> int | None:
    """The most memory one task may take on the cluster: the largest of the
    workers' room below the fraction of their memory limit at which the
    nanny kills them (None: no limit known or no worker is killed)."""
    if client is None:
        from ._validation import _PHYSICAL_MEMORY

        return _PHYSICAL_MEMORY  # Dask's local schedulers: this process
    terminate = dask.config.get("distributed.worker.memory.terminate", 0.95)
    if not terminate:
        return None
    try:
        workers = client.scheduler_info(n_workers=-1)  # every worker, not the first few
    except TypeError:  # pragma: no cover - a distributed without n_workers
        workers = client.scheduler_info()
    rooms = []
    for info in workers.get("workers", {}).values():
        limit = info.get("memory_limit") or 0
        if not limit:
            return None  # a worker without a limit
        used = (info.get("metrics") or {}).get("memory", 0) or 0
        rooms.append(limit * terminate - used)
    return int(max(rooms)) if rooms else None


def _current_client(scheduler):
    """The distributed Client the tasks run on, or None for Dask's local
    schedulers (``scheduler`` names one, or no client exists)."""
    try:
        from distributed import Client, default_client
    except ImportError:  # pragma: no cover - dask without distributed
        return None
    if isinstance(scheduler, Client):
        return scheduler
    if scheduler not in (None, "distributed", "dask.distributed"):
        return None
    try:
        return default_client()
    except ValueError:  # no client: dask.compute uses its local threads
        return None


def _run_on_client(client, groups, args):
    """Each group's results. The series of a task that failed as a whole (its
    worker died until the scheduler gave up, ``KilledWorker``) are tried
    again, each alone and one at a time, so that a death is then that
    series' own and not that of a series queued on the same worker; a
    series that fails alone is reported for itself."""
    from distributed import as_completed

    results, again = [], []
    futures = {client.submit(_fit_group, g, *args, pure=False): g for g in groups}
    for future in as_completed(futures, loop=client.loop):
        try:
            results.append(future.result())
        except Exception:
            again.extend(futures[future])
        finally:
            future.release()
    for item in again:
        future = client.submit(_fit_group, [item], *args, pure=False)
        try:
            results.append(future.result())
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}"
            if type(exc).__name__ == "KilledWorker":
                message += (" (the worker fitting this series alone died, e.g. killed for "
                            "exceeding its memory limit)")
            results.append([(item[0], None, None, message)])
        finally:
            future.release()
    return results


def fit_forecasters(series, *, forecast_steps=None, return_models=True, series_per_task=1,
                    scheduler=None, **params):
    """Fit one :class:`fastgru.GRUForecaster` per series, in parallel Dask tasks.

    Parameters
    ----------
    series : dict, pandas.DataFrame or 2-D array
        Named series (``{name: 1-D array or pandas Series}``), one series per
        DataFrame column, or per column of an ``(n_timesteps, n_series)`` array
        (named by column number). A long frame (``unique_id``, ``y`` columns)
        is refused: group it into a dict first.
    forecast_steps : int, optional
        Also forecast this many steps after each series
        (``model.predict(forecast_steps)``); None: no forecasts.
    return_models : bool, default True
        Return the fitted models (set False to move forecasts only: a model is
        larger than its forecast).
    series_per_task : int, default 1
        Series fitted one after the other in one task: raise it for thousands
        of short fits, so that per-task overhead (about a millisecond with
        distributed) stays small against the fits.
    scheduler : str or dask.distributed.Client, optional
        Passed to ``dask.compute``; by default the current client, if any.
    **params
        ``GRUForecaster`` parameters, the same for every series, its own
        ``window`` and ``horizon`` (steps the model forecasts at once)
        included. ``n_jobs`` defaults to 1 here: one fit per worker thread.
        An int ``random_state`` seeds every series' model alike, as a serial
        loop with that ``random_state`` would.

    Returns
    -------
    ForecastResults
        ``models``, ``forecasts`` and ``errors``, keyed by series name.

    Notes
    -----
    One series cannot lose the others' results. Before sending, each
    series' fit memory is estimated from its length (its windows); one that
    would need more than any worker has below its memory limit (or, on
    Dask's local schedulers, than this machine has) is reported in
    ``errors`` and not sent. On a distributed client each task is awaited on
    its own. When Dask gives up on a task whose workers died (after
    ``distributed.scheduler.allowed-failures`` deaths, 3 by default:
    ``KilledWorker``), each of its series is tried once more, alone and one
    at a time, so that a series merely queued on the dying worker is fitted,
    and a series whose own fit kills its worker is reported; the others are
    returned.

    Examples
    --------
    >>> import numpy as np, fastgru.dask
    >>> t = np.arange(60.0)
    >>> series = {"a": np.sin(t / 5), "b": np.cos(t / 7), "bad": np.array([1.0, np.nan])}
    >>> res = fastgru.dask.fit_forecasters(series, forecast_steps=3, window=8, horizon=3,
    ...                                    hidden_size=4, max_epochs=2, random_state=0,
    ...                                    scheduler="sync")
    >>> sorted(res.forecasts), sorted(res.errors), res.models["a"].horizon
    (['a', 'b'], ['bad'], 3)
    """
    from .forecasting import MAX_STEPS, GRUForecaster

    series_per_task = check_int("series_per_task", series_per_task)
    if forecast_steps is not None:  # predict's bound, checked before any fit
        forecast_steps = check_int("forecast_steps", forecast_steps, maximum=MAX_STEPS)
    return_models = check_bool("return_models", return_models)
    params.setdefault("n_jobs", 1)
    # unknown or invalid parameters fail here, once, not in every task
    model = GRUForecaster(**params)
    model._validate_params()
    config = model.get_params()
    items = _named_series(series)
    client = _current_client(scheduler)
    room = _memory_per_task(client)
    results = ForecastResults()
    sendable = []
    for name, values in items:
        need = _fit_bytes(values, config)
        if room is not None and need is not None and need > room:
            results.errors[name] = (
                f"MemoryError: fitting this series (window={config['window']}, "
                f"horizon={config['horizon']}) needs about {need / 2**30:.3g} GiB, more than "
                f"a worker has ({max(room, 0) / 2**30:.3g} GiB below its memory limit): not "
                "sent; shorten the series or the window, or give the workers more memory")
        else:
            sendable.append((name, values))
    groups = [sendable[i : i + series_per_task]
              for i in range(0, len(sendable), series_per_task)]
    args = (params, forecast_steps, return_models)
    if client is not None:
        outcomes = _run_on_client(client, groups, args)
    else:
        tasks = [dask.delayed(_fit_group, pure=False)(g, *args) for g in groups]
        outcomes = dask.compute(*tasks, scheduler=scheduler)
    for group in outcomes:
        for name, model, forecast, error in group:
            if error is not None:
                results.errors[name] = error
                continue
            if return_models:
                results.models[name] = model
            if forecast_steps is not None:
                results.forecasts[name] = forecast
    order = {name: i for i, (name, _) in enumerate(items)}  # the input's order
    for attr in ("models", "forecasts", "errors"):
        table = getattr(results, attr)
        setattr(results, attr, dict(sorted(table.items(), key=lambda kv: order[kv[0]])))
    return results


def _warm_arguments(dtypes, training, num_threads):
    """``(dtypes as a tuple of names, training, num_threads)``, checked here,
    before they reach the workers (where a bad value would fail on every one)."""
    if isinstance(dtypes, (str, np.dtype, type)):
        raise TypeError(f"dtypes must be a sequence of dtypes such as ('float32',), "
                        f"got {dtypes!r}")
    dtypes = tuple(check_dtype(d).name for d in dtypes)
    training = check_bool("training", training)
    if num_threads is not None:
        num_threads = check_int("num_threads", num_threads)
    return dtypes, training, num_threads


def _warm(dtypes, training, num_threads):
    from ._warmup import warmup

    if num_threads is not None:
        _runtime.set_num_threads(min(num_threads, _config.MAX_BLOCKS))
    seconds = warmup(dtypes=dtypes, training=training)
    return seconds


def warm_workers(client, *, dtypes=("float32",), training=True, num_threads=None):
    """Run :func:`fastgru.warmup` on every worker of ``client`` now.

    Parameters
    ----------
    client : dask.distributed.Client
    dtypes : sequence of {"float32", "float64"}, default ("float32",)
    training : bool, default True
        Also compile backpropagation (for ``fit`` on the workers).
    num_threads : int, optional
        Also :func:`fastgru.set_num_threads` on each worker (e.g. its
        ``nthreads``, or 1 where several single-threaded workers share a
        machine).

    Returns
    -------
    dict
        Seconds each worker took, by worker address. Workers that join
        later are not warmed: register :class:`WarmupPlugin` for them.

    Examples
    --------
    >>> import fastgru.dask
    >>> from dask.distributed import Client, LocalCluster
    >>> with LocalCluster(n_workers=1, threads_per_worker=1, processes=False) as cluster:
    ...     with Client(cluster) as client:
    ...         seconds = fastgru.dask.warm_workers(client, training=False)
    """
    dtypes, training, num_threads = _warm_arguments(dtypes, training, num_threads)
    return client.run(_warm, dtypes, training, num_threads)


def _worker_plugin_base():
    try:
        from distributed.diagnostics.plugin import WorkerPlugin
    except ImportError:  # pragma: no cover - dask without distributed
        return object
    return WorkerPlugin


class WarmupPlugin(_worker_plugin_base()):
    """A Dask worker plugin that warms fastgru on every worker as it starts,
    including workers that join or are restarted later.

    Parameters
    ----------
    dtypes : sequence of {"float32", "float64"}, default ("float32",)
    training : bool, default True
    num_threads : int, optional
        See :func:`warm_workers`.

    Examples
    --------
    >>> import fastgru.dask
    >>> from dask.distributed import Client, LocalCluster
    >>> with LocalCluster(n_workers=1, threads_per_worker=1, processes=False) as cluster:
    ...     with Client(cluster) as client:
    ...         result = client.register_plugin(fastgru.dask.WarmupPlugin(training=False))
    """

    name = "fastgru-warmup"

    def __init__(self, dtypes=("float32",), training=True, num_threads=None):
        self.dtypes, self.training, self.num_threads = _warm_arguments(dtypes, training,
                                                                       num_threads)

    def setup(self, worker):
        _warm(self.dtypes, self.training, self.num_threads)
