"""Backtests of a :class:`fastgru.GRUForecaster`: rolling-origin cross-validation and score."""

from __future__ import annotations

import numpy as np

from ._columns import ID, TARGET, TIME, plain
from ._forecast_state import (
    _column_names,
    _rows_held,
    _stamps,
    fitted_static,
    forecast_arrays,
    series_names,
)
from ._series_ids import id_index, id_positions, positions
from ._text_stamps import dates_read
from ._timestamps import (
    BY_FREQ,
    BY_PANEL_FREQ,
    BY_POSITION,
    locate,
    off_step_joined,
)
from ._warnings import once_each, warn


def cross_validation(est, y, h, n_windows, step_size, refit, level, static_df):
    import pandas as pd
    from sklearn.base import clone

    from ._forecast_checks import check_levels
    from ._panel import _is_long_frame, check_keys, pandas_frames, past_names
    from ._validation import check_bool, check_int

    y, static_df = pandas_frames(y=y, static_df=static_df)
    if not _is_long_frame(y) or ID not in y.columns or TIME not in y.columns:
        raise ValueError(f"cross_validation takes a long DataFrame with columns {ID!r}, "
                         f"{TIME!r} and {TARGET!r}")
    h = est.horizon if h is None else check_int("h", h)
    n_windows = check_int("n_windows", n_windows)
    step_size = h if step_size is None else check_int("step_size", step_size)
    # statsforecast's refit: True every window, False once, n every n windows
    every = (int(check_bool("refit", refit)) if isinstance(refit, (bool, np.bool_))
             else check_int("refit", refit, minimum=0))
    levels = check_levels(level)
    check_keys(y)  # a row without a series or date, or two of one date, would be misplaced
    df = y.sort_values([ID, TIME], kind="stable").reset_index(drop=True)
    # leading NaN are no history (fit drops them): a series whose values all
    # come after a cutoff has no forecast from it (one without any, fit's error)
    valued = df[TARGET].notna().groupby(df[ID], sort=False, observed=True)
    df = df[(valued.cummax() | ~valued.transform("any")).to_numpy()].reset_index(drop=True)
    pos = df.groupby(ID, sort=False, observed=True).cumcount().to_numpy()
    size = df.groupby(ID, sort=False, observed=True)[TIME].transform("size").to_numpy()
    first = pos == 0  # a row per series
    never = [plain(k) for k in df[ID].to_numpy()[first & (size <= h)]]
    if never:  # no value before the last cutoff: left out of every window
        warn(f"cross_validation: the series {never[:5]}{' ...' if len(never) > 5 else ''} "
             f"({len(never)} of {int(first.sum())}) have {h} values or fewer: no cutoff leaves "
             f"a value before it and h={h} after it, so they have no forecast in any window")
    if static_df is None and getattr(est, "static_", None) is not None:
        static_df = _fitted_static(est, df[ID].unique())
    model = clone(est).set_params(horizon=h) if h != est.horizon else clone(est)
    past = past_names(est.hist_exog)
    futr = [c for c in df.columns if c not in (ID, TIME, TARGET, *past)]
    frames = []

    def fits(w):  # whether window w trains a model
        return w == 0 or (every and w % every == 0)

    # a warning that holds for every window: once; forecasts dated by the test rows
    with once_each({BY_POSITION: "cross_validation pairs each series' forecasts with its "
                    "rows after the cutoff, in their order, whatever their dates.",
                    **dict.fromkeys((BY_FREQ, BY_PANEL_FREQ), "and cross_validation pairs "
                                    "their forecasts with their rows after the cutoff")}):
        for w in range(n_windows):
            back = h + (n_windows - 1 - w) * step_size  # steps after the cutoff
            cutoff = size - back
            history = df[(pos < cutoff) & (cutoff >= 1)]
            test = df[(pos >= cutoff) & (pos < cutoff + h) & (cutoff >= 1)]
            if history.empty:
                raise ValueError(f"no series is longer than {back} steps: n_windows={n_windows} "
                                 f"and step_size={step_size} leave nothing to train on")
            X_df = test[[ID, TIME, *futr]] if futr else None
            if est.verbose:
                print(f"cross_validation: window {w + 1} of {n_windows}, cutoffs {back} steps "
                      f"before each series' end: "
                      + (f"fitting on {len(history):,} rows" if fits(w)
                         else f"forecasting from {len(history):,} rows"), flush=True)
            try:
                if fits(w):
                    model.fit(history, static_df=static_df)
                    if levels and model.calibration_ is None:
                        raise ValueError("no intervals: the series are too short to hold out a "
                                         "horizon after a training window, or early_stopping is "
                                         "False; call it without level")
                    panel, point, lo, hi, _ = forecast_arrays(model, h, levels, X_df)
                else:
                    # series absent at the first cutoff take their static covariates too
                    panel, point, lo, hi, _ = forecast_arrays(model, h, levels, X_df, y=history,
                                                              static_df=static_df)
            except ValueError as exc:
                raise ValueError(f"cross_validation's window {w + 1} of {n_windows} (cutoffs "
                                 f"{back} steps before each series' end"
                                 + ("; its X_df is y's rows after them" if futr else "")
                                 + f"): {exc}") from exc
            # as given, else as text: a fitted model keeps some ids as text (a mix of kinds)
            order = id_positions(panel.ids)
            last = history.groupby(ID, sort=False, observed=True)[TIME].last()
            step = test.groupby(ID, sort=False, observed=True).cumcount().to_numpy()
            _warn_gaps_after(model._index_info, last, test, step)
            rows = test.assign(_s=positions(order, [plain(k) for k in test[ID]]), _k=step)
            rows = rows[rows["_s"].notna()]
            s, k = rows["_s"].to_numpy(dtype=np.int64), rows["_k"].to_numpy()
            names = _column_names(model.alias, levels)
            ids = rows[ID]  # as the caller's frame gives them (categories kept)
            out = {ID: ids.array if isinstance(ids.dtype, pd.CategoricalDtype) else
                   ids.to_numpy(), TIME: rows[TIME].to_numpy(),
                   "cutoff": rows[ID].map(last).to_numpy(), TARGET: rows[TARGET].to_numpy(),
                   names[0]: point[s, k]}
            n = 0 if lo is None else lo.shape[0]
            for j in range(n):
                out[names[1 + (n - 1 - j)]] = lo[j, s, k]
                out[names[1 + n + j]] = hi[j, s, k]
            frames.append(pd.DataFrame(out, columns=[ID, TIME, "cutoff", TARGET, *names]))
    # statsforecast's order: by series (as sorted), then cutoff and date
    cv = pd.concat(frames, ignore_index=True)
    series = pd.Index(df[ID].unique()).get_indexer(cv[ID])
    return cv.take(np.argsort(series, kind="stable")).reset_index(drop=True)


def _warn_gaps_after(info, last, test, step) -> None:
    """Warn of the series whose rows after the cutoff (``test``, the
    ``step``-th after it each) do not follow the model's frequency from
    their ``last`` date before it: a gap there pairs a forecast with a later
    date's value."""
    import pandas as pd

    if info is None or info["type"] == "position" or test.empty:
        return
    # each series' last stamp before the cutoff, then its rows after it: joined
    rows = test[[ID, TIME]].assign(_k=step + 1)
    keys = rows[ID].drop_duplicates()
    # (by label: reindex, as .loc reads boolean ids as a mask)
    before = pd.DataFrame({ID: keys.array, TIME: last.reindex(pd.Index(keys)).array, "_k": 0})
    joined = pd.concat([before, rows], ignore_index=True)
    joined = joined.assign(_s=pd.Index(keys).get_indexer(joined[ID])).sort_values(
        ["_s", "_k"], kind="stable")
    n = joined.groupby("_s", sort=True).size().to_numpy()
    off = off_step_joined(info, pd.Index(joined[TIME]), n)
    keys = keys.tolist()
    if off:
        warn(f"cross_validation: the series {[plain(keys[i]) for i in off[:3]]}"
             f"{' ...' if len(off) > 3 else ''} have a gap after a cutoff (or another "
             "frequency): each forecast step is paired with their next row, whatever its date")


def score(est, y, X_df=None):
    """Minus the mean MASE (scale: each series' in-sample seasonal MAE)."""
    from ._forecast_state import check_fit_params
    from ._panel import _is_long_frame, check_target_named, pandas_frames

    y, X_df = pandas_frames(y=y, X_df=X_df)
    check_fit_params(est)  # before the horizon sets which dates y must have
    steps = est.horizon
    if _is_long_frame(y):
        # a fold of the frame fit takes holds its covariates (GridSearchCV's)
        own = (X_df is None and bool(est.futr_exog_)
               and set(est.futr_exog_) <= set(map(str, y.columns)))
        try:
            pairs, scales = _dated_pairs(est, y, y if own else X_df)
        except ValueError as exc:
            if not (own and str(exc).startswith("X_df")):
                raise
            raise ValueError("the future-known covariates are read from y without X_df: y "
                             f"needs every date of the horizon, or give X_df ({exc})") from None
    else:
        check_target_named(y)
        if isinstance(y, dict):  # by key (as given, else as text, as the model keeps ids)
            at = positions(id_index(est), [plain(k) for k in y])
            unknown = [k for k, i in zip(y, at) if i is None]
            if unknown:
                raise ValueError(f"y holds series the model does not forecast: {unknown[:5]}")
            if len(y) != est.n_series_:
                raise ValueError(f"y holds {len(y)} series, the model forecasts "
                                 f"{est.n_series_}")
            true, dates = [np.empty(0)] * est.n_series_, [None] * est.n_series_
            for i, v in zip(at, y.values()):
                true[i] = np.asarray(v, dtype=np.float64)
                dates[i] = _index_of(v)
        elif isinstance(y, (list, tuple)) and y and np.ndim(y[0]) == 1 and (
                est.n_series_ > 1 or est._output_kind == "list"):  # a list of series
            true = [np.asarray(v, dtype=np.float64) for v in y]
            dates = [_index_of(v) for v in y]
        else:
            y = _columns_by_name(est, y)
            arr = np.asarray(y, dtype=np.float64)
            true = [arr] if arr.ndim == 1 else list(arr.T)
            dates = [_index_of(y)] * len(true)
        if len(true) != est.n_series_:
            raise ValueError(f"y holds {len(true)} series, the model forecasts "
                             f"{est.n_series_}")
        _check_dates(est, dates)
        longest = max(len(v) for v in true)
        _check_count(longest, est.horizon, "y holds", " of a series")  # (with stamps: _check_dates)
        steps = min(steps, longest)
        if steps < 1:
            raise ValueError("y holds no values to score the forecasts against")
        panel, point, *_ = forecast_arrays(est, steps, [], X_df)
        pairs = list(zip(true, point))
        scales = list(panel.scales)
    if not pairs:
        raise ValueError("y shares no series with the model")
    errors = []
    for (t, p), q in zip(pairs, scales):
        n = min(len(t), len(p))
        if not np.isfinite(t[:n]).all():
            raise ValueError("y holds NaN or inf")
        if n:  # a series without values to compare has no error
            errors.append(np.mean(np.abs(t[:n] - p[:n])) / q)
    if not errors:
        raise ValueError("y holds no values to score the forecasts against")
    return -float(np.mean(errors))


def _check_count(n, horizon, label, of) -> None:
    """Values scored by position: at most the ``horizon`` steps forecast."""
    if n > horizon:
        raise ValueError(f"{label} {n} values{of}; they are scored by position "
                         f"against the {horizon} steps (horizon) forecast after the training "
                         f"data: give at most that many (with TimeSeriesSplit, "
                         f"test_size={horizon})")


def _fitted_static(est, ids):
    """The static covariates ``est`` was fitted with, as a ``static_df`` for
    the series ``ids``: a backtest of a fitted model trains on them too."""
    import pandas as pd

    ids = [plain(i) for i in ids]
    static = pd.DataFrame(fitted_static(est, ids), columns=est.static_names_)
    static.insert(0, ID, ids)
    return static


def _index_of(values):
    """A pandas Series' or DataFrame's index, else None."""
    return values.index if hasattr(values, "iloc") and hasattr(values, "index") else None


def _columns_by_name(est, y):
    """A wide frame's columns in the order of the series the model was fitted
    on (by name, as the model keeps them): positions would pair them with
    other series' forecasts."""
    if est._output_kind != "frame" or not hasattr(y, "columns"):
        return y
    names = [str(c) for c in series_names(est)]
    given = {str(c): j for j, c in enumerate(y.columns)}
    if sorted(given) != sorted(names):
        raise ValueError(f"y's columns {list(given)[:5]} are not the series the model "
                         f"forecasts {names[:5]}")
    return y.iloc[:, [given[name] for name in names]]  # (boolean names would be a mask)


#: What ``score`` warns of a model whose forecasts are numbered by position.
BY_POSITION_SCORE = (
    "this model numbers its forecasts by position after each series' history (the time "
    "stamps it was fitted on could not be continued), so score cannot check y's {what}: each "
    "series' values, in time order, are scored against the steps right after its history. "
    "A fold that does not follow the training data directly (KFold's) is scored wrongly")


def _check_dates(est, dates):
    """Values indexed by time stamps are read by position, from the first
    step forecast: their stamps must be the first of the forecast's (a
    ValueError naming both otherwise), when the model continues time stamps
    (dates, or numbers); a model that numbers its forecasts by position
    cannot tell, and warns."""
    info = est._index_info
    if info is None or not any(d is not None and len(d) for d in dates):
        return
    if info["type"] == "position":
        warn(BY_POSITION_SCORE.format(what="index"))
        return
    forecast = _stamps(info, est.last_ds_, est.n_series_, est.horizon)
    for i, got in enumerate(dates):
        if got is None or not len(got):
            continue
        wanted = forecast[i]
        at = locate(wanted, _as_stamps(got, wanted), info)
        if len(got) > len(wanted) or not np.array_equal(at, np.arange(len(at))):
            dated = info["type"] in ("period", "datetime")
            label = f"series {est.series_ids_[i].item()!r} of y" if est.n_series_ > 1 else "y"
            raise ValueError(f"{label} is {'dated' if dated else 'indexed'} {got[0]} to "
                             f"{got[-1]}; its values are scored by position against the "
                             f"{len(wanted)} {'dates' if dated else 'steps'} forecast after "
                             f"the training data, from {wanted[0]} to {wanted[-1]}: give the "
                             "first of those (or values without an index, read as those)")


def _dated_pairs(est, y, X_df):
    """``([(truth, forecast)], [scale])`` of the series of a long ``y`` the
    model forecasts, each true value paired with the forecast of its date;
    by position, in date order, when the model has no time stamps to
    continue (fitted on arrays, or numbering its forecasts: with a
    warning), at most ``horizon`` values a series (a ValueError beyond)."""
    import pandas as pd

    from ._panel import _pandas_values

    missing = [c for c in (ID, TIME, TARGET) if c not in y.columns]
    if missing:
        raise ValueError(f"y needs the columns {ID!r}, {TIME!r} and {TARGET!r}; it has no "
                         f"{missing}")
    if y.empty:
        raise ValueError("y holds no values to score the forecasts against")
    repeated = y[y.duplicated([ID, TIME])]
    if len(repeated):
        # each column's own value (a row of numbers would be floats)
        key, stamp = plain(repeated[ID].iloc[0]), plain(repeated[TIME].iloc[0])
        raise ValueError(f"y has more than one row for series {key!r} at {TIME}={stamp!s}")
    df = y.sort_values([ID, TIME], kind="stable")
    panel, point, _, _, stamps = forecast_arrays(est, est.horizon, [], X_df)
    info = est._index_info
    dated = info is not None and info["type"] != "position"
    if not dated and info is not None:
        warn(BY_POSITION_SCORE.format(what=TIME))
    # as given, else as text: the model keeps some ids as text (a mix of kinds)
    index = id_positions(panel.ids)
    pairs, scales = [], []
    for key, g in df.groupby(ID, sort=False, observed=True):
        i = positions(index, [plain(key)])[0]
        if i is None:
            continue
        key = plain(key)  # named in messages: 1, not np.int64(1)
        truth = _pandas_values(f"y of series {key!r}", g[TARGET])
        if dated:
            wanted, got = stamps[i], _as_stamps(pd.Index(g[TIME]), stamps[i])
            at = locate(wanted, got, info)
            if (at < 0).any():
                raise ValueError(
                    f"y has rows for series {key!r} at {TIME}="
                    f"{[str(v) for v in g[TIME][at < 0][:3]]}, not among the {est.horizon} "
                    f"dates forecast after its training data ({wanted[0]} to {wanted[-1]})"
                    + _rows_held(got, wanted))
            twice = pd.Index(at).duplicated()
            if twice.any():  # two dates of one period would score its forecast twice
                raise ValueError(f"y has more than one row for series {key!r} at the "
                                 f"forecast's {TIME}={wanted[at[twice][0]]} (its dates "
                                 f"{[str(v) for v in g[TIME][at == at[twice][0]][:4]]})")
            pairs.append((truth, point[i, at]))
        else:
            _check_count(len(truth), est.horizon, f"series {key!r} of y has", "")
            pairs.append((truth, point[i, :len(truth)]))
        scales.append(panel.scales[i])
    return pairs, scales


def _as_stamps(got, wanted):
    """A test frame's ``ds`` in the kind of the forecast's dates ``wanted``:
    periods of timestamps, timestamps of periods or of pyarrow's
    timestamps, dates in the forecast's time zone, numbers of text."""
    import pandas as pd

    if got.dtype.kind == "M" and not isinstance(got, pd.DatetimeIndex):
        got = pd.DatetimeIndex(got)  # pyarrow's timestamps (a parquet file's)
    if isinstance(wanted, pd.PeriodIndex) and hasattr(got, "to_period"):
        return got.to_period(wanted.freq)
    if isinstance(wanted, pd.DatetimeIndex) and isinstance(got, pd.PeriodIndex):
        return got.to_timestamp()
    if isinstance(wanted, pd.DatetimeIndex) and wanted.tz is not None and isinstance(
            got, pd.DatetimeIndex) and got.tz is not None:
        return got.tz_convert(wanted.tz)  # the same instants, in another zone
    text = got.dtype == object or pd.api.types.is_string_dtype(got.dtype)
    if pd.api.types.is_numeric_dtype(wanted) and text:
        try:
            return pd.Index(pd.to_numeric(got))
        except (TypeError, ValueError):
            return got
    if isinstance(wanted, (pd.DatetimeIndex, pd.PeriodIndex)) and text:
        read = dates_read(pd.DataFrame({TIME: got}))[TIME]  # ISO text, date objects
        if read.dtype.kind == "M":
            return _as_stamps(pd.Index(read), wanted)
    return got
