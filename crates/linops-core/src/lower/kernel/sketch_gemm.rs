//! `sketch_gemm`: `out = alpha·op(G)·X + beta·out` with `G` a random matrix generated on the fly.
//!
//! `G` is the `rows×cols` random matrix of `dist` under `rng` (the Philox matrix layout of
//! [`crate::rng`]), never stored; `op(G) = Gᵀ` when `trans`. Inputs `[X]`. Cost: `2·m·n·k` FLOPs
//! plus the generation of `G`'s entries; moves X and `out` only.

use super::{KernelSpec, Sat, ab, reads_out};
use crate::rng::{Dist, RngState};

/// Arguments of a generated-sketch GEMM step; see the module docs.
///
/// # Examples
/// ```
/// use linops_core::plan::{KernelSpec, kernel::SketchGemm};
/// use linops_core::rng::{Dist, RngState};
/// let k = SketchGemm { dist: Dist::Gaussian, rng: RngState::new(1), rows: 3, cols: 5,
///     trans: false, alpha: 1.0, beta: 0.0 };
/// assert!(k.cost(&[(5, 2)], (3, 2)).is_ok());
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SketchGemm {
    /// Entry distribution of `G`.
    pub dist: Dist,
    /// Generator state of `G`.
    pub rng: RngState,
    /// Rows of `G`.
    pub rows: usize,
    /// Columns of `G`.
    pub cols: usize,
    /// Use `Gᵀ`.
    pub trans: bool,
    /// Scale of the product (a sketch's `1/√d` is folded in here).
    pub alpha: f64,
    /// Scale of the previous output.
    pub beta: f64,
}

impl KernelSpec for SketchGemm {
    const LABEL: &'static str = "sketch_gemm";
    const ARITY: usize = 1;
    fn scalars(&self) -> Vec<f64> {
        vec![self.alpha, self.beta]
    }
    fn cost(&self, inputs: &[(usize, usize)], out: (usize, usize)) -> Result<(u64, u64), String> {
        let (gm, gk) = if self.trans {
            (self.cols, self.rows)
        } else {
            (self.rows, self.cols)
        };
        if inputs[0] != (gk, out.1) || out.0 != gm {
            return Err(format!(
                "op(G) {gm}x{gk} · X {gk}x{} into {gm}x{}",
                out.1, out.1
            ));
        }
        let (m, n, k) = (Sat::of(out.0), Sat::of(out.1), Sat::of(gk));
        Ok((
            (2 * m * n * k).0,
            (k * n + m * n + reads_out(self.beta, m, n)).0,
        ))
    }
    fn describe(&self) -> String {
        let t = if self.trans { "T" } else { "N" };
        format!(
            "sketch_gemm {:?} {t}{}",
            self.dist,
            ab(self.alpha, self.beta)
        )
    }
}
