//! `lstsq`: sketch-and-precondition least squares (CPU f64) on exactly representable problems
//! that `benches/scripts/lstsq_vs_numpy.py` rebuilds bit for bit to time `numpy.linalg.lstsq`.
//!
//! **The problem** (`m`, `n` powers of two, `n ≤ m/2`, spectrum exponent `e`): with
//! `h(i, c) = (−1)^popcount(i & c)` (Walsh–Hadamard entries) and the sign hash
//! `sgn(i, a) = +1` if bit 31 of `(i·a) mod 2³²` is 0, else `−1`,
//!
//! - `U[i, k] = sgn(i, 2654435761)·h(i, 2k + 1)` (`m×n`, orthogonal columns of norm `√m`);
//! - `V[j, k] = sgn(j, 40503)·h(j, k)` (`n×n`, orthogonal columns of norm `√n`);
//! - `σ_k = 2^{−⌊e·k/(n−1)⌋}`, so `cond(A) = 2^e` (`e = 27`: 1.34e8);
//! - `A = U·diag(σ)·Vᵀ`, `x*_k = 1 + ((k mod 7) − 3)/4`, and
//!   `b = A·x* + 2⁻²⁰·r` with `r[i] = sgn(i, 2654435761)` (`= h(i, 0)`-signed: `r ⟂ range(A)`
//!   exactly, since `Σ_i h(i, c) = 0` for `c ≠ 0`).
//!
//! Every entry of `A` is a sum of `n` terms `±2^{−p}` with `p ≤ e`, and every entry of `A·x*`
//! and `b` a sum of multiples of `2^{−e−2}` below `2^{17 + log₂ n}`: all exact in f64 in any
//! summation order (`e + 2 + 17 + 8 < 53`), so faer and numpy build the same bits, and `x*` is the
//! exact least-squares solution of the stored data. The forward error `‖x − x*‖/‖x*‖` is
//! therefore the solver's own.
//!
//! **Rows** (CPU f64, default options): m = 32768, n = 256 and m = 262144, n = 128, `e = 27`.
//! `median_ms` is one whole solve (sketch, QR, LSQR, refinement); `setup_ms` the median of
//! [`lstsq_sketch_solve`] on the same problem (the sketch `S·A`, its QR and `S·b`: the part
//! that does not iterate); `per_iteration_ms = (median_ms − setup_ms)/iterations`;
//! `forward_error` as above; `iterations` LSQR iterations in all.

use super::{CaseSpec, Failure, Outcome, Suite};
use crate::measure::{CPU_F64, RepPolicy, Target};
use crate::row::Row;
use faer::Mat;
use linops::randnla::lstsq::{LstsqOptions, lstsq, lstsq_sketch_solve};
use linops::{Engine, HostMat, Op, Result};
use std::io::Write as _;
use std::time::Instant;

/// The `lstsq` suite.
pub const SUITE: Suite = Suite {
    name: "lstsq",
    about: "sketch-and-precondition least squares (CPU f64) on exact problems shared with numpy",
    gpu_only: false,
    f64_target: true,
    software_gpu_opt_in: true,
    policy: RepPolicy {
        max_reps: 3,
        min_reps: 1,
        budget_s: 20.0,
        second_warmup_below_s: 0.0,
    },
    cases,
    runner: Some(run),
};

/// `(m, n, e)` of the rows: `cond(A) = 2^e`.
pub const SIZES: [(usize, usize, i32); 2] = [(32768, 256, 27), (262144, 128, 27)];

/// Labels only (the runner builds the problems itself).
///
/// # Examples
/// ```
/// assert_eq!(linops_bench::suites::lstsq::cases().len(), 2);
/// ```
pub fn cases() -> Vec<CaseSpec> {
    SIZES
        .iter()
        .map(|&(m, n, e)| {
            CaseSpec::new(format!("lstsq m={m},n={n},kappa=2^{e}"), || {
                Err(linops::Error::InvalidArgument(
                    "lstsq cases are built by its runner".into(),
                ))
            })
        })
        .collect()
}

/// `sgn(i, a)`: `+1` when bit 31 of `(i·a) mod 2³²` is 0, else `−1`.
fn sgn(i: usize, a: u64) -> f64 {
    if ((i as u64).wrapping_mul(a) & 0xffff_ffff) >> 31 == 0 {
        1.0
    } else {
        -1.0
    }
}

/// `(−1)^popcount(i & c)`.
fn h(i: usize, c: usize) -> f64 {
    if (i & c).count_ones().is_multiple_of(2) {
        1.0
    } else {
        -1.0
    }
}

/// The problem of the module docs: `(A, x*, b)`, every entry exact.
///
/// # Errors
/// [`linops::Error::InvalidArgument`] unless `m`, `n` are powers of two with `2 ≤ n ≤ m/2` and
/// `0 ≤ e ≤ 27`.
///
/// # Examples
/// ```
/// let (a, xs, b) = linops_bench::suites::lstsq::problem(16, 4, 3).unwrap();
/// let ax = &a * faer::Mat::from_fn(4, 1, |i, _| xs[i]);
/// // b − A·x* is 2⁻²⁰ times the sign vector, exactly
/// assert_eq!((b[5] - ax[(5, 0)]).abs(), 2f64.powi(-20));
/// ```
pub fn problem(m: usize, n: usize, e: i32) -> Result<(Mat<f64>, Vec<f64>, Vec<f64>)> {
    if !(m.is_power_of_two()
        && n.is_power_of_two()
        && n >= 2
        && 2 * n <= m
        && (0..=27).contains(&e))
    {
        return Err(linops::Error::InvalidArgument(format!(
            "lstsq bench problem needs powers of two 2 <= n <= m/2 and 0 <= e <= 27, got \
             m = {m}, n = {n}, e = {e}"
        )));
    }
    let sigma: Vec<f64> = (0..n)
        .map(|k| 2f64.powi(-(((e as usize * k) / (n - 1)) as i32)))
        .collect();
    let us = Mat::from_fn(m, n, |i, k| {
        sgn(i, 2_654_435_761) * h(i, 2 * k + 1) * sigma[k]
    });
    let v = Mat::from_fn(n, n, |j, k| sgn(j, 40503) * h(j, k));
    let a = &us * v.transpose();
    let xs: Vec<f64> = (0..n).map(|k| 1.0 + ((k % 7) as f64 - 3.0) / 4.0).collect();
    let ax = &a * Mat::from_fn(n, 1, |k, _| xs[k]);
    let b = (0..m)
        .map(|i| ax[(i, 0)] + 2f64.powi(-20) * sgn(i, 2_654_435_761))
        .collect();
    Ok((a, xs, b))
}

fn rel_err(x: &[f64], xs: &[f64]) -> f64 {
    let num: f64 = x.iter().zip(xs).map(|(a, b)| (a - b) * (a - b)).sum();
    let den: f64 = xs.iter().map(|b| b * b).sum();
    (num / den).sqrt()
}

/// Median seconds of `f` (one untimed warm-up, then up to `max_reps` runs within `budget_s`).
fn median<R>(policy: &RepPolicy, mut f: impl FnMut() -> Result<R>) -> Result<(f64, R)> {
    let mut last = f()?;
    let mut times = Vec::new();
    let start = Instant::now();
    while times.len() < policy.max_reps.max(1)
        && (times.len() < policy.min_reps.max(1) || start.elapsed().as_secs_f64() < policy.budget_s)
    {
        let t0 = Instant::now();
        last = f()?;
        times.push(t0.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    Ok((times[times.len() / 2], last))
}

fn one(engine: &Engine, m: usize, n: usize, e: i32, policy: &RepPolicy) -> Result<Row> {
    let (a, xs, b) = problem(m, n, e)?;
    let op = Op::from_host(HostMat::from_fn(m, n, |i, j| a[(i, j)]))?;
    drop(a);
    let opts = LstsqOptions::default();
    let (seconds, r) = median(policy, || lstsq(engine, &op, &b, &opts))?;
    let (setup, _) = median(policy, || lstsq_sketch_solve(engine, &op, &b, &opts))?;
    let mut row = Row::new(
        "lstsq",
        "lstsq",
        &format!("m={m},n={n},kappa=2^{e}"),
        CPU_F64,
        &engine.device(),
    );
    row.median_ms = seconds * 1e3;
    let extra = &mut row.extra;
    extra.insert("setup_ms".into(), serde_json::json!(setup * 1e3));
    extra.insert(
        "per_iteration_ms".into(),
        serde_json::json!((seconds - setup).max(0.0) * 1e3 / r.iterations.max(1) as f64),
    );
    extra.insert("iterations".into(), serde_json::json!(r.iterations));
    extra.insert(
        "forward_error".into(),
        serde_json::json!(rel_err(&r.x, &xs)),
    );
    extra.insert("converged".into(), serde_json::json!(r.converged));
    Ok(row)
}

/// Runs the rows on the `cpu-f64` target (other targets are skipped: the suite is CPU f64).
pub fn run(suite: &Suite, targets: &[Target], policy: &RepPolicy) -> Outcome {
    let mut out = Outcome::default();
    let Some(target) = targets.iter().find(|t| t.label == CPU_F64) else {
        eprintln!("lstsq: no cpu-f64 target (the suite runs CPU f64 only); nothing to do");
        return out;
    };
    let _ = suite;
    for (step, &(m, n, e)) in SIZES.iter().enumerate() {
        eprint!(
            "[{}/{}] lstsq m={m},n={n} on cpu-f64 ... ",
            step + 1,
            SIZES.len()
        );
        let _ = std::io::stderr().flush();
        match one(&target.engine, m, n, e, policy) {
            Ok(row) => {
                eprintln!("{:.1} ms", row.median_ms);
                out.rows.push(row);
            }
            Err(err) => {
                eprintln!("FAILED: {err}");
                out.failures.push(Failure {
                    case: format!("lstsq m={m},n={n}"),
                    backend: CPU_F64.into(),
                    error: err.to_string(),
                });
            }
        }
    }
    out
}
