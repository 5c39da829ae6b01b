//! `diag_scale`: `out = alpha·diag(d)·X + beta·out`; inputs `[d, X]` with `d` an `n×1` column.
//!
//! Each entry is `alpha·(d[i]·X[i, j])` (the product with `d` first, so an `alpha` and a `d`
//! whose product would over- or underflow on their own are never multiplied). Cost: two
//! multiplies per element (four with `beta ≠ 0`).

use super::{KernelSpec, Sat, ab, reads_out};

/// Arguments of a diagonal scaling step; see the module docs.
///
/// # Examples
/// ```
/// use linops_core::plan::{KernelSpec, kernel::DiagScale};
/// assert!(DiagScale { alpha: 1.0, beta: 0.0 }.cost(&[(2, 1), (2, 3)], (2, 3)).is_ok());
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DiagScale {
    /// Scale of the product.
    pub alpha: f64,
    /// Scale of the previous output.
    pub beta: f64,
}

impl KernelSpec for DiagScale {
    const LABEL: &'static str = "diag_scale";
    const ARITY: usize = 2;
    fn scalars(&self) -> Vec<f64> {
        vec![self.alpha, self.beta]
    }
    fn cost(&self, inputs: &[(usize, usize)], out: (usize, usize)) -> Result<(u64, u64), String> {
        let (d, x) = (inputs[0], inputs[1]);
        if d != (out.0, 1) || x != out {
            return Err(format!("d {}x1 and X {}x{}", out.0, out.0, out.1));
        }
        let (m, n) = (Sat::of(out.0), Sat::of(out.1));
        let flops = if self.beta != 0.0 { 4 } else { 2 } * m * n;
        Ok((flops.0, (2 * m * n + m + reads_out(self.beta, m, n)).0))
    }
    fn describe(&self) -> String {
        format!("diag_scale{}", ab(self.alpha, self.beta))
    }
}
