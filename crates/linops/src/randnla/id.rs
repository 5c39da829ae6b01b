//! Interpolative decompositions from a sketch: column ID, row ID and CUR.
//!
//! **Mathematics (column ID).** `A` (`m×n`) `≈ A[:, J]·X` with `|J| = k`. Sketch `Y = S·A`
//! (`ℓ×n`, `ℓ = k + p`, `S` Gaussian, formed as `Yᵀ = Aᵀ·Sᵀ` on the backend), then a strong
//! rank-revealing QR of `Y` on the host in f64 ([`strong_rrqr`]: Businger–Golub column pivoting,
//! then Gu–Eisenstat swaps with `f = 2`): `Y·Πᵀ = Q·[R₁₁ R₁₂; 0 R₂₂]`. `J` are the first
//! `k` pivots and, in pivoted order, `X = [I  T]` with `T = R₁₁⁻¹R₁₂` (Martinsson & Tropp 2020, §13).
//! Writing `E = A(I − Y⁺Y)` (the sketch's residual, bounded by HMT Cor. 10.9 for the Gaussian
//! range finder of `Aᵀ`) and `W = Y − Y[:, J]X` (`‖W‖₂ = ‖R₂₂‖₂`), one has exactly
//! `A − A[:, J]X = E·(I − Π_J X) + A·Y⁺·W`, hence
//! `‖A − A[:, J]X‖₂ ≤ √(1 + ‖T‖₂²)·‖E‖₂ + ‖AY⁺‖₂·‖R₂₂‖₂`. The growth factor `‖T‖₂` is returned; the
//! strong RRQR keeps every `|T_ij| ≤ f = 2`, so `‖T‖₂ ≤ f·√(k(n − k))`, and
//! `‖R₂₂‖₂ ≤ √(1 + f²k(n − k))·σ_{k+1}(Y)` (Gu & Eisenstat 1996, Thm. 3.2). (Businger–Golub
//! pivoting alone, used until 2026-12, has no such bound: `2^{k−1}` in the worst case, e.g. on
//! Kahan's matrix.)
//!
//! **Row ID** is the column ID of `Aᵀ`: `A ≈ Xᵀ·A[I, :]`.
//!
//! **CUR.** `C = A[:, J]` and `R = A[I, :]` from a column ID of `A` and a row ID; the core is
//! `U = C⁺·A·R⁺` (pseudo-inverses in f64 on the host), the `U` minimizing `‖A − CUR‖_F` for the
//! given `C`, `R` (Stewart 1999). Since `A − CC⁺AR⁺R = (A − CC⁺A) + CC⁺(A − AR⁺R)` and
//! `‖A − CC⁺A‖ ≤ ‖A − CX‖`, `‖A − CUR‖ ≤ ‖A − A[:, J]X‖ + ‖A − Xᵣᵀ·A[I, :]‖` (both ID errors).
//!
//! **Error estimate.** The IDs and CUR return certified estimates of `‖A − A[:, J]X‖₂` and
//! `‖A − CUR‖₂` from `probes` Golub–Kahan–Lanczos steps ([`super::estimate`]): upper bounds with
//! probability at least 99%.
//!
//! **Storage and cost.** The operator is only applied: column ID, one application of `Aᵀ` to `ℓ`
//! columns plus `O(ℓ²·n)` host flops per pivoted QR (`Y` is `ℓ×n`, on the host; one more per
//! strong-RRQR swap), and `probes` applications of `A` and of `Aᵀ` to a vector for the estimate. CUR: two IDs, one application of `A` and
//! one of `Aᵀ` to `k` selector columns, and one of `A` to `R⁺` (`k` columns). `X` (`k×n`) and `U`
//! (`k×k`) are host f64; `C` and `R` are resident.

use super::estimate::{Factored, NormEstimate, Right, column_id_error};
use super::host_la::{norm, singular_values, thin_svd};
use super::qr::{orthonormalize, upper_inverse};
use super::vectors::OpPlan;
use super::{
    check_block, check_dtype, check_rank, checked_sum, gaussian, max_col_norm, scale_exponent,
    scale_pow2, to_host, unit_roundoff, upload_as,
};
use crate::{Engine, Error, Matrix, Op, Result, Scalar};
use faer::Mat;

/// Parameters of [`column_id`], [`row_id`] and [`cur`].
///
/// # Examples
/// ```
/// let o = linops::randnla::id::IdOptions::default();
/// assert_eq!((o.oversample, o.power_iters, o.probes), (10, 1, 12));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdOptions {
    /// Oversampling `p`: the sketch has `ℓ = k + p` rows.
    pub oversample: usize,
    /// Power iterations `q`: the sketch is `S·(AAᵀ)^q·A` (two more applications of `A` each),
    /// which sharpens the column selection on slowly decaying spectra (natural images); skipped
    /// when `k + p ≥ m` (the sketch then already spans `A`'s row space).
    pub power_iters: usize,
    /// Seed of the sketch and of the probes.
    pub seed: u64,
    /// Golub–Kahan steps of the a-posteriori error estimates ([`super::estimate`]; 0 skips
    /// them).
    pub probes: usize,
}

impl Default for IdOptions {
    fn default() -> Self {
        Self {
            oversample: 10,
            power_iters: 1,
            seed: 0x5EED,
            probes: 12,
        }
    }
}

/// A column interpolative decomposition `A ≈ A[:, cols]·x`.
#[derive(Debug, Clone)]
pub struct ColumnId {
    /// The `k` selected column indices (pivot order).
    pub cols: Vec<usize>,
    /// The `k×n` interpolation matrix (f64); `x[:, cols] = I`.
    pub x: Mat<f64>,
    /// The growth factor `‖R₁₁⁻¹R₁₂‖₂` (0 when `k = n`).
    pub growth: f64,
    /// `‖R₂₂‖₂`, the part of the sketch the `k` columns do not interpolate.
    pub sketch_residual: f64,
    /// The sketch `Y = S·A` (`ℓ×n`, f64), kept for a-posteriori checks.
    pub sketch: Mat<f64>,
    /// Certified estimate of `‖A − A[:, cols]·x‖₂`: an upper bound with probability ≥ 99%
    /// (`NaN` when `probes == 0`); `estimate.bound`.
    pub error_estimate: f64,
    /// The estimate with its Ritz value and failure probability ([`super::estimate`]).
    pub estimate: Option<NormEstimate>,
}

fn spectral_norm(m: &Mat<f64>) -> Result<f64> {
    if m.nrows() == 0 || m.ncols() == 0 {
        return Ok(0.0);
    }
    Ok(singular_values(m.as_ref())?.first().copied().unwrap_or(0.0))
}

/// The strong RRQR bound parameter `f` the IDs use (Gu & Eisenstat 1996 take `f > 1`; 2 keeps
/// the swaps few).
pub const RRQR_F: f64 = 2.0;

/// A strong rank-revealing QR `Y·Π = Q·[R₁₁ R₁₂; 0 R₂₂]` of a small dense matrix (Gu & Eisenstat
/// 1996, Alg. 4): column-pivoted QR, then column swaps between the leading `k` and the rest while
/// some `ρ_ij = √((R₁₁⁻¹R₁₂)_ij² + (γ_j(R₂₂)/ω_i(R₁₁))²)` exceeds `f` (`γ_j` the column norms of
/// `R₂₂`, `ω_i` the reciprocal row norms of `R₁₁⁻¹`). Each swap multiplies `|det R₁₁|` by `ρ > f`,
/// so the loop ends; at exit, with `c = √(1 + f²·k·(n − k))`:
/// `σ_i(R₁₁) ≥ σ_i(Y)/c`, `σ_j(R₂₂) ≤ c·σ_{k+j}(Y)` and `|(R₁₁⁻¹R₁₂)_ij| ≤ f`.
#[derive(Debug, Clone)]
pub struct StrongRrqr {
    /// The column order: `perm[j]` is the column of `Y` in position `j` (`J = perm[..k]`).
    pub perm: Vec<usize>,
    /// The `min(ℓ, n)×n` triangular factor of `Y[:, perm]`.
    pub r: Mat<f64>,
    /// Swaps made after the column-pivoted QR (0 when Businger–Golub pivoting already satisfied
    /// the bound).
    pub swaps: usize,
}

/// Strong RRQR of `y` (`ℓ×n`) for rank `k` with parameter `f > 1` ([`StrongRrqr`]).
///
/// # Errors
/// [`Error::InvalidArgument`] for `k` outside `1..=min(ℓ, n)`, `f ≤ 1` or NaN, non-finite
/// entries, or a leading block `R₁₁` that is exactly singular (numerical rank below `k`).
///
/// # Examples
/// ```
/// use linops::{faer::Mat, randnla::id::strong_rrqr};
/// let y = Mat::from_fn(4, 6, |i, j| if j == 5 - i { 1.0 + i as f64 } else { 0.0 });
/// let f = strong_rrqr(&y, 2, 2.0).unwrap();
/// let mut lead = f.perm[..2].to_vec();
/// lead.sort();
/// assert_eq!(lead, vec![2, 3]); // the two largest columns
/// ```
pub fn strong_rrqr(y: &Mat<f64>, k: usize, f: f64) -> Result<StrongRrqr> {
    let (l, n) = (y.nrows(), y.ncols());
    if k == 0 || k > l.min(n) || f.is_nan() || f <= 1.0 {
        return Err(Error::InvalidArgument(format!(
            "strong_rrqr: k = {k} must be in 1..=min({l}, {n}) and f = {f} > 1"
        )));
    }
    if let Some(v) = y
        .col_iter()
        .flat_map(|c| c.iter().copied())
        .find(|v| !v.is_finite())
    {
        return Err(Error::InvalidArgument(format!(
            "strong_rrqr: the matrix has the non-finite entry {v}"
        )));
    }
    let cp = y.col_piv_qr();
    let mut perm = cp.P().arrays().0.to_vec();
    let mut r = cp.thin_R().to_owned();
    let mut swaps = 0;
    // Each swap raises |det R₁₁| by a factor > f; the bound on the number of swaps
    // (log_f of the ratio of the best to the current determinant) is not known in advance, so a
    // generous cap guards against rounding cycles.
    let cap = 64 + 16 * k;
    while k < n && swaps < cap {
        let r11 = r.submatrix(0, 0, k, k).to_owned();
        if (0..k).any(|i| r11[(i, i)] == 0.0) {
            return Err(Error::InvalidArgument(format!(
                "strong_rrqr: R11 is singular: the matrix has numerical rank below k = {k}"
            )));
        }
        let inv = upper_inverse(&r11);
        let t = &inv * r.submatrix(0, k, k, n - k);
        let rows = r.nrows();
        let gamma: Vec<f64> = (0..n - k)
            .map(|j| {
                let c: Vec<f64> = (k..rows).map(|i| r[(i, k + j)]).collect();
                norm(&c)
            })
            .collect();
        let inv_row: Vec<f64> = (0..k)
            .map(|i| {
                let c: Vec<f64> = (0..k).map(|j| inv[(i, j)]).collect();
                norm(&c)
            })
            .collect();
        let (mut best, mut at) = (f * f, None);
        for j in 0..n - k {
            for i in 0..k {
                let g = gamma[j] * inv_row[i];
                let rho2 = t[(i, j)] * t[(i, j)] + g * g;
                if rho2 > best {
                    (best, at) = (rho2, Some((i, j)));
                }
            }
        }
        let Some((i, j)) = at else { break };
        perm.swap(i, k + j);
        swaps += 1;
        let yp = Mat::<f64>::from_fn(l, n, |a, b| y[(a, perm[b])]);
        r = yp.qr().thin_R().to_owned();
    }
    Ok(StrongRrqr { perm, r, swaps })
}

/// Column ID `A ≈ A[:, J]·X` of rank `k` from a Gaussian sketch with `k + p` rows and a
/// column-pivoted QR, in the engine's precision `T` for the sketch (f64 on the host after).
///
/// # Errors
/// [`Error::InvalidArgument`] for `k` outside `1..=min(m, n)`, an overflowing `k + p`, or a sketch
/// of numerical rank below `k` (`R₁₁` singular); [`Error::DeviceLimit`] when the sketch
/// (`(k + p)×max(m, n, k + p)`) or the probe block (`max(n, r)×r`) exceeds
/// [`MAX_BLOCK_ENTRIES`](super::MAX_BLOCK_ENTRIES); [`Error::Unsupported`] for `f64` on the GPU
/// engine; device failures.
///
/// # Examples
/// ```
/// use linops::{Engine, faer::Mat, randnla::id::{column_id, IdOptions}};
/// let e = Engine::cpu();
/// // rank 2: columns are combinations of two vectors
/// let a = Mat::from_fn(12, 8, |i, j| (i as f64).sin() * (j as f64 + 1.0) + (i as f64).cos() * (j * j) as f64);
/// let op = linops::dense(a.as_ref()).unwrap();
/// let id = column_id::<f64>(&e, &op, 2, &IdOptions { oversample: 3, ..Default::default() }).unwrap();
/// let c = Mat::from_fn(12, 2, |i, j| a[(i, id.cols[j])]);
/// assert!((&a - &c * &id.x).norm_max() < 1e-10 * a.norm_max());
/// ```
pub fn column_id<T: Scalar>(e: &Engine, a: &Op, k: usize, opts: &IdOptions) -> Result<ColumnId> {
    check_dtype::<T>(e)?;
    check_rank("column_id", a, k)?;
    let (m, n) = a.shape();
    let l = checked_sum("column_id", ("k", k), ("oversample", opts.oversample))?;
    // Ω is m×ℓ (generated from an ℓ×ℓ identity), the sketch ℓ×n; the probes n×r and r×r.
    let sketch_what = format!(
        "column_id: sketch of k + oversample = {k} + {} rows",
        opts.oversample
    );
    check_block(&sketch_what, l, m.max(n).max(l))?;
    let probe_what = format!("column_id: probes = {} error-estimate vectors", opts.probes);
    check_block(&probe_what, n.max(opts.probes), opts.probes)?;
    let omega = gaussian::<T>(e, m, l, opts.seed)?;
    // The plans of Aᵀ and A on l columns, built once for the power iterations.
    let at_plan = OpPlan::new(e, &a.t(), l, T::DTYPE)?;
    let mut yt = at_plan.apply(e, &omega)?;
    // Power iterations: Yᵀ ← Aᵀ·orth(A·Yᵀ), i.e. Y = S·(AAᵀ)^q·A up to a left ℓ×ℓ factor (which
    // leaves R₁₁⁻¹R₁₂ unchanged), so the sketch's row space sharpens towards A's leading one.
    // With ℓ ≥ m the sketch S·A already has A's whole row space: nothing to sharpen (and A·Yᵀ,
    // m×ℓ, could not be orthonormalized).
    let power_iters = if l < m { opts.power_iters } else { 0 };
    if power_iters > 0 {
        let a_plan = OpPlan::new(e, a, l, T::DTYPE)?;
        for _ in 0..power_iters {
            // A·Aᵀ squares the operator's scale: bring Yᵀ near 1 by a power of two first (exact;
            // the product is orthonormalized next, so its scale is immaterial).
            let shift = scale_exponent(yt.dtype(), max_col_norm(e, &yt)?);
            let ys = scale_pow2(e, &yt, shift)?.unwrap_or(yt);
            let w = orthonormalize(e, &a_plan.apply(e, &ys)?)?;
            yt = at_plan.apply(e, &w.q)?;
        }
    }
    let sketch = to_host(e, &yt)?.transpose().to_owned();
    let StrongRrqr { perm, r, .. } = match strong_rrqr(&sketch, k, RRQR_F) {
        Ok(f) => f,
        Err(Error::InvalidArgument(_)) => {
            return Err(Error::InvalidArgument(format!(
                "column_id: the sketch has numerical rank below k = {k} (or non-finite entries)"
            )));
        }
        Err(err) => return Err(err),
    };
    let r11 = r.submatrix(0, 0, k, k).to_owned();
    let u = unit_roundoff(T::DTYPE);
    let r00 = r11[(0, 0)].abs();
    // The smallest |R_ii|, i < k: column pivoting keeps the diagonal non-increasing only while the
    // trailing columns are resolved; past the numerical rank a zero can precede noise.
    let rkk = (0..k)
        .map(|i| r11[(i, i)].abs())
        .fold(f64::INFINITY, |m, v| {
            if v.is_nan() || m.is_nan() {
                f64::NAN
            } else {
                m.min(v)
            }
        });
    if rkk.is_nan() || r00.is_nan() || rkk <= 0.0 || r00 <= 0.0 || rkk < u * r00 {
        return Err(Error::InvalidArgument(format!(
            "column_id: the sketch has numerical rank below k = {k} (min |R_ii| = {rkk:e}, |R_11| = {r00:e})"
        )));
    }
    let t = upper_inverse(&r11) * r.submatrix(0, k, k, n - k);
    let growth = spectral_norm(&t)?;
    let rows = r.nrows();
    let r22 = r.submatrix(k, k, rows - k, n - k).to_owned();
    let sketch_residual = spectral_norm(&r22)?;
    let mut x = Mat::<f64>::zeros(k, n);
    for (pos, &col) in perm.iter().enumerate() {
        for i in 0..k {
            x[(i, col)] = if pos < k {
                if pos == i { 1.0 } else { 0.0 }
            } else {
                t[(i, pos - k)]
            };
        }
    }
    let cols: Vec<usize> = perm[..k].to_vec();
    let estimate = if opts.probes == 0 {
        None
    } else {
        // E = A·(I − S_J·X), applied on the engine (estimate.rs).
        Some(column_id_error(
            e,
            T::DTYPE,
            a,
            (&x, &cols),
            opts.probes,
            opts.seed ^ 0x1D_E57,
        )?)
    };
    Ok(ColumnId {
        cols,
        x,
        growth,
        sketch_residual,
        sketch,
        error_estimate: estimate.map_or(f64::NAN, |x| x.bound),
        estimate,
    })
}

/// Row ID `A ≈ Xᵀ·A[I, :]`: the [`column_id`] of `Aᵀ` (`cols` are row indices of `A`).
///
/// # Errors
/// As [`column_id`].
///
/// # Examples
/// ```
/// use linops::{Engine, faer::Mat, randnla::id::{row_id, IdOptions}};
/// let e = Engine::cpu();
/// let a = Mat::from_fn(8, 12, |i, j| (j as f64).sin() * (i as f64 + 1.0));
/// let op = linops::dense(a.as_ref()).unwrap();
/// let id = row_id::<f64>(&e, &op, 1, &IdOptions::default()).unwrap();
/// let r = Mat::from_fn(1, 12, |_, j| a[(id.cols[0], j)]);
/// assert!((&a - id.x.transpose() * &r).norm_max() < 1e-10 * a.norm_max());
/// ```
pub fn row_id<T: Scalar>(e: &Engine, a: &Op, k: usize, opts: &IdOptions) -> Result<ColumnId> {
    column_id::<T>(e, &a.t(), k, opts)
}

/// A CUR decomposition `A ≈ C·U·R` with `C = A[:, cols]`, `R = A[rows, :]`, `U = C⁺·A·R⁺`.
#[derive(Debug)]
pub struct Cur {
    /// Selected column indices.
    pub cols: Vec<usize>,
    /// Selected row indices.
    pub rows: Vec<usize>,
    /// `m×k` columns of `A` (resident).
    pub c: Matrix,
    /// The `k×k` core `C⁺·A·R⁺` (f64).
    pub u: Mat<f64>,
    /// `k×n` rows of `A` (resident).
    pub r: Matrix,
    /// The column ID's estimate of `‖A − A[:, cols]·X‖₂`.
    pub col_error_estimate: f64,
    /// The row ID's estimate of `‖A − Xᵣᵀ·A[rows, :]‖₂`.
    pub row_error_estimate: f64,
    /// Certified estimate of `‖A − C·U·R‖₂` itself (an upper bound with probability ≥ 99%; `NaN`
    /// when `probes == 0`).
    pub error_estimate: f64,
    /// The estimate with its Ritz value and failure probability ([`super::estimate`]).
    pub estimate: Option<NormEstimate>,
}

/// Pseudo-inverse in f64 via the SVD, discarding singular values below `cut·σ₁`.
fn pinv(m: &Mat<f64>, cut: f64) -> Result<Mat<f64>> {
    let (u, s, v) = thin_svd(m.as_ref())?;
    let top = s.first().copied().unwrap_or(0.0);
    let inv: Vec<f64> = s
        .iter()
        .map(|&si| if si > cut * top { 1.0 / si } else { 0.0 })
        .collect();
    let vs = Mat::<f64>::from_fn(v.nrows(), s.len(), |i, j| v[(i, j)] * inv[j]);
    Ok(vs * u.transpose())
}

/// Rank-`k` CUR decomposition from a column ID of `A` and a row ID (a column ID of `Aᵀ`), with
/// core `U = C⁺·A·R⁺`.
///
/// # Errors
/// As [`column_id`].
///
/// # Examples
/// ```
/// use linops::{Engine, faer::Mat, randnla::id::{cur, IdOptions}};
/// let e = Engine::cpu();
/// let a = Mat::from_fn(10, 9, |i, j| 1.0 / (1.0 + (i + j) as f64)); // numerically low rank
/// let op = linops::dense(a.as_ref()).unwrap();
/// let f = cur::<f64>(&e, &op, 6, &IdOptions { oversample: 3, ..Default::default() }).unwrap();
/// let (c, r) = (e.download::<f64>(&f.c).unwrap(), e.download::<f64>(&f.r).unwrap());
/// assert!((&a - &c * &f.u * &r).norm_max() < 1e-5 * a.norm_max());
/// ```
pub fn cur<T: Scalar>(e: &Engine, a: &Op, k: usize, opts: &IdOptions) -> Result<Cur> {
    let (m, n) = a.shape();
    let cid = column_id::<T>(e, a, k, opts)?;
    let rid = row_id::<T>(
        e,
        a,
        k,
        &IdOptions {
            seed: opts.seed.wrapping_add(1),
            ..*opts
        },
    )?;
    let sel_c = Mat::<f64>::from_fn(n, k, |i, j| if i == cid.cols[j] { 1.0 } else { 0.0 });
    let c = e.apply_to(a, &upload_as::<T>(e, &sel_c)?)?;
    let sel_r = Mat::<f64>::from_fn(m, k, |i, j| if i == rid.cols[j] { 1.0 } else { 0.0 });
    let rt = e.apply_to(&a.t(), &upload_as::<T>(e, &sel_r)?)?;
    let eye = upload_as::<T>(e, &Mat::<f64>::identity(k, k))?;
    let r = e.gemm(1.0, &eye, false, &rt, true, 0.0, None)?;
    let cut = (m.max(n) as f64) * unit_roundoff(T::DTYPE);
    let c_pinv = pinv(&to_host(e, &c)?, cut)?;
    let r_pinv = pinv(&to_host(e, &r)?, cut)?;
    let ar = to_host(e, &e.apply_to(a, &upload_as::<T>(e, &r_pinv)?)?)?;
    let u = &c_pinv * &ar;
    let estimate = if opts.probes == 0 {
        None
    } else {
        let res = Factored {
            a,
            left: &c,
            core: u.clone(),
            right: Right::Transposed(&r),
        };
        Some(res.estimate(e, opts.probes, opts.seed ^ 0xC0_E57)?)
    };
    Ok(Cur {
        error_estimate: estimate.map_or(f64::NAN, |x| x.bound),
        estimate,
        cols: cid.cols,
        rows: rid.cols,
        c,
        u,
        r,
        col_error_estimate: cid.error_estimate,
        row_error_estimate: rid.error_estimate,
    })
}
