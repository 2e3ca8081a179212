"""Keras GRU layers (Keras 3 on the torch backend) load exactly, in both reset_after modes."""

import os

import numpy as np
import pytest

import fastgru

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")


def _keras_run(layer, x):
    out = layer(x)
    return [np.asarray(o.detach().cpu()) if hasattr(o, "detach") else np.asarray(o) for o in out]


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("use_bias", [True, False])
def test_keras_gru_equals_fastgru(reset_after, use_bias):
    keras.utils.set_random_seed(0)
    k = keras.layers.GRU(5, reset_after=reset_after, use_bias=use_bias,
                         return_sequences=True, return_state=True,
                         bias_initializer="random_uniform")
    x = np.random.default_rng(0).normal(size=(3, 7, 4)).astype(np.float32)
    y_k, h_k = _keras_run(k, x)
    layer = fastgru.GRU.from_keras(k)
    assert layer.variant == ("torch" if reset_after else "cho")
    y, h_n = layer.forward(x)
    np.testing.assert_allclose(y, y_k, atol=1e-5)
    np.testing.assert_allclose(h_n[0], h_k, atol=1e-5)
    # the weight list gives the same layer
    again = fastgru.GRU.from_keras(k.get_weights(), reset_after=reset_after)
    np.testing.assert_array_equal(again.forward(x)[0], y)


def test_refuses_what_does_not_map():
    k = keras.layers.GRU(3, recurrent_activation="hard_sigmoid")
    k.build((None, 4, 2))
    with pytest.raises(ValueError, match="recurrent_activation='hard_sigmoid'"):
        fastgru.GRU.from_keras(k)
    k = keras.layers.GRU(3, activation="relu")
    k.build((None, 4, 2))
    with pytest.raises(ValueError, match="activation='relu'"):
        fastgru.GRU.from_keras(k)
    k = keras.layers.GRU(3, go_backwards=True)
    k.build((None, 4, 2))
    with pytest.raises(ValueError, match="go_backwards"):
        fastgru.GRU.from_keras(k)
    with pytest.raises(ValueError, match="LSTM"):
        fastgru.GRU.from_keras(keras.layers.LSTM(3))
    with pytest.raises(ValueError, match=r"bias is \(2, 9\)"):
        fastgru.GRU.from_keras([np.zeros((2, 9)), np.zeros((3, 9)), np.zeros(9)])
