//! Flat column-major access to faer matrices, for the kernels that address a buffer as one
//! vector (`batch_transpose`, `spmm`): a buffer of any shape with the right element count can be
//! read or written, so a reshape costs nothing. Cost: one copy of the buffer each way.

use crate::CpuElem;
use crate::par::for_each_col;
use faer::{Mat, MatRef, Par};

/// The elements of `m` in flat column-major order (columns may be padded in faer's storage).
pub(crate) fn flat<T: CpuElem>(m: MatRef<'_, T>) -> Vec<T> {
    let mut v = Vec::with_capacity(m.nrows() * m.ncols());
    for j in 0..m.ncols() {
        match m.col(j).try_as_col_major() {
            Some(c) => v.extend_from_slice(c.as_slice()),
            None => v.extend((0..m.nrows()).map(|i| m[(i, j)])),
        }
    }
    v
}

/// Writes flat column-major `v` into `out` as `out = alpha·v + beta·out`, the columns split over
/// `par` (element-wise, so the bits do not depend on the thread count).
pub(crate) fn store<T: CpuElem>(v: &[T], alpha: T, beta: T, out: &mut Mat<T>, par: Par) {
    let zero_beta = beta == T::from_f64(0.0);
    let rows = out.nrows();
    for_each_col(
        out,
        par,
        || (),
        |(), j, o| {
            let src = &v[j * rows..(j + 1) * rows];
            for (o, s) in o.iter_mut().zip(src) {
                let a = alpha * *s;
                *o = if zero_beta { a } else { a + beta * *o };
            }
        },
    );
}
