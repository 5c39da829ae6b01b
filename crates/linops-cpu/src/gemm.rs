//! `gemm` on the CPU: one faer `matmul` (`Accum::Replace` when `beta == 0`, so the output is
//! never read); with `alpha == 0` the product is not formed (BLAS semantics).
//!
//! `gemm_diag` (`out = alpha·(A·B + diag(d)·X) + beta·out`, the output pass of diagonal plus low
//! rank) in column panels of [`diag_panel_cols`] columns: each panel of `out` is first set to
//! `alpha·d∘X + beta·out` (one read of `X` and, with `beta ≠ 0`, of `out`), then gets
//! `alpha·A·B` added by [`matmul_par`] (parallel over the backend's `Par`, with the same bits
//! for every thread count) while the panel is still in cache, so `out` crosses memory once.
//! Cost: `2·m·n·k + 2·m·n` FLOPs.
//!
//! Both run through [`matmul_par`]: faer's `matmul` with the backend's `Par`, except for two
//! skinny shapes. On the 2-core development VM (2026-12-02, quiet) faer with two threads took as
//! long as with one for `(4096×64)ᵀ · 4096×64` (min 0.32–0.34 ms against 0.33 ms), the first
//! product of a low-rank, Householder or Pixelated apply to 64 columns; the inner-chunk split
//! below runs it over both cores. For `4096×64 · 64×64` faer's own split works (0.22 against
//! 0.32 ms) and the row-block split measured the same as it; it is kept so that the bits of
//! these products do not depend on faer's choice of split:
//! - a tall output with a short inner dimension (`k ≤ 256`, `n ≤ 256`, at least two
//!   [`ROW_BLOCK`]s of rows) is cut into blocks of [`ROW_BLOCK`] rows, each a sequential faer
//!   product, spread over the workers;
//! - a small output with a long inner dimension (`m, n ≤ 256`, `k ≥ 2·`[`K_CHUNK`]) is the sum
//!   of sequential products over chunks of [`K_CHUNK`] of the inner dimension, formed over the
//!   workers and added in chunk order.
//!
//! Products of fewer than [`MIN_SPLIT_MACS`] multiply-adds run sequentially (faer on the calling
//! thread). The blocks and chunks depend on the shape only, so the bits do not depend on the
//! thread count.

use crate::par::{Grain, Rows, for_each_part};
use crate::{CpuElem, t};
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatMut, MatRef, Par};
use linops_core::plan::kernel::{Gemm, GemmDiag};

crate::execute::cpu_kernel!(Gemm, |k, be, inputs, out| {
    if k.alpha == 0.0 {
        scale_or_zero(out, k.beta);
        return Ok(());
    }
    let a = if k.trans_a {
        inputs.mat(0)?.transpose()
    } else {
        inputs.mat(0)?
    };
    let b = if k.trans_b {
        inputs.mat(1)?.transpose()
    } else {
        inputs.mat(1)?
    };
    let accum = if k.beta == 0.0 {
        Accum::Replace
    } else {
        if k.beta != 1.0 {
            scale_in_place(out, t(k.beta));
        }
        Accum::Add
    };
    matmul_par(out.as_mut(), accum, a, b, t::<T>(k.alpha), be.par());
    Ok(())
});

/// Bytes of the `out` and `X` panels of one `gemm_diag` panel: 4 MiB, inside the development
/// machine's 32 MiB L3 next to `A` (`m×k`) and the panel of `B`, so the product re-reads the
/// panel the epilogue just wrote from cache, not from memory.
const DIAG_PANEL_BYTES: usize = 4 << 20;

/// Most columns of a `gemm_diag` panel.
const DIAG_PANEL_MAX_COLS: usize = 256;

/// Columns of one `gemm_diag` panel of `rows` rows of `T`: the `out` and `X` panels fill at
/// most [`DIAG_PANEL_BYTES`], between 1 and [`DIAG_PANEL_MAX_COLS`] columns. Depends on the
/// shape only, so every thread count cuts the same panels.
fn diag_panel_cols<T>(rows: usize) -> usize {
    let per_col = 2 * rows.max(1) * std::mem::size_of::<T>();
    (DIAG_PANEL_BYTES / per_col).clamp(1, DIAG_PANEL_MAX_COLS)
}

crate::execute::cpu_kernel!(GemmDiag, |k, be, inputs, out| {
    if k.alpha == 0.0 {
        scale_or_zero(out, k.beta);
        return Ok(());
    }
    let (a, b, x) = (inputs.mat(0)?, inputs.mat(1)?, inputs.mat(3)?);
    let d = inputs.mat(2)?;
    let width = diag_panel_cols::<T>(out.nrows());
    let mut j0 = 0;
    while j0 < out.ncols() {
        let w = width.min(out.ncols() - j0);
        let mut panel = out.as_mut().subcols_mut(j0, w);
        // panel = alpha·d∘X + beta·panel (over the workers), then panel += alpha·A·B while it
        // is in cache.
        crate::elementwise::alpha_beta_columns(
            panel.as_mut(),
            x.subcols(j0, w),
            Some(d),
            k.alpha,
            k.beta,
            be.par(),
        );
        matmul_par(
            panel,
            Accum::Add,
            a,
            b.subcols(j0, w),
            t::<T>(k.alpha),
            be.par(),
        );
        j0 += w;
    }
    Ok(())
});

/// Rows of one block of a tall, short-inner-dimension product ([`matmul_par`]).
const ROW_BLOCK: usize = 512;

/// Inner-dimension length of one chunk of a small-output, long-inner-dimension product
/// ([`matmul_par`]).
const K_CHUNK: usize = 1024;

/// Largest inner dimension (and output width) of a product split into row blocks, and largest
/// output of one split into inner-dimension chunks.
const SKINNY: usize = 256;

/// Fewest multiply-adds (`m·n·k`) of a product [`matmul_par`] runs over the workers: below this
/// (about 20 µs on one core) starting them costs more than it saves (a low-rank apply to one
/// column, `1024×64 · 64×1`, ran 2–6× slower split), so it runs sequentially — which also keeps
/// the bits of faer's matrix–vector products, whose parallel split depends on the thread
/// count, independent of it.
const MIN_SPLIT_MACS: usize = 1 << 21;

/// `out = alpha·a·b` (`Accum::Replace`) or `out += alpha·a·b` (`Accum::Add`) over `par`: faer's
/// `matmul`, or the row-block and inner-chunk splits of the module docs for the shapes faer
/// runs on one core.
fn matmul_par<T: CpuElem>(
    out: MatMut<'_, T>,
    accum: Accum,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    alpha: T,
    par: Par,
) {
    let (m, n, k) = (out.nrows(), out.ncols(), a.ncols());
    let how = split(m, n, k, par);
    if how == Split::Seq {
        matmul(out, accum, a, b, alpha, Par::Seq);
    } else if how == Split::Faer {
        matmul(out, accum, a, b, alpha, par);
    } else if how == Split::Rows {
        // Fixed blocks of ROW_BLOCK rows, handed out in runs over the workers.
        let mut blocks = Vec::with_capacity(m.div_ceil(ROW_BLOCK));
        let mut rest = out;
        while rest.nrows() > ROW_BLOCK {
            let (top, bottom) = rest.split_at_row_mut(ROW_BLOCK);
            blocks.push(Rows(top));
            rest = bottom;
        }
        blocks.push(Rows(rest));
        for_each_part(par, blocks.as_mut_slice(), Grain::min(1), &|first, part| {
            for (i, Rows(block)) in part.iter_mut().enumerate() {
                let r0 = (first + i) * ROW_BLOCK;
                let rows = block.nrows();
                matmul(
                    block.as_mut(),
                    accum,
                    a.subrows(r0, rows),
                    b,
                    alpha,
                    Par::Seq,
                );
            }
        });
    } else {
        // Partial products over fixed chunks of the inner dimension, summed in chunk order.
        let mut partial: Vec<Mat<T>> = (0..k.div_ceil(K_CHUNK)).map(|_| Mat::zeros(m, n)).collect();
        for_each_part(
            par,
            partial.as_mut_slice(),
            Grain::min(1),
            &|first, part| {
                for (i, p) in part.iter_mut().enumerate() {
                    let k0 = (first + i) * K_CHUNK;
                    let len = K_CHUNK.min(k - k0);
                    let (ac, bc) = (a.subcols(k0, len), b.subrows(k0, len));
                    matmul(p.as_mut(), Accum::Replace, ac, bc, t(1.0), Par::Seq);
                }
            },
        );
        let mut out = out;
        for j in 0..n {
            for i in 0..m {
                let sum = partial[1..]
                    .iter()
                    .fold(partial[0][(i, j)], |acc, p| acc + p[(i, j)]);
                let v = alpha * sum;
                out[(i, j)] = match accum {
                    Accum::Replace => v,
                    Accum::Add => out[(i, j)] + v,
                };
            }
        }
    }
}

/// How [`matmul_par`] runs an `m×k · k×n` product over `par`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Split {
    /// faer's `matmul` on the calling thread.
    Seq,
    /// faer's `matmul` with `par`.
    Faer,
    /// Blocks of [`ROW_BLOCK`] rows.
    Rows,
    /// Chunks of [`K_CHUNK`] of the inner dimension.
    Inner,
}

/// The [`Split`] of an `m×k · k×n` product over `par` (the rules of the module docs).
fn split(m: usize, n: usize, k: usize, par: Par) -> Split {
    if par.degree() <= 1 || m.saturating_mul(n).saturating_mul(k) < MIN_SPLIT_MACS {
        Split::Seq
    } else if k <= SKINNY && n <= SKINNY && m >= 2 * ROW_BLOCK {
        Split::Rows
    } else if m <= SKINNY && n <= SKINNY && k >= 2 * K_CHUNK {
        Split::Inner
    } else {
        Split::Faer
    }
}

/// `m ← beta·m`, or zeros when `beta == 0` (BLAS semantics: the old values are not read).
fn scale_or_zero<T: CpuElem>(m: &mut Mat<T>, beta: f64) {
    if beta == 0.0 {
        m.fill(t(0.0));
    } else {
        scale_in_place(m, t(beta));
    }
}

/// `m ← s·m`.
fn scale_in_place<T: CpuElem>(m: &mut Mat<T>, s: T) {
    for j in 0..m.ncols() {
        for v in m.col_as_slice_mut(j) {
            *v *= s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mat(seed: u64, rows: usize, cols: usize) -> Mat<f64> {
        let v = crate::testing::values(seed, rows * cols);
        Mat::from_fn(rows, cols, |i, j| v[i + j * rows])
    }

    /// `alpha·a·b (+ c)` summed in f64 one term at a time, the definition.
    fn reference(
        a: MatRef<'_, f64>,
        b: MatRef<'_, f64>,
        c: Option<&Mat<f64>>,
        alpha: f64,
    ) -> Mat<f64> {
        Mat::from_fn(a.nrows(), b.ncols(), |i, j| {
            let s: f64 = (0..a.ncols()).map(|p| a[(i, p)] * b[(p, j)]).sum();
            alpha * s + c.map_or(0.0, |c| c[(i, j)])
        })
    }

    /// Every path of `matmul_par` (row blocks with a partial last block, inner chunks with a
    /// partial last chunk, transposed operands, faer's own split and the sequential case) gives
    /// the product within the GEMM bound `k·u·Σ|a||b|` of the definition, for `Accum::Replace`
    /// on NaN storage (never read) and `Accum::Add`, and the same bits for 1, 2, 3 and 5 workers.
    #[test]
    fn matmul_par_splits_match_the_product_and_not_the_thread_count() {
        // (m, n, k, transposed a): row blocks, inner chunks, both transposed, faer's split.
        let shapes = [
            (2 * ROW_BLOCK + 37, 64, 64, false, Split::Rows),
            (3 * ROW_BLOCK, 8, 256, false, Split::Rows),
            (64, 64, 2 * K_CHUNK + 5, true, Split::Inner),
            (17, 40, 4 * K_CHUNK, false, Split::Inner),
            (300, 300, 300, false, Split::Faer),
            (3 * ROW_BLOCK, 1, 64, false, Split::Seq),
            (5, 4, 3, false, Split::Seq),
        ];
        for (si, &(m, n, k, trans, how)) in shapes.iter().enumerate() {
            assert_eq!(split(m, n, k, Par::rayon(2)), how, "shape {si}");
            assert_eq!(split(m, n, k, Par::Seq), Split::Seq);
            let seed = 10 * si as u64;
            let a_store = if trans {
                mat(seed, k, m)
            } else {
                mat(seed, m, k)
            };
            let a = if trans {
                a_store.transpose()
            } else {
                a_store.as_ref()
            };
            let b = mat(seed + 1, k, n);
            let c = mat(seed + 2, m, n);
            let alpha: f64 = -0.75;
            let bound = |i: usize, j: usize| {
                let s: f64 = (0..k).map(|p| (a[(i, p)] * b[(p, j)]).abs()).sum();
                4.0 * k as f64 * f64::EPSILON * (alpha.abs() * s + c[(i, j)].abs()) + 1e-300
            };
            for accum in [Accum::Replace, Accum::Add] {
                let want = reference(
                    a,
                    b.as_ref(),
                    matches!(accum, Accum::Add).then_some(&c),
                    alpha,
                );
                let mut bits: Option<Mat<f64>> = None;
                for workers in [1, 2, 3, 5] {
                    let par = if workers == 1 {
                        Par::Seq
                    } else {
                        Par::rayon(workers)
                    };
                    let mut out = match accum {
                        Accum::Replace => Mat::from_fn(m, n, |_, _| f64::NAN),
                        Accum::Add => c.clone(),
                    };
                    matmul_par(out.as_mut(), accum, a, b.as_ref(), alpha, par);
                    for j in 0..n {
                        for i in 0..m {
                            let err = (out[(i, j)] - want[(i, j)]).abs();
                            assert!(
                                err <= bound(i, j),
                                "shape {si} ({m}x{n}x{k}) at ({i},{j}): error {err:e}"
                            );
                        }
                    }
                    // Bits: the same for every count of two or more workers (with one, faer's
                    // unsplit product runs).
                    if workers > 1 {
                        match &bits {
                            None => bits = Some(out),
                            Some(first) => assert!(
                                (0..n).all(|j| (0..m)
                                    .all(|i| first[(i, j)].to_bits() == out[(i, j)].to_bits())),
                                "shape {si}: bits differ with {workers} workers"
                            ),
                        }
                    }
                }
            }
        }
    }
}
