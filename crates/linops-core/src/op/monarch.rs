//! Monarch leaf (Dao et al. 2022, "Monarch: Expressive Structured Matrices for Efficient and
//! Accurate Training").
//!
//! Mathematics: `M = P_out · L · P_mid · R` with block-diagonal `R` and `L`:
//! - `R = diag(R₀, …, R_{b₁−1})`, `b₁` blocks of `b₂×p` (input `n = b₁·p`, middle `b₁·b₂`);
//! - `L = diag(L₀, …, L_{b₂−1})`, `b₂` blocks of `s×b₁` (output `m = b₂·s`);
//! - `P_mid = S(b₂, b₁)` and `P_out = S(s, b₂) = S(b₂, s)ᵀ`, with `S(rows, cols)` the perfect
//!   shuffle of [`Permutation::perfect_shuffle`].
//!
//! Entrywise, `M[σ·b₂ + l, t·p + j] = L_l[σ, t] · R_t[l, j]`: for every block pair `(l, t)` the
//! `s×p` slice `{(σ·b₂ + l, t·p + j)}` of `M` is the rank-1 matrix `L_l[:, t] · R_t[l, :]`, and the
//! slices partition `M`. The square Monarch of the paper is `b₁ = b₂ = p = s = √n` (`n = b²`, `b`
//! blocks of `b×b`, `P_out = P_mid = P`, `M = P·L·Pᵀ·R` with `P = Pᵀ`); every other `(b₁, b₂, p, s)`
//! is the rectangular variant (`m×n`, `m = b₂·s`, `n = b₁·p`). Those are the shapes supported.
//!
//! Application, `Y = alpha·M·X + beta·Y` for `X` of `B` columns, is two batched block GEMMs and
//! nothing else: `T = R·X` (contiguous blocks), then `Y = alpha·L·T + beta·Y` with both
//! permutations folded into the second GEMM's row indexing ([`BlockLayout::Strided`]: block `l`
//! reads rows `l + t·b₂` of `T` and writes rows `l + σ·b₂` of `Y`). Cost `2·b₁·b₂·(p + s)·B` FLOPs
//! (square: `4·n^{3/2}·B` against `2·n²·B` dense); one `b₁·b₂ × B` temporary.
//! [`Monarch::with_fused`] lowers instead to one `monarch` step ([`crate::Kernel::Monarch`]): both
//! block products per column with the intermediate in cache / workgroup memory, the same FLOPs,
//! `X` read once and `Y` written once (the two-pass form also writes and reads the `b₁·b₂ × B`
//! temporary). It pays where Monarch is memory-bound: `4·n·b` FLOPs per column (square) against
//! `8·n` bytes (f32) is `b/2` FLOPs per byte, below a machine's ridge only for small `b`; for
//! large blocks the block GEMMs reach a far higher rate. The cost model picks per plan.
//!
//! Projection ([`Monarch::project`]): since the slices partition `M` and each is one rank-1 outer
//! product of its own parameters, the Frobenius-nearest Monarch matrix to a dense `A` takes, for
//! every `(l, t)`, the best rank-1 approximation `σ₁·u·vᵀ` of the slice of `A` (Eckart–Young) and
//! sets `L_l[:, t] = √σ₁·u`, `R_t[l, :] = √σ₁·v`. The rank-1 factor is computed in plain Rust by
//! power iteration on `SᵀS` (see [`best_rank1`]); cost `O(iterations·m·n)` in total.
//!
//! Storage: `L` and `R` as two [`BlockDiagonal`]s, `b₂·s·b₁ + b₁·b₂·p` reals.

use super::{BlockDiagonal, LeafOp, Op, Permutation, require_nonempty};
use crate::lower::{BlockLayout, kernel};
use crate::op::Lowering;
use crate::{BufId, Error, HostMat, Link, Result};

/// A Monarch matrix `P_out·L·P_mid·R`; see the module docs for the shapes.
///
/// # Examples
/// ```
/// use linops_core::{HostMat, LeafOp, op::Monarch};
/// // Square: n = 4, b = 2 blocks of 2x2.
/// let blk = |s: f64| HostMat::from_fn(2, 2, |i, j| s + (i + 2 * j) as f64);
/// let m = Monarch::new(vec![blk(0.0), blk(1.0)], vec![blk(2.0), blk(3.0)]).unwrap();
/// assert_eq!(m.shape(), (4, 4));
/// assert_eq!(m.param_count(), 16);
/// ```
#[derive(Debug, Clone)]
pub struct Monarch {
    l: BlockDiagonal,
    r: BlockDiagonal,
    /// Lower to the one-pass `monarch` kernel instead of the two block GEMMs.
    fused: bool,
}

impl Monarch {
    /// The Monarch matrix with `L` blocks `l_blocks` (`b₂` blocks of `s×b₁`) and `R` blocks
    /// `r_blocks` (`b₁` blocks of `b₂×p`).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for an empty list, [`Error::EmptyDimension`] for an empty block,
    /// [`Error::ShapeMismatch`] when blocks of one factor differ in shape or the factors do not
    /// chain (`R` blocks must have `b₂ = l_blocks.len()` rows, `L` blocks `b₁ = r_blocks.len()`
    /// columns), [`Error::NonFinite`] for NaN/Inf.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{HostMat, LeafOp, op::Monarch};
    /// // Rectangular: b1 = 3 R blocks of 2x4, b2 = 2 L blocks of 5x3: M is 10x12.
    /// let r = vec![HostMat::from_fn(2, 4, |i, j| (i + j) as f64); 3];
    /// let l = vec![HostMat::from_fn(5, 3, |i, j| (i * j) as f64); 2];
    /// assert_eq!(Monarch::new(l.clone(), r).unwrap().shape(), (10, 12));
    /// let bad_r = vec![HostMat::from_fn(3, 4, |_, _| 1.0); 3]; // 3 rows, but 2 L blocks
    /// assert!(Monarch::new(l, bad_r).is_err());
    /// ```
    pub fn new(l_blocks: Vec<HostMat>, r_blocks: Vec<HostMat>) -> Result<Self> {
        let l = BlockDiagonal::new(l_blocks).map_err(|e| Self::context(e, "Monarch factor L"))?;
        let r = BlockDiagonal::new(r_blocks).map_err(|e| Self::context(e, "Monarch factor R"))?;
        Self::from_factors(l, r)
    }

    /// The Monarch matrix from its block-diagonal factors (see [`Monarch::new`]).
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] when the factors do not chain.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{LeafOp, op::{BlockDiagonal, Monarch}};
    /// let l = BlockDiagonal::from_stacked(4, 4, 4, vec![1.0; 64]).unwrap();
    /// let r = BlockDiagonal::from_stacked(4, 4, 4, vec![1.0; 64]).unwrap();
    /// assert_eq!(Monarch::from_factors(l, r).unwrap().shape(), (16, 16));
    /// ```
    pub fn from_factors(l: BlockDiagonal, r: BlockDiagonal) -> Result<Self> {
        let (b1, b2) = (r.num_blocks(), l.num_blocks());
        let (rr, _) = r.block_shape();
        let (_, lc) = l.block_shape();
        if rr != b2 || lc != b1 {
            return Err(Error::ShapeMismatch {
                context: "Monarch factors".into(),
                expected: format!(
                    "R blocks with {b2} rows (the number of L blocks) and L blocks with {b1} \
                     columns (the number of R blocks)"
                ),
                found: format!(
                    "{b1} R blocks of {:?}, {b2} L blocks of {:?}",
                    r.block_shape(),
                    l.block_shape()
                ),
            });
        }
        Ok(Self { l, r, fused: false })
    }

    fn context(e: Error, what: &str) -> Error {
        match e {
            Error::InvalidArgument(m) => Error::InvalidArgument(format!("{what}: {m}")),
            other => other,
        }
    }

    /// The square Monarch of size `n = b²` with `b` blocks of `b×b` in each factor, from the
    /// stacked block data of `L` and `R` (`b³` values each; see [`BlockDiagonal::from_stacked`]).
    ///
    /// # Errors
    /// [`Error::EmptyDimension`] when `b == 0`, [`Error::ShapeMismatch`] for a wrong data length,
    /// [`Error::NonFinite`] for NaN/Inf.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{LeafOp, op::Monarch};
    /// let m = Monarch::square(3, vec![1.0; 27], vec![2.0; 27]).unwrap();
    /// assert_eq!(m.shape(), (9, 9));
    /// ```
    pub fn square(b: usize, l: Vec<f64>, r: Vec<f64>) -> Result<Self> {
        require_nonempty("square Monarch (blocks)", b, b)?;
        Self::from_factors(
            BlockDiagonal::from_stacked(b, b, b, l)?,
            BlockDiagonal::from_stacked(b, b, b, r)?,
        )
    }

    /// The factor `L` (`b₂` blocks of `s×b₁`).
    ///
    /// # Examples
    /// ```
    /// let m = linops_core::op::Monarch::square(2, vec![1.0; 8], vec![1.0; 8]).unwrap();
    /// assert_eq!(m.l().num_blocks(), 2);
    /// ```
    pub fn l(&self) -> &BlockDiagonal {
        &self.l
    }

    /// The factor `R` (`b₁` blocks of `b₂×p`).
    ///
    /// # Examples
    /// ```
    /// let m = linops_core::op::Monarch::square(2, vec![1.0; 8], vec![1.0; 8]).unwrap();
    /// assert_eq!(m.r().block_shape(), (2, 2));
    /// ```
    pub fn r(&self) -> &BlockDiagonal {
        &self.r
    }

    /// The same operator lowered to the one-pass fused kernel ([`crate::Kernel::Monarch`]:
    /// both block products and the permutations per column, the intermediate in cache or
    /// workgroup memory) when `fused`, else to the two block GEMMs (the default). A cost model
    /// makes this choice for the plans it builds (see [`crate::plan::cost`]); the parameters are
    /// shared, not copied.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{DType, Kernel, Op, Plan, op::Monarch};
    /// let m = Monarch::square(4, vec![1.0; 64], vec![0.5; 64]).unwrap();
    /// assert_eq!(Plan::new(&Op::leaf(m.clone()), 16, 2, DType::F32).unwrap().steps().len(), 2);
    /// let plan = Plan::new(&Op::leaf(m.with_fused(true)), 16, 2, DType::F32).unwrap();
    /// assert!(matches!(plan.steps()[..], [ref s] if matches!(s.kernel, Kernel::Monarch(_))));
    /// ```
    pub fn with_fused(&self, fused: bool) -> Monarch {
        Monarch {
            fused,
            ..self.clone()
        }
    }

    /// Whether the operator lowers to the one-pass kernel (see [`Monarch::with_fused`]).
    ///
    /// # Examples
    /// ```
    /// let m = linops_core::op::Monarch::square(2, vec![1.0; 8], vec![1.0; 8]).unwrap();
    /// assert!(!m.is_fused() && m.with_fused(true).is_fused());
    /// ```
    pub fn is_fused(&self) -> bool {
        self.fused
    }

    /// The same operator as an explicit product `P_out·L·P_mid·R` of permutation and
    /// block-diagonal leaves (for tests and for explaining the folding; applying it costs two
    /// extra gather passes).
    ///
    /// # Examples
    /// ```
    /// use linops_core::{LeafOp, op::Monarch};
    /// let m = Monarch::square(2, (0..8).map(f64::from).collect(), vec![1.0; 8]).unwrap();
    /// assert_eq!(m.to_factors().to_dense(), m.to_dense());
    /// ```
    pub fn to_factors(&self) -> Op {
        let (b1, b2) = (self.r.num_blocks(), self.l.num_blocks());
        let s = self.l.block_shape().0;
        let p_mid = Permutation::perfect_shuffle(b2, b1).expect("non-empty");
        let p_out = Permutation::perfect_shuffle(s, b2).expect("non-empty");
        Op::product(vec![
            Op::leaf(p_out),
            Op::leaf(self.l.clone()),
            Op::leaf(p_mid),
            Op::leaf(self.r.clone()),
        ])
        .expect("factors chain by construction")
    }

    /// The Frobenius-nearest Monarch matrix with `l_blocks` blocks in `L` and `r_blocks` in `R`
    /// to the dense `a` (`m×n` with `m = l_blocks·s`, `n = r_blocks·p`): one best rank-1
    /// approximation per block pair, see the module docs and [`best_rank1`].
    ///
    /// # Errors
    /// [`Error::EmptyDimension`] for an empty `a` or zero block counts, [`Error::ShapeMismatch`]
    /// when `l_blocks` does not divide the rows or `r_blocks` the columns, [`Error::NonFinite`]
    /// for NaN/Inf in `a`.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{LeafOp, op::Monarch};
    /// let m = Monarch::square(2, (1..9).map(f64::from).collect(), vec![0.5; 8]).unwrap();
    /// let back = Monarch::project(&m.to_dense(), 2, 2).unwrap().to_dense();
    /// for (x, y) in back.data().iter().zip(m.to_dense().data()) {
    ///     assert!((x - y).abs() < 1e-12);
    /// }
    /// ```
    pub fn project(a: &HostMat, l_blocks: usize, r_blocks: usize) -> Result<Self> {
        require_nonempty("Monarch projection input", a.rows(), a.cols())?;
        require_nonempty("Monarch projection block counts", l_blocks, r_blocks)?;
        a.check_finite("Monarch projection input")?;
        if a.rows() % l_blocks != 0 || a.cols() % r_blocks != 0 {
            return Err(Error::ShapeMismatch {
                context: "Monarch projection".into(),
                expected: format!(
                    "rows a multiple of {l_blocks} (L blocks) and columns a multiple of \
                     {r_blocks} (R blocks)"
                ),
                found: format!("{}x{}", a.rows(), a.cols()),
            });
        }
        let (b1, b2) = (r_blocks, l_blocks);
        let (s, p) = (a.rows() / b2, a.cols() / b1);
        // L: b2 blocks of s×b1, stacked (block l at l·s·b1); R: b1 blocks of b2×p.
        let mut l = vec![0.0; b2 * s * b1];
        let mut r = vec![0.0; b1 * b2 * p];
        let mut slice = vec![0.0; s * p];
        for l_idx in 0..b2 {
            for t in 0..b1 {
                for j in 0..p {
                    for sg in 0..s {
                        slice[sg + j * s] = a.get(sg * b2 + l_idx, t * p + j);
                    }
                }
                // σ₁ = σ·2^e with the slice scaled into [1, 2) first, so nothing over- or
                // underflows at any magnitude; the 2^e is split between the two factors (exact
                // power-of-two products, so projecting 2^k·A gives 2^k times the result).
                let Some(Rank1 { sigma, exp, u, v }) = rank1_scaled(s, p, &slice) else {
                    continue; // a zero slice: its block entries stay zero
                };
                let root = sigma.sqrt();
                let (el, er) = (exp.div_euclid(2), exp - exp.div_euclid(2));
                for sg in 0..s {
                    l[l_idx * s * b1 + sg + t * s] = ldexp(root * u[sg], el);
                }
                for j in 0..p {
                    r[t * b2 * p + l_idx + j * b2] = ldexp(root * v[j], er);
                }
            }
        }
        Self::from_factors(
            BlockDiagonal::from_stacked(b2, s, b1, l)?,
            BlockDiagonal::from_stacked(b1, b2, p, r)?,
        )
    }
}

/// Best rank-1 approximation `σ·u·vᵀ` (Frobenius and spectral) of the column-major `rows×cols`
/// matrix `a`: returns `(σ, u, v)` with unit `u`, `v` (zero vectors when `a = 0`).
///
/// Power iteration on `aᵀa` from the row of `a` with the largest norm, until the Rayleigh quotient
/// `‖a·v‖²` stops increasing (relative change ≤ 4·2⁻⁵³) or 1000 iterations. For any unit `v` the
/// matrix `a·v·vᵀ` is the best approximation with right factor `v`, with squared error
/// `‖a‖² − ‖a·v‖²`; the iteration increases `‖a·v‖²` monotonically towards `σ₁²`, at the rate
/// `(σ₂/σ₁)²` per step, so the returned error exceeds the optimal one by a relative amount below
/// the stopping tolerance once converged (immediately when `a` has rank 1).
///
/// Scale: the iteration runs on `a·2⁻ᵉ` with `2ᵉ ≤ max|a| < 2ᵉ⁺¹` (an exact scaling), so no
/// square over- or underflows whatever the magnitude of `a` (entries of 10²⁰⁰ or 10⁻³⁰⁰ alike);
/// `σ` is `+∞` only when `σ₁` itself exceeds `f64::MAX`.
///
/// # Errors
/// [`Error::EmptyDimension`] for `rows == 0` or `cols == 0`, [`Error::ShapeMismatch`] when
/// `a.len() != rows·cols`, [`Error::NonFinite`] for NaN/Inf in `a`.
///
/// # Examples
/// ```
/// // [[3, 6], [4, 8]] = 5·[0.6, 0.8]ᵀ·√5·[1, 2]/√5: σ = 5√5.
/// let (s, u, v) = linops_core::op::best_rank1(2, 2, &[3.0, 4.0, 6.0, 8.0]).unwrap();
/// assert!((s - 5.0 * 5f64.sqrt()).abs() < 1e-12);
/// assert!((u[0].abs() - 0.6).abs() < 1e-12 && (v[1].abs() - 2.0 / 5f64.sqrt()).abs() < 1e-12);
/// // The same matrix times 1e200: σ scales, nothing overflows.
/// let (s, _, _) = linops_core::op::best_rank1(2, 2, &[3e200, 4e200, 6e200, 8e200]).unwrap();
/// assert!((s / (5e200 * 5f64.sqrt()) - 1.0).abs() < 1e-12);
/// assert!(linops_core::op::best_rank1(2, 2, &[1.0]).is_err()); // 1 entry for a 2x2
/// ```
pub fn best_rank1(rows: usize, cols: usize, a: &[f64]) -> Result<(f64, Vec<f64>, Vec<f64>)> {
    require_nonempty("best rank-1 approximation", rows, cols)?;
    if rows.checked_mul(cols) != Some(a.len()) {
        return Err(Error::ShapeMismatch {
            context: "best rank-1 approximation".into(),
            expected: format!("{rows}x{cols} = {} entries", rows.saturating_mul(cols)),
            found: format!("{} entries", a.len()),
        });
    }
    crate::check_finite("best rank-1 approximation input", rows, a)?;
    Ok(match rank1_scaled(rows, cols, a) {
        Some(Rank1 { sigma, exp, u, v }) => (ldexp(sigma, exp), u, v),
        None => (0.0, vec![0.0; rows], vec![0.0; cols]),
    })
}

/// `σ₁ = sigma·2^exp` with unit singular vectors `u`, `v`.
struct Rank1 {
    sigma: f64,
    exp: i32,
    u: Vec<f64>,
    v: Vec<f64>,
}

/// `2^k` for `k` in the normal exponent range `-1022..=1023`.
fn pow2(k: i32) -> f64 {
    debug_assert!((-1022..=1023).contains(&k));
    f64::from_bits(((k + 1023) as u64) << 52)
}

/// `x·2^k`, exact unless the result is subnormal, for any `k` (in steps of at most 2¹⁰⁰⁰).
fn ldexp(mut x: f64, mut k: i32) -> f64 {
    while k > 1000 {
        x *= pow2(1000);
        k -= 1000;
    }
    while k < -1000 {
        x *= pow2(-1000);
        k += 1000;
    }
    x * pow2(k)
}

/// The `e` with `2^e ≤ m < 2^(e+1)`, for a finite `m > 0` (subnormals included).
fn exponent(m: f64) -> i32 {
    if m < f64::MIN_POSITIVE {
        return exponent(m * pow2(64)) - 64;
    }
    ((m.to_bits() >> 52) & 0x7ff) as i32 - 1023
}

/// The power iteration of [`best_rank1`] on `a·2^-e` (`None` when `a = 0`); `a` is finite and
/// `rows·cols` long.
fn rank1_scaled(rows: usize, cols: usize, a: &[f64]) -> Option<Rank1> {
    let max = a.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    if max == 0.0 {
        return None;
    }
    let exp = exponent(max);
    let scaled: Vec<f64> = a.iter().map(|&x| ldexp(x, -exp)).collect();
    let at = |i: usize, j: usize| scaled[i + j * rows];
    let mul = |v: &[f64]| -> Vec<f64> {
        (0..rows)
            .map(|i| (0..cols).map(|j| at(i, j) * v[j]).sum())
            .collect()
    };
    let mul_t = |w: &[f64]| -> Vec<f64> {
        (0..cols)
            .map(|j| (0..rows).map(|i| at(i, j) * w[i]).sum())
            .collect()
    };
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    // Start from the heaviest row: it has a non-zero component along v₁ unless a = 0.
    let best_row = (0..rows)
        .max_by(|&x, &y| {
            let nx: f64 = (0..cols).map(|j| at(x, j).powi(2)).sum();
            let ny: f64 = (0..cols).map(|j| at(y, j).powi(2)).sum();
            nx.total_cmp(&ny)
        })
        .unwrap_or(0);
    let mut v: Vec<f64> = (0..cols).map(|j| at(best_row, j)).collect();
    let nv = norm(&v);
    if nv == 0.0 {
        return None;
    }
    v.iter_mut().for_each(|x| *x /= nv);
    let mut w = mul(&v);
    let mut energy = norm(&w).powi(2);
    for _ in 0..1000 {
        let mut next = mul_t(&w);
        let nn = norm(&next);
        if nn == 0.0 {
            break;
        }
        next.iter_mut().for_each(|x| *x /= nn);
        let wn = mul(&next);
        let e = norm(&wn).powi(2);
        if e < energy {
            break; // rounding noise: keep the better iterate
        }
        let done = e - energy <= 4.0 * f64::EPSILON / 2.0 * e;
        v = next;
        w = wn;
        energy = e;
        if done {
            break;
        }
    }
    let sigma = energy.sqrt();
    if sigma == 0.0 {
        return None;
    }
    let u = w.iter().map(|x| x / sigma).collect();
    Some(Rank1 { sigma, exp, u, v })
}

impl LeafOp for Monarch {
    fn name(&self) -> &'static str {
        "monarch"
    }
    fn shape(&self) -> (usize, usize) {
        (self.l.shape().0, self.r.shape().1)
    }
    fn to_dense(&self) -> HostMat {
        let (b1, b2) = (self.r.num_blocks(), self.l.num_blocks());
        let (s, p) = (self.l.block_shape().0, self.r.block_shape().1);
        let mut m = HostMat::zeros(b2 * s, b1 * p);
        for l in 0..b2 {
            for t in 0..b1 {
                for j in 0..p {
                    let rv = self.r.entry(t, l, j);
                    for sg in 0..s {
                        m.set(sg * b2 + l, t * p + j, self.l.entry(l, sg, t) * rv);
                    }
                }
            }
        }
        m
    }
    fn param_count(&self) -> usize {
        self.l.param_count() + self.r.param_count()
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
        if self.fused {
            let (l, r) = (cx.param(self.l.param()), cx.param(self.r.param()));
            let k = kernel::Monarch {
                trans: transposed,
                alpha,
                beta,
            };
            return cx.push(k, vec![l, r, x], out);
        }
        let (c, s) = (BlockLayout::Contiguous, BlockLayout::Strided);
        let (mid, rows) = (
            self.r.num_blocks() * self.l.num_blocks(),
            cx.shape_of(out).0,
        );
        fn step(f: &BlockDiagonal, t: bool, layout: BlockLayout, rows: usize) -> Link<'_, Op> {
            Link::new(rows, move |cx: &mut Lowering, i, o, a, b| {
                f.lower_with_layouts(cx, t, (layout, layout), (i, o), a, b)
            })
        }
        let links = if transposed {
            // Mᵀ = Rᵀ·P_midᵀ·Lᵀ·P_outᵀ: both permutations folded into the Lᵀ step.
            vec![step(&self.l, true, s, mid), step(&self.r, true, c, rows)]
        } else {
            vec![step(&self.r, false, c, mid), step(&self.l, false, s, rows)]
        };
        cx.chain(x, out, alpha, beta, links)
    }
}
