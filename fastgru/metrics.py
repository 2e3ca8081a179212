"""Forecast accuracy: MASE, sMAPE, interval coverage, MSIS, pinball loss.

The definitions are those of the M4 competition and of the Monash forecasting
archive, so that numbers computed here compare with published tables:

* **MASE** divides the mean absolute error over the horizon by the in-sample
  mean absolute error of the seasonal naive forecast,
  ``mean(|y_t - y_{t-m}|)`` over the training series. A training series of
  ``m`` values or fewer has no lag-``m`` difference: its scale falls back to
  lag 1, as in the Monash archive. A scale of 0 (a series constant at lag
  ``m``) makes MASE undefined: it is ``nan``.
* **sMAPE** is ``200 * |y - f| / (|y| + |f|)`` averaged over the horizon
  (0 to 200; a step where truth and forecast are both 0 counts 0).
* **Coverage** is the fraction of true values inside ``[lo, hi]``.
* **MSIS** is the mean scaled interval score of a ``level`` % interval,
  ``(hi - lo) + 2/a (lo - y) [y < lo] + 2/a (y - hi) [y > hi]``, with
  ``a = 1 - level / 100``, divided by the MASE scale.
* **Pinball loss** of a quantile ``q``: ``max(q (y - f), (q - 1) (y - f))``.

The functions take numpy arrays; :func:`evaluate` takes the long data frames
(``unique_id``, ``ds``, ``y``) of :class:`fastgru.GRUForecaster` and
statsforecast and needs pandas.
"""

from __future__ import annotations

import numbers
import re

import numpy as np

__all__ = ["mase", "smape", "coverage", "msis", "pinball_loss", "evaluate"]


# ------------------------------------------------------------------ checks
def _finite(name, value, ndim=None):
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an array of numbers, got "
                        f"{type(value).__name__}") from None
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    bad = ~np.isfinite(arr)
    if bad.any():
        raise ValueError(f"{name} contains NaN or infinite values ({int(bad.sum())} of "
                         f"{arr.size})")
    return arr


def _same_shape(reference_name, reference, **others):
    for name, arr in others.items():
        if arr.shape != reference.shape:
            raise ValueError(f"{name} has shape {arr.shape}, {reference_name} has shape "
                             f"{reference.shape}: they must match")


def _interval(y_true, lo, hi):
    y = _finite("y_true", y_true)
    lo, hi = _finite("lo", lo), _finite("hi", hi)
    _same_shape("y_true", y, lo=lo, hi=hi)
    if (lo > hi).any():
        raise ValueError(f"lo is above hi at {int((lo > hi).sum())} of {lo.size} points")
    return y, lo, hi


def _season_length(season_length):
    if isinstance(season_length, bool) or not isinstance(season_length, numbers.Integral):
        raise TypeError(f"season_length must be an integer, got "
                        f"{type(season_length).__name__} {season_length!r}")
    if season_length < 1:
        raise ValueError(f"season_length must be >= 1, got {season_length}")
    return int(season_length)


def _level(level):
    if isinstance(level, bool) or not isinstance(level, numbers.Real) or not 0 < level < 100:
        raise ValueError(f"level must be a number between 0 and 100 (exclusive), got {level!r}")
    return float(level)


def _scale(y_train, season_length):
    """In-sample MAE of the seasonal naive forecast (lag 1 below ``m + 1`` values)."""
    try:
        train = np.asarray(y_train, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"y_train must be an array of numbers, got "
                        f"{type(y_train).__name__}") from None
    if train.ndim != 1:
        raise ValueError(f"y_train must be 1-D (one series), got shape {train.shape}")
    if np.isinf(train).any():
        raise ValueError("y_train contains infinite values")
    if train.size < 2:
        raise ValueError(f"y_train has {train.size} values: the scale needs at least 2")
    m = season_length if train.size > season_length else 1
    diffs = np.abs(train[m:] - train[:-m])
    diffs = diffs[~np.isnan(diffs)]
    return float(diffs.mean()) if diffs.size else float("nan")


def _pair(y_true, y_pred):
    y = _finite("y_true", y_true)
    f = _finite("y_pred", y_pred)
    _same_shape("y_true", y, y_pred=f)
    return y, f


# ----------------------------------------------------------------- metrics
def mase(y_true, y_pred, y_train, season_length=1):
    """Mean absolute scaled error of one series' forecast.

    Parameters
    ----------
    y_true, y_pred : array (horizon,)
        Truth and forecast over the horizon (finite values).
    y_train : array (n_train,)
        The training series, oldest first; NaN values are skipped (a
        difference that involves one is left out of the scale).
    season_length : int, default 1
        The lag ``m`` of the scale ``mean(|y_t - y_{t-m}|)``. A training series
        of ``m`` values or fewer is scaled with lag 1.

    Returns
    -------
    float
        ``mean(|y_true - y_pred|) / scale``; ``nan`` when the scale is 0 (a
        constant series) or has no pair of values.

    Raises
    ------
    ValueError
        Shapes that differ, NaN or infinite truth or forecast, a training
        series of fewer than 2 values.

    Examples
    --------
    >>> from fastgru.metrics import mase
    >>> mase([5.0, 6.0], [4.0, 6.0], y_train=[1.0, 2.0, 4.0])  # scale (1 + 2) / 2
    0.3333333333333333
    >>> mase([3.0], [1.0], y_train=[1.0, 2.0, 2.0, 3.0], season_length=2)  # scale 1
    2.0
    """
    y, f = _pair(y_true, y_pred)
    scale = _scale(y_train, _season_length(season_length))
    if not scale > 0:
        return float("nan")
    return float(np.abs(y - f).mean() / scale)


def smape(y_true, y_pred):
    """Symmetric mean absolute percentage error, 0 to 200, as in the M4 competition.

    Parameters
    ----------
    y_true, y_pred : array
        Truth and forecast, same shape (finite values).

    Returns
    -------
    float
        ``mean(200 |y - f| / (|y| + |f|))``; a point where both are 0 counts 0.

    Examples
    --------
    >>> from fastgru.metrics import smape
    >>> smape([100.0, 0.0], [110.0, 0.0])  # (200 * 10 / 210 + 0) / 2
    4.761904761904762
    """
    y, f = _pair(y_true, y_pred)
    denom = np.abs(y) + np.abs(f)
    terms = np.divide(200.0 * np.abs(y - f), denom, out=np.zeros_like(denom),
                      where=denom > 0)
    return float(terms.mean())


def coverage(y_true, lo, hi):
    """Fraction of true values inside their interval ``[lo, hi]`` (bounds included).

    Parameters
    ----------
    y_true, lo, hi : array
        Same shape; ``lo <= hi`` everywhere.

    Returns
    -------
    float
        Between 0 and 1: an 80% interval should give about 0.8.

    Examples
    --------
    >>> from fastgru.metrics import coverage
    >>> coverage([1.0, 2.0, 3.0, 4.0], lo=[0.0, 2.5, 3.0, 3.0], hi=[2.0, 3.0, 3.0, 5.0])
    0.75
    """
    y, lo, hi = _interval(y_true, lo, hi)
    return float(((y >= lo) & (y <= hi)).mean())


def msis(y_true, lo, hi, y_train, season_length=1, level=95):
    """Mean scaled interval score of one series' ``level`` % interval (M4 competition).

    Parameters
    ----------
    y_true, lo, hi : array (horizon,)
        Truth and the interval's bounds (``lo <= hi``).
    y_train : array (n_train,)
        The training series, scaled as in :func:`mase`.
    season_length : int, default 1
    level : float, default 95
        The interval's nominal coverage in percent; a point outside the
        interval costs ``2 / (1 - level / 100)`` times its distance to it.

    Returns
    -------
    float
        Lower is better; ``nan`` when the scale is 0, as for :func:`mase`.

    Examples
    --------
    >>> from fastgru.metrics import msis
    >>> # widths 2 and 2; the second point is 1 above hi: 2 / 0.05 * 1 = 40
    >>> round(msis([1.0, 4.0], [0.0, 1.0], [2.0, 3.0], y_train=[0.0, 1.0, 2.0], level=95), 9)
    22.0
    """
    y, lo, hi = _interval(y_true, lo, hi)
    if y.ndim != 1:
        raise ValueError(f"y_true must be 1-D (one series), got shape {y.shape}")
    alpha = 1.0 - _level(level) / 100.0
    scale = _scale(y_train, _season_length(season_length))
    if not scale > 0:
        return float("nan")
    return float(_interval_score(y, lo, hi, alpha).mean() / scale)


def _interval_score(y, lo, hi, alpha):
    return ((hi - lo) + 2.0 / alpha * np.clip(lo - y, 0.0, None)
            + 2.0 / alpha * np.clip(y - hi, 0.0, None))


def pinball_loss(y_true, q_pred, q):
    """Mean pinball (quantile) loss of a forecast of the ``q`` quantile.

    Parameters
    ----------
    y_true, q_pred : array
        Truth and quantile forecast, same shape.
    q : float
        The quantile, strictly between 0 and 1 (0.5: half the absolute error).

    Returns
    -------
    float

    Examples
    --------
    >>> from fastgru.metrics import pinball_loss
    >>> pinball_loss([10.0, 10.0], [8.0, 13.0], q=0.9)  # (0.9 * 2 + 0.1 * 3) / 2
    1.05
    """
    y = _finite("y_true", y_true)
    f = _finite("q_pred", q_pred)
    _same_shape("y_true", y, q_pred=f)
    if isinstance(q, bool) or not isinstance(q, numbers.Real) or not 0 < q < 1:
        raise ValueError(f"q must be a number strictly between 0 and 1, got {q!r}")
    diff = y - f
    return float(np.maximum(q * diff, (q - 1.0) * diff).mean())


# ---------------------------------------------------------------- evaluate
_BOUND = re.compile(r"^(?P<model>.+)-(?P<side>lo|hi)-(?P<level>\d+(?:\.\d+)?)$")
_KEYS = ("unique_id", "ds", "y", "cutoff")


def _label(level):
    return f"{level:g}"


def _columns(name, frame, required):
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} has no column {', '.join(map(repr, missing))} "
                         f"(columns: {list(frame.columns)})")


def _model_levels(forecasts, models, level):
    """``{model: {level: (lo column, hi column)}}`` of the intervals to score."""
    found = {}
    for column in forecasts.columns:
        match = _BOUND.match(str(column))
        if match:
            found.setdefault(match["model"], {}).setdefault(
                float(match["level"]), {})[match["side"]] = column
    if models is None:
        models = [c for c in forecasts.columns if c not in _KEYS and not _BOUND.match(str(c))]
        if not models:
            raise ValueError("forecasts_df has no forecast column besides unique_id, ds, y, "
                             "cutoff and interval bounds")
    else:
        models = [models] if isinstance(models, (str, numbers.Number)) else list(models)
        _columns("forecasts_df", forecasts, models)
    columns = {}
    for model in models:
        bounds = found.get(model, {})
        if level is None:
            levels = sorted(lv for lv, sides in bounds.items() if len(sides) == 2)
        else:
            levels = sorted(_level(lv) for lv in np.atleast_1d(level).tolist())
            for lv in levels:
                if len(bounds.get(lv, {})) != 2:
                    with_it = [m for m in models if len(found.get(m, {}).get(lv, {})) == 2]
                    raise ValueError(f"forecasts_df has no columns '{model}-lo-{_label(lv)}' "
                                     f"and '{model}-hi-{_label(lv)}' for level={_label(lv)}"
                                     + (f": score the models with them, models={with_it}, or "
                                        "each model's own levels, level=None" if with_it else ""))
        columns[model] = {lv: (bounds[lv]["lo"], bounds[lv]["hi"]) for lv in levels}
    return columns


def _one_row_per_date(name, frame):
    """A ValueError naming the first repeated ``(unique_id, ds)`` of ``frame``."""
    repeated = frame.duplicated(["unique_id", "ds"])
    if repeated.any():
        raise ValueError(f"{name} has more than one row for some (unique_id, ds): "
                         + _describe(frame[repeated], ["unique_id", "ds"]))


def _describe(frame, keys, n=3):
    rows = frame[keys].head(n).to_dict("records")
    return ", ".join(str(r) for r in rows)


def _float_stamps(truth, forecasts):
    """``truth``'s float ``ds``, each replaced by the forecast's of its series
    that is within 1e-12 of it (relative): stamps summed step by step
    (1990 + 31 / 12, and the forecaster's 1990 + 30 / 12 + 1 / 12) differ in
    their last digits. Unchanged where they cannot be lined up."""
    import pandas as pd

    rows = truth[["unique_id", "ds"]].reset_index(drop=True)
    known = forecasts[["unique_id", "ds"]].drop_duplicates().rename(columns={"ds": "_near"})
    try:
        near = pd.merge_asof(rows.reset_index().dropna().sort_values("ds"),
                             known.dropna().sort_values("_near"), left_on="ds",
                             right_on="_near", by="unique_id", direction="nearest")
    except (TypeError, ValueError):  # ids of other types: the join says so
        return truth["ds"].to_numpy()
    a, b = near["ds"].to_numpy(), near["_near"].to_numpy()
    close = np.abs(a - b) <= 1e-12 * np.maximum(np.abs(a), np.abs(b))
    out = rows["ds"].to_numpy(copy=True)
    out[near["index"].to_numpy()[close]] = b[close]
    return out


def _from_first_value(ds, y):
    """A series' history from its first value: leading NaN rows (a ragged
    frame's, dropped by the forecaster too) are no history, and counted they
    would change the scale's lag and make a short history's scale undefined."""
    valued = ~np.isnan(y)
    first = int(np.argmax(valued)) if valued.any() else 0
    return ds[first:], y[first:]


def evaluate(forecasts_df, test_df, train_df, season_length, models=None, level=None,
             per_series=False):
    """Mean MASE, sMAPE, interval coverage and MSIS of every model in a long frame.

    Parameters
    ----------
    forecasts_df : DataFrame
        Columns ``unique_id``, ``ds``, one column per model (its point
        forecast) and, for intervals, ``<model>-lo-<level>`` and
        ``<model>-hi-<level>``: the output of ``predict(level=...)`` or of
        statsforecast. With a ``cutoff`` column (the output of
        ``cross_validation``), each (series, cutoff) pair is a forecast of its
        own, scaled by the training values up to its cutoff.
    test_df : DataFrame or None
        Columns ``unique_id``, ``ds``, ``y``: the truth. ``None`` takes
        ``y`` from ``forecasts_df`` (as ``cross_validation`` returns it).
    train_df : DataFrame
        Columns ``unique_id``, ``ds``, ``y``: the history of every series,
        for the MASE and MSIS scale (from each series' first value: leading
        NaN rows are not counted). Without a cutoff it must end before the
        first forecast date of each series (a frame that includes the test
        period is refused); with one, only its rows up to each cutoff are used.
    season_length : int
        The scale's lag ``m`` (1 yearly, 4 quarterly, 12 monthly data).
    models : str or list of str, optional
        Models to score; default every column that is not a key or a bound.
    level : list of float, optional
        Interval levels to score (their columns must exist); default every
        level whose two bounds are present, per model.
    per_series : bool, default False
        Return one row per series (and cutoff) and model instead of the means.

    Returns
    -------
    DataFrame
        Indexed by model: ``mase``, ``smape``, ``coverage_<level>`` (0 to 1) and
        ``msis_<level>`` for each level, ``n_series`` (forecasts scored) and
        ``n_undefined`` (series with a zero scale, or a single value before
        the forecast, left out of the MASE and MSIS means as in the Monash
        archive). Each metric is averaged over each
        series' horizon, then over series.

    Raises
    ------
    ValueError
        A missing column, a forecast without truth (or a true value without
        a forecast), a series absent from ``train_df`` or one whose
        ``train_df`` rows overlap its forecast dates, NaN forecasts, a
        missing series id, date or cutoff, two ``train_df`` rows of one
        series and date.
    TypeError
        Series ids or time stamps of types that cannot be matched or compared
        across the frames (text against dates, positions against dates); a
        frame that is not a DataFrame, or None for ``forecasts_df`` or
        ``train_df``.

    Examples
    --------
    >>> import pandas as pd
    >>> from fastgru.metrics import evaluate
    >>> train = pd.DataFrame({"unique_id": "a", "ds": [1, 2, 3], "y": [1.0, 2.0, 4.0]})
    >>> test = pd.DataFrame({"unique_id": "a", "ds": [4, 5], "y": [5.0, 6.0]})
    >>> fc = pd.DataFrame({"unique_id": "a", "ds": [4, 5], "naive": [4.0, 4.0],
    ...                    "naive-lo-80": [3.0, 3.0], "naive-hi-80": [5.0, 5.0]})
    >>> evaluate(fc, test, train, season_length=1).round(3)
           mase   smape  coverage_80  msis_80  n_series  n_undefined
    model
    naive   1.0  31.111          0.5    4.667         1            0
    """
    try:
        import pandas as pd
    except ImportError as error:  # pragma: no cover - pandas is optional
        raise ImportError("evaluate needs pandas (pip install pandas)") from error
    from ._panel import pandas_frames

    m = _season_length(season_length)
    forecasts_df, test_df, train_df = pandas_frames(forecasts_df=forecasts_df, test_df=test_df,
                                                    train_df=train_df)
    for name, frame in (("forecasts_df", forecasts_df), ("test_df", test_df),
                        ("train_df", train_df)):
        if frame is None and name != "test_df":
            raise TypeError(f"{name} is required" + (
                ": the training series scale the MASE and MSIS (the frame fit was given; "
                "for a backtest, the frame it was run on)" if name == "train_df" else ""))
        if frame is not None and not isinstance(frame, pd.DataFrame):
            raise TypeError(f"{name} must be a pandas DataFrame, got {type(frame).__name__}")
    _columns("forecasts_df", forecasts_df, ["unique_id", "ds"])
    _columns("train_df", train_df, ["unique_id", "ds", "y"])
    columns = _model_levels(forecasts_df, models, level)
    cv = "cutoff" in forecasts_df.columns
    for name, frame, keys in (("forecasts_df", forecasts_df, ["unique_id", "ds", "cutoff"][
            :3 if cv else 2]), ("train_df", train_df, ["unique_id", "ds"])):
        absent = [k for k in keys if frame[k].isna().any()]
        if absent:  # grouping would drop their rows
            raise ValueError(f"{name} has missing values in {absent}")
    _one_row_per_date("train_df", train_df)  # each would count in the scale
    from ._series_ids import ids_as_known
    from ._text_stamps import check_text_order

    # a forecaster's ids kept as text ('1') are the caller's (1)
    forecasts_df = forecasts_df.assign(unique_id=ids_as_known(forecasts_df["unique_id"],
                                                              train_df["unique_id"]))

    stamps = pd.concat([train_df[["unique_id", "ds"]],
                        forecasts_df[["unique_id", "ds"]]]).drop_duplicates()
    try:  # the scale and the cut before the forecasts follow the order of ds
        check_text_order(stamps["unique_id"], stamps["ds"])
    except ValueError as exc:
        raise ValueError(f"train_df's and forecasts_df's {exc}") from None
    if test_df is None:
        _columns("forecasts_df", forecasts_df, ["y"])
        merged = forecasts_df
    else:
        _columns("test_df", test_df, ["unique_id", "ds", "y"])
        _one_row_per_date("test_df", test_df)
        truth = test_df[["unique_id", "ds", "y"]]
        kinds = (truth["ds"].dtype, forecasts_df["ds"].dtype)
        if kinds[0] != kinds[1] and kinds[0].kind == kinds[1].kind == "M":
            # pyarrow's timestamps (a parquet file's) and numpy's: one kind
            truth = truth.assign(ds=pd.DatetimeIndex(truth["ds"]))
            forecasts_df = forecasts_df.assign(ds=pd.DatetimeIndex(forecasts_df["ds"]))
        if kinds[0].kind == kinds[1].kind == "f":
            truth = truth.assign(ds=_float_stamps(truth, forecasts_df))
        try:
            merged = forecasts_df.drop(columns=["y"], errors="ignore").merge(
                truth, on=["unique_id", "ds"], how="outer", indicator=True)
        except (TypeError, ValueError):  # pandas' own message names neither frame
            if all(forecasts_df[k].dtype == truth[k].dtype for k in ("unique_id", "ds")):
                raise  # not the keys' types
            kinds = ", ".join(f"{k} {forecasts_df[k].dtype} against {truth[k].dtype}"
                              for k in ("unique_id", "ds"))
            raise TypeError(f"forecasts_df's and test_df's keys cannot be matched ({kinds}): "
                            "give both one type of series ids and time stamps (a forecast "
                            "whose dates could not be continued numbers them by position "
                            "after the history)") from None
        no_truth = merged[merged["_merge"] == "left_only"]
        if len(no_truth):
            raise ValueError(f"test_df has no true value for {len(no_truth)} forecast rows of "
                             f"forecasts_df, e.g. {_describe(no_truth, ['unique_id', 'ds'])}")
        no_forecast = merged[merged["_merge"] == "right_only"]
        if len(no_forecast) and not cv:
            raise ValueError(f"forecasts_df has no forecast for {len(no_forecast)} rows of "
                             f"test_df, e.g. {_describe(no_forecast, ['unique_id', 'ds'])}")
        merged = merged[merged["_merge"] == "both"].drop(columns="_merge")
    if merged.empty:
        raise ValueError("forecasts_df has no rows to score")
    row_keys = ["unique_id", "ds", "cutoff"] if cv else ["unique_id", "ds"]
    repeated = merged.duplicated(row_keys, keep=False)
    if repeated.any():
        raise ValueError(f"forecasts_df has more than one row for some ({', '.join(row_keys)}): "
                         + _describe(merged[repeated], row_keys))
    _finite("the true values y", merged["y"].to_numpy())
    for model, levels in columns.items():
        for col in [model, *(c for pair in levels.values() for c in pair)]:
            values = pd.to_numeric(merged[col], errors="coerce").to_numpy(dtype=np.float64)
            if not np.isfinite(values).all():
                raise ValueError(f"forecasts_df column {col!r} has NaN, infinite or "
                                 f"non-numeric values ({int((~np.isfinite(values)).sum())} "
                                 f"of {values.size})")
    keys = ["unique_id", "cutoff"] if cv else ["unique_id"]
    merged = merged.sort_values([*keys, "ds"], kind="stable").reset_index(drop=True)
    by = keys if cv else "unique_id"

    history = {uid: _from_first_value(g["ds"].to_numpy(), g["y"].to_numpy(dtype=np.float64))
               for uid, g in train_df.sort_values(["unique_id", "ds"], kind="stable")
               .groupby("unique_id", sort=False, observed=True)}
    groups = merged.groupby(by, sort=True, observed=True)
    first_ds = groups["ds"].min()
    scales = []
    for key, start in first_ds.items():
        uid, cutoff = key if cv else (key, None)
        if uid not in history:
            raise ValueError(f"train_df has no rows for the series unique_id={uid!r}")
        ds, y = history[uid]
        try:
            later = ds > cutoff if cv else ds >= start
        except TypeError:  # numbers against text, naive against aware dates
            other = f"cutoff={cutoff!r}" if cv else f"ds={start!r}"
            raise TypeError(f"train_df's ds of unique_id={uid!r} (e.g. {ds[0]!r}) cannot be "
                            f"compared with forecasts_df's {other}: give both one type of "
                            "time stamps") from None
        if cv:
            y = y[~later]
        elif later.any():
            raise ValueError(f"train_df overlaps the forecasts of unique_id={uid!r}: it has "
                             f"rows from ds={start!r} on (pass the training part only)")
        if y.size == 0:
            raise ValueError(f"train_df has no value of unique_id={uid!r} up to "
                             f"cutoff={cutoff!r}")
        # a forecast from a single value (as cross_validation makes of a
        # series that starts just before a cutoff) has no scale: undefined
        scales.append(_scale(y, m) if y.size > 1 else np.nan)
    group_id = groups.ngroup().to_numpy()
    row_scale = np.asarray(scales)[group_id]
    row_scale = np.where(row_scale > 0, row_scale, np.nan)

    y = merged["y"].to_numpy(dtype=np.float64)
    per_model = []
    for model, levels in columns.items():
        f = merged[model].to_numpy(dtype=np.float64)
        denom = np.abs(y) + np.abs(f)
        rows = {"mase": np.abs(y - f) / row_scale,
                "smape": np.divide(200.0 * np.abs(y - f), denom, out=np.zeros_like(denom),
                                   where=denom > 0)}
        for lv, (lo_col, hi_col) in levels.items():
            lo = merged[lo_col].to_numpy(dtype=np.float64)
            hi = merged[hi_col].to_numpy(dtype=np.float64)
            if (lo > hi).any():
                raise ValueError(f"forecasts_df has {lo_col!r} above {hi_col!r} in "
                                 f"{int((lo > hi).sum())} rows")
            rows[f"coverage_{_label(lv)}"] = ((y >= lo) & (y <= hi)).astype(np.float64)
            rows[f"msis_{_label(lv)}"] = (_interval_score(y, lo, hi, 1.0 - lv / 100.0)
                                          / row_scale)
        table = pd.DataFrame(rows).groupby(group_id, sort=True).mean()
        table.index = first_ds.index
        table = table.reset_index()
        table.insert(0, "model", model)
        per_model.append(table)
    result = pd.concat(per_model, ignore_index=True)
    if per_series:
        return result
    metric_columns = [c for c in result.columns if c not in ("model", *keys)]
    summary = result.groupby("model", sort=False)[metric_columns].mean()
    summary["n_series"] = result.groupby("model", sort=False).size()
    summary["n_undefined"] = result.groupby("model", sort=False)["mase"].apply(
        lambda s: int(s.isna().sum()))
    return summary
