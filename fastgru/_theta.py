"""The optimised Theta model, fitted to every series of a panel at once.

:class:`fastgru.GRUForecaster` averages its networks' forecast with this
model's (see its ``theta_weight``), and :func:`optimized_theta` gives it on
its own. The model is the optimised theta model of Fiorucci et al. (2016),
as statsforecast's ``OptimizedTheta`` and R's ``forecTheta::otm`` fit it:
a series whose seasonality passes a 90% autocorrelation test (seasons of at
least 4 steps, two seasons of data) is divided by its classical
multiplicative seasonal component (or, when a value is not positive or a
factor is below 0.01, the additive one is subtracted); the theta model
(:mod:`fastgru._kernels.theta`) is fitted to what remains, and its forecast
reseasonalised with the last season's component.
"""

from __future__ import annotations

import numpy as np

from ._kernels import theta as kernels

#: Fewest values the model is fitted to: shorter series get no forecast (NaN).
MIN_LENGTH = kernels.MIN_LENGTH

#: ``GRUForecaster(theta_weight=None)`` on series without past or future
#: covariates: the optimised Theta model's share of the forecast
#: (:func:`optimized_theta`), the networks' mean having the rest. Over
#: seeds 0-1 a third of Theta lowered the mean MASE on five of the six sets
#: of M1 and Tourism (Tourism yearly 2.603 to 2.562, M1 monthly 1.041 to
#: 1.016, Tourism quarterly 1.493 to 1.476) and left Tourism monthly level
#: (1.388 to 1.390); an equal mix was worse than a third on five of them.
THETA_WEIGHT = 1 / 3


def share(asked, covariates: bool) -> float:
    """The Theta model's share of a forecast that ``theta_weight=asked``
    gives: ``asked`` itself, or with None :data:`THETA_WEIGHT` on series
    without past or future covariates and 0 with them. A bool is refused."""
    if isinstance(asked, (bool, np.bool_)):  # True is no share
        raise ValueError(f"theta_weight must be a number in [0, 1] or None, got {asked}")
    if asked is not None:
        return float(asked)
    return 0.0 if covariates else THETA_WEIGHT


#: The columns of a fit's ``state``.
STATE = ("level", "A", "B", "alpha", "theta", "n")


def deseasonalise(values, season_length: int):
    """Each 1-D series of ``values`` laid end to end, deseasonalised and in
    units of its size, for the fit (:func:`fastgru._kernels.theta.deseasonalise`).

    Returns ``(out, starts, lengths, factor, offset, kind, scale)``:
    ``out[starts[i]:starts[i] + lengths[i]]`` is series ``i`` without its
    seasonal component, divided by ``scale[i]``; ``factor`` and ``offset``
    ``(S, m)`` are the component over the ``m`` steps after its end (1 and 0
    without seasonality) and ``kind[i]`` says whether the series is fitted.
    When no series can hold a season (two of at least 4 steps), ``factor``
    and ``offset`` are ``(S, 1)``, the component of every step: a season
    longer than every series costs no ``(S, m)`` arrays.
    """
    from ._validation import check_memory

    m = season_length
    S = len(values)
    lengths = np.fromiter((len(v) for v in values), np.int64, S)
    starts = np.cumsum(lengths) - lengths
    y = np.concatenate(values, dtype=np.float64) if S else np.empty(0)
    out = np.empty_like(y)
    # (the kernel's test: m of 4 or more, and two seasons of values)
    seasonal = m >= 4 and S > 0 and int(lengths.max()) >= 2 * m
    if seasonal:
        check_memory(f"the seasonal factors of {S} series of season_length={m}", 16 * S * m)
    width = m if seasonal else 1  # without a season every step's factor is 1 and offset 0
    factor, offset = np.ones((S, width)), np.zeros((S, width))
    kind = np.empty(S, np.int8)
    scale = np.ones(S)
    kernels.deseasonalise(y, starts, lengths, width, out, factor, offset, kind, scale)
    return out, starts, lengths, factor, offset, kind, scale


def fit_theta(values, season_length: int):
    """Fit the model to each 1-D series of ``values``.

    Returns ``(state, factor, offset)``: ``state (S, 6)`` the columns of
    :data:`STATE` after each series' last value (a row of zeros, ``n`` 0,
    for a series shorter than :data:`MIN_LENGTH` or whose fit is beyond
    float64's range), and the seasonal factor and offset ``(S, m)`` of the ``m`` steps
    after it (1 and 0 without seasonality; read-only views of one column when
    no series holds two seasons).
    """
    out, starts, lengths, factor, offset, kind, scale = deseasonalise(values, season_length)
    state = np.zeros((len(values), len(STATE)))
    state[:, 5] = np.where(kind == kernels.SHORT, 0, lengths)
    constant = kind == kernels.CONSTANT  # once deseasonalised: theta 1 keeps it
    state[constant, 0] = state[constant, 1] = out[starts[constant]] * scale[constant]
    state[constant, 3:5] = 0.5, 1.0
    rows = np.flatnonzero(kind == kernels.FIT)
    if len(rows):
        fitted = np.empty((len(rows), 5))
        kernels.fit_series(out, starts[rows], lengths[rows], fitted)
        with np.errstate(all="ignore"):  # level, A and B in the series' units
            state[rows, :5] = fitted * scale[rows][:, None] ** [1, 1, 1, 0, 0]
    bad = ~(np.isfinite(state).all(axis=1) & np.isfinite(factor).all(axis=1)
            & np.isfinite(offset).all(axis=1) & (factor > 0).all(axis=1))
    state[bad], factor[bad], offset[bad] = 0, 1, 0  # no fit: beyond float64's range
    if factor.shape[1] != season_length:  # one column for every step: read-only views
        factor = np.broadcast_to(factor, (len(values), season_length))
        offset = np.broadcast_to(offset, (len(values), season_length))
    return state, factor, offset


def mix(networks, theta, weight):
    """``(1 - weight) * networks + weight * theta`` where that is finite, and
    ``networks`` where it is not (a series Theta did not fit, NaN; values
    near float64's limit): forecasts or their errors alike."""
    with np.errstate(over="ignore", invalid="ignore"):
        mixed = (1 - weight) * networks + weight * theta
    return np.where(np.isfinite(mixed), mixed, networks)


def theta_forecast(state, factor, offset, h: int):
    """The forecast ``(S, h)`` of fitted series (NaN for those not fitted)."""
    level, A, B, alpha, theta, n = (state[:, j].copy() for j in range(len(STATE)))
    decay = 1.0 - alpha
    m = factor.shape[1]
    out = np.empty((state.shape[0], h))
    with np.errstate(all="ignore"):  # rows not fitted (zeros) give NaN
        c = 1.0 - 1.0 / theta
        for k in range(h):
            p = decay ** (n + k)
            mu = level + c * (A * p + B * (1.0 - p * decay) / alpha)
            level = alpha * mu + decay * level
            out[:, k] = mu * factor[:, k % m] + offset[:, k % m]
    out[n < MIN_LENGTH] = np.nan
    return out


def optimized_theta(values, h: int, season_length: int = 1):
    """Forecasts ``(S, h)`` of the optimised Theta model for each series of
    ``values`` (NaN for a series of fewer than 4 values, or so near
    float64's limit that its fitted line is beyond it).

    The model :class:`fastgru.GRUForecaster` averages with its networks:
    statsforecast's ``OptimizedTheta`` fitted again in NumPy and Numba,
    for all the series in one call (on M1 and Tourism's 2,000 series, in
    well under a second).

    Parameters
    ----------
    values : list or dict of 1-D arrays, a 1-D array or pandas Series (one
        series), or a 2-D array or wide DataFrame (a series per column)
    h : int
        Steps to forecast (at most 100,000).
    season_length : int, default 1
        Steps per season; seasons of 4 steps or more are removed first when
        the series' autocorrelation shows them.

    Examples
    --------
    >>> import numpy as np
    >>> from fastgru.forecasting import optimized_theta
    >>> t = np.arange(48.0)
    >>> fc = optimized_theta([10 + 0.5 * t, 20 + np.sin(2 * np.pi * t / 12)], h=3,
    ...                      season_length=12)
    >>> fc.shape, np.round(fc[0], 2).tolist()
    ((2, 3), [34.0, 34.5, 35.0])
    """
    from ._validation import check_int, check_memory

    h = check_int("h", h, maximum=MAX_STEPS)
    m = check_int("season_length", season_length)
    series = _series_list(values)
    # (the seasonal factors check their own, where a series holds two seasons)
    check_memory(f"optimized_theta(h={h}, season_length={m})",
                 8 * len(series) * (h + len(STATE)))
    return theta_forecast(*fit_theta(series, m), h)


#: Most steps :func:`optimized_theta` forecasts.
MAX_STEPS = 100_000


def _series_list(values) -> list:
    """The 1-D float arrays of the series ``values`` holds (see
    :func:`optimized_theta`), each checked to be finite real numbers."""
    if isinstance(values, (set, frozenset, str, bytes, bytearray)):  # no order, or no numbers
        raise ValueError(f"values must be series of numbers in order, got a "
                         f"{type(values).__name__}")
    if isinstance(values, dict):
        values = list(values.values())
    elif hasattr(values, "columns") and hasattr(values, "to_numpy"):  # a wide frame
        if {"unique_id", "y"} <= set(values.columns) or "unique_id" in values.index.names:
            raise ValueError("values is a long frame (unique_id, ds, y): pass a series per "
                             "id, dict(tuple(df.sort_values('ds').groupby('unique_id')['y'])), "
                             "or a wide frame with a column per series")
        values = [values[c].to_numpy() for c in values.columns]
    elif hasattr(values, "to_numpy") or isinstance(values, np.ndarray):
        arr = values.to_numpy() if hasattr(values, "to_numpy") else values
        if arr.ndim not in (1, 2):
            raise ValueError(f"values must be one series (1-D) or a series per column "
                             f"(2-D), got shape {arr.shape}")
        values = [arr] if arr.ndim == 1 else list(arr.T)
    else:
        values = list(values)
        if values and all(np.ndim(v) == 0 for v in values):  # a list of numbers
            values = [values]
    out = []
    for i, v in enumerate(values):
        if np.ma.isMaskedArray(v) and np.ma.getmaskarray(v).any():
            raise ValueError(f"series {i} is a masked array with masked values: fill them first")
        y = np.asarray(v)
        if y.ndim != 1:
            raise ValueError(f"series {i} must be 1-D, got shape {y.shape}")
        if y.dtype.kind not in "iuf":  # no text, dates, booleans or complex numbers
            raise ValueError(f"series {i} must hold real numbers, got dtype {y.dtype}")
        y = y.astype(np.float64)
        if not np.isfinite(y).all():
            raise ValueError(f"series {i} holds NaN or inf")
        out.append(y)
    return out
