// elementwise.wgsl — elementwise kernels on contiguous column-major f32 matrices.
//
// Entry points (x, y are rows x cols, element (i, j) at i + j * rows; len = rows * cols):
//   axpby:            y = alpha * x + beta * y   (y is not read when beta == 0)
//   scale:            y = alpha * x
//   diag_scale_left:  y[i, j] = alpha * (d[i] * x[i, j])   (d has rows entries; the CPU
//                     backend's order, so an alpha and a d whose product would over- or
//                     underflow on their own are not multiplied first)
//   diag_scale_right: y[i, j] = alpha * (d[j] * x[i, j])   (d has cols entries)
//   fill:             y = alpha                (x is not bound; len = the elements of y)
//   copy_cols:        y[offset + e] = x[e]     (a column block of y, rows(y) = rows, offset =
//                                               first column * rows; len = the elements of x)
//
// Bindings (group 0; an entry point binds only what it uses):
//   0: x      storage, read        (not fill)
//   1: d      storage, read        (diag_scale_* only)
//   2: y      storage, read_write
//   3: params uniform              — EwParams
//
// Work decomposition: one invocation per element. The linear workgroup index is
// wid.x + wid.y * num_workgroups.x, so more than 65535 workgroups fit in a 2-D grid;
// element e = linear_workgroup * WG + local_index, guarded by e < len.
//
// Dispatch: groups = ceil(len / WG); (min(groups, max_per_dim), ceil(groups / max_per_dim), 1).

struct EwParams {
    len: u32,
    rows: u32,
    alpha: f32,
    beta: f32,
    offset: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

override WG: u32 = 256u;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> d: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> params: EwParams;

fn element_index(wid: vec3<u32>, nwg: vec3<u32>, lidx: u32) -> u32 {
    return (wid.x + wid.y * nwg.x) * WG + lidx;
}

@compute @workgroup_size(WG, 1, 1)
fn axpby(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lidx: u32,
) {
    let e = element_index(wid, nwg, lidx);
    if (e < params.len) {
        var v = params.alpha * x[e];
        if (params.beta != 0.0) {
            v = fma(params.beta, y[e], v);
        }
        y[e] = v;
    }
}

@compute @workgroup_size(WG, 1, 1)
fn scale(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lidx: u32,
) {
    let e = element_index(wid, nwg, lidx);
    if (e < params.len) {
        y[e] = params.alpha * x[e];
    }
}

@compute @workgroup_size(WG, 1, 1)
fn diag_scale_left(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lidx: u32,
) {
    let e = element_index(wid, nwg, lidx);
    if (e < params.len) {
        let i = e % params.rows;
        y[e] = params.alpha * (d[i] * x[e]);
    }
}

@compute @workgroup_size(WG, 1, 1)
fn diag_scale_right(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lidx: u32,
) {
    let e = element_index(wid, nwg, lidx);
    if (e < params.len) {
        let j = e / params.rows;
        y[e] = params.alpha * (d[j] * x[e]);
    }
}

@compute @workgroup_size(WG, 1, 1)
fn fill(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lidx: u32,
) {
    let e = element_index(wid, nwg, lidx);
    if (e < params.len) {
        y[e] = params.alpha;
    }
}

@compute @workgroup_size(WG, 1, 1)
fn copy_cols(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lidx: u32,
) {
    let e = element_index(wid, nwg, lidx);
    if (e < params.len) {
        y[params.offset + e] = x[e];
    }
}
