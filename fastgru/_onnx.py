"""Export to ONNX: one standard ``GRU`` node per layer (needs the ``onnx`` package).

ONNX's GRU is time-major with gate blocks z, r, h (fastgru and PyTorch: r, z,
n), biases ``B = [Wb, Rb]``, and ``linear_before_reset=1`` for the "torch"
variant, 0 for "cho"; the other variants have no ONNX operator and are
refused. The graph takes batch-first input, like fastgru, with dynamic batch
and time axes, and (on request) an initial state ``h0``. ONNX Runtime's GRU kernel
runs float32 only (a double GRU fails with "GRU operator does not support
double yet"), so the weights are stored in float32; a float64 layer's graph
takes and returns float64 (``dtype=``) and casts around the GRU nodes.

:mod:`fastgru._onnx_import` reads the other way: the GRU nodes of any ONNX
graph as fastgru parameters, refusing what fastgru does not compute.
"""

from __future__ import annotations

import numpy as np

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


def _check_exportable(layer) -> None:
    if layer.variant not in ("torch", "cho"):
        raise ValueError(f"ONNX's GRU operator computes the 'torch' and 'cho' variants only; "
                         f"this layer is {layer.variant!r}")


def _gru_nodes(layer, x_name: str, lengths_name: str, prefix: str, h0_name: str = ""):
    """Nodes and initialisers of the layer: ``x_name`` (T, B, I) time-major in
    (and ``h0_name`` (L*D, B, H), float32, if given), ``(y (T, B, D*H),
    [h_n per layer (D, B, H)])`` names out."""
    from onnx import helper, numpy_helper

    _check_exportable(layer)
    H, D = layer.hidden_size, layer.num_directions
    nodes, inits, h_names = [], [], []
    current = x_name
    for k in range(layer.num_layers):
        Ws, Rs, Bs = [], [], []
        for d in range(D):
            suffix = f"_l{k}" + ("_reverse" if d else "")
            p = layer.params
            Ws.append(_swap_rz(p["weight_ih" + suffix], H))
            Rs.append(_swap_rz(p["weight_hh" + suffix], H))
            if layer.bias:
                Bs.append(np.concatenate([_swap_rz(p["bias_ih" + suffix], H),
                                          _swap_rz(p["bias_hh" + suffix], H)]))
        name = f"{prefix}gru{k}"
        for tag, arrs in (("W", Ws), ("R", Rs), ("B", Bs)):
            if arrs:  # no B without bias: ONNX's default is zero
                inits.append(numpy_helper.from_array(_float32(np.stack(arrs), f"layer {k}'s "
                                                              f"weights ({tag})"),
                                                     f"{name}_{tag}"))
        y4, h = f"{name}_Y", f"{name}_Y_h"
        gru_inputs = [current, f"{name}_W", f"{name}_R", f"{name}_B" if layer.bias else "",
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
            linear_before_reset=1 if layer.variant == "torch" else 0))
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


def layer_to_onnx(layer, path=None, with_lengths: bool = False, dtype=None,
                  with_initial_h: bool = False):
    """The layer as an ONNX model: inputs ``x`` (batch, time, input_size), with
    ``with_lengths`` ``lengths`` (batch,) int32, with ``with_initial_h`` ``h0``
    (num_layers*D, batch, H); outputs ``y`` (batch, time, D*H) and ``h_n``
    (num_layers*D, batch, H), as :meth:`GRU.forward`. Inputs and outputs are
    of ``dtype`` (default: the layer's); the GRU nodes run float32, with Cast
    nodes around them for float64.

    ``h0`` is a required input when asked for: an input with a default value
    (an initializer listed as a graph input) would make it optional, but
    onnxruntime then logs a warning at every session it opens."""
    _onnx()
    from onnx import TensorProto, helper

    from ._validation import check_dtype

    _check_exportable(layer)
    io_dtype = layer.dtype if dtype is None else check_dtype(dtype)
    double = io_dtype == np.float64
    io_type = TensorProto.DOUBLE if double else TensorProto.FLOAT
    D, H, L = layer.num_directions, layer.hidden_size, layer.num_layers
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
    inputs = _graph_inputs(layer.input_size, with_lengths, False, io_type)
    if with_initial_h:
        inputs.append(helper.make_tensor_value_info("h0", io_type, [L * D, "batch", H]))
    return _finish(nodes, inits + gru_inits, inputs, outputs, "fastgru_GRU", path)


def estimator_to_onnx(est, path=None, with_lengths: bool = False):
    """A fitted GRURegressor (output ``predictions``) or GRUClassifier (output
    ``probabilities``, columns in ``classes_`` order) as one ONNX graph."""
    _onnx()
    from onnx import TensorProto, helper, numpy_helper

    layer = est.gru_
    univariate = est._input_form == "2d"
    front, inits = _front(univariate)
    nodes, gru_inits, _, h_names = _gru_nodes(layer, "x_tm", "lengths" if with_lengths
                                              else "", "")
    nodes = front + nodes
    # the head reads the last layer's final states: (D, B, H) -> (B, D*H)
    nodes.append(helper.make_node("Transpose", [h_names[-1]], ["h_last"], perm=[1, 0, 2]))
    inits.append(numpy_helper.from_array(np.array([0, -1], dtype=np.int64), "shape_B_"))
    nodes.append(helper.make_node("Reshape", ["h_last", "shape_B_"], ["features"]))
    inits.append(numpy_helper.from_array(_float32(est.head_["weight"], "the head's weights"),
                                         "head_W"))
    inits.append(numpy_helper.from_array(_float32(est.head_["bias"], "the head's bias"),
                                         "head_b"))
    nodes.append(helper.make_node("Gemm", ["features", "head_W", "head_b"], ["raw"], transB=1))
    if hasattr(est, "classes_"):
        nodes.append(helper.make_node("Softmax", ["raw"], ["probabilities"], axis=1))
        outputs = [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT,
                                                 ["batch", len(est.classes_)])]
    else:
        inits.append(numpy_helper.from_array(_float32(est.y_scale_, "the targets' scale"),
                                             "y_scale"))
        inits.append(numpy_helper.from_array(_float32(est.y_mean_, "the targets' mean"),
                                             "y_mean"))
        nodes.append(helper.make_node("Mul", ["raw", "y_scale"], ["scaled"]))
        final = "predictions" if est._y_ndim == 2 else "pred2d"
        nodes.append(helper.make_node("Add", ["scaled", "y_mean"], [final]))
        shape = ["batch", est.n_outputs_]
        if est._y_ndim == 1:
            inits.append(numpy_helper.from_array(np.array([-1], dtype=np.int64), "flat"))
            nodes.append(helper.make_node("Reshape", ["pred2d", "flat"], ["predictions"]))
            shape = ["batch"]
        outputs = [helper.make_tensor_value_info("predictions", TensorProto.FLOAT, shape)]
    return _finish(nodes, inits + gru_inits,
                   _graph_inputs(layer.input_size, with_lengths, univariate), outputs,
                   f"fastgru_{type(est).__name__}", path)
