"""What a fitted :class:`fastgru.GRUForecaster` keeps, and the work done with it.

``remember`` stores each series' last ``window`` steps, scale, covariates and
how to continue its time stamps; ``forecast`` cuts the prediction windows
from them (or from a new history), runs the model and shapes the result as
the input was shaped; ``cross_validation`` and ``score`` are built on it.
What ``fastgru.save`` writes of it, and the checks after ``load``, are in
:mod:`fastgru._forecast_checks`.
"""

from __future__ import annotations

import numbers

import numpy as np

from . import _runtime
from ._columns import ID, TIME, plain
from ._network import SequenceNet
from ._panel import (
    Panel,
    check_columns_unique,
    check_covariate,
    pandas_frames,
    read_panel,
)
from ._series_ids import id_index, id_type_hint, kept_categories, positions, series_id_array
from ._text_stamps import check_text_order
from ._theta import fit_theta, mix, theta_forecast
from ._timestamps import continued_index, locate, panel_index_info
from ._warnings import warn
from ._windows import Standardizer, WindowMaker, series_scale, series_scales

FORMS = ("long", "list", "dict", "array1d", "array2d", "series", "frame")

#: The Theta model's fit to every series (``fastgru._theta.fit_theta``'s arrays).
THETA_STATE = ("theta_state_", "theta_factor_", "theta_offset_")


# ------------------------------------------------------------------ the state
def remember(est, panel: Panel, maker: WindowMaker, theta) -> None:
    """Set what ``predict`` needs of ``panel`` (and of ``theta``, its Theta
    fit: a ``ThetaMix``) on ``est`` at once: an interrupt or a MemoryError
    while it is gathered leaves ``est`` as it was."""
    ids = series_id_array(panel.ids)
    L, S = maker.window, panel.n_series
    state = {"window_": L, "n_series_": S, "series_ids_": ids,
             "series_scale_": np.asarray(panel.scales, dtype=np.float64)}
    history = np.zeros((S, L))
    lengths = np.zeros(S, dtype=np.int64)
    for i, v in enumerate(panel.values):
        n = min(len(v), L)
        history[i, L - n:] = v[-n:]
        lengths[i] = n
    state["history_"], state["history_length_"] = history, lengths
    for kind, blocks, scaler, names in (
            ("futr", panel.futr, maker.futr_scaler, panel.futr_names),
            ("hist", panel.hist, maker.hist_scaler, panel.hist_names)):
        if blocks is None:
            for a in ("history_", "mean_", "scale_"):
                state[f"{kind}_{a}"] = None
            state[f"{kind}_exog_"] = []
            continue
        hist = np.zeros((S, L, blocks[0].shape[1]))
        for i, b in enumerate(blocks):
            n = min(len(b), L)
            hist[i, L - n:] = b[-n:]
        state[f"{kind}_history_"] = hist
        state[f"{kind}_mean_"] = scaler.mean
        state[f"{kind}_scale_"] = scaler.scale
        state[f"{kind}_exog_"] = [str(c) for c in names]
    if panel.static is None:
        state.update(static_=None, static_mean_=None, static_scale_=None, static_names_=[])
    else:
        state.update(static_=panel.static, static_mean_=maker.static_scaler.mean,
                     static_scale_=maker.static_scaler.scale,
                     static_names_=[str(c) for c in panel.static_names])
    name = panel.name
    state.update(_output_kind=panel.form, _recent_unit=maker.recent_unit,
                 _profile_base=maker.profile_base,
                 # a wide frame's columns are its series' ids (series_names)
                 _series_names=None if name is None or isinstance(name, list) else str(name))
    state["_index_info"], state["last_ds_"] = panel_index_info(panel, freq=est.freq)
    state["_id_categories"], state["_id_ordered"] = kept_categories(panel.id_dtype, ids)
    state["n_features_in_"] = maker.n_features
    state["theta_weight_"] = theta.weight
    for name, value in zip(THETA_STATE, theta.arrays or (None,) * len(THETA_STATE)):
        state[name] = value
    state["_fit_params"] = {"horizon": maker.horizon, "season_length": maker.season_length,
                            "theta_weight": est.theta_weight, "freq": est.freq}
    vars(est).update(state)  # one step: no interrupt lands between two attributes


def trim_history(est, width: int) -> None:
    """Keep the last ``width`` steps of each series' stored history (and
    covariates): what the longest window of the models kept reads."""
    if est.history_.shape[1] <= width:
        return
    est.history_ = est.history_[:, -width:].copy()
    est.history_length_ = np.minimum(est.history_length_, width)
    for name in ("futr_history_", "hist_history_"):
        if getattr(est, name) is not None:
            setattr(est, name, getattr(est, name)[:, -width:].copy())


def _maker_of(est) -> WindowMaker:
    maker = WindowMaker(est.window_, est.horizon, est.season_length)
    if est.futr_history_ is not None:
        maker.n_futr = est.futr_history_.shape[2]
        maker.futr_scaler = Standardizer(est.futr_mean_, est.futr_scale_)
    if est.hist_history_ is not None:
        maker.n_hist = est.hist_history_.shape[2]
        maker.hist_scaler = Standardizer(est.hist_mean_, est.hist_scale_)
    if est.static_ is not None:
        maker.n_static = est.static_.shape[1]
        maker.static_scaler = Standardizer(est.static_mean_, est.static_scale_)
    # the layer's input size says whether the windows carry the seasonal column
    maker.seasonal = est.season_length > 1 and est.gru_.input_size == maker.n_features + 1
    # the intervals' unit without seasons: the one their calibration used
    maker.recent_unit = bool(getattr(est, "_recent_unit", None))
    # the forecasts the models correct: the one they were trained to correct
    maker.profile_base = bool(getattr(est, "_profile_base", None))
    return maker


def series_names(est):
    """The name of a fitted pandas Series (or None), or a wide frame's
    columns: its series' ids, which hold them as the model keeps ids
    (integers, floats or text; other names as text), so that a file keeps
    them once, as an array."""
    if est._output_kind == "frame":
        return est.series_ids_.tolist()
    return est._series_names


def _stored_panel(est) -> Panel:
    S = est.n_series_
    L = est.history_.shape[1]  # the longest window of the models
    cut = [slice(L - int(n), L) for n in est.history_length_]
    values = [est.history_[i, cut[i]] for i in range(S)]
    panel = Panel(est.series_ids_.tolist(), values, [None] * S, est._output_kind,
                  name=series_names(est))
    panel.scales = est.series_scale_
    categories = getattr(est, "_id_categories", None)  # None in files from before them
    if categories is not None:
        import pandas as pd

        ordered = bool(getattr(est, "_id_ordered", False))
        panel.id_dtype = pd.CategoricalDtype(categories.tolist(), ordered)
    if est.futr_history_ is not None:
        panel.futr = [est.futr_history_[i, cut[i]] for i in range(S)]
    if est.hist_history_ is not None:
        panel.hist = [est.hist_history_[i, cut[i]] for i in range(S)]
    panel.static = est.static_
    return panel


def _new_panel(est, y, X, static_df=None):
    """A new history to forecast from, checked against what the model was
    fitted on; its static covariates from ``static_df`` (a backtest's), or
    else those the model keeps of its series."""
    if static_df is not None and est.static_ is None:
        raise ValueError("static_df given, but the model was fitted without static covariates")
    panel = read_panel(y, X, static_df, est.hist_exog)
    fitted = (est.futr_exog_, est.hist_exog_)
    given = (panel.futr_names, panel.hist_names)
    if [list(map(str, g)) for g in given] != [list(f) for f in fitted]:
        raise ValueError(f"y's covariates (future {given[0]}, past {given[1]}) are not those "
                         f"the model was fitted with (future {fitted[0]}, past {fitted[1]})")
    panel.scales = series_scales(panel.values, est.season_length)
    if static_df is not None and [str(c) for c in panel.static_names] != est.static_names_:
        raise ValueError(f"static_df's columns {panel.static_names} are not those the model "
                         f"was fitted with {est.static_names_}")
    if est.static_ is not None and static_df is None:
        panel.static = fitted_static(est, panel.ids)
    return panel


def fitted_static(est, ids) -> np.ndarray:
    """The static covariates ``est`` was fitted with, of the series ``ids``
    (matched by id as given, else as text); a ValueError naming the series
    it has none for."""
    at = positions(id_index(est), ids)
    absent = [i for i, k in zip(ids, at) if k is None]
    if absent:
        raise ValueError(f"no static covariates for the series {absent[:5]}: the model was "
                         "fitted with static_df and knows only its series; give static_df")
    return est.static_[at]


def scales_at(scales, at) -> np.ndarray:
    """The interval scales ``scales`` at the positions ``at``: 1 where a
    position is None, and everywhere without scales (a model unpickled from
    a version without them)."""
    if scales is None:
        return np.ones(len(at))
    return np.array([1.0 if k is None else scales[k] for k in at])


def _future_covariates(est, panel, X_df, stamps, info):
    """Each series' future-known covariates for the ``horizon`` steps after
    it (at ``stamps``, continued as ``info`` says)."""
    h = est.horizon
    if X_df is None:
        raise ValueError(f"the model was fitted with future-known covariates {est.futr_exog_}: "
                         f"pass their values for the next {h} steps of every series in X_df "
                         f"(columns {ID!r}, {TIME!r}, {est.futr_exog_})")
    if not hasattr(X_df, "columns") or not hasattr(X_df, "groupby"):
        raise TypeError(f"X_df must be a DataFrame with columns {ID!r}, {TIME!r} and "
                        f"{est.futr_exog_}, got {type(X_df).__name__}")
    check_columns_unique("X_df", X_df)  # the model keeps column names as text:
    columns = {str(c): c for c in X_df.columns}  # a column 5 of the frame is "5"
    missing = [c for c in (ID, TIME, *est.futr_exog_) if c not in columns]
    if missing:
        raise ValueError(f"X_df has no columns {missing}")
    try:  # rows are read in the order of ds (by position after a history of labels)
        check_text_order(X_df[columns[ID]], X_df[columns[TIME]])
    except ValueError as exc:
        raise ValueError(f"X_df's {exc}") from None
    futr_columns = [columns[c] for c in est.futr_exog_]
    for c in futr_columns:  # as fit read them
        check_covariate(f"X_df's column {c!r}", X_df[c])
    # ids the model keeps as text (series_id_array) are matched as text
    text = str if est.series_ids_.dtype.kind == "U" else (lambda k: k)
    groups = {text(k): g for k, g in X_df.groupby(ID, sort=False, observed=True)}
    out = []
    for i, key in enumerate(panel.ids):
        g = groups.get(text(key))
        key = plain(key)  # named in messages: 1, not np.int64(1)
        want = stamps[i] if stamps is not None else None
        if g is None:
            raise ValueError(f"X_df has no rows for series {key!r}" + id_type_hint(
                key, groups))
        g = g.sort_values(TIME, kind="stable")
        repeated = g[TIME][g[TIME].duplicated()]
        if len(repeated):  # which of them the model would read is arbitrary
            raise ValueError(f"X_df has more than one row for series {key!r} at {TIME}="
                             f"{[str(v) for v in repeated.unique()[:3]]}")
        if want is not None:
            import pandas as pd

            # dates as objects (of one zone: as dates; of mixed offsets: as they are)
            got = pd.Index(g[TIME].infer_objects() if g[TIME].dtype == object else g[TIME])
            wanted = want[:h]
            if isinstance(wanted, pd.PeriodIndex):
                got_cmp = got.to_period(wanted.freq) if hasattr(got, "to_period") else got
            else:
                got_cmp = got
            at = locate(wanted, got_cmp, info)
            found = np.bincount(at[at >= 0], minlength=len(wanted))
            absent = [str(w) for w in wanted[found == 0]]
            if absent:
                raise ValueError(f"X_df lacks series {key!r} at {absent[:3]}"
                                 + (" ..." if len(absent) > 3 else "")
                                 + _rows_held(got_cmp, wanted))
            if (found > 1).any():  # two dates of one period: which to read is arbitrary
                dates = got[np.isin(at, np.flatnonzero(found > 1))][:4]
                raise ValueError(f"X_df has more than one row for series {key!r} at {TIME}="
                                 f"{[str(w) for w in wanted[found > 1][:3]]} (its dates "
                                 f"{[str(v) for v in dates]})")
            g = g[at >= 0].iloc[np.argsort(at[at >= 0], kind="stable")]  # in wanted's order
        if len(g) < h or (want is None and len(g) > h):
            raise ValueError(f"X_df has {len(g)} rows for series {key!r}; the model needs "
                             f"its covariates for the next {h} steps" + (
                                 "" if want is not None else " (its time stamps cannot be "
                                 "continued: X_df must hold exactly those rows)"))
        try:
            cov = g[futr_columns].to_numpy(dtype=np.float64)[:h]
        except (TypeError, ValueError) as exc:
            raise ValueError(f"X_df's covariates for series {key!r} are not numbers "
                             f"({exc})") from None
        if not np.isfinite(cov).all():
            row, col = np.argwhere(~np.isfinite(cov))[0]
            raise ValueError(f"X_df has NaN or inf for series {key!r} (first "
                             f"{est.futr_exog_[col]!r} at {TIME}={g[TIME].iloc[row]})")
        out.append(cov)
    return out


def _rows_held(got, wanted) -> str:
    """What X_df holds for a series whose future dates it lacks: its first
    and last ``ds``, and their dtype when it is not the series' dates' (or
    in another time zone)."""
    held = f": its {TIME} runs from {got[0]} to {got[-1]}"
    if (str(got.dtype).split("[")[0] != str(wanted.dtype).split("[")[0]
            or str(getattr(got, "tz", None)) != str(getattr(wanted, "tz", None))):
        held += (f", of dtype {got.dtype} where the series' dates are {wanted.dtype}"
                 + (" (convert them with pd.to_datetime)" if got.dtype == object else ""))
    return held


def check_fit_params(est) -> None:
    """``horizon``, ``season_length``, ``theta_weight`` and ``freq`` must be
    those the model was fitted with: the forecasts (and intervals, and
    their dates) are made with them (a ValueError otherwise)."""
    for name, value in getattr(est, "_fit_params", {}).items():
        now = getattr(est, name)  # 12.0 equals 12, but indexes no array
        if name == "theta_weight":
            same = now is value or (now is not None and value is not None
                                    and not isinstance(now, (bool, np.bool_)) and now == value)
        elif name == "freq":  # the stored time stamps' (predict(y=...) would date by another)
            same = type(now) is type(value) and now == value
        else:
            same = not isinstance(now, bool) and isinstance(now, numbers.Integral) and now == value
        if not same:
            raise ValueError(f"{name}={getattr(est, name)!r} was set after fit, which used "
                             f"{name}={value!r}: fit the model again" + (
                                 " (predict(h) forecasts h steps)" * (name == "horizon")))


def forecast_arrays(est, steps, levels, X_df=None, y=None, X=None, static_df=None):
    """``(panel, point (S, steps), lo, hi (n_levels, S, steps), stamps)``."""
    # a forecast or bound that leaves float64 is an error naming its series
    # (_check_finite), not NumPy's RuntimeWarning before it
    with np.errstate(over="ignore", invalid="ignore"):
        return _forecast_arrays(est, steps, levels, X_df, y, X, static_df)


def _forecast_arrays(est, steps, levels, X_df, y, X, static_df):
    check_fit_params(est)
    if y is None and X is not None:
        raise ValueError("X given without y: pass the history y it belongs to")
    panel = _stored_panel(est) if y is None else _new_panel(est, y, X, static_df)
    maker = _maker_of(est)
    h = est.horizon
    if X_df is not None and not maker.n_futr:
        warn("X_df is ignored: the model was fitted without future-known covariates (they "
             "are the extra columns of the long frame given to fit)")
    if steps > h and maker.time_varying:
        raise ValueError(f"h={steps} exceeds the fitted horizon={h}; with covariates the "
                         "forecast cannot be fed back")
    info, last = ((est._index_info, est.last_ds_) if y is None
                  else panel_index_info(panel, known=est._index_info, freq=est.freq))
    stamps = _stamps(info, last, panel.n_series, steps)
    futr_future = None
    if maker.n_futr:  # the model reads them over its whole horizon, also when steps < h
        if info is None or info["type"] == "position":
            wanted = None  # positions after the history are no dates of X_df: its first rows
        else:
            wanted = stamps if steps >= h else _stamps(info, last, panel.n_series, h)
        futr_future = _future_covariates(est, panel, X_df, wanted, info)
    nets = [(window, SequenceNet(gru, head)) for window, (gru, head) in zip(
        model_windows(est), [(est.gru_, est.head_), *est.members_])]
    history = panel.values
    values = [v.copy() for v in history]
    blocks, done = [], 0
    with _runtime.threads(est.n_jobs):
        while done < steps:
            panel.values = values
            origins = [np.array([len(v)]) for v in values]
            forecasts = []
            for window, net in nets:  # the mean forecast of the models
                maker.window = window
                win = maker.cut(panel, origins, est.gru_.dtype, futr_future, with_targets=False)
                forecasts.append(win.forecasts(net.forward_blocks(win.x, win.lengths)
                                               .astype(np.float64)))
                if not blocks and len(forecasts) == 1:
                    first_local = win.local  # the intervals' unit (the first model's)
            block = forecasts[0] if len(forecasts) == 1 else np.mean(forecasts, axis=0)
            blocks.append(block)
            done += h
            if done < steps:
                values = [np.concatenate([v, b])[-est.history_.shape[1]:]
                          for v, b in zip(values, block)]
    point = np.concatenate(blocks, axis=1)[:, :steps]
    w = getattr(est, "theta_weight_", 0.0)  # 0 in files written before the Theta mix
    if w:  # fitted again to a new history
        arrays = ([getattr(est, a) for a in THETA_STATE] if y is None
                  else fit_theta(history, est.season_length))
        point = mix(point, theta_forecast(*arrays, steps), w)
    held = (_hold_constant(history, panel.scales, est.season_length, point)
            if not maker.time_varying else [])  # nothing says a constant series will move
    lo = hi = None
    if levels:
        qlo, qhi = est.intervals(levels)
        scales = getattr(est, "interval_scale_", None)
        if y is not None:  # a new history's series: found by id
            scales = scales_at(scales, positions(id_index(est), panel.ids))
        elif scales is None:  # a model unpickled from a version without them
            scales = np.ones(panel.n_series)
        scale = (first_local * scales)[None, :, None]  # the fitted series', in order
        lo = point[None] + scale * qlo[:, None, :steps]
        hi = point[None] + scale * qhi[:, None, :steps]
        lo[:, held], hi[:, held] = point[held], point[held]  # nor how far: statsforecast's too
    _check_finite(panel, point, lo, hi)
    return panel, point, lo, hi, stamps


def _check_finite(panel, point, lo, hi):
    """A forecast or bound beyond float64 (a series near its largest values,
    or a damaged file's scales) is an error naming the series, not an inf
    that JSON and the caller's arithmetic cannot take."""
    bad = ~np.isfinite(point).all(axis=1)
    for bounds in (lo, hi):
        if bounds is not None:
            bad |= ~np.isfinite(bounds).all(axis=(0, 2))
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"the forecast of series {panel.ids[i]!r} or its intervals pass the "
                         "largest float64 values: rescale the series (divide it by a power "
                         "of 10), or check the model file's scales and held-out errors")


def _hold_constant(values, scales, season_length, point) -> list:
    """Forecast a constant series as its value, and return their positions: a
    series is constant when its (stored) history is and its scale is a
    constant series' (the stored history is the end of the series, the scale
    its whole)."""
    held = [i for i, v in enumerate(values) if len(v) and v.min() == v.max()
            and scales[i] == series_scale(v, season_length)]
    for i in held:
        point[i] = values[i][-1]
    return held


#: the sets of interval levels whose quantiles a fitted forecaster keeps
CACHED_LEVELS = 16


def conformal_quantiles(est, levels):
    """Split conformal quantiles ``(lo, hi)``, each ``(n_levels, horizon)``, of
    the held-out errors ``est.calibration_``; computed once per calibration
    and levels (``predict`` asks for them at every call), returned as copies."""
    cal, key = est.calibration_, tuple(levels)
    if cal is None:
        raise ValueError("this model has no intervals: no held-out forecasts were measured "
                         "(its series were too short to hold out a horizon while it "
                         "trained, early_stopping=False, or its fit was interrupted)")
    cache = getattr(est, "_quantile_cache", None)
    # a new fit or load, or the errors changed in place: new quantiles
    if cache is None or not np.array_equal(cache[0], cal):
        cache = est._quantile_cache = (np.array(cal, copy=True), {})
    found = cache[1].get(key)
    if found is None:
        if len(cache[1]) >= CACHED_LEVELS:  # any levels a server's callers ask for
            cache[1].clear()
        found = cache[1][key] = _quantiles(cal, levels)
    lo, hi, message = found
    if message:
        warn(message)
    return lo.copy(), hi.copy()  # the caller's to change: the cache's stay as computed


def _quantiles(res, levels):
    """The quantiles of ``res`` ``(n, horizon)`` at each level, with the
    finite-sample correction (the lower at most 0, the upper at least 0),
    and a warning's text or None. A level whose
    corrected quantile lies beyond the ``n`` errors gets their extremes:
    ``n`` errors calibrate a two-sided level of at most ``(n - 1) / (n + 1)``."""
    n = res.shape[0]
    bounds, short = [], []
    for lev in levels:
        alpha = 1 - lev / 100
        rank = np.ceil((n + 1) * (1 - alpha / 2))
        if rank > n:
            short.append((lev, int(np.ceil(2 / alpha - 1 - 1e-9))))
        up = min(1.0, rank / n)
        bounds.append(np.quantile(res, [max(0.0, 1 - up), up], axis=0))
    lo, hi = (np.array([b[side] for b in bounds]) for side in (0, 1))
    # an interval holds its own forecast, also where every held-out error of
    # a step lies on one side (a few series whose ends all moved one way)
    lo, hi = np.minimum(lo, 0.0), np.maximum(hi, 0.0)
    message = None
    if short:
        asked = ", ".join(f"level={lev:g} needs {need}" for lev, need in short)
        message = (f"the intervals are calibrated on {n} held-out forecasts per step, which "
                   f"calibrate levels up to {100 * (n - 1) / (n + 1):.0f}% ({asked}): those "
                   "intervals span the largest held-out errors and may cover less than "
                   "asked. More series (or a shorter horizon) give more held-out forecasts.")
    return lo, hi, message


def _stamps(info, last, n_series, steps):
    """Each series' future time stamps (a pandas Index), or None; continued
    once per last stamp (the series of a panel mostly end on one date)."""
    if info is None:
        return None
    made = {}
    for i in range(n_series):
        if last[i] not in made:
            made[last[i]] = continued_index(info, last[i], steps)
    return [made[last[i]] for i in range(n_series)]


def forecast(est, steps, levels, X_df, y, X, static_df=None):
    X_df, = pandas_frames(X_df=X_df)
    panel, point, lo, hi, stamps = forecast_arrays(est, steps, levels, X_df, y, X, static_df)
    form = panel.form
    names = _column_names(est.alias, levels)
    if form == "long":
        return _long_frame(panel, point, lo, hi, stamps, names)
    if form in ("list", "dict"):
        per = [_one(point[i], lo, hi, i, levels) for i in range(panel.n_series)]
        return dict(zip(panel.ids, per)) if form == "dict" else per
    if form in ("series", "frame") and stamps is not None:
        import pandas as pd

        index = stamps[0]
        if form == "series":
            if not levels:
                return pd.Series(point[0], index=index, name=panel.name)
            return pd.DataFrame(_one(point[0], lo, hi, 0, levels), index=index)
        if not levels:
            return pd.DataFrame(point.T, index=index, columns=panel.name)
        return {k: pd.DataFrame(v, index=index, columns=panel.name)  # "mean", "lo-80", ...
                for k, v in _one(point.T, lo.transpose(0, 2, 1), hi.transpose(0, 2, 1),
                                 slice(None), levels).items()}
    if form in ("array1d", "series"):
        return _one(point[0], lo, hi, 0, levels) if levels else point[0]
    if levels:
        return _one(point.T, lo.transpose(0, 2, 1), hi.transpose(0, 2, 1), slice(None), levels)
    return point.T


def _one(point, lo, hi, i, levels):
    if not levels:
        return point
    out = {"mean": point}
    for j, lev in enumerate(levels):
        tag = _level_tag(lev)
        out[f"lo-{tag}"] = lo[j, i] if isinstance(i, int) else lo[j]
        out[f"hi-{tag}"] = hi[j, i] if isinstance(i, int) else hi[j]
    return out


def _level_tag(lev):
    return str(int(lev)) if float(lev).is_integer() else str(lev)


def _column_names(alias, levels):
    lows = [f"{alias}-lo-{_level_tag(v)}" for v in sorted(levels, reverse=True)]
    highs = [f"{alias}-hi-{_level_tag(v)}" for v in sorted(levels)]
    return [alias, *lows, *highs]


def _long_frame(panel, point, lo, hi, stamps, names):
    import pandas as pd

    S, steps = point.shape
    # ids of one kind keep it (int64 for integers), as in cross_validation's
    # frame; categorical ids their categories, as statsforecast keeps them
    ids = pd.Series(list(panel.ids), dtype=object).infer_objects().repeat(steps).to_numpy()
    if panel.id_dtype is not None:
        ids = pd.Categorical(ids, dtype=panel.id_dtype)
    if stamps is not None:
        parts = [np.asarray(s) for s in stamps]
        # stamps of several dtypes (int64 and uint64, dates in ns and in us)
        # would be cast to one that holds some of them wrongly: as objects
        ds = np.concatenate(parts if len({p.dtype for p in parts}) == 1 else [
            np.asarray(s.astype(object)) for s in stamps])  # Timestamps, not nanoseconds
    else:
        ds = np.tile(np.arange(steps), S)
    frame = {ID: ids, TIME: ds, names[0]: point.ravel()}
    if lo is not None:
        n = lo.shape[0]
        for j in range(n):  # levels ascending: lo columns from the widest
            frame[names[1 + (n - 1 - j)]] = lo[j].ravel()
            frame[names[1 + n + j]] = hi[j].ravel()
    return pd.DataFrame(frame, columns=[ID, TIME, *names])


def model_windows(est) -> list:
    """The window of each model (a file written before ensembles has one)."""
    windows = getattr(est, "member_windows_", None)
    return [est.window_] if windows is None else windows
