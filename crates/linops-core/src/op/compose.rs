//! Composition nodes: scaling, transpose, product and sum.
//!
//! They store no parameters of their own (a scale stores one real). The planner rewrites trees of
//! them (see `plan::normalize`) before lowering, so their cost is the cost of their leaves.

use super::Op;
use crate::{Error, Result};
use std::sync::Arc;

/// `s·A`.
///
/// # Examples
/// ```
/// use linops_core::{Op, op::Scaled};
/// let s = Scaled::new(2.0, Op::identity(2).unwrap()).unwrap();
/// assert_eq!(s.factor(), 2.0);
/// ```
#[derive(Debug, Clone)]
pub struct Scaled {
    factor: f64,
    inner: Arc<Op>,
}

impl Scaled {
    /// `s·inner`.
    ///
    /// # Errors
    /// [`Error::NonFinite`] when `s` is NaN or infinite.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{Op, op::Scaled};
    /// assert!(Scaled::new(f64::INFINITY, Op::identity(2).unwrap()).is_err());
    /// ```
    pub fn new(factor: f64, inner: Op) -> Result<Self> {
        if !factor.is_finite() {
            return Err(Error::NonFinite {
                context: "scale factor".into(),
                row: 0,
                col: 0,
                value: factor,
            });
        }
        Ok(Self {
            factor,
            inner: Arc::new(inner),
        })
    }
    /// The scale factor s.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{Op, op::Scaled};
    /// assert_eq!(Scaled::new(-1.0, Op::identity(1).unwrap()).unwrap().factor(), -1.0);
    /// ```
    pub fn factor(&self) -> f64 {
        self.factor
    }
    /// The scaled operator A.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{Op, op::Scaled};
    /// assert_eq!(Scaled::new(2.0, Op::identity(3).unwrap()).unwrap().inner().shape(), (3, 3));
    /// ```
    pub fn inner(&self) -> &Op {
        &self.inner
    }
}

/// `Aᵀ`.
///
/// # Examples
/// ```
/// use linops_core::{Op, op::Transpose};
/// let t = Transpose::new(Op::dense(2, 3, vec![0.0; 6]).unwrap());
/// assert_eq!(t.inner().shape(), (2, 3));
/// ```
#[derive(Debug, Clone)]
pub struct Transpose {
    inner: Arc<Op>,
}

impl Transpose {
    /// `innerᵀ`.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{Op, op::Transpose};
    /// assert_eq!(Op::Transpose(Transpose::new(Op::identity(2).unwrap())).shape(), (2, 2));
    /// ```
    pub fn new(inner: Op) -> Self {
        Self {
            inner: Arc::new(inner),
        }
    }
    /// The transposed operator A.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{Op, op::Transpose};
    /// assert_eq!(Transpose::new(Op::identity(2).unwrap()).inner().shape(), (2, 2));
    /// ```
    pub fn inner(&self) -> &Op {
        &self.inner
    }
}

/// `A₁·A₂·…·A_k`.
///
/// # Examples
/// ```
/// use linops_core::{Op, op::Product};
/// let p = Product::new(vec![Op::identity(2).unwrap(), Op::identity(2).unwrap()]).unwrap();
/// assert_eq!(p.factors().len(), 2);
/// ```
#[derive(Debug, Clone)]
pub struct Product {
    factors: Arc<[Op]>,
}

impl Product {
    /// The product of `factors`, the last applied first.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for no factors, [`Error::ShapeMismatch`] when `cols(A_i) !=
    /// rows(A_{i+1})`.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{Op, op::Product};
    /// assert!(Product::new(vec![Op::identity(2).unwrap(), Op::identity(3).unwrap()]).is_err());
    /// ```
    pub fn new(factors: Vec<Op>) -> Result<Self> {
        if factors.is_empty() {
            return Err(Error::InvalidArgument(
                "a product needs at least one factor".into(),
            ));
        }
        for (i, w) in factors.windows(2).enumerate() {
            let (l, r) = (w[0].shape(), w[1].shape());
            if l.1 != r.0 {
                return Err(Error::ShapeMismatch {
                    context: format!("product factor {} · factor {}", i, i + 1),
                    expected: format!("factor {} with {} rows", i + 1, l.1),
                    found: format!("{}x{} · {}x{}", l.0, l.1, r.0, r.1),
                });
            }
        }
        Ok(Self {
            factors: factors.into(),
        })
    }
    /// The factors, leftmost first.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{Op, op::Product};
    /// let p = Product::new(vec![Op::dense(1, 2, vec![1.0, 1.0]).unwrap()]).unwrap();
    /// assert_eq!(p.factors()[0].shape(), (1, 2));
    /// ```
    pub fn factors(&self) -> &[Op] {
        &self.factors
    }
}

/// `A₁ + A₂ + … + A_k`.
///
/// # Examples
/// ```
/// use linops_core::{Op, op::Sum};
/// let s = Sum::new(vec![Op::identity(2).unwrap(), Op::identity(2).unwrap()]).unwrap();
/// assert_eq!(s.terms().len(), 2);
/// ```
#[derive(Debug, Clone)]
pub struct Sum {
    terms: Arc<[Op]>,
}

impl Sum {
    /// The sum of `terms`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for no terms, [`Error::ShapeMismatch`] when shapes differ.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{Op, op::Sum};
    /// assert!(Sum::new(vec![Op::identity(2).unwrap(), Op::identity(3).unwrap()]).is_err());
    /// ```
    pub fn new(terms: Vec<Op>) -> Result<Self> {
        if terms.is_empty() {
            return Err(Error::InvalidArgument(
                "a sum needs at least one term".into(),
            ));
        }
        let s0 = terms[0].shape();
        for (i, t) in terms.iter().enumerate().skip(1) {
            if t.shape() != s0 {
                return Err(Error::ShapeMismatch {
                    context: format!("sum term {i}"),
                    expected: format!("{}x{}", s0.0, s0.1),
                    found: format!("{}x{}", t.shape().0, t.shape().1),
                });
            }
        }
        Ok(Self {
            terms: terms.into(),
        })
    }
    /// The terms.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{Op, op::Sum};
    /// assert_eq!(Sum::new(vec![Op::identity(4).unwrap()]).unwrap().terms()[0].shape(), (4, 4));
    /// ```
    pub fn terms(&self) -> &[Op] {
        &self.terms
    }
}
