"""The estimators learn, train like torch, and keep their contract.

Learning tasks have known answers; the torch parity tests train the same model
from the same weights with torch's own GRU, Adam and clipping, and compare the
loss of every epoch.
"""

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.utils import check_random_state

import fastgru
from fastgru import GRUClassifier, GRURegressor, SequenceScaler
from fastgru._training import NonFiniteLossError


def adding_problem(n, T, rng):
    """Two features: a value in [0, 1] and a marker; the target is the sum of the
    two marked values (one in each half of the sequence)."""
    values = rng.uniform(size=(n, T))
    marks = np.zeros((n, T))
    rows = np.arange(n)
    marks[rows, rng.integers(0, T // 2, n)] = 1
    marks[rows, rng.integers(T // 2, T, n)] = 1
    return np.stack([values, marks], axis=-1), (values * marks).sum(axis=1)


def first_step_labels(n, T, rng):
    """The class is the sign of the first step, followed by T - 1 steps of noise."""
    X = rng.normal(size=(n, T, 1))
    return X, np.where(X[:, 0, 0] > 0, "pos", "neg")


# ------------------------------------------------------------------ learning
def test_regressor_solves_the_adding_problem():
    rng = np.random.default_rng(0)
    X, y = adding_problem(1200, 20, rng)
    X_test, y_test = adding_problem(300, 20, rng)
    model = GRURegressor(hidden_size=32, max_epochs=60, learning_rate=1e-2, random_state=0)
    model.fit(X, y)
    mse = np.mean((model.predict(X_test) - y_test) ** 2)
    baseline = np.var(y_test)  # always predicting the mean: ~0.16
    assert mse < 0.01 * baseline, (mse, baseline)


def test_classifier_remembers_the_first_step_over_30_steps():
    rng = np.random.default_rng(0)
    X, y = first_step_labels(600, 30, rng)
    X_test, y_test = first_step_labels(300, 30, rng)
    clf = GRUClassifier(hidden_size=16, max_epochs=150, learning_rate=1e-2, random_state=0)
    clf.fit(X, y)
    assert clf.score(X_test, y_test) > 0.95
    proba = clf.predict_proba(X_test)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(np.log(proba), clf.predict_log_proba(X_test), atol=1e-10)
    assert list(clf.classes_) == ["neg", "pos"]


def test_regressor_predicts_a_noisy_sine():
    rng = np.random.default_rng(0)
    series = np.sin(0.1 * np.arange(3000)) + 0.1 * rng.normal(size=3000)
    window = 20
    idx = np.arange(window)[None, :] + np.arange(len(series) - window)[:, None]
    X, y = series[idx], series[window:]  # 2-D: univariate sequences
    model = GRURegressor(hidden_size=16, max_epochs=20, learning_rate=1e-2, random_state=0)
    model.fit(X[:2000], y[:2000])
    assert model.score(X[2000:], y[2000:]) > 0.95  # noise alone caps R^2 near 0.98


def test_multiclass_and_multioutput():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 6, 2))
    y3 = np.digitize(X[:, -1, 0], [-0.5, 0.5])  # 3 classes from the last step
    clf = GRUClassifier(hidden_size=8, max_epochs=60, learning_rate=1e-2, random_state=0)
    assert clf.fit(X, y3).score(X, y3) > 0.9
    assert clf.predict_proba(X).shape == (300, 3)
    Y = np.stack([X[:, -1, 0], 100 + 50 * X[:, -1, 1]], axis=1)  # scales far apart
    reg = GRURegressor(hidden_size=8, max_epochs=60, learning_rate=1e-2, random_state=0)
    reg.fit(X, Y)
    assert reg.predict(X).shape == (300, 2)
    assert reg.score(X, Y) > 0.9


# ---------------------------------------------------------- parity with torch
def _torch_training_losses(est, X, targets, loss_kind, epochs):
    """Train ``est``'s initial model in torch (same data order, Adam, clipping)."""
    torch = pytest.importorskip("torch")
    init = clone(est)
    init._random_state = check_random_state(est.random_state)
    init._initialize(X.shape[2], targets.shape[1] if targets.ndim == 2 else int(targets.max()) + 1)
    gru = torch.nn.GRU(X.shape[2], est.hidden_size, batch_first=True, dtype=torch.float64)
    gru.load_state_dict({k: torch.from_numpy(v) for k, v in init.gru_.params.items()})
    head = torch.nn.Linear(est.hidden_size, init.head_["weight"].shape[0], dtype=torch.float64)
    head.load_state_dict({k: torch.from_numpy(v) for k, v in init.head_.items()})
    params = list(gru.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=est.learning_rate)
    xt, tt = torch.from_numpy(X), torch.from_numpy(targets)
    losses = []
    for _ in range(epochs):
        total = 0.0
        for start in range(0, len(X), est.batch_size):
            xb, tb = xt[start : start + est.batch_size], tt[start : start + est.batch_size]
            out = head(gru(xb)[1][-1])
            if loss_kind == "mse":
                loss = 0.5 * ((out - tb) ** 2).sum(dim=1).mean()
            else:
                loss = torch.nn.functional.cross_entropy(out, tb)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, est.clip_grad_norm)
            opt.step()
            total += float(loss.detach()) * len(xb)
        losses.append(total / len(X))
    return np.array(losses)


def test_regressor_training_equals_torch():
    rng = np.random.default_rng(0)
    X, y = adding_problem(100, 8, rng)
    est = GRURegressor(hidden_size=6, max_epochs=5, batch_size=16, learning_rate=1e-2,
                       shuffle=False, dtype="float64", random_state=3, tol=0.0)
    est.fit(X, y)
    targets = ((y - y.mean()) / y.std())[:, None]
    expected = _torch_training_losses(est, X, targets, "mse", 5)
    np.testing.assert_allclose(est.loss_curve_, expected, rtol=1e-9)


def test_classifier_training_equals_torch():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(90, 7, 3))
    labels = np.array(["a", "b", "c"])[np.digitize(X[:, 0, 0], [-0.4, 0.4])]
    est = GRUClassifier(hidden_size=5, max_epochs=4, batch_size=32, learning_rate=1e-2,
                        shuffle=False, dtype="float64", random_state=1, tol=0.0)
    est.fit(X, labels)
    targets = np.searchsorted(est.classes_, labels)
    expected = _torch_training_losses(est, X, targets, "ce", 4)
    np.testing.assert_allclose(est.loss_curve_, expected, rtol=1e-9)


# ---------------------------------------------------------------- contract
def test_same_random_state_gives_identical_models():
    rng = np.random.default_rng(0)
    X, y = adding_problem(120, 10, rng)
    kw = dict(hidden_size=8, max_epochs=5, random_state=7, dropout=0.2, num_layers=2)
    a = GRURegressor(**kw).fit(X, y).predict(X)
    b = GRURegressor(**kw).fit(X, y).predict(X)
    np.testing.assert_array_equal(a, b)
    c = GRURegressor(**{**kw, "random_state": 8}).fit(X, y).predict(X)
    assert not np.array_equal(a, c)


def test_thread_count_does_not_change_training():
    rng = np.random.default_rng(0)
    X, y = adding_problem(200, 10, rng)
    kw = dict(hidden_size=8, max_epochs=4, batch_size=64, random_state=0)
    one = GRURegressor(n_jobs=1, **kw).fit(X, y)
    two = GRURegressor(n_jobs=2, **kw).fit(X, y)
    np.testing.assert_allclose(one.predict(X), two.predict(X), rtol=1e-5)
    assert fastgru.get_num_threads() >= 1


def test_input_forms_agree():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 9))
    y = X[:, -1] + X[:, 0]
    kw = dict(hidden_size=6, max_epochs=3, random_state=0, shuffle=False)
    from_2d = GRURegressor(**kw).fit(X, y)
    from_3d = GRURegressor(**kw).fit(X[:, :, None], y)
    from_list = GRURegressor(**kw).fit([row for row in X], y)
    ragged = [row[: 5 + i % 5] for i, row in enumerate(X)]
    assert len({len(r) for r in ragged}) > 1
    p = from_2d.predict(X)
    np.testing.assert_array_equal(p, from_3d.predict(X[:, :, None]))
    np.testing.assert_array_equal(p, from_list.predict(X))
    # a ragged list reads each sequence to its own end: as each one alone
    ragged_pred = from_3d.predict(ragged)
    alone = [from_3d.predict(r[None, :, None])[0] for r in ragged]
    np.testing.assert_allclose(ragged_pred, alone, rtol=1e-5, atol=1e-6)
    # and it trains
    GRURegressor(**kw).fit(ragged, y).predict(ragged)
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(X, columns=[f"t{i}" for i in range(9)])
    from_frame = GRURegressor(**kw).fit(frame, y)
    np.testing.assert_array_equal(from_frame.predict(frame), p)
    assert list(from_frame.feature_names_in_) == list(frame.columns)


def test_partial_fit_and_warm_start():
    rng = np.random.default_rng(0)
    X, y = first_step_labels(100, 6, rng)
    clf = GRUClassifier(hidden_size=6, random_state=0)
    with pytest.raises(ValueError, match="classes must be passed"):
        clf.partial_fit(X, y)
    clf.partial_fit(X[:50], y[:50], classes=["neg", "pos"])
    clf.partial_fit(X[50:], y[50:])
    assert clf.n_iter_ == 2 and len(clf.loss_curve_) == 2
    with pytest.raises(ValueError, match="not in classes_"):
        clf.partial_fit(X[:3], ["neg", "pos", "up"])
    reg = GRURegressor(hidden_size=6, max_epochs=3, warm_start=True, random_state=0)
    Xr, yr = adding_problem(80, 6, rng)
    reg.fit(Xr, yr)
    weights = reg.gru_.params["weight_hh_l0"].copy()
    reg.fit(Xr, yr)  # continues: same arrays, further trained
    assert reg.n_iter_ == 6
    assert not np.array_equal(weights, reg.gru_.params["weight_hh_l0"])
    cold = clone(reg).set_params(warm_start=False).fit(Xr, yr)
    assert cold.n_iter_ == 3


def test_partial_fit_refuses_classes_other_than_the_models():
    X, y = first_step_labels(40, 5, np.random.default_rng(0))
    clf = GRUClassifier(hidden_size=4, random_state=0).partial_fit(X, y, classes=["neg", "pos"])
    clf.partial_fit(X, y, classes=["pos", "neg"])  # the same classes, in any order
    with pytest.raises(ValueError, match="classes"):
        clf.partial_fit(X, y, classes=["neg", "pos", "up"])
    assert clf.classes_.tolist() == ["neg", "pos"] and clf.n_iter_ == 2
    fitted = GRUClassifier(hidden_size=4, max_epochs=1, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="classes"):
        fitted.partial_fit(X, y, classes=["neg", "pos", "up"])


@pytest.mark.parametrize("change", [dict(hidden_size=5), dict(num_layers=2),
                                    dict(bidirectional=True), dict(variant="cho"),
                                    dict(dtype="float64")])
def test_warm_start_builds_the_layer_its_parameters_now_describe(change):
    X, y = adding_problem(30, 5, np.random.default_rng(0))
    reg = GRURegressor(hidden_size=4, max_epochs=2, warm_start=True, random_state=0).fit(X, y)
    reg.set_params(**change).fit(X, y)
    expected = GRURegressor(hidden_size=4, max_epochs=2, random_state=0).set_params(**change)
    layer = expected.fit(X, y).gru_
    assert reg.gru_.get_config() == layer.get_config()
    assert reg.n_iter_ == 2  # started anew


def test_a_continued_fit_trains_with_the_dropout_its_parameters_now_give():
    X, y = adding_problem(30, 5, np.random.default_rng(0))
    reg = GRURegressor(hidden_size=4, num_layers=2, max_epochs=1, warm_start=True,
                       random_state=0).fit(X, y)
    reg.set_params(dropout=0.5).fit(X, y)
    assert reg.n_iter_ == 2 and reg.gru_.dropout == 0.5  # continued, with the new dropout
    reg.set_params(dropout=0.25).partial_fit(X, y)
    assert reg.n_iter_ == 3 and reg.gru_.dropout == 0.25


def test_early_stopping_keeps_the_best_epoch():
    rng = np.random.default_rng(0)
    X, y = adding_problem(300, 8, rng)
    reg = GRURegressor(hidden_size=8, max_epochs=300, learning_rate=1e-2, early_stopping=True,
                       n_iter_no_change=3, random_state=0).fit(X, y)
    assert reg.n_iter_ < 300
    assert len(reg.validation_scores_) == reg.n_iter_
    assert reg.best_validation_score_ == max(reg.validation_scores_)
    assert np.isfinite(reg.best_loss_)


def test_verbose_prints_epochs(capsys):
    X, y = adding_problem(40, 5, np.random.default_rng(0))
    GRURegressor(hidden_size=4, max_epochs=3, verbose=2, random_state=0).fit(X, y)
    out = capsys.readouterr().out
    assert out.count("epoch ") == 3 and "loss" in out and " s" in out


def test_ctrl_c_keeps_the_best_weights(monkeypatch):
    """A KeyboardInterrupt in epoch 4 ends fit; the best epoch's weights stay."""
    from fastgru import _optim

    X, y = adding_problem(64, 6, np.random.default_rng(0))
    calls = {"n": 0}
    original = _optim.Adam.update

    def update(self, params, grads):
        calls["n"] += 1
        if calls["n"] == 7:  # 2 batches per epoch: the middle of epoch 4
            # leave half-updated, corrupted weights, as an interrupt may
            for v in params.values():
                v[...] = 99.0
            raise KeyboardInterrupt
        original(self, params, grads)

    monkeypatch.setattr(_optim.Adam, "update", update)
    reg = GRURegressor(hidden_size=4, max_epochs=50, batch_size=32, random_state=0)
    reg.fit(X, y)
    assert reg.n_iter_ == 3
    assert not any((p == 99.0).any() for p in reg.gru_.params.values())
    assert np.all(np.isfinite(reg.predict(X)))


def test_non_finite_loss_stops_with_advice():
    X, y = adding_problem(64, 6, np.random.default_rng(0))
    reg = GRURegressor(hidden_size=4, max_epochs=5, optimizer="sgd", learning_rate=1e30,
                       clip_grad_norm=None, random_state=0)
    with pytest.raises(NonFiniteLossError, match="lower learning_rate") as info:
        reg.fit(X, y)
    if "in epoch 1:" in str(info.value):  # a new model that finished no epoch is dropped
        assert not hasattr(reg, "gru_") and not hasattr(reg, "n_iter_")
    else:
        assert reg.n_iter_ >= 1
        assert all(np.isfinite(p).all() for p in reg.gru_.params.values())
    assert issubclass(NonFiniteLossError, FloatingPointError)


@pytest.mark.parametrize("params,match", [
    (dict(hidden_size=0), "hidden_size"),
    (dict(variant="lstm"), "variant"),
    (dict(optimizer="rmsprop"), "optimizer"),
    (dict(dropout=1.0), "dropout"),
    (dict(learning_rate=0), "learning_rate"),
    (dict(validation_fraction=1.5), "validation_fraction"),
])
def test_bad_hyper_parameters_fail_at_fit(params, match):
    X, y = adding_problem(10, 4, np.random.default_rng(0))
    model = GRURegressor(**params)  # __init__ only stores
    with pytest.raises(ValueError, match=match):
        model.fit(X, y)


def test_bad_input_is_rejected_before_training():
    X, y = adding_problem(20, 4, np.random.default_rng(0))
    reg = GRURegressor(hidden_size=4, max_epochs=2, random_state=0)
    bad = X.copy()
    bad[3, 2, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        reg.fit(bad, y)
    with pytest.raises(ValueError, match="samples"):
        reg.fit(X, y[:-1])
    with pytest.raises(ValueError, match="empty"):
        reg.fit([X[0], X[1][:0]], y[:2])
    reg.fit(X, y)
    with pytest.raises(ValueError, match="3 features per time step"):
        reg.predict(np.zeros((2, 4, 3)))
    with pytest.raises(ValueError, match="2-D"):
        reg.predict(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="NaN"):
        reg.predict(bad)


@pytest.mark.parametrize("shape", [(2, 1, 4, 2), (4,)])
def test_input_neither_2d_nor_3d_is_named_by_its_dimensions(shape):
    X, y = adding_problem(20, 4, np.random.default_rng(0))
    reg = GRURegressor(hidden_size=4, max_epochs=1, random_state=0).fit(X, y)
    scaler = SequenceScaler().fit(X)
    for call in (reg.predict, scaler.transform):
        with pytest.raises(ValueError, match=rf"got a {len(shape)}-D array") as info:
            call(np.zeros(shape))
        assert "X is 2-D" not in str(info.value)


@pytest.mark.parametrize("make", [lambda X: (x for x in X), lambda X: {"a": X}],
                         ids=["generator", "dict"])
def test_x_that_is_no_array_is_named(make):
    X, y = adding_problem(20, 4, np.random.default_rng(0))
    reg = GRURegressor(hidden_size=4, max_epochs=1, random_state=0)
    for call in (lambda: reg.fit(make(X), y), lambda: SequenceScaler().fit(make(X))):
        with pytest.raises(TypeError, match="X must be sequences"):
            call()


def test_early_stopping_on_a_single_sample_trains_on_it_with_the_warning():
    X, y = adding_problem(1, 4, np.random.default_rng(0))
    reg = GRURegressor(hidden_size=4, max_epochs=2, early_stopping=True, random_state=0)
    with pytest.warns(UserWarning, match="hold out only 0 of 1"):
        reg.fit(X, y)
    assert reg.n_iter_ == 2


def test_sequence_scaler_forms_and_inverse():
    rng = np.random.default_rng(0)
    X = rng.normal(3.0, [1.0, 10.0], size=(30, 7, 2))
    scaler = SequenceScaler().fit(X)
    np.testing.assert_allclose(scaler.mean_, X.reshape(-1, 2).mean(axis=0))
    np.testing.assert_allclose(scaler.scale_, X.reshape(-1, 2).std(axis=0))
    Xt = scaler.transform(X)
    np.testing.assert_allclose(scaler.inverse_transform(Xt), X)
    ragged = [X[i, : 2 + i % 5] for i in range(30)]
    valid = np.concatenate(ragged)
    rs = SequenceScaler().fit(ragged)  # padding is not counted
    np.testing.assert_allclose(rs.mean_, valid.mean(axis=0))
    out = rs.transform(ragged)
    assert [o.shape for o in out] == [r.shape for r in ragged]
    np.testing.assert_allclose(np.concatenate(out).std(axis=0), 1.0)
    uni = SequenceScaler().fit(X[:, :, 0])
    assert uni.mean_.shape == (1,)
    assert SequenceScaler().fit_transform(X.astype(np.float32)).dtype == np.float32
    with pytest.raises(ValueError, match="features per time step"):
        scaler.transform(X[:, :, :1])


def test_pickle_fitted_classifier():
    X, y = first_step_labels(40, 5, np.random.default_rng(0))
    clf = GRUClassifier(hidden_size=4, max_epochs=2, random_state=0).fit(X, y)
    clone_ = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(clone_.predict_proba(X), clf.predict_proba(X))
