"""The quick-start demo and the shipped data."""

import subprocess
import sys

import numpy as np

from fastgru._demo import run
from fastgru.datasets import load_airline_passengers


def test_demo_command_runs_and_prints_both_errors():
    out = subprocess.run([sys.executable, "-m", "fastgru", "demo", "--epochs", "60"],
                         capture_output=True, text=True, timeout=600, check=True).stdout
    assert "MAE on 1960: GRU" in out and "seasonal naive" in out
    assert "epoch 1: loss" in out and "training:" in out


def test_demo_beats_seasonal_naive():
    result = run(verbose=False)  # the settings of `python -m fastgru demo`
    assert result["mae_naive"] > 47 and result["mae_naive"] < 48  # 1959 repeated
    assert result["mae_gru"] < 0.6 * result["mae_naive"]  # MASE vs seasonal naive < 0.6


def test_help_lists_commands():
    out = subprocess.run([sys.executable, "-m", "fastgru", "--help"], capture_output=True,
                         text=True, check=True).stdout
    assert "demo" in out and "info" in out


def test_airline_passengers():
    months, values = load_airline_passengers(as_frame=False)
    assert len(months) == len(values) == 144
    assert months[0] == "1949-01" and months[-1] == "1960-12"
    assert values[:12].sum() == 1520 and values[-12:].sum() == 5714  # published yearly totals
    assert np.all(np.isfinite(values))
