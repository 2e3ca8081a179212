"""fastgru against torch.nn.GRU / GRUCell and onnxruntime, side by side.

Run: ``python -m pytest bench --benchmark-enable --benchmark-json=bench.json``
then ``python bench/report.py bench.json``. Each group is one configuration
(batch, time, input, hidden); compile time is excluded by a warm-up call and
measured separately by ``test_cold_start``. In the default test run the
benchmarks are disabled and each body runs once as a smoke test.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import pytest

import fastgru

torch = pytest.importorskip("torch")

from anchors import numpy_gru  # noqa: E402

GRID = [(1, 100, 8, 64), (32, 100, 8, 64), (64, 100, 64, 128), (256, 100, 16, 32),
        (64, 50, 256, 512), (16, 200, 32, 256)]
ODD = [(5, 37, 13, 96)]  # not tuned for: must be as fast relative to torch as the grid


def cfg_id(cfg):
    return "B{}-T{}-I{}-H{}".format(*cfg)


def make(cfg, dtype="float32"):
    B, T, I, H = cfg
    torch.manual_seed(0)
    tdtype = torch.float64 if dtype == "float64" else torch.float32
    module = torch.nn.GRU(I, H, batch_first=True, dtype=tdtype)
    layer = fastgru.GRU.from_torch(module)
    x = np.random.default_rng(0).normal(size=(B, T, I)).astype(dtype)
    return module, layer, x


@pytest.mark.parametrize("cfg", GRID + ODD, ids=cfg_id)
@pytest.mark.parametrize("impl", ["fastgru", "torch", "onnxruntime"])
def test_inference(benchmark, cfg, impl, equal_threads):
    benchmark.group = f"inference {cfg_id(cfg)}"
    module, layer, x = make(cfg)
    if impl == "fastgru":
        def run():
            return layer.forward(x)[0]
    elif impl == "torch":
        xt = torch.from_numpy(x)

        def run():
            with torch.inference_mode():
                return module(xt)[0]
    else:
        pytest.importorskip("onnxruntime")
        pytest.importorskip("onnx")
        from anchors import onnx_gru_session

        session = onnx_gru_session(module, equal_threads)
        x_tm = np.ascontiguousarray(x.transpose(1, 0, 2))  # ONNX is time-major

        def run():
            return session.run(["Y"], {"X": x_tm})[0]
    run()  # warm-up: compiles fastgru's kernels
    out = benchmark(run)
    expected = numpy_gru(module.state_dict(), x)  # independent of all three
    got = np.asarray(out)
    if impl == "onnxruntime":
        got = got[:, 0].transpose(1, 0, 2)
    np.testing.assert_allclose(got, expected, atol=1e-4)


def _target(layer, x):
    return np.random.default_rng(1).normal(size=(*x.shape[:2], layer.hidden_size)).astype(
        x.dtype)


def _training(module, layer, x, impl):
    """forward + MSE loss + backward with every parameter gradient."""
    target = _target(layer, x)
    if impl == "fastgru":
        def run():
            with fastgru.threads():  # the documented way to write a training loop
                y, _ = layer.forward(x, training=True)
                diff = y - target
                loss = float(np.vdot(diff, diff)) / diff.size
                # x is data, as torch's (requires_grad False): no dx, like torch
                layer.backward(diff * (2.0 / diff.size), input_grad=False)
            return loss
    else:
        xt, tt = torch.from_numpy(x), torch.from_numpy(target)

        def run():
            for p in module.parameters():
                p.grad = None
            y, _ = module(xt)
            loss = torch.mean((y - tt) ** 2)
            loss.backward()
            return float(loss.detach())
    return run


def _check_training(module, layer, x, impl, loss):
    """The benchmarked step's loss against the plain-NumPy forward of the same
    weights; fastgru's gradients against torch autograd's (parameters are not
    updated, so every round computes the same step)."""
    rtol = 1e-9 if x.dtype == np.float64 else 2e-4
    y = numpy_gru(module.state_dict(), x)
    expected = float(np.mean((y - _target(layer, x)) ** 2))
    assert loss == pytest.approx(expected, rel=rtol)
    if impl == "fastgru":
        for p in module.parameters():
            p.grad = None
        xt, tt = torch.from_numpy(x), torch.from_numpy(_target(layer, x))
        torch.mean((module(xt)[0] - tt) ** 2).backward()
        for name, p in module.named_parameters():
            want = p.grad.numpy()
            got = layer.grads[name]
            assert got.shape == want.shape, name
            np.testing.assert_allclose(got, want, rtol=rtol * 10,
                                       atol=rtol * np.abs(want).max(), err_msg=name)


@pytest.mark.parametrize("cfg", GRID + ODD, ids=cfg_id)
@pytest.mark.parametrize("impl", ["fastgru", "torch"])
def test_training(benchmark, cfg, impl):
    benchmark.group = f"training {cfg_id(cfg)}"
    module, layer, x = make(cfg)
    run = _training(module, layer, x, impl)
    run()
    loss = benchmark(run)
    _check_training(module, layer, x, impl, loss)


@pytest.mark.parametrize("cfg", [(32, 100, 8, 64), (64, 100, 64, 128)], ids=cfg_id)
@pytest.mark.parametrize("impl", ["fastgru", "torch"])
def test_training_float64(benchmark, cfg, impl):
    benchmark.group = f"training-float64 {cfg_id(cfg)}"
    module, layer, x = make(cfg, "float64")
    run = _training(module, layer, x, impl)
    run()
    loss = benchmark(run)
    _check_training(module, layer, x, impl, loss)


@pytest.mark.parametrize("impl", ["fastgru", "torch"])
def test_streaming_step(benchmark, impl):
    """One time step, batch 1, input 8, hidden 64: a server's streaming path."""
    benchmark.group = "step B1-I8-H64"
    module, layer, x = make((1, 1, 8, 64))
    x_t = x[:, 0]
    if impl == "fastgru":
        h = np.zeros((1, 1, 64), dtype=np.float32)

        def run():
            return layer.step(x_t, h, out=h)
    else:
        cell = torch.nn.GRUCell(8, 64)
        cell.load_state_dict({k.replace("_l0", ""): v for k, v in module.state_dict().items()})
        xt = torch.from_numpy(x_t)
        ht = torch.zeros(1, 64)

        def run():
            with torch.inference_mode():
                return cell(xt, ht)
    run()
    benchmark(run)
    # one more step from the state the rounds left (fastgru's advances in place)
    h_before = np.array(h if impl == "fastgru" else ht.numpy()).reshape(1, 64)
    got = np.asarray(run()).reshape(1, 64)
    want = numpy_gru(module.state_dict(), x, h_before)[:, 0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_numpy_sgemm_reference(benchmark):
    """float32 matrix multiply throughput in this run, for the fraction-of-peak figure."""
    benchmark.group = "reference numpy-sgemm-1024"
    a = np.random.default_rng(0).normal(size=(1024, 1024)).astype(np.float32)
    benchmark.extra_info["flop"] = 2 * 1024**3
    product = benchmark(np.matmul, a, a)
    assert product.shape == (1024, 1024) and product.dtype == np.float32
    rows = a[:16].astype(np.float64) @ a.astype(np.float64)  # entries ~ N(0, 1024)
    np.testing.assert_allclose(product[:16], rows, atol=1e-2)


COLD = """
import time
t0 = time.perf_counter()
import json, numpy as np, fastgru
layer = fastgru.GRU(8, 64, random_state=0)
y = layer.forward(np.full((1, 10, 8), 0.5, np.float32))[0]
seconds = time.perf_counter() - t0
print(json.dumps(y.astype(float).ravel().tolist()))
print(seconds)
"""


def _check_cold_output(stdout):
    """The subprocess's first forward against the plain-NumPy forward of the
    same layer's weights (``random_state=0`` draws the same ones here)."""
    *_, y, seconds = stdout.strip().splitlines()
    layer = fastgru.GRU(8, 64, random_state=0)
    want = numpy_gru(layer.params, np.full((1, 10, 8), 0.5))
    np.testing.assert_allclose(np.array(json.loads(y)).reshape(1, 10, 64), want, atol=1e-5)
    return float(seconds)


@pytest.mark.parametrize("cache", ["warm", "cold"])
def test_cold_start(benchmark, cache, request):
    """A fresh process: import fastgru and run its first forward."""
    benchmark.group = "cold-start import+first-forward"
    cache_dir = tempfile.mkdtemp(prefix="fastgru-bench-cache-")
    request.addfinalizer(lambda: shutil.rmtree(cache_dir, ignore_errors=True))
    env = {k: v for k, v in os.environ.items() if k != "FASTGRU_NO_CACHE"}
    env.update(NUMBA_CACHE_DIR=cache_dir, FASTGRU_CACHE_DIR=cache_dir)

    def once():
        out = subprocess.run([sys.executable, "-c", COLD], env=env, capture_output=True,
                             text=True, timeout=1800)
        assert out.returncode == 0, out.stderr[-3000:]
        return _check_cold_output(out.stdout)

    if cache == "warm":
        once()  # fills the cache
        benchmark.pedantic(once, rounds=3, iterations=1)
    else:
        def fresh_cache():
            for name in os.listdir(cache_dir):
                subprocess.run(["rm", "-rf", os.path.join(cache_dir, name)], check=True)
            return (), {}

        benchmark.pedantic(once, setup=fresh_cache, rounds=1, iterations=1)
    assert os.listdir(cache_dir), "the first forward left no compiled kernel in the cache"
