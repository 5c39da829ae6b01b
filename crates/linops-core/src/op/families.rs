//! `Op::` shortcuts for every operator family: each builds the family's leaf (checking its input
//! exactly as the leaf's own constructor does) and wraps it with [`Op::leaf`].
//!
//! The leaf types stay public for what the shortcuts do not cover (other sampler kinds, a
//! sketch's density, reading a leaf's parameters back); see `docs/ops.md` for each family's
//! mathematics, storage and cost.

use super::{
    BlockButterfly, BlockDiagonal, Butterfly, Csr, Dct, DenseSketch, DiagPlusLowRank,
    FlatBlockButterfly, Hadamard, Householder, Kronecker, LowRank, Monarch, Op, Permutation,
    PixelatedButterfly, RowSampler, SparseSign, Srht, VerySparseProjection,
};
use crate::rng::RngState;
use crate::{HostMat, Result};

impl Op {
    /// The permutation `P` with `(P·x)[i] = x[perm[i]]` (see [`Permutation`]).
    ///
    /// # Errors
    /// As [`Permutation::new`]: empty, or not a permutation of `0..n`.
    ///
    /// # Examples
    /// ```
    /// let p = linops_core::Op::permutation(vec![2, 0, 1]).unwrap();
    /// assert_eq!(p.to_dense().get(0, 2), 1.0);
    /// ```
    pub fn permutation(perm: Vec<usize>) -> Result<Op> {
        Ok(Op::leaf(Permutation::new(perm)?))
    }

    /// The low-rank operator `U·diag(s)·Vᵀ` (see [`LowRank`]).
    ///
    /// # Errors
    /// As [`LowRank::new`]: shape mismatch, empty or non-finite factors.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{HostMat, Op};
    /// let u = HostMat::from_fn(3, 1, |_, _| 1.0);
    /// let op = Op::low_rank(u.clone(), vec![2.0], u).unwrap();
    /// assert_eq!(op.to_dense().get(1, 2), 2.0);
    /// ```
    pub fn low_rank(u: HostMat, s: Vec<f64>, v: HostMat) -> Result<Op> {
        Ok(Op::leaf(LowRank::new(u, s, v)?))
    }

    /// The diagonal-plus-low-rank operator `diag(d) + U·Vᵀ` (see [`DiagPlusLowRank`]).
    ///
    /// # Errors
    /// As [`DiagPlusLowRank::new`].
    ///
    /// # Examples
    /// ```
    /// use linops_core::{HostMat, Op};
    /// let u = HostMat::from_fn(2, 1, |_, _| 1.0);
    /// let op = Op::diag_plus_low_rank(vec![1.0, 2.0], u.clone(), u).unwrap();
    /// assert_eq!(op.to_dense().get(1, 1), 3.0);
    /// ```
    pub fn diag_plus_low_rank(d: Vec<f64>, u: HostMat, v: HostMat) -> Result<Op> {
        Ok(Op::leaf(DiagPlusLowRank::new(d, u, v)?))
    }

    /// The block-diagonal operator with these blocks (see [`BlockDiagonal`]).
    ///
    /// # Errors
    /// As [`BlockDiagonal::new`].
    ///
    /// # Examples
    /// ```
    /// use linops_core::{HostMat, Op};
    /// let b = HostMat::from_fn(2, 2, |i, j| (i + j) as f64);
    /// assert_eq!(Op::block_diagonal(vec![b.clone(), b]).unwrap().shape(), (4, 4));
    /// ```
    pub fn block_diagonal(blocks: Vec<HostMat>) -> Result<Op> {
        Ok(Op::leaf(BlockDiagonal::new(blocks)?))
    }

    /// The Monarch operator `P·L·Pᵀ·R` with block-diagonal `L`, `R` (see [`Monarch`]).
    ///
    /// # Errors
    /// As [`Monarch::new`].
    ///
    /// # Examples
    /// ```
    /// use linops_core::{HostMat, Op};
    /// let i2 = HostMat::from_fn(2, 2, |i, j| if i == j { 1.0 } else { 0.0 });
    /// let m = Op::monarch(vec![i2.clone(), i2.clone()], vec![i2.clone(), i2]).unwrap();
    /// assert_eq!(m.shape(), (4, 4));
    /// ```
    pub fn monarch(l_blocks: Vec<HostMat>, r_blocks: Vec<HostMat>) -> Result<Op> {
        Ok(Op::leaf(Monarch::new(l_blocks, r_blocks)?))
    }

    /// The product of `k` Householder reflectors of length `n` (see [`Householder`]).
    ///
    /// # Errors
    /// As [`Householder::new`].
    ///
    /// # Examples
    /// ```
    /// // One reflector I − 2·e₀e₀ᵀ on R².
    /// let h = linops_core::Op::householder(2, 1, vec![1.0, 0.0], vec![2.0]).unwrap();
    /// assert_eq!(h.to_dense().get(0, 0), -1.0);
    /// ```
    pub fn householder(n: usize, k: usize, v: Vec<f64>, tau: Vec<f64>) -> Result<Op> {
        Ok(Op::leaf(Householder::new(n, k, v, tau)?))
    }

    /// The Kronecker product `A₁ ⊗ A₂ ⊗ …` of operators (see [`Kronecker`]).
    ///
    /// # Errors
    /// As [`Kronecker::new`].
    ///
    /// # Examples
    /// ```
    /// use linops_core::Op;
    /// let k = Op::kronecker(vec![Op::identity(2).unwrap(), Op::diagonal(vec![1.0, 2.0, 3.0]).unwrap()]);
    /// assert_eq!(k.unwrap().shape(), (6, 6));
    /// ```
    pub fn kronecker(factors: Vec<Op>) -> Result<Op> {
        Ok(Op::leaf(Kronecker::new(factors)?))
    }

    /// The orthonormal Walsh–Hadamard transform of length `n` (see [`Hadamard`]).
    ///
    /// # Errors
    /// As [`Hadamard::new`].
    ///
    /// # Examples
    /// ```
    /// let h = linops_core::Op::hadamard(4).unwrap();
    /// assert_eq!(h.to_dense().get(3, 3), 0.5);
    /// ```
    pub fn hadamard(n: usize) -> Result<Op> {
        Ok(Op::leaf(Hadamard::new(n)?))
    }

    /// The orthonormal DCT-II of length `n` (see [`Dct`]).
    ///
    /// # Errors
    /// As [`Dct::new`].
    ///
    /// # Examples
    /// ```
    /// let c = linops_core::Op::dct(3).unwrap();
    /// assert!((c.to_dense().get(0, 0) - 1.0 / 3f64.sqrt()).abs() < 1e-15);
    /// ```
    pub fn dct(n: usize) -> Result<Op> {
        Ok(Op::leaf(Dct::new(n)?))
    }

    /// A sparse matrix in CSR form (see [`Csr`]).
    ///
    /// # Errors
    /// As [`Csr::new`].
    ///
    /// # Examples
    /// ```
    /// let s = linops_core::Op::csr(2, 2, vec![0, 1, 2], vec![1, 0], vec![3.0, 4.0]).unwrap();
    /// assert_eq!(s.to_dense().get(0, 1), 3.0);
    /// ```
    pub fn csr(
        rows: usize,
        cols: usize,
        indptr: Vec<usize>,
        indices: Vec<usize>,
        values: Vec<f64>,
    ) -> Result<Op> {
        Ok(Op::leaf(Csr::new(rows, cols, indptr, indices, values)?))
    }

    /// A butterfly of `log₂ n` factors of 2×2 blocks (see [`Butterfly`]).
    ///
    /// # Errors
    /// As [`Butterfly::new`].
    ///
    /// # Examples
    /// ```
    /// // n = 2: one factor [[1, 1], [1, -1]] (twiddles a, b, c, d per pair).
    /// let b = linops_core::Op::butterfly(2, vec![1.0, 1.0, 1.0, -1.0]).unwrap();
    /// assert_eq!(b.shape(), (2, 2));
    /// ```
    pub fn butterfly(n: usize, twiddle: Vec<f64>) -> Result<Op> {
        Ok(Op::leaf(Butterfly::new(n, twiddle)?))
    }

    /// A block butterfly with block size `b` (see [`BlockButterfly`]).
    ///
    /// # Errors
    /// As [`BlockButterfly::new`].
    ///
    /// # Examples
    /// ```
    /// // n = 4, b = 2: one factor of 2·n·b = 16 parameters.
    /// let b = linops_core::Op::block_butterfly(4, 2, vec![1.0; 16]).unwrap();
    /// assert_eq!(b.shape(), (4, 4));
    /// assert!(linops_core::Op::block_butterfly(4, 2, vec![1.0; 15]).is_err());
    /// ```
    pub fn block_butterfly(n: usize, b: usize, twiddle: Vec<f64>) -> Result<Op> {
        Ok(Op::leaf(BlockButterfly::new(n, b, twiddle)?))
    }

    /// A flat block butterfly `I + Σ factors` (see [`FlatBlockButterfly`]).
    ///
    /// # Errors
    /// As [`FlatBlockButterfly::new`].
    ///
    /// # Examples
    /// ```
    /// // n = 4, b = 2: 2 block-rows, 1 + 1 blocks each, 4 reals per block.
    /// let f = linops_core::Op::flat_block_butterfly(4, 2, vec![1.0; 16]).unwrap();
    /// assert_eq!(f.to_dense().get(0, 3), 1.0);
    /// ```
    pub fn flat_block_butterfly(n: usize, b: usize, values: Vec<f64>) -> Result<Op> {
        Ok(Op::leaf(FlatBlockButterfly::new(n, b, values)?))
    }

    /// A Pixelated butterfly: a flat block butterfly plus `U·Vᵀ` (see [`PixelatedButterfly`]).
    ///
    /// # Errors
    /// As [`PixelatedButterfly::new`].
    ///
    /// # Examples
    /// ```
    /// use linops_core::{HostMat, Op, op::FlatBlockButterfly};
    /// let flat = FlatBlockButterfly::new(4, 2, vec![0.0; 16]).unwrap();
    /// let u = HostMat::new(4, 1, vec![1.0, 2.0, 3.0, 4.0]).unwrap();
    /// let p = Op::pixelated_butterfly(flat, u.clone(), u).unwrap();
    /// assert_eq!(p.to_dense().get(3, 1), 8.0);
    /// ```
    pub fn pixelated_butterfly(flat: FlatBlockButterfly, u: HostMat, v: HostMat) -> Result<Op> {
        Ok(Op::leaf(PixelatedButterfly::new(flat, u, v)?))
    }

    /// A `d×m` Gaussian sketch with entries `N(0, 1/d)`, generated from `rng` (a `u64` seed or
    /// an [`RngState`]) and never stored (see [`DenseSketch`]).
    ///
    /// # Errors
    /// As [`DenseSketch::gaussian`].
    ///
    /// # Examples
    /// ```
    /// let s = linops_core::Op::gaussian_sketch(4, 100, 7).unwrap();
    /// assert_eq!(s.shape(), (4, 100));
    /// ```
    pub fn gaussian_sketch(d: usize, m: usize, rng: impl Into<RngState>) -> Result<Op> {
        Ok(Op::leaf(DenseSketch::gaussian(d, m, rng)?))
    }

    /// A `d×m` Rademacher sketch with entries `±1/√d` (see [`DenseSketch`]).
    ///
    /// # Errors
    /// As [`DenseSketch::rademacher`].
    ///
    /// # Examples
    /// ```
    /// let s = linops_core::Op::rademacher_sketch(4, 9, 7).unwrap();
    /// assert_eq!(s.to_dense().get(0, 0).abs(), 0.5);
    /// ```
    pub fn rademacher_sketch(d: usize, m: usize, rng: impl Into<RngState>) -> Result<Op> {
        Ok(Op::leaf(DenseSketch::rademacher(d, m, rng)?))
    }

    /// A `d×m` sparse sign sketch with `s` nonzeros per column (CountSketch for `s = 1`; see
    /// [`SparseSign`]).
    ///
    /// # Errors
    /// As [`SparseSign::new`].
    ///
    /// # Examples
    /// ```
    /// let s = linops_core::Op::sparse_sign(8, 1000, 2, 7).unwrap();
    /// assert_eq!(s.shape(), (8, 1000));
    /// ```
    pub fn sparse_sign(d: usize, m: usize, s: usize, rng: impl Into<RngState>) -> Result<Op> {
        Ok(Op::leaf(SparseSign::new(d, m, s, rng)?))
    }

    /// A `d×m` very sparse random projection (density `1/√m`; see [`VerySparseProjection`]).
    ///
    /// # Errors
    /// As [`VerySparseProjection::new`].
    ///
    /// # Examples
    /// ```
    /// let s = linops_core::Op::very_sparse_projection(8, 400, 7).unwrap();
    /// assert_eq!(s.shape(), (8, 400));
    /// ```
    pub fn very_sparse_projection(d: usize, m: usize, rng: impl Into<RngState>) -> Result<Op> {
        Ok(Op::leaf(VerySparseProjection::new(d, m, rng)?))
    }

    /// A `d×m` subsampled randomized Hadamard transform (see [`Srht`]).
    ///
    /// # Errors
    /// As [`Srht::new`].
    ///
    /// # Examples
    /// ```
    /// let s = linops_core::Op::srht(4, 10, 7).unwrap();
    /// assert_eq!(s.shape(), (4, 10));
    /// ```
    pub fn srht(d: usize, m: usize, rng: impl Into<RngState>) -> Result<Op> {
        Ok(Op::leaf(Srht::new(d, m, rng)?))
    }

    /// A `d×m` uniform row sampler, scaled so that `E[SᵀS] = I` (see [`RowSampler`] for
    /// norm, probability and leverage sampling).
    ///
    /// # Errors
    /// As [`RowSampler::uniform`].
    ///
    /// # Examples
    /// ```
    /// let s = linops_core::Op::uniform_row_sampler(3, 10, 7).unwrap();
    /// assert_eq!(s.shape(), (3, 10));
    /// ```
    pub fn uniform_row_sampler(d: usize, m: usize, rng: impl Into<RngState>) -> Result<Op> {
        Ok(Op::leaf(RowSampler::uniform(d, m, rng)?))
    }
}
