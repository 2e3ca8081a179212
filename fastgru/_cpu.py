"""The CPU features Numba compiles for, and the x86-64 levels whose code runs here.

Used by :mod:`fastgru._cache` (which portable entries may load) and
:mod:`fastgru._config` (the product kernel's SIMD width).
"""

from __future__ import annotations

import functools

import numba

_V2 = ("cx16", "popcnt", "sse4.2", "ssse3")
_V3 = _V2 + ("avx", "avx2", "bmi", "bmi2", "f16c", "fma", "lzcnt", "movbe", "xsave")
#: x86-64 micro-architecture levels that ``python -m fastgru warmup --portable``
#: compiles for, with the CPU features (LLVM's names) a machine needs to run
#: their code. Best level first.
PORTABLE_LEVELS = {
    "x86-64-v4": _V3 + ("avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"),
    "x86-64-v3": _V3,
    "x86-64-v2": _V2,
}


def target_cpu_features(host=None, override=None) -> dict:
    """The CPU features Numba compiles for, ``{name: bool}`` in LLVM's names:
    the host's (``host``, by default LLVM's query), changed by the ``+f`` and
    ``-f`` entries of ``NUMBA_CPU_FEATURES`` (``override``, by default
    Numba's setting), as LLVM applies them to the host CPU's defaults."""
    if host is None:
        import llvmlite.binding as llvm

        host = llvm.get_host_cpu_features()
    features = {name: bool(on) for name, on in dict(host).items()}
    if override is None:
        override = numba.config.CPU_FEATURES or ""
    for entry in override.split(","):
        entry = entry.strip()
        if entry[:1] in ("+", "-") and entry[1:]:
            features[entry[1:]] = entry[0] == "+"
    return features


@functools.cache
def runnable_levels() -> tuple:
    """The portable levels whose code this machine can run, best first: the
    CPU features Numba targets (:func:`target_cpu_features`, honouring
    ``NUMBA_CPU_FEATURES``) include the level's; none when the user pinned
    Numba's target CPU with ``NUMBA_CPU_NAME``."""
    if numba.config.CPU_NAME:
        return ()
    try:
        features = target_cpu_features()
    except Exception:  # pragma: no cover - no host feature query
        return ()
    return tuple(level for level, needs in PORTABLE_LEVELS.items()
                 if all(features.get(f) for f in needs))


def portable_key(key, index):
    """The best entry of ``index`` built for a portable level this machine
    runs, for the signature and code of ``key`` (a cache index key whose CPU
    is the host's), or None."""
    (sig, (triple, _, _), code) = key
    found = {}
    for other in index:
        osig, magic, ocode = other
        if (osig == sig and ocode == code and magic[0] == triple and magic[2] == ""
                and magic[1] in PORTABLE_LEVELS):
            found[magic[1]] = other
    for level in runnable_levels():
        if level in found:
            return found[level]
    return None
