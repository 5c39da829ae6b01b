//! GPU kernel tests: every kernel of `linops_gpu` against its definition, computed in f64 on the
//! host, on seeded random inputs; each case runs on a checked-shader device and a trusted-shader
//! device and the two results must be bit-identical (a difference means an out-of-bounds access
//! that bounds checks clamped). Also: device limits, pool reuse and typed errors for bad ranges.
//!
//! Devices come from [`test_device`]: `LINOPS_ADAPTER` picks the adapter (e.g. `llvmpipe`);
//! without an adapter the tests print `SKIPPED (...)` to stderr, or fail when
//! `LINOPS_REQUIRE_GPU=1`.
//!
//! Tolerances follow the standard error bounds: for a length-k dot product with a final
//! alpha/beta update, |ĉ − c| ≤ 2·(k + 2)·u·(|alpha|·(|A||B|) + |beta|·|C|) with u = 2⁻²⁴.

use std::sync::{Arc, OnceLock};

use linops_core::Error;
use linops_gpu::{DeviceOptions, GemmArgs, GemmTile, GpuDevice, Side};

/// Unit roundoff of f32.
const U: f64 = 1.0 / 16_777_216.0;

/// One cached device per kind (checked or trusted shaders); `None` (with a loud skip line) when
/// no adapter exists, a panic instead when `LINOPS_REQUIRE_GPU=1`.
pub fn test_device(checked: bool) -> Option<Arc<GpuDevice>> {
    static CHECKED: OnceLock<Result<Arc<GpuDevice>, Error>> = OnceLock::new();
    static TRUSTED: OnceLock<Result<Arc<GpuDevice>, Error>> = OnceLock::new();
    let cell = if checked { &CHECKED } else { &TRUSTED };
    let dev = cell
        .get_or_init(|| GpuDevice::new(&DeviceOptions::from_env().with_checked_shaders(checked)));
    match dev {
        Ok(d) => Some(Arc::clone(d)),
        Err(e) => {
            let reason = match e {
                Error::NoAdapter(r) => r.clone(),
                other => other.to_string(),
            };
            if std::env::var("LINOPS_REQUIRE_GPU").as_deref() == Ok("1") {
                panic!("LINOPS_REQUIRE_GPU=1 but no GPU device: {reason}");
            }
            // Written to the real stderr (not `eprintln!`, which the test harness captures), so
            // the skip shows in the output of a passing run.
            let line = format!("SKIPPED (no GPU adapter: {reason})\n");
            let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
            None
        }
    }
}

/// Both devices (checked, trusted), or `None` when skipped.
fn devices() -> Option<(Arc<GpuDevice>, Arc<GpuDevice>)> {
    Some((test_device(true)?, test_device(false)?))
}

/// SplitMix64: a tiny seeded generator for test inputs.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [-1, 1).
    fn next_f32(&mut self) -> f32 {
        ((self.next_u64() >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }

    fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.next_f32()).collect()
    }
}

/// Runs `f` on the checked and the trusted device and requires bit-identical outputs.
fn on_both(what: &str, f: impl Fn(&Arc<GpuDevice>) -> Vec<f32>) -> Option<Vec<f32>> {
    let (checked, trusted) = devices()?;
    let a = f(&checked);
    let b = f(&trusted);
    assert_eq!(
        a.len(),
        b.len(),
        "{what}: checked/trusted output lengths differ"
    );
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert!(
            x.to_bits() == y.to_bits(),
            "{what}: checked and trusted shaders differ at {i}: {x:e} vs {y:e}"
        );
    }
    Some(a)
}

/// Asserts |actual − expected| ≤ bound elementwise (NaN fails), naming everything on failure.
fn assert_close(what: &str, actual: &[f32], expected: &[f64], bound: &[f64]) {
    assert_eq!(actual.len(), expected.len(), "{what}: length");
    for i in 0..actual.len() {
        let diff = (f64::from(actual[i]) - expected[i]).abs();
        assert!(
            diff <= bound[i],
            "{what}: index {i}: actual {:e}, expected {:e}, diff {diff:e}, bound {:e}",
            actual[i],
            expected[i],
            bound[i]
        );
    }
}

// ---------------------------------------------------------------------------------------------
// GEMM
// ---------------------------------------------------------------------------------------------

/// Elements a GEMM operand spans (plus `slack` untouched ones at the end).
fn span(
    rows: usize,
    cols: usize,
    ld: usize,
    offset: usize,
    stride: usize,
    batch: usize,
    slack: usize,
) -> usize {
    offset + (batch - 1) * stride + (rows - 1) + (cols - 1) * ld + 1 + slack
}

struct GemmInputs {
    a: Vec<f32>,
    b: Vec<f32>,
    c: Vec<f32>,
}

fn gemm_inputs(g: &GemmArgs, seed: u64, nan_c: bool) -> GemmInputs {
    let mut rng = SplitMix64(seed);
    let (ra, ca) = if g.trans_a { (g.k, g.m) } else { (g.m, g.k) };
    let (rb, cb) = if g.trans_b { (g.n, g.k) } else { (g.k, g.n) };
    let a = rng.vec(span(ra, ca, g.lda, g.offset_a, g.stride_a, g.batch, 3));
    let b = rng.vec(span(rb, cb, g.ldb, g.offset_b, g.stride_b, g.batch, 3));
    let n_c = span(g.m, g.n, g.ldc, g.offset_c, g.stride_c, g.batch, 3);
    let c = if nan_c {
        vec![f32::NAN; n_c]
    } else {
        rng.vec(n_c)
    };
    GemmInputs { a, b, c }
}

fn gpu_gemm(dev: &Arc<GpuDevice>, g: &GemmArgs, inp: &GemmInputs) -> Vec<f32> {
    let a = dev.upload(inp.a.len(), 1, &inp.a).unwrap();
    let b = dev.upload(inp.b.len(), 1, &inp.b).unwrap();
    let c = dev.upload(inp.c.len(), 1, &inp.c).unwrap();
    let mut enc = dev.encoder();
    enc.gemm(g, &a, &b, &c).unwrap();
    enc.submit().unwrap();
    dev.download(&c).unwrap()
}

/// f64 reference: (expected C buffer, error bound per element, written mask).
fn ref_gemm(g: &GemmArgs, inp: &GemmInputs) -> (Vec<f64>, Vec<f64>, Vec<bool>) {
    let mut out: Vec<f64> = inp.c.iter().map(|&v| f64::from(v)).collect();
    let mut bound = vec![0.0; out.len()];
    let mut written = vec![false; out.len()];
    let (alpha, beta) = (f64::from(g.alpha), f64::from(g.beta));
    for t in 0..g.batch {
        let ea = |i: usize, p: usize| {
            let idx = g.offset_a
                + t * g.stride_a
                + if g.trans_a {
                    p + i * g.lda
                } else {
                    i + p * g.lda
                };
            f64::from(inp.a[idx])
        };
        let eb = |p: usize, j: usize| {
            let idx = g.offset_b
                + t * g.stride_b
                + if g.trans_b {
                    j + p * g.ldb
                } else {
                    p + j * g.ldb
                };
            f64::from(inp.b[idx])
        };
        for j in 0..g.n {
            for i in 0..g.m {
                let (mut s, mut abs) = (0.0, 0.0);
                for p in 0..g.k {
                    s += ea(i, p) * eb(p, j);
                    abs += (ea(i, p) * eb(p, j)).abs();
                }
                let idx = g.offset_c + t * g.stride_c + i + j * g.ldc;
                let old = f64::from(inp.c[idx]);
                let (cterm, cabs) = if g.beta == 0.0 {
                    (0.0, 0.0)
                } else {
                    (beta * old, (beta * old).abs())
                };
                out[idx] = alpha * s + cterm;
                bound[idx] = 2.0 * (g.k as f64 + 2.0) * U * (alpha.abs() * abs + cabs);
                written[idx] = true;
            }
        }
    }
    (out, bound, written)
}

fn check_gemm(g: &GemmArgs, seed: u64, nan_c: bool) {
    let what = format!(
        "gemm m={} n={} k={} ta={} tb={} alpha={} beta={} batch={} tile={:?} seed={seed}",
        g.m, g.n, g.k, g.trans_a, g.trans_b, g.alpha, g.beta, g.batch, g.tile
    );
    let inp = gemm_inputs(g, seed, nan_c);
    let Some(got) = on_both(&what, |d| gpu_gemm(d, g, &inp)) else {
        return;
    };
    let (expected, bound, written) = ref_gemm(g, &inp);
    for i in 0..got.len() {
        if written[i] {
            let diff = (f64::from(got[i]) - expected[i]).abs();
            assert!(
                diff <= bound[i],
                "{what}: C buffer index {i}: actual {:e}, expected {:e}, diff {diff:e}, bound {:e}",
                got[i],
                expected[i],
                bound[i]
            );
        } else {
            assert!(
                got[i].to_bits() == inp.c[i].to_bits(),
                "{what}: C buffer index {i} outside every C_t was modified: {:e} (was {:e})",
                got[i],
                inp.c[i]
            );
        }
    }
}

const SHAPES: &[(usize, usize, usize)] = &[
    (1, 1, 1),
    (3, 17, 5),
    (64, 64, 64),
    (127, 257, 33),
    (1000, 3, 17),
];
const TRANS: &[(bool, bool)] = &[(false, false), (true, false), (false, true), (true, true)];

#[test]
fn gemm_shapes_and_transposes() {
    let mut seed = 1;
    for &(m, n, k) in SHAPES {
        for &(ta, tb) in TRANS {
            let g = GemmArgs::new(m, n, k).with_trans_a(ta).with_trans_b(tb);
            check_gemm(&g, seed, false);
            seed += 1;
        }
    }
}

#[test]
fn gemm_every_tile_config() {
    let mut seed = 100;
    for tile in [GemmTile::T128, GemmTile::T64, GemmTile::T32] {
        for &(m, n, k) in &[(1, 1, 1), (127, 257, 33), (129, 130, 40), (33, 65, 17)] {
            for &(ta, tb) in TRANS {
                let g = GemmArgs::new(m, n, k)
                    .with_trans_a(ta)
                    .with_trans_b(tb)
                    .with_tile(tile);
                check_gemm(&g, seed, false);
                seed += 1;
            }
        }
    }
}

#[test]
fn gemm_alpha_beta() {
    let g = GemmArgs::new(37, 29, 23).with_alpha(-0.75).with_beta(1.5);
    check_gemm(&g, 200, false);
    let g = GemmArgs::new(37, 29, 23)
        .with_trans_a(true)
        .with_alpha(2.0)
        .with_beta(-1.0);
    check_gemm(&g, 201, false);
    let g = GemmArgs::new(1, 1, 1).with_alpha(0.0).with_beta(1.0);
    check_gemm(&g, 202, false);
}

#[test]
fn gemm_beta_zero_does_not_read_nan_c() {
    for &(ta, tb) in TRANS {
        for tile in [GemmTile::Auto, GemmTile::T128, GemmTile::T32] {
            let g = GemmArgs::new(70, 45, 19)
                .with_trans_a(ta)
                .with_trans_b(tb)
                .with_alpha(1.25)
                .with_tile(tile);
            check_gemm(&g, 300, true);
        }
    }
}

#[test]
fn gemm_batched_with_offsets_and_lds() {
    let mut seed = 400;
    for &(ta, tb) in TRANS {
        for tile in [GemmTile::Auto, GemmTile::T64] {
            let (m, n, k) = (19, 23, 11);
            let base = GemmArgs::new(m, n, k)
                .with_trans_a(ta)
                .with_trans_b(tb)
                .with_tile(tile);
            let (ra, ca) = if ta { (k, m) } else { (m, k) };
            let (rb, cb) = if tb { (n, k) } else { (k, n) };
            let (lda, ldb, ldc) = (ra + 3, rb + 5, m + 2);
            let g = base
                .with_ld(lda, ldb, ldc)
                .with_offsets(7, 2, 5)
                .with_batch(3, lda * ca + 4, ldb * cb + 1, ldc * n + 6)
                .with_alpha(0.5)
                .with_beta(-2.0);
            check_gemm(&g, seed, false);
            check_gemm(&g.clone().with_beta(0.0), seed + 1, true);
            seed += 2;
        }
    }
    // Broadcast A (stride_a = 0) and interleaved outputs: C_t is rows t·m .. (t+1)·m of one
    // 3m × n matrix (ldc = 3m, stride_c = m).
    let (m, n, k) = (8, 5, 6);
    let g = GemmArgs::new(m, n, k)
        .with_ld(m, k, 3 * m)
        .with_batch(3, 0, k * n, m);
    check_gemm(&g, 500, false);
}

// ---------------------------------------------------------------------------------------------
// Elementwise, transpose, reductions
// ---------------------------------------------------------------------------------------------

#[test]
fn axpby_matches_definition() {
    for (seed, &(r, c)) in [(1usize, 1usize), (37, 13), (256, 3)].iter().enumerate() {
        for &(alpha, beta, nan_y) in &[
            (1.5f32, -0.5f32, false),
            (-2.0, 0.0, true),
            (0.0, 1.0, false),
        ] {
            let mut rng = SplitMix64(600 + seed as u64);
            let x = rng.vec(r * c);
            let y0 = if nan_y {
                vec![f32::NAN; r * c]
            } else {
                rng.vec(r * c)
            };
            let what = format!(
                "axpby {r}x{c} alpha={alpha} beta={beta} seed={}",
                600 + seed
            );
            let Some(got) = on_both(&what, |d| {
                let xd = d.upload(r, c, &x).unwrap();
                let yd = d.upload(r, c, &y0).unwrap();
                let mut enc = d.encoder();
                enc.axpby(alpha, &xd, beta, &yd).unwrap();
                enc.submit().unwrap();
                d.download(&yd).unwrap()
            }) else {
                return;
            };
            let (a, b) = (f64::from(alpha), f64::from(beta));
            let yterm = |i: usize| {
                if beta == 0.0 {
                    0.0
                } else {
                    b * f64::from(y0[i])
                }
            };
            let expected: Vec<f64> = (0..r * c).map(|i| a * f64::from(x[i]) + yterm(i)).collect();
            let bound: Vec<f64> = (0..r * c)
                .map(|i| 4.0 * U * ((a * f64::from(x[i])).abs() + yterm(i).abs()))
                .collect();
            assert_close(&what, &got, &expected, &bound);
        }
    }
}

#[test]
fn scale_copies_and_scales_beyond_one_dispatch_dimension() {
    // 4097 x 4096 = 16 781 312 elements > 65535 · 256: needs the 2-D grid.
    let (r, c) = (4097, 4096);
    let x = SplitMix64(700).vec(r * c);
    let Some((checked, trusted)) = devices() else {
        return;
    };
    if (r * c * 4) as u64 > checked.max_binding_bytes() {
        eprintln!("SKIPPED (scale 2-D grid: {r}x{c} exceeds the binding limit)");
        return;
    }
    for (alpha, dev) in [(1.0f32, &checked), (-3.0, &trusted)] {
        let xd = dev.upload(r, c, &x).unwrap();
        let yd = dev.alloc(r, c).unwrap();
        let mut enc = dev.encoder();
        enc.scale(alpha, &xd, &yd).unwrap();
        enc.submit().unwrap();
        let y = dev.download(&yd).unwrap();
        for i in 0..r * c {
            assert!(
                y[i].to_bits() == (alpha * x[i]).to_bits(),
                "scale {r}x{c} alpha={alpha}: index {i}: actual {:e}, expected {:e}",
                y[i],
                alpha * x[i]
            );
        }
    }
    // Small case on both devices, bit-identical.
    let x = SplitMix64(701).vec(15);
    let got = on_both("scale 3x5", |d| {
        let xd = d.upload(3, 5, &x).unwrap();
        let yd = d.alloc(3, 5).unwrap();
        let mut enc = d.encoder();
        enc.scale(0.5, &xd, &yd).unwrap();
        enc.submit().unwrap();
        d.download(&yd).unwrap()
    });
    if let Some(y) = got {
        assert!(
            y.iter()
                .zip(&x)
                .all(|(a, b)| a.to_bits() == (0.5 * b).to_bits())
        );
    }
}

#[test]
fn diag_scale_left_and_right() {
    for &(r, c) in &[(1usize, 1usize), (31, 7), (5, 300)] {
        for side in [Side::Left, Side::Right] {
            let mut rng = SplitMix64(800 + (r * c) as u64);
            let x = rng.vec(r * c);
            let dlen = if side == Side::Left { r } else { c };
            let dv = rng.vec(dlen);
            let alpha = -1.75f32;
            let what = format!("diag_scale {side:?} {r}x{c}");
            let Some(got) = on_both(&what, |d| {
                let xd = d.upload(r, c, &x).unwrap();
                let dd = d.upload(dlen, 1, &dv).unwrap();
                let yd = d.alloc(r, c).unwrap();
                let mut enc = d.encoder();
                enc.diag_scale(alpha, &dd, &xd, &yd, side).unwrap();
                enc.submit().unwrap();
                d.download(&yd).unwrap()
            }) else {
                return;
            };
            let expected: Vec<f64> = (0..r * c)
                .map(|e| {
                    let di = if side == Side::Left { e % r } else { e / r };
                    f64::from(alpha) * f64::from(dv[di]) * f64::from(x[e])
                })
                .collect();
            let bound: Vec<f64> = expected.iter().map(|v| 4.0 * U * v.abs()).collect();
            assert_close(&what, &got, &expected, &bound);
        }
    }
}

#[test]
fn transpose_is_exact() {
    for &(r, c) in &[
        (1usize, 1usize),
        (17, 33),
        (100, 3),
        (3, 100),
        (64, 64),
        (1, 70),
    ] {
        let x = SplitMix64(900 + (r * c) as u64).vec(r * c);
        let what = format!("transpose {r}x{c}");
        let Some(got) = on_both(&what, |d| {
            let xd = d.upload(r, c, &x).unwrap();
            let yd = d.alloc(c, r).unwrap();
            let mut enc = d.encoder();
            enc.transpose(&xd, &yd).unwrap();
            enc.submit().unwrap();
            d.download(&yd).unwrap()
        }) else {
            return;
        };
        for i in 0..r {
            for j in 0..c {
                assert!(
                    got[j + i * c].to_bits() == x[i + j * r].to_bits(),
                    "{what}: y({j},{i}) = {:e}, expected x({i},{j}) = {:e}",
                    got[j + i * c],
                    x[i + j * r]
                );
            }
        }
    }
}

#[test]
fn col_norms_match_and_do_not_overflow() {
    let (r, c) = (1000, 6);
    let mut x = SplitMix64(1000).vec(r * c);
    for i in 0..r {
        x[i + r] *= 1.0e30; // column 1: would overflow a naive sum of squares
        x[i + 2 * r] *= 1.0e-30; // column 2: would underflow
        x[i + 3 * r] = 0.0; // column 3: zero
    }
    x[4 * r + 17] = f32::INFINITY; // column 4: infinite
    let what = format!("col_norms {r}x{c}");
    let Some(got) = on_both(&what, |d| {
        let xd = d.upload(r, c, &x).unwrap();
        let out = d.alloc(1, c).unwrap();
        let mut enc = d.encoder();
        enc.col_norms(&xd, &out).unwrap();
        enc.submit().unwrap();
        d.download(&out).unwrap()
    }) else {
        return;
    };
    assert!(
        got[4].is_infinite() && got[4] > 0.0,
        "{what}: column 4 norm {} is not +inf",
        got[4]
    );
    for j in [0usize, 1, 2, 3, 5] {
        let exact: f64 = (0..r)
            .map(|i| f64::from(x[i + j * r]).powi(2))
            .sum::<f64>()
            .sqrt();
        let bound = 2.0 * (r as f64 + 4.0) * U * exact;
        let diff = (f64::from(got[j]) - exact).abs();
        assert!(
            got[j].is_finite(),
            "{what}: column {j} norm {} not finite",
            got[j]
        );
        assert!(
            diff <= bound,
            "{what}: column {j}: actual {:e}, expected {exact:e}, diff {diff:e}, bound {bound:e}",
            got[j]
        );
    }
}

#[test]
fn col_dots_match_definition() {
    for &(r, c) in &[(1usize, 1usize), (513, 9), (2, 66_000)] {
        let mut rng = SplitMix64(1100 + r as u64);
        let x = rng.vec(r * c);
        let y = rng.vec(r * c);
        let what = format!("col_dots {r}x{c}");
        let Some(got) = on_both(&what, |d| {
            let xd = d.upload(r, c, &x).unwrap();
            let yd = d.upload(r, c, &y).unwrap();
            let out = d.alloc(c, 1).unwrap();
            let mut enc = d.encoder();
            enc.col_dots(&xd, &yd, &out).unwrap();
            enc.submit().unwrap();
            d.download(&out).unwrap()
        }) else {
            return;
        };
        let expected: Vec<f64> = (0..c)
            .map(|j| {
                (0..r)
                    .map(|i| f64::from(x[i + j * r]) * f64::from(y[i + j * r]))
                    .sum()
            })
            .collect();
        let bound: Vec<f64> = (0..c)
            .map(|j| {
                let abs: f64 = (0..r)
                    .map(|i| (f64::from(x[i + j * r]) * f64::from(y[i + j * r])).abs())
                    .sum();
                2.0 * (r as f64 + 2.0) * U * abs
            })
            .collect();
        assert_close(&what, &got, &expected, &bound);
    }
}

// ---------------------------------------------------------------------------------------------
// Limits, pool, errors
// ---------------------------------------------------------------------------------------------

#[test]
fn oversized_matrix_is_a_device_limit_error() {
    let Some(dev) = test_device(false) else {
        return;
    };
    let elems = dev.max_binding_bytes() / 4 + 1;
    match dev.alloc(elems as usize, 1) {
        Err(Error::DeviceLimit {
            limit_name,
            requested,
            limit,
            ..
        }) => {
            assert!(limit_name.starts_with("max_"), "limit name {limit_name}");
            assert!(requested > limit);
        }
        other => panic!("alloc of {elems} f32 values: expected DeviceLimit, got {other:?}"),
    }
    assert!(matches!(
        dev.alloc(usize::MAX, 3),
        Err(Error::DeviceLimit { .. })
    ));
    assert!(matches!(dev.alloc(0, 3), Err(Error::EmptyDimension { .. })));
    assert!(matches!(dev.zeros(4, 0), Err(Error::EmptyDimension { .. })));
}

#[test]
fn pool_reuses_buffers_and_pipelines_are_cached() {
    if test_device(false).is_none() {
        return;
    }
    // A private device so other tests do not move the counters.
    let dev = GpuDevice::new(&DeviceOptions::from_env()).expect("second device");
    let before = dev.pool_stats();
    assert_eq!((before.allocations, before.reuses), (0, 0));
    let a = dev.upload(100, 100, &vec![1.0; 10_000]).unwrap();
    drop(a);
    assert_eq!(dev.pool_stats().cached_buffers, 1);
    let b = dev.zeros(99, 101).unwrap(); // same size class
    let s = dev.pool_stats();
    assert_eq!((s.allocations, s.reuses, s.cached_buffers), (1, 1, 0));
    assert_eq!(dev.download(&b).unwrap(), vec![0.0; 99 * 101]);

    let x = dev.upload(4, 4, &[1.0; 16]).unwrap();
    let y = dev.alloc(4, 4).unwrap();
    for _ in 0..3 {
        let mut enc = dev.encoder();
        enc.gemm(&GemmArgs::new(4, 4, 4), &x, &x, &y).unwrap();
        enc.submit().unwrap();
    }
    assert_eq!(dev.cached_pipelines(), 1);
    assert_eq!(dev.download(&y).unwrap(), vec![4.0; 16]);

    // A matrix of another device is rejected.
    let Some(shared) = test_device(false) else {
        return;
    };
    let mut enc = shared.encoder();
    assert!(matches!(
        enc.scale(1.0, &x, &y),
        Err(Error::InvalidArgument(_))
    ));
    dev.trim_pool();
    assert_eq!(dev.pool_stats().cached_bytes, 0);
}

#[test]
fn bad_ranges_are_typed_errors() {
    let Some(dev) = test_device(false) else {
        return;
    };
    let a = dev.zeros(6, 4).unwrap();
    let b = dev.zeros(4, 5).unwrap();
    let c = dev.zeros(6, 5).unwrap();
    let mut enc = dev.encoder();
    // ld too small.
    let g = GemmArgs::new(6, 5, 4).with_ld(5, 4, 6);
    assert!(
        matches!(enc.gemm(&g, &a, &b, &c), Err(Error::InvalidArgument(_))),
        "lda < m"
    );
    // Offset pushes A past its end.
    let g = GemmArgs::new(6, 5, 4).with_offsets(1, 0, 0);
    assert!(
        matches!(enc.gemm(&g, &a, &b, &c), Err(Error::ShapeMismatch { .. })),
        "offset_a"
    );
    // Batch past the end of C.
    let g = GemmArgs::new(6, 5, 4).with_batch(2, 0, 0, 30);
    assert!(
        matches!(enc.gemm(&g, &a, &b, &c), Err(Error::ShapeMismatch { .. })),
        "batch"
    );
    // Overlapping batched outputs.
    let big_c = dev.zeros(60, 5).unwrap();
    let g = GemmArgs::new(6, 5, 4).with_batch(2, 0, 0, 1);
    assert!(
        matches!(enc.gemm(&g, &a, &b, &big_c), Err(Error::InvalidArgument(_))),
        "overlap"
    );
    // C aliases A.
    let sq = dev.zeros(4, 4).unwrap();
    let g = GemmArgs::new(4, 4, 4);
    assert!(
        matches!(enc.gemm(&g, &sq, &b, &sq), Err(Error::InvalidArgument(_))),
        "alias"
    );
    // Empty dimension.
    assert!(matches!(
        enc.gemm(&GemmArgs::new(0, 5, 4), &a, &b, &c),
        Err(Error::EmptyDimension { .. })
    ));
    // Too many workgroups in z.
    let max = dev.limits().max_compute_workgroups_per_dimension as usize;
    let one = dev.zeros(1, 1).unwrap();
    let many = dev.zeros(max + 1, 1).unwrap();
    let g = GemmArgs::new(1, 1, 1).with_batch(max + 1, 0, 0, 1);
    assert!(
        matches!(
            enc.gemm(&g, &one, &one, &many),
            Err(Error::DeviceLimit { .. })
        ),
        "z limit"
    );
    // Elementwise shape checks.
    assert!(matches!(
        enc.axpby(1.0, &a, 1.0, &c),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        enc.scale(1.0, &a, &a),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        enc.diag_scale(1.0, &b, &a, &a, Side::Left),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        enc.transpose(&a, &c),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        enc.col_norms(&a, &b),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        enc.col_dots(&a, &c, &one),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        dev.upload(2, 2, &[1.0; 3]),
        Err(Error::ShapeMismatch { .. })
    ));
    // Nothing valid was recorded; submitting the empty encoder is fine.
    assert!(enc.is_empty());
    enc.submit().unwrap();
}

#[test]
fn submit_timed_reports_time_when_supported() {
    let Some(dev) = test_device(false) else {
        return;
    };
    let a = dev.upload(64, 64, &SplitMix64(1200).vec(64 * 64)).unwrap();
    let c = dev.alloc(64, 64).unwrap();
    let mut enc = dev.encoder();
    enc.gemm(&GemmArgs::new(64, 64, 64), &a, &a, &c).unwrap();
    let ms = enc.submit_timed().unwrap();
    assert_eq!(ms.is_some(), dev.supports_timestamps());
    if let Some(ms) = ms {
        assert!(ms.is_finite() && ms >= 0.0, "timed {ms} ms");
    }
    eprintln!("gpu device: {} (timestamps: {:?} ms)", dev.info(), ms);
}

// ---------------------------------------------------------------------------------------------
// Walsh–Hadamard and the fused SRHT
// ---------------------------------------------------------------------------------------------

/// The unnormalized Walsh–Hadamard transform (f64) of `col` zero-padded to `n`, and the same of
/// `|col|` (the magnitude `|H|·|x|` that bounds the rounding error).
fn ref_wht(col: &[f64], n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut v: Vec<f64> = col
        .iter()
        .copied()
        .chain(std::iter::repeat(0.0))
        .take(n)
        .collect();
    let mut mag: Vec<f64> = v.iter().map(|e| e.abs()).collect();
    let mut h = 1;
    while h < n {
        for blk in (0..n).step_by(2 * h) {
            for i in blk..blk + h {
                let (a, b) = (v[i], v[i + h]);
                v[i] = a + b;
                v[i + h] = a - b;
                let (a, b) = (mag[i], mag[i + h]);
                mag[i] = a + b;
                mag[i + h] = a + b;
            }
        }
        h *= 2;
    }
    (v, mag)
}

/// Error bound of one output of a length-`n` transform scaled by `scale`, plus `beta·y`: each
/// entry is a sum computed in log₂n rounded stages, then one scaling (and, with signs, one more
/// product) and the update, so |error| ≤ (log₂n + 3)·u·(|scale|·(|H||x|)ᵢ + |beta·yᵢ|) (the
/// standard bound γ_k for a summation tree of depth k, Higham §4.2).
fn wht_bound(n: usize, scale: f64, mag: f64, beta_y: f64) -> f64 {
    (f64::from(n.trailing_zeros()) + 3.0) * U * (scale.abs() * mag + beta_y.abs())
        + f64::MIN_POSITIVE
}

/// Runs `fwht_using(scale, x, beta, y, subgroups)` on `dev` and returns y.
fn gpu_fwht(
    dev: &Arc<GpuDevice>,
    x: (&[f32], usize, usize),
    y: (&[f32], usize),
    scale: f32,
    beta: f32,
    subgroups: bool,
) -> Vec<f32> {
    let (data, rows_in, cols) = x;
    let xm = dev.upload(rows_in, cols, data).unwrap();
    let ym = dev.upload(y.1, cols, y.0).unwrap();
    let mut enc = dev.encoder();
    enc.fwht_using(scale, &xm, beta, &ym, subgroups).unwrap();
    enc.submit().unwrap();
    dev.download(&ym).unwrap()
}

/// The subgroup-shuffle path and the workgroup-memory fallback of the transform give the same
/// bits (they perform the same additions in the same order), on checked and trusted shaders, and
/// both match the definition; lengths cross the subgroup size, the workgroup buffer and the
/// strided passes.
#[test]
fn fwht_subgroup_and_workgroup_paths_agree_bitwise() {
    let Some((_, dev)) = devices() else { return };
    let Some((lo, hi)) = dev.subgroup_sizes() else {
        crate::support::report(&format!(
            "SKIPPED fwht subgroup path: {} has no Features::SUBGROUP (the workgroup path is \
             checked by every other transform test)",
            dev.name()
        ));
        return;
    };
    let cap = linops_gpu::kernels::fwht::block_capacity(&dev);
    let mut rng = SplitMix64(0xf3b7);
    let cases = [
        (1, 1, 2),
        (2, 2, 3),
        (3, 4, 2),
        (8, 8, 1),
        (31, 32, 3),
        (64, 40, 2),
        (256, 256, 2),
        (1000, 1024, 3),
        (cap, cap, 2),
        (cap + 1, 2 * cap, 2),
        (4 * cap, 4 * cap - 5, 2),
    ];
    for (rows_in, rows_out, cols) in cases {
        let n = rows_in.max(rows_out).next_power_of_two();
        let x = rng.vec(rows_in * cols);
        let y = rng.vec(rows_out * cols);
        let (scale, beta) = (1.0 / (n as f32).sqrt(), 0.5f32);
        let what = format!("fwht {rows_in}->{rows_out} x{cols} (cap {cap}, subgroups {lo}..{hi})");
        let sub = on_both(&format!("{what} subgroup"), |d| {
            gpu_fwht(d, (&x, rows_in, cols), (&y, rows_out), scale, beta, true)
        })
        .expect("devices exist");
        let wg = on_both(&format!("{what} workgroup"), |d| {
            gpu_fwht(d, (&x, rows_in, cols), (&y, rows_out), scale, beta, false)
        })
        .expect("devices exist");
        for (i, (a, b)) in sub.iter().zip(&wg).enumerate() {
            assert!(
                a.to_bits() == b.to_bits(),
                "{what}: subgroup and workgroup paths differ at {i}: {a:e} vs {b:e}"
            );
        }
        let (mut expected, mut bound) = (Vec::new(), Vec::new());
        for j in 0..cols {
            let col: Vec<f64> = x[j * rows_in..(j + 1) * rows_in]
                .iter()
                .map(|&v| f64::from(v))
                .collect();
            let (v, mag) = ref_wht(&col, n);
            for i in 0..rows_out {
                let by = f64::from(beta) * f64::from(y[j * rows_out + i]);
                expected.push(f64::from(scale) * v[i] + by);
                bound.push(wht_bound(n, f64::from(scale), mag[i], by));
            }
        }
        assert_close(&what, &sub, &expected, &bound);
    }
    crate::support::report(&format!(
        "fwht: subgroup (sizes {lo}..{hi}) and workgroup paths bit-identical on {} cases, \
         workgroup buffer {cap} entries",
        cases.len()
    ));
}

/// A transform long enough for two strided passes (ping-pong scratches) matches the definition.
#[test]
fn fwht_with_several_strided_passes_matches_the_definition() {
    let Some((_, dev)) = devices() else { return };
    let cap = linops_gpu::kernels::fwht::block_capacity(&dev);
    // One strided pass covers log₂(cap/16) stages past the first cap: 2·cap²/16 needs two.
    let n = cap * cap / 8;
    let mut rng = SplitMix64(0x5eed);
    let x = rng.vec(n);
    let scale = 1.0 / (n as f32).sqrt();
    let got = gpu_fwht(&dev, (&x, n, 1), (&vec![0.0; n], n), scale, 0.0, false);
    let col: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
    let (v, mag) = ref_wht(&col, n);
    let expected: Vec<f64> = v.iter().map(|e| f64::from(scale) * e).collect();
    let bound: Vec<f64> = mag
        .iter()
        .map(|m| wht_bound(n, f64::from(scale), *m, 0.0))
        .collect();
    assert_close(
        &format!("fwht n = {n} (cap {cap})"),
        &got,
        &expected,
        &bound,
    );
}

/// The fused SRHT in both directions against its definition (signs, zero-padded transform, row
/// gather), with beta ≠ 0, lengths inside and past the workgroup buffer, and an index out of
/// range (a zero row).
#[test]
fn srht_matches_its_definition_in_both_directions() {
    let Some(_) = devices() else { return };
    let cap = linops_gpu::kernels::fwht::block_capacity(&test_device(false).unwrap());
    let mut rng = SplitMix64(0x5147);
    for (m, d, cols) in [
        (1, 1, 1),
        (5, 3, 2),
        (100, 37, 3),
        (cap - 3, 50, 2),
        (2 * cap + 1, 70, 2),
    ] {
        let n = m.next_power_of_two();
        let signs: Vec<f32> = (0..m)
            .map(|_| if rng.next_u64() & 1 == 0 { 1.0 } else { -1.0 })
            .collect();
        // d distinct rows of n (every k-th, shifted), the last forward index out of range.
        let mut sample: Vec<u32> = (0..d)
            .map(|r| ((r * n) / d + (r % 2)) as u32 % n as u32)
            .collect();
        sample.sort_unstable();
        sample.dedup();
        let d = sample.len();
        let mut inverse = vec![d as u32; n];
        for (r, &s) in sample.iter().enumerate() {
            inverse[s as usize] = r as u32;
        }
        let mut fwd_idx = sample.clone();
        if d > 1 {
            fwd_idx[d - 1] = n as u32 + 5;
        }
        let (scale, beta) = (0.75 / (n as f32).sqrt(), 0.25f32);
        for transposed in [false, true] {
            let (rows_in, rows_out) = if transposed { (d, m) } else { (m, d) };
            let x = rng.vec(rows_in * cols);
            let y = rng.vec(rows_out * cols);
            let idx = if transposed { &inverse } else { &fwd_idx };
            let what = format!("srht {d}x{m} transposed={transposed} x{cols} (cap {cap})");
            let got = on_both(&what, |dev| {
                let xm = dev.upload(rows_in, cols, &x).unwrap();
                let ym = dev.upload(rows_out, cols, &y).unwrap();
                let sm = dev.upload(m, 1, &signs).unwrap();
                let im = dev.upload_indices(idx).unwrap();
                let mut enc = dev.encoder();
                enc.srht(scale, &im, &sm, &xm, beta, &ym, transposed)
                    .unwrap();
                enc.submit().unwrap();
                dev.download(&ym).unwrap()
            })
            .expect("devices exist");
            let (mut expected, mut bound) = (Vec::new(), Vec::new());
            for j in 0..cols {
                let xc = &x[j * rows_in..(j + 1) * rows_in];
                let col: Vec<f64> = if transposed {
                    idx.iter()
                        .map(|&s| xc.get(s as usize).map_or(0.0, |&v| f64::from(v)))
                        .collect()
                } else {
                    xc.iter()
                        .zip(&signs)
                        .map(|(&v, &s)| f64::from(v) * f64::from(s))
                        .collect()
                };
                let (v, mag) = ref_wht(&col, n);
                for i in 0..rows_out {
                    let by = f64::from(beta) * f64::from(y[j * rows_out + i]);
                    let (e, g) = if transposed {
                        (f64::from(signs[i]) * v[i], mag[i])
                    } else {
                        let s = idx[i] as usize;
                        (
                            v.get(s).copied().unwrap_or(0.0),
                            mag.get(s).copied().unwrap_or(0.0),
                        )
                    };
                    expected.push(f64::from(scale) * e + by);
                    bound.push(wht_bound(n, f64::from(scale), g, by));
                }
            }
            assert_close(&what, &got, &expected, &bound);
        }
    }
}
