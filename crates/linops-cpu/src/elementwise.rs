//! Elementwise kernels on the CPU, column by column: `axpby`, `diag_scale` (their columns split
//! over the backend's `Par`), `transpose` (a strided copy) and `copy_cols` (a column-block copy).
//! Cost: one pass over the input.

use crate::par::for_each_col_of;
use crate::{CpuElem, t};
use faer::{MatMut, MatRef, Par};
use linops_core::plan::kernel::{Axpby, CopyCols, DiagScale, Transpose};

crate::execute::cpu_kernel!(Axpby, |k, be, inputs, out| {
    alpha_beta_columns(
        out.as_mut(),
        inputs.mat(0)?,
        None,
        k.alpha,
        k.beta,
        be.par(),
    );
    Ok(())
});

crate::execute::cpu_kernel!(DiagScale, |k, be, inputs, out| {
    let (d, x) = (inputs.mat(0)?, inputs.mat(1)?);
    alpha_beta_columns(out.as_mut(), x, Some(d), k.alpha, k.beta, be.par());
    Ok(())
});

/// `out[i, j] = alpha·(d[i]·x[i, j]) + beta·out[i, j]` (`d[i]·` omitted when `d` is `None`),
/// the columns split over `par` ([`for_each_col`]; the same operations in every part, so the
/// bits do not depend on the thread count); `out` is not read when `beta == 0` (so a NaN there
/// does not propagate). Contiguous columns run as slice loops (they vectorize). `out` has
/// contiguous columns (a plan output or a block of its columns).
pub(crate) fn alpha_beta_columns<T: CpuElem>(
    out: MatMut<'_, T>,
    x: MatRef<'_, T>,
    d: Option<MatRef<'_, T>>,
    alpha: f64,
    beta: f64,
    par: Par,
) {
    let (alpha, beta) = (t::<T>(alpha), t::<T>(beta));
    let zero_beta = beta == t(0.0);
    let d = d.map(|d| d.col(0));
    let ds = d.and_then(|d| d.try_as_col_major().map(|c| c.as_slice()));
    let body = |o: &mut T, d: Option<T>, x: T| {
        let v = alpha * d.map_or(x, |d| d * x);
        *o = if zero_beta { v } else { v + beta * *o };
    };
    for_each_col_of(
        out,
        par,
        || (),
        |(), j, oc| {
            let xc = x.col(j);
            match (xc.try_as_col_major().map(|c| c.as_slice()), d, ds) {
                (Some(xs), None, _) => {
                    for (o, &x) in oc.iter_mut().zip(xs) {
                        body(o, None, x);
                    }
                }
                (Some(xs), Some(_), Some(ds)) => {
                    for ((o, &x), &d) in oc.iter_mut().zip(xs).zip(ds) {
                        body(o, Some(d), x);
                    }
                }
                _ => {
                    for (i, o) in oc.iter_mut().enumerate() {
                        body(o, d.map(|d| d[i]), xc[i]);
                    }
                }
            }
        },
    );
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
