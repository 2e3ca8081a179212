"""The one place for Numba compile options.

Every kernel in fastgru is decorated through :func:`kernel`,
:func:`inlined_kernel`, :func:`parallel_kernel` or (generalized ufuncs)
:func:`gufunc_kernel`, so the fastmath flag set
and the cache switch are defined exactly once. What runs the compiled
kernels (thread counts, the TBB library, fork handling, the BLAS limit) is
:mod:`fastgru._runtime`.

The fastmath flags deliberately omit ``nnan`` and ``ninf``: with them LLVM may
assume that no value is NaN or infinite and silently drop the checks that let a
diverging training run be detected (umap removed blanket ``fastmath=True`` for
this reason).
"""

from __future__ import annotations

import numba
import numba.extending

from . import _cache
from ._env import env_flag

#: LLVM fast-math flags used by every kernel; NaN/inf semantics are kept.
FASTMATH_FLAGS = frozenset({"nsz", "arcp", "contract", "afn", "reassoc"})

#: Compiled kernels are cached on disk unless ``FASTGRU_NO_CACHE=1``, in the
#: user's cache directory keyed by a hash of the kernel source
#: (:mod:`fastgru._cache`: where, and why not Numba's default beside the source).
CACHE = not env_flag("FASTGRU_NO_CACHE", False)

_OPTIONS = dict(fastmath=set(FASTMATH_FLAGS), nogil=True, error_model="numpy")


def _vector_bytes() -> int:
    """Bytes of one SIMD register that the product kernel's tiles fill: 64
    where the CPU has AVX-512, else 32 (AVX2; LLVM splits the vectors on
    narrower machines). 32 too when the user chose Numba's target CPU."""
    if numba.config.CPU_NAME:
        return 32
    try:  # the features Numba targets: the host's, as NUMBA_CPU_FEATURES changes them
        return 64 if _cache.target_cpu_features().get("avx512f") else 32
    except Exception:  # pragma: no cover - no host feature query
        return 32


#: See :func:`_vector_bytes`; read by ``fastgru._kernels.products.gemm_nn``.
VECTOR_BYTES = _vector_bytes()


def _jit(func, **extra):
    # ``cache=True`` would use Numba's cache beside the source file; fastgru's
    # cache (fastgru._cache) is attached instead. Its directory may be read-only
    # (a baked image, a read-only home): what is compiled then stays in memory.
    return _cache.register(numba.njit(**_OPTIONS, **extra)(func), cached=CACHE)


def kernel(func):
    """Compile ``func`` as a serial nopython kernel with fastgru's options."""
    return _jit(func)


def linked_kernel(func):
    """Compile ``func`` as a kernel that other kernels link and Python may
    call, but whose address no caller takes: without a C wrapper
    (:data:`HELPER_OPTIONS`, for the same reason)."""
    return _jit(func, **HELPER_OPTIONS)


def inlined_kernel(func):
    """Compile ``func`` as a kernel that Numba inlines into its callers.

    For the per-step cell: inlined, the array views it takes and the calls
    it makes are optimised with the caller's time loop (measured: a batch-1
    forward 5-17% faster, batched forwards ~5%), for ~2-3.5 s more of
    first-forward compile from an empty cache. And for the short loops that
    several kernels share (the projection-plus-bias loop): inlined, they
    compile as part of each caller, not as kernels of their own.
    """
    return _jit(func, inline="always")


#: Options of the helpers that kernels call (:func:`helper`, :func:`overload`):
#: no C wrapper. No caller takes a helper's address,
#: and LLVM inlined each body into its wrapper, so that its code was optimised
#: and generated once more for nothing (from an empty cache, a first forward
#: ~0.9 s less without, measured).
HELPER_OPTIONS = {"no_cfunc_wrapper": True}


def helper(func):
    """Make ``func`` callable from kernels (``numba.extending.register_jitable``,
    with :data:`HELPER_OPTIONS`); it stays a plain Python function too."""
    return numba.extending.register_jitable(**HELPER_OPTIONS)(func)


def overload(func):
    """``numba.extending.overload(func)`` with :data:`HELPER_OPTIONS`."""
    return numba.extending.overload(func, jit_options=dict(HELPER_OPTIONS))


def parallel_kernel(func):
    """Compile ``func`` as a ``parallel=True`` kernel (``prange`` loops)."""
    return _jit(func, parallel=True)


def gufunc_kernel(signatures, layout: str, parallel: bool = False):
    """A decorator compiling a generalized ufunc (``numba.guvectorize``) with
    fastgru's options: eagerly, for the given ``signatures``, with the loop
    over the broadcast dimensions split across Numba's threads if ``parallel``
    (``target="parallel"``; launched under
    :data:`fastgru._runtime.parallel_launch_lock`, see
    :func:`fastgru._runtime.begin_launch`).
    """
    options = dict(fastmath=set(FASTMATH_FLAGS), cache=CACHE, nopython=True,
                   target="parallel" if parallel else "cpu")

    def decorate(func):
        if CACHE:
            try:
                # compiled and cached inside the decorator: in fastgru's cache
                # directory (fastgru._cache), as every kernel, not beside the source
                with _cache.locating_in_kernel_cache():
                    return numba.guvectorize(signatures, layout, **options)(func)
            except (RuntimeError, OSError):  # no writable cache: compile in memory
                pass
        return numba.guvectorize(signatures, layout, **{**options, "cache": False})(func)

    return decorate


#: Row blocks of the batch-parallel kernels: fixed by the machine, not by
#: set_num_threads, so that results do not depend on the thread count.
MAX_BLOCKS = numba.config.NUMBA_NUM_THREADS
