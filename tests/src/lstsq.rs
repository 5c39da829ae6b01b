//! Randomized least squares (`linops::randnla::lstsq`) against faer's dense f64 QR solve on
//! problems with a known solution, κ ∈ {1e2, 1e6, 1e10}, on CPU f64 and the GPU (f32 sketch).

use crate::support::{gpu_engines, report};
use faer::Mat;
use faer::prelude::SolveLstsq;
use linops::randnla::lstsq::{
    LstsqMethod, LstsqOptions, known_solution_problem, lstsq, lstsq_sketch_solve,
};
use linops::{DType, Engine, Error, Op};

const M: usize = 2000;
const N: usize = 50;
/// Relative size of the residual (orthogonal to range(A)) against ‖A·x*‖.
const RHO: f64 = 1e-6;

fn rel_err(x: &[f64], xs: &[f64]) -> f64 {
    let num: f64 = x.iter().zip(xs).map(|(a, b)| (a - b) * (a - b)).sum();
    let den: f64 = xs.iter().map(|b| b * b).sum();
    (num / den).sqrt()
}

struct Case {
    op: Op,
    xs: Vec<f64>,
    b: Vec<f64>,
    qr_err: f64,
}

fn case(kappa: f64, seed: u64) -> Case {
    let (a, xs, b) = known_solution_problem(M, N, kappa, RHO, seed).unwrap();
    let bm = Mat::from_fn(M, 1, |i, _| b[i]);
    let xq = a.qr().solve_lstsq(&bm);
    let qr_err = rel_err(&(0..N).map(|i| xq[(i, 0)]).collect::<Vec<_>>(), &xs);
    Case {
        op: linops::dense(a.as_ref()).unwrap(),
        xs,
        b,
        qr_err,
    }
}

/// Forward error within 10× of dense QR's (plus a floor of 10 u₆₄: QR can be luckier than u).
fn check(c: &Case, x: &[f64], label: &str) -> f64 {
    let e = rel_err(x, &c.xs);
    let bound = 10.0 * c.qr_err.max(f64::EPSILON);
    assert!(
        e <= bound,
        "{label}: forward error {e:.3e} > 10× QR's {:.3e}",
        c.qr_err
    );
    e
}

#[test]
fn precondition_f64_sketch_matches_qr_for_every_kappa() {
    let e = Engine::cpu();
    for (i, kappa) in [1e2, 1e6, 1e10].into_iter().enumerate() {
        let c = case(kappa, 10 + i as u64);
        let r = lstsq(&e, &c.op, &c.b, &LstsqOptions::default()).unwrap();
        let err = check(&c, &r.x, &format!("cpu f64 κ={kappa:e}"));
        report(&format!(
            "lstsq cpu f64 κ={kappa:.0e}: err {err:.2e} (QR {:.2e}), {} its, cond(AR⁻¹)≈{:.2}, \
             cond(R)={:.2e}",
            c.qr_err, r.iterations, r.precond_cond, r.r_cond
        ));
        assert_eq!(r.method, LstsqMethod::SketchAndPrecondition);
        // The first solve and the refinement passes (until the correction stops shrinking):
        // 84–134 iterations measured here; 200 leaves room for seeds, not for a runaway loop.
        assert!(r.converged && r.iterations <= 200 && r.fallback.is_none());
        assert_eq!(r.sketch_dtype, DType::F64);
        // Davidson–Szarek: d = 4n gives cond(A·R⁻¹) ≤ (1 + ½ + t)/(1 − ½ − t); t = 0.2 is ~4σ.
        assert!(r.precond_cond < 1.7 / 0.3, "cond {}", r.precond_cond);
        // The residual estimate is the true residual ‖r‖ = ρ·‖A x*‖ to working accuracy.
        let rtrue = RHO * (c.b.iter().map(|v| v * v).sum::<f64>()).sqrt();
        assert!((r.residual_norm - rtrue).abs() <= 1e-3 * rtrue + 1e-12);
    }
}

/// The f32 sketch on the CPU engine exercises the same mixed-precision path as the GPU.
fn f32_sketch_cases(e: &Engine, name: &str) {
    let opts = LstsqOptions {
        sketch_dtype: Some(DType::F32),
        ..LstsqOptions::default()
    };
    for (i, kappa) in [1e2, 1e6, 1e10].into_iter().enumerate() {
        let c = case(kappa, 20 + i as u64);
        let r = lstsq(e, &c.op, &c.b, &opts).unwrap();
        let err = check(&c, &r.x, &format!("{name} f32 sketch κ={kappa:e}"));
        report(&format!(
            "lstsq {name} f32 sketch κ={kappa:.0e}: err {err:.2e} (QR {:.2e}), {} its \
             (+{} abandoned), sketch {:?}, fallback: {:?}",
            c.qr_err, r.iterations, r.abandoned_iterations, r.sketch_dtype, r.fallback
        ));
        assert!(r.converged && r.iterations <= 200); // as in the f64 test
        if kappa <= 1e6 {
            assert!(r.fallback.is_none(), "unexpected fallback at κ={kappa:e}");
            assert_eq!(r.sketch_dtype, DType::F32);
        } else {
            assert!(r.fallback.is_some(), "no fallback at κ={kappa:e}");
            assert_eq!(r.sketch_dtype, DType::F64);
        }
    }
}

#[test]
fn precondition_cpu_f32_sketch_falls_back_beyond_1e6() {
    f32_sketch_cases(&Engine::cpu(), "cpu");
}

#[test]
fn precondition_gpu_f32_sketch_falls_back_beyond_1e6() {
    let Some((e, _)) = gpu_engines() else { return };
    f32_sketch_cases(&e, "gpu");
    let (c, opts) = (
        case(1e2, 30),
        LstsqOptions {
            sketch_dtype: Some(DType::F64),
            ..LstsqOptions::default()
        },
    );
    assert!(matches!(
        lstsq(&e, &c.op, &c.b, &opts),
        Err(Error::Unsupported(_))
    ));
}

#[test]
fn sketch_and_solve_is_residual_accurate() {
    // ‖A x̂ − b‖ ≤ (1 + ε)‖r*‖ with ε ≈ √(n/(d − n)) = √(1/3) for d = 4n; allow ε = 1.
    let c = case(1e4, 40);
    let r = lstsq_sketch_solve(&Engine::cpu(), &c.op, &c.b, &LstsqOptions::default()).unwrap();
    let rstar = RHO * (c.b.iter().map(|v| v * v).sum::<f64>()).sqrt();
    report(&format!(
        "sketch-and-solve κ=1e4: ‖Ax̂−b‖/‖r*‖ = {:.3}",
        r.residual_norm / rstar
    ));
    assert!(r.residual_norm >= rstar * (1.0 - 1e-6) && r.residual_norm <= 2.0 * rstar);
    assert_eq!(r.method, LstsqMethod::SketchAndSolve);
}

#[test]
fn composed_operator_is_never_materialized() {
    // A = D·B (diagonal times dense): the driver only applies it.
    let (b, _, _) = known_solution_problem(300, 10, 1e3, 0.0, 50).unwrap();
    let d: Vec<f64> = (0..300).map(|i| 1.0 + (i % 7) as f64).collect();
    let op = Op::product(vec![
        Op::diagonal(d.clone()).unwrap(),
        linops::dense(b.as_ref()).unwrap(),
    ])
    .unwrap();
    let xs: Vec<f64> = (0..10).map(|i| (i as f64) - 4.5).collect();
    let a = linops::to_faer(&op);
    let rhs: Vec<f64> = (0..300)
        .map(|i| (0..10).map(|j| a[(i, j)] * xs[j]).sum())
        .collect();
    let r = lstsq(&Engine::cpu(), &op, &rhs, &LstsqOptions::default()).unwrap();
    assert!(rel_err(&r.x, &xs) < 1e-11, "err {}", rel_err(&r.x, &xs));
}

#[test]
fn bad_input_is_rejected() {
    let e = Engine::cpu();
    let op = Op::identity(4).unwrap();
    let o = LstsqOptions::default();
    assert!(matches!(
        lstsq(&e, &op, &[1.0; 3], &o),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        lstsq(&e, &op, &[1.0, f64::NAN, 0.0, 0.0], &o),
        Err(Error::NonFinite { .. })
    ));
    let wide = Op::dense(2, 3, vec![1.0; 6]).unwrap();
    assert!(matches!(
        lstsq(&e, &wide, &[1.0; 2], &o),
        Err(Error::InvalidArgument(_))
    ));
    let bad = LstsqOptions {
        tol: -1.0,
        ..o.clone()
    };
    assert!(lstsq(&e, &op, &[1.0; 4], &bad).is_err());
    let bad = LstsqOptions {
        max_iter: 0,
        ..o.clone()
    };
    assert!(lstsq(&e, &op, &[1.0; 4], &bad).is_err());
    let rank1 = Op::dense(4, 2, vec![1.0, 2.0, 3.0, 4.0, 2.0, 4.0, 6.0, 8.0]).unwrap();
    assert!(matches!(
        lstsq(&e, &rank1, &[1.0; 4], &o),
        Err(Error::InvalidArgument(_))
    ));
    assert!(known_solution_problem(3, 4, 10.0, 0.0, 0).is_err());
}

/// Regression (fuzz::drivers seed 0x1500f022, cases 36641 and 44216): with `d` close to `n` the
/// default sparse sign sketch (`s = d = 8` here, a random ±1/√8 matrix) is singular on a
/// full-rank `A` for some seeds; the drivers then redo the sketch as a Gaussian one (singular
/// with probability 0) instead of calling `A` rank deficient.
#[test]
fn singular_sparse_sign_sketch_of_a_full_rank_operator_falls_back_to_gaussian() {
    let (n, d) = (7, 8);
    let a = Op::dense(
        n,
        n,
        (0..n * n)
            .map(|k| f64::from(u8::from(k % (n + 1) == 0)))
            .collect(),
    )
    .unwrap(); // I₇
    let b: Vec<f64> = (0..n).map(|i| 1.0 + i as f64).collect();
    let opts = |seed| LstsqOptions {
        sketch_factor: Some(1.0),
        seed,
        ..LstsqOptions::default()
    };
    let e = Engine::cpu();
    let mut singular = 0;
    for seed in 0..64u64 {
        // Is S (d×n, = S·I) singular for this seed? Its 7 singular values from faer.
        let s = e
            .apply::<f64>(
                &Op::sparse_sign(d, n, 8, seed).unwrap(),
                Mat::<f64>::identity(n, n).as_ref(),
            )
            .unwrap();
        let sv = s.singular_values().unwrap();
        if sv[n - 1] <= sv[0] * n as f64 * f64::EPSILON {
            singular += 1;
        }
        for (what, x) in [
            ("lstsq", lstsq(&e, &a, &b, &opts(seed)).map(|r| r.x)),
            (
                "lstsq_sketch_solve",
                lstsq_sketch_solve(&e, &a, &b, &opts(seed)).map(|r| r.x),
            ),
        ] {
            let x = x.unwrap_or_else(|err| panic!("{what}, seed {seed}: {err}"));
            let err = x
                .iter()
                .zip(&b)
                .map(|(u, v)| (u - v).abs())
                .fold(0.0, f64::max);
            // I₇·x = b is solved by a QR of a well-conditioned 8×7 sketch: a few u of |b| ≤ 7.
            assert!(err <= 1e-13, "{what}, seed {seed}: max|x − b| = {err:.3e}");
        }
    }
    report(&format!(
        "sparse sign 8x7, s = 8: {singular} of 64 seeds singular"
    ));
    assert!(
        singular > 0,
        "no seed gave a singular sparse sketch: the test exercises nothing"
    );
}
