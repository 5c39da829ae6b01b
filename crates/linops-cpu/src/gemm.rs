//! `gemm` on the CPU: one faer `matmul` (`Accum::Replace` when `beta == 0`, so the output is
//! never read); with `alpha == 0` the product is not formed (BLAS semantics).
//!
//! `gemm_diag` (`out = alpha·(A·B + diag(d)·X) + beta·out`, the output pass of diagonal plus low
//! rank) in panels of [`diag_panel_cols`] columns: each panel of `out` is first set to
//! `alpha·d∘X + beta·out` (one read of `X` and, with `beta ≠ 0`, of `out`), then gets
//! `alpha·A·B` added by a sequential `matmul` while the panel is still in cache, so `out`
//! crosses memory once. Panels are split over the backend's `Par` by [`for_each_part`] at whole
//! panels, so the bits do not depend on the thread count. Cost: `2·m·n·k + 2·m·n` FLOPs.

use crate::par::{Grain, for_each_part};
use crate::{CpuElem, t};
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatMut, Par};
use linops_core::plan::kernel::{Gemm, GemmDiag};

crate::execute::cpu_kernel!(Gemm, |k, be, inputs, out| {
    if k.alpha == 0.0 {
        scale_or_zero(out, k.beta);
        return Ok(());
    }
    let a = if k.trans_a {
        inputs.mat(0)?.transpose()
    } else {
        inputs.mat(0)?
    };
    let b = if k.trans_b {
        inputs.mat(1)?.transpose()
    } else {
        inputs.mat(1)?
    };
    let accum = if k.beta == 0.0 {
        Accum::Replace
    } else {
        if k.beta != 1.0 {
            scale_in_place(out, t(k.beta));
        }
        Accum::Add
    };
    matmul(out.as_mut(), accum, a, b, t::<T>(k.alpha), be.par());
    Ok(())
});

/// Bytes of the `out` and `X` panels one `gemm_diag` panel keeps in cache: half of a 1 MiB
/// per-core L2 (the development machine's EPYC), leaving room for the panel of `B` and slices
/// of `A`.
const DIAG_PANEL_BYTES: usize = 512 << 10;

/// Most columns of a `gemm_diag` panel (a wider panel gains nothing once `A`'s slices are
/// reused across 64 columns).
const DIAG_PANEL_MAX_COLS: usize = 64;

/// Multiply-adds below which `gemm_diag` runs on the calling thread (a join costs more).
const DIAG_MIN_PARALLEL_WORK: usize = 1 << 18;

/// Columns of one `gemm_diag` panel of `rows` rows of `T`: the `out` and `X` panels fill at
/// most [`DIAG_PANEL_BYTES`], between 1 and [`DIAG_PANEL_MAX_COLS`] columns. Depends on the
/// shape only, so every thread count cuts the same panels.
fn diag_panel_cols<T>(rows: usize) -> usize {
    let per_col = 2 * rows.max(1) * std::mem::size_of::<T>();
    (DIAG_PANEL_BYTES / per_col).clamp(1, DIAG_PANEL_MAX_COLS)
}

crate::execute::cpu_kernel!(GemmDiag, |k, be, inputs, out| {
    if k.alpha == 0.0 {
        scale_or_zero(out, k.beta);
        return Ok(());
    }
    let (a, b, x) = (inputs.mat(0)?, inputs.mat(1)?, inputs.mat(3)?);
    let d = inputs.mat(2)?.col(0);
    let (alpha, beta) = (t::<T>(k.alpha), t::<T>(k.beta));
    let zero_beta = k.beta == 0.0;
    let width = diag_panel_cols::<T>(out.nrows());
    let work = out.nrows() * out.ncols() * (a.ncols() + 1);
    let par = if work >= DIAG_MIN_PARALLEL_WORK {
        be.par()
    } else {
        Par::Seq
    };
    let grain = Grain {
        min: width,
        align: width,
    };
    for_each_part(par, out.as_mut(), grain, &|j0, part: MatMut<'_, T>| {
        let mut part = part;
        let mut c0 = 0;
        while c0 < part.ncols() {
            let w = width.min(part.ncols() - c0);
            let mut panel = part.as_mut().subcols_mut(c0, w);
            for jj in 0..w {
                let xc = x.col(j0 + c0 + jj);
                for (i, o) in panel.as_mut().col_mut(jj).iter_mut().enumerate() {
                    let v = alpha * (d[i] * xc[i]);
                    *o = if zero_beta { v } else { v + beta * *o };
                }
            }
            let bp = b.subcols(j0 + c0, w);
            matmul(panel, Accum::Add, a, bp, alpha, Par::Seq);
            c0 += w;
        }
    });
    Ok(())
});

/// `m ← beta·m`, or zeros when `beta == 0` (BLAS semantics: the old values are not read).
fn scale_or_zero<T: CpuElem>(m: &mut Mat<T>, beta: f64) {
    if beta == 0.0 {
        m.fill(t(0.0));
    } else {
        scale_in_place(m, t(beta));
    }
}

/// `m ← s·m`.
fn scale_in_place<T: CpuElem>(m: &mut Mat<T>, s: T) {
    for j in 0..m.ncols() {
        for v in m.col_as_slice_mut(j) {
            *v *= s;
        }
    }
}
