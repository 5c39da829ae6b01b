//! Our own fuzzer of the public API (issue 15): no panic, no silent wrong answer, for any input a
//! caller can pass.
//!
//! Three tests, each a loop of seeded random cases until its share of the time budget is spent:
//!
//! - `operators` ([`ops`]): random operator trees over every public constructor of `linops::Op`
//!   and every leaf family (dense, identity, diagonal, permutation and perfect shuffle, low-rank
//!   and diagonal-plus-low-rank, block-diagonal, Monarch, Householder, Kronecker, Walsh–Hadamard,
//!   DCT, the four butterflies, CSR, dense/sparse/SRHT sketches, the row samplers, streaming
//!   sketch specs; scaled, transposed, product, sum), with broken structure (mismatched shapes, bad
//!   permutations, bad CSR arrays, bad sizes), extreme, subnormal and non-finite values, applied on
//!   the CPU engine in f64 and f32 under three cost models (structure only, the default,
//!   materializing eagerly) and, for small shapes, on the GPU engine in f32;
//! - `drivers` ([`drivers`]): random calls of the randomized drivers (`randnla`: SVDs, range
//!   finders, orthonormalize, Nyström and PCG, column/row ID and CUR, least squares, trace
//!   estimators, Frequent Directions and block Oja, the matrix functions), of the sampling,
//!   streaming and AMM modules, of `Monarch::project` and of the resident-matrix primitives
//!   (`col_norms`, `col_dots`, `gemm`, `axpby`), with random (valid and invalid) options;
//! - `huge_sizes` ([`huge`]): constructors, planners and drivers with sizes near 2³¹…2⁶² and
//!   `usize::MAX`, each in a child process (this test binary re-executed with `--exact` under
//!   `ulimit -v` and `timeout`), so that an abort or a hang is observed instead of killing the suite.
//!
//! Every case runs under `catch_unwind` and ends in one outcome class. Not failures:
//! [`Class::Correct`] (the result agrees with a dense model built independently from the
//! parameters, within a rounding bound derived in [`model`], or satisfies the driver's invariants),
//! [`Class::InvalidInputRejected`] (a typed error for invalid input), [`Class::DeviceCannot`]
//! (`Unsupported`/`DeviceLimit` for valid input) and [`Class::OutOfRange`] (the exact answer or an
//! intermediate of its evaluation is beyond the compute type's range, and the result is off).
//! Failures: [`Class::Panic`], [`Class::Abort`], [`Class::Hang`],
//! [`Class::NonFiniteFromFiniteInRange`], [`Class::WrongAnswer`], [`Class::InvalidAccepted`] and
//! [`Class::ValidRejected`] (an error that blames valid, in-range input, e.g. `NonFinite` for
//! finite data) and [`Class::CostModelDependent`] (an out-of-range case where the three CPU cost
//! models disagree on whether the call succeeds: the outcome must not depend on the planner's
//! choice, issue 15 item 4).
//!
//! Environment: `LINOPS_FUZZ_SECS` (total seconds over the three tests, default 20, split
//! 40/45/15; without it the operator and driver tests also stop after 40,000 and 15,000 cases, so
//! the test command covers the same cases on every machine), `LINOPS_FUZZ_SEED` (default a fixed seed; `time` draws one from the clock; the seed
//! is printed), `LINOPS_FUZZ_CASE=i` (run only case `i` of that seed, with the panic hook left
//! alone so a backtrace prints), `LINOPS_FUZZ_LOG=<file>` (append every failing case, with its
//! description, to the file). Each test prints its counts per class to stderr and fails on any
//! failure class, printing for each kind of failure (class and call) the count, the seed, the
//! first case's index, a command that reproduces it and the case's description.

mod drivers;
mod huge;
mod model;
mod ops;

use crate::support::{Rng, report, test_device};
use linops::plan::CostModel;
use linops::{Engine, Error};
use model::Precision;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

/// The outcome class of one case (module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Class {
    Correct,
    InvalidInputRejected,
    DeviceCannot,
    OutOfRange,
    Panic,
    Abort,
    Hang,
    NonFiniteFromFiniteInRange,
    WrongAnswer,
    InvalidAccepted,
    ValidRejected,
    CostModelDependent,
    /// A GPU case skipped to keep the GPU's share of the time (not counted as a case).
    Skipped,
}

impl Class {
    pub fn is_failure(self) -> bool {
        !matches!(
            self,
            Class::Correct
                | Class::InvalidInputRejected
                | Class::DeviceCannot
                | Class::OutOfRange
                | Class::Skipped
        )
    }

    pub fn all() -> [Class; 13] {
        use Class::*;
        [
            Correct,
            InvalidInputRejected,
            DeviceCannot,
            OutOfRange,
            Panic,
            Abort,
            Hang,
            NonFiniteFromFiniteInRange,
            WrongAnswer,
            InvalidAccepted,
            ValidRejected,
            CostModelDependent,
            Skipped,
        ]
    }

    pub fn parse(s: &str) -> Option<Class> {
        Class::all().into_iter().find(|c| format!("{c:?}") == s)
    }

    pub fn skipped() -> Outcome {
        Outcome::new(Class::Skipped, "gpu time share", "")
    }
}

/// A case's class, the name of what it exercised (failures are grouped by it) and details.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub class: Class,
    pub key: String,
    pub detail: String,
}

impl Outcome {
    pub fn new(class: Class, key: impl Into<String>, detail: impl Into<String>) -> Outcome {
        Outcome {
            class,
            key: key.into(),
            detail: detail.into(),
        }
    }

    pub fn ok(key: impl Into<String>) -> Outcome {
        Outcome::new(Class::Correct, key, "")
    }

    /// The class of an error returned for input the fuzzer knows to be invalid.
    pub fn rejected(key: impl Into<String>, e: &Error) -> Outcome {
        Outcome::new(Class::InvalidInputRejected, key, e.to_string())
    }

    /// The class of an error returned for valid, in-range input: the device's own limits are
    /// acceptable, anything that blames the input is not.
    pub fn from_valid_err(key: impl Into<String>, e: &Error) -> Outcome {
        let class = if device_cannot(e) {
            Class::DeviceCannot
        } else {
            Class::ValidRejected
        };
        Outcome::new(
            class,
            format!("{}: {}", key.into(), err_key(e)),
            format!("{e:?}"),
        )
    }
}

/// An error's variant and context without numbers: what groups failures of one kind.
pub fn err_key(e: &Error) -> String {
    let text = match e {
        Error::ShapeMismatch { context, .. } => format!("ShapeMismatch({context})"),
        Error::EmptyDimension { context, .. } => format!("EmptyDimension({context})"),
        Error::NonFinite { context, .. } => format!("NonFinite({context})"),
        Error::DeviceLimit { what, .. } => format!("DeviceLimit({what})"),
        other => format!("{other:?}"),
    };
    text.chars()
        .take(70)
        .map(|c| if c.is_ascii_digit() { '#' } else { c })
        .collect()
}

/// `Unsupported`, `DeviceLimit` and `NoAdapter`: "this device cannot", fine for valid input.
pub fn device_cannot(e: &Error) -> bool {
    matches!(
        e,
        Error::Unsupported(_) | Error::DeviceLimit { .. } | Error::NoAdapter(_)
    )
}

/// One engine with the precision a case computes in.
pub struct Target<'a> {
    pub engine: &'a Engine,
    pub prec: Precision,
    pub gpu: bool,
    pub label: &'static str,
}

/// The engines of a test: CPU under three cost models, and the GPU when an adapter exists.
pub struct Engines {
    cpu: Vec<(Engine, &'static str)>,
    gpu: Vec<(Engine, &'static str)>,
    /// Seconds spent in cases on the GPU and on the CPU, and the current case's start: a case
    /// drawn for the GPU (a software rasterizer in CI) is skipped while the GPU has had more than
    /// 35% of the time.
    time: Cell<[f64; 2]>,
    current: Cell<Option<(Instant, bool)>>,
}

impl Engines {
    pub fn new(with_gpu: bool) -> Engines {
        // Materializes every leaf the planner may: dense GEMMs look free and launches expensive.
        let eager = CostModel::cpu_default()
            .with_rate(linops::plan::KernelKind::Gemm, 1e30)
            .with_launch(1e-3)
            .with_policy(1.0, 0.0, 1 << 24)
            .named("eager-materialize");
        let cpu = vec![
            (
                Engine::cpu().with_cost_model(CostModel::structure_only()),
                "structure-only",
            ),
            (Engine::cpu(), "cpu-default"),
            (Engine::cpu().with_cost_model(eager), "eager-materialize"),
        ];
        let gpu = match with_gpu.then(|| test_device(false)).flatten() {
            Some(dev) => vec![
                (
                    Engine::from_device(dev.clone()).with_cost_model(CostModel::structure_only()),
                    "structure-only",
                ),
                (Engine::from_device(dev), "gpu-default"),
            ],
            None => Vec::new(),
        };
        Engines {
            cpu,
            gpu,
            time: Cell::new([0.0; 2]),
            current: Cell::new(None),
        }
    }

    pub fn has_gpu(&self) -> bool {
        !self.gpu.is_empty()
    }

    /// A random target: CPU f64 or f32 under a random cost model, or (when `gpu_ok` and an
    /// adapter exists) the GPU in f32.
    pub fn pick(&self, rng: &mut Rng, gpu_ok: bool) -> Option<Target<'_>> {
        let mut time = self.time.get();
        if let Some((start, gpu)) = self.current.take() {
            time[usize::from(gpu)] += start.elapsed().as_secs_f64();
            self.time.set(time);
        }
        // The same draws whatever the decision, so that a case reproduces from its seed.
        let (r, g, c) = (rng.below(20), rng.below(2), rng.below(3));
        let gpu = gpu_ok && self.has_gpu() && r < 5;
        if gpu && time[1] > 0.35 * (time[0] + time[1]) {
            return None;
        }
        self.current.set(Some((Instant::now(), gpu)));
        if gpu {
            let (e, label) = &self.gpu[g % self.gpu.len()];
            return Some(Target {
                engine: e,
                prec: model::F32,
                gpu: true,
                label,
            });
        }
        let (e, label) = &self.cpu[c];
        Some(Target {
            engine: e,
            prec: if r % 2 == 0 { model::F64 } else { model::F32 },
            gpu: false,
            label,
        })
    }

    /// The CPU engines under the three cost models, in precision `prec`.
    pub fn cpu_targets(&self, prec: Precision) -> Vec<Target<'_>> {
        self.cpu
            .iter()
            .map(|(engine, label)| Target {
                engine,
                prec,
                gpu: false,
                label,
            })
            .collect()
    }
}

impl Target<'_> {
    pub fn describe(&self) -> String {
        format!(
            "{} {} ({})",
            if self.gpu { "gpu" } else { "cpu" },
            self.prec.name,
            self.label
        )
    }
}

thread_local! {
    static QUIET: Cell<bool> = const { Cell::new(false) };
    static PANIC_MSG: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Keeps panics inside fuzz cases off the terminal (the runner reports them) while leaving
/// every other test's panics alone.
pub fn install_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if QUIET.with(Cell::get) {
                PANIC_MSG.with(|m| *m.borrow_mut() = Some(info.to_string()));
            } else {
                prev(info);
            }
        }));
    });
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    let recorded = PANIC_MSG.with(|m| m.borrow_mut().take());
    recorded.unwrap_or_else(|| {
        payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic with a non-string payload".into())
    })
}

pub fn env_seed() -> u64 {
    match std::env::var("LINOPS_FUZZ_SEED") {
        Ok(s) if s.trim() == "time" => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(15),
        Ok(s) => {
            let s = s.trim();
            let parsed = match s.strip_prefix("0x") {
                Some(h) => u64::from_str_radix(h, 16),
                None => s.parse(),
            };
            parsed.unwrap_or_else(|_| panic!("LINOPS_FUZZ_SEED={s:?} is not a u64 or `time`"))
        }
        Err(_) => 0x1500_F022,
    }
}

/// Total seconds of the three fuzz tests (default 20).
pub fn total_secs() -> f64 {
    std::env::var("LINOPS_FUZZ_SECS")
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .unwrap_or(20.0)
}

fn single_case() -> Option<u64> {
    std::env::var("LINOPS_FUZZ_CASE")
        .ok()
        .and_then(|s| s.trim().parse().ok())
}

/// The seed of case `i` of test `name`.
pub fn case_seed(seed: u64, name: &str, i: u64) -> u64 {
    let mut h = Rng::new(
        seed ^ name
            .bytes()
            .fold(0u64, |a, b| a.rotate_left(7) ^ u64::from(b)),
    );
    for _ in 0..(i % 7) {
        h.next_u64();
    }
    h.next_u64() ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Runs one case under `catch_unwind`; returns the outcome and the description the case left.
pub fn run_one(
    seed: u64,
    name: &str,
    i: u64,
    quiet: bool,
    case: &dyn Fn(&mut Rng, &mut String) -> Outcome,
) -> (Outcome, String) {
    let mut rng = Rng::new(case_seed(seed, name, i));
    let mut trail = String::new();
    QUIET.with(|q| q.set(quiet));
    let r = catch_unwind(AssertUnwindSafe(|| case(&mut rng, &mut trail)));
    QUIET.with(|q| q.set(false));
    let outcome = match r {
        Ok(o) => o,
        Err(p) => {
            // Grouped by the call the case was making (the trail's last entry).
            let last = trail.rsplit("; ").next().unwrap_or("");
            let call = last
                .split(['(', ' '])
                .next()
                .unwrap_or("")
                .trim_start_matches("BROKEN");
            Outcome::new(Class::Panic, call.to_string(), panic_text(p.as_ref()))
        }
    };
    (outcome, trail)
}

/// Tallies outcomes and prints the report of one test.
pub struct Tally {
    name: &'static str,
    seed: u64,
    counts: BTreeMap<Class, usize>,
    /// (class, key) → (count, first case index, its detail, its description)
    failures: BTreeMap<(Class, String), (usize, u64, String, String)>,
    cases: u64,
}

impl Tally {
    pub fn new(name: &'static str, seed: u64) -> Tally {
        Tally {
            name,
            seed,
            counts: BTreeMap::new(),
            failures: BTreeMap::new(),
            cases: 0,
        }
    }

    pub fn add(&mut self, i: u64, o: Outcome, trail: String) {
        self.cases += u64::from(o.class != Class::Skipped);
        if o.class.is_failure()
            && let Ok(path) = std::env::var("LINOPS_FUZZ_LOG")
        {
            use std::io::Write;
            if let Ok(mut f) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
            {
                let _ = writeln!(
                    f,
                    "{} case {i}: {:?} in {}: {}\n    case: {}",
                    self.name, o.class, o.key, o.detail, trail
                );
            }
        }
        *self.counts.entry(o.class).or_default() += 1;
        if o.class.is_failure() {
            let e = self
                .failures
                .entry((o.class, o.key))
                .or_insert((0, i, o.detail, trail));
            e.0 += 1;
        }
    }

    pub fn failed(&self) -> bool {
        !self.failures.is_empty()
    }

    /// Prints the counts per class and each kind of failure with its reproducer.
    pub fn print(&self, elapsed: Duration) {
        let counts: Vec<String> = Class::all()
            .iter()
            .map(|c| format!("{c:?} {}", self.counts.get(c).copied().unwrap_or(0)))
            .collect();
        report(&format!(
            "fuzz::{}: seed {:#x}, {} cases in {:.1} s: {}",
            self.name,
            self.seed,
            self.cases,
            elapsed.as_secs_f64(),
            counts.join(", ")
        ));
        for (k, ((class, key), (n, i, detail, trail))) in self.failures.iter().enumerate() {
            if k >= 30 {
                report(&format!(
                    "  FAILURE {class:?} in {key} ×{n}; first: case {i}"
                ));
                continue;
            }
            report(&format!(
                "  FAILURE {class:?} in {key} ×{n}; first: case {i}: {}\n    reproduce: \
                 LINOPS_FUZZ_SEED={:#x} LINOPS_FUZZ_CASE={i} cargo test -p linops-tests \
                 fuzz::{} -- --nocapture\n    case: {}",
                clip(detail, 600),
                self.seed,
                self.name,
                clip(trail, 1200)
            ));
        }
    }
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}

/// The loop of a fuzz test: cases until `share` of the budget is spent (at least `min_cases`),
/// or only `LINOPS_FUZZ_CASE`; prints the tally and fails on any failure class.
pub fn fuzz_loop(
    name: &'static str,
    share: f64,
    min_cases: u64,
    default_cases: u64,
    case: &dyn Fn(&mut Rng, &mut String) -> Outcome,
) {
    install_hook();
    let seed = env_seed();
    if let Some(i) = single_case() {
        let (o, trail) = run_one(seed, name, i, false, case);
        report(&format!(
            "fuzz::{name}: seed {seed:#x} case {i}: {:?} in {}\n  detail: {}\n  case: {trail}",
            o.class, o.key, o.detail
        ));
        assert!(!o.class.is_failure(), "case {i} failed: {:?}", o.class);
        return;
    }
    let budget = Duration::from_secs_f64(total_secs() * share);
    // Without LINOPS_FUZZ_SECS (the test command, CI) the run is also capped at a fixed number of
    // cases, so which cases run does not depend on the machine's speed: the same seed covers the
    // same cases everywhere, and a faster machine cannot reach a case nobody has run.
    let (cap, budget) = if std::env::var_os("LINOPS_FUZZ_SECS").is_some() {
        (u64::MAX, budget)
    } else {
        // The time bound only guards against a pathologically slow machine.
        (default_cases, budget.max(Duration::from_secs(300)))
    };
    let start = Instant::now();
    let mut tally = Tally::new(name, seed);
    let mut i = 0u64;
    while i < min_cases || (start.elapsed() < budget && i < cap) {
        let (o, trail) = run_one(seed, name, i, true, case);
        tally.add(i, o, trail);
        i += 1;
    }
    tally.print(start.elapsed());
    assert!(
        !tally.failed(),
        "fuzz::{name} found failures (seed {seed:#x}); see the report above"
    );
}

#[test]
fn operators() {
    let engines = Engines::new(true);
    fuzz_loop("operators", 0.40, 50, 40_000, &|rng, trail| {
        ops::case(rng, &engines, trail)
    });
}

#[test]
fn drivers() {
    let engines = Engines::new(true);
    fuzz_loop("drivers", 0.45, 30, 15_000, &|rng, trail| {
        drivers::case(rng, &engines, trail)
    });
}

#[test]
fn huge_sizes() {
    huge::run(0.15);
}
