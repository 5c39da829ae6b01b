// coop_convert.wgsl — the input conversion of the cooperative-matrix tier on its own, in core WGSL
// (no f16, no cooperative matrices): the pass that finds an operand's largest bf16-rounded
// magnitude (the bf16 scale), and the conversion of each entry to the f16 value the tier stages.
// The cooperative kernels run coop_absmax before they start and call the same functions
// (coop_half.wgsl, prepended) while staging; coop_convert exposes the conversion so that it can
// be checked bit for bit on any adapter.
//
// Bindings (group 0):
//   0: src    storage, read        — the f32 entries, as u32 bits (len of them)
//   1: maxes  storage, read_write  — atomic u32 slots: the |entry| bits of each operand's maximum
//   2: dst    storage, read_write  — coop_convert's output: 3 * len + 1 u32
//   3: params uniform              — CoopConvertParams (len, mode 0 = f16 / 1 = bf16, slot)
//
// coop_absmax: every invocation takes the maximum of |bf16(src[i])| (as bits: for non-negative
// floats the u32 order is the numeric order, NaN above Inf) over a grid-stride range and
// atomicMax-es it into maxes[slot] (which the host zeroes first).
// coop_convert: s = coop_scale_exp(maxes[slot]) for bf16 (0 for f16); for every i,
//   dst[i] = the rounded input bits (bf16-rounded for bf16, unchanged for f16),
//   dst[len + i] = the binary16 bits of 2^s * that value, dst[2 len + i] = their f32 value bits;
//   dst[3 len] = s (i32 bits), written by invocation 0.
//
// Dispatch: (min(ceil(len / WG), 256), 1, 1) workgroups of size (WG, 1, 1); grid-stride loops.

struct CoopConvertParams {
    len: u32,
    mode: u32,
    slot: u32,
    _pad0: u32,
}

override WG: u32 = 256u;

@group(0) @binding(0) var<storage, read> src: array<u32>;
@group(0) @binding(1) var<storage, read_write> maxes: array<atomic<u32>>;
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;
@group(0) @binding(3) var<uniform> params: CoopConvertParams;

@compute @workgroup_size(WG, 1, 1)
fn coop_absmax(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let stride = groups.x * WG;
    var m = 0u;
    for (var i = gid.x; i < params.len; i += stride) {
        m = max(m, bf16_round_bits(src[i]) & 0x7fffffffu);
    }
    atomicMax(&maxes[params.slot], m);
}

@compute @workgroup_size(WG, 1, 1)
fn coop_convert(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let stride = groups.x * WG;
    let bf16 = params.mode == 1u;
    var s = 0;
    if (bf16) {
        s = coop_scale_exp(atomicLoad(&maxes[params.slot]));
    }
    let len = params.len;
    for (var i = gid.x; i < len; i += stride) {
        var bits = src[i];
        if (bf16) {
            bits = bf16_round_bits(bits);
        }
        let code = f16_bits_scaled(bits, s);
        dst[i] = bits;
        dst[len + i] = code;
        dst[2u * len + i] = bitcast<u32>(f16_code_value(code));
    }
    if (gid.x == 0u) {
        dst[3u * len] = bitcast<u32>(s);
    }
}
