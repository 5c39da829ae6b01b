//! `col_norms`: `out[0, j] = ‖X[:, j]‖₂`, overflow- and underflow-safe; inputs `[X]`.
//!
//! A representable norm is returned even when its squares are not. `out` is a `1×cols(X)` row.
//! Cost: a max pass, then a scaled square and add per entry (about four FLOPs per entry).

use super::{KernelSpec, Sat};

/// The column-norm step (no arguments).
///
/// # Examples
/// ```
/// use linops_core::plan::{KernelSpec, kernel::ColNorms};
/// assert!(ColNorms.cost(&[(5, 3)], (1, 3)).is_ok());
/// assert!(ColNorms.cost(&[(5, 3)], (3, 1)).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ColNorms;

impl KernelSpec for ColNorms {
    const LABEL: &'static str = "col_norms";
    const ARITY: usize = 1;
    fn scalars(&self) -> Vec<f64> {
        Vec::new()
    }
    fn cost(&self, inputs: &[(usize, usize)], out: (usize, usize)) -> Result<(u64, u64), String> {
        let x = inputs[0];
        if out != (1, x.1) {
            return Err(format!("out 1x{} (one entry per column of X)", x.1));
        }
        let len = Sat::of(x.0) * Sat::of(x.1);
        Ok(((4 * len).0, (len + Sat::of(x.1)).0))
    }
    fn describe(&self) -> String {
        "col_norms".into()
    }
}
