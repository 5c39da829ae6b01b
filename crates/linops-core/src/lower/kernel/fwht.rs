//! `fwht`: orthonormal Walsh–Hadamard transform of each column; inputs `[X]`.
//!
//! With `N = max(rows(X), rows(out))` (a power of two), `out = alpha·Pₒᵀ·H_N·Pₓ·X + beta·out`
//! where `Pₓ` zero-pads X to `N` rows and `Pₒᵀ` keeps the first `rows(out)` rows. Cost:
//! `N·log₂N` additions per column, one scaling per kept row, plus the `beta` update.
//!
//! `fwht_base` ([`FwhtBase`]): the transform of length `n = m·2^k`, `m ∈ {12, 20, 28}`, inputs
//! `[A, X]` with `A` the `m×m` `±1` base matrix: `(A ⊗ S_{2^k})/√n` in one pass per column.

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

/// Arguments of a Walsh–Hadamard step of length `n = m·2^k` (`fwht_base`); inputs `[A, X]`.
///
/// `A` is the `m×m` `±1` base matrix ([`crate::op::hadamard_base`]), `X` and `out` have `n`
/// rows. `out = alpha/√n · (op(A) ⊗ S_{2^k})·X + beta·out` with `S` the unnormalized Sylvester
/// matrix and `op(A) = Aᵀ` when `trans`: per column, the transform of each of the `m`
/// contiguous blocks of `2^k` entries, then the `±1` mix across blocks,
/// `y[a·2^k + b] = Σ_{a'} op(A)[a, a']·z[a'·2^k + b]`, in one pass over the column. Cost:
/// `n·log₂(2^k) + m·n` additions and `n` scalings per column; elements moved `m² + 2·n·B` (plus
/// `n·B` for `beta ≠ 0`): the operator's minimum.
///
/// # Examples
/// ```
/// use linops_core::plan::{KernelSpec, kernel::FwhtBase};
/// let k = FwhtBase { trans: false, alpha: 1.0, beta: 0.0 };
/// assert!(k.cost(&[(12, 12), (48, 3)], (48, 3)).is_ok());
/// assert!(k.cost(&[(12, 12), (36, 3)], (36, 3)).is_err()); // 36 / 12 = 3 is no power of two
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FwhtBase {
    /// Use `Aᵀ` (the transpose of the operator).
    pub trans: bool,
    /// Scale of the transform (the kernel applies `alpha/√n`).
    pub alpha: f64,
    /// Scale of the previous output.
    pub beta: f64,
}

impl KernelSpec for FwhtBase {
    const LABEL: &'static str = "fwht_base";
    const ARITY: usize = 2;
    fn scalars(&self) -> Vec<f64> {
        vec![self.alpha, self.beta]
    }
    fn cost(&self, inputs: &[(usize, usize)], out: (usize, usize)) -> Result<(u64, u64), String> {
        let (a, x) = (inputs[0], inputs[1]);
        let m = a.0;
        let fits =
            m > 0 && a.1 == m && x == out && x.0.is_multiple_of(m) && (x.0 / m).is_power_of_two();
        if !fits {
            return Err(format!(
                "A square (m×m), X and out of equal shape with rows m·2^k (A {}x{}, X {}x{})",
                a.0, a.1, x.0, x.1
            ));
        }
        let (n, cols) = (Sat::of(out.0), Sat::of(out.1));
        let log = Sat(u64::from((out.0 / m).trailing_zeros()));
        let update = if self.beta != 0.0 { 2 * n } else { Sat(0) };
        let flops = cols * (n * log + Sat::of(m) * n + n + update);
        let moved = Sat::of(m) * Sat::of(m) + n * cols + n * cols + reads_out(self.beta, n, cols);
        Ok((flops.0, moved.0))
    }
    fn describe(&self) -> String {
        format!(
            "fwht_base{}{}",
            if self.trans { " T" } else { "" },
            ab(self.alpha, self.beta)
        )
    }
}
