"""The public GRU layer: stacked, bidirectional, variable-length, streaming.

Longer than 500 lines for a reason: it is one public class, ``GRU``, whose
methods (forward, backward, step, state dicts, interop) share its parameters
and the per-thread caches of the fast paths (transposed weights, the
serving ``step``'s arguments), which live beside it.
"""

from __future__ import annotations

import math
import threading

import numpy as np

from . import _config, _engine, _slots
from ._kernels import large_products, products, stack
from ._validation import (
    as_float_array,
    as_sequences,
    check_bool,
    check_dtype,
    check_int,
    check_lengths,
    check_memory,
    check_real,
    check_state,
)
from ._variants import get_variant

__all__ = ["GRU"]

#: Bytes counted per layer and direction besides the weights: the Python
#: objects a layer keeps and a training forward adds (about 10 KiB measured).
LAYER_OVERHEAD = 16 << 10


class ParamDict(dict):
    """A dict of parameter arrays that counts item assignments.

    :meth:`GRU.step` caches its kernel arguments; the counter tells it cheaply
    when an array was replaced (arrays changed in place need no notice).
    """

    version = 0

    def __setitem__(self, key, value):
        self.version += 1
        super().__setitem__(key, value)

    def __delitem__(self, key):
        self.version += 1
        super().__delitem__(key)

    def update(self, *args, **kwargs):
        self.version += 1
        super().update(*args, **kwargs)

    # every other way of replacing an array moves the counter too
    def setdefault(self, key, default=None):
        self.version += 1
        return super().setdefault(key, default)

    def pop(self, *args):
        self.version += 1
        return super().pop(*args)

    def popitem(self):
        self.version += 1
        return super().popitem()

    def clear(self):
        self.version += 1
        super().clear()

    def __ior__(self, other):
        self.update(other)
        return self

    def __reduce__(self):
        return (ParamDict, (dict(self),))


class GRU:
    """A multi-layer gated recurrent unit, run by Numba kernels on the CPU.

    Parameters
    ----------
    input_size : int
        Features per time step of the input.
    hidden_size : int
        Size H of the hidden state.
    num_layers : int, default 1
        Stacked layers; layer k > 0 reads the outputs of layer k - 1. The
        memory check counts 16 KiB per layer and direction besides the
        weights (the layer's Python objects), so a deep stack of tiny layers
        that would exhaust memory is refused with the memory it needs.
    bidirectional : bool, default False
        Add a reverse-time direction per layer; outputs are concatenated
        (forward half first).
    variant : {"torch", "cho", "gru1", "gru2", "gru3", "mgu"}, default "torch"
        The gate equations (see the README). "torch" equals ``torch.nn.GRU``.
    bias : bool, default True
        Whether the cells have biases.
    dropout : float in [0, 1), default 0
        Dropout on the outputs of every layer but the last, in training only.
    dtype : {"float32", "float64"}, default "float32"
        Precision of parameters and computation; inputs are converted once.
    random_state : int, numpy Generator or None
        Seeds the initialisation U(-1/sqrt(H), 1/sqrt(H)) and dropout masks.

    Attributes
    ----------
    params : dict of str to ndarray
        Parameters with PyTorch's names (``weight_ih_l0``, ``weight_hh_l0``,
        ``bias_ih_l0``, ``bias_hh_l0``, suffix ``_reverse``); the variants
        "gru1", "gru2", "gru3" and "mgu" have a single ``bias_l{k}``.
    grads : dict of str to ndarray
        Parameter gradients written by :meth:`backward` (same keys and shapes).

    Examples
    --------
    >>> import numpy as np
    >>> import fastgru
    >>> layer = fastgru.GRU(input_size=3, hidden_size=8, random_state=0)
    >>> x = np.random.default_rng(0).normal(size=(4, 10, 3))
    >>> y, h_n = layer.forward(x, training=True)
    >>> y.shape, h_n.shape
    ((4, 10, 8), (1, 4, 8))
    >>> dx, dh0 = layer.backward(np.ones_like(y))
    >>> layer.grads["weight_hh_l0"].shape
    (24, 8)
    """

    def __init__(
        self,
        input_size,
        hidden_size,
        num_layers=1,
        *,
        bidirectional=False,
        variant="torch",
        bias=True,
        dropout=0.0,
        dtype="float32",
        random_state=None,
    ):
        self._configure(input_size, hidden_size, num_layers, bidirectional, variant, bias,
                        dropout, dtype)
        self._rng = np.random.default_rng(random_state)
        bound = 1.0 / np.sqrt(self.hidden_size)
        self._set_params({
            name: self._rng.uniform(-bound, bound, size=shape).astype(self.dtype)
            for name, shape in self._param_shapes().items()
        })

    def _configure(self, input_size, hidden_size, num_layers, bidirectional, variant, bias,
                   dropout, dtype) -> None:
        """Check and store the configuration (the constructor's arguments)."""
        self.input_size = check_int("input_size", input_size)
        self.hidden_size = check_int("hidden_size", hidden_size)
        self.num_layers = check_int("num_layers", num_layers)
        self.bidirectional = check_bool("bidirectional", bidirectional)
        self.bias = check_bool("bias", bias)
        self.variant = get_variant(variant).name
        self.dropout = check_real("dropout", dropout, 0.0, 1.0)
        self.dtype = check_dtype(dtype)
        # each layer and direction also costs Python objects (its arrays, their
        # gradients, views, a training forward's tape): about 10 KiB measured,
        # whatever the sizes, so a deep stack of tiny layers is counted too
        cells = self.num_layers * self.num_directions
        check_memory(f"GRU({self.input_size}, {self.hidden_size}, num_layers={self.num_layers})'s"
                     f" parameters, gradients and per-layer state ({LAYER_OVERHEAD >> 10} KiB per "
                     "layer and direction)",
                     2 * self._count_params() * self.dtype.itemsize + cells * LAYER_OVERHEAD)

    @classmethod
    def _from_params(cls, params: dict, *, input_size, hidden_size, num_layers=1,
                     bidirectional=False, variant="torch", bias=True, dropout=0.0,
                     dtype="float32"):
        """A layer with exactly ``params`` (names, shapes and the dtype
        checked, NaN/inf refused), built without a random initialisation
        (:func:`fastgru.load`)."""
        layer = cls.__new__(cls)
        layer._configure(input_size, hidden_size, num_layers, bidirectional, variant, bias,
                         dropout, dtype)
        check_params(layer, params)
        for name, a in params.items():
            if not np.isfinite(a).all():
                raise ValueError(f"params[{name!r}] contains NaN or inf")
        layer._rng = np.random.default_rng()
        layer._set_params(params)
        return layer

    def _set_params(self, arrays: dict) -> None:
        """Store copies of ``arrays`` (validated) as the parameters, aligned
        for the kernels (``fastgru._engine.ALIGNMENT``), with zero gradients."""
        self.params = ParamDict((name, _engine.aligned_copy(a)) for name, a in arrays.items())
        self.grads = {name: np.zeros_like(p) for name, p in self.params.items()}
        self._cache = None
        self._prepare_inference()

    def _prepare_inference(self) -> None:
        """Create what inference would otherwise add on first use (the per-thread
        state and the cells' views), so that ``forward(training=False)`` and
        ``step`` leave the layer's ``__dict__`` as they found it."""
        if "_local" not in self.__dict__:
            self._local = threading.local()
        self._cells()

    def __getstate__(self):
        # The model only: per-thread buffers (not picklable), the cells'
        # views, the training tape of the last forward(training=True) and the
        # gradients (zeros again after unpickling) are not part of it.
        state = self.__dict__.copy()
        for key in ("_local", "_cells_cache", "grads"):
            state.pop(key, None)
        state["_cache"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        # unpickled arrays start wherever the allocator put them: aligned
        # copies, zero gradients, no tape, as any new set of parameters
        self._set_params(self.params)

    # ------------------------------------------------------------------ layout
    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @staticmethod
    def _suffix(layer: int, direction: int) -> str:
        return f"_l{layer}" + ("_reverse" if direction else "")

    def _count_params(self) -> int:
        """Scalar parameters, counted without building anything."""
        v = get_variant(self.variant)
        D, H = self.num_directions, self.hidden_size
        first = sum(math.prod(shape) for shape in
                    v.param_shapes(self.input_size, H, self.bias).values())
        other = sum(math.prod(shape) for shape in v.param_shapes(D * H, H, self.bias).values())
        return D * (first + (self.num_layers - 1) * other)

    def _param_shapes(self) -> dict:
        v = get_variant(self.variant)
        shapes = {}
        for layer in range(self.num_layers):
            n_in = self.input_size if layer == 0 else self.hidden_size * self.num_directions
            for d in range(self.num_directions):
                for base, shape in v.param_shapes(n_in, self.hidden_size, self.bias).items():
                    shapes[base + self._suffix(layer, d)] = shape
        return shapes

    def _cell(self, layer: int, direction: int) -> dict:
        """One cell's parameters keyed by base name (``weight_ih``, ...)."""
        return self._cells()[layer * self.num_directions + direction]

    def _cells(self) -> list:
        """Every cell's parameters, layer-major, direction-minor.

        Rebuilt only when an array of :attr:`params` is replaced (its counter
        moves; arrays changed in place are the same objects): building them
        costs about a microsecond, a tenth of a short forward's fixed cost.
        """
        params = self.params
        version = getattr(params, "version", None)
        cached = self.__dict__.get("_cells_cache")
        if (cached is not None and cached[0] is params and cached[1] == version
                and version is not None):
            return cached[2]
        check_params(self, params)
        names = ("weight_ih", "weight_hh") + (
            get_variant(self.variant).bias_names if self.bias else ())
        # views, not the arrays themselves: they share the arrays' memory (an
        # edit in place is seen) but keep the shape and dtype checked here
        # if one is changed in place (``a.shape = ...``), so that no kernel
        # reads past the end of a buffer
        cells = [
            {n: params[n + self._suffix(layer, d)].view() for n in names}
            for layer in range(self.num_layers) for d in range(self.num_directions)
        ]
        self._cells_cache = (params, version, cells)
        return cells

    @property
    def n_params(self) -> int:
        """Total number of scalar parameters."""
        return int(sum(p.size for p in self.params.values()))

    def __repr__(self) -> str:
        extra = "".join(
            f", {k}={getattr(self, k)!r}"
            for k, default in (("bidirectional", False), ("bias", True), ("dropout", 0.0))
            if getattr(self, k) != default
        )
        return (
            f"GRU({self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, "
            f"variant={self.variant!r}{extra}, dtype={self.dtype.name!r})"
        )

    # ----------------------------------------------------------------- forward
    def forward(self, x, h0=None, lengths=None, training=False):
        """Run the layer over whole sequences.

        Parameters
        ----------
        x : array-like (batch, time, input_size) or list of (time_i, input_size)
            Batch-first sequences; a list of arrays of different lengths is
            right-padded internally (its lengths are used).
        h0 : array-like (num_layers * D, batch, hidden_size), optional
            Initial states, layer-major, direction-minor; zeros by default.
        lengths : array-like of int (batch,), optional
            Valid steps of each right-padded sequence, each in 1..time.
        training : bool, default False
            Keep what :meth:`backward` needs and apply dropout.

        Returns
        -------
        y : ndarray (batch, time, D * hidden_size)
            Outputs of the last layer; 0 past each sequence's length.
        h_n : ndarray (num_layers * D, batch, hidden_size)
            Each sequence's state at its own last valid step (for the reverse
            direction: after its first step).
        """
        if training is not False:
            training = check_bool("training", training)
        if training:
            return self._forward_call(x, h0, lengths, True)
        with _slots.inference_slot():  # fair admission of concurrent callers
            return self._forward_call(x, h0, lengths, False)

    def _forward_call(self, x, h0, lengths, training):
        if h0 is None and lengths is None and not training:
            out = self._forward_one(x)
            if out is not None:
                return out
        x, ragged_lengths = as_sequences(x, self.input_size, self.dtype)
        workspace = self._workspace()
        try:
            with _config.single_threaded_blas():
                y, h_n, tape = self._forward(x, ragged_lengths, h0, lengths, training, workspace)
        finally:
            workspace.trim()
        self._cache = tape  # None after inference: backward needs a training forward
        return y, h_n

    def _train_forward(self, x, lengths, workspace):
        """``forward(x, lengths=lengths, training=True)`` for a training loop
        that keeps its own state: returns ``(y, h_n, tape)`` and stores nothing
        on the layer. ``tape`` (what :meth:`_train_backward` needs) and ``y``
        live in the caller's ``workspace`` (a ``fastgru._engine.Workspace``,
        kept, not trimmed, across its minibatches) until its next call, so that
        inference in other threads (which use the layer's per-thread
        workspaces and never touch the tape) cannot disturb training."""
        x, ragged_lengths = as_sequences(x, self.input_size, self.dtype)
        with _config.single_threaded_blas():
            return self._forward(x, ragged_lengths, None, lengths, True, workspace)

    def _forward_one(self, x):
        """Inference of one sequence in one kernel call, or None where the
        general path must run: ``x`` other than a writeable, aligned,
        C-ordered (1, T, input_size) array of the layer's dtype, a
        bidirectional layer, or ``params`` without a version (a plain dict)."""
        if not (type(x) is np.ndarray and x.ndim == 3 and x.shape[0] == 1
                and x.dtype == self.dtype and x.flags.carray and x.shape[1] > 0
                and x.shape[2] == self.input_size and not self.bidirectional):
            return None
        params = self.params
        version = getattr(params, "version", None)
        if version is None:
            return None
        local = self._thread_local()
        cache = getattr(local, "forward_one", None)
        if cache is None or cache.params is not params or cache.version != version:
            cache = local.forward_one = _ForwardOneCache(self)
        if not cache.usable:
            return None
        T, H = x.shape[1], self.hidden_size
        if T * H > 1 << 20:  # (a short sequence skips the arithmetic)
            check_memory(f"forward of x {x.shape}", self._forward_bytes(1, T, False))
        y = np.empty((1, T, H), dtype=self.dtype)
        h_n = np.empty((self.num_layers, 1, H), dtype=self.dtype)
        args = (cache.mode, x, *cache.args(), y, h_n, cache.scratch_for(T, H), *cache.addresses)
        if cache.uses_blas:
            with _config.single_threaded_blas():
                ok = stack.forward_one(*args)
        else:
            ok = stack.forward_one(*args)
        if not ok:
            raise ValueError("x contains NaN or inf")
        if self._cache is not None:
            self._cache = None  # as after any inference: backward needs a training forward
        return y, h_n

    __call__ = forward

    def _forward(self, x, ragged_lengths, h0, lengths, training, workspace):
        B, T, _ = x.shape
        if ragged_lengths is not None:
            if lengths is not None:
                raise ValueError("lengths must not be given with a ragged list x")
            lengths = ragged_lengths
        elif lengths is None:
            lengths = np.empty(B, dtype=np.int64)
            lengths.fill(T)  # np.full costs several times more on small calls
        else:
            lengths = check_lengths(lengths, B, T)
        D, H, L = self.num_directions, self.hidden_size, self.num_layers
        check_memory(f"forward of x {x.shape}", self._forward_bytes(B, T, training))
        if h0 is not None:
            h0 = check_state("h0", h0, (L * D, B, H), self.dtype)
        if training and self.dropout > 0.0 and L > 1:
            keep = 1.0 - self.dropout
            masks = [
                (self._rng.random((T, B, D * H)) < keep).astype(self.dtype) / self.dtype.type(keep)
                for _ in range(L - 1)
            ]
        else:
            masks = None

        variant = get_variant(self.variant)
        layer_in = _engine.swap_first_axes(x, copy=False)  # time-major
        h_n = np.empty((L * D, B, H), dtype=self.dtype)
        cells = self._cells()
        caches = []
        for layer in range(L):
            if masks is not None and layer > 0:
                layer_in = layer_in * masks[layer - 1]
            outs = []
            for d in range(D):
                i = layer * D + d
                y_d, cache = _engine.direction_forward(
                    variant, cells[i], layer_in, None if h0 is None else h0[i], h_n[i],
                    lengths, bool(d), training, workspace, (layer, d),
                )
                outs.append(y_d)
                caches.append(cache)
            layer_in = outs[0] if D == 1 else np.concatenate(outs, axis=2)
        tape = ({"caches": caches, "masks": masks, "lengths": lengths, "shape": (B, T)}
                if training else None)
        # a copy: the last layer's output lives in the workspace
        return _engine.swap_first_axes(layer_in), h_n, tape

    def _forward_bytes(self, B: int, T: int, training: bool) -> int:
        """A lower bound of what a forward of ``B`` sequences of ``T`` steps
        allocates: per layer and direction the projections and states, in
        training also what BPTT keeps; the outputs twice."""
        D, H, L = self.num_directions, self.hidden_size, self.num_layers
        G = get_variant(self.variant).n_gates
        per_direction = G * H + H + (2 * H if training else 0)
        layers = L if training else 1  # inference reuses one layer's buffers
        return T * B * self.dtype.itemsize * (layers * D * per_direction + 2 * D * H)

    def _thread_local(self) -> threading.local:
        """Per-thread state: the workspace of forward/backward and step's cache."""
        local = self.__dict__.get("_local")
        if local is None:
            local = self.__dict__.setdefault("_local", threading.local())
        return local

    def _workspace(self) -> dict:
        """This thread's reusable buffers (see ``fastgru._engine.buffer``)."""
        local = self._thread_local()
        ws = getattr(local, "workspace", None)
        if ws is None:
            ws = local.workspace = _engine.Workspace()
        return ws

    # ---------------------------------------------------------------- backward
    def backward(self, dy=None, dh_n=None, *, input_grad=True):
        """Backpropagation through time after ``forward(..., training=True)``.

        Parameters
        ----------
        dy : array-like (batch, time, D * hidden_size), optional
            Gradient of the loss with respect to ``y`` (ignored past lengths).
            None (zeros) when the loss reads only ``h_n`` (many-to-one), which
            saves reading and adding a batch of zeros at every step.
        dh_n : array-like (num_layers * D, batch, hidden_size), optional
            Gradient with respect to ``h_n``; zeros by default.
        input_grad : bool, default True
            Whether to compute ``dx``. A training loop whose inputs are data
            (nothing upstream to train) passes False, as PyTorch skips the
            gradient of an input that does not require one: the first
            layer's ``dx`` product is skipped (at input = hidden / 2 a ninth
            of the step's arithmetic).

        Returns
        -------
        dx : ndarray (batch, time, input_size), or None if not ``input_grad``
            Gradient with respect to ``x`` (padded form for a ragged list).
        dh0 : ndarray (num_layers * D, batch, hidden_size)
            Gradient with respect to ``h0``.

        The parameter gradients are written to :attr:`grads`, overwriting them.

        Examples
        --------
        >>> import numpy as np, fastgru
        >>> layer = fastgru.GRU(3, 4, random_state=0)
        >>> y, h_n = layer.forward(np.ones((2, 5, 3)), training=True)
        >>> dx, dh0 = layer.backward(np.ones_like(y), input_grad=False)
        >>> dx is None, dh0.shape, layer.grads["weight_hh_l0"].shape
        (True, (1, 2, 4), (12, 4))

        A loss on the final states only (many-to-one) passes ``dy=None``:

        >>> y, h_n = layer.forward(np.ones((2, 5, 3)), training=True)
        >>> dx, dh0 = layer.backward(None, dh_n=np.ones_like(h_n))
        >>> dx.shape
        (2, 5, 3)
        """
        if self._cache is None:
            raise ValueError(
                "backward needs a preceding forward(..., training=True); "
                "call forward with training=True first"
            )
        return self._train_backward(self._cache, dy, dh_n, input_grad, self._workspace(),
                                    self.grads, trim=True)

    def _train_backward(self, tape, dy, dh_n, input_grad, workspace, grads: dict,
                        trim: bool = False):
        """:meth:`backward` from a ``tape`` of :meth:`_train_forward` run with
        the same ``workspace``; the parameter gradients are written to
        ``grads`` (a dict the caller owns; they live in ``workspace``).
        ``trim`` frees the workspace's largest buffers afterwards (the layer's
        own per-thread workspace; a training loop keeps its buffers)."""
        B, T = tape["shape"]
        D, H, L = self.num_directions, self.hidden_size, self.num_layers
        if dy is not None:
            dy = check_state("dy", dy, (B, T, D * H), self.dtype)
        if dh_n is None:
            dh_n = np.zeros((L * D, B, H), dtype=self.dtype)
        else:
            dh_n = check_state("dh_n", dh_n, (L * D, B, H), self.dtype)
        try:
            with _config.single_threaded_blas():
                return self._backward(tape, dy, dh_n, check_bool("input_grad", input_grad),
                                      workspace, grads)
        finally:
            if trim:
                workspace.trim()

    def _backward(self, tape, dy, dh_n, input_grad, workspace, out_grads):
        D, H, L = self.num_directions, self.hidden_size, self.num_layers
        caches, masks, lengths = (tape[k] for k in ("caches", "masks", "lengths"))
        variant = get_variant(self.variant)

        # the last layer reads the caller's batch-first dy in place; the
        # layers below, the time-major dx of the layer above
        d_out, batch_first = dy, True
        dh0 = np.empty_like(dh_n)
        for layer in range(L - 1, -1, -1):
            d_in = None
            for d in range(D):
                dx_d, dh0[layer * D + d], grads = _engine.direction_backward(
                    variant, self._cell(layer, d), caches[layer * D + d], d_out,
                    dh_n[layer * D + d], lengths, bool(d), self.bias, workspace, (layer, d),
                    want_dx=input_grad or layer > 0, dy_batch_first=batch_first, dy_col=d * H,
                )
                for base, g in grads.items():
                    out_grads[base + self._suffix(layer, d)] = g
                d_in = dx_d if d_in is None else d_in + dx_d
            if masks is not None and layer > 0:
                d_in *= masks[layer - 1]
            d_out, batch_first = d_in, False
        dx = None if d_out is None else _engine.swap_first_axes(d_out)
        return dx, dh0

    # -------------------------------------------------------------------- step
    def step(self, x_t, h=None, *, out=None):
        """Advance every layer by one time step (streaming inference).

        Parameters
        ----------
        x_t : array-like (batch, input_size)
            The inputs of one time step.
        h : array-like (num_layers, batch, hidden_size), optional
            The current states; zeros by default.
        out : ndarray (num_layers, batch, hidden_size), optional
            Where to write the new states (may be ``h`` itself), so that a
            serving loop allocates nothing.

        Returns
        -------
        ndarray (num_layers, batch, hidden_size)
            The new states; stepping through a sequence gives ``forward``'s
            ``h_n``.

        Examples
        --------
        >>> import numpy as np, fastgru
        >>> layer = fastgru.GRU(2, 4, random_state=0)
        >>> h = None
        >>> for x_t in np.ones((5, 1, 2)):
        ...     h = layer.step(x_t, h)
        >>> h.shape
        (1, 1, 4)
        """
        # The serving call (arrays of the right dtype, shape and layout, the
        # weights unchanged since this thread's last call) is checked here in
        # a few comparisons: 3.8 us a call instead of 4.4 through _step_args,
        # which converts and checks anything else.
        cache = getattr(self.__dict__.get("_local"), "step", None)
        params = self.params
        if (cache is not None and cache.params is params
                and cache.version == getattr(params, "version", None) is not None
                and type(x_t) is np.ndarray and type(h) is np.ndarray
                and x_t.shape == cache.x_shape and h.shape == cache.h_shape
                and x_t.dtype == cache.dtype and h.dtype == cache.dtype
                and x_t.flags.carray and h.flags.carray  # C-contiguous and writeable
                and (out is None or type(out) is np.ndarray and out.shape == cache.h_shape
                     and out.dtype == cache.dtype and out.flags.carray)):
            if out is None:
                out = np.empty(cache.h_shape, dtype=cache.dtype)
            args = (cache.mode, x_t, h, out, *cache.kernel_args)
            ok = cache.entry(*args)  # the arrays' types are the ones checked above
        else:
            args = self._step_args(x_t, h, out)
            ok = stack.step_layers(*args)
        if not ok:
            bad = "x_t" if not np.isfinite(args[1]).all() else "h"
            raise ValueError(f"{bad} contains NaN or inf")
        return args[3]

    def _step_args(self, x_t, h, out):
        """Convert and check step's arguments; reuse the weights' tuples and scratch.

        NaN/inf is checked in the kernel, before it writes anything.
        """
        if self.bidirectional:
            raise ValueError("step is not defined for a bidirectional layer (it needs the future)")
        dtype, L, H = self.dtype, self.num_layers, self.hidden_size
        if not (type(x_t) is np.ndarray and x_t.dtype == dtype and x_t.ndim == 2
                and x_t.flags.carray and x_t.shape[1] == self.input_size and x_t.shape[0] > 0):
            x_t = as_float_array("x_t", x_t, dtype, ndim=2)
            if x_t.shape[1] != self.input_size:
                raise ValueError(
                    f"x_t has {x_t.shape[1]} features, expected input_size={self.input_size}"
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
            raise _bad_out(out, shape, dtype)
        local = self._thread_local()
        cache = getattr(local, "step", None)
        params = self.params
        version = getattr(params, "version", None)
        if (cache is None or cache.params is not params or cache.x_shape[0] != shape[1]
                or cache.version != version or version is None
                and any(a is not params[name] for a, name in cache.used)):
            cache = _StepCache(self, shape[1])
            if cache.kernel_args[-1].nbytes <= _engine.WORKSPACE_KEEP_BYTES:
                local.step = cache  # kept for the fast path; a huge batch's is not
        return (cache.mode, x_t, h, out, *cache.kernel_args)

    # ----------------------------------------------------------- state dicts
    def state_dict(self) -> dict:
        """A copy of the parameters, keyed by PyTorch's names (numpy arrays)."""
        return {name: p.copy() for name, p in self.params.items()}

    def load_state_dict(self, state_dict) -> None:
        """Copy parameters in, after checking names, shapes and values.

        Accepts numpy arrays or torch tensors; values are converted to the
        layer's dtype. Nothing is changed unless every entry is valid.
        """
        expected = self._param_shapes()
        given = set(state_dict)
        missing, unexpected = sorted(set(expected) - given), sorted(given - set(expected))
        if missing or unexpected:
            raise ValueError(
                f"state_dict does not match this {self!r}: "
                f"missing {missing}, unexpected {unexpected}"
            )
        new = {}
        for name, shape in expected.items():
            arr = as_float_array(f"state_dict[{name!r}]", state_dict[name], self.dtype)
            if arr.shape != shape:
                raise ValueError(f"state_dict[{name!r}] has shape {arr.shape}, expected {shape}")
            new[name] = arr
        self._set_params(new)

    @classmethod
    def from_torch(cls, module_or_state_dict, *, dtype=None):
        """Build a layer with the exact weights of a ``torch.nn.GRU``.

        Parameters
        ----------
        module_or_state_dict : torch.nn.GRU or dict
            The module, or its ``state_dict()`` (tensors or numpy arrays).
        dtype : {"float32", "float64"}, optional
            Defaults to the weights' dtype (float64 stays float64).

        Examples
        --------
        >>> import torch, fastgru
        >>> layer = fastgru.GRU.from_torch(torch.nn.GRU(3, 8, num_layers=2))
        >>> layer.num_layers, layer.hidden_size
        (2, 8)
        """
        dropout = 0.0
        if hasattr(module_or_state_dict, "state_dict") and hasattr(module_or_state_dict, "mode"):
            module = module_or_state_dict
            if module.mode != "GRU":
                raise ValueError(f"expected a torch.nn.GRU, got mode {module.mode!r}")
            if getattr(module, "proj_size", 0):
                raise ValueError("proj_size is not supported")
            state = module.state_dict()
            dropout = float(module.dropout)
        elif isinstance(module_or_state_dict, dict):
            state = module_or_state_dict
        else:
            raise TypeError(
                "from_torch expects a torch.nn.GRU or its state_dict, "
                f"got {type(module_or_state_dict).__name__}"
            )
        if "weight_ih_l0" not in state:
            raise ValueError("state_dict has no 'weight_ih_l0': not a GRU state_dict")
        w0 = state["weight_ih_l0"]
        w0 = np.asarray(w0.detach().cpu() if hasattr(w0, "detach") else w0)
        if w0.ndim != 2 or w0.shape[0] % 3:
            raise ValueError(f"weight_ih_l0 has shape {w0.shape}; a GRU's is (3*hidden, input)")
        hidden, inputs = w0.shape[0] // 3, w0.shape[1]
        num_layers = 1
        while f"weight_ih_l{num_layers}" in state:
            num_layers += 1
        if dtype is None:
            dtype = "float64" if w0.dtype == np.float64 else "float32"
        layer = cls(
            inputs, hidden, num_layers,
            bidirectional="weight_ih_l0_reverse" in state,
            bias="bias_ih_l0" in state,
            dropout=dropout,
            dtype=dtype,
        )
        layer.load_state_dict(state)
        return layer

    @classmethod
    def from_keras(cls, layer_or_weights, reset_after=True, *, dtype=None):
        """Build a layer with the exact weights of a Keras ``GRU`` layer.

        Parameters
        ----------
        layer_or_weights : keras.layers.GRU, Bidirectional, Sequential or list
            The (built) Keras layer; a ``Bidirectional(GRU)`` (merge_mode
            "concat") or a ``keras.Sequential`` of GRU / Bidirectional(GRU)
            layers (as :meth:`to_keras` makes) for a bidirectional or stacked
            layer; or one GRU's ``get_weights()``:
            ``[kernel (I, 3H), recurrent_kernel (H, 3H), bias]``.
        reset_after : bool, default True
            Used with a list only (a layer says it itself): True maps to the
            "torch" variant (bias (2, 3H)), False to "cho" (bias (3H,)).
        dtype : {"float32", "float64"}, optional
            Defaults to the weights' dtype (float64 stays float64).

        A Keras layer that cannot be mapped exactly (another activation or
        recurrent activation, ``go_backwards=True``) is refused with a
        ValueError. Keras' ``return_sequences`` output is ``forward``'s ``y``
        and its final state is ``h_n[0]``.

        Examples
        --------
        >>> import os
        >>> backend = os.environ.setdefault("KERAS_BACKEND", "torch")
        >>> import keras, fastgru
        >>> k = keras.layers.GRU(8); k.build((None, 10, 3))
        >>> fastgru.GRU.from_keras(k).variant
        'torch'
        """
        from ._keras import keras_stack, keras_to_state_dict, keras_weights

        if hasattr(layer_or_weights, "get_weights"):
            stack, reset_after = keras_stack(layer_or_weights)
        else:
            stack = [[keras_weights(layer_or_weights, reset_after)[0]]]
            reset_after = bool(reset_after)
        state, shapes = {}, []
        for k, directions in enumerate(stack):
            if len(directions) != len(stack[0]):
                raise ValueError("the Keras model mixes GRU and Bidirectional(GRU) layers: "
                                 "they are not one fastgru layer")
            for d, weights in enumerate(directions):
                cell, inputs, hidden, variant, has_bias = keras_to_state_dict(weights,
                                                                              reset_after)
                shapes.append((k, inputs, hidden, has_bias))
                state.update({name[:-3] + cls._suffix(k, d): a for name, a in cell.items()})
        D, (_, inputs, hidden, has_bias) = len(stack[0]), shapes[0]
        for k, layer_inputs, layer_hidden, layer_bias in shapes:
            expected = inputs if k == 0 else D * hidden
            if (layer_inputs, layer_hidden, layer_bias) != (expected, hidden, has_bias):
                raise ValueError(f"Keras GRU layer {k} has input size {layer_inputs}, units "
                                 f"{layer_hidden}, use_bias={layer_bias}; a fastgru stack needs "
                                 f"{expected}, {hidden}, {has_bias}")
        if dtype is None:
            dtype = "float64" if np.asarray(stack[0][0][0]).dtype == np.float64 else "float32"
        layer = cls(inputs, hidden, len(stack), bidirectional=D == 2, variant=variant,
                    bias=has_bias, dtype=dtype)
        layer.load_state_dict(state)
        return layer

    def to_keras(self):
        """The layer as Keras 3 layers with the same weights (needs ``keras``).

        "torch" becomes ``keras.layers.GRU(reset_after=True)``, "cho"
        ``reset_after=False``; other variants have no Keras equivalent and are
        refused with a ValueError. One unidirectional layer gives a built
        ``keras.layers.GRU`` with ``return_sequences=True, return_state=True``
        (``y, h = gru(x)``: forward's ``y`` and ``h_n[0]``); a stack or a
        bidirectional layer gives a ``keras.Sequential`` of ``GRU`` /
        ``Bidirectional(GRU, merge_mode="concat")`` layers whose output is
        forward's ``y``. Dropout is not carried over (Keras' GRU drops its
        inputs, not the outputs between layers). Keras' ``reset_after=False``
        cell has one bias, so a "cho" layer's ``bias_ih`` and ``bias_hh`` are
        summed: back in fastgru they are ``bias_ih + bias_hh`` and zeros.
        Keras uses ``KERAS_BACKEND`` (set to "torch" here when unset).

        Examples
        --------
        >>> import fastgru
        >>> gru = fastgru.GRU(3, 8, random_state=0).to_keras()
        >>> fastgru.GRU.from_keras(gru).n_params
        312
        """
        from ._keras import layer_to_keras

        return layer_to_keras(self)

    @classmethod
    def from_onnx(cls, model_or_path_or_bytes, node=None, *, dtype=None,
                  return_initial_h: bool = False):
        """Build a layer from the ``GRU`` nodes of an ONNX model (needs ``onnx``).

        Parameters
        ----------
        model_or_path_or_bytes : onnx.ModelProto, str, os.PathLike or bytes
            The model, a path to a ``.onnx`` file, or its serialised bytes.
        node : str, int or None, default None
            None reads every GRU node of the graph as one stack (a single node,
            or nodes chained as torch's exporters and :meth:`to_onnx` write
            them: each node's input is the previous node's output, reshaped);
            a node's name or its index among the GRU nodes reads that node alone.
        dtype : {"float32", "float64"}, optional
            Defaults to the weights' type (double gives float64, float and
            float16 give float32).
        return_initial_h : bool, default False
            Return ``(layer, h0)``, where ``h0`` is the graph's constant
            ``initial_h`` (num_layers * D, batch, hidden_size) or None, to pass
            to :meth:`forward`. Without it, a non-zero constant ``initial_h`` is
            refused (the layer alone would compute something else).

        Returns
        -------
        GRU, or (GRU, ndarray or None) with ``return_initial_h``

        Notes
        -----
        Weights ``W``, ``R``, ``B`` (blocks z, r, h) are reordered to
        fastgru's r, z, n; ``linear_before_reset`` != 0 gives the "torch"
        variant, 0 gives "cho"; ``layout`` 0 and 1 are read; no ``B`` gives
        ``bias=False``. ``initial_h`` and ``sequence_lens`` fed at run time
        become ``forward``'s ``h0`` and ``lengths``. Refused with a ValueError
        naming the attribute: ``clip``, activations other than Sigmoid/Tanh,
        ``activation_alpha``/``activation_beta``, ``direction="reverse"``
        (fastgru has no reverse-only layer), weights computed in the graph.
        Everything read is checked (shapes against ``hidden_size``, types,
        NaN/inf). A path must be a regular file; tensors stored as external
        data (in another file that the model names) are refused, never read:
        to read them, pass ``onnx.load(path)``. Only the GRU nodes are read:
        other operators of the graph (a head, pre-processing) are not. A file
        written by PyTorch with ``linear_before_reset=0`` draws a warning:
        ``torch.nn.GRU`` computes ``linear_before_reset=1`` (pytorch#189225).

        Examples
        --------
        >>> import fastgru
        >>> layer = fastgru.GRU(3, 8, num_layers=2, random_state=0)
        >>> again = fastgru.GRU.from_onnx(layer.to_onnx())
        >>> again.num_layers
        2
        """
        from ._onnx_import import read_gru_stack

        return_initial_h = check_bool("return_initial_h", return_initial_h)
        read = read_gru_stack(model_or_path_or_bytes, node)
        if read["initial_h"] is not None and not return_initial_h:
            raise ValueError(
                "input initial_h is a non-zero constant of the graph: a fastgru layer takes the "
                "initial state at forward (h0=); pass return_initial_h=True to get it")
        layer = cls(read["input_size"], read["hidden_size"], read["num_layers"],
                    bidirectional=read["bidirectional"], variant=read["variant"],
                    bias=read["bias"], dtype=read["dtype"] if dtype is None else dtype)
        layer.load_state_dict(read["state"])
        if return_initial_h:
            h0 = read["initial_h"]
            return layer, None if h0 is None else h0.astype(layer.dtype)
        return layer

    def to_onnx(self, path=None, *, with_lengths: bool = False, with_initial_h: bool = False,
                dtype=None):
        """Export as an ONNX model (needs the ``onnx`` package).

        One standard ONNX ``GRU`` node per layer ("torch": linear_before_reset=1;
        "cho": 0; other variants have no ONNX operator and are refused).

        Parameters
        ----------
        path : str or os.PathLike, optional
            Where to write the model.
        with_lengths : bool, default False
            Add the input ``lengths`` (batch,) int32 (ONNX's ``sequence_lens``).
        with_initial_h : bool, default False
            Add the input ``h0`` (num_layers * D, batch, hidden_size): the
            initial states, as :meth:`forward`'s ``h0`` (ONNX's ``initial_h``
            of each GRU node).
        dtype : {"float32", "float64"}, optional
            Type of the graph's inputs and outputs; defaults to the layer's.
            onnxruntime's GRU runs float32 only, so the weights are stored in
            float32 and a float64 graph casts around the GRU nodes: it takes
            and returns float64, computed in float32.

        Returns
        -------
        onnx.ModelProto
            Inputs ``x`` (batch, time, input_size), ``lengths`` (with
            ``with_lengths``) and ``h0`` (with ``with_initial_h``); outputs
            ``y`` and ``h_n`` as :meth:`forward`; batch and time are dynamic.

        Examples
        --------
        >>> import fastgru
        >>> model = fastgru.GRU(3, 8, num_layers=2).to_onnx("gru.onnx")
        >>> [node.op_type for node in model.graph.node].count("GRU")
        2
        """
        from ._onnx import layer_to_onnx

        # "no" would read as True
        with_lengths = check_bool("with_lengths", with_lengths)
        with_initial_h = check_bool("with_initial_h", with_initial_h)
        return layer_to_onnx(self, path, with_lengths, dtype, with_initial_h)

    def to_torch(self):
        """Return a ``torch.nn.GRU`` (batch_first=True) with the same weights.

        Only the "torch" variant is what ``torch.nn.GRU`` computes; other
        variants are refused with a ValueError.
        """
        if self.variant != "torch":
            raise ValueError(
                f"torch.nn.GRU computes the 'torch' variant only; this layer is {self.variant!r}"
            )
        import torch

        module = torch.nn.GRU(
            self.input_size, self.hidden_size, self.num_layers, bias=self.bias,
            batch_first=True, dropout=self.dropout, bidirectional=self.bidirectional,
            dtype=torch.float64 if self.dtype == np.float64 else torch.float32,
        )
        module.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in self.params.items()})
        return module


def _stack_weights(layer):
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


def _bad_out(out, shape, dtype) -> Exception:
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


def check_params(layer, params) -> None:
    """Check that ``params`` holds exactly the arrays ``layer`` computes with.

    Every name of :meth:`GRU._param_shapes` must map to a NumPy array of that
    shape and of the layer's dtype (a kernel given another would read past
    its end or be compiled for another type); unknown names are refused.
    Raises a ValueError (TypeError for what is not an array of the dtype)
    naming the parameter. The layer runs it whenever the arrays of
    ``params`` were replaced (not on every call: see ``GRU._cells``).
    """
    if not isinstance(params, dict):
        raise TypeError(f"params must be a dict of arrays, got {type(params).__name__}")
    expected = layer._param_shapes()
    for name, shape in expected.items():
        if name not in params:
            raise ValueError(f"params has no {name!r} (expected shape {shape})")
        a = params[name]
        if not isinstance(a, np.ndarray):
            raise TypeError(f"params[{name!r}] must be a numpy array of dtype "
                            f"{layer.dtype.name}, got {type(a).__name__}")
        if a.dtype != layer.dtype:
            raise TypeError(f"params[{name!r}] has dtype {a.dtype}, expected "
                            f"{layer.dtype.name} (the layer's dtype)")
        if a.shape != shape:
            raise ValueError(f"params[{name!r}] has shape {a.shape}, expected {shape}")
    if len(params) != len(expected):
        unknown = sorted(str(k) for k in params if k not in expected)
        raise ValueError(f"params has unknown entries {unknown}")


class _ForwardOneCache:
    """What :meth:`GRU.forward` reuses across calls of one sequence (batch 1,
    inference) in one thread: the weights' tuples, the input weights'
    transposes with the copies they were made from, and a scratch buffer
    that grows with the longest sequence seen."""

    __slots__ = ("params", "version", "mode", "weights", "extra", "uses_blas", "scratch",
                 "addresses", "usable")

    def __init__(self, layer):
        self.params = layer.params
        self.version = layer.params.version
        self.mode, used, self.weights = _stack_weights(layer)
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
        # products in BLAS (which must then run single-threaded): projections
        # without a transpose for the tiles, and the largest single-row
        # recurrent product (all of U at once, in the "torch" variant)
        self.uses_blas = (any(t.shape[0] == 0 for t in transposes)
                          or products.row_product_in_blas(3 * H, H))
        self.scratch = np.empty(stack.forward_one_scratch_size(self.mode, 1, H),
                                dtype=layer.dtype)
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
        return (W_ih, *self.extra, W_hh, b1s, b2s)

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


class _StepCache:
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
        self.mode, self.used, weights = _stack_weights(layer)
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
            stack.step_layers, (self.mode, np.empty(self.x_shape, dtype=self.dtype),
                                   h_like, h_like, *self.kernel_args))
