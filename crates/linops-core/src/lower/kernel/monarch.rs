//! `monarch`: a whole Monarch product `out = alpha·op(P_out·L·P_mid·R)·X + beta·out` in one
//! pass; inputs `[L, R, X]`.
//!
//! `L` holds `b₂` blocks of `s×b₁` side by side (`s × b₁·b₂`, block `l` in columns
//! `l·b₁..(l+1)·b₁`), `R` holds `b₁` blocks of `b₂×p` (`b₂ × p·b₁`): the parameter layouts of the
//! two [`BlockGemm`](super::BlockGemm) steps it replaces, so the shapes alone give
//! `b₂ = rows(R)`, `b₁ = cols(L)/b₂`, `p = cols(R)/b₁`, `s = rows(L)`. Without `trans`, `X` has
//! `n = b₁·p` rows and `out` `m = b₂·s`: per column, `T[t·b₂ + l] = (R_t·x_t)[l]`, then
//! `y[σ·b₂ + l] = Σ_t L_l[σ, t]·T[t·b₂ + l]`; with `trans` the transpose (`X` of `m` rows,
//! `out` of `n`). The `b₁·b₂` intermediate of a column stays in cache / workgroup memory.
//! Cost: `2·b₁·b₂·(p + s)` FLOPs per column (as the two block GEMMs); elements moved: the
//! parameters once, `X` once, `out` once (plus `out` read when `beta ≠ 0`): the operator's
//! minimum. Which path a plan takes is the cost model's choice (`plan::cost`, `Monarch`).

use super::{KernelSpec, Sat, ab, reads_out};

/// Arguments of a fused Monarch step; see the module docs.
///
/// # Examples
/// ```
/// use linops_core::plan::{KernelSpec, kernel::Monarch};
/// let k = Monarch { trans: false, alpha: 1.0, beta: 0.0 };
/// // Square n = 16: 4 blocks of 4×4 in L (4 × 16) and R (4 × 16).
/// let (flops, moved) = k.cost(&[(4, 16), (4, 16), (16, 3)], (16, 3)).unwrap();
/// assert_eq!((flops, moved), (2 * 4 * 4 * 8 * 3, 2 * 64 + 48 + 48));
/// assert!(k.cost(&[(4, 16), (4, 16), (15, 3)], (16, 3)).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Monarch {
    /// Apply the transpose.
    pub trans: bool,
    /// Scale of the product.
    pub alpha: f64,
    /// Scale of the previous output.
    pub beta: f64,
}

/// `(b₁, b₂, p, s)` of a Monarch step from the shapes of `L` and `R`, when they chain.
///
/// # Examples
/// ```
/// use linops_core::plan::kernel::monarch_dims;
/// assert_eq!(monarch_dims((5, 6), (2, 9)), Some((3, 2, 3, 5)));
/// assert_eq!(monarch_dims((5, 7), (2, 9)), None);
/// ```
pub fn monarch_dims(l: (usize, usize), r: (usize, usize)) -> Option<(usize, usize, usize, usize)> {
    let (s, b2) = (l.0, r.0);
    if s == 0 || b2 == 0 || l.1 == 0 || !l.1.is_multiple_of(b2) {
        return None;
    }
    let b1 = l.1 / b2;
    if r.1 == 0 || !r.1.is_multiple_of(b1) {
        return None;
    }
    Some((b1, b2, r.1 / b1, s))
}

impl KernelSpec for Monarch {
    const LABEL: &'static str = "monarch";
    const ARITY: usize = 3;
    fn scalars(&self) -> Vec<f64> {
        vec![self.alpha, self.beta]
    }
    fn cost(&self, inputs: &[(usize, usize)], out: (usize, usize)) -> Result<(u64, u64), String> {
        let (l, r, x) = (inputs[0], inputs[1], inputs[2]);
        let expected = || {
            format!(
                "L (s × b1·b2) and R (b2 × p·b1) that chain, X of b1·p rows and out of b2·s \
                 rows (transposed: swapped), equal columns (L {}x{}, R {}x{})",
                l.0, l.1, r.0, r.1
            )
        };
        let (b1, b2, p, s) = monarch_dims(l, r).ok_or_else(expected)?;
        let (n, m) = (b1 * p, b2 * s);
        let (rows_in, rows_out) = if self.trans { (m, n) } else { (n, m) };
        if x.0 != rows_in || out.0 != rows_out || x.1 != out.1 {
            return Err(expected());
        }
        let cols = Sat::of(out.1);
        let (b1, b2, p, s) = (Sat::of(b1), Sat::of(b2), Sat::of(p), Sat::of(s));
        let mo = Sat::of(rows_out);
        let update = if self.beta != 0.0 { 2 * mo } else { Sat(0) };
        let flops = cols * (2 * b1 * b2 * (p + s) + update);
        let params = Sat::of(l.0) * Sat::of(l.1) + Sat::of(r.0) * Sat::of(r.1);
        let moved = params + Sat::of(x.0) * cols + mo * cols + reads_out(self.beta, mo, cols);
        Ok((flops.0, moved.0))
    }
    fn describe(&self) -> String {
        format!(
            "monarch fused{}{}",
            if self.trans { " T" } else { "" },
            ab(self.alpha, self.beta)
        )
    }
}
