//! The operator IR: a linear map described as a value.
//!
//! An [`Op`] is a tree. Leaves are matrices with structure ([`Dense`], [`Identity`], [`Diagonal`],
//! and the structured families and sketches that later plug in as new leaves); inner nodes combine
//! them ([`Scaled`] `s·A`, [`Transpose`] `Aᵀ`, [`Product`] `A₁·A₂·…·A_k`, [`Sum`] `A₁ + … + A_k`).
//! Every constructor validates shapes and parameters, so an `Op` that exists is well formed; cloning
//! is cheap (parameters are shared behind `Arc`).
//!
//! A leaf is any type implementing [`LeafOp`]: its shape, its dense form (for tests), its parameter
//! count and how it lowers into plan steps. Adding a structured family means one new leaf type and
//! one new variant; the composition nodes and the other leaves are untouched.

mod batched;
mod block_diagonal;
mod butterfly;
mod compose;
mod csr;
mod dct;
mod dense;
mod diagonal;
mod families;
mod hadamard;
mod householder;
mod identity;
mod kronecker;
mod low_rank;
mod monarch;
mod permutation;
mod row_sampler;
mod sketch_dense;
mod sketch_sparse;
mod srht;

pub use batched::Batched;
pub use block_diagonal::BlockDiagonal;
pub use butterfly::{BlockButterfly, Butterfly, FlatBlockButterfly, PixelatedButterfly};
pub use compose::{Product, Scaled, Sum, Transpose};
pub use csr::Csr;
pub use dct::Dct;
pub use dense::Dense;
pub use diagonal::Diagonal;
pub use hadamard::{HADAMARD_BASE_ORDERS, Hadamard, hadamard_base};
pub use householder::Householder;
pub use identity::Identity;
pub use kronecker::Kronecker;
pub use low_rank::{DiagPlusLowRank, LowRank};
pub use monarch::{Monarch, best_rank1};
pub use permutation::Permutation;
pub use row_sampler::RowSampler;
pub use sketch_dense::DenseSketch;
pub use sketch_sparse::{SparseSign, VerySparseProjection};
pub use srht::Srht;

use crate::{BufId, Error, HostMat, Result};

/// The lowering context of operator leaves: a [`crate::Lowerer`] whose sub-operators are
/// [`Op`]s (see [`crate::Lowerer::lower_sub`]).
pub type Lowering = crate::lower::Lowerer<Op>;
use std::fmt::Debug;
use std::sync::Arc;

/// A linear operator leaf: a matrix the planner knows how to apply without further decomposition.
///
/// # Examples
/// ```
/// use linops_core::{LeafOp, op::Diagonal};
/// let d = Diagonal::new(vec![1.0, 2.0]).unwrap();
/// assert_eq!(d.shape(), (2, 2));
/// assert_eq!(d.param_count(), 2);
/// ```
pub trait LeafOp: Debug + Send + Sync + AsAny {
    /// Short name used by `explain()` and error messages (`"dense"`, `"diagonal"`, ...).
    fn name(&self) -> &'static str;
    /// `(rows, cols)` of the operator.
    fn shape(&self) -> (usize, usize);
    /// The operator as a dense `f64` matrix (for tests and for the materialize path).
    fn to_dense(&self) -> HostMat;
    /// Number of stored parameters (reals).
    fn param_count(&self) -> usize;
    /// Whether the operator equals its transpose (the planner then drops transposes of it).
    fn is_symmetric(&self) -> bool {
        false
    }
    /// Whether a cost model may replace the leaf by its dense form when a GEMM is estimated to be
    /// cheaper ([`crate::plan::cost`]); false for operators that must never be stored (sketches
    /// generated on the fly).
    fn materializable(&self) -> bool {
        true
    }
    /// The leaf as an operator built from other operators, when it is one: a scaled
    /// [`Csr`] (sparse sketches, samplers), a product of `Csr` factors (butterflies), a sum
    /// (pixelated butterflies). The default [`LeafOp::lower`] lowers the rewrite through the
    /// planner's own normalization and lowering, so such a leaf needs no lowering of its own.
    /// `None` by default.
    fn rewrite(&self) -> Option<Op> {
        None
    }
    /// Emits plan steps computing `out = alpha·op(self)·x + beta·out`, where `op` is the transpose
    /// when `transposed` is set. The default lowers [`LeafOp::rewrite`] (transposed when asked).
    ///
    /// # Errors
    /// Whatever the lowering context reports (it does not fail for valid shapes);
    /// [`Error::InvalidArgument`] for a leaf with neither its own lowering nor a rewrite.
    fn lower(
        &self,
        cx: &mut Lowering,
        transposed: bool,
        x: BufId,
        out: BufId,
        alpha: f64,
        beta: f64,
    ) -> Result<()> {
        let op = self.rewrite().ok_or_else(|| {
            Error::InvalidArgument(format!(
                "leaf {} has neither a lowering nor a rewrite",
                self.name()
            ))
        })?;
        let op = if transposed { op.t() } else { op };
        cx.lower_sub(&op, x, out, alpha, beta)
    }
}

/// Any `'static` value as `&dyn Any` (implemented for every such type), so that every leaf can
/// be recognized the same one way: [`Op::leaf_as`].
///
/// # Examples
/// ```
/// use linops_core::op::{AsAny, Diagonal};
/// let d = Diagonal::new(vec![1.0]).unwrap();
/// assert!(d.as_any().downcast_ref::<Diagonal>().is_some());
/// ```
pub trait AsAny {
    /// `self` as `&dyn Any`.
    fn as_any(&self) -> &dyn std::any::Any;
}

impl<T: std::any::Any> AsAny for T {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// A linear operator: a tree of structured leaves and compositions.
///
/// # Examples
/// ```
/// use linops_core::Op;
/// let a = Op::dense(2, 3, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
/// let d = Op::diagonal(vec![1.0, -1.0]).unwrap();
/// let op = Op::product(vec![d, a.clone()]).unwrap().scaled(2.0).unwrap();
/// assert_eq!(op.shape(), (2, 3));
/// assert_eq!(op.t().shape(), (3, 2));
/// assert!(Op::product(vec![a.clone(), a]).is_err()); // 2x3 · 2x3
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Op {
    /// A dense matrix.
    Dense(Dense),
    /// The identity.
    Identity(Identity),
    /// A diagonal matrix.
    Diagonal(Diagonal),
    /// `s·A`.
    Scaled(Scaled),
    /// `Aᵀ`.
    Transpose(Transpose),
    /// `A₁·A₂·…·A_k` (applied right to left).
    Product(Product),
    /// `A₁ + A₂ + … + A_k`.
    Sum(Sum),
    /// Any other leaf: structured families and sketches plug in here as [`LeafOp`] implementations
    /// without touching the other variants or the planner.
    Leaf(Arc<dyn LeafOp>),
}

impl Op {
    /// The leaf of type `T`, when `self` is an [`Op::Leaf`] holding one: the one way the planner
    /// recognizes a concrete leaf (the permutation folding of [`crate::plan::fold`]).
    ///
    /// # Examples
    /// ```
    /// use linops_core::{Op, op::Permutation};
    /// let p = Op::leaf(Permutation::new(vec![1, 0]).unwrap());
    /// assert!(p.leaf_as::<Permutation>().is_some());
    /// assert!(Op::identity(2).unwrap().leaf_as::<Permutation>().is_none());
    /// ```
    pub fn leaf_as<T: LeafOp + 'static>(&self) -> Option<&T> {
        match self {
            Op::Leaf(l) => <dyn LeafOp as AsAny>::as_any(l.as_ref()).downcast_ref::<T>(),
            _ => None,
        }
    }

    /// A dense `rows×cols` operator from column-major data.
    ///
    /// # Errors
    /// [`Error::EmptyDimension`] for a zero dimension, [`Error::ShapeMismatch`] when the data length
    /// is not `rows*cols`, [`Error::NonFinite`] for NaN/Inf entries.
    ///
    /// # Examples
    /// ```
    /// let a = linops_core::Op::dense(2, 1, vec![1.0, 2.0]).unwrap();
    /// assert_eq!(a.shape(), (2, 1));
    /// ```
    pub fn dense(rows: usize, cols: usize, data: Vec<f64>) -> Result<Op> {
        Ok(Op::Dense(Dense::new(HostMat::new(rows, cols, data)?)?))
    }

    /// A dense operator from a [`HostMat`].
    ///
    /// # Errors
    /// As [`Op::dense`].
    ///
    /// # Examples
    /// ```
    /// let m = linops_core::HostMat::from_fn(3, 3, |i, j| (i * j) as f64);
    /// assert_eq!(linops_core::Op::from_host(m).unwrap().shape(), (3, 3));
    /// ```
    pub fn from_host(m: HostMat) -> Result<Op> {
        Ok(Op::Dense(Dense::new(m)?))
    }

    /// The `n×n` identity.
    ///
    /// # Errors
    /// [`Error::EmptyDimension`] when `n == 0`.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(linops_core::Op::identity(4).unwrap().shape(), (4, 4));
    /// ```
    pub fn identity(n: usize) -> Result<Op> {
        Ok(Op::Identity(Identity::new(n)?))
    }

    /// The diagonal matrix `diag(d)`.
    ///
    /// # Errors
    /// [`Error::EmptyDimension`] for an empty `d`, [`Error::NonFinite`] for NaN/Inf entries.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(linops_core::Op::diagonal(vec![1.0, 2.0]).unwrap().shape(), (2, 2));
    /// ```
    pub fn diagonal(d: Vec<f64>) -> Result<Op> {
        Ok(Op::Diagonal(Diagonal::new(d)?))
    }

    /// `s·self`.
    ///
    /// # Errors
    /// [`Error::NonFinite`] when `s` is NaN or infinite.
    ///
    /// # Examples
    /// ```
    /// let a = linops_core::Op::identity(2).unwrap().scaled(3.0).unwrap();
    /// assert_eq!(a.to_dense().get(1, 1), 3.0);
    /// ```
    pub fn scaled(self, s: f64) -> Result<Op> {
        Ok(Op::Scaled(Scaled::new(s, self)?))
    }

    /// The transpose `selfᵀ` (never fails: every operator has one).
    ///
    /// # Examples
    /// ```
    /// let a = linops_core::Op::dense(2, 3, vec![0.0; 6]).unwrap();
    /// assert_eq!(a.t().shape(), (3, 2));
    /// ```
    pub fn t(&self) -> Op {
        Op::Transpose(Transpose::new(self.clone()))
    }

    /// The product `ops[0]·ops[1]·…` (the last factor is applied first).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for an empty list, [`Error::ShapeMismatch`] when the columns of a
    /// factor differ from the rows of the next.
    ///
    /// # Examples
    /// ```
    /// use linops_core::Op;
    /// let a = Op::dense(2, 3, vec![1.0; 6]).unwrap();
    /// let b = Op::dense(3, 4, vec![1.0; 12]).unwrap();
    /// assert_eq!(Op::product(vec![a, b]).unwrap().shape(), (2, 4));
    /// ```
    pub fn product(ops: Vec<Op>) -> Result<Op> {
        Ok(Op::Product(Product::new(ops)?))
    }

    /// The sum `ops[0] + ops[1] + …`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for an empty list, [`Error::ShapeMismatch`] when shapes differ.
    ///
    /// # Examples
    /// ```
    /// use linops_core::Op;
    /// let s = Op::sum(vec![Op::identity(3).unwrap(), Op::diagonal(vec![1.0; 3]).unwrap()]).unwrap();
    /// assert_eq!(s.to_dense().get(0, 0), 2.0);
    /// ```
    pub fn sum(ops: Vec<Op>) -> Result<Op> {
        Ok(Op::Sum(Sum::new(ops)?))
    }

    /// Wraps a leaf implementation (a structured family or a sketch) as an operator.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{Op, op::Diagonal};
    /// let op = Op::leaf(Diagonal::new(vec![1.0, 2.0]).unwrap());
    /// assert_eq!(op.shape(), (2, 2));
    /// ```
    pub fn leaf(l: impl LeafOp + 'static) -> Op {
        Op::Leaf(Arc::new(l))
    }

    /// The leaf behind this node, if it is one.
    ///
    /// # Examples
    /// ```
    /// assert!(linops_core::Op::identity(2).unwrap().as_leaf().is_some());
    /// ```
    pub fn as_leaf(&self) -> Option<&dyn LeafOp> {
        match self {
            Op::Dense(d) => Some(d),
            Op::Identity(d) => Some(d),
            Op::Diagonal(d) => Some(d),
            Op::Leaf(l) => Some(l.as_ref()),
            Op::Scaled(_) | Op::Transpose(_) | Op::Product(_) | Op::Sum(_) => None,
        }
    }

    /// `(rows, cols)`.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(linops_core::Op::dense(1, 2, vec![0.0, 0.0]).unwrap().shape(), (1, 2));
    /// ```
    pub fn shape(&self) -> (usize, usize) {
        match self {
            Op::Scaled(s) => s.inner().shape(),
            Op::Transpose(t) => {
                let (r, c) = t.inner().shape();
                (c, r)
            }
            Op::Product(p) => {
                let f = p.factors();
                (f[0].shape().0, f[f.len() - 1].shape().1)
            }
            Op::Sum(s) => s.terms()[0].shape(),
            leaf => leaf
                .as_leaf()
                .expect("every other variant is a leaf")
                .shape(),
        }
    }

    /// The operator as a dense `f64` matrix, computed from its definition (for tests).
    ///
    /// # Examples
    /// ```
    /// use linops_core::Op;
    /// let d = Op::diagonal(vec![2.0, 3.0]).unwrap();
    /// let m = Op::product(vec![d.clone(), d]).unwrap().to_dense();
    /// assert_eq!(m.get(1, 1), 9.0);
    /// ```
    pub fn to_dense(&self) -> HostMat {
        match self {
            Op::Scaled(s) => {
                let m = s.inner().to_dense();
                let (r, c) = (m.rows(), m.cols());
                HostMat::new(
                    r,
                    c,
                    m.into_data().into_iter().map(|v| v * s.factor()).collect(),
                )
                .expect("same length")
            }
            Op::Transpose(t) => t.inner().to_dense().transpose(),
            Op::Product(p) => {
                let f = p.factors();
                let mut acc = f[f.len() - 1].to_dense();
                for op in f[..f.len() - 1].iter().rev() {
                    acc = op
                        .to_dense()
                        .matmul(&acc)
                        .expect("shapes validated at construction");
                }
                acc
            }
            Op::Sum(s) => {
                let t = s.terms();
                let mut acc = t[0].to_dense().into_data();
                for op in &t[1..] {
                    for (a, b) in acc.iter_mut().zip(op.to_dense().data()) {
                        *a += b;
                    }
                }
                let (r, c) = self.shape();
                HostMat::new(r, c, acc).expect("same length")
            }
            leaf => leaf.as_leaf().expect("leaf").to_dense(),
        }
    }

    /// Number of stored reals over all leaves (shared leaves counted once per use).
    ///
    /// # Examples
    /// ```
    /// assert_eq!(linops_core::Op::dense(2, 3, vec![0.0; 6]).unwrap().t().param_count(), 6);
    /// ```
    pub fn param_count(&self) -> usize {
        match self {
            Op::Scaled(s) => 1 + s.inner().param_count(),
            Op::Transpose(t) => t.inner().param_count(),
            Op::Product(p) => p.factors().iter().map(Op::param_count).sum(),
            Op::Sum(s) => s.terms().iter().map(Op::param_count).sum(),
            leaf => leaf.as_leaf().expect("leaf").param_count(),
        }
    }

    /// A one-line description of the tree, e.g. `product(diagonal[3], dense[3x4]ᵀ)`.
    ///
    /// # Examples
    /// ```
    /// let a = linops_core::Op::dense(2, 3, vec![0.0; 6]).unwrap();
    /// assert_eq!(a.t().describe(), "dense[2x3]ᵀ");
    /// ```
    pub fn describe(&self) -> String {
        match self {
            Op::Scaled(s) => format!("{}·{}", s.factor(), s.inner().describe()),
            Op::Transpose(t) => match t.inner() {
                inner @ (Op::Product(_) | Op::Sum(_) | Op::Scaled(_)) => {
                    format!("({})ᵀ", inner.describe())
                }
                inner => format!("{}ᵀ", inner.describe()),
            },
            Op::Product(p) => format!(
                "product({})",
                p.factors()
                    .iter()
                    .map(Op::describe)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Op::Sum(s) => format!(
                "sum({})",
                s.terms()
                    .iter()
                    .map(Op::describe)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            leaf => {
                let l = leaf.as_leaf().expect("leaf");
                let (r, c) = l.shape();
                if r == c {
                    format!("{}[{r}]", l.name())
                } else {
                    format!("{}[{r}x{c}]", l.name())
                }
            }
        }
    }
}

/// The most entries an operator builds from its sizes alone, with no caller data behind them (a
/// transform's table, a shuffle's index array, a block of a generated sketch): 2³² (32 GiB of
/// `f64`). A larger request is an [`Error::DeviceLimit`] before anything is allocated; a smaller
/// one that the allocator refuses is an [`Error::Backend`], never an abort.
///
/// # Examples
/// ```
/// use linops_core::{Error, op::{Dct, MAX_GENERATED_ENTRIES}};
/// assert_eq!(MAX_GENERATED_ENTRIES, 1 << 32);
/// assert!(matches!(Dct::new(1 << 40), Err(Error::DeviceLimit { .. })));
/// ```
pub const MAX_GENERATED_ENTRIES: usize = 1 << 32;

/// Checks `entries` (`None`: the size computation overflowed) against
/// [`MAX_GENERATED_ENTRIES`].
pub(crate) fn check_generated(context: &str, entries: Option<usize>) -> Result<usize> {
    match entries {
        Some(e) if e <= MAX_GENERATED_ENTRIES => Ok(e),
        _ => Err(Error::DeviceLimit {
            what: format!("{context} (entries built from its sizes)"),
            requested: entries.map_or(u64::MAX, |e| e as u64),
            limit_name: "linops_core::op::MAX_GENERATED_ENTRIES".into(),
            limit: MAX_GENERATED_ENTRIES as u64,
        }),
    }
}

/// A vector of `len` copies of `fill`, allocated fallibly: a request the allocator refuses is an
/// [`Error::Backend`] naming `context` and the size, not an abort of the process.
pub(crate) fn try_filled<T: Clone>(context: &str, len: usize, fill: T) -> Result<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(len).map_err(|e| {
        Error::Backend(format!(
            "{context}: host allocation of {len} entries ({} bytes) failed: {e}",
            len.saturating_mul(std::mem::size_of::<T>())
        ))
    })?;
    v.resize(len, fill);
    Ok(v)
}

pub(crate) fn require_nonempty(context: &str, rows: usize, cols: usize) -> Result<()> {
    if rows == 0 || cols == 0 {
        return Err(Error::EmptyDimension {
            context: context.into(),
            rows,
            cols,
        });
    }
    Ok(())
}
