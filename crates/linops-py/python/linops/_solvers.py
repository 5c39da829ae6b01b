"""Least squares, Nyström-preconditioned CG, Hutch++ and the polar factor."""

import numpy as np

from . import _linops
from ._inputs import as_float_array, as_op, check_backend, check_int, seed_from


def _vector(b, n, name="b"):
    b = as_float_array(b, name, ndim=1).astype(np.float64, copy=False)
    if b.shape[0] != n:
        raise ValueError(f"{name} must have {n} entries (the rows of A), got {b.shape[0]}")
    return b


def lstsq(
    A,
    b,
    *,
    sketch_factor=None,
    tol=1e-15,
    max_iter=100,
    refine=10,
    random_state=None,
    backend="auto",
    return_info=False,
):
    """``argmin_x ‖A·x − b‖₂`` by sketch-and-precondition (Blendenpik/LSRN: a sparse sign sketch of
    ``sketch_factor·n`` rows, the QR of ``S·A`` as preconditioner, then LSQR in float64 or, for a
    dense matrix, conjugate gradients with double-double refinement). ``sketch_factor=None`` lets
    the library pick it (8, or up to 64 for a tall dense matrix: ``auto_sketch_factor``).

    Returns ``x`` (float64), or ``(x, info)`` with ``info`` a dict of ``iterations``,
    ``converged``, ``residual_norm`` and ``method`` when ``return_info`` is true.
    """
    check_backend(backend)
    op, _ = as_op(A, "A")
    b = _vector(b, op.shape[0])
    x, it, conv, res, method = _linops.lstsq(
        op, b, sketch_factor=None if sketch_factor is None else float(sketch_factor), seed=seed_from(random_state), tol=float(tol),
        max_iter=check_int(max_iter, "max_iter", 1), refine=check_int(refine, "refine", 0),
        backend=backend,
    )
    info = {"iterations": it, "converged": conv, "residual_norm": res, "method": method}
    return (x, info) if return_info else x


def nystrom_pcg(
    A,
    b,
    mu=0.0,
    *,
    rank=20,
    oversample=10,
    tol=1e-8,
    max_iter=500,
    random_state=None,
    backend="auto",
    dtype=None,
    return_info=False,
):
    """Solves ``(A + μ·I)·x = b`` for a PSD ``A`` by conjugate gradients preconditioned with a
    rank-``rank`` randomized Nyström approximation (Frangella, Tropp and Udell 2023);
    ``rank=0`` runs plain CG. ``dtype`` (``"float32"``/``"float64"``) is the precision ``A`` is
    applied in (default: the input's).

    Returns ``x``, or ``(x, info)`` with ``iterations``, ``converged`` and ``true_residual``
    (``‖b − (A + μI)x‖/‖b‖``).
    """
    check_backend(backend)
    op, in_dtype = as_op(A, "A")
    b = _vector(b, op.shape[0])
    x, it, conv, res = _linops.nystrom_pcg(
        op, b, float(mu), rank=check_int(rank, "rank", 0),
        oversample=check_int(oversample, "oversample", 0), seed=seed_from(random_state),
        tol=float(tol), max_iter=check_int(max_iter, "max_iter", 1), backend=backend,
        dtype=dtype or in_dtype,
    )
    info = {"iterations": it, "converged": conv, "true_residual": res}
    return (x, info) if return_info else x


def hutchpp(A, matvecs=30, *, random_state=None, backend="auto", dtype=None, return_info=False):
    """Hutch++ estimate of ``tr(A)`` from ``matvecs`` products with ``A`` (Meyer, Musco, Musco and
    Woodruff 2021).

    Returns the estimate, or ``(estimate, info)`` with ``std_error`` and ``matvecs``.
    """
    check_backend(backend)
    op, in_dtype = as_op(A, "A")
    est, err, used = _linops.hutchpp(
        op, matvecs=check_int(matvecs, "matvecs", 1), seed=seed_from(random_state),
        backend=backend, dtype=dtype or in_dtype,
    )
    return (est, {"std_error": err, "matvecs": used}) if return_info else est


def polar(A, *, kind="cubic", tol=None, max_iter=None, backend="auto", dtype=None,
          return_info=False):
    """The orthogonal polar factor of an ``m×n`` ``A`` (``m ≥ n``) by Newton–Schulz
    (``kind="cubic"``), or Muon's quintic orthogonalization (``kind="quintic"``, 5 fixed steps).

    Returns ``X`` (``m×n``), or ``(X, info)`` with ``iterations``, ``converged`` and
    ``residual`` (``‖XᵀX − I‖_F``).
    """
    check_backend(backend)
    op, in_dtype = as_op(A, "A")
    if max_iter is not None:
        max_iter = check_int(max_iter, "max_iter", 1)
    X, it, conv, res = _linops.polar(
        op, kind=kind, tol=None if tol is None else float(tol), max_iter=max_iter,
        backend=backend, dtype=dtype or in_dtype,
    )
    info = {"iterations": it, "converged": conv, "residual": res}
    return (X, info) if return_info else X
