"""The anchors fastgru is compared with: torch.nn.GRU and onnxruntime's GRU.

The ONNX model is built here from the torch weights with onnx.helper (one GRU
node, gates reordered r,z,n -> z,r,h, linear_before_reset=1), independently of
fastgru's own code.
"""

import numpy as np


def onnx_gru_session(module, threads):
    """An onnxruntime session running ``module`` (1 layer, unidirectional)."""
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    sd = {k: v.detach().numpy() for k, v in module.state_dict().items()}
    H = module.hidden_size

    def zrh(a):
        return np.concatenate([a[H : 2 * H], a[:H], a[2 * H :]])[None]

    inits = [
        numpy_helper.from_array(zrh(sd["weight_ih_l0"]), "W"),
        numpy_helper.from_array(zrh(sd["weight_hh_l0"]), "R"),
        numpy_helper.from_array(
            np.concatenate([zrh(sd["bias_ih_l0"]), zrh(sd["bias_hh_l0"])], axis=1), "B"),
    ]
    node = helper.make_node("GRU", ["X", "W", "R", "B"], ["Y", "Y_h"], hidden_size=H,
                            linear_before_reset=1)
    graph = helper.make_graph(
        [node], "gru",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["T", "B", module.input_size])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None),
         helper.make_tensor_value_info("Y_h", TensorProto.FLOAT, None)],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), opts,
                                providers=["CPUExecutionProvider"])


def numpy_gru(state_dict, x, h0=None):
    """torch.nn.GRU's equations (one layer, unidirectional, batch-first) in plain
    NumPy float64, from ``state_dict``'s arrays: the outputs ``(B, T, H)``.

    r = σ(W_r x + b_ir + U_r h + b_hr), z = σ(W_z x + b_iz + U_z h + b_hz),
    n = tanh(W_n x + b_in + r * (U_n h + b_hn)), h' = (1 - z) * n + z * h.
    """
    sd = {k.replace("_l0", ""): np.asarray(v, dtype=np.float64) for k, v in state_dict.items()}
    W, U, b_i, b_h = sd["weight_ih"], sd["weight_hh"], sd["bias_ih"], sd["bias_hh"]
    H = U.shape[1]
    x = np.asarray(x, dtype=np.float64)
    h = np.zeros((x.shape[0], H)) if h0 is None else np.asarray(h0, dtype=np.float64)
    out = np.empty((*x.shape[:2], H))
    for t in range(x.shape[1]):
        gi, gh = x[:, t] @ W.T + b_i, h @ U.T + b_h
        r = 1.0 / (1.0 + np.exp(-(gi[:, :H] + gh[:, :H])))
        z = 1.0 / (1.0 + np.exp(-(gi[:, H : 2 * H] + gh[:, H : 2 * H])))
        n = np.tanh(gi[:, 2 * H :] + r * gh[:, 2 * H :])
        h = (1.0 - z) * n + z * h
        out[:, t] = h
    return out
