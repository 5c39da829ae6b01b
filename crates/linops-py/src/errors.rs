//! linops errors as Python exceptions.
//!
//! Input errors (`ShapeMismatch`, `EmptyDimension`, `NonFinite`, `InvalidArgument`,
//! `DeviceLimit`, `Unsupported` — "this input, on this device, cannot be done") become
//! `ValueError`; a missing adapter or a device failure (`NoAdapter`, `Backend`) becomes
//! `RuntimeError`. The message is linops' own `Display`.

use linops::Error;
use pyo3::PyErr;
use pyo3::exceptions::{PyRuntimeError, PyValueError};

/// The Python exception for a linops error.
pub fn to_py(e: Error) -> PyErr {
    match e {
        Error::NoAdapter(_) | Error::Backend(_) => PyRuntimeError::new_err(e.to_string()),
        _ => PyValueError::new_err(e.to_string()),
    }
}

/// `Result<T, linops::Error>` → `PyResult<T>`.
pub trait IntoPy<T> {
    /// Maps the error with [`to_py`].
    fn py(self) -> pyo3::PyResult<T>;
}

impl<T> IntoPy<T> for linops::Result<T> {
    fn py(self) -> pyo3::PyResult<T> {
        self.map_err(to_py)
    }
}
