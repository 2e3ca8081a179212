"""Bad input: a clear ValueError/TypeError that names the problem, before any kernel."""

import re
import warnings

import numpy as np
import pytest

import fastgru
from fastgru import _engine
from fastgru._kernels import stack


@pytest.fixture
def no_kernels(monkeypatch):
    """Fail the test if any kernel is launched."""

    def forbidden(*args, **kwargs):
        raise AssertionError("a kernel ran before the input was rejected")

    monkeypatch.setattr(_engine, "_run_blocks", forbidden)
    monkeypatch.setattr(stack, "STEP", (forbidden, forbidden))


@pytest.fixture
def layer():
    return fastgru.GRU(3, 4, 2, random_state=0)


X = np.zeros((2, 5, 3))


@pytest.mark.parametrize("kwargs,match", [
    (dict(x=np.full((2, 5, 3), np.nan)), "NaN or inf"),
    (dict(x=np.full((2, 5, 3), np.inf)), "NaN or inf"),
    (dict(x=np.zeros((5, 3))), "x must be 3-dimensional"),
    (dict(x=np.zeros((2, 5, 4))), "4 features .* input_size=3"),
    (dict(x=np.zeros((0, 5, 3))), "x is empty"),
    (dict(x=np.zeros((2, 0, 3))), "x is empty"),
    (dict(x=[]), "empty list"),
    (dict(x=[np.zeros((4, 3)), np.zeros((0, 3))]), r"x\[1\] is empty"),
    (dict(x=[np.zeros((4, 3)), np.zeros((2, 2))]), r"x\[1\] has 2 features"),
    (dict(x=X, lengths=[5, 0]), "lengths must be in 1..5"),
    (dict(x=X, lengths=[5, 6]), "lengths must be in 1..5"),
    (dict(x=X, lengths=[5]), r"lengths must have shape \(2,\)"),
    (dict(x=[np.zeros((4, 3))], lengths=[4]), "lengths must not be given"),
    (dict(x=X, h0=np.zeros((1, 2, 4))), r"h0 must have shape \(2, 2, 4\)"),
    (dict(x=X, h0=np.full((2, 2, 4), np.nan)), "h0 contains NaN or inf"),
])
def test_forward_rejects(layer, no_kernels, kwargs, match):
    with pytest.raises(ValueError, match=match):
        layer.forward(**kwargs)


@pytest.mark.parametrize("x,match", [
    (np.zeros((2, 5, 3), dtype=complex), "complex"),
    (np.zeros((2, 5, 3), dtype=object), "numbers"),
    (np.array([[["a"] * 3] * 5] * 2), "numbers"),
])
def test_forward_rejects_types(layer, no_kernels, x, match):
    with pytest.raises(TypeError, match=match):
        layer.forward(x)


def test_a_length_beyond_the_steps_is_not_called_zero_length(layer, no_kernels):
    with pytest.raises(ValueError, match="got 6") as info:
        layer.forward(X, lengths=[5, 6])
    assert "zero-length" not in str(info.value)
    with pytest.raises(ValueError, match="zero-length"):
        layer.forward(X, lengths=[5, 0])


def test_values_beyond_float32_are_not_called_nan_or_inf(layer, no_kernels):
    big = np.full((2, 5, 3), 1e39)  # finite in float64, inf once cast to float32
    calls = [lambda: layer.forward(big), lambda: layer.forward(list(big)),
             lambda: layer.step(big[:, 0]), lambda: layer.forward(X, h0=np.full((2, 2, 4), 1e39))]
    for call in calls:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no RuntimeWarning of the cast either
            with pytest.raises(ValueError, match="beyond the range of float32") as info:
                call()
        assert "NaN" not in str(info.value)
    with pytest.raises(ValueError, match="NaN or inf"):  # a real inf is still called so
        layer.forward(np.full((2, 5, 3), np.inf))
    reg = fastgru.GRURegressor(hidden_size=2, max_epochs=1, random_state=0)
    with pytest.raises(ValueError, match="beyond the range of float32"):
        reg.fit(big, np.ones(2))


@pytest.mark.skipif(np.finfo(np.longdouble).max <= np.finfo(np.float64).max,
                    reason="long double is float64 here")
def test_long_doubles_beyond_float64_are_named_without_advising_float64(no_kernels):
    layer = fastgru.GRU(3, 4, dtype="float64")
    big = np.ones((2, 5, 3), dtype=np.longdouble)
    big[0, 0, 0] = np.longdouble(1e300) * np.longdouble(1e100)  # finite as a long double
    with pytest.raises(ValueError, match="beyond the range of float64") as info:
        layer.forward(big)
    assert re.search(r"up to 1\.?e\+400", str(info.value))
    assert "use dtype='float64'" not in str(info.value)


def test_2d_values_beyond_float32_raise_without_the_casts_warning():
    big = np.full((4, 5), 1e39)  # 2-D: univariate sequences, read by scikit-learn
    reg = fastgru.GRURegressor(hidden_size=2, max_epochs=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="too large for dtype\\('float32'\\)"):
            reg.fit(big, np.ones(4))
        reg.fit(np.ones((4, 5, 1)), np.ones(4))  # fitted on 3-D: 2-D X of any length
        with pytest.raises(ValueError, match="too large for dtype\\('float32'\\)"):
            reg.predict(big)


def test_lengths_must_be_integers(layer, no_kernels):
    with pytest.raises(TypeError, match="lengths must be integers"):
        layer.forward(X, lengths=[5.5, 2])


def test_integer_and_list_input_are_converted(layer):
    y_int, _ = layer.forward(np.ones((2, 5, 3), dtype=np.int64))
    y_list, _ = layer.forward(np.ones((2, 5, 3)).tolist())
    assert y_int.dtype == np.float32
    np.testing.assert_array_equal(y_int, y_list)
    y_len, _ = layer.forward(X, lengths=np.array([5.0, 2.0]))  # whole floats are accepted
    assert not y_len[1, 2:].any()


def test_backward_without_training_forward(layer):
    with pytest.raises(ValueError, match="training=True"):
        layer.backward(np.zeros((2, 5, 4)))
    layer.forward(X)  # inference does not enable backward
    with pytest.raises(ValueError, match="training=True"):
        layer.backward(np.zeros((2, 5, 4)))


def test_backward_rejects(layer):
    layer.forward(X, training=True)
    with pytest.raises(ValueError, match=r"dy must have shape \(2, 5, 4\)"):
        layer.backward(np.zeros((2, 5, 3)))
    with pytest.raises(ValueError, match="dy contains NaN or inf"):
        layer.backward(np.full((2, 5, 4), np.nan))
    with pytest.raises(ValueError, match=r"dh_n must have shape"):
        layer.backward(np.zeros((2, 5, 4)), dh_n=np.zeros((1, 2, 4)))
    layer.backward(np.zeros((2, 5, 4)))  # the cache survived the bad calls


@pytest.mark.parametrize("args,kwargs,exc,match", [
    ((0, 4), {}, ValueError, "input_size must be >= 1"),
    ((3, -1), {}, ValueError, "hidden_size must be >= 1"),
    ((3, 4.0), {}, TypeError, "hidden_size must be an integer"),
    ((3, 4, 0), {}, ValueError, "num_layers must be >= 1"),
    ((3, 4), {"variant": "lstm"}, ValueError, "variant must be one of"),
    ((3, 4), {"dropout": 1.0}, ValueError, "dropout must be in"),
    ((3, 4), {"dropout": -0.1}, ValueError, "dropout must be in"),
    ((3, 4), {"dtype": "float16"}, ValueError, "dtype must be 'float32' or 'float64'"),
    ((3, 4), {"bidirectional": "yes"}, TypeError, "bidirectional must be a bool"),
])
def test_constructor_rejects(args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        fastgru.GRU(*args, **kwargs)


@pytest.mark.parametrize("x_t,h,match", [
    (np.zeros((2, 4)), None, "4 features, expected input_size=3"),
    (np.zeros(3), None, "x_t must be 2-dimensional"),
    (np.full((2, 3), np.nan), None, "x_t contains NaN or inf"),
    (np.zeros((2, 3)), np.zeros((1, 2, 4)), r"h must have shape \(2, 2, 4\)"),
    (np.zeros((2, 3)), np.full((2, 2, 4), np.inf), "h contains NaN or inf"),
])
def test_step_rejects(layer, no_kernels, x_t, h, match):
    with pytest.raises(ValueError, match=match):
        layer.step(x_t, h)


def test_load_state_dict_rejects_and_keeps_weights(layer):
    before = layer.state_dict()
    bad = layer.state_dict()
    bad["weight_hh_l1"] = np.zeros((3, 3))
    with pytest.raises(ValueError, match="weight_hh_l1.*shape"):
        layer.load_state_dict(bad)
    bad = layer.state_dict()
    bad["bias_ih_l0"][0] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        layer.load_state_dict(bad)
    bad = layer.state_dict()
    del bad["bias_hh_l1"]
    with pytest.raises(ValueError, match="missing"):
        layer.load_state_dict(bad)
    for k, v in before.items():
        np.testing.assert_array_equal(layer.params[k], v)


def test_set_num_threads_rejects():
    with pytest.raises(ValueError, match="n must be between 1"):
        fastgru.set_num_threads(0)
    with pytest.raises(TypeError, match="integer"):
        fastgru.set_num_threads(1.5)


@pytest.mark.parametrize("where", ["x_t", "h"])
def test_step_fast_path_rejects_nan_without_writing(layer, where):
    """Arrays already in the layer's dtype skip conversion; the kernel checks
    NaN/inf before it writes anything."""
    x_t = np.zeros((2, 3), np.float32)
    h = np.zeros((2, 2, 4), np.float32)
    {"x_t": x_t, "h": h}[where][0, 0] = np.inf
    out = np.full((2, 2, 4), 7.0, np.float32)
    with pytest.raises(ValueError, match=f"{where} contains NaN or inf"):
        layer.step(x_t, h, out=out)
    assert (out == 7.0).all()


def test_sequence_form_of_sparse_input():
    # a sparse X is "2d" for the estimators, whatever its ndim (a 3-D COO
    # array too): validate_data then says what is wrong with it
    sparse = pytest.importorskip("scipy.sparse")
    from fastgru._validation import sequence_form

    assert sequence_form(sparse.csr_matrix(np.ones((2, 3)))) == "2d"
    if hasattr(sparse, "coo_array"):
        try:
            cube = sparse.coo_array(np.ones((2, 3, 4)))
        except (TypeError, ValueError):  # SciPy without n-D sparse arrays
            return
        assert cube.ndim == 3
        assert sequence_form(cube) == "2d"
    assert sequence_form(np.ones((2, 3, 4))) == "3d"
