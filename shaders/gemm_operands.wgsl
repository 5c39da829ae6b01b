// gemm_operands.wgsl — the operands of the GEMM kernels that read both A and B from storage
// (gemm.wgsl, block_gemm.wgsl): their bindings, the start of the current A, B and C, and the
// staging of both slices through gemm_stage.wgsl (prepended after gemm_tile.wgsl and
// gemm_stage.wgsl; never compiled alone).
//
// op(A) is m x k, stored m x k at A[base_a + i + p * lda] or, when TRANS_A, k x m at
// A[base_a + p + i * lda]. The kernel declares the uniform `params` (binding 3) with fields m, n,
// k and lda, sets base_a, base_b and base_c in its entry point (its batch or block offsets), and
// defines
//   fn b_value(p: u32, j: u32) -> f32      op(B)(p, j) for p < k, j < n;
//   fn b_contiguous_in_j() -> bool         whether consecutive j of op(B) are consecutive words.
//
// Bindings (group 0): 0: a (storage, read), 1: b (storage, read), 2: c (storage, read_write).

override TRANS_A: bool = false;

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;

var<private> base_a: u32;
var<private> base_b: u32;
var<private> base_c: u32;

fn stage_tiles(k0: u32, row0: u32, col0: u32, flat: u32, threads: u32) {
    // A stored m x k is contiguous along i (the free index of its slice), stored k x m along p.
    stage_slice(0u, k0, row0, params.m, flat, threads, !TRANS_A);
    stage_slice(1u, k0, col0, params.n, flat, threads, b_contiguous_in_j());
}

// op(A)(g, p) (operand 0) or op(B)(p, g) (operand 1).
fn operand_value(operand: u32, g: u32, p: u32) -> f32 {
    if (operand == 1u) {
        return b_value(p, g);
    }
    if (TRANS_A) {
        return a[base_a + p + g * params.lda];
    }
    return a[base_a + g + p * params.lda];
}
