//! `butterfly` on the CPU: several block butterfly factors per pass over `X`, cache-blocked.
//!
//! Mathematics (see `linops_core::plan::kernel::Butterfly`): the step's factors only mix the
//! block-rows of one group (`g = 2^count·b` rows), so each group of each tile of columns is
//! transformed on its own. Four storage schemes:
//! - **Plain butterfly (`b = 1`, `n ≥ 16`): on contiguous columns, factors fused in registers.**
//!   The step's twiddles are rearranged into two planes per factor ([`planar`]:
//!   `y[i] = P[i]·x[i] + Q[i]·x[i ⊕ h]`, split over the workers), once per parameter: the
//!   backend keeps them with the converted twiddles ([`crate::CpuBackend::derived`]; rebuilding
//!   them, 384 KiB at n = 4096, took a fifth of a batch-64 apply); panels of
//!   [`in_place::PANEL`] columns go through a few
//!   passes ([`in_place`]): one for the run of factors that pair lanes of a 64-byte vector (a
//!   lane permutation), one per two factors that pair whole vectors, each applying its factors
//!   in registers between one load and one store of the panel. `X` is read once, `out` written
//!   once, and the planes loaded once per panel and pass. No gather or scatter.
//! - **Block butterfly with `b ≤ 8` (or `b = 1` below 16 rows): lanes across columns.** The group of a
//!   tile of `L` columns is gathered into a row-major scratch (`g × L`: row `r` of the group holds
//!   the tile's `L` values of that row contiguously, `g·L ≤ 4096·16` elements: 256 KiB of `f32`,
//!   L2-resident), every factor of the step is applied there — a 2×2 pair is four
//!   scalar-times-lane-vector products, a `b×b` block pair `2b` lane-vector multiply-adds per
//!   output row, both over contiguous lanes the compiler vectorizes — and the result is scattered
//!   to `out`.
//! - **Block butterfly, `b ≥ 16`, from 8 (`f32`) columns, on a CPU with AVX-512F/VL and FMA:
//!   row-major FMA micro-kernels.** A panel
//!   of up to 64 (`f32`) columns is transposed into a row-major scratch and each pair of
//!   block-rows multiplied by `[[D₁, D₂], [D₃, D₄]]` in registers, the coefficients broadcast in
//!   place from the twiddles, nothing packed ([`block_rows`]). Measured 1.1–1.4× faster than
//!   the small GEMMs below at n = 4096, b = 32, batch 64 and 1.4–1.8× at batch 1024 (2026-12-02,
//!   load 4–9, interleaved runner medians). Same results within the rounding of a
//!   `2b`-term dot product per factor, not the same bits as the lanes; the same bits for every
//!   split of the columns.
//! - **Block butterfly, `b ≥ 16` without AVX-512F (and `b = 8` below 4 columns): small GEMMs.** Each pair of
//!   block-rows of a column panel is `[[D₁, D₂], [D₃, D₄]]·[x_R; x_R']`, four `b×b·b×w` faer
//!   products ([`pair_gemm`], `Par::Seq`, panels at fixed multiples of the width). Measured 1.5–3×
//!   faster than the lanes for b ≥ 32 from 4 columns up and 12–18× below 4 columns; the lanes
//!   stay for b ≤ 8 ([`choose`]). Same results within the rounding of a `2b`-term dot product
//!   per factor, not the same bits.
//!
//! The first two compute each output of a factor as the same two products (`b = 1`) and one sum, so they
//! give the same bits (a unit test checks it), and write `alpha·s + beta·out`. `X` and `out` are
//! each touched once per step; the twiddles of the step once per tile or panel. Both paths run
//! compiled for AVX-512 or AVX2 when the CPU has them ([`simd_dispatch`]), with the same bits.
//! Parallelism: the columns are split over the backend's `Par` by [`crate::par::for_each_part`]
//! in whole tiles; every element is computed the same way in whatever part it lands, so results
//! are bit-identical for every thread count. Cost: `count·(4b − 1)·n` FLOPs per column.

use crate::CpuElem;
use crate::par::{Grain, for_each_part};
use crate::simd::Scratch;
use crate::simd::simd_dispatch;
use faer::{Mat, MatMut, MatRef, Par};
use linops_core::plan::kernel::Butterfly;
use std::sync::Arc;

mod block_rows;
mod in_place;
mod pair_gemm;

use in_place::{in_place_dispatch, planar};

/// Columns of a tile (the lanes of the scratch) when the step has at least this many columns.
const WIDE: usize = 16;
/// Lanes for 4 to 15 columns.
const NARROW: usize = 4;

/// The geometry of one step: block size, factor range, groups.
#[derive(Clone, Copy)]
struct Geom {
    b: usize,
    first: usize,
    count: usize,
    trans: bool,
}

impl Geom {
    /// Block-row of local block `t` of group `g`.
    #[inline]
    fn block_row(&self, g: usize, t: usize) -> usize {
        let low = g & ((1 << self.first) - 1);
        let high = g >> self.first;
        low + (t << self.first) + (high << (self.first + self.count))
    }
}

/// `out = alpha·(factors of the step)·x + beta·out`; shapes were checked by the planner
/// (`Kernel::cost`) and are asserted again here.
/// `kept` (the backend and the twiddles' converted parameter) keeps the in-place path's planes
/// of the step with the parameter ([`crate::CpuBackend::derived`]), so a repeated apply does
/// not rebuild them; without it they are made for this call.
pub(crate) fn butterfly<T: CpuElem>(
    k: Butterfly,
    tw: MatRef<'_, T>,
    x: MatRef<'_, T>,
    out: &mut Mat<T>,
    scalars: (T, T),
    par: Par,
    kept: Option<(&crate::CpuBackend<T>, &Arc<Mat<T>>)>,
) {
    let n = x.nrows();
    let geom = Geom {
        b: k.block,
        first: k.first,
        count: k.count,
        trans: k.trans,
    };
    assert!(
        k.block >= 1
            && n % k.block == 0
            && k.group() <= Butterfly::MAX_GROUP
            && k.first + k.count <= tw.ncols()
            && tw.nrows() == 2 * n * k.block
            && out.nrows() == n
            && out.ncols() == x.ncols(),
        "butterfly: shapes not checked by the planner"
    );
    let path = choose::<T>(k.block, n, x.ncols());
    let kept = match kept {
        Some((be, param)) if path == Path::InPlace => {
            // What is derived: the step's factor range and direction.
            let what = (k.first as u64) | (k.count as u64) << 16 | u64::from(k.trans) << 32;
            Some(be.derived(param, what, || {
                planar(geom, tw, n, planes_par(par, x.ncols()))
            }))
        }
        _ => None,
    };
    apply(
        path,
        geom,
        tw,
        x,
        out.as_mut(),
        scalars,
        par,
        kept.as_deref().map(Vec::as_slice),
    );
}

/// Where the in-place path's planes are made: over the workers only when the columns go over
/// them too (at one panel the start of the workers costs more than it saves).
fn planes_par(par: Par, cols: usize) -> Par {
    if cols >= 2 * in_place::PANEL {
        par
    } else {
        Par::Seq
    }
}

/// The three ways of running a step (module docs).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Path {
    /// The plain butterfly in place on contiguous columns ([`in_place`]).
    InPlace,
    /// Lanes across 16, 4 or 1 columns ([`columns`]).
    Lanes,
    /// Small GEMMs per pair of block-rows on column panels ([`pair_gemm`]).
    PairGemm,
    /// Fused multiply-add micro-kernels on a row-major panel ([`block_rows`], AVX-512F).
    BlockRows,
}

/// The path for block size `b`, `n` rows and `cols` columns of `T`.
fn choose<T: CpuElem>(b: usize, n: usize, cols: usize) -> Path {
    if b == 1 {
        return if n >= in_place::MIN_ROWS {
            Path::InPlace
        } else {
            Path::Lanes
        };
    }
    // Measured (f32, one thread, n ∈ {1024, 4096}, b ∈ {8, 16, 32, 64}, batch ∈ {1, 4, 64,
    // 1024}; 2026-12-02, load ≈ 7 on 2 cores): the GEMMs win 1.5–3× for b ≥ 32 and 1.0–1.7× for
    // b = 16 at every batch, and 12–18× below 4 columns (where the lanes are scalar) for b ≥ 32;
    // for b = 8 the lanes win 1.1–2× from 4 columns up (a 8×8·8×w GEMM is mostly call and
    // packing overhead).
    // With AVX-512F, the row-major FMA micro-kernels replace the GEMMs (measured 2026-12-02 at
    // n = 4096, b = 32, load 4–9 on 2 cores: 1.1–1.4× faster at batch 64, 1.4–1.8× at batch
    // 1024; the GEMMs spent a third of their time packing the operands of each tiny product).
    // Below half a vector of columns most lanes would be padding (measured 5x slower than the
    // GEMMs at one column, with 256-bit vectors).
    if b >= 16 && 2 * cols >= block_rows::lanes::<T>() && block_rows::available::<T>() {
        Path::BlockRows
    } else if b >= 16 || (b >= 8 && cols < NARROW) {
        Path::PairGemm
    } else {
        Path::Lanes
    }
}

/// Runs one step on `path`, the columns split over `par` in whole tiles or panels; the in-place
/// path takes `planes` (the step's [`planar`] planes) when given, else makes them.
#[allow(clippy::too_many_arguments)]
fn apply<T: CpuElem>(
    path: Path,
    geom: Geom,
    tw: MatRef<'_, T>,
    x: MatRef<'_, T>,
    out: MatMut<'_, T>,
    (alpha, beta): (T, T),
    par: Par,
    planes: Option<&[T]>,
) {
    let n = x.nrows();
    let made = (path == Path::InPlace && planes.is_none())
        .then(|| planar(geom, tw, n, planes_par(par, x.ncols())));
    let planes = planes.or(made.as_deref()).filter(|_| path == Path::InPlace);
    let width = width_of::<T>(path, n, x.ncols());
    let grain = match path {
        // Parts of at least two vectors of columns (so that batch 64 `f32` splits in two);
        // the bits do not depend on the split (module docs of [`block_rows`]).
        Path::BlockRows => Grain {
            min: 2 * block_rows::lanes::<T>(),
            align: block_rows::lanes::<T>(),
        },
        _ => Grain {
            min: width,
            align: width,
        },
    };
    for_each_part(par, out, grain, &|c0, part: MatMut<'_, T>| {
        let xp = x.subcols(c0, part.ncols());
        match (&planes, path, width) {
            (Some(planes), _, _) => in_place_dispatch(geom, planes, xp, part, alpha, beta),
            (None, Path::PairGemm, _) => pair_gemm::pair_gemm(geom, tw, xp, part, alpha, beta),
            (None, Path::BlockRows, _) => {
                block_rows::block_rows(geom, tw, xp, part, alpha, beta);
            }
            (None, _, WIDE) => columns_dispatch::<T, WIDE>(geom, tw, xp, part, alpha, beta),
            (None, _, NARROW) => columns_dispatch::<T, NARROW>(geom, tw, xp, part, alpha, beta),
            _ => columns::<T, 1>(geom, tw, xp, part, alpha, beta),
        }
    });
}

/// Columns of a tile or panel of `path` for `n` rows and `cols` columns.
fn width_of<T: CpuElem>(path: Path, n: usize, cols: usize) -> usize {
    match path {
        Path::InPlace => in_place::PANEL,
        Path::PairGemm => pair_gemm::panel_width::<T>(n),
        Path::BlockRows => block_rows::panel_width::<T>(),
        Path::Lanes if cols >= WIDE => WIDE,
        Path::Lanes if cols >= NARROW => NARROW,
        Path::Lanes => 1,
    }
}

/// [`columns`] through [`simd_dispatch`].
fn columns_dispatch<T: CpuElem, const L: usize>(
    geom: Geom,
    tw: MatRef<'_, T>,
    x: MatRef<'_, T>,
    out: MatMut<'_, T>,
    alpha: T,
    beta: T,
) {
    simd_dispatch!([T: CpuElem, const L: usize] columns::<T, L>(geom: Geom, tw: MatRef<'_, T>, x: MatRef<'_, T>, out: MatMut<'_, T>, alpha: T, beta: T))
}

/// `col = alpha·src + beta·col` (`beta = 0` never reads `col`): a panel's scratch column into
/// its output column, for every path of this kernel.
#[inline]
fn store_col<T: CpuElem>(col: &mut [T], src: &[T], alpha: T, beta: T) {
    if beta == T::from_f64(0.0) {
        col.iter_mut().zip(src).for_each(|(o, &v)| *o = alpha * v);
    } else {
        col.iter_mut()
            .zip(src)
            .for_each(|(o, &v)| *o = alpha * v + beta * *o);
    }
}

/// One part of the columns, in tiles of `L` columns (the last one may be narrower: its unused
/// lanes hold zeros and are never written out).
#[inline(always)]
fn columns<T: CpuElem, const L: usize>(
    geom: Geom,
    tw: MatRef<'_, T>,
    x: MatRef<'_, T>,
    mut out: MatMut<'_, T>,
    alpha: T,
    beta: T,
) {
    let zero = T::from_f64(0.0);
    let (n, b) = (x.nrows(), geom.b);
    let group = (1usize << geom.count) * b;
    let groups = n / group;
    let mut s = Scratch::<T>::zeroed(group * L);
    let mut tmp = Scratch::<T>::zeroed(if b > 1 { 2 * b * L } else { 0 });
    let twiddle: Vec<&[T]> = (0..tw.ncols())
        .map(|f| {
            tw.col(f)
                .try_as_col_major()
                .expect("parameters are contiguous")
                .as_slice()
        })
        .collect();
    let cols = x.ncols();
    let mut c0 = 0;
    while c0 < cols {
        let w = L.min(cols - c0);
        if w < L {
            s.iter_mut().for_each(|v| *v = zero);
        }
        for g in 0..groups {
            // Gather: row t·b + u of the group is row R(t)·b + u of X.
            for k in 0..w {
                let col = x
                    .col(c0 + k)
                    .try_as_col_major()
                    .expect("X is contiguous")
                    .as_slice();
                for t in 0..1 << geom.count {
                    let r = geom.block_row(g, t) * b;
                    for u in 0..b {
                        s[(t * b + u) * L + k] = col[r + u];
                    }
                }
            }
            for l in 0..geom.count {
                let l = if geom.trans { geom.count - 1 - l } else { l };
                if b == 1 {
                    factor_2x2::<T, L>(geom, g, l, twiddle[geom.first + l], &mut s);
                } else {
                    factor_blocks::<T, L>(geom, g, l, twiddle[geom.first + l], &mut s, &mut tmp);
                }
            }
            // Scatter with alpha and beta (the old output is not read when beta == 0).
            for k in 0..w {
                let col = out
                    .as_mut()
                    .col_mut(c0 + k)
                    .try_as_col_major_mut()
                    .expect("out is contiguous")
                    .as_slice_mut();
                for t in 0..1 << geom.count {
                    let r = geom.block_row(g, t) * b;
                    for u in 0..b {
                        let v = alpha * s[(t * b + u) * L + k];
                        let o = &mut col[r + u];
                        *o = if beta == zero { v } else { v + beta * *o };
                    }
                }
            }
        }
        c0 += w;
    }
}

/// Pairs `(t0, t1 = t0 + 2^l)` of local block-rows of a group at local level `l`, with the pair
/// index `j` of the global factor `f = first + l` (module docs of the core kernel).
#[inline]
fn pairs(geom: Geom, g: usize, l: usize) -> impl Iterator<Item = (usize, usize, usize)> {
    let half = 1usize << l;
    let f = geom.first + l;
    let span = 1usize << geom.count;
    (0..span / 2).map(move |q| {
        let lo = q & (half - 1);
        let t0 = ((q - lo) << 1) + lo;
        let r0 = geom.block_row(g, t0);
        let j = ((r0 >> (f + 1)) << f) | (r0 & ((1 << f) - 1));
        (t0, t0 + half, j)
    })
}

/// One factor of 2×2 pairs on the scratch: rows `t0`, `t1` ← `[[a, b], [c, d]]·(x₀, x₁)`
/// (transposed: `[[a, c], [b, d]]`).
#[inline(always)]
fn factor_2x2<T: CpuElem, const L: usize>(geom: Geom, g: usize, l: usize, tw: &[T], s: &mut [T]) {
    for (t0, t1, j) in pairs(geom, g, l) {
        let p = &tw[4 * j..4 * j + 4];
        let (a, b, c, d) = if geom.trans {
            (p[0], p[2], p[1], p[3])
        } else {
            (p[0], p[1], p[2], p[3])
        };
        let (lo, hi) = s.split_at_mut(t1 * L);
        let x0: &mut [T; L] = (&mut lo[t0 * L..t0 * L + L]).try_into().expect("L lanes");
        let x1: &mut [T; L] = (&mut hi[..L]).try_into().expect("L lanes");
        for i in 0..L {
            let (u, v) = (x0[i], x1[i]);
            x0[i] = a * u + b * v;
            x1[i] = c * u + d * v;
        }
    }
}

/// One factor of `b×b` block pairs on the scratch: block-rows `t0`, `t1` ←
/// `[[D₁, D₂], [D₃, D₄]]·(x₀, x₁)` (transposed: `[[D₁ᵀ, D₃ᵀ], [D₂ᵀ, D₄ᵀ]]`), through `tmp`.
#[inline(always)]
fn factor_blocks<T: CpuElem, const L: usize>(
    geom: Geom,
    g: usize,
    l: usize,
    tw: &[T],
    s: &mut [T],
    tmp: &mut [T],
) {
    let b = geom.b;
    let bb = b * b;
    let zero = T::from_f64(0.0);
    for (t0, t1, j) in pairs(geom, g, l) {
        let p = &tw[4 * bb * j..4 * bb * (j + 1)];
        // Entry (u, v) of the (possibly transposed) block q of the pair.
        let coef = |q: usize, u: usize, v: usize| {
            if geom.trans {
                // [[D₁ᵀ, D₃ᵀ], [D₂ᵀ, D₄ᵀ]]: block (row r, col c) is D_{1 + c·2 + r}ᵀ.
                let q = [0, 2, 1, 3][q];
                p[q * bb + v * b + u]
            } else {
                p[q * bb + u * b + v]
            }
        };
        for (half, out_rows) in [(0usize, 0usize), (1, b)] {
            for u in 0..b {
                let mut acc = [zero; L];
                for v in 0..b {
                    let (c0, c1) = (coef(2 * half, u, v), coef(2 * half + 1, u, v));
                    let x0: &[T; L] = s[(t0 * b + v) * L..(t0 * b + v + 1) * L]
                        .try_into()
                        .expect("L lanes");
                    let x1: &[T; L] = s[(t1 * b + v) * L..(t1 * b + v + 1) * L]
                        .try_into()
                        .expect("L lanes");
                    for i in 0..L {
                        acc[i] = acc[i] + c0 * x0[i] + c1 * x1[i];
                    }
                }
                tmp[(out_rows + u) * L..(out_rows + u + 1) * L].copy_from_slice(&acc);
            }
        }
        s[t0 * b * L..(t0 + 1) * b * L].copy_from_slice(&tmp[..b * L]);
        s[t1 * b * L..(t1 + 1) * b * L].copy_from_slice(&tmp[b * L..2 * b * L]);
    }
}

crate::execute::cpu_kernel!(Butterfly, |k, be, inputs, out| {
    let scalars = (crate::t(k.alpha), crate::t(k.beta));
    let kept = inputs.param(0).map(|param| (be, param));
    butterfly(
        *k,
        inputs.mat(0)?,
        inputs.mat(1)?,
        out,
        scalars,
        be.par(),
        kept,
    );
    Ok(())
});

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testing::values;

    /// The in-place path (`b = 1`) gives the same bits as the lane path for every pair distance
    /// (inside a vector and across vectors), sub-ranges of factors (only short, only long, one,
    /// passes of one and two long factors), transposes, `alpha ≠ 1`, `beta ≠ 0` and panel
    /// remainders.
    fn same_bits<T: CpuElem>() {
        for n in [16usize, 32, 64, 512, 2048] {
            let levels = n.trailing_zeros() as usize;
            let tw = Mat::<T>::from_fn(2 * n, levels, |i, j| {
                T::from_f64(values((i * 31 + j) as u64, 1)[0])
            });
            for cols in [1usize, 3, 4, 5, 9] {
                let xv = values(n as u64 + cols as u64, n * cols);
                let x = Mat::<T>::from_fn(n, cols, |i, j| T::from_f64(xv[i + j * n]));
                let ranges = [
                    (0, levels),
                    (1, levels - 1),
                    (0, 2),
                    (2, 1),
                    (0, 3),
                    (levels - 3, 3),
                    (levels - 1, 1),
                    (levels - 4, 4),
                ];
                for (first, count) in ranges {
                    for trans in [false, true] {
                        for (alpha, beta) in [(1.0, 0.0), (0.5, -2.0)] {
                            let geom = Geom {
                                b: 1,
                                first,
                                count,
                                trans,
                            };
                            let (a, b) = (T::from_f64(alpha), T::from_f64(beta));
                            let init = Mat::<T>::from_fn(n, cols, |i, j| {
                                T::from_f64((i as f64 - j as f64) / 7.0)
                            });
                            let mut lanes = init.clone();
                            columns::<T, WIDE>(geom, tw.as_ref(), x.as_ref(), lanes.as_mut(), a, b);
                            let mut inplace = init.clone();
                            let planes = planar(geom, tw.as_ref(), n, Par::Seq);
                            in_place_dispatch(geom, &planes, x.as_ref(), inplace.as_mut(), a, b);
                            assert!(
                                lanes == inplace,
                                "n={n} cols={cols} first={first} count={count} trans={trans} beta={beta}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn in_place_matches_lanes_f32() {
        same_bits::<f32>();
    }

    #[test]
    fn in_place_matches_lanes_f64() {
        same_bits::<f64>();
    }

    /// The planes a backend keeps for a butterfly's twiddles follow the parameter: two
    /// butterflies of one shape applied in turn through one backend (planes kept between
    /// applies) give the bits of a fresh backend for each apply, and a new operator after one
    /// is dropped never sees the old one's planes.
    #[test]
    fn kept_planes_follow_their_parameter() {
        use crate::CpuBackend;
        use linops_core::{Backend, DType, Op, Plan};
        let n = 256usize;
        let levels = n.trailing_zeros() as usize;
        let op = |seed: u64| Op::butterfly(n, values(seed, 2 * n * levels)).unwrap();
        let xv = values(7, n * 64);
        let run = |be: &CpuBackend<f32>, op: &Op| {
            let x = be.upload(n, 64, &xv.iter().map(|&v| v as f32).collect::<Vec<_>>());
            let plan = Plan::new(op, n, 64, DType::F32).unwrap();
            be.download(&be.execute(&plan, &[&x.unwrap()]).unwrap())
                .unwrap()
        };
        let fresh = |op: &Op| run(&CpuBackend::new(), op);
        let kept = CpuBackend::<f32>::new();
        let (a, b) = (op(1), op(2));
        let (ya, yb) = (fresh(&a), fresh(&b));
        assert_ne!(ya, yb);
        for _ in 0..2 {
            assert_eq!(run(&kept, &a), ya);
            assert_eq!(run(&kept, &b), yb);
        }
        drop((a, b));
        for seed in 3..6 {
            let c = op(seed);
            assert_eq!(run(&kept, &c), fresh(&c), "seed {seed}");
        }
        // One parameter's entries: one per derived layout, made once.
        let p = Arc::new(Mat::<f32>::zeros(2, 2));
        let made = std::cell::Cell::new(0);
        let make = |v: f32| {
            made.set(made.get() + 1);
            vec![v]
        };
        assert_eq!(*kept.derived(&p, 1, || make(1.0)), [1.0]);
        assert_eq!(*kept.derived(&p, 1, || make(9.0)), [1.0]);
        assert_eq!(*kept.derived(&p, 2, || make(2.0)), [2.0]);
        assert_eq!(made.get(), 2);
    }

    /// Unit roundoff of `T` (`2^-24` or `2^-53`).
    fn unit<T: CpuElem>() -> f64 {
        if std::mem::size_of::<T>() == 4 {
            f64::from(f32::EPSILON) / 2.0
        } else {
            f64::EPSILON / 2.0
        }
    }

    /// The pair-GEMM path equals the lane path within rounding for block sizes 2…64, every pair
    /// distance, sub-ranges of factors, transposes, `beta ≠ 0` and panel remainders (column
    /// counts around the panel width). Bound: each output of a factor is a `2b`-term dot
    /// product, so each path is within `γ_{2b}·(|B|·|x|)` of the exact factor and, over `count`
    /// factors plus the `alpha`/`beta` update, within `(2b·count + 3)·u·(|alpha|·|B_c|⋯|B_1|·|x|
    /// + |beta|·|out|)` to first order (Higham, *Accuracy and Stability*, §3.1); the two paths
    /// differ by at most twice that (`|·|` products computed in `f64` by the lane path).
    fn pair_gemm_close<T: CpuElem>() {
        for path in [Path::PairGemm, Path::BlockRows] {
            if path == Path::BlockRows && !block_rows::available::<T>() {
                eprintln!("skipped: block_rows needs AVX-512F");
                continue;
            }
            close_to_lanes::<T>(path);
        }
    }

    /// The check of [`pair_gemm_close`] for one path.
    fn close_to_lanes<T: CpuElem>(path: Path) {
        let u = unit::<T>();
        for (n, b) in [
            (8usize, 2usize),
            (64, 4),
            (128, 8),
            (256, 16),
            (512, 32),
            (320, 20),
            (256, 64),
        ] {
            let levels = (n / b).trailing_zeros() as usize;
            let twv = values((n * 131 + b) as u64, 2 * n * b * levels);
            let tw = Mat::<T>::from_fn(2 * n * b, levels, |i, j| {
                T::from_f64(twv[i + j * 2 * n * b])
            });
            let abs_tw =
                Mat::<f64>::from_fn(2 * n * b, levels, |i, j| twv[i + j * 2 * n * b].abs());
            let width = width_of::<T>(path, n, 64);
            for cols in [1usize, 3, 17, width - 1, width + 5, 2 * width + 9] {
                let xv = values((n + cols) as u64, n * cols);
                let x = Mat::<T>::from_fn(n, cols, |i, j| T::from_f64(xv[i + j * n]));
                let abs_x = Mat::<f64>::from_fn(n, cols, |i, j| xv[i + j * n].abs());
                let ranges = [(0, levels), (1, levels - 1), (0, 1), (levels - 1, 1)];
                for (first, count) in ranges.into_iter().filter(|&(_, c)| c >= 1) {
                    for trans in [false, true] {
                        let geom = Geom {
                            b,
                            first,
                            count,
                            trans,
                        };
                        let mut abs = Mat::<f64>::zeros(n, cols);
                        let s = (1.0, 0.0);
                        apply(
                            Path::Lanes,
                            geom,
                            abs_tw.as_ref(),
                            abs_x.as_ref(),
                            abs.as_mut(),
                            s,
                            Par::Seq,
                            None,
                        );
                        for (alpha, beta) in [(1.0, 0.0), (0.5, -2.0)] {
                            let init = |i: usize, j: usize| (i as f64 - j as f64) / 7.0;
                            let start = Mat::<T>::from_fn(n, cols, |i, j| T::from_f64(init(i, j)));
                            let ab = (T::from_f64(alpha), T::from_f64(beta));
                            let mut lanes = start.clone();
                            apply(
                                Path::Lanes,
                                geom,
                                tw.as_ref(),
                                x.as_ref(),
                                lanes.as_mut(),
                                ab,
                                Par::Seq,
                                None,
                            );
                            let mut gemm = start.clone();
                            apply(
                                path,
                                geom,
                                tw.as_ref(),
                                x.as_ref(),
                                gemm.as_mut(),
                                ab,
                                Par::Seq,
                                None,
                            );
                            let c = (2 * b * count + 3) as f64;
                            for j in 0..cols {
                                for i in 0..n {
                                    let (g, l) = (gemm[(i, j)].to_f64(), lanes[(i, j)].to_f64());
                                    let scale =
                                        alpha.abs() * abs[(i, j)] + beta.abs() * init(i, j).abs();
                                    let bound = 2.0 * c * u * scale;
                                    assert!(
                                        (g - l).abs() <= bound,
                                        "({i}, {j}): {path:?} {g}, lanes {l}, diff {}, bound {bound}; \
                                         n={n} b={b} cols={cols} first={first} count={count} \
                                         trans={trans} beta={beta}",
                                        (g - l).abs()
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn pair_gemm_matches_lanes_f32() {
        pair_gemm_close::<f32>();
    }

    #[test]
    fn pair_gemm_matches_lanes_f64() {
        pair_gemm_close::<f64>();
    }

    /// The pair-GEMM path gives the same bits with one thread and with two, for column counts
    /// that split into several parts with a remainder panel, and `beta ≠ 0`.
    fn pair_gemm_same_bits_any_threads<T: CpuElem>() {
        let (n, b) = (256usize, 16usize);
        let levels = (n / b).trailing_zeros() as usize;
        let tw = Mat::<T>::from_fn(2 * n * b, levels, |i, j| {
            T::from_f64(values((i * 17 + j) as u64, 1)[0])
        });
        let width = pair_gemm::panel_width::<T>(n);
        for cols in [1usize, 7 * width + 3, 9 * width] {
            let xv = values(cols as u64, n * cols);
            let x = Mat::<T>::from_fn(n, cols, |i, j| T::from_f64(xv[i + j * n]));
            let start = Mat::<T>::from_fn(n, cols, |i, j| T::from_f64((i + 3 * j) as f64 / 9.0));
            for trans in [false, true] {
                let geom = Geom {
                    b,
                    first: 0,
                    count: levels,
                    trans,
                };
                let ab = (T::from_f64(0.75), T::from_f64(1.5));
                let mut seq = start.clone();
                apply(
                    Path::PairGemm,
                    geom,
                    tw.as_ref(),
                    x.as_ref(),
                    seq.as_mut(),
                    ab,
                    Par::Seq,
                    None,
                );
                let mut two = start.clone();
                apply(
                    Path::PairGemm,
                    geom,
                    tw.as_ref(),
                    x.as_ref(),
                    two.as_mut(),
                    ab,
                    Par::rayon(2),
                    None,
                );
                assert!(
                    seq == two,
                    "cols={cols} trans={trans}: bits differ between 1 and 2 threads"
                );
            }
        }
    }

    /// The row-major FMA path gives the same bits whatever the split of the columns: one
    /// thread, two threads, and each column applied on its own (panels of every width from 1 up,
    /// partial vectors of lanes), for block sizes with and without remainder rows of the
    /// micro-kernel's tiles, transposed, `alpha ≠ 1`, `beta ≠ 0`.
    fn block_rows_bits_independent_of_split<T: CpuElem>() {
        if !block_rows::available::<T>() {
            eprintln!("skipped: block_rows needs AVX-512F");
            return;
        }
        for (n, b) in [(256usize, 16usize), (320, 20), (256, 32)] {
            let levels = (n / b).trailing_zeros() as usize;
            let tw = Mat::<T>::from_fn(2 * n * b, levels, |i, j| {
                T::from_f64(values((i * 17 + j) as u64, 1)[0])
            });
            let cols = 2 * block_rows::panel_width::<T>() + 19;
            let xv = values(cols as u64, n * cols);
            let x = Mat::<T>::from_fn(n, cols, |i, j| T::from_f64(xv[i + j * n]));
            let start = Mat::<T>::from_fn(n, cols, |i, j| T::from_f64((i + 3 * j) as f64 / 9.0));
            for trans in [false, true] {
                for (alpha, beta) in [(1.0, 0.0), (0.75, 1.5)] {
                    let geom = Geom {
                        b,
                        first: 0,
                        count: levels,
                        trans,
                    };
                    let ab = (T::from_f64(alpha), T::from_f64(beta));
                    let run = |par| {
                        let mut y = start.clone();
                        apply(
                            Path::BlockRows,
                            geom,
                            tw.as_ref(),
                            x.as_ref(),
                            y.as_mut(),
                            ab,
                            par,
                            None,
                        );
                        y
                    };
                    let seq = run(Par::Seq);
                    assert!(
                        seq == run(Par::rayon(2)),
                        "n={n} b={b} trans={trans}: bits differ between 1 and 2 threads"
                    );
                    for j in 0..cols {
                        let mut y = start.subcols(j, 1).to_owned();
                        apply(
                            Path::BlockRows,
                            geom,
                            tw.as_ref(),
                            x.subcols(j, 1),
                            y.as_mut(),
                            ab,
                            Par::Seq,
                            None,
                        );
                        assert!(
                            y.col(0) == seq.col(j),
                            "n={n} b={b} trans={trans} column {j}: bits differ alone"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn block_rows_split_free_f32() {
        block_rows_bits_independent_of_split::<f32>();
    }

    #[test]
    fn block_rows_split_free_f64() {
        block_rows_bits_independent_of_split::<f64>();
    }

    #[test]
    fn pair_gemm_deterministic_f32() {
        pair_gemm_same_bits_any_threads::<f32>();
    }

    #[test]
    fn pair_gemm_deterministic_f64() {
        pair_gemm_same_bits_any_threads::<f64>();
    }

    /// The in-place path gives the same bits with one thread and with two (column counts that
    /// split into several parts with a partial panel, `beta ≠ 0`, transposed).
    fn in_place_same_bits_any_threads<T: CpuElem>() {
        let n = 1024usize;
        let levels = 10;
        let tw = Mat::<T>::from_fn(2 * n, levels, |i, j| {
            T::from_f64(values((i * 13 + j) as u64, 1)[0])
        });
        for cols in [1usize, 7 * in_place::PANEL + 3, 33] {
            let xv = values(cols as u64 + 5, n * cols);
            let x = Mat::<T>::from_fn(n, cols, |i, j| T::from_f64(xv[i + j * n]));
            let start = Mat::<T>::from_fn(n, cols, |i, j| T::from_f64((i + 3 * j) as f64 / 9.0));
            for trans in [false, true] {
                let geom = Geom {
                    b: 1,
                    first: 0,
                    count: levels,
                    trans,
                };
                let ab = (T::from_f64(0.75), T::from_f64(1.5));
                let run = |par| {
                    let mut y = start.clone();
                    apply(
                        Path::InPlace,
                        geom,
                        tw.as_ref(),
                        x.as_ref(),
                        y.as_mut(),
                        ab,
                        par,
                        None,
                    );
                    y
                };
                assert!(
                    run(Par::Seq) == run(Par::rayon(2)),
                    "cols={cols} trans={trans}: bits differ between 1 and 2 threads"
                );
            }
        }
    }

    #[test]
    fn in_place_deterministic_f32() {
        in_place_same_bits_any_threads::<f32>();
    }

    #[test]
    fn in_place_deterministic_f64() {
        in_place_same_bits_any_threads::<f64>();
    }

    /// The planner's path choice: the plain butterfly in place (lanes below 16 rows), the pair
    /// GEMMs from b = 16 and for b = 8 below 4 columns, else the lanes.
    #[test]
    fn chooses_paths() {
        let gemm = if block_rows::available::<f32>() {
            Path::BlockRows
        } else {
            Path::PairGemm
        };
        assert_eq!(choose::<f32>(1, 4096, 64), Path::InPlace);
        assert_eq!(choose::<f32>(1, 4, 64), Path::Lanes);
        assert_eq!(choose::<f32>(1, 8, 64), Path::Lanes);
        assert_eq!(choose::<f32>(1, 16, 1), Path::InPlace);
        assert_eq!(choose::<f32>(4, 4096, 1), Path::Lanes);
        assert_eq!(choose::<f32>(8, 4096, 1), Path::PairGemm);
        assert_eq!(choose::<f32>(8, 4096, 64), Path::Lanes);
        assert_eq!(choose::<f32>(16, 1024, 4), Path::PairGemm);
        assert_eq!(choose::<f32>(16, 1024, 8), gemm);
        assert_eq!(choose::<f32>(32, 4096, 1024), gemm);
    }
}
