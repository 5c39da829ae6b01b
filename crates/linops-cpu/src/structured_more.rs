//! CPU routines of the batched transpose (Kronecker mode rotation) and of SpMM (CSR × dense).
//!
//! Both address buffers in flat column-major order, so buffers of any shape with the right
//! element count can be read or written (a reshape costs nothing here).

use crate::CpuElem;
use faer::{Mat, MatRef, Par};

/// The elements of `m` in flat column-major order (columns may be padded in faer's storage).
fn flat<T: CpuElem>(m: MatRef<'_, T>) -> Vec<T> {
    let mut v = Vec::with_capacity(m.nrows() * m.ncols());
    for j in 0..m.ncols() {
        match m.col(j).try_as_col_major() {
            Some(c) => v.extend_from_slice(c.as_slice()),
            None => v.extend((0..m.nrows()).map(|i| m[(i, j)])),
        }
    }
    v
}

/// Writes flat column-major `v` into `out` as `out = alpha·v + beta·out`.
fn store<T: CpuElem>(v: &[T], alpha: T, beta: T, out: &mut Mat<T>) {
    let zero_beta = beta == T::from_f64(0.0);
    let rows = out.nrows();
    for j in 0..out.ncols() {
        let src = &v[j * rows..(j + 1) * rows];
        for (o, s) in out.col_as_slice_mut(j).iter_mut().zip(src) {
            let a = alpha * *s;
            *o = if zero_beta { a } else { a + beta * *o };
        }
    }
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
    store(&ys, alpha, beta, out);
}

/// `out = alpha·S·X + beta·out` with `S` in CSR form `[indptr, indices, values]` (integers stored
/// as reals). Entries with a column index not below `X.nrows()` are skipped. A short, wide `S`
/// takes the wide path of [`crate::spmm_wide`]; otherwise the `rows·b` output elements are
/// split into contiguous ranges (rows of consecutive columns) over threads.
pub(crate) fn spmm<T: CpuElem>(
    par: Par,
    alpha: T,
    beta: T,
    csr: [MatRef<'_, T>; 3],
    x: MatRef<'_, T>,
    out: &mut Mat<T>,
) {
    let [indptr, indices, values] = csr.map(flat);
    let (m, b, k) = (out.nrows(), out.ncols(), x.nrows());
    let nnz = values.len();
    let index = |v: T| -> usize {
        let f = v.to_f64();
        if f >= 0.0 { f as usize } else { usize::MAX }
    };
    // Decoded structure: the row ranges clamped to [0, nnz], column indices (k marks "skip").
    let ranges: Vec<(usize, usize)> = (0..m)
        .map(|r| {
            let end = index(indptr[r + 1]).min(nnz);
            (index(indptr[r]).min(end), end)
        })
        .collect();
    let cols: Vec<usize> = indices.iter().map(|v| index(*v).min(k)).collect();
    // A short, wide S (the sketching orientation) streams X once through a blocked gather.
    if crate::spmm_wide::applies(m, k)
        && let Some(acc) = crate::spmm_wide::spmm_wide(par, &ranges, &cols, &values, x, m)
    {
        store(&acc, alpha, beta, out);
        return;
    }
    let xs = flat(x);
    let mut acc = vec![T::from_f64(0.0); m * b];
    let work = |first: usize, chunk: &mut [T]| {
        for (o, a) in chunk.iter_mut().enumerate() {
            let e = first + o;
            let (r, j) = (e % m, e / m);
            let xc = &xs[j * k..(j + 1) * k];
            let mut s = T::from_f64(0.0);
            for p in ranges[r].0..ranges[r].1 {
                if let Some(xv) = xc.get(cols[p]) {
                    s += values[p] * *xv;
                }
            }
            *a = s;
        }
    };
    // Threads only pay off beyond a few tens of thousands of multiply-adds.
    let threads = if nnz * b < (1 << 15) {
        1
    } else {
        par.degree().max(1).min(m * b)
    };
    if threads <= 1 {
        work(0, &mut acc);
    } else {
        let per = (m * b).div_ceil(threads);
        std::thread::scope(|s| {
            for (i, chunk) in acc.chunks_mut(per).enumerate() {
                let work = &work;
                s.spawn(move || work(i * per, chunk));
            }
        });
    }
    store(&acc, alpha, beta, out);
}
