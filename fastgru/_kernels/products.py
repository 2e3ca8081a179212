"""The matrix products of the kernels.

:func:`matmul` is the per-step recurrent product of a block of rows; it picks
one of: the tiles of :func:`gemm_nn` (``out = a @ b``; the same tiles, reading
``a``'s columns, give :func:`gemm_tn_add`, ``out += a.T @ b``, for weight
gradients), written in LLVM IR (:func:`_fma_tile`) so that their vector
accumulators stay in registers; the register-blocked loops of :func:`gemm_nt`
(``a @ b.T``, weights as stored); or BLAS's matrix-vector product for one row
against large weights (:func:`nt_product` holds both, called at an address).
:func:`fills_strip` and :func:`_add_tn` choose the tiles or BLAS for narrow products.

Imports :mod:`~fastgru._kernels.tiles` (the tiles, written in LLVM IR) and no
other kernel module.
"""

import numba
import numpy as np
from numba.core import types as nb_types
from numba.core.errors import TypingError

from .. import _config
from .._config import helper, inlined_kernel, kernel, linked_kernel, overload
from .._numba_compat import as_function, cfunc_address
from .tiles import STRIP_VECS, _fma_strip, _fma_tile

# ------------------------------------------------------- the per-step product
# The ``accumulate`` flag of the products. As NumPy booleans they reach the
# kernels as plain ``bool``: with the literals True/False Numba compiles
# matmul and gemm_nt once per value (measured: ~1 s more from an empty cache).
OVERWRITE = np.bool_(False)
ACCUMULATE = np.bool_(True)


def _nt(gemv, name, doc):
    """``out (+)= a @ b.T``; BLAS's gemv for one large row product if ``gemv`` (a constant)."""

    def product(a, b, out, accumulate):
        m, k = a.shape
        n = b.shape[0]
        if gemv and m == 1 and row_product_in_blas(n, k):
            if accumulate:
                result, row = np.dot(b, a[0]), out[0]
                for j in range(n):
                    row[j] += result[j]
            else:
                np.dot(b, a[0], out[0])
            return
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

    product.__name__ = product.__qualname__ = name
    product.__doc__ = doc
    return kernel(product)


gemm_nt = _nt(False, "gemm_nt", """``out (+)= a @ b.T`` for C-contiguous ``a`` (m, k), ``b`` (n, k),
    ``out`` (m, n): the products that read the weights as stored (a single row,
    the streaming step, whose weights may change between calls). Register-blocked
    over 4 rows of ``a`` and 2 of ``b`` (each load feeds several FMAs; the k loops
    vectorise); 40-110 GFLOP/s per core, below :func:`gemm_nn`'s tiles.""")

nt_product = _nt(True, "nt_product", """:func:`gemm_nt`, or BLAS's matrix-vector product for one
    row against weights :func:`row_product_in_blas` admits: what :func:`matmul_nt_at` calls
    at an address (the linked :func:`matmul` chooses BLAS itself: with the branch in
    :func:`gemm_nt`, a streaming step at hidden 32 took ~4% longer).""")


# ------------------------------------------------- the per-step product, tiled
# Rows of ``A`` per pass over the column strips of a product (large products).
GEMM_BLOCK_ROWS = 64


@helper
def _rows_contiguous(arr):  # (a single column's stride is free: NumPy calls it contiguous)
    return arr.shape[1] <= 1 or arr.strides[1] == arr.itemsize


def _gemm(trans_a, accumulate, name, doc):
    """The kernel ``out (+)= A @ b`` in strips of STRIP_VECS SIMD vectors of
    columns, then (with strips of four) one of two, the last columns in
    masked strips of one.
    ``A`` is ``a``, or ``a.T`` when ``trans_a``; ``accumulate`` adds to
    ``out``. Both are constants of the kernel (its closure), which the
    tiles take as literals: the loops are the kernel's own code, not a
    helper's compiled apart and optimised again inside it."""

    def gemm(a, b, out):
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
                _fma_strip(a_i, b, out_i, j, STRIP_VECS, None, trans_a, accumulate)
            for j in range(wide, full, 2 * lanes):  # at most one: STRIP_VECS is even
                _fma_strip(a_i, b, out_i, j, 2, None, trans_a, accumulate)
            # the last 1 to 2*lanes - 1 columns: strips of one vector, masked (a
            # variant per kind of strip costs compile time, not speed)
            for j in range(full, n, lanes):
                _fma_strip(a_i, b, out_i, j, 1, min(lanes, n - j), trans_a, accumulate)

    gemm.__name__ = gemm.__qualname__ = name
    gemm.__doc__ = doc
    return kernel(gemm)


gemm_nn = _gemm(False, False, "gemm_nn", """``out = a @ b`` for ``a`` (m, k), ``b`` (k, n),
    ``out`` (m, n) with contiguous rows.

    The recurrent product of one time step: a block of rows times a weight
    matrix. Tiles of TILE_ROWS rows by STRIP_VECS SIMD vectors of columns
    (:func:`_fma_tile`) run at 200-262 GFLOP/s per core on this project's
    shapes (AMD Zen 5, float32, hidden 32-512, 5-128 rows), where
    single-threaded OpenBLAS reaches 250 on a large product with its AVX-512
    kernels and 130 with the AVX2 ones; built for AVX2 (AMD Zen 3), at
    61-95, where OpenBLAS reaches 87. The last columns that do not fill a
    strip take narrower strips and masked loads and stores.
    """)

gemm_tn_add = _gemm(True, True, "gemm_tn_add", """``out += a.T @ b`` for ``a`` (k, m), ``b`` (k, n),
    ``out`` (m, n) with contiguous rows.

    A chunk's weight gradients (gradients.T @ inputs), added in place to the
    running sums in :func:`gemm_nn`'s tiles, which read ``a``'s columns.
    """)


# A single row times weights larger than L2 (hidden sizes above ~400): BLAS's
# matrix-vector product streams them twice as fast as gemm_nt.
GEMV_MIN_MACS = 1 << 19

# A single row times weights of at most this many bytes runs in the tiles
# (gemm_row). One core, float32, one row: (64, 192) in 0.43-0.47 us against
# gemm_nt's 0.47; (128, 256) 1.3 against 1.5; beyond ~128 KB the strips miss
# the cache where gemm_nt streams its rows ((256, 512): 6.1 against 5.4 us).
ROW_TILE_MAX_BYTES = 1 << 17
ROW_STRIP_VECS = 8


@helper
def row_tiled(n, k, itemsize):
    """Whether :func:`matmul` runs a single row times (k, n) weights in the
    tiles (:func:`gemm_row`), reading ``b``. Plain Python too: the engine
    asks it which weight layouts to prepare.

    In the tiles every entry of the product is one chain of fused
    multiply-adds in the order of ``k``, whatever the rows and columns
    around it: a sequence's result is then the same bits alone (one row)
    as in any batch (:func:`gemm_nn`'s tiles of 2 to 6 rows), which is
    what lets concurrent single-sequence calls run as one batch
    (``fastgru._slots``). :func:`gemm_nt` sums vectors of ``k`` in an
    order its loop's shape decides.
    """
    return n * k * itemsize <= ROW_TILE_MAX_BYTES


@linked_kernel
def gemm_row(a, b, out):
    """``out = a @ b`` for a single row ``a`` (1, k), ``b`` (k, n), ``out``
    (1, n), with contiguous rows: the tiles of :func:`gemm_nn` for one row
    (the same arithmetic per entry), in strips of ROW_STRIP_VECS vectors of
    columns, then 4, 2 and 1, so that a pass down ``b`` keeps enough
    independent chains of FMAs in flight (a strip of 4 for one row waits on
    the FMAs' latency)."""
    if not (_rows_contiguous(a) and _rows_contiguous(b) and _rows_contiguous(out)):
        raise ValueError("the products need arrays with contiguous rows")
    n = b.shape[1]
    lanes = _config.VECTOR_BYTES // a.itemsize
    j = 0
    while j + ROW_STRIP_VECS * lanes <= n:
        _fma_tile(a, b, out, 0, j, 1, ROW_STRIP_VECS, None, False, False)
        j += ROW_STRIP_VECS * lanes
    if j + 4 * lanes <= n:
        _fma_tile(a, b, out, 0, j, 1, 4, None, False, False)
        j += 4 * lanes
    if j + 2 * lanes <= n:
        _fma_tile(a, b, out, 0, j, 1, 2, None, False, False)
        j += 2 * lanes
    if j + lanes <= n:
        _fma_tile(a, b, out, 0, j, 1, 1, None, False, False)
        j += lanes
    if j < n:
        _fma_tile(a, b, out, 0, j, 1, 1, n - j, False, False)


@helper
def row_product_in_blas(n, k):
    """Whether :func:`matmul` runs a single row times ``b_t`` (n, k) in BLAS's
    matrix-vector product. Plain Python too: a caller that must limit BLAS
    to one thread asks it whether any of its products run there."""
    return n * k >= GEMV_MIN_MACS


@helper
def reads_b(m):
    """Whether an (m, k) @ (k, n) product of :func:`matmul` reads ``b`` (k,
    n), in :func:`gemm_nn`, or ``b_t`` (n, k). Plain Python too: the engine
    asks it which weight layouts to prepare. A single row reads ``b_t``, in
    :func:`gemm_nt`'s row loop or BLAS's matrix-vector product: against
    weights in L2 the tile's one row is bound by loading ``b`` (measured at
    hidden 128: 36 GFLOP/s, gemm_nt 58), and the transposed copy of the
    weights would cost a short sequence more.
    """
    return m >= 2


def _matmul(reads_b_ever, nt_linked, name, doc, rows_ever=True):
    """The per-step product kernel: with the routines that read ``b`` or without
    (``reads_b_ever``), :func:`gemm_nn` for blocks of rows or one row (``rows_ever``),
    :func:`gemm_nt` linked or at an address (``nt_linked``): constants of the
    kernel, whose ruled-out branches Numba drops before compiling."""

    def product(a, b, b_t, out, accumulate, scratch, nt):
        m, k = a.shape
        n = b_t.shape[0] if b_t.shape[0] > 0 else b.shape[1]
        target = scratch if accumulate else out
        if not rows_ever and m > 1:
            raise ValueError("matmul_row_at: a block of more than one row")
        if reads_b_ever and m == 1 and b.shape[0] > 0 and (
                row_tiled(n, k, a.itemsize) or not rows_ever and b_t.shape[0] == 0):
            gemm_row(a, b, target)
        elif nt_linked and m == 1 and b_t.shape[0] > 0 and row_product_in_blas(n, k):
            np.dot(b_t, a[0], target[0])  # (matmul_nt_at: in nt_product)
        elif rows_ever and reads_b_ever and b.shape[0] > 0 and (b_t.shape[0] == 0 or reads_b(m)):
            gemm_nn(a, b, target)
        else:
            if nt_linked:
                gemm_nt(a, b_t, out, accumulate)
            else:
                _call_nt(nt, a, b_t, out, accumulate)
            return
        if accumulate:
            add_into(out, scratch)

    product.__name__ = product.__qualname__ = name
    product.__doc__ = doc
    return (inlined_kernel if not nt_linked else linked_kernel)(product)


matmul = _matmul(True, True, "matmul", """``out (+)= a @ b`` for C-contiguous ``a`` (m, k),
    ``b`` (k, n), ``b_t`` = b.T (n, k).

    Both layouts of the weights are passed so that each routine reads its
    own contiguously; :func:`reads_b` picks the routine (a single row takes
    :func:`gemm_row` against weights that :func:`row_tiled` admits, and
    BLAS's matrix-vector product on ``b_t`` against large ones).
    Either may be empty (0 rows) where the caller knows it will not be read;
    then the routine of the other runs. ``scratch`` (m, n) receives a
    product before it is added to ``out`` when ``accumulate``. ``nt`` is
    not read (see :func:`matmul_nt_at`).

    The routines are linked: their code is optimised and generated again
    inside each kernel that calls this one (the gufunc).
    """)

matmul_stored = _matmul(False, True, "matmul_stored", """:func:`matmul` for an empty ``b``:
    the weights as stored (``b_t``) in :func:`gemm_nt` or BLAS, linked. For the
    streaming step, whose weights may change between calls (no transposed copies):
    without the routines that read ``b`` (a first step compiled ~1.5 s less).""")

matmul_nt_at = _matmul(True, False, "matmul_nt_at", """:func:`matmul` with :func:`gemm_nt`
    and BLAS's gemv (:func:`nt_product`) called at the address ``nt``
    (:func:`product_address`), or 0 where the caller knows that neither runs
    (a ValueError if one would). For the sequence kernels, which the engine
    gives 0 wherever it can (``fastgru._engine.recurrent_nt_address``): a
    first forward that runs neither compiles neither (as fast as linked: one
    row, hidden 32-128). :func:`gemm_nn` and :func:`gemm_row` stay linked (4
    rows at hidden 32 through an address: a forward 8% slower). Inlined into
    the cells, not compiled alone too (a first forward ~0.8 s less).""")

matmul_row_at = _matmul(True, False, "matmul_row_at", """:func:`matmul_nt_at` for one row
    (:func:`gemm_row` where that reads ``b``), without :func:`gemm_nn`.""", rows_ever=False)


# ------------------------------------------ the tiles' kernels called by address
# A kernel that links gemm_nn or gemm_tn_add optimises and generates the tiles
# again (~0.5 s per copy from an empty cache). The kernels that run a product
# once per block or chunk of rows call its C wrapper at an address the engine
# passes instead (a few ns per call). The per-step product links them.
_ADDRESSES: dict = {}


def product_address(product, dtype) -> int:
    """Address of the compiled C wrapper of ``product`` (:func:`gemm_nn`,
    :func:`gemm_tn_add`, :func:`gemm_nt` or :func:`nt_product`) for C-contiguous
    2-D arrays of ``dtype`` (and the last two's flag), for :func:`call_product`
    and :func:`matmul_nt_at`; compiled, or loaded from the cache, on first use."""
    address = _ADDRESSES.get((product, dtype))
    if address is None:
        array = nb_types.Array(numba.from_dtype(np.dtype(dtype)), 2, "C")
        argtypes = (array, array, array)
        if product in (gemm_nt, nt_product):
            argtypes += (nb_types.boolean,)
        product.compile(argtypes)
        compiled = product.overloads[argtypes]
        address = _ADDRESSES[(product, dtype)] = cfunc_address(compiled)
    return address


def _check_product_args(a, b, out):
    pass


@overload(_check_product_args)
def _check_product_args_types(a, b, out):
    kinds = {nb_types.Array(t.dtype, 2, "C") if isinstance(t, nb_types.Array) else None
             for t in (a, b, out)}
    if len(kinds) != 1 or kinds != {a} or None in kinds:
        raise TypingError(
            f"call_product takes three C-contiguous, writeable 2-D arrays of one dtype "
            f"(what product_address compiled for), not {a}, {b}, {out}")
    return lambda a, b, out: None


@helper
def call_product(address, a, b, out):
    """The product at ``address`` (:func:`product_address`, compiled for
    ``a``'s dtype) of ``a``, ``b``, ``out``: C-contiguous 2-D arrays, which
    the typing checks. A ValueError for the address 0, which a caller
    passes for a product that it knows will not run."""
    _check_product_args(a, b, out)
    if address == 0:
        raise ValueError("call_product: no product at address 0")
    as_function(address, (a, b, out))(a, b, out)


@helper
def _call_nt(address, a, b_t, out, accumulate):
    """:func:`nt_product` at ``address`` (:func:`product_address`), for :func:`matmul_nt_at`."""
    if address == 0:
        raise ValueError("matmul_nt_at: gemm_nt runs here, but its address is 0")
    _check_product_args(a, b_t, out)
    as_function(address, (a, b_t, out, accumulate))(a, b_t, out, accumulate)


# ----------------------------------------------- narrow products: tiles or BLAS
@helper
def fills_strip(n, itemsize):
    """Whether ``n`` columns fill at least one full strip (two SIMD vectors)
    of the tiles. Narrower products run in BLAS. Measured, float32, 128 rows:
    at 64 columns the tiles reach 110 GFLOP/s, BLAS 80 (with a separate pass
    to add the product); at 8 columns 53 against 91; at 16 columns both ~110
    alone, but a training step at batch 256, input 16 took 1.05x the time
    in the tiles."""
    return n * itemsize >= 2 * _config.VECTOR_BYTES


@helper
def _add_tn(tn_address, a, b, out, scratch):
    """``out += a.T @ b``: in the tiles (:func:`gemm_tn_add` at ``tn_address``),
    or in BLAS via ``scratch`` for few columns."""
    if fills_strip(b.shape[1], b.itemsize):
        call_product(tn_address, a, b, out)
    else:
        np.dot(a.T, b, scratch)
        add_into(out, scratch)


@linked_kernel
def add_into(out, a):
    """``out += a`` for 2-D arrays of one shape."""
    for i in range(out.shape[0]):
        o_i, a_i = out[i], a[i]
        for j in range(out.shape[1]):
            o_i[j] += a_i[j]
