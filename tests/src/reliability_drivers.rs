//! Reliability of the randomized drivers (`linops::randnla`, `stream`, `amm`, `sampling`) on inputs
//! a caller can pass (issue 15): no panic, no silent wrong answer, typed errors for sizes beyond
//! the documented limit, and homogeneity (`A → 2^e·A`, `b → 2^e·b` scales the answer) across the
//! exponent range of the precision.
//!
//! Bit-exact checks are made where the algorithm is homogeneous under power-of-two scaling
//! (multiplying by `2^e` is exact in binary floating point, so every product, quotient, square
//! root of an even power and comparison of ratios gives the same bits, scaled, as long as nothing
//! under- or overflows); elsewhere the tolerance is stated with its origin.

use crate::support::{Rng, report};
use faer::Mat;
use linops::randnla::id::{IdOptions, column_id};
use linops::randnla::lstsq::{LstsqOptions, lstsq, lstsq_sketch_solve};
use linops::randnla::matfun::{
    MatFunOptions, NsKind, inverse_root, polar_newton_schulz, sqrt_newton_schulz,
};
use linops::randnla::nystrom::{CgOptions, NystromOptions, nystrom, nystrom_pcg};
use linops::randnla::qr::{QrMethod, orthonormalize};
use linops::randnla::range::{AdaptiveRangeOptions, adaptive_range_finder};
use linops::randnla::streaming::{BlockOja, FrequentDirections};
use linops::randnla::svd::{SvdOptions, block_krylov_svd, randomized_svd};
use linops::randnla::trace::{TraceOptions, hutch_plus_plus, hutchinson};
use linops::sampling::{LeverageParams, leverage_scores};
use linops::stream::{SketchAccumulator, SketchFamily, SketchSpec};
use linops::{DType, Engine, Error, Matrix, Op};
use linops_core::rng::RngState;

/// `2^e` as an f64 (exact for `e` in `-1074..=1023`).
fn pow2(e: i32) -> f64 {
    2f64.powi(e)
}

fn host(e: &Engine, m: &Matrix) -> Mat<f64> {
    match m.dtype() {
        DType::F64 => e.download::<f64>(m).unwrap(),
        DType::F32 => {
            let h = e.download::<f32>(m).unwrap();
            Mat::from_fn(h.nrows(), h.ncols(), |i, j| f64::from(h[(i, j)]))
        }
    }
}

fn u_of(d: DType) -> f64 {
    match d {
        DType::F32 => f64::from(f32::EPSILON) / 2.0,
        DType::F64 => f64::EPSILON / 2.0,
    }
}

/// `‖QᵀQ − I‖_F`.
fn orth_loss(q: &Mat<f64>) -> f64 {
    let g = q.transpose() * q;
    (&g - Mat::<f64>::identity(g.nrows(), g.ncols())).norm_l2()
}

fn scaled_mat(a: &Mat<f64>, s: f64) -> Mat<f64> {
    Mat::from_fn(a.nrows(), a.ncols(), |i, j| a[(i, j)] * s)
}

fn same_bits(a: &Mat<f64>, b: &Mat<f64>) -> bool {
    a.nrows() == b.nrows()
        && a.ncols() == b.ncols()
        && (0..a.ncols())
            .all(|j| (0..a.nrows()).all(|i| a[(i, j)].to_bits() == b[(i, j)].to_bits()))
}

// ---------------------------------------------------------------------------------------------
// 1. Sizes: k + oversample and the Krylov basis use checked arithmetic.

#[test]
fn svd_drivers_reject_overflowing_sketch_sizes() {
    let e = Engine::cpu();
    let a = linops::dense(Rng::new(1).mat(30, 20).as_ref()).unwrap();
    for oversample in [usize::MAX, usize::MAX - 1, usize::MAX / 2 + 1] {
        let opts = SvdOptions {
            oversample,
            ..SvdOptions::default()
        };
        for (name, r) in [
            ("randomized_svd", randomized_svd::<f64>(&e, &a, 2, &opts)),
            (
                "block_krylov_svd",
                block_krylov_svd::<f64>(&e, &a, 2, &opts),
            ),
        ] {
            match r {
                Err(Error::InvalidArgument(msg)) => {
                    assert!(
                        msg.contains("oversample") && msg.contains(&oversample.to_string()),
                        "{name}: the message names the sizes: {msg}"
                    );
                }
                other => panic!("{name}, oversample {oversample}: {other:?}"),
            }
        }
    }
    // (k + p)(q + 1) and q + 1 themselves overflow: the basis size is named.
    for (oversample, power_iters) in [(2, usize::MAX), (2, usize::MAX / 2), (usize::MAX / 4, 5)] {
        let opts = SvdOptions {
            oversample,
            power_iters: Some(power_iters),
            ..SvdOptions::default()
        };
        match block_krylov_svd::<f64>(&e, &a, 2, &opts) {
            Err(Error::InvalidArgument(msg)) => assert!(msg.contains("power_iters"), "{msg}"),
            other => panic!("block_krylov_svd p = {oversample}, q = {power_iters}: {other:?}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Least squares under scaling.

#[test]
fn lstsq_solves_scaled_right_hand_sides() {
    let e = Engine::cpu();
    let eye = Op::identity(3).unwrap();
    for s in [1e200, 1e-200, 1e300, 1e-300] {
        let b = [s, 2.0 * s, 3.0 * s];
        let r = lstsq(&e, &eye, &b, &LstsqOptions::default()).unwrap();
        // A = I: the answer is b, to the LSQR tolerance (1e-15) plus a few rounding errors.
        for (i, (x, want)) in r.x.iter().zip(b).enumerate() {
            assert!(
                (x - want).abs() <= 1e-14 * want,
                "lstsq(I, {s:e}·[1, 2, 3]): x[{i}] = {x:e}, expected {want:e}"
            );
        }
        assert!(r.converged);
        assert!(r.residual_norm.is_finite() && r.residual_norm <= 1e-14 * s * 14f64.sqrt());
    }
    // An f32 sketch of an f64 right-hand side far beyond f32's range: b enters the f32 engine
    // scaled by a power of two, so sketch-and-solve works as for b of size 1.
    let a = Rng::new(20).mat(30, 3);
    let op = linops::dense(a.as_ref()).unwrap();
    let b = Rng::new(21).vec(30);
    let f32_opts = LstsqOptions {
        sketch_dtype: Some(DType::F32),
        ..LstsqOptions::default()
    };
    let base = lstsq_sketch_solve(&e, &op, &b, &f32_opts).unwrap();
    for ex in [-900, -200, 200, 900] {
        let bs: Vec<f64> = b.iter().map(|v| v * pow2(ex)).collect();
        let r = lstsq_sketch_solve(&e, &op, &bs, &f32_opts)
            .unwrap_or_else(|err| panic!("f32 sketch, b·2^{ex}: {err}"));
        for i in 0..3 {
            assert_eq!(
                r.x[i].to_bits(),
                (base.x[i] * pow2(ex)).to_bits(),
                "b·2^{ex}: x[{i}]"
            );
        }
        let r = lstsq(&e, &op, &bs, &f32_opts).unwrap();
        assert!(r.converged && r.fallback.is_none(), "b·2^{ex}");
    }
}

#[test]
fn lstsq_is_homogeneous_in_b_and_a() {
    let e = Engine::cpu();
    let a = Rng::new(7).mat(40, 5);
    let op = linops::dense(a.as_ref()).unwrap();
    let b = Rng::new(8).vec(40);
    let opts = LstsqOptions::default();
    let base = lstsq(&e, &op, &b, &opts).unwrap();
    // b → 2^e·b: LSQR only forms ratios of overflow-safe norms, so every iterate scales exactly.
    for ex in (-1000..=1000).step_by(125) {
        let bs: Vec<f64> = b.iter().map(|v| v * pow2(ex)).collect();
        let r = lstsq(&e, &op, &bs, &opts).unwrap();
        for i in 0..5 {
            assert_eq!(
                r.x[i].to_bits(),
                (base.x[i] * pow2(ex)).to_bits(),
                "b·2^{ex}: x[{i}] = {:e} vs {:e}",
                r.x[i],
                base.x[i] * pow2(ex)
            );
        }
        assert_eq!(r.iterations, base.iterations);
        assert_eq!(r.converged, base.converged);
    }
    // A → 2^e·A: x → 2^-e·x. The host QR of the sketch is not bit-homogeneous, so compare to the
    // forward error bound of the solve: cond(A)·(a few u) with cond(A) ≈ 3 for a 40×5 uniform A.
    for ex in [-900, -500, 500, 900] {
        let op_s = linops::dense(scaled_mat(&a, pow2(ex)).as_ref()).unwrap();
        let r = lstsq(&e, &op_s, &b, &opts).unwrap();
        let err = (0..5)
            .map(|i| (r.x[i] * pow2(ex) - base.x[i]).abs())
            .fold(0.0, f64::max);
        let xmax = base.x.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        assert!(err <= 1e-13 * xmax, "A·2^{ex}: error {err:e}");
    }
}

#[test]
fn lstsq_sketch_solve_reports_finite_residuals_of_any_scale() {
    let e = Engine::cpu();
    let a = Op::dense(3, 1, vec![1.0, 1.0, 1.0]).unwrap();
    let b = [1.0, -2.0, 0.5];
    let base = lstsq_sketch_solve(&e, &a, &b, &LstsqOptions::default()).unwrap();
    // At least the optimal residual ‖b − mean(b)·1‖ (√(0.5² + 2.5² + 1²) for mean −1/6... computed).
    let mean = b.iter().sum::<f64>() / 3.0;
    let opt = b.iter().map(|v| (v - mean).powi(2)).sum::<f64>().sqrt();
    assert!(base.residual_norm >= opt * (1.0 - 1e-15));
    for s in [1e200, 1e-200, 1e300, 1e-300] {
        let bs: Vec<f64> = b.iter().map(|v| v * s).collect();
        let r = lstsq_sketch_solve(&e, &a, &bs, &LstsqOptions::default()).unwrap();
        // The sketch of s·b is s times the sketch of b up to one rounding per entry (s is not a
        // power of two), and the solve is linear: a few u relative.
        let want = base.residual_norm * s;
        assert!(
            (r.residual_norm - want).abs() <= 1e-13 * want,
            "scale {s:e}: residual norm {:e}, expected {want:e}",
            r.residual_norm
        );
    }
}

/// An f32 sketch of an operator whose entries lie below f32's normal range (2⁻¹⁴³ here) is
/// flushed to a few significant bits; the least-squares drivers redo it in f64 and say so
/// (fuzzer seed 0x15301800 case 303560: sketch-and-solve returned x with error 7.7e-2 relative).
/// Consistent problem `b = A·x*`: the f64 answer is accurate to `O((m + n)·u₆₄·cond)`.
#[test]
fn lstsq_drivers_redo_f32_sketches_of_underflowing_operators_in_f64() {
    let e = Engine::cpu();
    let (m, n) = (15, 10);
    let mut rng = Rng::new(303_560);
    let q = rng.mat(m, n).qr().compute_thin_Q();
    let s = pow2(-143);
    let a = Mat::from_fn(m, n, |i, j| q[(i, j)] * (1.0 + j as f64 / n as f64) * s);
    let xs: Vec<f64> = (0..n).map(|j| 1.0 + j as f64).collect();
    let b: Vec<f64> = (0..m)
        .map(|i| (0..n).map(|j| a[(i, j)] * xs[j]).sum())
        .collect();
    let op = linops::dense(a.as_ref()).unwrap();
    let opts = LstsqOptions {
        sketch_dtype: Some(DType::F32),
        ..LstsqOptions::default()
    };
    for (name, r) in [
        (
            "lstsq_sketch_solve",
            lstsq_sketch_solve(&e, &op, &b, &opts).unwrap(),
        ),
        ("lstsq", lstsq(&e, &op, &b, &opts).unwrap()),
    ] {
        let err =
            r.x.iter()
                .zip(&xs)
                .map(|(x, t)| (x - t).abs())
                .fold(0.0f64, f64::max);
        let why = r.fallback.clone().unwrap_or_default();
        report(&format!(
            "{name}, A at 2^-143, f32 sketch asked: max|x − x*| = {err:.1e}; {why}"
        ));
        assert_eq!(r.sketch_dtype, DType::F64, "{name}: {why}");
        assert!(why.contains("2^-102"), "{name}: fallback {:?}", r.fallback);
        // cond(A) = 1.9, ‖x*‖ ≈ 20: 1e3·(m + n)·u₆₄·‖x*‖.
        assert!(
            err <= 1e3 * (m + n) as f64 * u_of(DType::F64) * 20.0,
            "{name}: {err:e}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 3. orthonormalize on scaled input.

/// CholeskyQR2's orthogonality bound (Yamamoto et al. 2015): `6(mk + k(k+1))·u`.
fn cholqr2_bound(m: usize, k: usize, u: f64) -> f64 {
    6.0 * (m * k + k * (k + 1)) as f64 * u
}

fn check_qr(e: &Engine, x: &Matrix, xh: &Mat<f64>, label: &str) -> linops::randnla::qr::QrFactors {
    let f = orthonormalize(e, x).unwrap_or_else(|err| panic!("{label}: {err}"));
    let (m, k) = x.shape();
    let u = u_of(x.dtype());
    let q = host(e, &f.q);
    let loss = orth_loss(&q);
    assert!(
        loss <= cholqr2_bound(m, k, u),
        "{label}: ‖QᵀQ − I‖ = {loss:e}"
    );
    // X = Q·R column by column: ‖x_j − Q·r_j‖ ≤ c·m·k·u·‖x_j‖ (both paths are columnwise backward
    // stable; c = 8 covers CholeskyQR2's two passes).
    let qr = &q * &f.r;
    for j in 0..k {
        let d = (0..m)
            .map(|i| (qr[(i, j)] - xh[(i, j)]).powi(2))
            .sum::<f64>()
            .sqrt();
        let xn = (0..m).map(|i| xh[(i, j)].powi(2)).sum::<f64>().sqrt();
        assert!(
            d <= 8.0 * (m * k) as f64 * u * xn,
            "{label}: column {j}: ‖x − QR‖ = {d:e}, ‖x‖ = {xn:e}"
        );
    }
    f
}

#[test]
fn orthonormalize_accepts_scaled_input() {
    let e = Engine::cpu();
    let x = Rng::new(3).mat(50, 4);
    // f64: 1e200 and 1e-160 (the Gram matrix over- and underflows without pre-scaling).
    for s in [1e200, 1e-160, 1e300, 1e-300] {
        let xs = Mat::from_fn(50, 4, |i, j| x[(i, j)] * s);
        let xm = e.upload(xs.as_ref()).unwrap();
        // Compare in units of s (the host check squares entries).
        let f = check_qr(&e, &xm, &xs.as_ref().to_owned(), &format!("f64 ×{s:e}"));
        assert_eq!(f.method, QrMethod::CholeskyQr2, "f64 ×{s:e}");
    }
    // f32: 1e30 (and 1e-30).
    for s in [1e30f32, 1e-30] {
        let xs = Mat::<f32>::from_fn(50, 4, |i, j| x[(i, j)] as f32 * s);
        let xm = e.upload(xs.as_ref()).unwrap();
        let xh = Mat::from_fn(50, 4, |i, j| f64::from(xs[(i, j)]));
        let f = check_qr(&e, &xm, &xh, &format!("f32 ×{s:e}"));
        assert_eq!(f.method, QrMethod::CholeskyQr2, "f32 ×{s:e}");
    }
}

#[test]
fn orthonormalize_is_homogeneous_under_powers_of_two() {
    let e = Engine::cpu();
    let x = Rng::new(4).mat(30, 3);
    let base = orthonormalize(&e, &e.upload(x.as_ref()).unwrap()).unwrap();
    let q0 = host(&e, &base.q);
    for ex in (-1000..=1000).step_by(50) {
        let xs = scaled_mat(&x, pow2(ex));
        let f = orthonormalize(&e, &e.upload(xs.as_ref()).unwrap()).unwrap();
        assert_eq!(f.method, base.method, "2^{ex}");
        assert!(
            same_bits(&host(&e, &f.q), &q0),
            "Q of 2^{ex}·X differs from Q of X"
        );
        assert!(
            same_bits(&f.r, &scaled_mat(&base.r, pow2(ex))),
            "R of 2^{ex}·X is not 2^{ex}·R"
        );
    }
    // f32 across its exponent range (entries stay normal).
    let x32 = Mat::<f32>::from_fn(30, 3, |i, j| x[(i, j)] as f32);
    let b32 = orthonormalize(&e, &e.upload(x32.as_ref()).unwrap()).unwrap();
    let q32 = host(&e, &b32.q);
    for ex in (-100..=100).step_by(10) {
        let xs = Mat::<f32>::from_fn(30, 3, |i, j| x32[(i, j)] * 2f32.powi(ex));
        let f = orthonormalize(&e, &e.upload(xs.as_ref()).unwrap()).unwrap();
        assert!(same_bits(&host(&e, &f.q), &q32), "f32 Q of 2^{ex}·X");
    }
}

#[test]
fn orthonormalize_falls_back_when_the_gram_matrix_fails() {
    let e = Engine::cpu();
    // Columns 400 orders of magnitude apart: any common scaling over- or underflows one of the
    // Gram entries; the Householder path handles it (columnwise backward stable).
    let mut x = Rng::new(5).mat(20, 2);
    for i in 0..20 {
        x[(i, 0)] *= 1e200;
        x[(i, 1)] *= 1e-200;
    }
    let f = check_qr(
        &e,
        &e.upload(x.as_ref()).unwrap(),
        &x,
        "columns 1e200 and 1e-200",
    );
    assert_eq!(f.method, QrMethod::Householder);
    // Non-finite input (here from an overflowing axpby on the engine) is named, not
    // orthonormalized.
    let mut y = Rng::new(6).mat(10, 2);
    y[(3, 1)] = 1e300;
    let ym = e.upload(y.as_ref()).unwrap();
    let yinf = e.axpby(1e10, &ym, 0.0, &ym).unwrap();
    assert!(matches!(
        orthonormalize(&e, &yinf),
        Err(Error::NonFinite { row: 3, col: 1, .. })
    ));
}

// ---------------------------------------------------------------------------------------------
// 4. Matrix functions of tiny and huge operators.

#[test]
fn matfun_accepts_tiny_and_huge_operators() {
    let e = Engine::cpu();
    let a = {
        let g = Rng::new(9).mat(6, 6);
        // SPD with eigenvalues in [1, 7]: gᵀg/6 + I
        let mut s = g.transpose() * &g;
        for i in 0..6 {
            s[(i, i)] += 1.0;
        }
        s
    };
    let op = linops::dense(a.as_ref()).unwrap();
    let polar0 = host(
        &e,
        &polar_newton_schulz::<f64>(&e, &op, NsKind::Cubic, &MatFunOptions::default())
            .unwrap()
            .x,
    );
    let quint0 = host(
        &e,
        &polar_newton_schulz::<f64>(&e, &op, NsKind::MuonQuintic, &MatFunOptions::default())
            .unwrap()
            .x,
    );
    let sqrt0 = sqrt_newton_schulz::<f64>(&e, &op, &MatFunOptions::default()).unwrap();
    let inv0 = host(
        &e,
        &inverse_root::<f64>(&e, &op, 4, &MatFunOptions::default())
            .unwrap()
            .x,
    );
    for ex in (-1000..=1000).step_by(100) {
        let s = pow2(ex);
        let ops = linops::dense(scaled_mat(&a, s).as_ref()).unwrap();
        // A/‖A‖_F has the same bits for every 2^e: the polar iterations are bit-identical.
        let p = polar_newton_schulz::<f64>(&e, &ops, NsKind::Cubic, &MatFunOptions::default())
            .unwrap_or_else(|err| panic!("polar of 2^{ex}·A: {err}"));
        assert!(
            same_bits(&host(&e, &p.x), &polar0),
            "cubic polar of 2^{ex}·A"
        );
        let q =
            polar_newton_schulz::<f64>(&e, &ops, NsKind::MuonQuintic, &MatFunOptions::default())
                .unwrap();
        assert!(same_bits(&host(&e, &q.x), &quint0), "quintic of 2^{ex}·A");
        // √(2^e·A) = 2^{e/2}·√A exactly for even e.
        let r = sqrt_newton_schulz::<f64>(&e, &ops, &MatFunOptions::default()).unwrap();
        assert!(
            same_bits(
                &host(&e, &r.x),
                &scaled_mat(&host(&e, &sqrt0.x), pow2(ex / 2))
            ),
            "sqrt of 2^{ex}·A"
        );
        assert!(r.converged && r.residual <= 10.0 * sqrt0.residual.max(f64::EPSILON));
        // (2^e·A)^{-1/4} = 2^{-e/4}·A^{-1/4}: c = ‖A‖_F^{1/4} comes from powf, so within a few u.
        let v = inverse_root::<f64>(&e, &ops, 4, &MatFunOptions::default()).unwrap();
        let want = scaled_mat(&inv0, pow2(-ex / 4));
        let d = (&host(&e, &v.x) - &want).norm_max() / want.norm_max();
        assert!(
            d <= 1e-13,
            "inverse 4th root of 2^{ex}·A: relative difference {d:e}"
        );
    }
    // 1e-200 (not a power of two): the polar factor of an SPD matrix is I.
    let tiny = linops::dense(scaled_mat(&a, 1e-200).as_ref()).unwrap();
    let p =
        polar_newton_schulz::<f64>(&e, &tiny, NsKind::Cubic, &MatFunOptions::default()).unwrap();
    let x = host(&e, &p.x);
    assert!((&x - Mat::<f64>::identity(6, 6)).norm_max() <= 1e-12 && p.converged);
    // f32: 1e-30 and 1e30.
    for s in [1e-30, 1e30] {
        let ops = linops::dense(scaled_mat(&a, s).as_ref()).unwrap();
        let p = polar_newton_schulz::<f32>(&e, &ops, NsKind::Cubic, &MatFunOptions::default())
            .unwrap_or_else(|err| panic!("f32 polar of {s:e}·A: {err}"));
        assert!((&host(&e, &p.x) - Mat::<f64>::identity(6, 6)).norm_max() <= 1e-5);
    }
    // Only an exactly zero operator is zero.
    let zero = linops::dense(Mat::<f64>::zeros(3, 3).as_ref()).unwrap();
    for r in [
        polar_newton_schulz::<f64>(
            &e,
            &zero,
            NsKind::Cubic,
            &MatFunOptions {
                tol: None,
                max_iter: Some(10),
            },
        )
        .map(|_| ()),
        sqrt_newton_schulz::<f64>(
            &e,
            &zero,
            &MatFunOptions {
                tol: None,
                max_iter: Some(10),
            },
        )
        .map(|_| ()),
        inverse_root::<f64>(
            &e,
            &zero,
            2,
            &MatFunOptions {
                tol: None,
                max_iter: Some(10),
            },
        )
        .map(|_| ()),
    ] {
        assert!(matches!(r, Err(Error::InvalidArgument(m)) if m.contains("zero operator")));
    }
    let sub = linops::dense(
        Mat::<f64>::from_fn(3, 3, |i, j| if i == j { 4.9e-324 } else { 0.0 }).as_ref(),
    )
    .unwrap();
    let p = polar_newton_schulz::<f64>(&e, &sub, NsKind::Cubic, &MatFunOptions::default()).unwrap();
    assert!((&host(&e, &p.x) - Mat::<f64>::identity(3, 3)).norm_max() <= 1e-12);
}

// ---------------------------------------------------------------------------------------------
// 5. The adaptive range finder keeps QᵀQ = I past the numerical rank.

#[test]
fn adaptive_range_finder_stays_orthonormal_past_the_rank() {
    let e = Engine::cpu();
    let diag = Op::diagonal(vec![1.0, 0.5, 0.0, 0.0]).unwrap();
    for block in [1, 2, 3] {
        let r = adaptive_range_finder::<f64>(
            &e,
            &diag,
            0.0,
            &AdaptiveRangeOptions {
                block,
                probes: 3,
                max_rank: Some(4),
                seed: 11,
            },
        )
        .unwrap();
        let q = host(&e, &r.q);
        let loss = orth_loss(&q);
        let bound = cholqr2_bound(4, q.ncols(), f64::EPSILON / 2.0);
        report(&format!(
            "adaptive diag(1, .5, 0, 0), block {block}: {} columns, ‖QᵀQ − I‖ = {loss:.2e}, \
             estimate {:.2e}",
            q.ncols(),
            r.estimate
        ));
        assert!(
            loss <= bound,
            "block {block}: ‖QᵀQ − I‖ = {loss:e} > {bound:e}"
        );
        // The basis spans the range: (I − QQᵀ)·A = 0 to rounding.
        let a = linops::to_faer(&diag);
        let resid = &a - &q * (q.transpose() * &a);
        assert!(resid.norm_max() <= 1e-15, "block {block}");
    }
    // A random rank-5 operator (60×40), tol 0: the basis stops at the numerical rank or grows
    // with orthonormal columns; either way QᵀQ = I to the CholeskyQR2 bound.
    let mut rng = Rng::new(12);
    let low = &rng.mat(60, 5) * rng.mat(5, 40);
    let op = linops::dense(low.as_ref()).unwrap();
    for (block, t) in [(2usize, DType::F64), (3, DType::F64), (2, DType::F32)] {
        let r = match t {
            DType::F64 => adaptive_range_finder::<f64>(
                &e,
                &op,
                0.0,
                &AdaptiveRangeOptions {
                    block,
                    probes: 4,
                    max_rank: Some(30),
                    seed: 13,
                },
            ),
            DType::F32 => adaptive_range_finder::<f32>(
                &e,
                &op,
                0.0,
                &AdaptiveRangeOptions {
                    block,
                    probes: 4,
                    max_rank: Some(30),
                    seed: 13,
                },
            ),
        }
        .unwrap();
        let q = host(&e, &r.q);
        let loss = orth_loss(&q);
        let bound = cholqr2_bound(60, q.ncols(), u_of(t));
        report(&format!(
            "adaptive rank-5 60×40 {t} block {block}: {} columns, ‖QᵀQ − I‖ = {loss:.2e}",
            q.ncols()
        ));
        assert!(
            loss <= bound,
            "{t} block {block}: ‖QᵀQ − I‖ = {loss:e} > {bound:e}"
        );
        assert!(q.ncols() >= 5 && !r.converged);
    }
}

// ---------------------------------------------------------------------------------------------
// 6. Nyström: the zero operator in both precisions; homogeneity.

#[test]
fn nystrom_treats_the_zero_operator_alike_in_f32_and_f64() {
    let e = Engine::cpu();
    let zero = linops::dense(Mat::<f64>::zeros(10, 10).as_ref()).unwrap();
    let o = NystromOptions {
        oversample: 2,
        seed: 1,
    };
    for t in [DType::F64, DType::F32] {
        let r = match t {
            DType::F64 => nystrom::<f64>(&e, &zero, 3, &o),
            DType::F32 => nystrom::<f32>(&e, &zero, 3, &o),
        }
        .unwrap_or_else(|err| panic!("nystrom {t} of the zero operator: {err}"));
        // The shift perturbs the eigenvalues by at most ν (module docs): 0 ≤ λ ≤ ν, with ν
        // relative to ‖Ω‖₂ = 1 (√n·2u) in both precisions.
        let nu = 10f64.sqrt() * 2.0 * u_of(t);
        assert!(
            r.shift >= nu && r.shift.is_finite(),
            "{t}: shift {}",
            r.shift
        );
        assert!(
            r.lambda.iter().all(|&l| (0.0..=r.shift).contains(&l)),
            "{t}: {:?}",
            r.lambda
        );
        let u = host(&e, &r.u);
        assert!(orth_loss(&u) <= cholqr2_bound(10, 3, u_of(t)), "{t}");
    }
}

#[test]
fn nystrom_is_homogeneous() {
    let e = Engine::cpu();
    let g = Rng::new(14).mat(30, 6);
    let a = &g * g.transpose(); // PSD, rank 6
    let o = NystromOptions {
        oversample: 3,
        seed: 2,
    };
    let base = nystrom::<f64>(&e, &linops::dense(a.as_ref()).unwrap(), 4, &o).unwrap();
    for ex in (-1000..=1000).step_by(100) {
        let op = linops::dense(scaled_mat(&a, pow2(ex)).as_ref()).unwrap();
        let r = nystrom::<f64>(&e, &op, 4, &o).unwrap_or_else(|err| panic!("2^{ex}: {err}"));
        for i in 0..4 {
            let want = base.lambda[i] * pow2(ex);
            assert_eq!(
                r.lambda[i].to_bits(),
                want.to_bits(),
                "2^{ex}: λ[{i}] {:e} vs {want:e}",
                r.lambda[i]
            );
        }
        assert!(same_bits(&host(&e, &r.u), &host(&e, &base.u)), "2^{ex}: U");
    }
}

// ---------------------------------------------------------------------------------------------
// 7. Size limits are checked before any allocation proportional to them.

fn is_limit(r: &Result<impl std::fmt::Debug, Error>, name: &str) -> bool {
    match r {
        Err(err @ Error::DeviceLimit { .. }) => {
            let msg = err.to_string();
            assert!(msg.contains(name), "the limit error names {name}: {msg}");
            true
        }
        _ => false,
    }
}

#[test]
fn driver_sizes_are_checked_before_allocation() {
    let e = Engine::cpu();
    let huge = 1usize << 40;
    let fd = FrequentDirections::new(4, huge);
    assert!(is_limit(&fd, "ell"), "{fd:?}");
    let fd = FrequentDirections::new(4, usize::MAX);
    assert!(is_limit(&fd, "ell"), "{fd:?}");
    let fd = FrequentDirections::new(huge, 2);
    assert!(is_limit(&fd, "d"), "{fd:?}");
    let oja = BlockOja::new(huge, 1, None, 0);
    assert!(is_limit(&oja, "d"), "{oja:?}");
    let eye3 = Op::identity(3).unwrap();
    let h = hutchinson::<f64>(
        &e,
        &eye3,
        &TraceOptions {
            matvecs: huge,
            seed: 0,
        },
    );
    assert!(is_limit(&h, "probes"), "{h:?}");
    let a = linops::dense(Rng::new(15).mat(20, 10).as_ref()).unwrap();
    let id = column_id::<f64>(
        &e,
        &a,
        2,
        &IdOptions {
            oversample: 1_000_000,
            ..IdOptions::default()
        },
    );
    assert!(is_limit(&id, "oversample"), "{id:?}");
    let id = column_id::<f64>(
        &e,
        &a,
        2,
        &IdOptions {
            probes: huge,
            ..IdOptions::default()
        },
    );
    assert!(is_limit(&id, "probes"), "{id:?}");
    let ls = lstsq(
        &e,
        &eye3,
        &[1.0, 2.0, 3.0],
        &LstsqOptions {
            sketch_factor: Some(1e9),
            ..LstsqOptions::default()
        },
    );
    assert!(is_limit(&ls, "sketch_factor"), "{ls:?}");
    let sv = randomized_svd::<f64>(
        &e,
        &a,
        2,
        &SvdOptions {
            probes: huge,
            oversample: 2,
            ..SvdOptions::default()
        },
    );
    assert!(is_limit(&sv, "probes"), "{sv:?}");
    let ad = adaptive_range_finder::<f64>(
        &e,
        &a,
        1e-3,
        &AdaptiveRangeOptions {
            block: 2,
            probes: huge,
            max_rank: Some(8),
            seed: 0,
        },
    );
    assert!(is_limit(&ad, "probes"), "{ad:?}");
    // An operator whose blocks alone exceed the limit: n×l for n = 2^40.
    let big = Op::identity(huge).unwrap();
    let hp = hutch_plus_plus::<f64>(
        &e,
        &big,
        &TraceOptions {
            matvecs: 30,
            seed: 0,
        },
    );
    assert!(is_limit(&hp, "hutch++"), "{hp:?}");
    let pn = polar_newton_schulz::<f64>(
        &e,
        &Op::identity(1 << 20).unwrap(),
        NsKind::Cubic,
        &MatFunOptions {
            tol: None,
            max_iter: Some(5),
        },
    );
    assert!(is_limit(&pn, "newton-schulz"), "{pn:?}");
    // Streaming sketch: a d×n partial sum with d = 2³¹ from a spec that is itself valid.
    let spec = SketchSpec::new(SketchFamily::Gaussian, 1 << 31, 10, RngState::new(1)).unwrap();
    let mut acc = SketchAccumulator::new(spec).unwrap();
    let push = acc.push(&e, 0, Mat::<f64>::ones(10, 4).as_ref());
    assert!(is_limit(&push, "sketch accumulator"), "{push:?}");
    // Leverage scores with a sketch of 2³¹ rows (S is 2³¹×m) and 2³⁰ JL columns.
    let tall = linops::dense(Rng::new(22).mat(20, 3).as_ref()).unwrap();
    let lp = leverage_scores(
        &e,
        &tall,
        &LeverageParams {
            sketch_rows: 1 << 31,
            jl_cols: 8,
            rng: RngState::new(2),
        },
    );
    assert!(is_limit(&lp, "sketch_rows"), "{lp:?}");
    let lp = leverage_scores(
        &e,
        &tall,
        &LeverageParams {
            sketch_rows: 12,
            jl_cols: 1 << 30,
            rng: RngState::new(2),
        },
    );
    assert!(is_limit(&lp, "jl_cols"), "{lp:?}");
    assert_eq!(
        LeverageParams::auto(10, usize::MAX, RngState::new(0)).sketch_rows,
        usize::MAX
    );
    // Norm-proportional sampling of c = 2²³ rows of 1000-column inputs.
    let wide = Mat::<f64>::ones(4, 1000);
    let am = linops::amm::amm_norm_sampling(
        &e,
        wide.as_ref(),
        wide.as_ref(),
        1 << 23,
        Default::default(),
    );
    assert!(is_limit(&am, "amm"), "{am:?}");
}

// ---------------------------------------------------------------------------------------------
// 8. CG breakdown is reported as such.

#[test]
fn cg_breakdown_on_a_singular_system_is_named() {
    let e = Engine::cpu();
    // A = diag(1, 1, 0) is PSD and singular; b has a component in its null space, so
    // (A + 0·I)x = b has no solution and CG breaks down.
    let a = Op::diagonal(vec![1.0, 1.0, 0.0]).unwrap();
    let b = [1.0, 2.0, 3.0];
    match nystrom_pcg::<f64>(&e, &a, 0.0, &b, None, &CgOptions::default()) {
        Err(Error::InvalidArgument(msg)) => {
            assert!(
                msg.contains("breakdown") && msg.contains("iteration"),
                "{msg}"
            );
        }
        other => panic!("singular system: {other:?}"),
    }
    // The same with a Nyström preconditioner.
    let pre = nystrom::<f64>(
        &e,
        &a,
        1,
        &NystromOptions {
            oversample: 1,
            seed: 4,
        },
    )
    .unwrap();
    match nystrom_pcg::<f64>(&e, &a, 0.0, &b, Some(&pre), &CgOptions::default()) {
        Err(Error::InvalidArgument(msg)) => assert!(msg.contains("breakdown"), "{msg}"),
        other => panic!("singular system, preconditioned: {other:?}"),
    }
}

#[test]
fn cg_is_homogeneous_in_b() {
    let e = Engine::cpu();
    let a = Op::diagonal((0..20).map(|j| 0.8f64.powi(j)).collect()).unwrap();
    let b = Rng::new(16).vec(20);
    let opts = CgOptions {
        tol: 1e-12,
        max_iter: 200,
    };
    let base = nystrom_pcg::<f64>(&e, &a, 1e-3, &b, None, &opts).unwrap();
    for ex in (-1000..=1000).step_by(125) {
        let bs: Vec<f64> = b.iter().map(|v| v * pow2(ex)).collect();
        let r = nystrom_pcg::<f64>(&e, &a, 1e-3, &bs, None, &opts)
            .unwrap_or_else(|err| panic!("b·2^{ex}: {err}"));
        assert_eq!(r.iterations, base.iterations, "b·2^{ex}");
        for i in 0..20 {
            assert_eq!(
                r.x[i].to_bits(),
                (base.x[i] * pow2(ex)).to_bits(),
                "b·2^{ex}: x[{i}]"
            );
        }
        assert_eq!(r.true_residual.to_bits(), base.true_residual.to_bits());
    }
}

// ---------------------------------------------------------------------------------------------
// Homogeneity of the other drivers touched here.

#[test]
fn trace_streaming_and_products_are_homogeneous() {
    let e = Engine::cpu();
    let a = Rng::new(17).mat(12, 12);
    let base_h = hutchinson::<f64>(
        &e,
        &linops::dense(a.as_ref()).unwrap(),
        &TraceOptions {
            matvecs: 6,
            seed: 3,
        },
    )
    .unwrap();
    let base_pp = hutch_plus_plus::<f64>(
        &e,
        &linops::dense(a.as_ref()).unwrap(),
        &TraceOptions {
            matvecs: 9,
            seed: 3,
        },
    )
    .unwrap();
    for ex in (-1000..=1000).step_by(125) {
        let s = pow2(ex);
        let op = linops::dense(scaled_mat(&a, s).as_ref()).unwrap();
        let h = hutchinson::<f64>(
            &e,
            &op,
            &TraceOptions {
                matvecs: 6,
                seed: 3,
            },
        )
        .unwrap();
        assert_eq!(
            h.estimate.to_bits(),
            (base_h.estimate * s).to_bits(),
            "hutchinson 2^{ex}"
        );
        assert_eq!(
            h.std_error.to_bits(),
            (base_h.std_error * s).to_bits(),
            "std error 2^{ex}"
        );
        let p = hutch_plus_plus::<f64>(
            &e,
            &op,
            &TraceOptions {
                matvecs: 9,
                seed: 3,
            },
        )
        .unwrap();
        // Hutch++ orthonormalizes A·S on the host (Householder, not bit-homogeneous): within
        // a few u of the unscaled estimate's magnitude terms.
        let tol = 1e-13 * (base_pp.projected_trace.abs() + base_pp.estimate.abs() + 1.0) * s;
        assert!(
            (p.estimate - base_pp.estimate * s).abs() <= tol,
            "hutch++ 2^{ex}"
        );
    }
    // Frequent Directions on rows of size 1e200 (squares overflow): the sketch keeps them.
    let rows = Rng::new(18).mat(8, 3);
    let mut fd0 = FrequentDirections::new(3, 2).unwrap();
    fd0.update::<f64>(&e, &linops::dense(rows.as_ref()).unwrap())
        .unwrap();
    for s in [1e200, 1e-200] {
        let mut fd = FrequentDirections::new(3, 2).unwrap();
        fd.update::<f64>(&e, &linops::dense(scaled_mat(&rows, s).as_ref()).unwrap())
            .unwrap();
        let (b, b0) = (fd.sketch(), fd0.sketch());
        assert_eq!(b.nrows(), b0.nrows(), "FD ×{s:e}");
        let d = (&scaled_mat(&b, 1.0 / s) - &b0).norm_max();
        assert!(
            d <= 1e-12 * b0.norm_max(),
            "FD ×{s:e}: sketch differs by {d:e}"
        );
    }
    // Oja's step is normalized by ‖A_t·Q‖_F²: the same basis for every scale.
    let mut o0 = BlockOja::new(3, 1, Some(1.0), 5).unwrap();
    o0.update::<f64>(&e, &linops::dense(rows.as_ref()).unwrap())
        .unwrap();
    for s in [1e200, 1e-200] {
        let mut o = BlockOja::new(3, 1, Some(1.0), 5).unwrap();
        o.update::<f64>(&e, &linops::dense(scaled_mat(&rows, s).as_ref()).unwrap())
            .unwrap();
        let d = (o.basis() - o0.basis()).norm_max();
        assert!(d <= 1e-13, "oja ×{s:e}: basis differs by {d:e}");
    }
    // Approximate products: weights ‖A_i‖·‖B_i‖ with A ~ 1e200 and B ~ 1e-200 are ~ 1.
    let x = Rng::new(19).mat(10, 2);
    let w0 = linops::amm::norm_weights(x.as_ref(), x.as_ref()).unwrap();
    let w = linops::amm::norm_weights(
        scaled_mat(&x, 1e200).as_ref(),
        scaled_mat(&x, 1e-200).as_ref(),
    )
    .unwrap();
    for i in 0..10 {
        assert!(
            (w[i] - w0[i]).abs() <= 1e-14 * w0[i],
            "norm weight {i}: {} vs {}",
            w[i],
            w0[i]
        );
    }
    let est0 = linops::amm::amm_priority(x.as_ref(), x.as_ref(), 4, Default::default()).unwrap();
    for ex in [-1000, -500, 500, 1000] {
        let est = linops::amm::amm_priority(
            scaled_mat(&x, pow2(ex)).as_ref(),
            scaled_mat(&x, pow2(-ex)).as_ref(),
            4,
            Default::default(),
        )
        .unwrap();
        assert!(
            same_bits(&est, &est0),
            "priority estimate, A·2^{ex}, B·2^-{ex}"
        );
    }
}

#[test]
fn svd_and_id_drivers_are_homogeneous() {
    let e = Engine::cpu();
    let a = {
        let mut rng = Rng::new(23);
        let s = Mat::from_fn(
            8,
            8,
            |i, j| if i == j { 0.5f64.powi(i as i32) } else { 0.0 },
        );
        rng.mat(40, 8) * s * rng.mat(8, 30)
    };
    let opts = SvdOptions {
        oversample: 4,
        power_iters: Some(1),
        ..SvdOptions::default()
    };
    let op = linops::dense(a.as_ref()).unwrap();
    let r0 = randomized_svd::<f64>(&e, &op, 3, &opts).unwrap();
    let k0 = block_krylov_svd::<f64>(&e, &op, 3, &opts).unwrap();
    let io = IdOptions {
        oversample: 4,
        ..IdOptions::default()
    };
    let id0 = column_id::<f64>(&e, &op, 4, &io).unwrap();
    // 2^-960·A keeps every entry of A (|a_ij| ≥ 2^-62) normal, so the scaled input is exact.
    assert!(a.col_iter().all(|c| c.iter().all(|v| v.abs() >= pow2(-62))));
    for ex in (-960..=960).step_by(120) {
        let s = pow2(ex);
        let ops = linops::dense(scaled_mat(&a, s).as_ref()).unwrap();
        // Gaussian test matrices, CholeskyQR2 and the power-of-two-normalized core SVD are all
        // homogeneous: σ scales exactly and the singular vectors keep their bits.
        for (name, r, base) in [
            ("rsvd", randomized_svd::<f64>(&e, &ops, 3, &opts), &r0),
            (
                "block krylov",
                block_krylov_svd::<f64>(&e, &ops, 3, &opts),
                &k0,
            ),
        ] {
            let r = r.unwrap_or_else(|err| panic!("{name} of 2^{ex}·A: {err}"));
            for i in 0..3 {
                assert_eq!(
                    r.s[i].to_bits(),
                    (base.s[i] * s).to_bits(),
                    "{name} 2^{ex}: σ[{i}]"
                );
            }
            assert!(
                same_bits(&host(&e, &r.u), &host(&e, &base.u)),
                "{name} 2^{ex}: U"
            );
            assert!(
                same_bits(&host(&e, &r.v), &host(&e, &base.v)),
                "{name} 2^{ex}: V"
            );
            // The probe estimate goes through the backend's column norms: a few u.
            let d = (r.error_estimate - base.error_estimate * s).abs();
            assert!(
                d <= 1e-13 * base.error_estimate * s,
                "{name} 2^{ex}: estimate"
            );
        }
        // Column ID: the pivoted QR of the sketch runs on the host (faer, not bit-homogeneous):
        // the same columns, and X within a few u times its growth.
        let id = column_id::<f64>(&e, &ops, 4, &io).unwrap();
        assert_eq!(id.cols, id0.cols, "column id 2^{ex}");
        let d = (&id.x - &id0.x).norm_max();
        assert!(
            d <= 1e-12 * (1.0 + id0.growth),
            "column id 2^{ex}: X differs by {d:e}"
        );
    }
}

/// Nyström of a PSD operator of rank `r` below the sketch size `ℓ`: `ΩᵀAΩ` is singular, the
/// computed `G = Ωᵀ(A + νI)Ω` has eigenvalues `ν ± rounding` in `A`'s null directions, and a
/// Cholesky inverse amplified that rounding into eigenvalue estimates above `A`'s own (fuzzer
/// seed 0x15301800 case 864977: 275·n·u·λ₁ too large). The estimates of a Nyström
/// approximation `Â ⪯ A` satisfy `λ̂_i ≤ λ_i(A)`, up to rounding of order `n·u·λ₁` (the Gram's
/// error, Higham's γ_n); 4·n·u·λ₁ leaves room for the constants (the Cholesky form reached 20 on these seeds).
#[test]
fn nystrom_estimates_stay_below_the_eigenvalues_when_the_sketch_exceeds_the_rank() {
    let e = Engine::cpu();
    let (n, rank, k) = (26, 16, 9);
    let u = u_of(DType::F64);
    let mut worst = 0.0f64;
    for seed in 0..200u64 {
        let mut rng = Rng::new(1000 + seed);
        let q = rng.mat(n, rank).qr().compute_thin_Q();
        let lam: Vec<f64> = (0..rank).map(|i| 2.0 - i as f64 / rank as f64).collect();
        // As the fuzzer built it: the product Q·diag(λ)·Qᵀ of three operators.
        let op = Op::product(vec![
            linops::dense(q.as_ref()).unwrap(),
            Op::diagonal(lam.clone()).unwrap(),
            linops::dense(q.transpose()).unwrap(),
        ])
        .unwrap();
        for oversample in [k, 14, n - k] {
            let r = nystrom::<f64>(&e, &op, k, &NystromOptions { oversample, seed }).unwrap();
            for (i, l) in r.lambda.iter().enumerate() {
                worst = worst.max((l - lam[i]) / (n as f64 * u * lam[0]));
            }
        }
    }
    report(&format!(
        "nystrom, rank {rank} < sketch: largest excess of an estimate over the eigenvalue = {worst:.2}·n·u·λ₁"
    ));
    assert!(
        worst <= 4.0,
        "estimate above the eigenvalue by {worst}·n·u·λ₁"
    );
}

/// Single-pass Nyström cannot resolve what `A·Ω` carries below its rounding: for a rank-1 `A`
/// and a one-column sketch at an angle θ to `A`'s range, `Y = A·ω` has relative error `u/cos θ`
/// and `ωᵀY` `u/cos²θ`, so `λ̂` may exceed `λ` by far more than `n·u·λ` (fuzzer, f32, 2×2:
/// 3.7e-4 relative). The driver reports that first-order slack; `λ̂ ≤ λ + shift + 2·slack` must
/// hold on every seed, and the slack must be small when the sketch is well aligned.
#[test]
fn nystrom_reports_its_rounding_slack() {
    let e = Engine::cpu();
    let (mut worst, mut worst_slack, mut tight) = (0.0f64, 0.0f64, 0usize);
    let seeds = 3000u64;
    let v = [0.6f64, 0.8];
    let lam = 1.3865;
    let a = Mat::from_fn(2, 2, |i, j| lam * v[i] * v[j]);
    let op = linops::dense(a.as_ref()).unwrap();
    for seed in 0..seeds {
        let r = nystrom::<f32>(
            &e,
            &op,
            1,
            &NystromOptions {
                oversample: 0,
                seed,
            },
        )
        .unwrap();
        let excess = r.lambda[0] - lam;
        let allowed = r.shift + 2.0 * r.rounding_slack;
        assert!(
            excess <= allowed,
            "seed {seed}: λ̂ − λ = {excess:e} > shift {:e} + 2·slack {:e}",
            r.shift,
            r.rounding_slack
        );
        worst = worst.max(excess / (2.0 * u_of(DType::F32) * lam));
        worst_slack = worst_slack.max(r.rounding_slack / lam);
        tight += usize::from(r.rounding_slack <= 100.0 * u_of(DType::F32) * lam);
    }
    report(&format!(
        "nystrom f32, rank 1, ℓ = 1, {seeds} seeds: largest λ̂ − λ = {worst:.0}·n·u·λ; largest slack \
         {worst_slack:.1e}·λ; slack ≤ 100·u·λ on {tight} seeds"
    ));
    // Most sketches are well aligned: the slack is then of the order of the rounding.
    assert!(tight * 2 > seeds as usize, "{tight} of {seeds}");
}
