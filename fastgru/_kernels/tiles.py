"""The tiles of the products that read ``b`` (``products.gemm_nn``,
``gemm_tn_add``, ``gemm_row``): :func:`_fma_tile`, one tile written in LLVM IR
so that its vector accumulators stay in registers, and :func:`_fma_strip`,
a strip of tiles down a product's rows.

The bottom of :mod:`fastgru._kernels`: imports no other kernel module. The
tiles' width follows ``fastgru._config.VECTOR_BYTES``, read at compile time.
"""

from llvmlite import ir
from numba.core import cgutils
from numba.core import types as nb_types
from numba.extending import intrinsic

from .. import _config


def _emit_tile(context, builder, types, arrays, i0, j0, n_rows, n_vecs, cols, transposed,
               adds):
    """Emit the IR of one tile of :func:`_fma_tile` at the builder: rows
    ``i0`` + [0, n_rows) and columns ``j0`` + [0, n_vecs vectors) (``i0``,
    ``j0``: IR values) of the arrays ``a``, ``b``, ``out`` (``types``, and
    ``arrays``, their IR values); ``cols``: the IR value of the columns that
    exist (masked), or None for a full tile."""
    arr_a, arr_b, arr_out = (context.make_array(ty)(context, builder, v)
                             for ty, v in zip(types, arrays))
    scalar = context.get_data_type(types[0].dtype)
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
    if cols is not None:  # lane l of vector c exists where c * lanes + l < cols
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
        n_cols = builder.trunc(cols, i32)
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
        _emit_tile(context, builder, signature.args[:3], args[:3], args[3], args[4], n_rows,
                   n_vecs, args[7] if masked else None, transposed, adds)
        return context.get_dummy_value()

    return sig, codegen


# The tiles' shape: TILE_ROWS rows by STRIP_VECS SIMD vectors of columns,
# sized so that the accumulators, the loads of ``b`` and the broadcast fit
# the vector registers. With AVX-512 (32 registers of 64 bytes): 6 x 4, 24
# accumulators; per step of k, 4 loads and 6 broadcasts feed 24 FMAs. On AMD
# Zen 5 (two 512-bit FMA pipes) one core ran the project's products
# (float32, hidden 32-512) at 200-262 GFLOP/s in these tiles and 110-225 in
# tiles of 4 x 2. With AVX2 (16 registers of 32 bytes): 6 x 2, 12
# accumulators, 2 loads and a broadcast, 15 registers. There 6 x 4 spilled
# accumulators to the stack at every step: on AMD Zen 3 one core ran the
# products (float32, 6-128 rows, hidden 32-256) at 31-37 GFLOP/s in 6 x 4
# and 61-95 in 6 x 2, where OpenBLAS's large product reaches 87. (Zen 5 ran
# 6 x 4 built for AVX2 at 120-134, 83-118 in 4 x 2; 6 x 2 was not measured
# there.)
TILE_ROWS = 6
STRIP_VECS = 4 if _config.VECTOR_BYTES >= 64 else 2  # a multiple of 2 (see products._gemm)


@intrinsic
def _fma_strip(typingctx, a, b, out, j, n_vec, cols, trans_a, accumulate):
    """``out[:, j:j+w] (+)= A @ b[:, j:j+w]`` (``A``: ``a`` or ``a.T``; ``w``:
    ``n_vec`` vectors, of which ``cols`` columns exist, or all for None), in
    :func:`_fma_tile`'s tiles of TILE_ROWS rows and a last one of 1 to
    TILE_ROWS - 1. ``n_vec``, ``trans_a`` and ``accumulate`` are literals.

    An intrinsic, as the tile is: the loop over the tiles is emitted into the
    kernel that calls it. As a helper compiled for literals, each of its
    variants was typed, optimised and generated on its own before the kernel
    linked it and optimised it again (from an empty cache, ``gemm_nn`` and
    ``gemm_tn_add`` compiled in ~1.1 s each; ~0.6 s now, measured).
    """
    literals = (n_vec, trans_a, accumulate)
    if not all(isinstance(v, (nb_types.IntegerLiteral, nb_types.BooleanLiteral))
               for v in literals):
        return None
    n_vecs, transposed, adds = (v.literal_value for v in literals)
    masked = not isinstance(cols, nb_types.NoneType)
    sig = nb_types.none(a, b, out, nb_types.intp, n_vec,
                        nb_types.intp if masked else cols, trans_a, accumulate)

    def codegen(context, builder, signature, args):
        types, arrays, j0 = signature.args[:3], args[:3], args[3]
        n_cols = args[5] if masked else None
        arr_a = context.make_array(types[0])(context, builder, arrays[0])
        m = builder.extract_value(arr_a.shape, 1 if transposed else 0)
        tile_rows = ir.Constant(m.type, TILE_ROWS)
        full = builder.sub(m, builder.srem(m, tile_rows))  # rows in full tiles
        with cgutils.for_range_slice(builder, ir.Constant(m.type, 0), full, tile_rows) as (i0, _):
            _emit_tile(context, builder, types, arrays, i0, j0, TILE_ROWS, n_vecs, n_cols,
                       transposed, adds)
        left = builder.sub(m, full)
        for rows in range(1, TILE_ROWS):
            with builder.if_then(builder.icmp_signed("==", left, ir.Constant(m.type, rows))):
                _emit_tile(context, builder, types, arrays, full, j0, rows, n_vecs, n_cols,
                           transposed, adds)
        return context.get_dummy_value()

    return sig, codegen
