"""The kernel cache when its files or its place cannot be trusted: corrupt
entries recompile, ``NUMBA_CPU_FEATURES`` decides which portable entries
load, a relative, world-writable or foreign-owned directory is never used,
and the ``FASTGRU_*`` switches parse alike (fastgru._cache, _cache_dir, _env).

Each case that could crash or hang runs in a fresh interpreter with a
timeout and its own cache directory.
"""

import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from _helpers import PRODUCT

from fastgru import _cache, _cache_dir, _env

ROOT = Path(__file__).resolve().parents[1]



def _run(script, env_extra=None, cwd=None, check=True, user=None, drop=()):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("FASTGRU_", "NUMBA_")) and k not in drop}
    env["PYTHONPATH"] = str(ROOT)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(env_extra or {})
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], env=env, cwd=cwd,
                         capture_output=True, text=True, timeout=300, user=user)
    if check:
        assert out.returncode == 0, out.stderr[-3000:]
    return out


def _compiles(out) -> int:
    assert "close True" in out.stdout, out.stdout + out.stderr[-2000:]
    return int(out.stdout.split()[-1])


# ------------------------------------------------------------ corrupt entries
def _empty(path):
    path.write_bytes(b"")


def _truncated(path):
    path.write_bytes(path.read_bytes()[: max(1, path.stat().st_size // 2)])


def _garbage(path):
    path.write_bytes(b"\x80\x04not a pickle at all" * 3)


@pytest.mark.parametrize("damage,files", [
    (_garbage, "*.nbi"),
    pytest.param(_empty, "*.nbi", marks=pytest.mark.slow),
    pytest.param(_truncated, "*.nbi", marks=pytest.mark.slow),
    pytest.param(_garbage, "*.nbc", marks=pytest.mark.slow),
], ids=["garbage-index", "empty-index", "truncated-index", "garbage-data"])
def test_corrupt_cache_entries_recompile_and_are_rewritten(tmp_path, damage, files):
    env = {"FASTGRU_CACHE_DIR": str(tmp_path / "cache")}
    assert _compiles(_run(PRODUCT, env, cwd=tmp_path)) > 0
    damaged = list((tmp_path / "cache").rglob(files))
    assert damaged
    for path in damaged:
        damage(path)
    again = _run(PRODUCT, env, cwd=tmp_path)  # a clean recompile, never an error
    assert _compiles(again) > 0
    assert "Error" not in again.stderr, again.stderr[-2000:]
    assert _compiles(_run(PRODUCT, env, cwd=tmp_path)) == 0  # the entries were rewritten


def test_corrupt_index_in_a_read_only_cache_compiles_in_memory(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root writes read-only directories")
    cache = tmp_path / "cache"
    env = {"FASTGRU_CACHE_DIR": str(cache)}
    _run(PRODUCT, env, cwd=tmp_path)
    for path in cache.rglob("*.nbi"):
        _garbage(path)
    for path in sorted(cache.rglob("*"), reverse=True):
        path.chmod(0o500 if path.is_dir() else 0o400)
    try:
        out = _run(PRODUCT, env, cwd=tmp_path)
    finally:
        for path in cache.rglob("*"):
            path.chmod(0o700)
    assert _compiles(out) > 0
    assert "cannot write the kernel cache" in out.stderr


# ------------------------------------------------------- NUMBA_CPU_FEATURES
def test_target_features_apply_numba_cpu_features_to_the_host():
    host = {"avx2": True, "fma": True, "sse4.2": True, "avx512f": False}
    features = _cache.target_cpu_features(host, " -avx2,-fma ,+avx512f,junk,")
    assert features == {"avx2": False, "fma": False, "sse4.2": True, "avx512f": True}
    assert _cache.target_cpu_features(host, "") == host


LEVELS = "from fastgru import _cache; print(*_cache.runnable_levels())"


def test_runnable_levels_honour_numba_cpu_features():
    host = _run(LEVELS).stdout.split()
    if "x86-64-v3" not in host:
        pytest.skip("not an x86-64 CPU with the x86-64-v3 features")
    pinned = _run(LEVELS, {"NUMBA_CPU_FEATURES": "-avx2,-fma"}).stdout.split()
    assert "x86-64-v3" not in pinned and "x86-64-v4" not in pinned
    assert "x86-64-v2" in pinned


@pytest.mark.slow
def test_portable_entries_need_the_features_numba_targets(tmp_path):
    """Entries compiled for x86-64-v3 are not loaded when NUMBA_CPU_FEATURES
    removes AVX2 and FMA: the process compiles for what it targets."""
    if "x86-64-v3" not in _cache.runnable_levels():
        pytest.skip("not an x86-64 CPU with the x86-64-v3 features")
    env = {"FASTGRU_CACHE_DIR": str(tmp_path / "cache")}
    built = _run(PRODUCT, {**env, "NUMBA_CPU_NAME": "x86-64-v3", "NUMBA_CPU_FEATURES": ""})
    assert _compiles(built) > 0
    assert _compiles(_run(PRODUCT, env)) == 0  # the host runs v3: loaded
    assert _compiles(_run(PRODUCT, {**env, "NUMBA_CPU_FEATURES": "-avx2,-fma"})) > 0


# ----------------------------------------------------------- cache location
def test_unknown_home_gives_no_cache_directory(monkeypatch, caplog):
    """``HOME`` unset and no passwd entry: ``~`` stays relative, and a cache
    there would be below the working directory."""
    monkeypatch.delenv("FASTGRU_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setattr(_cache_dir.numba.config, "CACHE_DIR", "")
    monkeypatch.setattr(os.path, "expanduser", lambda path: path)
    if sys.platform == "win32":
        pytest.skip("LOCALAPPDATA decides on Windows")
    assert _cache_dir.user_cache_dir() is None
    assert _cache_dir.default_cache_root() is None
    with caplog.at_level(logging.WARNING, logger="fastgru"):
        _cache_dir._warn_no_disk_cache.cache_clear()
        root = _cache_dir.CacheRoot(None)
    assert root.refused and not root.usable(create=True)
    assert "no kernel cache on disk" in caplog.text


def test_a_root_made_by_someone_else_after_the_check_is_refused(tmp_path, caplog):
    """Absent when the process starts, then made writable by others before
    the first entry is read: refused then."""
    root = _cache_dir.CacheRoot(tmp_path / "fastgru")
    assert not root.refused and not root.usable(create=False)  # nothing to read yet
    (tmp_path / "fastgru").mkdir()
    (tmp_path / "fastgru").chmod(0o777)
    with caplog.at_level(logging.WARNING, logger="fastgru"):
        assert not root.usable(create=False) and root.refused


def test_a_missing_root_is_made_private(tmp_path):
    root = _cache_dir.CacheRoot(tmp_path / "made" / "fastgru")
    assert root.usable(create=True)
    assert (tmp_path / "made" / "fastgru").stat().st_mode & 0o777 == 0o700


def test_relative_cache_dir_is_refused(monkeypatch):
    monkeypatch.setenv("FASTGRU_CACHE_DIR", "relative/cache")
    assert _cache_dir.default_cache_root() is None
    assert "relative" in _cache_dir.unsafe_reason(Path("relative/cache"))


@pytest.mark.skipif(os.name != "posix", reason="POSIX owners and modes")
def test_unsafe_directories_are_named(tmp_path):
    assert _cache_dir.unsafe_reason(tmp_path / "absent") is None
    own = tmp_path / "own"
    own.mkdir()
    own.chmod(0o755)
    assert _cache_dir.unsafe_reason(own) is None
    (own / "0.1.0").mkdir()
    (own / "0.1.0").chmod(0o777)
    assert "writable by other users" in _cache_dir.unsafe_reason(own, ("0.1.0", "tag"))
    own.chmod(0o700)  # no one else can enter it: what is below is private
    assert _cache_dir.unsafe_reason(own, ("0.1.0", "tag")) is None
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    assert "writable by other users" in _cache_dir.unsafe_reason(shared)
    assert "writable by every user" in _cache_dir.unsafe_reason(shared / "fastgru")
    shared.chmod(0o1777)  # sticky, as /tmp: others cannot replace what is ours
    assert _cache_dir.unsafe_reason(shared / "fastgru") is None


@pytest.mark.skipif(os.name != "posix", reason="POSIX owners and modes")
def test_world_writable_cache_dir_is_not_used(tmp_path):
    shared = tmp_path / "numba-cache"
    (shared / "fastgru").mkdir(parents=True)
    (shared / "fastgru").chmod(0o777)
    out = _run(PRODUCT, {"NUMBA_CACHE_DIR": str(shared)}, cwd=tmp_path)
    assert _compiles(out) > 0
    assert "no kernel cache on disk" in out.stderr and "writable by other" in out.stderr
    assert out.stderr.count("no kernel cache on disk") == 1
    assert not list((shared / "fastgru").rglob("*"))  # nothing written there


needs_root = pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                                reason="changes owners: needs root")
STRANGER = 54321  # a uid with no passwd entry


@needs_root
@pytest.mark.slow
def test_foreign_owned_cache_dir_is_not_used(tmp_path):
    (tmp_path / "fastgru").mkdir()
    os.chown(tmp_path / "fastgru", STRANGER, STRANGER)
    assert "owned by another user" in _cache_dir.unsafe_reason(tmp_path / "fastgru")
    out = _run(PRODUCT, {"NUMBA_CACHE_DIR": str(tmp_path)}, cwd=tmp_path)
    assert _compiles(out) > 0 and "owned by another user" in out.stderr
    assert not list((tmp_path / "fastgru").rglob("*"))


NO_PASSWD_ENTRY = """
    import pwd

    def getpwuid(uid):  # as for a uid that /etc/passwd does not list
        raise KeyError(f"getpwuid(): uid not found: {uid}")

    pwd.getpwuid = getpwuid
"""


@pytest.mark.skipif(os.name != "posix", reason="HOME and passwd")
def test_no_home_and_no_passwd_entry_writes_nothing_below_the_working_directory(tmp_path):
    """The container case: an arbitrary ``--user`` without HOME. The cache
    would be ``./~/.cache/fastgru``, where whoever can write the working
    directory could plant an index file."""
    out = _run(NO_PASSWD_ENTRY + PRODUCT, cwd=tmp_path, drop=("HOME", "XDG_CACHE_HOME"))
    assert _compiles(out) > 0
    assert "no kernel cache on disk" in out.stderr
    assert not os.listdir(tmp_path)


# ------------------------------------------------------------- env switches
@pytest.mark.parametrize("value,expected", [
    ("1", True), ("true", True), ("True", True), (" YES ", True), ("on", True),
    ("0", False), ("false", False), ("FALSE", False), ("no", False), ("Off", False),
    ("", None), (None, None),
])
def test_one_parser_for_boolean_switches(value, expected):
    for default in (True, False):
        want = default if expected is None else expected
        assert _env.parse_flag(value, default, "FASTGRU_X") is want


def test_an_unknown_switch_value_keeps_the_default_and_says_so(caplog):
    with caplog.at_level(logging.WARNING, logger="fastgru"):
        assert _env.parse_flag("maybe", True, "FASTGRU_X") is True
    assert "FASTGRU_X='maybe'" in caplog.text


SWITCHES = """
    import fastgru
    from fastgru import _cache, _config, _engine
    print(_config.CACHE, _cache._use_portable, _engine.WORKSPACE_KEEP_BYTES)
"""


@pytest.mark.parametrize("env,expected", [
    ({"FASTGRU_NO_CACHE": "yes", "FASTGRU_PORTABLE": "off"}, ["False", "False", str(128 << 20)]),
    ({"FASTGRU_NO_CACHE": "FALSE", "FASTGRU_PORTABLE": "No",
      "FASTGRU_WORKSPACE_KEEP_MB": "inf"}, ["True", "False", str(2**62)]),
    ({"FASTGRU_NO_CACHE": "On", "FASTGRU_WORKSPACE_KEEP_MB": "0.5"},
     ["False", "True", str(1 << 19)]),
])
def test_switches_read_alike_and_inf_keeps_everything(env, expected):
    out = _run(SWITCHES, env)
    assert out.stdout.split() == expected


@pytest.mark.parametrize("value", ["nan", "-1", "-inf", "lots"])
def test_a_bad_workspace_size_keeps_the_default(value):
    out = _run(SWITCHES, {"FASTGRU_WORKSPACE_KEEP_MB": value})
    assert out.stdout.split()[-1] == str(128 << 20)
    assert "FASTGRU_WORKSPACE_KEEP_MB" in out.stderr


def test_importing_writes_nothing(tmp_path):
    _run("import fastgru; fastgru.GRU(2, 3)", {"FASTGRU_CACHE_DIR": str(tmp_path / "cache")})
    assert not (tmp_path / "cache").exists()
