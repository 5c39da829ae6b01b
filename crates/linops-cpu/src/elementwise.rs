//! Elementwise kernels on the CPU, column by column: `axpby`, `diag_scale`, `transpose` (a
//! strided copy) and `copy_cols` (a column-block copy). Cost: one pass over the input.

use crate::execute::CpuKernel;
use crate::{CpuBackend, CpuElem, t};
use faer::Mat;
use linops_core::plan::kernel::{Axpby, CopyCols, DiagScale, Transpose};

impl CpuKernel for Axpby {
    fn run<T: CpuElem>(
        &self,
        _: &CpuBackend<T>,
        inputs: &crate::execute::Args<'_, T>,
        out: &mut Mat<T>,
    ) -> linops_core::Result<()> {
        let x = inputs.mat(0)?;
        let (alpha, beta) = (t::<T>(self.alpha), t::<T>(self.beta));
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
    }
}

impl CpuKernel for DiagScale {
    fn run<T: CpuElem>(
        &self,
        _: &CpuBackend<T>,
        inputs: &crate::execute::Args<'_, T>,
        out: &mut Mat<T>,
    ) -> linops_core::Result<()> {
        let (d, x) = (inputs.mat(0)?.col(0), inputs.mat(1)?);
        let (alpha, beta) = (t::<T>(self.alpha), t::<T>(self.beta));
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
    }
}

impl CpuKernel for Transpose {
    fn run<T: CpuElem>(
        &self,
        _: &CpuBackend<T>,
        inputs: &crate::execute::Args<'_, T>,
        out: &mut Mat<T>,
    ) -> linops_core::Result<()> {
        out.copy_from(inputs.mat(0)?.transpose());
        Ok(())
    }
}

impl CpuKernel for CopyCols {
    fn run<T: CpuElem>(
        &self,
        _: &CpuBackend<T>,
        inputs: &crate::execute::Args<'_, T>,
        out: &mut Mat<T>,
    ) -> linops_core::Result<()> {
        let x = inputs.mat(0)?;
        out.as_mut()
            .subcols_mut(self.offset, x.ncols())
            .copy_from(x);
        Ok(())
    }
}
