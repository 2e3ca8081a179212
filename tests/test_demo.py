"""The quick-start demo and the shipped data."""

import subprocess
import sys

import numpy as np
import pytest

from fastgru._demo import DEMOS, run
from fastgru.datasets import load_airline_passengers, load_mauna_loa_co2, load_sunspots


def test_demo_command_runs_and_prints_both_errors():
    out = subprocess.run([sys.executable, "-m", "fastgru", "demo", "--epochs", "60"],
                         capture_output=True, text=True, timeout=600, check=True).stdout
    assert "MAE on the hold-out: GRU" in out and "seasonal naive" in out
    assert "1960-12" in out and "epoch 1: loss" in out and "training:" in out


def test_demo_command_takes_another_series():
    out = subprocess.run([sys.executable, "-m", "fastgru", "demo", "--data", "sunspots",
                          "--epochs", "5"], capture_output=True, text=True, timeout=600,
                         check=True).stdout
    assert "1998..2008 (held out)" in out and "MAE on the hold-out: GRU" in out


@pytest.mark.parametrize("data", sorted(DEMOS))
def test_demo_beats_seasonal_naive(data):
    result = run(data, verbose=False)  # the settings of `python -m fastgru demo --data ...`
    season = DEMOS[data].season
    _, values = DEMOS[data].loader(as_frame=False)
    # the baseline, computed here from the raw series
    naive_mae = np.mean(np.abs(values[-2 * season : -season] - values[-season:]))
    assert result["mae_naive"] == pytest.approx(naive_mae)
    np.testing.assert_array_equal(result["actual"], values[-season:])
    assert np.all(np.isfinite(result["forecast"]))
    assert result["mae_gru"] < 0.75 * naive_mae, result  # MASE against seasonal naive < 0.75


def test_demo_rejects_unknown_series():
    with pytest.raises(ValueError, match="data must be one of"):
        run("nile", verbose=False)


def test_help_lists_commands():
    out = subprocess.run([sys.executable, "-m", "fastgru", "--help"], capture_output=True,
                         text=True, check=True).stdout
    assert "demo" in out and "info" in out
    out = subprocess.run([sys.executable, "-m", "fastgru", "demo", "--help"],
                         capture_output=True, text=True, check=True).stdout
    assert "sunspots" in out and "co2" in out


def test_airline_passengers():
    months, values = load_airline_passengers(as_frame=False)
    assert len(months) == len(values) == 144
    assert months[0] == "1949-01" and months[-1] == "1960-12"
    assert values[:12].sum() == 1520 and values[-12:].sum() == 5714  # published yearly totals
    assert np.all(np.isfinite(values))


def test_sunspots():
    years, values = load_sunspots(as_frame=False)
    assert len(years) == len(values) == 309 and years[0] == "1700" and years[-1] == "2008"
    assert years == [str(y) for y in range(1700, 2009)]  # no gaps
    # published yearly means: the record year 1957, the Dalton-minimum year 1810
    assert values[years.index("1957")] == 190.2 and values.argmax() == years.index("1957")
    assert values[years.index("1810")] == 0.0
    assert np.all(np.isfinite(values)) and values.min() >= 0


def test_mauna_loa_co2():
    months, values = load_mauna_loa_co2(as_frame=False)
    assert len(months) == len(values) == 444 and months[0] == "1965-01"
    assert months[-1] == "2001-12"
    yearly = values.reshape(37, 12).mean(axis=1)
    assert np.all(np.diff(yearly) > 0)  # the Keeling curve rises every year
    assert 319 < yearly[0] < 321 and 370 < yearly[-1] < 372  # ~320 ppmv in 1965, ~371 in 2001
    # the yearly cycle peaks in May and bottoms in September/October
    cycle = (values.reshape(37, 12) - yearly[:, None]).mean(axis=0)
    assert cycle.argmax() == 4 and cycle.argmin() in (8, 9)


def test_loaders_return_pandas_with_period_index():
    pd = pytest.importorskip("pandas")
    for loader, name, freq in [(load_airline_passengers, "passengers", "M"),
                               (load_sunspots, "sunspots", "Y"),
                               (load_mauna_loa_co2, "co2", "M")]:
        series = loader()
        assert isinstance(series, pd.Series) and series.name == name
        assert isinstance(series.index, pd.PeriodIndex)
        assert series.index.freqstr.startswith(freq)
        np.testing.assert_array_equal(series.to_numpy(), loader(as_frame=False)[1])
    assert str(load_sunspots().index[-1]) == "2008"
