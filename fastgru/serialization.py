"""``fastgru.save`` and ``fastgru.load``: a file format that never runs code.

A saved file is a NumPy ``.npz`` archive: every array is stored on its own and
read back with ``allow_pickle=False``, and one ``__meta__`` entry holds UTF-8
JSON: the format name and version, the fastgru version, the kind of object,
its configuration and its scalar fitted attributes. Loading rebuilds the
object through its normal constructor and checks (names, shapes, dtypes,
NaN/inf), so a corrupt, truncated, tampered or future-version file raises a
``ValueError`` that names the file and the problem.

What is saved: a :class:`fastgru.GRU`, or a fitted ``GRURegressor``,
``GRUClassifier``, ``GRUForecaster`` or ``SequenceScaler``. The optimiser's
state is not saved: ``partial_fit`` after ``load`` starts a fresh optimiser.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile

import numpy as np

FORMAT = "fastgru"
FORMAT_VERSION = 1

__all__ = ["save", "load", "FORMAT_VERSION"]

# Scalar (JSON) and array fitted attributes of each estimator kind; optional
# ones may be absent or None.
_JSON_ATTRS = {
    "GRURegressor": ["n_features_in_", "n_iter_", "loss_curve_", "best_loss_",
                     "validation_scores_", "best_validation_score_", "_input_form",
                     "n_outputs_", "_y_ndim"],
    "GRUClassifier": ["n_features_in_", "n_iter_", "loss_curve_", "best_loss_",
                      "validation_scores_", "best_validation_score_", "_input_form"],
    "SequenceScaler": ["n_features_in_", "n_samples_seen_", "_step_features"],
    "GRUForecaster": ["n_iter_", "loss_curve_", "best_loss_", "n_series_", "n_exog_",
                      "_output_kind", "_series_names", "_index_info"],
}
_ARRAY_ATTRS = {
    "GRURegressor": ["y_mean_", "y_scale_"],
    "GRUClassifier": ["classes_"],
    "SequenceScaler": ["mean_", "scale_"],
    "GRUForecaster": ["series_mean_", "series_scale_", "exog_mean_", "exog_scale_",
                      "history_", "exog_history_"],
}
_OPTIONAL = {"validation_scores_", "best_validation_score_", "exog_mean_", "exog_scale_",
             "exog_history_", "_index_info", "_series_names"}
_LAYER_KEYS = ("input_size", "hidden_size", "num_layers", "bidirectional", "variant", "bias",
               "dropout", "dtype")


def _estimator_classes() -> dict:
    from .estimators import GRUClassifier, GRURegressor
    from .forecasting import GRUForecaster
    from .preprocessing import SequenceScaler

    classes = (GRURegressor, GRUClassifier, SequenceScaler, GRUForecaster)
    return {c.__name__: c for c in classes}


# ------------------------------------------------------------------- saving
def _layer_config(layer) -> dict:
    return {k: (layer.dtype.name if k == "dtype" else getattr(layer, k)) for k in _LAYER_KEYS}


def _json_safe_params(params: dict) -> dict:
    out = {}
    for k, v in params.items():
        if isinstance(v, (np.integer, np.floating, np.bool_)):
            v = v.item()
        if v is None or isinstance(v, (bool, int, float, str)):
            out[k] = v
        else:  # e.g. a RandomState instance: not reproducible from a file
            out[k] = None
    return out


def _array_for_file(name: str, value) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype == object:  # labels or feature names given as Python strings
        if not all(isinstance(v, str) for v in arr.ravel()):
            raise TypeError(f"cannot save {name}: it holds Python objects other than str")
        arr = arr.astype(str)
    if arr.dtype.kind not in "biufU":
        raise TypeError(f"cannot save {name} of dtype {arr.dtype}")
    return arr


def save(obj, path) -> None:
    """Save a GRU layer or a fitted fastgru estimator to ``path`` (a ``.npz`` file).

    The file holds JSON metadata and plain arrays, never pickled objects (see
    :mod:`fastgru.serialization`). It is written to a temporary file first and
    then renamed, so an interrupted save never leaves a half-written file.

    Examples
    --------
    >>> import numpy as np, fastgru, os, tempfile
    >>> layer = fastgru.GRU(3, 8, random_state=0)
    >>> path = os.path.join(tempfile.mkdtemp(), "layer.npz")
    >>> fastgru.save(layer, path)
    >>> again = fastgru.load(path)
    >>> x = np.ones((1, 4, 3))
    >>> np.array_equal(again.forward(x)[0], layer.forward(x)[0])
    True
    """
    from . import __version__
    from .layer import GRU

    kind = type(obj).__name__
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "fastgru_version": __version__,
            "kind": kind}
    arrays = {}
    if isinstance(obj, GRU):
        meta["layer"] = _layer_config(obj)
        arrays.update({"gru/" + k: v for k, v in obj.params.items()})
    elif kind in _JSON_ATTRS and isinstance(obj, _estimator_classes()[kind]):
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(obj)
        meta["params"] = _json_safe_params(obj.get_params(deep=False))
        meta["attributes"] = {a: getattr(obj, a, None) for a in _JSON_ATTRS[kind]}
        for a in _ARRAY_ATTRS[kind]:
            if getattr(obj, a, None) is not None:
                arrays["attr/" + a] = _array_for_file(a, getattr(obj, a))
        if hasattr(obj, "feature_names_in_"):
            arrays["attr/feature_names_in_"] = _array_for_file("feature_names_in_",
                                                               obj.feature_names_in_)
        if hasattr(obj, "gru_"):
            meta["layer"] = _layer_config(obj.gru_)
            arrays.update({"gru/" + k: v for k, v in obj.gru_.params.items()})
            arrays.update({"head/" + k: v for k, v in obj.head_.items()})
    else:
        raise TypeError(f"fastgru.save takes a fastgru.GRU or a fitted fastgru estimator, "
                        f"got {kind}")
    encoded = json.dumps(meta, allow_nan=True).encode("utf-8")
    directory = os.path.dirname(os.path.abspath(os.fspath(path)))
    fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, __meta__=np.frombuffer(encoded, dtype=np.uint8), **arrays)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


# ------------------------------------------------------------------ loading
class _Invalid(ValueError):
    pass


def _read(path):
    """``(meta, arrays)`` from ``path``; every failure becomes ``_Invalid``."""
    try:
        with np.load(path, allow_pickle=False) as data:
            if not hasattr(data, "files"):
                raise _Invalid("not an .npz archive")
            if "__meta__" not in data.files:
                raise _Invalid("no __meta__ entry: not a fastgru file")
            raw = data["__meta__"]
            arrays = {k: data[k] for k in data.files if k != "__meta__"}
    except _Invalid:
        raise
    except FileNotFoundError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError, RuntimeError,
            MemoryError, NotImplementedError) as exc:
        raise _Invalid(f"cannot be read ({type(exc).__name__}: {exc})") from None
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise _Invalid("__meta__ is not a byte string")
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise _Invalid(f"its metadata is not valid JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise _Invalid("its metadata does not name the fastgru format")
    version = meta.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise _Invalid(f"bad format_version {version!r}")
    if version > FORMAT_VERSION:
        raise _Invalid(
            f"it was written in format version {version} by fastgru "
            f"{meta.get('fastgru_version')!r}; this fastgru reads up to version "
            f"{FORMAT_VERSION}: upgrade fastgru to load it"
        )
    for name, arr in arrays.items():
        if arr.dtype.kind not in "biufU":
            raise _Invalid(f"array {name!r} has unsupported dtype {arr.dtype}")
    return meta, arrays


def _dict(meta, key) -> dict:
    value = meta.get(key)
    if not isinstance(value, dict):
        raise _Invalid(f"metadata entry {key!r} is missing or not an object")
    return value


def _build_layer(meta, arrays, prefix="gru/"):
    from .layer import GRU

    config = _dict(meta, "layer")
    if set(config) != set(_LAYER_KEYS):
        raise _Invalid(f"layer configuration has keys {sorted(config)}")
    try:
        layer = GRU(config["input_size"], config["hidden_size"], config["num_layers"],
                    bidirectional=config["bidirectional"], variant=config["variant"],
                    bias=config["bias"], dropout=config["dropout"], dtype=config["dtype"])
        state = {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
        layer.load_state_dict(state)
    except (TypeError, ValueError) as exc:
        raise _Invalid(f"its layer does not load: {exc}") from None
    return layer


def _build_head(arrays, layer, n_outputs=None):
    from ._validation import as_float_array

    try:
        weight = as_float_array("head/weight", arrays["head/weight"], layer.dtype, ndim=2)
        bias = as_float_array("head/bias", arrays["head/bias"], layer.dtype, ndim=1)
    except KeyError as exc:
        raise _Invalid(f"missing array {exc}") from None
    except (TypeError, ValueError) as exc:
        raise _Invalid(str(exc)) from None
    width = layer.hidden_size * layer.num_directions
    if weight.shape[1] != width or bias.shape != (weight.shape[0],):
        raise _Invalid(f"head shapes {weight.shape}, {bias.shape} do not fit the layer "
                       f"(width {width})")
    if n_outputs is not None and weight.shape[0] != n_outputs:
        raise _Invalid(f"head has {weight.shape[0]} outputs, expected {n_outputs}")
    return {"weight": weight.copy(), "bias": bias.copy()}


def _build_estimator(meta, arrays):
    kind = meta["kind"]
    cls = _estimator_classes()[kind]
    params = _dict(meta, "params")
    try:
        est = cls(**params)
        est._validate_params()
    except (TypeError, ValueError) as exc:
        raise _Invalid(f"its parameters are invalid: {exc}") from None
    attributes = _dict(meta, "attributes")
    for a in _JSON_ATTRS[kind]:
        if a not in attributes:
            raise _Invalid(f"attribute {a!r} is missing")
        value = attributes[a]
        if value is None and a not in _OPTIONAL:
            raise _Invalid(f"attribute {a!r} is null")
        setattr(est, a, value)
    for a in _ARRAY_ATTRS[kind]:
        key = "attr/" + a
        if key not in arrays:
            if a in _OPTIONAL:
                setattr(est, a, None)
                continue
            raise _Invalid(f"array {key!r} is missing")
        arr = arrays[key]
        if arr.dtype.kind in "fc" and not np.isfinite(arr).all():
            raise _Invalid(f"array {key!r} contains NaN or inf")
        setattr(est, a, arr)
    if "attr/feature_names_in_" in arrays:
        est.feature_names_in_ = arrays["attr/feature_names_in_"].astype(object)
    if "layer" in meta:
        est.gru_ = _build_layer(meta, arrays)
        n_out = None
        if kind == "GRUClassifier":
            n_out = len(est.classes_)
        elif kind == "GRURegressor":
            n_out = est.n_outputs_
        est.head_ = _build_head(arrays, est.gru_, n_out)
    try:
        est._check_restored()
    except (TypeError, ValueError, AttributeError, IndexError) as exc:
        raise _Invalid(f"its fitted state is inconsistent: {exc}") from None
    return est


def load(path):
    """Load what :func:`save` wrote: a GRU layer or a fitted estimator.

    Never unpickles or runs code from the file. Raises ``ValueError`` naming
    the file when it is corrupt, truncated, tampered with (wrong shapes,
    NaN/inf weights, unknown names) or written by a newer fastgru.
    """
    try:
        meta, arrays = _read(path)
        kind = meta.get("kind")
        if kind == "GRU":
            return _build_layer(meta, arrays)
        if kind in _JSON_ATTRS:
            return _build_estimator(meta, arrays)
        raise _Invalid(f"unknown kind {kind!r}")
    except _Invalid as exc:
        raise ValueError(f"{os.fspath(path)!r} is not a valid fastgru file: {exc}") from None
