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


@pytest.mark.parametrize("name", ["adam", "sgd"])
def test_float32_and_hand_assigned_parameters(name):
    """float32 parameters with float64 gradients are updated in float32, as
    NumPy's in-place arithmetic would; a parameter that is not a writeable
    C-contiguous array (assigned by hand) gets the same update, in place."""
    rng = np.random.default_rng(1)
    p0 = rng.normal(size=(5, 3)).astype(np.float32)
    grads = [rng.normal(size=(5, 3)) for _ in range(4)]

    def run(p):
        opt = Adam(learning_rate=0.01, weight_decay=0.1) if name == "adam" else SGD(0.05)
        params = {"p": p}
        for g in grads:
            opt.update(params, {"p": g})
        assert params["p"] is p
        return p

    c = run(p0.copy())
    f = run(np.asfortranarray(p0))
    assert c.dtype == np.float32
    np.testing.assert_array_equal(f, c)
    # against the textbook update in float64 (float32 rounding apart)
    p, m, v, vel = p0.astype(np.float64), 0.0, 0.0, None
    for t, g in enumerate(grads, 1):
        if name == "adam":
            g = g + 0.1 * p
            m = 0.9 * m + 0.1 * g
            v = 0.999 * v + 0.001 * g * g
            p = p - 0.01 / (1 - 0.9**t) * m / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
        else:
            vel = g if vel is None else 0.9 * vel + g
            p = p - 0.05 * vel
    np.testing.assert_allclose(c, p, rtol=1e-5, atol=1e-6)
