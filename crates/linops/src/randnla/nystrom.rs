//! Randomized Nyström approximation of a positive-semidefinite operator, and Nyström-preconditioned
//! conjugate gradients for `(A + μI)·x = b`.
//!
//! **Mathematics (Nyström).** The numerically stable shifted algorithm of Tropp, Yurtsever, Udell
//! and Cevher (2017, Alg. 3): with an `n×ℓ` Gaussian test matrix orthonormalized to `Ω`
//! (`ℓ = k + p`), form `Y = A·Ω`, the shift `ν = √n·eps(‖Y‖₂)` (`eps(x) = 2u·x`, `u` the unit
//! roundoff of the engine's precision), `Y_ν = Y + ν·Ω`, `G = ΩᵀY_ν`, `B = Y_ν·G^{-1/2}` and its
//! thin SVD `B = U·Σ·Wᵀ`; then `Â = U·Λ·Uᵀ` with `Λ = Σ² − νI` where it exceeds `ν` and 0
//! elsewhere (below the shift an eigenvalue is not resolved), truncated to the leading `k` pairs.
//! Tropp et al. take `G^{-1/2}` from a Cholesky factor; here it is the ε-truncated inverse square
//! root from `G`'s eigendecomposition (Nakatsukasa 2020), dropping the eigen-directions of `G` at
//! or below `2ν`: when `A` has rank below `ℓ`, `G`'s eigenvalues there are `ν` plus rounding of
//! the same order, and a Cholesky inverse amplifies that rounding into the eigenvalue estimates
//! (by `O(‖A‖/ν)`, seen as estimates above `A`'s own eigenvalues). The truncated approximation
//! is the Nyström approximation on a subspace of the sketch, so it stays `⪯ A`. Without rounding `Â_ℓ = (AΩ)(ΩᵀAΩ)⁺(AΩ)ᵀ ⪯ A`, and for the rank-`k`
//! truncation (Tropp et al. 2017, Thm. 4.1) `E‖A − Â_k‖_* ≤ (1 + k/(p − 1))·Σ_{j>k} λ_j(A)` in the
//! trace norm (`p ≥ 2`). An eigenvalue of `G` below `−max(n·ℓ·u, 10⁻³)·‖Y‖₂` (its worst-case
//! rounding bound, or a negative part beyond what an operator PSD to the accuracy of its entries
//! shows) means `A` is not PSD, an error; smaller negative parts are dropped with the cut.
//!
//! **Rounding.** One pass over `A` cannot resolve what `Y = A·Ω` carries below its rounding:
//! when the sketch is nearly orthogonal to an eigenvector of `A` (angle θ), `Y` holds that
//! eigenvalue with relative error `u/cos θ` and `ΩᵀY` with `u/cos²θ`. To first order the
//! estimates move by `‖δY‖·‖B‖/√g + ‖B‖²·‖δG‖/g` (`g` the smallest kept eigenvalue of `G`,
//! `‖B‖² ≈ ‖A‖`, `‖δY‖ ≲ γ√n‖A‖`, `‖δG‖ ≲ γ(√n‖A‖ + ‖Y‖)`, `γ = (n + ℓ)·u`); the driver
//! reports that bound as [`Nystrom::rounding_slack`]. It is `O(n·u·‖A‖)` for a well-aligned
//! sketch (with oversampling `p ≥ 2` the leading eigenspace is seen with probability
//! `1 − O(ε^{p+1})` at angle `≥ arccos ε`), and large only for the unlucky sketches of `p ≤ 1`.
//!
//! **Mathematics (PCG).** Frangella, Tropp and Udell (2023): from a rank-`ℓ` Nyström
//! approximation `U·Λ·Uᵀ` the preconditioner is applied as
//! `P⁻¹ = (λ_ℓ + μ)·U(Λ + μI)⁻¹Uᵀ + (I − UUᵀ)`. When `ℓ ≥ 2·d_eff(μ) + 1`, with
//! `d_eff(μ) = Σ_j λ_j/(λ_j + μ)`, `E κ(P^{-1/2}(A + μI)P^{-1/2}) < 28` (their Thm. 5.1), so PCG
//! reduces the `(A + μI)`-norm error by `2((√κ − 1)/(√κ + 1))^t` in `t` iterations, independent
//! of `κ(A + μI)`. The iteration stops when `‖r_t‖/‖b‖ ≤ tol` (the recursively updated residual).
//!
//! **Precision and residency.** The Nyström factors are computed in the engine's precision `T`
//! (f32 on the GPU), and so is CG: on every engine its vectors, `A + μI` and the preconditioner
//! `P⁻¹` (one operator over the host-orthonormalized `U`, rounded once to `T`) stay on the engine
//! with their plans built once, and only the recurrence's scalars cross per iteration (8-byte
//! transfers, see [`Engine::transfers`]); `b` goes up once and `x` comes back once. CG runs on
//! `2^{-s}(A + μI)·x' = b/2^{k}` (`2^s ≈ ‖A + μI‖`, `2^k ≈ ‖b‖`, both exact), so its vectors
//! and dot products stay near 1 whatever the scale of the problem, inside f32's range.
//!
//! *What f32 costs.* Each product `(A + μI)·p` carries a relative error `O(n·u₃₂)` (`u₃₂ = 2⁻²⁴`;
//! Higham, Thm. 3.5, typically `√n·u₃₂`), and that is what limits the attainable accuracy: in
//! finite precision the recursively updated residual `r_t` drifts from the true `b − (A + μI)x_t`
//! by at most `u·Σ_{j≤t}(c_n·‖A + μI‖·‖x_j‖ + ‖r_j‖ + |α_j|·(‖p_j‖ + ‖w_j‖))` (Greenbaum 1997,
//! §7.3; `c_n` the product's error constant), so the true relative residual stalls near
//! `t·c_n·u·κ` whatever `tol` asks. Keeping the recurrence (`x ← x + αp`, `r ← r − αw`,
//! `p ← z + βp`) in f32 adds the `‖r_j‖ + |α_j|(‖p_j‖ + ‖w_j‖)` terms at `u₃₂` instead of `u₆₄`;
//! they are bounded by the product term (`|α_j|·‖w_j‖ ≤ ‖r_j‖·κ`-sized, as is `‖A‖·‖x_j‖`), so
//! the stall level moves by a constant factor, not an order: the products already put it at
//! `O(n·u₃₂·κ)`. The scalars `α`, `β` are formed in f64 from f32 reductions (relative error
//! `O(n·u₃₂)`), which perturbs the convergence rate, not the attainable accuracy. `P⁻¹` in f32
//! computes `r + U·(d ∘ Uᵀr)` with an absolute error `O(ℓ·u₃₂·‖r‖)`: an inexact preconditioner
//! that stays positive definite while `(λ₁ + μ)/(λ_ℓ + μ) ≪ 1/(ℓ·u₃₂)` (its smallest eigenvalue is
//! `(λ_ℓ + μ)/(λ₁ + μ)`); beyond that `rᵀz` can lose its sign and the iteration stops with the
//! breakdown error.
//! [`CgResult::true_residual`] is `‖b − (A + μI)x‖/‖b‖` with `x` the returned (f32) solution,
//! `(A + μI)·x` computed once on the engine and the subtraction done in f64 against the f64
//! `b` (not its f32 rounding), so its only error is that one product's, `O(n·u·‖A + μI‖·‖x‖/‖b‖)`.
//! The preconditioner's `U` is re-orthonormalized on the host in f64 (Householder QR) so that
//! `P⁻¹` is symmetric positive definite to the accuracy of `T`.
//!
//! **Storage and cost.** Nyström: one application of `A` to `ℓ` columns, `O(n·ℓ²)` device flops,
//! `O(ℓ³)` host flops; `U` stays resident (`n×k`). PCG: one application of `A` and one of `P⁻¹` (`4nℓ` flops) to one
//! column per iteration, on the engine.

use super::host_la::norm;
use super::qr::{QrMethod, orthonormalize};
use super::vectors::{OpPlan, VecPlans};
use super::{
    check_dtype, check_rank, checked_sum, exponent, gaussian, ldexp, max_col_norm, scale_exponent,
    scale_pow2, to_host, unit_roundoff, upload_like,
};
use crate::{Engine, Error, Matrix, Op, Result, Scalar};
use faer::{Mat, Side};
use linops_core::DType;

/// Parameters of [`nystrom`].
///
/// # Examples
/// ```
/// let o = linops::randnla::nystrom::NystromOptions::default();
/// assert_eq!(o.oversample, 10);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NystromOptions {
    /// Oversampling `p`: the sketch has `ℓ = k + p` columns (0 is allowed: the rank-`ℓ` Nyström).
    pub oversample: usize,
    /// Seed of the test matrix.
    pub seed: u64,
}

impl Default for NystromOptions {
    fn default() -> Self {
        Self {
            oversample: 10,
            seed: 0x5EED,
        }
    }
}

/// A rank-`k` Nyström approximation `A ≈ U·diag(λ)·Uᵀ` of a PSD operator.
#[derive(Debug)]
pub struct Nystrom {
    /// `n×k` orthonormal eigenvector estimates (resident, in the engine's precision).
    pub u: Matrix,
    /// The `k` eigenvalue estimates, nonincreasing and nonnegative.
    pub lambda: Vec<f64>,
    /// The shift `ν = √n·eps(‖Y‖₂)` that was used: eigenvalues at or below it are reported as 0.
    pub shift: f64,
    /// First-order bound on how far rounding can lift an estimate above `A`'s own eigenvalue
    /// (`λ̂_i ≤ λ_i + shift + rounding_slack`): `γ·a·(2√n·√(a/g) + (√n + 1)·a/g)` with
    /// `γ = (n + ℓ)·u`, `a ≈ ‖A‖₂` and `g` the smallest eigenvalue of `Ωᵀ(A + νI)Ω` kept. Small
    /// (`O(n·u·‖A‖)`) when the sketch sees `A`'s leading eigenspace well; large when it is nearly
    /// orthogonal to it (likely only without oversampling): a single pass over `A` cannot
    /// resolve what `A·Ω` carries below its rounding.
    pub rounding_slack: f64,
    /// How many orthonormalizations fell back to Householder QR.
    pub householder_fallbacks: usize,
}

/// Negative curvature of `ΩᵀAΩ` tolerated relative to `‖AΩ‖₂` before [`nystrom`] calls the
/// operator not PSD.
const NOT_PSD: f64 = 1e-3;

fn check_square(what: &str, a: &Op) -> Result<usize> {
    let (m, n) = a.shape();
    if m != n {
        return Err(Error::ShapeMismatch {
            context: what.into(),
            expected: "a square (PSD) operator".into(),
            found: format!("{m}x{n}"),
        });
    }
    Ok(n)
}

/// Rank-`k` randomized Nyström approximation of the PSD operator `a` (Tropp et al. 2017, Alg. 3),
/// with `ℓ = k + p` sketch columns, in the engine's precision `T`. `a` is assumed symmetric
/// positive semidefinite (it is only applied, never inspected).
///
/// # Errors
/// [`Error::ShapeMismatch`] for a non-square operator; [`Error::InvalidArgument`] for `k == 0`,
/// `k + p > n`, or when `ΩᵀAΩ` has an eigenvalue below `−max(n·ℓ·u, 10⁻³)·‖AΩ‖₂` (the
/// operator is not PSD); [`Error::Unsupported`] for `f64` on the GPU engine; device failures.
///
/// # Examples
/// ```
/// use linops::{Engine, faer::Mat, randnla::nystrom::{nystrom, NystromOptions}};
/// let e = Engine::cpu();
/// let g = Mat::from_fn(20, 3, |i, j| ((i + 1) * (j + 2)) as f64 % 7.0 - 3.0);
/// let a = linops::dense((&g * g.transpose()).as_ref()).unwrap(); // PSD, rank 3
/// let r = nystrom::<f64>(&e, &a, 3, &NystromOptions { oversample: 2, seed: 1 }).unwrap();
/// let u = e.download::<f64>(&r.u).unwrap();
/// let approx = Mat::from_fn(20, 3, |i, j| u[(i, j)] * r.lambda[j]) * u.transpose();
/// assert!((&approx - linops::to_faer(&a)).norm_max() < 1e-9 * r.lambda[0]);
/// ```
pub fn nystrom<T: Scalar>(e: &Engine, a: &Op, k: usize, opts: &NystromOptions) -> Result<Nystrom> {
    check_dtype::<T>(e)?;
    let n = check_square("nystrom", a)?;
    check_rank("nystrom", a, k)?;
    let l = checked_sum("nystrom", ("k", k), ("oversample", opts.oversample))?;
    check_rank(
        &format!("nystrom (k + oversample = {k} + {})", opts.oversample),
        a,
        l,
    )?;
    let mut fallbacks = 0;
    let f = orthonormalize(e, &gaussian::<T>(e, n, l, opts.seed)?)?;
    fallbacks += usize::from(f.method == QrMethod::Householder);
    let omega = f.q;
    let y_raw = e.apply_to(a, &omega)?;
    // Y·2^{2j} (exact; an even power so that the Cholesky factor scales exactly too) brings ‖Y‖
    // near 1 when it lies outside the safe window: the Gram matrices below neither over- nor
    // underflow, and λ and ν are scaled back by 2^{-2j} at the end.
    let top = max_col_norm(e, &y_raw)?;
    if !top.is_finite() {
        return Err(Error::InvalidArgument(format!(
            "nystrom: A·Ω has a column of norm {top:e} in {}; the operator's entries exceed the \
             engine's precision",
            y_raw.dtype()
        )));
    }
    let shift_exp = {
        let k2 = scale_exponent(y_raw.dtype(), top);
        k2 - k2.rem_euclid(2)
    };
    let y = scale_pow2(e, &y_raw, shift_exp)?.unwrap_or(y_raw);
    // ‖Y‖₂ from the ℓ×ℓ Gram matrix (f64 eigenvalues on the host).
    let gy = to_host(e, &e.gemm(1.0, &y, true, &y, false, 0.0, None)?)?;
    let gy = Mat::<f64>::from_fn(l, l, |i, j| 0.5 * (gy[(i, j)] + gy[(j, i)]));
    let ev = gy
        .self_adjoint_eigenvalues(Side::Lower)
        .map_err(|err| Error::Backend(format!("nystrom: Gram eigenvalues: {err:?}")))?;
    let norm_y = ev[l - 1].max(0.0).sqrt();
    let u = unit_roundoff(y.dtype());
    let mut nu = (n as f64).sqrt() * 2.0 * u * norm_y;
    if nu == 0.0 {
        // A·Ω = 0: the operator vanishes on the sketch; any positive shift keeps C invertible.
        // Take it relative to ‖Ω‖₂ = 1 in the engine's precision, so f32 and f64 agree.
        nu = (n as f64).sqrt() * 2.0 * u;
    }
    let y_nu = e.axpby(1.0, &y, nu, &omega)?;
    // G = Ωᵀ·Y_ν = Ωᵀ(A + νI)Ω has eigenvalues ≥ ν in exact arithmetic. Its computed form differs
    // by δG with ‖δG‖ ≤ γ_n·‖|Ω|ᵀ|Y_ν|‖ ≤ n·ℓ·u·‖Y_ν‖ (Higham, Thm. 3.5, Frobenius bound), typically
    // ~√n·u·‖Y‖ ≈ ν/2: in the directions where ΩᵀAΩ vanishes (A of rank < ℓ) the eigenvalues of the
    // computed G are ν ± δG, and a Cholesky inverse would amplify that rounding by up to ‖Y‖/ν.
    // Instead B = Y_ν·V_r·G_r^{-1/2} with the ε-truncated pseudo-inverse (Nakatsukasa 2020, §4):
    // eigen-directions of G at or below 2ν (where ΩᵀAΩ is below the resolution ν plus rounding) are
    // dropped. Restricting the Nyström approximation to a subspace of the sketch can only lower it
    // (Â_r ⪯ Â_ℓ ⪯ A), so no eigenvalue estimate exceeds A's by more than rounding.
    let g = to_host(e, &e.gemm(1.0, &omega, true, &y_nu, false, 0.0, None)?)?;
    let g = Mat::<f64>::from_fn(l, l, |i, j| 0.5 * (g[(i, j)] + g[(j, i)]));
    let eig = g
        .self_adjoint_eigen(Side::Lower)
        .map_err(|err| Error::Backend(format!("nystrom: Gram eigendecomposition: {err:?}")))?;
    let gv = eig.S().column_vector();
    let gmax = gv[l - 1].max(0.0);
    // Not PSD: an eigenvalue of G below minus the larger of its worst-case rounding bound and
    // 10⁻³·‖Y‖. The relative part admits operators that are PSD only to the accuracy of their
    // entries (a kernel or Gram matrix computed in f32 is indefinite at the 10⁻⁷·n level); their
    // small negative directions fall below the cut and are dropped with the unresolved ones.
    let scale = norm_y.max(gmax);
    let floor = ((n * l) as f64 * u).max(NOT_PSD) * scale;
    if gv[0] < -floor {
        return Err(Error::InvalidArgument(format!(
            "nystrom: Omega^T (A + nu I) Omega has the eigenvalue {:e}, below -{floor:e} (the \
             larger of its rounding bound and {NOT_PSD:e} of its scale {scale:e}); is the \
             operator PSD?",
            gv[0]
        )));
    }
    let cut = 2.0 * nu;
    let w = Mat::<f64>::from_fn(l, l, |i, j| {
        if gv[j] > cut {
            eig.U()[(i, j)] / gv[j].sqrt()
        } else {
            0.0
        }
    });
    let b = e.gemm(
        1.0,
        &y_nu,
        false,
        &upload_like(e, &y, &w)?,
        false,
        0.0,
        None,
    )?;
    let fb = orthonormalize(e, &b)?;
    fallbacks += usize::from(fb.method == QrMethod::Householder);
    let svd = fb
        .r
        .svd()
        .map_err(|err| Error::Backend(format!("nystrom: core SVD did not converge: {err:?}")))?;
    let s = svd.S().column_vector();
    // Σ² − ν carries an absolute error of order ν (the shift is the rounding level of Y), so a
    // value at or below ν is not resolved: it is 0, not rounding noise that the preconditioner's
    // (λ_ℓ + μ)/(λ_j + μ) would turn into a spurious near-null direction when μ ≪ ν.
    let lambda: Vec<f64> = (0..k)
        .map(|i| {
            let v = s[i] * s[i] - nu;
            ldexp(if v > nu { v } else { 0.0 }, -shift_exp)
        })
        .collect();
    // First-order rounding slack of the estimates (module docs, "Rounding"): with δY ≲ γ·√n·a
    // (the apply's backward error, a ≈ ‖A‖) and δG ≲ γ·(√n·a + ‖Y‖), the core Y·G⁻¹·Yᵀ moves by
    // ‖δY‖·‖B‖/√g + ‖B‖²·‖δG‖/g with ‖B‖² ≈ a and g the smallest kept eigenvalue of G.
    let kept_min = gv
        .iter()
        .copied()
        .filter(|&g| g > cut)
        .fold(f64::INFINITY, f64::min);
    let slack = if kept_min.is_finite() {
        let a = (s[0] * s[0]).max(norm_y);
        let gamma = (n + l) as f64 * u;
        let rn = (n as f64).sqrt();
        let ratio = a / kept_min;
        gamma * a * (2.0 * rn * ratio.sqrt() + (rn + 1.0) * ratio)
    } else {
        0.0
    };
    let uh = svd.U().subcols(0, k).to_owned();
    let um = e.gemm(
        1.0,
        &fb.q,
        false,
        &upload_like(e, &y, &uh)?,
        false,
        0.0,
        None,
    )?;
    Ok(Nystrom {
        u: um,
        lambda,
        shift: ldexp(nu, -shift_exp),
        rounding_slack: ldexp(slack, -shift_exp),
        householder_fallbacks: fallbacks,
    })
}

/// Stopping rule and budget of [`nystrom_pcg`].
///
/// # Examples
/// ```
/// let o = linops::randnla::nystrom::CgOptions::default();
/// assert!(o.tol > 0.0 && o.max_iter > 0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CgOptions {
    /// Stop when `‖r‖/‖b‖ ≤ tol`.
    pub tol: f64,
    /// Iteration budget.
    pub max_iter: usize,
}

impl Default for CgOptions {
    fn default() -> Self {
        Self {
            tol: 1e-8,
            max_iter: 500,
        }
    }
}

/// The outcome of [`nystrom_pcg`].
#[derive(Debug, Clone)]
pub struct CgResult {
    /// The approximate solution (f64).
    pub x: Vec<f64>,
    /// Iterations run (applications of `A`, not counting the final residual check).
    pub iterations: usize,
    /// `‖r_t‖/‖b‖` for `t = 0..=iterations` (recursively updated residuals; `r_0 = b`).
    pub residuals: Vec<f64>,
    /// `‖b − (A + μI)x‖/‖b‖` recomputed through the engine at exit.
    pub true_residual: f64,
    /// Whether the recursive residual reached `tol` (false on budget exhaustion; a breakdown is an
    /// error).
    pub converged: bool,
}

/// Solves `(A + μI)·x = b` by conjugate gradients resident on the engine in precision `T` (module
/// docs: only scalars cross per iteration), preconditioned by the Nyström approximation `pre` (Frangella,
/// Tropp & Udell 2023), or unpreconditioned when `pre` is `None`. `A` is assumed PSD.
///
/// # Errors
/// [`Error::ShapeMismatch`] for a non-square operator, a `b` of the wrong length or a
/// preconditioner of another size; [`Error::NonFinite`] for NaN/Inf in `b`;
/// [`Error::InvalidArgument`] for a negative or non-finite `μ`, `tol` not in `(0, ∞)`, a zero
/// budget, `λ_ℓ + μ ≤ 0`, or a CG breakdown (named with its iteration): a Rayleigh quotient
/// `pᵀ(A + μI)p/‖p‖²` at most `√n·u·‖A + μI‖`, i.e. `A + μI` singular or indefinite to working
/// accuracy; products or dot products of the (scaled) iteration that leave the engine's
/// precision (named with the iteration); as [`Engine::apply_to`].
///
/// # Examples
/// ```
/// use linops::{Engine, Op, randnla::nystrom::{nystrom, nystrom_pcg, CgOptions, NystromOptions}};
/// let e = Engine::cpu();
/// let a = Op::diagonal((0..50).map(|j| 0.5f64.powi(j)).collect()).unwrap();
/// let pre = nystrom::<f64>(&e, &a, 20, &NystromOptions { oversample: 0, seed: 3 }).unwrap();
/// let b = vec![1.0; 50];
/// let opts = CgOptions { tol: 1e-10, max_iter: 200 };
/// let r = nystrom_pcg::<f64>(&e, &a, 1e-6, &b, Some(&pre), &opts).unwrap();
/// assert!(r.converged && r.true_residual < 1e-9);
/// ```
pub fn nystrom_pcg<T: Scalar>(
    e: &Engine,
    a: &Op,
    mu: f64,
    b: &[f64],
    pre: Option<&Nystrom>,
    opts: &CgOptions,
) -> Result<CgResult> {
    check_dtype::<T>(e)?;
    let n = check_square("nystrom_pcg", a)?;
    if b.len() != n {
        return Err(Error::ShapeMismatch {
            context: "nystrom_pcg right-hand side".into(),
            expected: format!("{n} entries"),
            found: format!("{} entries", b.len()),
        });
    }
    if let Some(idx) = b.iter().position(|v| !v.is_finite()) {
        return Err(Error::NonFinite {
            context: "nystrom_pcg right-hand side".into(),
            row: idx,
            col: 0,
            value: b[idx],
        });
    }
    if !(mu.is_finite() && mu >= 0.0 && opts.tol.is_finite() && opts.tol > 0.0)
        || opts.max_iter == 0
    {
        return Err(Error::InvalidArgument(format!(
            "nystrom_pcg: mu {mu} must be finite and >= 0, tol {} finite and > 0, max_iter {} positive",
            opts.tol, opts.max_iter
        )));
    }
    // The preconditioner, on the host in f64: P⁻¹r = r + U·(d ∘ (Uᵀr)).
    let precond = match pre {
        None => None,
        Some(p) => {
            let (rows, l) = p.u.shape();
            if rows != n || p.lambda.len() != l {
                return Err(Error::ShapeMismatch {
                    context: "nystrom_pcg preconditioner".into(),
                    expected: format!("{n} rows and one eigenvalue per column"),
                    found: format!("{rows}x{l} with {} eigenvalues", p.lambda.len()),
                });
            }
            let floor = p.lambda[l - 1] + mu;
            if floor.is_nan() || floor <= 0.0 {
                return Err(Error::InvalidArgument(format!(
                    "nystrom_pcg: lambda_l + mu = {floor:e} must be positive"
                )));
            }
            let uq = to_host(e, &p.u)?.qr().compute_thin_Q();
            let d: Vec<f64> = p
                .lambda
                .iter()
                .map(|lam| floor / (lam + mu) - 1.0)
                .collect();
            Some((uq, d))
        }
    };
    let bnorm0 = norm(b);
    if bnorm0 == 0.0 {
        return Ok(CgResult {
            x: vec![0.0; n],
            iterations: 0,
            residuals: vec![0.0],
            true_residual: 0.0,
            converged: true,
        });
    }
    // Solve for b·2^{-kb} (‖·‖ ∈ [1, 2)) and scale x back: exact, so x(2^e·b) = 2^e·x(b) bit for
    // bit, and the iteration's scalars stay far from over- and underflow.
    let kb = exponent(bnorm0);
    let bs: Vec<f64> = b.iter().map(|v| ldexp(*v, -kb)).collect();
    let b = &bs[..];
    // Breakdown: a Rayleigh quotient pᵀ(A + μI)p/‖p‖² at most τ·‖A + μI‖ (estimated by the largest
    // ‖(A + μI)p‖/‖p‖ seen) means A + μI is singular or indefinite to working accuracy. For SPD
    // A + μI the quotient is at least λ_min, so τ = √n·u only fires when κ ≳ 1/(√n·u), where
    // the engine's products cannot resolve the system anyway. Once p lies in the numerical null
    // space, pᵀw is rounding noise of typical size √n·u·‖A + μI‖·‖p‖² (the probabilistic rounding
    // bound of a length-n dot product), so the test usually fires before α = rᵀz/pᵀw blows the
    // iterate up; noise above it makes the next quotient or rᵀz non-positive or non-finite, which
    // fires then. τ is not larger so that SPD systems with κ up to 1/(√n·u) are solved.
    let tau = (n as f64).sqrt() * unit_roundoff(T::DTYPE);
    let norm_hint = pre.map(|p| p.lambda[0] + mu);
    let r = pcg_resident(
        e,
        a,
        mu,
        b,
        precond.as_ref(),
        norm_hint,
        opts,
        tau,
        T::DTYPE,
    )?;
    Ok(CgResult {
        x: r.x.into_iter().map(|v| ldexp(v, kb)).collect(),
        ..r
    })
}

/// CG of [`nystrom_pcg`] resident on the engine in `dtype`: `b`, `x`, `r`, `z`, `p`, `w` stay on
/// `e`, and the plans of `A + μI`, of `P⁻¹ = I + U·diag(d)·Uᵀ` (one operator, `U` and `d`
/// parameters the backend caches, rounded once to `dtype`) and of the vector updates are built
/// once. Per iteration the scalars of the recurrence and of the breakdown test come to the host
/// (`pᵀw`, `‖p‖`, `‖w‖`, `‖r‖`, `rᵀz`: five 8-byte downloads) and three updates take their
/// scalar as an 8-byte upload. At exit `x` and `(A + μI)·x` are downloaded once and the true
/// residual is formed on the host in f64 against the f64 `b` (not its rounding to `dtype`). `b`
/// has already been scaled to `‖b‖ ∈ [1, 2)` (the returned `x` is for the scaled `b`); `tau` is
/// the breakdown threshold.
///
/// The iteration runs on `2^{-s}·(A + μI)·x' = b` with `x = 2^{-s}·x'` (exact), `2^s` the power
/// of two at or below `‖A + μI‖` (from `norm_hint`, the preconditioner's `λ₁ + μ`, or else one
/// product `‖(A + μI)·b‖/‖b‖`): CG's iterates are invariant under that scaling, and it keeps the
/// vectors and the dot products `pᵀw` near 1, where an f32 engine neither over- nor underflows
/// whatever the scale of `A` (f32's range is `2^{±126}`).
#[allow(clippy::too_many_arguments)]
fn pcg_resident(
    e: &Engine,
    a: &Op,
    mu: f64,
    b: &[f64],
    precond: Option<&(Mat<f64>, Vec<f64>)>,
    norm_hint: Option<f64>,
    opts: &CgOptions,
    tau: f64,
    dtype: DType,
) -> Result<CgResult> {
    let n = b.len();
    let shifted = if mu == 0.0 {
        a.clone()
    } else {
        Op::sum(vec![a.clone(), Op::identity(n)?.scaled(mu)?])?
    };
    let pre = match precond {
        None => None,
        Some((uq, d)) => {
            let l = d.len();
            let u = Op::dense(n, l, (0..n * l).map(|k| uq[(k % n, k / n)]).collect())?;
            let p = Op::sum(vec![
                Op::identity(n)?,
                Op::product(vec![u.clone(), Op::diagonal(d.clone())?, u.t()])?,
            ])?;
            Some(OpPlan::new(e, &p, 1, dtype)?)
        }
    };
    let vp = VecPlans::new(e, dtype, n)?;
    let apply_pre = |r: &Matrix| -> Result<Matrix> {
        match &pre {
            None => vp.scale(e, r, 1.0),
            Some(p) => p.apply(e, r),
        }
    };
    let bh = Mat::from_fn(n, 1, |i, _| b[i]);
    let bm = match dtype {
        DType::F64 => e.upload(bh.as_ref())?,
        DType::F32 => e.upload(bh.as_ref().map(|v| *v as f32).as_ref())?,
    };
    let bnorm = norm(b);
    let size = match norm_hint.filter(|v| *v > 0.0 && v.is_finite()) {
        Some(v) => v,
        None => vp.norm(e, &e.apply_to(&shifted, &bm)?)? / bnorm,
    };
    // 2^{-s} stays a normal number of the dtype.
    let emax = match dtype {
        DType::F32 => 126,
        DType::F64 => 1022,
    };
    let s = if size > 0.0 && size.is_finite() {
        exponent(size).clamp(-emax, emax)
    } else {
        0
    };
    let matvec = if s == 0 {
        OpPlan::new(e, &shifted, 1, dtype)?
    } else {
        OpPlan::new(e, &shifted.scaled(ldexp(1.0, -s))?, 1, dtype)?
    };
    let mut anorm: f64 = 0.0;
    let mut x = vp.scale(e, &bm, 0.0)?;
    let mut r = vp.scale(e, &bm, 1.0)?;
    let mut z = apply_pre(&r)?;
    let mut p = vp.scale(e, &z, 1.0)?;
    let mut rz = vp.dot(e, &r, &z)?;
    let mut residuals = vec![1.0];
    let mut converged = false;
    let mut iterations = 0;
    while iterations < opts.max_iter {
        let w = matvec.apply(e, &p)?;
        let pw = vp.dot(e, &p, &w)?;
        let (pn, wn) = (vp.norm(e, &p)?, vp.norm(e, &w)?);
        if !(pw.is_finite() && pn.is_finite() && wn.is_finite()) {
            return Err(Error::InvalidArgument(format!(
                "nystrom_pcg: iteration {}: pᵀw = {pw:e}, ‖p‖ = {pn:e}, ‖w‖ = {wn:e} left the \
                 range of {dtype} (the iterates of (A + μI)·x = b/‖b‖ exceed it: scale A or μ)",
                iterations + 1
            )));
        }
        anorm = anorm.max(wn / pn);
        let rayleigh = pw / pn / pn;
        if !(rayleigh > tau * anorm && rz > 0.0) {
            return Err(breakdown(
                iterations + 1,
                ldexp(rayleigh, s),
                tau,
                ldexp(anorm, s),
                rz,
                mu,
            ));
        }
        let alpha = rz / pw;
        x = vp.scale_add(e, &p, alpha, &x)?;
        r = vp.scale_add(e, &w, -alpha, &r)?;
        iterations += 1;
        let rel = vp.norm(e, &r)? / bnorm;
        residuals.push(rel);
        if rel <= opts.tol {
            converged = true;
            break;
        }
        z = apply_pre(&r)?;
        let rz_new = vp.dot(e, &r, &z)?;
        let beta = rz_new / rz;
        rz = rz_new;
        p = vp.scale_add(e, &p, beta, &z)?;
    }
    // 2^{-s}(A + μI)·x' = (A + μI)·x.
    let ax = e.download_vec(&matvec.apply(e, &x)?)?;
    let true_residual = norm(&(0..n).map(|i| b[i] - ax[i]).collect::<Vec<_>>()) / bnorm;
    Ok(CgResult {
        x: e.download_vec(&x)?
            .into_iter()
            .map(|v| ldexp(v, -s))
            .collect(),
        iterations,
        residuals,
        true_residual,
        converged,
    })
}

/// The CG breakdown error (see [`nystrom_pcg`]).
fn breakdown(iteration: usize, rayleigh: f64, tau: f64, anorm: f64, rz: f64, mu: f64) -> Error {
    Error::InvalidArgument(format!(
        "nystrom_pcg: CG breakdown at iteration {iteration}: the Rayleigh quotient \
         pᵀ(A + μI)p/‖p‖² = {rayleigh:e} is not above τ·‖A + μI‖ = {tau:.1e}·{anorm:e} \
         (or rᵀz = {rz:e} ≤ 0): A + μI (μ = {mu:e}) is singular or indefinite to \
         working accuracy; is A positive semidefinite, and is μ > 0 needed?"
    ))
}
