// random_fill.wgsl — fills a matrix with entries of a Philox random matrix (philox.wgsl
// prepended).
//
// For the rows x cols output (column-major, contiguous, element (r, c) at r + c * rows):
//   philox_bits: out[r, c] = raw u32 word of entry (i0 + r, j0 + c) of the matrix layout, i.e.
//                word (i mod 4) of philox(counter + j * 2^32 + floor(i / 4), key), i = i0 + r,
//                j = j0 + c (out bound as array<u32>);
//   random_fill: out[r, c] = the same entry under distribution `dist` (0 uniform [0, 1),
//                1 Rademacher, 2 Gaussian; unscaled), stored through bitcast<u32> so that
//                no float operation touches the value on its way out;
//   random_matrix: out = alpha * op(G) for the whole rows x cols matrix G (i0 = j0 = 0):
//                out[i, j] = alpha * G(i, j), or out[j, i] (out is cols x rows) when trans != 0;
//                alpha * value is the bits sketch_gemm gives for alpha * op(G) * I.
//
// Bindings (group 0):
//   0: out     storage, read_write  — array<u32> (f32 bit patterns for random_fill)
//   1: params  uniform — FillParams
//
// Work decomposition: one invocation per Philox block, i.e. per group of four matrix rows
// 4q .. 4q + 3 of one column that meets rows i0 .. i0 + rows - 1: blocks_per_col blocks per
// column, block b = q - floor(i0 / 4) of column c at linear index b + c * blocks_per_col; the
// linear invocation index is (wid.x + wid.y * nwg.x) * WG + local_index, guarded by < total.
//
// Dispatch: groups = ceil(total / WG), folded into (min(groups, max_per_dim), ceil(..), 1).
// The host checks rows * cols == the output length and that every index fits u32.

struct FillParams {
    counter: vec4<u32>,
    key: vec2<u32>,
    rows: u32,
    cols: u32,
    i0: u32,
    j0: u32,
    dist: u32,
    blocks_per_col: u32,
    total: u32,
    alpha: f32,
    trans: u32,
    _pad0: u32,
}

override WG: u32 = 256u;

@group(0) @binding(0) var<storage, read_write> out: array<u32>;
@group(0) @binding(1) var<uniform> params: FillParams;

// (first matrix row of the block, column index within the output), or rows = 0 past the end.
fn fill_block(wid: vec3<u32>, nwg: vec3<u32>, lidx: u32) -> vec2<u32> {
    let e = (wid.x + wid.y * nwg.x) * WG + lidx;
    let c = e / params.blocks_per_col;
    let b = e % params.blocks_per_col;
    return vec2<u32>(((params.i0 >> 2u) + b) * 4u, c);
}

@compute @workgroup_size(WG, 1, 1)
fn philox_bits(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lidx: u32,
) {
    let e = (wid.x + wid.y * nwg.x) * WG + lidx;
    if (e >= params.total) {
        return;
    }
    let at = fill_block(wid, nwg, lidx);
    let w = rng_matrix_block(params.counter, params.key, at.x, params.j0 + at.y);
    for (var q = 0u; q < 4u; q = q + 1u) {
        let i = at.x + q;
        if (i >= params.i0 && i - params.i0 < params.rows) {
            out[(i - params.i0) + at.y * params.rows] = w[q];
        }
    }
}

@compute @workgroup_size(WG, 1, 1)
fn random_fill(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lidx: u32,
) {
    let e = (wid.x + wid.y * nwg.x) * WG + lidx;
    if (e >= params.total) {
        return;
    }
    let at = fill_block(wid, nwg, lidx);
    let w = rng_matrix_block(params.counter, params.key, at.x, params.j0 + at.y);
    let v = rng_dist_block(params.dist, w);
    for (var q = 0u; q < 4u; q = q + 1u) {
        let i = at.x + q;
        if (i >= params.i0 && i - params.i0 < params.rows) {
            out[(i - params.i0) + at.y * params.rows] = bitcast<u32>(v[q]);
        }
    }
}

@compute @workgroup_size(WG, 1, 1)
fn random_matrix(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lidx: u32,
) {
    let e = (wid.x + wid.y * nwg.x) * WG + lidx;
    if (e >= params.total) {
        return;
    }
    let at = fill_block(wid, nwg, lidx);
    let w = rng_matrix_block(params.counter, params.key, at.x, at.y);
    let v = rng_dist_block(params.dist, w);
    for (var q = 0u; q < 4u; q = q + 1u) {
        let i = at.x + q;
        if (i < params.rows) {
            var idx = i + at.y * params.rows;
            if (params.trans != 0u) {
                idx = at.y + i * params.cols;
            }
            out[idx] = bitcast<u32>(params.alpha * v[q]);
        }
    }
}
