// transpose.wgsl — y = x^T for a contiguous column-major f32 matrix, through workgroup memory.
//
// x is rows x cols (x(i, j) at i + j * rows); y is cols x rows (y(j, i) at j + i * cols).
//
// Bindings (group 0):
//   0: x      storage, read
//   1: y      storage, read_write
//   2: params uniform — TransposeParams { rows, cols }
//
// Work decomposition: one workgroup of TILE x TILE invocations moves one TILE x TILE block.
// Row block rb = wid.x + wid.z * num_workgroups.x (rows may need more than 65535 blocks),
// column block cb = wid.y. Invocation (lx, ly) reads x(rb*TILE + lx, cb*TILE + ly) (consecutive
// lx are consecutive addresses), stores it in a padded TILE x (TILE + 1) workgroup tile, and after
// a barrier writes y(cb*TILE + lx, rb*TILE + ly) (again consecutive addresses): both the read and
// the write are coalesced. Out-of-range elements are guarded.
//
// Dispatch: row_blocks = ceil(rows / TILE);
//           (min(row_blocks, max_per_dim), ceil(cols / TILE), ceil(row_blocks / max_per_dim)).

struct TransposeParams {
    rows: u32,
    cols: u32,
    _pad0: u32,
    _pad1: u32,
}

override TILE: u32 = 16u;
override TILE_WORDS: u32 = TILE * (TILE + 1u);

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> params: TransposeParams;

var<workgroup> tile: array<f32, TILE_WORDS>;

@compute @workgroup_size(TILE, TILE, 1)
fn transpose(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
) {
    let rows = params.rows;
    let cols = params.cols;
    let rb = wid.x + wid.z * nwg.x;
    let cb = wid.y;
    let r0 = rb * TILE;
    let c0 = cb * TILE;

    // Read: lid.x runs along x's rows (contiguous).
    let i = r0 + lid.x;
    let j = c0 + lid.y;
    if (i < rows && j < cols) {
        tile[lid.x * (TILE + 1u) + lid.y] = x[i + j * rows];
    }
    workgroupBarrier();

    // Write: lid.x runs along y's rows, i.e. x's columns (contiguous in y).
    let jj = c0 + lid.x;
    let ii = r0 + lid.y;
    if (jj < cols && ii < rows) {
        y[jj + ii * cols] = tile[lid.y * (TILE + 1u) + lid.x];
    }
}
