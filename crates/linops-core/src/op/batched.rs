//! Batched leaf: `b` independent matrices of one shape `p×q`, applied to `b` right-hand sides in
//! one step.
//!
//! Mathematics: the batch `(A₀, …, A_{b−1})` acts on the stacked right-hand sides
//! `X = [X₀; X₁; …; X_{b−1}]` (`X_t` the `q` rows `t·q..(t+1)·q`, all `B` columns) as
//! `Y_t = A_t·X_t` (rows `t·p..(t+1)·p` of `Y`): as a linear map it is
//! `diag(A₀, …, A_{b−1})`, `(b·p)×(b·q)`, and its transpose maps `Y_t` to `A_tᵀ·Y_t`.
//!
//! Storage: the matrices side by side in one `p × (b·q)` column-major parameter (matrix `t` in
//! columns `t·q..(t+1)·q`, itself column-major), `b·p·q` reals: the layout of the resident
//! batches of the batched drivers (`linops::randnla::batched`), so the same data serve both.
//!
//! Cost of `A·X` with `X` of `B` columns: `2·b·p·q·B` FLOPs in ONE batched block-GEMM step
//! ([`Kernel::BlockGemm`](crate::Kernel::BlockGemm), contiguous layouts: matrix `t` reads rows
//! `t·q..` of `X` in place): one dispatch with the batch index in the grid's z dimension on the
//! GPU, every matrix visiting each panel of columns in turn on the CPU.

use super::{BlockDiagonal, LeafOp, Lowering};
use crate::lower::Param;
use crate::{BufId, Error, HostMat, Result};

/// A batch of `b` matrices of equal shape `p×q`, applied to stacked right-hand sides.
///
/// # Examples
/// ```
/// use linops_core::{HostMat, LeafOp, op::Batched};
/// let a0 = HostMat::new(1, 2, vec![1.0, 2.0]).unwrap();
/// let a1 = HostMat::new(1, 2, vec![3.0, 4.0]).unwrap();
/// let b = Batched::new(vec![a0, a1]).unwrap();
/// assert_eq!((b.batch(), b.matrix_shape(), b.shape()), (2, (1, 2), (2, 4)));
/// ```
#[derive(Debug, Clone)]
pub struct Batched {
    /// The same storage and lowering as a block-diagonal operator.
    inner: BlockDiagonal,
}

impl Batched {
    /// The batch of `matrices` (all of one shape).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for an empty batch, [`Error::EmptyDimension`] for an empty
    /// matrix, [`Error::ShapeMismatch`] naming the first matrix whose shape differs from matrix
    /// 0's, [`Error::NonFinite`] for NaN/Inf.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{HostMat, op::Batched};
    /// let a = HostMat::<f64>::zeros(2, 2);
    /// let b = HostMat::<f64>::zeros(2, 3);
    /// assert!(Batched::new(vec![a, b]).is_err());
    /// assert!(Batched::new(vec![]).is_err());
    /// ```
    pub fn new(matrices: Vec<HostMat>) -> Result<Self> {
        if matrices.is_empty() {
            return Err(Error::InvalidArgument(
                "batched operator: the batch is empty (at least one matrix is needed)".into(),
            ));
        }
        let (p, q) = (matrices[0].rows(), matrices[0].cols());
        for (t, m) in matrices.iter().enumerate() {
            if (m.rows(), m.cols()) != (p, q) {
                return Err(Error::ShapeMismatch {
                    context: format!("batched operator: matrix {t}"),
                    expected: format!("{p}x{q} (the shape of matrix 0)"),
                    found: format!("{}x{}", m.rows(), m.cols()),
                });
            }
        }
        Ok(Self {
            inner: BlockDiagonal::new(matrices)?,
        })
    }

    /// The batch of `batch` matrices of `p×q` from their column-major data concatenated (matrix
    /// `t` at `data[t·p·q..(t+1)·p·q]`: the resident batch layout, `p × batch·q`).
    ///
    /// # Errors
    /// [`Error::EmptyDimension`] when `batch`, `p` or `q` is 0, [`Error::ShapeMismatch`] when
    /// `data` does not hold `batch·p·q` values, [`Error::NonFinite`] for NaN/Inf.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{LeafOp, op::Batched};
    /// let b = Batched::from_stacked(3, 2, 2, vec![1.0; 12]).unwrap();
    /// assert_eq!(b.shape(), (6, 6));
    /// assert!(Batched::from_stacked(3, 2, 2, vec![1.0; 11]).is_err());
    /// assert!(Batched::from_stacked(0, 2, 2, vec![]).is_err());
    /// ```
    pub fn from_stacked(batch: usize, p: usize, q: usize, data: Vec<f64>) -> Result<Self> {
        Ok(Self {
            inner: BlockDiagonal::from_stacked(batch, p, q, data)?,
        })
    }

    /// Number of matrices `b`.
    ///
    /// # Examples
    /// ```
    /// let b = linops_core::op::Batched::from_stacked(3, 1, 1, vec![1.0; 3]).unwrap();
    /// assert_eq!(b.batch(), 3);
    /// ```
    pub fn batch(&self) -> usize {
        self.inner.num_blocks()
    }

    /// Shape `(p, q)` of every matrix.
    ///
    /// # Examples
    /// ```
    /// let b = linops_core::op::Batched::from_stacked(2, 3, 1, vec![1.0; 6]).unwrap();
    /// assert_eq!(b.matrix_shape(), (3, 1));
    /// ```
    pub fn matrix_shape(&self) -> (usize, usize) {
        self.inner.block_shape()
    }

    /// Matrix `t` (`None` when `t ≥ b`).
    ///
    /// # Examples
    /// ```
    /// let b = linops_core::op::Batched::from_stacked(2, 1, 1, vec![5.0, 6.0]).unwrap();
    /// assert_eq!(b.matrix(1).unwrap().get(0, 0), 6.0);
    /// assert!(b.matrix(2).is_none());
    /// ```
    pub fn matrix(&self, t: usize) -> Option<HostMat> {
        self.inner.block(t)
    }

    /// The matrices side by side (`p × b·q`, matrix `t` in columns `t·q..`): the plan
    /// parameter, and the resident batch layout of the batched drivers.
    ///
    /// # Examples
    /// ```
    /// let b = linops_core::op::Batched::from_stacked(2, 3, 1, vec![1.0; 6]).unwrap();
    /// assert_eq!((b.param().rows, b.param().cols), (3, 2));
    /// ```
    pub fn param(&self) -> &Param {
        self.inner.param()
    }
}

impl LeafOp for Batched {
    fn name(&self) -> &'static str {
        "batched"
    }
    fn shape(&self) -> (usize, usize) {
        self.inner.shape()
    }
    fn to_dense(&self) -> HostMat {
        self.inner.to_dense()
    }
    fn param_count(&self) -> usize {
        self.inner.param_count()
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
        self.inner.lower(cx, transposed, x, out, alpha, beta)
    }
}
