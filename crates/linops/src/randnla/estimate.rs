//! Certified a-posteriori estimates of a residual's spectral norm, by Golub–Kahan–Lanczos with a
//! random start.
//!
//! **Mathematics.** For a residual operator `E` (`m×n`: `A − UΣVᵀ`, `(I − QQᵀ)A`, `A − UΛUᵀ`,
//! `A − CUR`, only ever applied), `j` steps of Golub–Kahan bidiagonalization from a start `v₁`
//! uniform on the unit sphere (a normalized Gaussian) build the Krylov space
//! `K_j(EᵀE, v₁)`; the largest singular value `θ` of the `j×j` bidiagonal `B_j` is the largest
//! Ritz value of `EᵀE` on it, so `θ ≤ ‖E‖₂` (up to rounding). Kuczyński and Woźniakowski (1992,
//! the Lanczos bound) show that for every PSD matrix of order `n`,
//! `P(θ² < (1 − ε)·‖E‖₂²) ≤ 1.648·√n·e^{−√ε·(2j − 1)}`. With `ε` solved from that bound for a
//! failure probability `δ = 1%`, `θ/√(1 − ε)` is an upper bound on `‖E‖₂` with probability at
//! least 99%, and it overestimates by at most the factor `1/√(1 − ε)` (1.1–1.25 for 10–14 steps
//! and `n` up to 10⁸) times `‖E‖₂/θ` (close to 1 once Lanczos has converged, which the median
//! case does well before the worst case the bound covers). When `ε` would exceed 0.75 (too few
//! steps for the size) the factor is capped at 2 and the failure probability the bound gives is
//! reported instead. A Krylov space exhausted before `j` steps (`E` of rank `< j`) gives `θ`
//! exactly; the factor is then 1 and the failure probability 0.
//!
//! **Rounding.** The vectors are kept in f64 on the host and fully reorthogonalized (two passes
//! of classical Gram–Schmidt), so `B_j` is the exact bidiagonal of a nearby operator; `E` itself
//! is applied through the engine in its precision, so the estimate bounds the residual as
//! computed (within `O(u·‖A‖)` of the exact one).
//!
//! **Cost.** `j` applications of `E` and of `Eᵀ` to one vector each, `O(j·(m + n)·j)` host flops
//! for the reorthogonalization, and one `j×j` SVD.

use super::host_la::{col, dot, norm, singular_values};
use super::vectors::OpPlan;
use super::{gaussian, to_host, upload_like};
use crate::{Engine, Matrix, Op, Result};
use faer::Mat;

/// The failure probability the estimates are calibrated for.
pub const ESTIMATE_FAILURE: f64 = 0.01;

/// A certified estimate of a residual's spectral norm (module docs).
///
/// # Examples
/// ```
/// use linops::{Engine, faer::Mat, randnla::svd::{randomized_svd, SvdOptions}};
/// let a = linops::dense(Mat::from_fn(30, 20, |i, j| 0.5f64.powi((i + 2 * j) as i32)).as_ref()).unwrap();
/// let r = randomized_svd::<f64>(&Engine::cpu(), &a, 3, &SvdOptions::default()).unwrap();
/// let est = r.estimate.unwrap();
/// assert!(est.bound >= est.ritz && est.failure_probability <= 0.01);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NormEstimate {
    /// The certified estimate: an upper bound on `‖E‖₂` with probability at least
    /// `1 − failure_probability`.
    pub bound: f64,
    /// The largest Ritz value `θ ≤ ‖E‖₂` (a lower estimate).
    pub ritz: f64,
    /// The Kuczyński–Woźniakowski bound on the probability that `bound < ‖E‖₂` (0 when the Krylov
    /// space was exhausted and `ritz` is exact).
    pub failure_probability: f64,
    /// Golub–Kahan steps taken.
    pub steps: usize,
}

/// `(factor, failure)` for `steps` Lanczos steps on order `n`: `ε` from
/// `1.648·√n·e^{−√ε(2j−1)} = δ`, factor `1/√(1 − ε)`, capped at 2.
fn calibrate(n: usize, steps: usize) -> (f64, f64) {
    let c = 1.648 * (n as f64).sqrt();
    let two_j = (2 * steps) as f64 - 1.0;
    let sqrt_eps = ((c / ESTIMATE_FAILURE).ln() / two_j).max(0.0);
    let eps = sqrt_eps * sqrt_eps;
    if eps <= 0.75 {
        (1.0 / (1.0 - eps).sqrt(), ESTIMATE_FAILURE)
    } else {
        let failure = (c * (-(0.75f64.sqrt()) * two_j).exp()).min(1.0);
        (2.0, failure)
    }
}

fn axpy(y: &mut [f64], a: f64, x: &[f64]) {
    y.iter_mut().zip(x).for_each(|(yi, xi)| *yi += a * xi);
}

/// Removes the components of `x` along the orthonormal `basis` (two passes).
fn reorthogonalize(x: &mut [f64], basis: &[Vec<f64>]) {
    for _ in 0..2 {
        for b in basis {
            let c = dot(b, x);
            axpy(x, -c, b);
        }
    }
}

/// Certified estimate of `‖E‖₂` for the `m×n` operator applied by `apply` (`E·v`, `n → m`) and
/// `apply_t` (`Eᵀ·u`, `m → n`), with at most `steps` Golub–Kahan steps from a Gaussian start drawn
/// from `seed` on the CPU in f64 (the same start whatever engine applies `E`).
pub(crate) fn residual_norm(
    (m, n): (usize, usize),
    steps: usize,
    seed: u64,
    mut apply: impl FnMut(&[f64]) -> Result<Vec<f64>>,
    mut apply_t: impl FnMut(&[f64]) -> Result<Vec<f64>>,
) -> Result<NormEstimate> {
    let steps = steps.min(m).min(n).max(1);
    // The start vector is drawn on the CPU in f64 (the same on every engine) and read back
    // there: an engine reads only its own backend's matrices.
    let cpu = Engine::cpu();
    let start = to_host(&cpu, &gaussian::<f64>(&cpu, n, 1, seed)?)?;
    let mut v: Vec<f64> = (0..n).map(|i| start[(i, 0)]).collect();
    let nv = norm(&v);
    v.iter_mut().for_each(|x| *x /= nv);
    let (mut us, mut vs): (Vec<Vec<f64>>, Vec<Vec<f64>>) = (Vec::new(), Vec::new());
    let (mut alphas, mut betas) = (Vec::new(), Vec::new());
    let mut exhausted = false;
    for j in 0..steps {
        // u_j = E·v_j − β_{j−1}·u_{j−1}, reorthogonalized against all previous u.
        let mut u = apply(&v)?;
        reorthogonalize(&mut u, &us);
        let alpha = norm(&u);
        vs.push(std::mem::take(&mut v));
        if !alpha.is_finite() || alpha <= 0.0 {
            alphas.push(if alpha.is_finite() { 0.0 } else { alpha });
            exhausted = alpha == 0.0;
            break;
        }
        u.iter_mut().for_each(|x| *x /= alpha);
        alphas.push(alpha);
        if j + 1 == steps {
            us.push(u);
            break;
        }
        // v_{j+1} = Eᵀ·u_j − α_j·v_j, reorthogonalized against all previous v.
        let mut w = apply_t(&u)?;
        us.push(u);
        reorthogonalize(&mut w, &vs);
        let beta = norm(&w);
        if !beta.is_finite() || beta <= 0.0 {
            exhausted = beta == 0.0;
            break;
        }
        w.iter_mut().for_each(|x| *x /= beta);
        betas.push(beta);
        v = w;
    }
    let k = alphas.len();
    let b = Mat::<f64>::from_fn(k, k, |i, j| {
        if i == j {
            alphas[i]
        } else if j == i + 1 && i < betas.len() {
            betas[i]
        } else {
            0.0
        }
    });
    let ritz = singular_values(b.as_ref())?.first().copied().unwrap_or(0.0);
    let (factor, failure) = if exhausted || k == n.min(m) {
        (1.0, 0.0)
    } else {
        calibrate(n.min(m), k)
    };
    Ok(NormEstimate {
        bound: factor * ritz,
        ritz,
        failure_probability: failure,
        steps: k,
    })
}

/// The right factor of a [`Factored`] residual: `R` (`n×s`) or its transpose stored (`s×n`).
pub(crate) enum Right<'a> {
    /// `R` itself, `n×s`.
    Plain(&'a Matrix),
    /// `Rᵀ` stored, `s×n`.
    Transposed(&'a Matrix),
}

/// The residual `E = A − L·M·Rᵀ` of a factored approximation: `L` (`m×r`) and `R` resident in the
/// engine's precision, the core `M` (`r×s`) on the host.
pub(crate) struct Factored<'a> {
    pub a: &'a Op,
    pub left: &'a Matrix,
    pub core: Mat<f64>,
    pub right: Right<'a>,
}

impl Factored<'_> {
    /// Certified estimate of `‖A − L·M·Rᵀ‖₂` ([`residual_norm`]).
    pub(crate) fn estimate(&self, e: &Engine, steps: usize, seed: u64) -> Result<NormEstimate> {
        let (m, n) = self.a.shape();
        // The plans of A and Aᵀ on one column, built once for every Golub–Kahan step.
        let a_plan = OpPlan::new(e, self.a, 1, self.left.dtype())?;
        let at_plan = OpPlan::new(e, &self.a.t(), 1, self.left.dtype())?;
        residual_norm(
            (m, n),
            steps,
            seed,
            |x| {
                // A·x − L·(M·(Rᵀ·x))
                let xm = upload_like(e, self.left, &col(x))?;
                let ax = a_plan.apply(e, &xm)?;
                let w = match self.right {
                    Right::Plain(r) => e.gemm(1.0, r, true, &xm, false, 0.0, None)?,
                    Right::Transposed(rt) => e.gemm(1.0, rt, false, &xm, false, 0.0, None)?,
                };
                let mw = &self.core * to_host(e, &w)?;
                let out = e.gemm(
                    -1.0,
                    self.left,
                    false,
                    &upload_like(e, self.left, &mw)?,
                    false,
                    1.0,
                    Some(&ax),
                )?;
                column(e, &out)
            },
            |y| {
                // Aᵀ·y − R·(Mᵀ·(Lᵀ·y))
                let ym = upload_like(e, self.left, &col(y))?;
                let aty = at_plan.apply(e, &ym)?;
                let z = to_host(e, &e.gemm(1.0, self.left, true, &ym, false, 0.0, None)?)?;
                let mz = upload_like(e, self.left, &(self.core.transpose() * z))?;
                let out = match self.right {
                    Right::Plain(r) => e.gemm(-1.0, r, false, &mz, false, 1.0, Some(&aty))?,
                    Right::Transposed(rt) => e.gemm(-1.0, rt, true, &mz, false, 1.0, Some(&aty))?,
                };
                column(e, &out)
            },
        )
    }
}

/// Certified estimate of `‖(I − QQᵀ)·A‖₂` for an orthonormal basis `q` (`m×l`, resident) of
/// an approximate range of `a`, e.g. from [`range_finder`](super::range::range_finder), with
/// `steps` Golub–Kahan steps from `seed` (module docs).
///
/// # Errors
/// [`Error::ShapeMismatch`](crate::Error::ShapeMismatch) when `q` has not `m` rows; engine errors.
///
/// # Examples
/// ```
/// use linops::{Engine, faer::Mat, randnla::{estimate::range_error, range::{range_finder, RangeOptions}}};
/// let e = Engine::cpu();
/// let a = linops::dense(Mat::from_fn(40, 30, |i, j| 0.6f64.powi((i + j) as i32)).as_ref()).unwrap();
/// let b = range_finder::<f64>(&e, &a, 5, &RangeOptions::default()).unwrap();
/// let est = range_error(&e, &a, &b.q, 12, 1).unwrap();
/// assert!(est.bound < 1e-3 && est.failure_probability <= 0.01);
/// ```
pub fn range_error(
    e: &Engine,
    a: &Op,
    q: &Matrix,
    steps: usize,
    seed: u64,
) -> Result<NormEstimate> {
    let (m, n) = a.shape();
    if q.shape().0 != m {
        return Err(crate::Error::ShapeMismatch {
            context: "range_error basis".into(),
            expected: format!("{m} rows"),
            found: format!("{:?}", q.shape()),
        });
    }
    let a_plan = OpPlan::new(e, a, 1, q.dtype())?;
    let at_plan = OpPlan::new(e, &a.t(), 1, q.dtype())?;
    let project = |y: &Matrix| -> Result<Matrix> {
        let c = e.gemm(1.0, q, true, y, false, 0.0, None)?;
        e.gemm(-1.0, q, false, &c, false, 1.0, Some(y))
    };
    residual_norm(
        (m, n),
        steps,
        seed,
        |v| {
            let av = a_plan.apply(e, &upload_like(e, q, &col(v))?)?;
            column(e, &project(&av)?)
        },
        |y| {
            let py = project(&upload_like(e, q, &col(y))?)?;
            column(e, &at_plan.apply(e, &py)?)
        },
    )
}

/// Certified estimate of `‖A − U·diag(λ)·Uᵀ‖₂` for a [`Nystrom`](super::nystrom::Nystrom)
/// approximation of the square operator `a`, with `steps` Golub–Kahan steps from `seed`.
///
/// # Errors
/// [`Error::ShapeMismatch`](crate::Error::ShapeMismatch) when the factors do not fit `a`; engine
/// errors.
///
/// # Examples
/// ```
/// use linops::{Engine, Op, randnla::{estimate::nystrom_error, nystrom::{nystrom, NystromOptions}}};
/// let e = Engine::cpu();
/// let a = Op::diagonal((0..40).map(|j| 0.5f64.powi(j)).collect()).unwrap();
/// let ny = nystrom::<f64>(&e, &a, 10, &NystromOptions::default()).unwrap();
/// let est = nystrom_error(&e, &a, &ny, 12, 1).unwrap();
/// assert!(est.bound >= 0.5f64.powi(10) * 0.99 && est.bound < 1e-2);
/// ```
pub fn nystrom_error(
    e: &Engine,
    a: &Op,
    ny: &super::nystrom::Nystrom,
    steps: usize,
    seed: u64,
) -> Result<NormEstimate> {
    let (m, n) = a.shape();
    let k = ny.lambda.len();
    if m != n || ny.u.shape() != (n, k) {
        return Err(crate::Error::ShapeMismatch {
            context: "nystrom_error factors".into(),
            expected: format!("a square operator and U of {n}x{k}"),
            found: format!("{m}x{n} and {:?}", ny.u.shape()),
        });
    }
    Factored {
        a,
        left: &ny.u,
        core: Mat::from_fn(k, k, |i, j| if i == j { ny.lambda[i] } else { 0.0 }),
        right: Right::Plain(&ny.u),
    }
    .estimate(e, steps, seed)
}

fn column(e: &Engine, m: &Matrix) -> Result<Vec<f64>> {
    let h = to_host(e, m)?;
    Ok((0..h.nrows()).map(|i| h[(i, 0)]).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calibration_meets_the_failure_target() {
        for (n, steps) in [(100, 10), (10_000, 12), (100_000_000, 14)] {
            let (factor, failure) = calibrate(n, steps);
            assert!(
                failure <= ESTIMATE_FAILURE && factor <= 1.3,
                "{n} {steps}: {factor} {failure}"
            );
            let eps = 1.0 - 1.0 / (factor * factor);
            let bound = 1.648 * (n as f64).sqrt() * (-(eps.sqrt()) * (2 * steps - 1) as f64).exp();
            assert!((bound - ESTIMATE_FAILURE).abs() <= 1e-9, "{bound}");
        }
        let (factor, failure) = calibrate(1_000_000, 2);
        assert!(factor == 2.0 && failure > ESTIMATE_FAILURE);
    }

    #[test]
    fn exact_on_a_small_diagonal() {
        let d = [3.0, -2.0, 1.0];
        let f = |x: &[f64]| Ok(x.iter().zip(d).map(|(a, b)| a * b).collect::<Vec<_>>());
        let r = residual_norm((3, 3), 10, 1, f, f).unwrap();
        assert!((r.ritz - 3.0).abs() < 1e-12 && r.bound == r.ritz && r.failure_probability == 0.0);
    }
}
