// coop_gemm.wgsl — half-precision-input GEMM on cooperative matrices (tensor cores): f16 or bf16
// inputs, f32 accumulation.
//
// Computes C = h(A) * h(B) for column-major f32 storage: A is m x k (A[i + p * lda]),
// B is k x n (B[p + j * ldb]), C is m x n (C[i + j * ldc]). Each input element is converted once,
// when staged, by coop_half_value (coop_half.wgsl, appended after this file's
// `enable` directives and code): mode 0 (f16) rounds it to f16;
// mode 1 (bf16) rounds it to bf16 and multiplies it by the operand's power of two 2^sa (2^sb),
// sa = coop_scale_exp(maxes[0]) (sb from maxes[1], written by coop_absmax before this dispatch),
// which makes it an exact f16 value unless it falls below f16's normal range. Every product and
// sum of the 16x16x16 multiply-adds is accumulated in f32, and in mode 1 the result is multiplied
// by 2^-(sa+sb) (exact).
//
// Needs `enable f16` and `enable wgpu_cooperative_matrix` (naga capabilities SHADER_FLOAT16 and
// COOPERATIVE_MATRIX; wgpu features SHADER_F16 and EXPERIMENTAL_COOPERATIVE_MATRIX), and an
// adapter with a subgroup-scope 16x16x16 f16 x f16 -> f32 configuration. It is not part of the
// core registry: linops-gpu compiles it only behind the `coop-matrix` cargo feature, on such an
// adapter.
//
// Bindings (group 0):
//   0: a      storage, read        — A (f32)
//   1: b      storage, read        — B (f32)
//   2: c      storage, read_write  — C (f32)
//   3: params uniform              — CoopGemmParams
//   4: maxes  storage, read        — the |entry| bits of max|bf16(A)| and max|bf16(B)| (mode 1)
//
// Work decomposition: one workgroup of WG invocations (WG = the adapter's subgroup size, so the
// workgroup is one subgroup and the cooperative operations are its own) computes one 16 x 16 tile
// of C. For each 16-deep slice of k it stages the A and B tiles in workgroup memory as f16 (zero
// outside the matrices, so any m, n, k work), loads them as cooperative matrices and
// multiply-adds into an f32 accumulator; the accumulator goes through workgroup memory to the
// in-range elements of C.
//
// Dispatch: (ceil(m / 16), ceil(n / 16), 1) workgroups of size (WG, 1, 1).

enable f16;
enable wgpu_cooperative_matrix;

struct CoopGemmParams {
    m: u32,
    n: u32,
    k: u32,
    lda: u32,
    ldb: u32,
    ldc: u32,
    mode: u32,
    _pad1: u32,
}

override WG: u32 = 32u;

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;
@group(0) @binding(3) var<uniform> params: CoopGemmParams;
@group(0) @binding(4) var<storage, read> maxes: array<u32>;

// The staged tiles, column-major 16 x 16 (element (r, s) at r + 16 * s).
var<workgroup> tile_a: array<f16, 256>;
var<workgroup> tile_b: array<f16, 256>;
var<workgroup> tile_c: array<f32, 256>;

@compute @workgroup_size(WG, 1, 1)
fn coop_gemm(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let row0 = wid.x * 16u;
    let col0 = wid.y * 16u;
    let bf16 = params.mode == 1u;
    var sa = 0;
    var sb = 0;
    if (bf16) {
        sa = coop_scale_exp(maxes[0]);
        sb = coop_scale_exp(maxes[1]);
    }
    var acc = coop_mat16x16<f32, C>();
    for (var k0 = 0u; k0 < params.k; k0 += 16u) {
        for (var e = lid; e < 256u; e += WG) {
            let r = e % 16u;
            let s = e / 16u;
            // A(row0 + r, k0 + s) and B(k0 + r, col0 + s), zero outside.
            var va = 0.0;
            if (row0 + r < params.m && k0 + s < params.k) {
                va = a[(row0 + r) + (k0 + s) * params.lda];
            }
            var vb = 0.0;
            if (k0 + r < params.k && col0 + s < params.n) {
                vb = b[(k0 + r) + (col0 + s) * params.ldb];
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
            c[(row0 + r) + (col0 + s) * params.ldc] = coop_unscale(tile_c[e], -(sa + sb));
        }
    }
}
