"""randomized_svd / svd_lowrank against exact SVDs and scikit-learn; reproducibility."""

import numpy as np
import pytest

import linops
from conftest import low_rank_matrix


def test_signature_matches_scikit_learn():
    import inspect

    ext = pytest.importorskip("sklearn.utils.extmath")
    ours = inspect.signature(linops.randomized_svd).parameters
    theirs = inspect.signature(ext.randomized_svd).parameters
    for name, p in theirs.items():
        assert name in ours, name
        assert ours[name].default == p.default, name
        assert ours[name].kind == p.kind, name


@pytest.mark.parametrize("shape", [(120, 60), (60, 120)])  # both transpose branches
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exact_rank_matrix_is_recovered(rng, shape, dtype):
    a, s = low_rank_matrix(rng, *shape, rank=8)
    a = a.astype(dtype)
    U, sv, Vt = linops.randomized_svd(a, 8, random_state=3)
    assert U.dtype == dtype and sv.dtype == dtype and Vt.dtype == dtype
    assert U.shape == (shape[0], 8) and Vt.shape == (8, shape[1])
    # Exact rank 8 with 10 oversamples: the range is captured up to rounding; tolerance
    # c·√(mn)·u·‖A‖ with c = 100 for the orthonormalizations and power passes.
    tol = 100 * np.sqrt(np.prod(shape)) * np.finfo(dtype).eps
    np.testing.assert_allclose(sv, s, rtol=0, atol=tol)
    np.testing.assert_allclose((U * sv) @ Vt, a, rtol=0, atol=tol)
    np.testing.assert_allclose(U.T @ U, np.eye(8), atol=tol)


def test_sign_convention_matches_scikit_learn(rng):
    ext = pytest.importorskip("sklearn.utils.extmath")
    a, _ = low_rank_matrix(rng, 80, 50, rank=6, decay=0.6)
    for transpose in (False, True):
        U, s, Vt = linops.randomized_svd(a, 4, transpose=transpose, random_state=0)
        U2, s2, Vt2 = ext.randomized_svd(a, 4, transpose=transpose, random_state=0)
        # Well-separated singular values: the same vectors up to rounding, same signs.
        np.testing.assert_allclose(s, s2, rtol=1e-10)
        np.testing.assert_allclose(U, U2, atol=1e-8)
        np.testing.assert_allclose(Vt, Vt2, atol=1e-8)


def test_error_matches_scikit_learn_on_a_noisy_matrix(rng):
    ext = pytest.importorskip("sklearn.utils.extmath")
    a, _ = low_rank_matrix(rng, 300, 200, rank=200, decay=0.97)
    k = 10
    U, s, Vt = linops.randomized_svd(a, k, random_state=1)
    U2, s2, Vt2 = ext.randomized_svd(a, k, random_state=1)
    best = np.linalg.svd(a, compute_uv=False)[k]
    e1 = np.linalg.norm(a - (U * s) @ Vt, 2)
    e2 = np.linalg.norm(a - (U2 * s2) @ Vt2, 2)
    # Both are near-optimal (HMT: within a small factor of σ_{k+1} with 7 power passes).
    assert e1 <= 1.1 * best and e2 <= 1.1 * best


def test_same_seed_same_bits_in_every_memory_order(rng):
    a = rng.standard_normal((70, 40))
    r1 = linops.randomized_svd(a, 5, random_state=11)
    r2 = linops.randomized_svd(np.asfortranarray(a), 5, random_state=11)
    r3 = linops.randomized_svd(linops.Op.dense(a), 5, random_state=11)
    for x, y, z in zip(r1, r2, r3):
        assert np.array_equal(x, y) and np.array_equal(x, z)
    r4 = linops.randomized_svd(a, 5, random_state=12)
    assert not np.array_equal(r1[0], r4[0])


def test_random_state_kinds(rng):
    a = rng.standard_normal((30, 20))
    linops.randomized_svd(a, 2, random_state=np.random.RandomState(0))
    linops.randomized_svd(a, 2, random_state=np.random.default_rng(0))
    linops.randomized_svd(a, 2)  # None: NumPy's global state
    with pytest.raises(TypeError):
        linops.randomized_svd(a, 2, random_state="zero")
    with pytest.raises(ValueError):
        linops.randomized_svd(a, 2, random_state=-1)


def test_sparse_input(rng):
    sp = pytest.importorskip("scipy.sparse")
    s = sp.random(200, 100, density=0.05, random_state=2, format="csr")
    U, sv, Vt = linops.randomized_svd(s, 5, random_state=0)
    # The same driver and seed on the dense copy: only the products' rounding differs.
    Ud, svd_, Vtd = linops.randomized_svd(s.toarray(), 5, random_state=0)
    np.testing.assert_allclose(sv, svd_, rtol=1e-10)
    np.testing.assert_allclose(U, Ud, atol=1e-8)
    # Rayleigh–Ritz values never exceed the true ones; on this flat spectrum (a random sparse
    # matrix) 7 power passes get within 1 %.
    exact = np.linalg.svd(s.toarray(), compute_uv=False)[:5]
    assert np.all(sv <= exact * (1 + 1e-12)) and np.all(sv >= 0.99 * exact)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"n_components": 0}, ValueError, "n_components"),
        ({"n_components": 2.5}, TypeError, "n_components"),
        ({"n_components": 50}, ValueError, "50"),
        ({"n_components": 2, "n_iter": -1}, ValueError, "n_iter"),
        ({"n_components": 2, "power_iteration_normalizer": "XX"}, ValueError, "normalizer"),
        ({"n_components": 2, "backend": "tpu"}, ValueError, "backend"),
        ({"n_components": 2, "transpose": "yes"}, TypeError, "transpose"),
    ],
)
def test_bad_parameters(rng, kwargs, exc, match):
    a = rng.standard_normal((30, 20))
    with pytest.raises(exc, match=match):
        linops.randomized_svd(a, **kwargs)


def test_non_finite_input_names_the_problem():
    a = np.ones((10, 8))
    a[3, 4] = np.inf
    with pytest.raises(ValueError, match="(?i)finite|inf"):
        linops.randomized_svd(a, 2)


def test_svd_lowrank_like_torch(rng):
    a, s = low_rank_matrix(rng, 90, 60, rank=5)
    U, S, V = linops.svd_lowrank(a, q=6, niter=2, seed=0)
    assert U.shape == (90, 6) and S.shape == (6,) and V.shape == (60, 6)
    np.testing.assert_allclose(S[:5], s, atol=1e-10)
    np.testing.assert_allclose((U * S) @ V.T, a, atol=1e-10)
    m = rng.standard_normal((90, 60))
    U, S, V = linops.svd_lowrank(a + m, q=6, niter=2, M=m, seed=0)
    np.testing.assert_allclose((U * S) @ V.T, a, atol=1e-9)
