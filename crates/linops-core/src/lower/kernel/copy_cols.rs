//! `copy_cols`: column-block copy `out[:, offset..offset + cols(X)] = X`; inputs `[X]`.
//!
//! `rows(X) = rows(out)`. The other columns of `out` are left as they are, so copies into
//! disjoint blocks concatenate matrices. Cost: no FLOPs, one read and one write per element.

use super::{KernelSpec, Sat};

/// Arguments of a column-block copy; see the module docs.
///
/// # Examples
/// ```
/// use linops_core::plan::{KernelSpec, kernel::CopyCols};
/// assert!(CopyCols { offset: 2 }.cost(&[(4, 3)], (4, 5)).is_ok());
/// assert!(CopyCols { offset: 3 }.cost(&[(4, 3)], (4, 5)).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CopyCols {
    /// First column of `out` written.
    pub offset: usize,
}

impl KernelSpec for CopyCols {
    const LABEL: &'static str = "copy_cols";
    const ARITY: usize = 1;
    fn scalars(&self) -> Vec<f64> {
        Vec::new()
    }
    fn cost(&self, inputs: &[(usize, usize)], out: (usize, usize)) -> Result<(u64, u64), String> {
        let x = inputs[0];
        if x.0 != out.0 || self.offset.checked_add(x.1).is_none_or(|end| end > out.1) {
            return Err(format!(
                "X of {} rows whose {} columns fit out from column {}",
                out.0, x.1, self.offset
            ));
        }
        Ok((0, (2 * Sat::of(x.0) * Sat::of(x.1)).0))
    }
    fn describe(&self) -> String {
        format!("copy_cols at column {}", self.offset)
    }
    fn written(&self, inputs: &[(usize, usize)], _out: (usize, usize)) -> u64 {
        (Sat::of(inputs[0].0) * Sat::of(inputs[0].1)).0
    }
}
