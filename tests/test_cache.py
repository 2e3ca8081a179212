"""The kernel cache: where it lives, how it is keyed, a baked cache loaded with
zero compilation, read-only directories and other CPUs (fastgru._cache)."""

import logging
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numba
import pytest
from _helpers import PRODUCT

import fastgru
from fastgru import _cache, _config

ROOT = Path(__file__).resolve().parents[1]


def _run(script, env_extra=None, cwd=None, package_parent=ROOT, timeout=900):
    """Run ``script`` in a fresh interpreter that imports fastgru from
    ``package_parent``; returns the completed process (checked)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("FASTGRU_CACHE_DIR", "NUMBA_CACHE_DIR", "FASTGRU_NO_CACHE")}
    env["PYTHONPATH"] = str(package_parent)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(env_extra or {})
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], env=env,
                         cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stderr[-3000:]
    return out


def _copy_package(dest: Path) -> Path:
    """A copy of the package (new mtimes, another absolute path), as another
    install of the same version would be."""
    shutil.copytree(ROOT / "fastgru", dest / "fastgru", copy_function=shutil.copy,
                    ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def _files(path: Path):
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


# ------------------------------------------------------------------ location
def test_cache_root_precedence(monkeypatch, tmp_path):
    monkeypatch.delenv("FASTGRU_CACHE_DIR", raising=False)
    monkeypatch.setattr(numba.config, "CACHE_DIR", "")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    if sys.platform.startswith("linux"):
        assert _cache.default_cache_root() == tmp_path / "xdg" / "fastgru"
        monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
        assert _cache.default_cache_root() == Path.home() / ".cache" / "fastgru"
    monkeypatch.setattr(numba.config, "CACHE_DIR", str(tmp_path / "numba"))
    assert _cache.default_cache_root() == tmp_path / "numba" / "fastgru"
    monkeypatch.setenv("FASTGRU_CACHE_DIR", str(tmp_path / "own"))
    assert _cache.default_cache_root() == tmp_path / "own"


@pytest.mark.skipif(not _config.CACHE, reason="FASTGRU_NO_CACHE is set")
def test_every_kernel_is_cached_outside_the_package():
    assert len(_cache.DISPATCHERS) > 10
    kernel_dir = _cache.kernel_cache_dir()
    assert kernel_dir.parts[-2:] == (fastgru.__version__, _cache.source_tag())
    for dispatcher in _cache.DISPATCHERS:
        if not dispatcher.py_func.__module__.startswith("fastgru"):
            continue  # a test's own kernel (tests/test_activations.py) has no place here
        assert isinstance(dispatcher._cache, _cache.KernelCache), dispatcher
        path = Path(dispatcher._cache.cache_path)
        assert path.is_relative_to(kernel_dir)
        assert not path.resolve().is_relative_to(_cache.PACKAGE_DIR)


def test_source_tag_ignores_path_and_mtime_but_not_kernel_source(tmp_path):
    tag = _cache.compute_source_tag()
    copy = _copy_package(tmp_path / "a") / "fastgru"
    os.utime(copy / "_activations.py", (1, 1))
    assert _cache.compute_source_tag(copy) == tag
    (copy / "layer.py").write_text((copy / "layer.py").read_text() + "\n# edited\n")
    assert _cache.compute_source_tag(copy) == tag  # not kernel source
    activations = copy / "_activations.py"
    activations.write_text(activations.read_text() + "\n# edited\n")
    assert _cache.compute_source_tag(copy) != tag  # kernels inline it


# ------------------------------------------- a baked cache, cold compile time
COLD = """
    import time
    start = time.perf_counter()
    cpu_start = time.process_time()
    import numpy as np
    import fastgru
    from fastgru import _cache
    layer = fastgru.GRU(8, 64, random_state=0)
    layer.forward(np.zeros((1, 10, 8), np.float32))
    print(f"first forward: {time.perf_counter() - start:.1f} s "
          f"(cpu {time.process_time() - cpu_start:.1f} s), "
          f"{_cache.compile_count()} compiles", flush=True)
    seconds = fastgru.warmup(cache_dir=BAKE)
    print(f"warmup: {seconds:.1f} s", flush=True)
    print("compiles", _cache.compile_count())
"""

WARM = """
    import numba.core.event as ev
    with ev.install_recorder("numba:compile") as recorder:
        import numpy as np
        import fastgru
        from fastgru import _cache
        layer = fastgru.GRU(8, 64, random_state=0)
        layer.forward(np.zeros((1, 10, 8), np.float32))
        fastgru.warmup()
    misses = sum(len(d.stats.cache_misses) for d in _cache.DISPATCHERS)
    hits = sum(sum(d.stats.cache_hits.values()) for d in _cache.DISPATCHERS)
    print("events", len(recorder.buffer), "misses", misses, "hits", hits,
          "compiles", _cache.compile_count())
    print("dir", _cache.kernel_cache_dir())
"""


@pytest.fixture(scope="module")
def baked(tmp_path_factory):
    """An install at one path compiles from an empty cache (the time is
    printed, never asserted) and bakes a cache directory."""
    base = tmp_path_factory.mktemp("bake")
    install = _copy_package(base / "install_a")
    before = _files(install)
    scratch, bake = base / "scratch", base / "baked"
    out = _run(COLD.replace("BAKE", repr(str(bake))), {"FASTGRU_CACHE_DIR": str(scratch)},
               cwd=base, package_parent=install)
    print("\n" + out.stdout.strip())
    return {"base": base, "bake": bake, "stdout": out.stdout, "stderr": out.stderr,
            "install": install, "before": before}


@pytest.mark.slow
def test_empty_cache_compiles_and_leaves_the_package_untouched(baked):
    assert "first forward:" in baked["stdout"]
    compiles = int(baked["stdout"].split("compiles")[-1])
    assert compiles > 0
    # the first-compile notice, once, on stderr
    assert baked["stderr"].count("fastgru: compiling kernels") == 1
    # nothing written beside the source: uninstalling leaves no files behind
    assert _files(baked["install"]) == baked["before"]
    assert not list(baked["install"].rglob("*.nb[ic]"))
    assert list(baked["bake"].rglob("*.nbi")) and list(baked["bake"].rglob("*.nbc"))


@pytest.mark.slow
def test_baked_cache_loads_with_zero_compiles_elsewhere(baked, tmp_path):
    """Another install path (new mtimes), another working directory: nothing
    compiles, every kernel comes from the baked cache, and no notice."""
    install_b = _copy_package(tmp_path / "install_b")
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    out = _run(WARM, {"FASTGRU_CACHE_DIR": str(baked["bake"])}, cwd=cwd,
               package_parent=install_b)
    line = out.stdout.splitlines()[0].split()
    counts = dict(zip(line[::2], map(int, line[1::2])))
    assert counts["events"] == 0 and counts["misses"] == 0 and counts["compiles"] == 0, out.stdout
    assert counts["hits"] > 0
    assert "fastgru: compiling" not in out.stderr
    assert str(baked["bake"]) in out.stdout


@pytest.mark.slow
def test_cli_warmup_on_a_baked_cache_compiles_nothing(baked, tmp_path):
    out = _run("import sys; from fastgru.__main__ import main; "
               f"sys.exit(main(['warmup', '--cache-dir', {str(baked['bake'])!r}]))",
               cwd=tmp_path)
    assert "fastgru warmup: 0 kernel compiles" in out.stdout, out.stdout
    info = _run("from fastgru.__main__ import main; main(['info'])",
                {"FASTGRU_CACHE_DIR": str(baked["bake"])}, cwd=tmp_path)
    assert f"kernel cache: {baked['bake']}" in info.stdout
    assert "threading layer:" in info.stdout


# ---------------------------------------------- read-only cache, another CPU


@pytest.mark.slow
def test_unwritable_cache_dir_compiles_in_memory(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    out = _run(PRODUCT, {"FASTGRU_CACHE_DIR": str(blocker / "cache")}, cwd=tmp_path)
    assert "close True" in out.stdout
    assert "compiles 0" not in out.stdout


@pytest.mark.slow
def test_another_cpu_compiles_instead_of_loading(tmp_path):
    """Entries are keyed on the CPU: a process targeting another CPU model
    misses, compiles (correctly) and adds its entry; the host's stays."""
    env = {"FASTGRU_CACHE_DIR": str(tmp_path / "cache")}
    first = _run(PRODUCT, env, cwd=tmp_path)
    assert "close True" in first.stdout and "compiles 0" not in first.stdout
    other = _run(PRODUCT, {**env, "NUMBA_CPU_NAME": "generic"}, cwd=tmp_path)
    assert "close True" in other.stdout and "compiles 0" not in other.stdout
    again = _run(PRODUCT, env, cwd=tmp_path)
    assert "close True compiles 0" in again.stdout


def test_warmup_checks_its_arguments(tmp_path):
    with pytest.raises(TypeError, match="training"):
        fastgru.warmup(training="yes")
    with pytest.raises(ValueError, match="dtype"):
        fastgru.warmup(dtypes=("float16",))
    with pytest.raises(TypeError, match="cache_dir"):
        fastgru.warmup(cache_dir=3)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(OSError):
        fastgru.warmup(cache_dir=blocker / "cache")


def test_warmup_announces_compiling_without_telling_to_run_warmup(monkeypatch, caplog):
    """The first compile inside warmup logs that it compiles and where the
    kernels go, not the hint to compile ahead with warmup (it is that)."""
    from fastgru import _warmup

    seen = []
    monkeypatch.setattr(_warmup, "_run_every_path",
                        lambda dtypes, training: seen.append(_cache._notice))
    fastgru.warmup()
    assert len(seen) == 1 and seen[0] is not None  # the warmup's own notice
    with caplog.at_level(logging.WARNING, logger="fastgru"):
        seen[0]()
    text = caplog.text
    assert "fastgru: compiling kernels for this CPU (about 10-30 s" in text
    assert "compile ahead" not in text and "python -m fastgru warmup" not in text
    assert _cache._notice is None  # outside warmup, the usual notice again
    assert "python -m fastgru warmup" in _cache.notice_text()


# ------------------------------------------------------------------ the demo
def test_demo_says_it_compiles_only_when_it_does(capsys, monkeypatch):
    """Announced before training starts and in the closing line when the run
    compiled; a second (warm) run says neither."""
    from fastgru._demo import run

    monkeypatch.setattr(_cache, "_noticed", False)  # as in a fresh process
    before = _cache.compile_count()
    run("airline", epochs=2)
    first = capsys.readouterr().out
    if _cache.compile_count() > before:
        assert first.index("Compiling fastgru's kernels") < first.index("epoch 1")
        assert "(includes compiling the kernels)" in first
    else:
        assert "Compiling" not in first and "includes compiling" not in first
    monkeypatch.setattr(_cache, "_noticed", False)
    before = _cache.compile_count()
    run("airline", epochs=2)
    second = capsys.readouterr().out
    assert _cache.compile_count() == before
    assert "Compiling" not in second and "includes compiling" not in second
    # two epochs, and those on the held-out end
    epochs = 2 + fastgru.forecasting.FINAL_EPOCHS
    assert second.rstrip().splitlines()[-1].startswith(f"training: {epochs} epochs in")


# ------------------------------------------- portable levels, prebuilt cache
PORTABLE = {"NUMBA_CPU_NAME": "x86-64-v2", "NUMBA_CPU_FEATURES": ""}
needs_v2 = pytest.mark.skipif("x86-64-v2" not in _cache.runnable_levels(),
                              reason="not an x86-64 CPU with the x86-64-v2 features")


@needs_v2
@pytest.mark.slow
def test_portable_entries_load_on_a_cpu_that_runs_them(tmp_path):
    env = {"FASTGRU_CACHE_DIR": str(tmp_path / "cache")}
    built = _run(PRODUCT, {**env, **PORTABLE}, cwd=tmp_path)
    assert "close True" in built.stdout and "compiles 0" not in built.stdout
    loaded = _run(PRODUCT, env, cwd=tmp_path)
    assert "close True compiles 0" in loaded.stdout
    # FASTGRU_PORTABLE=0 (what warmup does in-process) compiles for this CPU
    native = _run(PRODUCT, {**env, "FASTGRU_PORTABLE": "0"}, cwd=tmp_path)
    assert "close True" in native.stdout and "compiles 0" not in native.stdout
    # a process pinned to another target does not take them
    pinned = _run(PRODUCT, {**env, "NUMBA_CPU_NAME": "generic"}, cwd=tmp_path)
    assert "close True" in pinned.stdout and "compiles 0" not in pinned.stdout


@needs_v2
@pytest.mark.slow
def test_prebuilt_cache_inside_the_package_is_read_not_written(tmp_path):
    """A wheel can ship portable entries in ``fastgru/_prebuilt``: an empty
    user cache then compiles nothing, and nothing is written in the package."""
    install = _copy_package(tmp_path / "install")
    prebuilt = install / "fastgru" / "_prebuilt"
    built = _run(PRODUCT, {"FASTGRU_CACHE_DIR": str(prebuilt), **PORTABLE}, cwd=tmp_path,
                 package_parent=install)
    assert "compiles 0" not in built.stdout
    shipped = _files(install)
    user = tmp_path / "user-cache"
    loaded = _run(PRODUCT, {"FASTGRU_CACHE_DIR": str(user)}, cwd=tmp_path,
                  package_parent=install)
    assert "close True compiles 0" in loaded.stdout
    assert _files(install) == shipped
    assert not list(user.rglob("*.nb[ic]"))


def test_parallel_and_serial_calls_share_one_compile(tmp_path):
    """A block kernel launched in parallel and the same kernel called
    directly (one block, one thread) are one compile and one cache entry: a
    second process making the serial call after the first made the parallel
    one compiles nothing. (Numba 0.68's ``get_compile_result`` keys on the
    signature with its return type: the serial call missed the entry and the
    prebuilt wheel compiled again in its first fit.)"""
    script = """
        import numpy as np
        from fastgru import _cache, _engine
        from fastgru._kernels.large_products import project_block
        from fastgru._kernels.products import gemm_nn, product_address
        a, W, out = np.zeros((4, 3)), np.zeros((6, 3)), np.zeros((4, 6))
        args = (a, W, np.ascontiguousarray(W.T), 0, np.zeros(6), np.zeros(0), out,
                product_address(gemm_nn, np.float64))
        if {parallel}:
            _engine.block_kernel_address(project_block, args)
        else:
            project_block(0, 1, *args)
        print(_cache.compile_count())
    """
    env = {"FASTGRU_CACHE_DIR": str(tmp_path / "cache")}
    first = _run(script.format(parallel=True), env)
    assert int(first.stdout.split()[-1]) > 0
    second = _run(script.format(parallel=False), env)
    assert int(second.stdout.split()[-1]) == 0
