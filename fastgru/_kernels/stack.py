"""One call through every layer of a unidirectional stack.

:func:`step_layers` is the streaming step (one time step, every layer);
:func:`forward_one` the inference of one sequence (batch 1), which calls the
block kernels ``project_block`` and ``forward_block`` through their compiled
C wrappers (addresses from ``fastgru._engine.forward_one_addresses``, so this
module imports neither :mod:`~fastgru._kernels.large_products` nor
:mod:`~fastgru._kernels.sequence`). Both take a flat scratch buffer (:func:`step_scratch_size`,
:func:`forward_one_scratch_size`) and cut it into views
(:func:`_rows_view`), so that nothing is allocated per call.

Imports :mod:`~fastgru._kernels.products`, :mod:`~fastgru._kernels.launch`
and :mod:`~fastgru._kernels.cell`.
"""

import numpy as np
from numba.core import types as nb_types
from numba.core.imputils import impl_ret_borrowed
from numba.extending import intrinsic

from .._config import helper, kernel
from .._numba_compat import as_block_function
from .cell import (
    FIXED_MODE,
    RESET_AFTER,
    add_projection_bias,
    cell_forward,
    copy_for_mode,
    fold_biases,
    gate_product_width,
    xbias_width,
)
from .launch import copy_rows, refresh_copy, transpose_block
from .products import OVERWRITE, matmul_stored

# A flag passed as a plain bool (forward_one's calls), a NumPy boolean as
# products.OVERWRITE and ACCUMULATE are (one compile, not one per value).
NO = np.bool_(False)


@kernel
def step_layers(mode, x, h, h_out, weights_ih, weights_hh, b1s, b2s, scratch):
    """One time step through every layer of a unidirectional stack.

    ``x`` (B, I); ``h`` and ``h_out`` (L, B, H) (may be the same array); the
    per-layer weights and stored biases come as tuples; ``scratch`` is a flat
    buffer of at least ``step_scratch_size`` elements, reused across calls, so
    nothing is allocated. Returns False, before writing anything, when ``x``
    or ``h`` holds NaN or inf.
    """
    if FIXED_MODE >= 0:  # a copy for one mode (cell.copy_for_mode)
        mode = FIXED_MODE
    L, B, H = h.shape
    GH = xbias_width(mode, H)
    for v in x.ravel():
        if not np.isfinite(v):
            return False
    for v in h.ravel():
        if not np.isfinite(v):
            return False
    wide = gate_product_width(mode, H)
    n_w = weights_ih[0].shape[0]
    if scratch.size < step_scratch_size(mode, B, H, n_w):
        raise ValueError("step_layers: scratch too small")
    o = 0
    xp = _rows_view(scratch, o, B, GH)  # the projections, then the gates
    o += B * GH
    xw = _rows_view(scratch, o, B, n_w)
    o += B * n_w
    acc_wide = _rows_view(scratch, o, B, wide)
    o += B * wide
    aux = _rows_view(scratch, o, B, H)
    o += B * H
    acc_1 = _rows_view(scratch, o, B, H)
    o += B * H
    acc_2 = _rows_view(scratch, o, B, H)
    o += B * H
    hp = _rows_view(scratch, o, B, H)
    o += B * H
    xbias = scratch[o : o + GH]
    o += GH
    b_hn = scratch[o : o + H]
    for layer in range(L):
        fold_biases(mode, b1s[layer], b2s[layer], xbias, b_hn)
        col0 = GH - n_w
        # no transposed copies of the weights here (they may change in place
        # between calls): empty row slices select the forms that need none
        W, U = weights_ih[layer], weights_hh[layer]
        inp = x if layer == 0 else h_out[layer - 1]
        # the product straight into xp where W feeds all of it, else into xw
        part = xp if col0 == 0 else xw
        matmul_stored(inp, W[:0], W, part, OVERWRITE, part, None)
        add_projection_bias(xp, part, xbias)
        copy_rows(hp, h[layer])
        cell_forward(mode, xp, U, U[:0], U[:0], b_hn, hp, h_out[layer], aux, acc_wide, acc_1,
                     acc_2, matmul_stored, None)
    return True


@kernel
def forward_one(mode, x, weights_ih, weights_t, weights_copy, weights_hh, hh_t, hh_copy, b1s,
                b2s, y, h_n, scratch, project_address, forward_address, gemm_addresses, nt_address):
    """Inference of one sequence (batch 1) through every layer of a
    unidirectional stack, in one call: what the engine's forward does for
    it in three kernel calls per layer and Python between them (a call of
    one step at hidden 64: 13.8 us that way, 4.6 us through this kernel).

    :func:`project_block` and :func:`forward_block` are called through their
    compiled C wrappers at ``project_address`` and ``forward_address``
    (``fastgru._engine.forward_one_addresses``, with ``gemm_addresses``, the
    projections' products per layer, and ``nt_address``, the recurrent
    products' ``nt_product`` or 0, as :func:`run_parallel` calls the blocks): called
    directly, Numba optimised their bodies again inside this kernel, and
    the first forward of one sequence compiled for 15.3 s from an empty
    cache instead of 13.3.

    ``x`` (1, T, I) and ``y`` (1, T, H): for one sequence, batch-first is
    time-major. ``h_n`` (L, 1, H) receives the last states. Per layer, as
    tuples: the weights and stored biases; ``weights_t``, the input
    weights' transposes for the tiles of :func:`project_block` (empty where
    it runs in BLAS), made again only where ``refresh_copy`` finds the
    weights changed since ``weights_copy``; ``hh_t`` and ``hh_copy`` the
    same for the recurrent weights, as pairs (gate rows, candidate rows)
    per layer: the transposes of ``U``'s first ``hh_copy[layer][0].shape[0]``
    rows and of its last H, which the single-row products read in the
    tiles (``products.row_tiled``; empty where they do not, as the engine
    passes them for a block of one row). ``scratch`` holds at least
    :func:`forward_one_scratch_size` elements. Returns False, before writing
    anything, when ``x`` holds NaN or inf.
    """
    T = x.shape[1]
    L, _, H = h_n.shape
    for v in x.ravel():
        if not np.isfinite(v):
            return False
    GH = xbias_width(mode, H)
    if scratch.size < forward_one_scratch_size(mode, T, H):
        raise ValueError("forward_one: scratch too small")
    xproj = _rows_view(scratch, 0, T, GH)
    below = _rows_view(scratch, T * GH, T, H)  # a layer's output for the next
    xbias = scratch[T * (GH + H) : T * (GH + H) + GH]
    b_hn = scratch[T * (GH + H) + GH : T * (GH + H) + GH + H]
    lengths = np.full(1, T, dtype=np.int64)
    unused = np.empty((1, 1, 1), dtype=x.dtype)  # hprev and aux: kept for training only
    one = np.int64(1)
    inp = x[0]
    for layer in range(L):
        W, W_t, U = weights_ih[layer], weights_t[layer], weights_hh[layer]
        fold_biases(mode, b1s[layer], b2s[layer], xbias, b_hn)
        if W_t.shape[0] > 0 and refresh_copy(W, weights_copy[layer]):
            transpose_block(0, 1, W, W_t)
        UT_g, UT_c = hh_t[layer]
        copy_g, copy_c = hh_copy[layer]
        if UT_g.shape[0] > 0 and refresh_copy(U[: copy_g.shape[0]], copy_g):
            transpose_block(0, 1, U[: copy_g.shape[0]], UT_g)
        if UT_c.shape[0] > 0 and refresh_copy(U[U.shape[0] - H :], copy_c):
            transpose_block(0, 1, U[U.shape[0] - H :], UT_c)
        args = (inp, W, W_t, mode, b1s[layer], b2s[layer], xproj, gemm_addresses[layer])
        as_block_function(project_address, args)(np.int64(0), one, *args)
        out = y[0] if layer == L - 1 else below
        h_last = h_n[layer]
        h_last[:] = 0.0
        args = (mode, xproj.reshape(T, 1, GH), U, UT_g, UT_c, b_hn, lengths, NO, NO,
                out.reshape(T, 1, H), h_last, unused, unused, nt_address)
        as_block_function(forward_address, args)(np.int64(0), one, *args)
        inp = out
    return True


@helper
def forward_one_scratch_size(mode, T, hidden):
    """Elements of the flat scratch buffer :func:`forward_one` needs."""
    GH = xbias_width(mode, hidden)
    return T * (GH + hidden) + GH + hidden


@intrinsic
def _rows_view(typingctx, flat, start, rows, cols):
    """``flat[start : start + rows * cols].reshape(rows, cols)`` (``flat`` 1-D,
    C-contiguous; the caller keeps the range inside it) without reshape's
    call into Numba's C helper: the step's seven scratch views cost 25 ns
    each through reshape, a seventh of a batch-1 step."""
    view_type = nb_types.Array(flat.dtype, 2, "C")
    sig = view_type(flat, start, rows, cols)

    def codegen(context, builder, signature, args):
        src = context.make_array(signature.args[0])(context, builder, args[0])
        view = context.make_array(view_type)(context, builder)
        first, n_rows, n_cols = (context.cast(builder, v, t, nb_types.intp)
                                 for v, t in zip(args[1:], signature.args[1:]))
        itemsize = context.get_constant(
            nb_types.intp, context.get_abi_sizeof(context.get_data_type(view_type.dtype)))
        context.populate_array(view, data=builder.gep(src.data, [first]),
                               shape=[n_rows, n_cols],
                               strides=[builder.mul(n_cols, itemsize), itemsize],
                               itemsize=itemsize, meminfo=src.meminfo)
        return impl_ret_borrowed(context, builder, view_type, view._getvalue())

    return sig, codegen


@helper
def step_scratch_size(mode, batch, hidden, ih_rows):
    """Elements of the flat scratch buffer :func:`step_layers` needs."""
    GH = xbias_width(mode, hidden)
    wide = gate_product_width(mode, hidden)
    return batch * (GH + ih_rows + wide + 4 * hidden) + GH + hidden


# at the end: the copy's globals are this module's as they are now
#: (any mode, RESET_AFTER's copy): see ``cell.for_mode``.
STEP = (step_layers, copy_for_mode(step_layers, RESET_AFTER, "step_layers_reset_after"))
