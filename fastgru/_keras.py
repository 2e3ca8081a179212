"""Weights of a Keras ``GRU`` layer as a fastgru layer (exact mapping only).

Keras keeps ``kernel`` (I, 3H) and ``recurrent_kernel`` (H, 3H) with column
blocks z, r, h; fastgru (like PyTorch) keeps row blocks r, z, n. With
``reset_after=True`` the ``bias`` is (2, 3H): input bias, then recurrent bias,
and the cell is fastgru's "torch" variant; with ``reset_after=False`` the bias
is (3H,) on the input side and the cell is "cho". Both use the update
``h' = z * h + (1 - z) * n``, as fastgru does.
"""

from __future__ import annotations

import numpy as np


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
            raise ValueError(f"from_keras expects a keras.layers.GRU, got {type(layer).__name__}"
                             " (wrap a Bidirectional layer's forward_layer/backward_layer "
                             "yourself)")
        for attr, expected in (("activation", "tanh"), ("recurrent_activation", "sigmoid")):
            got = _name(getattr(layer, attr))
            if got != expected:
                raise ValueError(f"Keras GRU with {attr}={got!r} cannot be mapped exactly: "
                                 f"fastgru uses {expected}")
        if getattr(layer, "go_backwards", False):
            raise ValueError("Keras GRU with go_backwards=True cannot be mapped: reverse the "
                             "sequences or use a bidirectional fastgru layer")
        weights = layer.get_weights()
        if not weights:
            raise ValueError("the Keras layer has no weights yet: build it (call it once) first")
        return weights, bool(layer.reset_after)
    if isinstance(layer_or_weights, (list, tuple)) and len(layer_or_weights) in (2, 3):
        return [np.asarray(w) for w in layer_or_weights], bool(reset_after)
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
