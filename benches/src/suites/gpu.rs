//! `gpu-suite`: large f32 problems for a real GPU.
//!
//! Cases: GEMM at `m=n=k ∈ {4096, 8192}` (0.14 and 1.1 TFLOP), then the `quick` operators at
//! `n=8192,batch=1024` (dense operators of 8192², 256 MiB in f32) and at tall-skinny
//! `n=8192,batch=64`, plus the memory-bound diagonal and scaled identity at `n=2²⁰,batch=64`
//! (256 MiB per block in f32), then every `structured` family at `n=4096,batch=8192` and every
//! `sketch` family on `A` of 65536×1024 down to `d = 256` (the shapes of
//! `../shared/device/torch_anchors.py`). Only the GPU is timed; the CPU `f64` reference is still
//! computed once per case (untimed) for `max_rel_err`, which is the slow part on a small host.
//! Rows carry `bytes_ratio`, `roofline_ms`, `roofline_frac` and `load_avg` ([`crate::measure::Roofline`]).
//! The randomized drivers at GPU sizes (rSVD 8192², Newton–Schulz 4096², CholeskyQR2
//! 65536×256) are the `randnla` suite's GPU rows; `benches/scripts/device_run.sh` runs both
//! suites and the PyTorch anchors in one device call.

use super::{CaseSpec, Suite, quick, sketch, structured};
use crate::cases::{self, Case};
use crate::measure::RepPolicy;
use crate::rng::{SplitMix64, seed_for};

/// The `gpu-suite` suite.
pub const SUITE: Suite = Suite {
    name: "gpu-suite",
    about: "GEMM 4096/8192 and the quick operators at large sizes, GPU f32 only",
    f64_target: true,
    software_gpu_opt_in: false,
    gpu_only: true,
    policy: RepPolicy {
        max_reps: 20,
        min_reps: 5,
        budget_s: 2.0,
        second_warmup_below_s: 0.5,
    },
    cases,
    runner: None,
};

/// The cases of `gpu-suite`, in run order.
///
/// # Examples
/// ```
/// use linops_bench::suites::{gpu, sketch, structured};
/// assert_eq!(gpu::cases().len(), 14 + structured::FAMILIES.len() + sketch::FAMILIES.len());
/// ```
pub fn cases() -> Vec<CaseSpec> {
    let mut v = Vec::new();
    for n in [4096, 8192] {
        v.push(CaseSpec::new(
            format!("gemm m={n},n={n},k={n}"),
            move || cases::gemm(n, n, n),
        ));
    }
    for (n, batch) in [(8192, 1024), (8192, 64)] {
        v.extend(quick::structured(n, batch));
    }
    let (n, batch) = (1 << 20, 64);
    let shape = format!("n={n},batch={batch}");
    v.push(CaseSpec::new(format!("diag {shape}"), move || {
        cases::diag(n, batch)
    }));
    v.push(CaseSpec::new(
        format!("scaled_identity {shape}"),
        move || cases::scaled_identity(n, batch),
    ));
    let (n, batch) = (4096, 8192);
    for name in structured::FAMILIES {
        v.push(CaseSpec::new(
            format!("{name} n={n},batch={batch}"),
            move || {
                let (op, params) = structured::family(name, n)?;
                Ok(Case {
                    op_name: name,
                    shape: format!(
                        "n={},{params},batch={batch}",
                        structured::family_len(name, n)
                    ),
                    op,
                    x: SplitMix64::new(seed_for(&format!("gpu-suite {name}")))
                        .uniform_mat(structured::family_len(name, n), batch),
                })
            },
        ));
    }
    let (d, m) = (sketch::D, sketch::M_GPU);
    for name in sketch::FAMILIES {
        v.push(CaseSpec::new(
            format!("{name} m={m},d={d},batch={}", sketch::BATCH),
            move || {
                let (op, params) = sketch::family(name, d, m)?;
                Ok(Case {
                    op_name: name,
                    shape: format!("m={m},d={d},batch={},{params}", sketch::BATCH),
                    op,
                    x: SplitMix64::new(seed_for(&format!("gpu-suite {name}")))
                        .uniform_mat(m, sketch::BATCH),
                })
            },
        ));
    }
    v
}
