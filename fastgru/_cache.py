"""Where fastgru's compiled kernels are cached on disk, and how entries are keyed.

Numba's own cache keeps a kernel's machine code beside its source file
(``fastgru/__pycache__``) and keys it on that file's absolute path and
modification time: an installed copy and a checkout each compile, a copy baked
into a container image is not used once the files are re-checked-out or
installed elsewhere, and ``pip uninstall`` leaves the files behind. fastgru's
kernels use this module's cache instead (attached by
:func:`fastgru._config.kernel` and its siblings):

* Directory: ``FASTGRU_CACHE_DIR``, else ``$NUMBA_CACHE_DIR/fastgru``, else
  the user's cache directory (:mod:`fastgru._cache_dir`, which also refuses
  directories that others could write); below it ``<fastgru
  version>/<source tag>/`` and the module's path relative to the package.
* Source tag and stamp: a hash of the kernel-related source files
  (:data:`KERNEL_SOURCES`: the kernel modules and the gufunc, the activations they inline, the
  compile options) and of the Numba and Python versions, instead of one file's
  path and mtime. Editing any of those files starts a fresh directory, two
  checkouts with different code never share entries, and the same code
  installed at another path (another user, a container image) finds the
  entries made by the first.
* CPU: Numba keys each entry on the target triple, CPU name and CPU feature
  flags (Numba's magic tuple); on another CPU the lookup misses and the
  kernel is compiled for that CPU (and added to the cache if it is writable).
  Entries compiled for an x86-64 micro-architecture level
  (``python -m fastgru warmup --portable x86-64-v3``: ``NUMBA_CPU_NAME`` set
  to the level, no extra features) are loaded on any CPU that has the level's
  features, when there is no entry for the CPU itself.
* Last, a read-only cache shipped inside the package (:data:`PREBUILT_DIR`,
  filled when a wheel is built) is looked up the same way; a source tree
  without one (a checkout run in place) looks in the installed fastgru's.
* A directory that cannot be written (a read-only home or image) is still
  read; what is compiled then stays in memory for the life of the process.
* An entry that cannot be read (a truncated or garbage index or data file)
  is a miss: the kernel compiles and its entry is written anew.
* The Numba internals used here are in :mod:`fastgru._numba_compat`; when
  its probes fail at import, kernels use Numba's public ``cache=True``.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import sys
import threading
from pathlib import Path

import numba

from . import _cache_dir
from . import _numba_compat as compat
from ._cache_dir import default_cache_root, user_cache_dir  # noqa: F401  (this module's API)
from ._cpu import (  # noqa: F401
    PORTABLE_LEVELS,
    portable_key,
    runnable_levels,
    target_cpu_features,  # noqa: F401
)
from ._env import env_flag

#: The package directory; only kernels defined below it use this cache.
PACKAGE_DIR = Path(__file__).resolve().parent

#: A cache shipped inside the package (read only, never written at run time):
#: ``setup.py`` fills it when it builds a wheel (``FASTGRU_PREBUILD``); looked
#: up after the user's cache.
PREBUILT_DIR = PACKAGE_DIR / "_prebuilt"

#: Files and directories (relative to the package) whose source the kernels
#: compile: the kernel modules, what they inline and the compile options.
KERNEL_SOURCES = ("_kernels", "_activations.py", "_config.py", "gufunc.py", "_numba_compat.py")

logger = logging.getLogger("fastgru")

#: Whether the Numba internals of fastgru's cache are as expected
#: (:func:`fastgru._numba_compat.cache_internals_ok`); if not, kernels use
#: Numba's public ``cache=True``.
INTERNALS_OK = compat.cache_internals_ok()


def _package_version() -> str:
    # ``fastgru.__version__`` is set before the package imports its kernels.
    return getattr(sys.modules.get(__package__), "__version__", "unknown")


def _kernel_source_files(package_dir: Path):
    for name in KERNEL_SOURCES:
        path = package_dir / name
        if path.is_dir():
            yield from sorted(path.rglob("*.py"))
        elif path.is_file():
            yield path


def compute_source_tag(package_dir=PACKAGE_DIR) -> str:
    """Hash of the kernel-related files of the package in ``package_dir`` (their
    paths relative to it and their bytes) and of the Numba and Python versions."""
    package_dir = Path(package_dir)
    digest = hashlib.sha256()
    digest.update(f"numba {numba.__version__} python {sys.version_info[:2]}".encode())
    for path in _kernel_source_files(package_dir):
        digest.update(path.relative_to(package_dir).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


@functools.cache
def source_tag() -> str:
    """Hash of the kernel-related source (:data:`KERNEL_SOURCES`) and versions."""
    return compute_source_tag()


_root = None  # the _cache_dir.CacheRoot in use


def _guard() -> _cache_dir.CacheRoot:
    global _root
    if _root is None:
        _root = _cache_dir.CacheRoot(default_cache_root(), (_package_version(), source_tag()))
    return _root


def cache_root() -> Path | None:
    """The cache directory in use (see :func:`set_cache_root`), or None when
    there is none that may be used (:class:`fastgru._cache_dir.CacheRoot`)."""
    guard = _guard()
    return None if guard.refused else guard.path


def kernel_cache_dir() -> Path | None:
    """Where this version's kernels are cached: ``<root>/<version>/<source
    tag>``; None without a usable cache root."""
    root = cache_root()
    return None if root is None else root / _package_version() / source_tag()


@functools.cache
def prebuilt_dir() -> Path | None:
    """The prebuilt kernels for this version and source tag: in the
    package (:data:`PREBUILT_DIR`), else in an installed fastgru whose
    kernels have the same source tag (a checkout run in place)."""
    below = Path(_package_version()) / source_tag()
    for base in (PREBUILT_DIR, *_cache_dir.installed_prebuilt_dirs(PACKAGE_DIR)):
        if (base / below).is_dir():
            return base / below
    return None


class KernelCacheLocator(compat.CacheLocator):
    """Numba cache locator for the kernels of the fastgru package.

    Places a module's entries under :func:`kernel_cache_dir` by its path
    relative to the package, stamped with :func:`source_tag` (not the file's
    absolute path and mtime). Unlike Numba's locators it does not require the
    directory to be writable: a read-only baked cache is loaded, and saving is
    skipped (:class:`KernelCache`).
    """

    def __init__(self, py_func, relative_dir):
        self._lineno = py_func.__code__.co_firstlineno
        self.relative_dir = relative_dir
        directory = kernel_cache_dir()
        #: None: no usable cache root, nothing is read or written there
        self.directory = None if directory is None else directory / relative_dir
        self._cache_path = str(self.directory or "")

    def ensure_cache_path(self):
        if self.directory is None:
            raise OSError("fastgru has no usable kernel cache directory")
        super().ensure_cache_path()

    def get_cache_path(self):
        return self._cache_path

    def get_source_stamp(self):
        return source_tag()

    def get_disambiguator(self):
        return str(self._lineno)

    @classmethod
    def from_function(cls, py_func, py_file):
        try:
            relative = Path(py_file).resolve().relative_to(PACKAGE_DIR)
        except (ValueError, OSError):
            return None
        return cls(py_func, relative.parent)


# ------------------------------------------------------ portable entries
#: Portable entries are used unless ``FASTGRU_PORTABLE=0`` (or within
#: :func:`native_only`, as :func:`fastgru.warmup` runs).
_use_portable = env_flag("FASTGRU_PORTABLE", True)


@contextlib.contextmanager
def native_only():
    """Within the block, kernels not cached for this very CPU compile for it
    instead of loading portable code (which is slower on newer CPUs)."""
    global _use_portable
    previous, _use_portable = _use_portable, False
    try:
        yield
    finally:
        _use_portable = previous


_portable_noted = False


@contextlib.contextmanager
def locating_in_kernel_cache():
    """Within the block, caches that Numba makes for new functions (a
    gufunc's compiled kernel and its ufunc wrapper, which ``guvectorize``
    makes and fills inside the decorator) use :class:`KernelCacheLocator`:
    fastgru's cache directory, never the package's ``__pycache__``.

    Numba's ``guvectorize`` takes no cache class, so the locator list of
    Numba's two cache kinds is swapped for the block, under Numba's compiler
    lock (other threads compile nothing meanwhile). A function outside the
    package finds no locator here: its ``cache=True`` raises "cannot cache",
    as it would for a file Numba cannot place.
    """
    if not INTERNALS_OK:  # Numba's own locators: cache=True as Numba does it
        yield
        return
    if kernel_cache_dir() is None or not _guard().usable(create=True):
        raise RuntimeError("fastgru has no usable kernel cache directory")
    with compat.global_compiler_lock:
        saved = compat.swap_locator_classes([KernelCacheLocator])
        try:
            yield
        finally:
            compat.restore_locator_classes(saved)


_KernelCacheImpl = compat.cache_impl_class(KernelCacheLocator)


class _IndexFile(compat.IndexDataCacheFile):
    """Numba's index and data files, where an index or data file that
    cannot be read (empty, truncated, garbage, another format) is a miss,
    never an error: the kernel compiles and saving writes a fresh index."""

    def _load_index(self):
        try:
            return super()._load_index()
        except Exception as exc:
            logger.debug("fastgru: unreadable cache index %s (%s): ignored, rewritten on "
                         "the next save", self._index_path, exc)
            return {}

    def load(self, key):
        try:
            return super().load(key)
        except Exception as exc:
            logger.debug("fastgru: unreadable cache entry in %s (%s): compiling",
                         self._cache_path, exc)
            return None


class KernelCache(compat.FunctionCache):
    """Numba's function cache with :class:`KernelCacheLocator`. A directory
    that cannot be read makes loading miss (the kernel compiles), one that
    cannot be written makes saving a no-op (the code stays in memory)."""

    _impl_class = _KernelCacheImpl

    def load_overload(self, sig, target_context):
        try:
            return super().load_overload(sig, target_context)
        except Exception as exc:  # unreadable, not a directory, a truncated file: compile
            logger.debug("fastgru: cannot load %s from %s (%s)", self._name,
                         self.cache_path, exc)
            return None

    def __init__(self, py_func):
        super().__init__(py_func)
        locator = self._impl.locator
        self._cache_file = (None if locator.directory is None else
                            _IndexFile(self._cache_path, self._impl.filename_base, source_tag()))
        base = prebuilt_dir()
        prebuilt = None if base is None else base / locator.relative_dir
        self.portable_signatures = set()  # loaded from a portable entry
        self._prebuilt = (_IndexFile(str(prebuilt), self._impl.filename_base, source_tag())
                          if prebuilt is not None and prebuilt.is_dir() else None)

    def _load_overload(self, sig, target_context):
        if not self._enabled:
            return None
        global _portable_noted
        key = self._index_key(sig, target_context.codegen())
        own = self._cache_file if _guard().usable(create=False) else None
        files = [f for f in (own, self._prebuilt) if f is not None]
        for cache_file in files:  # this CPU's own entry first, wherever it is
            data = cache_file.load(key)
            if data is not None:
                return self._impl.rebuild(target_context, data)
        for cache_file in files:  # else one compiled for a portable level it runs
            other = portable_key(key, cache_file._load_index()) if _use_portable else None
            data = None if other is None else cache_file.load(other)
            if data is not None:
                self.portable_signatures.add(sig)
                if not _portable_noted:
                    _portable_noted = True
                    logger.info("fastgru: using kernels compiled for %s (portable); "
                                "`python -m fastgru warmup` compiles them for this CPU "
                                "(faster on newer CPUs)", other[1][1])
                return self._impl.rebuild(target_context, data)
        return None

    def save_overload(self, sig, data):
        if self._cache_file is None or not _guard().usable(create=True):
            return
        try:
            super().save_overload(sig, data)
        except Exception as exc:  # unwritable, full: the compiled code stays in memory
            _note_unwritable(self.cache_path, exc)


_unwritable_noted = False


def _note_unwritable(path, exc):
    global _unwritable_noted
    if not _unwritable_noted:
        _unwritable_noted = True
        logger.warning("fastgru: cannot write the kernel cache in %s (%s); compiled "
                       "kernels stay in memory for this process", path, exc)


# ------------------------------------------------------------ the kernel list
#: Every dispatcher made by fastgru._config's decorators, in definition order.
DISPATCHERS = []
_DISPATCHER_IDS = set()


def register(dispatcher, cached: bool):
    """Record a fastgru kernel; with ``cached`` give it a :class:`KernelCache`."""
    DISPATCHERS.append(dispatcher)
    _DISPATCHER_IDS.add(id(dispatcher))
    if cached:
        try:
            if INTERNALS_OK:  # what ``cache=True`` does, with our cache class
                compat.set_dispatcher_cache(dispatcher, KernelCache(dispatcher.py_func))
            else:
                dispatcher.enable_caching()  # ``cache=True``: Numba's own cache
        except RuntimeError:  # no locator: compile in memory
            pass
    return dispatcher


def set_cache_root(path) -> Path:
    """Use ``path`` as the cache directory from now on (``warmup(cache_dir=...)``).

    Kernels already compiled (or loaded from this CPU's entries) in this
    process are written there too, so that the directory ends up complete
    whatever ran before; code loaded from portable entries is not (run the
    warmup in a fresh process, as ``python -m fastgru warmup`` does).
    """
    global _root
    root = Path(path).expanduser().resolve()
    below = (_package_version(), source_tag())
    reason = _cache_dir.unsafe_reason(root, below)
    if reason is not None:
        raise ValueError(f"cache_dir {str(path)!r} cannot hold a kernel cache: {reason}")
    _root = _cache_dir.CacheRoot(root, below)
    for dispatcher in DISPATCHERS:
        if not isinstance(compat.dispatcher_cache(dispatcher), KernelCache):
            continue
        portable = compat.dispatcher_cache(dispatcher).portable_signatures
        cache = KernelCache(dispatcher.py_func)
        compat.set_dispatcher_cache(dispatcher, cache)
        for sig, compiled in list(dispatcher.overloads.items()):
            if sig in portable:  # it would be saved as this CPU's own code
                continue
            try:
                cache.save_overload(sig, compiled)
            except Exception as exc:  # pragma: no cover - e.g. code loaded from a cache
                logger.debug("fastgru: could not write %s to %s: %s", dispatcher, path, exc)
    return _root


def cache_status() -> dict:
    """What the kernel cache holds for this machine.

    Returns a dict: ``directory`` (str), ``enabled`` (bool), ``kernels``
    (fastgru's kernels, not counting those only inlined into others),
    ``cached`` (how many have code for this CPU, or for a portable level it
    runs, in the cache or the package; a call needs only some) and
    ``in_package`` (how many of those the package holds, :data:`PREBUILT_DIR`).
    """
    magic = compat.host_magic_tuple()

    def runs_here(cache_file):
        try:
            index = cache_file._load_index() if cache_file is not None else {}
        except Exception:  # unreadable or foreign index: counts as not cached
            return False
        return any(key[1] == magic or (key[1][0] == magic[0] and key[1][2] == ""
                                       and key[1][1] in runnable_levels()) for key in index)

    kernels = cached = in_package = 0
    enabled = False
    for dispatcher in DISPATCHERS:
        cache = compat.dispatcher_cache(dispatcher)
        if not isinstance(cache, KernelCache):
            continue
        enabled = True
        if dispatcher.targetoptions.get("inline") == "always":
            continue  # compiled into its callers, never on its own
        kernels += 1
        packaged = runs_here(cache._prebuilt)
        in_package += packaged
        cached += packaged or (_guard().usable(create=False) and runs_here(cache._cache_file))
    directory = kernel_cache_dir()
    return {"directory": "none" if directory is None else str(directory), "enabled": enabled,
            "kernels": kernels, "cached": cached, "in_package": in_package}


# ------------------------------------------------------ first-compile notice
_compile_count = 0
_notice_lock = threading.Lock()
_noticed = False


def compile_count() -> int:
    """How many times a fastgru kernel has been compiled in this process
    (loading one from the cache does not count)."""
    return _compile_count


def cache_enabled() -> bool:
    """Whether fastgru's kernels use the on-disk cache (not with FASTGRU_NO_CACHE);
    reads nothing from disk, unlike :func:`cache_status`. Numba's own cache
    (the fallback when :data:`INTERNALS_OK` is False) counts."""
    return any(isinstance(compat.dispatcher_cache(d), compat.FunctionCache) for d in DISPATCHERS)


def notice_text(hint: bool = True) -> str:
    """The first compile's log line: how long, where the kernels go and,
    with ``hint``, how to compile ahead (not while ahead-of-time compiling)."""
    if not cache_enabled():
        where = "they are not cached (FASTGRU_NO_CACHE), so every process compiles"
    elif not INTERNALS_OK:
        where = "later runs load them from Numba's own cache"
    elif kernel_cache_dir() is None:
        where = "no cache directory may be used, so every process compiles"
    else:
        where = f"later runs load them from the cache in {kernel_cache_dir()}"
    if not hint:
        return ("fastgru: compiling kernels for this CPU (about 10-30 s for inference, as "
                f"much again for training; once: {where}).")
    return ("fastgru: compiling kernels for this CPU on first use (about 10-30 s for "
            f"inference, as much again for training; once: {where}). Silence with "
            "logging.getLogger('fastgru').setLevel(logging.ERROR); compile ahead "
            "with `python -m fastgru warmup`.")


_notice = None  # a callable replacing the logged notice (the demo prints its own)


@contextlib.contextmanager
def compile_notice(callback):
    """Within the block, the first compile calls ``callback()`` instead of
    logging the notice (once per process, as the log line)."""
    global _notice
    previous, _notice = _notice, callback
    try:
        yield
    finally:
        _notice = previous


class _CompileListener(compat.Listener):
    """Counts compiles of fastgru's kernels and announces the first one."""

    def on_start(self, ev):
        global _compile_count, _noticed
        dispatcher = ev.data.get("dispatcher") if isinstance(ev.data, dict) else None
        if id(dispatcher) not in _DISPATCHER_IDS:
            return
        _compile_count += 1
        if _noticed:
            return
        with _notice_lock:
            if _noticed:
                return
            _noticed = True
        if _notice is not None:
            _notice()
        else:
            logger.warning(notice_text())

    def on_end(self, ev):
        pass


compat.register_listener("numba:compile", _CompileListener())
