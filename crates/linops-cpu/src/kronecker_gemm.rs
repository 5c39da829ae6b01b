//! `kronecker_gemm` on the CPU: one Kronecker factor applied to its mode of every column, as faer
//! matmuls on views of the columns (no transpose of the data).
//!
//! Mathematics (see `linops_core::plan::kernel::KroneckerGemm`): each column of `X` is a tensor
//! `X[u, i, t]` (`s × d × w`, `u` fastest) and `Y[u, k, t] = alpha·Σ_i op(A)[k, i]·X[u, i, t] +
//! beta·Y[u, k, t]`. Storage and algorithm:
//! - `s = 1` (the fastest mode): a column is the `d × w` matrix `X_t` and `Y = op(A)·X`; when the
//!   columns are contiguous (column stride = rows) a part of `c` columns is one `d × (w·c)` matrix
//!   and the whole part is ONE matmul `op(A)·[X_1 … X_c]` (faer at its GEMM rate); otherwise one
//!   matmul per column;
//! - `s > 1`: for every column and `t`, the `s × d` block is multiplied by `op(A)ᵀ` on the right
//!   (`Y_t = X_t·op(A)ᵀ`), one matmul per block.
//!
//! Parallelism: the columns are split over the backend's `Par` by [`crate::par::for_each_part`];
//! each part runs sequential matmuls on its own columns, so outputs never overlap and the result
//! does not depend on the thread count. Cost: `2·m·d·s·w` FLOPs per column.

use crate::CpuElem;
use crate::par::{Grain, for_each_part};
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatMut, MatRef, Par};
use linops_core::plan::kernel::KroneckerGemm;

/// Fewest columns of a part when the columns are split between workers.
const MIN_COLS_PER_THREAD: usize = 4;

/// `out = alpha·(I_w ⊗ op(A) ⊗ I_s)·x + beta·out`; shapes were checked by the planner
/// (`Kernel::cost`) and are asserted again here.
pub(crate) fn kronecker_gemm<T: CpuElem>(
    k: KroneckerGemm,
    a: MatRef<'_, T>,
    x: MatRef<'_, T>,
    out: &mut Mat<T>,
    (alpha, beta): (T, T),
    par: Par,
) {
    let dims = k.dims(
        (a.nrows(), a.ncols()),
        (x.nrows(), x.ncols()),
        (out.nrows(), out.ncols()),
    );
    let (s, m, d, w) = dims.expect("kronecker_gemm: shapes not checked by the planner");
    let op_a = if k.trans { a.transpose() } else { a };
    for_each_part(
        par,
        out.as_mut(),
        Grain::min(MIN_COLS_PER_THREAD),
        &|c0, mut part: MatMut<'_, T>| {
            let xp = x.subcols(c0, part.ncols());
            if beta != T::from_f64(0.0) && beta != T::from_f64(1.0) {
                for j in 0..part.ncols() {
                    for v in part.as_mut().col_mut(j).iter_mut() {
                        *v *= beta;
                    }
                }
            }
            let accum = if beta == T::from_f64(0.0) {
                Accum::Replace
            } else {
                Accum::Add
            };
            if s == 1 {
                fastest_mode(op_a, xp, part, (d, m, w), accum, alpha);
            } else {
                for j in 0..part.ncols() {
                    let xs = column(xp, j);
                    let ys = column_mut(part.as_mut(), j);
                    for t in 0..w {
                        let xt =
                            MatRef::from_column_major_slice(&xs[t * s * d..(t + 1) * s * d], s, d);
                        let yt = MatMut::from_column_major_slice_mut(
                            &mut ys[t * s * m..(t + 1) * s * m],
                            s,
                            m,
                        );
                        matmul(yt, accum, xt, op_a.transpose(), alpha, Par::Seq);
                    }
                }
            }
        },
    );
}

/// `Y = op(A)·X` on `d × w` views of the columns (`s = 1`): one matmul over all the part's
/// columns when they are contiguous, one per column otherwise.
fn fastest_mode<T: CpuElem>(
    op_a: MatRef<'_, T>,
    x: MatRef<'_, T>,
    mut out: MatMut<'_, T>,
    (d, m, w): (usize, usize, usize),
    accum: Accum,
    alpha: T,
) {
    let cols = out.ncols();
    let contiguous = |rs: isize, cs: isize, rows: usize| rs == 1 && cs == rows as isize;
    if cols > 1
        && contiguous(x.row_stride(), x.col_stride(), x.nrows())
        && contiguous(out.row_stride(), out.col_stride(), out.nrows())
    {
        // SAFETY: row stride 1 and column stride = rows: the part's `rows·cols` elements are
        // consecutive in memory from its first element (each view lies inside its matrix's
        // storage, and `out` is borrowed mutably for the view's whole life).
        let xs = unsafe { std::slice::from_raw_parts(x.as_ptr(), x.nrows() * cols) };
        let ys = unsafe { std::slice::from_raw_parts_mut(out.as_ptr_mut(), out.nrows() * cols) };
        let xv = MatRef::from_column_major_slice(xs, d, w * cols);
        let yv = MatMut::from_column_major_slice_mut(ys, m, w * cols);
        matmul(yv, accum, op_a, xv, alpha, Par::Seq);
        return;
    }
    for j in 0..cols {
        let xv = MatRef::from_column_major_slice(column(x, j), d, w);
        let yv = MatMut::from_column_major_slice_mut(column_mut(out.as_mut(), j), m, w);
        matmul(yv, accum, op_a, xv, alpha, Par::Seq);
    }
}

fn column<T: CpuElem>(m: MatRef<'_, T>, j: usize) -> &[T] {
    m.col(j)
        .try_as_col_major()
        .expect("plan matrices have contiguous columns")
        .as_slice()
}

fn column_mut<T: CpuElem>(m: MatMut<'_, T>, j: usize) -> &mut [T] {
    m.col_mut(j)
        .try_as_col_major_mut()
        .expect("plan matrices have contiguous columns")
        .as_slice_mut()
}

crate::execute::cpu_kernel!(KroneckerGemm, |k, be, inputs, out| {
    let scalars = (crate::t(k.alpha), crate::t(k.beta));
    kronecker_gemm(*k, inputs.mat(0)?, inputs.mat(1)?, out, scalars, be.par());
    Ok(())
});
