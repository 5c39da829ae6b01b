//! Out-of-place transpose y = xᵀ (`shaders/transpose.wgsl`).
//!
//! Storage: x is rows×cols, y is cols×rows, both contiguous column-major. Cost: one read and one
//! write per element; 16×16 tiles pass through workgroup memory so that both the reads of x and
//! the writes of y are coalesced.

use linops_core::Result;

use crate::kernels::{check_distinct, check_shape, to_u32};
use crate::{GpuEncoder, GpuMat};

/// Tile edge of the transpose kernel (`TILE` override).
const TILE: u32 = 16;

crate::uniform_struct! {
    /// Uniform block of `transpose.wgsl` (`TransposeParams`).
    struct TransposeParams in "transpose" {
        rows: u32,
        cols: u32,
        _pad0: u32,
        _pad1: u32,
    }
}

impl GpuEncoder {
    /// Records y = xᵀ.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`](linops_core::Error::ShapeMismatch) if y is not x.cols()×x.rows();
    /// [`Error::InvalidArgument`](linops_core::Error::InvalidArgument) if y is x or a matrix of
    /// another device; [`Error::DeviceLimit`](linops_core::Error::DeviceLimit) if the grid does
    /// not fit; [`Error::Backend`](linops_core::Error::Backend) on device errors.
    ///
    /// # Examples
    /// ```
    /// # let Ok(dev) = linops_gpu::GpuDevice::new(&Default::default()) else { return };
    /// let x = dev.upload(2, 3, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
    /// let y = dev.alloc(3, 2).unwrap();
    /// let mut enc = dev.encoder();
    /// enc.transpose(&x, &y).unwrap();
    /// enc.submit().unwrap();
    /// assert_eq!(dev.download(&y).unwrap(), vec![1.0, 3.0, 5.0, 2.0, 4.0, 6.0]);
    /// ```
    pub fn transpose(&mut self, x: &GpuMat, y: &GpuMat) -> Result<()> {
        check_shape("transpose: y against xᵀ", y, x.cols(), x.rows())?;
        check_distinct("transpose", y, &[x])?;
        let params = TransposeParams {
            rows: to_u32("rows", x.rows())?,
            cols: to_u32("cols", x.cols())?,
            _pad0: 0,
            _pad1: 0,
        };
        let max = u64::from(
            self.device
                .limits()
                .max_compute_workgroups_per_dimension
                .max(1),
        );
        let row_blocks = (x.rows() as u64).div_ceil(u64::from(TILE));
        let gx = row_blocks.min(max);
        let groups = [
            gx,
            (x.cols() as u64).div_ceil(u64::from(TILE)),
            row_blocks.div_ceil(gx),
        ];
        let groups = self.check_workgroups("transpose", groups)?;
        self.record(
            "transpose",
            &[("TILE", f64::from(TILE))],
            &[(0, x), (1, y)],
            bytemuck::bytes_of(&params),
            2,
            groups,
        )
    }
}

crate::backend::gpu_kernel!(linops_core::plan::kernel::Transpose, |_, cx, args, out| {
    cx.enc.transpose(args.mat(0)?, out)
});
