// reduce.wgsl — per-column reductions of contiguous column-major f32 matrices.
//
// Entry points (x, y are rows x cols, element (i, j) at i + j * rows; out is 1 x cols):
//   col_norms: out[j] = sqrt(sum_i x[i, j]^2), overflow- and underflow-safe: first the column's
//              max |x| is reduced (scale), then sum_i (x[i, j] / scale)^2, out[j] =
//              scale * sqrt(sum); a subnormal scale is boosted by 2^64 first (1 / scale would
//              overflow).
//   col_dots:  out[j] = sum_i x[i, j] * y[i, j].
//
// Bindings (group 0; an entry point binds only what it uses):
//   0: x      storage, read
//   1: y      storage, read          (col_dots only)
//   2: out    storage, read_write
//   3: params uniform — ReduceParams { rows, cols }
//
// Work decomposition: one workgroup of WG invocations per column j = wid.x + wid.y * nwg.x.
// Invocation l accumulates rows l, l + WG, l + 2*WG, ... (coalesced); the WG partial results are
// combined by a tree reduction in workgroup memory (WG must be a power of two). No subgroup
// operations: the result does not depend on the subgroup size. Workgroups with j >= cols run the
// barriers but read and write nothing.
//
// Dispatch: (min(cols, max_per_dim), ceil(cols / max_per_dim), 1).

struct ReduceParams {
    rows: u32,
    cols: u32,
    _pad0: u32,
    _pad1: u32,
}

override WG: u32 = 256u;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> params: ReduceParams;

var<workgroup> partial: array<f32, WG>;

fn tree_sum(lidx: u32) -> f32 {
    for (var width = WG / 2u; width > 0u; width = width / 2u) {
        if (lidx < width) {
            partial[lidx] = partial[lidx] + partial[lidx + width];
        }
        workgroupBarrier();
    }
    return partial[0];
}

fn tree_max(lidx: u32) -> f32 {
    for (var width = WG / 2u; width > 0u; width = width / 2u) {
        if (lidx < width) {
            partial[lidx] = max(partial[lidx], partial[lidx + width]);
        }
        workgroupBarrier();
    }
    return partial[0];
}

@compute @workgroup_size(WG, 1, 1)
fn col_norms(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lidx: u32,
) {
    let rows = params.rows;
    let j = wid.x + wid.y * nwg.x;
    let valid = j < params.cols;
    let base = j * rows;

    // Pass 1: scale = max_i |x[i, j]|.
    var m = 0.0;
    if (valid) {
        for (var i = lidx; i < rows; i = i + WG) {
            m = max(m, abs(x[base + i]));
        }
    }
    partial[lidx] = m;
    workgroupBarrier();
    let scale = tree_max(lidx);
    workgroupBarrier();

    // Pass 2: sum of (x / scale)^2; scale == 0 means an all-zero column.
    // An infinite scale (an infinite entry) gives an infinite norm without dividing.
    // A subnormal scale would make 1 / scale overflow: the column is first multiplied by
    // boost = 2^64 (exact), so the scale the entries are divided by is normal and 1 / it finite.
    // (A device that flushes subnormals to zero sees such a column as zero: sb == 0, norm 0.)
    let boost = select(1.0, 18446744073709551616.0, scale < 1.1754944e-38);
    let sb = scale * boost;
    let finite_scale = sb > 0.0 && sb <= 3.4028235e38;
    var s = 0.0;
    if (valid && finite_scale) {
        let inv = 1.0 / sb;
        for (var i = lidx; i < rows; i = i + WG) {
            let v = (x[base + i] * boost) * inv;
            s = fma(v, v, s);
        }
    }
    partial[lidx] = s;
    workgroupBarrier();
    let total = tree_sum(lidx);

    if (valid && lidx == 0u) {
        if (finite_scale) {
            out[j] = scale * sqrt(total);
        } else {
            out[j] = scale;
        }
    }
}

@compute @workgroup_size(WG, 1, 1)
fn col_dots(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lidx: u32,
) {
    let rows = params.rows;
    let j = wid.x + wid.y * nwg.x;
    let valid = j < params.cols;
    let base = j * rows;

    var s = 0.0;
    if (valid) {
        for (var i = lidx; i < rows; i = i + WG) {
            s = fma(x[base + i], y[base + i], s);
        }
    }
    partial[lidx] = s;
    workgroupBarrier();
    let total = tree_sum(lidx);

    if (valid && lidx == 0u) {
        out[j] = total;
    }
}
