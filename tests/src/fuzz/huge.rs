//! Huge sizes (near 2³¹…2⁶², `usize::MAX`) passed to constructors, planners and drivers, each
//! case in a child process so that an abort (a failed allocation, a capacity overflow outside
//! `catch_unwind`) or a hang is observed instead of taking the test binary down.
//!
//! The parent re-executes this test binary (`std::env::current_exe()`) as
//! `sh -c 'ulimit -v 4000000; exec timeout -s KILL <s> <exe> --exact fuzz::huge_sizes …'` with
//! `LINOPS_FUZZ_HUGE=<case>`; the child runs that one case under `catch_unwind` and prints one
//! `LINOPS_FUZZ_OUTCOME` line. No line and a timeout is [`Class::Hang`], no line otherwise is
//! [`Class::Abort`] (with the child's last stderr line, e.g. "memory allocation of … failed").
//! Every constructor must check its size limits before any allocation proportional to them and
//! return a typed error naming the size (issue 15, item 6); sizes whose arithmetic wraps must not
//! be accepted (item 1). The fixed list (every size the issue names, and their neighbours) runs
//! every time; random combinations of the same templates with random huge sizes follow while the
//! time share lasts.

use super::{Class, Outcome, Tally, env_seed, run_one, total_secs};
use crate::support::{Rng, report};
use faer::Mat;
use linops::op::{
    BlockButterfly, BlockDiagonal, Dct, DenseSketch, FlatBlockButterfly, Hadamard, Householder,
    Kronecker, Monarch, Permutation, RowSampler, SparseSign, Srht, VerySparseProjection,
};
use linops::randnla::id::{IdOptions, column_id};
use linops::randnla::lstsq::{LstsqOptions, lstsq};
use linops::randnla::nystrom::{NystromOptions, nystrom};
use linops::randnla::streaming::{BlockOja, FrequentDirections};
use linops::randnla::svd::{SvdOptions, block_krylov_svd, randomized_svd};
use linops::randnla::trace::{TraceOptions, hutch_plus_plus, hutchinson};
use linops::{Engine, Error, HostMat, Op};
use linops_core::IndexParam;
use linops_core::rng::RngState;
use std::process::Command;
use std::time::{Duration, Instant};

/// Seconds a child may run: a correct constructor refuses a huge size at once; the legitimate
/// cases (valid sizes are capped at 2²⁴ or less) take about a second, more on a loaded 2-core machine.
const CHILD_SECS: u64 = 8;
/// Address-space limit of a child (KiB).
const CHILD_KIB: u64 = 4_000_000;

const TEMPLATES: usize = 33;

fn outcome<T>(key: &str, r: Result<T, Error>) -> Outcome {
    match r {
        Ok(_) => Outcome::ok(key),
        Err(e) => Outcome::rejected(key, &e),
    }
}

/// Must be rejected (an overflowing size accepted is a wrong answer waiting to happen).
fn must_fail<T>(key: &str, what: &str, r: Result<T, Error>) -> Outcome {
    match r {
        Ok(_) => Outcome::new(Class::InvalidAccepted, key, format!("{what} accepted")),
        Err(e) => Outcome::rejected(key, &e),
    }
}

fn small_op(m: usize, n: usize) -> Op {
    Op::dense(
        m,
        n,
        (0..m * n)
            .map(|i| ((i * 7 + 3) % 11) as f64 - 5.0)
            .collect(),
    )
    .unwrap_or_else(|e| panic!("a small dense op: {e}"))
}

/// Template `t` with the huge sizes `a`, `b` (`t`, `a`, `b` chosen by the caller). For random
/// cases, counts whose memory grows with them (probes, rows kept, sketch factor) below 2⁴⁰ are
/// capped at 2²⁰: between that and the absurd sizes lies memory a real machine may have, which
/// the child's 4 GB limit must not turn into a failure.
fn template(t: usize, a: usize, b: usize, random: bool, trail: &mut String) -> Outcome {
    let a = if random && matches!(t, 4..=6 | 8) && a < 1 << 40 {
        a.min(1 << 20)
    } else {
        a
    };
    let e = Engine::cpu();
    let plan =
        |op: &Op, rows: usize, cols: usize| e.plan::<f64>(op, rows, cols).map(|p| p.explain());
    macro_rules! note {
        ($($arg:tt)*) => { trail.push_str(&format!($($arg)*)) };
    }
    match t {
        0 => {
            note!("plan(I({a}) + I({a})ᵀ, {a}x1)");
            let r = Op::identity(a).and_then(|i| Op::sum(vec![i.clone(), i.t()]));
            outcome("plan identity sum", r.and_then(|op| plan(&op, a, 1)))
        }
        1 => {
            note!("plan(I({a}).scaled(2), {a}x{})", b.min(4));
            let r = Op::identity(a).and_then(|i| i.scaled(2.0));
            outcome(
                "plan scaled identity",
                r.and_then(|op| plan(&op, a, b.min(4))),
            )
        }
        2 => {
            note!("Dct::new({a})");
            outcome("dct", Dct::new(a))
        }
        3 => {
            // A valid projection costs a·b Philox draws (a·√b entries expected): keep random
            // valid sizes within 2²⁴ draws; indices past u32 and expected nonzero counts well
            // past the index limit must fail fast.
            let expected = a as f64 * (b as f64).sqrt();
            let valid = a <= IndexParam::MAX_INDEX
                && b <= IndexParam::MAX_INDEX
                && expected <= 2.0 * IndexParam::MAX_INDEX as f64;
            let (a, b) = if random && valid {
                (a.min(1 << 12), b.min(1 << 12))
            } else {
                (a, b)
            };
            note!("VerySparseProjection::new({a}, {b})");
            outcome(
                "very_sparse",
                VerySparseProjection::new(a, b, RngState::new(1)),
            )
        }
        4 => {
            note!("FrequentDirections::new({}, {a})", b.min(4));
            outcome("frequent_directions", FrequentDirections::new(b.min(4), a))
        }
        5 => {
            note!("BlockOja::new({a}, 2, None, 1)");
            outcome("block_oja", BlockOja::new(a, 2, None, 1))
        }
        6 => {
            note!("hutchinson::<f64>(I(3), probes {a})");
            outcome(
                "hutchinson",
                hutchinson::<f64>(
                    &e,
                    &Op::identity(3).unwrap_or_else(|_| unreachable!()),
                    &TraceOptions {
                        matvecs: a,
                        seed: 1,
                    },
                ),
            )
        }
        7 => {
            note!("column_id::<f64>(I(2000), k 2, oversample {a})");
            let opts = IdOptions {
                oversample: a,
                ..IdOptions::default()
            };
            outcome(
                "column_id",
                column_id::<f64>(
                    &e,
                    &Op::identity(2000).unwrap_or_else(|_| unreachable!()),
                    2,
                    &opts,
                ),
            )
        }
        8 => {
            // A sketch factor whose sketch fits the block limit is valid and costs O(f) work:
            // keep it small; factors past the limit must fail fast.
            let a = if (a as u64).saturating_mul(2) <= linops::randnla::MAX_BLOCK_ENTRIES / 4 {
                a.min(1 << 12)
            } else {
                a
            };
            let f = a as f64;
            note!("lstsq(4x2 dense, sketch_factor {f:e})");
            let opts = LstsqOptions {
                sketch_factor: Some(f),
                ..LstsqOptions::default()
            };
            outcome(
                "lstsq",
                lstsq(&e, &small_op(4, 2), &[1.0, 2.0, 3.0, 4.0], &opts),
            )
        }
        9 => {
            let (r, c) = (a.min(64), b.min(64));
            note!("best_rank1({r}, {c}, &[1.0])");
            // One entry is a valid r×c matrix only for r = c = 1.
            let r1 = linops::op::best_rank1(r, c, &[1.0]);
            if r * c == 1 {
                match r1 {
                    Ok((1.0, _, _)) => Outcome::ok("best_rank1"),
                    Ok((s, _, _)) => Outcome::new(
                        Class::WrongAnswer,
                        "best_rank1",
                        format!("σ of [1] is {s}, not 1"),
                    ),
                    Err(e) => Outcome::rejected("best_rank1", &e),
                }
            } else {
                must_fail("best_rank1", "a 1-entry slice for a larger matrix", r1)
            }
        }
        10 | 11 => {
            // An oversampling whose sum with k wraps (a = 0: to 1, a = 1: to 0), or just huge.
            let k = 2usize;
            let p = usize::MAX.wrapping_sub(a).wrapping_sub(k).wrapping_add(2);
            let krylov = t == 11;
            note!(
                "{}::<f64>(6x5 dense, k {k}, oversample {p})",
                if krylov {
                    "block_krylov_svd"
                } else {
                    "randomized_svd"
                }
            );
            let opts = SvdOptions {
                oversample: p,
                ..SvdOptions::default()
            };
            let op = small_op(6, 5);
            let r = if krylov {
                block_krylov_svd::<f64>(&e, &op, k, &opts)
            } else {
                randomized_svd::<f64>(&e, &op, k, &opts)
            };
            let key = if krylov {
                "block_krylov_svd"
            } else {
                "randomized_svd"
            };
            let basis = k.checked_add(p).and_then(|l| {
                l.checked_mul(if krylov {
                    opts.krylov_depth_for(k, (6, 5)) + 1
                } else {
                    1
                })
            });
            if basis.is_some_and(|l| l <= 5) {
                outcome(key, r)
            } else {
                must_fail(key, "k + oversample beyond min(m, n) or overflowing", r)
            }
        }
        12 => {
            note!("nystrom::<f64>(I(5), k 2, oversample {a})");
            let opts = NystromOptions {
                oversample: a,
                seed: 1,
            };
            let r = nystrom::<f64>(
                &e,
                &Op::identity(5).unwrap_or_else(|_| unreachable!()),
                2,
                &opts,
            );
            if a <= 3 {
                outcome("nystrom", r)
            } else {
                must_fail("nystrom", "k + oversample beyond n", r)
            }
        }
        13 => {
            let (d, m) = (a.min(1 << 20), b.min(1 << 20));
            note!("SparseSign::new({d}, {m}, 1)");
            outcome("sparse_sign", SparseSign::new(d, m, 1, RngState::new(2)))
        }
        14 => {
            note!("kronecker(I({a}), I({b}), I(2)) and its plan");
            let r = (|| {
                let op = Op::leaf(Kronecker::new(vec![
                    Op::identity(a)?,
                    Op::identity(b)?,
                    Op::identity(2)?,
                ])?);
                let rows = op.shape().1;
                plan(&op, rows, 1)
            })();
            outcome("kronecker", r)
        }
        15 => {
            note!("DenseSketch::gaussian({a}, {b}) and its plan");
            let r = DenseSketch::gaussian(a, b, RngState::new(3))
                .and_then(|s| plan(&Op::leaf(s), b, 1));
            outcome("dense_sketch", r)
        }
        16 => {
            note!("Hadamard::new({a}), Hadamard::padded({b})");
            let r = Hadamard::new(a).and_then(|_| Hadamard::padded(b));
            outcome("hadamard", r)
        }
        17 => {
            // A valid size (at most MAX_GENERATED_ENTRIES) is real work and memory: keep it small
            // enough for the child's limits; sizes past the limit must fail fast.
            let (a, b) = match a.checked_mul(b) {
                Some(n) if n <= linops::op::MAX_GENERATED_ENTRIES => {
                    (a.min(1 << 11), b.min(1 << 11))
                }
                _ => (a, b),
            };
            note!("Permutation::perfect_shuffle({a}, {b})");
            outcome("perfect_shuffle", Permutation::perfect_shuffle(a, b))
        }
        18 => {
            // Sizes within the u32 index range are valid and cost O(a + b) work: keep those
            // small enough to finish within the child's time limit; sizes past it must fail fast.
            let (a, b) = if a <= IndexParam::MAX_INDEX && b <= IndexParam::MAX_INDEX {
                (a.min(1 << 20), b.min(1 << 20))
            } else {
                (a, b)
            };
            note!("RowSampler::uniform({a}, {b})");
            outcome("row_sampler", RowSampler::uniform(a, b, RngState::new(4)))
        }
        19 => {
            note!("Srht::new({}, {a})", b.min(4));
            outcome("srht", Srht::new(b.min(4), a, RngState::new(5)))
        }
        20 => {
            note!("Householder::new({a}, {b}, [], []), from_vectors({a}, {b}, [])");
            let r = Householder::new(a, b, vec![], vec![]);
            let r2 = Householder::from_vectors(a, b, vec![]);
            let o = outcome("householder", r);
            if o.class == Class::Correct {
                o
            } else {
                outcome("householder.from_vectors", r2)
            }
        }
        21 => {
            note!("BlockDiagonal::from_stacked({a}, {b}, 1, []), Monarch::square({a}, [], [])");
            let r = BlockDiagonal::from_stacked(a, b, 1, vec![]);
            let o = outcome("block_diagonal", r);
            if o.class == Class::Correct {
                o
            } else {
                outcome("monarch_square", Monarch::square(a, vec![], vec![]))
            }
        }
        22 => {
            note!(
                "BlockButterfly::new({a}, {}, []), FlatBlockButterfly::new({a}, 1, [])",
                b.min(2)
            );
            let r = BlockButterfly::new(a, b.min(2), vec![]);
            let o = outcome("block_butterfly", r);
            if o.class == Class::Correct {
                o
            } else {
                outcome(
                    "flat_block_butterfly",
                    FlatBlockButterfly::new(a, 1, vec![]),
                )
            }
        }
        23 => {
            note!("HostMat::new({a}, {b}, []), Op::dense({a}, {b}, [])");
            let r = HostMat::<f64>::new(a, b, vec![]);
            let o = outcome("host_mat", r);
            if o.class == Class::Correct {
                o
            } else {
                outcome("dense", Op::dense(a, b, vec![]))
            }
        }
        24 => {
            use linops::stream::{SketchAccumulator, SketchFamily, SketchSpec};
            // Below 2⁴⁰ rows a sketch is a legitimate (if large) request: keep it small.
            let d = if a < 1 << 40 { a.min(1 << 24) } else { a };
            note!("SketchSpec::new(Gaussian, {d}, 4), accumulate one 1x1 block");
            let r = (|| {
                let spec = SketchSpec::new(SketchFamily::Gaussian, d, 4, RngState::new(6))?;
                let mut acc = SketchAccumulator::new(spec)?;
                acc.push(&e, 0, Mat::<f64>::ones(1, 1).as_ref())
            })();
            outcome("sketch_accumulator", r)
        }
        25 => {
            use linops::sampling::{LeverageParams, leverage_scores};
            let (a, b) = (
                if a < 1 << 40 { a.min(1 << 16) } else { a },
                if b < 1 << 40 { b.min(1 << 16) } else { b },
            );
            note!("leverage_scores(6x2 dense, sketch_rows {a}, jl_cols {b})");
            let p = LeverageParams {
                sketch_rows: a,
                jl_cols: b,
                rng: RngState::new(7),
            };
            outcome("leverage_scores", leverage_scores(&e, &small_op(6, 2), &p))
        }
        26 => {
            use linops::amm::{PrioritySketch, amm_norm_sampling};
            // Sample counts within the block limit are valid and cost O(c) work: keep them small.
            let cap = |v: usize| {
                if (v as u64) <= linops::randnla::MAX_BLOCK_ENTRIES {
                    v.min(1 << 16)
                } else {
                    v
                }
            };
            let (a, b) = (cap(a), cap(b));
            note!("amm_norm_sampling(c {a}), PrioritySketch::new(k {b})");
            let x = Mat::<f64>::from_fn(5, 2, |i, j| (i + j) as f64);
            let r = amm_norm_sampling(&e, x.as_ref(), x.as_ref(), a, RngState::new(8));
            let o = outcome("amm_norm_sampling", r);
            if o.class == Class::Correct {
                o
            } else {
                outcome(
                    "priority_sketch",
                    PrioritySketch::new(x.as_ref(), b, RngState::new(8)),
                )
            }
        }
        27 => {
            note!("hutch_plus_plus::<f64>(I(5), matvecs {a})");
            let r = hutch_plus_plus::<f64>(
                &e,
                &Op::identity(5).unwrap_or_else(|_| unreachable!()),
                &TraceOptions {
                    matvecs: a,
                    seed: 1,
                },
            );
            if (6..15).contains(&a) {
                outcome("hutch_plus_plus", r)
            } else {
                must_fail("hutch_plus_plus", "matvecs/3 ≥ n", r)
            }
        }
        28 => {
            note!("block_krylov_svd::<f64>(6x5 dense, k 1, oversample 1, power_iters {a})");
            let opts = SvdOptions {
                oversample: 1,
                power_iters: Some(a),
                ..SvdOptions::default()
            };
            let r = block_krylov_svd::<f64>(&e, &small_op(6, 5), 1, &opts);
            if a <= 1 {
                outcome("block_krylov_svd", r)
            } else {
                must_fail("block_krylov_svd", "a Krylov basis beyond min(m, n)", r)
            }
        }
        29 => {
            note!("plan(dense 2x2, 2x{a})");
            outcome("plan batch", plan(&small_op(2, 2), 2, a))
        }
        30 => {
            note!("plan(I({a})·I({a})ᵀ·2, {a}x1)");
            let r = (|| {
                let i = Op::identity(a)?;
                Op::product(vec![i.clone(), i.t()])?.scaled(2.0)
            })();
            outcome("plan identity product", r.and_then(|op| plan(&op, a, 1)))
        }
        31 => {
            note!(
                "plan(Hadamard::padded({a})ᵀ, {}x1)",
                a.checked_next_power_of_two().unwrap_or(0)
            );
            let r = Hadamard::padded(a).map(Op::leaf).and_then(|h| {
                let rows = h.shape().0;
                plan(&h.t(), rows, 1)
            });
            outcome("plan hadamard", r)
        }
        _ => {
            note!(
                "DenseSketch::rademacher({}, {a}), applied via plan to {a}x{}",
                b.min(8),
                b.min(3)
            );
            let r = DenseSketch::rademacher(b.min(8), a, RngState::new(9))
                .and_then(|s| plan(&Op::leaf(s), a, b.min(3)));
            outcome("plan sketch", r)
        }
    }
}

/// The fixed list: every size issue 15 names, with neighbours. `(template, a, b)`.
fn fixed() -> Vec<(usize, usize, usize)> {
    let (p31, p40, p62, max) = (1usize << 31, 1usize << 40, 1usize << 62, usize::MAX);
    vec![
        (0, p31, 1),
        (1, max, 1),
        (2, p40, 0),
        (3, 1 << 23, 1 << 23),
        (3, 1, 1 << 32),
        (4, p40, 4),
        (5, p40, 0),
        (6, p40, 0),
        (7, 1_000_000, 0),
        (8, 1_000_000_000, 0),
        (9, 2, 2),
        (10, 0, 0),
        (10, 1, 0),
        (11, 0, 0),
        (11, 1, 0),
        (12, max, 0),
        (13, 1 << 20, 1 << 20),
        (14, 1 << 32, 1 << 32),
        (14, 1 << 20, 1 << 20),
        (15, 1 << 33, 4),
        (15, (1 << 32) - 1, (1 << 32) - 1),
        (16, p62, p62 + 1),
        (17, 1 << 32, 1 << 32),
        (17, 1 << 20, 1 << 20),
        (18, 4, p40),
        (18, p40, 4),
        (19, p40, 4),
        (19, 1 << 32, 4),
        (19, (1 << 32) - 1, 4),
        (20, p40, p40),
        (21, p40, p40),
        (21, 1 << 21, 1 << 21),
        (22, p62, 2),
        (23, p40, p40),
        (24, p40, 0),
        (25, p40, 4),
        (26, p40, max),
        (27, max, 0),
        (28, max / 2, 0),
        (29, p40, 0),
        (30, max, 0),
        (31, p62 + 1, 0),
        (32, p40, 3),
    ]
}

fn huge_size(rng: &mut Rng) -> usize {
    // Absurd sizes (beyond any memory) and overflow edges. 2²⁴ (past the old f32 index limit)
    // is legitimate and cheap enough to build; u32::MAX, the largest index an `IndexParam` holds,
    // and 2³², one past it, probe the index limit itself (valid there, but beyond the child's
    // memory: a typed refusal, not an abort).
    let sizes = [
        1usize << 24,
        IndexParam::MAX_INDEX,
        IndexParam::MAX_INDEX + 1,
        1 << 40,
        (1 << 40) + 3,
        1 << 62,
        (1 << 62) + 1,
        usize::MAX / 2,
        usize::MAX - 1,
        usize::MAX,
    ];
    match rng.below(4) {
        0 => 1 + rng.below(8),
        _ => sizes[rng.below(sizes.len())],
    }
}

/// The child side: case `i` of the fixed list, then random ones (`i ≥ fixed().len()`).
fn child(i: u64) {
    super::install_hook();
    let seed = env_seed();
    let list = fixed();
    let case = move |rng: &mut Rng, trail: &mut String| {
        let (t, a, b, random) = match list.get(i as usize) {
            Some(&(t, a, b)) => (t, a, b, false),
            None => (rng.below(TEMPLATES), huge_size(rng), huge_size(rng), true),
        };
        template(t, a, b, random, trail)
    };
    let (o, trail) = run_one(seed, "huge_sizes", i, true, &case);
    // On a line of its own: the harness has printed "test … " without a newline.
    println!(
        "\nLINOPS_FUZZ_OUTCOME\t{:?}\t{}\t{}\t{}",
        o.class,
        o.key,
        o.detail.replace(['\t', '\n'], " "),
        trail.replace(['\t', '\n'], " ")
    );
}

/// Runs case `i` in a child process and reads its outcome.
fn spawn(i: u64, seed: u64) -> (Outcome, String) {
    let exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            return (
                Outcome::new(Class::Abort, "spawn", format!("current_exe: {e}")),
                String::new(),
            );
        }
    };
    let script =
        format!("ulimit -v {CHILD_KIB} && exec timeout -s KILL {CHILD_SECS} \"$0\" \"$@\"");
    let start = Instant::now();
    let out = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(exe)
        .args([
            "--exact",
            "fuzz::huge_sizes",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("LINOPS_FUZZ_HUGE", i.to_string())
        .env("LINOPS_FUZZ_SEED", format!("{seed:#x}"))
        .env_remove("LINOPS_FUZZ_CASE")
        .env("RUST_BACKTRACE", "0")
        .output();
    let elapsed = start.elapsed();
    let out = match out {
        Ok(o) => o,
        Err(e) => {
            return (
                Outcome::new(Class::Abort, "spawn", format!("sh: {e}")),
                String::new(),
            );
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    if let Some(line) = stdout
        .lines()
        .find_map(|l| l.find("LINOPS_FUZZ_OUTCOME\t").map(|at| &l[at..]))
    {
        let f: Vec<&str> = line.splitn(5, '\t').collect();
        if let (Some(class), true) = (f.get(1).and_then(|c| Class::parse(c)), f.len() == 5) {
            return (Outcome::new(class, f[2], f[3]), f[4].to_string());
        }
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let telling = ["memory allocation", "panicked", "overflow", "abort"];
    let last = stderr
        .lines()
        .rev()
        .find(|l| telling.iter().any(|t| l.contains(t)))
        .or_else(|| stderr.lines().rev().find(|l| !l.trim().is_empty()))
        .unwrap_or("")
        .to_string();
    let desc = list_desc(i, seed);
    let status = {
        use std::os::unix::process::ExitStatusExt;
        match (out.status.code(), out.status.signal()) {
            (Some(c), _) => format!("exit status {c}"),
            (None, Some(s)) => format!("killed by signal {s}"),
            _ => "killed".to_string(),
        }
    };
    if elapsed >= Duration::from_secs(CHILD_SECS) - Duration::from_millis(300) {
        (
            Outcome::new(
                Class::Hang,
                desc.clone(),
                format!("still running after {CHILD_SECS} s ({status})"),
            ),
            desc,
        )
    } else {
        (
            Outcome::new(Class::Abort, desc.clone(), format!("{status}: {last}")),
            desc,
        )
    }
}

/// The template and sizes of case `i` (the child draws them from the same generator).
fn list_desc(i: u64, seed: u64) -> String {
    let (t, a, b) = match fixed().get(i as usize) {
        Some(&c) => c,
        None => {
            let mut rng = Rng::new(super::case_seed(seed, "huge_sizes", i));
            (
                rng.below(TEMPLATES),
                huge_size(&mut rng),
                huge_size(&mut rng),
            )
        }
    };
    format!("template {t} with sizes {a}, {b}")
}

/// The test: child mode when `LINOPS_FUZZ_HUGE` is set; else the fixed list, then random cases
/// while `share` of the budget lasts (or only `LINOPS_FUZZ_CASE`).
pub fn run(share: f64) {
    if let Ok(i) = std::env::var("LINOPS_FUZZ_HUGE") {
        child(
            i.trim()
                .parse()
                .unwrap_or_else(|_| panic!("LINOPS_FUZZ_HUGE={i:?}")),
        );
        return;
    }
    let seed = env_seed();
    let only = std::env::var("LINOPS_FUZZ_CASE")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok());
    let budget = Duration::from_secs_f64(total_secs() * share);
    let start = Instant::now();
    let mut tally = Tally::new("huge_sizes", seed);
    let n_fixed = fixed().len() as u64;
    let mut i = only.unwrap_or(0);
    loop {
        let (o, trail) = spawn(i, seed);
        if only.is_some() {
            report(&format!(
                "fuzz::huge_sizes: seed {seed:#x} case {i}: {:?} in {}\n  detail: {}\n  case: {trail}",
                o.class, o.key, o.detail
            ));
        }
        tally.add(i, o, trail);
        i += 1;
        // Without LINOPS_FUZZ_SECS (the test command, CI): the fixed cases and 20 random ones,
        // the same on every machine, whatever its speed.
        let capped = std::env::var_os("LINOPS_FUZZ_SECS").is_none() && i >= n_fixed + 20;
        if only.is_some() || (i >= n_fixed && (start.elapsed() >= budget || capped)) {
            break;
        }
    }
    tally.print(start.elapsed());
    assert!(
        !tally.failed(),
        "fuzz::huge_sizes found failures (seed {seed:#x}); see the report above"
    );
}
