// coop_block_gemm.wgsl — batched block GEMM on cooperative matrices (tensor cores): f16 or bf16
// inputs, f32 accumulation; the tier's counterpart of block_gemm.wgsl, with its layout.
//
// Computes, for every block t in 0..blocks (the z dimension of the dispatch):
//     Y_t = alpha * h(op(W_t)) * h(X_t) * 2^-(sa+sb) + beta * Y_t
// op(W_t) is m x k: W_t stored m x k (or k x m when flag bit 1, transposed) at
// W[t * a_stride + i + j * lda]. X_t is k x n with element (p, j) at X[t * x_step + p * x_rs +
// j * ldx]; Y_t is m x n with element (i, j) at Y[t * y_step + i * y_rs + j * ldy] (row stride 1
// for contiguous blocks, `blocks` for strided ones: Monarch's perfect shuffles folded into the
// indexing). h is coop_half_value (coop_half.wgsl, appended after this file's
// `enable` directives and code): f16 rounding (flag bit 2 clear) or
// bf16 rounding scaled by 2^sa for W and 2^sb for X (bit 2 set; sa, sb from maxes[0], maxes[1],
// written by coop_absmax over all of W and all of X before this dispatch; sa = sb = 0 for f16).
// When beta == 0 (flag bit 0) Y is never read.
//
// Needs `enable f16` and `enable wgpu_cooperative_matrix` (as coop_gemm.wgsl).
//
// Bindings (group 0):
//   0: a      storage, read        — W, the blocks side by side (f32)
//   1: b      storage, read        — X (f32)
//   2: c      storage, read_write  — Y (f32)
//   3: params uniform              — CoopBlockGemmParams
//   4: maxes  storage, read        — the |entry| bits of max|bf16(W)| and max|bf16(X)|
//
// Work decomposition: one workgroup of WG invocations (WG = the adapter's subgroup size, so the
// workgroup is one subgroup) computes one 16 x 16 tile of Y_t. For each 16-deep slice of k it
// stages the op(W_t) and X_t tiles in workgroup memory as f16 (zero outside the block, so any
// m, n, k work), multiply-adds them into an f32 cooperative accumulator, and finally writes the
// in-range elements of Y_t through workgroup memory. Every global access is guarded by the
// block's m, k, n; the host checks that W, X and Y hold exactly the blocks the layouts address.
//
// Dispatch: (ceil(m / 16), ceil(n / 16), blocks) workgroups of size (WG, 1, 1).

enable f16;
enable wgpu_cooperative_matrix;

struct CoopBlockGemmParams {
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

override WG: u32 = 32u;

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;
@group(0) @binding(3) var<uniform> params: CoopBlockGemmParams;
@group(0) @binding(4) var<storage, read> maxes: array<u32>;

// The staged tiles, column-major 16 x 16 (element (r, s) at r + 16 * s).
var<workgroup> tile_a: array<f16, 256>;
var<workgroup> tile_b: array<f16, 256>;
var<workgroup> tile_c: array<f32, 256>;

@compute @workgroup_size(WG, 1, 1)
fn coop_block_gemm(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let t = wid.z;
    let row0 = wid.x * 16u;
    let col0 = wid.y * 16u;
    let trans = (params.flags & 2u) != 0u;
    let bf16 = (params.flags & 4u) != 0u;
    var sa = 0;
    var sb = 0;
    if (bf16) {
        sa = coop_scale_exp(maxes[0]);
        sb = coop_scale_exp(maxes[1]);
    }
    let base_a = t * params.a_stride;
    let base_x = t * params.x_step;
    let base_y = t * params.y_step;
    var acc = coop_mat16x16<f32, C>();
    for (var k0 = 0u; k0 < params.k; k0 += 16u) {
        for (var e = lid; e < 256u; e += WG) {
            let r = e % 16u;
            let s = e / 16u;
            // op(W_t)(row0 + r, k0 + s) and X_t(k0 + r, col0 + s), zero outside the block.
            var va = 0.0;
            if (row0 + r < params.m && k0 + s < params.k) {
                if (trans) {
                    va = a[base_a + (k0 + s) + (row0 + r) * params.lda];
                } else {
                    va = a[base_a + (row0 + r) + (k0 + s) * params.lda];
                }
            }
            var vb = 0.0;
            if (k0 + r < params.k && col0 + s < params.n) {
                vb = b[base_x + (k0 + r) * params.x_rs + (col0 + s) * params.ldx];
            }
            // Exact conversions: coop_half_value returns an f16 value.
            tile_a[e] = f16(coop_half_value(va, bf16, sa));
            tile_b[e] = f16(coop_half_value(vb, bf16, sb));
        }
        workgroupBarrier();
        let ma = coopLoad<coop_mat16x16<f16, A>>(&tile_a[0], 16u);
        let mb = coopLoad<coop_mat16x16<f16, B>>(&tile_b[0], 16u);
        acc = coopMultiplyAdd(ma, mb, acc);
        workgroupBarrier();
    }
    coopStore(acc, &tile_c[0], 16u);
    workgroupBarrier();
    for (var e = lid; e < 256u; e += WG) {
        let r = e % 16u;
        let s = e / 16u;
        if (row0 + r < params.m && col0 + s < params.n) {
            let idx = base_y + (row0 + r) * params.y_rs + (col0 + s) * params.ldy;
            var v = params.alpha * coop_unscale(tile_c[e], -(sa + sb));
            if ((params.flags & 1u) == 0u) {
                v = v + params.beta * c[idx];
            }
            c[idx] = v;
        }
    }
}
