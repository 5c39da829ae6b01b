//! Low-rank and diagonal-plus-low-rank leaves.
//!
//! [`LowRank`]: `A = U·diag(s)·Vᵀ` with `U` (n×r), `s` (r), `V` (m×r), `r ≤ min(n, m)`. Applied in
//! three steps, never formed: `T₁ = Vᵀ·X` (GEMM with `trans_a`, r×b), `T₂ = diag(s)·T₁`,
//! `Y = alpha·U·T₂ + beta·Y`. Cost `2·r·(n + m)·b + r·b` FLOPs against `2·n·m·b` dense. The
//! transpose `V·diag(s)·Uᵀ` swaps the roles of `U` and `V`.
//!
//! [`DiagPlusLowRank`]: `A = D + U·Vᵀ` (n×n) with `D = diag(d)`, `U`, `V` (n×r), `r ≤ n`. Lowered to
//! two passes over `X`: `T = Vᵀ·X` (a GEMM with `trans_a`, r×b) and one `gemm_diag` step
//! `Y = alpha·(U·T + d∘X) + beta·Y` that reads `X` again and writes `Y` once (the diagonal term
//! is the GEMM's epilogue). The transpose is `D + V·Uᵀ`: the same two steps with `U` and `V`
//! swapped. Cost `4·r·n·b + 2·n·b` FLOPs.
//!
//! Bytes: `T = Vᵀ·X` is a reduction over all `n` rows of `X`, so unless a column block of `X`
//! stays on chip between the two steps, `X` is read twice and the floor for any two-pass
//! lowering is `(2·X + Y + P)/(X + Y + P)` of the minimum (`X = n·b`, `Y = n·b` elements, `P`
//! the parameters): `1.5` for square `X`, `Y` and small `P`. The lowering moves that plus the
//! `r×b` temporary twice, `2·r·b` elements (and `Y` once more when `beta ≠ 0`).
//!
//! Storage: `U`, `V` column-major, `s` or `d` as columns, all `f64` plan parameters.

use super::{LeafOp, require_nonempty};
use crate::lower::{Param, kernel};
use crate::op::Lowering;
use crate::{BufId, Error, HostMat, Link, Result, check_finite};

fn mat_param(m: HostMat) -> Param {
    let (rows, cols) = (m.rows(), m.cols());
    Param::of_shape(rows, cols, m.into_data())
}

fn vec_param(v: Vec<f64>) -> Param {
    Param::of_shape(v.len(), 1, v)
}

fn param_mat(p: &Param) -> HostMat {
    HostMat::new(p.rows, p.cols, p.data.to_vec()).expect("validated at construction")
}

/// Checks two factors `U` (n×r) and `V` (m×r) of a low-rank term: non-empty, finite, equal `r`,
/// `r ≤ min(n, m)`.
fn check_factors(what: &str, u: &HostMat, v: &HostMat) -> Result<()> {
    require_nonempty(&format!("{what} factor U"), u.rows(), u.cols())?;
    require_nonempty(&format!("{what} factor V"), v.rows(), v.cols())?;
    u.check_finite(&format!("{what} factor U"))?;
    v.check_finite(&format!("{what} factor V"))?;
    if u.cols() != v.cols() {
        return Err(Error::ShapeMismatch {
            context: format!("{what} factors"),
            expected: format!("V with {} columns (the rank of U)", u.cols()),
            found: format!(
                "U of {}x{}, V of {}x{}",
                u.rows(),
                u.cols(),
                v.rows(),
                v.cols()
            ),
        });
    }
    let r = u.cols();
    if r > u.rows().min(v.rows()) {
        return Err(Error::InvalidArgument(format!(
            "{what}: rank {r} exceeds min(n, m) = {} (U is {}x{r}, V is {}x{r}); store the matrix densely",
            u.rows().min(v.rows()),
            u.rows(),
            v.rows()
        )));
    }
    Ok(())
}

/// `U·diag(s)·Vᵀ`, applied through its factors.
///
/// # Examples
/// ```
/// use linops_core::{HostMat, LeafOp, op::LowRank};
/// let u = HostMat::new(3, 1, vec![1.0, 2.0, 3.0]).unwrap();
/// let v = HostMat::new(2, 1, vec![1.0, -1.0]).unwrap();
/// let a = LowRank::new(u, vec![2.0], v).unwrap();
/// assert_eq!(a.shape(), (3, 2));
/// assert_eq!(a.to_dense().get(2, 1), -6.0);
/// ```
#[derive(Debug, Clone)]
pub struct LowRank {
    u: Param,
    s: Param,
    v: Param,
}

impl LowRank {
    /// `U·diag(s)·Vᵀ` from `U` (n×r), `s` (r entries) and `V` (m×r).
    ///
    /// # Errors
    /// [`Error::EmptyDimension`] for an empty factor, [`Error::NonFinite`] for NaN/Inf,
    /// [`Error::ShapeMismatch`] when `U`, `s` and `V` disagree on `r`, [`Error::InvalidArgument`]
    /// when `r > min(n, m)`.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{HostMat, op::LowRank};
    /// let u = HostMat::from_fn(2, 3, |i, j| (i + j) as f64);
    /// let v = HostMat::from_fn(4, 3, |i, j| (i * j) as f64);
    /// assert!(LowRank::new(u, vec![1.0; 3], v).is_err()); // rank 3 > min(2, 4)
    /// ```
    pub fn new(u: HostMat, s: Vec<f64>, v: HostMat) -> Result<Self> {
        check_factors("low-rank", &u, &v)?;
        check_finite("low-rank weights s", s.len(), &s)?;
        if s.len() != u.cols() {
            return Err(Error::ShapeMismatch {
                context: "low-rank weights s".into(),
                expected: format!("{} entries (the rank of U and V)", u.cols()),
                found: format!("{} entries", s.len()),
            });
        }
        Ok(Self {
            u: mat_param(u),
            s: vec_param(s),
            v: mat_param(v),
        })
    }

    /// The rank `r` (number of columns of `U` and `V`).
    ///
    /// # Examples
    /// ```
    /// use linops_core::{HostMat, op::LowRank};
    /// let a = LowRank::new(HostMat::zeros(3, 1), vec![1.0], HostMat::zeros(2, 1)).unwrap();
    /// assert_eq!(a.rank(), 1);
    /// ```
    pub fn rank(&self) -> usize {
        self.s.rows
    }

    /// The factors `(U, s, V)`.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{HostMat, op::LowRank};
    /// let a = LowRank::new(HostMat::zeros(3, 1), vec![2.0], HostMat::zeros(2, 1)).unwrap();
    /// assert_eq!(a.factors().1, vec![2.0]);
    /// ```
    pub fn factors(&self) -> (HostMat, Vec<f64>, HostMat) {
        (param_mat(&self.u), self.s.data.to_vec(), param_mat(&self.v))
    }
}

impl LeafOp for LowRank {
    fn name(&self) -> &'static str {
        "low_rank"
    }
    fn shape(&self) -> (usize, usize) {
        (self.u.rows, self.v.rows)
    }
    fn to_dense(&self) -> HostMat {
        let (u, s, v) = (&self.u, &self.s.data, &self.v);
        HostMat::from_fn(u.rows, v.rows, |i, j| {
            (0..s.len())
                .map(|k| u.data[i + k * u.rows] * s[k] * v.data[j + k * v.rows])
                .sum()
        })
    }
    fn param_count(&self) -> usize {
        self.u.data.len() + self.s.rows + self.v.data.len()
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
        // t1 = Vᵀ·X, t2 = diag(s)·t1, out = alpha·U·t2 + beta·out.
        let s = cx.param(&self.s);
        let uv = (&self.u, &self.v);
        lower_u_vt(cx, uv, transposed, s, (x, out), alpha, beta)
    }
}

/// Emits `out = alpha·L·diag(s)·Rᵀ·x + beta·out` for `(L, R) = (U, V)` (or `(V, U)` when
/// `transposed`), through one `rank×batch` temporary per step: a GEMM with `Rᵀ`, the scaling by
/// `s`, a GEMM with `L`.
fn lower_u_vt(
    cx: &mut Lowering,
    (u, v): (&Param, &Param),
    transposed: bool,
    s: BufId,
    (x, out): (BufId, BufId),
    alpha: f64,
    beta: f64,
) -> Result<()> {
    let (left, right) = if transposed { (v, u) } else { (u, v) };
    let (l, r) = (cx.param(left), cx.param(right));
    let (rank, rows) = (u.cols, cx.shape_of(out).0);
    let gemm = |trans_a, alpha, beta| kernel::Gemm {
        trans_a,
        trans_b: false,
        alpha,
        beta,
    };
    let scale = move |alpha, beta| kernel::DiagScale { alpha, beta };
    let links = vec![
        Link::step(rank, vec![r], move |a, b| gemm(true, a, b)),
        Link::step(rank, vec![s], scale),
        Link::step(rows, vec![l], move |a, b| gemm(false, a, b)),
    ];
    cx.chain(x, out, alpha, beta, links)
}

/// `diag(d) + U·Vᵀ` (square), applied through its factors.
///
/// # Examples
/// ```
/// use linops_core::{HostMat, LeafOp, op::DiagPlusLowRank};
/// let u = HostMat::new(2, 1, vec![1.0, 1.0]).unwrap();
/// let a = DiagPlusLowRank::new(vec![1.0, 2.0], u.clone(), u).unwrap();
/// assert_eq!(a.to_dense().get(1, 1), 3.0);
/// assert_eq!(a.to_dense().get(0, 1), 1.0);
/// ```
#[derive(Debug, Clone)]
pub struct DiagPlusLowRank {
    d: Param,
    u: Param,
    v: Param,
}

impl DiagPlusLowRank {
    /// `diag(d) + U·Vᵀ` from `d` (n entries), `U` and `V` (n×r).
    ///
    /// # Errors
    /// [`Error::EmptyDimension`] for an empty `d` or factor, [`Error::NonFinite`] for NaN/Inf,
    /// [`Error::ShapeMismatch`] when `U` or `V` does not have `n` rows or their ranks differ,
    /// [`Error::InvalidArgument`] when `r > n`.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{HostMat, op::DiagPlusLowRank};
    /// let u = HostMat::<f64>::zeros(3, 1);
    /// assert!(DiagPlusLowRank::new(vec![1.0; 2], u.clone(), u).is_err()); // U has 3 rows, d has 2
    /// ```
    pub fn new(d: Vec<f64>, u: HostMat, v: HostMat) -> Result<Self> {
        require_nonempty("diagonal-plus-low-rank diagonal", d.len(), 1)?;
        check_finite("diagonal-plus-low-rank diagonal", d.len(), &d)?;
        check_factors("diagonal-plus-low-rank", &u, &v)?;
        if u.rows() != d.len() || v.rows() != d.len() {
            return Err(Error::ShapeMismatch {
                context: "diagonal-plus-low-rank factors".into(),
                expected: format!("U and V with {} rows (the length of d)", d.len()),
                found: format!(
                    "U of {}x{}, V of {}x{}",
                    u.rows(),
                    u.cols(),
                    v.rows(),
                    v.cols()
                ),
            });
        }
        Ok(Self {
            d: vec_param(d),
            u: mat_param(u),
            v: mat_param(v),
        })
    }

    /// The rank `r` of the low-rank term.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{HostMat, op::DiagPlusLowRank};
    /// let u = HostMat::<f64>::zeros(3, 2);
    /// assert_eq!(DiagPlusLowRank::new(vec![1.0; 3], u.clone(), u).unwrap().rank(), 2);
    /// ```
    pub fn rank(&self) -> usize {
        self.u.cols
    }
}

impl LeafOp for DiagPlusLowRank {
    fn name(&self) -> &'static str {
        "diag_plus_low_rank"
    }
    fn shape(&self) -> (usize, usize) {
        (self.d.rows, self.d.rows)
    }
    fn to_dense(&self) -> HostMat {
        let (d, u, v) = (&self.d.data, &self.u, &self.v);
        let n = d.len();
        HostMat::from_fn(n, n, |i, j| {
            let low: f64 = (0..u.cols)
                .map(|k| u.data[i + k * n] * v.data[j + k * n])
                .sum();
            low + if i == j { d[i] } else { 0.0 }
        })
    }
    fn param_count(&self) -> usize {
        self.d.rows + self.u.data.len() + self.v.data.len()
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
        // T = Rᵀ·X, then out = alpha·(L·T + d∘X) + beta·out in one pass over out, with
        // (L, R) = (U, V), or (V, U) for the transpose D + V·Uᵀ.
        let (left, right) = if transposed {
            (&self.v, &self.u)
        } else {
            (&self.u, &self.v)
        };
        let (l, r, d) = (cx.param(left), cx.param(right), cx.param(&self.d));
        let t = cx.temp(self.u.cols, cx.shape_of(x).1);
        let vt_x = kernel::Gemm {
            trans_a: true,
            trans_b: false,
            alpha: 1.0,
            beta: 0.0,
        };
        cx.push(vt_x, vec![r, x], t)?;
        cx.push(kernel::GemmDiag { alpha, beta }, vec![l, t, d, x], out)?;
        cx.release(t);
        Ok(())
    }
}
