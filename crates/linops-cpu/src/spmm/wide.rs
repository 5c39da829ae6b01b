//! CPU SpMM for a short, wide sparse `S` (`m×k`, `m` small, `k ≥ 2m`): the sketching
//! orientation `S·X` of the sparse sketches, where `X` (`k×b`) is far larger than the output.
//!
//! Method: the CSR of `S` is re-blocked by chunks of [`CHUNK`] columns (a counting pass,
//! `O(nnz + m·k/CHUNK)`: entries ordered by (chunk, row), column indices local to the chunk). The
//! columns of `X` are taken [`PANEL`] at a time; for each chunk, the `CHUNK×PANEL` block of `X` is
//! transposed into an in-cache panel (128 KiB for f32), and every row `r` of `S` gathers its
//! entries in that chunk into a `PANEL`-wide register accumulator,
//! `a += S(r, i)·panel[i][·]`, loaded from and stored back to the `m×PANEL` accumulator of the
//! output once per chunk (one running sum per output element, so a row whose columns are sorted,
//! as `Csr` stores them, is summed in storage order and rounds as the element-wise path): a
//! `PANEL`-wide multiply-add the compiler vectorizes, no stores in the inner loop. Each element of
//! `X` is read once from memory, no float atomics; the panels are split over the backend's `Par`
//! ([`crate::par`]) and each part owns its accumulator and its columns of the output. Cost: `2·nnz·b` FLOPs (`nnz·⌈b/PANEL⌉·PANEL` multiply-adds),
//! `k·b` reads of `X`, `m·b` writes.
//!
//! The row-wise path of [`super::spmm`] stays the path for every other shape.

use super::{PANEL, panel_parts};
use crate::CpuElem;
use faer::{MatRef, Par};

/// Rows of `X` transposed into the panel at a time.
pub(crate) const CHUNK: usize = 2048;

/// Whether the wide path is chosen for `S` of `m×k`: a short accumulator and a wide `S`.
pub(crate) fn applies(m: usize, k: usize) -> bool {
    m > 0 && m <= 4096 && k >= 2 * m
}

/// `S·X` as a flat column-major `m×b` vector, or `None` when a column of `X` is not contiguous.
/// `ranges[r]` is the (clamped) entry range of row `r`; an entry whose column `cols[p]` is not
/// below `k` is skipped.
pub(crate) fn spmm_wide<T: CpuElem>(
    par: Par,
    ranges: &[(usize, usize)],
    cols: &[u32],
    values: &[T],
    x: MatRef<'_, T>,
    m: usize,
) -> Option<Vec<T>> {
    let (k, b) = (x.nrows(), x.ncols());
    let xcols: Vec<&[T]> = (0..b)
        .map(|j| x.col(j).try_as_col_major().map(|c| c.as_slice()))
        .collect::<Option<_>>()?;
    // Blocked CSR of S: entries ordered by (chunk of X rows, row of S, column), with column
    // indices local to their chunk. bptr[c·m + r] .. bptr[c·m + r + 1] are row r's entries in
    // chunk c.
    let chunks = k.div_ceil(CHUNK);
    let mut bptr = vec![0usize; chunks * m + 1];
    for (r, &(s, e)) in ranges.iter().enumerate() {
        for &c in &cols[s..e] {
            let c = c as usize;
            if c < k {
                bptr[(c / CHUNK) * m + r + 1] += 1;
            }
        }
    }
    for i in 0..chunks * m {
        bptr[i + 1] += bptr[i];
    }
    let zero = T::from_f64(0.0);
    let nnz = bptr[chunks * m];
    let mut fill = bptr.clone();
    let mut local = vec![0u32; nnz];
    let mut vals = vec![zero; nnz];
    for (r, &(s, e)) in ranges.iter().enumerate() {
        for p in s..e {
            let c = cols[p] as usize;
            if c < k {
                let slot = &mut fill[(c / CHUNK) * m + r];
                local[*slot] = (c % CHUNK) as u32;
                vals[*slot] = values[p];
                *slot += 1;
            }
        }
    }
    // The columns of one part of the output, `PANEL` at a time; the part starts at column `j0`.
    let part = |j0: usize, dst: &mut [T]| {
        let mut acc = vec![[zero; PANEL]; m];
        // On the heap: 128 KiB (f32) to 256 KiB (f64) is too much for a worker's stack.
        #[allow(clippy::useless_vec)]
        let mut buf = vec![[zero; PANEL]; CHUNK];
        for (p, dst) in dst.chunks_mut(PANEL * m).enumerate() {
            let j0 = j0 + p * PANEL;
            let w = dst.len() / m;
            acc.fill([zero; PANEL]);
            for ch in 0..chunks {
                let i0 = ch * CHUNK;
                let len = CHUNK.min(k - i0);
                for (c, col) in xcols[j0..j0 + w].iter().enumerate() {
                    for (dst, v) in buf.iter_mut().zip(&col[i0..i0 + len]) {
                        dst[c] = *v;
                    }
                }
                let base = ch * m;
                for (r, out) in acc.iter_mut().enumerate() {
                    // Continues the row's sum from the previous chunks: one running sum per
                    // output element, in column order (storage order for a sorted CSR).
                    let mut a = *out;
                    for q in bptr[base + r]..bptr[base + r + 1] {
                        let (xi, v) = (&buf[local[q] as usize], vals[q]);
                        for (a, x) in a.iter_mut().zip(xi) {
                            *a += v * *x;
                        }
                    }
                    *out = a;
                }
            }
            for (c, col) in dst.chunks_exact_mut(m).enumerate() {
                for (o, a) in col.iter_mut().zip(&acc) {
                    *o = a[c];
                }
            }
        }
    };
    Some(panel_parts(par, nnz, m, b, PANEL, &part))
}
