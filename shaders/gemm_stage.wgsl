// gemm_stage.wgsl — staging of the op(A) and op(B) slices into gemm_tile.wgsl's a_tile and
// b_tile, shared by gemm.wgsl, block_gemm.wgsl and sketch_gemm.wgsl (prepended after
// gemm_tile.wgsl; never compiled alone).
//
// A slice is BK deep along k and TM (op(A): rows of C) or TN (op(B): columns of C) wide along
// its free index g. `stage_slice` stages op(A)[g0 .. g0 + TM, k0 .. k0 + BK] as
// a_tile[kk * TM + x] (operand 0) or op(B)[k0 .. k0 + BK, g0 .. g0 + TN] as b_tile[kk * TN + x]
// (operand 1), every invocation taking elements flat, flat + threads, ...; `free_fastest` says
// which index is contiguous in memory (g, or k), so that consecutive invocations load
// consecutive words. Elements with g >= g_len or k0 + kk >= params.k stage as 0 and are not read.
//
// The kernel declares a uniform `params` with field k and defines
//   fn operand_value(operand: u32, g: u32, p: u32) -> f32
//       op(A)(g, p) for operand 0, op(B)(p, g) for operand 1 (in range; its own bindings,
//       offsets and strides); a kernel that generates op(A) itself only stages operand 1.

fn stage_slice(operand: u32, k0: u32, g0: u32, g_len: u32, flat: u32, threads: u32, free_fastest: bool) {
    let width = select(TN, TM, operand == 0u);
    for (var e = flat; e < width * BK; e = e + threads) {
        var x: u32;
        var kk: u32;
        if (free_fastest) {
            x = e % width;
            kk = e / width;
        } else {
            kk = e % BK;
            x = e / BK;
        }
        let g = g0 + x;
        let gp = k0 + kk;
        var v = 0.0;
        if (g < g_len && gp < params.k) {
            v = operand_value(operand, g, gp);
        }
        if (operand == 0u) {
            a_tile[kk * TM + x] = v;
        } else {
            b_tile[kk * TN + x] = v;
        }
    }
}
