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
// Bindings (group 0):
//   0: a      storage, read        — W, the blocks side by side
//   1: b      storage, read        — X
//   2: c      storage, read_write  — Y
//   3: params uniform              — BlockGemmParams
//
// Work decomposition: identical to gemm.wgsl (TM x TN tile of Y_t per workgroup, RM x RN register
// micro-tile per invocation, BK-deep slices staged in workgroup memory, KFLUSH blocked summation);
// only the X and Y addressing differ (a row stride instead of 1). The host checks that X has
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

override TM: u32 = WG_X * RM;
override TN: u32 = WG_Y * RN;
override A_TILE: u32 = TM * BK;
override B_TILE: u32 = TN * BK;

const MAX_R: u32 = 8u;
const FLAG_BETA_ZERO: u32 = 1u;

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;
@group(0) @binding(3) var<uniform> params: BlockGemmParams;

var<workgroup> a_tile: array<f32, A_TILE>;
var<workgroup> b_tile: array<f32, B_TILE>;

@compute @workgroup_size(WG_X, WG_Y, 1)
fn block_gemm(
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

    let base_a = t * params.a_stride;
    let base_b = t * params.x_step;
    let base_c = t * params.y_step;

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
        // Stage X_t[k0 .. k0 + BK, col0 .. col0 + TN] as b_tile[kk * TN + s]; p is the faster
        // index (contiguous when x_rs == 1).
        for (var e = flat; e < B_TILE; e = e + threads) {
            let kk = e % BK;
            let s = e / BK;
            let gj = col0 + s;
            let gp = k0 + kk;
            var v = 0.0;
            if (gj < n && gp < k) {
                v = b[base_b + gp * params.x_rs + gj * params.ldx];
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
                    let idx = base_c + i * params.y_rs + j * params.ldy;
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
