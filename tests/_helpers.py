"""Helpers shared by the tests."""

import importlib.util
import sys
import time

import numpy as np

import fastgru

VARIANTS = fastgru.VARIANTS
DTYPES = ["float32", "float64"]

#: A script running a small kernel (one matrix product, compiles in about a
#: second) that prints whether it was right and how many kernels compiled.
PRODUCT = """
    import numpy as np
    from fastgru import _cache
    from fastgru._kernels import products
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(3, 5)), rng.normal(size=(4, 5))
    out = np.zeros((3, 4))
    products.gemm_nt(a, b, out, products.OVERWRITE)
    print("close", bool(np.allclose(out, a @ b.T)), "compiles", _cache.compile_count())
"""


def make_layer_and_inputs(variant, dtype, num_layers, bidirectional, with_lengths,
                          batch=3, time=5, input_size=4, hidden=3, seed=0):
    """A small layer with non-zero biases, inputs, h0 and (optionally) lengths."""
    layer = fastgru.GRU(input_size, hidden, num_layers, bidirectional=bidirectional,
                        variant=variant, dtype=dtype, random_state=seed)
    rng = np.random.default_rng(seed + 1)
    # widen the parameters beyond the init range so that every gate matters
    for p in layer.params.values():
        p[...] = rng.uniform(-0.8, 0.8, size=p.shape)
    D = 2 if bidirectional else 1
    x = rng.normal(size=(batch, time, input_size))
    h0 = rng.normal(scale=0.5, size=(num_layers * D, batch, hidden))
    lengths = np.array([time, 2, 1][:batch] + [time] * max(0, batch - 3)) if with_lengths else None
    return layer, x, h0, lengths


def count_calls(monkeypatch, owner, name):
    """A list that grows by one on each call of ``owner.name`` (a function or
    method, replaced through ``monkeypatch`` by one that counts, then calls it)."""
    calls = []
    original = getattr(owner, name)

    def spy(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, spy)
    return calls


def wait_for(predicate, what):
    """Poll ``predicate`` until it holds; AssertionError naming ``what`` after 60 s."""
    deadline = time.monotonic() + 60
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.001)


def base_forecast(history, season_length, horizon):
    """The forecast ``GRUForecaster`` corrects, from the steps of its window
    (``history``), written from its definition: the last season's mean plus
    each step's deviation from its season's mean, averaged over the full
    seasons counted back from the end; the last value below a season or
    without seasons."""
    m = season_length
    n = len(history) // m if m > 1 else 0
    if n == 0:
        return np.full(horizon, history[-1])
    seasons = [history[len(history) - m * (j + 1):len(history) - m * j] for j in range(n)]
    return np.array([seasons[0].mean() + np.mean([s[k % m] - s.mean() for s in seasons])
                     for k in range(horizon)])


def load_script(path, name):
    """The script at ``path`` (of bench/ or tests/data/, not packages) as a
    module named ``name``."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
