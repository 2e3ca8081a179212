"""fastgru.gufunc: the GRU layer as a NumPy generalized ufunc.

Compared with GRU.forward and with the plain-NumPy reference of each
variant's equations (tests/reference.py), for every variant and both dtypes, over
several leading (loop) shapes, with weights of several models broadcast
against one input.
"""

import numpy as np
import pytest
from _helpers import DTYPES, VARIANTS, make_layer_and_inputs
from reference import gru_forward

import fastgru
from fastgru import gufunc

TOL = {"float32": dict(rtol=2e-5, atol=2e-6), "float64": dict(rtol=1e-12, atol=1e-13)}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("variant", VARIANTS)
def test_forward_equals_layer_and_reference(variant, dtype):
    layer, x, h0, _ = make_layer_and_inputs(variant, dtype, num_layers=2, bidirectional=True,
                                            with_lengths=False, batch=3, time=6)
    y, h_n = gufunc.forward(layer, x, h0)
    y_layer, h_layer = layer.forward(x, h0)
    assert y.dtype == np.dtype(dtype) and y.shape == y_layer.shape and h_n.shape == h_layer.shape
    np.testing.assert_allclose(y, y_layer, **TOL[dtype])
    np.testing.assert_allclose(h_n, h_layer, **TOL[dtype])
    params64 = {k: v.astype(np.float64) for k, v in layer.params.items()}
    y_ref, h_ref = gru_forward(variant, params64, x.astype(dtype), h0.astype(dtype),
                               [6] * 3, 2, True)
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == "float32" else dict(rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(y, y_ref, **tol)
    np.testing.assert_allclose(h_n, h_ref, **tol)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("lead", [(), (1,), (5,), (2, 3), (2, 1, 3)])
def test_leading_shapes(lead, dtype):
    layer = fastgru.GRU(3, 4, variant="cho", dtype=dtype, random_state=1)
    x = np.random.default_rng(2).normal(size=(*lead, 7, 3))
    y, h_n = gufunc.forward(layer, x)
    assert y.shape == (*lead, 7, 4) and h_n.shape == (1, *lead, 4)
    flat = x.reshape(-1, 7, 3)
    y_ref, h_ref = layer.forward(flat)
    np.testing.assert_allclose(y.reshape(-1, 7, 4), y_ref, **TOL[dtype])
    np.testing.assert_allclose(h_n.reshape(1, -1, 4), h_ref, **TOL[dtype])


@pytest.mark.parametrize("variant", ["torch", "gru2", "mgu"])
def test_weights_of_several_models_broadcast_against_one_input(variant):
    layers = [fastgru.GRU(3, 5, variant=variant, dtype="float64", random_state=s)
              for s in range(4)]
    arrays = [gufunc.cell_arrays(layer) for layer in layers]
    stacked = [None if a[0] is None else np.stack(a) for a in zip(*arrays)]  # (models, ...)
    x = np.random.default_rng(3).normal(size=(6, 1, 8, 3))  # (batch, 1, time, features)
    h0 = np.random.default_rng(4).normal(size=(4, 5)) * 0.3  # one h0 per model
    y = gufunc.gru_layer(x, *stacked, h0, variant=variant)
    assert y.shape == (6, 4, 8, 5)
    for m, layer in enumerate(layers):
        y_ref, _ = layer.forward(x[:, 0], np.broadcast_to(h0[m], (1, 6, 5)))
        np.testing.assert_allclose(y[:, m], y_ref, **TOL["float64"])


def test_no_bias_and_serial_target_equal_the_layer(monkeypatch):
    layer = fastgru.GRU(2, 3, bias=False, variant="torch", dtype="float64", random_state=0)
    x = np.random.default_rng(0).normal(size=(4, 5, 2))
    y_par, _ = gufunc.forward(layer, x)
    monkeypatch.setattr(gufunc, "PARALLEL_MIN_SEQUENCES", 10**9)
    y_ser, _ = gufunc.forward(layer, x)
    y_ref, _ = layer.forward(x)
    np.testing.assert_allclose(y_par, y_ref, **TOL["float64"])
    np.testing.assert_array_equal(y_ser, y_par)


def test_raw_gufunc_signature_and_broadcasting():
    u = gufunc.raw_gufunc("float64")
    assert u.signature == gufunc.SIGNATURE
    layer = fastgru.GRU(2, 3, variant="gru1", dtype="float64", random_state=0)
    x = np.random.default_rng(1).normal(size=(2, 4, 2))
    W, U, b1, b2 = gufunc.cell_arrays(layer)
    assert b2 is None
    b2 = np.zeros(0)
    y = u(x, W, U, b1, b2, np.zeros(3), gufunc.MODES["gru1"])
    np.testing.assert_allclose(y, layer.forward(x)[0], **TOL["float64"])
    # a shape the kernel does not know gives NaN, never a crash
    bad = u(x, W, U[:3], b1, b2, np.zeros(3), gufunc.MODES["gru1"])
    assert np.isnan(bad).all()


@pytest.mark.parametrize("kwargs, match", [
    (dict(x=np.full((2, 3), np.nan)), "x contains NaN"),
    (dict(x=np.ones(3)), "x must have at least 2"),
    (dict(x=np.ones((2, 4))), "weight_ih has 3 columns"),
    (dict(weight_ih=np.ones((7, 3))), "weight_ih must have 12 rows"),
    (dict(weight_hh=np.ones((12, 5))), "weight_ih must have 15 rows"),
    (dict(b1=np.ones(5)), "b1 must have 12 entries"),
    (dict(b2=None), "b1 and b2 must both"),
    (dict(h0=np.ones(3)), "h0 must have hidden_size=4"),
    (dict(weight_ih="two models"), "do not broadcast"),
    (dict(h0=np.ones((2, 4))), "do not broadcast"),
])
def test_gru_layer_checks_inputs(kwargs, match):
    layer = fastgru.GRU(3, 4, random_state=0)
    W, U, b1, b2 = gufunc.cell_arrays(layer)
    args = dict(x=np.ones((3, 2, 3)), weight_ih=W, weight_hh=U, b1=b1, b2=b2, h0=None)
    args.update(kwargs)
    if isinstance(kwargs.get("weight_ih"), str):  # loop (2,) against x's (3,)
        args["weight_ih"] = np.stack([W, W])
    with pytest.raises(ValueError, match=match):
        gufunc.gru_layer(**args)


def test_bad_variant_layer_and_complex_input():
    layer = fastgru.GRU(3, 4, random_state=0)
    with pytest.raises(ValueError, match="variant must be one of"):
        gufunc.gru_layer(np.ones((2, 3)), *gufunc.cell_arrays(layer), variant="lstm")
    with pytest.raises(TypeError, match="layer must be a fastgru.GRU"):
        gufunc.forward("layer", np.ones((2, 3)))
    with pytest.raises(TypeError, match="x must be real-valued"):
        gufunc.forward(layer, np.ones((2, 3), dtype=complex))
    with pytest.raises(ValueError, match="x has 2 features"):
        gufunc.forward(layer, np.ones((2, 2)))
    with pytest.raises(ValueError, match="h0 must have shape"):
        gufunc.forward(layer, np.ones((2, 3)), h0=np.ones((2, 4)))
    with pytest.raises(ValueError, match="direction must be in"):
        gufunc.cell_arrays(layer, direction=1)


def test_gufunc_is_cached_in_the_kernel_cache_not_the_package():
    """The gufunc's compiled kernel and its ufunc wrapper are cached where
    every kernel is (fastgru._cache), never in the package's __pycache__."""
    from pathlib import Path

    from fastgru import _cache, _config

    if not _config.CACHE:
        pytest.skip("FASTGRU_NO_CACHE is set")
    gufunc.forward(fastgru.GRU(3, 4, random_state=0), np.ones((2, 3, 3)))
    here = Path(_cache.kernel_cache_dir())
    entries = [p.name for p in here.rglob("*gufunc*") if p.suffix in (".nbi", ".nbc")]
    assert any(name.endswith(".nbi") for name in entries), sorted(here.rglob("*"))[:20]
    assert not list(Path(gufunc.__file__).parent.rglob("*gufunc*.nb[ic]"))
