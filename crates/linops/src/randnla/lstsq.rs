//! Randomized least squares `min_x ‖A·x − b‖₂` for a tall operator `A` (`m×n`, `m ≥ n`).
//!
//! **The sketch** ([`LstsqSketch`], default: sparse sign with `s = 8` nonzeros per column and
//! `d = 8n` rows). A sparse sign `S` costs `2·s·m·n` flops for `S·A` (a Gaussian one `2·d·m·n`,
//! 8–16× more at these `d`), and with `s = 8`, `d ≥ 8n` it is an oblivious subspace embedding of
//! the `n`-dimensional `range(A)` with a distortion comparable to a Gaussian sketch's (Cohen 2016,
//! "Nearly tight oblivious subspace embeddings by trace inequalities", OSNAP with `s =
//! O(log n/ε)`, `d = O(n·log n/ε²)`; Tropp, Yurtsever, Udell and Cevher / Martinsson and Tropp
//! 2020 §9 recommend `s = 8` in practice; measured `cond(A·R⁻¹) ≈ 2` at `d = 8n` in
//! tests/src/lstsq.rs). [`LstsqSketch::Gaussian`] keeps the dense Gaussian sketch.
//!
//! **Sketch-and-solve** ([`lstsq_sketch_solve`]): form `S·A` and `S·b` on the sketching engine
//! and return `x̂ = argmin ‖S(A·x − b)‖` from a host f64 QR of `S·A`. For a subspace embedding
//! of `[A b]` with distortion `ε` (Gaussian: `ε ≈ √(n/(d − n))`),
//! `‖A·x̂ − b‖ ≤ (1 + ε)·‖A·x* − b‖`: cheap, but only residual-accurate.
//!
//! **Sketch-and-precondition** ([`lstsq`], Blendenpik / LSRN): `S·A = Q·R` (host f64 QR of the
//! `d×n` sketch), then LSQR (Paige–Saunders 1982) on the preconditioned problem
//! `min_y ‖A·R⁻¹·y − b‖`, `x = R⁻¹·y`. The singular values of `A·R⁻¹` are those of `(S·U)⁻¹`
//! (`U` an orthonormal basis of `range(A)`), inside `[1/(1 + ε), 1/(1 − ε)]`; for a Gaussian `S`
//! `ε ≈ √(n/d)` (Davidson–Szarek), so `cond(A·R⁻¹) ≈ 2` at `d = 8n` whatever `cond(A)` is, and
//! LSQR's error falls at least like `((c − 1)/(c + 1))^k`, about 1/3 per iteration. The first
//! LSQR pass starts from the sketch-and-solve answer `x₀ = R⁻¹·Qᵀ·(S·b)` (the warm start of
//! Rokhlin and Tygert's SPIR), so it solves for the correction `b − A·x₀`.
//! **A dense operator on the host** (an f64 sketch: a CPU engine) takes a faster route over its
//! own data (`super::host_dense`): the sparse sign sketch `S·[A b]` in one pass (its QR gives
//! `R` and `Qᵀ·S·b` together), then conjugate gradients on the normal equations of `A·R⁻¹`, whose
//! product `R⁻ᵀ·Aᵀ·(A·(R⁻¹·p))` reads `A` once per iteration (LSQR reads it twice), in
//! refinement passes on the normal residual (below). The sketch factor defaults to the `f ∈ [8,
//! 64]` that balances the sketch's QR against the iterations it saves
//! ([`auto_sketch_factor`]: 64 at m = 262144, n = 128, where `cond(A·R⁻¹) ≈ 1.3` and CG needs
//! about 9 iterations per pass). Nothing crosses to an engine.
//!
//! **Residency.** Otherwise LSQR runs on a CPU f64 engine (the caller's engine when it is a CPU engine):
//! `b`, the Golub–Kahan vectors `u`, `v`, `w` and the iterate `y` stay resident there, and the
//! plans of `Ā = A·R⁻¹`, `Āᵀ`, `A`, `R⁻¹` (an explicit `n×n` inverse, a dense parameter the
//! backend caches) and of the vector updates are built once per solve. The scalars of the
//! recurrence (`α`, `β`, `‖y‖`) come to the host each iteration (8-byte downloads, the control
//! flow needs them) and each vector update takes its scalar as an 8-byte upload; nothing of
//! length `m` or `n` crosses per iteration ([`Engine::transfers`] counts it).
//!
//! **Mixed precision.** The sketch `S·A` (the `O(s·m·n)` or `O(d·m·n)` part; the checks below use only `S·A` and `R`, so they hold for either sketch family) may run on an f32 engine (the GPU):
//! the iteration itself is f64, so the solution is as accurate as with an f64 sketch as long as
//! the f32 rounding `E` of `S·A` (`‖E‖ ≈ u₃₂·‖S·A‖`) leaves `A·R⁻¹` well conditioned, i.e. while
//! `u₃₂·cond(R) ≪ 1`. The driver checks this twice and falls back to an f64 sketch on the CPU,
//! saying so in [`LstsqResult::fallback`]: a priori when `u₃₂·cond(R) ≥ 0.5` (then `R` carries no
//! information about the smallest singular directions) or when `max|S·A| < 2⁻¹⁰²` (the operator's
//! scale underflows f32: its subnormal rounding exceeds `u₃₂·‖S·A‖`), and a posteriori after
//! [`LstsqOptions::check_iter`] iterations, when the Ritz estimate of `cond(A·R⁻¹)` from LSQR's
//! Golub–Kahan bidiagonal predicts more than `max_iter` iterations to reach `tol`.
//! [`lstsq_sketch_solve`] makes the two a-priori checks (its error is `O(u₃₂·cond(R)·‖b‖)` with
//! an f32 sketch).
//!
//! **Scale.** LSQR's stopping tests compare ratios (`‖r‖/‖b‖`, `‖Āᵀr‖/(‖Ā‖‖r‖)`) of norms formed
//! without squaring unscaled entries, so `b → 2^e·b` gives exactly `x → 2^e·x` (same iterations,
//! same bits) across the exponent range, and `A → 2^e·A` gives `x → 2^{-e}·x` to rounding.
//!
//! **Cost.** Sketch: `2·s·m·n` flops (sparse sign) or `2·d·m·n` (Gaussian), one application:
//! `S` applied to the data of a dense `A`; for any other operator, `A` applied once to `I_n`
//! and `S` to the result (sparse sign) or `Aᵀ` applied once to `Sᵀ` (`m×d`, generated on the
//! engine; Gaussian). QR: `2·d·n²` on the host. LSQR: per iteration one `A·z`, one `Aᵀ·u`, two
//! `n×n` products with `R⁻¹` and `O(m + n)` vector work. A dense operator on the host: per CG
//! iteration one pass over `A` (`4·m·n` flops) and two triangular solves with `R`; per
//! refinement pass one pass over `A` for the normal residual (f64 in the first pass,
//! double-double, about `24·m·n` flops, in the later ones).
//!
//! **Iterative refinement.** Applying `A·R⁻¹` in floating point perturbs it by about
//! `u·cond(A)` in norm, so one LSQR solve ends near `cond(A)·u` relative error, and LSQR on the
//! correction problem `min ‖A·R⁻¹·z − (b − A·x)‖` adds an error proportional to `‖b − A·x‖`,
//! which does not shrink when the residual is not small: refinement with the f64 residual
//! stalls at the `cond(A)²·u·‖r‖/(‖A‖·‖x‖)` term (measured: 10× QR's forward error at
//! 4096×64, `cond(A) = 1.3e8`, `‖r‖ = 2⁻¹⁴`). For a **dense operator held on the host**, the
//! passes after the first instead form the normal residual `c = R⁻ᵀ·Aᵀ·(b − A·x)` with `b − A·x`
//! and `Aᵀ·(b − A·x)` in double-double arithmetic (`super::host_dense`; classical mixed-precision
//! refinement, Higham, *Accuracy and Stability*, ch. 12) and solve `(ĀᵀĀ)·w = c` by conjugate
//! gradients (`cond(ĀᵀĀ) ≈ 4`), `x ← x + R⁻¹·w`: every error of a pass is then relative to the
//! shrinking normal residual, and the passes contract by about `cond(A)·u` each down to
//! `n·u²·cond(A)²` (the double-double rounding), below f64's resolution of `x` for
//! `cond(A) ≲ 1e8`. Other operators keep LSQR on the f64 residual (Epperly, Meier and
//! Nakatsukasa 2024 show this makes sketch-and-precondition backward stable). The passes stop
//! when the correction is negligible (`‖dx‖ ≤ 2u·‖x‖`) or no longer shrinks by 2× while below the
//! residual's rounding estimate, at most 1 + [`LstsqOptions::refine`] = 11 passes, each to
//! [`LstsqOptions::tol`]. Measured in docs/accuracy.md and docs/benchmarks.md. Memory: `d×n`
//! on the host, `2m` for the double-double residual; the sketch of a non-dense operator holds
//! `A·I_n` (`m×n`, sparse sign) or `Sᵀ` (`m×d`, Gaussian) on the engine.

use super::host_dense::HostDense;
use super::host_la::{check_positive, col, norm, singular_values, solve_upper, tall_qr_r};
use super::vectors::{OpPlan, VecPlans};
use super::{apply_f32, check_block, exponent, ldexp};
use crate::{BackendKind, DType, Engine, Error, Matrix, Op, Result};
use faer::Mat;
use linops_core::op::DenseSketch;
use linops_core::rng::RngState;

/// Unit roundoff of f32 (`2⁻²⁴`).
const U32: f64 = 5.960_464_477_539_063e-8;

/// Options of the least-squares drivers.
///
/// # Examples
/// ```
/// let o = linops::randnla::lstsq::LstsqOptions::default();
/// assert_eq!(o.sketch, linops::randnla::lstsq::LstsqSketch::SparseSign { per_col: 8 });
/// assert_eq!(o.sketch_factor, None);
/// assert_eq!(o.max_iter, 100);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct LstsqOptions {
    /// The sketch family (default: sparse sign with 8 nonzeros per column).
    pub sketch: LstsqSketch,
    /// Sketch rows `d = ⌈sketch_factor · n⌉` (at least `n + 1`, and at least the sparse sign
    /// sketch's nonzeros per column); 2–4 suits the Gaussian sketch. `None` (the default) picks
    /// it ([`auto_sketch_factor`]): 8 in general, and for a dense operator the factor in
    /// `[8, 64]` that balances the sketch's QR against the iterations it saves.
    pub sketch_factor: Option<f64>,
    /// Seed of the sketch (the Philox stream of [`RngState::new`]).
    pub seed: u64,
    /// LSQR stopping tolerance (`atol = btol = tol` in Paige–Saunders' tests 1 and 2).
    pub tol: f64,
    /// Maximum LSQR iterations per run (the first solve, and each refinement pass).
    pub max_iter: usize,
    /// Iteration at which the preconditioner quality is checked (f32 sketches only).
    pub check_iter: usize,
    /// Sketch precision; `None` picks f64 on a CPU engine and f32 on a GPU engine.
    pub sketch_dtype: Option<DType>,
    /// Most passes of iterative refinement after the first LSQR solve (which starts from the
    /// sketch-and-solve answer). Each pass forms the residual `b − A·x` (in double-double for a
    /// dense operator, in f64 otherwise) and runs LSQR on the correction `dx`; the passes stop
    /// earlier when the correction is negligible (`‖dx‖ ≤ u·‖x‖`) or stops shrinking by 2× while
    /// below the residual's rounding estimate. 0 returns the first solve.
    pub refine: usize,
}

impl Default for LstsqOptions {
    fn default() -> Self {
        Self {
            sketch: LstsqSketch::default(),
            sketch_factor: None,
            seed: 0x5eed,
            tol: 1e-15,
            max_iter: 100,
            check_iter: 15,
            sketch_dtype: None,
            refine: 10,
        }
    }
}

/// The sketch `S` (`d×m`) whose `S·A` gives the preconditioner `R`.
///
/// # Examples
/// ```
/// use linops::randnla::lstsq::LstsqSketch;
/// assert_eq!(LstsqSketch::default(), LstsqSketch::SparseSign { per_col: 8 });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LstsqSketch {
    /// The sparse sign sketch ([`linops_core::op::SparseSign`]): `per_col` nonzeros `±1/√s` per
    /// column, `S·A` in `2·s·m·n` flops.
    SparseSign {
        /// Nonzeros per column `s` (at most `d`).
        per_col: usize,
    },
    /// The dense Gaussian sketch ([`DenseSketch::gaussian`]), `S·A` in `2·d·m·n` flops.
    Gaussian,
}

impl Default for LstsqSketch {
    fn default() -> Self {
        Self::SparseSign { per_col: 8 }
    }
}

/// Which algorithm produced a [`LstsqResult`].
///
/// # Examples
/// ```
/// use linops::randnla::lstsq::LstsqMethod;
/// assert_ne!(LstsqMethod::SketchAndSolve, LstsqMethod::SketchAndPrecondition);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LstsqMethod {
    /// `x̂ = argmin ‖S(A·x − b)‖`, no iteration.
    SketchAndSolve,
    /// LSQR on `A·R⁻¹` with `R` from the QR of `S·A`.
    SketchAndPrecondition,
}

/// The answer of a least-squares driver and what it knows about its accuracy.
///
/// # Examples
/// ```
/// use linops::{Engine, Op, randnla::lstsq::{lstsq, LstsqOptions}};
/// let a = Op::dense(3, 2, vec![1.0, 0.0, 1.0, 0.0, 1.0, 1.0]).unwrap();
/// let r = lstsq(&Engine::cpu(), &a, &[1.0, 2.0, 3.0], &LstsqOptions::default()).unwrap();
/// assert!(r.converged && r.fallback.is_none());
/// ```
#[derive(Debug, Clone)]
pub struct LstsqResult {
    /// The solution (length `n`).
    pub x: Vec<f64>,
    /// The algorithm.
    pub method: LstsqMethod,
    /// Precision of the sketch behind the returned `x` (after any fallback).
    pub sketch_dtype: DType,
    /// Sketch rows `d`.
    pub sketch_rows: usize,
    /// Why an f32 sketch was abandoned for an f64 one, if it was.
    pub fallback: Option<String>,
    /// LSQR iterations of the run that produced `x`, refinement passes included (0 for
    /// sketch-and-solve).
    pub iterations: usize,
    /// LSQR iterations spent on an abandoned f32-preconditioned run before the fallback.
    pub abandoned_iterations: usize,
    /// Whether LSQR met its stopping test (always true for sketch-and-solve).
    pub converged: bool,
    /// Estimate of `‖b − A·x‖` (LSQR's recurrence; exact for sketch-and-solve).
    pub residual_norm: f64,
    /// Estimate of `‖R⁻ᵀ·Aᵀ·(b − A·x)‖` (LSQR's recurrence; 0 for sketch-and-solve).
    pub normal_residual_norm: f64,
    /// Ritz estimate of `cond(A·R⁻¹)` from the Golub–Kahan bidiagonal (a lower bound that is
    /// sharp after a few iterations; 1 for sketch-and-solve).
    pub precond_cond: f64,
    /// `cond(R) = σ_max(R)/σ_min(R)` ≈ `cond(A)` up to the sketch distortion.
    pub r_cond: f64,
}

fn check_problem(op: &Op, b: &[f64], opts: &LstsqOptions) -> Result<(usize, usize, usize)> {
    let (m, n) = op.shape();
    if b.len() != m {
        return Err(Error::ShapeMismatch {
            context: "lstsq right-hand side".into(),
            expected: format!("{m} entries (rows of A)"),
            found: format!("{}", b.len()),
        });
    }
    if m < n {
        return Err(Error::InvalidArgument(format!(
            "lstsq needs a tall operator (m >= n), got {m}x{n}"
        )));
    }
    if let Some(i) = b.iter().position(|v| !v.is_finite()) {
        return Err(Error::NonFinite {
            context: "lstsq right-hand side".into(),
            row: i,
            col: 0,
            value: b[i],
        });
    }
    if let Some(f) = opts.sketch_factor {
        check_positive("sketch_factor", f)?;
    }
    let factor = opts
        .sketch_factor
        .unwrap_or_else(|| auto_sketch_factor(matches!(op, Op::Dense(_)), m, n));
    check_positive("tol", opts.tol)?;
    if opts.max_iter == 0 {
        return Err(Error::InvalidArgument("max_iter must be at least 1".into()));
    }
    // `as usize` saturates, so a huge factor gives usize::MAX and fails the block check.
    let floor = match opts.sketch {
        LstsqSketch::SparseSign { per_col: 0 } => {
            return Err(Error::InvalidArgument(
                "lstsq sparse sign sketch: per_col (nonzeros per column) must be at least 1".into(),
            ));
        }
        LstsqSketch::SparseSign { per_col } => per_col,
        LstsqSketch::Gaussian => 1,
    };
    let d = ((factor * n as f64).ceil() as usize)
        .max(n.saturating_add(1))
        .max(floor);
    // S (d×m) may be materialized by the planner and S·A is d×n.
    check_block(
        &format!(
            "lstsq sketch of d = ceil(sketch_factor·n) = {d} rows (sketch_factor = {factor}, n = {n})"
        ),
        d,
        m.max(n),
    )?;
    if d > u32::MAX as usize {
        return Err(Error::InvalidArgument(format!(
            "sketch of {d} rows is too large"
        )));
    }
    Ok((m, n, d))
}

/// The default sketch factor `f = d/n` ([`LstsqOptions::sketch_factor`] `None`): 8 for an
/// operator other than a dense matrix (LSQR's iterations cost what its products cost, unknown
/// here), and for a dense `m×n` matrix (conjugate gradients with one pass over `A` per iteration,
/// about `14·m·n` flop-equivalents at 1.8 flops per byte streamed) the `f ∈ [8, 64]` that
/// minimizes the QR's `2·f·n³` flops plus the iterations': CG's error falls by about
/// `√(n/d) = f^(−1/2)` per iteration (the sketch distortion, Davidson–Szarek; measured
/// `cond(A·R⁻¹)` 2.0 at `f = 8`, 1.4 at `f = 32`), two passes to `10⁻⁸` each take
/// `74/ln f` iterations, and setting the derivative to zero gives `f·ln²f = 518·m/n²`.
/// `f` grows with `m/n²`: 8 up to m ≈ n²/15, 25 at m = n²/2, 64 (the cap: `d×n` memory and
/// the sketch's scatter leaving cache) from m ≈ 2.1·n².
///
/// # Examples
/// ```
/// use linops::randnla::lstsq::auto_sketch_factor;
/// assert_eq!(auto_sketch_factor(false, 262144, 128), 8.0);
/// assert_eq!(auto_sketch_factor(true, 1000, 200), 8.0);
/// assert_eq!(auto_sketch_factor(true, 1000, 100), 10.0);
/// assert_eq!(auto_sketch_factor(true, 262144, 128), 64.0);
/// let f = auto_sketch_factor(true, 32768, 256);
/// assert!(f > 20.0 && f < 30.0);
/// ```
#[must_use]
pub fn auto_sketch_factor(dense: bool, m: usize, n: usize) -> f64 {
    if !dense || n == 0 {
        return 8.0;
    }
    let rhs = 518.0 * m as f64 / (n as f64 * n as f64);
    let g = |f: f64| f * f.ln() * f.ln();
    if g(8.0) >= rhs {
        return 8.0;
    }
    if g(64.0) <= rhs {
        return 64.0;
    }
    let (mut lo, mut hi) = (8.0f64, 64.0f64);
    for _ in 0..40 {
        let mid = 0.5 * (lo + hi);
        if g(mid) < rhs {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    hi.ceil()
}

fn resolve_dtype(engine: &Engine, opts: &LstsqOptions) -> Result<DType> {
    match (engine.kind(), opts.sketch_dtype) {
        (BackendKind::Gpu, Some(DType::F64)) => Err(Error::Unsupported(
            "the GPU engine sketches in f32; pass sketch_dtype None or F32, or a CPU engine".into(),
        )),
        (BackendKind::Gpu, _) => Ok(DType::F32),
        (BackendKind::Cpu, Some(d)) => Ok(d),
        (BackendKind::Cpu, None) => Ok(DType::F64),
    }
}

/// `op · X` on `engine` in precision `dtype`, returned as f64 (in f32 through
/// [`super::apply_f32`], which scales `X` into f32's range).
fn apply_in(engine: &Engine, op: &Op, x: &Mat<f64>, dtype: DType) -> Result<Mat<f64>> {
    match dtype {
        DType::F64 => engine.apply::<f64>(op, x.as_ref()),
        DType::F32 => apply_f32(engine, op, x.as_ref()),
    }
}

/// The sketch `S` (`d×m`) of `kind`, drawn from `seed`.
fn draw_sketch(kind: LstsqSketch, d: usize, m: usize, seed: u64) -> Result<Op> {
    Ok(match kind {
        LstsqSketch::SparseSign { per_col } => Op::sparse_sign(d, m, per_col, seed)?,
        LstsqSketch::Gaussian => Op::leaf(DenseSketch::gaussian(d, m, RngState::new(seed))?),
    })
}

/// `S·A` (`d×n`) as one application on `engine`: the sketch applied to the operator's data when
/// `A` is a dense matrix. Otherwise, for a Gaussian `S`, `(Aᵀ·Sᵀ)ᵀ` with `Sᵀ` (`m×d`) generated
/// on the engine and `Aᵀ` applied to it once (the same Philox layout as [`DenseSketch`]); for a
/// sparse `S`, `A` applied once to `I_n` (`m×n`, smaller than `Sᵀ`) and `S` to the result.
fn sketch_op(
    engine: &Engine,
    kind: LstsqSketch,
    d: usize,
    seed: u64,
    a: &Op,
    dtype: DType,
) -> Result<(Op, Mat<f64>)> {
    let (m, n) = a.shape();
    let s = draw_sketch(kind, d, m, seed)?;
    if let Op::Dense(dense) = a {
        let p = dense.param();
        let data = Mat::from_fn(m, n, |i, j| p.data[i + j * m]);
        let sa = apply_in(engine, &s, &data, dtype)?;
        return Ok((s, sa));
    }
    let sa = match kind {
        LstsqSketch::Gaussian => {
            let g = DenseSketch::gaussian(d, m, RngState::new(seed))?;
            let st = engine.random_matrix(dtype, g.dist(), g.rng(), d, m, true, g.scale())?;
            let ast = engine.download_f64(&engine.apply_to(&a.t(), &st)?)?;
            ast.transpose().to_owned()
        }
        LstsqSketch::SparseSign { .. } => {
            let dense = apply_in(engine, a, &Mat::<f64>::identity(n, n), dtype)?;
            apply_in(engine, &s, &dense, dtype)?
        }
    };
    Ok((s, sa))
}

struct Sketched {
    r: Mat<f64>,
    qtsb: Option<Vec<f64>>,
    r_cond: f64,
    /// `σ_max(R)` ≈ `‖A‖₂` up to the sketch distortion.
    r_norm: f64,
}

/// Smallest `max|S·A|` at which an f32 sketch keeps its relative accuracy: below
/// `2⁻¹⁰² = 2⁻¹²⁶/u₃₂` the absolute rounding of f32's subnormal range (`2⁻¹⁴⁹` per entry, and
/// the operator's parameters flushed when they were converted) exceeds `u₃₂·‖S·A‖`.
const F32_SKETCH_FLOOR: f64 = 1.9721522630525295e-31; // 2^-102

/// Why an f32 sketch `S·A` cannot be trusted, decided before its QR: entries below
/// [`F32_SKETCH_FLOOR`] (the operator's scale underflows f32), or, from `R`, `u₃₂·cond(R) ≥ 0.5`.
fn f32_sketch_weakness(sa: &Mat<f64>) -> Option<String> {
    let top = sa.norm_max();
    (top < F32_SKETCH_FLOOR).then(|| {
        format!(
            "f32 sketch below f32's accurate range: max|S·A| = {top:.2e} < 2^-102 (the operator's \
             scale underflows f32); redone with an f64 sketch on the CPU"
        )
    })
}

/// QR of `S·A` (and `Qᵀ·S·b` when `b` is given); fails on an exactly singular `R`. An f64 sparse
/// sign sketch of a dense operator is formed on the host from its data in one pass
/// ([`HostDense::sparse_sign_sketch`], `S·[A b]`, whose QR gives `R` and `Qᵀ·S·b` together);
/// every other sketch on `engine` ([`sketch_op`]).
fn sketch_qr(
    engine: &Engine,
    op: &Op,
    b: Option<&[f64]>,
    d: usize,
    kind: LstsqSketch,
    seed: u64,
    dtype: DType,
) -> Result<std::result::Result<Sketched, String>> {
    let (m, n) = op.shape();
    let (r, qtsb) = match (op, dtype, kind) {
        (Op::Dense(dense), DType::F64, LstsqSketch::SparseSign { per_col }) => {
            let a = HostDense::new(&dense.param().data, m, n)?;
            let zeros;
            let c = match b {
                Some(b) => b,
                None => {
                    zeros = vec![0.0; m];
                    &zeros[..]
                }
            };
            let sab = a.sparse_sign_sketch(c, d, per_col, &RngState::new(seed))?;
            let rfull = tall_qr_r(sab);
            let qtsb = b.map(|_| (0..n).map(|i| rfull[(i, n)]).collect());
            (rfull.subrows(0, n).subcols(0, n).to_owned(), qtsb)
        }
        _ => {
            let (sketch, sa) = sketch_op(engine, kind, d, seed, op, dtype)?;
            if dtype == DType::F32
                && let Some(why) = f32_sketch_weakness(&sa)
            {
                return Ok(Err(why));
            }
            let qr = sa.qr();
            let qtsb = match b {
                Some(b) => {
                    let sb = apply_in(engine, &sketch, &col(b), dtype)?;
                    let q = qr.compute_thin_Q();
                    Some(
                        (0..n)
                            .map(|j| (0..d).map(|i| q[(i, j)] * sb[(i, 0)]).sum())
                            .collect(),
                    )
                }
                None => None,
            };
            (qr.thin_R().to_owned(), qtsb)
        }
    };
    let sv = singular_values(r.as_ref())?;
    let (smax, smin) = (sv[0], sv[n - 1]);
    if dtype == DType::F32 && U32 * smax / smin >= 0.5 {
        return Ok(Err(format!(
            "f32 sketch too weak: u32·cond(R) = {:.2e} >= 0.5 (cond(R) = {:.2e}); \
             redone with an f64 sketch on the CPU",
            U32 * smax / smin,
            smax / smin
        )));
    }
    if smin.is_nan() || smin <= smax * n as f64 * f64::EPSILON || !smax.is_finite() {
        if let (LstsqSketch::SparseSign { .. }, false) = (kind, smin.is_nan() || !smax.is_finite())
        {
            // A sparse sign sketch with few rows (d close to n) is singular on a full-rank A
            // with positive probability (a random ±1 matrix is); a Gaussian one almost never.
            return sketch_qr(engine, op, b, d, LstsqSketch::Gaussian, seed, dtype);
        }
        return Err(Error::InvalidArgument(
            "the sketch S·A is rank deficient: A has (numerically) dependent columns".into(),
        ));
    }
    Ok(Ok(Sketched {
        r,
        qtsb,
        r_cond: smax / smin,
        r_norm: smax,
    }))
}

/// [`sketch_qr`] on `engine` in `dtype`; an f32 sketch found weak is redone in f64 on the CPU,
/// returned with the reason.
fn sketch_qr_or_f64(
    engine: &Engine,
    op: &Op,
    b: Option<&[f64]>,
    d: usize,
    kind: LstsqSketch,
    seed: u64,
    dtype: DType,
) -> Result<(Sketched, DType, Option<String>)> {
    match sketch_qr(engine, op, b, d, kind, seed, dtype)? {
        Ok(sk) => Ok((sk, dtype, None)),
        Err(why) => {
            let sk = sketch_qr(&Engine::cpu(), op, b, d, kind, seed, DType::F64)?
                .map_err(|why| Error::Backend(format!("an f64 sketch reported: {why}")))?;
            Ok((sk, DType::F64, Some(why)))
        }
    }
}

/// Sketch-and-solve least squares: `x̂ = argmin ‖S(A·x − b)‖₂` for the sketch `S`
/// ([`LstsqOptions::sketch`]) of `d = ⌈sketch_factor·n⌉` rows, sketched on `engine`; `‖A·x̂ − b‖ ≤ (1 + ε)·min‖A·x − b‖`.
///
/// # Errors
/// [`Error::ShapeMismatch`] when `b` has not `m` entries; [`Error::InvalidArgument`] for a wide
/// operator, bad options or a rank-deficient sketch; [`Error::NonFinite`] for NaN/Inf in `b`;
/// [`Error::DeviceLimit`] when the sketch (`d×max(m, n)`) exceeds
/// [`MAX_BLOCK_ENTRIES`](super::MAX_BLOCK_ENTRIES); engine errors.
///
/// # Examples
/// ```
/// use linops::{Engine, Op, randnla::lstsq::{lstsq_sketch_solve, LstsqOptions}};
/// let a = Op::dense(4, 1, vec![1.0, 1.0, 1.0, 1.0]).unwrap();
/// let r = lstsq_sketch_solve(&Engine::cpu(), &a, &[2.0; 4], &LstsqOptions::default()).unwrap();
/// assert!((r.x[0] - 2.0).abs() < 1e-12); // consistent problems are solved exactly
/// ```
pub fn lstsq_sketch_solve(
    engine: &Engine,
    op: &Op,
    b: &[f64],
    opts: &LstsqOptions,
) -> Result<LstsqResult> {
    let (_, _, d) = check_problem(op, b, opts)?;
    let dtype = resolve_dtype(engine, opts)?;
    let (sk, dtype, fallback) =
        sketch_qr_or_f64(engine, op, Some(b), d, opts.sketch, opts.seed, dtype)?;
    let mut x = sk.qtsb.unwrap_or_default();
    solve_upper(sk.r.as_ref(), &mut x);
    // The residual in f64 on the host: a dense operator from its own data (no conversion of
    // the operator into an engine's storage), anything else through a CPU f64 engine.
    let res: Vec<f64> = match op {
        Op::Dense(dense) => {
            let (m, n) = op.shape();
            HostDense::new(&dense.param().data, m, n)?.residual_dd(b, &x)
        }
        _ => {
            let ax = Engine::cpu().apply::<f64>(op, col(&x).as_ref())?;
            (0..b.len()).map(|i| b[i] - ax[(i, 0)]).collect()
        }
    };
    Ok(LstsqResult {
        x,
        method: LstsqMethod::SketchAndSolve,
        sketch_dtype: dtype,
        sketch_rows: d,
        fallback,
        iterations: 0,
        abandoned_iterations: 0,
        converged: true,
        residual_norm: norm(&res),
        normal_residual_norm: 0.0,
        precond_cond: 1.0,
        r_cond: sk.r_cond,
    })
}

/// Sketch-and-precondition least squares (Blendenpik/LSRN): `R` from the QR of a sketch `S·A`
/// (sparse sign by default, [`LstsqOptions::sketch`]) computed on `engine`, a warm start from
/// sketch-and-solve, then f64 LSQR on `A·R⁻¹` with the operator and every vector
/// resident on a CPU f64 engine (`engine` itself when it is a CPU engine), followed by iterative
/// refinement until the correction stops shrinking (see [`LstsqOptions::refine`]).
/// An f32 sketch that proves too weak (see the module docs) is redone in f64 on the CPU and the
/// result says so in [`LstsqResult::fallback`].
///
/// # Errors
/// As [`lstsq_sketch_solve`].
///
/// # Examples
/// ```
/// use linops::{Engine, Op, randnla::lstsq::{lstsq, LstsqOptions}};
/// let a = Op::dense(3, 2, vec![1.0, 0.0, 1.0, 0.0, 1.0, 1.0]).unwrap(); // column-major
/// let r = lstsq(&Engine::cpu(), &a, &[1.0, 1.0, 2.0], &LstsqOptions::default()).unwrap();
/// assert!((r.x[0] - 1.0).abs() < 1e-12 && (r.x[1] - 1.0).abs() < 1e-12);
/// ```
pub fn lstsq(engine: &Engine, op: &Op, b: &[f64], opts: &LstsqOptions) -> Result<LstsqResult> {
    let (_, _, d) = check_problem(op, b, opts)?;
    let dtype = resolve_dtype(engine, opts)?;
    let own_cpu;
    let cpu = if engine.kind() == BackendKind::Cpu {
        engine
    } else {
        own_cpu = Engine::cpu();
        &own_cpu
    };
    let (kind, seed) = (opts.sketch, opts.seed);
    // Solve for b·2^{-kb} (‖·‖ ∈ [1, 2)) and scale x back: exact, so x(2^e·b) = 2^e·x(b) bit for
    // bit, and LSQR's scalars (β = ‖u‖, 1/β) stay far from over- and underflow.
    let bnorm = norm(b);
    if bnorm == 0.0 {
        let (sk, dtype, fallback) = sketch_qr_or_f64(engine, op, None, d, kind, seed, dtype)?;
        return Ok(zero_solution(op.shape().1, dtype, d, fallback, sk.r_cond));
    }
    let kb = exponent(bnorm);
    let bs: Vec<f64> = b.iter().map(|v| ldexp(*v, -kb)).collect();
    let host_a = match op {
        Op::Dense(dense) => Some(&dense.param().data[..]),
        _ => None,
    };
    let unscale = |mut r: LstsqResult| {
        r.x.iter_mut().for_each(|v| *v = ldexp(*v, kb));
        r.residual_norm = ldexp(r.residual_norm, kb);
        r
    };
    // With the double-double refinement a pass can contract the error by only about
    // `cond(A)·u` (applying `A·R⁻¹` in f64), so iterating a pass further buys nothing: each
    // pass runs to `max(tol, u·cond(R))` (at most 1e-2). The f64-residual path keeps `tol`
    // (a looser pass stalls there when the residual is not small).
    let pass_tol = |sk: &Sketched| match host_a {
        Some(_) => opts.tol.max((f64::EPSILON * sk.r_cond).min(1e-2)),
        None => opts.tol,
    };
    let (sk, dtype, mut fallback) = sketch_qr_or_f64(engine, op, Some(&bs), d, kind, seed, dtype)?;
    if let (Op::Dense(dense), DType::F64) = (op, dtype) {
        let (m, n) = op.shape();
        let a = HostDense::new(&dense.param().data, m, n)?;
        if let Some(r) = lstsq_host_dense(a, &sk, &bs, d, opts)? {
            return Ok(unscale(LstsqResult { fallback, ..r }));
        }
    }
    let b_res = cpu.upload(col(&bs).as_ref())?;
    let problem = Problem {
        b: &b_res,
        b_host: &bs,
        host_a,
    };
    let mut abandoned = 0;
    if dtype == DType::F32 {
        let lsqr = Lsqr::new(cpu, op, &sk.r, pass_tol(&sk))?;
        let meta = Meta {
            dtype,
            d,
            fallback: None,
            abandoned: 0,
        };
        match refine(&lsqr, &problem, &sk, opts, meta, Some(opts.check_iter))? {
            Ok(r) => return Ok(unscale(r)),
            Err(Weak {
                iterations,
                cond,
                predicted,
            }) => {
                abandoned = iterations;
                fallback = Some(format!(
                    "f32 sketch too weak: after {iterations} LSQR iterations \
                     cond(A·R⁻¹) ≈ {cond:.2e} predicts {predicted:.0} iterations \
                     (max {}); redone with an f64 sketch on the CPU",
                    opts.max_iter
                ));
            }
        }
    }
    let (sk, dtype) = if dtype == DType::F32 {
        let sk = sketch_qr(cpu, op, Some(&bs), d, kind, seed, DType::F64)?
            .map_err(|why| Error::Backend(format!("an f64 sketch reported: {why}")))?;
        (sk, DType::F64)
    } else {
        (sk, dtype)
    };
    let lsqr = Lsqr::new(cpu, op, &sk.r, pass_tol(&sk))?;
    let meta = Meta {
        dtype,
        d,
        fallback,
        abandoned,
    };
    match refine(&lsqr, &problem, &sk, opts, meta, None)? {
        Ok(r) => Ok(unscale(r)),
        Err(_) => Err(Error::Backend(
            "LSQR reported a weak preconditioner without a check".into(),
        )),
    }
}

/// Refinement for a dense operator held on the host (CPU f64, any sketch): from the warm start
/// `x₀ = R⁻¹·Qᵀ·(S·b)`, passes that form the normal residual `c = R⁻ᵀ·Aᵀ·(b − A·x)` (the first
/// in f64, the later ones in double-double, each in one pass over `A`) and solve `(ĀᵀĀ)·w = c` by
/// conjugate gradients with `ĀᵀĀ·p = R⁻ᵀ·Aᵀ·(A·(R⁻¹·p))` in one pass over `A`
/// ([`HostDense::gram_apply`]), `x ← x + R⁻¹·w`.
///
/// Each pass runs CG to `tol = max(pass_tol, 2u·‖x‖·σ_min(R)/‖c‖)`: the pass's own error is at most
/// `‖R⁻¹‖·tol·‖c‖`, so the second term is where it falls below `2u·‖x‖` (no pass iterates past
/// what `x` can resolve), and `pass_tol = max(tol, 2u·cond(R))` is where applying `Ā` in f64 stops
/// helping. A double-double pass whose CG converged ends the solve when `tol·‖dx‖ ≤ 2u·‖x‖` (the
/// pass contracted the error, about `‖dx‖`, by `tol`); otherwise the passes stop as in
/// [`refine`]. Returns `None` when CG breaks down or the correction is not finite; the caller then
/// takes the general path.
fn lstsq_host_dense(
    a: HostDense<'_>,
    sk: &Sketched,
    bs: &[f64],
    d: usize,
    opts: &LstsqOptions,
) -> Result<Option<LstsqResult>> {
    let r = &sk.r;
    let n = r.nrows();
    let (r_cond, smin) = (sk.r_cond, sk.r_norm / sk.r_cond);
    let mut x = sk.qtsb.clone().unwrap_or_else(|| vec![0.0; n]);
    solve_upper(r.as_ref(), &mut x);
    if x.iter().any(|v| !v.is_finite()) {
        x = vec![0.0; n];
    }
    let pass_tol = opts.tol.max((f64::EPSILON * r_cond).min(1e-2));
    let rn = (n as f64).sqrt() * f64::EPSILON / 2.0;
    let (mut iterations, mut prev, mut converged) = (0, f64::INFINITY, false);
    let (mut rnorm, mut cnorm, mut cond) = (0.0, 0.0, 1.0);
    for pass in 0..=opts.refine {
        // The first pass corrects the sketch-and-solve start, whose error is far above the f64
        // residual's `cond(A)·u` rounding: an f64 residual (one pass at memory speed) serves it;
        // the later passes need the double-double one.
        let (g, rn_now) = if pass == 0 {
            a.normal_residual_f64(bs, &x)
        } else {
            a.normal_residual_dd(bs, &x)
        };
        let mut c = g;
        solve_upper_transposed(r.as_ref(), &mut c);
        let xn = norm(&x);
        (rnorm, cnorm) = (rn_now, norm(&c));
        if cnorm == 0.0 {
            converged = true;
            break;
        }
        let target = f64::EPSILON * xn * smin / cnorm;
        let tol = pass_tol.max(target.min(0.5));
        let Some(cg) = normal_cg_host(a, r, &c, tol, opts.max_iter) else {
            return Ok(None);
        };
        if pass == 0 {
            cond = cg.cond;
        }
        iterations += cg.iterations;
        let mut dx = cg.w;
        solve_upper(r.as_ref(), &mut dx);
        if dx.iter().any(|v| !v.is_finite()) {
            return Ok(None);
        }
        x.iter_mut().zip(&dx).for_each(|(xi, di)| *xi += di);
        let (dxn, xn) = (norm(&dx), norm(&x));
        // As in `refine`: the double-double normal residual's rounding, mapped through (AᵀA)⁻¹.
        let floor = rn * xn * (1.0 + n as f64 * f64::EPSILON * r_cond * r_cond);
        // The f64 residual of the first pass cannot see errors below about `cond(A)·u`: only a
        // double-double pass may end the solve.
        if pass > 0
            && ((cg.converged && tol * dxn <= f64::EPSILON * xn)
                || dxn <= f64::EPSILON * xn
                || (dxn > 0.5 * prev && dxn <= floor))
        {
            converged = true;
            break;
        }
        prev = dxn;
    }
    Ok(Some(LstsqResult {
        x,
        method: LstsqMethod::SketchAndPrecondition,
        sketch_dtype: DType::F64,
        sketch_rows: d,
        fallback: None,
        iterations,
        abandoned_iterations: 0,
        converged,
        residual_norm: rnorm,
        normal_residual_norm: cnorm,
        precond_cond: cond,
        r_cond,
    }))
}

/// What [`normal_cg_host`] returns.
struct HostCg {
    w: Vec<f64>,
    iterations: usize,
    converged: bool,
    /// Ritz estimate of `cond(Ā) = √cond(ĀᵀĀ)` from CG's Lanczos tridiagonal.
    cond: f64,
}

/// Conjugate gradients on `(ĀᵀĀ)·w = c`, `Ā = A·R⁻¹`, from `w = 0` until
/// `‖c − ĀᵀĀ·w‖ ≤ tol·‖c‖` or `max_iter`; `None` on breakdown (a non-positive or non-finite
/// curvature `pᵀĀᵀĀp`).
fn normal_cg_host(
    a: HostDense<'_>,
    r: &Mat<f64>,
    c: &[f64],
    tol: f64,
    max_iter: usize,
) -> Option<HostCg> {
    let n = c.len();
    let cn = norm(c);
    let mut w = vec![0.0; n];
    let mut s = c.to_vec();
    let mut p = c.to_vec();
    let mut gamma = cn * cn;
    let (mut alphas, mut betas) = (Vec::new(), Vec::new());
    let (mut it, mut converged) = (0, false);
    while it < max_iter {
        it += 1;
        let mut q = p.clone();
        solve_upper(r.as_ref(), &mut q);
        let mut mp = a.gram_apply(&q);
        let curv: f64 = q.iter().zip(&mp).map(|(u, v)| u * v).sum();
        if !(curv > 0.0 && curv.is_finite()) {
            return None;
        }
        solve_upper_transposed(r.as_ref(), &mut mp);
        let alpha = gamma / curv;
        w.iter_mut().zip(&p).for_each(|(wi, pi)| *wi += alpha * pi);
        s.iter_mut().zip(&mp).for_each(|(si, mi)| *si -= alpha * mi);
        let sn = norm(&s);
        alphas.push(alpha);
        if sn <= tol * cn {
            converged = true;
            break;
        }
        let gnew = sn * sn;
        let beta = gnew / gamma;
        betas.push(beta);
        p.iter_mut()
            .zip(&s)
            .for_each(|(pi, si)| *pi = si + beta * *pi);
        gamma = gnew;
    }
    Some(HostCg {
        w,
        iterations: it,
        converged,
        cond: lanczos_cond(&alphas, &betas),
    })
}

/// `√(λ_max/λ_min)` of CG's Lanczos tridiagonal (diagonal `1/α_k + β_{k−1}/α_{k−1}`,
/// off-diagonal `√β_k/α_k`; Saad, *Iterative Methods*, §6.7.3): a Ritz estimate of `cond(Ā)`.
fn lanczos_cond(alphas: &[f64], betas: &[f64]) -> f64 {
    let k = alphas.len();
    if k == 0 {
        return 1.0;
    }
    let t = Mat::from_fn(k, k, |i, j| {
        if i == j {
            1.0 / alphas[i]
                + if i > 0 {
                    betas[i - 1] / alphas[i - 1]
                } else {
                    0.0
                }
        } else if i == j + 1 {
            betas[j].sqrt() / alphas[j]
        } else if j == i + 1 {
            betas[i].sqrt() / alphas[i]
        } else {
            0.0
        }
    });
    match t.self_adjoint_eigenvalues(faer::Side::Lower) {
        Ok(ev) => {
            let (lo, hi) = ev
                .iter()
                .fold((f64::INFINITY, 0.0f64), |(l, h), v| (l.min(*v), h.max(*v)));
            if lo > 0.0 {
                (hi / lo).sqrt()
            } else {
                f64::INFINITY
            }
        }
        Err(_) => f64::INFINITY,
    }
}

/// The answer for `b = 0`: `x = 0`, nothing iterated.
fn zero_solution(
    n: usize,
    dtype: DType,
    d: usize,
    fallback: Option<String>,
    r_cond: f64,
) -> LstsqResult {
    LstsqResult {
        x: vec![0.0; n],
        method: LstsqMethod::SketchAndPrecondition,
        sketch_dtype: dtype,
        sketch_rows: d,
        fallback,
        iterations: 0,
        abandoned_iterations: 0,
        converged: true,
        residual_norm: 0.0,
        normal_residual_norm: 0.0,
        precond_cond: 1.0,
        r_cond,
    }
}

/// The right-hand side (resident and on the host, scaled to `‖b‖ ∈ [1, 2)`) and, for a dense
/// operator, its column-major data on the host (for the double-double residual).
struct Problem<'a> {
    b: &'a Matrix,
    b_host: &'a [f64],
    host_a: Option<&'a [f64]>,
}

/// What the result reports about the sketch behind it.
struct Meta {
    dtype: DType,
    d: usize,
    fallback: Option<String>,
    abandoned: usize,
}

/// A preconditioner found weak at the check iteration of the first pass.
struct Weak {
    iterations: usize,
    cond: f64,
    predicted: f64,
}

/// Warm start and iterative refinement. `x₀ = R⁻¹·Qᵀ·(S·b)` (sketch-and-solve: Rokhlin–Tygert's
/// SPIR start, `‖A·x₀ − b‖ ≤ (1 + ε)·min‖A·x − b‖`), then passes of LSQR on
/// `min ‖A·R⁻¹·z − r‖`, `r = b − A·x`, `x ← x + R⁻¹·z`. The residual is formed in double-double
/// on the host for a dense operator ([`super::dd`]: no `cond(A)·u` floor) and in f64 on the
/// engine otherwise. The passes stop when the correction is negligible (`‖dx‖ ≤ u·‖x‖`) or when
/// it no longer shrinks by 2× (`‖dx‖ > ½‖dx_prev‖`) while below the residual's rounding estimate
/// (`√n·u·‖x‖` with the double-double residual; `√n·u·cond(R)·(‖x‖ + ‖b‖/‖R‖)` with the f64 one,
/// the f64 rounding of `b − A·x` mapped through `A⁺`); at most 1 + [`LstsqOptions::refine`]
/// passes of at most `max_iter` iterations each. `check` tests the preconditioner in the first
/// pass.
fn refine(
    lsqr: &Lsqr<'_>,
    p: &Problem<'_>,
    sk: &Sketched,
    opts: &LstsqOptions,
    meta: Meta,
    check: Option<usize>,
) -> Result<std::result::Result<LstsqResult, Weak>> {
    let e = lsqr.e;
    let n = sk.r.nrows();
    let mut x0 = sk.qtsb.clone().unwrap_or_else(|| vec![0.0; n]);
    solve_upper(sk.r.as_ref(), &mut x0);
    if x0.iter().any(|v| !v.is_finite()) {
        x0 = vec![0.0; n];
    }
    let mut x = e.upload(col(&x0).as_ref())?;
    let mut last: Option<LsqrDone> = None;
    let mut converged = true;
    let mut iterations = 0;
    let mut prev = f64::INFINITY;
    let bn = norm(p.b_host);
    let rn = (n as f64).sqrt() * f64::EPSILON / 2.0;
    for pass in 0..=opts.refine {
        if let (Some(a), true) = (p.host_a, pass > 0) {
            // c = R⁻ᵀ·Aᵀ·(b − A·x) in double-double, then (ĀᵀĀ)·w = c by CG: every error of the
            // pass is relative to the normal residual, which shrinks, not to ‖b − A·x‖.
            let xh = e.download_vec(&x)?;
            let (m, n) = (p.b_host.len(), xh.len());
            let mut c = HostDense::new(a, m, n)?.normal_residual_dd(p.b_host, &xh).0;
            solve_upper_transposed(sk.r.as_ref(), &mut c);
            let c = e.upload(col(&c).as_ref())?;
            let (w, its) = lsqr.normal_cg(&c, opts.max_iter)?;
            let dx = lsqr.rinv.apply(e, &w)?;
            let dxn = lsqr.vn.norm(e, &dx)?;
            x = lsqr.vn.scale_add(e, &dx, 1.0, &x)?;
            let xn = lsqr.vn.norm(e, &x)?;
            iterations += its;
            // The double-double normal residual's own rounding, `n·u²·|A|ᵀ(|b| + |A|·|x|)`,
            // maps through `(AᵀA)⁻¹` to about `n·u²·cond(A)²·‖x‖` ([`super::host_dense`]).
            let floor = rn * xn * (1.0 + n as f64 * f64::EPSILON * sk.r_cond * sk.r_cond);
            if dxn <= f64::EPSILON * xn || (dxn > 0.5 * prev && dxn <= floor) {
                break;
            }
            prev = dxn;
            continue;
        }
        let res = match p.host_a {
            Some(a) => {
                let xh = e.download_vec(&x)?;
                let (m, n) = (p.b_host.len(), xh.len());
                let r = HostDense::new(a, m, n)?.residual_dd(p.b_host, &xh);
                e.upload(col(&r).as_ref())?
            }
            None => {
                let ax = lsqr.a.apply(e, &x)?;
                lsqr.vm.scale_add(e, &ax, -1.0, p.b)?
            }
        };
        let check = if pass == 0 { check } else { None };
        let done = match lsqr.run(&res, opts.max_iter, check)? {
            LsqrOutcome::Done(done) => done,
            LsqrOutcome::Weak {
                iterations,
                cond,
                predicted,
            } => {
                return Ok(Err(Weak {
                    iterations,
                    cond,
                    predicted,
                }));
            }
        };
        let dx = lsqr.rinv.apply(e, &done.y)?;
        let dxn = lsqr.vn.norm(e, &dx)?;
        x = lsqr.vn.scale_add(e, &dx, 1.0, &x)?;
        let xn = lsqr.vn.norm(e, &x)?;
        iterations += done.iterations;
        converged &= done.converged;
        last = Some(done);
        let floor = match p.host_a {
            Some(_) => rn * xn,
            None => rn * sk.r_cond * (xn + bn / sk.r_norm),
        };
        if dxn <= f64::EPSILON * xn || (dxn > 0.5 * prev && dxn <= floor) {
            break;
        }
        prev = dxn;
    }
    let last = last.ok_or_else(|| Error::Backend("no LSQR pass ran".into()))?;
    Ok(Ok(LstsqResult {
        x: e.download_vec(&x)?,
        method: LstsqMethod::SketchAndPrecondition,
        sketch_dtype: meta.dtype,
        sketch_rows: meta.d,
        fallback: meta.fallback,
        iterations,
        abandoned_iterations: meta.abandoned,
        converged: converged && last.converged,
        residual_norm: last.rnorm,
        normal_residual_norm: last.arnorm,
        precond_cond: last.cond,
        r_cond: sk.r_cond,
    }))
}

/// LSQR on the preconditioned operator `Ā = A·R⁻¹`, resident on one CPU f64 engine: the plans of
/// `Ā`, `Āᵀ`, `A` and `R⁻¹` (as an explicit `n×n` inverse, a dense parameter cached by the
/// backend) and of the vector updates are built once in [`Lsqr::new`] and reused by every
/// iteration and refinement pass.
struct Lsqr<'a> {
    e: &'a Engine,
    abar: OpPlan,
    abar_t: OpPlan,
    a: OpPlan,
    rinv: OpPlan,
    /// Plans over `m`-vectors.
    vm: VecPlans,
    /// Plans over `n`-vectors.
    vn: VecPlans,
    /// The resident zero `n`-vector (`y` of an empty run).
    zero: Matrix,
    tol: f64,
}

struct LsqrDone {
    y: Matrix,
    iterations: usize,
    converged: bool,
    rnorm: f64,
    arnorm: f64,
    cond: f64,
}

enum LsqrOutcome {
    Done(LsqrDone),
    Weak {
        iterations: usize,
        cond: f64,
        predicted: f64,
    },
}

/// Ritz estimate of the condition number of the `(k+1)×k` lower bidiagonal with diagonal
/// `alphas` and subdiagonal `betas[1..]`.
fn bidiag_cond(alphas: &[f64], betas: &[f64]) -> Result<f64> {
    let k = alphas.len();
    let b = Mat::from_fn(k + 1, k, |i, j| {
        if i == j {
            alphas[j]
        } else if i == j + 1 {
            betas[j + 1]
        } else {
            0.0
        }
    });
    let sv = singular_values(b.as_ref())?;
    let smin = sv[k - 1];
    Ok(if smin > 0.0 {
        sv[0] / smin
    } else {
        f64::INFINITY
    })
}

/// Solves `Rᵀ·c = g` in place for an upper-triangular `R` (forward substitution).
fn solve_upper_transposed(r: faer::MatRef<'_, f64>, g: &mut [f64]) {
    for i in 0..g.len() {
        let mut v = g[i];
        for (k, gk) in g.iter().enumerate().take(i) {
            v -= r[(k, i)] * gk;
        }
        g[i] = v / r[(i, i)];
    }
}

/// `R⁻¹` of an upper-triangular `R` with a nonzero diagonal, column by column (back
/// substitution: each column is the exact inverse of `R + ΔR_j`, `|ΔR_j| ≤ n·u·|R|`, the same
/// backward error as a triangular solve per application).
fn upper_inverse(r: &Mat<f64>) -> Mat<f64> {
    let n = r.nrows();
    let mut inv = Mat::<f64>::zeros(n, n);
    for j in 0..n {
        let mut e = vec![0.0; n];
        e[j] = 1.0;
        solve_upper(r.as_ref(), &mut e);
        for (i, v) in e.into_iter().enumerate() {
            inv[(i, j)] = v;
        }
    }
    inv
}

impl<'a> Lsqr<'a> {
    fn new(e: &'a Engine, op: &Op, r: &Mat<f64>, tol: f64) -> Result<Self> {
        let (m, n) = op.shape();
        let inv = upper_inverse(r);
        let rinv = Op::dense(n, n, (0..n * n).map(|k| inv[(k % n, k / n)]).collect())?;
        let abar = Op::product(vec![op.clone(), rinv.clone()])?;
        Ok(Self {
            e,
            abar: OpPlan::new(e, &abar, 1, DType::F64)?,
            abar_t: OpPlan::new(e, &abar.t(), 1, DType::F64)?,
            a: OpPlan::new(e, op, 1, DType::F64)?,
            rinv: OpPlan::new(e, &rinv, 1, DType::F64)?,
            vm: VecPlans::new(e, DType::F64, m)?,
            vn: VecPlans::new(e, DType::F64, n)?,
            zero: e.upload(Mat::<f64>::zeros(n, 1).as_ref())?,
            tol,
        })
    }

    /// Conjugate gradients on `(ĀᵀĀ)·w = c` from `w = 0` (CGLS' recurrence with the normal
    /// residual given), until `‖c − ĀᵀĀ·w‖ ≤ tol·‖c‖` or `max_iter`; returns `w` and the
    /// iterations. Per iteration one `Ā·p`, one `Āᵀ·t`, three vector updates and two norms.
    fn normal_cg(&self, c: &Matrix, max_iter: usize) -> Result<(Matrix, usize)> {
        let (e, vn) = (self.e, &self.vn);
        let cn = vn.norm(e, c)?;
        let mut w = vn.scale(e, &self.zero, 1.0)?;
        if cn == 0.0 {
            return Ok((w, 0));
        }
        let mut s = vn.scale(e, c, 1.0)?;
        let mut pdir = vn.scale(e, c, 1.0)?;
        let mut gamma = cn * cn;
        let mut it = 0;
        while it < max_iter {
            it += 1;
            let t = self.abar.apply(e, &pdir)?;
            let tn = self.vm.norm(e, &t)?;
            if tn == 0.0 {
                break;
            }
            let alpha = gamma / (tn * tn);
            w = vn.scale_add(e, &pdir, alpha, &w)?;
            let q = self.abar_t.apply(e, &t)?;
            s = vn.scale_add(e, &q, -alpha, &s)?;
            let sn = vn.norm(e, &s)?;
            if sn <= self.tol * cn {
                break;
            }
            let gnew = sn * sn;
            pdir = vn.scale_add(e, &pdir, gnew / gamma, &s)?;
            gamma = gnew;
        }
        Ok((w, it))
    }

    /// Paige–Saunders LSQR on the resident right-hand side `b`; `check` = iteration at which to
    /// test the preconditioner. Per iteration: one `Ā·v`, one `Āᵀ·u`, five vector updates (each
    /// with an 8-byte scalar upload) and three norms (8-byte downloads: `β`, `α`, `‖y‖`).
    fn run(&self, b: &Matrix, max_iter: usize, check: Option<usize>) -> Result<LsqrOutcome> {
        let tol = self.tol;
        let (e, vm, vn) = (self.e, &self.vm, &self.vn);
        let zero = |rnorm: f64| -> Result<LsqrOutcome> {
            Ok(LsqrOutcome::Done(LsqrDone {
                y: vn.scale(e, &self.zero, 1.0)?,
                iterations: 0,
                converged: true,
                rnorm,
                arnorm: 0.0,
                cond: 1.0,
            }))
        };
        let mut beta = vm.norm(e, b)?;
        let bnorm = beta;
        if beta == 0.0 {
            return zero(0.0);
        }
        let mut u = vm.scale(e, b, 1.0 / beta)?;
        let mut v = self.abar_t.apply(e, &u)?;
        let mut alpha = vn.norm(e, &v)?;
        let (mut alphas, mut betas) = (Vec::new(), vec![beta]);
        if alpha == 0.0 {
            // b ⟂ range(A): x = 0 is the answer.
            return zero(bnorm);
        }
        v = vn.scale(e, &v, 1.0 / alpha)?;
        let mut w = vn.scale(e, &v, 1.0)?;
        let mut y = vn.scale(e, &self.zero, 1.0)?;
        let (mut phibar, mut rhobar) = (beta, alpha);
        let (mut anorm2, mut rnorm, mut arnorm) = (0.0f64, beta, alpha * beta);
        let mut converged = false;
        let mut it = 0;
        while it < max_iter {
            it += 1;
            alphas.push(alpha);
            // Bidiagonalization: β u = Ā v − α u; α v = Āᵀ u − β v.
            let av = self.abar.apply(e, &v)?;
            u = vm.scale_add(e, &u, -alpha, &av)?;
            beta = vm.norm(e, &u)?;
            betas.push(beta);
            anorm2 += alpha * alpha + beta * beta;
            if beta > 0.0 {
                u = vm.scale(e, &u, 1.0 / beta)?;
                let atu = self.abar_t.apply(e, &u)?;
                v = vn.scale_add(e, &v, -beta, &atu)?;
                alpha = vn.norm(e, &v)?;
                if alpha > 0.0 {
                    v = vn.scale(e, &v, 1.0 / alpha)?;
                }
            } else {
                alpha = 0.0;
            }
            // Plane rotation eliminating the subdiagonal β.
            let rho = rhobar.hypot(beta);
            let (c, s) = (rhobar / rho, beta / rho);
            let theta = s * alpha;
            rhobar = -c * alpha;
            let phi = c * phibar;
            phibar *= s;
            let (t1, t2) = (phi / rho, -theta / rho);
            y = vn.scale_add(e, &w, t1, &y)?;
            w = vn.scale_add(e, &w, t2, &v)?;
            rnorm = phibar;
            arnorm = phibar * alpha * c.abs();
            let anorm = anorm2.sqrt();
            let ynorm = vn.norm(e, &y)?;
            let test1 = rnorm / bnorm;
            let test2 = if rnorm > 0.0 {
                arnorm / (anorm * rnorm)
            } else {
                0.0
            };
            let rtol = tol + tol * anorm * ynorm / bnorm;
            if test1 <= rtol || test2 <= tol || alpha == 0.0 || beta == 0.0 {
                converged = true;
                break;
            }
            if Some(it) == check {
                let cond = bidiag_cond(&alphas, &betas)?;
                let rate = if cond.is_finite() {
                    (cond - 1.0) / (cond + 1.0)
                } else {
                    1.0
                };
                let predicted = if rate < 1.0 {
                    tol.ln() / rate.ln()
                } else {
                    f64::INFINITY
                };
                if predicted > max_iter as f64 {
                    return Ok(LsqrOutcome::Weak {
                        iterations: it,
                        cond,
                        predicted,
                    });
                }
            }
        }
        let cond = bidiag_cond(&alphas, &betas)?;
        Ok(LsqrOutcome::Done(LsqrDone {
            y,
            iterations: it,
            converged,
            rnorm,
            arnorm,
            cond,
        }))
    }
}

/// A least-squares test problem with a known solution: `A = U·diag(σ)·Vᵀ` (`m×n`, `U`, `V` from
/// QRs of seeded Gaussian matrices, `σ` log-spaced from 1 to `1/kappa`), `x*` Gaussian, and
/// `b = A·x* + r` with `r ⟂ range(A)`, `‖r‖ = rho·‖A·x*‖`. Returns `(A, x*, b)`.
///
/// # Errors
/// [`Error::InvalidArgument`] unless `m ≥ n ≥ 1`, `kappa ≥ 1` and `rho ≥ 0` are finite.
///
/// # Examples
/// ```
/// let (a, x, b) = linops::randnla::lstsq::known_solution_problem(20, 3, 1e4, 0.0, 1).unwrap();
/// let ax = &a * faer::Mat::from_fn(3, 1, |i, _| x[i]);
/// assert!((ax[(7, 0)] - b[7]).abs() < 1e-14);
/// ```
pub fn known_solution_problem(
    m: usize,
    n: usize,
    kappa: f64,
    rho: f64,
    seed: u64,
) -> Result<(Mat<f64>, Vec<f64>, Vec<f64>)> {
    if n == 0 || m < n || !kappa.is_finite() || kappa < 1.0 || !rho.is_finite() || rho < 0.0 {
        return Err(Error::InvalidArgument(format!(
            "known_solution_problem needs m >= n >= 1, finite kappa >= 1, rho >= 0; got \
             m = {m}, n = {n}, kappa = {kappa}, rho = {rho}"
        )));
    }
    let rng = RngState::new(seed);
    let gauss = |rows: usize, cols: usize, col0: u64| {
        let r = rng.skip_columns(col0);
        Mat::from_fn(rows, cols, |i, j| {
            f64::from(r.entry(linops_core::rng::Dist::Gaussian, i as u64, j as u64))
        })
    };
    let uq = gauss(m, n + 1, 0).qr().compute_thin_Q(); // last column: a direction ⟂ range(U)
    let v = gauss(n, n, (n + 1) as u64).qr().compute_thin_Q();
    let xs = gauss(n, 1, (2 * n + 1) as u64);
    let sigma = |j: usize| {
        if n == 1 {
            1.0
        } else {
            kappa.powf(-(j as f64) / (n - 1) as f64)
        }
    };
    let us = Mat::from_fn(m, n, |i, j| uq[(i, j)] * sigma(j));
    let a = &us * v.transpose();
    let ax = &a * &xs;
    let axn = norm(&(0..m).map(|i| ax[(i, 0)]).collect::<Vec<_>>());
    let b = (0..m)
        .map(|i| ax[(i, 0)] + rho * axn * uq[(i, n)])
        .collect();
    Ok((a, (0..n).map(|i| xs[(i, 0)]).collect(), b))
}
