// batch_transpose.wgsl — batched transpose with scaling (the Kronecker mode rotation).
//
// The input x holds len = batch * rows * cols f32 values: batch consecutive rows x cols
// column-major matrices X_t (element (i, j) of X_t at t*rows*cols + i + j*rows). The output y
// (len values) receives their cols x rows transposes: y = alpha * X_t^T + beta * y, element (j, i)
// of block t at t*rows*cols + j + i*cols. With cols == 1 this is a scaled copy.
//
// Bindings (group 0):
//   0: x      storage, read
//   1: y      storage, read_write
//   2: params uniform — BtParams
//
// Work decomposition: one invocation per output element e (a gather: reads are strided, writes
// coalesced). Linear workgroup index wid.x + wid.y * num_workgroups.x, guarded by e < len.
// The host checks len < 2^32 and len % (rows*cols) == 0, so every read index is below len.
//
// Dispatch: groups = ceil(len / WG); (min(groups, max_per_dim), ceil(groups / max_per_dim), 1).

struct BtParams {
    len: u32,
    rows: u32,
    cols: u32,
    alpha: f32,
    beta: f32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

override WG: u32 = 256u;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> params: BtParams;

@compute @workgroup_size(WG, 1, 1)
fn batch_transpose(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lidx: u32,
) {
    let e = (wid.x + wid.y * nwg.x) * WG + lidx;
    if (e < params.len) {
        let block = params.rows * params.cols;
        let t = e / block;
        let w = e % block;
        let c = w % params.cols;
        let r = w / params.cols;
        var v = params.alpha * x[t * block + r + c * params.rows];
        if (params.beta != 0.0) {
            v = fma(params.beta, y[e], v);
        }
        y[e] = v;
    }
}
