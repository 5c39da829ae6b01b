//! Python bindings of linops (`linops._linops`): operators, the randomized drivers and the
//! block sketches that the Dask layer runs on its workers.
//!
//! This crate is the thin Rust half of the `linops` Python package; the pure-Python half
//! (`python/linops/`) gives the scikit-learn/PyTorch/SciPy-style signatures and the Dask
//! functions. Every entry point here validates its arguments, converts NumPy arrays to faer
//! views without copying ([`convert`]), releases the GIL for the computation
//! (`Python::detach`), and maps [`linops::Error`] to `ValueError`/`RuntimeError` carrying
//! linops' message ([`errors`]).
//!
//! Built by maturin from `crates/linops-py/pyproject.toml`; the crate is excluded from the Cargo
//! workspace so that `cargo build --workspace` needs no Python.

mod blocks;
mod convert;
mod drivers;
mod engine;
mod errors;
mod op;
mod sketch;

use pyo3::prelude::*;

/// The extension module `linops._linops`.
#[pymodule]
fn _linops(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<op::PyOp>()?;
    m.add_function(wrap_pyfunction!(drivers::randomized_svd, m)?)?;
    m.add_function(wrap_pyfunction!(drivers::lstsq, m)?)?;
    m.add_function(wrap_pyfunction!(drivers::nystrom_pcg, m)?)?;
    m.add_function(wrap_pyfunction!(drivers::hutchpp, m)?)?;
    m.add_function(wrap_pyfunction!(drivers::polar, m)?)?;
    m.add_function(wrap_pyfunction!(sketch::sketch_block, m)?)?;
    m.add_function(wrap_pyfunction!(sketch::sketch_columns, m)?)?;
    m.add_function(wrap_pyfunction!(sketch::reproducible_sketch_block, m)?)?;
    m.add_function(wrap_pyfunction!(blocks::block_matmul, m)?)?;
    m.add_function(wrap_pyfunction!(engine::backend_info, m)?)?;
    m.add_function(wrap_pyfunction!(op::view_address, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
