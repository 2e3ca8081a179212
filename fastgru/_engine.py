"""Orchestration of one layer and direction: big products around the kernels.

The input projection of all time steps is one blocked matrix product before
the recurrence; only the recurrence itself steps through time. BPTT adds the
weight gradients chunk by chunk of steps (:func:`_chunk_steps`), or leaves
them to a few blocked products over all T*B rows after the loop. Inputs here
are already validated, time-major (but for the gradient of the outputs, see
:func:`direction_backward`) and C-contiguous in the layer's dtype. The
caller (the layer) holds :func:`fastgru._runtime.single_threaded_blas`.

The forward and the backward of one direction, and the per-thread workspace
they share (with its memory cap), stand side by side, so that what the
forward keeps for BPTT and what BPTT reads can be checked against each other
in one file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np
from numba.core import types as nb_types

from . import _config, _runtime, _slots
from ._env import env_megabytes
from ._kernels import large_products
from ._kernels.cell import (
    BIAS_GATES,
    MGU,
    RESET_AFTER,
    dhh_width,
    for_mode,
    hidden_bias,
    xbias_width,
)
from ._kernels.large_products import matmul_block, project_block, project_tiled, weight_grad_block
from ._kernels.launch import refresh_copy, run_parallel, swap_block, transpose_block
from ._kernels.products import gemm_nn, gemm_tn_add, nt_product, product_address, reads_b, row_tiled
from ._kernels.sequence import BACKWARD, FORWARD, FORWARD_FULL
from ._kernels.stack import NO
from ._numba_compat import cfunc_address
from ._numba_compat import type_key as _type_key
from ._variants import Variant

# Multiply-adds per block below which splitting a large product is not worth a
# thread: starting the thread pool costs ~10-20 us, about as much as 1M
# multiply-adds take on one core.
_MIN_MACS_PER_BLOCK = 1 << 20


@dataclass
class DirectionCache:
    """What the forward pass of one layer and direction keeps for BPTT."""

    x2d: np.ndarray  # (T*B, I) the layer input
    hprev: np.ndarray  # (T, B, H) state before each step (y shifted, if no row ends early)
    gates: np.ndarray  # (T, B, G*H) gate activations
    aux: np.ndarray  # (T, B, H) U_n h + b_hn, or the gated state r*h / f*h


#: Byte alignment of the arrays fastgru allocates for its kernels: one cache
#: line, so that no SIMD load of a row that starts at a multiple of 64 bytes
#: straddles two lines. NumPy's allocator guarantees 16 bytes; measured at
#: batch 1, hidden 64: a forward step takes ~0.85 us with the recurrent
#: weights at a 64-byte boundary and ~0.98 us at 16 or 48 bytes past one.
ALIGNMENT = 64


def aligned_empty(shape, dtype) -> np.ndarray:
    """An uninitialised C-contiguous array whose data start at a multiple of
    :data:`ALIGNMENT` bytes."""
    dtype = np.dtype(dtype)
    n_bytes = math.prod(shape) * dtype.itemsize
    raw = np.empty(n_bytes + ALIGNMENT, dtype=np.uint8)
    start = -raw.ctypes.data % ALIGNMENT
    return raw[start : start + n_bytes].view(dtype).reshape(shape)


def aligned_copy(arr: np.ndarray) -> np.ndarray:
    """A C-contiguous, :data:`ALIGNMENT`-aligned copy of ``arr``."""
    out = aligned_empty(arr.shape, arr.dtype)
    out[...] = arr
    return out


def _keep_bytes() -> int:
    return env_megabytes("FASTGRU_WORKSPACE_KEEP_MB", 128 << 20)


#: Bytes of reusable buffers one thread keeps for a layer between calls
#: (``FASTGRU_WORKSPACE_KEEP_MB``, default 128 MiB): a call that needs more
#: allocates them and frees what is beyond this when it returns, so that a
#: thread that once served a long sequence does not hold its memory for life.
#: Enough for a training step at (batch 64, time 50, input 256, hidden 512).
WORKSPACE_KEEP_BYTES = _keep_bytes()


#: A transpose and the copy it was made from (:func:`transposed`) are kept or
#: freed together: their keys differ only in this first element.
_PARTNERS = {"transposed": "transposed from", "transposed from": "transposed"}


def _partner(key):
    """The key of the buffer freed together with ``key``, or None."""
    if isinstance(key, tuple) and key and key[0] in _PARTNERS:
        return (_PARTNERS[key[0]],) + key[1:]
    return None


class Workspace(dict):
    """A thread's reusable buffers (a dict) that counts the bytes it holds;
    ``keep``, when set, replaces :data:`WORKSPACE_KEEP_BYTES` for it."""

    nbytes = 0
    keep: int | None = None  # for an owner calling again with the same large inputs

    def put(self, key, arr: np.ndarray) -> np.ndarray:
        old = self.get(key)
        if old is not None:
            self.nbytes -= old.nbytes
        self[key] = arr
        self.nbytes += arr.nbytes
        return arr

    def trim(self, keep: int | None = None) -> None:
        """Free the largest buffers until at most ``keep`` bytes (the
        workspace's ``keep``, else :data:`WORKSPACE_KEEP_BYTES`) are held."""
        keep = (WORKSPACE_KEEP_BYTES if self.keep is None else self.keep) if keep is None else keep
        if self.nbytes <= keep:
            return
        for key in sorted(self, key=lambda k: self[k].nbytes, reverse=True):
            if key not in self:  # freed already, with its partner
                continue
            arr = self.pop(key)
            self.nbytes -= arr.nbytes
            pair = _partner(key)
            if pair is not None and pair in self:
                self.nbytes -= self.pop(pair).nbytes
            if self.nbytes <= keep:
                return


def buffer(workspace: dict, key, shape: tuple, dtype) -> np.ndarray:
    """A reusable array from ``workspace`` (a per-thread dict held by the layer).

    Reusing large buffers across calls avoids the page faults of fresh ones
    (several ms for a training step of a few tens of MB). New buffers are
    zeroed, so padded steps that a kernel skips always hold finite values.
    """
    arr = workspace.get(key)
    if arr is None or arr.shape != shape or arr.dtype != dtype:
        arr = workspace.put(key, aligned_empty(shape, dtype))
        arr.fill(0.0)
    return arr


# Weights from this many elements are transposed in the tiles of
# _kernels.launch.transpose_block (in NumPy below, which is as fast there), split
# over the threads from _MIN_SWAP_BYTES_PER_BLOCK per block.
_MIN_TILED_TRANSPOSE = 1 << 17


def transposed(workspace: Workspace, key, a: np.ndarray) -> np.ndarray:
    """``a.T`` (``a`` 2-D, C-contiguous) in ``workspace``'s reusable buffer
    for ``key`` (per shape), transposed again only when ``a`` changed.

    The weights may change in place between calls (an optimiser's step, a
    user's edit), so the buffer keeps a copy of the ``a`` it was made from,
    and a call compares ``a`` with it first (:func:`_kernels.launch.refresh_copy`).
    The comparison reads both once, vectorised; a transpose runs about one
    element per cycle: at (288, 96) float32 (hidden 96's recurrent weights)
    1.5 µs against 7.3 (NumPy's transposing copy); a batch-5 forward took
    0.91x the time.
    """
    source_key, out_key = ("transposed from", key, a.shape), ("transposed", key, a.shape)
    source, out = workspace.get(source_key), workspace.get(out_key)
    fresh = source is None or out is None or source.dtype != a.dtype
    if fresh:  # made together, so that a copy never stands for a transpose not made from it
        source = workspace.put(source_key, aligned_copy(a))
        out = workspace.put(out_key, aligned_empty(a.shape[::-1], a.dtype))
    # no comparison when fresh: a first forward does not compile refresh_copy
    if fresh or refresh_copy(a, source):
        if a.size < _MIN_TILED_TRANSPOSE:
            out[...] = a.T
        else:
            _run_blocks(transpose_block, (a, out),
                        _n_blocks(out.shape[0],
                                  -(-_MIN_SWAP_BYTES_PER_BLOCK // (out.shape[1] * a.itemsize))))
    return out


def _n_blocks(rows: int, min_rows: int = 1) -> int:
    return max(1, min(_config.MAX_BLOCKS, rows // min_rows))


def _product_blocks(rows: int, macs_per_row: int) -> int:
    """Row blocks of a large product: each worth starting a thread for."""
    return _n_blocks(rows, max(1, -(-_MIN_MACS_PER_BLOCK // macs_per_row)))


def compile_large_products(dtype) -> None:
    """Run the large products' block kernels in parallel once on tiny inputs.

    Calls reach the parallel run only when a product is large
    (:func:`_product_blocks`); :func:`fastgru.warmup` compiles it here so
    that a server's first large request does not.
    """
    rows, cols, width = 4, 3, 6
    a = np.zeros((rows, cols), dtype=dtype)
    W = np.zeros((width, cols), dtype=dtype)
    out = np.zeros((rows, width), dtype=dtype)
    n_blocks = _n_blocks(rows)  # what a large product would get on this machine
    _run_blocks(project_block, (a, W, np.ascontiguousarray(W.T), 0,
                                np.zeros(width, dtype=dtype), np.zeros(0, dtype=dtype), out,
                                product_address(gemm_nn, dtype)), n_blocks)
    product_address(large_products.project_blas, dtype)  # wider inputs' projection
    _run_blocks(matmul_block, (out, W, a), n_blocks)
    _run_blocks(weight_grad_block,
                (out, 0, width, a, np.zeros((n_blocks, width, cols), dtype=dtype),
                 np.zeros((n_blocks, width), dtype=dtype)), n_blocks)
    _run_blocks(transpose_block, (W, np.empty((cols, width), dtype=dtype)), n_blocks)
    cube = np.zeros((rows, cols, width), dtype=dtype)
    _run_blocks(swap_block, (cube, np.empty((cols, rows, width), dtype=dtype)),
                n_blocks)


# Transposing copies split into blocks of at least this many bytes (a thread
# pool start costs ~10-20 us, about what 256 KB take to copy), and run in
# NumPy below _MIN_SWAP_ELEMENTS, where a kernel call costs more than the copy.
_MIN_SWAP_BYTES_PER_BLOCK = 1 << 18
_MIN_SWAP_ELEMENTS = 1 << 12


def swap_first_axes(src: np.ndarray, copy: bool = True) -> np.ndarray:
    """``src.transpose(1, 0, 2)`` as a C-contiguous array (``src`` is 3-D,
    C-contiguous): batch-first to time-major, or back. A new array, but with
    ``copy`` False a view of ``src`` where the two orders are the same in
    memory (a batch or a time of 1)."""
    A, B, C = src.shape
    if A == 1 or B == 1:
        view = src.reshape(B, A, C)
        return view.copy() if copy else view
    if src.size < _MIN_SWAP_ELEMENTS:
        return src.transpose(1, 0, 2).copy()
    out = np.empty((B, A, C), dtype=src.dtype)
    row_bytes = B * C * src.itemsize
    _run_blocks(swap_block, (src, out),
                _n_blocks(A, -(-_MIN_SWAP_BYTES_PER_BLOCK // row_bytes)))
    return out


def _max_block_rows(n_rows: int) -> int:
    """The most rows one block of a sequence kernel gets (``_n_blocks(n_rows)`` blocks)."""
    return -(-n_rows // _n_blocks(n_rows))


_BLOCK_ADDRESSES: dict = {}


def block_kernel_address(block_kernel, args) -> int:
    """Address of ``block_kernel``'s compiled C wrapper for these arguments'
    types, for :func:`fastgru._kernels.launch.run_parallel`; the kernel is compiled,
    or loaded from the cache, on first use."""
    key = (block_kernel, *map(_type_key, args))
    address = _BLOCK_ADDRESSES.get(key)
    if address is None:
        # compiled for the argument types alone, as a direct (serial) call is:
        # one compile and one cache entry for both. Numba 0.68's
        # ``get_compile_result`` compiles the signature with its return type,
        # a different cache key (0.63's compiled the argument types): a
        # serial call then missed the parallel call's entry and compiled again.
        argtypes = (nb_types.int64, nb_types.int64, *map(numba.typeof, args))
        block_kernel.compile(argtypes)
        compiled = block_kernel.overloads[argtypes]
        address = _BLOCK_ADDRESSES[key] = cfunc_address(compiled)
    return address


def forward_one_addresses(mode, x, weights_ih, weights_t, weights_hh, h_n, scratch):
    """``(project_address, forward_address, gemm_addresses, nt_address)`` for
    :func:`fastgru._kernels.stack.forward_one` with these arguments' types: the
    block kernels compiled for the types of the calls it makes."""
    T, H = x.shape[1], h_n.shape[2]
    GH = xbias_width(mode, H)
    U = weights_hh[0]
    xproj = scratch[: T * GH].reshape(T, GH)
    steps = xproj.reshape(T, 1, GH)  # any 3-D array of the dtype
    no = NO
    gemm = tuple(product_address(large_products.projection_product(t), x.dtype) for t in weights_t)
    nt = recurrent_nt_address(H, 1, x.dtype)
    project = block_kernel_address(
        project_block, (x[0], weights_ih[0], weights_t[0], mode, scratch[:GH], scratch[:0],
                        xproj, gemm[0]))
    forward = block_kernel_address(
        for_mode(FORWARD_FULL, mode, 1), (mode, steps, U, U[:0], U[:0], scratch[:H],
                                 np.full(1, T, dtype=np.int64), no, no, steps, h_n[0], steps,
                                 steps, nt))
    return project, forward, gemm, nt


def recurrent_nt_address(hidden, batch, dtype) -> int:
    """The ``nt`` of the sequence kernels' per-step products
    (``_kernels.products.matmul_nt_at``) for ``batch`` rows: the address of
    ``nt_product`` (``gemm_nt`` and BLAS's gemv), or 0 where neither runs,
    and then none is compiled (a first forward at hidden 64, ~0.7 s less).

    Rows run in blocks (``_n_blocks``); a block of two or more rows reads
    the transposed weights in ``gemm_nn`` (``transposes_read`` makes
    them), and a single row reads them in ``gemm_row`` where ``row_tiled``
    admits the product, else in ``gemm_nt`` or BLAS. The largest recurrent
    product is a row times all of U (3H x H): where it is tiled, every one is.
    """
    if batch // _n_blocks(batch) >= 2 or row_tiled(3 * hidden, hidden, np.dtype(dtype).itemsize):
        return 0
    return product_address(nt_product, dtype)


def entry_point(kernel, args):
    """``kernel``'s compiled function for the exact types of ``args``
    (compiled, or loaded from the cache, now), to be called without the
    dispatcher's resolution of the arguments' types (0.3 us of a 3 us
    streaming step, with its 9 arguments). Only for a caller that checks
    that the arguments it passes have exactly these types (the entry point
    reads them as such)."""
    return kernel.compile(tuple(map(numba.typeof, args)))


def _run_blocks(block_kernel, args, n_blocks):
    """Run ``block_kernel(block, n_blocks, *args)`` for every block.

    The blocks depend on the sizes and the machine only (see
    ``_kernels.launch.block_rows``), so that where they run never changes a
    result. They run in this thread (the GIL released, no lock, no thread
    pool start-up, which dominates small calls) when there is one block,
    one thread, or when another Python thread is running blocks too
    (``_slots.other_callers``): a server's callers then overlap on the
    cores instead of queueing for a launch that splits each small batch
    across them. Otherwise they run in parallel through
    ``_kernels.launch.run_parallel``, serialised by a lock (Numba's
    workqueue layer aborts on concurrent launches).
    """
    if n_blocks == 1 or _runtime.get_num_threads() == 1:
        for block in range(n_blocks):
            block_kernel(block, n_blocks, *args)
        return
    with _slots.caller():
        if _slots.other_callers():
            for block in range(n_blocks):
                block_kernel(block, n_blocks, *args)
            return
        address = block_kernel_address(block_kernel, args)
        with _runtime.parallel_launch_lock:  # the lock itself: see _runtime.begin_launch
            _runtime.begin_launch()
            run_parallel(address, n_blocks, args)


def direction_forward(variant: Variant, cell, x_tm, h0, h_last, lengths, reverse, training,
                      workspace, key, full=None):
    """Forward of one layer and direction.

    ``h0`` (B, H) is the initial state, or None for zeros; ``h_last`` (B, H)
    receives each row's last state. ``full``: whether every sequence runs
    all T steps (``lengths`` all T), if the caller knows; else computed.
    Returns ``(y (T, B, H), cache or None)``; ``y`` and the cache live in
    ``workspace`` under ``key`` until the next call.
    """
    T, B, _ = x_tm.shape
    H = h_last.shape[1]
    dtype = x_tm.dtype
    x2d = x_tm.reshape(T * B, -1)
    b1, b2 = variant.bias_arrays(cell, dtype)
    # the projections, which the recurrence turns into the gates in place:
    # kept for BPTT in training, shared scratch otherwise
    xproj = buffer(workspace, (key, "gates") if training else "xproj",
                   (T * B, variant.n_gates * H), dtype)
    W = cell["weight_ih"]
    W_t = (transposed(workspace, (key, "W_t"), W) if project_tiled(W.shape[1])
           else np.empty((0, 0), dtype=dtype))
    _run_blocks(project_block, (x2d, W, W_t, variant.mode, b1, b2, xproj,
                                product_address(large_products.projection_product(W_t), dtype)),
                _product_blocks(T * B, W.size))
    xproj = xproj.reshape(T, B, -1)
    if h0 is None:
        h_last.fill(0.0)
    else:
        h_last[:] = h0
    # y with one more step, h0's, before its first step in processing order:
    # y[t-1] (y[t+1] reversed) is the state before step t, which BPTT reads
    # from this buffer when every row runs every step (no separate copy)
    states = buffer(workspace, (key, "states"), (T + 1, B, H), dtype)
    y = states[:T] if reverse else states[1:]
    U = cell["weight_hh"]
    n_blocks = _n_blocks(B)
    U_t = _transposed_blocks(variant.mode, U, H, True, _max_block_rows(B), workspace, key)
    if full is None:
        full = bool(lengths.min() == T)
    if training:
        # padded steps are skipped: they keep finite values (projections, and
        # see buffer) that the weight products multiply by zero gradients
        aux = buffer(workspace, (key, "aux"), (T, B, H), dtype)
        if full:  # BPTT reads hprev from y: the kernel keeps none
            states[T if reverse else 0] = h_last
            hprev = states[1:] if reverse else states[:T]
            kept_hprev = np.empty((0, B, H), dtype=dtype)
        else:
            hprev = kept_hprev = buffer(workspace, (key, "hprev"), (T, B, H), dtype)
    else:
        hprev = kept_hprev = aux = np.empty((1, 1, 1), dtype=dtype)
    # every row runs every step: the kernel of that loop alone (a first
    # forward from an empty cache compiles it, not forward_block's two loops)
    _run_blocks(
        for_mode(FORWARD_FULL if full else FORWARD, variant.mode, _max_block_rows(B)),
        (variant.mode, xproj, U, *U_t, hidden_bias(variant.mode, b2, H), lengths, reverse,
         training,
         y, h_last, kept_hprev, aux, recurrent_nt_address(H, B, dtype)),
        n_blocks,
    )
    cache = DirectionCache(x2d, hprev, xproj, aux) if training else None
    return y, cache


def _weight_grad(d, col0, col1, inp):
    """``(d[:, col0:col1].T @ inp, column sums of d[:, col0:col1])``, blocked."""
    rows = d.shape[0]
    n_blocks = _product_blocks(rows, (col1 - col0) * inp.shape[1])
    partial = np.empty((n_blocks, col1 - col0, inp.shape[1]), dtype=d.dtype)
    sums = np.empty((n_blocks, col1 - col0), dtype=d.dtype)
    _run_blocks(weight_grad_block, (d, col0, col1, inp, partial, sums), n_blocks)
    if n_blocks == 1:
        return partial[0], sums[0]
    return partial.sum(axis=0), sums.sum(axis=0)


def transposes_read(mode, U, H, forward, rows):
    """``(gate rows, candidate rows)``: how many of ``U``'s first rows (its
    gates', all of it for RESET_AFTER) and last rows (its candidate's, H)
    the recurrent products of blocks of ``rows`` rows read transposed, 0
    where they read none.

    The products (``_kernels.products.matmul``) read ``x @ U.T``
    (``forward``) or ``dx @ U`` (BPTT) in the layout that
    ``_kernels.products.reads_b`` (blocks of several rows) and ``row_tiled``
    (a single row) ask for. RESET_AFTER multiplies by all of ``U`` at once
    and never reads the candidate's rows apart; BIAS_GATES' ``U`` holds the
    candidate's rows alone.
    """
    if mode in (RESET_AFTER, BIAS_GATES):
        n_gate = U.shape[0]
    else:
        n_gate = H if mode == MGU else 2 * H

    def wanted(n_rows):
        return (reads_b(rows) or row_tiled(n_rows, H, U.itemsize)) == forward

    return (0 if mode == BIAS_GATES or not wanted(n_gate) else n_gate,
            0 if mode == RESET_AFTER or not wanted(H) else H)


def _transposed_blocks(mode, U, H, forward, rows, workspace, key):
    """Contiguous transposes of ``U``'s gate rows and candidate rows where
    the recurrent products of blocks of ``rows`` rows read them
    (:func:`transposes_read`), else 0-row arrays. They are kept per ``key``
    (a layer and direction) and made again only when ``U`` changed
    (:func:`transposed`).
    """
    n_gate, n_cand = transposes_read(mode, U, H, forward, rows)
    empty = U[:0]
    return (transposed(workspace, (key, "UT_g"), U[:n_gate]) if n_gate else empty,
            transposed(workspace, (key, "UT_c"), U[U.shape[0] - H :]) if n_cand else empty)


# BPTT adds the weight gradients of every chunk of steps as soon as the chunk
# is done, while its rows are in cache, in products of about this many rows
# (single-threaded BLAS reaches 70-100 GFLOP/s from ~128 rows, measured). The
# alternative, a few large products over all T*B rows after the time loop,
# reads every gradient back from memory: at batch 64, hidden 128 (T*B*G*H*4
# bytes: 10 MB per array) the products ran at 95-130 GFLOP/s in a training
# step and 155-175 on data in cache, and the whole step takes 0.9x the time
# in chunks. Each chunk also reads and writes the block's weight-gradient
# sums: chunks pay only while those stay in cache (hidden 512, input 256:
# 4.7 MB, and the step took 1.03x the time in chunks).
_CHUNK_ROWS = 128
_CHUNK_MAX_GRAD_BYTES = 1 << 20


def _chunk_steps(T, B, weight_elements, itemsize) -> int:
    """Steps per chunk of BPTT's weight gradients (``_kernels.sequence.backward_block``),
    or 0 for large products after the time loop. Those are taken when the
    gradients of the weights (``weight_elements``) are large, or when there
    is one row block (batch 1): then they split over every thread."""
    if _n_blocks(B) == 1 or weight_elements * itemsize > _CHUNK_MAX_GRAD_BYTES:
        return 0
    return min(T, -(-_CHUNK_ROWS // _max_block_rows(B)))


def direction_backward(variant, cell, cache, dy, dh_last, lengths, reverse, has_bias,
                       workspace, key, want_dx=True, dy_batch_first=False, dy_col=0):
    """BPTT of one layer and direction.

    ``dy`` and ``dh_last`` (B, H) are gradients of the outputs. ``dy`` is
    (T, B, width), or (B, T, width) if ``dy_batch_first``, with this
    direction's H columns from ``dy_col``: the kernel reads them in place,
    with no transposing or slicing copy. ``dy`` None stands for zeros.
    Returns ``(dx (T, B, I), dh0 (B, H), grads)`` with grads keyed by the
    parameter names without the layer suffix; ``dx`` lives in ``workspace``
    under ``key`` until the next call. With ``want_dx`` False, ``dx`` is
    None and its product (a ninth of the step's work at input = hidden/2)
    is skipped.
    """
    T, B, _ = cache.gates.shape
    H = dh_last.shape[1]
    dtype = dh_last.dtype
    if dy is None:
        dy = np.empty((0, 0, 0), dtype=dtype)
    gh = cache.gates.shape[2]
    mode = variant.mode
    U = cell["weight_hh"]
    W = cell["weight_ih"]
    GW, I = W.shape
    col0 = gh - GW  # weight_ih feeds the last row blocks
    dw = dhh_width(mode, H)
    n_blocks = _n_blocks(B)
    chunk = _chunk_steps(T, B, W.size + U.size, dtype.itemsize)
    # every path writes all of dx (padded steps: zeros) if it is wanted; if
    # not, no columns (the kernel's views of it stay in bounds)
    dx = buffer(workspace, (key, "dx" if want_dx else "no dx"), (T, B, I if want_dx else 0),
                dtype)
    x_tm = cache.x2d.reshape(T, B, I)
    if chunk:
        rows = chunk * _max_block_rows(B)
        dxp = buffer(workspace, "dxp", (n_blocks, rows, gh), dtype)
        dhh = buffer(workspace, "dhh", (n_blocks, rows, dw), dtype)
        aux_width = 0 if mode == RESET_AFTER else H
        # the rows of x, hprev, aux and dx, and scratch (kernel's docstring);
        # keyed by width too, as the first layer's input width differs
        widths = (I, H, aux_width, I if want_dx else 0, GW if col0 else 0, aux_width)
        stage = tuple(buffer(workspace, ("stage", i, w), (n_blocks, rows, w), dtype)
                      for i, w in enumerate(widths))
        nb = n_blocks  # the per-block partial sums
    else:
        dxp = buffer(workspace, "dxp", (T, B, gh), dtype)
        dhh = buffer(workspace, "dhh", (T, B, dw), dtype)
        stage = (np.empty((0, 0, 0), dtype=dtype),) * 6
        nb = 0
    dh = dh_last.copy()
    g_w, g_xs, g_uh, g_hs, g_uc = (  # per-block partial sums: the kernel sets them
        buffer(workspace, (name, shape), shape, dtype)
        for name, shape in (("g_w", (nb, GW, I)), ("g_xs", (nb, GW)), ("g_uh", (nb, dw, H)),
                            ("g_hs", (nb, dw)), ("g_uc", (nb, H, H))))
    _run_blocks(
        for_mode(BACKWARD, mode, _max_block_rows(B)),
        (mode, U, *_transposed_blocks(mode, U, H, False, _max_block_rows(B), workspace, key),
         dy,
         dy_batch_first, dy_col, lengths, reverse, cache.hprev, cache.gates, cache.aux, x_tm, W,
         chunk, dxp, dhh, dh, want_dx, dx, *stage, g_w, g_xs, g_uh, g_hs, g_uc,
         # the chunks' products: gemm_tn_add runs in chunks only (0: a first
         # backward of one sequence does not compile it, ~1 s)
         product_address(gemm_nn, dtype), product_address(gemm_tn_add, dtype) if chunk else 0,
         recurrent_nt_address(H, B, dtype)),
        n_blocks,
    )
    R = T * B
    if chunk:
        dW, x_sums = g_w.sum(axis=0), g_xs.sum(axis=0)
        dU_gates, dhh_sums, dU_cand = g_uh.sum(axis=0), g_hs.sum(axis=0), g_uc.sum(axis=0)
    else:
        # Each product's column sums come with it: they give the bias gradients.
        dxp = dxp.reshape(R, gh)
        dhh = dhh.reshape(R, dw)
        hprev = cache.hprev.reshape(R, H)
        aux = cache.aux.reshape(R, H)
        dW, x_sums = _weight_grad(dxp, col0, gh, cache.x2d)
        if want_dx:
            dxp_x = dxp if col0 == 0 else np.ascontiguousarray(dxp[:, col0:])
            _run_blocks(matmul_block, (dxp_x, W, dx.reshape(R, I)),
                        _product_blocks(R, W.size))
        # every row block of U gets (its output's gradient)^T @ (its input)
        if mode == BIAS_GATES:
            dU_gates, dhh_sums = None, dhh.sum(axis=0)
        else:
            dU_gates, dhh_sums = _weight_grad(dhh, 0, dw, hprev)
        dU_cand = None if mode == RESET_AFTER else _weight_grad(dxp, gh - H, gh, aux)[0]

    grads = {"weight_ih": dW}
    d_bhn = None
    if mode == RESET_AFTER:
        grads["weight_hh"] = dU_gates
        d_bhn = dhh_sums[2 * H :]
    elif mode == BIAS_GATES:
        grads["weight_hh"] = dU_cand
    else:  # RESET_BEFORE: [r, z] see h, n sees r*h; MGU: f sees h, n sees f*h
        grads["weight_hh"] = np.concatenate([dU_gates, dU_cand])
    if has_bias:
        # dxp's column sums: the x-side product's, plus for "gru1-3" the gates'
        # (which dhh repeats) where weight_ih does not reach.
        dxbias = x_sums if col0 == 0 else np.concatenate([dhh_sums[:col0], x_sums])
        grads.update(variant.bias_grads(dxbias, d_bhn, H))
    return (dx.reshape(T, B, I) if want_dx else None), dh, grads
