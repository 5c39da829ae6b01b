//! Per-column reductions on the CPU: Euclidean norms (overflow- and underflow-safe) and dot
//! products, one `1×cols` output row. Cost: one pass over the input (two for `f64` norms).

use crate::CpuElem;
use faer::{Mat, MatRef};
use linops_core::DType;

/// The Euclidean norm of a column, overflow- and underflow-safe in both precisions.
///
/// `f32`: the squares of `f32` values are exact in `f64` and their sum can neither overflow
/// (`n·f32::MAX² < f64::MAX`) nor underflow (the smallest `f32` subnormal squared is a normal
/// `f64`), so the sum is taken in `f64` and rounded once. `f64`: two passes, the largest magnitude
/// `s` first, then `s·√(Σ(x/s)²)` (each `x/s` is at most 1 in magnitude, so nothing overflows,
/// and dividing by a subnormal `s` stays finite).
fn col_norm<T: CpuElem>(col: &[T]) -> T {
    match T::DTYPE {
        DType::F32 => {
            let sum: f64 = col.iter().map(|v| v.to_f64() * v.to_f64()).sum();
            T::from_f64(sum.sqrt())
        }
        DType::F64 => {
            let scale = col.iter().fold(0.0f64, |m, v| m.max(v.to_f64().abs()));
            if scale == 0.0 || !scale.is_finite() {
                return T::from_f64(scale);
            }
            let sum: f64 = col
                .iter()
                .map(|v| {
                    let q = v.to_f64() / scale;
                    q * q
                })
                .sum();
            T::from_f64(scale * sum.sqrt())
        }
    }
}

/// `out[0, j] = ‖X[:, j]‖₂`.
pub(crate) fn col_norms<T: CpuElem>(x: MatRef<'_, T>, out: &mut Mat<T>) {
    for j in 0..x.ncols() {
        let col: Vec<T> = x.col(j).iter().copied().collect();
        out[(0, j)] = col_norm(&col);
    }
}

/// `out[0, j] = Σ_i X[i, j]·Y[i, j]`, summed in row order.
pub(crate) fn col_dots<T: CpuElem>(x: MatRef<'_, T>, y: MatRef<'_, T>, out: &mut Mat<T>) {
    for j in 0..x.ncols() {
        let mut acc = T::from_f64(0.0);
        for (a, b) in x.col(j).iter().zip(y.col(j).iter()) {
            acc += *a * *b;
        }
        out[(0, j)] = acc;
    }
}

crate::execute::cpu_kernel!(linops_core::plan::kernel::ColNorms, |_, _, inputs, out| {
    col_norms(inputs.mat(0)?, out);
    Ok(())
});

crate::execute::cpu_kernel!(linops_core::plan::kernel::ColDots, |_, _, inputs, out| {
    col_dots(inputs.mat(0)?, inputs.mat(1)?, out);
    Ok(())
});
