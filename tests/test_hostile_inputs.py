"""Hostile inputs to the readers and entry points that take data from outside:
crafted ONNX models (an ONNX file is untrusted input on a server), the gufunc's
helpers and fastgru.dask's arguments. Every case must end in a ValueError or
TypeError naming the problem, never another exception, a crash, unbounded
memory or a read of a file the caller did not name.

Each test is a pure-function check (no kernel is compiled, no cluster started).
"""

import os

import numpy as np
import pytest

import fastgru

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


def _model(*, W=None, R=None, attrs=None, nodes=(), inits=(), inputs=None, H=4, I=3):
    """One GRU node (X, W, R) with W and R as initializers (TensorProto or array)."""
    rng = np.random.default_rng(0)
    tensors = []
    for name, value, shape in (("W", W, (1, 3 * H, I)), ("R", R, (1, 3 * H, H))):
        if value is None:
            value = rng.normal(size=shape).astype(np.float32)
        tensor = value if isinstance(value, onnx.TensorProto) else numpy_helper.from_array(value)
        tensor.name = name
        tensors.append(tensor)
    node = helper.make_node("GRU", inputs or ["X", "W", "R"], ["Y", "Y_h"],
                            **({"hidden_size": H} if attrs is None else attrs))
    graph = helper.make_graph(
        [*nodes, node], "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["T", "B", I])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)],
        initializer=tensors + list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _two_nodes(between, inits=()):
    """Two bidirectional GRU nodes (H=4); ``between`` are the nodes making the
    second one's input ``m`` from the first one's output ``Y0``."""
    rng = np.random.default_rng(0)
    tensors = [numpy_helper.from_array(rng.normal(size=shape).astype(np.float32), name)
               for name, shape in (("W0", (2, 12, 3)), ("R0", (2, 12, 4)),
                                   ("W1", (2, 12, 8)), ("R1", (2, 12, 4)))]
    nodes = [helper.make_node("GRU", ["X", "W0", "R0"], ["Y0"], hidden_size=4,
                              direction="bidirectional"), *between,
             helper.make_node("GRU", ["m", "W1", "R1"], ["Y1"], hidden_size=4,
                              direction="bidirectional")]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["T", "B", 3])],
        [helper.make_tensor_value_info("Y1", TensorProto.FLOAT, None)],
        initializer=tensors + list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _ints(name, values):
    return numpy_helper.from_array(np.asarray(values, dtype=np.int64), name)


def _transposed_then(*nodes):
    """Y0 (T, 2, B, 4) -> (T, B, 2, 4), then ``nodes`` ending in ``m``."""
    return [helper.make_node("Transpose", ["Y0"], ["t"], perm=[0, 2, 1, 3]), *nodes]


# ------------------------------------------------------------- the ops between
# nodes of a stack: from_onnx evaluates them on small arrays to check the stack


def test_stack_check_refuses_a_broadcast_that_would_allocate_gigabytes():
    # (65536, 1) * (1, 65536) int64: 32 GiB if computed; the inputs are 1 MiB
    between = _transposed_then(helper.make_node("Mul", ["a", "b"], ["s"]),
                               helper.make_node("Reshape", ["t", "s"], ["m"]))
    model = _two_nodes(between, [_ints("a", np.ones((65536, 1))),
                                 _ints("b", np.ones((1, 65536)))])
    with pytest.raises(ValueError, match="Mul makes too large a tensor"):
        fastgru.GRU.from_onnx(model)
    # the same through a Concat of one constant repeated many times
    big = _ints("c", np.zeros(1 << 21))
    between = _transposed_then(helper.make_node("Concat", ["c"] * 64, ["s"], axis=0),
                               helper.make_node("Reshape", ["t", "s"], ["m"]))
    with pytest.raises(ValueError, match="Concat makes too large a tensor"):
        fastgru.GRU.from_onnx(_two_nodes(between, [big]))


@pytest.mark.parametrize("between,inits,match", [
    # a Reshape without its shape input
    (_transposed_then(helper.make_node("Reshape", ["t"], ["m"])), [], "Reshape node"),
    (_transposed_then(helper.make_node("Reshape", ["t", ""], ["m"])), [], "Reshape node"),
    # shape arithmetic with a missing operand, an index out of range, a bad attribute
    (_transposed_then(helper.make_node("Mul", ["s0"], ["s"]),
                      helper.make_node("Reshape", ["t", "s"], ["m"])),
     [_ints("s0", [0, 0, -1])], "Mul node"),
    (_transposed_then(helper.make_node("Gather", ["s0", "i"], ["s"]),
                      helper.make_node("Reshape", ["t", "s"], ["m"])),
     [_ints("s0", [0, 0, -1]), _ints("i", [99])], "Gather node"),
    (_transposed_then(helper.make_node("Slice", ["s0"], ["s"]),
                      helper.make_node("Reshape", ["t", "s"], ["m"])),
     [_ints("s0", [0, 0, -1])], "Slice node"),
    (_transposed_then(helper.make_node("Shape", ["t"], ["s"], start="x"),
                      helper.make_node("Reshape", ["t", "s"], ["m"])), [], "Shape node"),
    # a shape of strings or of floats (ONNX's Reshape takes int64)
    (_transposed_then(helper.make_node("Reshape", ["t", "s"], ["m"])),
     [helper.make_tensor("s", TensorProto.STRING, [3], [b"a", b"b", b"c"])], "integer"),
    (_transposed_then(helper.make_node("Reshape", ["t", "s"], ["m"])),
     [numpy_helper.from_array(np.array([0.5, 0, -1], np.float32), "s")], "integer"),
])
def test_stack_check_names_the_node_it_cannot_evaluate(between, inits, match):
    with pytest.raises(ValueError, match=match):
        fastgru.GRU.from_onnx(_two_nodes(between, inits))


# -------------------------------------------------------- attributes and values


@pytest.mark.parametrize("attrs,match", [
    ({"hidden_size": 4, "linear_before_reset": "yes"}, "linear_before_reset .*STRING"),
    ({"hidden_size": 4, "linear_before_reset": 0.5}, "linear_before_reset .*FLOAT"),
    ({"hidden_size": 4, "layout": 1.0}, "layout .*FLOAT"),
    ({"hidden_size": "four"}, "hidden_size .*STRING"),
    ({"hidden_size": 4, "direction": 1}, "direction .*INT"),
])
def test_attributes_of_the_wrong_type_are_named(attrs, match):
    with pytest.raises(ValueError, match=match):
        fastgru.GRU.from_onnx(_model(attrs=attrs))


def test_negative_dims_are_refused():
    R = TensorProto(name="R", data_type=TensorProto.FLOAT, dims=[-1, 12, 4],
                    raw_data=np.zeros(48, np.float32).tobytes())
    with pytest.raises(ValueError, match="negative"):
        fastgru.GRU.from_onnx(_model(R=R))


def test_a_constant_node_whose_value_is_not_a_tensor_is_not_a_weight():
    node = helper.make_node("Constant", [], ["Wc"])
    node.attribute.append(helper.make_attribute("value", 5))  # an INT, not a tensor
    with pytest.raises(ValueError, match="input W .*Constant"):
        fastgru.GRU.from_onnx(_model(nodes=[node], inputs=["X", "Wc", "R"]))


# ------------------------------------------------------------------- the file


def _external(location):
    model = _model()
    tensor = model.graph.initializer[0]
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", "144")):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    return model


@pytest.mark.parametrize("location", ["/etc/passwd", "../../../../etc/passwd", "secret.bin"])
def test_external_data_named_in_a_file_is_not_read(tmp_path, location):
    # a file next to the model, that the model (not the caller) names
    (tmp_path / "secret.bin").write_bytes(np.arange(36, dtype=np.float32).tobytes())
    path = tmp_path / "model.onnx"
    path.write_bytes(_external(location).SerializeToString())
    for source in (path, str(path), path.read_bytes()):
        with pytest.raises(ValueError, match="external file .*onnx.load"):
            fastgru.GRU.from_onnx(source)
    # the caller can opt in: onnx.load reads external data inside the model's directory
    if location == "secret.bin":
        layer = fastgru.GRU.from_onnx(onnx.load(str(path)))
        assert layer.input_size == 3


def test_a_directory_or_a_device_is_not_a_model(tmp_path):
    with pytest.raises(ValueError, match="not a regular file"):
        fastgru.GRU.from_onnx(tmp_path)
    if os.path.exists("/dev/zero"):  # read to the end, it would never end
        with pytest.raises(ValueError, match="not a regular file"):
            fastgru.GRU.from_onnx("/dev/zero")


# ---------------------------------------------------------------------- gufunc


def test_cell_arrays_checks_its_indices():
    from fastgru import gufunc

    layer = fastgru.GRU(3, 4, num_layers=2, bidirectional=True)
    with pytest.raises(TypeError, match="layer_index must be an integer"):
        gufunc.cell_arrays(layer, 0.5)
    with pytest.raises(TypeError, match="direction must be an integer"):
        gufunc.cell_arrays(layer, 0, True)
    with pytest.raises(ValueError, match="layer_index must be in 0..1"):
        gufunc.cell_arrays(layer, 2)
    assert gufunc.cell_arrays(layer, np.int64(1), 1)[0].shape == (12, 8)


# ------------------------------------------------------------------------ dask


def test_dask_warmup_arguments_are_checked_before_reaching_the_workers():
    fastgru_dask = pytest.importorskip("fastgru.dask")
    # a string is not a sequence of dtypes: it would warm 'f', 'l', 'o', ...
    for bad in ("float32", ["float16"]):
        with pytest.raises((TypeError, ValueError), match="dtype"):
            fastgru_dask.WarmupPlugin(dtypes=bad)
        with pytest.raises((TypeError, ValueError), match="dtype"):
            fastgru_dask.warm_workers(None, dtypes=bad)
    for bad in (0, -2, 1.5, True):
        with pytest.raises((TypeError, ValueError), match="num_threads"):
            fastgru_dask.WarmupPlugin(num_threads=bad)
        with pytest.raises((TypeError, ValueError), match="num_threads"):
            fastgru_dask.warm_workers(None, num_threads=bad)
    for bad in ("no", 1, None):  # "no" would warm the training kernels
        with pytest.raises(TypeError, match="training"):
            fastgru_dask.WarmupPlugin(training=bad)
        with pytest.raises(TypeError, match="training"):
            fastgru_dask.warm_workers(None, training=bad)
    assert fastgru_dask.WarmupPlugin(dtypes=["float64"], num_threads=2).dtypes == ("float64",)


def test_fit_forecasters_refuses_a_list_it_would_transpose():
    fastgru_dask = pytest.importorskip("fastgru.dask")
    t = np.arange(60.0)
    # read as a 2-D array, a list of one series is 60 series of one step each
    with pytest.raises(TypeError, match="series must be a dict"):
        fastgru_dask.fit_forecasters([np.sin(t)], window=8, scheduler="sync")
    with pytest.raises(TypeError, match="return_models must be a bool"):
        fastgru_dask.fit_forecasters({"a": np.sin(t)}, return_models="no", window=8,
                                     scheduler="sync")


def test_fit_forecasters_refuses_a_long_frame_and_checks_steps_before_fitting():
    """Read column by column, a long frame's ids, dates and values would each
    be fitted as a series, and two columns of one name share one result; a
    forecast longer than predict allows would fail in every task after its
    fit."""
    fastgru_dask = pytest.importorskip("fastgru.dask")
    pd = pytest.importorskip("pandas")
    t = np.arange(40)
    long = pd.DataFrame({"unique_id": np.repeat(["a", "b"], 40), "ds": np.tile(t, 2),
                         "y": np.r_[np.sin(t), np.cos(t)]})
    with pytest.raises(TypeError, match="long DataFrame") as refused:
        fastgru_dask.fit_forecasters(long, window=8, scheduler="sync")
    # what the message says to pass keeps each series' dates
    df = long.assign(ds=np.tile(pd.date_range("2000-01-01", periods=40, freq="MS"), 2))
    said = "{k: g.set_index('ds')['y'] for k, g in df.sort_values('ds').groupby('unique_id')}"
    assert said in str(refused.value)
    res = fastgru_dask.fit_forecasters(eval(said, {"df": df}), forecast_steps=2, window=8,
                                       horizon=2, hidden_size=4, max_epochs=1, random_state=0,
                                       scheduler="sync")
    assert list(res.forecasts["b"].index) == list(pd.date_range("2003-05-01", periods=2,
                                                                freq="MS"))
    twice = pd.DataFrame(np.c_[np.sin(t), np.cos(t)], columns=["a", "a"])
    with pytest.raises(ValueError, match=r"columns of the same name \['a'\]"):
        fastgru_dask.fit_forecasters(twice, window=8, scheduler="sync")  # one result kept
    with pytest.raises(ValueError, match="forecast_steps must be <= 100000"):
        fastgru_dask.fit_forecasters({"a": np.sin(t)}, forecast_steps=10**9, window=8,
                                     scheduler="sync")


def test_fit_forecasters_reports_a_series_too_long_to_fit_and_fits_the_others():
    """A series of 10**10 steps (a broadcast view: nothing is allocated) is
    reported in errors before sending, the other series fitted."""
    fastgru_dask = pytest.importorskip("fastgru.dask")
    series = {"huge": np.broadcast_to(1.0, (10**10,)), "a": np.sin(np.arange(40.0))}
    res = fastgru_dask.fit_forecasters(series, window=8, horizon=2, hidden_size=4,
                                       max_epochs=1, random_state=0, scheduler="sync")
    assert list(res.models) == ["a"] and list(res.errors) == ["huge"]
    assert res.errors["huge"].startswith("MemoryError")


def test_dask_predict_names_darr_when_it_is_ragged():
    fastgru_dask = pytest.importorskip("fastgru.dask")
    est = fastgru.GRURegressor()  # never reached: darr is refused first
    with pytest.raises(ValueError, match="darr"):
        fastgru_dask.predict(est, [np.zeros((3, 2)), np.zeros((5, 2))])


# ----------------------------------------------------------- exports, keras


def test_to_onnx_refuses_float64_weights_beyond_float32():
    layer = fastgru.GRU(3, 4, dtype="float64", random_state=0)
    layer.params["weight_hh_l0"][1, 2] = 1e300  # stored as inf in a float32 initializer
    with pytest.raises(ValueError, match="float32's range"):
        layer.to_onnx()


def test_to_onnx_flags_are_bools():
    with pytest.raises(TypeError, match="with_lengths must be a bool"):
        fastgru.GRU(3, 4).to_onnx(with_lengths="no")
    with pytest.raises(TypeError, match="with_initial_h must be a bool"):
        fastgru.GRU(3, 4).to_onnx(with_initial_h="no")


def test_from_keras_list_reset_after_is_a_bool():
    rng = np.random.default_rng(0)
    weights = [rng.normal(size=(3, 12)), rng.normal(size=(4, 12)), np.zeros((2, 12))]
    with pytest.raises(TypeError, match="reset_after must be a bool"):
        fastgru.GRU.from_keras(weights, reset_after="False")  # not True


def test_from_keras_refuses_gru_layers_of_a_functional_model_that_need_not_be_a_stack():
    os.environ.setdefault("KERAS_BACKEND", "torch")  # as fastgru's to_keras does
    keras = pytest.importorskip("keras")
    inp = keras.Input((None, 4))
    a = keras.layers.GRU(4, return_sequences=True)(inp)
    b = keras.layers.GRU(4, return_sequences=True)(inp)  # reads the input, not a's output
    with pytest.raises(ValueError, match="keras.Sequential"):
        fastgru.GRU.from_keras(keras.Model(inp, [a, b]))
    one = keras.Model(inp, keras.layers.GRU(4, return_sequences=True)(inp))
    assert fastgru.GRU.from_keras(one).input_size == 4


@pytest.mark.parametrize("attrs,match", [
    ({"hidden_size": 4, "direction": b"\xff\xfe"}, "direction="),
    ({"hidden_size": 4, "activations": [b"\xff", b"Tanh"]}, "activations="),
])
def test_attribute_strings_that_are_not_utf8_are_named(attrs, match):
    with pytest.raises(ValueError, match=match):  # not a bare UnicodeDecodeError
        fastgru.GRU.from_onnx(_model(attrs=attrs))


def test_raw_gufunc_reads_nothing_outside_its_arguments_whatever_the_shapes():
    """The raw gufunc is public and unchecked: for any core shapes and mode
    (valid or not) it must read only its arguments. Each argument is a view
    into a larger buffer whose margin is 0 in one call and 1e6 in another: an
    out-of-bounds read would make the two results differ."""
    import warnings

    from fastgru import gufunc

    ufunc = gufunc.raw_gufunc("float64")
    rng = np.random.default_rng(0)
    for _ in range(300):
        H, I, T = int(rng.integers(1, 5)), int(rng.integers(1, 4)), int(rng.integers(0, 4))
        sizes = [0, 1, H, 2 * H, 3 * H, 4 * H]
        n_ih, n_hh = (int(rng.choice(sizes[1:])) for _ in range(2))
        c, d = (int(rng.choice(sizes)) for _ in range(2))
        mode = int(rng.integers(-1, 5))
        shapes = [(T, I), (n_ih, I), (n_hh, H), (c,), (d,), (H,)]
        values = [rng.normal(size=s) for s in shapes]
        results = []
        for margin in (0.0, 1e6):
            args = []
            for shape, value in zip(shapes, values):
                buffer = np.full(tuple(n + 4 for n in shape), margin)
                inner = tuple(slice(2, 2 + n) for n in shape)
                buffer[inner] = value
                args.append(buffer[inner])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                results.append(ufunc(*args, mode))
        assert np.array_equal(*results, equal_nan=True), (H, I, T, n_ih, n_hh, c, d, mode)


def test_stack_checks_of_a_model_share_one_budget(monkeypatch):
    """Each pair of chained nodes is checked on tagged arrays of up to a
    million elements, for every Reshape size between them: thousands of nodes
    would take minutes. The checks of one model share a budget."""
    from fastgru.interop import onnx_ops

    model = fastgru.GRU(3, 4, num_layers=3, bidirectional=True).to_onnx()
    assert fastgru.GRU.from_onnx(model).num_layers == 3
    monkeypatch.setattr(onnx_ops, "CHECK_BUDGET", 2 * 3 * 2 * 4)  # one (2, 3) check
    with pytest.raises(ValueError, match="more than 48 elements; import one node"):
        fastgru.GRU.from_onnx(model)


@pytest.mark.parametrize("first_outputs,second_x", [([], "X"), (["", "Y_h"], "")])
def test_a_gru_node_without_output_y_is_not_the_start_of_a_stack(first_outputs, second_x):
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.normal(size=(1, 12, 4)).astype(np.float32), name)
             for name in ("W0", "R0", "W1", "R1")]
    nodes = [helper.make_node("GRU", ["X", "W0", "R0"], first_outputs, hidden_size=4),
             helper.make_node("GRU", [second_x, "W1", "R1"], ["Y1"], hidden_size=4)]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["T", "B", 4])],
        [helper.make_tensor_value_info("Y1", TensorProto.FLOAT, None)], initializer=inits)
    with pytest.raises(ValueError, match="no sequence .* named"):
        fastgru.GRU.from_onnx(helper.make_model(graph))
