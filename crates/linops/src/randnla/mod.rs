//! Randomized numerical linear algebra drivers on any [`Op`].
//!
//! **Mathematics.** Every driver follows the sketch-then-solve pattern of Halko, Martinsson and
//! Tropp (HMT 2011): draw a Gaussian test matrix `Ω` (`n×l`, from a seed, via
//! [`DenseSketch::gaussian`](crate::op::DenseSketch)), form `Y = A·Ω` (optionally with `q` power
//! iterations `Y = (AAᵀ)^q·A·Ω`, re-orthonormalized after every application so that rounding does
//! not wash out the small singular directions), orthonormalize `Y = Q·R`, and solve a small
//! problem on `B = Qᵀ·A`. With oversampling `p = l − k ≥ 2` the expected spectral error of the
//! rank-`l` projection satisfies (HMT Thm. 10.6 with power iterations, Cor. 10.10)
//! `E‖A − QQᵀA‖ ≤ [(1 + √(k/(p−1)))·σ_{k+1}^{2q+1} + e√(k+p)/p·(Σ_{j>k} σ_j^{2(2q+1)})^{1/2}]^{1/(2q+1)}`.
//!
//! - [`qr`]: CholeskyQR2 orthonormalization on the device with a Householder fallback;
//! - [`range`]: fixed-rank range finder with power iterations, and the adaptive range finder with
//!   the HMT §4.3 a-posteriori estimator;
//! - [`svd`]: randomized SVD (HMT Alg. 5.1) and block Krylov SVD (Musco & Musco 2015);
//! - [`nystrom`]: shifted randomized Nyström for PSD operators (Tropp et al. 2017) and
//!   Nyström-preconditioned CG (Frangella, Tropp & Udell 2023);
//! - [`id`]: column and row interpolative decompositions from a sketch and column-pivoted QR,
//!   and CUR.
//! - [`lstsq`]: sketch-and-solve and sketch-and-precondition (Blendenpik/LSRN + LSQR) least squares;
//! - [`trace`]: Hutchinson and Hutch++ trace estimation;
//! - [`streaming`]: Frequent Directions and block power / Oja streaming PCA;
//! - [`matfun`]: Newton–Schulz polar factor, coupled Newton–Schulz square roots, inverse p-th roots.
//!
//! **Storage and cost.** The operator is never materialized: it is only applied, through
//! [`Engine::apply_to`], to resident blocks of `l ≪ n` columns, and the tall-skinny algebra
//! (Gram matrices, `Q = X·R⁻¹`, `U = Q·Û`) runs on the engine's backend through
//! [`Engine::gemm`]. Only `l×l` cores travel to the host, where they are factored in `f64` with
//! faer. One randomized SVD costs `2q + 2` applications of `A` or `Aᵀ` to `l` columns plus
//! `O((m + n)·l²)` device flops and `O(l³)` host flops. Drivers run in the engine's precision
//! `T ∈ {f32, f64}` (the GPU engine: `f32`).

pub mod id;
pub mod nystrom;
pub mod qr;
pub mod range;
pub mod svd;

mod host_la;
pub mod lstsq;
pub mod matfun;
pub mod streaming;
pub mod trace;

use crate::{Engine, Error, Matrix, Op, Result, Scalar};
use faer::Mat;
use linops_core::DType;
use linops_core::op::DenseSketch;
use linops_core::rng::RngState;

/// Unit roundoff of a dtype (`2⁻²⁴` for f32, `2⁻⁵³` for f64).
pub(crate) fn unit_roundoff(d: DType) -> f64 {
    match d {
        DType::F32 => f64::from(f32::EPSILON) / 2.0,
        DType::F64 => f64::EPSILON / 2.0,
    }
}

/// Converts a host `f64` matrix to `T` and uploads it.
pub(crate) fn upload_as<T: Scalar>(e: &Engine, m: &Mat<f64>) -> Result<Matrix> {
    let t = Mat::<T>::from_fn(m.nrows(), m.ncols(), |i, j| T::from_f64(m[(i, j)]));
    e.upload(t.as_ref())
}

/// Uploads a host `f64` matrix in the dtype of `like`.
pub(crate) fn upload_like(e: &Engine, like: &Matrix, m: &Mat<f64>) -> Result<Matrix> {
    match like.dtype() {
        DType::F32 => upload_as::<f32>(e, m),
        DType::F64 => upload_as::<f64>(e, m),
    }
}

/// Downloads a resident matrix to the host in `f64`.
pub(crate) fn to_host(e: &Engine, m: &Matrix) -> Result<Mat<f64>> {
    match m.dtype() {
        DType::F64 => e.download::<f64>(m),
        DType::F32 => {
            let h = e.download::<f32>(m)?;
            Ok(Mat::from_fn(h.nrows(), h.ncols(), |i, j| {
                f64::from(h[(i, j)])
            }))
        }
    }
}

/// A standard Gaussian `n×l` test matrix `Ω` (entries `N(0, 1)`), resident, generated on the
/// backend from `seed` by applying `√l·Sᵀ` (`S` the `l×n` [`DenseSketch::gaussian`]) to `I_l`.
pub(crate) fn gaussian<T: Scalar>(e: &Engine, n: usize, l: usize, seed: u64) -> Result<Matrix> {
    let s = DenseSketch::gaussian(l, n, RngState::new(seed))?;
    let omega = Op::leaf(s).t().scaled((l as f64).sqrt())?;
    let eye = e.upload(Mat::<T>::identity(l, l).as_ref())?;
    e.apply_to(&omega, &eye)
}

/// Horizontal concatenation `[X₁ X₂ …]` of resident blocks with equal row counts, on the backend:
/// `Σ_j X_j·E_j` with `E_j` the `k_j×K` selector of the block's columns.
pub(crate) fn hcat(e: &Engine, blocks: &[&Matrix]) -> Result<Matrix> {
    let total: usize = blocks.iter().map(|b| b.shape().1).sum();
    let first = blocks
        .first()
        .ok_or_else(|| Error::InvalidArgument("hcat of no blocks".into()))?;
    let mut acc: Option<Matrix> = None;
    let mut off = 0;
    for b in blocks {
        let k = b.shape().1;
        let sel = Mat::<f64>::from_fn(k, total, |i, j| if j == off + i { 1.0 } else { 0.0 });
        let sel = upload_like(e, first, &sel)?;
        acc = Some(match &acc {
            None => e.gemm(1.0, b, false, &sel, false, 0.0, None)?,
            Some(a) => e.gemm(1.0, b, false, &sel, false, 1.0, Some(a))?,
        });
        off += k;
    }
    acc.ok_or_else(|| Error::InvalidArgument("hcat of no blocks".into()))
}

/// Checks the driver's dtype against the engine (f64 on the GPU engine is refused).
pub(crate) fn check_dtype<T: Scalar>(e: &Engine) -> Result<DType> {
    e.compute_dtype::<T>()
}

/// Validates a target rank against the operator shape.
pub(crate) fn check_rank(what: &str, a: &Op, l: usize) -> Result<()> {
    let (m, n) = a.shape();
    if l == 0 || l > m.min(n) {
        return Err(Error::InvalidArgument(format!(
            "{what}: sketch size {l} must lie in 1..={} for a {m}x{n} operator",
            m.min(n)
        )));
    }
    Ok(())
}
