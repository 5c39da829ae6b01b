//! CPU SpMM, row-wise over column panels: `S` (`m×k`) of any shape whose `X` panel fits in cache
//! (the structured operators' CSR, square `S` at batch widths of tens to thousands).
//!
//! Method: the column indices are checked once per call (entries whose column is not below `k`
//! are dropped from a copy of the CSR, in storage order, so the inner loop indexes without a
//! skip test). The columns of `X` (`k×b`) are taken `P` at a time (`P` = 32 for f32 when `b ≥ 32`
//! and the panel fits, else [`PANEL`] = 16) and transposed into a `k×P` panel (`k·P` entries, at
//! most [`MAX_PANEL_BYTES`], so it stays in the L2 cache while every row gathers from it). Each
//! row `r` of `S` then accumulates `a += S(r, i)·panel[i][·]` over its entries in storage order
//! into a `P`-wide register accumulator (two 512-bit vectors for f32 and f64: one index and one
//! value read per `P` multiply-adds), written once to the output. The panel kernel is compiled for
//! AVX-512 or AVX2 when the CPU has them ([`panel_dispatch`]; the crates build for baseline x86-64,
//! whose 128-bit lanes the compiler did not even use for the generic fixed-array loop: it ran
//! scalar). Each element of `X` is read once from memory and each output element written once;
//! the panels are split over the backend's `Par` ([`crate::par`]), each part owning its columns of
//! the output.
//!
//! Bytes: `X` and the output once each, plus the CSR (`nnz` values and indices, `m + 1`
//! pointers) once per panel (`⌈b/P⌉` times, from cache after the first); the sum of each output
//! element is a multiplication and an addition per entry in storage order (never a fused
//! multiply-add), so the rounding is that of the element-wise path on every CPU and thread
//! count. Cost: `2·nnz·b` FLOPs.

use super::{PANEL, panel_parts};
use crate::CpuElem;
use faer::{MatRef, Par};
use std::any::TypeId;
use std::borrow::Cow;

/// Largest transposed panel of `X`: a typical 1 MiB per-core L2.
pub(crate) const MAX_PANEL_BYTES: usize = 1 << 20;

/// Rows of `S` whose accumulators are kept together before they are written out, a column
/// (64 bytes in f32) at a time: `P` scalar stores per row at a stride of `m` elements thrashed the
/// L1 cache, and reading the lanes of a just-stored accumulator back stalled on store forwarding.
const TILE_ROWS: usize = 16;

/// The wider panel for f32: 32 lanes, two 512-bit vectors (f64 has two at [`PANEL`] already).
const WIDE_PANEL: usize = 32;

/// Whether the panel path is chosen for `X` of `k×b`: a [`PANEL`]-wide panel fits
/// [`MAX_PANEL_BYTES`] and `b` fills at least one panel (with fewer columns most of the 16-wide
/// multiply-add is padding: measured 1.3–2× slower than the element-wise gather at b = 1).
pub(crate) fn applies<T>(k: usize, b: usize) -> bool {
    b >= PANEL && k > 0 && k.saturating_mul(PANEL * size_of::<T>()) <= MAX_PANEL_BYTES
}

/// Whether `T` is `f32` (the transposes move its 32-bit lanes).
fn is_f32<T: 'static>() -> bool {
    TypeId::of::<T>() == TypeId::of::<f32>()
}

/// `s` as the `f32` slice it is. Panics unless `T` is `f32`.
fn as_f32<T: 'static>(s: &[T]) -> &[f32] {
    assert!(is_f32::<T>());
    // SAFETY: `T` is `f32` (asserted), so the cast changes nothing but the type's name.
    unsafe { &*(std::ptr::from_ref(s) as *const [f32]) }
}

/// `s` as the mutable `f32` slice it is. Panics unless `T` is `f32`.
fn as_f32_mut<T: 'static>(s: &mut [T]) -> &mut [f32] {
    assert!(is_f32::<T>());
    // SAFETY: as in `as_f32`.
    unsafe { &mut *(std::ptr::from_mut(s) as *mut [f32]) }
}

/// The rows of `S` as the panel kernel reads them: `ranges[r]` is row `r`'s entry range in
/// `cols` and `values`, and every column in those ranges is below `k`.
#[derive(Clone, Copy)]
struct Rows<'a, T> {
    ranges: &'a [(usize, usize)],
    cols: &'a [u32],
    values: &'a [T],
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
    let (ranges, cols, values) = in_range(ranges, cols, values, k);
    let rows = Rows {
        ranges: &ranges,
        cols: &cols,
        values: &values,
    };
    let wide_fits = k.saturating_mul(WIDE_PANEL * size_of::<T>()) <= MAX_PANEL_BYTES;
    Some(if size_of::<T>() <= 4 && b >= WIDE_PANEL && wide_fits {
        panels::<T, WIDE_PANEL>(par, rows, &xcols, m)
    } else {
        panels::<T, PANEL>(par, rows, &xcols, m)
    })
}

/// The CSR restricted to the entries whose column is below `k`, in storage order: borrowed as it
/// is when every column index is (one pass over the indices), else a filtered copy with new
/// ranges.
#[allow(clippy::type_complexity)]
fn in_range<'a, T: Copy>(
    ranges: &'a [(usize, usize)],
    cols: &'a [u32],
    values: &'a [T],
    k: usize,
) -> (Cow<'a, [(usize, usize)]>, Cow<'a, [u32]>, Cow<'a, [T]>) {
    if cols.iter().all(|&c| (c as usize) < k) {
        return (ranges.into(), cols.into(), values.into());
    }
    let (mut kept_ranges, mut kept_cols, mut kept_values) = (Vec::new(), Vec::new(), Vec::new());
    for &(s, e) in ranges {
        let start = kept_cols.len();
        for (&c, &v) in cols[s..e].iter().zip(&values[s..e]) {
            if (c as usize) < k {
                kept_cols.push(c);
                kept_values.push(v);
            }
        }
        kept_ranges.push((start, kept_cols.len()));
    }
    (kept_ranges.into(), kept_cols.into(), kept_values.into())
}

/// The panel path at width `P`: the output's columns split over `par` in whole panels.
fn panels<T: CpuElem, const P: usize>(
    par: Par,
    rows: Rows<'_, T>,
    xcols: &[&[T]],
    m: usize,
) -> Vec<T> {
    let k = xcols.first().map_or(0, |c| c.len());
    let zero = T::from_f64(0.0);
    // The columns of one part of the output, `P` at a time; the part starts at column `j0`.
    let part = |j0: usize, dst: &mut [T]| {
        let mut panel = vec![[zero; P]; k];
        for (p, dst) in dst.chunks_mut(P * m).enumerate() {
            let j0 = j0 + p * P;
            let w = dst.len() / m;
            panel_dispatch::<T, P>(rows, &xcols[j0..j0 + w], &mut panel, dst);
        }
    };
    panel_parts(par, rows.values.len(), m, xcols.len(), P, &part)
}

/// [`panel_kernel`] compiled for AVX-512 or AVX2 when the CPU has them, else for the baseline. Every
/// variant runs the same multiplications and additions element by element (Rust never contracts
/// them into fused multiply-adds), so the bits are the same on every x86-64 CPU.
fn panel_dispatch<T: CpuElem, const P: usize>(
    rows: Rows<'_, T>,
    xcols: &[&[T]],
    panel: &mut [[T; P]],
    dst: &mut [T],
) {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f")]
        fn avx512<T: CpuElem, const P: usize>(
            rows: Rows<'_, T>,
            xcols: &[&[T]],
            panel: &mut [[T; P]],
            dst: &mut [T],
        ) {
            panel_kernel(rows, xcols, panel, dst, true);
        }
        #[target_feature(enable = "avx2")]
        fn avx2<T: CpuElem, const P: usize>(
            rows: Rows<'_, T>,
            xcols: &[&[T]],
            panel: &mut [[T; P]],
            dst: &mut [T],
        ) {
            panel_kernel(rows, xcols, panel, dst, true);
        }
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F (checked just above), the only requirement of a
            // `target_feature` function.
            unsafe { avx512(rows, xcols, panel, dst) };
            return;
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: as above, for AVX2.
            unsafe { avx2(rows, xcols, panel, dst) };
            return;
        }
    }
    panel_kernel(rows, xcols, panel, dst, false);
}

/// One panel: the `w = xcols.len()` columns of `X` transposed into `panel` (`k` rows of `P`,
/// lanes from `w` on left as they are), then every row of `S` gathered from it into `dst`, the
/// `m×w` column-major output of these columns. With `simd` (only in the functions compiled for
/// AVX2 or AVX-512F, on a CPU that has them) the f32 transposes go 8×8 blocks at a time through
/// [`avx::transpose8`].
#[inline(always)]
fn panel_kernel<T: CpuElem, const P: usize>(
    rows: Rows<'_, T>,
    xcols: &[&[T]],
    panel: &mut [[T; P]],
    dst: &mut [T],
    simd: bool,
) {
    let w = xcols.len();
    let m = rows.ranges.len();
    let k = panel.len();
    let fast = cfg!(target_arch = "x86_64") && simd && is_f32::<T>();
    // Columns of X below `done` are in the panel.
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if fast {
        let flat = as_f32_mut(panel.as_flattened_mut());
        let k8 = k - k % 8;
        while done + 8 <= w {
            let cols: [&[f32]; 8] = std::array::from_fn(|i| as_f32(xcols[done + i]));
            for e0 in (0..k8).step_by(8) {
                let src = cols.map(|c| &c[e0..e0 + 8]);
                // SAFETY: `fast` implies `simd`, passed only by the functions compiled for AVX2
                // or AVX-512F (both imply AVX) after the CPU was checked for them.
                unsafe { avx::transpose8(src, &mut flat[e0 * P + done..], P) };
            }
            for (c, col) in cols.iter().enumerate() {
                for (e, v) in flat[k8 * P..].chunks_exact_mut(P).zip(&col[k8..]) {
                    e[done + c] = *v;
                }
            }
            done += 8;
        }
    }
    for (c, col) in xcols.iter().enumerate().skip(done) {
        for (e, v) in panel.iter_mut().zip(col.iter()) {
            e[c] = *v;
        }
    }
    let zero = T::from_f64(0.0);
    let mut tile = [[zero; P]; TILE_ROWS];
    for (block, ranges) in rows.ranges.chunks(TILE_ROWS).enumerate() {
        for (t, &(s, e)) in tile.iter_mut().zip(ranges) {
            let mut a = [zero; P];
            for (&c, &v) in rows.cols[s..e].iter().zip(&rows.values[s..e]) {
                // Every column is below k (`in_range`): the index check never fails.
                let xi = &panel[c as usize];
                for (a, x) in a.iter_mut().zip(xi) {
                    *a += v * *x;
                }
            }
            *t = a;
        }
        let r0 = block * TILE_ROWS;
        // Columns of the tile below `done` are in the output.
        let mut done = 0;
        #[cfg(target_arch = "x86_64")]
        if fast && ranges.len() == TILE_ROWS {
            let flat = as_f32(tile.as_flattened());
            let out = as_f32_mut(dst);
            while done + 8 <= w {
                for h in (0..TILE_ROWS).step_by(8) {
                    let src = std::array::from_fn(|i| &flat[(h + i) * P + done..][..8]);
                    // SAFETY: as for the panel above.
                    unsafe { avx::transpose8(src, &mut out[done * m + r0 + h..], m) };
                }
                done += 8;
            }
        }
        for (c, col) in dst.chunks_exact_mut(m).take(w).enumerate().skip(done) {
            for (o, t) in col[r0..r0 + ranges.len()].iter_mut().zip(&tile) {
                *o = t[c];
            }
        }
    }
}

/// 8×8 transposes of f32 in AVX registers for the two layout changes of the panel path (`X` into
/// the panel, the row tile into the output), which as scalar code (or the scatters and gathers
/// the compiler made of it) took about as long as the multiply-adds. (AVX, not AVX-512: its
/// intrinsics are stable from Rust 1.27, the AVX-512 ones only from 1.89, above our MSRV.)
#[cfg(target_arch = "x86_64")]
mod avx {
    use std::arch::x86_64::{
        _mm256_loadu_ps, _mm256_permute2f128_ps, _mm256_setzero_ps, _mm256_shuffle_ps,
        _mm256_storeu_ps, _mm256_unpackhi_ps, _mm256_unpacklo_ps,
    };

    /// `dst[j·stride + i] = src[i][j]` for `i, j < 8`.
    ///
    /// # Panics
    /// If a source has fewer than 8 elements or `dst` is shorter than `7·stride + 8`.
    #[inline]
    #[target_feature(enable = "avx")]
    pub(super) fn transpose8(src: [&[f32]; 8], dst: &mut [f32], stride: usize) {
        assert!(src.iter().all(|s| s.len() >= 8) && dst.len() >= 7 * stride + 8);
        let mut r = [_mm256_setzero_ps(); 8];
        for (r, s) in r.iter_mut().zip(src) {
            // SAFETY: reads 8 elements of a source of at least 8 (asserted above).
            *r = unsafe { _mm256_loadu_ps(s.as_ptr()) };
        }
        // Pairs of rows interleaved, then quadruples: in 128-bit lane `l` of `s[4g + e]`, the
        // rows 4g..4g+4 of column 4l + e.
        let mut t = r;
        for i in 0..4 {
            t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
            t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
        }
        let mut s = t;
        for g in 0..2 {
            let (a0, a1, b0, b1) = (t[4 * g], t[4 * g + 1], t[4 * g + 2], t[4 * g + 3]);
            s[4 * g] = _mm256_shuffle_ps::<0x44>(a0, b0);
            s[4 * g + 1] = _mm256_shuffle_ps::<0xEE>(a0, b0);
            s[4 * g + 2] = _mm256_shuffle_ps::<0x44>(a1, b1);
            s[4 * g + 3] = _mm256_shuffle_ps::<0xEE>(a1, b1);
        }
        // Column e: the low lanes of s[e] and s[4 + e]; column 4 + e: their high lanes.
        for e in 0..4 {
            let lo = _mm256_permute2f128_ps::<0x20>(s[e], s[4 + e]);
            let hi = _mm256_permute2f128_ps::<0x31>(s[e], s[4 + e]);
            for (j, c) in [(e, lo), (4 + e, hi)] {
                // SAFETY: j·stride + 8 ≤ 7·stride + 8 ≤ dst.len() (asserted above).
                unsafe { _mm256_storeu_ps(dst.as_mut_ptr().add(j * stride), c) };
            }
        }
    }
}
