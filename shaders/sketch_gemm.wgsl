// sketch_gemm.wgsl — C = alpha * op(G) * X + beta * C with the random matrix G generated on the
// fly (philox.wgsl prepended), never read from memory.
//
// G is the g_rows x g_cols Philox random matrix of linops_core::rng (entry (i, j) = value
// i mod 4 of philox(counter + j * 2^32 + floor(i / 4), key) under distribution `dist`);
// op(G) = G (TRANS_G = false) or G^T (TRANS_G = true) is m x k; X is k x n (column-major,
// leading dimension ldx), C is m x n (leading dimension ldc). When beta == 0 (flag bit 0) C is
// never read.
//
// Bindings (group 0):
//   0: x      storage, read        — X
//   1: c      storage, read_write  — C
//   2: params uniform              — SketchParams
//
// Work decomposition: the shared tile loop of gemm_tile.wgsl and the X staging of
// gemm_stage.wgsl (prepended), as gemm.wgsl (TM x TN
// tile of C per workgroup, TM = WG_X * RM, TN = WG_Y * RN, RM x RN register micro-tile per
// invocation with strided ownership, BK-deep k slices, blocked summation over KFLUSH slices),
// except that the op(G) slice
// [row0 .. row0 + TM, k0 .. k0 + BK] is generated into workgroup memory: one Philox block gives
// four consecutive rows of one column of G, so the slice takes TM * BK / 4 blocks, spread over
// the invocations. Without transpose the four rows are four rows of the tile (TM % 4 == 0 and
// row0 % TM == 0 keep blocks aligned); with transpose they are four k indices (BK % 4 == 0).
// Out-of-range entries are 0 and their blocks are not generated.
//
// Dispatch: (ceil(m / TM), ceil(n / TN), 1) workgroups of size (WG_X, WG_Y, 1). The host
// checks X and C shapes exactly, RM, RN <= 8, TM % 4 == 0, BK % 4 == 0.

struct SketchParams {
    counter: vec4<u32>,
    key: vec2<u32>,
    m: u32,
    n: u32,
    k: u32,
    flags: u32,
    ldx: u32,
    ldc: u32,
    dist: u32,
    alpha: f32,
    beta: f32,
    _pad0: u32,
}

override TRANS_G: bool = false;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> c: array<f32>;
@group(0) @binding(2) var<uniform> params: SketchParams;

fn stage_tiles(k0: u32, row0: u32, col0: u32, flat: u32, threads: u32) {
    let m = params.m;
    let k = params.k;
    // Generate op(G)[row0 .. row0 + TM, k0 .. k0 + BK] as a_tile[kk * TM + r].
    for (var e = flat; e < A_TILE / 4u; e = e + threads) {
        if (TRANS_G) {
            // op(G)(r, p) = G(p, r): a block is G rows p .. p + 3 (four k indices) of
            // G column row0 + r.
            let kb = e % (BK / 4u);
            let r = e / (BK / 4u);
            let gj = row0 + r;
            let gp = k0 + 4u * kb;
            var v = vec4<f32>(0.0);
            if (gj < m && gp < k) {
                v = rng_dist_block(params.dist, rng_matrix_block(params.counter, params.key, gp, gj));
            }
            for (var q = 0u; q < 4u; q = q + 1u) {
                a_tile[(4u * kb + q) * TM + r] = select(0.0, v[q], gp + q < k);
            }
        } else {
            // op(G)(i, p) = G(i, p): a block is G rows row0 + 4 rb .. + 3 of column k0 + kk.
            let rb = e % (TM / 4u);
            let kk = e / (TM / 4u);
            let gi = row0 + 4u * rb;
            let gp = k0 + kk;
            var v = vec4<f32>(0.0);
            if (gi < m && gp < k) {
                v = rng_dist_block(params.dist, rng_matrix_block(params.counter, params.key, gi, gp));
            }
            for (var q = 0u; q < 4u; q = q + 1u) {
                a_tile[kk * TM + 4u * rb + q] = select(0.0, v[q], gi + q < m);
            }
        }
    }
    // Stage X[k0 .. k0 + BK, col0 .. col0 + TN] (k contiguous).
    stage_slice(1u, k0, col0, params.n, flat, threads, false);
}

// X(p, g): op(G) is generated above, so only operand 1 is staged from memory.
fn operand_value(operand: u32, g: u32, p: u32) -> f32 {
    return x[p + g * params.ldx];
}

fn c_index(i: u32, j: u32) -> u32 {
    return i + j * params.ldc;
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn sketch_gemm(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
) {
    gemm_tile_run(wid, lid);
}
