//! Sparse sketching operators: the sparse sign sketch (CountSketch for `s = 1`, OSNAP-like for
//! `s ≥ 2`) and the very sparse random projection of Li, Hastie and Church (2006).
//!
//! **Mathematics.** Both are `d×m` (`d` the sketch size, `m` the input dimension) with
//! `E[SᵀS] = I_m`, so `E‖S·x‖² = ‖x‖²`:
//!
//! - [`SparseSign`]: column `j` has exactly `s` nonzeros, in `s` distinct rows drawn uniformly
//!   without replacement, each `±1/√s` with an independent fair sign. Every column has norm 1
//!   exactly, so `‖S·e_j‖ = 1`; for `s = 1` it is CountSketch (Clarkson–Woodruff), a subspace
//!   embedding of a `k`-dimensional subspace with distortion `ε` and failure probability `δ` once
//!   `d ≥ (k² + k)/(ε²δ)` (Nelson–Nguyễn 2013, Thm. 3 with the second-moment bound); for
//!   `s ≥ 2` it is an OSNAP with column sparsity `s`.
//! - [`VerySparseProjection`]: i.i.d. entries `√(1/(ρ·d))·{+1 w.p. ρ/2, −1 w.p. ρ/2, 0 w.p.
//!   1 − ρ}` with density `ρ` (default `1/√m`, Li–Hastie–Church's choice). `E[S(i, j)²] = 1/d`,
//!   hence `E[SᵀS] = I_m`: the isometry scale is `√(1/(ρ·d))`.
//!
//! **Randomness (the sparse counter layouts).** Everything is a pure function of the
//! [`RngState`] `(key, counter)` and the column `j`, independent of the other columns:
//!
//! - Sparse sign: column `j` reads the word stream `w_t = philox(counter + j·2³² + ⌊t/4⌋,
//!   key)[t mod 4]` (the dense matrix layout's column `j`, read as words). Row draw `k < s` uses
//!   the 64-bit integer `u_k = w_{2k} + 2³²·w_{2k+1}`; Floyd's algorithm picks the rows: for
//!   `k = 0..s`, with `n = d − s + k`, `r = ⌊u_k·(n + 1)/2⁶⁴⌋` (uniform on `0..=n` up to a bias
//!   below `(n+1)/2⁶⁴`), and the row is `r` unless already taken, else `n`. The result is a
//!   uniform `s`-subset of `0..d`. The sign of the `k`-th drawn row is bit `k mod 32` of word
//!   `w_{2s + ⌊k/32⌋}` (bit 0: `+`, bit 1: `−`).
//! - Very sparse: entry `(i, j)` uses word `i mod 4` of `philox(counter + j·2³² + ⌊i/4⌋, key)`
//!   (the dense matrix layout of [`crate::rng`]): with `T = 2·⌊ρ·2³¹⌋`, the entry is nonzero iff
//!   `w < T`, with sign `+` iff `w` is even. So the realized density is `T/2³²` (within `2⁻³¹`
//!   of `ρ`) and the two signs are exactly equally likely.
//!
//! **Storage.** Materialized at construction as CSR parameters of `S` and of `Sᵀ` (the shared
//! builder of [`super::Csr`]) with values exactly `±1`; the scale rides on the kernel's `alpha`,
//! so the stored pattern is exact in every precision. `param_count = (d+1) + (m+1) + 4·nnz`
//! (`nnz = s·m` for the sparse sign sketch, about `ρ·d·m` for the very sparse one). Indices are
//! `u32` index parameters: `d`, `m` and `nnz` must not exceed `IndexParam::MAX_INDEX = 2³² − 1`.
//!
//! **Applying.** `S·X` and `Sᵀ·Y` lower to one `Spmm` step on the stored CSR of `S` or `Sᵀ`: a
//! gather-sum per output entry on the GPU (no float atomics); on the CPU a short, wide `S` (the
//! sketching orientation) streams `X` once through an in-cache transposed panel and gathers
//! into register accumulators. Cost: `2·nnz·b` FLOPs for `b` columns, plus reading `X` once.
//! Construction costs `O(nnz·log nnz)` (sort for the two CSR orders) plus `d·m/4` Philox blocks
//! for the very sparse projection (every entry is drawn) or `m·⌈(2s + ⌈s/32⌉)/4⌉` for the
//! sparse sign sketch.

use super::{Csr, LeafOp, require_nonempty};
use crate::lower::{IndexParam, check_index};
use crate::rng::RngState;
use crate::{Error, HostMat, Op, Result};
use std::collections::HashSet;

/// The word stream of column `j` (module docs), read in order: word `t` is word `t mod 4` of
/// `philox(counter + j·2³² + ⌊t/4⌋)`, and each block is computed once for its four words.
struct ColumnWords<'a> {
    rng: &'a RngState,
    j: u64,
    block: Option<(u64, [u32; 4])>,
}

impl<'a> ColumnWords<'a> {
    fn new(rng: &'a RngState, j: u64) -> Self {
        Self {
            rng,
            j,
            block: None,
        }
    }

    fn word(&mut self, t: u64) -> u32 {
        let b = t / 4;
        match self.block {
            Some((cached, w)) if cached == b => w[(t % 4) as usize],
            _ => {
                let w = self.rng.matrix_block(t, self.j);
                self.block = Some((b, w));
                w[(t % 4) as usize]
            }
        }
    }
}

/// `s` distinct integers of `0..n`, uniformly, by Floyd's algorithm on the word stream of column
/// `j` (module docs), in draw order. Requires `s ≤ n`.
///
/// # Errors
/// [`Error::Backend`] when the host refuses the `s` draws (or, for `s > 32`, the set of taken
/// indices): allocated fallibly, since `s` can be as large as an index parameter holds.
pub(crate) fn floyd_sample(
    context: &str,
    rng: &RngState,
    j: u64,
    n: usize,
    s: usize,
) -> Result<Vec<usize>> {
    let mut out = Vec::new();
    reserve(context, &mut out, s)?;
    let mut taken: HashSet<usize> = HashSet::new();
    let big = s > 32;
    if big {
        taken.try_reserve(s).map_err(|e| {
            Error::Backend(format!(
                "{context}: host allocation of a set of {s} sampled indices failed: {e}"
            ))
        })?;
    }
    let mut words = ColumnWords::new(rng, j);
    for k in 0..s {
        let top = n - s + k;
        let lo = u64::from(words.word(2 * k as u64));
        let hi = u64::from(words.word(2 * k as u64 + 1));
        let u = lo | hi << 32;
        let r = ((u128::from(u) * (top as u128 + 1)) >> 64) as usize;
        let dup = if big {
            taken.contains(&r)
        } else {
            out.contains(&r)
        };
        let pick = if dup { top } else { r };
        if big {
            taken.insert(pick);
        }
        out.push(pick);
    }
    Ok(out)
}

/// Checks `v ≤ IndexParam::MAX_INDEX` (`u32` index parameters).
fn index_limit(context: &str, what: &str, v: usize) -> Result<()> {
    check_index(&format!("{context} {what}"), v)
}

/// Room for `more` entries in `v`, allocated fallibly (a request the allocator refuses is an
/// [`Error::Backend`], not an abort).
fn reserve<T>(context: &str, v: &mut Vec<T>, more: usize) -> Result<()> {
    v.try_reserve(more).map_err(|e| {
        Error::Backend(format!(
            "{context}: host allocation of {more} more entries failed: {e}"
        ))
    })
}

/// A sparse sign sketch (`d×m`, `s` nonzeros `±1/√s` per column): CountSketch for `s = 1`.
///
/// # Examples
/// ```
/// use linops_core::{LeafOp, Op, op::SparseSign, rng::RngState};
/// let s = SparseSign::new(16, 100, 4, RngState::new(7)).unwrap();
/// let d = s.to_dense();
/// let nz = (0..16).filter(|&i| d.get(i, 5) != 0.0).count();
/// assert_eq!(nz, 4);
/// assert_eq!(d.get((0..16).find(|&i| d.get(i, 5) != 0.0).unwrap(), 5).abs(), 0.5);
/// assert_eq!(Op::leaf(s).t().shape(), (100, 16));
/// ```
#[derive(Debug, Clone)]
pub struct SparseSign {
    rows: usize,
    cols: usize,
    per_col: usize,
    rng: RngState,
    /// The ±1 pattern (the scale rides on the kernel's `alpha`).
    csr: Csr,
}

impl SparseSign {
    /// The `d×m` sparse sign sketch with `s` nonzeros per column from `rng` (module docs).
    ///
    /// # Errors
    /// [`Error::EmptyDimension`] when `d` or `m` is 0; [`Error::InvalidArgument`] when `s == 0`
    /// or `s > d`; [`Error::DeviceLimit`] when `d`, `m` or `s·m` exceeds `IndexParam::MAX_INDEX`
    /// (`2³² − 1`); [`Error::Backend`] when the host refuses the `s·m` entries.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{op::SparseSign, rng::RngState};
    /// assert!(SparseSign::new(8, 10, 0, RngState::new(1)).is_err());
    /// assert!(SparseSign::new(8, 10, 9, RngState::new(1)).is_err());
    /// assert!(SparseSign::new(0, 10, 1, RngState::new(1)).is_err());
    /// ```
    pub fn new(d: usize, m: usize, s: usize, rng: impl Into<RngState>) -> Result<Self> {
        let rng: RngState = rng.into();
        require_nonempty("sparse sign sketch", d, m)?;
        if s == 0 || s > d {
            return Err(Error::InvalidArgument(format!(
                "sparse sign sketch of {d}x{m}: nonzeros per column s = {s} must be in 1..={d} \
                 (at least one, at most the sketch size d)"
            )));
        }
        index_limit("sparse sign sketch", "rows", d)?;
        index_limit("sparse sign sketch", "cols", m)?;
        index_limit("sparse sign sketch", "nnz", s.saturating_mul(m))?;
        let mut entries = Vec::new();
        reserve("sparse sign sketch", &mut entries, s * m)?;
        for j in 0..m {
            for (r, v) in Self::column_of(&rng, d, s, j)? {
                entries.push((r, j, v));
            }
        }
        entries.sort_unstable_by_key(|e| (e.0, e.1));
        let csr = Csr::from_normalized(d, m, entries);
        Ok(Self {
            rows: d,
            cols: m,
            per_col: s,
            rng,
            csr,
        })
    }

    fn column_of(rng: &RngState, d: usize, s: usize, j: usize) -> Result<Vec<(usize, f64)>> {
        let rows = floyd_sample("sparse sign sketch column", rng, j as u64, d, s)?;
        let mut words = ColumnWords::new(rng, j as u64);
        Ok(rows
            .into_iter()
            .enumerate()
            .map(|(k, r)| {
                let w = words.word((2 * s + k / 32) as u64);
                (r, if w >> (k % 32) & 1 == 0 { 1.0 } else { -1.0 })
            })
            .collect())
    }

    /// The nonzeros of column `j` as `(row, ±1)` in draw order, generated on their own (the
    /// stored entry is this sign times [`SparseSign::scale`]).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when `j ≥ m`; [`Error::Backend`] when the host refuses the
    /// column's `s` entries.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{LeafOp, op::SparseSign, rng::RngState};
    /// let s = SparseSign::new(6, 9, 2, RngState::new(3)).unwrap();
    /// for (r, v) in s.column(4).unwrap() {
    ///     assert_eq!(s.to_dense().get(r, 4), v * s.scale());
    /// }
    /// ```
    pub fn column(&self, j: usize) -> Result<Vec<(usize, f64)>> {
        if j >= self.cols {
            return Err(Error::InvalidArgument(format!(
                "sparse sign sketch column {j} is not below m = {}",
                self.cols
            )));
        }
        Self::column_of(&self.rng, self.rows, self.per_col, j)
    }

    /// The nonzeros of column `j` of the `d×m` sparse sign sketch with `s` nonzeros per column
    /// drawn from `rng`, as `(row, ±1)` in draw order: the entries of [`SparseSign::column`]
    /// without building the sketch (for kernels that stream the columns of a very wide sketch).
    ///
    /// # Errors
    /// [`Error::EmptyDimension`] when `d` is 0; [`Error::InvalidArgument`] when `s == 0` or
    /// `s > d`; [`Error::Backend`] when the host refuses the column's `s` entries.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{op::SparseSign, rng::RngState};
    /// let s = SparseSign::new(6, 9, 2, RngState::new(3)).unwrap();
    /// let e = SparseSign::column_entries(6, 2, &RngState::new(3), 4).unwrap();
    /// assert_eq!(e, s.column(4).unwrap());
    /// ```
    pub fn column_entries(
        d: usize,
        s: usize,
        rng: &RngState,
        j: usize,
    ) -> Result<Vec<(usize, f64)>> {
        require_nonempty("sparse sign sketch", d, 1)?;
        if s == 0 || s > d {
            return Err(Error::InvalidArgument(format!(
                "sparse sign sketch with {d} rows: nonzeros per column s = {s} must be in 1..={d}"
            )));
        }
        Self::column_of(rng, d, s, j)
    }

    /// Nonzeros per column `s`.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{op::SparseSign, rng::RngState};
    /// assert_eq!(SparseSign::new(4, 4, 3, RngState::new(0)).unwrap().nnz_per_column(), 3);
    /// ```
    #[must_use]
    pub fn nnz_per_column(&self) -> usize {
        self.per_col
    }

    /// The entry magnitude `1/√s`.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{op::SparseSign, rng::RngState};
    /// assert_eq!(SparseSign::new(8, 4, 4, RngState::new(0)).unwrap().scale(), 0.5);
    /// ```
    #[must_use]
    pub fn scale(&self) -> f64 {
        1.0 / (self.per_col as f64).sqrt()
    }

    /// The generator state.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{op::SparseSign, rng::RngState};
    /// assert_eq!(SparseSign::new(2, 2, 1, RngState::new(5)).unwrap().rng().key, [5, 0]);
    /// ```
    #[must_use]
    pub fn rng(&self) -> RngState {
        self.rng
    }
}

/// The very sparse random projection (Li, Hastie, Church 2006): i.i.d. entries
/// `√(1/(ρ·d))·{±1 w.p. ρ/2 each, 0 otherwise}`.
///
/// # Examples
/// ```
/// use linops_core::{LeafOp, op::VerySparseProjection, rng::RngState};
/// let s = VerySparseProjection::new(8, 64, RngState::new(2)).unwrap();
/// assert_eq!(s.density(), 0.125); // 1/√64
/// let v = s.to_dense();
/// assert!(v.data().iter().all(|&x| x == 0.0 || x.abs() == s.scale()));
/// ```
#[derive(Debug, Clone)]
pub struct VerySparseProjection {
    rows: usize,
    cols: usize,
    density: f64,
    rng: RngState,
    /// The ±1 pattern (the scale rides on the kernel's `alpha`).
    csr: Csr,
}

impl VerySparseProjection {
    /// The `d×m` projection with the default density `1/√m`.
    ///
    /// # Errors
    /// As [`VerySparseProjection::with_density`].
    ///
    /// # Examples
    /// ```
    /// use linops_core::{op::VerySparseProjection, rng::RngState};
    /// assert!(VerySparseProjection::new(4, 0, RngState::new(1)).is_err());
    /// ```
    pub fn new(d: usize, m: usize, rng: impl Into<RngState>) -> Result<Self> {
        let rng: RngState = rng.into();
        Self::with_density(d, m, 1.0 / (m.max(1) as f64).sqrt(), rng)
    }

    /// The `d×m` projection with density `ρ` (probability of a nonzero entry).
    ///
    /// # Errors
    /// [`Error::EmptyDimension`] when `d` or `m` is 0; [`Error::InvalidArgument`] when `ρ` is not
    /// in `(0, 1]` or below `2⁻³¹` (no representable threshold); [`Error::DeviceLimit`] when `d`,
    /// `m`, the expected `nnz` (`ρ·d·m`, checked before any entry is drawn) or the drawn `nnz`
    /// (checked while drawing) exceeds `IndexParam::MAX_INDEX` (`2³² − 1`); [`Error::Backend`]
    /// when the host refuses the entries.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{op::VerySparseProjection, rng::RngState};
    /// assert!(VerySparseProjection::with_density(4, 4, 0.0, RngState::new(1)).is_err());
    /// assert!(VerySparseProjection::with_density(4, 4, 1.5, RngState::new(1)).is_err());
    /// assert!(VerySparseProjection::with_density(4, 4, f64::NAN, RngState::new(1)).is_err());
    /// ```
    pub fn with_density(
        d: usize,
        m: usize,
        density: f64,
        rng: impl Into<RngState>,
    ) -> Result<Self> {
        let rng: RngState = rng.into();
        require_nonempty("very sparse projection", d, m)?;
        // Checked first: a NaN or infinite density must not reach the integer threshold.
        let valid = density > 0.0 && density <= 1.0;
        let threshold = if valid {
            2 * (density * 2f64.powi(31)).floor() as u64
        } else {
            0
        };
        if threshold == 0 {
            return Err(Error::InvalidArgument(format!(
                "very sparse projection: density {density} must be in (0, 1] and at least 2^-31"
            )));
        }
        index_limit("very sparse projection", "rows", d)?;
        index_limit("very sparse projection", "cols", m)?;
        // The nonzero count is random, but its mean is known: refuse before drawing (d·m/4
        // Philox blocks) when the mean already reaches the limit; below it, the running count
        // stops the draw as soon as the limit is reached.
        let expected = threshold as f64 / 2f64.powi(32) * d as f64 * m as f64;
        if expected > IndexParam::MAX_INDEX as f64 {
            return Err(Error::DeviceLimit {
                what: format!(
                    "very sparse projection of {d}x{m} at density {density}: expected nnz \
                     (density·d·m)"
                ),
                requested: expected as u64,
                limit_name: "u32 index parameters (IndexParam::MAX_INDEX)".into(),
                limit: IndexParam::MAX_INDEX as u64,
            });
        }
        let mut entries = Vec::new();
        for j in 0..m {
            index_limit("very sparse projection", "nnz", entries.len())?;
            // At most d entries in this column.
            reserve("very sparse projection", &mut entries, d)?;
            Self::column_of(&rng, d, threshold, j, |r, v| entries.push((r, j, v)));
        }
        index_limit("very sparse projection", "nnz", entries.len())?;
        entries.sort_unstable_by_key(|e| (e.0, e.1));
        let csr = Csr::from_normalized(d, m, entries);
        Ok(Self {
            rows: d,
            cols: m,
            density: threshold as f64 / 2f64.powi(32),
            rng,
            csr,
        })
    }

    /// Calls `emit(row, ±1)` for the nonzeros of column `j` in row order: entry `(r, j)` is
    /// nonzero when the Philox word `w` at `(r, j)` is below the threshold, with sign `w & 1`.
    fn column_of(
        rng: &RngState,
        d: usize,
        threshold: u64,
        j: usize,
        mut emit: impl FnMut(usize, f64),
    ) {
        for i0 in (0..d).step_by(4) {
            let block = rng.matrix_block(i0 as u64, j as u64);
            for (r, &w) in (i0..d).zip(block.iter()) {
                if u64::from(w) < threshold {
                    emit(r, if w & 1 == 0 { 1.0 } else { -1.0 });
                }
            }
        }
    }

    /// The nonzeros of column `j` as `(row, ±1)` in row order, generated on their own (the
    /// stored entry is this sign times [`VerySparseProjection::scale`]).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when `j ≥ m`.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{LeafOp, op::VerySparseProjection, rng::RngState};
    /// let s = VerySparseProjection::with_density(6, 9, 0.5, RngState::new(3)).unwrap();
    /// let dense = s.to_dense();
    /// let col = s.column(4).unwrap();
    /// for (r, v) in &col {
    ///     assert_eq!(dense.get(*r, 4), v * s.scale());
    /// }
    /// assert_eq!(col.len(), (0..6).filter(|&r| dense.get(r, 4) != 0.0).count());
    /// ```
    pub fn column(&self, j: usize) -> Result<Vec<(usize, f64)>> {
        if j >= self.cols {
            return Err(Error::InvalidArgument(format!(
                "very sparse projection column {j} is not below m = {}",
                self.cols
            )));
        }
        // The realized density is T/2³² exactly (T ≤ 2³², so the product is exact).
        let threshold = (self.density * 2f64.powi(32)) as u64;
        let mut out = Vec::new();
        Self::column_of(&self.rng, self.rows, threshold, j, |r, v| out.push((r, v)));
        Ok(out)
    }

    /// The realized density `T/2³²` (module docs), within `2⁻³¹` of the requested one.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{op::VerySparseProjection, rng::RngState};
    /// let s = VerySparseProjection::with_density(4, 4, 0.5, RngState::new(1)).unwrap();
    /// assert_eq!(s.density(), 0.5);
    /// ```
    #[must_use]
    pub fn density(&self) -> f64 {
        self.density
    }

    /// The isometry scale `√(1/(ρ·d))`, the magnitude of every nonzero.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{op::VerySparseProjection, rng::RngState};
    /// let s = VerySparseProjection::with_density(4, 4, 0.25, RngState::new(1)).unwrap();
    /// assert_eq!(s.scale(), 1.0);
    /// ```
    #[must_use]
    pub fn scale(&self) -> f64 {
        (1.0 / (self.density * self.rows as f64)).sqrt()
    }

    /// Number of stored nonzeros (at least one stored entry: an all-zero draw keeps one zero).
    ///
    /// # Examples
    /// ```
    /// use linops_core::{op::VerySparseProjection, rng::RngState};
    /// let s = VerySparseProjection::with_density(3, 5, 1.0, RngState::new(1)).unwrap();
    /// assert_eq!(s.nnz(), 15);
    /// ```
    #[must_use]
    pub fn nnz(&self) -> usize {
        self.csr.nnz()
    }

    /// The generator state.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{op::VerySparseProjection, rng::RngState};
    /// assert_eq!(VerySparseProjection::new(2, 2, RngState::new(5)).unwrap().rng().key, [5, 0]);
    /// ```
    #[must_use]
    pub fn rng(&self) -> RngState {
        self.rng
    }
}

/// The [`LeafOp`] of a sketch stored as `scale·G` with `G` its ±1 CSR pattern: applied as the
/// rewrite `scale·G` (one `spmm` step with the scale on its `alpha`), never materialized.
macro_rules! scaled_csr_sketch {
    ($t:ty, $name:literal) => {
        impl LeafOp for $t {
            /// Never: a sketch is applied through its sparse or fast form, not stored dense.
            fn materializable(&self) -> bool {
                false
            }
            fn name(&self) -> &'static str {
                $name
            }
            fn shape(&self) -> (usize, usize) {
                (self.rows, self.cols)
            }
            fn to_dense(&self) -> HostMat {
                self.csr.scaled_dense(self.scale())
            }
            fn param_count(&self) -> usize {
                self.csr.param_count()
            }
            fn rewrite(&self) -> Option<Op> {
                Op::leaf(self.csr.clone()).scaled(self.scale()).ok()
            }
        }
    };
}

scaled_csr_sketch!(SparseSign, "sparse_sign");
scaled_csr_sketch!(VerySparseProjection, "very_sparse_projection");
