"""ONNX export, run under the real onnxruntime: outputs equal fastgru's."""

import numpy as np
import pytest

import fastgru
from fastgru import GRUClassifier, GRURegressor

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


def _session(model):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("variant", ["torch", "cho"])
@pytest.mark.parametrize("num_layers,bidirectional", [(1, False), (2, True), (3, False)])
@pytest.mark.parametrize("with_lengths", [False, True])
def test_layer_matches_onnxruntime(variant, num_layers, bidirectional, with_lengths):
    layer = fastgru.GRU(4, 6, num_layers, bidirectional=bidirectional, variant=variant,
                        random_state=0)
    session = _session(layer.to_onnx(with_lengths=with_lengths))
    rng = np.random.default_rng(0)
    for batch, time in [(3, 7), (1, 2), (5, 11)]:  # dynamic batch and time
        x = rng.normal(size=(batch, time, 4)).astype(np.float32)
        feeds = {"x": x}
        lengths = None
        if with_lengths:
            lengths = rng.integers(1, time + 1, size=batch)
            lengths[0] = time
            feeds["lengths"] = lengths.astype(np.int32)
        y, h_n = session.run(["y", "h_n"], feeds)
        y_ref, h_ref = layer.forward(x, lengths=lengths)
        np.testing.assert_allclose(y, y_ref, atol=1e-5)
        np.testing.assert_allclose(h_n, h_ref, atol=1e-5)


def test_file_round_trip_and_refusals(tmp_path):
    layer = fastgru.GRU(2, 3, random_state=0)
    path = tmp_path / "gru.onnx"
    layer.to_onnx(str(path))
    x = np.ones((2, 4, 2), np.float32)
    y = _session(onnx.load(str(path))).run(["y"], {"x": x})[0]
    np.testing.assert_allclose(y, layer.forward(x)[0], atol=1e-6)
    for variant in ("gru1", "gru2", "gru3", "mgu"):
        with pytest.raises(ValueError, match="'torch' and 'cho' variants only"):
            fastgru.GRU(2, 3, variant=variant).to_onnx()


def test_regressor_and_classifier_graphs():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 8, 3))
    y = X[:, -1, 0]
    reg = GRURegressor(hidden_size=6, num_layers=2, max_epochs=3, random_state=0).fit(X, y)
    clf = GRUClassifier(hidden_size=5, bidirectional=True, variant="cho", max_epochs=3,
                        random_state=0).fit(X, np.digitize(y, [-0.5, 0.5]))
    x = X[:7].astype(np.float32)
    pred = _session(reg.to_onnx()).run(["predictions"], {"x": x})[0]
    np.testing.assert_allclose(pred, reg.predict(x), rtol=1e-5, atol=1e-5)
    proba = _session(clf.to_onnx()).run(["probabilities"], {"x": x})[0]
    np.testing.assert_allclose(proba, clf.predict_proba(x), atol=1e-6)
    # ragged batch through sequence_lens, and 2-D (univariate) input
    lengths = np.array([8, 3, 5, 1, 8, 2, 6])
    session = _session(clf.to_onnx(with_lengths=True))
    proba = session.run(["probabilities"], {"x": x, "lengths": lengths.astype(np.int32)})[0]
    ragged = [x[i, :n] for i, n in enumerate(lengths)]
    np.testing.assert_allclose(proba, clf.predict_proba(ragged), atol=1e-6)
    uni = GRURegressor(hidden_size=4, max_epochs=2, random_state=0).fit(X[:, :, 0], y)
    pred = _session(uni.to_onnx()).run(["predictions"], {"x": x[:, :, 0]})[0]
    np.testing.assert_allclose(pred, uni.predict(x[:, :, 0]), rtol=1e-5, atol=1e-5)
