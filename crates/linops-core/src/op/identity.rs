//! Identity leaf.
//!
//! Storage: nothing. Cost of `alpha·I·X + beta·Y`: one axpby pass (`3·n·b` FLOPs); the planner
//! removes identities from products, so it only runs when the whole operator (or a sum term) is I.

use super::{LeafOp, require_nonempty};
use crate::lower::kernel;
use crate::op::Lowering;
use crate::{BufId, HostMat, Result};

/// The `n×n` identity.
///
/// # Examples
/// ```
/// use linops_core::{LeafOp, op::Identity};
/// assert_eq!(Identity::new(3).unwrap().to_dense().get(2, 2), 1.0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    n: usize,
}

impl Identity {
    /// The `n×n` identity.
    ///
    /// # Errors
    /// [`crate::Error::EmptyDimension`] when `n == 0`.
    ///
    /// # Examples
    /// ```
    /// assert!(linops_core::op::Identity::new(0).is_err());
    /// ```
    pub fn new(n: usize) -> Result<Self> {
        require_nonempty("identity", n, n)?;
        Ok(Self { n })
    }

    /// The dimension n.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(linops_core::op::Identity::new(5).unwrap().dim(), 5);
    /// ```
    pub fn dim(&self) -> usize {
        self.n
    }
}

impl LeafOp for Identity {
    fn name(&self) -> &'static str {
        "identity"
    }
    fn shape(&self) -> (usize, usize) {
        (self.n, self.n)
    }
    fn to_dense(&self) -> HostMat {
        HostMat::from_fn(self.n, self.n, |i, j| if i == j { 1.0 } else { 0.0 })
    }
    fn param_count(&self) -> usize {
        0
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
        cx.push(kernel::Axpby { alpha, beta }, vec![x], out)
    }
}
