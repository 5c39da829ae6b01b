//! Scale invariance (issue 15): every driver, `Monarch::project`, `orthonormalize` and
//! `col_norms`, given inputs multiplied by `2^e` for `e` across the exponent range of the
//! precision, return the correspondingly scaled answer, on CPU f64, CPU f32 and GPU f32.
//!
//! Multiplying by a power of two is exact unless it under- or overflows, and every algorithm here
//! draws its random test matrices from seeds, not from the data; so an algorithm that is
//! homogeneous (only ratios of data meet fixed constants) gives bit-identical scaled results, and
//! any other one must agree within its usual rounding tolerance. Each test computes the answer
//! at `e = 0` and at `e ∈ {−1000, −500, −100, 100, 500, 1000}` (f64) or `{−120, −60, 60, 120}`
//! (f32), divides the latter by `2^{d·e}` (`d` the degree of the output: 1 for singular values,
//! 2 for `AᵀB`, `−1/p` for an inverse `p`-th root, 0 for orthonormal bases and interpolation
//! matrices), and compares. **Exponent choice:** products of two scaled inputs scale like
//! `2^{2e}`, so outputs of degree 2 (Frequent Directions' `‖A‖_F²` and shrinkage, approximate
//! products `AᵀB`, block Oja's `AᵀA·Q`) use `|e| ≤ 500` (f64) and `|e| ≤ 60` (f32), and a degree
//! `d` output only the exponents with `|d·e|` in range; the inputs themselves (entries in
//! `[−1, 1)·2^e` over at most 40 rows) stay below `2^{1006}` resp. `2^{126}`. `col_norms` and
//! `orthonormalize` add the edges of the range (and the magnitudes issue 15 names).
//!
//! Bit-exactness is measured and printed per subject and backend, not asserted: the host
//! factorizations (faer's SVD, eigensolvers, QR) and overflow-safe norms may scale by fixed
//! thresholds, which is not homogeneous yet within tolerance. Tolerances are relative to the
//! largest output of the subject, `K·u` with `K` from the algorithm's error analysis (stated at
//! each test), `u` the unit roundoff of the compute type, plus `K·η·2^{−d·e}` (`η` the smallest
//! subnormal) for results near underflow. Discrete outputs (selected columns, basis sizes,
//! convergence flags) must be equal; iteration counts may differ by the rounding of a stopping
//! test and are not compared. GPU cases skip loudly without an adapter.

use crate::support::{Rng, cpu_engine, report, test_device};
use faer::Mat;
use linops::randnla::id::{IdOptions, column_id, cur, row_id};
use linops::randnla::lstsq::{LstsqOptions, lstsq, lstsq_sketch_solve};
use linops::randnla::matfun::{
    MatFunOptions, NsKind, inverse_root, polar_newton_schulz, sqrt_newton_schulz,
};
use linops::randnla::nystrom::{CgOptions, NystromOptions, nystrom, nystrom_pcg};
use linops::randnla::qr::orthonormalize;
use linops::randnla::range::{
    AdaptiveRangeOptions, RangeOptions, adaptive_range_finder, range_finder,
};
use linops::randnla::streaming::{BlockOja, FrequentDirections};
use linops::randnla::svd::{SvdOptions, block_krylov_svd, randomized_svd};
use linops::randnla::trace::{TraceOptions, hutch_plus_plus, hutchinson};
use linops::{DType, Engine, Error, HostMat, Matrix, Op};
use linops_core::rng::RngState;
use std::sync::OnceLock;

const U64: f64 = f64::EPSILON / 2.0;
const U32: f64 = 5.960_464_477_539_063e-8;

/// One engine and precision.
struct Backend {
    engine: &'static Engine,
    f64: bool,
    name: &'static str,
}

impl Backend {
    fn u(&self) -> f64 {
        if self.f64 { U64 } else { U32 }
    }

    /// Half the smallest subnormal: the absolute granularity of results near underflow.
    fn eta(&self) -> f64 {
        if self.f64 {
            f64::from_bits(1)
        } else {
            f64::from(f32::from_bits(1))
        }
    }

    /// The exponents for an output of degree `deg`, in range for this precision.
    fn exponents(&self, deg: f64) -> Vec<i32> {
        let all: &[i32] = if self.f64 {
            &[-1000, -500, -100, 100, 500, 1000]
        } else {
            &[-120, -60, 60, 120]
        };
        self.filter(all, deg)
    }

    fn filter(&self, all: &[i32], deg: f64) -> Vec<i32> {
        let lim = if self.f64 { 1000.0 } else { 120.0 };
        all.iter()
            .copied()
            .filter(|&e| (f64::from(e) * deg.max(1.0)).abs() <= lim)
            .collect()
    }
}

fn cpu() -> &'static Engine {
    static CPU: OnceLock<Engine> = OnceLock::new();
    CPU.get_or_init(cpu_engine)
}

fn gpu() -> Option<&'static Engine> {
    static GPU: OnceLock<Option<Engine>> = OnceLock::new();
    GPU.get_or_init(|| test_device(false).map(Engine::from_device))
        .as_ref()
}

/// CPU f64, CPU f32 and (when an adapter exists) GPU f32.
fn backends() -> Vec<Backend> {
    let mut b = vec![
        Backend {
            engine: cpu(),
            f64: true,
            name: "cpu f64",
        },
        Backend {
            engine: cpu(),
            f64: false,
            name: "cpu f32",
        },
    ];
    if let Some(g) = gpu() {
        b.push(Backend {
            engine: g,
            f64: false,
            name: "gpu f32",
        });
    }
    b
}

/// Runs a generic driver in the backend's precision.
macro_rules! in_prec {
    ($b:expr, $f:ident ( $($arg:expr),* $(,)? )) => {
        if $b.f64 { $f::<f64>($($arg),*) } else { $f::<f32>($($arg),*) }
    };
}

/// `2^e`, exact over the whole `f64` range.
fn pow2(e: f64) -> f64 {
    2f64.powf(e)
}

/// `m·2^e` (exact: a power of two times values with 24-bit mantissas, in range).
fn scaled(m: &Mat<f64>, e: f64) -> Mat<f64> {
    let s = pow2(e);
    Mat::from_fn(m.nrows(), m.ncols(), |i, j| m[(i, j)] * s)
}

fn dense_op(m: &Mat<f64>) -> Op {
    linops::dense(m.as_ref()).expect("finite test data")
}

fn down(e: &Engine, m: &Matrix) -> Result<Mat<f64>, Error> {
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

fn up(b: &Backend, m: &Mat<f64>) -> Result<Matrix, Error> {
    if b.f64 {
        b.engine.upload(m.as_ref())
    } else {
        let h = Mat::<f32>::from_fn(m.nrows(), m.ncols(), |i, j| m[(i, j)] as f32);
        b.engine.upload(h.as_ref())
    }
}

fn flat(m: &Mat<f64>) -> Vec<f64> {
    (0..m.ncols())
        .flat_map(|j| (0..m.nrows()).map(move |i| (i, j)))
        .map(|(i, j)| m[(i, j)])
        .collect()
}

/// `Q·Qᵀ` (independent of the signs and rotation of a basis).
fn projector(q: &Mat<f64>) -> Vec<f64> {
    flat(&(q * q.transpose()))
}

fn orthonormal(rng: &mut Rng, n: usize, r: usize) -> Mat<f64> {
    rng.mat(n, r).qr().compute_thin_Q()
}

/// Values rounded to `f32` (so the f32 backends see exactly the same input).
fn round32(m: Mat<f64>) -> Mat<f64> {
    Mat::from_fn(m.nrows(), m.ncols(), |i, j| f64::from(m[(i, j)] as f32))
}

/// `U·diag(s)·Vᵀ` with orthonormal `U`, `V` and singular values `s` decreasing from 2 to 1 over
/// the first `r`, then a tail `10⁻³` times smaller (a gap, so subspaces are well defined).
fn test_matrix(seed: u64, m: usize, n: usize, r: usize) -> Mat<f64> {
    let mut rng = Rng::new(seed);
    let k = m.min(n);
    let (u, v) = (orthonormal(&mut rng, m, k), orthonormal(&mut rng, n, k));
    let s = Mat::from_fn(k, k, |i, j| {
        if i != j {
            0.0
        } else if i < r {
            2.0 - i as f64 / r as f64
        } else {
            1e-3 * (1.0 - i as f64 / k as f64)
        }
    });
    round32(&u * s * v.transpose())
}

/// A symmetric positive definite matrix with eigenvalues in `[1, 2]` (`psd_rank` of them, the
/// others 0 when `psd_rank < n`).
fn spd(seed: u64, n: usize, psd_rank: usize) -> Mat<f64> {
    let mut rng = Rng::new(seed);
    let u = orthonormal(&mut rng, n, n);
    let d = Mat::from_fn(n, n, |i, j| {
        if i == j && i < psd_rank {
            1.0 + (i as f64 + 0.5) / n as f64
        } else {
            0.0
        }
    });
    let a = &u * d * u.transpose();
    round32(Mat::from_fn(n, n, |i, j| 0.5 * (a[(i, j)] + a[(j, i)])))
}

/// Outputs of one run, already divided by `2^{d·e}`: discrete ones (selections, counts, flags)
/// that must be equal, and continuous ones compared within the tolerance.
type Outputs = (Vec<f64>, Vec<f64>);

fn cont(v: Vec<f64>) -> Result<Outputs, Error> {
    Ok((Vec::new(), v))
}

/// Runs `f` at `e = 0` and at every exponent of each backend; returns a line per disagreement
/// (discrete outputs must be equal, continuous ones within `k·u·max|outputs at e = 0|` plus
/// `k·η·2^{−d·e}` for results near underflow) and prints which backends and exponents were
/// bit-exact.
fn sweep(name: &str, deg: f64, k: f64, f: impl Fn(&Backend, f64) -> Result<Outputs, Error>) {
    sweep_at(name, deg, k, None, f);
}

thread_local! {
    /// The disagreements found by the sweeps of the current test (each test runs on its thread).
    static FAILURES: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// [`sweep`] at the given exponents (`(f64 list, f32 list)`) instead of the defaults.
fn sweep_at(
    name: &str,
    deg: f64,
    k: f64,
    exps: Option<(&[i32], &[i32])>,
    f: impl Fn(&Backend, f64) -> Result<Outputs, Error>,
) {
    let mut failures = Vec::new();
    let mut lines = Vec::new();
    for b in backends() {
        let (base_d, base) = match f(&b, 0.0) {
            Ok(v) => v,
            Err(err) => {
                failures.push(format!("{name}: {}: e = 0 failed: {err}", b.name));
                continue;
            }
        };
        let scale = base.iter().fold(0.0f64, |a, v| a.max(v.abs()));
        let mut exact = Vec::new();
        let list = match exps {
            // Chosen by the caller with the range in mind.
            Some((e64, e32)) => (if b.f64 { e64 } else { e32 }).to_vec(),
            None => b.exponents(deg),
        };
        for e in list {
            let tol = k * b.u() * scale + k * b.eta() * pow2(-deg * f64::from(e));
            match f(&b, f64::from(e)) {
                Err(err) => failures.push(format!("{name}: {}: e = {e}: {err}", b.name)),
                Ok((d, _)) if d != base_d => failures.push(format!(
                    "{name}: {}: e = {e}: discrete outputs {d:?}, {base_d:?} at e = 0",
                    b.name
                )),
                Ok((_, v)) if v.len() != base.len() => failures.push(format!(
                    "{name}: {}: e = {e}: {} outputs, {} at e = 0",
                    b.name,
                    v.len(),
                    base.len()
                )),
                Ok((_, v)) => {
                    let worst = v
                        .iter()
                        .zip(&base)
                        .enumerate()
                        .map(|(i, (x, y))| {
                            let d = (x - y).abs();
                            (if d.is_nan() { f64::INFINITY } else { d }, i)
                        })
                        .fold((0.0f64, 0), |a, c| if c.0 > a.0 { c } else { a });
                    if worst.0 == 0.0 {
                        exact.push(e);
                    } else if worst.0 > tol {
                        failures.push(format!(
                            "{name}: {}: e = {e}: output {} is {:e}·2^(d·e), {:e} at e = 0 \
                             (difference {:e} > tolerance {tol:e})",
                            b.name, worst.1, v[worst.1], base[worst.1], worst.0
                        ));
                    }
                }
            }
        }
        lines.push(format!("{} bit-exact at e ∈ {exact:?}", b.name));
    }
    report(&format!("scale_invariance::{name}: {}", lines.join("; ")));
    for f in &failures {
        report(&format!("  FAILED {f}"));
    }
    FAILURES.with(|all| all.borrow_mut().extend(failures));
}

/// Fails the test with every disagreement its sweeps found.
fn finish() {
    let failures = FAILURES.with(|all| std::mem::take(&mut *all.borrow_mut()));
    assert!(
        failures.is_empty(),
        "the scaled answers differ:\n  {}",
        failures.join("\n  ")
    );
}

/// `col_norms` is linear (degree 1). Five rows of entries in `[1/8, 1/4)` with 8-bit mantissas
/// (exact down to `2^{−149}·2^{−140}`), and a column `[5/4, 5/8, 0, 0, 0]` (norm 1.4; at
/// `e = 127` it is issue 15's `[2e38, 1e38]`), at the default exponents and at the edges of the
/// range: the largest entry subnormal (`e = −140`, `−126` in f32; `−1022` in f64) and entries
/// next to the largest finite value (`e = 127` in f32, `1023` in f64; the column norms are still
/// in range), where squares over- or underflow. Tolerance: a column norm errs by `(m + 2)·u` of
/// itself; two of them, `4·(m + 2)·u`.
#[test]
fn col_norms() {
    let mut rng = Rng::new(1);
    let x = Mat::from_fn(5, 6, |i, j| match (i, j) {
        (0, 5) => 1.25,
        (1, 5) => 0.625,
        (_, 5) => 0.0,
        _ => (128 + 2 * rng.below(64)) as f64 / 1024.0,
    });
    let e64: &[i32] = &[-1022, -1000, -500, -100, 100, 500, 1000, 1023];
    let e32: &[i32] = &[-140, -126, -120, -60, 60, 120, 127];
    sweep_at("col_norms", 1.0, 4.0 * 7.0, Some((e64, e32)), |b, e| {
        let xm = up(b, &scaled(&x, e))?;
        cont(
            b.engine
                .col_norms(&xm)?
                .iter()
                .map(|v| v * pow2(-e))
                .collect(),
        )
    });
    finish();
}

/// `orthonormalize`: `R` has degree 1 and `Q` degree 0; row signs of `R` (and column signs of
/// `Q`) are conventions, so `|R|` and `|Q|` are compared. Tolerance `10³·(m + k)·u`: CholeskyQR2
/// and Householder QR are backward stable with `O((m + k)·k·u)` errors on this κ ≈ 2 input.
#[test]
fn orthonormalize_is_scale_invariant() {
    let x = test_matrix(2, 40, 6, 6);
    // Also the magnitudes issue 15 names: 1e200 and 1e-160 in f64, 1e30 in f32.
    let e64: &[i32] = &[-1000, -532, -500, -100, 100, 500, 664, 1000];
    let e32: &[i32] = &[-120, -60, 60, 100, 120];
    sweep_at(
        "orthonormalize",
        1.0,
        1e3 * 46.0,
        Some((e64, e32)),
        |b, e| {
            let f = orthonormalize(b.engine, &up(b, &scaled(&x, e))?)?;
            let q = down(b.engine, &f.q)?;
            let mut out: Vec<f64> = flat(&f.r).iter().map(|v| v.abs() * pow2(-e)).collect();
            out.extend(flat(&q).iter().map(|v| v.abs()));
            cont(out)
        },
    );
    finish();
}

/// `Monarch::project` (CPU, f64 parameters): the dense projection has degree 1. Tolerance
/// `10³·n·u`: each block's best rank-1 approximation is a converged power iteration.
#[test]
fn monarch_project() {
    use linops::LeafOp;
    use linops::op::Monarch;
    let a = round32(Rng::new(3).mat(12, 12));
    let b = Backend {
        engine: cpu(),
        f64: true,
        name: "host f64",
    };
    let mut failures = Vec::new();
    let base = Monarch::project(&HostMat::from_fn(12, 12, |i, j| a[(i, j)]), 3, 3)
        .expect("projection")
        .to_dense();
    let scale = base.data().iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let mut exact = Vec::new();
    for e in b.exponents(1.0) {
        let s = pow2(f64::from(e));
        match Monarch::project(&HostMat::from_fn(12, 12, |i, j| a[(i, j)] * s), 3, 3) {
            Err(err) => failures.push(format!("e = {e}: {err}")),
            Ok(p) => {
                let d = p.to_dense();
                let worst = d
                    .data()
                    .iter()
                    .zip(base.data())
                    .map(|(x, y)| (x / s - y).abs())
                    .fold(
                        0.0f64,
                        |m, v| if v.is_nan() { f64::INFINITY } else { m.max(v) },
                    );
                if worst == 0.0 {
                    exact.push(e);
                } else if worst > 1e3 * 12.0 * U64 * scale {
                    failures.push(format!(
                        "e = {e}: projection differs by {worst:e}·2^e (scale {scale:e})"
                    ));
                }
            }
        }
    }
    report(&format!(
        "scale_invariance::monarch_project: bit-exact at e ∈ {exact:?}"
    ));
    assert!(
        failures.is_empty(),
        "Monarch::project is not scale invariant:\n  {}",
        failures.join("\n  ")
    );
    finish();
}

/// Tolerance of the SVD drivers: `10³·(m + n)·u` relative to `σ₁` (the rounding of the
/// subspace iteration on a matrix with a 10³ gap, plus the core SVD).
const SVD_K: f64 = 1e3 * 60.0;

fn svd_outputs(b: &Backend, a: &Mat<f64>, e: f64, krylov: bool) -> Result<Outputs, Error> {
    let op = dense_op(&scaled(a, e));
    let opts = SvdOptions {
        oversample: 4,
        power_iters: Some(1),
        seed: 11,
        probes: 3,
    };
    let r = if krylov {
        in_prec!(b, block_krylov_svd(b.engine, &op, 4, &opts))?
    } else {
        in_prec!(b, randomized_svd(b.engine, &op, 4, &opts))?
    };
    let mut out: Vec<f64> = r.s.iter().map(|v| v * pow2(-e)).collect();
    out.push(r.error_estimate * pow2(-e));
    cont(out)
}

/// `randomized_svd`: singular values and the error estimate have degree 1.
#[test]
fn randomized_svd_is_scale_invariant() {
    let a = test_matrix(4, 30, 25, 4);
    sweep("randomized_svd", 1.0, SVD_K, |b, e| {
        svd_outputs(b, &a, e, false)
    });
    finish();
}

/// `block_krylov_svd`: as [`randomized_svd_is_scale_invariant`].
#[test]
fn block_krylov_svd_is_scale_invariant() {
    let a = test_matrix(5, 30, 25, 4);
    sweep("block_krylov_svd", 1.0, SVD_K, |b, e| {
        svd_outputs(b, &a, e, true)
    });
    finish();
}

/// `range_finder`: the projector `QQᵀ` onto the captured range has degree 0. Tolerance
/// `10³·(m + n)·u`: the dominant 4-dimensional subspace is separated by a gap of 10³.
#[test]
fn range_finder_is_scale_invariant() {
    let a = test_matrix(6, 30, 25, 4);
    sweep("range_finder", 0.0, SVD_K, |b, e| {
        let r = in_prec!(
            b,
            range_finder(
                b.engine,
                &dense_op(&scaled(&a, e)),
                4,
                &RangeOptions {
                    power_iters: 1,
                    seed: 12
                }
            )
        )?;
        cont(projector(&down(b.engine, &r.q)?))
    });
    finish();
}

/// `adaptive_range_finder` with `tol` scaled alike: the estimate has degree 1, the basis size
/// and the convergence flag are discrete, the projector has degree 0.
#[test]
fn adaptive_range_finder_is_scale_invariant() {
    let a = test_matrix(7, 30, 25, 4);
    sweep("adaptive_range_finder", 1.0, SVD_K, |b, e| {
        let op = dense_op(&scaled(&a, e));
        let r = in_prec!(
            b,
            adaptive_range_finder(
                b.engine,
                &op,
                0.05 * pow2(e),
                &AdaptiveRangeOptions {
                    block: 2,
                    probes: 4,
                    max_rank: Some(12),
                    seed: 13
                }
            )
        )?;
        let q = down(b.engine, &r.q)?;
        let mut out = vec![r.estimate * pow2(-e)];
        out.extend(projector(&q));
        Ok((
            vec![q.ncols() as f64, f64::from(u8::from(r.converged))],
            out,
        ))
    });
    finish();
}

/// `nystrom` of an SPD operator: eigenvalues and the shift have degree 1. Tolerance
/// `10³·n·u` relative to `λ₁` (Tropp et al.'s shifted algorithm is stable to `O(n·u·‖A‖)`).
#[test]
fn nystrom_is_scale_invariant() {
    let a = spd(8, 20, 6);
    sweep("nystrom", 1.0, 1e3 * 20.0, |b, e| {
        let r = in_prec!(
            b,
            nystrom(
                b.engine,
                &dense_op(&scaled(&a, e)),
                6,
                &NystromOptions {
                    oversample: 4,
                    seed: 3
                }
            )
        )?;
        let mut out: Vec<f64> = r.lambda.iter().map(|v| v * pow2(-e)).collect();
        out.push(r.shift * pow2(-e));
        cont(out)
    });
    finish();
}

/// `nystrom_pcg` for `(A + μI)·x = b` with `A` and `μ` scaled by `2^e` and `b` fixed: `x` has
/// degree −1, the relative residuals degree 0, the iteration count is discrete. Tolerance
/// `10⁴·n·u·κ` with `κ(A + μI) ≤ 3`: CG's iterates are stable to `O(n·u·κ)` per step.
#[test]
fn nystrom_pcg_is_scale_invariant() {
    let a = spd(9, 20, 20);
    let rhs: Vec<f64> = (0..20)
        .map(|i| f64::from(((i * 7) % 5) as u8) - 2.0)
        .collect();
    sweep("nystrom_pcg", -1.0, 1e4 * 20.0 * 3.0, |b, e| {
        let op = dense_op(&scaled(&a, e));
        let opts = CgOptions {
            tol: if b.f64 { 1e-10 } else { 1e-5 },
            max_iter: 100,
        };
        let r = in_prec!(
            b,
            nystrom_pcg(b.engine, &op, 0.5 * pow2(e), &rhs, None, &opts)
        )?;
        let x: Vec<f64> = r.x.iter().map(|v| v * pow2(e)).collect();
        Ok((vec![f64::from(u8::from(r.converged))], x))
    });
    finish();
}

fn id_opts() -> IdOptions {
    IdOptions {
        oversample: 4,
        power_iters: 1,
        seed: 5,
        probes: 3,
    }
}

/// `column_id`: the selected columns are discrete, the interpolation matrix has degree 0, the
/// error estimate degree 1 (it is compared relative to the largest output, so it only needs to
/// be finite and scale: it is `10³`-times below `σ₁`). Tolerance `10³·(m + n)·u`.
#[test]
fn column_id_is_scale_invariant() {
    let a = test_matrix(10, 25, 30, 5);
    sweep("column_id", 0.0, SVD_K, |b, e| {
        let id = in_prec!(
            b,
            column_id(b.engine, &dense_op(&scaled(&a, e)), 5, &id_opts())
        )?;
        let mut out = flat(&id.x);
        out.push(id.error_estimate * pow2(-e));
        Ok((id.cols.iter().map(|&c| c as f64).collect(), out))
    });
    finish();
}

/// `row_id`: as [`column_id_is_scale_invariant`] on `Aᵀ`.
#[test]
fn row_id_is_scale_invariant() {
    let a = test_matrix(11, 30, 25, 5);
    sweep("row_id", 0.0, SVD_K, |b, e| {
        let id = in_prec!(
            b,
            row_id(b.engine, &dense_op(&scaled(&a, e)), 5, &id_opts())
        )?;
        let mut out = flat(&id.x);
        out.push(id.error_estimate * pow2(-e));
        Ok((id.cols.iter().map(|&c| c as f64).collect(), out))
    });
    finish();
}

/// `cur`: the selections are discrete; `C`, `R` have degree 1 and the core `U = C⁺AR⁺` degree
/// −1, so `C·U·R` has degree 1 and is what is compared (with the selections).
#[test]
fn cur_is_scale_invariant() {
    let a = test_matrix(12, 25, 30, 5);
    sweep("cur", 1.0, SVD_K * 10.0, |b, e| {
        let f = in_prec!(b, cur(b.engine, &dense_op(&scaled(&a, e)), 5, &id_opts()))?;
        let (c, r) = (down(b.engine, &f.c)?, down(b.engine, &f.r)?);
        let sel: Vec<f64> = f.cols.iter().chain(&f.rows).map(|&c| c as f64).collect();
        Ok((
            sel,
            flat(&(&c * &f.u * &r))
                .iter()
                .map(|v| v * pow2(-e))
                .collect(),
        ))
    });
    finish();
}

/// Least squares with `b` scaled (`x` of degree 1) and with `A` scaled (`x` of degree −1), on a
/// full-rank `A` with `κ ≤ 2`. Tolerance `10³·(m + n)·u` of f64 (the LSQR iteration and the
/// sketch-and-solve QR run in f64 on the host; an f32 sketch only preconditions).
fn lstsq_sweep(name: &str, solve: bool, scale_a: bool) {
    let a = test_matrix(13, 40, 6, 6);
    let rhs: Vec<f64> = (0..40)
        .map(|i| f64::from(((i * 5) % 7) as u8) - 3.0)
        .collect();
    sweep(
        name,
        if scale_a { -1.0 } else { 1.0 },
        1e3 * 46.0,
        |b, e| {
            let (op, rhs_e) = if scale_a {
                (dense_op(&scaled(&a, e)), rhs.clone())
            } else {
                (dense_op(&a), rhs.iter().map(|v| v * pow2(e)).collect())
            };
            let opts = LstsqOptions {
                sketch_dtype: Some(if b.f64 { DType::F64 } else { DType::F32 }),
                ..LstsqOptions::default()
            };
            let r = if solve {
                lstsq_sketch_solve(b.engine, &op, &rhs_e, &opts)?
            } else {
                lstsq(b.engine, &op, &rhs_e, &opts)?
            };
            let back = if scale_a { pow2(e) } else { pow2(-e) };
            let mut out: Vec<f64> = r.x.iter().map(|v| v * back).collect();
            out.push(r.residual_norm * if scale_a { 1.0 } else { pow2(-e) });
            Ok((vec![f64::from(u8::from(r.converged))], out))
        },
    );
}

#[test]
fn lstsq_scaled_b() {
    lstsq_sweep("lstsq (b scaled)", false, false);
    finish();
}

#[test]
fn lstsq_scaled_a() {
    lstsq_sweep("lstsq (A scaled)", false, true);
    finish();
}

#[test]
fn lstsq_sketch_solve_scaled_b() {
    lstsq_sweep("lstsq_sketch_solve (b scaled)", true, false);
    finish();
}

#[test]
fn lstsq_sketch_solve_scaled_a() {
    lstsq_sweep("lstsq_sketch_solve (A scaled)", true, true);
    finish();
}

/// Hutchinson and Hutch++: the estimate and its standard error have degree 1. Tolerance
/// `10³·n·u`: sums of `n`-term quadratic forms.
#[test]
fn trace_estimators_are_scale_invariant() {
    let a = test_matrix(14, 25, 25, 25);
    sweep("hutchinson", 1.0, 1e3 * 25.0, |b, e| {
        let t = in_prec!(
            b,
            hutchinson(
                b.engine,
                &dense_op(&scaled(&a, e)),
                &TraceOptions {
                    matvecs: 8,
                    seed: 21
                }
            )
        )?;
        cont(vec![t.estimate * pow2(-e), t.std_error * pow2(-e)])
    });
    let p = spd(15, 25, 25);
    sweep("hutch_plus_plus", 1.0, 1e3 * 25.0, |b, e| {
        let t = in_prec!(
            b,
            hutch_plus_plus(
                b.engine,
                &dense_op(&scaled(&p, e)),
                &TraceOptions {
                    matvecs: 12,
                    seed: 22
                }
            )
        )?;
        cont(vec![
            t.estimate * pow2(-e),
            t.std_error * pow2(-e),
            t.projected_trace * pow2(-e),
        ])
    });
    finish();
}

fn fd_update<T: linops::Scalar>(
    fd: &mut FrequentDirections,
    e: &Engine,
    op: &Op,
) -> Result<(), Error> {
    fd.update::<T>(e, op)
}

fn oja_update<T: linops::Scalar>(o: &mut BlockOja, e: &Engine, op: &Op) -> Result<(), Error> {
    o.update::<T>(e, op)
}

/// Frequent Directions over three row blocks: `BᵀB`, the shrinkage and `‖A‖_F²` have degree 2
/// (so `|e| ≤ 500` in f64, `≤ 60` in f32); the rows seen are discrete. Tolerance `10³·(n + d)·u`
/// relative to `‖A‖_F²` (SVDs of `2ℓ×d` buffers).
#[test]
fn frequent_directions_is_scale_invariant() {
    let a = test_matrix(16, 30, 8, 8);
    sweep("frequent_directions", 2.0, 1e3 * 38.0, |b, e| {
        let mut fd = FrequentDirections::new(8, 4)?;
        for r0 in [0, 10, 20] {
            let block = Mat::from_fn(10, 8, |i, j| a[(r0 + i, j)]);
            in_prec!(
                b,
                fd_update(&mut fd, b.engine, &dense_op(&scaled(&block, e)))
            )?;
        }
        let s = fd.sketch();
        let (rows, f2) = fd.seen();
        let mut out: Vec<f64> = flat(&(s.transpose() * &s))
            .iter()
            .map(|v| v * pow2(-2.0 * e))
            .collect();
        out.extend([fd.shrinkage() * pow2(-2.0 * e), f2 * pow2(-2.0 * e)]);
        Ok((vec![rows as f64], out))
    });
    finish();
}

/// Block Oja (power and Oja steps) over three row blocks: the basis projector has degree 0;
/// `AᵀA·Q` is formed, so `|e| ≤ 500` resp. `≤ 60`. Tolerance `10⁴·(n + d)·u` (a few
/// orthonormalizations of nearly dependent blocks).
#[test]
fn block_oja_is_scale_invariant() {
    let a = test_matrix(17, 30, 8, 3);
    for eta in [None, Some(0.5)] {
        sweep(
            &format!("block_oja (eta {eta:?})"),
            2.0,
            1e4 * 38.0,
            |b, e| {
                let mut o = BlockOja::new(8, 3, eta, 4)?;
                for r0 in [0, 10, 20] {
                    let block = Mat::from_fn(10, 8, |i, j| a[(r0 + i, j)]);
                    in_prec!(
                        b,
                        oja_update(&mut o, b.engine, &dense_op(&scaled(&block, e)))
                    )?;
                }
                cont(projector(o.basis()))
            },
        );
    }
    finish();
}

/// Newton–Schulz polar factor (cubic and Muon's quintic): degree 0. Tolerance `10⁴·n·u`: the
/// iterations stop on a relative residual, at most one step apart.
#[test]
fn polar_newton_schulz_is_scale_invariant() {
    let a = test_matrix(18, 12, 8, 8);
    for kind in [NsKind::Cubic, NsKind::MuonQuintic] {
        sweep(
            &format!("polar_newton_schulz ({kind:?})"),
            0.0,
            1e4 * 12.0,
            |b, e| {
                let r = in_prec!(
                    b,
                    polar_newton_schulz(
                        b.engine,
                        &dense_op(&scaled(&a, e)),
                        kind,
                        &MatFunOptions {
                            tol: None,
                            max_iter: Some(60)
                        }
                    )
                )?;
                Ok((
                    vec![f64::from(u8::from(r.converged))],
                    flat(&down(b.engine, &r.x)?),
                ))
            },
        );
    }
    finish();
}

/// Coupled Newton–Schulz square root of an SPD operator: `X` has degree 1/2 and its inverse
/// −1/2 (every exponent is even, so `2^{e/2}` is exact). Tolerance `10⁴·n·u`.
#[test]
fn sqrt_newton_schulz_is_scale_invariant() {
    let a = spd(19, 10, 10);
    sweep("sqrt_newton_schulz", 0.5, 1e4 * 10.0, |b, e| {
        let r = in_prec!(
            b,
            sqrt_newton_schulz(
                b.engine,
                &dense_op(&scaled(&a, e)),
                &MatFunOptions {
                    tol: None,
                    max_iter: Some(60)
                }
            )
        )?;
        let mut out: Vec<f64> = flat(&down(b.engine, &r.x)?)
            .iter()
            .map(|v| v * pow2(-e / 2.0))
            .collect();
        if let Some(inv) = &r.inverse {
            out.extend(
                flat(&down(b.engine, inv)?)
                    .iter()
                    .map(|v| v * pow2(e / 2.0)),
            );
        }
        Ok((vec![f64::from(u8::from(r.converged))], out))
    });
    finish();
}

/// Coupled Newton inverse `p`-th roots (`p = 2, 4`): degree `−1/p` (every exponent is a multiple
/// of 4). Tolerance `10⁴·n·u`.
#[test]
fn inverse_root_is_scale_invariant() {
    let a = spd(20, 10, 10);
    for p in [2u32, 4] {
        sweep(
            &format!("inverse_root (p = {p})"),
            1.0 / f64::from(p),
            1e4 * 10.0,
            |b, e| {
                let r = in_prec!(
                    b,
                    inverse_root(
                        b.engine,
                        &dense_op(&scaled(&a, e)),
                        p,
                        &MatFunOptions::default()
                    )
                )?;
                let back = pow2(e / f64::from(p));
                let x: Vec<f64> = flat(&down(b.engine, &r.x)?)
                    .iter()
                    .map(|v| v * back)
                    .collect();
                Ok((vec![f64::from(u8::from(r.converged))], x))
            },
        );
    }
    finish();
}

/// Approximate leverage scores: degree 0. Tolerance `10³·(m + n)·u` (a QR of the sketch and a
/// triangular solve).
#[test]
fn leverage_scores_are_scale_invariant() {
    use linops::sampling::{LeverageParams, leverage_scores};
    let a = test_matrix(21, 40, 5, 5);
    sweep("leverage_scores", 0.0, 1e3 * 45.0, |b, e| {
        let p = LeverageParams {
            sketch_rows: 20,
            jl_cols: 16,
            rng: RngState::new(23),
        };
        // Computed in the engine's precision (the two CPU runs are the same computation).
        cont(leverage_scores(b.engine, &dense_op(&scaled(&a, e)), &p)?)
    });
    finish();
}

/// Approximate matrix products `AᵀB` (both factors scaled): degree 2, so `|e| ≤ 500` resp.
/// `≤ 60`. The sampled rows depend on the ratios of row norms only. Tolerance `10³·m·u`.
#[test]
fn approximate_products_are_scale_invariant() {
    use linops::amm::{amm_norm_sampling, amm_priority};
    let a = round32(Rng::new(24).mat(40, 3));
    let bm = round32(Rng::new(25).mat(40, 4));
    sweep("amm_norm_sampling", 2.0, 1e3 * 40.0, |b, e| {
        let (ae, be) = (scaled(&a, e), scaled(&bm, e));
        let est = amm_norm_sampling(b.engine, ae.as_ref(), be.as_ref(), 15, RngState::new(26))?;
        cont(flat(&est).iter().map(|v| v * pow2(-2.0 * e)).collect())
    });
    // amm_priority runs on the host in f64 (no engine): the f64 sweep is the one that counts.
    sweep("amm_priority", 2.0, 1e3 * 40.0, |b, e| {
        if !b.f64 {
            return cont(Vec::new());
        }
        let (ae, be) = (scaled(&a, e), scaled(&bm, e));
        let est = amm_priority(ae.as_ref(), be.as_ref(), 15, RngState::new(27))?;
        cont(flat(&est).iter().map(|v| v * pow2(-2.0 * e)).collect())
    });
    finish();
}

/// The streaming sketch accumulator: `S·A` has degree 1. Tolerance `2·(m + p + 2)·u` of
/// docs/ops.md, with room for the GPU's Gaussian entries (16 ulps).
#[test]
fn sketch_accumulator_is_scale_invariant() {
    use linops::stream::{SketchAccumulator, SketchFamily, SketchSpec};
    let a = round32(Rng::new(28).mat(30, 3));
    sweep(
        "sketch_accumulator",
        1.0,
        4.0 * (30.0 + 3.0 + 2.0) + 64.0,
        |b, e| {
            let spec = SketchSpec::new(SketchFamily::Gaussian, 6, 30, RngState::new(29))?;
            let mut acc = SketchAccumulator::new(spec)?;
            let ae = scaled(&a, e);
            for (r0, r1) in [(10, 30), (0, 4), (4, 10)] {
                acc.push(b.engine, r0, ae.as_ref().subrows(r0, r1 - r0))?;
            }
            cont(flat(&acc.finish()?).iter().map(|v| v * pow2(-e)).collect())
        },
    );
    finish();
}
