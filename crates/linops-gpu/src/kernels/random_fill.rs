//! Random fills (`shaders/random_fill.wgsl`, with `philox.wgsl` prepended): a matrix of raw
//! Philox words or of distribution values, in the matrix layout of `linops_core::rng`.
//!
//! `out[r, c]` is entry `(i0 + r, j0 + c)` of the random matrix of [`RngState`] — a pure function
//! of (key, counter, i, j) — so any submatrix can be filled alone and the result equals the
//! CPU's `RngState::entry` bit for bit (raw words, uniform, Rademacher) or within
//! `GAUSSIAN_GPU_MAX_ULPS` ulps (Gaussian). Raw words are stored as their bit patterns in the f32
//! buffer: read them with `f32::to_bits` after download.
//!
//! Cost: one Philox block (10 rounds, 16-bit-limb multiplies) per four entries, one invocation
//! per block.

use linops_core::rng::{Dist, RngState};
use linops_core::{Error, Result};

use crate::kernels::{grid_2d, to_u32};
use crate::{GpuEncoder, GpuMat};

/// Workgroup size (`WG` override).
const WG: u32 = 256;

crate::uniform_struct! {
    /// Uniform block of `random_fill.wgsl` (`FillParams`).
    struct FillParams in "random_fill" {
        counter: [u32; 4],
        key: [u32; 2],
        rows: u32,
        cols: u32,
        i0: u32,
        j0: u32,
        dist: u32,
        blocks_per_col: u32,
        total: u32,
        alpha: f32,
        trans: u32,
        _pad0: u32,
    }
}

impl GpuEncoder {
    #[allow(clippy::too_many_arguments)]
    fn philox_dispatch(
        &mut self,
        entry: &'static str,
        rng: RngState,
        dist: Dist,
        (i0, j0): (usize, usize),
        (rows, cols): (usize, usize),
        (alpha, trans): (f32, bool),
        out: &GpuMat,
    ) -> Result<()> {
        if rows.checked_mul(cols) != Some(out.len()) {
            return Err(Error::ShapeMismatch {
                context: format!("{entry}: out"),
                expected: format!("{} elements", rows.saturating_mul(cols)),
                found: format!("{}x{}", out.rows(), out.cols()),
            });
        }
        // Rows up to i0 + rows + 3 (block rounding) and columns up to j0 + cols - 1 must be u32.
        let last_row = i0.checked_add(rows).and_then(|v| v.checked_add(3));
        let last_col = j0.checked_add(cols - 1);
        let (Some(last_row), Some(last_col)) = (last_row, last_col) else {
            return Err(Error::InvalidArgument(format!(
                "{entry}: origin ({i0}, {j0}) + {rows}x{cols} overflows"
            )));
        };
        to_u32(&format!("{entry}: last row index + 3"), last_row)?;
        to_u32(&format!("{entry}: last column index"), last_col)?;
        let blocks_per_col = (i0 + rows - 1) / 4 - i0 / 4 + 1;
        let total = blocks_per_col as u64 * cols as u64;
        let params = FillParams {
            counter: rng.counter,
            key: rng.key,
            rows: to_u32("rows", rows)?,
            cols: to_u32("cols", cols)?,
            i0: to_u32("i0", i0)?,
            j0: to_u32("j0", j0)?,
            dist: dist.code(),
            blocks_per_col: to_u32("blocks per column", blocks_per_col)?,
            total: u32::try_from(total).map_err(|_| {
                Error::InvalidArgument(format!("{entry}: {total} Philox blocks exceed u32"))
            })?,
            alpha,
            trans: u32::from(trans),
            _pad0: 0,
        };
        let max = self.device.limits().max_compute_workgroups_per_dimension;
        let groups = self.check_workgroups(entry, grid_2d(total, u64::from(WG), max))?;
        self.record(
            entry,
            &[("WG", f64::from(WG))],
            &[(0, out)],
            bytemuck::bytes_of(&params),
            1,
            groups,
        )
    }

    /// Records `out[r, c] = ` raw Philox word of entry `(i0 + r, j0 + c)` of the random matrix of
    /// `rng` (word `i mod 4` of `philox(counter + j·2³² + ⌊i/4⌋, key)`), stored as bits.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when an index overflows u32 or `out` belongs to another device;
    /// [`Error::DeviceLimit`] if the dispatch is too large; [`Error::Backend`] on device errors.
    ///
    /// # Examples
    /// ```
    /// # let Ok(dev) = linops_gpu::GpuDevice::new(&Default::default()) else { return };
    /// use linops_core::rng::RngState;
    /// let out = dev.alloc(4, 1).unwrap();
    /// let mut enc = dev.encoder();
    /// enc.philox_fill(RngState::new(0), 0, 0, &out).unwrap();
    /// enc.submit().unwrap();
    /// let bits: Vec<u32> = dev.download(&out).unwrap().iter().map(|v| v.to_bits()).collect();
    /// assert_eq!(bits, vec![0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]); // Random123 KAT
    /// ```
    pub fn philox_fill(&mut self, rng: RngState, i0: usize, j0: usize, out: &GpuMat) -> Result<()> {
        let shape = (out.rows(), out.cols());
        self.philox_dispatch(
            "philox_bits",
            rng,
            Dist::Uniform,
            (i0, j0),
            shape,
            (1.0, false),
            out,
        )
    }

    /// Records `out[r, c] = ` entry `(i0 + r, j0 + c)` of the random matrix of `rng` under
    /// `dist` (unscaled: uniform in [0, 1), ±1, or standard normal).
    ///
    /// # Errors
    /// As [`philox_fill`](Self::philox_fill).
    ///
    /// # Examples
    /// ```
    /// # let Ok(dev) = linops_gpu::GpuDevice::new(&Default::default()) else { return };
    /// use linops_core::rng::{Dist, RngState};
    /// let s = RngState::new(3);
    /// let out = dev.alloc(5, 2).unwrap();
    /// let mut enc = dev.encoder();
    /// enc.random_fill(s, Dist::Uniform, 1, 7, &out).unwrap();
    /// enc.submit().unwrap();
    /// assert_eq!(dev.download(&out).unwrap()[6], s.entry(Dist::Uniform, 2, 8));
    /// ```
    pub fn random_fill(
        &mut self,
        rng: RngState,
        dist: Dist,
        i0: usize,
        j0: usize,
        out: &GpuMat,
    ) -> Result<()> {
        let shape = (out.rows(), out.cols());
        self.philox_dispatch("random_fill", rng, dist, (i0, j0), shape, (1.0, false), out)
    }

    /// Records `out = alpha·op(G)` for the whole `rows×cols` random matrix `G` of `rng` under
    /// `dist` (`op(G) = Gᵀ`, `out` `cols×rows`, when `trans`); each entry is `alpha` times the
    /// generated `f32` value, the bits [`sketch_gemm`](Self::sketch_gemm) gives for
    /// `alpha·op(G)·I`.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] when `out` is not `op(G)`-shaped; as
    /// [`philox_fill`](Self::philox_fill) otherwise.
    ///
    /// # Examples
    /// ```
    /// # let Ok(dev) = linops_gpu::GpuDevice::new(&Default::default()) else { return };
    /// use linops_core::rng::{Dist, RngState};
    /// let s = RngState::new(3);
    /// let out = dev.alloc(2, 5).unwrap(); // Gᵀ of a 5×2 G
    /// let mut enc = dev.encoder();
    /// enc.random_matrix(s, Dist::Uniform, (5, 2), true, 2.0, &out).unwrap();
    /// enc.submit().unwrap();
    /// assert_eq!(dev.download(&out).unwrap()[1 + 3 * 2], 2.0 * s.entry(Dist::Uniform, 3, 1));
    /// ```
    pub fn random_matrix(
        &mut self,
        rng: RngState,
        dist: Dist,
        (rows, cols): (usize, usize),
        trans: bool,
        alpha: f32,
        out: &GpuMat,
    ) -> Result<()> {
        let want = if trans { (cols, rows) } else { (rows, cols) };
        if (out.rows(), out.cols()) != want {
            return Err(Error::ShapeMismatch {
                context: "random_matrix: out".into(),
                expected: format!("{}x{}", want.0, want.1),
                found: format!("{}x{}", out.rows(), out.cols()),
            });
        }
        let args = (rng, dist, (0, 0), (rows, cols), (alpha, trans));
        self.philox_dispatch("random_matrix", args.0, args.1, args.2, args.3, args.4, out)
    }
}

crate::backend::gpu_kernel!(
    linops_core::plan::kernel::RandomFill,
    |kernel, cx, _, out| {
        let shape = (kernel.rows, kernel.cols);
        cx.enc.random_matrix(
            kernel.rng,
            kernel.dist,
            shape,
            kernel.trans,
            kernel.alpha as f32,
            out,
        )
    }
);
