//! Batched transpose with scaling (`shaders/batch_transpose.wgsl`): the Kronecker mode rotation.
//!
//! Storage: x and y are any contiguous column-major matrices of the same number of elements
//! `len`; x holds `len / (rows·cols)` consecutive `rows×cols` column-major blocks, y receives
//! their transposes, `y = alpha·X_tᵀ + beta·y`. Cost: one read and one write per element (a
//! gather: one invocation per output element).

use linops_core::{Error, Result};

use crate::kernels::{check_distinct, grid_2d, to_u32};
use crate::{GpuEncoder, GpuMat};

/// Workgroup size (`WG` override).
const WG: u32 = 256;

crate::uniform_struct! {
    /// Uniform block of `batch_transpose.wgsl` (`BtParams`).
    struct BtParams in "batch_transpose" {
        len: u32,
        rows: u32,
        cols: u32,
        alpha: f32,
        beta: f32,
        _pad0: u32,
        _pad1: u32,
        _pad2: u32,
    }
}

impl GpuEncoder {
    /// Records `y = alpha·X_tᵀ + beta·y` for the consecutive `rows×cols` blocks `X_t` of `x`
    /// (y is not read when beta == 0).
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if x and y differ in element count or it is not a multiple of
    /// `rows·cols`; [`Error::InvalidArgument`] if `rows·cols == 0`, y is x, or a size does not fit
    /// u32; [`Error::Backend`] on device errors.
    ///
    /// # Examples
    /// ```
    /// # let Ok(dev) = linops_gpu::GpuDevice::new(&Default::default()) else { return };
    /// // Two 2x1 blocks [1, 2] and [3, 4], transposed into 1x2 blocks (same layout), doubled.
    /// let x = dev.upload(4, 1, &[1.0, 2.0, 3.0, 4.0]).unwrap();
    /// let y = dev.alloc(2, 2).unwrap();
    /// let mut enc = dev.encoder();
    /// enc.batch_transpose(2, 1, 2.0, &x, 0.0, &y).unwrap();
    /// enc.submit().unwrap();
    /// assert_eq!(dev.download(&y).unwrap(), vec![2.0, 4.0, 6.0, 8.0]);
    /// ```
    pub fn batch_transpose(
        &mut self,
        rows: usize,
        cols: usize,
        alpha: f32,
        x: &GpuMat,
        beta: f32,
        y: &GpuMat,
    ) -> Result<()> {
        let block = rows.checked_mul(cols).unwrap_or(0);
        if block == 0 {
            return Err(Error::InvalidArgument(format!(
                "batch_transpose: empty or overflowing block {rows}x{cols}"
            )));
        }
        if x.len() != y.len() || !x.len().is_multiple_of(block) {
            return Err(Error::ShapeMismatch {
                context: "batch_transpose".into(),
                expected: format!(
                    "x and y with the same number of elements, a multiple of {rows}·{cols}"
                ),
                found: format!("x {}x{}, y {}x{}", x.rows(), x.cols(), y.rows(), y.cols()),
            });
        }
        check_distinct("batch_transpose", y, &[x])?;
        let params = BtParams {
            len: to_u32("elements", x.len())?,
            rows: to_u32("rows", rows)?,
            cols: to_u32("cols", cols)?,
            alpha,
            beta,
            _pad0: 0,
            _pad1: 0,
            _pad2: 0,
        };
        let max = self.device.limits().max_compute_workgroups_per_dimension;
        let groups = self.check_workgroups(
            "batch_transpose",
            grid_2d(x.len() as u64, u64::from(WG), max),
        )?;
        self.record(
            "batch_transpose",
            &[("WG", f64::from(WG))],
            &[(0, x), (1, y)],
            bytemuck::bytes_of(&params),
            2,
            groups,
        )
    }
}

crate::backend::gpu_kernel!(
    linops_core::plan::kernel::BatchTranspose,
    |kernel, cx, args, out| {
        let (alpha, beta) = (kernel.alpha as f32, kernel.beta as f32);
        cx.enc
            .batch_transpose(kernel.rows, kernel.cols, alpha, args.mat(0)?, beta, out)
    }
);
