//! Butterfly, block butterfly and Pixelated-butterfly leaves.
//!
//! **Butterfly factors** (Dao, Gu, Eichhorn, Rudra, Ré 2019; block form: Chen, Dao et al. 2021,
//! "Pixelated Butterfly"). Let `b ≥ 1` be the block size and `m = n/b` a power of two `≥ 2`, with
//! `L = log₂ m` levels. A *block butterfly factor* of size `k·b` (`k ≥ 2` blocks) is
//! `[[D₁, D₂], [D₃, D₄]]` with each `Dᵢ` block-diagonal of `k/2` blocks `b×b`. The *butterfly
//! factor matrix* `B_k` (`k = 2, 4, …, m`) is block-diagonal with `m/k` such factors of size `k·b`:
//! it couples block-row `R` only with block-row `R xor k/2`. The block butterfly matrix is
//!
//! ```text
//! B = B_m · B_{m/2} ⋯ B_4 · B_2        (B_2 is applied first)
//! ```
//!
//! The butterfly matrix of the 2019 paper is the case `b = 1` (`L = log₂ n` factors of 2×2 blocks).
//!
//! **Parameter layout** (`twiddle`, `L·2·n·b` reals): factor `f = 0, …, L−1` is `B_{2^{f+1}}`
//! (in application order: `f = 0` is `B_2`, partner distance `b` rows; `f = L−1` is `B_m`, partner
//! distance `n/2`), stored at `f·2nb`. Inside a factor, with half size `h = 2^f` blocks, the
//! `m/2` block pairs are numbered `j = s·h + p` (`s` the butterfly factor, `p < h`); pair `j` joins
//! block-rows `R₀ = 2hs + p` and `R₁ = R₀ + h` and stores, at `j·4b²`, the four `b×b` blocks
//! `D₁ = (R₀, R₀)`, `D₂ = (R₀, R₁)`, `D₃ = (R₁, R₀)`, `D₄ = (R₁, R₁)` in that order, each row-major
//! (entry `(u, v)` of a block at `u·b + v`). For `b = 1` a pair is the 2×2 matrix `[[a, b], [c, d]]`
//! stored `a, b, c, d`, mapping `(x[i], x[i+h]) ↦ (a·x[i] + b·x[i+h], c·x[i] + d·x[i+h])`.
//! With `a = b = c = 1`, `d = −1` in every pair, `B` is the unnormalized Walsh–Hadamard matrix.
//!
//! **Flat block butterfly** ([`FlatBlockButterfly`]): the first-order form `I + Σ_k B_k` as a fixed
//! block-sparse pattern with its own values: block `(R, C)` is nonzero when `R = C` or `R xor C` is
//! a power of two below `m`, i.e. `1 + L` blocks per block-row. Values (`m·(1+L)·b²` reals): block-row
//! `R`, slot `t` at `(R·(1+L) + t)·b²`, row-major, where slot 0 is the diagonal block `(R, R)` and
//! slot `t ≥ 1` is `(R, R xor 2^{t−1})`.
//!
//! **Pixelated butterfly** ([`PixelatedButterfly`]): flat block butterfly `+ U·Vᵀ` (`U`, `V` n×r).
//!
//! **Lowering.** A block butterfly is applied by the [`crate::Kernel::Butterfly`] kernel, several
//! consecutive factors per step: factors `first … first+count−1` only mix block-rows within
//! groups of `2^count·b` rows, so a backend keeps a group (of a tile of columns) in fast memory
//! (CPU L1/L2, GPU workgroup memory) and applies all the step's factors there, reading `X` once
//! and writing the output once. The factors are split into as few, equal passes as
//! [`kernel::Butterfly::MAX_GROUP`] allows (`count ≤ log₂(4096/b)`): one pass for every
//! `n ≤ 4096`, two up to `n = 2²⁴` (b = 1). `Bᵀ·X` runs the passes in reverse order, each applying
//! its factors transposed and reversed. The twiddles are one parameter of `2nb × L` values (factor
//! `f` in column `f`). Only a block too wide for one factor per group (`2b > 4096`) falls back to
//! its factor form, `L` [`crate::Kernel::Spmm`] steps of [`Csr`] factors ([`BlockButterfly::to_factors`]).
//! The flat form is one SpMM; the Pixelated form adds the [`LowRank`] lowering with `beta = 1`.
//! Both backends run the same steps. Sparse indices of the factor and flat forms are `u32` index
//! parameters, so `n·(1+L)·b ≤ IndexParam::MAX_INDEX = 2³² − 1` (the flat form's nonzeros, at least
//! the `2·n·b` of a factor; a [`Error::DeviceLimit`] otherwise).
//!
//! **Cost** (`B` columns): block butterfly `L·(4b − 1)·n·B` FLOPs in the butterfly kernel (each
//! output of a factor: `2b` products and `2b − 1` additions) plus `n·B` per pass for its `alpha`
//! scale, against `2·n²·B` dense, a ratio of about `n/(2·b·L)`; elements moved per pass: the
//! pass's twiddles once, `X` once and the output once (one pass for `n ≤ 4096`: the minimum).
//! Flat: `(2·b·(1+L) + 1)·n·B` FLOPs; Pixelated adds the low-rank `4·n·r·B + 2·r·B` (and `n·B`
//! for accumulating).

use super::{Csr, LeafOp, LowRank, Lowering};

use crate::lower::{check_index, kernel};
use crate::{BufId, Error, HostMat, Link, Op, Param, Result};
use std::sync::Arc;

/// Validates `n` and `b` and returns the number of levels `L = log₂(n/b)`.
fn levels_of(context: &str, n: usize, b: usize) -> Result<usize> {
    if n == 0 || b == 0 {
        return Err(Error::EmptyDimension {
            context: format!("{context} (n = {n}, block size b = {b})"),
            rows: n,
            cols: n,
        });
    }
    // Checked first: the factors are CSR matrices of n rows with u32 indices.
    check_index(&format!("{context} size n"), n)?;
    if !n.is_multiple_of(b) {
        return Err(Error::InvalidArgument(format!(
            "{context}: n = {n} is not a multiple of the block size b = {b}"
        )));
    }
    let m = n / b;
    if m < 2 || !m.is_power_of_two() {
        return Err(Error::InvalidArgument(format!(
            "{context}: n/b = {n}/{b} = {m} blocks must be a power of two ≥ 2"
        )));
    }
    let levels = m.trailing_zeros() as usize;
    // The flat form's n·b·(1 + L) nonzeros bound every size below (2·n·b per factor, L factors),
    // which then fit in a usize.
    let nnz = n.checked_mul(b).and_then(|v| v.checked_mul(1 + levels));
    check_index(
        &format!("{context} nonzeros n·b·(1 + L) for n = {n}, b = {b}"),
        nnz.unwrap_or(usize::MAX),
    )?;
    Ok(levels)
}

/// `(row, col, offset)` of every entry of factor `f` (offset within the factor's `2nb` reals).
fn factor_entries(n: usize, b: usize, f: usize) -> impl Iterator<Item = (usize, usize, usize)> {
    let h = 1usize << f;
    let bb = b * b;
    (0..n / (2 * b)).flat_map(move |j| {
        let (s, p) = (j / h, j % h);
        let r0 = 2 * h * s + p;
        let r1 = r0 + h;
        [(r0, r0), (r0, r1), (r1, r0), (r1, r1)]
            .into_iter()
            .enumerate()
            .flat_map(move |(q, (br, bc))| {
                (0..bb).map(move |e| (br * b + e / b, bc * b + e % b, j * 4 * bb + q * bb + e))
            })
    })
}

/// The block-row offset slot of block `(r, c)` in the flat pattern, if it is in the pattern.
fn flat_slot(r: usize, c: usize) -> Option<usize> {
    let d = r ^ c;
    if d == 0 {
        Some(0)
    } else if d.is_power_of_two() {
        Some(d.trailing_zeros() as usize + 1)
    } else {
        None
    }
}

/// `S·M` for a CSR `S` and a dense `M` (host side, for `to_dense`).
fn csr_times(s: &Csr, m: &HostMat) -> HostMat {
    let (p, idx, val) = s.arrays();
    let rows = p.len() - 1;
    let mut out = HostMat::zeros(rows, m.cols());
    for j in 0..m.cols() {
        for r in 0..rows {
            let acc: f64 = (p[r]..p[r + 1]).map(|q| val[q] * m.get(idx[q], j)).sum();
            out.set(r, j, acc);
        }
    }
    out
}

/// The block butterfly matrix `B_m ⋯ B_2` with `b×b` blocks (see the module documentation for the
/// parameter layout).
///
/// # Examples
/// ```
/// use linops_core::{LeafOp, op::BlockButterfly};
/// // n = 8, b = 2: two factors of 2·8·2 = 32 parameters each.
/// let t: Vec<f64> = (0..64).map(|i| (i % 5) as f64 - 2.0).collect();
/// let bb = BlockButterfly::new(8, 2, t).unwrap();
/// assert_eq!((bb.shape(), bb.levels(), bb.param_count()), ((8, 8), 2, 64));
/// ```
#[derive(Debug, Clone)]
pub struct BlockButterfly {
    n: usize,
    b: usize,
    /// The twiddles as the kernel's parameter: `2nb × L`, factor `f` in column `f`.
    twiddle: Param,
    /// `factors[f]` is `B_{2^{f+1}}` (application order).
    factors: Vec<Csr>,
}

impl BlockButterfly {
    /// The `n×n` block butterfly with block size `b` from its `L·2·n·b` parameters
    /// (`L = log₂(n/b)`), laid out as in the module documentation.
    ///
    /// # Errors
    /// [`Error::EmptyDimension`] for `n == 0` or `b == 0`; [`Error::InvalidArgument`] when `n` is
    /// not a multiple of `b` or `n/b` is not a power of two `≥ 2`; [`Error::ShapeMismatch`] when
    /// `twiddle` has not `L·2·n·b` entries; [`Error::NonFinite`] for NaN/Inf (naming the factor and
    /// the entry's row and column in it); [`Error::DeviceLimit`] past the `u32` index limit (module docs).
    ///
    /// # Examples
    /// ```
    /// use linops_core::op::BlockButterfly;
    /// assert!(BlockButterfly::new(12, 2, vec![0.0; 96]).is_err()); // 12/2 = 6 blocks
    /// assert!(BlockButterfly::new(8, 2, vec![0.0; 10]).is_err()); // needs 64 parameters
    /// ```
    pub fn new(n: usize, b: usize, twiddle: Vec<f64>) -> Result<Self> {
        Self::build("block butterfly", n, b, twiddle)
    }

    fn build(context: &str, n: usize, b: usize, twiddle: Vec<f64>) -> Result<Self> {
        let levels = levels_of(context, n, b)?;
        let per = 2 * n * b;
        if twiddle.len() != levels * per {
            return Err(Error::ShapeMismatch {
                context: format!("{context} parameters (n = {n}, b = {b})"),
                expected: format!("{} reals ({levels} factors × 2·n·b = {per})", levels * per),
                found: format!("{} reals", twiddle.len()),
            });
        }
        let mut factors = Vec::with_capacity(levels);
        for f in 0..levels {
            let base = f * per;
            let mut triplets = Vec::with_capacity(per);
            for (r, c, off) in factor_entries(n, b, f) {
                let v = twiddle[base + off];
                if !v.is_finite() {
                    return Err(Error::NonFinite {
                        context: format!(
                            "{context} factor {f} (B_{}) at parameter {}",
                            2 << f,
                            base + off
                        ),
                        row: r,
                        col: c,
                        value: v,
                    });
                }
                triplets.push((r, c, v));
            }
            factors.push(Csr::from_triplets(n, n, &triplets)?);
        }
        Ok(Self {
            n,
            b,
            twiddle: Param::of_shape(per, levels, twiddle),
            factors,
        })
    }

    /// The block size `b`.
    ///
    /// # Examples
    /// ```
    /// let bb = linops_core::op::BlockButterfly::new(4, 2, vec![1.0; 16]).unwrap();
    /// assert_eq!(bb.block_size(), 2);
    /// ```
    pub fn block_size(&self) -> usize {
        self.b
    }

    /// The number of factors `L = log₂(n/b)`.
    ///
    /// # Examples
    /// ```
    /// let bb = linops_core::op::BlockButterfly::new(16, 4, vec![1.0; 256]).unwrap();
    /// assert_eq!(bb.levels(), 2);
    /// ```
    pub fn levels(&self) -> usize {
        self.factors.len()
    }

    /// The parameters, in the layout of the module documentation.
    ///
    /// # Examples
    /// ```
    /// let bb = linops_core::op::BlockButterfly::new(4, 2, vec![0.5; 16]).unwrap();
    /// assert_eq!(bb.twiddle()[3], 0.5);
    /// ```
    pub fn twiddle(&self) -> &[f64] {
        &self.twiddle.data
    }

    /// The factor form `B_m · ⋯ · B_2` as a product of sparse [`Csr`] leaves (leftmost `B_m`).
    ///
    /// # Examples
    /// ```
    /// use linops_core::{LeafOp, op::BlockButterfly};
    /// let bb = BlockButterfly::new(8, 1, (0..48).map(|i| i as f64).collect()).unwrap();
    /// let f = bb.to_factors();
    /// assert_eq!(f.to_dense().data(), bb.to_dense().data());
    /// ```
    pub fn to_factors(&self) -> Op {
        let ops = self
            .factors
            .iter()
            .rev()
            .map(|c| Op::leaf(c.clone()))
            .collect();
        Op::product(ops).expect("square factors of one size")
    }
}

impl LeafOp for BlockButterfly {
    fn name(&self) -> &'static str {
        "block_butterfly"
    }
    fn shape(&self) -> (usize, usize) {
        (self.n, self.n)
    }
    fn to_dense(&self) -> HostMat {
        let mut acc = HostMat::from_fn(self.n, self.n, |i, j| if i == j { 1.0 } else { 0.0 });
        for f in &self.factors {
            acc = csr_times(f, &acc);
        }
        acc
    }
    fn param_count(&self) -> usize {
        self.twiddle.data.len()
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
        let mut passes = passes(self.levels(), self.b);
        if passes.is_empty() {
            // 2b > MAX_GROUP: not even one factor's pair of blocks fits a group.
            let factors = self.to_factors();
            let op = if transposed { factors.t() } else { factors };
            return cx.lower_sub(&op, x, out, alpha, beta);
        }
        if transposed {
            passes.reverse();
        }
        let t = cx.param(&self.twiddle);
        let block = self.b;
        let links = passes
            .into_iter()
            .map(|(first, count)| {
                Link::step(self.n, vec![t], move |alpha, beta| kernel::Butterfly {
                    block,
                    first,
                    count,
                    trans: transposed,
                    alpha,
                    beta,
                })
            })
            .collect();
        cx.chain(x, out, alpha, beta, links)
    }
}

/// The `(first, count)` factor ranges of the butterfly passes for `levels` factors of block size
/// `b`: as few passes as groups of at most [`kernel::Butterfly::MAX_GROUP`] elements allow, of
/// nearly equal length (the longer ones first); none when `2b` exceeds it.
fn passes(levels: usize, b: usize) -> Vec<(usize, usize)> {
    let per = (kernel::Butterfly::MAX_GROUP / b.max(1)).max(1).ilog2() as usize;
    if per == 0 || levels == 0 {
        return Vec::new();
    }
    let count = levels.div_ceil(per);
    let (base, extra) = (levels / count, levels % count);
    let mut first = 0;
    (0..count)
        .map(|i| {
            let len = base + usize::from(i < extra);
            let range = (first, len);
            first += len;
            range
        })
        .collect()
}

/// The butterfly matrix `B_n ⋯ B_2` of 2×2 blocks: [`BlockButterfly`] with `b = 1`
/// (`2·n·log₂n` parameters).
///
/// # Examples
/// ```
/// use linops_core::{LeafOp, op::Butterfly};
/// // Every pair [[1, 1], [1, -1]]: the unnormalized Walsh–Hadamard matrix H_4.
/// let t: Vec<f64> = (0..16).map(|i| if i % 4 == 3 { -1.0 } else { 1.0 }).collect();
/// let h = Butterfly::new(4, t).unwrap().to_dense();
/// assert_eq!((h.get(0, 3), h.get(3, 3), h.get(1, 3)), (1.0, 1.0, -1.0));
/// ```
#[derive(Debug, Clone)]
pub struct Butterfly(BlockButterfly);

impl Butterfly {
    /// The `n×n` butterfly matrix from its `2·n·log₂n` parameters (layout: the module
    /// documentation with `b = 1`: factor `f` at `2nf`, pair `j` at `4j` as `a, b, c, d`).
    ///
    /// # Errors
    /// [`Error::EmptyDimension`] for `n == 0`; [`Error::InvalidArgument`] when `n` is not a power
    /// of two `≥ 2`; [`Error::ShapeMismatch`] for a wrong parameter count; [`Error::NonFinite`]
    /// for NaN/Inf.
    ///
    /// # Examples
    /// ```
    /// use linops_core::op::Butterfly;
    /// assert!(Butterfly::new(6, vec![0.0; 36]).is_err());
    /// assert!(Butterfly::new(4, vec![f64::NAN; 16]).is_err());
    /// ```
    pub fn new(n: usize, twiddle: Vec<f64>) -> Result<Self> {
        Ok(Self(BlockButterfly::build("butterfly", n, 1, twiddle)?))
    }

    /// The same matrix as a [`BlockButterfly`] with `b = 1`.
    ///
    /// # Examples
    /// ```
    /// let b = linops_core::op::Butterfly::new(2, vec![1.0; 4]).unwrap();
    /// assert_eq!(b.as_block().block_size(), 1);
    /// ```
    pub fn as_block(&self) -> &BlockButterfly {
        &self.0
    }
}

impl LeafOp for Butterfly {
    fn name(&self) -> &'static str {
        "butterfly"
    }
    fn shape(&self) -> (usize, usize) {
        self.0.shape()
    }
    fn to_dense(&self) -> HostMat {
        self.0.to_dense()
    }
    fn param_count(&self) -> usize {
        self.0.param_count()
    }
    fn rewrite(&self) -> Option<Op> {
        Some(Op::leaf(self.0.clone()))
    }
}

/// The flat block butterfly: the block-sparse pattern of `I + Σ_k B_k` with its own values (see
/// the module documentation for the layout), applied as one SpMM.
///
/// # Examples
/// ```
/// use linops_core::{LeafOp, op::FlatBlockButterfly};
/// // n = 8, b = 2: 4 block-rows, 1 + 2 blocks each, 4 reals per block.
/// let f = FlatBlockButterfly::new(8, 2, vec![1.0; 48]).unwrap();
/// assert_eq!(f.param_count(), 48);
/// assert_eq!(f.to_dense().get(0, 6), 0.0); // blocks 0 and 3 differ in two bits
/// assert_eq!(f.to_dense().get(0, 4), 1.0); // blocks 0 and 2 differ in one bit
/// ```
#[derive(Debug, Clone)]
pub struct FlatBlockButterfly {
    n: usize,
    b: usize,
    values: Arc<[f64]>,
    csr: Csr,
}

impl FlatBlockButterfly {
    /// The flat block butterfly from its `(n/b)·(1+L)·b²` block values.
    ///
    /// # Errors
    /// As [`BlockButterfly::new`] for `n` and `b`; [`Error::ShapeMismatch`] for a wrong value
    /// count; [`Error::NonFinite`] for NaN/Inf (naming the entry's row and column).
    ///
    /// # Examples
    /// ```
    /// use linops_core::op::FlatBlockButterfly;
    /// assert!(FlatBlockButterfly::new(8, 3, vec![0.0; 10]).is_err());
    /// assert!(FlatBlockButterfly::new(8, 2, vec![0.0; 47]).is_err());
    /// ```
    pub fn new(n: usize, b: usize, values: Vec<f64>) -> Result<Self> {
        let levels = levels_of("flat block butterfly", n, b)?;
        let m = n / b;
        let slots = 1 + levels;
        let bb = b * b;
        if values.len() != m * slots * bb {
            return Err(Error::ShapeMismatch {
                context: format!("flat block butterfly values (n = {n}, b = {b})"),
                expected: format!(
                    "{} reals ({m} block-rows × {slots} blocks × b² = {bb})",
                    m * slots * bb
                ),
                found: format!("{} reals", values.len()),
            });
        }
        let mut triplets = Vec::with_capacity(values.len());
        for r in 0..m {
            for t in 0..slots {
                let c = if t == 0 { r } else { r ^ (1 << (t - 1)) };
                for e in 0..bb {
                    let (row, col) = (r * b + e / b, c * b + e % b);
                    let v = values[(r * slots + t) * bb + e];
                    if !v.is_finite() {
                        return Err(Error::NonFinite {
                            context: "flat block butterfly values".into(),
                            row,
                            col,
                            value: v,
                        });
                    }
                    triplets.push((row, col, v));
                }
            }
        }
        Ok(Self {
            n,
            b,
            csr: Csr::from_triplets(n, n, &triplets)?,
            values: Arc::from(values),
        })
    }

    /// The first-order form `I + Σ_k B_k` of a block butterfly's factors (same `n`, `b`).
    ///
    /// # Errors
    /// [`Error::DeviceLimit`] past the `u32` index limit (module docs) (the sizes are already valid);
    /// [`Error::InvalidArgument`] when the sum `I + Σ F_l` of finite twiddles overflows `f64`.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{LeafOp, op::{BlockButterfly, FlatBlockButterfly}};
    /// let bb = BlockButterfly::new(4, 1, vec![1.0; 16]).unwrap();
    /// let f = FlatBlockButterfly::from_block_butterfly(&bb).unwrap();
    /// assert_eq!(f.to_dense().get(0, 0), 3.0); // 1 + D₁ of B_2 + D₁ of B_4
    /// ```
    pub fn from_block_butterfly(bb: &BlockButterfly) -> Result<Self> {
        let (n, b, levels) = (bb.n, bb.b, bb.levels());
        let slots = 1 + levels;
        let mut values = vec![0.0; (n / b) * slots * b * b];
        let pos = |row: usize, col: usize| {
            let (r, c) = (row / b, col / b);
            let t = flat_slot(r, c).expect("butterfly entries lie in the flat pattern");
            (r * slots + t) * b * b + (row % b) * b + col % b
        };
        for i in 0..n {
            values[pos(i, i)] += 1.0;
        }
        for f in 0..levels {
            for (row, col, off) in factor_entries(n, b, f) {
                values[pos(row, col)] += bb.twiddle.data[f * 2 * n * b + off];
            }
        }
        // The twiddles are finite (checked by BlockButterfly); only their sum can overflow, and
        // that is a value out of range, not a non-finite input.
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(Error::InvalidArgument(format!(
                "flat block butterfly from a block butterfly (n = {n}, b = {b}): the flat sum \
                 I + Σ F_l overflows f64 in value {i} ({:e}); rescale the twiddles",
                values[i]
            )));
        }
        Self::new(n, b, values)
    }

    /// The block size `b`.
    ///
    /// # Examples
    /// ```
    /// let f = linops_core::op::FlatBlockButterfly::new(4, 2, vec![0.0; 16]).unwrap();
    /// assert_eq!(f.block_size(), 2);
    /// ```
    pub fn block_size(&self) -> usize {
        self.b
    }

    /// The block values, in the layout of the module documentation.
    ///
    /// # Examples
    /// ```
    /// let f = linops_core::op::FlatBlockButterfly::new(2, 1, vec![1.0, 2.0, 3.0, 4.0]).unwrap();
    /// assert_eq!(f.values(), &[1.0, 2.0, 3.0, 4.0]);
    /// ```
    pub fn values(&self) -> &[f64] {
        &self.values
    }
}

impl LeafOp for FlatBlockButterfly {
    fn name(&self) -> &'static str {
        "flat_block_butterfly"
    }
    fn shape(&self) -> (usize, usize) {
        (self.n, self.n)
    }
    fn to_dense(&self) -> HostMat {
        self.csr.to_dense()
    }
    fn param_count(&self) -> usize {
        self.values.len()
    }
    fn rewrite(&self) -> Option<Op> {
        Some(Op::leaf(self.csr.clone()))
    }
}

/// The Pixelated butterfly `F + U·Vᵀ`: a flat block butterfly plus a low-rank term.
///
/// # Examples
/// ```
/// use linops_core::{HostMat, LeafOp, op::{FlatBlockButterfly, PixelatedButterfly}};
/// let f = FlatBlockButterfly::new(4, 2, vec![0.0; 16]).unwrap();
/// let u = HostMat::new(4, 1, vec![1.0, 2.0, 3.0, 4.0]).unwrap();
/// let p = PixelatedButterfly::new(f, u.clone(), u).unwrap();
/// assert_eq!((p.to_dense().get(3, 1), p.param_count()), (8.0, 24));
/// ```
#[derive(Debug, Clone)]
pub struct PixelatedButterfly {
    flat: FlatBlockButterfly,
    low: LowRank,
}

impl PixelatedButterfly {
    /// `flat + U·Vᵀ` with `U` and `V` of `n×r`.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] when `U` or `V` has not `n` rows; the errors of [`LowRank::new`]
    /// (empty, non-finite, ranks disagreeing or `r > n`).
    ///
    /// # Examples
    /// ```
    /// use linops_core::{HostMat, op::{FlatBlockButterfly, PixelatedButterfly}};
    /// let f = FlatBlockButterfly::new(4, 2, vec![0.0; 16]).unwrap();
    /// let u = HostMat::zeros(3, 1);
    /// assert!(PixelatedButterfly::new(f, u.clone(), u).is_err()); // 3 rows, n = 4
    /// ```
    pub fn new(flat: FlatBlockButterfly, u: HostMat, v: HostMat) -> Result<Self> {
        for (name, m) in [("U", &u), ("V", &v)] {
            if m.rows() != flat.n {
                return Err(Error::ShapeMismatch {
                    context: format!("pixelated butterfly low-rank factor {name}"),
                    expected: format!("{} rows (n of the flat block butterfly)", flat.n),
                    found: format!("{}x{}", m.rows(), m.cols()),
                });
            }
        }
        let r = u.cols();
        let low = LowRank::new(u, vec![1.0; r], v)?;
        Ok(Self { flat, low })
    }

    /// The flat block butterfly part.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{HostMat, op::{FlatBlockButterfly, PixelatedButterfly}};
    /// let f = FlatBlockButterfly::new(4, 2, vec![0.0; 16]).unwrap();
    /// let p = PixelatedButterfly::new(f, HostMat::zeros(4, 1), HostMat::zeros(4, 1)).unwrap();
    /// assert_eq!(p.flat().block_size(), 2);
    /// ```
    pub fn flat(&self) -> &FlatBlockButterfly {
        &self.flat
    }

    /// The low-rank part `U·diag(1)·Vᵀ`.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{HostMat, op::{FlatBlockButterfly, PixelatedButterfly}};
    /// let f = FlatBlockButterfly::new(4, 2, vec![0.0; 16]).unwrap();
    /// let p = PixelatedButterfly::new(f, HostMat::zeros(4, 2), HostMat::zeros(4, 2)).unwrap();
    /// assert_eq!(p.low_rank().rank(), 2);
    /// ```
    pub fn low_rank(&self) -> &LowRank {
        &self.low
    }
}

impl LeafOp for PixelatedButterfly {
    fn name(&self) -> &'static str {
        "pixelated_butterfly"
    }
    fn shape(&self) -> (usize, usize) {
        (self.flat.n, self.flat.n)
    }
    fn to_dense(&self) -> HostMat {
        let (f, l) = (self.flat.to_dense(), self.low.to_dense());
        HostMat::from_fn(self.flat.n, self.flat.n, |i, j| f.get(i, j) + l.get(i, j))
    }
    fn param_count(&self) -> usize {
        // Flat values plus U and V (the unit weights of the low-rank lowering are not parameters).
        self.flat.param_count() + self.low.param_count() - self.low.rank()
    }
    fn rewrite(&self) -> Option<Op> {
        let low = Op::leaf(self.low.clone());
        Op::sum(vec![Op::leaf(self.flat.clone()), low]).ok()
    }
}
