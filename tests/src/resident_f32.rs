//! Iterative drivers stay resident on f32 engines (issue 10, item 4): Nyström PCG on the CPU f32
//! engine and on the GPU makes the same bulk transfers and plan builds for 5 and 40 iterations,
//! its f32 solution is within a bound derived from `u₃₂` and `κ` of an f64 solve, and its
//! reported true residual is the one recomputed here in f64; the range finder's power iterations
//! move `O(l²)` bytes each, independent of the operator's size.

use crate::support::{Rng, report, test_device};
use faer::Mat;
use linops::randnla::nystrom::{CgOptions, NystromOptions, nystrom, nystrom_pcg};
use linops::randnla::range::{RangeOptions, range_finder};
use linops::{Engine, Op, TransferCount};

/// `u₃₂ = 2⁻²⁴`.
const U32: f64 = 5.960_464_477_539_063e-8;

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|t| t * t).sum::<f64>().sqrt()
}

/// The traffic of one `nystrom_pcg::<f32>` run of exactly `iters` iterations on `e`.
fn pcg_traffic(e: &Engine, a: &Op, mu: f64, b: &[f64], iters: usize) -> TransferCount {
    let pre = nystrom::<f32>(
        e,
        a,
        10,
        &NystromOptions {
            oversample: 4,
            seed: 5,
        },
    )
    .unwrap();
    let opts = CgOptions {
        tol: 1e-14, // below what 40 iterations (or f32) reach: the whole budget runs
        max_iter: iters,
    };
    let before = e.transfers();
    let r = nystrom_pcg::<f32>(e, a, mu, b, Some(&pre), &opts).unwrap();
    assert_eq!(r.iterations, iters, "the run must use its whole budget");
    e.transfers().since(&before)
}

/// The same bulk transfers and plan builds for 5 and 40 iterations; per iteration at most 3
/// small uploads (`α`, `−α`, `β`) and 5 small downloads (`pᵀw`, `‖p‖`, `‖w‖`, `‖r‖`, `rᵀz`).
fn check_pcg_resident(name: &str, make: &dyn Fn() -> Engine) {
    let n = 400;
    // κ(A + μI) ≈ 1e4 and a rank-10 preconditioner: far more than 40 iterations to 1e-14.
    let a = Op::diagonal((0..n).map(|j| 1.0 / (1.0 + j as f64).powi(2)).collect()).unwrap();
    let b: Vec<f64> = (0..n).map(|i| 1.0 + (i % 5) as f64).collect();
    let (t5, t40) = (
        pcg_traffic(&make(), &a, 1e-4, &b, 5),
        pcg_traffic(&make(), &a, 1e-4, &b, 40),
    );
    report(&format!(
        "{name} pcg f32: 5 iterations {t5:?}\n{name} pcg f32: 40 iterations {t40:?}"
    ));
    assert_eq!(
        (t5.bulk_uploads, t5.bulk_downloads, t5.plans),
        (t40.bulk_uploads, t40.bulk_downloads, t40.plans),
        "{name}: bulk transfers or plan builds grow with the iteration count"
    );
    assert!(
        t5.bulk_uploads >= 1 && t5.plans >= 1,
        "{name}: nothing counted"
    );
    let up = (t40.small_uploads - t5.small_uploads) as f64 / 35.0;
    let down = (t40.small_downloads - t5.small_downloads) as f64 / 35.0;
    assert!(
        up <= 3.0 && down <= 5.0,
        "{name}: {up} small uploads, {down} small downloads per iteration (max 3 and 5)"
    );
}

#[test]
fn nystrom_pcg_f32_cpu_makes_no_bulk_transfer_or_plan_per_iteration() {
    check_pcg_resident("cpu", &Engine::cpu);
}

#[test]
fn nystrom_pcg_gpu_makes_no_bulk_transfer_or_plan_per_iteration() {
    let Some(dev) = test_device(false) else {
        return;
    };
    check_pcg_resident("gpu", &|| Engine::from_device(dev.clone()));
}

/// A dense SPD `A = V·diag(λ)·Vᵀ` (`V` orthogonal from a seeded QR) with `λ` log-spaced from 1
/// down to `lmin`.
fn spd(n: usize, lmin: f64, seed: u64) -> (Mat<f64>, Vec<f64>) {
    let g = Rng::new(seed).mat(n, n);
    let v = g.qr().compute_thin_Q();
    let lam: Vec<f64> = (0..n)
        .map(|j| lmin.powf(j as f64 / (n - 1) as f64))
        .collect();
    let vl = Mat::from_fn(n, n, |i, j| v[(i, j)] * lam[j]);
    let a = &vl * v.transpose();
    (
        Mat::from_fn(n, n, |i, j| 0.5 * (a[(i, j)] + a[(j, i)])),
        lam,
    )
}

/// `‖b − (A + μI)x‖` and `‖(A + μI)‖·‖x‖ + ‖b‖` in f64.
fn residual(a: &Mat<f64>, mu: f64, x: &[f64], b: &[f64]) -> (f64, f64, f64) {
    let n = b.len();
    let xm = Mat::from_fn(n, 1, |i, _| x[i]);
    let ax = a * &xm;
    let r: Vec<f64> = (0..n).map(|i| b[i] - ax[(i, 0)] - mu * x[i]).collect();
    // |A + μI|·|x|: what the one product's rounding scales with.
    let absax = Mat::from_fn(n, n, |i, j| a[(i, j)].abs()) * Mat::from_fn(n, 1, |i, _| x[i].abs());
    let mag = norm(
        &(0..n)
            .map(|i| absax[(i, 0)] + mu * x[i].abs())
            .collect::<Vec<_>>(),
    );
    (norm(&r), mag, norm(x))
}

/// The f32 solve against an f64 one. Bound: with the normwise backward error
/// `η = ‖b − (A + μI)x‖/(‖A + μI‖·‖x‖ + ‖b‖)` (Rigal–Gaches), `‖x − x*‖/‖x*‖ ≤
/// κ·η·(1 + ‖x‖/‖x*‖)`. CG in precision `u` attains `η ≲ tol + c·(t + 1)·√n·u` after `t`
/// iterations: the products are backward stable with error `√n·u` (Higham & Mary 2019's
/// probabilistic constant for length-`n` dot products) and the recursive/true residual gap grows
/// by at most that per iteration (Greenbaum 1997, §7.3; the f32 recurrence's own terms are of the
/// same order, module docs of `randnla::nystrom`); `c = 4` covers `A`'s rounding to f32
/// (entrywise `u₃₂`) and the recurrence's terms. So `‖x₃₂ − x₆₄‖/‖x₆₄‖ ≤ 2κ·(η₃₂ + η₆₄)` up to
/// second order, with `η₃₂ ≤ tol₃₂ + 4·(t + 1)·√n·u₃₂`.
fn check_f32_accuracy(name: &str, e32: &Engine) {
    let (n, mu) = (200, 1e-3);
    let (a, lam) = spd(n, 1e-2, 41);
    let kappa = (lam[0] + mu) / (lam[n - 1] + mu);
    let op = linops::dense(a.as_ref()).unwrap();
    let b = Rng::new(43).vec(n);
    let nopts = NystromOptions {
        oversample: 10,
        seed: 7,
    };
    let e64 = Engine::cpu();
    let p64 = nystrom::<f64>(&e64, &op, 20, &nopts).unwrap();
    let opts64 = CgOptions {
        tol: 1e-13,
        max_iter: 500,
    };
    let r64 = nystrom_pcg::<f64>(&e64, &op, mu, &b, Some(&p64), &opts64).unwrap();
    assert!(r64.converged, "{name}: the f64 reference did not converge");
    let p32 = nystrom::<f32>(e32, &op, 20, &nopts).unwrap();
    let tol = 1e-6;
    let opts32 = CgOptions { tol, max_iter: 500 };
    let r32 = nystrom_pcg::<f32>(e32, &op, mu, &b, Some(&p32), &opts32).unwrap();
    assert!(r32.converged, "{name}: f32 PCG did not reach {tol:e}");
    let bn = norm(&b);
    let anorm = lam[0] + mu;
    let (res32, mag32, xn32) = residual(&a, mu, &r32.x, &b);
    let (res64, _, xn64) = residual(&a, mu, &r64.x, &b);
    // The reported true residual is the product's rounding away from the exact one: one f32
    // product with error ≤ γ_n·|A + μI|·|x| (Higham, Thm. 3.5), n + 2 for the shift and the sum.
    let gamma = (n + 2) as f64 * U32 / (1.0 - (n + 2) as f64 * U32);
    let slack = gamma * mag32 / bn;
    assert!(
        (r32.true_residual - res32 / bn).abs() <= slack,
        "{name}: reported true residual {:e}, recomputed {:e}, allowed difference {slack:e}",
        r32.true_residual,
        res32 / bn
    );
    let eta32 = res32 / (anorm * xn32 + bn);
    let eta64 = res64 / (anorm * xn64 + bn);
    let t = r32.iterations as f64;
    let eta_bound = tol + 4.0 * (t + 1.0) * (n as f64).sqrt() * U32;
    let diff: Vec<f64> = r32.x.iter().zip(&r64.x).map(|(p, q)| p - q).collect();
    let err = norm(&diff) / xn64;
    let bound = 2.0 * kappa * (eta_bound + eta64);
    report(&format!(
        "{name}: n {n}, κ {kappa:.1}, {} f32 iterations; η₃₂ {eta32:.2e} (bound {eta_bound:.2e}), \
         η₆₄ {eta64:.2e}; ‖x₃₂ − x₆₄‖/‖x₆₄‖ {err:.2e} (bound {bound:.2e})",
        r32.iterations
    ));
    assert!(
        eta32 <= eta_bound,
        "{name}: backward error {eta32:e} above {eta_bound:e} ({t} iterations)"
    );
    assert!(
        err <= bound,
        "{name}: f32 solution error {err:e} vs f64 above 2κ(η₃₂ + η₆₄) = {bound:e} (κ {kappa})"
    );
}

#[test]
fn nystrom_pcg_f32_cpu_solution_within_kappa_u32_of_f64() {
    check_f32_accuracy("cpu f32", &Engine::cpu());
}

#[test]
fn nystrom_pcg_gpu_solution_within_kappa_u32_of_f64() {
    let Some(dev) = test_device(false) else {
        return;
    };
    check_f32_accuracy("gpu", &Engine::from_device(dev));
}

/// Bulk bytes moved by `range_finder` with `q` power iterations on an `m×n` operator.
fn range_bytes<T: linops::Scalar>(m: usize, n: usize, q: usize) -> (u64, u64) {
    let e = Engine::cpu();
    let a = Rng::new(9).dense_op(m, n);
    let before = e.transfers();
    range_finder::<T>(
        &e,
        &a,
        6,
        &RangeOptions {
            power_iters: q,
            seed: 3,
        },
    )
    .unwrap();
    let t = e.transfers().since(&before);
    let small = 8 * (t.small_uploads + t.small_downloads);
    (
        t.upload_bytes + t.download_bytes - small.min(t.upload_bytes + t.download_bytes),
        t.plans,
    )
}

/// Plans built by one `orthonormalize` of a resident `m×l` matrix.
fn orth_plans<T: linops::Scalar>(m: usize, l: usize) -> u64 {
    let e = Engine::cpu();
    let x = e
        .upload(
            Mat::<T>::from_fn(m, l, |i, j| {
                T::from_f64(Rng::new((i * l + j) as u64).uniform())
            })
            .as_ref(),
        )
        .unwrap();
    let before = e.transfers();
    linops::randnla::qr::orthonormalize(&e, &x).unwrap();
    e.transfers().since(&before).plans
}

/// A power iteration moves only its `l×l` orthonormalization data (Gram matrices down, `R⁻¹`
/// up): the bytes per iteration are the same for a 200×150 and a 400×300 operator; and it builds
/// only the plans of its two orthonormalizations (the plans of `A` and `Aᵀ` are built once).
#[test]
fn range_finder_power_iterations_move_no_operator_sized_data() {
    fn per_iteration<T: linops::Scalar>(m: usize, n: usize) -> (u64, u64) {
        let (b1, p1) = range_bytes::<T>(m, n, 1);
        let (b3, p3) = range_bytes::<T>(m, n, 3);
        ((b3 - b1) / 2, (p3 - p1) / 2)
    }
    for (name, small, large, orth) in [
        (
            "f64",
            per_iteration::<f64>(200, 150),
            per_iteration::<f64>(400, 300),
            orth_plans::<f64>(200, 6),
        ),
        (
            "f32",
            per_iteration::<f32>(200, 150),
            per_iteration::<f32>(400, 300),
            orth_plans::<f32>(200, 6),
        ),
    ] {
        report(&format!(
            "range finder {name}: per power iteration (bytes, plans): 200x150 {small:?}, \
             400x300 {large:?}; one orthonormalize builds {orth} plans"
        ));
        assert_eq!(
            small, large,
            "{name}: per-iteration traffic grows with the operator's size"
        );
        assert_eq!(
            small.1,
            2 * orth,
            "{name}: a power iteration re-plans more than its two orthonormalizations"
        );
    }
}

/// Newton–Schulz (Muon's quintic, a fixed step count) and the coupled square root: the same
/// bulk transfers and plan builds for 3 and 12 steps (each iteration's GEMM plans are built once
/// and its residual comes back as one scalar), on CPU f64, CPU f32 and the GPU.
#[test]
fn matrix_function_iterations_make_no_bulk_transfer_or_plan_per_step() {
    use linops::randnla::matfun::{MatFunOptions, NsKind, polar_newton_schulz, sqrt_newton_schulz};
    let (m, n) = (60, 40);
    let a = Rng::new(21).dense_op(m, n);
    // An SPD matrix (AᵀA + I) whose square-root iteration does not stop within 12 steps only if
    // the tolerance is unreachable: tol 1e-300.
    let ad = linops::to_faer(&a);
    let spd = &(ad.transpose() * &ad) + Mat::<f64>::identity(n, n);
    let s = linops::dense(spd.as_ref()).unwrap();
    fn count<T: linops::Scalar>(
        e: &Engine,
        a: &Op,
        s: &Op,
        steps: usize,
    ) -> (TransferCount, TransferCount) {
        let opts = MatFunOptions {
            tol: Some(1e-300),
            max_iter: Some(steps),
        };
        let before = e.transfers();
        let r = polar_newton_schulz::<T>(e, a, NsKind::MuonQuintic, &opts).unwrap();
        assert_eq!(r.iterations, steps);
        let polar = e.transfers().since(&before);
        let before = e.transfers();
        let r = sqrt_newton_schulz::<T>(e, s, &opts).unwrap();
        assert!(r.iterations >= steps.min(6), "{} sqrt steps", r.iterations);
        (polar, e.transfers().since(&before))
    }
    type Run<'a> = Box<dyn Fn(usize) -> (TransferCount, TransferCount) + 'a>;
    let mut cases: Vec<(&str, Run<'_>)> = vec![
        (
            "cpu f64",
            Box::new(|k| count::<f64>(&Engine::cpu(), &a, &s, k)),
        ),
        (
            "cpu f32",
            Box::new(|k| count::<f32>(&Engine::cpu(), &a, &s, k)),
        ),
    ];
    if let Some(dev) = test_device(false) {
        let (a, s) = (&a, &s);
        cases.push((
            "gpu",
            Box::new(move |k| count::<f32>(&Engine::from_device(dev.clone()), a, s, k)),
        ));
    }
    for (name, run) in &cases {
        let ((p3, s3), (p12, s12)) = (run(3), run(12));
        report(&format!(
            "matfun {name}: polar 3 steps {p3:?}\n  12 steps {p12:?}\n  sqrt {s3:?} / {s12:?}"
        ));
        for (what, x, y) in [("polar", p3, p12), ("sqrt", s3, s12)] {
            assert_eq!(
                (x.bulk_uploads, x.bulk_downloads, x.plans),
                (y.bulk_uploads, y.bulk_downloads, y.plans),
                "{name} {what}: bulk transfers or plan builds grow with the step count"
            );
        }
    }
}
