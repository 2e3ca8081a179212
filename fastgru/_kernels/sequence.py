"""The time loops of a row block: the forward pass and BPTT.

:func:`forward_block` runs a block of rows through all steps of
:func:`~fastgru._kernels.cell.cell_forward` on contiguous time-major slices;
in training it keeps the gate activations (``xproj`` becomes them), the
previous state (``hprev``: when every row runs every step, a view of the
outputs shifted by one step, not a copy) and ``aux``. :func:`backward_block`
runs :func:`~fastgru._kernels.cell.cell_backward` backwards through the
steps. The weight gradients are products of the steps' gradients with their
inputs, either every few steps inside BPTT (:func:`chunk_weight_grads`, in the
tiles of :func:`~fastgru._kernels.products.gemm_tn_add`) or as a few large
products over all T*B rows after it
(:func:`fastgru._kernels.large_products.weight_grad_block`).

Imports :mod:`~fastgru._kernels.products`, :mod:`~fastgru._kernels.launch`
and :mod:`~fastgru._kernels.cell`.
"""

import numpy as np

from .._config import kernel, linked_kernel
from .cell import (
    BIAS_GATES,
    FIXED_MODE,
    RESET_AFTER,
    cell_backward,
    cell_forward,
    copy_for_mode,
    gate_product_width,
)
from .launch import block_rows, copy_rows, copy_vector, min_max
from .products import _add_tn, call_product, fills_strip, matmul_nt_at, matmul_row_at


@kernel
def forward_block(block, n_blocks, mode, xproj, U, UT_g, UT_c, b_hn, lengths, reverse,
                  training, y, h_last, hprev, aux, nt):
    """Run one row block through all steps; ``h_last`` holds h0 on entry.

    ``xproj`` (T, B, G*H) holds the input projections on entry and the gate
    activations on exit (:func:`cell_forward`). ``training`` keeps each
    step's ``aux``, and its ``hprev`` (the state before the step) unless
    ``hprev`` is empty: then the caller reads it from ``y`` (the previous
    step's output, or h0), which needs every row to run every step. A block
    whose rows all run every step takes :func:`forward_block_full`. ``nt``:
    the address of :func:`~fastgru._kernels.products.gemm_nt` for the
    per-step product, or 0 where it never runs there (see
    ``fastgru._engine.recurrent_nt_address``), for
    :func:`~fastgru._kernels.products.matmul_nt_at`.
    """
    if FIXED_MODE >= 0:  # a copy for one mode (cell.copy_for_mode)
        mode = FIXED_MODE
    r0, r1 = block_rows(h_last.shape[0], block, n_blocks)
    T = xproj.shape[0]
    lens = lengths[r0:r1]
    min_len, max_len = min_max(lens)
    if min_len == T and (not training or hprev.shape[0] == 0):
        forward_block_full(block, n_blocks, mode, xproj, U, UT_g, UT_c, b_hn, lengths, reverse,
                           training, y, h_last, hprev, aux, nt)
        return
    H = h_last.shape[1]
    n = r1 - r0
    dt = xproj.dtype
    wide = gate_product_width(mode, H)
    acc_wide = np.empty((n, wide), dtype=dt)
    acc_1 = np.empty((n, H), dtype=dt)
    acc_2 = np.empty((n, H), dtype=dt)
    aux_scratch = np.empty((n, H), dtype=dt)
    hp_scratch = np.empty((n, H), dtype=dt)
    h = h_last[r0:r1]
    for s in range(T):
        t = T - 1 - s if reverse else s
        y_t = y[t, r0:r1]
        if t >= max_len:
            y_t[:] = 0.0
            continue
        if training:
            a, hp = aux[t, r0:r1], hprev[t, r0:r1]
        else:
            a, hp = aux_scratch, hp_scratch
        copy_rows(hp, h)
        cell_forward(mode, xproj[t, r0:r1], U, UT_g, UT_c, b_hn, hp, h, a, acc_wide, acc_1, acc_2,
                     matmul_nt_at, nt)
        copy_rows(y_t, h)
        if t >= min_len:  # some rows have ended: keep their state, output zeros
            for i in range(n):
                if t >= lens[i]:
                    copy_vector(h[i], hp[i])
                    y_t[i] = 0.0


@kernel
def forward_block_full(block, n_blocks, mode, xproj, U, UT_g, UT_c, b_hn, lengths, reverse,
                       training, y, h_last, hprev, aux, nt):
    """:func:`forward_block` where every row runs every step (``lengths``
    all T, not read) and no ``hprev`` is kept: each step reads its states
    from the previous step's outputs and writes the new ones straight into
    ``y``, with no copies.

    A kernel of its own, which the engine calls when every sequence is full
    (a forward without ``lengths``): from an empty cache it compiles one
    inlined cell, not the two of :func:`forward_block`.
    """
    if FIXED_MODE >= 0:  # a copy for one mode (cell.copy_for_mode)
        mode = FIXED_MODE
    r0, r1 = block_rows(h_last.shape[0], block, n_blocks)
    T = xproj.shape[0]
    H = h_last.shape[1]
    n = r1 - r0
    dt = xproj.dtype
    wide = gate_product_width(mode, H)
    acc_wide = np.empty((n, wide), dtype=dt)
    acc_1 = np.empty((n, H), dtype=dt)
    acc_2 = np.empty((n, H), dtype=dt)
    aux_scratch = np.empty((n, H), dtype=dt)
    h = h_last[r0:r1]
    hp = h
    for s in range(T):
        t = T - 1 - s if reverse else s
        y_t = y[t, r0:r1]
        a = aux[t, r0:r1] if training else aux_scratch
        cell_forward(mode, xproj[t, r0:r1], U, UT_g, UT_c, b_hn, hp, y_t, a, acc_wide, acc_1,
                     acc_2, matmul_nt_at, nt)
        hp = y_t
    copy_rows(h, hp)


@kernel
def backward_block(block, n_blocks, mode, U, UT_g, UT_c, dy, dy_batch_first, dy_col, lengths,
                   reverse, hprev, gates, aux, x, W, chunk, dxp, dhh, dh, want_dx, dx, x_c,
                   hp_c, aux_c, dx_c, scratch_w, scratch_h, g_w, g_xs, g_uh, g_hs, g_uc, nn, tn,
                   nt):
    """BPTT for one row block; ``dh`` holds d(h_last) on entry, d(h0) on exit.

    ``dy``, the gradient of the outputs, is (T, B, width), or (B, T, width)
    if ``dy_batch_first`` (a caller's array, read without a transposing
    copy); this direction's columns start at ``dy_col``. An empty ``dy``
    adds nothing (the loss sees the final states only).

    With ``chunk`` 0, every step's gradients go to ``dxp`` and ``dhh`` (T, B,
    ...), for the caller's large products after the loop; padded steps leave
    them at zero. With ``chunk`` k > 0, ``dxp[block]`` and ``dhh[block]``
    (k*n, ...) collect k steps of this block's n rows, and each full chunk
    adds its share of the weight gradients to ``g_*[block]`` and (if
    ``want_dx``) writes its ``dx`` while its rows are still in cache
    (:func:`chunk_weight_grads`):
    after the loop, the T*B rows of every gradient come back from memory
    (products a quarter to a third slower, measured). ``x_c``, ``hp_c``,
    ``aux_c`` and ``dx_c`` (n_blocks, k*n, width) collect the chunk's rows
    of ``x``, ``hprev``, ``aux`` (other modes than RESET_AFTER) and ``dx``;
    ``scratch_w`` and ``scratch_h`` take the columns of ``dxp`` of
    ``weight_ih`` ("gru1-3") and of the candidate (other modes than
    RESET_AFTER). Unused ones may be empty. ``nn`` and ``tn``: the
    addresses of ``gemm_nn`` and ``gemm_tn_add`` for the dtype (``tn`` 0
    with ``chunk`` 0: it does not run), which
    :func:`chunk_weight_grads` calls (two integers, not a tuple: the
    parallel launch passes no nested tuple); ``nt`` as in
    :func:`forward_block`.
    """
    if FIXED_MODE >= 0:  # a copy for one mode (cell.copy_for_mode)
        mode = FIXED_MODE
    r0, r1 = block_rows(dh.shape[0], block, n_blocks)
    T = gates.shape[0]
    H = dh.shape[1]
    n = r1 - r0
    dt = dh.dtype
    has_dy = dy.size > 0
    dhp = np.empty((n, H), dtype=dt)
    d_1 = np.empty((n, H), dtype=dt)
    tmp = np.empty((n, H), dtype=dt)
    active = np.ones(n, dtype=np.bool_)
    dh_c = dh[r0:r1]
    lens = lengths[r0:r1]
    max_len = min_max(lens)[1]
    # the chunked path's per-block rows, and the steps they came from
    steps = np.empty(chunk, dtype=np.int64)
    products = (np.empty(g_w.shape[1:] if chunk > 0 else (0, 0), dtype=dt),
                np.empty(g_uh.shape[1:] if chunk > 0 else (0, 0), dtype=dt),
                np.empty(g_uc.shape[1:] if chunk > 0 else (0, 0), dtype=dt))
    if chunk > 0:
        g_w[block] = 0.0
        g_xs[block] = 0.0
        g_uh[block] = 0.0
        g_hs[block] = 0.0
        g_uc[block] = 0.0
    filled = 0  # steps in the current chunk
    for s in range(T - 1, -1, -1):
        t = T - 1 - s if reverse else s
        if t >= max_len:
            if chunk > 0:
                if want_dx:
                    dx[t, r0:r1] = 0.0
            else:
                dxp[t, r0:r1] = 0.0
                dhh[t, r0:r1] = 0.0
            continue
        for i in range(n):
            active[i] = t < lens[i]
            if active[i] and has_dy:
                dh_i = dh_c[i]
                dy_i = dy[r0 + i, t] if dy_batch_first else dy[t, r0 + i]
                for j in range(H):
                    dh_i[j] += dy_i[dy_col + j]
        if chunk > 0:
            o = filled * n
            dxp_t, dhh_t = dxp[block, o : o + n], dhh[block, o : o + n]
        else:
            dxp_t, dhh_t = dxp[t, r0:r1], dhh[t, r0:r1]
        cell_backward(mode, U, UT_g, UT_c, hprev[t, r0:r1], gates[t, r0:r1], aux[t, r0:r1],
                      dh_c, active, dxp_t, dhh_t, dhp, d_1, tmp, matmul_nt_at, nt)
        copy_rows(dh_c, dhp)
        if chunk == 0:
            continue
        if chunk > 1:
            copy_rows(x_c[block, o : o + n], x[t, r0:r1])
            copy_rows(hp_c[block, o : o + n], hprev[t, r0:r1])
            if mode != RESET_AFTER:
                copy_rows(aux_c[block, o : o + n], aux[t, r0:r1])
            steps[filled] = t
        filled += 1
        if filled < chunk and t != (max_len - 1 if reverse else 0):
            continue
        # a full chunk, or the last step: its weight gradients (and dx). One
        # call for both kinds of chunk (each call site is another copy of the
        # products to compile): a chunk of one step reads the step's rows in
        # place, not copied (batch 256: 2-6% faster, noisy)
        rows = filled * n
        if chunk == 1:
            c_x, c_hp, c_aux, c_dx = x[t, r0:r1], hprev[t, r0:r1], aux[t, r0:r1], dx[t, r0:r1]
        else:
            c_x, c_hp, c_aux = x_c[block, :rows], hp_c[block, :rows], aux_c[block, :rows]
            c_dx = dx_c[block, :rows]
        chunk_weight_grads(mode, dxp[block, :rows], dhh[block, :rows], c_x, c_hp, c_aux, W,
                           want_dx, c_dx, g_w[block], g_xs[block], g_uh[block], g_hs[block],
                           g_uc[block], scratch_w[block, :rows], scratch_h[block, :rows],
                           products, nn, tn)
        if chunk > 1 and want_dx:
            for k in range(filled):
                copy_rows(dx[steps[k], r0 : r0 + n], dx_c[block, k * n : (k + 1) * n])
        filled = 0


@linked_kernel
def chunk_weight_grads(mode, dxp, dhh, x, hp, aux, W, want_dx, dx, g_w, g_xs, g_uh, g_hs, g_uc,
                       scratch_w, scratch_h, products, nn, tn):
    """A chunk of rows' share of the weight and bias gradients, and its ``dx``
    if ``want_dx``.

    Adds ``dxp[:, col0:].T @ x`` to ``g_w`` (``weight_ih`` feeds the last
    ``W.shape[0]`` columns), ``dhh.T @ hp`` to ``g_uh`` (U's gate rows; all of
    U for RESET_AFTER), ``dxp[:, cand].T @ aux`` to ``g_uc`` (the candidate's
    rows of U for the other modes), the column sums of ``dxp[:, col0:]`` and
    ``dhh`` to ``g_xs`` and ``g_hs``; writes ``dx = dxp[:, col0:] @ W`` if
    ``want_dx``.
    The products run in the tiles (:func:`gemm_tn_add` adds in place), or in
    BLAS where the inputs are narrower than a SIMD vector (:func:`fills_strip`).
    ``scratch_w`` and ``scratch_h`` (rows, GW and H) take the column blocks
    of ``dxp`` that are not at its start; ``products``, a tuple of scratch
    arrays shaped like ``g_w``, ``g_uh`` and ``g_uc``, receive BLAS's
    products before they are added. ``nn`` and ``tn``: the addresses of
    :func:`~fastgru._kernels.products.gemm_nn` and
    :func:`~fastgru._kernels.products.gemm_tn_add` for the dtype
    (:func:`~fastgru._kernels.products.product_address`), called, not linked.
    A kernel of its own, linked: inlined into :func:`backward_block` it
    compiled ~0.5 s less from an empty cache, but a training step at batch
    128 took ~4% longer (measured).
    """
    n, GH = dxp.shape
    H = hp.shape[1]
    GW = W.shape[0]
    col0 = GH - GW
    p_w, p_uh, p_uc = products
    if col0 == 0:
        d_w = dxp
    else:
        d_w = scratch_w
        for i in range(n):
            copy_vector(d_w[i], dxp[i, col0:])
    _add_tn(tn, d_w, x, g_w, p_w)
    if want_dx and fills_strip(W.shape[1], W.itemsize):
        call_product(nn, d_w, W, dx)
    elif want_dx:
        np.dot(d_w, W, dx)
    for i in range(n):
        row = d_w[i]
        for j in range(GW):
            g_xs[j] += row[j]
        row_h = dhh[i]
        for j in range(dhh.shape[1]):
            g_hs[j] += row_h[j]
    if mode != BIAS_GATES:
        _add_tn(tn, dhh, hp, g_uh, p_uh)
    if mode != RESET_AFTER:
        cand = scratch_h
        for i in range(n):
            copy_vector(cand[i], dxp[i, GH - H :])
        _add_tn(tn, cand, aux, g_uc, p_uc)


# The copies for RESET_AFTER (the default variant, "torch"), which the engine
# chooses from (cell.for_mode): any mode, RESET_AFTER, and RESET_AFTER for
# blocks of one row (batch 1, or 2 on two threads), whose per-step products
# (products.matmul_row_at) never run gemm_nn: its tiles are not generated
# again there (from an empty cache, a first forward of one sequence ~0.6 s
# less, and its backward as much, measured).
FORWARD_FULL = (forward_block_full,
                copy_for_mode(forward_block_full, RESET_AFTER, "forward_block_full_reset_after"),
                copy_for_mode(forward_block_full, RESET_AFTER,
                              "forward_block_full_row_reset_after", matmul_nt_at=matmul_row_at))
FORWARD = (forward_block, copy_for_mode(forward_block, RESET_AFTER, "forward_block_reset_after",
                                        forward_block_full=FORWARD_FULL[1]))
BACKWARD = (backward_block,
            copy_for_mode(backward_block, RESET_AFTER, "backward_block_reset_after"),
            copy_for_mode(backward_block, RESET_AFTER, "backward_block_row_reset_after",
                          matmul_nt_at=matmul_row_at))
