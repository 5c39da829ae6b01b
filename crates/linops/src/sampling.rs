//! Approximate leverage scores (Drineas, Magdon-Ismail, Mahoney and Woodruff, 2012) and row
//! sampling by them.
//!
//! **Mathematics.** The leverage score of row `i` of a tall `A` (`m×n`, rank `n`) is
//! `ℓ_i = ‖Q_i‖²` for any orthonormal basis `Q` of `range(A)`; `Σ ℓ_i = n`. Exactly it costs a QR
//! of `A` (`O(m·n²)`). The approximation:
//! 1. sketch: `S·A` with a Gaussian [`DenseSketch`] `S` (`d×m`, `d ≥ n`);
//! 2. QR of the small sketch: `S·A = Q_s·R` (faer, `d×n`), so `A·R⁻¹` has orthonormal columns up
//!    to the embedding distortion: if the singular values of `S·U` (`U` an orthonormal basis of
//!    `range(A)`) lie in `[1 − ε, 1 + ε]`, then `‖(A·R⁻¹)_i‖² ∈ [ℓ_i/(1+ε)², ℓ_i/(1−ε)²]`;
//!    for Gaussian `S`, `ε ≤ √(n/d) + t/√d` with probability `≥ 1 − 2e^{−t²/2}` (Davidson–Szarek);
//! 3. JL: instead of `A·R⁻¹` (`m×n`), form `A·(R⁻¹·G)` with `G` (`n×k`) Gaussian scaled by
//!    `1/√k`, and return `ℓ̃_i = ‖(A·R⁻¹·G)_i‖²`. For one row, `ℓ̃_i/‖(A·R⁻¹)_i‖² ~ χ²_k/k`; by
//!    Laurent–Massart, with `x = ln(2m/δ)`, all `m` ratios lie in
//!    `[1 − 2√(x/k), 1 + 2√(x/k) + 2x/k]` with probability `≥ 1 − δ`. `k = O(log m)` suffices for
//!    a constant factor.
//!
//! **Randomness.** `S` uses `params.rng`, `G` is the transpose of a `k×n` Gaussian
//! [`DenseSketch`] with state `params.rng.skip_columns(m)` (independent of `S`). All draws come
//! from Philox, so every backend produces the same `S` and `G` (Gaussian entries within
//! `GAUSSIAN_GPU_MAX_ULPS` on the GPU).
//!
//! **Cost.** Sketch `2·d·m·n` (on the engine), QR `O(d·n²)` on the host, `R⁻¹·G` `O(n²·k)` on the
//! host, `A·(R⁻¹G)` `2·m·n·k` (on the engine), row norms `m·k`.

use crate::randnla::{apply_f32, check_block};
use crate::{Engine, Error, HostMat, Op, Result, op::DenseSketch, op::RowSampler};
use faer::{Mat, MatRef};
use linops_core::rng::RngState;

/// Sizes and seed of the leverage score approximation.
///
/// # Examples
/// ```
/// use linops::sampling::LeverageParams;
/// use linops_core::rng::RngState;
/// let p = LeverageParams::auto(10_000, 20, RngState::new(1));
/// assert_eq!(p.sketch_rows, 80);
/// assert!(p.jl_cols >= 8);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LeverageParams {
    /// Rows `d` of the Gaussian sketch `S` (at least `n`; `4n` by default).
    pub sketch_rows: usize,
    /// Columns `k` of the JL matrix `G` (`⌈8·ln m⌉` by default, at least 8).
    pub jl_cols: usize,
    /// Generator state (`S` from it, `G` from `rng.skip_columns(m)`).
    pub rng: RngState,
}

impl LeverageParams {
    /// Defaults for an `m×n` matrix: `d = 4n`, `k = max(8, ⌈8·ln m⌉)`.
    ///
    /// # Examples
    /// ```
    /// let p = linops::sampling::LeverageParams::auto(100, 3, linops_core::rng::RngState::new(0));
    /// assert_eq!((p.sketch_rows, p.jl_cols), (12, 37));
    /// ```
    #[must_use]
    pub fn auto(m: usize, n: usize, rng: RngState) -> Self {
        Self {
            sketch_rows: n.max(1).saturating_mul(4),
            jl_cols: ((8.0 * (m.max(2) as f64).ln()).ceil() as usize).max(8),
            rng,
        }
    }
}

/// `op·x` on the engine in `f64` when it computes in `f64`, else through `f32` (with the data
/// scaled into f32's range, [`crate::randnla::apply_f32`]).
pub(crate) fn apply_f64(engine: &Engine, op: &Op, x: MatRef<'_, f64>) -> Result<Mat<f64>> {
    if engine.compute_dtype::<f64>().is_ok() {
        engine.apply(op, x)
    } else {
        apply_f32(engine, op, x)
    }
}

/// Approximate leverage scores of the rows of a tall operator `a` (`m×n`, `m ≥ n`), applied
/// through `engine` (module docs for the algorithm and its error).
///
/// # Errors
/// [`Error::InvalidArgument`] when `m < n`, `sketch_rows < n`, `jl_cols == 0`, or the sketch
/// `S·A` is numerically rank deficient (a diagonal entry of `R` at most `n·u·max|R|`);
/// [`Error::DeviceLimit`] when `S` (`sketch_rows×max(m, n)`), `I_n` or the JL block
/// (`max(m, n)×jl_cols`) exceeds [`MAX_BLOCK_ENTRIES`](crate::randnla::MAX_BLOCK_ENTRIES); engine
/// errors.
///
/// # Examples
/// ```
/// use linops::{Engine, Op, sampling::{LeverageParams, leverage_scores}};
/// use linops_core::rng::RngState;
/// let a = Op::dense(4, 2, vec![1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0]).unwrap();
/// let p = LeverageParams { sketch_rows: 64, jl_cols: 256, rng: RngState::new(3) };
/// let l = leverage_scores(&Engine::cpu(), &a, &p).unwrap();
/// assert_eq!(l[3], 0.0); // a zero row has leverage 0
/// // exact: 1; with d = 64 sketch rows and 256 JL columns the relative error is a few tenths
/// assert!(l[0] > 0.4 && l[0] < 2.5, "{l:?}");
/// ```
pub fn leverage_scores(engine: &Engine, a: &Op, params: &LeverageParams) -> Result<Vec<f64>> {
    let (m, n) = a.shape();
    if m < n {
        return Err(Error::InvalidArgument(format!(
            "leverage scores need a tall matrix: {m}x{n} has fewer rows than columns"
        )));
    }
    if params.sketch_rows < n {
        return Err(Error::InvalidArgument(format!(
            "leverage sketch rows {} must be at least n = {n}",
            params.sketch_rows
        )));
    }
    if params.jl_cols == 0 {
        return Err(Error::InvalidArgument(
            "leverage JL columns must be at least 1".into(),
        ));
    }
    // Blocks: S (d×m, possibly materialized), S·A (d×n) from I_n (n×n), G (n×k) and A·R⁻¹G (m×k).
    let d = params.sketch_rows;
    check_block(
        &format!("leverage scores: sketch_rows = {d} rows of S"),
        d,
        m.max(n),
    )?;
    check_block("leverage scores: the n×n identity S·A is formed from", n, n)?;
    check_block(
        &format!("leverage scores: jl_cols = {} JL columns", params.jl_cols),
        m.max(n),
        params.jl_cols,
    )?;
    // 1. S·A = (S·A)·I_n, on the engine.
    let s = Op::leaf(DenseSketch::gaussian(params.sketch_rows, m, params.rng)?);
    let sa = apply_f64(
        engine,
        &Op::product(vec![s, a.clone()])?,
        Mat::<f64>::identity(n, n).as_ref(),
    )?;
    // 2. R of the sketch.
    let qr = sa.qr();
    let r = qr.thin_R();
    let rmax = (0..n)
        .flat_map(|j| (0..=j).map(move |i| (i, j)))
        .fold(0.0f64, |acc, (i, j)| acc.max(r[(i, j)].abs()));
    let tol = n as f64 * f64::EPSILON * rmax;
    if let Some(i) = (0..n).find(|&i| r[(i, i)].abs() <= tol) {
        return Err(Error::InvalidArgument(format!(
            "leverage scores: the sketch of A is numerically rank deficient (|R[{i},{i}]| = {:e} ≤ {tol:e}); A must have full column rank",
            r[(i, i)].abs()
        )));
    }
    // 3. R⁻¹·G by back substitution (G = Sgᵀ, Sg a k×n Gaussian sketch with scale 1/√k).
    let k = params.jl_cols;
    let g = DenseSketch::gaussian(k, n, params.rng.skip_columns(m as u64))?;
    let gd = linops_core::LeafOp::to_dense(&g);
    let mut rg = Mat::<f64>::from_fn(n, k, |i, j| gd.get(j, i));
    for c in 0..k {
        for i in (0..n).rev() {
            let mut v = rg[(i, c)];
            for l in i + 1..n {
                v -= r[(i, l)] * rg[(l, c)];
            }
            rg[(i, c)] = v / r[(i, i)];
        }
    }
    // 4. Row norms of A·(R⁻¹·G).
    let arg = apply_f64(engine, a, rg.as_ref())?;
    Ok((0..m)
        .map(|i| (0..k).map(|c| arg[(i, c)] * arg[(i, c)]).sum())
        .collect())
}

/// Approximate leverage scores of a dense tall matrix (see [`leverage_scores`]).
///
/// # Errors
/// As [`leverage_scores`]; [`Error::NonFinite`] for NaN/Inf in `a`.
///
/// # Examples
/// ```
/// use linops::{Engine, faer::Mat, sampling::{LeverageParams, leverage_scores_dense}};
/// let a = Mat::<f64>::from_fn(50, 3, |i, j| ((i * 7 + j * 3) % 11) as f64 - 5.0);
/// let p = LeverageParams::auto(50, 3, linops_core::rng::RngState::new(1));
/// let l = leverage_scores_dense(&Engine::cpu(), a.as_ref(), &p).unwrap();
/// assert_eq!(l.len(), 50);
/// ```
pub fn leverage_scores_dense(
    engine: &Engine,
    a: MatRef<'_, f64>,
    params: &LeverageParams,
) -> Result<Vec<f64>> {
    leverage_scores(engine, &crate::dense(a)?, params)
}

/// Exact leverage scores of a dense tall matrix: squared row norms of `Q` from faer's thin QR
/// (`O(m·n²)`; the reference for tests). Assumes full column rank.
///
/// # Errors
/// [`Error::InvalidArgument`] when `a` has fewer rows than columns; [`Error::EmptyDimension`]
/// for an empty `a`; [`Error::NonFinite`] for NaN/Inf entries.
///
/// # Examples
/// ```
/// let a = linops::faer::Mat::<f64>::from_fn(3, 1, |i, _| if i == 0 { 2.0 } else { 0.0 });
/// assert_eq!(linops::sampling::exact_leverage_scores(a.as_ref()).unwrap(), vec![1.0, 0.0, 0.0]);
/// ```
pub fn exact_leverage_scores(a: MatRef<'_, f64>) -> Result<Vec<f64>> {
    let (m, n) = (a.nrows(), a.ncols());
    if m == 0 || n == 0 {
        return Err(Error::EmptyDimension {
            context: "exact leverage scores".into(),
            rows: m,
            cols: n,
        });
    }
    if m < n {
        return Err(Error::InvalidArgument(format!(
            "leverage scores need a tall matrix: {m}x{n}"
        )));
    }
    HostMat::from_fn(m, n, |i, j| a[(i, j)]).check_finite("exact leverage scores input")?;
    let q = a.qr().compute_thin_Q();
    Ok((0..m)
        .map(|i| (0..n).map(|j| q[(i, j)] * q[(i, j)]).sum())
        .collect())
}

/// A `d×m` row sampler with probabilities proportional to (approximate) leverage scores.
///
/// # Errors
/// As [`RowSampler::from_probabilities`].
///
/// # Examples
/// ```
/// let s = linops::sampling::leverage_sampler(4, &[0.5, 0.0, 1.5], linops_core::rng::RngState::new(2)).unwrap();
/// assert!(s.indices().iter().all(|&i| i != 1));
/// ```
pub fn leverage_sampler(d: usize, scores: &[f64], rng: RngState) -> Result<RowSampler> {
    RowSampler::from_probabilities(d, scores, rng)
}
