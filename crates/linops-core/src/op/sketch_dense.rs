//! Dense Gaussian and Rademacher sketching operators, generated from a seed and never stored.
//!
//! **Mathematics.** `S = (1/√d)·G` of shape `d×m`, where `G(i, j)` is entry `(i, j)` of the
//! Philox matrix layout ([`crate::rng`]) under the distribution `N(0, 1)` (Gaussian) or `±1`
//! (Rademacher). The entries of `G` have mean 0 and variance 1, so `E[SᵀS] = I_m`: the scale
//! `1/√d` makes `S` an isometry in expectation (`E‖S·x‖² = ‖x‖²`). For an orthonormal `Q` (`m×k`)
//! a Gaussian `S·Q` is `1/√d` times a `d×k` standard Gaussian matrix, whose singular values lie in
//! `1 ± √(k/d) ± t/√d` with probability at least `1 − 2e^{−t²/2}` (Davidson–Szarek).
//!
//! **Storage.** Nothing but the `RngState` and the shape: `param_count() == 0`. Entry `(i, j)` is a
//! pure function of (key, counter, i, j), so [`DenseSketch::block`] generates any submatrix alone
//! and `to_dense()` is the block of everything.
//!
//! **Applying.** `S·X` (`X` of `m×n`) and, through `op.t()`, `Sᵀ·Y` (`Y` of `d×n`) lower to one
//! `sketch_gemm` kernel that generates `G` on the fly: on the GPU inside the tiled GEMM (each
//! workgroup generates its `G` tile in workgroup memory instead of loading it), on the CPU in
//! column panels of 256 into a scratch followed by a faer matmul. The scale rides on the GEMM's
//! `alpha`, so Rademacher entries are exact `±1` in every precision. The right orientation
//! `A·Sᵀ` is `(S·Aᵀ)ᵀ`: build it as `Op::product(vec![a, sketch.t()])`, or transpose the data.
//!
//! **Cost.** `2·d·m·n` FLOPs plus generating `d·m` entries (one Philox block per four entries,
//! plus Box–Muller for Gaussian) per pass; on the GPU the generation is repeated once per column
//! tile of `X` (`⌈n/TN⌉` times). Memory traffic: `X` and the output only.

use super::{LeafOp, require_nonempty};
use crate::lower::kernel;
use crate::op::Lowering;
use crate::rng::{Dist, RngState};
use crate::{BufId, Error, HostMat, Result};

/// A dense random sketch `S = G/√d` (`d×m`) generated from an [`RngState`].
///
/// # Examples
/// ```
/// use linops_core::{LeafOp, Op, op::DenseSketch, rng::RngState};
/// let s = DenseSketch::rademacher(4, 10, RngState::new(1)).unwrap();
/// assert_eq!(s.shape(), (4, 10));
/// assert_eq!(s.param_count(), 0);
/// let v = s.to_dense().get(3, 7);
/// assert!(v == 0.5 || v == -0.5); // ±1/√4
/// let op = Op::leaf(s);
/// assert_eq!(op.t().shape(), (10, 4));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct DenseSketch {
    dist: Dist,
    rows: usize,
    cols: usize,
    rng: RngState,
}

impl DenseSketch {
    /// A `d×m` Gaussian sketch: `S(i, j) = g(i, j)/√d` with `g(i, j) ~ N(0, 1)`.
    ///
    /// # Errors
    /// [`Error::EmptyDimension`] when `d` or `m` is 0; [`Error::InvalidArgument`] when either
    /// exceeds `u32::MAX` (the kernels index in u32).
    ///
    /// # Examples
    /// ```
    /// use linops_core::{op::DenseSketch, rng::RngState};
    /// assert!(DenseSketch::gaussian(0, 5, RngState::new(1)).is_err());
    /// ```
    pub fn gaussian(d: usize, m: usize, rng: impl Into<RngState>) -> Result<Self> {
        let rng: RngState = rng.into();
        Self::new(Dist::Gaussian, d, m, rng)
    }

    /// A `d×m` Rademacher sketch: `S(i, j) = ±1/√d` with equal probability.
    ///
    /// # Errors
    /// As [`DenseSketch::gaussian`].
    ///
    /// # Examples
    /// ```
    /// use linops_core::{op::DenseSketch, rng::RngState};
    /// assert!(DenseSketch::rademacher(3, 0, RngState::new(1)).is_err());
    /// ```
    pub fn rademacher(d: usize, m: usize, rng: impl Into<RngState>) -> Result<Self> {
        let rng: RngState = rng.into();
        Self::new(Dist::Rademacher, d, m, rng)
    }

    fn new(dist: Dist, rows: usize, cols: usize, rng: RngState) -> Result<Self> {
        require_nonempty("dense sketch", rows, cols)?;
        if rows > u32::MAX as usize || cols > u32::MAX as usize {
            return Err(Error::InvalidArgument(format!(
                "dense sketch of {rows}x{cols}: each dimension must be at most 2^32 - 1"
            )));
        }
        Ok(Self {
            dist,
            rows,
            cols,
            rng,
        })
    }

    /// The entry distribution of `G`.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{op::DenseSketch, rng::{Dist, RngState}};
    /// assert_eq!(DenseSketch::gaussian(2, 2, RngState::new(0)).unwrap().dist(), Dist::Gaussian);
    /// ```
    #[must_use]
    pub fn dist(&self) -> Dist {
        self.dist
    }

    /// The generator state.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{op::DenseSketch, rng::RngState};
    /// assert_eq!(DenseSketch::gaussian(2, 2, RngState::new(5)).unwrap().rng().key, [5, 0]);
    /// ```
    #[must_use]
    pub fn rng(&self) -> RngState {
        self.rng
    }

    /// The isometry scale `1/√d`: `S = scale·G`.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{op::DenseSketch, rng::RngState};
    /// assert_eq!(DenseSketch::gaussian(16, 2, RngState::new(0)).unwrap().scale(), 0.25);
    /// ```
    #[must_use]
    pub fn scale(&self) -> f64 {
        1.0 / (self.rows as f64).sqrt()
    }

    /// The submatrix `S[r0 .. r0 + rows, c0 .. c0 + cols]`, generated on its own.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when the block leaves the operator or is empty;
    /// [`Error::DeviceLimit`] when it has more than [`super::MAX_GENERATED_ENTRIES`] entries
    /// (checked before allocating), [`Error::Backend`] when the allocator refuses a smaller one.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{LeafOp, op::DenseSketch, rng::RngState};
    /// let s = DenseSketch::gaussian(5, 9, RngState::new(3)).unwrap();
    /// let b = s.block(1, 3, 4, 2).unwrap();
    /// assert_eq!(b.get(2, 1), s.to_dense().get(3, 5));
    /// ```
    pub fn block(&self, r0: usize, rows: usize, c0: usize, cols: usize) -> Result<HostMat> {
        let fits = |o: usize, n: usize, total: usize| {
            n > 0 && o.checked_add(n).is_some_and(|e| e <= total)
        };
        if !fits(r0, rows, self.rows) || !fits(c0, cols, self.cols) {
            return Err(Error::InvalidArgument(format!(
                "block rows {r0}..{} x cols {c0}..{} is empty or outside the {}x{} sketch",
                r0.saturating_add(rows),
                c0.saturating_add(cols),
                self.rows,
                self.cols
            )));
        }
        let entries = super::check_generated(
            &format!("dense sketch block of {rows}x{cols}"),
            rows.checked_mul(cols),
        )?;
        let scale = self.scale();
        let mut data = super::try_filled("dense sketch block", entries, 0.0)?;
        data.clear();
        let mut col = super::try_filled("dense sketch block column", rows, 0.0f32)?;
        for j in 0..cols {
            self.rng
                .column_into(self.dist, r0 as u64, (c0 + j) as u64, &mut col);
            data.extend(col.iter().map(|&g| f64::from(g) * scale));
        }
        HostMat::new(rows, cols, data)
    }
}

impl LeafOp for DenseSketch {
    /// Never: a sketch is generated inside its kernel and never stored.
    fn materializable(&self) -> bool {
        false
    }

    fn name(&self) -> &'static str {
        match self.dist {
            Dist::Gaussian => "gaussian_sketch",
            Dist::Rademacher => "rademacher_sketch",
            Dist::Uniform => "uniform_sketch",
        }
    }
    fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }
    fn to_dense(&self) -> HostMat {
        self.block(0, self.rows, 0, self.cols)
            .expect("the whole operator is a valid block")
    }
    fn param_count(&self) -> usize {
        0
    }
    fn lower(
        &self,
        cx: &mut Lowering,
        transposed: bool,
        x: BufId,
        out: BufId,
        alpha: f64,
        beta: f64,
    ) -> Result<()> {
        cx.push(
            kernel::SketchGemm {
                dist: self.dist,
                rng: self.rng,
                rows: self.rows,
                cols: self.cols,
                trans: transposed,
                alpha: alpha * self.scale(),
                beta,
            },
            vec![x],
            out,
        )
    }
}
