"""GRUForecaster: beats seasonal naive on shipped data; input forms; bad input."""

import numpy as np
import pytest

from fastgru import GRUForecaster
from fastgru.datasets import load_airline_passengers
from fastgru.forecasting import sliding_windows


def test_sliding_windows_are_views():
    values = np.arange(20.0).reshape(10, 2)
    x, y = sliding_windows(values, 4, 3)
    assert x.shape == (4, 4, 2) and y.shape == (4, 3, 2)
    assert np.shares_memory(x, values) and np.shares_memory(y, values)
    np.testing.assert_array_equal(x[1, :, 1], [3, 5, 7, 9])
    np.testing.assert_array_equal(y[1, :, 0], [10, 12, 14])
    with pytest.raises(ValueError, match="too short"):
        sliding_windows(values, 8, 3)


def test_airline_forecast_beats_seasonal_naive():
    series = load_airline_passengers(as_frame=False)[1]
    train, test = series[:-12], series[-12:]
    model = GRUForecaster(window=24, horizon=12, hidden_size=32, max_epochs=300,
                          learning_rate=5e-3, random_state=0).fit(np.log(train))
    forecast = np.exp(model.predict())
    mase = np.mean(np.abs(forecast - test)) / np.mean(np.abs(train[-12:] - test))
    assert mase < 0.7, mase


def test_pandas_numpy_and_list_inputs_agree():
    pd = pytest.importorskip("pandas")
    t = np.arange(120)
    values = np.sin(2 * np.pi * t / 12) + 0.02 * t
    kw = dict(window=12, horizon=3, hidden_size=8, max_epochs=5, random_state=0)
    from_np = GRUForecaster(**kw).fit(values).predict()
    from_list = GRUForecaster(**kw).fit(values.tolist()).predict()
    index = pd.period_range("2000-01", periods=120, freq="M")
    series = pd.Series(values, index=index, name="sales")
    from_pd = GRUForecaster(**kw).fit(series).predict()
    np.testing.assert_array_equal(from_np, from_list)
    np.testing.assert_array_equal(from_np, from_pd.to_numpy())
    assert isinstance(from_pd, pd.Series) and from_pd.name == "sales"
    assert list(from_pd.index.astype(str)) == ["2010-01", "2010-02", "2010-03"]
    # a longer horizon feeds forecasts back; a new history continues its own index
    model = GRUForecaster(**kw).fit(series)
    assert len(model.predict(horizon=7)) == 7
    again = model.predict(y=series[:60])
    assert str(again.index[0]) == "2005-01"


def test_many_series_and_exogenous_features():
    rng = np.random.default_rng(0)
    t = np.arange(200)
    Y = np.stack([np.sin(t / 5), np.cos(t / 7)], axis=1) + 0.01 * rng.normal(size=(200, 2))
    X = np.stack([t % 12 == 0], axis=1).astype(float)
    model = GRUForecaster(window=10, horizon=2, hidden_size=8, max_epochs=5,
                          random_state=0).fit(Y, X)
    assert model.predict().shape == (2, 2)
    assert model.predict(y=Y[:50], X=X[:50]).shape == (2, 2)
    with pytest.raises(ValueError, match="exogenous"):
        model.predict(horizon=5)
    with pytest.raises(ValueError, match="X must be given"):
        model.predict(y=Y[:50])


@pytest.mark.parametrize("call,match", [
    (lambda m: m.fit(np.arange(10.0)), "need at least"),
    (lambda m: m.fit(np.r_[np.arange(40.0), np.nan]), "NaN"),
    (lambda m: m.fit(np.arange(40.0)).predict(horizon=0), "horizon must be >= 1"),
    (lambda m: m.fit(np.arange(40.0)).predict(y=np.arange(5.0)), "fewer than window"),
])
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call(GRUForecaster(window=8, horizon=4, hidden_size=4, max_epochs=2, random_state=0))
