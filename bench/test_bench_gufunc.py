"""fastgru.gufunc against GRU.forward (inference), on the grid of
``bench/test_bench_gru.py``.

Run: ``python -m pytest bench/test_bench_gufunc.py --benchmark-enable
--benchmark-json=gufunc.json``; each group is one configuration (batch,
time, input, hidden). ``forward`` is :meth:`fastgru.GRU.forward` on the
batch; ``gufunc`` is :func:`fastgru.gufunc.forward` on the same batch (one
sequence per loop iteration, ``target="parallel"`` when more than one thread
runs); ``gufunc-serial`` is the serial gufunc (the form a Dask worker with one
thread runs). Compile time is excluded by a warm-up call. In the default test
run the benchmarks are disabled and each body runs once as a smoke test.
"""

import numpy as np
import pytest
from anchors import numpy_gru  # pytest puts bench/ on sys.path

import fastgru
from fastgru import gufunc

GRID = [(1, 100, 8, 64), (32, 100, 8, 64), (64, 100, 64, 128), (256, 100, 16, 32),
        (64, 50, 256, 512), (16, 200, 32, 256)]


def cfg_id(cfg):
    return "B{}-T{}-I{}-H{}".format(*cfg)


@pytest.mark.parametrize("cfg", GRID, ids=cfg_id)
@pytest.mark.parametrize("impl", ["forward", "gufunc", "gufunc-serial"])
def test_gufunc_inference(benchmark, cfg, impl, monkeypatch):
    benchmark.group = f"gufunc {cfg_id(cfg)}"
    B, T, I, H = cfg
    layer = fastgru.GRU(I, H, random_state=0)
    x = np.random.default_rng(0).normal(size=(B, T, I)).astype(np.float32)
    if impl == "forward":
        def run():
            return layer.forward(x)[0]
    else:
        if impl == "gufunc-serial":
            monkeypatch.setattr(gufunc, "PARALLEL_MIN_SEQUENCES", 1 << 62)

        def run():
            return gufunc.forward(layer, x)[0]
    run()  # warm-up: compiles (or loads) the kernels
    out = benchmark(run)
    np.testing.assert_allclose(out, numpy_gru(layer.params, x), rtol=1e-4, atol=2e-5)


MODELS = [(8, 1, 100, 8, 64), (8, 16, 100, 8, 64)]  # (models, batch, time, input, hidden)


@pytest.mark.parametrize("cfg", MODELS, ids=lambda c: "M{}-B{}-T{}-I{}-H{}".format(*c))
@pytest.mark.parametrize("impl", ["forward-loop", "gufunc-broadcast"])
def test_several_models_one_input(benchmark, cfg, impl):
    """Every one of M models on the same sequences: a Python loop of
    ``GRU.forward`` against one :func:`fastgru.gufunc.gru_layer` call with the
    models' weights stacked along a loop dimension."""
    benchmark.group = "models M{}-B{}-T{}-I{}-H{}".format(*cfg)
    M, B, T, I, H = cfg
    layers = [fastgru.GRU(I, H, random_state=s) for s in range(M)]
    x = np.random.default_rng(0).normal(size=(B, T, I)).astype(np.float32)
    if impl == "forward-loop":
        def run():
            return np.stack([layer.forward(x)[0] for layer in layers], axis=1)
    else:
        stacked = [np.stack(a) for a in zip(*(gufunc.cell_arrays(layer) for layer in layers))]
        x4 = x[:, None]  # (B, 1, T, I) against weights (M, ...)

        def run():
            return gufunc.gru_layer(x4, *stacked)
    run()
    out = benchmark(run)
    expected = np.stack([numpy_gru(layer.params, x) for layer in layers], axis=1)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=2e-5)
