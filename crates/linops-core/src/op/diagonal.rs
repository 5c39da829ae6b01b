//! Diagonal leaf.
//!
//! Storage: the `n` diagonal entries (`f64` on the host). Cost of `alpha·D·X + beta·Y` with `X` of
//! `b` columns: `3·n·b` FLOPs, one pass over `X`. The planner merges adjacent diagonals of a
//! product into one and folds scalars into them.

use super::{LeafOp, require_nonempty};
use crate::lower::{Param, kernel};
use crate::op::Lowering;
use crate::{BufId, HostMat, Result, check_finite};

/// `diag(d)`.
///
/// # Examples
/// ```
/// use linops_core::{LeafOp, op::Diagonal};
/// let d = Diagonal::new(vec![1.0, 2.0]).unwrap();
/// assert_eq!(d.to_dense().get(1, 1), 2.0);
/// assert_eq!(d.to_dense().get(0, 1), 0.0);
/// ```
#[derive(Debug, Clone)]
pub struct Diagonal {
    param: Param,
}

impl Diagonal {
    /// `diag(d)`.
    ///
    /// # Errors
    /// [`crate::Error::EmptyDimension`] for an empty `d`, [`crate::Error::NonFinite`] for NaN/Inf.
    ///
    /// # Examples
    /// ```
    /// assert!(linops_core::op::Diagonal::new(vec![f64::NAN]).is_err());
    /// ```
    pub fn new(d: Vec<f64>) -> Result<Self> {
        require_nonempty("diagonal", d.len(), 1)?;
        check_finite("diagonal", d.len(), &d)?;
        Ok(Self {
            param: Param::of_shape(d.len(), 1, d),
        })
    }

    /// The diagonal entries.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(linops_core::op::Diagonal::new(vec![3.0]).unwrap().values(), &[3.0]);
    /// ```
    pub fn values(&self) -> &[f64] {
        &self.param.data
    }
}

impl LeafOp for Diagonal {
    fn name(&self) -> &'static str {
        "diagonal"
    }
    fn shape(&self) -> (usize, usize) {
        (self.param.rows, self.param.rows)
    }
    fn to_dense(&self) -> HostMat {
        let d = &self.param.data;
        HostMat::from_fn(d.len(), d.len(), |i, j| if i == j { d[i] } else { 0.0 })
    }
    fn param_count(&self) -> usize {
        self.param.rows
    }
    fn is_symmetric(&self) -> bool {
        true
    }
    fn lower(
        &self,
        cx: &mut Lowering,
        _transposed: bool,
        x: BufId,
        out: BufId,
        alpha: f64,
        beta: f64,
    ) -> Result<()> {
        let d = cx.param(&self.param);
        cx.push(kernel::DiagScale { alpha, beta }, vec![d, x], out)
    }
}
