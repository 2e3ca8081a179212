"""Export to ONNX: one standard ``GRU`` node per layer (needs the ``onnx`` package).

ONNX's GRU is time-major with gate blocks z, r, h (fastgru and PyTorch: r, z,
n), biases ``B = [Wb, Rb]``, and ``linear_before_reset=1`` for the "torch"
variant, 0 for "cho"; the other variants have no ONNX operator and are
refused. The graph takes batch-first input, like fastgru, with dynamic batch
and time axes, and (on request) an initial state ``h0``. ONNX Runtime's GRU kernel
runs float32 only (a double GRU fails with "GRU operator does not support
double yet"), so the weights are stored in float32; a float64 layer's graph
takes and returns float64 (``dtype=``) and casts around the GRU nodes.

:mod:`fastgru.interop.onnx_import` reads the other way: the GRU nodes of any ONNX
graph as fastgru parameters, refusing what fastgru does not compute.
"""

from __future__ import annotations

import numpy as np

from .._params import check_params, suffix
from .._validation import check_bool, check_dtype

OPSET = 17
IR_VERSION = 8  # readable by every onnxruntime since 1.10


def _onnx():
    try:
        import onnx
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("to_onnx needs the onnx package: pip install onnx") from exc
    return onnx


def _swap_rz(a: np.ndarray, H: int) -> np.ndarray:
    """Swap the first two row blocks of ``a``: PyTorch's r, z, n into ONNX's
    z, r, h for export, and (the swap being its own inverse) back on import."""
    return np.concatenate([a[H : 2 * H], a[:H], a[2 * H :]])


def _float32(a: np.ndarray, what: str) -> np.ndarray:
    """``a`` in float32, which ONNX Runtime's GRU computes in; refused if a
    float64 value overflows it (it would be stored as inf)."""
    with np.errstate(over="ignore"):
        out = np.asarray(a).astype(np.float32)
    if not np.isfinite(out).all():
        raise ValueError(f"{what} exceed float32's range (|x| > {np.finfo(np.float32).max:.3g}):"
                         " an ONNX GRU stores and computes float32")
    return out


def _check_exportable(config: dict) -> None:
    if config["variant"] not in ("torch", "cho"):
        raise ValueError(f"ONNX's GRU operator computes the 'torch' and 'cho' variants only; "
                         f"this layer is {config['variant']!r}")


def _gru_nodes(layer, x_name: str, lengths_name: str, prefix: str, h0_name: str = ""):
    """Nodes and initialisers of the layer: ``x_name`` (T, B, I) time-major in
    (and ``h0_name`` (L*D, B, H), float32, if given), ``(y (T, B, D*H),
    [h_n per layer (D, B, H)])`` names out."""
    from onnx import helper, numpy_helper

    config, p = layer.get_config(), layer.params
    _check_exportable(config)
    check_params(config, p)  # the configuration and arrays go together
    H, D, bias = config["hidden_size"], 2 if config["bidirectional"] else 1, config["bias"]
    nodes, inits, h_names = [], [], []
    current = x_name
    for k in range(config["num_layers"]):
        Ws, Rs, Bs = [], [], []
        for d in range(D):
            end = suffix(k, d)
            Ws.append(_swap_rz(p["weight_ih" + end], H))
            Rs.append(_swap_rz(p["weight_hh" + end], H))
            if bias:
                Bs.append(np.concatenate([_swap_rz(p["bias_ih" + end], H),
                                          _swap_rz(p["bias_hh" + end], H)]))
        name = f"{prefix}gru{k}"
        for tag, arrs in (("W", Ws), ("R", Rs), ("B", Bs)):
            if arrs:  # no B without bias: ONNX's default is zero
                inits.append(numpy_helper.from_array(_float32(np.stack(arrs), f"layer {k}'s "
                                                              f"weights ({tag})"),
                                                     f"{name}_{tag}"))
        y4, h = f"{name}_Y", f"{name}_Y_h"
        gru_inputs = [current, f"{name}_W", f"{name}_R", f"{name}_B" if bias else "",
                      lengths_name]
        if h0_name:  # this layer's rows of h0
            for tag, value in (("start", k * D), ("end", (k + 1) * D)):
                inits.append(numpy_helper.from_array(np.array([value], dtype=np.int64),
                                                     f"{name}_h0_{tag}"))
            nodes.append(helper.make_node("Slice", [h0_name, f"{name}_h0_start",
                                                    f"{name}_h0_end"], [f"{name}_h0"]))
            gru_inputs.append(f"{name}_h0")
        while gru_inputs[-1] == "":
            gru_inputs.pop()
        nodes.append(helper.make_node(
            "GRU", gru_inputs,
            [y4, h], name=name, hidden_size=H,
            direction="bidirectional" if D == 2 else "forward",
            linear_before_reset=1 if config["variant"] == "torch" else 0))
        # Y (T, D, B, H) -> (T, B, D, H) -> (T, B, D*H)
        nodes.append(helper.make_node("Transpose", [y4], [f"{name}_YT"], perm=[0, 2, 1, 3]))
        nodes.append(helper.make_node("Reshape", [f"{name}_YT", f"{prefix}shape_TB_"],
                                      [f"{name}_out"]))
        current = f"{name}_out"
        h_names.append(h)
    inits.append(numpy_helper.from_array(np.array([0, 0, -1], dtype=np.int64),
                                         f"{prefix}shape_TB_"))
    return nodes, inits, current, h_names


def _graph_inputs(n_features, with_lengths: bool, univariate: bool, x_type=None):
    from onnx import TensorProto, helper

    shape = ["batch", "time"] if univariate else ["batch", "time", n_features]
    inputs = [helper.make_tensor_value_info("x", x_type or TensorProto.FLOAT, shape)]
    if with_lengths:
        inputs.append(helper.make_tensor_value_info("lengths", TensorProto.INT32, ["batch"]))
    return inputs


def _front(univariate: bool):
    """Nodes turning the batch-first input ``x`` into time-major ``x_tm``."""
    from onnx import helper, numpy_helper

    nodes, inits = [], []
    src = "x"
    if univariate:  # (B, T) -> (B, T, 1)
        inits.append(numpy_helper.from_array(np.array([2], dtype=np.int64), "axis2"))
        nodes.append(helper.make_node("Unsqueeze", ["x", "axis2"], ["x3"]))
        src = "x3"
    nodes.append(helper.make_node("Transpose", [src], ["x_tm"], perm=[1, 0, 2]))
    return nodes, inits


def _finish(nodes, inits, inputs, outputs, name, path):
    onnx = _onnx()
    from onnx import helper

    graph = helper.make_graph(nodes, name, inputs, outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="fastgru")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    if path is not None:
        onnx.save(model, path)
    return model


def to_onnx(layer, path=None, *, with_lengths: bool = False, with_initial_h: bool = False,
            dtype=None):
    """Export a layer as an ONNX model (needs the ``onnx`` package).

    One standard ONNX ``GRU`` node per layer ("torch": linear_before_reset=1;
    "cho": 0; other variants have no ONNX operator and are refused).

    Parameters
    ----------
    layer : fastgru.GRU
    path : str or os.PathLike, optional
        Where to write the model.
    with_lengths : bool, default False
        Add the input ``lengths`` (batch,) int32 (ONNX's ``sequence_lens``).
    with_initial_h : bool, default False
        Add the input ``h0`` (num_layers * D, batch, hidden_size): the
        initial states, as :meth:`fastgru.GRU.forward`'s ``h0`` (ONNX's
        ``initial_h`` of each GRU node). It is a required input: an input
        with a default value (an initializer listed as a graph input) would
        make it optional, but onnxruntime then logs a warning at every
        session it opens.
    dtype : {"float32", "float64"}, optional
        Type of the graph's inputs and outputs; defaults to the layer's.
        onnxruntime's GRU runs float32 only, so the weights are stored in
        float32 and a float64 graph casts around the GRU nodes: it takes
        and returns float64, computed in float32.

    Returns
    -------
    onnx.ModelProto
        Inputs ``x`` (batch, time, input_size), ``lengths`` (with
        ``with_lengths``) and ``h0`` (with ``with_initial_h``); outputs
        ``y`` (batch, time, D * hidden_size) and ``h_n`` (num_layers * D,
        batch, hidden_size) as :meth:`fastgru.GRU.forward`; batch and time
        are dynamic.

    Examples
    --------
    >>> import fastgru
    >>> from fastgru.interop.onnx_export import to_onnx
    >>> model = to_onnx(fastgru.GRU(3, 8, num_layers=2))
    >>> [node.op_type for node in model.graph.node].count("GRU")
    2
    """
    # "no" would read as True
    with_lengths = check_bool("with_lengths", with_lengths)
    with_initial_h = check_bool("with_initial_h", with_initial_h)
    _onnx()
    from onnx import TensorProto, helper

    config = layer.get_config()
    _check_exportable(config)
    io_dtype = check_dtype(config["dtype"] if dtype is None else dtype)
    double = io_dtype == np.float64
    io_type = TensorProto.DOUBLE if double else TensorProto.FLOAT
    D, H, L = (2 if config["bidirectional"] else 1), config["hidden_size"], config["num_layers"]
    front, inits = _front(False)
    nodes = []
    if double:
        nodes.append(helper.make_node("Cast", ["x"], ["x_f32"], to=TensorProto.FLOAT))
        front[-1].input[0] = "x_f32"
    h0_name = ""
    if with_initial_h:
        h0_name = "h0"
        if double:
            nodes.append(helper.make_node("Cast", ["h0"], ["h0_f32"], to=TensorProto.FLOAT))
            h0_name = "h0_f32"
    gru, gru_inits, out, h_names = _gru_nodes(layer, "x_tm", "lengths" if with_lengths
                                              else "", "", h0_name=h0_name)
    nodes = nodes + front + gru
    y_name, h_name = ("y_f32", "h_n_f32") if double else ("y", "h_n")
    nodes.append(helper.make_node("Transpose", [out], [y_name], perm=[1, 0, 2]))
    nodes.append(helper.make_node("Concat", h_names, [h_name], axis=0))
    if double:
        nodes.append(helper.make_node("Cast", ["y_f32"], ["y"], to=TensorProto.DOUBLE))
        nodes.append(helper.make_node("Cast", ["h_n_f32"], ["h_n"], to=TensorProto.DOUBLE))
    outputs = [helper.make_tensor_value_info("y", io_type, ["batch", "time", D * H]),
               helper.make_tensor_value_info("h_n", io_type, [L * D, "batch", H])]
    inputs = _graph_inputs(config["input_size"], with_lengths, False, io_type)
    if with_initial_h:
        inputs.append(helper.make_tensor_value_info("h0", io_type, [L * D, "batch", H]))
    return _finish(nodes, inits + gru_inits, inputs, outputs, "fastgru_GRU", path)


def network_to_onnx(layer, head: dict, path=None, *, with_lengths: bool = False,
                    univariate: bool = False, classes=None, y_mean=None, y_scale=None,
                    flat: bool = False, name: str = "fastgru_network"):
    """A layer and the linear head on its last layer's final states as one
    ONNX graph: what a fitted ``GRURegressor`` or ``GRUClassifier`` computes
    (their ``to_onnx`` passes their fitted state here).

    Parameters
    ----------
    layer : fastgru.GRU
    head : dict
        ``{"weight": (n_outputs, D * hidden_size), "bias": (n_outputs,)}``.
    path : str or os.PathLike, optional
        Where to write the model.
    with_lengths : bool, default False
        Add the input ``lengths`` (batch,) int32.
    univariate : bool, default False
        Input ``x`` is (batch, time), one feature a step.
    classes : sequence, optional
        Given: the output is ``probabilities`` (batch, len(classes)), a
        softmax of the head. Otherwise the output is ``predictions``:
        ``head * y_scale + y_mean`` (batch, n_outputs), or (batch,) with
        ``flat``.
    y_mean, y_scale : ndarray (n_outputs,), optional
        The targets' scaling, undone on the head's output.
    name : str
        The graph's name.

    Returns
    -------
    onnx.ModelProto

    Examples
    --------
    >>> import numpy as np, fastgru
    >>> from fastgru.interop.onnx_export import network_to_onnx
    >>> layer = fastgru.GRU(3, 4, random_state=0)
    >>> head = {"weight": np.ones((2, 4), np.float32), "bias": np.zeros(2, np.float32)}
    >>> model = network_to_onnx(layer, head, classes=["a", "b"])
    >>> [o.name for o in model.graph.output]
    ['probabilities']
    """
    _onnx()
    from onnx import TensorProto, helper, numpy_helper

    front, inits = _front(univariate)
    nodes, gru_inits, _, h_names = _gru_nodes(layer, "x_tm", "lengths" if with_lengths
                                              else "", "")
    nodes = front + nodes
    # the head reads the last layer's final states: (D, B, H) -> (B, D*H)
    nodes.append(helper.make_node("Transpose", [h_names[-1]], ["h_last"], perm=[1, 0, 2]))
    inits.append(numpy_helper.from_array(np.array([0, -1], dtype=np.int64), "shape_B_"))
    nodes.append(helper.make_node("Reshape", ["h_last", "shape_B_"], ["features"]))
    inits.append(numpy_helper.from_array(_float32(head["weight"], "the head's weights"),
                                         "head_W"))
    inits.append(numpy_helper.from_array(_float32(head["bias"], "the head's bias"),
                                         "head_b"))
    nodes.append(helper.make_node("Gemm", ["features", "head_W", "head_b"], ["raw"], transB=1))
    if classes is not None:
        nodes.append(helper.make_node("Softmax", ["raw"], ["probabilities"], axis=1))
        outputs = [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT,
                                                 ["batch", len(classes)])]
    else:
        n_outputs = np.shape(head["bias"])[0]
        inits.append(numpy_helper.from_array(_float32(y_scale, "the targets' scale"),
                                             "y_scale"))
        inits.append(numpy_helper.from_array(_float32(y_mean, "the targets' mean"),
                                             "y_mean"))
        nodes.append(helper.make_node("Mul", ["raw", "y_scale"], ["scaled"]))
        final = "pred2d" if flat else "predictions"
        nodes.append(helper.make_node("Add", ["scaled", "y_mean"], [final]))
        shape = ["batch", n_outputs]
        if flat:
            inits.append(numpy_helper.from_array(np.array([-1], dtype=np.int64), "flat"))
            nodes.append(helper.make_node("Reshape", ["pred2d", "flat"], ["predictions"]))
            shape = ["batch"]
        outputs = [helper.make_tensor_value_info("predictions", TensorProto.FLOAT, shape)]
    return _finish(nodes, inits + gru_inits,
                   _graph_inputs(layer.get_config()["input_size"], with_lengths, univariate),
                   outputs, name, path)
