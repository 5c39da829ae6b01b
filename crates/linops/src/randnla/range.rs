//! Randomized range finders: fixed rank with power iterations, and adaptive with an a-posteriori
//! error estimate.
//!
//! **Mathematics.** Fixed rank (HMT Alg. 4.4, randomized subspace iteration): `Q₀ = orth(A·Ω)`,
//! then `q` times `W = orth(Aᵀ·Q)`, `Q = orth(A·W)` — the basis of `(AAᵀ)^q·A·Ω`, re-orthonormalized
//! after every application (CholeskyQR2, [`super::qr`]) so rounding does not wash out directions
//! below `u^{1/(2q+1)}·σ₁`. Adaptive (HMT Alg. 4.2 in blocks): grow `Q` by blocks of `b` columns
//! `orth((I − QQᵀ)·A·Ω_b)` (projection applied twice, block Gram–Schmidt), and keep `r` probe
//! columns `Z = (I − QQᵀ)·A·Ω_p`; HMT §4.3 gives, with probability at least `1 − 10^{-r}`,
//! `‖(I − QQᵀ)A‖ ≤ 10·√(2/π)·max_i ‖Z·e_i‖`, and the loop stops once this estimate is below `tol`.
//! Orthonormalizing a projected block amplifies what rounding left of its components along `Q` by
//! up to `‖Y‖/‖(I − QQᵀ)Y‖`, which is `O(1/u)` once the basis has grown past the numerical rank;
//! so the orthonormalized block is projected again (twice) and re-orthonormalized ("twice is
//! enough", Giraud, Langou, Rozložník 2005), which keeps `‖QᵀQ − I‖ = O(m·l·u)`. Each projected
//! block is rank-revealed first: with `(I − QQᵀ)Y = Q_b·R` and `R = U·Σ·Vᵀ` (a `b×b` SVD on the
//! host), only the directions `Q_b·u_i` with `σ_i > 10(√m + √n)·u·max_j ‖y_j‖` are kept; the
//! others hold no direction of `A` that the precision can resolve (normalizing them would add
//! unit vectors made of rounding error). A block that keeps fewer than `b` directions means the
//! numerical rank of `A` is reached, and the loop stops after adding what it kept.
//!
//! **Storage and cost.** Only resident blocks of `l` (or `b`, `r`) columns; `(2q+1)` applications
//! of `A`/`Aᵀ` to `l` columns and `O(m·l²)` device flops for the fixed variant; the adaptive
//! variant applies `A` once per block plus once to the `r` probes.
//!
//! **Residency.** The plans of `A` and `Aᵀ` (on `l`, or `b`, columns) are built once; a power
//! iteration moves only its orthonormalizations' `l×l` Gram matrices and `R⁻¹` between the host
//! and the engine (`O(l²)` bytes, independent of `m` and `n`), and the adaptive variant's
//! projections and orthonormalizations plan per block because the basis grows.

use super::estimate::{NormEstimate, range_error};
use super::host_la::thin_svd;
use super::qr::{QrMethod, orthonormalize};
use super::vectors::OpPlan;
use super::{
    check_block, check_dtype, check_rank, gaussian, hcat, max_col_norm, unit_roundoff, upload_like,
};
use crate::{Engine, Error, Matrix, Op, Result, Scalar};
use faer::Mat;

/// Golub–Kahan steps of the certified check in [`adaptive_range_finder`].
const CERTIFY_STEPS: usize = 12;

/// Parameters of [`range_finder`].
///
/// # Examples
/// ```
/// let o = linops::randnla::range::RangeOptions::default();
/// assert_eq!(o.power_iters, 2);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RangeOptions {
    /// Power iterations `q`: the basis spans `(AAᵀ)^q·A·Ω` (as [`SvdOptions`](super::svd::SvdOptions)).
    pub power_iters: usize,
    /// Seed of the Gaussian test matrix `Ω`.
    pub seed: u64,
}

impl Default for RangeOptions {
    fn default() -> Self {
        Self {
            power_iters: 2,
            seed: 0x5EED,
        }
    }
}

/// Parameters of [`adaptive_range_finder`].
///
/// # Examples
/// ```
/// let o = linops::randnla::range::AdaptiveRangeOptions::default();
/// assert_eq!((o.block, o.probes, o.max_rank), (8, 10, None));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdaptiveRangeOptions {
    /// Columns added per round.
    pub block: usize,
    /// Gaussian probe vectors `r` of the a-posteriori estimate (HMT §4.3: failure probability
    /// `10^{-r}` for the `10·√(2/π)` factor).
    pub probes: usize,
    /// Largest basis size; `None`: `min(m, n)`.
    pub max_rank: Option<usize>,
    /// Seed of the test and probe matrices.
    pub seed: u64,
}

impl Default for AdaptiveRangeOptions {
    fn default() -> Self {
        Self {
            block: 8,
            probes: 10,
            max_rank: None,
            seed: 0x5EED,
        }
    }
}

/// An orthonormal basis of an approximate range.
#[derive(Debug)]
pub struct RangeBasis {
    /// `m×l` orthonormal columns, resident.
    pub q: Matrix,
    /// How many of the orthonormalizations fell back to Householder QR.
    pub householder_fallbacks: usize,
}

/// The basis from [`adaptive_range_finder`] with its error estimate.
#[derive(Debug)]
pub struct AdaptiveRange {
    /// `m×l` orthonormal columns, resident (`l` a multiple of the block size, capped at `max_rank`;
    /// smaller when a block was rounding noise, i.e. the numerical rank of `A` was reached).
    pub q: Matrix,
    /// The estimate of `‖(I − QQᵀ)A‖₂` that stopped the growth: HMT §4.3's
    /// `10·√(2/π)·max_i ‖(I − QQᵀ)·A·ω_i‖` (an upper bound with probability `1 − 10^{-probes}`),
    /// or, when HMT's was within its factor 8 of `tol`, the certified estimate (`certified`).
    pub estimate: f64,
    /// Whether `estimate ≤ tol` (otherwise `max_rank` or the numerical rank was reached first).
    pub converged: bool,
    /// The certified Golub–Kahan estimate ([`super::estimate`]) when it stopped the growth.
    pub certified: Option<NormEstimate>,
}

/// `Q` with orthonormal columns spanning `(AAᵀ)^q·A·Ω` for an `n×l` Gaussian `Ω` from `seed`.
///
/// # Errors
/// [`Error::InvalidArgument`] for `l` outside `1..=min(m, n)`; [`Error::Unsupported`] for `f64` on
/// the GPU engine; device failures.
///
/// # Examples
/// ```
/// use linops::{Engine, Op, faer::Mat, randnla::range::{range_finder, RangeOptions}};
/// let e = Engine::cpu();
/// // a rank-2 operator: the basis of size 2 captures it exactly
/// let a = linops::dense(Mat::from_fn(8, 6, |i, j| (i + j) as f64 + (i * j) as f64).as_ref()).unwrap();
/// let b = range_finder::<f64>(&e, &a, 2, &RangeOptions { power_iters: 1, seed: 7 }).unwrap();
/// let q = e.download::<f64>(&b.q).unwrap();
/// let d = linops::to_faer(&a);
/// let resid = &d - &q * (q.transpose() * &d);
/// assert!(resid.norm_max() < 1e-12 * d.norm_max());
/// ```
pub fn range_finder<T: Scalar>(
    e: &Engine,
    a: &Op,
    l: usize,
    opts: &RangeOptions,
) -> Result<RangeBasis> {
    let (q, seed) = (opts.power_iters, opts.seed);
    check_dtype::<T>(e)?;
    check_rank("range_finder", a, l)?;
    let n = a.shape().1;
    let at = a.t();
    let omega = gaussian::<T>(e, n, l, seed)?;
    let mut fallbacks = 0;
    let mut orth = |x: &Matrix| -> Result<Matrix> {
        let f = orthonormalize(e, x)?;
        fallbacks += usize::from(f.method == QrMethod::Householder);
        Ok(f.q)
    };
    // The plans of A and Aᵀ on l columns are built once for all power iterations (no
    // re-planning or cost-model run per iteration).
    let dtype = omega.dtype();
    let a_plan = OpPlan::new(e, a, l, dtype)?;
    let mut basis = orth(&a_plan.apply(e, &omega)?)?;
    if q > 0 {
        let at_plan = OpPlan::new(e, &at, l, dtype)?;
        for _ in 0..q {
            let w = orth(&at_plan.apply(e, &basis)?)?;
            basis = orth(&a_plan.apply(e, &w)?)?;
        }
    }
    Ok(RangeBasis {
        q: basis,
        householder_fallbacks: fallbacks,
    })
}

/// `Y − Q·(Qᵀ·Y)` on the backend.
pub(crate) fn project_out(e: &Engine, q: &Matrix, y: &Matrix) -> Result<Matrix> {
    let c = e.gemm(1.0, q, true, y, false, 0.0, None)?;
    e.gemm(-1.0, q, false, &c, false, 1.0, Some(y))
}

/// `(I − QQᵀ)²·Y` for `Q = [Q₁ Q₂ …]`, block by block (block classical Gram–Schmidt, twice).
fn project_twice(e: &Engine, blocks: &[Matrix], y: &Matrix) -> Result<Matrix> {
    let mut out: Option<Matrix> = None;
    for _ in 0..2 {
        for qb in blocks {
            out = Some(project_out(e, qb, out.as_ref().unwrap_or(y))?);
        }
    }
    out.ok_or_else(|| Error::InvalidArgument("projection against an empty basis".into()))
}

/// Grows an orthonormal basis in blocks of `block` columns until the HMT §4.3 estimate with
/// `probes` Gaussian probe vectors is at most `tol`, the basis has `max_rank` columns, or a new
/// block is rounding noise (the numerical rank of `A` is reached; module docs).
///
/// # Errors
/// [`Error::InvalidArgument`] for `block`, `probes` or `max_rank` of 0, `max_rank > min(m, n)`,
/// or a negative or non-finite `tol`; [`Error::DeviceLimit`] when the probe block exceeds
/// [`MAX_BLOCK_ENTRIES`](super::MAX_BLOCK_ENTRIES); as [`range_finder`].
///
/// # Examples
/// ```
/// use linops::{Engine, faer::Mat, randnla::range::{adaptive_range_finder, AdaptiveRangeOptions}};
/// let e = Engine::cpu();
/// let a = linops::dense(Mat::from_fn(40, 30, |i, j| 0.5f64.powi((i + j) as i32)).as_ref()).unwrap();
/// let opts = AdaptiveRangeOptions { block: 4, probes: 5, max_rank: None, seed: 3 };
/// let r = adaptive_range_finder::<f64>(&e, &a, 1e-8, &opts).unwrap();
/// assert!(r.converged && r.estimate <= 1e-8);
/// assert!(r.q.shape().1 <= 8); // a rank-1 operator
/// ```
pub fn adaptive_range_finder<T: Scalar>(
    e: &Engine,
    a: &Op,
    tol: f64,
    opts: &AdaptiveRangeOptions,
) -> Result<AdaptiveRange> {
    let (m0, n0) = a.shape();
    let max_rank = opts.max_rank.unwrap_or(m0.min(n0));
    let (block, probes, seed) = (opts.block, opts.probes, opts.seed);
    check_dtype::<T>(e)?;
    check_rank("adaptive_range_finder", a, max_rank)?;
    if block == 0 || probes == 0 || !(tol.is_finite() && tol >= 0.0) {
        return Err(Error::InvalidArgument(format!(
            "adaptive_range_finder: block {block} and probes {probes} must be positive and tol {tol} finite and >= 0"
        )));
    }
    let (m, n) = a.shape();
    check_block(
        &format!("adaptive_range_finder: probes = {probes} probe vectors"),
        m.max(n),
        probes,
    )?;
    check_block(
        &format!("adaptive_range_finder: probes = {probes}"),
        probes,
        probes,
    )?;
    let noise = 10.0 * ((m as f64).sqrt() + (n as f64).sqrt()) * unit_roundoff(T::DTYPE);
    let factor = 10.0 * (2.0 / std::f64::consts::PI).sqrt();
    let estimate_of = |z: &Matrix| -> Result<f64> {
        Ok(factor * e.col_norms(z)?.into_iter().fold(0.0, f64::max))
    };
    let mut z = e.apply_to(a, &gaussian::<T>(e, n, probes, seed)?)?;
    let mut estimate = estimate_of(&z)?;
    let mut blocks: Vec<Matrix> = Vec::new();
    let mut rank = 0;
    let mut round = 1u64;
    let mut certified = None;
    let mut block_plan: Option<(usize, OpPlan)> = None;
    while estimate > tol && rank < max_rank {
        let b = block.min(max_rank - rank);
        let omega = gaussian::<T>(e, n, b, seed.wrapping_add(round))?;
        // The plan of A on `block` columns is built once (only a last, narrower block and the
        // probes have their own).
        let (w, plan) = match block_plan.take().filter(|(w, _)| *w == b) {
            Some(kept) => kept,
            None => (b, OpPlan::new(e, a, b, omega.dtype())?),
        };
        let y0 = plan.apply(e, &omega)?;
        block_plan = Some((w, plan));
        round += 1;
        let projected;
        let y = if blocks.is_empty() {
            &y0
        } else {
            projected = project_twice(e, &blocks, &y0)?;
            &projected
        };
        // Rank-revealing step: Y = Q·R and R = U·Σ·Vᵀ, so the directions Q·u_i with σ_i above
        // the rounding level of A·Ω_b are new and the others are noise. Normalizing noise columns
        // would give unit vectors dominated by rounding error, not orthogonal to the basis.
        let level = noise * max_col_norm(e, &y0)?;
        let f = orthonormalize(e, y)?;
        let (u, sv, _) = thin_svd(f.r.as_ref())?;
        // False for σ at the rounding level (and for NaN).
        let keep = sv.iter().take_while(|s| **s > level).count();
        if keep == 0 {
            break; // A·Ω_b lies in span(Q) to working accuracy
        }
        let qk = if keep == b {
            f.q
        } else {
            let uk = Mat::from_fn(b, keep, |i, j| u[(i, j)]);
            e.gemm(
                1.0,
                &f.q,
                false,
                &upload_like(e, &f.q, &uk)?,
                false,
                0.0,
                None,
            )?
        };
        // Q_b·U_k already has orthonormal columns; only a block that must be kept orthogonal
        // to an existing basis needs the second projection and orthonormalization.
        let qb = if blocks.is_empty() {
            qk
        } else {
            orthonormalize(e, &project_twice(e, &blocks, &qk)?)?.q
        };
        z = project_out(e, &qb, &z)?;
        estimate = estimate_of(&z)?;
        blocks.push(qb);
        rank += keep;
        if keep < b {
            break; // the numerical rank of A is reached
        }
        // HMT's factor 10·√(2/π) ≈ 8 makes its bound loose: once it is within that factor of
        // tol the true error may already be below it, and the certified (tighter) estimate
        // decides.
        if estimate > tol && estimate <= factor * tol && rank < max_rank {
            let refs: Vec<&Matrix> = blocks.iter().collect();
            let c = range_error(e, a, &hcat(e, &refs)?, CERTIFY_STEPS, seed ^ 0xCE27)?;
            if c.bound <= tol {
                estimate = c.bound;
                certified = Some(c);
            }
        }
    }
    let q = if blocks.is_empty() {
        // The estimate was already below tol: the empty basis; return one block anyway so the
        // caller gets a valid (m×1) orthonormal matrix spanning A·ω₁.
        let y = e.apply_to(a, &gaussian::<T>(e, n, 1, seed.wrapping_add(round))?)?;
        orthonormalize(e, &y)?.q
    } else {
        let refs: Vec<&Matrix> = blocks.iter().collect();
        hcat(e, &refs)?
    };
    Ok(AdaptiveRange {
        q,
        estimate,
        converged: estimate <= tol,
        certified,
    })
}
