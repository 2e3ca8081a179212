"""Property tests of the public surface: every call equals the float64
reference or raises a ValueError/TypeError naming the bad argument.

Hypothesis draws shapes (0-sized too), dtypes, layouts (strided, negative
strides, Fortran, read-only, unaligned, lists) and one fault at a time
(NaN/inf, wrong shapes, bad lengths/h0/out). The budget is fixed and
derandomised: 25 examples per property by default, 200 in the slow-marked
:func:`test_at_a_higher_budget` (the scheduled run: ``pytest -m slow``);
``FASTGRU_HYPOTHESIS_EXAMPLES`` sets it (e.g. 2000 for a long local run).
The layout-heavy properties, where a kernel handed a wrong array would
crash, run in a subprocess (:func:`test_in_subprocess`), so a segfault fails
the test instead of killing the run.

The estimators: ``GRURegressor.predict`` and ``GRUClassifier.predict``/
``predict_proba``/``predict_log_proba`` (also ragged lists and object arrays)
equal the fitted ``gru_`` layer's float64 reference on the final state, then
the head ``head_`` and (classifier) a softmax written here; ``fit`` of both,
with one hostile hyper-parameter or data fault at a time, refuses naming it or
gives finite predictions; ``GRUForecaster.fit/predict`` over series lengths,
window, horizon (0, negative, huge) and NaN placement refuses naming the
argument or forecasts finite values of the right shape. Each records what it
checked as hypothesis events (``--hypothesis-show-statistics``).
"""

import os
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, event, example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from reference import gru_forward  # noqa: E402

import fastgru  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = int(os.environ.get("FASTGRU_HYPOTHESIS_EXAMPLES", "25"))
IN_SUBPROCESS = os.environ.get("FASTGRU_PROPERTY_SUBPROCESS") == "1"
SETTINGS = settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))
crash_prone = pytest.mark.skipif(not IN_SUBPROCESS,
                                 reason="run by test_in_subprocess in its own process")

I, H = 3, 4
VARIANTS = ["torch", "cho", "gru1", "mgu"]
LAYERS = {}


def layer_for(variant, dtype, num_layers=1, bidirectional=False):
    key = (variant, dtype, num_layers, bidirectional)
    if key not in LAYERS:
        LAYERS[key] = fastgru.GRU(I, H, num_layers, bidirectional=bidirectional,
                                  variant=variant, dtype=dtype, random_state=0)
    return LAYERS[key]


def reference(layer, x, h0=None, lengths=None):
    B, T, _ = x.shape
    D = layer.num_directions
    if h0 is None:
        h0 = np.zeros((layer.num_layers * D, B, H))
    if lengths is None:
        lengths = np.full(B, T)
    params = {k: v.astype(np.float64) for k, v in layer.params.items()}
    return gru_forward(layer.variant, params, np.asarray(x, np.float64), np.asarray(h0),
                       np.asarray(lengths), layer.num_layers, layer.bidirectional)


def tolerance(dtype):
    return dict(rtol=1e-4, atol=1e-5) if dtype == "float32" else dict(rtol=1e-9, atol=1e-11)


def relayout(arr, how):
    """The same values in another memory layout."""
    if how == "C":
        return np.ascontiguousarray(arr)
    if how == "F":
        return np.asfortranarray(arr)
    if how == "strided":
        big = np.zeros(arr.shape[:-1] + (2 * arr.shape[-1],), arr.dtype)
        big[..., ::2] = arr
        return big[..., ::2]
    if how == "negative":
        flipped = np.ascontiguousarray(arr[::-1])
        return flipped[::-1]
    if how == "readonly":
        out = np.array(arr)
        out.setflags(write=False)
        return out
    if how == "unaligned":
        raw = np.zeros(arr.nbytes + 1, np.uint8)
        out = raw[1:].view(arr.dtype).reshape(arr.shape)
        out[...] = arr
        return out
    if how == "list":
        return arr.tolist()
    if how == "int":
        return np.round(arr).astype(np.int64)
    raise AssertionError(how)


LAYOUTS = ["C", "F", "strided", "negative", "readonly", "unaligned", "list", "int"]
X_FAULTS = ["nan", "inf", "features", "ndim", "complex", "object", "empty_time"]
OTHER_FAULTS = ["lengths_zero", "lengths_long", "lengths_shape", "lengths_float",
                "h0_shape", "h0_nan", "training_str"]


def apply_x_fault(x, fault, rng):
    if fault == "nan":
        x = x.copy()
        x[tuple(rng.integers(0, s) for s in x.shape)] = np.nan
    elif fault == "inf":
        x = x.copy()
        x[tuple(rng.integers(0, s) for s in x.shape)] = -np.inf
    elif fault == "features":
        x = np.concatenate([x, x[..., :1]], axis=-1)
    elif fault == "ndim":
        x = x[..., 0]
    elif fault == "complex":
        x = x + 1j
    elif fault == "object":
        x = x.astype(object)
    elif fault == "empty_time":
        x = x[:, :0]
    return x


def check_error(exc, names):
    """``exc`` is a ValueError/TypeError naming one of the bad arguments."""
    assert isinstance(exc, (ValueError, TypeError))
    assert any(name in str(exc) for name in names), (names, str(exc))


# ----------------------------------------------------------------- constructor
SIZES = st.one_of(st.integers(1, 6), st.integers(-3, 0), st.integers(2**31, 2**80),
                  st.floats(allow_nan=True), st.booleans(), st.text(max_size=3), st.none())


@SETTINGS
@given(input_size=SIZES, hidden_size=SIZES, num_layers=SIZES,
       variant=st.sampled_from(VARIANTS + ["gru2", "gru3", "lstm", ""]),
       dropout=st.one_of(st.floats(-1, 2), st.just(float("nan"))),
       dtype=st.sampled_from(["float32", "float64", "float16", "int32", None]),
       bidirectional=st.sampled_from([True, False, 1, "yes"]))
def test_constructor(input_size, hidden_size, num_layers, variant, dropout, dtype,
                     bidirectional):
    args = dict(input_size=input_size, hidden_size=hidden_size, num_layers=num_layers,
                variant=variant, dropout=dropout, dtype=dtype, bidirectional=bidirectional)

    def ok_size(v):
        return isinstance(v, int) and not isinstance(v, bool) and 1 <= v < 2**31

    valid = {
        "input_size": ok_size(input_size), "hidden_size": ok_size(hidden_size),
        "num_layers": ok_size(num_layers), "variant": variant in VARIANTS + ["gru2", "gru3"],
        "dropout": 0.0 <= dropout < 1.0, "dtype": dtype in ("float32", "float64"),
        "bidirectional": isinstance(bidirectional, bool),
    }
    try:
        layer = fastgru.GRU(input_size, hidden_size, num_layers, variant=variant,
                            dropout=dropout, dtype=dtype, bidirectional=bidirectional)
    except (ValueError, TypeError) as exc:
        bad = [k for k, ok in valid.items() if not ok]
        assert bad, f"valid arguments refused: {args}: {exc}"
        assert any(k in str(exc) for k in bad), (bad, str(exc))
        return
    assert all(valid.values()), f"invalid arguments accepted: {args}"
    assert layer.n_params > 0


# --------------------------------------------------------------------- forward
@crash_prone
@SETTINGS
@given(variant=st.sampled_from(VARIANTS), dtype=st.sampled_from(["float32", "float64"]),
       num_layers=st.integers(1, 2), bidirectional=st.booleans(),
       batch=st.integers(0, 3), time=st.integers(1, 4),
       layout=st.sampled_from(LAYOUTS), with_lengths=st.booleans(), with_h0=st.booleans(),
       fault=st.sampled_from([None] * 6 + X_FAULTS + OTHER_FAULTS),
       seed=st.integers(0, 2**16))
def test_forward(variant, dtype, num_layers, bidirectional, batch, time, layout,
                 with_lengths, with_h0, fault, seed):
    layer = layer_for(variant, dtype, num_layers, bidirectional)
    rng = np.random.default_rng(seed)
    L, D = num_layers * (2 if bidirectional else 1), 1
    x = rng.normal(size=(batch, time, I))
    lengths = rng.integers(1, time + 1, size=batch) if with_lengths else None
    h0 = rng.normal(size=(L, batch, H)) if with_h0 else None
    bads = ["x"] if batch == 0 else []  # empty
    if layout == "list" and lengths is not None:
        bads.append("lengths")  # a list is ragged: its lengths are its own
    if fault in X_FAULTS and x.size:
        x = apply_x_fault(x, fault, rng)
        bads.append("x")
    elif fault == "lengths_zero" and batch:
        lengths = np.zeros(batch, int)
        bads.append("lengths")
    elif fault == "lengths_long" and batch:
        lengths = np.full(batch, time + 1)
        bads.append("lengths")
    elif fault == "lengths_shape":
        lengths = np.ones(batch + 1, int)
        bads.append("lengths")
    elif fault == "lengths_float" and batch:
        lengths = np.full(batch, 0.5)
        bads.append("lengths")
    elif fault == "h0_shape":
        h0 = rng.normal(size=(L + 1, batch, H))
        bads.append("h0")
    elif fault == "h0_nan" and batch:
        h0 = rng.normal(size=(L, batch, H))
        h0[0, 0, 0] = np.nan
        bads.append("h0")
    training = "no" if fault == "training_str" else False
    if fault == "training_str":
        bads.append("training")
    if fault not in ("complex", "object") and not (layout == "int" and fault in ("nan", "inf")):
        x_arg = relayout(x, layout) if x.ndim == 3 and x.size else x
    else:
        x_arg = x
    del D
    try:
        y, h_n = layer.forward(x_arg, h0=h0, lengths=lengths, training=training)
    except (ValueError, TypeError) as exc:
        assert bads, f"valid call refused: {exc}"
        check_error(exc, bads)
        return
    assert not bads, f"bad {bads} accepted ({fault})"
    x_ref = np.round(x) if layout == "int" else x
    y_ref, h_ref = reference(layer, x_ref, h0, lengths)
    np.testing.assert_allclose(y, y_ref, **tolerance(dtype))
    np.testing.assert_allclose(h_n, h_ref, **tolerance(dtype))


# ------------------------------------------------------------------------ step
@crash_prone
@SETTINGS
@given(variant=st.sampled_from(VARIANTS), dtype=st.sampled_from(["float32", "float64"]),
       num_layers=st.integers(1, 2), batch=st.integers(0, 3),
       x_layout=st.sampled_from(LAYOUTS), h_layout=st.sampled_from(LAYOUTS + ["none"]),
       out_kind=st.sampled_from(["none", "good", "memmap", "F", "readonly", "dtype", "shape",
                                 "h itself"]),
       fault=st.sampled_from([None] * 4 + ["x_nan", "h_nan", "x_features", "h_shape"]),
       repeat=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_step(variant, dtype, num_layers, batch, x_layout, h_layout, out_kind, fault,
              repeat, seed, tmp_path_factory):
    layer = layer_for(variant, dtype, num_layers)
    rng = np.random.default_rng(seed)
    L = num_layers
    x = rng.normal(size=(batch, I))
    h = None if h_layout == "none" else rng.normal(size=(L, batch, H))
    bads = ["x_t"] if batch == 0 else []
    if fault == "x_nan" and batch:
        x[0, 0] = np.nan
        bads.append("x_t")
    elif fault == "x_features":
        x = rng.normal(size=(batch, I + 1))
        bads.append("x_t")
    elif fault == "h_nan" and h is not None and batch:
        h[0, 0, 0] = np.inf
        bads.append("h")
    elif fault == "h_shape" and h is not None:
        h = rng.normal(size=(L, batch + 1, H))
        bads.append("h")
    shape = (L, batch, H)
    out = None
    if out_kind == "good":
        out = np.empty(shape, dtype)
    elif out_kind == "memmap":
        out = np.memmap(tmp_path_factory.mktemp("m") / "out", dtype=dtype, mode="w+",
                        shape=shape) if batch else np.empty(shape, dtype)
        bads.extend(["out"] if batch else [])
    elif out_kind == "F":
        out = np.asfortranarray(np.empty(shape, dtype))
        bads.extend(["out"] if not (out.flags.c_contiguous) else [])
    elif out_kind == "readonly":
        out = np.empty(shape, dtype)
        out.setflags(write=False)
        bads.append("out")
    elif out_kind == "dtype":
        out = np.empty(shape, np.float16)
        bads.append("out")
    elif out_kind == "shape":
        out = np.empty((L, batch + 1, H), dtype)
        bads.append("out")
    # an integer layout cannot hold a NaN/inf fault: such an input keeps its
    # float form (as int64 the fault would become a finite number)
    if fault == "x_nan" and x_layout == "int":
        x_layout = "C"
    if fault == "h_nan" and h_layout == "int":
        h_layout = "C"
    # the reference's inputs are copies taken now: out=h overwrites h, and
    # relayout may return the array itself
    h_used = None if h is None else np.round(h) if h_layout == "int" else h.copy()
    x_used = np.round(x) if x_layout == "int" else x.copy()
    x_arg = relayout(x, x_layout) if x.size else x
    h_arg = h if h is None or not h.size else relayout(h, h_layout)
    if out_kind == "h itself" and h is not None and isinstance(h_arg, np.ndarray) \
            and h_arg.dtype == dtype and h_arg.flags.carray:
        out = h_arg
    for _ in range(repeat):  # the second call takes the fast path
        try:
            new = layer.step(x_arg, h_arg, out=out)
        except (ValueError, TypeError) as exc:
            assert bads, f"valid call refused: {exc}"
            check_error(exc, bads)
            return
        assert not bads, f"bad {bads} accepted"
        _, h_ref = reference(layer, x_used[:, None, :],
                             None if h_used is None else h_used, None)
        np.testing.assert_allclose(new, h_ref, **tolerance(dtype))
        if out is not None:
            assert new is out
        if out is h_arg:
            return  # h was overwritten: the next call starts elsewhere


# -------------------------------------------------------------------- backward
@crash_prone
@SETTINGS
@given(variant=st.sampled_from(VARIANTS), bidirectional=st.booleans(),
       batch=st.integers(1, 2), time=st.integers(1, 3), with_lengths=st.booleans(),
       fault=st.sampled_from([None] * 4 + ["dy_shape", "dy_nan", "dh_shape", "no_forward",
                                           "input_grad_str"]),
       seed=st.integers(0, 2**16))
def test_backward(variant, bidirectional, batch, time, with_lengths, fault, seed):
    layer = layer_for(variant, "float64", 1, bidirectional)
    rng = np.random.default_rng(seed)
    D = layer.num_directions
    x = rng.normal(size=(batch, time, I))
    lengths = rng.integers(1, time + 1, size=batch) if with_lengths else None
    dy = rng.normal(size=(batch, time, D * H))
    if lengths is not None:
        dy[np.arange(time)[None, :] >= lengths[:, None]] = 0.0
    dh = rng.normal(size=(D, batch, H))
    bad, kwargs = None, {}
    if fault == "no_forward":
        layer.forward(x)  # inference: backward has nothing to work from
        bad = "training"
    else:
        layer.forward(x, lengths=lengths, training=True)
    if fault == "dy_shape":
        dy, bad = dy[:, :, :-1], "dy"
    elif fault == "dy_nan":
        dy = dy.copy()
        dy[0, 0, 0] = np.nan
        bad = "dy"
    elif fault == "dh_shape":
        dh, bad = dh[:, :, :-1], "dh_n"
    elif fault == "input_grad_str":
        kwargs, bad = {"input_grad": "yes"}, "input_grad"
    try:
        dx, dh0 = layer.backward(dy, dh, **kwargs)
    except (ValueError, TypeError) as exc:
        assert bad is not None, f"valid call refused: {exc}"
        check_error(exc, [bad])
        return
    assert bad is None, f"bad {bad} accepted"

    def loss(x_, h0_):
        y, h_n = reference(layer, x_, h0_, lengths)
        return float((y * dy).sum() + (h_n * dh).sum())

    h0 = np.zeros((D, batch, H))
    eps = 1e-6
    num_dx = np.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += eps
        xm[idx] -= eps
        num_dx[idx] = (loss(xp, h0) - loss(xm, h0)) / (2 * eps)
    if lengths is not None:
        num_dx[np.arange(time)[None, :] >= lengths[:, None]] = 0.0
    np.testing.assert_allclose(dx, num_dx, rtol=1e-5, atol=1e-7)
    assert dh0.shape == (D, batch, H) and np.isfinite(dh0).all()


# ------------------------------------------------------------------ estimators
@pytest.fixture(scope="module")
def regressor():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(12, 4, 2)), rng.normal(size=12)
    return fastgru.GRURegressor(hidden_size=4, max_epochs=2, random_state=0).fit(X, y)


@SETTINGS
@given(batch=st.integers(0, 3), time=st.integers(0, 4), layout=st.sampled_from(LAYOUTS),
       fault=st.sampled_from([None] * 3 + ["nan", "inf", "features", "complex", "object"]),
       seed=st.integers(0, 2**16))
def test_regressor_predict(regressor, batch, time, layout, fault, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch, time, 2))
    bad = batch == 0 or time == 0
    if fault and x.size:
        x, bad = apply_x_fault(x, fault, rng), True
    if layout == "int" and fault in ("nan", "inf"):
        layout = "C"  # NaN/inf have no integer form: casting would hide them
    arg = relayout(x, layout) if x.size and fault not in ("complex", "object") else x
    try:
        pred = regressor.predict(arg)
    except (ValueError, TypeError) as exc:
        assert bad, f"valid X refused: {exc}"
        assert "X" in str(exc) or "feature" in str(exc) or "NaN" in str(exc), str(exc)
        return
    assert not bad, f"bad X accepted ({fault}, shape {x.shape})"
    x_used = np.round(x) if layout == "int" else x
    gru = regressor.gru_
    _, h_n = reference(gru, x_used)
    head = {k: v.astype(np.float64) for k, v in regressor.head_.items()}
    expected = (h_n[-1] @ head["weight"].T + head["bias"])[:, 0]
    expected = expected * regressor.y_scale_[0] + regressor.y_mean_[0]
    np.testing.assert_allclose(pred, expected, rtol=1e-4, atol=1e-5)


def names_argument(exc, names):
    """``exc`` is a ValueError/TypeError naming one of ``names`` as a word
    (``y`` must stand alone, not be the y of "type")."""
    assert isinstance(exc, (ValueError, TypeError)), repr(exc)
    assert any(re.search(rf"(?<![A-Za-z0-9_']){re.escape(n)}(?![A-Za-z0-9_])", str(exc))
               or f"'{n}'" in str(exc) for n in names), (names, str(exc))


def softmax(logits):
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


N_CLASSES = 3


@pytest.fixture(scope="module")
def classifier():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(12, 4, 2))
    y = np.array(["a", "b", "c"] * 4)
    return fastgru.GRUClassifier(hidden_size=H, max_epochs=2, random_state=0).fit(X, y)


def classifier_reference(clf, x, lengths=None):
    """Probabilities in float64 from the fitted layer ``gru_`` (tests/reference.py on
    the final state) and the head ``head_`` ("weight" (n_classes, H), "bias"):
    logits = h_n[-1] @ weight.T + bias, then a softmax over ``classes_``."""
    _, h_n = reference(clf.gru_, x, None, lengths)
    head = {k: v.astype(np.float64) for k, v in clf.head_.items()}
    return softmax(h_n[-1] @ head["weight"].T + head["bias"])


@SETTINGS
@given(batch=st.sampled_from([0, 1, 2, 3]), time=st.sampled_from([0, 1, 2, 3, 4]),
       form=st.sampled_from(LAYOUTS + ["ragged", "object"]),
       fault=st.sampled_from([None] * 8 + ["nan", "inf", "features", "fewer_features",
                                           "complex", "object", "ragged_features"]),
       method=st.sampled_from(["predict_proba", "predict", "predict_log_proba"]),
       seed=st.integers(0, 2**16))
def test_classifier_predict(classifier, batch, time, form, fault, method, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch, time, 2))
    lengths = None
    bad = batch == 0 or time == 0
    if form in ("ragged", "object") and x.size:
        lengths = rng.integers(1, time + 1, size=batch)
    if fault in ("fewer_features",) and x.size:
        x, bad = x[..., :1], True
    elif fault and fault != "ragged_features" and x.size:
        x, bad = apply_x_fault(x, fault, rng), True
    if form == "int" and fault in ("nan", "inf"):
        form = "C"  # NaN/inf have no integer form: casting would hide them
    if lengths is not None:
        seqs = [x[b, :lengths[b]] for b in range(batch)]
        if fault in ("nan", "inf"):  # the NaN may lie past a sequence's end: cut off
            bad = not all(np.isfinite(q).all() for q in seqs)
        if fault == "ragged_features":
            seqs[-1] = np.concatenate([seqs[-1], seqs[-1][:, :1]], axis=1)
            bad = True
        if form == "object":
            arg = np.empty(batch, object)
            for b, s in enumerate(seqs):
                arg[b] = s
        else:
            arg = [s.tolist() if b % 2 else s for b, s in enumerate(seqs)]
    elif x.size and x.ndim == 3 and fault not in ("complex", "object") \
            and form not in ("ragged", "object"):
        arg = relayout(x, form)
    else:
        arg = x
    try:
        out = getattr(classifier, method)(arg)
    except (ValueError, TypeError) as exc:
        assert bad, f"valid X refused ({form}, {fault}, {x.shape}): {exc}"
        names_argument(exc, ["X", "x", "feature", "features"])
        event("refused")
        return
    assert not bad, f"bad X accepted ({form}, {fault}, shape {x.shape})"
    event(f"checked against the reference ({form})")
    x_used = np.round(x) if form == "int" else x
    if lengths is not None:
        x_used = np.zeros_like(x)
        for b in range(batch):
            x_used[b, :lengths[b]] = x[b, :lengths[b]]
    expected = classifier_reference(classifier, x_used, lengths)
    if method == "predict_proba":
        assert out.shape == (batch, N_CLASSES) and out.dtype == np.float64
        np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-12)
    elif method == "predict_log_proba":
        np.testing.assert_allclose(np.exp(out), expected, rtol=1e-4, atol=1e-6)
    else:
        clear = np.sort(expected, axis=1)
        clear = clear[:, -1] - clear[:, -2] > 1e-4  # no near-tie between the top two
        assert out.shape == (batch,)
        np.testing.assert_array_equal(out[clear],
                                      classifier.classes_[expected.argmax(axis=1)][clear])


# -------------------------------------------------------------------- fit
HYPER = {
    "hidden_size": st.one_of(st.integers(-2, 0), st.floats(0.5, 4), st.booleans(),
                             st.text(max_size=2), st.none()),
    "batch_size": st.one_of(st.integers(-2, 0), st.floats(0.5, 4), st.text(max_size=2),
                            st.none()),
    "max_epochs": st.one_of(st.integers(-2, 0), st.floats(0.5, 2), st.booleans(),
                            st.text(max_size=2)),
    "learning_rate": st.one_of(st.sampled_from([float("inf"), float("nan"), -1e-3, 0.0,
                                                -float("inf")]), st.text(max_size=2)),
}
DATA_FAULTS = ["y_nan", "y_inf", "y_short", "y_long", "y_2d_wrong", "one_class", "x_nan",
               "no_samples", "x_none", "y_none", "y_str"]


@SETTINGS
@given(kind=st.sampled_from(["regressor", "classifier"]),
       fault=st.sampled_from([None] * 6 + list(HYPER) + DATA_FAULTS),
       bad_params=st.fixed_dictionaries(HYPER),
       n=st.integers(1, 6), time=st.integers(1, 3), seed=st.integers(0, 2**16))
# cases run whatever the budget: max_epochs=True (scikit-learn's
# Interval(Integral) accepts it, fastgru must not); y of strings, X=None and a
# shorter y (the messages must name y or X)
@example(kind="regressor", fault="max_epochs", bad_params={"max_epochs": True},
         n=4, time=2, seed=0)
@example(kind="regressor", fault="y_str", bad_params={}, n=4, time=2, seed=0)
@example(kind="classifier", fault="x_none", bad_params={}, n=4, time=2, seed=0)
@example(kind="regressor", fault="y_short", bad_params={}, n=1, time=2, seed=0)
@example(kind="classifier", fault="one_class", bad_params={}, n=4, time=2, seed=0)
def test_fit(kind, fault, bad_params, n, time, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, time, 2))
    y = rng.normal(size=n) if kind == "regressor" else np.arange(n) % 2
    if kind == "classifier" and n == 1:
        y = np.array([0])
    params = dict(hidden_size=2, batch_size=4, max_epochs=1, learning_rate=1e-2)
    bad = []
    if kind == "classifier" and n == 1:
        bad.append("y")  # a single sample is a single class
    if fault in HYPER:
        params[fault] = bad_params[fault]
        bad.append(fault)
    elif fault in ("y_nan", "y_inf") and kind == "regressor":
        y[rng.integers(0, n)] = np.nan if fault == "y_nan" else np.inf
        bad.append("y")
    elif fault == "y_nan":  # a NaN label
        y = y.astype(float)
        y[rng.integers(0, n)] = np.nan
        bad.append("y")
    elif fault == "y_short":
        y, bad = y[:-1], bad + ["y", "X"]
    elif fault == "y_long":
        y, bad = np.concatenate([y, y[:1]]), bad + ["y", "X"]
    elif fault == "y_2d_wrong":
        y, bad = np.stack([y, y, y], axis=0), bad + ["y"]
        if kind == "regressor" and n == 3:
            bad.remove("y")  # (3, 3): three samples of three outputs
    elif fault == "one_class":
        y = np.zeros(n) if kind == "classifier" else y
        bad += ["y"] if kind == "classifier" else []
    elif fault == "x_nan":
        X[tuple(rng.integers(0, s) for s in X.shape)] = np.nan
        bad.append("X")
    elif fault == "no_samples":
        X, y, bad = X[:0], y[:0], bad + ["X", "y"]
    elif fault == "x_none":
        X, bad = None, bad + ["X"]
    elif fault == "y_none":
        y, bad = None, bad + ["y"]
    elif fault == "y_str" and kind == "regressor":
        y, bad = np.array(["a"] * n), bad + ["y"]
    cls = fastgru.GRURegressor if kind == "regressor" else fastgru.GRUClassifier
    est = cls(random_state=0, **params)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.fit(X, y)
    except (ValueError, TypeError) as exc:
        assert bad, f"valid fit refused ({kind}, {params}): {exc!r}"
        names_argument(exc, bad)
        event(f"refused ({fault})")
        return
    assert not bad, f"bad {bad} accepted ({kind}, {params}, {fault})"
    event("fitted")
    pred = est.predict(X)
    assert pred.shape[0] == n
    if kind == "regressor":
        assert np.isfinite(pred).all(), pred
    else:
        proba = est.predict_proba(X)
        assert np.isfinite(proba).all() and np.allclose(proba.sum(axis=1), 1.0)


# ----------------------------------------------------------------- forecaster
HORIZONS = st.sampled_from([1, 2, 3] * 3 + [0, -1, 2**31, 10**30, 1.5, True, "2"])


@SETTINGS
@given(length=st.sampled_from([0, 2, 4, 6, 8, 10, 12]), n_series=st.sampled_from([None, 1, 2]),
       window=st.integers(1, 4), horizon=HORIZONS,
       predict_horizon=st.sampled_from([None, 1, 2, 5, 0, -1, 2**31 - 1, 2**31, 1.5, "2"]),
       nan_at=st.sampled_from([None] * 4 + [0, 5, 11]), with_history=st.booleans(),
       seed=st.integers(0, 2**16))
# a case run whatever the budget: horizon=2**31 - 1 must be refused at once, not
# run a loop quadratic in it
@example(length=6, n_series=None, window=2, horizon=1, predict_horizon=2**31 - 1, nan_at=None,
         with_history=False, seed=0)
def test_forecaster(length, n_series, window, horizon, predict_horizon, nan_at, with_history,
                    seed):
    rng = np.random.default_rng(seed)
    shape = (length,) if n_series is None else (length, n_series)
    y = rng.normal(size=shape).cumsum(axis=0)
    bad = []
    if length == 0:
        bad.append("y")
    if nan_at is not None and nan_at < length:
        y[nan_at] = np.nan
        if nan_at > 0:  # a leading NaN is dropped, a later one refused
            bad.append("y")

    def ok_int(v):
        return isinstance(v, int) and not isinstance(v, bool) and 1 <= v < 2**31

    if not ok_int(horizon):
        bad.append("horizon")
    else:
        first = 1 if nan_at == 0 else 0
        if "y" not in bad and length - first < min(window, 2) + horizon:
            bad += ["y", "horizon"]  # too short for one training window
    model = fastgru.GRUForecaster(window=window, horizon=horizon, hidden_size=2, max_epochs=1,
                                  batch_size=8, random_state=0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(y)
    except (ValueError, TypeError) as exc:
        assert bad, f"valid fit refused ({shape}, {window}, {horizon}): {exc!r}"
        names_argument(exc, bad)
        event("fit refused")
        return
    assert not bad, f"bad {bad} accepted ({shape}, window {window}, horizon {horizon})"
    steps = horizon if predict_horizon is None else predict_horizon
    history = y if with_history else None
    try:
        # 1 GiB, whatever the machine: horizon=2**31 - 1 must be refused, not run for hours
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(fastgru._validation, "_PHYSICAL_MEMORY", 2**30)
            forecast = model.predict(predict_horizon, y=history)
    except (ValueError, TypeError) as exc:
        assert not ok_int(steps) or steps > fastgru.forecasting.MAX_STEPS, (
            f"horizon={steps} refused: {exc!r}")
        names_argument(exc, ["h", "horizon"])
        event("predict refused")
        return
    assert ok_int(steps) and steps <= fastgru.forecasting.MAX_STEPS, (
        f"horizon={steps!r} accepted")
    event("forecast checked")
    assert forecast.shape == ((steps,) if n_series is None else (steps, n_series))
    assert np.isfinite(forecast).all(), forecast


# ------------------------------------------------------------ the subprocess
@pytest.mark.skipif(IN_SUBPROCESS, reason="already in the subprocess")
def test_in_subprocess():
    env = {**os.environ, "FASTGRU_PROPERTY_SUBPROCESS": "1", "PYTHONPATH": ROOT}
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x",
         os.path.join(ROOT, "tests", "test_properties.py"),
         "-k", "test_forward or test_step or test_backward"],
        env=env, capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert out.returncode == 0, (f"exit {out.returncode}\n{out.stdout[-4000:]}"
                                 f"\n{out.stderr[-2000:]}")
    assert "3 passed" in out.stdout, out.stdout[-2000:]  # run, not skipped


#: the budget of the scheduled run (:func:`test_at_a_higher_budget`)
HIGH_BUDGET = 200


@pytest.mark.slow
@pytest.mark.skipif(IN_SUBPROCESS, reason="already in the subprocess")
@pytest.mark.skipif(EXAMPLES >= HIGH_BUDGET, reason="this run already has the higher budget")
def test_at_a_higher_budget():
    """Every property of this file at HIGH_BUDGET examples (the default run
    draws 25), in one subprocess where the crash-prone ones run too."""
    env = {**os.environ, "FASTGRU_PROPERTY_SUBPROCESS": "1", "PYTHONPATH": ROOT,
           "FASTGRU_HYPOTHESIS_EXAMPLES": str(HIGH_BUDGET)}
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x",
         os.path.join(ROOT, "tests", "test_properties.py")],
        env=env, capture_output=True, text=True, timeout=3600, cwd=ROOT)
    assert out.returncode == 0, (f"exit {out.returncode}\n{out.stdout[-4000:]}"
                                 f"\n{out.stderr[-2000:]}")
    assert " failed" not in out.stdout and " passed" in out.stdout, out.stdout[-2000:]
