//! `fwht` on the CPU: the orthonormal Walsh–Hadamard transform of each column.
//!
//! Mathematics: `out = alpha·Pₒᵀ·H_N·Pₓ·x + beta·out` with `H_N` the Sylvester Hadamard matrix
//! scaled by `1/√N`, `N = 2^m = max(rows(x), rows(out))`, and `Pₓ`/`Pₒ` the zero padding and
//! truncation (see `linops_core::Kernel::Fwht`). Storage: in place on a contiguous column of `N`
//! entries (the output column itself when it has `N` rows and `beta = 0`, else one scratch column
//! per worker): stages `h = 1, 2, 4, …, N/2` of butterflies `(a, b) → (a + b, a − b)` on pairs
//! `h` apart, then one scaling by `alpha/√N`. The stage order is the GPU kernel's, so both round
//! identically. Columns are split over the backend's `Par` ([`crate::par::for_each_col`]).
//! Cost: `N·log₂N` additions and `N` multiplications per column, no allocation per column.
//!
//! `fwht_base` (length `n = m·2^k`, see `linops_core::Kernel::FwhtBase`): per column, in one
//! scratch column of `n` entries that stays in cache, the transform above of each of the `m`
//! contiguous blocks of `p = 2^k`, then the `±1` mix `y_a = scale·Σ_{a'} A[a, a']·z_{a'}` over
//! the blocks, written straight into the output column (a block of `p` accumulators when
//! `beta ≠ 0`). `X` is read once and `Y` written once; `n·log₂p + m·n` additions per column.

use crate::par::for_each_col;
use crate::simd::simd_dispatch;
use crate::{CpuElem, t};
use faer::{Mat, MatRef, Par};

/// The unnormalized Walsh–Hadamard transform of `v` (length a power of two), in place.
///
/// Same butterflies in the same stage order as the plain radix-2 loop (so the same rounding, and
/// the same as the GPU kernel), arranged for speed: the stages `h = 1, 2, 4` in registers on
/// blocks of 8, then the remaining stages two at a time over four contiguous quarter-slices of
/// each block of `4h` (one pass over the column per two stages; the inner loops vectorize).
#[inline(always)]
pub(crate) fn fwht_in_place<T: CpuElem>(v: &mut [T]) {
    let n = v.len();
    let mut h = 1;
    if n >= 8 {
        for b in v.chunks_exact_mut(8) {
            let mut r = [b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]];
            for s in [1, 2, 4] {
                for i in 0..8 {
                    if i & s == 0 {
                        let (u, w) = (r[i], r[i + s]);
                        r[i] = u + w;
                        r[i + s] = u - w;
                    }
                }
            }
            b.copy_from_slice(&r);
        }
        h = 8;
    }
    while 4 * h <= n {
        for blk in v.chunks_exact_mut(4 * h) {
            let (ab, cd) = blk.split_at_mut(2 * h);
            let (a, b) = ab.split_at_mut(h);
            let (c, d) = cd.split_at_mut(h);
            for (((a, b), c), d) in a.iter_mut().zip(b).zip(c).zip(d) {
                let (a1, b1) = (*a + *b, *a - *b);
                let (c1, d1) = (*c + *d, *c - *d);
                *a = a1 + c1;
                *c = a1 - c1;
                *b = b1 + d1;
                *d = b1 - d1;
            }
        }
        h *= 4;
    }
    while h < n {
        for blk in v.chunks_exact_mut(2 * h) {
            let (a, b) = blk.split_at_mut(h);
            for (x, y) in a.iter_mut().zip(b.iter_mut()) {
                let (u, w) = (*x, *y);
                *x = u + w;
                *y = u - w;
            }
        }
        h *= 2;
    }
}

/// [`fwht_in_place`] with the widest vector instructions the CPU has ([`simd_dispatch`]).
pub(crate) fn fwht_fast<T: CpuElem>(v: &mut [T]) {
    simd_dispatch!([T: CpuElem] fwht_in_place::<T>(v: &mut [T]))
}

/// [`mix_blocks`] with the widest vector instructions the CPU has ([`simd_dispatch`]).
fn mix_fast<T: CpuElem>(dst: &mut [T], z: &[T], neg: &[bool]) {
    simd_dispatch!([T: CpuElem] mix_blocks::<T>(dst: &mut [T], z: &[T], neg: &[bool]))
}

/// `out = alpha·Pₒᵀ·H_N·Pₓ·x + beta·out` with `N = max(rows(x), rows(out))` (see
/// `linops_core::Kernel::Fwht`). Shapes were checked by the planner.
pub(crate) fn fwht<T: CpuElem>(
    x: MatRef<'_, T>,
    out: &mut Mat<T>,
    alpha: f64,
    beta: f64,
    par: Par,
) {
    let (r_in, r_out) = (x.nrows(), out.nrows());
    let n = r_in.max(r_out);
    let scale = t::<T>(alpha / (n as f64).sqrt());
    let beta_t = t::<T>(beta);
    let direct = r_out == n && beta == 0.0;
    for_each_col(
        out,
        par,
        || vec![t::<T>(0.0); if direct { 0 } else { n }],
        |buf, j, o| {
            let v: &mut [T] = if direct { o } else { buf.as_mut_slice() };
            let (head, pad) = v.split_at_mut(r_in);
            match x.col(j).try_as_col_major() {
                Some(c) => head.copy_from_slice(c.as_slice()),
                None => head
                    .iter_mut()
                    .zip(x.col(j).iter())
                    .for_each(|(e, s)| *e = *s),
            }
            pad.fill(t::<T>(0.0));
            fwht_fast(v);
            if direct {
                for e in v.iter_mut() {
                    *e *= scale;
                }
            } else {
                for (i, e) in o.iter_mut().enumerate() {
                    let t = scale * buf[i];
                    *e = if beta == 0.0 { t } else { t + beta_t * *e };
                }
            }
        },
    );
}

/// `out = alpha/√n·(op(A) ⊗ S_p)·x + beta·out` with `A` the `m×m` `±1` base matrix (`op(A) = Aᵀ`
/// when `trans`), `n = m·p` (see `linops_core::Kernel::FwhtBase`). Shapes were checked by the
/// planner. The mix adds the blocks in the order `a' = 0, 1, …, m−1` (the GPU kernel's order).
pub(crate) fn fwht_base<T: CpuElem>(
    a: MatRef<'_, T>,
    trans: bool,
    x: MatRef<'_, T>,
    out: &mut Mat<T>,
    (alpha, beta): (f64, f64),
    par: Par,
) {
    let (n, m) = (x.nrows(), a.nrows());
    let p = n / m;
    let scale = t::<T>(alpha / (n as f64).sqrt());
    let beta_t = t::<T>(beta);
    // Row a of op(A) as signs: true where the entry is −1.
    let neg: Vec<bool> = (0..m * m)
        .map(|e| {
            let (r, c) = (e / m, e % m);
            let v = if trans { a[(c, r)] } else { a[(r, c)] };
            v < t::<T>(0.0)
        })
        .collect();
    let acc_len = if beta == 0.0 { 0 } else { p };
    for_each_col(
        out,
        par,
        || vec![t::<T>(0.0); n + acc_len],
        |buf, j, o| {
            let (z, acc) = buf.split_at_mut(n);
            match x.col(j).try_as_col_major() {
                Some(c) => z.copy_from_slice(c.as_slice()),
                None => z.iter_mut().zip(x.col(j).iter()).for_each(|(e, s)| *e = *s),
            }
            for blk in z.chunks_exact_mut(p) {
                fwht_fast(blk);
            }
            for (ra, ob) in o.chunks_exact_mut(p).enumerate() {
                let row = &neg[ra * m..(ra + 1) * m];
                if beta == 0.0 {
                    mix_fast(ob, z, row);
                    ob.iter_mut().for_each(|d| *d *= scale);
                } else {
                    mix_fast(acc, z, row);
                    for (e, &v) in ob.iter_mut().zip(acc.iter()) {
                        *e = scale * v + beta_t * *e;
                    }
                }
            }
        },
    );
}

/// `dst = Σ_k ±z_k` over the blocks `z_k` of `z` (each `dst.len()` long), in the order
/// `k = 0, 1, …`, with `−` where `neg[k]`. The blocks are taken four at a time with each entry of
/// `dst` in a register across the four (the same additions and subtractions in the same order as
/// one block at a time, so the same bits; one load and store of `dst` per four blocks).
#[inline(always)]
fn mix_blocks<T: CpuElem>(dst: &mut [T], z: &[T], neg: &[bool]) {
    let p = dst.len();
    for (d, &s) in dst.iter_mut().zip(&z[..p]) {
        *d = if neg[0] { -s } else { s };
    }
    // `d + (−1)·s` is `d − s` exactly (negation is exact and IEEE defines `d − s` as `d + (−s)`),
    // and a sign factor keeps the loop free of branches.
    let sign = |minus: bool| t::<T>(if minus { -1.0 } else { 1.0 });
    let m = neg.len();
    let mut k = 1;
    while k + 4 <= m {
        let (z0, z1, z2, z3) = (
            &z[k * p..(k + 1) * p],
            &z[(k + 1) * p..(k + 2) * p],
            &z[(k + 2) * p..(k + 3) * p],
            &z[(k + 3) * p..(k + 4) * p],
        );
        let (s0, s1, s2, s3) = (
            sign(neg[k]),
            sign(neg[k + 1]),
            sign(neg[k + 2]),
            sign(neg[k + 3]),
        );
        for ((((d, &a), &b), &c), &e) in dst.iter_mut().zip(z0).zip(z1).zip(z2).zip(z3) {
            *d = (((*d + s0 * a) + s1 * b) + s2 * c) + s3 * e;
        }
        k += 4;
    }
    for (kk, zk) in z.chunks_exact(p).enumerate().skip(k) {
        if neg[kk] {
            dst.iter_mut().zip(zk).for_each(|(d, &s)| *d -= s);
        } else {
            dst.iter_mut().zip(zk).for_each(|(d, &s)| *d += s);
        }
    }
}

crate::execute::cpu_kernel!(linops_core::plan::kernel::FwhtBase, |k, be, inputs, out| {
    let (a, x) = (inputs.mat(0)?, inputs.mat(1)?);
    fwht_base(a, k.trans, x, out, (k.alpha, k.beta), be.par());
    Ok(())
});

crate::execute::cpu_kernel!(linops_core::plan::kernel::Fwht, |k, be, inputs, out| {
    fwht(inputs.mat(0)?, out, k.alpha, k.beta, be.par());
    Ok(())
});
