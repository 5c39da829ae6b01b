//! `dct` on the CPU: the orthonormal DCT-II (`C`) and DCT-III (`Cᵀ = C⁻¹`) of each column.
//!
//! Mathematics: `out = alpha·C·x + beta·out` or `alpha·Cᵀ·x + beta·out` (`inverse`), by Makhoul's
//! reordering around an `n`-point complex FFT: DCT-II reorders the column (even entries forward,
//! odd entries backward), transforms, and takes `s_k·Re(e^{−iπk/2n}·V_k)`; DCT-III runs the same
//! steps backwards. Storage: `table` is the `n×4` twiddle table of `linops_core::op::Dct`
//! (columns 2 and 3: `cos`, `sin` of `πk/2n`); one FFT plan per step (rustfft: radix-2/4 for
//! powers of two, mixed radix or Rader/Bluestein otherwise) and one complex buffer and scratch
//! per worker. Columns are split over the backend's `Par` ([`crate::par::for_each_col`]).
//! Cost: `O(n log n)` per column for every `n`.

use crate::par::for_each_col;
use crate::{CpuElem, t};
use faer::{ColRef, Mat, MatRef, Par};
use rustfft::FftPlanner;
use rustfft::num_complex::Complex;
use rustfft::{Fft, FftNum};

/// Element types rustfft computes in (`f32`, `f64`): the bridge from the backend's generic `T`
/// to rustfft's `FftNum`, so that [`CpuElem`] need not carry rustfft's traits (whose `from_f64`
/// would clash with [`linops_core::Element::from_f64`]).
///
/// # Examples
/// ```
/// fn takes<T: linops_cpu::FftElem>() {}
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
    let column = Column {
        fft: &*fft,
        cr: table.col(2),
        sr: table.col(3),
        s0,
        sk,
        post,
        beta,
        inverse,
    };
    for_each_col(
        out,
        par,
        || {
            (
                vec![Complex::new(zero, zero); n],
                vec![Complex::new(zero, zero); scratch_len],
            )
        },
        |(buf, scratch), j, o| match x.col(j).try_as_col_major() {
            Some(c) => column.run(c.as_slice(), o, buf, scratch),
            None => column.run(
                &x.col(j).iter().copied().collect::<Vec<_>>(),
                o,
                buf,
                scratch,
            ),
        },
    );
}

/// The per-column constants of one DCT step.
struct Column<'a, T: CpuElem + FftNum> {
    fft: &'a dyn Fft<T>,
    cr: ColRef<'a, T>,
    sr: ColRef<'a, T>,
    s0: T,
    sk: T,
    post: T,
    beta: f64,
    inverse: bool,
}

impl<T: CpuElem + FftNum> Column<'_, T> {
    /// `o = alpha·C·x + beta·o` (or with `Cᵀ`) for one column, with its FFT buffer and scratch.
    /// Not inlined: its code is then the same whatever loop runs it (sequential or per worker).
    #[inline(never)]
    fn run(&self, xj: &[T], o: &mut [T], buf: &mut [Complex<T>], scratch: &mut [Complex<T>]) {
        let n = xj.len();
        let zero = t::<T>(0.0);
        let beta_t = t::<T>(self.beta);
        let (s0, sk, post) = (self.s0, self.sk, self.post);
        // The twiddles as slices when contiguous (the planner's table is), so that the pre- and
        // post-processing loops run without per-element index arithmetic and vectorize.
        let owned;
        let (cr, sr): (&[T], &[T]) = match (self.cr.try_as_col_major(), self.sr.try_as_col_major())
        {
            (Some(c), Some(s)) => (c.as_slice(), s.as_slice()),
            _ => {
                owned = (
                    self.cr.iter().copied().collect::<Vec<_>>(),
                    self.sr.iter().copied().collect::<Vec<_>>(),
                );
                (&owned.0, &owned.1)
            }
        };
        let (cr, sr) = (&cr[..n], &sr[..n]);
        if self.inverse {
            // V_k = e^{iπk/2n}·(z_k − i·z_{n−k}) with z_0 = s0·x_0, z_k = sk·x_k (z_n = 0).
            let a0 = s0 * xj[0];
            buf[0] = Complex::new(cr[0] * a0, sr[0] * a0);
            for k in 1..n {
                let (c, s) = (cr[k], sr[k]);
                let (a, bb) = (sk * xj[k], sk * xj[n - k]);
                buf[k] = Complex::new(c * a + s * bb, s * a - c * bb);
            }
            self.fft.process_with_scratch(buf, scratch);
            // Makhoul's order undone: even outputs from the front of the FFT, odd from the back.
            let (even, odd) = (n.div_ceil(2), n / 2);
            let write = |e: &mut T, v: T| {
                let t = post * v;
                *e = if self.beta == 0.0 { t } else { t + beta_t * *e };
            };
            for (m, b) in buf[..even].iter().enumerate() {
                write(&mut o[2 * m], b.re);
            }
            for m in 0..odd {
                write(&mut o[2 * m + 1], buf[n - 1 - m].re);
            }
        } else {
            // Makhoul's order: even entries forward, odd entries backward.
            for (b, x) in buf.iter_mut().zip(xj.iter().step_by(2)) {
                *b = Complex::new(*x, zero);
            }
            for (m, x) in xj.iter().skip(1).step_by(2).enumerate() {
                buf[n - 1 - m] = Complex::new(*x, zero);
            }
            self.fft.process_with_scratch(buf, scratch);
            let v0 = cr[0] * buf[0].re + sr[0] * buf[0].im;
            let first = s0 * v0;
            o[0] = if self.beta == 0.0 {
                first
            } else {
                first + beta_t * o[0]
            };
            let rest = o[1..]
                .iter_mut()
                .zip(&buf[1..])
                .zip(cr[1..].iter().zip(&sr[1..]));
            if self.beta == 0.0 {
                for ((e, b), (c, s)) in rest {
                    *e = sk * (*c * b.re + *s * b.im);
                }
            } else {
                for ((e, b), (c, s)) in rest {
                    *e = sk * (*c * b.re + *s * b.im) + beta_t * *e;
                }
            }
        }
    }
}

crate::execute::cpu_kernel!(linops_core::plan::kernel::Dct, |k, be, inputs, out| {
    let (x, table) = (inputs.mat(0)?, inputs.mat(1)?);
    T::dct_columns(x, table, out, k.inverse, k.alpha, k.beta, be.par());
    Ok(())
});
