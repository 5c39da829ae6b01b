//! Approximate matrix products `AᵀB` by sampling shared rows.
//!
//! `A` is `m×p`, `B` is `m×q`; `AᵀB = Σ_i A_iᵀB_i` over the shared rows `i` (`A_i` the row `i`).
//!
//! **Norm-proportional sampling** (Drineas, Kannan and Mahoney, 2006). Draw `c` rows with
//! replacement, `P(i) = p_i ∝ ‖A_i‖·‖B_i‖`, and return `Σ_t A_{i_t}ᵀB_{i_t}/(c·p_{i_t})`, which is
//! `(S·A)ᵀ(S·B)` for the [`RowSampler`] `S` with these probabilities (its rows carry
//! `1/√(c·p_i)`). Unbiased; with these `p`,
//! `E‖AᵀB − est‖_F² = ((Σ_i ‖A_i‖‖B_i‖)² − ‖AᵀB‖_F²)/c ≤ ‖A‖_F²‖B‖_F²/c`, so
//! `E‖AᵀB − est‖_F ≤ ‖A‖_F‖B‖_F/√c`. Cost: `O(m·(p + q))` for the norms, `c·(p + q)` gathered
//! entries on the engine, `2·c·p·q` for the small product. Both sides must be seen together (the
//! probabilities use both norms).
//!
//! **Coordinated priority sampling** (after Daliri, Freire, Musco, Santos and Zhang, 2023,
//! "Sampling methods for inner product sketching"). Each side is sketched alone, possibly in
//! another process, from the same seed. A shared hash `h(i) ∈ [0, 1)` per row index (Philox block
//! at `counter + i`, `uniform_f64(w₀, w₁)`) gives row `i` of `A` the rank `h(i)/w_i` with
//! `w_i = ‖A_i‖²` (rows with `w_i = 0` are never kept); the sketch keeps the `k` rows of smallest
//! rank and the threshold `τ_A`, the `(k+1)`-th smallest rank (`+∞` when at most `k` rows have
//! positive weight). Row `i` is kept iff `h(i) < w_i·τ_A`. Because the hash is shared, a row kept
//! by both sketches is one with `h(i) < min(w^A_i τ_A, w^B_i τ_B)`, and the estimate
//! `Σ_{i ∈ K_A ∩ K_B} A_iᵀB_i / min(1, w^A_i τ_A, w^B_i τ_B)` is unbiased (each term's inverse
//! inclusion probability given the other rows' ranks, as in priority sampling). The coordination
//! (same `h`) is what makes the two independent samples overlap on the heavy rows. Cost per side:
//! `O(m·p)` for norms, `O(m log m)` for the ranks, storage `k·p + 2k` reals.

use crate::randnla::host_la::norm;
use crate::randnla::{check_block, exponent, ldexp};
use crate::sampling::apply_f64;
use crate::{Engine, Error, HostMat, Op, Result, op::RowSampler};
use faer::{Mat, MatRef};
use linops_core::rng::{RngState, uniform_f64};

fn check_input(context: &str, a: MatRef<'_, f64>) -> Result<()> {
    if a.nrows() == 0 || a.ncols() == 0 {
        return Err(Error::EmptyDimension {
            context: context.into(),
            rows: a.nrows(),
            cols: a.ncols(),
        });
    }
    HostMat::from_fn(a.nrows(), a.ncols(), |i, j| a[(i, j)]).check_finite(context)
}

/// Euclidean norms of the rows, without over- or underflow (scaled sums of squares).
fn row_norms(a: MatRef<'_, f64>) -> Vec<f64> {
    let mut row = vec![0.0; a.ncols()];
    (0..a.nrows())
        .map(|i| {
            row.iter_mut().enumerate().for_each(|(j, v)| *v = a[(i, j)]);
            norm(&row)
        })
        .collect()
}

/// `v·2^{-e}` for the power of two `2^e ≤ max v_i` (exact), and `e`: weights that only matter
/// through their ratios, brought near 1 so that their products neither over- nor underflow.
fn pow2_normalized(v: Vec<f64>) -> (Vec<f64>, i32) {
    let top = v.iter().fold(0.0f64, |m, x| m.max(*x));
    if top == 0.0 {
        return (v, 0);
    }
    let e = exponent(top);
    (v.into_iter().map(|x| ldexp(x, -e)).collect(), e)
}

/// The DKM sampling weights `‖A_i‖·‖B_i‖` (unnormalized) of the shared rows.
///
/// # Errors
/// [`Error::ShapeMismatch`] when `A` and `B` have different row counts; [`Error::EmptyDimension`],
/// [`Error::NonFinite`] for bad input.
///
/// # Examples
/// ```
/// use linops::faer::mat;
/// let a = mat![[3.0], [0.0]];
/// let b = mat![[1.0, 0.0], [2.0, 0.0]];
/// assert_eq!(linops::amm::norm_weights(a.as_ref(), b.as_ref()).unwrap(), vec![3.0, 0.0]);
/// ```
pub fn norm_weights(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> Result<Vec<f64>> {
    check_input("amm A", a)?;
    check_input("amm B", b)?;
    if a.nrows() != b.nrows() {
        return Err(Error::ShapeMismatch {
            context: "approximate product AᵀB".into(),
            expected: format!("B with {} rows (as A)", a.nrows()),
            found: format!("{} rows", b.nrows()),
        });
    }
    Ok(row_norms(a)
        .into_iter()
        .zip(row_norms(b))
        .map(|(x, y)| x * y)
        .collect())
}

/// The norm-proportional (DKM) estimate of `AᵀB` from `c` sampled rows, applied on `engine`.
///
/// # Errors
/// As [`norm_weights`]; [`Error::EmptyDimension`] for `c == 0`; [`Error::DeviceLimit`] when the
/// `c×max(p, q)` sample exceeds [`MAX_BLOCK_ENTRIES`](crate::randnla::MAX_BLOCK_ENTRIES); engine
/// errors.
///
/// # Examples
/// ```
/// use linops::{Engine, faer::Mat, amm::amm_norm_sampling};
/// let a = Mat::<f64>::from_fn(6, 2, |i, j| if i == 4 { 1.0 + j as f64 } else { 0.0 });
/// let est = amm_norm_sampling(&Engine::cpu(), a.as_ref(), a.as_ref(), 3, Default::default()).unwrap();
/// assert!((est[(1, 1)] - 4.0).abs() < 1e-12); // one nonzero row: exact
/// ```
pub fn amm_norm_sampling(
    engine: &Engine,
    a: MatRef<'_, f64>,
    b: MatRef<'_, f64>,
    c: usize,
    rng: RngState,
) -> Result<Mat<f64>> {
    norm_weights(a, b)?; // validates both inputs and their row counts
    if c == 0 {
        return Err(Error::EmptyDimension {
            context: "amm sample count c".into(),
            rows: 0,
            cols: 1,
        });
    }
    check_block(
        &format!("amm: c = {c} sampled rows"),
        c,
        a.ncols().max(b.ncols()),
    )?;
    // The weights ‖A_i‖·‖B_i‖ matter only through their ratios: normalize each side by a power
    // of two so that the products stay representable whatever the scales of A and B.
    let (na, _) = pow2_normalized(row_norms(a));
    let (nb, _) = pow2_normalized(row_norms(b));
    let w: Vec<f64> = na.iter().zip(&nb).map(|(x, y)| x * y).collect();
    if w.iter().all(|&v| v == 0.0) {
        // Every term A_iᵀB_i is zero: the product is exactly zero.
        return Ok(Mat::zeros(a.ncols(), b.ncols()));
    }
    let s = Op::leaf(RowSampler::from_probabilities(c, &w, rng)?);
    let sa = apply_f64(engine, &s, a)?;
    let sb = apply_f64(engine, &s, b)?;
    Ok(sa.transpose() * &sb)
}

/// One side's coordinated priority sample (module docs): kept rows, their values and weights,
/// and the threshold.
///
/// # Examples
/// ```
/// use linops::{faer::Mat, amm::PrioritySketch};
/// let a = Mat::<f64>::from_fn(100, 2, |i, j| (i + j) as f64);
/// let s = PrioritySketch::new(a.as_ref(), 10, Default::default()).unwrap();
/// assert_eq!(s.rows().len(), 10);
/// assert!(s.threshold().is_finite());
/// ```
#[derive(Debug, Clone)]
pub struct PrioritySketch {
    m: usize,
    rng: RngState,
    rows: Vec<usize>,
    weights: Vec<f64>,
    values: Mat<f64>,
    tau: f64,
    /// The weights are `(‖A_i‖·2^{-scale})²` (exact rescaling, module docs); `tau` is in their
    /// units.
    scale: i32,
}

/// The shared hash `h(i) ∈ [0, 1)` of row `i`: `uniform_f64(w₀, w₁)` of the Philox block at
/// `counter + i`.
///
/// # Examples
/// ```
/// let h = linops::amm::priority_hash(Default::default(), 5);
/// assert!((0.0..1.0).contains(&h));
/// ```
#[must_use]
pub fn priority_hash(rng: RngState, i: usize) -> f64 {
    let b = rng.block(i as u128);
    uniform_f64(b[0], b[1])
}

impl PrioritySketch {
    /// The priority sample of `k` rows of `a` (`m×p`) under the shared hash of `rng`.
    ///
    /// # Errors
    /// [`Error::EmptyDimension`] for an empty `a` or `k == 0`; [`Error::NonFinite`] for NaN/Inf.
    ///
    /// # Examples
    /// ```
    /// use linops::{faer::Mat, amm::PrioritySketch};
    /// assert!(PrioritySketch::new(Mat::<f64>::ones(3, 1).as_ref(), 0, Default::default()).is_err());
    /// let s = PrioritySketch::new(Mat::<f64>::ones(3, 1).as_ref(), 5, Default::default()).unwrap();
    /// assert_eq!(s.threshold(), f64::INFINITY); // all 3 rows kept
    /// ```
    pub fn new(a: MatRef<'_, f64>, k: usize, rng: RngState) -> Result<Self> {
        check_input("priority sketch input", a)?;
        if k == 0 {
            return Err(Error::EmptyDimension {
                context: "priority sketch size k".into(),
                rows: 0,
                cols: 1,
            });
        }
        // w_i = ‖A_i‖² matters only through the ratios h(i)/w_i and w_i·τ: scale the norms by
        // a power of two first (exact) so that the squares neither over- nor underflow.
        let (norms, scale) = pow2_normalized(row_norms(a));
        let w: Vec<f64> = norms.iter().map(|v| v * v).collect();
        let mut ranked: Vec<(f64, usize)> = w
            .iter()
            .enumerate()
            .filter(|(_, v)| **v > 0.0)
            .map(|(i, &v)| (priority_hash(rng, i) / v, i))
            .collect();
        ranked.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
        let tau = ranked.get(k).map_or(f64::INFINITY, |r| r.0);
        ranked.truncate(k);
        let mut rows: Vec<usize> = ranked.into_iter().map(|r| r.1).collect();
        rows.sort_unstable();
        let values = Mat::from_fn(rows.len(), a.ncols(), |t, j| a[(rows[t], j)]);
        let weights = rows.iter().map(|&i| w[i]).collect();
        Ok(Self {
            m: a.nrows(),
            rng,
            rows,
            weights,
            values,
            tau,
            scale,
        })
    }

    /// The kept row indices (sorted).
    ///
    /// # Examples
    /// ```
    /// use linops::{faer::Mat, amm::PrioritySketch};
    /// let s = PrioritySketch::new(Mat::<f64>::ones(3, 1).as_ref(), 2, Default::default()).unwrap();
    /// assert_eq!(s.rows().len(), 2);
    /// ```
    #[must_use]
    pub fn rows(&self) -> &[usize] {
        &self.rows
    }

    /// The threshold `τ` (the `(k+1)`-th smallest rank, `+∞` if none).
    ///
    /// # Examples
    /// ```
    /// use linops::{faer::Mat, amm::PrioritySketch};
    /// let s = PrioritySketch::new(Mat::<f64>::ones(3, 1).as_ref(), 2, Default::default()).unwrap();
    /// assert!(s.threshold() > 0.0);
    /// ```
    #[must_use]
    pub fn threshold(&self) -> f64 {
        // τ for the weights ‖A_i‖² is τ_scaled·2^{-2·scale} (exact unless it leaves f64's range).
        ldexp(self.tau, -2 * self.scale)
    }

    /// The estimate of `AᵀB` from this sketch (of `A`) and `other` (of `B`).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when the sketches used different seeds or different row counts.
    ///
    /// # Examples
    /// ```
    /// use linops::{faer::Mat, amm::PrioritySketch};
    /// let a = Mat::<f64>::from_fn(4, 1, |i, _| i as f64);
    /// let sa = PrioritySketch::new(a.as_ref(), 8, Default::default()).unwrap();
    /// let est = sa.product(&sa).unwrap();
    /// assert_eq!(est[(0, 0)], 14.0); // k ≥ m: exact
    /// ```
    pub fn product(&self, other: &PrioritySketch) -> Result<Mat<f64>> {
        if self.rng != other.rng || self.m != other.m {
            return Err(Error::InvalidArgument(format!(
                "priority sketches must share the seed and the row count: {:?}/{} vs {:?}/{}",
                self.rng, self.m, other.rng, other.m
            )));
        }
        let (p, q) = (self.values.ncols(), other.values.ncols());
        let mut est = Mat::<f64>::zeros(p, q);
        let (mut s, mut t) = (0, 0);
        while s < self.rows.len() && t < other.rows.len() {
            match self.rows[s].cmp(&other.rows[t]) {
                std::cmp::Ordering::Less => s += 1,
                std::cmp::Ordering::Greater => t += 1,
                std::cmp::Ordering::Equal => {
                    let prob = 1f64
                        .min(self.weights[s] * self.tau)
                        .min(other.weights[t] * other.tau);
                    for j in 0..q {
                        let bj = other.values[(t, j)] / prob;
                        for i in 0..p {
                            est[(i, j)] += self.values[(s, i)] * bj;
                        }
                    }
                    s += 1;
                    t += 1;
                }
            }
        }
        Ok(est)
    }
}

/// The coordinated priority-sampling estimate of `AᵀB` with `k` rows per side.
///
/// # Errors
/// As [`PrioritySketch::new`]; [`Error::ShapeMismatch`] for different row counts.
///
/// # Examples
/// ```
/// use linops::{faer::Mat, amm::amm_priority};
/// let a = Mat::<f64>::from_fn(5, 2, |i, j| (i * j) as f64);
/// let est = amm_priority(a.as_ref(), a.as_ref(), 10, Default::default()).unwrap();
/// assert_eq!(est[(1, 1)], 30.0); // k ≥ m: exact
/// ```
pub fn amm_priority(
    a: MatRef<'_, f64>,
    b: MatRef<'_, f64>,
    k: usize,
    rng: RngState,
) -> Result<Mat<f64>> {
    if a.nrows() != b.nrows() {
        return Err(Error::ShapeMismatch {
            context: "approximate product AᵀB".into(),
            expected: format!("B with {} rows (as A)", a.nrows()),
            found: format!("{} rows", b.nrows()),
        });
    }
    PrioritySketch::new(a, k, rng)?.product(&PrioritySketch::new(b, k, rng)?)
}
