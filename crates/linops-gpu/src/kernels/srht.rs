//! The subsampled randomized Hadamard transform in one pass (`shaders/fwht.wgsl` and
//! `shaders/fwht_subgroup.wgsl`, the `fwht` passes with the SRHT's loads and stores):
//! `y = scale·G_idx·H_N·P·D·x + beta·y` (the sketch `S·X`) or, transposed,
//! `y = scale·D·Pᵀ·H_N·G_idx·x + beta·y` (`Sᵀ·Y`), with `H_N` the unnormalized Hadamard matrix,
//! `D = diag(signs)`, `P` the zero padding to `N` rows and `G_idx` the row gather (a zero row for
//! an index out of range); see `linops_core::plan::kernel::Srht`.
//!
//! Storage: column-major f32 `x`, `y` and `signs`; `idx` a [`GpuIndices`] vector. For `N` up to
//! the workgroup buffer ([`block_capacity`](crate::kernels::fwht::block_capacity)) one workgroup
//! per column loads the signed (or gathered) column once, transforms it in workgroup memory and
//! writes the kept rows once: one pass, the input read once and the output written once. Longer
//! transforms take the `fwht` passes through an N×cols scratch (the signs or the gather on the
//! first load, the signs on the last store; the forward sketch's row selection is one `gather`
//! pass after the last stage). Cost: `N·log₂N` additions per column.

use linops_core::{Error, Result};

use crate::kernels::check_distinct;
use crate::kernels::fwht::{Load, Store, Transform};
use crate::{GpuEncoder, GpuIndices, GpuMat};

impl GpuEncoder {
    /// Records the SRHT `y = scale·G_idx·H_N·P·diag(signs)·x + beta·y` (`transposed = false`; `N`
    /// the next power of two `≥ max(rows(x), rows(y))`, `idx` of rows(y) entries) or
    /// `y = scale·diag(signs)·Pᵀ·H_N·G_idx·x + beta·y` (`transposed = true`; `idx` of `N` entries, a
    /// power of two `≥ max(rows(x), rows(y))`); `signs` has `rows(x)` entries (forward) or `rows(y)`
    /// (transposed). y is not read when `beta == 0`.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] when the shapes do not fit as above; [`Error::InvalidArgument`] if
    /// y is an input, a matrix of another device, or a size does not fit u32 indices;
    /// [`Error::DeviceLimit`] if a scratch or the grid does not fit the device;
    /// [`Error::Backend`] on device errors.
    ///
    /// # Examples
    /// ```
    /// # let Ok(dev) = linops_gpu::GpuDevice::new(&Default::default()) else { return };
    /// let x = dev.upload(3, 1, &[1.0, 2.0, 3.0]).unwrap();
    /// let signs = dev.upload(3, 1, &[1.0, -1.0, 1.0]).unwrap();
    /// let idx = dev.upload_indices(&[0, 3]).unwrap(); // rows 0 and 3 of H_4·D·x
    /// let y = dev.alloc(2, 1).unwrap();
    /// let mut enc = dev.encoder();
    /// enc.srht(1.0, &idx, &signs, &x, 0.0, &y, false).unwrap();
    /// enc.submit().unwrap();
    /// // D·x padded = [1, -2, 3, 0]; row 0 of H_4 sums it, row 3 is [1, -1, -1, 1].
    /// assert_eq!(dev.download(&y).unwrap(), vec![2.0, 0.0]);
    /// ```
    #[allow(clippy::too_many_arguments)]
    pub fn srht(
        &mut self,
        scale: f32,
        idx: &GpuIndices,
        signs: &GpuMat,
        x: &GpuMat,
        beta: f32,
        y: &GpuMat,
        transposed: bool,
    ) -> Result<()> {
        let (m, n) = if transposed {
            (y.rows(), idx.len())
        } else {
            let n = x.rows().max(y.rows()).checked_next_power_of_two();
            (x.rows(), n.unwrap_or(0))
        };
        let ok = x.cols() == y.cols()
            && signs.len() == m
            && (signs.rows() == 1 || signs.cols() == 1)
            && n.is_power_of_two()
            && n >= x.rows().max(y.rows())
            && (transposed || idx.len() == y.rows());
        if !ok {
            return Err(Error::ShapeMismatch {
                context: format!("srht{}", if transposed { " (transposed)" } else { "" }),
                expected: if transposed {
                    "an index map of N = 2^k ≥ max(rows) entries, signs of rows(y) entries, x and \
                     y with equal columns"
                        .into()
                } else {
                    "rows(y) indices, signs of rows(x) entries, x and y with equal columns".into()
                },
                found: format!(
                    "idx {}, signs {}x{}, x {}x{}, y {}x{}",
                    idx.len(),
                    signs.rows(),
                    signs.cols(),
                    x.rows(),
                    x.cols(),
                    y.rows(),
                    y.cols()
                ),
            });
        }
        check_distinct("srht", y, &[x, signs, idx.storage()])?;
        let (load, store) = if transposed {
            (Load::Gathered, Store::Signed)
        } else {
            (Load::Signed, Store::Gathered)
        };
        let subgroups = self.device.subgroup_sizes().is_some();
        self.transform(&Transform {
            x,
            y,
            signs: Some(signs),
            idx: Some(idx),
            n,
            load,
            store,
            scale,
            beta,
            subgroups,
        })
    }
}

crate::backend::gpu_kernel!(linops_core::plan::kernel::Srht, |kernel, cx, args, out| {
    // The shader applies the unnormalized transform; 1/√N rides on alpha.
    let (idx, signs, x) = (args.index(0)?, args.mat(1)?, args.mat(2)?);
    let n = if kernel.transposed {
        idx.len()
    } else {
        x.rows().max(out.rows()).next_power_of_two()
    };
    let scale = kernel.alpha / (n as f64).sqrt();
    cx.enc.srht(
        scale as f32,
        idx,
        signs,
        x,
        kernel.beta as f32,
        out,
        kernel.transposed,
    )
});
