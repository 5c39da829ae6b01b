//! Fused Monarch (`shaders/monarch.wgsl`): `y = alpha·op(P_out·L·P_mid·R)·x + beta·y`, both
//! block products and the permutations per column in one pass, the `b₁·b₂` intermediate in
//! workgroup memory.
//!
//! Storage: `L` (`s × b₁·b₂`) and `R` (`b₂ × p·b₁`) as the plan's parameters (the layouts of the
//! two `block_gemm` steps), column-major f32 `x` and `y`. One workgroup per column when the column
//! and its intermediate fit the workgroup buffer ([`capacity`]: `rows(x) + b₁·b₂` entries of f32
//! within `max_compute_workgroup_storage_size`, so `n + b·b ≤ 4096` at the portable 16 KiB: a
//! square Monarch up to n = 2048 with b ≈ 45); otherwise the two block GEMMs of the unfused
//! lowering with a `b₁·b₂ × cols` temporary (the same result within rounding, two passes).
//! Cost: `2·b₁·b₂·(p + s)` FLOPs per column; one read of `x`, one write of `y`, the parameters
//! read through the cache by every workgroup.

use linops_core::plan::kernel::monarch_dims;
use linops_core::{BlockLayout, Error, Result};

use crate::kernels::block_gemm::BlockGemmArgs;
use crate::kernels::{check_distinct, grid_2d, to_u32};
use crate::{GemmTile, GpuDevice, GpuEncoder, GpuMat};

/// Workgroup size (`WG` override).
const WG: u32 = 256;
/// Largest workgroup buffer used (entries; 32 KiB of f32).
const MAX_CAP: usize = 8192;

crate::uniform_struct! {
    /// Uniform block of `monarch.wgsl`.
    struct MonarchParams in "monarch" {
        b1: u32,
        b2: u32,
        p: u32,
        s: u32,
        rows_in: u32,
        rows_out: u32,
        trans: u32,
        groups: u32,
        alpha: f32,
        beta: f32,
        _pad0: u32,
        _pad1: u32,
    }
}

/// Entries of f32 the fused Monarch kernel's workgroup buffer holds on `dev`
/// (`max_compute_workgroup_storage_size / 4`, at most 8192): a column of `rows(x)` entries with an
/// intermediate of `b₁·b₂` takes the one-pass path when `rows(x) + b₁·b₂ ≤ capacity`.
///
/// # Examples
/// ```
/// # let Ok(dev) = linops_gpu::GpuDevice::new(&Default::default()) else { return };
/// assert!(linops_gpu::kernels::monarch::capacity(&dev) >= 4096);
/// ```
#[must_use]
pub fn capacity(dev: &GpuDevice) -> usize {
    (dev.limits().max_compute_workgroup_storage_size as usize / 4).clamp(1, MAX_CAP)
}

impl GpuEncoder {
    /// Records `y = alpha·op(M)·x + beta·y` for the Monarch matrix `M = P_out·L·P_mid·R` with `L`
    /// (`s × b₁·b₂`) and `R` (`b₂ × p·b₁`) as in `linops_core::Kernel::Monarch` (`op(M) = Mᵀ`
    /// when `trans`); y is not read when `beta == 0`. One pass when the column and its
    /// intermediate fit the workgroup buffer ([`capacity`]), else two block GEMMs.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if `L` and `R` do not chain or x, y do not fit them;
    /// [`Error::InvalidArgument`] if y is one of the inputs, a matrix of another device, or a
    /// size does not fit u32 indices; [`Error::DeviceLimit`] if the grid or the temporary of the
    /// two-pass path does not fit the device; [`Error::Backend`] on device errors.
    ///
    /// # Examples
    /// ```
    /// # let Ok(dev) = linops_gpu::GpuDevice::new(&Default::default()) else { return };
    /// // n = 4, two blocks of 2×2 of ones in L and R: every entry of M is 1.
    /// let l = dev.upload(2, 4, &[1.0; 8]).unwrap();
    /// let r = dev.upload(2, 4, &[1.0; 8]).unwrap();
    /// let x = dev.upload(4, 1, &[1.0, 2.0, 3.0, 4.0]).unwrap();
    /// let y = dev.alloc(4, 1).unwrap();
    /// let mut enc = dev.encoder();
    /// enc.monarch(1.0, (&l, &r), false, &x, 0.0, &y).unwrap();
    /// enc.submit().unwrap();
    /// assert_eq!(dev.download(&y).unwrap(), vec![10.0; 4]);
    /// ```
    pub fn monarch(
        &mut self,
        alpha: f32,
        (l, r): (&GpuMat, &GpuMat),
        trans: bool,
        x: &GpuMat,
        beta: f32,
        y: &GpuMat,
    ) -> Result<()> {
        let dims = monarch_dims((l.rows(), l.cols()), (r.rows(), r.cols()));
        let fits = dims.filter(|&(b1, b2, p, s)| {
            let (n, m) = (b1 * p, b2 * s);
            let (rin, rout) = if trans { (m, n) } else { (n, m) };
            x.rows() == rin && y.rows() == rout && x.cols() == y.cols()
        });
        let Some((b1, b2, p, s)) = fits else {
            return Err(Error::ShapeMismatch {
                context: "monarch".into(),
                expected: "L (s × b1·b2) and R (b2 × p·b1) that chain, x of b1·p rows and y of \
                           b2·s rows (swapped with trans), equal columns"
                    .into(),
                found: format!(
                    "L {}x{}, R {}x{}, x {}x{}, y {}x{}",
                    l.rows(),
                    l.cols(),
                    r.rows(),
                    r.cols(),
                    x.rows(),
                    x.cols(),
                    y.rows(),
                    y.cols()
                ),
            });
        };
        check_distinct("monarch", y, &[x, l, r])?;
        let cols = x.cols();
        to_u32("monarch: x elements", x.len())?;
        to_u32("monarch: y elements", y.len())?;
        let mid = b1 * b2;
        let cap = capacity(&self.device);
        if x.rows() + mid > cap {
            return self.monarch_two_pass((l, r), (b1, b2, p, s), trans, x, (alpha, beta), y);
        }
        let params = MonarchParams {
            b1: b1 as u32,
            b2: b2 as u32,
            p: p as u32,
            s: s as u32,
            rows_in: x.rows() as u32,
            rows_out: y.rows() as u32,
            trans: u32::from(trans),
            groups: to_u32("monarch columns", cols)?,
            alpha,
            beta,
            _pad0: 0,
            _pad1: 0,
        };
        let max = self.device.limits().max_compute_workgroups_per_dimension;
        let grid = self.check_workgroups("monarch", grid_2d(cols as u64, 1, max))?;
        self.record(
            "monarch",
            &[("WG", f64::from(WG)), ("CAP", cap as f64)],
            &[(0, l), (1, r), (2, x), (3, y)],
            bytemuck::bytes_of(&params),
            4,
            grid,
        )
    }

    /// The unfused lowering's two block GEMMs through a `b₁·b₂ × cols` temporary.
    fn monarch_two_pass(
        &mut self,
        (l, r): (&GpuMat, &GpuMat),
        (b1, b2, p, s): (usize, usize, usize, usize),
        trans: bool,
        x: &GpuMat,
        (alpha, beta): (f32, f32),
        y: &GpuMat,
    ) -> Result<()> {
        let cols = x.cols();
        let mid = self.device.alloc(b1 * b2, cols)?;
        let (c, st) = (BlockLayout::Contiguous, BlockLayout::Strided);
        let step = |blocks, m, k, trans, layout, alpha, beta| BlockGemmArgs {
            blocks,
            m,
            k,
            n: cols,
            trans,
            x_layout: layout,
            y_layout: layout,
            alpha,
            beta,
            tile: GemmTile::Auto,
        };
        if trans {
            self.block_gemm(&step(b2, b1, s, true, st, 1.0, 0.0), l, x, &mid)?;
            self.block_gemm(&step(b1, p, b2, true, c, alpha, beta), r, &mid, y)
        } else {
            self.block_gemm(&step(b1, b2, p, false, c, 1.0, 0.0), r, x, &mid)?;
            self.block_gemm(&step(b2, s, b1, false, st, alpha, beta), l, &mid, y)
        }
    }
}

crate::backend::gpu_kernel!(
    linops_core::plan::kernel::Monarch,
    |kernel, cx, args, out| {
        cx.enc.monarch(
            kernel.alpha as f32,
            (args.mat(0)?, args.mat(1)?),
            kernel.trans,
            args.mat(2)?,
            kernel.beta as f32,
            out,
        )
    }
);
