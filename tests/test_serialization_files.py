"""fastgru.save's files: mode, symlinks, temporaries; files saved in format 1
load and predict as they did when saved."""

import os
import subprocess
import sys

import numpy as np
import pytest
from _helpers import load_script

import fastgru

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


@pytest.fixture
def layer():
    return fastgru.GRU(2, 3, random_state=0)


@pytest.fixture
def umask():
    old = os.umask(0o027)
    yield 0o027
    os.umask(old)


@posix_only
def test_new_file_respects_the_umask(tmp_path, layer, umask):
    path = tmp_path / "m.npz"
    fastgru.save(layer, path)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask
    np.save(tmp_path / "ref.npy", np.ones(1))  # as numpy itself gives
    assert os.stat(path).st_mode & 0o777 == os.stat(tmp_path / "ref.npy").st_mode & 0o777


@posix_only
def test_existing_file_keeps_its_mode(tmp_path, layer, umask):
    path = tmp_path / "m.npz"
    fastgru.save(layer, path)
    os.chmod(path, 0o604)
    fastgru.save(layer, path)
    assert os.stat(path).st_mode & 0o777 == 0o604


@posix_only
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


@posix_only
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


@posix_only
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


def test_save_to_a_missing_folder_or_a_folder_names_the_path(tmp_path, layer):
    target = tmp_path / "missing" / "m.npz"
    with pytest.raises(FileNotFoundError) as info:
        fastgru.save(layer, target)
    assert info.value.filename == str(target)
    with pytest.raises(IsADirectoryError) as info:
        fastgru.save(layer, tmp_path)
    assert info.value.filename == str(tmp_path)
    assert os.listdir(tmp_path) == []


@posix_only
def test_save_refuses_a_layer_with_wrong_weights(tmp_path, layer):
    layer.params["weight_hh_l0"] = np.zeros((2, 2), np.float32)
    with pytest.raises(ValueError, match="weight_hh_l0"):
        fastgru.save(layer, tmp_path / "m.npz")


# ------------------------------------------------------------ format-1 files
SAVED = os.path.join(os.path.dirname(__file__), "data", "saved")


def _saved_inputs():
    return load_script(os.path.join(SAVED, "make_files.py"), "make_files")


@pytest.fixture(scope="module")
def saved():
    module = _saved_inputs()
    with np.load(os.path.join(SAVED, "expected.npz"), allow_pickle=False) as f:
        expected = dict(f)
    return module, module.inputs(), expected


def _close(got, want, dtype):
    tol = 1e-10 if dtype == np.float64 else 2e-5
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


def test_saved_layer_loads_and_predicts(saved):
    _, x, expected = saved
    layer = fastgru.load(os.path.join(SAVED, "layer.npz"))
    assert isinstance(layer, fastgru.GRU)
    assert (layer.num_layers, layer.bidirectional, layer.variant) == (2, True, "cho")
    y, h_n = layer.forward(x["x_layer"])
    _close(y, expected["layer_y"], np.float32)
    _close(h_n, expected["layer_h_n"], np.float32)


def test_saved_regressor_loads_and_predicts(saved):
    _, x, expected = saved
    reg = fastgru.load(os.path.join(SAVED, "regressor.npz"))
    assert isinstance(reg, fastgru.GRURegressor)
    pred = reg.predict(x["x_regressor"])
    assert pred.shape == (5,)  # 1-D targets give 1-D predictions
    _close(pred, expected["regressor"], np.float64)


def test_saved_classifier_loads_and_predicts(saved):
    _, x, expected = saved
    clf = fastgru.load(os.path.join(SAVED, "classifier.npz"))
    assert list(clf.classes_) == ["cat", "dog", "eel"]
    _close(clf.predict_proba(x["x_classifier"]), expected["classifier"], np.float32)


def test_saved_scaler_loads_and_transforms(saved):
    _, x, expected = saved
    scaler = fastgru.load(os.path.join(SAVED, "scaler.npz"))
    _close(scaler.transform(x["x_scaler"]), expected["scaler"], np.float64)


def test_saved_forecaster_loads_and_forecasts(saved):
    module, _, expected = saved
    fc = fastgru.load(os.path.join(SAVED, "forecaster.npz"))
    # a file written before the series' interval scales: every series at 1
    np.testing.assert_array_equal(fc.interval_scale_, np.ones(fc.n_series_))
    frame = fc.predict(level=[80], X_df=module.future())
    assert list(frame["unique_id"]) == ["a"] * 3 + ["b"] * 3
    assert str(frame["ds"].iloc[0])[:10] == "2023-05-01"
    got = frame[["GRUForecaster", "GRUForecaster-lo-80", "GRUForecaster-hi-80"]]
    want = np.array(expected["forecaster"], dtype=float)
    # an interval holds its forecast now: a bound on the wrong side of the
    # forecast (every held-out error of a step on one side) moves to it
    want[:, 1] = np.minimum(want[:, 1], want[:, 0])
    want[:, 2] = np.maximum(want[:, 2], want[:, 0])
    _close(got.to_numpy(dtype=float), want, np.float32)
