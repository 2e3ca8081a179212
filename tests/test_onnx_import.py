"""GRU.from_onnx: ONNX's own GRU node tests, random one-node models against the
real onnxruntime, round trips through to_onnx and torch.onnx.export, and every
refusal naming what it refuses."""

import importlib
import io
import warnings

import numpy as np
import pytest

import fastgru

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


def _session(model):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def _node_test_cases():
    """ONNX's GRU node tests, built in memory by the onnx package (its
    ``onnx.backend.test.case.node.gru`` module runs every ``export_*`` at import)."""
    pkg = importlib.import_module("onnx.backend.test.case.node")
    name = "onnx.backend.test.case.node.gru"
    cases = [c for c in pkg._NodeTestCases if c.name.startswith("test_gru")]
    if not cases:
        previous, pkg._TargetOpType = pkg._TargetOpType, "GRU"
        try:
            importlib.import_module(name)
        finally:
            pkg._TargetOpType = previous
        cases = [c for c in pkg._NodeTestCases if c.name.startswith("test_gru")]
    if not cases:  # the module was imported before with another target
        cases = pkg.collect_testcases("GRU")
    return {c.name: c for c in cases}


def _with_weights_stored(model, feeds, names=("W", "R", "B")):
    """A copy of a node test's model whose weights are initializers (the node
    tests feed them as inputs, with the data set)."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    for name in names:
        if name in feeds:
            m.graph.initializer.append(numpy_helper.from_array(feeds[name], name))
    keep = [i for i in m.graph.input if i.name not in names]
    del m.graph.input[:]
    m.graph.input.extend(keep)
    return m


def _attrs(node):
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _onnx_outputs(layer, x_bf, h0, layout, lengths=None):
    """forward's (y, h_n) in a single GRU node's output layouts."""
    y, h_n = layer.forward(x_bf, h0=h0, lengths=lengths)
    B, T = y.shape[:2]
    y4 = y.reshape(B, T, layer.num_directions, layer.hidden_size)
    if layout == 1:
        return y4, h_n.transpose(1, 0, 2)
    return y4.transpose(1, 2, 0, 3), h_n


NODE_TESTS = ["test_gru_defaults", "test_gru_with_initial_bias", "test_gru_seq_length",
              "test_gru_batchwise", "test_gru_bidirectional"]


@pytest.mark.parametrize("name", NODE_TESTS)
def test_onnx_node_tests(name):
    case = _node_test_cases()[name]
    _check_node_case(case.model, *case.data_sets[0])


def _node_test_dirs():
    import pathlib

    root = pathlib.Path(onnx.__file__).parent / "backend" / "test" / "data" / "node"
    return sorted(p for p in root.glob("test_gru_*") if p.name != "test_gru_reverse")


@pytest.mark.skipif(not _node_test_dirs(), reason="this onnx release ships no node test data "
                    "directories (the in-memory cases above are the same tests)")
@pytest.mark.parametrize("directory", _node_test_dirs(), ids=lambda p: p.name)
def test_onnx_node_test_data_directories(directory):
    """Older onnx releases ship the node tests as model.onnx + test_data_set_0/*.pb."""

    def read(path):
        tensor = onnx.TensorProto()
        tensor.ParseFromString(path.read_bytes())
        return numpy_helper.to_array(tensor)

    data = directory / "test_data_set_0"
    inputs = [read(p) for p in sorted(data.glob("input_*.pb"))]
    expected = [read(p) for p in sorted(data.glob("output_*.pb"))]
    _check_node_case(onnx.load(str(directory / "model.onnx")), inputs, expected)


def _check_node_case(model, inputs, expected):
    feeds = dict(zip([i.name for i in model.graph.input], inputs))
    layer = fastgru.GRU.from_onnx(_with_weights_stored(model, feeds))
    node = model.graph.node[0]
    layout = _attrs(node).get("layout", 0)
    x = feeds["X"] if layout == 1 else feeds["X"].transpose(1, 0, 2)
    y, h = _onnx_outputs(layer, x, None, layout)
    produced = dict(zip([o for o in node.output if o], expected))
    assert produced  # every case checks at least Y_h
    if "Y" in produced:
        np.testing.assert_allclose(y, produced["Y"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h, produced["Y_h"], rtol=1e-5, atol=1e-6)


def test_onnx_node_test_reverse_is_refused_and_the_documented_workaround_holds():
    case = _node_test_cases()["test_gru_reverse"]
    inputs, (y_expected, h_expected) = case.data_sets[0]
    feeds = dict(zip([i.name for i in case.model.graph.input], inputs))
    model = _with_weights_stored(case.model, feeds)
    with pytest.raises(ValueError, match="direction='reverse'"):
        fastgru.GRU.from_onnx(model)
    # the message's advice: the same weights forward, on sequences reversed in time
    for attr in model.graph.node[0].attribute:
        if attr.name == "direction":
            attr.s = b"forward"
    layer = fastgru.GRU.from_onnx(model)
    x = feeds["X"].transpose(1, 0, 2)[:, ::-1]
    y, h_n = layer.forward(np.ascontiguousarray(x))
    np.testing.assert_allclose(y[:, ::-1].transpose(1, 0, 2)[:, None], y_expected, atol=1e-6)
    np.testing.assert_allclose(h_n, h_expected, atol=1e-6)


def _one_node_model(rng, I, H, *, lbr, bidirectional, layout, with_bias, with_lengths,
                    h0_kind, batch):
    D = 2 if bidirectional else 1
    W = rng.normal(scale=0.6, size=(D, 3 * H, I)).astype(np.float32)
    R = rng.normal(scale=0.6, size=(D, 3 * H, H)).astype(np.float32)
    inits = [numpy_helper.from_array(W, "W"), numpy_helper.from_array(R, "R")]
    names = ["X", "W", "R", "", "", ""]
    if with_bias:
        inits.append(numpy_helper.from_array(
            rng.normal(scale=0.6, size=(D, 6 * H)).astype(np.float32), "B"))
        names[3] = "B"
    x_shape = ["batch", "time", I] if layout else ["time", "batch", I]
    inputs = [helper.make_tensor_value_info("X", TensorProto.FLOAT, x_shape)]
    if with_lengths:
        names[4] = "sequence_lens"
        inputs.append(helper.make_tensor_value_info("sequence_lens", TensorProto.INT32,
                                                    ["batch"]))
    h0 = None
    if h0_kind != "none":
        names[5] = "initial_h"
        h0 = rng.normal(size=(D, batch, H)).astype(np.float32)
        stored = h0.transpose(1, 0, 2) if layout else h0
        if h0_kind == "input":
            shape = ["batch", D, H] if layout else [D, "batch", H]
            inputs.append(helper.make_tensor_value_info("initial_h", TensorProto.FLOAT, shape))
        else:
            inits.append(numpy_helper.from_array(np.ascontiguousarray(stored), "initial_h"))
    while names[-1] == "":
        names.pop()
    node = helper.make_node("GRU", names, ["Y", "Y_h"], hidden_size=H, layout=layout,
                            linear_before_reset=lbr,
                            direction="bidirectional" if bidirectional else "forward")
    graph = helper.make_graph([node], "g", inputs,
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None),
                               helper.make_tensor_value_info("Y_h", TensorProto.FLOAT, None)],
                              initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model, h0


def test_random_one_node_models_equal_onnxruntime():
    """Layout 0 against onnxruntime; layout 1, which onnxruntime's CPU GRU
    refuses, against ONNX's reference evaluator."""
    rng = np.random.default_rng(21)
    configs = []
    for lbr in (0, 1):
        for bidirectional in (False, True):
            for layout in (0, 1):
                configs.append((lbr, bidirectional, layout))
    for k, (lbr, bidirectional, layout) in enumerate(configs):
        I, H = int(rng.integers(1, 8)) * 2 + 1, int(rng.integers(1, 9)) * 2 + 1  # odd sizes
        batch, time = int(rng.integers(1, 6)), int(rng.integers(1, 9))
        with_lengths = layout == 0 and (k // 2) % 2 == 0  # the reference: no lengths
        h0_kind = ("none", "input", "initializer")[k % 3]
        model, h0 = _one_node_model(rng, I, H, lbr=lbr, bidirectional=bidirectional,
                                    layout=layout, with_bias=k % 4 != 3,
                                    with_lengths=with_lengths, h0_kind=h0_kind, batch=batch)
        x = rng.normal(size=(batch, time, I)).astype(np.float32)
        feeds = {"X": x if layout else x.transpose(1, 0, 2).copy()}
        lengths = None
        if with_lengths:
            lengths = rng.integers(1, time + 1, size=batch)
            feeds["sequence_lens"] = lengths.astype(np.int32)
        if h0_kind == "input":
            feeds["initial_h"] = h0.transpose(1, 0, 2).copy() if layout else h0
        if layout == 0:
            y_ort, h_ort = _session(model).run(["Y", "Y_h"], feeds)
        else:  # onnxruntime refuses layout=1 ("not supported"): ONNX's reference runs it
            from onnx.reference import ReferenceEvaluator

            y_ort, h_ort = ReferenceEvaluator(model).run(["Y", "Y_h"], feeds)
        layer, h0_read = fastgru.GRU.from_onnx(model, return_initial_h=True)
        assert layer.variant == ("torch" if lbr else "cho")
        assert layer.bidirectional == bidirectional and layer.bias == (k % 4 != 3)
        if h0_kind == "initializer":
            np.testing.assert_array_equal(h0_read, h0)
        else:
            assert h0_read is None
        y, h_n = _onnx_outputs(layer, x, h0, layout, lengths)
        np.testing.assert_allclose(y, y_ort, atol=1e-5, err_msg=str((k, lbr, bidirectional)))
        np.testing.assert_allclose(h_n, h_ort, atol=1e-5)


@pytest.mark.parametrize("variant,num_layers,bidirectional,bias",
                         [("torch", 1, False, True), ("cho", 3, False, False),
                          ("torch", 2, True, True), ("cho", 2, True, True)])
def test_round_trip_through_to_onnx_is_exact(variant, num_layers, bidirectional, bias):
    layer = fastgru.GRU(5, 7, num_layers, bidirectional=bidirectional, variant=variant,
                        bias=bias, random_state=3)
    model = layer.to_onnx(with_lengths=True, with_initial_h=True)
    again = fastgru.GRU.from_onnx(model.SerializeToString())
    assert repr(again) == repr(layer)
    assert again.params.keys() == layer.params.keys()
    for name, p in layer.params.items():
        np.testing.assert_array_equal(again.params[name], p, err_msg=name)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 6, 5)).astype(np.float32)
    h0 = rng.normal(size=(num_layers * layer.num_directions, 3, 7)).astype(np.float32)
    for a, b in zip(layer.forward(x, h0=h0), again.forward(x, h0=h0)):
        np.testing.assert_array_equal(a, b)


def test_float64_graph_imports_as_float32_or_as_asked(tmp_path):
    """A float64 layer's exported graph keeps float32 weights: it imports as a
    float32 layer, or as float64 with ``dtype=``."""
    layer64 = fastgru.GRU(3, 4, num_layers=2, bidirectional=True, dtype="float64",
                          random_state=0)
    model = layer64.to_onnx(str(tmp_path / "gru64.onnx"), with_initial_h=True)
    again = fastgru.GRU.from_onnx(str(tmp_path / "gru64.onnx"))
    assert again.dtype == np.float32
    np.testing.assert_array_equal(again.params["weight_hh_l1"],
                                  layer64.params["weight_hh_l1"].astype(np.float32))
    assert fastgru.GRU.from_onnx(model, dtype="float64").dtype == np.float64


def _torch_export(module, x, dynamo, dynamic=False):
    torch = pytest.importorskip("torch")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dynamo:
            pytest.importorskip("onnxscript")
            shapes = None
            if dynamic:
                shapes = ({0: torch.export.Dim("batch"), 1: torch.export.Dim("time")},)
            program = torch.onnx.export(module, (x,), dynamo=True, verbose=False,
                                        dynamic_shapes=shapes)
            return program.model_proto
        buffer = io.BytesIO()
        torch.onnx.export(module, (x,), buffer, dynamo=False, input_names=["x"],
                          output_names=["y", "h_n"])
        return onnx.load_from_string(buffer.getvalue())


@pytest.mark.slow
@pytest.mark.parametrize("dynamo,dynamic", [(False, False), (True, False), (True, True)],
                         ids=["torchscript", "dynamo", "dynamo-dynamic-shapes"])
def test_torch_export_imports_equal_to_torch(dynamo, dynamic):
    """Both exporters of torch 2.13 write one GRU node per layer with
    linear_before_reset=1; dynamo with dynamic shapes computes the Reshape
    between layers from Shape/Slice/Mul/Concat, which the stack check evaluates."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    module = torch.nn.GRU(3, 5, num_layers=2, bidirectional=True, batch_first=True).eval()
    x = torch.randn(2, 4, 3)
    model = _torch_export(module, x, dynamo, dynamic)
    assert model.producer_name == "pytorch"
    layer = fastgru.GRU.from_onnx(model)
    assert layer.variant == "torch" and layer.num_layers == 2 and layer.bidirectional
    if dynamic:  # another batch and time than exported with
        x = torch.randn(3, 7, 3)
    with torch.no_grad():
        y_t, h_t = module(x)
    y, h_n = layer.forward(x.numpy())
    np.testing.assert_allclose(y, y_t.numpy(), atol=1e-5)
    np.testing.assert_allclose(h_n, h_t.numpy(), atol=1e-5)
    # an export that says linear_before_reset=0 does not compute nn.GRU: warned
    for node in model.graph.node:
        for attr in node.attribute:
            if attr.name == "linear_before_reset":
                attr.i = 0
    with pytest.warns(UserWarning, match="189225"):
        assert fastgru.GRU.from_onnx(model).variant == "cho"


def test_torch_unidirectional_stack_legacy_export():
    torch = pytest.importorskip("torch")
    torch.manual_seed(1)
    module = torch.nn.GRU(4, 3, num_layers=3, batch_first=True).eval()
    x = torch.randn(3, 5, 4)
    layer = fastgru.GRU.from_onnx(_torch_export(module, x, dynamo=False))
    with torch.no_grad():
        y_t, h_t = module(x)
    y, h_n = layer.forward(x.numpy())
    np.testing.assert_allclose(y, y_t.numpy(), atol=1e-5)
    np.testing.assert_allclose(h_n, h_t.numpy(), atol=1e-5)


def _set_attr(model, **values):
    node = model.graph.node[0]
    keep = [a for a in node.attribute if a.name not in values]
    del node.attribute[:]
    node.attribute.extend(keep)
    for key, value in values.items():
        node.attribute.append(helper.make_attribute(key, value))
    return model


def _small_model(**kw):
    defaults = dict(lbr=1, bidirectional=False, layout=0, with_bias=True, with_lengths=False,
                    h0_kind="none", batch=2)
    defaults.update(kw)
    return _one_node_model(np.random.default_rng(0), 3, 4, **defaults)[0]


@pytest.mark.parametrize("attribute,value", [
    ("clip", 3.0),
    ("activations", ["Sigmoid", "Relu"]),
    ("activations", ["HardSigmoid", "Tanh"]),
    ("activation_alpha", [0.5]),
    ("activation_beta", [0.1]),
    ("direction", "reverse"),
    ("layout", 2),
    ("hidden_size", 5),
    ("output_padding", 1),
])
def test_refused_attributes_are_named(attribute, value):
    model = _set_attr(_small_model(), **{attribute: value})
    with pytest.raises(ValueError, match=attribute):
        fastgru.GRU.from_onnx(model)


def test_default_activations_spelled_out_are_accepted():
    model = _set_attr(_small_model(bidirectional=True),
                      activations=["Sigmoid", "Tanh", "Sigmoid", "Tanh"])
    assert fastgru.GRU.from_onnx(model).bidirectional


def _replace_init(model, name, array):
    for i, t in enumerate(model.graph.initializer):
        if t.name == name:
            model.graph.initializer[i].CopyFrom(numpy_helper.from_array(array, name))
    return model


def test_untrusted_values_are_checked(tmp_path):
    bad = np.zeros((1, 12, 3), np.float32)
    bad[0, 2, 1] = np.nan
    with pytest.raises(ValueError, match="input W contains NaN or inf"):
        fastgru.GRU.from_onnx(_replace_init(_small_model(), "W", bad))
    with pytest.raises(ValueError, match=r"input W has shape \(1, 9, 3\)"):
        fastgru.GRU.from_onnx(_replace_init(_small_model(), "W", np.zeros((1, 9, 3), np.float32)))
    with pytest.raises(ValueError, match=r"input R has shape"):
        fastgru.GRU.from_onnx(_replace_init(_small_model(), "R", np.zeros((1, 12, 5), np.float32)))
    with pytest.raises(ValueError, match=r"input B has shape"):
        fastgru.GRU.from_onnx(_replace_init(_small_model(), "B", np.zeros((1, 7), np.float32)))
    with pytest.raises(ValueError, match="ONNX type INT32"):
        fastgru.GRU.from_onnx(_replace_init(_small_model(), "B", np.zeros((1, 24), np.int32)))
    with pytest.raises(ValueError, match="different types"):
        fastgru.GRU.from_onnx(_replace_init(_small_model(), "B", np.zeros((1, 24))))
    # raw bytes that do not match the declared shape
    model = _small_model()
    model.graph.initializer[0].raw_data = model.graph.initializer[0].raw_data[:-4]
    with pytest.raises(ValueError, match="cannot be read"):
        fastgru.GRU.from_onnx(model)
    # weights fed at run time, not stored
    model = _small_model()
    w = [t for t in model.graph.initializer if t.name == "W"][0]
    model.graph.initializer.remove(w)
    model.graph.input.append(helper.make_tensor_value_info("W", TensorProto.FLOAT, [1, 12, 3]))
    with pytest.raises(ValueError, match="input W .* is a graph input"):
        fastgru.GRU.from_onnx(model)
    with pytest.raises(ValueError, match="not a readable ONNX model"):
        fastgru.GRU.from_onnx(b"\x08\x07garbage\xff\xff")
    path = tmp_path / "junk.onnx"
    path.write_bytes(b"not a model at all" * 10)
    with pytest.raises(ValueError, match="not a readable ONNX model"):
        fastgru.GRU.from_onnx(str(path))
    with pytest.raises(TypeError, match="from_onnx expects"):
        fastgru.GRU.from_onnx(12)
    # a graph without GRU
    graph = helper.make_graph([helper.make_node("Relu", ["a"], ["b"])], "g",
                              [helper.make_tensor_value_info("a", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("b", TensorProto.FLOAT, [1])])
    with pytest.raises(ValueError, match="no GRU node"):
        fastgru.GRU.from_onnx(helper.make_model(graph))


def test_initial_state_constant_needs_return_initial_h():
    model = _small_model(h0_kind="initializer")
    with pytest.raises(ValueError, match="initial_h is a non-zero constant"):
        fastgru.GRU.from_onnx(model)
    layer, h0 = fastgru.GRU.from_onnx(model, return_initial_h=True)
    assert h0.shape == (1, 2, 4)
    # an all-zero constant is the default state: nothing to return
    model = _replace_init(model, "initial_h", np.zeros((1, 2, 4), np.float32))
    assert fastgru.GRU.from_onnx(model, return_initial_h=True)[1] is None
    nan_h = np.zeros((1, 2, 4), np.float32)
    nan_h[0, 1, 2] = np.inf
    with pytest.raises(ValueError, match="NaN or inf"):
        fastgru.GRU.from_onnx(_replace_init(model, "initial_h", nan_h))


def _two_node_graph(between):
    """Two GRU nodes (bidirectional, H=4); ``between`` makes the second's X from
    the first's Y: a list of (op_type, extra inputs, attributes)."""
    rng = np.random.default_rng(0)
    inits, nodes = [], []
    for k, I in enumerate((3, 8)):
        for tag, shape in (("W", (2, 12, I)), ("R", (2, 12, 4))):
            inits.append(numpy_helper.from_array(
                rng.normal(size=shape).astype(np.float32), f"{tag}{k}"))
    inits.append(numpy_helper.from_array(np.array([0, 0, -1], np.int64), "shape"))
    nodes.append(helper.make_node("GRU", ["X", "W0", "R0"], ["Y0"], name="first",
                                  hidden_size=4, direction="bidirectional"))
    current = "Y0"
    for i, (op, extra, attrs) in enumerate(between):
        nodes.append(helper.make_node(op, [current, *extra], [f"m{i}"], **attrs))
        current = f"m{i}"
    nodes.append(helper.make_node("GRU", [current, "W1", "R1"], ["Y1"], name="second",
                                  hidden_size=4, direction="bidirectional"))
    graph = helper.make_graph(nodes, "g",
                              [helper.make_tensor_value_info("X", TensorProto.FLOAT,
                                                             ["T", "B", 3])],
                              [helper.make_tensor_value_info("Y1", TensorProto.FLOAT, None)],
                              initializer=inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_stacks_are_checked_and_single_nodes_can_be_picked():
    good = _two_node_graph([("Transpose", [], {"perm": [0, 2, 1, 3]}),
                            ("Reshape", ["shape"], {})])
    layer = fastgru.GRU.from_onnx(good)
    assert layer.num_layers == 2 and layer.bidirectional
    # the directions' outputs interleaved wrongly: not a stacked GRU
    wrong = _two_node_graph([("Reshape", ["shape"], {})])
    with pytest.raises(ValueError, match="another arrangement"):
        fastgru.GRU.from_onnx(wrong)
    # but each node alone is a layer
    second = fastgru.GRU.from_onnx(wrong, node="second")
    assert second.input_size == 8 and second.num_layers == 1
    assert fastgru.GRU.from_onnx(wrong, node=0).input_size == 3
    with pytest.raises(ValueError, match="no GRU node of that name"):
        fastgru.GRU.from_onnx(wrong, node="third")
    with pytest.raises(ValueError, match="has 2 GRU node"):
        fastgru.GRU.from_onnx(wrong, node=5)
    with pytest.raises(TypeError, match="node must be"):
        fastgru.GRU.from_onnx(wrong, node=1.5)
    # a second node that does not read the first one's output
    apart = _two_node_graph([("Transpose", [], {"perm": [0, 2, 1, 3]}),
                             ("Reshape", ["shape"], {}), ("Relu", [], {})])
    with pytest.raises(ValueError, match="not one stack"):
        fastgru.GRU.from_onnx(apart)
