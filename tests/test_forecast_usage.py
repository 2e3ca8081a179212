"""What a user of GRUForecaster meets on small real-world panels: intervals
from few held-out forecasts, covariate frames with dates in another dtype."""

import warnings

import numpy as np
import pytest

from fastgru import GRUForecaster

FAST = dict(hidden_size=8, max_epochs=5, random_state=0)


@pytest.fixture(scope="module")
def one_series_model():
    t = np.arange(150)
    y = 10 + np.sin(2 * np.pi * t / 12) + np.random.default_rng(0).normal(0, 0.2, t.size)
    return GRUForecaster(horizon=6, season_length=12, **FAST).fit(y)


def test_a_level_beyond_the_held_out_forecasts_warns(one_series_model):
    # one series holds out `horizon` = 6 origins: 6 errors per step calibrate a
    # two-sided level up to (6 - 1) / (6 + 1) = 71%; 95% needs 2 / 0.05 - 1 = 39
    m = one_series_model
    assert m.calibration_.shape == (6, 6)
    with pytest.warns(UserWarning, match=r"6 held-out forecasts .* up to 71%.*level=95 needs 39"):
        m.predict(level=[95])


def test_a_level_the_held_out_forecasts_calibrate_does_not_warn(one_series_model):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fc = one_series_model.predict(level=[50])
    assert np.all(fc["lo-50"] <= fc["hi-50"])
