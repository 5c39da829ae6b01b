"""lstsq, nystrom_pcg, hutchpp and polar against direct NumPy answers."""

import numpy as np
import pytest

import linops


def test_lstsq_matches_numpy(rng):
    a = rng.standard_normal((400, 30))
    b = rng.standard_normal(400)
    x, info = linops.lstsq(a, b, random_state=0, return_info=True)
    ref = np.linalg.lstsq(a, b, rcond=None)[0]
    # Well conditioned (κ ≈ 1.7): forward error of a backward-stable solve ≲ κ²·u·‖b‖ scale.
    np.testing.assert_allclose(x, ref, atol=1e-10)
    assert info["converged"] and info["method"] == "sketch_and_precondition"


def test_lstsq_bad_b(rng):
    with pytest.raises(ValueError, match="400 entries"):
        linops.lstsq(rng.standard_normal((400, 3)), np.ones(5))


def test_nystrom_pcg_solves_regularized_psd(rng):
    n = 200
    g = rng.standard_normal((n, 40))
    a = g @ g.T  # PSD, rank 40
    b = rng.standard_normal(n)
    mu = 1e-2
    x, info = linops.nystrom_pcg(a, b, mu, rank=40, tol=1e-10, random_state=0, return_info=True)
    ref = np.linalg.solve(a + mu * np.eye(n), b)
    assert info["converged"] and info["true_residual"] < 1e-9
    np.testing.assert_allclose(x, ref, rtol=1e-6, atol=1e-6 * np.abs(ref).max())
    with pytest.raises(ValueError):
        linops.nystrom_pcg(rng.standard_normal((5, 4)), np.ones(5), 1.0)


def test_hutchpp_estimates_the_trace(rng):
    d = 1.0 / np.arange(1, 301) ** 2
    q, _ = np.linalg.qr(rng.standard_normal((300, 300)))
    a = (q * d) @ q.T
    est, info = linops.hutchpp(a, 90, random_state=0, return_info=True)
    # Hutch++ on a fast-decaying spectrum: error a few standard errors at most.
    assert abs(est - d.sum()) <= max(5 * info["std_error"], 1e-3 * d.sum())
    with pytest.raises(ValueError):
        linops.hutchpp(rng.standard_normal((5, 4)))


def test_polar_factor(rng):
    a = rng.standard_normal((60, 20))
    x, info = linops.polar(a, return_info=True)
    u, _, vt = np.linalg.svd(a, full_matrices=False)
    np.testing.assert_allclose(x, u @ vt, atol=1e-10)
    assert info["converged"]
    with pytest.raises(ValueError, match="m >= n"):
        linops.polar(a.T)
    with pytest.raises(ValueError, match="kind"):
        linops.polar(a, kind="septic")
