"""How :class:`fastgru.GRUForecaster` trains: one model, or an ensemble.

Each model of an ensemble reads windows of its own length cut at the same
origins, stops early on the same held-out end of every series, and trains a
few epochs more on everything; the intervals are calibrated on the errors
of the models' mean forecast of the held-out end (split conformal). The
windows themselves are cut by :mod:`fastgru._windows`.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace

import numpy as np
from sklearn.utils import check_random_state

from . import _runtime
from ._forecast_state import THETA_STATE, model_windows, scales_at, trim_history
from ._network import SequenceNet
from ._series_ids import id_index, positions, series_id_array
from ._theta import fit_theta, mix, theta_forecast
from ._training import History, train

#: Epochs of training on all the data (held-out end included) after the
#: best epoch on the held-out data was found.
FINAL_EPOCHS = 3


def _mae_loss(pred, target):
    """Mean absolute error over rows and outputs, and its gradient."""
    diff = pred - target
    n = diff.size
    return float(np.abs(diff).sum(dtype=np.float64)) / n, np.sign(diff) / pred.dtype.type(n)


def split_origins(panel, maker, every, early_stopping, calibration_windows):
    """Training and held-out origins of every series, time ordered: the
    held-out windows forecast the last steps of each series (one origin,
    or up to ``horizon`` when the panel has few series: about
    ``calibration_windows`` in all), and every training target comes
    before them. Without ``early_stopping``: ``every`` origin trains."""
    h = maker.horizon
    if not early_stopping:
        return every, [np.empty(0, np.int64)] * panel.n_series
    k = int(np.clip(np.ceil(calibration_windows / panel.n_series), 1, h))
    while True:  # fewer origins per series when they leave nothing to train on
        train_o, val_o = [], []
        for y in panel.values:
            n = len(y)
            first_val = max(n - h - k + 1, 1)
            val_o.append(np.arange(first_val, n - h + 1, dtype=np.int64))
            train_o.append(np.arange(maker.min_input, first_val - h + 1, dtype=np.int64))
        if k == 1 or any(len(o) for o in train_o):
            return train_o, val_o
        k -= 1


#: Most training windows a fit cuts: a panel with more training origins
#: trains on a random sample of them (:func:`sample_origins`). An epoch
#: reads at most 250 batches (32,000 windows of the default batch of 128),
#: so the sample is 16 such epochs of distinct windows, and a fit's windows
#: take about a gigabyte at most however long its series: one series of 2
#: million steps (``bench/long_series.py``) took 6.1 GB and 64 s to fit
#: with every window cut, 1.9 GB and 30 s with the sample.
MAX_TRAINING_WINDOWS = 1 << 19


def sample_origins(origins, limit, random_state):
    """``origins`` (an int array per series) when they are at most ``limit``
    in all, else ``limit`` of them drawn at random (uniformly over every
    series' origins; each series' kept in time order)."""
    sizes = np.array([len(o) for o in origins], dtype=np.int64)
    total = int(sizes.sum())
    if total <= limit:
        return origins
    keep = np.zeros(total, dtype=bool)
    keep[check_random_state(random_state).choice(total, limit, replace=False)] = True
    return [o[k] for o, k in zip(origins, np.split(keep, np.cumsum(sizes)[:-1]))]


#: The default mix with Theta is dropped when its held-out error is more
#: than this times the networks' alone: only a clear failure, since the
#: held-out end is a small sample. On the six sets of M1 and Tourism the
#: ratio was 0.99-1.03 (seed 0), and the mix was better on the test periods
#: on five of them (level on the sixth) even where the held-out end said
#: otherwise; on the yearly sunspots it was 1.49, and the mix worse on the
#: test years too.
THETA_DROP_RATIO = 1.1


#: A series whose held-out forecasts erred far more than the panel's typical
#: series gets intervals of its own, wider scale (:func:`interval_scales`):
#: its mean absolute held-out error over the median of every series',
#: shrunk towards 1 with the weight of :data:`SCALE_PRIOR_ROWS` held-out
#: forecasts, over :data:`SCALE_RATIO` (the scale 1 below that). Its errors
#: then count in the panel's quantiles at that scale, so one series' shock
#: (a series that jumped near its end) no longer widens every other
#: series' intervals. It takes three series or more: of two, neither is
#: the typical one (the median is their mean, and no ratio to it reaches
#: 2). On random panels of 9 series of M1 and Tourism
#: (``bench/small_panels.py --pooled-intervals``) the 95% intervals' mean
#: scaled interval score fell on every set, by 0.5-13%, and their coverage
#: moved by 0.003 at most; on the whole sets, which hold out one or two
#: forecasts per series, a series needs errors 6 to 10 times the typical
#: before its scale moves, and the coverage moved by 0.001 at most.
SCALE_RATIO = 2.0
SCALE_PRIOR_ROWS = 8


def interval_scales(errors, rows, n_series):
    """Each series' interval scale ``(n_series,)``, at least 1, from the
    held-out ``errors`` ``(n, horizon)`` (in the intervals' units) of the
    series ``rows`` ``(n,)``: see :data:`SCALE_RATIO`. A series without
    held-out forecasts, and every series when the typical error is 0 or not
    finite, has the scale 1.

    >>> rows = np.repeat(np.arange(4), 8)
    >>> errors = np.ones((32, 2)); errors[rows == 3] = 10.0
    >>> interval_scales(errors, rows, 5).tolist()
    [1.0, 1.0, 1.0, 2.75, 1.0]
    """
    counts = np.bincount(rows, minlength=n_series)
    sums = np.bincount(rows, weights=np.abs(errors).mean(axis=1), minlength=n_series)
    scales = np.ones(n_series)
    has = counts > 0
    if not has.any():
        return scales
    mean = sums[has] / counts[has]
    typical = np.median(mean)
    if not (np.isfinite(typical) and typical > 0):
        return scales
    n = counts[has]
    shrunk = (n * (mean / typical) + SCALE_PRIOR_ROWS) / (n + SCALE_PRIOR_ROWS)
    scales[has] = np.where(np.isfinite(shrunk), np.maximum(1.0, shrunk / SCALE_RATIO), 1.0)
    return scales


#: Values the held-out Theta fits read at once (each held-out origin's
#: series before it): bounds their memory when a few long series are cut
#: at many origins each.
THETA_CHUNK = 1 << 22


@dataclass
class ThetaMix:
    """The optimised Theta model's share ``weight`` of the forecast, its fit
    to every series (``fit_theta``'s arrays) and its errors ``(n, horizon)``
    on the held-out windows, in the series' units (NaN where it has no
    forecast), or None."""

    weight: float
    arrays: tuple | None = None
    held_out_errors: np.ndarray | None = None
    tried: bool = False  # the default's: dropped if it fails on the held-out end (``choose``)

    @classmethod
    def fit(cls, weight, panel, val_o, h, m, tried=False):
        """Fit the model to every series of ``panel`` and, from each held-out
        origin of ``val_o`` (or None), to the values before it."""
        if not weight:
            return cls(0.0)
        errors = None
        if val_o is not None:  # the series before each origin, THETA_CHUNK values at a time
            cuts = [(v, o) for v, origins in zip(panel.values, val_o) for o in origins]
            errors = np.empty((len(cuts), h))
            start = 0
            while start < len(cuts):
                stop, size = start + 1, cuts[start][1]
                while stop < len(cuts) and size + cuts[stop][1] <= THETA_CHUNK:
                    size += cuts[stop][1]
                    stop += 1
                part = cuts[start:stop]
                with np.errstate(over="ignore", invalid="ignore"):  # inf: mix() drops it
                    errors[start:stop] = np.array([v[o:o + h] for v, o in part]) - (
                        theta_forecast(*fit_theta([v[:o] for v, o in part], m), h))
                start = stop
        return cls(float(weight), fit_theta(panel.values, m), errors, tried)

    def choose(self, est, errors, unit) -> ThetaMix:
        """A tried mix whose held-out forecasts have a mean absolute error,
        in units ``unit`` of each window, more than :data:`THETA_DROP_RATIO`
        times the networks' ``errors``' is dropped: ``est`` then forecasts
        with its networks only (the mix of none)."""
        if not self.tried or self.held_out_errors is None:
            return self
        if np.abs(self.mixed(errors) / unit[:, None]).mean() <= THETA_DROP_RATIO * np.abs(
                errors / unit[:, None]).mean():
            return self
        vars(est).update(dict.fromkeys(THETA_STATE), theta_weight_=0.0)
        return ThetaMix(0.0)

    def mixed(self, errors):
        """The errors of the mixed forecast, given the networks' ``errors``
        on the same held-out windows."""
        if not self.weight or self.held_out_errors is None:
            return errors
        return mix(errors, self.held_out_errors, self.weight)


def cut_windows(panel, maker, window, train_o, val_o, dtype):
    """The training and held-out (or None) windows of ``window`` steps."""
    cutter = replace(maker, window=window)
    return (cutter.cut(panel, train_o, dtype),
            None if val_o is None else cutter.cut(panel, val_o, dtype))


def fit_members(est, panel, maker, windows, train_o, val_o, previous, first, theta):
    """Train a model on the windows of each length in ``windows`` (each
    stopping early on the held-out origins ``val_o``, when given, then
    training a few epochs on everything) and calibrate the intervals on
    their mean forecast of the held-out end.

    ``previous`` holds the models ``warm_start`` continues (else None);
    ``first`` is a list holding the first model's windows, cut before
    anything of the estimator changed (taken out of it, so that they are
    freed once that model is trained). ``theta`` is the :class:`ThetaMix`
    kept with the series and mixed into the intervals' errors.

    It first keeps what ``predict`` needs of ``panel`` (its series' ends,
    scales, time stamps): within the same guard as the training, so that an
    interrupt there leaves the previous fit or none, never its models with
    the new series.

    A fit ends with a complete fitted state or none. An error or Ctrl-C in
    a model keeps the models finished before it, and with ``warm_start``
    every other model as it was (the one in training with its last finite,
    or best, weights; the intervals of the previous fit unless every model
    was measured anew, or none when those were of another share of Theta
    than this fit's). In the first model of a new fit, a model that
    finished an epoch is kept likewise, and one that finished none leaves
    the estimator unfitted. Ctrl-C in the last epochs on everything keeps
    the model as it was before them (its best weights on the held-out end).
    """
    est._random_state = check_random_state(est.random_state)
    total = History()  # the kept models' epochs (_initialize resets _history)
    dtype = np.dtype(est.dtype)
    # the previous intervals, for the mix of Theta they were calibrated on,
    # and the scales of the series they knew
    fallback = (None, None, None)
    if previous:
        fallback = (est.calibration_, est.theta_weight_,
                    (id_index(est), getattr(est, "interval_scale_", None)))
    # the series of each held-out window (they are cut series by series)
    rows = None if val_o is None else np.repeat(np.arange(len(val_o)), [len(o) for o in val_o])
    # ids the model cannot keep (1 and '1') are data fit refuses: refused
    # before the guard, whose handler would drop or reset the previous fit
    series_id_array(panel.ids)
    kept, errors, unit = [], [], None
    history, in_kept = None, False  # the run in progress, and whose model it trains
    try:
        # the new series, before training (a fit that raises keeps them),
        # within the try: an interrupt here leaves no models of other series
        est._remember(panel, replace(maker, window=max(windows)), theta)
        est.window_ = windows[0]
        with _runtime.threads(est.n_jobs):
            for j, window in enumerate(windows):
                data, held_out = first.pop() if first else cut_windows(
                    panel, maker, window, train_o, val_o, dtype)
                if previous:
                    est.gru_, est.head_ = previous[j]
                    est.gru_.dropout = est.dropout  # continued, with today's dropout
                else:
                    est._initialize(data.x.shape[2], est.horizon)
                    # an untrained model forecasts the base forecast
                    est.head_["weight"] *= est.head_["weight"].dtype.type(0.1)
                    est.head_["bias"][:] = 0
                if est.verbose and len(windows) > 1:
                    print(f"model {j + 1} of {len(windows)}: window {window}, hidden size "
                          f"{est.gru_.hidden_size}")
                history, in_kept = History(), False
                err = _train(est, data, held_out, history)
                if history.interrupted and kept and not previous:
                    print(f"model {j + 1} of {len(windows)} interrupted: keeping the "
                          f"{len(kept)} finished before it")
                    break
                _add_history(total, history)
                history = None
                kept.append((est.gru_, est.head_))
                errors.append(err)
                if unit is None and held_out is not None:
                    unit = held_out.local  # the first model's (``window``)
                if total.interrupted:
                    break
                if held_out is None or not FINAL_EPOCHS:
                    continue
                # the held-out end is the most recent data: learn it too
                history, in_kept = History(), True
                _final_epochs(est, data, held_out, history)
                _add_history(total, history)
                history = None
                if total.interrupted:
                    break
    except BaseException:
        if history is not None and (in_kept or previous or not kept and history.loss_curve):
            _add_history(total, history)  # the model in training is kept
            if not in_kept:
                kept.append((est.gru_, est.head_))
                errors.append(None)
        est._history = total
        if kept or previous:
            _keep_members(est, kept, windows, errors, unit, rows, previous, fallback, theta)
        else:
            est._forget_fit()  # a new model that finished no epoch
        raise
    finally:
        est._optimizer = None
    est._history = total
    _keep_members(est, kept, windows, errors, unit, rows, previous, fallback, theta)


def _keep_members(est, kept, windows, errors, unit, rows, previous, fallback, theta):
    """Set the fitted models: those ``kept`` and, continuing a fit, the
    previous ones after them; and the intervals' calibration, of the
    held-out windows of the series ``rows``."""
    nets = list(kept) + (list(previous[len(kept):]) if previous else [])
    est.gru_, est.head_ = nets[0]
    est.members_ = nets[1:]
    est.member_windows_ = list(windows[:len(nets)])
    trim_history(est, max(est.member_windows_))  # the models kept need no more
    est.calibration_, weight, scales = fallback
    if weight != theta.weight:  # intervals of another mix than this fit's: none
        est.calibration_ = None
    # the previous intervals' scales of the series they knew (``scales``:
    # their ids' index and scales), by id as predict finds them
    est.interval_scale_ = None if est.calibration_ is None else scales_at(
        scales[1], positions(scales[0], est.series_ids_.tolist()))
    if unit is not None and len(errors) == len(nets) and all(e is not None for e in errors):
        # the mean forecast's errors (mixed with Theta's) in units of the
        # first window's recent volatility (see WindowMaker), and of each
        # series' interval scale
        errors = np.mean(errors, axis=0)
        errors = theta.choose(est, errors, unit).mixed(errors) / unit[:, None]
        est.interval_scale_ = interval_scales(errors, rows, est.n_series_)
        est.calibration_ = errors / est.interval_scale_[rows][:, None]
    est._record_fit(incremental=False)


def _train(est, data, held_out, history):
    """Train the current model, stopping early on ``held_out``; returns its
    held-out forecasts' errors (in the series' units), or None."""
    est._optimizer = est._make_optimizer()
    net = SequenceNet(est.gru_, est.head_)
    check = None
    if held_out is not None:
        def check():
            out = net.forward_blocks(held_out.x, held_out.lengths)
            loss = _mae_loss(out, held_out.targets)[0]
            return loss, -loss
    # the held-out windows' buffers are kept from one check to the next: a
    # large panel's are beyond what a layer keeps between calls, and made
    # and zeroed anew at every check they took a third of the fit (20,000
    # synthetic monthly series, 183 epochs: 266 s, against 164 s kept)
    workspace = est.gru_._workspace()
    workspace.keep = sys.maxsize
    try:
        train(net, est._loss, est._optimizer, data.x, data.lengths, data.targets,
              est._train_options(est.max_epochs), est._rng, history, check)
        if held_out is None or history.interrupted:
            return None
        out = net.forward_blocks(held_out.x, held_out.lengths).astype(np.float64)
    finally:
        workspace.keep = None
        workspace.trim()
    return (held_out.targets.astype(np.float64) - out) * held_out.q[:, None]


def _final_epochs(est, data, held_out, history):
    """:data:`FINAL_EPOCHS` epochs on the training and held-out windows together."""
    x, lengths, targets = _joined(data, held_out)
    if est.verbose:  # its epochs count from 1 again
        print(f"then {FINAL_EPOCHS} epochs on all the windows, the held-out end included:")
    train(SequenceNet(est.gru_, est.head_), est._loss, est._optimizer, x, lengths, targets,
          est._train_options(FINAL_EPOCHS), est._rng, history)


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


def networks_to_continue(est, windows, n_features):
    """With ``warm_start``: ``est``'s fitted models to go on training, when
    they are as many as ``windows``, read those windows, are the layers
    the parameters describe, take inputs of ``n_features`` and correct
    the base forecast this fit trains them on (else None: new models).
    Seasonal models from files written before the profile base correct
    the seasonal naive forecast: continued under the profile, a model
    left untrained by an interrupted fit would forecast with weights
    made for the other base."""
    if not (est.warm_start and hasattr(est, "gru_")):
        return None
    if est.season_length > 1 and not getattr(est, "_profile_base", None):
        return None
    nets = [(est.gru_, est.head_), *getattr(est, "members_", [])]
    if (model_windows(est) != windows or any(
            not est._layer_fits(n_features, g) or hd["weight"].shape[0] != est.horizon
            for g, hd in nets)):
        return None
    return nets
