//! The kernels a plan can contain, with their shape rules and cost model.
//!
//! Each kernel is one WGSL entry point on the GPU and one faer routine (or plain loop) on the CPU.

use crate::rng::{Dist, RngState};
use crate::{Error, Result};

pub use super::block::BlockLayout;

/// A kernel and its scalar parameters. All matrices are column-major.
///
/// Deliberately exhaustive: a new kernel fails to compile in every backend until each implements
/// it, instead of reaching a run-time "not implemented".
///
/// # Examples
/// ```
/// use linops_core::Kernel;
/// let k = Kernel::Gemm { trans_a: true, trans_b: false, alpha: 1.0, beta: 0.0 };
/// assert_eq!(k.label(), "gemm");
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kernel {
    /// `out = alpha·op(A)·op(B) + beta·out`; inputs `[A, B]`; `beta == 0` never reads `out`,
    /// and `alpha == 0` never forms the product (BLAS semantics: `out = beta·out`, zeros when
    /// `beta == 0`, even where `op(A)·op(B)` would overflow).
    Gemm {
        /// Use `Aᵀ`.
        trans_a: bool,
        /// Use `Bᵀ`.
        trans_b: bool,
        /// Scale of the product.
        alpha: f64,
        /// Scale of the previous output.
        beta: f64,
    },
    /// `out = alpha·X + beta·out`; inputs `[X]`.
    Axpby {
        /// Scale of X.
        alpha: f64,
        /// Scale of the previous output.
        beta: f64,
    },
    /// `out = alpha·diag(d)·X + beta·out`; inputs `[d, X]` with `d` an n×1 column.
    DiagScale {
        /// Scale of the product.
        alpha: f64,
        /// Scale of the previous output.
        beta: f64,
    },
    /// `out = alpha·op(G)·X + beta·out` with `G` the `rows×cols` random matrix of `dist` under
    /// `rng` (the Philox matrix layout of [`crate::rng`]), generated on the fly, never stored;
    /// `op(G) = Gᵀ` when `trans`. Inputs `[X]`.
    SketchGemm {
        /// Entry distribution of `G`.
        dist: Dist,
        /// Generator state of `G`.
        rng: RngState,
        /// Rows of `G`.
        rows: usize,
        /// Columns of `G`.
        cols: usize,
        /// Use `Gᵀ`.
        trans: bool,
        /// Scale of the product (a sketch's `1/√d` is folded in here).
        alpha: f64,
        /// Scale of the previous output.
        beta: f64,
    },
    /// `out = Xᵀ`; inputs `[X]`.
    Transpose,
    /// Row gather `out[i, :] = alpha·X[idx[i], :] + beta·out[i, :]`; inputs `[idx, X]` with `idx`
    /// an n×1 column of exact integers (a permutation's index array). An index outside
    /// `0..rows(X)` selects a zero row: the kernel never reads out of bounds.
    Gather {
        /// Scale of the gathered rows.
        alpha: f64,
        /// Scale of the previous output.
        beta: f64,
    },
    /// Batched block GEMM `Y_t = alpha·op(W_t)·X_t + beta·Y_t` for `t < blocks`, ONE launch;
    /// inputs `[W, X]` with `W` the blocks side by side (`br × bc·blocks`, block `t` in columns
    /// `t·bc..(t+1)·bc`), `op(W_t)` is `m×k`; `X_t` are the `k` rows of `X` that block `t` reads and
    /// `Y_t` the `m` rows of `out` it writes, placed by [`BlockLayout`] (contiguous, or strided: a
    /// perfect shuffle folded into the row indexing).
    BlockGemm {
        /// Number of blocks `b`.
        blocks: usize,
        /// Use `W_tᵀ`.
        trans: bool,
        /// Where block `t` reads its rows of `X`.
        x_layout: BlockLayout,
        /// Where block `t` writes its rows of `out`.
        y_layout: BlockLayout,
        /// Scale of the product.
        alpha: f64,
        /// Scale of the previous output.
        beta: f64,
    },

    /// Orthonormal Walsh–Hadamard transform of each column: with `N = max(rows(X), rows(out))`
    /// (a power of two), `out = alpha·Pₒᵀ·H_N·Pₓ·X + beta·out` where `Pₓ` zero-pads X to `N` rows
    /// and `Pₒᵀ` keeps the first `rows(out)` rows; inputs `[X]`.
    Fwht {
        /// Scale of the transform.
        alpha: f64,
        /// Scale of the previous output.
        beta: f64,
    },
    /// Orthonormal DCT-II of each column (`inverse`: its transpose, the DCT-III):
    /// `out = alpha·C·X + beta·out` (or `Cᵀ`); inputs `[X, table]` with `table` the `n×4` twiddle
    /// table of [`crate::op::Dct`].
    Dct {
        /// Apply the DCT-III (`Cᵀ = C⁻¹`) instead of the DCT-II.
        inverse: bool,
        /// Scale of the transform.
        alpha: f64,
        /// Scale of the previous output.
        beta: f64,
    },
    /// Batched transpose with scaling: the input's `L` elements (column-major, any buffer shape)
    /// are `L / (rows·cols)` consecutive `rows×cols` column-major matrices; the output (any shape
    /// with `L` elements) receives their transposes, `out = alpha·Xₜᵀ + beta·out`; inputs `[X]`.
    /// With `cols == 1` it is a scaled copy between buffers of different shapes (a reshape). Used
    /// by the Kronecker vec trick to rotate tensor modes.
    BatchTranspose {
        /// Rows of each matrix of the input.
        rows: usize,
        /// Columns of each matrix of the input.
        cols: usize,
        /// Scale of the transposed input.
        alpha: f64,
        /// Scale of the previous output.
        beta: f64,
    },
    /// Sparse (CSR) times dense: `out = alpha·S·X + beta·out`; inputs `[indptr, indices, values,
    /// X]` with `indptr` an `(m+1)×1` column, `indices`/`values` `nnz×1` columns (indices are
    /// integers stored as reals, below 2²⁴) and `X` `k×b`. Entries whose column index is not below
    /// `k` are skipped (a validated [`crate::op::Csr`] has none).
    Spmm {
        /// Scale of the product.
        alpha: f64,
        /// Scale of the previous output.
        beta: f64,
    },
    /// Euclidean norm of each column, overflow- and underflow-safe: `out[0, j] = ‖X[:, j]‖₂`
    /// (a representable norm is returned even when its squares are not); inputs `[X]`, `out`
    /// a `1×cols(X)` row.
    ColNorms,
    /// Column-wise dot products `out[0, j] = Σ_i X[i, j]·Y[i, j]`; inputs `[X, Y]` of equal
    /// shape, `out` a `1×cols(X)` row.
    ColDots,
    /// Column-block copy `out[:, offset..offset + cols(X)] = X`; inputs `[X]` with
    /// `rows(X) = rows(out)`. The other columns of `out` are left as they are, so a sequence of
    /// copies into disjoint blocks concatenates matrices.
    CopyCols {
        /// First column of `out` written.
        offset: usize,
    },
    /// `out = alpha·op(G)` with `G` the `rows×cols` random matrix of `dist` under `rng` (the
    /// Philox matrix layout of [`crate::rng`]), `op(G) = Gᵀ` when `trans`; no inputs. Entry
    /// `(i, j)` of `op(G)` is `alpha` times the generated value rounded to the plan's dtype, the
    /// same bits as [`Kernel::SketchGemm`] applied to an identity.
    RandomFill {
        /// Entry distribution of `G`.
        dist: Dist,
        /// Generator state of `G`.
        rng: RngState,
        /// Rows of `G`.
        rows: usize,
        /// Columns of `G`.
        cols: usize,
        /// Fill with `Gᵀ`.
        trans: bool,
        /// Scale of every entry.
        alpha: f64,
    },
}

impl Kernel {
    /// The kernel's name, shared with its WGSL entry point family and its pipeline label.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(linops_core::Kernel::Transpose.label(), "transpose");
    /// ```
    pub fn label(&self) -> &'static str {
        match self {
            Kernel::Gemm { .. } => "gemm",
            Kernel::Axpby { .. } => "axpby",
            Kernel::DiagScale { .. } => "diag_scale",
            Kernel::Transpose => "transpose",
            Kernel::Gather { .. } => "gather",
            Kernel::BlockGemm { .. } => "block_gemm",
            Kernel::SketchGemm { .. } => "sketch_gemm",
            Kernel::Fwht { .. } => "fwht",
            Kernel::Dct { .. } => "dct",
            Kernel::BatchTranspose { .. } => "batch_transpose",
            Kernel::Spmm { .. } => "spmm",
            Kernel::ColNorms => "col_norms",
            Kernel::ColDots => "col_dots",
            Kernel::CopyCols { .. } => "copy_cols",
            Kernel::RandomFill { .. } => "random_fill",
        }
    }

    /// The kernel's scalar parameters (its `alpha` and `beta`; none for a plain transpose).
    ///
    /// # Examples
    /// ```
    /// use linops_core::Kernel;
    /// assert_eq!(Kernel::Axpby { alpha: 2.0, beta: 1.0 }.scalars(), vec![2.0, 1.0]);
    /// assert!(Kernel::Transpose.scalars().is_empty());
    /// ```
    pub fn scalars(&self) -> Vec<f64> {
        match *self {
            Kernel::Transpose | Kernel::ColNorms | Kernel::ColDots | Kernel::CopyCols { .. } => {
                Vec::new()
            }
            Kernel::RandomFill { alpha, .. } => vec![alpha],
            Kernel::Gemm { alpha, beta, .. }
            | Kernel::Axpby { alpha, beta }
            | Kernel::DiagScale { alpha, beta }
            | Kernel::SketchGemm { alpha, beta, .. }
            | Kernel::Gather { alpha, beta }
            | Kernel::BlockGemm { alpha, beta, .. }
            | Kernel::Fwht { alpha, beta }
            | Kernel::Dct { alpha, beta, .. }
            | Kernel::BatchTranspose { alpha, beta, .. }
            | Kernel::Spmm { alpha, beta } => vec![alpha, beta],
        }
    }

    /// Checks argument shapes and returns `(flops, elements moved)`.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] when the shapes do not fit, [`Error::InvalidArgument`] for a wrong
    /// argument count.
    ///
    /// # Examples
    /// ```
    /// use linops_core::Kernel;
    /// let k = Kernel::Axpby { alpha: 1.0, beta: 0.0 };
    /// assert_eq!(k.check_and_cost(&[(2, 3)], (2, 3)).unwrap(), (6, 12));
    /// assert!(k.check_and_cost(&[(2, 3)], (3, 2)).is_err());
    /// ```
    pub fn check_and_cost(
        &self,
        inputs: &[(usize, usize)],
        out: (usize, usize),
    ) -> Result<(u64, u64)> {
        self.cost(inputs, out).map(|(f, e)| (f.0, e.0))
    }

    /// [`Kernel::check_and_cost`] with saturating counts (sizes near `usize::MAX` must not wrap).
    fn cost(&self, inputs: &[(usize, usize)], out: (usize, usize)) -> Result<(Sat, Sat)> {
        let want = match self {
            Kernel::Gemm { .. } | Kernel::DiagScale { .. } | Kernel::Dct { .. } => 2,
            Kernel::Axpby { .. }
            | Kernel::Transpose
            | Kernel::SketchGemm { .. }
            | Kernel::Fwht { .. }
            | Kernel::BatchTranspose { .. } => 1,
            Kernel::Spmm { .. } => 4,
            Kernel::Gather { .. } | Kernel::BlockGemm { .. } | Kernel::ColDots => 2,
            Kernel::ColNorms | Kernel::CopyCols { .. } => 1,
            Kernel::RandomFill { .. } => 0,
        };
        if inputs.len() != want {
            return Err(Error::InvalidArgument(format!(
                "{} takes {want} inputs, got {}",
                self.label(),
                inputs.len()
            )));
        }
        let mismatch = |expected: String| Error::ShapeMismatch {
            context: format!("{} step", self.label()),
            expected,
            found: format!("inputs {inputs:?}, output {out:?}"),
        };
        let (m, n) = (Sat::of(out.0), Sat::of(out.1));
        let reads_out = |beta: f64| if beta != 0.0 { m * n } else { Sat(0) };
        match *self {
            Kernel::Gemm {
                trans_a,
                trans_b,
                beta,
                ..
            } => {
                let (a, b) = (inputs[0], inputs[1]);
                let (am, ak) = if trans_a { (a.1, a.0) } else { a };
                let (bk, bn) = if trans_b { (b.1, b.0) } else { b };
                if am != out.0 || bn != out.1 || ak != bk {
                    return Err(mismatch(format!(
                        "op(A) {}x{k} · op(B) {k}x{} into {}x{}",
                        out.0,
                        out.1,
                        out.0,
                        out.1,
                        k = ak
                    )));
                }
                let k = Sat::of(ak);
                Ok((2 * m * n * k, m * k + k * n + m * n + reads_out(beta)))
            }
            Kernel::Axpby { beta, .. } => {
                if inputs[0] != out {
                    return Err(mismatch("X and out of equal shape".into()));
                }
                Ok((
                    if beta != 0.0 { 3 } else { 1 } * m * n,
                    2 * m * n + reads_out(beta),
                ))
            }
            Kernel::DiagScale { beta, .. } => {
                let (d, x) = (inputs[0], inputs[1]);
                if d != (out.0, 1) || x != out {
                    return Err(mismatch(format!("d {}x1 and X {}x{}", out.0, out.0, out.1)));
                }
                Ok((
                    if beta != 0.0 { 4 } else { 2 } * m * n,
                    2 * m * n + m + reads_out(beta),
                ))
            }
            Kernel::Transpose => {
                if inputs[0] != (out.1, out.0) {
                    return Err(mismatch(format!("X of {}x{}", out.1, out.0)));
                }
                Ok((Sat(0), 2 * m * n))
            }
            Kernel::Gather { beta, .. } => {
                let (idx, x) = (inputs[0], inputs[1]);
                if idx != (out.0, 1) || x.1 != out.1 {
                    return Err(mismatch(format!(
                        "idx {}x1 and X of {} columns",
                        out.0, out.1
                    )));
                }
                Ok((
                    if beta != 0.0 { 3 } else { 1 } * m * n,
                    2 * m * n + m + reads_out(beta),
                ))
            }
            Kernel::BlockGemm {
                blocks,
                trans,
                beta,
                ..
            } => {
                let (w, x) = (inputs[0], inputs[1]);
                if blocks == 0 || w.1 % blocks != 0 {
                    return Err(mismatch(format!(
                        "W of {blocks} equal blocks side by side (columns a multiple of {blocks})"
                    )));
                }
                let (bm, bk) = if trans {
                    (w.1 / blocks, w.0)
                } else {
                    (w.0, w.1 / blocks)
                };
                if blocks.checked_mul(bk) != Some(x.0)
                    || blocks.checked_mul(bm) != Some(out.0)
                    || x.1 != out.1
                {
                    return Err(mismatch(format!(
                        "{blocks} blocks of {bm}x{bk}: X of {} rows, out of {} rows, equal columns",
                        blocks.saturating_mul(bk),
                        blocks.saturating_mul(bm)
                    )));
                }
                let (b, bm, bk) = (Sat::of(blocks), Sat::of(bm), Sat::of(bk));
                Ok((
                    2 * b * bm * bk * n,
                    b * bm * bk + b * bk * n + m * n + reads_out(beta),
                ))
            }
            Kernel::SketchGemm {
                rows,
                cols,
                trans,
                beta,
                ..
            } => {
                let (gm, gk) = if trans { (cols, rows) } else { (rows, cols) };
                if inputs[0] != (gk, out.1) || out.0 != gm {
                    return Err(mismatch(format!(
                        "op(G) {gm}x{gk} · X {gk}x{} into {gm}x{}",
                        out.1, out.1
                    )));
                }
                let k = Sat::of(gk);
                Ok((2 * m * n * k, k * n + m * n + reads_out(beta)))
            }
            Kernel::Fwht { beta, .. } => {
                let x = inputs[0];
                let big = x.0.max(out.0);
                if x.1 != out.1 || !big.is_power_of_two() {
                    return Err(mismatch(format!(
                        "X and out with equal columns and max(rows) a power of two (X {}x{})",
                        x.0, out.1
                    )));
                }
                let nn = Sat::of(big);
                let log = Sat(u64::from(big.trailing_zeros()));
                // N·log₂N additions, one scaling per kept row, plus the beta update.
                let flops = n * (nn * log + m + if beta != 0.0 { 2 * m } else { Sat(0) });
                Ok((flops, Sat::of(x.0) * n + m * n + reads_out(beta)))
            }
            Kernel::Dct { beta, .. } => {
                let (x, table) = (inputs[0], inputs[1]);
                if x != out || table != (out.0, 4) {
                    return Err(mismatch(format!(
                        "X {}x{} and a twiddle table {}x4",
                        out.0, out.1, out.0
                    )));
                }
                // The conventional 5·n·⌈log₂n⌉ of a complex FFT, 4n for the rotation and
                // scaling, plus the beta update.
                let log = Sat(u64::from(
                    out.0
                        .checked_next_power_of_two()
                        .map_or(usize::BITS, usize::trailing_zeros),
                ));
                let flops = n * (5 * m * log + 4 * m + if beta != 0.0 { 2 * m } else { Sat(0) });
                Ok((flops, 2 * m * n + 4 * m + reads_out(beta)))
            }
            Kernel::BatchTranspose {
                rows, cols, beta, ..
            } => {
                let len = inputs[0].0 as u128 * inputs[0].1 as u128;
                let block = rows as u128 * cols as u128;
                if block == 0 || len != out.0 as u128 * out.1 as u128 || !len.is_multiple_of(block)
                {
                    return Err(mismatch(format!(
                        "X and out with the same number of elements, a multiple of {rows}·{cols}"
                    )));
                }
                let len = m * n;
                Ok((
                    if beta != 0.0 { 3 } else { 1 } * len,
                    2 * len + reads_out(beta),
                ))
            }
            Kernel::Spmm { beta, .. } => {
                let (p, i, v, x) = (inputs[0], inputs[1], inputs[2], inputs[3]);
                if out.0.checked_add(1) != Some(p.0)
                    || p.1 != 1
                    || i.1 != 1
                    || v != i
                    || x.1 != out.1
                {
                    return Err(mismatch(format!(
                        "indptr {}x1, indices and values nnz×1, X k×{}",
                        out.0.saturating_add(1),
                        out.1
                    )));
                }
                let nnz = Sat::of(i.0);
                Ok((
                    2 * nnz * n + if beta != 0.0 { 2 } else { 1 } * m * n,
                    (m + 1) + 2 * nnz + nnz * n + m * n + reads_out(beta),
                ))
            }
            Kernel::ColNorms | Kernel::ColDots => {
                let x = inputs[0];
                if out != (1, x.1) || inputs.get(1).is_some_and(|y| *y != x) {
                    return Err(mismatch(format!(
                        "inputs of equal shape and out 1x{} (one entry per column)",
                        x.1
                    )));
                }
                let len = Sat::of(x.0) * Sat::of(x.1);
                let reads = Sat(inputs.len() as u64) * len;
                // Norms: a max pass, then a scaled square and add per entry.
                let flops = if inputs.len() == 1 { 4 * len } else { 2 * len };
                Ok((flops, reads + n))
            }
            Kernel::CopyCols { offset } => {
                let x = inputs[0];
                if x.0 != out.0 || offset.checked_add(x.1).is_none_or(|end| end > out.1) {
                    return Err(mismatch(format!(
                        "X of {} rows whose {} columns fit out from column {offset}",
                        out.0, x.1
                    )));
                }
                let len = Sat::of(x.0) * Sat::of(x.1);
                Ok((Sat(0), 2 * len))
            }
            Kernel::RandomFill {
                rows, cols, trans, ..
            } => {
                let want = if trans { (cols, rows) } else { (rows, cols) };
                if out != want {
                    return Err(mismatch(format!("op(G) of {}x{}", want.0, want.1)));
                }
                // One Philox block (about 40 integer operations) per four entries, one scaling.
                Ok((11 * m * n, m * n))
            }
        }
    }
}

/// A saturating count of FLOPs or elements: a cost estimate for sizes near `usize::MAX` stays at
/// `u64::MAX` instead of wrapping (the plan rejects such buffers with a typed error afterwards).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sat(u64);

impl Sat {
    fn of(v: usize) -> Sat {
        Sat(u64::try_from(v).unwrap_or(u64::MAX))
    }
}

impl std::ops::Mul for Sat {
    type Output = Sat;
    fn mul(self, rhs: Sat) -> Sat {
        Sat(self.0.saturating_mul(rhs.0))
    }
}

impl std::ops::Mul<Sat> for u64 {
    type Output = Sat;
    fn mul(self, rhs: Sat) -> Sat {
        Sat(self.saturating_mul(rhs.0))
    }
}

impl std::ops::Add for Sat {
    type Output = Sat;
    fn add(self, rhs: Sat) -> Sat {
        Sat(self.0.saturating_add(rhs.0))
    }
}

impl std::ops::Add<u64> for Sat {
    type Output = Sat;
    fn add(self, rhs: u64) -> Sat {
        Sat(self.0.saturating_add(rhs))
    }
}
