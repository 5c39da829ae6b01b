//! `random_fill`: `out = alpha·op(G)` with `G` a Philox random matrix; no inputs.
//!
//! `G` is the `rows×cols` random matrix of `dist` under `rng` (the Philox matrix layout of
//! [`crate::rng`]), `op(G) = Gᵀ` when `trans`. Entry `(i, j)` of `op(G)` is `alpha` times the
//! generated value rounded to the plan's dtype, the same bits as [`super::SketchGemm`] applied to
//! an identity. Cost: one Philox block (about 40 integer operations) per four entries, one
//! scaling per entry; writes `out`.

use super::{KernelSpec, Sat, ab};
use crate::rng::{Dist, RngState};

/// Arguments of a random fill; see the module docs.
///
/// # Examples
/// ```
/// use linops_core::plan::{KernelSpec, kernel::RandomFill};
/// use linops_core::rng::{Dist, RngState};
/// let k = RandomFill { dist: Dist::Gaussian, rng: RngState::new(1), rows: 3, cols: 5,
///     trans: true, alpha: 1.0 };
/// assert!(k.cost(&[], (5, 3)).is_ok());
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RandomFill {
    /// Entry distribution of `G`.
    pub dist: Dist,
    /// Generator state of `G`.
    pub rng: RngState,
    /// Rows of `G`.
    pub rows: usize,
    /// Columns of `G`.
    pub cols: usize,
    /// Fill with `Gᵀ`.
    pub trans: bool,
    /// Scale of every entry.
    pub alpha: f64,
}

impl KernelSpec for RandomFill {
    const LABEL: &'static str = "random_fill";
    const ARITY: usize = 0;
    fn scalars(&self) -> Vec<f64> {
        vec![self.alpha]
    }
    fn cost(&self, _: &[(usize, usize)], out: (usize, usize)) -> Result<(u64, u64), String> {
        let want = if self.trans {
            (self.cols, self.rows)
        } else {
            (self.rows, self.cols)
        };
        if out != want {
            return Err(format!("op(G) of {}x{}", want.0, want.1));
        }
        let len = Sat::of(out.0) * Sat::of(out.1);
        Ok(((11 * len).0, len.0))
    }
    fn describe(&self) -> String {
        let t = if self.trans { "T" } else { "N" };
        format!("random_fill {:?} {t}{}", self.dist, ab(self.alpha, 0.0))
    }
}
