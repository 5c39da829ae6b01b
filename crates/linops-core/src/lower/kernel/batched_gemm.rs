//! `batched_gemm`: `C_t = alpha·op(A_t)·B_t + beta·C_t` for `t < batch`, ONE launch, over
//! batches stored side by side.
//!
//! A batch of `b` matrices of `r×c` is one column-major `r × b·c` matrix with matrix `t` in
//! columns `t·c..(t+1)·c` (itself column-major `r×c`, so the `b` matrices follow each other in
//! memory, the layout of a `b×c×r` row-major tensor). Inputs `[A, B]`: `A` is `ar × b·ac` with
//! `op(A_t)` `m×k` (`A_t` stored `m×k`, or `k×m` when `trans_a`), `B` is `k × b·n`, the output
//! `m × b·n`. Cost: `2·b·m·k·n` FLOPs; every operand is read once and the output written once.
//!
//! Unlike [`BlockGemm`](super::BlockGemm) (weights side by side, the right-hand side split by
//! rows), both operands here are batches of whole matrices: the Gram matrices `A_tᵀ·A_t`,
//! products `A_t·R_t⁻¹` and `X_t·G_t` of the batched drivers.

use super::{KernelSpec, Sat, ab, reads_out};

/// Arguments of a batched GEMM step; see the module docs.
///
/// # Examples
/// ```
/// use linops_core::plan::{KernelSpec, kernel::BatchedGemm};
/// let k = BatchedGemm { batch: 3, trans_a: true, alpha: 1.0, beta: 0.0 };
/// // three Gram matrices AᵀA of 5×2 matrices
/// assert_eq!(k.cost(&[(5, 6), (5, 6)], (2, 6)).unwrap().0, 2 * 3 * 2 * 5 * 2);
/// assert!(k.cost(&[(5, 6), (5, 6)], (2, 4)).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchedGemm {
    /// Number of matrices `b` in each operand.
    pub batch: usize,
    /// Use `A_tᵀ`.
    pub trans_a: bool,
    /// Scale of the products.
    pub alpha: f64,
    /// Scale of the previous output.
    pub beta: f64,
}

impl BatchedGemm {
    /// `(m, k, n)` of every product, or a description of the expected shapes.
    ///
    /// # Errors
    /// `Err(expected)` when the operands are not batches of `batch` matrices of fitting shapes.
    ///
    /// # Examples
    /// ```
    /// use linops_core::plan::kernel::BatchedGemm;
    /// let k = BatchedGemm { batch: 2, trans_a: false, alpha: 1.0, beta: 0.0 };
    /// assert_eq!(k.dims((4, 6), (3, 10)), Ok((4, 3, 5)));
    /// ```
    pub fn dims(
        &self,
        a: (usize, usize),
        b: (usize, usize),
    ) -> std::result::Result<(usize, usize, usize), String> {
        let batch = self.batch;
        if batch == 0 || !a.1.is_multiple_of(batch) || !b.1.is_multiple_of(batch) {
            return Err(format!(
                "A and B each {batch} matrices side by side (columns a multiple of {batch})"
            ));
        }
        let ac = a.1 / batch;
        let (m, k) = if self.trans_a { (ac, a.0) } else { (a.0, ac) };
        if b.0 != k {
            return Err(format!(
                "{batch} products of {m}x{k} and {}x{}: B of {k} rows",
                b.0,
                b.1 / batch
            ));
        }
        Ok((m, k, b.1 / batch))
    }
}

impl KernelSpec for BatchedGemm {
    const LABEL: &'static str = "batched_gemm";
    const ARITY: usize = 2;
    fn scalars(&self) -> Vec<f64> {
        vec![self.alpha, self.beta]
    }
    fn cost(&self, inputs: &[(usize, usize)], out: (usize, usize)) -> Result<(u64, u64), String> {
        let (m, k, n) = self.dims(inputs[0], inputs[1])?;
        if out.0 != m || Some(out.1) != self.batch.checked_mul(n) {
            return Err(format!(
                "{} products of {m}x{k}·{k}x{n}: out of {m}x{}",
                self.batch,
                self.batch.saturating_mul(n)
            ));
        }
        let (b, m, k, n) = (Sat::of(self.batch), Sat::of(m), Sat::of(k), Sat::of(n));
        let moved = b * m * k + b * k * n + b * m * n + reads_out(self.beta, m, b * n);
        Ok(((2 * b * m * k * n).0, moved.0))
    }
    fn describe(&self) -> String {
        format!(
            "batched_gemm ×{} {}",
            self.batch,
            if self.trans_a { "T" } else { "N" }
        ) + &ab(self.alpha, self.beta)
    }
}
