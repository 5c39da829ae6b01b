//! linops-bench: the benchmark runner of linops, as a library shared by the `linops-bench`
//! binary and the criterion benches.
//!
//! - [`rng`]: SplitMix64 and seeded inputs (values uniform on `[-1, 1]`).
//! - [`cases`]: operator + input builders (`gemm`, `dense_t`, `diag`, …).
//! - [`measure`]: the timing protocol (warm-up, median of reps) and the error against the CPU
//!   `f64` reference.
//! - [`row`]: result rows, the text table and the JSON writer.
//! - [`suites`]: the suite registry (`quick`, `gpu-suite`, `structured`) and the runner.
//! - [`plot`]: `--plot DIR`, the rows as SVG charts against the measured peak.

pub mod cases;
pub mod measure;
pub mod plot;
pub mod rng;
pub mod row;
pub mod suites;
