//! Row sampling, approximate leverage scores, the streaming sketch accumulator and approximate
//! matrix products: statistical tests at fixed seeds with thresholds from theory, CPU/GPU bit
//! identity of the samplers, market cases and bad input.

use crate::support::{Rng, gpu_engines, report};
use faer::Mat;
use linops::amm::{PrioritySketch, amm_norm_sampling, amm_priority, norm_weights};
use linops::sampling::{LeverageParams, exact_leverage_scores, leverage_sampler, leverage_scores};
use linops::stream::{SketchAccumulator, SketchFamily, SketchSpec};
use linops::{Error, HostMat, LeafOp, Op};
use linops_core::op::RowSampler;
use linops_core::rng::RngState;

/// Upper `1 − α` quantile of χ²_k by Wilson–Hilferty, `k·(1 − 2/(9k) + z·√(2/(9k)))³`, with `z`
/// the standard normal quantile (relative error below 1% for k ≥ 10 at these tails).
fn chi2_quantile(k: usize, z: f64) -> f64 {
    let k = k as f64;
    let a = 2.0 / (9.0 * k);
    k * (1.0 - a + z * a.sqrt()).powi(3)
}

/// z for a one-sided tail of 10⁻³.
const Z_999: f64 = 3.0902;
/// z for the per-entry mean tests (two-sided tail about 7·10⁻⁶ each).
const Z_MEAN: f64 = 4.5;

fn weights_50() -> Vec<f64> {
    (0..50)
        .map(|i| {
            if i % 10 == 3 {
                0.0
            } else {
                ((i + 1) as f64).powf(1.5)
            }
        })
        .collect()
}

#[test]
fn sampling_frequencies_chi_square() {
    let d = 20_000;
    let w = weights_50();
    let mut norms_a = Rng::new(3);
    let norms: Vec<f64> = (0..40).map(|_| norms_a.uniform().abs() + 0.01).collect();
    let a = HostMat::from_fn(40, 3, |i, j| norms[i] * [0.6, 0.0, 0.8][j]);
    for (what, s) in [
        (
            "probabilities",
            RowSampler::from_probabilities(d, &w, RngState::new(21)).unwrap(),
        ),
        (
            "uniform",
            RowSampler::uniform(d, 37, RngState::new(22)).unwrap(),
        ),
        (
            "squared norms",
            RowSampler::squared_row_norms(d, &norms, RngState::new(23)).unwrap(),
        ),
        (
            "matrix rows",
            RowSampler::from_matrix_rows(d, &a, RngState::new(24)).unwrap(),
        ),
        (
            "leverage",
            RowSampler::leverage(d, &w, RngState::new(25)).unwrap(),
        ),
    ] {
        let p = s.probabilities().to_vec();
        let mut counts = vec![0usize; p.len()];
        for &i in s.indices() {
            counts[i] += 1;
        }
        let mut stat = 0.0;
        let mut cells = 0;
        for (i, (&c, &pi)) in counts.iter().zip(&p).enumerate() {
            if pi == 0.0 {
                assert_eq!(c, 0, "{what}: row {i} has p = 0 but was drawn {c} times");
                continue;
            }
            let e = d as f64 * pi;
            stat += (c as f64 - e).powi(2) / e;
            cells += 1;
        }
        let limit = chi2_quantile(cells - 1, Z_999);
        report(&format!(
            "row sampler {what}: chi-square {stat:.1} on {} df, 0.999 quantile {limit:.1}",
            cells - 1
        ));
        assert!(
            stat <= limit,
            "{what}: chi-square {stat} exceeds the 0.999 quantile {limit} ({} df, d = {d})",
            cells - 1
        );
    }
    // Squared norms: p_i = norm_i² / Σ norm².
    let s = RowSampler::squared_row_norms(4, &norms, RngState::new(1)).unwrap();
    let total: f64 = norms.iter().map(|v| v * v).sum();
    for (i, &n) in norms.iter().enumerate() {
        assert!((s.probabilities()[i] - n * n / total).abs() <= 4.0 * f64::EPSILON);
    }
}

/// `SᵀS` is diagonal for every draw and its mean over independent seeds is the identity:
/// `(SᵀS)_jj = count_j/(d·p_j)` with `count_j ~ Bin(d, p_j)`, so the mean of N draws has standard
/// error `√((1 − p_j)/(d·p_j·N))`.
#[test]
fn expected_gram_is_identity() {
    let (d, n_seeds) = (30, 300);
    let w: Vec<f64> = (0..20).map(|i| 1.0 + (i % 7) as f64).collect();
    let total: f64 = w.iter().sum();
    let m = w.len();
    let mut diag = vec![0.0; m];
    for seed in 0..n_seeds {
        let s = RowSampler::from_probabilities(d, &w, RngState::new(1000 + seed)).unwrap();
        let sd = linops::to_faer(&Op::leaf(s));
        let g = sd.transpose() * &sd;
        for j in 0..m {
            for i in 0..m {
                if i != j {
                    assert_eq!(g[(i, j)], 0.0, "SᵀS off-diagonal ({i},{j}) seed {seed}");
                }
            }
            diag[j] += g[(j, j)] / n_seeds as f64;
        }
    }
    for (j, &mean) in diag.iter().enumerate() {
        let p = w[j] / total;
        let se = ((1.0 - p) / (d as f64 * p * n_seeds as f64)).sqrt();
        assert!(
            (mean - 1.0).abs() <= Z_MEAN * se,
            "E[SᵀS]_({j},{j}) ≈ {mean}, expected 1 within {Z_MEAN}·{se:e}"
        );
    }
}

fn samplers() -> Vec<(&'static str, RowSampler)> {
    let w = weights_50();
    let scores =
        exact_leverage_scores(Rng::new(9).mat(50, 4).as_ref()).expect("full rank test matrix");
    vec![
        (
            "uniform 7x50",
            RowSampler::uniform(7, 50, RngState::new(31)).unwrap(),
        ),
        (
            "probabilities 40x50 (repeats)",
            RowSampler::from_probabilities(40, &w, RngState::new(32)).unwrap(),
        ),
        (
            "squared norms 3x50",
            RowSampler::squared_row_norms(3, &w, RngState::new(33)).unwrap(),
        ),
        (
            "leverage 64x50 (repeats)",
            leverage_sampler(64, &scores, RngState::new(34)).unwrap(),
        ),
        (
            "uniform 1x1",
            RowSampler::uniform(1, 1, RngState::new(35)).unwrap(),
        ),
    ]
}

/// Each sampler applied to the identity (S and Sᵀ) gives its dense form exactly on the CPU in
/// f32, and the same bits on the GPU (trusted and checked shaders).
#[test]
fn samplers_same_bits_cpu_gpu() {
    let cpu = crate::support::cpu_engine();
    let gpu = gpu_engines();
    for (what, s) in samplers() {
        let (d, m) = s.shape();
        let dense = s.to_dense();
        let op = Op::leaf(s);
        let s32 = cpu.apply(&op, Mat::<f32>::identity(m, m).as_ref()).unwrap();
        let st32 = cpu
            .apply(&op.t(), Mat::<f32>::identity(d, d).as_ref())
            .unwrap();
        for j in 0..m {
            for i in 0..d {
                let want = dense.get(i, j) as f32;
                assert_eq!(
                    s32[(i, j)].to_bits(),
                    want.to_bits(),
                    "{what}: cpu S ({i},{j})"
                );
                assert_eq!(
                    st32[(j, i)].to_bits(),
                    want.to_bits(),
                    "{what}: cpu Sᵀ ({j},{i})"
                );
            }
        }
        let Some((trusted, checked)) = &gpu else {
            continue;
        };
        for e in [trusted, checked] {
            let g = e.apply(&op, Mat::<f32>::identity(m, m).as_ref()).unwrap();
            let gt = e
                .apply(&op.t(), Mat::<f32>::identity(d, d).as_ref())
                .unwrap();
            for j in 0..m {
                for i in 0..d {
                    assert_eq!(
                        g[(i, j)].to_bits(),
                        s32[(i, j)].to_bits(),
                        "{what}: gpu S ({i},{j})"
                    );
                    assert_eq!(
                        gt[(j, i)].to_bits(),
                        st32[(j, i)].to_bits(),
                        "{what}: gpu Sᵀ ({j},{i})"
                    );
                }
            }
        }
    }
    if gpu.is_none() {
        report("samplers_same_bits_cpu_gpu: GPU part SKIPPED (no adapter)");
    }
}

/// Market cases: samplers alone, transposed (scatter-add with repeated rows), scaled and composed.
pub fn market_cases() -> Vec<crate::structured::StructuredCase> {
    let mut rng = Rng::new(0x5EED_0005);
    let mut v = Vec::new();
    for (what, s) in samplers() {
        let (_, m) = s.shape();
        let op = Op::leaf(s);
        for b in [1, 17] {
            v.push((
                format!("row sampler {what} b={b}"),
                op.clone(),
                op.clone(),
                b,
            ));
            v.push((format!("row sampler^T {what} b={b}"), op.t(), op.t(), b));
        }
        let a = rng.dense_op(m, 5);
        let sa = Op::product(vec![op.scaled(-0.5).unwrap(), a]).unwrap();
        v.push((format!("-0.5·S·A {what}"), sa.clone(), sa, 3));
    }
    v
}

/// Approximate leverage scores against the exact ones (faer thin QR) on a matrix whose leverage
/// spans orders of magnitude, through a dense input and through an operator tree.
///
/// Bound (module docs of `linops::sampling`): with `ε = √(n/d) + t/√d` (t = 3, probability
/// ≥ 1 − 2e^{−4.5}) and the Laurent–Massart JL interval `[1 − 2√(x/k), 1 + 2√(x/k) + 2x/k]` at
/// `x = ln(2m/δ)`, δ = 0.01, every ratio ℓ̃_i/ℓ_i lies in
/// `[(1 − 2√(x/k))/(1 + ε)², (1 + 2√(x/k) + 2x/k)/(1 − ε)²]`.
#[test]
fn approximate_leverage_within_theory() {
    let (m, n, d, k) = (2000usize, 8usize, 320usize, 200usize);
    let mut rng = Rng::new(77);
    let g = rng.mat(m, n);
    let w: Vec<f64> = (0..m)
        .map(|i| {
            if i < 10 {
                40.0
            } else {
                0.2 + (i % 13) as f64 * 0.3
            }
        })
        .collect();
    let a = Mat::<f64>::from_fn(m, n, |i, j| w[i] * g[(i, j)]);
    let exact = exact_leverage_scores(a.as_ref()).unwrap();
    assert!((exact.iter().sum::<f64>() - n as f64).abs() < 1e-9);
    let eps = (n as f64 / d as f64).sqrt() + 3.0 / (d as f64).sqrt();
    let x = (2.0 * m as f64 / 0.01).ln();
    let lo = (1.0 - 2.0 * (x / k as f64).sqrt()) / (1.0 + eps).powi(2);
    let hi = (1.0 + 2.0 * (x / k as f64).sqrt() + 2.0 * x / k as f64) / (1.0 - eps).powi(2);
    let params = LeverageParams {
        sketch_rows: d,
        jl_cols: k,
        rng: RngState::new(4242),
    };
    let cpu = crate::support::cpu_engine();
    let as_tree = Op::product(vec![
        Op::diagonal(w.clone()).unwrap(),
        linops::dense(g.as_ref()).unwrap(),
    ])
    .unwrap();
    for (what, approx) in [
        (
            "dense",
            linops::sampling::leverage_scores_dense(&cpu, a.as_ref(), &params).unwrap(),
        ),
        ("op tree", leverage_scores(&cpu, &as_tree, &params).unwrap()),
    ] {
        let (mut rmin, mut rmax) = (f64::INFINITY, 0.0f64);
        for i in 0..m {
            let r = approx[i] / exact[i];
            rmin = rmin.min(r);
            rmax = rmax.max(r);
            assert!(
                (lo..=hi).contains(&r),
                "{what}: row {i}: approximate {} / exact {} = {r} outside [{lo}, {hi}]",
                approx[i],
                exact[i]
            );
        }
        report(&format!(
            "leverage ({what}, m={m} n={n} d={d} k={k}): ratio approx/exact in [{rmin:.3}, {rmax:.3}], theory [{lo:.3}, {hi:.3}]; max exact {:.3}, min exact {:.2e}",
            exact.iter().cloned().fold(0.0, f64::max),
            exact.iter().cloned().fold(f64::INFINITY, f64::min)
        ));
    }
    // The sampler from the approximate scores: its probabilities are within the factor
    // [lo/hi, hi/lo] of the exact leverage probabilities ℓ_i/n (each score ratio lies in [lo, hi]),
    // and its draws of the 10 heavy rows follow Bin(500, p̃_heavy) (within Z_MEAN sd).
    let approx = leverage_scores(&cpu, &as_tree, &params).unwrap();
    let s = RowSampler::leverage(500, &approx, RngState::new(5)).unwrap();
    let p_heavy: f64 = s.probabilities()[..10].iter().sum();
    let exact_heavy: f64 = exact[..10].iter().sum::<f64>() / n as f64;
    assert!(
        p_heavy >= lo / hi * exact_heavy && p_heavy <= hi / lo * exact_heavy,
        "heavy rows: sampler probability {p_heavy}, exact leverage share {exact_heavy}"
    );
    let heavy = s.indices().iter().filter(|&&i| i < 10).count() as f64;
    let sd = (500.0 * p_heavy * (1.0 - p_heavy)).sqrt();
    assert!(
        (heavy - 500.0 * p_heavy).abs() <= Z_MEAN * sd,
        "{heavy} of 500 draws hit the heavy rows, expected {} ± {Z_MEAN}·{sd}",
        500.0 * p_heavy
    );
}

/// Bound for two f64 summation orders of S·A: `2·(m + p + 2)·u·(|S|·|A|)`.
fn check_close(what: &str, got: &Mat<f64>, want: &Mat<f64>, mag: &Mat<f64>, gamma: f64) {
    for j in 0..got.ncols() {
        for i in 0..got.nrows() {
            let (g, w, b) = (got[(i, j)], want[(i, j)], 2.0 * gamma * mag[(i, j)]);
            assert!(
                (g - w).abs() <= b,
                "{what} at ({i},{j}): got {g}, expected {w}, diff {:e}, bound {b:e}",
                (g - w).abs()
            );
        }
    }
}

#[test]
fn accumulator_blocks_shuffled_split_merged() {
    let (m, n, d) = (1000usize, 5usize, 16usize);
    let a = Rng::new(11).mat(m, n);
    let cuts = [0usize, 13, 150, 151, 400, 777, 900, 1000];
    let mut blocks: Vec<(usize, usize)> = cuts.windows(2).map(|c| (c[0], c[1] - c[0])).collect();
    assert_eq!(blocks.len(), 7);
    let mut shuffle = Rng::new(5);
    for i in (1..blocks.len()).rev() {
        blocks.swap(i, shuffle.below(i + 1));
    }
    let cpu = crate::support::cpu_engine();
    let gpu = gpu_engines();
    for family in [SketchFamily::Gaussian, SketchFamily::Rademacher] {
        let spec = SketchSpec::new(family, d, m, RngState::new(99).skip_columns(3)).unwrap();
        let json = serde_json::to_string(&spec).unwrap();
        let spec2: SketchSpec = serde_json::from_str(&json).unwrap();
        assert_eq!(spec2, spec);
        let full_op = spec.op().unwrap();
        let full = cpu.apply(&full_op, a.as_ref()).unwrap();
        let s_abs = Mat::<f64>::from_fn(d, m, |i, j| full_op.to_dense().get(i, j).abs());
        let a_abs = Mat::<f64>::from_fn(m, n, |i, j| a[(i, j)].abs());
        let mag = &s_abs * &a_abs;
        let gamma64 = (m + blocks.len() + 2) as f64 * f64::EPSILON / 2.0;

        let mut first = SketchAccumulator::new(spec).unwrap();
        let mut second = SketchAccumulator::new(spec2).unwrap();
        for (t, &(r0, b)) in blocks.iter().enumerate() {
            let acc = if t < 3 { &mut first } else { &mut second };
            acc.push(&cpu, r0, a.as_ref().subrows(r0, b)).unwrap();
        }
        assert!(!first.is_complete() && !second.is_complete());
        let missing = first.missing_rows();
        assert_eq!(
            missing.iter().map(|r| r.len()).sum::<usize>(),
            blocks[3..].iter().map(|b| b.1).sum::<usize>()
        );
        assert!(
            matches!(first.clone().finish(), Err(Error::InvalidArgument(msg)) if msg.contains("missing"))
        );
        // Overlap is detected on merge (first with itself).
        assert!(first.clone().merge(first.clone()).is_err());
        first.merge(second).unwrap();
        assert_eq!(first.blocks(), 7);
        let merged = first.finish().unwrap();
        check_close(&format!("{family:?} merged"), &merged, &full, &mag, gamma64);

        // The same streaming on the GPU (f32; Rademacher entries are exact there).
        if let (Some((g, _)), SketchFamily::Rademacher) = (&gpu, family) {
            let mut acc = SketchAccumulator::new(spec).unwrap();
            for &(r0, b) in &blocks {
                acc.push(g, r0, a.as_ref().subrows(r0, b)).unwrap();
            }
            let got = acc.finish().unwrap();
            let gamma32 = (m + blocks.len() + 2) as f64 / 16_777_216.0;
            check_close("rademacher merged on gpu", &got, &full, &mag, gamma32);
        }
    }
    if gpu.is_none() {
        report("accumulator GPU part SKIPPED (no adapter)");
    }
}

fn amm_inputs() -> (Mat<f64>, Mat<f64>) {
    let m = 300;
    let mut rng = Rng::new(404);
    let scale: Vec<f64> = (0..m)
        .map(|i| {
            if i % 37 == 0 {
                6.0
            } else {
                0.3 + (i % 5) as f64 * 0.2
            }
        })
        .collect();
    let a = Mat::<f64>::from_fn(m, 3, |i, _| scale[i] * rng.uniform());
    let noise = rng.mat(m, 2);
    let b = Mat::<f64>::from_fn(m, 2, |i, j| {
        a[(i, 0)] - 0.5 * a[(i, 2)] * (j as f64) + 0.3 * scale[i] * noise[(i, j)]
    });
    (a, b)
}

/// Per-entry: the mean of N independent estimates is within `Z_MEAN` standard errors (from the
/// sample variance) of the exact product.
fn check_unbiased(what: &str, exact: &Mat<f64>, samples: &[Mat<f64>]) {
    let n = samples.len() as f64;
    for j in 0..exact.ncols() {
        for i in 0..exact.nrows() {
            let mean = samples.iter().map(|s| s[(i, j)]).sum::<f64>() / n;
            let var = samples
                .iter()
                .map(|s| (s[(i, j)] - mean).powi(2))
                .sum::<f64>()
                / (n - 1.0);
            let se = (var / n).sqrt();
            assert!(
                (mean - exact[(i, j)]).abs() <= Z_MEAN * se,
                "{what}: entry ({i},{j}) mean {mean} vs exact {}: |diff| {:e} > {Z_MEAN}·se {se:e}",
                exact[(i, j)],
                (mean - exact[(i, j)]).abs()
            );
        }
    }
}

fn frob(m: &Mat<f64>) -> f64 {
    m.norm_l2()
}

#[test]
fn amm_norm_sampling_unbiased_and_within_dkm() {
    let (a, b) = amm_inputs();
    let exact = a.transpose() * &b;
    let (c, n) = (40usize, 400u64);
    let cpu = crate::support::cpu_engine();
    let samples: Vec<Mat<f64>> = (0..n)
        .map(|s| {
            amm_norm_sampling(&cpu, a.as_ref(), b.as_ref(), c, RngState::new(7000 + s)).unwrap()
        })
        .collect();
    check_unbiased("dkm", &exact, &samples);
    // E‖err‖_F² = ((Σ‖A_i‖‖B_i‖)² − ‖AᵀB‖_F²)/c exactly, ≤ ‖A‖_F²‖B‖_F²/c.
    let w = norm_weights(a.as_ref(), b.as_ref()).unwrap();
    let sum_w: f64 = w.iter().sum();
    let expected = (sum_w * sum_w - frob(&exact).powi(2)) / c as f64;
    let dkm = (frob(&a) * frob(&b)).powi(2) / c as f64;
    assert!(expected <= dkm);
    let errs: Vec<f64> = samples
        .iter()
        .map(|s| frob(&(s - &exact)).powi(2))
        .collect();
    let mean = errs.iter().sum::<f64>() / n as f64;
    let var = errs.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / (n as f64 - 1.0);
    let se = (var / n as f64).sqrt();
    assert!(
        (mean - expected).abs() <= Z_MEAN * se,
        "mean squared error {mean} vs exact expectation {expected} (se {se})"
    );
    let mean_err = errs.iter().map(|e| e.sqrt()).sum::<f64>() / n as f64;
    report(&format!(
        "amm dkm (m=300, c={c}, N={n}): E‖err‖_F ≈ {mean_err:.3}, bound ‖A‖_F‖B‖_F/√c = {:.3}; E‖err‖² ≈ {mean:.3} (exact {expected:.3})",
        dkm.sqrt()
    ));
    assert!(mean_err <= dkm.sqrt());
}

#[test]
fn amm_priority_unbiased() {
    let (a, b) = amm_inputs();
    let exact = a.transpose() * &b;
    let (k, n) = (40usize, 400u64);
    let samples: Vec<Mat<f64>> = (0..n)
        .map(|s| {
            let seed = RngState::new(9000 + s);
            // Each side sketched alone, as two processes sharing only the seed would.
            let sa = PrioritySketch::new(a.as_ref(), k, seed).unwrap();
            let sb = PrioritySketch::new(b.as_ref(), k, seed).unwrap();
            assert_eq!(sa.rows().len(), k);
            sa.product(&sb).unwrap()
        })
        .collect();
    check_unbiased("priority", &exact, &samples);
    let mean_err = samples.iter().map(|s| frob(&(s - &exact))).sum::<f64>() / n as f64;
    report(&format!(
        "amm priority (m=300, k={k}, N={n}): E‖err‖_F ≈ {mean_err:.3}, ‖AᵀB‖_F = {:.3}",
        frob(&exact)
    ));
    // With k ≥ the number of nonzero rows the estimate is exact.
    let full = amm_priority(a.as_ref(), b.as_ref(), 300, RngState::new(1)).unwrap();
    assert!(frob(&(&full - &exact)) <= 1e-12 * frob(&exact));
}

#[test]
fn sampling_bad_input() {
    let r = RngState::new(1);
    assert!(matches!(
        RowSampler::from_probabilities(3, &[1.0, f64::NAN], r),
        Err(Error::NonFinite { .. })
    ));
    assert!(matches!(
        RowSampler::from_probabilities(3, &[1.0, f64::INFINITY], r),
        Err(Error::NonFinite { .. })
    ));
    assert!(matches!(
        RowSampler::from_probabilities(3, &[1.0, -0.5], r),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        RowSampler::from_probabilities(3, &[0.0, 0.0], r),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        RowSampler::from_probabilities(3, &[f64::MAX, f64::MAX], r),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        RowSampler::from_probabilities(3, &[], r),
        Err(Error::EmptyDimension { .. })
    ));
    assert!(matches!(
        RowSampler::uniform(0, 4, r),
        Err(Error::EmptyDimension { .. })
    ));
    // Indices are u32: d past u32::MAX is refused before anything is allocated.
    #[cfg(target_pointer_width = "64")]
    assert!(matches!(
        RowSampler::uniform(1 << 32, 4, r),
        Err(Error::DeviceLimit { .. })
    ));
    assert!(matches!(
        RowSampler::squared_row_norms(2, &[1.0, -1.0], r),
        Err(Error::InvalidArgument(_))
    ));
    let nan = HostMat::from_fn(2, 2, |i, _| if i == 1 { f64::NAN } else { 1.0 });
    assert!(matches!(
        RowSampler::from_matrix_rows(2, &nan, r),
        Err(Error::NonFinite { .. })
    ));
    // Applying to a wrong shape or NaN data.
    let s = Op::leaf(RowSampler::uniform(3, 5, r).unwrap());
    let cpu = crate::support::cpu_engine();
    assert!(matches!(
        cpu.apply(&s, Mat::<f64>::zeros(4, 2).as_ref()),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        cpu.apply(&s, Mat::<f64>::from_fn(5, 1, |_, _| f64::NAN).as_ref()),
        Err(Error::NonFinite { .. })
    ));

    // Leverage scores.
    let wide = Op::dense(2, 3, vec![1.0; 6]).unwrap();
    let p = LeverageParams::auto(2, 3, r);
    assert!(matches!(
        leverage_scores(&cpu, &wide, &p),
        Err(Error::InvalidArgument(_))
    ));
    let tall = Mat::<f64>::from_fn(20, 2, |i, _| i as f64 + 1.0); // rank 1
    let p = LeverageParams::auto(20, 2, r);
    assert!(matches!(
        linops::sampling::leverage_scores_dense(&cpu, tall.as_ref(), &p),
        Err(Error::InvalidArgument(msg)) if msg.contains("rank")
    ));
    let few = LeverageParams {
        sketch_rows: 1,
        jl_cols: 4,
        rng: r,
    };
    let ok = Mat::<f64>::from_fn(20, 2, |i, j| ((i + 3 * j) % 7) as f64);
    assert!(linops::sampling::leverage_scores_dense(&cpu, ok.as_ref(), &few).is_err());
    let no_jl = LeverageParams {
        sketch_rows: 8,
        jl_cols: 0,
        rng: r,
    };
    assert!(linops::sampling::leverage_scores_dense(&cpu, ok.as_ref(), &no_jl).is_err());
    assert!(exact_leverage_scores(Mat::<f64>::zeros(2, 3).as_ref()).is_err());

    // Accumulator and spec.
    assert!(SketchSpec::new(SketchFamily::Gaussian, 0, 5, r).is_err());
    let bad: SketchSpec = serde_json::from_str(
        r#"{"family":"Gaussian","d":4,"m":0,"rng":{"counter":[0,0,0,0],"key":[1,0]}}"#,
    )
    .unwrap();
    assert!(matches!(
        SketchAccumulator::new(bad),
        Err(Error::EmptyDimension { .. })
    ));
    assert!(serde_json::from_str::<SketchSpec>(r#"{"family":"Sparse","d":4,"m":3}"#).is_err());
    let spec = SketchSpec::new(SketchFamily::Gaussian, 4, 10, r).unwrap();
    let mut acc = SketchAccumulator::new(spec).unwrap();
    assert!(matches!(
        acc.push(&cpu, 8, Mat::<f64>::ones(3, 2).as_ref()),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        acc.push(&cpu, 0, Mat::<f64>::ones(0, 2).as_ref()),
        Err(Error::EmptyDimension { .. })
    ));
    assert!(matches!(
        acc.push(&cpu, 0, Mat::<f64>::from_fn(2, 2, |_, _| f64::NAN).as_ref()),
        Err(Error::NonFinite { .. })
    ));
    acc.push(&cpu, 2, Mat::<f64>::ones(3, 2).as_ref()).unwrap();
    assert!(matches!(
        acc.push(&cpu, 4, Mat::<f64>::ones(2, 2).as_ref()),
        Err(Error::InvalidArgument(msg)) if msg.contains("overlap")
    ));
    assert!(matches!(
        acc.push(&cpu, 6, Mat::<f64>::ones(2, 3).as_ref()),
        Err(Error::ShapeMismatch { .. })
    ));
    assert_eq!(acc.missing_rows(), vec![0..2, 5..10]);
    let other_spec = SketchSpec::new(SketchFamily::Rademacher, 4, 10, r).unwrap();
    let other = SketchAccumulator::new(other_spec).unwrap();
    assert!(acc.clone().merge(other).is_err());
    let mut wider = SketchAccumulator::new(spec).unwrap();
    wider
        .push(&cpu, 0, Mat::<f64>::ones(2, 3).as_ref())
        .unwrap();
    assert!(matches!(
        acc.clone().merge(wider),
        Err(Error::ShapeMismatch { .. })
    ));

    // Approximate products.
    let a = Mat::<f64>::ones(4, 2);
    let b = Mat::<f64>::ones(5, 2);
    assert!(matches!(
        amm_norm_sampling(&cpu, a.as_ref(), b.as_ref(), 3, r),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(amm_norm_sampling(&cpu, a.as_ref(), a.as_ref(), 0, r).is_err());
    assert!(matches!(
        amm_priority(a.as_ref(), b.as_ref(), 3, r),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(PrioritySketch::new(a.as_ref(), 0, r).is_err());
    let nan = Mat::<f64>::from_fn(4, 2, |i, _| if i == 2 { f64::NAN } else { 0.0 });
    assert!(matches!(
        PrioritySketch::new(nan.as_ref(), 2, r),
        Err(Error::NonFinite { .. })
    ));
    let s1 = PrioritySketch::new(a.as_ref(), 2, RngState::new(1)).unwrap();
    let s2 = PrioritySketch::new(a.as_ref(), 2, RngState::new(2)).unwrap();
    assert!(matches!(s1.product(&s2), Err(Error::InvalidArgument(_))));
    // All-zero rows: the product is exactly zero.
    let z = Mat::<f64>::zeros(4, 2);
    assert_eq!(
        frob(&amm_norm_sampling(&cpu, z.as_ref(), a.as_ref(), 3, r).unwrap()),
        0.0
    );
}
