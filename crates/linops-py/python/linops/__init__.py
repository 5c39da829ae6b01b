"""linops: structured and randomized linear algebra on a Rust engine (faer on the CPU, wgpu on
the GPU), from NumPy, SciPy and Dask.

>>> import numpy as np, linops
>>> A = np.random.default_rng(0).standard_normal((200, 80))
>>> U, s, Vt = linops.randomized_svd(A, 5, random_state=0)
>>> U.shape, s.shape, Vt.shape
((200, 5), (5,), (5, 80))
"""

from . import _linops
from ._linops import Op, __version__
from ._sketch import sketch
from ._solvers import hutchpp, lstsq, nystrom_pcg, polar
from ._svd import randomized_svd, svd_lowrank
from .estimators import (
    PCA,
    GaussianRandomProjection,
    SparseRandomProjection,
    SparseSignProjection,
    TruncatedSVD,
    johnson_lindenstrauss_min_dim,
)


def aslinearoperator(op, backend="auto"):
    """A ``scipy.sparse.linalg.LinearOperator`` applying the ``linops.Op`` ``op`` (float64).

    (SciPy's own ``aslinearoperator(op)`` and its solvers accept an ``Op`` directly too: it has
    ``shape``, ``dtype``, ``matvec``, ``rmatvec``, ``matmat`` and ``rmatmat``.)
    """
    from scipy.sparse.linalg import LinearOperator

    if not isinstance(op, Op):
        raise TypeError(f"op must be a linops.Op, got {type(op).__name__}")
    return LinearOperator(
        op.shape,
        matvec=lambda x: op.matvec(x, backend=backend),
        rmatvec=lambda x: op.rmatvec(x, backend=backend),
        matmat=lambda X: op.matmat(X, backend=backend),
        rmatmat=lambda X: op.rmatmat(X, backend=backend),
        dtype=float,
    )


def backend_info(backend="auto", dtype="float64"):
    """``(engine, device)`` that ``backend`` resolves to for work in ``dtype``."""
    return _linops.backend_info(backend, dtype)


__all__ = [
    "Op",
    "PCA",
    "GaussianRandomProjection",
    "SparseRandomProjection",
    "SparseSignProjection",
    "TruncatedSVD",
    "__version__",
    "aslinearoperator",
    "backend_info",
    "hutchpp",
    "johnson_lindenstrauss_min_dim",
    "lstsq",
    "nystrom_pcg",
    "polar",
    "randomized_svd",
    "sketch",
    "svd_lowrank",
]
