//! The block butterfly (`b > 1`) as small GEMMs: one factor maps each pair of block-rows
//! `(R, R + 2^f)` of a column panel as `[y_R; y_R'] = [[D₁, D₂], [D₃, D₄]]·[x_R; x_R']`
//! (transposed: `[[D₁ᵀ, D₃ᵀ], [D₂ᵀ, D₄ᵀ]]`), i.e. four `b×b·b×w` products per pair, which faer's
//! `matmul` runs with register-blocked FMA micro-kernels (the lane path of [`super`] loads one
//! coefficient and one lane vector per multiply-add).
//!
//! Layout: a panel of `w` columns of `X` ([`panel_width`]: two panels of `n·w` elements fit a
//! core's L2) is copied to a column-major scratch; every factor of the step reads it and writes
//! the other scratch (the blocks are read in place from the twiddles, row-major, as faer views:
//! `D` row-major is a column-major `Dᵀ`), the two swap, and the last one is written to `out` as
//! `alpha·s + beta·out`. So `X` and `out` are touched once per step and the twiddles once per panel.
//!
//! Determinism: every GEMM runs with `Par::Seq` on one panel, panels start at multiples of the
//! panel width in whatever part of the columns they land, and the width depends only on `n` and
//! the element type, so every thread count gives the same bits. Rounding: each output of a factor
//! is a sum of `2b` products, accumulated in an order of faer's choosing (with FMAs), so it
//! differs from the lane path by at most the bound of a `2b`-term dot product per factor.

use super::Geom;
use crate::CpuElem;
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatMut, MatRef, Par};

/// Bytes of the two panel scratches: about a core's L2 (1 to 2 MiB on current x86-64). Wider
/// panels read the twiddles fewer times (once per panel: `count·2nb` elements against the
/// panel's `n·w`); at n = 4096, b = 16…32, batch 1024 (f32) widths 16…256 measured within the
/// noise of a loaded machine of each other from 64 up, and 16…32 were slower.
const PANEL_BYTES: usize = 2 << 20;

/// Columns of one panel for `n` rows of `T`: as many as let two panels fit [`PANEL_BYTES`],
/// a multiple of 8 in `[8, 128]` (64 for n = 4096 `f32`).
pub(super) fn panel_width<T>(n: usize) -> usize {
    let w = PANEL_BYTES / (2 * n.max(1) * std::mem::size_of::<T>());
    (w / 8 * 8).clamp(8, 128)
}

/// `out = alpha·(factors of the step)·x + beta·out` for one part of the columns, sequentially,
/// in panels of [`panel_width`] columns (the part starts at a multiple of it).
pub(super) fn pair_gemm<T: CpuElem>(
    geom: Geom,
    tw: MatRef<'_, T>,
    x: MatRef<'_, T>,
    mut out: MatMut<'_, T>,
    alpha: T,
    beta: T,
) {
    let one = T::from_f64(1.0);
    let (n, cols, b) = (x.nrows(), x.ncols(), geom.b);
    let width = panel_width::<T>(n).min(cols);
    let mut s = Mat::<T>::zeros(n, width);
    let mut d = Mat::<T>::zeros(n, width);
    let bb = b * b;
    let mut c0 = 0;
    while c0 < cols {
        let w = width.min(cols - c0);
        s.as_mut().subcols_mut(0, w).copy_from(x.subcols(c0, w));
        for l in 0..geom.count {
            let l = if geom.trans { geom.count - 1 - l } else { l };
            let f = geom.first + l;
            let h = 1usize << f;
            let t = tw
                .col(f)
                .try_as_col_major()
                .expect("parameters are contiguous")
                .as_slice();
            let (src, mut dst) = (s.as_ref().subcols(0, w), d.as_mut().subcols_mut(0, w));
            for r in (0..n / b).filter(|r| r & h == 0) {
                let j = ((r >> (f + 1)) << f) | (r & (h - 1));
                let p = &t[4 * bb * j..4 * bb * (j + 1)];
                // Block q of the pair as the operand: D_q (row-major) or, transposed, the block
                // at the mirrored position read column-major (its transpose).
                let block = |q: usize| -> MatRef<'_, T> {
                    if geom.trans {
                        let q = [0, 2, 1, 3][q];
                        MatRef::from_column_major_slice(&p[q * bb..(q + 1) * bb], b, b)
                    } else {
                        MatRef::from_row_major_slice(&p[q * bb..(q + 1) * bb], b, b)
                    }
                };
                let (x0, x1) = (src.subrows(r * b, b), src.subrows((r + h) * b, b));
                for (half, row) in [(0usize, r), (1, r + h)] {
                    let mut y = dst.as_mut().subrows_mut(row * b, b);
                    matmul(
                        y.as_mut(),
                        Accum::Replace,
                        block(2 * half),
                        x0,
                        one,
                        Par::Seq,
                    );
                    matmul(
                        y.as_mut(),
                        Accum::Add,
                        block(2 * half + 1),
                        x1,
                        one,
                        Par::Seq,
                    );
                }
            }
            std::mem::swap(&mut s, &mut d);
        }
        for k in 0..w {
            let src = s
                .as_ref()
                .col(k)
                .try_as_col_major()
                .expect("scratch is contiguous")
                .as_slice();
            let col = out
                .as_mut()
                .col_mut(c0 + k)
                .try_as_col_major_mut()
                .expect("out is contiguous")
                .as_slice_mut();
            super::store_col(col, src, alpha, beta);
        }
        c0 += w;
    }
}
