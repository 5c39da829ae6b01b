//! Several block butterfly factors in one pass (`shaders/butterfly.wgsl`):
//! `y = alpha·B_{first+count−1} ⋯ B_first·x + beta·y` (or the transposed factors in reverse
//! order), with the factor convention of `linops_core::plan::kernel::Butterfly`.
//!
//! Storage: the twiddles `tw` as a `2nb × L` f32 matrix (factor `f` in column `f`), x and y
//! `n × cols` column-major. Algorithm: one workgroup per (group, column) loads the group's
//! `2^count·b ≤ 4096` entries into workgroup memory (16 KiB, the portable minimum), applies every
//! factor of the step there with a barrier after each, and writes the group once: one read of
//! x and one write of y per entry, the twiddles read from global memory (cached). Cost:
//! `count·(4b − 1)·n` FLOPs per column.

use linops_core::plan::kernel::Butterfly;
use linops_core::{Error, Kernel, Result};

use crate::kernels::{check_distinct, grid_2d, to_u32};
use crate::{GpuEncoder, GpuMat};

/// Workgroup size (`WG` override).
const WG: u32 = 256;
/// Output pairs per invocation and factor in the shader (`PER`).
const PER: usize = 8;
/// Entries of workgroup memory in the shader (`CAP`): the core's largest group.
const CAP: usize = Butterfly::MAX_GROUP;
const _: () = assert!(2 * PER * WG as usize >= CAP);

crate::uniform_struct! {
    /// Uniform block of `butterfly.wgsl` (`ButterflyParams`).
    struct ButterflyParams in "butterfly" {
        n: u32,
        b: u32,
        first: u32,
        count: u32,
        trans: u32,
        groups: u32,
        total: u32,
        _pad0: u32,
        alpha: f32,
        beta: f32,
        _pad1: u32,
        _pad2: u32,
    }
}

impl GpuEncoder {
    /// Records one butterfly step `y = alpha·(factors of step)·x + beta·y` (see the module docs;
    /// `step.alpha` and `step.beta` are used in f32); y is not read when `beta == 0`.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] when the shapes do not fit the step (the core's own check:
    /// `n/b` a power of two, twiddles `2nb × L`, factors within `0..L`, a group of at most 4096
    /// entries, x and y alike); [`Error::InvalidArgument`] if y is an input or a size does not fit
    /// u32 indices; [`Error::DeviceLimit`] if the grid does not fit the device; [`Error::Backend`]
    /// on device errors.
    ///
    /// # Examples
    /// ```
    /// use linops_core::plan::kernel::Butterfly;
    /// # let Ok(dev) = linops_gpu::GpuDevice::new(&Default::default()) else { return };
    /// // n = 2: one factor [[1, 1], [1, -1]].
    /// let tw = dev.upload(4, 1, &[1.0, 1.0, 1.0, -1.0]).unwrap();
    /// let x = dev.upload(2, 1, &[3.0, 1.0]).unwrap();
    /// let y = dev.alloc(2, 1).unwrap();
    /// let step = Butterfly { block: 1, first: 0, count: 1, trans: false, alpha: 1.0, beta: 0.0 };
    /// let mut enc = dev.encoder();
    /// enc.butterfly(&step, &tw, &x, &y).unwrap();
    /// enc.submit().unwrap();
    /// assert_eq!(dev.download(&y).unwrap(), vec![4.0, 2.0]);
    /// ```
    pub fn butterfly(
        &mut self,
        step: &Butterfly,
        tw: &GpuMat,
        x: &GpuMat,
        y: &GpuMat,
    ) -> Result<()> {
        // The core's shape rule (one home): n/b a power of two, 2nb × L twiddles, the factor
        // range, the group bound, x and y alike.
        Kernel::from(*step).cost(
            &[(tw.rows(), tw.cols()), (x.rows(), x.cols())],
            (y.rows(), y.cols()),
        )?;
        check_distinct("butterfly", y, &[tw, x])?;
        let (n, cols) = (x.rows(), x.cols());
        // Every index the shader forms is below the length of the buffer it reads: x and y at
        // j·n + row < n·cols, tw below 2nb·L.
        to_u32("butterfly: elements of x", x.len())?;
        to_u32("butterfly: twiddles", tw.len())?;
        let group = step.group();
        debug_assert!(group <= CAP);
        let groups = n / group;
        let total = (groups as u64) * (cols as u64);
        let params = ButterflyParams {
            n: to_u32("butterfly rows", n)?,
            b: to_u32("butterfly block", step.block)?,
            first: step.first as u32,
            count: step.count as u32,
            trans: u32::from(step.trans),
            groups: groups as u32,
            total: u32::try_from(total).map_err(|_| {
                Error::InvalidArgument(format!(
                    "butterfly: {groups} groups × {cols} columns do not fit u32"
                ))
            })?,
            _pad0: 0,
            alpha: step.alpha as f32,
            beta: step.beta as f32,
            _pad1: 0,
            _pad2: 0,
        };
        let max = self.device.limits().max_compute_workgroups_per_dimension;
        let grid = self.check_workgroups("butterfly", grid_2d(total, 1, max))?;
        self.record(
            "butterfly",
            &[("WG", f64::from(WG))],
            &[(0, tw), (1, x), (2, y)],
            bytemuck::bytes_of(&params),
            3,
            grid,
        )
    }
}

crate::backend::gpu_kernel!(Butterfly, |kernel, cx, args, out| {
    cx.enc.butterfly(kernel, args.mat(0)?, args.mat(1)?, out)
});
