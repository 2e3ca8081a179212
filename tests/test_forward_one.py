"""One sequence (batch 1) in inference runs in one kernel call
(``_kernels.stack.forward_one``); it must give what the general path gives, and
every other call must take the general path."""

import numpy as np
import pytest
from _helpers import DTYPES, VARIANTS, count_calls, make_layer_and_inputs
from reference import gru_forward

import fastgru
from fastgru import GRU


def _general(layer, x):
    """The general path's result for the same call (lengths given: no fast path)."""
    return layer.forward(x, lengths=[x.shape[1]])


def _spy(monkeypatch):
    """A list that grows by one on each call of the general path."""
    from fastgru import _passes

    return count_calls(monkeypatch, _passes, "stack_forward")


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("num_layers", [1, 3])
def test_one_sequence_matches_the_general_path_and_the_reference(variant, dtype, num_layers,
                                                                  monkeypatch):
    layer, x, _, _ = make_layer_and_inputs(variant, dtype, num_layers, False, False, batch=1,
                                           time=7)
    x = x.astype(dtype)
    calls = _spy(monkeypatch)
    y_first, h_first = layer.forward(x)
    assert calls == [1]  # a layer's first call: the general path
    y, h_n = layer.forward(x)
    assert calls == [1]  # the one-call path ran
    y_ref, h_ref = _general(layer, x)
    assert calls == [1, 1]
    np.testing.assert_array_equal(y_first, y_ref)
    np.testing.assert_array_equal(h_first, h_ref)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(h_n, h_ref)
    params = {k: v.astype(np.float64) for k, v in layer.params.items()}
    y_np, h_np = gru_forward(variant, params, x, np.zeros((num_layers, 1, layer.hidden_size)),
                             [x.shape[1]], num_layers, False)
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(y, y_np, atol=tol)
    np.testing.assert_allclose(h_n, h_np, atol=tol)


@pytest.mark.parametrize("input_size, hidden", [(130, 8), (6, 420)])
def test_one_sequence_with_products_in_blas(input_size, hidden, monkeypatch):
    """Inputs wider than the tiles take (input 130) and hidden sizes whose
    single-row product runs as BLAS's matrix-vector product (420) run in
    BLAS inside the kernel, single-threaded."""
    layer = GRU(input_size, hidden, num_layers=2, random_state=0)
    x = np.random.default_rng(0).normal(size=(1, 4, input_size)).astype(np.float32)
    layer.forward(x)  # a layer's first call takes the general path
    calls = _spy(monkeypatch)
    y, h_n = layer.forward(x)
    assert calls == []
    y_ref, h_ref = _general(layer, x)
    np.testing.assert_allclose(y, y_ref, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(h_n, h_ref, rtol=1e-6, atol=1e-6)


def test_other_calls_take_the_general_path(monkeypatch):
    layer, x, h0, _ = make_layer_and_inputs("torch", "float32", 2, False, False, batch=1)
    x32 = x.astype(np.float32)
    expected = _general(layer, x32)[0]
    calls = _spy(monkeypatch)
    wide = np.zeros((1, x.shape[1], 2 * x.shape[2]), dtype=np.float32)
    wide[..., ::2] = x32
    read_only = x32.copy()
    read_only.setflags(write=False)
    for name, kwargs in [
        ("float64 x", dict(x=x)),
        ("strided x", dict(x=wide[..., ::2])),
        ("read-only x", dict(x=read_only)),
        ("a list", dict(x=[x32[0]])),
        ("h0", dict(x=x32, h0=np.zeros((2, 1, layer.hidden_size)))),
        ("lengths", dict(x=x32, lengths=[x.shape[1]])),
    ]:
        before = len(calls)
        np.testing.assert_allclose(layer.forward(**kwargs)[0], expected, atol=1e-6,
                                   err_msg=name)
        assert len(calls) == before + 1, name
    before = len(calls)
    layer.forward(np.concatenate([x32, x32]))  # batch 2
    layer.forward(x32, training=True)
    assert len(calls) == before + 2
    bi, xb, _, _ = make_layer_and_inputs("torch", "float32", 1, True, False, batch=1)
    bi.forward(xb.astype(np.float32))
    assert len(calls) == before + 3
    layer.params = dict(layer.params)  # no version counter
    np.testing.assert_allclose(layer.forward(x32)[0], expected, atol=1e-6)
    assert len(calls) == before + 4
    # a weight assigned by hand in another layout: the kernel takes each
    # kind of weight as a tuple of one type, so the general path runs (not
    # called here: it compiles variants of its kernels for such arrays)
    layer, _, _, _ = make_layer_and_inputs("torch", "float32", 2, False, False, batch=1)
    layer.params["weight_hh_l1"] = np.asfortranarray(layer.params["weight_hh_l1"])
    from fastgru import _kernel_args

    assert _kernel_args.forward_one(layer, x32) is None  # the first call
    assert _kernel_args.forward_one(layer, x32) is None
    assert not layer._local.forward_one.usable


def test_one_sequence_refuses_nan_and_sees_weights_changed(monkeypatch):
    layer, x, _, _ = make_layer_and_inputs("torch", "float32", 2, False, False, batch=1)
    x = x.astype(np.float32)
    layer.forward(x)
    calls = _spy(monkeypatch)
    bad = x.copy()
    bad[0, 2, 1] = np.inf
    with pytest.raises(ValueError, match="x contains NaN or inf"):
        layer.forward(bad)
    layer.params["weight_ih_l0"][0, 0] += 0.5  # in place: the transpose is made again
    layer.params["weight_hh_l1"] *= 0.5
    layer.params["bias_hh_l0"] += 0.25
    got, state = layer.forward(x), layer.state_dict()
    layer.params["weight_ih_l1"] = layer.params["weight_ih_l1"] + 0.5  # replaced
    got_replaced, state_replaced = layer.forward(x), layer.state_dict()
    assert calls == []
    for y_h, sd in [(got, state), (got_replaced, state_replaced)]:
        fresh = GRU(layer.input_size, layer.hidden_size, 2)
        fresh.load_state_dict(sd)
        np.testing.assert_array_equal(y_h[0], _general(fresh, x)[0])
        np.testing.assert_array_equal(y_h[1], _general(fresh, x)[1])


def test_backward_after_one_sequence_inference_asks_for_a_training_forward():
    layer = fastgru.GRU(3, 4, random_state=0)
    x = np.ones((1, 5, 3), dtype=np.float32)
    layer.forward(x)  # a layer's first inference of one sequence: the general path
    y, _ = layer.forward(x, training=True)
    layer.forward(x)  # inference, in one call
    with pytest.raises(ValueError, match="training=True"):
        layer.backward(np.ones_like(y))
