//! Small host-side helpers shared by the drivers of this branch (f64, faer): triangular solves,
//! orthonormal bases, norms and random probe blocks. Everything here is `O(n²)` or a faer call on a
//! small (`k`-column) matrix.

use super::{exponent, ldexp};
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

/// `2^k` as a product of two factors that are both normal numbers (for `|k| ≤ 2000`), so that
/// `v·f1·f2 = v·2^k` exactly whenever the result and `v·f1` are normal.
pub(crate) fn pow2_pair(k: i32) -> (f64, f64) {
    if k > 1000 {
        (2f64.powi(1000), 2f64.powi(k - 1000))
    } else if k < -1000 {
        (2f64.powi(-1000), 2f64.powi(k + 1000))
    } else {
        (2f64.powi(k), 1.0)
    }
}

/// Euclidean norm without over- or underflow, and exactly homogeneous: with `2^e ≤ max|x_i| <
/// 2^{e+1}`, `‖x‖ = 2^e·√(Σ(x_i·2^{-e})²)` (the scalings are exact; the sum of squares lies in
/// `[1, 4·len)`). `NaN` if any entry is NaN, `+∞` if any is infinite.
pub(crate) fn norm(x: &[f64]) -> f64 {
    let mut amax = 0.0f64;
    for v in x {
        if v.is_nan() {
            return f64::NAN;
        }
        amax = amax.max(v.abs());
    }
    if amax == 0.0 || amax.is_infinite() {
        return amax;
    }
    let e = exponent(amax);
    let (f1, f2) = pow2_pair(-e);
    let ssq: f64 = x
        .iter()
        .map(|v| {
            let t = v * f1 * f2;
            t * t
        })
        .sum();
    ldexp(ssq.sqrt(), e)
}

/// `(Σ x_i)/len` and the sample standard deviation `√(Σ(x_i − mean)²/(len − 1))`, formed after
/// scaling by the power of two at or below `max|x_i|` (exact), so neither overflows when the
/// squares would and both are exactly homogeneous. Needs `len ≥ 2`.
pub(crate) fn mean_and_std(x: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let amax = x.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if amax == 0.0 || !amax.is_finite() || x.iter().any(|v| v.is_nan()) {
        let mean = x.iter().sum::<f64>() / n;
        let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1.0);
        return (mean, var.sqrt());
    }
    let e = exponent(amax);
    let xs: Vec<f64> = x.iter().map(|v| ldexp(*v, -e)).collect();
    let mean = xs.iter().sum::<f64>() / n;
    let dev: Vec<f64> = xs.iter().map(|v| v - mean).collect();
    (ldexp(mean, e), ldexp(norm(&dev) / (n - 1.0).sqrt(), e))
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

/// `max |m_ij|` (`NaN` if an entry is NaN).
pub(crate) fn max_abs(m: MatRef<'_, f64>) -> f64 {
    let mut amax = 0.0f64;
    for j in 0..m.ncols() {
        for i in 0..m.nrows() {
            let v = m[(i, j)].abs();
            if v.is_nan() {
                return f64::NAN;
            }
            amax = amax.max(v);
        }
    }
    amax
}

/// The exponent `e` with `2^e ≤ max|m_ij| < 2^{e+1}` (0 for a zero or non-finite matrix).
pub(crate) fn max_exponent(m: MatRef<'_, f64>) -> i32 {
    let amax = max_abs(m);
    if amax == 0.0 || !amax.is_finite() {
        0
    } else {
        exponent(amax)
    }
}

/// `m·2^k` (exact whenever the entries stay normal).
pub(crate) fn scale_mat(m: MatRef<'_, f64>, k: i32) -> Mat<f64> {
    let (f1, f2) = pow2_pair(k);
    Mat::from_fn(m.nrows(), m.ncols(), |i, j| m[(i, j)] * f1 * f2)
}

/// Thin SVD `m = U·diag(s)·Vᵀ` computed by faer on `m·2^{-e}` (largest entry in `[1, 2)`), with
/// `s` scaled back: faer's iterations need not converge on entries near the ends of f64's range,
/// and the power-of-two scaling makes the result exactly homogeneous.
pub(crate) fn thin_svd(m: MatRef<'_, f64>) -> Result<(Mat<f64>, Vec<f64>, Mat<f64>)> {
    let e = max_exponent(m);
    let svd = scale_mat(m, -e)
        .thin_svd()
        .map_err(|err| Error::Backend(format!("faer SVD failed: {err:?}")))?;
    let s = svd.S().column_vector();
    let sv = (0..s.nrows()).map(|i| ldexp(s[i], e)).collect();
    Ok((svd.U().to_owned(), sv, svd.V().to_owned()))
}

/// Singular values of a small matrix, largest first (scaled as in [`thin_svd`]).
pub(crate) fn singular_values(m: MatRef<'_, f64>) -> Result<Vec<f64>> {
    let e = max_exponent(m);
    Ok(scale_mat(m, -e)
        .singular_values()
        .map_err(|err| Error::Backend(format!("faer SVD failed: {err:?}")))?
        .into_iter()
        .map(|v| ldexp(v, e))
        .collect())
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

/// The `R` factor (`k×k`, upper triangular) of a tall `d×k` matrix by one level of TSQR
/// (Demmel, Grigori, Hoemmen and Langou 2012): up to four row blocks of at least `6·k` rows are
/// factored by Householder QR concurrently, one thread each, and the stacked `R` factors once
/// more. Backward stable like one Householder QR of `a`; the rows of `R` may differ from it in
/// sign only (`R` is unique up to a diagonal of signs), which leaves `R⁻¹·Qᵀ` unchanged. The
/// split depends on the shape only, so the bits do not depend on the thread count. On the 2-core
/// dev box a 6400×257 factor takes 33–36 ms against 49–52 ms for faer's parallel QR of the
/// whole matrix.
pub(crate) fn tall_qr_r(mut a: Mat<f64>) -> Mat<f64> {
    use faer::Par;
    use faer::dyn_stack::{MemBuffer, MemStack};
    use faer::linalg::qr::no_pivoting::factor::{
        qr_in_place, qr_in_place_scratch, recommended_block_size,
    };
    let (d, k) = a.shape();
    let blocks = (d / (6 * k.max(1))).clamp(1, 4);
    if blocks == 1 {
        return a.qr().thin_R().to_owned();
    }
    let len = d.div_ceil(blocks);
    let mut views = Vec::with_capacity(blocks);
    let mut rest = a.as_mut();
    while rest.nrows() > len {
        let (top, bottom) = rest.split_at_row_mut(len);
        views.push(top);
        rest = bottom;
    }
    views.push(rest);
    let factor = |mut v: faer::MatMut<'_, f64>| -> Mat<f64> {
        let rows = v.nrows();
        let bs = recommended_block_size::<f64>(rows, k);
        let mut h = Mat::<f64>::zeros(bs, k);
        let mut mem = MemBuffer::new(qr_in_place_scratch::<f64>(
            rows,
            k,
            bs,
            Par::Seq,
            Default::default(),
        ));
        qr_in_place(
            faer::reborrow::ReborrowMut::rb_mut(&mut v),
            h.as_mut(),
            Par::Seq,
            MemStack::new(&mut mem),
            Default::default(),
        );
        Mat::from_fn(k, k, |i, j| if i <= j { v[(i, j)] } else { 0.0 })
    };
    let factor = &factor;
    let rs: Vec<Mat<f64>> = std::thread::scope(|s| {
        let handles: Vec<_> = views
            .into_iter()
            .map(|v| s.spawn(move || factor(v)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a TSQR block thread panicked"))
            .collect()
    });
    let mut stacked = Mat::<f64>::zeros(blocks * k, k);
    for (b, r) in rs.iter().enumerate() {
        stacked.as_mut().subrows_mut(b * k, k).copy_from(r);
    }
    stacked.qr().thin_R().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tall_qr_r_is_the_r_factor() {
        // 300×9: four row blocks (75 rows each); 40×9: too short to split, faer's QR itself.
        for (d, k) in [(300usize, 9usize), (40, 9)] {
            let a = Mat::from_fn(d, k, |i, j| {
                ((i * 7919 + j * 104_729) % 1013) as f64 / 1013.0 - 0.5
                    + if i == j { 2.0 } else { 0.0 }
            });
            let want = a.qr().thin_R().to_owned();
            let r = tall_qr_r(a.clone());
            assert_eq!((r.nrows(), r.ncols()), (k, k));
            let scale = want.norm_l2();
            for j in 0..k {
                for i in 0..k {
                    if i > j {
                        assert_eq!(r[(i, j)], 0.0, "({i}, {j}) below the diagonal");
                    } else {
                        // R is unique up to the signs of its rows; both are backward stable, so
                        // they agree to a small multiple of d·u·‖A‖ (cond(A) is small here).
                        let sign = (r[(i, i)] * want[(i, i)]).signum();
                        assert!(
                            (sign * r[(i, j)] - want[(i, j)]).abs()
                                <= 10.0 * d as f64 * f64::EPSILON * scale,
                            "({i}, {j}): {} vs {}",
                            r[(i, j)],
                            want[(i, j)]
                        );
                    }
                }
            }
        }
    }
}
