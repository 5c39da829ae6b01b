//! Planner normalization: rewrite an [`Op`] tree into a canonical form before lowering.
//!
//! Rules (each preserves the linear map exactly, up to floating-point reassociation of scalars):
//! - transposes are pushed to the leaves: `(AB)ᵀ = BᵀAᵀ`, `(A+B)ᵀ = Aᵀ+Bᵀ`, `(sA)ᵀ = sAᵀ`,
//!   `(Aᵀ)ᵀ = A`; symmetric leaves (identity, diagonal) drop their transpose;
//! - nested products and nested sums are flattened;
//! - scalars are pulled out of products and merged (`(sA)(tB) = (st)·AB`), nested scales multiply;
//! - identity factors of a product are dropped;
//! - adjacent diagonal factors of a product are merged into one diagonal, and a product's scalar is
//!   folded into one of its diagonals when it has one;
//! - diagonal, identity and scaled-identity terms of a sum are merged into one diagonal term;
//! - a permutation factor of a product is folded into a neighbouring dense factor (its rows or
//!   columns reordered once, cached) or composed with a neighbouring permutation
//!   ([`super::fold`]), so it costs no pass of its own.

use super::Lowering;
use crate::{BufId, Error, Op, Result};

/// Counts of the rewrites normalization performed (shown by `explain()`).
///
/// # Examples
/// ```
/// use linops_core::{DType, Op, Plan};
/// let d = Op::diagonal(vec![1.0, 2.0]).unwrap();
/// let p = Plan::new(&Op::product(vec![d.clone(), d]).unwrap(), 2, 1, DType::F64).unwrap();
/// assert_eq!(p.stats().diagonals_merged, 1);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NormStats {
    /// Transposes moved from an inner node to its children.
    pub transposes_pushed: usize,
    /// Nested products spliced into their parent.
    pub products_flattened: usize,
    /// Nested sums spliced into their parent.
    pub sums_flattened: usize,
    /// Diagonal (or identity) operands merged into a neighbour.
    pub diagonals_merged: usize,
    /// Scalars merged into another scalar or folded into a diagonal.
    pub scalars_merged: usize,
    /// Identity factors removed from products.
    pub identities_dropped: usize,
    /// Permutation factors folded into a neighbouring dense factor or permutation
    /// (see [`super::fold`]).
    pub permutations_folded: usize,
}

impl NormStats {
    /// Whether normalization changed anything.
    ///
    /// # Examples
    /// ```
    /// assert!(!linops_core::NormStats::default().any());
    /// ```
    pub fn any(&self) -> bool {
        *self != NormStats::default()
    }
}

/// A normalized operator tree: transposes only at leaves, no nested products or sums.
///
/// # Examples
/// ```
/// use linops_core::{Op, NormStats, plan::normalize::normalize};
/// let a = Op::dense(2, 3, vec![1.0; 6]).unwrap();
/// let n = normalize(&Op::product(vec![a.t(), a.clone()]).unwrap().t(), &mut NormStats::default()).unwrap();
/// assert_eq!(n.describe(), "product(dense[2x3]ᵀ, dense[2x3])");
/// ```
#[derive(Debug, Clone)]
pub enum Norm {
    /// A leaf (its `Op` is a leaf variant), transposed or not.
    Leaf {
        /// The leaf.
        op: Op,
        /// Apply its transpose.
        transposed: bool,
    },
    /// `s·A` with `A` not itself scaled.
    Scaled(f64, Box<Norm>),
    /// `A₁·…·A_k`, `k ≥ 2`, no factor a product or scaled.
    Product(Vec<Norm>),
    /// `A₁ + … + A_k`, `k ≥ 2`, no term a sum.
    Sum(Vec<Norm>),
}

/// Normalizes `op`, recording the rewrites in `stats`.
///
/// # Errors
/// Only when building a merged diagonal fails, which cannot happen for a validated `op` (kept as a
/// `Result` so that a future rewrite can report errors instead of panicking).
///
/// # Examples
/// ```
/// use linops_core::{Op, NormStats, plan::normalize::normalize};
/// let i = Op::identity(2).unwrap();
/// let n = normalize(&Op::product(vec![i.clone(), i]).unwrap(), &mut NormStats::default()).unwrap();
/// assert_eq!(n.describe(), "identity[2]");
/// ```
pub fn normalize(op: &Op, stats: &mut NormStats) -> Result<Norm> {
    push(op, false, stats)
}

fn is_composite(op: &Op) -> bool {
    matches!(
        op,
        Op::Scaled(_) | Op::Transpose(_) | Op::Product(_) | Op::Sum(_)
    )
}

fn push(op: &Op, t: bool, stats: &mut NormStats) -> Result<Norm> {
    match op {
        Op::Transpose(inner) => {
            if is_composite(inner.inner()) {
                stats.transposes_pushed += 1;
            }
            push(inner.inner(), !t, stats)
        }
        Op::Scaled(s) => scale(s.factor(), push(s.inner(), t, stats)?, stats),
        Op::Product(p) => {
            let mut factors = Vec::with_capacity(p.factors().len());
            let order: Vec<&Op> = if t {
                p.factors().iter().rev().collect()
            } else {
                p.factors().iter().collect()
            };
            for f in order {
                factors.push(push(f, t, stats)?);
            }
            product(factors, stats)
        }
        Op::Sum(s) => {
            let mut terms = Vec::with_capacity(s.terms().len());
            for term in s.terms() {
                terms.push(push(term, t, stats)?);
            }
            sum(terms, stats)
        }
        leaf => {
            let symmetric = leaf.as_leaf().is_some_and(|l| l.is_symmetric());
            Ok(Norm::Leaf {
                op: leaf.clone(),
                transposed: t && !symmetric,
            })
        }
    }
}

fn scale(s: f64, n: Norm, stats: &mut NormStats) -> Result<Norm> {
    match n {
        Norm::Scaled(s2, inner) => {
            stats.scalars_merged += 1;
            Ok(Norm::Scaled(s * s2, inner))
        }
        n if diag_values(&n).is_some() => {
            stats.scalars_merged += 1;
            diag_leaf(
                diag_values(&n)
                    .expect("checked")
                    .into_iter()
                    .map(|x| x * s)
                    .collect(),
            )
        }
        Norm::Product(mut factors) if factors.iter().any(|f| diag_values(f).is_some()) => {
            stats.scalars_merged += 1;
            let pos = factors
                .iter()
                .position(|f| diag_values(f).is_some())
                .expect("checked");
            let v = diag_values(&factors[pos])
                .expect("checked")
                .into_iter()
                .map(|x| x * s)
                .collect();
            factors[pos] = diag_leaf(v)?;
            Ok(Norm::Product(factors))
        }
        n => Ok(Norm::Scaled(s, Box::new(n))),
    }
}

fn diag_values(n: &Norm) -> Option<Vec<f64>> {
    match n {
        Norm::Leaf {
            op: Op::Diagonal(d),
            ..
        } => Some(d.values().to_vec()),
        Norm::Leaf {
            op: Op::Identity(i),
            ..
        } => Some(vec![1.0; i.dim()]),
        Norm::Scaled(s, inner) => {
            diag_values(inner).map(|v| v.into_iter().map(|x| x * s).collect())
        }
        _ => None,
    }
}

fn diag_leaf(values: Vec<f64>) -> Result<Norm> {
    Ok(Norm::Leaf {
        op: Op::diagonal(values)?,
        transposed: false,
    })
}

fn product(factors: Vec<Norm>, stats: &mut NormStats) -> Result<Norm> {
    let n_rows = factors[0].shape().0;
    let mut s = 1.0;
    let mut flat: Vec<Norm> = Vec::new();
    let mut pending = factors;
    pending.reverse();
    while let Some(f) = pending.pop() {
        match f {
            Norm::Scaled(k, inner) => {
                stats.scalars_merged += 1;
                s *= k;
                pending.push(*inner);
            }
            Norm::Product(inner) => {
                stats.products_flattened += 1;
                pending.extend(inner.into_iter().rev());
            }
            Norm::Leaf {
                op: Op::Identity(_),
                ..
            } => stats.identities_dropped += 1,
            f => {
                let merged = match (flat.last().and_then(diag_values), diag_values(&f)) {
                    (Some(a), Some(b)) => {
                        Some(a.iter().zip(&b).map(|(x, y)| x * y).collect::<Vec<_>>())
                    }
                    _ => None,
                };
                match merged {
                    Some(v) => {
                        stats.diagonals_merged += 1;
                        flat.pop();
                        flat.push(diag_leaf(v)?);
                    }
                    None => flat.push(f),
                }
            }
        }
    }
    stats.permutations_folded += super::fold::fold_permutations(&mut flat)?;
    // Fold the scalar into a diagonal factor when there is one.
    if s != 1.0 {
        if let Some(pos) = flat.iter().position(|f| diag_values(f).is_some()) {
            stats.scalars_merged += 1;
            let v = diag_values(&flat[pos])
                .expect("checked")
                .into_iter()
                .map(|x| x * s)
                .collect();
            flat[pos] = diag_leaf(v)?;
            s = 1.0;
        }
    }
    let body = match flat.len() {
        0 => Norm::Leaf {
            op: Op::identity(n_rows)?,
            transposed: false,
        },
        1 => flat.pop().expect("one factor"),
        _ => Norm::Product(flat),
    };
    Ok(if s == 1.0 {
        body
    } else {
        Norm::Scaled(s, Box::new(body))
    })
}

fn sum(terms: Vec<Norm>, stats: &mut NormStats) -> Result<Norm> {
    let mut flat: Vec<Norm> = Vec::new();
    let mut diag: Option<Vec<f64>> = None;
    let mut diag_terms = 0usize;
    let mut pending = terms;
    pending.reverse();
    while let Some(t) = pending.pop() {
        if let Norm::Sum(inner) = t {
            stats.sums_flattened += 1;
            pending.extend(inner.into_iter().rev());
            continue;
        }
        match diag_values(&t) {
            Some(v) => {
                diag_terms += 1;
                diag = Some(match diag {
                    None => v,
                    Some(d) => d.iter().zip(&v).map(|(a, b)| a + b).collect(),
                });
                if diag_terms == 1 {
                    flat.push(t); // placeholder keeps the term's position; replaced below if merged
                }
            }
            None => flat.push(t),
        }
    }
    if diag_terms > 1 {
        stats.diagonals_merged += diag_terms - 1;
        let pos = flat
            .iter()
            .position(|f| diag_values(f).is_some())
            .expect("placeholder present");
        flat[pos] = diag_leaf(diag.expect("diagonal terms seen"))?;
    }
    Ok(if flat.len() == 1 {
        flat.pop().expect("one term")
    } else {
        Norm::Sum(flat)
    })
}

impl Norm {
    /// `(rows, cols)`.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{Op, NormStats, plan::normalize::normalize};
    /// let a = Op::dense(2, 3, vec![1.0; 6]).unwrap();
    /// assert_eq!(normalize(&a.t(), &mut NormStats::default()).unwrap().shape(), (3, 2));
    /// ```
    pub fn shape(&self) -> (usize, usize) {
        match self {
            Norm::Leaf { op, transposed } => {
                let (r, c) = op.shape();
                if *transposed { (c, r) } else { (r, c) }
            }
            Norm::Scaled(_, n) => n.shape(),
            Norm::Product(f) => (f[0].shape().0, f[f.len() - 1].shape().1),
            Norm::Sum(t) => t[0].shape(),
        }
    }

    /// A one-line description in the syntax of [`Op::describe`].
    ///
    /// # Examples
    /// ```
    /// use linops_core::{Op, NormStats, plan::normalize::normalize};
    /// let a = Op::dense(2, 2, vec![1.0; 4]).unwrap();
    /// let n = normalize(&a.scaled(2.0).unwrap(), &mut NormStats::default()).unwrap();
    /// assert_eq!(n.describe(), "2·dense[2]");
    /// // a scaled identity folds into a diagonal
    /// let n = normalize(&Op::identity(2).unwrap().scaled(2.0).unwrap(), &mut NormStats::default()).unwrap();
    /// assert_eq!(n.describe(), "diagonal[2]");
    /// ```
    pub fn describe(&self) -> String {
        match self {
            Norm::Leaf { op, transposed } => {
                if *transposed {
                    format!("{}ᵀ", op.describe())
                } else {
                    op.describe()
                }
            }
            Norm::Scaled(s, n) => format!("{s}·{}", n.describe()),
            Norm::Product(f) => format!(
                "product({})",
                f.iter().map(Norm::describe).collect::<Vec<_>>().join(", ")
            ),
            Norm::Sum(t) => format!(
                "sum({})",
                t.iter().map(Norm::describe).collect::<Vec<_>>().join(", ")
            ),
        }
    }

    /// Emits steps computing `out = alpha·self·x + beta·out`.
    pub(crate) fn lower(
        &self,
        cx: &mut Lowering,
        x: BufId,
        out: BufId,
        alpha: f64,
        beta: f64,
    ) -> Result<()> {
        match self {
            Norm::Leaf { op, transposed } => op
                .as_leaf()
                .ok_or_else(|| {
                    Error::InvalidArgument("planner bug: non-leaf in leaf position".into())
                })?
                .lower(cx, *transposed, x, out, alpha, beta),
            Norm::Scaled(s, inner) => inner.lower(cx, x, out, alpha * s, beta),
            Norm::Product(factors) => {
                // Intermediates are this product's own temporaries, released after their one
                // reader; `x` belongs to the caller (a sum may still read it) and is never released.
                let batch = cx.shape_of(x).1;
                let mut cur = x;
                for f in factors[1..].iter().rev() {
                    let t = cx.temp(f.shape().0, batch);
                    f.lower(cx, cur, t, 1.0, 0.0)?;
                    if cur != x {
                        cx.release(cur);
                    }
                    cur = t;
                }
                factors[0].lower(cx, cur, out, alpha, beta)?;
                if cur != x {
                    cx.release(cur);
                }
                Ok(())
            }
            Norm::Sum(terms) => {
                terms[0].lower(cx, x, out, alpha, beta)?;
                for t in &terms[1..] {
                    t.lower(cx, x, out, alpha, 1.0)?;
                }
                Ok(())
            }
        }
    }
}
