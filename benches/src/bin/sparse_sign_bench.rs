//! `sparse-sign-bench ROWS COLS D S REPS`: times the CPU (f32) sparse sign sketch `A·Sᵀ` of a
//! row-major `ROWS×COLS` matrix `A` down to `D` columns with `S` nonzeros per column of `S`.
//!
//! In linops this is `S·X` with `X = Aᵀ`, the `COLS×ROWS` column-major matrix with the same bytes
//! as row-major `A`; the result `S·X` (`D×ROWS` column-major) is `A·Sᵀ` row-major. Sketch
//! construction and the upload of `X` are excluded (as scikit-learn's `fit` is in
//! `benches/scripts/sparse_sign_vs_sklearn.py`); one warm-up apply, then `REPS` timed applies;
//! prints the median (`median N ms`) and the bandwidth of reading `A` once.

use faer::Mat;
use linops::op::SparseSign;
use linops::{Engine, Op};
use linops_core::rng::RngState;
use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().unwrap_or(0))
        .collect();
    let [rows, cols, d, s, reps] = args[..] else {
        eprintln!("usage: sparse-sign-bench ROWS COLS D S REPS");
        return ExitCode::from(2);
    };
    let run = || -> linops::Result<(f64, usize)> {
        let t0 = Instant::now();
        let sk = SparseSign::new(d, cols, s, RngState::new(0))?;
        let build_s = t0.elapsed().as_secs_f64();
        let op = Op::leaf(sk);
        let engine = Engine::cpu();
        // X = Aᵀ (cols×rows, column-major), filled with a cheap xorshift in [-1, 1).
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let x = Mat::<f32>::from_fn(cols, rows, |_, _| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        });
        let xm = engine.upload(x.as_ref())?;
        drop(x);
        engine.apply_to(&op, &xm)?;
        let mut times = Vec::with_capacity(reps.max(1));
        for _ in 0..reps.max(1) {
            let t = Instant::now();
            let y = engine.apply_to(&op, &xm)?;
            times.push(t.elapsed().as_secs_f64());
            drop(y);
        }
        times.sort_by(f64::total_cmp);
        eprintln!("sketch construction {:.1} ms", build_s * 1e3);
        Ok((times[times.len() / 2], times.len()))
    };
    match run() {
        Ok((med, n)) => {
            println!(
                "linops cpu-f32 sparse sign s={s} A·Sᵀ {rows}x{cols} -> {d}: median {:.1} ms over \
                 {n} runs ({:.2} GB/s of A read)",
                med * 1e3,
                (4 * rows * cols) as f64 / med / 1e9
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sparse-sign-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
