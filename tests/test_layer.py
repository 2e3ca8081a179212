"""The layer's contract beyond the equations: init, layout, ragged input, threads."""

import numpy as np
import pytest
from _helpers import VARIANTS, make_layer_and_inputs

import fastgru
from fastgru import _engine

# parameters of one cell with I inputs and H hidden units (README's table)
CELL_PARAMS = {
    "torch": lambda i, h: 3 * h * (i + h) + 6 * h,
    "cho": lambda i, h: 3 * h * (i + h) + 6 * h,
    "gru1": lambda i, h: h * i + 3 * h * h + 3 * h,
    "gru2": lambda i, h: h * i + 3 * h * h + h,
    "gru3": lambda i, h: h * i + h * h + 3 * h,
    "mgu": lambda i, h: 2 * h * (i + h) + 2 * h,
}


@pytest.mark.parametrize("variant", VARIANTS)
def test_parameter_count_and_names(variant):
    layer = fastgru.GRU(5, 6, 2, bidirectional=True, variant=variant)
    count = CELL_PARAMS[variant]
    assert layer.n_params == 2 * count(5, 6) + 2 * count(12, 6)
    names = set(layer.params)
    assert {"weight_ih_l0", "weight_hh_l0", "weight_ih_l1_reverse"} <= names
    assert set(layer.grads) == names
    no_bias = fastgru.GRU(5, 6, variant=variant, bias=False)
    assert set(no_bias.params) == {"weight_ih_l0", "weight_hh_l0"}


def test_torch_names_and_shapes():
    layer = fastgru.GRU(5, 6, 2, bidirectional=True)
    assert layer.params["weight_ih_l0"].shape == (18, 5)
    assert layer.params["weight_ih_l1"].shape == (18, 12)
    assert layer.params["weight_hh_l1_reverse"].shape == (18, 6)
    assert layer.params["bias_hh_l0_reverse"].shape == (18,)


def test_initialisation_is_seeded_uniform():
    a = fastgru.GRU(4, 100, random_state=3)
    b = fastgru.GRU(4, 100, random_state=3)
    c = fastgru.GRU(4, 100, random_state=4)
    w = a.params["weight_hh_l0"]
    np.testing.assert_array_equal(w, b.params["weight_hh_l0"])
    assert not np.array_equal(w, c.params["weight_hh_l0"])
    assert w.dtype == np.float32
    assert np.abs(w).max() <= 0.1 and np.abs(w).max() > 0.099  # U(-1/sqrt(H), 1/sqrt(H))
    assert abs(w.mean()) < 0.005


def test_ragged_list_equals_padded_with_lengths():
    layer, x, _, _ = make_layer_and_inputs("cho", "float64", 2, True, False, batch=3, time=6)
    lengths = [6, 2, 4]
    seqs = [x[i, :n] for i, n in enumerate(lengths)]
    y_list, h_list = layer.forward(seqs)
    y_pad, h_pad = layer.forward(x, lengths=lengths)
    np.testing.assert_array_equal(y_list, y_pad)
    np.testing.assert_array_equal(h_list, h_pad)
    # and each sequence alone gives the same result
    for i, s in enumerate(seqs):
        y1, h1 = layer.forward(s[None])
        np.testing.assert_allclose(y1[0], y_pad[i, : lengths[i]], atol=1e-14)
        np.testing.assert_allclose(h1[:, 0], h_pad[:, i], atol=1e-14)


@pytest.mark.parametrize("paths", ["default", "split-products-short-chunks"])
@pytest.mark.parametrize("variant", ["torch", "cho", "mgu"])
def test_thread_count_does_not_change_results(monkeypatch, variant, paths):
    if paths != "default":  # every large product in 2 blocks, BPTT's chunks 2 steps long
        from fastgru import _engine

        monkeypatch.setattr(_engine, "_MIN_MACS_PER_BLOCK", 1)
        monkeypatch.setattr(_engine, "_CHUNK_ROWS", 8)
        assert _engine._product_blocks(35, 1) == _engine._n_blocks(35)
        assert _engine._chunk_steps(5, 7, 10, 4) == 2
    layer, x, h0, lengths = make_layer_and_inputs(variant, "float32", 2, True, True, batch=7)
    fastgru.set_num_threads(1)
    y1, h1 = layer.forward(x, h0, lengths=lengths, training=True)
    g1 = layer.backward(np.ones_like(y1))
    grads1 = {k: v.copy() for k, v in layer.grads.items()}
    fastgru.set_num_threads(2)
    y2, h2 = layer.forward(x, h0, lengths=lengths, training=True)
    g2 = layer.backward(np.ones_like(y2))
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(h1, h2)
    np.testing.assert_array_equal(g1[0], g2[0])
    for k in grads1:
        np.testing.assert_allclose(grads1[k], layer.grads[k], rtol=1e-6, atol=1e-7)


def test_float32_close_to_float64():
    l64, x, h0, lengths = make_layer_and_inputs("torch", "float64", 2, True, True)
    l32 = fastgru.GRU(4, 3, 2, bidirectional=True, dtype="float32")
    l32.load_state_dict(l64.state_dict())
    np.testing.assert_allclose(l32.forward(x, h0, lengths)[0], l64.forward(x, h0, lengths)[0],
                               atol=1e-5)


def test_backward_overwrites_grads():
    layer, x, _, _ = make_layer_and_inputs("torch", "float64", 1, False, False)
    y, _ = layer.forward(x, training=True)
    layer.backward(np.ones_like(y))
    first = layer.grads["weight_hh_l0"].copy()
    layer.forward(x, training=True)
    layer.backward(np.ones_like(y))
    np.testing.assert_allclose(layer.grads["weight_hh_l0"], first)  # not accumulated


def test_backward_uses_this_threads_training_forward():
    """A thread training the layer by hand is not disturbed by other threads
    running forward on it meanwhile (inference, or training of their own)."""
    import pickle
    import threading

    layer = fastgru.GRU(3, 5, 2, bidirectional=True, dtype="float64", random_state=0)
    serial = pickle.loads(pickle.dumps(layer))
    rng = np.random.default_rng(0)
    x, other = rng.normal(size=(4, 6, 3)), rng.normal(size=(2, 9, 3))
    y, _ = serial.forward(x, training=True)
    expected_dx, _ = serial.backward(np.ones_like(y))
    expected = {name: g.copy() for name, g in serial.grads.items()}

    def meanwhile():
        layer.forward(other[:1])  # the one-sequence path
        layer.forward(other)
        layer.forward(other, training=True)

    y, _ = layer.forward(x, training=True)
    thread = threading.Thread(target=meanwhile)
    thread.start()
    thread.join()
    dx, _ = layer.backward(np.ones_like(y))
    np.testing.assert_array_equal(dx, expected_dx)
    for name, g in expected.items():
        np.testing.assert_array_equal(layer.grads[name], g)


def test_backward_in_a_thread_without_a_training_forward_says_so():
    import threading

    layer = fastgru.GRU(3, 4, random_state=0)
    y, _ = layer.forward(np.ones((2, 5, 3)), training=True)
    errors = []

    def elsewhere():
        try:
            layer.backward(np.ones_like(y))
        except ValueError as exc:
            errors.append(str(exc))

    thread = threading.Thread(target=elsewhere)
    thread.start()
    thread.join()
    assert len(errors) == 1 and "in this thread" in errors[0]
    layer.backward(np.ones_like(y))  # the thread of the forward


def test_state_dict_round_trip_is_a_copy():
    layer = fastgru.GRU(3, 4, variant="mgu", random_state=0)
    sd = layer.state_dict()
    sd["weight_ih_l0"][:] = 0
    assert layer.params["weight_ih_l0"].any()
    other = fastgru.GRU(3, 4, variant="mgu", random_state=1)
    other.load_state_dict(layer.state_dict())
    x = np.ones((1, 3, 3))
    np.testing.assert_array_equal(other.forward(x)[0], layer.forward(x)[0])


def test_repr():
    assert repr(fastgru.GRU(3, 4, 2, bidirectional=True)) == (
        "GRU(3, 4, num_layers=2, variant='torch', bidirectional=True, dtype='float32')"
    )


@pytest.mark.parametrize("shape", [(1, 6, 4), (3, 1, 4), (3, 6, 4)])
def test_results_do_not_alias_reused_buffers(shape):
    """forward/backward reuse internal buffers; what they return stays the caller's."""
    layer = fastgru.GRU(4, 3, 2, random_state=0)
    rng = np.random.default_rng(0)
    x1, x2 = rng.normal(size=shape), rng.normal(size=shape)
    y1, h1 = layer.forward(x1, training=True)
    dx1, _ = layer.backward(np.ones_like(y1))
    kept = y1.copy(), h1.copy(), dx1.copy()
    y2, _ = layer.forward(x2, training=True)
    layer.backward(2 * np.ones_like(y2))
    for a, b in zip((y1, h1, dx1), kept):
        np.testing.assert_array_equal(a, b)


def test_pickle_round_trip_after_use():
    import pickle

    layer = fastgru.GRU(4, 3, variant="cho", random_state=0)
    x = np.ones((2, 5, 4))
    y, _ = layer.forward(x, training=True)
    layer.step(x[:, 0])  # creates per-thread buffers
    clone = pickle.loads(pickle.dumps(layer))
    np.testing.assert_array_equal(clone.forward(x)[0], y)
    np.testing.assert_array_equal(clone.step(x[:, 0]), layer.step(x[:, 0]))


def _offsets(arrays):  # of arrays with data
    return {name: a.ctypes.data % _engine.ALIGNMENT for name, a in arrays.items() if a.size}


def test_parameters_and_buffers_start_on_a_cache_line():
    """Kernels read rows in 64-byte vectors: parameters and reused buffers
    start at a multiple of 64 bytes however they were made (init, loaded
    state, unpickled), and keep their values."""
    import pickle

    layer = fastgru.GRU(5, 7, 2, bidirectional=True, dtype="float64", random_state=0)
    assert set(_offsets(layer.params).values()) == {0}
    layer.load_state_dict(fastgru.GRU(5, 7, 2, bidirectional=True, random_state=1).state_dict())
    assert set(_offsets(layer.params).values()) == {0}
    x = np.ones((3, 4, 5))
    y, _ = layer.forward(x, training=True)
    layer.backward(np.ones_like(y))
    assert set(_offsets(layer._workspace()).values()) == {0}
    clone = pickle.loads(pickle.dumps(layer))
    assert set(_offsets(clone.params).values()) == {0}
    for name, p in layer.params.items():
        np.testing.assert_array_equal(clone.params[name], p)
    np.testing.assert_array_equal(clone.forward(x)[0], layer.forward(x)[0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
@pytest.mark.parametrize("shape", [(0,), (3,), (2, 3, 5), (0, 4)])
def test_aligned_empty_and_copy(dtype, shape):
    for _ in range(8):  # the allocator's offsets vary from call to call
        out = _engine.aligned_empty(shape, dtype)
        assert out.shape == shape and out.dtype == dtype and out.flags.c_contiguous
        assert out.size == 0 or out.ctypes.data % _engine.ALIGNMENT == 0
    src = np.arange(np.prod(shape), dtype=dtype).reshape(shape)
    copy = _engine.aligned_copy(src.T)
    np.testing.assert_array_equal(copy, src.T)
    assert copy.flags.c_contiguous and (copy.size == 0 or copy.ctypes.data % _engine.ALIGNMENT == 0)


def test_training_memory_stays_near_what_bptt_keeps():
    """A training forward and backward allocate little beyond what BPTT must
    keep (gates, aux, the states, the input) and the output: the recurrence
    turns the projections into the gates in place, so no second array of
    their size exists, and BPTT reads the caller's dy without a time-major
    copy. Measured: 1.30x of that here; 1.45x with the copy of dy, 1.91x
    when the gates were a copy too."""
    import tracemalloc

    B, T, I, H = 64, 100, 64, 128
    x = np.random.default_rng(0).normal(size=(B, T, I)).astype(np.float32)
    # every kernel of this size (the batch-parallel ones too) compiled or
    # loaded outside the trace: a compile's own allocations are not the layer's
    warm = fastgru.GRU(I, H, random_state=0)
    y, _ = warm.forward(x, training=True)
    warm.backward(np.ones_like(y), input_grad=False)
    layer = fastgru.GRU(I, H, random_state=0)
    tracemalloc.start()
    try:
        y, _ = layer.forward(x, training=True)
        layer.backward(np.ones_like(y), input_grad=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    kept = 4 * (T * B * 3 * H + T * B * H + (T + 1) * B * H + T * B * I)
    assert peak <= 1.4 * (kept + 4 * B * T * H), (peak, kept)


@pytest.mark.parametrize("variant", ["torch", "gru1", "mgu"])
@pytest.mark.parametrize("batch", [1, 4])
def test_forward_and_backward_see_weights_changed_in_place(variant, batch):
    """The transposed weights are kept between calls and made again only when
    the weights changed: an edit of one element, a scaled matrix and a NaN
    written and then replaced are each seen by the next forward and BPTT
    (batch 1 reads the transposes in BPTT, larger batches in the forward)."""
    layer, x, h0, _ = make_layer_and_inputs(variant, "float64", 2, True, False, batch=batch)
    dy = np.random.default_rng(5).normal(size=(batch, x.shape[1], 2 * layer.hidden_size))

    def run(model):
        y, h_n = model.forward(x, h0, training=True)
        dx, dh0 = model.backward(dy)
        return y, h_n, dx, dh0, {k: g.copy() for k, g in model.grads.items()}

    def check():
        fresh = fastgru.GRU(layer.input_size, layer.hidden_size, 2, bidirectional=True,
                            variant=variant, dtype="float64")
        fresh.load_state_dict(layer.state_dict())
        got, expected = run(layer), run(fresh)
        for g, e in zip(got[:4], expected[:4]):
            np.testing.assert_array_equal(g, e)
        for name in expected[4]:
            np.testing.assert_array_equal(got[4][name], expected[4][name], err_msg=name)

    run(layer)
    layer.params["weight_hh_l1_reverse"][-1, -1] += 0.25  # the last element: the last chunk
    check()
    layer.params["weight_hh_l0"] *= 0.5
    layer.params["weight_ih_l0"][0, 0] -= 0.5
    check()
    layer.params["weight_hh_l1"][0, 0] = np.nan
    assert np.isnan(layer.forward(x, h0)[0]).any()
    layer.params["weight_hh_l1"][0, 0] = 0.125
    check()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_refresh_copy(dtype):
    """``refresh_copy`` says whether ``src`` differs from ``copy`` and makes
    them equal; a NaN counts as a difference (so NaN weights never reuse a
    transpose)."""
    from fastgru._kernels import launch

    src = np.random.default_rng(0).normal(size=(7, 100)).astype(dtype)  # 700: 3 chunks
    copy = np.zeros_like(src)
    assert launch.refresh_copy(src, copy)
    np.testing.assert_array_equal(copy, src)
    assert not launch.refresh_copy(src, copy)
    for index in [(0, 0), (2, 55), (6, 99)]:  # first, middle and last chunk
        src[index] += 1.0
        assert launch.refresh_copy(src, copy), index
        np.testing.assert_array_equal(copy, src)
        assert not launch.refresh_copy(src, copy)
    src[3, 3] = np.nan
    assert launch.refresh_copy(src, copy)
    assert launch.refresh_copy(src, copy)


def test_shape_configuration_is_fixed_after_construction():
    """Assigning a size after construction would run the kernels with sizes
    that are not the arrays': a larger input_size read megabytes past the
    input weights and crashed the interpreter. Run in a subprocess, so that a
    crash fails this test instead of ending the run."""
    import os
    import subprocess
    import sys
    import textwrap
    from pathlib import Path

    script = textwrap.dedent("""
        import numpy as np, fastgru
        layer = fastgru.GRU(3, 4, random_state=0)
        layer.forward(np.ones((1, 2, 3), np.float32))
        for name, value in (("input_size", 1_000_000), ("hidden_size", 64), ("num_layers", 3),
                            ("bidirectional", True), ("dtype", np.dtype("float64"))):
            try:
                setattr(layer, name, value)
                x = np.ones((1, 2, layer.input_size), layer.dtype)
                layer.forward(x)
                layer.step(x[:, 0])
                print("ran", name)
            except AttributeError as exc:
                assert name in str(exc) and "from_config" in str(exc), exc
                print("refused", name)
    """)
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, (out.returncode, out.stderr[-2000:])
    assert out.stdout.split() == ["refused", "input_size", "refused", "hidden_size", "refused",
                                  "num_layers", "refused", "bidirectional", "refused", "dtype"]
    layer = fastgru.GRU(3, 4)
    layer.dropout = 0.5  # no shape follows from it
    assert layer.get_config()["dropout"] == 0.5
    with pytest.raises(ValueError, match="dropout"):
        layer.dropout = 1.5
