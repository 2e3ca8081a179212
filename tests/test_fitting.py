"""A fitted estimator holds its model and nothing else (fit and partial_fit,
fastgru._fitting).

No training cache, buffers or gradients after fit/partial_fit; pickles about
the size of fastgru.save's file; predict changes nothing on the estimator;
predict in one thread while partial_fit runs in another never fails; after a
NonFiniteLossError the weights are the last finite ones. A fit or
partial_fit that raises leaves a complete fitted state or none: save then
writes what load reads, or refuses.
"""

import os
import pickle
import threading

import numpy as np
import pytest

import fastgru
from fastgru import GRUClassifier, GRURegressor
from fastgru._training import NonFiniteLossError


def labelled(n, T, F, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, T, F))
    return X, np.where(X[:, 0, 0] > 0, "a", "b")


def snapshot(obj, seen=None):
    """A deep, comparable picture of ``obj``: arrays copied, dicts and objects'
    ``__dict__`` walked, random generators by their state; per-thread scratch
    (a ``threading.local``) by identity, since what a thread keeps in it is
    not the object's state."""
    seen = set() if seen is None else seen
    if isinstance(obj, np.ndarray):
        return ("array", obj.dtype.str, obj.shape, obj.tobytes())
    if isinstance(obj, threading.local):
        return ("local", id(obj))
    if isinstance(obj, np.random.Generator):
        return ("generator", repr(obj.bit_generator.state))
    if isinstance(obj, np.random.RandomState):
        return ("randomstate", repr(obj.get_state()))
    if isinstance(obj, dict):
        return ("dict", type(obj).__name__,
                tuple((k, snapshot(v, seen)) for k, v in obj.items()))
    if isinstance(obj, (list, tuple)):
        return (type(obj).__name__, tuple(snapshot(v, seen) for v in obj))
    if hasattr(obj, "__dict__") and type(obj).__module__.startswith(("fastgru", "sklearn")):
        if id(obj) in seen:
            return ("seen", id(obj))
        seen.add(id(obj))
        return ("object", type(obj).__name__, snapshot(vars(obj), seen))
    return ("value", repr(obj))


def saved_size(obj, tmp_path):
    path = tmp_path / "model.fastgru"
    fastgru.save(obj, path)
    return os.path.getsize(path)


@pytest.mark.parametrize("how", ["fit", "partial_fit"])
def test_fitted_estimator_holds_its_model_only(how, tmp_path):
    X, y = labelled(256, 30, 8)
    clf = GRUClassifier(hidden_size=32, max_epochs=2, random_state=0)
    if how == "fit":
        clf.fit(X, y)
    else:
        clf.partial_fit(X, y, classes=["a", "b"])
        clf.partial_fit(X, y)
    assert clf.gru_._cache is None  # no training tape on the layer
    assert not any(g.any() for g in clf.gru_.grads.values())  # gradients stayed with the trainer
    assert "workspace" not in vars(clf.gru_._local)  # no training buffers in this thread
    blob = pickle.dumps(clf)
    size = saved_size(clf, tmp_path)
    # before: the last minibatch's cache made it 35-150x larger than after a predict
    assert len(blob) <= 1.5 * size, (len(blob), size)
    clone_ = pickle.loads(blob)
    np.testing.assert_array_equal(clone_.predict_proba(X), clf.predict_proba(X))
    assert len(pickle.dumps(clone_)) <= 1.5 * size
    clone_.partial_fit(X, y)  # continues (with a fresh optimiser)


def test_predict_leaves_the_estimator_unchanged():
    X, y = labelled(64, 12, 3)
    for model in (GRUClassifier(hidden_size=8, max_epochs=2, random_state=0).fit(X, y),
                  GRURegressor(hidden_size=8, max_epochs=2, random_state=0).fit(X, X[:, 0, 0]),
                  GRUClassifier(hidden_size=8, random_state=0).partial_fit(X, y, ["a", "b"])):
        before = snapshot(model)
        model.predict(X)
        model.predict(X[:1])  # one sequence: the one-kernel-call path
        model.predict([X[0, :5], X[1]])  # ragged
        if hasattr(model, "predict_proba"):
            model.predict_proba(X)
        model.score(X, model.predict(X))
        assert snapshot(model) == before


def test_predict_in_one_thread_while_partial_fit_runs_in_another():
    X, y = labelled(64, 20, 4)
    clf = GRUClassifier(hidden_size=16, batch_size=16, random_state=0)
    clf.partial_fit(X, y, classes=["a", "b"])
    errors, done = [], threading.Event()

    def predict_loop():
        while not done.is_set():
            try:
                proba = clf.predict_proba(X[:8])
                assert proba.shape == (8, 2)
                clf.predict(X[:1])
            except Exception as exc:  # noqa: BLE001 - any failure is the finding
                errors.append(repr(exc))

    thread = threading.Thread(target=predict_loop)
    thread.start()
    try:
        for _ in range(15):
            clf.partial_fit(X, y)
    except Exception as exc:  # noqa: BLE001
        errors.append("partial_fit: " + repr(exc))
    finally:
        done.set()
        thread.join()
    assert errors == []
    assert clf.n_iter_ == 16
    assert np.isfinite(clf.predict_proba(X)).all()


def initial_weights(model_class, X, y, **kw):
    """The weights a model starts from: fitted with a learning rate far too
    small to move any float32 weight (1e-30 against weights of order 0.1)."""
    model = model_class(**kw, learning_rate=1e-30, max_epochs=1).fit(X, y)
    return {k: v.copy() for k, v in model.gru_.params.items()}


@pytest.mark.parametrize("batch_size", [64, 16])  # one minibatch an epoch, and several
def test_non_finite_fit_keeps_the_last_finite_weights(batch_size):
    X, y = labelled(64, 6, 2)
    kw = dict(hidden_size=4, batch_size=batch_size, random_state=0)
    clf = GRUClassifier(**kw, learning_rate=1e-3, max_epochs=2).fit(X, y)
    start = {k: v.copy() for k, v in clf.gru_.params.items()}
    # float32 Adam: the first update moves each weight by ~1e39, beyond float32
    clf.set_params(learning_rate=1e39, max_epochs=5, warm_start=True)
    with pytest.raises(NonFiniteLossError, match="weights became NaN or inf"):
        clf.fit(X, y)
    for name, p in clf.gru_.params.items():
        assert np.isfinite(p).all()
        np.testing.assert_array_equal(p, start[name])
    assert clf.n_iter_ == len(clf.loss_curve_) == 2


def test_non_finite_partial_fit_keeps_the_last_finite_weights():
    X, y = labelled(64, 6, 2)
    kw = dict(hidden_size=4, batch_size=16, random_state=0)
    clf = GRUClassifier(**kw, learning_rate=1e-3).partial_fit(X, y, ["a", "b"])
    trained = {k: v.copy() for k, v in clf.gru_.params.items()}
    clf.set_params(learning_rate=1e39)
    clf._optimizer = None  # as after fit, pickling or loading: the next call starts one
    with pytest.raises(NonFiniteLossError):
        clf.partial_fit(X, y)
    for name, p in clf.gru_.params.items():
        assert np.isfinite(p).all()
        np.testing.assert_array_equal(p, trained[name])  # rolled back before the first update
    assert np.isfinite(clf.predict_proba(X)).all()


def test_huge_targets_are_scaled_safely():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 5, 2))
    y = 1e155 * (3.0 + X[:, -1, 0])  # squares overflow float64
    reg = GRURegressor(hidden_size=8, max_epochs=30, learning_rate=1e-2, random_state=0)
    reg.fit(X, y)
    assert np.isfinite(reg.y_scale_).all() and np.isfinite(reg.y_mean_).all()
    np.testing.assert_allclose(reg.y_mean_, np.mean(y / 1e155) * 1e155, rtol=1e-12)
    np.testing.assert_allclose(reg.y_scale_, np.std(y / 1e155) * 1e155, rtol=1e-12)
    pred = reg.predict(X)
    assert np.isfinite(pred).all()
    # it learned the targets, at their scale (R^2 computed at unit scale: the
    # squares of 1e155 overflow scikit-learn's own score)
    resid = np.sum((pred / 1e155 - y / 1e155) ** 2)
    assert 1.0 - resid / np.sum((y / 1e155 - np.mean(y / 1e155)) ** 2) > 0.5


# ---------------------------------------- a fit that raises: all state or none
def _interrupt_after(monkeypatch, n_updates):
    """Ctrl-C at the optimiser's ``n_updates``-th update (counted from 1)."""
    from fastgru import _optim

    calls = {"n": 0}
    original = _optim.Adam.update

    def update(self, params, grads):
        calls["n"] += 1
        if calls["n"] == n_updates:
            raise KeyboardInterrupt
        original(self, params, grads)

    monkeypatch.setattr(_optim.Adam, "update", update)


def _assert_not_fitted(est, tmp_path):
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    with pytest.raises(NotFittedError):
        check_is_fitted(est)
    with pytest.raises((NotFittedError, ValueError)):
        fastgru.save(est, tmp_path / "m.npz")
    assert not [k for k in vars(est) if k.endswith("_") and not k.startswith("__")]


def _assert_complete(est, tmp_path, X):
    fastgru.save(est, tmp_path / "m.npz")
    again = fastgru.load(tmp_path / "m.npz")
    assert again.n_iter_ == est.n_iter_ == len(est.loss_curve_)
    np.testing.assert_array_equal(again.predict(X), est.predict(X))


@pytest.mark.parametrize("how", ["fit", "partial_fit", "forecaster"])
def test_a_first_fit_that_raises_in_its_first_epoch_leaves_no_fitted_state(how, tmp_path,
                                                                            monkeypatch):
    """NonFiniteLossError and Ctrl-C in the first epoch: not fitted, save refuses."""
    X, y = labelled(64, 6, 2)
    series = np.sin(np.arange(80.0))

    def make(**kw):
        if how == "forecaster":
            return fastgru.GRUForecaster(window=6, hidden_size=4, batch_size=16,
                                         random_state=0, **kw)
        return GRUClassifier(hidden_size=4, batch_size=16, random_state=0, **kw)

    def run(est):
        if how == "forecaster":
            return est.fit(series)
        if how == "partial_fit":
            return est.partial_fit(X, y, classes=["a", "b"])
        return est.fit(X, y)

    est = make(learning_rate=1e39, max_epochs=3, optimizer="adam")
    with pytest.raises(NonFiniteLossError):
        run(est)
    _assert_not_fitted(est, tmp_path)
    _interrupt_after(monkeypatch, 3)  # the first epoch has four updates
    est = make(max_epochs=3)
    with pytest.raises(KeyboardInterrupt):
        run(est)
    _assert_not_fitted(est, tmp_path)
    monkeypatch.undo()
    run(est)  # and it fits afterwards
    # the forecaster also trains a few epochs on the held-out end
    more = fastgru.forecasting.FINAL_EPOCHS if how == "forecaster" else 0
    assert est.n_iter_ == (1 if how == "partial_fit" else 3 + more)


def test_a_fit_that_raises_after_an_epoch_keeps_a_complete_state(tmp_path, monkeypatch):
    """A NonFiniteLossError in epoch 3: fitted with the two epochs that ended."""
    from fastgru import _optim

    X, y = labelled(64, 6, 2)
    calls = {"n": 0}
    original = _optim.Adam.update

    def update(self, params, grads):
        calls["n"] += 1
        original(self, params, grads)
        if calls["n"] == 9:  # the first update of epoch 3 sends the weights to inf
            for v in params.values():
                v[...] = np.inf

    monkeypatch.setattr(_optim.Adam, "update", update)
    clf = GRUClassifier(hidden_size=4, batch_size=16, max_epochs=5, random_state=0)
    with pytest.raises(NonFiniteLossError, match="epoch 3"):
        clf.fit(X, y)
    monkeypatch.undo()
    assert clf.n_iter_ == 2
    _assert_complete(clf, tmp_path, X)


def test_forecaster_that_raises_after_an_epoch_keeps_a_complete_state(tmp_path, monkeypatch):
    from fastgru import _optim

    y = np.sin(np.arange(80.0))
    calls = {"n": 0}
    original = _optim.Adam.update

    def update(self, params, grads):
        calls["n"] += 1
        if calls["n"] == 6:  # in epoch 2 (five updates an epoch)
            raise FloatingPointError("stop")
        original(self, params, grads)

    monkeypatch.setattr(_optim.Adam, "update", update)
    model = fastgru.GRUForecaster(window=6, hidden_size=4, batch_size=16, max_epochs=4,
                                  random_state=0)
    with pytest.raises(FloatingPointError, match="stop"):
        model.fit(y)
    monkeypatch.undo()
    assert model.n_iter_ == 1
    fastgru.save(model, tmp_path / "f.npz")
    np.testing.assert_array_equal(fastgru.load(tmp_path / "f.npz").predict(), model.predict())


def test_refused_data_leaves_a_fitted_estimator_as_it_was(tmp_path):
    X, y = labelled(64, 6, 2)
    reg = GRURegressor(hidden_size=4, max_epochs=2, random_state=0).fit(X, X[:, -1, 0])
    before = snapshot(reg)
    with pytest.raises(ValueError):
        reg.fit(np.ones((10, 6, 5)), np.full(10, np.nan))  # new features, NaN targets
    assert snapshot(reg) == before
    _assert_complete(reg, tmp_path, X)


def test_save_refuses_an_incomplete_state(tmp_path):
    X, y = labelled(64, 6, 2)
    clf = GRUClassifier(hidden_size=4, max_epochs=1, random_state=0).fit(X, y)
    del clf.n_iter_
    with pytest.raises(ValueError, match="incomplete.*n_iter_"):
        fastgru.save(clf, tmp_path / "m.npz")
    assert not os.path.exists(tmp_path / "m.npz")


def test_ctrl_c_in_the_first_epoch_of_a_continued_fit_puts_the_weights_back(tmp_path,
                                                                           monkeypatch):
    X, y = labelled(64, 6, 2)
    clf = GRUClassifier(hidden_size=4, batch_size=16, max_epochs=2, random_state=0).fit(X, y)
    before = {k: v.copy() for k, v in clf.gru_.params.items()}
    clf.set_params(warm_start=True)
    _interrupt_after(monkeypatch, 3)  # after two updates of the run's first epoch
    with pytest.raises(KeyboardInterrupt):
        clf.fit(X, y)
    monkeypatch.undo()
    for name, p in clf.gru_.params.items():
        np.testing.assert_array_equal(p, before[name])
    assert clf.n_iter_ == 2
    _assert_complete(clf, tmp_path, X)
