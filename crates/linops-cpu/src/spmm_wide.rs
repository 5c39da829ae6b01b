//! CPU SpMM for a short, wide sparse `S` (`m×k`, `m` small, `k ≥ 2m`): the sketching
//! orientation `S·X` of the sparse sketches, where `X` (`k×b`) is far larger than the output.
//!
//! Method: the CSR of `S` is re-read as its CSC (a counting pass, `O(nnz + k)`), then the columns
//! of `X` are taken [`PANEL`] at a time; for each chunk of [`CHUNK`] rows of `X`, the `CHUNK×PANEL`
//! block is transposed into a small in-cache panel, and every row `i` of it is scattered into the
//! `m×PANEL` accumulator (row-major, in cache for `m ≤ 4096`): `acc[r][·] += S(r, i)·X(i, ·)` for
//! the stored entries of column `i` of `S`, a `PANEL`-wide multiply-add the compiler vectorizes.
//! Each element of `X` is read once from memory, no float atomics; panels run in parallel (rayon)
//! and each owns its accumulator. Cost: `2·nnz·b` FLOPs (`nnz·⌈b/PANEL⌉·PANEL` multiply-adds),
//! `k·b` reads of `X`, `m·b` writes.
//!
//! The generic row-wise gather (`structured_more::spmm`) stays the path for every other shape.

use crate::CpuElem;
use faer::{MatRef, Par};
use rayon::prelude::*;

/// Columns of `X` processed together (the SIMD width of the scatter-add).
pub(crate) const PANEL: usize = 16;
/// Rows of `X` transposed into the panel at a time.
pub(crate) const CHUNK: usize = 256;

/// Whether the scatter path is chosen for `S` of `m×k`: a short accumulator and a wide `S`.
pub(crate) fn applies(m: usize, k: usize) -> bool {
    m <= 4096 && k >= 2 * m
}

/// `S·X` as a flat column-major `m×b` vector, or `None` when a column of `X` is not contiguous.
/// `ranges[r]` is the (clamped) entry range of row `r`; `cols[p] == k` marks an entry to skip.
pub(crate) fn spmm_wide<T: CpuElem>(
    par: Par,
    ranges: &[(usize, usize)],
    cols: &[usize],
    values: &[T],
    x: MatRef<'_, T>,
    m: usize,
) -> Option<Vec<T>> {
    let (k, b) = (x.nrows(), x.ncols());
    let xcols: Vec<&[T]> = (0..b)
        .map(|j| x.col(j).try_as_col_major().map(|c| c.as_slice()))
        .collect::<Option<_>>()?;
    // CSC of S: for each row i of X, the (output row, value) pairs, rows ascending.
    let mut ptr = vec![0usize; k + 1];
    for &(s, e) in ranges {
        for &c in &cols[s..e] {
            if c < k {
                ptr[c + 1] += 1;
            }
        }
    }
    for i in 0..k {
        ptr[i + 1] += ptr[i];
    }
    let zero = T::from_f64(0.0);
    let mut fill = ptr.clone();
    let mut rows = vec![0u32; ptr[k]];
    let mut vals = vec![zero; ptr[k]];
    for (r, &(s, e)) in ranges.iter().enumerate() {
        for p in s..e {
            let c = cols[p];
            if c < k {
                rows[fill[c]] = r as u32;
                vals[fill[c]] = values[p];
                fill[c] += 1;
            }
        }
    }
    let panel = |p: usize| -> Vec<[T; PANEL]> {
        let j0 = p * PANEL;
        let w = PANEL.min(b - j0);
        let mut acc = vec![[zero; PANEL]; m];
        let mut buf = vec![[zero; PANEL]; CHUNK];
        for i0 in (0..k).step_by(CHUNK) {
            let len = CHUNK.min(k - i0);
            for (c, col) in xcols[j0..j0 + w].iter().enumerate() {
                for (dst, v) in buf.iter_mut().zip(&col[i0..i0 + len]) {
                    dst[c] = *v;
                }
            }
            for (t, xi) in buf[..len].iter().enumerate() {
                let i = i0 + t;
                for q in ptr[i]..ptr[i + 1] {
                    let (a, v) = (&mut acc[rows[q] as usize], vals[q]);
                    for c in 0..PANEL {
                        a[c] += v * xi[c];
                    }
                }
            }
        }
        acc
    };
    let panels = b.div_ceil(PANEL);
    let parallel = par.degree() > 1 && panels > 1 && ptr[k] * b >= 1 << 15;
    let accs: Vec<Vec<[T; PANEL]>> = if parallel {
        (0..panels).into_par_iter().map(panel).collect()
    } else {
        (0..panels).map(panel).collect()
    };
    let mut flat = vec![zero; m * b];
    for (p, acc) in accs.iter().enumerate() {
        for c in 0..PANEL.min(b - p * PANEL) {
            let col = &mut flat[(p * PANEL + c) * m..(p * PANEL + c + 1) * m];
            for (o, a) in col.iter_mut().zip(acc) {
                *o = a[c];
            }
        }
    }
    Some(flat)
}
