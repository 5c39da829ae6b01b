//! Certified a-posteriori estimates of a residual's spectral norm, by Golub–Kahan–Lanczos with a
//! random start.
//!
//! **Mathematics.** For a residual operator `E` (`m×n`: `A − UΣVᵀ`, `(I − QQᵀ)A`, `A − UΛUᵀ`,
//! `A − CUR`, only ever applied), `j` steps of Golub–Kahan bidiagonalization from a start `v₁`
//! uniform on the unit sphere (a normalized Gaussian) build the Krylov space
//! `K_j(EᵀE, v₁)`; the largest singular value `θ` of the `j×j` bidiagonal `B_j` is the largest
//! Ritz value of `EᵀE` on it, so `θ ≤ ‖E‖₂` (up to rounding). Kuczyński and Woźniakowski (1992,
//! the Lanczos bound) show that for every PSD matrix of order `n`,
//! `P(θ² < (1 − ε)·‖E‖₂²) ≤ 1.648·√n·e^{−√ε·(2j − 1)}`. With `ε` solved from that bound for a
//! failure probability `δ = 1%`, `θ/√(1 − ε)` is an upper bound on `‖E‖₂` with probability at
//! least 99%, and it overestimates by at most the factor `1/√(1 − ε)` (1.1–1.25 for 10–14 steps
//! and `n` up to 10⁸) times `‖E‖₂/θ` (close to 1 once Lanczos has converged, which the median
//! case does well before the worst case the bound covers). When `ε` would exceed 0.75 (too few
//! steps for the size) the factor is capped at 2 and the failure probability the bound gives is
//! reported instead. A Krylov space exhausted before `j` steps (`E` of rank `< j`) gives `θ`
//! exactly; the factor is then 1 and the failure probability 0.
//!
//! **Resident iteration.** The Golub–Kahan vectors never leave the engine. The bases
//! `U` (`m×j`) and `V` (`n×j`) are resident matrices of `j` columns, zero until written: column
//! `i` is written by the rank-one GEMM `U ← x·e_iᵀ + U`, where the row selector `e_iᵀ` is itself
//! resident (made once from an uploaded `j×j` cyclic shift `C`, and advanced by `e_{i+1}ᵀ =
//! e_iᵀ·Cᵀ`). Full reorthogonalization is two passes of classical Gram–Schmidt as GEMMs over the
//! whole (zero-padded) basis, `c = Uᵀx`, `x ← x − U·c`; norms come from the engine's column-norm
//! kernel and the normalization `x ← x·(1/α)` takes its scalar as a `1×1` upload. Every plan
//! (the operator's, the factors', the GEMMs above) is built once per estimate, and the core `M`
//! of a `Factored` residual is uploaded once. Per step only scalars cross between host and
//! engine: `α` and `β` come down, `1/α` and `1/β` go up (8 bytes each); the `j×j` bidiagonal
//! and its SVD stay on the host.
//!
//! **Rounding.** The start vector is drawn from the seed on the CPU in f64 (the same bits on
//! every engine) and normalized in f64 before its one upload. On an f64 engine the iteration is
//! the one a host f64 Golub–Kahan with full reorthogonalization computes, up to the order of
//! its roundings: `B_j` is the exact bidiagonal of a nearby operator. On an f32 engine the
//! vectors, the reorthogonalization and the products are f32: with full reorthogonalization the
//! basis stays orthonormal to `O(u₃₂)`, so `θ` is the largest Ritz value of an operator within
//! `O(j·u₃₂·‖E‖)` of the `E` the engine applies (Paige's and Barlow's analyses of Lanczos and
//! Golub–Kahan with reorthogonalization), on a Krylov space of a start within `u₃₂` of the drawn
//! one. The bound's probability statement (Kuczyński–Woźniakowski, over the start direction) is
//! unchanged; what changes is the operator certified: `θ/√(1 − ε)` bounds `‖E‖₂` up to that
//! `O(j·u₃₂·‖E‖)` term, of the order of the rounding (`O(u₃₂·‖A‖)`, `‖E‖ ≤ ‖A‖` up to the
//! approximation's own size) with which the f32 engine applies `E` at all. `E` is applied through the engine in its precision, so the estimate bounds the
//! residual as computed (within `O(u·‖A‖)` of the exact one).
//!
//! **Cost.** `j` applications of `E` and of `Eᵀ` to one vector each; per step two
//! reorthogonalizations (`4` GEMMs of `O(m·j)` or `O(n·j)` each), two rank-one column writes
//! (`O((m + n)·j)`), two column norms and two scalings on the engine; one `j×j` SVD on the host.
//! Traffic: the start vector, `C` and the residual's small factors (the core `M`) up once; `2j`
//! scalars down and `2j` up.

use super::host_la::singular_values;
use super::vectors::{GemmPlan, OpPlan, VecPlans};
use super::{exponent, gaussian, ldexp, to_host, upload_like};
use crate::{Engine, Matrix, Op, Plan, Result};
use faer::Mat;
use linops_core::DType;

/// The failure probability the estimates are calibrated for.
pub const ESTIMATE_FAILURE: f64 = 0.01;

/// A certified estimate of a residual's spectral norm (module docs).
///
/// # Examples
/// ```
/// use linops::{Engine, faer::Mat, randnla::svd::{randomized_svd, SvdOptions}};
/// let a = linops::dense(Mat::from_fn(30, 20, |i, j| 0.5f64.powi((i + 2 * j) as i32)).as_ref()).unwrap();
/// let r = randomized_svd::<f64>(&Engine::cpu(), &a, 3, &SvdOptions::default()).unwrap();
/// let est = r.estimate.unwrap();
/// assert!(est.bound >= est.ritz && est.failure_probability <= 0.01);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NormEstimate {
    /// The certified estimate: an upper bound on `‖E‖₂` with probability at least
    /// `1 − failure_probability`.
    pub bound: f64,
    /// The largest Ritz value `θ ≤ ‖E‖₂` (a lower estimate).
    pub ritz: f64,
    /// The Kuczyński–Woźniakowski bound on the probability that `bound < ‖E‖₂` (0 when the Krylov
    /// space was exhausted and `ritz` is exact).
    pub failure_probability: f64,
    /// Golub–Kahan steps taken.
    pub steps: usize,
}

/// `(factor, failure)` for `steps` Lanczos steps on order `n`: `ε` from
/// `1.648·√n·e^{−√ε(2j−1)} = δ`, factor `1/√(1 − ε)`, capped at 2.
fn calibrate(n: usize, steps: usize) -> (f64, f64) {
    let c = 1.648 * (n as f64).sqrt();
    let two_j = (2 * steps) as f64 - 1.0;
    let sqrt_eps = ((c / ESTIMATE_FAILURE).ln() / two_j).max(0.0);
    let eps = sqrt_eps * sqrt_eps;
    if eps <= 0.75 {
        (1.0 / (1.0 - eps).sqrt(), ESTIMATE_FAILURE)
    } else {
        let failure = (c * (-(0.75f64.sqrt()) * two_j).exp()).min(1.0);
        (2.0, failure)
    }
}

/// Uploads a host `f64` matrix in `dtype`.
fn upload_in(e: &Engine, dtype: DType, m: &Mat<f64>) -> Result<Matrix> {
    match dtype {
        DType::F64 => e.upload(m.as_ref()),
        DType::F32 => {
            e.upload(Mat::<f32>::from_fn(m.nrows(), m.ncols(), |i, j| m[(i, j)] as f32).as_ref())
        }
    }
}

/// The resident row selectors `e_iᵀ` (`1×cap`) of the basis columns: `e_0ᵀ` is the column
/// norms of `C·diag(e_0)` (exactly one 1), and `e_{i+1}ᵀ = e_iᵀ·Cᵀ` with `C` the `cap×cap`
/// cyclic shift (`C·e_i = e_{i+1 mod cap}`), uploaded once.
struct Selector {
    shift: Matrix,
    row: Matrix,
    advance: GemmPlan,
}

impl Selector {
    fn new(e: &Engine, dtype: DType, cap: usize) -> Result<Selector> {
        let c = Mat::<f64>::from_fn(cap, cap, |i, j| if i == (j + 1) % cap { 1.0 } else { 0.0 });
        let shift = upload_in(e, dtype, &c)?;
        let first: Vec<f64> = (0..cap).map(|j| if j == 0 { 1.0 } else { 0.0 }).collect();
        let pick = Plan::scale_cols(dtype, (cap, cap), &first)?;
        let norms = Plan::col_norms(dtype, (cap, cap))?;
        e.counter.plan();
        e.counter.plan();
        let row = e.run(&norms, &[&e.run(&pick, &[&shift])?])?;
        let advance = GemmPlan::new(
            e,
            dtype,
            1.0,
            ((1, cap), false),
            ((cap, cap), true),
            0.0,
            None,
        )?;
        Ok(Selector {
            shift,
            row,
            advance,
        })
    }

    /// Moves on to the next column.
    fn advance(&mut self, e: &Engine) -> Result<()> {
        self.row = self.advance.run(e, &[&self.row, &self.shift])?;
        Ok(())
    }
}

/// An orthonormal basis of up to `cap` vectors of length `len`, resident as the columns of a
/// `len×cap` matrix whose unwritten columns are zero, with its GEMM plans built once.
struct Basis {
    mat: Option<Matrix>,
    /// `c = Uᵀx`.
    coef: GemmPlan,
    /// `x − U·c`.
    remove: GemmPlan,
    /// `x·e_iᵀ` (the first column written).
    first: GemmPlan,
    /// `x·e_iᵀ + U`.
    write: GemmPlan,
}

impl Basis {
    fn new(e: &Engine, dtype: DType, len: usize, cap: usize) -> Result<Basis> {
        let (u, x, c, s) = ((len, cap), (len, 1), (cap, 1), (1, cap));
        Ok(Basis {
            mat: None,
            coef: GemmPlan::new(e, dtype, 1.0, (u, true), (x, false), 0.0, None)?,
            remove: GemmPlan::new(e, dtype, -1.0, (u, false), (c, false), 1.0, Some(x))?,
            first: GemmPlan::new(e, dtype, 1.0, (x, false), (s, false), 0.0, None)?,
            write: GemmPlan::new(e, dtype, 1.0, (x, false), (s, false), 1.0, Some(u))?,
        })
    }

    /// Removes the components of `x` along the basis (two passes of classical Gram–Schmidt).
    fn reorthogonalize(&self, e: &Engine, mut x: Matrix) -> Result<Matrix> {
        if let Some(u) = &self.mat {
            for _ in 0..2 {
                let c = self.coef.run(e, &[u, &x])?;
                x = self.remove.run(e, &[u, &c, &x])?;
            }
        }
        Ok(x)
    }

    /// Writes `x` into the column `sel` selects.
    fn push(&mut self, e: &Engine, x: &Matrix, sel: &Selector) -> Result<()> {
        self.mat = Some(match &self.mat {
            None => self.first.run(e, &[x, &sel.row])?,
            Some(u) => self.write.run(e, &[x, &sel.row, u])?,
        });
        Ok(())
    }
}

/// `x/α` on the engine for a positive finite `α` and `x` of `dtype`: `x·2^k·r` with `α·2^k ∈
/// [1, 2)` and `r = 1/(α·2^k)`, the power of two applied in exact steps of at most `2^±100`
/// (f32) or `2^±1000` (f64), so that every uploaded scalar is a normal number of the dtype
/// whatever the magnitude of `α` (one scaling, `x·(2^k·r)`, unless `|k|` exceeds that step).
fn normalize(e: &Engine, vp: &VecPlans, dtype: DType, mut x: Matrix, alpha: f64) -> Result<Matrix> {
    let max_step = match dtype {
        DType::F32 => 100,
        DType::F64 => 1000,
    };
    let mut k = -exponent(alpha);
    let r = 1.0 / ldexp(alpha, k);
    while k.abs() > max_step {
        let step = max_step * k.signum();
        x = vp.scale(e, &x, ldexp(1.0, step))?;
        k -= step;
    }
    vp.scale(e, &x, ldexp(r, k))
}

/// Certified estimate of `‖E‖₂` for the `m×n` operator applied on the engine by `apply`
/// (`E·v`, `n×1 → m×1`) and `apply_t` (`Eᵀ·u`, `m×1 → n×1`) to resident vectors of `dtype`,
/// with at most `steps` Golub–Kahan steps from a Gaussian start drawn from `seed` on the CPU in
/// f64 (the same start whatever engine applies `E`). The closures must reuse plans built once:
/// nothing here re-plans per step, and only scalars cross between host and engine per step
/// (module docs).
pub(crate) fn residual_norm(
    e: &Engine,
    dtype: DType,
    (m, n): (usize, usize),
    steps: usize,
    seed: u64,
    mut apply: impl FnMut(&Matrix) -> Result<Matrix>,
    mut apply_t: impl FnMut(&Matrix) -> Result<Matrix>,
) -> Result<NormEstimate> {
    let steps = steps.min(m).min(n).max(1);
    // The start vector is drawn on the CPU in f64 (the same on every engine), read back there
    // (an engine reads only its own backend's matrices), normalized in f64 and uploaded once.
    let cpu = Engine::cpu();
    let mut start = to_host(&cpu, &gaussian::<f64>(&cpu, n, 1, seed)?)?;
    let nv = super::host_la::norm(&(0..n).map(|i| start[(i, 0)]).collect::<Vec<_>>());
    start.col_mut(0).iter_mut().for_each(|x| *x /= nv);
    let mut v = upload_in(e, dtype, &start)?;
    let (vm, vn) = (VecPlans::new(e, dtype, m)?, VecPlans::new(e, dtype, n)?);
    let (mut us, mut vs) = (
        Basis::new(e, dtype, m, steps)?,
        Basis::new(e, dtype, n, steps)?,
    );
    let mut sel = Selector::new(e, dtype, steps)?;
    let (mut alphas, mut betas) = (Vec::new(), Vec::new());
    let mut exhausted = false;
    for j in 0..steps {
        // u_j = E·v_j − β_{j−1}·u_{j−1}, reorthogonalized against all previous u (which
        // removes the β term).
        let u = us.reorthogonalize(e, apply(&v)?)?;
        let alpha = vm.norm(e, &u)?;
        vs.push(e, &v, &sel)?;
        if !alpha.is_finite() || alpha <= 0.0 {
            alphas.push(if alpha.is_finite() { 0.0 } else { alpha });
            exhausted = alpha == 0.0;
            break;
        }
        let u = normalize(e, &vm, dtype, u, alpha)?;
        alphas.push(alpha);
        if j + 1 == steps {
            break;
        }
        // v_{j+1} = Eᵀ·u_j − α_j·v_j, reorthogonalized against all previous v.
        let w = vs.reorthogonalize(e, apply_t(&u)?)?;
        us.push(e, &u, &sel)?;
        sel.advance(e)?;
        let beta = vn.norm(e, &w)?;
        if !beta.is_finite() || beta <= 0.0 {
            exhausted = beta == 0.0;
            break;
        }
        betas.push(beta);
        v = normalize(e, &vn, dtype, w, beta)?;
    }
    let k = alphas.len();
    let b = Mat::<f64>::from_fn(k, k, |i, j| {
        if i == j {
            alphas[i]
        } else if j == i + 1 && i < betas.len() {
            betas[i]
        } else {
            0.0
        }
    });
    let ritz = singular_values(b.as_ref())?.first().copied().unwrap_or(0.0);
    let (factor, failure) = if exhausted || k == n.min(m) {
        (1.0, 0.0)
    } else {
        calibrate(n.min(m), k)
    };
    Ok(NormEstimate {
        bound: factor * ritz,
        ritz,
        failure_probability: failure,
        steps: k,
    })
}

/// The right factor of a [`Factored`] residual: `R` (`n×s`) or its transpose stored (`s×n`).
pub(crate) enum Right<'a> {
    /// `R` itself, `n×s`.
    Plain(&'a Matrix),
    /// `Rᵀ` stored, `s×n`.
    Transposed(&'a Matrix),
}

/// The residual `E = A − L·M·Rᵀ` of a factored approximation: `L` (`m×r`) and `R` resident in the
/// engine's precision, the core `M` (`r×s`) on the host (uploaded once per estimate).
pub(crate) struct Factored<'a> {
    pub a: &'a Op,
    pub left: &'a Matrix,
    pub core: Mat<f64>,
    pub right: Right<'a>,
}

impl Factored<'_> {
    /// Certified estimate of `‖A − L·M·Rᵀ‖₂` ([`residual_norm`]).
    pub(crate) fn estimate(&self, e: &Engine, steps: usize, seed: u64) -> Result<NormEstimate> {
        let (m, n) = self.a.shape();
        let dtype = self.left.dtype();
        let (r, s) = (self.core.nrows(), self.core.ncols());
        let (xm, xn, xr, xs) = ((m, 1), (n, 1), (r, 1), (s, 1));
        // Every plan built once for all Golub–Kahan steps; M uploaded once.
        let a_plan = OpPlan::new(e, self.a, 1, dtype)?;
        let at_plan = OpPlan::new(e, &self.a.t(), 1, dtype)?;
        let core = upload_like(e, self.left, &self.core)?;
        let (right, r_trans) = match self.right {
            Right::Plain(r) => (r, true),
            Right::Transposed(rt) => (rt, false),
        };
        let rt_x = GemmPlan::new(
            e,
            dtype,
            1.0,
            (right.shape(), r_trans),
            (xn, false),
            0.0,
            None,
        )?;
        let m_w = GemmPlan::new(e, dtype, 1.0, ((r, s), false), (xs, false), 0.0, None)?;
        let ax_l = GemmPlan::new(e, dtype, -1.0, ((m, r), false), (xr, false), 1.0, Some(xm))?;
        let lt_y = GemmPlan::new(e, dtype, 1.0, ((m, r), true), (xm, false), 0.0, None)?;
        let mt_z = GemmPlan::new(e, dtype, 1.0, ((r, s), true), (xr, false), 0.0, None)?;
        let aty_r = GemmPlan::new(
            e,
            dtype,
            -1.0,
            (right.shape(), !r_trans),
            (xs, false),
            1.0,
            Some(xn),
        )?;
        residual_norm(
            e,
            dtype,
            (m, n),
            steps,
            seed,
            |x| {
                // A·x − L·(M·(Rᵀ·x))
                let ax = a_plan.apply(e, x)?;
                let w = rt_x.run(e, &[right, x])?;
                let mw = m_w.run(e, &[&core, &w])?;
                ax_l.run(e, &[self.left, &mw, &ax])
            },
            |y| {
                // Aᵀ·y − R·(Mᵀ·(Lᵀ·y))
                let aty = at_plan.apply(e, y)?;
                let z = lt_y.run(e, &[self.left, y])?;
                let mz = mt_z.run(e, &[&core, &z])?;
                aty_r.run(e, &[right, &mz, &aty])
            },
        )
    }
}

/// Certified estimate of `‖(I − QQᵀ)·A‖₂` for an orthonormal basis `q` (`m×l`, resident) of
/// an approximate range of `a`, e.g. from [`range_finder`](super::range::range_finder), with
/// `steps` Golub–Kahan steps from `seed` (module docs: resident, no host round trip per step).
///
/// # Errors
/// [`Error::ShapeMismatch`](crate::Error::ShapeMismatch) when `q` has not `m` rows; engine errors.
///
/// # Examples
/// ```
/// use linops::{Engine, faer::Mat, randnla::{estimate::range_error, range::{range_finder, RangeOptions}}};
/// let e = Engine::cpu();
/// let a = linops::dense(Mat::from_fn(40, 30, |i, j| 0.6f64.powi((i + j) as i32)).as_ref()).unwrap();
/// let b = range_finder::<f64>(&e, &a, 5, &RangeOptions::default()).unwrap();
/// let est = range_error(&e, &a, &b.q, 12, 1).unwrap();
/// assert!(est.bound < 1e-3 && est.failure_probability <= 0.01);
/// ```
pub fn range_error(
    e: &Engine,
    a: &Op,
    q: &Matrix,
    steps: usize,
    seed: u64,
) -> Result<NormEstimate> {
    let (m, n) = a.shape();
    if q.shape().0 != m {
        return Err(crate::Error::ShapeMismatch {
            context: "range_error basis".into(),
            expected: format!("{m} rows"),
            found: format!("{:?}", q.shape()),
        });
    }
    let dtype = q.dtype();
    let l = q.shape().1;
    let a_plan = OpPlan::new(e, a, 1, dtype)?;
    let at_plan = OpPlan::new(e, &a.t(), 1, dtype)?;
    let qt_y = GemmPlan::new(e, dtype, 1.0, ((m, l), true), ((m, 1), false), 0.0, None)?;
    let y_qc = GemmPlan::new(
        e,
        dtype,
        -1.0,
        ((m, l), false),
        ((l, 1), false),
        1.0,
        Some((m, 1)),
    )?;
    // (I − QQᵀ)·y
    let project = |y: &Matrix| -> Result<Matrix> {
        let c = qt_y.run(e, &[q, y])?;
        y_qc.run(e, &[q, &c, y])
    };
    residual_norm(
        e,
        dtype,
        (m, n),
        steps,
        seed,
        |v| project(&a_plan.apply(e, v)?),
        |y| at_plan.apply(e, &project(y)?),
    )
}

/// Certified estimate of `‖A − U·diag(λ)·Uᵀ‖₂` for a [`Nystrom`](super::nystrom::Nystrom)
/// approximation of the square operator `a`, with `steps` Golub–Kahan steps from `seed`
/// (module docs: resident, no host round trip per step).
///
/// # Errors
/// [`Error::ShapeMismatch`](crate::Error::ShapeMismatch) when the factors do not fit `a`; engine
/// errors.
///
/// # Examples
/// ```
/// use linops::{Engine, Op, randnla::{estimate::nystrom_error, nystrom::{nystrom, NystromOptions}}};
/// let e = Engine::cpu();
/// let a = Op::diagonal((0..40).map(|j| 0.5f64.powi(j)).collect()).unwrap();
/// let ny = nystrom::<f64>(&e, &a, 10, &NystromOptions::default()).unwrap();
/// let est = nystrom_error(&e, &a, &ny, 12, 1).unwrap();
/// assert!(est.bound >= 0.5f64.powi(10) * 0.99 && est.bound < 1e-2);
/// ```
pub fn nystrom_error(
    e: &Engine,
    a: &Op,
    ny: &super::nystrom::Nystrom,
    steps: usize,
    seed: u64,
) -> Result<NormEstimate> {
    let (m, n) = a.shape();
    let k = ny.lambda.len();
    if m != n || ny.u.shape() != (n, k) {
        return Err(crate::Error::ShapeMismatch {
            context: "nystrom_error factors".into(),
            expected: format!("a square operator and U of {n}x{k}"),
            found: format!("{m}x{n} and {:?}", ny.u.shape()),
        });
    }
    Factored {
        a,
        left: &ny.u,
        core: Mat::from_fn(k, k, |i, j| if i == j { ny.lambda[i] } else { 0.0 }),
        right: Right::Plain(&ny.u),
    }
    .estimate(e, steps, seed)
}

/// Certified estimate of `‖A·(I − S_J·X)‖₂` for a column interpolative decomposition `A ≈
/// A[:, J]·X` (`X` `k×n` on the host, `J` the `k` selected columns), in `dtype`: `X` and the
/// `n×k` column selector `S_J` uploaded once, `E·v = A·(v − S_J·(X·v))` and `Eᵀ·y = z −
/// Xᵀ·(S_Jᵀ·z)` with `z = Aᵀ·y` as plans built once ([`residual_norm`]).
pub(crate) fn column_id_error(
    e: &Engine,
    dtype: DType,
    a: &Op,
    (x, cols): (&Mat<f64>, &[usize]),
    steps: usize,
    seed: u64,
) -> Result<NormEstimate> {
    let (m, n) = a.shape();
    let k = cols.len();
    let xm = upload_in(e, dtype, x)?;
    let sel = upload_in(
        e,
        dtype,
        &Mat::from_fn(n, k, |i, j| if cols[j] == i { 1.0 } else { 0.0 }),
    )?;
    let a_plan = OpPlan::new(e, a, 1, dtype)?;
    let at_plan = OpPlan::new(e, &a.t(), 1, dtype)?;
    let (vn, vk) = ((n, 1), (k, 1));
    let x_v = GemmPlan::new(e, dtype, 1.0, ((k, n), false), (vn, false), 0.0, None)?;
    let v_sx = GemmPlan::new(e, dtype, -1.0, ((n, k), false), (vk, false), 1.0, Some(vn))?;
    let st_z = GemmPlan::new(e, dtype, 1.0, ((n, k), true), (vn, false), 0.0, None)?;
    let z_xt = GemmPlan::new(e, dtype, -1.0, ((k, n), true), (vk, false), 1.0, Some(vn))?;
    residual_norm(
        e,
        dtype,
        (m, n),
        steps,
        seed,
        |v| {
            let xv = x_v.run(e, &[&xm, v])?;
            a_plan.apply(e, &v_sx.run(e, &[&sel, &xv, v])?)
        },
        |y| {
            let z = at_plan.apply(e, y)?;
            let zj = st_z.run(e, &[&sel, &z])?;
            z_xt.run(e, &[&xm, &zj, &z])
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calibration_meets_the_failure_target() {
        for (n, steps) in [(100, 10), (10_000, 12), (100_000_000, 14)] {
            let (factor, failure) = calibrate(n, steps);
            assert!(
                failure <= ESTIMATE_FAILURE && factor <= 1.3,
                "{n} {steps}: {factor} {failure}"
            );
            let eps = 1.0 - 1.0 / (factor * factor);
            let bound = 1.648 * (n as f64).sqrt() * (-(eps.sqrt()) * (2 * steps - 1) as f64).exp();
            assert!((bound - ESTIMATE_FAILURE).abs() <= 1e-9, "{bound}");
        }
        let (factor, failure) = calibrate(1_000_000, 2);
        assert!(factor == 2.0 && failure > ESTIMATE_FAILURE);
    }

    #[test]
    fn exact_on_a_small_diagonal() {
        let e = Engine::cpu();
        let d = Op::diagonal(vec![3.0, -2.0, 1.0]).unwrap();
        let p = OpPlan::new(&e, &d, 1, DType::F64).unwrap();
        let f = |x: &Matrix| p.apply(&e, x);
        let r = residual_norm(&e, DType::F64, (3, 3), 10, 1, f, f).unwrap();
        assert!((r.ritz - 3.0).abs() < 1e-12 && r.bound == r.ritz && r.failure_probability == 0.0);
    }
}
