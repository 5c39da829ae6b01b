//! Per-column reductions (`shaders/reduce.wgsl`): Euclidean column norms (overflow-safe, by a
//! max pass and a scaled sum of squares) and column-wise dot products.
//!
//! Storage: contiguous column-major inputs, output a 1×cols (or cols×1) vector. Cost: one pass
//! (two for norms) over the input; one 256-invocation workgroup per column with a tree reduction
//! in workgroup memory (independent of the subgroup size, so results are reproducible).

use linops_core::Result;

use crate::kernels::{check_distinct, check_shape, check_vector, grid_2d, to_u32};
use crate::{GpuEncoder, GpuMat};

/// Workgroup size of the reductions (`WG` override; a power of two).
const WG: u32 = 256;

crate::uniform_struct! {
    /// Uniform block of `reduce.wgsl` (`ReduceParams`).
    struct ReduceParams in "reduce" {
        rows: u32,
        cols: u32,
        _pad0: u32,
        _pad1: u32,
    }
}

impl GpuEncoder {
    fn reduce(
        &mut self,
        entry: &'static str,
        x: &GpuMat,
        y: Option<&GpuMat>,
        out: &GpuMat,
    ) -> Result<()> {
        let params = ReduceParams {
            rows: to_u32("rows", x.rows())?,
            cols: to_u32("cols", x.cols())?,
            _pad0: 0,
            _pad1: 0,
        };
        let max = self.device.limits().max_compute_workgroups_per_dimension;
        let groups = self.check_workgroups(entry, grid_2d(x.cols() as u64, 1, max))?;
        let mut mats = vec![(0, x), (2, out)];
        if let Some(y) = y {
            mats.push((1, y));
        }
        self.record(
            entry,
            &[("WG", f64::from(WG))],
            &mats,
            bytemuck::bytes_of(&params),
            3,
            groups,
        )
    }

    /// Records out\[j\] = ‖x\[:, j\]‖₂ for every column j (overflow-safe).
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`](linops_core::Error::ShapeMismatch) if out is not a vector of
    /// x.cols() entries; [`Error::InvalidArgument`](linops_core::Error::InvalidArgument) if out
    /// is x or a matrix of another device; [`Error::Backend`](linops_core::Error::Backend) on
    /// device errors.
    ///
    /// # Examples
    /// ```
    /// # let Ok(dev) = linops_gpu::GpuDevice::new(&Default::default()) else { return };
    /// let x = dev.upload(2, 1, &[3.0, 4.0]).unwrap();
    /// let out = dev.alloc(1, 1).unwrap();
    /// let mut enc = dev.encoder();
    /// enc.col_norms(&x, &out).unwrap();
    /// enc.submit().unwrap();
    /// assert_eq!(dev.download(&out).unwrap(), vec![5.0]);
    /// ```
    pub fn col_norms(&mut self, x: &GpuMat, out: &GpuMat) -> Result<()> {
        check_vector("col_norms: out", out, x.cols())?;
        check_distinct("col_norms", out, &[x])?;
        self.reduce("col_norms", x, None, out)
    }

    /// Records out\[j\] = Σᵢ x\[i, j\]·y\[i, j\] for every column j.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`](linops_core::Error::ShapeMismatch) if x and y differ in shape or
    /// out is not a vector of x.cols() entries;
    /// [`Error::InvalidArgument`](linops_core::Error::InvalidArgument) if out is x or y, or a
    /// matrix of another device; [`Error::Backend`](linops_core::Error::Backend) on device errors.
    ///
    /// # Examples
    /// ```
    /// # let Ok(dev) = linops_gpu::GpuDevice::new(&Default::default()) else { return };
    /// let x = dev.upload(2, 1, &[1.0, 2.0]).unwrap();
    /// let y = dev.upload(2, 1, &[3.0, 4.0]).unwrap();
    /// let out = dev.alloc(1, 1).unwrap();
    /// let mut enc = dev.encoder();
    /// enc.col_dots(&x, &y, &out).unwrap();
    /// enc.submit().unwrap();
    /// assert_eq!(dev.download(&out).unwrap(), vec![11.0]);
    /// ```
    pub fn col_dots(&mut self, x: &GpuMat, y: &GpuMat, out: &GpuMat) -> Result<()> {
        check_shape("col_dots: y against x", y, x.rows(), x.cols())?;
        check_vector("col_dots: out", out, x.cols())?;
        check_distinct("col_dots", out, &[x, y])?;
        self.reduce("col_dots", x, Some(y), out)
    }
}

crate::backend::gpu_kernel!(linops_core::plan::kernel::ColNorms, |_, cx, args, out| {
    cx.enc.col_norms(args.mat(0)?, out)
});

crate::backend::gpu_kernel!(linops_core::plan::kernel::ColDots, |_, cx, args, out| {
    cx.enc.col_dots(args.mat(0)?, args.mat(1)?, out)
});
