//! `gemm` on the CPU: one faer `matmul` (`Accum::Replace` when `beta == 0`, so the output is
//! never read); with `alpha == 0` the product is not formed (BLAS semantics).
//!
//! `gemm_diag` (`out = alpha·(A·B + diag(d)·X) + beta·out`, the output pass of diagonal plus low
//! rank) in column panels of [`diag_panel_cols`] columns: each panel of `out` is first set to
//! `alpha·d∘X + beta·out` (one read of `X` and, with `beta ≠ 0`, of `out`), then gets
//! `alpha·A·B` added by faer's `matmul` (parallel over the backend's `Par`, with the same bits
//! for every thread count) while the panel is still in cache, so `out` crosses memory once.
//! Cost: `2·m·n·k + 2·m·n` FLOPs.

use crate::{CpuElem, t};
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat};
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

/// Bytes of the `out` and `X` panels of one `gemm_diag` panel: 4 MiB, inside the development
/// machine's 32 MiB L3 next to `A` (`m×k`) and the panel of `B`, so the product re-reads the
/// panel the epilogue just wrote from cache, not from memory.
const DIAG_PANEL_BYTES: usize = 4 << 20;

/// Most columns of a `gemm_diag` panel.
const DIAG_PANEL_MAX_COLS: usize = 256;

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
    let mut j0 = 0;
    while j0 < out.ncols() {
        let w = width.min(out.ncols() - j0);
        let mut panel = out.as_mut().subcols_mut(j0, w);
        // panel = alpha·d∘X + beta·panel, then panel += alpha·A·B while it is in cache.
        for jj in 0..w {
            let xc = x.col(j0 + jj);
            for ((o, &xv), &dv) in panel
                .as_mut()
                .col_mut(jj)
                .iter_mut()
                .zip(xc.iter())
                .zip(d.iter())
            {
                let v = alpha * (dv * xv);
                *o = if zero_beta { v } else { v + beta * *o };
            }
        }
        matmul(panel, Accum::Add, a, b.subcols(j0, w), alpha, be.par());
        j0 += w;
    }
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
