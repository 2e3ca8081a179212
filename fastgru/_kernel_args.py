"""The kernel arguments a thread reuses across inference calls of a layer.

:class:`ForwardOneArgs` (one sequence, batch 1) and :class:`StepArgs` (one
time step, one batch size) hold the weights' tuples as the kernels of
:mod:`fastgru._kernels.stack` take them, scratch buffers, and the C
addresses of the compiled entry points (``fastgru._engine.entry_point``,
``forward_one_addresses``), so that a serving call skips Numba's dispatch.
Each remembers the ``params`` dict and its version it was built from: a
replaced array makes the layer build a new one. :func:`forward_one` and
:func:`step_args` are the layer's paths through them.
"""

from __future__ import annotations

import numpy as np

from . import _engine, _passes, _runtime, _slots
from ._kernels import large_products, products, stack
from ._kernels.cell import for_mode
from ._validation import as_float_array, check_memory, check_state
from ._variants import get_variant


def forward_one(layer, x):
    """:meth:`GRU.forward`'s inference of one sequence in one kernel call, or
    None where the general path must run: ``x`` other than a writeable,
    aligned, C-ordered (1, T, input_size) array of the layer's dtype, a
    bidirectional layer, ``params`` without a version (a plain dict), or
    the layer's first such call in this thread: the kernel compiles (or
    loads) on the second, so that a process that runs one forward (a
    script's first call, a cold start from an empty cache) does not compile
    it (~2 s) besides the general path's kernels, which it needs anyway.
    Its arguments are ``layer``'s per-thread :class:`ForwardOneArgs`."""
    if not (type(x) is np.ndarray and x.ndim == 3 and x.shape[0] == 1
            and x.dtype == layer.dtype and x.flags.carray and x.shape[1] > 0
            and x.shape[2] == layer.input_size and not layer.bidirectional):
        return None
    cache = _forward_one_args(layer, first_call_waits=True)
    if cache is None or not cache.usable:
        return None
    T, H = x.shape[1], layer.hidden_size
    if T * H > 1 << 20:  # (a short sequence skips the arithmetic)
        check_memory(f"forward of x {x.shape}", _passes.forward_bytes(layer, 1, T, False))
    y = np.empty((1, T, H), dtype=layer.dtype)
    h_n = np.empty((layer.num_layers, 1, H), dtype=layer.dtype)
    args = (cache.mode, x, *cache.args(), y, h_n, cache.scratch_for(T, H), *cache.addresses)
    if cache.uses_blas:
        with _runtime.single_threaded_blas():
            ok = stack.forward_one(*args)
    else:
        ok = stack.forward_one(*args)
    if not ok:
        raise ValueError("x contains NaN or inf")
    if layer._cache is not None:
        layer._cache = None  # as after any inference: backward needs a training forward
    return y, h_n


def _forward_one_args(layer, first_call_waits=False):
    """``layer``'s :class:`ForwardOneArgs` in this thread, made again when
    an array of ``params`` was replaced; None for a plain-dict ``params``,
    and with ``first_call_waits`` at the layer's first call in this thread
    (see :func:`forward_one`)."""
    params = layer.params
    version = getattr(params, "version", None)
    if version is None:
        return None
    local = layer._thread_local()
    cache = getattr(local, "forward_one", None)
    if cache is None or cache.params is not params or cache.version != version:
        if first_call_waits and cache is None and not getattr(local, "one_sequence_seen",
                                                              False):
            local.one_sequence_seen = True
            return None
        cache = local.forward_one = ForwardOneArgs(layer)
    return cache


def batch_key(layer, x):
    """The key under which :meth:`GRU.forward` of ``x`` (inference, no
    ``h0`` or ``lengths``) may run in one batch with other threads' calls
    (``fastgru._slots.FairSlots.run``), or None: ``x`` one short sequence
    that :func:`forward_one` takes, of a layer whose every product gives a
    row the same bits in any batch (:attr:`ForwardOneArgs.rows_independent`),
    and batching on (``fastgru._slots.batching``)."""
    if not (_slots.batching and type(x) is np.ndarray and x.ndim == 3 and x.shape[0] == 1
            and x.dtype == layer.dtype and x.flags.carray and x.shape[1] > 0
            and x.shape[1] * layer.hidden_size <= _slots.BATCH_MAX_ELEMENTS
            and x.shape[2] == layer.input_size and not layer.bidirectional):
        return None
    cache = _forward_one_args(layer)
    if cache is None or not cache.rows_independent:
        return None
    return (id(layer), id(cache.params), cache.version, x.shape[1])


def forward_admitted(layer, x, h0, lengths, outputs=True):
    """:meth:`GRU.forward`'s inference, admitted by ``fastgru._slots``: with
    the like calls queued behind it as one batch (:func:`batch_key`), or
    alone. Without ``outputs`` (a caller that reads ``h_n`` alone), a call
    run alone makes no batch-first copy of the outputs and ``y`` may be None."""
    slots = _slots.inference_slot()
    key = batch_key(layer, x) if h0 is None and lengths is None else None
    if key is not None:
        return slots.run(key, (layer, x), forward_alone, forward_batch, _slots.BATCH_MAX_ROWS)
    with slots:
        return layer._forward_call(x, h0, lengths, False, outputs)


def forward_alone(item):
    """``item`` = (layer, x): :meth:`GRU.forward`'s inference of ``x``."""
    layer, x = item
    return layer._forward_call(x, None, None, False)


def forward_batch(items):
    """The results of :func:`forward_alone` for ``items`` (one layer, one
    sequence each, one length), from one forward of them as a batch on this
    thread: the same bits (:func:`batch_key`)."""
    layer = items[0][0]
    x = np.concatenate([x for _, x in items])
    with _runtime.thread_limit(1):  # the callers queue: the cores are busy
        y, h_n = layer._forward_call(x, None, None, False)
    return [(y[i : i + 1].copy(), h_n[:, i : i + 1].copy()) for i in range(len(items))]


def step_args(layer, x_t, h, out):
    """:meth:`GRU.step`'s arguments converted and checked, the weights' tuples
    and scratch reused from ``layer``'s per-thread :class:`StepArgs`.

    NaN/inf is checked in the kernel, before it writes anything.
    """
    if layer.bidirectional:
        raise ValueError("step is not defined for a bidirectional layer (it needs the future)")
    dtype, L, H = layer.dtype, layer.num_layers, layer.hidden_size
    if not (type(x_t) is np.ndarray and x_t.dtype == dtype and x_t.ndim == 2
            and x_t.flags.carray and x_t.shape[1] == layer.input_size and x_t.shape[0] > 0):
        x_t = as_float_array("x_t", x_t, dtype, ndim=2)
        if x_t.shape[1] != layer.input_size:
            raise ValueError(
                f"x_t has {x_t.shape[1]} features, expected input_size={layer.input_size}"
            )
    shape = (L, x_t.shape[0], H)
    if h is None:
        h = np.zeros(shape, dtype=dtype)
    elif not (type(h) is np.ndarray and h.dtype == dtype and h.shape == shape
              and h.flags.carray):
        h = check_state("h", h, shape, dtype)
    if out is None:
        out = np.empty(shape, dtype=dtype)
    elif not (type(out) is np.ndarray and out.dtype == dtype and out.shape == shape
              and out.flags.carray):
        raise bad_out(out, shape, dtype)
    local = layer._thread_local()
    cache = getattr(local, "step", None)
    params = layer.params
    version = getattr(params, "version", None)
    if (cache is None or cache.params is not params or cache.x_shape[0] != shape[1]
            or cache.version != version or version is None
            and any(a is not params[name] for a, name in cache.used)):
        cache = StepArgs(layer, shape[1])
        if cache.kernel_args[-1].nbytes <= _engine.WORKSPACE_KEEP_BYTES:
            local.step = cache  # kept for the fast path; a huge batch's is not
    return (cache.mode, x_t, h, out, *cache.kernel_args)


def stack_weights(layer):
    """``(mode, used, (weights_ih, weights_hh, b1s, b2s))`` of a unidirectional
    stack, per-layer tuples as :func:`fastgru._kernels.stack.step_layers` and
    :func:`~fastgru._kernels.stack.forward_one` take them; ``used`` pairs each
    array with its name, for a plain-dict ``params`` (no version)."""
    v = get_variant(layer.variant)
    cells = [layer._cell(k, 0) for k in range(layer.num_layers)]  # checked
    biases = [v.bias_arrays(c, layer.dtype) for c in cells]
    params = layer.params
    used = [(params[name + layer._suffix(k, 0)], name + layer._suffix(k, 0))
            for k, c in enumerate(cells) for name in c]
    return v.mode, used, (tuple(c["weight_ih"] for c in cells),
                          tuple(c["weight_hh"] for c in cells),
                          tuple(b[0] for b in biases), tuple(b[1] for b in biases))


def bad_out(out, shape, dtype) -> Exception:
    """The error for a ``step(out=...)`` that cannot be written by the kernel,
    saying which condition fails."""
    if type(out) is not np.ndarray:
        reason = f"got a {type(out).__name__} (a subclass such as memmap is refused)"
    elif out.dtype != dtype:
        reason = f"got dtype {out.dtype}"
    elif out.shape != shape:
        reason = f"got shape {out.shape}"
    elif not out.flags.writeable:
        reason = "got a read-only array"
    elif not out.flags.aligned:
        reason = "got an unaligned array"
    else:
        reason = "got an array that is not C-contiguous"
    return ValueError(f"out must be a writeable, aligned, C-contiguous numpy.ndarray of dtype "
                      f"{dtype.name} and shape {shape}: {reason}")


class ForwardOneArgs:
    """What :meth:`GRU.forward` reuses across calls of one sequence (batch 1,
    inference) in one thread: the weights' tuples, the input and recurrent
    weights' transposes with the copies they were made from, and a scratch buffer
    that grows with the longest sequence seen."""

    __slots__ = ("params", "version", "mode", "weights", "extra", "hh", "uses_blas",
                 "scratch", "addresses", "usable", "rows_independent")

    def __init__(self, layer):
        self.params = layer.params
        self.version = layer.params.version
        self.mode, used, self.weights = stack_weights(layer)
        # the kernel takes each kind of weight as a tuple of one type: arrays
        # assigned by hand in another layout (or read-only) go the general way
        self.usable = all(a.flags.carray for a, _ in used)
        transposes, copies = [], []
        for W in self.weights[0]:
            tiled = large_products.project_tiled(W.shape[1])
            shape = W.shape if tiled else (0, 0)
            transposes.append(_engine.aligned_empty(shape[::-1], layer.dtype))
            copies.append(np.full(shape, np.nan, dtype=layer.dtype))  # never equal: transpose
        self.extra = (tuple(transposes), tuple(copies))
        H = layer.hidden_size
        self.hh = recurrent_transposes(self.mode, self.weights[1], H, layer.dtype)
        # products in BLAS (which must then run single-threaded): projections
        # without a transpose for the tiles, and the largest single-row
        # recurrent product (all of U at once, in the "torch" variant)
        self.uses_blas = (any(t.shape[0] == 0 for t in transposes)
                          or products.row_product_in_blas(3 * H, H))
        self.scratch = np.empty(stack.forward_one_scratch_size(self.mode, 1, H),
                                dtype=layer.dtype)
        # a row's result the same bits in any batch: the products in the
        # tiles, never in BLAS (products.row_tiled, large_products.project_tiled)
        self.rows_independent = self.usable and not any(
            t.shape[0] == 0 for t in transposes) and all(
            products.row_tiled(U.shape[0], H, U.itemsize) for U in self.weights[1])
        self.addresses = None
        if self.usable:
            L = layer.num_layers
            self.addresses = _engine.forward_one_addresses(
                self.mode, np.empty((1, 1, layer.input_size), dtype=layer.dtype),
                self.weights[0], self.extra[0], self.weights[1],
                np.empty((L, 1, H), dtype=layer.dtype), self.scratch)

    def args(self):
        """The kernel's arguments after ``x`` and before ``y``, ``h_n``, scratch."""
        W_ih, W_hh, b1s, b2s = self.weights
        return (W_ih, *self.extra, W_hh, *self.hh, b1s, b2s)

    def scratch_for(self, T, hidden):
        """Scratch for ``T`` steps: kept for the next call up to
        ``_engine.WORKSPACE_KEEP_BYTES``, a temporary beyond."""
        size = stack.forward_one_scratch_size(self.mode, T, hidden)
        if self.scratch.size >= size:
            return self.scratch
        scratch = np.empty(size, dtype=self.scratch.dtype)
        if scratch.nbytes <= _engine.WORKSPACE_KEEP_BYTES:
            self.scratch = scratch
        return scratch


def recurrent_transposes(mode, weights_hh, H, dtype):
    """``(transposes, copies)``: :func:`fastgru._kernels.stack.forward_one`'s
    ``hh_t`` and ``hh_copy``. Per layer, pairs (gate rows, candidate rows):
    buffers for the transposes of the recurrent weights that its single-row
    products read (those the engine makes for a block of one row,
    ``_engine.transposes_read``), and copies unequal to every weight, so
    that the first call transposes; (0, H) arrays where none is read."""
    transposes, copies = [], []
    for U in weights_hh:
        pairs = [(_engine.aligned_empty((H, rows), dtype), np.full((rows, H), np.nan, dtype=dtype))
                 if rows else (np.empty((0, H), dtype=dtype),) * 2
                 for rows in _engine.transposes_read(mode, U, H, True, 1)]
        transposes.append(tuple(t for t, _ in pairs))
        copies.append(tuple(c for _, c in pairs))
    return tuple(transposes), tuple(copies)


class StepArgs:
    """What :meth:`GRU.step` reuses across calls in one thread, for one batch
    size: the kernel's arguments besides x, h and out (the weights' tuples
    and its scratch), and the shapes and dtype the serving call's arrays
    must have. ``params`` and its ``version`` tell when an array was
    replaced (a plain dict has no version: ``used`` is compared)."""

    __slots__ = ("params", "version", "used", "mode", "kernel_args", "x_shape", "h_shape",
                 "dtype", "entry")

    def __init__(self, layer, batch: int):
        self.params = layer.params
        self.version = getattr(layer.params, "version", None)
        self.mode, self.used, weights = stack_weights(layer)
        size = stack.step_scratch_size(self.mode, batch, layer.hidden_size,
                                          weights[0][0].shape[0])
        self.kernel_args = (*weights, np.empty(size, dtype=layer.dtype))  # after x, h, out
        self.x_shape = (batch, layer.input_size)
        self.h_shape = (layer.num_layers, batch, layer.hidden_size)
        self.dtype = layer.dtype
        # step_layers compiled for writeable, aligned C arrays x_t, h and out
        # of these shapes (what GRU.step's fast path checks) and these weights
        h_like = np.empty(self.h_shape, dtype=self.dtype)
        self.entry = _engine.entry_point(
            for_mode(stack.STEP, self.mode), (self.mode, np.empty(self.x_shape, dtype=self.dtype),
                                   h_like, h_like, *self.kernel_args))
