"""scikit-learn estimators built on :class:`fastgru.GRU`: regression and classification.

The two estimators share one base class (input handling, prediction, ONNX
export), next to the subclasses it serves; their parameters, with their
checks, and the training driver are in :mod:`fastgru._fitting`, shared with
the forecaster.

Each estimator is a GRU stack whose last layer's final state (both directions
when bidirectional) feeds a linear head, trained with minibatch Adam or SGD.

Input ``X`` may be

* a 3-D array ``(n_samples, n_timesteps, n_features)``;
* a 2-D array or pandas DataFrame ``(n_samples, n_timesteps)``: a batch of
  univariate sequences. As everywhere in scikit-learn, ``n_features_in_`` is
  then the number of columns, and ``predict`` needs the same number;
* a list of ``(n_timesteps_i, n_features)`` (or 1-D) arrays of different
  lengths; they are right-padded and each sequence is read to its own end.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin, _fit_context
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    check_array,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from . import _losses, _runtime
from ._fitting import MIN_VALIDATION_SAMPLES, TrainableGRU, TrainingMixin  # noqa: F401
from ._network import SequenceNet
from ._state import TRAINING, Field, FittedState
from ._validation import (
    as_float_array,
    check_step_features,
    object_sequences,
    pad_sequences,
    sequence_form,
    warn_channels_first,
)
from .layer import GRU

__all__ = ["GRURegressor", "GRUClassifier"]

#: Rows per call of the layer in predict: bounds the memory of large inputs.
PREDICT_CHUNK = 4096

class _BaseGRUEstimator(TrainingMixin, TrainableGRU):
    """Input handling, prediction and ONNX export shared by the estimators (their
    parameters and training are :class:`fastgru._fitting.TrainableGRU` and
    :class:`fastgru._fitting.TrainingMixin`)."""

    _PRIVATE_STATE = (*TrainableGRU._PRIVATE_STATE, "_input_form", "_y_ndim")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = True
        tags.input_tags.three_d_array = True
        return tags

    # ------------------------------------------------------------------ input
    def _validate_X(self, X, reset: bool):
        """Padded ``(n, T, F)`` sequences of the model's dtype and their lengths.

        2-D input goes through scikit-learn's ``validate_data`` (feature names,
        ``n_features_in_``, its messages); 3-D and ragged input through
        fastgru's checks. ``reset`` records the input's shape; otherwise it is
        checked against what ``fit`` saw.
        """
        dtype = self._model_dtype(reset)
        if X is None or isinstance(X, (numbers.Number, str, bytes)) or getattr(X, "ndim", 1) == 0:
            # scikit-learn's message for these ("Expected 2D array, got scalar
            # array instead") does not name X
            raise TypeError("X must be sequences (a 3-D or 2-D array, or a list of 2-D "
                            f"arrays), got {type(X).__name__} {X!r:.40}")
        X = object_sequences(X)
        form = sequence_form(X)
        expected = None if reset else self.gru_.input_size
        if reset:
            self._input_form = form
            if form != "2d" and hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
        if form == "ragged":
            x, lengths = pad_sequences("X", X, dtype, expected)
            if reset:
                self.n_features_in_ = x.shape[2]
            return x, lengths
        if form == "3d":
            x = as_float_array("X", X, dtype, ndim=3)
            check_step_features(type(self).__name__, form, x.shape[2], expected)
            if reset:
                warn_channels_first(type(self).__name__, x.shape)
                self.n_features_in_ = x.shape[2]
        else:  # 2-D univariate sequences (or something validate_data rejects)
            check_step_features(type(self).__name__, form, 1, expected)
            with np.errstate(over="ignore"):  # values beyond float32: scikit-learn names them
                if reset or self._input_form == "2d":
                    x = validate_data(self, X, reset=reset, dtype=dtype, order="C")
                else:  # fitted on 3-D or ragged input: any number of time steps
                    x = check_array(X, dtype=dtype, order="C", input_name="X")
            x = x[:, :, None]
        x = np.array(x, dtype=dtype, order="C")  # own, writable copy: one kernel signature
        return x, np.full(x.shape[0], x.shape[1], dtype=np.int64)

    def _model_dtype(self, reset: bool):
        if reset or not hasattr(self, "gru_"):
            return np.dtype(self.dtype)
        return self.gru_.dtype

    # --------------------------------------------------------------- training
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Train on sequences ``X`` and targets ``y``.

        Parameters
        ----------
        X : 3-D array, 2-D array or DataFrame, or list of 2-D (or 1-D) arrays
            The sequences (see the module docstring).
        y : array-like
            Regressor: ``(n_samples,)`` or ``(n_samples, n_outputs)``;
            classifier: labels ``(n_samples,)``.

        Returns
        -------
        self
        """
        return self._fit(X, y, incremental=False)

    def _check_restored(self) -> None:
        """After :func:`fastgru.load`: check the fitted state hangs together and
        prepare for ``partial_fit`` (with a fresh optimiser)."""
        if self._input_form not in ("2d", "3d", "ragged"):
            raise ValueError(f"unknown input form {self._input_form!r}")
        if self._input_form != "2d" and self.n_features_in_ != self.gru_.input_size:
            raise ValueError("n_features_in_ does not match the layer's input_size")
        if self._input_form == "2d" and self.gru_.input_size != 1:
            raise ValueError("a model of 2-D (univariate) sequences needs a layer of "
                             f"input_size 1, not {self.gru_.input_size}")
        names = getattr(self, "feature_names_in_", None)
        if names is not None and (self._input_form != "2d"
                                  or np.shape(names) != (self.n_features_in_,)):
            raise ValueError("feature_names_in_ must name the n_features_in_ time steps of "
                             "2-D input")
        self._restore_training_state()

    # ------------------------------------------------------------- prediction
    def _raw_predict_padded(self, x, lengths):
        net = SequenceNet(self.gru_, self.head_)
        outs = []
        for start in range(0, x.shape[0], PREDICT_CHUNK):
            stop = start + PREDICT_CHUNK
            steps = int(lengths[start:stop].max())
            outs.append(net.forward(x[start:stop, :steps], lengths[start:stop]))
        return outs[0] if len(outs) == 1 else np.concatenate(outs)

    def to_onnx(self, path=None, *, with_lengths: bool = False):
        """Export the fitted model (GRU and head) as one ONNX graph (needs ``onnx``).

        Input ``x``: (batch, time, n_features) float32, or (batch, time) when
        fitted on 2-D input; with ``with_lengths`` also ``lengths`` (batch,)
        int32. Output: ``predictions`` (regressor, on the original scale) or
        ``probabilities`` (classifier, columns in ``classes_`` order). The
        "torch" and "cho" variants only. Returns the ``onnx.ModelProto`` and
        writes it to ``path`` if given.
        """
        check_is_fitted(self, "gru_")
        from .interop.onnx_export import network_to_onnx

        output = ({"classes": self.classes_} if hasattr(self, "classes_") else
                  {"y_mean": self.y_mean_, "y_scale": self.y_scale_, "flat": self._y_ndim == 1})
        return network_to_onnx(self.gru_, self.head_, path, with_lengths=with_lengths,
                               univariate=self._input_form == "2d",
                               name=f"fastgru_{type(self).__name__}", **output)

    def _raw_predict(self, X):
        out = self._raw_predict_fast(X)
        if out is not None:
            return out
        check_is_fitted(self, "gru_")
        x, lengths = self._validate_X(X, reset=False)
        with _runtime.threads(self.n_jobs):
            return self._raw_predict_padded(x, lengths)

    def _raw_predict_fast(self, X):
        """The head's outputs for a serving call, or None where the general
        path must run.

        A serving call is a C-ordered 3-D ndarray of the model's dtype, at
        most PREDICT_CHUNK rows, to a model fitted on 3-D or ragged input
        with a valid head: everything the general path checks (fitted, the
        features per step, non-empty, NaN/inf, the head's shapes and dtype)
        is checked here in a few comparisons, and the same kernels run, so
        the outputs are identical; the layer's batch-1 kernel serves one
        sequence. Anything else (other dtypes and layouts, lists,
        DataFrames, a model fitted on 2-D input) goes the general way, which
        converts it or says what is wrong.
        """
        d = self.__dict__
        gru, head = d.get("gru_"), d.get("head_")
        if not (type(X) is np.ndarray and X.ndim == 3 and type(gru) is GRU
                and X.dtype == gru.dtype and X.flags.c_contiguous
                and 0 < X.shape[0] <= PREDICT_CHUNK and X.shape[1] > 0
                and X.shape[2] == gru.input_size and d.get("_input_form") in ("3d", "ragged")
                and type(head) is dict):
            return None
        W, b = head.get("weight"), head.get("bias")
        width = gru.hidden_size * gru.num_directions
        if not (type(W) is np.ndarray and type(b) is np.ndarray and len(head) == 2
                and W.dtype == gru.dtype and b.dtype == gru.dtype and W.ndim == 2
                and W.shape[1] == width and b.shape == (W.shape[0],)):
            return None  # SequenceNet.check_head says what is wrong
        if not np.isfinite(X).all():
            raise ValueError("X contains NaN or inf")
        if not X.flags.writeable:
            X = X.copy()  # the kernels are compiled for writeable arrays
        n_jobs = d.get("n_jobs")
        if n_jobs is None and X.shape[0] == 1:  # one kernel call, no BLAS limit to hold
            h_n = gru.forward(X)[1]
        else:
            with _runtime.threads(n_jobs):
                h_n = gru.forward(X)[1]
        D = gru.num_directions
        last = h_n[h_n.shape[0] - D:]
        features = last[0] if D == 1 else np.ascontiguousarray(
            last.transpose(1, 0, 2).reshape(last.shape[1], -1))
        return features @ W.T + b


def _target_statistics(y2: np.ndarray):
    """Mean and standard deviation (1 where 0) of each column of ``y2``,
    computed on the columns divided by their largest magnitude, so that
    targets near 1e155 (whose squares overflow float64) get a finite scale."""
    peak = np.abs(y2).max(axis=0)
    peak = np.where(peak > 0, peak, 1.0)
    unit = y2 / peak
    mean = unit.mean(axis=0) * peak
    scale = unit.std(axis=0) * peak
    return mean, np.where(scale > 0, scale, 1.0)


class GRURegressor(RegressorMixin, _BaseGRUEstimator):
    """Sequence regression: a GRU stack and a linear head on its final state.

    Targets are standardised internally (per output), so the default
    learning rate suits targets of any scale (up to ~1e300: the statistics
    are computed on the targets divided by their largest magnitude); predictions
    are returned on the original scale. The loss is half the mean squared error
    of the standardised targets.

    A fitted estimator holds its model only: the training state (the GRU's
    tape and buffers, the gradients) belongs to the training loop and is
    dropped at the end, so ``predict`` may run in other threads while
    ``partial_fit`` trains, and a pickle is about the size of
    :func:`fastgru.save`'s file. Adam's moments are kept in memory between
    ``partial_fit`` calls only, and are not pickled (a pickled or loaded
    estimator continues ``partial_fit`` with a fresh optimiser). A 3-D ``X``
    that looks channel-first (aeon's and sktime's ``(n_cases, n_channels,
    n_timepoints)``) draws a warning with the fix, ``X.transpose(0, 2, 1)``.

    Parameters
    ----------
    hidden_size : int, default 64
        Units of each GRU layer.
    num_layers : int, default 1
        Stacked GRU layers.
    bidirectional : bool, default False
        Read each sequence in both directions; the head sees both final states.
    variant : {"torch", "cho", "gru1", "gru2", "gru3", "mgu"}, default "torch"
        Gate equations (see the README).
    dropout : float, default 0.0
        Dropout between stacked layers, in training only.
    max_epochs : int, default 200
        Most passes over the training data in ``fit``.
    batch_size : int, default 32
        Sequences per minibatch.
    learning_rate : float, default 3e-3
        Step size of the optimiser. 3e-3 rather than PyTorch's and Keras'
        1e-3: on five small UCR/UEA datasets it raised the mean test accuracy
        of the defaults from 0.79 to 0.83 in the same 200 epochs (measured
        with ``bench/defaults_study.py``; see docs/estimators.md).
    optimizer : {"adam", "sgd"}, default "adam"
        Adam, or SGD with momentum 0.9.
    weight_decay : float, default 0.0
        L2 penalty added to the gradients (as ``torch.optim``).
    clip_grad_norm : float or None, default 1.0
        Clip the global gradient norm of every step to this value.
    early_stopping : bool, default False
        Hold out ``validation_fraction`` of the data, monitor its loss (not
        its accuracy or R^2, which take few values on a small split) with
        the plateau rule, and keep the weights of the epoch with the lowest
        validation loss. A split of fewer than 10 samples is too noisy to
        judge by: the fit then warns and trains on every sample with the
        training-loss rule, as without early stopping.
    validation_fraction : float, default 0.1
        Share of the data held out for early stopping.
    n_iter_no_change : int, default 10
        Epochs without improvement before stopping: the run stops when the
        monitored loss (training loss, or validation loss with
        ``early_stopping``) has not improved by ``tol`` for more than
        ``n_iter_no_change`` epochs *and* for at least 250 optimiser
        updates (``fastgru._training.PATIENCE_UPDATES``). The update floor
        matters for small data only: 50 samples in batches of 32 make 2
        updates an epoch, and 10 epochs (20 Adam steps) alone would end
        fits at chance level before they had learned.
    tol : float, default 1e-4
        Least decrease of the monitored loss that counts as an improvement.
    shuffle : bool, default True
        Shuffle the sequences every epoch.
    random_state : int, RandomState instance or None, default None
        Seeds initialisation, shuffling, dropout and the validation split;
        two fits with the same integer give identical models.
    verbose : int, default 0
        1: a line per epoch at most every second, with loss, validation score
        and time; 2: a line for every epoch.
    warm_start : bool, default False
        ``fit`` continues from the current weights instead of starting anew,
        when they still fit: the same features per step and outputs, and
        the layer the parameters describe (``hidden_size``, ``num_layers``,
        ``bidirectional``, ``variant``, ``dtype``); it trains with the
        ``dropout`` set now.
    dtype : {"float32", "float64"}, default "float32"
        Precision of the model.
    n_jobs : int or None, default None
        Threads of fit and predict (None: ``fastgru.get_num_threads()``;
        -1: every core, -k: all but k - 1; 0 is refused, as in joblib).

    Attributes
    ----------
    gru_ : fastgru.GRU
        The trained GRU stack.
    head_ : dict
        The linear head: ``"weight"`` ``(n_outputs, D*hidden_size)``, ``"bias"``.
    n_features_in_ : int
        Features per time step (3-D or ragged X), or columns of 2-D X.
    feature_names_in_ : ndarray of str
        Column names of a DataFrame X.
    n_outputs_ : int
        Number of targets.
    n_iter_ : int
        Epochs run.
    loss_curve_ : list of float
        Training loss of each epoch.
    best_loss_ : float
        Lowest training loss.
    validation_scores_ : list of float or None
        R^2 on the held-out data each epoch (``early_stopping`` only; None
        when the split was too small to use). The stopping decision and
        the kept weights follow the validation loss.
    best_validation_score_ : float or None
        Best of ``validation_scores_``.

    Examples
    --------
    >>> import numpy as np
    >>> from fastgru import GRURegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 10, 2))
    >>> y = X[:, :, 0].sum(axis=1)
    >>> model = GRURegressor(hidden_size=16, max_epochs=30, random_state=0).fit(X, y)
    >>> model.predict(X[:3]).shape
    (3,)
    """

    _loss = staticmethod(_losses.mean_squared_error)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _encode_targets(self, y, n_samples, reset, classes=None):
        try:
            # an empty y is caught below, by the sample count ("X has n samples but y has 0")
            y = check_array(y, ensure_2d=False, dtype=np.float64, input_name="y",
                            ensure_min_samples=0)
        except ValueError as exc:  # strings: NumPy's message does not name y
            if "could not convert" not in str(exc):
                raise
            raise TypeError(f"y must hold numbers ({exc})") from None
        if y.ndim not in (1, 2):
            raise ValueError(f"y must be 1-D or 2-D, got shape {y.shape}")
        if y.shape[0] != n_samples:
            raise ValueError(f"X has {n_samples} samples but y has {y.shape[0]}")
        y2 = y.reshape(n_samples, -1)
        if reset:
            self.n_outputs_ = y2.shape[1]
            self._y_ndim = y.ndim
            self.y_mean_, self.y_scale_ = _target_statistics(y2)
        elif y2.shape[1] != self.n_outputs_:
            raise ValueError(f"y has {y2.shape[1]} outputs, the model was fitted with "
                             f"{self.n_outputs_}")
        with np.errstate(over="ignore", invalid="ignore"):
            z = (y2 - self.y_mean_) / self.y_scale_
        if not np.isfinite(z).all():
            raise ValueError("y is too large to standardise in float64 (values near "
                             f"{np.abs(y2).max():.3g}): rescale it")
        return z.astype(self.gru_.dtype if not reset else np.dtype(self.dtype))

    _saved_state = FittedState("GRURegressor", (
        Field("n_features_in_", "int"), *TRAINING, Field("_input_form", "json"),
        Field("n_outputs_", "int"), Field("_y_ndim", "int"), Field("y_mean_", "array"),
        Field("y_scale_", "array")), network=True, head_outputs="n_outputs_")

    def _check_restored(self) -> None:
        super()._check_restored()
        self.y_mean_ = np.asarray(self.y_mean_, dtype=np.float64)
        self.y_scale_ = np.asarray(self.y_scale_, dtype=np.float64)
        if self._y_ndim not in (1, 2) or self.y_mean_.shape != (self.n_outputs_,) or \
                self.y_scale_.shape != (self.n_outputs_,) or not (self.y_scale_ > 0).all():
            raise ValueError("target statistics do not match n_outputs_")

    def _validation_score(self, pred, target):
        resid = ((target - pred) ** 2).sum(axis=0)
        total = ((target - target.mean(axis=0)) ** 2).sum(axis=0)
        total = np.where(total > 0, total, 1.0)
        return float(np.mean(1.0 - resid / total))

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y):
        """One epoch over ``X, y``, continuing from the current state (for streams
        of data that do not fit in memory). Targets are standardised with the
        statistics of the first call."""
        return self._fit(X, y, incremental=True)

    def predict(self, X):
        """Predicted targets, ``(n_samples,)`` or ``(n_samples, n_outputs)``."""
        out = self._raw_predict(X).astype(np.float64) * self.y_scale_ + self.y_mean_
        return out[:, 0] if self._y_ndim == 1 else out


class GRUClassifier(ClassifierMixin, _BaseGRUEstimator):
    """Sequence classification: a GRU stack and a softmax head on its final state.

    Binary and multi-class, with labels of any type (``classes_`` holds them
    sorted). Trained on the cross-entropy. Parameters and the fitted GRU and
    head are as in :class:`GRURegressor`; ``validation_scores_`` hold the
    accuracy on the held-out data.

    Attributes
    ----------
    classes_ : ndarray
        The class labels.
    gru_, head_, n_features_in_, n_iter_, loss_curve_, best_loss_, validation_scores_
        As in :class:`GRURegressor`.

    Examples
    --------
    >>> import numpy as np
    >>> from fastgru import GRUClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 12, 1))
    >>> y = np.where(X[:, 0, 0] > 0, "up", "down")   # decided by the first step
    >>> clf = GRUClassifier(hidden_size=16, max_epochs=40, random_state=0).fit(X, y)
    >>> clf.classes_
    array(['down', 'up'], dtype='<U4')
    >>> clf.predict_proba(X[:2]).shape
    (2, 2)
    """

    _loss = staticmethod(_losses.softmax_cross_entropy)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = False
        return tags

    def _encode_targets(self, y, n_samples, reset, classes=None):
        y = column_or_1d(y, warn=True)
        if y.shape[0] != n_samples:
            raise ValueError(f"X has {n_samples} samples but y has {y.shape[0]}")
        check_classification_targets(y)
        if classes is not None and not reset and not np.array_equal(
                np.unique(np.asarray(classes)), self.classes_):
            raise ValueError(f"classes={np.asarray(classes).tolist()} differ from the "
                             f"model's classes_ {self.classes_.tolist()}: a fitted "
                             "GRUClassifier keeps its classes (fit anew for others)")
        if reset:
            self.classes_ = np.unique(y) if classes is None else np.unique(np.asarray(classes))
            if len(self.classes_) < 2:
                what = "y" if classes is None else "classes"
                raise ValueError(
                    f"{what} holds {len(self.classes_)} class"
                    f"{'' if len(self.classes_) == 1 else 'es'} "
                    f"{self.classes_.tolist()}: GRUClassifier needs at least 2"
                )
        index = np.searchsorted(self.classes_, y)
        index = np.clip(index, 0, len(self.classes_) - 1)
        unknown = self.classes_[index] != y
        if unknown.any():
            raise ValueError(f"y holds labels not in classes_ {self.classes_.tolist()}: "
                             f"{np.unique(y[unknown]).tolist()}")
        return index.astype(np.int64)

    _saved_state = FittedState("GRUClassifier", (
        Field("n_features_in_", "int"), *TRAINING, Field("_input_form", "json"),
        Field("classes_", "array")), network=True, head_outputs="classes_")

    def _check_restored(self) -> None:
        super()._check_restored()
        if self.classes_.ndim != 1 or len(self.classes_) < 2 or \
                not (self.classes_[1:] > self.classes_[:-1]).all():
            raise ValueError("classes_ must be sorted, unique labels (at least 2)")

    def _validation_score(self, logits, target):
        return float(np.mean(logits.argmax(axis=1) == target))

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None):
        """One epoch over ``X, y``, continuing from the current state.

        ``classes`` (every label that will ever be seen) is required on the
        first call.
        """
        if not hasattr(self, "classes_") and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit")
        return self._fit(X, y, incremental=True, classes=classes)

    def predict_log_proba(self, X):
        """Log-probabilities of each class, ``(n_samples, n_classes)``."""
        return _losses.log_softmax(self._raw_predict(X).astype(np.float64))

    def predict_proba(self, X):
        """Probabilities of each class, ``(n_samples, n_classes)``; rows sum to 1."""
        return np.exp(self.predict_log_proba(X))

    def predict(self, X):
        """The most probable class of each sequence."""
        best = self._raw_predict(X).argmax(axis=1)
        return self.classes_[best]
