"""Time stamps given as text or objects in a long frame's ``ds``: ISO dates
read as dates (:func:`dates_read`), and other text checked to be in time
order (:func:`check_text_order`).

Plain pandas: nothing here knows of panels, layers or training.
"""

from __future__ import annotations

import warnings

import numpy as np

from ._columns import ID, TIME

#: ISO dates as text: 2024-01-31, 2024-01-31 10:00, 2024-01-31T10:00:00.5, in
#: UTC with a Z or +00:00 (as to_csv writes UTC dates). Not with another UTC
#: offset, +01:00: one offset is a fixed zone, whose days continue at the
#: wrong hour after a daylight saving change; convert those with
#: pd.to_datetime(..., utc=True).tz_convert(zone).
_ISO_DATE = (r"\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?"
             r"(?:Z|[+-]00:?00)?)?")

#: Months and quarters as text, as to_csv writes monthly and quarterly
#: periods (2024-01, 2024Q1): read as the first day of each, with the
#: pattern that parses them.
_PERIODS = ((r"\d{4}-\d{2}", "%Y-%m"), (r"\d{4}Q[1-4]", "Q"))


def dates_read(frame):
    """``frame`` with its ``ds`` as dates when they are ISO dates as text
    (:data:`_ISO_DATE`), months or quarters as text (:data:`_PERIODS`), dates
    or datetimes without a zone as objects, each parsed once; else ``frame``
    itself."""
    if not hasattr(frame, "columns"):  # arrays and lists: pandas may not be installed
        return frame
    import pandas as pd

    if not isinstance(frame, pd.DataFrame) or TIME not in frame.columns or not isinstance(
            frame[TIME], pd.Series):  # (two columns of the name: refused by the readers)
        return frame
    ds = frame[TIME]
    if isinstance(ds.dtype, pd.CategoricalDtype) or ds.empty or not (
            ds.dtype == object or pd.api.types.is_string_dtype(ds.dtype)):  # arrow's text too
        return frame
    codes, distinct = pd.factorize(ds.to_numpy(dtype=object))
    if (codes < 0).any():  # missing stamps: refused by the readers, named there
        return frame
    kind = pd.api.types.infer_dtype(distinct, skipna=False)
    pattern = "ISO8601"
    if kind == "datetime":  # objects without a zone (offsets: see _ISO_DATE)
        readable = all(getattr(d, "tzinfo", None) is None for d in distinct)
    elif kind == "string":
        text = pd.Series(distinct, dtype=object).str
        pattern = next((p for regex, p in ((_ISO_DATE, pattern), *_PERIODS)
                        if text.fullmatch(regex).all()), None)
        readable = pattern is not None
    else:
        readable = kind == "date"
    if not readable:
        return frame
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if pattern == "Q":
                dates = pd.PeriodIndex(distinct, freq="Q").to_timestamp()
            else:
                dates = pd.DatetimeIndex(pd.to_datetime(distinct, format=pattern))
    except (TypeError, ValueError, OverflowError):  # several UTC offsets, a 2024-02-30
        return frame
    return frame.assign(**{TIME: dates.take(codes)})


def check_text_order(ids, stamps, given_order: bool = False) -> None:
    """Time stamps as text are read in their order as text: a ValueError
    when that is not the order of the numbers or dates they spell ("10"
    before "9", "01/15/2001" before "12/01/2000"), naming a series; with
    ``given_order``, text that spells neither (``"week 10"``, ``"Q1 1959"``)
    must also be in that order in the rows of each series, the only
    other order it can mean (so must a categorical's whose categories are
    in their order as text). A categorical's rows sort in its categories'
    order: categories of dates or numbers must be in increasing order (a
    ValueError otherwise)."""
    import pandas as pd

    text = stamps.cat.categories if isinstance(stamps.dtype, pd.CategoricalDtype) else stamps
    if pd.api.types.infer_dtype(text, skipna=False) == "string":
        # categories in their order as text (pandas' default) say no more of time than it
        _check_text_order(ids, stamps, given_order and (
            text is stamps or text.is_monotonic_increasing))
    elif text is not stamps and not text.is_monotonic_increasing:
        raise ValueError(f"column {TIME!r} is a categorical whose categories are not in "
                         f"increasing order ({', '.join(map(str, text[:3]))}, ...): its rows "
                         "would be read in the categories' order, not in time order; convert "
                         f"it first, e.g. with .astype({str(text.dtype)!r})")


def _check_text_order(ids, stamps, given_order: bool) -> None:
    import pandas as pd

    order = pd.DataFrame({ID: ids.reset_index(drop=True), TIME: stamps.reset_index(
        drop=True)}).sort_values([ID, TIME], kind="stable")  # the index: the rows' positions
    # each distinct stamp is parsed once (a panel repeats its dates in every series)
    codes, distinct = pd.factorize(order[TIME].to_numpy())
    for what, parse in (("numbers", pd.to_numeric), ("dates", pd.to_datetime)):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the format pandas guesses for dates
                values = np.asarray(parse(distinct))[codes]
        except (TypeError, ValueError, OverflowError):
            continue
        keys = order[ID].to_numpy()
        back = (values[1:] <= values[:-1]) & (keys[1:] == keys[:-1])
        if back.any():
            j = int(np.argmax(back))
            raise ValueError(f"column {TIME!r} holds text, read in its order as text, which is "
                             f"not the order of the {what} it spells (series {keys[j]!r}: "
                             f"{order[TIME].iloc[j]!r} sorts before {order[TIME].iloc[j + 1]!r})"
                             f": convert it first, e.g. with pd.to_datetime or pd.to_numeric")
        return
    if not given_order:
        return
    keys, rows = order[ID].to_numpy(), order.index.to_numpy()
    back = (rows[1:] < rows[:-1]) & (keys[1:] == keys[:-1])
    if back.any():  # sorting would reorder the history
        j = int(np.argmax(back))
        raise ValueError(f"column {TIME!r} holds text that spells neither numbers nor dates, "
                         f"and its order as text is not the order of the rows (series "
                         f"{keys[j]!r}: {order[TIME].iloc[j]!r} sorts before "
                         f"{order[TIME].iloc[j + 1]!r}): the order of time is unknown; "
                         f"convert it to numbers or dates first (e.g. with the rows in time "
                         f"order, the step's number df.groupby('unique_id').cumcount())")
