"""GRU.to_keras under the real Keras 3 (torch backend): equal to forward, and
back to fastgru exactly; stacks and bidirectional layers as Keras layers."""

import os

import numpy as np
import pytest

import fastgru

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")


def _numpy(out):
    return np.asarray(out.detach().cpu()) if hasattr(out, "detach") else np.asarray(out)


def _layer(variant, num_layers, bidirectional, bias, dtype="float32", seed=0):
    layer = fastgru.GRU(4, 5, num_layers, bidirectional=bidirectional, variant=variant,
                        bias=bias, dtype=dtype, random_state=seed)
    rng = np.random.default_rng(seed + 1)
    for p in layer.params.values():  # beyond the init range: every gate matters
        p[...] = rng.uniform(-0.8, 0.8, size=p.shape)
    return layer


@pytest.mark.parametrize("variant", ["torch", "cho"])
@pytest.mark.parametrize("bias", [True, False])
def test_single_layer_equals_forward_and_round_trips(variant, bias):
    layer = _layer(variant, 1, False, bias)
    gru = layer.to_keras()
    assert type(gru).__name__ == "GRU" and gru.reset_after == (variant == "torch")
    x = np.random.default_rng(2).normal(size=(3, 7, 4)).astype(np.float32)
    y_k, h_k = (_numpy(o) for o in gru(x))
    y, h_n = layer.forward(x)
    np.testing.assert_allclose(y_k, y, atol=1e-5)
    np.testing.assert_allclose(h_k, h_n[0], atol=1e-5)
    again = fastgru.GRU.from_keras(gru)
    assert repr(again) == repr(layer)
    expected = dict(layer.params)
    if variant == "cho" and bias:  # Keras' reset_after=False cell has one bias: the sum
        expected["bias_ih_l0"] = layer.params["bias_ih_l0"] + layer.params["bias_hh_l0"]
        expected["bias_hh_l0"] = np.zeros_like(layer.params["bias_hh_l0"])
    for name, p in expected.items():
        np.testing.assert_array_equal(again.params[name], p, err_msg=name)
    # and a second trip changes nothing
    third = fastgru.GRU.from_keras(again.to_keras())
    for name, p in again.params.items():
        np.testing.assert_array_equal(third.params[name], p, err_msg=name)


@pytest.mark.parametrize("variant,num_layers,bidirectional",
                         [("torch", 2, True), ("cho", 3, False), ("torch", 1, True)])
def test_stacks_and_bidirectional_as_sequential(variant, num_layers, bidirectional):
    layer = _layer(variant, num_layers, bidirectional, True, seed=4)
    model = layer.to_keras()
    assert type(model).__name__ == "Sequential" and len(model.layers) == num_layers
    x = np.random.default_rng(5).normal(size=(2, 6, 4)).astype(np.float32)
    np.testing.assert_allclose(_numpy(model(x)), layer.forward(x)[0], atol=1e-5)
    again = fastgru.GRU.from_keras(model)
    assert repr(again) == repr(layer)
    if variant == "torch":
        for name, p in layer.params.items():
            np.testing.assert_array_equal(again.params[name], p, err_msg=name)
    np.testing.assert_allclose(again.forward(x)[0], layer.forward(x)[0], atol=1e-6)
    # the Bidirectional wrapper alone is one bidirectional layer
    if bidirectional:
        one = fastgru.GRU.from_keras(model.layers[0])
        assert one.bidirectional and one.num_layers == 1
        for name, p in one.params.items():
            np.testing.assert_array_equal(p, again.params[name])


def test_float64_layer_stays_float64():
    layer = _layer("torch", 1, False, True, dtype="float64")
    gru = layer.to_keras()
    x = np.random.default_rng(3).normal(size=(2, 5, 4))
    y_k = _numpy(gru(x)[0])
    assert y_k.dtype == np.float64
    np.testing.assert_allclose(y_k, layer.forward(x)[0], atol=1e-12)
    again = fastgru.GRU.from_keras(gru)
    assert again.dtype == np.float64
    for name, p in layer.params.items():
        np.testing.assert_array_equal(again.params[name], p)


def test_refusals():
    for variant in ("gru1", "gru2", "gru3", "mgu"):
        with pytest.raises(ValueError, match="'torch' .* and 'cho' .* variants only"):
            fastgru.GRU(2, 3, variant=variant).to_keras()
    model = keras.Sequential([keras.Input((None, 3)), keras.layers.GRU(4, return_sequences=True),
                              keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="is a Dense"):
        fastgru.GRU.from_keras(model)
    model = keras.Sequential([keras.Input((None, 3)),
                              keras.layers.Bidirectional(keras.layers.GRU(4), merge_mode="sum")])
    with pytest.raises(ValueError, match="merge_mode='sum'"):
        fastgru.GRU.from_keras(model)
    model = keras.Sequential([keras.Input((None, 3)),
                              keras.layers.GRU(4, return_sequences=True, reset_after=False),
                              keras.layers.GRU(4)])
    with pytest.raises(ValueError, match="differ in reset_after"):
        fastgru.GRU.from_keras(model)
    model = keras.Sequential([keras.Input((None, 3)),
                              keras.layers.GRU(4, return_sequences=True),
                              keras.layers.Bidirectional(keras.layers.GRU(4))])
    with pytest.raises(ValueError, match="mixes GRU and Bidirectional"):
        fastgru.GRU.from_keras(model)
    model = keras.Sequential([keras.Input((None, 3)),
                              keras.layers.GRU(4, return_sequences=True),
                              keras.layers.GRU(5)])
    with pytest.raises(ValueError, match="units 5"):
        fastgru.GRU.from_keras(model)
