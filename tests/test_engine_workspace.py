"""What a thread keeps between calls is bounded (fastgru._engine.WORKSPACE_KEEP_BYTES)."""

import threading
import tracemalloc

import numpy as np

import fastgru
from fastgru import _engine


def _kept(layer, thread_work, monkeypatch, keep):
    monkeypatch.setattr(_engine, "WORKSPACE_KEEP_BYTES", keep)
    result = {}

    def run():
        thread_work()
        local = layer._thread_local()
        ws = getattr(local, "workspace", None)
        one = getattr(local, "forward_one", None)
        step = getattr(local, "step", None)
        result["workspace"] = 0 if ws is None else sum(a.nbytes for a in ws.values())
        result["counted"] = 0 if ws is None else ws.nbytes
        result["scratch"] = 0 if one is None else one.scratch.nbytes
        result["step"] = 0 if step is None else step.kernel_args[-1].nbytes

    t = threading.Thread(target=run)
    t.start()
    t.join()
    return result


def test_long_sequence_does_not_stay_in_the_thread(monkeypatch):
    layer = fastgru.GRU(4, 64, random_state=0)
    keep = 1 << 20
    x = np.random.default_rng(0).normal(size=(2, 3000, 4)).astype(np.float32)

    def work():
        layer.forward(x[:1])  # a layer's first: the general path
        layer.forward(x[:1])  # one-sequence kernel
        layer.forward(x)  # general path
        y, _ = layer.forward(x, training=True)
        layer.backward(np.ones_like(y))
        layer.step(np.ones((20000, 4), np.float32))

    kept = _kept(layer, work, monkeypatch, keep)
    assert kept["workspace"] == kept["counted"] <= keep
    assert kept["scratch"] <= keep and kept["step"] <= keep
    # and each call still needed more than that
    assert 3000 * 2 * 3 * 64 * 4 > keep


def test_keeping_nothing_frees_every_buffer(monkeypatch):
    """FASTGRU_WORKSPACE_KEEP_MB=0: a transposed weight and its source, freed
    together, are both gone when the trim reaches the second of them."""
    layer = fastgru.GRU(3, 8, 2, bidirectional=True, random_state=0)
    x = np.random.default_rng(0).normal(size=(4, 5, 3)).astype(np.float32)

    def work():
        layer.forward(x)
        y, _ = layer.forward(x, training=True)
        layer.backward(np.ones_like(y))

    kept = _kept(layer, work, monkeypatch, 0)
    assert kept["workspace"] == kept["counted"] == 0


def test_small_calls_keep_their_buffers(monkeypatch):
    layer = fastgru.GRU(4, 16, random_state=0)
    x = np.ones((3, 10, 4), np.float32)
    kept = _kept(layer, lambda: layer.forward(x, training=True), monkeypatch, 128 << 20)
    assert kept["workspace"] > 0


def test_thread_memory_is_returned(monkeypatch):
    monkeypatch.setattr(_engine, "WORKSPACE_KEEP_BYTES", 1 << 20)
    layer = fastgru.GRU(4, 64, random_state=0)
    x = np.ones((4, 4000, 4), np.float32)
    layer.forward(x[:, :5])
    layer.forward(x[:1, :5])  # so that the one-sequence kernel runs below
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        layer.forward(x)
        layer.forward(x[:1])
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert after - before < 2 << 20  # the call's 12+ MB of buffers are freed
