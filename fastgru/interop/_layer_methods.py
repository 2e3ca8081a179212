"""The exchange methods of :class:`fastgru.GRU` (``from_torch``,
``to_torch``, ``from_keras``, ``to_keras``, ``from_onnx``, ``to_onnx``): each
calls the free function of its :mod:`fastgru.interop` module, imported on
first use, so that the layer module imports no exchange code.
"""

from __future__ import annotations


class LayerExchanges:
    """Mixed into :class:`fastgru.GRU`: its exchanges with PyTorch, Keras and
    ONNX."""

    @classmethod
    def from_torch(cls, module_or_state_dict, *, dtype=None):
        """Build a layer with the exact weights of a ``torch.nn.GRU`` or its
        ``state_dict()``: :func:`fastgru.interop.torch.from_torch`.

        Examples
        --------
        >>> import torch, fastgru
        >>> fastgru.GRU.from_torch(torch.nn.GRU(3, 8, num_layers=2)).num_layers
        2
        """
        from .torch import from_torch

        return from_torch(module_or_state_dict, dtype=dtype)

    def to_torch(self):
        """A ``torch.nn.GRU`` (batch_first=True) with the same weights, for the
        "torch" variant: :func:`fastgru.interop.torch.to_torch`."""
        from .torch import to_torch

        return to_torch(self)

    @classmethod
    def from_keras(cls, layer_or_weights, reset_after=True, *, dtype=None):
        """Build a layer with the exact weights of a Keras ``GRU``, a
        ``Bidirectional(GRU)``, a ``Sequential`` of them or one GRU's
        ``get_weights()``: :func:`fastgru.interop.keras.from_keras`.

        Examples
        --------
        >>> import os
        >>> backend = os.environ.setdefault("KERAS_BACKEND", "torch")
        >>> import keras, fastgru
        >>> k = keras.layers.GRU(8); k.build((None, 10, 3))
        >>> fastgru.GRU.from_keras(k).variant
        'torch'
        """
        from .keras import from_keras

        return from_keras(layer_or_weights, reset_after, dtype=dtype)

    def to_keras(self):
        """The layer as Keras 3 layers with the same weights, for the "torch"
        and "cho" variants: :func:`fastgru.interop.keras.to_keras`.

        Examples
        --------
        >>> import fastgru
        >>> fastgru.GRU.from_keras(fastgru.GRU(3, 8).to_keras()).n_params
        312
        """
        from .keras import to_keras

        return to_keras(self)

    @classmethod
    def from_onnx(cls, model_or_path_or_bytes, node=None, *, dtype=None,
                  return_initial_h: bool = False):
        """Build a layer from the ``GRU`` nodes of an ONNX model, a path or its
        bytes: :func:`fastgru.interop.onnx_import.from_onnx`.

        Examples
        --------
        >>> import fastgru
        >>> layer = fastgru.GRU(3, 8, num_layers=2, random_state=0)
        >>> fastgru.GRU.from_onnx(layer.to_onnx()).num_layers
        2
        """
        from .onnx_import import from_onnx

        return from_onnx(model_or_path_or_bytes, node, dtype=dtype,
                         return_initial_h=return_initial_h)

    def to_onnx(self, path=None, *, with_lengths: bool = False, with_initial_h: bool = False,
                dtype=None):
        """Export as an ONNX model of standard ``GRU`` nodes (inputs ``x``, and
        ``lengths``, ``h0`` on request; outputs ``y``, ``h_n`` as
        :meth:`forward`): :func:`fastgru.interop.onnx_export.to_onnx`.

        Examples
        --------
        >>> import fastgru
        >>> model = fastgru.GRU(3, 8, num_layers=2).to_onnx("gru.onnx")
        >>> [node.op_type for node in model.graph.node].count("GRU")
        2
        """
        from .onnx_export import to_onnx

        return to_onnx(self, path, with_lengths=with_lengths, with_initial_h=with_initial_h,
                       dtype=dtype)
