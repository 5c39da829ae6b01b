// gemm_tile.wgsl — the register-blocked tile loop shared by gemm.wgsl, block_gemm.wgsl and
// sketch_gemm.wgsl (prepended by `shaders::assemble`; never compiled alone).
//
// Work decomposition:
//   One workgroup computes a TM x TN tile of C, TM = WG_X * RM, TN = WG_Y * RN. Invocation
//   (tx, ty) = local_invocation_id.xy owns the RM x RN micro-tile of rows row0 + tx + WG_X * r
//   (r < RM) and columns col0 + ty + WG_Y * s (s < RN), accumulated in registers; strided
//   ownership makes workgroup-memory reads conflict-free and global C writes coalesced. The k loop
//   steps by BK: the kernel stages op(A)[tile rows, k0..k0+BK] as a_tile[kk * TM + r] and
//   op(B)[k0..k0+BK, tile cols] as b_tile[kk * TN + s] in workgroup memory, zeros outside the
//   matrices.
//
// Blocked summation: products are summed in `part` over KFLUSH k-tiles (KFLUSH * BK terms), then
// added to `acc`. The rounding error of a length-k dot product then grows like
// (KFLUSH * BK + k / (KFLUSH * BK)) * u instead of k * u (Higham, Accuracy and Stability, §3.1),
// which keeps the GPU within the CPU's error for long reductions, at one add per KFLUSH * BK FMAs.
//
// A kernel that prepends this file declares the read_write storage binding `c` (C) and defines
//   fn stage_tiles(k0: u32, row0: u32, col0: u32, flat: u32, threads: u32)
//       every invocation's share (elements flat, flat + threads, ...) of the two slices;
//   fn c_index(i: u32, j: u32) -> u32
//       the index of C(i, j) in `c` (the kernel's batch or block offsets are its own);
// and a uniform `params` with fields m, n, k (C is m x n, the reduction k long), flags (bit 0:
// beta == 0), alpha and beta; its entry point sets its offsets and calls gemm_tile_run, which
// runs gemm_tile then gemm_tile_store on the workgroup's tile.
// The host sets WG_X, WG_Y, RM, RN, BK with RM, RN <= MAX_R and WG_X * WG_Y dividing TM * BK and
// TN * BK.

override WG_X: u32 = 16u;
override WG_Y: u32 = 16u;
override RM: u32 = 8u;
override RN: u32 = 8u;
override BK: u32 = 16u;
override KFLUSH: u32 = 4u;

override TM: u32 = WG_X * RM;
override TN: u32 = WG_Y * RN;
override A_TILE: u32 = TM * BK;
override B_TILE: u32 = TN * BK;

const MAX_R: u32 = 8u;
const FLAG_BETA_ZERO: u32 = 1u;

var<workgroup> a_tile: array<f32, A_TILE>;
var<workgroup> b_tile: array<f32, B_TILE>;

// acc[r * MAX_R + s] = sum over p < k of op(A)(row0 + tx + r * WG_X, p) * op(B)(p, col0 + ty + s * WG_Y).
// `k` must be uniform across the workgroup (it bounds a loop with barriers).
fn gemm_tile(k: u32, row0: u32, col0: u32, lid: vec3<u32>, acc: ptr<function, array<f32, 64>>) {
    let tx = lid.x;
    let ty = lid.y;
    let flat = tx + ty * WG_X;
    let threads = WG_X * WG_Y;

    var part: array<f32, 64>;
    for (var q = 0u; q < MAX_R * MAX_R; q = q + 1u) {
        (*acc)[q] = 0.0;
        part[q] = 0.0;
    }
    var a_reg: array<f32, 8>;
    var b_reg: array<f32, 8>;

    for (var k0 = 0u; k0 < k; k0 = k0 + BK) {
        if (k0 > 0u && (k0 / BK) % KFLUSH == 0u) {
            for (var q = 0u; q < MAX_R * MAX_R; q = q + 1u) {
                (*acc)[q] = (*acc)[q] + part[q];
                part[q] = 0.0;
            }
        }
        stage_tiles(k0, row0, col0, flat, threads);
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
        (*acc)[q] = (*acc)[q] + part[q];
    }
}

// C(i, j) = alpha * acc + beta * C(i, j) over this invocation's micro-tile, for i < m, j < n;
// C is not read when beta_zero.
fn gemm_tile_store(
    m: u32,
    n: u32,
    row0: u32,
    col0: u32,
    lid: vec3<u32>,
    acc: ptr<function, array<f32, 64>>,
    alpha: f32,
    beta: f32,
    beta_zero: bool,
) {
    for (var s = 0u; s < RN; s = s + 1u) {
        let j = col0 + lid.y + s * WG_Y;
        if (j < n) {
            for (var r = 0u; r < RM; r = r + 1u) {
                let i = row0 + lid.x + r * WG_X;
                if (i < m) {
                    let idx = c_index(i, j);
                    var v = alpha * (*acc)[r * MAX_R + s];
                    if (!beta_zero) {
                        v = fma(beta, c[idx], v);
                    }
                    c[idx] = v;
                }
            }
        }
    }
}

// The whole tile of workgroup `wid`: accumulate, then C = alpha * acc + beta * C (C not read when
// flag bit 0 says beta == 0).
fn gemm_tile_run(wid: vec3<u32>, lid: vec3<u32>) {
    let row0 = wid.x * TM;
    let col0 = wid.y * TN;
    var acc: array<f32, 64>;
    gemm_tile(params.k, row0, col0, lid, &acc);
    let beta_zero = (params.flags & FLAG_BETA_ZERO) != 0u;
    gemm_tile_store(params.m, params.n, row0, col0, lid, &acc, params.alpha, params.beta, beta_zero);
}
