//! Elementwise kernels on whole contiguous matrices (`shaders/elementwise.wgsl`):
//! y = alpha·x + beta·y, y = alpha·x, y = alpha·diag(d)·x, y = alpha·x·diag(d).
//!
//! Storage: column-major, contiguous. Cost: one pass over x (and y, d), O(rows·cols).
//! One invocation per element in a 2-D grid of 256-wide workgroups, so any length that fits a
//! binding can be dispatched.

use linops_core::{Error, Result};

use crate::kernels::{check_distinct, check_shape, check_vector, grid_2d, to_u32};
use crate::{GpuEncoder, GpuMat};

/// Which side a diagonal scaling multiplies from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// y = alpha·diag(d)·x: d has one entry per row of x.
    Left,
    /// y = alpha·x·diag(d): d has one entry per column of x.
    Right,
}

/// Workgroup size of the elementwise kernels (`WG` override).
const WG: u32 = 256;

crate::uniform_struct! {
    /// Uniform block of `elementwise.wgsl` (`EwParams`).
    struct EwParams in "elementwise" {
        len: u32,
        rows: u32,
        alpha: f32,
        beta: f32,
        offset: u32,
        _pad0: u32,
        _pad1: u32,
        _pad2: u32,
    }
}

impl GpuEncoder {
    /// Records one elementwise dispatch over `x`'s elements.
    fn elementwise(
        &mut self,
        entry: &'static str,
        x: &GpuMat,
        d: Option<&GpuMat>,
        y: &GpuMat,
        alpha: f32,
        beta: f32,
    ) -> Result<()> {
        let mut mats = vec![(0, x), (2, y)];
        if let Some(d) = d {
            mats.push((1, d));
        }
        self.elementwise_at(entry, x, &mats, (alpha, beta), 0)
    }

    /// Records one elementwise dispatch over the elements of `over`, binding `mats`.
    fn elementwise_at(
        &mut self,
        entry: &'static str,
        over: &GpuMat,
        mats: &[(u32, &GpuMat)],
        (alpha, beta): (f32, f32),
        offset: usize,
    ) -> Result<()> {
        let params = EwParams {
            len: to_u32("elements", over.len())?,
            rows: to_u32("rows", over.rows())?,
            alpha,
            beta,
            offset: to_u32("offset", offset)?,
            _pad0: 0,
            _pad1: 0,
            _pad2: 0,
        };
        let max = self.device.limits().max_compute_workgroups_per_dimension;
        let groups =
            self.check_workgroups(entry, grid_2d(over.len() as u64, u64::from(WG), max))?;
        self.record(
            entry,
            &[("WG", f64::from(WG))],
            mats,
            bytemuck::bytes_of(&params),
            3,
            groups,
        )
    }

    /// Records y = alpha·x + beta·y (elementwise; y is not read when beta == 0).
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if x and y differ in shape; [`Error::InvalidArgument`] if y is x
    /// or a matrix of another device; [`Error::Backend`] on device errors.
    ///
    /// # Examples
    /// ```
    /// # let Ok(dev) = linops_gpu::GpuDevice::new(&Default::default()) else { return };
    /// let x = dev.upload(2, 1, &[1.0, 2.0]).unwrap();
    /// let y = dev.upload(2, 1, &[10.0, 20.0]).unwrap();
    /// let mut enc = dev.encoder();
    /// enc.axpby(2.0, &x, 1.0, &y).unwrap();
    /// enc.submit().unwrap();
    /// assert_eq!(dev.download(&y).unwrap(), vec![12.0, 24.0]);
    /// ```
    pub fn axpby(&mut self, alpha: f32, x: &GpuMat, beta: f32, y: &GpuMat) -> Result<()> {
        check_shape("axpby: y against x", y, x.rows(), x.cols())?;
        check_distinct("axpby", y, &[x])?;
        self.elementwise("axpby", x, None, y, alpha, beta)
    }

    /// Records y = alpha·x (alpha = 1 copies).
    ///
    /// # Errors
    /// As [`axpby`](Self::axpby).
    ///
    /// # Examples
    /// ```
    /// # let Ok(dev) = linops_gpu::GpuDevice::new(&Default::default()) else { return };
    /// let x = dev.upload(1, 2, &[1.0, -2.0]).unwrap();
    /// let y = dev.alloc(1, 2).unwrap();
    /// let mut enc = dev.encoder();
    /// enc.scale(-1.0, &x, &y).unwrap();
    /// enc.submit().unwrap();
    /// assert_eq!(dev.download(&y).unwrap(), vec![-1.0, 2.0]);
    /// ```
    pub fn scale(&mut self, alpha: f32, x: &GpuMat, y: &GpuMat) -> Result<()> {
        check_shape("scale: y against x", y, x.rows(), x.cols())?;
        check_distinct("scale", y, &[x])?;
        self.elementwise("scale", x, None, y, alpha, 0.0)
    }

    /// Records y = alpha·diag(d)·x ([`Side::Left`], d has x.rows() entries) or
    /// y = alpha·x·diag(d) ([`Side::Right`], d has x.cols() entries).
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if d is not a vector of the right length or y differs from x in
    /// shape; [`Error::InvalidArgument`] if y is x or d, or a matrix of another device;
    /// [`Error::Backend`] on device errors.
    ///
    /// # Examples
    /// ```
    /// # let Ok(dev) = linops_gpu::GpuDevice::new(&Default::default()) else { return };
    /// use linops_gpu::Side;
    /// let x = dev.upload(2, 2, &[1.0, 1.0, 1.0, 1.0]).unwrap();
    /// let d = dev.upload(2, 1, &[2.0, 3.0]).unwrap();
    /// let y = dev.alloc(2, 2).unwrap();
    /// let mut enc = dev.encoder();
    /// enc.diag_scale(1.0, &d, &x, &y, Side::Left).unwrap();
    /// enc.submit().unwrap();
    /// assert_eq!(dev.download(&y).unwrap(), vec![2.0, 3.0, 2.0, 3.0]);
    /// ```
    pub fn diag_scale(
        &mut self,
        alpha: f32,
        d: &GpuMat,
        x: &GpuMat,
        y: &GpuMat,
        side: Side,
    ) -> Result<()> {
        let (len, entry) = match side {
            Side::Left => (x.rows(), "diag_scale_left"),
            Side::Right => (x.cols(), "diag_scale_right"),
        };
        check_vector(&format!("{entry}: d"), d, len)?;
        check_shape(&format!("{entry}: y against x"), y, x.rows(), x.cols())?;
        check_distinct(entry, y, &[x, d])?;
        if x.rows() == 0 {
            return Err(Error::EmptyDimension {
                context: entry.into(),
                rows: 0,
                cols: x.cols(),
            });
        }
        self.elementwise(entry, x, Some(d), y, alpha, 0.0)
    }

    /// Records y = alpha in every element.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if y belongs to another device; [`Error::Backend`] on device
    /// errors.
    ///
    /// # Examples
    /// ```
    /// # let Ok(dev) = linops_gpu::GpuDevice::new(&Default::default()) else { return };
    /// let y = dev.alloc(1, 3).unwrap();
    /// let mut enc = dev.encoder();
    /// enc.fill(0.0, &y).unwrap();
    /// enc.submit().unwrap();
    /// assert_eq!(dev.download(&y).unwrap(), vec![0.0; 3]);
    /// ```
    pub fn fill(&mut self, alpha: f32, y: &GpuMat) -> Result<()> {
        self.elementwise_at("fill", y, &[(2, y)], (alpha, 0.0), 0)
    }

    /// Records y\[:, offset..offset + x.cols()\] = x (a column-block copy).
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if the row counts differ or the block does not fit in y;
    /// [`Error::InvalidArgument`] if y is x, a matrix of another device, or an index overflows
    /// u32; [`Error::Backend`] on device errors.
    ///
    /// # Examples
    /// ```
    /// # let Ok(dev) = linops_gpu::GpuDevice::new(&Default::default()) else { return };
    /// let x = dev.upload(2, 1, &[1.0, 2.0]).unwrap();
    /// let y = dev.zeros(2, 3).unwrap();
    /// let mut enc = dev.encoder();
    /// enc.copy_cols(&x, 1, &y).unwrap();
    /// enc.submit().unwrap();
    /// assert_eq!(dev.download(&y).unwrap(), vec![0.0, 0.0, 1.0, 2.0, 0.0, 0.0]);
    /// ```
    pub fn copy_cols(&mut self, x: &GpuMat, offset: usize, y: &GpuMat) -> Result<()> {
        if x.rows() != y.rows() || offset.checked_add(x.cols()).is_none_or(|e| e > y.cols()) {
            return Err(Error::ShapeMismatch {
                context: "copy_cols: x into y".into(),
                expected: format!(
                    "x of {} rows and at most {} columns from column {offset}",
                    y.rows(),
                    y.cols().saturating_sub(offset)
                ),
                found: format!("{}x{}", x.rows(), x.cols()),
            });
        }
        check_distinct("copy_cols", y, &[x])?;
        // offset·rows ≤ y.len(), which fits the binding; to_u32 checks it fits the shader.
        let start = offset * y.rows();
        to_u32("copy_cols: end of the block", start + x.len())?;
        self.elementwise_at("copy_cols", x, &[(0, x), (2, y)], (1.0, 0.0), start)
    }
}

crate::backend::gpu_kernel!(linops_core::plan::kernel::Axpby, |kernel, cx, args, out| {
    cx.enc
        .axpby(kernel.alpha as f32, args.mat(0)?, kernel.beta as f32, out)
});

crate::backend::gpu_kernel!(
    linops_core::plan::kernel::DiagScale,
    |kernel, cx, args, out| {
        let alpha = kernel.alpha as f32;
        if kernel.beta == 0.0 {
            return cx
                .enc
                .diag_scale(alpha, args.mat(0)?, args.mat(1)?, out, Side::Left);
        }
        let t = cx.dev.alloc(out.rows(), out.cols())?;
        cx.enc
            .diag_scale(alpha, args.mat(0)?, args.mat(1)?, &t, Side::Left)?;
        cx.enc.axpby(1.0, &t, kernel.beta as f32, out)?;
        cx.scratch.push(t);
        Ok(())
    }
);

crate::backend::gpu_kernel!(
    linops_core::plan::kernel::CopyCols,
    |kernel, cx, args, out| cx.enc.copy_cols(args.mat(0)?, kernel.offset, out)
);
