//! Batched drivers: CholeskyQR2 and the Newton–Schulz polar factor of many small matrices at
//! once, as second-order optimizers (Shampoo, Muon) need them.
//!
//! **Storage.** A batch of `b` matrices of `m×n` is one resident `m × b·n` matrix, matrix `t` in
//! columns `t·n..(t+1)·n` (column-major, so the matrices follow each other in memory, and the
//! parameter layout of [`Batched`](crate::op::Batched)); [`upload_batch`] and
//! [`download_batch`] convert from and to a list of host matrices.
//!
//! **One plan per step, whatever the batch.** Every device step covers the whole batch: the
//! Gram matrices `X_tᵀX_t` of all matrices are one [`batched_gemm`] plan (one launch on the
//! GPU), `Q_t = X_t·R_t⁻¹` another, a Newton–Schulz step `X_t ← X_t·p(X_tᵀX_t)` one plan of three
//! or four batched steps ([`Plan::batched_polar_step`]). The number of plans is that of one
//! matrix, never `b` times it; only the `k×k` Cholesky factorizations of CholeskyQR2 run on the
//! host, in `f64`, `O(b·k³)` flops next to the device's `O(b·m·k²)`.
//!
//! **CholeskyQR2** ([`batched_cholesky_qr2`]): as [`orthonormalize`](super::qr::orthonormalize)
//! for each matrix (Yamamoto et al. 2015): two passes of `G_t = X_tᵀX_t = R_tᵀR_t`,
//! `Q_t = X_t·R_t⁻¹`, giving `‖Q_tᵀQ_t − I‖ = O((mk + k²)·u)` whenever
//! `κ(X_t) ≲ u^{-1/2}`. Each matrix is first multiplied by the power of two that brings its
//! largest column norm near 1 when that norm leaves `[2^-w, 2^w]` (exact; `R_t` scaled back).
//! Documented fallback: a matrix whose Gram matrix is not safely positive definite
//! (`κ̂ > (8·k·u)^{-1/2}` from its exact eigenvalues, a failed Cholesky, non-finite entries: a
//! rank-deficient or numerically rank-deficient matrix) is factored by Householder QR on the
//! host instead, and [`BatchedQr::methods`] says so for that matrix; the others keep their
//! CholeskyQR2 factors. A NaN or ±Inf entry is an [`Error::NonFinite`] naming the matrix.
//!
//! **Polar factor** ([`batched_polar_newton_schulz`]): the iteration of
//! [`polar_newton_schulz`](super::matfun::polar_newton_schulz) for every matrix at once:
//! `X_t ← A_t/‖A_t‖_F`, then `X_t ← X_t·(1.5I − 0.5·X_tᵀX_t)` (cubic, converging to the
//! orthogonal polar factor `U_tV_tᵀ` of `A_t = U_tΣ_tV_tᵀ` of full column rank) or Muon's quintic
//! for a fixed number of steps. The cubic stops when every residual `‖X_tᵀX_t − I‖_F` is at most
//! `tol` or when the largest stops decreasing below `0.5` (the rounding floor); matrices that
//! converged earlier keep iterating, which leaves them at the fixed point.
//!
//! **Cost.** CholeskyQR2: four batched GEMMs of `2·b·m·k²` flops, two `k × b·k` downloads and
//! uploads. Polar (cubic): per step `4·b·m·n²` flops for the step and `2·b·m·n²` for the residual,
//! in two plans; the identity batch (`n × b·n`) is uploaded once.

use super::host_la::{max_exponent, norm, scale_mat};
use super::matfun::{MatFunOptions, NsKind, default_tol};
use super::qr::{QrMethod, upper_inverse};
use super::{check_block, exponent, ldexp, scale_exponent, to_host, unit_roundoff, upload_like};
use crate::{Engine, Error, HostMat, Matrix, Result, Scalar};
use faer::{Mat, MatRef, Side};
use linops_core::Plan;

/// Checks a batch size against a resident batch and returns `(m, n)` of one matrix.
fn matrix_shape(what: &str, x: &Matrix, batch: usize) -> Result<(usize, usize)> {
    let (rows, cols) = x.shape();
    if batch == 0 {
        return Err(Error::InvalidArgument(format!(
            "{what}: the batch is empty (batch = 0)"
        )));
    }
    if !cols.is_multiple_of(batch) {
        return Err(Error::ShapeMismatch {
            context: format!("{what}: {batch} matrices side by side"),
            expected: format!("a multiple of {batch} columns"),
            found: format!("{rows}x{cols}"),
        });
    }
    Ok((rows, cols / batch))
}

/// Uploads a batch of host matrices of one shape as one resident `m × b·n` batch.
///
/// # Errors
/// [`Error::InvalidArgument`] for an empty list; [`Error::ShapeMismatch`] naming the first
/// matrix whose shape differs from matrix 0's; [`Error::DeviceLimit`] beyond
/// [`MAX_BLOCK_ENTRIES`](super::MAX_BLOCK_ENTRIES); as [`Engine::upload`] (empty or non-finite
/// data, device failures).
///
/// # Examples
/// ```
/// use linops::{Engine, faer::Mat, randnla::batched::{upload_batch, download_batch}};
/// let e = Engine::cpu();
/// let a = Mat::<f64>::from_fn(2, 2, |i, j| (i + 2 * j) as f64);
/// let b = Mat::<f64>::identity(2, 2);
/// let x = upload_batch(&e, &[a.as_ref(), b.as_ref()]).unwrap();
/// assert_eq!(x.shape(), (2, 4));
/// assert_eq!(download_batch::<f64>(&e, &x, 2).unwrap()[1], b);
/// assert!(upload_batch(&e, &[a.as_ref(), Mat::<f64>::zeros(3, 2).as_ref()]).is_err());
/// ```
pub fn upload_batch<T: Scalar>(e: &Engine, mats: &[MatRef<'_, T>]) -> Result<Matrix> {
    let Some(first) = mats.first() else {
        return Err(Error::InvalidArgument(
            "upload_batch: the batch is empty (at least one matrix is needed)".into(),
        ));
    };
    let (m, n) = (first.nrows(), first.ncols());
    for (t, a) in mats.iter().enumerate() {
        if (a.nrows(), a.ncols()) != (m, n) {
            return Err(Error::ShapeMismatch {
                context: format!("upload_batch: matrix {t}"),
                expected: format!("{m}x{n} (the shape of matrix 0)"),
                found: format!("{}x{}", a.nrows(), a.ncols()),
            });
        }
    }
    let cols = n.checked_mul(mats.len()).ok_or_else(|| {
        Error::InvalidArgument(format!(
            "upload_batch: {} x {n} columns overflow",
            mats.len()
        ))
    })?;
    check_block("upload_batch", m, cols)?;
    let all = Mat::<T>::from_fn(m, cols, |i, j| mats[j / n][(i, j % n)]);
    e.upload(all.as_ref())
}

/// Downloads a resident batch of `batch` matrices (`m × batch·n`) as a list of host matrices.
///
/// # Errors
/// [`Error::InvalidArgument`] for `batch == 0`, [`Error::ShapeMismatch`] when the columns are not
/// a multiple of `batch`; as [`Engine::download`].
///
/// # Examples
/// ```
/// use linops::{Engine, faer::Mat, randnla::batched::download_batch};
/// let e = Engine::cpu();
/// let x = e.upload(Mat::<f32>::from_fn(1, 3, |_, j| j as f32).as_ref()).unwrap();
/// assert_eq!(download_batch::<f32>(&e, &x, 3).unwrap()[2][(0, 0)], 2.0);
/// assert!(download_batch::<f32>(&e, &x, 2).is_err());
/// ```
pub fn download_batch<T: Scalar>(e: &Engine, x: &Matrix, batch: usize) -> Result<Vec<Mat<T>>> {
    let (_, n) = matrix_shape("download_batch", x, batch)?;
    let h = e.download::<T>(x)?;
    Ok((0..batch)
        .map(|t| h.as_ref().subcols(t * n, n).to_owned())
        .collect())
}

/// `C_t = alpha·op(A_t)·B_t + beta·C_t` for every matrix of resident batches side by side
/// (`op(A_t) = A_tᵀ` when `trans_a`), in ONE plan (one launch on the GPU); the result stays on
/// the backend. `C` is required iff `beta ≠ 0`.
///
/// # Errors
/// [`Error::InvalidArgument`] for `batch == 0`, mixed dtypes or backends, non-finite scalars or
/// a missing `C`; [`Error::ShapeMismatch`] when an operand's columns are not a multiple of
/// `batch` or the products' shapes do not fit; device failures.
///
/// # Examples
/// ```
/// use linops::{Engine, faer::Mat, randnla::batched::{batched_gemm, upload_batch, download_batch}};
/// let e = Engine::cpu();
/// let a = [Mat::<f64>::from_fn(3, 2, |i, j| (i + j) as f64), Mat::<f64>::identity(3, 2)];
/// let x = upload_batch(&e, &[a[0].as_ref(), a[1].as_ref()]).unwrap();
/// let g = batched_gemm(&e, 2, 1.0, &x, true, &x, 0.0, None).unwrap(); // A_tᵀA_t, 2×2 each
/// let g = download_batch::<f64>(&e, &g, 2).unwrap();
/// assert_eq!(g[0], a[0].transpose() * &a[0]);
/// assert_eq!(g[1], Mat::<f64>::identity(2, 2));
/// assert!(batched_gemm(&e, 3, 1.0, &x, true, &x, 0.0, None).is_err()); // 4 columns, 3 matrices
/// ```
#[allow(clippy::too_many_arguments)]
pub fn batched_gemm(
    e: &Engine,
    batch: usize,
    alpha: f64,
    a: &Matrix,
    trans_a: bool,
    b: &Matrix,
    beta: f64,
    c: Option<&Matrix>,
) -> Result<Matrix> {
    let mut all = vec![a, b];
    all.extend(c);
    let dtype = e.resident("batched_gemm", &all)?;
    let plan = Plan::batched_gemm(
        dtype,
        batch,
        alpha,
        a.shape(),
        trans_a,
        b.shape(),
        beta,
        c.map(Matrix::shape),
    )?;
    e.counter.plan();
    e.run(&plan, &all)
}

/// `X·diag(s)` on the backend in one plan (column `j` times `s[j]`).
fn scale_cols(e: &Engine, x: &Matrix, s: &[f64]) -> Result<Matrix> {
    let dtype = e.resident("scale_cols", &[x])?;
    let plan = Plan::scale_cols(dtype, x.shape(), s)?;
    e.counter.plan();
    e.run(&plan, &[x])
}

/// Per-matrix sums of squares of a row of column norms, as norms (`b` values).
fn matrix_norms(cols: &[f64], batch: usize) -> Vec<f64> {
    let n = cols.len() / batch;
    cols.chunks(n).map(norm).collect()
}

/// The first non-finite entry of matrix `t` of a host batch, as an error naming it.
fn check_matrix_finite(h: MatRef<'_, f64>, t: usize, n: usize, what: &str) -> Result<()> {
    let m = h.subcols(t * n, n);
    HostMat::from_fn(m.nrows(), n, |i, j| m[(i, j)]).check_finite(&format!("{what}: matrix {t}"))
}

/// `X = Q·R` for every matrix of a batch: `Q` resident (the batch of `Q_t`), `R_t` on the host.
#[derive(Debug)]
pub struct BatchedQr {
    /// The orthonormal factors side by side (`m × b·k`), in the dtype of `X`.
    pub q: Matrix,
    /// The `k×k` upper-triangular factors in `f64`, one per matrix.
    pub r: Vec<Mat<f64>>,
    /// The path that produced each matrix's factors.
    pub methods: Vec<QrMethod>,
    /// Each matrix's condition estimate `κ̂(X_t)` from its Gram eigenvalues (infinite when not
    /// positive).
    pub cond_estimates: Vec<f64>,
}

/// One batched CholeskyQR pass: `(Q, R_t, κ̂_t)` with `R_t = None` for the matrices whose Gram
/// matrix is not safely positive definite (their `Q_t` is then `X_t`, to be replaced).
type BatchPass = (Matrix, Vec<Option<Mat<f64>>>, Vec<f64>);

fn chol_pass(e: &Engine, x: &Matrix, batch: usize, limit: f64) -> Result<BatchPass> {
    let k = x.shape().1 / batch;
    let g = to_host(e, &batched_gemm(e, batch, 1.0, x, true, x, 0.0, None)?)?;
    let mut rs = Vec::with_capacity(batch);
    let mut conds = Vec::with_capacity(batch);
    let mut rinv = Mat::<f64>::zeros(k, batch * k);
    for t in 0..batch {
        let gt = Mat::<f64>::from_fn(k, k, |i, j| 0.5 * (g[(i, t * k + j)] + g[(j, t * k + i)]));
        let r = gram_factor(&gt, limit);
        conds.push(r.0);
        let inv = match &r.1 {
            Some(r) => upper_inverse(r),
            None => Mat::<f64>::identity(k, k),
        };
        rinv.as_mut().subcols_mut(t * k, k).copy_from(&inv);
        rs.push(r.1);
    }
    let rinv = upload_like(e, x, &rinv)?;
    let q = batched_gemm(e, batch, 1.0, x, false, &rinv, 0.0, None)?;
    Ok((q, rs, conds))
}

/// `(κ̂, R)` of a symmetric Gram matrix, `R = None` unless it is safely positive definite.
fn gram_factor(g: &Mat<f64>, limit: f64) -> (f64, Option<Mat<f64>>) {
    let k = g.nrows();
    if (0..k).any(|j| (0..k).any(|i| !g[(i, j)].is_finite())) {
        return (f64::INFINITY, None);
    }
    let Ok(ev) = g.self_adjoint_eigenvalues(Side::Lower) else {
        return (f64::INFINITY, None);
    };
    let (lo, hi) = (ev[0], ev[k - 1]);
    let cond = if lo > 0.0 {
        (hi / lo).sqrt()
    } else {
        f64::INFINITY
    };
    if cond.is_nan() || cond > limit {
        return (cond, None);
    }
    match g.llt(Side::Lower) {
        Ok(llt) => (cond, Some(llt.L().transpose().to_owned())),
        Err(_) => (cond, None),
    }
}

/// CholeskyQR2 of every matrix of a resident batch (`m × batch·k`, `m ≥ k`), with a Householder
/// fallback per matrix (see the module docs): the device work is four batched GEMM plans for the
/// whole batch.
///
/// # Errors
/// [`Error::InvalidArgument`] for `batch == 0` or matrices with more columns than rows;
/// [`Error::ShapeMismatch`] when the columns are not a multiple of `batch`;
/// [`Error::NonFinite`] naming the matrix with a NaN or ±Inf entry; device failures.
///
/// # Examples
/// ```
/// use linops::{Engine, faer::Mat, randnla::{qr::QrMethod, batched::{batched_cholesky_qr2, upload_batch, download_batch}}};
/// let e = Engine::cpu();
/// let a = Mat::<f64>::from_fn(6, 2, |i, j| (i * (j + 1)) as f64 + 1.0);
/// let d = Mat::<f64>::from_fn(6, 2, |i, _| i as f64); // rank 1
/// let x = upload_batch(&e, &[a.as_ref(), d.as_ref()]).unwrap();
/// let f = batched_cholesky_qr2(&e, &x, 2).unwrap();
/// assert_eq!(f.methods, vec![QrMethod::CholeskyQr2, QrMethod::Householder]);
/// let q = download_batch::<f64>(&e, &f.q, 2).unwrap();
/// assert!((&q[0] * &f.r[0] - &a).norm_max() < 1e-13);
/// assert!((&q[1] * &f.r[1] - &d).norm_max() < 1e-13);
/// ```
pub fn batched_cholesky_qr2(e: &Engine, x: &Matrix, batch: usize) -> Result<BatchedQr> {
    let (m, k) = matrix_shape("batched_cholesky_qr2", x, batch)?;
    if k > m {
        return Err(Error::InvalidArgument(format!(
            "batched_cholesky_qr2: {m}x{k} matrices have more columns than rows"
        )));
    }
    let u = unit_roundoff(x.dtype());
    let limit = 1.0 / (8.0 * k as f64 * u).sqrt();
    // Per-matrix power-of-two scaling (exact) when a matrix's largest column norm leaves the
    // window where its Gram matrix neither over- nor underflows.
    let norms = e.col_norms(x)?;
    let mut shift = vec![0i32; batch];
    for (t, s) in shift.iter_mut().enumerate() {
        let top = norms[t * k..(t + 1) * k]
            .iter()
            .fold(0.0f64, |a, &v| if v.is_nan() { f64::NAN } else { a.max(v) });
        *s = if top.is_finite() {
            scale_exponent(x.dtype(), top)
        } else {
            0
        };
    }
    let scaled = if shift.iter().any(|&s| s != 0) {
        let s: Vec<f64> = (0..batch * k).map(|j| ldexp(1.0, shift[j / k])).collect();
        Some(scale_cols(e, x, &s)?)
    } else {
        None
    };
    let xs = scaled.as_ref().unwrap_or(x);
    let (q1, r1, conds) = chol_pass(e, xs, batch, limit)?;
    let (q, r2, _) = chol_pass(e, &q1, batch, limit)?;
    let mut r = Vec::with_capacity(batch);
    let mut methods = Vec::with_capacity(batch);
    let mut fallback = Vec::new();
    for t in 0..batch {
        match (&r1[t], &r2[t]) {
            (Some(a), Some(b)) => {
                let rt = b * a;
                r.push(Mat::<f64>::from_fn(k, k, |i, j| {
                    ldexp(rt[(i, j)], -shift[t])
                }));
                methods.push(QrMethod::CholeskyQr2);
            }
            _ => {
                r.push(Mat::<f64>::zeros(k, k));
                methods.push(QrMethod::Householder);
                fallback.push(t);
            }
        }
    }
    if fallback.is_empty() {
        return Ok(BatchedQr {
            q,
            r,
            methods,
            cond_estimates: conds,
        });
    }
    // Householder QR on the host for the matrices that need it, patched into the batch.
    let h = to_host(e, x)?;
    let mut qh = to_host(e, &q)?;
    for &t in &fallback {
        check_matrix_finite(h.as_ref(), t, k, "batched_cholesky_qr2 input")?;
        let xt = h.as_ref().subcols(t * k, k);
        let s = max_exponent(xt);
        let qr = scale_mat(xt, -s).qr();
        qh.as_mut()
            .subcols_mut(t * k, k)
            .copy_from(qr.compute_thin_Q());
        r[t] = scale_mat(qr.thin_R(), s);
    }
    Ok(BatchedQr {
        q: upload_like(e, x, &qh)?,
        r,
        methods,
        cond_estimates: conds,
    })
}

/// Result of [`batched_polar_newton_schulz`].
#[derive(Debug)]
pub struct BatchedPolar {
    /// The iterates `X_t` side by side (`m × b·n`), resident, in the dtype of `A`.
    pub x: Matrix,
    /// Steps run (the same for every matrix).
    pub iterations: usize,
    /// Per matrix: whether its residual met the stopping test (always true for the quintic).
    pub converged: Vec<bool>,
    /// Per matrix: `‖X_tᵀX_t − I‖_F` of the returned iterate.
    pub residuals: Vec<f64>,
}

/// The identity batch `[I_n … I_n]` (`n × b·n`) in the dtype of `like`.
fn eye_batch(e: &Engine, like: &Matrix, n: usize, batch: usize) -> Result<Matrix> {
    let i = Mat::<f64>::from_fn(n, n * batch, |i, j| f64::from(u8::from(i == j % n)));
    upload_like(e, like, &i)
}

/// Per-matrix residuals `‖X_tᵀX_t − I‖_F` in one plan.
fn residuals(e: &Engine, x: &Matrix, eye: &Matrix, batch: usize) -> Result<Vec<f64>> {
    let dtype = e.resident("batched gram residual", &[x, eye])?;
    let plan = Plan::batched_gram_residual(dtype, batch, x.shape(), eye.shape())?;
    e.counter.plan();
    let cols = e.download_vec(&e.run(&plan, &[x, eye])?)?;
    Ok(matrix_norms(&cols, batch))
}

/// `‖A_t‖_F = 2^k·f` (`f ∈ [1, 2)`) for every matrix, as `(k, f)`: from the backend's column
/// norms, or recomputed on the host in f64 after scaling by a power of two when a norm under- or
/// overflowed. A zero matrix is an [`Error::InvalidArgument`], a non-finite entry an
/// [`Error::NonFinite`], each naming the matrix.
fn norm_parts(e: &Engine, a: &Matrix, batch: usize) -> Result<Vec<(i32, f64)>> {
    let n = a.shape().1 / batch;
    let norms = matrix_norms(&e.col_norms(a)?, batch);
    let mut host: Option<Mat<f64>> = None;
    let mut parts = Vec::with_capacity(batch);
    for (t, &f) in norms.iter().enumerate() {
        let f = if f > 0.0 && f.is_finite() && f >= f64::MIN_POSITIVE {
            f
        } else {
            if host.is_none() {
                host = Some(to_host(e, a)?);
            }
            let h = host.as_ref().expect("downloaded above");
            check_matrix_finite(h.as_ref(), t, n, "batched newton-schulz input")?;
            let at = h.as_ref().subcols(t * n, n);
            if at.norm_max() == 0.0 {
                return Err(Error::InvalidArgument(format!(
                    "batched newton-schulz: matrix {t} of the batch is zero"
                )));
            }
            let s = max_exponent(at);
            let fs = scale_mat(at, -s).norm_l2();
            ldexp(fs, s)
        };
        let k = exponent(f);
        parts.push((k, ldexp(f, -k)));
    }
    Ok(parts)
}

/// Newton–Schulz orthogonalization of every matrix of a resident batch (`m × batch·n`,
/// `m ≥ n`): the polar factor (cubic) or Muon's quintic, with every step one plan for the whole
/// batch (see the module docs).
///
/// # Errors
/// [`Error::InvalidArgument`] for `batch == 0`, `m < n`, `max_iter == 0`, a bad `tol`, or a zero
/// matrix (named); [`Error::ShapeMismatch`] when the columns are not a multiple of `batch`;
/// [`Error::NonFinite`] naming a matrix with NaN or ±Inf; [`Error::DeviceLimit`] for an
/// identity batch beyond [`MAX_BLOCK_ENTRIES`](super::MAX_BLOCK_ENTRIES); device failures.
///
/// # Examples
/// ```
/// use linops::{Engine, faer::Mat, randnla::{matfun::{MatFunOptions, NsKind}, batched::{batched_polar_newton_schulz, upload_batch, download_batch}}};
/// let e = Engine::cpu();
/// let a = Mat::<f64>::from_fn(2, 2, |i, j| if i == j { [2.0, 0.5][i] } else { 0.0 });
/// let b = Mat::<f64>::from_fn(2, 2, |i, j| if i == j { -3.0 } else { 0.0 });
/// let x = upload_batch(&e, &[a.as_ref(), b.as_ref()]).unwrap();
/// let r = batched_polar_newton_schulz(&e, &x, 2, NsKind::Cubic, &MatFunOptions::default()).unwrap();
/// let p = download_batch::<f64>(&e, &r.x, 2).unwrap();
/// assert!((p[0][(1, 1)] - 1.0).abs() < 1e-12 && (p[1][(0, 0)] + 1.0).abs() < 1e-12);
/// assert!(r.converged.iter().all(|&c| c));
/// ```
pub fn batched_polar_newton_schulz(
    e: &Engine,
    a: &Matrix,
    batch: usize,
    kind: NsKind,
    opts: &MatFunOptions,
) -> Result<BatchedPolar> {
    let (m, n) = matrix_shape("batched newton-schulz", a, batch)?;
    if m < n {
        return Err(Error::InvalidArgument(format!(
            "batched newton-schulz needs m >= n (transpose wide matrices), got {m}x{n} matrices"
        )));
    }
    let (tol, max_iter) = (opts.tol, opts.budget(kind));
    if max_iter == 0 {
        return Err(Error::InvalidArgument("max_iter must be at least 1".into()));
    }
    if let Some(t) = tol
        && (!t.is_finite() || t <= 0.0)
    {
        return Err(Error::InvalidArgument(format!(
            "tol must be positive, got {t}"
        )));
    }
    let tol = tol.unwrap_or(default_tol(a.dtype(), n));
    check_block("batched newton-schulz: the identity batch", n, n * batch)?;
    // X₀_t = A_t/‖A_t‖_F = (A_t·2^{-k_t})/f_t, in one scaling plan.
    let parts = norm_parts(e, a, batch)?;
    let s: Vec<f64> = (0..batch * n)
        .map(|j| {
            let (k, f) = parts[j / n];
            ldexp(1.0 / f, -k)
        })
        .collect();
    let mut x = scale_cols(e, a, &s)?;
    let eye = eye_batch(e, a, n, batch)?;
    let coeffs: &[f64] = match kind {
        NsKind::Cubic => &[1.5, -0.5],
        NsKind::MuonQuintic => &[3.4445, -4.7750, 2.0315],
    };
    let step = Plan::batched_polar_step(a.dtype(), batch, (m, batch * n), coeffs)?;
    let worst = |r: &[f64]| r.iter().fold(0.0f64, |a, &v| a.max(v));
    let mut res = if kind == NsKind::Cubic {
        residuals(e, &x, &eye, batch)?
    } else {
        Vec::new()
    };
    let mut it = 0;
    let mut stalled = false;
    while it < max_iter {
        if kind == NsKind::Cubic && worst(&res) <= tol {
            break;
        }
        e.counter.plan();
        let xn = e.run(&step, &[&x])?;
        it += 1;
        if kind == NsKind::MuonQuintic {
            x = xn;
            continue;
        }
        let rn = residuals(e, &xn, &eye, batch)?;
        if worst(&rn) >= worst(&res) && worst(&res) < 0.5 {
            // Stagnation at the rounding floor: keep the better iterate.
            stalled = true;
            break;
        }
        (x, res) = (xn, rn);
    }
    if kind == NsKind::MuonQuintic {
        res = residuals(e, &x, &eye, batch)?;
    }
    let converged = res
        .iter()
        .map(|&r| match kind {
            NsKind::MuonQuintic => true,
            NsKind::Cubic if stalled => r <= 100.0 * tol,
            NsKind::Cubic => r <= tol,
        })
        .collect();
    Ok(BatchedPolar {
        x,
        iterations: it,
        converged,
        residuals: res,
    })
}
