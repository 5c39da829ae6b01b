//! `gather` on the CPU: `out[i, :] = alpha·X[idx[i], :] + beta·out[i, :]` (the row permutation
//! `P·X`, and every row selection a plan lowers to a gather).
//!
//! Storage: `idx` is a one-column index parameter; `X` and `out` are column-major, so each output
//! column is filled by reading one column of `X` at the gathered rows. The indices are decoded
//! once per apply (an index that is not an integer in `0..rows(X)` selects a zero row, never an
//! out-of-bounds read). Cost: `rows(out)·cols` reads and writes, no FLOPs beyond the scaling;
//! sequential (a memory-bound copy).

use crate::CpuElem;
use faer::{Mat, MatRef};

/// `out[i, :] = alpha·X[idx[i], :] + beta·out[i, :]`.
pub(crate) fn gather<T: CpuElem>(
    idx: MatRef<'_, T>,
    x: MatRef<'_, T>,
    out: &mut Mat<T>,
    alpha: T,
    beta: T,
) {
    let n_in = x.nrows();
    let src: Vec<Option<usize>> = (0..idx.nrows())
        .map(|i| {
            let v = idx[(i, 0)].to_f64();
            (v >= 0.0 && v.fract() == 0.0 && v < n_in as f64).then_some(v as usize)
        })
        .collect();
    let zero = T::from_f64(0.0);
    let zero_beta = beta == zero;
    for j in 0..out.ncols() {
        let xc = x.col(j);
        let oc = out.col_as_slice_mut(j);
        for (o, s) in oc.iter_mut().zip(&src) {
            let v = alpha * s.map_or(zero, |s| xc[s]);
            *o = if zero_beta { v } else { v + beta * *o };
        }
    }
}

impl crate::execute::CpuKernel for linops_core::plan::kernel::Gather {
    fn run<T: CpuElem>(
        &self,
        _: &crate::CpuBackend<T>,
        inputs: &[MatRef<'_, T>],
        out: &mut Mat<T>,
    ) {
        let (alpha, beta) = (crate::t(self.alpha), crate::t(self.beta));
        gather(inputs[0], inputs[1], out, alpha, beta);
    }
}
