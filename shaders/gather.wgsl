// gather.wgsl — row gather, the kernel of a standalone permutation (column-major f32).
//
// Entry point:
//   gather: y[i, j] = alpha * x[idx[i], j] + beta * y[i, j]   (y is not read when beta == 0)
// x is rows_in x cols, y is rows_out x cols (element (i, j) at i + j * rows), idx has rows_out
// u32 entries (the plan's index array, uploaded as it is). An entry not below rows_in selects a
// zero row, so no index value can make the kernel read out of bounds; the host checks every
// shape and the element count.
//
// Bindings (group 0):
//   0: x      storage, read
//   1: idx    storage, read        — array<u32>
//   2: y      storage, read_write
//   3: params uniform              — GatherParams
//
// Work decomposition: one invocation per element of y, e = linear_workgroup * WG + local_index
// with linear_workgroup = wid.x + wid.y * num_workgroups.x; guarded by e < len.
//
// Dispatch: groups = ceil(len / WG); (min(groups, max_per_dim), ceil(groups / max_per_dim), 1).

struct GatherParams {
    len: u32,
    rows_out: u32,
    rows_in: u32,
    flags: u32,
    alpha: f32,
    beta: f32,
    _pad0: u32,
    _pad1: u32,
}

override WG: u32 = 256u;
const FLAG_BETA_ZERO: u32 = 1u;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> idx: array<u32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> params: GatherParams;

@compute @workgroup_size(WG, 1, 1)
fn gather(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lidx: u32,
) {
    let e = (wid.x + wid.y * nwg.x) * WG + lidx;
    if (e >= params.len) {
        return;
    }
    let i = e % params.rows_out;
    let j = e / params.rows_out;
    let s = idx[i];
    var v = 0.0;
    if (s < params.rows_in) {
        v = params.alpha * x[s + j * params.rows_in];
    }
    if ((params.flags & FLAG_BETA_ZERO) == 0u) {
        v = fma(params.beta, y[e], v);
    }
    y[e] = v;
}
