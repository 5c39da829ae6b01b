//! `sketch_gemm` (`shaders/sketch_gemm.wgsl`, with `philox.wgsl` prepended):
//! `C = alpha·op(G)·X + beta·C` where the random matrix `G` is generated tile by tile in
//! workgroup memory from its `RngState` and never stored.
//!
//! Storage: `X` is `k×n` and `C` is `m×n`, whole contiguous column-major matrices; `op(G)` is
//! `m×k` (`G` is `rows×cols`, transposed when `trans`). Tiling as the GEMM ([`GemmTile`],
//! chosen by the same rule); every configuration has `TM % 4 == 0` and `BK % 4 == 0`, so Philox
//! blocks (four rows of one column of `G`) never straddle a tile.
//!
//! Cost: `2·m·n·k` flops plus `m·k` generated entries per column tile of `C` (`⌈n/TN⌉` times);
//! memory traffic is `X` and `C` only.

use linops_core::plan::kernel::SketchGemm;
use linops_core::{Error, Result};

use crate::kernels::gemm::TileRule;
use crate::kernels::{check_distinct, check_shape, to_u32};
use crate::{GemmTile, GpuEncoder, GpuMat};

/// Arguments of [`GpuEncoder::sketch_gemm`]: the plan kernel's own arguments (core's
/// [`SketchGemm`]; `alpha` and `beta` are rounded to f32 here) and the tile to launch with.
///
/// # Examples
/// ```
/// use linops_core::plan::kernel::SketchGemm;
/// use linops_core::rng::{Dist, RngState};
/// let k = SketchGemm { dist: Dist::Gaussian, rng: RngState::new(1), rows: 4, cols: 6,
///     trans: false, alpha: 1.0, beta: 0.0 };
/// assert_eq!(linops_gpu::SketchGemmArgs::new(k).tile, linops_gpu::GemmTile::Auto);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct SketchGemmArgs {
    /// The kernel: `G`'s distribution, generator state and shape, the transpose, the scalars.
    pub kernel: SketchGemm,
    /// Tile configuration.
    pub tile: GemmTile,
}

impl SketchGemmArgs {
    /// The kernel with the tile chosen by the device (`GemmTile::Auto`).
    ///
    /// # Examples
    /// See the type.
    #[must_use]
    pub fn new(kernel: SketchGemm) -> Self {
        SketchGemmArgs {
            kernel,
            tile: GemmTile::Auto,
        }
    }
}

crate::uniform_struct! {
    /// Uniform block of `sketch_gemm.wgsl` (`SketchParams`).
    struct SketchParams in "sketch_gemm" {
        counter: [u32; 4],
        key: [u32; 2],
        m: u32,
        n: u32,
        k: u32,
        flags: u32,
        ldx: u32,
        ldc: u32,
        dist: u32,
        alpha: f32,
        beta: f32,
        _pad0: u32,
    }
}

impl GpuEncoder {
    /// Records `c = alpha·op(G)·x + beta·c` with `G` generated on the fly (see the module docs).
    ///
    /// # Errors
    /// [`Error::EmptyDimension`] for an empty `G`; [`Error::ShapeMismatch`] unless `x` is
    /// `k×n` and `c` is `m×n` for `op(G)` of `m×k`; [`Error::InvalidArgument`] if `c` is `x`, a
    /// dimension exceeds u32, or a matrix belongs to another device; [`Error::DeviceLimit`] if
    /// the dispatch or tile does not fit; [`Error::Backend`] on device errors.
    ///
    /// # Examples
    /// ```
    /// # let Ok(dev) = linops_gpu::GpuDevice::new(&Default::default()) else { return };
    /// use linops_core::rng::{Dist, RngState};
    /// use linops_core::plan::kernel::SketchGemm;
    /// use linops_gpu::SketchGemmArgs;
    /// let s = RngState::new(1);
    /// let x = dev.upload(3, 1, &[1.0, 0.0, 0.0]).unwrap(); // e_0
    /// let c = dev.alloc(2, 1).unwrap();
    /// let args = SketchGemmArgs::new(SketchGemm { dist: Dist::Rademacher, rng: s, rows: 2,
    ///     cols: 3, trans: false, alpha: 1.0, beta: 0.0 });
    /// let mut enc = dev.encoder();
    /// enc.sketch_gemm(&args, &x, &c).unwrap();
    /// enc.submit().unwrap();
    /// assert_eq!(dev.download(&c).unwrap(), vec![s.entry(Dist::Rademacher, 0, 0), s.entry(Dist::Rademacher, 1, 0)]);
    /// ```
    pub fn sketch_gemm(&mut self, args: &SketchGemmArgs, x: &GpuMat, c: &GpuMat) -> Result<()> {
        let a = &args.kernel;
        if a.rows == 0 || a.cols == 0 {
            return Err(Error::EmptyDimension {
                context: "sketch_gemm: G".into(),
                rows: a.rows,
                cols: a.cols,
            });
        }
        let (m, k) = if a.trans {
            (a.cols, a.rows)
        } else {
            (a.rows, a.cols)
        };
        let n = x.cols();
        check_shape("sketch_gemm: X", x, k, n)?;
        check_shape("sketch_gemm: C", c, m, n)?;
        check_distinct("sketch_gemm", c, &[x])?;
        // Rows of G are read up to the next multiple of 4 (the block's first row + 3).
        to_u32("sketch_gemm: rows of G + 3", a.rows.saturating_add(3))?;
        let cfg = self.tile_config(args.tile, TileRule::Occupancy(m, n, 1))?;
        if cfg.tile_m() % 4 != 0 || cfg.bk % 4 != 0 || cfg.rm > 8 || cfg.rn > 8 {
            return Err(Error::InvalidArgument(format!(
                "sketch_gemm: tile {}x{} with BK {} is not a multiple of the 4-row Philox block",
                cfg.tile_m(),
                cfg.tile_n(),
                cfg.bk
            )));
        }
        let params = SketchParams {
            counter: a.rng.counter,
            key: a.rng.key,
            m: to_u32("m", m)?,
            n: to_u32("n", n)?,
            k: to_u32("k", k)?,
            flags: u32::from(a.beta == 0.0),
            ldx: to_u32("ldx", k)?,
            ldc: to_u32("ldc", m)?,
            dist: a.dist.code(),
            alpha: a.alpha as f32,
            beta: a.beta as f32,
            _pad0: 0,
        };
        self.record_tiled(
            "sketch_gemm",
            &cfg,
            [m, n, 1],
            &[("TRANS_G", if a.trans { 1.0 } else { 0.0 })],
            &[(0, x), (1, c)],
            bytemuck::bytes_of(&params),
            2,
        )
    }
}

crate::backend::gpu_kernel!(SketchGemm, |kernel, cx, args, out| {
    cx.enc
        .sketch_gemm(&SketchGemmArgs::new(*kernel), args.mat(0)?, out)
});
