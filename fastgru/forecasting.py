"""Time-series forecasting: ``GRUForecaster``, one GRU trained over many series.

The forecaster is a *global* model: one GRU (or on large panels an
ensemble of three, see :func:`ensemble_size`) learns from windows of every
series of a panel (statsforecast's long DataFrame, a list or dict of series,
or a single series), each window in units of its series' scale, so series of
any level and length share it. It predicts ``horizon`` steps at once (direct
multi-output) as a correction to a base forecast from the window (the last
value; with seasons, the last season's level plus the seasonal profile of
the window's full seasons, see :mod:`fastgru._windows`). By default its
forecast is averaged with an optimised Theta model's, fitted to each series
(:func:`optimized_theta`; one third Theta). It calibrates prediction
intervals on forecasts of held-out data (split conformal): the
last ``horizon`` steps of every series are held out while it trains (time
ordered, never shuffled), pick the best epoch, and give the residuals the
intervals are made of; it then trains a few epochs more on everything.
How windows are cut is in :mod:`fastgru._windows`.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import _fit_context
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from ._fitting import TrainableGRU
from ._forecast_checks import SAVED_STATE, check_alias
from ._forecast_fit import FINAL_EPOCHS as FINAL_EPOCHS  # the epochs after the best
from ._forecast_fit import (
    MAX_TRAINING_WINDOWS,
    ThetaMix,
    _mae_loss,
    cut_windows,
    fit_members,
    networks_to_continue,
    sample_origins,
    split_origins,
)
from ._forecast_state import check_fit_params, conformal_quantiles
from ._panel import Panel, read_panel, warn_saved_index
from ._theta import THETA_WEIGHT as THETA_WEIGHT  # theta_weight=None's share
from ._theta import optimized_theta as optimized_theta
from ._theta import share
from ._timestamps import check_frequency
from ._validation import check_int, check_memory
from ._warnings import warn
from ._windows import Standardizer, WindowMaker, series_scales
from ._windows import sliding_windows as sliding_windows  # public here

__all__ = ["GRUForecaster", "default_window", "ensemble_size", "member_windows",
           "optimized_theta", "sliding_windows"]

#: Validation windows the forecaster aims for when it holds out the end of
#: every series: more origins per series (up to ``horizon``) when a panel
#: has few series, so that a single series still gets calibrated intervals.
CALIBRATION_WINDOWS = 200

#: Optimiser updates in an epoch at most: on a large panel an epoch is a
#: random draw of this many batches, so that the held-out end is checked (and
#: the best weights kept) every 250 updates rather than once per pass. On
#: Tourism monthly (70,000 windows, 550 batches) the best pass was the
#: second, and the passes after it cost most of the fit: capped, the fit
#: took 2.4x less time for the same accuracy (M1 monthly too, 1.7x).
UPDATES_PER_EPOCH = 250

#: The learning rate's factor on a plateau of the held-out loss (see
#: :class:`fastgru._training.TrainOptions`), after a plateau of 3 epochs and
#: at least 375 updates; small panels, whose epochs are a few updates, stop
#: before that. On M1 monthly and Tourism quarterly the mean MASE of three
#: seeds is 0.5% lower with it, and the fit shorter.
LR_DECAY = 0.5

#: The plateau rule's least patience in optimiser updates (see
#: :func:`fastgru._training.train`): early stopping waits ``n_iter_no_change``
#: epochs and at least this many updates. Large panels' epochs are 250
#: updates, so it only shortens small panels' runs: on M1 yearly (8 updates
#: an epoch) a floor of 100 updates rather than 250 took 30% less time for
#: the same mean MASE over seeds 0-4 (3.436 against 3.424); M1 quarterly and
#: Tourism yearly, which stop on epochs, are unchanged.
PATIENCE_UPDATES = 100

#: Most forecast steps ``predict`` runs, at most ``horizon`` at a time.
MAX_STEPS = 100_000

#: With ``n_models=None``: a panel with at least this many training windows
#: gets an ensemble of :data:`ENSEMBLE_SIZE` models, a smaller one a single
#: model (see :func:`ensemble_size`).
ENSEMBLE_MIN_WINDOWS = 10_000
ENSEMBLE_SIZE = 3

#: The members' windows, as factors of ``window``, in turn.
MEMBER_WINDOWS = (1.0, 0.75, 1.5)

#: ``hidden_size=None``: the hidden size of each model.
HIDDEN_SIZE = 32

#: Most models ``n_models`` may ask for.
MAX_MODELS = 16


def ensemble_size(n_windows: int, n_models=None) -> int:
    """The models ``GRUForecaster(n_models=n_models)`` trains on ``n_windows``
    training windows: ``n_models``, or by default 3 on a panel of at least
    10,000 windows and 1 on a smaller one.

    An ensemble of three models, each reading a window of its own length
    (see :func:`member_windows`), was more accurate than one model on the
    large panels of M1 and Tourism (16,000 to 79,000 training windows; mean
    MASE over seeds 0-1: M1 monthly 1.075 to 1.041, Tourism quarterly 1.519
    to 1.493, Tourism monthly 1.422 to 1.387) in 3.2-4x its time; on the
    small panels (M1 yearly and quarterly, Tourism yearly, 1,100 to 5,900
    training windows) it was no better over seeds 0-4 (Tourism yearly 2.592
    to 2.593, M1 yearly 3.436 to 3.438, M1 quarterly 1.604 to 1.621) at
    2.3-3x the time.

    Examples
    --------
    >>> from fastgru.forecasting import ensemble_size
    >>> ensemble_size(6_000), ensemble_size(15_000), ensemble_size(6_000, n_models=2)
    (1, 3, 2)
    """
    if n_models is not None:
        return check_int("n_models", n_models, maximum=MAX_MODELS)
    n_windows = check_int("n_windows", n_windows, minimum=0)
    return ENSEMBLE_SIZE if n_windows >= ENSEMBLE_MIN_WINDOWS else 1


def member_windows(window: int, n_models: int) -> list:
    """The window of each model of an ensemble: ``window``, three quarters
    of it and one and a half of it, in turn (a fourth model reads
    ``window`` again, from other initial weights).

    Examples
    --------
    >>> from fastgru.forecasting import member_windows
    >>> member_windows(48, 3), member_windows(20, 1)
    ([48, 36, 72], [20])
    """
    window = check_int("window", window)
    n_models = check_int("n_models", n_models, maximum=MAX_MODELS)
    return [max(1, round(window * MEMBER_WINDOWS[j % len(MEMBER_WINDOWS)]))
            for j in range(n_models)]


def default_window(horizon: int, season_length: int) -> int:
    """The window ``GRUForecaster`` reads by default: three horizons up to 20
    steps, and at least two horizons, three seasons and 8 steps.

    Three horizons help short horizons (yearly and quarterly data; on M1 and
    Tourism: M1 yearly 3.473 -> 3.405 at 18 steps over seeds 0-4, Tourism
    yearly 2.641 -> 2.626 at 12, M1 quarterly 1.668 -> 1.622 at 20 over
    seeds 0-2, Tourism quarterly even); on monthly data three horizons (54
    steps on M1 monthly) cost 1.5x the time for no gain over three seasons.

    Examples
    --------
    >>> from fastgru.forecasting import default_window
    >>> default_window(6, 1), default_window(8, 4), default_window(18, 12)
    (18, 20, 36)
    """
    return max(min(3 * horizon, 20), 2 * horizon, 3 * season_length, 8)


class GRUForecaster(TrainableGRU):
    """One GRU forecasting many series ``horizon`` steps ahead, with intervals.

    Parameters
    ----------
    window : int, optional
        Past steps the model reads (default: :func:`default_window`, three
        horizons up to 20 steps, and at least two horizons, three seasons
        and 8 steps). Series shorter than that are read as they are.
    horizon : int, default 1
        Steps forecast at once. ``predict(h)`` with ``h > horizon`` feeds
        forecasts back in (point forecasts, no covariates).
    season_length : int, default 1
        Steps per season (12 for monthly data with a yearly cycle, 4 for
        quarterly, 7 for daily with a weekly one): the seasons whose
        profile, on the last season's level, is the forecast the model
        corrects (the last season repeated when the window holds one), and
        the scale of each series.
    hist_exog : str or list of str, optional
        Covariate columns (a name, or a list, tuple, array or pandas Index
        of names) of a long DataFrame known only in the past. Its
        other extra columns are future-known: ``predict`` needs their
        values over the horizon in ``X_df``.
    alias : str, default "GRUForecaster"
        The forecast column's name in DataFrames (statsforecast's
        ``alias``); not empty, without ``-lo-`` or ``-hi-``, and none of the
        frames' other columns (``unique_id``, ``ds``, ``y``, ``cutoff``).
    n_models : int, optional
        Models trained, whose mean is the forecast (at most 16). Each reads
        a window of its own length (``window``, three quarters of it, one
        and a half of it, in turn) and starts from its own weights. Default
        (None): three on a panel of at least 10,000 training windows, one on
        a smaller panel (see :func:`ensemble_size`).
    theta_weight : float in [0, 1], optional
        The share of the optimised Theta model (:func:`optimized_theta`,
        fitted to each series) in the forecast, the models' mean having the
        rest; the intervals are calibrated on the mixed forecast's held-out
        errors. Default (None): 1/3, unless the mix forecasts the held-out
        end of the series (the last ``horizon`` steps) with a mean absolute
        error more than 10% above the networks' alone (then 0); 0 with past
        or future covariates (which Theta cannot follow). 0 forecasts with
        the networks only.
    freq : str or int, optional
        The time stamps' frequency (statsforecast's ``freq``): a pandas
        alias for dates ("D", "W-SUN", "MS", "h") or the step of integer
        time stamps. Every series' forecast is then dated by it after its
        last stamp, also a series with a gap (read as consecutive rows, a
        warning names it). Default (None): inferred from the longest series
        and used likewise (a warning names a series that does not follow
        it); forecasts are numbered by position when the longest series has
        a gap. Periods must be of it.
    hidden_size : int, optional
        Each model's hidden size (default 32).
    learning_rate : float, default 3e-3
        Adam's learning rate.
    max_epochs, batch_size, ...
        The shared parameters of :class:`fastgru.GRURegressor`.
        ``early_stopping`` (default True) stops on the held-out end of the
        series after ``n_iter_no_change`` (default 5) epochs and at least
        100 updates without improvement, within ``max_epochs``, then trains
        3 epochs on everything (``n_iter_`` counts those, and every model's
        epochs: it may pass ``max_epochs``); without it the model
        trains ``max_epochs`` on everything. With ``warm_start`` a refit goes on
        training the fitted models when they read the same windows and
        inputs and are the layers the parameters describe (a seasonal model
        from a file written before the seasonal profile base starts anew).
        An epoch is at most 250 updates (with ``shuffle``, a random draw of
        250 batches when the panel holds more), and a panel of more than
        524,288 training windows trains on a random sample of that many (a
        long series needs no more memory). When the held-out error has
        not improved for 3 epochs and 375 updates, training goes on from the
        best weights at half the learning rate.

    Attributes
    ----------
    gru_, head_, n_iter_, loss_curve_, best_loss_
        As in :class:`fastgru.GRURegressor` (the first model's layer and
        head; the epochs of every model).
    members_ : list of (GRU, dict)
        The layer and head of every other model of an ensemble (empty for a
        single model).
    window_ : int
        The first model's window.
    member_windows_ : list of int
        Every model's window, the first model's first.
    series_ids_ : ndarray
        The series' ids (``unique_id``, dict keys, or positions).
    series_scale_ : ndarray (n_series,)
        Each series' scale (mean absolute seasonal difference).
    calibration_ : ndarray (n, horizon) or None
        The mean forecast's held-out errors in units of each window's recent
        volatility and its series' ``interval_scale_``: the intervals' quantiles.
    interval_scale_ : ndarray (n_series,) or None
        Each series' interval scale: 1, or more for a series whose held-out
        errors were far above the panel's typical series'. None without intervals.
    theta_weight_ : float
        The Theta model's share of the forecasts (``theta_weight`` resolved).
    validation_scores_ : list or None
        Minus the mean absolute scaled error of each epoch on the held-out
        end (minus MASE), model after model.

    Examples
    --------
    >>> import numpy as np
    >>> from fastgru import GRUForecaster
    >>> t = np.arange(120)
    >>> series = {"a": 10 + np.sin(2 * np.pi * t / 12), "b": 5 + 0.05 * t}
    >>> model = GRUForecaster(horizon=6, season_length=12, max_epochs=5,
    ...                       random_state=0).fit(series)
    >>> fc = model.predict(level=[80])
    >>> fc["a"]["mean"].shape, sorted(fc["a"])
    ((6,), ['hi-80', 'lo-80', 'mean'])
    """

    _parameter_constraints: dict = {
        **TrainableGRU._parameter_constraints,
        "window": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "horizon": [Interval(numbers.Integral, 1, None, closed="left")],
        "season_length": [Interval(numbers.Integral, 1, None, closed="left")],
        "hist_exog": ["array-like", str, None],
        "alias": [str],
        "hidden_size": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "n_models": [Interval(numbers.Integral, 1, MAX_MODELS, closed="both"), None],
        "theta_weight": [Interval(numbers.Real, 0, 1, closed="both"), None],
        "freq": [str, Interval(numbers.Integral, 1, None, closed="left"), None],
    }
    for _name in ("bidirectional", "validation_fraction"):
        _parameter_constraints.pop(_name)
    _loss = staticmethod(_mae_loss)
    _PRIVATE_STATE = (*TrainableGRU._PRIVATE_STATE, "_output_kind", "_series_names",
                      "_index_info", "_recent_unit", "_profile_base", "_fit_params",
                      "_id_categories", "_id_ordered", "_quantile_cache", "_id_cache")
    _CACHES = ("_id_cache",)

    def __init__(self, window=None, horizon=1, *, season_length=1, hidden_size=None,
                 num_layers=1, variant="torch", dropout=0.0, max_epochs=100, batch_size=128,
                 learning_rate=3e-3, optimizer="adam", weight_decay=0.0, clip_grad_norm=1.0,
                 early_stopping=True, n_iter_no_change=5, tol=1e-4, shuffle=True,
                 random_state=None, verbose=0, warm_start=False, dtype="float32", n_jobs=None,
                 hist_exog=None, alias="GRUForecaster", n_models=None, theta_weight=None,
                 freq=None):
        super().__init__(
            hidden_size, num_layers, variant=variant, dropout=dropout, max_epochs=max_epochs,
            batch_size=batch_size, learning_rate=learning_rate, optimizer=optimizer,
            weight_decay=weight_decay, clip_grad_norm=clip_grad_norm,
            early_stopping=early_stopping, n_iter_no_change=n_iter_no_change, tol=tol,
            shuffle=shuffle, random_state=random_state, verbose=verbose,
            warm_start=warm_start, dtype=dtype, n_jobs=n_jobs)
        self.window = window
        self.horizon = horizon
        self.season_length = season_length
        self.hist_exog = hist_exog
        self.alias = alias
        self.n_models = n_models
        self.theta_weight = theta_weight
        self.freq = freq

    @property
    def bidirectional(self):
        return False  # a forecast reads the past forwards only

    @bidirectional.setter
    def bidirectional(self, value):
        if value:
            raise ValueError("GRUForecaster reads the past forwards only")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.estimator_type = "forecaster"
        return tags

    def to_onnx(self, path=None, *, with_lengths: bool = False):
        """Not available for the forecaster: its inputs are cut from the series
        and its outputs turned into forecasts in NumPy, around the network.
        Export the layer itself with ``model.gru_.to_onnx()``."""
        raise NotImplementedError(
            "GRUForecaster cannot be exported to ONNX: windows are cut and scaled, and "
            "forecasts rebuilt, outside the network. Export the layer with "
            "model.gru_.to_onnx() and keep the forecaster for the rest.")

    # ------------------------------------------------------------------- fit
    def _train_options(self, max_epochs):
        options = super()._train_options(max_epochs)
        if self.shuffle:  # unshuffled, a capped epoch would see the oldest windows only
            options.max_updates = UPDATES_PER_EPOCH
        options.lr_decay = LR_DECAY
        options.patience_updates = PATIENCE_UPDATES
        return options

    def _window(self) -> int:
        if self.window is not None:
            return check_int("window", self.window)
        return default_window(self.horizon, self.season_length)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, y, X=None, static_df=None):
        """Train one model (or an ensemble) on every series of ``y``.

        Parameters
        ----------
        y : long DataFrame, list or dict of series, or one series
            A DataFrame (pandas; polars as its ``to_pandas()``) with columns
            ``unique_id``, ``ds`` (dates or integers), ``y`` and covariates; a
            list or dict of 1-D arrays or pandas Series of any lengths; a 1-D
            array or Series; or a 2-D array or wide DataFrame whose columns
            are series of equal length. Leading NaN are dropped; NaN after a
            series' first value is an error.
        X : array (n_timesteps, n_features) or DataFrame, optional
            Past-observed covariates aligned with a single series or a 2-D
            ``y`` (shared by its columns).
        static_df : DataFrame, optional
            With a long ``y``: ``unique_id`` and numeric static covariates,
            one row per series.

        Returns
        -------
        self
        """
        for name in ("max_epochs", "batch_size", "n_iter_no_change"):
            check_int(name, getattr(self, name))
        h = check_int("horizon", self.horizon, maximum=MAX_STEPS)
        m = check_int("season_length", self.season_length)
        check_alias(self.alias)
        panel = read_panel(y, X, static_df, self.hist_exog)
        warn_saved_index(panel)
        check_frequency(panel, self.freq)  # before the training it would waste
        panel.scales = series_scales(panel.values, m)
        maker = WindowMaker(self._window(), h, m, seasonal=m > 1)
        if maker.window < m:  # (a window given: the default reads three seasons)
            warn(f"window={maker.window} is shorter than a season (season_length={m}): the "
                 "model reads no full season and corrects the last value; the default "
                 f"window, {default_window(h, m)}, reads at least three")
        if panel.futr is not None:
            maker.n_futr, maker.futr_scaler = len(panel.futr_names), Standardizer.fit(panel.futr)
        if panel.hist is not None:
            maker.n_hist, maker.hist_scaler = len(panel.hist_names), Standardizer.fit(panel.hist)
        if panel.static is not None:
            maker.n_static = panel.static.shape[1]
            maker.static_scaler = Standardizer.fit(panel.static)
        every = [np.arange(maker.min_input, len(y) - h + 1, dtype=np.int64)
                 for y in panel.values]
        if not any(len(o) for o in every):
            longest = max(len(v) for v in panel.values)
            need = (f"window={maker.window} steps" if maker.min_input < max(2, m) else
                    f"a season (season_length={m})" if m > 1 else "2 steps")
            raise ValueError(f"the longest series has {longest} steps; a training window "
                             f"needs at least {maker.min_input + h}: an input of "
                             f"{need} and horizon={h} steps after it")
        train_o, val_o = split_origins(panel, maker, every, self.early_stopping,
                                       CALIBRATION_WINDOWS)
        if not all(any(len(o) for o in origins) for origins in (train_o, val_o)):
            train_o, val_o = every, None
            if self.early_stopping:
                warn(f"the series are too short to hold out their last {h} steps after a "
                     "training window, for early stopping and intervals: training on "
                     "everything, without intervals")
        train_o = sample_origins(train_o, MAX_TRAINING_WINDOWS, self.random_state)
        k = ensemble_size(sum(len(o) for o in train_o), self.n_models)
        windows = member_windows(maker.window, k)
        previous = networks_to_continue(self, windows, maker.n_features)
        theta = ThetaMix.fit(self._theta_weight(maker), panel, val_o, h, m,
                             tried=self.theta_weight is None)
        first = [cut_windows(panel, maker, windows[0], train_o, val_o, np.dtype(self.dtype))]
        fit_members(self, panel, maker, windows, train_o, val_o, previous, first, theta)
        return self

    def _hidden_units(self) -> int:
        if self.hidden_size is not None:
            return self.hidden_size
        return HIDDEN_SIZE

    def _remember(self, panel: Panel, maker: WindowMaker, theta: ThetaMix):
        """Keep what ``predict`` needs: each series' last ``window`` steps and
        covariates, scales, ids, Theta fit and how to continue its time stamps."""
        from ._forecast_state import remember

        remember(self, panel, maker, theta)

    def _theta_weight(self, maker: WindowMaker) -> float:
        return share(self.theta_weight, maker.time_varying)

    # --------------------------------------------------------------- predict
    def predict(self, h=None, *, level=None, X_df=None, y=None, X=None, horizon=None,
                static_df=None):
        """Forecast ``h`` steps after every series (or after the history ``y``).

        Parameters
        ----------
        h : int, optional
            Steps to forecast (default: ``horizon``; ``horizon=`` is the same).
        level : list of int or float, optional
            Prediction intervals' coverage in percent (e.g. ``[80, 95]``),
            calibrated on held-out forecasts; up to ``horizon`` steps. A
            level needs ``2 / (1 - level / 100) - 1`` held-out forecasts per
            step (39 for 95%): with fewer it warns. Levels all below 1
            (``[0.8, 0.95]``, fractions) warn that they are percentages.
        X_df : DataFrame, optional
            ``unique_id``, ``ds`` and the future-known covariates for the
            ``horizon`` steps after each series (required when fitted with
            them; the model reads all ``horizon`` steps also when ``h`` is
            smaller).
        y, X : optional
            A new history (and its past covariates) to forecast from instead
            of the training data, in a form ``fit`` takes.
        static_df : DataFrame, optional
            With ``y``: the static covariates of its series, one row each
            (for series the model was not fitted on; by default it uses
            those it keeps of its own).

        Returns
        -------
        A long DataFrame (``unique_id``, ``ds``, the ``alias`` column and
        ``<alias>-lo-<level>``/``-hi-`` columns) when fitted on one; for a
        dict or list of series, a dict or list of ``(h,)`` arrays (with
        ``level``: of dicts with "mean", "lo-80", ...); for one series an
        ``(h,)`` array (a Series, or with ``level`` a DataFrame, dated after a
        Series); for a 2-D array ``(h, n_series)`` (a dated DataFrame after a
        wide one; with ``level``, a dict of those by "mean", "lo-80", ...).
        """
        from ._forecast_checks import check_levels
        from ._forecast_state import forecast

        check_is_fitted(self, "gru_")
        check_fit_params(self)
        if static_df is not None and y is None:
            raise ValueError("static_df goes with a new history y (the model keeps its own "
                             "series' static covariates)")
        name = "h"
        if horizon is not None:
            if h is not None:
                raise TypeError("give h or horizon, not both")
            h, name = horizon, "horizon"
        steps = self.horizon if h is None else check_int(name, h, maximum=MAX_STEPS)
        levels = check_levels(level)
        if levels and steps > self.horizon:
            raise ValueError(f"intervals are calibrated up to horizon={self.horizon} steps; "
                             f"h={steps} is longer")
        check_memory(f"predict(h={steps})", 8 * 4 * steps * len(self.series_ids_)
                     * (1 + 2 * len(levels)))
        return forecast(self, steps, levels, X_df, y, X, static_df)

    def intervals(self, levels):
        """Lower and upper quantiles ``(n_levels, horizon)`` of the held-out errors
        as ``calibration_`` (split conformal): a series' bounds are its forecast
        plus these times its window's recent volatility and its ``interval_scale_``."""
        return conformal_quantiles(self, levels)

    # ------------------------------------------------------------ backtesting
    def cross_validation(self, y, h=None, n_windows=1, step_size=None, refit=True,
                         level=None, static_df=None):
        """Rolling-origin backtest: forecasts from ``n_windows`` cutoffs of every series.

        The last cutoff of each series leaves ``h`` steps after it; earlier
        ones are ``step_size`` (default ``h``) steps apart. With ``refit``
        (default) a model is trained at every cutoff on the data before it;
        with ``refit=n`` at every ``n``-th (statsforecast's); otherwise once,
        at the first cutoff. Other cutoffs are forecast by the last model
        with the history up to each. A series with no value before
        a cutoff has no forecast from it (fewer than ``n_windows``). A
        warning given in several windows is given once.

        Parameters
        ----------
        y : long DataFrame (``unique_id``, ``ds``, ``y``, covariates)
        h, n_windows, step_size : int
            (``h`` other than ``horizon`` backtests models of ``horizon=h``.)
        refit : bool or int
        level : list of numbers, optional
        static_df : DataFrame, optional

        Returns
        -------
        DataFrame with ``unique_id``, ``ds``, ``cutoff``, ``y`` and the
        forecast columns of :meth:`predict`.
        """
        from ._backtest import cross_validation

        return cross_validation(self, y, h, n_windows, step_size, refit, level, static_df)

    def score(self, y, X_df=None):
        """Minus the mean MASE of the forecast after the training data against ``y``.

        ``y``: the next ``horizon`` (or fewer) values of every series, as a
        long DataFrame when fitted on one (``unique_id``, ``ds``, ``y``: each
        value against the forecast of its ``ds``; its covariates are ``X_df``'s
        default), else as ``fit`` took them (a dict's series by key, a wide frame's
        by name, values indexed by dates from the first date forecast). Higher is better.
        """
        from ._backtest import score

        return score(self, y, X_df)

    _saved_state = SAVED_STATE
    _check_before_save = check_fit_params  # a file of the parameters it forecasts with

    def _check_restored(self) -> None:
        from ._forecast_checks import check_restored

        check_restored(self)
        self._restore_training_state()
