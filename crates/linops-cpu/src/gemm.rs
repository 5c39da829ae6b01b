//! `gemm` on the CPU: one faer `matmul` (`Accum::Replace` when `beta == 0`, so the output is
//! never read); with `alpha == 0` the product is not formed (BLAS semantics).

use crate::{CpuElem, t};
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat};
use linops_core::plan::kernel::Gemm;

crate::execute::cpu_kernel!(Gemm, |k, be, inputs, out| {
    if k.alpha == 0.0 {
        if k.beta == 0.0 {
            out.fill(t(0.0));
        } else {
            scale_in_place(out, t(k.beta));
        }
        return Ok(());
    }
    let a = if k.trans_a {
        inputs.mat(0)?.transpose()
    } else {
        inputs.mat(0)?
    };
    let b = if k.trans_b {
        inputs.mat(1)?.transpose()
    } else {
        inputs.mat(1)?
    };
    let accum = if k.beta == 0.0 {
        Accum::Replace
    } else {
        if k.beta != 1.0 {
            scale_in_place(out, t(k.beta));
        }
        Accum::Add
    };
    matmul(out.as_mut(), accum, a, b, t::<T>(k.alpha), be.par());
    Ok(())
});

/// `m ← s·m`.
fn scale_in_place<T: CpuElem>(m: &mut Mat<T>, s: T) {
    for j in 0..m.ncols() {
        for v in m.col_as_slice_mut(j) {
            *v *= s;
        }
    }
}
