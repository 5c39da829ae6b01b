//! `transpose`: `out = Xᵀ`; inputs `[X]`. Cost: no FLOPs, one read and one write per element.

use super::{KernelSpec, Sat};

/// The transpose step (no arguments).
///
/// # Examples
/// ```
/// use linops_core::plan::{KernelSpec, kernel::Transpose};
/// assert!(Transpose.cost(&[(2, 3)], (3, 2)).is_ok());
/// assert!(Transpose.cost(&[(2, 3)], (2, 3)).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transpose;

impl KernelSpec for Transpose {
    const LABEL: &'static str = "transpose";
    const ARITY: usize = 1;
    fn scalars(&self) -> Vec<f64> {
        Vec::new()
    }
    fn cost(&self, inputs: &[(usize, usize)], out: (usize, usize)) -> Result<(u64, u64), String> {
        if inputs[0] != (out.1, out.0) {
            return Err(format!("X of {}x{}", out.1, out.0));
        }
        Ok((0, (2 * Sat::of(out.0) * Sat::of(out.1)).0))
    }
    fn describe(&self) -> String {
        "transpose".into()
    }
}
