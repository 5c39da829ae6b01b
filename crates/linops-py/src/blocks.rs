//! Products of a Dask worker's row block with a small dense matrix, on the block's own buffer:
//! `A_k·X` (`b×n` by `n×l`) and `A_kᵀ·X` (`b×n` transposed, by `b×l`).
//!
//! **Why here.** The distributed randomized SVD (`linops.dask.randomized_svd`) multiplies every
//! row block by a thin matrix on every pass. Wrapping the block in an `Op` first would copy it
//! into linops' parameter storage (and check it) on every pass; these products instead read the
//! block through a borrowed faer view of the NumPy buffer ([`crate::convert::view`]: any
//! strides, no copy) and write the result straight into the NumPy array that is returned.
//!
//! **Cost.** `2·b·n·l` flops by faer's GEMM on the rayon pool (`RAYON_NUM_THREADS` threads),
//! with the GIL released (`threads = 1`: on the calling thread, as Dask runs NumPy in its
//! workers); memory: the `b×l` or `n×l` result only.

use crate::convert::view;
use linops::faer::linalg::matmul::matmul;
use linops::faer::{Accum, MatMut, Par};
use numpy::{PyArray2, PyArrayMethods, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// `block·x` (or `blockᵀ·x` with `transpose=True`) as a new Fortran-order float64 array, read
/// from both arrays in place, on `threads` threads (0: rayon's pool size).
#[pyfunction]
#[pyo3(signature = (block, x, *, transpose=false, threads=0))]
pub fn block_matmul<'py>(
    py: Python<'py>,
    block: PyReadonlyArray2<'py, f64>,
    x: PyReadonlyArray2<'py, f64>,
    transpose: bool,
    threads: usize,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let a = view(&block, "block")?;
    let a = if transpose { a.transpose() } else { a };
    let xv = view(&x, "x")?;
    if a.ncols() != xv.nrows() {
        let (op, side) = if transpose {
            ("block.T @ x", "rows")
        } else {
            ("block @ x", "columns")
        };
        return Err(PyValueError::new_err(format!(
            "{op}: block has {} {side} but x has {} rows (block {:?}, x {:?})",
            a.ncols(),
            xv.nrows(),
            block.shape(),
            x.shape()
        )));
    }
    let (rows, cols) = (a.nrows(), xv.ncols());
    let par = if threads == 1 {
        Par::Seq
    } else {
        Par::rayon(threads)
    };
    // SAFETY: the array is created here and fully written by `matmul` (Accum::Replace) below
    // before it reaches Python.
    let out = unsafe { PyArray2::<f64>::new(py, [rows, cols], true) };
    {
        // SAFETY: `out` was just created; no other reference to its buffer exists.
        let dst = unsafe { out.as_slice_mut() }.expect("a fresh Fortran array is contiguous");
        let dst = MatMut::from_column_major_slice_mut(dst, rows, cols);
        py.detach(|| matmul(dst, Accum::Replace, a, xv, 1.0, par));
    }
    Ok(out)
}
