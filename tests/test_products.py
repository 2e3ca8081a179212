"""The product kernels against NumPy, on every tile and strip shape.

``gemm_nn`` (``out = a @ b``) and ``gemm_tn_add`` (``out += a.T @ b``) run
in tiles of 6 rows by 4 SIMD vectors of columns, with last tiles of 1-5
rows, a strip of two vectors, strips of one, and masked loads and stores
for columns that do not fill a vector; the sizes here reach each of these
for float32 and float64, with AVX-512 (16 and 8 lanes) and without (8 and 4).
"""

import itertools

import numpy as np
import pytest

from fastgru._kernels import products

ROWS = [1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13]
COLS = [1, 3, 4, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33, 47, 64, 65, 100, 113, 128]


@pytest.mark.parametrize("kernel", ["gemm_nn", "gemm_tn_add"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("k", [1, 6, 37])
def test_products_match_numpy(kernel, dtype, k):
    """gemm_nn: ``out = a @ b`` writes every entry (out starts as NaN);
    gemm_tn_add: ``out += a.T @ b`` onto random values."""
    rng = np.random.default_rng(k)
    for m in ROWS:
        for n in COLS:
            b = rng.normal(size=(k, n)).astype(dtype)
            if kernel == "gemm_nn":
                a = rng.normal(size=(m, k)).astype(dtype)
                start = np.full((m, n), np.nan, dtype=dtype)
                expected = a.astype(np.float64) @ b.astype(np.float64)
            else:
                a = rng.normal(size=(k, m)).astype(dtype)
                start = rng.normal(size=(m, n)).astype(dtype)
                expected = start + a.T.astype(np.float64) @ b.astype(np.float64)
            out = start.copy()
            getattr(products, kernel)(a, b, out)
            tol = 1e-5 if dtype == np.float32 else 1e-12
            np.testing.assert_allclose(out, expected, rtol=tol, atol=tol * np.sqrt(k),
                                       err_msg=f"{kernel} m={m} n={n} k={k}")


@pytest.mark.parametrize("m", [1, 3, 6])
@pytest.mark.parametrize("accumulate", [False, True])
def test_matmul_every_routine_and_layout(m, accumulate):
    """``matmul`` gives ``out (+)= a @ b`` whichever layout of the weights it
    gets (b, b.T, or both) and whichever routine that selects; so does
    ``matmul_nt_at``, which calls ``gemm_nt`` at its address, and
    ``matmul_stored`` (``b_t`` alone)."""
    rng = np.random.default_rng(m)
    k, n = 20, 45
    a = rng.normal(size=(m, k))
    b = rng.normal(size=(k, n))
    b_t = np.ascontiguousarray(b.T)
    start = rng.normal(size=(m, n))
    expected = a @ b + (start if accumulate else 0.0)
    flag = products.ACCUMULATE if accumulate else products.OVERWRITE
    nt = products.product_address(products.gemm_nt, np.float64)
    for (bb, bt), (kernel, address) in itertools.product(
            [(b, b_t), (b, b_t[:0]), (b[:0], b_t)],
            [(products.matmul, None), (products.matmul_nt_at, nt),
             (products.matmul_stored, None)]):
        if kernel is products.matmul_stored and bb.shape[0]:
            continue  # for an empty b only
        out = start.copy()
        kernel(a, bb, bt, out, flag, np.empty((m, n)), address)
        np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.slow
@pytest.mark.skipif(__import__("platform").machine() not in ("x86_64", "AMD64"),
                    reason="targets an x86-64 CPU by name")
def test_gemm_nn_with_32_byte_vectors():
    """The tiles as built for CPUs without AVX-512 (AVX2's 32-byte vectors,
    16 registers: strips of two vectors), in a fresh process that targets
    such a CPU (Haswell); a single row's product (gemm_row) has the bits of
    its row in the tiles there too."""
    import os
    import subprocess
    import sys

    code = (
        "import numpy as np\n"
        "from fastgru import _config\n"
        "from fastgru._kernels import products, tiles\n"
        "assert _config.VECTOR_BYTES == 32 and tiles.STRIP_VECS == 2\n"
        "rng = np.random.default_rng(0)\n"
        "for dtype in (np.float32, np.float64):\n"
        "    for m in (1, 3, 4, 6, 7, 11):\n"
        "        for n in (3, 4, 8, 9, 16, 17, 23, 32, 45):\n"
        "            a = rng.normal(size=(m, 7)).astype(dtype)\n"
        "            b = rng.normal(size=(7, n)).astype(dtype)\n"
        "            out = np.full((m, n), np.nan, dtype=dtype)\n"
        "            products.gemm_nn(a, b, out)\n"
        "            np.testing.assert_allclose(out, a @ b, rtol=1e-5, atol=1e-5)\n"
        "            products.gemm_tn_add(np.ascontiguousarray(a.T), b, out)\n"
        "            np.testing.assert_allclose(out, 2 * (a @ b), rtol=1e-5, atol=1e-5)\n"
        "    a = rng.normal(size=(5, 7)).astype(dtype)\n"
        "    for n in (3, 8, 24, 45, 64, 100):  # strips of 8, 4, 2, 1 vectors, masked\n"
        "        b = rng.normal(size=(7, n)).astype(dtype)\n"
        "        tiles = np.empty((5, n), dtype=dtype)\n"
        "        products.gemm_nn(a, b, tiles)\n"
        "        for i in range(5):\n"
        "            row = np.full((1, n), np.nan, dtype=dtype)\n"
        "            products.gemm_row(a[i : i + 1], b, row)\n"
        "            assert np.array_equal(row[0], tiles[i]), (dtype, n, i)\n"
        "print('ok')\n"
    )
    env = {**os.environ, "NUMBA_CPU_NAME": "haswell", "FASTGRU_NO_CACHE": "1"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "ok"


def test_gemm_tn_add_rounds_onto_out_once():
    """Gradients of each chunk are summed first and then added to the running
    total: carrying the total through the sum would round every small term
    against it (k roundings at the total's magnitude instead of one)."""
    rng = np.random.default_rng(3)
    a = rng.normal(size=(64, 8)).astype(np.float32)
    b = rng.normal(size=(64, 32)).astype(np.float32)
    out = np.full((8, 32), 1000.0, dtype=np.float32)
    products.gemm_tn_add(a, b, out)
    expected = 1000.0 + a.T.astype(np.float64) @ b.astype(np.float64)
    assert np.abs(out - expected).max() <= np.spacing(np.float32(1000.0))


def test_gemm_tn_add_reads_column_slices_and_touches_nothing_else():
    """A chunk's gradient columns are a slice of a wider array; the masked last
    strip must neither read past ``b``'s columns nor write past ``out``'s."""
    rng = np.random.default_rng(2)
    d = rng.normal(size=(11, 60))
    a = d[:, 7:30]  # rows contiguous, 23 columns of 60
    b = rng.normal(size=(11, 40))[:, :21]
    out_big = np.zeros((25, 30))
    out = out_big[1:24, 3:24]
    products.gemm_tn_add(a, b, out)
    products.gemm_tn_add(a, b, out)
    np.testing.assert_allclose(out, 2 * a.T @ b, rtol=1e-12, atol=1e-12)
    out[...] = 0.0
    assert not out_big.any()


def test_gemm_nn_reads_row_strides_and_refuses_strided_rows():
    rng = np.random.default_rng(1)
    big_a, big_b = rng.normal(size=(9, 40)), rng.normal(size=(30, 50))
    a, b = big_a[1:7, 3:23], big_b[2:22, 5:42]  # rows contiguous, strides wider than a row
    out_big = np.zeros((8, 60))
    out = out_big[1:7, 2:39]
    products.gemm_nn(a, b, out)
    np.testing.assert_allclose(out, a @ b, rtol=1e-12, atol=1e-12)
    assert not out_big[0].any() and not out_big[:, :2].any() and not out_big[:, 39:].any()
    with pytest.raises(ValueError, match="contiguous rows"):
        products.gemm_nn(big_a[:, ::2], big_b[:20], np.zeros((9, 50)))


@pytest.mark.parametrize("shape", [
    (3, 5, 7),  # NumPy's copy (small)
    (40, 30, 9),  # the kernel, one block
    (300, 64, 8),  # the kernel, split into blocks run in parallel
    (1, 40, 200), (40, 1, 200),  # the same memory order: a plain copy, or a view
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_swap_first_axes_is_the_transpose(shape, dtype):
    """The layer's batch-first <-> time-major copies (``_engine.swap_first_axes``)."""
    from fastgru import _engine, _runtime

    src = np.random.default_rng(0).normal(size=shape).astype(dtype)
    with _runtime.threads(2):
        out = _engine.swap_first_axes(src)
        view = _engine.swap_first_axes(src, copy=False)
    for got in (out, view):
        assert got.flags.c_contiguous
        np.testing.assert_array_equal(got, src.transpose(1, 0, 2))
    assert not np.shares_memory(out, src)
    assert np.shares_memory(view, src) == (1 in shape[:2])


@pytest.mark.parametrize("shape", [(40, 30), (600, 300), (1537, 129)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_transposed_weights(shape, dtype):
    """The weights' transposes (``_engine.transposed``): NumPy's copy for
    small ones, the tiles of ``transpose_block`` for large ones (sides that
    are not multiples of the tile, in one or two row blocks)."""
    from fastgru import _engine, _runtime

    a = np.random.default_rng(0).normal(size=shape).astype(dtype)
    with _runtime.threads(2):
        got = _engine.transposed(_engine.Workspace(), "t", a)
    assert got.flags.c_contiguous
    np.testing.assert_array_equal(got, a.T)
