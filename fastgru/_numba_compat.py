"""Every use of a Numba internal in fastgru, in one module, each with a probe.

fastgru relies on a few parts of Numba that are not public API; for each,
what it is used for and what happens if a Numba release changes it:

* the caching classes ``caching._CacheLocator``, ``FunctionCache``,
  ``CompileResultCacheImpl``, ``CodeLibraryCacheImpl`` and
  ``IndexDataCacheFile`` (``load``, ``save``, ``_load_index``),
  ``Cache._index_key``, ``CacheImpl._locator_classes`` and
  ``Dispatcher._cache``: fastgru's kernel cache (:mod:`fastgru._cache`: its
  directory, source-tag stamp, portable and prebuilt entries). Changed: the
  kernels use Numba's public ``cache=True``;
* ``codegen().magic_tuple()``: which CPU an entry was compiled for. Changed:
  portable entries are not found (a miss: the kernel compiles) and CI fails;
* ``_dispatcher.compute_fingerprint``: the dispatcher's type key of an
  argument (the launch path's lookup, ~0.1 us). Missing: ``numba.typeof``;
* ``library.get_pointer_to_function(fndesc.llvm_cfunc_wrapper_name)`` and
  the data model of ``FunctionType``: a compiled kernel's C wrapper called
  through a first-class function built from its address
  (:func:`as_block_function`, :func:`as_function`). Changed: CI fails
  (:func:`probe_block_function`);
* ``np.ufunc.parallel._is_initialized``: whether Numba has started a
  threading layer (TBB is preloaded only before). Changed: CI fails;
* ``compiler_lock.global_compiler_lock``: forks wait for a compile to end.

:class:`fastgru._cache.KernelCache` subclasses ``FunctionCache`` and
overrides ``load_overload``, ``_load_overload`` and ``save_overload``, using
the members ``_impl`` (``locator``, ``filename_base``, ``rebuild``),
``_cache_file``, ``_enabled`` and ``_index_key``; its index files subclass
``IndexDataCacheFile``. The kernels use Numba's low-level extension API
(``numba.extending.intrinsic`` with ``numba.core.cgutils``, as Numba's
"Extending" guide documents it), which every kernel test exercises.

Each entry has a probe in :data:`PROBES`; ``tests/test_numba_compat.py``
runs them all, so a Numba release that changes one fails CI loudly before
users meet it. At import, :func:`cache_internals_ok` runs the cheap probes of
the caching internals: when one fails, fastgru warns once and its kernels use
Numba's public ``cache=True`` instead (cached beside the source, or in
``NUMBA_CACHE_DIR``; no prebuilt or portable entries), so the package keeps
working on a Numba it was not tested with.
"""

from __future__ import annotations

import inspect
import logging

import numba
from numba.core import caching, cgutils, event
from numba.core import types as nb_types
from numba.core.compiler_lock import global_compiler_lock  # noqa: F401  (re-exported)
from numba.extending import intrinsic

logger = logging.getLogger("fastgru")

CacheLocator = caching._CacheLocator
FunctionCache = caching.FunctionCache
CompileResultCacheImpl = caching.CompileResultCacheImpl
CodeLibraryCacheImpl = caching.CodeLibraryCacheImpl
IndexDataCacheFile = caching.IndexDataCacheFile
Listener = event.Listener
register_listener = event.register

try:  # the type key Numba's dispatcher computes for a value (C, ~0.1 us)
    from numba._dispatcher import compute_fingerprint as type_key
except ImportError:  # pragma: no cover - a Numba without it: the public, slower typeof
    type_key = numba.typeof


def set_dispatcher_cache(dispatcher, cache) -> None:
    """Give ``dispatcher`` the cache object ``cache``, as
    ``Dispatcher.enable_caching`` (``cache=True``) does with Numba's own."""
    dispatcher._cache = cache


def dispatcher_cache(dispatcher):
    """The cache object of ``dispatcher`` (a ``NullCache`` when it has none)."""
    return getattr(dispatcher, "_cache", None)


def host_magic_tuple() -> tuple:
    """``(triple, cpu name, features)`` that Numba keys this process's cache entries on."""
    from numba.core.registry import cpu_target

    return cpu_target.target_context.codegen().magic_tuple()


def cache_impl_class(locator_class):
    """A ``CompileResultCacheImpl`` that places entries with ``locator_class``
    (a :data:`CacheLocator` subclass), for a :data:`FunctionCache` subclass's
    ``_impl_class``."""
    return type(f"{locator_class.__name__}Impl", (CompileResultCacheImpl,),
                {"_locator_classes": [locator_class]})


def swap_locator_classes(locator_classes):
    """Make Numba's two cache kinds use ``locator_classes``; returns the
    previous setting for :func:`restore_locator_classes`. Hold Numba's
    compiler lock around both."""
    kinds = (CompileResultCacheImpl, CodeLibraryCacheImpl)
    saved = [kind.__dict__.get("_locator_classes") for kind in kinds]
    for kind in kinds:
        kind._locator_classes = list(locator_classes)
    return saved


def restore_locator_classes(saved) -> None:
    for kind, previous in zip((CompileResultCacheImpl, CodeLibraryCacheImpl), saved):
        if previous is None:
            del kind._locator_classes
        else:
            kind._locator_classes = previous


def threading_layer_started() -> bool:
    """Whether Numba has started its threading layer in this process."""
    try:
        from numba.np.ufunc import parallel
    except ImportError:  # pragma: no cover - no parallel backend at all
        return True
    return bool(getattr(parallel, "_is_initialized", False))


def cfunc_address(compiled) -> int:
    """Address of the C wrapper of ``compiled`` (an entry of a dispatcher's
    ``overloads``), for :func:`as_block_function`."""
    return compiled.library.get_pointer_to_function(compiled.fndesc.llvm_cfunc_wrapper_name)


@intrinsic
def as_block_function(typingctx, address, args):
    """The compiled C wrapper of a ``*_block`` kernel at ``address`` (an
    integer, :func:`cfunc_address`) as a first-class function of
    ``(block, n_blocks, *args)``.

    What Numba builds when it unboxes a first-class function argument, made
    here from a plain integer: unboxing one per call cost ~5 us. Numba's
    FunctionType value is a struct whose first member is the C wrapper's
    address, which its calls read (the other members, null here, are
    fallbacks).
    """
    fn_type = nb_types.FunctionType(nb_types.none(nb_types.int64, nb_types.int64, *args.types))

    def codegen(context, builder, signature, llargs):
        struct_type = context.get_value_type(fn_type)
        address = builder.inttoptr(llargs[0], struct_type.elements[0])
        return builder.insert_value(cgutils.get_null_value(struct_type), address, 0)

    return fn_type(address, args), codegen


@intrinsic
def as_function(typingctx, address, args):
    """The compiled C wrapper at ``address`` (:func:`cfunc_address`) as a
    first-class function of ``args``' types, built as
    :func:`as_block_function` builds one: for a kernel that calls another
    without linking (and so optimising again) the callee's code."""
    fn_type = nb_types.FunctionType(nb_types.none(*args.types))

    def codegen(context, builder, signature, llargs):
        struct_type = context.get_value_type(fn_type)
        address = builder.inttoptr(llargs[0], struct_type.elements[0])
        return builder.insert_value(cgutils.get_null_value(struct_type), address, 0)

    return fn_type(address, args), codegen


# ------------------------------------------------------------------ probes
class NumbaInternalChanged(RuntimeError):
    """A Numba internal that fastgru uses is not what fastgru expects."""


def _expect(condition, what):
    if not condition:
        raise NumbaInternalChanged(f"numba {numba.__version__}: {what}")


def _parameters(func):
    return list(inspect.signature(func).parameters)


def probe_cache_classes():
    """The caching classes and the methods fastgru overrides or calls, with
    the signatures it calls them with."""
    for cls in (CacheLocator, FunctionCache, CompileResultCacheImpl, CodeLibraryCacheImpl,
                IndexDataCacheFile):
        _expect(inspect.isclass(cls), f"{cls!r} is not a class")
    for name in ("ensure_cache_path", "get_cache_path", "get_source_stamp",
                 "get_disambiguator", "from_function"):
        _expect(hasattr(CacheLocator, name), f"_CacheLocator has no {name}")
    _expect(_parameters(FunctionCache.__init__) == ["self", "py_func"],
            "FunctionCache(py_func) changed")
    for name, params in (("load_overload", ["self", "sig", "target_context"]),
                         ("_load_overload", ["self", "sig", "target_context"]),
                         ("save_overload", ["self", "sig", "data"]),
                         ("_index_key", ["self", "sig", "codegen"])):
        _expect(_parameters(getattr(FunctionCache, name, None) or (lambda: None)) == params,
                f"FunctionCache.{name}{tuple(params[1:])} changed")
    _expect(FunctionCache._impl_class is CompileResultCacheImpl,
            "FunctionCache no longer uses CompileResultCacheImpl")
    for kind in (CompileResultCacheImpl, CodeLibraryCacheImpl):
        _expect(isinstance(getattr(kind, "_locator_classes", None), list),
                f"{kind.__name__}._locator_classes is not a list")
        for name in ("locator", "filename_base"):
            _expect(isinstance(inspect.getattr_static(kind, name, None), property),
                    f"{kind.__name__}.{name} is not a property")
        _expect(callable(getattr(kind, "rebuild", None)), f"{kind.__name__}.rebuild is gone")
    _expect(_parameters(IndexDataCacheFile.__init__)
            == ["self", "cache_path", "filename_base", "source_stamp"],
            "IndexDataCacheFile(cache_path, filename_base, source_stamp) changed")
    for name, params in (("load", ["self", "key"]), ("save", ["self", "key", "data"]),
                         ("_load_index", ["self"])):
        _expect(_parameters(getattr(IndexDataCacheFile, name, None) or (lambda: None))
                == params, f"IndexDataCacheFile.{name}{tuple(params[1:])} changed")


def probe_dispatcher_cache():
    """``Dispatcher._cache``: what ``cache=True`` sets, a ``FunctionCache``."""
    from numba.core.dispatcher import Dispatcher

    _expect(callable(getattr(Dispatcher, "enable_caching", None)),
            "Dispatcher.enable_caching is gone")
    names = Dispatcher.enable_caching.__code__.co_names
    _expect("_cache" in names and "FunctionCache" in names,
            "Dispatcher.enable_caching no longer sets self._cache to a FunctionCache")


def probe_magic_tuple():
    magic = host_magic_tuple()
    _expect(isinstance(magic, tuple) and len(magic) == 3
            and all(isinstance(part, str) for part in magic),
            f"codegen().magic_tuple() is not (triple, cpu name, features): {magic!r}")


def probe_type_key():
    import numpy as np

    _expect(type_key is not numba.typeof, "numba._dispatcher.compute_fingerprint is gone")
    a, b = np.zeros((2, 3), np.float32), np.zeros((4, 5), np.float32)
    _expect(type_key(a) == type_key(b) != type_key(a.astype(np.float64)),
            "compute_fingerprint no longer keys arrays by dtype and layout alone")


def probe_threading_layer_flag():
    from numba.np.ufunc import parallel

    _expect(isinstance(getattr(parallel, "_is_initialized", None), bool),
            "numba.np.ufunc.parallel._is_initialized is gone")


def probe_block_function():
    """Compile a small kernel, take its C wrapper's address and call it
    through :func:`as_block_function`, as ``fastgru._kernels.launch.run_parallel``
    does (compiles in memory, ~1 s)."""
    import numpy as np

    @numba.njit(cache=False)
    def block(c, n, out, value):
        out[c] = value * (c + 1) + n

    @numba.njit(cache=False)
    def call_blocks(address, n, args):
        fn = as_block_function(address, args)
        for c in range(n):
            fn(np.int64(c), n, *args)

    out = np.zeros(3)
    args = (out, 2.0)
    argtypes = (nb_types.int64, nb_types.int64, *map(numba.typeof, args))
    block.compile(argtypes)
    call_blocks(cfunc_address(block.overloads[argtypes]), 3, args)
    _expect(np.array_equal(out, [5.0, 7.0, 9.0]),
            f"a kernel called through as_block_function wrote {out}, not [5, 7, 9]")


#: Every probe, by the internal it checks. Each raises
#: :class:`NumbaInternalChanged` when Numba changed it.
PROBES = {
    "caching classes": probe_cache_classes,
    "Dispatcher._cache": probe_dispatcher_cache,
    "codegen().magic_tuple()": probe_magic_tuple,
    "_dispatcher.compute_fingerprint": probe_type_key,
    "parallel._is_initialized": probe_threading_layer_flag,
    "C wrapper address and FunctionType": probe_block_function,
}

#: The probes of what fastgru's own cache needs, run at import (~0.1 ms).
CACHE_PROBES = ("caching classes", "Dispatcher._cache")


def cache_internals_ok() -> bool:
    """Run :data:`CACHE_PROBES`; on a failure warn once (naming it) and
    return False: fastgru's kernels then use Numba's public ``cache=True``."""
    for name in CACHE_PROBES:
        try:
            PROBES[name]()
        except Exception as exc:
            logger.warning("fastgru: Numba %s changed an internal that fastgru's kernel "
                           "cache uses (%s: %s); kernels are cached by Numba's own cache "
                           "instead (no prebuilt kernels)", numba.__version__, name, exc)
            return False
    return True
