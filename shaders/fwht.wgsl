// fwht.wgsl — orthonormal Walsh–Hadamard transform of each column of a column-major f32 block.
//
// The transform of length N = 2^m (a power of two) runs stages h = 1, 2, 4, …, N/2 of butterflies
// (a, b) -> (a + b, a - b) on entries h apart, then scales by `scale` = alpha/√N. The input column
// has rows_in ≤ N rows (missing rows are zeros: zero-padding) and the output column keeps its first
// rows_out ≤ N rows (truncation); max(rows_in, rows_out) = N.
//
// Entry points:
//   fwht_local: one workgroup per chunk of B = min(N, CAP) consecutive entries of one column. Loads
//     the chunk (zero-padded) into workgroup memory, runs the stages h < B with a barrier after
//     each, and writes it out. When B == N (`single` == 1) this is the whole transform: it writes
//     y[j*rows_out + i] = scale*v + beta*y (the old y is not read when beta == 0) for i < rows_out.
//     Otherwise it writes the unscaled chunk to the N×cols scratch y[j*N + c*B + i].
//   fwht_stage: one invocation per butterfly of stage h ≥ B, in place on the scratch y (N×cols).
//   fwht_last: the last stage h = N/2, reading the scratch x (N×cols) and writing the output y
//     (rows_out×cols) with scale, beta and truncation.
//
// Bindings (group 0; an entry point binds only what it uses):
//   0: x      storage, read          (fwht_local: the input rows_in×cols; fwht_last: the scratch)
//   1: y      storage, read_write    (the output rows_out×cols, or the scratch N×cols)
//   2: params uniform               — FwhtParams
//
// Dispatch: the linear workgroup index is wid.x + wid.y * num_workgroups.x (2-D grid, so more than
// 65535 workgroups fit); workgroups past `groups` return at once (a uniform branch).
//   fwht_local: groups = cols * (N / B);   fwht_stage, fwht_last: groups = ceil(cols * N/2 / WG).
// The host checks every index range below against the buffer lengths before dispatching.

struct FwhtParams {
    rows_in: u32,
    rows_out: u32,
    n: u32,        // N, the transform length (a power of two)
    b: u32,        // B = min(N, CAP), the chunk fwht_local transforms
    cols: u32,
    h: u32,        // the stage of fwht_stage / fwht_last
    groups: u32,   // workgroups that do work
    single: u32,   // 1 when fwht_local does the whole transform (B == N)
    scale: f32,    // alpha / √N
    beta: f32,
    _pad0: u32,
    _pad1: u32,
}

// Workgroup size; CAP entries of workgroup memory (16 KiB, the portable WebGPU minimum).
override WG: u32 = 256u;
const CAP: u32 = 4096u;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> params: FwhtParams;

var<workgroup> buf: array<f32, CAP>;

fn linear_group(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + wid.y * nwg.x;
}

// Index of the first entry of butterfly q (0 ≤ q < N/2) of stage h: q's bits above h shifted up.
fn pair_index(q: u32, h: u32) -> u32 {
    let lo = q & (h - 1u);
    return ((q - lo) << 1u) + lo;
}

@compute @workgroup_size(WG, 1, 1)
fn fwht_local(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lidx: u32,
) {
    let w = linear_group(wid, nwg);
    if (w >= params.groups) {
        return;
    }
    let b = params.b;
    let chunks = params.n / b;
    let j = w / chunks;
    let c = w % chunks;
    let in_base = j * params.rows_in;
    for (var i = lidx; i < b; i += WG) {
        let r = c * b + i;
        var v = 0.0;
        if (r < params.rows_in) {
            v = x[in_base + r];
        }
        buf[i] = v;
    }
    workgroupBarrier();
    for (var h = 1u; h < b; h <<= 1u) {
        for (var q = lidx; q < b / 2u; q += WG) {
            let i = pair_index(q, h);
            let u = buf[i];
            let v = buf[i + h];
            buf[i] = u + v;
            buf[i + h] = u - v;
        }
        workgroupBarrier();
    }
    if (params.single == 1u) {
        let out_base = j * params.rows_out;
        for (var i = lidx; i < params.rows_out; i += WG) {
            var t = params.scale * buf[i];
            if (params.beta != 0.0) {
                t = t + params.beta * y[out_base + i];
            }
            y[out_base + i] = t;
        }
    } else {
        let out_base = j * params.n + c * b;
        for (var i = lidx; i < b; i += WG) {
            y[out_base + i] = buf[i];
        }
    }
}

@compute @workgroup_size(WG, 1, 1)
fn fwht_stage(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lidx: u32,
) {
    let w = linear_group(wid, nwg);
    if (w >= params.groups) {
        return;
    }
    let half = params.n / 2u;
    let p = w * WG + lidx;
    if (p < params.cols * half) {
        let j = p / half;
        let i = j * params.n + pair_index(p % half, params.h);
        let u = y[i];
        let v = y[i + params.h];
        y[i] = u + v;
        y[i + params.h] = u - v;
    }
}

@compute @workgroup_size(WG, 1, 1)
fn fwht_last(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lidx: u32,
) {
    let w = linear_group(wid, nwg);
    if (w >= params.groups) {
        return;
    }
    let half = params.n / 2u;
    let p = w * WG + lidx;
    if (p < params.cols * half) {
        let j = p / half;
        let i = pair_index(p % half, params.h);
        let src = j * params.n + i;
        let u = x[src];
        let v = x[src + params.h];
        let out_base = j * params.rows_out;
        if (i < params.rows_out) {
            var t = params.scale * (u + v);
            if (params.beta != 0.0) {
                t = t + params.beta * y[out_base + i];
            }
            y[out_base + i] = t;
        }
        if (i + params.h < params.rows_out) {
            var t = params.scale * (u - v);
            if (params.beta != 0.0) {
                t = t + params.beta * y[out_base + i + params.h];
            }
            y[out_base + i + params.h] = t;
        }
    }
}
