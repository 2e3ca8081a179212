"""The wheel that ``pip install .`` builds carries compiled kernels
(``setup.py``): a fresh process on an install of it, with an empty user cache
and another working directory, compiles nothing for the layer's forward,
training and streaming paths, the estimators, the demo, float64 and
variable lengths.

The wheel is built once for the module, as pip builds it (``bench/wheel.py``),
which compiles every kernel (1-2 minutes on 2 cores).
"""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bench.wheel import installed_wheel

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]

USE = textwrap.dedent("""
    import time
    start = time.perf_counter()
    import numpy as np
    import fastgru
    from fastgru import _cache

    x = np.random.default_rng(0).normal(size=(8, 20, 3)).astype(np.float32)
    fastgru.GRU(3, 16, random_state=0).forward(x)
    print("first forward", round(time.perf_counter() - start, 2), "s")
    layer = fastgru.GRU(3, 16, num_layers=2, bidirectional=True, random_state=0)
    y, _ = layer.forward(x, training=True)
    layer.backward(np.ones_like(y))
    fastgru.GRU(3, 16, random_state=0).step(x[:, 0])
    fastgru.GRU(3, 8, dtype="float64", random_state=0).forward(x[:2], lengths=[5, 20])
    target = x[:, -1, 0]
    fastgru.GRURegressor(max_epochs=2, random_state=0).fit(x, target).predict(x)
    fastgru.GRUClassifier(max_epochs=2, random_state=0, dtype="float64",
                          optimizer="sgd").fit(x, target > 0).predict(x)
    import contextlib, io
    from fastgru._demo import run
    with contextlib.redirect_stdout(io.StringIO()):
        run("airline", epochs=2)  # the README's demo
    print("all", round(time.perf_counter() - start, 2), "s")
    print("file", fastgru.__file__)
    print("compiles", _cache.compile_count())
""")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return installed_wheel(tmp_path_factory.mktemp("wheel"))


def _run(site, cache_dir, cwd):
    env = {k: v for k, v in os.environ.items()
           if k not in ("NUMBA_CACHE_DIR", "FASTGRU_NO_CACHE", "FASTGRU_PORTABLE")}
    env.update(FASTGRU_CACHE_DIR=str(cache_dir), PYTHONPATH=str(site))
    out = subprocess.run([sys.executable, "-c", USE], env=env, capture_output=True, text=True,
                         timeout=900, cwd=cwd)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def test_installed_wheel_compiles_nothing(site, tmp_path):
    assert any((site / "fastgru" / "_prebuilt").rglob("*.nbi")), "the wheel has no kernels"
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    out = _run(site, tmp_path / "empty-cache", cwd)
    print(out)  # the start times (printed, not asserted)
    assert f"file {site / 'fastgru' / '__init__.py'}" in out  # the wheel's copy ran
    assert "compiles 0" in out.splitlines()[-1], out
    # nothing needed compiling, so nothing was written to the user's cache
    assert not (tmp_path / "empty-cache").exists()


def test_wheel_without_kernels_still_works(tmp_path):
    """``FASTGRU_PREBUILD=0`` builds a wheel without kernels, which compiles
    on first use as before."""
    site = installed_wheel(tmp_path / "wheel", prebuild="0")
    assert not (site / "fastgru" / "_prebuilt").exists()
    env = {**os.environ, "FASTGRU_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": str(site)}
    code = ("import numpy as np, fastgru; from fastgru import _cache\n"
            "fastgru.GRU(2, 4, random_state=0).forward(np.zeros((1, 3, 2), np.float32))\n"
            "print(_cache.compile_count())")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=900, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert int(out.stdout.split()[-1]) > 0


def test_checkout_run_in_place_loads_the_installed_kernels(site, tmp_path):
    """The README's `pip install . && python -m fastgru demo`, run inside the
    checkout: Python imports the checkout's fastgru (the working directory
    comes first on sys.path), which loads the installed wheel's kernels, of
    the same source, instead of compiling them."""
    out = _run(site, tmp_path / "empty-cache", ROOT)
    assert f"file {ROOT / 'fastgru' / '__init__.py'}" in out  # the checkout's copy ran
    assert "compiles 0" in out.splitlines()[-1], out
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NUMBA_", "FASTGRU_"))}
    env.update(FASTGRU_CACHE_DIR=str(tmp_path / "empty-cache"), PYTHONPATH=str(site))
    info = subprocess.run([sys.executable, "-m", "fastgru", "info"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert "compiled into the installed package" in info.stdout, info.stdout + info.stderr
