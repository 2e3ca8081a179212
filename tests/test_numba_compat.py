"""The Numba internals fastgru uses (fastgru._numba_compat): every probe
passes on the Numba under test, so a Numba release that changes one fails
here first; and when a probe fails at run time, the kernels fall back to
Numba's public ``cache=True`` and keep working."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numba
import pytest

from fastgru import _cache, _numba_compat

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", sorted(_numba_compat.PROBES))
def test_probe_passes_on_this_numba(name):
    _numba_compat.PROBES[name]()  # raises NumbaInternalChanged, naming the change


def test_fastgru_uses_its_own_cache_on_this_numba():
    assert _numba_compat.cache_internals_ok()
    assert _cache.INTERNALS_OK


def test_a_changed_internal_fails_its_probe(monkeypatch):
    """The probes can fail: a locator list that is no longer a list."""
    monkeypatch.setattr(_numba_compat.CompileResultCacheImpl, "_locator_classes",
                        tuple(_numba_compat.CompileResultCacheImpl._locator_classes))
    with pytest.raises(_numba_compat.NumbaInternalChanged, match="_locator_classes"):
        _numba_compat.probe_cache_classes()


def test_no_numba_internal_is_used_outside_the_compat_module():
    """``numba.core.caching``, ``numba._dispatcher``, a dispatcher's ``_cache``
    and the C wrapper's address are reached through _numba_compat only."""
    needles = ("import caching", "caching.", "numba._dispatcher", "dispatcher._cache",
               "get_pointer_to_function", "llvm_cfunc_wrapper_name", "_is_initialized",
               ".magic_tuple()", "._locator_classes", "numba.core.compiler_lock")
    for path in sorted((ROOT / "fastgru").rglob("*.py")):
        if path.name == "_numba_compat.py":
            continue
        found = [n for n in needles if n in path.read_text()]
        assert not found, f"{path.relative_to(ROOT)} uses {found}"


def test_kernel_cache_members_fastgru_uses_exist():
    """The members of Numba's FunctionCache that fastgru._cache.KernelCache uses."""
    caches = [c for c in map(_numba_compat.dispatcher_cache, _cache.DISPATCHERS)
              if isinstance(c, _cache.KernelCache)]
    if not caches:
        pytest.skip("the kernel cache is off (FASTGRU_NO_CACHE)")
    cache = caches[0]
    assert isinstance(cache._enabled, bool)
    assert isinstance(cache._impl.filename_base, str)
    assert isinstance(cache._impl.locator, _cache.KernelCacheLocator)
    assert callable(cache._impl.rebuild)


FALLBACK = """
    from numba.core import caching
    # a Numba whose cache internals differ from what fastgru expects
    caching.CompileResultCacheImpl._locator_classes = tuple(
        caching.CompileResultCacheImpl._locator_classes)
    import numpy as np
    import fastgru
    from fastgru import _cache
    layer = fastgru.GRU(3, 8, random_state=0)
    y, h = layer.forward(np.ones((2, 4, 3), np.float32))
    print("ok", _cache.INTERNALS_OK, y.shape, _cache.compile_count())
"""


@pytest.mark.slow
def test_failed_probe_falls_back_to_numbas_public_cache(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FASTGRU_", "NUMBA_"))}
    env.update(PYTHONPATH=str(ROOT), NUMBA_CACHE_DIR=str(tmp_path / "numba"),
               FASTGRU_CACHE_DIR=str(tmp_path / "fastgru"), PYTHONDONTWRITEBYTECODE="1")
    runs = [subprocess.run([sys.executable, "-c", textwrap.dedent(FALLBACK)], env=env,
                           cwd=tmp_path, capture_output=True, text=True, timeout=900)
            for _ in range(2)]
    for out in runs:
        assert out.returncode == 0, out.stderr[-3000:]
        assert "ok False (2, 4, 8)" in out.stdout
    assert "changed an internal" in runs[0].stderr and "_locator_classes" in runs[0].stderr
    assert list((tmp_path / "numba").rglob("*.nbi"))  # Numba's own cache, in its place
    assert not (tmp_path / "fastgru").exists()
    assert int(runs[1].stdout.split()[-1]) == 0  # loaded from it by the second process


def test_numba_is_within_the_tested_range():
    """pyproject.toml bounds numba by the newest release CI tested."""
    import re

    text = (ROOT / "pyproject.toml").read_text()
    low, high = re.search(r'"numba>=([\d.]+),<([\d.]+)"', text).groups()
    version = tuple(int(p) for p in numba.__version__.split(".")[:2])
    assert tuple(map(int, low.split("."))) <= version < tuple(map(int, high.split(".")))
