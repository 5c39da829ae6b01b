//! Fast transforms on the CPU, one contiguous column at a time (rayon over columns).
//!
//! - `fwht`: orthonormal Walsh–Hadamard transform, in place on a column of `N = 2^m` entries:
//!   stages `h = 1, 2, 4, …, N/2` of butterflies `(a, b) → (a + b, a − b)` on pairs `h` apart,
//!   then one scaling by `alpha/√N`. `N·log₂N` additions and no allocation per column (one
//!   scratch column per thread, only when the output has fewer rows than `N` or `beta ≠ 0`). The
//!   stage order is the GPU kernel's, so both round identically.
//! - `dct`: orthonormal DCT-II / DCT-III by Makhoul's reordering around an `n`-point complex
//!   FFT (rustfft: radix-2/4 for powers of two, mixed radix or Rader/Bluestein otherwise), so
//!   `O(n log n)` for every `n`; one FFT plan per step, one buffer and scratch per thread.

use crate::CpuElem;
use faer::{Mat, MatRef, Par};
use rayon::prelude::*;
use rustfft::FftNum;
use rustfft::FftPlanner;
use rustfft::num_complex::Complex;

/// `v` in `T`.
fn t<T: CpuElem>(v: f64) -> T {
    <T as linops_core::Element>::from_f64(v)
}

/// Contiguous column `j` of `x` (faer matrices created by this crate have unit row stride).
fn col<T: CpuElem>(x: MatRef<'_, T>, j: usize) -> impl Fn(usize) -> T + '_ {
    let c = x.col(j);
    move |i| c[i]
}

/// Runs `f(j, column_j_of_out)` for every column, in parallel when `par` allows.
fn for_each_col<T: CpuElem, S: Send>(
    out: &mut Mat<T>,
    par: Par,
    init: impl Fn() -> S + Sync + Send,
    f: impl Fn(&mut S, usize, &mut [T]) + Sync + Send,
) {
    let work = out.nrows() * out.ncols();
    if matches!(par, Par::Seq) || out.ncols() < 2 || work < 1 << 14 {
        let mut s = init();
        for j in 0..out.ncols() {
            f(&mut s, j, out.col_as_slice_mut(j));
        }
    } else {
        out.as_mut()
            .par_col_iter_mut()
            .enumerate()
            .for_each_init(init, |s, (j, c)| {
                let c = c
                    .try_as_col_major_mut()
                    .expect("owned faer matrices have contiguous columns");
                f(s, j, c.as_slice_mut());
            });
    }
}

/// The unnormalized Walsh–Hadamard transform of `v` (length a power of two), in place.
///
/// Same butterflies in the same stage order as the plain radix-2 loop (so the same rounding, and
/// the same as the GPU kernel), arranged for speed: the stages `h = 1, 2, 4` in registers on
/// blocks of 8, then the remaining stages two at a time over four contiguous quarter-slices of
/// each block of `4h` (one pass over the column per two stages; the inner loops vectorize).
fn fwht_in_place<T: CpuElem>(v: &mut [T]) {
    let n = v.len();
    let mut h = 1;
    if n >= 8 {
        for b in v.chunks_exact_mut(8) {
            let mut r = [b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]];
            for s in [1, 2, 4] {
                for i in 0..8 {
                    if i & s == 0 {
                        let (u, w) = (r[i], r[i + s]);
                        r[i] = u + w;
                        r[i + s] = u - w;
                    }
                }
            }
            b.copy_from_slice(&r);
        }
        h = 8;
    }
    while 4 * h <= n {
        for blk in v.chunks_exact_mut(4 * h) {
            let (ab, cd) = blk.split_at_mut(2 * h);
            let (a, b) = ab.split_at_mut(h);
            let (c, d) = cd.split_at_mut(h);
            for (((a, b), c), d) in a.iter_mut().zip(b).zip(c).zip(d) {
                let (a1, b1) = (*a + *b, *a - *b);
                let (c1, d1) = (*c + *d, *c - *d);
                *a = a1 + c1;
                *c = a1 - c1;
                *b = b1 + d1;
                *d = b1 - d1;
            }
        }
        h *= 4;
    }
    while h < n {
        for blk in v.chunks_exact_mut(2 * h) {
            let (a, b) = blk.split_at_mut(h);
            for (x, y) in a.iter_mut().zip(b.iter_mut()) {
                let (u, w) = (*x, *y);
                *x = u + w;
                *y = u - w;
            }
        }
        h *= 2;
    }
}

/// `out = alpha·Pₒᵀ·H_N·Pₓ·x + beta·out` with `N = max(rows(x), rows(out))` (see
/// `linops_core::Kernel::Fwht`). Shapes were checked by the planner.
pub(crate) fn fwht<T: CpuElem>(
    x: MatRef<'_, T>,
    out: &mut Mat<T>,
    alpha: f64,
    beta: f64,
    par: Par,
) {
    let (r_in, r_out) = (x.nrows(), out.nrows());
    let n = r_in.max(r_out);
    let scale = t::<T>(alpha / (n as f64).sqrt());
    let beta_t = t::<T>(beta);
    let direct = r_out == n && beta == 0.0;
    for_each_col(
        out,
        par,
        || vec![t::<T>(0.0); if direct { 0 } else { n }],
        |buf, j, o| {
            let xj = col(x, j);
            let v: &mut [T] = if direct { o } else { buf.as_mut_slice() };
            for (i, e) in v.iter_mut().enumerate() {
                *e = if i < r_in { xj(i) } else { t::<T>(0.0) };
            }
            fwht_in_place(v);
            if direct {
                for e in v.iter_mut() {
                    *e *= scale;
                }
            } else {
                for (i, e) in o.iter_mut().enumerate() {
                    let t = scale * buf[i];
                    *e = if beta == 0.0 { t } else { t + beta_t * *e };
                }
            }
        },
    );
}

/// Makhoul's permutation: where entry `j` of a length-`n` signal goes before the FFT.
fn makhoul(n: usize, j: usize) -> usize {
    if j.is_multiple_of(2) {
        j / 2
    } else {
        n - 1 - j / 2
    }
}

/// Element types rustfft computes in (`f32`, `f64`): the bridge from the backend's generic `T`
/// to rustfft's `FftNum`, so that [`CpuElem`] need not carry rustfft's traits (whose `from_f64`
/// would clash with [`linops_core::Element::from_f64`]).
///
/// # Examples
/// ```
/// fn takes<T: linops_cpu::transforms::FftElem>() {}
/// takes::<f32>();
/// takes::<f64>();
/// ```
pub trait FftElem: Sized {
    /// `out = alpha·C·x + beta·out` or with `Cᵀ`; see the module docs.
    #[allow(clippy::too_many_arguments)]
    fn dct_columns(
        x: MatRef<'_, Self>,
        table: MatRef<'_, Self>,
        out: &mut Mat<Self>,
        inverse: bool,
        alpha: f64,
        beta: f64,
        par: Par,
    );
}

impl FftElem for f32 {
    fn dct_columns(
        x: MatRef<'_, f32>,
        table: MatRef<'_, f32>,
        out: &mut Mat<f32>,
        inverse: bool,
        alpha: f64,
        beta: f64,
        par: Par,
    ) {
        dct(x, table, out, inverse, alpha, beta, par)
    }
}

impl FftElem for f64 {
    fn dct_columns(
        x: MatRef<'_, f64>,
        table: MatRef<'_, f64>,
        out: &mut Mat<f64>,
        inverse: bool,
        alpha: f64,
        beta: f64,
        par: Par,
    ) {
        dct(x, table, out, inverse, alpha, beta, par)
    }
}

/// `out = alpha·C·x + beta·out` (DCT-II) or `alpha·Cᵀ·x + beta·out` (`inverse`, DCT-III), with
/// `table` the `n×4` twiddle table of `linops_core::op::Dct`.
fn dct<T: CpuElem + FftNum>(
    x: MatRef<'_, T>,
    table: MatRef<'_, T>,
    out: &mut Mat<T>,
    inverse: bool,
    alpha: f64,
    beta: f64,
    par: Par,
) {
    let n = x.nrows();
    let nf = n as f64;
    let fft = if inverse {
        FftPlanner::<T>::new().plan_fft_inverse(n)
    } else {
        FftPlanner::<T>::new().plan_fft_forward(n)
    };
    let zero = t::<T>(0.0);
    let beta_t = t::<T>(beta);
    let (cr, sr) = (table.col(2), table.col(3));
    // DCT-II: X_k = alpha·s_k·Re(e^{−iπk/2n}·V_k). DCT-III: Z_k = y_k/s_k, then alpha/n at the end.
    let (s0, sk) = if inverse {
        (t::<T>(nf.sqrt()), t::<T>((nf / 2.0).sqrt()))
    } else {
        (
            t::<T>(alpha * (1.0 / nf).sqrt()),
            t::<T>(alpha * (2.0 / nf).sqrt()),
        )
    };
    let post = t::<T>(alpha / nf);
    let scratch_len = fft.get_inplace_scratch_len();
    for_each_col(
        out,
        par,
        || {
            (
                vec![Complex::new(zero, zero); n],
                vec![Complex::new(zero, zero); scratch_len],
            )
        },
        |(buf, scratch), j, o| {
            let xj = col(x, j);
            if inverse {
                let z = |k: usize| if k == 0 { s0 * xj(0) } else { sk * xj(k) };
                for (k, b) in buf.iter_mut().enumerate() {
                    let (c, s) = (cr[k], sr[k]);
                    let (a, bb) = (z(k), if k == 0 { zero } else { z(n - k) });
                    *b = Complex::new(c * a + s * bb, s * a - c * bb);
                }
                fft.process_with_scratch(buf, scratch);
                for (i, e) in o.iter_mut().enumerate() {
                    let t = post * buf[makhoul(n, i)].re;
                    *e = if beta == 0.0 { t } else { t + beta_t * *e };
                }
            } else {
                for i in 0..n {
                    buf[makhoul(n, i)] = Complex::new(xj(i), zero);
                }
                fft.process_with_scratch(buf, scratch);
                for (k, e) in o.iter_mut().enumerate() {
                    let v = cr[k] * buf[k].re + sr[k] * buf[k].im;
                    let t = if k == 0 { s0 } else { sk } * v;
                    *e = if beta == 0.0 { t } else { t + beta_t * *e };
                }
            }
        },
    );
}
