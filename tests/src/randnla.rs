//! Accuracy of the randomized drivers (`linops::randnla`) against faer's exact SVD on a spectrum
//! zoo, on cpu f64, cpu f32 and gpu f32.
//!
//! Test matrices are `A = U·diag(σ)·Vᵀ` (300×200) with `U`, `V` the Q factors of seeded uniform
//! matrices. Bounds come from theory:
//! - randomized SVD with `p = 10`, `q = 2` on polynomial and exponential decay: `‖A − UΣVᵀ‖₂ ≤
//!   1.5·σ_{k+1}` (the acceptance criterion), plus the precision floor `n·u·σ₁`;
//! - every zoo member: HMT Cor. 10.9 (probability ≥ 1 − 3e^{-p}) on the power-iterated matrix,
//!   `‖(I − QQᵀ)A‖ ≤ [(1 + 16√(1 + k/(p+1)))·σ_{k+1}^{2q+1} + 8√(k+p)/(p+1)·(Σ_{j>k} σ_j^{2(2q+1)})^{1/2}]^{1/(2q+1)}`,
//!   plus `σ_{k+1}` for the truncation (HMT §9.4), plus the floor;
//! - singular values within the error (Weyl), the HMT §4.3 estimate above the true error;
//! - CholeskyQR2: `‖QᵀQ − I‖_F ≤ 6(mk + k(k+1))·u` (Yamamoto et al. 2015), the Householder path on
//!   rank-deficient input.

use crate::support::{Rng, gpu_engines, report};
use faer::Mat;
use linops::randnla::qr::{QrMethod, orthonormalize};
use linops::randnla::range::adaptive_range_finder;
use linops::randnla::svd::{SvdOptions, block_krylov_svd, randomized_svd};
use linops::{DType, Engine, Matrix, Op, Scalar};

const M: usize = 300;
const N: usize = 200;
const K: usize = 10;

fn orthogonal(rows: usize, cols: usize, seed: u64) -> Mat<f64> {
    Rng::new(seed).mat(rows, cols).qr().compute_thin_Q()
}

/// The zoo: (name, σ sorted nonincreasing).
fn zoo() -> Vec<(&'static str, Vec<f64>)> {
    let mut rng = Rng::new(0x200);
    let mut z: Vec<(&str, Vec<f64>)> = vec![
        ("polynomial", (1..=N).map(|j| (j as f64).powi(-2)).collect()),
        (
            "exponential",
            (1..=N).map(|j| 0.7f64.powi(j as i32 - 1)).collect(),
        ),
        (
            "step",
            (1..=N).map(|j| if j <= K { 1.0 } else { 1e-3 }).collect(),
        ),
        (
            "noisy low rank",
            (1..=N)
                .map(|j| {
                    if j <= K {
                        1.0 + 0.1 * j as f64
                    } else {
                        1e-2 * (1.0 + 0.5 * rng.uniform())
                    }
                })
                .collect(),
        ),
        // Kahan-like: geometric decay from 1 to 1e-12 over the whole spectrum.
        (
            "kahan-like",
            (0..N)
                .map(|j| 10f64.powf(-12.0 * j as f64 / (N - 1) as f64))
                .collect(),
        ),
    ];
    for (_, s) in &mut z {
        s.sort_by(|a, b| b.total_cmp(a));
    }
    z
}

fn build(sigma: &[f64], seed: u64) -> Mat<f64> {
    let u = orthogonal(M, N, seed);
    let v = orthogonal(N, N, seed + 1);
    let us = Mat::from_fn(M, N, |i, j| u[(i, j)] * sigma[j]);
    &us * v.transpose()
}

fn to_host(e: &Engine, m: &Matrix) -> Mat<f64> {
    match m.dtype() {
        DType::F64 => e.download::<f64>(m).unwrap(),
        DType::F32 => {
            let h = e.download::<f32>(m).unwrap();
            Mat::from_fn(h.nrows(), h.ncols(), |i, j| f64::from(h[(i, j)]))
        }
    }
}

fn spectral(m: &Mat<f64>) -> f64 {
    m.singular_values().unwrap()[0]
}

fn u_of(d: DType) -> f64 {
    match d {
        DType::F32 => f64::from(f32::EPSILON) / 2.0,
        DType::F64 => f64::EPSILON / 2.0,
    }
}

fn hmt_bound(sigma: &[f64], k: usize, p: usize, q: usize) -> f64 {
    let e = 2.0 * q as f64 + 1.0;
    let tail: f64 = sigma[k..]
        .iter()
        .map(|s| s.powf(2.0 * e))
        .sum::<f64>()
        .sqrt();
    let kk = k as f64;
    let pp = p as f64;
    let b = (1.0 + 16.0 * (1.0 + kk / (pp + 1.0)).sqrt()) * sigma[k].powf(e)
        + 8.0 * (kk + pp).sqrt() / (pp + 1.0) * tail;
    b.powf(1.0 / e) + sigma[k]
}

fn svd_checks<T: Scalar>(e: &Engine, label: &str) {
    let u = u_of(T::DTYPE);
    let floor = N as f64 * u; // σ₁ = 1 for every zoo member except noisy low rank (×2)
    for (zi, (name, sigma)) in zoo().into_iter().enumerate() {
        let a = build(&sigma, 0x1000 + zi as u64);
        let op = linops::dense(a.as_ref()).unwrap();
        let s1 = sigma[0];
        for (driver, opts) in [
            (
                "rsvd",
                SvdOptions {
                    oversample: 10,
                    power_iters: 2,
                    seed: 11,
                    probes: 10,
                },
            ),
            (
                "block krylov",
                SvdOptions {
                    oversample: 5,
                    power_iters: 2,
                    seed: 12,
                    probes: 10,
                },
            ),
        ] {
            let r = if driver == "rsvd" {
                randomized_svd::<T>(e, &op, K, &opts)
            } else {
                block_krylov_svd::<T>(e, &op, K, &opts)
            }
            .unwrap_or_else(|err| panic!("{label} {name} {driver}: {err}"));
            let (uh, vh) = (to_host(e, &r.u), to_host(e, &r.v));
            let us = Mat::from_fn(M, K, |i, j| uh[(i, j)] * r.s[j]);
            let err = spectral(&(&a - &us * vh.transpose()));
            let what = format!(
                "{label} {name} {driver}: error {err:e}, sigma_k+1 {:e}, estimate {:e}, fallbacks {}",
                sigma[K], r.error_estimate, r.householder_fallbacks
            );
            report(&what);
            let fl = floor * s1;
            assert!(
                err <= hmt_bound(&sigma, K, opts.oversample, opts.power_iters) + fl,
                "{what}: HMT bound"
            );
            if matches!(name, "polynomial" | "exponential") {
                assert!(err <= 1.5 * sigma[K] + fl, "{what}: above 1.5 sigma_k+1");
            }
            assert!(
                r.error_estimate >= err * (1.0 - 1e-6) - fl,
                "{what}: estimate below error"
            );
            for i in 0..K {
                assert!(
                    (r.s[i] - sigma[i]).abs() <= err + fl,
                    "{what}: sigma_{i} = {} vs {}",
                    r.s[i],
                    sigma[i]
                );
            }
        }
    }
}

fn qr_checks<T: Scalar>(e: &Engine, label: &str) {
    let u = u_of(T::DTYPE);
    let (m, k) = (M, 20);
    let x = Rng::new(0x0E).mat(m, k);
    let xt = Mat::<T>::from_fn(m, k, |i, j| T::from_f64(x[(i, j)]));
    let f = orthonormalize(e, &e.upload(xt.as_ref()).unwrap()).unwrap();
    assert_eq!(
        f.method,
        QrMethod::CholeskyQr2,
        "{label}: well-conditioned input"
    );
    let q = to_host(e, &f.q);
    let orth = (q.transpose() * &q - Mat::<f64>::identity(k, k)).norm_l2();
    let bound = 6.0 * ((m * k) as f64 + (k * (k + 1)) as f64) * u;
    report(&format!(
        "{label} CholeskyQR2: ||QtQ - I||_F = {orth:e} (u = {u:e}, bound {bound:e})"
    ));
    assert!(orth <= bound, "{label}: orthogonality {orth:e} > {bound:e}");
    let xr = Mat::from_fn(m, k, |i, j| xt[(i, j)].to_f64());
    let resid = (&xr - &q * &f.r).norm_l2() / xr.norm_l2();
    assert!(resid <= bound, "{label}: ||X - QR||/||X|| = {resid:e}");
    // rank-deficient: column 3 = column 0 + column 1
    let xd = Mat::<T>::from_fn(m, k, |i, j| {
        if j == 3 {
            xt[(i, 0)] + xt[(i, 1)]
        } else {
            xt[(i, j)]
        }
    });
    let fd = orthonormalize(e, &e.upload(xd.as_ref()).unwrap()).unwrap();
    assert_eq!(
        fd.method,
        QrMethod::Householder,
        "{label}: rank-deficient input (cond {:e})",
        fd.cond_estimate
    );
    let qd = to_host(e, &fd.q);
    let od = (qd.transpose() * &qd - Mat::<f64>::identity(k, k)).norm_l2();
    assert!(od <= bound, "{label}: Householder orthogonality {od:e}");
}

fn adaptive_checks<T: Scalar>(e: &Engine, label: &str) {
    let sigma: Vec<f64> = (1..=N).map(|j| 0.7f64.powi(j as i32 - 1)).collect();
    let a = build(&sigma, 0x77);
    let op: Op = linops::dense(a.as_ref()).unwrap();
    let tol = 1e-3;
    let r = adaptive_range_finder::<T>(e, &op, tol, 5, 10, 100, 21).unwrap();
    let q = to_host(e, &r.q);
    let err = spectral(&(&a - &q * (q.transpose() * &a)));
    let l = q.ncols();
    report(&format!(
        "{label} adaptive range: rank {l}, estimate {:e}, true {err:e}",
        r.estimate
    ));
    assert!(r.converged && r.estimate <= tol, "{label}: not converged");
    assert!(
        err <= r.estimate,
        "{label}: true error {err:e} above estimate {:e}",
        r.estimate
    );
    // the basis cannot be much larger than needed: σ_l must not be far below tol/(10√(2/π)·√n)
    assert!(
        sigma[l - 5] >= tol / (10.0 * (N as f64).sqrt() * 8.0),
        "{label}: basis of {l} too large"
    );
}

#[test]
fn randnla_cpu_f64() {
    let e = Engine::cpu();
    qr_checks::<f64>(&e, "cpu f64");
    svd_checks::<f64>(&e, "cpu f64");
    adaptive_checks::<f64>(&e, "cpu f64");
}

#[test]
fn randnla_cpu_f32() {
    let e = Engine::cpu();
    qr_checks::<f32>(&e, "cpu f32");
    svd_checks::<f32>(&e, "cpu f32");
    adaptive_checks::<f32>(&e, "cpu f32");
}

#[test]
fn randnla_gpu_f32() {
    let Some((g, _)) = gpu_engines() else {
        report("SKIPPED randnla on gpu f32: no adapter");
        return;
    };
    qr_checks::<f32>(&g, "gpu f32");
    svd_checks::<f32>(&g, "gpu f32");
    adaptive_checks::<f32>(&g, "gpu f32");
}

#[test]
fn randnla_rejects_bad_parameters() {
    let e = Engine::cpu();
    let op = linops::dense(Rng::new(1).mat(20, 10).as_ref()).unwrap();
    let opts = SvdOptions::default();
    assert!(randomized_svd::<f64>(&e, &op, 0, &opts).is_err());
    assert!(randomized_svd::<f64>(&e, &op, 5, &opts).is_err()); // 5 + 10 > 10
    assert!(
        block_krylov_svd::<f64>(
            &e,
            &op,
            2,
            &SvdOptions {
                oversample: 2,
                ..opts
            }
        )
        .is_err()
    ); // 4·3 > 10
    assert!(adaptive_range_finder::<f64>(&e, &op, f64::NAN, 2, 2, 5, 0).is_err());
    assert!(adaptive_range_finder::<f64>(&e, &op, 1e-3, 0, 2, 5, 0).is_err());
    if let Some((g, _)) = gpu_engines() {
        assert!(
            randomized_svd::<f64>(
                &g,
                &op,
                2,
                &SvdOptions {
                    oversample: 2,
                    ..opts
                }
            )
            .is_err()
        );
    }
}
