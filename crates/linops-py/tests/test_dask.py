"""Dask on a LocalCluster of worker processes on 127.0.0.1: block sketches merged in a tree equal
the single-machine sketch; the distributed randomized SVD against linops and svd_compressed."""

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
    sa = ldask.sketch(A, kind, d, seed, nnz=3, split_every=2).compute()
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
    sa = ldask.sketch(A, kind, d, seed, nnz=nnz, density=density, split_every=3).compute()
    ref = op.matmat(a, backend="cpu")
    assert np.array_equal(sa, ref)


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
