//! Block-diagonal leaf with `b` equal blocks.
//!
//! Mathematics: `A = diag(A₀, …, A_{b−1})` with every block `p×q` (square or rectangular), so `A`
//! is `(b·p)×(b·q)` and `(A·X)` rows `t·p..(t+1)·p` are `A_t·X[t·q..(t+1)·q, :]`.
//!
//! Storage: the blocks side by side in one `p × (b·q)` column-major parameter (block `t` in columns
//! `t·q..(t+1)·q`, itself column-major `p×q`), `b·p·q` reals.
//!
//! Cost of `A·X` with `X` of `B` columns: `2·b·p·q·B` FLOPs (`1/b` of the dense GEMM), in ONE
//! batched block-GEMM step ([`Kernel::BlockGemm`] with contiguous layouts): block `t` reads rows
//! `t·q..` of `X` in place (leading dimension `b·q`, no copy). The GPU runs it as one dispatch with
//! the block index in the grid's z dimension; the CPU as one faer GEMM per block.

use super::{LeafOp, require_nonempty};
use crate::lower::{BlockLayout, Param, kernel};
use crate::op::Lowering;
use crate::{BufId, Error, HostMat, Result};

/// `diag(A₀, …, A_{b−1})` with equal `p×q` blocks.
///
/// # Examples
/// ```
/// use linops_core::{HostMat, LeafOp, op::BlockDiagonal};
/// let a0 = HostMat::new(1, 2, vec![1.0, 2.0]).unwrap();
/// let a1 = HostMat::new(1, 2, vec![3.0, 4.0]).unwrap();
/// let bd = BlockDiagonal::new(vec![a0, a1]).unwrap();
/// assert_eq!(bd.shape(), (2, 4));
/// assert_eq!(bd.to_dense().get(1, 3), 4.0);
/// assert_eq!(bd.to_dense().get(0, 3), 0.0);
/// ```
#[derive(Debug, Clone)]
pub struct BlockDiagonal {
    blocks: usize,
    param: Param,
}

impl BlockDiagonal {
    /// The block-diagonal matrix of `blocks` (all of one shape).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for an empty list, [`Error::EmptyDimension`] for an empty block,
    /// [`Error::ShapeMismatch`] when the blocks differ in shape, [`Error::NonFinite`] for NaN/Inf.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{HostMat, op::BlockDiagonal};
    /// let a = HostMat::<f64>::zeros(2, 2);
    /// let b = HostMat::<f64>::zeros(2, 3);
    /// assert!(BlockDiagonal::new(vec![a, b]).is_err());
    /// ```
    pub fn new(blocks: Vec<HostMat>) -> Result<Self> {
        let Some(first) = blocks.first() else {
            return Err(Error::InvalidArgument(
                "block-diagonal: at least one block is needed".into(),
            ));
        };
        let (p, q) = (first.rows(), first.cols());
        require_nonempty("block-diagonal block", p, q)?;
        let mut data = Vec::with_capacity(p * q * blocks.len());
        for (t, b) in blocks.iter().enumerate() {
            if (b.rows(), b.cols()) != (p, q) {
                return Err(Error::ShapeMismatch {
                    context: format!("block-diagonal block {t}"),
                    expected: format!("{p}x{q} (the shape of block 0)"),
                    found: format!("{}x{}", b.rows(), b.cols()),
                });
            }
            b.check_finite(&format!("block-diagonal block {t}"))?;
            data.extend_from_slice(b.data());
        }
        Self::from_stacked(blocks.len(), p, q, data)
    }

    /// The block-diagonal matrix of `blocks` blocks of `p×q`, from the blocks' column-major data
    /// concatenated (block `t` at `data[t·p·q..(t+1)·p·q]`).
    ///
    /// # Errors
    /// [`Error::EmptyDimension`] when `blocks`, `p` or `q` is 0, [`Error::ShapeMismatch`] when
    /// `data` does not hold `blocks·p·q` values, [`Error::NonFinite`] for NaN/Inf.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{LeafOp, op::BlockDiagonal};
    /// let bd = BlockDiagonal::from_stacked(3, 2, 2, vec![1.0; 12]).unwrap();
    /// assert_eq!(bd.shape(), (6, 6));
    /// assert!(BlockDiagonal::from_stacked(3, 2, 2, vec![1.0; 11]).is_err());
    /// ```
    pub fn from_stacked(blocks: usize, p: usize, q: usize, data: Vec<f64>) -> Result<Self> {
        require_nonempty("block-diagonal (blocks x block rows)", blocks, p)?;
        require_nonempty("block-diagonal block", p, q)?;
        let cols = blocks.checked_mul(q).ok_or_else(|| {
            Error::InvalidArgument(format!("block-diagonal: {blocks}·{q} columns overflow"))
        })?;
        let m = HostMat::new(p, cols, data)?;
        m.check_finite("block-diagonal blocks")?;
        blocks.checked_mul(p).ok_or_else(|| {
            Error::InvalidArgument(format!("block-diagonal: {blocks}·{p} rows overflow"))
        })?;
        Ok(Self {
            blocks,
            param: Param::of_shape(p, cols, m.into_data()),
        })
    }

    /// Number of blocks `b`.
    ///
    /// # Examples
    /// ```
    /// let bd = linops_core::op::BlockDiagonal::from_stacked(3, 1, 1, vec![1.0; 3]).unwrap();
    /// assert_eq!(bd.num_blocks(), 3);
    /// ```
    pub fn num_blocks(&self) -> usize {
        self.blocks
    }

    /// Shape `(p, q)` of one block.
    ///
    /// # Examples
    /// ```
    /// let bd = linops_core::op::BlockDiagonal::from_stacked(2, 3, 1, vec![1.0; 6]).unwrap();
    /// assert_eq!(bd.block_shape(), (3, 1));
    /// ```
    pub fn block_shape(&self) -> (usize, usize) {
        (self.param.rows, self.param.cols / self.blocks)
    }

    /// Block `t` as a matrix (`None` when `t ≥ b`).
    ///
    /// # Examples
    /// ```
    /// let bd = linops_core::op::BlockDiagonal::from_stacked(2, 1, 1, vec![5.0, 6.0]).unwrap();
    /// assert_eq!(bd.block(1).unwrap().get(0, 0), 6.0);
    /// assert!(bd.block(2).is_none());
    /// ```
    pub fn block(&self, t: usize) -> Option<HostMat> {
        if t >= self.blocks {
            return None;
        }
        let (p, q) = self.block_shape();
        let d = &self.param.data[t * p * q..(t + 1) * p * q];
        Some(HostMat::new(p, q, d.to_vec()).expect("block slice"))
    }

    /// Entry `(i, j)` of block `t` (no bounds beyond the slice's own).
    pub(crate) fn entry(&self, t: usize, i: usize, j: usize) -> f64 {
        let (p, q) = self.block_shape();
        self.param.data[t * p * q + i + j * p]
    }

    /// The stacked blocks as a plan parameter (`p × b·q`).
    ///
    /// # Examples
    /// ```
    /// let bd = linops_core::op::BlockDiagonal::from_stacked(2, 3, 1, vec![1.0; 6]).unwrap();
    /// assert_eq!((bd.param().rows, bd.param().cols), (3, 2));
    /// ```
    pub fn param(&self) -> &Param {
        &self.param
    }

    /// Emits the one block-GEMM step with the given row layouts (used by Monarch to fold its
    /// permutations into the indexing).
    pub(crate) fn lower_with_layouts(
        &self,
        cx: &mut Lowering,
        transposed: bool,
        layouts: (BlockLayout, BlockLayout),
        io: (BufId, BufId),
        alpha: f64,
        beta: f64,
    ) -> Result<()> {
        let w = cx.param(&self.param);
        cx.push(
            kernel::BlockGemm {
                blocks: self.blocks,
                trans: transposed,
                x_layout: layouts.0,
                y_layout: layouts.1,
                alpha,
                beta,
            },
            vec![w, io.0],
            io.1,
        )
    }
}

impl LeafOp for BlockDiagonal {
    fn name(&self) -> &'static str {
        "block_diagonal"
    }
    fn shape(&self) -> (usize, usize) {
        let (p, q) = self.block_shape();
        (self.blocks * p, self.blocks * q)
    }
    fn to_dense(&self) -> HostMat {
        let (p, q) = self.block_shape();
        let (r, c) = self.shape();
        let mut m = HostMat::zeros(r, c);
        for t in 0..self.blocks {
            for j in 0..q {
                for i in 0..p {
                    m.set(t * p + i, t * q + j, self.entry(t, i, j));
                }
            }
        }
        m
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
        let c = BlockLayout::Contiguous;
        self.lower_with_layouts(cx, transposed, (c, c), (x, out), alpha, beta)
    }
}
