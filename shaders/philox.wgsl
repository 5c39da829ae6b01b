// philox.wgsl — shared snippet: Philox4x32-10 and the distributions of linops_core::rng.
//
// Prepended by linops_gpu::shaders::assemble to the shaders that list it; defines no bindings
// and no entry points. The specification lives in crates/linops-core/src/rng (philox.rs for the
// generator, dist.rs for the distributions, mod.rs for the matrix layout); this file is its
// WGSL twin, tested bit for bit against the Rust code (Random123 known-answer vectors, 10^6
// draws) except Gaussian values (within GAUSSIAN_GPU_MAX_ULPS: fused multiply-adds and WGSL's
// sqrt accuracy).
//
// WGSL has no 64-bit integers: the high word of the 32x32 -> 64 product is assembled from
// 16-bit limbs (philox_mulhi); the low word is the wrapping u32 product.
//
// Float constants are hexadecimal literals, exactly the f32 values whose bits dist.rs uses.

const PHILOX_M0: u32 = 0xD2511F53u;
const PHILOX_M1: u32 = 0xCD9E8D57u;
const PHILOX_W0: u32 = 0x9E3779B9u;
const PHILOX_W1: u32 = 0xBB67AE85u;

const RNG_UNIFORM: u32 = 0u;
const RNG_RADEMACHER: u32 = 1u;
const RNG_GAUSSIAN: u32 = 2u;

const TWO_M24: f32 = 0x1p-24f;
const LOG_P0: f32 = 0x1.204376p-4f;
const LOG_P1: f32 = -0x1.d7a370p-4f;
const LOG_P2: f32 = 0x1.de4a34p-4f;
const LOG_P3: f32 = -0x1.fcba9ep-4f;
const LOG_P4: f32 = 0x1.23d37ep-3f;
const LOG_P5: f32 = -0x1.555ca0p-3f;
const LOG_P6: f32 = 0x1.999d58p-3f;
const LOG_P7: f32 = -0x1.fffff8p-3f;
const LOG_P8: f32 = 0x1.555554p-2f;
const LN2_LO: f32 = -0x1.bd0106p-13f;
const LN2_HI: f32 = 0x1.630000p-1f;
const SQRT2: f32 = 0x1.6a09e6p+0f;
const SIN_P0: f32 = -0x1.9943f2p-13f;
const SIN_P1: f32 = 0x1.11073cp-7f;
const SIN_P2: f32 = -0x1.555546p-3f;
const COS_P0: f32 = 0x1.99eb9cp-16f;
const COS_P1: f32 = -0x1.6c0c34p-10f;
const COS_P2: f32 = 0x1.55554ap-5f;
const PI_2M23: f32 = 0x1.921fb6p-22f;

// High 32 bits of the 64-bit product a * b, from 16-bit limbs (every partial sum fits a u32).
fn philox_mulhi(a: u32, b: u32) -> u32 {
    let a_lo = a & 0xFFFFu;
    let a_hi = a >> 16u;
    let b_lo = b & 0xFFFFu;
    let b_hi = b >> 16u;
    let ll = a_lo * b_lo;
    let lh = a_lo * b_hi;
    let hl = a_hi * b_lo;
    let hh = a_hi * b_hi;
    let mid = (ll >> 16u) + (lh & 0xFFFFu) + (hl & 0xFFFFu);
    return hh + (lh >> 16u) + (hl >> 16u) + (mid >> 16u);
}

fn philox4x32_10(ctr: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
    var c = ctr;
    var k = key;
    for (var r = 0u; r < 10u; r = r + 1u) {
        if (r > 0u) {
            k = k + vec2<u32>(PHILOX_W0, PHILOX_W1);
        }
        let hi0 = philox_mulhi(PHILOX_M0, c.x);
        let lo0 = PHILOX_M0 * c.x;
        let hi1 = philox_mulhi(PHILOX_M1, c.z);
        let lo1 = PHILOX_M1 * c.z;
        c = vec4<u32>(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
    }
    return c;
}

// base + hi * 2^32 + lo, mod 2^128 (word 0 least significant).
fn philox_counter_add(base: vec4<u32>, lo: u32, hi: u32) -> vec4<u32> {
    let c0 = base.x + lo;
    let carry0 = select(0u, 1u, c0 < lo);
    let t = base.y + hi;
    var carry1 = select(0u, 1u, t < hi);
    let c1 = t + carry0;
    carry1 = carry1 + select(0u, 1u, c1 < carry0);
    let c2 = base.z + carry1;
    let carry2 = select(0u, 1u, c2 < carry1);
    return vec4<u32>(c0, c1, c2, base.w + carry2);
}

// The block of rows 4*floor(i/4) .. +3 of column j: philox(counter + j * 2^32 + floor(i/4), key).
fn rng_matrix_block(counter: vec4<u32>, key: vec2<u32>, i: u32, j: u32) -> vec4<u32> {
    return philox4x32_10(philox_counter_add(counter, i >> 2u, j), key);
}

fn rng_uniform(w: u32) -> f32 {
    return f32(w >> 8u) * TWO_M24;
}

fn rng_rademacher(w: u32) -> f32 {
    return select(-1.0, 1.0, (w >> 31u) == 0u);
}

// ln(n * 2^-24) for 1 <= n <= 2^24 (dist.rs: ln_scaled).
fn rng_ln_scaled(n: u32) -> f32 {
    let bits = bitcast<u32>(f32(n));
    var e = i32(bits >> 23u) - 127;
    var f = bitcast<f32>((bits & 0x007FFFFFu) | 0x3F800000u);
    if (f > SQRT2) {
        f = f * 0.5;
        e = e + 1;
    }
    let ef = f32(e - 24);
    let x = f - 1.0;
    let z = x * x;
    var p = LOG_P0;
    p = p * x + LOG_P1;
    p = p * x + LOG_P2;
    p = p * x + LOG_P3;
    p = p * x + LOG_P4;
    p = p * x + LOG_P5;
    p = p * x + LOG_P6;
    p = p * x + LOG_P7;
    p = p * x + LOG_P8;
    var y = (p * x) * z;
    y = y + LN2_LO * ef;
    y = y + (-0.5 * z);
    let r = x + y;
    return r + LN2_HI * ef;
}

// (cos, sin) of 2*pi*k*2^-24 for k < 2^24, reduced exactly to [0, pi/4] (dist.rs: cos_sin_turn).
fn rng_cos_sin_turn(k: u32) -> vec2<f32> {
    let octant = k >> 21u;
    let rest = k & 0x001FFFFFu;
    let odd = (octant & 1u) == 1u;
    let t = select(rest, 0x00200000u - rest, odd);
    let a = f32(t) * PI_2M23;
    let z = a * a;
    var ps = SIN_P0;
    ps = ps * z + SIN_P1;
    ps = ps * z + SIN_P2;
    let sin_a = (ps * z) * a + a;
    var pc = COS_P0;
    pc = pc * z + COS_P1;
    pc = pc * z + COS_P2;
    let cos_a = (((pc * z) * z) - 0.5 * z) + 1.0;
    var cb = cos_a;
    var sb = sin_a;
    if (odd) {
        cb = sin_a;
        sb = cos_a;
    }
    switch (octant >> 1u) {
        case 0u: { return vec2<f32>(cb, sb); }
        case 1u: { return vec2<f32>(-sb, cb); }
        case 2u: { return vec2<f32>(-cb, -sb); }
        default: { return vec2<f32>(sb, -cb); }
    }
}

// Box-Muller on two words (dist.rs: box_muller).
fn rng_box_muller(w0: u32, w1: u32) -> vec2<f32> {
    let s = -2.0 * rng_ln_scaled((w0 >> 8u) + 1u);
    let r = sqrt(select(0.0, s, s > 0.0));
    return r * rng_cos_sin_turn(w1 >> 8u);
}

// The four values of one block under distribution `dist` (Dist::block).
fn rng_dist_block(dist: u32, w: vec4<u32>) -> vec4<f32> {
    if (dist == RNG_GAUSSIAN) {
        return vec4<f32>(rng_box_muller(w.x, w.y), rng_box_muller(w.z, w.w));
    }
    if (dist == RNG_RADEMACHER) {
        return vec4<f32>(rng_rademacher(w.x), rng_rademacher(w.y), rng_rademacher(w.z), rng_rademacher(w.w));
    }
    return vec4<f32>(rng_uniform(w.x), rng_uniform(w.y), rng_uniform(w.z), rng_uniform(w.w));
}
