//! `linops`: randomized SVD, PCA, sketches, least squares, trace and polar factors of matrices in
//! `.npy`, `.npz` and `.safetensors` files, including files larger than memory (see `docs/cli.md`).
//!
//! Data go to files (`--out`), the summary to stdout (terse text, or one JSON line with `--json`),
//! diagnostics and progress to stderr. Every failure is one line `linops: <file>: <problem>` and
//! exit status 1.

mod budget;
mod commands;
mod error;
mod input;
mod output;
mod plot;
mod progress;
mod stream;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Structured and randomized linear algebra on matrices in files.
#[derive(Parser, Debug)]
#[command(name = "linops", version, about)]
pub struct Cli {
    #[command(subcommand)]
    cmd: Command,
    #[command(flatten)]
    common: Common,
}

/// Options every subcommand takes.
#[derive(Args, Debug, Clone)]
pub struct Common {
    /// Backend: the GPU when one is present (auto), or force cpu/gpu.
    #[arg(long, value_enum, default_value_t = Backend::Auto, global = true)]
    pub backend: Backend,
    /// Compute precision (default: f64 on the CPU, f32 on the GPU, which has no f64).
    #[arg(long, value_enum, global = true)]
    pub dtype: Option<Dtype>,
    /// Print the summary as one JSON line on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    /// No progress bar.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// Working-set budget (e.g. 256M, 2G); a matrix whose in-memory copy does not fit is read in
    /// panels, one pass over the file at a time. Default: half the available memory.
    #[arg(long, global = true)]
    pub mem: Option<String>,
    /// Seed of every random choice (the same seed gives the same result).
    #[arg(long, default_value_t = 0x5EED, global = true)]
    pub seed: u64,
}

/// `--backend`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// GPU when present, else CPU.
    Auto,
    /// The faer CPU backend.
    Cpu,
    /// The wgpu GPU backend.
    Gpu,
}

/// `--dtype`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dtype {
    /// Single precision.
    F32,
    /// Double precision.
    F64,
}

/// `sketch --kind`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SketchKind {
    /// Dense Gaussian, entries N(0, 1/d).
    Gaussian,
    /// Dense Rademacher, entries ±1/√d.
    Rademacher,
    /// Sparse sign (`--nnz` nonzeros per column).
    SparseSign,
    /// Subsampled randomized Hadamard transform.
    Srht,
    /// Very sparse random projection (density 1/√m).
    VerySparse,
}

/// `sketch --side`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// S·A (S is d×m, compresses the rows).
    Left,
    /// A·Sᵀ (S is d×n, compresses the columns).
    Right,
}

/// Options of `svd` and `pca`.
#[derive(Args, Debug, Clone)]
pub struct SvdArgs {
    /// The matrix: FILE.npy, FILE.npz[:KEY], FILE.safetensors[:TENSOR] or a SciPy sparse .npz.
    pub file: String,
    /// Target rank.
    #[arg(short)]
    pub k: usize,
    /// Oversampling p (the sketch has k + p columns).
    #[arg(long, default_value_t = 10)]
    pub oversample: usize,
    /// Power iterations q (or Krylov depth with --krylov); default: scikit-learn's rule (7 when
    /// k < 0.1·min(m, n), else 4; Krylov depth 2).
    #[arg(long)]
    pub power: Option<usize>,
    /// Block Krylov SVD instead of subspace iteration (in memory only).
    #[arg(long, conflicts_with = "single_pass")]
    pub krylov: bool,
    /// One pass over the file (Tropp et al. two-sketch method); implies --stream.
    #[arg(long)]
    pub single_pass: bool,
    /// Read the file in panels (one pass at a time) even when it fits --mem.
    #[arg(long)]
    pub stream: bool,
    /// Error-estimate effort (0: none): in memory, Golub–Kahan steps of the library's certified
    /// estimate (an upper bound with probability ≥ 99%); when streaming, HMT probe vectors
    /// riding along in the last pass (an upper bound with probability ≥ 1 − 10^-probes).
    #[arg(long, default_value_t = 12)]
    pub probes: usize,
    /// Output .npz (U, S, Vt; PCA: components, explained variance and ratio, mean, U).
    #[arg(long)]
    pub out: Option<String>,
    /// Draw the spectrum with the error estimate to an SVG file.
    #[arg(long)]
    pub plot: Option<String>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Shape, dtype, layout and size of a file (and its arrays or tensors).
    Info {
        /// FILE.npy, FILE.npz[:KEY], FILE.safetensors[:TENSOR].
        file: String,
    },
    /// Rank-k randomized SVD: U, S, Vᵀ and an error estimate of ‖A − UΣVᵀ‖₂.
    Svd(SvdArgs),
    /// PCA: randomized SVD of the column-centered matrix (centering is implicit), with
    /// explained-variance ratios.
    Pca(SvdArgs),
    /// A random sketch S·A (--side left) or A·Sᵀ (--side right).
    Sketch {
        /// The matrix.
        file: String,
        /// Sketch family.
        #[arg(long, value_enum)]
        kind: SketchKind,
        /// Sketch dimension d.
        #[arg(long)]
        dim: usize,
        /// Which side the sketch multiplies.
        #[arg(long, value_enum, default_value_t = Side::Left)]
        side: Side,
        /// Nonzeros per column of a sparse sign sketch.
        #[arg(long, default_value_t = 8)]
        nnz: usize,
        /// Read the file in panels (left: gaussian/rademacher; right: every kind).
        #[arg(long)]
        stream: bool,
        /// Output .npy.
        #[arg(long)]
        out: Option<String>,
    },
    /// Least squares min ‖A·x − b‖ (sketch-and-precondition LSQR).
    Lstsq {
        /// The matrix A (m×n, m ≥ n).
        a: String,
        /// The right-hand side b (m entries).
        b: String,
        /// LSQR tolerance.
        #[arg(long)]
        tol: Option<f64>,
        /// Output .npy for x.
        #[arg(long)]
        out: Option<String>,
    },
    /// Trace estimate of a square matrix (Hutch++; --hutchinson for plain Hutchinson).
    Trace {
        /// The matrix.
        file: String,
        /// Matrix-vector products.
        #[arg(long, default_value_t = 60)]
        matvecs: usize,
        /// Plain Hutchinson instead of Hutch++.
        #[arg(long)]
        hutchinson: bool,
    },
    /// Polar factor of A (m×n, m ≥ n) by Newton–Schulz (--quintic: Muon's 5 fixed steps).
    Polar {
        /// The matrix.
        file: String,
        /// Muon's quintic iteration instead of the cubic one.
        #[arg(long)]
        quintic: bool,
        /// Iteration budget.
        #[arg(long)]
        max_iter: Option<usize>,
        /// Output .npy.
        #[arg(long)]
        out: Option<String>,
    },
}

/// Fixes glibc's mmap threshold at 1 MiB: by default it rises to the size of the largest freed
/// block (up to 32 MiB), after which every panel buffer comes from the heap and freed panels stay
/// resident, so the peak RSS of a streamed run would creep past `--mem`. With the threshold fixed,
/// each panel buffer is its own mapping, returned to the kernel when dropped.
fn pin_mmap_threshold() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; it is called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

/// Vulkan drivers on a headless machine (Mesa's lavapipe among them) print an error per call when
/// `XDG_RUNTIME_DIR` is unset; give them the temporary directory so stderr keeps to linops' own
/// one-line messages.
fn quiet_vulkan_runtime_dir() {
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        // SAFETY: called first thing in main, before any other thread exists.
        unsafe { std::env::set_var("XDG_RUNTIME_DIR", std::env::temp_dir()) };
    }
}

fn main() {
    quiet_vulkan_runtime_dir();
    pin_mmap_threshold();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            // --help and --version print and exit 0; usage errors exit 2 (clap's convention).
            e.exit();
        }
    };
    let result = std::panic::catch_unwind(|| commands::run(&cli.cmd, &cli.common));
    match result {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
        Err(_) => {
            eprintln!("linops: internal error (a panic; please report it with the command line)");
            std::process::exit(101);
        }
    }
}
