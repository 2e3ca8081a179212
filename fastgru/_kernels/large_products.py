"""The products over all T*B rows at once, one row block per call.

Run by ``fastgru._engine`` around the time loops, directly or through
:func:`fastgru._kernels.launch.run_parallel`: the input projection
(:func:`project_block`, in the tiles of
:func:`~fastgru._kernels.products.gemm_nn` or BLAS), ``dx`` and the weight
gradients after BPTT (:func:`matmul_block`, :func:`weight_grad_block`).

Imports :mod:`~fastgru._kernels.products`, :mod:`~fastgru._kernels.launch`
and :mod:`~fastgru._kernels.cell`.
"""

import numpy as np

from .._config import kernel
from .cell import add_projection_bias, fold_input_biases
from .launch import block_rows
from .products import call_product, gemm_nn


@kernel
def project_block(block, n_blocks, x2d, W, W_t, mode, b1, b2, out, gemm):
    """Rows of one block of ``out (R, G*H) = [0 | x2d @ W.T] + xbias``,
    where ``xbias`` folds the cell's stored biases ``b1`` and ``b2`` for
    ``mode`` (:func:`~fastgru._kernels.cell.fold_input_biases`, inlined
    here: no kernel of its own to compile and call).

    ``W`` (GW, I) is ``weight_ih``, and ``W_t`` its contiguous transpose
    for :func:`gemm_nn` where :func:`project_tiled` says so, else empty
    (then BLAS runs). ``W`` feeds the last GW columns (the variants "gru1-3"
    have an input weight for the candidate only). ``gemm`` is the address
    (:func:`~fastgru._kernels.products.product_address`, for the dtype) of
    the product: :func:`~fastgru._kernels.products.gemm_nn` of ``W_t``, or
    :func:`project_blas` of ``W`` where ``W_t`` is empty (called, not
    linked: a first forward in the tiles compiles no call of BLAS).
    """
    r0, r1 = block_rows(x2d.shape[0], block, n_blocks)
    GH = out.shape[1]
    GW = W.shape[0]
    col0 = GH - GW
    part = out[r0:r1] if col0 == 0 else np.empty((r1 - r0, GW), dtype=out.dtype)
    call_product(gemm, x2d[r0:r1], W_t if W_t.shape[0] > 0 else W, part)
    xbias = np.empty(GH, dtype=out.dtype)
    fold_input_biases(mode, b1, b2, xbias)
    add_projection_bias(out[r0:r1], part, xbias)


@kernel
def project_blas(a, W, out):
    """``out = a @ W.T`` in BLAS: :func:`project_block`'s product for inputs
    wider than :data:`PROJECT_TILE_MAX_INPUT`, called at its address."""
    np.dot(a, W.T, out)


def projection_product(W_t):
    """The product kernel of :func:`project_block` for ``W_t`` (empty: BLAS)."""
    return gemm_nn if W_t.shape[0] > 0 else project_blas


# The input projection runs in gemm_nn's tiles up to this input width, where
# they read a strip of the weights from L1 (single-threaded GFLOP/s, tiles vs
# OpenBLAS: 97-113 vs 62-100 at inputs 8-64; 97 vs 105 at input 256).
PROJECT_TILE_MAX_INPUT = 128


def project_tiled(n_inputs):
    """Whether :func:`project_block` runs in :func:`gemm_nn` (it needs ``W_t``)."""
    return n_inputs <= PROJECT_TILE_MAX_INPUT


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
