"""Time stamps of a forecaster's series: how to continue them after the end.

:func:`index_info` describes a pandas index (its frequency or step) in JSON,
:func:`continued_index` continues it, and :func:`panel_index_info` gives one
description for a panel (from its longest series, when every series follows
it) and each series' last stamp.
"""

from __future__ import annotations

import functools

import numpy as np

from . import _warnings
from ._columns import plain

#: Each kind of description :func:`index_info` gives, and the keys it has.
INDEX_KEYS = {kind: {"type", "name", *own} for kind, own in (
    ("period", ("freq",)), ("datetime", ("freq", "tz")), ("integer", ("step",)),
    ("float", ("step", "decimals")), ("position", ()))}
# what the warnings of stamps that cannot be continued say of the forecast
BY_POSITION = "The forecast is indexed by position after the history."
BY_FREQ = "and dates their forecasts by freq after their last time stamp"
BY_PANEL_FREQ = "and dates their forecasts by it after their last time stamp"


def index_info(index, warn=True, whose=""):
    """A JSON-able description of a pandas index, to continue it after the end.

    Continued: a PeriodIndex; a DatetimeIndex with a frequency (set, or
    inferable from its dates); an integer or float index of evenly spaced
    values (a RangeIndex, years 1871.0, 1872.0, ...). Anything else (dates
    with gaps, uneven numbers, labels) cannot be continued: a warning says so
    and the forecast is indexed by position after the history. ``whose``
    names the series the index is of in that warning (in a panel).
    """
    if index is None:
        return None
    import pandas as pd

    if isinstance(index, pd.PeriodIndex):
        return {"type": "period", "freq": index.freqstr, "name": _name(index.name)}
    if isinstance(index, pd.DatetimeIndex):
        freq = _frequency(index)
        if freq:
            info = {"type": "datetime", "freq": freq, "name": _name(index.name)}
            if index.tz is not None:  # continued in its zone, across daylight saving
                info["tz"] = zone_text(index.tz)
            return info
        reason = ("its dates have no frequency pandas can infer (a gap, or uneven "
                  "steps); give the model one, GRUForecaster(freq='B') for business days "
                  "with holidays, say (rows are then read as consecutive steps), or the "
                  "data, e.g. y.asfreq('D') for daily data (gaps become NaN: fill them), or "
                  "make dates a month, quarter or year apart periods, y.to_period('M') (in a "
                  "long frame df.ds.dt.to_period('M'))"
                  if index.freq is None else f"its frequency {index.freq!r} is not one its "
                  f"text ({index.freqstr!r}) gives back (holidays, or no text names it)")
    elif _numbers(index):
        steps = differences(index) if len(index) > 1 else np.ones(1, dtype=np.int64)
        if pd.api.types.is_integer_dtype(index):
            if int(np.max(index)) >= 2**63:  # uint64: forecasts are int64
                reason = "its integers pass those int64 holds"
            elif steps[0] != 0 and (steps == steps[0]).all():
                return {"type": "integer", "step": int(steps[0]), "name": _name(index.name)}
            else:
                reason = "its values are not evenly spaced"
        elif np.all(np.isfinite(steps)) and steps[0] != 0 and np.allclose(
                steps, steps[0], rtol=1e-9, atol=0.0):
            # the mean step: one difference of floats near 1990 is off in its
            # last digits, which grow with every step the forecast continues
            values = np.asarray(index, dtype=np.float64)
            step = (values[-1] - values[0]) / (len(values) - 1) if len(values) > 1 else 1.0
            return {"type": "float", "step": float(step), "name": _name(index.name),
                    **decimals(values)}
        else:
            reason = "its values are not evenly spaced"
    else:
        reason = f"it is a {type(index).__name__} of {index.dtype} labels"
        if pd.api.types.infer_dtype(index) in ("date", "datetime", "string"):
            reason += " (dates as objects or text: convert them with pd.to_datetime)"
    if warn:
        _warnings.warn(f"GRUForecaster cannot continue the time stamps{whose}: {reason}. "
                       + BY_POSITION)
    return {"type": "position", "name": _name(index.name)}


def zone_text(tz) -> str:
    """A time zone as text pandas reads back: its name ("Europe/Berlin"), or
    a fixed offset as "UTC+01:00" (pytz's fixed offsets name themselves in
    text pandas cannot read)."""
    import pandas as pd

    text = str(tz)
    try:
        pd.Timestamp(0, tz=text)
        return text
    except Exception:  # pytz, zoneinfo and dateutil each raise their own
        offset = tz.utcoffset(None)
    if offset is None:  # a zone of several offsets without a readable name
        return text
    minutes = int(offset.total_seconds()) // 60
    return f"UTC{'+' if minutes >= 0 else '-'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _frequency(index):
    """A DatetimeIndex's frequency as text that gives it back ("C" does not
    keep a CustomBusinessDay's holidays: the forecast would fall on them),
    else the one pandas infers from its dates, or None."""
    from pandas.tseries.frequencies import to_offset

    if index.freq is not None:
        try:
            return index.freqstr if to_offset(index.freqstr) == index.freq else None
        except ValueError:  # no text names it
            return None
    return index.inferred_freq if len(index) > 2 else None


def _name(name):
    """An index's name as a saved model keeps it (JSON): None, text or a
    number; a NumPy number as the number, any other name as its text."""
    name = plain(name)
    return name if name is None or isinstance(name, (str, int, float)) else str(name)


def last_stamp(info, index):
    t = info["type"]
    if t in ("period", "datetime"):
        return str(index[-1]) if t == "period" else index[-1].isoformat()
    if t == "position":
        return len(index) - 1
    return index[-1].item() if hasattr(index[-1], "item") else index[-1]


def continued_index(info, last, steps):
    """The ``steps`` time stamps after ``last`` (see :func:`index_info`)."""
    import pandas as pd

    if hasattr(last, "item"):  # a numpy scalar, as stored
        last = last.item()
    t = info["type"]
    if t == "period":
        start = pd.Period(last, freq=info["freq"]) + 1
        return pd.period_range(start, periods=steps, freq=info["freq"], name=info["name"])
    if t == "datetime":
        from pandas.tseries.frequencies import to_offset

        if info.get("tz") is not None:
            last = pd.Timestamp(last).tz_convert(info["tz"])
        try:
            rng = pd.date_range(last, periods=steps + 1, freq=info["freq"], name=info["name"])
            if rng[0] > pd.Timestamp(last):
                # a stamp off the frequency's grid (one value dated the 15th in a panel
                # of month starts): pandas starts the range at the next single unit's
                # date; last + freq is the frequency's own next one (two months on)
                rng = pd.date_range(pd.Timestamp(last) + to_offset(info["freq"]),
                                    periods=steps, freq=info["freq"], name=info["name"])
        except (OverflowError, pd.errors.OutOfBoundsDatetime):
            rng = _beyond_nanoseconds(last, steps, info)
        except Exception as exc:  # pytz's errors, which are no ValueError
            if info.get("tz") is None or type(exc).__name__ not in ("NonExistentTimeError",
                                                                "AmbiguousTimeError"):
                raise
            rng = _on_the_clock(last, steps, info)
        return rng[1:] if rng[0] <= pd.Timestamp(last) else rng[:steps]  # off the grid
    if t == "float":
        try:
            step = float(info["step"])
        except OverflowError:  # an integer beyond float64 (a tampered file's)
            step = np.inf
        with np.errstate(over="ignore", invalid="ignore"):
            stamps = float(last) + step * np.arange(1, steps + 1)
        if not np.isfinite(stamps).all():
            raise ValueError(f"{steps} steps of {info['step']} after {last} are not finite "
                             "float64 time stamps")
        if info.get("decimals") is not None:  # 2.8, as the caller writes it, not 2.8000000000000003
            stamps = np.round(stamps, info["decimals"])
        return pd.Index(stamps, dtype=np.float64, name=info["name"])
    step = int(info.get("step", 1))
    end = int(last) + step * steps
    if not -2**63 <= min(int(last), end) <= max(int(last), end) < 2**63:
        raise ValueError(f"{steps} steps of {step} after {last} pass the integers int64 holds")
    return pd.RangeIndex(int(last) + step, end + step, step, name=info["name"])


def _beyond_nanoseconds(last, steps, info):
    """The dates after ``last`` when they pass the range of nanoseconds
    (1677-2262): in microseconds after dates already beyond it (of
    datetime64[s] data), else a ValueError."""
    import pandas as pd

    if pd.Timestamp.min <= pd.Timestamp(last) <= pd.Timestamp.max:
        raise ValueError(f"{steps} steps of {info['freq']} after {last} pass the last date "
                         f"pandas holds ({pd.Timestamp.max}): forecast fewer steps, or "
                         "give ds as pandas Periods or integers")
    try:
        return pd.date_range(last, periods=steps + 1, freq=info["freq"], name=info["name"],
                             unit="us")
    except (OverflowError, ValueError):  # OutOfBoundsDatetime, or steps below a microsecond
        raise ValueError(f"{steps} steps of {info['freq']} after {last} pass the dates "
                         "pandas holds: forecast fewer steps, or give ds as pandas Periods or "
                         "integers") from None


def _on_the_clock(last, steps, info):
    """Dates of days and longer steps after ``last`` on the zone's clock,
    where one falls on a time the zone skips (midnight when daylight saving
    starts at midnight: the day's first time, 01:00) or repeats (its first)."""
    import pandas as pd

    wall = pd.date_range(last.tz_localize(None), periods=steps + 1, freq=info["freq"],
                         name=info["name"])
    return wall.tz_localize(info["tz"], nonexistent="shift_forward",
                            ambiguous=np.ones(len(wall), dtype=bool))


def panel_index_info(panel, known=None, freq=None):
    """One description for the panel (from its longest series) and each
    series' last stamp; None for arrays without time stamps. Series too
    short to tell their frequency or step (one value, or two dates) take
    ``known``'s, the description of the series a model was fitted to.
    ``freq`` (the forecaster's) gives the frequency of dates or the step of
    integers instead: every series is then dated by it after its last stamp,
    also one with a gap (a warning names it), as statsforecast does."""
    if all(t is None for t in panel.times):
        return None, None
    times, longest = _series_stamps(panel)
    if freq is not None:
        info = _given_frequency(freq, times, longest)
        off = off_step(info, times)
        if off:
            _warnings.warn(f"GRUForecaster: the series {[plain(panel.ids[i]) for i in off[:3]]}"
                           f"{' ...' if len(off) > 3 else ''} do not follow freq={freq!r} "
                           "throughout (a gap, or another frequency): the model reads their "
                           "rows as consecutive steps, " + BY_FREQ)
        return info, np.asarray([last_stamp(info, t) for t in times])
    whose = (f" of series {plain(panel.ids[longest])!r}, the longest, whose frequency the panel "
             "takes" if panel.n_series > 1 else "")
    index = times[longest]
    info, whose_freq = _too_short_to_tell(index, known), "the model's"
    if info is None:
        info, whose_freq = index_info(index, warn=False), "the panel's"
    if info["type"] == "position":  # a gap in the longest: the model's frequency, else none
        info, whose_freq = _of_model(index, known) or index_info(index, whose=whose), "the model's"
    other = next((i for i, t in enumerate(times) if not _of_kind(info, t)), None)
    if other is not None:  # dates beside positions, say: no one frequency dates them all
        _warnings.warn(f"GRUForecaster cannot continue the time stamps: those of series "
                       f"{plain(panel.ids[other])!r} are {times[other].dtype}, those of series "
                       f"{plain(panel.ids[longest])!r} {times[longest].dtype}. " + BY_POSITION)
        info = {"type": "position", "name": info["name"]}
    elif info["type"] != "position":
        off = off_step(info, times)
        if off:
            what = info.get("freq") or f"steps of {info['step']}"
            _warnings.warn(f"GRUForecaster: the series {[plain(panel.ids[i]) for i in off[:3]]}"
                           f"{' ...' if len(off) > 3 else ''} do not follow {whose_freq} "
                           f"frequency ({what}) throughout (a gap, or another frequency): the "
                           "model reads their rows as consecutive steps, " + BY_PANEL_FREQ)
    lasts = [last_stamp(info, t) for t in times]
    if "decimals" in info:  # the longest series' decimals: others may have more (0.5 beside 1)
        places = decimals(np.asarray(lasts, dtype=np.float64)).get("decimals")
        if places is not None:  # (none: a sum's float error in a last stamp, 3.0000000000000013)
            info = {**info, "decimals": max(info["decimals"], places)}
    return info, np.asarray(lasts)


def _series_stamps(panel):
    """Each series' time stamps (positions for one without), and which series
    is the longest."""
    import pandas as pd

    # a series without time stamps (an array among pandas series) counts by position
    times = [pd.RangeIndex(len(v)) if t is None else t for t, v in zip(panel.times,
                                                                          panel.values)]
    return times, int(np.argmax([len(t) for t in times]))


def check_frequency(panel, freq) -> None:
    """The ValueError :func:`panel_index_info` would raise for ``freq``, said
    before a fit trains (its warnings are given when the fit ends)."""
    if freq is not None and not all(t is None for t in panel.times):
        _given_frequency(freq, *_series_stamps(panel))


@functools.lru_cache(maxsize=64)
def offset_of(freq: str):
    """pandas' offset of the frequency ``freq`` (text), read once per
    process: pandas warns of a deprecated alias ("M", "H", statsforecast's
    spellings) at each reading, and ``fit`` reads ``freq`` more than once."""
    from pandas.tseries.frequencies import to_offset

    return to_offset(freq)


def _given_frequency(freq, times, longest):
    """The description of ``times`` that ``freq`` gives: a frequency of
    dates or periods (text; periods must be of it) or the step of integers
    (int); a ValueError when the time stamps are of another kind or it does
    not move forwards."""
    import pandas as pd

    index = times[longest]
    if isinstance(freq, (bool, np.bool_)):
        raise ValueError(f"freq must be a frequency (text) or an integer step, got {freq!r}")
    if isinstance(freq, str):
        kind = pd.PeriodIndex if isinstance(index, pd.PeriodIndex) else pd.DatetimeIndex
        other = next((t for t in times if not isinstance(t, kind)), None)
        if other is not None:
            raise ValueError(f"freq={freq!r} is a frequency of dates, but the time stamps are "
                             f"{other.dtype} (give integer time stamps their step, freq=1)")
        try:
            if kind is pd.PeriodIndex:  # periods carry their frequency: it must be freq's
                same = pd.Period(index[-1], freq=freq).freqstr == index.freqstr
                info = {"type": "period", "freq": index.freqstr, "name": _name(index.name)}
            else:  # on the wall clock: a step across a daylight saving change exists
                offset = offset_of(freq)
                wall = index[-1].tz_localize(None)
                same = wall + offset > wall
                info = {"type": "datetime", "freq": offset.freqstr, "name": _name(index.name)}
        except (ValueError, TypeError):
            raise ValueError(f"freq={freq!r} is not a frequency pandas knows for " + (
                f"periods (theirs in ds: {index.freqstr!r})" if kind is pd.PeriodIndex else
                "dates (e.g. 'D', 'W-SUN', 'MS', 'QS', 'YS', 'h')")) from None
        if not same:
            raise ValueError(f"freq={freq!r} " + ("is not the frequency of the periods in ds "
                                                  f"({index.freqstr!r})" if kind is
                                                  pd.PeriodIndex else "does not move forwards"))
        if kind is pd.DatetimeIndex and index.tz is not None:
            info["tz"] = zone_text(index.tz)
        return info
    other = next((t for t in times if not pd.api.types.is_integer_dtype(t)), None)
    if other is not None:
        raise ValueError(f"freq={freq!r} is the step of integer time stamps, but the time "
                         f"stamps are {other.dtype}" + (" (give dates a frequency, e.g. "
                                                        "freq='D')" if other.dtype.kind == "M"
                                                        else ""))
    return {"type": "integer", "step": int(freq), "name": _name(index.name)}


def _too_short_to_tell(index, known):
    """``known``'s frequency or step for ``index`` (named and in the zone as
    it is) when ``index`` is too short to tell its own and is of the same
    kind, else None."""

    if known is None or len(index) > 2:
        return None
    # (the frequency pandas gives one date, "D" from pd.date_range(..., periods=1), is none)
    if known["type"] == "datetime":
        return _of_model(index, known)
    if known["type"] in ("integer", "float") and len(index) == 1 and _numbers(index):
        if known["type"] == "integer" and float(index[0]).is_integer():
            return {**known, "name": _name(index.name)}
        # the value's decimals and the step's: 1000.5 + 5 k, 2001 + 0.25 k
        info = {"type": "float", "step": float(known["step"]), "name": _name(index.name)}
        own = decimals(np.asarray(index, dtype=np.float64)).get("decimals")
        step = (0 if known["type"] == "integer" else known.get("decimals"))
        if own is not None and step is not None:
            info["decimals"] = max(own, step)
        return info
    return None


def _of_kind(info, index) -> bool:
    """Whether ``index`` holds time stamps of the kind ``info`` describes
    (dates, periods, integers, also as whole floats, or numbers; positions
    take any)."""
    import pandas as pd

    kind = info["type"]
    if kind == "position":
        return True
    if kind in ("datetime", "period"):
        return isinstance(index, pd.DatetimeIndex if kind == "datetime" else pd.PeriodIndex)
    number = _numbers(index)
    if not number or kind == "float" or pd.api.types.is_integer_dtype(index):
        return number
    values = np.asarray(index, dtype=np.float64)
    return bool(np.isfinite(values).all() and (values == np.floor(values)).all())


def _numbers(index) -> bool:
    """Whether ``index`` holds real numbers (not booleans or complex ones)."""
    import pandas as pd

    api = pd.api.types
    return api.is_numeric_dtype(index) and not (api.is_bool_dtype(index)
                                                or api.is_complex_dtype(index))


def _of_model(index, known):
    """``known``'s frequency or step (the fitted model's), named as ``index``,
    for dates or integers of the same kind whose own frequency cannot be
    told (a gap), else None."""
    import pandas as pd

    if known is None:
        return None
    if known["type"] == "datetime" and isinstance(index, pd.DatetimeIndex) and (
            (index.tz is None) == (known.get("tz") is None)):
        info = {**known, "name": _name(index.name)}
        if index.tz is not None:
            info["tz"] = zone_text(index.tz)
        return info
    if known["type"] == "integer" and pd.api.types.is_integer_dtype(index) and len(index) and (
            int(np.max(index)) < 2**63):
        return {**known, "name": _name(index.name)}
    return None


def off_step(info, times) -> list:
    """Positions of the series whose consecutive time stamps are not one
    step of ``info`` apart (a gap, or another frequency): continued with
    the panel's frequency, their forecasts' dates would be wrong."""
    multi = [i for i, t in enumerate(times) if len(t) > 1]
    if not multi:
        return []
    sub = [times[i] for i in multi]
    every = sub[0].append(sub[1:]) if len(sub) > 1 else sub[0]
    return [multi[j] for j in off_step_joined(info, every, np.array([len(t) for t in sub]))]


def off_step_joined(info, every, n) -> list:
    """:func:`off_step` of series joined end to end: ``every`` holds the
    stamps of series of ``n`` stamps each (at least 2), one after another."""
    import pandas as pd

    ends = np.cumsum(n)
    not_first = np.ones(len(every), dtype=bool)
    not_first[ends - n] = False
    not_last = np.ones(len(every), dtype=bool)
    not_last[ends - 1] = False
    prev, nxt = every[not_last], every[not_first]
    try:
        if info["type"] == "period":
            ok = np.asarray(prev + 1 == nxt)
        elif info["type"] == "datetime" and prev.tz is None:
            ok = np.asarray(_shifted(prev, info["freq"]) == nxt)
        elif info["type"] == "datetime":  # days and longer steps count on the clock
            wall = _shifted(prev.tz_localize(None), info["freq"])
            ok = np.asarray(wall == nxt.tz_localize(None))
            if isinstance(pd.tseries.frequencies.to_offset(info["freq"]), pd.offsets.Tick):
                # hours count in elapsed time (months would be shifted on the
                # clock, and fail on a time the zone skips)
                ok |= np.asarray(_shifted(prev, info["freq"]) == nxt)
        elif info["type"] == "integer" and every.dtype.kind in "iu":
            ok = differences(every)[not_first[1:]] == info["step"]
        else:
            step = np.asarray(nxt, dtype=np.float64) - np.asarray(prev, dtype=np.float64)
            ok = np.isclose(step, info["step"], rtol=1e-9, atol=0.0)
    except (TypeError, ValueError, AttributeError):  # stamps of other kinds
        return list(range(len(n)))
    series = np.repeat(np.arange(len(n)), n - 1)
    return sorted(set(series[~ok].tolist()))


def _shifted(index, freq):
    """Each date of a DatetimeIndex one step of ``freq`` on. Offsets pandas
    adds date by date (business hours, custom business days and months,
    weeks of a month) are added so here, without pandas' PerformanceWarning
    pointing into fastgru."""
    import pandas as pd

    offset = pd.tseries.frequencies.to_offset(freq)
    if isinstance(offset, (pd.offsets.BusinessHour, pd.offsets.CustomBusinessHour,
                           pd.offsets.CustomBusinessDay, pd.offsets.CustomBusinessMonthBegin,
                           pd.offsets.CustomBusinessMonthEnd, pd.offsets.WeekOfMonth,
                           pd.offsets.LastWeekOfMonth)):
        return pd.DatetimeIndex([t + offset for t in index], tz=index.tz)
    return index.shift(1, freq=offset)


def differences(index) -> np.ndarray:
    """Consecutive differences of a numeric index: exact for integers
    (float64 rounds those beyond 2**53, near int64's limits by thousands)."""
    values = np.asarray(index)
    if values.dtype.kind not in "iu":
        return np.diff(values.astype(np.float64))
    if len(values) and (int(values.max()) >= 2**62 or int(values.min()) < -2**62):
        values = values.astype(object)  # Python integers: no overflow
    return np.diff(values.astype(np.int64) if values.dtype != object else values)


def _in_utc(value):
    """A date with a time zone in UTC; anything else as it is (a date without
    one is no instant: it matches none)."""
    import datetime

    import pandas as pd

    if isinstance(value, datetime.datetime) and value.tzinfo is not None:
        return pd.Timestamp(value).tz_convert("UTC")
    return value


def decimals(values) -> dict:
    """``{"decimals": d}`` when every value is a number of at most ``d``
    decimals (d <= 12: 0.1, 0.2, ...), to round their continuation to; else {}."""
    for d in range(13):
        if np.array_equal(np.round(values, d), values):
            return {"decimals": d}
    return {}


def locate(wanted, got, info) -> np.ndarray:
    """Where each stamp of ``got`` is among the forecast's stamps ``wanted``
    (continued as ``info`` says; -1 where it is none of them). Floats match
    within a millionth of a step: continued stamps and the caller's own
    (1990 + 31 / 12) differ in their last digits."""
    import pandas as pd

    if isinstance(wanted, pd.DatetimeIndex) and wanted.tz is not None:
        # instants of two zones match in UTC: hashes of a zone's repeated hour (when
        # daylight saving ends) take its first offset, and miss the other zone's.
        # got may be dates of mixed offsets as objects (read_csv's) or pyarrow's
        wanted = wanted.tz_convert("UTC")
        got = (got.tz_convert("UTC") if isinstance(got, pd.DatetimeIndex) and got.tz
               is not None else [_in_utc(v) for v in got])
    where = {w: i for i, w in enumerate(wanted)}  # by equality: text is no date
    at = np.array([where.get(v, -1) for v in got], dtype=np.int64)
    if not (info["type"] == "float" and (at < 0).any() and pd.api.types.is_numeric_dtype(got)):
        return at
    w, g = wanted.to_numpy(), np.asarray(got, dtype=np.float64)
    gap = np.abs(g[:, None] - w[None, :])
    near = np.argmin(gap, axis=1)
    return np.where(gap[np.arange(len(g)), near] <= 1e-6 * abs(info["step"]), near, -1)
