//! `srht` on the CPU: the subsampled randomized Hadamard transform in one pass per column.
//!
//! Mathematics (see `linops_core::plan::kernel::Srht`): `out = alpha·G_idx·H_N·P·D·X + beta·out`
//! (the sketch `S·X`), or transposed `out = alpha·D·Pᵀ·H_N·G_idx·Y + beta·out` (`Sᵀ·Y`), with
//! `H_N` orthonormal. Storage: per worker one scratch column of `N` entries (starting a cache
//! line, [`crate::simd::Scratch`]); per column of the input, the signed entries (read from `X`
//! in one pass that prefetches 4 KiB ahead and multiplies in the widest vectors the CPU has) or
//! the gathered ones are written into it, transformed in place by
//! [`fwht_fast`] (the same butterflies in the same order as the `fwht` kernel), and the kept
//! rows written to the output: the input is read once and the output written once, with no
//! `N×b` temporaries. Columns are split over the backend's `Par`. Cost: `N·log₂N` additions and
//! `m + rows(out)` multiplications per column.

use crate::fwht::fwht_fast;
use crate::par::for_each_col;
use crate::simd::{Scratch, prefetch_line, simd_dispatch};
use crate::{CpuElem, t};
use faer::{Mat, MatRef, Par};

/// Reads column `j` of `x` into `dst` (any column stride).
fn read_col<T: CpuElem>(x: MatRef<'_, T>, j: usize, dst: &mut [T]) {
    match x.col(j).try_as_col_major() {
        Some(c) => dst.copy_from_slice(c.as_slice()),
        None => dst
            .iter_mut()
            .zip(x.col(j).iter())
            .for_each(|(e, s)| *e = *s),
    }
}

/// `dst[i] = sign[i]·src[i]` (the lengths are equal), compiled for the widest vectors the CPU
/// has: the input column read once, straight into the scratch column.
fn signed_into<T: CpuElem>(dst: &mut [T], src: &[T], sign: &[T]) {
    simd_dispatch!([T: CpuElem] signed_lanes::<T>(dst: &mut [T], src: &[T], sign: &[T]))
}

/// [`signed_into`] in the dispatched variant.
#[inline(always)]
fn signed_lanes<T: CpuElem>(dst: &mut [T], src: &[T], sign: &[T]) {
    // 64 bytes at a time, the line `AHEAD` bytes on prefetched.
    let line = 64 / size_of::<T>();
    for ((e, v), d) in dst
        .chunks_mut(line)
        .zip(src.chunks(line))
        .zip(sign.chunks(line))
    {
        prefetch_line(v.as_ptr().wrapping_add(AHEAD / size_of::<T>()).cast());
        for ((e, &v), &d) in e.iter_mut().zip(v).zip(d) {
            *e = d * v;
        }
    }
}

/// How far ahead of its reads [`signed_lanes`] prefetches the input column.
const AHEAD: usize = 4096;

/// `out = alpha·G_idx·H_N·P·D·x + beta·out` (`transposed = false`) or
/// `out = alpha·D·Pᵀ·H_N·G_idx·x + beta·out` (`transposed = true`), `N` the transform length the
/// planner checked (`linops_core::plan::kernel::Srht::length`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn srht<T: CpuElem>(
    idx: &[u32],
    signs: MatRef<'_, T>,
    x: MatRef<'_, T>,
    out: &mut Mat<T>,
    n: usize,
    alpha: f64,
    beta: f64,
    transposed: bool,
    par: Par,
) {
    let scale = t::<T>(alpha / (n as f64).sqrt());
    let beta_t = t::<T>(beta);
    let zero = t::<T>(0.0);
    let m = signs.nrows();
    let sign: Vec<T> = signs.col(0).iter().copied().collect();
    let rows_x = x.nrows();
    let finish = |o: &mut T, v: T| *o = if beta == 0.0 { v } else { v + beta_t * *o };
    for_each_col(
        out,
        par,
        || {
            (
                Scratch::<T>::zeroed(n),
                vec![zero; if transposed { rows_x } else { 0 }],
            )
        },
        |(buf, col), j, o| {
            if transposed {
                // buf = G_idx·y (a zero row for an index out of range), then H, then D.
                read_col(x, j, col);
                for (b, &s) in buf.iter_mut().zip(idx) {
                    *b = col.get(s as usize).copied().unwrap_or(zero);
                }
                fwht_fast(buf);
                for ((o, &b), &d) in o.iter_mut().zip(buf.iter()).zip(&sign) {
                    finish(o, scale * (d * b));
                }
            } else {
                // buf = P·D·x, then H, then the gathered rows.
                let (head, pad) = buf.split_at_mut(m);
                match x.col(j).try_as_col_major() {
                    Some(c) => signed_into(head, c.as_slice(), &sign),
                    None => head
                        .iter_mut()
                        .zip(x.col(j).iter().zip(&sign))
                        .for_each(|(e, (&v, &d))| *e = d * v),
                }
                pad.fill(zero);
                fwht_fast(buf);
                for (o, &s) in o.iter_mut().zip(idx) {
                    finish(o, scale * buf.get(s as usize).copied().unwrap_or(zero));
                }
            }
        },
    );
}

crate::execute::cpu_kernel!(linops_core::plan::kernel::Srht, |k, be, inputs, out| {
    let idx = inputs.index(0)?;
    let (signs, x) = (inputs.mat(1)?, inputs.mat(2)?);
    let shapes = [
        (idx.len(), 1),
        (signs.nrows(), signs.ncols()),
        (x.nrows(), x.ncols()),
    ];
    let n = k
        .length(&shapes, (out.nrows(), out.ncols()))
        .map_err(|e| linops_core::Error::InvalidArgument(format!("srht step: {e}")))?;
    srht(
        idx,
        signs,
        x,
        out,
        n,
        k.alpha,
        k.beta,
        k.transposed,
        be.par(),
    );
    Ok(())
});
