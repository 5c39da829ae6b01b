// monarch.wgsl — a whole Monarch product y = alpha·op(P_out·L·P_mid·R)·x + beta·y per column, in
// one pass, with the b1·b2 intermediate of the column in workgroup memory (kernel `monarch`).
//
// Shapes: R holds b1 blocks of b2×p side by side (b2 × p·b1, column-major: R_t[l, j] at
// l + (t·p + j)·b2), L holds b2 blocks of s×b1 (s × b1·b2: L_l[σ, t] at σ + (l·b1 + t)·s);
// n = b1·p, m = b2·s. Without trans, x has n rows and y m: T[t·b2 + l] = Σ_j R_t[l, j]·x[t·p + j],
// y[σ·b2 + l] = Σ_t L_l[σ, t]·T[t·b2 + l]. With trans, x has m rows and y n:
// T[t·b2 + l] = Σ_σ L_l[σ, t]·x[σ·b2 + l], y[t·p + j] = Σ_l R_t[l, j]·T[t·b2 + l].
//
// Bindings (group 0):
//   0: l      storage, read          L
//   1: r      storage, read          R
//   2: x      storage, read          the input, rows_in × cols
//   3: y      storage, read_write    the output, rows_out × cols (read only when beta ≠ 0)
//   4: params uniform               — MonarchParams
//
// Entry point monarch: one workgroup per column j. It loads x's column into buf[0, rows_in), then
// each invocation computes entries e = lidx, lidx + WG, … of T (a dot of length p, or s with
// trans) into buf[rows_in + e], a barrier, then entries of the output column (a dot of length b1,
// or b2 with trans), stored as alpha·v + beta·y. One read of x and one write of y per entry; the
// parameters are read from global memory (cache) by every workgroup. The host dispatches this
// only when rows_in + b1·b2 ≤ CAP (the workgroup buffer), else two block GEMMs.
// Dispatch: groups = cols on a 2-D grid (linear index wid.x + wid.y·num_workgroups.x; workgroups
// past `groups` return at once). The host checks rows·cols fits u32 for x and y.

struct MonarchParams {
    b1: u32,
    b2: u32,
    p: u32,
    s: u32,
    rows_in: u32,
    rows_out: u32,
    trans: u32,     // 1: apply the transpose
    groups: u32,    // workgroups that do work (= cols)
    alpha: f32,
    beta: f32,
    _pad0: u32,
    _pad1: u32,
}

override WG: u32 = 256u;
override CAP: u32 = 4096u;

@group(0) @binding(0) var<storage, read> l: array<f32>;
@group(0) @binding(1) var<storage, read> r: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> params: MonarchParams;

var<workgroup> buf: array<f32, CAP>;

@compute @workgroup_size(WG, 1, 1)
fn monarch(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lidx: u32,
) {
    let j = wid.x + wid.y * nwg.x;
    if (j >= params.groups) {
        return;
    }
    let b1 = params.b1;
    let b2 = params.b2;
    let p = params.p;
    let s = params.s;
    let rin = params.rows_in;
    let mid = b1 * b2;
    for (var i = lidx; i < rin; i += WG) {
        buf[i] = x[j * rin + i];
    }
    workgroupBarrier();
    for (var e = lidx; e < mid; e += WG) {
        let t = e / b2;
        let li = e % b2;
        var v = 0.0;
        if (params.trans == 0u) {
            for (var c = 0u; c < p; c++) {
                v = v + r[li + (t * p + c) * b2] * buf[t * p + c];
            }
        } else {
            for (var sg = 0u; sg < s; sg++) {
                v = v + l[sg + (li * b1 + t) * s] * buf[sg * b2 + li];
            }
        }
        buf[rin + e] = v;
    }
    workgroupBarrier();
    let rout = params.rows_out;
    for (var o = lidx; o < rout; o += WG) {
        var v = 0.0;
        if (params.trans == 0u) {
            let sg = o / b2;
            let li = o % b2;
            for (var t = 0u; t < b1; t++) {
                v = v + l[sg + (li * b1 + t) * s] * buf[rin + t * b2 + li];
            }
        } else {
            let t = o / p;
            let c = o % p;
            for (var li = 0u; li < b2; li++) {
                v = v + r[li + (t * p + c) * b2] * buf[rin + t * b2 + li];
            }
        }
        let idx = j * rout + o;
        var out = params.alpha * v;
        if (params.beta != 0.0) {
            out = out + params.beta * y[idx];
        }
        y[idx] = out;
    }
}
