"""Small real series that ship with fastgru (see each CSV's header for its source)."""

from __future__ import annotations

from importlib import resources

import numpy as np

__all__ = ["load_airline_passengers"]


def _read_csv(name: str):
    text = resources.files(__name__).joinpath(name).read_text()
    rows = [line.split(",") for line in text.splitlines() if line and not line.startswith("#")]
    header, body = rows[0], rows[1:]
    return header, [r[0] for r in body], np.array([float(r[1]) for r in body])


def load_airline_passengers(as_frame: bool | None = None):
    """Monthly international airline passengers (thousands), 1949-01 to 1960-12.

    Box, Jenkins and Reinsel (1976), Time Series Analysis, Series G: 144
    months with trend and multiplicative yearly seasonality.

    Parameters
    ----------
    as_frame : bool, optional
        Return a ``pandas.Series`` with a monthly ``PeriodIndex``. By default
        pandas is used when it is installed.

    Returns
    -------
    pandas.Series, or (months, values) : (list of str, ndarray of float)

    Examples
    --------
    >>> from fastgru.datasets import load_airline_passengers
    >>> months, values = load_airline_passengers(as_frame=False)
    >>> months[0], values[0], len(values)
    ('1949-01', 112.0, 144)
    """
    _, months, values = _read_csv("airline_passengers.csv")
    if as_frame is None:
        try:
            import pandas  # noqa: F401

            as_frame = True
        except ImportError:
            as_frame = False
    if not as_frame:
        return months, values
    import pandas as pd

    index = pd.PeriodIndex(months, freq="M", name="month")
    return pd.Series(values, index=index, name="passengers")
