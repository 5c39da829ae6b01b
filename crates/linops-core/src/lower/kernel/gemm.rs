//! `gemm`: `out = alpha·op(A)·op(B) + beta·out`; inputs `[A, B]`.
//!
//! `op(M) = Mᵀ` when `trans_*`. `beta == 0` never reads `out`, and `alpha == 0` never forms the
//! product (BLAS semantics: `out = beta·out`, zeros when `beta == 0`, even where `op(A)·op(B)`
//! would overflow). Cost: `2·m·n·k` FLOPs; reads A, B (and `out` when `beta ≠ 0`), writes `out`.

use super::{KernelSpec, Sat, ab, reads_out};

/// Arguments of a dense GEMM step; see the module docs.
///
/// # Examples
/// ```
/// use linops_core::plan::{KernelSpec, kernel::Gemm};
/// let k = Gemm { trans_a: true, trans_b: false, alpha: 1.0, beta: 0.0 };
/// assert_eq!(k.cost(&[(3, 4), (3, 2)], (4, 2)).unwrap().0, 2 * 4 * 2 * 3);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gemm {
    /// Use `Aᵀ`.
    pub trans_a: bool,
    /// Use `Bᵀ`.
    pub trans_b: bool,
    /// Scale of the product.
    pub alpha: f64,
    /// Scale of the previous output.
    pub beta: f64,
}

impl KernelSpec for Gemm {
    const LABEL: &'static str = "gemm";
    const ARITY: usize = 2;
    fn scalars(&self) -> Vec<f64> {
        vec![self.alpha, self.beta]
    }
    fn cost(&self, inputs: &[(usize, usize)], out: (usize, usize)) -> Result<(u64, u64), String> {
        let (a, b) = (inputs[0], inputs[1]);
        let (am, ak) = if self.trans_a { (a.1, a.0) } else { a };
        let (bk, bn) = if self.trans_b { (b.1, b.0) } else { b };
        if am != out.0 || bn != out.1 || ak != bk {
            return Err(format!(
                "op(A) {}x{ak} · op(B) {ak}x{} into {}x{}",
                out.0, out.1, out.0, out.1
            ));
        }
        let (m, n, k) = (Sat::of(out.0), Sat::of(out.1), Sat::of(ak));
        let moved = m * k + k * n + m * n + reads_out(self.beta, m, n);
        Ok(((2 * m * n * k).0, moved.0))
    }
    fn describe(&self) -> String {
        let t = |x: bool| if x { "T" } else { "N" };
        format!(
            "gemm {}{}{}",
            t(self.trans_a),
            t(self.trans_b),
            ab(self.alpha, self.beta)
        )
    }
}
