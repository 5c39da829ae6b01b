//! The residual `b − A·x` of a dense host matrix in double-double arithmetic, for the iterative
//! refinement of [`super::lstsq`].
//!
//! **Mathematics.** Each product `a·x` is split exactly into `p + e` with `p = fl(a·x)` and
//! `e = fma(a, x, −p)` (TwoProduct), and each sum `s + t` into `fl(s + t)` plus its exact error
//! (Knuth's TwoSum). Accumulating the row sums as an unevaluated pair `(hi, lo)` gives
//! `rᵢ = bᵢ − Σⱼ aᵢⱼ·xⱼ` with an error of about `n·u²·(|b| + |A|·|x|)ᵢ` before the final rounding
//! to f64 (Ogita, Rump and Oishi 2005, "Accurate sum and dot product", Alg. 4.5 / Prop. 5.5), so
//! the computed residual is `fl(r)·(1 + δ)`, `|δ| ≤ u`, until `|r|` falls to `n·u·|A|·|x|`. This
//! is the extended-precision residual of classical mixed-precision iterative refinement (Higham,
//! *Accuracy and Stability of Numerical Algorithms*, 2nd ed., §12.1): with it the refined
//! solution's forward error no longer has the `cond(A)·u` floor of an f64 residual.
//!
//! **Layout and cost.** `A` is column-major (`m×n`, entry `(i, j)` at `i + j·m`); each thread
//! owns a block of rows and streams the columns over it (contiguous reads), so the work is about
//! `12·m·n` flops and one pass over `A`, split over the available cores by
//! [`std::thread::scope`].

/// Rows per thread below which splitting the work does not pay.
const MIN_ROWS_PER_THREAD: usize = 4096;

/// `b − A·x` in double-double arithmetic, rounded to f64 (module docs); `a` is column-major
/// `m×n` with `m = b.len()`, `n = x.len()`.
pub(crate) fn residual_dd(a: &[f64], b: &[f64], x: &[f64]) -> Vec<f64> {
    let m = b.len();
    debug_assert_eq!(a.len(), m * x.len());
    let mut r = vec![0.0; m];
    let threads = std::thread::available_parallelism()
        .map(|t| t.get())
        .unwrap_or(1)
        .min(m.div_ceil(MIN_ROWS_PER_THREAD))
        .max(1);
    let block = m.div_ceil(threads);
    std::thread::scope(|s| {
        for (k, out) in r.chunks_mut(block).enumerate() {
            s.spawn(move || residual_rows(a, b, x, k * block, out));
        }
    });
    r
}

/// `Aᵀ·(b − A·x)` with the residual kept as an unevaluated double-double pair and each column's
/// dot product accumulated in double-double (module docs), rounded to f64: accurate to about
/// `u·|Aᵀ·r|` plus `n·u²·|A|ᵀ(|b| + |A|·|x|)`, where an f64 residual would add `u·|A|ᵀ|r|`
/// (the `cond(A)²·u·‖r‖` term of the least-squares forward error once mapped through
/// `(AᵀA)⁻¹`).
pub(crate) fn normal_residual_dd(a: &[f64], b: &[f64], x: &[f64]) -> Vec<f64> {
    let (m, n) = (b.len(), x.len());
    debug_assert_eq!(a.len(), m * n);
    let threads = std::thread::available_parallelism()
        .map(|t| t.get())
        .unwrap_or(1)
        .min(m.div_ceil(MIN_ROWS_PER_THREAD))
        .max(1);
    let (mut hi, mut lo) = (vec![0.0; m], vec![0.0; m]);
    let block = m.div_ceil(threads);
    std::thread::scope(|s| {
        for (k, (h, l)) in hi.chunks_mut(block).zip(lo.chunks_mut(block)).enumerate() {
            s.spawn(move || residual_pair(a, b, x, k * block, h, l));
        }
    });
    let mut g = vec![0.0; n];
    let cols = n.div_ceil(threads.min(n).max(1));
    let (hi, lo) = (&hi, &lo);
    std::thread::scope(|s| {
        for (k, out) in g.chunks_mut(cols).enumerate() {
            s.spawn(move || {
                for (jj, o) in out.iter_mut().enumerate() {
                    let j = k * cols + jj;
                    let colj = &a[j * m..(j + 1) * m];
                    let (mut sh, mut sl) = (0.0f64, 0.0f64);
                    for ((&aij, &h), &l) in colj.iter().zip(hi).zip(lo) {
                        let p = aij * h;
                        let pe = aij.mul_add(h, -p);
                        let t = sh + p;
                        let bb = t - sh;
                        let te = (sh - (t - bb)) + (p - bb);
                        sh = t;
                        sl += te + pe + aij * l;
                    }
                    *o = sh + sl;
                }
            });
        }
    });
    g
}

/// Rows `i0..i0 + out.len()` of the double-double residual.
fn residual_rows(a: &[f64], b: &[f64], x: &[f64], i0: usize, out: &mut [f64]) {
    let mut lo = vec![0.0f64; out.len()];
    residual_pair(a, b, x, i0, out, &mut lo);
    for (o, l) in out.iter_mut().zip(lo) {
        *o += l;
    }
}

/// Rows `i0..i0 + hi.len()` of the residual as the double-double pair `hi + lo`.
fn residual_pair(a: &[f64], b: &[f64], x: &[f64], i0: usize, hi: &mut [f64], lo: &mut [f64]) {
    let m = b.len();
    let rows = hi.len();
    hi.copy_from_slice(&b[i0..i0 + rows]);
    lo.fill(0.0);
    for (j, &xj) in x.iter().enumerate() {
        let colj = &a[j * m + i0..j * m + i0 + rows];
        for ((h, l), &aij) in hi.iter_mut().zip(lo.iter_mut()).zip(colj) {
            // TwoProduct: aij·xj = p + pe exactly.
            let p = aij * xj;
            let pe = aij.mul_add(xj, -p);
            // TwoSum: h − p = s + se exactly.
            let s = *h - p;
            let bb = s - *h;
            let se = (*h - (s - bb)) + (-p - bb);
            *h = s;
            *l += se - pe;
        }
    }
    // The pair stays unevaluated: `hi + lo` is rounded by the caller.
    for (h, l) in hi.iter_mut().zip(lo.iter_mut()) {
        let s = *h + *l;
        *l -= s - *h;
        *h = s;
    }
}

#[cfg(test)]
mod tests {
    use super::residual_dd;

    #[test]
    fn recovers_a_residual_below_f64_cancellation() {
        // A = [1, 1; 1, 1+2⁻³⁰] (column-major), x = [1, 2⁻³⁰ · 3]: the exact products carry bits
        // below u·|A|·|x| that an f64 dot product loses.
        let t = 2f64.powi(-30);
        let a = [1.0, 1.0, 1.0, 1.0 + t];
        let x = [1.0 + t, 3.0 * t];
        // A·x exactly: row 0 = 1 + 4t, row 1 = 1 + 4t + 3t².
        let b = [1.0 + 4.0 * t, 1.0 + 4.0 * t];
        let r = residual_dd(&a, &b, &x);
        assert_eq!(r[0], 0.0);
        assert_eq!(
            r[1],
            -3.0 * t * t,
            "the 3t² term (below u·|A|·|x| = 2⁻⁵²) is kept"
        );
    }

    #[test]
    fn splits_rows_across_threads_without_changing_bits() {
        let (m, n) = (3 * super::MIN_ROWS_PER_THREAD + 17, 5);
        let a: Vec<f64> = (0..m * n)
            .map(|k| ((k * 7919 % 1013) as f64).sin())
            .collect();
        let x: Vec<f64> = (0..n).map(|j| 1.0 / (1.0 + j as f64)).collect();
        let b: Vec<f64> = (0..m).map(|i| (i as f64).cos()).collect();
        let r = residual_dd(&a, &b, &x);
        let mut one = vec![0.0; m];
        super::residual_rows(&a, &b, &x, 0, &mut one);
        assert_eq!(r, one);
    }
}
