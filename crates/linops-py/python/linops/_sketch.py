"""``linops.sketch``: the sketch ``S·A`` of a NumPy matrix by a linops sketching family, on one
machine (the single-machine counterpart of ``linops.dask.sketch``)."""

import numpy as np

from . import _linops
from ._inputs import as_float_array, check_backend, check_int

_KINDS = ("gaussian", "rademacher", "sparse_sign", "very_sparse")
_SPARSE = ("sparse_sign", "very_sparse")


def _operator(kind, d, m, seed, nnz, density):
    if kind == "gaussian":
        return _linops.Op.gaussian_sketch(d, m, seed)
    if kind == "rademacher":
        return _linops.Op.rademacher_sketch(d, m, seed)
    if kind == "sparse_sign":
        return _linops.Op.sparse_sign(d, m, nnz, seed)
    return _linops.Op.very_sparse_projection(d, m, seed, density=density)


def sketch(A, kind, dim, seed, *, nnz=8, density=None, reproducible=False, backend="auto"):
    """The ``dim×n`` sketch ``S·A`` of an ``m×n`` array ``A``, ``S`` the ``dim×m`` sketch
    ``kind`` from ``seed`` (float64; float32 for float32 ``A`` unless ``reproducible``).

    ``kind``: ``"gaussian"``, ``"rademacher"``, ``"sparse_sign"`` (``nnz`` nonzeros per column,
    entries ``±1/√nnz``) or ``"very_sparse"`` (density ``1/√m`` unless given). ``S`` is the
    operator ``linops.Op.gaussian_sketch(dim, m, seed)`` (resp. ``rademacher_sketch``,
    ``sparse_sign``, ``very_sparse_projection``).

    ``reproducible=True`` (sparse families only; CPU): every contribution ``±scale·a_rc`` is
    rounded to a per-column grid from ``max_r |a_rc|`` on which all partial sums are exact
    (one fold of Demmel–Nguyen pre-rounding; error bound in ``docs/python.md``), so the result
    does not depend on the order of the additions: ``linops.dask.sketch`` of the same matrix in
    any chunks gives the same bits. It needs finite data (``ValueError`` otherwise).

    >>> import numpy as np, linops
    >>> a = np.random.default_rng(0).standard_normal((1000, 5))
    >>> y = linops.sketch(a, "sparse_sign", 64, seed=1, reproducible=True)
    >>> y.shape
    (64, 5)
    >>> bool(np.allclose(y, linops.sketch(a, "sparse_sign", 64, seed=1), atol=1e-9))
    True
    """
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {_KINDS}, got {kind!r}")
    check_backend(backend)
    d = check_int(dim, "dim", 1)
    seed = check_int(seed, "seed", 0)
    a = as_float_array(A, "A")
    m, n = a.shape
    if m == 0 or n == 0:
        raise ValueError(f"A must not be empty, got shape {a.shape}")
    if not reproducible:
        return _operator(kind, d, m, seed, nnz, density).matmat(a, backend=backend)
    if kind not in _SPARSE:
        raise ValueError(
            f"reproducible=True needs a sparse family ('sparse_sign' or 'very_sparse'), got "
            f"kind {kind!r}"
        )
    if backend == "gpu":
        raise ValueError("reproducible=True runs on the CPU; got backend='gpu'")
    a = np.require(a, dtype=np.float64, requirements="A")
    return _linops.reproducible_sketch_block(kind, d, m, seed, 0, a, nnz=nnz, density=density)
