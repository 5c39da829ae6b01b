//! CPU SpMM, row-wise over column panels: `S` (`m×k`) of any shape whose `X` panel fits in cache
//! (the structured operators' CSR, square `S` at batch widths of tens to thousands).
//!
//! Method: one pass over the column indices ([`scan`]: their maximum, then per group the first
//! entries of its rows; once per operator when the backend keeps it with the plan's index
//! arrays, [`super::Structure`], else once per call) flags each group of [`GROUP`] rows: whether
//! a column is not below `k` (then, and only then, those entries are dropped from a copy of the
//! CSR, in storage order, so the inner loop indexes without a skip test) and whether the group's
//! rows have one column list (the flat block butterfly's rows share theirs by blocks; random
//! rows differ at their first entry, so that test stops there). Nothing else is set up per
//! call. The columns of `X` (`k×b`) are taken `P`
//! at a time and transposed into a `k×P` panel of cache-line-aligned rows (`k·P` entries, at most
//! [`MAX_PANEL_BYTES`], so it stays in the L2 cache while every row gathers from it): for f32,
//! `P` = 64 when most groups share their column lists and `b ≥ 64`, else 32 when `b ≥ 32`, else
//! [`PANEL`] = 16, each only when its panel fits. Each row `r` of `S` then accumulates
//! `a += S(r, i)·panel[i][·]` over its entries in storage order into a `P`-wide register
//! accumulator (one index and one value read per `P` multiply-adds). The rows go four at a time,
//! read from the CSR as they are, with their entries interleaved (four independent chains of
//! additions for the CPU to overlap: one row's chain waits on the addition latency at every
//! entry), and a group of rows with one column list loads each gathered panel row once for the
//! four. Tiles of [`TILE_ROWS`] rows are written straight into the output's columns as
//! `alpha·sum + beta·out` (no `m·b` temporary, no second pass). The panel kernel is compiled for
//! AVX-512 or AVX2 when the CPU has them ([`panel_dispatch`]; the crates build for baseline
//! x86-64, whose 128-bit lanes the compiler did not even use for the generic fixed-array loop: it
//! ran scalar); for f32 both layout changes (`X` into the panel, the tiles into the output) go
//! through 16×16 transposes in AVX-512 registers, a whole 64-byte line of each column moved at a
//! time ([`avx512`]; 8×8 ones with AVX2, [`avx`]). The output is cut into tiles, a panel's columns
//! by a block of rows (the whole height unless there are fewer panels than two per worker), split
//! over the backend's `Par` ([`crate::par`]), each part owning its tiles of the output and
//! transposing a panel once for its consecutive tiles of it.
//!
//! Bytes: `X` once per part that holds tiles of its panel (once when the panels are enough to
//! share out) and the output once (read too when `beta ≠ 0`; with AVX-512, `beta = 0` and an
//! output above [`STREAM_BYTES`], written by streaming stores, which read no line for
//! ownership), plus the CSR (`nnz` values and indices, `m + 1` pointers) once per panel (`⌈b/P⌉`
//! times, from cache after the first) and once for the scan;
//! the sum of each output element is a multiplication and an addition per entry in storage order
//! (never a fused multiply-add), so the rounding is that of the element-wise path on every CPU,
//! panel width, block of rows and thread count. Cost: `2·nnz·b` FLOPs.

use super::{MIN_PARALLEL_WORK, PANEL};
use crate::CpuElem;
use crate::par::{Grain, for_each_part};
#[cfg(target_arch = "x86_64")]
use crate::transpose::{avx, avx512};
use faer::{Mat, MatMut, MatRef, Par};
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

/// The panel for f32 rows that share their column lists: 64 lanes, four 512-bit vectors.
const SHARED_PANEL: usize = 64;

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
/// `cols` and `values`, and every column in those ranges is below `k`. `shared[g]` says whether
/// the [`GROUP`] rows `GROUP·g ..` (a whole group) have one column list (the flat block
/// butterfly's rows share theirs by blocks of `b`): such a group loads each gathered row of the
/// panel once for its rows.
#[derive(Clone, Copy)]
struct Rows<'a, T> {
    ranges: &'a [(usize, usize)],
    cols: &'a [u32],
    values: &'a [T],
    shared: &'a [bool],
    /// The row of `S` that `ranges[0]` is (a multiple of [`TILE_ROWS`]): a part of the output
    /// may hold a block of rows.
    first: usize,
}

/// One group of rows in [`scan`]: whether its rows share one column list, and whether one of
/// its columns is not below `k`.
#[derive(Clone, Copy, Default)]
pub(crate) struct GroupScan {
    shared: bool,
    out_of_range: bool,
}

/// For each group of [`GROUP`] rows (the last one possibly partial): whether it is a whole group
/// whose rows have one column list, and whether a column is not below `k`. First the largest
/// column index of all (one vectorized pass): when it is below `k`, no group has a column out of
/// range and only the `shared` test runs per group; else every group's columns are checked.
/// Random rows differ at their first entry, so the `shared` test stops there (the first entries
/// are compared before the lists). Split over `par` only from [`SCAN_PARALLEL`] indices: below,
/// starting the workers cost more than the scan (`scan` took 5–7% of a batch-64 apply of the
/// suite's CSR, 4096 rows of 16 entries, when it split and compared whole lists; 2026-12-03).
pub(crate) fn scan(par: Par, ranges: &[(usize, usize)], cols: &[u32], k: usize) -> Vec<GroupScan> {
    let mut flags = vec![GroupScan::default(); ranges.len().div_ceil(GROUP)];
    let any_out = cols.iter().fold(0u32, |m, &c| m.max(c)) as usize >= k && !cols.is_empty();
    let par = if cols.len() >= SCAN_PARALLEL {
        par
    } else {
        Par::Seq
    };
    for_each_part(
        par,
        flags.as_mut_slice(),
        Grain::min(64),
        &|first, part: &mut [GroupScan]| {
            for (g, f) in part.iter_mut().enumerate() {
                let rg = &ranges[(first + g) * GROUP..((first + g + 1) * GROUP).min(ranges.len())];
                f.out_of_range = any_out
                    && rg
                        .iter()
                        .any(|&(s, e)| cols[s..e].iter().any(|&c| c as usize >= k));
                let list = &cols[rg[0].0..rg[0].1];
                f.shared = rg.len() == GROUP
                    && rg[1..].iter().all(|&(s, e)| {
                        e - s == list.len()
                            && list.first().is_none_or(|&c| cols[s] == c)
                            && &cols[s..e] == list
                    });
            }
        },
    );
    flags
}

/// Column indices from which [`scan`] splits over the workers.
const SCAN_PARALLEL: usize = 1 << 20;

/// `out = alpha·v + beta·out` for one output element, as [`crate::flat::store`] computes it.
#[derive(Clone, Copy)]
struct Scale<T> {
    alpha: T,
    beta: T,
    /// Whether whole aligned lines of the output go out with streaming (non-temporal) stores:
    /// `beta = 0` and the output is larger than [`STREAM_BYTES`].
    stream: bool,
}

/// Outputs above which the AVX-512 kernel streams its stores past the caches: no line is read
/// for ownership before it is overwritten, and an output of many times the per-core L2 would
/// leave it anyway (a 4096×1024 f32 output, 16 MiB, took 0.6–0.65× the time of plain stores;
/// a 1 MiB one, which the next step of a plan may read back from cache, stays below).
const STREAM_BYTES: usize = 8 << 20;

impl<T: CpuElem> Scale<T> {
    /// `o ← alpha·v + beta·o` over a run of output elements (`o` is not read when `beta = 0`).
    #[inline(always)]
    fn store(self, o: &mut [T], v: &[T]) {
        if self.beta == T::from_f64(0.0) {
            for (o, v) in o.iter_mut().zip(v) {
                *o = self.alpha * *v;
            }
        } else {
            for (o, v) in o.iter_mut().zip(v) {
                *o = self.alpha * *v + self.beta * *o;
            }
        }
    }
}

/// `out = alpha·S·X + beta·out`; `None` (and `out` untouched) when a column of `X` is not
/// contiguous. `ranges[r]` is the (clamped) entry range of row `r`; an entry whose column
/// `cols[p]` is not below `k` is skipped. `scanned` is [`scan`] of these rows and columns
/// against `k` when the caller keeps it (made here otherwise).
#[allow(clippy::too_many_arguments)]
pub(crate) fn spmm_rows<T: CpuElem>(
    par: Par,
    ranges: &[(usize, usize)],
    cols: &[u32],
    values: &[T],
    x: MatRef<'_, T>,
    scale: (T, T),
    out: &mut Mat<T>,
    scanned: Option<&[GroupScan]>,
) -> Option<()> {
    spmm_rows_at(
        None, None, par, ranges, cols, values, x, scale, out, scanned,
    )
    .map(|_| ())
}

/// [`spmm_rows`] at panel width `width` when it is given and applies (f32, at most `b`, and the
/// panel fits [`MAX_PANEL_BYTES`]), else at [`PANEL`] when it is given, else at the width of
/// [`panel_width`]; returns the width it ran at. `stream` (when given) says whether the
/// AVX-512 kernel streams the output when `beta = 0`, in place of the size test ([`Scale`]).
#[allow(clippy::too_many_arguments)]
pub(crate) fn spmm_rows_at<T: CpuElem>(
    width: Option<usize>,
    stream: Option<bool>,
    par: Par,
    ranges: &[(usize, usize)],
    cols: &[u32],
    values: &[T],
    x: MatRef<'_, T>,
    (alpha, beta): (T, T),
    out: &mut Mat<T>,
    scanned: Option<&[GroupScan]>,
) -> Option<usize> {
    let (k, b) = (x.nrows(), x.ncols());
    let xcols: Vec<&[T]> = (0..b)
        .map(|j| x.col(j).try_as_col_major().map(|c| c.as_slice()))
        .collect::<Option<_>>()?;
    let mut flags: Cow<'_, [GroupScan]> = match scanned {
        Some(f) => f.into(),
        None => scan(par, ranges, cols, k).into(),
    };
    let (ranges, cols, values) = if flags.iter().any(|f| f.out_of_range) {
        let kept = in_range(ranges, cols, values, k);
        flags = scan(par, &kept.0, &kept.1, k).into();
        kept
    } else {
        (ranges.into(), cols.into(), values.into())
    };
    let shared: Vec<bool> = flags.iter().map(|f| f.shared).collect();
    let rows = Rows {
        ranges: &ranges,
        cols: &cols,
        values: &values,
        shared: &shared,
        first: 0,
    };
    let stream = stream.unwrap_or(out.nrows() * out.ncols() * size_of::<T>() > STREAM_BYTES);
    let scale = Scale {
        alpha,
        beta,
        stream: stream && beta == T::from_f64(0.0),
    };
    let fits = |p: usize| {
        size_of::<T>() == 4 && b >= p && k.saturating_mul(p * size_of::<T>()) <= MAX_PANEL_BYTES
    };
    let width = match width {
        Some(w) if fits(w) => w,
        Some(_) => PANEL,
        // Rows that share their column lists load a gathered panel row once per group, so the
        // multiply-adds, not the gathers, bound them: the widest panel reads the CSR the fewest
        // times. Random rows keep the panel at 32 lanes (128 KiB per 1024 rows of X), in L2
        // next to the CSR that streams through it.
        None if fits(SHARED_PANEL) && 2 * shared.iter().filter(|&&s| s).count() >= shared.len() => {
            SHARED_PANEL
        }
        None if fits(WIDE_PANEL) => WIDE_PANEL,
        None => PANEL,
    };
    match width {
        SHARED_PANEL => panels::<T, SHARED_PANEL>(par, rows, &xcols, scale, out),
        WIDE_PANEL => panels::<T, WIDE_PANEL>(par, rows, &xcols, scale, out),
        _ => panels::<T, PANEL>(par, rows, &xcols, scale, out),
    }
    Some(width)
}

/// The CSR restricted to the entries whose column is below `k`, in storage order: a filtered copy
/// with new ranges.
#[allow(clippy::type_complexity)]
fn in_range<'a, T: Copy>(
    ranges: &'a [(usize, usize)],
    cols: &'a [u32],
    values: &'a [T],
    k: usize,
) -> (Cow<'a, [(usize, usize)]>, Cow<'a, [u32]>, Cow<'a, [T]>) {
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

/// A row of the transposed panel of `X`, aligned to a 64-byte cache line: a gathered row then
/// spans whole lines (`P·size_of::<T>()` is a multiple of 64 for every panel width), where the
/// allocator's 16-byte alignment split every 512-bit load across two lines.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line<T, const P: usize>([T; P]);

impl<T, const P: usize> Line<T, P> {
    /// The lines as the plain rows they hold.
    fn rows(lines: &mut [Self]) -> &mut [[T; P]] {
        const { assert!(size_of::<[T; P]>().is_multiple_of(64)) };
        let len = lines.len();
        // SAFETY: `Line` is `repr(C)` around one `[T; P]` whose size is a multiple of its
        // alignment (asserted), so the lines are `len` consecutive `[T; P]` without padding.
        unsafe { std::slice::from_raw_parts_mut(lines.as_mut_ptr().cast::<[T; P]>(), len) }
    }
}

/// The panel path at width `P`: the output's columns in panels of `P`, and, when there are
/// fewer panels than two per worker (a batch of 64 at 32 or 64 lanes), each panel's rows in
/// blocks, so that every worker has work; the (panel, block) tiles are split over `par`, each
/// part writing its own tiles of `out` and transposing each tile's panel itself (the blocks of a
/// panel repeat its transpose, a copy of `k·P` elements, against `nnz·P` multiply-adds).
fn panels<T: CpuElem, const P: usize>(
    par: Par,
    rows: Rows<'_, T>,
    xcols: &[&[T]],
    scale: Scale<T>,
    out: &mut Mat<T>,
) {
    let (k, b, m) = (
        xcols.first().map_or(0, |c| c.len()),
        xcols.len(),
        out.nrows(),
    );
    let par = if rows.values.len() * b >= MIN_PARALLEL_WORK {
        par
    } else {
        Par::Seq
    };
    let count = b.div_ceil(P);
    let blocks = if par.degree() > 1 && count < 2 * par.degree() {
        (2 * par.degree()).div_ceil(count)
    } else {
        1
    };
    let block_rows = m
        .div_ceil(blocks)
        .next_multiple_of(TILE_ROWS)
        .max(TILE_ROWS);
    // The tiles: (first column, first row, the output's block).
    let mut tiles: Vec<(usize, usize, MatMut<'_, T>)> = Vec::new();
    let mut rest = out.as_mut();
    let mut j0 = 0;
    while rest.ncols() > 0 {
        let w = P.min(rest.ncols());
        let (mut panel, right) = rest.split_at_col_mut(w);
        rest = right;
        let mut r0 = 0;
        while panel.nrows() > 0 {
            let h = block_rows.min(panel.nrows());
            let (block, below) = panel.split_at_row_mut(h);
            panel = below;
            tiles.push((j0, r0, block));
            r0 += block_rows;
        }
        j0 += P;
    }
    let zero = T::from_f64(0.0);
    let part = |_: usize, tiles: &mut [(usize, usize, MatMut<'_, T>)]| {
        let mut lines = vec![Line([zero; P]); k];
        let panel = Line::rows(&mut lines);
        // The first column of `X` whose panel `panel` holds: a part's consecutive tiles of one
        // panel (its blocks of rows) transpose it once.
        let mut held = None;
        for (j0, r0, dst) in tiles {
            let (j0, r0, h, w) = (*j0, *r0, dst.nrows(), dst.ncols());
            let mut ocols: Vec<&mut [T]> = dst
                .as_mut()
                .col_iter_mut()
                .map(|c| {
                    c.try_as_col_major_mut()
                        .expect("owned faer matrices have contiguous columns")
                        .as_slice_mut()
                })
                .collect();
            let block = Rows {
                ranges: &rows.ranges[r0..r0 + h],
                first: r0,
                ..rows
            };
            let fill = held != Some(j0);
            held = Some(j0);
            let xcols = &xcols[j0..j0 + w];
            panel_dispatch::<T, P>(block, xcols, fill, panel, &mut ocols, scale);
        }
    };
    for_each_part(par, tiles.as_mut_slice(), Grain::min(1), &part);
}

/// [`panel_kernel`] compiled for AVX-512 or AVX2 when the CPU has them, else for the baseline. Every
/// variant runs the same multiplications and additions element by element (Rust never contracts
/// them into fused multiply-adds), so the bits are the same on every x86-64 CPU.
fn panel_dispatch<T: CpuElem, const P: usize>(
    rows: Rows<'_, T>,
    xcols: &[&[T]],
    fill: bool,
    panel: &mut [[T; P]],
    out: &mut [&mut [T]],
    scale: Scale<T>,
) {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f")]
        fn avx512<T: CpuElem, const P: usize>(
            rows: Rows<'_, T>,
            xcols: &[&[T]],
            fill: bool,
            panel: &mut [[T; P]],
            out: &mut [&mut [T]],
            scale: Scale<T>,
        ) {
            panel_kernel(rows, xcols, fill, panel, out, scale, Simd::Avx512);
        }
        #[target_feature(enable = "avx2")]
        fn avx2<T: CpuElem, const P: usize>(
            rows: Rows<'_, T>,
            xcols: &[&[T]],
            fill: bool,
            panel: &mut [[T; P]],
            out: &mut [&mut [T]],
            scale: Scale<T>,
        ) {
            panel_kernel(rows, xcols, fill, panel, out, scale, Simd::Avx2);
        }
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F (checked just above), the only requirement of a
            // `target_feature` function.
            unsafe { avx512(rows, xcols, fill, panel, out, scale) };
            return;
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: as above, for AVX2.
            unsafe { avx2(rows, xcols, fill, panel, out, scale) };
            return;
        }
    }
    panel_kernel(rows, xcols, fill, panel, out, scale, Simd::None);
}

/// One panel: the `w = xcols.len()` columns of `X` transposed into `panel` (`k` rows of `P`,
/// lanes from `w` on left as they are) when `fill` (else `panel` holds them already), then every row of `S` gathered from it, [`TILE_ROWS`]
/// rows at a time, and written into `out` (the `w` output columns of these columns of `X`) as
/// `alpha·sum + beta·out`. In the functions compiled for AVX-512F or AVX2 (`simd`, on a CPU that
/// has them) the f32 transposes go in 16×16 blocks ([`avx512`]) or 8×8 ones ([`avx`]), the rest
/// (a last partial block) element by element.
#[inline(always)]
fn panel_kernel<T: CpuElem, const P: usize>(
    rows: Rows<'_, T>,
    xcols: &[&[T]],
    fill: bool,
    panel: &mut [[T; P]],
    out: &mut [&mut [T]],
    scale: Scale<T>,
    simd: Simd,
) {
    let w = xcols.len();
    let k = panel.len();
    let fast = cfg!(target_arch = "x86_64") && simd != Simd::None && is_f32::<T>();
    let wide = fast && simd == Simd::Avx512;
    // Columns of X below `done` are in the panel.
    let mut done = if fill { 0 } else { w };
    #[cfg(target_arch = "x86_64")]
    if wide && fill {
        let flat = as_f32_mut(panel.as_flattened_mut());
        let k16 = k - k % 16;
        assert!(xcols.iter().all(|c| c.len() >= k) && flat.len() == k * P);
        while done + 16 <= w {
            let mut src = [std::ptr::null::<f32>(); 16];
            for (s, c) in src.iter_mut().zip(&xcols[done..done + 16]) {
                *s = as_f32(c).as_ptr();
            }
            let base = flat.as_mut_ptr();
            for e0 in (0..k16).step_by(16) {
                // SAFETY: `wide` implies AVX-512F (passed only by the function compiled for it
                // after the CPU was checked). The sources are elements e0..e0+16 ≤ k of columns
                // of at least k (asserted); the destinations elements (e0 + j)·P + done .. + 16
                // ≤ k·P = flat.len() (done + 16 ≤ w ≤ P).
                let (mut from, mut to) = (src, [base; 16]);
                for j in 0..16 {
                    from[j] = from[j].wrapping_add(e0);
                    to[j] = to[j].wrapping_add((e0 + j) * P + done);
                }
                unsafe { avx512::transpose16(from, to) };
            }
            for (c, col) in xcols[done..done + 16].iter().enumerate() {
                for (e, v) in flat[k16 * P..].chunks_exact_mut(P).zip(&as_f32(col)[k16..]) {
                    e[done + c] = *v;
                }
            }
            done += 16;
        }
    }
    #[cfg(target_arch = "x86_64")]
    if fast && fill {
        let flat = as_f32_mut(panel.as_flattened_mut());
        let k8 = k - k % 8;
        assert!(xcols.iter().all(|c| c.len() >= k) && flat.len() == k * P);
        while done + 8 <= w {
            let mut src = [std::ptr::null::<f32>(); 8];
            for (s, c) in src.iter_mut().zip(&xcols[done..done + 8]) {
                *s = as_f32(c).as_ptr();
            }
            let base = flat.as_mut_ptr();
            for e0 in (0..k8).step_by(8) {
                let (mut from, mut to) = (src, [base; 8]);
                for j in 0..8 {
                    from[j] = from[j].wrapping_add(e0);
                    to[j] = to[j].wrapping_add((e0 + j) * P + done);
                }
                // SAFETY: `fast` implies `simd`, passed only by the functions compiled for AVX2
                // or AVX-512F (both imply AVX) after the CPU was checked for them. The sources
                // are elements e0..e0+8 ≤ k of columns of at least k (asserted); the
                // destinations elements (e0 + j)·P + done .. + 8 ≤ k·P = flat.len() (done + 8
                // ≤ w ≤ P).
                unsafe { avx::transpose8(from, to) };
            }
            for (c, col) in xcols[done..done + 8].iter().enumerate() {
                for (e, v) in flat[k8 * P..].chunks_exact_mut(P).zip(&as_f32(col)[k8..]) {
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
    let panel = &*panel;
    let zero = T::from_f64(0.0);
    let mut tile = [[zero; P]; TILE_ROWS];
    let stream = scale.stream;
    for (block, ranges) in rows.ranges.chunks(TILE_ROWS).enumerate() {
        let r0 = block * TILE_ROWS;
        for (g, (t, rg)) in tile.chunks_mut(GROUP).zip(ranges.chunks(GROUP)).enumerate() {
            let group = (rows.first + r0) / GROUP + g;
            if let Ok(whole) = <&[_; GROUP]>::try_from(rg) {
                let a = if rows.shared[group] {
                    group_shared(rows, panel, whole)
                } else {
                    group_rows(rows, panel, whole)
                };
                t.copy_from_slice(&a);
            } else {
                for (t, &(s, e)) in t.iter_mut().zip(rg) {
                    *t = one_row(rows, panel, s, e);
                }
            }
        }
        write_tile(
            &tile,
            ranges.len(),
            out,
            r0,
            scale,
            fast,
            wide.then_some(stream),
        );
    }
    #[cfg(target_arch = "x86_64")]
    if wide && stream {
        // SAFETY: `wide` implies AVX-512F, hence SSE. The streaming stores are weakly ordered:
        // this fence orders them before whatever ends the part (another thread reads `out`).
        unsafe { std::arch::x86_64::_mm_sfence() };
    }
}

/// The instruction set a [`panel_kernel`] was compiled for.
#[derive(Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
enum Simd {
    /// Baseline x86-64 or another architecture.
    None,
    /// AVX2 (and AVX).
    Avx2,
    /// AVX-512F (and AVX2).
    Avx512,
}

/// Rows of `S` summed together: independent running sums for the CPU to overlap (one row's sum
/// is a chain of dependent additions, each waiting for the previous one's latency).
const GROUP: usize = 4;

/// `Σ_p values[p]·panel[cols[p]]` over the entries `s..e` of one row, in storage order.
#[inline(always)]
fn one_row<T: CpuElem, const P: usize>(
    rows: Rows<'_, T>,
    panel: &[[T; P]],
    s: usize,
    e: usize,
) -> [T; P] {
    let mut a = [T::from_f64(0.0); P];
    for (&c, &v) in rows.cols[s..e].iter().zip(&rows.values[s..e]) {
        // Every column is below k (`in_range`): the index check never fails.
        let xi = &panel[c as usize];
        for (a, x) in a.iter_mut().zip(xi) {
            *a += v * *x;
        }
    }
    a
}

/// [`one_row`] for the [`GROUP`] rows `rg` of a group, read from the CSR as they are: their
/// first `len` entries (`len` the shortest row's length) interleaved, then the rest of each row
/// (each row's sum still in its storage order).
#[inline(always)]
fn group_rows<T: CpuElem, const P: usize>(
    rows: Rows<'_, T>,
    panel: &[[T; P]],
    rg: &[(usize, usize); GROUP],
) -> [[T; P]; GROUP] {
    const { assert!(GROUP == 4) };
    let len = rg.iter().map(|&(s, e)| e - s).min().unwrap_or(0);
    // Plain indexing, no `array::map` or closures: this runs inside the functions compiled for
    // AVX-512 or AVX2, and a closure the compiler kept out of line ran without those features
    // (the tail below as a closure: 7% of a batch-64 apply in 128-bit copies of the
    // accumulators, which it also forced through memory; 2026-12-03).
    let (c0, c1) = (&rows.cols[rg[0].0..][..len], &rows.cols[rg[1].0..][..len]);
    let (c2, c3) = (&rows.cols[rg[2].0..][..len], &rows.cols[rg[3].0..][..len]);
    let (v0, v1) = (
        &rows.values[rg[0].0..][..len],
        &rows.values[rg[1].0..][..len],
    );
    let (v2, v3) = (
        &rows.values[rg[2].0..][..len],
        &rows.values[rg[3].0..][..len],
    );
    let zero = [T::from_f64(0.0); P];
    let [mut a0, mut a1, mut a2, mut a3] = [zero; GROUP];
    let entries = c0.iter().zip(c1).zip(c2).zip(c3);
    let values = v0.iter().zip(v1).zip(v2).zip(v3);
    for ((((&c0, &c1), &c2), &c3), (((&v0, &v1), &v2), &v3)) in entries.zip(values) {
        // Every column is below k (`in_range`): the index checks never fail.
        multiply_add(&mut a0, v0, &panel[c0 as usize]);
        multiply_add(&mut a1, v1, &panel[c1 as usize]);
        multiply_add(&mut a2, v2, &panel[c2 as usize]);
        multiply_add(&mut a3, v3, &panel[c3 as usize]);
    }
    // The rest of each row, one row at a time (the accumulators stay in registers: a loop over
    // the four rows kept them in memory, stored at every entry of the loop above).
    row_tail(rows, panel, &mut a0, rg[0], len);
    row_tail(rows, panel, &mut a1, rg[1], len);
    row_tail(rows, panel, &mut a2, rg[2], len);
    row_tail(rows, panel, &mut a3, rg[3], len);
    [a0, a1, a2, a3]
}

/// Adds the entries of the row `(s, e)` from its `skip`-th on to `a`, in storage order.
#[inline(always)]
fn row_tail<T: CpuElem, const P: usize>(
    rows: Rows<'_, T>,
    panel: &[[T; P]],
    a: &mut [T; P],
    (s, e): (usize, usize),
    skip: usize,
) {
    let s = s + skip;
    for (&c, &v) in rows.cols[s..e].iter().zip(&rows.values[s..e]) {
        multiply_add(a, v, &panel[c as usize]);
    }
}

/// `a += v·x` lane by lane (a multiplication and an addition, never fused).
#[inline(always)]
fn multiply_add<T: CpuElem, const P: usize>(a: &mut [T; P], v: T, x: &[T; P]) {
    for (a, x) in a.iter_mut().zip(x) {
        *a += v * *x;
    }
}

/// [`group_rows`] for rows with one column list (their group's [`Rows::shared`]), read from the CSR: each
/// gathered row of the panel is loaded once for the whole group.
#[inline(always)]
fn group_shared<T: CpuElem, const P: usize>(
    rows: Rows<'_, T>,
    panel: &[[T; P]],
    rg: &[(usize, usize); GROUP],
) -> [[T; P]; GROUP] {
    const { assert!(GROUP == 4) };
    let n = rg[0].1 - rg[0].0;
    let cs = &rows.cols[rg[0].0..][..n];
    let (v0, v1) = (&rows.values[rg[0].0..][..n], &rows.values[rg[1].0..][..n]);
    let (v2, v3) = (&rows.values[rg[2].0..][..n], &rows.values[rg[3].0..][..n]);
    let mut a = [[T::from_f64(0.0); P]; GROUP];
    for ((((&c, &v0), &v1), &v2), &v3) in cs.iter().zip(v0).zip(v1).zip(v2).zip(v3) {
        // Every column is below k (`in_range`): the index check never fails.
        let xi = &panel[c as usize];
        for (a, v) in a.iter_mut().zip([v0, v1, v2, v3]) {
            for (a, x) in a.iter_mut().zip(xi) {
                *a += v * *x;
            }
        }
    }
    a
}

/// Writes the first `n` rows of `tile` (rows `r0..r0 + n` of `S`; lane `c` is output column `c`)
/// into `out` as `alpha·tile + beta·out`, a column (64 bytes in f32) at a time: `P` scalar stores
/// per row at a stride of `m` elements thrashed the L1 cache, and reading the lanes of a
/// just-stored accumulator back stalled on store forwarding. With `fast` (f32 in a function
/// compiled for AVX) whole tiles go 8×8 through [`avx::transpose8`], and with `wide` (in the
/// AVX-512F function; `Some(stream)`) 16×16 first through [`avx512::transpose16_scaled`],
/// streamed when `stream`, `beta = 0` and the columns are 64-byte aligned.
#[inline(always)]
#[cfg_attr(not(target_arch = "x86_64"), allow(unused_variables))]
fn write_tile<T: CpuElem, const P: usize>(
    tile: &[[T; P]; TILE_ROWS],
    n: usize,
    out: &mut [&mut [T]],
    r0: usize,
    scale: Scale<T>,
    fast: bool,
    wide: Option<bool>,
) {
    let w = out.len();
    // Columns of the tile below `done` are in the output.
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if let Some(stream) = wide
        && n == TILE_ROWS
    {
        const { assert!(TILE_ROWS == 16) };
        let flat = as_f32(tile.as_flattened());
        let alpha = as_f32(std::slice::from_ref(&scale.alpha))[0];
        let beta = as_f32(std::slice::from_ref(&scale.beta))[0];
        while done + 16 <= w {
            let src = flat[done..].as_ptr();
            let mut dst = [std::ptr::null_mut::<f32>(); 16];
            for (d, col) in dst.iter_mut().zip(&mut out[done..done + 16]) {
                *d = as_f32_mut(&mut col[r0..r0 + 16]).as_mut_ptr();
            }
            let aligned = dst.iter().all(|d| d.align_offset(64) == 0);
            // SAFETY: `wide` is given only by the AVX-512F kernel; the sources are elements
            // i·P + done .. + 16 ≤ TILE_ROWS·P of the tile (done + 16 ≤ w ≤ P), the
            // destinations 16-element ranges of distinct output columns, 64-byte aligned when
            // streamed.
            let mut from = [src; 16];
            for (i, f) in from.iter_mut().enumerate() {
                *f = f.wrapping_add(i * P);
            }
            unsafe {
                avx512::transpose16_scaled(
                    from,
                    dst,
                    (alpha, beta),
                    stream && aligned && beta == 0.0,
                );
            }
            done += 16;
        }
    }
    #[cfg(target_arch = "x86_64")]
    if fast && n == TILE_ROWS {
        let flat = as_f32(tile.as_flattened());
        let alpha = as_f32(std::slice::from_ref(&scale.alpha))[0];
        let beta = as_f32(std::slice::from_ref(&scale.beta))[0];
        while done + 8 <= w {
            for h in (0..TILE_ROWS).step_by(8) {
                let src = flat[(h * P + done)..].as_ptr();
                let mut dst = [std::ptr::null_mut::<f32>(); 8];
                for (d, col) in dst.iter_mut().zip(&mut out[done..done + 8]) {
                    *d = as_f32_mut(&mut col[r0 + h..r0 + h + 8]).as_mut_ptr();
                }
                // SAFETY: as for the panel; the sources are elements (h + i)·P + done .. + 8 ≤
                // TILE_ROWS·P of the tile (done + 8 ≤ w ≤ P), the destinations 8-element
                // ranges of distinct output columns.
                unsafe {
                    avx::transpose8_scaled(
                        std::array::from_fn(|i| src.add(i * P)),
                        dst,
                        alpha,
                        beta,
                    );
                }
            }
            done += 8;
        }
    }
    let mut col_buf = [T::from_f64(0.0); TILE_ROWS];
    for (c, col) in out.iter_mut().enumerate().skip(done) {
        for (b, t) in col_buf.iter_mut().zip(&tile[..n]) {
            *b = t[c];
        }
        scale.store(&mut col[r0..r0 + n], &col_buf[..n]);
    }
}
