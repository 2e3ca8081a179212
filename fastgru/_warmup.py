"""``fastgru.warmup()``: compile (or load from the cache) every kernel ahead of serving."""

from __future__ import annotations

import time

import numpy as np

from . import _config, _engine
from ._validation import check_bool, check_dtype
from .layer import GRU


def warmup(dtypes=("float32",), training: bool = False) -> float:
    """Compile fastgru's kernels now, so that the first request is fast.

    The kernels take the cell mode as an argument, so one layer per dtype
    reaches every variant's code; the serial (batch 1, ``step``) and the
    batch-parallel paths are both run, and the parallel large products. With
    the on-disk cache warm this takes well under a second; in a fresh
    environment, about 16 s for the first dtype (7 s more with ``training``).

    Parameters
    ----------
    dtypes : {"float32", "float64"} or a sequence of them, default ("float32",)
    training : bool, default False
        Also compile backpropagation (for training, not needed to serve).

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
    batch = 2 * _config.MAX_BLOCKS  # enough rows for the parallel path
    for dtype in dtypes:
        layer = GRU(2, 4, random_state=0, dtype=dtype)
        x = np.zeros((batch, 3, 2), dtype=dtype)
        lengths = np.array([3] * (batch - 1) + [2])
        with _config.threads():
            layer.forward(x[:1])
            layer.forward(x, lengths=lengths)
            layer.step(x[:, 0])
            layer.step(x[:1, 0])
            if training:
                for rows in (1, batch):
                    y, _ = layer.forward(x[:rows], training=True)
                    layer.backward(np.ones_like(y))
            _engine.compile_large_products(dtype)
    return time.perf_counter() - start
