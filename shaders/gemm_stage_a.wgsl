// gemm_stage_a.wgsl — staging of a stored (optionally transposed) A slice into gemm_tile.wgsl's
// a_tile, shared by gemm.wgsl and block_gemm.wgsl (prepended after gemm_tile.wgsl; never compiled
// alone).
//
// The kernel declares the storage binding `a`, the override TRANS_A, a private `base_a` (start of
// the current A in `a`) and a uniform `params` with fields m, k and lda: op(A) is m x k, stored
// m x k (or k x m when TRANS_A) with leading dimension lda. Out-of-range elements stage as 0.

fn stage_a_tile(k0: u32, row0: u32, flat: u32, threads: u32) {
    let m = params.m;
    let k = params.k;
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
}
