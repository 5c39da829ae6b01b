"""Dask on a LocalCluster of worker processes on 127.0.0.1: block sketches merged in a tree equal
the single-machine sketch; the distributed randomized SVD against linops and svd_compressed."""

import os

import numpy as np
import pytest

import linops

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

import linops.dask as ldask  # noqa: E402


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=3,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=40,
    )
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


def single_machine(kind, d, m, seed, nnz=3, density=None):
    return {
        "gaussian": lambda: linops.Op.gaussian_sketch(d, m, seed),
        "rademacher": lambda: linops.Op.rademacher_sketch(d, m, seed),
        "sparse_sign": lambda: linops.Op.sparse_sign(d, m, nnz, seed),
        "very_sparse": lambda: linops.Op.very_sparse_projection(d, m, seed, density=density),
    }[kind]()


KINDS = ["gaussian", "rademacher", "sparse_sign", "very_sparse"]


@pytest.mark.parametrize("kind", KINDS)
def test_column_blocks_are_bits_of_the_whole_sketch(kind):
    d, m, seed = 12, 97, 5
    whole = single_machine(kind, d, m, seed).to_dense()
    for c0, cols in [(0, 97), (0, 1), (13, 40), (96, 1), (50, 47)]:
        part = linops._linops.sketch_columns(kind, d, m, seed, c0, cols, nnz=3).to_dense()
        assert np.array_equal(part, whole[:, c0 : c0 + cols]), (kind, c0, cols)


@pytest.mark.parametrize("kind", KINDS)
def test_sketch_on_workers_equals_single_machine(client, rng, kind):
    m, n, d, seed = 1000, 17, 24, 7
    a = rng.standard_normal((m, n))
    A = da.from_array(a, chunks=(137, n))  # 8 uneven row blocks
    sa = ldask.sketch(A, kind, d, seed, nnz=3, split_every=2, reproducible=False).compute()
    ref = single_machine(kind, d, m, seed, nnz=3).matmat(a, backend="cpu")
    s_abs = np.abs(single_machine(kind, d, m, seed, nnz=3).to_dense())
    # Only the order of additions differs: |Δ| ≤ 2·γ·(|S|·|A|), γ = (m + p + 2)·u with p = 8
    # blocks (linops::stream's rounding note).
    gamma = (m + 8 + 2) * np.finfo(np.float64).eps / 2
    assert np.all(np.abs(sa - ref) <= 2 * gamma * (s_abs @ np.abs(a)))


@pytest.mark.parametrize("kind", ["sparse_sign", "very_sparse", "rademacher"])
def test_sketch_is_bit_equal_when_the_sums_are_exact(client, rng, kind):
    """The ±1 families hold entries ±scale: with integer data and a power-of-two scale every
    partial sum is exact, so any addition order gives the same bits and the distributed sketch
    equals the single-machine one bit for bit. (With other data only the order of additions
    differs, within the bound of the test above; Gaussian entries always round.)"""
    m, n, d, seed = 800, 9, 16, 3
    # scales: Rademacher 1/√16, sparse sign 1/√4, very sparse √(1/(0.25·16)): all 2^-k.
    nnz, density = 4, 0.25
    a = rng.integers(-50, 50, size=(m, n)).astype(np.float64)
    A = da.from_array(a, chunks=(100, n))
    op = single_machine(kind, d, m, seed, nnz=nnz, density=density)
    sa = ldask.sketch(A, kind, d, seed, nnz=nnz, density=density, split_every=3,
                      reproducible=False).compute()
    ref = op.matmat(a, backend="cpu")
    assert np.array_equal(sa, ref)


def grid_bound(kind, d, m, seed, a, nnz, density):
    """Per-entry bound on |reproducible − exact| (docs/python.md): N_i·(g_c/2 + u·scale·M_c),
    recomputed here from the grid's definition g_c = 2^(e_c + L + 1 − 53), 2^e_c ≥ scale·M_c."""
    op = single_machine(kind, d, m, seed, nnz=nnz, density=density)
    pattern = op.to_dense() != 0
    scale = np.abs(op.to_dense()[pattern]).max()
    u = 2.0**-53
    big_l = max(1, int(np.ceil(np.log2(m))))
    mc = np.abs(a).max(axis=0)
    with np.errstate(divide="ignore"):  # a zero column: g = 0, and its sketch is exactly 0
        e = np.ceil(np.log2(mc)) + np.ceil(np.log2(scale))
    g = 2.0 ** (e + big_l + 1 - 53)
    n_i = pattern.sum(axis=1)[:, np.newaxis]
    return n_i * (g / 2 + u * scale * mc)


SPARSE = [("sparse_sign", 3, None), ("very_sparse", 8, None), ("very_sparse", 8, 0.3)]


@pytest.mark.parametrize("kind,nnz,density", SPARSE)
def test_reproducible_sketch_on_workers_is_bit_equal_for_float_data(client, rng, kind, nnz, density):
    """Float data whose ordinary sums round differently in different orders: the reproducible
    sketch (the default for the sparse families) of uneven row chunks, merged in trees of
    different shapes, equals linops.sketch(..., reproducible=True) of the whole matrix bit for
    bit; and it is within the grid's bound of the ordinary sketch."""
    m, n, d, seed = 1500, 13, 24, 11
    # Columns of very different magnitudes, and one column of zeros.
    a = rng.standard_normal((m, n)) * np.logspace(-150, 150, n)[np.newaxis, :]
    a[:, 4] = 0.0
    whole = linops.sketch(a, kind, d, seed, nnz=nnz, density=density, reproducible=True)
    ordinary = single_machine(kind, d, m, seed, nnz=nnz, density=density).matmat(a, backend="cpu")
    assert not np.array_equal(whole, ordinary)  # the rounding is real
    for chunks, split_every in [((137,) * 10 + (130,), 2), ((1, 700, 799), 3), ((1500,), 4)]:
        A = da.from_array(a, chunks=(chunks, n))
        sa = ldask.sketch(A, kind, d, seed, nnz=nnz, density=density,
                          split_every=split_every).compute()
        assert np.array_equal(sa, whole), (chunks, split_every)
    # Ordinary summation's own error: γ·(|S|·|A|) with γ = m·u (linops::stream's note).
    s_abs = np.abs(single_machine(kind, d, m, seed, nnz=nnz, density=density).to_dense())
    ordinary_err = m * 2.0**-53 * (s_abs @ np.abs(a))
    bound = grid_bound(kind, d, m, seed, a, nnz, density) + ordinary_err
    assert np.all(np.abs(whole - ordinary) <= bound)


@pytest.mark.parametrize("kind,nnz,density", SPARSE[:2])
def test_reproducible_sketch_does_not_depend_on_the_row_order_of_the_sums(rng, kind, nnz, density):
    """On one machine: the partial sketches of blocks, added in two different orders, give the
    same bits, and equal the whole-matrix sketch."""
    m, n, d, seed = 900, 7, 16, 2
    a = rng.standard_normal((m, n)) * 1e3
    mx = np.abs(a).max(axis=0)
    cuts = [0, 1, 250, 251, 600, 900]
    parts = [
        linops._linops.reproducible_sketch_block(kind, d, m, seed, r0, a[r0:r1], mx, nnz=nnz,
                                                 density=density)
        for r0, r1 in zip(cuts[:-1], cuts[1:])
    ]
    forward = parts[0].copy()
    for p in parts[1:]:
        forward += p
    backward = parts[-1].copy()
    for p in parts[-2::-1]:
        backward += p
    whole = linops.sketch(a, kind, d, seed, nnz=nnz, density=density, reproducible=True)
    assert np.array_equal(forward, whole)
    assert np.array_equal(backward, whole)


def test_reproducible_sketch_bad_input(rng):
    a = rng.standard_normal((50, 4))
    with pytest.raises(ValueError, match="sparse family"):
        linops.sketch(a, "gaussian", 8, 0, reproducible=True)
    bad = a.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="column 2"):
        linops.sketch(bad, "sparse_sign", 8, 0, nnz=2, reproducible=True)
    with pytest.raises(ValueError, match="max_abs"):  # a block needs the global bounds
        linops._linops.reproducible_sketch_block("sparse_sign", 8, 50, 0, 10, a[10:20], nnz=2)
    with pytest.raises(ValueError, match="exceeds the column bound"):
        linops._linops.reproducible_sketch_block(
            "sparse_sign", 8, 50, 0, 0, a[:20], np.abs(a[:20]).max(axis=0) / 2, nnz=2
        )
    with pytest.raises(ValueError, match="4 columns"):
        linops._linops.reproducible_sketch_block(
            "sparse_sign", 8, 50, 0, 0, a[:20], np.ones(3), nnz=2
        )
    with pytest.raises(ValueError, match="leave"):
        linops._linops.reproducible_sketch_block(
            "sparse_sign", 8, 50, 0, 40, a[:20], np.ones(4), nnz=2
        )
    with pytest.raises(ValueError, match="float64 range"):
        linops.sketch(np.full((50, 2), 1e308), "sparse_sign", 8, 0, nnz=2, reproducible=True)
    A = da.from_array(a, chunks=(20, 4))
    with pytest.raises(ValueError, match="sparse family"):
        ldask.sketch(A, "rademacher", 8, 0, reproducible=True)


@pytest.mark.parametrize("order", ["C", "F", "strided"])
@pytest.mark.parametrize("transpose", [False, True])
def test_block_matmul_matches_numpy(rng, order, transpose):
    base = rng.standard_normal((301, 67))
    block = {"C": base, "F": np.asfortranarray(base), "strided": base[::2, ::-1]}[order]
    x = rng.standard_normal((block.shape[0] if transpose else block.shape[1], 5))
    y = linops._linops.block_matmul(block, x, transpose=transpose)
    ref = (block.T if transpose else block) @ x
    # GEMM with a different summation order than NumPy's: |Δ| ≤ γ_k·(|B|·|x|), γ_k = k·u.
    kk = x.shape[0]
    bound = 2 * kk * 2.0**-53 * (np.abs(block.T if transpose else block) @ np.abs(x))
    assert np.all(np.abs(y - ref) <= bound)
    with pytest.raises(ValueError, match="rows"):
        linops._linops.block_matmul(block, x[:-1], transpose=transpose)


def _vm(field):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(field)


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="needs Linux /proc")
def test_block_matmul_does_not_copy_the_block():
    """Peak resident memory (VmHWM, reset through /proc/self/clear_refs) while multiplying a
    64 MiB block: it sees every allocation, Rust's included, so a copy of the block would add
    64 MiB; the products add only their small results."""
    block = np.ones((4096, 2048))  # 64 MiB, touched
    x = np.ones((2048, 4))
    q = np.ones((4096, 4))
    # Warm-up on a small block: the first call pages in the extension's code and GEMM's
    # packing buffers (≈ 17 MiB of RSS seen once), which are not copies of the block.
    linops._linops.block_matmul(block[:64, :64], x[:64], threads=1)
    linops._linops.block_matmul(block[:64, :64], q[:64], transpose=True, threads=1)
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pytest.skip("cannot reset the peak RSS (/proc/self/clear_refs not writable)")
    before = _vm("VmRSS")
    y = linops._linops.block_matmul(block, x, threads=1)
    z = linops._linops.block_matmul(block, q, transpose=True, threads=1)
    grown = _vm("VmHWM") - before
    assert y.shape == (4096, 4) and z.shape == (2048, 4)
    # A copy would add block.nbytes; the results add 192 KiB.
    assert grown < block.nbytes // 2, f"peak RSS grew by {grown} bytes for a {block.nbytes} block"


def test_sketch_bad_input(client):
    A = da.ones((100, 5), chunks=(30, 5))
    with pytest.raises(ValueError, match="kind"):
        ldask.sketch(A, "srht", 8, 0)
    with pytest.raises(ValueError):
        ldask.sketch(A, "sparse_sign", 4, 0, nnz=9)  # nnz > d
    with pytest.raises(TypeError):
        ldask.sketch(np.ones((10, 2)), "gaussian", 4, 0)


def test_randomized_svd_matches_single_machine_and_svd_compressed(client, rng):
    m, n, k = 3000, 120, 10
    u, _ = np.linalg.qr(rng.standard_normal((m, n)))
    v, _ = np.linalg.qr(rng.standard_normal((n, n)))
    s = 0.8 ** np.arange(n)
    a = (u * s) @ v.T
    A = da.from_array(a, chunks=(500, n))
    U, sv, Vt = ldask.randomized_svd(A, k, n_oversamples=10, n_iter=2, random_state=0)
    U = U.compute()
    err = np.linalg.norm(a - (U * sv) @ Vt, 2)
    # Single machine, same k, p, q: the same method, so a comparable error.
    U1, s1, Vt1 = linops.randomized_svd(a, k, n_oversamples=10, n_iter=2, random_state=0)
    err1 = np.linalg.norm(a - (U1 * s1) @ Vt1, 2)
    # Dask's own, same k, q (svd_compressed's oversampling is also 10 by default).
    Uc, sc, Vtc = da.linalg.svd_compressed(A, k, n_power_iter=2, seed=0)
    Uc, sc, Vtc = da.compute(Uc, sc, Vtc)
    errc = np.linalg.norm(a - (Uc * sc) @ Vtc, 2)
    best = s[k]
    assert err <= 1.05 * best, (err, best)
    assert err <= 1.05 * max(err1, errc), (err, err1, errc)
    np.testing.assert_allclose(sv, s[:k], rtol=1e-6)
    np.testing.assert_allclose(U.T @ U, np.eye(k), atol=1e-12)


def test_randomized_svd_bad_chunks(client):
    A = da.ones((100, 30), chunks=(10, 30))
    with pytest.raises(ValueError, match="chunk"):
        ldask.randomized_svd(A, 5, n_oversamples=10)
    with pytest.raises(ValueError, match="min"):
        ldask.randomized_svd(da.ones((100, 8), chunks=(50, 8)), 5, n_oversamples=10)
