//! Permutation leaf.
//!
//! Mathematics: for a bijection `perm` of `0..n`, `(P·x)_i = x_{perm[i]}`, i.e. `P[i, perm[i]] = 1`
//! (row `i` of `P·X` is row `perm[i]` of `X`). The transpose is the inverse permutation:
//! `(Pᵀ·x)_i = x_{inv[i]}` with `inv[perm[i]] = i`.
//!
//! The perfect shuffle `S(rows, cols)` ([`Permutation::perfect_shuffle`]) views a vector of length
//! `rows·cols` as a `rows×cols` column-major matrix and transposes it:
//! `(S·x)[b + a·cols] = x[a + b·rows]` for `a < rows`, `b < cols`; `S(rows, cols)ᵀ = S(cols, rows)`.
//! It is the permutation between the two block-diagonal factors of a Monarch matrix, where it is
//! folded into the block GEMM's row indexing instead of being applied (see [`super::Monarch`]).
//!
//! Storage: the index array `perm` and its inverse as `u32` index parameters ([`IndexParam`], the
//! same on every backend; `n` indices counted by `param_count`, the inverse is derived), so
//! `n ≤ 2³²` (every index `≤ IndexParam::MAX_INDEX`).
//!
//! Cost of `alpha·P·X + beta·Y` with `X` of `b` columns: one gather pass, `n·b` FLOPs (the scale),
//! `2·n·b` elements moved (plus `n·b` read when `beta ≠ 0`) and `4·n` bytes of indices. A standalone permutation is one
//! gather step; inside a Monarch operator it costs nothing (folded into the block GEMMs).

use super::{LeafOp, check_generated, require_nonempty, try_filled};
use crate::lower::{IndexParam, check_index, kernel};
use crate::op::Lowering;
use crate::{BufId, Error, HostMat, Result};

/// A permutation matrix `P` with `(P·x)_i = x_{perm[i]}`.
///
/// # Examples
/// ```
/// use linops_core::{LeafOp, op::Permutation};
/// let p = Permutation::new(vec![2, 0, 1]).unwrap();
/// let d = p.to_dense();
/// assert_eq!(d.get(0, 2), 1.0); // (P·x)_0 = x_2
/// assert_eq!(d.get(1, 0), 1.0);
/// ```
#[derive(Debug, Clone)]
pub struct Permutation {
    perm: IndexParam,
    inv: IndexParam,
}

impl Permutation {
    /// The permutation with `(P·x)_i = x_{perm[i]}`.
    ///
    /// # Errors
    /// [`Error::EmptyDimension`] for an empty `perm`, [`Error::InvalidArgument`] when `perm` is not
    /// a bijection of `0..n` (an index `≥ n` or a repeated index, named in the message),
    /// [`Error::DeviceLimit`] when `n − 1` exceeds [`IndexParam::MAX_INDEX`] (checked first).
    ///
    /// # Examples
    /// ```
    /// use linops_core::op::Permutation;
    /// assert!(Permutation::new(vec![1, 0]).is_ok());
    /// assert!(Permutation::new(vec![1, 1]).is_err());
    /// assert!(Permutation::new(vec![0, 2]).is_err());
    /// ```
    pub fn new(perm: Vec<usize>) -> Result<Self> {
        let n = perm.len();
        require_nonempty("permutation", n, 1)?;
        check_index(&format!("permutation of length {n}: largest index"), n - 1)?;
        // Every entry is below n ≤ 2³², so the u32 casts below are exact.
        let mut inv = try_filled("permutation inverse", n, u32::MAX)?;
        let mut seen = try_filled("permutation check", n, false)?;
        for (i, &p) in perm.iter().enumerate() {
            if p >= n {
                return Err(Error::InvalidArgument(format!(
                    "permutation: perm[{i}] = {p} is outside 0..{n}"
                )));
            }
            if seen[p] {
                return Err(Error::InvalidArgument(format!(
                    "permutation: index {p} appears twice (at {} and {i}); a permutation is a bijection of 0..{n}",
                    inv[p]
                )));
            }
            seen[p] = true;
            inv[p] = i as u32;
        }
        Ok(Self {
            perm: IndexParam::from_u32(perm.iter().map(|&p| p as u32).collect()),
            inv: IndexParam::from_u32(inv),
        })
    }

    /// The perfect shuffle `S(rows, cols)`: `(S·x)[b + a·cols] = x[a + b·rows]` (view `x` as a
    /// `rows×cols` column-major matrix and transpose it).
    ///
    /// # Errors
    /// [`Error::EmptyDimension`] when `rows` or `cols` is 0, [`Error::InvalidArgument`] when
    /// `rows·cols` overflows, [`Error::DeviceLimit`] when it exceeds
    /// [`super::MAX_GENERATED_ENTRIES`] (checked before allocating), [`Error::Backend`] when the
    /// allocator refuses a smaller one.
    ///
    /// # Examples
    /// ```
    /// use linops_core::op::Permutation;
    /// let s = Permutation::perfect_shuffle(2, 3).unwrap();
    /// // x = [x0..x5] viewed as 2x3 [[x0, x2, x4], [x1, x3, x5]]; transposed and flattened:
    /// assert_eq!(s.indices(), vec![0, 2, 4, 1, 3, 5]);
    /// ```
    pub fn perfect_shuffle(rows: usize, cols: usize) -> Result<Self> {
        require_nonempty("perfect shuffle", rows, cols)?;
        let n = rows.checked_mul(cols).ok_or_else(|| {
            Error::InvalidArgument(format!("perfect shuffle: {rows}·{cols} overflows"))
        })?;
        let n = check_generated(&format!("perfect shuffle S({rows}, {cols})"), Some(n))?;
        let mut perm = try_filled("perfect shuffle", n, 0usize)?;
        for a in 0..rows {
            for b in 0..cols {
                perm[b + a * cols] = a + b * rows;
            }
        }
        Self::new(perm)
    }

    /// The index array: `(P·x)_i = x_{indices()[i]}`.
    ///
    /// # Examples
    /// ```
    /// let p = linops_core::op::Permutation::new(vec![1, 2, 0]).unwrap();
    /// assert_eq!(p.indices(), vec![1, 2, 0]);
    /// ```
    pub fn indices(&self) -> Vec<usize> {
        self.perm.indices().iter().map(|&v| v as usize).collect()
    }

    /// The index arrays as parameters: `(perm, inv)`.
    pub(crate) fn params(&self) -> (&IndexParam, &IndexParam) {
        (&self.perm, &self.inv)
    }

    /// The inverse permutation (equal to the transpose).
    ///
    /// # Examples
    /// ```
    /// let p = linops_core::op::Permutation::new(vec![1, 2, 0]).unwrap();
    /// assert_eq!(p.inverse().indices(), vec![2, 0, 1]);
    /// ```
    pub fn inverse(&self) -> Permutation {
        Permutation {
            perm: self.inv.clone(),
            inv: self.perm.clone(),
        }
    }
}

impl LeafOp for Permutation {
    fn name(&self) -> &'static str {
        "permutation"
    }
    fn shape(&self) -> (usize, usize) {
        (self.perm.len(), self.perm.len())
    }
    fn to_dense(&self) -> HostMat {
        let n = self.perm.len();
        let mut m = HostMat::zeros(n, n);
        for (i, &p) in self.perm.indices().iter().enumerate() {
            m.set(i, p as usize, 1.0);
        }
        m
    }
    fn param_count(&self) -> usize {
        self.perm.len()
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
        let idx = cx.index(if transposed { &self.inv } else { &self.perm });
        cx.push(kernel::Gather { alpha, beta }, vec![idx, x], out)
    }
}
