// fwht_base.wgsl — the Walsh–Hadamard transform of length n = m·p (p = 2^k, m ∈ {12, 20, 28})
// of each column of a column-major f32 block: y = scale·(op(A) ⊗ S_p)·x + beta·y, with A the m×m
// ±1 base matrix, op(A) = Aᵀ when `trans`, S_p the unnormalized Sylvester matrix and
// scale = alpha/√n. Entry (a·p + b) of a column is y = Σ_{a'} op(A)[a, a']·z[a'·p + b] with z the
// transform S_p of each of the m contiguous blocks of p entries.
//
// Bindings (group 0):
//   0: a      storage, read          A, m×m column-major, entries ±1
//   1: x      storage, read          the input (transform = 1) or the N×cols scratch holding the
//                                     block transforms z (transform = 0)
//   2: y      storage, read_write    the output, n×cols
//   3: params uniform               — FwhtBaseParams
//
// Entry point fwht_base: one workgroup per (column j, tile of `tile` consecutive b of every block):
// it loads the m·tile entries x[j·n + k·p + t0 + t] (k < m, t < tile) into buf[k·tile + t]; with
// transform = 1 (then tile = p: the whole column, m·p ≤ CAP) it runs the stages h = 1, 2, …, p/2
// of butterflies (u, v) -> (u + v, u - v) inside each block (the order of every other FWHT path,
// so the same rounding); then each invocation mixes entries e = a·tile + t:
// v = ±z_0, v = v ± z_k for k = 1, …, m−1 in this order (the CPU's order), and stores
// scale·v + beta·y (y not read when beta == 0). One read of x and one write of y per entry.
// Row a of op(A) is kept as a bit mask (bit k set where the entry is −1) in workgroup memory.
// Dispatch: groups = cols · p / tile on a 2-D grid (linear index wid.x + wid.y·num_workgroups.x;
// workgroups past `groups` return at once, a uniform branch). The host checks cols·n fits u32.

struct FwhtBaseParams {
    n: u32,         // m·p
    p: u32,         // the power-of-two block length
    m: u32,         // the base order (≤ 32)
    cols: u32,
    tile: u32,      // entries of each block one workgroup handles (divides p; = p when transform = 1)
    groups: u32,    // workgroups that do work
    trans: u32,     // 1: use Aᵀ
    transform: u32, // 1: transform the blocks here; 0: x already holds them
    scale: f32,     // alpha / √n
    beta: f32,
    _pad0: u32,
    _pad1: u32,
}

override WG: u32 = 256u;
override CAP: u32 = 4064u;

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> params: FwhtBaseParams;

var<workgroup> buf: array<f32, CAP>;
var<workgroup> neg: array<u32, 32>;

// Index of the first entry of butterfly q of stage h: q's bits above h shifted up.
fn pair_index(q: u32, h: u32) -> u32 {
    let lo = q & (h - 1u);
    return ((q - lo) << 1u) + lo;
}

@compute @workgroup_size(WG, 1, 1)
fn fwht_base(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lidx: u32,
) {
    let w = wid.x + wid.y * nwg.x;
    if (w >= params.groups) {
        return;
    }
    let m = params.m;
    let p = params.p;
    let n = params.n;
    let tile = params.tile;
    let per_col = p / tile;
    let j = w / per_col;
    let t0 = (w % per_col) * tile;
    let col = j * n;
    if (lidx < m) {
        var mask = 0u;
        for (var c = 0u; c < m; c++) {
            // op(A)[lidx, c]: A[lidx, c] at lidx + c·m, or A[c, lidx] at c + lidx·m.
            var e = lidx + c * m;
            if (params.trans == 1u) {
                e = c + lidx * m;
            }
            if (a[e] < 0.0) {
                mask |= 1u << c;
            }
        }
        neg[lidx] = mask;
    }
    let len = m * tile;
    for (var e = lidx; e < len; e += WG) {
        let k = e / tile;
        let t = e % tile;
        buf[e] = x[col + k * p + t0 + t];
    }
    workgroupBarrier();
    if (params.transform == 1u) {
        for (var h = 1u; h < p; h <<= 1u) {
            for (var q = lidx; q < len / 2u; q += WG) {
                let i = pair_index(q, h);
                let u = buf[i];
                let v = buf[i + h];
                buf[i] = u + v;
                buf[i + h] = u - v;
            }
            workgroupBarrier();
        }
    }
    for (var e = lidx; e < len; e += WG) {
        let r = e / tile;
        let t = e % tile;
        let mask = neg[r];
        var v = buf[t];
        if ((mask & 1u) != 0u) {
            v = -v;
        }
        for (var k = 1u; k < m; k++) {
            let z = buf[k * tile + t];
            if (((mask >> k) & 1u) != 0u) {
                v = v - z;
            } else {
                v = v + z;
            }
        }
        let o = col + r * p + t0 + t;
        var out = params.scale * v;
        if (params.beta != 0.0) {
            out = out + params.beta * y[o];
        }
        y[o] = out;
    }
}
