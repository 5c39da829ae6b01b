//! `randnla`: the randomized drivers on problems whose exact answer is known, timed end to end.
//!
//! Every test matrix is built from Walsh–Hadamard factors with random signs, `Q₁ = H·D₁` and
//! `Q₂ = H·D₂` (orthogonal, `H` the orthonormal Walsh–Hadamard of a power-of-two `n`), so its
//! spectrum and its exact answers are known without a dense factorization:
//!
//! | op | problem | `error` field |
//! |---|---|---|
//! | `rsvd` | dense `A = Q₁·diag(σ)·Q₂ᵀ`, `σ_j = 1/(j+1)`, `n` 4096 (CPU) / 8192 (GPU), `k = 64`, `p = 10`, `q = 2` | `‖A − UΣVᵀ‖₂ / σ_{k+1}` (spectral norm by 30 power iterations on the residual) |
//! | `lstsq` | `known_solution_problem`, 32768×256 (CPU) / 131072×256 (GPU), `κ = 1e8`, residual `1e-6·‖Ax*‖` ⟂ range | `‖x − x*‖/‖x*‖`, and `qr_error` of faer's dense f64 QR solve on the same problem |
//! | `nystrom_pcg` | structured PSD `A = Q₁·diag(λ)·Q₁ᵀ`, `λ_j = 1/(j+1)²`, `μ = 1e-4`, `n` 4096 / 16384, rank 64 | `‖x − x*‖/‖x*‖` with `x* = Q₁·diag(1/(λ+μ))·Q₁ᵀ·b` |
//! | `newton_schulz` | dense `A = Q₁·diag(σ)·Q₂ᵀ`, `σ` log-spaced in `[1e-2, 1]`, `n` 1024 (CPU) / 4096 (GPU); classic cubic to tolerance, and the Muon quintic for 5 steps | `‖X − Q₁Q₂ᵀ‖_F/√n` (distance to the exact polar factor; the quintic stops in its band, by design) |
//! | `newton_schulz_batched` | 512 Gaussian matrices of 128×128 (seeded Philox), Muon quintic, 5 steps: `batched::batched_polar_newton_schulz` on the resident batch (upload included) against a host loop of `polar_newton_schulz` over the matrices, same work | `max|X_batched − X_loop|`; `host_loop_ms` and `speedup` (loop time / batched time, in one run) |
//!
//! | `cholesky_qr2` | `Q·R` of a tall block `X = Q₁[:, :256]·diag(σ)`, `σ` log-spaced in `[1e-3, 1]` (`κ = 1e3`), `m` 16384 (CPU) / 65536 (GPU), 256 columns (`qr::orthonormalize`) | `‖QᵀQ − I‖_F`, and `residual` `‖X − Q·R‖_F/‖X‖_F`; `method` 1 when CholeskyQR2 ran (0: the Householder fallback) |
//!
//! Rows carry `error`, `iterations` (where the driver iterates) and, for `lstsq`, `qr_error`.
//! `gflops`/`gbps` are 0 (a driver's FLOPs are not a plan's). Newton–Schulz on the CPU runs at
//! `n = 1024`, not the 4096 of the GPU row: one cubic step is three `n³` GEMMs, and 4096 would
//! take minutes on a 2-core machine.

use super::{CaseSpec, Failure, Outcome, Suite};
use crate::measure::{RepPolicy, Target};
use crate::row::Row;
use faer::Mat;
use faer::prelude::SolveLstsq;
use linops::op::Hadamard;
use linops::randnla::{batched, lstsq, matfun, nystrom, svd};
use linops::{Engine, HostMat, Op, Result, Scalar};
use std::io::Write as _;
use std::time::Instant;

/// The `randnla` suite.
pub const SUITE: Suite = Suite {
    name: "randnla",
    about: "randomized SVD, least squares, Nystrom PCG, Newton-Schulz vs exact answers",
    gpu_only: false,
    f64_target: true,
    software_gpu_opt_in: true,
    policy: RepPolicy {
        max_reps: 5,
        min_reps: 1,
        budget_s: 4.0,
        second_warmup_below_s: 0.0,
    },
    cases,
    runner: Some(run),
};

/// The drivers, in run order.
pub const DRIVERS: [&str; 7] = [
    "rsvd",
    "lstsq",
    "nystrom_pcg",
    "newton_schulz_cubic",
    "newton_schulz_quintic",
    "newton_schulz_batched",
    "cholesky_qr2",
];

/// Labels only (the runner builds the problems itself).
///
/// # Examples
/// ```
/// assert_eq!(linops_bench::suites::randnla::cases().len(), 7);
/// ```
pub fn cases() -> Vec<CaseSpec> {
    DRIVERS
        .iter()
        .map(|d| {
            CaseSpec::new(*d, || {
                Err(linops::Error::InvalidArgument(
                    "randnla cases are built by its runner".into(),
                ))
            })
        })
        .collect()
}

/// `Q = H·D` with random signs `D` from `seed`.
fn signed_hadamard(n: usize, seed: u64) -> Result<Op> {
    let mut s = crate::rng::SplitMix64::new(seed);
    let d: Vec<f64> = (0..n)
        .map(|_| if s.next_u64() & 1 == 0 { 1.0 } else { -1.0 })
        .collect();
    Op::product(vec![Op::leaf(Hadamard::new(n)?), Op::diagonal(d)?])
}

/// `Q₁·diag(σ)·Q₂ᵀ` as a dense op (formed by applying it to the identity on the CPU in f64).
fn dense_from_spectrum(n: usize, sigma: &[f64], seed: u64) -> Result<(Op, Op, Op)> {
    let q1 = signed_hadamard(n, seed)?;
    let q2 = signed_hadamard(n, seed + 1)?;
    let op = Op::product(vec![q1.clone(), Op::diagonal(sigma.to_vec())?, q2.t()])?;
    let a = Engine::cpu().apply(&op, Mat::<f64>::identity(n, n).as_ref())?;
    let dense = Op::from_host(HostMat::from_fn(n, n, |i, j| a[(i, j)]))?;
    Ok((dense, q1, q2))
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// Median seconds of `f` under the rep policy (at least one run, at most `max_reps`, stopping
/// once `budget_s` is spent), with the last run's result.
fn timed<R>(policy: &RepPolicy, mut f: impl FnMut() -> Result<R>) -> Result<(f64, usize, R)> {
    let mut times = Vec::new();
    let mut last;
    let start = Instant::now();
    loop {
        let t0 = Instant::now();
        last = f()?;
        times.push(t0.elapsed().as_secs_f64());
        if times.len() >= policy.max_reps
            || (times.len() >= policy.min_reps && start.elapsed().as_secs_f64() >= policy.budget_s)
        {
            break;
        }
    }
    times.sort_by(f64::total_cmp);
    Ok((times[times.len() / 2], times.len(), last))
}

/// Spectral norm of `A − U·diag(s)·Vᵀ` by power iteration on the CPU in f64.
fn residual_norm(a: &Op, u: &Mat<f64>, s: &[f64], v: &Mat<f64>) -> Result<f64> {
    let cpu = Engine::cpu();
    let lr = linops::op::LowRank::new(
        HostMat::from_fn(u.nrows(), u.ncols(), |i, j| u[(i, j)]),
        s.iter().map(|x| -x).collect(),
        HostMat::from_fn(v.nrows(), v.ncols(), |i, j| v[(i, j)]),
    )?;
    let r = Op::sum(vec![a.clone(), Op::leaf(lr)])?;
    let n = a.shape().1;
    let x0 = Mat::<f64>::from_fn(n, 1, |i, _| 1.0 + (i % 7) as f64 / 7.0);
    let mut x = Mat::from_fn(n, 1, |i, _| x0[(i, 0)] / x0.norm_l2());
    let mut est = 0.0;
    for _ in 0..30 {
        // ‖x‖ = 1: ‖R·x‖ increases to ‖R‖₂.
        let y = cpu.apply(&r, x.as_ref())?;
        est = y.norm_l2();
        let z = cpu.apply(&r.t(), y.as_ref())?;
        let nz = z.norm_l2();
        if nz == 0.0 {
            return Ok(0.0);
        }
        x = Mat::from_fn(n, 1, |i, _| z[(i, 0)] / nz);
    }
    Ok(est)
}

struct Measured {
    seconds: f64,
    reps: usize,
    shape: String,
    error: f64,
    iterations: Option<usize>,
    extra: Vec<(&'static str, f64)>,
}

fn run_driver<T: Scalar>(
    name: &str,
    e: &Engine,
    gpu: bool,
    policy: &RepPolicy,
) -> Result<Measured> {
    match name {
        "rsvd" => {
            let (n, k) = (if gpu { 8192 } else { 4096 }, 64);
            let sigma: Vec<f64> = (0..n).map(|j| 1.0 / (j + 1) as f64).collect();
            let (a, _, _) = dense_from_spectrum(n, &sigma, 11)?;
            let opts = svd::SvdOptions {
                oversample: 10,
                power_iters: Some(2),
                ..Default::default()
            };
            let (seconds, reps, r) = timed(policy, || svd::randomized_svd::<T>(e, &a, k, &opts))?;
            let u: Mat<T> = e.download(&r.u)?;
            let v: Mat<T> = e.download(&r.v)?;
            let up = Mat::from_fn(u.nrows(), u.ncols(), |i, j| u[(i, j)].to_f64());
            let vp = Mat::from_fn(v.nrows(), v.ncols(), |i, j| v[(i, j)].to_f64());
            let err = residual_norm(&a, &up, &r.s, &vp)? / sigma[k];
            Ok(Measured {
                seconds,
                reps,
                shape: format!("n={n},k={k},p=10,q=2"),
                error: err,
                iterations: None,
                extra: vec![("error_estimate_over_sigma", r.error_estimate / sigma[k])],
            })
        }
        "lstsq" => {
            let (m, n) = (if gpu { 131072 } else { 32768 }, 256);
            let (a, xs, b) = lstsq::known_solution_problem(m, n, 1e8, 1e-6, 21)?;
            let op = linops::dense(a.as_ref())?;
            let opts = lstsq::LstsqOptions {
                sketch_dtype: Some(e.compute_dtype::<T>()?),
                ..Default::default()
            };
            let (seconds, reps, r) = timed(policy, || lstsq::lstsq(e, &op, &b, &opts))?;
            let fwd = |x: &[f64]| {
                let d: Vec<f64> = x.iter().zip(&xs).map(|(a, b)| a - b).collect();
                norm(&d) / norm(&xs)
            };
            let bm = Mat::from_fn(m, 1, |i, _| b[i]);
            let xq = a.qr().solve_lstsq(&bm);
            let xq: Vec<f64> = (0..n).map(|i| xq[(i, 0)]).collect();
            Ok(Measured {
                seconds,
                reps,
                shape: format!("m={m},n={n},kappa=1e8"),
                error: fwd(&r.x),
                iterations: Some(r.iterations),
                extra: vec![("qr_error", fwd(&xq))],
            })
        }
        "nystrom_pcg" => {
            let (n, k, mu) = (if gpu { 16384 } else { 4096 }, 64, 1e-4);
            let q = signed_hadamard(n, 31)?;
            let lambda: Vec<f64> = (0..n).map(|j| 1.0 / ((j + 1) as f64).powi(2)).collect();
            let a = Op::product(vec![q.clone(), Op::diagonal(lambda.clone())?, q.t()])?;
            let b: Vec<f64> = (0..n)
                .map(|i| ((i * 37) % 11) as f64 / 11.0 - 0.5)
                .collect();
            let cpu = Engine::cpu();
            let qb = cpu.apply(&q.t(), Mat::from_fn(n, 1, |i, _| b[i]).as_ref())?;
            let w = Mat::from_fn(n, 1, |i, _| qb[(i, 0)] / (lambda[i] + mu));
            let xs = cpu.apply(&q, w.as_ref())?;
            let xs: Vec<f64> = (0..n).map(|i| xs[(i, 0)]).collect();
            let cg = nystrom::CgOptions {
                tol: if T::DTYPE == linops::DType::F64 {
                    1e-10
                } else {
                    1e-5
                },
                max_iter: 500,
            };
            let (seconds, reps, r) = timed(policy, || {
                let pre = nystrom::nystrom::<T>(e, &a, k, &nystrom::NystromOptions::default())?;
                nystrom::nystrom_pcg::<T>(e, &a, mu, &b, Some(&pre), &cg)
            })?;
            let d: Vec<f64> = r.x.iter().zip(&xs).map(|(a, b)| a - b).collect();
            Ok(Measured {
                seconds,
                reps,
                shape: format!("n={n},k={k},mu=1e-4"),
                error: norm(&d) / norm(&xs),
                iterations: Some(r.iterations),
                extra: vec![],
            })
        }
        "newton_schulz_cubic" | "newton_schulz_quintic" => {
            let n = if gpu { 4096 } else { 1024 };
            let sigma: Vec<f64> = (0..n)
                .map(|j| 10f64.powf(-2.0 * j as f64 / (n - 1) as f64))
                .collect();
            let (a, q1, q2) = dense_from_spectrum(n, &sigma, 41)?;
            let polar = Engine::cpu().apply(
                &Op::product(vec![q1, q2.t()])?,
                Mat::<f64>::identity(n, n).as_ref(),
            )?;
            let (kind, iters) = if name.ends_with("cubic") {
                (matfun::NsKind::Cubic, 100)
            } else {
                (matfun::NsKind::MuonQuintic, 5)
            };
            let tol = if name.ends_with("cubic") {
                Some(matfun::default_tol(e.compute_dtype::<T>()?, n))
            } else {
                None
            };
            let (seconds, reps, r) = timed(policy, || {
                matfun::polar_newton_schulz::<T>(
                    e,
                    &a,
                    kind,
                    &matfun::MatFunOptions {
                        tol,
                        max_iter: Some(iters),
                    },
                )
            })?;
            let x: Mat<T> = e.download(&r.x)?;
            let mut d2 = 0.0;
            for j in 0..n {
                for i in 0..n {
                    let d = x[(i, j)].to_f64() - polar[(i, j)];
                    d2 += d * d;
                }
            }
            Ok(Measured {
                seconds,
                reps,
                shape: format!("n={n},sigma=1e-2..1"),
                error: (d2 / n as f64).sqrt(),
                iterations: Some(r.iterations),
                extra: vec![("residual", r.residual)],
            })
        }
        "newton_schulz_batched" => {
            let (b, n) = (512, 128);
            let rng = linops::RngState::new(61);
            let mats: Vec<Mat<T>> = (0..b)
                .map(|t| {
                    Mat::from_fn(n, n, |i, j| {
                        T::from_f64(f64::from(rng.entry(
                            linops::Dist::Gaussian,
                            i as u64,
                            (t * n + j) as u64,
                        )))
                    })
                })
                .collect();
            let opts = matfun::MatFunOptions {
                tol: None,
                max_iter: Some(5),
            };
            let kind = matfun::NsKind::MuonQuintic;
            let refs: Vec<_> = mats.iter().map(|m| m.as_ref()).collect();
            let (seconds, reps, r) = timed(policy, || {
                let x = batched::upload_batch(e, &refs)?;
                batched::batched_polar_newton_schulz(e, &x, b, kind, &opts)
            })?;
            let ops: Vec<Op> = mats
                .iter()
                .map(|m| Op::from_host(HostMat::from_fn(n, n, |i, j| m[(i, j)].to_f64())))
                .collect::<Result<_>>()?;
            let (loop_s, _, xs) = timed(policy, || {
                ops.iter()
                    .map(|op| Ok(matfun::polar_newton_schulz::<T>(e, op, kind, &opts)?.x))
                    .collect::<Result<Vec<_>>>()
            })?;
            let xb: Mat<T> = e.download(&r.x)?;
            let mut dev = 0.0f64;
            for (t, x) in xs.iter().enumerate() {
                let x: Mat<T> = e.download(x)?;
                for j in 0..n {
                    for i in 0..n {
                        dev = dev.max((x[(i, j)].to_f64() - xb[(i, t * n + j)].to_f64()).abs());
                    }
                }
            }
            Ok(Measured {
                seconds,
                reps,
                shape: format!("batch={b},n={n},quintic,steps=5"),
                error: dev,
                iterations: Some(r.iterations),
                extra: vec![
                    ("host_loop_ms", loop_s * 1e3),
                    ("speedup", loop_s / seconds),
                ],
            })
        }
        "cholesky_qr2" => {
            let (m, k) = (if gpu { 65536 } else { 16384 }, 256);
            let q1 = signed_hadamard(m, 51)?;
            let sigma: Vec<f64> = (0..k)
                .map(|j| 10f64.powf(-3.0 * j as f64 / (k - 1) as f64))
                .collect();
            // The first k columns of Q₁, scaled: orthogonal columns with a known spectrum.
            let x = Engine::cpu().apply(
                &q1,
                Mat::<f64>::from_fn(m, k, |i, j| if i == j { sigma[j] } else { 0.0 }).as_ref(),
            )?;
            let xt: Mat<T> = Mat::from_fn(m, k, |i, j| T::from_f64(x[(i, j)]));
            let xm = e.upload(xt.as_ref())?;
            let (seconds, reps, f) = timed(policy, || linops::randnla::qr::orthonormalize(e, &xm))?;
            let q: Mat<T> = e.download(&f.q)?;
            let q = Mat::from_fn(m, k, |i, j| q[(i, j)].to_f64());
            let orth = (q.transpose() * &q - Mat::<f64>::identity(k, k)).norm_l2();
            let residual = (&q * &f.r - &x).norm_l2() / x.norm_l2();
            Ok(Measured {
                seconds,
                reps,
                shape: format!("m={m},k={k},kappa=1e3"),
                error: orth,
                iterations: None,
                extra: vec![
                    ("residual", residual),
                    (
                        "method",
                        f64::from(u8::from(
                            f.method == linops::randnla::qr::QrMethod::CholeskyQr2,
                        )),
                    ),
                ],
            })
        }
        other => Err(linops::Error::InvalidArgument(format!(
            "unknown randnla driver {other:?}"
        ))),
    }
}

/// The runner: every driver on every target.
pub fn run(suite: &Suite, targets: &[Target], policy: &RepPolicy) -> Outcome {
    let mut out = Outcome::default();
    for target in targets {
        let gpu = target.label == "gpu";
        for name in DRIVERS {
            eprint!("{name} on {} ... ", target.label);
            let _ = std::io::stderr().flush();
            let pol = target.policy(policy);
            let res = if target.f64 {
                run_driver::<f64>(name, &target.engine, gpu, &pol)
            } else {
                run_driver::<f32>(name, &target.engine, gpu, &pol)
            };
            match res {
                Ok(m) => {
                    let mut row = Row::new(
                        suite.name,
                        name,
                        &m.shape,
                        target.label,
                        &target.engine.device(),
                    );
                    row.median_ms = m.seconds * 1e3;
                    row.max_rel_err = Some(f64::NAN);
                    row.extra.insert("error".into(), serde_json::json!(m.error));
                    if let Some(it) = m.iterations {
                        row.extra.insert("iterations".into(), serde_json::json!(it));
                    }
                    for (k, v) in &m.extra {
                        row.extra.insert((*k).into(), serde_json::json!(v));
                    }
                    eprintln!(
                        "{:.1} ms ({} reps), error {:.3e}",
                        row.median_ms, m.reps, m.error
                    );
                    out.rows.push(row);
                }
                Err(e) => {
                    eprintln!("FAILED: {e}");
                    out.failures.push(Failure {
                        case: name.into(),
                        backend: target.label.into(),
                        error: e.to_string(),
                    });
                }
            }
        }
    }
    out
}
