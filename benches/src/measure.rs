//! Timing one case on one backend, and checking its result against the `f64` reference.
//!
//! Protocol: upload `X` once (not timed); warm up with one apply (a second when the first took
//! under [`RepPolicy::second_warmup_below_s`], so caches, pipelines and parameter uploads are
//! settled); then time `reps` calls of `Engine::apply_to` by wall clock and report the median.
//! On the GPU `apply_to` records the whole plan into one command buffer, submits it and waits, so
//! the time includes launch overhead but no host↔device copy of `X` or `Y`. `reps` is chosen from
//! the warm-up time so one measurement takes about [`RepPolicy::budget_s`], clamped to
//! `[min_reps, max_reps]`: fast kernels get many reps, slow ones few, and on a software GPU
//! (lavapipe) a multi-second apply gets a single timed rep ([`Target::policy`]).
//!
//! Error: `max_ij |Y − Y_ref| / max_ij |Y_ref|`, all in `f64`, with `Y_ref` the CPU `f64` result.

use crate::cases::Case;
use faer::{Mat, MatRef};
use linops::{Engine, Result, Scalar};
use std::time::Instant;

/// The label of the CPU `f64` target ([`Target::cpu_f64`]): the reference backend whose rows
/// carry no error (`max_rel_err` `None`) and against whose results the others are checked.
///
/// # Examples
/// ```
/// use linops_bench::measure::{CPU_F64, Target};
/// assert_eq!(Target::cpu_f64().label, CPU_F64);
/// ```
pub const CPU_F64: &str = "cpu-f64";

/// How many warm-ups and timed repetitions to run.
///
/// # Examples
/// ```
/// let p = linops_bench::measure::RepPolicy { max_reps: 5, ..Default::default() };
/// assert_eq!(p.reps_for(10.0), p.min_reps.min(5));
/// assert_eq!(p.reps_for(1e-6), 5);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct RepPolicy {
    /// Most timed repetitions.
    pub max_reps: usize,
    /// Fewest timed repetitions (unless `max_reps` is smaller).
    pub min_reps: usize,
    /// Target seconds of timed work per (case, backend).
    pub budget_s: f64,
    /// A second warm-up runs when the first took less than this many seconds.
    pub second_warmup_below_s: f64,
}

impl Default for RepPolicy {
    fn default() -> Self {
        RepPolicy {
            max_reps: 10,
            min_reps: 3,
            budget_s: 1.0,
            second_warmup_below_s: 0.5,
        }
    }
}

impl RepPolicy {
    /// Timed repetitions for an apply that took `warm_s` seconds when warm.
    ///
    /// # Examples
    /// ```
    /// let p = linops_bench::measure::RepPolicy::default();
    /// assert_eq!(p.reps_for(0.25), 4); // budget 1 s
    /// ```
    pub fn reps_for(&self, warm_s: f64) -> usize {
        let by_budget = if warm_s > 0.0 {
            (self.budget_s / warm_s).ceil() as usize
        } else {
            self.max_reps
        };
        by_budget
            .clamp(self.min_reps.min(self.max_reps), self.max_reps)
            .max(1)
    }
}

/// A backend a case runs on: an engine and the element type fed to it.
///
/// # Examples
/// ```
/// let t = linops_bench::measure::Target::cpu_f32();
/// assert_eq!(t.label, "cpu");
/// ```
#[derive(Debug)]
pub struct Target {
    /// Row label: `cpu`, `cpu-f64` or `gpu`.
    pub label: &'static str,
    /// The engine.
    pub engine: Engine,
    /// Whether the engine is fed `f64` (else `f32`).
    pub f64: bool,
}

impl Target {
    /// CPU engine, `f32` data.
    ///
    /// # Examples
    /// ```
    /// assert!(!linops_bench::measure::Target::cpu_f32().f64);
    /// ```
    pub fn cpu_f32() -> Target {
        Target {
            label: "cpu",
            engine: Engine::cpu(),
            f64: false,
        }
    }

    /// CPU engine, `f64` data (the reference backend).
    ///
    /// # Examples
    /// ```
    /// assert!(linops_bench::measure::Target::cpu_f64().f64);
    /// ```
    pub fn cpu_f64() -> Target {
        Target {
            label: CPU_F64,
            engine: Engine::cpu(),
            f64: true,
        }
    }

    /// GPU engine (`f32`) on the adapter chosen by `LINOPS_ADAPTER`.
    ///
    /// # Errors
    /// As [`Engine::gpu`]: [`linops::Error::NoAdapter`] when no adapter can be opened.
    ///
    /// # Examples
    /// ```
    /// match linops_bench::measure::Target::gpu() {
    ///     Ok(t) => assert_eq!(t.label, "gpu"),
    ///     Err(e) => eprintln!("no GPU: {e}"),
    /// }
    /// ```
    pub fn gpu() -> Result<Target> {
        Ok(Target {
            label: "gpu",
            engine: Engine::gpu()?,
            f64: false,
        })
    }

    /// `base` adjusted for this target: on a software GPU one timed rep is enough when a single
    /// apply already exceeds the budget (`min_reps = 1`), which keeps `quick` within minutes on
    /// lavapipe, where a `1024³` GEMM takes seconds.
    ///
    /// # Examples
    /// ```
    /// use linops_bench::measure::{RepPolicy, Target};
    /// assert_eq!(Target::cpu_f32().policy(&RepPolicy::default()).min_reps, 3);
    /// ```
    pub fn policy(&self, base: &RepPolicy) -> RepPolicy {
        if self.is_software_gpu() {
            RepPolicy {
                min_reps: 1,
                ..*base
            }
        } else {
            *base
        }
    }

    /// Whether this is a software GPU (lavapipe/llvmpipe, SwiftShader, WARP) or a CPU.
    ///
    /// # Examples
    /// ```
    /// assert!(!linops_bench::measure::Target::cpu_f32().is_software_gpu());
    /// ```
    pub fn is_software_gpu(&self) -> bool {
        match self.engine.gpu_backend() {
            Some(g) => g.gpu().is_software(),
            None => false,
        }
    }
}

/// What one (case, target) measurement gives.
#[derive(Debug, Clone)]
pub struct Measurement {
    /// Median seconds per apply.
    pub median_s: f64,
    /// Fastest timed apply, in seconds: what the code reaches in the quietest moment of the
    /// run. On a shared VM the median of one process can sit 30–60% above another's for the
    /// same binary (scheduling and neighbours, not the code), while the fastest rep moves much
    /// less; see `roofline_frac_best` ([`Roofline::annotate`]).
    pub min_s: f64,
    /// Timed repetitions.
    pub reps: usize,
    /// `plan.total_flops()`.
    pub flops: u64,
    /// `plan.total_bytes()` (in the target's dtype).
    pub bytes: u64,
    /// `plan.min_bytes()`: inputs and parameters read once, the output written once.
    pub min_bytes: u64,
    /// The plan that ran (its steps' FLOPs and bytes give the roofline, [`Roofline`]).
    pub plan: linops::Plan,
    /// The result of the last apply, in `f64`.
    pub y: Mat<f64>,
}

/// A backend's measured limits: the FLOP rate of a dense GEMM and the bandwidth of a streaming
/// pass, the best of [`ROOFLINE_SAMPLES`] runs of [`linops::Engine::calibrate`] in the same
/// process as the suite.
#[derive(Debug, Clone, Copy)]
pub struct Roofline {
    /// Dense GEMM FLOP/s.
    pub gemm_flops_per_s: f64,
    /// Streaming bytes/s (a diagonal scaling of a long column: read and write).
    pub bytes_per_s: f64,
}

/// Calibrations a [`Roofline`] takes the best of. A limit is what the machine can reach, so the
/// fastest observation estimates it, and one calibration (a median of five short runs) swung by
/// up to 2× between consecutive suite runs on the shared 2-core dev VM (2026-12-02).
pub const ROOFLINE_SAMPLES: usize = 3;

impl Roofline {
    /// Measures `engine`'s limits (the best of [`ROOFLINE_SAMPLES`] calibrations, a few seconds)
    /// and leaves its cost model as it was.
    ///
    /// # Errors
    /// Device failures.
    ///
    /// # Examples
    /// ```
    /// let r = linops_bench::measure::Roofline::measure(&linops::Engine::cpu()).unwrap();
    /// assert!(r.gemm_flops_per_s > 0.0 && r.bytes_per_s > 0.0);
    /// ```
    pub fn measure(engine: &Engine) -> Result<Roofline> {
        let before = engine.cost_model();
        let mut best = Roofline {
            gemm_flops_per_s: 0.0,
            bytes_per_s: 0.0,
        };
        let mut failed = None;
        for _ in 0..ROOFLINE_SAMPLES {
            match engine.calibrate() {
                Ok(m) => {
                    best.gemm_flops_per_s = best
                        .gemm_flops_per_s
                        .max(m.rate(linops::plan::KernelKind::Gemm));
                    best.bytes_per_s = best.bytes_per_s.max(m.bandwidth());
                }
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        engine.set_cost_model(before);
        match failed {
            Some(e) => Err(e),
            None => Ok(best),
        }
    }

    /// The higher GEMM rate and the higher bandwidth of the two: the limits of a machine
    /// measured twice, a slow moment of either measurement left out.
    ///
    /// # Examples
    /// ```
    /// use linops_bench::measure::Roofline;
    /// let a = Roofline { gemm_flops_per_s: 2.0, bytes_per_s: 5.0 };
    /// let b = Roofline { gemm_flops_per_s: 3.0, bytes_per_s: 4.0 };
    /// let m = a.max(b);
    /// assert_eq!((m.gemm_flops_per_s, m.bytes_per_s), (3.0, 5.0));
    /// ```
    #[must_use]
    pub fn max(self, other: Roofline) -> Roofline {
        Roofline {
            gemm_flops_per_s: self.gemm_flops_per_s.max(other.gemm_flops_per_s),
            bytes_per_s: self.bytes_per_s.max(other.bytes_per_s),
        }
    }

    /// Adds `bytes_ratio` (bytes moved ÷ the minimum), `roofline_ms` (the step list's time at
    /// these limits, [`linops::Plan::roofline_seconds`]) and `roofline_frac` (roofline ÷
    /// measured time: the fraction of the limits reached) and `roofline_frac_best` (roofline ÷
    /// the fastest rep, [`Measurement::min_s`]) to `row`. The bandwidth is that of a
    /// pass over a 16 MiB column (out of cache on a CPU), so a problem whose data stay in cache
    /// can exceed it (`roofline_frac > 1`); the suites' large rows are the meaningful ones.
    /// Also `load_avg`, the machine's one-minute load average when the row was measured
    /// ([`load_average`]; `null` where unknown): on a 2-core machine a load near or above 2
    /// means another process shared the cores, and both the measured time and the limits read
    /// low by up to several times, so `roofline_frac` is meaningful only at a low load.
    pub fn annotate(self, row: &mut crate::row::Row, m: &Measurement) {
        self.annotate_limits(row, m);
        row.extra.insert(
            "load_avg".into(),
            load_average().map_or(serde_json::Value::Null, |v| serde_json::json!(v)),
        );
    }

    /// [`Roofline::annotate`] without `load_avg`: for a row annotated again, after its
    /// measurement, with limits known only later (the load then is not the row's).
    pub fn annotate_limits(self, row: &mut crate::row::Row, m: &Measurement) {
        let roof = m
            .plan
            .roofline_seconds(self.gemm_flops_per_s, self.bytes_per_s);
        let num = |v: f64| {
            if v.is_finite() {
                serde_json::json!(v)
            } else {
                serde_json::Value::Null
            }
        };
        row.extra
            .insert("bytes_ratio".into(), num(m.plan.bytes_ratio()));
        row.extra.insert("roofline_ms".into(), num(roof * 1e3));
        row.extra
            .insert("roofline_frac".into(), num(roof / m.median_s));
        row.extra
            .insert("roofline_frac_best".into(), num(roof / m.min_s));
    }
}

/// The one-minute load average (`/proc/loadavg`'s first field), or `None` where the file is
/// absent or unreadable (not Linux).
///
/// # Examples
/// ```
/// let l = linops_bench::measure::load_average();
/// assert!(l.is_none_or(|v| v >= 0.0));
/// ```
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

fn run_typed<T: Scalar>(
    engine: &Engine,
    case: &Case,
    x: MatRef<'_, T>,
    policy: &RepPolicy,
) -> Result<Measurement> {
    let plan = engine.plan::<T>(&case.op, x.nrows(), x.ncols())?;
    let xm = engine.upload(x)?;
    let timed = || -> Result<(f64, linops::Matrix)> {
        let t0 = Instant::now();
        let y = engine.apply_to(&case.op, &xm)?;
        Ok((t0.elapsed().as_secs_f64(), y))
    };
    let (mut warm_s, _) = timed()?;
    if warm_s < policy.second_warmup_below_s {
        warm_s = timed()?.0;
    }
    let reps = policy.reps_for(warm_s);
    let mut times = Vec::with_capacity(reps);
    let mut last = None;
    for _ in 0..reps {
        let (t, y) = timed()?;
        times.push(t);
        last = Some(y); // the previous result is dropped here, outside the timed region
    }
    let y = engine.download::<T>(&last.expect("reps >= 1"))?;
    let y = Mat::from_fn(y.nrows(), y.ncols(), |i, j| y[(i, j)].to_f64());
    let min_s = times.iter().copied().fold(f64::INFINITY, f64::min);
    Ok(Measurement {
        min_s,
        median_s: median(times),
        reps,
        flops: plan.total_flops(),
        bytes: plan.total_bytes(),
        min_bytes: plan.min_bytes(),
        plan,
        y,
    })
}

/// Times `case` on `target` following `policy`.
///
/// # Errors
/// Any error of planning, upload, apply or download (e.g. a kernel or device-limit failure).
///
/// # Examples
/// ```
/// use linops_bench::{cases, measure::{self, RepPolicy, Target}};
/// let case = cases::diag(16, 2).unwrap();
/// let m = measure::run(&Target::cpu_f32(), &case, &RepPolicy::default()).unwrap();
/// assert!(m.median_s > 0.0 && m.flops > 0 && m.y.nrows() == 16);
/// ```
pub fn run(target: &Target, case: &Case, policy: &RepPolicy) -> Result<Measurement> {
    if target.f64 {
        run_typed::<f64>(&target.engine, case, case.x.as_ref(), policy)
    } else {
        run_typed::<f32>(&target.engine, case, case.x_f32().as_ref(), policy)
    }
}

/// The CPU `f64` reference `op · X` (one untimed apply).
///
/// # Errors
/// As [`Engine::apply`].
///
/// # Examples
/// ```
/// let case = linops_bench::cases::scaled_identity(4, 1).unwrap();
/// let y = linops_bench::measure::reference(&case).unwrap();
/// assert_eq!(y[(2, 0)], 2.5 * case.x[(2, 0)]);
/// ```
pub fn reference(case: &Case) -> Result<Mat<f64>> {
    Engine::cpu().apply::<f64>(&case.op, case.x.as_ref())
}

/// `max_ij |y − y_ref| / max_ij |y_ref|` (NaN anywhere gives NaN; an all-zero reference gives the
/// absolute error).
///
/// # Examples
/// ```
/// use linops::faer::Mat;
/// let r = Mat::<f64>::from_fn(2, 1, |i, _| [2.0, -4.0][i]);
/// let y = Mat::<f64>::from_fn(2, 1, |i, _| [2.0, -3.0][i]);
/// assert_eq!(linops_bench::measure::max_rel_err(y.as_ref(), r.as_ref()), 0.25);
/// ```
pub fn max_rel_err(y: MatRef<'_, f64>, y_ref: MatRef<'_, f64>) -> f64 {
    assert_eq!(
        (y.nrows(), y.ncols()),
        (y_ref.nrows(), y_ref.ncols()),
        "result shape differs from the reference"
    );
    let (mut diff, mut scale) = (0.0f64, 0.0f64);
    for j in 0..y.ncols() {
        for i in 0..y.nrows() {
            let (a, b) = (y[(i, j)], y_ref[(i, j)]);
            let d = (a - b).abs();
            if d.is_nan() {
                return f64::NAN;
            }
            diff = diff.max(d);
            scale = scale.max(b.abs());
        }
    }
    if scale > 0.0 { diff / scale } else { diff }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `annotate` adds the roofline columns, consistent with each other and the measurement,
    /// and the load average where the system reports one.
    #[test]
    fn annotate_adds_the_roofline_and_the_load() {
        let target = Target::cpu_f32();
        let case = crate::cases::diag(4096, 4).unwrap();
        let m = run(&target, &case, &RepPolicy::default()).unwrap();
        let roof = Roofline {
            gemm_flops_per_s: 1e11,
            bytes_per_s: 1e10,
        };
        let mut row = crate::row::Row::new("test", "diag", "n=4096,batch=4", "cpu", "test");
        roof.annotate(&mut row, &m);
        let get = |k: &str| row.extra[k].as_f64().unwrap();
        let want = m.plan.roofline_seconds(1e11, 1e10);
        assert!((get("roofline_ms") - want * 1e3).abs() <= 1e-12 * want * 1e3);
        assert!((get("roofline_frac") - want / m.median_s).abs() <= 1e-9 * want / m.median_s);
        assert!((get("roofline_frac_best") - want / m.min_s).abs() <= 1e-9 * want / m.min_s);
        // The fastest rep is no slower than the median, and both are real times.
        assert!(m.min_s > 0.0 && m.min_s <= m.median_s);
        assert!(get("roofline_frac_best") >= get("roofline_frac"));
        assert_eq!(get("bytes_ratio"), m.plan.bytes_ratio());
        // The load moves between two reads, so only its presence and sign are checked.
        match load_average() {
            Some(_) => assert!(get("load_avg") >= 0.0),
            None => assert!(row.extra["load_avg"].is_null()),
        }
    }
}
