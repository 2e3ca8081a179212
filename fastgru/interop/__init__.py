"""Exchanging layers with PyTorch, Keras and ONNX.

Each module holds free functions over a layer's public state: its
configuration (:meth:`fastgru.GRU.get_config`) and its parameters
(:attr:`fastgru.GRU.params`, PyTorch's names). Nothing here reads a layer's or
an estimator's private attributes, and no module imports torch, keras or onnx
before one of its functions is called. ``GRU.from_torch``, ``to_torch``,
``from_keras``, ``to_keras``, ``from_onnx`` and ``to_onnx`` call them.

* :mod:`fastgru.interop.torch`: ``torch.nn.GRU`` in and out.
* :mod:`fastgru.interop.keras`: Keras 3 ``GRU`` layers and stacks in and out.
* :mod:`fastgru.interop.onnx_export`: a layer or a fitted estimator as an
  ONNX graph of standard ``GRU`` nodes.
* :mod:`fastgru.interop.onnx_import`: the ``GRU`` nodes of any ONNX graph as
  a layer, reading the file as untrusted input.
* :mod:`fastgru.interop.onnx_ops`: the few ONNX ops the import evaluates (in
  NumPy) to check that nodes form one stack.
"""
