"""Keras ``GRU`` layers to and from fastgru layers (exact mappings only).

Keras keeps ``kernel`` (I, 3H) and ``recurrent_kernel`` (H, 3H) with column
blocks z, r, h; fastgru (like PyTorch) keeps row blocks r, z, n. With
``reset_after=True`` the ``bias`` is (2, 3H): input bias, then recurrent bias,
and the cell is fastgru's "torch" variant; with ``reset_after=False`` the bias
is (3H,) on the input side and the cell is "cho". Both use the update
``h' = z * h + (1 - z) * n``, as fastgru does.

A stack or a bidirectional layer is a ``keras.Sequential`` of ``GRU`` and
``Bidirectional(GRU, merge_mode="concat")`` layers, both ways.
"""

from __future__ import annotations

import numpy as np

from .._params import check_params, suffix
from .._validation import check_bool


def _rzn_rows(columns_zrh: np.ndarray, H: int) -> np.ndarray:
    """Keras column blocks z, r, h -> fastgru row blocks r, z, n."""
    z, r, h = (columns_zrh[..., k * H : (k + 1) * H] for k in range(3))
    return np.concatenate([r, z, h], axis=-1).T if columns_zrh.ndim == 2 else \
        np.concatenate([r, z, h])


def _name(fn) -> str:
    return getattr(fn, "__name__", str(fn))


def keras_weights(layer_or_weights, reset_after):
    """``(weights list, reset_after)`` from a Keras GRU layer (checked) or a list."""
    if hasattr(layer_or_weights, "get_weights"):
        layer = layer_or_weights
        if type(layer).__name__ != "GRU":
            raise ValueError(f"from_keras expects a keras.layers.GRU, got {type(layer).__name__}")
        _check_gru(layer)
        weights = layer.get_weights()
        if not weights:
            raise ValueError("the Keras layer has no weights yet: build it (call it once) first")
        return weights, bool(layer.reset_after)
    if isinstance(layer_or_weights, (list, tuple)) and len(layer_or_weights) in (2, 3):
        reset_after = check_bool("reset_after", reset_after)  # "False" would read as True
        return [np.asarray(w) for w in layer_or_weights], reset_after
    raise TypeError("from_keras expects a keras.layers.GRU or its get_weights() list "
                    "[kernel, recurrent_kernel(, bias)]")


def keras_to_state_dict(weights, reset_after: bool):
    """``(state_dict, input_size, hidden_size, variant, bias)`` in fastgru's layout."""
    kernel, recurrent = np.asarray(weights[0]), np.asarray(weights[1])
    if kernel.ndim != 2 or recurrent.ndim != 2 or kernel.shape[1] % 3 or \
            recurrent.shape != (kernel.shape[1] // 3, kernel.shape[1]):
        raise ValueError(f"kernel {kernel.shape} and recurrent_kernel {recurrent.shape} are not "
                         "a Keras GRU's (I, 3H) and (H, 3H)")
    H = kernel.shape[1] // 3
    state = {"weight_ih_l0": _rzn_rows(kernel, H), "weight_hh_l0": _rzn_rows(recurrent, H)}
    has_bias = len(weights) == 3
    if has_bias:
        bias = np.asarray(weights[2])
        if reset_after:
            if bias.shape != (2, 3 * H):
                raise ValueError(f"with reset_after=True the Keras bias is (2, {3 * H}), "
                                 f"got {bias.shape}")
            state["bias_ih_l0"] = _rzn_rows(bias[0], H)
            state["bias_hh_l0"] = _rzn_rows(bias[1], H)
        else:
            if bias.shape != (3 * H,):
                raise ValueError(f"with reset_after=False the Keras bias is ({3 * H},), "
                                 f"got {bias.shape}")
            state["bias_ih_l0"] = _rzn_rows(bias, H)
            state["bias_hh_l0"] = np.zeros(3 * H, dtype=bias.dtype)
    variant = "torch" if reset_after else "cho"
    return state, kernel.shape[0], H, variant, has_bias


def _zrh_columns(rows_rzn: np.ndarray, H: int) -> np.ndarray:
    """fastgru row blocks r, z, n -> Keras column blocks z, r, h (or a bias)."""
    r, z, n = (rows_rzn[k * H : (k + 1) * H] for k in range(3))
    out = np.concatenate([z, r, n])
    return np.ascontiguousarray(out.T) if out.ndim == 2 else out


def _keras():
    import os

    os.environ.setdefault("KERAS_BACKEND", "torch")
    try:
        import keras
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("to_keras needs Keras 3: pip install keras") from exc
    if int(keras.__version__.split(".")[0]) < 3:
        raise ImportError(f"to_keras needs Keras 3, found {keras.__version__}")
    return keras


def cell_weights(config: dict, params: dict, k: int, d: int) -> list:
    """One cell's weights as a Keras GRU's ``get_weights()`` list, from a
    layer's configuration and parameters."""
    H, end = config["hidden_size"], suffix(k, d)
    weights = [_zrh_columns(params["weight_ih" + end], H),
               _zrh_columns(params["weight_hh" + end], H)]
    if config["bias"]:
        b_ih, b_hh = params["bias_ih" + end], params["bias_hh" + end]
        if config["variant"] == "torch":
            weights.append(np.stack([_zrh_columns(b_ih, H), _zrh_columns(b_hh, H)]))
        else:  # Keras' reset_after=False has one bias: both sums are outside r * (...)
            weights.append(_zrh_columns(b_ih + b_hh, H))
    return weights


def to_keras(layer):
    """The layer as Keras 3 layers with the same weights (needs ``keras``).

    "torch" becomes ``keras.layers.GRU(reset_after=True)``, "cho"
    ``reset_after=False``; other variants have no Keras equivalent and are
    refused with a ValueError. One unidirectional layer gives a built
    ``keras.layers.GRU`` with ``return_sequences=True, return_state=True``
    (``y, h = gru(x)``: forward's ``y`` and ``h_n[0]``); a stack or a
    bidirectional layer gives a ``keras.Sequential`` of ``GRU`` /
    ``Bidirectional(GRU, merge_mode="concat")`` layers whose output is
    forward's ``y``. Dropout is not carried over (Keras' GRU drops its
    inputs, not the outputs between layers). Keras' ``reset_after=False``
    cell has one bias, so a "cho" layer's ``bias_ih`` and ``bias_hh`` are
    summed: back in fastgru they are ``bias_ih + bias_hh`` and zeros.
    Keras uses ``KERAS_BACKEND`` (set to "torch" here when unset).

    Examples
    --------
    >>> import fastgru
    >>> from fastgru.interop.keras import from_keras, to_keras
    >>> gru = to_keras(fastgru.GRU(3, 8, random_state=0))
    >>> from_keras(gru).n_params
    312
    """
    config, params = layer.get_config(), layer.params
    check_params(config, params)  # the configuration and arrays go together
    variant = config["variant"]
    if variant not in ("torch", "cho"):
        raise ValueError(f"Keras' GRU computes the 'torch' (reset_after=True) and 'cho' "
                         f"(reset_after=False) variants only; this layer is {variant!r}")
    keras = _keras()
    dtype, inputs = config["dtype"], config["input_size"]

    def make_gru(**kwargs):
        return keras.layers.GRU(config["hidden_size"], reset_after=variant == "torch",
                                use_bias=config["bias"], return_sequences=True, dtype=dtype,
                                **kwargs)

    if config["num_layers"] == 1 and not config["bidirectional"]:
        gru = make_gru(return_state=True)
        gru.build((None, None, inputs))
        gru.set_weights(cell_weights(config, params, 0, 0))
        return gru
    model = keras.Sequential([keras.Input((None, inputs), dtype=dtype)])
    for k in range(config["num_layers"]):
        if config["bidirectional"]:
            wrapped = keras.layers.Bidirectional(make_gru(), merge_mode="concat", dtype=dtype)
            model.add(wrapped)
            wrapped.forward_layer.set_weights(cell_weights(config, params, k, 0))
            wrapped.backward_layer.set_weights(cell_weights(config, params, k, 1))
        else:
            gru = make_gru()
            model.add(gru)
            gru.set_weights(cell_weights(config, params, k, 0))
    return model


def from_keras(layer_or_weights, reset_after=True, *, dtype=None):
    """Build a layer with the exact weights of a Keras ``GRU`` layer.

    Parameters
    ----------
    layer_or_weights : keras.layers.GRU, Bidirectional, Sequential or list
        The (built) Keras layer; a ``Bidirectional(GRU)`` (merge_mode
        "concat") or a ``keras.Sequential`` of GRU / Bidirectional(GRU)
        layers (as :func:`to_keras` makes) for a bidirectional or stacked
        layer; or one GRU's ``get_weights()``:
        ``[kernel (I, 3H), recurrent_kernel (H, 3H), bias]``.
    reset_after : bool, default True
        Used with a list only (a layer says it itself): True maps to the
        "torch" variant (bias (2, 3H)), False to "cho" (bias (3H,)).
    dtype : {"float32", "float64"}, optional
        Defaults to the weights' dtype (float64 stays float64).

    Returns
    -------
    fastgru.GRU

    A Keras layer that cannot be mapped exactly (another activation or
    recurrent activation, ``go_backwards=True``) is refused with a
    ValueError. Keras' ``return_sequences`` output is ``forward``'s ``y``
    and its final state is ``h_n[0]``.

    Examples
    --------
    >>> import os
    >>> backend = os.environ.setdefault("KERAS_BACKEND", "torch")
    >>> import keras
    >>> from fastgru.interop.keras import from_keras
    >>> k = keras.layers.GRU(8); k.build((None, 10, 3))
    >>> from_keras(k).variant
    'torch'
    """
    from ..layer import GRU

    if hasattr(layer_or_weights, "get_weights"):
        stack, reset_after = keras_stack(layer_or_weights)
    else:
        stack = [[keras_weights(layer_or_weights, reset_after)[0]]]
        reset_after = bool(reset_after)
    state, shapes = {}, []
    for k, directions in enumerate(stack):
        if len(directions) != len(stack[0]):
            raise ValueError("the Keras model mixes GRU and Bidirectional(GRU) layers: "
                             "they are not one fastgru layer")
        for d, weights in enumerate(directions):
            cell, inputs, hidden, variant, has_bias = keras_to_state_dict(weights, reset_after)
            shapes.append((k, inputs, hidden, has_bias))
            state.update({name[:-3] + suffix(k, d): a for name, a in cell.items()})
    D, (_, inputs, hidden, has_bias) = len(stack[0]), shapes[0]
    for k, layer_inputs, layer_hidden, layer_bias in shapes:
        expected = inputs if k == 0 else D * hidden
        if (layer_inputs, layer_hidden, layer_bias) != (expected, hidden, has_bias):
            raise ValueError(f"Keras GRU layer {k} has input size {layer_inputs}, units "
                             f"{layer_hidden}, use_bias={layer_bias}; a fastgru stack needs "
                             f"{expected}, {hidden}, {has_bias}")
    if dtype is None:
        dtype = "float64" if np.asarray(stack[0][0][0]).dtype == np.float64 else "float32"
    layer = GRU(inputs, hidden, len(stack), bidirectional=D == 2, variant=variant,
                bias=has_bias, dtype=dtype)
    layer.load_state_dict(state)
    return layer


def _check_gru(layer, backward: bool = False) -> None:
    for attr, expected in (("activation", "tanh"), ("recurrent_activation", "sigmoid")):
        got = _name(getattr(layer, attr))
        if got != expected:
            raise ValueError(f"Keras GRU with {attr}={got!r} cannot be mapped exactly: "
                             f"fastgru uses {expected}")
    go_backwards = bool(getattr(layer, "go_backwards", False))
    if go_backwards != backward:
        raise ValueError(f"Keras GRU with go_backwards={go_backwards} cannot be mapped"
                         + (" as the backward layer of a Bidirectional" if backward else
                            ": reverse the sequences or use a bidirectional fastgru layer"))


def keras_stack(obj):
    """``([[weights per direction] per layer], reset_after)`` from a Keras GRU,
    a Bidirectional(GRU) or a Sequential of them (checked)."""
    name = type(obj).__name__
    if name == "GRU":
        return [[keras_weights(obj, None)[0]]], bool(obj.reset_after)
    if name == "Bidirectional":
        if obj.merge_mode != "concat":
            raise ValueError(f"Bidirectional with merge_mode={obj.merge_mode!r} cannot be "
                             "mapped: fastgru concatenates the directions (merge_mode='concat')")
        fwd, bwd = obj.forward_layer, obj.backward_layer
        if type(fwd).__name__ != "GRU" or type(bwd).__name__ != "GRU":
            raise ValueError("from_keras reads a Bidirectional wrapper of GRU layers only, got "
                             f"{type(fwd).__name__}/{type(bwd).__name__}")
        _check_gru(fwd)
        _check_gru(bwd, backward=True)
        if bool(fwd.reset_after) != bool(bwd.reset_after):
            raise ValueError("the Bidirectional layer's two GRUs differ in reset_after")
        weights = [fwd.get_weights(), bwd.get_weights()]
        if not weights[0]:
            raise ValueError("the Keras layer has no weights yet: build it (call it once) first")
        return [weights], bool(fwd.reset_after)
    if hasattr(obj, "layers") and hasattr(obj, "get_weights"):  # a Sequential or Model
        grus = [sub for sub in obj.layers if type(sub).__name__ in ("GRU", "Bidirectional")]
        if name != "Sequential" and len(grus) > 1:
            # a functional model's layers need not be a chain (two GRUs may read
            # the same input): only a Sequential says they are stacked
            raise ValueError(f"from_keras reads the GRU layers of a keras.Sequential as a "
                             f"stack; this {name} has {len(grus)} GRU layers that need not be "
                             "one: pass a Sequential, or each GRU layer on its own")
        stack, modes = [], set()
        for sub in obj.layers:
            sub_name = type(sub).__name__
            if sub_name == "InputLayer":
                continue
            if sub_name not in ("GRU", "Bidirectional"):
                raise ValueError(f"from_keras reads models made of GRU and Bidirectional(GRU) "
                                 f"layers only; {sub.name!r} is a {sub_name}")
            layers, reset_after = keras_stack(sub)
            stack += layers
            modes.add(reset_after)
        if not stack:
            raise ValueError("the Keras model has no GRU layer")
        if len(modes) > 1:
            raise ValueError("the Keras model's GRU layers differ in reset_after: they are not "
                             "one fastgru variant")
        return stack, modes.pop()
    raise ValueError(f"from_keras expects a keras.layers.GRU, a Bidirectional(GRU) or a "
                     f"Sequential of them, got {name}")
