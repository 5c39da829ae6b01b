//! Orthonormal Walsh–Hadamard transform leaf.
//!
//! Mathematics: for `n = 2^m`, `H_n[i, j] = (−1)^{popcount(i & j)} / √n` (Sylvester order). `H_n`
//! is symmetric and orthogonal (`H_nᵀ·H_n = I`), so it is its own transpose and its own inverse.
//! [`Hadamard::padded`] gives, for any `n ≥ 1`, the `N×n` operator `H_N·P` with `N` the next power
//! of two and `P` the `N×n` zero-padding (identity on the first `n` rows): an isometry onto its
//! range (`(H_N P)ᵀ(H_N P) = I_n`); its transpose `Pᵀ·H_N` transforms and keeps the first `n` rows.
//!
//! Storage: none (no parameters). Applied column by column by the fast transform
//! ([`crate::Kernel::Fwht`]): `N·log₂N` additions per column plus one scaling by `alpha/√N`, in
//! place on a contiguous column; never the dense matrix.

use super::LeafOp;
use crate::lower::kernel;
use crate::op::Lowering;
use crate::{BufId, Error, HostMat, Result};

/// The orthonormal Walsh–Hadamard transform, square (`n×n`, `n` a power of two) or zero-padding
/// (`N×n`).
///
/// # Examples
/// ```
/// use linops_core::{LeafOp, op::Hadamard};
/// let h = Hadamard::new(4).unwrap();
/// assert_eq!(h.shape(), (4, 4));
/// assert_eq!(h.to_dense().get(3, 3), 0.5);
/// assert!(h.is_symmetric());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hadamard {
    n: usize,
    n_pad: usize,
}

impl Hadamard {
    /// The `n×n` orthonormal Walsh–Hadamard transform.
    ///
    /// # Errors
    /// [`Error::EmptyDimension`] when `n == 0`; [`Error::InvalidArgument`] when `n` is not a power
    /// of two (the message names `n` and the next power of two; see [`Hadamard::padded`]).
    ///
    /// # Examples
    /// ```
    /// use linops_core::op::Hadamard;
    /// assert!(Hadamard::new(8).is_ok());
    /// let e = Hadamard::new(6).unwrap_err().to_string();
    /// assert!(e.contains("6") && e.contains("8"));
    /// ```
    pub fn new(n: usize) -> Result<Self> {
        let n_pad = next_pow2("Walsh–Hadamard transform", n)?;
        if n_pad != n {
            return Err(Error::InvalidArgument(format!(
                "the Walsh–Hadamard transform needs a power-of-two length; {n} is not (the next \
                 power of two is {n_pad}; Hadamard::padded({n}) zero-pads to it)"
            )));
        }
        Ok(Self { n, n_pad })
    }

    /// The `N×n` operator `H_N·P` that zero-pads its input to `N`, the next power of two `≥ n`,
    /// then transforms. An isometry onto its range; its transpose transforms a length-`N` input
    /// and keeps the first `n` entries. For a power-of-two `n` it equals [`Hadamard::new`].
    ///
    /// # Errors
    /// [`Error::EmptyDimension`] when `n == 0`; [`Error::InvalidArgument`] when the next power
    /// of two overflows `usize`.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{LeafOp, op::Hadamard};
    /// assert_eq!(Hadamard::padded(5).unwrap().shape(), (8, 5));
    /// ```
    pub fn padded(n: usize) -> Result<Self> {
        let n_pad = next_pow2("padded Walsh–Hadamard transform", n)?;
        Ok(Self { n, n_pad })
    }

    /// The input length `n`.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(linops_core::op::Hadamard::padded(3).unwrap().len(), 3);
    /// ```
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.n
    }

    /// The transform length `N` (a power of two, `≥ n`).
    ///
    /// # Examples
    /// ```
    /// assert_eq!(linops_core::op::Hadamard::padded(3).unwrap().padded_len(), 4);
    /// ```
    pub fn padded_len(&self) -> usize {
        self.n_pad
    }
}

/// The next power of two `≥ n`, or an error for `n == 0` and overflow.
fn next_pow2(context: &str, n: usize) -> Result<usize> {
    if n == 0 {
        return Err(Error::EmptyDimension {
            context: context.into(),
            rows: 0,
            cols: 0,
        });
    }
    n.checked_next_power_of_two().ok_or_else(|| {
        Error::InvalidArgument(format!(
            "{context}: length {n} has no power of two that fits usize"
        ))
    })
}

impl LeafOp for Hadamard {
    fn name(&self) -> &'static str {
        "hadamard"
    }
    fn shape(&self) -> (usize, usize) {
        (self.n_pad, self.n)
    }
    fn to_dense(&self) -> HostMat {
        let s = 1.0 / (self.n_pad as f64).sqrt();
        HostMat::from_fn(self.n_pad, self.n, |i, j| {
            if (i & j).count_ones().is_multiple_of(2) {
                s
            } else {
                -s
            }
        })
    }
    fn param_count(&self) -> usize {
        0
    }
    fn is_symmetric(&self) -> bool {
        self.n == self.n_pad
    }
    fn lower(
        &self,
        cx: &mut Lowering,
        _transposed: bool,
        x: BufId,
        out: BufId,
        alpha: f64,
        beta: f64,
    ) -> Result<()> {
        // The kernel pads X to N rows and keeps as many rows as `out` has, so the shapes of X and
        // out alone say whether this is H_N·P (pad) or Pᵀ·H_N (truncate).
        cx.push(kernel::Fwht { alpha, beta }, vec![x], out)
    }
}
