//! One Kronecker factor applied to its mode of every column (`shaders/kronecker_gemm.wgsl`):
//! `y = alpha·(I_w ⊗ op(A) ⊗ I_s)·x + beta·y`, with the layout of
//! `linops_core::plan::kernel::KroneckerGemm` (each column an `s × d × w` tensor, `s` fastest).
//!
//! Storage: `A` column-major (`op(A)` is `m×d`, `Aᵀ` when `trans`), x and y contiguous
//! column-major. One invocation per element of y sums its `d` terms in order, reading x with
//! stride `s`: no transpose pass and no temporary. Cost: `2·m·d·s·w` FLOPs per column.

use linops_core::plan::kernel::KroneckerGemm;
use linops_core::{Kernel, Result};

use crate::kernels::{check_distinct, grid_2d, to_u32};
use crate::{GpuEncoder, GpuMat};

/// Workgroup size (`WG` override).
const WG: u32 = 256;

crate::uniform_struct! {
    /// Uniform block of `kronecker_gemm.wgsl` (`KronParams`).
    struct KronParams in "kronecker_gemm" {
        s: u32,
        m: u32,
        d: u32,
        w: u32,
        a_rows: u32,
        trans: u32,
        cols: u32,
        _pad0: u32,
        alpha: f32,
        beta: f32,
        _pad1: u32,
        _pad2: u32,
    }
}

impl GpuEncoder {
    /// Records one Kronecker mode step `y = alpha·(I_w ⊗ op(A) ⊗ I_s)·x + beta·y` (see the
    /// module docs; `step.alpha` and `step.beta` are used in f32); y is not read when `beta == 0`.
    ///
    /// # Errors
    /// [`linops_core::Error::ShapeMismatch`] when the shapes do not fit the step (the core's own
    /// check: x of `s·d·w` rows, y of `s·m·w`, equal columns);
    /// [`linops_core::Error::InvalidArgument`] if y is an input or a size does not fit u32
    /// indices; [`linops_core::Error::DeviceLimit`] if the grid does not fit the device;
    /// [`linops_core::Error::Backend`] on device errors.
    ///
    /// # Examples
    /// ```
    /// use linops_core::plan::kernel::KroneckerGemm;
    /// # let Ok(dev) = linops_gpu::GpuDevice::new(&Default::default()) else { return };
    /// // (A ⊗ I_2)·x with A = [[1, 2]] (1×2): y[u] = x[u] + 2·x[2 + u].
    /// let a = dev.upload(1, 2, &[1.0, 2.0]).unwrap();
    /// let x = dev.upload(4, 1, &[1.0, 2.0, 3.0, 4.0]).unwrap();
    /// let y = dev.alloc(2, 1).unwrap();
    /// let step = KroneckerGemm { inner: 2, trans: false, alpha: 1.0, beta: 0.0 };
    /// let mut enc = dev.encoder();
    /// enc.kronecker_gemm(&step, &a, &x, &y).unwrap();
    /// enc.submit().unwrap();
    /// assert_eq!(dev.download(&y).unwrap(), vec![7.0, 10.0]);
    /// ```
    pub fn kronecker_gemm(
        &mut self,
        step: &KroneckerGemm,
        a: &GpuMat,
        x: &GpuMat,
        y: &GpuMat,
    ) -> Result<()> {
        let shapes = [(a.rows(), a.cols()), (x.rows(), x.cols())];
        let out = (y.rows(), y.cols());
        // The core's shape rule (one home).
        Kernel::from(*step).cost(&shapes, out)?;
        let (s, m, d, w) = step
            .dims(shapes[0], shapes[1], out)
            .expect("shapes accepted by the cost check");
        check_distinct("kronecker_gemm", y, &[a, x])?;
        // Indices: x below x.len(), y below y.len(), a below a.len() (all checked to fit u32).
        to_u32("kronecker_gemm: elements of x", x.len())?;
        to_u32("kronecker_gemm: elements of y", y.len())?;
        to_u32("kronecker_gemm: elements of A", a.len())?;
        let params = KronParams {
            s: s as u32,
            m: m as u32,
            d: d as u32,
            w: w as u32,
            a_rows: a.rows() as u32,
            trans: u32::from(step.trans),
            cols: y.cols() as u32,
            _pad0: 0,
            alpha: step.alpha as f32,
            beta: step.beta as f32,
            _pad1: 0,
            _pad2: 0,
        };
        let max = self.device.limits().max_compute_workgroups_per_dimension;
        let grid = self.check_workgroups(
            "kronecker_gemm",
            grid_2d(y.len() as u64, u64::from(WG), max),
        )?;
        self.record(
            "kronecker_gemm",
            &[("WG", f64::from(WG))],
            &[(0, a), (1, x), (2, y)],
            bytemuck::bytes_of(&params),
            3,
            grid,
        )
    }
}

crate::backend::gpu_kernel!(KroneckerGemm, |kernel, cx, args, out| {
    cx.enc
        .kronecker_gemm(kernel, args.mat(0)?, args.mat(1)?, out)
});
