"""Stochastic optimisers and gradient clipping on dicts of numpy arrays.

Plain numerics: they know nothing of layers or estimators. Parameters are
updated in place, so the arrays a layer holds stay the same objects.
"""

from __future__ import annotations

import numpy as np


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
        self._velocity = {}

    def update(self, params: dict, grads: dict) -> None:
        for name, p in params.items():
            g = grads[name]
            if self.weight_decay:
                g = g + self.weight_decay * p
            if self.momentum:
                v = self._velocity.get(name)
                if v is None:
                    v = self._velocity[name] = g.copy()
                else:
                    v *= self.momentum
                    v += g
                g = g + self.momentum * v if self.nesterov else v
            p -= (self.learning_rate * g).astype(p.dtype, copy=False)


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
        self._m = {}
        self._v = {}

    def update(self, params: dict, grads: dict) -> None:
        self.t += 1
        bias1 = 1.0 - self.beta1**self.t
        bias2 = 1.0 - self.beta2**self.t
        step = self.learning_rate / bias1
        for name, p in params.items():
            g = grads[name]
            if self.weight_decay:
                g = g + self.weight_decay * p
            m = self._m.setdefault(name, np.zeros_like(p))
            v = self._v.setdefault(name, np.zeros_like(p))
            m *= self.beta1
            m += (1.0 - self.beta1) * g
            v *= self.beta2
            v += (1.0 - self.beta2) * g * g
            p -= (step * m / (np.sqrt(v / bias2) + self.epsilon)).astype(p.dtype, copy=False)
