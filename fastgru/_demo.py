"""``python -m fastgru demo``: forecast a year of airline passengers.

Trains a GRU layer with a linear head (Adam, mean squared error) on windows of
the monthly airline series 1949-1959 and forecasts the twelve months of 1960,
held out from training, next to the seasonal-naive forecast (1959 repeated).
"""

from __future__ import annotations

import time

import numpy as np

from ._optim import Adam, clip_grad_norm
from .datasets import load_airline_passengers
from .layer import GRU

WINDOW, HORIZON = 24, 12


def _windows(log_series):
    """Inputs: the window relative to its last value; targets: the next HORIZON."""
    n = len(log_series) - WINDOW - HORIZON + 1
    idx = np.arange(WINDOW)[None, :] + np.arange(n)[:, None]
    x = log_series[idx]
    last = x[:, -1:]
    y = log_series[idx[:, -1:] + 1 + np.arange(HORIZON)[None, :]] - last
    return (x - last)[:, :, None], y


def run(epochs: int = 400, hidden_size: int = 32, random_state: int = 0, verbose: bool = True):
    """Train, forecast 1960 and return a dict of errors and timings."""
    say = print if verbose else (lambda *a, **k: None)
    months, values = load_airline_passengers(as_frame=False)
    train, test = values[:-HORIZON], values[-HORIZON:]
    log_train = np.log(train)
    x, y = _windows(log_train)
    scale = float(np.abs(y).std())
    y = y / scale
    say(f"Airline passengers {months[0]}..{months[-1]}: training on {len(train)} months "
        f"({len(x)} windows of {WINDOW}), forecasting {months[-HORIZON]}..{months[-1]}")

    rng = np.random.default_rng(random_state)
    gru = GRU(1, hidden_size, random_state=random_state)
    head = {"weight": rng.uniform(-1, 1, (HORIZON, hidden_size)) / np.sqrt(hidden_size),
            "bias": np.zeros(HORIZON)}
    params = {**{"gru." + k: v for k, v in gru.params.items()}, **head}
    opt = Adam(learning_rate=5e-3)
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        _, h_n = gru.forward(x, training=True)
        h = h_n[-1].astype(np.float64)
        err = h @ head["weight"].T + head["bias"] - y
        loss = float(np.mean(err**2))
        d_out = 2.0 * err / err.size
        dh_n = np.zeros_like(h_n)
        dh_n[-1] = d_out @ head["weight"]
        gru.backward(np.zeros((len(x), WINDOW, hidden_size), np.float32), dh_n)
        grads = {**{"gru." + k: v for k, v in gru.grads.items()},
                 "weight": d_out.T @ h, "bias": d_out.sum(0)}
        clip_grad_norm(grads, 1.0)
        opt.update(params, grads)
        if epoch == 1 or epoch % 50 == 0:
            say(f"  epoch {epoch:4d}/{epochs}  loss {loss:.4f}  {time.perf_counter() - start:.1f}s")
    train_time = time.perf_counter() - start

    last_window = log_train[-WINDOW:]
    _, h_n = gru.forward((last_window - last_window[-1])[None, :, None])
    forecast = np.exp(last_window[-1] + scale * (h_n[-1, 0] @ head["weight"].T + head["bias"]))
    naive = train[-12:]  # seasonal naive: the same month one year earlier
    mae_gru = float(np.mean(np.abs(forecast - test)))
    mae_naive = float(np.mean(np.abs(naive - test)))
    say("\nmonth     actual   GRU  seasonal-naive")
    for m, a, f, s in zip(months[-HORIZON:], test, forecast, naive):
        say(f"{m}   {a:6.0f} {f:6.0f} {s:8.0f}")
    say(f"\nMAE on 1960: GRU {mae_gru:.1f}, seasonal naive {mae_naive:.1f} "
        f"(ratio {mae_gru / mae_naive:.2f}); training took {train_time:.1f}s "
        f"(the first epoch includes compiling the kernels)")
    return {"mae_gru": mae_gru, "mae_naive": mae_naive, "train_time": train_time,
            "forecast": forecast}
