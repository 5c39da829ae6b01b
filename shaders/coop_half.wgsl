// coop_half.wgsl — shared snippet: the conversion of f32 inputs to the half-precision values the
// cooperative-matrix tier multiplies, in integer arithmetic on the f32 bits (so every device gives
// the same bits, whatever it does with subnormal floats), and the exact power-of-two rescaling.
//
// Prepended to coop_convert.wgsl (core WGSL: runs anywhere, the conversion test runs it on
// lavapipe) and appended to coop_gemm.wgsl / coop_block_gemm.wgsl (cooperative matrices; their
// `enable` directives must open the module). Uses only u32/i32
// operations, bitcast and countLeadingZeros; no bindings.
//
//   bf16_round_bits(x)       f32 bits -> the f32 bits of x rounded to bfloat16 (8 significant
//                            bits, round to nearest, ties to even; NaN stays NaN, overflow -> Inf)
//   coop_scale_exp(max)      |entry| bits of an operand's largest entry -> s such that 2^s * max
//                            lies in [2^15, 2^16) (0 for a zero, infinite or NaN maximum)
//   f16_bits_scaled(x, s)    f32 bits x -> binary16 bits of 2^s * x, round to nearest, ties to
//                            even, with f16 subnormals, overflow to Inf, NaN -> quiet NaN
//   f16_code_value(h)        binary16 bits -> its exact f32 value
//   coop_half_value(v, bf16, s)  the value staged for input v: f16(2^s * v), after bf16 rounding
//                            when bf16 (then 2^s * v is exactly a bf16 value in f16's range)
//   coop_unscale(v, t)       v * 2^t by exact power-of-two multiplications

fn bf16_round_bits(x: u32) -> u32 {
    if ((x & 0x7fffffffu) > 0x7f800000u) {
        // NaN: keep the sign, make sure the kept payload is non-zero (quiet bit).
        return (x | 0x00400000u) & 0xffff0000u;
    }
    // Round to nearest even on the low 16 bits; a carry into the exponent is the correct result
    // (the largest finite f32 values round to Inf).
    return (x + 0x7fffu + ((x >> 16u) & 1u)) & 0xffff0000u;
}

fn coop_scale_exp(max_bits: u32) -> i32 {
    if (max_bits == 0u || max_bits >= 0x7f800000u) {
        return 0;
    }
    let ef = max_bits >> 23u;
    var e = i32(ef) - 127;
    if (ef == 0u) {
        // Subnormal: max = mant * 2^-149.
        e = i32(31u - countLeadingZeros(max_bits)) - 149;
    }
    return 15 - e;
}

fn f16_bits_scaled(x: u32, s: i32) -> u32 {
    let sign = (x >> 16u) & 0x8000u;
    let ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u) {
        return sign | 0x7e00u;
    }
    if (ax == 0x7f800000u) {
        return sign | 0x7c00u;
    }
    if (ax == 0u) {
        return sign;
    }
    // |x| = sig * 2^ex with sig normalised into [2^23, 2^24).
    let ef = ax >> 23u;
    var sig = ax & 0x7fffffu;
    var ex = -149;
    if (ef != 0u) {
        sig = sig | 0x800000u;
        ex = i32(ef) - 150;
    }
    let lz = countLeadingZeros(sig) - 8u;
    sig = sig << lz;
    ex = ex - i32(lz);
    // Unbiased exponent of 2^s * |x|.
    let e = ex + 23 + s;
    if (e > 15) {
        return sign | 0x7c00u;
    }
    if (e >= -14) {
        // Normal: keep 11 significant bits; a carry out of the significand bumps the exponent
        // (up to Inf, 0x7c00), which is the correctly rounded result.
        let q = sig >> 13u;
        let rem = sig & 0x1fffu;
        var r = q;
        if (rem > 0x1000u || (rem == 0x1000u && (q & 1u) == 1u)) {
            r = q + 1u;
        }
        return sign | ((u32(e + 14) << 10u) + r);
    }
    // Subnormal: the value in units of 2^-24 is sig * 2^-(shift), shift = -(e + 1) >= 14.
    let shift = u32(-(e + 1));
    if (shift >= 25u) {
        // Below 2^-25 (half the smallest subnormal): rounds to zero.
        return sign;
    }
    let q = sig >> shift;
    let rem = sig & ((1u << shift) - 1u);
    let half = 1u << (shift - 1u);
    var r = q;
    if (rem > half || (rem == half && (q & 1u) == 1u)) {
        r = q + 1u;
    }
    return sign | r;
}

fn f16_code_value(h: u32) -> f32 {
    let sign = (h & 0x8000u) << 16u;
    let e = (h >> 10u) & 0x1fu;
    let mant = h & 0x3ffu;
    if (e == 31u) {
        return bitcast<f32>(sign | 0x7f800000u | (mant << 13u));
    }
    if (e == 0u) {
        // Subnormal or zero: mant * 2^-24, exact and (when non-zero) an f32 normal number.
        let v = f32(mant) * bitcast<f32>(0x33800000u);
        return bitcast<f32>(bitcast<u32>(v) | sign);
    }
    return bitcast<f32>(sign | ((e + 112u) << 23u) | (mant << 13u));
}

fn coop_half_value(v: f32, bf16: bool, s: i32) -> f32 {
    var bits = bitcast<u32>(v);
    if (bf16) {
        bits = bf16_round_bits(bits);
    }
    return f16_code_value(f16_bits_scaled(bits, s));
}

fn coop_unscale(v: f32, t: i32) -> f32 {
    // Steps of at most 2^127 / 2^-126, all in one direction: the result is exact while it stays
    // in f32's normal range, and no intermediate overflows or underflows before the result does.
    var r = v;
    var e = t;
    loop {
        if (e <= 127) {
            break;
        }
        r = r * bitcast<f32>(0x7f000000u);
        e = e - 127;
    }
    loop {
        if (e >= -126) {
            break;
        }
        r = r * bitcast<f32>(0x00800000u);
        e = e + 126;
    }
    return r * bitcast<f32>(u32(e + 127) << 23u);
}
