//! Sparse matrix in compressed sparse row (CSR) form, applied to dense blocks (SpMM).
//!
//! Mathematics: `S` is `rows×cols` with `nnz` stored entries; `S·X` for `X` of `b` columns.
//!
//! Storage: `indptr` (`rows+1`), `indices` and `values` (`nnz` each): the entries of row `r` are
//! at positions `indptr[r]..indptr[r+1]`. The transpose is stored too, as the CSR of `Sᵀ` (the CSC
//! of `S`), built at construction, so `Sᵀ·X` is the same row-wise kernel without atomics.
//! `indptr` and `indices` are `u32` index parameters ([`IndexParam`], the same on every backend),
//! `values` a real parameter; so `rows`, `cols` and `nnz` must not exceed
//! [`IndexParam::MAX_INDEX`] `= 2³² − 1` (a [`Error::DeviceLimit`] otherwise, checked first).
//!
//! Normalization policy (at construction): column indices within a row are sorted; duplicate
//! `(row, col)` entries are summed (in their input order); explicit zeros, including duplicates
//! that sum to zero, are kept. A matrix with no entries stores one explicit zero at `(0, 0)` so that
//! no parameter array is empty. Rejected with a typed error: an `indptr` of the wrong length, not
//! starting at 0, decreasing, or not ending at `nnz`; `indices`/`values` of different lengths;
//! a column index `≥ cols`; a NaN or infinite value.
//!
//! Cost of `S·X`: `2·nnz·b` FLOPs; `4·(rows + 1 + nnz)` bytes of indices and `nnz` values, up to
//! `nnz·b` reads of `X`, `rows·b` writes. CPU: a row-parallel loop; GPU: one invocation per output element
//! (row, column of `X`), no float atomics.

use super::{LeafOp, require_nonempty};
use crate::lower::{IndexParam, Param, check_index, kernel};
use crate::op::Lowering;
use crate::{BufId, Error, HostMat, Result};

/// Checks `rows`, `cols` and `nnz` of a CSR matrix against the `u32` index range (every entry of
/// `indptr` is at most `nnz`, every column index of `S` or row index of `Sᵀ` below `cols` or
/// `rows`), before anything proportional to them is allocated.
pub(crate) fn check_csr_sizes(context: &str, rows: usize, cols: usize, nnz: usize) -> Result<()> {
    for (what, v) in [("rows", rows), ("cols", cols), ("nnz", nnz)] {
        check_index(&format!("{context} {what}"), v)?;
    }
    Ok(())
}

/// One CSR structure as plan parameters (shared with the sparse sketches).
#[derive(Debug, Clone)]
pub(crate) struct CsrParams {
    indptr: IndexParam,
    indices: IndexParam,
    values: Param,
}

impl CsrParams {
    /// Stored entries.
    pub(crate) fn nnz(&self) -> usize {
        self.values.rows
    }

    /// The row pointers, column indices and values as host arrays.
    pub(crate) fn arrays(&self) -> (Vec<usize>, Vec<usize>, Vec<f64>) {
        let ints = |p: &IndexParam| p.indices().iter().map(|&v| v as usize).collect();
        (
            ints(&self.indptr),
            ints(&self.indices),
            self.values.data.to_vec(),
        )
    }

    /// From arrays whose entries fit `u32` (the sizes were checked by [`check_csr_sizes`]).
    fn new(indptr: Vec<u32>, indices: Vec<u32>, values: Vec<f64>) -> Self {
        let nnz = values.len();
        Self {
            indptr: IndexParam::from_u32(indptr),
            indices: IndexParam::from_u32(indices),
            values: Param::of_shape(nnz, 1, values),
        }
    }
}

/// A sparse `rows×cols` matrix in CSR form.
///
/// # Examples
/// ```
/// use linops_core::{LeafOp, op::Csr};
/// // [[1, 0, 2], [0, 0, 3]] with row 0 given unsorted and a duplicate (2 = 1.5 + 0.5).
/// let s = Csr::new(2, 3, vec![0, 3, 4], vec![2, 0, 2, 2], vec![1.5, 1.0, 0.5, 3.0]).unwrap();
/// assert_eq!(s.nnz(), 3);
/// assert_eq!(s.to_dense().get(0, 2), 2.0);
/// assert_eq!(s.to_dense().get(1, 2), 3.0);
/// ```
#[derive(Debug, Clone)]
pub struct Csr {
    rows: usize,
    cols: usize,
    fwd: CsrParams,
    bwd: CsrParams,
}

impl Csr {
    /// A CSR matrix from its three arrays (normalized: sorted columns, duplicates summed).
    ///
    /// # Errors
    /// [`Error::EmptyDimension`] for `rows == 0` or `cols == 0`; [`Error::ShapeMismatch`] when
    /// `indptr` has not `rows+1` entries, `indices` and `values` differ in length, or
    /// `indptr[rows] != nnz`; [`Error::InvalidArgument`] when `indptr[0] != 0`, `indptr`
    /// decreases, or a column index is `≥ cols`; [`Error::NonFinite`] for NaN/Inf values;
    /// [`Error::DeviceLimit`] when `rows`, `cols` or `nnz` exceed [`IndexParam::MAX_INDEX`].
    ///
    /// # Examples
    /// ```
    /// use linops_core::op::Csr;
    /// assert!(Csr::new(1, 2, vec![0, 1], vec![2], vec![1.0]).is_err()); // column 2 of 2
    /// assert!(Csr::new(2, 2, vec![0, 1, 0], vec![0], vec![1.0]).is_err()); // indptr decreases
    /// assert!(Csr::new(1, 1, vec![0, 1], vec![0], vec![f64::NAN]).is_err());
    /// ```
    pub fn new(
        rows: usize,
        cols: usize,
        indptr: Vec<usize>,
        indices: Vec<usize>,
        values: Vec<f64>,
    ) -> Result<Self> {
        require_nonempty("csr matrix", rows, cols)?;
        check_csr_sizes("csr matrix", rows, cols, values.len())?;
        if indptr.len() != rows + 1 {
            return Err(Error::ShapeMismatch {
                context: "csr indptr".into(),
                expected: format!("{} entries (rows + 1)", rows + 1),
                found: format!("{} entries", indptr.len()),
            });
        }
        if indices.len() != values.len() {
            return Err(Error::ShapeMismatch {
                context: "csr indices and values".into(),
                expected: format!("{} indices (one per value)", values.len()),
                found: format!("{} indices", indices.len()),
            });
        }
        if indptr[0] != 0 {
            return Err(Error::InvalidArgument(format!(
                "csr indptr[0] = {} (must be 0)",
                indptr[0]
            )));
        }
        if let Some(r) = (0..rows).find(|&r| indptr[r + 1] < indptr[r]) {
            return Err(Error::InvalidArgument(format!(
                "csr indptr decreases at row {r}: {} then {}",
                indptr[r],
                indptr[r + 1]
            )));
        }
        if indptr[rows] != values.len() {
            return Err(Error::ShapeMismatch {
                context: "csr indptr[rows]".into(),
                expected: format!("nnz = {}", values.len()),
                found: format!("{}", indptr[rows]),
            });
        }
        for r in 0..rows {
            for p in indptr[r]..indptr[r + 1] {
                if indices[p] >= cols {
                    return Err(Error::InvalidArgument(format!(
                        "csr column index {} at position {p} (row {r}) is not below cols = {cols}",
                        indices[p]
                    )));
                }
                if !values[p].is_finite() {
                    return Err(Error::NonFinite {
                        context: "csr values".into(),
                        row: r,
                        col: indices[p],
                        value: values[p],
                    });
                }
            }
        }
        // Normalize: per row, sort by column (stable) and sum duplicates.
        let mut entries: Vec<(usize, usize, f64)> = Vec::with_capacity(values.len());
        for r in 0..rows {
            let start = entries.len();
            entries.extend((indptr[r]..indptr[r + 1]).map(|p| (r, indices[p], values[p])));
            entries[start..].sort_by_key(|e| e.1);
        }
        let mut merged: Vec<(usize, usize, f64)> = Vec::with_capacity(entries.len());
        for e in entries {
            match merged.last_mut() {
                Some(last) if last.0 == e.0 && last.1 == e.1 => last.2 += e.2,
                _ => merged.push(e),
            }
        }
        if let Some(e) = merged.iter().find(|e| !e.2.is_finite()) {
            return Err(Error::NonFinite {
                context: "csr values (sum of duplicates)".into(),
                row: e.0,
                col: e.1,
                value: e.2,
            });
        }
        Ok(Self::from_normalized(rows, cols, merged))
    }

    /// A CSR matrix from entries sorted by (row, col) without duplicates, indices in range and
    /// values finite, and sizes checked by [`check_csr_sizes`] (the caller guarantees it; see
    /// [`csr_pair`]).
    pub(crate) fn from_normalized(
        rows: usize,
        cols: usize,
        entries: Vec<(usize, usize, f64)>,
    ) -> Self {
        let (fwd, bwd) = csr_pair(rows, cols, entries);
        Self {
            rows,
            cols,
            fwd,
            bwd,
        }
    }

    /// The dense form of `scale·S`.
    pub(crate) fn scaled_dense(&self, scale: f64) -> HostMat {
        csr_dense(self.rows, self.cols, &self.fwd, scale)
    }

    /// A CSR matrix from `(row, col, value)` triplets in any order (duplicates summed).
    ///
    /// # Errors
    /// As [`Csr::new`] (the index range limits on `rows`, `cols` and the triplet count are
    /// checked before anything is allocated); a row index `≥ rows` is [`Error::InvalidArgument`].
    ///
    /// # Examples
    /// ```
    /// use linops_core::{LeafOp, op::Csr};
    /// let s = Csr::from_triplets(2, 2, &[(1, 0, 4.0), (0, 1, 1.0), (1, 0, 1.0)]).unwrap();
    /// assert_eq!(s.to_dense().get(1, 0), 5.0);
    /// ```
    pub fn from_triplets(
        rows: usize,
        cols: usize,
        triplets: &[(usize, usize, f64)],
    ) -> Result<Self> {
        // The limits first: `indptr` below has rows + 1 entries whatever the triplets hold.
        check_csr_sizes("csr matrix", rows, cols, triplets.len())?;
        if let Some(t) = triplets.iter().find(|t| t.0 >= rows) {
            return Err(Error::InvalidArgument(format!(
                "csr triplet row index {} is not below rows = {rows}",
                t.0
            )));
        }
        let mut sorted: Vec<(usize, usize, f64)> = triplets.to_vec();
        sorted.sort_by_key(|t| t.0);
        let mut indptr = vec![0usize; rows + 1];
        for t in &sorted {
            indptr[t.0 + 1] += 1;
        }
        for r in 0..rows {
            indptr[r + 1] += indptr[r];
        }
        let indices = sorted.iter().map(|t| t.1).collect();
        let values = sorted.iter().map(|t| t.2).collect();
        Self::new(rows, cols, indptr, indices, values)
    }

    /// Number of stored entries after normalization.
    ///
    /// # Examples
    /// ```
    /// let s = linops_core::op::Csr::new(1, 2, vec![0, 2], vec![1, 1], vec![1.0, 2.0]).unwrap();
    /// assert_eq!(s.nnz(), 1);
    /// ```
    pub fn nnz(&self) -> usize {
        self.fwd.nnz()
    }

    /// The parameter holding the stored values of `S`: its key identifies the matrix (clones
    /// share it), so the planner can cache what it derives from it (a folded permutation).
    pub(crate) fn values_param(&self) -> &Param {
        &self.fwd.values
    }

    /// The normalized row pointers, column indices and values.
    ///
    /// # Examples
    /// ```
    /// let s = linops_core::op::Csr::new(1, 3, vec![0, 2], vec![2, 0], vec![1.0, 2.0]).unwrap();
    /// let (p, i, v) = s.arrays();
    /// assert_eq!((p, i, v), (vec![0, 2], vec![0, 2], vec![2.0, 1.0]));
    /// ```
    pub fn arrays(&self) -> (Vec<usize>, Vec<usize>, Vec<f64>) {
        self.fwd.arrays()
    }
}

/// The CSR parameters of `S` (`rows×cols`) and of `Sᵀ` from normalized entries `(row, col,
/// value)`: sorted by (row, col), no duplicates, indices in range (the caller guarantees it). An
/// empty list stores one explicit zero at `(0, 0)`, so no parameter array is empty.
fn csr_pair(
    rows: usize,
    cols: usize,
    mut entries: Vec<(usize, usize, f64)>,
) -> (CsrParams, CsrParams) {
    if entries.is_empty() {
        entries.push((0, 0, 0.0));
    }
    let fwd = build(rows, entries.iter().copied());
    // The transpose: entries sorted by (col, row).
    entries.sort_unstable_by_key(|e| (e.1, e.0));
    let bwd = build(cols, entries.into_iter().map(|(r, c, v)| (c, r, v)));
    (fwd, bwd)
}

/// Emits the `Spmm` step `out = alpha·S·x + beta·out` for the CSR structure `s`.
fn lower_spmm(
    cx: &mut Lowering,
    s: &CsrParams,
    x: BufId,
    out: BufId,
    alpha: f64,
    beta: f64,
) -> Result<()> {
    let inputs = vec![
        cx.index(&s.indptr),
        cx.index(&s.indices),
        cx.param(&s.values),
        x,
    ];
    cx.push(kernel::Spmm { alpha, beta }, inputs, out)
}

/// Dense form of `scale` times a CSR structure of `rows×cols`.
fn csr_dense(rows: usize, cols: usize, s: &CsrParams, scale: f64) -> HostMat {
    let mut m = HostMat::zeros(rows, cols);
    let (indptr, indices) = (s.indptr.indices(), s.indices.indices());
    for r in 0..rows {
        let entries = indptr[r] as usize..indptr[r + 1] as usize;
        for (&c, &v) in indices[entries.clone()].iter().zip(&s.values.data[entries]) {
            let c = c as usize;
            m.set(r, c, m.get(r, c) + scale * v);
        }
    }
    m
}

/// CSR arrays of `n` rows from entries sorted by (row, col); every index and the entry count fit
/// `u32` (checked by [`check_csr_sizes`]), so the casts are exact.
fn build(n: usize, entries: impl Iterator<Item = (usize, usize, f64)>) -> CsrParams {
    let mut indptr = vec![0u32; n + 1];
    let (mut indices, mut values) = (Vec::new(), Vec::new());
    for (r, c, v) in entries {
        indptr[r + 1] += 1;
        indices.push(c as u32);
        values.push(v);
    }
    for r in 0..n {
        indptr[r + 1] += indptr[r];
    }
    CsrParams::new(indptr, indices, values)
}

impl LeafOp for Csr {
    fn name(&self) -> &'static str {
        "csr"
    }
    fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }
    fn to_dense(&self) -> HostMat {
        self.scaled_dense(1.0)
    }
    fn param_count(&self) -> usize {
        // Stored entries of both orientations: indptr, indices and values of S and of Sᵀ.
        (self.rows + 1) + (self.cols + 1) + 4 * self.nnz()
    }
    fn lower(
        &self,
        cx: &mut Lowering,
        transposed: bool,
        x: BufId,
        out: BufId,
        alpha: f64,
        beta: f64,
    ) -> Result<()> {
        let s = if transposed { &self.bwd } else { &self.fwd };
        lower_spmm(cx, s, x, out, alpha, beta)
    }
}
