//! Host kernels over a dense column-major operator `A` (`m×n`, entry `(i, j)` at `i + j·m`) for
//! the least-squares driver ([`super::lstsq`]): the sparse sign sketch `S·[A b]`, the
//! normal-equations product `Aᵀ·(A·v)` in one pass over `A`, and the double-double normal
//! residual `Aᵀ·(b − A·x)` in one pass.
//!
//! **Why on the host.** A dense operator's data already lives in host memory, and these three
//! products are memory-bound streams over it (`8·m·n` bytes against `4·m·n` flops for
//! `Aᵀ·(A·v)`): each pass reads every entry of `A` once, in row blocks of about 1 MiB (one core's L2 on the dev box) that stay
//! in cache between the two products a pass makes (`t = A_blk·v`, then `Aᵀ_blk·t`). The CPU
//! engine's generic plans read `A` twice per `AᵀA·v` and, for the sketch, gather rows of a
//! column-major matrix through a CSR matrix with `s·m` entries (0.62 s for `S·A` at
//! m = 262144, n = 128, against 0.05 s here).
//!
//! **Determinism.** Rows are split into at most [`PARTS`] contiguous parts whatever the thread
//! count; each part's sums run in row order with four interleaved lanes, and the parts are added
//! in order, so every thread count (and every x86 CPU: the AVX2 path runs the same operations, and
//! `mul_add` is a correctly rounded FMA either way) gives the same bits. The sketch is computed
//! column by column in row order.
//!
//! **Double-double.** [`HostDense::normal_residual_dd`] forms `r = b − A·x` as an unevaluated sum
//! `hi + lo` (TwoProduct by FMA, TwoSum; Ogita, Rump and Oishi 2005, Alg. 4.5) and `Aᵀ·r` with
//! the same compensated dot product, so its error is about `n·u²·|A|ᵀ(|b| + |A|·|x|) +
//! m·u²·|A|ᵀ|r|` before the final rounding: every error of a refinement pass is relative to the
//! normal residual, which shrinks, not to `‖b − A·x‖` (see [`super::lstsq`]).

use crate::{Error, Result};
use faer::Mat;
use linops_core::op::SparseSign;
use linops_core::rng::RngState;
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The most row parts a pass is split into (a fixed split, so sums do not depend on the thread
/// count).
const PARTS: usize = 16;
/// Rows per part below which splitting does not pay.
const MIN_PART_ROWS: usize = 2048;

/// A dense column-major `m×n` operator held on the host.
#[derive(Clone, Copy)]
pub(crate) struct HostDense<'a> {
    a: &'a [f64],
    m: usize,
    n: usize,
}

/// Rows per cache block: about 1 MiB of `A` (`rows·n·8` bytes), at least 16.
fn block_rows(n: usize) -> usize {
    (131072 / n.max(1)).clamp(16, 4096)
}

/// The row parts of an `m`-row pass: at most [`PARTS`], each at least [`MIN_PART_ROWS`] rows
/// (one part when `m` is smaller).
fn parts(m: usize) -> Vec<Range<usize>> {
    let k = (m / MIN_PART_ROWS).clamp(1, PARTS);
    let len = m.div_ceil(k);
    (0..k)
        .map(|p| p * len..((p + 1) * len).min(m))
        .filter(|r| !r.is_empty())
        .collect()
}

/// `f` on every item of `work` across the available cores (work taken in order by an atomic
/// counter), results in item order.
fn run_all<W: Sync, T: Send>(work: &[W], f: impl Fn(&W) -> T + Sync) -> Vec<T> {
    let threads = std::thread::available_parallelism()
        .map(std::num::NonZeroUsize::get)
        .unwrap_or(1)
        .min(work.len())
        .max(1);
    if threads == 1 {
        return work.iter().map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let mut done: Vec<(usize, T)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        let k = next.fetch_add(1, Ordering::Relaxed);
                        if k >= work.len() {
                            break out;
                        }
                        out.push((k, f(&work[k])));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a host kernel thread panicked"))
            .collect()
    });
    done.sort_unstable_by_key(|(k, _)| *k);
    done.into_iter().map(|(_, t)| t).collect()
}

/// Whether the AVX2 + FMA path may run (checked once per call; cheap).
#[cfg(target_arch = "x86_64")]
fn has_avx2_fma() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

/// Runs `$body` (an expression over `#[inline(always)]` helpers) compiled for AVX2 + FMA when
/// the CPU has them, else for the baseline target; both compute the same bits.
macro_rules! dispatch {
    (($($arg:ident : $ty:ty),*) -> $ret:ty, $body:expr) => {{
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2,fma")]
        unsafe fn fast($($arg: $ty),*) -> $ret {
            $body
        }
        fn plain($($arg: $ty),*) -> $ret {
            $body
        }
        #[cfg(target_arch = "x86_64")]
        {
            if has_avx2_fma() {
                // SAFETY: the CPU supports AVX2 and FMA (checked just above), the only
                // requirement of a `target_feature` function.
                unsafe { fast($($arg),*) }
            } else {
                plain($($arg),*)
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            plain($($arg),*)
        }
    }};
}

/// `Σ a_k·t_k` in four interleaved lanes added as `(l0 + l1) + (l2 + l3)`.
#[inline(always)]
fn dot4(a: &[f64], t: &[f64]) -> f64 {
    let mut l = [0.0f64; 4];
    let (ac, tc) = (a.chunks_exact(4), t.chunks_exact(4));
    let (ar, tr) = (ac.remainder(), tc.remainder());
    for (x, y) in ac.zip(tc) {
        for k in 0..4 {
            l[k] += x[k] * y[k];
        }
    }
    for (k, (x, y)) in ar.iter().zip(tr).enumerate() {
        l[k] += x * y;
    }
    (l[0] + l[1]) + (l[2] + l[3])
}

/// TwoSum: `s + e = a + b` exactly with `s = fl(a + b)`.
#[inline(always)]
fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let bb = s - a;
    (s, (a - (s - bb)) + (b - bb))
}

/// `Σ a_k·(h_k + l_k)` as a double-double `(hi, lo)` in four interleaved lanes (compensated dot
/// product: TwoProduct by FMA and TwoSum), the lanes added in order.
#[inline(always)]
fn dot_dd4(a: &[f64], h: &[f64], l: &[f64]) -> (f64, f64) {
    let (mut sh, mut sl) = ([0.0f64; 4], [0.0f64; 4]);
    let n4 = a.len() / 4 * 4;
    let mut i = 0;
    while i < n4 {
        for k in 0..4 {
            let (x, y) = (a[i + k], h[i + k]);
            let p = x * y;
            let pe = x.mul_add(y, -p);
            let (s, e) = two_sum(sh[k], p);
            sh[k] = s;
            sl[k] += e + pe + x * l[i + k];
        }
        i += 4;
    }
    for k in 0..a.len() - n4 {
        let (x, y) = (a[n4 + k], h[n4 + k]);
        let p = x * y;
        let pe = x.mul_add(y, -p);
        let (s, e) = two_sum(sh[k], p);
        sh[k] = s;
        sl[k] += e + pe + x * l[n4 + k];
    }
    let (mut hi, mut lo) = (sh[0], sl[0]);
    for k in 1..4 {
        let (s, e) = two_sum(hi, sh[k]);
        hi = s;
        lo += e + sl[k];
    }
    (hi, lo)
}

impl<'a> HostDense<'a> {
    /// The operator over column-major `a` (`m×n`).
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] when `a.len() != m·n`.
    pub(crate) fn new(a: &'a [f64], m: usize, n: usize) -> Result<Self> {
        if a.len() != m * n {
            return Err(Error::ShapeMismatch {
                context: "host dense operator".into(),
                expected: format!("{} entries ({m}x{n})", m * n),
                found: format!("{}", a.len()),
            });
        }
        Ok(Self { a, m, n })
    }

    fn col(&self, j: usize, rows: Range<usize>) -> &'a [f64] {
        &self.a[j * self.m + rows.start..j * self.m + rows.end]
    }

    /// `S·[A c]` (`d×(n+1)`) for the `d×m` sparse sign sketch `S` with `s` nonzeros per column
    /// from `rng` (the entries of [`SparseSign::new`], bit for bit) and an extra column `c`.
    ///
    /// # Errors
    /// As [`SparseSign::column_entries`]; [`Error::ShapeMismatch`] when `c` has not `m` entries;
    /// [`Error::InvalidArgument`] when `d` exceeds `u32`.
    pub(crate) fn sparse_sign_sketch(
        &self,
        c: &[f64],
        d: usize,
        s: usize,
        rng: &RngState,
    ) -> Result<Mat<f64>> {
        let (m, n) = (self.m, self.n);
        if c.len() != m {
            return Err(Error::ShapeMismatch {
                context: "sketch of [A c]".into(),
                expected: format!("{m} entries (rows of A)"),
                found: format!("{}", c.len()),
            });
        }
        if u32::try_from(d).is_err() {
            return Err(Error::InvalidArgument(format!(
                "sparse sign sketch with d = {d} rows exceeds u32 row indices"
            )));
        }
        if d >= 1 << 31 {
            return Err(Error::InvalidArgument(format!(
                "sparse sign sketch with d = {d} rows: at most 2^31 - 1 rows on the host path"
            )));
        }
        // The pattern, row i of A ↔ column i of S: s row indices per i, the sign in bit 31.
        let ps = parts(m);
        let chunks: Vec<Result<Vec<u32>>> = run_all(&ps, |r| {
            let mut idx = Vec::with_capacity(r.len() * s);
            for i in r.clone() {
                for (row, sg) in SparseSign::column_entries(d, s, rng, i)? {
                    idx.push(row as u32 | if sg < 0.0 { 1 << 31 } else { 0 });
                }
            }
            Ok(idx)
        });
        let mut idx = Vec::with_capacity(m * s);
        for ch in chunks {
            idx.extend_from_slice(&ch?);
        }
        let scale = 1.0 / (s as f64).sqrt();
        // Columns of [A c] in groups of up to SCATTER that share each index load, the groups
        // spread over the threads; each output column is summed by one thread in row order, so
        // the bits do not depend on the thread count (nor on SCATTER).
        let groups: Vec<Range<usize>> = (0..(n + 1).div_ceil(SCATTER))
            .map(|g| SCATTER * g..(SCATTER * g + SCATTER).min(n + 1))
            .collect();
        let this = *self;
        let idx = &idx[..];
        // Each group's output columns are interleaved (`out[row] = [y₀, …, y₇][row]`): one code
        // adds an 8-vector, two 256-bit adds with AVX2.
        let blocks: Vec<Vec<[f64; SCATTER]>> = run_all(&groups, |g| {
            let src: Vec<&[f64]> = g
                .clone()
                .map(|j| if j < n { this.col(j, 0..m) } else { c })
                .collect();
            scatter(&src, idx, s, d)
        });
        let mut sa = Mat::<f64>::zeros(d, n + 1);
        for (g, block) in groups.iter().zip(blocks) {
            for (jj, j) in g.clone().enumerate() {
                for (i, y) in block.iter().enumerate() {
                    sa[(i, j)] = y[jj] * scale;
                }
            }
        }
        Ok(sa)
    }

    /// `Aᵀ·(A·v)` in one pass over `A` (module docs).
    pub(crate) fn gram_apply(&self, v: &[f64]) -> Vec<f64> {
        let this = *self;
        let partial = run_all(&parts(self.m), |r| this.fused_part(r.clone(), v, None).0);
        sum_parts(self.n, partial)
    }

    /// `(Aᵀ·(b − A·x), ‖b − A·x‖)` in f64, one pass over `A`: the residual's rounding is about
    /// `n·u·(|b| + |A|·|x|)` (`cond(A)·u` relative to `x`), enough for a correction far larger.
    pub(crate) fn normal_residual_f64(&self, b: &[f64], x: &[f64]) -> (Vec<f64>, f64) {
        let this = *self;
        let partial = run_all(&parts(self.m), |r| this.fused_part(r.clone(), x, Some(b)));
        let rr: f64 = partial.iter().map(|p| p.1).sum();
        let mut g = sum_parts(self.n, partial.into_iter().map(|p| p.0).collect());
        g.iter_mut().for_each(|v| *v = -*v);
        (g, rr.sqrt())
    }

    /// One part of `Aᵀ·t`, `t = A·v − shift`, and `‖t‖²`, block by block.
    fn fused_part(&self, r: Range<usize>, v: &[f64], shift: Option<&[f64]>) -> (Vec<f64>, f64) {
        let (a, m, n) = (self.a, self.m, self.n);
        dispatch!((a: &[f64], m: usize, n: usize, r: Range<usize>, v: &[f64], shift: Option<&[f64]>) -> (Vec<f64>, f64), {
            let rb = block_rows(n);
            let mut acc = vec![0.0f64; n];
            let mut tt = 0.0f64;
            let mut t = vec![0.0f64; rb];
            let mut i0 = r.start;
            while i0 < r.end {
                let i1 = (i0 + rb).min(r.end);
                let t = &mut t[..i1 - i0];
                match shift {
                    Some(b) => t.iter_mut().zip(&b[i0..i1]).for_each(|(ti, bi)| *ti = -bi),
                    None => t.fill(0.0),
                }
                gemv_block(a, m, i0, v, t);
                if shift.is_some() {
                    tt += dot4(t, t);
                }
                for (j, o) in acc.iter_mut().enumerate() {
                    *o += dot4(&a[j * m + i0..j * m + i1], t);
                }
                i0 = i1;
            }
            (acc, tt)
        })
    }

    /// `(Aᵀ·(b − A·x), ‖b − A·x‖)` with the residual and the product in double-double, rounded
    /// to f64 at the end (module docs).
    pub(crate) fn normal_residual_dd(&self, b: &[f64], x: &[f64]) -> (Vec<f64>, f64) {
        let this = *self;
        let partial = run_all(&parts(self.m), |r| this.normal_part(r.clone(), b, x));
        let n = self.n;
        let (mut hi, mut lo, mut rr) = (vec![0.0f64; n], vec![0.0f64; n], 0.0f64);
        for (ph, pl, prr) in partial {
            for j in 0..n {
                let (s, e) = two_sum(hi[j], ph[j]);
                hi[j] = s;
                lo[j] += e + pl[j];
            }
            rr += prr;
        }
        let g = hi.iter().zip(&lo).map(|(h, l)| h + l).collect();
        (g, rr.sqrt())
    }

    /// `b − A·x` in double-double, rounded to f64: `fl(r)·(1 + δ)`, `|δ| ≤ u`, until `|r|` falls
    /// to about `n·u·|A|·|x|` (module docs).
    pub(crate) fn residual_dd(&self, b: &[f64], x: &[f64]) -> Vec<f64> {
        let (a, m, n) = (self.a, self.m, self.n);
        let ps = parts(m);
        let pieces = run_all(&ps, |r| {
            let r = r.clone();
            dispatch!((a: &[f64], m: usize, n: usize, r: Range<usize>, b: &[f64], x: &[f64]) -> Vec<f64>, {
                let rb = block_rows(n);
                let mut out = vec![0.0f64; r.len()];
                let mut l = vec![0.0f64; rb];
                let mut i0 = r.start;
                while i0 < r.end {
                    let i1 = (i0 + rb).min(r.end);
                    let h = &mut out[i0 - r.start..i1 - r.start];
                    residual_block(a, m, i0, b, x, h, &mut l[..i1 - i0]);
                    i0 = i1;
                }
                out
            })
        });
        pieces.concat()
    }

    fn normal_part(&self, r: Range<usize>, b: &[f64], x: &[f64]) -> (Vec<f64>, Vec<f64>, f64) {
        let (a, m, n) = (self.a, self.m, self.n);
        dispatch!((a: &[f64], m: usize, n: usize, r: Range<usize>, b: &[f64], x: &[f64]) -> (Vec<f64>, Vec<f64>, f64), {
            let rb = block_rows(n);
            let (mut gh, mut gl, mut rr) = (vec![0.0f64; n], vec![0.0f64; n], 0.0f64);
            let (mut h, mut l) = (vec![0.0f64; rb], vec![0.0f64; rb]);
            let mut i0 = r.start;
            while i0 < r.end {
                let i1 = (i0 + rb).min(r.end);
                let (h, l) = (&mut h[..i1 - i0], &mut l[..i1 - i0]);
                residual_block(a, m, i0, b, x, h, l);
                rr += dot4(h, h);
                for j in 0..n {
                    let (ph, pl) = dot_dd4(&a[j * m + i0..j * m + i1], h, l);
                    let (s, e) = two_sum(gh[j], ph);
                    gh[j] = s;
                    gl[j] += e + pl;
                }
                i0 = i1;
            }
            (gh, gl, rr)
        })
    }
}

/// Columns per group of the sparse sign sketch's scatter (each group's output, `d·64` bytes,
/// stays in L2 for `d` up to about 16000).
const SCATTER: usize = 8;

/// Columns per group in the `A·v` products of a block.
const GROUP: usize = 8;

/// `t += A[i0..i0 + t.len(), :]·v`, the columns in groups of [`GROUP`] with each entry kept in a
/// register across the group: the same products added in the same order as one column at a
/// time (so the same bits), with one load and store of `t` per group instead of per column. The
/// group's eight streams of `A` also keep the memory system busier than one: 19 GB/s against
/// 12 GB/s for the whole `Aᵀ·(A·v)` pass on the 2-core dev box (peak read 19 GB/s).
#[inline(always)]
fn gemv_block(a: &[f64], m: usize, i0: usize, v: &[f64], t: &mut [f64]) {
    let len = t.len();
    let mut groups = v.chunks_exact(GROUP);
    let mut j = 0;
    for vs in &mut groups {
        let vs: [f64; GROUP] = std::array::from_fn(|q| vs[q]);
        let c: [&[f64]; GROUP] = std::array::from_fn(|q| &a[(j + q) * m + i0..][..len]);
        for (i, ti) in t.iter_mut().enumerate() {
            let mut y = *ti;
            for q in 0..GROUP {
                y += c[q][i] * vs[q];
            }
            *ti = y;
        }
        j += GROUP;
    }
    for (jj, &vj) in groups.remainder().iter().enumerate() {
        let cj = &a[(j + jj) * m + i0..][..len];
        for (ti, &aij) in t.iter_mut().zip(cj) {
            *ti += aij * vj;
        }
    }
}

/// Rows `i0..i0 + h.len()` of `b − A·x` as renormalized double-double pairs `h + l` (`h` the
/// rounded residual).
#[inline(always)]
fn residual_block(
    a: &[f64],
    m: usize,
    i0: usize,
    b: &[f64],
    x: &[f64],
    h: &mut [f64],
    l: &mut [f64],
) {
    let i1 = i0 + h.len();
    h.copy_from_slice(&b[i0..i1]);
    l.fill(0.0);
    let len = h.len();
    // Columns in groups of eight with each entry's pair kept in registers across the group:
    // the same operations in the same order as one column at a time, one load and store of
    // `h`, `l` per group instead of per column.
    let mut groups = x.chunks_exact(GROUP);
    let mut j = 0;
    for xs in &mut groups {
        let xs: [f64; GROUP] = std::array::from_fn(|q| xs[q]);
        let c: [&[f64]; GROUP] = std::array::from_fn(|q| &a[(j + q) * m + i0..][..len]);
        for (i, (hi, lo)) in h.iter_mut().zip(l.iter_mut()).enumerate() {
            let (mut hv, mut lv) = (*hi, *lo);
            for q in 0..GROUP {
                let aij = c[q][i];
                let p = aij * xs[q];
                let pe = aij.mul_add(xs[q], -p);
                let (s, e) = two_sum(hv, -p);
                hv = s;
                lv += e - pe;
            }
            (*hi, *lo) = (hv, lv);
        }
        j += GROUP;
    }
    for (jj, &xj) in groups.remainder().iter().enumerate() {
        let cj = &a[(j + jj) * m + i0..][..len];
        for ((hi, lo), &aij) in h.iter_mut().zip(l.iter_mut()).zip(cj) {
            let p = aij * xj;
            let pe = aij.mul_add(xj, -p);
            let (s, e) = two_sum(*hi, -p);
            *hi = s;
            *lo += e - pe;
        }
    }
    for (hi, lo) in h.iter_mut().zip(l.iter_mut()) {
        let (s, e) = two_sum(*hi, *lo);
        *hi = s;
        *lo = e;
    }
}

/// `Σ_i ±src[·][i]` into the interleaved rows `idx` codes name (row in bits 0–30, sign in bit
/// 31; `s` codes per `i`), for up to [`SCATTER`] source columns (missing lanes add zeros). Each
/// output entry is summed in row order, the same sum as one column at a time.
fn scatter(src: &[&[f64]], idx: &[u32], s: usize, d: usize) -> Vec<[f64; SCATTER]> {
    dispatch!((src: &[&[f64]], idx: &[u32], s: usize, d: usize) -> Vec<[f64; SCATTER]>, {
        let mut out = vec![[0.0f64; SCATTER]; d];
        let m = src.first().map_or(0, |c| c.len());
        for (i, codes) in idx.chunks_exact(s).take(m).enumerate() {
            let mut a = [0.0f64; SCATTER];
            for (lane, col) in a.iter_mut().zip(src) {
                *lane = col[i];
            }
            let neg = a.map(|v| -v);
            for &code in codes {
                let y = &mut out[(code & 0x7fff_ffff) as usize];
                let v = if code >> 31 == 0 { &a } else { &neg };
                for k in 0..SCATTER {
                    y[k] += v[k];
                }
            }
        }
        out
    })
}

/// The parts' `n`-vectors added in part order.
fn sum_parts(n: usize, partial: Vec<Vec<f64>>) -> Vec<f64> {
    let mut out = vec![0.0f64; n];
    for p in partial {
        for (o, v) in out.iter_mut().zip(p) {
            *o += v;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(m: usize, n: usize) -> Vec<f64> {
        (0..m * n)
            .map(|k| ((k * 7919 % 1013) as f64 / 1013.0 - 0.5) * (1.0 + (k % 5) as f64))
            .collect()
    }

    #[test]
    fn gram_apply_equals_two_products() {
        let (m, n) = (3 * MIN_PART_ROWS + 37, 19);
        let a = data(m, n);
        let h = HostDense::new(&a, m, n).unwrap();
        let v: Vec<f64> = (0..n).map(|j| 1.0 / (1.0 + j as f64)).collect();
        let g = h.gram_apply(&v);
        let av: Vec<f64> = (0..m)
            .map(|i| (0..n).map(|j| a[i + j * m] * v[j]).sum())
            .collect();
        for (j, gj) in g.iter().enumerate() {
            let want: f64 = (0..m).map(|i| a[i + j * m] * av[i]).sum();
            let mag: f64 = (0..m).map(|i| (a[i + j * m] * av[i]).abs()).sum();
            // Both sums are recursive or blocked f64 sums of the same m·n products: each within
            // (m + n)·u·Σ|terms| of the exact value.
            assert!(
                (gj - want).abs() <= 2.0 * (m + n) as f64 * f64::EPSILON * mag,
                "column {j}: {gj} vs {want}"
            );
        }
    }

    #[test]
    fn normal_residual_keeps_bits_below_f64_cancellation() {
        // A = [1, 1; 1, 1+t] (column-major), x = [1 + t, 3t]: r = [0, −3t²] exactly, which an
        // f64 residual loses; Aᵀ·r = [−3t², −3t²(1 + t)].
        let t = 2f64.powi(-30);
        let a = [1.0, 1.0, 1.0, 1.0 + t];
        let h = HostDense::new(&a, 2, 2).unwrap();
        let (g, rn) = h.normal_residual_dd(&[1.0 + 4.0 * t, 1.0 + 4.0 * t], &[1.0 + t, 3.0 * t]);
        assert_eq!(rn, 3.0 * t * t);
        assert_eq!(g, vec![-3.0 * t * t, -3.0 * t * t * (1.0 + t)]);
    }

    #[test]
    fn residual_keeps_bits_below_f64_cancellation() {
        let t = 2f64.powi(-30);
        let a = [1.0, 1.0, 1.0, 1.0 + t];
        let r = HostDense::new(&a, 2, 2)
            .unwrap()
            .residual_dd(&[1.0 + 4.0 * t, 1.0 + 4.0 * t], &[1.0 + t, 3.0 * t]);
        assert_eq!(
            r,
            vec![0.0, -3.0 * t * t],
            "the 3t² term (below u·|A|·|x|) is kept"
        );
    }

    #[test]
    fn parts_do_not_change_bits() {
        // The same rows as one block and as the parts and cache blocks of a pass: the residual is
        // row-wise, so the split cannot change a bit.
        let (m, n) = (5 * MIN_PART_ROWS + 17, 5);
        let a = data(m, n);
        let x: Vec<f64> = (0..n).map(|j| 1.0 / (1.0 + j as f64)).collect();
        let b: Vec<f64> = (0..m).map(|i| (i as f64).cos()).collect();
        let h = HostDense::new(&a, m, n).unwrap();
        let whole = h.residual_dd(&b, &x);
        let mut one = vec![0.0; m];
        let mut l = vec![0.0; m];
        residual_block(&a, m, 0, &b, &x, &mut one, &mut l);
        assert_eq!(whole, one);
    }

    #[test]
    fn grouped_products_equal_one_column_at_a_time() {
        // Two groups of eight columns and a remainder of three: the grouped loops must make the
        // same operations in the same order as the column-at-a-time definition, bit for bit.
        let (m, n, i0, rows) = (300, 19, 37, 101);
        let a = data(m, n);
        let v: Vec<f64> = (0..n).map(|j| (j as f64 + 0.5).sin()).collect();
        let b: Vec<f64> = (0..m).map(|i| (i as f64).cos()).collect();
        let mut t: Vec<f64> = (0..rows).map(|i| i as f64 * 0.25).collect();
        let mut want = t.clone();
        gemv_block(&a, m, i0, &v, &mut t);
        for (j, &vj) in v.iter().enumerate() {
            for (k, w) in want.iter_mut().enumerate() {
                *w += a[j * m + i0 + k] * vj;
            }
        }
        assert_eq!(t, want);
        let (mut h, mut l) = (vec![0.0; rows], vec![0.0; rows]);
        residual_block(&a, m, i0, &b, &v, &mut h, &mut l);
        for k in 0..rows {
            let (mut hi, mut lo) = (b[i0 + k], 0.0f64);
            for (j, &xj) in v.iter().enumerate() {
                let aij = a[j * m + i0 + k];
                let p = aij * xj;
                let pe = aij.mul_add(xj, -p);
                let (s, e) = two_sum(hi, -p);
                hi = s;
                lo += e - pe;
            }
            let (s, e) = two_sum(hi, lo);
            assert_eq!((h[k], l[k]), (s, e), "row {k}");
        }
    }

    #[test]
    fn sketch_matches_the_sparse_sign_operator() {
        // n + 1 = 4 columns (one partial group) and 12 (a full group of eight and a partial one).
        for n in [3, 11] {
            sketch_matches(n);
        }
    }

    fn sketch_matches(n: usize) {
        let (m, d, s) = (5000, 24, 4);
        let a = data(m, n);
        let c: Vec<f64> = (0..m).map(|i| (i as f64).sin()).collect();
        let rng = RngState::new(11);
        let sa = HostDense::new(&a, m, n)
            .unwrap()
            .sparse_sign_sketch(&c, d, s, &rng)
            .unwrap();
        let op = SparseSign::new(d, m, s, rng).unwrap();
        let dense = linops_core::LeafOp::to_dense(&op);
        for j in 0..=n {
            for i in 0..d {
                let want: f64 = (0..m)
                    .map(|k| dense.get(i, k) * if j < n { a[k + j * m] } else { c[k] })
                    .sum();
                let mag: f64 = (0..m)
                    .map(|k| (dense.get(i, k) * if j < n { a[k + j * m] } else { c[k] }).abs())
                    .sum();
                assert!(
                    (sa[(i, j)] - want).abs() <= 2.0 * m as f64 * f64::EPSILON * mag,
                    "({i}, {j}): {} vs {want}",
                    sa[(i, j)]
                );
            }
        }
    }

    #[test]
    fn parts_cover_the_rows_once() {
        for m in [1, 100, MIN_PART_ROWS, 17 * MIN_PART_ROWS + 5] {
            let p = parts(m);
            assert_eq!(p.first().unwrap().start, 0);
            assert_eq!(p.last().unwrap().end, m);
            assert!(p.windows(2).all(|w| w[0].end == w[1].start));
            assert!(p.len() <= PARTS);
        }
    }
}
