//! Orthonormal Walsh–Hadamard transform of each column (`shaders/fwht.wgsl`):
//! `y = scale·Pₒᵀ·H_N·Pₓ·x + beta·y` with `N = max(rows(x), rows(y))` a power of two, `Pₓ`
//! zero-padding x to N rows and `Pₒᵀ` keeping the first rows(y) rows; `H_N` is the unnormalized
//! ±1 Sylvester–Hadamard matrix (pass `scale = alpha/√N` for the orthonormal transform).
//!
//! Storage: column-major, contiguous. Algorithm: for `N ≤ CAP = 4096` one workgroup per column
//! does all log₂N butterfly stages in workgroup memory (16 KiB, the portable minimum) with one
//! global read and one write per entry: bandwidth-bound. For larger N, `fwht_local` transforms
//! chunks of 4096 consecutive entries into an N×cols scratch, then one global radix-2 pass per
//! remaining stage (`log₂(N/4096)` passes, the last writing the output). Cost: `N·log₂N` additions
//! per column.

use linops_core::{Error, Result};

use crate::kernels::{check_distinct, grid_2d, to_u32};
use crate::{GpuEncoder, GpuMat};

/// Workgroup size (`WG` override).
const WG: u32 = 256;
/// Entries of workgroup memory in `fwht_local` (`CAP` in the shader).
const CAP: usize = 4096;

crate::uniform_struct! {
    /// Uniform block of `fwht.wgsl` (`FwhtParams`).
    struct FwhtParams in "fwht" {
        rows_in: u32,
        rows_out: u32,
        n: u32,
        b: u32,
        cols: u32,
        h: u32,
        groups: u32,
        single: u32,
        scale: f32,
        beta: f32,
        _pad0: u32,
        _pad1: u32,
    }
}

impl GpuEncoder {
    /// Records `y = scale·Pₒᵀ·H_N·Pₓ·x + beta·y` (see the module docs); y is not read when
    /// `beta == 0`.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if x and y differ in columns or `max(rows)` is not a power of
    /// two; [`Error::InvalidArgument`] if y is x, a matrix of another device, or a size does not
    /// fit u32 indices; [`Error::DeviceLimit`] if the N×cols scratch of a long transform or the
    /// grid does not fit the device; [`Error::Backend`] on device errors.
    ///
    /// # Examples
    /// ```
    /// # let Ok(dev) = linops_gpu::GpuDevice::new(&Default::default()) else { return };
    /// let x = dev.upload(4, 1, &[1.0, 0.0, 0.0, 0.0]).unwrap();
    /// let y = dev.alloc(4, 1).unwrap();
    /// let mut enc = dev.encoder();
    /// enc.fwht(0.5, &x, 0.0, &y).unwrap();
    /// enc.submit().unwrap();
    /// assert_eq!(dev.download(&y).unwrap(), vec![0.5; 4]);
    /// ```
    pub fn fwht(&mut self, scale: f32, x: &GpuMat, beta: f32, y: &GpuMat) -> Result<()> {
        let n = x.rows().max(y.rows());
        if x.cols() != y.cols() || !n.is_power_of_two() {
            return Err(Error::ShapeMismatch {
                context: "fwht".into(),
                expected: "x and y with equal columns and max(rows) a power of two".into(),
                found: format!("x {}x{}, y {}x{}", x.rows(), x.cols(), y.rows(), y.cols()),
            });
        }
        check_distinct("fwht", y, &[x])?;
        let cols = x.cols();
        // Every index the shader forms is below cols·N (checked to fit u32) and below the length
        // of the buffer it reads: x[j·rows_in + r] with r < rows_in, y[j·rows_out + i] with
        // i < rows_out, scratch[j·N + i] with i < N.
        to_u32("fwht: columns × transform length", cols.saturating_mul(n))?;
        let b = n.min(CAP);
        let max = self.device.limits().max_compute_workgroups_per_dimension;
        let mut params = FwhtParams {
            rows_in: to_u32("fwht rows", x.rows())?,
            rows_out: to_u32("fwht rows", y.rows())?,
            n: n as u32,
            b: b as u32,
            cols: to_u32("fwht columns", cols)?,
            h: 0,
            groups: 0,
            single: u32::from(b == n),
            scale,
            beta,
            _pad0: 0,
            _pad1: 0,
        };
        let local_groups = (cols * (n / b)) as u64;
        params.groups = local_groups as u32;
        let grid = self.check_workgroups("fwht_local", grid_2d(local_groups, 1, max))?;
        let constants = [("WG", f64::from(WG))];
        if b == n {
            return self.record(
                "fwht_local",
                &constants,
                &[(0, x), (1, y)],
                bytemuck::bytes_of(&params),
                2,
                grid,
            );
        }
        let scratch = self.device.alloc(n, cols)?;
        self.record(
            "fwht_local",
            &constants,
            &[(0, x), (1, &scratch)],
            bytemuck::bytes_of(&params),
            2,
            grid,
        )?;
        let pairs = (cols * n / 2) as u64;
        let stage_groups = pairs.div_ceil(u64::from(WG));
        params.groups = stage_groups as u32;
        let grid = self.check_workgroups("fwht_stage", grid_2d(pairs, u64::from(WG), max))?;
        let mut h = b;
        while h < n / 2 {
            params.h = h as u32;
            self.record(
                "fwht_stage",
                &constants,
                &[(1, &scratch)],
                bytemuck::bytes_of(&params),
                2,
                grid,
            )?;
            h *= 2;
        }
        params.h = (n / 2) as u32;
        self.record(
            "fwht_last",
            &constants,
            &[(0, &scratch), (1, y)],
            bytemuck::bytes_of(&params),
            2,
            grid,
        )
    }
}

crate::backend::gpu_kernel!(linops_core::plan::kernel::Fwht, |kernel, cx, args, out| {
    // The shader applies the unnormalized transform; 1/√N rides on alpha.
    let n = args.mat(0)?.rows().max(out.rows());
    let scale = kernel.alpha / (n as f64).sqrt();
    cx.enc
        .fwht(scale as f32, args.mat(0)?, kernel.beta as f32, out)
});
