//! `linops-bench`: runs a benchmark suite of linops and prints a table (and optionally JSON).
//!
//! ```text
//! linops-bench quick     [--json PATH] [--backend cpu|gpu|all] [--reps N] [--smoke]
//! linops-bench gpu-suite [--json PATH] [--reps N]
//! linops-bench structured [--json PATH] [--backend cpu|gpu|all] [--reps N] [--family NAME]...
//!                          [--rounds N]
//! linops-bench sketch     [--json PATH] [--backend cpu|gpu|all] [--reps N]
//! linops-bench randnla    [--json PATH] [--backend cpu|gpu|all] [--reps N]
//! linops-bench accuracy   [--json PATH] [--backend cpu|gpu|all]   (LINOPS_ACCURACY_SEEDS=N)
//! linops-bench lstsq      [--json PATH] [--reps N]               (CPU f64)
//! ```
//!
//! Every suite also takes `--processes N` (the suite run in `N` child processes one after the
//! other, each row reported from the process with its lowest median: [`row::best_of_runs`])
//! and `--plot DIR`: SVG charts of its rows (speedups over the dense baseline by size, GFLOP/s
//! and GB/s against the peak `Engine::calibrate` measures in the same run; see
//! [`linops_bench::plot`]).
//!
//! Progress goes to stderr, the table to stdout. Targets: `cpu-f64` (the reference), `cpu` (f32)
//! and `gpu` (f32, when `Engine::gpu()` opens an adapter; `LINOPS_ADAPTER` picks one and
//! `LINOPS_BACKEND=cpu` skips it). `structured` times no `cpu-f64` rows. On a software GPU (lavapipe)
//! every suite but `gpu-suite` runs its GPU rows only with an explicit `--backend gpu` (a notice on
//! stderr says so): its timings mean nothing and would take minutes. Exit status: 0 when every measurement succeeded, 1 when some
//! failed (rows of the others are still printed and written), 2 when the suite could not start.

use clap::{Parser, Subcommand, ValueEnum};
use linops_bench::measure::{self, Target};
use linops_bench::suites::{self, Suite};
use linops_bench::{plot, row};
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// Benchmarks of linops operators on the CPU (faer) and GPU (wgpu) backends.
#[derive(Debug, Parser)]
#[command(name = "linops-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// GEMM 256-1024 and the basic operators at two shapes (about a minute on 2 CPU cores).
    Quick {
        #[command(flatten)]
        common: Common,
        /// Which backends to run: `cpu` (f32 and f64), `gpu` (f32; required for a software
        /// adapter), or `all` (GPU when present and not a software adapter).
        #[arg(long, value_enum, default_value_t = BackendChoice::All)]
        backend: BackendChoice,
        /// Toy sizes and two reps: checks the runner end to end in seconds (timings mean nothing).
        #[arg(long)]
        smoke: bool,
    },
    /// GEMM 4096³ and 8192³ plus the quick operators at large sizes, on the GPU only.
    GpuSuite {
        #[command(flatten)]
        common: Common,
    },
    /// Structured operator families vs the dense GEMM (n 1024/4096, batch 1/64/1024), with
    /// `speedup_vs_dense` and `flop_ratio` columns (a few minutes on a 2-core CPU).
    Structured {
        #[command(flatten)]
        common: Common,
        /// Which backends to run: `cpu` (f32), `gpu` (f32; required for a software adapter), or
        /// `all` (GPU when present and not a software adapter).
        #[arg(long, value_enum, default_value_t = BackendChoice::All)]
        backend: BackendChoice,
        /// Run only these families (repeatable, e.g. `--family butterfly`); the dense baseline
        /// always runs. Default: every family.
        #[arg(long = "family", value_name = "NAME")]
        family: Vec<String>,
        /// Measure every row this many times, a whole pass over the suite apart, and report
        /// the round with the lowest median (the fastest rep of any round in
        /// `roofline_frac_best`): leaves out slow stretches of a shared machine.
        #[arg(long, value_name = "N", default_value_t = 1,
              value_parser = clap::value_parser!(u32).range(1..))]
        rounds: u32,
    },
    /// Sketching families on m×1024 f32 down to d = 256 (m 16384 CPU, 65536 GPU) vs a stored
    /// Gaussian GEMM, with a `distortion` column.
    Sketch {
        #[command(flatten)]
        common: Common,
        /// Which backends to run: `cpu` (f32), `gpu` (f32; required for a software adapter), or
        /// `all` (GPU when present and not a software adapter).
        #[arg(long, value_enum, default_value_t = BackendChoice::All)]
        backend: BackendChoice,
    },
    /// Randomized drivers (SVD, least squares, Nyström PCG, Newton–Schulz) on problems with
    /// known answers: median time and error relative to the optimal or exact answer.
    Randnla {
        #[command(flatten)]
        common: Common,
        /// Which backends to run: `cpu` (f32 and f64), `gpu` (f32; required for a software
        /// adapter), or `all`.
        #[arg(long, value_enum, default_value_t = BackendChoice::All)]
        backend: BackendChoice,
    },
    /// The accuracy zoo: spectra × randomized drivers × seeds (20, or `LINOPS_ACCURACY_SEEDS`),
    /// reporting error/optimum and estimate/error percentiles.
    Accuracy {
        #[command(flatten)]
        common: Common,
        /// Which backends to run: `cpu` (f32 and f64), `gpu` (f32; required for a software
        /// adapter), or `all`.
        #[arg(long, value_enum, default_value_t = BackendChoice::All)]
        backend: BackendChoice,
    },
    /// Least squares (CPU f64) at m = 32768, n = 256 and m = 262144, n = 128 on exact problems
    /// shared with `benches/scripts/lstsq_vs_numpy.py`: time, per-iteration time, forward error.
    Lstsq {
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Debug, clap::Args)]
struct Common {
    /// Also write the rows as a JSON array to PATH.
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
    /// Most timed repetitions per measurement (suite default: quick 10, gpu-suite 20,
    /// structured 40); fewer are run when one apply is slow.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    reps: Option<u32>,
    /// Also draw the rows as SVG charts into DIR (created if needed): `SUITE-speedup.svg`
    /// (structured vs dense by size) and `SUITE-rates.svg` (GFLOP/s and GB/s against the GEMM
    /// rate and copy bandwidth `Engine::calibrate` measures on each backend in this run).
    #[arg(long, value_name = "DIR")]
    plot: Option<PathBuf>,
    /// Run the suite in N processes, one after the other, and report each row from the process
    /// that measured its lowest median (every column of a row from that one process; a
    /// `process` column says which). On a shared machine one process can run slow throughout.
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..))]
    processes: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum BackendChoice {
    Cpu,
    Gpu,
    All,
}

fn env_forces_cpu() -> bool {
    std::env::var("LINOPS_BACKEND").is_ok_and(|v| v.trim().eq_ignore_ascii_case("cpu"))
}

/// The targets for `choice`, or the reason the suite cannot start.
fn targets(choice: BackendChoice, suite: &Suite) -> Result<Vec<Target>, String> {
    let mut t = Vec::new();
    if choice != BackendChoice::Gpu && !suite.gpu_only {
        if suite.f64_target {
            t.push(Target::cpu_f64());
        }
        t.push(Target::cpu_f32());
    }
    if choice == BackendChoice::Cpu && !suite.gpu_only {
        return Ok(t);
    }
    let required = choice == BackendChoice::Gpu || suite.gpu_only;
    if !required && env_forces_cpu() {
        eprintln!("linops-bench: LINOPS_BACKEND=cpu; skipping the GPU rows");
        return Ok(t);
    }
    match Target::gpu() {
        Ok(g) if g.is_software_gpu() && suite.software_gpu_opt_in && !required => {
            eprintln!(
                "linops-bench: GPU {} is a software adapter; skipping the GPU rows of {} \
                 (pass --backend gpu to run them)",
                g.engine.device(),
                suite.name
            );
        }
        Ok(g) => {
            let soft = if g.is_software_gpu() {
                " (software adapter: few reps)"
            } else {
                ""
            };
            eprintln!("linops-bench: GPU: {}{soft}", g.engine.device());
            t.push(g);
        }
        Err(e) if required => {
            return Err(format!(
                "{} needs a GPU, and none could be opened: {e}",
                suite.name
            ));
        }
        Err(e) => eprintln!("linops-bench: no usable GPU ({e}); CPU rows only"),
    }
    Ok(t)
}

/// Each backend's peak (a `cpu-f64` target runs on the `cpu` target's device: its rows are read
/// against the `cpu` lines, not measured twice); a failed calibration is reported and leaves that
/// backend without reference lines.
fn measure_peaks(targets: &[Target]) -> Vec<plot::Peak> {
    let has_cpu = targets.iter().any(|t| t.label == "cpu");
    let mut peaks = Vec::new();
    for t in targets {
        if t.label == measure::CPU_F64 && has_cpu {
            continue;
        }
        match plot::measure_peak(t) {
            Ok(p) => {
                eprintln!(
                    "linops-bench: peak on {} ({}): f32 GEMM {:.1} GFLOP/s, copy {:.1} GB/s (Engine::calibrate)",
                    p.backend, p.device, p.gemm_gflops, p.copy_gbps
                );
                peaks.push(p);
            }
            Err(e) => eprintln!("linops-bench: cannot measure the peak of {}: {e}", t.label),
        }
    }
    peaks
}

fn run(suite: &Suite, choice: BackendChoice, common: &Common) -> ExitCode {
    let targets = match targets(choice, suite) {
        Ok(t) => t,
        Err(msg) => {
            eprintln!("linops-bench: {msg}");
            return ExitCode::from(2);
        }
    };
    let mut policy = suite.policy;
    if let Some(n) = common.reps {
        policy.max_reps = n as usize;
    }
    // The peaks are measured before the suite (the engine's cost model is put back).
    let peaks = if common.plot.is_some() {
        measure_peaks(&targets)
    } else {
        Vec::new()
    };
    let start = Instant::now();
    let out = if common.processes > 1 {
        match across_processes(common.processes) {
            Ok(out) => out,
            Err(code) => return code,
        }
    } else {
        suites::run_suite(suite, &targets, &policy)
    };
    let elapsed = start.elapsed().as_secs_f64();
    print!("{}", row::table(&out.rows));
    if let Some(path) = &common.json {
        match row::write_json(path, &out.rows) {
            // A child of `--processes` writes to a temporary file its parent reads and removes.
            Ok(()) if std::env::var_os(CHILD_ENV).is_some() => {}
            Ok(()) => eprintln!(
                "linops-bench: wrote {} rows to {}",
                out.rows.len(),
                path.display()
            ),
            Err(e) => {
                eprintln!("linops-bench: cannot write {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        }
    }
    if let Some(dir) = &common.plot {
        match plot::write(dir, suite.name, &out.rows, &peaks) {
            Ok(files) if files.is_empty() => eprintln!(
                "linops-bench: no chart for {}: its rows carry no timed rate and no dense baseline",
                suite.name
            ),
            Ok(files) => {
                for f in files {
                    eprintln!("linops-bench: drew {}", f.display());
                }
            }
            Err(e) => {
                eprintln!("linops-bench: cannot draw: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    eprintln!(
        "linops-bench: {} finished in {elapsed:.1} s, {} rows",
        suite.name,
        out.rows.len()
    );
    if out.failures.is_empty() {
        return ExitCode::SUCCESS;
    }
    eprintln!("linops-bench: {} failure(s):", out.failures.len());
    for f in &out.failures {
        eprintln!("  {} on {}: {}", f.case, f.backend, f.error);
    }
    ExitCode::FAILURE
}

/// The arguments of one child of `--processes`: this process's own, without `--processes`,
/// `--json` and `--plot` (with their values, as separate words or after `=`); the parent adds
/// the child's `--json` and writes the merged rows where it was asked to.
///
/// ```text
/// structured --processes 3 --json out.json --rounds 2  →  structured --rounds 2
/// ```
fn child_args(args: &[OsString]) -> Vec<OsString> {
    let dropped = ["--processes", "--json", "--plot"];
    let mut out = Vec::new();
    let mut skip_value = false;
    for a in args {
        if std::mem::take(&mut skip_value) {
            continue;
        }
        let text = a.to_string_lossy();
        if dropped.contains(&text.as_ref()) {
            skip_value = true;
        } else if !dropped.iter().any(|d| text.starts_with(&format!("{d}="))) {
            out.push(a.clone());
        }
    }
    out
}

/// Set in the environment of the child processes of `--processes`.
const CHILD_ENV: &str = "LINOPS_BENCH_CHILD";

/// Runs this command `n` times as child processes, one after the other, each writing its rows
/// to a temporary JSON file, and merges them ([`row::best_of_runs`]). A child that could not
/// start its suite (exit status 2) stops the run with that status; a child with failed
/// measurements (status 1) makes the merged run fail too (its rows still count).
fn across_processes(n: u32) -> Result<suites::Outcome, ExitCode> {
    let exe = std::env::current_exe().map_err(|e| {
        eprintln!("linops-bench: cannot find this executable to run it again: {e}");
        ExitCode::from(2)
    })?;
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let args = child_args(&args);
    let mut runs = Vec::new();
    let mut out = suites::Outcome::default();
    for i in 0..n {
        eprintln!("linops-bench: process {} of {n}", i + 1);
        let json = std::env::temp_dir().join(format!(
            "linops-bench-{}-process-{i}.json",
            std::process::id()
        ));
        let status = std::process::Command::new(&exe)
            .env(CHILD_ENV, "1")
            .args(&args)
            .arg("--json")
            .arg(&json)
            .stdout(std::process::Stdio::null())
            .status();
        let rows = row::read_json(&json);
        let _ = std::fs::remove_file(&json);
        match status {
            Ok(s) if s.code() == Some(2) => return Err(ExitCode::from(2)),
            Ok(s) if !s.success() => out.failures.push(suites::Failure {
                case: format!("process {}", i + 1),
                backend: "-".into(),
                error: format!("exited with {s} (its failures are listed above)"),
            }),
            Ok(_) => {}
            Err(e) => {
                eprintln!("linops-bench: cannot run {}: {e}", exe.display());
                return Err(ExitCode::from(2));
            }
        }
        match rows {
            Ok(rows) => runs.push(rows),
            Err(e) => out.failures.push(suites::Failure {
                case: format!("process {}", i + 1),
                backend: "-".into(),
                error: format!("its rows could not be read: {e}"),
            }),
        }
    }
    out.rows = row::best_of_runs(&runs);
    Ok(out)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (name, choice, common) = match &cli.command {
        Command::Quick {
            common,
            backend,
            smoke: true,
        } => return run(&suites::quick::SMOKE, *backend, common),
        Command::Quick {
            common, backend, ..
        } => ("quick", *backend, common),
        Command::GpuSuite { common } => ("gpu-suite", BackendChoice::Gpu, common),
        Command::Structured {
            common,
            backend,
            family,
            rounds,
        } => {
            if let Err(e) = suites::structured::set_family_filter(family)
                .and_then(|()| suites::structured::set_rounds(*rounds as usize))
            {
                eprintln!("linops-bench: {e}");
                return ExitCode::from(2);
            }
            ("structured", *backend, common)
        }
        Command::Sketch { common, backend } => ("sketch", *backend, common),
        Command::Randnla { common, backend } => ("randnla", *backend, common),
        Command::Accuracy { common, backend } => ("accuracy", *backend, common),
        Command::Lstsq { common } => ("lstsq", BackendChoice::Cpu, common),
    };
    let suite = suites::find(name).expect("every subcommand names a registered suite");
    run(suite, choice, common)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<OsString> {
        s.split_whitespace().map(OsString::from).collect()
    }

    /// The children get every argument but `--processes`, `--json` and `--plot` (with their
    /// values, in either spelling); values equal to those flags' names are not taken for them.
    #[test]
    fn child_args_drop_what_the_parent_handles() {
        let got = child_args(&words(
            "structured --processes 3 --json out.json --rounds 2 --plot=dir --family csr \
             --json=x.json --reps 5 --processes=2",
        ));
        assert_eq!(
            got,
            words("structured --rounds 2 --family csr --reps 5"),
            "{got:?}"
        );
        assert_eq!(child_args(&words("quick --smoke")), words("quick --smoke"));
    }
}
