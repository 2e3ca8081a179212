"""Small real series that ship with fastgru (each CSV's header cites its source).

Every loader returns a ``pandas.Series`` with a period index when pandas is
installed (or when ``as_frame=True``), and ``(labels, values)`` otherwise:
``labels`` a list of str (``"1949-01"`` or ``"1700"``), ``values`` a float
ndarray. All three series are public domain.

========================  ========  ======  =====================================
loader                    step      length  character
========================  ========  ======  =====================================
load_airline_passengers   month     144     trend, multiplicative yearly season
load_sunspots             year      309     ~11-year cycle of varying length
load_mauna_loa_co2        month     444     trend, additive yearly season
========================  ========  ======  =====================================
"""

from __future__ import annotations

from importlib import resources

import numpy as np

__all__ = ["load_airline_passengers", "load_mauna_loa_co2", "load_sunspots"]


def _read_csv(name: str):
    text = resources.files(__name__).joinpath(name).read_text()
    rows = [line.split(",") for line in text.splitlines() if line and not line.startswith("#")]
    header, body = rows[0], rows[1:]
    return header, [r[0] for r in body], np.array([float(r[1]) for r in body])


def _load(name: str, freq: str, as_frame: bool | None):
    header, labels, values = _read_csv(name)
    if as_frame is None:
        try:
            import pandas  # noqa: F401

            as_frame = True
        except ImportError:
            as_frame = False
    if not as_frame:
        return labels, values
    import pandas as pd

    index = pd.PeriodIndex(labels, freq=freq, name=header[0])
    return pd.Series(values, index=index, name=header[1])


def load_airline_passengers(as_frame: bool | None = None):
    """Monthly international airline passengers (thousands), 1949-01 to 1960-12.

    Box, Jenkins and Reinsel (1976), Time Series Analysis, Series G: 144
    months with trend and multiplicative yearly seasonality.

    Parameters
    ----------
    as_frame : bool, optional
        Return a ``pandas.Series`` named "passengers" with a monthly
        ``PeriodIndex``. By default pandas is used when it is installed.

    Returns
    -------
    pandas.Series, or (months, values) : (list of str, ndarray of float)

    Examples
    --------
    >>> from fastgru.datasets import load_airline_passengers
    >>> months, values = load_airline_passengers(as_frame=False)
    >>> months[0], float(values[0]), len(values)
    ('1949-01', 112.0, 144)
    """
    return _load("airline_passengers.csv", "M", as_frame)


def load_sunspots(as_frame: bool | None = None):
    """Yearly mean sunspot numbers, 1700 to 2008.

    NOAA's National Geophysical Data Center (version 1 of the Wolf/Zurich
    series, as in ``statsmodels.datasets.sunspots``): 309 years of the solar
    cycle, whose length varies between about 9 and 14 years, so no fixed
    season fits it well.

    Parameters
    ----------
    as_frame : bool, optional
        Return a ``pandas.Series`` named "sunspots" with a yearly
        ``PeriodIndex``. By default pandas is used when it is installed.

    Returns
    -------
    pandas.Series, or (years, values) : (list of str, ndarray of float)

    Examples
    --------
    >>> from fastgru.datasets import load_sunspots
    >>> years, values = load_sunspots(as_frame=False)
    >>> years[0], float(values[0]), years[-1], len(values)
    ('1700', 5.0, '2008', 309)
    """
    return _load("sunspots.csv", "Y", as_frame)


def load_mauna_loa_co2(as_frame: bool | None = None):
    """Monthly mean atmospheric CO2 at Mauna Loa (ppmv), 1965-01 to 2001-12.

    Keeling and Whorf's (2004) weekly record (as in ``statsmodels.datasets.co2``)
    averaged per month: 444 months of a rising trend with a yearly cycle of
    about 6 ppmv. The years before 1965 have gaps and are left out.

    Parameters
    ----------
    as_frame : bool, optional
        Return a ``pandas.Series`` named "co2" with a monthly ``PeriodIndex``.
        By default pandas is used when it is installed.

    Returns
    -------
    pandas.Series, or (months, values) : (list of str, ndarray of float)

    Examples
    --------
    >>> from fastgru.datasets import load_mauna_loa_co2
    >>> months, values = load_mauna_loa_co2(as_frame=False)
    >>> months[0], float(values[0]), len(values)
    ('1965-01', 319.4, 444)
    """
    return _load("mauna_loa_co2.csv", "M", as_frame)
