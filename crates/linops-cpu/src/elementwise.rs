//! Elementwise kernels on the CPU, column by column: `axpby`, `diag_scale`, `transpose` (a
//! strided copy) and `copy_cols` (a column-block copy). Cost: one pass over the input.

use crate::t;
use linops_core::plan::kernel::{Axpby, CopyCols, DiagScale, Transpose};

crate::execute::cpu_kernel!(Axpby, |k, _, inputs, out| {
    let x = inputs.mat(0)?;
    let (alpha, beta) = (t::<T>(k.alpha), t::<T>(k.beta));
    let zero_beta = beta == t(0.0);
    for j in 0..out.ncols() {
        let xc = x.col(j);
        let oc = out.col_as_slice_mut(j);
        for (i, o) in oc.iter_mut().enumerate() {
            let v = alpha * xc[i];
            *o = if zero_beta { v } else { v + beta * *o };
        }
    }
    Ok(())
});

crate::execute::cpu_kernel!(DiagScale, |k, _, inputs, out| {
    let (d, x) = (inputs.mat(0)?.col(0), inputs.mat(1)?);
    let (alpha, beta) = (t::<T>(k.alpha), t::<T>(k.beta));
    let zero_beta = beta == t(0.0);
    for j in 0..out.ncols() {
        let xc = x.col(j);
        let oc = out.col_as_slice_mut(j);
        for (i, o) in oc.iter_mut().enumerate() {
            let v = alpha * (d[i] * xc[i]);
            *o = if zero_beta { v } else { v + beta * *o };
        }
    }
    Ok(())
});

crate::execute::cpu_kernel!(Transpose, |_, _, inputs, out| {
    out.copy_from(inputs.mat(0)?.transpose());
    Ok(())
});

crate::execute::cpu_kernel!(CopyCols, |k, _, inputs, out| {
    let x = inputs.mat(0)?;
    out.as_mut().subcols_mut(k.offset, x.ncols()).copy_from(x);
    Ok(())
});
