//! `quick`: a few minutes' sanity benchmark of every basic operator on every backend.
//!
//! Cases: GEMM at `m=n=k ∈ {256, 512, 1024}` (`2·n³` FLOPs), then at a square block
//! (`n=512,batch=512`) and a tall-skinny one (`n=4096,batch=64`): the transposed dense apply
//! `Aᵀ·X`, a diagonal scaling, a scaled identity, the product `diag·dense·dense` and the sum
//! `dense + diag`. On a 2-core machine the CPU targets take about a minute. GPU rows on a software
//! adapter (lavapipe) are skipped unless `--backend gpu` is given: there a `1024³` GEMM takes
//! seconds and its timings mean nothing.
//!
//! [`SMOKE`] (`linops-bench quick --smoke`) runs the same operators at toy sizes with few reps, in
//! seconds: it checks that the runner works end to end (CI runs it), and its timings mean nothing.

use super::{CaseSpec, Suite};
use crate::cases;
use crate::measure::RepPolicy;

/// The `quick` suite.
pub const SUITE: Suite = Suite {
    name: "quick",
    about: "GEMM 256-1024 and the basic operators at two shapes, on cpu, cpu-f64 and gpu",
    f64_target: true,
    software_gpu_opt_in: true,
    gpu_only: false,
    policy: RepPolicy {
        max_reps: 10,
        min_reps: 3,
        budget_s: 1.0,
        second_warmup_below_s: 0.5,
    },
    cases,
    runner: None,
};

/// `quick --smoke`: the `quick` operators at toy sizes, two reps each (seconds in all).
pub const SMOKE: Suite = Suite {
    name: "quick-smoke",
    about: "the quick operators at toy sizes: checks the runner end to end, timings mean nothing",
    f64_target: true,
    software_gpu_opt_in: true,
    gpu_only: false,
    policy: RepPolicy {
        max_reps: 2,
        min_reps: 1,
        budget_s: 0.1,
        second_warmup_below_s: 0.0,
    },
    cases: smoke_cases,
    runner: None,
};

/// The cases of `quick --smoke`: GEMM at 64 and 128, the five operators at `n=128,batch=16`.
///
/// # Examples
/// ```
/// assert_eq!(linops_bench::suites::quick::smoke_cases().len(), 7);
/// ```
pub fn smoke_cases() -> Vec<CaseSpec> {
    let mut v = Vec::new();
    for n in [64, 128] {
        v.push(CaseSpec::new(
            format!("gemm m={n},n={n},k={n}"),
            move || cases::gemm(n, n, n),
        ));
    }
    v.extend(structured(128, 16));
    v
}

/// The cases of `quick`, in run order.
///
/// # Examples
/// ```
/// assert_eq!(linops_bench::suites::quick::cases().len(), 13);
/// ```
pub fn cases() -> Vec<CaseSpec> {
    let mut v = Vec::new();
    for n in [256, 512, 1024] {
        v.push(CaseSpec::new(
            format!("gemm m={n},n={n},k={n}"),
            move || cases::gemm(n, n, n),
        ));
    }
    for (n, batch) in [(512, 512), (4096, 64)] {
        v.extend(structured(n, batch));
    }
    v
}

/// The five non-GEMM operators at `(n, batch)`.
///
/// # Examples
/// ```
/// let specs = linops_bench::suites::quick::structured(8, 2);
/// assert_eq!(specs[0].label, "dense_t n=8,batch=2");
/// ```
pub fn structured(n: usize, batch: usize) -> Vec<CaseSpec> {
    let shape = format!("n={n},batch={batch}");
    vec![
        CaseSpec::new(format!("dense_t {shape}"), move || cases::dense_t(n, batch)),
        CaseSpec::new(format!("diag {shape}"), move || cases::diag(n, batch)),
        CaseSpec::new(format!("scaled_identity {shape}"), move || {
            cases::scaled_identity(n, batch)
        }),
        CaseSpec::new(format!("diag_dense_dense {shape}"), move || {
            cases::diag_dense_dense(n, batch)
        }),
        CaseSpec::new(format!("dense_plus_diag {shape}"), move || {
            cases::dense_plus_diag(n, batch)
        }),
    ]
}
