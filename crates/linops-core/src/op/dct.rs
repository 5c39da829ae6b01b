//! Orthonormal DCT-II leaf (and its transpose, the DCT-III).
//!
//! Mathematics: `C[k, j] = s_k·cos(π(2j+1)k / (2n))` with `s_0 = √(1/n)` and `s_k = √(2/n)` for
//! `k ≥ 1`. `C` is orthogonal, so `C⁻¹ = Cᵀ`, the orthonormal DCT-III.
//!
//! Algorithm (both backends, per column; Makhoul 1980): permute `v[j'] = x[j]` with even `j`
//! going to the front in order and odd `j` to the back in reverse, take the `n`-point complex FFT
//! `V`, and `X_k = s_k·Re(e^{−iπk/(2n)}·V_k)`. The transpose runs it backwards:
//! `V_k = e^{iπk/(2n)}(Z_k − i·Z_{n−k})` with `Z_k = y_k/s_k`, `Z_n = 0`, an inverse FFT, `/n`, and
//! the inverse permutation. Cost per column: the `5·n·log₂n` of a complex FFT plus `O(n)` for the
//! rotation and scaling; never the dense matrix.
//!
//! Storage: no parameters (`param_count() == 0`). The plan carries one `n×4` table derived from
//! `n` alone: columns `cos(2πk/n)`, `sin(2πk/n)` (FFT twiddles) and `cos(πk/(2n))`,
//! `sin(πk/(2n))` (the Makhoul rotation), computed in f64 so every backend uses correctly rounded
//! factors (WGSL's `cos`/`sin` only promise an absolute error of 2⁻¹¹). Backends cache it like
//! a parameter.

use super::{LeafOp, check_generated, try_filled};
use crate::lower::{Param, kernel};
use crate::op::Lowering;
use crate::{BufId, Error, HostMat, Result};
use std::f64::consts::PI;

/// The orthonormal DCT-II of length `n` (its transpose is the DCT-III, the inverse).
///
/// # Examples
/// ```
/// use linops_core::{LeafOp, op::Dct};
/// let c = Dct::new(4).unwrap();
/// assert_eq!(c.shape(), (4, 4));
/// assert!((c.to_dense().get(0, 0) - 0.5).abs() < 1e-15);
/// assert_eq!(c.param_count(), 0);
/// ```
#[derive(Debug, Clone)]
pub struct Dct {
    table: Param,
}

impl Dct {
    /// The `n×n` orthonormal DCT-II.
    ///
    /// # Errors
    /// [`Error::EmptyDimension`] when `n == 0`; [`Error::DeviceLimit`] when the `n×4` table
    /// exceeds [`super::MAX_GENERATED_ENTRIES`] (checked before allocating), [`Error::Backend`]
    /// when the allocator refuses a smaller one.
    ///
    /// # Examples
    /// ```
    /// use linops_core::op::Dct;
    /// assert!(Dct::new(7).is_ok());
    /// assert!(Dct::new(0).is_err());
    /// ```
    pub fn new(n: usize) -> Result<Self> {
        if n == 0 {
            return Err(Error::EmptyDimension {
                context: "DCT".into(),
                rows: 0,
                cols: 0,
            });
        }
        let entries = check_generated("DCT twiddle table (n×4)", n.checked_mul(4))?;
        let nf = n as f64;
        let mut data = try_filled("DCT twiddle table", entries, 0.0)?;
        for k in 0..n {
            let kf = k as f64;
            let (s1, c1) = (2.0 * PI * kf / nf).sin_cos();
            let (s2, c2) = (PI * kf / (2.0 * nf)).sin_cos();
            data[k] = c1;
            data[n + k] = s1;
            data[2 * n + k] = c2;
            data[3 * n + k] = s2;
        }
        Ok(Self {
            table: Param::of_shape(n, 4, data),
        })
    }

    /// The length `n`.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(linops_core::op::Dct::new(5).unwrap().len(), 5);
    /// ```
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.table.rows
    }

    /// The `n×4` table of twiddle factors the plan carries (see the module docs).
    ///
    /// # Examples
    /// ```
    /// let t = linops_core::op::Dct::new(8).unwrap();
    /// assert_eq!((t.table().rows, t.table().cols), (8, 4));
    /// ```
    pub fn table(&self) -> &Param {
        &self.table
    }
}

impl LeafOp for Dct {
    fn name(&self) -> &'static str {
        "dct"
    }
    fn shape(&self) -> (usize, usize) {
        (self.len(), self.len())
    }
    fn to_dense(&self) -> HostMat {
        let n = self.len();
        let nf = n as f64;
        HostMat::from_fn(n, n, |k, j| {
            let s = if k == 0 {
                (1.0 / nf).sqrt()
            } else {
                (2.0 / nf).sqrt()
            };
            s * (PI * (2 * j + 1) as f64 * k as f64 / (2.0 * nf)).cos()
        })
    }
    fn param_count(&self) -> usize {
        0
    }
    fn lower(
        &self,
        cx: &mut Lowering,
        transposed: bool,
        x: BufId,
        out: BufId,
        alpha: f64,
        beta: f64,
    ) -> Result<()> {
        let table = cx.param(&self.table);
        cx.push(
            kernel::Dct {
                inverse: transposed,
                alpha,
                beta,
            },
            vec![x, table],
            out,
        )
    }
}
