"""The estimators' fast path for serving calls (fastgru.estimators; C-ordered
3-D arrays of the model's dtype): the same answers and the same errors as the
general path."""

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from fastgru import GRUClassifier, GRURegressor


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(48, 9, 3)).astype(np.float32)
    y = np.where(X[:, 0, 0] > 0, "up", "down")
    clf = GRUClassifier(hidden_size=8, num_layers=2, max_epochs=2, random_state=0).fit(X, y)
    reg = GRURegressor(hidden_size=8, max_epochs=2, random_state=0).fit(X, X[:, :2, 0])
    return clf, reg, X


def _general(monkeypatch, est, method, X):
    """``method`` of ``est`` with the fast path switched off."""
    with monkeypatch.context() as m:
        m.setattr(type(est), "_raw_predict_fast", lambda self, X: None)
        return getattr(est, method)(X)


@pytest.mark.parametrize("rows", [1, 2, 16])
def test_same_answers_as_the_general_path(fitted, monkeypatch, rows):
    clf, reg, X = fitted
    x = np.ascontiguousarray(X[:rows])
    for est, methods in ((clf, ("predict_proba", "predict", "predict_log_proba")),
                         (reg, ("predict",))):
        for method in methods:
            np.testing.assert_array_equal(getattr(est, method)(x),
                                          _general(monkeypatch, est, method, x))


def test_the_fast_path_serves_valid_arrays_without_the_general_checks(fitted, monkeypatch):
    clf, reg, X = fitted
    expected = clf.predict_proba(X[:3])

    def general(*args, **kwargs):
        raise AssertionError("the general path ran")

    monkeypatch.setattr(type(clf), "_validate_X", general)
    np.testing.assert_array_equal(clf.predict_proba(np.ascontiguousarray(X[:3])), expected)
    readonly = np.ascontiguousarray(X[:3])
    readonly.setflags(write=False)
    np.testing.assert_array_equal(clf.predict_proba(readonly), expected)


@pytest.mark.parametrize("bad,error,words", [
    (lambda X: np.where(np.arange(9)[None, :, None] == 4, np.nan, X[:2]).astype(np.float32),
     ValueError, "X contains NaN or inf"),
    (lambda X: np.full((1, 9, 3), np.inf, dtype=np.float32), ValueError, "NaN or inf"),
    (lambda X: np.ones((2, 9, 4), dtype=np.float32), ValueError, "features per time step"),
    (lambda X: np.ones((0, 9, 3), dtype=np.float32), ValueError, "empty"),
    (lambda X: np.ones((2, 0, 3), dtype=np.float32), ValueError, "empty"),
])
def test_same_errors_as_the_general_path(fitted, monkeypatch, bad, error, words):
    clf, reg, X = fitted
    x = bad(X)
    with pytest.raises(error, match=words) as fast:
        clf.predict_proba(x)
    with pytest.raises(error) as general:
        _general(monkeypatch, clf, "predict_proba", x)
    assert str(fast.value) == str(general.value)


def test_other_inputs_and_models_take_the_general_path(fitted):
    clf, reg, X = fitted
    x = X[:4]
    expected = clf.predict_proba(np.ascontiguousarray(x))
    for other in (x.astype(np.float64), np.asfortranarray(x), list(x), x.tolist()):
        np.testing.assert_allclose(clf.predict_proba(other), expected, rtol=1e-6)
    with pytest.raises(NotFittedError):
        GRUClassifier().predict_proba(np.ascontiguousarray(x))
    uni = GRURegressor(hidden_size=4, max_epochs=1, random_state=0).fit(X[:, :, 0], X[:, 0, 0])
    with pytest.raises(ValueError, match="3 features per time step"):
        uni.predict(np.ascontiguousarray(X[:2]))  # fitted on univariate 2-D input
