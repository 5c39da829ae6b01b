//! `gather` on the CPU: `out[i, :] = alpha·X[idx[i], :] + beta·out[i, :]` (the row permutation
//! `P·X`, and every row selection a plan lowers to a gather).
//!
//! Storage: `idx` is the plan's `u32` index array, read as it is (no decoding); `X` and `out` are
//! column-major, so each output column is filled by reading one column of `X` at the gathered
//! rows. An index not below `rows(X)` selects a zero row, never an out-of-bounds read. Cost:
//! `rows(out)·cols` reads and writes plus `4·rows(out)` bytes of indices per column, no FLOPs
//! beyond the scaling. The columns are split over the backend's `Par`
//! ([`crate::par::for_each_col`]): a memory-bound copy, which one core of the 2-core dev box does
//! at about half the machine's bandwidth. An output of 8 MiB or more written without reading it
//! (`beta = 0`, [`crate::fwht::streams`]) is gathered into a second per-worker buffer and copied
//! out with non-temporal stores ([`crate::fwht::stream_into`]), so that no output line is read
//! from memory before it is overwritten; there the next column of `X` is fetched into the cache
//! while the current one is gathered and copied out, in blocks ([`gather`]). Measured (n = 4096,
//! batch 1024, 2-core dev VM, 2026-12-03, alternated builds): minima 1.67–2.06 → 1.0–1.27 ms,
//! medians 1.89–2.58 → 1.09–1.64 ms; batch 64 (in cache) unchanged.

use crate::CpuElem;
use crate::par::for_each_col;
use faer::{Mat, MatRef, Par};

/// Longest column of `X` copied into a per-worker buffer before it is gathered (256 KiB of
/// `f32`: it stays in the L2 cache with the output column).
const STAGE_MAX_ROWS: usize = 1 << 16;

/// Entries of a streamed output column gathered, copied out and followed by their share of the
/// prefetches of the next column of `X` at a time (2 KiB of `f32`: the staging stays in L1).
const BLOCK: usize = 512;

/// `out[i, :] = alpha·X[idx[i], :] + beta·out[i, :]`, the columns split over `par` (each
/// element is computed the same way in any part, so the bits do not depend on the thread count).
///
/// A contiguous column of `X` of at most [`STAGE_MAX_ROWS`] entries is gathered from cache, not
/// from memory: read in a random order from memory, each of its cache lines would cost a full
/// memory latency on first touch (the hardware prefetchers follow sequential streams only),
/// which made the gather of a 4096 × 1024 block run at a third of the copy bandwidth. So the
/// column is first copied in order into the worker's buffer (the copy streams at full
/// bandwidth), except on the streamed path (an output of 8 MiB or more, `beta = 0`), where the
/// worker asks for the next column's lines a share at a time while it gathers and copies out
/// the current one, in blocks of [`BLOCK`] entries, and then gathers that next column where it
/// lies (the copy and the gather no longer wait on memory one after the other).
///
/// When every index is in range (checked once per call), the gather runs without a bounds test
/// per entry, as scalar loads: compiled for AVX-512 it became `vgatherqps`, slower on the Zen 5
/// dev box (n = 4096, batch 1024: minima 1.34–1.65 ms against 1.0–1.27, 2026-12-03).
pub(crate) fn gather<T: CpuElem>(
    idx: &[u32],
    x: MatRef<'_, T>,
    out: &mut Mat<T>,
    alpha: T,
    beta: T,
    par: Par,
) {
    let zero = T::from_f64(0.0);
    let stage = x.nrows() <= STAGE_MAX_ROWS;
    let stream = beta == zero && crate::fwht::streams(out) && out.nrows() <= STAGE_MAX_ROWS;
    let in_range = idx.iter().all(|&s| (s as usize) < x.nrows());
    let rows = out.nrows();
    for_each_col(
        out,
        par,
        || Work {
            staged: Vec::with_capacity(if stage { x.nrows() } else { 0 }),
            gathered: if stream {
                vec![zero; BLOCK.min(rows)]
            } else {
                Vec::new()
            },
            fetched: None,
        },
        |w: &mut Work<T>, j, oc| {
            let xc = x.col(j);
            let col = xc.try_as_col_major().map(|c| c.as_slice());
            match col {
                Some(xs) => {
                    let Work {
                        staged,
                        gathered,
                        fetched,
                    } = w;
                    // Gathered where it lies when small enough and asked for ahead (streamed
                    // path, previous column on this worker), else from an in-order copy.
                    let xs = if stage && !(stream && *fetched == Some(j)) {
                        staged.clear();
                        staged.extend_from_slice(xs);
                        staged.as_slice()
                    } else {
                        xs
                    };
                    if stream {
                        // The next column, asked for while this one is gathered and copied out.
                        let next = (stage && j + 1 < x.ncols())
                            .then(|| x.col(j + 1).try_as_col_major())
                            .flatten()
                            .map(|c| c.as_slice());
                        stream_blocks(oc, idx, xs, alpha, in_range, gathered, next);
                        *fetched = next.map(|_| j + 1);
                    } else if beta == zero {
                        gather_block(oc, idx, xs, alpha, in_range);
                    } else {
                        gather_col(oc, idx, xs, alpha, beta);
                    }
                }
                None => {
                    for (o, &s) in oc.iter_mut().zip(idx) {
                        let s = s as usize;
                        let g = if s < xc.nrows() { xc[s] } else { zero };
                        *o = if beta == zero {
                            alpha * g
                        } else {
                            alpha * g + beta * *o
                        };
                    }
                }
            }
        },
    );
}

/// `oc = alpha·xs[idx]` (`beta = 0`) in blocks of [`BLOCK`] entries, each gathered into
/// `gathered`, copied out with non-temporal stores and followed by its share of the prefetches
/// of `next` (the column of `X` this worker gathers next, if any); one fence at the end.
fn stream_blocks<T: CpuElem>(
    oc: &mut [T],
    idx: &[u32],
    xs: &[T],
    alpha: T,
    in_range: bool,
    gathered: &mut [T],
    next: Option<&[T]>,
) {
    let rows = oc.len();
    let mut k0 = 0;
    while k0 < rows {
        let k1 = (k0 + BLOCK).min(rows);
        let g = &mut gathered[..k1 - k0];
        gather_block(g, &idx[k0..k1], xs, alpha, in_range);
        crate::fwht::stream_unfenced(&mut oc[k0..k1], g);
        if let Some(nx) = next {
            let (start, bytes) = (nx.as_ptr() as usize, size_of_val(nx));
            crate::simd::prefetch_share(start, bytes, k0, k1, rows);
        }
        k0 = k1;
    }
    crate::fwht::stream_fence();
}

/// One worker's buffers: the staged column of `X`, the gathered block of a streamed output, and
/// which column of `X` this worker has asked the cache for
/// ([`crate::simd::prefetch_share`]).
struct Work<T> {
    staged: Vec<T>,
    gathered: Vec<T>,
    fetched: Option<usize>,
}

/// `o[i] = alpha·xs[idx[i]]` (`beta = 0`): without a bounds test per entry when `in_range`
/// (every index below `xs.len()`, checked by the caller), else as [`gather_col`].
#[inline]
fn gather_block<T: CpuElem>(o: &mut [T], idx: &[u32], xs: &[T], alpha: T, in_range: bool) {
    if !in_range {
        gather_col(o, idx, xs, alpha, T::from_f64(0.0));
        return;
    }
    debug_assert!(idx.iter().all(|&s| (s as usize) < xs.len()));
    if alpha == T::from_f64(1.0) {
        copy_in_range::<T>(o, idx, xs)
    } else {
        scale_in_range::<T>(o, idx, xs, alpha)
    }
}

/// `o[i] = xs[idx[i]]`, every index in range (the caller's check, [`gather_block`]).
#[inline(always)]
fn copy_in_range<T: CpuElem>(o: &mut [T], idx: &[u32], xs: &[T]) {
    for (o, &s) in o.iter_mut().zip(idx) {
        // SAFETY: `s < xs.len()` for every index (checked once by `gather` before the call).
        *o = unsafe { *xs.get_unchecked(s as usize) };
    }
}

/// `o[i] = alpha·xs[idx[i]]`, every index in range (the caller's check, [`gather_block`]).
#[inline(always)]
fn scale_in_range<T: CpuElem>(o: &mut [T], idx: &[u32], xs: &[T], alpha: T) {
    for (o, &s) in o.iter_mut().zip(idx) {
        // SAFETY: as in `copy_in_range`.
        *o = alpha * unsafe { *xs.get_unchecked(s as usize) };
    }
}

/// One column: `o[i] = alpha·xs[idx[i]] + beta·o[i]` (`xs[s]` read as zero for `s` out of range),
/// with the common `alpha = 1, beta = 0` (a permutation) and `beta = 0` loops written out so that
/// no scalar is reloaded or tested per element.
#[inline]
fn gather_col<T: CpuElem>(o: &mut [T], idx: &[u32], xs: &[T], alpha: T, beta: T) {
    let zero = T::from_f64(0.0);
    let at = |s: u32| xs.get(s as usize).copied().unwrap_or(zero);
    if beta == zero {
        if alpha == T::from_f64(1.0) {
            for (o, &s) in o.iter_mut().zip(idx) {
                *o = at(s);
            }
        } else {
            for (o, &s) in o.iter_mut().zip(idx) {
                *o = alpha * at(s);
            }
        }
    } else {
        for (o, &s) in o.iter_mut().zip(idx) {
            *o = alpha * at(s) + beta * *o;
        }
    }
}

crate::execute::cpu_kernel!(linops_core::plan::kernel::Gather, |k, be, inputs, out| {
    let (alpha, beta) = (crate::t(k.alpha), crate::t(k.beta));
    gather(inputs.index(0)?, inputs.mat(1)?, out, alpha, beta, be.par());
    Ok(())
});

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition, element by element (an index out of range reads a zero row).
    fn reference(
        idx: &[u32],
        x: MatRef<'_, f32>,
        out: &Mat<f32>,
        alpha: f32,
        beta: f32,
    ) -> Mat<f32> {
        Mat::from_fn(idx.len(), x.ncols(), |i, j| {
            let s = idx[i] as usize;
            let g = if s < x.nrows() { x[(s, j)] } else { 0.0 };
            if beta == 0.0 {
                alpha * g
            } else {
                alpha * g + beta * out[(i, j)]
            }
        })
    }

    /// Both the cached path and the streamed one (an 8 MiB output, `beta = 0`, gathered from
    /// columns fetched ahead) give the definition's bits, whatever the thread count, with every
    /// index in range (the unchecked gather) or some out of range (zero rows), and repeated.
    #[test]
    fn gather_matches_the_definition_streamed_or_not() {
        let rows = 4096;
        for (cols, alpha, beta, past_the_end) in [
            (512, 1.0f32, 0.0f32, true),
            (512, -0.5, 0.0, true),
            (3, 2.0, 0.0, true),
            (520, 1.0, 0.25, true),
            (513, 1.0, 0.0, false),
            (515, -0.5, 0.0, false),
            (5, 1.0, 0.0, false),
            (7, 2.0, 0.5, false),
        ] {
            let x =
                Mat::<f32>::from_fn(rows - 5, cols, |i, j| (i * 31 + j * 7) as f32 * 0.001 - 1.0);
            // A reversal with a repeated row and, with `past_the_end`, a few indices past the
            // end (zero rows); without, every index in range.
            let idx: Vec<u32> = (0..rows as u32)
                .map(|i| {
                    if i % 1000 == 3 && past_the_end {
                        rows as u32 + i
                    } else if i == 17 {
                        5
                    } else {
                        (rows as u32 - 1 - i) % (rows as u32 - 5)
                    }
                })
                .collect();
            assert_eq!(idx.iter().all(|&s| (s as usize) < x.nrows()), !past_the_end);
            let init = Mat::<f32>::from_fn(rows, cols, |i, j| {
                if beta == 0.0 {
                    f32::NAN
                } else {
                    (i + j) as f32
                }
            });
            let want = reference(&idx, x.as_ref(), &init, alpha, beta);
            assert_eq!(
                crate::fwht::streams(&init),
                cols >= 512,
                "the 8 MiB outputs stream"
            );
            for par in [Par::Seq, Par::rayon(2), Par::rayon(3)] {
                let mut out = init.clone();
                gather(&idx, x.as_ref(), &mut out, alpha, beta, par);
                for j in 0..cols {
                    for i in 0..rows {
                        assert_eq!(
                            out[(i, j)].to_bits(),
                            want[(i, j)].to_bits(),
                            "({i}, {j}) {par:?}"
                        );
                    }
                }
            }
        }
    }
}
