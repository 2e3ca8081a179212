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
as one matrix product (``(rows, H) @ (H, G*H)``, :func:`matmul`: the tiles
of :func:`gemm_nn`, or :func:`gemm_nt` for a single row) on contiguous
time-major slices, then the gate arithmetic in loops that LLVM vectorises. The
forward pass stores the gate activations (``gates``), the previous state
(``hprev``: when every row runs every step, a view of the outputs shifted by
one step, not a copy) and one auxiliary vector (``aux``: ``U_n h + b_hn``
for RESET_AFTER, the gated state ``r*h`` or ``f*h`` otherwise), so BPTT
recomputes no product. BPTT computes the gradient of every step's
pre-activations (``dxp``) and of the recurrent products (``dhh``); the weight
gradients are products of these with the steps' inputs, either every few
steps inside BPTT (:func:`chunk_weight_grads`, in the tiles of
:func:`gemm_tn_add`) or as a few large products over all T*B rows after it
(:func:`weight_grad_block`).

Each blocked kernel is a serial body for one row block, ``*_block(block,
n_blocks, ...)`` (its rows from :func:`block_rows`). The engine calls it
directly when there is one block or one thread, and otherwise hands it to
:func:`run_parallel`, the one ``prange`` kernel, as a function pointer.
BLAS inside runs single-threaded (the caller limits BLAS to one thread), so
Numba's threads are the only ones working.
"""

import numpy as np
from llvmlite import ir
from numba import prange
from numba.core import cgutils
from numba.core import types as nb_types
from numba.core.imputils import impl_ret_borrowed
from numba.extending import intrinsic, register_jitable

from . import _config
from ._activations import sigmoid, tanh
from ._config import inlined_kernel, kernel, parallel_kernel

RESET_AFTER = 0
RESET_BEFORE = 1
BIAS_GATES = 2
MGU = 3

# ------------------------------------------------------- the per-step product
# The ``accumulate`` flag of the products. As NumPy booleans they reach the
# kernels as plain ``bool``: with the literals True/False Numba compiles
# matmul and gemm_nt once per value (measured: ~1 s more from an empty cache).
OVERWRITE = np.bool_(False)
ACCUMULATE = np.bool_(True)
NO = np.bool_(False)  # a flag passed as a plain bool (forward_one's calls)


@kernel
def gemm_nt(a, b, out, accumulate):
    """``out (+)= a @ b.T`` for C-contiguous ``a`` (m, k), ``b`` (n, k), ``out`` (m, n).

    The products that read the weights as stored, without a transposed copy:
    a single row (batch 1), and the streaming step (:func:`step_layers`,
    whose weights may change between calls). Register-blocked over 4 rows of
    ``a`` and 2 rows of ``b`` (each load feeds several FMAs; the k loops
    vectorise); 40-110 GFLOP/s per core, below :func:`gemm_nn`'s tiles, as
    each output needs a horizontal sum of a vector.
    """
    m, k = a.shape
    n = b.shape[0]
    zero = a.dtype.type(0.0)
    i = 0
    while i + 4 <= m:
        a0, a1, a2, a3 = a[i], a[i + 1], a[i + 2], a[i + 3]
        o0, o1, o2, o3 = out[i], out[i + 1], out[i + 2], out[i + 3]
        j = 0
        while j + 2 <= n:
            bj, bk = b[j], b[j + 1]
            s0 = s1 = s2 = s3 = t0 = t1 = t2 = t3 = zero
            for kk in range(k):
                w, v = bj[kk], bk[kk]
                x0, x1, x2, x3 = a0[kk], a1[kk], a2[kk], a3[kk]
                s0 += x0 * w
                s1 += x1 * w
                s2 += x2 * w
                s3 += x3 * w
                t0 += x0 * v
                t1 += x1 * v
                t2 += x2 * v
                t3 += x3 * v
            if accumulate:
                s0 += o0[j]
                s1 += o1[j]
                s2 += o2[j]
                s3 += o3[j]
                t0 += o0[j + 1]
                t1 += o1[j + 1]
                t2 += o2[j + 1]
                t3 += o3[j + 1]
            o0[j], o1[j], o2[j], o3[j] = s0, s1, s2, s3
            o0[j + 1], o1[j + 1], o2[j + 1], o3[j + 1] = t0, t1, t2, t3
            j += 2
        if j < n:
            bj = b[j]
            s0 = s1 = s2 = s3 = zero
            for kk in range(k):
                w = bj[kk]
                s0 += a0[kk] * w
                s1 += a1[kk] * w
                s2 += a2[kk] * w
                s3 += a3[kk] * w
            if accumulate:
                s0 += o0[j]
                s1 += o1[j]
                s2 += o2[j]
                s3 += o3[j]
            o0[j], o1[j], o2[j], o3[j] = s0, s1, s2, s3
        i += 4
    while i < m:  # the last rows (all of them for the streaming step's one row)
        ai, oi = a[i], out[i]
        j = 0
        while j + 4 <= n:
            b0, b1, b2, b3 = b[j], b[j + 1], b[j + 2], b[j + 3]
            s0 = s1 = s2 = s3 = zero
            for kk in range(k):
                x = ai[kk]
                s0 += x * b0[kk]
                s1 += x * b1[kk]
                s2 += x * b2[kk]
                s3 += x * b3[kk]
            if accumulate:
                s0 += oi[j]
                s1 += oi[j + 1]
                s2 += oi[j + 2]
                s3 += oi[j + 3]
            oi[j], oi[j + 1], oi[j + 2], oi[j + 3] = s0, s1, s2, s3
            j += 4
        while j < n:
            bj = b[j]
            s = zero
            for kk in range(k):
                s += ai[kk] * bj[kk]
            oi[j] = s + oi[j] if accumulate else s
            j += 1
        i += 1


# ------------------------------------------------- the per-step product, tiled
@intrinsic
def _fma_tile(typingctx, a, b, out, i, j, rows, n_vec, cols, trans_a, accumulate):
    """``out[i:i+rows, j:j+w] (+)= A[i:i+rows] @ b[:, j:j+w]`` where ``A`` is
    ``a`` (m, k), or ``a.T`` for ``a`` (k, m) when ``trans_a``; ``b`` (k, n)
    and ``out`` (m, n). Arrays have contiguous rows (not checked here: the
    callers do). ``w`` is ``n_vec`` SIMD vectors of columns; ``cols`` is None
    for a full tile, or the number of its columns that exist (masked loads and
    stores touch no others). ``accumulate`` adds to ``out``, else overwrites
    it. ``rows``, ``n_vec``, ``trans_a`` and ``accumulate`` are literals.

    Written in LLVM IR: the ``rows * n_vec`` accumulators are vector values
    that stay in registers across the ``k`` loop, and each step broadcasts
    one element of every row of ``A`` against ``n_vec`` vectors of a row of
    ``b`` (an outer product: no horizontal sums). Numba's loops could not
    say this.
    """
    literals = (rows, n_vec, trans_a, accumulate)
    if not all(isinstance(v, (nb_types.IntegerLiteral, nb_types.BooleanLiteral))
               for v in literals):
        return None
    n_rows, n_vecs, transposed, adds = (v.literal_value for v in literals)
    masked = not isinstance(cols, nb_types.NoneType)
    sig = nb_types.none(a, b, out, nb_types.intp, nb_types.intp, rows, n_vec,
                        nb_types.intp if masked else cols, trans_a, accumulate)

    def codegen(context, builder, signature, args):
        arr_a, arr_b, arr_out = (context.make_array(ty)(context, builder, v)
                                 for ty, v in zip(signature.args[:3], args[:3]))
        i0, j0 = args[3], args[4]
        scalar = context.get_data_type(signature.args[0].dtype)
        size = context.get_abi_sizeof(scalar)
        lanes = _config.VECTOR_BYTES // size
        vec = ir.VectorType(scalar, lanes)
        index = ir.IntType(64)
        i32 = ir.IntType(32)
        name = f"v{lanes}f{8 * size}"
        fma = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(vec, [vec] * 3), f"llvm.fma.{name}")

        def const(v):
            return ir.Constant(index, v)

        def row_stride(arr):  # in elements (rows are contiguous)
            return builder.sdiv(builder.extract_value(arr.strides, 0), const(size))

        k = builder.extract_value(arr_a.shape, 0 if transposed else 1)
        lda, ldb, ldo = row_stride(arr_a), row_stride(arr_b), row_stride(arr_out)

        def vector_at(ptr, offset):
            return builder.bitcast(builder.gep(ptr, [offset]), vec.as_pointer())

        masks = [None] * n_vecs
        if masked:  # lane l of vector c exists where c * lanes + l < cols
            # (the intrinsics' names as LLVM with typed pointers spells them;
            # LLVM with opaque pointers upgrades them on reading the IR)
            mask_type = ir.VectorType(ir.IntType(1), lanes)
            masked_load = cgutils.get_or_insert_function(
                builder.module,
                ir.FunctionType(vec, [vec.as_pointer(), i32, mask_type, vec]),
                f"llvm.masked.load.{name}.p0{name}")
            masked_store = cgutils.get_or_insert_function(
                builder.module,
                ir.FunctionType(ir.VoidType(), [vec, vec.as_pointer(), i32, mask_type]),
                f"llvm.masked.store.{name}.p0{name}")
            n_cols = builder.trunc(args[7], i32)
            splat_cols = builder.shuffle_vector(
                builder.insert_element(ir.Constant(ir.VectorType(i32, lanes), ir.Undefined),
                                       n_cols, ir.Constant(i32, 0)),
                ir.Constant(ir.VectorType(i32, lanes), ir.Undefined),
                ir.Constant(ir.VectorType(i32, lanes), [0] * lanes))
            masks = [builder.icmp_signed(
                "<", ir.Constant(ir.VectorType(i32, lanes), [c * lanes + v for v in range(lanes)]),
                splat_cols) for c in range(n_vecs)]

        def load(ptr, mask):
            if mask is None:
                return builder.load(ptr, align=1)
            return builder.call(masked_load, [ptr, ir.Constant(i32, 1), mask,
                                              ir.Constant(vec, None)])

        def store(value, ptr, mask):
            if mask is None:
                builder.store(value, ptr, align=1)
            else:
                builder.call(masked_store, [value, ptr, ir.Constant(i32, 1), mask])

        out_rows = [builder.gep(arr_out.data,
                                [builder.add(builder.mul(builder.add(i0, const(r)), ldo), j0)])
                    for r in range(n_rows)]
        accs = [[cgutils.alloca_once_value(builder, ir.Constant(vec, None))
                 for _ in range(n_vecs)] for _ in range(n_rows)]
        b_cols = builder.gep(arr_b.data, [j0])
        splat = ir.Constant(ir.VectorType(i32, lanes), [0] * lanes)
        with cgutils.for_range(builder, k) as loop:
            kk = loop.index
            b_row = builder.gep(b_cols, [builder.mul(kk, ldb)])
            b_vecs = [load(vector_at(b_row, const(c * lanes)), masks[c]) for c in range(n_vecs)]
            for r in range(n_rows):
                if transposed:  # A[i0 + r, kk] = a[kk, i0 + r]
                    offset = builder.add(builder.mul(kk, lda), builder.add(i0, const(r)))
                else:
                    offset = builder.add(builder.mul(builder.add(i0, const(r)), lda), kk)
                a_rk = builder.load(builder.gep(arr_a.data, [offset]))
                a_vec = builder.insert_element(ir.Constant(vec, ir.Undefined), a_rk,
                                               ir.Constant(i32, 0))
                a_vec = builder.shuffle_vector(a_vec, ir.Constant(vec, ir.Undefined), splat)
                for c in range(n_vecs):
                    acc = accs[r][c]
                    builder.store(builder.call(fma, [a_vec, b_vecs[c], builder.load(acc)]), acc)
        for r in range(n_rows):
            for c in range(n_vecs):
                ptr = vector_at(out_rows[r], const(c * lanes))
                value = builder.load(accs[r][c])
                if adds:  # the tile's sum first, then onto out: a running total
                    # carried through the k loop would round every small term
                    # against it (weight gradients: 3x the error, measured)
                    value = builder.fadd(load(ptr, masks[c]), value)
                store(value, ptr, masks[c])
        return context.get_dummy_value()

    return sig, codegen


# The tiles' shape: 6 rows by 4 SIMD vectors of columns, 24 accumulators of
# the 32 vector registers AVX-512 has. Per step of k, 4 loads and 6
# broadcasts feed 24 FMAs. On AMD Zen 5 (two 512-bit FMA pipes) one core ran
# the project's products (float32, hidden 32-512) at 200-262 GFLOP/s in these
# tiles and 110-225 in tiles of 4 x 2. Built for AVX2 (16 registers of 32
# bytes), the same machine ran them at 120-134 GFLOP/s, 83-118 in 4 x 2.
TILE_ROWS = 6
STRIP_VECS = 4


@register_jitable
def _tile_strip(a, b, out, j, n_vec, cols, trans_a, accumulate):
    """``out[:, j:j+w] (+)= A @ b[:, j:j+w]`` (``A``: ``a`` or ``a.T``; ``w``:
    ``n_vec`` vectors, of which ``cols`` columns exist, or all for None), in
    tiles of TILE_ROWS rows and a last one of 1 to TILE_ROWS - 1."""
    m = a.shape[1] if trans_a else a.shape[0]
    i = 0
    while i + TILE_ROWS <= m:
        _fma_tile(a, b, out, i, j, TILE_ROWS, n_vec, cols, trans_a, accumulate)
        i += TILE_ROWS
    left = m - i
    if left == 5:
        _fma_tile(a, b, out, i, j, 5, n_vec, cols, trans_a, accumulate)
    elif left == 4:
        _fma_tile(a, b, out, i, j, 4, n_vec, cols, trans_a, accumulate)
    elif left == 3:
        _fma_tile(a, b, out, i, j, 3, n_vec, cols, trans_a, accumulate)
    elif left == 2:
        _fma_tile(a, b, out, i, j, 2, n_vec, cols, trans_a, accumulate)
    elif left == 1:
        _fma_tile(a, b, out, i, j, 1, n_vec, cols, trans_a, accumulate)


# Rows of ``A`` per pass over the column strips of a product (large products).
GEMM_BLOCK_ROWS = 64


@register_jitable
def _rows_contiguous(arr):  # (a single column's stride is free: NumPy calls it contiguous)
    return arr.shape[1] <= 1 or arr.strides[1] == arr.itemsize


@register_jitable
def _gemm(a, b, out, trans_a, accumulate):
    """``out (+)= A @ b`` in strips of STRIP_VECS SIMD vectors of columns, then
    one of two, the last columns in masked strips of one. ``A`` is ``a``, or
    ``a.T`` when ``trans_a``."""
    if not (_rows_contiguous(a) and _rows_contiguous(b) and _rows_contiguous(out)):
        raise ValueError("the products need arrays with contiguous rows")
    m = a.shape[1] if trans_a else a.shape[0]
    n = b.shape[1]
    lanes = _config.VECTOR_BYTES // a.itemsize
    wide = n - n % (STRIP_VECS * lanes)
    full = n - n % (2 * lanes)
    for i0 in range(0, m, GEMM_BLOCK_ROWS):  # a block of A stays in cache across strips
        a_i = a[:, i0 : i0 + GEMM_BLOCK_ROWS] if trans_a else a[i0 : i0 + GEMM_BLOCK_ROWS]
        out_i = out[i0 : i0 + GEMM_BLOCK_ROWS]
        for j in range(0, wide, STRIP_VECS * lanes):
            _tile_strip(a_i, b, out_i, j, STRIP_VECS, None, trans_a, accumulate)
        for j in range(wide, full, 2 * lanes):  # at most one
            _tile_strip(a_i, b, out_i, j, 2, None, trans_a, accumulate)
        # the last 1 to 2*lanes - 1 columns: strips of one vector, masked (a
        # variant per kind of strip costs compile time, not speed)
        for j in range(full, n, lanes):
            _tile_strip(a_i, b, out_i, j, 1, min(lanes, n - j), trans_a, accumulate)


@kernel
def gemm_nn(a, b, out):
    """``out = a @ b`` for ``a`` (m, k), ``b`` (k, n), ``out`` (m, n) with contiguous rows.

    The recurrent product of one time step: a block of rows times a weight
    matrix. Tiles of TILE_ROWS rows by STRIP_VECS SIMD vectors of columns
    (:func:`_fma_tile`) run at 200-262 GFLOP/s per core on this project's
    shapes (AMD Zen 5, float32, hidden 32-512, 5-128 rows), where
    single-threaded OpenBLAS reaches 250 on a large product with its AVX-512
    kernels and 130 with the AVX2 ones. The last columns that do not fill a
    strip take narrower strips and masked loads and stores.
    """
    _gemm(a, b, out, False, False)


@kernel
def gemm_tn_add(a, b, out):
    """``out += a.T @ b`` for ``a`` (k, m), ``b`` (k, n), ``out`` (m, n) with contiguous rows.

    A chunk's weight gradients (gradients.T @ inputs), added in place to the
    running sums in :func:`gemm_nn`'s tiles, which read ``a``'s columns.
    """
    _gemm(a, b, out, True, True)


# A single row times weights larger than L2 (hidden sizes above ~400): BLAS's
# matrix-vector product streams them twice as fast as gemm_nt.
GEMV_MIN_MACS = 1 << 19


@register_jitable
def row_product_in_blas(n, k):
    """Whether :func:`matmul` runs a single row times ``b_t`` (n, k) in BLAS's
    matrix-vector product. Plain Python too: a caller that must limit BLAS
    to one thread asks it whether any of its products run there."""
    return n * k >= GEMV_MIN_MACS


@register_jitable
def reads_b(m):
    """Whether an (m, k) @ (k, n) product of :func:`matmul` reads ``b`` (k,
    n), in :func:`gemm_nn`, or ``b_t`` (n, k). Plain Python too: the engine
    asks it which weight layouts to prepare.

    A single row reads ``b_t``, in :func:`gemm_nt`'s row loop or BLAS's
    matrix-vector product: against weights in L2 the tile's one row is
    bound by loading ``b`` (measured at hidden 128: 36 GFLOP/s, gemm_nt 58),
    and the transposed copy of the weights would cost a short sequence more.
    """
    return m >= 2


@kernel
def matmul(a, b, b_t, out, accumulate, scratch):
    """``out (+)= a @ b`` for C-contiguous ``a`` (m, k), ``b`` (k, n), ``b_t`` = b.T (n, k).

    Both layouts of the weights are passed so that each routine reads its
    own contiguously; :func:`reads_b` picks the routine (and a single row
    against large weights takes BLAS's matrix-vector product on ``b_t``).
    Either may be empty (0 rows) where the caller knows it will not be read;
    then the routine of the other runs. ``scratch`` (m, n) receives a
    product before it is added to ``out`` when ``accumulate``.
    """
    m, k = a.shape
    n = b_t.shape[0] if b_t.shape[0] > 0 else b.shape[1]
    target = scratch if accumulate else out
    if m == 1 and b_t.shape[0] > 0 and row_product_in_blas(n, k):
        np.dot(b_t, a[0], target[0])
    elif b.shape[0] > 0 and (b_t.shape[0] == 0 or reads_b(m)):
        gemm_nn(a, b, target)
    else:
        gemm_nt(a, b_t, out, accumulate)
        return
    if accumulate:
        add_into(out, scratch)


# ------------------------------------------------------------------ the cell
# The gate loops run over 1-D views of one row and gate block each, and touch
# at most a few arrays per loop: LLVM vectorises a loop only when it can prove
# (or cheaply check at run time) that its stores do not overlap its loads, and
# a loop that reads gates[j] and writes gates[2H + j] of the same row defeats it.
@inlined_kernel
def cell_forward(mode, gates, U, UT_g, UT_c, b_hn, hp, h, aux, acc_wide, acc_1, acc_2):
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
    """
    n_rows, H = hp.shape
    if mode == RESET_AFTER:
        matmul(hp, UT_g, U, acc_wide, OVERWRITE, acc_wide)
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
        return
    # RESET_BEFORE, BIAS_GATES, MGU: the gates first, then the candidate from
    # the gated state aux = r * h (or f * h).
    n_gate = H if mode == MGU else 2 * H
    if mode == RESET_BEFORE:
        matmul(hp, UT_g, U[: 2 * H], acc_wide, OVERWRITE, acc_wide)
    elif mode == MGU:
        matmul(hp, UT_g, U[:H], acc_1, OVERWRITE, acc_1)
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
    matmul(aux, UT_c, U[U.shape[0] - H :], acc_2, OVERWRITE, acc_2)
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


@kernel
def cell_backward(mode, U, UT_g, UT_c, hp, gates, aux, dh, active, dxp, dhh, dhp, d_1, tmp):
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
    (n, H) are scratch.
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
        matmul(dhh, U, UT_g, dhp, ACCUMULATE, tmp)
        return
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
    matmul(d_1, U[U.shape[0] - H :], UT_c, tmp, OVERWRITE, tmp)
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
        matmul(dhh, U[:n_gate], UT_g, dhp, ACCUMULATE, tmp)


def dhh_width(mode, H):
    """Width of ``dhh``: the gate products of ``U`` (without the candidate's)."""
    if mode == RESET_AFTER:
        return 3 * H
    if mode == MGU:
        return H
    return 2 * H


# ------------------------------------------------------------- whole sequences
@kernel
def forward_block(block, n_blocks, mode, xproj, U, UT_g, UT_c, b_hn, lengths, reverse,
                  training, y, h_last, hprev, aux):
    """Run one row block through all steps; ``h_last`` holds h0 on entry.

    ``xproj`` (T, B, G*H) holds the input projections on entry and the gate
    activations on exit (:func:`cell_forward`). ``training`` keeps each
    step's ``aux``, and its ``hprev`` (the state before the step) unless
    ``hprev`` is empty: then the caller reads it from ``y`` (the previous
    step's output, or h0), which needs every row to run every step.
    """
    r0, r1 = block_rows(h_last.shape[0], block, n_blocks)
    T = xproj.shape[0]
    H = h_last.shape[1]
    n = r1 - r0
    dt = xproj.dtype
    wide = 3 * H if mode == RESET_AFTER else 2 * H
    acc_wide = np.empty((n, wide), dtype=dt)
    acc_1 = np.empty((n, H), dtype=dt)
    acc_2 = np.empty((n, H), dtype=dt)
    aux_scratch = np.empty((n, H), dtype=dt)
    hp_scratch = np.empty((n, H), dtype=dt)
    h = h_last[r0:r1]
    lens = lengths[r0:r1]
    max_len = lens.max()
    min_len = lens.min()
    if min_len == T and (not training or hprev.shape[0] == 0):
        # Every row runs every step: each step reads its states from the
        # previous step's outputs and writes the new ones straight into y,
        # with no copies.
        hp = h
        for s in range(T):
            t = T - 1 - s if reverse else s
            y_t = y[t, r0:r1]
            a = aux[t, r0:r1] if training else aux_scratch
            cell_forward(mode, xproj[t, r0:r1], U, UT_g, UT_c, b_hn, hp, y_t, a, acc_wide,
                         acc_1, acc_2)
            hp = y_t
        h[:] = hp
        return
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
        hp[:] = h
        cell_forward(mode, xproj[t, r0:r1], U, UT_g, UT_c, b_hn, hp, h, a, acc_wide, acc_1, acc_2)
        y_t[:] = h
        if t >= min_len:  # some rows have ended: keep their state, output zeros
            for i in range(n):
                if t >= lens[i]:
                    h[i] = hp[i]
                    y_t[i] = 0.0


@kernel
def backward_block(block, n_blocks, mode, U, UT_g, UT_c, dy, dy_batch_first, dy_col, lengths,
                   reverse, hprev, gates, aux, x, W, chunk, dxp, dhh, dh, want_dx, dx, x_c,
                   hp_c, aux_c, dx_c, scratch_w, scratch_h, g_w, g_xs, g_uh, g_hs, g_uc):
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
    RESET_AFTER). Unused ones may be empty.
    """
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
    max_len = lens.max()
    # the chunked path's per-block rows, and the steps they came from
    steps = np.empty(chunk, dtype=np.int64)
    products = (np.empty(g_w.shape[1:] if chunk > 0 else (0, 0), dtype=dt),
                np.empty(g_uh.shape[1:] if chunk > 0 else (0, 0), dtype=dt),
                np.empty(g_uc.shape[1:] if chunk > 0 else (0, 0), dtype=dt))
    stage = (x_c, hp_c, aux_c, dx_c, scratch_w, scratch_h)
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
                      dh_c, active, dxp_t, dhh_t, dhp, d_1, tmp)
        dh_c[:] = dhp
        if chunk == 1:  # the step's rows in place, not copied (batch 256: 2-6% faster, noisy)
            chunk_weight_grads(mode, dxp_t, dhh_t, x[t, r0:r1], hprev[t, r0:r1],
                               aux[t, r0:r1], W, want_dx, dx[t, r0:r1], g_w[block],
                               g_xs[block], g_uh[block], g_hs[block], g_uc[block],
                               scratch_w[block, :n],
                               scratch_h[block, :n], products)
        elif chunk > 1:
            x_c[block, o : o + n] = x[t, r0:r1]
            hp_c[block, o : o + n] = hprev[t, r0:r1]
            if mode != RESET_AFTER:
                aux_c[block, o : o + n] = aux[t, r0:r1]
            steps[filled] = t
            filled += 1
            last_step = t == (max_len - 1 if reverse else 0)
            if filled == chunk or last_step:
                _flush_chunk(mode, filled, n, r0, steps, block, dxp, dhh, stage, W, want_dx,
                             dx, g_w, g_xs, g_uh, g_hs, g_uc, products)
                filled = 0


@kernel
def _flush_chunk(mode, filled, n, r0, steps, block, dxp, dhh, stage, W, want_dx, dx, g_w, g_xs,
                 g_uh, g_hs, g_uc, products):
    """The weight gradients (and ``dx``) of a chunk's first ``filled`` steps."""
    rows = filled * n
    x_c, hp_c, aux_c, dx_c, scratch_w, scratch_h = stage
    chunk_weight_grads(mode, dxp[block, :rows], dhh[block, :rows], x_c[block, :rows],
                       hp_c[block, :rows], aux_c[block, :rows], W, want_dx,
                       dx_c[block, :rows], g_w[block], g_xs[block], g_uh[block], g_hs[block],
                       g_uc[block], scratch_w[block, :rows], scratch_h[block, :rows], products)
    if want_dx:
        for k in range(filled):
            dx[steps[k], r0 : r0 + n] = dx_c[block, k * n : (k + 1) * n]


@kernel
def chunk_weight_grads(mode, dxp, dhh, x, hp, aux, W, want_dx, dx, g_w, g_xs, g_uh, g_hs, g_uc,
                       scratch_w, scratch_h, products):
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
    products before they are added.
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
            d_w[i] = dxp[i, col0:]
    _add_tn(d_w, x, g_w, p_w)
    if want_dx and fills_strip(W.shape[1], W.itemsize):
        gemm_nn(d_w, W, dx)
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
        _add_tn(dhh, hp, g_uh, p_uh)
    if mode != RESET_AFTER:
        cand = scratch_h
        for i in range(n):
            cand[i] = dxp[i, GH - H :]
        _add_tn(cand, aux, g_uc, p_uc)


@register_jitable
def fills_strip(n, itemsize):
    """Whether ``n`` columns fill at least one full strip (two SIMD vectors)
    of the tiles. Narrower products run in BLAS. Measured, float32, 128 rows:
    at 64 columns the tiles reach 110 GFLOP/s, BLAS 80 (with a separate pass
    to add the product); at 8 columns 53 against 91; at 16 columns both ~110
    alone, but a training step at batch 256, input 16 took 1.05x the time
    in the tiles."""
    return n * itemsize >= 2 * _config.VECTOR_BYTES


@register_jitable
def _add_tn(a, b, out, scratch):
    """``out += a.T @ b``: in the tiles, or in BLAS via ``scratch`` for few columns."""
    if fills_strip(b.shape[1], b.itemsize):
        gemm_tn_add(a, b, out)
    else:
        np.dot(a.T, b, scratch)
        add_into(out, scratch)


@kernel
def add_into(out, a):
    """``out += a`` for 2-D arrays of one shape."""
    for i in range(out.shape[0]):
        o_i, a_i = out[i], a[i]
        for j in range(out.shape[1]):
            o_i[j] += a_i[j]


# ------------------------------------------------------------ the parallel run
@intrinsic
def _as_block_function(typingctx, address, args):
    """The compiled C wrapper of a ``*_block`` kernel at ``address`` (an
    integer) as a first-class function of ``(block, n_blocks, *args)``.

    What Numba builds when it unboxes a first-class function argument, made
    here from a plain integer: unboxing one per call cost ~5 us. Numba's
    FunctionType value is a struct whose first member is the C wrapper's
    address, which its calls read (the other members, null here, are
    fallbacks).
    """
    fn_type = nb_types.FunctionType(nb_types.none(nb_types.int64, nb_types.int64, *args.types))

    def codegen(context, builder, signature, llargs):
        struct_type = context.get_value_type(fn_type)
        address = builder.inttoptr(llargs[0], struct_type.elements[0])
        return builder.insert_value(cgutils.get_null_value(struct_type), address, 0)

    return fn_type(address, args), codegen


@parallel_kernel
def run_parallel(address, n_blocks, args):
    """``block(block, n_blocks, *args)`` for every block, in parallel, where
    ``address`` is the block kernel's compiled C wrapper
    (``fastgru._engine.block_kernel_address``).

    Calling the block kernel through a function pointer keeps its code out
    of this one, so this loop compiles once per block signature in well
    under a second. With the blocks called directly, Numba re-optimised each
    body (and everything it calls) twice more in a ``prange`` wrapper: 15 s
    of the 30 s that the first forward and backward compiled from an empty
    cache. The ``prange`` index is typed int64 and later uint64, hence the
    cast.
    """
    block_fn = _as_block_function(address, args)
    for c in prange(n_blocks):
        block_fn(np.int64(c), n_blocks, *args)


# ------------------------------------------------------ large products, blocked
@register_jitable
def block_rows(n_rows, block, n_blocks):
    """Rows ``(r0, r1)`` of block ``block`` of ``n_blocks``: fixed by the sizes
    alone, so that results never depend on how many threads run the blocks."""
    return block * n_rows // n_blocks, (block + 1) * n_rows // n_blocks


@kernel
def project_block(block, n_blocks, x2d, W, W_t, xbias, out):
    """Rows of one block of ``out (R, G*H) = [0 | x2d @ W.T] + xbias``.

    ``W`` (GW, I) is ``weight_ih``, and ``W_t`` its contiguous transpose
    for :func:`gemm_nn` where :func:`project_tiled` says so, else empty
    (then BLAS runs). ``W`` feeds the last GW columns (the variants "gru1-3"
    have an input weight for the candidate only).
    """
    r0, r1 = block_rows(x2d.shape[0], block, n_blocks)
    GH = out.shape[1]
    GW = W.shape[0]
    col0 = GH - GW
    part = out[r0:r1] if col0 == 0 else np.empty((r1 - r0, GW), dtype=out.dtype)
    if W_t.shape[0] > 0:
        gemm_nn(x2d[r0:r1], W_t, part)
    else:
        np.dot(x2d[r0:r1], W.T, part)
    if col0 == 0:
        # in place: a loop that reads part_i and writes row, the same memory,
        # would fail LLVM's overlap check and run scalar (measured: inference
        # at batch 256, hidden 32 1.2x the time)
        for i in range(r0, r1):
            row = out[i]
            for j in range(GH):
                row[j] += xbias[j]
        return
    for i in range(r1 - r0):
        row, part_i = out[r0 + i], part[i]
        for j in range(col0):
            row[j] = xbias[j]
        for j in range(col0, GH):
            row[j] = part_i[j - col0] + xbias[j]


# The input projection runs in gemm_nn's tiles up to this input width, where
# they read a strip of the weights from L1 (single-threaded GFLOP/s, tiles vs
# OpenBLAS: 97-113 vs 62-100 at inputs 8-64; 97 vs 105 at input 256).
PROJECT_TILE_MAX_INPUT = 128


def project_tiled(n_inputs):
    """Whether :func:`project_block` runs in :func:`gemm_nn` (it needs ``W_t``)."""
    return n_inputs <= PROJECT_TILE_MAX_INPUT


@kernel
def swap_block(block, n_blocks, src, dst):
    """Rows of one block of ``dst = src.transpose(1, 0, 2)`` (batch-first to
    time-major, or back); the blocks split ``src``'s first axis. 2-3x
    NumPy's copy of the transposed view, which copies one row per call
    (measured: (256, 100, 16) float32 in 44-69 us in two blocks, 147 in
    NumPy)."""
    a0, a1 = block_rows(src.shape[0], block, n_blocks)
    for a in range(a0, a1):
        for b in range(src.shape[1]):
            d, s = dst[b, a], src[a, b]
            for c in range(src.shape[2]):
                d[c] = s[c]


@kernel
def refresh_copy(src, copy):
    """Whether ``src`` differs from ``copy`` (2-D, C-contiguous, one shape);
    if so, ``copy`` becomes ``src``. A NaN in either differs from
    everything, so such weights are copied on every call. The comparison
    runs in chunks of 256 elements, whose inner loop vectorises, and stops
    at the first chunk with a difference."""
    s, c = src.ravel(), copy.ravel()
    n = s.shape[0]
    for i0 in range(0, n, 256):
        chunk_s, chunk_c = s[i0 : i0 + 256], c[i0 : i0 + 256]
        differ = 0
        for i in range(chunk_s.shape[0]):
            differ += chunk_s[i] != chunk_c[i]
        if differ:
            tail_s, tail_c = s[i0:], c[i0:]
            for i in range(tail_s.shape[0]):
                tail_c[i] = tail_s[i]
            return True
    return False


@kernel
def transpose_block(block, n_blocks, src, dst):
    """Rows of one block of ``dst = src.T`` (2-D, C-contiguous), in 16 x 16
    tiles: each tile reads 16 rows of ``src`` once from memory. NumPy's copy
    of ``src.T`` reads a column at a time; at (1536, 512) float32 (hidden
    512's recurrent weights) it took 2.2 ms, these tiles 0.65 ms on one
    thread."""
    r0, r1 = block_rows(dst.shape[0], block, n_blocks)
    m = src.shape[0]
    tile = 16
    for jb in range(r0, r1, tile):
        for ib in range(0, m, tile):
            for j in range(jb, min(jb + tile, r1)):
                d = dst[j]
                for i in range(ib, min(ib + tile, m)):
                    d[i] = src[i, j]


@kernel
def matmul_block(block, n_blocks, a, b, out):
    """Rows of one block of ``out (R, N) = a (R, K) @ b (K, N)``."""
    r0, r1 = block_rows(a.shape[0], block, n_blocks)
    np.dot(a[r0:r1], b, out[r0:r1])


@kernel
def weight_grad_block(block, n_blocks, d, col0, col1, inp, partial, partial_sums):
    """Row block ``block``'s share of ``d[:, col0:col1].T @ inp`` and of the
    column sums of ``d[:, col0:col1]``, into ``partial[block]`` and
    ``partial_sums[block]``; their sums over the first axis are the results.
    """
    r0, r1 = block_rows(d.shape[0], block, n_blocks)
    out = partial[block]
    if col0 == 0 and col1 == d.shape[1]:
        np.dot(d[r0:r1].T, inp[r0:r1], out)
    else:
        np.dot(np.ascontiguousarray(d[r0:r1, col0:col1]).T, inp[r0:r1], out)
    sums = partial_sums[block]
    sums[:] = 0.0
    for r in range(r0, r1):
        row = d[r, col0:col1]
        for j in range(col1 - col0):
            sums[j] += row[j]


# ------------------------------------------------------------------ streaming
@kernel
def fold_biases(mode, b1, b2, xbias, b_hn):
    """Fold a cell's stored biases into ``xbias`` (G*H,) and ``b_hn`` (H,).

    ``b1`` is added to the last ``len(b1)`` entries of ``xbias`` (``bias_ih``,
    or the single ``bias`` of "gru1-3"/"mgu"); ``b2`` (``bias_hh`` of "torch"
    and "cho", else empty) is added to the first entries, except that
    RESET_AFTER keeps its candidate block apart as ``b_hn``.
    """
    H = b_hn.shape[0]
    off = xbias.shape[0] - b1.shape[0]
    n2 = min(b2.shape[0], 2 * H) if mode == RESET_AFTER else b2.shape[0]
    # each loop writes one 1-D view from one other (so that it vectorises)
    for j in range(off):
        xbias[j] = 0.0
    tail = xbias[off:]
    for j in range(b1.shape[0]):
        tail[j] = b1[j]
    head = xbias[:n2]
    for j in range(n2):
        head[j] += b2[j]
    if mode == RESET_AFTER and b2.shape[0] > 0:
        b_n = b2[2 * H :]
        for j in range(H):
            b_hn[j] = b_n[j]
    else:
        for j in range(H):
            b_hn[j] = 0.0


@kernel
def step_layers(mode, x, h, h_out, weights_ih, weights_hh, b1s, b2s, scratch):
    """One time step through every layer of a unidirectional stack.

    ``x`` (B, I); ``h`` and ``h_out`` (L, B, H) (may be the same array); the
    per-layer weights and stored biases come as tuples; ``scratch`` is a flat
    buffer of at least ``step_scratch_size`` elements, reused across calls, so
    nothing is allocated. Returns False, before writing anything, when ``x``
    or ``h`` holds NaN or inf.
    """
    L, B, H = h.shape
    GH = xbias_width(mode, H)
    for v in x.ravel():
        if not np.isfinite(v):
            return False
    for v in h.ravel():
        if not np.isfinite(v):
            return False
    wide = 3 * H if mode == RESET_AFTER else 2 * H
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
        if col0 == 0:  # the product adds onto the biases
            for i in range(B):
                xp[i] = xbias
            matmul(inp, W[:0], W, xp, ACCUMULATE, xw)
        else:
            matmul(inp, W[:0], W, xw, OVERWRITE, xw)
            for i in range(B):
                for j in range(col0):
                    xp[i, j] = xbias[j]
                for j in range(col0, GH):
                    xp[i, j] = xw[i, j - col0] + xbias[j]
        hp[:] = h[layer]
        cell_forward(mode, xp, U, U[:0], U[:0], b_hn, hp, h_out[layer], aux, acc_wide, acc_1,
                     acc_2)
    return True


@kernel
def forward_one(mode, x, weights_ih, weights_t, weights_copy, weights_hh, b1s, b2s, y, h_n,
                scratch, project_address, forward_address):
    """Inference of one sequence (batch 1) through every layer of a
    unidirectional stack, in one call: what the engine's forward does for
    it in three kernel calls per layer and Python between them (a call of
    one step at hidden 64: 13.8 us that way, 4.6 us through this kernel).

    :func:`project_block` and :func:`forward_block` are called through their
    compiled C wrappers at ``project_address`` and ``forward_address``
    (``fastgru._engine.forward_one_addresses``, as :func:`run_parallel` calls
    the blocks): called directly, Numba optimised their bodies again inside
    this kernel, and the first forward of one sequence compiled for 15.3 s
    from an empty cache instead of 13.3.

    ``x`` (1, T, I) and ``y`` (1, T, H): for one sequence, batch-first is
    time-major. ``h_n`` (L, 1, H) receives the last states. Per layer, as
    tuples: the weights and stored biases; ``weights_t``, the input
    weights' transposes for the tiles of :func:`project_block` (empty where
    it runs in BLAS), made again only where ``refresh_copy`` finds the
    weights changed since ``weights_copy``. ``scratch`` holds at least
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
        args = (inp, W, W_t, xbias, xproj)
        _as_block_function(project_address, args)(np.int64(0), one, *args)
        out = y[0] if layer == L - 1 else below
        h_last = h_n[layer]
        h_last[:] = 0.0
        args = (mode, xproj.reshape(T, 1, GH), U, U[:0], U[:0], b_hn, lengths, NO, NO,
                out.reshape(T, 1, H), h_last, unused, unused)
        _as_block_function(forward_address, args)(np.int64(0), one, *args)
        inp = out
    return True


@register_jitable
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


@register_jitable
def xbias_width(mode, H):
    """G*H: the width of ``xproj`` (2H for MGU, else 3H)."""
    return 2 * H if mode == MGU else 3 * H


@register_jitable
def step_scratch_size(mode, batch, hidden, ih_rows):
    """Elements of the flat scratch buffer :func:`step_layers` needs."""
    GH = xbias_width(mode, hidden)
    wide = 3 * hidden if mode == RESET_AFTER else 2 * hidden
    return batch * (GH + ih_rows + wide + 4 * hidden) + GH + hidden


# ------------------------------------------------------------------ optimisers
@kernel
def adam_update(p, g, m, v, step, beta1, beta2, bias2, eps, weight_decay):
    """One Adam step on flat arrays, in place, in ``p``'s dtype:
    ``g += weight_decay * p; m = beta1 m + (1 - beta1) g;
    v = beta2 v + (1 - beta2) g^2; p -= step * m / (sqrt(v / bias2) + eps)``.
    One pass instead of NumPy's ten (a training batch of ``fit`` at hidden
    64 spent 8% of its time in NumPy's)."""
    one = p.dtype.type(1.0)
    b1, b2, wd = p.dtype.type(beta1), p.dtype.type(beta2), p.dtype.type(weight_decay)
    st, bc2, ep = p.dtype.type(step), p.dtype.type(bias2), p.dtype.type(eps)
    for i in range(p.size):
        gi = g[i] + wd * p[i]
        mi = b1 * m[i] + (one - b1) * gi
        vi = b2 * v[i] + (one - b2) * gi * gi
        m[i] = mi
        v[i] = vi
        p[i] -= st * mi / (np.sqrt(vi / bc2) + ep)


@kernel
def sgd_update(p, g, velocity, learning_rate, momentum, weight_decay, nesterov, first):
    """One SGD step with momentum on flat arrays, in place, in ``p``'s dtype
    (torch.optim.SGD's arithmetic; ``first``: the velocity starts as ``g``)."""
    lr, mu, wd = p.dtype.type(learning_rate), p.dtype.type(momentum), p.dtype.type(weight_decay)
    for i in range(p.size):
        gi = g[i] + wd * p[i]
        vi = gi if first else mu * velocity[i] + gi
        velocity[i] = vi
        p[i] -= lr * (gi + mu * vi if nesterov else vi)
