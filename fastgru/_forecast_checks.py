"""What ``fastgru.save`` writes of a fitted :class:`fastgru.GRUForecaster`,
and the checks of its state: ``check_restored`` after ``load`` (a file's
state must hang together before it is used), and the checks of the alias
and of interval levels that ``fit``, ``predict`` and ``load`` share.
"""

from __future__ import annotations

import numbers

import numpy as np

from ._columns import ID, TARGET, TIME
from ._forecast_state import FORMS, THETA_STATE, _maker_of, model_windows, series_names
from ._panel import past_names
from ._state import TRAINING, Field, FittedState
from ._theta import MIN_LENGTH, share
from ._timestamps import INDEX_KEYS, continued_index, offset_of
from ._validation import check_int
from ._warnings import warn

#: What fastgru.save writes of a fitted forecaster (fastgru._state), checked
#: after loading by check_restored below.
SAVED_STATE = FittedState("GRUForecaster", (
    *TRAINING, Field("window_", "int"), Field("n_series_", "int"),
    Field("member_windows_", "numbers", optional=True),
    Field("_output_kind", "json"), Field("_series_names", "json", optional=True),
    Field("_recent_unit", "json", optional=True), Field("_profile_base", "json", optional=True),
    Field("_index_info", "json", optional=True), Field("_id_ordered", "json", optional=True),
    Field("futr_exog_", "json"),
    Field("hist_exog_", "json"), Field("static_names_", "json"),
    Field("theta_weight_", "number", optional=True),
    Field("series_ids_", "array"), Field("series_scale_", "array"), Field("history_", "array"),
    Field("history_length_", "array"),
    *(Field(name, "array", optional=True) for name in (
        "calibration_", "interval_scale_", "last_ds_", "futr_history_", "futr_mean_",
        "futr_scale_", "hist_history_", "hist_mean_", "hist_scale_", "static_", "static_mean_",
        "static_scale_", "_id_categories", *THETA_STATE))), network=True, members=True)


#: The arrays of numbers among them (checked to be numbers by check_restored).
NUMERIC_STATE = ("series_scale_", "history_", "calibration_", "interval_scale_",
                 "futr_history_", "futr_mean_", "futr_scale_", "hist_history_", "hist_mean_",
                 "hist_scale_", "static_", "static_mean_", "static_scale_", *THETA_STATE)


def check_restored(est) -> None:
    """A loaded forecaster's state must hang together: a ValueError otherwise."""
    S, L = int(est.n_series_), int(est.window_)
    if S < 1 or L < 1:
        raise ValueError("n_series_ and window_ must be positive")
    if not hasattr(est, "members_"):
        est.members_ = []
    windows = model_windows(est)
    if not (isinstance(windows, list) and len(windows) == 1 + len(est.members_)
            and windows[0] == L and all(isinstance(w, int) and w >= 1 for w in windows)):
        raise ValueError("member_windows_ must hold window_ and the window of every other "
                         "model (positive integers)")
    est.member_windows_ = windows
    for name in ("_recent_unit", "_profile_base"):
        value = getattr(est, name)  # not the numbers 1 and 0 (equal to True, False)
        if not (value is None or isinstance(value, bool)):
            raise ValueError(f"{name} must be true, false or null")
    L = max(windows)  # history_ holds the longest
    check_alias(est.alias)  # the frames' column names
    check_int("season_length", est.season_length)  # within fit's bounds: index arithmetic
    check_int("horizon", est.horizon)  # in int64 takes them
    if est._output_kind not in FORMS:
        raise ValueError(f"unknown input form {est._output_kind!r}")
    if est._output_kind in ("array1d", "series") and S != 1:
        raise ValueError(f"a model of one series ({est._output_kind}) holds {S}")
    ids = np.asarray(est.series_ids_)
    if ids.shape != (S,) or ids.dtype.kind not in "iufU" or (
            ids.dtype.kind == "f" and not np.isfinite(ids).all()):
        raise ValueError("series_ids_ must hold one id (int, finite float or str) per series")
    if len(set(ids.tolist())) != S:
        raise ValueError("series_ids_ has duplicates")
    names = est._series_names  # a pandas Series' name
    if est._output_kind == "frame" and names is not None:
        # a file may also list a wide frame's columns: they must be its
        # series' ids as text (the ids hold them), and are kept there only
        if names != [str(c) for c in series_names(est)]:
            raise ValueError("_series_names must be the wide frame's columns, its series' ids")
        est._series_names = names = None
    if not (names is None or isinstance(names, str)):
        raise ValueError("_series_names must be a name (str) or null")
    # the numbers predict computes with: integers or floats (a file may hold
    # text or booleans in their place), and positive scales
    for name in NUMERIC_STATE:
        value = getattr(est, name)
        if value is not None and np.asarray(value).dtype.kind not in "iuf":
            raise ValueError(f"{name} must hold numbers, got dtype {np.asarray(value).dtype}")
    for name in ("futr_scale_", "hist_scale_", "static_scale_"):
        value = getattr(est, name)
        if value is not None and not (np.asarray(value) > 0).all():
            raise ValueError(f"{name} must hold positive scales")
    scale = np.asarray(est.series_scale_)
    if scale.shape != (S,) or not (scale > 0).all():
        raise ValueError("series_scale_ must hold one positive scale per series")
    if np.shape(est.history_) != (S, L):
        raise ValueError("history_ must hold the longest window's steps of every series")
    n = np.asarray(est.history_length_)
    if n.shape != (S,) or n.dtype.kind not in "iu" or not ((n >= 1) & (n <= L)).all():
        raise ValueError("history_length_ must hold 1 to the longest window per series")
    for kind in ("futr", "hist"):
        hist = getattr(est, f"{kind}_history_")
        names = getattr(est, f"{kind}_exog_")
        if not isinstance(names, list) or not all(isinstance(c, str) for c in names):
            raise ValueError(f"{kind}_exog_ must be a list of column names")
        if hist is None:
            if names:
                raise ValueError(f"{kind}_exog_ names covariates that are not stored")
            continue
        k = len(names)
        if np.shape(hist) != (S, L, k):
            raise ValueError(f"{kind}_history_ does not match the series and {kind}_exog_")
        for a in ("mean_", "scale_"):
            if np.shape(getattr(est, f"{kind}_{a}")) != (k,):
                raise ValueError(f"{kind}_{a} does not match {kind}_exog_")
    # (a file keeps hist_exog None where its names were neither text nor integers)
    if est.hist_exog is not None and est.hist_exog_ != [str(c) for c in
                                                        past_names(est.hist_exog)]:
        raise ValueError(f"hist_exog_ {est.hist_exog_!r:.80} is not what hist_exog="
                         f"{est.hist_exog!r:.80} reads")
    names = est.static_names_
    if not isinstance(names, list) or any(not isinstance(c, str) for c in names) or (
            names and est.static_ is None):
        raise ValueError("static_names_ must list the names of the stored static covariates")
    if est.static_ is not None:
        k = len(names)
        if np.shape(est.static_) != (S, k) or np.shape(est.static_mean_) != (k,) or \
                np.shape(est.static_scale_) != (k,):
            raise ValueError("static_ does not match the series and static_names_")
    cal = est.calibration_
    if cal is not None and (np.ndim(cal) != 2 or cal.shape[1] != est.horizon or
                            cal.shape[0] < 1):
        raise ValueError("calibration_ must be (n, horizon)")
    if cal is None:
        est.interval_scale_ = None
    elif est.interval_scale_ is None:  # a file written before the series' scales
        est.interval_scale_ = np.ones(S)
    elif np.shape(est.interval_scale_) != (S,) or not (
            np.isfinite(est.interval_scale_) & (est.interval_scale_ >= 1)).all():
        raise ValueError("interval_scale_ must hold one finite scale of at least 1 per series")
    else:
        est.interval_scale_ = np.asarray(est.interval_scale_, dtype=np.float64)
    info = est._index_info
    if info is not None:
        import pandas as pd

        if not isinstance(info, dict) or info.get("type") not in INDEX_KEYS:
            raise ValueError("_index_info is not a time stamp description")
        unknown = sorted(set(info) - INDEX_KEYS[info["type"]])
        if unknown:  # a position's "step" would be read as an integer's
            raise ValueError(f"_index_info of {info['type']} time stamps has unknown keys "
                             f"{unknown!r:.80}")
        if "name" not in info or not (info["name"] is None
                                      or isinstance(info["name"], (str, int, float))):
            raise ValueError(f"_index_info's name must be text, a number or null, got "
                             f"{info.get('name', 'none')!r:.40}")
        if info["type"] in ("period", "datetime") and not isinstance(info.get("freq"), str):
            raise ValueError("_index_info lacks its frequency")
        if info.get("tz") is not None:
            _check_zone(info["tz"])
        step = info.get("step")
        if info["type"] in ("integer", "float") and not (  # a step of 0 repeats the last date
                isinstance(step, int if info["type"] == "integer" else (int, float))
                and not isinstance(step, bool) and step != 0):
            raise ValueError(f"_index_info lacks its step (a nonzero {info['type']}), got "
                             f"{step!r:.40}")
        places = info.get("decimals")
        if places is not None and not (info["type"] == "float" and isinstance(places, int)
                                       and not isinstance(places, bool) and 0 <= places <= 12):
            raise ValueError(f"_index_info's decimals must be 0 to 12 (of float time stamps), "
                             f"got {places!r:.40}")
        if np.shape(est.last_ds_) != (S,):
            raise ValueError("last_ds_ must hold one time stamp per series")
        # dates are kept as text, positions and integer steps as integers: a
        # number where a date belongs would continue from 1970
        kinds = {"period": "U", "datetime": "U", "integer": "iu", "position": "iu",
                 "float": "iuf"}[info["type"]]
        if np.asarray(est.last_ds_).dtype.kind not in kinds:
            raise ValueError(f"last_ds_ must hold {info['type']} time stamps, got dtype "
                             f"{np.asarray(est.last_ds_).dtype}")
        for i in range(S):  # each stamp must continue: a bad one fails here, not in predict
            after = continued_index(info, est.last_ds_[i], 1)[0]
            # a frequency of "-1D" would date the forecasts backwards
            if info["type"] == "datetime" and not after > pd.Timestamp(str(est.last_ds_[i])):
                raise ValueError(f"_index_info's frequency {info['freq']!r} does not move "
                                 f"forwards from {est.last_ds_[i]}")
            if info["type"] == "float" and after == float(est.last_ds_[i]):  # 1e-320
                raise ValueError(f"_index_info's step {info['step']!r} is lost in "
                                 f"{est.last_ds_[i]}: every forecast would have its date")
        _check_freq(est.freq, info, est.last_ds_)
    for name in ("_id_categories", "_id_ordered"):  # files from before them: plain ids
        setattr(est, name, getattr(est, name, None))
    _check_categories(est._id_categories, est._id_ordered, est.series_ids_)
    maker = _maker_of(est)
    if est.gru_.input_size != maker.n_features:
        raise ValueError("the layer's input_size does not match the covariates")
    for gru, head in [(est.gru_, est.head_), *est.members_]:
        if gru.get_config() != est.gru_.get_config():
            raise ValueError("the models' layers differ in their configuration")
        if head["weight"].shape[0] != est.horizon:
            raise ValueError("a head does not output horizon steps")
    _check_theta(est, S, maker.time_varying)
    est.n_features_in_ = maker.n_features
    est._fit_params = {"horizon": est.horizon, "season_length": est.season_length,
                       "theta_weight": est.theta_weight, "freq": est.freq}


def _check_theta(est, S, covariates: bool) -> None:
    """The Theta model's share and fit: the share ``theta_weight`` gives a
    fit on series with (or without) ``covariates`` (0 in a file from before
    the mix) and, when above 0, a fit of every series within the model's
    bounds (alpha in [0.1, 0.99], theta at least 1)."""
    w = est.theta_weight_
    if w is None:  # a file from before the mix forecasts with its networks only
        w = est.theta_weight_ = 0.0
    if isinstance(w, bool) or not 0 <= w <= 1:
        raise ValueError(f"theta_weight_ must be a number in [0, 1], got {w!r:.40}")
    asked = est.theta_weight  # what a fit with the saved parameters gives
    # (theta_weight=None: the default share, or none where it was dropped)
    if w not in (share(asked, covariates), 0.0 if asked is None else None):
        raise ValueError(f"theta_weight_ {w} is not what theta_weight={asked!r} fits"
                         + " on series with covariates" * covariates)
    arrays = [getattr(est, a) for a in THETA_STATE]
    if not w:
        if any(a is not None for a in arrays):
            raise ValueError("a Theta fit is stored with theta_weight_ 0")
        return
    if any(a is None for a in arrays):
        raise ValueError(f"theta_weight_ is {w} but the Theta fit is not stored")
    state, factor, offset = arrays
    m = est.season_length
    if np.shape(state) != (S, 6) or np.shape(factor) != (S, m) or np.shape(offset) != (S, m):
        raise ValueError(f"the Theta fit must hold {S} series: theta_state_ (n_series, 6), "
                         "theta_factor_ and theta_offset_ (n_series, season_length)")
    n, alpha, theta = state[:, 5], state[:, 3], state[:, 4]
    fitted = n >= MIN_LENGTH
    if not ((n == 0) | fitted & (n == np.floor(n))).all() or (state[~fitted] != 0).any():
        raise ValueError(f"theta_state_'s series lengths must be whole numbers of at least "
                         f"{MIN_LENGTH}, or 0 on a row of zeros (no fit)")
    if (n > 2**53).any() or not ((alpha[fitted] >= 0.1) & (alpha[fitted] <= 0.99)
                                 & (theta[fitted] >= 1) & (theta[fitted] <= 1e10)).all():
        raise ValueError("theta_state_ holds alpha outside [0.1, 0.99], theta outside "
                         "[1, 1e10] or a series longer than 2**53")
    if not (factor > 0).all():
        raise ValueError("theta_factor_ must hold positive seasonal factors")


def _check_freq(freq, info, last) -> None:
    """A saved ``freq`` must give the stored time stamps' description, as a
    fit with it does: else ``predict()`` and ``predict(y=...)`` would date
    their forecasts by different steps."""
    if freq is None or info["type"] == "position":
        return
    import pandas as pd
    from pandas.tseries.frequencies import to_offset

    try:  # as offsets, not as text: pandas respells some ("H" is "h" since pandas 2.2)
        if isinstance(freq, str) and info["type"] == "period":
            period = pd.Period(str(last[0]), freq=info["freq"])
            same = pd.Period(period, freq=freq).freq == period.freq
        elif isinstance(freq, str) and info["type"] == "datetime":
            same = offset_of(freq) == to_offset(info["freq"])
        else:
            same = (info["type"] == "integer" and not isinstance(freq, (str, bool, np.bool_))
                    and int(freq) == freq == info["step"])
    except (ValueError, TypeError, OverflowError):
        same = False
    if not same:
        what = info.get("freq") or f"steps of {info['step']!r}"
        raise ValueError(f"freq={freq!r:.40} does not match the stored time stamps "
                         f"({info['type']}, {what}): a fit with freq stores its own")


def _check_categories(categories, ordered, ids) -> None:
    """Saved categories of ``unique_id`` (what ``kept_categories`` writes):
    none, and no order; or distinct integers, floats or text holding every
    series id, and whether they are ordered."""
    if categories is None:
        if ordered is not None:
            raise ValueError("_id_ordered is given without _id_categories")
        return
    if not isinstance(ordered, bool):
        raise ValueError(f"_id_ordered must be true or false, got {ordered!r:.40}")
    found = categories.tolist()
    if categories.ndim != 1 or categories.dtype.kind not in "iufU" or len(set(found)) != len(
            found) or not set(np.asarray(ids).tolist()) <= set(found):
        raise ValueError("_id_categories must be distinct integers, floats or text holding "
                         "every series id")


def _check_zone(tz) -> None:
    """A saved time zone must be one pandas knows."""
    import pandas as pd

    try:
        pd.Timestamp(0, tz=tz)
    except Exception:  # pytz, zoneinfo and dateutil each raise their own
        raise ValueError(f"_index_info has a time zone pandas does not know: {tz!r}") from None


def check_alias(alias) -> None:
    """The forecast column's name: not empty, without '-lo-' or '-hi-', and none
    of the frames' other columns (it would overwrite one); else a ValueError."""
    if not alias or "-lo-" in alias or "-hi-" in alias:
        raise ValueError(f"alias={alias!r} must be a name without '-lo-' or '-hi-' "
                         "(the intervals' columns are '<alias>-lo-<level>')")
    if alias in (ID, TIME, TARGET, "cutoff"):
        raise ValueError(f"alias={alias!r} names a column of the forecast frames "
                         f"({ID}, {TIME}, {TARGET}, cutoff): give the forecast another name")


def check_levels(level) -> list:
    """The interval levels asked for (percent), sorted and without repeats."""
    if level is None:
        return []
    # a string is one (wrong) value, not its characters
    values = [level] if isinstance(level, (numbers.Real, str, bytes)) else list(level)
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not 0 < v < 100:
            raise ValueError(f"level must hold numbers between 0 and 100 (percent), got {v!r}")
        out.append(float(v))
    if max(out, default=1.0) < 1:  # fractions, as darts and quantiles take them
        warn(f"level={level!r} asks for intervals of {', '.join(f'{v:g}%' for v in out)}: "
             "levels are percentages (level=[80, 95] for 80% and 95% intervals)")
    return sorted(set(out))
