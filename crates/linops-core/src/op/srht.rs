//! The subsampled randomized Hadamard transform (SRHT).
//!
//! **Mathematics.** `S = √(m'/d)·R·H·D` of shape `d×m`, where `D = diag(δ)` holds `m` random
//! signs, `H = H_{m'}·P` is the orthonormal Walsh–Hadamard transform of length `m'` (the next
//! power of two `≥ m`) applied after zero-padding (`P`, see [`super::Hadamard::padded`]), and `R`
//! keeps `d` distinct rows `ρ_0 < … < ρ_{d−1}` of the `m'`, drawn uniformly without replacement.
//! Entry `S(r, j) = δ_j·(−1)^{popcount(ρ_r & j)}/√d`. `H·D` has orthonormal columns, and a uniform
//! row sample of `d` out of `m'` keeps each row with probability `d/m'`, so `E[SᵀS] = I_m`; with
//! `d = m'` (every row kept) `SᵀS = I_m` exactly, and for a power-of-two `m = d` `S` is orthogonal.
//!
//! **Randomness (counter layout).** Under the [`RngState`] `(key, counter)`: the sign `δ_j` is the
//! Rademacher entry `(j, 0)` of the dense matrix layout of [`crate::rng`] (word `j mod 4` of
//! `philox(counter + ⌊j/4⌋, key)` mapped by [`crate::rng::rademacher`]); the rows come from Floyd's algorithm
//! on the word stream of column 1, `philox(counter + 2³² + ⌊t/4⌋, key)[t mod 4]` (the recipe of
//! the sparse sketches, [`super::SparseSign`]), and are sorted.
//!
//! **Storage.** `m` signs, `d` row indices and the `m'`-entry inverse map (position of each
//! Hadamard row in the sample, or `d` for "not sampled"): the signs as a real parameter, the rows
//! and the map as `u32` index parameters; `param_count = m + d`. The map is built from the sizes
//! alone, so `m' ≤ MAX_GENERATED_ENTRIES = 2³²` (which also keeps every index in `u32`).
//!
//! **Applying.** One fused [`kernel::Srht`] step in each direction, which reads the input once
//! and writes the output once. `S·X` (`X` of `m×b`): per column, the signs, the zero-padded
//! transform of length `m'` and the `d` sampled rows, with the scale `√(m'/d)` on its `alpha`.
//! `Sᵀ·Y` (`Y` of `d×b`): per column, the gather through the inverse map (unsampled rows read as
//! zero), the transform, and the first `m` rows times the signs and the scale. Cost:
//! `m'·log₂m'·b` additions plus `(m + d)·b` multiplies, no temporaries in the plan (the CPU uses one
//! `m'`-entry column buffer per worker, the GPU workgroup memory for `m'` up to its capacity).

use super::sketch_sparse::floyd_sample;
use super::{LeafOp, check_generated, require_nonempty, try_filled};
use crate::lower::{IndexParam, Param, kernel};
use crate::op::Lowering;
use crate::rng::{Dist, RngState};
use crate::{BufId, Error, HostMat, Result};

/// The SRHT `S = √(m'/d)·R·H·D` (`d×m`).
///
/// # Examples
/// ```
/// use linops_core::{LeafOp, op::Srht, rng::RngState};
/// let s = Srht::new(4, 6, RngState::new(1)).unwrap();
/// assert_eq!(s.shape(), (4, 6));
/// assert_eq!(s.padded_len(), 8);
/// assert!(s.to_dense().data().iter().all(|v| v.abs() == 0.5)); // ±1/√d
/// ```
#[derive(Debug, Clone)]
pub struct Srht {
    rows: usize,
    cols: usize,
    n_pad: usize,
    rng: RngState,
    signs: Param,
    sample: IndexParam,
    inverse: IndexParam,
}

impl Srht {
    /// The `d×m` SRHT from `rng` (module docs).
    ///
    /// # Errors
    /// [`Error::EmptyDimension`] when `d` or `m` is 0; [`Error::InvalidArgument`] when `d` exceeds
    /// `m'`, the next power of two `≥ m`; [`Error::DeviceLimit`] when `m'` exceeds
    /// [`super::MAX_GENERATED_ENTRIES`] (`2³²`); [`Error::Backend`] when the host refuses the
    /// `m` signs, the `d` sampled rows or the `m'`-entry map.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{op::Srht, rng::RngState};
    /// assert!(Srht::new(9, 8, RngState::new(1)).is_err()); // d > m' = 8
    /// assert!(Srht::new(8, 5, RngState::new(1)).is_ok()); // d = m' = 8
    /// assert!(Srht::new(0, 5, RngState::new(1)).is_err());
    /// ```
    pub fn new(d: usize, m: usize, rng: impl Into<RngState>) -> Result<Self> {
        let rng: RngState = rng.into();
        require_nonempty("srht", d, m)?;
        let n_pad = check_generated(
            &format!("srht inverse map of padded length m' for m = {m}"),
            m.checked_next_power_of_two(),
        )?;
        if d > n_pad {
            return Err(Error::InvalidArgument(format!(
                "srht of {d}x{m}: the sketch size d = {d} exceeds the padded length m' = {n_pad} \
                 (rows are sampled without replacement)"
            )));
        }
        // Every array proportional to m, m' or d is allocated fallibly: m' may be as large as
        // 2³², so a host that cannot hold them gets a typed error, not an abort.
        let mut signs = try_filled("srht signs", m, 0.0f64)?;
        for (j, s) in signs.iter_mut().enumerate() {
            *s = f64::from(rng.entry(Dist::Rademacher, j as u64, 0));
        }
        let mut sample = floyd_sample("srht sampled rows", &rng, 1, n_pad, d)?;
        sample.sort_unstable();
        let mut sample32 = try_filled("srht sampled rows", d, 0u32)?;
        for (t, &i) in sample32.iter_mut().zip(&sample) {
            *t = i as u32;
        }
        // Every index is below m' ≤ 2³², so the u32 casts are exact; "not sampled" is d (when
        // d = m' = 2³² every row is sampled and the fill is overwritten).
        let mut inverse = try_filled("srht inverse map", n_pad, u32::try_from(d).unwrap_or(0))?;
        for (r, &i) in sample.iter().enumerate() {
            inverse[i] = r as u32;
        }
        Ok(Self {
            rows: d,
            cols: m,
            n_pad,
            rng,
            signs: Param::of_shape(m, 1, signs),
            sample: IndexParam::from_u32(sample32),
            inverse: IndexParam::from_u32(inverse),
        })
    }

    /// The padded transform length `m'` (next power of two `≥ m`).
    ///
    /// # Examples
    /// ```
    /// use linops_core::{op::Srht, rng::RngState};
    /// assert_eq!(Srht::new(2, 9, RngState::new(0)).unwrap().padded_len(), 16);
    /// ```
    #[must_use]
    pub fn padded_len(&self) -> usize {
        self.n_pad
    }

    /// The sampled Hadamard rows `ρ_0 < … < ρ_{d−1}`.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{op::Srht, rng::RngState};
    /// assert_eq!(Srht::new(4, 4, RngState::new(0)).unwrap().sampled_rows(), vec![0, 1, 2, 3]);
    /// ```
    #[must_use]
    pub fn sampled_rows(&self) -> Vec<usize> {
        self.sample.indices().iter().map(|&v| v as usize).collect()
    }

    /// The signs `δ_j` (`±1`).
    ///
    /// # Examples
    /// ```
    /// use linops_core::{op::Srht, rng::RngState};
    /// let s = Srht::new(2, 3, RngState::new(0)).unwrap();
    /// assert!(s.signs().iter().all(|v| v.abs() == 1.0));
    /// ```
    #[must_use]
    pub fn signs(&self) -> Vec<f64> {
        self.signs.data.to_vec()
    }

    /// The scale `√(m'/d)`.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{op::Srht, rng::RngState};
    /// assert_eq!(Srht::new(2, 8, RngState::new(0)).unwrap().scale(), 2.0);
    /// ```
    #[must_use]
    pub fn scale(&self) -> f64 {
        (self.n_pad as f64 / self.rows as f64).sqrt()
    }

    /// The generator state.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{op::Srht, rng::RngState};
    /// assert_eq!(Srht::new(2, 2, RngState::new(5)).unwrap().rng().key, [5, 0]);
    /// ```
    #[must_use]
    pub fn rng(&self) -> RngState {
        self.rng
    }
}

impl LeafOp for Srht {
    /// Never: a sketch is applied through its sparse or fast form, not stored dense.
    fn materializable(&self) -> bool {
        false
    }
    fn name(&self) -> &'static str {
        "srht"
    }
    fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }
    fn to_dense(&self) -> HostMat {
        let v = 1.0 / (self.rows as f64).sqrt();
        let (rows, signs) = (self.sampled_rows(), &self.signs.data);
        HostMat::from_fn(self.rows, self.cols, |r, j| {
            let h = if (rows[r] & j).count_ones() % 2 == 0 {
                v
            } else {
                -v
            };
            h * signs[j]
        })
    }
    fn param_count(&self) -> usize {
        self.cols + self.rows
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
        // One fused step (`kernel::Srht`): signs, transform and row selection in one pass; the
        // SRHT's √(m'/d) rides on alpha and the kernel's transform is orthonormal (1/√m').
        let signs = cx.param(&self.signs);
        let idx = if transposed {
            // Sᵀ = D·Pᵀ·Hᵀ·Rᵀ: Rᵀ is the gather through the inverse sample map.
            cx.index(&self.inverse)
        } else {
            cx.index(&self.sample)
        };
        let k = kernel::Srht {
            alpha: alpha * self.scale(),
            beta,
            transposed,
        };
        cx.push(k, vec![idx, signs, x], out)
    }
}
