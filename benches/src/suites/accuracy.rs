//! `accuracy`: a zoo of spectra × the randomized drivers × backends × seeds, reporting how far
//! each answer is from the optimum and how honest each driver's error estimate is (issue 14).
//!
//! Test matrices, in the manner of RandLAPACK's: `A = U·diag(σ)·Vᵀ` (`m×n = 192×128`, `U`, `V`
//! Haar-random orthonormal from a seed) with the spectra
//!
//! | name | `σ_j`, `j = 0…127` |
//! |---|---|
//! | `poly1`, `poly2` | `(j + 1)^{-1}`, `(j + 1)^{-2}` |
//! | `exp` | `0.8^j` |
//! | `step` | 1 for `j < 16`, `1e-3` after |
//! | `flat tail` | `(j + 1)^{-1}` for `j < 16`, then `0.05` |
//! | `clustered` | `1 + 1e-3·j` for `j < 16`, `0.5 + 1e-3·j` after |
//! | `hilbert-like` | `10^{-12·j/127}`-graded with `κ = 1e12` (the Hilbert matrix's decay) |
//!
//! Drivers at rank `k = 16`: `rsvd` (defaults: `p = 10`, `q` by scikit-learn's rule, 4 at this size), `block_krylov` (`p = 4`,
//! `q = 2`), `range` (`l = 26`, `q = 2`, certified by `estimate::range_error`), `nystrom` (PSD
//! `U·diag(σ)·Uᵀ`, `p = 10`), `column_id` and `cur` (`p = 10`, strong RRQR). For every (driver,
//! spectrum, backend) the row reports, over the seeds, the median and largest (the 99th
//! percentile with ≤ 100 seeds) of `error/optimum`, with the optimum `σ_{k+1}` (for the range
//! finder `σ_{l+1}`), and the median of `estimate/error` and the fraction of estimates below the
//! error (the certified estimates' failure probability is 1%). Errors are spectral norms of the
//! dense residual (faer SVD, f64). In `error/optimum` an error or optimum below the precision
//! floor `100·m·u·σ₁` is counted at the floor; `estimate/error` uses the raw error. `median_ms` is the median driver time (lavapipe rows time a software rasterizer).

use super::{CaseSpec, Failure, Outcome, Suite};
use crate::measure::{RepPolicy, Target};
use crate::row::Row;
use faer::Mat;
use linops::randnla::estimate::{NormEstimate, nystrom_error, range_error};
use linops::randnla::id::{IdOptions, column_id, cur};
use linops::randnla::nystrom::{NystromOptions, nystrom};
use linops::randnla::range::{RangeOptions, range_finder};
use linops::randnla::svd::{SvdOptions, block_krylov_svd, randomized_svd};
use linops::{DType, Engine, Matrix, Result, Scalar};
use std::io::Write as _;
use std::time::Instant;

/// The `accuracy` suite.
pub const SUITE: Suite = Suite {
    name: "accuracy",
    about: "spectrum zoo x drivers x seeds: error/optimum and estimate/error percentiles",
    gpu_only: false,
    f64_target: true,
    software_gpu_opt_in: true,
    policy: RepPolicy {
        max_reps: 1,
        min_reps: 1,
        budget_s: 0.0,
        second_warmup_below_s: 0.0,
    },
    cases,
    runner: Some(run),
};

const M: usize = 192;
const N: usize = 128;
const K: usize = 16;

/// The drivers, in run order.
pub const DRIVERS: [&str; 6] = [
    "rsvd",
    "block_krylov",
    "range",
    "nystrom",
    "column_id",
    "cur",
];

/// Seeds per (driver, spectrum, backend); `LINOPS_ACCURACY_SEEDS` overrides.
fn seeds() -> u64 {
    std::env::var("LINOPS_ACCURACY_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&s: &u64| s > 0)
        .unwrap_or(20)
}

/// The spectra of the zoo (module docs).
///
/// # Examples
/// ```
/// let z = linops_bench::suites::accuracy::zoo();
/// assert!(z.iter().all(|(_, s)| s.len() == 128 && s.windows(2).all(|w| w[0] >= w[1] * 0.999)));
/// ```
pub fn zoo() -> Vec<(&'static str, Vec<f64>)> {
    let j = |f: &dyn Fn(usize) -> f64| (0..N).map(f).collect::<Vec<f64>>();
    vec![
        ("poly1", j(&|j| 1.0 / (j + 1) as f64)),
        ("poly2", j(&|j| 1.0 / ((j + 1) * (j + 1)) as f64)),
        ("exp", j(&|j| 0.8f64.powi(j as i32))),
        ("step", j(&|j| if j < 16 { 1.0 } else { 1e-3 })),
        (
            "flat tail",
            j(&|j| if j < 16 { 1.0 / (j + 1) as f64 } else { 0.05 }),
        ),
        (
            "clustered",
            j(&|j| {
                if j < 16 {
                    1.0 + 1e-3 * (16 - j) as f64
                } else {
                    0.5 + 1e-3 * (N - j) as f64
                }
            }),
        ),
        (
            "hilbert-like",
            j(&|j| 10f64.powf(-12.0 * j as f64 / (N - 1) as f64)),
        ),
    ]
}

/// Labels only (the runner builds the problems).
///
/// # Examples
/// ```
/// assert_eq!(linops_bench::suites::accuracy::cases().len(), 6);
/// ```
pub fn cases() -> Vec<CaseSpec> {
    DRIVERS
        .iter()
        .map(|d| {
            CaseSpec::new(*d, || {
                Err(linops::Error::InvalidArgument(
                    "accuracy cases are built by its runner".into(),
                ))
            })
        })
        .collect()
}

fn gaussian(s: &mut crate::rng::SplitMix64, m: usize, n: usize) -> Mat<f64> {
    Mat::from_fn(m, n, |_, _| {
        // Box–Muller on two uniforms in (0, 1].
        let u1 = ((s.next_u64() >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
        let u2 = (s.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    })
}

fn orthonormal(s: &mut crate::rng::SplitMix64, m: usize, k: usize) -> Mat<f64> {
    gaussian(s, m, k).qr().compute_thin_Q()
}

fn spectral(m: &Mat<f64>) -> f64 {
    m.singular_values()
        .ok()
        .and_then(|s| s.first().copied())
        .unwrap_or(f64::NAN)
}

fn host(e: &Engine, m: &Matrix) -> Result<Mat<f64>> {
    match m.dtype() {
        DType::F64 => e.download::<f64>(m),
        DType::F32 => e.download_f64(m),
    }
}

/// One trial: `(error, optimum, estimate)`.
fn trial<T: Scalar>(
    e: &Engine,
    driver: &str,
    spec: &[f64],
    seed: u64,
) -> Result<(f64, f64, Option<NormEstimate>)> {
    let mut s = crate::rng::SplitMix64::new(seed);
    let u = orthonormal(&mut s, M, N);
    let v = orthonormal(&mut s, N, N);
    let a = Mat::from_fn(M, N, |i, j| {
        (0..N).map(|t| u[(i, t)] * spec[t] * v[(j, t)]).sum()
    });
    let op = linops::dense(a.as_ref())?;
    let svd_err = |uu: &Mat<f64>, sv: &[f64], vv: &Mat<f64>| {
        let approx = Mat::from_fn(M, sv.len(), |i, j| uu[(i, j)] * sv[j]) * vv.transpose();
        spectral(&(&a - &approx))
    };
    match driver {
        "rsvd" | "block_krylov" => {
            let opts = SvdOptions {
                seed,
                ..SvdOptions::default()
            };
            let r = if driver == "rsvd" {
                randomized_svd::<T>(e, &op, K, &opts)?
            } else {
                block_krylov_svd::<T>(
                    e,
                    &op,
                    K,
                    &SvdOptions {
                        oversample: 4,
                        ..opts
                    },
                )?
            };
            let err = svd_err(&host(e, &r.u)?, &r.s, &host(e, &r.v)?);
            Ok((err, spec[K], r.estimate))
        }
        "range" => {
            let l = K + 10;
            let b = range_finder::<T>(
                e,
                &op,
                l,
                &RangeOptions {
                    power_iters: 2,
                    seed,
                },
            )?;
            let q = host(e, &b.q)?;
            let err = spectral(&(&a - &q * (q.transpose() * &a)));
            Ok((err, spec[l], Some(range_error(e, &op, &b.q, 12, seed ^ 7)?)))
        }
        "nystrom" => {
            let p = Mat::from_fn(N, N, |i, j| {
                (0..N).map(|t| v[(i, t)] * spec[t] * v[(j, t)]).sum()
            });
            let pop = linops::dense(p.as_ref())?;
            let r = nystrom::<T>(
                e,
                &pop,
                K,
                &NystromOptions {
                    oversample: 10,
                    seed,
                },
            )?;
            let uu = host(e, &r.u)?;
            let approx = Mat::from_fn(N, K, |i, j| uu[(i, j)] * r.lambda[j]) * uu.transpose();
            let err = spectral(&(&p - &approx));
            Ok((
                err,
                spec[K],
                Some(nystrom_error(e, &pop, &r, 12, seed ^ 7)?),
            ))
        }
        "column_id" => {
            let io = IdOptions {
                seed,
                ..IdOptions::default()
            };
            let c = column_id::<T>(e, &op, K, &io)?;
            let ac = Mat::from_fn(M, K, |i, j| a[(i, c.cols[j])]);
            Ok((spectral(&(&a - &ac * &c.x)), spec[K], c.estimate))
        }
        _ => {
            let io = IdOptions {
                seed,
                ..IdOptions::default()
            };
            let f = cur::<T>(e, &op, K, &io)?;
            let (c, r) = (host(e, &f.c)?, host(e, &f.r)?);
            Ok((spectral(&(&a - &c * &f.u * &r)), spec[K], f.estimate))
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

/// Reads a matrix written as two little-endian `u64` (rows, cols) and then `rows·cols`
/// little-endian `f64` in column-major order (`benches/scripts/cur_natural_image.py` writes one).
///
/// # Errors
/// A message naming the file for an unreadable, truncated or non-finite file.
///
/// # Examples
/// ```
/// let p = std::env::temp_dir().join("linops_accuracy_doc.bin");
/// let mut b = Vec::new();
/// for v in [2u64, 1] { b.extend(v.to_le_bytes()); }
/// for v in [1.5f64, -2.0] { b.extend(v.to_le_bytes()); }
/// std::fs::write(&p, b).unwrap();
/// let m = linops_bench::suites::accuracy::read_matrix(&p).unwrap();
/// assert_eq!((m.nrows(), m.ncols(), m[(1, 0)]), (2, 1, -2.0));
/// ```
pub fn read_matrix(path: &std::path::Path) -> std::result::Result<Mat<f64>, String> {
    let b = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let word = |i: usize| -> Option<[u8; 8]> { b.get(8 * i..8 * i + 8)?.try_into().ok() };
    let (Some(r), Some(c)) = (word(0), word(1)) else {
        return Err(format!(
            "{}: shorter than its 16-byte header",
            path.display()
        ));
    };
    let (rows, cols) = (
        u64::from_le_bytes(r) as usize,
        u64::from_le_bytes(c) as usize,
    );
    let want = rows.checked_mul(cols).and_then(|n| n.checked_add(2));
    if rows == 0 || cols == 0 || want.and_then(|n| n.checked_mul(8)) != Some(b.len()) {
        return Err(format!(
            "{}: header says {rows}x{cols} but the file has {} bytes",
            path.display(),
            b.len()
        ));
    }
    let m = Mat::from_fn(rows, cols, |i, j| {
        f64::from_le_bytes(word(2 + i + rows * j).unwrap_or_default())
    });
    if m.col_iter()
        .flat_map(|c| c.iter().copied())
        .any(|v| !v.is_finite())
    {
        return Err(format!("{}: non-finite entries", path.display()));
    }
    Ok(m)
}

/// `‖A − C·U·R‖₂` for the deterministic CUR from column-pivoted QRs of `A` and `Aᵀ` (first `k`
/// pivots) with `U = C⁺·A·R⁺`: the reference the randomized CUR is compared with on a real matrix.
fn pivoted_qr_cur_error(a: &Mat<f64>, k: usize) -> f64 {
    let pivots = |m: &Mat<f64>| m.col_piv_qr().P().arrays().0[..k].to_vec();
    let (cols, rows) = (pivots(a), pivots(&a.transpose().to_owned()));
    let c = Mat::from_fn(a.nrows(), k, |i, j| a[(i, cols[j])]);
    let r = Mat::from_fn(k, a.ncols(), |i, j| a[(rows[i], j)]);
    let pinv = |m: &Mat<f64>| -> Mat<f64> {
        let svd = m.thin_svd().expect("small SVD");
        let s = svd.S().column_vector();
        let top = s[0];
        let v = svd.V();
        let u = svd.U();
        let vs = Mat::from_fn(v.nrows(), s.nrows(), |i, j| {
            if s[j] > 1e-13 * top {
                v[(i, j)] / s[j]
            } else {
                0.0
            }
        });
        vs * u.transpose()
    };
    let core = pinv(&c) * a * pinv(&r);
    spectral(&(a - &c * core * &r))
}

/// The real-matrix rows: randomized CUR (and column ID) at ranks 10–80 on the matrix in
/// `LINOPS_ACCURACY_MATRIX` against the deterministic pivoted-QR CUR of the same rank.
fn real_matrix_rows(suite: &Suite, targets: &[Target], out: &mut Outcome) {
    let Ok(path) = std::env::var("LINOPS_ACCURACY_MATRIX") else {
        return;
    };
    let a = match read_matrix(std::path::Path::new(&path)) {
        Ok(a) => a,
        Err(error) => {
            eprintln!("accuracy: {error}");
            out.failures.push(Failure {
                case: "real matrix".into(),
                backend: "-".into(),
                error,
            });
            return;
        }
    };
    let sv = a.singular_values().unwrap_or_default();
    let name = std::path::Path::new(&path)
        .file_stem()
        .map_or("matrix".into(), |s| s.to_string_lossy().into_owned());
    let Ok(op) = linops::dense(a.as_ref()) else {
        return;
    };
    for target in targets {
        for k in [10, 20, 40, 80] {
            if k >= a.nrows().min(a.ncols()) {
                continue;
            }
            let det = pivoted_qr_cur_error(&a, k);
            let mut ratios = Vec::new();
            for seed in 0..seeds().min(10) {
                let io = IdOptions {
                    seed: 1000 + seed,
                    ..IdOptions::default()
                };
                let r = if target.f64 {
                    cur::<f64>(&target.engine, &op, k, &io)
                } else {
                    cur::<f32>(&target.engine, &op, k, &io)
                };
                let Ok(f) = r else { continue };
                let (Ok(c), Ok(rr)) = (host(&target.engine, &f.c), host(&target.engine, &f.r))
                else {
                    continue;
                };
                ratios.push(spectral(&(&a - &c * &f.u * &rr)) / det);
            }
            if ratios.is_empty() {
                continue;
            }
            ratios.sort_by(f64::total_cmp);
            let mut row = Row::new(
                suite.name,
                "cur_vs_pivoted_qr",
                &format!("{name},m={},n={},k={k}", a.nrows(), a.ncols()),
                target.label,
                &target.engine.device(),
            );
            row.max_rel_err = Some(f64::NAN);
            row.extra.insert(
                "cur_det_med".into(),
                serde_json::json!(percentile(&ratios, 0.5)),
            );
            row.extra.insert(
                "cur_det_max".into(),
                serde_json::json!(ratios[ratios.len() - 1]),
            );
            row.extra
                .insert("det_opt".into(), serde_json::json!(det / sv[k]));
            eprintln!(
                "cur vs pivoted-QR CUR on {name}, k = {k}, {}: median {:.3}, max {:.3} (pivoted QR {:.2}·σ_(k+1))",
                target.label,
                percentile(&ratios, 0.5),
                ratios[ratios.len() - 1],
                det / sv[k]
            );
            out.rows.push(row);
        }
    }
}

/// The runner: every (driver, spectrum) on every target over the seeds, then the real-matrix
/// rows when `LINOPS_ACCURACY_MATRIX` names a file.
pub fn run(suite: &Suite, targets: &[Target], _policy: &RepPolicy) -> Outcome {
    let mut out = Outcome::default();
    real_matrix_rows(suite, targets, &mut out);
    if std::env::var("LINOPS_ACCURACY_ONLY_MATRIX").is_ok() {
        return out;
    }
    let seeds = seeds();
    for target in targets {
        let u = if target.f64 { f64::EPSILON / 2.0 } else { 6e-8 };
        for driver in DRIVERS {
            for (name, spec) in zoo() {
                eprint!("{driver} {name} on {} ({seeds} seeds) ... ", target.label);
                let _ = std::io::stderr().flush();
                let floor = 100.0 * M as f64 * u * spec[0];
                let (mut ratio, mut honesty, mut times) = (Vec::new(), Vec::new(), Vec::new());
                let mut below = 0usize;
                let mut failed = None;
                for seed in 0..seeds {
                    let t0 = Instant::now();
                    let r = if target.f64 {
                        trial::<f64>(&target.engine, driver, &spec, 1000 + seed)
                    } else {
                        trial::<f32>(&target.engine, driver, &spec, 1000 + seed)
                    };
                    times.push(t0.elapsed().as_secs_f64());
                    match r {
                        Ok((err, opt, est)) => {
                            ratio.push(err.max(floor) / opt.max(floor));
                            // The estimate bounds the residual as computed: compare it with
                            // the raw error, not the floor.
                            if let Some(est) = est {
                                honesty.push(est.bound / err);
                                below += usize::from(est.bound < err);
                            }
                        }
                        Err(e) => {
                            failed = Some(e.to_string());
                            break;
                        }
                    }
                }
                if let Some(error) = failed {
                    eprintln!("FAILED: {error}");
                    out.failures.push(Failure {
                        case: format!("{driver} {name}"),
                        backend: target.label.into(),
                        error,
                    });
                    continue;
                }
                for v in [&mut ratio, &mut honesty, &mut times] {
                    v.sort_by(f64::total_cmp);
                }
                let mut row = Row::new(
                    suite.name,
                    driver,
                    &format!("{name},m={M},n={N},k={K},seeds={seeds}"),
                    target.label,
                    &target.engine.device(),
                );
                row.median_ms = percentile(&times, 0.5) * 1e3;
                row.max_rel_err = Some(f64::NAN);
                let x = &mut row.extra;
                x.insert(
                    "err_opt_med".into(),
                    serde_json::json!(percentile(&ratio, 0.5)),
                );
                x.insert(
                    "err_opt_p99".into(),
                    serde_json::json!(percentile(&ratio, 0.99)),
                );
                if !honesty.is_empty() {
                    x.insert(
                        "est_err_med".into(),
                        serde_json::json!(percentile(&honesty, 0.5)),
                    );
                    x.insert("est_err_min".into(), serde_json::json!(honesty[0]));
                    x.insert(
                        "est_below".into(),
                        serde_json::json!(below as f64 / honesty.len() as f64),
                    );
                }
                eprintln!(
                    "error/optimum median {:.3}, p99 {:.3}; estimate/error median {:.3}, {below} below",
                    percentile(&ratio, 0.5),
                    percentile(&ratio, 0.99),
                    if honesty.is_empty() {
                        f64::NAN
                    } else {
                        percentile(&honesty, 0.5)
                    }
                );
                out.rows.push(row);
            }
        }
    }
    out
}
