"""Time-series forecasting: ``GRUForecaster`` and the sliding-window helper.

The forecaster reads a window of the past and predicts the next ``horizon``
steps at once (direct multi-output). Each series is standardised with its
training mean and scale, and each window is taken relative to its last value,
so the model learns changes, not levels, and follows trends beyond the range it
was trained on.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from sklearn.base import _fit_context
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from . import _config, _losses
from ._network import SequenceNet
from ._validation import as_float_array, check_int, check_memory
from .estimators import _BaseGRUEstimator

__all__ = ["GRUForecaster", "sliding_windows"]


def sliding_windows(values, window: int, horizon: int = 0):
    """Every window of ``window`` steps of ``values`` and the ``horizon`` steps after it.

    Parameters
    ----------
    values : array (n_timesteps,) or (n_timesteps, n_series)
    window, horizon : int
        Steps of input, and of targets after each window (0: inputs only).

    Returns
    -------
    inputs : ndarray (n_windows, window, n_series)
    targets : ndarray (n_windows, horizon, n_series)
        Read-only views into ``values`` (no copies), with
        ``n_windows = n_timesteps - window - horizon + 1``.

    Examples
    --------
    >>> import numpy as np
    >>> from fastgru.forecasting import sliding_windows
    >>> x, y = sliding_windows(np.arange(6.0), window=3, horizon=2)
    >>> x[:, :, 0].tolist(), y[:, :, 0].tolist()
    ([[0.0, 1.0, 2.0], [1.0, 2.0, 3.0]], [[3.0, 4.0], [4.0, 5.0]])
    """
    arr = np.asarray(values)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"values must be 1-D or 2-D, got shape {arr.shape}")
    window = check_int("window", window)
    horizon = check_int("horizon", horizon, minimum=0)
    n_windows = arr.shape[0] - window - horizon + 1
    if n_windows < 1:
        raise ValueError(f"a series of {arr.shape[0]} steps is too short for window={window} "
                         f"and horizon={horizon}: it needs at least {window + horizon}")
    # (n, S, window) -> (n, window, S)
    views = sliding_window_view(arr, window + horizon, axis=0).transpose(0, 2, 1)
    return views[:n_windows, :window], views[:n_windows, window:]


def _as_series(name, y, allow_pandas=True):
    """``(values (T, S) float64, kind, index, columns)`` of a series argument."""
    kind, index, columns = "array1d", None, None
    if allow_pandas and hasattr(y, "iloc") and hasattr(y, "index"):
        index = y.index
        if getattr(y, "ndim", 1) == 1:
            kind, columns = "series", y.name
        else:
            kind, columns = "frame", list(y.columns)
        y = y.to_numpy()
    values = as_float_array(name, y, np.float64, ndim=(1, 2))
    if kind == "array1d" and values.ndim == 2:
        kind = "array2d"
    return values.reshape(values.shape[0], -1), kind, index, columns


def _index_info(index):
    """A JSON-able description of a pandas index, to continue it after the end.

    Continued: a PeriodIndex; a DatetimeIndex with a frequency (set, or
    inferable from its dates); an integer or float index of evenly spaced
    values (a RangeIndex, years 1871.0, 1872.0, ...). Anything else (dates
    with gaps, uneven numbers, labels) cannot be continued: a warning says so
    and the forecast is indexed by position after the history.
    """
    if index is None:
        return None
    import pandas as pd

    if isinstance(index, pd.PeriodIndex):
        return {"type": "period", "last": str(index[-1]), "freq": index.freqstr,
                "name": index.name}
    if isinstance(index, pd.DatetimeIndex):
        freq = index.freqstr or (index.inferred_freq if len(index) > 2 else None)
        if freq:
            return {"type": "datetime", "last": index[-1].isoformat(), "freq": freq,
                    "name": index.name}
        reason = ("its dates have no frequency pandas can infer (a gap, or uneven "
                  "steps); give it one, e.g. y.asfreq('D') (gaps become NaN: fill them)")
    elif pd.api.types.is_numeric_dtype(index) and not pd.api.types.is_bool_dtype(index):
        values = np.asarray(index, dtype=np.float64)
        steps = np.diff(values)
        is_int = pd.api.types.is_integer_dtype(index)
        if len(values) == 1:
            steps = np.ones(1)
        if np.all(np.isfinite(steps)) and steps[0] != 0 and np.allclose(
                steps, steps[0], rtol=1e-9, atol=0.0):
            if is_int:
                return {"type": "integer", "last": int(index[-1]), "step": int(steps[0]),
                        "name": index.name}
            return {"type": "float", "last": float(values[-1]), "step": float(steps[0]),
                    "name": index.name}
        reason = "its values are not evenly spaced"
    else:
        reason = f"it is a {type(index).__name__} of {index.dtype} labels"
    warnings.warn(f"GRUForecaster cannot continue the index of y: {reason}. The forecast "
                  "is indexed by position after the history.", UserWarning, stacklevel=4)
    return {"type": "position", "last": len(index) - 1, "name": index.name}


def _continued_index(info, steps):
    import pandas as pd

    t = info["type"]
    if t == "period":
        start = pd.Period(info["last"], freq=info["freq"]) + 1
        return pd.period_range(start, periods=steps, freq=info["freq"], name=info["name"])
    if t == "datetime":
        rng = pd.date_range(info["last"], periods=steps + 1, freq=info["freq"], name=info["name"])
        return rng[1:]
    if t == "float":
        step = info["step"]
        return pd.Index(info["last"] + step * np.arange(1, steps + 1), dtype=np.float64,
                        name=info["name"])
    step = info.get("step", 1)
    return pd.RangeIndex(info["last"] + step, info["last"] + step * (steps + 1), step,
                         name=info["name"])


class GRUForecaster(_BaseGRUEstimator):
    """Forecast one or many series ``horizon`` steps ahead from a ``window`` of the past.

    Parameters
    ----------
    window : int, default 24
        Past steps the model reads.
    horizon : int, default 1
        Steps forecast at once. ``predict(horizon=h)`` with ``h > horizon``
        feeds the forecasts back in (without exogenous features only).
    **params
        The shared parameters of :class:`fastgru.GRURegressor` (hidden_size,
        max_epochs, learning_rate, ...).

    Attributes
    ----------
    gru_, head_, n_iter_, loss_curve_, best_loss_
        As in :class:`fastgru.GRURegressor`.
    n_series_ : int
        Series forecast together.
    n_exog_ : int
        Exogenous features (0 without ``X``).
    series_mean_, series_scale_ : ndarray (n_series,)
        Training statistics used to scale the series.
    history_ : ndarray (window, n_series)
        The last ``window`` training values: ``predict()`` forecasts after them.

    Examples
    --------
    >>> import numpy as np
    >>> from fastgru import GRUForecaster
    >>> t = np.arange(300)
    >>> y = np.sin(2 * np.pi * t / 12) + 0.01 * t
    >>> model = GRUForecaster(window=24, horizon=6, hidden_size=16, max_epochs=30,
    ...                       random_state=0).fit(y)
    >>> model.predict().shape
    (6,)
    """

    _parameter_constraints: dict = {
        **_BaseGRUEstimator._parameter_constraints,
        "window": [Interval(numbers.Integral, 1, None, closed="left")],
        "horizon": [Interval(numbers.Integral, 1, None, closed="left")],
    }
    _loss = staticmethod(_losses.mean_squared_error)

    def __init__(self, window=24, horizon=1, *, hidden_size=64, num_layers=1,
                 bidirectional=False, variant="torch", dropout=0.0, max_epochs=200,
                 batch_size=32, learning_rate=1e-3, optimizer="adam", weight_decay=0.0,
                 clip_grad_norm=1.0, early_stopping=False, validation_fraction=0.1,
                 n_iter_no_change=10, tol=1e-4, shuffle=True, random_state=None, verbose=0,
                 warm_start=False, dtype="float32", n_jobs=None):
        super().__init__(
            hidden_size, num_layers, bidirectional=bidirectional, variant=variant,
            dropout=dropout, max_epochs=max_epochs, batch_size=batch_size,
            learning_rate=learning_rate, optimizer=optimizer, weight_decay=weight_decay,
            clip_grad_norm=clip_grad_norm, early_stopping=early_stopping,
            validation_fraction=validation_fraction, n_iter_no_change=n_iter_no_change,
            tol=tol, shuffle=shuffle, random_state=random_state, verbose=verbose,
            warm_start=warm_start, dtype=dtype, n_jobs=n_jobs)
        self.window = window
        self.horizon = horizon

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.estimator_type = "forecaster"
        return tags

    # ---------------------------------------------------------------- inputs
    def _scaled(self, values, exog):
        z = (values - self.series_mean_) / self.series_scale_
        if exog is not None:
            exog = (exog - self.exog_mean_) / self.exog_scale_
        return z, exog

    def _window_inputs(self, z_windows, exog_windows):
        """Model inputs: each window relative to its last value, then the exog."""
        rel = z_windows - z_windows[:, -1:, :]
        if exog_windows is None:
            return np.ascontiguousarray(rel, dtype=self.dtype)
        return np.ascontiguousarray(np.concatenate([rel, exog_windows], axis=2),
                                    dtype=self.dtype)

    def _check_exog(self, X, n_steps, name="X"):
        if X is None:
            return None
        exog, *_ = _as_series(name, X)
        if exog.shape[0] != n_steps:
            raise ValueError(f"{name} has {exog.shape[0]} time steps, the series has {n_steps}")
        return exog

    # ------------------------------------------------------------------- fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, y, X=None):
        """Train on the series ``y`` (and past covariates ``X``, aligned with it).

        Parameters
        ----------
        y : array (n_timesteps,) or (n_timesteps, n_series), pandas Series or DataFrame
        X : array (n_timesteps, n_exog) or DataFrame, optional
            Exogenous features known up to each forecast origin.

        Returns
        -------
        self
        """
        values, kind, index, columns = _as_series("y", y)
        exog = self._check_exog(X, values.shape[0])
        needed = self.window + self.horizon
        if values.shape[0] < needed:
            raise ValueError(f"y has {values.shape[0]} time steps; window={self.window} and "
                             f"horizon={self.horizon} need at least {needed}")
        self.n_series_ = values.shape[1]
        self.n_exog_ = 0 if exog is None else exog.shape[1]
        self._output_kind = kind
        self._series_names = columns
        self._index_info = _index_info(index)
        self.series_mean_ = values.mean(axis=0)
        scale = values.std(axis=0)
        self.series_scale_ = np.where(scale > 0, scale, 1.0)
        if exog is not None:
            self.exog_mean_ = exog.mean(axis=0)
            escale = exog.std(axis=0)
            self.exog_scale_ = np.where(escale > 0, escale, 1.0)
        else:
            self.exog_mean_ = self.exog_scale_ = None
        z, ez = self._scaled(values, exog)
        z_in, z_out = sliding_windows(z, self.window, self.horizon)
        e_in = None if ez is None else sliding_windows(ez, self.window, self.horizon)[0]
        inputs = self._window_inputs(z_in, e_in)
        targets = (z_out - z_in[:, -1:, :]).reshape(len(z_in), -1).astype(self.dtype)
        lengths = np.full(len(inputs), self.window, dtype=np.int64)
        # set before training: a fit that raises after an epoch keeps a complete state
        self.history_ = values[-self.window:].copy()
        self.exog_history_ = None if exog is None else exog[-self.window:].copy()
        self._train_arrays(inputs, lengths, targets, targets.shape[1], incremental=False,
                           reset=True)
        return self

    def _validation_score(self, pred, target):
        resid = ((target - pred) ** 2).sum()
        total = ((target - target.mean(axis=0)) ** 2).sum()
        return float(1.0 - resid / total) if total > 0 else float(-resid)

    def _check_restored(self) -> None:
        shape = (self.n_series_,)
        if np.shape(self.series_mean_) != shape or np.shape(self.series_scale_) != shape:
            raise ValueError("series statistics do not match n_series_")
        if np.shape(self.history_) != (self.window, self.n_series_):
            raise ValueError("history_ does not hold window steps of every series")
        if self.gru_.input_size != self.n_series_ + self.n_exog_:
            raise ValueError("the layer's input_size does not match the series and exog")
        self._input_form = "3d"
        self.n_features_in_ = self.gru_.input_size
        self.validation_scores_ = self.best_validation_score_ = None
        super()._check_restored()

    # --------------------------------------------------------------- predict
    def predict(self, horizon=None, y=None, X=None):
        """Forecast the ``horizon`` steps after the training series, or after ``y``.

        Parameters
        ----------
        horizon : int, optional
            Steps to forecast (default: the ``horizon`` the model was fitted with).
        y : series, optional
            A history to forecast from, of at least ``window`` steps, in the
            form ``fit`` took. Default: the end of the training series.
        X : exogenous features aligned with ``y`` (required with ``y`` when the
            model was fitted with ``X``).

        Returns
        -------
        Forecasts ``(horizon,)`` for one series, ``(horizon, n_series)`` for
        several; a pandas Series/DataFrame with the index continued after the
        history when the history was pandas.
        """
        check_is_fitted(self, "gru_")
        steps = self.horizon if horizon is None else check_int("horizon", horizon)
        # the forecast blocks, their concatenation and the rescaled result (float64)
        check_memory(f"predict(horizon={steps})", 3 * 8 * steps * self.n_series_)
        if y is None:
            if X is not None:
                raise ValueError("X given without y: pass the history y it belongs to")
            history, exog = self.history_, self.exog_history_
            kind, names, info = self._output_kind, self._series_names, self._index_info
        else:
            history, kind, index, names = _as_series("y", y)
            info = _index_info(index)
            if history.shape[1] != self.n_series_:
                raise ValueError(f"y has {history.shape[1]} series, the model was fitted "
                                 f"with {self.n_series_}")
            if history.shape[0] < self.window:
                raise ValueError(f"y has {history.shape[0]} time steps, fewer than "
                                 f"window={self.window}")
            exog = self._check_exog(X, history.shape[0])
            if (exog is None) != (self.n_exog_ == 0):
                raise ValueError("X must be given with y exactly when the model was fitted "
                                 "with exogenous features")
            if exog is not None and exog.shape[1] != self.n_exog_:
                raise ValueError(f"X has {exog.shape[1]} features, expected {self.n_exog_}")
            history = history[-self.window:]
            exog = None if exog is None else exog[-self.window:]
        if steps > self.horizon and self.n_exog_:
            raise ValueError(f"horizon={steps} exceeds the fitted horizon={self.horizon}; with "
                             "exogenous features the forecast cannot be fed back")
        forecast = self._forecast(history, exog, steps)
        return self._wrap(forecast, kind, names, info)

    def _forecast(self, history, exog, steps):
        z, ez = self._scaled(history, exog)
        net = SequenceNet(self.gru_, self.head_)
        out = []
        done = 0  # steps forecast so far (summing len(out) each round was quadratic)
        with _config.threads(self.n_jobs):
            while done < steps:
                inputs = self._window_inputs(z[None, -self.window:],
                                             None if ez is None else ez[None])
                pred = net.forward(inputs, np.array([self.window]))
                block = pred.reshape(self.horizon, self.n_series_).astype(np.float64)
                block = block + z[-1]
                out.append(block)
                done += len(block)
                # the next window only: the whole history would make the loop quadratic
                z = np.concatenate([z[-self.window:], block])[-self.window:]
        z_pred = np.concatenate(out)[:steps]
        return z_pred * self.series_scale_ + self.series_mean_

    def _wrap(self, forecast, kind, names, info):
        if kind in ("series", "frame") and info is not None:
            import pandas as pd

            index = _continued_index(info, len(forecast))
            if kind == "series":
                return pd.Series(forecast[:, 0], index=index, name=names)
            return pd.DataFrame(forecast, index=index, columns=names)
        return forecast[:, 0] if kind in ("array1d", "series") else forecast
