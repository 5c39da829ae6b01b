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
//! Hadamard row in the sample, or `d` for "not sampled") as exact-integer plan parameters:
//! `param_count = m + d`. Indices must stay below 2²⁴ (the GPU's f32 parameters), so
//! `m' < 2²⁴`.
//!
//! **Applying.** `S·X` (`X` of `m×b`): `DiagScale` (signs) → `Fwht` zero-padding to `m'` rows →
//! `Gather` of the `d` sampled rows with the scale `√(m'/d)` on its `alpha`. `Sᵀ·Y` (`Y` of `d×b`):
//! `Gather` through the inverse map (unsampled rows read as zero) to `m'` rows → `Fwht` keeping
//! the first `m` rows → `DiagScale` with the scale. Cost: `m'·log₂m'·b` additions plus `(2m + d)·b`
//! (or `(m + m' + m)·b`) multiplies and two `m'×b` / `m×b` temporaries; nothing dense.

use super::sketch_sparse::floyd_sample;
use super::{LeafOp, require_nonempty};
use crate::lower::{Param, kernel};
use crate::op::Lowering;
use crate::rng::{Dist, RngState};
use crate::{BufId, Error, HostMat, Link, Result};

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
    sample: Param,
    inverse: Param,
}

impl Srht {
    /// The `d×m` SRHT from `rng` (module docs).
    ///
    /// # Errors
    /// [`Error::EmptyDimension`] when `d` or `m` is 0; [`Error::InvalidArgument`] when `d` exceeds
    /// `m'`, the next power of two `≥ m`; [`Error::DeviceLimit`] when `m'` reaches 2²⁴.
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
        let limit = super::csr::CSR_INDEX_LIMIT;
        let n_pad = m.checked_next_power_of_two().unwrap_or(usize::MAX);
        if n_pad >= limit {
            return Err(Error::DeviceLimit {
                what: format!("srht padded length of m = {m}"),
                requested: n_pad as u64,
                limit_name: "exact f32 integer indices (2^24, exclusive)".into(),
                limit: limit as u64,
            });
        }
        if d > n_pad {
            return Err(Error::InvalidArgument(format!(
                "srht of {d}x{m}: the sketch size d = {d} exceeds the padded length m' = {n_pad} \
                 (rows are sampled without replacement)"
            )));
        }
        let signs: Vec<f64> = (0..m)
            .map(|j| f64::from(rng.entry(Dist::Rademacher, j as u64, 0)))
            .collect();
        let mut sample = floyd_sample(&rng, 1, n_pad, d);
        sample.sort_unstable();
        let mut inverse = vec![d as f64; n_pad];
        for (r, &i) in sample.iter().enumerate() {
            inverse[i] = r as f64;
        }
        let col = |data: Vec<f64>| Param::of_shape(data.len(), 1, data);
        Ok(Self {
            rows: d,
            cols: m,
            n_pad,
            rng,
            signs: col(signs),
            sample: col(sample.iter().map(|&i| i as f64).collect()),
            inverse: col(inverse),
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
        self.sample.data.iter().map(|&v| v as usize).collect()
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
        let signs = cx.param(&self.signs);
        let (n_pad, cols, rows) = (self.n_pad, self.cols, cx.shape_of(out).0);
        // The 1/√(n_pad·d)-type scale rides on the last step's alpha (`s` is 1 elsewhere).
        let scale = self.scale();
        let sign = |rows, s: f64| {
            Link::new(rows, move |cx: &mut Lowering, i, o, a: f64, b| {
                cx.push(
                    kernel::DiagScale {
                        alpha: a * s,
                        beta: b,
                    },
                    vec![signs, i],
                    o,
                )
            })
        };
        let gather = |rows, idx, s: f64| {
            Link::new(rows, move |cx: &mut Lowering, i, o, a: f64, b| {
                cx.push(
                    kernel::Gather {
                        alpha: a * s,
                        beta: b,
                    },
                    vec![idx, i],
                    o,
                )
            })
        };
        let fwht = |rows| {
            Link::new(rows, |cx: &mut Lowering, i, o, a, b| {
                cx.push(kernel::Fwht { alpha: a, beta: b }, vec![i], o)
            })
        };
        let links = if transposed {
            // Sᵀ = D·Hᵀ·Pᵀ: gather by the inverse sample, transform, sign-scale.
            let inv = cx.param(&self.inverse);
            vec![gather(n_pad, inv, 1.0), fwht(cols), sign(rows, scale)]
        } else {
            // S = P·H·D: sign-scale, transform, gather the sampled rows.
            let sample = cx.param(&self.sample);
            vec![sign(cols, 1.0), fwht(n_pad), gather(rows, sample, scale)]
        };
        cx.chain(x, out, alpha, beta, links)
    }
}
