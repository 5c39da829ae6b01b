// spmm.wgsl — sparse (CSR) times dense: y = alpha * S * x + beta * y.
//
// S is m x k with nnz stored entries: indptr (m + 1 entries) and indices (nnz entries) are u32
// index arrays, vals (nnz values) f32. x is k x b and y is m x b, contiguous column-major.
//
// Bindings (group 0):
//   0: indptr  storage, read — array<u32>
//   1: indices storage, read — array<u32>
//   2: vals    storage, read
//   3: x       storage, read
//   4: y       storage, read_write
//   5: params  uniform — SpmmParams
//
// Work decomposition: one invocation per output element e = r + j*m (row r of S, column j of x),
// a sequential sum over the row's entries in storage order (no atomics). The buffer contents are
// data, not validated by the host, so every data-dependent index is made safe here: the row range
// is clamped to [0, nnz] and entries whose column is not below k are skipped (a validated CSR has
// none). The host checks the buffer lengths against m, k, b and nnz.
//
// Dispatch: groups = ceil(m*b / WG); (min(groups, max_per_dim), ceil(groups / max_per_dim), 1).

struct SpmmParams {
    m: u32,
    k: u32,
    b: u32,
    nnz: u32,
    alpha: f32,
    beta: f32,
    _pad0: u32,
    _pad1: u32,
}

override WG: u32 = 256u;

@group(0) @binding(0) var<storage, read> indptr: array<u32>;
@group(0) @binding(1) var<storage, read> indices: array<u32>;
@group(0) @binding(2) var<storage, read> vals: array<f32>;
@group(0) @binding(3) var<storage, read> x: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<uniform> params: SpmmParams;

@compute @workgroup_size(WG, 1, 1)
fn spmm(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lidx: u32,
) {
    let e = (wid.x + wid.y * nwg.x) * WG + lidx;
    if (e < params.m * params.b) {
        let r = e % params.m;
        let j = e / params.m;
        let end = min(indptr[r + 1u], params.nnz);
        let start = min(indptr[r], end);
        var acc = 0.0;
        for (var p = start; p < end; p = p + 1u) {
            let c = indices[p];
            if (c < params.k) {
                acc = fma(vals[p], x[c + j * params.k], acc);
            }
        }
        var v = params.alpha * acc;
        if (params.beta != 0.0) {
            v = fma(params.beta, y[e], v);
        }
        y[e] = v;
    }
}
