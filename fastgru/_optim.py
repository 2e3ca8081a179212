"""Stochastic optimisers and gradient clipping on dicts of numpy arrays.

Plain numerics: they know nothing of layers or estimators. Parameters are
updated in place, so the arrays a layer holds stay the same objects. Each
array's update is one pass of a kernel (:func:`fastgru._kernels.optim.adam_update`,
:func:`~fastgru._kernels.optim.sgd_update`) over flat views.
"""

from __future__ import annotations

import numpy as np

from ._kernels import optim


def _flat_updates(params: dict, grads: dict, states: dict, n_states: int):
    """Per parameter: ``(p, g, state, new)``, flat 1-D arrays for a kernel to
    update ``p`` and its ``n_states`` state arrays (zeros on first use, when
    ``new``) in place; ``g`` is in ``p``'s dtype. A parameter that is not a
    writeable C-contiguous array (one assigned by hand) is updated through a
    flat copy, written back after the kernel."""
    for name, p in params.items():
        # the kernels read p, g and the states to p's length: anything else
        # would be read past its end
        if not (isinstance(p, np.ndarray) and p.dtype.kind == "f"):
            raise TypeError(f"parameter {name!r} must be a float array, got "
                            f"{type(p).__name__} {getattr(p, 'dtype', '')}")
        g = np.ascontiguousarray(grads[name], dtype=p.dtype).reshape(-1)
        if g.size != p.size:
            raise ValueError(f"gradient of {name!r} has {g.size} elements, the parameter "
                             f"{p.size} (shape {p.shape})")
        # new: first use, or the parameter was replaced by one of another size
        # or dtype (a parameter's states are made together: the first stands
        # for all of them)
        state = states.get(name)
        new = state is None or state[0].size != p.size or state[0].dtype != p.dtype
        if new:
            state = states[name] = tuple(np.zeros(p.size, dtype=p.dtype)
                                         for _ in range(n_states))
        if p.flags.carray:
            yield p.reshape(-1), g, state, new
        else:
            flat = p.ravel().copy()
            yield flat, g, state, new
            p[...] = flat.reshape(p.shape)  # (runs once the caller's loop body is done)


def clip_grad_norm(grads: dict, max_norm: float | None) -> float:
    """Scale ``grads`` in place so that their global L2 norm is at most ``max_norm``.

    Returns the norm before clipping (as ``torch.nn.utils.clip_grad_norm_``).
    """
    norm = float(np.sqrt(sum(float(np.vdot(g, g)) for g in grads.values())))
    if max_norm is not None and norm > max_norm:
        scale = max_norm / (norm + 1e-6)
        for g in grads.values():
            g *= scale
    return norm


class SGD:
    """SGD with (optionally Nesterov) momentum and L2 weight decay, as torch.optim.SGD."""

    def __init__(self, learning_rate=1e-2, momentum=0.9, weight_decay=0.0, nesterov=False):
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.nesterov = nesterov
        self._velocity = {}  # per parameter: (flat velocity,)

    def update(self, params: dict, grads: dict) -> None:
        rate, momentum = float(self.learning_rate), float(self.momentum)
        decay, nesterov = float(self.weight_decay), bool(self.nesterov)
        for p, g, (velocity,), new in _flat_updates(params, grads, self._velocity, 1):
            optim.sgd_update(p, g, velocity, rate, momentum, decay, nesterov, new)


class Adam:
    """Adam (Kingma and Ba 2015) with L2 weight decay, as torch.optim.Adam."""

    def __init__(self, learning_rate=1e-3, beta1=0.9, beta2=0.999, epsilon=1e-8,
                 weight_decay=0.0):
        self.learning_rate = learning_rate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weight_decay = weight_decay
        self.t = 0
        self._moments = {}  # per parameter: flat (m, v)

    def update(self, params: dict, grads: dict) -> None:
        self.t += 1
        bias1 = 1.0 - self.beta1**self.t
        bias2 = 1.0 - self.beta2**self.t
        step = float(self.learning_rate) / bias1
        beta1, beta2 = float(self.beta1), float(self.beta2)
        eps, decay = float(self.epsilon), float(self.weight_decay)
        for p, g, (m, v), _ in _flat_updates(params, grads, self._moments, 2):
            optim.adam_update(p, g, m, v, step, beta1, beta2, bias2, eps, decay)
