//! `random_fill` on the CPU: `out = alpha·op(G)` with `G` the Philox random matrix of
//! `linops_core::rng`, generated one column of `G` at a time.
//!
//! Each entry is the generated `f32` value converted to `T` and multiplied by `alpha` in `T`:
//! one rounding, the bits `sketch_gemm` gives for `alpha·op(G)·I` (a product with an identity
//! adds exact zeros). Cost: `rows·cols` generated entries and multiplies.

use crate::CpuElem;
use faer::Mat;
use linops_core::rng::{Dist, RngState};

/// Fills `out` (`rows×cols`, or `cols×rows` when `trans`); the shape was checked when planned.
pub(crate) fn random_fill<T: CpuElem>(
    dist: Dist,
    rng: RngState,
    (rows, cols): (usize, usize),
    trans: bool,
    alpha: f64,
    out: &mut Mat<T>,
) {
    let alpha = T::from_f64(alpha);
    let mut col = vec![0.0f32; rows];
    for j in 0..cols {
        rng.column_into(dist, 0, j as u64, &mut col);
        for (i, &g) in col.iter().enumerate() {
            let v = alpha * T::from_f64(f64::from(g));
            if trans {
                out[(j, i)] = v;
            } else {
                out[(i, j)] = v;
            }
        }
    }
}

crate::execute::cpu_kernel!(linops_core::plan::kernel::RandomFill, |k, _, _, out| {
    let shape = (k.rows, k.cols);
    random_fill(k.dist, k.rng, shape, k.trans, k.alpha, out);
    Ok(())
});
