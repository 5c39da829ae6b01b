//! `structured`: every structured operator family against the dense GEMM it replaces.
//!
//! For `n ∈ {1024, 4096}` and `batch ∈ {1, 64, 1024}`, each family below is applied to one seeded
//! `n×batch` block `X` (shared by every family and the dense baseline at that `(n, batch)`), on
//! the `cpu` (f32) target and, when present, the `gpu` (f32) one. Rows carry two extra fields:
//!
//! - `speedup_vs_dense` = median time of a dense `n×n` apply to the same `X` on the same backend
//!   ÷ median time of the structured apply;
//! - `flop_ratio` = dense plan FLOPs (`2·n²·batch`) ÷ structured plan FLOPs, both from
//!   `engine.plan::<f32>(..).total_flops()`;
//! - `planner_choice` = what the engine's default cost model would run (`structured` or
//!   `materialized`, [`linops::plan::CostModel`]); the timed apply always runs the structure
//!   (the suite pins `CostModel::structure_only`), so the two can be compared;
//! - `bytes_ratio` = bytes the plan's steps move ÷ the minimum (read `X` and the parameters once,
//!   write `Y` once; [`linops::Plan::bytes_ratio`]): how many passes over memory the lowering
//!   costs beyond one;
//! - `roofline_ms` = `Σ_steps max(FLOPs / GEMM rate, bytes / bandwidth)` with the streaming
//!   bandwidth measured by `Engine::calibrate` in the same run ([`measure::Roofline`]) and the
//!   GEMM rate the higher of its 512³ GEMM's and the dense baseline rows' own in this run (the
//!   limit is what the machine reaches: a calibration in a slow stretch of the shared dev VM
//!   read half the rate the dense `4096×4096·4096×1024` rows reached minutes later and doubled
//!   every fraction, 2026-12-03), and `roofline_frac` = `roofline_ms / median_ms`, the fraction of
//!   those limits the step list reaches; `roofline_frac_best` the same with the fastest timed
//!   rep (on the shared dev VM one process's median of a sub-millisecond row can sit 30–60%
//!   above another's for the same binary, 2026-12-03, while the fastest rep moves far less).
//!   The bandwidth is that of a stream through memory (48 MiB), so a row whose `X` and `Y`
//!   stay in the caches between reps can beat its byte term: fractions above 1 (e.g. the
//!   Walsh–Hadamard rows at n = 4096: 2 MiB at batch 64 in the L2s, 32 MiB at batch 1024 in
//!   the dev VM's 32 MiB L3, 1.3–1.5 on 2026-12-03) say the row runs at cache speed, a limit
//!   the roofline does not model;
//! - `load_avg` = the one-minute load average when the row was measured: with other work on
//!   the cores both the time and the measured limits read low, so `roofline_frac` means
//!   something only when it is low ([`measure::load_average`]).
//! - `limit` (CPU rows at batch 64 and 1024 below half of their roofline only) = the limit the
//!   roofline does not model that stops the family there, as measured: `l2-gather` (`csr`),
//!   `odd-fft` (`dct2_odd`), `fft+mem` (`dct2`), `mem+mul` (`butterfly`); see [`cpu_limit`]. A
//!   row below half with no `limit` has no measured explanation yet.
//!
//! **The dense baseline is measured once per `(n, batch, backend)`**, with a random dense `n×n`
//! matrix, and shared by every family at that `(n, batch)`: the time of a dense GEMM depends on
//! its shape, not on its entries, so no family's `to_dense()` is formed (at n = 4096 that would be
//! 16M entries per family). The baseline has its own row (`op = dense`, speedup and ratio 1).
//!
//! Families (shape text lists their parameters, e.g. `n=4096,blocks=64,batch=1024`):
//!
//! | op | parameters |
//! |---|---|
//! | `monarch` | square, `blocks = √n` (32 at 1024, 64 at 4096), `Monarch::square` |
//! | `block_diagonal` | 64 square blocks of `n/64` |
//! | `low_rank` | `U·diag(s)·Vᵀ`, rank 64 |
//! | `diag_plus_low_rank` | `D + U·Vᵀ`, rank 64 |
//! | `householder` | `k = 64` reflectors (`Householder::from_vectors`) |
//! | `kronecker` | two dense `√n×√n` factors |
//! | `hadamard` | orthonormal Walsh–Hadamard |
//! | `hadamard12`, `hadamard20`, `hadamard28` | Walsh–Hadamard of length `m·2^k` (`m` = 12, 20, 28), the largest `≤ n` (768/3072, 640/2560, 896/3584) |
//! | `dct2` | orthonormal DCT-II |
//! | `dct2_odd` | orthonormal DCT-II of length `n − 1` (1023 = 3·11·31, 4095 = 3²·5·7·13: rustfft's mixed radix on the CPU, the direct path on the GPU) |
//! | `monarch_rect` | Monarch with `√n/4` R blocks of `√n × 4√n` and `√n` L blocks of `√n × √n/4` (block counts other than √n, rectangular blocks) |
//! | `csr` | 16 distinct random nonzeros per row |
//! | `permutation` | a random permutation (Fisher–Yates) |
//! | `butterfly` | `log₂n` butterfly factors of 2×2 blocks (`blocks = n`, `factors = log₂n`) |
//! | `block_butterfly` | block butterfly, `b = 32` (`blocks = n/32`, `factors = log₂(n/32)`) |
//! | `pixelated_butterfly` | flat block butterfly (`b = 32`) plus a rank-64 `U·Vᵀ` |
//!
//! `--family NAME` (repeatable; [`set_family_filter`]) runs only the named families (the dense
//! baseline always runs).
//!
//! A family whose length is not `n` ([`family_len`]: the `m·2^k` Hadamards, `dct2_odd`) is
//! applied to its own seeded block and compared with a dense baseline of its own length, timed
//! in the same way right before it (no row of its own); its shape text gives its length.
//!
//! `max_rel_err` is against the CPU `f64` apply of the *structured* operator, computed (untimed)
//! only where it is cheap, `batch ≤ 64`; at `batch = 1024` it is NaN (JSON `null`). No `cpu-f64`
//! rows are timed. On a software GPU (lavapipe) the GPU rows are skipped unless `--backend gpu`
//! is given (a dense 4096² apply takes minutes there); `main` handles that through
//! [`Suite::software_gpu_opt_in`].
//!
//! Time on a 2-core CPU: the dense `4096×4096 · 4096×1024` apply (~0.7 s) dominates; the rep
//! policy (budget 0.5 s, at least 3 reps) keeps it to a few applies. A fast apply gets up to 40
//! timed reps: the median of 10 sub-millisecond applies swung by ±30% between runs on the shared
//! 2-core VM (2026-12-02), and the batch-64 rows' roofline fractions with it. `--rounds N`
//! ([`set_rounds`]) runs the whole suite `N` times in one process and reports each row's best
//! round: `N` times as long, and far less at the mercy of a slow stretch of the machine.

use super::{CaseSpec, Failure, Outcome, Suite};
use crate::cases::Case;
use crate::measure::{self, Measurement, RepPolicy, Target};
use crate::rng::{SplitMix64, seed_for};
use crate::row::Row;
use faer::Mat;
use linops::op::{BlockButterfly, Butterfly, FlatBlockButterfly, PixelatedButterfly};
use linops::op::{
    BlockDiagonal, Csr, Dct, DiagPlusLowRank, Hadamard, Householder, Kronecker, LowRank, Monarch,
    Permutation,
};
use linops::{HostMat, Op, Result};
use std::io::Write as _;

/// The `structured` suite.
pub const SUITE: Suite = Suite {
    name: "structured",
    about: "structured operator families vs the dense GEMM, n 1024/4096, batch 1/64/1024",
    gpu_only: false,
    f64_target: false,
    software_gpu_opt_in: true,
    policy: RepPolicy {
        max_reps: 40,
        min_reps: 3,
        budget_s: 0.5,
        second_warmup_below_s: 0.5,
    },
    cases,
    runner: Some(run),
};

/// Operator sizes.
pub const SIZES: [usize; 2] = [1024, 4096];
/// Block widths.
pub const BATCHES: [usize; 3] = [1, 64, 1024];
/// Rank of the low-rank families and reflector count of the Householder family.
pub const RANK: usize = 64;
/// Blocks of the block-diagonal family.
pub const BD_BLOCKS: usize = 64;
/// Nonzeros per row of the CSR family.
pub const NNZ_PER_ROW: usize = 16;
/// Largest batch with a `max_rel_err` (the `f64` reference is computed only up to here).
pub const REF_MAX_BATCH: usize = 64;

/// Block size of the block and Pixelated butterfly families.
pub const BUTTERFLY_BLOCK: usize = 32;

/// The family names, in run order.
pub const FAMILIES: [&str; 18] = [
    "monarch",
    "monarch_rect",
    "block_diagonal",
    "low_rank",
    "diag_plus_low_rank",
    "householder",
    "kronecker",
    "hadamard",
    "hadamard12",
    "hadamard20",
    "hadamard28",
    "dct2",
    "dct2_odd",
    "csr",
    "permutation",
    "butterfly",
    "block_butterfly",
    "pixelated_butterfly",
];

static FAMILY_FILTER: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();

/// Restricts [`run`] to the named families (the dense baseline always runs); an empty list keeps
/// every family. Set once per process (later calls keep the first filter).
///
/// # Errors
/// [`linops::Error::InvalidArgument`] naming an unknown family (and listing the known ones).
///
/// # Examples
/// ```
/// use linops_bench::suites::structured::set_family_filter;
/// assert!(set_family_filter(&["no_such_family".to_string()]).is_err());
/// ```
pub fn set_family_filter(names: &[String]) -> Result<()> {
    if let Some(bad) = names.iter().find(|n| !FAMILIES.contains(&n.as_str())) {
        return Err(linops::Error::InvalidArgument(format!(
            "unknown structured family `{bad}` (known: {})",
            FAMILIES.join(", ")
        )));
    }
    let _ = FAMILY_FILTER.set(names.to_vec());
    Ok(())
}

static ROUNDS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();

/// Runs every measurement of [`run`] `rounds` times (one pass over the whole suite per round,
/// so that the rounds lie seconds apart) and reports each row from the round with the lowest
/// median, its `roofline_frac_best` from the fastest rep of any round; at least 1 (the default).
/// Set once per process (later calls keep the first value).
///
/// Why: on the shared 2-core dev VM whole stretches of a run read slow together (in one run of
/// 2026-12-03 every batch-64 row at n = 4096, the dense baseline included, took 1.3–1.8× its
/// time in the runs before and after), so a row's fraction moved by ±30% from run to run; the
/// best of rounds seconds apart leaves most of those stretches out.
///
/// # Errors
/// [`linops::Error::InvalidArgument`] for `rounds = 0`.
///
/// # Examples
/// ```
/// use linops_bench::suites::structured::set_rounds;
/// assert!(set_rounds(0).is_err());
/// ```
pub fn set_rounds(rounds: usize) -> Result<()> {
    if rounds == 0 {
        return Err(linops::Error::InvalidArgument(
            "--rounds must be at least 1".into(),
        ));
    }
    let _ = ROUNDS.set(rounds);
    Ok(())
}

fn rounds() -> usize {
    ROUNDS.get().copied().unwrap_or(1)
}

/// The best measurement of each (case label, target index) over the rounds ([`set_rounds`]):
/// the one with the lowest median, carrying the lowest single rep of any round in `min_s`.
#[derive(Default)]
struct Best(std::collections::HashMap<(String, usize), Measurement>);

impl Best {
    /// Keeps `m` if it is the first or has a lower median than the kept one; returns the kept.
    /// Its result `y` is kept only with `keep_y` (a row that is checked against the reference):
    /// a batch-1024 result is 32 MiB, and the suite has dozens of them.
    fn keep(
        &mut self,
        label: String,
        target: usize,
        mut m: Measurement,
        keep_y: bool,
    ) -> &Measurement {
        use std::collections::hash_map::Entry;
        if !keep_y {
            m.y = Mat::new();
        }
        match self.0.entry((label, target)) {
            Entry::Occupied(e) => {
                let kept = e.into_mut();
                let min_s = kept.min_s.min(m.min_s);
                if m.median_s < kept.median_s {
                    *kept = m;
                }
                kept.min_s = min_s;
                kept
            }
            Entry::Vacant(e) => e.insert(m),
        }
    }
}

fn selected(name: &str) -> bool {
    FAMILY_FILTER
        .get()
        .is_none_or(|f| f.is_empty() || f.iter().any(|n| n == name))
}

/// Butterfly parameters: uniform, scaled by `1/√(2b)` so the factors stay near unit size.
fn twiddle(r: &mut SplitMix64, len: usize, b: usize) -> Vec<f64> {
    let s = 1.0 / ((2 * b) as f64).sqrt();
    r.uniform_vec(len).into_iter().map(|v| v * s).collect()
}

fn log2(m: usize) -> usize {
    m.trailing_zeros() as usize
}

fn isqrt(n: usize) -> usize {
    let mut b = (n as f64).sqrt() as usize;
    while b * b > n {
        b -= 1;
    }
    while (b + 1) * (b + 1) <= n {
        b += 1;
    }
    b
}

/// Below this `roofline_frac`, a CPU row of a family with a known limit ([`cpu_limit`]) names it
/// in its `limit` column: the acceptance line of issue 13 (half of the roofline, or the
/// hardware limit that stops the row).
pub const LIMIT_BELOW_FRAC: f64 = 0.5;

/// What stops family `name` on the CPU short of its roofline, where that was measured: the
/// roofline is `max(FLOPs / GEMM rate, bytes / streaming bandwidth)` per step, and these
/// families run into a limit that model does not see. Each was measured on the 2-core Zen 5 dev
/// box (docs/benchmarks.md, "Session 13"):
///
/// - `csr` → `l2-gather`: every entry of `S` multiplies one whole row of the transposed `X`
///   panel (32 `f32`, 128 bytes, at a random row of a 512 KiB panel) into its row's sums. The
///   loop alone (`cargo bench -p linops-bench --bench limits`, one core) takes about 1.4 ns per
///   entry when the rows come from L1 and about 2 ns from the panel in L2, random or in order,
///   so the gathers alone take `nnz·b/32 × 2 ns / cores` (0.13 ms at batch 64, 2.1 ms at
///   1024), more than the roofline (about 0.08 and 1.4 ms); the transposes of `X` and the
///   writes of `Y` come on top of them.
/// - `dct2_odd` → `odd-fft`: rustfft's mixed-radix FFT of the odd length `n − 1` (no
///   power-of-two kernels) takes 1.9–2.3× (4095) and 5–6.5× (1023) the time of its FFT of
///   length `n` (`limits/fft`), 73–83% of the apply; its 32 FFTs at batch 64 alone take about
///   2.4× the row's roofline on two cores, which counts them at the GEMM rate.
/// - `dct2` → `fft+mem`: rustfft's power-of-two FFT (`limits/fft/n=4096`: 5.8–6.7 µs per
///   transform on one core, 2026-12-03) alone takes 1.2–1.35× the roofline on two cores (512
///   FFTs at batch 1024, 32 at batch 64), which counts the DCT's flops at the GEMM rate; at
///   batch 1024 the reads of `X` and the non-temporal writes of `Y` (the roofline's byte term,
///   about as long again) come between the FFTs, not during them (an FFT is one library call
///   with no memory traffic of its own to overlap, and prefetching the next pair during the
///   output pass already hides what it can). FFT plus memory caps the row near 0.45.
/// - `butterfly` → `mem+mul`: the time is the memory passes (`X` in, `Y` out: the roofline)
///   plus the passes over a panel of `X` in L2 and the multiplications (two per element and
///   factor: about 0.4 ms at batch 1024 on the two 512-bit multiply units per core of the Zen 5
///   dev box), not the larger of them: the factors run on a panel of `X` in L2, so a panel's
///   multiplications wait on its load and its store (prefetching the next panel gained
///   nothing). Re-measured 2026-12-03 (batch 1024, `perf`: the kernel's time is on its loads):
///   about 2.8 µs per column and core, the sum of about 1.45 (32 KiB of `X` and `Y` per column
///   from and to memory), 0.6 (five load-and-store passes of the panel in L2) and 0.75 (the
///   multiplications). That caps the fraction near 0.5.
///
/// Other families: `None` (those below half of the roofline in some runs are so by noise or by
/// limits not measured yet; the closing notes of issue 13 list them).
///
/// # Examples
/// ```
/// use linops_bench::suites::structured::cpu_limit;
/// assert_eq!(cpu_limit("csr"), Some("l2-gather"));
/// assert_eq!(cpu_limit("dct2"), Some("fft+mem"));
/// assert_eq!(cpu_limit("monarch"), None);
/// ```
pub fn cpu_limit(name: &str) -> Option<&'static str> {
    match name {
        "csr" => Some("l2-gather"),
        "dct2_odd" => Some("odd-fft"),
        "dct2" => Some("fft+mem"),
        "butterfly" => Some("mem+mul"),
        _ => None,
    }
}

/// The `limit` of a row: [`cpu_limit`] of family `name` for a row of the `cpu` target at a
/// batch of at least [`LIMIT_MIN_BATCH`] whose `roofline_frac` is below [`LIMIT_BELOW_FRAC`],
/// else `None` (a row that reaches half of its roofline, or whose fraction is unknown, names no
/// limit; nor does a batch-1 row, whose time is the latency of one small apply rather than any
/// of these limits, which were measured at batch 64 and 1024).
///
/// # Examples
/// ```
/// use linops_bench::suites::structured::row_limit;
/// assert_eq!(row_limit("cpu", "csr", 64, Some(0.3)), Some("l2-gather"));
/// assert_eq!(row_limit("cpu", "csr", 1024, Some(0.7)), None);
/// assert_eq!(row_limit("cpu", "csr", 1, Some(0.3)), None);
/// assert_eq!(row_limit("gpu", "csr", 64, Some(0.3)), None);
/// ```
pub fn row_limit(
    target: &str,
    name: &str,
    batch: usize,
    frac: Option<f64>,
) -> Option<&'static str> {
    match frac {
        Some(f) if target == "cpu" && batch >= LIMIT_MIN_BATCH && f < LIMIT_BELOW_FRAC => {
            cpu_limit(name)
        }
        _ => None,
    }
}

/// The smallest batch whose rows name a [`cpu_limit`] ([`row_limit`]).
pub const LIMIT_MIN_BATCH: usize = 64;

/// The length of family `name` at suite size `n`: `n` except for the `m·2^k` Walsh–Hadamard
/// families (the largest `m·2^k ≤ n`) and `dct2_odd` (`n − 1`).
///
/// # Examples
/// ```
/// use linops_bench::suites::structured::family_len;
/// assert_eq!(family_len("hadamard12", 4096), 3072);
/// assert_eq!(family_len("hadamard28", 1024), 896);
/// assert_eq!(family_len("dct2_odd", 4096), 4095);
/// assert_eq!(family_len("monarch", 4096), 4096);
/// ```
pub fn family_len(name: &str, n: usize) -> usize {
    let m_pow2 = |m: usize| {
        let p = (n / m).max(1);
        m * (1usize << (usize::BITS - 1 - p.leading_zeros()))
    };
    match name {
        "hadamard12" => m_pow2(12),
        "hadamard20" => m_pow2(20),
        "hadamard28" => m_pow2(28),
        "dct2_odd" => n.saturating_sub(1).max(1),
        _ => n,
    }
}

/// Block counts `(b1, b2)` of the `monarch_rect` family at size `n` (`n = b1·p = b2·s`).
fn monarch_rect_blocks(n: usize) -> (usize, usize) {
    let b = isqrt(n);
    ((b / 4).max(1), b)
}

fn host(r: &mut SplitMix64, rows: usize, cols: usize) -> Result<HostMat> {
    HostMat::new(rows, cols, r.uniform_vec(rows * cols))
}

/// The family `name` at suite size `n` (a perfect square for `monarch`/`kronecker`, a power of
/// two for `hadamard`, a multiple of 64 for `block_diagonal`), with its parameter text
/// (e.g. `blocks=32`, empty when it has none); its shape is `family_len(name, n)` square
/// ([`family_len`]).
///
/// # Errors
/// The constructor's error for an unsupported `n`; [`linops::Error::InvalidArgument`] for an
/// unknown name.
///
/// # Examples
/// ```
/// let (op, params) = linops_bench::suites::structured::family("monarch", 16).unwrap();
/// assert_eq!((op.shape(), params.as_str()), ((16, 16), "blocks=4"));
/// ```
pub fn family(name: &str, n: usize) -> Result<(Op, String)> {
    let mut r = SplitMix64::new(seed_for(&format!("structured {name} n={n}")));
    let b = isqrt(n);
    Ok(match name {
        "monarch" => {
            let (l, rr) = (r.uniform_vec(b * b * b), r.uniform_vec(b * b * b));
            (Op::leaf(Monarch::square(b, l, rr)?), format!("blocks={b}"))
        }
        "block_diagonal" => {
            let p = n / BD_BLOCKS;
            let data = r.uniform_vec(BD_BLOCKS * p * p);
            (
                Op::leaf(BlockDiagonal::from_stacked(BD_BLOCKS, p, p, data)?),
                format!("blocks={BD_BLOCKS}"),
            )
        }
        "low_rank" => {
            let u = host(&mut r, n, RANK)?;
            let s = r.uniform_vec(RANK);
            let v = host(&mut r, n, RANK)?;
            (Op::leaf(LowRank::new(u, s, v)?), format!("rank={RANK}"))
        }
        "diag_plus_low_rank" => {
            let d = r.uniform_vec(n);
            let u = host(&mut r, n, RANK)?;
            let v = host(&mut r, n, RANK)?;
            (
                Op::leaf(DiagPlusLowRank::new(d, u, v)?),
                format!("rank={RANK}"),
            )
        }
        "householder" => (
            Op::leaf(Householder::from_vectors(n, RANK, r.uniform_vec(n * RANK))?),
            format!("k={RANK}"),
        ),
        "kronecker" => {
            let a = Op::dense(b, b, r.uniform_vec(b * b))?;
            let c = Op::dense(b, b, r.uniform_vec(b * b))?;
            (
                Op::leaf(Kronecker::new(vec![a, c])?),
                format!("factors={b}x{b}"),
            )
        }
        "monarch_rect" => {
            let (b1, b2) = monarch_rect_blocks(n);
            let (p, s) = (n / b1, n / b2);
            let r_blocks = BlockDiagonal::from_stacked(b1, b2, p, r.uniform_vec(b1 * b2 * p))?;
            let l_blocks = BlockDiagonal::from_stacked(b2, s, b1, r.uniform_vec(b2 * s * b1))?;
            (
                Op::leaf(Monarch::from_factors(l_blocks, r_blocks)?),
                format!("blocks_r={b1}x{b2}x{p},blocks_l={b2}x{s}x{b1}"),
            )
        }
        "hadamard" => (Op::leaf(Hadamard::new(n)?), String::new()),
        "hadamard12" | "hadamard20" | "hadamard28" => {
            (Op::leaf(Hadamard::new(family_len(name, n))?), String::new())
        }
        "dct2" => (Op::leaf(Dct::new(n)?), String::new()),
        "dct2_odd" => (Op::leaf(Dct::new(family_len(name, n))?), String::new()),
        "csr" => {
            let per_row = NNZ_PER_ROW.min(n);
            let mut indptr = Vec::with_capacity(n + 1);
            let mut indices = Vec::with_capacity(n * per_row);
            indptr.push(0);
            let mut row = Vec::with_capacity(per_row);
            for _ in 0..n {
                row.clear();
                while row.len() < per_row {
                    let c = (r.next_u64() % n as u64) as usize;
                    if !row.contains(&c) {
                        row.push(c);
                    }
                }
                row.sort_unstable();
                indices.extend_from_slice(&row);
                indptr.push(indices.len());
            }
            let values = r.uniform_vec(indices.len());
            (
                Op::leaf(Csr::new(n, n, indptr, indices, values)?),
                format!("nnz_per_row={per_row}"),
            )
        }
        "permutation" => {
            let mut perm: Vec<usize> = (0..n).collect();
            for i in (1..n).rev() {
                let j = (r.next_u64() % (i as u64 + 1)) as usize;
                perm.swap(i, j);
            }
            (Op::leaf(Permutation::new(perm)?), String::new())
        }
        "butterfly" => {
            let l = log2(n);
            (
                Op::leaf(Butterfly::new(n, twiddle(&mut r, 2 * n * l, 1))?),
                format!("blocks={n},factors={l}"),
            )
        }
        "block_butterfly" => {
            let bs = BUTTERFLY_BLOCK;
            let l = log2(n / bs);
            let t = twiddle(&mut r, 2 * n * bs * l, bs);
            (
                Op::leaf(BlockButterfly::new(n, bs, t)?),
                format!("blocks={},factors={l}", n / bs),
            )
        }
        "pixelated_butterfly" => {
            let bs = BUTTERFLY_BLOCK;
            let m = n / bs;
            let v = twiddle(&mut r, m * (1 + log2(m)) * bs * bs, bs);
            let flat = FlatBlockButterfly::new(n, bs, v)?;
            let u = host(&mut r, n, RANK)?;
            let w = host(&mut r, n, RANK)?;
            (
                Op::leaf(PixelatedButterfly::new(flat, u, w)?),
                format!("blocks={m},rank={RANK}"),
            )
        }
        other => {
            return Err(linops::Error::InvalidArgument(format!(
                "unknown structured family `{other}`"
            )));
        }
    })
}

fn family_op_name(name: &str) -> &'static str {
    FAMILIES
        .iter()
        .find(|f| **f == name)
        .copied()
        .unwrap_or("unknown")
}

/// Shape text: `n=…[,params],batch=…`.
///
/// # Examples
/// ```
/// use linops_bench::suites::structured::shape;
/// assert_eq!(shape(4096, "blocks=64", 1024), "n=4096,blocks=64,batch=1024");
/// assert_eq!(shape(1024, "", 1), "n=1024,batch=1");
/// ```
pub fn shape(n: usize, params: &str, batch: usize) -> String {
    if params.is_empty() {
        format!("n={n},batch={batch}")
    } else {
        format!("n={n},{params},batch={batch}")
    }
}

/// The input block shared by every family (and the dense baseline) at `(n, batch)`.
fn block(n: usize, batch: usize) -> Mat<f64> {
    SplitMix64::new(seed_for(&format!("structured x n={n},batch={batch}"))).uniform_mat(n, batch)
}

/// The random dense `n×n` baseline operator.
fn dense_baseline(n: usize) -> Result<Op> {
    let mut r = SplitMix64::new(seed_for(&format!("structured dense n={n}")));
    Op::dense(n, n, r.uniform_vec(n * n))
}

/// The cases of `structured` as independent specs (dense baseline, then the families, for each
/// `(n, batch)`). [`run`] builds the same operators and inputs but shares them across batches
/// and backends.
///
/// # Examples
/// ```
/// use linops_bench::suites::structured;
/// let specs = structured::cases();
/// assert_eq!(specs.len(), 2 * 3 * (1 + structured::FAMILIES.len()));
/// assert_eq!(specs[0].label, "dense n=1024,batch=1");
/// assert_eq!(specs[1].label, "monarch n=1024,blocks=32,batch=1");
/// ```
pub fn cases() -> Vec<CaseSpec> {
    let mut v = Vec::new();
    for n in SIZES {
        let b = isqrt(n);
        for batch in BATCHES {
            let sh = shape(n, "", batch);
            v.push(CaseSpec::new(format!("dense {sh}"), move || {
                Ok(Case {
                    op_name: "dense",
                    shape: shape(n, "", batch),
                    op: dense_baseline(n)?,
                    x: block(n, batch),
                })
            }));
            for name in FAMILIES {
                let nf = family_len(name, n);
                let params = match name {
                    "monarch" => format!("blocks={b}"),
                    "monarch_rect" => {
                        let (b1, b2) = monarch_rect_blocks(n);
                        format!(
                            "blocks_r={b1}x{b2}x{},blocks_l={b2}x{}x{b1}",
                            n / b1,
                            n / b2
                        )
                    }
                    "block_diagonal" => format!("blocks={BD_BLOCKS}"),
                    "low_rank" | "diag_plus_low_rank" => format!("rank={RANK}"),
                    "householder" => format!("k={RANK}"),
                    "kronecker" => format!("factors={b}x{b}"),
                    "csr" => format!("nnz_per_row={}", NNZ_PER_ROW.min(n)),
                    "butterfly" => format!("blocks={n},factors={}", log2(n)),
                    "block_butterfly" => format!(
                        "blocks={},factors={}",
                        n / BUTTERFLY_BLOCK,
                        log2(n / BUTTERFLY_BLOCK)
                    ),
                    "pixelated_butterfly" => {
                        format!("blocks={},rank={RANK}", n / BUTTERFLY_BLOCK)
                    }
                    _ => String::new(),
                };
                v.push(CaseSpec::new(
                    format!("{name} {}", shape(nf, &params, batch)),
                    move || {
                        let (op, params) = family(name, n)?;
                        Ok(Case {
                            op_name: family_op_name(name),
                            shape: shape(nf, &params, batch),
                            op,
                            x: block(nf, batch),
                        })
                    },
                ));
            }
        }
    }
    v
}

fn progress(step: usize, total: usize, label: &str, target: &str) {
    eprint!("[{step}/{total}] {label} on {target} ... ");
    let _ = std::io::stderr().flush();
}

fn failure(out: &mut Outcome, case: &str, backend: &str, error: String) {
    eprintln!("FAILED: {error}");
    out.failures.push(Failure {
        case: case.into(),
        backend: backend.into(),
        error,
    });
}

fn make_row(target: &Target, case: &Case, m: &Measurement) -> Row {
    let mut row = Row::new(
        SUITE.name,
        case.op_name,
        &case.shape,
        target.label,
        &target.engine.device(),
    );
    row.median_ms = m.median_s * 1e3;
    row.gflops = m.flops as f64 / m.median_s / 1e9;
    row.gbps = m.bytes as f64 / m.median_s / 1e9;
    row
}

fn json_num(v: Option<f64>) -> serde_json::Value {
    v.filter(|v| v.is_finite())
        .map_or(serde_json::Value::Null, |v| serde_json::json!(v))
}

/// The dense baseline at one `(n, batch)`, per target: its median seconds and plan FLOPs (`None`
/// where it was not measured).
#[derive(Clone)]
struct Baseline {
    seconds: Vec<Option<f64>>,
    flops: Vec<Option<u64>>,
}

impl Baseline {
    fn none(targets: usize) -> Self {
        Baseline {
            seconds: vec![None; targets],
            flops: vec![None; targets],
        }
    }
}

/// A row of [`SuiteRun`] and where it came from.
struct Made {
    row: usize,
    label: String,
    target: usize,
    family: Option<&'static str>,
    batch: usize,
}

/// One run of the suite: its targets, what it carries from row to row and from round to round,
/// and what it has produced.
struct SuiteRun<'a> {
    targets: Vec<&'a Target>,
    policy: &'a RepPolicy,
    /// Each target's own cost model: the suite times the structure, `planner_choice` asks these.
    models: Vec<linops::plan::CostModel>,
    /// The limits each row's roofline is computed with, measured in this run: at the start of
    /// every round, the highest rates of all rounds kept (the rows keep their best round too).
    roofs: Vec<Option<measure::Roofline>>,
    /// Per target, the highest FLOP rate a dense baseline reached in this run (its plan's FLOPs
    /// over its median time): the rows' GEMM rate is at least this ([`SuiteRun::finish`]).
    dense_rate: Vec<f64>,
    /// The rows made so far, each with its measurement's key in `best`, its family (`None` for
    /// a baseline) and its batch: [`SuiteRun::finish`] annotates them again with the final
    /// limits.
    made: Vec<Made>,
    best: Best,
    /// Whether this is the last round: rows are made in it, from the best measurement of every
    /// round.
    last: bool,
    step: usize,
    total: usize,
    out: Outcome,
}

impl SuiteRun<'_> {
    /// Counts the next measurement and shows it.
    fn next(&mut self, label: &str, target: &str) {
        self.step += 1;
        progress(self.step, self.total, label, target);
    }

    /// A case that could not be built: its measurements count as done, and it is one failure.
    fn not_built(&mut self, label: String, e: &dyn std::fmt::Display) {
        self.step += self.targets.len();
        eprintln!("  {label} FAILED (building the case): {e}");
        self.out.failures.push(Failure {
            case: label,
            backend: "-".into(),
            error: format!("building the case: {e}"),
        });
    }

    /// Measures each target's roofline, keeping the highest rates of all rounds.
    fn measure_roofs(&mut self) {
        for (ti, t) in self.targets.iter().enumerate() {
            match measure::Roofline::measure(&t.engine) {
                Ok(r) => self.roofs[ti] = Some(self.roofs[ti].map_or(r, |kept| kept.max(r))),
                Err(e) => eprintln!("  measuring the roofline on {} FAILED: {e}", t.label),
            }
        }
    }

    /// Times the dense `case` (`n×n` on `n×batch`) on every target under `label`; with `rows`,
    /// the last round makes its rows (speedup and FLOP ratio 1, not checked).
    fn dense(&mut self, case: &Case, n: usize, batch: usize, label: &str, rows: bool) -> Baseline {
        let mut base = Baseline::none(self.targets.len());
        for ti in 0..self.targets.len() {
            let target = self.targets[ti];
            self.next(label, target.label);
            base.flops[ti] = target
                .engine
                .plan::<f32>(&case.op, n, batch)
                .ok()
                .map(|p| p.total_flops());
            match measure::run(target, case, &target.policy(self.policy)) {
                Ok(m) => {
                    eprintln!("{:.3} ms ({} reps)", m.median_s * 1e3, m.reps);
                    if let Some(f) = base.flops[ti] {
                        self.dense_rate[ti] = self.dense_rate[ti].max(f as f64 / m.median_s);
                    }
                    let m = self.best.keep(label.into(), ti, m, false);
                    base.seconds[ti] = Some(m.median_s);
                    if rows && self.last {
                        let mut row = make_row(target, case, m);
                        if let Some(r) = self.roofs[ti] {
                            r.annotate(&mut row, m);
                        }
                        row.max_rel_err = Some(f64::NAN); // the baseline is not checked
                        row.extra
                            .insert("speedup_vs_dense".into(), json_num(Some(1.0)));
                        row.extra.insert("flop_ratio".into(), json_num(Some(1.0)));
                        self.made.push(Made {
                            row: self.out.rows.len(),
                            label: label.into(),
                            target: ti,
                            family: None,
                            batch,
                        });
                        self.out.rows.push(row);
                    }
                }
                Err(e) => failure(&mut self.out, label, target.label, e.to_string()),
            }
        }
        base
    }

    /// Times family `name`'s `case` (length `nf`, `batch` columns) on every target; the last
    /// round makes its rows against `base`: error against the `f64` reference (`batch ≤
    /// REF_MAX_BATCH`), roofline, speedup, FLOP ratio, planner choice and limit.
    fn family(
        &mut self,
        name: &'static str,
        case: &Case,
        nf: usize,
        batch: usize,
        base: &Baseline,
    ) {
        let label = case.label();
        let keep_y = batch <= REF_MAX_BATCH;
        // The reference is needed only for the rows.
        let y_ref = if self.last && keep_y {
            match measure::reference(case) {
                Ok(y) => Some(y),
                Err(e) => {
                    eprintln!("  {label} FAILED (cpu-f64 reference): {e}");
                    self.out.failures.push(Failure {
                        case: label.clone(),
                        backend: "-".into(),
                        error: format!("cpu-f64 reference: {e}"),
                    });
                    None
                }
            }
        } else {
            None
        };
        for ti in 0..self.targets.len() {
            let target = self.targets[ti];
            self.next(&label, target.label);
            let m = match measure::run(target, case, &target.policy(self.policy)) {
                Ok(m) => m,
                Err(e) => {
                    failure(&mut self.out, &label, target.label, e.to_string());
                    continue;
                }
            };
            let (reps, this_ms) = (m.reps, m.median_s * 1e3);
            let m = self.best.keep(label.clone(), ti, m, keep_y);
            if !self.last {
                eprintln!("{this_ms:.3} ms ({reps} reps)");
                continue;
            }
            let mut row = make_row(target, case, m);
            if let Some(r) = self.roofs[ti] {
                r.annotate(&mut row, m);
            }
            row.max_rel_err = Some(
                y_ref
                    .as_ref()
                    .map_or(f64::NAN, |r| measure::max_rel_err(m.y.as_ref(), r.as_ref())),
            );
            let speedup = base.seconds[ti].map(|d| d / m.median_s);
            let ratio = base.flops[ti].map(|d| d as f64 / m.flops.max(1) as f64);
            row.extra
                .insert("speedup_vs_dense".into(), json_num(speedup));
            row.extra.insert("flop_ratio".into(), json_num(ratio));
            let choice = planner_choice(case, nf, batch, &self.models[ti]);
            row.extra
                .insert("planner_choice".into(), serde_json::json!(choice));
            let frac = row.extra.get("roofline_frac").and_then(|v| v.as_f64());
            if let Some(l) = row_limit(target.label, name, batch, frac) {
                row.extra.insert("limit".into(), serde_json::json!(l));
            }
            eprintln!(
                "{this_ms:.3} ms ({reps} reps; best of the rounds {:.3} ms), speedup {}",
                row.median_ms,
                speedup.map_or_else(|| "-".into(), |s| format!("{s:.1}x"))
            );
            self.made.push(Made {
                row: self.out.rows.len(),
                label: label.clone(),
                target: ti,
                family: Some(name),
                batch,
            });
            self.out.rows.push(row);
        }
    }
}

impl SuiteRun<'_> {
    /// The limits of target `ti` the rows are annotated with: the calibrated ones, with the
    /// GEMM rate raised to the dense baselines' where they ran faster (module docs).
    fn final_roof(&self, ti: usize) -> Option<measure::Roofline> {
        self.roofs[ti].map(|r| measure::Roofline {
            gemm_flops_per_s: r.gemm_flops_per_s.max(self.dense_rate[ti]),
            bytes_per_s: r.bytes_per_s,
        })
    }

    /// Annotates every row again with [`SuiteRun::final_roof`] (rows made before the fastest
    /// dense baseline ran saw a lower rate) and sets its `limit` from the new fraction; each
    /// row keeps the `load_avg` of its measurement.
    fn finish(mut self) -> Outcome {
        for made in std::mem::take(&mut self.made) {
            let (Some(roof), Some(m)) = (
                self.final_roof(made.target),
                self.best.0.get(&(made.label, made.target)),
            ) else {
                continue;
            };
            let row = &mut self.out.rows[made.row];
            roof.annotate_limits(row, m);
            if let Some(name) = made.family {
                let frac = row.extra.get("roofline_frac").and_then(|v| v.as_f64());
                match row_limit(&row.backend, name, made.batch, frac) {
                    Some(l) => row.extra.insert("limit".into(), serde_json::json!(l)),
                    None => row.extra.remove("limit"),
                };
            }
        }
        self.out
    }
}

/// What `model` would run for `case` (`structured` or `materialized`; `-` if it cannot plan).
fn planner_choice(
    case: &Case,
    n: usize,
    batch: usize,
    model: &linops::plan::CostModel,
) -> &'static str {
    linops::Plan::with_model(&case.op, n, batch, linops::DType::F32, model).map_or("-", |p| {
        if p.decisions().iter().any(|d| d.materialized) {
            "materialized"
        } else {
            "structured"
        }
    })
}

/// Runs the suite on `targets` (a `cpu-f64` target is ignored: its rows are not part of this
/// suite). See the module documentation for what is measured.
///
/// # Examples
/// ```no_run
/// use linops_bench::{measure::Target, suites::structured};
/// let out = structured::run(&structured::SUITE, &[Target::cpu_f32()], &structured::SUITE.policy);
/// assert!(out.rows.iter().any(|r| r.extra.contains_key("speedup_vs_dense")));
/// ```
pub fn run(suite: &Suite, targets: &[Target], policy: &RepPolicy) -> Outcome {
    let targets: Vec<&Target> = targets
        .iter()
        .filter(|t| t.label != measure::CPU_F64)
        .collect();
    // Time the structure itself; record what the engine's own cost model would choose.
    let models: Vec<linops::plan::CostModel> = targets
        .iter()
        .map(|t| {
            let m = t.engine.cost_model();
            t.engine
                .set_cost_model(linops::plan::CostModel::structure_only());
            m
        })
        .collect();
    let n_fams = FAMILIES.iter().filter(|f| selected(f)).count();
    let n_own = FAMILIES
        .iter()
        .filter(|f| selected(f) && SIZES.iter().any(|&n| family_len(f, n) != n))
        .count();
    let rounds = rounds();
    let total = SIZES.len() * BATCHES.len() * (1 + n_fams + n_own) * targets.len() * rounds;
    let mut run = SuiteRun {
        roofs: vec![None; targets.len()],
        dense_rate: vec![0.0; targets.len()],
        made: Vec::new(),
        targets,
        policy,
        models,
        best: Best::default(),
        last: false,
        step: 0,
        total,
        out: Outcome::default(),
    };
    for round in 0..rounds {
        run.last = round + 1 == rounds;
        if rounds > 1 {
            eprintln!("round {} of {rounds}", round + 1);
        }
        run.measure_roofs();
        for n in SIZES {
            // Operators are built once per n and shared by the batches (the backends cache their
            // converted parameters while an op is alive).
            let dense = dense_baseline(n);
            let fams: Vec<(&'static str, Result<(Op, String)>)> = FAMILIES
                .iter()
                .filter(|f| selected(f))
                .map(|&f| (f, family(f, n)))
                .collect();
            for batch in BATCHES {
                let x = block(n, batch);
                let base_shape = shape(n, "", batch);
                // Dense baseline: once per (n, batch, backend), with rows.
                let base = match &dense {
                    Ok(op) => {
                        let case = dense_case(op.clone(), n, batch, x.clone());
                        run.dense(&case, n, batch, &case.label(), true)
                    }
                    Err(e) => {
                        run.not_built(format!("dense {base_shape}"), e);
                        Baseline::none(run.targets.len())
                    }
                };
                for (name, fam) in &fams {
                    let (op, params) = match fam {
                        Ok(f) => f,
                        Err(e) => {
                            run.not_built(format!("{name} {base_shape}"), e);
                            continue;
                        }
                    };
                    let nf = family_len(name, n);
                    let (x_f, base) = if nf == n {
                        (x.clone(), base.clone())
                    } else {
                        // A family of another length gets its own dense baseline (no row).
                        let x_f = block(nf, batch);
                        let label = format!("dense {} (baseline of {name})", shape(nf, "", batch));
                        let own = match dense_baseline(nf) {
                            Ok(op) => {
                                let case = dense_case(op, nf, batch, x_f.clone());
                                run.dense(&case, nf, batch, &label, false)
                            }
                            Err(e) => {
                                run.not_built(label, &e);
                                Baseline::none(run.targets.len())
                            }
                        };
                        (x_f, own)
                    };
                    let case = Case {
                        op_name: family_op_name(name),
                        shape: shape(nf, params, batch),
                        op: op.clone(),
                        x: x_f,
                    };
                    run.family(name, &case, nf, batch, &base);
                }
            }
        }
    }
    let _ = suite;
    run.finish()
}

/// The dense baseline's case: `op` (`n×n`) on `x` (`n×batch`).
fn dense_case(op: Op, n: usize, batch: usize, x: Mat<f64>) -> Case {
    Case {
        op_name: "dense",
        shape: shape(n, "", batch),
        op,
        x,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Best::keep` keeps the measurement with the lowest median per (label, target), and the
    /// lowest single rep of every measurement of that key, whichever round it came from.
    #[test]
    fn best_keeps_the_lowest_median_and_the_fastest_rep() {
        let case = crate::cases::diag(16, 2).unwrap();
        let m = measure::run(&Target::cpu_f32(), &case, &RepPolicy::default()).unwrap();
        let with = |median_s: f64, min_s: f64| Measurement {
            median_s,
            min_s,
            ..m.clone()
        };
        let mut best = Best::default();
        assert_eq!(best.keep("a".into(), 0, with(2.0, 1.5), true).median_s, 2.0);
        // A slower median with a faster rep: the median stays, the rep is taken.
        let k = best.keep("a".into(), 0, with(3.0, 1.0), true);
        assert_eq!((k.median_s, k.min_s), (2.0, 1.0));
        // A faster median with a slower rep: the median is taken, the rep stays.
        let k = best.keep("a".into(), 0, with(1.8, 1.7), false);
        assert_eq!((k.median_s, k.min_s), (1.8, 1.0));
        // Without `keep_y` the kept result is dropped (it is large and unused).
        assert_eq!((k.y.nrows(), k.y.ncols()), (0, 0));
        assert_eq!(best.0[&("a".to_string(), 0)].y.nrows(), 0);
        // Other labels and targets are kept apart.
        let k = best.keep("a".into(), 1, with(9.0, 9.0), true);
        assert_eq!((k.median_s, k.y.nrows()), (9.0, m.y.nrows()));
        assert_eq!(best.keep("b".into(), 0, with(7.0, 7.0), true).median_s, 7.0);
        assert_eq!(best.0.len(), 3);
    }

    /// `finish` annotates every row again with the GEMM rate raised to the dense baselines'
    /// (and only raised: a faster calibration stays), keeps each row's own `load_avg`, and sets
    /// or clears `limit` from the new fraction.
    #[test]
    fn finish_uses_the_fastest_dense_rate_and_keeps_the_load() {
        let target = Target::cpu_f32();
        let case = crate::cases::diag(4096, 64).unwrap();
        let m = measure::run(&target, &case, &RepPolicy::default()).unwrap();
        // A bandwidth so high that the FLOP term is every step's roofline.
        let calibrated = measure::Roofline {
            gemm_flops_per_s: 1e9,
            bytes_per_s: 1e18,
        };
        let policy = RepPolicy::default();
        let mut run = SuiteRun {
            targets: vec![&target],
            policy: &policy,
            models: vec![target.engine.cost_model()],
            roofs: vec![Some(calibrated)],
            dense_rate: vec![4e9],
            made: Vec::new(),
            best: Best::default(),
            last: true,
            step: 0,
            total: 0,
            out: Outcome::default(),
        };
        let m = run.best.keep("csr x".into(), 0, m, false).clone();
        let mut row = make_row(&target, &case, &m);
        calibrated.annotate(&mut row, &m);
        row.extra.insert("load_avg".into(), serde_json::json!(7.5));
        row.extra.insert("limit".into(), serde_json::json!("stale"));
        run.made.push(Made {
            row: 0,
            label: "csr x".into(),
            target: 0,
            family: Some("csr"),
            batch: 64,
        });
        run.out.rows.push(row);
        let out = run.finish();
        let r = &out.rows[0];
        let want = m.plan.roofline_seconds(4e9, 1e18);
        let got = r.extra["roofline_ms"].as_f64().unwrap() / 1e3;
        assert!(
            (got - want).abs() <= 1e-12 * want,
            "roofline {got} vs {want}"
        );
        assert!(
            want < m.plan.roofline_seconds(1e9, 1e18),
            "the dense rate was used"
        );
        let frac = r.extra["roofline_frac"].as_f64().unwrap();
        assert!((frac - want / m.median_s).abs() <= 1e-12 * frac);
        assert_eq!(r.extra["load_avg"].as_f64(), Some(7.5));
        let limit = row_limit("cpu", "csr", 64, Some(frac));
        assert_eq!(r.extra.get("limit").and_then(|v| v.as_str()), limit);
    }
}
