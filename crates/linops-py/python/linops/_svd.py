"""Randomized SVD with scikit-learn's and PyTorch's signatures."""

import numpy as np

from . import _linops
from ._inputs import as_op, check_backend, check_int, seed_from

_NORMALIZERS = ("auto", "QR", "LU", "none")


def _flip_by_u(U, Vt):
    """Signs so that the largest-magnitude entry of each column of ``U`` is positive (the
    convention of scikit-learn's ``randomized_svd(..., flip_sign=True)``, whichever way the
    problem was transposed)."""
    rows = np.argmax(np.abs(U), axis=0)
    signs = np.sign(U[rows, np.arange(U.shape[1])])
    signs[signs == 0] = 1.0
    U *= signs[np.newaxis, :]
    Vt *= signs[:, np.newaxis]
    return U, Vt


def randomized_svd(
    M,
    n_components,
    *,
    n_oversamples=10,
    n_iter="auto",
    power_iteration_normalizer="auto",
    transpose="auto",
    flip_sign=True,
    random_state=None,
    svd_lapack_driver="gesdd",
    backend="auto",
):
    """Truncated randomized SVD ``M ≈ U·diag(s)·Vt``; the signature of
    ``sklearn.utils.extmath.randomized_svd``, computed by linops (HMT 2011, Alg. 5.1).

    ``M`` is a NumPy array (float32 results for float32 input, else float64), a SciPy sparse
    matrix or a ``linops.Op``. ``n_iter="auto"`` is 7 when ``n_components < 0.1·min(M.shape)``
    and 4 otherwise, as in scikit-learn. linops re-orthonormalizes after every application of
    ``M`` or ``Mᵀ`` (CholeskyQR2 with a Householder fallback), whatever
    ``power_iteration_normalizer`` says; the small SVD runs in faer, whatever
    ``svd_lapack_driver`` says (both are validated and accepted for drop-in use). When
    ``n_components + n_oversamples`` exceeds ``min(M.shape)`` the oversampling is reduced to fit.

    Returns ``(U, s, Vt)`` with ``U`` ``m×k``, ``s`` of length ``k`` (nonincreasing) and ``Vt``
    ``k×n``.

    Raises ``ValueError`` for bad sizes or parameters (linops' message), ``TypeError`` for
    non-numeric input.
    """
    check_backend(backend)
    k = check_int(n_components, "n_components", 1)
    p = check_int(n_oversamples, "n_oversamples", 0)
    if power_iteration_normalizer not in _NORMALIZERS:
        raise ValueError(
            f"power_iteration_normalizer must be one of {_NORMALIZERS}, got "
            f"{power_iteration_normalizer!r}"
        )
    if svd_lapack_driver not in ("gesdd", "gesvd"):
        raise ValueError(f"svd_lapack_driver must be 'gesdd' or 'gesvd', got {svd_lapack_driver!r}")
    op, dtype = as_op(M, "M")
    m, n = op.shape
    if n_iter == "auto":
        q = 7 if k < 0.1 * min(m, n) else 4
    else:
        q = check_int(n_iter, "n_iter", 0)
    if transpose == "auto":
        transpose = m < n
    elif not isinstance(transpose, (bool, np.bool_)):
        raise TypeError(f"transpose must be 'auto' or a bool, got {transpose!r}")
    p = max(0, min(p, min(m, n) - k))
    seed = seed_from(random_state)
    work = op.T if transpose else op
    U, s, V, _ = _linops.randomized_svd(
        work, k, oversample=p, power_iters=q, seed=seed, probes=0, backend=backend, dtype=dtype
    )
    if transpose:
        U, V = V, U
    Vt = V.T
    s = s.astype(U.dtype, copy=False)
    if flip_sign:
        U, Vt = _flip_by_u(U, Vt)
    return U, s, Vt


def svd_lowrank(A, q=6, niter=2, M=None, *, seed=None, backend="auto"):
    """Rank-``q`` randomized SVD with PyTorch's ``torch.svd_lowrank`` signature:
    ``A - M ≈ U·diag(S)·Vᵀ``, returning ``(U, S, V)`` (``V``, not ``Vᵀ``), ``niter`` subspace
    iterations and no oversampling (``q`` is already the overestimated rank, as in PyTorch).

    ``M`` (optional) is subtracted implicitly: linops applies ``A − M`` as a sum of operators and
    never forms it.
    """
    check_backend(backend)
    q = check_int(q, "q", 1)
    niter = check_int(niter, "niter", 0)
    op, dtype = as_op(A, "A")
    if M is not None:
        mop, _ = as_op(M, "M")
        if mop.shape != op.shape:
            raise ValueError(f"M must have the shape of A {op.shape}, got {mop.shape}")
        op = _linops.Op.sum([op, mop.scaled(-1.0)])
    U, S, V, _ = _linops.randomized_svd(
        op, q, oversample=0, power_iters=niter, seed=seed_from(seed, "seed"), probes=0,
        backend=backend, dtype=dtype,
    )
    return U, S.astype(U.dtype, copy=False), V
