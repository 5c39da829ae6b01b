// butterfly.wgsl — several consecutive block butterfly factors applied in workgroup memory.
//
// The n rows of a column are m = n/b block-rows of b rows. Factor f couples block-row R (bit f
// clear) with R + 2^f through the pair j = (R >> (f+1))·2^f + (R mod 2^f) of 2b×2b blocks
// [[D1, D2], [D3, D4]], stored (each b×b row-major) at tw[f·2nb + j·4b² + q·b² + u·b + v]
// (q = 0..3 for D1..D4). A step applies the factors first, …, first+count−1 (trans: their
// transposes, the last one first). Those factors only mix the block-rows of one group: local
// block t < 2^count of group g is block-row
//   R(g, t) = (g mod 2^first) + t·2^first + (g >> first)·2^(first+count),
// so a group of G = 2^count·b ≤ CAP rows is loaded into workgroup memory, every factor of the step
// is applied there (each invocation computes up to PER pairs of outputs into registers, a barrier,
// then writes them back), and the group is written out as alpha·v + beta·y (y not read when
// beta == 0): one read of x and one write of y per entry.
//
// Entry point:
//   butterfly: one workgroup per (group g, column j), w = j·groups + g.
//
// Bindings (group 0):
//   0: tw     storage, read          — the twiddles, 2nb × L (factor f in column f)
//   1: x      storage, read          — n × cols, column-major
//   2: y      storage, read_write    — n × cols, column-major (not x)
//   3: params uniform               — ButterflyParams
//
// Dispatch: the linear workgroup index is wid.x + wid.y * num_workgroups.x (2-D grid, so more than
// 65535 workgroups fit); workgroups past `total` = groups·cols return at once (a uniform branch).
// The host checks G ≤ CAP, WG·PER·2 ≥ CAP, and that every index below fits u32 and its buffer.

struct ButterflyParams {
    n: u32,
    b: u32,
    first: u32,
    count: u32,
    trans: u32,    // 1: apply the transposed factors in reverse order
    groups: u32,   // groups per column, n / G
    total: u32,    // workgroups that do work, groups · cols
    _pad0: u32,
    alpha: f32,
    beta: f32,
    _pad1: u32,
    _pad2: u32,
}

// Workgroup size (the host sets 256); CAP entries of workgroup memory (16 KiB, the portable
// WebGPU minimum); PER output pairs per invocation and factor (CAP / 2 / 256).
override WG: u32 = 256u;
const CAP: u32 = 4096u;
const PER: u32 = 8u;

@group(0) @binding(0) var<storage, read> tw: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> params: ButterflyParams;

var<workgroup> buf: array<f32, CAP>;

fn linear_group(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + wid.y * nwg.x;
}

// Block-row of local block t of group g.
fn block_row(g: u32, t: u32) -> u32 {
    let low = g & ((1u << params.first) - 1u);
    let high = g >> params.first;
    return low + (t << params.first) + ((high << params.first) << params.count);
}

// Entry (u, v) of block q (row-major position in the 2×2 block pair) of the pair at `base`, of
// the transposed pair [[D1ᵀ, D3ᵀ], [D2ᵀ, D4ᵀ]] when trans.
fn coef(base: u32, q: u32, u: u32, v: u32) -> f32 {
    let b = params.b;
    let bb = b * b;
    if (params.trans != 0u) {
        let qt = (q >> 1u) | ((q & 1u) << 1u);
        return tw[base + qt * bb + v * b + u];
    }
    return tw[base + q * bb + u * b + v];
}

@compute @workgroup_size(WG, 1, 1)
fn butterfly(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lidx: u32,
) {
    let w = linear_group(wid, nwg);
    if (w >= params.total) {
        return;
    }
    let b = params.b;
    let n = params.n;
    let g_len = (1u << params.count) * b;
    let j = w / params.groups;
    let g = w % params.groups;
    let col = j * n;
    for (var i = lidx; i < g_len; i += WG) {
        buf[i] = x[col + block_row(g, i / b) * b + i % b];
    }
    workgroupBarrier();
    let items = g_len / 2u;
    let per_factor = 2u * n * b;
    for (var step = 0u; step < params.count; step++) {
        var l = step;
        if (params.trans != 0u) {
            l = params.count - 1u - step;
        }
        let f = params.first + l;
        let half = 1u << l;
        var res0: array<f32, PER>;
        var res1: array<f32, PER>;
        for (var p = 0u; p < PER; p++) {
            let q = lidx + p * WG;
            if (q < items) {
                let k = q / b;
                let u = q % b;
                let lo = k & (half - 1u);
                let t0 = ((k - lo) << 1u) + lo;
                let t1 = t0 + half;
                let r0 = block_row(g, t0);
                let pair = ((r0 >> (f + 1u)) << f) | (r0 & ((1u << f) - 1u));
                let base = f * per_factor + pair * 4u * b * b;
                var a0 = 0.0;
                var a1 = 0.0;
                for (var v = 0u; v < b; v++) {
                    let x0 = buf[t0 * b + v];
                    let x1 = buf[t1 * b + v];
                    a0 = a0 + coef(base, 0u, u, v) * x0 + coef(base, 1u, u, v) * x1;
                    a1 = a1 + coef(base, 2u, u, v) * x0 + coef(base, 3u, u, v) * x1;
                }
                res0[p] = a0;
                res1[p] = a1;
            }
        }
        workgroupBarrier();
        for (var p = 0u; p < PER; p++) {
            let q = lidx + p * WG;
            if (q < items) {
                let k = q / b;
                let u = q % b;
                let lo = k & (half - 1u);
                let t0 = ((k - lo) << 1u) + lo;
                buf[t0 * b + u] = res0[p];
                buf[(t0 + half) * b + u] = res1[p];
            }
        }
        workgroupBarrier();
    }
    for (var i = lidx; i < g_len; i += WG) {
        let idx = col + block_row(g, i / b) * b + i % b;
        var v = params.alpha * buf[i];
        if (params.beta != 0.0) {
            v = v + params.beta * y[idx];
        }
        y[idx] = v;
    }
}
