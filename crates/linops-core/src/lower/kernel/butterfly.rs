//! `butterfly`: several consecutive factors of a block butterfly matrix in one pass; inputs
//! `[T, X]`.
//!
//! `T` holds the twiddles of all `L` factors, `2·n·b × L` (factor `f` in column `f`, laid out as
//! in [`crate::op::BlockButterfly`]: pair `j` of factor `f` stores its four `b×b` blocks
//! `D₁, D₂, D₃, D₄` row-major at `j·4b²`). With `m = n/b` block-rows, factor `f` (`B_{2^{f+1}}`)
//! couples block-row `R` (bit `f` clear) with `R + 2^f`:
//! `(x_R, x_{R+2^f}) ↦ (D₁·x_R + D₂·x_{R+2^f}, D₃·x_R + D₄·x_{R+2^f})`, where the pair index is
//! `j = (R >> (f+1))·2^f + (R mod 2^f)`.
//!
//! A step applies the factors `first, …, first + count − 1` (in that order; with `trans` it
//! applies their transposes in the reverse order, `first + count − 1` first), so
//! `out = alpha·B_{first+count−1} ⋯ B_{first}·X + beta·out` (`trans`: `alpha·B_firstᵀ ⋯ ·X + …`).
//! Those factors only mix block-rows that differ in bits `first … first+count−1`, so the rows
//! split into independent **groups** of `2^count` block-rows (`g = 2^count·b ≤`
//! [`Butterfly::MAX_GROUP`] elements): the group of block-row `R` is
//! `{(R mod 2^first) + t·2^first + (R >> (first+count))·2^(first+count) : t < 2^count}`. A backend
//! keeps one group of a column (or of a tile of columns) in fast memory (the CPU's L1/L2, the GPU's
//! workgroup memory: `MAX_GROUP` `f32` are the portable 16 KiB), applies every factor of the step
//! there, and touches `X` and `out` once.
//!
//! Cost for `B` columns: `count·(4b − 1)·n·B` FLOPs (each output of a factor: `2b` products and
//! `2b − 1` additions), plus `n·B` for `alpha` and `2·n·B` for a `beta` update; elements moved:
//! the step's `count·2nb` twiddles once, `X` once, `out` once (twice with `beta ≠ 0`).

use super::{KernelSpec, Sat, ab, reads_out};

/// Arguments of a multi-factor butterfly step; see the module docs.
///
/// # Examples
/// ```
/// use linops_core::plan::{KernelSpec, kernel::Butterfly};
/// // n = 8, b = 1: three factors, twiddles 16 × 3; one pass over factors 0 and 1.
/// let k = Butterfly { block: 1, first: 0, count: 2, trans: false, alpha: 1.0, beta: 0.0 };
/// assert_eq!(k.cost(&[(16, 3), (8, 5)], (8, 5)).unwrap().0, 2 * 3 * 8 * 5 + 8 * 5);
/// assert!(k.cost(&[(16, 2), (8, 5)], (8, 5)).is_err()); // 8 rows need 3 factors
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Butterfly {
    /// Block size `b` (1 for the butterfly of 2×2 blocks).
    pub block: usize,
    /// First factor of the step (`0` is `B_2`, applied first in `B·X`).
    pub first: usize,
    /// Number of consecutive factors (`≥ 1`).
    pub count: usize,
    /// Apply `(B_{first+count−1} ⋯ B_first)ᵀ` instead.
    pub trans: bool,
    /// Scale of the product.
    pub alpha: f64,
    /// Scale of the previous output.
    pub beta: f64,
}

impl Butterfly {
    /// Most elements of one group (`2^count·b`): `4096` `f32` are 16 KiB, the WebGPU minimum of
    /// workgroup memory, and `4096·16` lanes of `f64` (512 KiB) a CPU core's L2.
    pub const MAX_GROUP: usize = 4096;

    /// Elements of one group of this step (`2^count·b`, saturating).
    ///
    /// # Examples
    /// ```
    /// use linops_core::plan::kernel::Butterfly;
    /// let k = Butterfly { block: 4, first: 1, count: 3, trans: true, alpha: 1.0, beta: 0.0 };
    /// assert_eq!(k.group(), 32);
    /// ```
    pub fn group(&self) -> usize {
        1usize
            .checked_shl(self.count as u32)
            .filter(|_| self.count < usize::BITS as usize)
            .and_then(|g| g.checked_mul(self.block))
            .unwrap_or(usize::MAX)
    }
}

impl KernelSpec for Butterfly {
    const LABEL: &'static str = "butterfly";
    const ARITY: usize = 2;
    fn scalars(&self) -> Vec<f64> {
        vec![self.alpha, self.beta]
    }
    fn cost(&self, inputs: &[(usize, usize)], out: (usize, usize)) -> Result<(u64, u64), String> {
        let (t, x) = (inputs[0], inputs[1]);
        let (n, b) = (x.0, self.block);
        let m = n.checked_div(b).unwrap_or(0);
        let levels = if m.is_power_of_two() {
            m.trailing_zeros() as usize
        } else {
            0
        };
        let fits = b >= 1
            && n % b == 0
            && levels >= 1
            && self.count >= 1
            && self
                .first
                .checked_add(self.count)
                .is_some_and(|e| e <= levels)
            && self.group() <= Self::MAX_GROUP
            && n.checked_mul(2 * b) == Some(t.0)
            && t.1 == levels
            && out == x;
        if !fits {
            return Err(format!(
                "X and out of n rows with n/b = n/{b} a power of two ≥ 2 (L factors), twiddles of \
                 2·n·b × L, factors {}..{} within 0..L, and a group of 2^count·b ≤ {} elements",
                self.first,
                self.first.saturating_add(self.count),
                Self::MAX_GROUP
            ));
        }
        let (nn, cols) = (Sat::of(n), Sat::of(x.1));
        let per = Sat::of(4 * b - 1) * Sat::of(self.count);
        let update = if self.beta != 0.0 { 2 * nn } else { Sat(0) };
        let flops = cols * (per * nn + nn + update);
        let twiddles = Sat::of(self.count) * Sat::of(t.0);
        let moved = twiddles + nn * cols + nn * cols + reads_out(self.beta, nn, cols);
        Ok((flops.0, moved.0))
    }
    fn describe(&self) -> String {
        let last = self.first + self.count - 1;
        let (from, to) = if self.trans {
            (last, self.first)
        } else {
            (self.first, last)
        };
        format!(
            "butterfly b={} factors {from}→{to}{} (one pass, groups of {})",
            self.block,
            if self.trans { " T" } else { "" },
            self.group()
        ) + &ab(self.alpha, self.beta)
    }
}
