"""The kernels' activations against libm, over the whole useful range."""

import numpy as np
import pytest

from fastgru._activations import sigmoid, tanh
from fastgru._config import kernel


@kernel
def _apply(x, t_out, s_out):
    for i in range(x.shape[0]):
        t_out[i] = tanh(x[i])
        s_out[i] = sigmoid(x[i])


def _grid():
    pos = np.concatenate([np.geomspace(1e-30, 1.0, 20001), np.linspace(1.0, 60.0, 200001)])
    return np.concatenate([-pos[::-1], [0.0], pos, [1e300, -1e300]])


def _run(dtype):
    with np.errstate(over="ignore"):  # +-1e300 becomes +-inf in float32
        x = _grid().astype(dtype)
    t, s = np.empty_like(x), np.empty_like(x)
    _apply(x, t, s)
    x64 = x.astype(np.float64)
    return x64, t.astype(np.float64), s.astype(np.float64)


def test_float32_within_stated_error():
    x, t, s = _run(np.float32)
    assert np.abs(t - np.tanh(x)).max() < 3.3e-7
    with np.errstate(over="ignore"):
        assert np.abs(s - 1 / (1 + np.exp(-x))).max() < 2e-7
    assert np.abs(t).max() <= 1.0 and s.min() >= 0.0 and s.max() <= 1.0


def test_float64_within_a_few_ulp():
    x, t, s = _run(np.float64)
    ref_t = np.tanh(x)
    ulp = np.spacing(np.abs(ref_t)).clip(min=np.finfo(float).tiny)
    assert (np.abs(t - ref_t) / ulp).max() <= 4
    with np.errstate(over="ignore"):
        ref_s = 1 / (1 + np.exp(-x))
    # the logistic keeps relative accuracy for its small values down to x = -42
    # (value 5.7e-19); below, it stays at that value (absolute error < 6e-19)
    inside = x > -42
    assert (np.abs(s - ref_s)[inside] / ref_s[inside]).max() < 1e-14
    assert np.abs(s - ref_s)[~inside].max() < 6e-19


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nan_propagates(dtype):
    x = np.array([np.nan], dtype=dtype)
    t, s = np.empty_like(x), np.empty_like(x)
    _apply(x, t, s)
    assert np.isnan(t[0]) and np.isnan(s[0])
