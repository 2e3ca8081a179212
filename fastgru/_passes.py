"""A layer's passes over whole sequences: the forward of every layer and
direction (dropout between layers, a tape in training) and backpropagation
through time from that tape, composed from :mod:`fastgru._engine`'s
per-direction passes; and the training loop's entry points
(:func:`train_forward`, :func:`train_backward`), which keep the tape and the
buffers in the caller's workspace instead of on the layer.
"""

from __future__ import annotations

import numpy as np

from . import _engine, _runtime
from ._validation import as_sequences, check_bool, check_lengths, check_memory, check_state
from ._variants import get_variant


def stack_forward(gru, x, ragged_lengths, h0, lengths, training, workspace, outputs=True):
    """``(y, h_n, tape)`` of every layer and direction over time-major
    copies of ``x`` (B, T, input_size), with dropout between layers in
    training; ``tape`` (what :func:`stack_backward` needs) only in training.
    ``lengths`` are checked here (or those of a ragged list). ``y`` is None
    when not ``outputs`` (a caller that reads ``h_n`` only: no batch-first
    copy of the last layer's outputs is made)."""
    B, T, _ = x.shape
    lengths_given = lengths if ragged_lengths is None else ragged_lengths
    if ragged_lengths is not None:
        if lengths is not None:
            raise ValueError("lengths must not be given with a ragged list x")
        lengths = ragged_lengths
    elif lengths is None:
        lengths = np.empty(B, dtype=np.int64)
        lengths.fill(T)  # np.full costs several times more on small calls
    else:
        lengths = check_lengths(lengths, B, T)
    # whether every sequence runs all T steps (the engine's kernel of that loop)
    full = lengths_given is None or bool(lengths.min() == T)
    D, H, L = gru.num_directions, gru.hidden_size, gru.num_layers
    check_memory(f"forward of x {x.shape}", forward_bytes(gru, B, T, training))
    if h0 is not None:
        h0 = check_state("h0", h0, (L * D, B, H), gru.dtype)
    if training and gru.dropout > 0.0 and L > 1:
        keep = 1.0 - gru.dropout
        masks = [
            (gru._rng.random((T, B, D * H)) < keep).astype(gru.dtype) / gru.dtype.type(keep)
            for _ in range(L - 1)
        ]
    else:
        masks = None

    variant = get_variant(gru.variant)
    layer_in = _engine.swap_first_axes(x, copy=False)  # time-major
    h_n = np.empty((L * D, B, H), dtype=gru.dtype)
    cells = gru._cells()
    caches = []
    for layer in range(L):
        if masks is not None and layer > 0:
            layer_in = layer_in * masks[layer - 1]
        outs = []
        for d in range(D):
            i = layer * D + d
            y_d, cache = _engine.direction_forward(
                variant, cells[i], layer_in, None if h0 is None else h0[i], h_n[i],
                lengths, bool(d), training, workspace, (layer, d), full,
            )
            outs.append(y_d)
            caches.append(cache)
        layer_in = outs[0] if D == 1 else np.concatenate(outs, axis=2)
    tape = ({"caches": caches, "masks": masks, "lengths": lengths, "shape": (B, T)}
            if training else None)
    # a copy: the last layer's output lives in the workspace
    return (_engine.swap_first_axes(layer_in) if outputs else None), h_n, tape


def forward_bytes(layer, B: int, T: int, training: bool) -> int:
    """A lower bound of what a forward of ``B`` sequences of ``T`` steps
    allocates: per layer and direction the projections and states, in
    training also what BPTT keeps; the outputs twice."""
    D, H, L = layer.num_directions, layer.hidden_size, layer.num_layers
    G = get_variant(layer.variant).n_gates
    per_direction = G * H + H + (2 * H if training else 0)
    layers = L if training else 1  # inference reuses one layer's buffers
    return T * B * layer.dtype.itemsize * (layers * D * per_direction + 2 * D * H)


def stack_backward(gru, tape, dy, dh_n, input_grad, workspace, out_grads):
    """``(dx, dh0)`` by backpropagation through time from a ``tape`` of
    :func:`stack_forward`, top layer first; the parameter gradients are
    written to ``out_grads``."""
    D, H, L = gru.num_directions, gru.hidden_size, gru.num_layers
    caches, masks, lengths = (tape[k] for k in ("caches", "masks", "lengths"))
    variant = get_variant(gru.variant)

    # the last layer reads the caller's batch-first dy in place; the
    # layers below, the time-major dx of the layer above
    d_out, batch_first = dy, True
    dh0 = np.empty_like(dh_n)
    for layer in range(L - 1, -1, -1):
        d_in = None
        for d in range(D):
            dx_d, dh0[layer * D + d], grads = _engine.direction_backward(
                variant, gru._cell(layer, d), caches[layer * D + d], d_out,
                dh_n[layer * D + d], lengths, bool(d), gru.bias, workspace, (layer, d),
                want_dx=input_grad or layer > 0, dy_batch_first=batch_first, dy_col=d * H,
            )
            for base, g in grads.items():
                out_grads[base + gru._suffix(layer, d)] = g
            d_in = dx_d if d_in is None else d_in + dx_d
        if masks is not None and layer > 0:
            d_in *= masks[layer - 1]
        d_out, batch_first = d_in, False
    dx = None if d_out is None else _engine.swap_first_axes(d_out)
    return dx, dh0


def train_forward(layer, x, lengths, workspace, outputs=True):
    """``GRU.forward(x, lengths=lengths, training=True)`` for a training loop
    that keeps its own state: returns ``(y, h_n, tape)`` (``y`` None when
    not ``outputs``) and stores nothing on the layer. ``tape`` (what
    :func:`train_backward` needs) lives in the caller's ``workspace`` (a
    ``fastgru._engine.Workspace``, kept, not trimmed, across its
    minibatches) until its next call, so that inference in other threads
    (which use the layer's per-thread workspaces and never touch the tape)
    cannot disturb training."""
    x, ragged_lengths = as_sequences(x, layer.input_size, layer.dtype)
    with _runtime.single_threaded_blas():
        return stack_forward(layer, x, ragged_lengths, None, lengths, True, workspace, outputs)


def train_backward(layer, tape, dy, dh_n, input_grad, workspace, grads: dict,
                   trim: bool = False):
    """:meth:`GRU.backward` from a ``tape`` of :func:`train_forward` run with
    the same ``workspace``; the parameter gradients are written to
    ``grads`` (a dict the caller owns; they live in ``workspace``).
    ``trim`` frees the workspace's largest buffers afterwards (the layer's
    own per-thread workspace; a training loop keeps its buffers)."""
    B, T = tape["shape"]
    D, H, L = layer.num_directions, layer.hidden_size, layer.num_layers
    if dy is not None:
        dy = check_state("dy", dy, (B, T, D * H), layer.dtype)
    if dh_n is None:
        dh_n = np.zeros((L * D, B, H), dtype=layer.dtype)
    else:
        dh_n = check_state("dh_n", dh_n, (L * D, B, H), layer.dtype)
    try:
        with _runtime.single_threaded_blas():
            return stack_backward(layer, tape, dy, dh_n, check_bool("input_grad", input_grad),
                                  workspace, grads)
    finally:
        if trim:
            workspace.trim()
