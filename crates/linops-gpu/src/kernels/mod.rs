//! Kernel entry points: methods on [`GpuEncoder`](crate::GpuEncoder) that validate their
//! arguments on the host and then record one dispatch of a WGSL kernel.
//!
//! Because shipped pipelines are trusted modules without runtime bounds checks, the validation
//! here is what keeps every access in bounds: each method checks shapes, leading dimensions,
//! offsets, strides and batch ranges against the bound buffer lengths (in u64 arithmetic, so
//! nothing wraps) and that outputs do not share storage with inputs. A failed check is an
//! [`Error`], never a dispatch.
//!
//! | method | shader | cost |
//! |---|---|---|
//! | [`gemm`](crate::GpuEncoder::gemm) | `gemm.wgsl` | 2·m·n·k·batch flops |
//! | [`gemm_diag`](crate::GpuEncoder::gemm_diag) | `gemm.wgsl` | 2·m·n·k + 2·m·n flops, C written once |
//! | [`axpby`](crate::GpuEncoder::axpby), [`scale`](crate::GpuEncoder::scale), [`diag_scale`](crate::GpuEncoder::diag_scale) | `elementwise.wgsl` | O(rows·cols) |
//! | [`transpose`](crate::GpuEncoder::transpose) | `transpose.wgsl` | O(rows·cols) |
//! | [`col_norms`](crate::GpuEncoder::col_norms), [`col_dots`](crate::GpuEncoder::col_dots) | `reduce.wgsl` | O(rows·cols) |
//! | [`batched_gemm`](crate::GpuEncoder::batched_gemm) | `batched_gemm.wgsl` | 2·b·m·k·n flops, one launch |
//! | [`block_gemm`](crate::GpuEncoder::block_gemm) | `block_gemm.wgsl` | 2·b·m·k·n flops, one launch |
//! | [`butterfly`](crate::GpuEncoder::butterfly) | `butterfly.wgsl` | count·(4b−1)·n flops per column, one pass |
//! | [`kronecker_gemm`](crate::GpuEncoder::kronecker_gemm) | `kronecker_gemm.wgsl` | 2·m·d·s·w flops per column |
//! | [`gather`](crate::GpuEncoder::gather) | `gather.wgsl` | O(rows·cols) |
//! | [`philox_fill`](crate::GpuEncoder::philox_fill), [`random_fill`](crate::GpuEncoder::random_fill) | `random_fill.wgsl` (+ `philox.wgsl`) | one Philox block per 4 entries |
//! | [`sketch_gemm`](crate::GpuEncoder::sketch_gemm) | `sketch_gemm.wgsl` (+ `philox.wgsl`) | 2·m·n·k flops + m·k generated entries per column tile |
//! | [`batch_transpose`](crate::GpuEncoder::batch_transpose) | `batch_transpose.wgsl` | O(len) |
//! | [`spmm`](crate::GpuEncoder::spmm) | `spmm.wgsl` | 2·nnz·b flops |
//! | [`fwht`](crate::GpuEncoder::fwht) | `fwht.wgsl` | N·log₂N adds per column |
//! | [`dct`](crate::GpuEncoder::dct) | `dct.wgsl` | 5·n·log₂n + O(n) flops per column |
//!
//! The cooperative-matrix tier (feature `coop-matrix`; not `GpuEncoder` methods, each call one
//! submission): [`coop_gemm::CoopGemm::gemm_with`] (`coop_gemm.wgsl`, 2·m·n·k flops) and
//! [`coop_gemm::CoopGemm::block_gemm`] (`coop_block_gemm.wgsl`, 2·b·m·k·n flops), f16 or bf16
//! inputs, f32 accumulation; [`coop_convert::half_codes`] (`coop_convert.wgsl`) runs their input
//! conversion alone on any adapter.

pub mod batch_transpose;
pub mod batched_gemm;
pub mod block_gemm;
pub mod butterfly;
pub mod coop_block_gemm;
pub mod coop_convert;
pub mod coop_gemm;
pub mod dct;
pub mod elementwise;
pub mod fwht;
pub mod gather;
pub mod gemm;
pub mod kronecker_gemm;
pub mod monarch;
pub mod random_fill;
pub mod reduce;
pub mod sketch_gemm;
pub mod spmm;
pub mod srht;
pub mod transpose;

use linops_core::{Error, Result};

use crate::GpuMat;

/// Converts a size or index parameter to the shader's u32, or fails.
pub(crate) fn to_u32(what: &str, v: usize) -> Result<u32> {
    u32::try_from(v).map_err(|_| {
        Error::InvalidArgument(format!(
            "{what} = {v} does not fit the kernels' u32 indices"
        ))
    })
}

/// Fails unless `m` is rows × cols.
pub(crate) fn check_shape(context: &str, m: &GpuMat, rows: usize, cols: usize) -> Result<()> {
    if m.rows() != rows || m.cols() != cols {
        return Err(Error::ShapeMismatch {
            context: context.to_string(),
            expected: format!("{rows}x{cols}"),
            found: format!("{}x{}", m.rows(), m.cols()),
        });
    }
    Ok(())
}

/// Fails unless `m` is a vector (one row or one column) of `len` entries.
pub(crate) fn check_vector(context: &str, m: &GpuMat, len: usize) -> Result<()> {
    if m.len() != len || (m.rows() != 1 && m.cols() != 1) {
        return Err(Error::ShapeMismatch {
            context: context.to_string(),
            expected: format!("a vector of {len} entries (1x{len} or {len}x1)"),
            found: format!("{}x{}", m.rows(), m.cols()),
        });
    }
    Ok(())
}

/// Fails if the output shares storage with any input (wgpu cannot bind one buffer as both a
/// read-only and a writable storage binding in one dispatch).
pub(crate) fn check_distinct(context: &str, out: &GpuMat, inputs: &[&GpuMat]) -> Result<()> {
    if inputs.iter().any(|i| out.same_storage(i)) {
        return Err(Error::InvalidArgument(format!(
            "{context}: the output must not be one of the inputs (no in-place form)"
        )));
    }
    Ok(())
}

/// Workgroups for `n` independent items of `per_group` each, folded into a 2-D grid of at most
/// `max_per_dim` per dimension: (x, y, 1) with x·y ≥ ceil(n / per_group).
pub(crate) fn grid_2d(n: u64, per_group: u64, max_per_dim: u32) -> [u64; 3] {
    let groups = n.div_ceil(per_group).max(1);
    let x = groups.min(u64::from(max_per_dim).max(1));
    [x, groups.div_ceil(x), 1]
}
