"""The gate variants: their parameters and how they map onto the kernel modes.

Each variant stores, per layer and direction, an input weight ``weight_ih``
(row blocks for the gates that see ``x``), a recurrent weight ``weight_hh``
(row blocks for the gates that see ``h``) and biases. The kernels see every
variant as a cell with ``G`` gate blocks of ``H`` rows whose input projection
``xproj = W x + b`` carries every additive bias; this module folds the biases
into that vector and maps the kernels' gradients back onto the named biases.

========  ===========  ==================  =========================  =====================
variant   weight_ih    weight_hh           biases                     parameters per cell
========  ===========  ==================  =========================  =====================
torch     (3H, I) rzn  (3H, H) rzn         bias_ih, bias_hh (3H,)     3H(I + H) + 6H
cho       (3H, I) rzn  (3H, H) rzn         bias_ih, bias_hh (3H,)     3H(I + H) + 6H
gru1      (H, I) n     (3H, H) rzn         bias (3H,) rzn             HI + 3H^2 + 3H
gru2      (H, I) n     (3H, H) rzn         bias (H,) n                HI + 3H^2 + H
gru3      (H, I) n     (H, H) n            bias (3H,) rzn             HI + H^2 + 3H
mgu       (2H, I) fn   (2H, H) fn          bias (2H,) fn              2H(I + H) + 2H
========  ===========  ==================  =========================  =====================
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._kernels.cell import (
    BIAS_GATES,
    MGU,
    RESET_AFTER,
    RESET_BEFORE,
    input_rows_fit,
    recurrent_rows,
    xbias_width,
)

VARIANTS = ("torch", "cho", "gru1", "gru2", "gru3", "mgu")


@dataclass(frozen=True)
class Variant:
    name: str
    mode: int  # the kernels' cell mode, whose shape rules (fastgru._kernels.cell) apply
    ih_blocks: int  # row blocks of weight_ih (the last ones of xproj)
    bias_names: tuple  # stored bias names (without the layer suffix)
    bias_blocks: tuple  # row blocks of each bias

    def __post_init__(self):
        if not input_rows_fit(self.mode, 1, self.ih_blocks):
            raise ValueError(f"variant {self.name!r}: {self.ih_blocks} row blocks of "
                             f"weight_ih do not fit cell mode {self.mode}")

    @property
    def n_gates(self) -> int:
        """G: gate blocks in ``xproj`` (3, or 2 for "mgu"), the mode's rule."""
        return xbias_width(self.mode, 1)

    @property
    def hh_blocks(self) -> int:
        """Row blocks of ``weight_hh``, the mode's rule."""
        return recurrent_rows(self.mode, 1)

    def param_shapes(self, input_size: int, hidden_size: int, bias: bool) -> dict:
        """Shapes of one cell's parameters, by name without the layer suffix."""
        H = hidden_size
        shapes = {
            "weight_ih": (self.ih_blocks * H, input_size),
            "weight_hh": (self.hh_blocks * H, H),
        }
        if bias:
            for name, blocks in zip(self.bias_names, self.bias_blocks):
                shapes[name] = (blocks * H,)
        return shapes

    def bias_arrays(self, cell: dict, dtype) -> tuple:
        """The stored biases as ``(b1, b2)`` for :func:`fastgru._kernels.cell.fold_biases`.

        ``b1``: ``bias_ih`` ("torch", "cho") or ``bias``; ``b2``: ``bias_hh``
        ("torch", "cho"); empty arrays where a cell has no such bias.
        """
        empty = np.zeros(0, dtype=dtype)
        if self.bias_names[0] not in cell:  # bias=False
            return empty, empty
        if len(self.bias_names) == 2:
            return cell["bias_ih"], cell["bias_hh"]
        return cell["bias"], empty

    def bias_grads(self, dxbias: np.ndarray, db_hn, hidden_size: int) -> dict:
        """Map the gradients of the folded biases (and of ``b_hn``, "torch"
        only) back onto the stored biases."""
        H = hidden_size
        if self.name == "torch":
            return {"bias_ih": dxbias.copy(), "bias_hh": np.concatenate([dxbias[: 2 * H], db_hn])}
        if self.name == "cho":
            return {"bias_ih": dxbias.copy(), "bias_hh": dxbias.copy()}
        n = self.bias_blocks[0] * H
        return {"bias": dxbias[dxbias.shape[0] - n :].copy()}


_TABLE = {
    "torch": Variant("torch", RESET_AFTER, 3, ("bias_ih", "bias_hh"), (3, 3)),
    "cho": Variant("cho", RESET_BEFORE, 3, ("bias_ih", "bias_hh"), (3, 3)),
    "gru1": Variant("gru1", RESET_BEFORE, 1, ("bias",), (3,)),
    "gru2": Variant("gru2", RESET_BEFORE, 1, ("bias",), (1,)),
    "gru3": Variant("gru3", BIAS_GATES, 1, ("bias",), (3,)),
    "mgu": Variant("mgu", MGU, 2, ("bias",), (2,)),
}


def get_variant(name) -> Variant:
    """Look up a variant by name; raise a ValueError naming the choices."""
    if not isinstance(name, str) or name not in _TABLE:
        raise ValueError(f"variant must be one of {', '.join(map(repr, VARIANTS))}; got {name!r}")
    return _TABLE[name]
