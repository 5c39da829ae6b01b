"""Estimators: scikit-learn conventions and agreement with scikit-learn's own."""

import numpy as np
import pytest

import linops
from conftest import low_rank_matrix

sklearn = pytest.importorskip("sklearn")
from sklearn.base import clone  # noqa: E402


ESTIMATORS = [
    linops.TruncatedSVD(3, random_state=0),
    linops.PCA(3, random_state=0),
    linops.GaussianRandomProjection(10, random_state=0),
    linops.SparseRandomProjection(10, random_state=0),
    linops.SparseSignProjection(10, nnz_per_column=2, random_state=0),
]


@pytest.mark.parametrize("est", ESTIMATORS, ids=lambda e: type(e).__name__)
def test_conventions(rng, est):
    # Rank 3 after centering: a rank-3 SVD/PCA is exact, so fit_transform (U·Σ) and
    # transform (X·Vᵀᵀ) agree to rounding (on full-rank data they differ, in scikit-learn too).
    x, _ = low_rank_matrix(rng, 60, 30, rank=3, decay=0.8)
    x = 10 * (x - x.mean(axis=0))
    params = est.get_params()
    c = clone(est)
    assert c.get_params() == params
    assert not [k for k in vars(c) if k.endswith("_") and not k.startswith("_")]
    with pytest.raises(sklearn.exceptions.NotFittedError):
        c.transform(x)
    assert c.fit(x) is c
    y = c.transform(x)
    np.testing.assert_allclose(c.fit_transform(x), y, rtol=1e-10, atol=1e-10)
    assert c.n_features_in_ == 30
    with pytest.raises(ValueError, match="features"):
        c.transform(x[:, :5])
    with pytest.raises(ValueError, match="invalid parameter"):
        c.set_params(bogus=1)
    c.set_params(random_state=5)
    assert c.get_params()["random_state"] == 5


def test_truncated_svd_matches_scikit_learn(rng):
    from sklearn.decomposition import TruncatedSVD

    x, _ = low_rank_matrix(rng, 100, 40, rank=10, decay=0.6)
    ours = linops.TruncatedSVD(4, random_state=0).fit(x)
    theirs = TruncatedSVD(4, random_state=0).fit(x)
    np.testing.assert_allclose(ours.singular_values_, theirs.singular_values_, rtol=1e-10)
    np.testing.assert_allclose(ours.components_, theirs.components_, atol=1e-8)
    np.testing.assert_allclose(
        ours.explained_variance_ratio_, theirs.explained_variance_ratio_, rtol=1e-8
    )
    np.testing.assert_allclose(ours.transform(x), theirs.transform(x), atol=1e-8)


@pytest.mark.parametrize("whiten", [False, True])
def test_pca_matches_scikit_learn(rng, whiten):
    from sklearn.decomposition import PCA

    x, _ = low_rank_matrix(rng, 120, 50, rank=10, decay=0.6)
    x = x + 3.0  # a mean to remove
    ours = linops.PCA(4, whiten=whiten, random_state=0).fit(x)
    theirs = PCA(4, whiten=whiten, svd_solver="randomized", random_state=0).fit(x)
    for attr in ("mean_", "singular_values_", "explained_variance_",
                 "explained_variance_ratio_", "noise_variance_"):
        np.testing.assert_allclose(getattr(ours, attr), getattr(theirs, attr), rtol=1e-8,
                                   atol=1e-12, err_msg=attr)
    np.testing.assert_allclose(ours.components_, theirs.components_, atol=1e-8)
    np.testing.assert_allclose(ours.transform(x), theirs.transform(x), atol=1e-7)
    np.testing.assert_allclose(ours.inverse_transform(ours.transform(x)),
                               theirs.inverse_transform(theirs.transform(x)), atol=1e-7)


def test_pca_on_sparse_input_centers_implicitly(rng):
    sp = pytest.importorskip("scipy.sparse")
    x = sp.random(150, 40, density=0.2, random_state=3, format="csr")
    ours = linops.PCA(5, random_state=0).fit(x)
    dense = x.toarray()
    on_dense = linops.PCA(5, random_state=0).fit(dense)
    np.testing.assert_allclose(ours.singular_values_, on_dense.singular_values_, rtol=1e-10)
    np.testing.assert_allclose(ours.components_, on_dense.components_, atol=1e-8)
    centered = dense - dense.mean(axis=0)
    exact = np.linalg.svd(centered, compute_uv=False)[:5]
    # Rayleigh–Ritz values of the centered matrix: at most the true ones, within 1 % here.
    s = ours.singular_values_
    assert np.all(s <= exact * (1 + 1e-12)) and np.all(s >= 0.99 * exact)
    np.testing.assert_allclose(ours.transform(x), centered @ ours.components_.T, atol=1e-10)


def test_pca_bad_n_components(rng):
    x = rng.standard_normal((20, 10))
    with pytest.raises(ValueError, match="n_components"):
        linops.PCA(11).fit(x)
    with pytest.raises(ValueError, match="n_components"):
        linops.PCA(0.5).fit(x)


@pytest.mark.parametrize(
    "cls",
    [linops.GaussianRandomProjection, linops.SparseRandomProjection, linops.SparseSignProjection],
)
def test_random_projection_is_x_times_components_t(rng, cls):
    x = rng.standard_normal((50, 200))
    p = cls(20, random_state=1).fit(x)
    y = p.transform(x)
    assert y.shape == (50, 20)
    np.testing.assert_allclose(y, x @ p.components_.T, rtol=1e-10, atol=1e-10)
    # E‖Sx‖² = ‖x‖²: the mean squared-norm ratio over 50 rows is near 1.
    ratio = np.mean(np.sum(y**2, axis=1) / np.sum(x**2, axis=1))
    assert 0.6 < ratio < 1.4
    sp = pytest.importorskip("scipy.sparse")
    xs = sp.random(30, 200, density=0.1, random_state=4, format="csr")
    np.testing.assert_allclose(p.transform(xs), xs @ p.components_.T, atol=1e-12)


def test_random_projection_auto_dimension(rng):
    from sklearn.random_projection import johnson_lindenstrauss_min_dim

    assert linops.johnson_lindenstrauss_min_dim(1000, 0.5) == johnson_lindenstrauss_min_dim(
        1000, eps=0.5
    )
    p = linops.GaussianRandomProjection(eps=0.5, random_state=0).fit(rng.standard_normal((100, 500)))
    assert p.n_components_ == johnson_lindenstrauss_min_dim(100, eps=0.5)
    with pytest.raises(ValueError, match="n_features"):
        linops.GaussianRandomProjection(eps=0.1).fit(rng.standard_normal((100, 50)))
