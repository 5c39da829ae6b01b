//! Philox, distributions and dense sketches: known answers, cross-backend identity, statistics.
//!
//! - Random123 known-answer vectors for philox4x32-10 (Salmon, Moraes, Dror and Shaw, SC'11;
//!   Random123's `kat_vectors` file) on the Rust implementation and on the GPU (`philox_fill`);
//! - 10⁶ raw words, uniforms and Rademacher signs bit-identical on CPU and GPU, Gaussians within
//!   `GAUSSIAN_GPU_MAX_ULPS` (the measured maximum is printed);
//! - the CPU Box–Muller recipe against the exact formula in f64 (a few ulps);
//! - Kolmogorov–Smirnov at α = 0.001 (asymptotic critical value √(ln(2/α)/2)/√n) and moments
//!   within 5 standard errors (CLT), at fixed seeds;
//! - dense sketches: the same seed gives the same S on CPU and GPU, a submatrix equals the slice
//!   of the full operator, and a Gaussian subspace embedding meets the Davidson–Szarek bound.

use crate::support::{gpu_engines, report, test_device};
use faer::Mat;
use linops::{Engine, Op};
use linops_core::LeafOp;
use linops_core::op::DenseSketch;
use linops_core::rng::{
    Dist, GAUSSIAN_GPU_MAX_ULPS, RngState, box_muller, philox4x32_10, uniform_f64, uniform_open_f32,
};
use linops_gpu::GpuDevice;
use std::sync::Arc;

/// Random123 kat_vectors, philox4x32 10: (counter, key, expected output).
const KAT: [([u32; 4], [u32; 2], [u32; 4]); 3] = [
    (
        [0, 0, 0, 0],
        [0, 0],
        [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8],
    ),
    (
        [u32::MAX; 4],
        [u32::MAX; 2],
        [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd],
    ),
    (
        [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
        [0xa4093822, 0x299f31d0],
        [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1],
    ),
];

/// A state whose counter carries across all four words inside a 1000×1000 matrix.
fn carry_state() -> RngState {
    RngState::with_counter(
        [0xFFFF_FF80, 0xFFFF_FC00, u32::MAX, 7],
        [0x1234_5678, 0x9ABC_DEF0],
    )
}

/// ulp of an f32 value (at least the smallest normal's ulp).
fn ulp(v: f32) -> f64 {
    let a = f64::from(v.abs()).max(f64::from(f32::MIN_POSITIVE));
    2f64.powi(a.log2().floor() as i32 - 23)
}

fn both_devices() -> Option<[Arc<GpuDevice>; 2]> {
    Some([test_device(false)?, test_device(true)?])
}

/// GPU fill of `rows×cols` from `(i0, j0)` (raw bits when `dist` is None).
fn gpu_fill(
    dev: &Arc<GpuDevice>,
    rng: RngState,
    dist: Option<Dist>,
    i0: usize,
    j0: usize,
    rows: usize,
    cols: usize,
) -> Vec<f32> {
    let out = dev.alloc(rows, cols).expect("alloc");
    let mut enc = dev.encoder();
    match dist {
        None => enc.philox_fill(rng, i0, j0, &out),
        Some(d) => enc.random_fill(rng, d, i0, j0, &out),
    }
    .expect("record fill");
    enc.submit().expect("submit");
    dev.download(&out).expect("download")
}

#[test]
fn philox_known_answers_cpu() {
    for (ctr, key, want) in KAT {
        let got = philox4x32_10(ctr, key);
        assert_eq!(got, want, "philox4x32-10 ctr {ctr:08x?} key {key:08x?}");
        assert_eq!(RngState::with_counter(ctr, key).matrix_block(0, 0), want);
    }
}

#[test]
fn philox_known_answers_gpu() {
    let Some(devs) = both_devices() else { return };
    for dev in &devs {
        for (ctr, key, want) in KAT {
            let bits: Vec<u32> = gpu_fill(dev, RngState::with_counter(ctr, key), None, 0, 0, 4, 1)
                .iter()
                .map(|v| v.to_bits())
                .collect();
            assert_eq!(
                bits,
                want.to_vec(),
                "GPU philox4x32-10 (checked shaders: {}) ctr {ctr:08x?} key {key:08x?}",
                dev.checked_shaders()
            );
        }
    }
}

#[test]
fn counter_layout_carries() {
    let s = carry_state();
    // Row block 0x80 of column 0x3FF carries through all words onto counter (0, 0, 0, 8).
    assert_eq!(s.counter_at((0x3FFu128 << 32) + 0x80), [0, 0, 0, 8]);
    assert_eq!(s.counter_at((0x400u128 << 32) + 0x80), [0, 1, 0, 8]);
    assert_eq!(
        s.matrix_block(0x80 * 4 + 3, 0x3FF),
        philox4x32_10([0, 0, 0, 8], s.key)
    );
}

#[test]
fn million_draws_bit_identical_cpu_gpu() {
    let Some(devs) = both_devices() else { return };
    let s = carry_state();
    let (rows, cols) = (1000, 1000);
    let mut want = vec![0u32; rows * cols];
    for j in 0..cols {
        for i in 0..rows {
            want[i + j * rows] = s.matrix_block(i as u64, j as u64)[i % 4];
        }
    }
    for dev in &devs {
        let got = gpu_fill(dev, s, None, 0, 0, rows, cols);
        for (e, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(
                g.to_bits(),
                *w,
                "raw word at ({}, {}) of 1000x1000, checked shaders {}",
                e % rows,
                e / rows,
                dev.checked_shaders()
            );
        }
    }
}

#[test]
fn distributions_cpu_gpu() {
    let Some(devs) = both_devices() else { return };
    let s = RngState::new(0xD15C_0001);
    // A 1000×1000 block at an unaligned origin: 10⁶ draws per distribution.
    let (i0, j0, rows, cols) = (3, 5, 1000, 1000);
    let mut cpu = vec![0.0f32; rows];
    for dist in [Dist::Uniform, Dist::Rademacher, Dist::Gaussian] {
        for dev in &devs {
            let got = gpu_fill(dev, s, Some(dist), i0, j0, rows, cols);
            let mut worst = (0.0f64, 0usize);
            for c in 0..cols {
                s.column_into(dist, i0 as u64, (j0 + c) as u64, &mut cpu);
                for r in 0..rows {
                    let (g, w) = (got[r + c * rows], cpu[r]);
                    if dist == Dist::Gaussian {
                        let d = (f64::from(g) - f64::from(w)).abs() / ulp(w);
                        assert!(d.is_finite(), "gaussian NaN at ({r}, {c})");
                        if d > worst.0 {
                            worst = (d, r + c * rows);
                        }
                    } else {
                        assert_eq!(
                            g.to_bits(),
                            w.to_bits(),
                            "{dist:?} at ({}, {}): gpu {g}, cpu {w}",
                            i0 + r,
                            j0 + c
                        );
                    }
                }
            }
            if dist == Dist::Gaussian {
                let (d, e) = worst;
                report(&format!(
                    "gaussian cpu vs gpu ({}, checked shaders {}): max {d} ulps over 10^6 draws (bound {GAUSSIAN_GPU_MAX_ULPS})",
                    dev.name(),
                    dev.checked_shaders()
                ));
                assert!(
                    d <= GAUSSIAN_GPU_MAX_ULPS,
                    "gaussian at element {e}: gpu {} vs cpu {}: {d} ulps > {GAUSSIAN_GPU_MAX_ULPS}",
                    got[e],
                    {
                        s.column_into(dist, i0 as u64, (j0 + e / rows) as u64, &mut cpu);
                        cpu[e % rows]
                    }
                );
            }
        }
    }
}

/// The f32 Box–Muller recipe against the exact formula (f64 libm) over 10⁶ pairs: the
/// polynomials are Cephes' (≤ 2 ulp each), so a few ulps; we assert 4 of the f32 result's ulp
/// plus 2⁻²³·r absolute (a one-ulp error in cos or sin of size r·ulp(1)).
#[test]
fn box_muller_matches_formula() {
    let s = RngState::new(77);
    let mut worst = 0.0f64;
    for b in 0..500_000u128 {
        let w = s.block(b);
        for (w0, w1) in [(w[0], w[1]), (w[2], w[3])] {
            let (g0, g1) = box_muller(w0, w1);
            let u1 = f64::from((w0 >> 8) + 1) / 16_777_216.0;
            assert_eq!(u1 as f32, uniform_open_f32(w0));
            let theta = 2.0 * std::f64::consts::PI * f64::from(w1 >> 8) / 16_777_216.0;
            let r = (-2.0 * u1.ln()).sqrt();
            for (got, want) in [(g0, r * theta.cos()), (g1, r * theta.sin())] {
                let err = (f64::from(got) - want).abs();
                let units = err / (ulp(want as f32) + r * 2f64.powi(-23));
                assert!(
                    units <= 4.0,
                    "box_muller({w0:#x}, {w1:#x}): got {got}, exact {want}, {units} units"
                );
                worst = worst.max(units);
            }
        }
    }
    report(&format!(
        "box_muller f32 vs exact: max {worst:.3} units of ulp(g) + 2^-23·r over 10^6 values (bound 4)"
    ));
}

/// Kolmogorov–Smirnov statistic of `xs` (sorted in place) against the CDF `f`.
fn ks(xs: &mut [f64], f: impl Fn(f64) -> f64) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len() as f64;
    let mut d = 0.0f64;
    for (i, &x) in xs.iter().enumerate() {
        let fx = f(x);
        d = d.max(fx - i as f64 / n).max((i + 1) as f64 / n - fx);
    }
    d
}

/// Critical value of the KS statistic at α = 0.001 (asymptotic Kolmogorov distribution).
fn ks_critical(n: usize) -> f64 {
    ((2.0f64 / 0.001).ln() / 2.0).sqrt() / (n as f64).sqrt()
}

/// erfc with fractional error < 1.2e-7 (Chebyshev fit, Numerical Recipes §6.2).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

fn normal_cdf(x: f64) -> f64 {
    0.5 * erfc(-x / std::f64::consts::SQRT_2)
}

/// n = 10⁵ values of the matrix layout (100 rows × 1000 columns) under `dist`.
fn stream(dist: Dist, seed: u64) -> Vec<f64> {
    let s = RngState::new(seed);
    let mut col = vec![0.0f32; 100];
    let mut v = Vec::with_capacity(100_000);
    for j in 0..1000 {
        s.column_into(dist, 0, j, &mut col);
        v.extend(col.iter().map(|&x| f64::from(x)));
    }
    v
}

/// Mean within 5 standard errors of `mu`, and variance within 5 standard errors of `var`
/// (standard error of the sample variance √((μ₄ − σ⁴)/n)).
fn check_moments(what: &str, xs: &[f64], mu: f64, var: f64, mu4: f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let v = xs.iter().map(|x| (x - mu).powi(2)).sum::<f64>() / n;
    let (se_mean, se_var) = ((var / n).sqrt(), ((mu4 - var * var) / n).sqrt());
    assert!(
        (mean - mu).abs() <= 5.0 * se_mean,
        "{what}: mean {mean} vs {mu}, 5 se = {}",
        5.0 * se_mean
    );
    assert!(
        (v - var).abs() <= 5.0 * se_var,
        "{what}: variance {v} vs {var}, 5 se = {}",
        5.0 * se_var
    );
}

#[test]
fn kolmogorov_smirnov_and_moments() {
    let n = 100_000;
    let crit = ks_critical(n);
    for seed in [1u64, 0xBEEF] {
        let mut u = stream(Dist::Uniform, seed);
        check_moments("uniform f32", &u, 0.5, 1.0 / 12.0, 1.0 / 80.0);
        let d = ks(&mut u, |x| x.clamp(0.0, 1.0));
        assert!(d <= crit, "uniform f32 seed {seed}: KS D = {d} > {crit}");

        let mut g = stream(Dist::Gaussian, seed);
        check_moments("gaussian", &g, 0.0, 1.0, 3.0);
        let d = ks(&mut g, normal_cdf);
        assert!(d <= crit, "gaussian seed {seed}: KS D = {d} > {crit}");

        let r = stream(Dist::Rademacher, seed);
        assert!(r.iter().all(|&x| x == 1.0 || x == -1.0));
        check_moments("rademacher", &r, 0.0, 1.0, 1.0 + 1e-300);

        let s = RngState::new(seed);
        let mut u64s: Vec<f64> = (0..n as u128 / 2)
            .flat_map(|b| {
                let w = s.block(b);
                [uniform_f64(w[0], w[1]), uniform_f64(w[2], w[3])]
            })
            .collect();
        check_moments("uniform f64", &u64s, 0.5, 1.0 / 12.0, 1.0 / 80.0);
        let d = ks(&mut u64s, |x| x.clamp(0.0, 1.0));
        assert!(d <= crit, "uniform f64 seed {seed}: KS D = {d} > {crit}");
    }
}

#[test]
fn sketch_block_is_slice_of_full_operator() {
    for dist_sketch in [
        DenseSketch::gaussian(17, 257, RngState::new(5)).unwrap(),
        DenseSketch::rademacher(17, 257, RngState::new(5).skip_columns(257)).unwrap(),
    ] {
        let full = dist_sketch.to_dense();
        for (r0, rows, c0, cols) in [
            (0, 17, 0, 257),
            (3, 9, 100, 57),
            (16, 1, 256, 1),
            (5, 4, 0, 3),
        ] {
            let b = dist_sketch.block(r0, rows, c0, cols).unwrap();
            for j in 0..cols {
                for i in 0..rows {
                    assert_eq!(
                        b.get(i, j),
                        full.get(r0 + i, c0 + j),
                        "block ({r0},{c0}) at ({i},{j})"
                    );
                }
            }
        }
        assert!(dist_sketch.block(10, 8, 0, 1).is_err());
        assert!(dist_sketch.block(0, 1, 257, 1).is_err());
        assert!(dist_sketch.block(0, 0, 0, 1).is_err());
    }
    assert!(DenseSketch::gaussian(0, 3, RngState::new(1)).is_err());
    assert!(DenseSketch::rademacher(3, 0, RngState::new(1)).is_err());
}

/// The same seed gives the same S on the CPU (f32, f64) and the GPU: materialized by applying S
/// to the identity (d = 16 makes the scale 1/4 exact, and G·I is exact in every GEMM), and by
/// the GPU fill of a submatrix. Bits for Rademacher, `GAUSSIAN_GPU_MAX_ULPS` for Gaussian.
#[test]
fn sketch_same_on_cpu_and_gpu() {
    let (d, m) = (16, 300);
    let cpu = Engine::cpu();
    let gpu = gpu_engines();
    let eye = Mat::<f32>::identity(m, m);
    let eye_d = Mat::<f32>::identity(d, d);
    for sk in [
        DenseSketch::rademacher(d, m, RngState::new(11)).unwrap(),
        DenseSketch::gaussian(d, m, RngState::new(11)).unwrap(),
    ] {
        let dense = sk.to_dense();
        let op = Op::leaf(sk.clone());
        let s32 = cpu.apply(&op, eye.as_ref()).unwrap();
        let st32 = cpu.apply(&op.t(), eye_d.as_ref()).unwrap();
        let s64 = cpu.apply(&op, Mat::<f64>::identity(m, m).as_ref()).unwrap();
        for j in 0..m {
            for i in 0..d {
                assert_eq!(
                    f64::from(s32[(i, j)]),
                    dense.get(i, j),
                    "cpu f32 S at ({i},{j})"
                );
                assert_eq!(
                    f64::from(st32[(j, i)]),
                    dense.get(i, j),
                    "cpu f32 S^T at ({j},{i})"
                );
                assert_eq!(s64[(i, j)], dense.get(i, j), "cpu f64 S at ({i},{j})");
            }
        }
        let Some((trusted, checked)) = &gpu else {
            continue;
        };
        for e in [trusted, checked] {
            let sg = e.apply(&op, eye.as_ref()).unwrap();
            let stg = e.apply(&op.t(), eye_d.as_ref()).unwrap();
            for j in 0..m {
                for i in 0..d {
                    let want = s32[(i, j)];
                    for (got, what) in [(sg[(i, j)], "S"), (stg[(j, i)], "S^T")] {
                        if sk.dist() == Dist::Rademacher {
                            assert_eq!(got.to_bits(), want.to_bits(), "gpu {what} at ({i},{j})");
                        } else {
                            let units = (f64::from(got) - f64::from(want)).abs() / ulp(want);
                            assert!(
                                units <= GAUSSIAN_GPU_MAX_ULPS,
                                "gpu {what} at ({i},{j}): {got} vs {want}, {units} ulps"
                            );
                        }
                    }
                }
            }
        }
        // A submatrix generated alone on the GPU equals the slice of the CPU operator.
        let dev = test_device(false).expect("gpu present");
        let (r0, c0, rows, cols) = (5, 77, 9, 100);
        let sub = gpu_fill(&dev, sk.rng(), Some(sk.dist()), r0, c0, rows, cols);
        for j in 0..cols {
            for i in 0..rows {
                let got = f64::from(sub[i + j * rows]) * sk.scale();
                let want = dense.get(r0 + i, c0 + j);
                let units = (got - want).abs() / ulp(want as f32);
                assert!(
                    units <= GAUSSIAN_GPU_MAX_ULPS,
                    "gpu block at ({i},{j}): {got} vs {want}"
                );
                if sk.dist() == Dist::Rademacher {
                    assert_eq!(got, want);
                }
            }
        }
    }
}

/// Subspace embedding. For Q (m×k) with orthonormal columns, a Gaussian S·Q = G·Q/√d where G·Q is
/// a d×k standard Gaussian matrix; by Davidson–Szarek (Vershynin, "Introduction to the
/// non-asymptotic analysis of random matrices", Cor. 5.35) its singular values lie in
/// [√d − √k − t, √d + √k + t] with probability ≥ 1 − 2e^{−t²/2}. With m = 2000, k = 10,
/// d = 1024, t = 6 (failure ≤ 3·10⁻⁸): all singular values of S·Q in 1 ± (√10 + 6)/32 = 1 ± 0.286.
#[test]
fn gaussian_subspace_embedding() {
    let (m, k, d, t) = (2000usize, 10usize, 1024usize, 6.0f64);
    let mut rng = crate::support::Rng::new(0x5B5E_0001);
    let mut q = rng.mat(m, k);
    for _ in 0..2 {
        for j in 0..k {
            for p in 0..j {
                let dot: f64 = (0..m).map(|i| q[(i, p)] * q[(i, j)]).sum();
                for i in 0..m {
                    q[(i, j)] -= dot * q[(i, p)];
                }
            }
            let nrm = (0..m).map(|i| q[(i, j)].powi(2)).sum::<f64>().sqrt();
            for i in 0..m {
                q[(i, j)] /= nrm;
            }
        }
    }
    let eps = ((k as f64).sqrt() + t) / (d as f64).sqrt();
    let op = Op::leaf(DenseSketch::gaussian(d, m, RngState::new(2024)).unwrap());
    let mut results = vec![("cpu-f64", Engine::cpu().apply(&op, q.as_ref()).unwrap())];
    if let Some((gpu, _)) = gpu_engines() {
        let q32 = Mat::<f32>::from_fn(m, k, |i, j| q[(i, j)] as f32);
        let y = gpu.apply(&op, q32.as_ref()).unwrap();
        results.push(("gpu-f32", Mat::from_fn(d, k, |i, j| f64::from(y[(i, j)]))));
    }
    for (name, sq) in results {
        let sv = sq.singular_values().expect("svd");
        let (lo, hi) = (
            sv.iter().cloned().fold(f64::MAX, f64::min),
            sv.iter().cloned().fold(0.0, f64::max),
        );
        report(&format!(
            "subspace embedding ({name}): singular values of S·Q in [{lo:.4}, {hi:.4}], bound 1 ± {eps:.4}"
        ));
        assert!(
            lo >= 1.0 - eps && hi <= 1.0 + eps,
            "{name}: singular values [{lo}, {hi}] outside 1 ± {eps}"
        );
    }
}

#[test]
fn sketch_gemm_rejects_bad_shapes() {
    let Some(dev) = test_device(false) else {
        return;
    };
    let args = linops_gpu::SketchGemmArgs::new(linops::plan::kernel::SketchGemm {
        dist: Dist::Gaussian,
        rng: RngState::new(1),
        rows: 4,
        cols: 6,
        trans: false,
        alpha: 1.0,
        beta: 0.0,
    });
    let x = dev.alloc(6, 2).unwrap();
    let bad_x = dev.alloc(5, 2).unwrap();
    let c = dev.alloc(4, 2).unwrap();
    let mut enc = dev.encoder();
    assert!(enc.sketch_gemm(&args, &bad_x, &c).is_err());
    assert!(enc.sketch_gemm(&args, &x, &bad_x).is_err());
    let mut t = args.clone();
    t.kernel.trans = true;
    assert!(enc.sketch_gemm(&t, &x, &c).is_err()); // Gᵀ is 6x4: X must be 4xn
    assert!(enc.sketch_gemm(&args, &x, &c).is_ok());
    assert!(
        enc.random_fill(RngState::new(1), Dist::Uniform, usize::MAX - 2, 0, &c)
            .is_err()
    );
    assert!(
        enc.philox_fill(RngState::new(1), 0, u32::MAX as usize, &c)
            .is_err()
    );
    enc.submit().unwrap();
}
