"""The ``[tbb]`` extra: Numba's TBB threading layer is used when it is
installed, also where pip put the library in a virtual environment's
``lib/`` that the loader does not search (fastgru._runtime.preload_tbb)."""

import importlib.metadata
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def tbb_library():
    """The ``libtbb.so.12`` of the installed ``tbb`` distribution (the extra), or None."""
    try:
        files = importlib.metadata.files("tbb") or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for entry in files:
        if entry.name == "libtbb.so.12":
            return Path(entry.locate()).resolve()
    return None


TBB = tbb_library()
needs_tbb = pytest.mark.skipif(TBB is None, reason="the [tbb] extra is not installed")


def _run(script, env_extra=None):
    env = dict(os.environ)
    env.pop("NUMBA_THREADING_LAYER", None)
    env["PYTHONPATH"] = str(ROOT)
    env.update(env_extra or {})
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


@needs_tbb
def test_threading_layer_is_tbb_with_the_extra():
    out = _run("from fastgru.__main__ import main; main(['info'])")
    assert "threading layer: tbb" in out, out


@needs_tbb
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/maps")
def test_tbb_is_loaded_from_a_virtual_environment_prefix(tmp_path):
    """A venv keeps the extra's library in ``<venv>/lib``: fastgru loads it
    from there (not another copy on the loader's path) and Numba runs on it."""
    lib = tmp_path / "venv" / "lib"
    lib.mkdir(parents=True)
    shutil.copy(TBB, lib / "libtbb.so.12")
    out = _run(f"""
        import sys
        sys.prefix = sys.exec_prefix = {str(tmp_path / "venv")!r}
        import fastgru, numba
        from fastgru.__main__ import _threading_layer
        print("preloaded", fastgru._runtime.TBB_PRELOADED)
        print("layer", _threading_layer())
        print("maps", sorted({{line.split()[-1] for line in open("/proc/self/maps")
                              if "libtbb.so" in line}}))
    """)
    assert f"preloaded {lib / 'libtbb.so.12'}" in out
    assert "layer tbb" in out
    assert f"maps ['{lib / 'libtbb.so.12'}']" in out, out


def test_preload_does_nothing_once_a_layer_started():
    out = _run("""
        import numba, numpy as np
        @numba.njit(parallel=True)
        def total(a):
            s = 0.0
            for i in numba.prange(a.size):
                s += a[i]
            return s
        total(np.ones(4))
        from fastgru import _runtime
        print("again", _runtime.preload_tbb())
    """)
    assert "again None" in out


def test_preload_without_any_library(tmp_path):
    out = _run(f"""
        import sys
        sys.prefix = sys.exec_prefix = {str(tmp_path)!r}
        import site
        site.getuserbase = lambda: {str(tmp_path)!r}
        from fastgru import _runtime
        print("preloaded", _runtime.TBB_PRELOADED)
    """)
    assert "preloaded None" in out
