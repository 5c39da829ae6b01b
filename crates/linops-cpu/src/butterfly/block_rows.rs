//! The block butterfly (`b ≥ 16`) on a row-major panel with fused multiply-add micro-kernels.
//!
//! Mathematics: one factor maps each pair of block-rows `(R, R + 2^f)` of a column panel as
//! `[y_R; y_R'] = [[D₁, D₂], [D₃, D₄]]·[x_R; x_R']` (transposed: `[[D₁ᵀ, D₃ᵀ], [D₂ᵀ, D₄ᵀ]]`), so
//! output row `u` of block-row `R` is `y[u, :] = Σ_v D₁[u, v]·x_R[v, :] + Σ_v D₂[u, v]·x_R'[v, :]`.
//!
//! Storage: a panel of up to `4·L` columns of `X` (`L` = 16 lanes of `f32`, 8 of `f64`: four
//! 64-byte vectors) is transposed into a **row-major** scratch of `n` rows of `P = NV·L` lanes
//! (row `r` holds the panel's values of row `r` contiguously; lanes past the panel's width are
//! never written out). A micro-kernel computes `RU` output rows × `NV` vectors of lanes in
//! `RU·NV ≤ 16` AVX-512 registers (512-bit FMAs: on the Zen 5 dev box, whose FMA units are 512
//! bits wide, 256-bit ones ran at half its peak; measured 2026-12-03 at n = 4096, b = 32, f32,
//! see docs/benchmarks.md "Session 16"): for each of the `2b` terms `v`, it loads the `NV` vectors of input
//! row `v` (L1-resident: the two input blocks are `2b·P` elements, 16 KiB at `b = 32` `f32`) and
//! multiply-adds each against one broadcast coefficient per output row, read in place from the
//! twiddles (row-major `D`, or column-major for the transpose: a broadcast needs no contiguity,
//! so nothing is packed). Every factor of the step reads one scratch and writes the other; the
//! last one is written to `out` as `alpha·s + beta·out`. `X` and `out` are touched once per step,
//! the twiddles once per panel.
//!
//! Cost: `2b` fused multiply-adds per output element and factor (`count·4b·n` FLOPs per column,
//! `count·(4b − 1)·n` as the planner counts them); per `2b·RU·NV` of them, `2b·NV` vector loads
//! and `2b·RU` broadcasts.
//!
//! Rounding: each output of a factor is `fma(D[u, 2b−1], x[2b−1], … fma(D[u, 0], x[0], 0))`, the
//! `2b` terms in a fixed order (left block first), one rounding per term, in every lane; lanes
//! are columns, so an output's bits depend neither on the panel it lands in, nor its width, nor
//! the thread count. It differs from the lane path of [`super`] (separate products and sums) by
//! at most the bound of a `2b`-term dot product per factor.

use super::Geom;
use crate::CpuElem;
use crate::simd::Scratch;
use std::any::TypeId;

/// Vectors of lanes per scratch row at most (a panel of 64 `f32` or 32 `f64` columns).
const MAX_VECTORS: usize = 4;

/// Whether this path runs here: an x86-64 CPU with AVX-512F (and FMA), and an element type it
/// has kernels for (`f32`, `f64`).
pub(super) fn available<T: 'static>() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        (is::<T, f32>() || is::<T, f64>())
            && std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether `T` is `U`.
fn is<T: 'static, U: 'static>() -> bool {
    TypeId::of::<T>() == TypeId::of::<U>()
}

/// Lanes of one 64-byte (AVX-512) vector of `T`.
pub(super) fn lanes<T>() -> usize {
    64 / std::mem::size_of::<T>()
}

/// Columns of one panel: [`MAX_VECTORS`] vectors of lanes.
pub(super) fn panel_width<T>() -> usize {
    MAX_VECTORS * lanes::<T>()
}

/// `out = alpha·(factors of the step)·x + beta·out` for one part of the columns, sequentially,
/// in panels of [`panel_width`] columns (the last one narrower). Only called when
/// [`available`].
pub(super) fn block_rows<T: CpuElem>(
    geom: Geom,
    tw: faer::MatRef<'_, T>,
    x: faer::MatRef<'_, T>,
    mut out: faer::MatMut<'_, T>,
    alpha: T,
    beta: T,
) {
    let zero = T::from_f64(0.0);
    let (n, cols) = (x.nrows(), x.ncols());
    let lane = lanes::<T>();
    let first_w = panel_width::<T>().min(cols);
    // Lanes per scratch row: the first (widest) panel's width rounded up to whole vectors.
    let p = first_w.div_ceil(lane) * lane;
    let mut s = Scratch::<T>::zeroed(n * p);
    let mut d = Scratch::<T>::zeroed(n * p);
    let twiddle: Vec<&[T]> = (0..tw.ncols())
        .map(|f| {
            tw.col(f)
                .try_as_col_major()
                .expect("parameters are contiguous")
                .as_slice()
        })
        .collect();
    let mut c0 = 0;
    while c0 < cols {
        let w = first_w.min(cols - c0);
        let nv = w.div_ceil(lane);
        // Transpose the panel in: row r of the scratch holds X[r, c0..c0 + w].
        for k in 0..w {
            let col = x
                .col(c0 + k)
                .try_as_col_major()
                .expect("X is contiguous")
                .as_slice();
            for (r, &v) in col.iter().enumerate() {
                s[r * p + k] = v;
            }
        }
        for l in 0..geom.count {
            let l = if geom.trans { geom.count - 1 - l } else { l };
            factor(
                geom,
                geom.first + l,
                twiddle[geom.first + l],
                &s,
                &mut d,
                p,
                nv,
            );
            std::mem::swap(&mut s, &mut d);
        }
        // Transpose out with alpha and beta.
        for k in 0..w {
            let col = out
                .as_mut()
                .col_mut(c0 + k)
                .try_as_col_major_mut()
                .expect("out is contiguous")
                .as_slice_mut();
            if beta == zero {
                for (r, o) in col.iter_mut().enumerate() {
                    *o = alpha * s[r * p + k];
                }
            } else {
                for (r, o) in col.iter_mut().enumerate() {
                    *o = alpha * s[r * p + k] + beta * *o;
                }
            }
        }
        c0 += w;
    }
}

/// Factor `f` of the step from scratch `s` into scratch `d` (`n` rows of `p` lanes, the first
/// `nv` vectors of each row in use).
fn factor<T: CpuElem>(geom: Geom, f: usize, tw: &[T], s: &[T], d: &mut [T], p: usize, nv: usize) {
    let n = s.len() / p;
    let b = geom.b;
    assert!(
        n.is_multiple_of(b)
            && (n / b).is_power_of_two()
            && f < (n / b).trailing_zeros() as usize
            && tw.len() >= 2 * n * b
            && d.len() == s.len()
            && (1..=MAX_VECTORS).contains(&nv)
            && nv * lanes::<T>() <= p,
        "block_rows: shapes not checked by the caller"
    );
    #[cfg(target_arch = "x86_64")]
    {
        assert!(
            available::<T>(),
            "block_rows: called without AVX-512F and FMA"
        );
        if is::<T, f32>() {
            // SAFETY: the CPU has AVX-512F (asserted just above), and the shapes are those the
            // kernel's contract asks for (asserted above: n rows of p ≥ nv·16 lanes, b | n, the
            // factor's pairs inside the twiddles' column).
            unsafe { avx512::factor_f32(geom, f, cast(tw), cast(s), cast_mut(d), p, nv) };
        } else {
            // SAFETY: as above, `T` being `f64` (`available`).
            unsafe { avx512::factor_f64(geom, f, cast(tw), cast(s), cast_mut(d), p, nv) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (geom, f, tw, s, d, p, nv);
        unreachable!("block_rows: not available on this architecture");
    }
}

/// `s` as the slice of `U` it is. Panics unless `T` is `U`.
#[cfg(target_arch = "x86_64")]
fn cast<T: 'static, U: 'static>(s: &[T]) -> &[U] {
    assert!(is::<T, U>());
    // SAFETY: `T` is `U` (asserted), so the cast changes nothing but the type's name.
    unsafe { &*(std::ptr::from_ref(s) as *const [U]) }
}

/// `s` as the mutable slice of `U` it is. Panics unless `T` is `U`.
#[cfg(target_arch = "x86_64")]
fn cast_mut<T: 'static, U: 'static>(s: &mut [T]) -> &mut [U] {
    assert!(is::<T, U>());
    // SAFETY: as in `cast`.
    unsafe { &mut *(std::ptr::from_mut(s) as *mut [U]) }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    //! The kernels, one per element type (the same code through [`kernels!`]), compiled with
    //! AVX-512F (32 vector registers of 512 bits) and FMA.

    use super::Geom;
    use std::arch::x86_64::{
        __m512, __m512d, _mm512_fmadd_pd, _mm512_fmadd_ps, _mm512_loadu_pd, _mm512_loadu_ps,
        _mm512_set1_pd, _mm512_set1_ps, _mm512_setzero_pd, _mm512_setzero_ps, _mm512_storeu_pd,
        _mm512_storeu_ps,
    };

    /// Defines `$factor` (one factor over the scratch) and its micro-kernel `$tile` for element
    /// type `$t` with vectors `$v` of `$l` lanes.
    macro_rules! kernels {
        ($t:ty, $v:ty, $l:expr, $zero:ident, $load:ident, $store:ident, $set1:ident, $fma:ident,
         $factor:ident, $rows:ident, $tile:ident) => {
            /// Factor `f` from `s` into `d` (`n = s.len() / p` rows of `p` lanes, `nv` vectors in
            /// use): every pair of block-rows, both output halves, through [`$rows`].
            ///
            /// # Safety
            /// The CPU has AVX-512F and FMA; `b | n`, `n / b` is a power of two above `2^f`,
            /// `tw` holds at least `2nb` elements, `d.len() == s.len()`, `1 ≤ nv ≤ 4` and
            /// `nv·$l ≤ p`.
            #[target_feature(enable = "avx512f,fma")]
            pub(super) unsafe fn $factor(
                geom: Geom,
                f: usize,
                tw: &[$t],
                s: &[$t],
                d: &mut [$t],
                p: usize,
                nv: usize,
            ) {
                let (b, n) = (geom.b, s.len() / p);
                let (bb, h) = (b * b, 1usize << f);
                // Strides of row u and term v of a block: row-major D, or column-major (D's
                // transpose) when the step is transposed.
                let (su, sv) = if geom.trans { (1, b) } else { (b, 1) };
                for r in (0..n / b).filter(|r| r & h == 0) {
                    let j = ((r >> (f + 1)) << f) | (r & (h - 1));
                    let pair = &tw[4 * bb * j..4 * bb * (j + 1)];
                    let x = [s[r * b * p..].as_ptr(), s[(r + h) * b * p..].as_ptr()];
                    for (half, row) in [(0usize, r), (1, r + h)] {
                        // The two blocks of this output half (transposed: mirrored).
                        let q = if geom.trans {
                            [half, half + 2]
                        } else {
                            [2 * half, 2 * half + 1]
                        };
                        let a = [pair[q[0] * bb..].as_ptr(), pair[q[1] * bb..].as_ptr()];
                        let y = d[row * b * p..(row + 1) * b * p].as_mut_ptr();
                        // SAFETY: the blocks are inside `pair` (4·b² elements), the input
                        // blocks and the output block are b rows of p ≥ nv·$l lanes inside
                        // `s` and `d` (r + h < n / b), and the CPU has AVX-512F and FMA.
                        unsafe {
                            match nv {
                                1 => $rows::<16, 1>(a, (su, sv), x, y, b, p),
                                2 => $rows::<8, 2>(a, (su, sv), x, y, b, p),
                                3 => $rows::<5, 3>(a, (su, sv), x, y, b, p),
                                _ => $rows::<4, 4>(a, (su, sv), x, y, b, p),
                            }
                        }
                    }
                }
            }

            /// All `b` output rows of one half of a pair: tiles of `RU` rows, then single rows.
            ///
            /// # Safety
            /// The CPU has AVX-512F and FMA; `a[i]` points at a `b×b` block read at `u·su + v·sv`,
            /// `x[i]` at `b` rows of `p ≥ NV·$l` lanes, `y` at `b` rows of `p` lanes.
            #[target_feature(enable = "avx512f,fma")]
            #[inline]
            unsafe fn $rows<const RU: usize, const NV: usize>(
                a: [*const $t; 2],
                (su, sv): (usize, usize),
                x: [*const $t; 2],
                y: *mut $t,
                b: usize,
                p: usize,
            ) {
                let mut u = 0;
                // SAFETY (both loops): rows u..u + RU ≤ b of the blocks and the output (the
                // caller's contract).
                while u + RU <= b {
                    unsafe {
                        $tile::<RU, NV>(
                            [a[0].add(u * su), a[1].add(u * su)],
                            (su, sv),
                            x,
                            y.add(u * p),
                            b,
                            p,
                        )
                    };
                    u += RU;
                }
                while u < b {
                    unsafe {
                        $tile::<1, NV>(
                            [a[0].add(u * su), a[1].add(u * su)],
                            (su, sv),
                            x,
                            y.add(u * p),
                            b,
                            p,
                        )
                    };
                    u += 1;
                }
            }

            /// `RU` output rows × `NV` vectors: `y[i, :] = Σ_v a₀[i, v]·x₀[v, :] + Σ_v a₁[i, v]·x₁[v, :]`
            /// (one fused multiply-add per term, left block first), accumulated in registers.
            ///
            /// # Safety
            /// The CPU has AVX-512F and FMA; `a[k]` is valid for reading at `i·su + v·sv` for `i < RU`,
            /// `v < b`; `x[k]` for `b` rows of `p ≥ NV·$l` lanes; `y` for writing `RU` rows of
            /// `p` lanes (not overlapping the inputs).
            #[target_feature(enable = "avx512f,fma")]
            #[inline]
            unsafe fn $tile<const RU: usize, const NV: usize>(
                a: [*const $t; 2],
                (su, sv): (usize, usize),
                x: [*const $t; 2],
                y: *mut $t,
                b: usize,
                p: usize,
            ) {
                let mut acc: [[$v; NV]; RU] = [[$zero(); NV]; RU];
                for half in 0..2 {
                    let (a, x) = (a[half], x[half]);
                    for v in 0..b {
                        let mut xv: [$v; NV] = [$zero(); NV];
                        for (jj, xv) in xv.iter_mut().enumerate() {
                            // SAFETY: row v < b, lanes jj·$l.. < NV·$l ≤ p (the contract).
                            *xv = unsafe { $load(x.add(v * p + jj * $l)) };
                        }
                        for (i, acc) in acc.iter_mut().enumerate() {
                            // SAFETY: i < RU, v < b (the contract).
                            let c = $set1(unsafe { *a.add(i * su + v * sv) });
                            for (acc, &xv) in acc.iter_mut().zip(&xv) {
                                *acc = $fma(c, xv, *acc);
                            }
                        }
                    }
                }
                for (i, acc) in acc.iter().enumerate() {
                    for (jj, &acc) in acc.iter().enumerate() {
                        // SAFETY: row i < RU, lanes < NV·$l ≤ p (the contract).
                        unsafe { $store(y.add(i * p + jj * $l), acc) };
                    }
                }
            }
        };
    }

    kernels!(
        f32,
        __m512,
        16,
        _mm512_setzero_ps,
        _mm512_loadu_ps,
        _mm512_storeu_ps,
        _mm512_set1_ps,
        _mm512_fmadd_ps,
        factor_f32,
        rows_f32,
        tile_f32
    );
    kernels!(
        f64,
        __m512d,
        8,
        _mm512_setzero_pd,
        _mm512_loadu_pd,
        _mm512_storeu_pd,
        _mm512_set1_pd,
        _mm512_fmadd_pd,
        factor_f64,
        rows_f64,
        tile_f64
    );
}
