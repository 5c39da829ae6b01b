//! Row sampling sketches: `S` (`d×m`) picks `d` rows of `A` with replacement and rescales them.
//!
//! **Mathematics.** Given probabilities `p` over the `m` rows (`p_i ≥ 0`, `Σ p_i = 1`), draw
//! indices `i_0, …, i_{d−1}` independently with `P(i_t = i) = p_i`, and set
//! `S(t, i_t) = 1/√(d·p_{i_t})`, every other entry 0. Then `SᵀS = Σ_t e_{i_t}e_{i_t}ᵀ/(d·p_{i_t})`
//! is diagonal with `E[SᵀS] = Σ_i d·p_i·e_ie_iᵀ/(d·p_i) = I_m`, so `E‖S·x‖² = ‖x‖²` (isometry
//! scale: the per-row factor `1/√(d·p_i)`). Rows with `p_i = 0` are never drawn. Families:
//! uniform (`p_i = 1/m`, every sampled row scaled by `√(m/d)`), squared row norms
//! (`p_i = ‖A_i‖²/‖A‖_F²`, length-squared sampling of Frieze–Kannan–Vempala / Drineas–Kannan–
//! Mahoney), arbitrary probabilities (for example approximate leverage scores, which the facade
//! crate computes).
//!
//! **Draws** (the counter layout). Draw `t` uses the Philox block at `counter + t` of the
//! [`RngState`]: `u_t = uniform_f64(w₀, w₁)` (`[0, 1)`, 53 bits, see [`crate::rng::uniform_f64`])
//! and `i_t` is the smallest `i` with `c_i > u_t·c_{m−1}`, where `c_i = w_0 + … + w_i` are the
//! prefix sums (in `f64`, left to right) of the unnormalized weights `w`. (If rounding makes
//! `u_t·c_{m−1}` reach `c_{m−1}`, the last row with positive weight is taken.) The draws happen
//! once, on the host, when the operator is built, so the same seed gives the same rows on every
//! backend; a sampler consumes `d` counters, and `rng.skip_columns(1)` (or any counter offset
//! `≥ d`) gives an independent one.
//!
//! **Storage.** The `d` indices and the CSR of `S` and of `Sᵀ` ([`Csr`]: one entry per row of `S`;
//! in `Sᵀ` a row drawn `r` times holds `r` entries, one per draw, summed in draw order by the
//! SpMM kernel, so duplicates need no float atomics). Indices are `u32` index parameters: `d` and
//! `m` must not exceed `IndexParam::MAX_INDEX = 2³² − 1` (a [`Error::DeviceLimit`] otherwise).
//!
//! **Cost.** Building: `O(m + d·log m)` (prefix sums, one binary search per draw). `S·X` for `X`
//! of `m×b`: `d·b` multiplies reading `d` rows of `X` (a gather); `Sᵀ·Y` (`Y` of `d×b`): `d·b`
//! multiply-adds writing `m×b` (a scatter-add, done as a row-wise gather over the CSR of `Sᵀ`).
//! Both lower to one `spmm` kernel.

use super::{Csr, LeafOp, csr::check_csr_sizes, require_nonempty, try_filled};
use crate::rng::{RngState, uniform_f64};
use crate::{Error, HostMat, Op, Result};

/// A `d×m` row-sampling sketch: `d` rows drawn with replacement, row `t` scaled by `1/√(d·p_{i_t})`.
///
/// # Examples
/// ```
/// use linops_core::{LeafOp, Op, op::RowSampler, rng::RngState};
/// let s = RowSampler::uniform(4, 16, RngState::new(1)).unwrap();
/// assert_eq!(s.shape(), (4, 16));
/// let dense = s.to_dense();
/// for (t, &i) in s.indices().iter().enumerate() {
///     assert_eq!(dense.get(t, i), 2.0); // √(m/d) = √(16/4)
/// }
/// assert_eq!(Op::leaf(s).t().shape(), (16, 4));
/// ```
#[derive(Debug, Clone)]
pub struct RowSampler {
    rows: usize,
    cols: usize,
    indices: Vec<usize>,
    probabilities: Vec<f64>,
    rng: RngState,
    csr: Csr,
}

impl RowSampler {
    /// `d` rows of `m` drawn uniformly with replacement (`p_i = 1/m`, scale `√(m/d)`).
    ///
    /// # Errors
    /// [`Error::EmptyDimension`] when `d` or `m` is 0; [`Error::DeviceLimit`] when either
    /// exceeds `IndexParam::MAX_INDEX` (`2³² − 1`); [`Error::Backend`] when the host refuses the
    /// `m` weights.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{op::RowSampler, rng::RngState};
    /// assert!(RowSampler::uniform(0, 5, RngState::new(1)).is_err());
    /// assert!(RowSampler::uniform(3, 5, RngState::new(1)).unwrap().indices().iter().all(|&i| i < 5));
    /// ```
    pub fn uniform(d: usize, m: usize, rng: impl Into<RngState>) -> Result<Self> {
        let rng: RngState = rng.into();
        require_nonempty("row sampler", d, m)?;
        Self::check_limits(d, m)?; // before the m weights are allocated
        Self::from_weights(d, &try_filled("uniform row sampler weights", m, 1.0)?, rng)
    }

    /// `d` rows drawn with probabilities proportional to the squares of the given row norms.
    ///
    /// # Errors
    /// As [`RowSampler::from_probabilities`] (the norms must be finite and `≥ 0`, not all 0).
    ///
    /// # Examples
    /// ```
    /// use linops_core::{op::RowSampler, rng::RngState};
    /// let s = RowSampler::squared_row_norms(3, &[0.0, 2.0, 0.0], RngState::new(4)).unwrap();
    /// assert_eq!(s.indices(), &[1, 1, 1]); // the only row with positive norm
    /// assert_eq!(s.probabilities()[1], 1.0);
    /// ```
    pub fn squared_row_norms(d: usize, norms: &[f64], rng: impl Into<RngState>) -> Result<Self> {
        let rng: RngState = rng.into();
        Self::check_weights("row norms", norms)?;
        let sq: Vec<f64> = norms.iter().map(|v| v * v).collect();
        Self::from_probabilities(d, &sq, rng)
    }

    /// Squared-row-norm sampling of the rows of a dense matrix `a` (`m×n`).
    ///
    /// # Errors
    /// [`Error::NonFinite`] for NaN/Inf in `a`, [`Error::InvalidArgument`] when `a` is zero, and
    /// as [`RowSampler::from_probabilities`].
    ///
    /// # Examples
    /// ```
    /// use linops_core::{HostMat, op::RowSampler, rng::RngState};
    /// let a = HostMat::from_fn(4, 2, |i, j| if i == 2 { 1.0 + j as f64 } else { 0.0 });
    /// let s = RowSampler::from_matrix_rows(2, &a, RngState::new(0)).unwrap();
    /// assert_eq!(s.indices(), &[2, 2]);
    /// ```
    pub fn from_matrix_rows(d: usize, a: &HostMat, rng: impl Into<RngState>) -> Result<Self> {
        let rng: RngState = rng.into();
        a.check_finite("row sampler matrix")?;
        let mut sq = vec![0.0f64; a.rows()];
        for j in 0..a.cols() {
            for (i, s) in sq.iter_mut().enumerate() {
                let v = a.get(i, j);
                *s += v * v;
            }
        }
        Self::from_probabilities(d, &sq, rng)
    }

    /// `d` rows drawn with probabilities proportional to `weights` (normalized here).
    ///
    /// # Errors
    /// [`Error::EmptyDimension`] when `d` is 0 or `weights` is empty; [`Error::NonFinite`] for
    /// NaN/Inf weights; [`Error::InvalidArgument`] for a negative weight or a sum that is 0 (or
    /// overflows); [`Error::DeviceLimit`] when `d` or `m` exceeds `IndexParam::MAX_INDEX` (`2³² − 1`).
    ///
    /// # Examples
    /// ```
    /// use linops_core::{op::RowSampler, rng::RngState};
    /// let s = RowSampler::from_probabilities(8, &[1.0, 3.0], RngState::new(2)).unwrap();
    /// assert_eq!(s.probabilities(), &[0.25, 0.75]);
    /// assert!(RowSampler::from_probabilities(8, &[1.0, -1.0], RngState::new(2)).is_err());
    /// assert!(RowSampler::from_probabilities(8, &[0.0, 0.0], RngState::new(2)).is_err());
    /// ```
    pub fn from_probabilities(d: usize, weights: &[f64], rng: impl Into<RngState>) -> Result<Self> {
        let rng: RngState = rng.into();
        require_nonempty("row sampler", d, weights.len())?;
        Self::check_weights("row sampling probabilities", weights)?;
        Self::from_weights(d, weights, rng)
    }

    /// `d` rows drawn with probabilities proportional to (approximate) leverage scores, as
    /// computed by `linops::sampling::leverage_scores` (this is [`RowSampler::from_probabilities`]
    /// under the name the literature uses).
    ///
    /// # Errors
    /// As [`RowSampler::from_probabilities`].
    ///
    /// # Examples
    /// ```
    /// use linops_core::{op::RowSampler, rng::RngState};
    /// let s = RowSampler::leverage(2, &[0.0, 1.0, 1.0], RngState::new(1)).unwrap();
    /// assert!(s.indices().iter().all(|&i| i > 0));
    /// ```
    pub fn leverage(d: usize, scores: &[f64], rng: impl Into<RngState>) -> Result<Self> {
        let rng: RngState = rng.into();
        Self::from_probabilities(d, scores, rng)
    }

    fn check_weights(context: &str, w: &[f64]) -> Result<()> {
        if w.is_empty() {
            return Err(Error::EmptyDimension {
                context: context.into(),
                rows: 0,
                cols: 1,
            });
        }
        for (i, &v) in w.iter().enumerate() {
            if !v.is_finite() {
                return Err(Error::NonFinite {
                    context: context.into(),
                    row: i,
                    col: 0,
                    value: v,
                });
            }
            if v < 0.0 {
                return Err(Error::InvalidArgument(format!(
                    "{context}: entry {i} is negative ({v})"
                )));
            }
        }
        Ok(())
    }

    /// The CSR of `S` has `d` rows, `m` columns and `d` entries.
    fn check_limits(d: usize, m: usize) -> Result<()> {
        check_csr_sizes("row sampler", d, m, d)
    }

    fn from_weights(d: usize, w: &[f64], rng: RngState) -> Result<Self> {
        let m = w.len();
        Self::check_limits(d, m)?;
        let mut cdf = Vec::with_capacity(m);
        let mut acc = 0.0f64;
        for &v in w {
            acc += v;
            cdf.push(acc);
        }
        let total = acc;
        if !(total > 0.0 && total.is_finite()) {
            return Err(Error::InvalidArgument(format!(
                "row sampling weights sum to {total}: need a positive finite sum"
            )));
        }
        let probabilities: Vec<f64> = w.iter().map(|v| v / total).collect();
        let last_positive = w.iter().rposition(|&v| v > 0.0).expect("positive sum");
        let indices: Vec<usize> = (0..d)
            .map(|t| {
                let b = rng.block(t as u128);
                let target = uniform_f64(b[0], b[1]) * total;
                let i = cdf.partition_point(|&c| c <= target);
                i.min(last_positive)
            })
            .collect();
        let values: Vec<f64> = indices
            .iter()
            .map(|&i| 1.0 / (d as f64 * probabilities[i]).sqrt())
            .collect();
        let csr = Csr::new(d, m, (0..=d).collect(), indices.clone(), values)?;
        Ok(Self {
            rows: d,
            cols: m,
            indices,
            probabilities,
            rng,
            csr,
        })
    }

    /// The drawn row indices `i_0, …, i_{d−1}` (row `t` of `S` picks row `i_t` of `A`).
    ///
    /// # Examples
    /// ```
    /// use linops_core::{op::RowSampler, rng::RngState};
    /// assert_eq!(RowSampler::uniform(5, 3, RngState::new(9)).unwrap().indices().len(), 5);
    /// ```
    #[must_use]
    pub fn indices(&self) -> &[usize] {
        &self.indices
    }

    /// The normalized sampling probabilities `p` (length `m`, summing to 1 up to rounding).
    ///
    /// # Examples
    /// ```
    /// use linops_core::{op::RowSampler, rng::RngState};
    /// assert_eq!(RowSampler::uniform(5, 4, RngState::new(9)).unwrap().probabilities(), &[0.25; 4]);
    /// ```
    #[must_use]
    pub fn probabilities(&self) -> &[f64] {
        &self.probabilities
    }

    /// The scale of row `t` of `S`: `1/√(d·p_{i_t})`.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{op::RowSampler, rng::RngState};
    /// assert_eq!(RowSampler::uniform(4, 16, RngState::new(9)).unwrap().row_scales(), vec![2.0; 4]);
    /// ```
    #[must_use]
    pub fn row_scales(&self) -> Vec<f64> {
        self.indices
            .iter()
            .map(|&i| 1.0 / (self.rows as f64 * self.probabilities[i]).sqrt())
            .collect()
    }

    /// The generator state the draws came from.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{op::RowSampler, rng::RngState};
    /// assert_eq!(RowSampler::uniform(1, 2, RngState::new(3)).unwrap().rng(), RngState::new(3));
    /// ```
    #[must_use]
    pub fn rng(&self) -> RngState {
        self.rng
    }
}

impl LeafOp for RowSampler {
    /// Never: a sketch is applied through its sparse or fast form, not stored dense.
    fn materializable(&self) -> bool {
        false
    }
    fn name(&self) -> &'static str {
        "row_sampler"
    }
    fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }
    fn to_dense(&self) -> HostMat {
        let mut m = HostMat::zeros(self.rows, self.cols);
        for (t, (&i, s)) in self.indices.iter().zip(self.row_scales()).enumerate() {
            m.set(t, i, s);
        }
        m
    }
    fn param_count(&self) -> usize {
        self.csr.param_count()
    }
    fn rewrite(&self) -> Option<Op> {
        Some(Op::leaf(self.csr.clone()))
    }
}
