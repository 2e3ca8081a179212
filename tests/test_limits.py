"""Constructor limits: what a layer costs besides its weights, and the
documented choices of ``dtype``.

The memory checks run with the machine's memory patched to a fixed size so
that the outcome does not depend on the machine; a deep stack that the check
let through would take minutes and gigabytes, so it is built in a
subprocess with a timeout and an address-space limit.
"""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import fastgru
from fastgru import _validation

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_dtype_none_is_refused():
    with pytest.raises(ValueError, match="dtype must be 'float32' or 'float64', got None"):
        fastgru.GRU(3, 4, dtype=None)


@pytest.mark.parametrize("dtype", ["float32", "float64", np.float32, np.dtype("float64")])
def test_dtype_choices_are_accepted(dtype):
    assert fastgru.GRU(3, 4, dtype=dtype).dtype == np.dtype(dtype)


def test_deep_stack_of_tiny_layers_is_counted(monkeypatch):
    """100,000 layers of 12 weights each: the weights need 10 MB, the layers'
    Python objects about 1 GB (measured 4.5 KiB a layer at construction, 10
    KiB after a training step)."""
    monkeypatch.setattr(_validation, "_PHYSICAL_MEMORY", 2**30)
    with pytest.raises(ValueError, match=r"num_layers=100000.*per layer"):
        fastgru.GRU(1, 1, num_layers=100_000)
    with pytest.raises(ValueError, match="num_layers=40000"):
        fastgru.GRU(1, 1, num_layers=40_000, bidirectional=True)
    assert fastgru.GRU(1, 1, num_layers=1000).num_layers == 1000


DEEP = textwrap.dedent(r"""
    import resource
    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
    import fastgru
    try:
        fastgru.GRU(1, 1, num_layers=10**7)
    except ValueError as exc:
        print("refused:", exc)
""")


def test_ten_million_layers_are_refused_at_once():
    out = subprocess.run([sys.executable, "-c", DEEP], capture_output=True, text=True,
                         timeout=120, cwd=ROOT, env={**os.environ, "PYTHONPATH": ROOT})
    assert out.returncode == 0, out.stderr[-2000:]
    assert "refused:" in out.stdout and "num_layers=10000000" in out.stdout, out.stdout


@pytest.mark.parametrize("make", [
    lambda: fastgru.GRURegressor(n_jobs=0, max_epochs=1),
    lambda: fastgru.GRUClassifier(n_jobs=0, max_epochs=1),
])
def test_estimators_refuse_n_jobs_zero(make):
    """As joblib and fastgru.dask.predict do: 0 threads has no meaning."""
    X = np.random.default_rng(0).normal(size=(8, 3, 2))
    with pytest.raises(ValueError, match="n_jobs"):
        make().fit(X, np.arange(8) % 2)


def test_forecaster_refuses_n_jobs_zero():
    with pytest.raises(ValueError, match="n_jobs"):
        fastgru.GRUForecaster(window=3, n_jobs=0, max_epochs=1).fit(np.arange(20.0))


def test_threads_refuses_zero():
    with pytest.raises(ValueError, match="n_jobs=0"):
        with fastgru.threads(0):
            pass


@pytest.mark.parametrize("n_jobs", [None, 2, -1])
def test_estimators_take_the_other_n_jobs(n_jobs):
    """Any other n_jobs is taken, and changes no result (README: "does not
    change results"): the fit and predictions of n_jobs=1, bit for bit."""
    X = np.random.default_rng(0).normal(size=(64, 5, 2))

    def fitted(n):
        return fastgru.GRURegressor(hidden_size=3, n_jobs=n, max_epochs=2,
                                    random_state=0).fit(X, X[:, -1, 0])

    reg, one = fitted(n_jobs), fitted(1)
    np.testing.assert_array_equal(reg.loss_curve_, one.loss_curve_)
    np.testing.assert_array_equal(reg.predict(X), one.predict(X))
