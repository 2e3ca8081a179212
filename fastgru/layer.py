"""The public GRU layer: stacked, bidirectional, variable-length, streaming.

``GRU`` holds the configuration and the parameters (the state contract of
:mod:`fastgru._params`) and runs forward, backward and ``step``; the per-thread
kernel arguments of the inference fast paths are :mod:`fastgru._kernel_args`,
the exchanges with other libraries :mod:`fastgru.interop`.
"""

from __future__ import annotations

import threading

import numpy as np

from . import _config, _engine, _kernel_args, _params, _slots
from ._kernels import stack
from ._params import ParamDict
from ._validation import (
    as_float_array,
    as_sequences,
    check_bool,
    check_lengths,
    check_memory,
    check_state,
)
from ._variants import get_variant

__all__ = ["GRU"]

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
        self.__dict__.update(_params.checked_config(
            input_size, hidden_size, num_layers, bidirectional, variant, bias, dropout, dtype))

    def get_config(self) -> dict:
        """The layer's configuration: the constructor's arguments that define
        what it computes (``dtype`` by name), with :attr:`params` its whole
        state; :meth:`from_config` builds the layer back.

        Examples
        --------
        >>> import fastgru
        >>> fastgru.GRU(3, 8, num_layers=2).get_config()["num_layers"]
        2
        """
        return {k: (self.dtype.name if k == "dtype" else getattr(self, k))
                for k in _params.CONFIG_KEYS}

    @classmethod
    def from_config(cls, config: dict, params=None):
        """A layer of :meth:`get_config`'s ``config``; with ``params`` (a dict
        of arrays named as :attr:`params`) exactly those (names, shapes and
        dtype checked, NaN/inf refused), else randomly initialised.

        Examples
        --------
        >>> import fastgru
        >>> layer = fastgru.GRU(3, 8, random_state=0)
        >>> again = fastgru.GRU.from_config(layer.get_config(), layer.params)
        >>> bool((again.params["weight_hh_l0"] == layer.params["weight_hh_l0"]).all())
        True
        """
        if not isinstance(config, dict) or set(config) != set(_params.CONFIG_KEYS):
            raise ValueError(f"config must be a dict with keys {list(_params.CONFIG_KEYS)}")
        if params is None:
            return cls(**config)
        return cls._from_params(params, **config)

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
        _params.check_params(layer.get_config(), params)
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

    _suffix = staticmethod(_params.suffix)

    def _count_params(self) -> int:
        """Scalar parameters, counted without building anything."""
        return _params.count_params(self.get_config())

    def _param_shapes(self) -> dict:
        return _params.param_shapes(self.get_config())

    def _cell(self, layer: int, direction: int) -> dict:
        """One cell's parameters keyed by base name (``weight_ih``, ...)."""
        return self._cells()[layer * self.num_directions + direction]

    def _cells(self) -> list:
        """Every cell's parameters (:func:`fastgru._params.cell_views`).

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
        cells = _params.cell_views(self.get_config(), params)
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
        general path must run (:func:`fastgru._kernel_args.forward_one`)."""
        return _kernel_args.forward_one(self, x)

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
        # a few comparisons: 3.8 us a call instead of 4.4 through _kernel_args.step_args,
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
            args = _kernel_args.step_args(self, x_t, h, out)
            ok = stack.step_layers(*args)
        if not ok:
            bad = "x_t" if not np.isfinite(args[1]).all() else "h"
            raise ValueError(f"{bad} contains NaN or inf")
        return args[3]

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

    # ------------------------------------------------------------- exchanges
    @classmethod
    def from_torch(cls, module_or_state_dict, *, dtype=None):
        """Build a layer with the exact weights of a ``torch.nn.GRU`` or its
        ``state_dict()``: :func:`fastgru.interop.torch.from_torch`.

        Examples
        --------
        >>> import torch, fastgru
        >>> fastgru.GRU.from_torch(torch.nn.GRU(3, 8, num_layers=2)).num_layers
        2
        """
        from .interop.torch import from_torch

        return from_torch(module_or_state_dict, dtype=dtype)

    def to_torch(self):
        """A ``torch.nn.GRU`` (batch_first=True) with the same weights, for the
        "torch" variant: :func:`fastgru.interop.torch.to_torch`."""
        from .interop.torch import to_torch

        return to_torch(self)

    @classmethod
    def from_keras(cls, layer_or_weights, reset_after=True, *, dtype=None):
        """Build a layer with the exact weights of a Keras ``GRU``, a
        ``Bidirectional(GRU)``, a ``Sequential`` of them or one GRU's
        ``get_weights()``: :func:`fastgru.interop.keras.from_keras`.

        Examples
        --------
        >>> import os
        >>> backend = os.environ.setdefault("KERAS_BACKEND", "torch")
        >>> import keras, fastgru
        >>> k = keras.layers.GRU(8); k.build((None, 10, 3))
        >>> fastgru.GRU.from_keras(k).variant
        'torch'
        """
        from .interop.keras import from_keras

        return from_keras(layer_or_weights, reset_after, dtype=dtype)

    def to_keras(self):
        """The layer as Keras 3 layers with the same weights, for the "torch"
        and "cho" variants: :func:`fastgru.interop.keras.to_keras`.

        Examples
        --------
        >>> import fastgru
        >>> fastgru.GRU.from_keras(fastgru.GRU(3, 8).to_keras()).n_params
        312
        """
        from .interop.keras import to_keras

        return to_keras(self)

    @classmethod
    def from_onnx(cls, model_or_path_or_bytes, node=None, *, dtype=None,
                  return_initial_h: bool = False):
        """Build a layer from the ``GRU`` nodes of an ONNX model, a path or its
        bytes: :func:`fastgru.interop.onnx_import.from_onnx`.

        Examples
        --------
        >>> import fastgru
        >>> layer = fastgru.GRU(3, 8, num_layers=2, random_state=0)
        >>> fastgru.GRU.from_onnx(layer.to_onnx()).num_layers
        2
        """
        from .interop.onnx_import import from_onnx

        return from_onnx(model_or_path_or_bytes, node, dtype=dtype,
                         return_initial_h=return_initial_h)

    def to_onnx(self, path=None, *, with_lengths: bool = False, with_initial_h: bool = False,
                dtype=None):
        """Export as an ONNX model of standard ``GRU`` nodes (inputs ``x``, and
        ``lengths``, ``h0`` on request; outputs ``y``, ``h_n`` as
        :meth:`forward`): :func:`fastgru.interop.onnx_export.to_onnx`.

        Examples
        --------
        >>> import fastgru
        >>> model = fastgru.GRU(3, 8, num_layers=2).to_onnx("gru.onnx")
        >>> [node.op_type for node in model.graph.node].count("GRU")
        2
        """
        from .interop.onnx_export import to_onnx

        return to_onnx(self, path, with_lengths=with_lengths, with_initial_h=with_initial_h,
                       dtype=dtype)
