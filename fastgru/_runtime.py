"""What runs fastgru's compiled kernels: threads, the TBB library, fork
handling and the BLAS limit.

* Threads: :func:`set_num_threads` (process-wide), :func:`thread_limit` and
  :func:`threads` (per Python thread, the estimators' ``n_jobs``), and the
  lock every parallel launch holds (:data:`parallel_launch_lock`,
  :func:`begin_launch`).
* TBB: :func:`preload_tbb` loads the ``[tbb]`` extra's library at import, and
  Numba is asked for a fork-safe threading layer unless the user chose one.
* Fork: handlers registered with ``os.register_at_fork`` take the launch and
  compiler locks over a fork and give the child fresh ones.
* BLAS: :func:`single_threaded_blas` limits every loaded BLAS to one thread
  inside fastgru's calls.

Compile options (fastmath, the kernel cache, the decorators) are
:mod:`fastgru._config`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time

import numba

from . import _fork_stdout
from ._numba_compat import global_compiler_lock, threading_layer_started


def _tbb_library_candidates():
    """Where pip puts TBB's shared library for the ``[tbb]`` extra: the
    ``lib`` directory of the environment (a venv's prefix, the user base)."""
    names = {"linux": "libtbb.so.12", "darwin": "libtbb.12.dylib"}
    name = names.get("darwin" if sys.platform == "darwin" else
                     "linux" if sys.platform.startswith("linux") else "", None)
    if name is None:  # Windows finds tbb12.dll beside the interpreter
        return []
    prefixes = [sys.prefix, sys.exec_prefix]
    try:
        import site

        prefixes.append(site.getuserbase())
    except Exception:  # pragma: no cover - site without a user base
        pass
    return [os.path.join(p, "lib", name) for p in dict.fromkeys(prefixes) if p]


def preload_tbb():
    """Load the ``[tbb]`` extra's TBB library so that Numba can use it.

    pip installs ``libtbb.so.12`` into ``<prefix>/lib``, which the dynamic
    loader does not search in a virtual environment (Numba issues #6108,
    #7148): Numba then fails to load its TBB layer and silently uses
    workqueue. Loading the library by its path first, with ``RTLD_GLOBAL``,
    lets Numba's TBB layer link against it. Does nothing once Numba has
    started a threading layer, when the user chose a layer other than TBB
    (``omp`` or ``workqueue``, in ``NUMBA_THREADING_LAYER`` or
    ``numba.config.THREADING_LAYER``), or where no such library is installed.

    Returns
    -------
    str or None
        The path loaded, or None.
    """
    if threading_layer_started() or numba.config.THREADING_LAYER in ("omp", "workqueue"):
        return None
    import ctypes

    for path in _tbb_library_candidates():
        if os.path.isfile(path):
            try:
                ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
            except OSError:  # another architecture, a broken file: Numba decides
                continue
            return path
    return None


#: The TBB library :func:`preload_tbb` loaded at import, or None.
TBB_PRELOADED = preload_tbb()

# Numba's default choice on Linux is GNU OpenMP when TBB is missing, and GNU
# OpenMP kills a child process forked after a parallel region ran ("fork()
# called from a process already using GNU OpenMP"), which breaks servers that
# fork workers (gunicorn, multiprocessing). Unless the user chose a layer
# (NUMBA_THREADING_LAYER, or numba.config.THREADING_LAYER set before importing
# fastgru) or a layer already runs, ask for a fork-safe one (TBB, else workqueue).
if ("NUMBA_THREADING_LAYER" not in os.environ and numba.config.THREADING_LAYER == "default"
        and not threading_layer_started()):
    numba.config.THREADING_LAYER = "forksafe"

# Numba's "workqueue" threading layer aborts the process when two Python
# threads launch parallel kernels at the same time; the lock serialises parallel
# launches (serial kernels release the GIL and run concurrently). Reentrant so
# that a fork from a signal handler running inside ``with parallel_launch_lock``
# (between bytecodes, never during the launch) takes it again (see
# _hold_over_fork) instead of waiting for itself.
parallel_launch_lock = threading.RLock()


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
    """Return how many threads fastgru's parallel kernels use (in this thread)."""
    if _serial_after_fork:
        return 1
    local = getattr(_thread_limit, "n", None)
    return _num_threads if local is None else min(local, _num_threads)


def begin_launch() -> None:
    """The first statement of a parallel launch, inside a ``with`` of the
    lock itself (``with _runtime.parallel_launch_lock: begin_launch();
    run_parallel(...)``): sets Numba's thread count to
    :func:`get_num_threads` and notes the launching thread (see
    :func:`_tbb_fork_unsafe`). The C-level RLock as the context manager is
    what makes a launch safe from KeyboardInterrupt: CPython handles no
    signal between its acquire and the protected block, while Python code
    between an ``acquire()`` and a ``try`` could leave it held, blocking
    every later launch and ``os.fork()`` from other threads forever.
    """
    global _first_launcher
    ident = threading.get_ident()
    # the thread's own: a Python ident is reused by later threads at once
    _launchers[ident] = threading.get_native_id()
    if _first_launcher is None:
        _first_launcher = ident
    numba.set_num_threads(get_num_threads())


_thread_limit = threading.local()


def resolve_n_jobs(n_jobs) -> int | None:
    """scikit-learn's ``n_jobs`` as a thread count: None = fastgru's setting,
    -1 = every core, -k = all but k - 1; capped at ``NUMBA_NUM_THREADS``."""
    if n_jobs is None:
        return None
    if isinstance(n_jobs, bool) or not hasattr(n_jobs, "__index__"):
        raise TypeError(f"n_jobs must be None or an integer, got {type(n_jobs).__name__} "
                        f"{n_jobs!r}")
    n_jobs = int(n_jobs)
    if n_jobs == 0:  # as joblib: 0 threads has no meaning
        raise ValueError("n_jobs=0 runs nothing: give None (fastgru's setting), -1 (every "
                         "core) or a number of threads")
    limit = numba.config.NUMBA_NUM_THREADS
    if n_jobs < 0:
        return max(1, limit + 1 + n_jobs)
    return max(1, min(int(n_jobs), limit))


@contextlib.contextmanager
def thread_limit(n: int | None):
    """Limit the parallel kernels called from this Python thread to ``n`` threads.

    Used by the estimators' ``n_jobs``; other Python threads are not affected.
    ``None`` leaves the process-wide setting in force.
    """
    previous = getattr(_thread_limit, "n", None)
    _thread_limit.n = n if n is None or previous is None else min(n, previous)
    try:
        yield
    finally:
        _thread_limit.n = previous


# ----------------------------------------------------------------- BLAS threads
# Inside a fastgru call every matrix product runs in single-threaded BLAS from
# Numba's threads; a multi-threaded BLAS would oversubscribe the cores, and its
# worker threads keep spinning after a call, slowing the next parallel kernel
# by 2-3x. Every call sets and restores the limit through the libraries' own
# get/set functions, resolved once (through threadpoolctl's controllers that
# cost ~5 us a call, a fifth of a batch-1 forward).


def _thread_functions(controller):
    """``(get_num_threads, set_num_threads)`` of one BLAS library: its own
    C functions where threadpoolctl found an OpenBLAS with its own threads,
    else the controller's methods."""
    if getattr(controller, "internal_api", None) == "openblas" and getattr(
            controller, "threading_layer", None) != "openmp":
        dynlib = getattr(controller, "dynlib", None)
        for prefix in ("", "scipy_"):
            for suffix in ("", "64_", "_64"):
                get = getattr(dynlib, f"{prefix}openblas_get_num_threads{suffix}", None)
                set_ = getattr(dynlib, f"{prefix}openblas_set_num_threads{suffix}", None)
                if get is not None and set_ is not None:
                    return get, set_
    return controller.get_num_threads, controller.set_num_threads


def _blas_thread_functions():
    global _BLAS_FUNCTIONS
    if _BLAS_FUNCTIONS is None:
        try:
            # Numba's np.dot calls SciPy's BLAS: load it before listing libraries.
            import scipy.linalg.cython_blas  # noqa: F401
            from threadpoolctl import ThreadpoolController

            _BLAS_FUNCTIONS = [
                _thread_functions(c)
                for c in ThreadpoolController().lib_controllers
                if c.user_api == "blas"
            ]
        except Exception:  # threadpoolctl missing or failing: run unlimited
            _BLAS_FUNCTIONS = []
    return _BLAS_FUNCTIONS


_BLAS_FUNCTIONS = None


class _SingleThreadedBlas:
    """Reference-counted, so that concurrent calls from several Python
    threads set the limit once and restore it once. An interrupted
    ``__enter__`` undoes itself (each library's count is saved before it is
    changed; the count of users is raised last), so that a KeyboardInterrupt
    cannot leave BLAS single-threaded for the life of the process."""

    def __init__(self):
        self._lock = threading.Lock()
        self._users = 0
        self._saved = []

    def __enter__(self):
        counted = False
        try:
            with self._lock:
                if self._users == 0:
                    saved = self._saved = []
                    for get, set_ in _blas_thread_functions():
                        n = get()
                        if n != 1:
                            saved.append((set_, n))  # before the change: restorable
                            set_(1)
                self._users += 1
                counted = True  # no signal is handled between these two stores
        except BaseException:
            if counted:
                self.__exit__()
            else:
                with self._lock:
                    if self._users == 0:
                        self._restore()
            raise
        return self

    def __exit__(self, *exc):
        with self._lock:
            self._users -= 1
            if self._users == 0:
                self._restore()
        return False

    def _restore(self):
        saved, self._saved = self._saved, []
        for set_, n in saved:
            set_(n)


_SINGLE_THREADED_BLAS = _SingleThreadedBlas()


def _reset_after_fork() -> None:
    """Give a forked child fresh locks and counters.

    ``fork`` copies the memory of the calling thread's process only: a lock
    that another thread held at that moment (a parallel launch in a serving
    thread, the BLAS limit's counter) stays held forever in the child, whose
    first parallel call then blocks (gunicorn's preload, a multiprocessing
    fork pool). The child has one thread, so nothing it inherits is in use.
    """
    global parallel_launch_lock, _first_launcher, _serial_after_fork
    parallel_launch_lock = threading.RLock()
    _release_after_fork()  # Numba's compiler lock, taken by this thread before the fork
    _launchers.clear()
    _first_launcher = threading.get_ident()  # Numba restarts TBB from this thread
    if _fork_was_unsafe and not _serial_after_fork:
        _serial_after_fork = True
        logging.getLogger("fastgru").warning(
            "fastgru: this process was forked while another thread used Numba's TBB "
            "threading layer, which TBB does not survive: fastgru's kernels run on one "
            "thread in this process. Fork before starting threads, or set "
            "NUMBA_THREADING_LAYER=workqueue, to keep them parallel.")
    blas = _SINGLE_THREADED_BLAS
    saved = blas._saved if blas._users else []
    blas._lock = threading.Lock()
    blas._users = 0
    blas._saved = []
    for set_, n in saved:  # the limit of a call the fork interrupted
        try:
            set_(n)
        except Exception:  # pragma: no cover - a BLAS refusing in a child
            pass


_held_over_fork = []  # the locks _hold_over_fork took, released after the fork
_launchers = {}  # the threads that launched parallel kernels: ident -> native id
_first_launcher = None  # the first of them: the one that started Numba's threads
_fork_was_unsafe = False  # the verdict of _tbb_fork_unsafe at the last fork
_serial_after_fork = False  # this process was forked so: its kernels run serially


def _tbb_fork_unsafe() -> bool:
    """Whether a fork now may leave TBB's internal locks held in the child.

    Before a fork, Numba's TBB layer shuts its worker threads down, which
    it can do only when the fork comes from the thread that started them and
    no other thread has used TBB. Otherwise the workers live on, and one of
    them may hold TBB's thread-server mutex at the fork (a worker going to
    sleep after a launch takes it): the child's first parallel launch then
    blocks forever (seen in gdb, ~1 fork in 15 under load).
    """
    try:
        if numba.threading_layer() != "tbb":
            return False
    except ValueError:  # no parallel kernel has run: TBB has no threads
        return False
    current = threading.get_ident()
    if current != _first_launcher:
        return True
    alive = {thread.ident for thread in threading.enumerate()}
    # (an ident reused by a thread that never launched counts: serial, not a hang)
    if any(i in alive for i in list(_launchers) if i != current):
        return True
    ended = {i: n for i, n in list(_launchers.items()) if i != current}
    exiting = _still_exiting(list(ended.values()))
    for i, n in ended.items():  # gone from the operating system too: TBB let them go
        if n not in exiting:
            _launchers.pop(i, None)
    return bool(exiting)


#: How long a fork waits for threads that ran kernels to finish exiting.
EXIT_WAIT_SECONDS = 0.1


def _still_exiting(native_ids) -> list:
    """Those of the threads ``native_ids``, which Python counts as ended,
    that the operating system still runs after waiting up to
    :data:`EXIT_WAIT_SECONDS` for them (Linux; elsewhere none).
    ``Thread.join`` returns once a thread's Python state is gone, before its
    C thread-local destructors have run, and TBB's detaches the thread from
    TBB: a fork right after joining threads that ran kernels found TBB
    still attached to them (its message printed, its workers left running)
    in 2 of 20 runs, none 0.2 s later."""
    deadline = time.monotonic() + EXIT_WAIT_SECONDS
    while True:
        try:
            native_ids = [n for n in native_ids if os.path.exists(f"/proc/self/task/{n}")]
        except (OSError, ValueError):
            return []
        if not native_ids or time.monotonic() > deadline:
            return native_ids
        time.sleep(0.001)


def _hold_over_fork() -> None:
    """Fork only between parallel launches and between compiles.

    A fork while another thread is inside a parallel launch copies the
    threading layer's internal locks as held (with TBB: its thread server's
    mutex, taken while waking workers), and a fork while another thread
    compiles copies Numba's compiler lock as held (Numba never resets it):
    the child's first parallel call, or its first compile or cache load, then
    blocks forever. So ``os.fork()`` first takes both locks, in the order a
    launch takes them, waiting for at most one launch and one compile; the
    parent releases them after the fork, the child releases the compiler lock
    and gets a new launch lock. An interrupted wait (Ctrl-C) leaves what it
    did not take alone.
    """
    global _fork_was_unsafe
    for lock in (parallel_launch_lock, global_compiler_lock):
        lock.acquire()
        _held_over_fork.append(lock)
    _fork_was_unsafe = _tbb_fork_unsafe()
    if _fork_was_unsafe:  # Numba's TBB handler will print: see _fork_stdout
        _fork_stdout.divert()


def _release_after_fork() -> None:
    while _held_over_fork:
        _held_over_fork.pop().release()


def _after_fork_in_parent() -> None:
    _release_after_fork()  # first: the other threads' launches need not wait for the pipe
    _fork_stdout.restore_in_parent()


def _after_fork_in_child() -> None:
    _fork_stdout.restore_in_child()
    _reset_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_hold_over_fork, after_in_parent=_after_fork_in_parent,
                        after_in_child=_after_fork_in_child)


def single_threaded_blas():
    """Limit every loaded BLAS to one thread for the duration of a ``with`` block."""
    return _SINGLE_THREADED_BLAS


@contextlib.contextmanager
def threads(n_jobs=None):
    """Run a block of fastgru work, e.g. a hand-written training loop, with
    ``n_jobs`` kernel threads (in this Python thread) and single-threaded BLAS.

    Holding the BLAS limit across a loop, not only inside each layer call,
    matters: the small numpy products between calls (an output head, a loss)
    otherwise wake BLAS worker threads, whose spinning slows the next parallel
    kernel by up to 20x on two cores (measured on a float64 fit). The
    estimators run their fit and predict inside it.

    Parameters
    ----------
    n_jobs : int or None
        None: the process-wide setting (:func:`set_num_threads`); -1: every
        core; k > 0: at most k threads (0 is refused, as joblib refuses it).

    Examples
    --------
    >>> import numpy as np, fastgru
    >>> layer = fastgru.GRU(2, 8, random_state=0)
    >>> with fastgru.threads(1):
    ...     for _ in range(3):
    ...         y, h = layer.forward(np.ones((4, 5, 2)), training=True)
    ...         dx, dh0 = layer.backward(y - 1.0)
    """
    with thread_limit(resolve_n_jobs(n_jobs)), single_threaded_blas():
        yield
