//! Kronecker product `A₁⊗A₂⊗…⊗A_k` applied by the vec trick, never materialized.
//!
//! Mathematics: with `A_i` of shape `m_i×d_i`, `K = A₁⊗…⊗A_k` is `M×N` with `M = ∏m_i`,
//! `N = ∏d_i`. A column `x` of length `N` is a tensor with modes `(d_k, …, d_1)`, fastest first
//! (column-major, so `A_k` acts on the fastest index: `(A⊗B)·vec(X) = vec(B·X·Aᵀ)`). `K·x` applies
//! each factor to its mode; `Kᵀ = A₁ᵀ⊗…⊗A_kᵀ` the same with each factor transposed.
//!
//! **Dense factors** (each an `Op::Dense`, or its transpose: the common case) are applied in place
//! in the tensor layout, with no transpose of the data: factor `i` (from `k` down to `1`) is one
//! [`kernel::KroneckerGemm`] step, `I_w ⊗ A_i ⊗ I_s` with `s = ∏_{j>i} m_j` (the modes already
//! transformed) and `w = ∏_{j<i} d_j`: a GEMM on `d_i × w` views for the fastest mode, a GEMM on
//! `s × d_i` views from the right for the others. `k` steps, each reading its input once and
//! writing its output once (the last one writes `alpha·K·x + beta·out`): for `A⊗B` that is two
//! passes over the data, `2·n_A·n_B·(n_A + n_B)` FLOPs per column for square factors.
//!
//! **Other factors** (any [`Op`]: diagonal, identity, structured, a nested Kronecker…) are lowered
//! through their own normalization and lowering by the vec trick with explicit mode rotations: for
//! `i = 1..k`, rotate the slowest mode (`d_i`) to the front (a batched transpose of each column
//! seen as a `(L/d_i)×d_i` matrix, `L` its current length), then apply `A_i` to the front mode as
//! an ordinary operator on a `d_i × (L/d_i·b)` block. After `k` rounds the modes are
//! `(m_k, …, m_1)`: exactly `vec` of the result; a final scaled copy (a batched transpose with one
//! column) writes `alpha·K·x + beta·out`.
//!
//! Storage: the factors only (`Σ param_count(A_i)`). Cost for `b` columns: the factors' own costs
//! on blocks of `L/d_i·b` columns (for dense factors `Σ_i 2·m_i·d_i·(L_i/d_i)·b`, e.g.
//! `2·n³·b + 2·n³·b` for two `n×n` factors against `2·n⁴·b` for the dense `n²×n²` matrix), plus,
//! for the general path, `k + 1` passes of data movement (`k` mode rotations, one copy into the
//! output).

use super::{LeafOp, Op};
use crate::lower::kernel;
use crate::op::Lowering;
use crate::{BufId, Error, HostMat, Link, Param, Result};

/// `A₁⊗A₂⊗…⊗A_k` of arbitrary operators.
///
/// # Examples
/// ```
/// use linops_core::{LeafOp, Op, op::Kronecker};
/// let a = Op::dense(2, 2, vec![1.0, 2.0, 3.0, 4.0]).unwrap(); // [[1, 3], [2, 4]]
/// let i = Op::identity(2).unwrap();
/// let k = Kronecker::new(vec![a, i]).unwrap();
/// assert_eq!(k.shape(), (4, 4));
/// assert_eq!(k.to_dense().get(2, 0), 2.0); // (A⊗I)[2,0] = A[1,0]·I[0,0]
/// ```
#[derive(Debug, Clone)]
pub struct Kronecker {
    factors: Vec<Op>,
    rows: usize,
    cols: usize,
}

impl Kronecker {
    /// `factors[0]⊗factors[1]⊗…`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for an empty list or when the product of the dimensions
    /// overflows `usize`.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{Op, op::Kronecker};
    /// assert!(Kronecker::new(vec![]).is_err());
    /// let d = Op::diagonal(vec![1.0, 2.0]).unwrap();
    /// assert!(Kronecker::new(vec![d.clone(), d]).is_ok());
    /// ```
    pub fn new(factors: Vec<Op>) -> Result<Self> {
        if factors.is_empty() {
            return Err(Error::InvalidArgument(
                "kronecker product of an empty list of factors".into(),
            ));
        }
        let (mut rows, mut cols) = (1usize, 1usize);
        for f in &factors {
            let (r, c) = f.shape();
            rows = rows.checked_mul(r).ok_or_else(|| overflow(&factors))?;
            cols = cols.checked_mul(c).ok_or_else(|| overflow(&factors))?;
        }
        Ok(Self {
            factors,
            rows,
            cols,
        })
    }

    /// The factors, outermost first.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{Op, op::Kronecker};
    /// let k = Kronecker::new(vec![Op::identity(2).unwrap(); 3]).unwrap();
    /// assert_eq!(k.factors().len(), 3);
    /// ```
    pub fn factors(&self) -> &[Op] {
        &self.factors
    }
}

fn overflow(factors: &[Op]) -> Error {
    Error::InvalidArgument(format!(
        "kronecker product of shapes {:?} overflows usize",
        factors.iter().map(Op::shape).collect::<Vec<_>>()
    ))
}

/// The factor as a stored matrix and whether the factor is its transpose, when it is one.
fn dense_factor(f: &Op) -> Option<(&Param, bool)> {
    match f {
        Op::Dense(d) => Some((d.param(), false)),
        Op::Transpose(t) => match t.inner() {
            Op::Dense(d) => Some((d.param(), true)),
            _ => None,
        },
        _ => None,
    }
}

/// The error for an intermediate whose size overflows `usize`.
fn too_big(what: String, rows: usize, cols: usize) -> Error {
    Error::DeviceLimit {
        what: format!("kronecker temporary {what}"),
        requested: u64::MAX,
        limit_name: format!("usize elements ({rows}·{cols} overflows)"),
        limit: usize::MAX as u64,
    }
}

impl Kronecker {
    /// Every factor dense: one [`kernel::KroneckerGemm`] per factor, fastest mode first (module
    /// docs).
    #[allow(clippy::too_many_arguments)]
    fn lower_dense(
        &self,
        cx: &mut Lowering,
        transposed: bool,
        dense: &[(&Param, bool)],
        x: BufId,
        out: BufId,
        alpha: f64,
        beta: f64,
    ) -> Result<()> {
        let b = cx.shape_of(x).1;
        // op(A_i) = A_i or A_iᵀ for K or Kᵀ, as the stored matrix or its transpose.
        let ops: Vec<(usize, usize, bool)> = self
            .factors
            .iter()
            .zip(dense)
            .map(|(f, &(_, stored_t))| {
                let (r, c) = f.shape();
                if transposed {
                    (c, r, !stored_t)
                } else {
                    (r, c, stored_t)
                }
            })
            .collect();
        let k = ops.len();
        let mut links = Vec::with_capacity(k);
        // s: product of the transformed (faster) modes' new sizes; w: the slower modes' sizes.
        let mut s = 1usize;
        for i in (0..k).rev() {
            let (m, _, trans) = ops[i];
            let w: usize = ops[..i].iter().map(|o| o.1).product();
            let rows = s
                .checked_mul(m)
                .and_then(|v| v.checked_mul(w))
                .ok_or_else(|| too_big(format!("{s}·{m}·{w} rows"), s, m))?;
            rows.checked_mul(b)
                .ok_or_else(|| too_big(format!("{rows}x{b}"), rows, b))?;
            let a = cx.param(dense[i].0);
            let inner = s;
            links.push(Link::step(rows, vec![a], move |alpha, beta| {
                kernel::KroneckerGemm {
                    inner,
                    trans,
                    alpha,
                    beta,
                }
            }));
            s = s.saturating_mul(m);
        }
        cx.chain(x, out, alpha, beta, links)
    }
}

/// Dense Kronecker product of two host matrices.
fn kron(a: &HostMat, b: &HostMat) -> HostMat {
    let (br, bc) = (b.rows(), b.cols());
    HostMat::from_fn(a.rows() * br, a.cols() * bc, |i, j| {
        a.get(i / br, j / bc) * b.get(i % br, j % bc)
    })
}

impl LeafOp for Kronecker {
    fn name(&self) -> &'static str {
        "kronecker"
    }
    fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }
    fn to_dense(&self) -> HostMat {
        let mut acc = self.factors[0].to_dense();
        for f in &self.factors[1..] {
            acc = kron(&acc, &f.to_dense());
        }
        acc
    }
    fn param_count(&self) -> usize {
        self.factors.iter().map(Op::param_count).sum()
    }
    fn is_symmetric(&self) -> bool {
        self.factors
            .iter()
            .all(|f| f.as_leaf().is_some_and(LeafOp::is_symmetric))
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
        let dense: Option<Vec<(&Param, bool)>> = self.factors.iter().map(dense_factor).collect();
        if let Some(dense) = dense {
            return self.lower_dense(cx, transposed, &dense, x, out, alpha, beta);
        }
        let b = cx.shape_of(x).1;
        let mut links = Vec::with_capacity(2 * self.factors.len() + 1);
        let mut len = if transposed { self.rows } else { self.cols };
        // An intermediate can be longer than both X and the output (factors of m > d before
        // factors of m < d): its size is checked, never wrapped.
        for f in &self.factors {
            let f = if transposed { f.t() } else { f.clone() };
            let (m, d) = f.shape();
            let rest = len / d;
            let cols = rest
                .checked_mul(b)
                .ok_or_else(|| too_big(format!("{d}x({rest}·{b})"), rest, b))?;
            m.checked_mul(cols)
                .ok_or_else(|| too_big(format!("{m}x{cols}"), m, cols))?;
            // Rotate the slowest mode (d) to the front: each column is a rest×d matrix; then
            // apply the factor to the d-row block.
            links.push(Link::shaped(
                d,
                cols,
                move |cx: &mut Lowering, i, o, a, b| {
                    let rotate = kernel::BatchTranspose {
                        rows: rest,
                        cols: d,
                        alpha: a,
                        beta: b,
                    };
                    cx.push(rotate, vec![i], o)
                },
            ));
            links.push(Link::shaped(
                m,
                cols,
                move |cx: &mut Lowering, i, o, a, b| cx.lower_sub(&f, i, o, a, b),
            ));
            len = m * rest;
        }
        // The modes are now (m_k, …, m_1): vec of the result; copy it into `out` with scaling.
        let rows = cx.shape_of(out).0;
        links.push(Link::new(rows, move |cx: &mut Lowering, i, o, a, b| {
            let copy = kernel::BatchTranspose {
                rows: len,
                cols: 1,
                alpha: a,
                beta: b,
            };
            cx.push(copy, vec![i], o)
        }));
        cx.chain(x, out, alpha, beta, links)
    }
}
