//! linops: structured and randomized linear algebra on any GPU, with a faer CPU fallback.
//!
//! Describe a linear map as an [`Op`] value (dense, identity, diagonal, and their scalings,
//! transposes, products and sums), then let an [`Engine`] apply it to a block of vectors. The
//! planner lowers `op · X` into kernel steps ([`Plan`], printable with [`Plan::explain`]); the GPU
//! backend runs them as WGSL compute kernels through wgpu, the CPU backend with faer.
//!
//! ```
//! use linops::{Engine, Op, faer::Mat};
//! # fn main() -> linops::Result<()> {
//! let engine = Engine::cpu();                       // or Engine::auto()? for GPU when present
//! let a = Mat::<f64>::from_fn(3, 2, |i, j| (i + 2 * j) as f64);
//! let op = Op::product(vec![Op::diagonal(vec![1.0, 2.0, 3.0])?, linops::dense(a.as_ref())?])?;
//! let x = Mat::<f64>::from_fn(2, 4, |i, j| (i * j) as f64);
//! let y = engine.apply(&op, x.as_ref())?;           // diag(d) · A · X
//! assert_eq!(y.nrows(), 3);
//! assert_eq!(y[(2, 1)], 3.0 * (2.0 * 0.0 + 4.0 * 1.0));
//! # Ok(()) }
//! ```
//!
//! Backend choice: [`Engine::auto`] uses the GPU when an adapter exists and otherwise the CPU (with a
//! one-line notice on stderr); `LINOPS_BACKEND=cpu|gpu` forces one; `LINOPS_ADAPTER=<substring>`
//! picks an adapter by name (`software` picks a CPU adapter such as lavapipe).
//!
//! Errors, NaN/Inf and limits (the whole policy, in one place: [`errors`]): every call returns a
//! typed [`Error`], never a panic or an abort. NaN and ±Inf are rejected, on every backend alike,
//! wherever data enters linops: operator parameters when the op is built, `X` when it is applied
//! or uploaded ([`Error::NonFinite`]). Results are not scanned: a finite input can still overflow
//! to ±Inf, the same way under every cost model. An `f32` engine refuses parameters and scalars
//! beyond `f32`'s range ([`Error::InvalidArgument`]); sizes are checked before anything
//! proportional to them is allocated ([`Error::DeviceLimit`]).

pub mod amm;
mod engine;
mod matrix;
pub mod randnla;
pub mod sampling;
pub mod stream;

/// Errors, NaN/Inf policy, precision ranges and size limits (`docs/errors.md`, with its example
/// run as a doctest).
pub mod errors {
    #![doc = include_str!("../../../docs/errors.md")]
}

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;

pub use engine::{BackendKind, Engine, Scalar};
pub use matrix::Matrix;

pub use faer;
pub use linops_core::{
    Backend, DType, Error, HostMat, Kernel, LeafOp, NormStats, Op, Plan, Result, Step, op, plan,
};
pub use linops_cpu::CpuBackend;
#[cfg(feature = "gpu")]
pub use linops_gpu::{AdapterChoice, DeviceOptions, GpuBackend, GpuDevice};

use faer::{Mat, MatRef};

/// A dense operator from a faer matrix (copied into the op, in `f64`).
///
/// # Errors
/// [`Error::EmptyDimension`] for a zero dimension, [`Error::NonFinite`] for NaN/Inf entries.
///
/// # Examples
/// ```
/// let a = linops::faer::Mat::<f64>::identity(3, 3);
/// assert_eq!(linops::dense(a.as_ref()).unwrap().shape(), (3, 3));
/// ```
pub fn dense(a: MatRef<'_, f64>) -> Result<Op> {
    Op::from_host(HostMat::from_fn(a.nrows(), a.ncols(), |i, j| a[(i, j)]))
}

/// The dense `f64` matrix of an operator, as a faer matrix (for tests and small problems).
///
/// # Examples
/// ```
/// let op = linops::Op::diagonal(vec![1.0, 2.0]).unwrap();
/// assert_eq!(linops::to_faer(&op)[(1, 1)], 2.0);
/// ```
pub fn to_faer(op: &Op) -> Mat<f64> {
    let d = op.to_dense();
    Mat::from_fn(d.rows(), d.cols(), |i, j| d.get(i, j))
}
