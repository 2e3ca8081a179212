"""Import from ONNX: the GRU nodes of any ONNX graph as fastgru parameters
(:func:`from_onnx`, behind :meth:`fastgru.GRU.from_onnx`).

Everything here reads an ONNX file as untrusted input, and the work and
memory it spends are bounded by the file: each value is checked (type, shape
against hidden_size, finiteness) before a layer is built from it; the
weights the nodes name may need at most 16 times the model's size; the ops
between stacked nodes are evaluated once per name, within a budget of ops
and elements for the whole model.

Every check between an untrusted ONNX file and a layer is here, in the order
the import meets them, so that the whole path from a file to a layer can be
audited in one place (the evaluator of the ops between stacked nodes, with
its budgets, is :mod:`fastgru.interop.onnx_ops`).
"""

from __future__ import annotations

import math

import numpy as np

from .._validation import check_bool
from . import onnx_ops
from .onnx_export import _onnx, _swap_rz
from .onnx_ops import Memo as _Memo
from .onnx_ops import OverBudget as _OverBudget
from .onnx_ops import evaluate as _evaluate
from .onnx_ops import ints as _ints

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
    except (OSError, ValueError, MemoryError):
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
        self.checked_elements = 0  # spent by _check_chain, bounded by onnx_ops.CHECK_BUDGET
        self.evaluations = 0  # ops computed by evaluate, bounded by onnx_ops.MAX_EVALUATIONS
        for node in graph.node:
            for out in node.output:
                if out:
                    self.producer[out] = node
        self.attr = lambda node: {a.name: helper.get_attribute_value(a) for a in node.attribute}
        self.arrays = {}  # id(tensor): (tensor, its array): a tensor named often is read once

    def spend(self, elements: int, memo=None) -> None:
        """Count elements that the stack checks make against their budgets."""
        self.checked_elements += elements
        budget = onnx_ops.CHECK_BUDGET
        if self.checked_elements > budget:
            raise _OverBudget(f"evaluate more than {budget} elements")
        if memo is not None:
            memo.held += elements
            if memo.held > onnx_ops.MAX_HELD:
                raise _OverBudget(f"hold more than {onnx_ops.MAX_HELD} elements at once")

    def tensor_array(self, tensor, what: str) -> np.ndarray:
        """The tensor's values, checked (stored in the graph, a float type,
        finite); read once however many nodes name it."""
        read = self.arrays.get(id(tensor))
        if read is not None and read[0] is tensor:
            return read[1]
        arr = self._tensor_array(tensor, what)
        self.arrays[id(tensor)] = (tensor, arr)
        return arr

    def _tensor_array(self, tensor, what: str) -> np.ndarray:
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
        except MemoryError:  # the machine's limit, not a fault of the file: not disguised
            raise
        except Exception as exc:
            raise ValueError(f"{what} cannot be read ({type(exc).__name__}: {exc})") from exc
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
    try:
        _check_tagged(g, prev, node, prev_info, info, label)
    except _OverBudget as exc:  # thousands of nodes, each with many Reshapes
        raise ValueError(f"{label}: checking that the GRU nodes are one stack would {exc}; "
                         "import one node with node=<name or index>") from None


def _check_tagged(g: _Graph, prev, node, prev_info, info, label) -> None:
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
                shape = _ints(_evaluate(g, op.input[1], _Memo(), 0))
            except _OverBudget:
                raise
            except ValueError:  # reported by the evaluation of the chain below
                continue
            if len(shape) >= 2 and min(shape[:2]) > 0 and shape[0] * shape[1] * D * H <= 1 << 20:
                sizes += [(shape[0], shape[1]), (shape[1], shape[0])]
    problem = None
    for T, B in dict.fromkeys(sizes):  # each size once, in order
        g.spend(T * D * B * H)
        y = np.arange(T * D * B * H, dtype=np.float64).reshape(T, D, B, H)
        expected = y.transpose(0, 2, 1, 3).reshape(T, B, D * H)  # (T, B, D*H)
        if info["layout"] == 1:
            expected = expected.transpose(1, 0, 2)
        value = y.transpose(2, 0, 1, 3) if prev_info["layout"] == 1 else y  # (B, T, D, H)
        try:
            value = _evaluate(g, node.input[0], _Memo({prev.output[0]: value}), 0)
        except _OverBudget:
            raise
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


#: as fastgru.load: the layer a model describes may need at most this many
#: times the model's own size (or _MIN_ALLOWANCE), so that a few shared or
#: repeated initializers cannot ask for gigabytes
_MAX_INFLATION = 16
_MIN_ALLOWANCE = 16 << 20


def _check_size(g: _Graph, model, nodes) -> None:
    """Refuse, before any weight is read, GRU nodes whose weights would need
    more than _MAX_INFLATION times the model's size: each node is a layer of
    its own, so an initializer that many nodes share is counted for each."""
    from onnx import TensorProto

    elements = 0
    for n in nodes:
        for index in (1, 2, 3, 5):  # W, R, B, initial_h
            name = n.input[index] if len(n.input) > index else ""
            tensor = g.constant(name) if name else None
            # a tensor stored in another file is refused where it is read
            if tensor is not None and tensor.data_location != TensorProto.EXTERNAL:
                elements += math.prod(max(int(d), 0) for d in tensor.dims)
    need = 8 * elements  # read as float64 at most
    allowance = max(_MIN_ALLOWANCE, _MAX_INFLATION * model.ByteSize())
    if need > allowance:
        raise ValueError(
            f"the {len(nodes)} GRU node(s) name {elements} weights ({need / 2**20:.1f} MiB as "
            f"float64), more than {_MAX_INFLATION} times the model's size allows "
            f"({allowance / 2**20:.1f} MiB): a few initializers named by many nodes (or "
            "declared larger than they are); import one node with node=<name or index>")


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
    _check_size(g, model, [n for _, n in chosen])
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


def from_onnx(model_or_path_or_bytes, node=None, *, dtype=None, return_initial_h: bool = False):
    """Build a layer from the ``GRU`` nodes of an ONNX model (needs ``onnx``).

    Parameters
    ----------
    model_or_path_or_bytes : onnx.ModelProto, str, os.PathLike or bytes
        The model, a path to a ``.onnx`` file, or its serialised bytes.
    node : str, int or None, default None
        None reads every GRU node of the graph as one stack (a single node,
        or nodes chained as torch's exporters and
        :func:`fastgru.interop.onnx_export.to_onnx` write them: each node's
        input is the previous node's output, reshaped); a node's name or its
        index among the GRU nodes reads that node alone.
    dtype : {"float32", "float64"}, optional
        Defaults to the weights' type (double gives float64, float and
        float16 give float32).
    return_initial_h : bool, default False
        Return ``(layer, h0)``, where ``h0`` is the graph's constant
        ``initial_h`` (num_layers * D, batch, hidden_size) or None, to pass
        to :meth:`fastgru.GRU.forward`. Without it, a non-zero constant
        ``initial_h`` is refused (the layer alone would compute something else).

    Returns
    -------
    fastgru.GRU, or (fastgru.GRU, ndarray or None) with ``return_initial_h``

    Notes
    -----
    Weights ``W``, ``R``, ``B`` (blocks z, r, h) are reordered to
    fastgru's r, z, n; ``linear_before_reset`` != 0 gives the "torch"
    variant, 0 gives "cho"; ``layout`` 0 and 1 are read; no ``B`` gives
    ``bias=False``. ``initial_h`` and ``sequence_lens`` fed at run time
    become ``forward``'s ``h0`` and ``lengths``. Refused with a ValueError
    naming the attribute: ``clip``, activations other than Sigmoid/Tanh,
    ``activation_alpha``/``activation_beta``, ``direction="reverse"``
    (fastgru has no reverse-only layer), weights computed in the graph.
    Everything read is checked (shapes against ``hidden_size``, types,
    NaN/inf). A path must be a regular file; tensors stored as external
    data (in another file that the model names) are refused, never read:
    to read them, pass ``onnx.load(path)``. Only the GRU nodes are read:
    other operators of the graph (a head, pre-processing) are not. A file
    written by PyTorch with ``linear_before_reset=0`` draws a warning:
    ``torch.nn.GRU`` computes ``linear_before_reset=1`` (pytorch#189225).

    Examples
    --------
    >>> import fastgru
    >>> from fastgru.interop.onnx_export import to_onnx
    >>> from fastgru.interop.onnx_import import from_onnx
    >>> again = from_onnx(to_onnx(fastgru.GRU(3, 8, num_layers=2, random_state=0)))
    >>> again.num_layers
    2
    """
    from ..layer import GRU

    return_initial_h = check_bool("return_initial_h", return_initial_h)
    read = read_gru_stack(model_or_path_or_bytes, node)
    if read["initial_h"] is not None and not return_initial_h:
        raise ValueError(
            "input initial_h is a non-zero constant of the graph: a fastgru layer takes the "
            "initial state at forward (h0=); pass return_initial_h=True to get it")
    layer = GRU(read["input_size"], read["hidden_size"], read["num_layers"],
                bidirectional=read["bidirectional"], variant=read["variant"],
                bias=read["bias"], dtype=read["dtype"] if dtype is None else dtype)
    layer.load_state_dict(read["state"])
    if return_initial_h:
        h0 = read["initial_h"]
        return layer, None if h0 is None else h0.astype(layer.dtype)
    return layer
