//! Dense matrix leaf.
//!
//! Storage: `rows·cols` reals, column-major, `f64` on the host (each backend converts once and caches
//! the upload). Cost of `A·X` with `X` of `b` columns: `2·rows·cols·b` FLOPs, one GEMM.

use super::{LeafOp, require_nonempty};
use crate::lower::{Param, kernel};
use crate::op::Lowering;
use crate::{BufId, HostMat, Result};

/// A dense matrix operator.
///
/// # Examples
/// ```
/// use linops_core::{HostMat, LeafOp, op::Dense};
/// let d = Dense::new(HostMat::from_fn(2, 3, |i, j| (i + j) as f64)).unwrap();
/// assert_eq!(d.shape(), (2, 3));
/// ```
#[derive(Debug, Clone)]
pub struct Dense {
    param: Param,
}

impl Dense {
    /// Wraps a host matrix.
    ///
    /// # Errors
    /// [`crate::Error::EmptyDimension`] for a zero dimension, [`crate::Error::NonFinite`] for NaN/Inf.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{HostMat, op::Dense};
    /// assert!(Dense::new(HostMat::<f64>::zeros(0, 3)).is_err());
    /// ```
    pub fn new(m: HostMat) -> Result<Self> {
        require_nonempty("dense operator", m.rows(), m.cols())?;
        m.check_finite("dense operator")?;
        let (rows, cols) = (m.rows(), m.cols());
        Ok(Self {
            param: Param::of_shape(rows, cols, m.into_data()),
        })
    }

    /// The stored matrix as a plan parameter.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{HostMat, op::Dense};
    /// let d = Dense::new(HostMat::from_fn(2, 2, |i, _| i as f64)).unwrap();
    /// assert_eq!(d.param().data.len(), 4);
    /// ```
    pub fn param(&self) -> &Param {
        &self.param
    }
}

impl LeafOp for Dense {
    fn name(&self) -> &'static str {
        "dense"
    }
    fn shape(&self) -> (usize, usize) {
        (self.param.rows, self.param.cols)
    }
    fn to_dense(&self) -> HostMat {
        HostMat::new(self.param.rows, self.param.cols, self.param.data.to_vec())
            .expect("validated at construction")
    }
    fn param_count(&self) -> usize {
        self.param.data.len()
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
        let a = cx.param(&self.param);
        cx.push(
            kernel::Gemm {
                trans_a: transposed,
                trans_b: false,
                alpha,
                beta,
            },
            vec![a, x],
            out,
        )
    }
}
