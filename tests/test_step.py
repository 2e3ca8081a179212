"""Streaming: stepping through a sequence reproduces forward's h_n."""

import numpy as np
import pytest
from _helpers import DTYPES, VARIANTS, count_calls, make_layer_and_inputs


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("num_layers", [1, 3])
def test_step_equals_forward(variant, dtype, num_layers):
    layer, x, h0, _ = make_layer_and_inputs(variant, dtype, num_layers, False, False)
    y, h_n = layer.forward(x, h0)
    h = h0.astype(dtype)
    for t in range(x.shape[1]):
        h = layer.step(x[:, t], h)
        np.testing.assert_allclose(h[-1], y[:, t], atol=1e-6 if dtype == "float32" else 1e-13)
    np.testing.assert_allclose(h, h_n, atol=1e-6 if dtype == "float32" else 1e-13)


def test_step_in_place_and_default_state():
    layer, x, _, _ = make_layer_and_inputs("torch", "float32", 2, False, False)
    h = np.zeros((2, x.shape[0], layer.hidden_size), dtype=np.float32)
    for t in range(x.shape[1]):
        out = layer.step(x[:, t], h, out=h)
        assert out is h
    np.testing.assert_allclose(h, layer.forward(x)[1], atol=1e-6)
    np.testing.assert_allclose(layer.step(x[:, 0]), layer.forward(x[:, :1])[1], atol=1e-6)


def test_step_refuses_bidirectional_and_bad_out():
    layer, x, _, _ = make_layer_and_inputs("torch", "float32", 1, True, False)
    with pytest.raises(ValueError, match="bidirectional"):
        layer.step(x[:, 0])
    layer, x, _, _ = make_layer_and_inputs("torch", "float32", 1, False, False)
    with pytest.raises(ValueError, match="out must be"):
        layer.step(x[:, 0], out=np.zeros((1, 3, 3)))  # float64, not float32


def test_step_sees_replaced_and_modified_parameters():
    """step caches its kernel arguments; replacing or editing a weight is seen."""
    layer, x, _, _ = make_layer_and_inputs("torch", "float32", 2, False, False)
    first = layer.step(x[:, 0])
    layer.params["weight_hh_l1"] = layer.params["weight_hh_l1"] * 2  # replaced
    np.testing.assert_allclose(layer.step(x[:, 0]), layer.forward(x[:, :1])[1], atol=1e-6)
    layer.params["bias_hh_l0"] += 1.0  # in place
    np.testing.assert_allclose(layer.step(x[:, 0]), layer.forward(x[:, :1])[1], atol=1e-6)
    layer.params = dict(layer.params)  # a plain dict
    layer.params["weight_ih_l0"] = np.zeros_like(layer.params["weight_ih_l0"])
    np.testing.assert_allclose(layer.step(x[:, 0]), layer.forward(x[:, :1])[1], atol=1e-6)
    assert not np.allclose(first, layer.step(x[:, 0]))


def _count_checked_calls(monkeypatch):
    """A list that grows by one on each call through step's checked path."""
    from fastgru import _kernel_args

    return count_calls(monkeypatch, _kernel_args, "step_args")


def test_step_fast_path_matches_the_checked_path(monkeypatch):
    """The serving call (contiguous arrays of the right dtype and shape) skips
    step_args; it still sees replaced or edited weights, a plain params dict,
    a new batch size and NaN in the input, like the checked path."""
    layer, x, _, _ = make_layer_and_inputs("torch", "float32", 2, False, False)
    xs = [np.ascontiguousarray(x[:, t], dtype=np.float32) for t in range(x.shape[1])]
    checked = _count_checked_calls(monkeypatch)
    h = np.zeros((2, x.shape[0], layer.hidden_size), dtype=np.float32)
    for x_t in xs:
        h = layer.step(x_t, h)
    assert len(checked) == 1  # only the first call builds the cache
    np.testing.assert_allclose(h, layer.forward(x)[1], atol=1e-6)

    def stepped():
        h = np.zeros((2, x.shape[0], layer.hidden_size), dtype=np.float32)
        for x_t in xs:
            layer.step(x_t, h, out=h)
        return h

    layer.params["weight_hh_l1"] = layer.params["weight_hh_l1"] * 2  # replaced
    np.testing.assert_allclose(stepped(), layer.forward(x)[1], atol=1e-6)
    layer.params["bias_hh_l0"] += 1.0  # in place
    np.testing.assert_allclose(stepped(), layer.forward(x)[1], atol=1e-6)
    layer.params = dict(layer.params)  # a plain dict: no version counter
    layer.params["weight_ih_l0"] = np.zeros_like(layer.params["weight_ih_l0"])
    np.testing.assert_allclose(stepped(), layer.forward(x)[1], atol=1e-6)

    h = np.zeros((2, 1, layer.hidden_size), dtype=np.float32)  # another batch size
    np.testing.assert_allclose(layer.step(xs[0][:1], h), layer.forward(x[:1, :1])[1],
                               atol=1e-6)
    bad = xs[0][:1].copy()
    bad[0, 0] = np.nan
    before = h.copy()
    with pytest.raises(ValueError, match="x_t contains NaN or inf"):
        layer.step(bad, h, out=h)
    np.testing.assert_array_equal(h, before)


def test_step_fast_path_only_for_the_exact_array_types(monkeypatch):
    """The fast path calls the kernel compiled for writeable, aligned, C-ordered
    arrays of the layer's dtype without Numba's type checks: anything else
    (a strided view, another dtype, a read-only array, another shape) must go
    through the checked path and still give forward's state."""
    layer, x, _, _ = make_layer_and_inputs("torch", "float32", 2, False, False)
    B, H = x.shape[0], layer.hidden_size
    expected = layer.forward(x[:, :1])[1]
    h0 = np.zeros((2, B, H), dtype=np.float32)
    layer.step(np.ascontiguousarray(x[:, 0], dtype=np.float32), h0)  # builds the cache
    checked = _count_checked_calls(monkeypatch)
    x0 = np.ascontiguousarray(x[:, 0], dtype=np.float32)
    read_only = x0.copy()
    read_only.setflags(write=False)
    wide = np.zeros((B, 2 * x.shape[2]), dtype=np.float32)
    wide[:, ::2] = x0
    for name, x_t, h in [
        ("strided x_t", wide[:, ::2], h0),
        ("float64 x_t", x0.astype(np.float64), h0),
        ("read-only x_t", read_only, h0),
        ("float64 h", x0, h0.astype(np.float64)),
        ("Fortran-ordered h", x0, np.asfortranarray(h0)),
    ]:
        before = len(checked)
        np.testing.assert_allclose(layer.step(x_t, h), expected, atol=1e-6, err_msg=name)
        assert len(checked) == before + 1, name
    with pytest.raises(ValueError, match="input_size"):
        layer.step(np.zeros((B, x.shape[2] + 1), dtype=np.float32), h0)


def test_step_kernel_refuses_a_short_scratch():
    """step_layers builds its views of the scratch without reshape's checks:
    it checks the buffer's size first."""
    from fastgru._kernels import stack

    layer, x, _, _ = make_layer_and_inputs("torch", "float32", 1, False, False)
    x0 = np.ascontiguousarray(x[:, 0], dtype=np.float32)
    h = np.zeros((1, x.shape[0], layer.hidden_size), dtype=np.float32)
    layer.step(x0, h)
    args = list(layer._local.step.kernel_args)
    args[-1] = args[-1][:-1]
    with pytest.raises(ValueError, match="scratch too small"):
        stack.step_layers(layer._local.step.mode, x0, h, h.copy(), *args)
