//! The certified estimates stay resident (issue 10, "no driver makes a host round trip per
//! iteration"): `range_error`, `nystrom_error`, `randomized_svd`'s estimate, column ID and CUR
//! make the same bulk uploads, bulk downloads and plan builds for 5 and 20 Golub–Kahan steps on
//! CPU f64, CPU f32 and the GPU, with exactly two scalars down (`α`, `β`) and two up (`1/α`,
//! `1/β`) per added step; and the resident estimate agrees with a host f64 Golub–Kahan with full
//! reorthogonalization (the algorithm before it went resident, kept here as the reference).

use crate::support::{Rng, report, test_device};
use faer::Mat;
use linops::randnla::estimate::{NormEstimate, nystrom_error, range_error};
use linops::randnla::id::{IdOptions, column_id, cur};
use linops::randnla::nystrom::{Nystrom, NystromOptions, nystrom};
use linops::randnla::range::{RangeOptions, range_finder};
use linops::randnla::svd::{SvdOptions, randomized_svd};
use linops::{DType, Dist, Engine, Op, RngState, Scalar, TransferCount};

/// `u₃₂ = 2⁻²⁴`, `u₆₄ = 2⁻⁵³`.
const U32: f64 = 5.960_464_477_539_063e-8;
const U64: f64 = f64::EPSILON / 2.0;

/// The estimate of one driver with `steps` Golub–Kahan steps (`what` names it).
type Driver<'a> = dyn Fn(&Engine, usize) -> NormEstimate + 'a;

/// A `size×size` PSD operator with eigenvalues `0.8^j` (a full-rank residual after any rank-5
/// approximation, so no Krylov space is exhausted within 20 steps).
fn psd(size: usize, seed: u64) -> Op {
    let q = Rng::new(seed).mat(size, size).qr().compute_thin_Q();
    let lam: Vec<f64> = (0..size).map(|j| 0.8f64.powi(j as i32)).collect();
    let a = Mat::from_fn(size, size, |i, j| {
        (0..size).map(|t| q[(i, t)] * lam[t] * q[(j, t)]).sum()
    });
    linops::dense(a.as_ref()).unwrap()
}

/// The drivers with the number of estimates one call makes (CUR certifies its two IDs and
/// itself).
fn drivers<T: Scalar>(a: &Op, p: &Op) -> Vec<(&'static str, u64, Box<Driver<'static>>)> {
    let (a1, a2, a3, a4, p1) = (a.clone(), a.clone(), a.clone(), a.clone(), p.clone());
    vec![
        (
            "range_error",
            1,
            Box::new(move |e: &Engine, steps| {
                let b = range_finder::<T>(
                    e,
                    &a1,
                    5,
                    &RangeOptions {
                        power_iters: 0,
                        seed: 3,
                    },
                )
                .unwrap();
                let before = e.transfers();
                let r = range_error(e, &a1, &b.q, steps, 4).unwrap();
                assert!(e.transfers().since(&before).plans > 0);
                r
            }),
        ),
        (
            "nystrom_error",
            1,
            Box::new(move |e: &Engine, steps| {
                let ny = nystrom::<T>(
                    e,
                    &p1,
                    5,
                    &NystromOptions {
                        oversample: 3,
                        seed: 3,
                    },
                )
                .unwrap();
                nystrom_error(e, &p1, &ny, steps, 4).unwrap()
            }),
        ),
        (
            "randomized_svd",
            1,
            Box::new(move |e: &Engine, steps| {
                let opts = SvdOptions {
                    oversample: 3,
                    power_iters: Some(1),
                    seed: 3,
                    probes: steps,
                };
                randomized_svd::<T>(e, &a2, 5, &opts)
                    .unwrap()
                    .estimate
                    .unwrap()
            }),
        ),
        (
            "column_id",
            1,
            Box::new(move |e: &Engine, steps| {
                let opts = IdOptions {
                    probes: steps,
                    seed: 3,
                    ..IdOptions::default()
                };
                column_id::<T>(e, &a3, 5, &opts).unwrap().estimate.unwrap()
            }),
        ),
        (
            "cur",
            3,
            Box::new(move |e: &Engine, steps| {
                let opts = IdOptions {
                    probes: steps,
                    seed: 3,
                    ..IdOptions::default()
                };
                cur::<T>(e, &a4, 5, &opts).unwrap().estimate.unwrap()
            }),
        ),
    ]
}

/// The traffic of one whole driver call (factorization and estimate) on a fresh engine.
fn traffic(make: &dyn Fn() -> Engine, run: &Driver<'_>, steps: usize) -> TransferCount {
    let e = make();
    let before = e.transfers();
    let est = run(&e, steps);
    assert_eq!(est.steps, steps, "the estimate must take all {steps} steps");
    e.transfers().since(&before)
}

/// Same bulk uploads, bulk downloads and plan builds for 5 and 20 steps; the 15 extra steps of
/// each estimate move exactly 30 scalars each way (`α`, `β` down; `1/α`, `1/β` up, none of them near the
/// dtype's range limits here, so each normalization is one scaling).
fn check_resident<T: Scalar>(name: &str, make: &dyn Fn() -> Engine) {
    let a = Rng::new(31).dense_op(60, 40);
    let p = psd(40, 32);
    for (what, count, run) in drivers::<T>(&a, &p) {
        let (t5, t20) = (traffic(make, &*run, 5), traffic(make, &*run, 20));
        report(&format!(
            "{name} {what}: 5 steps {t5:?}\n{name} {what}: 20 steps {t20:?}"
        ));
        assert_eq!(
            (t5.bulk_uploads, t5.bulk_downloads, t5.plans),
            (t20.bulk_uploads, t20.bulk_downloads, t20.plans),
            "{name} {what}: bulk transfers or plan builds grow with the Golub–Kahan steps"
        );
        assert!(
            t5.plans > 0 && t5.bulk_uploads > 0,
            "{name} {what}: nothing counted"
        );
        let up = t20.small_uploads - t5.small_uploads;
        let down = t20.small_downloads - t5.small_downloads;
        assert_eq!(
            (up, down),
            (30 * count, 30 * count),
            "{name} {what}: small (uploads, downloads) for 15 more steps of {count} estimates"
        );
        // Bulk bytes: the only size that depends on the step count j is the j×j cyclic shift
        // of the basis selectors, uploaded once.
        // Every small transfer here is one scalar of the dtype.
        let sz = T::DTYPE.size_bytes();
        let bulk_up =
            |t: &TransferCount, j: u64| t.upload_bytes - sz * t.small_uploads - count * sz * j * j;
        assert_eq!(
            bulk_up(&t5, 5),
            bulk_up(&t20, 20),
            "{name} {what}: bulk upload bytes grow with the steps beyond the j×j selector shift"
        );
        let bulk_down = |t: &TransferCount| t.download_bytes - sz * t.small_downloads;
        assert_eq!(
            bulk_down(&t5),
            bulk_down(&t20),
            "{name} {what}: bulk download bytes grow with the steps"
        );
    }
}

#[test]
fn estimates_make_no_bulk_transfer_or_plan_per_step_cpu_f64() {
    check_resident::<f64>("cpu f64", &Engine::cpu);
}

#[test]
fn estimates_make_no_bulk_transfer_or_plan_per_step_cpu_f32() {
    check_resident::<f32>("cpu f32", &Engine::cpu);
}

#[test]
fn estimates_make_no_bulk_transfer_or_plan_per_step_gpu() {
    let Some(dev) = test_device(false) else {
        return;
    };
    check_resident::<f32>("gpu", &|| Engine::from_device(dev.clone()));
}

/// The reference: `steps` Golub–Kahan steps with full reorthogonalization (two passes of
/// classical Gram–Schmidt) on the host in f64 for the dense `E`, from the start the library
/// draws (the f64 Gaussian `n×1` random fill of `seed` on the CPU engine, normalized). Returns
/// the largest singular value of the bidiagonal `B_j`.
fn host_ritz(e: &Mat<f64>, steps: usize, seed: u64) -> f64 {
    let n = e.ncols();
    let cpu = Engine::cpu();
    let g = cpu
        .random_matrix(
            DType::F64,
            Dist::Gaussian,
            RngState::new(seed),
            1,
            n,
            true,
            1.0,
        )
        .unwrap();
    let g = cpu.download::<f64>(&g).unwrap();
    let norm = |x: &Mat<f64>| x.norm_l2();
    let mut v = &g * (1.0 / norm(&g));
    let (mut us, mut vs): (Vec<Mat<f64>>, Vec<Mat<f64>>) = (vec![], vec![]);
    let (mut alphas, mut betas) = (vec![], vec![]);
    let reorth = |x: &mut Mat<f64>, basis: &[Mat<f64>]| {
        for _ in 0..2 {
            for b in basis {
                let c = (b.transpose() * &*x)[(0, 0)];
                *x = &*x - b * c;
            }
        }
    };
    for j in 0..steps {
        let mut u = e * &v;
        reorth(&mut u, &us);
        let alpha = norm(&u);
        vs.push(v.clone());
        alphas.push(alpha);
        u = &u * (1.0 / alpha);
        if j + 1 == steps {
            break;
        }
        let mut w = e.transpose() * &u;
        us.push(u);
        reorth(&mut w, &vs);
        let beta = norm(&w);
        betas.push(beta);
        v = &w * (1.0 / beta);
    }
    let k = alphas.len();
    let b = Mat::from_fn(k, k, |i, j| {
        if i == j {
            alphas[i]
        } else if j == i + 1 {
            betas[i]
        } else {
            0.0
        }
    });
    b.singular_values().unwrap()[0]
}

fn host(e: &Engine, m: &linops::Matrix) -> Mat<f64> {
    e.download_f64(m).unwrap()
}

/// The resident estimate against the host f64 reference, for `range_error` and `nystrom_error`
/// (whose seed is the start's seed) at 5 and 12 steps.
///
/// Bound: both runs are Golub–Kahan with full reorthogonalization from the same start, so each
/// `θ` is the largest Ritz value of an operator within `c·j·u·‖·‖` of `E` (Barlow 2013), where
/// the resident run's operator also carries the rounding of applying `E` in the engine's
/// precision: `γ_n`-sized per product, `√n·u·‖A‖` probabilistically (Higham & Mary 2019), with
/// `u` that precision's unit roundoff. With `c = 10` for the few products per application,
/// `|θ − θ_ref| ≤ 10·j·√n·u·‖A‖₂`; the operators here have gapped spectra, where the largest
/// Ritz value depends on the operator at first order only through that perturbation.
fn check_agreement<T: Scalar>(name: &str, e: &Engine) {
    let u = if T::DTYPE == DType::F64 { U64 } else { U32 };
    let (m, n) = (60, 40);
    let a = Rng::new(41).mat(m, n);
    let op = linops::dense(a.as_ref()).unwrap();
    let a_norm = a.singular_values().unwrap()[0];
    let b = range_finder::<T>(
        e,
        &op,
        6,
        &RangeOptions {
            power_iters: 1,
            seed: 2,
        },
    )
    .unwrap();
    let q = host(e, &b.q);
    let e_range = &a - &q * (q.transpose() * &a);
    let p = psd(n, 42);
    let pd = linops::to_faer(&p);
    let ny: Nystrom = nystrom::<T>(
        e,
        &p,
        6,
        &NystromOptions {
            oversample: 3,
            seed: 2,
        },
    )
    .unwrap();
    let uu = host(e, &ny.u);
    let e_ny = &pd - Mat::from_fn(n, 6, |i, j| uu[(i, j)] * ny.lambda[j]) * uu.transpose();
    let p_norm = pd.singular_values().unwrap()[0];
    for steps in [5, 12] {
        for seed in [7, 8, 9] {
            for (what, est, dense, scale) in [
                (
                    "range_error",
                    range_error(e, &op, &b.q, steps, seed).unwrap(),
                    &e_range,
                    a_norm,
                ),
                (
                    "nystrom_error",
                    nystrom_error(e, &p, &ny, steps, seed).unwrap(),
                    &e_ny,
                    p_norm,
                ),
            ] {
                let reference = host_ritz(dense, steps, seed);
                let bound = 10.0 * steps as f64 * (n as f64).sqrt() * u * scale;
                let diff = (est.ritz - reference).abs();
                report(&format!(
                    "{name} {what}: {steps} steps, seed {seed}: resident θ {:.12e}, host f64 θ \
                     {reference:.12e}, |Δ| {diff:.2e} (bound {bound:.2e})",
                    est.ritz
                ));
                assert_eq!(est.steps, steps, "{name} {what}: steps");
                assert!(
                    diff <= bound,
                    "{name} {what}: {steps} steps, seed {seed}: resident θ {} vs host f64 θ \
                     {reference}: |Δ| {diff:e} > {bound:e}",
                    est.ritz
                );
            }
        }
    }
}

#[test]
fn resident_estimate_matches_host_f64_golub_kahan_cpu_f64() {
    check_agreement::<f64>("cpu f64", &Engine::cpu());
}

#[test]
fn resident_estimate_matches_host_f64_golub_kahan_cpu_f32() {
    check_agreement::<f32>("cpu f32", &Engine::cpu());
}

#[test]
fn resident_estimate_matches_host_f64_golub_kahan_gpu() {
    let Some(dev) = test_device(false) else {
        return;
    };
    check_agreement::<f32>("gpu", &Engine::from_device(dev));
}

/// A residual whose norm `α` is so small that `1/α` overflows f64 (`A·2⁻¹⁰³⁰`, `‖E‖ ≈ 2⁻¹⁰²⁸`):
/// the resident normalization applies `1/α` as exact powers of two and a factor near 1, so the
/// estimate is `2⁻¹⁰³⁰` times the unscaled one. Tolerance: the scaled vectors' entries are
/// subnormal (absolute rounding `2⁻¹⁰⁷⁵` against a norm near `2⁻¹⁰²⁸`, `√n·2⁻⁴⁷ ≈ 5e-14` relative
/// per operation); over 12 steps of a few dozen operations each, `1e-9` relative.
#[test]
fn estimate_normalizes_when_the_reciprocal_norm_overflows() {
    let e = Engine::cpu();
    let a = Rng::new(51).mat(60, 40);
    let op = linops::dense(a.as_ref()).unwrap();
    let s = 2f64.powi(-1000) * 2f64.powi(-30);
    let tiny = linops::dense(Mat::from_fn(60, 40, |i, j| a[(i, j)] * s).as_ref()).unwrap();
    let b = range_finder::<f64>(
        &e,
        &op,
        5,
        &RangeOptions {
            power_iters: 0,
            seed: 3,
        },
    )
    .unwrap();
    let base = range_error(&e, &op, &b.q, 12, 4).unwrap();
    let before = e.transfers();
    let small = range_error(&e, &tiny, &b.q, 12, 4).unwrap();
    let t = e.transfers().since(&before);
    let ratio = small.bound / s / base.bound;
    report(&format!(
        "estimate at 2^-1030: bound {:e} = 2^-1030·{:e} (ratio {ratio}), {t:?}",
        small.bound,
        small.bound / s
    ));
    assert!(
        1.0 / small.ritz == f64::INFINITY,
        "1/α must overflow for this test to mean anything"
    );
    assert!(
        (ratio - 1.0).abs() <= 1e-9,
        "scaled estimate {:e}, expected 2^-1030·{:e}",
        small.bound,
        base.bound
    );
    // 12 α and 11 β, each normalization two scalings (2^1000, then the rest).
    assert_eq!(t.small_uploads, 2 * 23, "{t:?}");
}
