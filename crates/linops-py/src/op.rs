//! `linops.Op`: a linops operator held by Python, with its constructors.
//!
//! The constructors mirror the `Op::` constructors of the Rust crate. Dense parameters arrive
//! as NumPy arrays read through faer views ([`crate::convert::view`]); linops stores them
//! (in `f64`, column-major) as its operator parameters: that is the one copy an operator makes.
//! `matmat` applies the operator to a `float32` or `float64` block, read in place.

use crate::convert::{aligned, mat_to_numpy, to_vec, view};
use crate::engine::pick;
use crate::errors::IntoPy;
use linops::{DType, Engine, HostMat, Op, Scalar};
use numpy::{Element, PyArray2, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// A 2-D `float32` or `float64` NumPy array, borrowed read-only.
#[derive(FromPyObject)]
pub enum Block<'py> {
    /// `float64`.
    F64(PyReadonlyArray2<'py, f64>),
    /// `float32`.
    F32(PyReadonlyArray2<'py, f32>),
}

/// A linear operator (see the Rust crate's `Op`); build one with the static constructors.
#[pyclass(name = "Op", module = "linops._linops", frozen)]
#[derive(Clone)]
pub struct PyOp {
    /// The operator.
    pub op: Op,
}

fn host(a: &PyReadonlyArray2<'_, f64>) -> PyResult<HostMat> {
    let v = view(a, "matrix")?;
    Ok(HostMat::from_fn(v.nrows(), v.ncols(), |i, j| v[(i, j)]))
}

fn hosts(blocks: &[PyReadonlyArray2<'_, f64>]) -> PyResult<Vec<HostMat>> {
    blocks.iter().map(host).collect()
}

fn indices(what: &str, a: &PyReadonlyArray1<'_, i64>) -> PyResult<Vec<usize>> {
    to_vec(a, what)?
        .into_iter()
        .map(|v| {
            usize::try_from(v)
                .map_err(|_| PyValueError::new_err(format!("{what} must be nonnegative, got {v}")))
        })
        .collect()
}

fn wrap(py: Python<'_>, f: impl FnOnce() -> linops::Result<Op> + Send) -> PyResult<PyOp> {
    Ok(PyOp {
        op: py.detach(f).py()?,
    })
}

/// `op · x` in the precision of `x` on `engine`, returned as a new NumPy array.
pub fn apply_block<'py, T: Scalar + Element>(
    py: Python<'py>,
    e: &Engine,
    op: &Op,
    x: &PyReadonlyArray2<'py, T>,
) -> PyResult<Bound<'py, PyArray2<T>>> {
    let v = view(x, "X")?;
    let y = py.detach(|| e.apply(op, v)).py()?;
    Ok(mat_to_numpy(py, &y))
}

#[pymethods]
impl PyOp {
    /// A dense operator from a 2-D float32/float64 array (any memory order, read in place;
    /// linops stores it in `f64`).
    #[staticmethod]
    fn dense(py: Python<'_>, a: Block<'_>) -> PyResult<Self> {
        match a {
            Block::F64(a) => {
                let v = view(&a, "A")?;
                wrap(py, || linops::dense(v))
            }
            Block::F32(a) => {
                let v = view(&a, "A")?;
                wrap(py, || {
                    Op::from_host(HostMat::from_fn(v.nrows(), v.ncols(), |i, j| {
                        f64::from(v[(i, j)])
                    }))
                })
            }
        }
    }

    /// A sparse CSR operator (SciPy's `indptr`, `indices`, `data`).
    #[staticmethod]
    fn csr(
        py: Python<'_>,
        shape: (usize, usize),
        indptr: PyReadonlyArray1<'_, i64>,
        idx: PyReadonlyArray1<'_, i64>,
        data: PyReadonlyArray1<'_, f64>,
    ) -> PyResult<Self> {
        let indptr = indices("indptr", &indptr)?;
        let idx = indices("indices", &idx)?;
        let data = to_vec(&data, "data")?;
        wrap(py, || Op::csr(shape.0, shape.1, indptr, idx, data))
    }

    /// The `n×n` identity.
    #[staticmethod]
    fn identity(py: Python<'_>, n: usize) -> PyResult<Self> {
        wrap(py, || Op::identity(n))
    }

    /// `diag(d)`.
    #[staticmethod]
    fn diagonal(py: Python<'_>, d: PyReadonlyArray1<'_, f64>) -> PyResult<Self> {
        let d = to_vec(&d, "d")?;
        wrap(py, || Op::diagonal(d))
    }

    /// The permutation `P` with `(P·x)[i] = x[perm[i]]`.
    #[staticmethod]
    fn permutation(py: Python<'_>, perm: PyReadonlyArray1<'_, i64>) -> PyResult<Self> {
        let p = indices("perm", &perm)?;
        wrap(py, || Op::permutation(p))
    }

    /// `U·diag(s)·Vᵀ`.
    #[staticmethod]
    fn low_rank(
        py: Python<'_>,
        u: PyReadonlyArray2<'_, f64>,
        s: PyReadonlyArray1<'_, f64>,
        v: PyReadonlyArray2<'_, f64>,
    ) -> PyResult<Self> {
        let (u, s, v) = (host(&u)?, to_vec(&s, "s")?, host(&v)?);
        wrap(py, || Op::low_rank(u, s, v))
    }

    /// `diag(d) + U·Vᵀ`.
    #[staticmethod]
    fn diag_plus_low_rank(
        py: Python<'_>,
        d: PyReadonlyArray1<'_, f64>,
        u: PyReadonlyArray2<'_, f64>,
        v: PyReadonlyArray2<'_, f64>,
    ) -> PyResult<Self> {
        let (d, u, v) = (to_vec(&d, "d")?, host(&u)?, host(&v)?);
        wrap(py, || Op::diag_plus_low_rank(d, u, v))
    }

    /// Block-diagonal operator of the given dense blocks.
    #[staticmethod]
    fn block_diagonal(py: Python<'_>, blocks: Vec<PyReadonlyArray2<'_, f64>>) -> PyResult<Self> {
        let b = hosts(&blocks)?;
        wrap(py, || Op::block_diagonal(b))
    }

    /// Monarch `P·L·Pᵀ·R` from the blocks of `L` and `R`.
    #[staticmethod]
    fn monarch(
        py: Python<'_>,
        l_blocks: Vec<PyReadonlyArray2<'_, f64>>,
        r_blocks: Vec<PyReadonlyArray2<'_, f64>>,
    ) -> PyResult<Self> {
        let (l, r) = (hosts(&l_blocks)?, hosts(&r_blocks)?);
        wrap(py, || Op::monarch(l, r))
    }

    /// `A₁ ⊗ A₂ ⊗ …`.
    #[staticmethod]
    fn kronecker(py: Python<'_>, factors: Vec<PyRef<'_, PyOp>>) -> PyResult<Self> {
        let f: Vec<Op> = factors.iter().map(|o| o.op.clone()).collect();
        wrap(py, || Op::kronecker(f))
    }

    /// The orthonormal Walsh–Hadamard transform of size `n`: a power of two, or `m·2^k` with
    /// `m` in {12, 20, 28} (Paley base matrices).
    #[staticmethod]
    fn hadamard(py: Python<'_>, n: usize) -> PyResult<Self> {
        wrap(py, || Op::hadamard(n))
    }

    /// The orthonormal DCT-II of size `n`.
    #[staticmethod]
    fn dct(py: Python<'_>, n: usize) -> PyResult<Self> {
        wrap(py, || Op::dct(n))
    }

    /// A `d×m` Gaussian sketch (entries `N(0, 1/d)`, generated from `seed`, never stored).
    #[staticmethod]
    fn gaussian_sketch(py: Python<'_>, d: usize, m: usize, seed: u64) -> PyResult<Self> {
        wrap(py, || Op::gaussian_sketch(d, m, seed))
    }

    /// A `d×m` Rademacher sketch (entries `±1/√d`).
    #[staticmethod]
    fn rademacher_sketch(py: Python<'_>, d: usize, m: usize, seed: u64) -> PyResult<Self> {
        wrap(py, || Op::rademacher_sketch(d, m, seed))
    }

    /// A `d×m` sparse sign sketch with `nnz` nonzeros `±1/√nnz` per column.
    #[staticmethod]
    fn sparse_sign(py: Python<'_>, d: usize, m: usize, nnz: usize, seed: u64) -> PyResult<Self> {
        wrap(py, || Op::sparse_sign(d, m, nnz, seed))
    }

    /// A `d×m` very sparse random projection (density `1/√m` unless given).
    #[staticmethod]
    #[pyo3(signature = (d, m, seed, density=None))]
    fn very_sparse_projection(
        py: Python<'_>,
        d: usize,
        m: usize,
        seed: u64,
        density: Option<f64>,
    ) -> PyResult<Self> {
        wrap(py, || match density {
            None => Op::very_sparse_projection(d, m, seed),
            Some(rho) => Ok(Op::leaf(linops::op::VerySparseProjection::with_density(
                d, m, rho, seed,
            )?)),
        })
    }

    /// A `d×m` subsampled randomized Hadamard transform.
    #[staticmethod]
    fn srht(py: Python<'_>, d: usize, m: usize, seed: u64) -> PyResult<Self> {
        wrap(py, || Op::srht(d, m, seed))
    }

    /// A `d×m` uniform row sampler, scaled so that `E[SᵀS] = I`.
    #[staticmethod]
    fn uniform_row_sampler(py: Python<'_>, d: usize, m: usize, seed: u64) -> PyResult<Self> {
        wrap(py, || Op::uniform_row_sampler(d, m, seed))
    }

    /// `A₁·A₂·…` (applied right to left).
    #[staticmethod]
    fn product(py: Python<'_>, ops: Vec<PyRef<'_, PyOp>>) -> PyResult<Self> {
        let f: Vec<Op> = ops.iter().map(|o| o.op.clone()).collect();
        wrap(py, || Op::product(f))
    }

    /// `A₁ + A₂ + …`.
    #[staticmethod]
    fn sum(py: Python<'_>, ops: Vec<PyRef<'_, PyOp>>) -> PyResult<Self> {
        let f: Vec<Op> = ops.iter().map(|o| o.op.clone()).collect();
        wrap(py, || Op::sum(f))
    }

    /// `s·A`.
    fn scaled(&self, py: Python<'_>, s: f64) -> PyResult<Self> {
        let op = self.op.clone();
        wrap(py, || op.scaled(s))
    }

    /// `Aᵀ`.
    #[getter(T)]
    fn transpose(&self) -> Self {
        PyOp { op: self.op.t() }
    }

    /// `(rows, cols)`.
    #[getter]
    fn shape(&self) -> (usize, usize) {
        self.op.shape()
    }

    /// `A·X` for a 2-D `float32`/`float64` array `X` (read in place, any memory order), in the
    /// precision of `X`, on `backend`; a new Fortran-order array.
    #[pyo3(signature = (x, backend="auto"))]
    fn matmat<'py>(&self, py: Python<'py>, x: Block<'py>, backend: &str) -> PyResult<Py<PyAny>> {
        Ok(match x {
            Block::F64(x) => {
                let e = pick(py, backend, DType::F64)?;
                apply_block(py, e, &self.op, &x)?.into_any().unbind()
            }
            Block::F32(x) => {
                let e = pick(py, backend, DType::F32)?;
                apply_block(py, e, &self.op, &x)?.into_any().unbind()
            }
        })
    }

    /// `A·x` for a 1-D array `x` (or an `n×1` one), as scipy's `LinearOperator.matvec`.
    #[pyo3(signature = (x, backend="auto"))]
    fn matvec<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        backend: &str,
    ) -> PyResult<Py<PyAny>> {
        apply_vec(py, &self.op, x, backend)
    }

    /// `Aᵀ·x` for a 1-D array `x`, as scipy's `LinearOperator.rmatvec`.
    #[pyo3(signature = (x, backend="auto"))]
    fn rmatvec<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        backend: &str,
    ) -> PyResult<Py<PyAny>> {
        apply_vec(py, &self.op.t(), x, backend)
    }

    /// `Aᵀ·X` for a 2-D array `X`, as scipy's `LinearOperator.rmatmat`.
    #[pyo3(signature = (x, backend="auto"))]
    fn rmatmat<'py>(&self, py: Python<'py>, x: Block<'py>, backend: &str) -> PyResult<Py<PyAny>> {
        PyOp { op: self.op.t() }.matmat(py, x, backend)
    }

    /// `A @ X` (1-D or 2-D `X`).
    fn __matmul__<'py>(&self, py: Python<'py>, x: &Bound<'py, PyAny>) -> PyResult<Py<PyAny>> {
        if let Ok(b) = x.extract::<Block<'py>>() {
            return self.matmat(py, b, "auto");
        }
        apply_vec(py, &self.op, x, "auto")
    }

    /// NumPy's float64 dtype (what scipy's `aslinearoperator` reads).
    #[getter]
    fn dtype<'py>(&self, py: Python<'py>) -> Bound<'py, numpy::PyArrayDescr> {
        numpy::dtype::<f64>(py)
    }

    /// The dense `f64` matrix of the operator.
    fn to_dense<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray2<f64>> {
        let m = py.detach(|| linops::to_faer(&self.op));
        mat_to_numpy(py, &m)
    }

    /// A one-line description of the operator tree.
    fn describe(&self) -> String {
        self.op.describe()
    }

    /// Number of stored parameters.
    #[getter]
    fn param_count(&self) -> usize {
        self.op.param_count()
    }

    fn __repr__(&self) -> String {
        let (r, c) = self.op.shape();
        format!("linops.Op({r}x{c}: {})", self.op.describe())
    }
}

/// `op · x` for a 1-D `float32`/`float64` array (read in place as an `n×1` block); 1-D result.
fn apply_vec<'py>(
    py: Python<'py>,
    op: &Op,
    x: &Bound<'py, PyAny>,
    backend: &str,
) -> PyResult<Py<PyAny>> {
    if let Ok(x) = x.extract::<PyReadonlyArray1<'py, f64>>() {
        let e = pick(py, backend, DType::F64)?;
        return Ok(vec_apply(py, e, op, &x)?.into_any().unbind());
    }
    if let Ok(x) = x.extract::<PyReadonlyArray1<'py, f32>>() {
        let e = pick(py, backend, DType::F32)?;
        return Ok(vec_apply(py, e, op, &x)?.into_any().unbind());
    }
    Err(pyo3::exceptions::PyTypeError::new_err(format!(
        "expected a 1-D or 2-D float32/float64 NumPy array, got {}",
        x.get_type().name()?
    )))
}

fn vec_apply<'py, T: Scalar + Element>(
    py: Python<'py>,
    e: &Engine,
    op: &Op,
    x: &PyReadonlyArray1<'py, T>,
) -> PyResult<Bound<'py, numpy::PyArray1<T>>> {
    aligned(x, "x")?;
    let a = x.as_array();
    let n = a.len();
    // SAFETY: `n` elements at stride `a.strides()[0]` from `a.as_ptr()`, kept alive and
    // read-only by the borrow `x`; the column stride is never used for one column.
    let v = unsafe { linops::faer::MatRef::from_raw_parts(a.as_ptr(), n, 1, a.strides()[0], 1) };
    let y = py.detach(|| e.apply(op, v)).py()?;
    Ok(numpy::PyArray1::from_iter(
        py,
        (0..y.nrows()).map(|i| y[(i, 0)]),
    ))
}

/// The faer view linops reads for array `a`: `(address of element (0, 0), row stride, column
/// stride)` in elements. For the zero-copy test: the address equals NumPy's data pointer.
#[pyfunction]
pub fn view_address(a: Block<'_>) -> PyResult<(usize, isize, isize)> {
    Ok(match a {
        Block::F64(a) => {
            let v = view(&a, "a")?;
            (v.as_ptr() as usize, v.row_stride(), v.col_stride())
        }
        Block::F32(a) => {
            let v = view(&a, "a")?;
            (v.as_ptr() as usize, v.row_stride(), v.col_stride())
        }
    })
}
