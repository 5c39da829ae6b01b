//! `batch_transpose`: batched transpose with scaling; inputs `[X]`.
//!
//! The input's `L` elements (column-major, any buffer shape) are `L / (rows·cols)` consecutive
//! `rows×cols` column-major matrices; the output (any shape with `L` elements) receives their
//! transposes, `out = alpha·Xₜᵀ + beta·out`. With `cols == 1` it is a scaled copy between buffers
//! of different shapes (a reshape). Used by the Kronecker vec trick to rotate tensor modes.
//! Cost: one multiply per element (three with `beta ≠ 0`).

use super::{KernelSpec, Sat, ab, reads_out};

/// Arguments of a batched-transpose step; see the module docs.
///
/// # Examples
/// ```
/// use linops_core::plan::{KernelSpec, kernel::BatchTranspose};
/// let k = BatchTranspose { rows: 2, cols: 3, alpha: 1.0, beta: 0.0 };
/// assert!(k.cost(&[(12, 1)], (3, 4)).is_ok());
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchTranspose {
    /// Rows of each matrix of the input.
    pub rows: usize,
    /// Columns of each matrix of the input.
    pub cols: usize,
    /// Scale of the transposed input.
    pub alpha: f64,
    /// Scale of the previous output.
    pub beta: f64,
}

impl KernelSpec for BatchTranspose {
    const LABEL: &'static str = "batch_transpose";
    const ARITY: usize = 1;
    fn scalars(&self) -> Vec<f64> {
        vec![self.alpha, self.beta]
    }
    fn cost(&self, inputs: &[(usize, usize)], out: (usize, usize)) -> Result<(u64, u64), String> {
        let len = inputs[0].0 as u128 * inputs[0].1 as u128;
        let block = self.rows as u128 * self.cols as u128;
        if block == 0 || len != out.0 as u128 * out.1 as u128 || !len.is_multiple_of(block) {
            return Err(format!(
                "X and out with the same number of elements, a multiple of {}·{}",
                self.rows, self.cols
            ));
        }
        let (m, n) = (Sat::of(out.0), Sat::of(out.1));
        let len = m * n;
        let flops = if self.beta != 0.0 { 3 } else { 1 } * len;
        Ok((flops.0, (2 * len + reads_out(self.beta, m, n)).0))
    }
    fn describe(&self) -> String {
        format!(
            "batch_transpose {}x{}{}",
            self.rows,
            self.cols,
            ab(self.alpha, self.beta)
        )
    }
}
