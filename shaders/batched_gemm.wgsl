// batched_gemm.wgsl — batched GEMM over batches of whole matrices stored side by side.
//
// Computes, for every matrix t in 0..batch (the z dimension of the dispatch):
//     C_t = alpha * op(A_t) * B_t + beta * C_t
// op(A_t) is m x k: A_t stored m x k (or k x m when TRANS_A) at A[t * stride_a + i + p * lda];
// B_t is k x n at B[t * stride_b + p + j * ldb]; C_t is m x n at C[t * stride_c + i + j * ldc].
// A batch of b matrices of r x c is one column-major r x (b * c) matrix, so stride = r * c and
// ld = r for every operand. When beta == 0 (flag bit 0) C is never read.
//
// Bindings (group 0; 0-2 declared by gemm_operands.wgsl):
//   0: a      storage, read        — A, the matrices side by side
//   1: b      storage, read        — B, the matrices side by side
//   2: c      storage, read_write  — C, the matrices side by side
//   3: params uniform              — BatchedGemmParams
//
// Work decomposition: the shared tile loop and staging of gemm_tile.wgsl, gemm_stage.wgsl and
// gemm_operands.wgsl (prepended), as gemm.wgsl: a TM x TN tile of C_t per workgroup, an RM x RN
// register micro-tile per invocation, BK-deep slices staged in workgroup memory. The host checks
// that every operand holds exactly batch matrices of its shape, so every access is in bounds and
// the module may run without runtime bounds checks.
//
// Dispatch: (ceil(m / TM), ceil(n / TN), batch) workgroups of size (WG_X, WG_Y, 1).

struct BatchedGemmParams {
    m: u32,
    n: u32,
    k: u32,
    flags: u32,
    lda: u32,
    ldb: u32,
    ldc: u32,
    stride_a: u32,
    stride_b: u32,
    stride_c: u32,
    alpha: f32,
    beta: f32,
}

@group(0) @binding(3) var<uniform> params: BatchedGemmParams;

// B_t(p, j).
fn b_value(p: u32, j: u32) -> f32 {
    return b[base_b + p + j * params.ldb];
}

fn b_contiguous_in_j() -> bool {
    return false;
}

fn c_index(i: u32, j: u32) -> u32 {
    return base_c + i + j * params.ldc;
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn batched_gemm(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
) {
    let t = wid.z;
    base_a = t * params.stride_a;
    base_b = t * params.stride_b;
    base_c = t * params.stride_c;
    gemm_tile_run(wid, lid);
}
