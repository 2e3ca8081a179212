"""``SequenceScaler``: per-feature standardisation of sequences over samples and time."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils.validation import (
    _check_feature_names_in,
    check_array,
    check_is_fitted,
    validate_data,
)

from ._state import Field, FittedState
from ._validation import (
    as_float_array,
    check_step_features,
    object_sequences,
    pad_sequences,
    sequence_form,
    warn_channels_first,
)

__all__ = ["SequenceScaler"]


class SequenceScaler(TransformerMixin, BaseEstimator, auto_wrap_output_keys=None):
    """Standardise each feature of a batch of sequences: ``(x - mean_) / scale_``.

    The statistics pool every valid time step of every sample (padding is not
    counted), so a feature keeps one scale over time, as a GRU needs. A
    feature of zero variance gets ``scale_ = 1``.

    Input is a 3-D array ``(n_samples, n_timesteps, n_features)``, a list of
    ``(n_timesteps_i, n_features)`` (or 1-D) arrays of different lengths, or a
    2-D array/DataFrame ``(n_samples, n_timesteps)`` of univariate sequences
    (one feature: all its values share one mean and scale; after 3-D or
    ragged input of one feature, of any number of steps). Output has the
    input's form; float32 stays float32, anything else becomes float64. A 1-D
    object array or pandas Series of arrays is read as a list.

    ``set_output(transform="pandas")`` (or ``"polars"``, or scikit-learn's
    global ``transform_output``) makes 2-D output a DataFrame with the input's
    column names and index; 3-D and ragged output stay arrays and lists
    (a DataFrame cannot hold them), so that
    ``make_pipeline(SequenceScaler(), GRUClassifier()).set_output(transform="pandas")``
    works on every input form.

    Parameters
    ----------
    with_mean : bool, default True
        Subtract the mean.
    with_std : bool, default True
        Divide by the standard deviation.

    Attributes
    ----------
    mean_ : ndarray (n_step_features,)
        Mean of each feature per time step.
    scale_ : ndarray (n_step_features,)
        Standard deviation of each feature per time step (1 where it is 0).
    n_features_in_ : int
        Features per step (3-D or ragged input), or columns of 2-D input.
    n_samples_seen_ : int
        Sequences seen by ``fit``.

    Examples
    --------
    >>> import numpy as np
    >>> from fastgru import SequenceScaler
    >>> X = np.random.default_rng(0).normal(5.0, 2.0, size=(50, 20, 3))
    >>> Xt = SequenceScaler().fit_transform(X)
    >>> np.allclose(Xt.reshape(-1, 3).mean(axis=0), 0), Xt.shape
    (True, (50, 20, 3))
    >>> import pandas as pd
    >>> frame = pd.DataFrame(X[:, :, 0], columns=[f"t{i}" for i in range(20)])
    >>> list(SequenceScaler().set_output(transform="pandas").fit_transform(frame).columns[:2])
    ['t0', 't1']
    """

    _parameter_constraints: dict = {"with_mean": ["boolean"], "with_std": ["boolean"]}

    def __init__(self, *, with_mean=True, with_std=True):
        self.with_mean = with_mean
        self.with_std = with_std

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = True
        tags.input_tags.three_d_array = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    def _values(self, X, reset: bool):
        """``(kind, data)``: the input as float arrays, with its form remembered."""
        X = object_sequences(X)
        form = sequence_form(X)
        n_features = None if reset else self._step_features
        if form == "ragged":
            dtype = _float_dtype(np.asarray(X[0]).dtype) if len(X) else np.float64
            padded, lengths = pad_sequences("X", X, dtype, n_features)
            return "ragged", (padded, lengths, [np.ndim(s) for s in X])
        if form == "3d":
            x = as_float_array("X", X, _float_dtype(np.asarray(X).dtype), ndim=3)
            check_step_features("SequenceScaler", form, x.shape[2], n_features)
            if reset:
                warn_channels_first("SequenceScaler", x.shape)
            return "3d", x
        check_step_features("SequenceScaler", form, 1, n_features)
        if reset or self._fitted_form() == "2d":
            x = validate_data(self, X, reset=reset, dtype=[np.float64, np.float32])
        else:  # fitted on univariate 3-D or ragged input: any number of time steps
            x = check_array(X, dtype=[np.float64, np.float32], input_name="X")
        return "2d", x

    def _fitted_form(self) -> str:
        """The form of the input ``fit`` read: "2d", "3d" or "ragged" ("2d"
        for a file that does not record it: the strict reading of 2-D input)."""
        return getattr(self, "_input_form", None) or "2d"

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Compute each feature's mean and standard deviation over samples and time."""
        kind, data = self._values(X, reset=True)
        self._input_form = kind
        if kind != "2d" and hasattr(self, "feature_names_in_"):
            del self.feature_names_in_  # a DataFrame's names from an earlier fit
        if kind == "ragged":
            padded, lengths, _ = data
            mask = np.arange(padded.shape[1])[None, :] < lengths[:, None]
            values = padded[mask]  # (total valid steps, F)
            self.n_features_in_ = padded.shape[2]
            n_samples = padded.shape[0]
        elif kind == "3d":
            values = data.reshape(-1, data.shape[2])
            self.n_features_in_ = data.shape[2]
            n_samples = data.shape[0]
        else:
            values = data.reshape(-1, 1)
            n_samples = data.shape[0]
        values = values.astype(np.float64)
        self._step_features = values.shape[1]
        self.mean_ = values.mean(axis=0) if self.with_mean else np.zeros(values.shape[1])
        std = values.std(axis=0) if self.with_std else np.ones(values.shape[1])
        self.scale_ = np.where(std > 0, std, 1.0)
        self.n_samples_seen_ = n_samples
        return self

    _saved_state = FittedState("SequenceScaler", (
        Field("n_features_in_", "int"), Field("n_samples_seen_", "int"),
        Field("_step_features", "int"), Field("mean_", "array"), Field("scale_", "array"),
        Field("_input_form", "json", optional=True),
        Field("output_config", "json", optional=True, attr="_sklearn_output_config")))

    def _check_restored(self) -> None:
        """After :func:`fastgru.load`: the statistics must fit together."""
        if self._input_form not in (None, "2d", "3d", "ragged"):
            raise ValueError(f"unknown input form {self._input_form!r:.40}")
        if self._input_form in ("3d", "ragged") and self.n_features_in_ != self._step_features:
            raise ValueError("n_features_in_ must be the features per step of 3-D input")
        if self._input_form == "2d" and self._step_features != 1:
            raise ValueError("2-D input has one feature per step")
        config = self._sklearn_output_config  # set_output's choice
        if config is None:
            del self._sklearn_output_config
        elif not (isinstance(config, dict) and set(config) <= {"transform"} and config.get(
                "transform") in ("default", "pandas", "polars")):
            raise ValueError("output_config must be set_output's {'transform': "
                             "'default', 'pandas' or 'polars'}")
        shape = (self._step_features,)
        if self.mean_.dtype.kind not in "iuf" or self.scale_.dtype.kind not in "iuf":
            raise ValueError("mean_ and scale_ must hold numbers")
        if self.mean_.shape != shape or self.scale_.shape != shape or \
                not (self.scale_ > 0).all():
            raise ValueError("mean_ and scale_ do not match the number of features")

    def set_output(self, *, transform=None):
        """Choose the container of 2-D output, as scikit-learn's ``set_output``.

        Parameters
        ----------
        transform : {"default", "pandas", "polars"} or None
            "pandas"/"polars": 2-D output of ``transform`` and
            ``fit_transform`` is a DataFrame (3-D and ragged output stay an
            array and a list); "default": arrays; None: unchanged.

        Returns
        -------
        self
        """
        if transform is None:
            return self
        if transform not in ("default", "pandas", "polars"):
            raise ValueError(f"transform must be 'default', 'pandas', 'polars' or None, "
                             f"got {transform!r}")
        self._sklearn_output_config = {"transform": transform}
        return self

    def _container(self, out, X):
        """``out`` (2-D) as the DataFrame set_output asked for, else as is."""
        from sklearn.utils._set_output import _get_output_config

        dense = _get_output_config("transform", self)["dense"]
        if dense == "default" or not (isinstance(out, np.ndarray) and out.ndim == 2):
            return out
        if self._fitted_form() == "2d":
            columns = list(self.get_feature_names_out())
        else:  # univariate sequences of any length, after 3-D or ragged input
            columns = ([str(c) for c in X.columns] if hasattr(X, "columns")
                       else [f"x{i}" for i in range(out.shape[1])])
        if dense == "polars":
            import polars as pl

            return pl.DataFrame(out, schema=columns)
        import pandas as pd

        index = X.index if isinstance(X, pd.DataFrame) else None
        return pd.DataFrame(out, index=index, columns=columns)

    def get_feature_names_out(self, input_features=None):
        """Names of the output features: those of the input (one to one).

        For 2-D input the columns (their names when fitted on a DataFrame,
        else ``x0``, ``x1``, ...); for 3-D or ragged input the features of
        each step, ``x0`` ... ``x{n_features_in_ - 1}`` unless
        ``input_features`` names them.

        Parameters
        ----------
        input_features : array-like of str, optional
            Names to use, as many as ``n_features_in_`` (and equal to
            ``feature_names_in_`` when fitted on a DataFrame).

        Returns
        -------
        ndarray of str

        Examples
        --------
        >>> import numpy as np
        >>> from fastgru import SequenceScaler
        >>> SequenceScaler().fit(np.ones((4, 6, 2))).get_feature_names_out()
        array(['x0', 'x1'], dtype=object)
        """
        check_is_fitted(self, "mean_")
        return _check_feature_names_in(self, input_features)

    def transform(self, X):
        """Standardised sequences, in the input's form."""
        return self._container(self._apply(X, inverse=False), X)

    def inverse_transform(self, X):
        """Undo :meth:`transform`."""
        return self._container(self._apply(X, inverse=True), X)

    def _apply(self, X, inverse: bool):
        check_is_fitted(self, "mean_")
        kind, data = self._values(X, reset=False)

        def scaled(a):
            mean, scale = self.mean_.astype(a.dtype), self.scale_.astype(a.dtype)
            return a * scale + mean if inverse else (a - mean) / scale

        if kind == "ragged":
            padded, lengths, ndims = data
            return [
                scaled(padded[i, :n]).reshape(-1) if nd == 1 else scaled(padded[i, :n])
                for i, (n, nd) in enumerate(zip(lengths, ndims))
            ]
        if kind == "3d":
            return scaled(data)
        return scaled(data[:, :, None])[:, :, 0]


def _float_dtype(dtype) -> type:
    return np.float32 if dtype == np.float32 else np.float64
