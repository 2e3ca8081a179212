"""Panels of time series for the forecaster: reading them.

A *panel* is a set of series, each with its own length, and optionally
covariates: future-known ones (given for the forecast horizon too),
past-observed ones (known only up to each forecast origin) and static ones
(one row per series). :func:`read_panel` accepts the long DataFrame of
statsforecast and neuralforecast (``unique_id``, ``ds``, ``y`` and covariate
columns), a list or dict of 1-D arrays or pandas Series, a single 1-D series,
or a 2-D array / wide DataFrame of equal-length series as columns.

How panels are cut into the model's windows is in :mod:`fastgru._windows`.

Plain NumPy and pandas: nothing here knows of layers or training.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from ._columns import ID, TARGET, TIME, plain
from ._series_ids import id_type_hint
from ._text_stamps import check_text_order, dates_read
from ._validation import as_float_array
from ._warnings import warn


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
    scales: np.ndarray | None = None  # each series' scale (see _windows.series_scale)
    id_dtype: object = None  # a long frame's categorical unique_id dtype, kept in the output

    @property
    def n_series(self) -> int:
        return len(self.values)


def pandas_frames(**frames) -> list:
    """Each of ``frames`` (by argument name) as pandas when it is a polars
    DataFrame (what statsforecast also reads), else as it is: fastgru reads
    and returns pandas. A ``ds`` column of ISO dates as text (``read_csv``'s
    ``"2024-01-31"``) or of date objects is read as dates, as statsforecast
    reads it (the frame is copied, not changed)."""
    out = []
    for name, frame in frames.items():
        if type(frame).__module__.partition(".")[0] == "polars":
            if type(frame).__name__ == "LazyFrame" and hasattr(frame, "collect"):
                frame = frame.collect()  # its rows, as statsforecast reads them
            try:
                frame = frame.to_pandas() if hasattr(frame, "to_pandas") else frame
            except Exception as exc:  # polars converts with pyarrow: say so
                raise ValueError(f"{name} is a polars {type(frame).__name__} that could not "
                                 f"be converted to pandas ({type(exc).__name__}: {exc}); "
                                 "polars converts with pyarrow (pip install pyarrow)") from None
        out.append(dates_read(frame))
    return out


def _is_long_frame(y) -> bool:
    return hasattr(y, "columns") and TARGET in getattr(y, "columns", ()) and (
        ID in y.columns or TIME in y.columns)


def _series_values(label: str, values, times=None) -> np.ndarray:
    """A 1-D float64 series without leading NaN; NaN inside or at the end, or
    inf anywhere, is a ValueError naming the series and where its first such
    NaN is (its time stamp from ``times``, else its position)."""
    arr = as_float_array(label, values, np.float64, ndim=1, allow_nan=True) if not (
        isinstance(values, np.ndarray) and values.dtype == np.float64 and values.ndim == 1
    ) else values
    finite = np.isfinite(arr)
    if not finite.all():
        if np.isinf(arr).any():
            raise ValueError(f"{label} holds inf")
        first = int(np.argmax(finite)) if finite.any() else len(arr)
        if not finite[first:].all():
            gaps = first + np.flatnonzero(~finite[first:])
            where = (f"{times[gaps[0]]}" if times is not None and len(times) == len(arr)
                     else f"position {gaps[0]}")
            raise ValueError(f"{label} has NaN after its first value ({len(gaps)}, the first "
                             f"at {where}: a gap or a missing end): fill or interpolate them "
                             "first (leading NaN are dropped; series that end on different "
                             "dates go in a long frame or a dict of series)")
        arr = arr[first:]
    if len(arr) == 0:
        raise ValueError(f"{label} has no values")
    return arr


def _check_numbers(label: str, values) -> None:
    """A pandas Series of numbers (bool, nullable integers and floats, or
    objects that are numbers), read as numbers next; a TypeError naming
    ``label`` for text (which arrays of values refuse too: convert it with
    ``pd.to_numeric``), and for dates, durations, categories and complex
    numbers, which ``to_numpy`` would turn into numbers silently
    (nanoseconds, codes, the real part)."""
    import pandas as pd

    api, dtype = pd.api.types, values.dtype
    if api.is_complex_dtype(dtype) or not (api.is_numeric_dtype(dtype) or api.is_object_dtype(
            dtype) or api.is_string_dtype(dtype)):
        raise TypeError(f"{label} must hold numbers, got dtype {dtype}")
    kind = None if api.is_numeric_dtype(dtype) else api.infer_dtype(values, skipna=True)
    if kind in ("string", "bytes") or kind in ("mixed", "mixed-integer") and any(
            isinstance(v, (str, bytes)) for v in values):  # not True with 1.5, or Decimals
        raise TypeError(f"{label} holds text ({dtype}): convert it first, e.g. with "
                        "pd.to_numeric")


def check_covariate(label: str, column, advice: str = "") -> None:
    """A covariate column of numbers or booleans, else a ValueError naming
    ``label``: text may be a category (to encode first), and a complex
    number would lose its imaginary part."""
    import pandas as pd

    if not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_complex_dtype(column):
        raise ValueError(f"{label} is not numeric ({column.dtype}): {advice}encode it first "
                         "(e.g. pd.get_dummies), or convert text that spells numbers with "
                         "pd.to_numeric")


def check_columns_unique(label: str, frame) -> None:
    """Each column name of ``frame`` once, as text (as the model keeps the
    names): a ValueError naming the repeated ones, which ``frame[name]``
    would read as a frame of several columns."""
    seen, repeated = set(), []
    for name in map(str, frame.columns):
        if name in seen and name not in repeated:
            repeated.append(name)
        seen.add(name)
    if repeated:
        raise ValueError(f"{label} has more than one column named {repeated[:5]} (names are "
                         "compared as text): give each column a name of its own")


def _pandas_values(label: str, values) -> np.ndarray:
    """A pandas Series' values as float64 (missing values NaN), with errors naming ``label``."""
    _check_numbers(label, values)
    try:
        return values.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{label} holds values that are not numbers ({exc})") from None


def _check_order(label: str, index) -> None:
    """A pandas index of dates must run forwards, each date once: the values
    are read in the index's order (a long frame is sorted by ``ds``; a
    series' values cannot be reordered apart from its covariates). An index
    of numbers may be row labels of a frame sorted otherwise: not checked.
    A MultiIndex (a long frame's ``unique_id`` and ``ds``) is refused."""
    import pandas as pd

    if isinstance(index, pd.MultiIndex):  # a long frame's keys: its values are many series
        raise ValueError(f"{label}'s index is a MultiIndex {list(index.names)}: its values "
                         "would be read as one series; give many series as a long DataFrame "
                         f"(e.g. reset_index() into columns {ID!r}, {TIME!r} and {TARGET!r})")
    timelike = isinstance(index, (pd.DatetimeIndex, pd.PeriodIndex))
    if timelike and index.hasnans:  # sorting would not place them
        raise ValueError(f"{label}'s index has missing dates (NaT): drop those rows or "
                         "give them their dates")
    if timelike and not (index.is_monotonic_increasing and index.is_unique):
        raise ValueError(f"{label}'s index is not in increasing time order (shuffled, "
                         "descending or repeated dates): its values would be read out of "
                         "order; sort it first, e.g. y.sort_index()")


def check_target_named(y) -> None:
    """A frame with a long frame's ``unique_id`` or ``ds`` column but no ``y``
    (values named otherwise, "sales"): a ValueError saying to rename them,
    rather than reading it as a wide frame whose key columns are series."""
    keys = [c for c in (ID, TIME) if c in getattr(y, "columns", ())]
    if keys:
        others = [str(c) for c in y.columns if c not in keys]
        raise ValueError(f"y has the column{'s' * (len(keys) > 1)} {keys} of a long DataFrame "
                         f"but no {TARGET!r} (its other columns: {others[:5]}): name the "
                         f"column of values {TARGET!r}, e.g. df.rename(columns="
                         f"{{{(others or ['value'])[0]!r}: {TARGET!r}}}), or give a wide frame "
                         f"its dates as the index, df.set_index({TIME!r})")


def read_panel(y, X=None, static_df=None, hist_exog=None) -> Panel:
    """Read what ``GRUForecaster.fit`` accepts into a :class:`Panel` (see module doc)."""
    y, X, static_df = pandas_frames(y=y, X=X, static_df=static_df)
    if _is_long_frame(y):
        if X is not None:
            raise ValueError("X is for array input: with a long DataFrame, covariates are "
                             "its extra columns (and static_df)")
        return _read_long(y, static_df, hist_exog)
    check_target_named(y)
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
            label = f"series {plain(key)!r}"
            if getattr(s, "ndim", 1) != 1 and np.ndim(s) != 1:
                raise ValueError(f"{label} must be 1-D, got shape {np.shape(s)}")
            index = s.index if hasattr(s, "index") and hasattr(s, "iloc") else None
            if index is not None:
                _check_order(label, index)
            raw = _pandas_values(label, s) if index is not None else s
            arr = _series_values(label, raw, index)
            ids.append(key)
            values.append(arr)
            times.append(None if index is None else index[len(index) - len(arr):])
        return Panel(ids, values, times, "dict" if isinstance(y, dict) else "list")
    return _read_wide(y, X, hist_exog)


def _check_wide_numbers(frame) -> None:
    """A wide frame's columns are series: a column of dates or text means a
    long frame whose columns are named otherwise (or dates not in the index),
    a TypeError that says how to pass either."""
    import pandas as pd

    kinds = [(c, t) for c, t in zip(frame.columns, frame.dtypes)
             if not pd.api.types.is_numeric_dtype(t)]
    if kinds:
        odd = [c for c, _ in kinds]
        dates = [c for c, t in kinds if pd.api.types.is_datetime64_any_dtype(t)
                 or isinstance(t, pd.PeriodDtype)]
        keys = {**{c: ID for c in [c for c in odd if c not in dates][:1]},
                **{c: TIME for c in dates[:1]}}
        raise TypeError(f"y is read as a wide DataFrame, a series per column, but its columns "
                        f"{[str(c) for c in odd[:3]]} are not numbers. A long DataFrame needs "
                        f"the columns {ID!r}, {TIME!r} and {TARGET!r}: rename yours, e.g. "
                        f"df.rename(columns={keys!r}) and the values' column {TARGET!r}"
                        + (f"; a wide one has its dates as the index, df.set_index("
                           f"{dates[0]!r})" if dates else ""))


def _read_wide(y, X, hist_exog) -> Panel:
    """One series (1-D), or equal-length series as the columns of a 2-D array
    or wide DataFrame, with past-observed covariates ``X`` aligned in time."""
    index, name, form, frame = None, None, "array1d", None
    if hasattr(y, "iloc") and hasattr(y, "index"):
        index = y.index
        if getattr(y, "ndim", 1) == 1:
            form, name = "series", y.name
        else:
            form, name = "frame", list(y.columns)
            frame = y
        _check_order("y", index)
        y = y.to_numpy()
    if y is None or isinstance(y, (str, bytes)) or np.ndim(y) == 0:
        raise TypeError(f"y must be a series, a list or dict of series or a long DataFrame, "
                        f"got {type(y).__name__}")
    try:
        values = as_float_array("y", y, np.float64, ndim=(1, 2), allow_nan=True)
    except TypeError:
        if frame is not None:  # which columns, and how to pass a long frame
            _check_wide_numbers(frame)
        raise
    if values.ndim == 2 and form == "array1d":
        form = "array2d"
    values = values.reshape(values.shape[0], -1)
    hist = None
    if X is not None:
        _check_aligned(X, index)
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
        label = "y" if values.shape[1] == 1 else f"column {(name[j] if name else j)!r} of y"
        arr = _series_values(label, values[:, j], index)
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


def _check_aligned(X, index) -> None:
    """Pandas ``X`` and ``y`` both indexed by dates must have the same: X is
    read step by step with y, by position, and other dates (or its dates in
    another order) would be read silently against other steps. Any other
    index (row numbers, or none) is taken as positions."""
    import pandas as pd

    dated = (pd.DatetimeIndex, pd.PeriodIndex)
    own = getattr(X, "index", None) if hasattr(X, "iloc") else None
    if not (isinstance(index, dated) and isinstance(own, dated)) or own.equals(index):
        return
    try:  # the same dates in another unit (a parquet file's) or zone are the same
        if len(own) == len(index) and bool(np.all(own == index)):
            return
    except (TypeError, ValueError):  # dates with and without a zone, periods of dates
        pass
    raise ValueError("X's dates are not y's (other dates, or another order): X is read by "
                     "position, step by step with y; align it first, e.g. X.reindex(y.index)")


def past_names(hist_exog) -> list:
    """``hist_exog`` as a list of column names: a name, or a sequence of them."""
    if hist_exog is None:
        return []
    return [hist_exog] if isinstance(hist_exog, str) else list(hist_exog)


def warn_saved_index(panel) -> None:
    """Warn (``fit``'s) of a covariate whose name pandas gives a row index
    written out with the rows (:func:`_saved_index`): read as any other."""
    for kind, names, frame in (("future-known", panel.futr_names, "y"),
                               ("static", panel.static_names, "static_df")):
        saved = [c for c in names if _saved_index(c)]
        if saved:
            warn(f"GRUForecaster reads the column {saved[0]!r} of {frame} as a {kind} "
                 "covariate: it looks like a saved row index (pd.read_csv names an unnamed "
                 "first column so, reset_index() names one 'index'). Drop it, e.g. "
                 f"{frame}.drop(columns={saved!r}), or read the file with index_col=0")


def _saved_index(name) -> bool:
    """Whether a column's name is one pandas gives a row index written out
    with the rows: ``'Unnamed: 0'`` (``read_csv``), ``'index'`` or
    ``'level_0'`` (``reset_index``)."""
    return isinstance(name, str) and (
        name in ("index", "level_0") or re.fullmatch(r"Unnamed: \d+", name) is not None)


def _read_long(df, static_df, hist_exog) -> Panel:
    import pandas as pd

    missing = [c for c in (ID, TIME, TARGET) if c not in df.columns]
    if missing:
        indexed = [c for c in missing if c in df.index.names]
        raise ValueError(f"the long DataFrame needs the columns {ID!r}, {TIME!r} and "
                         f"{TARGET!r}; it has no {missing}" + (
                             f" ({indexed} in its index: call reset_index() first)"
                             if indexed else ""))
    check_columns_unique("the long DataFrame", df)
    hist_exog = past_names(hist_exog)
    extra = [c for c in df.columns if c not in (ID, TIME, TARGET)]
    unknown = [c for c in hist_exog if c not in extra]
    if unknown:
        raise ValueError(f"hist_exog names columns that y does not have: {unknown}")
    futr_names = [c for c in extra if c not in hist_exog]
    for c in extra:
        check_covariate(f"covariate column {c!r}", df[c], f"every column besides {ID!r}, "
                        f"{TIME!r} and {TARGET!r} is a covariate; drop it, or ")
    check_keys(df)
    _check_numbers(f"column {TARGET!r}", df[TARGET])
    df = df.sort_values([ID, TIME], kind="stable")
    groups = df.groupby(ID, sort=False, observed=True)
    read = _read_sorted(df, groups, futr_names, hist_exog)
    ids, values, times, futr, hist = read or ([], [], [], [], [])
    for key, group in () if read else groups:  # series by series: to say which one is wrong
        label = f"series {plain(key)!r}"  # 1, not np.int64(1)
        ds = pd.Index(group[TIME].to_numpy())
        arr = _series_values(label, _pandas_values(f"{label}'s {TARGET!r}", group[TARGET]), ds)
        start = len(group) - len(arr)
        ids.append(key)
        values.append(arr)
        times.append(ds[start:])
        for names, out in ((futr_names, futr), (hist_exog, hist)):
            if names:
                cov = group[names].to_numpy(dtype=np.float64)[start:]
                if not np.isfinite(cov).all():
                    row, col = np.argwhere(~np.isfinite(cov))[0]
                    raise ValueError(
                        f"{label} has NaN or inf in its covariates {names} (first "
                        f"{names[col]!r} at {ds[start + row]}): fill them, e.g. "
                        f"df[cols] = df.groupby({ID!r})[cols].ffill().fillna(0), or drop those "
                        f"rows (a lagged feature's first rows: df.dropna(subset=cols))")
                out.append(cov)
    if not ids:
        raise ValueError("y holds no rows")
    panel = Panel(ids, values, times, "long", futr=futr or None, hist=hist or None,
                  futr_names=futr_names, hist_names=hist_exog)
    if isinstance(df[ID].dtype, pd.CategoricalDtype):
        panel.id_dtype = df[ID].dtype
    if static_df is not None:
        panel.static, panel.static_names = read_static(static_df, ids)
    return panel


def _read_sorted(df, groups, futr_names, hist_names):
    """``(ids, values, times, futr, hist)`` of a long frame sorted by series
    and time, read as a whole: None when a series holds NaN or values that
    are not numbers (read one by one, leading NaN dropped, the others an
    error naming the series)."""
    import pandas as pd

    sizes = groups.size()
    codes = groups.ngroup().to_numpy()
    if len(codes) == 0 or (np.diff(codes) < 0).any():  # each series' rows together
        return None
    try:
        y = df[TARGET].to_numpy(dtype=np.float64, na_value=np.nan, copy=True)  # not the frame's
        covs = [df[names].to_numpy(dtype=np.float64) if names else None
                for names in (futr_names, hist_names)]
    except (TypeError, ValueError):
        return None
    if not (np.isfinite(y).all() and all(c is None or np.isfinite(c).all() for c in covs)):
        return None
    ends = np.cumsum(sizes.to_numpy())
    cuts = list(zip((ends - sizes.to_numpy()).tolist(), ends.tolist()))
    ds = df[TIME].to_numpy()
    # one index, sliced; stamps as objects make an index per series (its type
    # is inferred from the series' own stamps)
    whole = None if ds.dtype == object else pd.Index(ds)
    times = [pd.Index(ds[a:b]) if whole is None else whole[a:b] for a, b in cuts]
    return (list(sizes.index), [y[a:b] for a, b in cuts], times,
            *([] if c is None else [c[a:b] for a, b in cuts] for c in covs))


def check_keys(df) -> None:
    """A long frame's rows each have a series id and a time stamp, and no
    two rows share both (a ValueError naming the first such series and date)."""
    if df[TIME].isna().any():
        raise ValueError(f"column {TIME!r} has missing time stamps")
    if df[ID].isna().any():  # groupby would drop their rows
        raise ValueError(f"column {ID!r} has missing series ids")
    import pandas as pd

    ds = df[TIME]
    if ds.dtype == object and pd.api.types.infer_dtype(ds) in ("floating", "mixed-integer-float"):
        ds = pd.to_numeric(ds, errors="coerce")  # numbers as objects sort as numbers
    if ds.dtype.kind == "f" and np.isinf(ds.to_numpy()).any():  # sorted first or last
        key = plain(df[ID][np.isinf(ds.to_numpy())].iloc[0])
        raise ValueError(f"column {TIME!r} has infinite time stamps (series {key!r}): they "
                         "would be sorted before or after every other; give those rows their "
                         "time")

    if df[TIME].dtype == object:
        kind = pd.api.types.infer_dtype(df[TIME], skipna=False)
        if kind in ("mixed", "mixed-integer"):  # sorted by type first: not in time order
            kinds = sorted({type(v).__name__ + (f"[{v.freqstr}]" if isinstance(v, pd.Period)
                                                else "") for v in df[TIME]})
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
    if len(repeated):  # each column's own value (a row of numbers would be floats)
        key, stamp = repeated[ID].iloc[0], repeated[TIME].iloc[0]
        key = plain(key)  # 0, not np.int64(0)
        raise ValueError(f"series {key!r} has duplicate time stamps in {TIME!r} "
                         f"({stamp!s} more than once)")
    check_text_order(df[ID], df[TIME], given_order=True)


def read_static(static_df, ids):
    """``(static (n_series, n_static) float64, names)`` for the series ``ids``."""
    if not hasattr(static_df, "columns") or ID not in static_df.columns:
        raise ValueError(f"static_df must be a DataFrame with a {ID!r} column and one row "
                         "per series")
    check_columns_unique("static_df", static_df)
    names = [c for c in static_df.columns if c != ID]
    for c in names:
        check_covariate(f"static column {c!r}", static_df[c])
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
                         + (f" and {len(absent) - 5} more" if len(absent) > 5 else "")
                         + id_type_hint(absent[0], table.index, "static_df"))
    static = table.loc[list(ids), names].to_numpy(dtype=np.float64)
    if not np.isfinite(static).all():
        row, col = np.argwhere(~np.isfinite(static))[0]
        raise ValueError(f"static_df holds NaN or inf (series {ids[row]!r}, column "
                         f"{names[col]!r})")
    return static, names
