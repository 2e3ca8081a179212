"""A layer's state contract: its configuration and its named parameter arrays.

The configuration is the dict of :meth:`fastgru.GRU.get_config` (the
constructor's arguments that define what the layer computes); the
parameters are arrays with PyTorch's names (``weight_ih_l0``, ...,
suffix ``_reverse``). Everything here is a free function of the two, so that
the layer, :mod:`fastgru.serialization` and :mod:`fastgru.interop` read one
definition of the names, shapes and checks.
"""

from __future__ import annotations

import math

import numpy as np

from ._validation import check_bool, check_dtype, check_int, check_memory, check_real
from ._variants import get_variant

#: The keys of a layer's configuration, in the constructor's order.
CONFIG_KEYS = ("input_size", "hidden_size", "num_layers", "bidirectional", "variant", "bias",
               "dropout", "dtype")

#: The JSON types of each configuration value (``dtype`` by name), as
#: :func:`fastgru.load` checks them before :func:`checked_config`.
CONFIG_TYPES = {"input_size": int, "hidden_size": int, "num_layers": int, "bidirectional": bool,
                "variant": str, "bias": bool, "dropout": (int, float), "dtype": str}

#: Bytes counted per layer and direction besides the weights: the Python
#: objects a layer keeps and a training forward adds (about 10 KiB measured).
LAYER_OVERHEAD = 16 << 10


class ParamDict(dict):
    """A dict of parameter arrays that counts item assignments.

    :meth:`GRU.step` caches its kernel arguments; the counter tells it cheaply
    when an array was replaced (arrays changed in place need no notice).
    """

    version = 0

    def __setitem__(self, key, value):
        self.version += 1
        super().__setitem__(key, value)

    def __delitem__(self, key):
        self.version += 1
        super().__delitem__(key)

    def update(self, *args, **kwargs):
        self.version += 1
        super().update(*args, **kwargs)

    # every other way of replacing an array moves the counter too
    def setdefault(self, key, default=None):
        self.version += 1
        return super().setdefault(key, default)

    def pop(self, *args):
        self.version += 1
        return super().pop(*args)

    def popitem(self):
        self.version += 1
        return super().popitem()

    def clear(self):
        self.version += 1
        super().clear()

    def __ior__(self, other):
        self.update(other)
        return self

    def __reduce__(self):
        return (ParamDict, (dict(self),))


#: The configuration keys that fix the parameters' shapes and the kernels'
#: types (all but ``dropout``).
SHAPE_KEYS = frozenset(k for k in CONFIG_KEYS if k != "dropout")


class FixedConfig:
    """A layer's shape-defining configuration is set when it is built.

    Assigning ``layer.hidden_size`` (or another of :data:`SHAPE_KEYS`) later
    would leave the parameters of the old sizes under a configuration of new
    ones, and a kernel given those sizes would read past the arrays' ends: it
    raises an AttributeError instead. ``dropout`` may change (it is checked).

    Examples
    --------
    >>> import fastgru
    >>> layer = fastgru.GRU(3, 4)
    >>> try:
    ...     layer.hidden_size = 8
    ... except AttributeError as exc:
    ...     print(str(exc).split(" (")[0])
    GRU.hidden_size is fixed when the layer is built
    """

    __slots__ = ()

    def __setattr__(self, name, value):
        if name in SHAPE_KEYS and name in self.__dict__:
            raise AttributeError(
                f"GRU.{name} is fixed when the layer is built (its parameters' shapes follow "
                f"from it): build another layer, e.g. GRU.from_config(dict(layer.get_config(), "
                f"{name}=...))")
        if name == "dropout":
            value = check_real("dropout", value, 0.0, 1.0)
        object.__setattr__(self, name, value)


def suffix(layer: int, direction: int) -> str:
    """The parameter names' suffix of one cell: ``_l{layer}``, ``_reverse``."""
    return f"_l{layer}" + ("_reverse" if direction else "")


def checked_config(input_size, hidden_size, num_layers, bidirectional, variant, bias, dropout,
                   dtype) -> dict:
    """The configuration checked and normalised (``dtype`` a numpy dtype);
    refused when the parameters, their gradients and the per-layer state
    would not fit in memory."""
    config = {
        "input_size": check_int("input_size", input_size),
        "hidden_size": check_int("hidden_size", hidden_size),
        "num_layers": check_int("num_layers", num_layers),
        "bidirectional": check_bool("bidirectional", bidirectional),
        "variant": get_variant(variant).name,
        "bias": check_bool("bias", bias),
        "dropout": check_real("dropout", dropout, 0.0, 1.0),
        "dtype": check_dtype(dtype),
    }
    # each layer and direction also costs Python objects (its arrays, their
    # gradients, views, a training forward's tape): about 10 KiB measured,
    # whatever the sizes, so a deep stack of tiny layers is counted too
    cells = config["num_layers"] * (2 if config["bidirectional"] else 1)
    check_memory(f"GRU({config['input_size']}, {config['hidden_size']}, num_layers="
                 f"{config['num_layers']})'s parameters, gradients and per-layer state "
                 f"({LAYER_OVERHEAD >> 10} KiB per layer and direction)",
                 2 * count_params(config) * config["dtype"].itemsize + cells * LAYER_OVERHEAD)
    return config


def count_params(config: dict) -> int:
    """Scalar parameters, counted without building anything."""
    v = get_variant(config["variant"])
    D, H = (2 if config["bidirectional"] else 1), config["hidden_size"]
    first = sum(math.prod(shape) for shape in
                v.param_shapes(config["input_size"], H, config["bias"]).values())
    other = sum(math.prod(shape) for shape in v.param_shapes(D * H, H, config["bias"]).values())
    return D * (first + (config["num_layers"] - 1) * other)


def param_shapes(config: dict) -> dict:
    """Every parameter's name and shape, layer-major, direction-minor."""
    v = get_variant(config["variant"])
    D, H = (2 if config["bidirectional"] else 1), config["hidden_size"]
    shapes = {}
    for layer in range(config["num_layers"]):
        n_in = config["input_size"] if layer == 0 else H * D
        for d in range(D):
            for base, shape in v.param_shapes(n_in, H, config["bias"]).items():
                shapes[base + suffix(layer, d)] = shape
    return shapes


def check_params(config: dict, params) -> None:
    """Check that ``params`` holds exactly the arrays a layer of ``config``
    computes with.

    Every name of :func:`param_shapes` must map to a NumPy array of that
    shape and of the layer's dtype (a kernel given another would read past
    its end or be compiled for another type); unknown names are refused.
    Raises a ValueError (TypeError for what is not an array of the dtype)
    naming the parameter. The layer runs it whenever the arrays of
    ``params`` were replaced (not on every call: see ``GRU._cells``).
    """
    if not isinstance(params, dict):
        raise TypeError(f"params must be a dict of arrays, got {type(params).__name__}")
    dtype = np.dtype(config["dtype"])
    expected = param_shapes(config)
    for name, shape in expected.items():
        if name not in params:
            raise ValueError(f"params has no {name!r} (expected shape {shape})")
        a = params[name]
        if not isinstance(a, np.ndarray):
            raise TypeError(f"params[{name!r}] must be a numpy array of dtype "
                            f"{dtype.name}, got {type(a).__name__}")
        if a.dtype != dtype:
            raise TypeError(f"params[{name!r}] has dtype {a.dtype}, expected "
                            f"{dtype.name} (the layer's dtype)")
        if a.shape != shape:
            raise ValueError(f"params[{name!r}] has shape {a.shape}, expected {shape}")
    if len(params) != len(expected):
        unknown = sorted(str(k) for k in params if k not in expected)
        raise ValueError(f"params has unknown entries {unknown}")


def cell_views(config: dict, params) -> list:
    """Every cell's parameters keyed by base name (``weight_ih``, ...),
    layer-major, direction-minor, after :func:`check_params`.

    Views, not the arrays themselves: they share the arrays' memory (an edit
    in place is seen) but keep the shape and dtype checked here if one is
    changed in place (``a.shape = ...``), so that no kernel reads past the
    end of a buffer.
    """
    check_params(config, params)
    names = ("weight_ih", "weight_hh") + (
        get_variant(config["variant"]).bias_names if config["bias"] else ())
    D = 2 if config["bidirectional"] else 1
    return [{n: params[n + suffix(layer, d)].view() for n in names}
            for layer in range(config["num_layers"]) for d in range(D)]
