//! `spmm` on the CPU: `out = alpha·S·X + beta·out` with `S` (`m×k`) in CSR form.
//!
//! Storage: `S` is three parameters: the `u32` index arrays `indptr` (`m + 1` row pointers) and
//! `indices` (the column of each of the `nnz` entries, row by row), read as they are, and the
//! values; `X` (`k×b`) and `out` (`m×b`) are read in flat column-major order ([`crate::flat`]).
//! Row ranges are clamped to `0..nnz` and an entry whose column index is not below `k` is skipped
//! (never an out-of-bounds read). Two paths:
//! - a short, wide `S` (the sketching orientation, [`wide::applies`]) streams `X` once through a
//!   blocked gather ([`wide`]);
//! - otherwise, with at least 16 columns and a `k×16` panel of `X` that fits in cache
//!   ([`rows::applies`]), row by row over column panels with a 16-, 32- or 64-wide vectorized
//!   multiply-add, four rows at a time, written straight into `out` ([`rows`]);
//! - otherwise each output element `out[r, j] = Σ_p values[p]·X[indices[p], j]` over row `r`'s
//!   entries, in entry order; the `m·b` output elements are split in contiguous ranges (rows of
//!   consecutive columns) over the backend's `Par` ([`crate::par`]).
//!
//! The row ranges and the row-wise path's scan depend on the structure alone; the backend keeps
//! them with the plan's index arrays ([`Structure`], [`crate::CpuBackend::index_derived`]), so
//! a repeated apply of one operator makes them once.
//!
//! Cost: `2·nnz·b` FLOPs, `nnz·b` gathered reads of `X`, `m·b` writes.

mod rows;
#[cfg(test)]
mod tests;
mod wide;

use crate::CpuElem;
use crate::flat::{flat, store};
use crate::par::{Grain, for_each_part};
use faer::{Mat, MatRef, Par};
use std::borrow::Cow;
use std::sync::OnceLock;

/// Multiply-adds below which the row-wise path runs on one thread: splitting pays off only
/// beyond a few tens of thousands.
const MIN_PARALLEL_WORK: usize = 1 << 15;

/// Columns of `X` the panel paths (`rows`, `wide`) process together (the SIMD width of their
/// multiply-add).
const PANEL: usize = 16;

/// The `m×b` column-major output of a panel path: `part(j0, dst)` fills the columns from `j0` on
/// into `dst`, the parts split over `par` in whole panels of `width` columns when the `nnz·b`
/// multiply-adds pay for threads.
fn panel_parts<T: CpuElem>(
    par: Par,
    nnz: usize,
    m: usize,
    b: usize,
    width: usize,
    part: &(impl Fn(usize, &mut [T]) + Sync),
) -> Vec<T> {
    let par = if nnz * b >= MIN_PARALLEL_WORK {
        par
    } else {
        Par::Seq
    };
    let mut out = vec![T::from_f64(0.0); m * b];
    let grain = Grain {
        min: 1,
        align: width * m,
    };
    for_each_part(par, out.as_mut_slice(), grain, &|first, dst: &mut [T]| {
        part(first / m, dst)
    });
    out
}

/// The entry ranges of the `m` rows of a CSR with row pointers `indptr`, clamped to `[0, nnz]`
/// (one pass over `m + 1` pointers): a pointer past the entries ends there, and a row whose
/// pointers run backwards is empty.
fn row_ranges(indptr: &[u32], m: usize, nnz: usize) -> Vec<(usize, usize)> {
    indptr[..=m]
        .windows(2)
        .map(|w| {
            let end = (w[1] as usize).min(nnz);
            ((w[0] as usize).min(end), end)
        })
        .collect()
}

/// What the SpMM derives from the structure of `S` alone (`indptr`, `indices`, the row count
/// `m`, the entry count `nnz` and the column count `k`): the clamped row ranges and, made when
/// the row-wise path first needs it, its scan ([`rows::scan`]). Kept with a plan's CSR by the
/// backend ([`crate::CpuBackend::index_derived`]), so a repeated apply of one operator does not
/// redo them (the scan of a CSR whose rows share their column lists by fours compares every list,
/// 13% of a batch-64 apply of the suite's Pixelated butterfly, 1M entries; 2026-12-03).
pub(crate) struct Structure {
    ranges: Vec<(usize, usize)>,
    scan: OnceLock<Vec<rows::GroupScan>>,
}

impl Structure {
    /// The row ranges of the `m` rows of a CSR with row pointers `indptr` and `nnz` entries
    /// ([`row_ranges`]); the scan is made later.
    pub(crate) fn new(indptr: &[u32], m: usize, nnz: usize) -> Structure {
        Structure {
            ranges: row_ranges(indptr, m, nnz),
            scan: OnceLock::new(),
        }
    }

    /// The scan of the rows' columns `cols` against `k` columns, made on first use.
    fn scan(&self, par: Par, cols: &[u32], k: usize) -> &[rows::GroupScan] {
        self.scan
            .get_or_init(|| rows::scan(par, &self.ranges, cols, k))
    }
}

/// `out = alpha·S·X + beta·out` with `S` in CSR form: `[indptr, indices]` and `values`. Entries
/// with a column index not below `X.nrows()` are skipped. `kept` is the [`Structure`] of this
/// `S` (same `indptr`, `indices`, `m = rows(out)`, `nnz = min(len(values), len(indices))` and
/// `k = rows(X)`) when the backend keeps one; without it, it is made for this call.
#[allow(clippy::too_many_arguments)]
pub(crate) fn spmm<T: CpuElem>(
    par: Par,
    alpha: T,
    beta: T,
    [indptr, indices]: [&[u32]; 2],
    values: MatRef<'_, T>,
    x: MatRef<'_, T>,
    out: &mut Mat<T>,
    kept: Option<&Structure>,
) {
    // The values as they are when they are one contiguous column (the plan's parameters are),
    // else a flat copy.
    let values: Cow<'_, [T]> = match values.col(0).try_as_col_major() {
        Some(c) if values.ncols() == 1 => c.as_slice().into(),
        _ => flat(values).into(),
    };
    let (m, b, k) = (out.nrows(), out.ncols(), x.nrows());
    let nnz = values.len().min(indices.len());
    let made;
    let structure = match kept {
        Some(s) => s,
        None => {
            made = Structure::new(indptr, m, nnz);
            &made
        }
    };
    let ranges = &structure.ranges;
    let cols = &indices[..nnz];
    // A short, wide S (the sketching orientation) streams X once through a blocked gather.
    if wide::applies(m, k)
        && let Some(acc) = wide::spmm_wide(par, ranges, cols, &values, x, m)
    {
        store(&acc, alpha, beta, out, par);
        return;
    }
    // Otherwise, when a transposed panel of X fits in cache: row by row over column panels.
    if rows::applies::<T>(k, b) {
        let scan = structure.scan(par, cols, k);
        let scale = (alpha, beta);
        if rows::spmm_rows(par, ranges, cols, &values, x, scale, out, Some(scan)).is_some() {
            return;
        }
    }
    let xs = flat(x);
    let mut acc = vec![T::from_f64(0.0); m * b];
    let par = if nnz * b < MIN_PARALLEL_WORK {
        Par::Seq
    } else {
        par
    };
    for_each_part(
        par,
        acc.as_mut_slice(),
        Grain::min(1),
        &|first, chunk: &mut [T]| {
            for (o, a) in chunk.iter_mut().enumerate() {
                let e = first + o;
                let (r, j) = (e % m, e / m);
                let xc = &xs[j * k..(j + 1) * k];
                let mut s = T::from_f64(0.0);
                for p in ranges[r].0..ranges[r].1 {
                    if let Some(xv) = xc.get(cols[p] as usize) {
                        s += values[p] * *xv;
                    }
                }
                *a = s;
            }
        },
    );
    store(&acc, alpha, beta, out, par);
}

crate::execute::cpu_kernel!(linops_core::plan::kernel::Spmm, |k, be, inputs, out| {
    let (alpha, beta) = (crate::t(k.alpha), crate::t(k.beta));
    let structure = [inputs.index(0)?, inputs.index(1)?];
    let (values, x) = (inputs.mat(2)?, inputs.mat(3)?);
    let (m, nnz) = (
        out.nrows(),
        (values.nrows() * values.ncols()).min(structure[1].len()),
    );
    let kept = match (inputs.index_param(0), inputs.index_param(1)) {
        (Some(indptr), Some(indices)) => {
            let what = [m as u64, nnz as u64, x.nrows() as u64];
            Some(be.index_derived(indptr, indices, what, || {
                Structure::new(structure[0], m, nnz)
            }))
        }
        _ => None,
    };
    spmm(
        be.par(),
        alpha,
        beta,
        structure,
        values,
        x,
        out,
        kept.as_deref(),
    );
    Ok(())
});
