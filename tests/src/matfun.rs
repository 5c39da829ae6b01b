//! GEMM-only matrix functions (`linops::randnla::matfun`) against faer's SVD and
//! eigendecomposition on small matrices, on cpu f64, cpu f32 and gpu f32.

use crate::support::{gpu_engines, report};
use faer::{Mat, Side};
use linops::randnla::matfun::{
    MatFunOptions, NsKind, inverse_root, polar_newton_schulz, sqrt_newton_schulz,
};
use linops::{Engine, Op, Scalar};
use linops_core::rng::{Dist, RngState};

fn gauss(m: usize, n: usize, seed: u64) -> Mat<f64> {
    let r = RngState::new(seed);
    Mat::from_fn(m, n, |i, j| {
        f64::from(r.entry(Dist::Gaussian, i as u64, j as u64))
    })
}

/// `U·diag(s)·Vᵀ` with `s` log-spaced in `[1/kappa, 1]`.
fn with_spectrum(m: usize, n: usize, kappa: f64, seed: u64) -> Mat<f64> {
    let u = gauss(m, n, seed).qr().compute_thin_Q();
    let v = gauss(n, n, seed + 1).qr().compute_thin_Q();
    let s = Mat::from_fn(n, n, |i, j| {
        if i == j {
            kappa.powf(-(i as f64) / (n - 1) as f64)
        } else {
            0.0
        }
    });
    &u * &s * v.transpose()
}

fn host<T: Scalar>(e: &Engine, m: &linops::Matrix) -> Mat<f64> {
    let h = e.download::<T>(m).unwrap();
    Mat::from_fn(h.nrows(), h.ncols(), |i, j| h[(i, j)].to_f64())
}

fn fro(m: &Mat<f64>) -> f64 {
    m.norm_l2()
}

fn run_all<T: Scalar>(e: &Engine, name: &str, u: f64) {
    let (m, n) = (48, 24);
    // Cubic polar: converges to U·Vᵀ; error ≤ κ·(residual floor) by the polar perturbation bound.
    let a = with_spectrum(m, n, 100.0, 1);
    let svd = a.thin_svd().unwrap();
    let polar = svd.U() * svd.V().transpose();
    let op = linops::dense(a.as_ref()).unwrap();
    let r = polar_newton_schulz::<T>(e, &op, NsKind::Cubic, &MatFunOptions::default()).unwrap();
    let err = fro(&(host::<T>(e, &r.x) - &polar)) / fro(&polar);
    report(&format!(
        "{name} cubic NS: {} its, ‖XᵀX−I‖ = {:.2e}, polar err {err:.2e}",
        r.iterations, r.residual
    ));
    assert!(r.converged, "{name}: cubic NS did not converge");
    assert!(r.residual <= 4.0 * n as f64 * u * 100.0);
    assert!(
        err <= 100.0 * 100.0 * n as f64 * u,
        "{name}: polar error {err}"
    );
    // Muon quintic, 5 steps: σ_i = p⁵(σ_i/‖A‖_F) exactly in exact arithmetic.
    let r =
        polar_newton_schulz::<T>(e, &op, NsKind::MuonQuintic, &MatFunOptions::default()).unwrap();
    let sv = host::<T>(e, &r.x).singular_values().unwrap();
    let s0 = a.singular_values().unwrap();
    let f = fro(&a);
    let p = |s: f64| 3.4445 * s - 4.7750 * s.powi(3) + 2.0315 * s.powi(5);
    let mut want: Vec<f64> = s0
        .iter()
        .map(|&s| (0..5).fold(s / f, |x, _| p(x)))
        .collect();
    want.sort_by(|x, y| y.partial_cmp(x).unwrap());
    let mut got = sv.clone();
    got.sort_by(|x, y| y.partial_cmp(x).unwrap());
    let dev = got
        .iter()
        .zip(&want)
        .map(|(g, w)| (g - w).abs())
        .fold(0.0, f64::max);
    report(&format!(
        "{name} quintic: σ ∈ [{:.3}, {:.3}], max |σ − p⁵(σ₀)| = {dev:.2e}",
        got[n - 1],
        got[0]
    ));
    // Forward error of 5 steps: slope of p is ≤ 3.45, so rounding u·n grows by ≤ 3.45⁵ ≈ 490.
    assert!(dev <= 500.0 * n as f64 * u + 1e-12);
    // Scalar analysis of p⁵ on a fine grid: σ₀ ∈ [0.006, 1] ↦ [0.682, 1.135]; σ₀ ∈ [0.003, 1] ↦
    // [0.682, 1.203]. This input has σ_min/‖A‖_F ≈ 0.005.
    assert!(s0[n - 1] / f >= 0.003 && got[n - 1] >= 0.68 && got[0] <= 1.21);
    // Coupled sqrt / inverse sqrt of an SPD matrix: compare with the eigendecomposition.
    let b = with_spectrum(n, n, 1.0, 3);
    let spd =
        &b * Mat::from_fn(n, n, |i, j| {
            if i == j {
                10f64.powf(-2.0 * i as f64 / (n - 1) as f64)
            } else {
                0.0
            }
        }) * b.transpose();
    let evd = spd.self_adjoint_eigen(Side::Lower).unwrap();
    let (q, l) = (evd.U().to_owned(), evd.S().column_vector().to_owned());
    let fun = |g: &dyn Fn(f64) -> f64| {
        &q * Mat::from_fn(n, n, |i, j| if i == j { g(l[i]) } else { 0.0 }) * q.transpose()
    };
    let sop = linops::dense(spd.as_ref()).unwrap();
    let r = sqrt_newton_schulz::<T>(e, &sop, &MatFunOptions::default()).unwrap();
    let es = fro(&(host::<T>(e, &r.x) - fun(&|x| x.sqrt()))) / fro(&fun(&|x| x.sqrt()));
    let ei = fro(&(host::<T>(e, r.inverse.as_ref().unwrap()) - fun(&|x| 1.0 / x.sqrt())))
        / fro(&fun(&|x| 1.0 / x.sqrt()));
    report(&format!(
        "{name} sqrt NS: {} its, ‖Y²−A‖/‖A‖ = {:.2e}, err sqrt {es:.2e}, inv sqrt {ei:.2e}",
        r.iterations, r.residual
    ));
    // κ(A) = 100: the conditioning of the square root is ≤ κ^{1/2}, of its inverse ≤ κ^{3/2}.
    assert!(r.converged && r.residual <= 10.0 * 4.0 * n as f64 * u * 10.0);
    assert!(es <= 10.0 * 4.0 * n as f64 * u * 10.0 && ei <= 1000.0 * 4.0 * n as f64 * u);
    for pw in [2u32, 4] {
        let r = inverse_root::<T>(e, &sop, pw, &MatFunOptions::default()).unwrap();
        let want = fun(&|x| x.powf(-1.0 / f64::from(pw)));
        let er = fro(&(host::<T>(e, &r.x) - &want)) / fro(&want);
        report(&format!(
            "{name} inverse {pw}-th root: {} its, ‖M−I‖ = {:.2e}, err {er:.2e}",
            r.iterations, r.residual
        ));
        assert!(
            r.converged && er <= 1000.0 * 4.0 * n as f64 * u,
            "{name} p={pw}: {er}"
        );
    }
}

#[test]
fn matrix_functions_match_faer_cpu() {
    run_all::<f64>(&Engine::cpu(), "cpu f64", f64::EPSILON / 2.0);
    run_all::<f32>(&Engine::cpu(), "cpu f32", f64::from(f32::EPSILON) / 2.0);
}

#[test]
fn matrix_functions_match_faer_gpu() {
    let Some((e, _)) = gpu_engines() else { return };
    run_all::<f32>(&e, "gpu f32", f64::from(f32::EPSILON) / 2.0);
}

#[test]
fn matrix_function_bad_input() {
    let e = Engine::cpu();
    let wide = Op::dense(2, 3, vec![1.0; 6]).unwrap();
    assert!(
        polar_newton_schulz::<f64>(
            &e,
            &wide,
            NsKind::Cubic,
            &MatFunOptions {
                tol: None,
                max_iter: Some(10)
            }
        )
        .is_err()
    );
    assert!(
        sqrt_newton_schulz::<f64>(
            &e,
            &wide,
            &MatFunOptions {
                tol: None,
                max_iter: Some(10)
            }
        )
        .is_err()
    );
    let i = Op::identity(3).unwrap();
    assert!(
        inverse_root::<f64>(
            &e,
            &i,
            3,
            &MatFunOptions {
                tol: None,
                max_iter: Some(10)
            }
        )
        .is_err()
    );
    assert!(
        polar_newton_schulz::<f64>(
            &e,
            &i,
            NsKind::Cubic,
            &MatFunOptions {
                tol: Some(-1.0),
                max_iter: Some(10)
            }
        )
        .is_err()
    );
    assert!(
        polar_newton_schulz::<f64>(
            &e,
            &i,
            NsKind::Cubic,
            &MatFunOptions {
                tol: None,
                max_iter: Some(0)
            }
        )
        .is_err()
    );
}
