//! GEMM-only matrix functions on resident matrices: every product runs through [`Engine::gemm`]
//! and [`Engine::axpby`] on the engine's backend; only scalars (norms) come back to the host.
//!
//! - [`polar_newton_schulz`] (cubic): `X₀ = A/‖A‖_F`, `X ← 1.5·X − 0.5·X·(XᵀX)`. Each singular
//!   value follows `σ ← σ(3 − σ²)/2`, which converges to 1 for `σ ∈ (0, √3)`: quadratically near 1,
//!   by a factor 1.5 per step while `σ ≪ 1`, so about `log_{1.5}(κ) + 5` steps. The limit is the
//!   orthogonal polar factor `U·Vᵀ` of `A = U·Σ·Vᵀ` (full column rank, `m ≥ n`). Stops when
//!   `‖XᵀX − I‖_F ≤ tol` or when the residual stops decreasing; returns that residual.
//! - [`polar_newton_schulz`] (Muon quintic, [`NsKind::MuonQuintic`]): `X ← a·X + b·X·G + c·X·G²`,
//!   `G = XᵀX`, `(a, b, c) = (3.4445, −4.7750, 2.0315)`, a fixed number of steps (5 in Muon). The
//!   scalar map `p(σ) = aσ + bσ³ + cσ⁵` has a steep slope at 0 and maps `[0.68, 1.13]` into
//!   `[0.682, 1.137]`: it does *not* converge to orthogonality; after 5 steps the singular values are
//!   `p⁵(σ₀)` (the tests check this), in `[0.682, 1.135]` for `σ₀ ∈ [0.006, 1]`.
//! - [`sqrt_newton_schulz`]: coupled Newton–Schulz for SPD `A`: `Y₀ = A/s`, `Z₀ = I`
//!   (`s = ‖A‖_F ≥ λ_max`), `T = (3I − Z·Y)/2`, `Y ← Y·T`, `Z ← T·Z`; `Y → (A/s)^{1/2}`,
//!   `Z → (A/s)^{−1/2}` (Higham 2008, §6.7), converging for eigenvalues of `A/s` in `(0, 1]` with
//!   the same scalar dynamics as the cubic polar iteration on `√λ`. Stops on `‖I − Z·Y‖_F ≤ tol`;
//!   returns `‖Y·Y − A‖_F/‖A‖_F` for the returned `Y = √s·Y_k`.
//! - [`inverse_root`]: coupled Newton for `A^{−1/p}` (Guo and Higham 2006; the iteration in
//!   Shampoo implementations), `p ∈ {2, 4}`: `c = ‖A‖_F^{1/p}`, `X₀ = I/c`, `M₀ = A/c^p`,
//!   `T = ((p + 1)I − M)/p`, `X ← X·T`, `M ← T^p·M`; `M = X^p·A → I`, `X → A^{−1/p}`. Converges for
//!   eigenvalues of `M₀` in `(0, 1]`; stops on `‖M − I‖_F ≤ tol`, which it returns.
//!
//! **Cost.** Per step: cubic polar 2 GEMMs (`2mn² + 2mn²`), quintic 3, coupled sqrt 3
//! (`n³` each ×2), inverse root `p + 1`. Memory: a few `n×n` (or `m×n`) resident matrices. All
//! in the engine's precision (f32 on the GPU), so residuals floor at about `√n·u` times a modest
//! factor; the default tolerance is `tol = 4·√n·u·(n_cols)` of the dtype (see [`default_tol`]).
//!
//! **Residency.** The iterations' one-step plans (each GEMM and `axpby` of a given shape and
//! scalars) are built on first use and reused (`Steps`), and each residual `‖M‖_F` is reduced
//! on the engine to one scalar (the column norms, then the norm of that vector): per iteration
//! one 8-byte download and no plan build, whatever `n`.

use super::host_la::norm;
use super::{check_block, exponent, ldexp, scale_pow2, to_host};
use crate::{DType, Engine, Error, Matrix, Op, Plan, Result, Scalar};
use faer::Mat;
use std::cell::RefCell;
use std::collections::HashMap;

/// The one-step plans of an iteration, built on first use for each (operation, shapes,
/// scalars) and reused: an iteration re-plans nothing, and [`Steps::frob`] brings one scalar
/// back instead of `n` column norms.
struct Steps<'e> {
    e: &'e Engine,
    plans: RefCell<HashMap<String, Plan>>,
    /// The resident `1×1` matrix `[1]` (transposes the row of column norms by one GEMM).
    one: Matrix,
}

impl<'e> Steps<'e> {
    fn new<T: Scalar>(e: &'e Engine) -> Result<Steps<'e>> {
        Ok(Steps {
            e,
            plans: RefCell::new(HashMap::new()),
            one: e.upload(Mat::<T>::from_fn(1, 1, |_, _| T::from_f64(1.0)).as_ref())?,
        })
    }

    /// Runs the plan named `key` (built by `build` the first time) on `inputs`.
    fn run(
        &self,
        key: String,
        build: impl FnOnce() -> Result<Plan>,
        inputs: &[&Matrix],
    ) -> Result<Matrix> {
        self.e.resident(&key, inputs)?;
        let mut plans = self.plans.borrow_mut();
        if !plans.contains_key(&key) {
            let plan = build()?;
            self.e.counter.plan();
            plans.insert(key.clone(), plan);
        }
        let plan = &plans[&key];
        self.e.run(plan, inputs)
    }

    /// [`Engine::gemm`] with its plan reused.
    #[allow(clippy::too_many_arguments)]
    fn gemm(
        &self,
        alpha: f64,
        a: &Matrix,
        ta: bool,
        b: &Matrix,
        tb: bool,
        beta: f64,
        c: Option<&Matrix>,
    ) -> Result<Matrix> {
        let cs = c.map(Matrix::shape);
        let key = format!(
            "gemm {alpha:?} {:?} {ta} {:?} {tb} {beta:?} {cs:?} {}",
            a.shape(),
            b.shape(),
            a.dtype()
        );
        let (sa, sb, dtype) = (a.shape(), b.shape(), a.dtype());
        let mut all = vec![a, b];
        all.extend(c);
        self.run(
            key,
            || Plan::gemm(dtype, alpha, sa, ta, sb, tb, beta, cs),
            &all,
        )
    }

    /// [`Engine::axpby`] with its plan reused.
    fn axpby(&self, alpha: f64, x: &Matrix, beta: f64, y: &Matrix) -> Result<Matrix> {
        let key = format!("axpby {alpha:?} {:?} {beta:?} {}", x.shape(), x.dtype());
        let (sx, sy, dtype) = (x.shape(), y.shape(), x.dtype());
        self.run(key, || Plan::axpby(dtype, alpha, sx, beta, sy), &[x, y])
    }

    /// `‖M‖_F` on the engine: the column norms (a `1×n` row), transposed by a GEMM with `[1]`,
    /// and their norm (both reductions overflow- and underflow-safe); one scalar comes back.
    fn frob(&self, m: &Matrix) -> Result<f64> {
        let dtype = m.dtype();
        let sm = m.shape();
        let norms = self.run(
            format!("col_norms {sm:?} {dtype}"),
            || Plan::col_norms(dtype, sm),
            &[m],
        )?;
        let col = self.gemm(1.0, &norms, true, &self.one, false, 0.0, None)?;
        let sc = col.shape();
        let f = self.run(
            format!("col_norms {sc:?} {dtype}"),
            || Plan::col_norms(dtype, sc),
            &[&col],
        )?;
        Ok(self.e.download_vec(&f)?[0])
    }
}

/// Which Newton–Schulz polynomial [`polar_newton_schulz`] iterates.
///
/// # Examples
/// ```
/// assert_ne!(linops::randnla::matfun::NsKind::Cubic, linops::randnla::matfun::NsKind::MuonQuintic);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NsKind {
    /// `X ← 1.5X − 0.5·X·XᵀX`, converges to the polar factor.
    Cubic,
    /// Muon's `(3.4445, −4.7750, 2.0315)` quintic: fast, singular values end in ~[0.68, 1.14].
    MuonQuintic,
}

/// Stopping rule and budget of the Newton–Schulz matrix functions ([`polar_newton_schulz`],
/// [`sqrt_newton_schulz`], [`inverse_root`]).
///
/// # Examples
/// ```
/// use linops::randnla::matfun::{MatFunOptions, NsKind};
/// let o = MatFunOptions::default();
/// assert_eq!((o.tol, o.max_iter), (None, None));
/// assert_eq!(o.budget(NsKind::Cubic), 100);
/// assert_eq!(o.budget(NsKind::MuonQuintic), 5);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct MatFunOptions {
    /// Stop when the residual estimate is at most `tol`; `None`: [`default_tol`] of the engine's
    /// precision and the Gram dimension.
    pub tol: Option<f64>,
    /// Iteration budget; `None`: 5 for [`NsKind::MuonQuintic`] (Muon's fixed step count, run in
    /// full), 100 for the iterations with a stopping test (enough for `κ ≈ 10¹⁵`: the cubic
    /// phase gains a factor 1.5 per step on the smallest singular value).
    pub max_iter: Option<usize>,
}

impl MatFunOptions {
    /// The iteration budget for `kind` (see [`MatFunOptions::max_iter`]).
    ///
    /// # Examples
    /// ```
    /// use linops::randnla::matfun::{MatFunOptions, NsKind};
    /// let o = MatFunOptions { max_iter: Some(7), ..Default::default() };
    /// assert_eq!(o.budget(NsKind::MuonQuintic), 7);
    /// ```
    pub fn budget(&self, kind: NsKind) -> usize {
        self.max_iter.unwrap_or(match kind {
            NsKind::MuonQuintic => 5,
            NsKind::Cubic => 100,
        })
    }
}

/// Result of a matrix-function iteration.
///
/// # Examples
/// ```
/// use linops::{Engine, Op, randnla::matfun::{polar_newton_schulz, MatFunOptions, NsKind}};
/// let e = Engine::cpu();
/// let r = polar_newton_schulz::<f64>(&e, &Op::diagonal(vec![2.0, 0.5]).unwrap(), NsKind::Cubic, &MatFunOptions { tol: None, max_iter: Some(60) }).unwrap();
/// assert!(r.converged && r.residual < 1e-12);
/// ```
#[derive(Debug)]
pub struct MatFunResult {
    /// The result (resident on the engine).
    pub x: Matrix,
    /// The inverse square root for [`sqrt_newton_schulz`] (`None` elsewhere).
    pub inverse: Option<Matrix>,
    /// Iterations run.
    pub iterations: usize,
    /// Whether the stopping test was met (always true for the fixed-step quintic).
    pub converged: bool,
    /// The residual estimate for the returned matrix (see each function).
    pub residual: f64,
}

/// Default tolerance: `4·n·u` of the dtype (`n` the Gram dimension), the floor of the
/// residuals' rounding for `n×n` products.
///
/// # Examples
/// ```
/// assert!(linops::randnla::matfun::default_tol(linops::DType::F32, 10) > 1e-6);
/// ```
pub fn default_tol(d: DType, n: usize) -> f64 {
    let u = match d {
        DType::F32 => f64::from(f32::EPSILON) / 2.0,
        DType::F64 => f64::EPSILON / 2.0,
    };
    4.0 * n as f64 * u
}

/// `‖M‖_F` from the column norms, without squaring unscaled norms.
fn frob(e: &Engine, m: &Matrix) -> Result<f64> {
    Ok(norm(&e.col_norms(m)?))
}

/// `‖A‖_F = 2^k·f` with `f ∈ [1, 2)`, so that neither the norm nor its reciprocal needs to be
/// representable. When the backend's column norms under- or overflow (entries near the ends of the
/// dtype's range), the norm is recomputed on the host in f64 after scaling by the power of two at
/// or below `max|a_ij|`. `None` for `A = 0` exactly.
fn frob_parts(e: &Engine, a: &Matrix) -> Result<Option<(i32, f64)>> {
    let f = frob(e, a)?;
    if f > 0.0 && f.is_finite() {
        let k = exponent(f);
        return Ok(Some((k, ldexp(f, -k))));
    }
    let h = to_host(e, a)?;
    let (m, n) = (h.nrows(), h.ncols());
    let mut amax = 0.0f64;
    for j in 0..n {
        for i in 0..m {
            let v = h[(i, j)];
            if !v.is_finite() {
                return Err(Error::NonFinite {
                    context: "matrix function operator".into(),
                    row: i,
                    col: j,
                    value: v,
                });
            }
            amax = amax.max(v.abs());
        }
    }
    if amax == 0.0 {
        return Ok(None);
    }
    let e0 = exponent(amax);
    let entries: Vec<f64> = (0..n)
        .flat_map(|j| (0..m).map(move |i| (i, j)))
        .map(|(i, j)| ldexp(h[(i, j)], -e0))
        .collect();
    let fs = norm(&entries); // in [1, 2·√(mn)): finite
    let k = exponent(fs);
    Ok(Some((e0 + k, ldexp(fs, -k))))
}

fn eye<T: Scalar>(e: &Engine, n: usize) -> Result<Matrix> {
    e.upload(Mat::<T>::identity(n, n).as_ref())
}

/// `op` as a resident `m×n` matrix (`op · I_n`).
fn resident<T: Scalar>(e: &Engine, op: &Op) -> Result<Matrix> {
    let n = op.shape().1;
    e.apply_to(op, &eye::<T>(e, n)?)
}

/// `(A, A/‖A‖_F, ‖A‖_F)` for `op` as a resident matrix, with `‖A‖_F = 2^k·f` as `(k, f)`: `A` is
/// scaled by `2^{-k}` (exact) and then by `1/f ∈ (1/2, 1]`, so `A/‖A‖_F` has the same bits
/// for `A` and `2^e·A` and neither factor leaves the dtype's range. Only an exactly zero operator
/// (Frobenius norm 0) is an error, naming `what`; so is an `m×n` or `n×n` block beyond
/// [`MAX_BLOCK_ENTRIES`](super::MAX_BLOCK_ENTRIES).
fn normalized<T: Scalar>(e: &Engine, op: &Op, what: &str) -> Result<(Matrix, Matrix, (i32, f64))> {
    let (m, n) = op.shape();
    check_block(&format!("{what}: the resident operator"), m, n)?;
    check_block(&format!("{what}: the n×n iterates"), n, n)?;
    let a = resident::<T>(e, op)?;
    let Some((k, f)) = frob_parts(e, &a)? else {
        return Err(Error::InvalidArgument(format!("{what} of a zero operator")));
    };
    let unit = scale_pow2(e, &a, -k)?;
    let unit = unit.as_ref().unwrap_or(&a);
    let scaled = e.axpby(1.0 / f, unit, 0.0, unit)?;
    Ok((a, scaled, (k, f)))
}

fn check_square(op: &Op, what: &str) -> Result<usize> {
    let (m, n) = op.shape();
    if m != n {
        return Err(Error::ShapeMismatch {
            context: what.into(),
            expected: "a square operator".into(),
            found: format!("{m}x{n}"),
        });
    }
    Ok(n)
}

fn check_iters(max_iter: usize, tol: Option<f64>) -> Result<()> {
    if max_iter == 0 {
        return Err(Error::InvalidArgument("max_iter must be at least 1".into()));
    }
    if let Some(t) = tol
        && (!t.is_finite() || t <= 0.0)
    {
        return Err(Error::InvalidArgument(format!(
            "tol must be positive, got {t}"
        )));
    }
    Ok(())
}

/// Newton–Schulz orthogonalization of `A` (`m×n`, `m ≥ n`): the polar factor (cubic) or Muon's
/// quintic (`max_iter` fixed steps). Residual: `‖XᵀX − I‖_F`.
///
/// # Errors
/// [`Error::InvalidArgument`] for `m < n`, `max_iter == 0`, a bad `tol` or a zero operator (only
/// an exactly zero one: tiny operators are normalized exactly); [`Error::DeviceLimit`] for an
/// `m×n` or `n×n` block beyond [`MAX_BLOCK_ENTRIES`](super::MAX_BLOCK_ENTRIES); engine errors
/// (`f64` on the GPU).
///
/// # Examples
/// ```
/// use linops::{Engine, Op, randnla::matfun::{polar_newton_schulz, MatFunOptions, NsKind}};
/// let r = polar_newton_schulz::<f64>(&Engine::cpu(), &Op::identity(3).unwrap(), NsKind::MuonQuintic, &MatFunOptions::default()).unwrap();
/// assert_eq!(r.iterations, 5);
/// ```
pub fn polar_newton_schulz<T: Scalar>(
    e: &Engine,
    op: &Op,
    kind: NsKind,
    opts: &MatFunOptions,
) -> Result<MatFunResult> {
    let (tol, max_iter) = (opts.tol, opts.budget(kind));
    check_iters(max_iter, tol)?;
    let (m, n) = op.shape();
    if m < n {
        return Err(Error::InvalidArgument(format!(
            "newton-schulz needs m >= n (transpose a wide operator), got {m}x{n}"
        )));
    }
    let tol = tol.unwrap_or(default_tol(e.compute_dtype::<T>()?, n));
    let (_, mut x, _) = normalized::<T>(e, op, "newton-schulz")?;
    let i = eye::<T>(e, n)?;
    let st = Steps::new::<T>(e)?;
    let mut g = st.gemm(1.0, &x, true, &x, false, 0.0, None)?;
    let mut res = st.frob(&st.axpby(1.0, &g, -1.0, &i)?)?;
    let mut it = 0;
    let mut converged = kind == NsKind::MuonQuintic;
    while it < max_iter {
        if kind == NsKind::Cubic && res <= tol {
            converged = true;
            break;
        }
        let xn = match kind {
            NsKind::Cubic => st.gemm(-0.5, &x, false, &g, false, 1.5, Some(&x))?,
            NsKind::MuonQuintic => {
                let (a5, b5, c5) = (3.4445, -4.7750, 2.0315);
                let h = st.gemm(c5, &g, false, &g, false, b5, Some(&g))?;
                st.gemm(1.0, &x, false, &h, false, a5, Some(&x))?
            }
        };
        let gn = st.gemm(1.0, &xn, true, &xn, false, 0.0, None)?;
        let rn = st.frob(&st.axpby(1.0, &gn, -1.0, &i)?)?;
        it += 1;
        if kind == NsKind::Cubic && rn >= res && res < 0.5 {
            // Stagnation at the rounding floor: keep the better iterate.
            converged = res <= 100.0 * tol;
            break;
        }
        (x, g, res) = (xn, gn, rn);
    }
    if kind == NsKind::Cubic && res <= tol {
        converged = true;
    }
    Ok(MatFunResult {
        x,
        inverse: None,
        iterations: it,
        converged,
        residual: res,
    })
}

/// Coupled Newton–Schulz square root of an SPD operator: `x ≈ A^{1/2}`, `inverse ≈ A^{−1/2}`.
/// Residual: `‖X·X − A‖_F/‖A‖_F`.
///
/// # Errors
/// [`Error::ShapeMismatch`] for a non-square op; [`Error::InvalidArgument`] for bad options or a
/// zero operator; [`Error::DeviceLimit`] for an `n×n` block beyond
/// [`MAX_BLOCK_ENTRIES`](super::MAX_BLOCK_ENTRIES); engine errors.
///
/// # Examples
/// ```
/// use linops::{Engine, Op, randnla::matfun::{sqrt_newton_schulz, MatFunOptions}};
/// let e = Engine::cpu();
/// let r = sqrt_newton_schulz::<f64>(&e, &Op::diagonal(vec![4.0, 1.0]).unwrap(), &MatFunOptions { tol: None, max_iter: Some(50) }).unwrap();
/// let x = e.download::<f64>(&r.x).unwrap();
/// assert!((x[(0, 0)] - 2.0).abs() < 1e-12 && r.converged);
/// ```
pub fn sqrt_newton_schulz<T: Scalar>(
    e: &Engine,
    op: &Op,
    opts: &MatFunOptions,
) -> Result<MatFunResult> {
    let (tol, max_iter) = (opts.tol, opts.budget(NsKind::Cubic));
    check_iters(max_iter, tol)?;
    let n = check_square(op, "newton-schulz square root")?;
    let tol = tol.unwrap_or(default_tol(e.compute_dtype::<T>()?, n));
    let (a, mut y, (k, f)) = normalized::<T>(e, op, "square root")?;
    let i = eye::<T>(e, n)?;
    let mut z = eye::<T>(e, n)?;
    let st = Steps::new::<T>(e)?;
    let (mut it, mut converged, mut prev) = (0, false, f64::INFINITY);
    while it < max_iter {
        let zy = st.gemm(1.0, &z, false, &y, false, 0.0, None)?;
        let r = st.frob(&st.axpby(1.0, &i, -1.0, &zy)?)?;
        if r <= tol {
            converged = true;
            break;
        }
        if r >= prev && r < 0.5 {
            converged = r <= 100.0 * tol;
            break;
        }
        prev = r;
        let t = st.axpby(1.5, &i, -0.5, &zy)?;
        y = st.gemm(1.0, &y, false, &t, false, 0.0, None)?;
        z = st.gemm(1.0, &t, false, &z, false, 0.0, None)?;
        it += 1;
    }
    // ‖A‖_F^{1/2} = 2^{k/2}·√f for even k, 2^{(k−1)/2}·√(2f) for odd k: exact powers of two.
    let (half, root) = if k % 2 == 0 {
        (k / 2, f.sqrt())
    } else {
        ((k - 1) / 2, (2.0 * f).sqrt())
    };
    let x = e.axpby(root, &y, 0.0, &y)?;
    let x = scale_pow2(e, &x, half)?.unwrap_or(x);
    let zi = e.axpby(1.0 / root, &z, 0.0, &z)?;
    let zi = scale_pow2(e, &zi, -half)?.unwrap_or(zi);
    // ‖X·X − A‖_F/‖A‖_F, with both scaled by 2^{-k} first.
    let xx = e.gemm(1.0, &x, false, &x, false, -1.0, Some(&a))?;
    let xx = scale_pow2(e, &xx, -k)?.unwrap_or(xx);
    let residual = frob(e, &xx)? / f;
    Ok(MatFunResult {
        x,
        inverse: Some(zi),
        iterations: it,
        converged,
        residual,
    })
}

/// Coupled Newton inverse `p`-th root (`p ∈ {2, 4}`) of an SPD operator: `x ≈ A^{−1/p}`.
/// Residual: `‖M − I‖_F` with `M = X^p·A` carried by the iteration.
///
/// # Errors
/// [`Error::InvalidArgument`] for `p ∉ {2, 4}`, bad options or a zero operator;
/// [`Error::ShapeMismatch`] for a non-square op; [`Error::DeviceLimit`] for an `n×n` block beyond
/// [`MAX_BLOCK_ENTRIES`](super::MAX_BLOCK_ENTRIES); engine errors.
///
/// # Examples
/// ```
/// use linops::{Engine, Op, randnla::matfun::{inverse_root, MatFunOptions}};
/// let e = Engine::cpu();
/// let r = inverse_root::<f64>(&e, &Op::diagonal(vec![16.0, 1.0]).unwrap(), 4, &MatFunOptions::default()).unwrap();
/// assert!((e.download::<f64>(&r.x).unwrap()[(0, 0)] - 0.5).abs() < 1e-12);
/// ```
pub fn inverse_root<T: Scalar>(
    e: &Engine,
    op: &Op,
    p: u32,
    opts: &MatFunOptions,
) -> Result<MatFunResult> {
    let (tol, max_iter) = (opts.tol, opts.budget(NsKind::Cubic));
    check_iters(max_iter, tol)?;
    if p != 2 && p != 4 {
        return Err(Error::InvalidArgument(format!(
            "inverse_root supports p = 2 or 4, got {p}"
        )));
    }
    let n = check_square(op, "inverse root")?;
    let tol = tol.unwrap_or(default_tol(e.compute_dtype::<T>()?, n));
    let (_, mut mm, (k, f)) = normalized::<T>(e, op, "inverse root")?;
    // c = ‖A‖_F^{1/p} = 2^{q}·(2^{r}·f)^{1/p} with k = p·q + r, 0 ≤ r < p: X₀ = I/c never leaves
    // the dtype's range on the way.
    let pi = p as i32;
    let (q, r) = (k.div_euclid(pi), k.rem_euclid(pi));
    let c = (f * f64::from(1u32 << r)).powf(1.0 / f64::from(p));
    let i = eye::<T>(e, n)?;
    let x0 = e.axpby(1.0 / c, &i, 0.0, &i)?;
    let mut x = scale_pow2(e, &x0, -q)?.unwrap_or(x0);
    let pf = f64::from(p);
    let (mut it, mut converged, mut prev) = (0, false, f64::INFINITY);
    let st = Steps::new::<T>(e)?;
    let mut res = st.frob(&st.axpby(1.0, &mm, -1.0, &i)?)?;
    while it < max_iter {
        if res <= tol {
            converged = true;
            break;
        }
        if res >= prev && res < 0.5 {
            converged = res <= 100.0 * tol;
            break;
        }
        prev = res;
        let t = st.axpby((pf + 1.0) / pf, &i, -1.0 / pf, &mm)?;
        x = st.gemm(1.0, &x, false, &t, false, 0.0, None)?;
        let t2 = st.gemm(1.0, &t, false, &t, false, 0.0, None)?;
        let tp = if p == 4 {
            st.gemm(1.0, &t2, false, &t2, false, 0.0, None)?
        } else {
            t2
        };
        mm = st.gemm(1.0, &tp, false, &mm, false, 0.0, None)?;
        res = st.frob(&st.axpby(1.0, &mm, -1.0, &i)?)?;
        it += 1;
    }
    if res <= tol {
        converged = true;
    }
    Ok(MatFunResult {
        x,
        inverse: None,
        iterations: it,
        converged,
        residual: res,
    })
}
