// kronecker_gemm.wgsl — one Kronecker factor applied to its mode of every column, no transpose.
//
// Each column of x (s·d·w rows) is a tensor X[u, i, t] at u + s·i + s·d·t (u < s fastest), each
// column of y (s·m·w rows) a tensor Y[u, k, t] at u + s·k + s·m·t, and
//   Y[u, k, t] = alpha·Σ_i op(A)[k, i]·X[u, i, t] + beta·Y[u, k, t]
// with op(A) the m×d factor (Aᵀ when trans; A column-major, a_rows × a_cols). y is not read when
// beta == 0.
//
// Entry point:
//   kronecker_gemm: one invocation per element of y (flattened index e = row + j·rows_out); the
//     d-term sum runs in order i = 0, 1, …, d − 1.
//
// Bindings (group 0):
//   0: a      storage, read          — the factor, a_rows × a_cols column-major
//   1: x      storage, read          — s·d·w × cols
//   2: y      storage, read_write    — s·m·w × cols (not x)
//   3: params uniform               — KronParams
//
// Dispatch: the linear invocation index is (wid.x + wid.y · num_workgroups.x)·WG + lidx (2-D grid,
// so more than 65535 workgroups fit); invocations past rows_out·cols return. The host checks that
// every index fits u32 and lies in its buffer.

struct KronParams {
    s: u32,
    m: u32,
    d: u32,
    w: u32,
    a_rows: u32,
    trans: u32,
    cols: u32,
    _pad0: u32,
    alpha: f32,
    beta: f32,
    _pad1: u32,
    _pad2: u32,
}

override WG: u32 = 256u;

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> params: KronParams;

@compute @workgroup_size(WG, 1, 1)
fn kronecker_gemm(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lidx: u32,
) {
    let s = params.s;
    let m = params.m;
    let d = params.d;
    let rows_out = s * m * params.w;
    let e = (wid.x + wid.y * nwg.x) * WG + lidx;
    if (e >= rows_out * params.cols) {
        return;
    }
    let j = e / rows_out;
    let r = e % rows_out;
    let u = r % s;
    let k = (r / s) % m;
    let t = r / (s * m);
    let xbase = j * (s * d * params.w) + t * s * d + u;
    var acc = 0.0;
    for (var i = 0u; i < d; i++) {
        var coef: f32;
        if (params.trans != 0u) {
            coef = a[i + k * params.a_rows];
        } else {
            coef = a[k + i * params.a_rows];
        }
        acc = acc + coef * x[xbase + i * s];
    }
    var v = params.alpha * acc;
    if (params.beta != 0.0) {
        v = v + params.beta * y[e];
    }
    y[e] = v;
}
