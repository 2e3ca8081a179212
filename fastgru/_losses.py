"""Losses of the output heads, each with its gradient beside it.

Plain numerics on 2-D arrays: they know nothing of layers or estimators. Each
returns the mean loss over the rows (a Python float, summed in float64) and its
gradient with respect to the predictions, in the predictions' dtype.
"""

from __future__ import annotations

import numpy as np


def mean_squared_error(pred: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
    """Half the squared error, averaged over rows and summed over outputs.

    ``0.5 * sum((pred - target)**2) / n_rows`` (scikit-learn's ``MLPRegressor``
    loss); its gradient is ``(pred - target) / n_rows``.
    """
    diff = pred - target
    n_rows = pred.shape[0]
    loss = 0.5 * float(np.vdot(diff, diff).real) / n_rows
    return loss, diff / pred.dtype.type(n_rows)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise ``log(softmax(logits))``, stable for large logits."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean negative log-likelihood of integer ``labels`` under ``softmax(logits)``.

    The gradient is ``(softmax(logits) - onehot(labels)) / n_rows``.
    """
    n_rows = logits.shape[0]
    log_p = log_softmax(logits)
    rows = np.arange(n_rows)
    loss = -float(log_p[rows, labels].astype(np.float64).sum()) / n_rows
    grad = np.exp(log_p)
    grad[rows, labels] -= 1.0
    grad /= logits.dtype.type(n_rows)
    return loss, grad
