//! Stochastic trace estimation for a square operator `A` (`n×n`) from matrix–vector products.
//!
//! **Hutchinson** ([`hutchinson`]): `t̂ = (1/N)·Σ_j z_jᵀ·A·z_j` with Rademacher probes `z_j ∈ {±1}ⁿ`.
//! Unbiased; `Var[t̂] = 2(‖A_s‖_F² − Σ_i a_ii²)/N` with `A_s = (A + Aᵀ)/2`, estimated by the
//! sample variance of the `N` terms divided by `N` ([`TraceEstimate::std_error`] is its root).
//!
//! **Hutch++** (Meyer, Musco, Musco, Woodruff 2021, [`hutch_plus_plus`]): with `m` matvecs split into
//! three blocks of `k = ⌊m/3⌋`, `Q = orth(A·S)` (`S` Rademacher `n×k`), then
//! `t̂ = tr(Qᵀ·A·Q) + (1/k)·Σ_j g_jᵀ·(I − QQᵀ)·A·(I − QQᵀ)·g_j` (`g_j` Rademacher). The first term is
//! exact on the captured top eigenspace, the second is Hutchinson on the deflated remainder, whose
//! Frobenius norm is at most `‖A − A_k‖_F ≤ tr(A)/√k` for PSD `A`; hence for PSD `A`,
//! `|t̂ − tr A| ≤ ε·tr A` with probability `1 − δ` once `m = O(√log(1/δ)/ε + log(1/δ))`, against
//! `O(log(1/δ)/ε²)` for Hutchinson. [`TraceEstimate::std_error`] is the sample standard error of the
//! deflated Hutchinson term (the projected term carries no sampling error given `Q`).
//!
//! **Storage and cost.** Probes are generated on the host from the Philox stream of the seed,
//! uploaded once, multiplied on the engine (`A·Z` resident), and reduced with column dot products
//! on the engine; Hutch++ downloads `A·S` (`n×k`) for a host f64 thin QR (`O(n·k²)`). Precision:
//! the engine's (`T = f32` on the GPU); sums of the `N` terms are accumulated in f64 on the host.

use super::check_block;
use super::host_la::{mean_and_std, orth, rademacher, to_f64};
use crate::{Engine, Error, Op, Result, Scalar};
use faer::Mat;
use linops_core::rng::RngState;

/// A trace estimate and its uncertainty.
///
/// # Examples
/// ```
/// use linops::{Engine, Op, randnla::trace::{hutchinson, TraceOptions}};
/// let t = hutchinson::<f64>(&Engine::cpu(), &Op::identity(5).unwrap(), &TraceOptions { matvecs: 4, seed: 1 }).unwrap();
/// assert_eq!(t.estimate, 5.0); // zᵀz = n for Rademacher probes
/// assert_eq!(t.std_error, 0.0);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct TraceEstimate {
    /// The estimate of `tr(A)`.
    pub estimate: f64,
    /// Estimated standard deviation of `estimate` (sample variance of the random terms / N, rooted).
    pub std_error: f64,
    /// Matrix–vector products spent.
    pub matvecs: usize,
    /// Hutch++ only: the exact part `tr(Qᵀ·A·Q)` (0 for Hutchinson).
    pub projected_trace: f64,
}

/// Budget and seed of [`hutchinson`] and [`hutch_plus_plus`].
///
/// # Examples
/// ```
/// let o = linops::randnla::trace::TraceOptions::default();
/// assert_eq!(o.matvecs, 30);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceOptions {
    /// Products `A·z` to spend: the probes of Hutchinson, `3·⌊matvecs/3⌋` for Hutch++. The
    /// standard error falls as `1/√matvecs` (Hutchinson) or `1/matvecs` (Hutch++ on a
    /// fast-decaying spectrum).
    pub matvecs: usize,
    /// Seed of the Rademacher probes.
    pub seed: u64,
}

impl Default for TraceOptions {
    fn default() -> Self {
        Self {
            matvecs: 30,
            seed: 0x5EED,
        }
    }
}

fn check_square(op: &Op) -> Result<usize> {
    let (r, c) = op.shape();
    if r != c {
        return Err(Error::ShapeMismatch {
            context: "trace estimation".into(),
            expected: "a square operator".into(),
            found: format!("{r}x{c}"),
        });
    }
    Ok(r)
}

/// `(mean, standard error)` of the quadratic forms `z_jᵀ·A·z_j`: the sample standard deviation
/// over `√N`, formed without squaring unscaled terms.
fn quad_forms<T: Scalar>(engine: &Engine, op: &Op, z: &Mat<f64>) -> Result<(f64, f64)> {
    let zt = Mat::from_fn(z.nrows(), z.ncols(), |i, j| T::from_f64(z[(i, j)]));
    let zm = engine.upload(zt.as_ref())?;
    let az = engine.apply_to(op, &zm)?;
    let q = engine.col_dots(&zm, &az)?;
    let (mean, std) = mean_and_std(&q);
    Ok((mean, std / (q.len() as f64).sqrt()))
}

/// Hutchinson's estimator with `probes` Rademacher vectors from `seed`, computed in `T` on `engine`.
///
/// # Errors
/// [`Error::ShapeMismatch`] for a non-square op; [`Error::InvalidArgument`] for fewer than 2
/// probes; [`Error::DeviceLimit`] when the `n×probes` probe block exceeds
/// [`MAX_BLOCK_ENTRIES`](super::MAX_BLOCK_ENTRIES); engine errors (e.g. `f64` on the GPU).
///
/// # Examples
/// ```
/// use linops::{Engine, Op, randnla::trace::{hutchinson, TraceOptions}};
/// let a = Op::diagonal(vec![1.0, 2.0, 3.0]).unwrap();
/// assert_eq!(hutchinson::<f64>(&Engine::cpu(), &a, &TraceOptions { matvecs: 8, seed: 7 }).unwrap().estimate, 6.0); // exact for diagonals
/// ```
pub fn hutchinson<T: Scalar>(
    engine: &Engine,
    op: &Op,
    opts: &TraceOptions,
) -> Result<TraceEstimate> {
    let (probes, seed) = (opts.matvecs, opts.seed);
    let n = check_square(op)?;
    if probes < 2 {
        return Err(Error::InvalidArgument(format!(
            "hutchinson needs at least 2 probes (for its variance), got {probes}"
        )));
    }
    check_block(
        &format!("hutchinson: probes = {probes} probe vectors of length {n}"),
        n,
        probes,
    )?;
    let z = rademacher(n, probes, RngState::new(seed));
    let (mean, std_error) = quad_forms::<T>(engine, op, &z)?;
    Ok(TraceEstimate {
        estimate: mean,
        std_error,
        matvecs: probes,
        projected_trace: 0.0,
    })
}

/// Hutch++ with `matvecs` products (`k = ⌊matvecs/3⌋` per block), probes from `seed`.
///
/// # Errors
/// [`Error::ShapeMismatch`] for a non-square op; [`Error::InvalidArgument`] when `matvecs < 6`
/// or `k ≥ n` (then compute the trace exactly); [`Error::DeviceLimit`] when an `n×k` probe block
/// exceeds [`MAX_BLOCK_ENTRIES`](super::MAX_BLOCK_ENTRIES); engine errors.
///
/// # Examples
/// ```
/// use linops::{Engine, Op, randnla::trace::{hutch_plus_plus, TraceOptions}};
/// let a = Op::diagonal((1..=40).map(|i| 1.0 / (i * i) as f64).collect()).unwrap();
/// let t = hutch_plus_plus::<f64>(&Engine::cpu(), &a, &TraceOptions { matvecs: 30, seed: 3 }).unwrap();
/// let exact: f64 = (1..=40).map(|i| 1.0 / (i * i) as f64).sum();
/// assert!((t.estimate - exact).abs() < 0.05 * exact);
/// ```
pub fn hutch_plus_plus<T: Scalar>(
    engine: &Engine,
    op: &Op,
    opts: &TraceOptions,
) -> Result<TraceEstimate> {
    let (matvecs, seed) = (opts.matvecs, opts.seed);
    let n = check_square(op)?;
    let k = matvecs / 3;
    if k < 2 || k >= n {
        return Err(Error::InvalidArgument(format!(
            "hutch++ needs 6 <= matvecs and matvecs/3 < n = {n}, got {matvecs}"
        )));
    }
    check_block(
        &format!("hutch++: matvecs = {matvecs} ({k} probe vectors of length {n} per block)"),
        n,
        k,
    )?;
    let rng = RngState::new(seed);
    let s = rademacher(n, k, rng);
    let g = rademacher(n, k, rng.skip_columns(k as u64));
    let st = Mat::from_fn(n, k, |i, j| T::from_f64(s[(i, j)]));
    let y = engine.apply::<T>(op, st.as_ref())?;
    let q = orth(to_f64(y.as_ref()).as_ref());
    let qt = Mat::from_fn(n, k, |i, j| T::from_f64(q[(i, j)]));
    let qm = engine.upload(qt.as_ref())?;
    let aq = engine.apply_to(op, &qm)?;
    let projected: f64 = engine.col_dots(&qm, &aq)?.iter().sum();
    // g' = (I − QQᵀ)·g, in f64 on the host.
    let qtg = q.transpose() * &g;
    let gp = &g - &q * &qtg;
    let (mean, std_error) = quad_forms::<T>(engine, op, &gp)?;
    Ok(TraceEstimate {
        estimate: projected + mean,
        std_error,
        matvecs: 3 * k,
        projected_trace: projected,
    })
}
