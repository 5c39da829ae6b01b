"""linops across machines on Dask: sketches and a randomized SVD of a ``dask.array`` chunked by
rows, with linops kernels on the workers.

**Sketch.** ``S·A = Σ_k S[:, r_k : r_k + b_k]·A_k`` over the row blocks ``A_k`` at row offsets
``r_k``. Every supported family generates column ``j`` of ``S`` from ``(seed, j)`` alone (the
Philox counter layout of ``linops::stream``), so each worker generates just its columns, bit for
bit those of the whole ``S``, and the ``d×n`` partial sketches are added in a tree
(``split_every`` at a time). For the sparse families (``"sparse_sign"``, ``"very_sparse"``) the
sums are reproducible by default: a max-reduction gives every worker the column bounds
``max_r |A[r, c]|``, each contribution is rounded to a grid on which every partial sum is exact
(``docs/python.md``), so the result equals ``linops.sketch(a, kind, dim, seed,
reproducible=True)`` of the whole matrix bit for bit, whatever the chunks and the tree.

**Randomized SVD.** HMT Alg. 4.4 (subspace iteration with a QR after every product) over row
blocks, as one task graph: per pass, each block computes ``Y_k = A_k·Z`` and its QR
``Y_k = Q_k·R_k`` (one task), the ``R_k`` are stacked and factored on one node
(``[R_1; …; R_p] = P·R``, a one-level tree QR, so ``Q = diag(Q_k)·P``), each block computes
``A_kᵀ·Q_k·P_k`` (one task) and these ``n×l`` partials are added in a tree; the next ``Z`` is
the QR of that sum (on one node), and after the last pass the sum is ``Bᵀ = Aᵀ·Q``, whose small
SVD is taken on one node; ``U = Q·Û`` stays a row-chunked dask array. The products read each
block in place (``linops._linops.block_matmul``: faer's GEMM on a borrowed view of the NumPy
buffer, GIL released), so nothing is copied per pass.
"""

import os

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


def _partial_reproducible(block, r0, kind, d, m, seed, nnz, density, max_abs):
    return _linops.reproducible_sketch_block(
        kind, d, m, seed, r0, _f64(block), _f64(max_abs.reshape(-1)), nnz=nnz, density=density
    )


def sketch(A, kind, dim, seed, *, nnz=8, density=None, reproducible=None, split_every=4):
    """The ``dim×n`` sketch ``S·A`` of a row-chunked ``dask.array`` ``A`` (``m×n``), as a
    (lazy) ``dask.array`` of one chunk.

    ``kind``: ``"gaussian"``, ``"rademacher"``, ``"sparse_sign"`` (``nnz`` nonzeros per column)
    or ``"very_sparse"`` (density ``1/√m`` unless given). The same ``S`` as
    ``linops.sketch(a, kind, dim, seed)`` on the whole matrix.

    ``reproducible`` (default: on for the sparse families, which are the ones it supports):
    round every contribution on a per-column grid from ``max |A[:, c]|`` (one extra
    max-reduction over ``A``) so that the tree sum is exact; the result then equals
    ``linops.sketch(a, kind, dim, seed, nnz=nnz, density=density, reproducible=True)`` bit for
    bit. Off, the result equals the single-machine ``S @ A`` up to the order of the additions.
    """
    import dask.array as da
    from dask import delayed

    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {_KINDS}, got {kind!r}")
    A = _row_chunked(A)
    d = check_int(dim, "dim", 1)
    seed = check_int(seed, "seed", 0)
    split_every = check_int(split_every, "split_every", 2)
    sparse = kind in ("sparse_sign", "very_sparse")
    if reproducible is None:
        reproducible = sparse
    if reproducible and not sparse:
        raise ValueError(
            f"reproducible=True needs a sparse family ('sparse_sign' or 'very_sparse'), got "
            f"kind {kind!r}"
        )
    m, n = A.shape
    if m == 0 or n == 0:
        raise ValueError(f"A must not be empty, got shape {A.shape}")
    # Validate the whole sketch once on the client (a bad dim or nnz fails here, not on a worker).
    _linops.sketch_columns(kind, d, m, seed, 0, 1, nnz=nnz, density=density)
    if reproducible:
        # max is exact, so any reduction tree gives every worker the same bounds.
        (max_abs,) = da.absolute(A).max(axis=0, split_every=split_every).to_delayed()
        parts = [
            delayed(_partial_reproducible)(blk, r0, kind, d, m, seed, nnz, density, max_abs)
            for blk, r0 in _row_blocks(A)
        ]
    else:
        parts = [
            delayed(_partial_sketch)(blk, r0, kind, d, m, seed, nnz, density)
            for blk, r0 in _row_blocks(A)
        ]
    return da.from_delayed(_tree_sum(parts, split_every), shape=(d, n), dtype=np.float64)


def _threads():
    """Threads for linops on a worker: ``RAYON_NUM_THREADS``, else ``OMP_NUM_THREADS`` (which
    Dask's nanny sets to 1 in every worker process, as for NumPy's BLAS), else rayon's pool."""
    for var in ("RAYON_NUM_THREADS", "OMP_NUM_THREADS"):
        v = os.environ.get(var, "")
        if v.isdigit():
            return int(v)
    return 0


def _local_qr(block, z):
    """``(Q_k, R_k)``: the QR of ``Y_k = A_k·Z`` for one row block."""
    y = _linops.block_matmul(_f64(block), _f64(z), threads=_threads())
    return np.linalg.qr(y)


def _stacked_qr(*rs):
    """The one-level tree QR: ``[R_1; …; R_p] = P·R``; returns the pieces ``P_k`` (``l×l``)."""
    p, _ = np.linalg.qr(np.vstack(rs))
    offsets = np.cumsum([0] + [r.shape[0] for r in rs])
    return [p[offsets[i] : offsets[i + 1]] for i in range(len(rs))]


def _t_times_q(block, qr, piece):
    """``A_kᵀ·(Q_k·P_k)`` (``n×l``), block ``k``'s share of ``Aᵀ·Q``."""
    q = _f64(qr[0] @ piece)
    return _linops.block_matmul(_f64(block), q, transpose=True, threads=_threads())


def _orthonormal(w):
    """The next ``Z``: the Q factor of ``W = Aᵀ·Q`` (``n×l``)."""
    return np.linalg.qr(w)[0]


def _small_svd(bt, k):
    """``(s, Vt, Û)`` from ``Bᵀ = Aᵀ·Q = W·Σ·Xᵀ``: ``B = X·Σ·Wᵀ``, so ``U = Q·X`` and ``V = W``;
    signs: the largest-magnitude entry of each row of ``Vt`` is positive."""
    w, s, xt = np.linalg.svd(bt, full_matrices=False)
    uhat = xt.T[:, :k].copy()
    vt = w[:, :k].T.copy()
    signs = np.sign(vt[np.arange(k), np.argmax(np.abs(vt), axis=1)])
    signs[signs == 0] = 1.0
    uhat *= signs[np.newaxis, :]
    vt *= signs[:, np.newaxis]
    return s[:k].copy(), vt, uhat


def _u_block(qr, piece, uhat):
    """``U_k = Q_k·(P_k·Û)``."""
    return qr[0] @ (piece @ uhat)


def randomized_svd(A, k, n_oversamples=10, n_iter=2, *, random_state=None, split_every=4):
    """Rank-``k`` randomized SVD of a row-chunked ``dask.array`` ``A`` (``m×n``) with
    ``l = k + n_oversamples`` columns and ``n_iter`` power iterations: ``(U, s, Vt)``.

    ``U`` (``m×k``) comes back as a row-chunked dask array (persisted on the workers), ``s`` and
    ``Vt`` as NumPy arrays. The test matrix ``Ω`` is linops' Gaussian sketch from the seed
    (``random_state`` as in scikit-learn). The whole computation is one task graph (module
    docs): ``2·(n_iter + 1)`` passes over ``A``, each block read in place.
    """
    import dask
    import dask.array as da
    from dask import delayed

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
    blocks = list(A.to_delayed()[:, 0])
    z = delayed(omega)
    for it in range(q + 1):
        qrs = [delayed(_local_qr, pure=True)(b, z) for b in blocks]
        # Only the l×l R_k travel to the stacked QR (the getitem runs where Q_k lives), and
        # only P_k back to block k; the Q_k stay on their workers, next to A_k.
        pieces = delayed(_stacked_qr, pure=True, nout=len(qrs))(*[qr[1] for qr in qrs])
        parts = [
            delayed(_t_times_q, pure=True)(b, qr, pieces[i])
            for i, (b, qr) in enumerate(zip(blocks, qrs))
        ]
        w = _tree_sum(parts, split_every)  # Aᵀ·Q, n×l
        if it < q:
            z = delayed(_orthonormal, pure=True)(w)
    svd = delayed(_small_svd, pure=True, nout=3)(w, k)
    U = da.concatenate(
        [
            da.from_delayed(delayed(_u_block, pure=True)(qr, pieces[i], svd[2]), shape=(b, k),
                            dtype=np.float64)
            for i, (qr, b) in enumerate(zip(qrs, A.chunks[0]))
        ]
    )
    U, svd = dask.persist(U, svd)
    s, Vt, _ = svd.compute()
    return U, s, Vt
