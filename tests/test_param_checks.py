"""Weights of another size, dtype or kind never reach a kernel.

A layer's ``params`` is a public dict: a user can put anything in it. Every
path that hands the weights to a kernel (forward, the one-sequence kernel,
step's checked and fast paths, backward, the optimisers, the estimators)
must refuse what does not fit with a ValueError/TypeError naming the
parameter. On the code before these checks some of these cases corrupt the
heap, so they run in a subprocess: a crash fails the test instead of
killing the run.
"""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import fastgru

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SCRIPT = textwrap.dedent(r"""
    import json, sys, warnings
    import numpy as np
    import fastgru

    warnings.simplefilter("ignore")
    rng = np.random.default_rng(0)
    x1 = rng.normal(size=(1, 5, 3)).astype(np.float32)
    x4 = rng.normal(size=(4, 5, 3)).astype(np.float32)

    def bad_params(kind):
        good = fastgru.GRU(3, 8, random_state=0).params
        if kind == "bigger":
            return dict(fastgru.GRU(3, 64, random_state=0).params), "weight_ih_l0"
        if kind == "smaller":
            return dict(fastgru.GRU(3, 2, random_state=0).params), "weight_ih_l0"
        if kind == "float64":
            return {k: v.astype(np.float64) for k, v in good.items()}, "weight_ih_l0"
        if kind == "flat":
            return {**good, "weight_hh_l0": good["weight_hh_l0"].ravel()}, "weight_hh_l0"
        if kind == "list":
            return {**good, "bias_ih_l0": good["bias_ih_l0"].tolist()}, "bias_ih_l0"
        if kind == "missing":
            return {k: v for k, v in good.items() if k != "bias_hh_l0"}, "bias_hh_l0"
        if kind == "unknown":
            return {**good, "weight_ih_l1": good["weight_ih_l0"]}, "weight_ih_l1"
        raise AssertionError(kind)

    def run(path, layer):
        if path == "forward":
            layer.forward(x4)
        elif path == "forward_one":
            layer.forward(x1)
        elif path == "step_checked":
            layer.step(x4[:, 0])
        elif path == "step_fast":
            layer.step(x1[:, 0], np.zeros((1, 1, 8), np.float32))
        elif path == "backward":
            layer.backward(np.ones((4, 5, 8), np.float32))
        elif path == "forward_training":
            layer.forward(x4, training=True)

    results = {}
    for kind in sys.argv[1].split(","):
        for path in ("forward", "forward_one", "step_checked", "step_fast", "backward",
                     "forward_training"):
            for how in ("update", "assign"):
                layer = fastgru.GRU(3, 8, random_state=0)
                # warm every cache first, so that the replacement is what is caught
                layer.forward(x1); layer.forward(x4)
                h = np.zeros((1, 1, 8), np.float32)
                layer.step(x1[:, 0], h); layer.step(x1[:, 0], h)
                layer.forward(x4, training=True)
                params, name = bad_params(kind)
                if how == "update":
                    if kind in ("missing",):
                        layer.params.pop(name)
                    else:
                        layer.params.update(params)
                else:
                    layer.params = params
                try:
                    run(path, layer)
                    outcome = "no error"
                except (ValueError, TypeError) as exc:
                    outcome = "named" if name in str(exc) else f"unnamed: {exc}"
                except Exception as exc:
                    outcome = f"{type(exc).__name__}: {exc}"
                results[f"{kind}/{path}/{how}"] = outcome
    print(json.dumps(results))
""")

KINDS = ["bigger", "smaller", "float64", "flat", "list", "missing", "unknown"]


def test_wrong_weights_never_reach_a_kernel():
    env = {**os.environ, "PYTHONPATH": ROOT}
    out = subprocess.run([sys.executable, "-c", SCRIPT, ",".join(KINDS)], env=env,
                         capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert out.returncode == 0, f"the process died ({out.returncode}): {out.stderr[-2000:]}"
    results = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(results) == len(KINDS) * 6 * 2
    bad = {k: v for k, v in results.items() if v != "named"}
    assert not bad, bad


def test_weights_reshaped_in_place_are_read_as_checked():
    # a.shape = ... changes an array's shape without replacing it: the
    # kernels keep reading it with the shape that was checked (no read past
    # its end), and the next replacement is checked again
    layer = fastgru.GRU(3, 8, random_state=0)
    x = np.random.default_rng(1).normal(size=(2, 4, 3)).astype(np.float32)
    expected = layer.forward(x)[0]
    h = layer.step(x[:1, 0])
    w = layer.params["weight_hh_l0"]
    w.shape = (8, 24)
    np.testing.assert_array_equal(layer.forward(x)[0], expected)
    np.testing.assert_array_equal(layer.step(x[:1, 0]), h)
    layer.params["weight_hh_l0"] = w
    with pytest.raises(ValueError, match="weight_hh_l0"):
        layer.forward(x)


def test_optimiser_refuses_a_parameter_of_another_size():
    from fastgru._optim import SGD, Adam

    for opt in (Adam(), SGD()):
        params = {"w": np.zeros(4, np.float32)}
        opt.update(params, {"w": np.ones(4, np.float32)})
        params["w"] = np.zeros(400, np.float32)  # replaced: a fresh state, no overread
        opt.update(params, {"w": np.ones(400, np.float32)})
        with pytest.raises(ValueError, match="'w'"):
            opt.update(params, {"w": np.ones(3, np.float32)})


def test_estimator_refuses_a_wrong_head_and_wrong_weights():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(16, 5, 2)), rng.normal(size=16)
    est = fastgru.GRURegressor(hidden_size=4, max_epochs=1, random_state=0).fit(X, y)
    est.head_["weight"] = np.zeros((1, 9), np.float32)
    with pytest.raises(ValueError, match="head_"):
        est.predict(X)
    est.fit(X, y)
    est.gru_.params["weight_hh_l0"] = np.zeros((3, 3), np.float32)
    with pytest.raises(ValueError, match="weight_hh_l0"):
        est.predict(X)
