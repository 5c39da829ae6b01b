//! `col_dots`: `out[0, j] = Σ_i X[i, j]·Y[i, j]`; inputs `[X, Y]` of equal shape.
//!
//! `out` is a `1×cols(X)` row. Cost: a multiply and an add per entry pair.

use super::{KernelSpec, Sat};

/// The column-dot step (no arguments).
///
/// # Examples
/// ```
/// use linops_core::plan::{KernelSpec, kernel::ColDots};
/// assert!(ColDots.cost(&[(5, 3), (5, 3)], (1, 3)).is_ok());
/// assert!(ColDots.cost(&[(5, 3), (3, 5)], (1, 3)).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ColDots;

impl KernelSpec for ColDots {
    const LABEL: &'static str = "col_dots";
    const ARITY: usize = 2;
    fn scalars(&self) -> Vec<f64> {
        Vec::new()
    }
    fn cost(&self, inputs: &[(usize, usize)], out: (usize, usize)) -> Result<(u64, u64), String> {
        let (x, y) = (inputs[0], inputs[1]);
        if out != (1, x.1) || y != x {
            return Err(format!("X and Y of equal shape and out 1x{}", x.1));
        }
        let len = Sat::of(x.0) * Sat::of(x.1);
        Ok(((2 * len).0, (2 * len + Sat::of(x.1)).0))
    }
    fn describe(&self) -> String {
        "col_dots".into()
    }
}
