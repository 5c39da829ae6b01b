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
//! from memory before it is overwritten. Measured gain so far: none beyond noise (n = 4096,
//! batch 1024, quiet 2-core dev VM, 2026-12-02: medians 1.88–2.06 ms before, 1.75–2.17 ms after).

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
    let stream = beta == zero && crate::fwht::streams(out) && out.nrows() <= STAGE_MAX_ROWS;
    let rows = out.nrows();
    for_each_col(
        out,
        par,
        || {
            let staged = Vec::with_capacity(if stage { x.nrows() } else { 0 });
            let gathered = if stream { vec![zero; rows] } else { Vec::new() };
            (staged, gathered)
        },
        |(buf, gathered): &mut (Vec<T>, Vec<T>), j, oc| {
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
                Some(xs) if stream => {
                    gather_col(gathered, idx, xs, alpha, beta);
                    crate::fwht::stream_into(oc, gathered);
                }
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

    /// Both the cached path and the streamed one (an 8 MiB output, `beta = 0`) give the
    /// definition's bits, whatever the thread count, with indices out of range and repeated.
    #[test]
    fn gather_matches_the_definition_streamed_or_not() {
        let rows = 4096;
        for (cols, alpha, beta) in [
            (512, 1.0f32, 0.0f32),
            (512, -0.5, 0.0),
            (3, 2.0, 0.0),
            (520, 1.0, 0.25),
        ] {
            let x =
                Mat::<f32>::from_fn(rows - 5, cols, |i, j| (i * 31 + j * 7) as f32 * 0.001 - 1.0);
            // A reversal with a few indices past the end (zero rows) and a repeated row.
            let idx: Vec<u32> = (0..rows as u32)
                .map(|i| {
                    if i % 1000 == 3 {
                        rows as u32 + i
                    } else if i == 17 {
                        5
                    } else {
                        rows as u32 - 1 - i
                    }
                })
                .collect();
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
