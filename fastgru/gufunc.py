"""Generalized ufuncs: a GRU layer over whole sequences, broadcast by NumPy.

:func:`gru_layer` runs one layer and direction of any variant over sequences
with the weights as *core inputs* of a NumPy generalized ufunc of signature
:data:`SIGNATURE`::

    (t,i),(a,i),(b,h),(c),(d),(h),()->(t,h)
     x    W_ih  W_hh  b1  b2  h0 mode  y

Every other (leading) dimension is a loop dimension that NumPy broadcasts:
``x`` of shape ``(stations, days, time, features)`` runs every sequence, and
weights of shape ``(models, 3H, I)`` against ``x`` of shape ``(batch, 1,
time, features)`` run every model on every sequence. Because it is a real
gufunc, ``xarray.apply_ufunc(..., dask="parallelized")`` and
``dask.array.apply_gufunc`` parallelise it over chunks and clusters (see
``docs/scale-out.md``). :func:`forward` composes the gufunc calls of a
:class:`fastgru.GRU` (stacked layers, bidirectional: the reverse direction
runs on the time-reversed view) and equals :meth:`fastgru.GRU.forward`.

Why this signature:

* one *sequence* is the core, not a batch: a batch is just a loop dimension,
  so any leading shape works, and the recurrence of one sequence is what
  cannot be split further;
* the weight row counts are their own symbols (``a``, ``b``) because a gufunc
  signature cannot say ``3h``: they are ``3H``, ``H`` or ``2H`` by variant
  (:mod:`fastgru._variants`) and are checked here, before the kernel runs;
* the biases come as the two stored vectors ``b1`` (``bias_ih``, or the one
  ``bias``) and ``b2`` (``bias_hh``, or empty), folded in the kernel as the
  engine folds them, so a layer's ``params`` are passed unchanged; ``bias=False``
  passes two empty vectors;
* ``h0`` is a core input so that states can be carried (and broadcast);
* the cell *mode* (``()``, an int from :data:`MODES`) is an input, not one
  gufunc per variant: one compiled kernel per dtype serves every variant
  (each variant's gufunc would be another ~10 s compile).

The kernel reuses the engine's kernels: :func:`fastgru._kernels.cell.fold_biases`,
the product :func:`fastgru._kernels.products.matmul` for the input projection
(in :func:`~fastgru._kernels.products.gemm_nn`'s tiles, on a transposed copy
of ``W_ih``) and :func:`fastgru._kernels.cell.cell_forward` for every step,
one row at a time.

It is compiled on first use per dtype and target (``float32``, ``float64``;
serial and ``target="parallel"``), and cached on disk like every kernel;
Numba does not cache the threaded wrapper of the parallel one, which each
new process builds on its first parallel call (about 1.5 s of CPU on our
2-core machine, against 0.4 s to load the serial one): a long-lived worker
pays it once. :func:`gru_layer` takes the parallel one when there are at
least :data:`PARALLEL_MIN_SEQUENCES` sequences and more than one thread.
"""

from __future__ import annotations

import functools

import numpy as np

from . import _config, _params, _runtime
from ._kernels.cell import (
    RESET_AFTER,
    add_projection_bias,
    cell_forward,
    fold_biases,
    gate_product_width,
    input_rows_fit,
    recurrent_rows,
    xbias_width,
)
from ._kernels.products import OVERWRITE, matmul
from ._validation import as_float_array, check_dtype, check_int
from ._variants import VARIANTS, get_variant

#: The generalized-ufunc signature of :func:`gru_layer`.
SIGNATURE = "(t,i),(a,i),(b,h),(c),(d),(h),()->(t,h)"

#: The ``mode`` input of the raw gufunc for each variant.
MODES = {name: get_variant(name).mode for name in VARIANTS}

#: Sequences (loop iterations) from which :func:`gru_layer` runs the
#: ``target="parallel"`` gufunc, when more than one thread is allowed.
PARALLEL_MIN_SEQUENCES = 2


def _layer_sequence(x, weight_ih, weight_hh, b1, b2, h0, mode, y):
    """One sequence through one cell: ``y[t]`` the state after step ``t``.

    The caller has checked the shapes; as a second line the kernel writes
    NaN to ``y`` (a gufunc cannot raise) for a mode or weight shape it does
    not know.
    """
    T, n_in = x.shape
    H = h0.shape[0]
    GH = xbias_width(mode, H)
    n_ih = weight_ih.shape[0]
    bad = (mode < 0 or mode > 3 or weight_ih.shape[1] != n_in or weight_hh.shape[1] != H
           or not input_rows_fit(mode, H, n_ih)
           or weight_hh.shape[0] != recurrent_rows(mode, H)
           or b1.shape[0] > GH or b2.shape[0] > GH
           or (mode == RESET_AFTER and b2.shape[0] not in (0, GH)))
    if bad:
        for t in range(T):
            for j in range(H):
                y[t, j] = np.nan
        return
    dtype = x.dtype
    xs = np.ascontiguousarray(x)
    W = np.ascontiguousarray(weight_ih)
    U = np.ascontiguousarray(weight_hh)
    xbias = np.empty(GH, dtype=dtype)
    b_hn = np.empty(H, dtype=dtype)
    fold_biases(mode, np.ascontiguousarray(b1), np.ascontiguousarray(b2), xbias, b_hn)
    # the input projections of every step (one product), with the folded
    # biases: the gates' pre-activations, which cell_forward overwrites. The
    # transposed weights let matmul take gemm_nn's tiles for T >= 2 rows
    # (the transpose costs 1/T of the product)
    W_t = np.ascontiguousarray(weight_ih.T) if T >= 2 else W[:0]
    gates = np.empty((T, GH), dtype=dtype)
    part = gates if n_ih == GH else np.empty((T, n_ih), dtype=dtype)
    matmul(xs, W_t, W, part, OVERWRITE, part, None)
    add_projection_bias(gates, part, xbias)
    wide = gate_product_width(mode, H)
    acc_wide = np.empty((1, wide), dtype=dtype)
    aux = np.empty((1, H), dtype=dtype)
    acc_1 = np.empty((1, H), dtype=dtype)
    acc_2 = np.empty((1, H), dtype=dtype)
    states = np.empty((2, 1, H), dtype=dtype)
    for j in range(H):
        states[0, 0, j] = h0[j]
    no_rows = U[:0]  # no transposed copies: one row reads U as stored
    for t in range(T):
        hp, h = states[t % 2], states[(t + 1) % 2]
        cell_forward(mode, gates[t : t + 1], U, no_rows, no_rows, b_hn, hp, h, aux, acc_wide,
                     acc_1, acc_2, matmul, None)
        out, h_row = y[t], h[0]
        for j in range(H):
            out[j] = h_row[j]


def _signature(dtype: str) -> str:
    return (f"void({dtype}[:, :], {dtype}[:, :], {dtype}[:, :], {dtype}[:], {dtype}[:], "
            f"{dtype}[:], int64, {dtype}[:, :])")


@functools.cache
def raw_gufunc(dtype: str = "float32", parallel: bool = False):
    """The compiled NumPy gufunc behind :func:`gru_layer` for one dtype.

    It does not check its inputs beyond what it needs not to crash (a wrong
    shape gives NaN): call :func:`gru_layer`, which checks them first, unless
    you validated them yourself. Compiled on first call (or loaded from the
    on-disk cache; the parallel target's threaded wrapper is built in each
    process, about 1.5 s of CPU).

    Parameters
    ----------
    dtype : {"float32", "float64"}
    parallel : bool, default False
        ``target="parallel"``: the loop over sequences split across threads.

    Returns
    -------
    numpy.ufunc
        A gufunc of signature :data:`SIGNATURE`.

    Examples
    --------
    >>> import fastgru.gufunc
    >>> fastgru.gufunc.raw_gufunc("float64").signature
    '(t,i),(a,i),(b,h),(c),(d),(h),()->(t,h)'
    """
    dtype = check_dtype(dtype).name
    if not isinstance(parallel, bool):
        raise TypeError(f"parallel must be a bool, got {type(parallel).__name__}")
    ufunc = _config.gufunc_kernel([_signature(dtype)], SIGNATURE, parallel=parallel)(
        _layer_sequence)
    return ufunc


def cell_arrays(layer, layer_index: int = 0, direction: int = 0) -> tuple:
    """The weights of one cell of ``layer`` as :func:`gru_layer` takes them.

    Parameters
    ----------
    layer : fastgru.GRU
    layer_index : int, default 0
    direction : int, default 0
        1 for the reverse direction of a bidirectional layer.

    Returns
    -------
    tuple of ndarray
        ``(weight_ih, weight_hh, b1, b2)``: ``b1`` is ``bias_ih`` ("torch",
        "cho") or ``bias``, ``b2`` is ``bias_hh`` or None; both None when the
        layer has no bias. (None, not an empty array: Dask's
        ``apply_gufunc`` cannot chunk a dimension of length 0; the raw gufunc
        takes an empty array for None.)

    Examples
    --------
    >>> import fastgru, fastgru.gufunc
    >>> W, U, b1, b2 = fastgru.gufunc.cell_arrays(fastgru.GRU(3, 4, variant="gru3"))
    >>> W.shape, U.shape, b1.shape, b2
    ((4, 3), (4, 4), (12,), None)
    """
    _check_layer(layer)
    layer_index = check_int("layer_index", layer_index, minimum=0)
    direction = check_int("direction", direction, minimum=0)
    if layer_index >= layer.num_layers:
        raise ValueError(f"layer_index must be in 0..{layer.num_layers - 1}, got {layer_index}")
    if direction >= layer.num_directions:
        raise ValueError(f"direction must be in 0..{layer.num_directions - 1}, got {direction}")
    # the layer's public state (configuration and params), checked
    cells = _params.cell_views(layer.get_config(), layer.params)
    cell = cells[layer_index * layer.num_directions + direction]
    b1, b2 = get_variant(layer.variant).bias_arrays(cell, layer.dtype)
    return (cell["weight_ih"], cell["weight_hh"], b1 if b1.size else None,
            b2 if b2.size else None)


def _check_layer(layer):
    from .layer import GRU

    if not isinstance(layer, GRU):
        raise TypeError(f"layer must be a fastgru.GRU, got {type(layer).__name__}")


def _as_array(name, value, dtype, min_ndim, allow_empty=False):
    empty = np.asarray(value) if allow_empty else None
    if empty is not None and empty.size == 0 and empty.dtype.kind in "biuf":
        arr = np.zeros(empty.shape, dtype=dtype)
    else:
        arr = as_float_array(name, value, dtype)
    if arr.ndim < min_ndim:
        raise ValueError(f"{name} must have at least {min_ndim} dimension(s), got shape "
                         f"{arr.shape}")
    return arr


def gru_layer(x, weight_ih, weight_hh, b1=None, b2=None, h0=None, *, variant="torch",
              dtype=None):
    """One GRU cell over whole sequences, broadcasting over leading dimensions.

    The checked entry to the generalized ufunc of signature
    ``(t,i),(a,i),(b,h),(c),(d),(h)->(t,h)`` (:data:`SIGNATURE` without the
    mode, which ``variant`` gives). Every argument may carry leading loop
    dimensions, which broadcast against each other as in any NumPy ufunc.

    Parameters
    ----------
    x : array-like (..., time, input_size)
    weight_ih : array-like (..., a, input_size)
        ``a`` = 3H ("torch", "cho"), H ("gru1", "gru2", "gru3") or 2H ("mgu").
    weight_hh : array-like (..., b, hidden_size)
        ``b`` = 3H, H for "gru3", 2H for "mgu".
    b1, b2 : array-like (..., c), (..., d), optional
        The stored biases as :func:`cell_arrays` returns them; None: no bias.
    h0 : array-like (..., hidden_size), optional
        Initial state; zeros by default.
    variant : str, default "torch"
    dtype : {"float32", "float64"}, optional
        Computation dtype; by default ``weight_ih``'s if it is float32 or
        float64, else float64.

    Returns
    -------
    ndarray (..., time, hidden_size)
        The state after every step (the broadcast loop shape first).

    Examples
    --------
    >>> import numpy as np, fastgru, fastgru.gufunc
    >>> layer = fastgru.GRU(3, 4, random_state=0)
    >>> x = np.ones((5, 7, 10, 3), dtype=np.float32)  # e.g. (stations, days, time, features)
    >>> fastgru.gufunc.gru_layer(x, *fastgru.gufunc.cell_arrays(layer)).shape
    (5, 7, 10, 4)
    """
    v = get_variant(variant)
    if dtype is None:
        kind = np.asarray(weight_ih).dtype
        dtype = kind if kind in (np.float32, np.float64) else np.float64
    dtype = check_dtype(dtype)
    x = _as_array("x", x, dtype, 2)
    W = _as_array("weight_ih", weight_ih, dtype, 2)
    U = _as_array("weight_hh", weight_hh, dtype, 2)
    H = U.shape[-1]
    T, n_in = x.shape[-2:]
    if W.shape[-1] != n_in:
        raise ValueError(f"weight_ih has {W.shape[-1]} columns (shape {W.shape}) but x has "
                         f"{n_in} features per step (shape {x.shape})")
    shapes = v.param_shapes(n_in, H, True)
    if W.shape[-2] != shapes["weight_ih"][0]:
        raise ValueError(f"weight_ih must have {shapes['weight_ih'][0]} rows for variant "
                         f"{variant!r} and hidden_size {H}, got shape {W.shape}")
    if U.shape[-2] != shapes["weight_hh"][0]:
        raise ValueError(f"weight_hh must have {shapes['weight_hh'][0]} rows for variant "
                         f"{variant!r} and hidden_size {H}, got shape {U.shape}")
    names = v.bias_names
    want = (shapes[names[0]][0], shapes[names[1]][0] if len(names) == 2 else 0)
    biases = []
    for name, value, n in zip(("b1", "b2"), (b1, b2), want):
        if value is None:
            biases.append(np.zeros(0, dtype=dtype))
            continue
        arr = _as_array(name, value, dtype, 1, allow_empty=True)
        if arr.shape[-1] not in (0, n):
            raise ValueError(f"{name} must have {n} entries (or none) for variant {variant!r} "
                             f"and hidden_size {H}, got shape {arr.shape}")
        biases.append(arr)
    if (biases[0].shape[-1] == 0) != (biases[1].shape[-1] == 0) and want[1] > 0:
        raise ValueError("b1 and b2 must both be given or both be empty "
                         f"(shapes {biases[0].shape} and {biases[1].shape})")
    if h0 is None:
        h0 = np.zeros(H, dtype=dtype)
    else:
        h0 = _as_array("h0", h0, dtype, 1)
        if h0.shape[-1] != H:
            raise ValueError(f"h0 must have hidden_size={H} entries, got shape {h0.shape}")
    args = (x, W, U, *biases, h0)
    try:
        loop = np.broadcast_shapes(*(a.shape[: a.ndim - core] for a, core in
                                     zip(args, (2, 2, 2, 1, 1, 1))))
    except ValueError as exc:
        raise ValueError(f"the leading (loop) dimensions do not broadcast: {exc}") from None
    n_sequences = int(np.prod(loop, dtype=np.int64))
    parallel = n_sequences >= PARALLEL_MIN_SEQUENCES and _runtime.get_num_threads() > 1
    ufunc = raw_gufunc(dtype.name, parallel)
    with _runtime.single_threaded_blas():  # a large single-row product runs in BLAS
        if parallel:
            with _runtime.parallel_launch_lock:  # see _runtime.begin_launch
                _runtime.begin_launch()
                return ufunc(*args, v.mode)
        return ufunc(*args, v.mode)


def forward(layer, x, h0=None):
    """:meth:`fastgru.GRU.forward` (inference) through the gufunc, for
    sequences with any leading dimensions.

    Each layer and direction is one :func:`gru_layer` call; the reverse
    direction runs on the time-reversed view of its input; the outputs of a
    bidirectional layer are concatenated (forward half first), as the layer
    does. Sequences are full length (no ``lengths``); no dropout.

    Parameters
    ----------
    layer : fastgru.GRU
    x : array-like (..., time, input_size)
        Any number of leading dimensions (at least the time and feature ones).
    h0 : array-like (num_layers * D, ..., hidden_size), optional
        Initial states, layer-major, direction-minor, broadcast against the
        leading dimensions of ``x``; zeros by default.

    Returns
    -------
    y : ndarray (..., time, D * hidden_size)
    h_n : ndarray (num_layers * D, ..., hidden_size)
        For a 3-D ``x`` both equal :meth:`fastgru.GRU.forward`'s.

    Examples
    --------
    >>> import numpy as np, fastgru, fastgru.gufunc
    >>> layer = fastgru.GRU(3, 4, num_layers=2, bidirectional=True, random_state=0)
    >>> x = np.random.default_rng(0).normal(size=(6, 10, 3))
    >>> y, h_n = fastgru.gufunc.forward(layer, x)
    >>> y_ref, h_ref = layer.forward(x)
    >>> bool(np.allclose(y, y_ref, atol=1e-5) and np.allclose(h_n, h_ref, atol=1e-5))
    True
    """
    _check_layer(layer)
    x = _as_array("x", x, layer.dtype, 2)
    if x.shape[-1] != layer.input_size:
        raise ValueError(f"x has {x.shape[-1]} features per step (shape {x.shape}), expected "
                         f"input_size={layer.input_size}")
    D = layer.num_directions
    if h0 is not None:
        h0 = _as_array("h0", h0, layer.dtype, 2)
        if h0.shape[0] != layer.num_layers * D or h0.shape[-1] != layer.hidden_size:
            raise ValueError(f"h0 must have shape ({layer.num_layers * D}, ..., "
                             f"{layer.hidden_size}), got {h0.shape}")
    inp, finals = x, []
    for index in range(layer.num_layers):
        outs = []
        for d in range(D):
            state = None if h0 is None else h0[index * D + d]
            seq = inp if d == 0 else inp[..., ::-1, :]
            y = gru_layer(seq, *cell_arrays(layer, index, d), state, variant=layer.variant,
                          dtype=layer.dtype)
            finals.append(y[..., -1, :])
            outs.append(y if d == 0 else y[..., ::-1, :])
        inp = outs[0] if D == 1 else np.concatenate(outs, axis=-1)
    h_n = np.stack(np.broadcast_arrays(*finals))
    return inp, h_n
