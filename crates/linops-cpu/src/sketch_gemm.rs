//! `sketch_gemm` on the CPU: `out = alpha·op(G)·X + beta·out` with `G` generated panel by panel.
//!
//! `G` (`rows×cols`, the Philox matrix layout of `linops_core::rng`) is never held whole: column
//! panels `G[:, J]` of [`PANEL`] columns are generated into one `rows×PANEL` scratch and
//! multiplied by faer. For `op(G) = G` the panels accumulate `G[:, J]·X[J, :]` into `out`; for
//! `op(G) = Gᵀ` each panel writes its own row block `out[J, :] = alpha·G[:, J]ᵀ·X + beta·out[J, :]`.
//! A panel's columns are generated over the workers of the backend's `Par` (each entry is a pure
//! function of its position, so the bits depend neither on the order nor on the split), in the
//! widest vector instructions the CPU has (`crate::random_fill::fill_columns`); the panel products are
//! faer `matmul`s with the backend's `Par`.
//! Cost: `2·rows·cols·n` FLOPs plus generating `rows·cols` entries once; extra memory
//! `rows·PANEL` elements.

use crate::CpuElem;
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatRef, Par};
use linops_core::plan::kernel::SketchGemm;

/// Columns of `G` generated per panel.
pub(crate) const PANEL: usize = 256;

/// Runs the step; shapes were checked when it was planned.
pub(crate) fn run<T: CpuElem>(k: &SketchGemm, par: Par, x: MatRef<'_, T>, out: &mut Mat<T>) {
    let width = PANEL.min(k.cols);
    let mut panel = Mat::<T>::zeros(k.rows, width);
    let alpha = T::from_f64(k.alpha);
    if !k.trans && k.beta != 0.0 && k.beta != 1.0 {
        let b = T::from_f64(k.beta);
        for j in 0..out.ncols() {
            for v in out.col_as_slice_mut(j) {
                *v *= b;
            }
        }
    }
    let mut j0 = 0;
    while j0 < k.cols {
        let w = width.min(k.cols - j0);
        let cols = panel.as_mut().subcols_mut(0, w);
        let convert = |g: f32| T::from_f64(f64::from(g));
        crate::random_fill::fill_columns(&k.rng, k.dist, j0, cols, par, convert);
        let g = panel.as_ref().subcols(0, w);
        if k.trans {
            let mut dst = out.as_mut().subrows_mut(j0, w);
            let accum = if k.beta == 0.0 {
                Accum::Replace
            } else {
                if k.beta != 1.0 {
                    let b = T::from_f64(k.beta);
                    for jj in 0..dst.ncols() {
                        for i in 0..dst.nrows() {
                            dst[(i, jj)] *= b;
                        }
                    }
                }
                Accum::Add
            };
            matmul(dst, accum, g.transpose(), x, alpha, par);
        } else {
            let accum = if j0 == 0 && k.beta == 0.0 {
                Accum::Replace
            } else {
                Accum::Add
            };
            matmul(out.as_mut(), accum, g, x.subrows(j0, w), alpha, par);
        }
        j0 += w;
    }
}

crate::execute::cpu_kernel!(SketchGemm, |k, be, inputs, out| {
    run(k, be.par(), inputs.mat(0)?, out);
    Ok(())
});
