"""The ONNX evaluator of :mod:`fastgru.interop.onnx_import`'s stack check:
the few ops that exporters put between stacked GRU nodes (data movement and
the shape arithmetic of a dynamic Reshape), in numpy, and :func:`evaluate`,
which computes a name of the graph from them within budgets. Inputs come
from an untrusted file: each op checks its operands and refuses a result
larger than MAX_ELEMENTS before making it.
"""

from __future__ import annotations

import math

import numpy as np

MAX_ELEMENTS = 1 << 22  # evaluated tensors are small: a tagged (T, D, B, H) and shapes


def ints(a) -> list:
    """``a``'s values as Python ints; a ValueError for another dtype."""
    a = np.asarray(a)
    if a.dtype.kind not in "iu":
        raise ValueError(f"expected integers, got {a.dtype}")
    return [int(v) for v in np.ravel(a)]


_ARITY = {"Reshape": 2, "Mul": 2, "Add": 2, "Sub": 2, "Gather": 2, "Slice": 3}


def apply(g, op, ins: list) -> np.ndarray:
    """The output of node ``op`` of graph ``g`` for the input values ``ins``."""
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
        if size > MAX_ELEMENTS:
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
            axes = ints(ins[1])
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
        shape = ints(ins[1])
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
        starts, ends = ints(ins[1]), ints(ins[2])
        steps = ints(ins[4]) if len(ins) > 4 and ins[4] is not None else [1]
        if len(starts) != 1 or len(ends) != 1 or steps != [1]:
            raise ValueError("Slice of a shape with several axes or a step")
        return a[slice(starts[0], ends[0])]
    raise ValueError(f"a {t} node")


class OverBudget(ValueError):
    """The stack checks of one model would spend more than their budget."""


# the tagged arrays of all the stack checks of one model and the new arrays
# their ops make, in elements (about a second's work): a static export's
# check of each pair of nodes takes at most a few million
CHECK_BUDGET = 1 << 27
MAX_HELD = 1 << 24  # elements one evaluation keeps at once (128 MiB of float64)
#: ops evaluated for one model (each evaluation computes each op once): a
#: stack's checks evaluate a few ops per pair of nodes and size
MAX_EVALUATIONS = 1 << 16


class Memo(dict):
    """The values of one evaluation by name, and the elements they hold."""

    held = 0


def evaluate(g, name: str, values: Memo, depth: int) -> np.ndarray:
    """The value of ``name`` computed from ``values`` and the graph's constants
    by the few ops exporters put between stacked GRU nodes (data movement and
    the shape arithmetic of a dynamic Reshape). Raises ValueError otherwise.

    Each name is computed once per evaluation (``values`` keeps it), so the
    work is bounded by the graph's size, whatever the ops' wiring; all
    evaluations of a model together compute at most MAX_EVALUATIONS ops and
    make at most CHECK_BUDGET new elements, one at most MAX_HELD."""
    if name in values:
        return values[name]
    if depth > 64:
        raise ValueError("too long a chain of ops")
    const = g.constant(name)
    if const is not None:
        from onnx import numpy_helper

        if any(d < 0 for d in const.dims) or math.prod(const.dims) > MAX_ELEMENTS:
            raise ValueError(f"constant {name!r} is too large")
        try:
            value = numpy_helper.to_array(const)
        except MemoryError:
            raise
        except Exception as exc:
            raise ValueError(f"constant {name!r} cannot be read ({exc})") from exc
        g.spend(value.size, values)
        values[name] = value
        return value
    op = g.producer.get(name)
    if op is None:
        raise ValueError(f"{name!r} is a graph input" if name in g.inputs
                         else f"{name!r} is not defined")
    if name != op.output[0]:  # every op evaluated here has one output
        raise ValueError(f"{name!r} is output #{list(op.output).index(name)} of a "
                         f"{op.op_type} node, which has one output")
    g.evaluations += 1
    if g.evaluations > MAX_EVALUATIONS:
        raise OverBudget(f"evaluate more than {MAX_EVALUATIONS} ops")
    ins = [evaluate(g, i, values, depth + 1) if i else None for i in op.input]
    try:
        value = apply(g, op, ins)
    except ValueError as exc:
        raise ValueError(f"a {op.op_type} node: {exc}") from None
    except (TypeError, IndexError, KeyError, AttributeError, OverflowError) as exc:
        # a malformed node (an input missing, an index out of range, an
        # attribute of another type): numpy's or Python's error, named
        raise ValueError(f"a {op.op_type} node ({type(exc).__name__}: {exc})") from None
    if np.size(value) > MAX_ELEMENTS:
        raise ValueError(f"{op.op_type} makes too large a tensor")
    if value.flags.owndata and not any(value is v for v in ins):  # new memory, not a view
        g.spend(value.size, values)
    values[name] = value  # each name computed once per evaluation, however often it is read
    return value
