"""fastgru.interop reads a layer through its public state only: the exports
of an object that has nothing but ``get_config()`` and ``params`` equal the
layer's own."""

import os

import numpy as np
import pytest

import fastgru


class _StateOnly:
    """A layer's configuration and parameters, and nothing else of it."""

    def __init__(self, layer):
        self._config = layer.get_config()
        self.params = {k: v.copy() for k, v in layer.params.items()}

    def get_config(self):
        return dict(self._config)


@pytest.fixture
def layer():
    return fastgru.GRU(3, 5, num_layers=2, bidirectional=True, random_state=0)


def test_config_round_trip(layer):
    again = fastgru.GRU.from_config(layer.get_config(), layer.params)
    assert again.get_config() == layer.get_config()
    x = np.random.default_rng(1).normal(size=(2, 4, 3)).astype(np.float32)
    np.testing.assert_array_equal(again.forward(x)[0], layer.forward(x)[0])
    with pytest.raises(ValueError, match="config must be a dict with keys"):
        fastgru.GRU.from_config({"input_size": 3})


def test_onnx_export_reads_the_state_only(layer):
    pytest.importorskip("onnx")
    from fastgru.interop.onnx_export import to_onnx

    assert (to_onnx(_StateOnly(layer), with_lengths=True).SerializeToString()
            == layer.to_onnx(with_lengths=True).SerializeToString())


def test_torch_export_reads_the_state_only(layer):
    torch = pytest.importorskip("torch")
    from fastgru.interop.torch import to_torch

    layer = fastgru.GRU(3, 5, num_layers=2, random_state=0)
    module = to_torch(_StateOnly(layer))
    for name, value in layer.params.items():
        assert torch.equal(getattr(module, name), torch.from_numpy(value))


def test_keras_export_reads_the_state_only(layer):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    pytest.importorskip("keras")
    from fastgru.interop.keras import to_keras

    ours, theirs = to_keras(_StateOnly(layer)), layer.to_keras()
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert len(ours.get_weights()) == 2 * 2 * 3  # layers, directions, arrays


@pytest.mark.parametrize("exporter", ["onnx", "torch", "keras"])
def test_exports_refuse_a_configuration_its_arrays_do_not_fit(exporter):
    """Arrays of another size than the configuration says: an ONNX export
    would be written whole and fail only in the runtime that loads it."""
    if exporter == "keras":
        os.environ.setdefault("KERAS_BACKEND", "torch")
    pytest.importorskip(exporter)
    from fastgru.interop import keras, onnx_export, torch

    export = {"onnx": onnx_export.to_onnx, "torch": torch.to_torch,
              "keras": keras.to_keras}[exporter]
    state = _StateOnly(fastgru.GRU(3, 4, random_state=0))
    state.params = {k: v.copy() for k, v in fastgru.GRU(3, 8, random_state=0).params.items()}
    with pytest.raises(ValueError, match=r"params\['weight_ih_l0'\] has shape \(24, 3\)"):
        export(state)
