"""``python -m fastgru demo``: forecast a held-out year of airline passengers.

Fits a :class:`fastgru.GRUForecaster` (24 months in, the next 12 out) on the
logarithm of the monthly airline series 1949-1959, forecasts the twelve
months of 1960, which it never saw, and compares it with the seasonal-naive
forecast (each month of 1959 repeated).
"""

from __future__ import annotations

import time

import numpy as np

from .datasets import load_airline_passengers
from .forecasting import GRUForecaster

WINDOW, HORIZON = 24, 12


def run(epochs: int = 300, hidden_size: int = 32, random_state: int = 0,
        verbose: bool = True) -> dict:
    """Train, forecast 1960 and return the errors, the forecast and the timing."""
    say = print if verbose else (lambda *a, **k: None)
    months, values = load_airline_passengers(as_frame=False)
    train, test = values[:-HORIZON], values[-HORIZON:]
    say(f"Airline passengers {months[0]}..{months[-1]} (thousands a month): training on "
        f"{len(train)} months, forecasting {months[-HORIZON]}..{months[-1]} (held out)")
    model = GRUForecaster(window=WINDOW, horizon=HORIZON, hidden_size=hidden_size,
                          max_epochs=epochs, learning_rate=5e-3, random_state=random_state,
                          verbose=1 if verbose else 0)
    start = time.perf_counter()
    model.fit(np.log(train))  # multiplicative seasonality becomes additive
    train_time = time.perf_counter() - start
    forecast = np.exp(model.predict())
    naive = train[-12:]  # seasonal naive: the same month one year earlier
    mae_gru = float(np.mean(np.abs(forecast - test)))
    mae_naive = float(np.mean(np.abs(naive - test)))
    say("\nmonth     actual    GRU  seasonal-naive")
    for m, a, f, s in zip(months[-HORIZON:], test, forecast, naive):
        say(f"{m}   {a:6.0f} {f:6.0f} {s:8.0f}")
    say(f"\nMAE on 1960: GRU {mae_gru:.1f}, seasonal naive {mae_naive:.1f} "
        f"(ratio {mae_gru / mae_naive:.2f}, below 1 beats the baseline)")
    say(f"training: {model.n_iter_} epochs in {train_time:.1f} s "
        "(the first run in a fresh environment includes compiling the kernels)")
    return {"mae_gru": mae_gru, "mae_naive": mae_naive, "train_time": train_time,
            "forecast": forecast, "n_iter": model.n_iter_}
