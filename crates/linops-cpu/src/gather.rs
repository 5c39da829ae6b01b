//! `gather` on the CPU: `out[i, :] = alpha·X[idx[i], :] + beta·out[i, :]` (the row permutation
//! `P·X`, and every row selection a plan lowers to a gather).
//!
//! Storage: `idx` is the plan's `u32` index array, read as it is (no decoding); `X` and `out` are
//! column-major, so each output column is filled by reading one column of `X` at the gathered
//! rows. An index not below `rows(X)` selects a zero row, never an out-of-bounds read. Cost:
//! `rows(out)·cols` reads and writes plus `4·rows(out)` bytes of indices per column, no FLOPs
//! beyond the scaling. The columns are split over the backend's `Par`
//! ([`crate::par::for_each_col`]): a memory-bound copy, which one core of the 2-core dev box does
//! at about half the machine's bandwidth.

use crate::CpuElem;
use crate::par::for_each_col;
use faer::{Mat, MatRef, Par};

/// `out[i, :] = alpha·X[idx[i], :] + beta·out[i, :]`, the columns split over `par` (each
/// element is computed the same way in any part, so the bits do not depend on the thread count).
pub(crate) fn gather<T: CpuElem>(
    idx: &[u32],
    x: MatRef<'_, T>,
    out: &mut Mat<T>,
    alpha: T,
    beta: T,
    par: Par,
) {
    let zero = T::from_f64(0.0);
    let zero_beta = beta == zero;
    for_each_col(
        out,
        par,
        || (),
        |(), j, oc| {
            let xc = x.col(j);
            let xs = xc.try_as_col_major().map(|c| c.as_slice());
            for (o, &s) in oc.iter_mut().zip(idx) {
                let s = s as usize;
                let g = match xs {
                    Some(xs) => xs.get(s).copied(),
                    None => (s < xc.nrows()).then(|| xc[s]),
                };
                let v = alpha * g.unwrap_or(zero);
                *o = if zero_beta { v } else { v + beta * *o };
            }
        },
    );
}

crate::execute::cpu_kernel!(linops_core::plan::kernel::Gather, |k, be, inputs, out| {
    let (alpha, beta) = (crate::t(k.alpha), crate::t(k.beta));
    gather(inputs.index(0)?, inputs.mat(1)?, out, alpha, beta, be.par());
    Ok(())
});
