//! linops: structured and randomized linear algebra on any GPU, with a faer CPU fallback.
//!
//! Describe a linear map as an [`Op`] value, then let an [`Engine`] apply it to a block of
//! vectors. The planner lowers `op · X` into kernel steps ([`Plan`], printable with
//! [`Plan::explain`]); the GPU backend runs them as WGSL compute kernels through wgpu, the CPU
//! backend with faer.
//!
//! Every family has an `Op::` constructor (the leaf types in [`op`] hold the details):
//!
//! | family | constructor |
//! |---|---|
//! | dense, identity, diagonal | [`dense`] (from faer), [`Op::dense`], [`Op::identity`], [`Op::diagonal`] |
//! | permutation | [`Op::permutation`] |
//! | low-rank, diagonal + low-rank | [`Op::low_rank`], [`Op::diag_plus_low_rank`] |
//! | block-diagonal, Monarch | [`Op::block_diagonal`], [`Op::monarch`] |
//! | Householder product (compact WY), Kronecker | [`Op::householder`], [`Op::kronecker`] |
//! | Walsh–Hadamard, DCT | [`Op::hadamard`], [`Op::dct`] |
//! | sparse CSR | [`Op::csr`] |
//! | butterflies | [`Op::butterfly`], [`Op::block_butterfly`], [`Op::flat_block_butterfly`], [`Op::pixelated_butterfly`] |
//! | dense sketches (generated, never stored) | [`Op::gaussian_sketch`], [`Op::rademacher_sketch`] |
//! | sparse sketches | [`Op::sparse_sign`], [`Op::very_sparse_projection`], [`Op::srht`] |
//! | row samplers | [`Op::uniform_row_sampler`] (norms, probabilities, leverage: [`op::RowSampler`]) |
//! | composition | [`Op::scaled`], [`Op::t`], [`Op::product`], [`Op::sum`] |
//!
//! Randomness is reproducible: every random constructor takes a seed, a plain `u64` or an
//! [`RngState`] (a Philox counter and key), and gives the same bits on every backend. The
//! randomized drivers ([`randnla`]: range finders, randomized SVD, Nyström, ID/CUR, least
//! squares, trace estimation, streaming PCA, matrix functions) take the operator, the engine and
//! an options struct with a `Default`. [`prelude`] imports the common names at once.
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
mod calibrate;
mod engine;
mod matrix;
pub mod randnla;
mod resident;
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

pub use engine::{BackendKind, Engine, SMALL_TRANSFER_BYTES, Scalar, TransferCount};
pub use matrix::Matrix;

pub use faer;
pub use linops_core::rng::{self, Dist, RngState};
pub use linops_core::{
    Backend, DType, Error, HostMat, Kernel, LeafOp, Op, Plan, Result, Rewrites, Step, op, plan,
};

/// The names most programs need, in one import: `use linops::prelude::*;`.
///
/// # Examples
/// ```
/// use linops::prelude::*;
/// let e = Engine::cpu();
/// let s = Op::sparse_sign(4, 50, 2, 7).unwrap();
/// let y = e.apply(&s, Mat::<f64>::identity(50, 3).as_ref()).unwrap();
/// assert_eq!(y.nrows(), 4);
/// let state: RngState = 7.into();
/// assert_eq!(state, RngState::new(7));
/// ```
pub mod prelude {
    pub use crate::randnla::id::IdOptions;
    pub use crate::randnla::lstsq::LstsqOptions;
    pub use crate::randnla::matfun::{MatFunOptions, NsKind};
    pub use crate::randnla::nystrom::{CgOptions, NystromOptions};
    pub use crate::randnla::range::{AdaptiveRangeOptions, RangeOptions};
    pub use crate::randnla::svd::SvdOptions;
    pub use crate::randnla::trace::TraceOptions;
    pub use crate::{Engine, Error, HostMat, Matrix, Op, Result, RngState, Scalar};
    pub use faer::{Mat, MatRef};
}
pub use linops_cpu::CpuBackend;
/// The CPU backend's pool of recycled output storage (a dropped CPU [`Matrix`] of at least
/// `recycle::MIN_BYTES` is kept for the next plan output of its shape): bound it with
/// `recycle::set_keep_bytes` (`0` turns it off) where the process must stay within a memory budget.
pub use linops_cpu::recycle;
/// Whether the CPU backend runs each plan's steps on one worker of its thread pool (the
/// default) or on the calling thread: off where the process must stay within a memory budget
/// (see [`linops_cpu::set_plans_in_pool`]).
pub use linops_cpu::set_plans_in_pool;
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
