//! Small host-side helpers shared by the drivers of this branch (f64, faer): triangular solves,
//! orthonormal bases, norms and random probe blocks. Everything here is `O(n²)` or a faer call on a
//! small (`k`-column) matrix.

use faer::{Mat, MatRef};
use linops_core::rng::{Dist, RngState};
use linops_core::{Error, Result};

/// Solves `R·x = b` in place for an upper-triangular `R` (`n×n`).
pub(crate) fn solve_upper(r: MatRef<'_, f64>, x: &mut [f64]) {
    let n = r.nrows();
    for i in (0..n).rev() {
        let mut s = x[i];
        for j in i + 1..n {
            s -= r[(i, j)] * x[j];
        }
        x[i] = s / r[(i, i)];
    }
}

/// Solves `Rᵀ·x = b` in place for an upper-triangular `R` (`n×n`).
pub(crate) fn solve_upper_t(r: MatRef<'_, f64>, x: &mut [f64]) {
    let n = r.nrows();
    for i in 0..n {
        let mut s = x[i];
        for j in 0..i {
            s -= r[(j, i)] * x[j];
        }
        x[i] = s / r[(i, i)];
    }
}

/// Euclidean norm.
pub(crate) fn norm(x: &[f64]) -> f64 {
    x.iter().map(|v| v * v).sum::<f64>().sqrt()
}

/// A column as a `len×1` matrix.
pub(crate) fn col(x: &[f64]) -> Mat<f64> {
    Mat::from_fn(x.len(), 1, |i, _| x[i])
}

/// An orthonormal basis of the columns of `y` (thin Householder QR, f64).
pub(crate) fn orth(y: MatRef<'_, f64>) -> Mat<f64> {
    y.qr().compute_thin_Q()
}

/// `y` converted to f64.
pub(crate) fn to_f64<T: crate::Scalar>(y: MatRef<'_, T>) -> Mat<f64> {
    Mat::from_fn(y.nrows(), y.ncols(), |i, j| y[(i, j)].to_f64())
}

/// An `n×k` block of Rademacher (±1) probes from the Philox stream of `seed`.
pub(crate) fn rademacher(n: usize, k: usize, rng: RngState) -> Mat<f64> {
    Mat::from_fn(n, k, |i, j| {
        f64::from(rng.entry(Dist::Rademacher, i as u64, j as u64))
    })
}

/// Singular values of a small matrix, largest first.
pub(crate) fn singular_values(m: MatRef<'_, f64>) -> Result<Vec<f64>> {
    m.singular_values()
        .map_err(|e| Error::Backend(format!("faer SVD failed: {e:?}")))
}

/// Rejects a non-finite or non-positive tolerance-like parameter.
pub(crate) fn check_positive(name: &str, v: f64) -> Result<()> {
    if !v.is_finite() || v <= 0.0 {
        return Err(Error::InvalidArgument(format!(
            "{name} must be finite and positive, got {v}"
        )));
    }
    Ok(())
}
