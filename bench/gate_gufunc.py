"""Is the gate update worth exposing as a gufunc? A measurement.

Builds (here, not in the library) a gufunc of one GRU step,
``(g),(k,h),(h),(h),()->(h)``: the step's input projection with folded
biases ``xproj``, the recurrent weights, ``b_hn``, the previous state and the
mode give the new state, through the same ``cell_forward`` the library uses.
A sequence then takes one gufunc call per time step from Python. Compared,
for T steps at batch B (input 8, hidden 64, float32):

* ``step-gufunc``: the input projections made once with NumPy, then T calls
  of the step gufunc (the loop over the batch is the gufunc's);
* ``layer.step``: T calls of :meth:`fastgru.GRU.step`, the library's
  streaming step;
* ``sequence-gufunc``: one call of :func:`fastgru.gufunc.forward`.

Run: ``PYTHONPATH=. python bench/gate_gufunc.py``; prints medians in µs.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from fastgru import GRU, _config
from fastgru import gufunc as fg_gufunc
from fastgru._kernels.cell import RESET_AFTER, cell_forward, fold_biases


def _step(xproj, U, b_hn, hp, mode, h):
    H = hp.shape[0]
    wide = 3 * H if mode == RESET_AFTER else 2 * H
    gates = np.empty((1, xproj.shape[0]), dtype=xproj.dtype)
    for j in range(xproj.shape[0]):
        gates[0, j] = xproj[j]
    prev = np.empty((1, H), dtype=xproj.dtype)
    for j in range(H):
        prev[0, j] = hp[j]
    out = np.empty((1, H), dtype=xproj.dtype)
    Uc = np.ascontiguousarray(U)
    aux = np.empty((1, H), dtype=xproj.dtype)
    acc_wide = np.empty((1, wide), dtype=xproj.dtype)
    acc_1 = np.empty((1, H), dtype=xproj.dtype)
    acc_2 = np.empty((1, H), dtype=xproj.dtype)
    cell_forward(mode, gates, Uc, Uc[:0], Uc[:0], np.ascontiguousarray(b_hn), prev, out,
                          aux, acc_wide, acc_1, acc_2)
    for j in range(H):
        h[j] = out[0, j]


def _median_us(fn, repeats=30):
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def main():
    step_gufunc = _config.gufunc_kernel(
        ["void(float32[:], float32[:, :], float32[:], float32[:], int64, float32[:])"],
        "(g),(k,h),(h),(h),()->(h)")(_step)
    I, H, T = 8, 64, 100
    layer = GRU(I, H, random_state=0)
    W, U, b1, b2 = fg_gufunc.cell_arrays(layer)
    xbias, b_hn = np.empty(3 * H, np.float32), np.empty(H, np.float32)
    fold_biases(RESET_AFTER, b1, b2, xbias, b_hn)
    for B in (1, 32):
        _compare(step_gufunc, layer, W, U, xbias, b_hn, B, T, I, H)


def _compare(step_gufunc, layer, W, U, xbias, b_hn, B, T, I, H):
    x = np.random.default_rng(0).normal(size=(B, T, I)).astype(np.float32)

    def by_step_gufunc():
        xproj = x @ W.T + xbias  # (B, T, 3H)
        h = np.zeros((B, H), np.float32)
        for t in range(T):
            h = step_gufunc(xproj[:, t], U, b_hn, h, RESET_AFTER)
        return h

    def by_layer_step():
        h = np.zeros((1, B, H), np.float32)
        for t in range(T):
            h = layer.step(x[:, t], h)
        return h[0]

    def by_sequence_gufunc():
        return fg_gufunc.forward(layer, x)[1][0]

    ref = layer.forward(x)[1][0]
    for f in (by_step_gufunc, by_layer_step, by_sequence_gufunc):
        np.testing.assert_allclose(f(), ref, rtol=1e-4, atol=1e-5)
    print(f"B={B} T={T} I={I} H={H}: "
          + ", ".join(f"{name} {_median_us(f):.0f} us" for name, f in
                      (("step-gufunc", by_step_gufunc), ("layer.step", by_layer_step),
                       ("sequence-gufunc", by_sequence_gufunc),
                       ("GRU.forward", lambda: layer.forward(x)))))

if __name__ == "__main__":
    main()
