"""End-to-end ``fit`` of GRURegressor against the same training loop written in torch.

Same model (GRU + linear head on the final state), Adam, clipping, batch size,
epochs and data; no shuffling, no early stopping. Each group is one dataset size.
"""

import numpy as np
import pytest

from fastgru import GRURegressor

torch = pytest.importorskip("torch")

SIZES = [(256, 50, 8, 64), (2048, 50, 8, 64)]  # (samples, time, features, hidden)
EPOCHS, BATCH = 3, 32


def size_id(size):
    return "N{}-T{}-F{}-H{}".format(*size)


def data(size):
    n, T, F, _ = size
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, T, F)).astype(np.float32)
    return X, X[:, -5:, 0].sum(axis=1)


def torch_fit(X, y, hidden):
    """The hand-written torch equivalent of GRURegressor.fit."""
    gru = torch.nn.GRU(X.shape[2], hidden, batch_first=True)
    head = torch.nn.Linear(hidden, 1)
    params = list(gru.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=1e-3)
    xt = torch.from_numpy(X)
    yt = torch.from_numpy(((y - y.mean()) / y.std()).astype(np.float32))[:, None]
    for _ in range(EPOCHS):
        for start in range(0, len(X), BATCH):
            out = head(gru(xt[start : start + BATCH])[1][-1])
            loss = 0.5 * ((out - yt[start : start + BATCH]) ** 2).sum(dim=1).mean()
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
    return float(loss.detach())


@pytest.mark.parametrize("size", SIZES, ids=size_id)
@pytest.mark.parametrize("impl", ["fastgru", "torch"])
def test_fit(benchmark, size, impl, equal_threads):
    benchmark.group = f"fit {size_id(size)}"
    X, y = data(size)
    hidden = size[3]
    if impl == "fastgru":
        model = GRURegressor(hidden_size=hidden, max_epochs=EPOCHS, batch_size=BATCH,
                             shuffle=False, tol=0.0, random_state=0)
        model.fit(X[:64], y[:64])  # compiles the kernels

        def run():
            return model.fit(X, y).loss_curve_[-1]
    else:
        def run():
            return torch_fit(X, y, hidden)
    loss = benchmark.pedantic(run, rounds=3, iterations=1)
    assert np.isfinite(loss)
