//! CPU SpMM for a short, wide sparse `S` (`m×k`, `m` small, `k ≥ 2m`): the sketching
//! orientation `S·X` of the sparse sketches, where `X` (`k×b`) is far larger than the output.
//!
//! Method: the CSR of `S` is re-blocked by chunks of [`CHUNK`] columns (a counting pass,
//! `O(nnz + m·k/CHUNK)`: entries ordered by (chunk, row), column indices local to the chunk). The
//! columns of `X` are taken [`PANEL`] at a time; for each chunk, the `CHUNK×PANEL` block of `X` is
//! transposed into an in-cache panel (128 KiB for f32; 16×16 blocks in AVX-512 registers,
//! [`crate::transpose`]), and every row `r` of `S` gathers its
//! entries in that chunk into a `PANEL`-wide register accumulator,
//! `a += S(r, i)·panel[i][·]`, loaded from and stored back to the `m×PANEL` accumulator of the
//! output once per chunk (one running sum per output element, so a row whose columns are sorted,
//! as `Csr` stores them, is summed in storage order and rounds as the element-wise path): a
//! `PANEL`-wide multiplication and addition, one AVX-512 instruction each for `f32` (the loop is
//! compiled for the widest vectors the CPU has, [`simd_dispatch`]), no stores in the inner
//! loop; rows go four at a time with their entries interleaved, four independent sums in flight
//! (each row still in its own order). Each element of
//! `X` is read once from memory, no float atomics; the panels are split over the backend's `Par`
//! ([`crate::par`]) and each part owns its accumulator and its columns of the output. Cost: `2·nnz·b` FLOPs (`nnz·⌈b/PANEL⌉·PANEL` multiply-adds),
//! `k·b` reads of `X`, `m·b` writes.
//!
//! The row-wise path of [`super::spmm`] stays the path for every other shape.

use super::{PANEL, panel_parts};
use crate::CpuElem;
use crate::simd::simd_dispatch;
use crate::transpose::transpose_into;
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
    // The panels are transposed from whole columns of X.
    if b > 0 && x.row_stride() != 1 {
        return None;
    }
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
    let blocked = Blocked {
        bptr: &bptr,
        local: &local,
        vals: &vals,
        m,
    };
    let part = |j0: usize, dst: &mut [T]| columns(&blocked, x, j0, dst);
    Some(panel_parts(par, nnz, m, b, PANEL, &part))
}

/// The CSR of `S` re-blocked by chunks of [`CHUNK`] rows of `X` (see [`spmm_wide`]).
struct Blocked<'a, T> {
    /// `bptr[c·m + r] .. bptr[c·m + r + 1]`: row `r`'s entries in chunk `c`.
    bptr: &'a [usize],
    /// Each entry's row of `X` within its chunk.
    local: &'a [u32],
    /// Each entry's value.
    vals: &'a [T],
    /// Rows of `S`.
    m: usize,
}

/// The columns of `S·X` from `j0` on into `dst` (`m` rows each, column-major), `PANEL` at a
/// time, compiled for the widest vectors the CPU has ([`simd_dispatch`]): the `PANEL`-wide
/// multiply-add is one AVX-512 (two AVX2) multiplication and addition for `f32`.
fn columns<T: CpuElem>(bl: &Blocked<'_, T>, x: MatRef<'_, T>, j0: usize, dst: &mut [T]) {
    simd_dispatch!([T: CpuElem] columns_lanes::<T>(bl: &Blocked<'_, T>, x: MatRef<'_, T>, j0: usize, dst: &mut [T]))
}

/// Rows of `S` whose sums [`columns_lanes`] advances together.
const ROWS: usize = 4;

/// `a += v·x` lane by lane (a multiplication, then an addition: the element-wise path's
/// rounding).
#[inline(always)]
fn add_entry<T: CpuElem>(a: &mut [T; PANEL], x: &[T; PANEL], v: T) {
    for (a, x) in a.iter_mut().zip(x) {
        *a += v * *x;
    }
}

/// [`columns`] in the dispatched variant.
#[inline(always)]
fn columns_lanes<T: CpuElem>(bl: &Blocked<'_, T>, x: MatRef<'_, T>, j0: usize, dst: &mut [T]) {
    let (k, m, zero) = (x.nrows(), bl.m, T::from_f64(0.0));
    let chunks = k.div_ceil(CHUNK);
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
            // Row `i` of the panel holds X[i0 + i, j0..j0 + w]: the block's transpose, 16×16 at
            // a time in registers where the CPU has them ([`crate::transpose`]).
            let block = x.subrows(i0, len).subcols(j0, w).transpose();
            // SAFETY: `block`'s rows are columns of `X`, contiguous (`spmm_wide` checked);
            // entry (c, i) goes to `buf[i][c]`, inside `buf` (`i < len ≤ CHUNK`, `c < w ≤
            // PANEL = ld`), which overlaps nothing of `X`.
            unsafe { transpose_into(block, buf.as_mut_ptr().cast::<T>(), PANEL) };
            let base = ch * m;
            // Each row continues its sum from the previous chunks: one running sum per output
            // element, in column order (storage order for a sorted CSR). Rows go [`ROWS`] at a
            // time, their entries interleaved, so that as many independent sums are in flight:
            // one row's sum is a chain of dependent additions, each waiting for the last.
            for (g, out) in acc.chunks_mut(ROWS).enumerate() {
                let r0 = base + g * ROWS;
                let mut span = [(0, 0); ROWS];
                for (i, s) in span.iter_mut().enumerate().take(out.len()) {
                    *s = (bl.bptr[r0 + i], bl.bptr[r0 + i + 1]);
                }
                let mut a = [[zero; PANEL]; ROWS];
                a[..out.len()].copy_from_slice(out);
                let a = a;
                // The entries every row of the group has, interleaved, then each row's rest
                // (a group cut short by `m` has empty spans for its missing rows).
                let common = if out.len() == ROWS {
                    span.iter().map(|&(s, e)| e - s).min().unwrap_or(0)
                } else {
                    0
                };
                let [mut a0, mut a1, mut a2, mut a3] = a;
                let [(s0, _), (s1, _), (s2, _), (s3, _)] = span;
                for t in 0..common {
                    let (q0, q1, q2, q3) = (s0 + t, s1 + t, s2 + t, s3 + t);
                    add_entry(&mut a0, &buf[bl.local[q0] as usize], bl.vals[q0]);
                    add_entry(&mut a1, &buf[bl.local[q1] as usize], bl.vals[q1]);
                    add_entry(&mut a2, &buf[bl.local[q2] as usize], bl.vals[q2]);
                    add_entry(&mut a3, &buf[bl.local[q3] as usize], bl.vals[q3]);
                }
                let mut a = [a0, a1, a2, a3];
                for (a, &(s, e)) in a.iter_mut().zip(&span) {
                    // In a local: the sum then stays in registers.
                    let mut v = *a;
                    for q in s + common..e {
                        add_entry(&mut v, &buf[bl.local[q] as usize], bl.vals[q]);
                    }
                    *a = v;
                }
                let n = out.len();
                out.copy_from_slice(&a[..n]);
            }
        }
        for (c, col) in dst.chunks_exact_mut(m).enumerate() {
            for (o, a) in col.iter_mut().zip(&acc) {
                *o = a[c];
            }
        }
    }
}
