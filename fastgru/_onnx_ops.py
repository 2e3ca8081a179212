"""The few ONNX ops that exporters put between stacked GRU nodes (data
movement and the shape arithmetic of a dynamic Reshape), in numpy, for
:mod:`fastgru._onnx_import`'s stack check. Inputs come from an untrusted
file: each op checks its operands and refuses a result larger than
MAX_ELEMENTS before making it.
"""

from __future__ import annotations

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
