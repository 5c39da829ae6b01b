//! Property tests over random operator trees (proptest):
//! `apply(op, X) == to_dense(op)·X` and the adjoint identity `⟨Y, op·X⟩ == ⟨opᵀ·Y, X⟩`, on the CPU
//! in f64 and on the GPU in f32, with error bounds `2·(d + k)·u·(|op|·|X|)` from the standard
//! rounding analysis of sums and products (d kernels deep, k the longest reduction).

use crate::support::{Rng, depth, magnitude, max_inner, test_device, to_f32};
use faer::Mat;
use linops::{Engine, Op};
use proptest::prelude::*;
use std::sync::OnceLock;

const U32: f64 = 1.0 / 16_777_216.0;
const U64: f64 = f64::EPSILON / 2.0;

/// A random operator tree of shape rows×cols, at most `depth` composition levels deep.
pub fn random_op(rng: &mut Rng, rows: usize, cols: usize, depth: usize) -> Op {
    let leaf = |rng: &mut Rng| {
        if rows == cols {
            match rng.below(3) {
                0 => Op::identity(rows).unwrap(),
                1 => rng.diag_op(rows),
                _ => rng.dense_op(rows, cols),
            }
        } else {
            rng.dense_op(rows, cols)
        }
    };
    if depth == 0 {
        return leaf(rng);
    }
    match rng.below(6) {
        0 => leaf(rng),
        1 => random_op(rng, cols, rows, depth - 1).t(),
        2 => random_op(rng, rows, cols, depth - 1)
            .scaled(rng.uniform() * 2.0)
            .unwrap(),
        3 => {
            let k = 1 + rng.below(6);
            Op::product(vec![
                random_op(rng, rows, k, depth - 1),
                random_op(rng, k, cols, depth - 1),
            ])
            .unwrap()
        }
        4 => Op::sum(vec![
            random_op(rng, rows, cols, depth - 1),
            random_op(rng, rows, cols, depth - 1),
        ])
        .unwrap(),
        _ => {
            // A square detour in the middle: rows×rows · rows×cols · cols×cols.
            let l = random_op(rng, rows, rows, depth - 1);
            let m = random_op(rng, rows, cols, depth - 1);
            let r = random_op(rng, cols, cols, depth - 1);
            Op::product(vec![l, m, r]).unwrap()
        }
    }
}

fn gpu() -> Option<&'static Engine> {
    static GPU: OnceLock<Option<Engine>> = OnceLock::new();
    GPU.get_or_init(|| test_device(false).map(Engine::from_device))
        .as_ref()
}

fn check_apply(
    engine: &Engine,
    op: &Op,
    x: &Mat<f64>,
    u: f64,
    f32_path: bool,
) -> Result<(), TestCaseError> {
    let y: Mat<f64> = if f32_path {
        let y = engine
            .apply(op, to_f32(x.as_ref()).as_ref())
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        Mat::from_fn(y.nrows(), y.ncols(), |i, j| y[(i, j)] as f64)
    } else {
        engine
            .apply(op, x.as_ref())
            .map_err(|e| TestCaseError::fail(e.to_string()))?
    };
    let want = linops::to_faer(op) * x;
    let mag = magnitude(op, x.as_ref());
    let gamma = 2.0 * (depth(op) + max_inner(op)) as f64 * u;
    for j in 0..y.ncols() {
        for i in 0..y.nrows() {
            let diff = (y[(i, j)] - want[(i, j)]).abs();
            prop_assert!(
                diff <= gamma * mag[(i, j)],
                "{} on {}: at ({i},{j}) got {} expected {} diff {diff:e} bound {:e}",
                op.describe(),
                engine.name(),
                y[(i, j)],
                want[(i, j)],
                gamma * mag[(i, j)]
            );
        }
    }
    Ok(())
}

fn inner(a: &Mat<f64>, b: &Mat<f64>) -> f64 {
    let mut s = 0.0;
    for j in 0..a.ncols() {
        for i in 0..a.nrows() {
            s += a[(i, j)] * b[(i, j)];
        }
    }
    s
}

fn apply64(engine: &Engine, op: &Op, x: &Mat<f64>, f32_path: bool) -> Mat<f64> {
    if f32_path {
        let y = engine
            .apply(op, to_f32(x.as_ref()).as_ref())
            .expect("gpu apply");
        Mat::from_fn(y.nrows(), y.ncols(), |i, j| y[(i, j)] as f64)
    } else {
        engine.apply(op, x.as_ref()).expect("cpu apply")
    }
}

fn check_adjoint(
    engine: &Engine,
    op: &Op,
    x: &Mat<f64>,
    y: &Mat<f64>,
    u: f64,
    f32_path: bool,
) -> Result<(), TestCaseError> {
    let ax = apply64(engine, op, x, f32_path);
    let aty = apply64(engine, &op.t(), y, f32_path);
    let (lhs, rhs) = (inner(y, &ax), inner(&aty, x));
    let mag = magnitude(op, x.as_ref());
    let yabs = Mat::from_fn(y.nrows(), y.ncols(), |i, j| y[(i, j)].abs());
    let scale = inner(&yabs, &mag);
    // Each side carries the apply error γ·⟨|Y|, |op||X|⟩; the host inner products in f64 add
    // n·u64 of the same scale.
    let gamma = 2.0 * (depth(op) + max_inner(op)) as f64 * u;
    let n = (op.shape().0.max(op.shape().1) * x.ncols()) as f64;
    let bound = (2.0 * gamma + 2.0 * n * U64) * scale;
    prop_assert!(
        (lhs - rhs).abs() <= bound,
        "{} on {}: <Y, A X> = {lhs} but <A^T Y, X> = {rhs} (diff {:e}, bound {bound:e})",
        op.describe(),
        engine.name(),
        (lhs - rhs).abs()
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn apply_equals_dense_times_x(seed in any::<u64>(), rows in 1usize..9, cols in 1usize..9, batch in 1usize..5, d in 0usize..4) {
        let mut rng = Rng::new(seed);
        let op = random_op(&mut rng, rows, cols, d);
        let x = rng.mat(cols, batch);
        check_apply(&crate::support::cpu_engine(), &op, &x, U64, false)?;
        if let Some(g) = gpu() {
            check_apply(g, &op, &x, U32, true)?;
        }
    }

    #[test]
    fn adjoint_identity(seed in any::<u64>(), rows in 1usize..9, cols in 1usize..9, batch in 1usize..5, d in 0usize..4) {
        let mut rng = Rng::new(seed);
        let op = random_op(&mut rng, rows, cols, d);
        let x = rng.mat(cols, batch);
        let y = rng.mat(rows, batch);
        check_adjoint(&crate::support::cpu_engine(), &op, &x, &y, U64, false)?;
        if let Some(g) = gpu() {
            check_adjoint(g, &op, &x, &y, U32, true)?;
        }
    }
}
