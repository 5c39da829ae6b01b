//! `gather` on the CPU: `out[i, :] = alpha·X[idx[i], :] + beta·out[i, :]` (the row permutation
//! `P·X`, and every row selection a plan lowers to a gather).
//!
//! Storage: `idx` is the plan's `u32` index array, read as it is (no decoding); `X` and `out` are
//! column-major, so each output column is filled by reading one column of `X` at the gathered
//! rows. An index not below `rows(X)` selects a zero row, never an out-of-bounds read. Cost:
//! `rows(out)·cols` reads and writes plus `4·rows(out)` bytes of indices per column, no FLOPs
//! beyond the scaling. The columns are split over the backend's `Par`
//! ([`crate::par::for_each_col`]): a memory-bound copy, which one core of the 2-core dev box does
//! at about half the machine's bandwidth.

use crate::CpuElem;
use crate::par::for_each_col;
use faer::{Mat, MatRef, Par};

/// Longest column of `X` copied into a per-worker buffer before it is gathered (256 KiB of
/// `f32`: it stays in the L2 cache with the output column).
const STAGE_MAX_ROWS: usize = 1 << 16;

/// `out[i, :] = alpha·X[idx[i], :] + beta·out[i, :]`, the columns split over `par` (each
/// element is computed the same way in any part, so the bits do not depend on the thread count).
///
/// A contiguous column of `X` of at most [`STAGE_MAX_ROWS`] entries is first copied in order into
/// the worker's buffer and gathered from there: read in a random order from memory, each of its
/// cache lines would cost a full memory latency on first touch (the hardware prefetchers follow
/// sequential streams only), which made the gather of a 4096 × 1024 block run at a third of the
/// copy bandwidth; the in-order copy streams at full bandwidth and the gather then hits cache.
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
    for_each_col(
        out,
        par,
        || Vec::with_capacity(if stage { x.nrows() } else { 0 }),
        |buf: &mut Vec<T>, j, oc| {
            let xc = x.col(j);
            let xs = match xc.try_as_col_major() {
                Some(c) if stage => {
                    buf.clear();
                    buf.extend_from_slice(c.as_slice());
                    Some(buf.as_slice())
                }
                Some(c) => Some(c.as_slice()),
                None => None,
            };
            match xs {
                Some(xs) => gather_col(oc, idx, xs, alpha, beta),
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
