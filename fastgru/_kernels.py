"""Numba kernels: the GRU cell, the recurrence over whole sequences, and BPTT.

Everything here works on plain arrays in one memory layout, chosen once at the
boundary (:mod:`fastgru._engine`):

* ``xproj`` ``(T, B, G*H)``: time-major input projections ``W x + b`` of every
  step, computed before the recurrence as one large matrix product. Every
  additive bias is folded into it; the gate blocks are contiguous per row.
* ``U`` ``(Gh*H, H)``: the recurrent weights exactly as stored in the layer's
  parameters (row blocks per gate), so no repacking happens per call.
* ``b_hn`` ``(H,)``: the one bias that cannot be folded (the "torch" variant
  multiplies it by the reset gate).

Four cell *modes* cover the six public variants (see :mod:`fastgru._variants`):

``RESET_AFTER``   "torch": ``n = tanh(xn + r * (U_n h + b_hn))``.
``RESET_BEFORE``  "cho", "gru1", "gru2": ``n = tanh(xn + U_n (r * h))``;
                  gates ``r, z`` from ``xproj`` plus ``U_rz h``.
``BIAS_GATES``    "gru3": as RESET_BEFORE but ``r, z`` from ``xproj`` only
                  (``U`` holds ``U_n`` alone).
``MGU``           "mgu": one gate ``f``; ``h' = h + f * (n - h)``.

The forward pass stores the gate activations (``gates``), the previous state
(``hprev``) and one auxiliary vector (``aux``: ``U_n h + b_hn`` for RESET_AFTER,
the gated state ``r*h`` or ``f*h`` otherwise) so that BPTT never recomputes a
product. The backward pass returns the gradient of every step's pre-activations
(``dxp``, and ``daux`` = d(U_n h + b_hn) for RESET_AFTER); the weight gradients
are then a few large matrix products over all T*B rows, done by the caller.

Batch rows are independent, so the parallel kernels split the batch into
contiguous chunks, one per thread, each running through all time steps.
"""

import numpy as np
from numba import prange

from ._config import kernel, parallel_kernel

RESET_AFTER = 0
RESET_BEFORE = 1
BIAS_GATES = 2
MGU = 3


@kernel
def _sigmoid(x, one):
    return one / (one + np.exp(-x))


@kernel
def _matvec(M, row0, nrows, v, out, out0):
    """``out[out0 + j] = M[row0 + j, :] @ v`` for ``j < nrows``."""
    n = v.shape[0]
    for j in range(nrows):
        acc = v.dtype.type(0.0)
        for k in range(n):
            acc += M[row0 + j, k] * v[k]
        out[out0 + j] = acc


@kernel
def _matvec_t_add(M, row0, nrows, g, g0, out):
    """``out += g[g0:g0+nrows] @ M[row0:row0+nrows, :]``."""
    n = out.shape[0]
    for j in range(nrows):
        gj = g[g0 + j]
        for k in range(n):
            out[k] += gj * M[row0 + j, k]


@kernel
def cell_forward(mode, xp, U, b_hn, hp, hnew, gates, aux, acc):
    """One GRU step for one row; ``hnew`` may be the same array as ``hp``.

    ``xp``: (G*H,) input projection with folded biases; ``hp``: (H,) previous
    state; ``gates`` (G*H,) and ``aux`` (H,) receive what BPTT needs; ``acc``
    (G*H,) is scratch.
    """
    H = hp.shape[0]
    one = hp.dtype.type(1.0)
    if mode == RESET_AFTER:
        _matvec(U, 0, 3 * H, hp, acc, 0)
        for j in range(H):
            r = _sigmoid(xp[j] + acc[j], one)
            z = _sigmoid(xp[H + j] + acc[H + j], one)
            hn = acc[2 * H + j] + b_hn[j]
            n = np.tanh(xp[2 * H + j] + r * hn)
            gates[j] = r
            gates[H + j] = z
            gates[2 * H + j] = n
            aux[j] = hn
            hnew[j] = n + z * (hp[j] - n)
    elif mode == MGU:
        _matvec(U, 0, H, hp, acc, 0)
        for j in range(H):
            f = _sigmoid(xp[j] + acc[j], one)
            gates[j] = f
            aux[j] = f * hp[j]
        _matvec(U, H, H, aux, acc, H)
        for j in range(H):
            n = np.tanh(xp[H + j] + acc[H + j])
            f = gates[j]
            gates[H + j] = n
            hnew[j] = hp[j] + f * (n - hp[j])
    else:  # RESET_BEFORE, BIAS_GATES
        if mode == RESET_BEFORE:
            _matvec(U, 0, 2 * H, hp, acc, 0)
            n_row0 = 2 * H
        else:
            acc[: 2 * H] = 0.0
            n_row0 = 0
        for j in range(H):
            r = _sigmoid(xp[j] + acc[j], one)
            gates[j] = r
            gates[H + j] = _sigmoid(xp[H + j] + acc[H + j], one)
            aux[j] = r * hp[j]
        _matvec(U, n_row0, H, aux, acc, 2 * H)
        for j in range(H):
            n = np.tanh(xp[2 * H + j] + acc[2 * H + j])
            z = gates[H + j]
            gates[2 * H + j] = n
            hnew[j] = n + z * (hp[j] - n)


@kernel
def cell_backward(mode, U, hp, gates, aux, dh, dxp, daux, dhp, scratch):
    """Gradients of one step for one row (the twin of :func:`cell_forward`).

    ``dh`` (H,): gradient of the new state. Writes ``dxp`` (G*H,): gradient of
    the gate pre-activations (equal to that of ``xproj``); ``daux`` (H,):
    gradient of ``U_n h + b_hn`` (RESET_AFTER only); ``dhp`` (H,): gradient of
    the previous state. ``scratch`` (H,) is work space.
    """
    H = hp.shape[0]
    one = hp.dtype.type(1.0)
    if mode == RESET_AFTER:
        for j in range(H):
            r = gates[j]
            z = gates[H + j]
            n = gates[2 * H + j]
            dn_pre = dh[j] * (one - z) * (one - n * n)
            dr_pre = dn_pre * aux[j] * r * (one - r)
            dz_pre = dh[j] * (hp[j] - n) * z * (one - z)
            dxp[j] = dr_pre
            dxp[H + j] = dz_pre
            dxp[2 * H + j] = dn_pre
            daux[j] = dn_pre * r
            dhp[j] = dh[j] * z
        # d(hp) += [dr, dz, dhn] @ U
        _matvec_t_add(U, 0, 2 * H, dxp, 0, dhp)
        _matvec_t_add(U, 2 * H, H, daux, 0, dhp)
    elif mode == MGU:
        for j in range(H):
            f = gates[j]
            n = gates[H + j]
            dn_pre = dh[j] * f * (one - n * n)
            dxp[H + j] = dn_pre
            dhp[j] = dh[j] * (one - f)
        # gradient of the gated state f*h, through U_n
        scratch[:] = 0.0
        _matvec_t_add(U, H, H, dxp, H, scratch)
        for j in range(H):
            f = gates[j]
            n = gates[H + j]
            df = dh[j] * (n - hp[j]) + scratch[j] * hp[j]
            dxp[j] = df * f * (one - f)
            dhp[j] += scratch[j] * f
        _matvec_t_add(U, 0, H, dxp, 0, dhp)
    else:  # RESET_BEFORE, BIAS_GATES
        for j in range(H):
            z = gates[H + j]
            n = gates[2 * H + j]
            dxp[2 * H + j] = dh[j] * (one - z) * (one - n * n)
            dxp[H + j] = dh[j] * (hp[j] - n) * z * (one - z)
            dhp[j] = dh[j] * z
        n_row0 = 2 * H if mode == RESET_BEFORE else 0
        scratch[:] = 0.0
        _matvec_t_add(U, n_row0, H, dxp, 2 * H, scratch)
        for j in range(H):
            r = gates[j]
            dxp[j] = scratch[j] * hp[j] * r * (one - r)
            dhp[j] += scratch[j] * r
        if mode == RESET_BEFORE:
            _matvec_t_add(U, 0, 2 * H, dxp, 0, dhp)


@kernel
def _forward_rows(mode, xproj, U, b_hn, lengths, reverse, training, row0, row1,
                  y, h_last, gates, hprev, aux):
    """Run rows ``row0:row1`` through all steps; ``h_last`` holds h0 on entry."""
    T = xproj.shape[0]
    GH = xproj.shape[2]
    H = h_last.shape[1]
    acc = np.empty(GH, dtype=xproj.dtype)
    gates_scratch = np.empty(GH, dtype=xproj.dtype)
    aux_scratch = np.empty(H, dtype=xproj.dtype)
    for s in range(T):
        t = T - 1 - s if reverse else s
        for i in range(row0, row1):
            if t >= lengths[i]:
                y[t, i, :] = 0.0
                continue
            h = h_last[i]
            if training:
                hprev[t, i, :] = h
                cell_forward(mode, xproj[t, i], U, b_hn, h, h, gates[t, i], aux[t, i], acc)
            else:
                cell_forward(mode, xproj[t, i], U, b_hn, h, h, gates_scratch, aux_scratch, acc)
            y[t, i, :] = h


@parallel_kernel
def sequence_forward(mode, xproj, U, b_hn, lengths, reverse, training, n_chunks,
                     y, h_last, gates, hprev, aux):
    """The recurrence of one layer and direction over whole sequences.

    ``h_last`` (B, H) holds ``h0`` on entry and each row's final state on exit.
    ``y`` (T, B, H) receives the states (0 past a row's length). With
    ``training`` the per-step ``gates``, ``hprev`` and ``aux`` are stored.
    """
    B = h_last.shape[0]
    for c in prange(n_chunks):
        _forward_rows(mode, xproj, U, b_hn, lengths, reverse, training,
                      c * B // n_chunks, (c + 1) * B // n_chunks,
                      y, h_last, gates, hprev, aux)


@kernel
def _backward_rows(mode, U, dy, lengths, reverse, hprev, gates, aux, row0, row1,
                   dxp, daux, dh):
    T = dy.shape[0]
    H = dy.shape[2]
    dhp = np.empty(H, dtype=dy.dtype)
    scratch = np.empty(H, dtype=dy.dtype)
    for i in range(row0, row1):
        dhi = dh[i]
        for s in range(T - 1, -1, -1):
            t = T - 1 - s if reverse else s
            if t >= lengths[i]:
                continue
            for j in range(H):
                dhi[j] += dy[t, i, j]
            cell_backward(mode, U, hprev[t, i], gates[t, i], aux[t, i], dhi,
                          dxp[t, i], daux[t, i], dhp, scratch)
            dhi[:] = dhp


@parallel_kernel
def sequence_backward(mode, U, dy, lengths, reverse, hprev, gates, aux, n_chunks,
                      dxp, daux, dh):
    """BPTT through one layer and direction (the twin of :func:`sequence_forward`).

    ``dh`` (B, H) holds the gradient of the final state on entry and that of
    ``h0`` on exit. ``dxp`` (T, B, G*H) and ``daux`` (T, B, H) must be zeroed by
    the caller; padded steps are left at zero.
    """
    B = dh.shape[0]
    for c in prange(n_chunks):
        _backward_rows(mode, U, dy, lengths, reverse, hprev, gates, aux,
                       c * B // n_chunks, (c + 1) * B // n_chunks, dxp, daux, dh)


@kernel
def step_layers(mode, x, h, h_out, weights_ih, weights_hh, xbiases, b_hns):
    """One time step through every layer of a unidirectional stack.

    ``x`` (B, I); ``h`` and ``h_out`` (L, B, H) (may be the same array); the
    per-layer weights come as tuples. Allocates only O(G*H) scratch.
    """
    L = h.shape[0]
    B = h.shape[1]
    H = h.shape[2]
    GH = xbiases[0].shape[0]
    xp = np.empty(GH, dtype=h.dtype)
    acc = np.empty(GH, dtype=h.dtype)
    gates = np.empty(GH, dtype=h.dtype)
    aux = np.empty(H, dtype=h.dtype)
    layer_in = np.empty(max(x.shape[1], H), dtype=h.dtype)
    for i in range(B):
        n_in = x.shape[1]
        layer_in[:n_in] = x[i]
        for layer in range(L):
            W = weights_ih[layer]
            xbias = xbiases[layer]
            # W holds only the row blocks that see x; they are the last ones.
            x_row0 = GH - W.shape[0]
            xp[:x_row0] = xbias[:x_row0]
            _matvec(W, 0, W.shape[0], layer_in[:n_in], xp, x_row0)
            for j in range(x_row0, GH):
                xp[j] += xbias[j]
            h_out[layer, i, :] = h[layer, i]
            cell_forward(mode, xp, weights_hh[layer], b_hns[layer], h_out[layer, i],
                         h_out[layer, i], gates, aux, acc)
            n_in = H
            layer_in[:H] = h_out[layer, i]
