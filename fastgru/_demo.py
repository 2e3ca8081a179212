"""``python -m fastgru demo``: forecast the held-out end of a shipped series.

Fits a :class:`fastgru.GRUForecaster` on a series of :mod:`fastgru.datasets`
less its last season, forecasts that season, which it never saw, and compares
the forecast with the seasonal-naive one (the last season of the training part
repeated). The settings of each series are in :data:`DEMOS`; the tests check
that each beats the baseline with them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import _cache, datasets
from .forecasting import GRUForecaster


def _identity(values):
    return values


@dataclass(frozen=True)
class Demo:
    """How the demo forecasts one shipped series."""

    title: str
    loader: Callable
    season: int  # steps of one season: the hold-out, the horizon and the baseline's lag
    window: int
    transform: Callable = _identity  # applied before fitting ...
    inverse: Callable = _identity  # ... and undone on the forecast
    hidden_size: int = 32
    max_epochs: int = 300
    learning_rate: float = 5e-3
    # the forecaster's season_length, whose seasonal base forecast it corrects
    # (default: season)
    season_length: int | None = None


DEMOS = {
    # the log makes the multiplicative seasonality additive
    "airline": Demo("Airline passengers (thousands a month)", datasets.load_airline_passengers,
                    season=12, window=24, transform=np.log, inverse=np.exp),
    # the square root evens out the variance of high and low cycles
    "sunspots": Demo("Yearly sunspot numbers (11-year seasonal-naive baseline)",
                     datasets.load_sunspots, season=11, window=33, transform=np.sqrt,
                     inverse=np.square, season_length=1),  # cycles of 9 to 14 years
    "co2": Demo("Mauna Loa CO2 (ppmv, monthly)", datasets.load_mauna_loa_co2,
                season=12, window=36),
}


def run(data: str = "airline", epochs: int | None = None, random_state: int = 0,
        verbose: bool = True) -> dict:
    """Train on ``data`` less its last season, forecast that season, compare.

    Parameters
    ----------
    data : {"airline", "sunspots", "co2"}
    epochs : int, optional
        Most training epochs (default: the series' setting in :data:`DEMOS`).
    random_state : int
    verbose : bool
        Print progress, the forecast table and the errors.

    Returns
    -------
    dict with ``mae_gru``, ``mae_naive``, ``mase`` (their ratio), ``forecast``,
    ``actual``, ``naive``, ``labels``, ``train_time`` (s) and ``n_iter``.
    """
    if data not in DEMOS:
        raise ValueError(f"data must be one of {sorted(DEMOS)}, got {data!r}")
    demo = DEMOS[data]
    say = print if verbose else (lambda *a, **k: None)
    labels, values = demo.loader(as_frame=False)
    hold = demo.season
    train, actual = values[:-hold], values[-hold:]
    say(f"{demo.title}, {labels[0]}..{labels[-1]}: training on {len(train)} steps, "
        f"forecasting {labels[-hold]}..{labels[-1]} (held out)")
    compiles_before = _cache.compile_count()

    def compiling():
        # not cache_status(), which reads every kernel's index from disk
        where = (f"later runs load them from {_cache.kernel_cache_dir()}"
                 if _cache.cache_enabled() and _cache.kernel_cache_dir() is not None
                 else "not cached: FASTGRU_NO_CACHE is set" if not _cache.cache_enabled()
                 else "not cached: no cache directory may be used")
        say(f"Compiling fastgru's kernels for this CPU first (once, up to about a minute; "
            f"{where}) ...", flush=True)

    model = GRUForecaster(window=demo.window, horizon=hold,
                          season_length=demo.season_length or demo.season,
                          hidden_size=demo.hidden_size,
                          max_epochs=demo.max_epochs if epochs is None else epochs,
                          learning_rate=demo.learning_rate, random_state=random_state,
                          verbose=1 if verbose else 0)
    start = time.perf_counter()
    with _cache.compile_notice(compiling if verbose else None):
        model.fit(demo.transform(train))
        train_time = time.perf_counter() - start
        forecast = demo.inverse(model.predict())
    naive = train[-hold:]  # seasonal naive: the same point of the previous season
    mae_gru = float(np.mean(np.abs(forecast - actual)))
    mae_naive = float(np.mean(np.abs(naive - actual)))
    say("\nstep        actual        GRU  seasonal-naive")
    for label, a, f, s in zip(labels[-hold:], actual, forecast, naive):
        say(f"{label:8s} {a:9.2f} {f:10.2f} {s:10.2f}")
    say(f"\nMAE on the hold-out: GRU {mae_gru:.2f}, seasonal naive {mae_naive:.2f} "
        f"(MASE {mae_gru / mae_naive:.2f}, below 1 beats the baseline)")
    compiled = _cache.compile_count() - compiles_before
    say(f"training: {model.n_iter_} epochs in {train_time:.1f} s"
        + (" (includes compiling the kernels)" if compiled else ""))
    return {"mae_gru": mae_gru, "mae_naive": mae_naive, "mase": mae_gru / mae_naive,
            "forecast": forecast, "actual": actual, "naive": naive,
            "labels": labels[-hold:], "train_time": train_time, "n_iter": model.n_iter_}
