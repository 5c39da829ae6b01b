//! The input conversion of the cooperative-matrix tier (`shaders/coop_half.wgsl`): f32 → bf16
//! (round to nearest even), the per-operand power-of-two scale, and → f16 bits, run by
//! `coop_convert.wgsl` on whatever adapter there is (lavapipe in CI: core WGSL only) and compared
//! bit for bit with the host reference below, which is written independently of the WGSL (f64
//! arithmetic on values rather than integer arithmetic on bits). Edge cases: ties, NaN, ±Inf,
//! ±0, f32 subnormals, f16 subnormal results, overflow, scales beyond f32's exponent range.

use linops_gpu::kernels::coop_convert::{HalfInput, half_codes};

/// Unbiased binary exponent of a finite non-zero f64 (`⌊log₂|x|⌋`), from its bits.
fn exponent(x: f64) -> i32 {
    assert!(x.is_finite() && x != 0.0 && x.is_normal());
    ((x.to_bits() >> 52) & 0x7ff) as i32 - 1023
}

/// `x` rounded to `bits` significant bits with exponents down to `emin` (below it the fixed
/// spacing `2^{emin − bits + 1}`), ties to even, in f64 (exact: the inputs have ≤ 24 bits).
fn round_sig(x: f64, bits: i32, emin: i32) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let e = exponent(x).max(emin);
    let spacing = 2f64.powi(e - bits + 1);
    (x / spacing).round_ties_even() * spacing
}

/// f32 → bf16 (8 significant bits, f32's exponent range), as the f32 bits of the result. NaN
/// stays NaN with its sign, quieted (the kernel's choice: bit 22 set, low 16 bits dropped).
pub fn bf16_reference(x: u32) -> u32 {
    let v = f32::from_bits(x);
    if v.is_nan() {
        return (x | 0x0040_0000) & 0xffff_0000;
    }
    let r = round_sig(f64::from(v), 8, -126);
    if r.abs() >= 2f64.powi(128) {
        // Beyond the largest bf16 (and f32) value after rounding: overflow.
        return (f32::INFINITY.copysign(v)).to_bits();
    }
    let out = (r as f32).to_bits();
    // Signed zero stays signed.
    if r == 0.0 { x & 0x8000_0000 } else { out }
}

/// The binary16 bits of `x` (f64, any value): round to 11 significant bits, subnormal spacing
/// `2⁻²⁴`, overflow to ±Inf beyond the largest value (65504) after rounding, NaN → quiet NaN.
pub fn f16_reference(x: f64) -> u32 {
    let sign = if x.is_sign_negative() { 0x8000 } else { 0 };
    if x.is_nan() {
        return sign | 0x7e00;
    }
    let r = round_sig(x, 11, -14).abs();
    if r > 65504.0 {
        return sign | 0x7c00;
    }
    if r == 0.0 {
        return sign;
    }
    if r < 2f64.powi(-14) {
        return sign | (r * 2f64.powi(24)) as u32;
    }
    let e = exponent(r);
    let mant = ((r / 2f64.powi(e) - 1.0) * 1024.0) as u32;
    sign | (((e + 15) as u32) << 10) | mant
}

/// The value of binary16 bits `h`, as f32 bits (NaN payloads shifted into place).
pub fn f16_value_reference(h: u32) -> u32 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let (e, mant) = ((h >> 10) & 0x1f, h & 0x3ff);
    if e == 31 {
        return ((h & 0x8000) << 16) | 0x7f80_0000 | (mant << 13);
    }
    let v = if e == 0 {
        f64::from(mant) * 2f64.powi(-24)
    } else {
        (1.0 + f64::from(mant) / 1024.0) * 2f64.powi(e as i32 - 15)
    };
    ((sign * v) as f32).to_bits()
}

/// The operand scale for bf16: `s` with `2^s·M ∈ [2¹⁵, 2¹⁶)` for `M = max|bf16(x)|`; 0 when `M`
/// is 0, infinite or NaN.
pub fn scale_reference(rounded: &[u32]) -> i32 {
    let vals: Vec<f32> = rounded.iter().map(|&b| f32::from_bits(b)).collect();
    if vals.iter().any(|v| !v.is_finite()) {
        return 0;
    }
    let m = vals.iter().fold(0f64, |m, v| m.max(f64::from(v.abs())));
    if m == 0.0 { 0 } else { 15 - exponent(m) }
}

/// The whole conversion of `x` for `input`, as [`linops_gpu::kernels::coop_convert::HalfCodes`]
/// fields: (rounded bits, f16 codes, code values as f32 bits, scale).
pub fn convert_reference(x: &[f32], input: HalfInput) -> (Vec<u32>, Vec<u32>, Vec<u32>, i32) {
    let rounded: Vec<u32> = x
        .iter()
        .map(|v| match input {
            HalfInput::F16 => v.to_bits(),
            HalfInput::Bf16 => bf16_reference(v.to_bits()),
        })
        .collect();
    let s = match input {
        HalfInput::F16 => 0,
        HalfInput::Bf16 => scale_reference(&rounded),
    };
    let codes: Vec<u32> = rounded
        .iter()
        .map(|&b| f16_reference(f64::from(f32::from_bits(b)) * 2f64.powi(s)))
        .collect();
    let values = codes.iter().map(|&h| f16_value_reference(h)).collect();
    (rounded, codes, values, s)
}

/// The f64 value the tier multiplies for each entry of `x`, in the original units (the f16
/// value divided by the operand's scale).
pub fn staged_values(x: &[f32], input: HalfInput) -> Vec<f64> {
    let (_, codes, values, s) = convert_reference(x, input);
    let _ = codes;
    values
        .iter()
        .map(|&v| f64::from(f32::from_bits(v)) * 2f64.powi(-s))
        .collect()
}

#[test]
fn host_references_match_known_values() {
    // bf16: π = 0x40490fdb → 0x40490000; 1 + 2⁻⁸ is a tie → 1 (even); 1 + 3·2⁻⁸ → 1 + 2⁻⁶
    // (even); the largest f32 overflows; 0x7f7f7fff stays finite; subnormals keep 8 bits.
    assert_eq!(bf16_reference(std::f32::consts::PI.to_bits()), 0x4049_0000);
    assert_eq!(
        bf16_reference((1.0f32 + 2f32.powi(-8)).to_bits()),
        0x3f80_0000
    );
    assert_eq!(
        bf16_reference((1.0f32 + 3.0 * 2f32.powi(-8)).to_bits()),
        (1.0f32 + 2f32.powi(-6)).to_bits()
    );
    assert_eq!(bf16_reference(0x7f7f_ffff), 0x7f80_0000);
    assert_eq!(bf16_reference(0xff7f_ffff), 0xff80_0000);
    assert_eq!(bf16_reference(0x7f7f_7fff), 0x7f7f_0000);
    assert_eq!(bf16_reference(0x0000_8000), 0x0000_0000); // tie to even (0)
    assert_eq!(bf16_reference(0x0001_8000), 0x0002_0000); // tie to even (2)
    assert_eq!(bf16_reference(0x8000_0001), 0x8000_0000); // −tiny → −0
    assert_eq!(bf16_reference(0x7f80_0001), 0x7fc0_0000); // signalling NaN stays NaN
    // f16: 65504 is the largest; 65519.99 rounds to it, 65520 (a tie) to Inf; 2⁻²⁴ the smallest
    // subnormal, 2⁻²⁵ a tie to 0, 3·2⁻²⁵ a tie to 2⁻²³.
    assert_eq!(f16_reference(65504.0), 0x7bff);
    assert_eq!(f16_reference(65519.99), 0x7bff);
    assert_eq!(f16_reference(65520.0), 0x7c00);
    assert_eq!(f16_reference(-2f64.powi(-24)), 0x8001);
    assert_eq!(f16_reference(2f64.powi(-25)), 0x0000);
    assert_eq!(f16_reference(3.0 * 2f64.powi(-25)), 0x0002);
    assert_eq!(f16_reference(2f64.powi(-14)), 0x0400);
    assert_eq!(f16_reference(1.0), 0x3c00);
    assert_eq!(f16_reference(-0.0), 0x8000);
    assert_eq!(f16_reference(0.1), 0x2e66);
    assert_eq!(f16_value_reference(0x2e66), 0.099_975_586f32.to_bits());
    assert_eq!(f16_value_reference(0x0001), 2f32.powi(-24).to_bits());
    assert_eq!(f16_value_reference(0xfc00), f32::NEG_INFINITY.to_bits());
}

/// Inputs that exercise every branch: one vector with specials (its scale is then 0), finite
/// vectors with f16 subnormal results and ties after scaling, huge and tiny maxima (scales far
/// beyond f32's exponent range), and seeded Gaussians of mixed magnitudes.
fn cases() -> Vec<(&'static str, Vec<f32>)> {
    let b = f32::from_bits;
    let p = |e: i32| 2f32.powi(e);
    let mut mixed = Vec::new();
    let rng = linops_core::rng::RngState::new(16);
    for i in 0..2000u64 {
        let g = rng.entry(linops_core::rng::Dist::Gaussian, i, 0);
        let e = (i % 61) as i32 - 30;
        mixed.push(g * p(e));
    }
    vec![
        (
            "specials",
            vec![
                f32::NAN,
                -f32::NAN,
                b(0x7f80_0001),
                b(0xffc1_2345),
                f32::INFINITY,
                f32::NEG_INFINITY,
                0.0,
                -0.0,
                f32::MAX,
                -f32::MAX,
                b(0x7f7f_7fff),
                b(0x0000_0001),
                b(0x8000_8000),
                b(0x0001_8000),
                b(0x007f_ffff),
                1.0 + p(-8),
                1.0 + 3.0 * p(-8),
                1.0 + p(-11),
                1.0 + 3.0 * p(-11),
                65504.0,
                65519.0,
                65520.0,
                1.0e5,
                p(-24),
                p(-25),
                3.0 * p(-25),
                p(-14) - p(-25),
                0.1,
            ],
        ),
        (
            // Max 3.0 → s = 14: entries below 2⁻²⁸ land in f16's subnormals, at and between
            // the grid points 2⁻²⁴·2⁻¹⁴ (ties included).
            "f16 subnormals after scaling",
            vec![
                3.0,
                -1.5,
                p(-28),
                p(-38),
                p(-39),
                3.0 * p(-39),
                -5.0 * p(-40),
                p(-40),
                1.0078125 * p(-30),
                1.75 * p(-33),
                p(-45),
            ],
        ),
        ("huge maximum", vec![3.0e38, 1.0e30, -7.0e20, 1.0, 1.0e-10]),
        (
            // Max below 2⁻¹²⁶: s > 127, beyond any single f32 power of two.
            "subnormal maximum",
            vec![
                b(0x0000_7fff),
                b(0x0000_0100),
                b(0x8000_0001),
                b(0x0000_1234),
            ],
        ),
        ("one entry", vec![-2.5]),
        ("mixed magnitudes", mixed),
    ]
}

/// The conversion kernel agrees bit for bit with the host reference, for both formats, on the
/// checked and the trusted device (runs on any adapter: core WGSL only).
#[test]
fn coop_convert_matches_host_reference_bit_for_bit() {
    for checked in [true, false] {
        let Some(dev) = crate::support::test_device(checked) else {
            return;
        };
        for (name, x) in cases() {
            for input in [HalfInput::F16, HalfInput::Bf16] {
                let m = dev.upload(x.len(), 1, &x).unwrap();
                let got = half_codes(&dev, &m, input).unwrap();
                let (rounded, codes, values, s) = convert_reference(&x, input);
                assert_eq!(got.scale_exp, s, "{name} {input:?}: scale");
                for i in 0..x.len() {
                    let ctx = || {
                        format!(
                            "{name} {input:?} entry {i} (x = {:e}, bits {:#010x}, s = {s}) on {}",
                            x[i],
                            x[i].to_bits(),
                            dev.info().name
                        )
                    };
                    assert_eq!(
                        got.rounded[i],
                        rounded[i],
                        "{}: rounded {:#010x} expected {:#010x}",
                        ctx(),
                        got.rounded[i],
                        rounded[i]
                    );
                    assert_eq!(
                        got.codes[i],
                        codes[i],
                        "{}: f16 code {:#06x} expected {:#06x}",
                        ctx(),
                        got.codes[i],
                        codes[i]
                    );
                    assert_eq!(
                        got.values[i],
                        values[i],
                        "{}: value {:#010x} expected {:#010x}",
                        ctx(),
                        got.values[i],
                        values[i]
                    );
                }
            }
        }
        crate::support::report(&format!(
            "coop_convert (bf16/f16 conversion) bit-exact on {} (checked={checked})",
            dev.info().name
        ));
    }
}

/// The bf16 path's promise, on the host reference: every staged value is the bf16-rounded
/// input exactly, except for entries whose scaled magnitude is below f16's normal range, which
/// are off by at most `2⁻²⁵·2^{−s}` (half the subnormal spacing) — the term docs/accuracy.md
/// states as `≤ 2⁻⁴⁰·max|bf16(x)|`.
#[test]
fn bf16_staging_is_exact_above_f16_subnormals() {
    for (name, x) in cases() {
        if x.iter().any(|v| !v.is_finite()) {
            continue;
        }
        let (rounded, _, _, s) = convert_reference(&x, HalfInput::Bf16);
        let staged = staged_values(&x, HalfInput::Bf16);
        let max = rounded
            .iter()
            .fold(0f64, |m, &b| m.max(f64::from(f32::from_bits(b)).abs()));
        for (i, (&r, &v)) in rounded.iter().zip(&staged).enumerate() {
            let r = f64::from(f32::from_bits(r));
            let err = (v - r).abs();
            if r.abs() * 2f64.powi(s) >= 2f64.powi(-14) {
                assert_eq!(
                    v, r,
                    "{name} entry {i}: {r:e} not exact after scaling by 2^{s}"
                );
            } else {
                let bound = 2f64.powi(-25 - s);
                assert!(
                    err <= bound && err <= 2f64.powi(-40) * max,
                    "{name} entry {i}: {r:e} staged as {v:e}, error {err:e} > {bound:e}"
                );
            }
        }
    }
}

/// The conversion tested above on any adapter is the one the cooperative kernels stage with: the
/// snippet `coop_half.wgsl` is, verbatim, part of `coop_convert` and of every cooperative shader,
/// and each cooperative kernel stages through `coop_half_value` and unscales with `coop_unscale`
/// (so an edited private copy in a kernel, which this test would not cover, fails here).
#[test]
fn coop_kernels_stage_with_the_tested_conversion() {
    let snippet = include_str!("../../shaders/coop_half.wgsl");
    let convert = linops_gpu::shaders::assemble("coop_convert");
    assert!(
        convert.contains(snippet),
        "coop_convert lacks coop_half.wgsl"
    );
    let coop: Vec<_> = linops_gpu::shaders::optional()
        .iter()
        .filter(|s| s.name.starts_with("coop_"))
        .collect();
    assert!(coop.len() >= 2, "expected coop_gemm and coop_block_gemm");
    for shader in coop {
        assert!(
            shader.source.contains(snippet),
            "{} lacks coop_half.wgsl verbatim",
            shader.name
        );
        let body = shader.source.replace(snippet, "");
        for call in [
            "coop_half_value(va, bf16, sa)",
            "coop_half_value(vb, bf16, sb)",
            "coop_unscale(tile_c[e], -(sa + sb))",
        ] {
            assert!(body.contains(call), "{} does not call {call}", shader.name);
        }
        for own in [
            "fn bf16_round_bits",
            "fn f16_bits_scaled",
            "fn coop_half_value",
        ] {
            assert!(
                !body.contains(own),
                "{} defines its own {own}: it would escape the conversion test",
                shader.name
            );
        }
    }
}
