"""What every trained fastgru model shares, and the estimators' training driver.

:class:`TrainableGRU` holds the parameters (``hidden_size``, ``max_epochs``,
``optimizer``, ...) with their checks, builds the layer and head, and keeps
the fitted attributes complete or absent; the estimators and the forecaster
derive from it. :class:`TrainingMixin` is the estimators' ``fit(X, y)``: a
new or continued model, its epochs, early stopping on a held-out fraction.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions

from . import _optim, _runtime
from ._network import SequenceNet, init_head
from ._training import History, NonFiniteLossError, TrainOptions, train, train_epoch
from ._validation import check_int
from ._variants import VARIANTS
from .layer import GRU

#: Fewer held-out sequences than this and early stopping warns that its
#: validation loss is too noisy to judge by.
MIN_VALIDATION_SAMPLES = 10


class TrainableGRU(BaseEstimator):
    """A GRU stack and its linear head as fastgru trains them: the parameters
    every trained model takes (with their checks), the layer and head it
    builds, the optimiser, and fitted attributes that are complete or absent.

    The estimators add the ``fit(X, y)`` driver (:class:`TrainingMixin`); the
    forecaster (:class:`fastgru.GRUForecaster`) its own, over windows of a panel.
    """

    _parameter_constraints: dict = {
        "hidden_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "num_layers": [Interval(numbers.Integral, 1, None, closed="left")],
        "bidirectional": ["boolean"],
        "variant": [StrOptions(set(VARIANTS))],
        "dropout": [Interval(numbers.Real, 0, 1, closed="left")],
        "max_epochs": [Interval(numbers.Integral, 1, None, closed="left")],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "learning_rate": [Interval(numbers.Real, 0, None, closed="neither")],
        "optimizer": [StrOptions({"adam", "sgd"})],
        "weight_decay": [Interval(numbers.Real, 0, None, closed="left")],
        "clip_grad_norm": [Interval(numbers.Real, 0, None, closed="neither"), None],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(numbers.Integral, 1, None, closed="left")],
        "tol": [Interval(numbers.Real, 0, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "dtype": [StrOptions({"float32", "float64"})],
        # 0 is refused, as joblib and fastgru.dask.predict refuse it
        "n_jobs": [Interval(numbers.Integral, None, -1, closed="right"),
                   Interval(numbers.Integral, 1, None, closed="left"), None],
    }

    def __init__(
        self,
        hidden_size=64,
        num_layers=1,
        *,
        bidirectional=False,
        variant="torch",
        dropout=0.0,
        max_epochs=200,
        batch_size=32,
        learning_rate=3e-3,
        optimizer="adam",
        weight_decay=0.0,
        clip_grad_norm=1.0,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        shuffle=True,
        random_state=None,
        verbose=0,
        warm_start=False,
        dtype="float32",
        n_jobs=None,
    ):
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bidirectional = bidirectional
        self.variant = variant
        self.dropout = dropout
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.optimizer = optimizer
        self.weight_decay = weight_decay
        self.clip_grad_norm = clip_grad_norm
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.shuffle = shuffle
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start
        self.dtype = dtype
        self.n_jobs = n_jobs


    def __getstate__(self):
        # A pickle holds the model, not the training: the optimiser's moments
        # (kept in memory between partial_fit calls) are left out, so a
        # pickled estimator is about the size of fastgru.save's file and
        # continues partial_fit with a fresh optimiser, as a loaded one does.
        state = super().__getstate__()
        if state.get("_optimizer") is not None:
            state = dict(state, _optimizer=None)
        if any(name in state for name in self._CACHES):  # rebuilt on use
            state = {k: v for k, v in state.items() if k not in self._CACHES}
        return state

    def _make_optimizer(self):
        if self.optimizer == "adam":
            return _optim.Adam(learning_rate=self.learning_rate, weight_decay=self.weight_decay)
        return _optim.SGD(learning_rate=self.learning_rate, momentum=0.9,
                          weight_decay=self.weight_decay)

    def _train_options(self, max_epochs: int) -> TrainOptions:
        return TrainOptions(
            max_epochs=max_epochs,
            batch_size=self.batch_size,
            shuffle=self.shuffle,
            clip_grad_norm=self.clip_grad_norm,
            n_iter_no_change=self.n_iter_no_change,
            tol=self.tol,
            verbose=self.verbose,
        )

    def _initialize(self, input_size: int, n_outputs: int) -> None:
        seed = self._random_state.randint(np.iinfo(np.int32).max)
        rng = np.random.default_rng(seed)
        hidden = self._hidden_units()
        self.gru_ = GRU(
            input_size, hidden, self.num_layers, bidirectional=self.bidirectional,
            variant=self.variant, dropout=self.dropout, dtype=self.dtype, random_state=rng,
        )
        width = hidden * (2 if self.bidirectional else 1)
        self.head_ = init_head(width, n_outputs, np.dtype(self.dtype), rng)
        self._history = History()
        self._optimizer = None
        self._rng = rng

    def _hidden_units(self) -> int:
        """The hidden size of a new layer."""
        return self.hidden_size

    def _layer_fits(self, input_size: int, gru=None) -> bool:
        """Whether the fitted layer (or ``gru``) is the one the parameters
        describe now, for inputs of ``input_size`` (else ``warm_start``
        starts anew)."""
        gru = self.gru_ if gru is None else gru
        return (gru.input_size, gru.hidden_size, gru.num_layers, gru.bidirectional,
                gru.variant, gru.dtype) == (
            input_size, self._hidden_units(), self.num_layers, self.bidirectional,
            self.variant, np.dtype(self.dtype))

    def _restore_training_state(self) -> None:
        """After :func:`fastgru.load`: the training history from the loaded
        ``n_iter_``/``loss_curve_``/``best_loss_``, a fresh optimiser, and the
        generator that shuffles ``partial_fit``'s and ``warm_start``'s batches
        drawn from ``random_state`` (as a new fit draws its own), so that the
        same continued fit of the same file gives the same model."""
        curve = [float(v) for v in self.loss_curve_]
        if len(curve) != self.n_iter_:
            raise ValueError("loss_curve_ does not have n_iter_ entries")
        self._history = History(loss_curve=curve, n_epochs=int(self.n_iter_),
                                best_loss=float(self.best_loss_))
        self._optimizer = None
        self._random_state = check_random_state(self.random_state)
        self._rng = np.random.default_rng(self._random_state.randint(np.iinfo(np.int32).max))

    #: fitted state kept in private attributes (the public ones end with "_")
    _PRIVATE_STATE = ("_history", "_optimizer", "_rng", "_random_state")
    #: Private state derived from the fitted state on use: left out of pickles.
    _CACHES: tuple = ()

    def _forget_fit(self) -> None:
        """Drop every fitted attribute: the estimator is not fitted."""
        for name in list(vars(self)):
            if (name.endswith("_") and not name.startswith("__")) or name in self._PRIVATE_STATE:
                delattr(self, name)

    def _record_fit(self, incremental: bool) -> None:
        """Set the fitted attributes from the training history."""
        history = self._history
        # an interrupt between an epoch's two records leaves one entry over
        n = min(history.n_epochs, len(history.loss_curve))
        history.n_epochs = n
        del history.loss_curve[n:]
        self.n_iter_ = n
        self.loss_curve_ = list(history.loss_curve)
        self.best_loss_ = float(history.best_loss)
        if history.validation_scores and not incremental:
            self.validation_scores_ = list(history.validation_scores)
            self.best_validation_score_ = float(history.best_validation_score)
        else:
            self.validation_scores_ = None
            self.best_validation_score_ = None



class TrainingMixin:
    """``fit(X, y)`` and ``partial_fit`` for the estimators: a new or continued
    model trained on padded sequences and encoded targets (a mixin of a
    :class:`TrainableGRU` that has ``_validate_X``, ``_encode_targets``,
    ``_loss``, ``_validation_score`` and ``_raw_predict_padded``)."""

    def _fit(self, X, y, incremental: bool, classes=None):
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target "
                             "y is None")
        first = incremental and not hasattr(self, "gru_")
        reset = not incremental or first
        before = dict(vars(self))
        try:
            x, lengths = self._validate_X(X, reset=reset)
            targets = self._encode_targets(y, x.shape[0], reset=reset, classes=classes)
        except BaseException:  # refused data: the estimator is as it was
            vars(self).clear()
            vars(self).update(before)
            raise
        n_outputs = targets.shape[1] if targets.ndim == 2 else len(self.classes_)
        return self._train_arrays(x, lengths, targets, n_outputs, incremental, reset)

    def _train_arrays(self, x, lengths, targets, n_outputs, incremental, reset):
        """Train on padded sequences and encoded targets; set the fitted attributes.

        ``reset`` starts anew (unless ``warm_start`` and the shapes still fit);
        ``incremental`` runs one epoch and keeps the optimiser's state.
        """
        # scikit-learn's Interval(Integral) takes a bool (max_epochs=True would train)
        for name in ("max_epochs", "batch_size", "n_iter_no_change"):
            check_int(name, getattr(self, name))
        continuing = not reset  # partial_fit on a fitted model
        created = False
        try:
            with _runtime.threads(self.n_jobs):
                if reset:
                    self._random_state = check_random_state(self.random_state)
                    continuing = (self.warm_start and hasattr(self, "gru_")
                                  and self._layer_fits(x.shape[2])
                                  and self.head_["weight"].shape[0] == n_outputs)
                    if not continuing:
                        self._initialize(x.shape[2], n_outputs)
                        created = True
                self._train(x, lengths, targets, incremental)
        except BaseException:
            # Either a complete fitted state or none. A model that continued
            # or finished an epoch keeps a complete state: the epochs that
            # ended, the last finite weights (save and load take it). A new
            # model that finished no epoch (or could not be built) is
            # forgotten: the estimator is not fitted.
            if continuing or (created and self._history.loss_curve):
                self._record_fit(incremental)
            else:
                self._forget_fit()
            raise
        self._record_fit(incremental)
        return self

    def _train(self, x, lengths, targets, incremental):
        if not incremental or getattr(self, "_optimizer", None) is None:
            self._optimizer = self._make_optimizer()
        self.gru_.dropout = self.dropout  # a continued layer trains with today's dropout
        # the net holds the training state (tape, buffers, gradients) and
        # is dropped at the end: the fitted estimator keeps its model only
        net = SequenceNet(self.gru_, self.head_)
        history = self._history
        try:
            if incremental:
                options = self._train_options(1)
                loss = train_epoch(net, self._loss, self._optimizer, x, lengths, targets,
                                   options, self._rng, history.n_epochs + 1)
                history.loss_curve.append(loss)
                history.n_epochs += 1
                history.best_loss = min(history.best_loss, loss)
            else:
                validation = None
                if self.early_stopping:
                    x, lengths, targets, validation = self._split_validation(
                        x, lengths, targets)
                train(net, self._loss, self._optimizer, x, lengths, targets,
                      self._train_options(self.max_epochs), self._rng, history, validation)
        except NonFiniteLossError:
            self._optimizer = None  # its moments may be NaN/inf; the weights are finite
            raise
        if not incremental:
            # fit always starts a fresh optimiser: its moments (twice the
            # model's size) are kept only between partial_fit calls
            self._optimizer = None

    def _split_validation(self, x, lengths, targets):
        n = x.shape[0]
        stratify = targets if targets.ndim == 1 else None
        try:
            train_idx, val_idx = train_test_split(
                np.arange(n), test_size=self.validation_fraction, stratify=stratify,
                random_state=self._random_state)
        except ValueError:  # a class too small to stratify, or too few rows
            try:
                train_idx, val_idx = train_test_split(
                    np.arange(n), test_size=self.validation_fraction,
                    random_state=self._random_state)
            except ValueError:  # too few rows to split at all (one sample)
                train_idx, val_idx = np.arange(n), np.arange(0)
        if len(val_idx) < MIN_VALIDATION_SAMPLES or len(train_idx) < 1:
            warnings.warn(
                f"early_stopping would hold out only {len(val_idx)} of {n} samples "
                f"(validation_fraction={self.validation_fraction}): a validation loss on "
                f"fewer than {MIN_VALIDATION_SAMPLES} samples is too noisy to judge when to "
                "stop, so this fit trains on every sample and stops by the training-loss "
                "plateau rule (as early_stopping=False). Raise validation_fraction to use "
                "early stopping.", UserWarning, stacklevel=4)
            return x, lengths, targets, None
        x_val, len_val, t_val = x[val_idx], lengths[val_idx], targets[val_idx]

        def validation():
            out = self._raw_predict_padded(x_val, len_val)
            with np.errstate(over="ignore", invalid="ignore"):
                loss = self._loss(out, t_val)[0]
            return loss, self._validation_score(out, t_val)

        return x[train_idx], lengths[train_idx], targets[train_idx], validation
