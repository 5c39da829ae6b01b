//! Orthonormalization of tall-skinny resident matrices: CholeskyQR2 with a Householder fallback.
//!
//! **Mathematics.** For `X` (`m×k`, `m ≥ k`) CholeskyQR forms the Gram matrix `G = XᵀX`
//! (on the device, [`Engine::gemm`]), factors `G = RᵀR` in `f64` on the host (faer Cholesky) and
//! sets `Q = X·R⁻¹` (on the device, `gemm` with the uploaded `R⁻¹`). One pass loses
//! orthogonality like `κ(X)²·u`; the second pass (CholeskyQR2, Yamamoto et al. 2015) applied to
//! the first `Q` restores `‖QᵀQ − I‖ = O((mk + k²)·u)` whenever `κ(X) ≲ u^{-1/2}`. The condition is
//! estimated from the exact (f64) eigenvalues of the computed Gram matrix,
//! `κ̂ = (λ_max/λ_min)^{1/2}`; when the Cholesky factorization fails or `κ̂ > (8·k·u)^{-1/2}` the
//! Gram matrix is not safely positive definite and the factorization falls back to Householder QR
//! on the host (faer, `f64`), and [`QrMethod::Householder`] says so. So does any other failure of
//! the Gram route: a non-finite Gram matrix, an eigenvalue solver that does not converge.
//!
//! **Scale.** The Gram matrix squares the entries, so a block whose largest column norm lies
//! outside `[2^-w, 2^w]` (`w` = 32 in f32, 256 in f64) is first multiplied by the power of two
//! `2^k` that brings that norm near 1, and `R` is multiplied back by `2^{-k}`. Powers of two scale
//! exactly, and Cholesky, the triangular inverse and the products are homogeneous under them, so
//! `Q` has the same bits for `X` and `2^e·X` and `R` scales exactly: ordinary input (no scaling) is
//! unaffected, and `1e200` or `1e-160` in f64, `1e30` in f32, take the CholeskyQR2 route as
//! `1` does. Columns too far apart for any common scale (`1e200` next to `1e-200`) make the scaled
//! Gram matrix singular and go to Householder, which is columnwise backward stable.
//!
//! The scale is read off the first Gram matrix when it can be: `G[j, j] = fl(‖x_j‖²)`, so when
//! `G` is finite and `√max_j G[j, j]` lies inside the window shrunk by one binade (the rounding
//! of the diagonal, relative `m·u`, cannot carry the exact norm across the edge), `X` needs no
//! scaling and that `G` is the first pass's Gram matrix: the column norms are fused into the Gram
//! step and the separate column-norm pass over `X` is skipped. Otherwise the column norms are
//! computed (overflow- and underflow-safe), and the Gram matrix is recomputed only when they ask
//! for a scaling. Either way the result has the bits of the unfused route.
//!
//! **Cost.** CholeskyQR2: two Gram products (`2mk²` flops each) and two `X·R⁻¹` products (`2mk²`
//! each) on the device, two `k×k` downloads, two uploads, `O(k³)` on the host. Device traffic
//! for ordinary input `8mk + O(k²)` elements (the column-norm pass, `mk` more, is fused away);
//! input outside the window pays the norms and a second first-pass Gram product
//! (`mk + 2mk + k²` elements, `2mk²` flops) on top. Householder: download `X`, `4mk²` host
//! flops, upload `Q`.

use super::host_la::{max_exponent, scale_mat};
use super::{
    exponent, ldexp, max_col_norm, scale_exponent, scale_pow2, to_host, unit_roundoff, upload_like,
};
use crate::{Engine, Error, HostMat, Matrix, Result};
use faer::{Mat, Side};

/// Which algorithm produced a [`QrFactors`].
///
/// # Examples
/// ```
/// assert_ne!(linops::randnla::qr::QrMethod::CholeskyQr2, linops::randnla::qr::QrMethod::Householder);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QrMethod {
    /// Two passes of CholeskyQR on the backend.
    CholeskyQr2,
    /// Householder QR on the host (the Gram matrix was not safely positive definite).
    Householder,
}

/// `X = Q·R` with `Q` resident (`m×k`, orthonormal columns) and `R` upper triangular on the host.
#[derive(Debug)]
pub struct QrFactors {
    /// The orthonormal factor, on the engine's backend, in the dtype of `X`.
    pub q: Matrix,
    /// The `k×k` upper-triangular factor in `f64`.
    pub r: Mat<f64>,
    /// The path that ran.
    pub method: QrMethod,
    /// The condition estimate `κ̂(X)` from the Gram eigenvalues (infinite when not positive).
    pub cond_estimate: f64,
}

/// Inverse of an upper-triangular `k×k` matrix by back substitution (`O(k³/3)`).
pub(crate) fn upper_inverse(r: &Mat<f64>) -> Mat<f64> {
    let k = r.nrows();
    let mut inv = Mat::<f64>::zeros(k, k);
    for j in 0..k {
        inv[(j, j)] = 1.0 / r[(j, j)];
        for i in (0..j).rev() {
            let mut s = 0.0;
            for t in i + 1..=j {
                s += r[(i, t)] * inv[(t, j)];
            }
            inv[(i, j)] = -s / r[(i, i)];
        }
    }
    inv
}

/// One CholeskyQR pass: `κ̂` and `(Q, R)`, or `None` when the Gram matrix is not safely PD.
type Pass = (f64, Option<(Matrix, Mat<f64>)>);

fn chol_pass(e: &Engine, x: &Matrix, limit: f64) -> Result<Pass> {
    let g = gram(e, x)?;
    chol_pass_with(e, x, g, limit)
}

/// The Gram matrix `XᵀX` of a resident block, computed on the backend, on the host in `f64`.
fn gram(e: &Engine, x: &Matrix) -> Result<Mat<f64>> {
    to_host(e, &e.gemm(1.0, x, true, x, false, 0.0, None)?)
}

/// The largest column norm of `X` read off the diagonal of its computed Gram matrix `g`
/// (`g[j, j] = fl(‖x_j‖²)`), when it proves that `X` needs no scaling: `g` finite and
/// `√max_j g[j, j]` inside the scaling window shrunk by one binade, so that the rounding of the
/// diagonal (relative `m·u` ≪ 1) cannot move the exact norm across the window's edge and
/// [`scale_exponent`] of the exact norm is 0 too. `None` otherwise (then the norms are
/// computed by [`max_col_norm`], overflow- and underflow-safe).
fn unscaled_top_from_gram(dtype: crate::DType, g: &Mat<f64>) -> Option<f64> {
    let k = g.nrows();
    if (0..k).any(|j| (0..k).any(|i| !g[(i, j)].is_finite())) {
        return None;
    }
    let top = (0..k).fold(0.0f64, |t, j| t.max(g[(j, j)])).sqrt();
    let w = match dtype {
        crate::DType::F32 => 32,
        crate::DType::F64 => 256,
    };
    (top > 0.0 && exponent(top).abs() < w).then_some(top)
}

/// [`chol_pass`] on the Gram matrix `g = XᵀX` already computed.
fn chol_pass_with(e: &Engine, x: &Matrix, g: Mat<f64>, limit: f64) -> Result<Pass> {
    let k = g.nrows();
    let g = Mat::<f64>::from_fn(k, k, |i, j| 0.5 * (g[(i, j)] + g[(j, i)]));
    if (0..k).any(|j| (0..k).any(|i| !g[(i, j)].is_finite())) {
        return Ok((f64::INFINITY, None));
    }
    let Ok(ev) = g.self_adjoint_eigenvalues(Side::Lower) else {
        return Ok((f64::INFINITY, None));
    };
    let (lo, hi) = (ev[0], ev[k - 1]);
    let cond = if lo > 0.0 {
        (hi / lo).sqrt()
    } else {
        f64::INFINITY
    };
    if cond.is_nan() || cond > limit {
        return Ok((cond, None));
    }
    let Ok(llt) = g.llt(Side::Lower) else {
        return Ok((cond, None));
    };
    let r = llt.L().transpose().to_owned();
    let rinv = upload_like(e, x, &upper_inverse(&r))?;
    let q = e.gemm(1.0, x, false, &rinv, false, 0.0, None)?;
    Ok((cond, Some((q, r))))
}

/// Orthonormalizes the columns of a resident `m×k` matrix (`m ≥ k`): CholeskyQR2 on the backend,
/// or Householder QR on the host when the Gram matrix is not safely positive definite.
///
/// # Errors
/// [`Error::InvalidArgument`] when `X` has more columns than rows; [`Error::NonFinite`] when `X`
/// holds NaN or ±Inf; device failures.
///
/// # Examples
/// ```
/// use linops::{Engine, faer::Mat, randnla::qr::{orthonormalize, QrMethod}};
/// let e = Engine::cpu();
/// let x = e.upload(Mat::<f64>::from_fn(6, 2, |i, j| (i * (j + 1)) as f64 + 1.0).as_ref()).unwrap();
/// let f = orthonormalize(&e, &x).unwrap();
/// assert_eq!(f.method, QrMethod::CholeskyQr2);
/// let q = e.download::<f64>(&f.q).unwrap();
/// assert!(((q.transpose() * &q)[(0, 1)]).abs() < 1e-14);
/// // a rank-deficient input takes the Householder path
/// let y = e.upload(Mat::<f64>::from_fn(6, 2, |i, _| i as f64).as_ref()).unwrap();
/// assert_eq!(orthonormalize(&e, &y).unwrap().method, QrMethod::Householder);
/// ```
pub fn orthonormalize(e: &Engine, x: &Matrix) -> Result<QrFactors> {
    let (m, k) = x.shape();
    if k > m {
        return Err(Error::InvalidArgument(format!(
            "orthonormalize: a {m}x{k} matrix has more columns than rows"
        )));
    }
    let u = unit_roundoff(x.dtype());
    let limit = 1.0 / (8.0 * k as f64 * u).sqrt();
    // The first Gram matrix carries the squared column norms on its diagonal: when they show
    // that X needs no scaling (ordinary input), the separate column-norm pass over X is skipped
    // and this Gram matrix is the first pass's; otherwise the norms are computed safely.
    let g0 = gram(e, x)?;
    let top = match unscaled_top_from_gram(x.dtype(), &g0) {
        Some(top) => top,
        None => max_col_norm(e, x)?,
    };
    // A non-finite column norm: non-finite entries (named below) or a norm beyond the dtype's
    // range; either way the host path decides.
    let mut cond = f64::INFINITY;
    if top.is_finite() {
        let shift = scale_exponent(x.dtype(), top);
        let scaled = scale_pow2(e, x, shift)?;
        let xs = scaled.as_ref().unwrap_or(x);
        // Unscaled, X's Gram matrix is the one computed above (the same product, the same bits).
        let (c, first) = if shift == 0 {
            chol_pass_with(e, xs, g0, limit)?
        } else {
            chol_pass(e, xs, limit)?
        };
        cond = c;
        if let Some((q1, r1)) = first {
            // The second pass sees κ(Q₁) ≈ 1 + O(κ(X)²u) ≪ limit.
            if let (_, Some((q, r2))) = chol_pass(e, &q1, limit)? {
                let r = &r2 * &r1;
                let r = Mat::<f64>::from_fn(k, k, |i, j| ldexp(r[(i, j)], -shift));
                return Ok(QrFactors {
                    q,
                    r,
                    method: QrMethod::CholeskyQr2,
                    cond_estimate: cond,
                });
            }
        }
    }
    let h = to_host(e, x)?;
    HostMat::from_fn(m, k, |i, j| h[(i, j)]).check_finite("orthonormalize input")?;
    // faer's QR on X·2^{-s} (largest entry in [1, 2)), R scaled back: exact, and safe near the
    // ends of f64's range.
    let s = max_exponent(h.as_ref());
    let qr = scale_mat(h.as_ref(), -s).qr();
    let q = qr.compute_thin_Q();
    let r = scale_mat(qr.thin_R(), s);
    Ok(QrFactors {
        q: upload_like(e, x, &q)?,
        r,
        method: QrMethod::Householder,
        cond_estimate: cond,
    })
}
