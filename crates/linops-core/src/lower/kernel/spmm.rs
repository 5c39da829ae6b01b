//! `spmm`: sparse (CSR) times dense, `out = alpha·S·X + beta·out`.
//!
//! Inputs `[indptr, indices, values, X]` with `indptr` an `(m+1)×1` and `indices` an `nnz×1`
//! index array ([`crate::IndexParam`], `u32`, read at [`crate::INDEX_BYTES`] per index and
//! counted by the lowering context), `values` an `nnz×1` column and `X` `k×b`. Row ranges are
//! clamped to `0..nnz` and entries whose column index is not below `k` are skipped (a validated
//! [`crate::op::Csr`] has none). Cost: `2·nnz·b` FLOPs plus the `beta` update; elements moved:
//! the values, `min(k, nnz)·b` of `X` (each row of X read from memory once: the kernels keep the
//! gathered rows in cache, see `linops-cpu`'s `spmm` and `shaders/spmm.wgsl`) and the output.

use super::{KernelSpec, Sat, ab, reads_out};

/// Arguments of a sparse-times-dense step; see the module docs.
///
/// # Examples
/// ```
/// use linops_core::plan::{KernelSpec, kernel::Spmm};
/// let k = Spmm { alpha: 1.0, beta: 0.0 };
/// assert!(k.cost(&[(3, 1), (5, 1), (5, 1), (4, 2)], (2, 2)).is_ok());
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spmm {
    /// Scale of the product.
    pub alpha: f64,
    /// Scale of the previous output.
    pub beta: f64,
}

impl KernelSpec for Spmm {
    const LABEL: &'static str = "spmm";
    const ARITY: usize = 4;
    const INDEX_INPUTS: &'static [usize] = &[0, 1];
    fn scalars(&self) -> Vec<f64> {
        vec![self.alpha, self.beta]
    }
    fn cost(&self, inputs: &[(usize, usize)], out: (usize, usize)) -> Result<(u64, u64), String> {
        let (p, i, v, x) = (inputs[0], inputs[1], inputs[2], inputs[3]);
        if out.0.checked_add(1) != Some(p.0) || p.1 != 1 || i.1 != 1 || v != i || x.1 != out.1 {
            return Err(format!(
                "indptr {}x1, indices and values nnz×1, X k×{}",
                out.0.saturating_add(1),
                out.1
            ));
        }
        let (m, n, nnz) = (Sat::of(out.0), Sat::of(out.1), Sat::of(i.0));
        let flops = 2 * nnz * n + if self.beta != 0.0 { 2 } else { 1 } * m * n;
        // X is counted once per row it has (at most nnz rows are touched): the gathered rows
        // stay in cache between their uses on both backends (CPU: a k×16 panel of X in L2, or
        // the wide path's blocked gather; GPU: the column of X in L2), so X crosses the memory
        // bus once, not once per entry. The CSR's values once, its index arrays at INDEX_BYTES
        // each (counted by the lowering context).
        let x_rows = Sat::of(x.0.min(i.0));
        let moved = nnz + x_rows * n + m * n + reads_out(self.beta, m, n);
        Ok((flops.0, moved.0))
    }
    fn describe(&self) -> String {
        format!("spmm{}", ab(self.alpha, self.beta))
    }
}
