// block_gemm.wgsl — batched block GEMM with row-strided operands (block-diagonal and Monarch).
//
// Computes, for every block t in 0..blocks (the z dimension of the dispatch):
//     Y_t = alpha * op(W_t) * X_t + beta * Y_t
// op(W_t) is m x k: W_t stored m x k (or k x m when TRANS_A) at W[t * a_stride + i + j * lda].
// X_t is k x n with element (p, j) at X[t * x_step + p * x_rs + j * ldx]; Y_t is m x n with
// element (i, j) at Y[t * y_step + i * y_rs + j * ldy]. The (step, row stride) pairs are
// (rows per block, 1) for contiguous blocks and (1, blocks) for strided blocks: a perfect shuffle
// folded into the indexing, so a Monarch factor's permutations cost no memory pass. When
// beta == 0 (flag bit 0) Y is never read.
//
// Bindings (group 0; 0-2 declared by gemm_operands.wgsl):
//   0: a      storage, read        — W, the blocks side by side
//   1: b      storage, read        — X
//   2: c      storage, read_write  — Y
//   3: params uniform              — BlockGemmParams
//
// Work decomposition: the shared tile loop and staging of gemm_tile.wgsl, gemm_stage.wgsl and
// gemm_operands.wgsl (prepended; the last declares the bindings a, b, c and TRANS_A), as gemm.wgsl (TM x TN tile of Y_t per workgroup, RM x RN
// register micro-tile per invocation, BK-deep slices staged in workgroup memory, KFLUSH blocked
// summation); only the X and Y addressing differ (a row stride instead of 1). The host checks that X has
// exactly blocks * k rows, Y blocks * m rows and W the stored blocks, and that both layouts are
// bijections onto the rows, so every access is in bounds and the module may run without runtime
// bounds checks.
//
// Dispatch: (ceil(m / TM), ceil(n / TN), blocks) workgroups of size (WG_X, WG_Y, 1).

struct BlockGemmParams {
    m: u32,
    n: u32,
    k: u32,
    flags: u32,
    lda: u32,
    a_stride: u32,
    ldx: u32,
    ldy: u32,
    x_step: u32,
    x_rs: u32,
    y_step: u32,
    y_rs: u32,
    alpha: f32,
    beta: f32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(3) var<uniform> params: BlockGemmParams;

// X_t(p, j), p contiguous when x_rs == 1.
fn b_value(p: u32, j: u32) -> f32 {
    return b[base_b + p * params.x_rs + j * params.ldx];
}

fn b_contiguous_in_j() -> bool {
    return false;
}

fn c_index(i: u32, j: u32) -> u32 {
    return base_c + i * params.y_rs + j * params.ldy;
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn block_gemm(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
) {
    let t = wid.z;
    base_a = t * params.a_stride;
    base_b = t * params.x_step;
    base_c = t * params.y_step;
    gemm_tile_run(wid, lid);
}
