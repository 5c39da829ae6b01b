//! NumPy ↔ faer without intermediate copies.
//!
//! **In.** A NumPy array of `float32`/`float64` in any memory order (C, Fortran, or a strided
//! slice, negative strides included) is read through a [`MatRef`] built on its own buffer with
//! its own element strides ([`view`]): no copy is made here. What linops does with the view is
//! linops' business (an operator constructor stores its parameters; `Engine::upload` moves a
//! block onto the backend). Other dtypes are converted by the Python layer (`np.asarray(...,
//! dtype=float64)`), the only case that copies.
//!
//! **Out.** A result `Mat<T>` is written once into a freshly allocated Fortran-order NumPy
//! array that owns its memory ([`to_numpy`]): one `memcpy` per column, no second copy.

use linops::faer::{Mat, MatRef};
use numpy::ndarray::Dimension;
use numpy::prelude::*;
use numpy::{Element, PyArray1, PyArray2, PyReadonlyArray, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// Checks that the array's buffer is aligned for `T`. NumPy allows unaligned arrays (an array
/// unpickled from a byte stream, as Dask ships blocks, or a view at an odd byte offset);
/// reading one through a typed view would be undefined, so it is refused with a `ValueError`
/// (the Python layer makes an aligned copy first: `np.require(a, requirements="A")`).
pub fn aligned<T: Element, D: Dimension>(
    a: &PyReadonlyArray<'_, T, D>,
    name: &str,
) -> PyResult<()> {
    if !a.data().is_aligned() {
        return Err(PyValueError::new_err(format!(
            "{name}: the array's buffer is not aligned for its dtype; pass an aligned array \
             (numpy.require(a, requirements='A'))"
        )));
    }
    Ok(())
}

/// The entries of a 1-D array (aligned: see [`aligned`]), copied into a `Vec`.
pub fn to_vec<T: Element + Copy>(a: &PyReadonlyArray1<'_, T>, name: &str) -> PyResult<Vec<T>> {
    aligned(a, name)?;
    Ok(a.as_array().to_vec())
}

/// A faer view of a 2-D NumPy array's own buffer (no copy).
///
/// The lifetime is tied to the read-only borrow, which NumPy's borrow checker keeps for as long
/// as the `PyReadonlyArray2` lives (writers from Rust are refused meanwhile).
///
/// # Errors
/// `ValueError` for an unaligned buffer ([`aligned`]).
pub fn view<'a, T: Element>(a: &'a PyReadonlyArray2<'_, T>, name: &str) -> PyResult<MatRef<'a, T>> {
    aligned(a, name)?;
    let v = a.as_array();
    let (rows, cols) = v.dim();
    let s = v.strides();
    // SAFETY: `as_array` gives a valid ndarray view of `rows×cols` elements with element strides
    // `s` (negative strides already resolved to a pointer at element (0, 0)); the borrow `a`
    // keeps the buffer alive and read-only for `'a`.
    Ok(unsafe { MatRef::from_raw_parts(v.as_ptr(), rows, cols, s[0], s[1]) })
}

/// A new Fortran-order NumPy array holding `m` (one copy, column by column).
pub fn to_numpy<'py, T: Element + Copy>(
    py: Python<'py>,
    m: MatRef<'_, T>,
) -> Bound<'py, PyArray2<T>> {
    let (rows, cols) = (m.nrows(), m.ncols());
    // SAFETY: the array is created uninitialized and every one of its rows·cols elements is
    // written below before it is handed to Python.
    let out = unsafe { PyArray2::<T>::new(py, [rows, cols], true) };
    {
        // SAFETY: `out` was just created here; no other reference to its buffer exists.
        let dst = unsafe { out.as_slice_mut() }.expect("a fresh Fortran array is contiguous");
        for j in 0..cols {
            let col = &mut dst[j * rows..(j + 1) * rows];
            match m.col(j).try_as_col_major() {
                Some(c) => col.copy_from_slice(c.as_slice()),
                None => col.iter_mut().enumerate().for_each(|(i, d)| *d = m[(i, j)]),
            }
        }
    }
    out
}

/// `to_numpy` for an owned faer matrix.
pub fn mat_to_numpy<'py, T: Element + Copy>(
    py: Python<'py>,
    m: &Mat<T>,
) -> Bound<'py, PyArray2<T>> {
    to_numpy(py, m.as_ref())
}

/// A 1-D NumPy array owning a copy of `v` (moved, not copied, into NumPy's allocation).
pub fn vec_to_numpy<'py>(py: Python<'py>, v: Vec<f64>) -> Bound<'py, PyArray1<f64>> {
    PyArray1::from_vec(py, v)
}
