"""GRU.from_onnx spends work and memory bounded by the model it reads.

A model of a few kilobytes must not make the stack check evaluate without
end (nodes wired to read each other many times over), nor make the import
allocate gigabytes (many GRU nodes naming one initializer), and a
MemoryError is the machine's limit, never disguised as a fault of the file.
The cases that could hang or exhaust memory on a reader without these
bounds run in a subprocess with a timeout and an address-space limit.
"""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import fastgru

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _ints(name, values):
    return numpy_helper.from_array(np.asarray(values, dtype=np.int64), name)


def _stack(n_nodes, H=4, shape_of=None, extra_nodes=(), extra_inits=(), shared=False):
    """``n_nodes`` GRU nodes (H hidden units, input size H), chained as torch
    exports them: Transpose (T, 1, B, H) -> (T, B, 1, H), Reshape to (T, B, H).
    ``shape_of(k)`` names the k-th Reshape's shape (default: a constant);
    ``shared``: every node names the same W and R."""
    rng = np.random.default_rng(0)
    inits = [_ints("shape", [0, 0, -1]), *extra_inits]
    nodes = list(extra_nodes)
    current = "X"
    for k in range(n_nodes):
        tag = "" if shared else str(k)
        if shared and k == 0 or not shared:
            for name in ("W", "R"):
                inits.append(numpy_helper.from_array(
                    rng.normal(size=(1, 3 * H, H)).astype(np.float32) / H, name + tag))
        if k:
            nodes.append(helper.make_node("Transpose", [f"Y{k - 1}"], [f"t{k}"],
                                          perm=[0, 2, 1, 3]))
            shape = "shape" if shape_of is None else shape_of(k)
            nodes.append(helper.make_node("Reshape", [f"t{k}", shape], [f"m{k}"]))
            current = f"m{k}"
        nodes.append(helper.make_node("GRU", [current, "W" + tag, "R" + tag], [f"Y{k}"],
                                      hidden_size=H, name=f"gru{k}"))
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["T", "B", H])],
        [helper.make_tensor_value_info(f"Y{n_nodes - 1}", TensorProto.FLOAT, None)],
        initializer=inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _second_output_ladder(depth):
    """Nodes whose every op reads the previous op's second output twice:
    evaluated under the first output's name only, the shape costs 2**depth
    evaluations. Ends in ``s``, equal to [0, 0, -1]."""
    nodes = [helper.make_node("Sub", ["shape", "shape"], ["a0", "b0"])]  # zeros
    for d in range(1, depth + 1):
        nodes.append(helper.make_node("Add", [f"b{d - 1}", f"b{d - 1}"], [f"a{d}", f"b{d}"]))
    nodes.append(helper.make_node("Add", [f"b{depth}", "shape"], ["s"]))
    return nodes


RUN = textwrap.dedent(r"""
    import resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
    import onnx, fastgru
    model = onnx.load(sys.argv[1])
    try:
        layer = fastgru.GRU.from_onnx(model)
        print("imported", layer.num_layers)
    except ValueError as exc:
        print("ValueError:", exc)
""")


def _import_in_subprocess(model, tmp_path, timeout=120):
    path = tmp_path / "model.onnx"
    onnx.save(model, path)
    out = subprocess.run([sys.executable, "-c", RUN, str(path)], capture_output=True,
                         text=True, timeout=timeout, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": ROOT})
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.strip(), path.stat().st_size


def count_ops(monkeypatch):
    """Count the ops the import's evaluator applies: ``{"n": count}``."""
    from fastgru.interop import onnx_ops

    calls = {"n": 0}
    original = onnx_ops.apply

    def counting(g, op, ins):
        calls["n"] += 1
        return original(g, op, ins)

    monkeypatch.setattr(onnx_ops, "apply", counting)
    return calls


def test_ops_wired_through_their_second_output_are_refused_at_once(tmp_path):
    """Depth 40: 2**40 evaluations without a memo of every name."""
    model = _stack(2, shape_of=lambda k: "s", extra_nodes=_second_output_ladder(40))
    outcome, size = _import_in_subprocess(model, tmp_path)
    assert size < 8000
    assert outcome.startswith("ValueError:") and "which has one output" in outcome, outcome


def test_each_name_is_evaluated_once_per_check(monkeypatch):
    """A shape computed by ops that each read the previous one twice through
    its (only) output: each op is computed once per check, not 2**depth times."""
    nodes = [helper.make_node("Sub", ["shape", "shape"], ["z0"])]
    for d in range(1, 41):
        nodes.append(helper.make_node("Add", [f"z{d - 1}", f"z{d - 1}"], [f"z{d}"]))
    nodes.append(helper.make_node("Add", ["z40", "shape"], ["s"]))
    calls = count_ops(monkeypatch)
    layer = fastgru.GRU.from_onnx(_stack(2, shape_of=lambda k: "s", extra_nodes=nodes))
    assert layer.num_layers == 2
    ops = len(nodes) + 2  # the shape's ops, the Transpose and the Reshape
    assert 0 < calls["n"] <= 3 * ops  # at most three sizes are checked


def test_a_wide_shared_shape_graph_is_bounded_for_the_whole_model(monkeypatch):
    """200 nodes whose Reshapes all read one shape made by 3,000 ops: each
    check evaluates the 3,000 again (a fresh evaluation per pair), 600,000 in
    all without a budget for the model."""
    width = 3000
    nodes = [helper.make_node("Sub", ["shape", "shape"], [f"w{i}"]) for i in range(width)]
    nodes.append(helper.make_node("Concat", [f"w{i}" for i in range(width)], ["wide"], axis=0))
    nodes.append(helper.make_node("Slice", ["wide", "start", "stop"], ["zeros"]))
    nodes.append(helper.make_node("Add", ["zeros", "shape"], ["s"]))
    model = _stack(200, shape_of=lambda k: "s", extra_nodes=nodes,
                   extra_inits=[_ints("start", [0]), _ints("stop", [3])])
    calls = count_ops(monkeypatch)
    with pytest.raises(ValueError, match=r"would evaluate more than \d+ ops; import one node"):
        fastgru.GRU.from_onnx(model)
    assert calls["n"] <= 1 << 16
    # each node alone is still readable
    assert fastgru.GRU.from_onnx(model, node="gru7").hidden_size == 4


def test_nodes_sharing_one_initializer_are_refused_before_reading(tmp_path):
    """40 GRU nodes of hidden size 256 naming one W and one R: a 6 MiB file
    describing 40 layers (500 MB as float64); refused, nothing read."""
    model = _stack(40, H=256, shared=True)
    outcome, size = _import_in_subprocess(model, tmp_path)
    assert size < 7 << 20
    assert outcome.startswith("ValueError:") and "times the model's size" in outcome, outcome


def test_shared_initializers_of_an_honest_stack_are_read_once(monkeypatch):
    from onnx import numpy_helper as nh

    model = _stack(4, H=8, shared=True)
    reads = []
    original = nh.to_array

    def counting(tensor, *args, **kwargs):
        reads.append(tensor.name)
        return original(tensor, *args, **kwargs)

    monkeypatch.setattr(nh, "to_array", counting)
    layer = fastgru.GRU.from_onnx(model)
    assert layer.num_layers == 4
    np.testing.assert_array_equal(layer.params["weight_hh_l0"], layer.params["weight_hh_l3"])
    assert reads.count("W") == 1 and reads.count("R") == 1, reads


def test_memory_error_is_not_disguised(monkeypatch):
    from onnx import numpy_helper as nh

    def no_memory(tensor, *args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(nh, "to_array", no_memory)
    with pytest.raises(MemoryError):
        fastgru.GRU.from_onnx(_stack(1))
