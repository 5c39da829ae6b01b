//! Column blocks of a sketch `S` (`d×m`) and the partial sketches `S[:, r .. r + b]·A_k` of a
//! row block `A_k` at row offset `r`: what a Dask worker computes for its block.
//!
//! **Mathematics.** `S·A = Σ_k S[:, r_k .. r_k + b_k]·A_k` over the row blocks of `A`. Every
//! family here generates column `j` of `S` from the Philox state and `j` alone
//! (`linops::stream`, `linops::op::SparseSign` module docs), so the columns `c0 .. c0 + cols`
//! are the same family with the state `rng.skip_columns(c0)` and `cols` columns — bit for bit
//! the columns of the whole `S`. The very sparse projection keeps the whole sketch's density
//! (`1/√m` by default) and hence its scale. The SRHT mixes all rows (a Hadamard transform), so
//! it has no column blocks and is refused.
//!
//! **Cost.** Generating the block: `d·cols` entries (dense) or `nnz·cols` (sparse sign); the
//! product: `2·d·b·n` (dense) or `2·nnz·b·n` flops.

use crate::convert::mat_to_numpy;
use crate::engine::pick;
use crate::errors::IntoPy;
use crate::op::PyOp;
use linops::stream::{SketchFamily, SketchSpec};
use linops::{DType, Op, RngState};
use numpy::{PyArray2, PyReadonlyArray2};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// Columns `c0 .. c0 + cols` of the `d×m` sketch `kind` from `seed`.
#[allow(clippy::too_many_arguments)]
fn columns(
    kind: &str,
    d: usize,
    m: usize,
    seed: u64,
    c0: usize,
    cols: usize,
    nnz: usize,
    density: Option<f64>,
) -> PyResult<linops::Result<Op>> {
    if c0.checked_add(cols).is_none_or(|end| end > m) {
        return Err(PyValueError::new_err(format!(
            "sketch columns {c0}..{} leave the {d}x{m} sketch",
            c0.saturating_add(cols)
        )));
    }
    let rng = RngState::new(seed);
    Ok(match kind {
        "gaussian" | "rademacher" => {
            let family = if kind == "gaussian" {
                SketchFamily::Gaussian
            } else {
                SketchFamily::Rademacher
            };
            SketchSpec::new(family, d, m, rng).and_then(|s| s.column_block(c0, cols))
        }
        "sparse_sign" => Op::sparse_sign(d, cols, nnz, rng.skip_columns(c0 as u64)),
        "very_sparse" => {
            let rho = density.unwrap_or(1.0 / (m as f64).sqrt());
            linops::op::VerySparseProjection::with_density(
                d,
                cols,
                rho,
                rng.skip_columns(c0 as u64),
            )
            .map(Op::leaf)
        }
        other => {
            return Err(PyValueError::new_err(format!(
                "kind must be 'gaussian', 'rademacher', 'sparse_sign' or 'very_sparse' (the \
                 families whose columns can be generated alone), got {other:?}"
            )));
        }
    })
}

/// The columns `c0 .. c0 + cols` of the `d×m` sketch `kind` as an operator (`d×cols`).
#[pyfunction]
#[pyo3(signature = (kind, d, m, seed, c0, cols, *, nnz=8, density=None))]
#[allow(clippy::too_many_arguments)]
pub fn sketch_columns(
    py: Python<'_>,
    kind: &str,
    d: usize,
    m: usize,
    seed: u64,
    c0: usize,
    cols: usize,
    nnz: usize,
    density: Option<f64>,
) -> PyResult<PyOp> {
    let op = py.detach(|| columns(kind, d, m, seed, c0, cols, nnz, density))?;
    Ok(PyOp { op: op.py()? })
}

/// `S[:, row_offset .. row_offset + b]·block` (`d×n`, float64) for the `b×n` row block of `A`
/// at `row_offset`, `S` the `d×m` sketch `kind` from `seed`.
#[pyfunction]
#[pyo3(signature = (kind, d, m, seed, row_offset, block, *, nnz=8, density=None, backend="cpu"))]
#[allow(clippy::too_many_arguments)]
pub fn sketch_block<'py>(
    py: Python<'py>,
    kind: &str,
    d: usize,
    m: usize,
    seed: u64,
    row_offset: usize,
    block: PyReadonlyArray2<'py, f64>,
    nnz: usize,
    density: Option<f64>,
    backend: &str,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let v = crate::convert::view(&block, "block")?;
    let b = v.nrows();
    let s = py.detach(|| columns(kind, d, m, seed, row_offset, b, nnz, density))?;
    let s = s.py()?;
    let e = pick(py, backend, DType::F64)?;
    let y = py.detach(|| e.apply(&s, v)).py()?;
    Ok(mat_to_numpy(py, &y))
}
