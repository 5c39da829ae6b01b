//! The suite registry and the runner shared by every suite.
//!
//! A [`Suite`] is a name, a one-line description, the list of its cases (built lazily, one at a
//! time, so large suites never hold all their inputs at once), its rep policy and whether it runs
//! on the GPU only. [`run_suite`] measures every (case, target) pair, prints progress on stderr,
//! and returns the rows plus the failures (a failure is recorded and the run goes on).
//! A suite that needs more than one row per (case, target) — shared baselines, extra columns —
//! sets [`Suite::runner`] and is run by that function instead (`structured` does).
//! Adding a suite: a module here with a `SUITE` constant, and one line in [`SUITES`].

pub mod accuracy;
pub mod gpu;
pub mod lstsq;
pub mod quick;
pub mod randnla;
pub mod sketch;
pub mod structured;

use crate::cases::Case;
use crate::measure::{self, CPU_F64, RepPolicy, Target};
use crate::row::Row;
use std::io::Write as _;

/// A deferred case constructor: the label it will have, and how to build it.
pub struct CaseSpec {
    /// `op shape`, known before the (possibly large) inputs are generated.
    pub label: String,
    /// Builds the case.
    pub build: Box<dyn Fn() -> linops::Result<Case>>,
}

impl CaseSpec {
    /// A spec from a builder and its arguments' label.
    ///
    /// # Examples
    /// ```
    /// let s = linops_bench::suites::CaseSpec::new("diag n=4,batch=1", || linops_bench::cases::diag(4, 1));
    /// assert_eq!((s.build)().unwrap().label(), s.label);
    /// ```
    pub fn new(
        label: impl Into<String>,
        build: impl Fn() -> linops::Result<Case> + 'static,
    ) -> CaseSpec {
        CaseSpec {
            label: label.into(),
            build: Box::new(build),
        }
    }
}

impl std::fmt::Debug for CaseSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaseSpec")
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

/// A named list of cases with its measurement settings.
#[derive(Debug, Clone, Copy)]
pub struct Suite {
    /// Name, as written in rows and on the command line.
    pub name: &'static str,
    /// One-line description.
    pub about: &'static str,
    /// Whether the suite only makes sense on a GPU (no CPU rows; errors without a GPU).
    pub gpu_only: bool,
    /// Whether a `cpu-f64` target is timed (else `f64` is only the untimed reference).
    pub f64_target: bool,
    /// Whether GPU rows on a software adapter (lavapipe) run only when `--backend gpu` is given
    /// explicitly (the binary skips them otherwise, with a notice).
    pub software_gpu_opt_in: bool,
    /// Default rep policy (`--reps` overrides `max_reps`).
    pub policy: RepPolicy,
    /// The cases, in run order.
    pub cases: fn() -> Vec<CaseSpec>,
    /// A custom runner replacing the generic one of [`run_suite`] (`None`: one row per
    /// (case, target)).
    pub runner: Option<Runner>,
}

/// A suite's custom runner: `(suite, targets, policy) → rows and failures`.
pub type Runner = fn(&Suite, &[Target], &RepPolicy) -> Outcome;

/// Every suite, in the order `linops-bench` lists them.
///
/// # Examples
/// ```
/// assert!(linops_bench::suites::find("quick").is_some());
/// ```
pub const SUITES: &[Suite] = &[
    quick::SUITE,
    gpu::SUITE,
    structured::SUITE,
    sketch::SUITE,
    randnla::SUITE,
    accuracy::SUITE,
    lstsq::SUITE,
];

/// The suite called `name`.
///
/// # Examples
/// ```
/// assert!(linops_bench::suites::find("nope").is_none());
/// ```
pub fn find(name: &str) -> Option<&'static Suite> {
    SUITES.iter().find(|s| s.name == name)
}

/// A (case, target) pair that did not produce a row.
#[derive(Debug, Clone)]
pub struct Failure {
    /// `op shape`.
    pub case: String,
    /// Target label, or `-` when building the case or its reference failed.
    pub backend: String,
    /// The error message.
    pub error: String,
}

/// Rows and failures of one suite run.
#[derive(Debug, Default)]
pub struct Outcome {
    /// One row per successful (case, target).
    pub rows: Vec<Row>,
    /// Everything that failed, in order.
    pub failures: Vec<Failure>,
}

/// Runs `suite` on `targets` (in the given order) with `policy` (adjusted per target by
/// [`Target::policy`]).
///
/// A `cpu-f64` target, when present, is the reference: its result is `Y_ref` and its row has
/// `max_rel_err = None`. Without one the reference is computed by one untimed CPU `f64` apply.
/// A suite with a [`Suite::runner`] is handed to it instead.
///
/// # Examples
/// ```
/// use linops_bench::{measure::{RepPolicy, Target}, suites::{self, CaseSpec, Suite}};
/// fn cases() -> Vec<CaseSpec> { vec![CaseSpec::new("diag n=8,batch=2", || linops_bench::cases::diag(8, 2))] }
/// let suite = Suite {
///     name: "tiny", about: "", gpu_only: false, f64_target: true, software_gpu_opt_in: false,
///     policy: RepPolicy::default(), cases, runner: None,
/// };
/// let out = suites::run_suite(&suite, &[Target::cpu_f64(), Target::cpu_f32()], &suite.policy);
/// assert_eq!(out.rows.len(), 2);
/// assert!(out.rows[0].max_rel_err.is_none() && out.rows[1].max_rel_err.unwrap() < 1e-6);
/// ```
pub fn run_suite(suite: &Suite, targets: &[Target], policy: &RepPolicy) -> Outcome {
    if let Some(runner) = suite.runner {
        return runner(suite, targets, policy);
    }
    let specs = (suite.cases)();
    let total = specs.len() * targets.len();
    // Each f32 target's limits for the rows' roofline columns, measured in this run (the
    // calibration times f32 kernels, so f64 rows get none).
    let roofs: Vec<Option<measure::Roofline>> = targets
        .iter()
        .map(|t| {
            if t.f64 {
                return None;
            }
            measure::Roofline::measure(&t.engine)
                .map_err(|e| eprintln!("  measuring the roofline on {} FAILED: {e}", t.label))
                .ok()
        })
        .collect();
    let mut out = Outcome::default();
    let mut step = 0;
    for spec in &specs {
        let fail_case = |out: &mut Outcome, what: &str, e: linops::Error| {
            eprintln!("  {} FAILED ({what}): {e}", spec.label);
            out.failures.push(Failure {
                case: spec.label.clone(),
                backend: "-".into(),
                error: format!("{what}: {e}"),
            });
        };
        let case = match (spec.build)() {
            Ok(c) => c,
            Err(e) => {
                step += targets.len();
                fail_case(&mut out, "building the case", e);
                continue;
            }
        };
        // Reference first, from the cpu-f64 target when there is one.
        let mut y_ref = None;
        if !targets.iter().any(|t| t.label == CPU_F64) {
            match measure::reference(&case) {
                Ok(y) => y_ref = Some(y),
                Err(e) => fail_case(&mut out, "cpu-f64 reference", e),
            }
        }
        let ordered = targets
            .iter()
            .zip(&roofs)
            .filter(|(t, _)| t.label == CPU_F64)
            .chain(
                targets
                    .iter()
                    .zip(&roofs)
                    .filter(|(t, _)| t.label != CPU_F64),
            );
        for (target, roof) in ordered {
            step += 1;
            eprint!("[{step}/{total}] {} on {} ... ", spec.label, target.label);
            let _ = std::io::stderr().flush();
            match measure::run(target, &case, &target.policy(policy)) {
                Ok(m) => {
                    let mut row = Row::new(
                        suite.name,
                        case.op_name,
                        &case.shape,
                        target.label,
                        &target.engine.device(),
                    );
                    row.median_ms = m.median_s * 1e3;
                    row.gflops = m.flops as f64 / m.median_s / 1e9;
                    row.gbps = m.bytes as f64 / m.median_s / 1e9;
                    if let Some(r) = roof {
                        r.annotate(&mut row, &m);
                    }
                    if target.label == CPU_F64 {
                        y_ref = Some(m.y);
                    } else {
                        // NaN (JSON null, table NaN) when the reference itself failed.
                        row.max_rel_err =
                            Some(y_ref.as_ref().map_or(f64::NAN, |r| {
                                measure::max_rel_err(m.y.as_ref(), r.as_ref())
                            }));
                    }
                    eprintln!(
                        "{:.3} ms ({} reps){}",
                        row.median_ms,
                        m.reps,
                        row.max_rel_err
                            .map_or_else(String::new, |e| format!(", max_rel_err {e:.1e}"))
                    );
                    out.rows.push(row);
                }
                Err(e) => {
                    eprintln!("FAILED: {e}");
                    out.failures.push(Failure {
                        case: spec.label.clone(),
                        backend: target.label.into(),
                        error: e.to_string(),
                    });
                }
            }
        }
    }
    out
}
