//! Folding permutation factors of a product into their neighbours, so they cost no pass.
//!
//! Let `op(P)` act by `(op(P)·X)[i, :] = X[idx[i], :]` (`idx` is the permutation's index array,
//! or its inverse when transposed). In a normalized product, adjacent factors are rewritten:
//!
//! - `op(P₁)·op(P₂)` → one permutation with `idx[i] = idx₂[idx₁[i]]` (one gather instead of two);
//! - `op(P)·M` with `M` dense (or a transposed dense) → the dense `M'` with `M'[i, :] = M[idx[i], :]`;
//! - `M·op(P)` → the dense `M'` with `M'[:, idx[i]] = M[:, i]`;
//! - the same two with `M` a CSR matrix (or its transpose) → the CSR `M'` with the same entries
//!   moved: `(r, c, v)` to `(idx⁻¹[r], c, v)`, or to `(r, idx[c], v)`. The CSR factors come from
//!   leaves the normalizer expanded ([`crate::LeafOp::rewrite`]: sparse sketches, samplers,
//!   butterflies), so a permutation next to such a leaf folds into its first or last factor
//!   and the product runs one `Spmm` instead of a `Gather` and an `Spmm`.
//!
//! The rewritten factor is built on the host once per pair of live parameters and cached
//! process-wide (keyed by the parameters' keys and orientation, dropped when either parameter
//! dies), so every later plan reuses the same parameter and backends keep their uploaded copy.
//! A factor storing more than 2²⁴ entries is left alone (the fold would copy it). Each fold counts
//! in [`super::Rewrites::permutations_folded`], which `explain()` prints.

use super::NormalForm;
use crate::op::{Csr, Dense, Permutation};
use crate::{HostMat, IndexParam, Op, Param, Result};
use std::sync::{Arc, Mutex, OnceLock, Weak};

/// Largest dense factor (entries) a permutation is folded into.
const MAX_FOLD_ENTRIES: usize = 1 << 24;

/// What a factor is, for folding.
enum Kind<'a> {
    /// A permutation with its effective index array parameter (`perm`, or `inv` when transposed).
    Perm(&'a IndexParam),
    /// A dense matrix, transposed or not.
    Dense(&'a Param, bool),
    /// A CSR matrix, transposed or not.
    Sparse(&'a Csr, bool),
    Other,
}

fn kind(n: &NormalForm) -> Kind<'_> {
    match n {
        NormalForm::Leaf {
            op: Op::Dense(d),
            transposed,
        } => Kind::Dense(d.param(), *transposed),
        NormalForm::Leaf { op, transposed } => {
            if let Some(p) = op.leaf_as::<Permutation>() {
                let (perm, inv) = p.params();
                Kind::Perm(if *transposed { inv } else { perm })
            } else if let Some(s) = op.leaf_as::<Csr>() {
                Kind::Sparse(s, *transposed)
            } else {
                Kind::Other
            }
        }
        _ => Kind::Other,
    }
}

fn indices(p: &IndexParam) -> Vec<usize> {
    p.indices().iter().map(|&v| v as usize).collect()
}

/// The dense matrix `op(M)` of a dense parameter.
fn dense_of(p: &Param, transposed: bool) -> HostMat {
    let (r, c) = (p.rows, p.cols);
    if transposed {
        HostMat::from_fn(c, r, |i, j| p.data[j + i * r])
    } else {
        HostMat::from_fn(r, c, |i, j| p.data[i + j * r])
    }
}

/// The entries `(row, col, value)` of `op(S)` and its shape.
fn csr_entries(s: &Csr, transposed: bool) -> (usize, usize, Vec<(usize, usize, f64)>) {
    let (rows, cols) = crate::LeafOp::shape(s);
    let (indptr, indices, values) = s.arrays();
    let mut entries = Vec::with_capacity(values.len());
    for r in 0..rows {
        for p in indptr[r]..indptr[r + 1] {
            entries.push(if transposed {
                (indices[p], r, values[p])
            } else {
                (r, indices[p], values[p])
            });
        }
    }
    if transposed {
        (cols, rows, entries)
    } else {
        (rows, cols, entries)
    }
}

/// The CSR leaf of `op(S)` with every entry `(r, c, v)` moved to `at(r, c)` (a permutation of
/// rows or of columns: no two entries land on one position, nothing is summed).
fn moved_csr(s: &Csr, transposed: bool, at: impl Fn(usize, usize) -> (usize, usize)) -> Result<Op> {
    let (rows, cols, entries) = csr_entries(s, transposed);
    let moved: Vec<(usize, usize, f64)> = entries
        .into_iter()
        .map(|(r, c, v)| {
            let (r, c) = at(r, c);
            (r, c, v)
        })
        .collect();
    Ok(Op::leaf(Csr::from_triplets(rows, cols, &moved)?))
}

/// The inverse of the permutation `idx`.
fn inverse(idx: &[usize]) -> Vec<usize> {
    let mut inv = vec![0usize; idx.len()];
    for (i, &k) in idx.iter().enumerate() {
        inv[k] = i;
    }
    inv
}

/// A weak reference to a parameter's storage: the cache entry dies with either parameter.
enum Live {
    Values(Weak<[f64]>),
    Indices(Weak<[u32]>),
}

impl Live {
    fn of_values(p: &Param) -> Live {
        Live::Values(Arc::downgrade(&p.data))
    }

    fn of_indices(p: &IndexParam) -> Live {
        Live::Indices(Arc::downgrade(p.shared()))
    }

    fn alive(&self) -> bool {
        match self {
            Live::Values(w) => w.strong_count() > 0,
            Live::Indices(w) => w.strong_count() > 0,
        }
    }
}

type FoldCache = Mutex<Vec<((u64, bool, u64, bool, u8), [Live; 2], Op)>>;

/// The folded factor for `(left, right)`, from the cache or built by `build`.
fn cached(
    key: (u64, bool, u64, bool, u8),
    live: [Live; 2],
    build: impl FnOnce() -> Result<Op>,
) -> Result<Op> {
    static CACHE: OnceLock<FoldCache> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(Vec::new()));
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    cache.retain(|(_, w, _)| w.iter().all(Live::alive));
    if let Some((_, _, op)) = cache.iter().find(|(k, _, _)| *k == key) {
        return Ok(op.clone());
    }
    let op = build()?;
    cache.push((key, live, op.clone()));
    Ok(op)
}

/// One fold of `a·b`, or `None` when the pair does not fold.
fn fold_pair(a: &NormalForm, b: &NormalForm) -> Result<Option<NormalForm>> {
    let leaf = |op: Op| NormalForm::Leaf {
        op,
        transposed: false,
    };
    Ok(match (kind(a), kind(b)) {
        (Kind::Perm(p1), Kind::Perm(p2)) => {
            let live = [Live::of_indices(p1), Live::of_indices(p2)];
            let op = cached((p1.key(), false, p2.key(), false, 0), live, || {
                let (i1, i2) = (indices(p1), indices(p2));
                Ok(Op::leaf(Permutation::new(
                    i1.iter().map(|&i| i2[i]).collect(),
                )?))
            })?;
            Some(leaf(op))
        }
        (Kind::Perm(p), Kind::Dense(m, t)) if m.rows * m.cols <= MAX_FOLD_ENTRIES => {
            let live = [Live::of_indices(p), Live::of_values(m)];
            let op = cached((p.key(), false, m.key, t, 1), live, || {
                let idx = indices(p);
                let d = dense_of(m, t);
                Ok(Op::Dense(Dense::new(HostMat::from_fn(
                    d.rows(),
                    d.cols(),
                    |i, j| d.get(idx[i], j),
                ))?))
            })?;
            Some(leaf(op))
        }
        (Kind::Dense(m, t), Kind::Perm(p)) if m.rows * m.cols <= MAX_FOLD_ENTRIES => {
            let live = [Live::of_values(m), Live::of_indices(p)];
            let op = cached((m.key, t, p.key(), false, 2), live, || {
                let inv = inverse(&indices(p));
                let d = dense_of(m, t);
                Ok(Op::Dense(Dense::new(HostMat::from_fn(
                    d.rows(),
                    d.cols(),
                    |i, j| d.get(i, inv[j]),
                ))?))
            })?;
            Some(leaf(op))
        }
        (Kind::Perm(p), Kind::Sparse(s, t)) if s.nnz() <= MAX_FOLD_ENTRIES => {
            let v = s.values_param();
            let live = [Live::of_indices(p), Live::of_values(v)];
            let op = cached((p.key(), false, v.key, t, 3), live, || {
                // Row i of P·S is row idx[i] of S: entry (r, c) moves to row idx⁻¹[r].
                let inv = inverse(&indices(p));
                moved_csr(s, t, |r, c| (inv[r], c))
            })?;
            Some(leaf(op))
        }
        (Kind::Sparse(s, t), Kind::Perm(p)) if s.nnz() <= MAX_FOLD_ENTRIES => {
            let v = s.values_param();
            let live = [Live::of_values(v), Live::of_indices(p)];
            let op = cached((v.key, t, p.key(), false, 4), live, || {
                // Column idx[i] of S·P is column i of S.
                let idx = indices(p);
                moved_csr(s, t, |r, c| (r, idx[c]))
            })?;
            Some(leaf(op))
        }
        _ => None,
    })
}

/// Folds every foldable adjacent pair of a product's factors (left to right, repeatedly, so a
/// chain `P₁·P₂·A` becomes one dense factor); returns the number of folds.
pub(super) fn fold_permutations(flat: &mut Vec<NormalForm>) -> Result<usize> {
    let mut folds = 0;
    let mut i = 0;
    while i + 1 < flat.len() {
        match fold_pair(&flat[i], &flat[i + 1])? {
            Some(n) => {
                flat.splice(i..i + 2, [n]);
                folds += 1;
                i = i.saturating_sub(1);
            }
            None => i += 1,
        }
    }
    Ok(folds)
}
