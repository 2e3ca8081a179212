"""The minibatch training loop: epochs, shuffling, clipping, stopping, Ctrl-C.

It drives a :class:`fastgru._network.SequenceNet` with a loss from
:mod:`fastgru._losses` and an optimiser from :mod:`fastgru._optim`, and knows
nothing of scikit-learn: the estimators give it arrays and read its history.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ._optim import clip_grad_norm

#: The plateau rule's least patience in optimiser updates (see :func:`train`).
PATIENCE_UPDATES = 250

#: With ``TrainOptions.lr_decay``: the learning rate decays after this many
#: epochs without improvement, and at least :data:`DECAY_UPDATES` updates.
DECAY_EPOCHS = 3
DECAY_UPDATES = 375


@dataclass
class TrainOptions:
    max_epochs: int = 200
    batch_size: int = 32
    shuffle: bool = True
    clip_grad_norm: float | None = 1.0
    n_iter_no_change: int = 10
    tol: float = 1e-4
    verbose: int = 0
    #: Updates in an epoch at most (None: a pass over every row). With
    #: ``shuffle``, a capped epoch is the first batches of a fresh permutation:
    #: a random draw, so large data sets are checked (validation, the plateau
    #: rule) every ``max_updates`` updates instead of once per pass.
    max_updates: int | None = None
    #: With validation: on a plateau of the validation loss (no improvement
    #: for :data:`DECAY_EPOCHS` epochs and :data:`DECAY_UPDATES` updates, and
    #: again after as many more), go back to the best weights and multiply
    #: the optimiser's learning rate by this factor (None: never).
    lr_decay: float | None = None
    #: The plateau rule's least patience in optimiser updates (see
    #: :func:`train`; None: :data:`PATIENCE_UPDATES`).
    patience_updates: int | None = None


@dataclass
class History:
    """What a run of :func:`train` leaves behind (kept across ``warm_start``)."""

    loss_curve: list = field(default_factory=list)
    validation_scores: list = field(default_factory=list)
    validation_losses: list = field(default_factory=list)
    best_loss: float = np.inf
    best_validation_loss: float = np.inf
    best_validation_score: float = -np.inf
    n_epochs: int = 0
    interrupted: bool = False
    converged: bool = False


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite; the model keeps its last finite weights."""


def _snapshot(params: dict) -> dict:
    return {k: v.copy() for k, v in params.items()}


def _restore(params: dict, snapshot: dict) -> None:
    for k, v in params.items():
        v[...] = snapshot[k]  # in place: the layer keeps its arrays


def _batches(n_rows: int, batch_size: int, shuffle: bool, rng: np.random.Generator):
    order = rng.permutation(n_rows) if shuffle else np.arange(n_rows)
    for start in range(0, n_rows, batch_size):
        yield order[start : start + batch_size]


def _non_finite(what: str, value, epoch: int) -> NonFiniteLossError:
    return NonFiniteLossError(
        f"the training {what} became {value} in epoch {epoch}: lower learning_rate, keep "
        "clip_grad_norm set (e.g. 1.0), or standardise the inputs (fastgru.SequenceScaler). "
        "The weights are the last finite ones (a new model that finished no epoch is not "
        "kept: the estimator is then not fitted)."
    )


def train_epoch(net, loss_fn, optimizer, x, lengths, targets, options: TrainOptions, rng,
                epoch: int) -> float:
    """One pass over the data in minibatches; returns the mean training loss.

    Raises :class:`NonFiniteLossError` when a batch's loss or gradient is NaN
    or infinite (before the offending update), or when an update made a
    weight NaN or infinite (the weights from before it are put back): the
    weights are always the last finite ones.
    """
    total = 0.0
    params = net.params
    before = {k: np.empty_like(v) for k, v in params.items()}  # the weights before an update
    rows = 0
    for idx in itertools.islice(_batches(x.shape[0], options.batch_size, options.shuffle, rng),
                                options.max_updates):
        rows += len(idx)
        batch_lengths = lengths[idx]
        steps = int(batch_lengths.max())  # trim the padding no row of the batch needs
        with np.errstate(over="ignore", invalid="ignore"):
            out = net.forward(x[idx, :steps], batch_lengths, training=True)
            loss, d_out = loss_fn(out, targets[idx])
        if not math.isfinite(loss):
            raise _non_finite("loss", loss, epoch)
        try:
            net.backward(d_out)
        except FloatingPointError:
            raise _non_finite("gradient", np.inf, epoch) from None
        norm = clip_grad_norm(net.grads, options.clip_grad_norm)
        if not math.isfinite(norm):
            raise _non_finite("gradient norm", norm, epoch)
        for k, v in params.items():
            np.copyto(before[k], v)
        optimizer.update(params, net.grads)
        if not all(np.isfinite(v).all() for v in params.values()):
            _restore(params, before)
            raise _non_finite("weights", "NaN or inf", epoch)
        total += loss * len(idx)
    return total / rows


def updates_per_epoch(n_rows: int, batch_size: int) -> int:
    """Optimiser updates in one epoch of ``n_rows`` sequences."""
    return -(-n_rows // batch_size)


def train(net, loss_fn, optimizer, x, lengths, targets, options: TrainOptions, rng,
          history: History, validation: Callable[[], tuple] | None = None,
          log: Callable[[str], None] = print) -> History:
    """Train ``net`` for up to ``options.max_epochs`` epochs, updating ``history``.

    The plateau rule: the run stops when the monitored loss (the training
    loss, or with ``validation`` the validation loss) has not improved by
    ``tol`` for more than ``n_iter_no_change`` epochs *and* for at least
    ``options.patience_updates`` optimiser updates (by default
    :data:`PATIENCE_UPDATES`). Counted in epochs alone, the
    patience of a small training set is a handful of updates (50 sequences
    in batches of 32: 2 updates an epoch, so 10 epochs are 20 Adam steps),
    and a run stopped at the loss of a constant guess before it had learned
    anything; the update floor leaves large data sets the scikit-learn rule
    (their epochs hold hundreds of updates).

    ``validation`` returns ``(loss, score)`` of the held-out data; the
    weights of the epoch with the lowest validation loss are restored at the
    end. With ``options.lr_decay``, a shorter plateau of the validation loss
    (see :class:`TrainOptions`) puts the best weights back and lowers the
    learning rate; the plateau goes on counting towards the stop. On small
    data sets, whose epochs are a few updates, the decay's update floor is
    longer than the plateau rule's patience, and the learning rate stays.
    Ctrl-C ends the run early and keeps the best weights seen so far
    (by validation loss, else by training loss); before the run's first
    epoch has ended it puts the weights back as they were and the
    KeyboardInterrupt propagates: an interrupted run that trained nothing
    does not return as a result.
    """
    params = net.params
    best = _snapshot(params)
    no_improvement = 0
    updates = updates_per_epoch(x.shape[0], options.batch_size)
    if options.max_updates is not None:
        updates = min(updates, options.max_updates)
    patience = (PATIENCE_UPDATES if options.patience_updates is None
                else options.patience_updates)
    decay_every = max(DECAY_EPOCHS, -(-DECAY_UPDATES // updates))
    start = last_log = time.perf_counter()
    epoch = history.n_epochs
    first_epoch = epoch + 1
    try:
        for i in range(options.max_epochs):
            epoch += 1
            loss = train_epoch(net, loss_fn, optimizer, x, lengths, targets, options, rng, epoch)
            history.n_epochs = epoch
            history.loss_curve.append(loss)
            if validation is None:
                improved = loss < history.best_loss - options.tol
                if loss < history.best_loss:
                    history.best_loss = loss
                    best = _snapshot(params)
                score_text = ""
            else:
                val_loss, score = (float(v) for v in validation())
                history.validation_losses.append(val_loss)
                history.validation_scores.append(score)
                history.best_loss = min(history.best_loss, loss)
                history.best_validation_score = max(history.best_validation_score, score)
                improved = val_loss < history.best_validation_loss - options.tol
                if val_loss < history.best_validation_loss:
                    history.best_validation_loss = val_loss
                    best = _snapshot(params)
                score_text = f", validation loss {val_loss:.6f}, score {score:.4f}"
            no_improvement = 0 if improved else no_improvement + 1
            now = time.perf_counter()
            stop = (no_improvement > options.n_iter_no_change
                    and no_improvement * updates >= patience)
            if (options.lr_decay and validation is not None and not stop and no_improvement
                    and no_improvement % decay_every == 0):
                _restore(params, best)
                optimizer.learning_rate *= options.lr_decay
                score_text += (", back to the best weights, learning rate "
                               f"{optimizer.learning_rate:.3g}")
            if options.verbose >= 2 or options.verbose and (
                now - last_log >= 1.0 or epoch == 1 or stop or i == options.max_epochs - 1
            ):
                log(f"epoch {epoch}: loss {loss:.6f}{score_text}, {now - start:.1f} s")
                last_log = now
            if stop:
                history.converged = True
                if options.verbose:
                    log(f"stopped: no improvement over tol={options.tol} for "
                        f"{no_improvement} epochs ({no_improvement * updates} updates)")
                break
    except KeyboardInterrupt:
        _restore(params, best)
        if history.n_epochs < first_epoch:  # no epoch of this run ended: nothing to keep
            raise
        history.interrupted = True
        log(f"interrupted in epoch {epoch}: keeping the best weights so far")
        return history
    if validation is not None:
        _restore(params, best)
    return history
