"""Export to ONNX: one standard ``GRU`` node per layer (needs the ``onnx`` package).

Longer than 500 lines for a reason: export and import share one mapping
(gate order, biases, variants, layouts) and its checks, which must change
together.

ONNX's GRU is time-major with gate blocks z, r, h (fastgru and PyTorch: r, z,
n), biases ``B = [Wb, Rb]``, and ``linear_before_reset=1`` for the "torch"
variant, 0 for "cho"; the other variants have no ONNX operator and are
refused. The graph takes batch-first input, like fastgru, with dynamic batch
and time axes, and (on request) an initial state ``h0``. ONNX Runtime's GRU kernel
runs float32 only (a double GRU fails with "GRU operator does not support
double yet"), so the weights are stored in float32; a float64 layer's graph
takes and returns float64 (``dtype=``) and casts around the GRU nodes.

:func:`read_gru_stack` reads the other way: the GRU nodes of any ONNX graph
as fastgru parameters, refusing what fastgru does not compute.
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


# ---------------------------------------------------------------------- import
# Everything below reads an ONNX file as untrusted input: each value is checked
# (type, shape against hidden_size, finiteness) before a layer is built from it.

_ONNX_FLOATS = {1: np.float32, 10: np.float16, 11: np.float64}  # TensorProto codes
_DATA_MOVES = ("Identity", "Transpose", "Reshape", "Squeeze", "Unsqueeze", "Expand", "Slice",
               "Gather", "Cast")
_KNOWN_ATTRIBUTES = {  # name: its AttributeProto type in ONNX's GRU
    "hidden_size": "INT", "direction": "STRING", "linear_before_reset": "INT", "layout": "INT",
    "activations": "STRINGS", "activation_alpha": "FLOATS", "activation_beta": "FLOATS",
    "clip": "FLOAT", "output_sequence": "INT"}


def load_model(source):
    """An ``onnx.ModelProto`` from a ModelProto, a path or the serialised bytes.

    A path must be a regular file (not a directory, a device or a pipe, which
    could be read without end). External data is not loaded: a tensor stored
    in another file is refused where it is read (:meth:`_Graph.tensor_array`),
    so the model cannot make fastgru read a file the caller did not name.
    """
    import os
    import stat

    onnx = _onnx()
    if isinstance(source, onnx.ModelProto):
        return source
    try:
        if isinstance(source, (bytes, bytearray, memoryview)):
            return onnx.load_from_string(bytes(source))
        if isinstance(source, (str, os.PathLike)):
            path = os.fspath(source)
            if not stat.S_ISREG(os.stat(path).st_mode):
                raise ValueError(f"model path {path!r} is not a regular file")
            return onnx.load(path, load_external_data=False)
    except (OSError, ValueError):
        raise
    except Exception as exc:  # protobuf's DecodeError and friends
        raise ValueError(f"model is not a readable ONNX model: {exc}") from exc
    raise TypeError("from_onnx expects an onnx.ModelProto, a path or bytes, "
                    f"got {type(source).__name__}")


class _Graph:
    """Look-ups over a graph: producers of names, constants, graph inputs."""

    def __init__(self, graph):
        from onnx import helper

        self.graph = graph
        self.inits = {t.name: t for t in graph.initializer}
        self.inputs = {i.name for i in graph.input}
        self.producer = {}
        self.checked_elements = 0  # spent by _check_chain, bounded by _CHECK_BUDGET
        for node in graph.node:
            for out in node.output:
                if out:
                    self.producer[out] = node
        self.attr = lambda node: {a.name: helper.get_attribute_value(a) for a in node.attribute}

    def tensor_array(self, tensor, what: str) -> np.ndarray:
        from onnx import TensorProto, numpy_helper

        if tensor.data_location == TensorProto.EXTERNAL:
            location = {e.key: e.value for e in tensor.external_data}.get("location")
            raise ValueError(f"{what} is stored in an external file ({location!r}), which "
                             "from_onnx does not read (the file, not the caller, names it): "
                             "if you trust it, load the model with onnx.load(path), which "
                             "reads external data inside the model's directory, and pass the "
                             "ModelProto")
        if any(d < 0 for d in tensor.dims):
            raise ValueError(f"{what} has negative dimensions {list(tensor.dims)}")
        if tensor.data_type not in _ONNX_FLOATS:
            raise ValueError(f"{what} has ONNX type {TensorProto.DataType.Name(tensor.data_type)};"
                             " a GRU's tensors are float16, float or double")
        try:
            arr = numpy_helper.to_array(tensor)
        except Exception as exc:
            raise ValueError(f"{what} cannot be read ({exc})") from exc
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{what} contains NaN or inf")
        return arr

    def constant(self, name: str):
        """The tensor (TensorProto) behind ``name`` if it is stored in the graph
        (an initializer, also one listed as a graph input as files of IR
        version 3 list them all, or a Constant node, through Identity), else
        None."""
        seen = 0
        while seen < 64:
            seen += 1
            if name in self.inits:  # also a graph input: its default value
                return self.inits[name]
            node = self.producer.get(name)
            if node is None:
                return None
            if node.op_type == "Constant":
                from onnx import TensorProto

                value = self.attr(node).get("value")  # value_float & co: not weights
                return value if isinstance(value, TensorProto) else None
            if node.op_type != "Identity":
                return None
            name = node.input[0]
        return None

    def source(self, name: str):
        """Follow ``name`` back through data-movement ops (first input only):
        ``("input", name)`` for a graph input (an initializer listed as a graph
        input too: a default the caller may override), ``("zero", None)`` for
        an all-zero constant, ``("constant", tensor)`` for another constant
        reached directly, ``("other", op_type)`` otherwise."""
        direct = True
        for _ in range(256):
            if name in self.inputs:
                return ("input", name)
            const = self.constant(name)
            if const is not None:
                arr = self.tensor_array(const, f"the tensor {name!r}")
                if not np.any(arr):
                    return ("zero", None)
                return ("constant", const) if direct else ("other", "constant")
            node = self.producer.get(name)
            if node is None:
                return ("other", "missing")
            if node.op_type == "ConstantOfShape":
                value = self.attr(node).get("value")
                if value is None or not np.any(self.tensor_array(value, "ConstantOfShape value")):
                    return ("zero", None)
                return ("other", "ConstantOfShape")
            if node.op_type not in _DATA_MOVES or not node.input:
                return ("other", node.op_type)
            direct = False
            name = node.input[0]
        return ("other", "a long chain")


def _gru_attributes(g: _Graph, node, label: str) -> dict:
    """The node's attributes, checked: what fastgru cannot compute is refused."""
    from onnx import AttributeProto

    for a in node.attribute:
        if a.name not in _KNOWN_ATTRIBUTES:
            raise ValueError(f"{label}: attribute {a.name!r} is not one fastgru knows how to "
                             "compute")
        kind = AttributeProto.AttributeType.Name(a.type)
        if kind != _KNOWN_ATTRIBUTES[a.name]:
            raise ValueError(f"{label}: attribute {a.name} has type {kind}, expected "
                             f"{_KNOWN_ATTRIBUTES[a.name]}")
    attrs = g.attr(node)
    if "clip" in attrs:
        raise ValueError(f"{label}: attribute 'clip' (clip={attrs['clip']}) is not supported: "
                         "fastgru does not clip the gates' inputs")
    direction = attrs.get("direction", b"forward")
    direction = direction.decode(errors="replace") if isinstance(direction, bytes) \
        else str(direction)
    if direction == "reverse":
        raise ValueError(
            f"{label}: attribute direction='reverse' (a reverse-only GRU) has no fastgru "
            "equivalent: a fastgru layer runs forward, or both ways when bidirectional. Import "
            "the weights into a forward layer yourself and reverse each sequence in time (within "
            "its length), or export the model as bidirectional")
    if direction not in ("forward", "bidirectional"):
        raise ValueError(f"{label}: attribute direction={direction!r} is not an ONNX direction")
    D = 2 if direction == "bidirectional" else 1
    activations = attrs.get("activations")
    if activations:
        names = [a.decode(errors="replace") if isinstance(a, bytes) else str(a)
                 for a in activations]
        if [n.lower() for n in names] != ["sigmoid", "tanh"] * D:
            raise ValueError(f"{label}: attribute activations={names} is not supported: fastgru "
                             f"computes {['Sigmoid', 'Tanh'] * D} (the default)")
    for key in ("activation_alpha", "activation_beta"):
        if attrs.get(key):
            raise ValueError(f"{label}: attribute {key}={list(attrs[key])} is not supported: "
                             "fastgru's Sigmoid and Tanh take no parameters")
    layout = attrs.get("layout", 0)
    if layout not in (0, 1):
        raise ValueError(f"{label}: attribute layout={layout} is not 0 or 1")
    return {"D": D, "layout": int(layout), "lbr": int(attrs.get("linear_before_reset", 0)) != 0,
            "hidden_size": attrs.get("hidden_size")}


def _weight(g: _Graph, node, index: int, what: str, label: str):
    name = node.input[index] if len(node.input) > index else ""
    if not name:
        return None
    tensor = g.constant(name)
    if tensor is None:
        how = ("a graph input" if name in g.inputs else
               f"computed by a {g.producer[name].op_type} node" if name in g.producer
               else "not defined in the graph")
        raise ValueError(f"{label}: input {what} ({name!r}) is {how}; from_onnx reads weights "
                         "stored in the graph (initializers or Constant nodes)")
    return g.tensor_array(tensor, f"{label}: input {what}")


def _read_node(g: _Graph, node, label: str) -> dict:
    """One GRU node's weights in fastgru's layout, with its attributes."""
    info = _gru_attributes(g, node, label)
    D = info["D"]
    if len(node.input) < 3:
        raise ValueError(f"{label}: a GRU node needs inputs X, W and R")
    W = _weight(g, node, 1, "W", label)
    R = _weight(g, node, 2, "R", label)
    B = _weight(g, node, 3, "B", label)
    if W is None or R is None:
        raise ValueError(f"{label}: inputs W and R are required")
    if R.ndim != 3 or R.shape[0] != D or R.shape[1] != 3 * R.shape[2] or R.shape[2] < 1:
        raise ValueError(f"{label}: input R has shape {R.shape}, expected "
                         f"({D}, 3*hidden_size, hidden_size) for direction with {D} direction(s)")
    H = R.shape[2]
    if info["hidden_size"] is not None and info["hidden_size"] != H:
        raise ValueError(f"{label}: attribute hidden_size={info['hidden_size']} does not match "
                         f"input R of shape {R.shape}")
    if W.ndim != 3 or W.shape[:2] != (D, 3 * H) or W.shape[2] < 1:
        raise ValueError(f"{label}: input W has shape {W.shape}, expected ({D}, {3 * H}, "
                         "input_size)")
    if B is not None and B.shape != (D, 6 * H):
        raise ValueError(f"{label}: input B has shape {B.shape}, expected ({D}, {6 * H})")
    dtypes = {a.dtype for a in (W, R, B) if a is not None}
    if len(dtypes) > 1:
        raise ValueError(f"{label}: inputs W, R and B have different types "
                         f"{sorted(map(str, dtypes))}")
    seq_name = node.input[4] if len(node.input) > 4 else ""
    if seq_name and g.constant(seq_name) is not None:
        raise ValueError(f"{label}: input sequence_lens is a constant of the graph; fastgru takes "
                         "lengths at each forward (lengths=)")
    info.update(W=W, R=R, B=B, H=H, I=W.shape[2], dtype=W.dtype,
                initial_h=_initial_h(g, node, info, label))
    return info


def _initial_h(g: _Graph, node, info, label):
    """None when the initial state is zero or given at run time (forward's
    ``h0``); the (D, batch, H) array when it is a non-zero constant."""
    name = node.input[5] if len(node.input) > 5 else ""
    if not name:
        return None
    kind, what = g.source(name)
    if kind in ("zero", "input"):
        return None
    if kind == "other":
        raise ValueError(f"{label}: input initial_h is computed in the graph (from {what}); "
                         "from_onnx reads a constant initial_h or one fed at run time")
    h = g.tensor_array(what, f"{label}: input initial_h")
    if h.ndim != 3:
        raise ValueError(f"{label}: input initial_h has shape {h.shape}, expected 3 dimensions")
    if info["layout"] == 1:
        h = h.transpose(1, 0, 2)
    return h


def _check_chain(g: _Graph, prev, node, prev_info, info, label) -> None:
    """``node``'s X must be ``prev``'s Y with the time, batch and feature axes
    that fastgru passes between stacked layers: checked by running the ops in
    between on a small array with a distinct value in every element (with the
    time and batch sizes of a Reshape to fixed sizes, as exporters write for
    static shapes, when there is one)."""
    name, chain = node.input[0], []
    if not prev.output or not prev.output[0] or not name:
        raise ValueError(f"{label}: it or the previous GRU node has no sequence (X or Y) "
                         "named, so the nodes are not one stack; import one node with "
                         "node=<name or index>")
    while name != prev.output[0]:
        producer = g.producer.get(name)
        if producer is None or producer.op_type not in ("Identity", "Transpose", "Reshape",
                                                        "Squeeze", "Unsqueeze") or len(chain) > 32:
            raise ValueError(f"{label}: its input X is not the previous GRU node's output Y "
                             "reshaped, so the nodes are not one stack; import one node with "
                             "node=<name or index>")
        chain.append(producer)
        name = producer.input[0]
    D, H = prev_info["D"], prev_info["H"]
    sizes = [(2, 3)]
    for op in chain:
        if op.op_type == "Reshape" and len(op.input) > 1 and g.constant(op.input[1]) is not None:
            try:
                shape = _ints(_evaluate(g, op.input[1], {}, 0))
            except ValueError:  # reported by the evaluation of the chain below
                continue
            if len(shape) >= 2 and min(shape[:2]) > 0 and shape[0] * shape[1] * D * H <= 1 << 20:
                sizes += [(shape[0], shape[1]), (shape[1], shape[0])]
    problem = None
    for T, B in dict.fromkeys(sizes):  # each size once, in order
        g.checked_elements += T * D * B * H
        if g.checked_elements > _CHECK_BUDGET:  # thousands of nodes, each with many Reshapes
            raise ValueError(f"{label}: checking that the GRU nodes are one stack would evaluate "
                             f"more than {_CHECK_BUDGET} elements; import one node with "
                             "node=<name or index>")
        y = np.arange(T * D * B * H, dtype=np.float64).reshape(T, D, B, H)
        expected = y.transpose(0, 2, 1, 3).reshape(T, B, D * H)  # (T, B, D*H)
        if info["layout"] == 1:
            expected = expected.transpose(1, 0, 2)
        value = y.transpose(2, 0, 1, 3) if prev_info["layout"] == 1 else y  # (B, T, D, H)
        try:
            value = _evaluate(g, node.input[0], {prev.output[0]: value}, 0)
        except ValueError as exc:
            problem = problem or str(exc)
            continue
        if value.shape == expected.shape and np.array_equal(value, expected):
            return
        problem = problem or "arrangement"
    if problem == "arrangement":
        raise ValueError(f"{label}: its input X is the previous GRU node's output in another "
                         "arrangement than a stacked GRU's; import one node with "
                         "node=<name or index>")
    raise ValueError(f"{label}: the ops between it and the previous GRU node cannot be "
                     f"checked ({problem}); import one node with node=<name or index>")


_MAX_ELEMENTS = 1 << 22  # evaluated tensors are small: a tagged (T, D, B, H) and shapes
# the tagged arrays of all the stack checks of one model, in elements (about
# a second's work): a static export's check of each pair of nodes takes at
# most a few million
_CHECK_BUDGET = 1 << 27


def _evaluate(g: _Graph, name: str, values: dict, depth: int) -> np.ndarray:
    """The value of ``name`` computed from ``values`` and the graph's constants
    by the few ops exporters put between stacked GRU nodes (data movement and
    the shape arithmetic of a dynamic Reshape). Raises ValueError otherwise."""
    if name in values:
        return values[name]
    if depth > 64:
        raise ValueError("too long a chain of ops")
    const = g.constant(name)
    if const is not None:
        from onnx import numpy_helper

        if np.prod(const.dims, dtype=np.int64) > _MAX_ELEMENTS:
            raise ValueError(f"constant {name!r} is too large")
        try:
            value = numpy_helper.to_array(const)
        except Exception as exc:
            raise ValueError(f"constant {name!r} cannot be read ({exc})") from exc
        values[name] = value
        return value
    op = g.producer.get(name)
    if op is None:
        raise ValueError(f"{name!r} is a graph input" if name in g.inputs
                         else f"{name!r} is not defined")
    ins = [_evaluate(g, i, values, depth + 1) if i else None for i in op.input]
    try:
        value = _apply(g, op, ins)
    except ValueError as exc:
        raise ValueError(f"a {op.op_type} node: {exc}") from None
    except (TypeError, IndexError, KeyError, AttributeError, OverflowError) as exc:
        # a malformed node (an input missing, an index out of range, an
        # attribute of another type): numpy's or Python's error, named
        raise ValueError(f"a {op.op_type} node ({type(exc).__name__}: {exc})") from None
    if np.size(value) > _MAX_ELEMENTS:
        raise ValueError(f"{op.op_type} makes too large a tensor")
    for out in op.output[:1]:
        values[out] = value
    return value


def _ints(a) -> list:
    a = np.asarray(a)
    if a.dtype.kind not in "iu":
        raise ValueError(f"expected integers, got {a.dtype}")
    return [int(v) for v in np.ravel(a)]


_ARITY = {"Reshape": 2, "Mul": 2, "Add": 2, "Sub": 2, "Gather": 2, "Slice": 3}


def _apply(g: _Graph, op, ins: list) -> np.ndarray:
    attrs = g.attr(op)
    t = op.op_type
    a = ins[0] if ins else None
    need = _ARITY.get(t, 1)
    if len(ins) < need or any(v is None for v in ins[:need]):
        raise ValueError(f"needs {need} input(s), got {[n for n in op.input]}")
    if t in ("Mul", "Add", "Sub", "Concat"):  # the result's size, before it is made
        if t == "Concat":
            size = sum(np.size(v) for v in ins if v is not None)
        else:
            size = int(np.prod(np.broadcast_shapes(np.shape(a), np.shape(ins[1])),
                               dtype=np.float64))
        if size > _MAX_ELEMENTS:
            raise ValueError(f"{t} makes too large a tensor")
    if t == "Identity":
        return a
    if t == "Cast" and a.dtype.kind in "iu":  # of a shape
        return a.astype(np.int64)
    if t == "Transpose":
        perm = list(attrs.get("perm", list(range(a.ndim))[::-1]))
        if sorted(perm) != list(range(a.ndim)):
            raise ValueError(f"Transpose perm {perm}")
        return a.transpose(perm)
    if t in ("Squeeze", "Unsqueeze"):
        axes = attrs.get("axes")
        if axes is None and len(ins) > 1 and ins[1] is not None:
            axes = _ints(ins[1])
        if t == "Squeeze":
            if axes is None:
                return np.squeeze(a)
            axes = [ax % a.ndim for ax in axes]
            if any(a.shape[ax] != 1 for ax in axes):
                raise ValueError("Squeeze of an axis longer than 1")
            return np.squeeze(a, axis=tuple(axes))
        if axes is None:
            raise ValueError("Unsqueeze without axes")
        n = a.ndim + len(axes)
        return np.expand_dims(a, tuple(ax % n for ax in axes))
    if t == "Reshape":
        shape = _ints(ins[1])
        target = [a.shape[i] if (s == 0 and not attrs.get("allowzero", 0) and i < a.ndim)
                  else s for i, s in enumerate(shape)]
        if target.count(-1) > 1 or any(s < -1 for s in target):
            raise ValueError(f"Reshape to {shape}")
        known = int(np.prod([s for s in target if s != -1]))
        if -1 in target:
            if known == 0 or a.size % known:
                raise ValueError(f"Reshape to {shape}")
            target[target.index(-1)] = a.size // known
        if int(np.prod(target)) != a.size:
            raise ValueError(f"Reshape to {shape} (fixed sizes)")
        return a.reshape(target)
    if t == "Shape":
        shape = np.array(a.shape, dtype=np.int64)
        return shape[attrs.get("start", 0): attrs.get("end", len(shape))]
    if t == "Concat":
        return np.concatenate([np.atleast_1d(v) for v in ins], axis=attrs.get("axis", 0))
    if t in ("Mul", "Add", "Sub") and a.dtype.kind in "iu":
        fn = {"Mul": np.multiply, "Add": np.add, "Sub": np.subtract}[t]
        return fn(a, ins[1])
    if t == "Gather" and a.dtype.kind in "iu" and a.ndim == 1:
        return np.take(a, ins[1], axis=attrs.get("axis", 0))
    if t == "Slice" and a.ndim == 1 and a.dtype.kind in "iu":
        starts, ends = _ints(ins[1]), _ints(ins[2])
        steps = _ints(ins[4]) if len(ins) > 4 and ins[4] is not None else [1]
        if len(starts) != 1 or len(ends) != 1 or steps != [1]:
            raise ValueError("Slice of a shape with several axes or a step")
        return a[slice(starts[0], ends[0])]
    raise ValueError(f"a {t} node")


def read_gru_stack(source, node=None) -> dict:
    """Read the GRU nodes of an ONNX model as fastgru parameters.

    Returns ``{"state": dict, "input_size", "hidden_size", "num_layers",
    "bidirectional", "variant", "bias", "dtype", "initial_h"}`` where
    ``initial_h`` is None or the (num_layers*D, batch, H) constant state.
    """
    import warnings

    model = load_model(source)
    g = _Graph(model.graph)
    nodes = [n for n in model.graph.node if n.op_type == "GRU" and n.domain in ("", "ai.onnx")]
    if not nodes:
        raise ValueError("the model's graph has no GRU node (from_onnx reads ONNX's standard "
                         "GRU operator)")

    def label_of(i, n):
        return f"GRU node {n.name!r}" if n.name else f"GRU node #{i}"

    if node is not None:
        if isinstance(node, str):
            picked = [i for i, n in enumerate(nodes) if n.name == node]
            if not picked:
                raise ValueError(f"node={node!r}: no GRU node of that name; the graph's GRU nodes "
                                 f"are {[n.name for n in nodes]}")
            index = picked[0]
        elif isinstance(node, (int, np.integer)) and not isinstance(node, bool):
            if not -len(nodes) <= node < len(nodes):
                raise ValueError(f"node={node}: the graph has {len(nodes)} GRU node(s)")
            index = int(node) % len(nodes)
        else:
            raise TypeError(f"node must be a GRU node's name, an index or None, got {node!r}")
        chosen = [(index, nodes[index])]
    else:
        chosen = list(enumerate(nodes))
    infos = []
    for k, (i, n) in enumerate(chosen):
        label = label_of(i, n)
        info = _read_node(g, n, label)
        if infos:
            first = infos[0]
            for key, what in (("D", "direction"), ("lbr", "linear_before_reset"),
                              ("H", "hidden_size"), ("dtype", "type")):
                if info[key] != first[key]:
                    raise ValueError(f"{label}: its {what} differs from the first GRU node's, so "
                                     "the nodes are not one fastgru layer; import one node with "
                                     "node=<name or index>")
            if (info["B"] is None) != (first["B"] is None):
                raise ValueError(f"{label}: one GRU node has biases (B) and another has not; "
                                 "import one node with node=<name or index>")
            if info["I"] != first["D"] * first["H"]:
                raise ValueError(f"{label}: its input size {info['I']} is not the previous "
                                 f"node's output size {first['D'] * first['H']}")
            _check_chain(g, chosen[k - 1][1], n, infos[-1], info, label)
        infos.append(info)
    first = infos[0]
    H, D = first["H"], first["D"]
    if not first["lbr"] and model.producer_name.lower() == "pytorch":
        warnings.warn(
            "this model was written by PyTorch with linear_before_reset=0, which is not what "
            "torch.nn.GRU computes (pytorch#189225): the layer computes what the file says "
            "(variant 'cho', as onnxruntime does), which differs from the original nn.GRU",
            UserWarning, stacklevel=3)
    state = {}
    for k, info in enumerate(infos):
        for d in range(D):
            suffix = f"_l{k}" + ("_reverse" if d else "")
            state["weight_ih" + suffix] = _swap_rz(info["W"][d], H)
            state["weight_hh" + suffix] = _swap_rz(info["R"][d], H)
            if info["B"] is not None:
                state["bias_ih" + suffix] = _swap_rz(info["B"][d, : 3 * H], H)
                state["bias_hh" + suffix] = _swap_rz(info["B"][d, 3 * H :], H)
    states = [info["initial_h"] for info in infos]
    initial_h = None
    if any(s is not None for s in states):
        batches = {s.shape[1] for s in states if s is not None}
        if len(batches) > 1:
            raise ValueError(f"the GRU nodes' constant initial_h have different batch sizes "
                             f"{sorted(batches)}")
        batch = batches.pop()
        parts = []
        for s in states:
            s = np.zeros((D, batch, H), first["dtype"]) if s is None else s
            if s.shape != (D, batch, H):
                raise ValueError(f"input initial_h has shape {s.shape}, expected "
                                 f"({D}, batch, {H})")
            parts.append(s)
        initial_h = np.concatenate(parts)
    return {"state": state, "input_size": first["I"], "hidden_size": H,
            "num_layers": len(infos), "bidirectional": D == 2,
            "variant": "torch" if first["lbr"] else "cho", "bias": first["B"] is not None,
            "dtype": np.float64 if first["dtype"] == np.float64 else np.float32,
            "initial_h": initial_h}
