"""Parity with the real torch.nn.GRU: outputs, states and autograd gradients."""

import numpy as np
import pytest

import fastgru

torch = pytest.importorskip("torch")

TOL = {"float32": 1e-5, "float64": 1e-10}


def torch_run(module, x, h0, lengths, dy, dhn):
    dtype = next(module.parameters()).dtype
    xt = torch.tensor(x, dtype=dtype, requires_grad=True)
    h0t = torch.tensor(h0, dtype=dtype, requires_grad=True)
    if lengths is None:
        y, hn = module(xt, h0t)
    else:
        packed = torch.nn.utils.rnn.pack_padded_sequence(
            xt, torch.tensor(lengths), batch_first=True, enforce_sorted=False)
        yp, hn = module(packed, h0t)
        y, _ = torch.nn.utils.rnn.pad_packed_sequence(yp, batch_first=True,
                                                      total_length=x.shape[1])
    ((y * torch.tensor(dy, dtype=dtype)).sum() + (hn * torch.tensor(dhn, dtype=dtype)).sum()
     ).backward()
    grads = {k: p.grad.numpy() for k, p in module.named_parameters()}
    return y.detach().numpy(), hn.detach().numpy(), xt.grad.numpy(), h0t.grad.numpy(), grads


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("num_layers,bidirectional,with_lengths,bias", [
    (1, False, False, True),
    (3, False, True, True),
    (2, True, False, True),
    (3, True, True, True),
    (2, True, True, False),
])
def test_matches_torch(dtype, num_layers, bidirectional, with_lengths, bias):
    torch.manual_seed(0)
    tdtype = torch.float64 if dtype == "float64" else torch.float32
    module = torch.nn.GRU(5, 7, num_layers, bias=bias, batch_first=True,
                          bidirectional=bidirectional, dtype=tdtype)
    layer = fastgru.GRU.from_torch(module)
    assert layer.dtype == np.dtype(dtype) and layer.bias == bias
    rng = np.random.default_rng(1)
    B, T, D = 4, 9, 2 if bidirectional else 1
    x = rng.normal(size=(B, T, 5)).astype(dtype)
    h0 = rng.normal(size=(num_layers * D, B, 7)).astype(dtype)
    lengths = np.array([9, 4, 1, 7]) if with_lengths else None
    dy = rng.normal(size=(B, T, D * 7))
    dhn = rng.normal(size=h0.shape)
    y_t, hn_t, dx_t, dh0_t, grads_t = torch_run(module, x, h0, lengths, dy, dhn)

    y, hn = layer.forward(x, h0, lengths=lengths, training=True)
    dx, dh0 = layer.backward(dy, dhn)
    tol = TOL[dtype]
    np.testing.assert_allclose(y, y_t, atol=tol, rtol=0)
    np.testing.assert_allclose(hn, hn_t, atol=tol, rtol=0)
    np.testing.assert_allclose(dx, dx_t, atol=tol, rtol=0)
    np.testing.assert_allclose(dh0, dh0_t, atol=tol, rtol=0)
    assert set(grads_t) == set(layer.grads)
    for name, g in grads_t.items():
        np.testing.assert_allclose(layer.grads[name], g, atol=tol * 10, rtol=tol, err_msg=name)


def test_round_trip_torch_fastgru_torch():
    module = torch.nn.GRU(3, 4, 2, bidirectional=True, batch_first=True, dropout=0.25)
    layer = fastgru.GRU.from_torch(module)
    assert layer.dropout == 0.25
    back = layer.to_torch()
    for k, v in module.state_dict().items():
        assert torch.equal(v, back.state_dict()[k])
    x = np.random.default_rng(0).normal(size=(2, 6, 3)).astype(np.float32)
    back.eval()
    np.testing.assert_allclose(back(torch.from_numpy(x))[0].detach().numpy(),
                               layer.forward(x)[0], atol=1e-6)


def test_from_torch_state_dict_and_seq_first_module():
    module = torch.nn.GRU(3, 4)  # batch_first=False: weights are the same
    layer = fastgru.GRU.from_torch(module.state_dict())
    x = np.random.default_rng(0).normal(size=(2, 6, 3)).astype(np.float32)
    y_t = module(torch.from_numpy(x.transpose(1, 0, 2).copy()))[0].detach().numpy()
    np.testing.assert_allclose(layer.forward(x)[0], y_t.transpose(1, 0, 2), atol=1e-6)


def test_to_torch_refuses_other_variants():
    with pytest.raises(ValueError, match="'torch' variant only"):
        fastgru.GRU(3, 4, variant="cho").to_torch()


def test_from_torch_refuses_lstm():
    with pytest.raises(ValueError, match="GRU"):
        fastgru.GRU.from_torch(torch.nn.LSTM(3, 4))
