//! CPU routines of the structured-operator kernels: row gather (permutations) and the batched
//! block GEMM (block-diagonal and Monarch factors).
//!
//! Block GEMM: `Y_t = alpha·op(W_t)·X_t + beta·Y_t` for each block `t`, where `X_t`/`Y_t` are row
//! views of `X`/`Y` placed by [`BlockLayout`]. Each view is a faer matrix view over the caller's
//! storage with row stride `1` (contiguous layout) or `b` (strided layout: the folded perfect
//! shuffle) and the column stride of the matrix: no copy, no permutation pass. Each block is one
//! faer `matmul` (which packs strided operands itself). Parallelism: the batch columns are split
//! recursively in halves over the backend's threads (`faer::utils::thread::join_raw`); every thread
//! runs all blocks on its own columns with a sequential matmul, so outputs never overlap and small
//! blocks (64×64) are not split further; within a thread the columns go in panels that fit the L2
//! cache, and every block visits a panel before the next one starts. Cost `2·b·m·k·B` FLOPs.

use crate::CpuElem;
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatMut, MatRef, Par};
use linops_core::BlockLayout;

/// Columns below which a column half is not split further between threads.
const MIN_COLS_PER_THREAD: usize = 16;

/// Bytes of `X` and `Y` columns one pass over all blocks may touch: a panel of this size stays in
/// a core's L2 cache while every block visits it (a strided block writes one element of each
/// cache line, so visiting the whole batch per block would move each line `b` times).
const PANEL_BYTES: usize = 256 * 1024;

/// `out[i, :] = alpha·X[idx[i], :] + beta·out[i, :]`; an index that is not an integer in
/// `0..rows(X)` selects a zero row (never an out-of-bounds read).
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

/// Arguments of one block GEMM that do not change across the column split.
#[derive(Clone, Copy)]
pub(crate) struct BlockGemm {
    pub blocks: usize,
    pub trans: bool,
    pub x_layout: BlockLayout,
    pub y_layout: BlockLayout,
}

/// `Y_t = alpha·op(W_t)·X_t + beta·Y_t` for every block; shapes were checked by the planner
/// (`Kernel::check_and_cost`), and are asserted again here before any raw view is built.
pub(crate) fn block_gemm<T: CpuElem>(
    g: BlockGemm,
    w: MatRef<'_, T>,
    x: MatRef<'_, T>,
    out: &mut Mat<T>,
    alpha: T,
    beta: T,
    par: Par,
) {
    let bc = w.ncols() / g.blocks;
    let (m, k) = if g.trans {
        (bc, w.nrows())
    } else {
        (w.nrows(), bc)
    };
    assert!(
        w.ncols() == g.blocks * bc
            && x.nrows() == g.blocks * k
            && out.nrows() == g.blocks * m
            && x.ncols() == out.ncols(),
        "block_gemm: shapes not checked by the planner"
    );
    let accum = if beta == T::from_f64(0.0) {
        Accum::Replace
    } else {
        if beta != T::from_f64(1.0) {
            for j in 0..out.ncols() {
                for v in out.col_as_slice_mut(j) {
                    *v *= beta;
                }
            }
        }
        Accum::Add
    };
    columns(g, (m, k, bc), w, x, out.as_mut(), alpha, accum, par);
}

#[allow(clippy::too_many_arguments)]
fn columns<T: CpuElem>(
    g: BlockGemm,
    (m, k, bc): (usize, usize, usize),
    w: MatRef<'_, T>,
    x: MatRef<'_, T>,
    out: MatMut<'_, T>,
    alpha: T,
    accum: Accum,
    par: Par,
) {
    let cols = out.ncols();
    if par.degree() > 1 && cols >= 2 * MIN_COLS_PER_THREAD {
        let half = cols / 2;
        let (left, right) = out.split_at_col_mut(half);
        let (xl, xr) = x.split_at_col(half);
        faer::utils::thread::join_raw(
            |p| columns(g, (m, k, bc), w, xl, left, alpha, accum, p),
            |p| columns(g, (m, k, bc), w, xr, right, alpha, accum, p),
            par,
        );
        return;
    }
    let per_col = (x.nrows() + out.nrows()) * std::mem::size_of::<T>();
    let panel = (PANEL_BYTES / per_col.max(1)).max(4);
    if cols > panel {
        let mut out = out;
        let mut c0 = 0;
        while c0 < cols {
            let w_cols = panel.min(cols - c0);
            let o = out.as_mut().subcols_mut(c0, w_cols);
            panel_blocks(g, (m, k, bc), w, x.subcols(c0, w_cols), o, alpha, accum);
            c0 += w_cols;
        }
    } else {
        panel_blocks(g, (m, k, bc), w, x, out, alpha, accum);
    }
}

/// All blocks over one panel of columns, sequentially.
fn panel_blocks<T: CpuElem>(
    g: BlockGemm,
    (m, k, bc): (usize, usize, usize),
    w: MatRef<'_, T>,
    x: MatRef<'_, T>,
    out: MatMut<'_, T>,
    alpha: T,
    accum: Accum,
) {
    let cols = out.ncols();
    let (xs, xrs) = g.x_layout.step_and_stride(g.blocks, k);
    let (ys, yrs) = g.y_layout.step_and_stride(g.blocks, m);
    for t in 0..g.blocks {
        let a = w.subcols(t * bc, bc);
        let a = if g.trans { a.transpose() } else { a };
        // SAFETY: the layouts are bijections onto the rows (module docs of BlockLayout): block t
        // touches rows t·step + i·row_stride ≤ (blocks−1)·step + (rows−1)·row_stride
        // = blocks·rows − 1 < nrows (asserted above), and columns 0..cols of the views are the
        // matrices' own columns. Distinct blocks write disjoint rows; the mutable view is the only
        // live access to `out` while it exists.
        let (xt, yt) = unsafe {
            let xt = MatRef::from_raw_parts(
                x.ptr_at(t * xs, 0),
                k,
                cols,
                x.row_stride() * xrs as isize,
                x.col_stride(),
            );
            let yt = MatMut::from_raw_parts_mut(
                out.ptr_at_mut(t * ys, 0),
                m,
                cols,
                out.row_stride() * yrs as isize,
                out.col_stride(),
            );
            (xt, yt)
        };
        matmul(yt, accum, a, xt, alpha, Par::Seq);
    }
}
