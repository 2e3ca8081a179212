"""``torch.nn.GRU`` to and from fastgru layers (needs ``torch``).

fastgru keeps PyTorch's parameter names and layouts (``weight_ih_l0``,
``weight_hh_l0``, ``bias_ih_l0``, ``bias_hh_l0``, suffix ``_reverse``), so the
exchange copies arrays by name; only the "torch" variant is what
``torch.nn.GRU`` computes.
"""

from __future__ import annotations

import numpy as np

from .._params import check_params


def from_torch(module_or_state_dict, *, dtype=None):
    """Build a layer with the exact weights of a ``torch.nn.GRU``.

    Parameters
    ----------
    module_or_state_dict : torch.nn.GRU or dict
        The module, or its ``state_dict()`` (tensors or numpy arrays).
    dtype : {"float32", "float64"}, optional
        Defaults to the weights' dtype (float64 stays float64).

    Returns
    -------
    fastgru.GRU

    Examples
    --------
    >>> import torch
    >>> from fastgru.interop.torch import from_torch
    >>> layer = from_torch(torch.nn.GRU(3, 8, num_layers=2))
    >>> layer.num_layers, layer.hidden_size
    (2, 8)
    """
    from ..layer import GRU

    dropout = 0.0
    if hasattr(module_or_state_dict, "state_dict") and hasattr(module_or_state_dict, "mode"):
        module = module_or_state_dict
        if module.mode != "GRU":
            raise ValueError(f"expected a torch.nn.GRU, got mode {module.mode!r}")
        if getattr(module, "proj_size", 0):
            raise ValueError("proj_size is not supported")
        state = module.state_dict()
        dropout = float(module.dropout)
    elif isinstance(module_or_state_dict, dict):
        state = module_or_state_dict
    else:
        raise TypeError(
            "from_torch expects a torch.nn.GRU or its state_dict, "
            f"got {type(module_or_state_dict).__name__}"
        )
    if "weight_ih_l0" not in state:
        raise ValueError("state_dict has no 'weight_ih_l0': not a GRU state_dict")
    w0 = state["weight_ih_l0"]
    w0 = np.asarray(w0.detach().cpu() if hasattr(w0, "detach") else w0)
    if w0.ndim != 2 or w0.shape[0] % 3:
        raise ValueError(f"weight_ih_l0 has shape {w0.shape}; a GRU's is (3*hidden, input)")
    hidden, inputs = w0.shape[0] // 3, w0.shape[1]
    num_layers = 1
    while f"weight_ih_l{num_layers}" in state:
        num_layers += 1
    if dtype is None:
        dtype = "float64" if w0.dtype == np.float64 else "float32"
    layer = GRU(
        inputs, hidden, num_layers,
        bidirectional="weight_ih_l0_reverse" in state,
        bias="bias_ih_l0" in state,
        dropout=dropout,
        dtype=dtype,
    )
    layer.load_state_dict(state)
    return layer


def to_torch(layer):
    """A ``torch.nn.GRU`` (batch_first=True) with the same weights as ``layer``.

    Only the "torch" variant is what ``torch.nn.GRU`` computes; other
    variants are refused with a ValueError.

    Examples
    --------
    >>> import fastgru
    >>> from fastgru.interop.torch import to_torch
    >>> module = to_torch(fastgru.GRU(3, 8, bidirectional=True))
    >>> module.bidirectional, module.batch_first
    (True, True)
    """
    config = layer.get_config()
    check_params(config, layer.params)  # the configuration and arrays go together
    if config["variant"] != "torch":
        raise ValueError(
            f"torch.nn.GRU computes the 'torch' variant only; this layer is {config['variant']!r}"
        )
    import torch

    module = torch.nn.GRU(
        config["input_size"], config["hidden_size"], config["num_layers"],
        bias=config["bias"], batch_first=True, dropout=config["dropout"],
        bidirectional=config["bidirectional"],
        dtype=torch.float64 if config["dtype"] == "float64" else torch.float32,
    )
    module.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in layer.params.items()})
    return module
