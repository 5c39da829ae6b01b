//! `batched_gemm` on the CPU: `C_t = alpha·op(A_t)·B_t + beta·C_t` for every matrix `t` of the
//! batches stored side by side (see `linops_core::plan::kernel::BatchedGemm`).
//!
//! Storage: `A` is `ar × b·ac`, `B` is `k × b·n`, `C` is `m × b·n`, matrix `t` in the columns
//! `t·ac..`, `t·n..`, `t·n..` of each: every product is one faer `matmul` on column views, no
//! copy. Parallelism: the output's columns are split over the backend's `Par` by
//! [`for_each_part`] at whole matrices (parts aligned to `n` columns), and each part runs its
//! matrices with a sequential matmul, so small matrices (128×128) are not split further and the
//! result has the same bits for every thread count. Cost: `2·b·m·k·n` FLOPs.

use crate::CpuElem;
use crate::par::{Grain, for_each_part};
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatMut, MatRef, Par};
use linops_core::plan::kernel::BatchedGemm;

/// `C_t = alpha·op(A_t)·B_t + beta·C_t` for every `t`; shapes were checked by the planner
/// (`Kernel::cost`) and are asserted again here. BLAS semantics: with `alpha == 0` the products
/// are not formed, with `beta == 0` `C` is not read.
pub(crate) fn batched_gemm<T: CpuElem>(
    g: BatchedGemm,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    out: &mut Mat<T>,
    (alpha, beta): (T, T),
    par: Par,
) {
    let (m, k, n) = g
        .dims((a.nrows(), a.ncols()), (b.nrows(), b.ncols()))
        .expect("batched_gemm: shapes not checked by the planner");
    assert!(
        out.nrows() == m && out.ncols() == g.batch * n,
        "batched_gemm: output shape not checked by the planner"
    );
    let ac = a.ncols() / g.batch;
    let zero = T::from_f64(0.0);
    let one = T::from_f64(1.0);
    for_each_part(
        par,
        out.as_mut(),
        Grain { min: n, align: n },
        &|c0, part: MatMut<'_, T>| {
            let mut part = part;
            if beta != one {
                for j in 0..part.ncols() {
                    for v in part.as_mut().col_mut(j).iter_mut() {
                        *v = if beta == zero { zero } else { beta * *v };
                    }
                }
            }
            if alpha == zero {
                return;
            }
            let accum = if beta == zero {
                Accum::Replace
            } else {
                Accum::Add
            };
            for s in 0..part.ncols() / n {
                let t = c0 / n + s;
                let at = a.subcols(t * ac, ac);
                let at = if g.trans_a { at.transpose() } else { at };
                let bt = b.subcols(t * n, n);
                let ct = part.as_mut().subcols_mut(s * n, n);
                debug_assert_eq!((at.nrows(), at.ncols(), bt.nrows()), (m, k, k));
                matmul(ct, accum, at, bt, alpha, Par::Seq);
            }
        },
    );
}

crate::execute::cpu_kernel!(BatchedGemm, |k, be, inputs, out| {
    let (alpha, beta) = (crate::t(k.alpha), crate::t(k.beta));
    batched_gemm(
        *k,
        inputs.mat(0)?,
        inputs.mat(1)?,
        out,
        (alpha, beta),
        be.par(),
    );
    Ok(())
});
