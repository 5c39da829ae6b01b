//! Batched block GEMM on the cooperative-matrix tier (`shaders/coop_block_gemm.wgsl`): one
//! dispatch computes `Y_t = alpha·h(op(W_t))·h(X_t) + beta·Y_t` for every block `t`, `h` the
//! f16 or bf16 input conversion of [`HalfInput`], f32 accumulation; the half-precision
//! counterpart of [`block_gemm`](super::block_gemm) (block-diagonal operators and Monarch
//! factors), behind the same runtime check as [`CoopGemm`].
//!
//! Storage (as `block_gemm`): `W` holds the blocks side by side (`br × b·bc`, block `t`
//! column-major at `t·br·bc`, `op(W_t)` is `m×k`); `X` is `b·k × n` and `Y` is `b·m × n`,
//! column-major; block `t` reads and writes the rows [`BlockLayout`] assigns to it. For bf16 the
//! power-of-two scale is one per operand (all of `W`, all of `X`), so a block whose entries are
//! much smaller than the operand's largest meets f16's subnormal range sooner (docs/accuracy.md).
//!
//! Error: per block, that of [`CoopGemm::gemm_with`] with `k` the block's inner size, plus one
//! f32 rounding for `alpha` and one for adding `beta·Y`.
//!
//! Cost: `2·b·m·k·n` FLOPs in one dispatch, grid `(⌈m/16⌉, ⌈n/16⌉, b)` of one subgroup each
//! (bf16: after two `coop_absmax` passes over `W` and `X`, in the same submission).

use linops_core::{BlockLayout, Error, Result};

use crate::GpuMat;
use crate::kernels::coop_convert::HalfInput;
use crate::kernels::coop_gemm::CoopGemm;
use crate::kernels::{check_distinct, check_shape, to_u32};

/// Arguments of [`CoopGemm::block_gemm`]; see the module docs (the fields of
/// [`BlockGemmArgs`](crate::BlockGemmArgs) but the tile, plus the input format).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CoopBlockGemmArgs {
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
    /// The half-precision format of `W` and `X` on the tensor cores.
    pub input: HalfInput,
}

/// Uniform block of `coop_block_gemm.wgsl` (`CoopBlockGemmParams`).
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct CoopBlockGemmParams {
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

impl CoopBlockGemmArgs {
    /// Checks `W`, `X` and `Y` against these arguments, as [`CoopGemm::block_gemm`] does before
    /// anything runs (on any device: the checks need no tensor cores).
    ///
    /// # Errors
    /// [`Error::EmptyDimension`] if `blocks`, `m`, `k` or `n` is 0; [`Error::ShapeMismatch`]
    /// unless `W` is `br × b·bc` (the stored blocks), `X` is `b·k × n` and `Y` is `b·m × n`;
    /// [`Error::InvalidArgument`] if `Y` shares storage with `W` or `X`, or a size exceeds u32.
    ///
    /// # Examples
    /// ```
    /// # let Ok(dev) = linops_gpu::GpuDevice::new(&Default::default()) else { return };
    /// use linops_core::BlockLayout;
    /// use linops_gpu::kernels::{coop_block_gemm::CoopBlockGemmArgs, coop_convert::HalfInput};
    /// let args = CoopBlockGemmArgs { blocks: 2, m: 3, k: 4, n: 5, trans: false,
    ///     x_layout: BlockLayout::Contiguous, y_layout: BlockLayout::Strided,
    ///     alpha: 1.0, beta: 0.0, input: HalfInput::Bf16 };
    /// let (w, x) = (dev.alloc(3, 8).unwrap(), dev.alloc(8, 5).unwrap());
    /// assert!(args.check(&w, &x, &dev.alloc(6, 5).unwrap()).is_ok());
    /// assert!(args.check(&w, &x, &dev.alloc(5, 5).unwrap()).is_err()); // Y needs 2·3 rows
    /// ```
    pub fn check(&self, w: &GpuMat, x: &GpuMat, y: &GpuMat) -> Result<()> {
        self.params(w, x, y).map(|_| ())
    }

    /// The checks of [`CoopBlockGemmArgs::check`], and the shader's parameters.
    fn params(&self, w: &GpuMat, x: &GpuMat, y: &GpuMat) -> Result<CoopBlockGemmParams> {
        let g = self;
        if g.blocks == 0 || g.m == 0 || g.k == 0 || g.n == 0 {
            return Err(Error::EmptyDimension {
                context: format!(
                    "coop_block_gemm (blocks={}, m={}, k={}, n={})",
                    g.blocks, g.m, g.k, g.n
                ),
                rows: g.m,
                cols: g.k,
            });
        }
        let mul = |a: usize, b: usize, what: &str| {
            a.checked_mul(b).ok_or_else(|| {
                Error::InvalidArgument(format!("coop_block_gemm: {what} = {a}·{b} overflows"))
            })
        };
        let (br, bc) = if g.trans { (g.k, g.m) } else { (g.m, g.k) };
        check_shape("coop_block_gemm: W", w, br, mul(bc, g.blocks, "W columns")?)?;
        check_shape("coop_block_gemm: X", x, mul(g.blocks, g.k, "X rows")?, g.n)?;
        check_shape("coop_block_gemm: Y", y, mul(g.blocks, g.m, "Y rows")?, g.n)?;
        check_distinct("coop_block_gemm", y, &[w, x])?;
        to_u32("W elements", w.len())?;
        to_u32("X elements", x.len())?;
        to_u32("Y elements", y.len())?;
        let (x_step, x_rs) = g.x_layout.step_and_stride(g.blocks, g.k);
        let (y_step, y_rs) = g.y_layout.step_and_stride(g.blocks, g.m);
        let flags = u32::from(g.beta == 0.0)
            | (u32::from(g.trans) << 1)
            | (u32::from(g.input == HalfInput::Bf16) << 2);
        Ok(CoopBlockGemmParams {
            m: to_u32("m", g.m)?,
            n: to_u32("n", g.n)?,
            k: to_u32("k", g.k)?,
            flags,
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
        })
    }
}

impl CoopGemm {
    /// `Y_t = alpha·h(op(W_t))·h(X_t) + beta·Y_t` for all blocks in one dispatch (submitted).
    ///
    /// # Errors
    /// Those of [`CoopBlockGemmArgs::check`]; [`Error::InvalidArgument`] for matrices of
    /// another device; [`Error::DeviceLimit`] if the grid does not fit the device;
    /// [`Error::Backend`] on device errors.
    ///
    /// # Examples
    /// ```
    /// # let Ok(dev) = linops_gpu::GpuDevice::new(&Default::default()) else { return };
    /// use linops_core::BlockLayout;
    /// use linops_gpu::kernels::{coop_block_gemm::CoopBlockGemmArgs, coop_convert::HalfInput,
    ///     coop_gemm::CoopGemm};
    /// let Ok(g) = CoopGemm::new(&dev) else { return }; // no tensor cores here
    /// // Two 1x1 blocks [2], [3] applied to x = [1, 1]: y = [2, 3].
    /// let w = dev.upload(1, 2, &[2.0, 3.0]).unwrap();
    /// let x = dev.upload(2, 1, &[1.0, 1.0]).unwrap();
    /// let y = dev.alloc(2, 1).unwrap();
    /// let args = CoopBlockGemmArgs { blocks: 2, m: 1, k: 1, n: 1, trans: false,
    ///     x_layout: BlockLayout::Contiguous, y_layout: BlockLayout::Contiguous,
    ///     alpha: 1.0, beta: 0.0, input: HalfInput::Bf16 };
    /// g.block_gemm(&args, &w, &x, &y).unwrap();
    /// assert_eq!(dev.download(&y).unwrap(), vec![2.0, 3.0]);
    /// ```
    pub fn block_gemm(
        &self,
        args: &CoopBlockGemmArgs,
        w: &GpuMat,
        x: &GpuMat,
        y: &GpuMat,
    ) -> Result<()> {
        let params = args.params(w, x, y)?;
        for (what, m) in [("W", w), ("X", x), ("Y", y)] {
            self.dev
                .check_owned(&format!("coop_block_gemm: {what}"), m)?;
        }
        let groups = self.grid("coop_block_gemm", args.m, args.n, args.blocks)?;
        self.run(
            "coop_block_gemm",
            &self.block_pipeline,
            [w, x, y],
            bytemuck::bytes_of(&params),
            args.input,
            groups,
        )
    }
}
