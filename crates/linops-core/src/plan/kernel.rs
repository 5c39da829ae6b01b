//! The kernels a plan can contain, with their shape rules and cost model.
//!
//! Each kernel is one WGSL entry point on the GPU and one faer routine (or plain loop) on the CPU.

use crate::{Error, Result};

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
    /// `out = alpha·op(A)·op(B) + beta·out`; inputs `[A, B]`; `beta == 0` never reads `out`.
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
    /// `out = Xᵀ`; inputs `[X]`.
    Transpose,
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
            Kernel::BatchTranspose { .. } => "batch_transpose",
            Kernel::Spmm { .. } => "spmm",
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
        let want = match self {
            Kernel::Gemm { .. } | Kernel::DiagScale { .. } => 2,
            Kernel::Axpby { .. } | Kernel::Transpose | Kernel::BatchTranspose { .. } => 1,
            Kernel::Spmm { .. } => 4,
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
        let (m, n) = (out.0 as u64, out.1 as u64);
        let reads_out = |beta: f64| if beta != 0.0 { m * n } else { 0 };
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
                let k = ak as u64;
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
                Ok((0, 2 * m * n))
            }
            Kernel::BatchTranspose {
                rows, cols, beta, ..
            } => {
                let len = inputs[0].0 as u64 * inputs[0].1 as u64;
                let block = rows as u64 * cols as u64;
                if block == 0 || len != m * n || !len.is_multiple_of(block) {
                    return Err(mismatch(format!(
                        "X and out with the same number of elements, a multiple of {rows}·{cols}"
                    )));
                }
                Ok((
                    if beta != 0.0 { 3 } else { 1 } * len,
                    2 * len + reads_out(beta),
                ))
            }
            Kernel::Spmm { beta, .. } => {
                let (p, i, v, x) = (inputs[0], inputs[1], inputs[2], inputs[3]);
                if p != (out.0 + 1, 1) || i.1 != 1 || v != i || x.1 != out.1 {
                    return Err(mismatch(format!(
                        "indptr {}x1, indices and values nnz×1, X k×{}",
                        out.0 + 1,
                        out.1
                    )));
                }
                let nnz = i.0 as u64;
                Ok((
                    2 * nnz * n + if beta != 0.0 { 2 } else { 1 } * m * n,
                    (m + 1) + 2 * nnz + nnz * n + m * n + reads_out(beta),
                ))
            }
        }
    }
}
