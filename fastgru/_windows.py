"""The forecaster's windows: cutting a panel (:mod:`fastgru._panel`) into the model's inputs.

:class:`WindowMaker` turns a panel into the model's inputs. A window is read
at a forecast origin ``t`` (the number of observed steps before it): its input
is the last ``window`` steps (fewer at the start of a series: the GRU reads
each sequence to its own length), each step being ``(y - y_last) / q`` with
``q`` the series' scale (the mean absolute seasonal difference, MASE's
denominator), so the training loss is the MASE the forecasts are judged by
and series of any level share one model. The model predicts the ``horizon``
steps after ``t`` as a correction to a base forecast from the window, in
units of ``q``: the last value without seasons; with seasons, the level of
the last season plus the seasonal profile of every full season in the
window (see ``WindowMaker._base``). With a single season in the window that
is the seasonal naive forecast; averaged over three to six seasons it
carries less of one season's noise, and the mean MASE (seeds 0-1) fell on
Tourism monthly from 1.473 to 1.396 and on M1 monthly from 1.074 to 1.048,
M1 quarterly even (1.606 against 1.616), Tourism quarterly 0.7% higher
(1.491 against 1.480). With future-known covariates the sequence goes on
for ``horizon`` decoder steps that carry those covariates and a flag.

Seasonal data (``season_length > 1``, ``WindowMaker.seasonal``) gets two
more things: a second input, each step's seasonal difference ``(y_j -
y_{j-m}) / q`` within the window (the growth since a season ago, which is
what a correction to a seasonal forecast is mostly made of), and a
per-window unit ``q = max(series scale, window's recent volatility)``, so that
a series whose last seasons move much more than its history does is read in
units of its recent moves rather than as an out-of-range input. Both lowered
the mean MASE on M1 quarterly and monthly (by 3-4%) and left Tourism about
even; on yearly data neither helped, so yearly data is read as above. The
training loss is then the MASE with such windows weighted down (by the
series' scale over their unit); weighting them back, to make it the MASE
exactly, made Tourism monthly worse (1.54 against 1.50 over three seeds).

Covariates enter standardised per column (:class:`Standardizer`, fitted on
the training panel).

NumPy, and a kernel for each series' running sums (:mod:`fastgru._kernels.panel`):
nothing here knows of layers or training.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ._kernels.panel import running_abs_diffs
from ._panel import Panel
from ._validation import check_int, check_memory

#: Window steps (windows times time steps) :meth:`WindowMaker.cut` reads at
#: once: a large panel's temporary arrays (some 40 bytes a step) stay within
#: ~10 MB, and a small panel is read in one go.
CUT_STEPS = 1 << 18


def series_scale(values: np.ndarray, season_length: int):
    """MASE's denominator: the mean absolute seasonal difference of a series
    (``values`` 1-D: a float), or of each row of a 2-D block of series of
    one length (an array).

    Lag 1 when the series has no full season to difference; when that is 0
    too (a constant series), the mean absolute value, and 1 for a series of
    zeros. Computed on the series divided by its largest magnitude, so that
    values near 1e300 give a finite scale.
    """
    block = np.reshape(values, (-1, np.shape(values)[-1]))
    peak = np.max(np.abs(block), axis=1)
    if not np.isfinite(peak).all():
        raise ValueError("a series holds values too large to scale")
    unit = block / np.where(peak > 0, peak, 1.0)[:, None]
    out, found = np.ones(len(block)), peak == 0
    for lag in (season_length, 1):
        if block.shape[1] > lag:
            q = np.mean(np.abs(unit[:, lag:] - unit[:, :-lag]), axis=1)
            now = ~found & (q > 0)
            with np.errstate(over="ignore"):  # inf: steps beyond float64, refused by the cut
                out[now], found = q[now] * peak[now], found | now
    out[~found] = np.mean(np.abs(unit[~found]), axis=1) * peak[~found]
    return float(out[0]) if np.ndim(values) == 1 else out


def series_scales(values: list, season_length: int) -> np.ndarray:
    """:func:`series_scale` of each series of ``values``, those of one length at once."""
    sizes = np.array([len(v) for v in values])
    out = np.empty(len(values))
    for n in np.unique(sizes):
        rows = np.flatnonzero(sizes == n)
        out[rows] = series_scale(np.stack([values[i] for i in rows]), season_length)
    return out


@dataclass
class Windows:
    """Model inputs ``x (n, T, F)`` with ``lengths``, the base forecast
    ``base (n, h)`` and scale ``q (n,)`` to turn outputs into forecasts, and
    (for training) ``targets (n, h)`` in units of ``q``."""

    x: np.ndarray
    lengths: np.ndarray
    base: np.ndarray
    q: np.ndarray
    local: np.ndarray  # the scale of each window's input (see WindowMaker.cut)
    targets: np.ndarray | None = None

    def forecasts(self, out: np.ndarray) -> np.ndarray:
        return self.base + self.q[:, None] * out


@dataclass
class Standardizer:
    """Per-column mean and scale of covariates, fitted on the training panel."""

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, blocks):
        data = np.concatenate(blocks) if isinstance(blocks, list) else blocks
        with np.errstate(over="ignore", invalid="ignore"):
            mean = data.mean(axis=0)
            scale = data.std(axis=0)
            if not (np.isfinite(mean).all() and np.isfinite(scale).all()):
                # values near 1e300: their squares overflow (an infinite scale
                # would read the column as 0); in units of its largest magnitude
                peak = np.abs(data).max(axis=0)
                peak = np.where(peak > 0, peak, 1.0)
                unit = data / peak
                mean, scale = unit.mean(axis=0) * peak, unit.std(axis=0) * peak
        if not (np.isfinite(mean).all() and np.isfinite(scale).all()):
            raise ValueError("covariates near float64's limit cannot be standardised: "
                             "rescale them")
        return cls(mean, np.where(scale > 0, scale, 1.0))

    def __call__(self, a):
        return (a - self.mean) / self.scale


@dataclass
class WindowMaker:
    """Cuts windows from a panel (see the module docstring)."""

    window: int
    horizon: int
    season_length: int
    n_futr: int = 0
    n_hist: int = 0
    n_static: int = 0
    seasonal: bool = False  # a seasonal-difference input and a per-window unit
    recent_unit: bool = True  # see _local_scale (False: models saved before it)
    profile_base: bool = True  # see _base (False: models saved before it)
    futr_scaler: Standardizer | None = None
    hist_scaler: Standardizer | None = None
    static_scaler: Standardizer | None = None

    @property
    def decoder(self) -> bool:
        """Whether the sequence goes on over the horizon (future covariates)."""
        return self.n_futr > 0

    @property
    def time_varying(self) -> bool:
        """Whether the windows carry past or future covariates (static ones
        aside): what the Theta mix's default and a forecast fed back read."""
        return bool(self.n_futr or self.n_hist)

    @property
    def n_features(self) -> int:
        return (1 + int(self.seasonal) + int(self.decoder) + self.n_futr + self.n_hist
                + self.n_static)

    @property
    def min_input(self) -> int:
        """Shortest input of a training window: a season (at least 2 steps)."""
        return min(self.window, max(2, self.season_length))

    def _base(self, y: np.ndarray, t: np.ndarray, start=0) -> np.ndarray:
        """The forecasts ``(len(t), h)`` the model corrects, from the steps
        before each origin: the seasonal profile of every full season of
        the window (each season's steps less that season's mean, averaged
        over the seasons, counted back from the origin) on the level of
        the last season. ``t`` counts from ``start`` (each row's series'
        first step in ``y``: series laid end to end).

        With one season in the window that is the seasonal naive forecast
        (the last season repeated), and so it is for models fitted before
        the profile (``profile_base=False``); with less than a season, or
        without seasons, it is the last value.
        """
        m, h = self.season_length, self.horizon
        k = np.arange(h) % m
        avail = np.minimum(t, self.window)
        start = np.broadcast_to(start, t.shape)[:, None]
        seasonal = t[:, None] - m + k[None, :]
        last = np.broadcast_to(t[:, None] - 1, seasonal.shape)
        out = y[start + np.where(avail[:, None] >= m, seasonal, last)]
        seasons = avail // m if self.profile_base and m > 1 else np.zeros_like(avail)
        rows = np.flatnonzero(seasons > 1)
        if len(rows) == 0:
            return out
        tr, kr, sr = t[rows], seasons[rows], start[rows]
        # the mean of the seasons' values at each step, and the last season's
        # level less the seasons' mean level: each divided before the sum
        # (values near float64's limit), and both bounded by the window's values
        values, levels = np.zeros((len(rows), h)), np.zeros((len(rows), 1))
        for j in range(1, int(kr.max()) + 1):  # the j-th season before each origin
            use = kr >= j
            first = sr + np.where(use, tr - j * m, 0)[:, None]
            mean = (y[first + np.arange(m)[None, :]] / m).sum(axis=1, keepdims=True)
            if j == 1:
                level = mean
            values += np.where(use[:, None], y[first + k[None, :]] / kr[:, None], 0.0)
            levels += np.where(use[:, None], mean / kr[:, None], 0.0)
        out[rows] = values + (level - levels)
        return out

    def cut(self, panel: Panel, origins: list, dtype, futr_future=None, with_targets=True):
        """Windows at ``origins[i]`` (an int array per series) of every series.

        ``futr_future[i]`` gives the future covariates of series ``i`` for the
        ``horizon`` steps after its last value (prediction); otherwise they
        are read from the panel (training and validation). The series are
        read laid end to end, up to :data:`CUT_STEPS` window steps at once.
        """
        L, h = self.window, self.horizon
        T = L + (h if self.decoder else 0)
        n_rows = np.array([len(o) for o in origins], dtype=np.int64)
        n = int(n_rows.sum())
        check_memory("the forecaster's training windows", n * T * self.n_features * 4 * 3)
        out = Windows(np.zeros((n, T, self.n_features), dtype=dtype), np.empty(n, dtype=np.int64),
                      np.empty((n, h)), np.empty(n), np.empty(n),
                      np.empty((n, h)) if with_targets else None)
        sizes = np.array([len(v) for v in panel.values], dtype=np.int64)
        starts = np.cumsum(sizes) - sizes
        y = np.concatenate(panel.values)
        yf = y.astype(np.float64, copy=False)  # each series' running sums of |differences|
        laid = {"y": y, "starts": starts, "scales": np.asarray(panel.scales, dtype=np.float64),
                "sums": {lag: running_abs_diffs(yf, starts, sizes, lag)
                         for lag in {1, self.season_length}},
                "futr": np.concatenate(panel.futr) if self.n_futr else None,
                "future": None if futr_future is None else self.futr_scaler(
                    np.stack(futr_future)),
                "hist": np.concatenate(panel.hist) if self.n_hist else None,
                "static": self.static_scaler(panel.static) if self.n_static else None}
        if laid["future"] is not None:  # X_df's, in the training data's units
            with np.errstate(over="ignore", invalid="ignore"):
                read = np.isfinite(laid["future"].astype(dtype)).all(axis=(1, 2))
            if not read.all():
                raise ValueError(f"X_df's covariates of series {panel.ids[int(np.argmin(read))]!r}"
                                 f" pass the largest {np.dtype(dtype).name} values the model reads"
                                 " once in the training data's units: check them, or rescale "
                                 "them as the training data")
        series = np.repeat(np.arange(len(origins)), n_rows)  # each window's
        t = np.concatenate(origins).astype(np.int64, copy=False)
        step = max(1, CUT_STEPS // T)
        for r in range(0, n, step):
            rows = slice(r, r + step)
            with np.errstate(over="ignore", invalid="ignore"):  # checked: finite below
                finite = self._cut_rows(laid, series[rows], t[rows], out, rows)
            if not finite.all():  # finite values whose differences overflow
                i = int(series[r + np.argmin(finite)])
                raise ValueError(f"series {panel.ids[i]!r} cannot be read in units of its "
                                 f"scale ({float(panel.scales[i]):.3g}): its steps overflow "
                                 "(values near float64's limit): rescale it")
        if with_targets:
            out.targets = out.targets.astype(dtype)
        return out

    def _cut_rows(self, laid, series, t, out, rows):
        """Fill the ``rows`` of ``out`` with the windows at origins ``t`` of
        ``series`` (the panel ``laid`` end to end by :meth:`cut`); returns
        whether each window's numbers are finite."""
        L, h = self.window, self.horizon
        y, x = laid["y"], out.x[rows]  # a view: filled in place
        first = laid["starts"][series]
        end = first + t  # each origin in y
        scale = laid["scales"][series]
        avail = np.minimum(t, L)
        b = self._base(y, t, first)
        out.base[rows] = b
        local = out.local[rows] = self._local_scale(laid["sums"], first, t, avail, scale)
        out.q[rows] = np.maximum(local, scale) if self.seasonal else scale
        qi = out.q[rows, None]
        # input positions: left-aligned, each window's last value at avail-1
        j = np.arange(L)[None, :]
        valid = j < avail[:, None]
        src = np.where(valid, (end - avail)[:, None] + j, first[:, None])  # index into y
        x[:, :L, 0] = np.where(valid, (y[src] - y[end - 1][:, None]) / qi, 0.0)
        col = 1
        if self.seasonal:  # a season-ago difference, within the window only
            m = self.season_length
            ago = valid & (j >= m)
            x[:, :L, col] = np.where(ago, (y[src] - y[np.where(ago, src - m, first[:, None])])
                                     / qi, 0.0)
            col += 1
        if self.decoder:
            dec = np.arange(h)[None, :]
            pos = avail[:, None] + dec  # decoder steps follow each input
            each = np.arange(len(t))[:, None]
            x[each, pos, col] = 1.0
            col += 1
            futr, fs = laid["futr"], self.futr_scaler
            x[:, :L, col:col + self.n_futr][valid] = fs(futr[src[valid]])
            fut = (fs(futr[end[:, None] + dec]) if laid["future"] is None
                   else laid["future"][series])
            x[each, pos, col:col + self.n_futr] = fut
            col += self.n_futr
        if self.n_hist:
            x[:, :L, col:col + self.n_hist][valid] = self.hist_scaler(laid["hist"][src[valid]])
            col += self.n_hist
        lengths = out.lengths[rows] = avail + (h if self.decoder else 0)
        if self.n_static:
            steps = np.arange(x.shape[1])[None, :] < lengths[:, None]
            x[:, :, col:][steps] = laid["static"][
                np.broadcast_to(series[:, None], steps.shape)[steps]]
        checked = [x.reshape(len(t), -1), b]
        if out.targets is not None:
            ahead = y[end[:, None] + np.arange(h)[None, :]]
            out.targets[rows] = (ahead - b) / qi
            checked.append(out.targets[rows])
        if all(np.isfinite(a).all() for a in checked):
            return np.ones(len(t), dtype=bool)
        return np.logical_and.reduce([np.isfinite(a).all(axis=1) for a in checked])

    def _local_scale(self, sums, first, t, avail, q):
        """The unit of the intervals, which follows a series' recent volatility.

        The mean absolute seasonal difference of each window's input, the
        ``avail`` steps before origin ``t`` (see :meth:`_volatility`). Without
        seasons it is at least that of the last ``horizon`` steps (two at
        least): a burst of volatility at the end of a yearly series widens
        its intervals. Seasonal data keeps the window's, whose intervals
        already cover as asked (see docs/forecasting.md).
        """
        out = self._volatility(sums, first, t, avail, q)
        if self.recent_unit and self.season_length == 1:
            recent = np.minimum(avail, max(self.horizon, 2))
            out = np.maximum(out, self._volatility(sums, first, t, recent, q))
        return out

    def _volatility(self, sums, first, t, avail, q):
        """The mean absolute seasonal difference of the ``avail`` steps
        before each origin ``t`` of the series starting at ``first`` (lag 1
        with a season or less of them; ``q`` when that is 0 or there is a
        single step), from the series' running sums of absolute differences
        at each lag (``sums``, see :func:`fastgru._kernels.panel.running_abs_diffs`)."""
        out = q.copy()
        seasonal = avail > self.season_length
        for lag, use in ((self.season_length, seasonal), (1, ~seasonal & (avail > 1))):
            if not use.any():
                continue
            c = sums[lag]
            start, stop = t[use] - avail[use], t[use] - lag  # diffs inside the window
            mean = (c[first[use] + stop] - c[first[use] + start]) / (stop - start)
            out[use] = np.where(mean > 0, mean, q[use])
        return out


def sliding_windows(values, window: int, horizon: int = 0):
    """Every window of ``window`` steps of ``values`` and the ``horizon`` steps after it.

    Parameters
    ----------
    values : array (n_timesteps,) or (n_timesteps, n_series)
    window, horizon : int
        Steps of input, and of targets after each window (0: inputs only).

    Returns
    -------
    inputs : ndarray (n_windows, window, n_series)
    targets : ndarray (n_windows, horizon, n_series)
        Read-only views into ``values`` (no copies), with
        ``n_windows = n_timesteps - window - horizon + 1``.

    Examples
    --------
    >>> import numpy as np
    >>> from fastgru.forecasting import sliding_windows
    >>> x, y = sliding_windows(np.arange(6.0), window=3, horizon=2)
    >>> x[:, :, 0].tolist(), y[:, :, 0].tolist()
    ([[0.0, 1.0, 2.0], [1.0, 2.0, 3.0]], [[3.0, 4.0], [4.0, 5.0]])
    """
    arr = np.asarray(values)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"values must be 1-D or 2-D, got shape {arr.shape}")
    window = check_int("window", window)
    horizon = check_int("horizon", horizon, minimum=0)
    n_windows = arr.shape[0] - window - horizon + 1
    if n_windows < 1:
        raise ValueError(f"a series of {arr.shape[0]} steps is too short for window={window} "
                         f"and horizon={horizon}: it needs at least {window + horizon}")
    views = sliding_window_view(arr, window + horizon, axis=0).transpose(0, 2, 1)
    return views[:n_windows, :window], views[:n_windows, window:]
