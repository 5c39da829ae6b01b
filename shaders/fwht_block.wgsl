// fwht_block.wgsl — shared by fwht.wgsl and fwht_subgroup.wgsl: the Walsh–Hadamard transform of a
// block held in workgroup memory, with the loads and stores of the `fwht` and `srht` kernels.
//
// The transform of length N = 2^m runs stages h = 1, 2, 4, …, N/2 of butterflies
// (a, b) -> (a + b, a - b) on entries h apart (always in this order, on every path and backend,
// so the rounding is the same), then scales by `scale` (alpha/√N with the kernel's alpha).
//
// Bindings (group 0; every entry point of the family binds all five):
//   0: x      storage, read          the input (or the N×cols scratch of a previous pass)
//   1: y      storage, read_write    the output (or an N×cols scratch)
//   2: params uniform               — FwhtParams
//   3: signs  storage, read          the SRHT signs (load/store mode 1); bound to x when unused
//   4: idx    storage, read          the SRHT row map (load/store mode 2); bound to x when unused
//      (fwht_local/srht_local only: the strided passes never read it)
//
// Modes. load (fwht_local only): 0 plain x (zero-padded past rows_in), 1 signed x
// (signs[r]·x[r], zero-padded), 2 gathered (x[idx[r]], a zero row when idx[r] ≥ rows_in; idx has
// N entries). store: 0 final (y[i] = scale·v + beta·y[i] for i < rows_out), 1 final signed
// (scale·(signs[i]·v) + beta·y[i]), 2 final gathered (fwht_local with B == N only: y[r] =
// scale·v[idx[r]] + beta·y[r] for r < rows_out, zero when idx[r] ≥ N), 3 scratch (unscaled v to
// y[j·N + i]). The old y is never read when beta == 0.
//
// The workgroup buffer holds CAP entries; CAP (a power of two) is set at pipeline creation from
// the adapter's max_compute_workgroup_storage_size.

struct FwhtParams {
    rows_in: u32,
    rows_out: u32,
    n: u32,        // N, the transform length (a power of two)
    b: u32,        // entries one workgroup transforms (≤ CAP, a power of two)
    cols: u32,
    h: u32,        // fwht_strided: the stride of its first stage
    groups: u32,   // workgroups that do work
    span: u32,     // fwht_strided: entries per line (the stages h, 2h, …, h·span/2)
    load: u32,     // load mode (see the header)
    store: u32,    // store mode (see the header)
    scale: f32,    // alpha / √N
    beta: f32,
}

override WG: u32 = 256u;
override CAP: u32 = 4096u;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> params: FwhtParams;
@group(0) @binding(3) var<storage, read> signs: array<f32>;
@group(0) @binding(4) var<storage, read> idx: array<u32>;

var<workgroup> buf: array<f32, CAP>;

fn linear_group(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + wid.y * nwg.x;
}

// Index of the first entry of butterfly q (0 ≤ q < N/2) of stage h: q's bits above h shifted up.
fn pair_index(q: u32, h: u32) -> u32 {
    let lo = q & (h - 1u);
    return ((q - lo) << 1u) + lo;
}

// Stages first, 2·first, …, < b on buf[0..b) (the caller placed a barrier after filling buf); ends
// with a barrier.
fn block_stages(b: u32, first: u32, lidx: u32) {
    for (var h = first; h < b; h <<= 1u) {
        for (var q = lidx; q < b / 2u; q += WG) {
            let i = pair_index(q, h);
            let u = buf[i];
            let v = buf[i + h];
            buf[i] = u + v;
            buf[i + h] = u - v;
        }
        workgroupBarrier();
    }
}

// The final value of entry i of column j: scale·v (times signs[i] in store mode 1) plus beta·y.
fn store_final(j: u32, i: u32, v: f32) {
    let o = j * params.rows_out + i;
    var t = v;
    if (params.store == 1u) {
        t = signs[i] * v;
    }
    t = params.scale * t;
    if (params.beta != 0.0) {
        t = t + params.beta * y[o];
    }
    y[o] = t;
}

// fwht_local: one workgroup per chunk of B = params.b consecutive entries of one column (B = N
// when the whole transform fits): load, the stages h < B (the low ones through `low_stages`,
// which the subgroup file implements with shuffles and the plain file leaves to block_stages),
// store. groups = cols · (N / B). `sg` = (subgroup id, lane, subgroup size, subgroups per
// workgroup), zeros in the plain file.
fn local_body(wid: vec3<u32>, nwg: vec3<u32>, lidx: u32, sg: vec4<u32>) {
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
        if (params.load == 2u) {
            let s = idx[r];
            if (s < params.rows_in) {
                v = x[in_base + s];
            }
        } else if (r < params.rows_in) {
            v = x[in_base + r];
            if (params.load == 1u) {
                v = signs[r] * v;
            }
        }
        buf[i] = v;
    }
    workgroupBarrier();
    let first = low_stages(b, sg);
    block_stages(b, first, lidx);
    if (params.store == 3u) {
        let out_base = j * params.n + c * b;
        for (var i = lidx; i < b; i += WG) {
            y[out_base + i] = buf[i];
        }
    } else if (params.store == 2u) {
        for (var r = lidx; r < params.rows_out; r += WG) {
            let s = idx[r];
            var v = 0.0;
            if (s < b) {
                v = buf[s];
            }
            store_final(j, r, v);
        }
    } else {
        for (var i = lidx; i < params.rows_out; i += WG) {
            store_final(j, i, buf[i]);
        }
    }
}

// fwht_strided / srht_strided: see fwht.wgsl. groups = cols · N / b.
fn strided_body(wid: vec3<u32>, nwg: vec3<u32>, lidx: u32) {
    let w = linear_group(wid, nwg);
    if (w >= params.groups) {
        return;
    }
    let b = params.b;
    let span = params.span;
    let h = params.h;
    let t_lines = b / span;
    let per_col = params.n / b;
    let j = w / per_col;
    let g = w % per_col;
    // Lines of one column: base = outer·(h·span) + o, o < h; this group takes T consecutive o.
    let groups_per_outer = h / t_lines;
    let outer = g / groups_per_outer;
    let o0 = (g % groups_per_outer) * t_lines;
    let col = j * params.n;
    let first = outer * h * span + o0;
    for (var e = lidx; e < b; e += WG) {
        let k = e / t_lines;
        let t = e % t_lines;
        buf[e] = x[col + first + k * h + t];
    }
    workgroupBarrier();
    block_stages(b, t_lines, lidx);
    for (var e = lidx; e < b; e += WG) {
        let k = e / t_lines;
        let t = e % t_lines;
        let i = first + k * h + t;
        if (params.store == 3u) {
            y[col + i] = buf[e];
        } else if (i < params.rows_out) {
            store_final(j, i, buf[e]);
        }
    }
}
