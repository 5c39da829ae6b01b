//! Randomized SVD (HMT 2011, Alg. 5.1) and block Krylov SVD (Musco & Musco 2015).
//!
//! **Mathematics.** Given an orthonormal basis `Q` (`m×s`) of an approximate range of `A`
//! ([`super::range`]), `B = QᵀA` is formed as `Bᵀ = Aᵀ·Q` (`n×s`, one application of `Aᵀ`) and
//! factored `Bᵀ = Q̃·R̃` on the device ([`super::qr::orthonormalize`]); the `s×s` matrix
//! `R̃ᵀ = Û·Σ·Ŵᵀ` is decomposed in `f64` on the host (faer SVD), so that
//! `A ≈ QQᵀA = (Q·Û)·Σ·(Q̃·Ŵ)ᵀ`, and the leading `k` triplets are kept; `U = Q·Û` and `V = Q̃·Ŵ` are
//! device `gemm`s. Randomized SVD takes `Q` from `q` power iterations on `l = k + p` columns, with
//! (HMT Cor. 10.10) `E‖A − UΣVᵀ‖ ≤ [1 + √(k/(p−1)) + e√(k+p)/p·√(min(m,n) − k)]^{1/(2q+1)}·σ_{k+1}`
//! for the rank-`l` projection; truncating to rank `k` adds at most `σ_{k+1}` of the best rank-`k`
//! of `QQᵀA`. Block Krylov takes `Q` from the Krylov space
//! `[AΩ, (AAᵀ)AΩ, …, (AAᵀ)^q AΩ]` (`l(q+1)` columns, each block orthogonalized against the
//! previous ones), whose gap-independent guarantee is `‖A − UΣVᵀ‖ ≤ (1 + ε)·σ_{k+1}` after
//! `q = O(log n/√ε)` iterations (vs `O(log n/ε)` for subspace iteration).
//!
//! **Error estimate.** Both return a certified estimate of `‖A − UΣVᵀ‖₂` from `probes`
//! Golub–Kahan–Lanczos steps with a random start ([`super::estimate`]): an upper bound with
//! probability at least 99% (Kuczyński–Woźniakowski), within a factor 1.1–1.25 of the largest
//! Ritz value. (Until 2026-12 this was HMT §4.3's `10·√(2/π)·max_i ‖E·ω_i‖`, an upper bound
//! with probability `1 − 10^{-r}` but 8–70× the true error.)
//!
//! **Cost.** Randomized SVD: `2q + 2` applications of `A`/`Aᵀ` to `l` columns, plus one to the
//! `r` probes; block Krylov: `2q + 2` applications to `l` columns, basis `s = l(q+1)`; both
//! `O((m + n)·s²)` device flops and `O(s³)` host flops.

use super::estimate::{Factored, NormEstimate, Right};
use super::host_la::thin_svd;
use super::qr::{QrMethod, orthonormalize};
use super::range::{RangeOptions, project_out, range_finder};
use super::vectors::OpPlan;
use super::{
    check_block, check_dtype, check_rank, checked_sum, gaussian, hcat, max_col_norm,
    scale_exponent, scale_pow2, upload_like,
};
use crate::{Engine, Error, Matrix, Op, Result, Scalar};
use faer::Mat;

/// Parameters of the randomized SVD drivers.
///
/// # Examples
/// ```
/// use linops::randnla::svd::SvdOptions;
/// let o = SvdOptions::default();
/// assert_eq!((o.oversample, o.power_iters, o.probes), (10, None, 12));
/// // scikit-learn's rule: 7 power iterations for k < 0.1·min(m, n), else 4.
/// assert_eq!(o.power_iters_for(10, (1000, 500)), 7);
/// assert_eq!(o.power_iters_for(60, (1000, 500)), 4);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SvdOptions {
    /// Oversampling `p`: the sketch has `l = k + p` columns.
    pub oversample: usize,
    /// Power iterations `q` (randomized SVD), or Krylov depth (block Krylov). `None` (the
    /// default) chooses as [`SvdOptions::power_iters_for`] says: scikit-learn's `n_iter="auto"`
    /// for the randomized SVD, depth 2 for block Krylov.
    pub power_iters: Option<usize>,
    /// Seed of the test matrices.
    pub seed: u64,
    /// Golub–Kahan steps of the a-posteriori error estimate ([`super::estimate`]: one
    /// application of `A` and one of `Aᵀ` to a vector each; 0 skips it).
    pub probes: usize,
}

impl Default for SvdOptions {
    fn default() -> Self {
        Self {
            oversample: 10,
            power_iters: None,
            seed: 0x5EED,
            probes: 12,
        }
    }
}

impl SvdOptions {
    /// The power iterations [`randomized_svd`] runs for rank `k` of an `m×n` operator: the
    /// explicit [`SvdOptions::power_iters`], or by default scikit-learn's `n_iter="auto"` rule
    /// (7 when `k < 0.1·min(m, n)`, else 4; Halko–Martinsson–Tropp's bound shrinks the spectral
    /// tail's weight by `(σ_{l+1}/σ_k)^{2q}`, and slowly decaying spectra, as in real data, need
    /// the larger `q`), and 0 when `k + p ≥ min(m, n)` (the sketch then spans the whole range and
    /// power iterations cannot improve it).
    ///
    /// # Examples
    /// ```
    /// use linops::randnla::svd::SvdOptions;
    /// let fixed = SvdOptions { power_iters: Some(1), ..SvdOptions::default() };
    /// assert_eq!(fixed.power_iters_for(3, (100, 100)), 1);
    /// assert_eq!(SvdOptions::default().power_iters_for(95, (100, 100)), 0);
    /// ```
    pub fn power_iters_for(&self, k: usize, (m, n): (usize, usize)) -> usize {
        if let Some(q) = self.power_iters {
            return q;
        }
        let mn = m.min(n);
        if k.saturating_add(self.oversample) >= mn {
            0
        } else if (k as f64) < 0.1 * mn as f64 {
            7
        } else {
            4
        }
    }

    /// The Krylov depth [`block_krylov_svd`] runs for rank `k` of an `m×n` operator: the explicit
    /// [`SvdOptions::power_iters`], or by default 2, lowered so the basis
    /// `(k + p)·(depth + 1)` fits `min(m, n)` (0 when even one block fills it).
    ///
    /// # Examples
    /// ```
    /// use linops::randnla::svd::SvdOptions;
    /// let o = SvdOptions { oversample: 5, ..SvdOptions::default() };
    /// assert_eq!(o.krylov_depth_for(5, (200, 100)), 2);
    /// assert_eq!(o.krylov_depth_for(5, (200, 25)), 1);
    /// ```
    pub fn krylov_depth_for(&self, k: usize, (m, n): (usize, usize)) -> usize {
        if let Some(q) = self.power_iters {
            return q;
        }
        let l = k.saturating_add(self.oversample).max(1);
        (m.min(n) / l).saturating_sub(1).min(2)
    }
}

/// A rank-`k` approximation `A ≈ U·diag(σ)·Vᵀ` with resident factors.
#[derive(Debug)]
pub struct RandomizedSvd {
    /// `m×k` left singular vectors (resident).
    pub u: Matrix,
    /// The `k` singular values, nonincreasing.
    pub s: Vec<f64>,
    /// `n×k` right singular vectors (resident); `Vᵀ` is its transpose.
    pub v: Matrix,
    /// Certified estimate of `‖A − UΣVᵀ‖₂`: an upper bound with probability ≥ 99% (`NaN` when
    /// `probes == 0`); `estimate.bound`.
    pub error_estimate: f64,
    /// The estimate with its Ritz value and failure probability ([`super::estimate`]).
    pub estimate: Option<NormEstimate>,
    /// How many orthonormalizations fell back to Householder QR.
    pub householder_fallbacks: usize,
}

/// The `n×r` probe block of the error estimate fits [`MAX_BLOCK_ENTRIES`](super::MAX_BLOCK_ENTRIES)
/// (checked at entry, before any work).
fn check_probes(what: &str, a: &Op, probes: usize) -> Result<()> {
    check_block(
        &format!("{what}: probes = {probes} error-estimate vectors"),
        a.shape().1,
        probes,
    )?;
    check_block(&format!("{what}: probes = {probes}"), probes, probes)
}

fn finish(
    e: &Engine,
    a: &Op,
    q: &Matrix,
    k: usize,
    opts: &SvdOptions,
    mut fallbacks: usize,
) -> Result<RandomizedSvd> {
    let bt = e.apply_to(&a.t(), q)?;
    let f = orthonormalize(e, &bt)?;
    fallbacks += usize::from(f.method == QrMethod::Householder);
    let (uc, s_all, vc) = thin_svd(f.r.transpose())?;
    let s: Vec<f64> = s_all[..k].to_vec();
    let uh = uc.subcols(0, k).to_owned();
    let wh = vc.subcols(0, k).to_owned();
    let u = e.gemm(1.0, q, false, &upload_like(e, q, &uh)?, false, 0.0, None)?;
    let v = e.gemm(1.0, &f.q, false, &upload_like(e, q, &wh)?, false, 0.0, None)?;
    let estimate = if opts.probes == 0 {
        None
    } else {
        let res = Factored {
            a,
            left: &u,
            core: Mat::from_fn(k, k, |i, j| if i == j { s[i] } else { 0.0 }),
            right: Right::Plain(&v),
        };
        Some(res.estimate(e, opts.probes, opts.seed ^ 0xE57_1A7E)?)
    };
    Ok(RandomizedSvd {
        u,
        s,
        v,
        error_estimate: estimate.map_or(f64::NAN, |x| x.bound),
        estimate,
        householder_fallbacks: fallbacks,
    })
}

/// Rank-`k` randomized SVD of `a` (HMT Alg. 5.1) with `l = k + p` columns and `q` power
/// iterations, in the engine's precision `T`.
///
/// # Errors
/// [`Error::InvalidArgument`] for `k == 0` or `k + p > min(m, n)` (an overflowing `k + p`
/// included); [`Error::DeviceLimit`] when the `n×probes` probe block exceeds
/// [`MAX_BLOCK_ENTRIES`](super::MAX_BLOCK_ENTRIES); [`Error::Unsupported`] for `f64` on the GPU
/// engine; device failures.
///
/// # Examples
/// ```
/// use linops::{Engine, faer::Mat, randnla::svd::{randomized_svd, SvdOptions}};
/// let e = Engine::cpu();
/// let a = linops::dense(Mat::from_fn(30, 20, |i, j| 0.5f64.powi(i as i32) * ((i + 2 * j) as f64).cos()).as_ref()).unwrap();
/// let opts = SvdOptions { oversample: 5, ..SvdOptions::default() };
/// let r = randomized_svd::<f64>(&e, &a, 3, &opts).unwrap();
/// let exact = linops::to_faer(&a).singular_values().unwrap();
/// assert!((r.s[0] - exact[0]).abs() < 1e-10 * exact[0]);
/// assert!(r.error_estimate >= 0.0);
/// ```
pub fn randomized_svd<T: Scalar>(
    e: &Engine,
    a: &Op,
    k: usize,
    opts: &SvdOptions,
) -> Result<RandomizedSvd> {
    check_dtype::<T>(e)?;
    check_rank("randomized_svd", a, k)?;
    let l = checked_sum("randomized_svd", ("k", k), ("oversample", opts.oversample))?;
    check_rank(
        &format!(
            "randomized_svd (k + oversample = {k} + {})",
            opts.oversample
        ),
        a,
        l,
    )?;
    check_probes("randomized_svd", a, opts.probes)?;
    let basis = range_finder::<T>(
        e,
        a,
        l,
        &RangeOptions {
            power_iters: opts.power_iters_for(k, a.shape()),
            seed: opts.seed,
        },
    )?;
    finish(e, a, &basis.q, k, opts, basis.householder_fallbacks)
}

/// Rank-`k` block Krylov SVD (Musco & Musco 2015): blocks of `l = k + p` columns, Krylov depth
/// `q` (basis of `l·(q+1)` columns).
///
/// # Errors
/// [`Error::InvalidArgument`] for `k == 0` or `(k + p)·(q + 1) > min(m, n)` (overflowing sizes
/// included); as [`randomized_svd`].
///
/// # Examples
/// ```
/// use linops::{Engine, faer::Mat, randnla::svd::{block_krylov_svd, SvdOptions}};
/// let e = Engine::cpu();
/// let a = linops::dense(Mat::from_fn(30, 20, |i, j| 1.0 / (1.0 + i as f64 + j as f64)).as_ref()).unwrap();
/// let opts = SvdOptions { oversample: 2, power_iters: Some(2), ..SvdOptions::default() };
/// let r = block_krylov_svd::<f64>(&e, &a, 2, &opts).unwrap();
/// let exact = linops::to_faer(&a).singular_values().unwrap();
/// assert!((r.s[1] - exact[1]).abs() < 1e-8 * exact[0]);
/// ```
pub fn block_krylov_svd<T: Scalar>(
    e: &Engine,
    a: &Op,
    k: usize,
    opts: &SvdOptions,
) -> Result<RandomizedSvd> {
    check_dtype::<T>(e)?;
    check_rank("block_krylov_svd", a, k)?;
    let l = checked_sum(
        "block_krylov_svd",
        ("k", k),
        ("oversample", opts.oversample),
    )?;
    let depth = opts.krylov_depth_for(k, a.shape());
    let s = depth
        .checked_add(1)
        .and_then(|depth| l.checked_mul(depth))
        .ok_or_else(|| {
            Error::InvalidArgument(format!(
                "block_krylov_svd: the basis (k + oversample)·(power_iters + 1) = ({k} + {})·({} + 1) \
                 overflows usize",
                opts.oversample, depth
            ))
        })?;
    check_rank(
        &format!(
            "block_krylov_svd (basis (k + oversample)·(power_iters + 1) = ({k} + {})·({} + 1))",
            opts.oversample, depth
        ),
        a,
        s,
    )?;
    check_probes("block_krylov_svd", a, opts.probes)?;
    let n = a.shape().1;
    // The plans of A and Aᵀ for l columns, built once for every depth step.
    let a_plan = OpPlan::new(e, a, l, T::DTYPE)?;
    let at_plan = OpPlan::new(e, &a.t(), l, T::DTYPE)?;
    let mut fallbacks = 0;
    let first = orthonormalize(e, &a_plan.apply(e, &gaussian::<T>(e, n, l, opts.seed)?)?)?;
    fallbacks += usize::from(first.method == QrMethod::Householder);
    let mut blocks = vec![first.q];
    for _ in 0..depth {
        let prev = blocks
            .last()
            .ok_or_else(|| Error::InvalidArgument("no block".into()))?;
        // A·Aᵀ squares the operator's scale: bring Aᵀ·Q near 1 by a power of two first (exact;
        // y is orthonormalized next, so its scale is immaterial).
        let w = at_plan.apply(e, prev)?;
        let shift = scale_exponent(w.dtype(), max_col_norm(e, &w)?);
        let w = scale_pow2(e, &w, shift)?.unwrap_or(w);
        let mut y = a_plan.apply(e, &w)?;
        for _ in 0..2 {
            for b in &blocks {
                y = project_out(e, b, &y)?;
            }
        }
        let f = orthonormalize(e, &y)?;
        fallbacks += usize::from(f.method == QrMethod::Householder);
        blocks.push(f.q);
    }
    let refs: Vec<&Matrix> = blocks.iter().collect();
    let whole = orthonormalize(e, &hcat(e, &refs)?)?;
    fallbacks += usize::from(whole.method == QrMethod::Householder);
    finish(e, a, &whole.q, k, opts, fallbacks)
}
