//! Elementwise kernels on the CPU, column by column: `axpby`, `diag_scale`, `transpose` (a
//! strided copy) and `copy_cols` (a column-block copy). Cost: one pass over the input.

use crate::{CpuElem, t};
use faer::{Mat, MatRef};
use linops_core::plan::kernel::{Axpby, CopyCols, DiagScale, Transpose};

crate::execute::cpu_kernel!(Axpby, |k, _, inputs, out| {
    alpha_beta_columns(out, inputs.mat(0)?, k.alpha, k.beta, |_, x| x);
    Ok(())
});

crate::execute::cpu_kernel!(DiagScale, |k, _, inputs, out| {
    let (d, x) = (inputs.mat(0)?.col(0), inputs.mat(1)?);
    alpha_beta_columns(out, x, k.alpha, k.beta, |i, x| d[i] * x);
    Ok(())
});

/// `out[i, j] = alpha·f(i, x[i, j]) + beta·out[i, j]`, column by column; `out` is not read when
/// `beta == 0` (so a NaN there does not propagate).
fn alpha_beta_columns<T: CpuElem>(
    out: &mut Mat<T>,
    x: MatRef<'_, T>,
    alpha: f64,
    beta: f64,
    f: impl Fn(usize, T) -> T,
) {
    let (alpha, beta) = (t::<T>(alpha), t::<T>(beta));
    let zero_beta = beta == t(0.0);
    for j in 0..out.ncols() {
        let xc = x.col(j);
        for (i, o) in out.col_as_slice_mut(j).iter_mut().enumerate() {
            let v = alpha * f(i, xc[i]);
            *o = if zero_beta { v } else { v + beta * *o };
        }
    }
}

crate::execute::cpu_kernel!(Transpose, |_, _, inputs, out| {
    out.copy_from(inputs.mat(0)?.transpose());
    Ok(())
});

crate::execute::cpu_kernel!(CopyCols, |k, _, inputs, out| {
    let x = inputs.mat(0)?;
    out.as_mut().subcols_mut(k.offset, x.ncols()).copy_from(x);
    Ok(())
});
