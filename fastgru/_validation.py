"""Input checks shared by the layer and the estimators.

Every public entry point converts and checks its arguments here, before any
kernel runs, and raises a ValueError or TypeError that names the argument.
"""

from __future__ import annotations

import numbers
import os
import sys

import numpy as np

DTYPES = {"float32": np.float32, "float64": np.float64}


def check_dtype(dtype) -> np.dtype:
    """Resolve the ``dtype`` argument to ``np.float32`` or ``np.float64``.

    ``None`` is refused, although ``np.dtype(None)`` is float64: a caller
    that means "the default" says so before calling this."""
    if dtype is None:
        raise ValueError("dtype must be 'float32' or 'float64', got None")
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        resolved = None
    if resolved not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    return resolved


#: The largest size or count an integer argument may take: the kernels index
#: with 64-bit integers, and far below this the memory check refuses.
MAX_INT = 2**31 - 1


def check_int(name: str, value, minimum: int = 1, maximum: int = MAX_INT) -> int:
    """An integer in ``minimum..maximum`` (bool is refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return int(value)


def check_bool(name: str, value) -> bool:
    """A bool (or numpy bool); strings such as ``'no'`` are refused."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__} {value!r}")
    return bool(value)


def _physical_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # pragma: no cover - not POSIX
        return 1 << 40


_PHYSICAL_MEMORY = _physical_memory()


def check_memory(what: str, n_bytes: int) -> None:
    """Refuse, before allocating, a request for more bytes than the machine has.

    A ValueError stating the memory needed, instead of a MemoryError from
    deep inside (or the out-of-memory killer).
    """
    limit = _PHYSICAL_MEMORY
    if n_bytes > limit:
        raise ValueError(f"{what} would need {n_bytes / 2**30:.3g} GiB of memory, more than "
                         f"this machine has ({limit / 2**30:.3g} GiB)")


def _asarray(name: str, value) -> np.ndarray:
    """``np.asarray(value)``, with an error naming ``name`` for nested lists
    of uneven lengths or values that are not numbers."""
    try:
        return np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{name} cannot be read as an array ({exc})") from None


def check_real(name: str, value, low: float, high: float, high_inclusive=False) -> float:
    """A real number in ``[low, high)`` (or ``[low, high]``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    ok = low <= value <= high if high_inclusive else low <= value < high
    if not ok:
        bracket = "]" if high_inclusive else ")"
        raise ValueError(f"{name} must be in [{low}, {high}{bracket}, got {value}")
    return value


def as_float_array(name: str, value, dtype, ndim=None, allow_nan=False) -> np.ndarray:
    """Convert ``value`` to a C-contiguous array of ``dtype`` and check it.

    Refuses complex, object, string and datetime data, the wrong number of
    dimensions, empty arrays and NaN/inf (inf only, with ``allow_nan``), each
    with a message naming ``name``.
    """
    if hasattr(value, "detach") and hasattr(value, "numpy"):  # a torch tensor
        value = value.detach().cpu().numpy()
    arr = _asarray(name, value)
    kind = arr.dtype.kind
    if kind == "c":
        raise TypeError(f"{name} must be real-valued, got complex dtype {arr.dtype}")
    if kind not in "biuf":
        raise TypeError(f"{name} must hold numbers, got dtype {arr.dtype}")
    if ndim is not None and arr.ndim not in ((ndim,) if isinstance(ndim, int) else ndim):
        want = " or ".join(str(n) for n in np.atleast_1d(ndim))
        raise ValueError(f"{name} must be {want}-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape})")
    source = arr
    if arr.dtype == dtype:
        arr = kernel_ready(np.ascontiguousarray(arr))
    else:
        with np.errstate(over="ignore"):  # values beyond float32 are named below
            arr = kernel_ready(np.ascontiguousarray(arr, dtype=dtype))
    if allow_nan:
        if np.isinf(arr).any():
            raise ValueError(_overflow_message(name, source, arr.dtype) or
                             f"{name} contains inf")
    elif not np.isfinite(arr).all():
        raise ValueError(_overflow_message(name, source, arr.dtype) or
                         f"{name} contains NaN or inf")
    return arr


def _overflow_message(name: str, source: np.ndarray, dtype: np.dtype) -> str | None:
    """Why ``source`` became infinite as ``dtype``: finite values beyond its
    range (float64 data of magnitude above 3.4e38 for a float32 model); None
    when ``source`` itself holds NaN or inf."""
    if source.dtype.kind != "f" or source.dtype.itemsize <= dtype.itemsize:
        return None
    finite = np.isfinite(source)
    too_large = finite & (np.abs(source) > np.finfo(dtype).max)
    if not too_large.any():
        return None
    peak = np.format_float_scientific(np.abs(source[finite]).max(), precision=2, trim="-")
    return (f"{name} holds values beyond the range of {dtype} (up to {peak}; {dtype} holds "
            f"{np.finfo(dtype).max:.3g}){'' if finite.all() else ' and NaN or inf'}: scale it"
            f"{', or use dtype=' + repr('float64') if dtype.itemsize < 8 else ''}")


def kernel_ready(arr: np.ndarray) -> np.ndarray:
    """``arr`` (C-contiguous) if it is writeable, else a writeable copy.

    The kernels are compiled for writeable arrays only: a read-only one
    (``np.frombuffer`` on a request's bytes, a read-only memory map,
    ``setflags(write=False)``) is another type to Numba, which would compile
    a variant of each kernel on first use (about 10 s) in the middle of
    serving.
    """
    return arr if arr.flags.writeable else arr.copy()


def as_sequences(x, input_size: int, dtype):
    """Normalise a batch of sequences for the layer.

    ``x`` is ``(batch, time, input_size)`` or a list of ``(time_i, input_size)``
    arrays of different lengths (right-padded with zeros here). Returns the
    C-contiguous array ``(batch, time, input_size)`` and the lengths of a
    ragged list (or None).
    """
    if isinstance(x, (list, tuple)):
        padded, lengths = pad_sequences("x", x, dtype, input_size, allow_1d=False)
        return padded, lengths
    arr = as_float_array("x", x, dtype, ndim=3)
    if arr.shape[2] != input_size:
        raise ValueError(
            f"x has {arr.shape[2]} features per step (shape {arr.shape}), "
            f"expected input_size={input_size}"
        )
    return arr, None


def pad_sequences(name: str, seqs, dtype, n_features: int | None = None, allow_1d=True):
    """Right-pad a list of sequences into ``(n, max_time, n_features)`` with lengths.

    Each item is ``(time_i, n_features)``, or with ``allow_1d`` a 1-D univariate
    sequence ``(time_i,)``. Every item is checked (NaN/inf, empty, dtype) and
    must have ``n_features`` features (by default, those of the first item).
    """
    if len(seqs) == 0:
        raise ValueError(f"{name} is an empty list of sequences")
    ndim = (1, 2) if allow_1d else 2
    arrays = []
    for i, s in enumerate(seqs):
        arr = as_float_array(f"{name}[{i}]", s, dtype, ndim=ndim)
        arrays.append(arr[:, None] if arr.ndim == 1 else arr)
    if n_features is None:
        n_features = arrays[0].shape[1]
    for i, arr in enumerate(arrays):
        if arr.shape[1] != n_features:
            raise ValueError(
                f"{name}[{i}] has {arr.shape[1]} features per step, expected {n_features}"
                + (" (input_size)" if not allow_1d else "")
            )
    lengths = np.array([a.shape[0] for a in arrays], dtype=np.int64)
    padded = np.zeros((len(arrays), lengths.max(), n_features), dtype=dtype)
    for i, arr in enumerate(arrays):
        padded[i, : arr.shape[0]] = arr
    return padded, lengths


def object_sequences(X):
    """Ragged data as NumPy and pandas hold it, as a list of its sequences.

    A 1-D object array, or a pandas Series of object dtype, whose items are
    arrays (or lists) becomes a list of them, which the estimators read as
    ragged sequences; so does sktime's nested DataFrame (cells holding each
    feature's series), a ``(steps, features)`` array per row; anything else
    is returned unchanged.
    """
    if hasattr(X, "iloc") and getattr(X, "ndim", 0) == 2 and len(X.columns) and len(X) and all(
            dtype.kind == "O" for dtype in X.dtypes) and any(
            _is_sequence(cell) for cell in X.iloc[:5].to_numpy().ravel()):
        return _nested_rows(X)
    if hasattr(X, "iloc") and getattr(X, "ndim", 0) == 1 and X.dtype == object:
        X = X.to_numpy()
    if (isinstance(X, np.ndarray) and X.dtype == object and X.ndim == 1 and X.size
            and all(isinstance(item, (np.ndarray, list, tuple)) or hasattr(item, "iloc")
                    for item in X)):
        return [np.asarray(item) for item in X]
    return X


def _is_1d_array(value) -> bool:
    """A 1-D NumPy array or pandas Series: one univariate sequence."""
    return (isinstance(value, np.ndarray) or hasattr(value, "iloc")) and getattr(
        value, "ndim", 0) == 1


def _is_sequence(cell) -> bool:
    """A nested frame's cell: a 1-D array or pandas Series, or a list or
    tuple (of numbers, checked where they are read)."""
    return _is_1d_array(cell) or isinstance(cell, (list, tuple))


def _nested_rows(frame) -> list:
    """sktime's nested DataFrame (a row per sample, a column per feature, each
    cell the feature's values over time) as a list of ``(steps, features)``
    arrays; a ValueError naming the row whose cells are not all sequences of
    one length."""
    rows = []
    for label, row in zip(frame.index, frame.itertuples(index=False, name=None)):
        if not all(_is_sequence(cell) for cell in row) or len({len(c) for c in row}) != 1:
            raise ValueError(f"X is a nested DataFrame (each cell a sequence): its row "
                             f"{label!r} must hold one sequence per column, all of one length "
                             "(a feature's values at the same time steps)")
        rows.append(np.column_stack([np.asarray(cell) for cell in row]))
    return rows


#: A 3-D array with at most this many steps and at least CHANNELS_FIRST_RATIO
#: times as many features per step looks channel-first (see warn_channels_first).
CHANNELS_FIRST_STEPS = 16
CHANNELS_FIRST_RATIO = 4


def warn_channels_first(owner: str, shape: tuple) -> None:
    """Warn when a 3-D ``X`` of ``shape`` looks like ``(n_cases, n_channels,
    n_timepoints)`` (aeon's and sktime's layout) rather than fastgru's
    ``(n_samples, n_timesteps, n_features)``: one time step of several
    features, or a few steps (at most 16) of at least 4 times as many features."""
    _, steps, features = shape
    if (steps == 1 and features > 1) or (
            steps <= CHANNELS_FIRST_STEPS and features >= CHANNELS_FIRST_RATIO * steps):
        import warnings

        warnings.warn(
            f"{owner} got X of shape {shape}, read as (n_samples, n_timesteps, n_features): "
            f"{steps} time step{'s' if steps > 1 else ''} of {features} features each. If X "
            "is channel-first (n_cases, n_channels, n_timepoints), as aeon and sktime hold "
            "panels, pass X.transpose(0, 2, 1).", UserWarning, stacklevel=4)


def sequence_form(X) -> str:
    """How the estimators read ``X``: "ragged", "3d" or "2d".

    A list or tuple is "ragged" unless it is rectangular (then it is read as
    the array it makes, as scikit-learn reads nested lists), and always when
    its items are 1-D arrays or pandas series: sequences, of any lengths
    (equal ones too, so that a model fitted on them takes other lengths,
    as after sequences of different lengths); anything else
    that is not 3-D is "2d" and left to scikit-learn's ``validate_data`` to
    check, but an array of another known number of dimensions (1-D, 4-D) is
    refused here: scikit-learn's message would ask for 2-D input only.
    """
    if isinstance(X, (list, tuple)):
        if X and all(_is_1d_array(s) for s in X):
            return "ragged"
        try:
            ndim = np.asarray(X).ndim
        except (ValueError, TypeError):  # inhomogeneous: sequences of different lengths
            return "ragged"
        return {3: "3d", 2: "2d"}.get(ndim, "ragged")
    if _is_sparse(X):
        return "2d"
    ndim = getattr(X, "ndim", None)
    if ndim is None:
        try:
            ndim = np.asarray(X).ndim
        except (ValueError, TypeError):
            return "2d"  # validate_data says what is wrong
        if ndim == 0:  # not a container of numbers: a generator, a dict, an object
            raise TypeError("X must be sequences (a 3-D or 2-D array, or a list of 2-D "
                            f"arrays), got {type(X).__name__}")
    elif ndim not in (2, 3):
        hint = ("; Reshape your data with X.reshape(1, -1) if it is one univariate "
                "sequence" if ndim == 1 else "")
        raise ValueError("X must be sequences: a 3-D array (n_samples, n_timesteps, "
                         "n_features), a 2-D array (n_samples, n_timesteps) or a list of "
                         f"sequences, got a {ndim}-D array of shape {np.shape(X)}{hint}")
    return "3d" if ndim == 3 else "2d"


def _is_sparse(X) -> bool:
    """Whether ``X`` is a SciPy sparse matrix or array. SciPy's sparse module
    is not imported for it (~50 ms of ``import fastgru``): a sparse ``X``
    means that it is imported already."""
    sparse = sys.modules.get("scipy.sparse")
    return sparse is not None and sparse.issparse(X)


def check_step_features(owner: str, form: str, n_features: int, expected: int | None) -> None:
    """At predict/transform: ``X`` must have the features per step seen at fit.

    2-D input is univariate (one feature per step); ``expected`` None skips
    the check (at fit).
    """
    if expected is None:
        return
    if form == "2d" and expected != 1:
        raise ValueError(f"X is 2-D (univariate sequences), but {owner} was fitted with "
                         f"{expected} features per time step: pass a 3-D array")
    if form != "2d" and n_features != expected:
        raise ValueError(f"X has {n_features} features per time step, but {owner} was "
                         f"fitted with {expected}")


def check_lengths(lengths, batch: int, time: int) -> np.ndarray:
    """``lengths``: integers in ``1..time``, one per sequence, as int64."""
    arr = _asarray("lengths", lengths)
    if arr.dtype.kind not in "iu":
        if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        else:
            raise TypeError(f"lengths must be integers, got dtype {arr.dtype}")
    if arr.shape != (batch,):
        raise ValueError(f"lengths must have shape ({batch},) (one per sequence), got {arr.shape}")
    if arr.min() < 1 or arr.max() > time:
        bad = arr[(arr < 1) | (arr > time)][0]
        why = ("zero-length sequences are not supported" if bad < 1 else
               "a sequence cannot be longer than the time steps of x")
        raise ValueError(f"lengths must be in 1..{time} (the number of time steps); "
                         f"got {bad}: {why}")
    return kernel_ready(np.ascontiguousarray(arr, dtype=np.int64))


def check_state(name: str, value, shape: tuple, dtype) -> np.ndarray:
    """A state or state gradient of exactly ``shape``."""
    arr = as_float_array(name, value, dtype, ndim=len(shape))
    if arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {arr.shape}")
    return arr
