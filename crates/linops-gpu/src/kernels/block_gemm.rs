//! Batched block GEMM with row-strided operands (`shaders/block_gemm.wgsl`): one dispatch computes
//! `Y_t = alpha·op(W_t)·X_t + beta·Y_t` for every block `t` (block-diagonal operators, and both
//! factors of a Monarch operator with its perfect shuffles folded into the row indexing).
//!
//! Storage: `W` holds the blocks side by side (`br × b·bc`, block `t` column-major at `t·br·bc`,
//! `op(W_t)` is `m×k`); `X` is `b·k × n` and `Y` is `b·m × n`, column-major; block `t` reads and
//! writes the rows [`BlockLayout`] assigns to it (row stride 1 or `b`, no copy).
//!
//! Cost: `2·b·m·k·n` FLOPs in one launch, grid `(⌈m/TM⌉, ⌈n/TN⌉, b)`: one workgroup tile per block
//! (and per tile of the batch columns). The tile is the smallest of the GEMM configurations
//! ([`GemmTile`]) whose rows cover `m` (T32, T64, T128) among those that fit the device.

use linops_core::{BlockLayout, Error, Result};

use crate::kernels::gemm::TileRule;
use crate::kernels::{check_distinct, check_shape, to_u32};
use crate::{GemmTile, GpuEncoder, GpuMat};

/// Arguments of [`GpuEncoder::block_gemm`]; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlockGemmArgs {
    /// Number of blocks `b`.
    pub blocks: usize,
    /// Rows of `op(W_t)` (rows of `Y` per block).
    pub m: usize,
    /// Columns of `op(W_t)` (rows of `X` per block).
    pub k: usize,
    /// Columns of `X` and `Y`.
    pub n: usize,
    /// Use `W_tᵀ` (blocks stored `k×m`).
    pub trans: bool,
    /// Rows of `X` owned by each block.
    pub x_layout: BlockLayout,
    /// Rows of `Y` owned by each block.
    pub y_layout: BlockLayout,
    /// Scale of the product.
    pub alpha: f32,
    /// Scale of the old `Y` (0: `Y` is not read).
    pub beta: f32,
    /// Tile configuration (`Auto`: by `m` and the device limits).
    pub tile: GemmTile,
}

crate::uniform_struct! {
    /// Uniform block of `block_gemm.wgsl` (`BlockGemmParams`).
    struct BlockGemmParams in "block_gemm" {
        m: u32,
        n: u32,
        k: u32,
        flags: u32,
        lda: u32,
        a_stride: u32,
        ldx: u32,
        ldy: u32,
        x_step: u32,
        x_rs: u32,
        y_step: u32,
        y_rs: u32,
        alpha: f32,
        beta: f32,
        _pad0: u32,
        _pad1: u32,
    }
}

impl GpuEncoder {
    /// Records `Y_t = alpha·op(W_t)·X_t + beta·Y_t` for all blocks in one dispatch.
    ///
    /// # Errors
    /// [`Error::EmptyDimension`] if `blocks`, `m`, `k` or `n` is 0; [`Error::ShapeMismatch`] unless
    /// `W` is `br × b·bc` (the stored blocks), `X` is `b·k × n` and `Y` is `b·m × n`;
    /// [`Error::InvalidArgument`] if `Y` shares storage with `W` or `X`, or a size exceeds u32;
    /// [`Error::DeviceLimit`] if the grid or tile does not fit the device; [`Error::Backend`] on
    /// device errors.
    ///
    /// # Examples
    /// ```
    /// # let Ok(dev) = linops_gpu::GpuDevice::new(&Default::default()) else { return };
    /// use linops_core::BlockLayout;
    /// use linops_gpu::{BlockGemmArgs, GemmTile};
    /// // Two 1x1 blocks [2], [3] applied to x = [1, 1]: y = [2, 3].
    /// let w = dev.upload(1, 2, &[2.0, 3.0]).unwrap();
    /// let x = dev.upload(2, 1, &[1.0, 1.0]).unwrap();
    /// let y = dev.alloc(2, 1).unwrap();
    /// let args = BlockGemmArgs { blocks: 2, m: 1, k: 1, n: 1, trans: false,
    ///     x_layout: BlockLayout::Contiguous, y_layout: BlockLayout::Contiguous,
    ///     alpha: 1.0, beta: 0.0, tile: GemmTile::Auto };
    /// let mut enc = dev.encoder();
    /// enc.block_gemm(&args, &w, &x, &y).unwrap();
    /// enc.submit().unwrap();
    /// assert_eq!(dev.download(&y).unwrap(), vec![2.0, 3.0]);
    /// ```
    pub fn block_gemm(
        &mut self,
        args: &BlockGemmArgs,
        w: &GpuMat,
        x: &GpuMat,
        y: &GpuMat,
    ) -> Result<()> {
        let g = args;
        if g.blocks == 0 || g.m == 0 || g.k == 0 || g.n == 0 {
            return Err(Error::EmptyDimension {
                context: format!(
                    "block_gemm (blocks={}, m={}, k={}, n={})",
                    g.blocks, g.m, g.k, g.n
                ),
                rows: g.m,
                cols: g.k,
            });
        }
        let mul = |a: usize, b: usize, what: &str| {
            a.checked_mul(b)
                .ok_or_else(|| Error::InvalidArgument(format!("block_gemm: {what} overflows")))
        };
        let (br, bc) = if g.trans { (g.k, g.m) } else { (g.m, g.k) };
        check_shape("block_gemm: W", w, br, mul(bc, g.blocks, "W columns")?)?;
        check_shape("block_gemm: X", x, mul(g.blocks, g.k, "X rows")?, g.n)?;
        check_shape("block_gemm: Y", y, mul(g.blocks, g.m, "Y rows")?, g.n)?;
        check_distinct("block_gemm", y, &[w, x])?;
        // Every index below is < len of its buffer: the layouts are bijections onto the rows
        // (row ≤ blocks·rows − 1), columns < n, and W is exactly the stored blocks.
        to_u32("W elements", w.len())?;
        to_u32("X elements", x.len())?;
        to_u32("Y elements", y.len())?;
        let (x_step, x_rs) = g.x_layout.step_and_stride(g.blocks, g.k);
        let (y_step, y_rs) = g.y_layout.step_and_stride(g.blocks, g.m);
        let params = BlockGemmParams {
            m: to_u32("m", g.m)?,
            n: to_u32("n", g.n)?,
            k: to_u32("k", g.k)?,
            flags: u32::from(g.beta == 0.0),
            lda: to_u32("lda", br)?,
            a_stride: to_u32("block size", br * bc)?,
            ldx: to_u32("ldx", x.rows())?,
            ldy: to_u32("ldy", y.rows())?,
            x_step: to_u32("x_step", x_step)?,
            x_rs: to_u32("x_rs", x_rs)?,
            y_step: to_u32("y_step", y_step)?,
            y_rs: to_u32("y_rs", y_rs)?,
            alpha: g.alpha,
            beta: g.beta,
            _pad0: 0,
            _pad1: 0,
        };
        let cfg = self.tile_config(g.tile, TileRule::CoverRows(g.m))?;
        self.record_tiled(
            "block_gemm",
            &cfg,
            [g.m, g.n, g.blocks],
            &[("TRANS_A", if g.trans { 1.0 } else { 0.0 })],
            &[(0, w), (1, x), (2, y)],
            bytemuck::bytes_of(&params),
            3,
        )
    }
}

crate::backend::gpu_kernel!(
    linops_core::plan::kernel::BlockGemm,
    |kernel, cx, args, out| {
        let (w, x) = (args.mat(0)?, args.mat(1)?);
        let block = BlockGemmArgs {
            blocks: kernel.blocks,
            m: out.rows() / kernel.blocks.max(1),
            k: x.rows() / kernel.blocks.max(1),
            n: out.cols(),
            trans: kernel.trans,
            x_layout: kernel.x_layout,
            y_layout: kernel.y_layout,
            alpha: kernel.alpha as f32,
            beta: kernel.beta as f32,
            tile: GemmTile::Auto,
        };
        cx.enc.block_gemm(&block, w, x, out)
    }
);
