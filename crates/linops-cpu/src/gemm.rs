//! `gemm` on the CPU: one faer `matmul` (`Accum::Replace` when `beta == 0`, so the output is
//! never read); with `alpha == 0` the product is not formed (BLAS semantics).

use crate::execute::CpuKernel;
use crate::{CpuBackend, CpuElem, t};
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat};
use linops_core::plan::kernel::Gemm;

impl CpuKernel for Gemm {
    fn run<T: CpuElem>(
        &self,
        be: &CpuBackend<T>,
        inputs: &crate::execute::Args<'_, T>,
        out: &mut Mat<T>,
    ) -> linops_core::Result<()> {
        if self.alpha == 0.0 {
            if self.beta == 0.0 {
                out.fill(t(0.0));
            } else {
                scale_in_place(out, t(self.beta));
            }
            return Ok(());
        }
        let a = if self.trans_a {
            inputs.mat(0)?.transpose()
        } else {
            inputs.mat(0)?
        };
        let b = if self.trans_b {
            inputs.mat(1)?.transpose()
        } else {
            inputs.mat(1)?
        };
        let accum = if self.beta == 0.0 {
            Accum::Replace
        } else {
            if self.beta != 1.0 {
                scale_in_place(out, t(self.beta));
            }
            Accum::Add
        };
        matmul(out.as_mut(), accum, a, b, t::<T>(self.alpha), be.par());
        Ok(())
    }
}

/// `m ← s·m`.
fn scale_in_place<T: CpuElem>(m: &mut Mat<T>, s: T) {
    for j in 0..m.ncols() {
        for v in m.col_as_slice_mut(j) {
            *v *= s;
        }
    }
}
