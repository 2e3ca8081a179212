"""The optimised Theta model's fit: each series deseasonalised, then a
Nelder-Mead search of its parameters.

The model (Fiorucci et al. 2016, "Models for optimising the theta method and
their relationship to state space models", the OTM) forecasts a series
``y_0 .. y_{n-1}`` from its level ``l``, smoothed with ``alpha``, and the
intercept ``A`` and slope ``B`` of its least-squares line over ``t = 1 .. n``::

    mu_0 = l_0 + (1 - 1/theta) (A + B)
    mu_t = l_{t-1} + (1 - 1/theta) (A (1-alpha)^t + B (1 - (1-alpha)^(t+1)) / alpha)
    l_t  = alpha y_t + (1 - alpha) l_{t-1}     (l_{-1} is the initial level l0)

``fit_series`` chooses ``l0``, ``alpha`` in [0.1, 0.99] and ``theta >= 1``
minimising the squared one-step errors ``y_t - mu_t`` after the first three,
on the series that ``deseasonalise`` left (its classical seasonal component
removed when its autocorrelation shows one); :mod:`fastgru._theta`
forecasts from the fit. Used by :mod:`fastgru._theta` only. Imports no
other kernel module.
"""

import math

import numpy as np

from .._config import helper, kernel

#: The parameters' bounds: initial level, alpha, theta.
LOWER = (-1e10, 0.1, 1.0)
UPPER = (1e10, 0.99, 1e10)

#: Nelder-Mead's most iterations, and its stop: the simplex's values within
#: this relative spread.
MAX_ITER = 1000
TOL = 1e-8


@helper
def _sse(y, A, B, level0, alpha, theta):
    """The squared one-step errors after the first three, and the last level."""
    c = 1.0 - 1.0 / theta
    decay = 1.0 - alpha
    total = 0.0  # the first three errors are the start's
    level = alpha * y[0] + decay * level0
    p = decay  # (1 - alpha)^t
    for t in range(1, y.shape[0]):
        mu = level + c * (A * p + B * (1.0 - p * decay) / alpha)
        err = y[t] - mu
        if t >= 3:
            total += err * err
        level = alpha * y[t] + decay * level
        p *= decay
    return total, level


@helper
def _clip(x):
    for j in range(3):
        x[j] = min(max(x[j], LOWER[j]), UPPER[j])


@helper
def _objective(y, A, B, x):
    _clip(x)
    value = _sse(y, A, B, x[0], x[1], x[2])[0]
    return value if np.isfinite(value) else np.inf


@kernel
def fit_series(y, starts, lengths, out):
    """Fit the model to each series ``y[starts[i]:starts[i] + lengths[i]]``
    (at least 4 values, of a scale near 1) and set ``out[i]`` (``out`` of
    shape ``(n_series, 5)``) to its last level, ``A``, ``B``, ``alpha`` and
    ``theta``."""
    simplex = np.empty((4, 3))
    values = np.empty(4)
    for i in range(starts.shape[0]):
        s = y[starts[i]:starts[i] + lengths[i]]
        n = s.shape[0]
        nf = float(n)  # n^3 overflows int64 beyond 2 million values
        t_mean = (nf + 1.0) / 2.0
        mean = s.mean()
        cov = 0.0
        for t in range(n):
            cov += (t + 1 - t_mean) * (s[t] - mean)
        B = cov / (nf * (nf * nf - 1.0) / 12.0)
        A = mean - B * t_mean
        start = (s[0] / 2.0, 0.5, 2.0)
        for k in range(4):
            for j in range(3):
                simplex[k, j] = start[j]
            if k:  # a step of 5% of each parameter (0.05 from a level of 0)
                j = k - 1
                simplex[k, j] += 0.05 * abs(start[j]) if start[j] != 0 else 0.05
            values[k] = _objective(s, A, B, simplex[k])
        _nelder_mead(s, A, B, simplex, values)
        _sort(simplex, values)
        out[i, 0] = _sse(s, A, B, simplex[0, 0], simplex[0, 1], simplex[0, 2])[1]
        out[i, 1] = A
        out[i, 2] = B
        out[i, 3] = simplex[0, 1]
        out[i, 4] = simplex[0, 2]


@helper
def _sort(simplex, values):
    """Sort the simplex's 4 points by their values, in place (insertion)."""
    for k in range(1, 4):
        j = k
        while j > 0 and values[j] < values[j - 1]:
            values[j], values[j - 1] = values[j - 1], values[j]
            for c in range(3):
                simplex[j, c], simplex[j - 1, c] = simplex[j - 1, c], simplex[j, c]
            j -= 1


@helper
def _nelder_mead(s, A, B, simplex, values):
    """Nelder-Mead (reflection 1, expansion 2, contraction and shrink 1/2)
    on ``simplex`` (4, 3) and its ``values``, in place; points are clipped
    to the bounds."""
    point = np.empty(3)
    other = np.empty(3)
    centre = np.empty(3)
    for _ in range(MAX_ITER):
        _sort(simplex, values)
        if values[3] - values[0] <= TOL * abs(values[0]) + 1e-300:
            break
        for j in range(3):
            centre[j] = (simplex[0, j] + simplex[1, j] + simplex[2, j]) / 3.0
            point[j] = centre[j] + (centre[j] - simplex[3, j])
        f_r = _objective(s, A, B, point)
        if f_r < values[0]:
            for j in range(3):
                other[j] = centre[j] + 2.0 * (centre[j] - simplex[3, j])
            f_e = _objective(s, A, B, other)
            if f_e < f_r:
                simplex[3] = other
                values[3] = f_e
            else:
                simplex[3] = point
                values[3] = f_r
            continue
        if f_r < values[2]:
            simplex[3] = point
            values[3] = f_r
            continue
        outside = f_r < values[3]
        for j in range(3):  # contract towards the better of the worst and its reflection
            far = point[j] if outside else simplex[3, j]
            other[j] = centre[j] + 0.5 * (far - centre[j])
        f_c = _objective(s, A, B, other)
        if f_c < min(f_r, values[3]):
            simplex[3] = other
            values[3] = f_c
            continue
        for k in range(1, 4):  # shrink towards the best
            for j in range(3):
                simplex[k, j] = simplex[0, j] + 0.5 * (simplex[k, j] - simplex[0, j])
            values[k] = _objective(s, A, B, simplex[k])


#: Fewest values the model is fitted to.
MIN_LENGTH = 4

#: :func:`deseasonalise`'s ``kind`` of each series: too short for the model
#: (fewer than :data:`MIN_LENGTH` values), constant once deseasonalised, or
#: to be fitted.
SHORT, CONSTANT, FIT = 0, 1, 2

#: One-sided 95% normal quantile: the seasonality test's threshold.
SEASON_Z = 1.6448536269514722


@kernel
def deseasonalise(y, starts, lengths, m, out, factor, offset, kind, scale):
    """Prepare each series ``y[starts[i]:starts[i] + lengths[i]]`` for
    :func:`fit_series`: ``out`` (laid out as ``y``) is the series without its
    classical seasonal component (when :func:`_is_seasonal`), in units of
    ``scale[i]``, its mean absolute value (1 for a series of zeros);
    ``factor[i]`` or ``offset[i]`` (given as 1 and 0) is the component over
    the ``m`` steps after its end, ``kind[i]`` what the model does with the
    series.

    The component is multiplicative unless a value is not positive or a
    factor is below 0.01, then additive: the detrended values' means per
    step of the season (the trend the centred moving average over a season,
    2 x m for an even ``m``), normalised to a mean of 1 or 0. Each series is
    first divided by the power of 2 just above its largest absolute value
    (exactly): values of any size are read alike, without overflow or
    reciprocals beyond float64's range."""
    longest = 0
    for i in range(lengths.shape[0]):
        longest = max(longest, lengths[i])
    work = np.empty(longest)
    means = np.empty(m)
    counts = np.empty(m)
    for i in range(starts.shape[0]):
        s = y[starts[i]:starts[i] + lengths[i]]
        o = out[starts[i]:starts[i] + lengths[i]]
        n = s.shape[0]
        top = 0.0
        for t in range(n):
            top = max(top, abs(s[t]))
        power = math.frexp(top)[1] if np.isfinite(top) else 0
        for t in range(n):
            o[t] = math.ldexp(s[t], -power)
        if n < MIN_LENGTH:
            kind[i] = SHORT
            scale[i] = 1.0
            continue
        if _is_seasonal(o, m, work):
            _trend(o, m, work)
            positive = True
            for t in range(n):
                positive = positive and o[t] > 0
            multiplicative = False
            if positive:  # multiplicative, unless a factor is below 0.01
                _season_means(o, work, m, True, means, counts)
                low = means[0]
                for k in range(m):
                    low = min(low, means[k])
                multiplicative = low >= 0.01
            if not multiplicative:
                _season_means(o, work, m, False, means, counts)
            for t in range(n):
                if multiplicative:
                    o[t] = o[t] / means[t % m]
                else:
                    o[t] = o[t] - means[t % m]
            for k in range(m):
                f = means[(n - m + k) % m]
                if multiplicative:
                    factor[i, k] = f
                else:
                    offset[i, k] = math.ldexp(f, power)
        constant = True
        total = 0.0
        for t in range(n):
            constant = constant and o[t] == o[0]
            total += abs(o[t])
        kind[i] = CONSTANT if constant else FIT
        unit = total / n if not constant else abs(o[0]) if o[0] != 0 else 1.0
        for t in range(n):
            o[t] = o[t] / unit
        scale[i] = math.ldexp(unit, power)


@helper
def _is_seasonal(s, m, d):
    """The autocorrelation test at lag ``m`` (with Bartlett's variance) of
    ``s`` (at least two seasons of at least 4 steps; not constant, whose
    autocorrelations are not defined). ``d`` is scratch of ``s``'s length
    at least."""
    n = s.shape[0]
    if m < 4 or n < 2 * m:
        return False
    mean = 0.0
    varied = False
    for t in range(n):
        mean += s[t]
        varied = varied or s[t] != s[0]
    if not varied:
        return False
    mean /= n
    denom = 0.0
    for t in range(n):
        d[t] = s[t] - mean
        denom += d[t] * d[t]
    if denom == 0.0:
        return False
    squares = 0.0  # of the autocorrelations at lags 1 .. m - 1
    r = 0.0
    for k in range(1, m + 1):
        r = 0.0
        for t in range(n - k):
            r += d[t] * d[t + k]
        r /= denom
        if k < m:
            squares += r * r
    return abs(r) / np.sqrt((1.0 + 2.0 * squares) / n) > SEASON_Z


@helper
def _trend(s, m, trend):
    """The centred moving average over a season (2 x m for an even ``m``)
    into ``trend[half:n - half]``."""
    n = s.shape[0]
    half = m // 2
    for t in range(half, n - half):
        total = 0.0
        if m % 2 == 0:
            total = 0.5 * (s[t - half] + s[t + half])
            for j in range(t - half + 1, t + half):
                total += s[j]
        else:
            for j in range(t - half, t + half + 1):
                total += s[j]
        trend[t] = total / m


@helper
def _season_means(s, trend, m, multiplicative, means, counts):
    """The detrended values' mean at each step of the season (NaN left out),
    normalised to a mean of 1 (``multiplicative``) or 0, into ``means``."""
    half = m // 2
    for k in range(m):
        means[k] = 0.0
        counts[k] = 0.0
    for t in range(half, s.shape[0] - half):
        v = s[t] / trend[t] if multiplicative else s[t] - trend[t]
        if not np.isnan(v):
            means[t % m] += v
            counts[t % m] += 1.0
    level = 0.0
    for k in range(m):
        means[k] /= counts[k]
        level += means[k]
    level /= m
    for k in range(m):
        means[k] = means[k] / level if multiplicative else means[k] - level
