//! CPU SpMM, row-wise over column panels: `S` (`m×k`) of any shape whose `X` panel fits in cache
//! (the structured operators' CSR, square `S` at batch widths of tens to thousands).
//!
//! Method: the columns of `X` (`k×b`) are taken [`PANEL`] at a time and transposed into a
//! `k×PANEL` panel (`k·PANEL` entries, at most [`MAX_PANEL_BYTES`], so it stays in the L2 cache
//! while every row gathers from it). Each row `r` of `S` then accumulates
//! `a += S(r, i)·panel[i][·]` over its entries in storage order into a `PANEL`-wide register
//! accumulator (a multiply-add the compiler vectorizes; one index and one value read per
//! `PANEL` multiply-adds, instead of per multiply-add), written once to the output. Each element
//! of `X` is read once from memory and each output element written once; the panels are split
//! over the backend's `Par` ([`crate::par`]), each part owning its columns of the output.
//!
//! Bytes: `X` and the output once each, plus the CSR (`nnz` values and indices, `m + 1`
//! pointers) once per panel (`⌈b/PANEL⌉` times, from cache after the first); the sum of each
//! output element is in storage order, so the rounding is that of the element-wise path. Cost:
//! `2·nnz·b` FLOPs.

use super::{PANEL, panel_parts};
use crate::CpuElem;
use faer::{MatRef, Par};

/// Largest transposed panel of `X`: half of a typical 2 MiB L2.
pub(crate) const MAX_PANEL_BYTES: usize = 1 << 20;

/// Whether the panel path is chosen for `X` of `k×b`: its panel fits [`MAX_PANEL_BYTES`] and
/// `b` fills at least one panel (with fewer columns most of the 16-wide multiply-add is padding:
/// measured 1.3–2× slower than the element-wise gather at b = 1).
pub(crate) fn applies<T>(k: usize, b: usize) -> bool {
    b >= PANEL && k > 0 && k.saturating_mul(PANEL * size_of::<T>()) <= MAX_PANEL_BYTES
}

/// `S·X` as a flat column-major `m×b` vector, or `None` when a column of `X` is not contiguous.
/// `ranges[r]` is the (clamped) entry range of row `r`; an entry whose column `cols[p]` is not
/// below `k` is skipped.
pub(crate) fn spmm_rows<T: CpuElem>(
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
    let zero = T::from_f64(0.0);
    // The columns of one part of the output, `PANEL` at a time; the part starts at column `j0`.
    let part = |j0: usize, dst: &mut [T]| {
        let mut panel = vec![[zero; PANEL]; k];
        for (p, dst) in dst.chunks_mut(PANEL * m).enumerate() {
            let j0 = j0 + p * PANEL;
            let w = dst.len() / m;
            for (c, col) in xcols[j0..j0 + w].iter().enumerate() {
                for (e, v) in panel.iter_mut().zip(col.iter()) {
                    e[c] = *v;
                }
            }
            for (r, &(s, e)) in ranges.iter().enumerate() {
                let mut a = [zero; PANEL];
                for (&c, &v) in cols[s..e].iter().zip(&values[s..e]) {
                    if let Some(xi) = panel.get(c as usize) {
                        for c in 0..PANEL {
                            a[c] += v * xi[c];
                        }
                    }
                }
                for (c, a) in a.iter().take(w).enumerate() {
                    dst[c * m + r] = *a;
                }
            }
        }
    };
    Some(panel_parts(par, values.len(), m, b, &part))
}
