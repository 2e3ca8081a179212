"""``fastgru.save`` and ``fastgru.load``: a file format that never runs code.

A saved file is a NumPy ``.npz`` archive: every array is stored on its own and
read back with ``allow_pickle=False``, and one ``__meta__`` entry holds UTF-8
JSON: the format name and version, the fastgru version, the kind of object,
its configuration and its scalar fitted attributes. Loading checks the zip
directory, the JSON and every array header against each other before it
inflates or allocates anything, then builds the object from the stored
arrays (never a randomly initialised model on the way) and checks them
(names, shapes, dtypes, NaN/inf), so a corrupt, truncated, tampered, hostile
or future-version file raises a ``ValueError`` that names the file and the
problem.

Every check that stands between an
untrusted file and an allocation is here, in the order loading meets them,
so that a reader can audit the whole path from bytes to object in one file.

What is saved: a :class:`fastgru.GRU` (its configuration and parameters,
:mod:`fastgru._params`), or a fitted ``GRURegressor``, ``GRUClassifier``,
``GRUForecaster`` or ``SequenceScaler``: the fitted state each declares in
its ``_saved_state`` (:mod:`fastgru._state`), next to the ``_check_restored``
that checks it after loading. The optimiser's state is not saved:
``partial_fit`` after ``load`` starts a fresh optimiser.
"""

from __future__ import annotations

import json
import math
import os
import stat
import warnings
import zipfile

import numpy as np

from . import _params
from ._atomic_write import write_atomically
from ._columns import plain

FORMAT = "fastgru"
FORMAT_VERSION = 2

__all__ = ["save", "load", "FORMAT_VERSION"]

_LAYER_KEYS = _params.CONFIG_KEYS


def _persisted_classes() -> dict:
    """The classes besides ``GRU`` that files hold, by the kind they declare."""
    from .estimators import GRUClassifier, GRURegressor
    from .forecasting import GRUForecaster
    from .preprocessing import SequenceScaler

    classes = (GRURegressor, GRUClassifier, SequenceScaler, GRUForecaster)
    return {c._saved_state.kind: c for c in classes}


# ------------------------------------------------------------------- saving
def _json_safe_params(params: dict) -> dict:
    out = {}
    for k, v in params.items():
        if isinstance(v, (np.integer, np.floating, np.bool_)):
            v = v.item()
        if v is None or isinstance(v, (bool, int, float, str)):
            out[k] = v
        else:  # column names (GRUForecaster's hist_exog), or None: e.g. a
            # RandomState instance, not reproducible from a file
            out[k] = _names(v)
            if out[k] is None:
                warnings.warn(f"fastgru.save writes {k}=None for the {type(v).__name__} "
                              "it was given (a file holds numbers and text; an integer is "
                              f"kept): set {k} again after load where a refit needs it",
                              UserWarning, stacklevel=3)
    return out


def _names(value):
    """``value`` as a list of column names (str or int), when it is a list,
    tuple, or 1-D array or pandas Index of them; else None."""
    if getattr(value, "ndim", None) == 1 and hasattr(value, "tolist"):
        value = value.tolist()  # an array's or Index's items as Python values
    if not isinstance(value, (list, tuple)):
        return None
    names = [plain(e) for e in value]
    ok = all(isinstance(e, str) or (isinstance(e, int) and not isinstance(e, bool))
             for e in names)
    return names if ok else None


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
    :mod:`fastgru.serialization`). It is written to a temporary file in the
    same directory (``.<name>.fastgru-tmp-<pid>-<random>``) and then renamed
    over ``path`` atomically, so an interrupted save never leaves a
    half-written file; a temporary left by a process killed during a save
    is removed by the next save to the same path. A new file gets the mode
    ``open()`` gives (0o666 less the umask), an existing one keeps its mode,
    and a symlink at ``path`` is written through to its target.

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

    spec = getattr(type(obj), "_saved_state", None)
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "fastgru_version": __version__,
            "kind": "GRU" if isinstance(obj, GRU) else getattr(spec, "kind", None)}
    arrays = {}
    if isinstance(obj, GRU):
        _layer_to_file(obj, meta, arrays)
    elif spec is not None and _persisted_classes().get(spec.kind) is type(obj):
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(obj)
        # the parameters the model was fitted with (a forecaster's horizon):
        # load reads them from the file
        getattr(obj, "_check_before_save", lambda: None)()
        # what load requires, present: a fit that failed leaves no half state,
        # and save does not write one that load would refuse
        required = [f.attr for f in spec.fields if not f.optional]
        if spec.network:
            required += ["gru_", "head_"]
        missing = [a for a in required if getattr(obj, a, None) is None]
        if missing:
            raise ValueError(f"cannot save this {spec.kind}: its fitted state is incomplete "
                             f"(no {', '.join(missing)}); fit it again")
        meta["params"] = _json_safe_params(obj.get_params(deep=False))
        meta["attributes"] = {f.name: getattr(obj, f.attr, None) for f in spec.scalars}
        for f in spec.arrays:
            if getattr(obj, f.attr, None) is not None:
                arrays["attr/" + f.name] = _array_for_file(f.name, getattr(obj, f.attr))
        if hasattr(obj, "feature_names_in_"):
            arrays["attr/feature_names_in_"] = _array_for_file("feature_names_in_",
                                                               obj.feature_names_in_)
        if spec.network:
            _layer_to_file(obj.gru_, meta, arrays)
            arrays.update({"head/" + k: v for k, v in obj.head_.items()})
        if spec.members and obj.members_:  # the other models of an ensemble
            meta["members"] = []
            for j, (layer, head) in enumerate(obj.members_):
                entry = {}
                _layer_to_file(layer, entry, arrays, f"member{j}/gru/")
                meta["members"].append(entry["layer"])
                arrays.update({f"member{j}/head/{k}": v for k, v in head.items()})
    else:
        raise TypeError(f"fastgru.save takes a fastgru.GRU or a fitted fastgru estimator, "
                        f"got {type(obj).__name__}")
    encoded = json.dumps(meta, allow_nan=True).encode("utf-8")
    if len(encoded) > _MAX_META_BYTES:  # load would refuse the file
        raise ValueError(f"cannot save this {type(obj).__name__}: its metadata takes "
                         f"{len(encoded):,} bytes, more than the {_MAX_META_BYTES:,} a file may "
                         "hold (it keeps the parameters and the covariates' names: give fewer "
                         "or shorter covariate names)")
    write_atomically(path, {"__meta__": np.frombuffer(encoded, dtype=np.uint8), **arrays})


def _layer_to_file(layer, meta: dict, arrays: dict, prefix: str = "gru/") -> None:
    """A layer's state contract: its configuration in the metadata, its
    parameters (checked) as ``<prefix><name>`` arrays."""
    config = layer.get_config()
    _params.check_params(config, layer.params)
    meta["layer"] = config
    arrays.update({prefix + k: v for k, v in layer.params.items()})


# ------------------------------------------------------------------ loading
class _Invalid(ValueError):
    pass


#: Limits of what :func:`load` reads: the metadata's bytes and nesting, the
#: members of the archive, and the bytes it inflates and allocates, which
#: must also stay within _MAX_INFLATION times the archive's own size (a
#: float array compresses little; fastgru writes its files uncompressed).
_MAX_META_BYTES = 1 << 20
_MAX_JSON_DEPTH = 16
_MAX_MEMBERS = 4096
_MAX_MODELS = 16  # the models of an ensemble (GRUForecaster's n_models)
_MAX_INFLATION = 16
_MIN_ALLOWANCE = 16 << 20
_ARRAY_KINDS = "biufU"


def _describe(path) -> str:
    try:
        return repr(os.fspath(path))
    except TypeError:
        return f"<{type(path).__name__}>"


def _json_depth_ok(value) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > _MAX_JSON_DEPTH:
            return False
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return True


class _Archive:
    """The members of a fastgru file, checked from the zip directory and
    each ``.npy`` header before anything is inflated or allocated."""

    def __init__(self, zf: zipfile.ZipFile, archive_bytes: int):
        self.zf = zf
        infos = zf.infolist()
        if len(infos) > _MAX_MEMBERS:
            raise _Invalid(f"it has {len(infos)} members (at most {_MAX_MEMBERS})")
        self.allowance = max(_MIN_ALLOWANCE, _MAX_INFLATION * archive_bytes)
        self.members = {}
        total = 0
        for info in infos:
            name = info.filename
            if not name.endswith(".npy"):
                raise _Invalid(f"member {name!r} is not a .npy array")
            key = name[:-4]
            if key in self.members:
                raise _Invalid(f"member {name!r} appears twice")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise _Invalid(f"member {name!r} uses an unsupported compression")
            if info.flag_bits & 0x1:
                raise _Invalid(f"member {name!r} is encrypted")
            total += info.file_size
            if info.file_size > self.allowance or total > self.allowance:
                raise _Invalid(f"member {name!r} inflates to {info.file_size} bytes, more "
                               f"than the file's size allows ({self.allowance} in all)")
            self.members[key] = info

    def keys(self):
        return self.members.keys()

    def header(self, key):
        """``(shape, fortran_order, dtype, header_bytes)`` of a member."""
        info = self.members[key]
        with self.zf.open(info) as f:
            try:
                version = np.lib.format.read_magic(f)
                if version == (1, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
                elif version in ((2, 0), (3, 0)):
                    shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
                else:
                    raise ValueError(f"unsupported .npy version {version}")
            except (ValueError, SyntaxError, TypeError, EOFError, OverflowError) as exc:
                raise _Invalid(f"member {key!r} has no valid .npy header ({exc})") from None
            offset = f.tell()
        if dtype.kind not in _ARRAY_KINDS or dtype.hasobject or dtype.fields is not None:
            raise _Invalid(f"array {key!r} has unsupported dtype {dtype}")
        if dtype.itemsize == 0:  # no bytes would bound its shape (NumPy makes U0 U1)
            raise _Invalid(f"array {key!r} has dtype {dtype} of no bytes")
        n_bytes = math.prod(shape) * dtype.itemsize
        if offset + n_bytes != info.file_size:
            raise _Invalid(f"array {key!r} says shape {shape} ({n_bytes} bytes) but holds "
                           f"{info.file_size - offset}")
        return shape, fortran, dtype, offset

    def read(self, key, expect_shape=None, expect_kind=None) -> np.ndarray:
        """A member's array, its header checked against ``expect_shape`` and
        ``expect_kind`` (dtype kinds) before its data are read."""
        shape, fortran, dtype, offset = self.header(key)
        if expect_shape is not None and shape != tuple(expect_shape):
            raise _Invalid(f"array {key!r} has shape {shape}, expected {tuple(expect_shape)}")
        if expect_kind is not None and dtype.kind not in expect_kind:
            raise _Invalid(f"array {key!r} has dtype {dtype}")
        arr = np.empty(shape[::-1] if fortran else shape, dtype=dtype.newbyteorder("="))
        raw = np.empty(arr.nbytes, dtype=np.uint8)
        with self.zf.open(self.members[key]) as f:
            f.seek(offset) if f.seekable() else f.read(offset)
            if f.readinto(memoryview(raw)) != raw.nbytes:
                raise _Invalid(f"array {key!r} is truncated")
        arr[...] = raw.view(dtype).reshape(arr.shape)  # to native byte order
        return arr.T if fortran else arr


def _read_meta(archive: _Archive) -> dict:
    if "__meta__" not in archive.keys():
        raise _Invalid("no __meta__ entry: not a fastgru file")
    shape, _, dtype, _ = archive.header("__meta__")
    if dtype != np.uint8 or len(shape) != 1:
        raise _Invalid("__meta__ is not a byte string")
    if shape[0] > _MAX_META_BYTES:
        raise _Invalid(f"its metadata has {shape[0]} bytes (at most {_MAX_META_BYTES})")
    raw = archive.read("__meta__")
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"))
    except RecursionError:
        raise _Invalid("its metadata is nested too deeply") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise _Invalid(f"its metadata is not valid JSON ({exc})") from None
    if not _json_depth_ok(meta):
        raise _Invalid(f"its metadata is nested more than {_MAX_JSON_DEPTH} levels deep")
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
    kind = meta.get("kind")
    if not isinstance(kind, str) or not (kind == "GRU" or kind in _persisted_classes()):
        raise _Invalid(f"unknown kind {kind!r}")
    return meta


def _dict(meta, key) -> dict:
    value = meta.get(key)
    if not isinstance(value, dict):
        raise _Invalid(f"metadata entry {key!r} is missing or not an object")
    return value


def _build_layer(meta, archive, prefix="gru/"):
    from ._variants import get_variant
    from .layer import GRU

    config = _dict(meta, "layer")
    if set(config) != set(_LAYER_KEYS):
        raise _Invalid(f"layer configuration has keys {sorted(config)}")
    for key, types in _params.CONFIG_TYPES.items():
        value = config[key]
        if not isinstance(value, types) or (types is int and isinstance(value, bool)):
            raise _Invalid(f"layer configuration {key!r} is {value!r}")
    if config["dtype"] not in ("float32", "float64"):
        raise _Invalid(f"layer dtype {config['dtype']!r}")
    try:
        variant = get_variant(config["variant"])
    except (TypeError, ValueError) as exc:
        raise _Invalid(str(exc)) from None
    names = sorted(k[len(prefix):] for k in archive.keys() if k.startswith(prefix))
    D = 2 if config["bidirectional"] else 1
    per_cell = len(variant.param_shapes(1, 1, config["bias"]))
    # a configuration implying more arrays than a file may hold is refused
    # before any name is built, so that a huge num_layers costs nothing
    if config["num_layers"] < 1 or config["num_layers"] * D * per_cell > _MAX_MEMBERS:
        raise _Invalid(f"it holds {len(names)} layer arrays; its configuration "
                       f"(num_layers={config['num_layers']!r}, bidirectional="
                       f"{config['bidirectional']}) implies more than {_MAX_MEMBERS}")
    try:
        checked = _params.checked_config(*(config[k] for k in _LAYER_KEYS))
    except (TypeError, ValueError) as exc:
        raise _Invalid(f"its layer configuration is invalid: {exc}") from None
    shapes = _params.param_shapes(checked)
    if sorted(shapes) != names:
        unknown = sorted(set(names) - set(shapes))
        missing = sorted(set(shapes) - set(names))
        raise _Invalid(f"its layer arrays do not match its configuration: missing {missing}, "
                       f"unexpected {unknown}")
    # checked_config has already refused weights and gradients beyond the machine's memory
    need = _params.count_params(checked) * checked["dtype"].itemsize
    if need > archive.allowance:
        raise _Invalid(f"its configuration implies {need} bytes of weights, more than the "
                       f"file holds")
    params = {name: archive.read(prefix + name, shape, "f") for name, shape in shapes.items()}
    try:
        return GRU.from_config({k: config[k] for k in _LAYER_KEYS},
                               {k: v.astype(config["dtype"], copy=False)
                                for k, v in params.items()})
    except (TypeError, ValueError) as exc:
        raise _Invalid(f"its layer does not load: {exc}") from None


def _build_head(archive, layer, n_outputs=None, prefix="head/"):
    width = layer.hidden_size * layer.num_directions
    for key in (prefix + "weight", prefix + "bias"):
        if key not in archive.keys():
            raise _Invalid(f"array {key!r} is missing")
    shape = archive.header(prefix + "weight")[0]
    if len(shape) != 2 or shape[1] != width or shape[0] < 1:
        raise _Invalid(f"array '{prefix}weight' has shape {shape}, expected (n_outputs, "
                       f"{width})")
    if n_outputs is not None and shape[0] != n_outputs:
        raise _Invalid(f"head has {shape[0]} outputs, expected {n_outputs}")
    head = {"weight": archive.read(prefix + "weight", shape, "f"),
            "bias": archive.read(prefix + "bias", (shape[0],), "f")}
    for name, arr in head.items():
        if not np.isfinite(arr).all():
            raise _Invalid(f"array '{prefix}{name}' contains NaN or inf")
        head[name] = np.ascontiguousarray(arr, dtype=layer.dtype)
    return head


_SCALARS = (type(None), bool, int, float, str)


def _check_attribute(field, value):
    if value is None:
        return
    name = field.name
    is_int = isinstance(value, int) and not isinstance(value, bool)
    is_number = is_int or isinstance(value, float)
    if field.kind == "int" and not is_int:
        raise _Invalid(f"attribute {name!r} must be an integer, got {value!r:.80}")
    if field.kind == "number" and not (is_number and _real(value)):
        raise _Invalid(f"attribute {name!r} must be a number, got {value!r:.80}")
    if field.kind == "numbers" and not (
            isinstance(value, list) and all(isinstance(v, (int, float))
                                            and not isinstance(v, bool) and _real(v, nan=True)
                                            for v in value)):
        raise _Invalid(f"attribute {name!r} must be a list of numbers")


def _real(value, nan=False) -> bool:
    """Within float64's range, and not NaN unless ``nan``: no fit records a
    NaN best loss or score (one would keep every later epoch from counting
    as better), though an epoch's validation score may be NaN."""
    try:
        number = float(value)
    except OverflowError:
        return False
    return nan or not math.isnan(number)


def _build_estimator(meta, archive):
    cls = _persisted_classes()[meta["kind"]]
    spec = cls._saved_state
    members = meta.get("members", [])
    if not (isinstance(members, list) and len(members) < _MAX_MODELS and all(
            isinstance(m, dict) for m in members)) or (members and not spec.members):
        raise _Invalid("metadata entry 'members' must be absent" if not spec.members else
                       f"metadata entry 'members' must list the layers of at most "
                       f"{_MAX_MODELS - 1} more models")
    layers = ("gru/", *(f"member{j}/gru/" for j in range(len(members))))
    allowed = {"__meta__", "attr/feature_names_in_", "head/weight", "head/bias",
               *("attr/" + f.name for f in spec.arrays),
               *(f"member{j}/head/{k}" for j in range(len(members)) for k in ("weight", "bias"))}
    unknown = sorted(k for k in archive.keys()
                     if k not in allowed and not k.startswith(layers))
    if unknown:
        raise _Invalid(f"unknown members {unknown}")
    params = _dict(meta, "params")
    known = set(cls().get_params(deep=False))
    bad = sorted(str(k) for k, v in params.items()
                 if k not in known or not (isinstance(v, _SCALARS) or _names(v) == v))
    if bad:
        raise _Invalid(f"its parameters {bad} are unknown or not scalars")
    try:
        est = cls(**params)
        est._validate_params()
    except (TypeError, ValueError) as exc:
        raise _Invalid(f"its parameters are invalid: {exc}") from None
    attributes = _dict(meta, "attributes")
    names = {f.name for f in spec.scalars}
    extra = sorted(str(a) for a in attributes if a not in names)
    if extra:
        raise _Invalid(f"unknown attributes {extra}")
    for f in spec.scalars:
        if f.name not in attributes and f.optional:  # a file from before the field
            setattr(est, f.attr, None)
            continue
        if f.name not in attributes:
            raise _Invalid(f"attribute {f.name!r} is missing")
        value = attributes[f.name]
        if value is None and not f.optional:
            raise _Invalid(f"attribute {f.name!r} is null")
        _check_attribute(f, value)
        setattr(est, f.attr, value)
    for f in spec.arrays:
        key = "attr/" + f.name
        if key not in archive.keys():
            if f.optional:
                setattr(est, f.attr, None)
                continue
            raise _Invalid(f"array {key!r} is missing")
        arr = archive.read(key)
        if arr.dtype.kind in "fc" and not np.isfinite(arr).all():
            raise _Invalid(f"array {key!r} contains NaN or inf")
        setattr(est, f.attr, arr)
    if "attr/feature_names_in_" in archive.keys():
        est.feature_names_in_ = archive.read("attr/feature_names_in_", None, "U").astype(object)
    has_layer = any(k.startswith("gru/") for k in archive.keys())
    if ("layer" in meta) != has_layer:
        raise _Invalid("its layer configuration and its layer arrays do not go together")
    if has_layer != spec.network:
        raise _Invalid(f"a {spec.kind} {'holds a layer' if spec.network else 'holds no layer'}"
                       f", this file {'has none' if spec.network else 'has one'}")
    if "layer" in meta:
        est.gru_ = _build_layer(meta, archive)
        n_out = None
        if spec.head_outputs:
            n_out = getattr(est, spec.head_outputs)
            n_out = n_out if isinstance(n_out, int) else len(n_out)
        est.head_ = _build_head(archive, est.gru_, n_out)
        if spec.members:
            est.members_ = []
            for j, config in enumerate(members):
                layer = _build_layer({"layer": config}, archive, f"member{j}/gru/")
                est.members_.append((layer, _build_head(archive, layer, n_out,
                                                        f"member{j}/head/")))
    elif "head/weight" in archive.keys() or "head/bias" in archive.keys():
        raise _Invalid("it has a head without a layer")
    try:
        est._check_restored()
    except (TypeError, ValueError, AttributeError, IndexError, KeyError) as exc:
        raise _Invalid(f"its fitted state is inconsistent: {exc}") from None
    return est


def load(path):
    """Load what :func:`save` wrote: a GRU layer or a fitted estimator.

    Never unpickles or runs code from the file, and never allocates more
    than the file's contents justify: the zip directory and each array's
    ``.npy`` header are checked against the metadata before anything is
    inflated, and the layer is built from the stored arrays (no random
    initialisation on the way). Raises ``ValueError`` naming the file and the
    problem when it is corrupt, truncated, tampered with (wrong shapes or
    dtypes, NaN/inf weights, unknown or duplicate members) or written by a
    newer fastgru; a missing file raises ``FileNotFoundError``.

    Examples
    --------
    >>> import io, fastgru
    >>> try:
    ...     fastgru.load(io.BytesIO(b"not a model"))
    ... except ValueError as exc:
    ...     print(exc)
    <BytesIO> is not a valid fastgru file: it is not a zip archive
    """
    # Every exception of the parsing below means a file that is not what save
    # writes: zipfile, zlib and numpy raise many types for damaged bytes
    # (BadZipFile, NotImplementedError for a "version needed" field,
    # zlib.error, EOFError, struct.error, UnicodeDecodeError, ...), so the
    # class is closed here, at the one place the bytes enter, rather than by
    # listing types. A missing file stays a FileNotFoundError, and a
    # MemoryError (the machine, not the file: loading allocates within the
    # file's size) is not disguised.
    try:
        if hasattr(path, "read"):
            position = path.tell()
            archive_bytes = path.seek(0, os.SEEK_END) - position
            path.seek(position)
        else:
            status = os.stat(path)
            if not stat.S_ISREG(status.st_mode):  # a device's size (/dev/zero's 0) bounds nothing
                raise _Invalid("it is not a regular file")
            archive_bytes = status.st_size
        try:
            zf = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, EOFError) as exc:
            raise _Invalid("it is not a zip archive") from exc
        with zf:
            archive = _Archive(zf, archive_bytes)
            meta = _read_meta(archive)
            if meta["kind"] == "GRU":
                unknown = sorted(k for k in archive.keys()
                                 if k != "__meta__" and not k.startswith("gru/"))
                if unknown:
                    raise _Invalid(f"unknown members {unknown}")
                return _build_layer(meta, archive)
            return _build_estimator(meta, archive)
    except (FileNotFoundError, MemoryError):
        raise
    except _Invalid as exc:
        raise ValueError(f"{_describe(path)} is not a valid fastgru file: {exc}") from None
    except Exception as exc:
        raise ValueError(f"{_describe(path)} is not a valid fastgru file: cannot be read "
                         f"({type(exc).__name__}: {exc})") from exc
