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
use linops::randnla::range::{AdaptiveRangeOptions, adaptive_range_finder};
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
                    power_iters: Some(2),
                    seed: 11,
                    probes: 10,
                },
            ),
            (
                "block krylov",
                SvdOptions {
                    oversample: 5,
                    power_iters: Some(2),
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
                err <= hmt_bound(&sigma, K, opts.oversample, opts.power_iters_for(K, (M, N))) + fl,
                "{what}: HMT bound"
            );
            if matches!(name, "polynomial" | "exponential") {
                assert!(err <= 1.5 * sigma[K] + fl, "{what}: above 1.5 sigma_k+1");
            }
            assert!(
                r.error_estimate >= err * (1.0 - 1e-6) - fl,
                "{what}: estimate below error"
            );
            for (i, (got, want)) in r.s.iter().zip(&sigma).take(K).enumerate() {
                assert!(
                    (got - want).abs() <= err + fl,
                    "{what}: sigma_{i} = {got} vs {want}"
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
    let r = adaptive_range_finder::<T>(
        e,
        &op,
        tol,
        &AdaptiveRangeOptions {
            block: 5,
            probes: 10,
            max_rank: Some(100),
            seed: 21,
        },
    )
    .unwrap();
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
                power_iters: Some(2),
                ..opts
            }
        )
        .is_err()
    ); // 4·3 > 10
    // The default depth is lowered to fit: 4·(1 + 1) ≤ 10.
    let fitted = SvdOptions {
        oversample: 2,
        ..opts
    };
    assert_eq!(fitted.krylov_depth_for(2, (20, 10)), 1);
    assert!(block_krylov_svd::<f64>(&e, &op, 2, &fitted).is_ok());
    assert!(
        adaptive_range_finder::<f64>(
            &e,
            &op,
            f64::NAN,
            &AdaptiveRangeOptions {
                block: 2,
                probes: 2,
                max_rank: Some(5),
                seed: 0
            }
        )
        .is_err()
    );
    assert!(
        adaptive_range_finder::<f64>(
            &e,
            &op,
            1e-3,
            &AdaptiveRangeOptions {
                block: 0,
                probes: 2,
                max_rank: Some(5),
                seed: 0
            }
        )
        .is_err()
    );
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

// ---------------------------------------------------------------------------------------------
// Nyström, Nyström-PCG, interpolative decompositions and CUR.
//
// Bounds:
// - Nyström (Tropp, Yurtsever, Udell, Cevher 2017, Thm. 4.1): the rank-k truncation from a sketch
//   of ℓ = k + p columns satisfies E‖A − Â_k‖_* ≤ (1 + k/(p − 1))·Σ_{j>k} λ_j (trace norm; checked
//   on one fixed-seed draw), plus a precision floor 2k·(n·u·λ₁ + ν) (the rounding perturbation has
//   rank ≤ 2k and spectral size ≤ n·u·λ₁, the shift ν); and Â ⪯ A, so λ̂_i ≤ λ_i + floor.
// - Nyström-PCG (Frangella, Tropp, Udell 2023, Thm. 5.1): with ℓ ≥ 2·d_eff(μ) + 1,
//   E κ(P^{-1/2}(A + μI)P^{-1/2}) < 28, so ‖r_t‖/‖b‖ ≤ √κ(A + μI)·2((√28 − 1)/(√28 + 1))^t and
//   PCG reaches tol within t* = ⌈ln(2√κ(A+μI)/tol)/ln((√28 + 1)/(√28 − 1))⌉ iterations.
// - Column ID: ‖A − A[:, J]X‖₂ ≤ √(1 + ‖T‖²)·‖A(I − Y⁺Y)‖₂ + ‖AY⁺‖₂·‖R₂₂‖₂ (exact identity, see
//   `linops::randnla::id`), and ‖A(I − Y⁺Y)‖₂ obeys the HMT Cor. 10.9 bound (q = 0).
// - CUR with U = C⁺AR⁺: ‖A − CUR‖ ≤ ‖A − CX‖ + ‖A − XᵣᵀR‖.

use linops::randnla::id::{IdOptions, column_id, cur, row_id};
use linops::randnla::nystrom::{CgOptions, NystromOptions, nystrom, nystrom_pcg};

const NP: usize = 300;

fn psd(lambda: &[f64], seed: u64) -> Mat<f64> {
    let u = orthogonal(NP, NP, seed);
    let ul = Mat::from_fn(NP, NP, |i, j| u[(i, j)] * lambda[j]);
    let a = &ul * u.transpose();
    Mat::from_fn(NP, NP, |i, j| 0.5 * (a[(i, j)] + a[(j, i)]))
}

fn sym_eigs(m: &Mat<f64>) -> Vec<f64> {
    let n = m.nrows();
    let s = Mat::from_fn(n, n, |i, j| 0.5 * (m[(i, j)] + m[(j, i)]));
    s.self_adjoint_eigenvalues(faer::Side::Lower).unwrap()
}

fn nystrom_checks<T: Scalar>(e: &Engine, label: &str) {
    let u = u_of(T::DTYPE);
    for (name, lambda) in [
        (
            "exponential",
            (0..NP).map(|j| 0.7f64.powi(j as i32)).collect::<Vec<f64>>(),
        ),
        (
            "polynomial",
            (1..=NP).map(|j| (j as f64).powi(-3)).collect::<Vec<f64>>(),
        ),
    ] {
        let a = psd(&lambda, 0x4E5);
        let op = linops::dense(a.as_ref()).unwrap();
        let (k, p) = (10, 10);
        let r = nystrom::<T>(
            e,
            &op,
            k,
            &NystromOptions {
                oversample: p,
                seed: 5,
            },
        )
        .unwrap();
        let uh = to_host(e, &r.u);
        let approx = Mat::from_fn(NP, k, |i, j| uh[(i, j)] * r.lambda[j]) * uh.transpose();
        let err_tr: f64 = sym_eigs(&(&a - &approx)).iter().map(|v| v.abs()).sum();
        let tail: f64 = lambda[k..].iter().sum();
        let floor = 2.0 * k as f64 * (NP as f64 * u * lambda[0] + r.shift);
        let bound = (1.0 + k as f64 / (p as f64 - 1.0)) * tail + floor;
        let what = format!(
            "{label} nystrom {name}: trace-norm error {err_tr:e}, tail {tail:e}, bound {bound:e}, shift {:e}, fallbacks {}",
            r.shift, r.householder_fallbacks
        );
        report(&what);
        assert!(err_tr <= bound, "{what}");
        for (i, (got, exact)) in r.lambda.iter().zip(&lambda).enumerate() {
            assert!(
                *got <= exact + floor,
                "{what}: lambda_{i} {got} above {exact}"
            );
        }
        let orth = (uh.transpose() * &uh - Mat::<f64>::identity(k, k)).norm_max();
        assert!(
            orth <= 6.0 * (NP * k) as f64 * u,
            "{what}: U not orthonormal ({orth:e})"
        );
    }
}

fn pcg_checks<T: Scalar>(e: &Engine, label: &str, mu: f64, tol: f64) {
    // geometric spectrum 0.8^j: many distinct eigenvalues above μ, so plain CG is slow
    let lambda: Vec<f64> = (0..NP).map(|j| 0.8f64.powi(j as i32)).collect();
    let a = psd(&lambda, 0x9C6);
    let op = linops::dense(a.as_ref()).unwrap();
    let d_eff: f64 = lambda.iter().map(|l| l / (l + mu)).sum();
    let l = 2 * d_eff.ceil() as usize + 1;
    let pre = nystrom::<T>(
        e,
        &op,
        l,
        &NystromOptions {
            oversample: 0,
            seed: 9,
        },
    )
    .unwrap();
    let b = Rng::new(0xB).vec(NP);
    let opts = CgOptions { tol, max_iter: NP };
    let pcg = nystrom_pcg::<T>(e, &op, mu, &b, Some(&pre), &opts).unwrap();
    let cg = nystrom_pcg::<T>(e, &op, mu, &b, None, &opts).unwrap();
    let kappa = (lambda[0] + mu) / (lambda[NP - 1] + mu);
    let rate = (28f64.sqrt() + 1.0) / (28f64.sqrt() - 1.0);
    let t_star = ((2.0 * kappa.sqrt() / tol).ln() / rate.ln()).ceil() as usize;
    let what = format!(
        "{label} nystrom-pcg mu {mu:e}: d_eff {d_eff:.1}, l {l}, kappa {kappa:e}; pcg {} iters (bound {t_star}, true res {:e}), cg {} iters (converged {}, true res {:e})",
        pcg.iterations, pcg.true_residual, cg.iterations, cg.converged, cg.true_residual
    );
    report(&what);
    assert!(pcg.converged, "{what}: pcg did not converge");
    assert!(
        pcg.iterations <= t_star,
        "{what}: above the Frangella bound"
    );
    assert!(
        *pcg.residuals.last().unwrap() <= tol && pcg.residuals.len() == pcg.iterations + 1,
        "{what}"
    );
    // the true residual: the recursive one plus the matvec rounding (n·u·‖A+μI‖·‖x‖/‖b‖)
    let xnorm = pcg.x.iter().map(|v| v * v).sum::<f64>().sqrt();
    let bnorm = b.iter().map(|v| v * v).sum::<f64>().sqrt();
    let floor = NP as f64 * u_of(T::DTYPE) * (lambda[0] + mu) * xnorm / bnorm;
    assert!(pcg.true_residual <= tol + floor, "{what}: true residual");
    assert!(
        !cg.converged || cg.iterations >= 2 * pcg.iterations,
        "{what}: PCG not far fewer iterations than CG"
    );
}

fn id_checks<T: Scalar>(e: &Engine, label: &str) {
    let u = u_of(T::DTYPE);
    let (k, p) = (K, 10);
    for (zi, (name, sigma)) in zoo().into_iter().enumerate() {
        let a = build(&sigma, 0x3000 + zi as u64);
        let op = linops::dense(a.as_ref()).unwrap();
        let opts = IdOptions {
            oversample: p,
            power_iters: 0,
            seed: 31,
            probes: 10,
        };
        let id = column_id::<T>(e, &op, k, &opts)
            .unwrap_or_else(|err| panic!("{label} {name} column id: {err}"));
        let c = Mat::from_fn(M, k, |i, j| a[(i, id.cols[j])]);
        let err = spectral(&(&a - &c * &id.x));
        // deterministic identity bound with the computed sketch
        let y = &id.sketch;
        let ypinv = y.thin_svd().unwrap();
        let s = ypinv.S().column_vector();
        let cut = s[0] * 1e-14;
        let yp = Mat::from_fn(N, y.nrows(), |i, j| {
            (0..s.nrows())
                .filter(|&t| s[t] > cut)
                .map(|t| ypinv.V()[(i, t)] / s[t] * ypinv.U()[(j, t)])
                .sum::<f64>()
        });
        let e_s = spectral(&(&a - &a * &yp * y));
        let ayp = spectral(&(&a * &yp));
        let fl = (1.0 + id.growth) * N as f64 * u * sigma[0];
        let det = (1.0 + id.growth * id.growth).sqrt() * e_s + ayp * id.sketch_residual + fl;
        let hmt = hmt_bound(&sigma, k, p, 0) - sigma[k]; // range bound without truncation
        let what = format!(
            "{label} {name} column id: error {err:e}, sigma_k+1 {:e}, growth {:.2}, sketch resid {:e}, identity bound {det:e}, HMT(sketch) {hmt:e} vs {e_s:e}, estimate {:e}",
            sigma[k], id.growth, id.sketch_residual, id.error_estimate
        );
        report(&what);
        assert!(err <= det, "{what}: identity bound");
        assert!(e_s <= hmt + fl, "{what}: HMT bound on the sketch");
        assert!(
            id.error_estimate >= err * (1.0 - 1e-6) - fl,
            "{what}: estimate below error"
        );
        // X interpolates: X[:, J] = I
        for (i, &cj) in id.cols.iter().enumerate() {
            for t in 0..k {
                assert_eq!(id.x[(t, cj)], if t == i { 1.0 } else { 0.0 });
            }
        }
        // CUR
        let f = cur::<T>(e, &op, k, &opts).unwrap();
        let rid = row_id::<T>(
            e,
            &op,
            k,
            &IdOptions {
                seed: opts.seed + 1,
                ..opts
            },
        )
        .unwrap();
        assert_eq!(f.rows, rid.cols);
        assert_eq!(f.cols, id.cols);
        let rr = Mat::from_fn(k, N, |i, j| a[(rid.cols[i], j)]);
        let err_row = spectral(&(&a - rid.x.transpose() * &rr));
        let (ch, rh) = (to_host(e, &f.c), to_host(e, &f.r));
        let err_cur = spectral(&(&a - &ch * &f.u * &rh));
        let fl_cur = 2.0 * (1.0 + id.growth + rid.growth) * N as f64 * u * sigma[0];
        let what = format!(
            "{label} {name} CUR: error {err_cur:e}, column-ID {err:e} + row-ID {err_row:e}"
        );
        report(&what);
        assert!(err_cur <= err + err_row + fl_cur, "{what}");
    }
}

#[test]
fn randnla_nystrom_id_cpu_f64() {
    let e = Engine::cpu();
    nystrom_checks::<f64>(&e, "cpu f64");
    pcg_checks::<f64>(&e, "cpu f64", 1e-6, 1e-10);
    id_checks::<f64>(&e, "cpu f64");
}

#[test]
fn randnla_nystrom_id_cpu_f32() {
    let e = Engine::cpu();
    nystrom_checks::<f32>(&e, "cpu f32");
    pcg_checks::<f32>(&e, "cpu f32", 1e-4, 1e-5);
    id_checks::<f32>(&e, "cpu f32");
}

#[test]
fn randnla_nystrom_id_gpu_f32() {
    let Some((g, _)) = gpu_engines() else {
        report("SKIPPED randnla nystrom/id on gpu f32: no adapter");
        return;
    };
    nystrom_checks::<f32>(&g, "gpu f32");
    pcg_checks::<f32>(&g, "gpu f32", 1e-4, 1e-5);
    id_checks::<f32>(&g, "gpu f32");
}

#[test]
fn randnla_nystrom_id_reject_bad_parameters() {
    let e = Engine::cpu();
    let rect = linops::dense(Rng::new(1).mat(20, 10).as_ref()).unwrap();
    let sq = linops::dense(Mat::<f64>::identity(10, 10).as_ref()).unwrap();
    let no = NystromOptions::default();
    assert!(matches!(
        nystrom::<f64>(&e, &rect, 2, &no),
        Err(linops::Error::ShapeMismatch { .. })
    ));
    assert!(nystrom::<f64>(&e, &sq, 0, &no).is_err());
    assert!(nystrom::<f64>(&e, &sq, 2, &no).is_err()); // 2 + 10 > 10
    // an indefinite operator is detected
    let neg =
        linops::dense(Mat::<f64>::from_fn(10, 10, |i, j| if i == j { -1.0 } else { 0.0 }).as_ref())
            .unwrap();
    assert!(matches!(
        nystrom::<f64>(
            &e,
            &neg,
            2,
            &NystromOptions {
                oversample: 2,
                seed: 1
            }
        ),
        Err(linops::Error::InvalidArgument(_))
    ));
    let opts = CgOptions::default();
    let b = vec![1.0; 10];
    assert!(nystrom_pcg::<f64>(&e, &sq, -1.0, &b, None, &opts).is_err());
    assert!(nystrom_pcg::<f64>(&e, &sq, f64::NAN, &b, None, &opts).is_err());
    assert!(nystrom_pcg::<f64>(&e, &sq, 0.0, &b[..9], None, &opts).is_err());
    let mut bn = b.clone();
    bn[3] = f64::INFINITY;
    assert!(matches!(
        nystrom_pcg::<f64>(&e, &sq, 0.0, &bn, None, &opts),
        Err(linops::Error::NonFinite { .. })
    ));
    assert!(
        nystrom_pcg::<f64>(
            &e,
            &sq,
            0.0,
            &b,
            None,
            &CgOptions {
                tol: 0.0,
                max_iter: 5
            }
        )
        .is_err()
    );
    assert!(
        nystrom_pcg::<f64>(
            &e,
            &sq,
            0.0,
            &b,
            None,
            &CgOptions {
                tol: 1e-6,
                max_iter: 0
            }
        )
        .is_err()
    );
    let small = nystrom::<f64>(
        &e,
        &sq,
        2,
        &NystromOptions {
            oversample: 0,
            seed: 1,
        },
    )
    .unwrap();
    let other = linops::dense(Mat::<f64>::identity(12, 12).as_ref()).unwrap();
    assert!(nystrom_pcg::<f64>(&e, &other, 0.0, &[1.0; 12], Some(&small), &opts).is_err());
    // zero right-hand side: x = 0 at once
    let z = nystrom_pcg::<f64>(&e, &sq, 0.0, &[0.0; 10], None, &opts).unwrap();
    assert!(z.converged && z.iterations == 0);
    // ID / CUR
    let io = IdOptions::default();
    assert!(column_id::<f64>(&e, &rect, 0, &io).is_err());
    assert!(column_id::<f64>(&e, &rect, 11, &io).is_err());
    assert!(
        column_id::<f64>(
            &e,
            &rect,
            2,
            &IdOptions {
                oversample: usize::MAX,
                ..io
            }
        )
        .is_err()
    );
    assert!(cur::<f64>(&e, &rect, 0, &io).is_err());
    // rank 1 but k = 3: the sketch's R₁₁ is singular
    let r1 =
        linops::dense(Mat::<f64>::from_fn(20, 10, |i, j| (i + 1) as f64 * (j + 1) as f64).as_ref())
            .unwrap();
    assert!(matches!(
        column_id::<f64>(&e, &r1, 3, &io),
        Err(linops::Error::InvalidArgument(_))
    ));
    if let Some((g, _)) = gpu_engines() {
        assert!(
            nystrom::<f64>(
                &g,
                &sq,
                2,
                &NystromOptions {
                    oversample: 0,
                    seed: 1
                }
            )
            .is_err()
        );
        assert!(column_id::<f64>(&g, &rect, 2, &io).is_err());
    }
}
