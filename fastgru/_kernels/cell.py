"""The GRU cell: its modes, one step forward and its backward side by side.

Four cell *modes* cover the six public variants (see :mod:`fastgru._variants`):

``RESET_AFTER``   "torch": ``n = tanh(xn + r * (U_n h + b_hn))``.
``RESET_BEFORE``  "cho", "gru1", "gru2": ``n = tanh(xn + U_n (r * h))``;
                  gates ``r, z`` from ``xproj`` plus ``U_rz h``.
``BIAS_GATES``    "gru3": as RESET_BEFORE but ``r, z`` from ``xproj`` only
                  (``U`` holds ``U_n`` alone).
``MGU``           "mgu": one gate ``f``; ``h' = h + f * (n - h)``.

:func:`cell_forward` runs one step for a block of rows: its recurrent product
as one matrix product (:func:`~fastgru._kernels.products.matmul`), then the
gate arithmetic in loops that LLVM vectorises. It stores the gate
activations and one auxiliary vector (``aux``: ``U_n h + b_hn`` for
RESET_AFTER, the gated state ``r*h`` or ``f*h`` otherwise), so that
:func:`cell_backward` recomputes no product: it gives the gradient of the
step's pre-activations (``dxp``) and of the recurrent products (``dhh``).
:func:`fold_biases` folds a cell's stored biases into ``xbias`` and ``b_hn``
(:func:`fold_input_biases`, :func:`hidden_bias`: its two parts),
and :func:`add_projection_bias` completes ``xproj`` from the input product.
The mode's shape rules (:func:`xbias_width`, :func:`recurrent_rows`,
:func:`input_rows_fit`, :func:`gate_product_width`, :func:`dhh_width`) live
here once: the kernels, the engine, the gufunc and the variants' table
(:mod:`fastgru._variants`) read them.

Imports :mod:`~fastgru._kernels.products`.
"""

import types

import numpy as np

from .._activations import sigmoid, tanh
from .._config import helper, inlined_kernel, kernel
from .products import ACCUMULATE, OVERWRITE

RESET_AFTER = 0
RESET_BEFORE = 1
BIAS_GATES = 2
MGU = 3


#: In a kernel's copy for one mode (:func:`copy_for_mode`), that mode; -1 in
#: the kernels that take any mode.
FIXED_MODE = -1


def copy_for_mode(dispatcher, mode, name, **names):
    """A copy of the kernel ``dispatcher`` for ``mode`` alone, named ``name``.

    The kernels that run the cell start with ``if FIXED_MODE >= 0: mode =
    FIXED_MODE``: in the copy, whose globals set :data:`FIXED_MODE`, the
    mode is a constant and LLVM drops the other modes' code before
    optimising it. From an empty cache, the default variant's ("torch")
    first forward compiled ~0.8 s less, a forward, training step and
    streaming step ~3.5 s less (measured on two cores); the copy is a
    kernel of its own, with its own cache entries. ``names``: globals that
    the copy reads instead (the copies of the kernels it calls). The copy
    sees the module's globals as they are when it is made: make it at the
    end of the module. The copy calls the cells of ``mode`` alone where
    there are such (:data:`_MODE_CELLS`: :func:`cell_forward_reset_after`,
    :func:`cell_backward_reset_after`).
    """
    func = dispatcher.py_func
    namespace = {**func.__globals__, "FIXED_MODE": mode, **_MODE_CELLS.get(mode, {}), **names}
    copy = types.FunctionType(func.__code__, namespace, name, func.__defaults__,
                              func.__closure__)
    copy.__qualname__ = name
    copy.__doc__ = f":func:`{func.__name__}` for mode {mode} alone (:func:`copy_for_mode`)."
    copy.__module__ = func.__module__
    return kernel(copy)


def for_mode(kernels, mode, rows=0):
    """The kernel of ``kernels`` (any mode, RESET_AFTER's copy, and optionally
    RESET_AFTER's copy for blocks of one row) that runs ``mode`` for blocks
    of at most ``rows`` rows (0: unknown)."""
    if mode != RESET_AFTER:
        return kernels[0]
    return kernels[2] if rows == 1 and len(kernels) > 2 else kernels[1]


# ------------------------------------------------------------------ the cell
# The gate loops run over 1-D views of one row and gate block each, and touch
# at most a few arrays per loop: LLVM vectorises a loop only when it can prove
# (or cheaply check at run time) that its stores do not overlap its loads, and
# a loop that reads gates[j] and writes gates[2H + j] of the same row defeats it.
@inlined_kernel
def cell_forward_reset_after(mode, gates, U, UT_g, UT_c, b_hn, hp, h, aux, acc_wide, acc_1,
                             acc_2, product, nt):
    """:func:`cell_forward` for RESET_AFTER (``mode`` is not read): what the
    kernels' copies for that mode inline (:func:`copy_for_mode`), so that
    Numba types and lowers none of the other modes' code (their product
    calls and loops, which LLVM dropped only after optimising: from an
    empty cache, a first forward ~0.3 s less, measured)."""
    n_rows, H = hp.shape
    product(hp, UT_g, U, acc_wide, OVERWRITE, acc_wide, nt)
    for i in range(n_rows):
        g_rz, a_rz = gates[i, : 2 * H], acc_wide[i, : 2 * H]
        for j in range(2 * H):
            g_rz[j] = sigmoid(g_rz[j] + a_rz[j])
        r, z, c = gates[i, :H], gates[i, H : 2 * H], gates[i, 2 * H :]
        a_n, aux_i, h_i, hp_i = acc_wide[i, 2 * H :], aux[i], h[i], hp[i]
        for j in range(H):
            aux_i[j] = a_n[j] + b_hn[j]
        for j in range(H):
            c[j] = tanh(c[j] + r[j] * aux_i[j])
        for j in range(H):
            h_i[j] = c[j] + z[j] * (hp_i[j] - c[j])


@inlined_kernel
def cell_forward(mode, gates, U, UT_g, UT_c, b_hn, hp, h, aux, acc_wide, acc_1, acc_2, product,
                 nt):
    """One step for a block of rows: ``h`` (n, H) = cell(``gates``, ``hp``).

    ``gates`` (n, G*H) holds the input projections with folded biases on
    entry and the gate activations, which BPTT needs, on exit: each gate
    overwrites its own pre-activation (a loop that loads and stores the same
    element through one array vectorises). So the projections' buffer is
    the gates' cache, and a training forward writes no second array of
    that size. ``hp`` (n, H) the previous states (not aliased with ``h``);
    ``aux`` (n, H) receives the other vector BPTT needs; ``acc_wide`` (n,
    3H or 2H) and ``acc_1``, ``acc_2`` (n, H) are scratch. ``UT_g`` and
    ``UT_c`` are contiguous transposes of ``U``'s gate rows (all rows for
    RESET_AFTER) and candidate rows, or empty (see :func:`matmul`).
    ``product`` is the product kernel, :func:`matmul` or
    :func:`matmul_nt_at`, and ``nt`` its last argument.
    """
    if mode == RESET_AFTER:
        cell_forward_reset_after(mode, gates, U, UT_g, UT_c, b_hn, hp, h, aux, acc_wide, acc_1,
                                 acc_2, product, nt)
        return
    n_rows, H = hp.shape
    # RESET_BEFORE, BIAS_GATES, MGU: the gates first, then the candidate from
    # the gated state aux = r * h (or f * h).
    n_gate = H if mode == MGU else 2 * H
    if mode == RESET_BEFORE:
        product(hp, UT_g, U[: 2 * H], acc_wide, OVERWRITE, acc_wide, nt)
    elif mode == MGU:
        product(hp, UT_g, U[:H], acc_1, OVERWRITE, acc_1, nt)
    for i in range(n_rows):
        g = gates[i, :n_gate]
        if mode == BIAS_GATES:
            for j in range(n_gate):
                g[j] = sigmoid(g[j])
        else:
            a_g = acc_wide[i, :n_gate] if mode == RESET_BEFORE else acc_1[i]
            for j in range(n_gate):
                g[j] = sigmoid(g[j] + a_g[j])
        r, aux_i, hp_i = gates[i, :H], aux[i], hp[i]
        for j in range(H):
            aux_i[j] = r[j] * hp_i[j]
    product(aux, UT_c, U[U.shape[0] - H :], acc_2, OVERWRITE, acc_2, nt)
    c0 = n_gate  # the candidate's block
    for i in range(n_rows):
        c, a_n = gates[i, c0 : c0 + H], acc_2[i]
        for j in range(H):
            c[j] = tanh(c[j] + a_n[j])
        h_i, hp_i = h[i], hp[i]
        # "torch"-direction update h' = c + z (h - c); MGU's h' = h + f (c - h)
        # is the same with z = 1 - f.
        if mode == MGU:
            f = gates[i, :H]
            for j in range(H):
                h_i[j] = hp_i[j] + f[j] * (c[j] - hp_i[j])
        else:
            z = gates[i, H : 2 * H]
            for j in range(H):
                h_i[j] = c[j] + z[j] * (hp_i[j] - c[j])


@inlined_kernel
def _pass_inactive_rows(active, dh, dxp, dhh, dhp, d_1):
    """:func:`cell_backward` for the rows with ``active[i]`` False: ``dh`` passes
    through to ``dhp``, and their gate gradients are zeros."""
    for i in range(dh.shape[0]):
        if not active[i]:
            dxp[i] = 0.0
            dhh[i] = 0.0
            d_1[i] = 0.0
            for j in range(dh.shape[1]):  # not dhp[i] = dh[i]: see launch.copy_rows
                dhp[i, j] = dh[i, j]


@inlined_kernel
def cell_backward_reset_after(mode, U, UT_g, UT_c, hp, gates, aux, dh, active, dxp, dhh, dhp,
                              d_1, tmp, product, nt):
    """:func:`cell_backward` for RESET_AFTER (``mode`` is not read), which the
    kernels' copies for that mode inline (see :func:`cell_forward_reset_after`)."""
    n_rows, H = hp.shape
    one = hp.dtype.type(1.0)
    _pass_inactive_rows(active, dh, dxp, dhh, dhp, d_1)
    for i in range(n_rows):
        if not active[i]:
            continue
        r, z, c = gates[i, :H], gates[i, H : 2 * H], gates[i, 2 * H :]
        dr, dz, dc = dxp[i, :H], dxp[i, H : 2 * H], dxp[i, 2 * H :]
        dh_i, hp_i, hn, dhn = dh[i], hp[i], aux[i], dhh[i, 2 * H :]
        for j in range(H):
            dc[j] = dh_i[j] * (one - z[j]) * (one - c[j] * c[j])
        for j in range(H):
            dr[j] = dc[j] * hn[j] * r[j] * (one - r[j])
        for j in range(H):
            dz[j] = dh_i[j] * (hp_i[j] - c[j]) * z[j] * (one - z[j])
        for j in range(H):
            dhn[j] = dc[j] * r[j]
        dhh_rz, dxp_rz, dhp_i = dhh[i, : 2 * H], dxp[i, : 2 * H], dhp[i]
        for j in range(2 * H):
            dhh_rz[j] = dxp_rz[j]
        for j in range(H):
            dhp_i[j] = dh_i[j] * z[j]
    product(dhh, U, UT_g, dhp, ACCUMULATE, tmp, nt)


@inlined_kernel
def cell_backward(mode, U, UT_g, UT_c, hp, gates, aux, dh, active, dxp, dhh, dhp, d_1, tmp,
                  product, nt):
    """Gradients of one step for a block of rows (twin of :func:`cell_forward`).

    ``dh`` (n, H): gradient of the new states. Rows with ``active[i]`` False
    pass ``dh`` through unchanged and get zero gate gradients. Writes ``dxp``
    (n, G*H): gradient of the gate pre-activations (= of ``xproj``); ``dhh``
    (n, dhh_width): gradient of the outputs of ``U``'s gate row blocks
    (RESET_AFTER: ``[dr, dz, d(U_n h + b_hn)]``; RESET_BEFORE and BIAS_GATES:
    ``[dr, dz]``; MGU: ``[df]``); ``dhp`` (n, H): gradient of the previous
    states. ``UT_g`` and ``UT_c`` are the transposes (contiguous) of ``U``'s
    gate rows (all rows for RESET_AFTER) and candidate rows, so that each
    product with ``U`` has both layouts (:func:`matmul`). ``d_1`` and ``tmp``
    (n, H) are scratch. ``product`` and ``nt`` as in :func:`cell_forward`.
    Inlined into ``backward_block``, its one caller: not compiled alone and
    again inside it (from an empty cache ~1 s less, measured).
    """
    if mode == RESET_AFTER:
        cell_backward_reset_after(mode, U, UT_g, UT_c, hp, gates, aux, dh, active, dxp, dhh, dhp,
                                  d_1, tmp, product, nt)
        return
    n_rows, H = hp.shape
    one = hp.dtype.type(1.0)
    _pass_inactive_rows(active, dh, dxp, dhh, dhp, d_1)
    n_gate = H if mode == MGU else 2 * H
    c0 = n_gate  # the candidate's block
    for i in range(n_rows):
        if not active[i]:
            continue
        c, dc, d1, dh_i, dhp_i = gates[i, c0 : c0 + H], dxp[i, c0 : c0 + H], d_1[i], dh[i], dhp[i]
        if mode == MGU:
            f = gates[i, :H]
            for j in range(H):
                d1[j] = dh_i[j] * f[j] * (one - c[j] * c[j])
            for j in range(H):
                dhp_i[j] = dh_i[j] * (one - f[j])
        else:
            z, dz, hp_i = gates[i, H : 2 * H], dxp[i, H : 2 * H], hp[i]
            for j in range(H):
                d1[j] = dh_i[j] * (one - z[j]) * (one - c[j] * c[j])
            for j in range(H):
                dz[j] = dh_i[j] * (hp_i[j] - c[j]) * z[j] * (one - z[j])
            for j in range(H):
                dhp_i[j] = dh_i[j] * z[j]
        for j in range(H):
            dc[j] = d1[j]
    # gradient of the gated state aux = r * h (or f * h), through U_n
    product(d_1, U[U.shape[0] - H :], UT_c, tmp, OVERWRITE, tmp, nt)
    for i in range(n_rows):
        if not active[i]:
            continue
        g, dg, t_i, hp_i, dhp_i = gates[i, :H], dxp[i, :H], tmp[i], hp[i], dhp[i]
        if mode == MGU:
            c, dh_i = gates[i, c0 : c0 + H], dh[i]
            for j in range(H):
                dg[j] = dh_i[j] * (c[j] - hp_i[j])
            for j in range(H):
                dg[j] = (dg[j] + t_i[j] * hp_i[j]) * g[j] * (one - g[j])
        else:
            for j in range(H):
                dg[j] = t_i[j] * hp_i[j] * g[j] * (one - g[j])
        for j in range(H):
            dhp_i[j] += t_i[j] * g[j]
        dhh_i, dxp_g = dhh[i], dxp[i, :n_gate]
        for j in range(n_gate):
            dhh_i[j] = dxp_g[j]
    if mode != BIAS_GATES:  # tmp is free again
        product(dhh, U[:n_gate], UT_g, dhp, ACCUMULATE, tmp, nt)


# ------------------------------------------------------------- shape rules
# A mode's widths and weight shapes, in one place: the kernels, the engine,
# the gufunc's check and the variants' table (fastgru._variants) read them.
# Plain Python too (helper).
@helper
def xbias_width(mode, H):
    """G*H: the width of ``xproj`` (2H for MGU, else 3H)."""
    return 2 * H if mode == MGU else 3 * H


@helper
def recurrent_rows(mode, H):
    """Rows of ``U`` (``weight_hh``): G*H, or H for BIAS_GATES (``U_n`` alone)."""
    return H if mode == BIAS_GATES else xbias_width(mode, H)


@helper
def input_rows_fit(mode, H, rows):
    """Whether ``weight_ih`` of ``rows`` rows fits the mode: G*H (every
    gate sees ``x``), or H (the candidate alone, "gru1-3"; not MGU)."""
    return rows == xbias_width(mode, H) or (rows == H and mode != MGU)


@helper
def gate_product_width(mode, H):
    """Width of ``acc_wide``, the per-step product of :func:`cell_forward`:
    3H for RESET_AFTER (all of ``U`` at once), else 2H (the gates' rows)."""
    return 3 * H if mode == RESET_AFTER else 2 * H


def dhh_width(mode, H):
    """Width of ``dhh``: the gate products of ``U`` (without the candidate's)."""
    if mode == RESET_AFTER:
        return 3 * H
    if mode == MGU:
        return H
    return 2 * H


# ------------------------------------------------------ the input projection
@inlined_kernel
def add_projection_bias(out, part, xbias):
    """Complete ``out`` (n, G*H) = ``[0 | x @ W.T] + xbias`` from the product.

    ``W`` (``weight_ih``, GW rows) feeds the last GW columns of ``out``. When
    it feeds all of them (GW = G*H) the caller wrote the product into ``out``
    itself and passes ``part`` as ``out``: the biases are added in place.
    Otherwise ``part`` (n, GW) holds the product. The engine's projection,
    the one-sequence path, the streaming step and the gufunc all end here.
    """
    n, GH = out.shape
    col0 = GH - part.shape[1]
    if col0 == 0:
        # in place: a loop that reads part_i and writes row, the same memory,
        # would fail LLVM's overlap check and run scalar (measured: inference
        # at batch 256, hidden 32 1.2x the time)
        for i in range(n):
            row = out[i]
            for j in range(GH):
                row[j] += xbias[j]
        return
    for i in range(n):
        row, part_i = out[i], part[i]
        for j in range(col0):
            row[j] = xbias[j]
        for j in range(col0, GH):
            row[j] = part_i[j - col0] + xbias[j]


# --------------------------------------------------------------------- biases
@inlined_kernel
def fold_input_biases(mode, b1, b2, xbias):
    """Fold a cell's stored biases into ``xbias`` (G*H,): the part of
    :func:`fold_biases` that the input projection adds.

    Inlined into :func:`~fastgru._kernels.large_products.project_block`,
    which folds the biases itself: a first forward compiles no kernel of
    its own for them.
    """
    GH = xbias.shape[0]
    off = GH - b1.shape[0]
    n2 = min(b2.shape[0], 2 * (GH // 3)) if mode == RESET_AFTER else b2.shape[0]
    # each loop writes one 1-D view from one other (so that it vectorises)
    for j in range(off):
        xbias[j] = 0.0
    tail = xbias[off:]
    for j in range(b1.shape[0]):
        tail[j] = b1[j]
    head = xbias[:n2]
    for j in range(n2):
        head[j] += b2[j]


@inlined_kernel
def fold_biases(mode, b1, b2, xbias, b_hn):
    """Fold a cell's stored biases into ``xbias`` (G*H,) and ``b_hn`` (H,).

    ``b1`` is added to the last ``len(b1)`` entries of ``xbias`` (``bias_ih``,
    or the single ``bias`` of "gru1-3"/"mgu"); ``b2`` (``bias_hh`` of "torch"
    and "cho", else empty) is added to the first entries, except that
    RESET_AFTER keeps its candidate block apart as ``b_hn``
    (:func:`hidden_bias` gives it without a kernel). Inlined into its
    callers (the streaming step, the one-sequence forward, the gufunc).
    """
    fold_input_biases(mode, b1, b2, xbias)
    H = b_hn.shape[0]
    if mode == RESET_AFTER and b2.shape[0] > 0:
        b_n = b2[2 * H :]
        for j in range(H):
            b_hn[j] = b_n[j]
    else:
        for j in range(H):
            b_hn[j] = 0.0


def hidden_bias(mode, b2, hidden):
    """``b_hn`` of :func:`fold_biases` (H,), in plain Python: a view of
    ``b2`` for RESET_AFTER with a ``bias_hh``, else zeros."""
    if mode == RESET_AFTER and b2.shape[0] > 0:
        return b2[2 * hidden : 3 * hidden]
    return np.zeros(hidden, dtype=b2.dtype)


#: The cells that a kernel's copy for a mode calls in place of the cells
#: for any mode (:func:`copy_for_mode`).
_MODE_CELLS = {RESET_AFTER: {"cell_forward": cell_forward_reset_after,
                             "cell_backward": cell_backward_reset_after}}
