//! `batch_transpose` on the CPU: `out = alpha·[X_0ᵀ X_1ᵀ …] + beta·out` for the consecutive
//! `rows×cols` matrices `X_t` of `x` (the mode rotation of the Kronecker product).
//!
//! Storage: `x` and `out` are read and written in flat column-major order ([`crate::flat`]), so
//! `X_t` is the `t`-th run of `rows·cols` elements and its transpose is written to the same run
//! of `out`. Cost: one read and one write per element, no FLOPs beyond the scaling; sequential
//! (a memory-bound copy).

use crate::CpuElem;
use crate::flat::{flat, store};
use faer::{Mat, MatRef};

/// `out = alpha·Xₜᵀ + beta·out` for the consecutive `rows×cols` matrices `Xₜ` of `x`.
pub(crate) fn batch_transpose<T: CpuElem>(
    rows: usize,
    cols: usize,
    alpha: T,
    beta: T,
    x: MatRef<'_, T>,
    out: &mut Mat<T>,
) {
    let xs = flat(x);
    let block = rows * cols;
    let ys = if cols == 1 || rows == 1 {
        xs
    } else {
        let mut ys = vec![T::from_f64(0.0); xs.len()];
        for (src, dst) in xs.chunks_exact(block).zip(ys.chunks_exact_mut(block)) {
            for (c, col) in src.chunks_exact(rows).enumerate() {
                for (i, v) in col.iter().enumerate() {
                    dst[c + i * cols] = *v;
                }
            }
        }
        ys
    };
    store(&ys, alpha, beta, out, faer::Par::Seq);
}

crate::execute::cpu_kernel!(
    linops_core::plan::kernel::BatchTranspose,
    |k, _, inputs, out| {
        let (alpha, beta) = (crate::t(k.alpha), crate::t(k.beta));
        batch_transpose(k.rows, k.cols, alpha, beta, inputs.mat(0)?, out);
        Ok(())
    }
);
