"""The plateau rule of fastgru._training cannot end a fit before it has learned.

The rule, as documented: stop when the monitored loss has not improved by
``tol`` for more than ``n_iter_no_change`` epochs and for at least
``PATIENCE_UPDATES`` optimiser updates.
"""

import math
import warnings
from pathlib import Path

import numpy as np
import pytest

from fastgru import GRUClassifier, GRURegressor, _training
from fastgru._training import PATIENCE_UPDATES

DATA = Path(__file__).resolve().parent / "data"


def expected_stop_epoch(n_rows, batch_size, n_iter_no_change):
    """The first epoch the rule allows, with no improvement after epoch 1
    (the first epoch always improves on the infinite starting loss)."""
    updates = math.ceil(n_rows / batch_size)
    k = max(n_iter_no_change + 1, math.ceil(PATIENCE_UPDATES / updates))
    return 1 + k


@pytest.mark.parametrize("batch_size,n_iter_no_change", [(32, 2), (1, 2), (1, 40), (4, 10)])
def test_plateau_rule_counts_epochs_and_updates(batch_size, n_iter_no_change):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(10, 3, 1)), rng.normal(size=10)
    # tol so large that no epoch after the first counts as an improvement:
    # the rule stops as soon as it may
    reg = GRURegressor(hidden_size=2, batch_size=batch_size, n_iter_no_change=n_iter_no_change,
                       tol=1e9, max_epochs=1000, random_state=0).fit(X, y)
    assert reg.n_iter_ == expected_stop_epoch(10, batch_size, n_iter_no_change)


def test_the_forecaster_waits_its_own_floor_of_updates():
    """GRUForecaster's plateau rule has a floor of its own
    (``forecasting.PATIENCE_UPDATES``, shorter than the estimators'). Without
    early stopping it watches the training loss: one series of 60 steps,
    horizon 2 and window 4 give training windows at origins 2 to 58 (57
    windows, 15 batches of 4 an epoch)."""
    from fastgru import GRUForecaster, forecasting

    assert forecasting.PATIENCE_UPDATES < PATIENCE_UPDATES
    series = np.sin(np.arange(60) / 3.0)
    model = GRUForecaster(window=4, horizon=2, hidden_size=2, batch_size=4, n_iter_no_change=2,
                          tol=1e9, max_epochs=1000, early_stopping=False,
                          random_state=0).fit(series)
    k = max(2 + 1, math.ceil(forecasting.PATIENCE_UPDATES / 15))
    assert model.n_iter_ == 1 + k


def spikes(n, T, rng):
    """Few samples, long sequences: noise with one short pulse at a random
    place in the first half; its sign is the class."""
    X = rng.normal(scale=0.5, size=(n, T, 1))
    y = rng.integers(0, 2, n)
    where = rng.integers(5, T // 2, n)
    for i in range(n):
        X[i, where[i]:where[i] + 3, 0] += 2.0 if y[i] else -2.0
    return X, y


def load_gunpoint(split):
    """GunPoint's official ``split`` ("train" or "test") from ``tests/data``
    (see its README): ``(series, 150, 1)`` values and string labels "1"/"2"."""
    table = np.loadtxt(DATA / f"gunpoint_{split}.csv.gz", delimiter=",")
    return table[:, 1:, None], table[:, 0].astype(int).astype(str)


def test_gunpoint_data_is_the_official_split():
    X, y = load_gunpoint("train")
    X_test, y_test = load_gunpoint("test")
    assert X.shape == (50, 150, 1) and X_test.shape == (150, 150, 1)
    assert sorted(set(y)) == sorted(set(y_test)) == ["1", "2"]
    assert np.isfinite(X).all() and np.isfinite(X_test).all()


@pytest.mark.slow
def test_defaults_learn_gunpoint(monkeypatch):
    """GunPoint (UCR archive; official split): 50 training series of
    150 steps, 2 updates an epoch. The epoch-only rule stopped the fit after
    14 epochs at chance level (0.493); the defaults reach 0.9 (measured:
    0.953 with seed 0, 0.940 with seed 1)."""
    X, y = load_gunpoint("train")
    X_test, y_test = load_gunpoint("test")
    clf = GRUClassifier(random_state=0).fit(X, y)
    assert clf.score(X_test, y_test) >= 0.9, clf.n_iter_
    # the rule without its update floor, at the old learning rate, stops early
    monkeypatch.setattr(_training, "PATIENCE_UPDATES", 0)
    old = GRUClassifier(random_state=0, learning_rate=1e-3).fit(X, y)
    assert old.n_iter_ < 30 and old.score(X_test, y_test) < 0.7


def test_early_stopping_on_40_samples_is_not_worse():
    """40 samples, 4 held out: too few to judge by. Early stopping warns and
    trains on every sample with the plateau rule, so it ends where the fit
    without it ends (margin 0; a rule counting epochs only stops at epoch 14
    near chance)."""
    rng = np.random.default_rng(1)
    X, y = spikes(40, 60, rng)
    X_test, y_test = spikes(300, 60, rng)
    kw = dict(hidden_size=16, max_epochs=60, random_state=0)
    plain = GRUClassifier(**kw).fit(X, y)
    with pytest.warns(UserWarning, match="only 4 of 40 samples"):
        early = GRUClassifier(early_stopping=True, **kw).fit(X, y)
    assert early.score(X_test, y_test) >= plain.score(X_test, y_test)
    assert early.validation_scores_ is None and early.n_iter_ == plain.n_iter_


def test_early_stopping_with_enough_validation_samples(monkeypatch):
    """100 samples, 20 held out: no warning; the validation loss is monitored
    and the weights of its best epoch are the ones kept."""
    rng = np.random.default_rng(0)
    X, y = spikes(100, 20, rng)
    held_out = {}
    split = GRUClassifier._split_validation

    def spy(self, *args):
        out = split(self, *args)
        held_out["validation"] = out[3]  # scores the held-out rows with the current weights
        return out

    monkeypatch.setattr(GRUClassifier, "_split_validation", spy)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        clf = GRUClassifier(hidden_size=8, max_epochs=8, learning_rate=0.05,
                            early_stopping=True, validation_fraction=0.2,
                            random_state=0).fit(X, y)
    losses = clf._history.validation_losses
    assert len(losses) == clf.n_iter_ == len(clf.validation_scores_)
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    assert int(np.argmin(losses)) < len(losses) - 1  # a later epoch was worse ...
    loss_now, _ = held_out["validation"]()
    assert loss_now == pytest.approx(min(losses), rel=1e-6)  # ... and the best one was kept


class _Counting:
    """A network and optimiser stand-in that records the rows of each update."""

    def __init__(self):
        self.params = {"w": np.zeros(1)}
        self.grads = {"w": np.zeros(1)}
        self.rows = []

    def forward(self, x, lengths, training=False):
        self._rows = x[:, 0, 0].copy()
        return x[:, 0, :1]

    def backward(self, d_out):
        pass

    def update(self, params, grads):
        self.rows.append(self._rows)


@pytest.mark.parametrize("n_rows,max_updates,expected", [(100, 3, 3), (100, 50, 13),
                                                         (100, None, 13)])
def test_an_epoch_is_capped_at_max_updates_of_distinct_rows(n_rows, max_updates, expected):
    x = np.arange(n_rows, dtype=np.float64).reshape(n_rows, 1, 1)
    lengths = np.ones(n_rows, dtype=np.int64)
    net = _Counting()

    def loss(out, target):
        return float(np.mean(out)), np.zeros_like(out)

    options = _training.TrainOptions(batch_size=8, max_updates=max_updates)
    mean = _training.train_epoch(net, loss, net, x, lengths, x[:, 0], options,
                                 np.random.default_rng(0), epoch=1)
    assert len(net.rows) == expected
    seen = np.concatenate(net.rows)
    assert len(np.unique(seen)) == len(seen) == min(n_rows, 8 * expected)
    # the epoch's loss is the mean over the rows it drew (each batch's mean, weighted)
    assert mean == pytest.approx(seen.mean())


class _Stepper:
    """A network and optimiser stand-in whose one weight grows by the
    learning rate at every update, so that it counts the updates since a
    restore, scaled by the learning rate of each."""

    def __init__(self, learning_rate):
        self.params = {"w": np.zeros(1)}
        self.grads = {"w": np.zeros(1)}
        self.learning_rate = learning_rate

    def forward(self, x, lengths, training=False):
        return x[:, 0, :1]

    def backward(self, d_out):
        pass

    def update(self, params, grads):
        params["w"] += self.learning_rate


def _run_plateau(n_rows, lr_decay, val_losses):
    """Train the stand-in with batches of one row, the validation losses of
    each epoch scripted; return the weight each validation saw, the learning
    rates, and the final weight."""
    net = _Stepper(1.0)
    seen, rates = [], []

    def validation():
        seen.append(float(net.params["w"][0]))
        rates.append(net.learning_rate)
        loss = val_losses[len(seen) - 1]
        return loss, -loss

    x = np.zeros((n_rows, 1, 1))
    options = _training.TrainOptions(max_epochs=len(val_losses), batch_size=1,
                                     n_iter_no_change=10, lr_decay=lr_decay)
    history = _training.History()
    _training.train(net, lambda out, t: (0.0, np.zeros_like(out)), net, x,
                    np.ones(n_rows, dtype=np.int64), x[:, 0], options,
                    np.random.default_rng(0), history, validation, log=lambda s: None)
    return seen, rates, float(net.params["w"][0]), history


def test_a_plateau_goes_back_to_the_best_weights_with_a_lower_learning_rate():
    # 200 updates an epoch: a plateau of 3 epochs (600 updates) decays
    losses = [1.0, 0.5] + [0.9] * 20
    seen, rates, final, history = _run_plateau(200, 0.5, losses)
    # the weight counts updates times the learning rate of each
    assert seen[:5] == [200.0, 400.0, 600.0, 800.0, 1000.0]
    # after epoch 5 (3 without improvement): back to epoch 2's 400, half the rate
    assert seen[5] == 400.0 + 200 * 0.5
    assert rates[:6] == [1.0] * 5 + [0.5]
    # again after epochs 8 and 11; the stop comes after 11 epochs without improvement
    assert rates[8] == 0.25 and rates[11] == 0.125
    assert history.n_epochs == 13 and history.converged
    assert final == 400.0  # the best epoch's weights at the end


def test_no_decay_when_epochs_are_a_few_updates():
    # 20 updates an epoch: the decay's 375-update floor is 19 epochs, after the stop
    losses = [1.0, 0.5] + [0.9] * 20
    seen, rates, final, history = _run_plateau(20, 0.5, losses)
    assert set(rates) == {1.0}
    assert seen == [20.0 * (i + 1) for i in range(history.n_epochs)]
    assert final == 40.0


def test_without_lr_decay_the_learning_rate_stays():
    seen, rates, final, history = _run_plateau(200, None, [1.0, 0.5] + [0.9] * 20)
    assert set(rates) == {1.0} and seen[5] == 1200.0 and final == 400.0
