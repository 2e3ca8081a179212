"""fastgru.save's files: mode, symlinks, temporaries."""

import os
import subprocess
import sys

import numpy as np
import pytest

import fastgru

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


@pytest.fixture
def layer():
    return fastgru.GRU(2, 3, random_state=0)


@pytest.fixture
def umask():
    old = os.umask(0o027)
    yield 0o027
    os.umask(old)


def test_new_file_respects_the_umask(tmp_path, layer, umask):
    path = tmp_path / "m.npz"
    fastgru.save(layer, path)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask
    np.save(tmp_path / "ref.npy", np.ones(1))  # as numpy itself gives
    assert os.stat(path).st_mode & 0o777 == os.stat(tmp_path / "ref.npy").st_mode & 0o777


def test_existing_file_keeps_its_mode(tmp_path, layer, umask):
    path = tmp_path / "m.npz"
    fastgru.save(layer, path)
    os.chmod(path, 0o604)
    fastgru.save(layer, path)
    assert os.stat(path).st_mode & 0o777 == 0o604


def test_symlink_is_written_through(tmp_path, layer):
    target = tmp_path / "real" / "m.npz"
    target.parent.mkdir()
    link = tmp_path / "m.npz"
    link.symlink_to(target)
    fastgru.save(layer, link)
    assert link.is_symlink() and target.is_file()
    again = fastgru.load(link)
    np.testing.assert_array_equal(again.params["weight_hh_l0"], layer.params["weight_hh_l0"])
    assert sorted(os.listdir(target.parent)) == ["m.npz"]


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_temporaries_of_dead_saves_are_removed(tmp_path, layer):
    path = tmp_path / "m.npz"
    dead = tmp_path / f".m.npz.fastgru-tmp-{_dead_pid()}-0123abcd"
    dead.write_bytes(b"x" * 1000)  # what a save killed with -9 leaves
    alive = tmp_path / f".m.npz.fastgru-tmp-{os.getppid()}-0123abcd"
    alive.write_bytes(b"x")  # a save in a live process: left alone
    other = tmp_path / ".other.npz.fastgru-tmp-1-0123abcd"
    other.write_bytes(b"x")  # another file's: not this save's business
    fastgru.save(layer, path)
    assert sorted(os.listdir(tmp_path)) == sorted([alive.name, other.name, "m.npz"])


@pytest.mark.parametrize("error", [OSError("disk full"), KeyboardInterrupt()],
                         ids=["OSError", "KeyboardInterrupt"])
@pytest.mark.parametrize("existing", [False, True], ids=["new", "over-existing"])
def test_failed_save_is_atomic(tmp_path, layer, monkeypatch, error, existing):
    """A save that fails while writing (a full disk, Ctrl-C) leaves the file
    as it was, or no file, and no temporary."""
    path = tmp_path / "m.npz"
    if existing:
        fastgru.save(fastgru.GRU(2, 3, 2, bidirectional=True, random_state=1), path)
    before = path.read_bytes() if existing else None

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(np, "savez", fail)
    with pytest.raises(type(error)):
        fastgru.save(layer, path)
    assert os.listdir(tmp_path) == (["m.npz"] if existing else [])
    if existing:
        assert path.read_bytes() == before
        assert fastgru.load(path).num_layers == 2


def test_save_refuses_a_layer_with_wrong_weights(tmp_path, layer):
    layer.params["weight_hh_l0"] = np.zeros((2, 2), np.float32)
    with pytest.raises(ValueError, match="weight_hh_l0"):
        fastgru.save(layer, tmp_path / "m.npz")
