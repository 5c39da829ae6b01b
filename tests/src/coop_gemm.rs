//! The cooperative-matrix tier (issue 16): `shaders/coop_gemm.wgsl` and
//! `shaders/coop_block_gemm.wgsl` validate with naga under exactly the capabilities they declare
//! (and not without them); the f16- and bf16-input, f32-accumulate GEMM and block GEMM agree with
//! the f64 products of the staged inputs (computed by the host reference of `coop_half.rs`)
//! where the adapter has a 16×16×16 f16→f32 cooperative-matrix configuration; elsewhere
//! (lavapipe) they are skipped loudly with the missing capability named. Shape checks and the
//! `Unsupported` refusal run on any adapter.

use naga::valid::{Capabilities, ValidationFlags, Validator};

fn caps_of(names: &[&str]) -> Capabilities {
    names.iter().fold(Capabilities::empty(), |c, n| {
        c | Capabilities::from_name(n).unwrap_or_else(|| panic!("unknown naga capability {n:?}"))
    })
}

#[test]
fn optional_shaders_validate_with_their_capabilities_only() {
    let all = linops_gpu::shaders::optional();
    for name in ["coop_gemm", "coop_block_gemm"] {
        assert!(
            all.iter().any(|s| s.name == name),
            "{name} is not registered"
        );
    }
    for shader in all {
        let module = naga::front::wgsl::parse_str(shader.source).unwrap_or_else(|e| {
            panic!(
                "{}.wgsl does not parse:\n{}",
                shader.name,
                e.emit_to_string(shader.source)
            )
        });
        let caps = caps_of(shader.capabilities);
        Validator::new(ValidationFlags::all(), caps)
            .validate(&module)
            .unwrap_or_else(|e| panic!("{}.wgsl does not validate: {e:?}", shader.name));
        // Not vacuous: without the declared capabilities the module is refused.
        assert!(
            Validator::new(ValidationFlags::all(), Capabilities::empty())
                .validate(&module)
                .is_err(),
            "{}.wgsl validates without its capabilities: the declaration is wrong",
            shader.name
        );
        for ep in shader.entry_points {
            let found = module
                .entry_points
                .iter()
                .find(|e| e.name == *ep)
                .unwrap_or_else(|| panic!("{}.wgsl lacks entry point {ep}", shader.name));
            assert_eq!(found.stage, naga::ShaderStage::Compute);
        }
        crate::support::report(&format!(
            "naga validated optional shader {} with {:?}",
            shader.name, shader.capabilities
        ));
    }
}

/// `x` rounded to the nearest IEEE binary16 value (ties to even), as f64: what the kernel stages.
/// Normal range `|x| ≥ 2⁻¹⁴`: spacing `2^{e−10}`; below it the subnormal spacing `2⁻²⁴`;
/// beyond 65504 infinity (the test's inputs stay far inside).
fn round_f16(x: f32) -> f64 {
    let x = f64::from(x);
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let e = x.abs().log2().floor() as i32;
    let spacing = 2f64.powi(e.max(-14) - 10);
    let r = (x / spacing).round_ties_even() * spacing;
    if r.abs() > 65504.0 {
        f64::INFINITY.copysign(x)
    } else {
        r
    }
}

#[test]
fn round_f16_matches_binary16() {
    // Known binary16 values: 1 + 2⁻¹⁰ is the next after 1; 1 + 2⁻¹¹ ties to 1 (even).
    assert_eq!(round_f16(1.0 + 2f32.powi(-11)), 1.0);
    assert_eq!(round_f16(1.0 + 3.0 * 2f32.powi(-11)), 1.0 + 2f64.powi(-9));
    assert_eq!(round_f16(65504.0), 65504.0);
    assert_eq!(round_f16(2f32.powi(-24)), 2f64.powi(-24));
    assert_eq!(round_f16(0.1), 0.0999755859375);
}

/// The f16-input GEMM against the f64 product of the f16-rounded inputs, entrywise within
/// `γ_k(f32)·(|Â||B̂|)` with `γ_k ≤ 1.01·k·u` (products of f16 values are exact in f32, so only
/// the f32 accumulation rounds; factor 2 of the project's rule), and against the exact product of
/// the f32 inputs within `(2u_h + u_h² + 2k·u)·(|A||B|)` (docs/accuracy.md). Runs where the
/// adapter has a 16×16×16 f16→f32 cooperative-matrix configuration; elsewhere it is skipped loudly
/// with the missing capability named (also under `LINOPS_REQUIRE_GPU=1`: CI's lavapipe has none).
#[test]
fn coop_gemm_f16_inputs_match_their_bound_or_skip_loudly() {
    use linops_core::Error;
    use linops_gpu::kernels::coop_gemm::CoopGemm;
    let Some(dev) = crate::support::test_device(false) else {
        return;
    };
    let g = match CoopGemm::new(&dev) {
        Ok(g) => g,
        Err(Error::Unsupported(reason)) => {
            let named = [
                "EXPERIMENTAL_COOPERATIVE_MATRIX",
                "SHADER_F16",
                "16x16x16",
                "subgroup",
            ];
            assert!(
                named.iter().any(|n| reason.contains(n)),
                "the skip reason must name the missing capability: {reason}"
            );
            crate::support::report(&format!(
                "SKIPPED coop_gemm on {}: {reason}",
                dev.info().name
            ));
            return;
        }
        Err(other) => panic!("coop_gemm: unexpected error {other}"),
    };
    let (u, uh) = (2f64.powi(-24), 2f64.powi(-11));
    for (m, k, n) in [
        (1, 1, 1),
        (16, 16, 16),
        (17, 33, 5),
        (100, 257, 64),
        (256, 256, 256),
    ] {
        let rng = linops_core::rng::RngState::new((m * 1000 + k) as u64);
        let gauss = |r: usize, c: usize, off: u64| -> Vec<f32> {
            (0..r * c)
                .map(|i| rng.entry(linops_core::rng::Dist::Gaussian, i as u64, off))
                .collect()
        };
        let (a, b) = (gauss(m, k, 0), gauss(k, n, 1));
        let da = dev.upload(m, k, &a).unwrap();
        let db = dev.upload(k, n, &b).unwrap();
        let c = dev.download(&g.gemm(&da, &db).unwrap()).unwrap();
        for j in 0..n {
            for i in 0..m {
                let (mut rounded, mut exact, mut mag_h, mut mag) = (0.0, 0.0, 0.0, 0.0);
                for p in 0..k {
                    let (x, y) = (a[i + p * m], b[p + j * k]);
                    let (xh, yh) = (round_f16(x), round_f16(y));
                    rounded += xh * yh;
                    mag_h += (xh * yh).abs();
                    exact += f64::from(x) * f64::from(y);
                    mag += (f64::from(x) * f64::from(y)).abs();
                }
                let got = f64::from(c[i + j * m]);
                let b1 = 2.0 * k as f64 * u * mag_h;
                let b2 = (2.0 * uh + uh * uh + 2.0 * k as f64 * u) * mag;
                assert!(
                    (got - rounded).abs() <= b1 && (got - exact).abs() <= b2,
                    "coop_gemm {m}x{k}x{n} ({i}, {j}): got {got}, f16-input product {rounded} \
                     (bound {b1:e}), exact {exact} (bound {b2:e})"
                );
            }
        }
    }
    crate::support::report(&format!(
        "coop_gemm agrees with its bound on {}",
        dev.info().name
    ));
}

/// `CoopGemm::new`, or `None` after a loud skip naming the missing capability (the reason is
/// checked to name one, so an unrelated failure cannot pass as a skip).
fn coop_or_skip(
    what: &str,
) -> Option<(
    std::sync::Arc<linops_gpu::GpuDevice>,
    linops_gpu::kernels::coop_gemm::CoopGemm,
)> {
    use linops_core::Error;
    let dev = crate::support::test_device(false)?;
    match linops_gpu::kernels::coop_gemm::CoopGemm::new(&dev) {
        Ok(g) => Some((dev, g)),
        Err(Error::Unsupported(reason)) => {
            let named = [
                "EXPERIMENTAL_COOPERATIVE_MATRIX",
                "SHADER_F16",
                "16x16x16",
                "subgroup",
            ];
            assert!(
                named.iter().any(|n| reason.contains(n)),
                "the skip reason must name the missing capability: {reason}"
            );
            crate::support::report(&format!("SKIPPED {what} on {}: {reason}", dev.info().name));
            None
        }
        Err(other) => panic!("{what}: unexpected error {other}"),
    }
}

/// Seeded Gaussian entries whose magnitudes span `2^±spread` (so bf16's range matters).
fn spread_gauss(len: usize, seed: u64, spread: i32) -> Vec<f32> {
    let rng = linops_core::rng::RngState::new(seed);
    (0..len)
        .map(|i| {
            let g = rng.entry(linops_core::rng::Dist::Gaussian, i as u64, 0);
            let e = if spread == 0 {
                0
            } else {
                (i as i32 * 7) % (2 * spread + 1) - spread
            };
            g * 2f32.powi(e)
        })
        .collect()
}

/// The bf16-input GEMM against the f64 product of the staged inputs (bf16 rounding, scaling and
/// f16 subnormal rounding all applied by the host reference), entrywise within
/// `2k·u·(|Â||B̂|)` (f32 accumulation of exact products; factor 2 of the project's rule), and
/// against the exact product of the f32 inputs within `(2u_b + u_b² + 2k·u)·(|A||B|)` plus the
/// subnormal term `2⁻²⁵·(2^{−s_A}·Σ|b| + 2^{−s_B}·Σ|a|)` doubled (docs/accuracy.md). Inputs span
/// `2^±40`, and `B` is scaled by 10¹⁵: far outside f16's range (f16 inputs would overflow).
#[test]
fn coop_gemm_bf16_inputs_match_their_bound_or_skip_loudly() {
    use linops_gpu::kernels::coop_convert::HalfInput;
    let Some((dev, g)) = coop_or_skip("coop_gemm bf16") else {
        return;
    };
    let (u, ub) = (2f64.powi(-24), 2f64.powi(-8));
    for (m, k, n, spread) in [
        (1, 1, 1, 0),
        (16, 16, 16, 40),
        (17, 33, 5, 40),
        (100, 257, 64, 12),
    ] {
        let a = spread_gauss(m * k, (m * 31 + k) as u64, spread);
        // |a| < 2^(spread+3), |b| < 2^(spread/2+3)·10¹⁵: the sums stay far inside f32's range.
        let b: Vec<f32> = spread_gauss(k * n, (k * 17 + n) as u64, spread / 2)
            .iter()
            .map(|v| v * 1.0e15)
            .collect();
        let (ah, bh) = (
            crate::coop_half::staged_values(&a, HalfInput::Bf16),
            crate::coop_half::staged_values(&b, HalfInput::Bf16),
        );
        let (sa, sb) = (
            crate::coop_half::convert_reference(&a, HalfInput::Bf16).3,
            crate::coop_half::convert_reference(&b, HalfInput::Bf16).3,
        );
        let (da, db) = (2f64.powi(-25 - sa), 2f64.powi(-25 - sb));
        let c = dev
            .download(
                &g.gemm_with(
                    &dev.upload(m, k, &a).unwrap(),
                    &dev.upload(k, n, &b).unwrap(),
                    HalfInput::Bf16,
                )
                .unwrap(),
            )
            .unwrap();
        for j in 0..n {
            for i in 0..m {
                let (mut staged, mut exact, mut mag_h, mut mag, mut sub) =
                    (0.0, 0.0, 0.0, 0.0, 0.0);
                for p in 0..k {
                    let (x, y) = (f64::from(a[i + p * m]), f64::from(b[p + j * k]));
                    let (xh, yh) = (ah[i + p * m], bh[p + j * k]);
                    staged += xh * yh;
                    mag_h += (xh * yh).abs();
                    exact += x * y;
                    mag += (x * y).abs();
                    sub += da * y.abs() + x.abs() * db + da * db;
                }
                let got = f64::from(c[i + j * m]);
                let b1 = 2.0 * k as f64 * u * mag_h;
                let b2 = (2.0 * ub + ub * ub + 2.0 * k as f64 * u) * mag + 2.0 * sub;
                assert!(
                    (got - staged).abs() <= b1 && (got - exact).abs() <= b2,
                    "coop_gemm bf16 {m}x{k}x{n} ({i}, {j}): got {got:e}, staged product \
                     {staged:e} (bound {b1:e}), exact {exact:e} (bound {b2:e})"
                );
            }
        }
    }
    crate::support::report(&format!(
        "coop_gemm bf16 agrees with its bound on {}",
        dev.info().name
    ));
}

/// The block GEMM on the tier against the host f64 block product of the staged inputs, for f16
/// and bf16, contiguous and strided layouts, transposed blocks, beta = 0 and beta ≠ 0, block
/// sizes that break the 16×16 tiles: entrywise within `2(k+2)·u·(|α|·|Ŵ_t||X̂_t| + |β||Y|)`
/// (k exact products accumulated in f32, one rounding for alpha, one for the beta sum).
#[test]
fn coop_block_gemm_matches_its_bound_or_skips_loudly() {
    use linops_core::BlockLayout;
    use linops_gpu::kernels::coop_block_gemm::CoopBlockGemmArgs;
    use linops_gpu::kernels::coop_convert::HalfInput;
    let Some((dev, g)) = coop_or_skip("coop_block_gemm") else {
        return;
    };
    let u = 2f64.powi(-24);
    let (c, s) = (BlockLayout::Contiguous, BlockLayout::Strided);
    for (blocks, m, k, n, trans, xl, yl, beta) in [
        (1, 1, 1, 1, false, c, c, 0.0),
        (3, 16, 16, 16, false, c, c, 0.0),
        (4, 17, 9, 33, true, s, c, 0.5),
        (64, 8, 8, 40, false, s, s, 0.0),
        (5, 31, 48, 3, true, c, s, -1.0),
    ] {
        for input in [HalfInput::F16, HalfInput::Bf16] {
            let (br, bc) = if trans { (k, m) } else { (m, k) };
            let seed = (blocks * 1000 + m * 10 + k) as u64;
            let w = spread_gauss(br * bc * blocks, seed, 0);
            let x = spread_gauss(blocks * k * n, seed + 1, 0);
            let y0 = spread_gauss(blocks * m * n, seed + 2, 0);
            let (wh, xh) = (
                crate::coop_half::staged_values(&w, input),
                crate::coop_half::staged_values(&x, input),
            );
            let alpha = 1.5f32;
            let args = CoopBlockGemmArgs {
                blocks,
                m,
                k,
                n,
                trans,
                x_layout: xl,
                y_layout: yl,
                alpha,
                beta,
                input,
            };
            let dy = dev.upload(blocks * m, n, &y0).unwrap();
            g.block_gemm(
                &args,
                &dev.upload(br, bc * blocks, &w).unwrap(),
                &dev.upload(blocks * k, n, &x).unwrap(),
                &dy,
            )
            .unwrap();
            let y = dev.download(&dy).unwrap();
            let ldy = blocks * m;
            let ldx = blocks * k;
            for t in 0..blocks {
                for j in 0..n {
                    for i in 0..m {
                        let (mut acc, mut mag) = (0.0, 0.0);
                        for p in 0..k {
                            let wi = if trans { p + i * br } else { i + p * br };
                            let wv = wh[t * br * bc + wi];
                            let xv = xh[xl.row(blocks, k, t, p) + j * ldx];
                            acc += wv * xv;
                            mag += (wv * xv).abs();
                        }
                        let yi = yl.row(blocks, m, t, i) + j * ldy;
                        let old = f64::from(y0[yi]);
                        let want = f64::from(alpha) * acc + f64::from(beta) * old;
                        let bound = 2.0
                            * (k + 2) as f64
                            * u
                            * (f64::from(alpha) * mag + f64::from(beta).abs() * old.abs());
                        let got = f64::from(y[yi]);
                        assert!(
                            (got - want).abs() <= bound,
                            "coop_block_gemm {input:?} blocks={blocks} {m}x{k}x{n} trans={trans} \
                             {xl:?}/{yl:?} beta={beta} block {t} ({i}, {j}): got {got:e}, want \
                             {want:e}, bound {bound:e}"
                        );
                    }
                }
            }
        }
    }
    crate::support::report(&format!(
        "coop_block_gemm agrees with its bound on {}",
        dev.info().name
    ));
}

/// Bad shapes are typed errors naming the sizes, checked before anything needs tensor cores (so
/// this runs on lavapipe), and an adapter without the feature refuses `CoopGemm::new` with
/// `Unsupported` naming what is missing.
#[test]
fn coop_bad_shapes_and_unsupported_adapters_give_typed_errors() {
    use linops_core::{BlockLayout, Error};
    use linops_gpu::kernels::coop_block_gemm::CoopBlockGemmArgs;
    use linops_gpu::kernels::coop_convert::HalfInput;
    use linops_gpu::kernels::coop_gemm::{CoopGemm, check_gemm, coop_support};
    let Some(dev) = crate::support::test_device(false) else {
        return;
    };
    let e = check_gemm(&dev.alloc(4, 3).unwrap(), &dev.alloc(5, 2).unwrap()).unwrap_err();
    assert!(
        matches!(&e, Error::ShapeMismatch { expected, found, .. }
            if expected.contains('3') && found == "5x2"),
        "{e}"
    );
    let args = CoopBlockGemmArgs {
        blocks: 3,
        m: 4,
        k: 5,
        n: 6,
        trans: false,
        x_layout: BlockLayout::Contiguous,
        y_layout: BlockLayout::Strided,
        alpha: 1.0,
        beta: 0.0,
        input: HalfInput::Bf16,
    };
    let w = dev.alloc(4, 15).unwrap();
    let x = dev.alloc(15, 6).unwrap();
    let y = dev.alloc(12, 6).unwrap();
    args.check(&w, &x, &y).unwrap();
    for (what, w2, x2, y2, want) in [
        ("W", dev.alloc(5, 15).unwrap(), None, None, "4x15"),
        (
            "X",
            dev.alloc(4, 15).unwrap(),
            Some(dev.alloc(14, 6).unwrap()),
            None,
            "15x6",
        ),
        (
            "Y",
            dev.alloc(4, 15).unwrap(),
            None,
            Some(dev.alloc(12, 5).unwrap()),
            "12x6",
        ),
    ] {
        let e = args
            .check(&w2, x2.as_ref().unwrap_or(&x), y2.as_ref().unwrap_or(&y))
            .unwrap_err();
        assert!(
            matches!(&e, Error::ShapeMismatch { context, expected, .. }
                if context.contains(what) && expected == want),
            "{what}: {e}"
        );
    }
    // Transposed blocks are stored k×m: the untransposed W is now the wrong shape.
    let t = CoopBlockGemmArgs {
        trans: true,
        ..args
    };
    assert!(matches!(
        t.check(&w, &x, &y),
        Err(Error::ShapeMismatch { .. })
    ));
    let empty = CoopBlockGemmArgs { blocks: 0, ..args };
    assert!(matches!(
        empty.check(&w, &x, &y),
        Err(Error::EmptyDimension { .. })
    ));
    // Y aliasing X.
    let sq = CoopBlockGemmArgs { m: 5, k: 5, ..args };
    let xs = dev.alloc(15, 6).unwrap();
    assert!(matches!(
        sq.check(&dev.alloc(5, 15).unwrap(), &xs, &xs),
        Err(Error::InvalidArgument(_))
    ));
    match (coop_support(&dev), CoopGemm::new(&dev)) {
        (Ok(_), Ok(_)) => {}
        (Err(Error::Unsupported(a)), Err(Error::Unsupported(b))) => {
            assert_eq!(a, b);
            assert!(
                a.contains(&dev.info().name),
                "the reason names the adapter: {a}"
            );
            crate::support::report(&format!("coop tier refused on {}: {a}", dev.info().name));
        }
        (a, b) => panic!(
            "coop_support {a:?} and CoopGemm::new {:?} disagree",
            b.err()
        ),
    }
}
