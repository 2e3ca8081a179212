"""Serving: many Python threads on one model, each Numba threading layer, fork,
warm-up, and an install whose kernel cache cannot be written."""

import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import fastgru
from fastgru import GRUClassifier


def _hammer(fn, n_threads=8, calls=25):
    """Run ``fn`` from ``n_threads`` threads at once; return every result."""
    results, errors = [], []
    barrier = threading.Barrier(n_threads)

    def work():
        barrier.wait()
        try:
            for _ in range(calls):
                results.append(fn())
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return results


def test_forward_predict_and_step_from_many_threads_equal_serial():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 10, 3)).astype(np.float32)
    y = np.where(X[:, 0, 0] > 0, 1, 0)
    clf = GRUClassifier(hidden_size=8, num_layers=2, max_epochs=2, random_state=0).fit(X, y)
    layer = clf.gru_
    serial_proba = clf.predict_proba(X)
    serial_y, serial_h = layer.forward(X)
    x_t = X[:1, 0]
    serial_step = layer.step(x_t)
    for got in _hammer(lambda: clf.predict_proba(X)):
        np.testing.assert_array_equal(got, serial_proba)
    for got_y, got_h in _hammer(lambda: layer.forward(X)):
        np.testing.assert_array_equal(got_y, serial_y)
        np.testing.assert_array_equal(got_h, serial_h)
    for got in _hammer(lambda: layer.step(x_t)):
        np.testing.assert_array_equal(got, serial_step)


SCRIPT = textwrap.dedent("""
    import threading, numpy as np, numba, fastgru
    layer = fastgru.GRU(4, 16, 2, random_state=0)
    x = np.random.default_rng(0).normal(size=(40, 12, 4)).astype(np.float32)
    ref = layer.forward(x)[0]
    bad = []
    def work():
        for _ in range(20):
            if not np.array_equal(layer.forward(x)[0], ref):
                bad.append(1)
            layer.step(x[:1, 0])
    threads = [threading.Thread(target=work) for _ in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    print("layer", numba.threading_layer(), "mismatches", len(bad))
""")


def _tbb_extra_installed() -> bool:
    """With the ``tbb`` distribution (the [tbb] extra, in the test extra)
    installed, the TBB case must run, not skip (fastgru loads its library)."""
    import importlib.metadata

    try:
        importlib.metadata.distribution("tbb")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def test_a_forecaster_from_many_threads_equals_serial():
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(1)
    t = np.arange(60)
    df = pd.concat([pd.DataFrame({"unique_id": f"s{i}", "ds": t,
                                  "y": 10 + i + np.sin(2 * np.pi * t / 12)
                                  + 0.1 * rng.normal(size=60)}) for i in range(12)])
    def fitted():
        return fastgru.GRUForecaster(horizon=6, season_length=12, hidden_size=8, n_models=2,
                                     max_epochs=5, random_state=0).fit(df)

    new = df[df.unique_id.isin(["s1", "s2"])].assign(y=lambda d: d.y * 2)

    def calls(model):
        return [lambda: model.predict(), lambda: model.predict(level=[80, 95]),
                lambda: model.predict(h=15), lambda: model.predict(3, y=new)]

    serial = [call() for call in calls(fitted())]
    # the threads start on a model of their own that has not forecast yet
    # (the intervals' quantiles are computed by the first call that needs them)
    for k, call in enumerate(calls(fitted())):
        for frame in _hammer(call, n_threads=8, calls=5):
            pd.testing.assert_frame_equal(frame, serial[k], check_exact=True)


@pytest.mark.parametrize("threading_layer", ["workqueue", "omp", "tbb"])
def test_each_threading_layer_in_a_subprocess(threading_layer):
    env = {**os.environ, "NUMBA_THREADING_LAYER": threading_layer}
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                         text=True, timeout=300)
    if (out.returncode != 0 and "No threading layer could be loaded" in out.stderr
            and not (threading_layer == "tbb" and _tbb_extra_installed())):
        pytest.skip(f"the {threading_layer} threading layer is not installed here")
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"layer {threading_layer} mismatches 0" in out.stdout


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
@pytest.mark.parametrize("threading_layer", [None, "workqueue"])
def test_forked_child_keeps_working(threading_layer):
    """The default (fastgru asks Numba for a fork-safe layer) and workqueue."""
    script = textwrap.dedent("""
        import os, numpy as np, fastgru
        layer = fastgru.GRU(3, 8, random_state=0)
        x = np.ones((16, 5, 3), np.float32)
        ref = layer.forward(x)[0]   # parallel kernels ran in the parent
        pid = os.fork()
        if pid == 0:
            ok = np.array_equal(layer.forward(x)[0], ref) and layer.step(x[:1, 0]).shape
            os._exit(0 if ok else 3)
        _, status = os.waitpid(pid, 0)
        print("child exit", os.waitstatus_to_exitcode(status))
    """)
    env = dict(os.environ)
    env.pop("NUMBA_THREADING_LAYER", None)
    if threading_layer:
        env["NUMBA_THREADING_LAYER"] = threading_layer
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=300, env=env)
    assert "child exit 0" in out.stdout, out.stderr[-2000:]


def test_warmup_of_both_dtypes_leaves_training_nothing_to_compile():
    """In a fresh process: after ``warmup(("float32", "float64"), training=True)``
    (which returns its seconds as a float), a training step, a one-sequence
    forward and ``step`` in either dtype compile no kernel."""
    script = textwrap.dedent("""
        import numpy as np, fastgru
        from fastgru._kernels import large_products, sequence, stack
        seconds = fastgru.warmup(("float32", "float64"), training=True)
        kernels = [sequence.forward_block, sequence.backward_block, stack.step_layers,
                   stack.forward_one, large_products.project_block,
                   large_products.weight_grad_block]
        before = [len(k.signatures) for k in kernels]
        for dtype in ("float32", "float64"):
            layer = fastgru.GRU(3, 5, dtype=dtype, random_state=0)
            x = np.ones((4, 6, 3), dtype)
            y, _ = layer.forward(x, training=True)
            layer.backward(y)
            layer.forward(x[:1])
            layer.step(x[:, 0])
        print("seconds", type(seconds).__name__)
        print("new", [len(k.signatures) - n for k, n in zip(kernels, before)])
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "seconds float" in out.stdout, out.stdout
    assert "new [0, 0, 0, 0, 0, 0]" in out.stdout, out.stdout


def test_warmup_for_serving_leaves_batched_inference_nothing_to_compile():
    """In a fresh process: after the default ``warmup()`` (inference only), a
    batch of full-length sequences, one with lengths and one sequence, in
    both variants warmup runs, compile no kernel."""
    script = textwrap.dedent("""
        import numpy as np, fastgru
        from fastgru._kernels import sequence, stack
        fastgru.warmup()
        kernels = [*sequence.FORWARD_FULL, *sequence.FORWARD, stack.forward_one]
        before = [len(k.signatures) for k in kernels]
        for variant in ("torch", "cho"):
            layer = fastgru.GRU(3, 5, variant=variant, random_state=0)
            x = np.ones((16, 6, 3), np.float32)
            layer.forward(x)
            layer.forward(x, lengths=[6] * 15 + [2])
            layer.forward(x[:1])
            layer.forward(x[:1])
        print("new", [len(k.signatures) - n for k, n in zip(kernels, before)])
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "new [0, 0, 0, 0, 0, 0]" in out.stdout, out.stdout


def test_warmup_reaches_every_kernel():
    """In a fresh process, warmup leaves no kernel a later call could compile."""
    script = textwrap.dedent("""
        import fastgru
        from fastgru._kernels import cell, large_products, launch, sequence, stack
        fastgru.warmup(("float32",), training=True)
        kernels = {"project_block": large_products, "run_parallel": launch,
                   "forward_block": sequence, "backward_block": sequence,
                   "weight_grad_block": large_products, "matmul_block": large_products,
                   "swap_block": launch, "transpose_block": launch,
                   "refresh_copy": launch, "step_layers": stack, "forward_one": stack}
        missing = [n for n, module in kernels.items() if not getattr(module, n).signatures]
        print("missing", missing)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=600)
    assert "missing []" in out.stdout, out.stdout + out.stderr[-2000:]


def _read_only(a):
    out = np.frombuffer(a.tobytes(), dtype=a.dtype).reshape(a.shape)  # a request's bytes
    assert not out.flags.writeable
    return out


def test_read_only_arrays_compile_nothing_new():
    """A read-only array is another type to Numba: passed through, each
    kernel would compile again (~10 s) on first use. It is copied instead,
    with the same results."""
    from fastgru._kernels import sequence, stack

    layer = fastgru.GRU(3, 4, random_state=0)
    rng = np.random.default_rng(0)
    x, lengths = rng.normal(size=(4, 5, 3)).astype(np.float32), np.array([5, 3, 5, 1])
    y, h_n = layer.forward(x, lengths=lengths, training=True)
    dy = rng.normal(size=y.shape).astype(np.float32)
    dx, dh0 = layer.backward(dy)
    h = layer.step(x[:, 0])
    h2 = layer.step(x[:, 1], h)
    kernels = [sequence.forward_block, sequence.backward_block, stack.step_layers]
    before = [len(k.signatures) for k in kernels]

    y_, h_n_ = layer.forward(_read_only(x), lengths=_read_only(lengths), training=True)
    dx_, dh0_ = layer.backward(_read_only(dy))
    h_ = layer.step(_read_only(x[:, 0]))
    h2_ = layer.step(_read_only(x[:, 1]), _read_only(h_))
    assert [len(k.signatures) for k in kernels] == before
    for got, want in [(y_, y), (h_n_, h_n), (dx_, dx), (dh0_, dh0), (h_, h), (h2_, h2)]:
        np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match="out must be a writeable"):
        layer.step(x[:, 0], h, out=_read_only(h))


def test_import_works_without_any_writable_cache():
    """A read-only install: Numba finds no cache location; kernels compile in memory."""
    script = textwrap.dedent("""
        from numba.core import caching
        caching.CacheImpl._locator_classes = []   # no cache location is usable
        import numpy as np, fastgru
        y, h = fastgru.GRU(2, 3, random_state=0).forward(np.ones((1, 2, 2)))
        print("ok", y.shape)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=600)
    assert "ok (1, 2, 3)" in out.stdout, out.stderr[-2000:]


def _blas_threads():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    return {i["filepath"]: i["num_threads"]
            for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"}


def test_blas_is_single_threaded_inside_calls_and_restored_after(monkeypatch):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    import scipy.linalg.cython_blas  # noqa: F401  (the BLAS the kernels call)

    from fastgru import _engine

    seen = []
    original = _engine.direction_forward

    def spy(*args, **kwargs):
        seen.append(_blas_threads())
        return original(*args, **kwargs)

    monkeypatch.setattr(_engine, "direction_forward", spy)
    layer = fastgru.GRU(3, 4, random_state=0)
    x = np.ones((2, 5, 3))
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        before = _blas_threads()
        assert before and set(before.values()) == {2}
        layer.forward(x)
        with fastgru.threads():  # nested: the inner call must not restore early
            layer.forward(x)
            assert set(_blas_threads().values()) == {1}
        assert _blas_threads() == before
    assert len(seen) == 2 and all(set(s.values()) == {1} for s in seen)
    assert set(seen[0]) == set(before)
