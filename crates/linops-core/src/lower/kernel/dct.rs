//! `dct`: orthonormal DCT-II of each column (`inverse`: its transpose, the DCT-III).
//!
//! `out = alpha·C·X + beta·out` (or `Cᵀ`); inputs `[X, table]` with `table` the `n×4` twiddle
//! table of [`crate::op::Dct`]. Cost: the conventional `5·n·⌈log₂n⌉` of a complex FFT, `4n` for
//! the rotation and scaling, plus the `beta` update, per column.

use super::{KernelSpec, Sat, ab, reads_out};

/// Arguments of a DCT step; see the module docs.
///
/// # Examples
/// ```
/// use linops_core::plan::{KernelSpec, kernel::Dct};
/// assert!(Dct { inverse: false, alpha: 1.0, beta: 0.0 }.cost(&[(8, 2), (8, 4)], (8, 2)).is_ok());
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dct {
    /// Apply the DCT-III (`Cᵀ = C⁻¹`) instead of the DCT-II.
    pub inverse: bool,
    /// Scale of the transform.
    pub alpha: f64,
    /// Scale of the previous output.
    pub beta: f64,
}

impl KernelSpec for Dct {
    const LABEL: &'static str = "dct";
    const ARITY: usize = 2;
    fn scalars(&self) -> Vec<f64> {
        vec![self.alpha, self.beta]
    }
    fn cost(&self, inputs: &[(usize, usize)], out: (usize, usize)) -> Result<(u64, u64), String> {
        let (x, table) = (inputs[0], inputs[1]);
        if x != out || table != (out.0, 4) {
            return Err(format!(
                "X {}x{} and a twiddle table {}x4",
                out.0, out.1, out.0
            ));
        }
        let (m, n) = (Sat::of(out.0), Sat::of(out.1));
        let log = Sat(u64::from(
            out.0
                .checked_next_power_of_two()
                .map_or(usize::BITS, usize::trailing_zeros),
        ));
        let update = if self.beta != 0.0 { 2 * m } else { Sat(0) };
        let flops = n * (5 * m * log + 4 * m + update);
        Ok((flops.0, (2 * m * n + 4 * m + reads_out(self.beta, m, n)).0))
    }
    fn describe(&self) -> String {
        let name = if self.inverse { "dct-iii" } else { "dct-ii" };
        format!("{name}{}", ab(self.alpha, self.beta))
    }
}
