"""A GRU stack with a linear output head on its final states.

The head reads the last layer's final state of every direction (each
sequence's state at its own last valid step; for the reverse direction, after
its first step), concatenated: ``features (batch, D*H)``, ``out = features @
W.T + b``. This is what the estimators train; it knows nothing of them.
"""

from __future__ import annotations

import numpy as np

from . import _kernel_args, _passes
from ._engine import Workspace
from .layer import GRU

#: Most rows :meth:`SequenceNet.forward_blocks` runs at once: at hidden
#: size 32 and 36 steps, about 150 MB of buffers in float32.
BLOCK_ROWS = 8192


def init_head(n_inputs: int, n_outputs: int, dtype, rng: np.random.Generator) -> dict:
    """A linear head initialised as ``torch.nn.Linear``: U(-1/sqrt(n_inputs), ...)."""
    bound = 1.0 / np.sqrt(n_inputs)
    return {
        "weight": rng.uniform(-bound, bound, size=(n_outputs, n_inputs)).astype(dtype),
        "bias": rng.uniform(-bound, bound, size=n_outputs).astype(dtype),
    }


class SequenceNet:
    """``gru`` followed by the linear ``head`` (a dict with "weight", "bias").

    ``params`` and ``grads`` expose every trainable array under one flat
    namespace ("gru.<name>", "head.weight", "head.bias") for the optimisers;
    the params are the layer's and the head's own arrays (updated in place).

    Everything a training step keeps between its forward and backward (the
    GRU's tape, the final features, the buffers they live in, the gradients)
    belongs to this object, not to the layer: a trainer makes its own net and
    drops it when done, so the fitted model holds no training state, and
    inference on the same layer from other threads (which runs on the layer's
    per-thread buffers) never meets it.
    """

    def __init__(self, gru: GRU, head: dict):
        self.gru = gru
        self.head = head
        # once per net, not per forward: a net lives for one fit or predict,
        # in which the optimiser updates the head's arrays in place only
        self.check_head()
        self.grads = {}
        self._features = None
        self._tape = None
        self._workspace = Workspace()

    @property
    def params(self) -> dict:
        out = {"gru." + k: v for k, v in self.gru.params.items()}
        out.update({"head." + k: v for k, v in self.head.items()})
        return out

    def check_head(self) -> None:
        """The head must be a float array (n_outputs, D*H) of the layer's
        dtype and a bias (n_outputs,): a ValueError/TypeError naming it."""
        head, gru = self.head, self.gru
        width = gru.hidden_size * gru.num_directions
        if not isinstance(head, dict) or set(head) != {"weight", "bias"}:
            raise ValueError("head_ must be a dict with the arrays 'weight' and 'bias'")
        W, b = head["weight"], head["bias"]
        for name, a in (("weight", W), ("bias", b)):
            if not isinstance(a, np.ndarray) or a.dtype != gru.dtype:
                raise TypeError(f"head_[{name!r}] must be a numpy array of dtype "
                                f"{gru.dtype.name}, got {type(a).__name__} "
                                f"{getattr(a, 'dtype', '')}")
        if W.ndim != 2 or W.shape[1] != width:
            raise ValueError(f"head_['weight'] has shape {W.shape}, expected (n_outputs, {width})")
        if b.shape != (W.shape[0],):
            raise ValueError(f"head_['bias'] has shape {b.shape}, expected ({W.shape[0]},)")

    def _final_features(self, h_n: np.ndarray) -> np.ndarray:
        D = self.gru.num_directions
        last = h_n[h_n.shape[0] - D :]  # (D, B, H) of the last layer
        return np.ascontiguousarray(last.transpose(1, 0, 2).reshape(last.shape[1], -1))

    def forward(self, x: np.ndarray, lengths: np.ndarray, training: bool = False) -> np.ndarray:
        """Outputs ``(batch, n_outputs)`` for padded ``x`` and its ``lengths``."""
        # the head reads the final states only: no batch-first copy of the outputs
        if training:
            _, h_n, self._tape = _passes.train_forward(self.gru, x, lengths, self._workspace,
                                                       outputs=False)
        else:
            _, h_n = _kernel_args.forward_admitted(self.gru, x, None, lengths, outputs=False)
        features = self._final_features(h_n)
        self._features = features if training else None
        return features @ self.head["weight"].T + self.head["bias"]

    def forward_blocks(self, x: np.ndarray, lengths: np.ndarray,
                       rows: int | None = None) -> np.ndarray:
        """:meth:`forward` (inference) over the rows of ``x`` in blocks of at
        most ``rows`` (default :data:`BLOCK_ROWS`), all of one size: the
        last block overlaps the one before it, so that one set of the
        layer's buffers serves every block. Up to ``rows`` rows, the same
        as :meth:`forward`; past it, the buffers are those of a block, not
        of every row (float32 outputs then differ from one call's in the
        last bits, as the kernels sum in another order for another batch)."""
        rows = BLOCK_ROWS if rows is None else rows
        n = x.shape[0]
        if n <= rows:
            return self.forward(x, lengths)
        size = -(-n // -(-n // rows))  # ceil(n / the number of blocks)
        out = None
        for start in range(0, n, size):
            start = min(start, n - size)
            part = self.forward(x[start:start + size], lengths[start:start + size])
            if out is None:
                out = np.empty((n, part.shape[1]), part.dtype)
            out[start:start + size] = part
        return out

    def backward(self, d_out: np.ndarray) -> None:
        """Fill :attr:`grads` from the gradient of the outputs of a training forward."""
        features = self._features
        if features is None or self._tape is None:
            raise RuntimeError("backward needs a preceding forward(..., training=True)")
        W = self.head["weight"]
        gru = self.gru
        D, H = gru.num_directions, gru.hidden_size
        B = features.shape[0]
        with np.errstate(over="ignore", invalid="ignore"):
            d_features = d_out @ W  # (B, D*H)
        if not np.isfinite(d_features).all():
            raise FloatingPointError("the gradient of the GRU's final states overflowed")
        dh_n = np.zeros((gru.num_layers * D, B, H), dtype=gru.dtype)
        dh_n[dh_n.shape[0] - D :] = d_features.reshape(B, D, H).transpose(1, 0, 2)
        grads = {}
        # the loss reads the final states only
        _passes.train_backward(gru, self._tape, None, dh_n, False, self._workspace, grads)
        self.grads = {"gru." + k: v for k, v in grads.items()}
        self.grads["head.weight"] = d_out.T @ features
        self.grads["head.bias"] = d_out.sum(axis=0)
