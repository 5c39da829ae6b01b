//! The plain butterfly (`b = 1`) on contiguous columns, several factors per pass in registers.
//!
//! Mathematics: factor `f` (pair distance `h = 2^f`) maps `y[i] = P[i]·x[i] + Q[i]·x[i ⊕ h]`
//! with the two planes of [`planar`]. A **vector** is `W` consecutive rows of one column (one
//! 64-byte register: `W = 16` for `f32`, 8 for `f64`). A factor with `h < W` pairs lanes inside
//! a vector (a fixed lane permutation); one with `h ≥ W` pairs whole vectors `h` rows apart.
//!
//! Storage and order: the step's factors (in application order) are cut into **passes**: a run
//! of consecutive factors with `h < W` ([`near`]: each vector loaded once, every factor of the
//! run applied to it in registers, stored), or one or two consecutive factors with `h ≥ W`
//! ([`far1`], [`far2`]: the two or four vectors a row couples loaded once, both factors applied
//! in registers, stored). Each pass runs on a panel of [`PANEL`] columns, every plane vector of
//! the far passes loaded once for the panel. The first pass reads `X` into a scratch panel
//! (128 KiB at n = 4096 `f32`, in L2), the others run in place there, and the last reads it and
//! writes `alpha·y + beta·out` (a single pass goes from `X` to `out`). The scratch's columns are
//! `n + W` elements apart, not `n`: at a power-of-two distance the panel's columns fell into the
//! same L1 sets, and a load of one column waited on the store to the same offset of the previous
//! one (same low 12 address bits); measured 2026-12-03 on the 2-core Zen 5 dev box (quiet,
//! interleaved, n = 4096, twelve factors): 1.5× faster at batch 64 (0.33–0.37 → 0.21 ms, min of
//! 400) and 1.25× at 1024 (3.1–3.4 → 2.4–2.6 ms, min of 40) than the passes in place in `out`.
//! Twelve factors at n = 4096 `f32` take five passes (one near, four far).
//!
//! Cost: per factor and row, two multiplications and one addition (`3n` FLOPs per column and
//! factor); per pass, one load and one store of each element of the panel plus, in the far
//! passes, two plane loads per element and factor shared by the panel's columns. `X` is read
//! once and `out` written once per step; nothing is gathered or scattered.
//!
//! Rounding: each output is the same two products and one sum as in the lane path of
//! [`super`], whatever the pass a factor lands in, the vector width or the panel, so the bits do
//! not depend on the CPU's vector instructions, the column count or the thread count.

use super::Geom;
use crate::CpuElem;
use crate::par::{Grain, for_each_part};
use crate::simd::Scratch;
use crate::simd::simd_dispatch;
use faer::{MatMut, MatRef, Par};
use std::mem::MaybeUninit;

/// Columns whose rows share each load of the planes (measured 2026-12-02, n = 4096 `f32`,
/// batch 64: 8 columns, 128 KiB of panel in L2, read the planes a quarter as often as 2).
pub(super) const PANEL: usize = 8;
/// Most factors with pair distance of at least one vector per pass (a block of `2^RADIX`
/// vectors per column).
const RADIX: usize = 2;
/// Fewest rows for this path (a multiple of the vector width of `f32` and `f64`).
pub(super) const MIN_ROWS: usize = 16;

/// The step's factors in application order as two planes each: factor `f` (pair distance
/// `h = 2^f`) maps `y[i] = P[i]·x[i] + Q[i]·x[i ⊕ h]`, with `(P, Q) = (a, b)` on the lower row of
/// a pair and `(d, c)` on the upper one (`[[a, b], [c, d]]` its pair's 2×2 block; transposed: `b`
/// and `c` swap). Each output is the same two products and one sum as in the lane path's
/// `factor_2x2` (IEEE addition commutes), so both paths give the same bits. Layout: factor `l`
/// of the step at `[2nl, 2n(l+1))`, `P` then `Q`. The planes are split over the workers of
/// `par` and each written once in row order (nothing is zeroed first).
pub(super) fn planar<T: CpuElem>(geom: Geom, tw: MatRef<'_, T>, n: usize, par: Par) -> Vec<T> {
    let len = 2 * n * geom.count;
    let mut planes: Vec<T> = Vec::with_capacity(len);
    let fill = |start: usize, part: &mut [MaybeUninit<T>]| {
        for (c, plane) in part.chunks_exact_mut(n).enumerate() {
            let (l, which) = ((start / n + c) / 2, (start / n + c) % 2);
            let f = geom.first + if geom.trans { geom.count - 1 - l } else { l };
            let h = 1usize << f;
            let t = tw
                .col(f)
                .try_as_col_major()
                .expect("parameters are contiguous")
                .as_slice();
            // Row offsets of the pair's entries in the lower and upper rows of each pair.
            let (lo, hi) = match (which, geom.trans) {
                (0, _) => (0, 3),
                (_, false) => (1, 2),
                (_, true) => (2, 1),
            };
            // Rows [2hm, 2hm + h) are the lower rows of pairs j = hm + i, the next h rows the
            // upper rows of the same pairs.
            for (m, rows) in plane.chunks_exact_mut(2 * h).enumerate() {
                let pairs = &t[4 * h * m..4 * h * (m + 1)];
                let (lower, upper) = rows.split_at_mut(h);
                for ((o, e), s) in lower
                    .iter_mut()
                    .zip(upper.iter_mut())
                    .zip(pairs.chunks_exact(4))
                {
                    o.write(s[lo]);
                    e.write(s[hi]);
                }
            }
        }
    };
    for_each_part(
        par,
        &mut planes.spare_capacity_mut()[..len],
        Grain { min: n, align: n },
        &fill,
    );
    // SAFETY: the parts of `for_each_part` cover the first `len` elements, and `fill` writes
    // every element of its part (each plane of `n` rows is `n / 2h` blocks of `2h` rows, every
    // row written once).
    unsafe { planes.set_len(len) };
    planes
}

/// `out = alpha·(factors of the step)·x + beta·out` for one part of the columns (`n ≥`
/// [`MIN_ROWS`], a power of two; contiguous columns), in panels of [`PANEL`] columns and then
/// one column at a time, compiled for the widest vector instructions the CPU has.
pub(super) fn in_place_dispatch<T: CpuElem>(
    geom: Geom,
    planes: &[T],
    x: MatRef<'_, T>,
    out: MatMut<'_, T>,
    alpha: T,
    beta: T,
) {
    if std::mem::size_of::<T>() == 4 {
        simd_dispatch!([T: CpuElem] in_place_w16::<T>(geom: Geom, planes: &[T], x: MatRef<'_, T>, out: MatMut<'_, T>, alpha: T, beta: T))
    } else {
        simd_dispatch!([T: CpuElem] in_place_w8::<T>(geom: Geom, planes: &[T], x: MatRef<'_, T>, out: MatMut<'_, T>, alpha: T, beta: T))
    }
}

/// [`in_place`] with vectors of 16 elements (`f32`).
#[inline(always)]
fn in_place_w16<T: CpuElem>(
    geom: Geom,
    planes: &[T],
    x: MatRef<'_, T>,
    out: MatMut<'_, T>,
    alpha: T,
    beta: T,
) {
    in_place::<T, 16>(geom, planes, x, out, alpha, beta);
}

/// [`in_place`] with vectors of 8 elements (`f64`).
#[inline(always)]
fn in_place_w8<T: CpuElem>(
    geom: Geom,
    planes: &[T],
    x: MatRef<'_, T>,
    out: MatMut<'_, T>,
    alpha: T,
    beta: T,
) {
    in_place::<T, 8>(geom, planes, x, out, alpha, beta);
}

/// One factor of a pass: its pair distance and its two planes `P`, `Q` (`n` elements each).
type Factor<'a, T> = (usize, &'a [T], &'a [T]);

/// One pass over a panel: a run of factors with `h < W` (applied vector by vector), or one or
/// two factors with `h ≥ W` (applied row by row, the compiler vectorizing over rows).
enum Pass<'a, T> {
    /// Factors with pair distance below the vector width, in application order.
    Near(Vec<Factor<'a, T>>),
    /// One or two factors with pair distance of at least the vector width.
    Far(Vec<Factor<'a, T>>),
}

/// How a pass writes its result: a plain copy (into a scratch), `alpha·y`, or
/// `alpha·y + beta·out` (the last pass, into `out`).
const COPY: u8 = 0;
/// See [`COPY`].
const ALPHA: u8 = 1;
/// See [`COPY`].
const ALPHA_BETA: u8 = 2;

/// See [`in_place_dispatch`]; `W` rows per vector.
#[inline(always)]
fn in_place<T: CpuElem, const W: usize>(
    geom: Geom,
    planes: &[T],
    x: MatRef<'_, T>,
    mut out: MatMut<'_, T>,
    alpha: T,
    beta: T,
) {
    let (n, cols) = (x.nrows(), x.ncols());
    debug_assert!(n >= W && n.is_power_of_two());
    let mut passes: Vec<Pass<'_, T>> = Vec::new();
    for (l, plane) in planes.chunks_exact(2 * n).enumerate() {
        let f = geom.first + if geom.trans { geom.count - 1 - l } else { l };
        let h = 1usize << f;
        let (p, q) = plane.split_at(n);
        match (passes.last_mut(), h < W) {
            (Some(Pass::Near(run)), true) => run.push((h, p, q)),
            (Some(Pass::Far(run)), false) if run.len() < RADIX => run.push((h, p, q)),
            (_, true) => passes.push(Pass::Near(vec![(h, p, q)])),
            (_, false) => passes.push(Pass::Far(vec![(h, p, q)])),
        }
    }
    let xs: Vec<&[T]> = (0..cols)
        .map(|k| {
            x.col(k)
                .try_as_col_major()
                .expect("X is contiguous")
                .as_slice()
        })
        .collect();
    let mut outs: Vec<&mut [T]> = out
        .as_mut()
        .col_iter_mut()
        .map(|c| {
            c.try_as_col_major_mut()
                .expect("out is contiguous")
                .as_slice_mut()
        })
        .collect();
    // Several passes run in place in a scratch panel whose columns are `n + W` elements apart
    // (see the module docs), the last one reading it and writing `alpha·y + beta·out`.
    let mut scratch = Scratch::<T>::zeroed(if passes.len() > 1 { PANEL * (n + W) } else { 0 });
    let mode = if beta == T::from_f64(0.0) {
        ALPHA
    } else {
        ALPHA_BETA
    };
    let mut c0 = 0;
    while c0 + PANEL <= cols {
        let src: &[&[T]; PANEL] = xs[c0..c0 + PANEL].try_into().expect("a panel");
        let dst = (&mut outs[c0..c0 + PANEL]).try_into().expect("a panel");
        panel::<T, W, PANEL>(&passes, n, src, dst, &mut scratch, mode, (alpha, beta));
        c0 += PANEL;
    }
    while c0 < cols {
        let src: &[&[T]; 1] = xs[c0..=c0].try_into().expect("a column");
        let dst = (&mut outs[c0..=c0]).try_into().expect("a column");
        panel::<T, W, 1>(&passes, n, src, dst, &mut scratch, mode, (alpha, beta));
        c0 += 1;
    }
}

/// All passes of the step on `K` columns: `X` → scratch, in place there, scratch → `out`
/// (`scratch` holds [`PANEL`] columns `n + W` apart); one pass (`scratch` empty) goes
/// straight from `X` to `out`.
#[inline(always)]
fn panel<T: CpuElem, const W: usize, const K: usize>(
    passes: &[Pass<'_, T>],
    n: usize,
    x: &[&[T]; K],
    out: &mut [&mut [T]; K],
    scratch: &mut [T],
    mode: u8,
    scale: (T, T),
) {
    let last = passes.len() - 1;
    let none: [&[T]; K] = [&[]; K];
    if scratch.is_empty() {
        for (p, pass) in passes.iter().enumerate() {
            let m = if p == last { mode } else { COPY };
            if p == 0 {
                run_pass::<T, W, K, false>(pass, n, x, out, m, scale);
            } else {
                run_pass::<T, W, K, true>(pass, n, &none, out, m, scale);
            }
        }
        return;
    }
    let mut cols = scratch.chunks_exact_mut(scratch.len() / PANEL);
    let mut work: [&mut [T]; K] =
        std::array::from_fn(|_| &mut cols.next().expect("K scratch columns")[..n]);
    for (p, pass) in passes.iter().enumerate() {
        if p == 0 {
            run_pass::<T, W, K, false>(pass, n, x, &mut work, COPY, scale);
        } else if p < last {
            run_pass::<T, W, K, true>(pass, n, &none, &mut work, COPY, scale);
        } else {
            let src: [&[T]; K] = std::array::from_fn(|k| &*work[k]);
            run_pass::<T, W, K, false>(pass, n, &src, out, mode, scale);
        }
    }
}

/// One pass with its store mode and number of factors as constants; `IN`: read `dst` and
/// write it in place (`src` unused).
#[inline(always)]
fn run_pass<T: CpuElem, const W: usize, const K: usize, const IN: bool>(
    pass: &Pass<'_, T>,
    n: usize,
    src: &[&[T]; K],
    dst: &mut [&mut [T]; K],
    mode: u8,
    scale: (T, T),
) {
    match (pass, mode) {
        (Pass::Near(run), COPY) => near::<T, W, K, COPY, IN>(run, n, src, dst, scale),
        (Pass::Near(run), ALPHA) => near::<T, W, K, ALPHA, IN>(run, n, src, dst, scale),
        (Pass::Near(run), _) => near::<T, W, K, ALPHA_BETA, IN>(run, n, src, dst, scale),
        (Pass::Far(run), COPY) if run.len() == 1 => {
            far1::<T, W, K, COPY, IN>(run[0], n, src, dst, scale);
        }
        (Pass::Far(run), ALPHA) if run.len() == 1 => {
            far1::<T, W, K, ALPHA, IN>(run[0], n, src, dst, scale);
        }
        (Pass::Far(run), _) if run.len() == 1 => {
            far1::<T, W, K, ALPHA_BETA, IN>(run[0], n, src, dst, scale);
        }
        (Pass::Far(run), COPY) => {
            far2::<T, W, K, COPY, IN>(run[0], run[1], n, src, dst, scale);
        }
        (Pass::Far(run), ALPHA) => {
            far2::<T, W, K, ALPHA, IN>(run[0], run[1], n, src, dst, scale);
        }
        (Pass::Far(run), _) => {
            far2::<T, W, K, ALPHA_BETA, IN>(run[0], run[1], n, src, dst, scale);
        }
    }
}

/// `y` as written by a pass in store mode `M` over the old value `o`.
#[inline(always)]
fn scaled<T: CpuElem, const M: u8>(y: T, o: T, (alpha, beta): (T, T)) -> T {
    match M {
        COPY => y,
        ALPHA => alpha * y,
        _ => alpha * y + beta * o,
    }
}

/// A run of factors with pair distance `h < W` on `K` columns, one vector at a time (lanes `t`
/// and `t ⊕ h` of a vector pair up: a fixed permutation).
#[inline(always)]
fn near<T: CpuElem, const W: usize, const K: usize, const M: u8, const IN: bool>(
    run: &[Factor<'_, T>],
    n: usize,
    src: &[&[T]; K],
    dst: &mut [&mut [T]; K],
    scale: (T, T),
) {
    for i in (0..n).step_by(W) {
        // The panel's K vectors at row i, each factor applied to all of them in turn (one
        // choice of permutation per factor, K independent chains for the CPU to overlap).
        let mut v = [[T::from_f64(0.0); W]; K];
        for k in 0..K {
            v[k] = vec::<T, W>(if IN { &*dst[k] } else { src[k] }, i);
        }
        for &(h, p, q) in run {
            let p: &[T; W] = p[i..i + W].try_into().expect("W rows");
            let q: &[T; W] = q[i..i + W].try_into().expect("W rows");
            match h {
                1 => {
                    for v in &mut v {
                        *v = mix::<T, W, 1>(v, p, q);
                    }
                }
                2 => {
                    for v in &mut v {
                        *v = mix::<T, W, 2>(v, p, q);
                    }
                }
                4 => {
                    for v in &mut v {
                        *v = mix::<T, W, 4>(v, p, q);
                    }
                }
                _ => {
                    for v in &mut v {
                        *v = mix::<T, W, 8>(v, p, q);
                    }
                }
            }
        }
        for (o, v) in dst.iter_mut().zip(&v) {
            let o: &mut [T; W] = (&mut o[i..i + W]).try_into().expect("W rows");
            for t in 0..W {
                o[t] = scaled::<T, M>(v[t], o[t], scale);
            }
        }
    }
}

/// `y[t] = p[t]·x[t] + q[t]·x[t ⊕ H]` on one vector.
#[inline(always)]
fn mix<T: CpuElem, const W: usize, const H: usize>(x: &[T; W], p: &[T; W], q: &[T; W]) -> [T; W] {
    let mut y = *x;
    for t in 0..W {
        y[t] = p[t] * x[t] + q[t] * x[t ^ H];
    }
    y
}

/// The vector of `s` at row `t`.
#[inline(always)]
fn vec<T: CpuElem, const W: usize>(s: &[T], t: usize) -> [T; W] {
    *<&[T; W]>::try_from(&s[t..t + W]).expect("W rows")
}

/// `p·u + q·w` lane by lane (one output vector of a pair).
#[inline(always)]
fn pair<T: CpuElem, const W: usize>(p: &[T; W], q: &[T; W], u: &[T; W], w: &[T; W]) -> [T; W] {
    let mut y = *u;
    for t in 0..W {
        y[t] = p[t] * u[t] + q[t] * w[t];
    }
    y
}

/// Stores `y` at row `t` of `s` in store mode `M`.
#[inline(always)]
fn put<T: CpuElem, const W: usize, const M: u8>(s: &mut [T], t: usize, y: &[T; W], scale: (T, T)) {
    let o: &mut [T; W] = (&mut s[t..t + W]).try_into().expect("W rows");
    for l in 0..W {
        o[l] = scaled::<T, M>(y[l], o[l], scale);
    }
}

/// One factor with pair distance `h ≥ W` on `K` columns: rows `r` and `r + h` of each block of
/// `2h` rows, the compiler vectorizing over `r`.
#[inline(always)]
fn far1<T: CpuElem, const W: usize, const K: usize, const M: u8, const IN: bool>(
    (h, p, q): Factor<'_, T>,
    n: usize,
    src: &[&[T]; K],
    dst: &mut [&mut [T]; K],
    scale: (T, T),
) {
    for r in (0..n).step_by(W).filter(|r| r & h == 0) {
        let (p0, q0) = (vec::<T, W>(p, r), vec::<T, W>(q, r));
        let (p1, q1) = (vec::<T, W>(p, r + h), vec::<T, W>(q, r + h));
        for k in 0..K {
            let from: &[T] = if IN { &*dst[k] } else { src[k] };
            let (u, w) = (vec::<T, W>(from, r), vec::<T, W>(from, r + h));
            let lo = pair(&p0, &q0, &u, &w);
            let hi = pair(&p1, &q1, &w, &u);
            put::<T, W, M>(dst[k], r, &lo, scale);
            put::<T, W, M>(dst[k], r + h, &hi, scale);
        }
    }
}

/// Two factors with pair distances `h_a, h_b ≥ W` on `K` columns (`a` first): the four rows
/// `r, r + h_a, r + h_b, r + h_a + h_b` in registers, the compiler vectorizing over `r`, each
/// plane element loaded once for the `K` columns.
#[inline(always)]
fn far2<T: CpuElem, const W: usize, const K: usize, const M: u8, const IN: bool>(
    (ha, pa, qa): Factor<'_, T>,
    (hb, pb, qb): Factor<'_, T>,
    n: usize,
    src: &[&[T]; K],
    dst: &mut [&mut [T]; K],
    scale: (T, T),
) {
    for r in (0..n).step_by(W).filter(|r| r & (ha | hb) == 0) {
        // The rows r, r + h_a, r + h_b, r + h_a + h_b.
        let rows = [r, r + ha, r + hb, r + ha + hb];
        let pa: [[T; W]; 4] = [
            vec(pa, rows[0]),
            vec(pa, rows[1]),
            vec(pa, rows[2]),
            vec(pa, rows[3]),
        ];
        let qa: [[T; W]; 4] = [
            vec(qa, rows[0]),
            vec(qa, rows[1]),
            vec(qa, rows[2]),
            vec(qa, rows[3]),
        ];
        let pb: [[T; W]; 4] = [
            vec(pb, rows[0]),
            vec(pb, rows[1]),
            vec(pb, rows[2]),
            vec(pb, rows[3]),
        ];
        let qb: [[T; W]; 4] = [
            vec(qb, rows[0]),
            vec(qb, rows[1]),
            vec(qb, rows[2]),
            vec(qb, rows[3]),
        ];
        for k in 0..K {
            let x: &[T] = if IN { &*dst[k] } else { src[k] };
            let (v0, v1) = (vec::<T, W>(x, rows[0]), vec::<T, W>(x, rows[1]));
            let (v2, v3) = (vec::<T, W>(x, rows[2]), vec::<T, W>(x, rows[3]));
            // Factor a: pairs (0, 1) and (2, 3).
            let w0 = pair(&pa[0], &qa[0], &v0, &v1);
            let w1 = pair(&pa[1], &qa[1], &v1, &v0);
            let w2 = pair(&pa[2], &qa[2], &v2, &v3);
            let w3 = pair(&pa[3], &qa[3], &v3, &v2);
            // Factor b: pairs (0, 2) and (1, 3).
            let z0 = pair(&pb[0], &qb[0], &w0, &w2);
            let z2 = pair(&pb[2], &qb[2], &w2, &w0);
            let z1 = pair(&pb[1], &qb[1], &w1, &w3);
            let z3 = pair(&pb[3], &qb[3], &w3, &w1);
            let y = &mut *dst[k];
            put::<T, W, M>(y, rows[0], &z0, scale);
            put::<T, W, M>(y, rows[1], &z1, scale);
            put::<T, W, M>(y, rows[2], &z2, scale);
            put::<T, W, M>(y, rows[3], &z3, scale);
        }
    }
}
