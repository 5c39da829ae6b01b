//! The randomized drivers of `linops::randnla`, called on a [`PyOp`] with the GIL released.
//!
//! Each function takes the driver's options as keyword arguments (defaults from the Rust options
//! structs' `Default`, restated by the Python layer), runs in the requested precision
//! (`dtype="float32"|"float64"`) on the engine `backend` resolves to, and returns NumPy arrays
//! and Python scalars.

use crate::convert::{mat_to_numpy, to_vec, vec_to_numpy};
use crate::engine::{parse_dtype, pick};
use crate::errors::IntoPy;
use crate::op::PyOp;
use linops::randnla::lstsq::{LstsqMethod, LstsqOptions};
use linops::randnla::matfun::{MatFunOptions, NsKind, polar_newton_schulz};
use linops::randnla::nystrom::{CgOptions, NystromOptions, nystrom};
use linops::randnla::svd::SvdOptions;
use linops::randnla::trace::{TraceOptions, hutch_plus_plus};
use linops::{DType, Engine, Scalar};
use numpy::{Element, PyReadonlyArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// Runs `f::<f32>` or `f::<f64>` by `dtype`.
macro_rules! by_dtype {
    ($dtype:expr, $f:ident ( $($arg:expr),* )) => {
        match $dtype {
            DType::F32 => $f::<f32>($($arg),*),
            DType::F64 => $f::<f64>($($arg),*),
        }
    };
}

type Svd = (Py<PyAny>, Py<PyAny>, Py<PyAny>, f64);

fn svd_in<T: Scalar + Element>(
    py: Python<'_>,
    e: &Engine,
    op: &PyOp,
    k: usize,
    opts: SvdOptions,
) -> PyResult<Svd> {
    let a = &op.op;
    let (u, s, v, err) = py
        .detach(|| -> linops::Result<_> {
            let r = linops::randnla::svd::randomized_svd::<T>(e, a, k, &opts)?;
            Ok((
                e.download::<T>(&r.u)?,
                r.s,
                e.download::<T>(&r.v)?,
                r.error_estimate,
            ))
        })
        .py()?;
    Ok((
        mat_to_numpy(py, &u).into_any().unbind(),
        vec_to_numpy(py, s).into_any().unbind(),
        mat_to_numpy(py, &v).into_any().unbind(),
        err,
    ))
}

/// Rank-`k` randomized SVD (HMT Alg. 5.1): `(U, s, V, error_estimate)` with `U` `m×k`, `V`
/// `n×k` in `dtype`, `s` float64 nonincreasing; `power_iters=None` follows the library's default
/// (scikit-learn's `n_iter="auto"` rule).
#[pyfunction]
#[pyo3(signature = (op, k, *, oversample=10, power_iters=None, seed=0x5EED, probes=10, backend="auto", dtype="float64"))]
#[allow(clippy::too_many_arguments)]
pub fn randomized_svd(
    py: Python<'_>,
    op: &PyOp,
    k: usize,
    oversample: usize,
    power_iters: Option<usize>,
    seed: u64,
    probes: usize,
    backend: &str,
    dtype: &str,
) -> PyResult<Svd> {
    let d = parse_dtype(dtype)?;
    let e = pick(py, backend, d)?;
    let opts = SvdOptions {
        oversample,
        power_iters,
        seed,
        probes,
    };
    by_dtype!(d, svd_in(py, e, op, k, opts))
}

/// Sketch-and-precondition least squares `argmin ‖A·x − b‖₂`:
/// `(x, iterations, converged, residual_norm, method)`.
#[pyfunction]
#[pyo3(signature = (op, b, *, sketch_factor=None, seed=0x5EED, tol=1e-15, max_iter=100, refine=10, backend="auto"))]
#[allow(clippy::too_many_arguments)]
pub fn lstsq(
    py: Python<'_>,
    op: &PyOp,
    b: PyReadonlyArray1<'_, f64>,
    sketch_factor: Option<f64>,
    seed: u64,
    tol: f64,
    max_iter: usize,
    refine: usize,
    backend: &str,
) -> PyResult<(Py<PyAny>, usize, bool, f64, &'static str)> {
    let e = pick(py, backend, DType::F64)?;
    let b = to_vec(&b, "b")?;
    let opts = LstsqOptions {
        sketch_factor,
        seed,
        tol,
        max_iter,
        refine,
        ..LstsqOptions::default()
    };
    let a = &op.op;
    let r = py
        .detach(|| linops::randnla::lstsq::lstsq(e, a, &b, &opts))
        .py()?;
    let method = match r.method {
        LstsqMethod::SketchAndSolve => "sketch_and_solve",
        LstsqMethod::SketchAndPrecondition => "sketch_and_precondition",
    };
    Ok((
        vec_to_numpy(py, r.x).into_any().unbind(),
        r.iterations,
        r.converged,
        r.residual_norm,
        method,
    ))
}

type Cg = (Py<PyAny>, usize, bool, f64);

#[allow(clippy::too_many_arguments)]
fn pcg_in<T: Scalar>(
    py: Python<'_>,
    e: &Engine,
    op: &PyOp,
    b: Vec<f64>,
    mu: f64,
    rank: usize,
    nys: NystromOptions,
    cg: CgOptions,
) -> PyResult<Cg> {
    let a = &op.op;
    let r = py
        .detach(|| -> linops::Result<_> {
            let pre = if rank == 0 {
                None
            } else {
                Some(nystrom::<T>(e, a, rank, &nys)?)
            };
            linops::randnla::nystrom::nystrom_pcg::<T>(e, a, mu, &b, pre.as_ref(), &cg)
        })
        .py()?;
    Ok((
        vec_to_numpy(py, r.x).into_any().unbind(),
        r.iterations,
        r.converged,
        r.true_residual,
    ))
}

/// Solves `(A + μI)·x = b` (A PSD) by CG preconditioned with a rank-`rank` Nyström
/// approximation (none for `rank = 0`): `(x, iterations, converged, true_residual)`.
#[pyfunction]
#[pyo3(signature = (op, b, mu, *, rank=20, oversample=10, seed=0x5EED, tol=1e-8, max_iter=500, backend="auto", dtype="float64"))]
#[allow(clippy::too_many_arguments)]
pub fn nystrom_pcg(
    py: Python<'_>,
    op: &PyOp,
    b: PyReadonlyArray1<'_, f64>,
    mu: f64,
    rank: usize,
    oversample: usize,
    seed: u64,
    tol: f64,
    max_iter: usize,
    backend: &str,
    dtype: &str,
) -> PyResult<Cg> {
    let d = parse_dtype(dtype)?;
    let e = pick(py, backend, d)?;
    let b = to_vec(&b, "b")?;
    let nys = NystromOptions { oversample, seed };
    let cg = CgOptions { tol, max_iter };
    by_dtype!(d, pcg_in(py, e, op, b, mu, rank, nys, cg))
}

fn hutchpp_in<T: Scalar>(
    py: Python<'_>,
    e: &Engine,
    op: &PyOp,
    opts: TraceOptions,
) -> PyResult<(f64, f64, usize)> {
    let a = &op.op;
    let t = py.detach(|| hutch_plus_plus::<T>(e, a, &opts)).py()?;
    Ok((t.estimate, t.std_error, t.matvecs))
}

/// Hutch++ estimate of `tr(A)` with `matvecs` products: `(estimate, std_error, matvecs)`.
#[pyfunction]
#[pyo3(signature = (op, *, matvecs=30, seed=0x5EED, backend="auto", dtype="float64"))]
pub fn hutchpp(
    py: Python<'_>,
    op: &PyOp,
    matvecs: usize,
    seed: u64,
    backend: &str,
    dtype: &str,
) -> PyResult<(f64, f64, usize)> {
    let d = parse_dtype(dtype)?;
    let e = pick(py, backend, d)?;
    by_dtype!(d, hutchpp_in(py, e, op, TraceOptions { matvecs, seed }))
}

type Polar = (Py<PyAny>, usize, bool, f64);

fn polar_in<T: Scalar + Element>(
    py: Python<'_>,
    e: &Engine,
    op: &PyOp,
    kind: NsKind,
    opts: MatFunOptions,
) -> PyResult<Polar> {
    let a = &op.op;
    let (x, it, conv, res) = py
        .detach(|| -> linops::Result<_> {
            let r = polar_newton_schulz::<T>(e, a, kind, &opts)?;
            Ok((
                e.download::<T>(&r.x)?,
                r.iterations,
                r.converged,
                r.residual,
            ))
        })
        .py()?;
    Ok((mat_to_numpy(py, &x).into_any().unbind(), it, conv, res))
}

/// Newton–Schulz polar factor (`kind="cubic"`) or Muon's quintic orthogonalization
/// (`kind="quintic"`) of an `m×n` operator, `m ≥ n`: `(X, iterations, converged, residual)`.
#[pyfunction]
#[pyo3(signature = (op, *, kind="cubic", tol=None, max_iter=None, backend="auto", dtype="float64"))]
pub fn polar(
    py: Python<'_>,
    op: &PyOp,
    kind: &str,
    tol: Option<f64>,
    max_iter: Option<usize>,
    backend: &str,
    dtype: &str,
) -> PyResult<Polar> {
    let kind = match kind {
        "cubic" => NsKind::Cubic,
        "quintic" => NsKind::MuonQuintic,
        other => {
            return Err(PyValueError::new_err(format!(
                "kind must be 'cubic' or 'quintic', got {other:?}"
            )));
        }
    };
    let d = parse_dtype(dtype)?;
    let e = pick(py, backend, d)?;
    by_dtype!(
        d,
        polar_in(py, e, op, kind, MatFunOptions { tol, max_iter })
    )
}
