"""scikit-learn's own estimator checks, and the estimators in sklearn's tools."""

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from fastgru import GRUClassifier, GRURegressor, SequenceScaler


@pytest.mark.slow  # ~3.5 minutes: scikit-learn's whole check list, five estimators
@parametrize_with_checks(
    [
        GRURegressor(random_state=0),
        GRURegressor(random_state=0, dtype="float64"),
        GRUClassifier(random_state=0),
        GRUClassifier(random_state=0, dtype="float64"),
        SequenceScaler(),
    ],
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def _sequences(n=60, T=8, F=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, T, F)) * 3.0 + 5.0
    y = (X[:, -3:, 0].mean(axis=1) - 5.0) + 0.1 * rng.normal(size=n)
    return X, y


def test_pipeline_gridsearch_cross_val_clone_pickle():
    X, y = _sequences()
    pipe = Pipeline([("scale", SequenceScaler()),
                     ("gru", GRURegressor(hidden_size=8, max_epochs=15, random_state=0))])
    pipe.fit(X, y)
    assert pipe.predict(X).shape == (60,)
    search = GridSearchCV(pipe, {"gru__hidden_size": [4, 8], "gru__variant": ["torch", "mgu"]},
                          cv=2, n_jobs=2)
    search.fit(X, y)
    assert search.best_params_["gru__hidden_size"] in (4, 8)
    assert np.isfinite(search.best_score_)
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.shape == (3,) and np.all(np.isfinite(scores))
    fresh = clone(pipe)
    assert not hasattr(fresh.named_steps["gru"], "gru_")
    restored = pickle.loads(pickle.dumps(pipe))
    np.testing.assert_array_equal(restored.predict(X), pipe.predict(X))
