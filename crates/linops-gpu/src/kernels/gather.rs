//! Row gather (`shaders/gather.wgsl`): `y[i, :] = alpha·x[idx[i], :] + beta·y[i, :]`, the kernel of
//! a standalone permutation.
//!
//! Storage: column-major f32 `x` and `y`; `idx` is a [`GpuIndices`] vector bound as `array<u32>`
//! (the plan's index parameter, uploaded as it is), so every row of `x` is addressable: the sizes
//! are limited only by the u32 element indices of the shaders and the binding size. An index not
//! below `rows(x)` selects a zero row inside the shader, so no content of `idx` can cause an
//! out-of-bounds read. Cost: one pass, `2·len(y)` elements plus `4·rows(y)` bytes of indices.

use linops_core::{Error, Result};

use crate::kernels::{check_distinct, grid_2d, to_u32};
use crate::{GpuEncoder, GpuIndices, GpuMat};

/// Workgroup size (`WG` override).
const WG: u32 = 256;

crate::uniform_struct! {
    /// Uniform block of `gather.wgsl` (`GatherParams`).
    struct GatherParams in "gather" {
        len: u32,
        rows_out: u32,
        rows_in: u32,
        flags: u32,
        alpha: f32,
        beta: f32,
        _pad0: u32,
        _pad1: u32,
    }
}

impl GpuEncoder {
    /// Records `y[i, :] = alpha·x[idx[i], :] + beta·y[i, :]` (y is not read when beta == 0).
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if `idx` has not `rows(y)` entries or `x` and `y` differ in
    /// columns; [`Error::InvalidArgument`] if `y` is `x` or a size does not fit the shader's u32;
    /// [`Error::Backend`] on device errors.
    ///
    /// # Examples
    /// ```
    /// # let Ok(dev) = linops_gpu::GpuDevice::new(&Default::default()) else { return };
    /// let x = dev.upload(3, 1, &[10.0, 20.0, 30.0]).unwrap();
    /// let idx = dev.upload_indices(&[2, 0, 1]).unwrap();
    /// let y = dev.alloc(3, 1).unwrap();
    /// let mut enc = dev.encoder();
    /// enc.gather(1.0, &idx, &x, 0.0, &y).unwrap();
    /// enc.submit().unwrap();
    /// assert_eq!(dev.download(&y).unwrap(), vec![30.0, 10.0, 20.0]);
    /// ```
    pub fn gather(
        &mut self,
        alpha: f32,
        idx: &GpuIndices,
        x: &GpuMat,
        beta: f32,
        y: &GpuMat,
    ) -> Result<()> {
        if idx.len() != y.rows() {
            return Err(Error::ShapeMismatch {
                context: "gather: idx against y".into(),
                expected: format!("{} indices (rows of y)", y.rows()),
                found: format!("{} indices", idx.len()),
            });
        }
        if x.cols() != y.cols() {
            return Err(Error::ShapeMismatch {
                context: "gather: y against x".into(),
                expected: format!("{} columns", x.cols()),
                found: format!("{} columns", y.cols()),
            });
        }
        check_distinct("gather", y, &[x, idx.storage()])?;
        to_u32("x elements", x.len())?;
        let params = GatherParams {
            len: to_u32("elements", y.len())?,
            rows_out: to_u32("rows", y.rows())?,
            rows_in: to_u32("rows of x", x.rows())?,
            flags: u32::from(beta == 0.0),
            alpha,
            beta,
            _pad0: 0,
            _pad1: 0,
        };
        let max = self.device.limits().max_compute_workgroups_per_dimension;
        let groups =
            self.check_workgroups("gather", grid_2d(y.len() as u64, u64::from(WG), max))?;
        self.record(
            "gather",
            &[("WG", f64::from(WG))],
            &[(0, x), (1, idx.storage()), (2, y)],
            bytemuck::bytes_of(&params),
            3,
            groups,
        )
    }
}

crate::backend::gpu_kernel!(
    linops_core::plan::kernel::Gather,
    |kernel, cx, args, out| {
        cx.enc.gather(
            kernel.alpha as f32,
            args.index(0)?,
            args.mat(1)?,
            kernel.beta as f32,
            out,
        )
    }
);
