"""``fastgru.warmup()``: compile (or load from the cache) every kernel ahead of serving."""

from __future__ import annotations

import itertools
import os
import time

import numpy as np

from . import _cache, _config, _engine, _optim, _runtime
from ._kernels import panel, products, theta
from ._validation import check_bool, check_dtype
from .layer import GRU


def warmup(dtypes=("float32",), training: bool = False, cache_dir=None) -> float:
    """Compile fastgru's kernels now, so that the first request is fast.

    Kernels are compiled for this very CPU: code compiled for a portable
    x86-64 level (a cache built with ``warmup --portable`` or shipped in the
    package) is not used by the warmup, as it runs slower on newer CPUs.

    The kernels take the cell mode as an argument, and the default variant
    ("torch") has copies of them for its mode alone, so a "torch" and a
    "cho" layer per dtype reach every variant's code; the serial (batch 1, ``step``) and the
    batch-parallel paths are both run, and the parallel large products (with
    ``training``: backpropagation and the optimisers' updates too), and the
    forecaster's loop over its series' windows. The NumPy
    gufunc (:mod:`fastgru.gufunc`) compiles on its first call. With
    the on-disk cache warm this takes well under a second; from an empty
    cache, about 30 s for float32 inference on a 2-core machine, and 1.5
    minutes for float32 and float64 with ``training`` (what ``pip install .``
    compiles into the wheel; measured: ``python -m fastgru warmup`` 29 s,
    ``python -m fastgru warmup --dtypes float32 float64 --training`` 96 s).

    Parameters
    ----------
    dtypes : {"float32", "float64"} or a sequence of them, default ("float32",)
    training : bool, default False
        Also compile backpropagation (for training, not needed to serve).
    cache_dir : str or path-like, optional
        Write the compiled kernels into this directory (and use it for the
        rest of the process) instead of the default cache directory: bake it
        into an image and point ``FASTGRU_CACHE_DIR`` at it, and later
        processes of the same fastgru version on the same CPU model load
        every kernel without compiling (see ``docs/deployment.md``).

    Returns
    -------
    float
        Seconds taken.

    Examples
    --------
    >>> import fastgru
    >>> seconds = fastgru.warmup()
    """
    if isinstance(dtypes, str) or not hasattr(dtypes, "__iter__"):
        dtypes = (dtypes,)  # one dtype given on its own: "float32", np.float64
    dtypes = [check_dtype(d) for d in dtypes]
    training = check_bool("training", training)
    start = time.perf_counter()
    if cache_dir is not None:
        if not isinstance(cache_dir, (str, os.PathLike)):
            raise TypeError(f"cache_dir must be a path, got {type(cache_dir).__name__}")
        if not _config.CACHE:
            raise ValueError("cache_dir needs the kernel cache, which FASTGRU_NO_CACHE=1 "
                             "turns off")
        os.makedirs(cache_dir, exist_ok=True)  # OSError if it cannot be made
        if not os.access(cache_dir, os.W_OK):
            raise PermissionError(f"cache_dir {os.fspath(cache_dir)!r} is not writable")
        _cache.set_cache_root(cache_dir)
    notice = lambda: _cache.logger.warning(_cache.notice_text(hint=False))  # noqa: E731
    with _cache.native_only(), _cache.compile_notice(notice):
        _run_every_path(dtypes, training)
    return time.perf_counter() - start


def _run_every_path(dtypes, training):
    batch = 2 * _config.MAX_BLOCKS  # enough rows for the parallel path
    for dtype, variant in itertools.product(dtypes, ("torch", "cho")):
        layer = GRU(2, 4, random_state=0, dtype=dtype, variant=variant)
        x = np.zeros((batch, 3, 2), dtype=dtype)
        lengths = np.array([3] * (batch - 1) + [2])
        with _runtime.threads():
            layer.forward(x[:1])  # twice: the one-sequence kernel runs from the second
            layer.forward(x[:1])
            layer.forward(x)  # a batch whose sequences all run every step: its own kernel
            layer.forward(x, lengths=lengths)
            layer.step(x[:, 0])
            layer.step(x[:1, 0])
            if training:
                for rows in (1, batch):
                    y, _ = layer.forward(x[:rows], training=True)
                    layer.backward(np.ones_like(y))
                for optimizer in (_optim.Adam(), _optim.SGD()):  # the estimators' updates
                    optimizer.update({k: v.copy() for k, v in layer.params.items()},
                                     layer.grads)
            _engine.compile_large_products(dtype)
            # the per-step product of a single row beyond the tiles (larger
            # hidden sizes than this layer's: _engine.recurrent_nt_address)
            products.product_address(products.nt_product, dtype)
    # the forecaster's windows (float64, whatever the layers' dtype) and its Theta fit
    panel.running_abs_diffs(np.zeros(3), np.zeros(1, np.int64), np.full(1, 3), 1)
    theta.fit_series(np.arange(4.0), np.zeros(1, np.int64), np.full(1, 4), np.empty((1, 5)))
    theta.deseasonalise(np.arange(4.0), np.zeros(1, np.int64), np.full(1, 4), 1, np.empty(4),
                        np.ones((1, 1)), np.zeros((1, 1)), np.empty(1, np.int8), np.ones(1))
