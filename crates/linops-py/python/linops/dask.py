"""linops across machines on Dask: sketches and a randomized SVD of a ``dask.array`` chunked by
rows, with linops kernels on the workers.

**Sketch.** ``S·A = Σ_k S[:, r_k : r_k + b_k]·A_k`` over the row blocks ``A_k`` at row offsets
``r_k``. Every supported family generates column ``j`` of ``S`` from ``(seed, j)`` alone (the
Philox counter layout of ``linops::stream``), so each worker generates just its columns, bit for
bit those of the whole ``S``, and the ``d×n`` partial sketches are added in a tree
(``split_every`` at a time).

**Randomized SVD.** HMT Alg. 4.4/5.1 over row blocks: ``Y = A·Ω`` block by block (linops
``Op.dense(A_k).matmat(Ω)`` on the workers), a tree QR of ``Y`` (``dask.array.linalg.tsqr``),
``q`` power passes ``Z = Aᵀ·Q`` (partial products ``A_kᵀ·Q_k`` added in a tree, then a QR on
one node) and ``Y = A·Z``, the projection ``Bᵀ = Aᵀ·Q`` the same way, and the small SVD of the
``l×n`` matrix ``B`` on one node; ``U = Q·Û`` stays a row-chunked dask array.
"""

import numpy as np

from . import _linops
from ._inputs import check_int, seed_from

_KINDS = ("gaussian", "rademacher", "sparse_sign", "very_sparse")


def _row_chunked(A, name="A"):
    import dask.array as da

    if not isinstance(A, da.Array):
        raise TypeError(f"{name} must be a dask.array.Array, got {type(A).__name__}")
    if A.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got shape {A.shape}")
    if np.issubdtype(A.dtype, np.complexfloating) or A.dtype == object:
        raise TypeError(f"{name} must hold real numbers, got dtype {A.dtype}")
    if len(A.chunks[1]) != 1:
        A = A.rechunk({1: -1})
    return A


def _f64(block):
    # Blocks shipped between processes may arrive unaligned (unpickled from a byte stream):
    # np.require copies exactly then.
    return np.require(block, dtype=np.float64, requirements="A")


def _partial_sketch(block, r0, kind, d, m, seed, nnz, density):
    return _linops.sketch_block(
        kind, d, m, seed, r0, _f64(block), nnz=nnz, density=density, backend="cpu"
    )


def _add(*parts):
    out = parts[0].copy()
    for p in parts[1:]:
        out += p
    return out


def _tree_sum(parts, split_every):
    """Adds delayed ``d×n`` partials in a tree, ``split_every`` at a time (the tree of
    ``dask.array.reduction``), so no node receives more than ``split_every`` of them."""
    from dask import delayed

    while len(parts) > 1:
        parts = [
            delayed(_add)(*parts[i : i + split_every]) for i in range(0, len(parts), split_every)
        ]
    return parts[0]


def _row_blocks(A):
    """``(delayed row block, row offset)`` for every row chunk of a one-column-chunk array."""
    offsets = np.cumsum((0,) + A.chunks[0][:-1])
    return list(zip(A.to_delayed()[:, 0], (int(o) for o in offsets)))


def sketch(A, kind, dim, seed, *, nnz=8, density=None, split_every=4):
    """The ``dim×n`` sketch ``S·A`` of a row-chunked ``dask.array`` ``A`` (``m×n``), as a
    (lazy) ``dask.array`` of one chunk.

    ``kind``: ``"gaussian"``, ``"rademacher"``, ``"sparse_sign"`` (``nnz`` nonzeros per column)
    or ``"very_sparse"`` (density ``1/√m`` unless given). The same ``S`` as
    ``linops.Op.gaussian_sketch(dim, m, seed)`` (resp. ``rademacher_sketch``, ``sparse_sign``,
    ``very_sparse_projection``), so the result equals the single-machine ``S @ A`` up to the
    order of the additions (bit for bit where the sums are exact).
    """
    import dask.array as da

    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {_KINDS}, got {kind!r}")
    A = _row_chunked(A)
    d = check_int(dim, "dim", 1)
    seed = check_int(seed, "seed", 0)
    split_every = check_int(split_every, "split_every", 2)
    m, n = A.shape
    if m == 0 or n == 0:
        raise ValueError(f"A must not be empty, got shape {A.shape}")
    # Validate the whole sketch once on the client (a bad dim or nnz fails here, not on a worker).
    _linops.sketch_columns(kind, d, m, seed, 0, 1, nnz=nnz, density=density)
    from dask import delayed

    parts = [
        delayed(_partial_sketch)(blk, r0, kind, d, m, seed, nnz, density)
        for blk, r0 in _row_blocks(A)
    ]
    return da.from_delayed(_tree_sum(parts, split_every), shape=(d, n), dtype=np.float64)


def _times(block, omega):
    return _linops.Op.dense(_f64(block)).matmat(_f64(omega), backend="cpu")


def _t_times(block, q):
    return _linops.Op.dense(_f64(block)).T.matmat(_f64(q), backend="cpu")


def _tree_t_times(A, Q, split_every):
    """``Aᵀ·Q`` (``n×l``) as a tree sum of the workers' ``A_kᵀ·Q_k`` (``Q`` chunked like ``A``)."""
    import dask.array as da
    from dask import delayed

    Q = Q.rechunk((A.chunks[0], Q.shape[1]))
    parts = [
        delayed(_t_times)(a, q) for a, q in zip(A.to_delayed()[:, 0], Q.to_delayed()[:, 0])
    ]
    n, l = A.shape[1], Q.shape[1]
    return da.from_delayed(_tree_sum(parts, split_every), shape=(n, l), dtype=np.float64)


def randomized_svd(A, k, n_oversamples=10, n_iter=2, *, random_state=None, split_every=4):
    """Rank-``k`` randomized SVD of a row-chunked ``dask.array`` ``A`` (``m×n``) with
    ``l = k + n_oversamples`` columns and ``n_iter`` power iterations: ``(U, s, Vt)``.

    ``U`` (``m×k``) comes back as a row-chunked dask array (persisted on the workers), ``s`` and
    ``Vt`` as NumPy arrays. The test matrix ``Ω`` is linops'
    Gaussian sketch from the seed (``random_state`` as in scikit-learn).
    """
    import dask
    import dask.array as da

    A = _row_chunked(A)
    m, n = A.shape
    k = check_int(k, "k", 1)
    p = check_int(n_oversamples, "n_oversamples", 0)
    q = check_int(n_iter, "n_iter", 0)
    split_every = check_int(split_every, "split_every", 2)
    l = k + p
    if l > min(m, n):
        raise ValueError(
            f"k + n_oversamples = {k} + {p} = {l} must not exceed min(m, n) = {min(m, n)} for "
            f"A of shape {A.shape}"
        )
    for c in A.chunks[0]:
        if c < l:
            raise ValueError(
                f"every row chunk of A needs at least k + n_oversamples = {l} rows for the "
                f"tree QR, got a chunk of {c} rows (rechunk A)"
            )
    seed = seed_from(random_state)
    omega = _linops.Op.gaussian_sketch(n, l, seed).to_dense() * np.sqrt(n)  # n×l, N(0, 1)
    Y = A.map_blocks(_times, omega, chunks=(A.chunks[0], (l,)), dtype=np.float64,
                     meta=np.empty((0, 0), dtype=np.float64))
    Q, _ = da.linalg.tsqr(Y)
    (Q,) = dask.persist(Q)
    for _ in range(q):
        # Z = Aᵀ·Q: a tree sum of the workers' A_kᵀ·Q_k; its QR (n×l) on one node.
        Z, _ = np.linalg.qr(_tree_t_times(A, Q, split_every).compute())
        Y = A.map_blocks(_times, Z, chunks=(A.chunks[0], (l,)), dtype=np.float64,
                         meta=np.empty((0, 0), dtype=np.float64))
        Q, _ = da.linalg.tsqr(Y)
        (Q,) = dask.persist(Q)
    Bt = _tree_t_times(A, Q, split_every).compute()  # n×l = (Qᵀ·A)ᵀ
    # Small SVD on one node: Bᵀ = W·Σ·Xᵀ, so B = Qᵀ·A = X·Σ·Wᵀ, U = Q·X and V = W.
    W, s, Xt = np.linalg.svd(Bt, full_matrices=False)
    uhat = Xt.T[:, :k].copy()
    Vt = W[:, :k].T.copy()
    # Deterministic signs: the largest-magnitude entry of each row of Vt is positive.
    signs = np.sign(Vt[np.arange(k), np.argmax(np.abs(Vt), axis=1)])
    signs[signs == 0] = 1.0
    uhat *= signs[np.newaxis, :]
    Vt *= signs[:, np.newaxis]
    U = Q.map_blocks(lambda qb: np.asarray(qb) @ uhat, chunks=(Q.chunks[0], (k,)),
                     dtype=np.float64)
    (U,) = dask.persist(U)
    return U, s[:k].copy(), Vt
