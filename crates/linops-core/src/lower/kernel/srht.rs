//! `srht`: the subsampled randomized Hadamard transform in one pass; inputs `[idx, signs, X]`.
//!
//! With `H_N` the orthonormal Walsh–Hadamard transform of length `N` (a power of two), `D =
//! diag(signs)` (`m` entries), `P` the zero padding of `m` rows to `N` and `G_idx` the row gather
//! `(G_idx·Z)[i, :] = Z[idx[i], :]` (a zero row where `idx[i]` is out of range):
//!
//! - `transposed = false`: `out = alpha·G_idx·H_N·P·D·X + beta·out`, `X` of `m×b`, `idx` and `out`
//!   of `d` rows, `N` the next power of two `≥ max(m, d)` (the sketch `S·X`);
//! - `transposed = true`: `out = alpha·D·Pᵀ·H_N·G_idx·Y + beta·out`, `Y` of `d×b`, `idx` of `N`
//!   rows (the inverse sample map, a power of two `≥ m`) and `out` of `m` rows (`Sᵀ·Y`).
//!
//! One pass: each column of the input is read once, transformed in a column-sized buffer (CPU) or
//! in workgroup memory (GPU, `N` up to its capacity) and written once. Cost: `N·log₂N` additions
//! plus `m + rows(out)` multiplies per column; elements moved: the input, the output (twice with
//! `beta ≠ 0`) and the `m` signs.

use super::{KernelSpec, Sat, ab, reads_out};

/// Arguments of a fused SRHT step; see the module docs.
///
/// # Examples
/// ```
/// use linops_core::plan::{KernelSpec, kernel::Srht};
/// let k = Srht { alpha: 1.0, beta: 0.0, transposed: false };
/// assert!(k.cost(&[(3, 1), (6, 1), (6, 2)], (3, 2)).is_ok());
/// assert!(k.cost(&[(3, 1), (5, 1), (6, 2)], (3, 2)).is_err()); // 6 rows, 5 signs
/// let t = Srht { transposed: true, ..k };
/// assert!(t.cost(&[(8, 1), (6, 1), (3, 2)], (6, 2)).is_ok());
/// assert!(t.cost(&[(6, 1), (6, 1), (3, 2)], (6, 2)).is_err()); // map of 6 entries, not 2^k
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Srht {
    /// Scale of the transform (the SRHT's `√(N/d)` rides on it).
    pub alpha: f64,
    /// Scale of the previous output.
    pub beta: f64,
    /// `Sᵀ·Y` (gather, transform, signs) instead of `S·X` (signs, transform, gather).
    pub transposed: bool,
}

impl Srht {
    /// The transform length `N` for these shapes, or why they do not fit.
    ///
    /// # Errors
    /// A description of the shapes expected (see [`KernelSpec::cost`]).
    ///
    /// # Examples
    /// ```
    /// use linops_core::plan::kernel::Srht;
    /// let k = Srht { alpha: 1.0, beta: 0.0, transposed: false };
    /// assert_eq!(k.length(&[(3, 1), (6, 1), (6, 2)], (3, 2)), Ok(8));
    /// ```
    pub fn length(&self, inputs: &[(usize, usize)], out: (usize, usize)) -> Result<usize, String> {
        let (idx, signs, x) = (inputs[0], inputs[1], inputs[2]);
        let (m, n) = if self.transposed {
            (out.0, idx.0)
        } else {
            (x.0, x.0.max(out.0).checked_next_power_of_two().unwrap_or(0))
        };
        let ok = x.1 == out.1
            && signs == (m, 1)
            && idx.1 == 1
            && n.is_power_of_two()
            && n >= m
            && if self.transposed {
                n >= x.0
            } else {
                idx.0 == out.0
            };
        if ok {
            return Ok(n);
        }
        Err(if self.transposed {
            format!(
                "an index map of N = 2^k ≥ max(rows(out), rows(Y)) entries, {} signs (rows of \
                 out) and Y with {} columns",
                out.0, out.1
            )
        } else {
            format!(
                "{} indices (rows of out), {} signs (rows of X) and X with {} columns",
                out.0, x.0, out.1
            )
        })
    }
}

impl KernelSpec for Srht {
    const LABEL: &'static str = "srht";
    const ARITY: usize = 3;
    const INDEX_INPUTS: &'static [usize] = &[0];
    fn scalars(&self) -> Vec<f64> {
        vec![self.alpha, self.beta]
    }
    fn cost(&self, inputs: &[(usize, usize)], out: (usize, usize)) -> Result<(u64, u64), String> {
        let big = self.length(inputs, out)?;
        let (x, signs) = (inputs[2], inputs[1]);
        let (m_out, b) = (Sat::of(out.0), Sat::of(out.1));
        let nn = Sat::of(big);
        let log = Sat(u64::from(big.trailing_zeros()));
        let update = if self.beta != 0.0 { 2 * m_out } else { Sat(0) };
        let flops = b * (nn * log + Sat::of(signs.0) + m_out + update);
        let moved =
            Sat::of(x.0) * b + m_out * b + Sat::of(signs.0) + reads_out(self.beta, m_out, b);
        Ok((flops.0, moved.0))
    }
    fn describe(&self) -> String {
        let t = if self.transposed { " transposed" } else { "" };
        format!("srht{t}{}", ab(self.alpha, self.beta))
    }
}
