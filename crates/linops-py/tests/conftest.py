import os

import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def low_rank_matrix(rng, m, n, rank, decay=0.5, dtype=np.float64):
    """``U·diag(decay^i)·Vᵀ`` plus nothing: a matrix with a known, fast-decaying spectrum."""
    u, _ = np.linalg.qr(rng.standard_normal((m, rank)))
    v, _ = np.linalg.qr(rng.standard_normal((n, rank)))
    s = decay ** np.arange(rank)
    return (u * s) @ v.T, s


def gpu_required():
    return os.environ.get("LINOPS_REQUIRE_GPU") == "1"
