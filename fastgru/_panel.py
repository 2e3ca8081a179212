"""Panels of time series for the forecaster: reading them, and cutting them into windows.

A *panel* is a set of series, each with its own length, and optionally
covariates: future-known ones (given for the forecast horizon too),
past-observed ones (known only up to each forecast origin) and static ones
(one row per series). :func:`read_panel` accepts the long DataFrame of
statsforecast and neuralforecast (``unique_id``, ``ds``, ``y`` and covariate
columns), a list or dict of 1-D arrays or pandas Series, a single 1-D series,
or a 2-D array / wide DataFrame of equal-length series as columns.

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

Plain NumPy: nothing here knows of layers or training.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._kernels.panel import running_abs_diffs
from ._validation import as_float_array, check_memory

ID, TIME, TARGET = "unique_id", "ds", "y"


@dataclass
class Panel:
    """Series (float64, NaN-free) with their ids, time stamps and covariates.

    ``futr[i]`` / ``hist[i]`` are ``(n_i, n_futr)`` / ``(n_i, n_hist)``
    arrays aligned with ``values[i]``; ``static`` is ``(n_series, n_static)``.
    ``times[i]`` is the series' time stamps (a pandas Index) or None.
    ``form`` records what the caller passed, to return forecasts alike.
    """

    ids: list
    values: list
    times: list
    form: str
    futr: list | None = None
    hist: list | None = None
    static: np.ndarray | None = None
    futr_names: list = field(default_factory=list)
    hist_names: list = field(default_factory=list)
    static_names: list = field(default_factory=list)
    name: object = None  # a pandas Series' name, a wide frame's columns
    scales: np.ndarray | None = None  # each series' scale (see series_scale)

    @property
    def n_series(self) -> int:
        return len(self.values)


def _is_long_frame(y) -> bool:
    return hasattr(y, "columns") and TARGET in getattr(y, "columns", ()) and (
        ID in y.columns or TIME in y.columns)


def _series_values(label: str, values) -> np.ndarray:
    """A 1-D float64 series without leading NaN; NaN inside or at the end, or
    inf anywhere, is a ValueError naming the series."""
    arr = as_float_array(label, values, np.float64, ndim=1, allow_nan=True) if not (
        isinstance(values, np.ndarray) and values.dtype == np.float64 and values.ndim == 1
    ) else values
    finite = np.isfinite(arr)
    if not finite.all():
        if np.isinf(arr).any():
            raise ValueError(f"{label} holds inf")
        first = int(np.argmax(finite)) if finite.any() else len(arr)
        if not finite[first:].all():
            raise ValueError(f"{label} has NaN after its first value (a gap or a missing "
                             "end): fill or interpolate them first (leading NaN are dropped)")
        arr = arr[first:]
    if len(arr) == 0:
        raise ValueError(f"{label} has no values")
    return arr


def _check_numbers(label: str, dtype) -> None:
    """A pandas dtype of numbers (bool, nullable integers and floats), or
    of objects and text, read as numbers next; a TypeError naming ``label``
    for dates, durations, categories and complex numbers, which ``to_numpy``
    would turn into numbers silently (nanoseconds, codes, the real part)."""
    import pandas as pd

    api = pd.api.types
    if api.is_complex_dtype(dtype) or not (api.is_numeric_dtype(dtype) or api.is_object_dtype(
            dtype) or api.is_string_dtype(dtype)):
        raise TypeError(f"{label} must hold numbers, got dtype {dtype}")


def _pandas_values(label: str, values) -> np.ndarray:
    """A pandas Series' values as float64 (missing values NaN), with errors naming ``label``."""
    _check_numbers(label, values.dtype)
    try:
        return values.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{label} holds values that are not numbers ({exc})") from None


def _check_order(label: str, index) -> None:
    """A pandas index of dates must run forwards, each date once: the values
    are read in the index's order (a long frame is sorted by ``ds``; a
    series' values cannot be reordered apart from its covariates). An index
    of numbers may be row labels of a frame sorted otherwise: not checked."""
    import pandas as pd

    timelike = isinstance(index, (pd.DatetimeIndex, pd.PeriodIndex))
    if timelike and not (index.is_monotonic_increasing and index.is_unique):
        raise ValueError(f"{label}'s index is not in increasing time order (shuffled, "
                         "descending or repeated dates): its values would be read out of "
                         "order; sort it first, e.g. y.sort_index()")


def read_panel(y, X=None, static_df=None, hist_exog=None) -> Panel:
    """Read what ``GRUForecaster.fit`` accepts into a :class:`Panel` (see module doc)."""
    if _is_long_frame(y):
        if X is not None:
            raise ValueError("X is for array input: with a long DataFrame, covariates are "
                             "its extra columns (and static_df)")
        return _read_long(y, static_df, hist_exog)
    if static_df is not None:
        raise ValueError("static_df needs a long DataFrame y with a unique_id column")
    if hist_exog is not None and (isinstance(hist_exog, str) or len(hist_exog)):
        raise ValueError(f"hist_exog={hist_exog!r} names columns of a long DataFrame y; "
                         "with other input, X holds the past-observed covariates")
    if isinstance(y, dict) or (isinstance(y, (list, tuple)) and y and all(
            hasattr(s, "__len__") and not isinstance(s, (str, bytes)) for s in y)):
        if X is not None:
            raise ValueError("X is for a single series or a 2-D array; a list or dict of "
                             "series takes covariates as a long DataFrame")
        items = list(y.items()) if isinstance(y, dict) else list(enumerate(y))
        if not items:
            raise ValueError("y holds no series")
        ids, values, times = [], [], []
        for key, s in items:
            label = f"series {key!r}"
            if getattr(s, "ndim", 1) != 1 and np.ndim(s) != 1:
                raise ValueError(f"{label} must be 1-D, got shape {np.shape(s)}")
            index = s.index if hasattr(s, "index") and hasattr(s, "iloc") else None
            if index is not None:
                _check_order(label, index)
            raw = _pandas_values(label, s) if index is not None else s
            arr = _series_values(label, raw)
            ids.append(key)
            values.append(arr)
            times.append(None if index is None else index[len(index) - len(arr):])
        return Panel(ids, values, times, "dict" if isinstance(y, dict) else "list")
    return _read_wide(y, X, hist_exog)


def _read_wide(y, X, hist_exog) -> Panel:
    """One series (1-D), or equal-length series as the columns of a 2-D array
    or wide DataFrame, with past-observed covariates ``X`` aligned in time."""
    index, name, form = None, None, "array1d"
    if hasattr(y, "iloc") and hasattr(y, "index"):
        index = y.index
        if getattr(y, "ndim", 1) == 1:
            form, name = "series", y.name
        else:
            form, name = "frame", list(y.columns)
        _check_order("y", index)
        y = y.to_numpy()
    if y is None or isinstance(y, (str, bytes)) or np.ndim(y) == 0:
        raise TypeError(f"y must be a series, a list or dict of series or a long DataFrame, "
                        f"got {type(y).__name__}")
    values = as_float_array("y", y, np.float64, ndim=(1, 2), allow_nan=True)
    if values.ndim == 2 and form == "array1d":
        form = "array2d"
    values = values.reshape(values.shape[0], -1)
    hist = None
    if X is not None:
        if hasattr(X, "iloc") and hasattr(X, "columns"):
            hist_names = [str(c) for c in X.columns]
            X = X.to_numpy()
        else:
            hist_names = None
        exog = as_float_array("X", X, np.float64, ndim=(1, 2))
        exog = exog.reshape(exog.shape[0], -1)
        if exog.shape[0] != values.shape[0]:
            raise ValueError(f"X has {exog.shape[0]} time steps, y has {values.shape[0]}")
        if not np.isfinite(exog).all():
            raise ValueError("X holds NaN or inf")
        hist_names = hist_names or [f"x{j}" for j in range(exog.shape[1])]
    ids, series, times, hists = [], [], [], []
    for j in range(values.shape[1]):
        label = "y" if values.shape[1] == 1 else f"column {j} of y"
        arr = _series_values(label, values[:, j])
        ids.append(j if name is None or form == "series" else name[j])
        series.append(arr)
        start = values.shape[0] - len(arr)
        times.append(None if index is None else index[start:])
        if X is not None:
            hists.append(exog[start:])
    if X is not None:
        hist = hists
    panel = Panel(ids, series, times, form, hist=hist, name=name)
    if X is not None:
        panel.hist_names = hist_names
    return panel


def _read_long(df, static_df, hist_exog) -> Panel:
    import pandas as pd

    missing = [c for c in (ID, TIME, TARGET) if c not in df.columns]
    if missing:
        raise ValueError(f"the long DataFrame needs the columns {ID!r}, {TIME!r} and "
                         f"{TARGET!r}; it has no {missing}")
    hist_exog = [hist_exog] if isinstance(hist_exog, str) else list(hist_exog or ())
    extra = [c for c in df.columns if c not in (ID, TIME, TARGET)]
    unknown = [c for c in hist_exog if c not in extra]
    if unknown:
        raise ValueError(f"hist_exog names columns that y does not have: {unknown}")
    futr_names = [c for c in extra if c not in hist_exog]
    for c in extra:  # numbers or booleans (complex numbers would lose their imaginary part)
        if not pd.api.types.is_numeric_dtype(df[c]) or pd.api.types.is_complex_dtype(df[c]):
            raise ValueError(f"covariate column {c!r} is not numeric ({df[c].dtype}): "
                             "encode it first, e.g. pd.get_dummies")
    check_keys(df)
    _check_numbers(f"column {TARGET!r}", df[TARGET].dtype)
    df = df.sort_values([ID, TIME], kind="stable")
    ids, values, times, futr, hist = [], [], [], [], []
    for key, group in df.groupby(ID, sort=False, observed=True):
        label = f"series {key!r}"
        ds = pd.Index(group[TIME].to_numpy())
        arr = _series_values(label, _pandas_values(f"{label}'s {TARGET!r}", group[TARGET]))
        start = len(group) - len(arr)
        ids.append(key)
        values.append(arr)
        times.append(ds[start:])
        for names, out in ((futr_names, futr), (hist_exog, hist)):
            if names:
                cov = group[names].to_numpy(dtype=np.float64)[start:]
                if not np.isfinite(cov).all():
                    raise ValueError(f"{label} has NaN or inf in its covariates {names}")
                out.append(cov)
    if not ids:
        raise ValueError("y holds no rows")
    panel = Panel(ids, values, times, "long", futr=futr or None, hist=hist or None,
                  futr_names=futr_names, hist_names=hist_exog)
    if static_df is not None:
        panel.static, panel.static_names = read_static(static_df, ids)
    return panel


def check_keys(df) -> None:
    """A long frame's rows each have a series id and a time stamp, and no
    two rows share both (a ValueError naming the first such series and date)."""
    if df[TIME].isna().any():
        raise ValueError(f"column {TIME!r} has missing time stamps")
    if df[ID].isna().any():  # groupby would drop their rows
        raise ValueError(f"column {ID!r} has missing series ids")
    if df[TIME].dtype == object:
        import pandas as pd

        kind = pd.api.types.infer_dtype(df[TIME], skipna=False)
        if kind in ("mixed", "mixed-integer"):  # sorted by type first: not in time order
            kinds = sorted({type(v).__name__ for v in df[TIME]})
            raise ValueError(f"column {TIME!r} mixes time stamps of the types {kinds[:4]}: "
                             "they do not sort in time order; make them one type "
                             "(e.g. pd.to_datetime)")
        if kind == "datetime":  # dates with and without a time zone do not sort
            zones = {getattr(v, "tzinfo", None) is None for v in df[TIME]}
            if len(zones) > 1:
                raise ValueError(f"column {TIME!r} mixes time zones, dates with one and "
                                 "without: convert its dates to one zone (e.g. "
                                 "pd.to_datetime(..., utc=True))")
    repeated = df[df.duplicated([ID, TIME])]
    if len(repeated):
        first = repeated.iloc[0]
        raise ValueError(f"series {first[ID]!r} has duplicate time stamps in {TIME!r} "
                         f"({first[TIME]!s} more than once)")


def read_static(static_df, ids):
    """``(static (n_series, n_static) float64, names)`` for the series ``ids``."""
    import pandas as pd

    if not hasattr(static_df, "columns") or ID not in static_df.columns:
        raise ValueError(f"static_df must be a DataFrame with a {ID!r} column and one row "
                         "per series")
    names = [c for c in static_df.columns if c != ID]
    for c in names:
        if not pd.api.types.is_numeric_dtype(static_df[c]) or pd.api.types.is_complex_dtype(
                static_df[c]):
            raise ValueError(f"static column {c!r} is not numeric ({static_df[c].dtype}): "
                             "encode it first, e.g. pd.get_dummies")
    static_df = static_df.drop_duplicates()  # a series' values repeated on each of its rows
    keys = static_df[ID].dropna()
    repeated = keys[keys.duplicated()]
    if len(repeated):  # which row holds the series' values would be arbitrary
        raise ValueError(f"static_df has more than one row for the series "
                         f"{repeated.unique()[:5].tolist()} (of different values): give one "
                         "row per series")
    table = static_df.set_index(ID)
    absent = [i for i in ids if i not in table.index]
    if absent:
        raise ValueError(f"static_df has no row for the series {absent[:5]}"
                         + (f" and {len(absent) - 5} more" if len(absent) > 5 else ""))
    static = table.loc[list(ids), names].to_numpy(dtype=np.float64)
    if not np.isfinite(static).all():
        row, col = np.argwhere(~np.isfinite(static))[0]
        raise ValueError(f"static_df holds NaN or inf (series {ids[row]!r}, column "
                         f"{names[col]!r})")
    return static, names


def series_scale(values: np.ndarray, season_length: int) -> float:
    """MASE's denominator: the mean absolute seasonal difference of a series.

    Lag 1 when the series has no full season to difference; when that is 0
    too (a constant series), the mean absolute value, and 1 for a series of
    zeros. Computed on the series divided by its largest magnitude, so that
    values near 1e300 give a finite scale.
    """
    peak = float(np.max(np.abs(values)))
    if not np.isfinite(peak):
        raise ValueError("a series holds values too large to scale")
    if peak == 0:
        return 1.0
    unit = values / peak
    for lag in (season_length, 1):
        if len(unit) > lag:
            q = float(np.mean(np.abs(unit[lag:] - unit[:-lag])))
            if q > 0:
                return q * peak
    return float(np.mean(np.abs(unit))) * peak


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
        read laid end to end, every window at once.
        """
        L, h = self.window, self.horizon
        T = L + (h if self.decoder else 0)
        n_rows = np.array([len(o) for o in origins], dtype=np.int64)
        n = int(n_rows.sum())
        check_memory("the forecaster's training windows", n * T * self.n_features * 4 * 3)
        x = np.zeros((n, T, self.n_features), dtype=dtype)
        sizes = np.array([len(v) for v in panel.values], dtype=np.int64)
        starts = np.cumsum(sizes) - sizes
        y = np.concatenate(panel.values)
        series = np.repeat(np.arange(len(origins)), n_rows)  # each window's
        t = np.concatenate(origins).astype(np.int64, copy=False)
        first = starts[series]
        end = first + t  # each origin in y
        scale = np.asarray(panel.scales, dtype=np.float64)[series]
        avail = np.minimum(t, L)
        base = self._base(y, t, first)
        yf = y.astype(np.float64, copy=False)  # each series' running sums of |differences|
        sums = {lag: running_abs_diffs(yf, starts, sizes, lag) for lag in {1, self.season_length}}
        local = self._local_scale(sums, first, t, avail, scale)
        q = np.maximum(local, scale) if self.seasonal else scale
        qi = q[:, None]
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
            rows = np.arange(n)[:, None]
            x[rows, pos, col] = 1.0
            col += 1
            futr = np.concatenate(panel.futr)
            fs = self.futr_scaler
            x[:, :L, col:col + self.n_futr][valid] = fs(futr[src[valid]])
            if futr_future is not None:
                fut = fs(np.stack(futr_future))[series]
            else:
                fut = fs(futr[end[:, None] + dec])
            x[rows, pos, col:col + self.n_futr] = fut
            col += self.n_futr
        if self.n_hist:
            x[:, :L, col:col + self.n_hist][valid] = self.hist_scaler(
                np.concatenate(panel.hist)[src[valid]])
            col += self.n_hist
        lengths = avail + (h if self.decoder else 0)
        if self.n_static:
            steps = np.arange(T)[None, :] < lengths[:, None]
            x[:, :, col:][steps] = self.static_scaler(panel.static)[
                np.broadcast_to(series[:, None], steps.shape)[steps]]
        targets = None
        if with_targets:
            ahead = y[end[:, None] + np.arange(h)[None, :]]
            targets = (ahead - base) / qi
        finite = np.isfinite(x).all(axis=(1, 2)) & np.isfinite(base).all(axis=1) & (
            True if targets is None else np.isfinite(targets).all(axis=1))
        if not finite.all():  # finite values whose differences overflow
            i = int(series[np.argmin(finite)])
            raise ValueError(f"series {panel.ids[i]!r} cannot be read in units of its "
                             f"scale ({float(panel.scales[i]):.3g}): its steps overflow "
                             "(values near float64's limit): rescale it")
        return Windows(x, lengths, base, q, local,
                       None if targets is None else targets.astype(dtype))

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

