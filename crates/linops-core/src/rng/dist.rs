//! Distributions from Philox words, with exact bit recipes shared by every backend.
//!
//! All recipes use only integer operations, exact integer→float conversions (of integers below
//! 2²⁴), multiplications by powers of two, and single correctly rounded `+`, `−`, `·`, plus one
//! `sqrt`; constants are given as f32 bit patterns (WGSL and Rust read the same values).
//!
//! - **Uniform f32 in [0, 1)**: `u = (w >> 8) · 2⁻²⁴` (24 random bits; values `k·2⁻²⁴`,
//!   `0 ≤ k < 2²⁴`). Exact, hence bit-identical on every backend.
//! - **Uniform f32 in (0, 1]**: `u = ((w >> 8) + 1) · 2⁻²⁴` (used where `log` needs `u > 0`).
//! - **Uniform f64 in [0, 1)** (CPU only): `u = (((hi << 32) | lo) >> 11) · 2⁻⁵³` from two words.
//! - **Rademacher**: `+1` when bit 31 of `w` is 0, `−1` when it is 1.
//! - **Gaussian (Box–Muller)**: from two words `(w₀, w₁)`,
//!   `u₁ = ((w₀ >> 8) + 1)·2⁻²⁴ ∈ (0, 1]`, `θ = 2π·(w₁ >> 8)·2⁻²⁴ ∈ [0, 2π)`,
//!   `g₀ = √(−2 ln u₁)·cos θ`, `g₁ = √(−2 ln u₁)·sin θ`. Evaluated in f32 by [`box_muller`]:
//!   `ln u₁ = ln f + (e − 24)·ln 2` with `n = u₁·2²⁴ = f·2ᵉ` split exactly through the bits of
//!   `f32(n)` (`f` folded into `(1/√2, √2]`) and `ln f` by the Cephes `logf` polynomial; the angle
//!   is reduced *exactly in integers* (3 octant bits of `w₁ >> 8`, reflected in odd octants) to
//!   `a ∈ [0, π/4]`, where the Cephes `sinf`/`cosf` polynomials apply; `−2 ln u₁` is clamped at +0 (`s > 0 ? s : 0`).
//!   Accuracy against the exact formula: a few f32 ulps (tested on the CPU).
//!
//! **Cross-backend guarantee.** Integer- and uniform-derived values (raw words, uniforms,
//! Rademacher) are bit-identical on CPU and GPU. Gaussian values agree within
//! [`GAUSSIAN_GPU_MAX_ULPS`] ulps: the recipe is the same, but Vulkan/WGSL allow a
//! multiply-add to be fused (one rounding instead of two) and WGSL's `sqrt` is not correctly
//! rounded (accuracy inherited from `1/inverseSqrt`: 2 + 2.5 ulp). Propagated: `ln` ≤ 2 ulp
//! (fused Horner steps perturb only the small correction terms; cancellation in
//! `(x + y) + (e − 24)·q₂` at most doubles it), halved by the square root, plus 4.5 ulp of the
//! square root itself; `sin`/`cos` ≤ 1 ulp; the final product 1 ulp. That is ≤ 6.5 units of
//! 2⁻²³ relative plus one rounding, i.e. at most 2·6.5 + 1 = 14 ulps of the result (a relative
//! error of 2⁻²³ is at most 2 ulps); we state 16. Measured on lavapipe and an H100: see
//! `docs/ops-sketch.md`.

/// Bound on `|g_gpu − g_cpu|` in ulps of `g_cpu` for Gaussian values (see the module docs).
///
/// # Examples
/// ```
/// assert!(linops_core::rng::GAUSSIAN_GPU_MAX_ULPS <= 16.0);
/// ```
pub const GAUSSIAN_GPU_MAX_ULPS: f64 = 16.0;

const TWO_M24: f32 = 1.0 / 16_777_216.0;

// Cephes logf polynomial for ln(1 + x), x ∈ (1/√2 − 1, √2 − 1], and the split of ln 2.
const LOG_P: [u32; 9] = [
    0x3d90_21bb,
    0xbdeb_d1b8,
    0x3def_251a,
    0xbdfe_5d4f,
    0x3e11_e9bf,
    0xbe2a_ae50,
    0x3e4c_ceac,
    0xbe7f_fffc,
    0x3eaa_aaaa,
];
const LN2_LO: u32 = 0xb95e_8083; // -2.12194440e-4
const LN2_HI: u32 = 0x3f31_8000; // 0.693359375
const SQRT2: u32 = 0x3fb5_04f3;
// Cephes sinf / cosf polynomials on [−π/4, π/4].
const SIN_P: [u32; 3] = [0xb94c_a1f9, 0x3c08_839e, 0xbe2a_aaa3];
const COS_P: [u32; 3] = [0x37cc_f5ce, 0xbab6_061a, 0x3d2a_aaa5];
const PI_2M23: u32 = 0x34c9_0fdb; // π·2⁻²³: one step of the 21-bit in-octant angle, times π/4

fn c(bits: u32) -> f32 {
    f32::from_bits(bits)
}

/// Uniform f32 in `[0, 1)`: `(w >> 8)·2⁻²⁴`.
///
/// # Examples
/// ```
/// use linops_core::rng::uniform_f32;
/// assert_eq!(uniform_f32(0), 0.0);
/// assert_eq!(uniform_f32(u32::MAX), 1.0 - 2f32.powi(-24));
/// ```
#[must_use]
#[inline(always)]
pub fn uniform_f32(w: u32) -> f32 {
    (w >> 8) as f32 * TWO_M24
}

/// Uniform f32 in `(0, 1]`: `((w >> 8) + 1)·2⁻²⁴`.
///
/// # Examples
/// ```
/// use linops_core::rng::uniform_open_f32;
/// assert_eq!(uniform_open_f32(0), 2f32.powi(-24));
/// assert_eq!(uniform_open_f32(u32::MAX), 1.0);
/// ```
#[must_use]
pub fn uniform_open_f32(w: u32) -> f32 {
    ((w >> 8) + 1) as f32 * TWO_M24
}

/// Uniform f64 in `[0, 1)` from two words: `(((hi << 32) | lo) >> 11)·2⁻⁵³`.
///
/// # Examples
/// ```
/// use linops_core::rng::uniform_f64;
/// assert_eq!(uniform_f64(0x8000_0000, 0), 0.5);
/// assert!(uniform_f64(u32::MAX, u32::MAX) < 1.0);
/// ```
#[must_use]
pub fn uniform_f64(hi: u32, lo: u32) -> f64 {
    let bits = ((u64::from(hi) << 32) | u64::from(lo)) >> 11;
    bits as f64 * (1.0 / 9_007_199_254_740_992.0)
}

/// Rademacher sign from bit 31: `+1` if it is 0, `−1` if it is 1.
///
/// # Examples
/// ```
/// use linops_core::rng::rademacher;
/// assert_eq!((rademacher(0x7fff_ffff), rademacher(0x8000_0000)), (1.0, -1.0));
/// ```
#[must_use]
#[inline(always)]
pub fn rademacher(w: u32) -> f32 {
    if w >> 31 == 0 { 1.0 } else { -1.0 }
}

/// `ln(n·2⁻²⁴)` for an integer `1 ≤ n ≤ 2²⁴`, by the recipe of the module docs.
#[inline(always)]
fn ln_scaled(n: u32) -> f32 {
    let bits = (n as f32).to_bits(); // exact: n ≤ 2²⁴
    let mut e = ((bits >> 23) as i32) - 127;
    let mut f = c((bits & 0x007f_ffff) | 0x3f80_0000); // n / 2ᵉ ∈ [1, 2)
    if f > c(SQRT2) {
        f *= 0.5;
        e += 1;
    }
    let ef = (e - 24) as f32;
    let x = f - 1.0;
    let z = x * x;
    let mut p = c(LOG_P[0]);
    for k in &LOG_P[1..] {
        p = p * x + c(*k);
    }
    let mut y = p * x * z;
    y += c(LN2_LO) * ef;
    y += -0.5 * z;
    let r = x + y;
    r + c(LN2_HI) * ef
}

/// `(cos θ, sin θ)` for `θ = 2π·k·2⁻²⁴`, `0 ≤ k < 2²⁴`, reduced exactly to `[0, π/4]`.
#[inline(always)]
fn cos_sin_turn(k: u32) -> (f32, f32) {
    let octant = k >> 21;
    let rest = k & 0x001f_ffff;
    let odd = octant & 1 == 1;
    let t = if odd { 0x0020_0000 - rest } else { rest };
    let a = t as f32 * c(PI_2M23);
    let z = a * a;
    let mut ps = c(SIN_P[0]);
    ps = ps * z + c(SIN_P[1]);
    ps = ps * z + c(SIN_P[2]);
    let sin_a = ps * z * a + a;
    let mut pc = c(COS_P[0]);
    pc = pc * z + c(COS_P[1]);
    pc = pc * z + c(COS_P[2]);
    let cos_a = (pc * z * z - 0.5 * z) + 1.0;
    let (cb, sb) = if odd { (sin_a, cos_a) } else { (cos_a, sin_a) };
    // By quadrant q = octant / 2: (cb, sb), (−sb, cb), (−cb, −sb), (sb, −cb). Written as a
    // swap and two sign flips (exact), not a `match`, so that the lanes of a batch
    // ([`super::lanes`]) compile to selects.
    let q = octant >> 1;
    let (x, y) = if q & 1 == 1 { (sb, cb) } else { (cb, sb) };
    let x = if (q ^ (q >> 1)) & 1 == 1 { -x } else { x };
    let y = if q >= 2 { -y } else { y };
    (x, y)
}

/// Box–Muller: two standard Gaussians `(√(−2 ln u₁)·cos θ, √(−2 ln u₁)·sin θ)` from two words
/// (see the module docs for the exact recipe).
///
/// # Examples
/// ```
/// use linops_core::rng::box_muller;
/// let (g0, g1) = box_muller(0x8000_0000, 0); // u₁ ≈ 1/2, θ = 0
/// assert!((g0 as f64 - (2.0 * 2f64.ln()).sqrt()).abs() < 1e-6);
/// assert_eq!(g1, 0.0);
/// ```
#[must_use]
#[inline(always)]
pub fn box_muller(w0: u32, w1: u32) -> (f32, f32) {
    let s = -2.0 * ln_scaled((w0 >> 8) + 1);
    let r = if s > 0.0 { s } else { 0.0 }.sqrt();
    let (cs, sn) = cos_sin_turn(w1 >> 8);
    (r * cs, r * sn)
}

/// A distribution of the entries of a dense random matrix.
///
/// # Examples
/// ```
/// use linops_core::rng::Dist;
/// assert_eq!(Dist::Gaussian.code(), 2);
/// assert_eq!(Dist::Rademacher.block([0, u32::MAX, 0, 0]), [1.0, -1.0, 1.0, 1.0]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Dist {
    /// Uniform f32 in `[0, 1)` ([`uniform_f32`]).
    Uniform,
    /// ±1 with probability 1/2 each ([`rademacher`]).
    Rademacher,
    /// Standard normal ([`box_muller`] on word pairs (0, 1) and (2, 3)).
    Gaussian,
}

impl Dist {
    /// The code the WGSL kernels use for this distribution (0, 1, 2).
    ///
    /// # Examples
    /// ```
    /// assert_eq!(linops_core::rng::Dist::Uniform.code(), 0);
    /// ```
    #[must_use]
    pub fn code(self) -> u32 {
        match self {
            Dist::Uniform => 0,
            Dist::Rademacher => 1,
            Dist::Gaussian => 2,
        }
    }

    /// The four values of one Philox block: word `r` gives value `r` (uniform, Rademacher);
    /// for Gaussian, words (0, 1) give values (0, 1) and words (2, 3) give values (2, 3).
    ///
    /// # Examples
    /// ```
    /// use linops_core::rng::{Dist, uniform_f32};
    /// assert_eq!(Dist::Uniform.block([0, 256, 512, 768])[3], uniform_f32(768));
    /// ```
    #[must_use]
    pub fn block(self, w: [u32; 4]) -> [f32; 4] {
        match self {
            Dist::Uniform => w.map(uniform_f32),
            Dist::Rademacher => w.map(rademacher),
            Dist::Gaussian => {
                let (a, b) = box_muller(w[0], w[1]);
                let (c, d) = box_muller(w[2], w[3]);
                [a, b, c, d]
            }
        }
    }
}
