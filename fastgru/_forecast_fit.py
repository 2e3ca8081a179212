"""How :class:`fastgru.GRUForecaster` trains: one model, or an ensemble.

Each model of an ensemble reads windows of its own length cut at the same
origins, stops early on the same held-out end of every series, and trains a
few epochs more on everything; the intervals are calibrated on the errors
of the models' mean forecast of the held-out end (split conformal). The
windows themselves are cut by :mod:`fastgru._panel`.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from sklearn.utils import check_random_state

from . import _runtime
from ._forecast_state import trim_history
from ._network import SequenceNet
from ._training import History, train

#: Epochs of training on all the data (held-out end included) after the
#: best epoch on the held-out data was found.
FINAL_EPOCHS = 3


def _mae_loss(pred, target):
    """Mean absolute error over rows and outputs, and its gradient."""
    diff = pred - target
    n = diff.size
    return float(np.abs(diff).sum(dtype=np.float64)) / n, np.sign(diff) / pred.dtype.type(n)


def cut_windows(panel, maker, window, train_o, val_o, dtype):
    """The training and held-out (or None) windows of ``window`` steps."""
    cutter = replace(maker, window=window)
    return (cutter.cut(panel, train_o, dtype),
            None if val_o is None else cutter.cut(panel, val_o, dtype))


def fit_members(est, panel, maker, windows, train_o, val_o, previous, first):
    """Train a model on the windows of each length in ``windows`` (each
    stopping early on the held-out origins ``val_o``, when given) and
    calibrate the intervals on their mean forecast. ``first`` holds the
    first model's windows, cut before anything of the estimator changed.

    Either a complete fitted state or none: a fit that raises keeps the
    models finished before (and when it was the first: its finished
    epochs and last finite weights, which ``save`` and ``load`` take); a
    new first model that finished no epoch is dropped. Ctrl-C keeps the
    models finished before it, or the first one's best weights so far.
    """
    est._random_state = check_random_state(est.random_state)
    total = History()  # every model's epochs (a new model's _initialize resets _history)
    est._n_members = len(windows)
    dtype = np.dtype(est.dtype)
    done, errors, unit = [], [], None
    created = False
    try:
        with _runtime.threads(est.n_jobs):
            for j, window in enumerate(windows):
                data, held_out = first if j == 0 else cut_windows(
                    panel, maker, window, train_o, val_o, dtype)
                first = None
                if previous:
                    est.gru_, est.head_ = previous[j]
                else:
                    est._initialize(data.x.shape[2], est.horizon)
                    created = True
                    # an untrained model forecasts the seasonal naive forecast
                    est.head_["weight"] *= est.head_["weight"].dtype.type(0.1)
                    est.head_["bias"][:] = 0
                if est.verbose and len(windows) > 1:
                    print(f"model {j + 1} of {len(windows)}: window {window}, hidden size "
                          f"{est.gru_.hidden_size}")
                history = History()
                try:
                    err = _train(est, data, held_out, history)
                finally:  # a model that raises keeps its finished epochs
                    _add_history(total, history)
                if history.interrupted and done:
                    break  # Ctrl-C: the models finished before it
                done.append((est.gru_, est.head_))
                errors.append(err)
                if unit is None and held_out is not None:
                    unit = held_out.local  # the first model's (``window``)
                if history.interrupted:
                    break
    except BaseException:
        est._history = total
        if not done and created and not total.loss_curve:
            est._forget_fit()
        else:
            _keep_members(est, done or [(est.gru_, est.head_)], windows,
                          errors if done else [None], unit)
        raise
    finally:
        est._optimizer = None
    est._history = total
    _keep_members(est, done, windows, errors, unit)


def _keep_members(est, nets, windows, errors, unit):
    est.gru_, est.head_ = nets[0]
    est.members_ = list(nets[1:])
    est.member_windows_ = list(windows[:len(nets)])
    trim_history(est, max(est.member_windows_))  # the models kept need no more
    est.calibration_ = None
    if unit is not None and all(e is not None for e in errors):
        # the mean forecast's errors in units of the first window's
        # recent volatility (see WindowMaker)
        est.calibration_ = np.mean(errors, axis=0) / unit[:, None]
    est._record_fit(incremental=False)


def _train(est, data, held_out, history):
    """Train the current model; returns its held-out forecasts' errors
    (in the series' units), or None."""
    est._optimizer = est._make_optimizer()
    net = SequenceNet(est.gru_, est.head_)
    check = None
    if held_out is not None:
        def check():
            out = net.forward(held_out.x, held_out.lengths)
            loss = _mae_loss(out, held_out.targets)[0]
            return loss, -loss
    train(net, est._loss, est._optimizer, data.x, data.lengths, data.targets,
          est._train_options(est.max_epochs), est._rng, history, check)
    if held_out is None or history.interrupted:
        return None
    out = net.forward(held_out.x, held_out.lengths).astype(np.float64)
    err = (held_out.targets.astype(np.float64) - out) * held_out.q[:, None]
    if FINAL_EPOCHS:  # the held-out end is the most recent data: learn it too
        x, lengths, targets = _joined(data, held_out)
        final = History()
        train(net, est._loss, est._optimizer, x, lengths, targets,
              est._train_options(FINAL_EPOCHS), est._rng, final)
        _add_history(history, final)
    return err


def _add_history(total: History, part: History) -> None:
    """Count the epochs of ``part`` in ``total`` (the models of an ensemble,
    a model's last epochs on all the data)."""
    total.n_epochs += part.n_epochs
    total.loss_curve.extend(part.loss_curve)
    total.validation_scores.extend(part.validation_scores)
    total.validation_losses.extend(part.validation_losses)
    total.best_loss = min(total.best_loss, part.best_loss)
    total.best_validation_loss = min(total.best_validation_loss, part.best_validation_loss)
    total.best_validation_score = max(total.best_validation_score,
                                      part.best_validation_score)
    total.interrupted |= part.interrupted


def _joined(*sets):
    """The rows of window sets together (their sequence lengths may differ)."""
    T = max(w.x.shape[1] for w in sets)
    pad = [np.pad(w.x, ((0, 0), (0, T - w.x.shape[1]), (0, 0))) for w in sets]
    return (np.concatenate(pad), np.concatenate([w.lengths for w in sets]),
            np.concatenate([w.targets for w in sets]))


