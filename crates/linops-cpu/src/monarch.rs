//! `monarch` on the CPU: a whole Monarch product in one pass over the columns.
//!
//! Mathematics: `out = alpha·op(M)·x + beta·out`, `M = P_out·L·P_mid·R` (see
//! `linops_core::Kernel::Monarch` for the shapes `b₁, b₂, p, s`). Storage: `R` as given (`b₂ ×
//! p·b₁`, column `t·p + j` is `R_t[:, j]`, contiguous), `L` rearranged once per call into
//! `Lp[(σ·b₁ + t)·b₂ + l] = L_l[σ, t]` (contiguous in `l`), and per worker one scratch of the
//! `b₁·b₂` intermediate (plus the output column when `beta ≠ 0`), which stays in L1/L2.
//! Per column, without `trans`: `T_t = Σ_j R_t[:, j]·x[t·p + j]` (axpys of length `b₂`), then the
//! output rows `σ·b₂ .. σ·b₂ + b₂` (contiguous: the permutations are in the index arithmetic) are
//! `Σ_t Lp[σ, t, :] ⊙ T_t`. With `trans` the same two loops in reverse: `T_t = Σ_σ Lp[σ, t, :] ⊙
//! x[σ·b₂ ..]`, then `y[t·p + j] = R_t[:, j]·T_t`. Every inner loop runs over `b₂` contiguous
//! entries (vectorized). Cost: `2·b₁·b₂·(p + s)` FLOPs per column, `X` read once and `out`
//! written once; the parameters are re-read from cache for every column, which is why the cost
//! model keeps the two block GEMMs for large blocks.

use crate::par::for_each_col;
use crate::simd::Scratch;
use crate::{CpuElem, t};
use faer::{Mat, MatRef, Par};
use linops_core::plan::kernel::monarch_dims;
use linops_core::{Error, Result};

/// `out = alpha·op(M)·x + beta·out` (see the module docs). Shapes were checked by the planner.
pub(crate) fn monarch<T: CpuElem>(
    (l, r, x): (MatRef<'_, T>, MatRef<'_, T>, MatRef<'_, T>),
    trans: bool,
    out: &mut Mat<T>,
    (alpha, beta): (f64, f64),
    par: Par,
) -> Result<()> {
    let (b1, b2, p, s) = monarch_dims((l.nrows(), l.ncols()), (r.nrows(), r.ncols()))
        .ok_or_else(|| Error::InvalidArgument("monarch: L and R do not chain".into()))?;
    let mid = b1 * b2;
    let lp: Vec<T> = (0..s * b1 * b2)
        .map(|e| {
            let (st, li) = (e / b2, e % b2);
            let (sg, tt) = (st / b1, st % b1);
            l[(sg, li * b1 + tt)]
        })
        .collect();
    let rc: Vec<T> = (0..r.ncols())
        .flat_map(|c| r.col(c).iter().copied().collect::<Vec<T>>())
        .collect();
    let rows_out = out.nrows();
    let (alpha_t, beta_t) = (t::<T>(alpha), t::<T>(beta));
    let acc_len = if beta == 0.0 { 0 } else { rows_out };
    for_each_col(
        out,
        par,
        || Scratch::<T>::zeroed(mid + acc_len + x.nrows()),
        |buf, j, o| {
            let (tm, rest) = buf.split_at_mut(mid);
            let (acc, xc) = rest.split_at_mut(acc_len);
            match x.col(j).try_as_col_major() {
                Some(c) => xc.copy_from_slice(c.as_slice()),
                None => xc
                    .iter_mut()
                    .zip(x.col(j).iter())
                    .for_each(|(e, v)| *e = *v),
            }
            let y: &mut [T] = if beta == 0.0 { &mut *o } else { &mut *acc };
            if trans {
                // T_t = Σ_σ Lp[σ, t, :] ⊙ x_σ, then y[t·p + j] = R_t[:, j]·T_t.
                tm.fill(t::<T>(0.0));
                for (sg, xs) in xc.chunks_exact(b2).enumerate() {
                    for (tt, tb) in tm.chunks_exact_mut(b2).enumerate() {
                        let w = &lp[(sg * b1 + tt) * b2..(sg * b1 + tt + 1) * b2];
                        for ((d, &a), &v) in tb.iter_mut().zip(w).zip(xs) {
                            *d += a * v;
                        }
                    }
                }
                for (tt, (yb, tb)) in y.chunks_exact_mut(p).zip(tm.chunks_exact(b2)).enumerate() {
                    for (jj, d) in yb.iter_mut().enumerate() {
                        let c = &rc[(tt * p + jj) * b2..(tt * p + jj + 1) * b2];
                        *d = c.iter().zip(tb).fold(t::<T>(0.0), |s, (&a, &v)| s + a * v);
                    }
                }
            } else {
                // T_t = Σ_j R_t[:, j]·x[t·p + j], then y_σ = Σ_t Lp[σ, t, :] ⊙ T_t.
                for (tt, (tb, xs)) in tm.chunks_exact_mut(b2).zip(xc.chunks_exact(p)).enumerate() {
                    tb.fill(t::<T>(0.0));
                    for (jj, &v) in xs.iter().enumerate() {
                        let c = &rc[(tt * p + jj) * b2..(tt * p + jj + 1) * b2];
                        for (d, &a) in tb.iter_mut().zip(c) {
                            *d += a * v;
                        }
                    }
                }
                for (sg, yb) in y.chunks_exact_mut(b2).enumerate() {
                    yb.fill(t::<T>(0.0));
                    for (tt, tb) in tm.chunks_exact(b2).enumerate() {
                        let w = &lp[(sg * b1 + tt) * b2..(sg * b1 + tt + 1) * b2];
                        for ((d, &a), &v) in yb.iter_mut().zip(w).zip(tb) {
                            *d += a * v;
                        }
                    }
                }
            }
            if beta == 0.0 {
                if alpha != 1.0 {
                    o.iter_mut().for_each(|d| *d *= alpha_t);
                }
            } else {
                for (e, &v) in o.iter_mut().zip(acc.iter()) {
                    *e = alpha_t * v + beta_t * *e;
                }
            }
        },
    );
    Ok(())
}

crate::execute::cpu_kernel!(linops_core::plan::kernel::Monarch, |k, be, inputs, out| {
    let args = (inputs.mat(0)?, inputs.mat(1)?, inputs.mat(2)?);
    monarch(args, k.trans, out, (k.alpha, k.beta), be.par())
});
