// gemm.wgsl — batched, tiled, register-blocked f32 GEMM (column-major), and the GEMM with a
// diagonal epilogue.
//
// Entry point gemm computes, for every batch index t in 0..batch:
//     C_t = alpha * op(A_t) * op(B_t) + beta * C_t
// where op(X) = X or X^T (override constants TRANS_A / TRANS_B), op(A_t) is m x k, op(B_t) is
// k x n and C_t is m x n. Element (i, j) of a stored matrix X with leading dimension ld lives at
// X[offset + t * stride + i + j * ld]. When beta == 0 (flag bit 0) C is never read.
//
// Entry point gemm_diag (batch 1) computes
//     C = alpha * (op(A) * op(B) + diag(dg) * xd) + beta * C
// with dg (m entries) and xd (m x n, element (i, j) at xd[i + j * m]): the output pass of
// diagonal plus low rank. Each invocation adds dg[i] * xd[i, j] to its accumulated dot products
// before the shared store, so C is written once (the tile loop and the store are gemm_tile's).
//
// Bindings (group 0; 0-2 declared by gemm_operands.wgsl):
//   0: a      storage, read        — A (flat f32 array)
//   1: b      storage, read        — B
//   2: c      storage, read_write  — C
//   3: params uniform              — GemmParams
//   4: dg     storage, read        — the diagonal (gemm_diag only)
//   5: xd     storage, read        — the matrix it scales (gemm_diag only)
//
// Work decomposition: the shared tile loop of gemm_tile.wgsl (prepended): a TM x TN tile of C_t
//   per workgroup, an RM x RN register micro-tile per invocation, BK-deep slices of op(A) and
//   op(B) staged in workgroup memory by gemm_stage.wgsl and gemm_operands.wgsl (which also
//   declare the bindings a, b, c and the override TRANS_A; this file gives B's addressing), loading along the contiguous direction of the stored matrix for each
//   transpose case; out-of-range elements load as 0.
//   Edges (any m, n, k) are handled by explicit guards; the host validates every index range
//   against the buffer lengths, so the module may be compiled without runtime bounds checks.
//
// Dispatch: (ceil(m / TM), ceil(n / TN), batch) workgroups of size (WG_X, WG_Y, 1); batch = 1
// for gemm_diag.
// Constraints checked by the host: RM <= 8, RN <= 8, WG_X * WG_Y divides TM * BK and TN * BK.

struct GemmParams {
    m: u32,
    n: u32,
    k: u32,
    flags: u32,
    lda: u32,
    ldb: u32,
    ldc: u32,
    batch: u32,
    offset_a: u32,
    offset_b: u32,
    offset_c: u32,
    _pad0: u32,
    stride_a: u32,
    stride_b: u32,
    stride_c: u32,
    _pad1: u32,
    alpha: f32,
    beta: f32,
    _pad2: u32,
    _pad3: u32,
}

override TRANS_B: bool = false;

@group(0) @binding(3) var<uniform> params: GemmParams;
@group(0) @binding(4) var<storage, read> dg: array<f32>;
@group(0) @binding(5) var<storage, read> xd: array<f32>;

// op(B)(p, j): B stored k x n (B[p + j * ldb]) or, when TRANS_B, n x k (B[j + p * ldb]).
fn b_value(p: u32, j: u32) -> f32 {
    if (TRANS_B) {
        return b[base_b + j + p * params.ldb];
    }
    return b[base_b + p + j * params.ldb];
}

fn b_contiguous_in_j() -> bool {
    return TRANS_B;
}

fn c_index(i: u32, j: u32) -> u32 {
    return base_c + i + j * params.ldc;
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn gemm(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
) {
    let t = wid.z;
    base_a = params.offset_a + t * params.stride_a;
    base_b = params.offset_b + t * params.stride_b;
    base_c = params.offset_c + t * params.stride_c;
    gemm_tile_run(wid, lid);
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn gemm_diag(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
) {
    base_a = params.offset_a;
    base_b = params.offset_b;
    base_c = params.offset_c;
    let row0 = wid.x * TM;
    let col0 = wid.y * TN;
    var acc: array<f32, 64>;
    gemm_tile(params.k, row0, col0, lid, &acc);
    // The invocation's micro-tile, as gemm_tile owns it: rows row0 + lid.x + r * WG_X, columns
    // col0 + lid.y + s * WG_Y.
    for (var s = 0u; s < RN; s = s + 1u) {
        let j = col0 + lid.y + s * WG_Y;
        for (var r = 0u; r < RM; r = r + 1u) {
            let i = row0 + lid.x + r * WG_X;
            if (i < params.m && j < params.n) {
                acc[r * MAX_R + s] = acc[r * MAX_R + s] + dg[i] * xd[i + j * params.m];
            }
        }
    }
    let beta_zero = (params.flags & FLAG_BETA_ZERO) != 0u;
    gemm_tile_store(params.m, params.n, row0, col0, lid, &acc, params.alpha, params.beta, beta_zero);
}
