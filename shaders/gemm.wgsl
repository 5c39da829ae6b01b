// gemm.wgsl — batched, tiled, register-blocked f32 GEMM (column-major).
//
// Computes, for every batch index t in 0..batch:
//     C_t = alpha * op(A_t) * op(B_t) + beta * C_t
// where op(X) = X or X^T (override constants TRANS_A / TRANS_B), op(A_t) is m x k, op(B_t) is
// k x n and C_t is m x n. Element (i, j) of a stored matrix X with leading dimension ld lives at
// X[offset + t * stride + i + j * ld]. When beta == 0 (flag bit 0) C is never read.
//
// Bindings (group 0):
//   0: a      storage, read        — A (flat f32 array)
//   1: b      storage, read        — B
//   2: c      storage, read_write  — C
//   3: params uniform              — GemmParams
//
// Work decomposition:
//   One workgroup computes a TM x TN tile of C_t, TM = WG_X * RM, TN = WG_Y * RN.
//   Invocation (tx, ty) = local_invocation_id.xy owns the RM x RN micro-tile of rows
//   row0 + tx + WG_X * r (r < RM) and columns col0 + ty + WG_Y * s (s < RN), accumulated in
//   registers; strided ownership makes workgroup-memory reads conflict-free and global C writes
//   coalesced. The k loop steps by BK: the workgroup stages op(A)[tile rows, k0..k0+BK] and
//   op(B)[k0..k0+BK, tile cols] in workgroup memory (k-major), loading along the contiguous
//   direction of the stored matrix for each transpose case; out-of-range elements load as 0.
//   Edges (any m, n, k) are handled by explicit guards; the host validates every index range
//   against the buffer lengths, so the module may be compiled without runtime bounds checks.
//
// Dispatch: (ceil(m / TM), ceil(n / TN), batch) workgroups of size (WG_X, WG_Y, 1).
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

override WG_X: u32 = 16u;
override WG_Y: u32 = 16u;
override RM: u32 = 8u;
override RN: u32 = 8u;
override BK: u32 = 16u;
// Blocked summation: products are summed in `part` over KFLUSH k-tiles (KFLUSH * BK terms), then
// added to `acc`. The rounding error of a length-k dot product then grows like
// (KFLUSH * BK + k / (KFLUSH * BK)) * u instead of k * u (Higham, Accuracy and Stability, §3.1),
// which keeps the GPU within the CPU's error for long reductions, at one add per KFLUSH * BK FMAs.
override KFLUSH: u32 = 4u;
override TRANS_A: bool = false;
override TRANS_B: bool = false;

override TM: u32 = WG_X * RM;
override TN: u32 = WG_Y * RN;
override A_TILE: u32 = TM * BK;
override B_TILE: u32 = TN * BK;

const MAX_R: u32 = 8u;
const FLAG_BETA_ZERO: u32 = 1u;

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;
@group(0) @binding(3) var<uniform> params: GemmParams;

var<workgroup> a_tile: array<f32, A_TILE>;
var<workgroup> b_tile: array<f32, B_TILE>;

@compute @workgroup_size(WG_X, WG_Y, 1)
fn gemm(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
) {
    let m = params.m;
    let n = params.n;
    let k = params.k;
    let t = wid.z;
    let row0 = wid.x * TM;
    let col0 = wid.y * TN;
    let tx = lid.x;
    let ty = lid.y;
    let flat = tx + ty * WG_X;
    let threads = WG_X * WG_Y;

    let base_a = params.offset_a + t * params.stride_a;
    let base_b = params.offset_b + t * params.stride_b;
    let base_c = params.offset_c + t * params.stride_c;

    var acc: array<f32, 64>;
    var part: array<f32, 64>;
    for (var q = 0u; q < MAX_R * MAX_R; q = q + 1u) {
        acc[q] = 0.0;
        part[q] = 0.0;
    }
    var a_reg: array<f32, 8>;
    var b_reg: array<f32, 8>;

    for (var k0 = 0u; k0 < k; k0 = k0 + BK) {
        if (k0 > 0u && (k0 / BK) % KFLUSH == 0u) {
            for (var q = 0u; q < MAX_R * MAX_R; q = q + 1u) {
                acc[q] = acc[q] + part[q];
                part[q] = 0.0;
            }
        }
        // Stage op(A)[row0 .. row0 + TM, k0 .. k0 + BK] as a_tile[kk * TM + r].
        for (var e = flat; e < A_TILE; e = e + threads) {
            var r: u32;
            var kk: u32;
            if (TRANS_A) {
                // A stored k x m: op(A)(i, p) = A[p + i * lda]; p is contiguous.
                kk = e % BK;
                r = e / BK;
            } else {
                // A stored m x k: op(A)(i, p) = A[i + p * lda]; i is contiguous.
                r = e % TM;
                kk = e / TM;
            }
            let gi = row0 + r;
            let gp = k0 + kk;
            var v = 0.0;
            if (gi < m && gp < k) {
                if (TRANS_A) {
                    v = a[base_a + gp + gi * params.lda];
                } else {
                    v = a[base_a + gi + gp * params.lda];
                }
            }
            a_tile[kk * TM + r] = v;
        }
        // Stage op(B)[k0 .. k0 + BK, col0 .. col0 + TN] as b_tile[kk * TN + s].
        for (var e = flat; e < B_TILE; e = e + threads) {
            var s: u32;
            var kk: u32;
            if (TRANS_B) {
                // B stored n x k: op(B)(p, j) = B[j + p * ldb]; j is contiguous.
                s = e % TN;
                kk = e / TN;
            } else {
                // B stored k x n: op(B)(p, j) = B[p + j * ldb]; p is contiguous.
                kk = e % BK;
                s = e / BK;
            }
            let gj = col0 + s;
            let gp = k0 + kk;
            var v = 0.0;
            if (gj < n && gp < k) {
                if (TRANS_B) {
                    v = b[base_b + gj + gp * params.ldb];
                } else {
                    v = b[base_b + gp + gj * params.ldb];
                }
            }
            b_tile[kk * TN + s] = v;
        }
        workgroupBarrier();

        for (var kk = 0u; kk < BK; kk = kk + 1u) {
            for (var r = 0u; r < RM; r = r + 1u) {
                a_reg[r] = a_tile[kk * TM + tx + r * WG_X];
            }
            for (var s = 0u; s < RN; s = s + 1u) {
                b_reg[s] = b_tile[kk * TN + ty + s * WG_Y];
            }
            for (var r = 0u; r < RM; r = r + 1u) {
                for (var s = 0u; s < RN; s = s + 1u) {
                    part[r * MAX_R + s] = fma(a_reg[r], b_reg[s], part[r * MAX_R + s]);
                }
            }
        }
        workgroupBarrier();
    }
    for (var q = 0u; q < MAX_R * MAX_R; q = q + 1u) {
        acc[q] = acc[q] + part[q];
    }

    let alpha = params.alpha;
    let beta = params.beta;
    let beta_zero = (params.flags & FLAG_BETA_ZERO) != 0u;
    for (var s = 0u; s < RN; s = s + 1u) {
        let j = col0 + ty + s * WG_Y;
        if (j < n) {
            for (var r = 0u; r < RM; r = r + 1u) {
                let i = row0 + tx + r * WG_X;
                if (i < m) {
                    let idx = base_c + i + j * params.ldc;
                    var v = alpha * acc[r * MAX_R + s];
                    if (!beta_zero) {
                        v = fma(beta, c[idx], v);
                    }
                    c[idx] = v;
                }
            }
        }
    }
}
