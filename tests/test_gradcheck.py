"""Element-wise float64 central differences of every input, h0 and parameter."""

import numpy as np
import pytest
from _helpers import VARIANTS, make_layer_and_inputs


def numeric_grad(f, arr, eps=1e-6):
    grad = np.zeros_like(arr)
    flat, gflat = arr.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        up = f()
        flat[i] = old - eps
        down = f()
        flat[i] = old
        gflat[i] = (up - down) / (2 * eps)
    return grad


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_gradients_match_central_differences(variant, bidirectional):
    layer, x, h0, lengths = make_layer_and_inputs(
        variant, "float64", 2, bidirectional, True, batch=3, time=4, input_size=2, hidden=3
    )
    rng = np.random.default_rng(3)
    y, h_n = layer.forward(x, h0, lengths=lengths)
    dy, dhn = rng.normal(size=y.shape), rng.normal(size=h_n.shape)

    def loss():
        yy, hh = layer.forward(x, h0, lengths=lengths)
        return np.sum(yy * dy) + np.sum(hh * dhn)

    layer.forward(x, h0, lengths=lengths, training=True)
    dx, dh0 = layer.backward(dy, dhn)
    np.testing.assert_allclose(dx, numeric_grad(loss, x), atol=1e-7, rtol=1e-6)
    np.testing.assert_allclose(dh0, numeric_grad(loss, h0), atol=1e-7, rtol=1e-6)
    for name, p in layer.params.items():
        np.testing.assert_allclose(layer.grads[name], numeric_grad(loss, p),
                                   atol=1e-7, rtol=1e-6, err_msg=name)


@pytest.mark.parametrize("variant", ["torch", "mgu"])
def test_dropout_gradients_with_fixed_masks(variant):
    """With the dropout masks held fixed, backward is the exact gradient."""
    import copy

    layer, x, h0, _ = make_layer_and_inputs(variant, "float64", 3, True, False, hidden=3)
    layer.dropout = 0.4
    rng_state = copy.deepcopy(layer._rng)
    dy = np.random.default_rng(5).normal(size=(3, 5, 6))

    def loss():
        layer._rng = copy.deepcopy(rng_state)
        return np.sum(layer.forward(x, h0, training=True)[0] * dy)

    without_dropout = np.sum(layer.forward(x, h0)[0] * dy)
    assert not np.isclose(loss(), without_dropout)  # dropout acts in training
    dx, dh0 = layer.backward(dy)
    np.testing.assert_allclose(dx, numeric_grad(loss, x), atol=1e-7, rtol=1e-6)
    for name in ("weight_ih_l0", "weight_hh_l1_reverse", "weight_ih_l2"):
        np.testing.assert_allclose(layer.grads[name], numeric_grad(loss, layer.params[name]),
                                   atol=1e-7, rtol=1e-6, err_msg=name)
