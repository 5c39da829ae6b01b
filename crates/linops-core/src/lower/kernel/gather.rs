//! `gather`: row gather `out[i, :] = alpha·X[idx[i], :] + beta·out[i, :]`; inputs `[idx, X]`.
//!
//! `idx` is an `n×1` index array ([`crate::IndexParam`], `u32`; a permutation's index array),
//! read at [`crate::INDEX_BYTES`] per index (counted by the lowering context). An index outside
//! `0..rows(X)` selects a zero row: the kernel never reads out of bounds. Cost: one multiply per
//! element (three with `beta ≠ 0`).

use super::{KernelSpec, Sat, ab, reads_out};

/// Arguments of a row-gather step; see the module docs.
///
/// # Examples
/// ```
/// use linops_core::plan::{KernelSpec, kernel::Gather};
/// assert!(Gather { alpha: 1.0, beta: 0.0 }.cost(&[(4, 1), (3, 2)], (4, 2)).is_ok());
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gather {
    /// Scale of the gathered rows.
    pub alpha: f64,
    /// Scale of the previous output.
    pub beta: f64,
}

impl KernelSpec for Gather {
    const LABEL: &'static str = "gather";
    const ARITY: usize = 2;
    const INDEX_INPUTS: &'static [usize] = &[0];
    fn scalars(&self) -> Vec<f64> {
        vec![self.alpha, self.beta]
    }
    fn cost(&self, inputs: &[(usize, usize)], out: (usize, usize)) -> Result<(u64, u64), String> {
        let (idx, x) = (inputs[0], inputs[1]);
        if idx != (out.0, 1) || x.1 != out.1 {
            return Err(format!("idx {}x1 and X of {} columns", out.0, out.1));
        }
        let (m, n) = (Sat::of(out.0), Sat::of(out.1));
        let flops = if self.beta != 0.0 { 3 } else { 1 } * m * n;
        Ok((flops.0, (2 * m * n + reads_out(self.beta, m, n)).0))
    }
    fn describe(&self) -> String {
        format!("gather{}", ab(self.alpha, self.beta))
    }
}
