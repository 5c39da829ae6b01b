//! `axpby`: `out = alpha·X + beta·out`; inputs `[X]` of `out`'s shape.
//!
//! `beta == 0` never reads `out`. Cost: one multiply (three operations with `beta ≠ 0`) per
//! element; reads X (and `out`), writes `out`.

use super::{KernelSpec, Sat, ab, reads_out};

/// Arguments of a scaled copy / accumulation step; see the module docs.
///
/// # Examples
/// ```
/// use linops_core::plan::{KernelSpec, kernel::Axpby};
/// assert_eq!(Axpby { alpha: 1.0, beta: 0.0 }.cost(&[(2, 3)], (2, 3)).unwrap(), (6, 12));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Axpby {
    /// Scale of X.
    pub alpha: f64,
    /// Scale of the previous output.
    pub beta: f64,
}

impl KernelSpec for Axpby {
    const LABEL: &'static str = "axpby";
    const ARITY: usize = 1;
    fn scalars(&self) -> Vec<f64> {
        vec![self.alpha, self.beta]
    }
    fn cost(&self, inputs: &[(usize, usize)], out: (usize, usize)) -> Result<(u64, u64), String> {
        if inputs[0] != out {
            return Err("X and out of equal shape".into());
        }
        let (m, n) = (Sat::of(out.0), Sat::of(out.1));
        let flops = if self.beta != 0.0 { 3 } else { 1 } * m * n;
        Ok((flops.0, (2 * m * n + reads_out(self.beta, m, n)).0))
    }
    fn describe(&self) -> String {
        format!("axpby{}", ab(self.alpha, self.beta))
    }
}
