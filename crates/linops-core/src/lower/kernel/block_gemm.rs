//! `block_gemm`: batched block GEMM `Y_t = alpha·op(W_t)·X_t + beta·Y_t` for `t < blocks`, ONE
//! launch, and the row layouts it reads and writes.
//!
//! Inputs `[W, X]` with `W` the blocks side by side (`br × bc·blocks`, block `t` in columns
//! `t·bc..(t+1)·bc`), `op(W_t)` is `m×k`; `X_t` are the `k` rows of `X` that block `t` reads and
//! `Y_t` the `m` rows of `out` it writes, placed by [`BlockLayout`]. Cost: `2·b·m·k·n` FLOPs.
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

use super::{KernelSpec, Sat, ab, reads_out};
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

/// Arguments of a block GEMM step; see the module docs.
///
/// # Examples
/// ```
/// use linops_core::plan::{KernelSpec, kernel::{BlockGemm, BlockLayout}};
/// let k = BlockGemm { blocks: 2, trans: false, x_layout: BlockLayout::Contiguous,
///     y_layout: BlockLayout::Strided, alpha: 1.0, beta: 0.0 };
/// assert_eq!(k.cost(&[(3, 4), (4, 5)], (6, 5)).unwrap().0, 2 * 2 * 3 * 2 * 5);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlockGemm {
    /// Number of blocks `b`.
    pub blocks: usize,
    /// Use `W_tᵀ`.
    pub trans: bool,
    /// Where block `t` reads its rows of `X`.
    pub x_layout: BlockLayout,
    /// Where block `t` writes its rows of `out`.
    pub y_layout: BlockLayout,
    /// Scale of the product.
    pub alpha: f64,
    /// Scale of the previous output.
    pub beta: f64,
}

impl KernelSpec for BlockGemm {
    const LABEL: &'static str = "block_gemm";
    const ARITY: usize = 2;
    fn scalars(&self) -> Vec<f64> {
        vec![self.alpha, self.beta]
    }
    fn cost(&self, inputs: &[(usize, usize)], out: (usize, usize)) -> Result<(u64, u64), String> {
        let (w, x, blocks) = (inputs[0], inputs[1], self.blocks);
        if blocks == 0 || w.1 % blocks != 0 {
            return Err(format!(
                "W of {blocks} equal blocks side by side (columns a multiple of {blocks})"
            ));
        }
        let (bm, bk) = if self.trans {
            (w.1 / blocks, w.0)
        } else {
            (w.0, w.1 / blocks)
        };
        if blocks.checked_mul(bk) != Some(x.0)
            || blocks.checked_mul(bm) != Some(out.0)
            || x.1 != out.1
        {
            return Err(format!(
                "{blocks} blocks of {bm}x{bk}: X of {} rows, out of {} rows, equal columns",
                blocks.saturating_mul(bk),
                blocks.saturating_mul(bm)
            ));
        }
        let (m, n) = (Sat::of(out.0), Sat::of(out.1));
        let (b, bm, bk) = (Sat::of(blocks), Sat::of(bm), Sat::of(bk));
        let moved = b * bm * bk + b * bk * n + m * n + reads_out(self.beta, m, n);
        Ok(((2 * b * bm * bk * n).0, moved.0))
    }
    fn describe(&self) -> String {
        let mut s = format!(
            "block_gemm ×{} {}",
            self.blocks,
            if self.trans { "T" } else { "N" }
        );
        let folded: Vec<&str> = [
            (self.x_layout, "Pᵀ folded into X rows"),
            (self.y_layout, "P folded into Y rows"),
        ]
        .iter()
        .filter(|(l, _)| *l == BlockLayout::Strided)
        .map(|(_, w)| *w)
        .collect();
        if !folded.is_empty() {
            let _ = write!(s, " ({})", folded.join(", "));
        }
        s + &ab(self.alpha, self.beta)
    }
}
