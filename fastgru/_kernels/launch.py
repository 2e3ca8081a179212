"""The parallel launcher, the rows of a block, and the layout copies.

A ``*_block(block, n_blocks, ...)`` kernel is a serial body for one row block
(its rows from :func:`block_rows`). :func:`run_parallel`, the package's one
``prange`` kernel, runs every block of one through its compiled C wrapper
(the address from ``fastgru._engine.block_kernel_address``, made a callable
by ``fastgru._numba_compat.as_block_function``). The layout copies between batch-first and
time-major (:func:`swap_block`) and the transposed weights
(:func:`transpose_block`, kept fresh with :func:`refresh_copy`) are here too.

Imports no other kernel module.
"""

import numpy as np
from numba import prange

from .._config import helper, kernel, parallel_kernel
from .._numba_compat import as_block_function


@helper
def block_rows(n_rows, block, n_blocks):
    """Rows ``(r0, r1)`` of block ``block`` of ``n_blocks``: fixed by the sizes
    alone, so that results never depend on how many threads run the blocks."""
    return block * n_rows // n_blocks, (block + 1) * n_rows // n_blocks


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
    block_fn = as_block_function(address, args)
    for c in prange(n_blocks):
        block_fn(np.int64(c), n_blocks, *args)


# ------------------------------------------------------------ copies in loops
# An array-to-array slice assignment (``a[:] = b``) makes Numba compile its
# shape-mismatch message (string formatting: ~3.3 s of CPU of a first forward
# from an empty cache, measured under load), and ``lengths.max()`` NumPy's
# reduction (~0.6 s): the kernels copy and reduce in these loops instead.
@helper
def copy_rows(dst, src):
    """``dst[:] = src`` for 2-D arrays of one shape."""
    for i in range(dst.shape[0]):
        for j in range(dst.shape[1]):
            dst[i, j] = src[i, j]


@helper
def copy_vector(dst, src):
    """``dst[:] = src`` for 1-D arrays of one length."""
    for j in range(dst.shape[0]):
        dst[j] = src[j]


@helper
def min_max(values):
    """``(values.min(), values.max())`` of a non-empty 1-D array."""
    low = high = values[0]
    for v in values[1:]:
        low = min(low, v)
        high = max(high, v)
    return low, high


# ---------------------------------------------------------------- layout copies
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
