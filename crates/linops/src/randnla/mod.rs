//! Randomized numerical linear algebra drivers on any [`Op`].
//!
//! **Mathematics.** Every driver follows the sketch-then-solve pattern of Halko, Martinsson and
//! Tropp (HMT 2011): draw a Gaussian test matrix `Ω` (`n×l`, from a seed, the entries of
//! [`DenseSketch::gaussian`](crate::op::DenseSketch) generated on the backend by a random fill), form `Y = A·Ω` (optionally with `q` power
//! iterations `Y = (AAᵀ)^q·A·Ω`, re-orthonormalized after every application so that rounding does
//! not wash out the small singular directions), orthonormalize `Y = Q·R`, and solve a small
//! problem on `B = Qᵀ·A`. With oversampling `p = l − k ≥ 2` the expected spectral error of the
//! rank-`l` projection satisfies (HMT Thm. 10.6 with power iterations, Cor. 10.10)
//! `E‖A − QQᵀA‖ ≤ [(1 + √(k/(p−1)))·σ_{k+1}^{2q+1} + e√(k+p)/p·(Σ_{j>k} σ_j^{2(2q+1)})^{1/2}]^{1/(2q+1)}`.
//!
//! - [`estimate`]: certified a-posteriori estimates of a residual's spectral norm (Golub–Kahan–
//!   Lanczos with a random start, Kuczyński–Woźniakowski failure bound);
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
//! (Gram matrices, `Q = X·R⁻¹`, `U = Q·Û`, concatenations) runs on the engine's backend through
//! [`Engine::gemm`] and the other plans over resident matrices. Only `l×l` cores travel to the host, where they are factored in `f64` with
//! faer. One randomized SVD costs `2q + 2` applications of `A` or `Aᵀ` to `l` columns plus
//! `O((m + n)·l²)` device flops and `O(l³)` host flops. Drivers run in the engine's precision
//! `T ∈ {f32, f64}` (the GPU engine: `f32`).
//!
//! **Size limit.** No driver allocates a dense block (a test matrix, a sketch, a probe block, a
//! streaming buffer) of more than [`MAX_BLOCK_ENTRIES`] entries: every size a caller can pass
//! (target rank plus oversampling, probe counts, sketch factors, buffer lengths) and every block
//! derived from the operator's shape is checked against it, with checked arithmetic, before
//! anything proportional to it is allocated, and a larger request is a typed
//! [`Error::DeviceLimit`] naming the parameter and the size.
//!
//! **Scale.** The drivers are homogeneous: for `A → 2^e·A` (and `b → 2^e·b`) the answer scales
//! accordingly across the exponent range of the precision. Norms are formed without squaring
//! unscaled entries, Gram matrices and Cholesky factorizations see blocks pre-scaled by a power of
//! two (exact), and every threshold (tolerances, shifts, breakdown and rank tests) is relative to a
//! norm of the input.

pub mod batched;
pub mod estimate;
pub mod id;
pub mod nystrom;
pub mod qr;
pub mod range;
pub mod svd;

pub(crate) mod host_dense;
pub(crate) mod host_la;
pub mod lstsq;
pub mod matfun;
pub mod streaming;
pub mod trace;
pub(crate) mod vectors;

use crate::{Engine, Error, Matrix, Op, Result, Scalar};
use faer::{Mat, MatRef};
use linops_core::DType;
use linops_core::op::DenseSketch;
use linops_core::rng::{Dist, RngState};

/// The largest dense block, in entries, that a driver allocates on the host or the engine:
/// `2³²` (32 GiB in f64; beyond it a GPU buffer could not be indexed by `u32`), applied on every
/// engine so that a driver fails early with [`Error::DeviceLimit`] instead of aborting on an
/// allocation failure. The same limit as the operator constructors' generated data
/// ([`linops_core::op::MAX_GENERATED_ENTRIES`]), so there is one size rule.
///
/// # Examples
/// ```
/// use linops::{Engine, Error, Op, randnla::{MAX_BLOCK_ENTRIES, trace::{hutchinson, TraceOptions}}};
/// assert_eq!(MAX_BLOCK_ENTRIES, 1 << 32);
/// // 2⁴⁰ probes of length 3 would need a 3×2⁴⁰ probe block
/// let r = hutchinson::<f64>(&Engine::cpu(), &Op::identity(3).unwrap(), &TraceOptions { matvecs: 1 << 40, seed: 0 });
/// assert!(matches!(r, Err(Error::DeviceLimit { .. })));
/// ```
pub const MAX_BLOCK_ENTRIES: u64 = linops_core::op::MAX_GENERATED_ENTRIES as u64;

/// Checks that a `rows×cols` dense block fits [`MAX_BLOCK_ENTRIES`] (and `isize::MAX` bytes of
/// f64); `what` names the block and the parameters it comes from.
pub(crate) fn check_block(what: &str, rows: usize, cols: usize) -> Result<()> {
    let entries = (rows as u128) * (cols as u128);
    let limit = MAX_BLOCK_ENTRIES.min(isize::MAX as u64 / 8);
    if entries > u128::from(limit) {
        return Err(Error::DeviceLimit {
            what: format!("{what} (a {rows}x{cols} block)"),
            requested: u64::try_from(entries).unwrap_or(u64::MAX),
            limit_name: "linops::randnla::MAX_BLOCK_ENTRIES (entries of one dense block)".into(),
            limit,
        });
    }
    Ok(())
}

/// `a + b` for sizes a caller chose, or [`Error::InvalidArgument`] naming both.
pub(crate) fn checked_sum(what: &str, a: (&str, usize), b: (&str, usize)) -> Result<usize> {
    a.1.checked_add(b.1).ok_or_else(|| {
        Error::InvalidArgument(format!(
            "{what}: {} + {} = {} + {} overflows usize",
            a.0, b.0, a.1, b.1
        ))
    })
}

/// The exponent `e` with `2^e ≤ |v| < 2^{e+1}` of a finite nonzero `v` (subnormals included).
pub(crate) fn exponent(v: f64) -> i32 {
    let bits = v.abs().to_bits();
    let raw = (bits >> 52) as i32;
    if raw == 0 {
        let mant = bits & ((1u64 << 52) - 1);
        -1074 + (63 - mant.leading_zeros() as i32)
    } else {
        raw - 1023
    }
}

/// `v·2^k`, exact whenever the result is a normal number (steps of at most `2^±1000`).
pub(crate) fn ldexp(mut v: f64, mut k: i32) -> f64 {
    while k > 1000 {
        v *= 2f64.powi(1000);
        k -= 1000;
    }
    while k < -1000 {
        v *= 2f64.powi(-1000);
        k += 1000;
    }
    v * 2f64.powi(k)
}

/// The power-of-two exponent `k` that brings a nonzero finite norm `top` of a block of dtype `d`
/// near 1, or 0 when `top` lies in the window `[2^-w, 2^w]` (`w` a quarter of the dtype's maximal
/// exponent) where the block's squares, Gram matrix and products neither over- nor underflow, so
/// ordinary input runs unscaled. Scaling by `2^k` is exact, so either choice gives the same bits.
pub(crate) fn scale_exponent(d: DType, top: f64) -> i32 {
    if top == 0.0 || !top.is_finite() {
        return 0;
    }
    let w = match d {
        DType::F32 => 32,
        DType::F64 => 256,
    };
    let e = exponent(top);
    if e.abs() <= w { 0 } else { -e }
}

/// `2^k·X` on the backend (exact, in steps that stay inside the dtype's range); `None` for `k = 0`.
pub(crate) fn scale_pow2(e: &Engine, x: &Matrix, k: i32) -> Result<Option<Matrix>> {
    let step = match x.dtype() {
        DType::F32 => 100,
        DType::F64 => 1000,
    };
    let mut left = k;
    let mut out: Option<Matrix> = None;
    while left != 0 {
        let s = left.clamp(-step, step);
        let src = out.as_ref().unwrap_or(x);
        out = Some(e.axpby(2f64.powi(s), src, 0.0, src)?);
        left -= s;
    }
    Ok(out)
}

/// The largest column norm of a resident block (`NaN` when a norm is NaN).
pub(crate) fn max_col_norm(e: &Engine, x: &Matrix) -> Result<f64> {
    Ok(max_norm(&e.col_norms(x)?))
}

/// The largest of some norms (`NaN` when one is NaN).
pub(crate) fn max_norm(norms: &[f64]) -> f64 {
    norms.iter().fold(0.0, |m: f64, &v| {
        if v.is_nan() || m.is_nan() {
            f64::NAN
        } else {
            m.max(v)
        }
    })
}

/// `op·x` computed in `f32` on the engine for f64 data: a block whose largest entry lies outside
/// `[2^-32, 2^32]` is multiplied by the power of two that brings it near 1 and the result divided
/// by it again (exact), so data beyond f32's range (or close to its ends) enters the engine in
/// range.
pub(crate) fn apply_f32(engine: &Engine, op: &Op, x: MatRef<'_, f64>) -> Result<Mat<f64>> {
    let k = scale_exponent(DType::F32, host_la::max_abs(x));
    let (f1, f2) = host_la::pow2_pair(k);
    let x32 = Mat::<f32>::from_fn(x.nrows(), x.ncols(), |i, j| (x[(i, j)] * f1 * f2) as f32);
    let y = engine.apply(op, x32.as_ref())?;
    let (g1, g2) = host_la::pow2_pair(-k);
    Ok(Mat::from_fn(y.nrows(), y.ncols(), |i, j| {
        f64::from(y[(i, j)]) * g1 * g2
    }))
}

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
/// backend from `seed` by a random fill: `Ω = √l·Sᵀ` with `S` the `l×n`
/// [`DenseSketch::gaussian`] of `seed`, entry for entry the bits that applying that operator to
/// `I_l` gave (`alpha` is the scale the planner would fold into its `sketch_gemm`: `√l` times
/// the sketch's `1/√l`). Checked against [`MAX_BLOCK_ENTRIES`].
pub(crate) fn gaussian<T: Scalar>(e: &Engine, n: usize, l: usize, seed: u64) -> Result<Matrix> {
    check_block("gaussian test matrix", n, l)?;
    let s = DenseSketch::gaussian(l, n, RngState::new(seed))?;
    let alpha = (l as f64).sqrt() * s.scale();
    let dtype = e.compute_dtype::<T>()?;
    e.random_matrix(dtype, Dist::Gaussian, s.rng(), l, n, true, alpha)
}

/// Horizontal concatenation `[X₁ X₂ …]` of resident blocks with equal row counts, on the
/// backend (one column-block copy per block).
pub(crate) fn hcat(e: &Engine, blocks: &[&Matrix]) -> Result<Matrix> {
    e.concat_cols(blocks)
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
