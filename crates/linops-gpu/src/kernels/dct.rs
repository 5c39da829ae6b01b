//! Orthonormal DCT-II / DCT-III of each column (`shaders/dct.wgsl`): `y = alpha·C·x + beta·y`
//! or `y = alpha·Cᵀ·x + beta·y`, with `C[k, j] = s_k·cos(π(2j+1)k/2n)`.
//!
//! Storage: x and y are n×cols, contiguous column-major; `table` is the n×4 twiddle table of
//! `linops_core::op::Dct` (cos 2πk/n, sin 2πk/n, cos πk/2n, sin πk/2n).
//!
//! Two paths, picked here by length (every length the CPU takes):
//! - n a power of two, n ≤ [`DCT_MAX_LEN`] (entry point `dct`): Makhoul's reordering around an
//!   n-point complex radix-2 FFT, one workgroup per column entirely in workgroup memory (two
//!   arrays of 2048 f32, 16 KiB): one global read and write per entry, `5·n·log₂n + O(n)` flops
//!   per column;
//! - every other n up to [`DCT_DIRECT_MAX_LEN`] (entry point `dct_direct`): the direct sum
//!   `y[k] = Σ_j C[k, j]·x[j]` with `C`'s cosines read from the table's quarter-wave columns and a
//!   pairwise sum, `~2·n²` flops per column; workgroups of `DIRECT_WG` invocations compute
//!   `DIRECT_WG` outputs of 4 columns, staging the inputs in workgroup memory. Its rounding
//!   error is that of the f32 table entries and products plus `⌈log₂n⌉·u` for the sum, the
//!   FFT's order. A Bluestein/mixed-radix FFT would make these lengths `O(n log n)` too; the
//!   direct sum is the simple exact-in-structure path for now.

use linops_core::{Error, Result};

use crate::kernels::{check_distinct, check_shape, grid_2d, to_u32};
use crate::{GpuEncoder, GpuMat};

/// Workgroup size (`WG` override).
const WG: u32 = 256;
/// Longest DCT the fast (FFT) path takes (`CAP` in the shader).
pub const DCT_MAX_LEN: usize = 2048;
/// Longest DCT the direct path takes: its angle index `(2j+1)k mod 4n` plus a step stays below
/// `8n ≤ 2³²`.
pub const DCT_DIRECT_MAX_LEN: usize = 1 << 29;
/// Workgroup size of the direct path (`WG` override of `dct_direct`; at most 256, the size of its
/// staging array over 4 columns).
const DIRECT_WG: u32 = 64;
/// Columns one direct-path workgroup computes (`DCOLS` in the shader).
const DIRECT_COLS: u64 = 4;

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

/// Whether the GPU DCT takes length `n`: every `n` from 1 to [`DCT_DIRECT_MAX_LEN`] (through the
/// FFT path or the direct one, see [`dct_fast_path`]).
///
/// # Examples
/// ```
/// use linops_gpu::kernels::dct::dct_supported;
/// assert!(dct_supported(1024) && dct_supported(1000) && dct_supported(3));
/// assert!(!dct_supported(0));
/// ```
#[must_use]
pub fn dct_supported(n: usize) -> bool {
    (1..=DCT_DIRECT_MAX_LEN).contains(&n) || dct_fast_path(n)
}

/// Whether the GPU DCT runs length `n` by the FFT (a power of two, at most [`DCT_MAX_LEN`]);
/// other lengths take the direct `O(n²)`-per-column sum.
///
/// # Examples
/// ```
/// use linops_gpu::kernels::dct::dct_fast_path;
/// assert!(dct_fast_path(1024));
/// assert!(!dct_fast_path(1000) && !dct_fast_path(4096));
/// ```
#[must_use]
pub fn dct_fast_path(n: usize) -> bool {
    n.is_power_of_two() && n <= DCT_MAX_LEN
}

impl GpuEncoder {
    /// Records `y = alpha·C·x + beta·y` (DCT-II) or, with `inverse`, `y = alpha·Cᵀ·x + beta·y`
    /// (DCT-III); y is not read when `beta == 0`. `table` is the n×4 table of
    /// `linops_core::op::Dct::table` uploaded as a matrix.
    ///
    /// Every length takes a path (see the module docs): the FFT for powers of two up to
    /// [`DCT_MAX_LEN`], the direct sum otherwise.
    ///
    /// # Errors
    /// [`Error::Unsupported`] if n exceeds [`DCT_DIRECT_MAX_LEN`] (see [`dct_supported`]);
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
        let fast = dct_fast_path(n);
        if !dct_supported(n) {
            return Err(Error::Unsupported(format!(
                "the GPU DCT takes lengths up to {DCT_DIRECT_MAX_LEN} (the direct path's angle \
                 index must fit u32); length {n} is longer (the CPU backend takes it)"
            )));
        }
        check_shape("dct: y against x", y, n, cols)?;
        check_shape("dct: twiddle table", table, n, 4)?;
        check_distinct("dct", y, &[x, table])?;
        // Indices formed: x[j·n + k], y[j·n + k] with j < cols, k < n (x.len() fits u32), and
        // table[c·n + k] with c < 4 (4n ≤ 2³¹ on the direct path, 4n ≤ 8192 on the fast one).
        to_u32("dct elements", x.len())?;
        let nf = n as f64;
        let alpha = f64::from(alpha);
        if !fast {
            let params = DctParams {
                n: n as u32,
                log2n: 0,
                cols: to_u32("dct columns", cols)?,
                inverse: u32::from(inverse),
                s0: (alpha * (1.0 / nf).sqrt()) as f32,
                sk: (alpha * (2.0 / nf).sqrt()) as f32,
                post: 0.0,
                beta,
            };
            let tiles = (n as u64).div_ceil(u64::from(DIRECT_WG));
            let groups = tiles.saturating_mul((cols as u64).div_ceil(DIRECT_COLS));
            let max = self.device.limits().max_compute_workgroups_per_dimension;
            let grid = self.check_workgroups("dct_direct", grid_2d(groups, 1, max))?;
            return self.record(
                "dct_direct",
                &[("WG", f64::from(DIRECT_WG))],
                &[(0, x), (1, table), (2, y)],
                bytemuck::bytes_of(&params),
                3,
                grid,
            );
        }
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
