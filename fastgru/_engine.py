"""Orchestration of one layer and direction: big products around the kernels.

The input projection of all time steps is one matrix product before the
recurrence, and the weight gradients are a few matrix products over all T*B
rows after BPTT; only the recurrence itself runs in the Numba kernels. Inputs
here are already validated, time-major and C-contiguous in the layer's dtype.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _config, _kernels
from ._variants import Variant


@dataclass
class DirectionCache:
    """What the forward pass of one layer and direction keeps for BPTT."""

    x2d: np.ndarray  # (T*B, I) the layer input
    hprev: np.ndarray  # (T, B, H) state before each step
    gates: np.ndarray  # (T, B, G*H) gate activations
    aux: np.ndarray  # (T, B, H) U_n h + b_hn, or the gated state r*h / f*h


def _launch(parallel_kernel, serial_rows, args_before, args_after, n_rows):
    """Run a batch-parallel kernel, or its serial body when one chunk suffices.

    Parallel launches are serialised by a lock, because Numba's default
    threading layer aborts on concurrent launches; the serial path (one row
    chunk) needs no lock and releases the GIL.
    """
    n_chunks = min(n_rows, _config.get_num_threads())
    if n_chunks <= 1:
        serial_rows(*args_before, 0, n_rows, *args_after)
        return
    with _config.parallel_launch_lock:
        parallel_kernel(*args_before, n_chunks, *args_after)


def _input_projection(variant: Variant, cell: dict, x2d: np.ndarray, hidden_size: int):
    """``xproj = W x + b`` for all steps at once, plus the unfoldable ``b_hn``."""
    W = cell["weight_ih"]
    xbias, b_hn = variant.fold_biases(cell, hidden_size, x2d.dtype)
    gh = variant.n_gates * hidden_size
    xproj = np.empty((x2d.shape[0], gh), dtype=x2d.dtype)
    x_col0 = gh - W.shape[0]  # weight_ih feeds the last row blocks
    np.matmul(x2d, W.T, out=xproj[:, x_col0:])
    xproj[:, :x_col0] = 0.0
    xproj += xbias
    return xproj, b_hn


def direction_forward(variant, cell, x_tm, h0, lengths, reverse, training):
    """Forward of one layer and direction.

    Returns ``(y (T, B, H), h_last (B, H), cache or None)``.
    """
    T, B, _ = x_tm.shape
    H = h0.shape[1]
    dtype = x_tm.dtype
    x2d = x_tm.reshape(T * B, -1)
    xproj, b_hn = _input_projection(variant, cell, x2d, H)
    xproj = xproj.reshape(T, B, -1)
    y = np.empty((T, B, H), dtype=dtype)
    h_last = h0.copy()
    if training:
        # zeros: padded steps must hold finite values for the weight products
        gates = np.zeros((T, B, xproj.shape[2]), dtype=dtype)
        hprev = np.zeros((T, B, H), dtype=dtype)
        aux = np.zeros((T, B, H), dtype=dtype)
    else:
        gates = hprev = aux = np.empty((1, 1, 1), dtype=dtype)
    _launch(
        _kernels.sequence_forward,
        _kernels._forward_rows,
        (variant.mode, xproj, cell["weight_hh"], b_hn, lengths, reverse, training),
        (y, h_last, gates, hprev, aux),
        B,
    )
    cache = DirectionCache(x2d, hprev, gates, aux) if training else None
    return y, h_last, cache


def direction_backward(variant, cell, cache, dy, dh_last, lengths, reverse, has_bias):
    """BPTT of one layer and direction.

    ``dy`` (T, B, H) and ``dh_last`` (B, H) are gradients of the outputs.
    Returns ``(dx (T, B, I), dh0 (B, H), grads)`` with grads keyed by the
    parameter names without the layer suffix.
    """
    T, B, H = dy.shape
    dtype = dy.dtype
    gh = cache.gates.shape[2]
    dxp = np.zeros((T, B, gh), dtype=dtype)
    daux = np.zeros((T, B, H), dtype=dtype)
    dh = dh_last.copy()
    U = cell["weight_hh"]
    _launch(
        _kernels.sequence_backward,
        _kernels._backward_rows,
        (variant.mode, U, dy, lengths, reverse, cache.hprev, cache.gates, cache.aux),
        (dxp, daux, dh),
        B,
    )
    dxp = dxp.reshape(T * B, gh)
    daux = daux.reshape(T * B, H)
    hprev = cache.hprev.reshape(T * B, H)
    aux = cache.aux.reshape(T * B, H)

    W = cell["weight_ih"]
    dxp_x = dxp[:, gh - W.shape[0] :]
    grads = {"weight_ih": dxp_x.T @ cache.x2d}
    dx = (dxp_x @ W).reshape(T, B, -1)

    # Recurrent weights: every block is (gradient of its output)^T @ (its input).
    mode = variant.mode
    if mode == _kernels.RESET_AFTER:
        blocks = [(dxp[:, : 2 * H], hprev), (daux, hprev)]
    elif mode == _kernels.RESET_BEFORE:
        blocks = [(dxp[:, : 2 * H], hprev), (dxp[:, 2 * H :], aux)]
    elif mode == _kernels.BIAS_GATES:
        blocks = [(dxp[:, 2 * H :], aux)]
    else:  # MGU
        blocks = [(dxp[:, :H], hprev), (dxp[:, H:], aux)]
    grads["weight_hh"] = np.concatenate([g.T @ inp for g, inp in blocks], axis=0)
    if has_bias:
        grads.update(variant.bias_grads(dxp.sum(axis=0), daux.sum(axis=0)))
    return dx, dh, grads
