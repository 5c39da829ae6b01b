//! `kronecker_gemm`: one factor of a Kronecker product applied to its mode of every column, with
//! no transpose of the data; inputs `[A, X]`.
//!
//! Each column of `X` (`s·d·w` rows) is a tensor `X[u, i, t]` (`u < s` fastest, then `i < d`,
//! then `t < w`; column-major: `u + s·i + s·d·t`), and each column of `out` (`s·m·w` rows) a
//! tensor `Y[u, k, t]`. With `op(A)` the `m×d` factor (`Aᵀ` when `trans`):
//!
//! ```text
//! Y[u, k, t] = alpha·Σ_i op(A)[k, i]·X[u, i, t] + beta·Y[u, k, t]
//! ```
//!
//! i.e. `out = alpha·(I_w ⊗ op(A) ⊗ I_s)·X + beta·out`. For `s = 1` every column is one GEMM
//! `op(A)·X_t` on a `d × w` view (`w` contiguous blocks); for `w = 1` it is `X·op(A)ᵀ` on an
//! `s × d` view. A product `A₁⊗…⊗A_k` is `k` such steps, each reading its input once and
//! writing its output once. Cost: `2·m·d·s·w` FLOPs per column (plus `beta`'s update); elements
//! moved: `A` once, `X` once, `out` once (twice with `beta ≠ 0`).

use super::{KernelSpec, Sat, ab, reads_out};

/// Arguments of a Kronecker mode-GEMM step; see the module docs.
///
/// # Examples
/// ```
/// use linops_core::plan::{KernelSpec, kernel::KroneckerGemm};
/// // I_2 ⊗ A ⊗ I_3 with A 4×5: X of 3·5·2 = 30 rows, out of 3·4·2 = 24.
/// let k = KroneckerGemm { inner: 3, trans: false, alpha: 1.0, beta: 0.0 };
/// assert_eq!(k.cost(&[(4, 5), (30, 7)], (24, 7)).unwrap().0, 2 * 4 * 5 * 3 * 2 * 7);
/// assert!(k.cost(&[(4, 5), (31, 7)], (24, 7)).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KroneckerGemm {
    /// `s`: the product of the sizes of the faster modes (`1` for the fastest mode).
    pub inner: usize,
    /// Use `Aᵀ`.
    pub trans: bool,
    /// Scale of the product.
    pub alpha: f64,
    /// Scale of the previous output.
    pub beta: f64,
}

impl KroneckerGemm {
    /// `(s, m, d, w)` of a step with inputs `[A, X]` writing `out`, when the shapes fit.
    ///
    /// # Examples
    /// ```
    /// use linops_core::plan::kernel::KroneckerGemm;
    /// let k = KroneckerGemm { inner: 1, trans: true, alpha: 1.0, beta: 0.0 };
    /// assert_eq!(k.dims((4, 5), (8, 2), (10, 2)), Some((1, 5, 4, 2)));
    /// ```
    pub fn dims(
        &self,
        a: (usize, usize),
        x: (usize, usize),
        out: (usize, usize),
    ) -> Option<(usize, usize, usize, usize)> {
        let (m, d) = if self.trans { (a.1, a.0) } else { a };
        let s = self.inner;
        let sd = s.checked_mul(d).filter(|&v| v > 0)?;
        if m == 0 || !x.0.is_multiple_of(sd) || x.1 != out.1 {
            return None;
        }
        let w = x.0 / sd;
        (s.checked_mul(m)?.checked_mul(w)? == out.0).then_some((s, m, d, w))
    }
}

impl KernelSpec for KroneckerGemm {
    const LABEL: &'static str = "kronecker_gemm";
    const ARITY: usize = 2;
    fn scalars(&self) -> Vec<f64> {
        vec![self.alpha, self.beta]
    }
    fn cost(&self, inputs: &[(usize, usize)], out: (usize, usize)) -> Result<(u64, u64), String> {
        let (a, x) = (inputs[0], inputs[1]);
        let Some((s, m, d, w)) = self.dims(a, x, out) else {
            let (m, d) = if self.trans { (a.1, a.0) } else { a };
            return Err(format!(
                "op(A) of m×d = {m}×{d}, X of s·d·w rows and out of s·m·w rows (s = {}), equal \
                 columns",
                self.inner
            ));
        };
        let (s, m, d, w) = (Sat::of(s), Sat::of(m), Sat::of(d), Sat::of(w));
        let (rows, cols) = (Sat::of(out.0), Sat::of(out.1));
        let update = if self.beta != 0.0 { 2 * rows } else { Sat(0) };
        let flops = cols * (2 * m * d * s * w + update);
        let moved = m * d + Sat::of(x.0) * cols + rows * cols + reads_out(self.beta, rows, cols);
        Ok((flops.0, moved.0))
    }
    fn describe(&self) -> String {
        format!(
            "kronecker_gemm {} mode stride {}",
            if self.trans { "T" } else { "N" },
            self.inner
        ) + &ab(self.alpha, self.beta)
    }
}
