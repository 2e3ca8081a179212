"""The one place for Numba compile options and thread control.

Every kernel in fastgru is decorated through :func:`kernel` or
:func:`parallel_kernel`, so the fastmath flag set and the cache switch are defined
exactly once.

The fastmath flags deliberately omit ``nnan`` and ``ninf``: with them LLVM may
assume that no value is NaN or infinite and silently drop the checks that let a
diverging training run be detected (umap removed blanket ``fastmath=True`` for
this reason).
"""

from __future__ import annotations

import os
import threading

import numba

#: LLVM fast-math flags used by every kernel; NaN/inf semantics are kept.
FASTMATH_FLAGS = frozenset({"nsz", "arcp", "contract", "afn", "reassoc"})

#: Compiled kernels are cached on disk unless ``FASTGRU_NO_CACHE=1``.
CACHE = os.environ.get("FASTGRU_NO_CACHE", "0") not in ("1", "true", "True")

_OPTIONS = dict(fastmath=set(FASTMATH_FLAGS), cache=CACHE, nogil=True, error_model="numpy")


def kernel(func):
    """Compile ``func`` as a serial nopython kernel with fastgru's options."""
    return numba.njit(**_OPTIONS)(func)


def parallel_kernel(func):
    """Compile ``func`` as a ``parallel=True`` kernel (``prange`` loops)."""
    return numba.njit(parallel=True, **_OPTIONS)(func)


# Numba's default "workqueue" threading layer aborts the process when two Python
# threads launch parallel kernels at the same time; the lock serialises parallel
# launches (serial kernels release the GIL and run concurrently).
parallel_launch_lock = threading.Lock()


_num_threads = numba.config.NUMBA_NUM_THREADS


def set_num_threads(n: int) -> None:
    """Set how many threads fastgru's parallel kernels use, process-wide.

    Unlike ``numba.set_num_threads`` (which is local to the calling thread) the
    setting applies to calls made from every Python thread. Results of inference
    do not depend on it.

    Parameters
    ----------
    n : int
        Between 1 and the number of threads Numba started with
        (``numba.config.NUMBA_NUM_THREADS``, by default the number of cores).

    Examples
    --------
    >>> import fastgru
    >>> fastgru.set_num_threads(1)
    >>> fastgru.get_num_threads()
    1
    """
    global _num_threads
    if isinstance(n, bool) or not hasattr(n, "__index__"):
        raise TypeError(f"n must be an integer, got {type(n).__name__}")
    n = int(n)
    limit = numba.config.NUMBA_NUM_THREADS
    if not 1 <= n <= limit:
        raise ValueError(f"n must be between 1 and {limit} (NUMBA_NUM_THREADS), got {n}")
    _num_threads = n


def get_num_threads() -> int:
    """Return how many threads fastgru's parallel kernels use."""
    return _num_threads
