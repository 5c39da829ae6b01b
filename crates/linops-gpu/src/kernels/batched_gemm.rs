//! Batched GEMM over batches of whole matrices stored side by side (`shaders/batched_gemm.wgsl`):
//! one dispatch computes `C_t = alpha·op(A_t)·B_t + beta·C_t` for every matrix `t` (the Gram
//! matrices, `X_t·R_t⁻¹` and Newton–Schulz products of the batched drivers).
//!
//! Storage: a batch of `b` matrices of `r×c` is one column-major `r × b·c` matrix, matrix `t` at
//! `t·r·c` (leading dimension `r`). `A` is `ar × b·ac` with `op(A_t)` `m×k`, `B` is `k × b·n`,
//! `C` is `m × b·n`.
//!
//! Cost: `2·b·m·k·n` FLOPs in one launch, grid `(⌈m/TM⌉, ⌈n/TN⌉, b)`. The tile is chosen like the
//! GEMM's by occupancy over the whole batch ([`GemmTile`]).

use linops_core::{Error, Result};

use crate::kernels::gemm::TileRule;
use crate::kernels::{check_distinct, check_shape, to_u32};
use crate::{GemmTile, GpuEncoder, GpuMat};

/// Arguments of [`GpuEncoder::batched_gemm`]; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchedGemmArgs {
    /// Number of matrices `b` in each operand.
    pub batch: usize,
    /// Rows of `op(A_t)` and `C_t`.
    pub m: usize,
    /// Columns of `op(A_t)`, rows of `B_t`.
    pub k: usize,
    /// Columns of `B_t` and `C_t`.
    pub n: usize,
    /// Use `A_tᵀ` (`A_t` stored `k×m`).
    pub trans_a: bool,
    /// Scale of the products.
    pub alpha: f32,
    /// Scale of the old `C` (0: `C` is not read).
    pub beta: f32,
    /// Tile configuration (`Auto`: by occupancy and the device limits).
    pub tile: GemmTile,
}

crate::uniform_struct! {
    /// Uniform block of `batched_gemm.wgsl` (`BatchedGemmParams`).
    struct BatchedGemmParams in "batched_gemm" {
        m: u32,
        n: u32,
        k: u32,
        flags: u32,
        lda: u32,
        ldb: u32,
        ldc: u32,
        stride_a: u32,
        stride_b: u32,
        stride_c: u32,
        alpha: f32,
        beta: f32,
    }
}

impl GpuEncoder {
    /// Records `C_t = alpha·op(A_t)·B_t + beta·C_t` for every matrix of the batch in one
    /// dispatch.
    ///
    /// # Errors
    /// [`Error::EmptyDimension`] if `batch`, `m`, `k` or `n` is 0; [`Error::ShapeMismatch`]
    /// unless `A` holds `batch` matrices of `op(A_t)` (`m×k`, stored `k×m` when `trans_a`), `B`
    /// is `k × batch·n` and `C` is `m × batch·n`; [`Error::InvalidArgument`] if `C` shares
    /// storage with `A` or `B`, or a size exceeds u32; [`Error::DeviceLimit`] if the grid or
    /// tile does not fit the device; [`Error::Backend`] on device errors.
    ///
    /// # Examples
    /// ```
    /// # let Ok(dev) = linops_gpu::GpuDevice::new(&Default::default()) else { return };
    /// use linops_gpu::{BatchedGemmArgs, GemmTile};
    /// // Two 1x1 products: [2]·[5] and [3]·[7].
    /// let a = dev.upload(1, 2, &[2.0, 3.0]).unwrap();
    /// let b = dev.upload(1, 2, &[5.0, 7.0]).unwrap();
    /// let c = dev.alloc(1, 2).unwrap();
    /// let args = BatchedGemmArgs { batch: 2, m: 1, k: 1, n: 1, trans_a: false,
    ///     alpha: 1.0, beta: 0.0, tile: GemmTile::Auto };
    /// let mut enc = dev.encoder();
    /// enc.batched_gemm(&args, &a, &b, &c).unwrap();
    /// enc.submit().unwrap();
    /// assert_eq!(dev.download(&c).unwrap(), vec![10.0, 21.0]);
    /// ```
    pub fn batched_gemm(
        &mut self,
        args: &BatchedGemmArgs,
        a: &GpuMat,
        b: &GpuMat,
        c: &GpuMat,
    ) -> Result<()> {
        let g = args;
        if g.batch == 0 || g.m == 0 || g.k == 0 || g.n == 0 {
            return Err(Error::EmptyDimension {
                context: format!(
                    "batched_gemm (batch={}, m={}, k={}, n={})",
                    g.batch, g.m, g.k, g.n
                ),
                rows: g.m,
                cols: g.k,
            });
        }
        let mul = |x: usize, y: usize, what: &str| {
            x.checked_mul(y)
                .ok_or_else(|| Error::InvalidArgument(format!("batched_gemm: {what} overflows")))
        };
        let (ar, ac) = if g.trans_a { (g.k, g.m) } else { (g.m, g.k) };
        check_shape("batched_gemm: A", a, ar, mul(ac, g.batch, "A columns")?)?;
        check_shape("batched_gemm: B", b, g.k, mul(g.n, g.batch, "B columns")?)?;
        check_shape("batched_gemm: C", c, g.m, mul(g.n, g.batch, "C columns")?)?;
        check_distinct("batched_gemm", c, &[a, b])?;
        // Every index is < len of its buffer: each operand holds exactly `batch` matrices of its
        // stored shape, matrix t at t·stride with stride = rows·cols and ld = rows.
        to_u32("A elements", a.len())?;
        to_u32("B elements", b.len())?;
        to_u32("C elements", c.len())?;
        let params = BatchedGemmParams {
            m: to_u32("m", g.m)?,
            n: to_u32("n", g.n)?,
            k: to_u32("k", g.k)?,
            flags: u32::from(g.beta == 0.0),
            lda: to_u32("lda", ar)?,
            ldb: to_u32("ldb", g.k)?,
            ldc: to_u32("ldc", g.m)?,
            stride_a: to_u32("A matrix size", ar * ac)?,
            stride_b: to_u32("B matrix size", g.k * g.n)?,
            stride_c: to_u32("C matrix size", g.m * g.n)?,
            alpha: g.alpha,
            beta: g.beta,
        };
        let cfg = self.tile_config(g.tile, TileRule::Occupancy(g.m, g.n, g.batch))?;
        self.record_tiled(
            "batched_gemm",
            &cfg,
            [g.m, g.n, g.batch],
            &[("TRANS_A", if g.trans_a { 1.0 } else { 0.0 })],
            &[(0, a), (1, b), (2, c)],
            bytemuck::bytes_of(&params),
            3,
        )
    }
}

crate::backend::gpu_kernel!(
    linops_core::plan::kernel::BatchedGemm,
    |kernel, cx, args, out| {
        if kernel.alpha == 0.0 {
            // BLAS semantics: the products are not formed.
            if kernel.beta == 0.0 {
                return cx.enc.fill(0.0, out);
            }
            let t = cx.dev.alloc(out.rows(), out.cols())?;
            cx.enc.scale(kernel.beta as f32, out, &t)?;
            cx.enc.scale(1.0, &t, out)?;
            cx.scratch.push(t);
            return Ok(());
        }
        let (a, b) = (args.mat(0)?, args.mat(1)?);
        let batch = kernel.batch.max(1);
        let k = b.rows();
        let args = BatchedGemmArgs {
            batch,
            m: out.rows(),
            k,
            n: out.cols() / batch,
            trans_a: kernel.trans_a,
            alpha: kernel.alpha as f32,
            beta: kernel.beta as f32,
            tile: GemmTile::Auto,
        };
        cx.enc.batched_gemm(&args, a, b, out)
    }
);
