//! `gemm_diag`: `out = alpha·(A·B + diag(d)·X) + beta·out`; inputs `[A, B, d, X]`.
//!
//! A GEMM whose epilogue adds a diagonal times a matrix of the output's shape before the
//! `alpha`/`beta` update: the second pass of diagonal-plus-low-rank, `(D + U·Vᵀ)·X = U·T + D·X`
//! with `T = Vᵀ·X`, which as a `diag_scale` followed by an accumulating GEMM writes `out`, then
//! reads and rewrites it. `A` is m×k, `B` k×n, `d` m×1, `X` and `out` m×n (no transposes: a
//! transposed operator swaps the factors it passes as `A`). Each entry is
//! `alpha·((A·B)[i, j] + d[i]·X[i, j]) + beta·out[i, j]`, the dot product summed as the backend's
//! GEMM sums it. `beta == 0` never reads `out`, and `alpha == 0` forms neither term (BLAS
//! semantics: `out = beta·out`, zeros when `beta == 0`). Cost: `2·m·n·k + 2·m·n` FLOPs; reads
//! A, B, d, X (and `out` when `beta ≠ 0`), writes `out`.

use super::{KernelSpec, Sat, ab, reads_out};

/// Arguments of a GEMM step with a diagonal-times-matrix epilogue; see the module docs.
///
/// # Examples
/// ```
/// use linops_core::plan::{KernelSpec, kernel::GemmDiag};
/// let k = GemmDiag { alpha: 1.0, beta: 0.0 };
/// // A 5×2, B 2×3, d 5×1, X 5×3 into 5×3.
/// let (flops, moved) = k.cost(&[(5, 2), (2, 3), (5, 1), (5, 3)], (5, 3)).unwrap();
/// assert_eq!(flops, 2 * 5 * 3 * 2 + 2 * 5 * 3);
/// assert_eq!(moved, 5 * 2 + 2 * 3 + 5 + 2 * 5 * 3);
/// assert!(k.cost(&[(5, 2), (2, 3), (4, 1), (5, 3)], (5, 3)).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GemmDiag {
    /// Scale of `A·B + diag(d)·X`.
    pub alpha: f64,
    /// Scale of the previous output.
    pub beta: f64,
}

impl KernelSpec for GemmDiag {
    const LABEL: &'static str = "gemm_diag";
    const ARITY: usize = 4;
    fn scalars(&self) -> Vec<f64> {
        vec![self.alpha, self.beta]
    }
    fn cost(&self, inputs: &[(usize, usize)], out: (usize, usize)) -> Result<(u64, u64), String> {
        let (a, b, d, x) = (inputs[0], inputs[1], inputs[2], inputs[3]);
        let (m, n) = out;
        if a.0 != m || b != (a.1, n) || d != (m, 1) || x != out {
            return Err(format!(
                "A {m}xk, B kx{n}, d {m}x1 and X {m}x{n} into {m}x{n}"
            ));
        }
        let (m, n, k) = (Sat::of(m), Sat::of(n), Sat::of(a.1));
        // Two multiplies per entry for alpha·(… + d·x) (four with beta), plus the GEMM's.
        let per_entry = if self.beta != 0.0 { 4 } else { 2 };
        let flops = 2 * m * n * k + per_entry * m * n;
        let moved = m * k + k * n + m + 2 * m * n + reads_out(self.beta, m, n);
        Ok((flops.0, moved.0))
    }
    fn describe(&self) -> String {
        format!("gemm_diag{}", ab(self.alpha, self.beta))
    }
}
