//! `sketch`: every sketching family applied to a tall block `A` (`m×1024`, f32) down to
//! `d = 256` rows, `S·A`, against a dense GEMM with a stored Gaussian `S` of the same shape.
//!
//! `m = 16384` on the CPU target, `m = 65536` on the GPU. One seeded `A` per target (uniform
//! entries in `[-1, 1)`), shared by every family. Families: `gaussian_sketch`,
//! `rademacher_sketch` (generated on the fly, never stored), `sparse_sign` with `s = 1`
//! (CountSketch) and `s = 8`, `very_sparse_projection` (density `1/√m`), `srht`, and the reference
//! row `dense` (`Op::dense` of a stored `d×m` Gaussian `S/√d`, a plain GEMM).
//!
//! Columns: `median_ms`; `gbps` = bytes of `A` read once (`4·m·1024`) ÷ median time (the
//! sketch's useful bandwidth, not the plan's byte count); `gflops` from the plan; `max_rel_err`
//! NaN (no f64 reference is timed); extra `distortion` = `max_j |‖S·a_j‖/‖a_j‖ − 1|` over the
//! 1024 columns of `A`, measured on the result (every family has `E‖S·a‖² = ‖a‖²`; the
//! Johnson–Lindenstrauss scale at `d = 256` is about `√(2/d)·few ≈ 0.1–0.3`); `bytes_ratio`,
//! `roofline_ms`, `roofline_frac`, `roofline_frac_best` and `load_avg` as in the `structured`
//! suite ([`measure::Roofline`]: the plan's bytes against reading `A` and a stored sketch's entries
//! once and writing `S·A` once; a sketch generated from its seed has no parameter bytes), with
//! the GEMM rate, as there, the higher of the calibration's and the `dense` row's own (the rows
//! are annotated once every family of the target has run).

use super::{CaseSpec, Failure, Outcome, Suite};
use crate::cases::Case;
use crate::measure::{self, RepPolicy, Target};
use crate::rng::{SplitMix64, seed_for};
use crate::row::Row;
use faer::Mat;
use linops::op::{DenseSketch, SparseSign, Srht, VerySparseProjection};
use linops::{Op, Result};
use linops_core::rng::RngState;
use std::io::Write as _;

/// The `sketch` suite.
pub const SUITE: Suite = Suite {
    name: "sketch",
    about: "sketching families on m x 1024 f32 down to d = 256, with distortion",
    gpu_only: false,
    f64_target: false,
    software_gpu_opt_in: true,
    policy: RepPolicy {
        max_reps: 10,
        min_reps: 3,
        budget_s: 1.0,
        second_warmup_below_s: 0.5,
    },
    cases,
    runner: Some(run),
};

/// Sketch size.
pub const D: usize = 256;
/// Columns of `A`.
pub const BATCH: usize = 1024;
/// Rows of `A` on the CPU target.
pub const M_CPU: usize = 16384;
/// Rows of `A` on the GPU target.
pub const M_GPU: usize = 65536;

/// The family names, in run order (`dense` is the stored-Gaussian GEMM reference).
pub const FAMILIES: [&str; 7] = [
    "dense",
    "gaussian_sketch",
    "rademacher_sketch",
    "sparse_sign_s1",
    "sparse_sign_s8",
    "very_sparse_projection",
    "srht",
];

/// The sketch `name` of `d×m` with its parameter text.
///
/// # Errors
/// The constructor's error; [`linops::Error::InvalidArgument`] for an unknown name.
///
/// # Examples
/// ```
/// let (op, p) = linops_bench::suites::sketch::family("sparse_sign_s8", 16, 64).unwrap();
/// assert_eq!((op.shape(), p.as_str()), ((16, 64), "s=8"));
/// ```
pub fn family(name: &str, d: usize, m: usize) -> Result<(Op, String)> {
    let rng = RngState::new(seed_for(&format!("sketch {name} d={d} m={m}")));
    Ok(match name {
        "dense" => {
            let g = DenseSketch::gaussian(d, m, rng)?;
            let h = linops::LeafOp::to_dense(&g);
            (Op::dense(d, m, h.into_data())?, "stored_gaussian".into())
        }
        "gaussian_sketch" => (Op::leaf(DenseSketch::gaussian(d, m, rng)?), String::new()),
        "rademacher_sketch" => (Op::leaf(DenseSketch::rademacher(d, m, rng)?), String::new()),
        "sparse_sign_s1" => (Op::leaf(SparseSign::new(d, m, 1, rng)?), "s=1".into()),
        "sparse_sign_s8" => (Op::leaf(SparseSign::new(d, m, 8, rng)?), "s=8".into()),
        "very_sparse_projection" => {
            let v = VerySparseProjection::new(d, m, rng)?;
            let p = format!("density={:.5}", v.density());
            (Op::leaf(v), p)
        }
        "srht" => (Op::leaf(Srht::new(d, m, rng)?), String::new()),
        _ => {
            return Err(linops::Error::InvalidArgument(format!(
                "unknown sketch family {name}"
            )));
        }
    })
}

/// `max_j |‖y_j‖/‖a_j‖ − 1|` over columns.
///
/// # Examples
/// ```
/// use faer::Mat;
/// let a = Mat::<f64>::from_fn(4, 2, |i, j| (i + j) as f64 + 1.0);
/// assert_eq!(linops_bench::suites::sketch::distortion(a.as_ref(), a.as_ref()), 0.0);
/// ```
pub fn distortion(y: faer::MatRef<'_, f64>, a: faer::MatRef<'_, f64>) -> f64 {
    (0..a.ncols())
        .map(|j| (y.col(j).norm_l2() / a.col(j).norm_l2() - 1.0).abs())
        .fold(0.0, f64::max)
}

fn cases() -> Vec<CaseSpec> {
    FAMILIES
        .iter()
        .map(|&f| {
            CaseSpec::new(format!("{f} m={M_CPU},d={D},batch={BATCH}"), move || {
                let (op, _) = family(f, D, M_CPU)?;
                Ok(Case {
                    op_name: f,
                    shape: format!("m={M_CPU},d={D},batch={BATCH}"),
                    op,
                    x: block(M_CPU),
                })
            })
        })
        .collect()
}

fn block(m: usize) -> Mat<f64> {
    let mut r = SplitMix64::new(seed_for(&format!("sketch A m={m}")));
    Mat::from_fn(m, BATCH, |_, _| 2.0 * r.uniform() - 1.0)
}

/// Runs every family on every f32 target (`cpu-f64` is skipped).
///
/// # Examples
/// ```no_run
/// use linops_bench::{measure::Target, suites::sketch};
/// let out = sketch::run(&sketch::SUITE, &[Target::cpu_f32()], &sketch::SUITE.policy);
/// assert!(out.failures.is_empty());
/// ```
pub fn run(suite: &Suite, targets: &[Target], policy: &RepPolicy) -> Outcome {
    let targets: Vec<&Target> = targets
        .iter()
        .filter(|t| t.label != measure::CPU_F64)
        .collect();
    for t in &targets {
        // Time each sketch as such, never a materialized dense copy.
        t.engine
            .set_cost_model(linops::plan::CostModel::structure_only());
    }
    let mut out = Outcome::default();
    let total = targets.len() * FAMILIES.len();
    let mut step = 0;
    for target in targets {
        let roof = match measure::Roofline::measure(&target.engine) {
            Ok(r) => Some(r),
            Err(e) => {
                eprintln!("measuring the roofline on {} FAILED: {e}", target.label);
                None
            }
        };
        let m = if target.label == "gpu" { M_GPU } else { M_CPU };
        let a = block(m);
        // The target's rows with their measurements, annotated with the roofline at the end:
        // its GEMM rate is at least the `dense` row's own (as in `structured`).
        let mut measured: Vec<(Row, measure::Measurement)> = Vec::new();
        let shape = format!("m={m},d={D},batch={BATCH}");
        for name in FAMILIES {
            step += 1;
            let label = format!("{name} {shape}");
            eprint!("[{step}/{total}] {label} on {} ... ", target.label);
            let _ = std::io::stderr().flush();
            let fail = |out: &mut Outcome, e: String| {
                eprintln!("FAILED: {e}");
                out.failures.push(Failure {
                    case: label.clone(),
                    backend: target.label.into(),
                    error: e,
                });
            };
            let (op, params) = match family(name, D, m) {
                Ok(f) => f,
                Err(e) => {
                    fail(&mut out, format!("building the case: {e}"));
                    continue;
                }
            };
            let case = Case {
                op_name: name,
                shape: if params.is_empty() {
                    shape.clone()
                } else {
                    format!("{shape},{params}")
                },
                op,
                x: a.clone(),
            };
            match measure::run(target, &case, &target.policy(policy)) {
                Ok(meas) => {
                    let mut row = Row::new(
                        suite.name,
                        case.op_name,
                        &case.shape,
                        target.label,
                        &target.engine.device(),
                    );
                    row.median_ms = meas.median_s * 1e3;
                    row.gflops = meas.flops as f64 / meas.median_s / 1e9;
                    row.gbps = (4 * m * BATCH) as f64 / meas.median_s / 1e9;
                    row.max_rel_err = Some(f64::NAN);
                    let dist = distortion(meas.y.as_ref(), a.as_ref());
                    row.extra
                        .insert("distortion".into(), serde_json::json!(dist));
                    eprintln!(
                        "{:.3} ms ({} reps), distortion {dist:.3}",
                        row.median_ms, meas.reps
                    );
                    measured.push((row, meas));
                }
                Err(e) => fail(&mut out, e.to_string()),
            }
        }
        out.rows.extend(annotated(measured, roof));
    }
    out
}

/// One target's rows, each annotated with the roofline ([`measure::Roofline::annotate`]) whose
/// GEMM rate is the higher of `roof`'s and the rate the `dense` row reached (a calibration in a
/// slow stretch of a shared machine reads low, and would put the GEMM-bound rows above 1).
fn annotated(
    measured: Vec<(Row, measure::Measurement)>,
    roof: Option<measure::Roofline>,
) -> Vec<Row> {
    let dense_rate = measured
        .iter()
        .filter(|(row, _)| row.op == "dense")
        .map(|(_, m)| m.flops as f64 / m.median_s)
        .fold(0.0, f64::max);
    measured
        .into_iter()
        .map(|(mut row, meas)| {
            if let Some(r) = roof {
                let r = measure::Roofline {
                    gemm_flops_per_s: r.gemm_flops_per_s.max(dense_rate),
                    ..r
                };
                r.annotate(&mut row, &meas);
            }
            row
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `dense` row's GEMM rate raises a slower calibration's, for every row of the target;
    /// a faster calibration stays.
    #[test]
    fn rows_use_the_dense_rows_rate_when_it_is_higher() {
        let target = Target::cpu_f32();
        let policy = RepPolicy::default();
        let run = |case: &Case| measure::run(&target, case, &policy).unwrap();
        let (dense, diag) = (
            crate::cases::gemm(256, 64, 256).unwrap(),
            crate::cases::diag(4096, 64).unwrap(),
        );
        let (md, mg) = (run(&dense), run(&diag));
        let rate = md.flops as f64 / md.median_s;
        let row = |op: &str| Row::new("sketch", op, "s", "cpu", "dev");
        let ms = |r: &Row| r.extra["roofline_ms"].as_f64().unwrap() / 1e3;
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b;
        // The FLOP term decides every step: a bandwidth of 10^18 bytes per second.
        for (calibrated, want) in [(rate / 100.0, rate), (rate * 100.0, rate * 100.0)] {
            let roof = measure::Roofline {
                gemm_flops_per_s: calibrated,
                bytes_per_s: 1e18,
            };
            let rows = annotated(
                vec![(row("dense"), md.clone()), (row("srht"), mg.clone())],
                Some(roof),
            );
            assert!(
                close(ms(&rows[0]), md.plan.roofline_seconds(want, 1e18)),
                "dense, calibrated {calibrated:e}"
            );
            assert!(
                close(ms(&rows[1]), mg.plan.roofline_seconds(want, 1e18)),
                "diag, calibrated {calibrated:e}"
            );
        }
        let plain = annotated(vec![(row("dense"), md)], None);
        assert!(!plain[0].extra.contains_key("roofline_ms"));
    }
}
