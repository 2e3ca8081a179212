"""A plain-NumPy GRU written loop by loop from the equations of each variant
(the table "Variants" of docs/design.md; each branch of :func:`cell` spells
them out).

Independent of fastgru's code: one sequence and one time step at a time, the
gate equations spelled out per variant. Used to check the kernels' forward
pass, and (through central differences in float64) their backward pass.
"""

import numpy as np


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def cell(variant, p, x, h):
    """One step of one cell. ``p`` holds the cell's parameters by base name."""
    H = h.shape[0]
    W, U = p["weight_ih"], p["weight_hh"]

    def blk(mat, k):  # k-th row block of H rows
        return mat[k * H : (k + 1) * H]

    if variant in ("torch", "cho"):
        b_i = p.get("bias_ih", np.zeros(3 * H))
        b_h = p.get("bias_hh", np.zeros(3 * H))
        r = sigmoid(blk(W, 0) @ x + blk(b_i, 0) + blk(U, 0) @ h + blk(b_h, 0))
        z = sigmoid(blk(W, 1) @ x + blk(b_i, 1) + blk(U, 1) @ h + blk(b_h, 1))
        if variant == "torch":
            n = np.tanh(blk(W, 2) @ x + blk(b_i, 2) + r * (blk(U, 2) @ h + blk(b_h, 2)))
        else:
            n = np.tanh(blk(W, 2) @ x + blk(b_i, 2) + blk(U, 2) @ (r * h) + blk(b_h, 2))
        return (1 - z) * n + z * h
    if variant == "gru1":  # gates from U h + b
        b = p.get("bias", np.zeros(3 * H))
        r = sigmoid(blk(U, 0) @ h + blk(b, 0))
        z = sigmoid(blk(U, 1) @ h + blk(b, 1))
        n = np.tanh(W @ x + blk(U, 2) @ (r * h) + blk(b, 2))
        return (1 - z) * n + z * h
    if variant == "gru2":  # gates from U h only
        b = p.get("bias", np.zeros(H))
        r = sigmoid(blk(U, 0) @ h)
        z = sigmoid(blk(U, 1) @ h)
        n = np.tanh(W @ x + U[2 * H :] @ (r * h) + b)
        return (1 - z) * n + z * h
    if variant == "gru3":  # gates from the bias only
        b = p.get("bias", np.zeros(3 * H))
        r = sigmoid(blk(b, 0))
        z = sigmoid(blk(b, 1))
        n = np.tanh(W @ x + U @ (r * h) + blk(b, 2))
        return (1 - z) * n + z * h
    if variant == "mgu":
        b = p.get("bias", np.zeros(2 * H))
        f = sigmoid(blk(W, 0) @ x + blk(U, 0) @ h + blk(b, 0))
        n = np.tanh(blk(W, 1) @ x + blk(U, 1) @ (f * h) + blk(b, 1))
        return (1 - f) * h + f * n
    raise ValueError(variant)


def cell_params(params, layer, direction):
    suffix = f"_l{layer}" + ("_reverse" if direction else "")
    return {k[: -len(suffix)]: v for k, v in params.items() if k.endswith(suffix)}


def gru_forward(variant, params, x, h0, lengths, num_layers, bidirectional):
    """``x`` (B, T, I) padded; returns ``y`` (B, T, D*H) and ``h_n`` (L*D, B, H)."""
    B, T, _ = x.shape
    D = 2 if bidirectional else 1
    H = h0.shape[2]
    h_n = np.zeros((num_layers * D, B, H))
    layer_in = np.asarray(x, dtype=np.float64)
    for layer in range(num_layers):
        out = np.zeros((B, T, D * H))
        for d in range(D):
            p = cell_params(params, layer, d)
            for b in range(B):
                steps = range(lengths[b]) if d == 0 else range(lengths[b] - 1, -1, -1)
                h = h0[layer * D + d, b].astype(np.float64)
                for t in steps:
                    h = cell(variant, p, layer_in[b, t], h)
                    out[b, t, d * H : (d + 1) * H] = h
                h_n[layer * D + d, b] = h
        layer_in = out
    return layer_in, h_n
