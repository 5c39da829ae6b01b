//! Row layouts of the batched block GEMM ([`crate::Kernel::BlockGemm`]).
//!
//! A block GEMM over `b` blocks splits the rows of a column-major block `X` (`b·k` rows) into `b`
//! groups of `k` rows. Two placements cover block-diagonal and Monarch operators:
//!
//! - [`BlockLayout::Contiguous`]: block `t` owns rows `t·k + i` (`i < k`): a block-diagonal
//!   matrix's natural grouping;
//! - [`BlockLayout::Strided`]: block `t` owns rows `t + i·b`: the rows a perfect shuffle would
//!   bring together. Reading `X` this way applies the shuffle `S(b, k)` (view the `b·k` rows as a
//!   `b×k` column-major matrix and transpose it) before the blocks; writing the output this way
//!   applies `S(b, m)ᵀ` after them. No pass over memory is spent on the permutation: it lives in
//!   the index arithmetic (row stride `b` instead of 1).
//!
//! In both layouts, element `(i, j)` of block `t`'s view of a matrix with leading dimension `ld`
//! is at `t·step + i·row_stride + j·ld` with `(step, row_stride)` given by
//! [`BlockLayout::step_and_stride`]; both layouts are bijections onto the rows, so distinct blocks
//! never write the same element.

use std::fmt::Write;

/// Where block `t` of a block GEMM finds its rows; see the module docs.
///
/// # Examples
/// ```
/// use linops_core::BlockLayout;
/// // 3 blocks of 2 rows.
/// assert_eq!(BlockLayout::Contiguous.row(3, 2, 1, 1), 3);
/// assert_eq!(BlockLayout::Strided.row(3, 2, 1, 1), 4);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlockLayout {
    /// Block `t` owns rows `t·k .. (t+1)·k`.
    Contiguous,
    /// Block `t` owns rows `t, t + b, t + 2b, …` (a perfect shuffle folded into the indexing).
    Strided,
}

impl BlockLayout {
    /// `(step, row_stride)`: row `i` of block `t` is row `t·step + i·row_stride` of the matrix.
    ///
    /// # Examples
    /// ```
    /// use linops_core::BlockLayout;
    /// assert_eq!(BlockLayout::Contiguous.step_and_stride(4, 3), (3, 1));
    /// assert_eq!(BlockLayout::Strided.step_and_stride(4, 3), (1, 4));
    /// ```
    pub fn step_and_stride(self, blocks: usize, rows_per_block: usize) -> (usize, usize) {
        match self {
            BlockLayout::Contiguous => (rows_per_block, 1),
            BlockLayout::Strided => (1, blocks),
        }
    }

    /// The matrix row that holds row `i` of block `t`.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(linops_core::BlockLayout::Strided.row(4, 3, 2, 2), 10);
    /// ```
    pub fn row(self, blocks: usize, rows_per_block: usize, t: usize, i: usize) -> usize {
        let (step, rs) = self.step_and_stride(blocks, rows_per_block);
        t * step + i * rs
    }
}

/// The `explain()` text of a block GEMM step: block count, transpose, and which side has a
/// permutation folded into its indexing.
pub(super) fn explain_block_gemm(
    blocks: usize,
    trans: bool,
    x_layout: BlockLayout,
    y_layout: BlockLayout,
) -> String {
    let mut s = format!("block_gemm ×{blocks} {}", if trans { "T" } else { "N" });
    let folded: Vec<&str> = [
        (x_layout, "Pᵀ folded into X rows"),
        (y_layout, "P folded into Y rows"),
    ]
    .iter()
    .filter(|(l, _)| *l == BlockLayout::Strided)
    .map(|(_, w)| *w)
    .collect();
    if !folded.is_empty() {
        let _ = write!(s, " ({})", folded.join(", "));
    }
    s
}
