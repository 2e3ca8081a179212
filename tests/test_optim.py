"""The optimisers against torch.optim, and gradient clipping."""

import numpy as np
import pytest

from fastgru._optim import SGD, Adam, clip_grad_norm


def test_clip_grad_norm():
    grads = {"a": np.array([3.0, 0.0]), "b": np.array([[4.0]])}
    assert clip_grad_norm(grads, 10.0) == pytest.approx(5.0)
    assert grads["a"][0] == 3.0  # below the limit: untouched
    assert clip_grad_norm(grads, 1.0) == pytest.approx(5.0)
    total = np.sqrt(sum(np.sum(g**2) for g in grads.values()))
    assert total == pytest.approx(1.0, rel=1e-5)


@pytest.mark.parametrize("name", ["adam", "sgd", "sgd_nesterov"])
def test_matches_torch_optim(name):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    p0 = rng.normal(size=(3, 4))
    grads = [rng.normal(size=(3, 4)) for _ in range(5)]
    tp = torch.nn.Parameter(torch.tensor(p0))
    if name == "adam":
        ours = Adam(learning_rate=0.01, weight_decay=0.1)
        theirs = torch.optim.Adam([tp], lr=0.01, weight_decay=0.1)
    else:
        nesterov = name == "sgd_nesterov"
        ours = SGD(learning_rate=0.05, momentum=0.9, weight_decay=0.1, nesterov=nesterov)
        theirs = torch.optim.SGD([tp], lr=0.05, momentum=0.9, weight_decay=0.1,
                                 nesterov=nesterov)
    params = {"p": p0.copy()}
    for g in grads:
        ours.update(params, {"p": g})
        tp.grad = torch.tensor(g)
        theirs.step()
    np.testing.assert_allclose(params["p"], tp.detach().numpy(), rtol=1e-12, atol=1e-12)
