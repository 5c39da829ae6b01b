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
//! - diagonal, identity and scaled-identity terms of a sum are merged into one diagonal term
//!   (identity terms alone into one scaled identity `c·I`, never an array of `n` entries);
//! - a merge whose result would leave the compute precision's range (overflow, or a product
//!   falling below the smallest normal number) is skipped and its operands stay apart
//!   ([`normalize_in`]);
//! - a leaf that is built from other operators ([`crate::LeafOp::rewrite`]: sparse sketches and
//!   samplers as a scaled CSR, butterflies as products of CSR factors, the Pixelated butterfly as
//!   a sum) is replaced by its rewrite, normalized by these same rules, so its parts take part in
//!   the rewrites of the product or sum it sits in (its scale merges with theirs, its factors are
//!   flattened into the enclosing product, a neighbouring permutation folds into its first or last
//!   factor);
//! - a permutation factor of a product is folded into a neighbouring dense or CSR factor (its
//!   rows or columns reordered once, cached) or composed with a neighbouring permutation
//!   ([`super::fold`]), so it costs no pass of its own.
//!
//! Rewriting leaves are expanded in a second pass ([`expand`]) over the normal form of the
//! operator as written, so that a cost model can first decide on each leaf whole (a butterfly is
//! materialized as one dense matrix, never factor by factor; see `Plan::with_model`); the pass
//! re-runs the product and sum rules only where an expansion changed something.

use super::Lowering;
use crate::{BufId, DType, Error, Link, Op, Result};

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
pub struct Rewrites {
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
    /// Permutation factors folded into a neighbouring dense or CSR factor or permutation
    /// (see [`super::fold`]).
    pub permutations_folded: usize,
    /// Leaves replaced by their [`crate::LeafOp::rewrite`] (see [`expand`]).
    pub leaves_rewritten: usize,
}

impl Rewrites {
    /// Whether normalization changed anything.
    ///
    /// # Examples
    /// ```
    /// assert!(!linops_core::Rewrites::default().any());
    /// ```
    pub fn any(&self) -> bool {
        *self != Rewrites::default()
    }
}

/// A normalized operator tree: transposes only at leaves, no nested products or sums.
///
/// # Examples
/// ```
/// use linops_core::{Op, Rewrites, plan::normalize::normalize};
/// let a = Op::dense(2, 3, vec![1.0; 6]).unwrap();
/// let n = normalize(&Op::product(vec![a.t(), a.clone()]).unwrap().t(), &mut Rewrites::default()).unwrap();
/// assert_eq!(n.describe(), "product(dense[2x3]ᵀ, dense[2x3])");
/// ```
#[derive(Debug, Clone)]
pub enum NormalForm {
    /// A leaf (its `Op` is a leaf variant), transposed or not.
    Leaf {
        /// The leaf.
        op: Op,
        /// Apply its transpose.
        transposed: bool,
    },
    /// `s·A` with `A` not itself scaled.
    Scaled(f64, Box<NormalForm>),
    /// `A₁·…·A_k`, `k ≥ 2`, no factor a product or scaled.
    Product(Vec<NormalForm>),
    /// `A₁ + … + A_k`, `k ≥ 2`, no term a sum.
    Sum(Vec<NormalForm>),
}

/// Normalizes `op` for `f64` computation, recording the rewrites in `stats` (see
/// [`normalize_in`]).
///
/// # Errors
/// As [`normalize_in`].
///
/// # Examples
/// ```
/// use linops_core::{Op, Rewrites, plan::normalize::normalize};
/// let i = Op::identity(2).unwrap();
/// let n = normalize(&Op::product(vec![i.clone(), i]).unwrap(), &mut Rewrites::default()).unwrap();
/// assert_eq!(n.describe(), "identity[2]");
/// ```
pub fn normalize(op: &Op, stats: &mut Rewrites) -> Result<NormalForm> {
    normalize_in(op, DType::F64, stats)
}

/// Normalizes `op` for computation in `dtype`, recording the rewrites in `stats`.
///
/// Merges are skipped, not forced, when their result would leave the range of `dtype`: a
/// product of diagonal entries (or a scalar folded into them) that overflows or falls below the
/// smallest normal number, or a sum that overflows, keeps its operands apart, so that applying
/// them one after the other computes what the operator means. Identity terms stay symbolic
/// (`c·I`): normalization allocates nothing proportional to the operator's size beyond the
/// diagonals it merges, which the operator already stores.
///
/// # Errors
/// Only when building a merged diagonal fails, which cannot happen for a validated `op` (kept as a
/// `Result` so that a future rewrite can report errors instead of panicking).
///
/// # Examples
/// ```
/// use linops_core::{DType, Op, Rewrites, plan::normalize::normalize_in};
/// let d = Op::diagonal(vec![1e20, 2.0]).unwrap();
/// let dd = Op::product(vec![d.clone(), d]).unwrap();
/// // In f64 the two diagonals merge; in f32 1e40 is out of range, so they stay apart.
/// let n64 = normalize_in(&dd, DType::F64, &mut Rewrites::default()).unwrap();
/// assert_eq!(n64.describe(), "diagonal[2]");
/// let n32 = normalize_in(&dd, DType::F32, &mut Rewrites::default()).unwrap();
/// assert_eq!(n32.describe(), "product(diagonal[2], diagonal[2])");
/// ```
pub fn normalize_in(op: &Op, dtype: DType, stats: &mut Rewrites) -> Result<NormalForm> {
    let leaves = normalize_leaves(op, dtype, stats)?;
    expand(leaves, dtype, stats)
}

/// Normalizes `op` for computation in `dtype` like [`normalize_in`], but keeps every leaf as it
/// is, also a leaf with a [`crate::LeafOp::rewrite`]: the form a cost model decides on, leaf by
/// leaf, before [`expand`] replaces the rewriting leaves it kept.
///
/// # Errors
/// As [`normalize_in`].
///
/// # Examples
/// ```
/// use linops_core::{DType, Op, Rewrites, plan::normalize::{expand, normalize_leaves}};
/// use linops_core::{op::SparseSign, rng::RngState};
/// let s = Op::leaf(SparseSign::new(4, 8, 2, RngState::new(1)).unwrap());
/// let mut stats = Rewrites::default();
/// let n = normalize_leaves(&s, DType::F64, &mut stats).unwrap();
/// assert!(n.describe().starts_with("sparse_sign"));
/// let n = expand(n, DType::F64, &mut stats).unwrap();
/// assert!(n.describe().contains("csr"));
/// assert_eq!(stats.leaves_rewritten, 1);
/// ```
pub fn normalize_leaves(op: &Op, dtype: DType, stats: &mut Rewrites) -> Result<NormalForm> {
    push(op, false, Range(dtype), stats)
}

/// Replaces every leaf of `n` that has a [`crate::LeafOp::rewrite`] by its rewrite (transposed
/// with the leaf), normalized for `dtype` and expanded in turn, and re-applies the product and sum
/// rules of [`normalize_in`] to every node whose operands changed (so the parts of a rewrite are
/// flattened into the enclosing product, scalars merge, and permutations fold into them). Nodes
/// without a rewriting leaf below them are kept as they are, so the pass counts in `stats` only
/// what the expansions made possible, plus one [`Rewrites::leaves_rewritten`] per leaf replaced.
///
/// # Errors
/// As [`normalize_in`].
///
/// # Examples
/// See [`normalize_leaves`].
pub fn expand(n: NormalForm, dtype: DType, stats: &mut Rewrites) -> Result<NormalForm> {
    Ok(expand_in(n, Range(dtype), stats, false)?.0)
}

/// [`expand`], re-applying the product and sum rules to every node, also where no leaf was
/// expanded: after a cost model replaced leaves by their dense forms, which may now fold with a
/// neighbouring permutation. On a normalized tree these rules find nothing more to do unless a
/// leaf changed (each rule runs to a fixed point), so nothing is counted twice.
pub(crate) fn expand_all_nodes(
    n: NormalForm,
    dtype: DType,
    stats: &mut Rewrites,
) -> Result<NormalForm> {
    Ok(expand_in(n, Range(dtype), stats, true)?.0)
}

/// [`expand`]; the flag says whether anything changed (or `force` asked to renormalize).
fn expand_in(
    n: NormalForm,
    r: Range,
    stats: &mut Rewrites,
    force: bool,
) -> Result<(NormalForm, bool)> {
    Ok(match n {
        NormalForm::Leaf {
            op: Op::Leaf(leaf),
            transposed,
        } => match leaf.rewrite() {
            Some(rewrite) => {
                stats.leaves_rewritten += 1;
                let parts = push(&rewrite, transposed, r, stats)?;
                (expand_in(parts, r, stats, false)?.0, true)
            }
            None => (
                NormalForm::Leaf {
                    op: Op::Leaf(leaf),
                    transposed,
                },
                false,
            ),
        },
        leaf @ NormalForm::Leaf { .. } => (leaf, false),
        NormalForm::Scaled(s, inner) => match expand_in(*inner, r, stats, force)? {
            (inner, true) => (scale(s, inner, r, stats)?, true),
            (inner, false) => (NormalForm::Scaled(s, Box::new(inner)), false),
        },
        NormalForm::Product(factors) => {
            expand_node(factors, r, stats, force, NormalForm::Product, product)?
        }
        NormalForm::Sum(terms) => expand_node(terms, r, stats, force, NormalForm::Sum, sum)?,
    })
}

/// The rules of a product or sum node.
type NodeRules = fn(Vec<NormalForm>, Range, &mut Rewrites) -> Result<NormalForm>;

/// [`expand_in`] over the operands of a product or sum; the node's `rules` run again when an
/// operand changed (or `force`), otherwise the node is rebuilt as it was (`keep`).
fn expand_node(
    parts: Vec<NormalForm>,
    r: Range,
    stats: &mut Rewrites,
    force: bool,
    keep: fn(Vec<NormalForm>) -> NormalForm,
    rules: NodeRules,
) -> Result<(NormalForm, bool)> {
    let mut changed = force;
    let mut out = Vec::with_capacity(parts.len());
    for p in parts {
        let (p, c) = expand_in(p, r, stats, force)?;
        changed |= c;
        out.push(p);
    }
    Ok(if changed {
        (rules(out, r, stats)?, true)
    } else {
        (keep(out), false)
    })
}

/// The range a merged value must stay in to replace its operands in `dtype`.
#[derive(Debug, Clone, Copy)]
struct Range(DType);

impl Range {
    /// Largest finite magnitude and smallest normal magnitude of the dtype.
    fn bounds(self) -> (f64, f64) {
        match self.0 {
            DType::F64 => (f64::MAX, f64::MIN_POSITIVE),
            DType::F32 => (f64::from(f32::MAX), f64::from(f32::MIN_POSITIVE)),
        }
    }

    /// Whether `v` rounds to a finite value of the dtype.
    fn finite(self, v: f64) -> bool {
        match self.0 {
            DType::F64 => v.is_finite(),
            DType::F32 => (v as f32).is_finite(),
        }
    }

    /// `a·b` when it may replace `a` and `b`: zero when an operand is zero, otherwise finite and
    /// normal in the dtype (an underflow would lose the relative accuracy that applying the two
    /// factors one after the other keeps).
    fn mul(self, a: f64, b: f64) -> Option<f64> {
        if a == 0.0 || b == 0.0 {
            return Some(0.0);
        }
        let p = a * b;
        (self.finite(p) && p.abs() >= self.bounds().1).then_some(p)
    }

    /// `a + b` when it is finite in the dtype (a sum's rounding is the one applying the terms
    /// separately makes when their results are added).
    fn add(self, a: f64, b: f64) -> Option<f64> {
        let s = a + b;
        self.finite(s).then_some(s)
    }
}

/// A diagonal operand: `c·I_n` (kept symbolic, no array of `n` entries) or `diag(v)`.
#[derive(Debug, Clone)]
enum Diag {
    Scalar(f64, usize),
    Values(Vec<f64>),
}

impl Diag {
    fn map(&self, f: impl Fn(f64) -> Option<f64>) -> Option<Diag> {
        Some(match self {
            Diag::Scalar(c, n) => Diag::Scalar(f(*c)?, *n),
            Diag::Values(v) => Diag::Values(v.iter().map(|&x| f(x)).collect::<Option<_>>()?),
        })
    }

    /// Entrywise combination with `other` (same dimension), `None` when any entry fails.
    fn zip(&self, other: &Diag, f: impl Fn(f64, f64) -> Option<f64>) -> Option<Diag> {
        match (self, other) {
            (Diag::Scalar(a, n), Diag::Scalar(b, _)) => Some(Diag::Scalar(f(*a, *b)?, *n)),
            (Diag::Scalar(a, _), Diag::Values(_)) => other.map(|x| f(*a, x)),
            (Diag::Values(_), Diag::Scalar(b, _)) => self.map(|x| f(x, *b)),
            (Diag::Values(a), Diag::Values(b)) => Some(Diag::Values(
                a.iter()
                    .zip(b)
                    .map(|(&x, &y)| f(x, y))
                    .collect::<Option<_>>()?,
            )),
        }
    }

    fn into_norm(self) -> Result<NormalForm> {
        Ok(match self {
            Diag::Scalar(c, n) => {
                let i = NormalForm::Leaf {
                    op: Op::identity(n)?,
                    transposed: false,
                };
                if c == 1.0 {
                    i
                } else {
                    NormalForm::Scaled(c, Box::new(i))
                }
            }
            Diag::Values(v) => NormalForm::Leaf {
                op: Op::diagonal(v)?,
                transposed: false,
            },
        })
    }
}

/// Whether `n` is a diagonal operand (without building its values).
fn is_diag(n: &NormalForm) -> bool {
    match n {
        NormalForm::Leaf {
            op: Op::Diagonal(_) | Op::Identity(_),
            ..
        } => true,
        NormalForm::Scaled(_, inner) => is_diag(inner),
        _ => false,
    }
}

/// The diagonal `n` stands for, when it is one and its scale stays in range.
fn as_diag(n: &NormalForm, r: Range) -> Option<Diag> {
    match n {
        NormalForm::Leaf {
            op: Op::Diagonal(d),
            ..
        } => Some(Diag::Values(d.values().to_vec())),
        NormalForm::Leaf {
            op: Op::Identity(i),
            ..
        } => Some(Diag::Scalar(1.0, i.dim())),
        NormalForm::Scaled(s, inner) => as_diag(inner, r)?.map(|x| r.mul(x, *s)),
        _ => None,
    }
}

fn is_composite(op: &Op) -> bool {
    matches!(
        op,
        Op::Scaled(_) | Op::Transpose(_) | Op::Product(_) | Op::Sum(_)
    )
}

fn push(op: &Op, t: bool, r: Range, stats: &mut Rewrites) -> Result<NormalForm> {
    match op {
        Op::Transpose(inner) => {
            if is_composite(inner.inner()) {
                stats.transposes_pushed += 1;
            }
            push(inner.inner(), !t, r, stats)
        }
        Op::Scaled(s) => scale(s.factor(), push(s.inner(), t, r, stats)?, r, stats),
        Op::Product(p) => {
            let mut factors = Vec::with_capacity(p.factors().len());
            let order: Vec<&Op> = if t {
                p.factors().iter().rev().collect()
            } else {
                p.factors().iter().collect()
            };
            for f in order {
                factors.push(push(f, t, r, stats)?);
            }
            product(factors, r, stats)
        }
        Op::Sum(s) => {
            let mut terms = Vec::with_capacity(s.terms().len());
            for term in s.terms() {
                terms.push(push(term, t, r, stats)?);
            }
            sum(terms, r, stats)
        }
        leaf => {
            let symmetric = leaf.as_leaf().is_some_and(|l| l.is_symmetric());
            Ok(NormalForm::Leaf {
                op: leaf.clone(),
                transposed: t && !symmetric,
            })
        }
    }
}

fn scale(s: f64, n: NormalForm, r: Range, stats: &mut Rewrites) -> Result<NormalForm> {
    match n {
        NormalForm::Scaled(s2, inner) => {
            // Scale factors multiply in f64; a product outside the compute range is reported by
            // the plan's range check, not here.
            stats.scalars_merged += 1;
            scale(s * s2, *inner, r, stats)
        }
        n if is_diag(&n) => match as_diag(&n, r).and_then(|d| d.map(|x| r.mul(x, s))) {
            Some(d) => {
                stats.scalars_merged += 1;
                d.into_norm()
            }
            None => Ok(NormalForm::Scaled(s, Box::new(n))),
        },
        NormalForm::Product(mut factors) => {
            for pos in 0..factors.len() {
                if !is_diag(&factors[pos]) {
                    continue;
                }
                if let Some(d) = as_diag(&factors[pos], r).and_then(|d| d.map(|x| r.mul(x, s))) {
                    stats.scalars_merged += 1;
                    factors[pos] = d.into_norm()?;
                    return Ok(NormalForm::Product(factors));
                }
            }
            Ok(NormalForm::Scaled(
                s,
                Box::new(NormalForm::Product(factors)),
            ))
        }
        n => Ok(NormalForm::Scaled(s, Box::new(n))),
    }
}

fn product(factors: Vec<NormalForm>, r: Range, stats: &mut Rewrites) -> Result<NormalForm> {
    let n_rows = factors[0].shape().0;
    let mut s = 1.0;
    let mut flat: Vec<NormalForm> = Vec::new();
    let mut pending = factors;
    pending.reverse();
    while let Some(f) = pending.pop() {
        match f {
            NormalForm::Scaled(k, inner) => {
                stats.scalars_merged += 1;
                s *= k;
                pending.push(*inner);
            }
            NormalForm::Product(inner) => {
                stats.products_flattened += 1;
                pending.extend(inner.into_iter().rev());
            }
            NormalForm::Leaf {
                op: Op::Identity(_),
                ..
            } => stats.identities_dropped += 1,
            f => {
                let merged = match flat.last() {
                    Some(last) if is_diag(last) && is_diag(&f) => {
                        match (as_diag(last, r), as_diag(&f, r)) {
                            (Some(a), Some(b)) => a.zip(&b, |x, y| r.mul(x, y)),
                            _ => None,
                        }
                    }
                    _ => None,
                };
                match merged {
                    Some(d) => {
                        stats.diagonals_merged += 1;
                        flat.pop();
                        flat.push(d.into_norm()?);
                    }
                    None => flat.push(f),
                }
            }
        }
    }
    stats.permutations_folded += super::fold::fold_permutations(&mut flat)?;
    // Fold the scalar into a diagonal factor when one takes it within range.
    if s != 1.0 {
        for f in flat.iter_mut() {
            if !is_diag(f) {
                continue;
            }
            if let Some(d) = as_diag(f, r).and_then(|d| d.map(|x| r.mul(x, s))) {
                stats.scalars_merged += 1;
                *f = d.into_norm()?;
                s = 1.0;
                break;
            }
        }
    }
    let body = match flat.len() {
        0 => NormalForm::Leaf {
            op: Op::identity(n_rows)?,
            transposed: false,
        },
        1 => flat.pop().expect("one factor"),
        _ => NormalForm::Product(flat),
    };
    Ok(if s == 1.0 {
        body
    } else {
        scale(s, body, r, stats)?
    })
}

fn sum(terms: Vec<NormalForm>, r: Range, stats: &mut Rewrites) -> Result<NormalForm> {
    let mut flat: Vec<NormalForm> = Vec::new();
    // The running merge of the diagonal terms: its position in `flat`, value and term count.
    let mut acc: Option<(usize, Diag, usize)> = None;
    let mut pending = terms;
    pending.reverse();
    while let Some(t) = pending.pop() {
        if let NormalForm::Sum(inner) = t {
            stats.sums_flattened += 1;
            pending.extend(inner.into_iter().rev());
            continue;
        }
        let d = if is_diag(&t) { as_diag(&t, r) } else { None };
        match (d, acc.take()) {
            (Some(d), None) => {
                flat.push(t); // keeps the term's position; replaced below if others merge in
                acc = Some((flat.len() - 1, d, 1));
            }
            (Some(d), Some((pos, a, count))) => match a.zip(&d, |x, y| r.add(x, y)) {
                Some(m) => acc = Some((pos, m, count + 1)),
                None => {
                    acc = Some((pos, a, count));
                    flat.push(t);
                }
            },
            (None, keep) => {
                acc = keep;
                flat.push(t);
            }
        }
    }
    if let Some((pos, d, count)) = acc
        && count > 1
    {
        stats.diagonals_merged += count - 1;
        flat[pos] = d.into_norm()?;
    }
    Ok(if flat.len() == 1 {
        flat.pop().expect("one term")
    } else {
        NormalForm::Sum(flat)
    })
}

/// The descriptions of `parts`, comma-separated.
fn list(parts: &[NormalForm]) -> String {
    parts
        .iter()
        .map(NormalForm::describe)
        .collect::<Vec<_>>()
        .join(", ")
}

impl NormalForm {
    /// `(rows, cols)`.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{Op, Rewrites, plan::normalize::normalize};
    /// let a = Op::dense(2, 3, vec![1.0; 6]).unwrap();
    /// assert_eq!(normalize(&a.t(), &mut Rewrites::default()).unwrap().shape(), (3, 2));
    /// ```
    pub fn shape(&self) -> (usize, usize) {
        match self {
            NormalForm::Leaf { op, transposed } => {
                let (r, c) = op.shape();
                if *transposed { (c, r) } else { (r, c) }
            }
            NormalForm::Scaled(_, n) => n.shape(),
            NormalForm::Product(f) => (f[0].shape().0, f[f.len() - 1].shape().1),
            NormalForm::Sum(t) => t[0].shape(),
        }
    }

    /// A one-line description in the syntax of [`Op::describe`].
    ///
    /// # Examples
    /// ```
    /// use linops_core::{Op, Rewrites, plan::normalize::normalize};
    /// let a = Op::dense(2, 2, vec![1.0; 4]).unwrap();
    /// let n = normalize(&a.scaled(2.0).unwrap(), &mut Rewrites::default()).unwrap();
    /// assert_eq!(n.describe(), "2·dense[2]");
    /// // a scaled identity stays symbolic (no array of n ones)
    /// let n = normalize(&Op::identity(2).unwrap().scaled(2.0).unwrap(), &mut Rewrites::default()).unwrap();
    /// assert_eq!(n.describe(), "2·identity[2]");
    /// ```
    pub fn describe(&self) -> String {
        match self {
            NormalForm::Leaf { op, transposed } => {
                if *transposed {
                    format!("{}ᵀ", op.describe())
                } else {
                    op.describe()
                }
            }
            NormalForm::Scaled(s, n) => format!("{s}·{}", n.describe()),
            NormalForm::Product(f) => format!("product({})", list(f)),
            NormalForm::Sum(t) => format!("sum({})", list(t)),
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
            NormalForm::Leaf { op, transposed } => op
                .as_leaf()
                .ok_or_else(|| {
                    Error::InvalidArgument("planner bug: non-leaf in leaf position".into())
                })?
                .lower(cx, *transposed, x, out, alpha, beta),
            NormalForm::Scaled(s, inner) => inner.lower(cx, x, out, alpha * s, beta),
            NormalForm::Product(factors) => {
                // Intermediates are this product's own temporaries, released after their one
                // reader; `x` belongs to the caller (a sum may still read it) and is never released.
                let links = factors
                    .iter()
                    .rev()
                    .map(|f| {
                        Link::new(f.shape().0, move |cx: &mut Lowering, i, o, a, b| {
                            f.lower(cx, i, o, a, b)
                        })
                    })
                    .collect();
                cx.chain(x, out, alpha, beta, links)
            }
            NormalForm::Sum(terms) => {
                terms[0].lower(cx, x, out, alpha, beta)?;
                for t in &terms[1..] {
                    t.lower(cx, x, out, alpha, 1.0)?;
                }
                Ok(())
            }
        }
    }
}
