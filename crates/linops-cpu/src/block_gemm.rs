//! `block_gemm` on the CPU: the batched block GEMM of the block-diagonal, Monarch and butterfly
//! factors.
//!
//! Mathematics: `Y_t = alpha·op(W_t)·X_t + beta·Y_t` for each block `t`, where `X_t`/`Y_t` are row
//! views of `X`/`Y` placed by [`BlockLayout`] and `W = [W_0 … W_{b−1}]` holds the blocks side by
//! side. Storage: each view is a faer matrix view over the caller's storage with row stride `1`
//! (contiguous layout) or `b` (strided layout: the folded perfect shuffle) and the column stride
//! of the matrix: no copy, no permutation pass. Each block is one faer `matmul` (which packs
//! strided operands itself). Parallelism: the batch columns are split
//! over the backend's `Par` by [`crate::par::for_each_part`] (at least [`MIN_COLS_PER_THREAD`]
//! per part); every part runs all blocks on its own columns with a sequential matmul, so outputs
//! never overlap and small blocks (64×64) are not split further; within a part the columns go in
//! panels that fit the L2 cache, and every block visits a panel before the next one starts.
//! Cost: `2·b·m·k·B` FLOPs for `B` columns; `b·m·k` weights read once per panel.

use crate::CpuElem;
use crate::par::{Grain, for_each_part};
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatMut, MatRef, Par};
use linops_core::BlockLayout;
use linops_core::plan::kernel::BlockGemm;

/// Fewest columns of a part when the columns are split between workers.
const MIN_COLS_PER_THREAD: usize = 16;

/// Columns of one panel: every block visits a panel before the next panel starts. Wide enough
/// that each block's matmul (`m×k·k×64`) amortizes faer's per-call overhead, narrow enough that
/// a gathered panel (`n×64`) stays in a core's L2 cache.
const PANEL_COLS: usize = 64;

/// `Y_t = alpha·op(W_t)·X_t + beta·Y_t` for every block; shapes were checked by the planner
/// (`Kernel::cost`), and are asserted again here before any raw view is built.
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
    for_each_part(
        par,
        out.as_mut(),
        Grain::min(MIN_COLS_PER_THREAD),
        &|c0, part: MatMut<'_, T>| {
            let xp = x.subcols(c0, part.ncols());
            columns(g, (m, k, bc), w, xp, part, alpha, beta);
        },
    );
}

/// One part of the columns, on one worker.
#[allow(clippy::too_many_arguments)]
fn columns<T: CpuElem>(
    g: BlockGemm,
    (m, k, bc): (usize, usize, usize),
    w: MatRef<'_, T>,
    x: MatRef<'_, T>,
    out: MatMut<'_, T>,
    alpha: T,
    beta: T,
) {
    let cols = out.ncols();
    // Scratch for one panel: X rows gathered into block order, and the blocks' products.
    let panel = PANEL_COLS.min(cols);
    let mut xs = if g.x_layout == BlockLayout::Strided {
        Mat::<T>::zeros(x.nrows(), panel)
    } else {
        Mat::<T>::zeros(0, 0)
    };
    let mut ys = if g.y_layout == BlockLayout::Strided {
        Mat::<T>::zeros(out.nrows(), panel)
    } else {
        Mat::<T>::zeros(0, 0)
    };
    let (xw, yw) = (xs.ncols(), ys.ncols());
    let mut out = out;
    let mut c0 = 0;
    while c0 < cols {
        let w_cols = panel.min(cols - c0);
        let o = out.as_mut().subcols_mut(c0, w_cols);
        let xp = x.subcols(c0, w_cols);
        panel_blocks(
            g,
            (m, k, bc),
            w,
            xp,
            o,
            (alpha, beta),
            (
                xs.as_mut().subcols_mut(0, xw.min(w_cols)),
                ys.as_mut().subcols_mut(0, yw.min(w_cols)),
            ),
        );
        c0 += w_cols;
    }
}

/// All blocks over one panel of columns, sequentially. A strided side is first gathered into (or
/// afterwards scattered from) a contiguous block-ordered scratch, so every block is a matmul of
/// contiguous `m×k·k×panel` operands: the shuffle costs one in-cache copy of the panel.
fn panel_blocks<T: CpuElem>(
    g: BlockGemm,
    (m, k, bc): (usize, usize, usize),
    w: MatRef<'_, T>,
    x: MatRef<'_, T>,
    out: MatMut<'_, T>,
    (alpha, beta): (T, T),
    (xs, ys): (MatMut<'_, T>, MatMut<'_, T>),
) {
    let b = g.blocks;
    let cols = out.ncols();
    let zero = T::from_f64(0.0);
    let one = T::from_f64(1.0);
    // X side: the block-ordered rows (row t·k + i holds X row t + i·b when strided).
    let mut xs = xs;
    let xb: MatRef<'_, T> = if g.x_layout == BlockLayout::Strided {
        for j in 0..cols {
            let src = x
                .col(j)
                .try_as_col_major()
                .expect("X is contiguous")
                .as_slice();
            let dst = xs
                .as_mut()
                .col_mut(j)
                .try_as_col_major_mut()
                .expect("scratch is contiguous")
                .as_slice_mut();
            // A b×k → k×b transpose in L1: read X's rows in order, write each block's run.
            for i in 0..k {
                let row = &src[i * b..(i + 1) * b];
                for (d, &v) in dst.chunks_exact_mut(k).zip(row) {
                    d[i] = v;
                }
            }
        }
        xs.as_ref()
    } else {
        x
    };
    let mut out = out;
    if g.y_layout == BlockLayout::Strided {
        let mut ys = ys;
        for t in 0..b {
            let a = w.subcols(t * bc, bc);
            let a = if g.trans { a.transpose() } else { a };
            let yt = ys.as_mut().subrows_mut(t * m, m);
            matmul(yt, Accum::Replace, a, xb.subrows(t * k, k), alpha, Par::Seq);
        }
        // Scatter: out row t + i·b takes block t's row i.
        for j in 0..cols {
            let src = ys
                .as_ref()
                .col(j)
                .try_as_col_major()
                .expect("scratch is contiguous")
                .as_slice();
            let dst = out
                .as_mut()
                .col_mut(j)
                .try_as_col_major_mut()
                .expect("output is contiguous")
                .as_slice_mut();
            for i in 0..m {
                let row = &mut dst[i * b..(i + 1) * b];
                if beta == zero {
                    for (o, blk) in row.iter_mut().zip(src.chunks_exact(m)) {
                        *o = blk[i];
                    }
                } else {
                    for (o, blk) in row.iter_mut().zip(src.chunks_exact(m)) {
                        *o = blk[i] + beta * *o;
                    }
                }
            }
        }
    } else {
        let accum = if beta == zero {
            Accum::Replace
        } else {
            if beta != one {
                for j in 0..cols {
                    for v in out.as_mut().col_mut(j).iter_mut() {
                        *v *= beta;
                    }
                }
            }
            Accum::Add
        };
        for t in 0..b {
            let a = w.subcols(t * bc, bc);
            let a = if g.trans { a.transpose() } else { a };
            let yt = out.as_mut().subrows_mut(t * m, m);
            matmul(yt, accum, a, xb.subrows(t * k, k), alpha, Par::Seq);
        }
    }
}

crate::execute::cpu_kernel!(BlockGemm, |k, be, inputs, out| {
    let (alpha, beta) = (crate::t(k.alpha), crate::t(k.beta));
    block_gemm(
        *k,
        inputs.mat(0)?,
        inputs.mat(1)?,
        out,
        alpha,
        beta,
        be.par(),
    );
    Ok(())
});
