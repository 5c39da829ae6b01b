//! Batched GEMM: C_t = alpha·op(A_t)·op(B_t) + beta·C_t for t in 0..batch (`shaders/gemm.wgsl`).
//!
//! Storage: column-major f32; element (i, j) of operand X in batch t at
//! `offset_x + t·stride_x + i + j·ld_x` of X's buffer. op(A_t) is m×k (A stored m×k, or k×m when
//! `trans_a`), op(B_t) is k×n (B stored k×n, or n×k when `trans_b`), C_t is m×n. With beta = 0,
//! C is write-only (NaN or garbage in C does not leak).
//!
//! Cost: 2·m·n·k·batch flops; each workgroup reads (TM + TN)·k values per TM×TN tile of C.
//!
//! Tiling: a workgroup of WG_X×WG_Y invocations computes a TM×TN = (WG_X·RM)×(WG_Y·RN) tile of
//! C, each invocation an RM×RN register micro-tile, staging BK-deep slices of op(A) and op(B) in
//! workgroup memory. [`GemmTile`] names the three configurations; `Auto` picks the largest that
//! fits the device limits and still gives enough workgroups to fill a large GPU.

use linops_core::{Error, Result};

use crate::kernels::{check_distinct, check_shape, check_vector, to_u32};
use crate::{GpuEncoder, GpuMat};

/// Tile configuration of the GEMM kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum GemmTile {
    /// Choose by problem size and device limits.
    #[default]
    Auto,
    /// 128×128 C tile, 16×16 invocations with 8×8 micro-tiles, BK = 16 (16 KiB workgroup memory).
    T128,
    /// 64×64 C tile, 16×16 invocations with 4×4 micro-tiles, BK = 16 (8 KiB).
    T64,
    /// 32×32 C tile, 8×8 invocations with 4×4 micro-tiles, BK = 8 (2 KiB).
    T32,
}

/// Override constants of one tile configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GemmConfig {
    /// Invocations along the rows of the C tile.
    pub wg_x: u32,
    /// Invocations along the columns of the C tile.
    pub wg_y: u32,
    /// Rows of C per invocation (at most 8).
    pub rm: u32,
    /// Columns of C per invocation (at most 8).
    pub rn: u32,
    /// Depth of the k slice staged in workgroup memory.
    pub bk: u32,
}

impl GemmConfig {
    /// Rows of the C tile of one workgroup.
    #[must_use]
    pub fn tile_m(&self) -> u32 {
        self.wg_x * self.rm
    }

    /// Columns of the C tile of one workgroup.
    #[must_use]
    pub fn tile_n(&self) -> u32 {
        self.wg_y * self.rn
    }

    /// Workgroup memory in bytes: (TM + TN)·BK f32 values.
    #[must_use]
    pub fn workgroup_bytes(&self) -> u32 {
        (self.tile_m() + self.tile_n()) * self.bk * 4
    }
}

impl GemmTile {
    /// The override constants of a fixed configuration (`None` for `Auto`).
    ///
    /// # Examples
    /// ```
    /// let c = linops_gpu::GemmTile::T128.config().unwrap();
    /// assert_eq!((c.tile_m(), c.tile_n(), c.workgroup_bytes()), (128, 128, 16384));
    /// ```
    #[must_use]
    pub fn config(self) -> Option<GemmConfig> {
        match self {
            GemmTile::Auto => None,
            GemmTile::T128 => Some(GemmConfig {
                wg_x: 16,
                wg_y: 16,
                rm: 8,
                rn: 8,
                bk: 16,
            }),
            GemmTile::T64 => Some(GemmConfig {
                wg_x: 16,
                wg_y: 16,
                rm: 4,
                rn: 4,
                bk: 16,
            }),
            GemmTile::T32 => Some(GemmConfig {
                wg_x: 8,
                wg_y: 8,
                rm: 4,
                rn: 4,
                bk: 8,
            }),
        }
    }
}

/// Arguments of [`GpuEncoder::gemm`]; see the module docs for the layout.
#[derive(Debug, Clone, PartialEq)]
pub struct GemmArgs {
    /// Rows of op(A) and C.
    pub m: usize,
    /// Columns of op(B) and C.
    pub n: usize,
    /// Columns of op(A), rows of op(B).
    pub k: usize,
    /// Use Aᵀ (A stored k×m).
    pub trans_a: bool,
    /// Use Bᵀ (B stored n×k).
    pub trans_b: bool,
    /// Scale of the product.
    pub alpha: f32,
    /// Scale of the old C (0: C is not read).
    pub beta: f32,
    /// Leading dimension of stored A (≥ its rows).
    pub lda: usize,
    /// Leading dimension of stored B (≥ its rows).
    pub ldb: usize,
    /// Leading dimension of C (≥ m).
    pub ldc: usize,
    /// First element of A_0.
    pub offset_a: usize,
    /// First element of B_0.
    pub offset_b: usize,
    /// First element of C_0.
    pub offset_c: usize,
    /// Elements between A_t and A_{t+1} (0 broadcasts one A).
    pub stride_a: usize,
    /// Elements between B_t and B_{t+1} (0 broadcasts one B).
    pub stride_b: usize,
    /// Elements between C_t and C_{t+1} (the C_t must not overlap).
    pub stride_c: usize,
    /// Number of products.
    pub batch: usize,
    /// Tile configuration.
    pub tile: GemmTile,
}

impl GemmArgs {
    /// C = A·B for contiguous m×k A, k×n B, m×n C: alpha = 1, beta = 0, no transposes, lds equal
    /// to the stored rows, zero offsets, batch = 1 with contiguous strides.
    ///
    /// # Examples
    /// ```
    /// let g = linops_gpu::GemmArgs::new(4, 3, 2).with_trans_a(true).with_beta(1.0);
    /// assert_eq!((g.lda, g.ldb, g.ldc), (2, 2, 4));
    /// ```
    #[must_use]
    pub fn new(m: usize, n: usize, k: usize) -> Self {
        Self {
            m,
            n,
            k,
            trans_a: false,
            trans_b: false,
            alpha: 1.0,
            beta: 0.0,
            lda: m,
            ldb: k,
            ldc: m,
            offset_a: 0,
            offset_b: 0,
            offset_c: 0,
            stride_a: m.saturating_mul(k),
            stride_b: k.saturating_mul(n),
            stride_c: m.saturating_mul(n),
            batch: 1,
            tile: GemmTile::Auto,
        }
    }

    /// Sets `trans_a` and resets `lda` to the contiguous value (k if transposed, else m).
    #[must_use]
    pub fn with_trans_a(mut self, t: bool) -> Self {
        self.trans_a = t;
        self.lda = if t { self.k } else { self.m };
        self
    }

    /// Sets `trans_b` and resets `ldb` to the contiguous value (n if transposed, else k).
    #[must_use]
    pub fn with_trans_b(mut self, t: bool) -> Self {
        self.trans_b = t;
        self.ldb = if t { self.n } else { self.k };
        self
    }

    /// Sets alpha.
    #[must_use]
    pub fn with_alpha(mut self, alpha: f32) -> Self {
        self.alpha = alpha;
        self
    }

    /// Sets beta.
    #[must_use]
    pub fn with_beta(mut self, beta: f32) -> Self {
        self.beta = beta;
        self
    }

    /// Sets the three leading dimensions.
    #[must_use]
    pub fn with_ld(mut self, lda: usize, ldb: usize, ldc: usize) -> Self {
        self.lda = lda;
        self.ldb = ldb;
        self.ldc = ldc;
        self
    }

    /// Sets the three offsets (in elements).
    #[must_use]
    pub fn with_offsets(mut self, a: usize, b: usize, c: usize) -> Self {
        self.offset_a = a;
        self.offset_b = b;
        self.offset_c = c;
        self
    }

    /// Sets the batch count and the three batch strides (in elements).
    #[must_use]
    pub fn with_batch(
        mut self,
        batch: usize,
        stride_a: usize,
        stride_b: usize,
        stride_c: usize,
    ) -> Self {
        self.batch = batch;
        self.stride_a = stride_a;
        self.stride_b = stride_b;
        self.stride_c = stride_c;
        self
    }

    /// Sets the tile configuration.
    #[must_use]
    pub fn with_tile(mut self, tile: GemmTile) -> Self {
        self.tile = tile;
        self
    }

    /// Floating-point operations: 2·m·n·k·batch.
    #[must_use]
    pub fn flops(&self) -> f64 {
        2.0 * self.m as f64 * self.n as f64 * self.k as f64 * self.batch as f64
    }
}

crate::uniform_struct! {
    /// Uniform block of `gemm.wgsl` (`GemmParams`).
    struct GemmParams in "gemm" {
        m: u32,
        n: u32,
        k: u32,
        flags: u32,
        lda: u32,
        ldb: u32,
        ldc: u32,
        batch: u32,
        offset_a: u32,
        offset_b: u32,
        offset_c: u32,
        _pad0: u32,
        stride_a: u32,
        stride_b: u32,
        stride_c: u32,
        _pad1: u32,
        alpha: f32,
        beta: f32,
        _pad2: u32,
        _pad3: u32,
    }
}

const FLAG_BETA_ZERO: u32 = 1;

/// Checks that operand `name` (stored rows × cols per batch, leading dimension ld) lies inside
/// `mat` for every batch index.
#[allow(clippy::too_many_arguments)]
fn check_operand(
    name: &str,
    mat: &GpuMat,
    rows: usize,
    cols: usize,
    ld: usize,
    offset: usize,
    stride: usize,
    batch: usize,
) -> Result<()> {
    if ld < rows {
        return Err(Error::InvalidArgument(format!(
            "gemm: ld{name} = {ld} is smaller than the {rows} rows of stored {}",
            name.to_uppercase()
        )));
    }
    let last = |b: u64| -> Option<u64> {
        (offset as u64)
            .checked_add(b.checked_mul(stride as u64)?)?
            .checked_add(rows as u64 - 1)?
            .checked_add((cols as u64 - 1).checked_mul(ld as u64)?)
    };
    let needed = last(batch as u64 - 1).and_then(|l| l.checked_add(1));
    match needed {
        Some(n) if n <= mat.len() as u64 => Ok(()),
        _ => Err(Error::ShapeMismatch {
            context: format!(
                "gemm operand {} ({rows}x{cols}, ld {ld}, offset {offset}, stride {stride}, batch {batch})",
                name.to_uppercase()
            ),
            expected: format!(
                "a buffer of at least {} elements",
                needed.map_or_else(|| "2^64".to_string(), |n| n.to_string())
            ),
            found: format!("{}x{} = {} elements", mat.rows(), mat.cols(), mat.len()),
        }),
    }
}

impl GpuEncoder {
    /// Records C_t = alpha·op(A_t)·op(B_t) + beta·C_t for every batch index t (see [`GemmArgs`]).
    ///
    /// # Errors
    /// [`Error::EmptyDimension`] if m, n, k or batch is 0; [`Error::InvalidArgument`] for a
    /// leading dimension below the stored rows, overlapping C_t, C sharing storage with A or B,
    /// a value beyond u32, or a matrix of another device; [`Error::ShapeMismatch`] if an operand's
    /// range exceeds its matrix; [`Error::DeviceLimit`] if the dispatch or the tile does not fit
    /// the device; [`Error::Backend`] on device errors.
    ///
    /// # Examples
    /// ```
    /// # let Ok(dev) = linops_gpu::GpuDevice::new(&Default::default()) else { return };
    /// let a = dev.upload(2, 2, &[1.0, 2.0, 3.0, 4.0]).unwrap(); // [[1, 3], [2, 4]]
    /// let b = dev.upload(2, 1, &[1.0, 1.0]).unwrap();
    /// let c = dev.alloc(2, 1).unwrap();
    /// let mut enc = dev.encoder();
    /// enc.gemm(&linops_gpu::GemmArgs::new(2, 1, 2), &a, &b, &c).unwrap();
    /// enc.submit().unwrap();
    /// assert_eq!(dev.download(&c).unwrap(), vec![4.0, 6.0]);
    /// ```
    pub fn gemm(&mut self, args: &GemmArgs, a: &GpuMat, b: &GpuMat, c: &GpuMat) -> Result<()> {
        let (params, cfg) = self.gemm_launch("gemm", args, a, b, c)?;
        let g = args;
        self.record_tiled(
            "gemm",
            &cfg,
            [g.m, g.n, g.batch],
            &transposes(g),
            &[(0, a), (1, b), (2, c)],
            bytemuck::bytes_of(&params),
            3,
        )
    }

    /// Records C = alpha·(op(A)·op(B) + diag(d)·X) + beta·C (batch 1): the GEMM of [`gemm`]
    /// with `d[i]·X[i, j]` added to each dot product before the `alpha`/`beta` update, so C is
    /// written once (the output pass of diagonal plus low rank). `d` has m entries, `X` is a
    /// contiguous m×n matrix; the other arguments are [`gemm`]'s.
    ///
    /// [`gemm`]: GpuEncoder::gemm
    ///
    /// # Errors
    /// Those of [`gemm`]; [`Error::InvalidArgument`] for a batch other than 1 or a C sharing
    /// storage with d or X; [`Error::ShapeMismatch`] when d is not a vector of m entries or X
    /// is not m×n.
    ///
    /// # Examples
    /// ```
    /// # let Ok(dev) = linops_gpu::GpuDevice::new(&Default::default()) else { return };
    /// let a = dev.upload(2, 1, &[1.0, 2.0]).unwrap();
    /// let b = dev.upload(1, 1, &[3.0]).unwrap();
    /// let d = dev.upload(2, 1, &[10.0, 20.0]).unwrap();
    /// let x = dev.upload(2, 1, &[1.0, 1.0]).unwrap();
    /// let c = dev.alloc(2, 1).unwrap();
    /// let mut enc = dev.encoder();
    /// enc.gemm_diag(&linops_gpu::GemmArgs::new(2, 1, 1), &a, &b, &d, &x, &c).unwrap();
    /// enc.submit().unwrap();
    /// assert_eq!(dev.download(&c).unwrap(), vec![13.0, 26.0]);
    /// ```
    pub fn gemm_diag(
        &mut self,
        args: &GemmArgs,
        a: &GpuMat,
        b: &GpuMat,
        d: &GpuMat,
        x: &GpuMat,
        c: &GpuMat,
    ) -> Result<()> {
        let g = args;
        if g.batch != 1 {
            return Err(Error::InvalidArgument(format!(
                "gemm_diag: batch = {} (the diagonal epilogue is for one product, batch = 1)",
                g.batch
            )));
        }
        let (params, cfg) = self.gemm_launch("gemm_diag", args, a, b, c)?;
        check_vector("gemm_diag: d", d, g.m)?;
        check_shape("gemm_diag: X against C", x, g.m, g.n)?;
        check_distinct("gemm_diag", c, &[d, x])?;
        self.record_tiled(
            "gemm_diag",
            &cfg,
            [g.m, g.n, 1],
            &transposes(g),
            &[(0, a), (1, b), (2, c), (4, d), (5, x)],
            bytemuck::bytes_of(&params),
            3,
        )
    }

    /// Checks a GEMM's arguments against its buffers and the device (see [`GpuEncoder::gemm`])
    /// and returns its uniform block and tile; `what` names the kernel in errors.
    fn gemm_launch(
        &self,
        what: &str,
        args: &GemmArgs,
        a: &GpuMat,
        b: &GpuMat,
        c: &GpuMat,
    ) -> Result<(GemmParams, GemmConfig)> {
        let g = args;
        if g.m == 0 || g.n == 0 || g.k == 0 || g.batch == 0 {
            return Err(Error::EmptyDimension {
                context: format!(
                    "{what} (m={}, n={}, k={}, batch={})",
                    g.m, g.n, g.k, g.batch
                ),
                rows: g.m,
                cols: g.n,
            });
        }
        if c.same_storage(a) || c.same_storage(b) {
            return Err(Error::InvalidArgument(format!(
                "{what}: C must not share storage with A or B"
            )));
        }
        let (ra, ca) = if g.trans_a { (g.k, g.m) } else { (g.m, g.k) };
        let (rb, cb) = if g.trans_b { (g.n, g.k) } else { (g.k, g.n) };
        check_operand("a", a, ra, ca, g.lda, g.offset_a, g.stride_a, g.batch)?;
        check_operand("b", b, rb, cb, g.ldb, g.offset_b, g.stride_b, g.batch)?;
        check_operand("c", c, g.m, g.n, g.ldc, g.offset_c, g.stride_c, g.batch)?;
        if g.batch > 1 {
            // C_t must be disjoint: either whole spans apart, or interleaved column blocks.
            let span = (g.n as u64 - 1) * g.ldc as u64 + g.m as u64;
            let stride = g.stride_c as u64;
            let interleaved =
                stride >= g.m as u64 && (g.batch as u64 - 1) * stride + g.m as u64 <= g.ldc as u64;
            if stride < span && !interleaved {
                return Err(Error::InvalidArgument(format!(
                    "{what}: stride_c = {} makes the {} output matrices overlap (need >= {span}, or \
                     interleaved columns with (batch-1)*stride_c + m <= ldc)",
                    g.stride_c, g.batch
                )));
            }
        }
        let params = GemmParams {
            m: to_u32("m", g.m)?,
            n: to_u32("n", g.n)?,
            k: to_u32("k", g.k)?,
            flags: if g.beta == 0.0 { FLAG_BETA_ZERO } else { 0 },
            lda: to_u32("lda", g.lda)?,
            ldb: to_u32("ldb", g.ldb)?,
            ldc: to_u32("ldc", g.ldc)?,
            batch: to_u32("batch", g.batch)?,
            offset_a: to_u32("offset_a", g.offset_a)?,
            offset_b: to_u32("offset_b", g.offset_b)?,
            offset_c: to_u32("offset_c", g.offset_c)?,
            _pad0: 0,
            stride_a: to_u32("stride_a", if g.batch > 1 { g.stride_a } else { 0 })?,
            stride_b: to_u32("stride_b", if g.batch > 1 { g.stride_b } else { 0 })?,
            stride_c: to_u32("stride_c", if g.batch > 1 { g.stride_c } else { 0 })?,
            _pad1: 0,
            alpha: g.alpha,
            beta: g.beta,
            _pad2: 0,
            _pad3: 0,
        };
        let cfg = self.tile_config(g.tile, TileRule::Occupancy(g.m, g.n, g.batch))?;
        Ok((params, cfg))
    }

    /// Records one launch of a kernel built on `gemm_tile.wgsl` (`gemm`, `block_gemm`,
    /// `sketch_gemm`): a grid of `(⌈m/TM⌉, ⌈n/TN⌉, z)` workgroups of `cfg`'s tile, with the tile's
    /// override constants plus the kernel's own `extra` ones.
    ///
    /// # Errors
    /// [`Error::DeviceLimit`] if the grid does not fit the device; [`Error::Backend`] on device
    /// errors.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn record_tiled(
        &mut self,
        entry_point: &'static str,
        cfg: &GemmConfig,
        [m, n, z]: [usize; 3],
        extra: &[(&'static str, f64)],
        mats: &[(u32, &GpuMat)],
        uniform: &[u8],
        uniform_binding: u32,
    ) -> Result<()> {
        let groups = [
            (m as u64).div_ceil(u64::from(cfg.tile_m())),
            (n as u64).div_ceil(u64::from(cfg.tile_n())),
            z as u64,
        ];
        let workgroups = self.check_workgroups(entry_point, groups)?;
        let mut constants = vec![
            ("WG_X", f64::from(cfg.wg_x)),
            ("WG_Y", f64::from(cfg.wg_y)),
            ("RM", f64::from(cfg.rm)),
            ("RN", f64::from(cfg.rn)),
            ("BK", f64::from(cfg.bk)),
        ];
        constants.extend_from_slice(extra);
        self.record(
            entry_point,
            &constants,
            mats,
            uniform,
            uniform_binding,
            workgroups,
        )
    }

    /// Whether `cfg` fits the device's workgroup limits.
    pub(crate) fn gemm_config_fits(&self, cfg: &GemmConfig) -> std::result::Result<(), Error> {
        let l = self.device.limits();
        if cfg.workgroup_bytes() > l.max_compute_workgroup_storage_size {
            return Err(Error::DeviceLimit {
                what: format!("gemm {}x{} tile", cfg.tile_m(), cfg.tile_n()),
                requested: u64::from(cfg.workgroup_bytes()),
                limit_name: "max_compute_workgroup_storage_size".into(),
                limit: u64::from(l.max_compute_workgroup_storage_size),
            });
        }
        let inv = cfg.wg_x * cfg.wg_y;
        if inv > l.max_compute_invocations_per_workgroup
            || cfg.wg_x > l.max_compute_workgroup_size_x
            || cfg.wg_y > l.max_compute_workgroup_size_y
        {
            return Err(Error::DeviceLimit {
                what: format!("gemm {}x{} workgroup", cfg.wg_x, cfg.wg_y),
                requested: u64::from(inv),
                limit_name: "max_compute_invocations_per_workgroup".into(),
                limit: u64::from(l.max_compute_invocations_per_workgroup),
            });
        }
        Ok(())
    }

    /// The tile configuration: the requested one (checked against the device), or for `Auto`
    /// the choice of `rule` among the configurations that fit the device.
    ///
    /// # Errors
    /// [`Error::DeviceLimit`] when the requested tile, or for `Auto` even the smallest tile,
    /// does not fit the device.
    pub(crate) fn tile_config(&self, requested: GemmTile, rule: TileRule) -> Result<GemmConfig> {
        if let Some(cfg) = requested.config() {
            self.gemm_config_fits(&cfg)?;
            return Ok(cfg);
        }
        // Largest first.
        let fitting: Vec<GemmConfig> = [GemmTile::T128, GemmTile::T64, GemmTile::T32]
            .iter()
            .filter_map(|t| t.config())
            .filter(|c| self.gemm_config_fits(c).is_ok())
            .collect();
        let choice = match rule {
            TileRule::Occupancy(m, n, z) => {
                let groups = |c: &GemmConfig| {
                    (m as u64).div_ceil(u64::from(c.tile_m()))
                        * (n as u64).div_ceil(u64::from(c.tile_n()))
                        * z as u64
                };
                fitting.iter().find(|c| groups(c) >= 128).or(fitting.last())
            }
            TileRule::CoverRows(m) => fitting
                .iter()
                .rev()
                .find(|c| c.tile_m() as usize >= m)
                .or(fitting.first()),
        };
        match choice {
            Some(c) => Ok(*c),
            None => {
                let smallest = GemmTile::T32
                    .config()
                    .ok_or_else(|| Error::Backend("gemm: no tile configuration".into()))?;
                self.gemm_config_fits(&smallest)?;
                Ok(smallest)
            }
        }
    }
}

/// The `TRANS_A` / `TRANS_B` override constants of a GEMM launch.
fn transposes(g: &GemmArgs) -> [(&'static str, f64); 2] {
    [
        ("TRANS_A", if g.trans_a { 1.0 } else { 0.0 }),
        ("TRANS_B", if g.trans_b { 1.0 } else { 0.0 }),
    ]
}

/// How [`GemmTile::Auto`] chooses among the tiles that fit the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TileRule {
    /// For an `m×n` output `z` times over: the largest tile that still yields at least 128
    /// workgroups (one wave on a large GPU), else the smallest.
    Occupancy(usize, usize, usize),
    /// For blocks of `m` rows: the smallest tile whose rows cover `m`, else the largest.
    CoverRows(usize),
}

/// `out = beta·out` (zeros when `beta == 0`, `out` not read): a GEMM step with `alpha == 0`,
/// whose product is not formed (BLAS semantics).
fn scale_only(cx: &mut crate::backend::StepCx<'_>, beta: f64, out: &GpuMat) -> Result<()> {
    if beta == 0.0 {
        return cx.enc.fill(0.0, out);
    }
    let t = cx.dev.alloc(out.rows(), out.cols())?;
    cx.enc.scale(beta as f32, out, &t)?;
    cx.enc.scale(1.0, &t, out)?;
    cx.scratch.push(t);
    Ok(())
}

crate::backend::gpu_kernel!(linops_core::plan::kernel::Gemm, |kernel, cx, args, out| {
    if kernel.alpha == 0.0 {
        return scale_only(cx, kernel.beta, out);
    }
    let (a, b) = (args.mat(0)?, args.mat(1)?);
    let k = if kernel.trans_a { a.rows() } else { a.cols() };
    let gemm = GemmArgs::new(out.rows(), out.cols(), k)
        .with_trans_a(kernel.trans_a)
        .with_trans_b(kernel.trans_b)
        .with_alpha(kernel.alpha as f32)
        .with_beta(kernel.beta as f32)
        .with_ld(a.rows(), b.rows(), out.rows());
    cx.enc.gemm(&gemm, a, b, out)
});

crate::backend::gpu_kernel!(
    linops_core::plan::kernel::GemmDiag,
    |kernel, cx, args, out| {
        if kernel.alpha == 0.0 {
            return scale_only(cx, kernel.beta, out);
        }
        let (a, b) = (args.mat(0)?, args.mat(1)?);
        let gemm = GemmArgs::new(out.rows(), out.cols(), a.cols())
            .with_alpha(kernel.alpha as f32)
            .with_beta(kernel.beta as f32)
            .with_ld(a.rows(), b.rows(), out.rows());
        cx.enc
            .gemm_diag(&gemm, a, b, args.mat(2)?, args.mat(3)?, out)
    }
);
