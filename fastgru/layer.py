"""The public GRU layer: stacked, bidirectional, variable-length, streaming.

``GRU`` holds the configuration and the parameters (the state contract of
:mod:`fastgru._params`) and runs forward, backward and ``step``; the per-thread
kernel arguments of the inference fast paths are :mod:`fastgru._kernel_args`,
the exchanges with other libraries :mod:`fastgru.interop`.
"""

from __future__ import annotations

import threading

import numpy as np

from . import _engine, _kernel_args, _params, _passes, _runtime
from ._kernels import stack
from ._kernels.cell import for_mode
from ._params import ParamDict  # also where pickles of a layer's params find it
from ._validation import as_float_array, as_sequences, check_bool
from .interop._layer_methods import LayerExchanges

__all__ = ["GRU"]


class GRU(LayerExchanges, _params.FixedConfig):
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
            for name, shape in _params.param_shapes(self.get_config()).items()
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
        layer = cls.__new__(cls)  # no random initialisation on the way
        layer._configure(*(config[k] for k in _params.CONFIG_KEYS))
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

    # The training tape of this thread's last forward (None after inference), per
    # thread as the workspace it lives in: other threads' forwards leave it alone.
    _cache = property(lambda self: getattr(self._thread_local(), "tape", None),
                      lambda self, tape: setattr(self._thread_local(), "tape", tape))

    def __getstate__(self):
        # The model only: not the per-thread buffers and tapes (not picklable),
        # the cells' views or the gradients (zeros again after unpickling).
        state = self.__dict__.copy()
        for key in ("_local", "_cells_cache", "grads", "_cache"):
            state.pop(key, None)
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
        return _kernel_args.forward_admitted(self, x, h0, lengths)  # fair admission

    def _forward_call(self, x, h0, lengths, training, outputs=True):
        """:meth:`forward`; without ``outputs`` (a caller that reads ``h_n``
        alone), ``y`` may be None."""
        if h0 is None and lengths is None and not training:
            out = _kernel_args.forward_one(self, x)
            if out is not None:
                return out
        x, ragged_lengths = as_sequences(x, self.input_size, self.dtype)
        workspace = self._workspace()
        try:
            with _runtime.single_threaded_blas():
                y, h_n, tape = _passes.stack_forward(self, x, ragged_lengths, h0, lengths,
                                                     training, workspace, outputs)
        finally:
            workspace.trim()
        self._cache = tape  # None after inference: backward needs a training forward
        return y, h_n

    __call__ = forward

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
                "backward needs a preceding forward(..., training=True) in this thread "
                "(each thread keeps its own training tape); call forward with "
                "training=True first"
            )
        return _passes.train_backward(self, self._cache, dy, dh_n, input_grad,
                                      self._workspace(), self.grads, trim=True)

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
            ok = for_mode(stack.STEP, args[0])(*args)
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
        expected = _params.param_shapes(self.get_config())
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
