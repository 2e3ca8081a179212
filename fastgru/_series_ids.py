"""Series ids: how a fitted forecaster keeps them (:func:`series_id_array`,
:func:`kept_categories`), finds them again (:func:`id_index`,
:func:`id_positions`, :func:`positions`, :func:`ids_as_known`) and says
why a frame's ids miss them (:func:`id_type_hint`)."""

from __future__ import annotations

import math

import numpy as np

from ._columns import ID, plain


def series_id_array(ids) -> np.ndarray:
    """The series' ids as a file keeps them: integers, finite float64 or
    text, each kind on its own, or else text (``str`` of each id); a
    ValueError when two ids are the same as text (``1`` and ``"1"``), which
    would merge their forecasts."""
    kinds = {_kind(i) for i in ids}
    arr = np.asarray(ids) if kinds in ({str}, {int}, {float}) else None
    if arr is None or arr.ndim != 1 or arr.dtype.kind not in "iufU" or (
            arr.dtype.kind == "f" and not np.isfinite(arr).all()) or (
            kinds == {int} and arr.dtype.kind == "f"):  # integers past int64 beside others
        arr = np.array([str(i) for i in ids])
    if len(set(arr.tolist())) != len(ids):
        seen = {}
        for k, i in enumerate(ids):
            j = seen.setdefault(str(i), k)
            if j != k:
                raise ValueError(f"the series ids {ids[j]!r} and {i!r} are the same as text, "
                                 "as the model keeps ids of several kinds as text: "
                                 "give the series distinct ids")
    return arr


def _kind(value) -> type:
    """``str``, ``float`` or ``int`` (NumPy's too, not booleans), else ``object``."""
    if isinstance(value, (str, np.str_)):
        return str
    if isinstance(value, float):
        return float
    return int if isinstance(value, (int, np.integer)) and not isinstance(
        value, (bool, np.bool_)) else object


def kept_categories(dtype, ids) -> tuple:
    """A categorical ``unique_id``'s dtype as a file keeps it: its categories
    as an array (an array, not JSON: a panel may have many series) and
    whether they are ordered; ``(None, None)`` for ids of no category,
    categories of other or mixed kinds, or ids the model keeps otherwise
    than as categories (a mix of kinds, kept as text)."""
    if dtype is None:
        return None, None
    categories = [plain(c) for c in dtype.categories]
    kinds = {_kind(c) for c in categories}
    if len(kinds) != 1 or object in kinds or not set(ids.tolist()) <= set(categories):
        return None, None
    if kinds == {int} and not all(-2**63 <= c < 2**63 for c in categories):
        return None, None  # beyond int64: the array would hold objects
    if kinds == {float} and not all(math.isfinite(c) for c in categories):
        return None, None
    return np.asarray(categories), bool(dtype.ordered)


def id_index(est) -> tuple:
    """The fitted series' positions by id, as given and as text (the model
    keeps ids of several kinds as text, and no two of its ids are the same
    as text: ``series_id_array``). Built once for a set of ids:
    ``predict(y=...)`` on a server looks a few series up among many, at
    every call."""
    cache = getattr(est, "_id_cache", None)
    if cache is None or not np.array_equal(cache[0], est.series_ids_):  # a new fit or load
        cache = est._id_cache = (np.array(est.series_ids_, copy=True),
                                 id_positions(est.series_ids_.tolist()))
    return cache[1]


def id_positions(ids) -> tuple:
    """The position of each of ``ids`` by id as given and as text, for
    :func:`positions`."""
    return {k: i for i, k in enumerate(ids)}, {str(k): i for i, k in enumerate(ids)}


def positions(index, ids) -> list:
    """The position of each of ``ids`` in an :func:`id_index`, or None for
    an id it does not hold: matched as given, or else as text."""
    known, text = index
    return [known.get(i, text.get(str(i))) for i in ids]


def id_type_hint(key, groups, frame="X_df") -> str:
    """Why the ids ``groups`` of ``frame`` may miss series ``key``: the same
    id of another type (``'1'`` or ``1.0`` for ``1``), or nothing."""
    other = next((k for k in groups if same_id(k, key)), None)
    if other is None:
        return ""
    return (f" (it has {other!r}, a {type(other).__name__} where the model's ids are "
            f"{type(key).__name__}: convert {frame}'s {ID!r} to their type)")


def same_id(a, b) -> bool:
    """Whether ids ``a`` and ``b`` of different types spell or count the
    same: ``'1'``, ``1`` and ``1.0``."""
    if type(a) is type(b):
        return False
    if str(a) == str(b):
        return True
    try:
        return float(a) == float(b)
    except (TypeError, ValueError, OverflowError):
        return False


def ids_as_known(ids, known):
    """The pandas Series ``ids`` with each id that ``known`` (a frame's ids)
    lacks as given but holds as text replaced by ``known``'s: a forecaster
    keeps ids of several kinds as text, so its ``'1'`` is the caller's
    ``1``; ``ids`` itself when none is replaced."""
    import pandas as pd

    if isinstance(ids.dtype, pd.CategoricalDtype):
        return ids
    missing = ~ids.isin(known)
    if not missing.any():
        return ids
    known = pd.unique(known.to_numpy(dtype=object))
    by_text = {}
    for k in known:
        by_text.setdefault(str(k), k)
    found = ids[missing].map(lambda k: by_text.get(str(k), k))
    if found.equals(ids[missing]):  # none found as text: the caller's merge says so
        return ids
    return ids.astype(object).where(~missing, found).infer_objects()  # dates as dates
