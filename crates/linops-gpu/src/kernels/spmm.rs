//! Sparse (CSR) times dense (`shaders/spmm.wgsl`): `y = alpha·S·x + beta·y`.
//!
//! Storage: `indptr` (m+1 entries) and `indices` (nnz entries) as [`GpuIndices`] vectors bound as
//! `array<u32>`, `vals` (nnz values) as an f32 vector; x is k×b and y m×b, contiguous
//! column-major. Sizes are limited only by the u32 element indices and the binding size. One invocation per
//! element of y sums its row's entries in storage order (no atomics). The host validates every
//! buffer length; the shader clamps the data-dependent row ranges and skips column indices ≥ k,
//! so arbitrary buffer contents stay in bounds. Cost: 2·nnz·b flops.

use linops_core::{Error, Result};

use crate::kernels::{check_distinct, check_shape, check_vector, grid_2d, to_u32};
use crate::{GpuEncoder, GpuIndices, GpuMat};

/// Workgroup size (`WG` override).
const WG: u32 = 256;

crate::uniform_struct! {
    /// Uniform block of `spmm.wgsl` (`SpmmParams`).
    struct SpmmParams in "spmm" {
        m: u32,
        k: u32,
        b: u32,
        nnz: u32,
        alpha: f32,
        beta: f32,
        _pad0: u32,
        _pad1: u32,
    }
}

impl GpuEncoder {
    /// Records `y = alpha·S·x + beta·y` for `S` in CSR form (`y` is not read when beta == 0).
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if `indptr` has not `y.rows() + 1` entries, `indices` and `vals`
    /// differ in length (or `vals` is not a vector), or x and y differ in columns;
    /// [`Error::InvalidArgument`] if y is one of the inputs or a size does not fit u32;
    /// [`Error::Backend`] on device errors.
    ///
    /// # Examples
    /// ```
    /// # let Ok(dev) = linops_gpu::GpuDevice::new(&Default::default()) else { return };
    /// // S = [[0, 2], [1, 0]]
    /// let p = dev.upload_indices(&[0, 1, 2]).unwrap();
    /// let i = dev.upload_indices(&[1, 0]).unwrap();
    /// let v = dev.upload(2, 1, &[2.0, 1.0]).unwrap();
    /// let x = dev.upload(2, 1, &[10.0, 20.0]).unwrap();
    /// let y = dev.alloc(2, 1).unwrap();
    /// let mut enc = dev.encoder();
    /// enc.spmm(1.0, [&p, &i], &v, &x, 0.0, &y).unwrap();
    /// enc.submit().unwrap();
    /// assert_eq!(dev.download(&y).unwrap(), vec![40.0, 10.0]);
    /// ```
    pub fn spmm(
        &mut self,
        alpha: f32,
        [indptr, indices]: [&GpuIndices; 2],
        vals: &GpuMat,
        x: &GpuMat,
        beta: f32,
        y: &GpuMat,
    ) -> Result<()> {
        let (m, b, k) = (y.rows(), y.cols(), x.rows());
        if indptr.len() != m + 1 {
            return Err(Error::ShapeMismatch {
                context: "spmm: indptr against y".into(),
                expected: format!("{} row pointers (rows of y + 1)", m + 1),
                found: format!("{} row pointers", indptr.len()),
            });
        }
        let nnz = vals.len();
        check_vector("spmm: values", vals, nnz)?;
        if indices.len() != nnz {
            return Err(Error::ShapeMismatch {
                context: "spmm: indices against values".into(),
                expected: format!("{nnz} column indices (one per value)"),
                found: format!("{} column indices", indices.len()),
            });
        }
        check_shape("spmm: x columns against y", x, k, b)?;
        check_distinct("spmm", y, &[indptr.storage(), indices.storage(), vals, x])?;
        if m * b == 0 {
            return Err(Error::EmptyDimension {
                context: "spmm output".into(),
                rows: m,
                cols: b,
            });
        }
        let params = SpmmParams {
            m: to_u32("rows", m)?,
            k: to_u32("cols", k)?,
            b: to_u32("columns of x", b)?,
            nnz: to_u32("nnz", nnz)?,
            alpha,
            beta,
            _pad0: 0,
            _pad1: 0,
        };
        // Flattened indices r + j·m and c + j·k must not wrap.
        to_u32("elements of y", y.len())?;
        to_u32("elements of x", x.len())?;
        let max = self.device.limits().max_compute_workgroups_per_dimension;
        let groups = self.check_workgroups("spmm", grid_2d(y.len() as u64, u64::from(WG), max))?;
        self.record(
            "spmm",
            &[("WG", f64::from(WG))],
            &[
                (0, indptr.storage()),
                (1, indices.storage()),
                (2, vals),
                (3, x),
                (4, y),
            ],
            bytemuck::bytes_of(&params),
            5,
            groups,
        )
    }
}

crate::backend::gpu_kernel!(linops_core::plan::kernel::Spmm, |kernel, cx, args, out| {
    let structure = [args.index(0)?, args.index(1)?];
    let (values, x) = (args.mat(2)?, args.mat(3)?);
    cx.enc.spmm(
        kernel.alpha as f32,
        structure,
        values,
        x,
        kernel.beta as f32,
        out,
    )
});
