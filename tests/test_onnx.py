"""ONNX export (``to_onnx`` of the layer and the estimators; fastgru.interop.onnx_export), run
under the real onnxruntime: outputs equal fastgru's."""

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
@pytest.mark.parametrize("inputs", ["x", "x+lengths", "x+lengths+h0"])
def test_layer_matches_onnxruntime(variant, num_layers, bidirectional, inputs):
    layer = fastgru.GRU(4, 6, num_layers, bidirectional=bidirectional, variant=variant,
                        random_state=0)
    with_lengths, with_initial_h = "lengths" in inputs, "h0" in inputs
    session = _session(layer.to_onnx(with_lengths=with_lengths, with_initial_h=with_initial_h))
    rng = np.random.default_rng(0)
    for batch, time in [(3, 7), (1, 2), (5, 11)]:  # dynamic batch and time
        x = rng.normal(size=(batch, time, 4)).astype(np.float32)
        feeds = {"x": x}
        lengths = h0 = None
        if with_lengths:
            lengths = rng.integers(1, time + 1, size=batch)
            lengths[0] = time
            feeds["lengths"] = lengths.astype(np.int32)
        if with_initial_h:
            h0 = rng.normal(size=(num_layers * layer.num_directions, batch, 6))
            feeds["h0"] = h0 = h0.astype(np.float32)
        y, h_n = session.run(["y", "h_n"], feeds)
        y_ref, h_ref = layer.forward(x, h0=h0, lengths=lengths)
        np.testing.assert_allclose(y, y_ref, atol=1e-5)
        np.testing.assert_allclose(h_n, h_ref, atol=1e-5)


def test_float64_graphs_run_in_onnxruntime(tmp_path):
    """A float32 graph refuses float64 input; a float64 layer's graph (or any
    layer's, with ``dtype="float64"``) takes and returns float64, computed in
    float32."""
    layer = fastgru.GRU(3, 4, num_layers=2, bidirectional=True, random_state=0)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 5, 3)).astype(np.float32)
    h0 = rng.normal(size=(4, 2, 4)).astype(np.float32)
    session = _session(layer.to_onnx())
    y_ref = layer.forward(x)[0]
    with pytest.raises(Exception, match="(?i)type"):  # onnxruntime's own type error
        session.run(["y"], {"x": x.astype(np.float64)})
    layer64 = fastgru.GRU(3, 4, num_layers=2, bidirectional=True, dtype="float64",
                          random_state=0)
    model = layer64.to_onnx(str(tmp_path / "gru64.onnx"), with_initial_h=True)
    x64, h64 = x.astype(np.float64), h0.astype(np.float64)
    y, h_n = _session(model).run(["y", "h_n"], {"x": x64, "h0": h64})
    assert y.dtype == np.float64 and h_n.dtype == np.float64
    np.testing.assert_allclose(y, layer64.forward(x64, h0=h64)[0], atol=1e-5)
    y = _session(layer.to_onnx(dtype="float64")).run(["y"], {"x": x64})[0]
    np.testing.assert_allclose(y, y_ref, atol=1e-6)
    with pytest.raises(ValueError, match="dtype"):
        layer.to_onnx(dtype="int8")


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
