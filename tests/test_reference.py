"""The layer's forward and backward (fastgru.layer, fastgru._engine,
fastgru._kernels) against the plain-NumPy reference of ``tests/reference.py``.

Forward: outputs and final states equal the loop-by-loop reference. Backward:
the directional derivative <grad, v> of every input, h0 and every parameter
tensor equals a float64 central difference of the *reference* forward; on
small float64 layers of every variant, every element of every gradient does.
With dropout (which the reference has not), the gradients equal element-wise
central differences of the layer's own forward with its masks held fixed.
"""

import numpy as np
import pytest
from _helpers import DTYPES, VARIANTS, make_layer_and_inputs
from reference import gru_forward

CASES = [
    (variant, dtype, num_layers, bidirectional, with_lengths)
    for variant in VARIANTS
    for dtype in DTYPES
    for num_layers in (1, 3)
    for bidirectional in (False, True)
    for with_lengths in (False, True)
]


def _ids(case):
    v, dt, nl, bi, ln = case
    return f"{v}-{dt}-L{nl}-{'bi' if bi else 'uni'}-{'len' if ln else 'full'}"


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_matches_reference(case):
    _check_against_reference(*case)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_every_gradient_element_matches_central_differences(variant, bidirectional):
    """Element-wise float64 central differences of the reference forward, for
    every element of dx, dh0 and every parameter (stacked, ragged)."""
    _check_against_reference(variant, "float64", 2, bidirectional, True, elementwise=True,
                             batch=3, time=4, input_size=2, hidden=3)


def numeric_grad(f, arr, eps=1e-6):
    """Central differences of ``f()`` with respect to each element of ``arr``
    (perturbed in place, restored)."""
    grad = np.zeros_like(arr)
    flat, gflat = arr.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        up = f()
        flat[i] = old - eps
        down = f()
        flat[i] = old
        gflat[i] = (up - down) / (2 * eps)
    return grad


@pytest.mark.parametrize("variant", ["torch", "mgu"])
def test_dropout_gradients_with_fixed_masks(variant):
    """With the dropout masks held fixed, backward is the exact gradient."""
    import copy

    layer, x, h0, _ = make_layer_and_inputs(variant, "float64", 3, True, False, hidden=3)
    layer.dropout = 0.4
    rng_state = copy.deepcopy(layer._rng)
    dy = np.random.default_rng(5).normal(size=(3, 5, 6))

    def loss():
        layer._rng = copy.deepcopy(rng_state)
        return np.sum(layer.forward(x, h0, training=True)[0] * dy)

    without_dropout = np.sum(layer.forward(x, h0)[0] * dy)
    assert not np.isclose(loss(), without_dropout)  # dropout acts in training
    dx, dh0 = layer.backward(dy)
    np.testing.assert_allclose(dx, numeric_grad(loss, x), atol=1e-7, rtol=1e-6)
    for name in ("weight_ih_l0", "weight_hh_l1_reverse", "weight_ih_l2"):
        np.testing.assert_allclose(layer.grads[name], numeric_grad(loss, layer.params[name]),
                                   atol=1e-7, rtol=1e-6, err_msg=name)


# Sizes that send the recurrent products down each routine of
# fastgru._kernels.products.matmul, in blocks of rows of the batch (2 blocks where
# the batch allows): (batch, hidden) -> rows per block, routine
ROUTINE_SIZES = [
    (1, 16),  # 1 row in gemm_row: the "torch" kernels' copies for blocks of one row
    (5, 40),  # 2-3 rows: gemm_nn's 3- and 2-row tiles, a shifted last strip
    (64, 128),  # 32 rows: gemm_nn's 4-row tiles, whole strips
    (1, 420),  # 1 row against 1260 x 420 weights: BLAS's matrix-vector product
    (1, 100),  # 1 row against 300 x 100 weights, beyond gemm_row's: gemm_nt, by address
    (3, 100),  # 1 row (gemm_nt) and 2 rows (gemm_nn) in one layer
    (3, 420),  # 1 row (gemv) and 2 rows (gemm_nn, 420 = 13 strips and a shifted one)
]


@pytest.mark.parametrize("batch,hidden", ROUTINE_SIZES)
@pytest.mark.parametrize("variant", ["torch", "cho", "mgu"])
def test_matches_reference_in_every_product_routine(variant, batch, hidden):
    _check_against_reference(variant, "float64", 1, False, True, batch=batch, time=3,
                             input_size=5, hidden=hidden)


@pytest.mark.parametrize("variant", ["torch", "gru1"])  # gru1: weight_ih feeds part of xproj
def test_matches_reference_with_inputs_wider_than_the_tiles(variant):
    """Input 130, beyond the projection's tiles (large_products.project_tiled):
    the first layer's projection runs in BLAS, the second's (input 8) in the tiles."""
    _check_against_reference(variant, "float32", 2, False, True, batch=3, time=3,
                             input_size=130, hidden=8)


# BPTT's weight gradients (fastgru._engine._chunk_steps), forced on the small
# sizes here (batch 3 in 2 row blocks of 1 and 2 rows, 5 steps): chunk rows
# -> steps per chunk. Rows of lengths 2 and 1 make one block skip its last
# three steps, so chunks start part-way and the last one is short.
CHUNKINGS = {
    "products-after-loop": None,  # _chunk_steps -> 0
    "chunks-of-1-step": 1,
    "chunks-of-2-steps": 4,
    "one-chunk": 256,
}


@pytest.mark.parametrize("chunking", CHUNKINGS)
@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_weight_gradients_every_chunking_match_reference(monkeypatch, variant, dtype,
                                                         bidirectional, chunking):
    _force_chunking(monkeypatch, chunking)
    _check_against_reference(variant, dtype, 2, bidirectional, True)


@pytest.mark.parametrize("chunking", CHUNKINGS)
@pytest.mark.parametrize("variant", ["torch", "gru1"])  # gru1: weight_ih feeds part of dxp
def test_backward_without_input_grad_gives_the_same_gradients(monkeypatch, variant, chunking):
    """``input_grad=False`` skips only the first layer's dx: every other result
    is bit for bit the one of a full backward (checked against the reference
    above), on each BPTT path, stacked, bidirectional and ragged."""
    _force_chunking(monkeypatch, chunking)
    layer, x, h0, lengths = make_layer_and_inputs(variant, "float32", 2, True, True)
    rng = np.random.default_rng(3)
    y, h_n = layer.forward(x, h0, lengths=lengths, training=True)
    dy, dhn = rng.normal(size=y.shape), rng.normal(size=h_n.shape)
    dx, dh0 = layer.backward(dy, dhn)
    grads = {k: v.copy() for k, v in layer.grads.items()}
    assert np.abs(dx).max() > 0
    layer.forward(x, h0, lengths=lengths, training=True)
    dx_none, dh0_again = layer.backward(dy, dhn, input_grad=False)
    assert dx_none is None
    np.testing.assert_array_equal(dh0_again, dh0)
    for name, g in grads.items():
        np.testing.assert_array_equal(layer.grads[name], g, err_msg=name)


@pytest.mark.parametrize("chunking", CHUNKINGS)
def test_backward_without_dy_is_backward_with_zeros(monkeypatch, chunking):
    """``dy=None`` (a loss on the final states only) skips reading dy: the
    results are bit for bit those of an all-zeros dy (checked against the
    reference above), on each BPTT path, stacked, bidirectional and ragged."""
    _force_chunking(monkeypatch, chunking)
    layer, x, h0, lengths = make_layer_and_inputs("torch", "float32", 2, True, True)
    y, h_n = layer.forward(x, h0, lengths=lengths, training=True)
    dhn = np.random.default_rng(3).normal(size=h_n.shape)
    dx, dh0 = layer.backward(np.zeros_like(y), dhn)
    grads = {k: v.copy() for k, v in layer.grads.items()}
    assert np.abs(dx).max() > 0
    layer.forward(x, h0, lengths=lengths, training=True)
    dx_none, dh0_none = layer.backward(None, dhn)
    np.testing.assert_array_equal(dx_none, dx)
    np.testing.assert_array_equal(dh0_none, dh0)
    for name, g in grads.items():
        np.testing.assert_array_equal(layer.grads[name], g, err_msg=name)


def _force_chunking(monkeypatch, chunking):
    from fastgru import _config, _engine

    monkeypatch.setattr(_config, "MAX_BLOCKS", 2)
    rows = CHUNKINGS[chunking]
    if rows is None:
        monkeypatch.setattr(_engine, "_chunk_steps", lambda *sizes: 0)
    else:
        monkeypatch.setattr(_engine, "_CHUNK_ROWS", rows)
        assert _engine._chunk_steps(5, 3, 4 * 3 * 6, 8) == {1: 1, 4: 2, 256: 5}[rows]


def _check_against_reference(variant, dtype, num_layers, bidirectional, with_lengths,
                             elementwise=False, **sizes):
    layer, x, h0, lengths = make_layer_and_inputs(variant, dtype, num_layers, bidirectional,
                                                  with_lengths, **sizes)
    B, T, _ = x.shape
    full = lengths if lengths is not None else np.full(B, T)
    params64 = {k: v.astype(np.float64) for k, v in layer.params.items()}
    x = x.astype(dtype).astype(np.float64)  # both see the same rounded inputs
    h0 = h0.astype(dtype).astype(np.float64)

    def ref(params=params64, x=x, h0=h0):
        return gru_forward(variant, params, x, h0, full, num_layers, bidirectional)

    y_ref, hn_ref = ref()
    y, h_n = layer.forward(x, h0, lengths=lengths, training=True)
    atol = 2e-6 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(y, y_ref, atol=atol, rtol=0)
    np.testing.assert_allclose(h_n, hn_ref, atol=atol, rtol=0)
    # rows past a sequence's length are exactly zero
    for b in range(B):
        assert not y[b, full[b]:].any()

    rng = np.random.default_rng(7)
    dy = rng.normal(size=y.shape)
    dhn = rng.normal(size=h_n.shape)
    dx, dh0 = layer.backward(dy, dhn)

    def loss(params=params64, x=x, h0=h0):
        yy, hh = ref(params, x, h0)
        return np.sum(yy * dy) + np.sum(hh * dhn)

    eps = 1e-6
    rtol = 2e-4 if dtype == "float32" else 1e-6

    def check(name, grad, perturbed_loss, shape):
        if elementwise:  # every element: one central difference per element
            numeric = np.zeros(shape)
            for i in np.ndindex(shape):
                e = np.zeros(shape)
                e[i] = eps
                numeric[i] = (perturbed_loss(e) - perturbed_loss(-e)) / (2 * eps)
            np.testing.assert_allclose(grad, numeric, atol=1e-7, rtol=1e-6, err_msg=name)
            return
        v = rng.normal(size=shape)
        numeric = (perturbed_loss(eps * v) - perturbed_loss(-eps * v)) / (2 * eps)
        analytic = float(np.sum(grad * v))
        scale = np.linalg.norm(grad) * np.linalg.norm(v) + 1e-12
        assert abs(analytic - numeric) <= rtol * scale, (name, analytic, numeric)

    # padded steps of x do not influence anything
    mask = np.zeros_like(x)
    for b in range(B):
        mask[b, : full[b]] = 1
    check("x", dx * mask, lambda dv: loss(x=x + dv * mask), x.shape)
    check("h0", dh0, lambda dv: loss(h0=h0 + dv), h0.shape)
    for name, p in params64.items():
        check(name, layer.grads[name],
              lambda dv, name=name: loss(params={**params64, name: params64[name] + dv}),
              p.shape)
