//! `butterfly` on the CPU: several block butterfly factors per pass over `X`, cache-blocked.
//!
//! Mathematics (see `linops_core::plan::kernel::Butterfly`): the step's factors only mix the
//! block-rows of one group (`g = 2^count·b` rows), so each group of each tile of columns is
//! transformed on its own. Storage: the group of a tile of `L` columns is gathered into a
//! row-major scratch (`g × L`: row `r` of the group holds the tile's `L` values of that row
//! contiguously, `g·L ≤ 4096·16` elements: 256 KiB of `f32`, L2-resident), every factor of the
//! step is applied there — a 2×2 pair is four scalar-times-lane-vector products, a `b×b` block
//! pair `2b` lane-vector multiply-adds per output row, both over contiguous lanes the compiler
//! vectorizes — and the result is scattered to `out` as `alpha·s + beta·out`. `X` and `out` are
//! each touched once per step; the twiddles of the step once per tile. Parallelism: the columns
//! are split over the backend's `Par` by [`crate::par::for_each_part`] in whole tiles; every
//! element is computed the same way in whatever part it lands, so results are bit-identical for
//! every thread count. Cost: `count·(4b − 1)·n` FLOPs per column.

use crate::CpuElem;
use crate::par::{Grain, for_each_part};
use faer::{Mat, MatMut, MatRef, Par};
use linops_core::plan::kernel::Butterfly;

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
pub(crate) fn butterfly<T: CpuElem>(
    k: Butterfly,
    tw: MatRef<'_, T>,
    x: MatRef<'_, T>,
    out: &mut Mat<T>,
    (alpha, beta): (T, T),
    par: Par,
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
    let lanes = if x.ncols() >= WIDE {
        WIDE
    } else if x.ncols() >= NARROW {
        NARROW
    } else {
        1
    };
    for_each_part(
        par,
        out.as_mut(),
        Grain {
            min: lanes,
            align: lanes,
        },
        &|c0, part: MatMut<'_, T>| {
            let xp = x.subcols(c0, part.ncols());
            match lanes {
                WIDE => columns_dispatch::<T, WIDE>(geom, tw, xp, part, alpha, beta),
                NARROW => columns_dispatch::<T, NARROW>(geom, tw, xp, part, alpha, beta),
                _ => columns::<T, 1>(geom, tw, xp, part, alpha, beta),
            }
        },
    );
}

/// [`columns`] compiled for AVX2 when the CPU has it (the crates build for baseline x86-64,
/// whose 128-bit lanes halve the lane loops' throughput), else for the baseline. Both run the same
/// multiplications and additions lane by lane (Rust never contracts them into FMAs), so the
/// bits are the same on every x86-64 CPU.
fn columns_dispatch<T: CpuElem, const L: usize>(
    geom: Geom,
    tw: MatRef<'_, T>,
    x: MatRef<'_, T>,
    out: MatMut<'_, T>,
    alpha: T,
    beta: T,
) {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2")]
        unsafe fn wide<T: CpuElem, const L: usize>(
            geom: Geom,
            tw: MatRef<'_, T>,
            x: MatRef<'_, T>,
            out: MatMut<'_, T>,
            alpha: T,
            beta: T,
        ) {
            columns::<T, L>(geom, tw, x, out, alpha, beta);
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked just above), the only requirement of a
            // `target_feature` function.
            unsafe { wide::<T, L>(geom, tw, x, out, alpha, beta) };
            return;
        }
    }
    columns::<T, L>(geom, tw, x, out, alpha, beta);
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
    let mut s = vec![zero; group * L];
    let mut tmp = vec![zero; if b > 1 { 2 * b * L } else { 0 }];
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
    butterfly(*k, inputs.mat(0)?, inputs.mat(1)?, out, scalars, be.par());
    Ok(())
});
