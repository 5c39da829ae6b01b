//! Orthonormal DCT-II / DCT-III of each column (`shaders/dct.wgsl`): `y = alpha·C·x + beta·y`
//! or `y = alpha·Cᵀ·x + beta·y`, with `C[k, j] = s_k·cos(π(2j+1)k/2n)`.
//!
//! Storage: x and y are n×cols, contiguous column-major; `table` is the n×4 twiddle table of
//! `linops_core::op::Dct` (cos 2πk/n, sin 2πk/n, cos πk/2n, sin πk/2n). Algorithm: Makhoul's
//! reordering around an n-point complex radix-2 FFT, one workgroup per column entirely in
//! workgroup memory (two arrays of 2048 f32, 16 KiB): one global read and write per entry,
//! `5·n·log₂n + O(n)` flops per column.
//!
//! Lengths: n a power of two with n ≤ 2048. Other lengths are [`Error::Unsupported`] on the GPU
//! (the CPU backend takes every n): a non-power-of-two length would need Bluestein's chirp-z
//! through a power-of-two FFT of length ≥ 2n−1, and longer ones a multi-pass global FFT, neither
//! of which is implemented yet.

use linops_core::{Error, Result};

use crate::kernels::{check_distinct, check_shape, grid_2d, to_u32};
use crate::{GpuEncoder, GpuMat};

/// Workgroup size (`WG` override).
const WG: u32 = 256;
/// Longest DCT the kernel takes (`CAP` in the shader).
pub const DCT_MAX_LEN: usize = 2048;

crate::uniform_struct! {
    /// Uniform block of `dct.wgsl` (`DctParams`).
    struct DctParams in "dct" {
        n: u32,
        log2n: u32,
        cols: u32,
        inverse: u32,
        s0: f32,
        sk: f32,
        post: f32,
        beta: f32,
    }
}

/// Whether the GPU DCT kernel takes length `n` (a power of two, at most [`DCT_MAX_LEN`]).
///
/// # Examples
/// ```
/// use linops_gpu::kernels::dct::dct_supported;
/// assert!(dct_supported(1024));
/// assert!(!dct_supported(1000));
/// ```
#[must_use]
pub fn dct_supported(n: usize) -> bool {
    n.is_power_of_two() && n <= DCT_MAX_LEN
}

impl GpuEncoder {
    /// Records `y = alpha·C·x + beta·y` (DCT-II) or, with `inverse`, `y = alpha·Cᵀ·x + beta·y`
    /// (DCT-III); y is not read when `beta == 0`. `table` is the n×4 table of
    /// `linops_core::op::Dct::table` uploaded as a matrix.
    ///
    /// # Errors
    /// [`Error::Unsupported`] if n is not a power of two or exceeds [`DCT_MAX_LEN`];
    /// [`Error::ShapeMismatch`] if y differs from x in shape or table is not n×4;
    /// [`Error::InvalidArgument`] if y is an input or a matrix of another device;
    /// [`Error::DeviceLimit`] if the grid does not fit; [`Error::Backend`] on device errors.
    ///
    /// # Examples
    /// ```
    /// # let Ok(dev) = linops_gpu::GpuDevice::new(&Default::default()) else { return };
    /// let op = linops_core::op::Dct::new(2).unwrap();
    /// let t: Vec<f32> = op.table().data.iter().map(|v| *v as f32).collect();
    /// let table = dev.upload(2, 4, &t).unwrap();
    /// let x = dev.upload(2, 1, &[1.0, 1.0]).unwrap();
    /// let y = dev.alloc(2, 1).unwrap();
    /// let mut enc = dev.encoder();
    /// enc.dct(false, 1.0, &x, &table, 0.0, &y).unwrap();
    /// enc.submit().unwrap();
    /// let v = dev.download(&y).unwrap();
    /// assert!((v[0] - 2f32.sqrt()).abs() < 1e-6 && v[1].abs() < 1e-6);
    /// ```
    pub fn dct(
        &mut self,
        inverse: bool,
        alpha: f32,
        x: &GpuMat,
        table: &GpuMat,
        beta: f32,
        y: &GpuMat,
    ) -> Result<()> {
        let (n, cols) = (x.rows(), x.cols());
        if !dct_supported(n) {
            return Err(Error::Unsupported(format!(
                "the GPU DCT takes power-of-two lengths up to {DCT_MAX_LEN}; length {n} is not \
                 one (the CPU backend takes every length)"
            )));
        }
        check_shape("dct: y against x", y, n, cols)?;
        check_shape("dct: twiddle table", table, n, 4)?;
        check_distinct("dct", y, &[x, table])?;
        // Indices formed: x[j·n + k], y[j·n + k] with j < cols, k < n (x.len() fits u32), and
        // table[c·n + k] with c < 4.
        to_u32("dct elements", x.len())?;
        let nf = n as f64;
        let alpha = f64::from(alpha);
        let (s0, sk) = if inverse {
            (nf.sqrt(), (nf / 2.0).sqrt())
        } else {
            (alpha * (1.0 / nf).sqrt(), alpha * (2.0 / nf).sqrt())
        };
        let params = DctParams {
            n: n as u32,
            log2n: n.trailing_zeros(),
            cols: to_u32("dct columns", cols)?,
            inverse: u32::from(inverse),
            s0: s0 as f32,
            sk: sk as f32,
            post: (alpha / nf) as f32,
            beta,
        };
        let max = self.device.limits().max_compute_workgroups_per_dimension;
        let grid = self.check_workgroups("dct", grid_2d(cols as u64, 1, max))?;
        self.record(
            "dct",
            &[("WG", f64::from(WG))],
            &[(0, x), (1, table), (2, y)],
            bytemuck::bytes_of(&params),
            3,
            grid,
        )
    }
}

crate::backend::gpu_kernel!(linops_core::plan::kernel::Dct, |kernel, cx, args, out| {
    let (alpha, beta) = (kernel.alpha as f32, kernel.beta as f32);
    cx.enc
        .dct(kernel.inverse, alpha, args.mat(0)?, args.mat(1)?, beta, out)
});
