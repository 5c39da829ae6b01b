//! The cooperative-matrix tier (issue 16): `shaders/coop_gemm.wgsl` validates with naga under
//! exactly the capabilities it declares (and not without them), and the f16-input, f32-accumulate
//! GEMM agrees with the f64 product of the f16-rounded inputs where the adapter has a
//! 16×16×16 f16→f32 cooperative-matrix configuration; elsewhere (lavapipe) it is skipped loudly
//! with the missing capability named.

use naga::valid::{Capabilities, ValidationFlags, Validator};

fn caps_of(names: &[&str]) -> Capabilities {
    names.iter().fold(Capabilities::empty(), |c, n| {
        c | Capabilities::from_name(n).unwrap_or_else(|| panic!("unknown naga capability {n:?}"))
    })
}

#[test]
fn optional_shaders_validate_with_their_capabilities_only() {
    let all = linops_gpu::shaders::optional();
    assert!(all.iter().any(|s| s.name == "coop_gemm"));
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
