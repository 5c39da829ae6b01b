//! `fwht`: orthonormal Walsh–Hadamard transform of each column; inputs `[X]`.
//!
//! With `N = max(rows(X), rows(out))` (a power of two), `out = alpha·Pₒᵀ·H_N·Pₓ·X + beta·out`
//! where `Pₓ` zero-pads X to `N` rows and `Pₒᵀ` keeps the first `rows(out)` rows. Cost:
//! `N·log₂N` additions per column, one scaling per kept row, plus the `beta` update.

use super::{KernelSpec, Sat, ab, reads_out};

/// Arguments of a Walsh–Hadamard step; see the module docs.
///
/// # Examples
/// ```
/// use linops_core::plan::{KernelSpec, kernel::Fwht};
/// assert!(Fwht { alpha: 1.0, beta: 0.0 }.cost(&[(3, 2)], (4, 2)).is_ok());
/// assert!(Fwht { alpha: 1.0, beta: 0.0 }.cost(&[(3, 2)], (3, 2)).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fwht {
    /// Scale of the transform.
    pub alpha: f64,
    /// Scale of the previous output.
    pub beta: f64,
}

impl KernelSpec for Fwht {
    const LABEL: &'static str = "fwht";
    const ARITY: usize = 1;
    fn scalars(&self) -> Vec<f64> {
        vec![self.alpha, self.beta]
    }
    fn cost(&self, inputs: &[(usize, usize)], out: (usize, usize)) -> Result<(u64, u64), String> {
        let x = inputs[0];
        let big = x.0.max(out.0);
        if x.1 != out.1 || !big.is_power_of_two() {
            return Err(format!(
                "X and out with equal columns and max(rows) a power of two (X {}x{})",
                x.0, out.1
            ));
        }
        let (m, n) = (Sat::of(out.0), Sat::of(out.1));
        let nn = Sat::of(big);
        let log = Sat(u64::from(big.trailing_zeros()));
        let update = if self.beta != 0.0 { 2 * m } else { Sat(0) };
        let flops = n * (nn * log + m + update);
        Ok((
            flops.0,
            (Sat::of(x.0) * n + m * n + reads_out(self.beta, m, n)).0,
        ))
    }
    fn describe(&self) -> String {
        format!("fwht{}", ab(self.alpha, self.beta))
    }
}
