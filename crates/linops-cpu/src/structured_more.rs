//! CPU routines of the batched transpose (Kronecker mode rotation) and of SpMM (CSR × dense).
//!
//! Both address buffers element by element in column-major order, so buffers of any shape with
//! the right element count can be read or written (a reshape costs nothing here).

use crate::CpuElem;
use faer::{Mat, MatRef, Par};

/// Element `e` of a column-major matrix.
fn at<T: CpuElem>(m: MatRef<'_, T>, e: usize) -> T {
    m[(e % m.nrows(), e / m.nrows())]
}

/// `out = alpha·Xₜᵀ + beta·out` for the consecutive `rows×cols` matrices `Xₜ` of `x`.
pub(crate) fn batch_transpose<T: CpuElem>(
    rows: usize,
    cols: usize,
    alpha: T,
    beta: T,
    x: MatRef<'_, T>,
    out: &mut Mat<T>,
) {
    let block = rows * cols;
    let zero_beta = beta == T::from_f64(0.0);
    let out_rows = out.nrows();
    for jo in 0..out.ncols() {
        let oc = out.col_as_slice_mut(jo);
        for (io, o) in oc.iter_mut().enumerate() {
            // Output element e is (c, r) of the cols×rows transpose of block t.
            let e = io + jo * out_rows;
            let (blk, w) = (e / block, e % block);
            let (c, r) = (w % cols, w / cols);
            let v = alpha * at(x, blk * block + r + c * rows);
            *o = if zero_beta { v } else { v + beta * *o };
        }
    }
}

/// `out = alpha·S·X + beta·out` with `S` in CSR form `[indptr, indices, values]` (integers stored
/// as reals). Entries with a column index not below `X.nrows()` are skipped. Rows are split over
/// threads when `par` allows.
pub(crate) fn spmm<T: CpuElem>(
    par: Par,
    alpha: T,
    beta: T,
    csr: [MatRef<'_, T>; 3],
    x: MatRef<'_, T>,
    out: &mut Mat<T>,
) {
    let [indptr, indices, values] = csr;
    let (m, b, k) = (out.nrows(), out.ncols(), x.nrows());
    let nnz = values.nrows();
    let index = |v: T| -> usize {
        let f = v.to_f64();
        if f >= 0.0 { f as usize } else { usize::MAX }
    };
    let zero_beta = beta == T::from_f64(0.0);
    // Row-major result rows, computed in parallel row chunks, then scattered into `out`.
    let mut acc = vec![T::from_f64(0.0); m * b];
    let work = |first_row: usize, chunk: &mut [T]| {
        for (lr, row) in chunk.chunks_mut(b).enumerate() {
            let r = first_row + lr;
            let end = index(indptr[(r + 1, 0)]).min(nnz);
            let start = index(indptr[(r, 0)]).min(end);
            for p in start..end {
                let c = index(indices[(p, 0)]);
                if c >= k {
                    continue;
                }
                let v = values[(p, 0)];
                for (j, a) in row.iter_mut().enumerate() {
                    *a += v * x[(c, j)];
                }
            }
        }
    };
    // Threads only pay off beyond a few tens of thousands of multiply-adds.
    let threads = if nnz * b < (1 << 15) {
        1
    } else {
        par.degree().max(1).min(m)
    };
    if threads <= 1 {
        work(0, &mut acc);
    } else {
        let rows_per = m.div_ceil(threads);
        std::thread::scope(|s| {
            for (i, chunk) in acc.chunks_mut(rows_per * b).enumerate() {
                let work = &work;
                s.spawn(move || work(i * rows_per, chunk));
            }
        });
    }
    for j in 0..b {
        let oc = out.col_as_slice_mut(j);
        for (r, o) in oc.iter_mut().enumerate() {
            let v = alpha * acc[r * b + j];
            *o = if zero_beta { v } else { v + beta * *o };
        }
    }
}
