"""Numba kernels: the GRU cell, the recurrence over whole sequences, and BPTT.

Everything here works on plain arrays in one memory layout, chosen once at the
boundary (:mod:`fastgru._engine`):

* ``xproj`` ``(T, B, G*H)``: time-major input projections ``W x + b`` of every
  step, computed before the recurrence by :func:`project` as one large matrix
  product. Every additive bias is folded into it; gate blocks are contiguous.
* ``U`` ``(Gh*H, H)``: the recurrent weights exactly as stored in the layer's
  parameters (row blocks per gate), so nothing is repacked per call.
* ``b_hn`` ``(H,)``: the one bias that cannot be folded (the "torch" variant
  multiplies it by the reset gate).

Four cell *modes* cover the six public variants (see :mod:`fastgru._variants`):

``RESET_AFTER``   "torch": ``n = tanh(xn + r * (U_n h + b_hn))``.
``RESET_BEFORE``  "cho", "gru1", "gru2": ``n = tanh(xn + U_n (r * h))``;
                  gates ``r, z`` from ``xproj`` plus ``U_rz h``.
``BIAS_GATES``    "gru3": as RESET_BEFORE but ``r, z`` from ``xproj`` only
                  (``U`` holds ``U_n`` alone).
``MGU``           "mgu": one gate ``f``; ``h' = h + f * (n - h)``.

Batch rows are independent, so a sequence kernel takes a block of rows and
runs it through all time steps; each step does the block's recurrent product
as one matrix product (``(rows, H) @ (H, G*H)``) on contiguous time-major
slices, then the gate arithmetic in loops that LLVM vectorises. The forward
pass stores the gate activations (``gates``), the previous state (``hprev``)
and one auxiliary vector (``aux``: ``U_n h + b_hn`` for RESET_AFTER, the gated
state ``r*h`` or ``f*h`` otherwise), so BPTT recomputes no product. BPTT
returns the gradient of every step's pre-activations (``dxp``) and of the
recurrent products (``dhh``); the weight gradients are then a few large
products over all T*B rows (:func:`weight_grad`).

The ``*_parallel`` kernels split rows into blocks with ``prange``; each block
runs single-threaded BLAS (the caller limits BLAS to one thread), so Numba's
threads are the only ones working.
"""

import numpy as np
from numba import prange

from ._activations import sigmoid, tanh
from ._config import kernel, parallel_kernel

RESET_AFTER = 0
RESET_BEFORE = 1
BIAS_GATES = 2
MGU = 3

# Below this many rows a hand-written loop beats a BLAS call's fixed overhead.
_SMALL_ROWS = 2


# --------------------------------------------------------------- small products
@kernel
def _matmul_nt(a, b, out):
    """``out = a @ b.T`` for C-contiguous ``a`` (m, k), ``b`` (n, k), ``out`` (m, n)."""
    m, k = a.shape
    n = b.shape[0]
    if m > _SMALL_ROWS:
        np.dot(a, b.T, out)
        return
    for i in range(m):
        for j in range(n):
            acc = a.dtype.type(0.0)
            for kk in range(k):
                acc += a[i, kk] * b[j, kk]
            out[i, j] = acc


@kernel
def _matmul_nn(a, b, out):
    """``out = a @ b`` for C-contiguous ``a`` (m, n), ``b`` (n, k), ``out`` (m, k)."""
    m, n = a.shape
    if m > _SMALL_ROWS:
        np.dot(a, b, out)
        return
    out[:] = 0.0
    for i in range(m):
        for j in range(n):
            g = a[i, j]
            for kk in range(b.shape[1]):
                out[i, kk] += g * b[j, kk]


@kernel
def _matmul_add(a, b, out, tmp):
    """``out += a @ b``; ``tmp`` is scratch shaped like ``out``."""
    _matmul_nn(a, b, tmp)
    out += tmp


# ------------------------------------------------------------------ the cell
@kernel
def cell_forward(mode, xp, U, b_hn, hp, h, gates, aux, acc_wide, acc_1, acc_2):
    """One step for a block of rows: ``h`` (n, H) = cell(``xp``, ``hp``).

    ``xp`` (n, G*H) input projections with folded biases; ``hp`` (n, H) the
    previous states (not aliased with ``h``); ``gates`` (n, G*H) and ``aux``
    (n, H) receive what BPTT needs; ``acc_wide`` (n, 3H or 2H) and ``acc_1``,
    ``acc_2`` (n, H) are scratch.
    """
    n_rows, H = hp.shape
    if mode == RESET_AFTER:
        _matmul_nt(hp, U, acc_wide)
        for i in range(n_rows):
            for j in range(H):
                r = sigmoid(xp[i, j] + acc_wide[i, j])
                z = sigmoid(xp[i, H + j] + acc_wide[i, H + j])
                hn = acc_wide[i, 2 * H + j] + b_hn[j]
                c = tanh(xp[i, 2 * H + j] + r * hn)
                gates[i, j] = r
                gates[i, H + j] = z
                gates[i, 2 * H + j] = c
                aux[i, j] = hn
                h[i, j] = c + z * (hp[i, j] - c)
    elif mode == MGU:
        _matmul_nt(hp, U[:H], acc_1)
        for i in range(n_rows):
            for j in range(H):
                f = sigmoid(xp[i, j] + acc_1[i, j])
                gates[i, j] = f
                aux[i, j] = f * hp[i, j]
        _matmul_nt(aux, U[H:], acc_2)
        for i in range(n_rows):
            for j in range(H):
                c = tanh(xp[i, H + j] + acc_2[i, j])
                gates[i, H + j] = c
                h[i, j] = hp[i, j] + gates[i, j] * (c - hp[i, j])
    else:  # RESET_BEFORE, BIAS_GATES
        if mode == RESET_BEFORE:
            _matmul_nt(hp, U[: 2 * H], acc_wide)
        else:
            acc_wide[:] = 0.0
        for i in range(n_rows):
            for j in range(H):
                r = sigmoid(xp[i, j] + acc_wide[i, j])
                gates[i, j] = r
                gates[i, H + j] = sigmoid(xp[i, H + j] + acc_wide[i, H + j])
                aux[i, j] = r * hp[i, j]
        _matmul_nt(aux, U[U.shape[0] - H :], acc_1)
        for i in range(n_rows):
            for j in range(H):
                c = tanh(xp[i, 2 * H + j] + acc_1[i, j])
                z = gates[i, H + j]
                gates[i, 2 * H + j] = c
                h[i, j] = c + z * (hp[i, j] - c)


@kernel
def cell_backward(mode, U, hp, gates, aux, dh, active, dxp, dhh, dhp, d_1, tmp):
    """Gradients of one step for a block of rows (twin of :func:`cell_forward`).

    ``dh`` (n, H): gradient of the new states. Rows with ``active[i]`` False
    pass ``dh`` through unchanged and get zero gate gradients. Writes ``dxp``
    (n, G*H): gradient of the gate pre-activations (= of ``xproj``); ``dhh``
    (n, Gh*H or 2H): gradient of the recurrent products' outputs, in ``U``'s
    row-block order (RESET_AFTER: ``[dr, dz, d(U_n h + b_hn)]``; RESET_BEFORE:
    ``[dr, dz]``; MGU: ``[df]``); ``dhp`` (n, H): gradient of the previous
    states. ``d_1`` and ``tmp`` (n, H) are scratch.
    """
    n_rows, H = hp.shape
    one = hp.dtype.type(1.0)
    for i in range(n_rows):
        if not active[i]:
            dxp[i] = 0.0
            dhh[i] = 0.0
            d_1[i] = 0.0
            dhp[i] = dh[i]
    if mode == RESET_AFTER:
        for i in range(n_rows):
            if not active[i]:
                continue
            for j in range(H):
                r = gates[i, j]
                z = gates[i, H + j]
                c = gates[i, 2 * H + j]
                dc_pre = dh[i, j] * (one - z) * (one - c * c)
                dr_pre = dc_pre * aux[i, j] * r * (one - r)
                dz_pre = dh[i, j] * (hp[i, j] - c) * z * (one - z)
                dxp[i, j] = dr_pre
                dxp[i, H + j] = dz_pre
                dxp[i, 2 * H + j] = dc_pre
                dhh[i, j] = dr_pre
                dhh[i, H + j] = dz_pre
                dhh[i, 2 * H + j] = dc_pre * r
                dhp[i, j] = dh[i, j] * z
        _matmul_add(dhh, U, dhp, tmp)
    elif mode == MGU:
        for i in range(n_rows):
            if not active[i]:
                continue
            for j in range(H):
                f = gates[i, j]
                c = gates[i, H + j]
                d_1[i, j] = dh[i, j] * f * (one - c * c)
                dxp[i, H + j] = d_1[i, j]
                dhp[i, j] = dh[i, j] * (one - f)
        _matmul_nn(d_1, U[H:], tmp)
        for i in range(n_rows):
            if not active[i]:
                continue
            for j in range(H):
                f = gates[i, j]
                df = dh[i, j] * (gates[i, H + j] - hp[i, j]) + tmp[i, j] * hp[i, j]
                dxp[i, j] = df * f * (one - f)
                dhh[i, j] = dxp[i, j]
                dhp[i, j] += tmp[i, j] * f
        _matmul_add(dhh, U[:H], dhp, tmp)
    else:  # RESET_BEFORE, BIAS_GATES
        for i in range(n_rows):
            if not active[i]:
                continue
            for j in range(H):
                z = gates[i, H + j]
                c = gates[i, 2 * H + j]
                d_1[i, j] = dh[i, j] * (one - z) * (one - c * c)
                dxp[i, 2 * H + j] = d_1[i, j]
                dxp[i, H + j] = dh[i, j] * (hp[i, j] - c) * z * (one - z)
                dhp[i, j] = dh[i, j] * z
        _matmul_nn(d_1, U[U.shape[0] - H :], tmp)
        for i in range(n_rows):
            if not active[i]:
                continue
            for j in range(H):
                r = gates[i, j]
                dxp[i, j] = tmp[i, j] * hp[i, j] * r * (one - r)
                dhp[i, j] += tmp[i, j] * r
                dhh[i, j] = dxp[i, j]
                dhh[i, H + j] = dxp[i, H + j]
        if mode == RESET_BEFORE:
            _matmul_add(dhh, U[: 2 * H], dhp, tmp)


def dhh_width(mode, H):
    """Width of ``dhh``: the gate products of ``U`` (without the candidate's)."""
    if mode == RESET_AFTER:
        return 3 * H
    if mode == MGU:
        return H
    return 2 * H


# ------------------------------------------------------------- whole sequences
@kernel
def forward_rows(mode, xproj, U, b_hn, lengths, reverse, training, r0, r1,
                 y, h_last, gates, hprev, aux):
    """Run rows ``r0:r1`` through all steps; ``h_last`` holds h0 on entry."""
    T = xproj.shape[0]
    GH = xproj.shape[2]
    H = h_last.shape[1]
    n = r1 - r0
    dt = xproj.dtype
    wide = 3 * H if mode == RESET_AFTER else 2 * H
    acc_wide = np.empty((n, wide), dtype=dt)
    acc_1 = np.empty((n, H), dtype=dt)
    acc_2 = np.empty((n, H), dtype=dt)
    gates_scratch = np.empty((n, GH), dtype=dt)
    aux_scratch = np.empty((n, H), dtype=dt)
    hp_scratch = np.empty((n, H), dtype=dt)
    h = h_last[r0:r1]
    lens = lengths[r0:r1]
    max_len = lens.max()
    min_len = lens.min()
    for s in range(T):
        t = T - 1 - s if reverse else s
        y_t = y[t, r0:r1]
        if t >= max_len:
            y_t[:] = 0.0
            continue
        if training:
            g, a, hp = gates[t, r0:r1], aux[t, r0:r1], hprev[t, r0:r1]
        else:
            g, a, hp = gates_scratch, aux_scratch, hp_scratch
        hp[:] = h
        cell_forward(mode, xproj[t, r0:r1], U, b_hn, hp, h, g, a, acc_wide, acc_1, acc_2)
        y_t[:] = h
        if t >= min_len:  # some rows have ended: keep their state, output zeros
            for i in range(n):
                if t >= lens[i]:
                    h[i] = hp[i]
                    y_t[i] = 0.0


@parallel_kernel
def forward_parallel(mode, xproj, U, b_hn, lengths, reverse, training, n_blocks,
                     y, h_last, gates, hprev, aux):
    """:func:`forward_rows` over ``n_blocks`` row blocks in parallel."""
    B = h_last.shape[0]
    for c in prange(n_blocks):
        forward_rows(mode, xproj, U, b_hn, lengths, reverse, training,
                     c * B // n_blocks, (c + 1) * B // n_blocks,
                     y, h_last, gates, hprev, aux)


@kernel
def backward_rows(mode, U, dy, lengths, reverse, hprev, gates, aux, r0, r1, dxp, dhh, dh):
    """BPTT for rows ``r0:r1``; ``dh`` holds d(h_last) on entry, d(h0) on exit.

    Padded steps leave ``dxp`` and ``dhh`` at zero (they are written here).
    """
    T = dy.shape[0]
    H = dy.shape[2]
    n = r1 - r0
    dt = dy.dtype
    dhp = np.empty((n, H), dtype=dt)
    d_1 = np.empty((n, H), dtype=dt)
    tmp = np.empty((n, H), dtype=dt)
    active = np.ones(n, dtype=np.bool_)
    dh_c = dh[r0:r1]
    lens = lengths[r0:r1]
    max_len = lens.max()
    for s in range(T - 1, -1, -1):
        t = T - 1 - s if reverse else s
        if t >= max_len:
            dxp[t, r0:r1] = 0.0
            dhh[t, r0:r1] = 0.0
            continue
        for i in range(n):
            active[i] = t < lens[i]
            if active[i]:
                dh_c[i] += dy[t, r0 + i]
        cell_backward(mode, U, hprev[t, r0:r1], gates[t, r0:r1], aux[t, r0:r1], dh_c,
                      active, dxp[t, r0:r1], dhh[t, r0:r1], dhp, d_1, tmp)
        dh_c[:] = dhp


@parallel_kernel
def backward_parallel(mode, U, dy, lengths, reverse, hprev, gates, aux, n_blocks,
                      dxp, dhh, dh):
    """:func:`backward_rows` over ``n_blocks`` row blocks in parallel."""
    B = dh.shape[0]
    for c in prange(n_blocks):
        backward_rows(mode, U, dy, lengths, reverse, hprev, gates, aux,
                      c * B // n_blocks, (c + 1) * B // n_blocks, dxp, dhh, dh)


# ------------------------------------------------------ large products, blocked
@parallel_kernel
def project(x2d, W, xbias, n_blocks, out):
    """``out (R, G*H) = [0 | x2d @ W.T] + xbias``, rows in parallel blocks.

    ``W`` feeds the last ``W.shape[0]`` columns (the variants "gru1-3" have an
    input weight for the candidate only).
    """
    R = x2d.shape[0]
    GH = out.shape[1]
    col0 = GH - W.shape[0]
    for c in prange(n_blocks):
        r0 = c * R // n_blocks
        r1 = (c + 1) * R // n_blocks
        if col0 == 0:
            np.dot(x2d[r0:r1], W.T, out[r0:r1])
        else:
            part = np.dot(x2d[r0:r1], W.T)
            for i in range(r1 - r0):
                out[r0 + i, :col0] = 0.0
                out[r0 + i, col0:] = part[i]
        for i in range(r0, r1):
            out[i] += xbias


@parallel_kernel
def matmul_blocks(a, b, n_blocks, out):
    """``out (R, N) = a (R, K) @ b (K, N)``, rows in parallel blocks."""
    R = a.shape[0]
    for c in prange(n_blocks):
        r0 = c * R // n_blocks
        r1 = (c + 1) * R // n_blocks
        np.dot(a[r0:r1], b, out[r0:r1])


@parallel_kernel
def weight_grad(d, col0, col1, inp, n_blocks, partial):
    """``partial[p] = d[rows_p, col0:col1].T @ inp[rows_p]`` over row blocks p.

    Summing ``partial`` over its first axis gives ``d[:, col0:col1].T @ inp``;
    the blocks depend only on ``n_blocks``, so the result does not depend on
    how many threads run them.
    """
    R = d.shape[0]
    for p in prange(n_blocks):
        r0 = p * R // n_blocks
        r1 = (p + 1) * R // n_blocks
        block = np.ascontiguousarray(d[r0:r1, col0:col1])
        np.dot(block.T, inp[r0:r1], partial[p])


# ------------------------------------------------------------------ streaming
@kernel
def step_layers(mode, x, h, h_out, weights_ih, weights_hh, xbiases, b_hns,
                xp, xw, gates, acc_wide, aux, acc_1, acc_2, hp):
    """One time step through every layer of a unidirectional stack.

    ``x`` (B, I); ``h`` and ``h_out`` (L, B, H) (may be the same array); the
    per-layer weights come as tuples. The remaining arguments are scratch
    arrays (B, width) reused across calls, so nothing is allocated here:
    ``xp``, ``gates`` (G*H), ``xw`` (rows of ``weight_ih``), ``acc_wide``
    (3H or 2H), ``aux``, ``acc_1``, ``acc_2``, ``hp`` (H).
    """
    GH = xp.shape[1]
    for layer in range(h.shape[0]):
        W = weights_ih[layer]
        xbias = xbiases[layer]
        col0 = GH - W.shape[0]
        _matmul_nt(x if layer == 0 else h_out[layer - 1], W, xw)
        for i in range(xp.shape[0]):
            for j in range(col0):
                xp[i, j] = xbias[j]
            for j in range(col0, GH):
                xp[i, j] = xw[i, j - col0] + xbias[j]
        hp[:] = h[layer]
        cell_forward(mode, xp, weights_hh[layer], b_hns[layer], hp, h_out[layer],
                     gates, aux, acc_wide, acc_1, acc_2)
