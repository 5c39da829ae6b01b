//! `dct` on the CPU: the orthonormal DCT-II (`C`) and DCT-III (`Cᵀ = C⁻¹`) of each column.
//!
//! Mathematics: `out = alpha·C·x + beta·out` or `alpha·Cᵀ·x + beta·out` (`inverse`), by Makhoul's
//! reordering around an `n`-point complex FFT, two real columns per FFT. DCT-II: each column is
//! reordered (even entries forward, odd entries backward) into a real sequence `v`; a pair of
//! columns goes through one FFT as `z = v₁ + i·v₂`, whose transform splits into the two
//! Hermitian spectra `V₁[k] = (Z[k] + conj(Z[n−k]))/2` and `V₂[k] = (Z[k] − conj(Z[n−k]))/(2i)`
//! (`Z[n] = Z[0]`), and `X_k = s_k·Re(e^{−iπk/2n}·V_k)`. DCT-III runs the same steps backwards:
//! `V_k = e^{iπk/2n}·(y_k/s_k − i·y_{n−k}/s_{n−k})` (`y_n = 0`) is Hermitian, so a pair goes
//! through one inverse FFT as `V₁ + i·V₂`, whose real and imaginary parts are the two real
//! reordered results (`/n`, then the inverse reorder). A last odd column goes alone (imaginary
//! part zero). Each column's result depends only on its own and its partner's entries, and the
//! partners are fixed (columns `2j` and `2j + 1`), so the bits are the same for every thread
//! count.
//!
//! Storage: `table` is the `n×4` twiddle table of `linops_core::op::Dct` (columns 2 and 3: `cos`,
//! `sin` of `πk/2n`); each apply folds the scale factors (`s_k`, `alpha`, the FFT's `1/n`) into
//! two length-`n` copies of them. The FFT plan (rustfft: AVX when the CPU has it; radix-2/4/8
//! for powers of two, mixed radix or Rader/Bluestein otherwise) is kept in a small process-wide
//! cache ([`plan`]). Each part of the output has one complex buffer and scratch, kept between
//! applies ([`Work::take`]). Outputs of 8 MiB and more (`beta = 0`) are staged a block at a
//! time and copied out with non-temporal stores, fenced once per part. Column pairs are split
//! over the backend's `Par` ([`crate::par::for_each_part`]).
//!
//! Cost: one `n`-point complex FFT per two columns (`5·n·log₂n` flops for powers of two) plus
//! `O(n)` for the reorder, the split and the twiddle per column; `x` is read and `out` written
//! once (read too when `beta ≠ 0`). A pair's output pass runs in blocks ([`BLOCK`]), each
//! followed by its share of the prefetches of the next pair's columns ([`Ahead`]) and, when
//! streaming, by its copy out.

use crate::par::{Grain, for_each_part};
use crate::simd::simd_dispatch;
use crate::{CpuElem, t};
use faer::{ColRef, Mat, MatMut, MatRef, Par};
use rustfft::num_complex::Complex;
use rustfft::{Fft, FftNum, FftPlanner};
use std::any::{Any, TypeId};
use std::sync::{Arc, Mutex};

/// Element types rustfft computes in (`f32`, `f64`): the bridge from the backend's generic `T`
/// to rustfft's `FftNum`, so that [`CpuElem`] need not carry rustfft's traits (whose `from_f64`
/// would clash with [`linops_core::Element::from_f64`]).
///
/// # Examples
/// ```
/// fn takes<T: linops_cpu::FftElem>() {}
/// takes::<f32>();
/// takes::<f64>();
/// ```
pub trait FftElem: Sized {
    /// `out = alpha·C·x + beta·out` or with `Cᵀ`; see the module docs.
    #[allow(clippy::too_many_arguments)]
    fn dct_columns(
        x: MatRef<'_, Self>,
        table: MatRef<'_, Self>,
        out: &mut Mat<Self>,
        inverse: bool,
        alpha: f64,
        beta: f64,
        par: Par,
    );
}

impl FftElem for f32 {
    fn dct_columns(
        x: MatRef<'_, f32>,
        table: MatRef<'_, f32>,
        out: &mut Mat<f32>,
        inverse: bool,
        alpha: f64,
        beta: f64,
        par: Par,
    ) {
        dct(x, table, out, inverse, alpha, beta, par)
    }
}

impl FftElem for f64 {
    fn dct_columns(
        x: MatRef<'_, f64>,
        table: MatRef<'_, f64>,
        out: &mut Mat<f64>,
        inverse: bool,
        alpha: f64,
        beta: f64,
        par: Par,
    ) {
        dct(x, table, out, inverse, alpha, beta, par)
    }
}

/// Most FFT plans kept by [`plan`] (each holds `O(n)` twiddles).
const KEEP_PLANS: usize = 8;

/// One kept FFT plan: its element type, length and direction, and the plan
/// (an `Arc<dyn Fft<T>>`, type-erased so that `f32` and `f64` share the cache).
struct KeptPlan {
    elem: TypeId,
    n: usize,
    inverse: bool,
    fft: Box<dyn Any + Send + Sync>,
}

/// The kept plans, most recently used last.
static PLANS: Mutex<Vec<KeptPlan>> = Mutex::new(Vec::new());

/// The `n`-point FFT plan (inverse: unnormalized backward), from the process-wide cache of the
/// [`KEEP_PLANS`] most recently used ones or planned by rustfft's `FftPlanner` (which picks its
/// AVX algorithms at run time). Planning a large length costs about as much as a few of its
/// FFTs, so an apply of a few columns would otherwise spend most of its time there.
fn plan<T: FftNum>(n: usize, inverse: bool) -> Arc<dyn Fft<T>> {
    let elem = TypeId::of::<T>();
    let found = |p: &KeptPlan| p.elem == elem && p.n == n && p.inverse == inverse;
    {
        let mut plans = PLANS.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = plans.iter().position(found) {
            let kept = plans.remove(i);
            let fft = kept.fft.downcast_ref::<Arc<dyn Fft<T>>>().cloned();
            plans.push(kept);
            if let Some(fft) = fft {
                return fft;
            }
        }
    }
    // Planned outside the lock: another thread may plan the same length meanwhile (harmless).
    let mut planner = FftPlanner::<T>::new();
    let fft = if inverse {
        planner.plan_fft_inverse(n)
    } else {
        planner.plan_fft_forward(n)
    };
    let mut plans = PLANS.lock().unwrap_or_else(|e| e.into_inner());
    plans.retain(|p| !found(p));
    plans.push(KeptPlan {
        elem,
        n,
        inverse,
        fft: Box::new(fft.clone()),
    });
    let cut = plans.len().saturating_sub(KEEP_PLANS);
    plans.drain(..cut);
    fft
}

/// Fewest output elements (`rows·cols`) for which the column pairs are split over workers.
const MIN_PARALLEL_WORK: usize = 1 << 14;

/// `out = alpha·C·x + beta·out` (DCT-II) or `alpha·Cᵀ·x + beta·out` (`inverse`, DCT-III), with
/// `table` the `n×4` twiddle table of `linops_core::op::Dct` (shapes checked by the planner).
fn dct<T: CpuElem + FftNum>(
    x: MatRef<'_, T>,
    table: MatRef<'_, T>,
    out: &mut Mat<T>,
    inverse: bool,
    alpha: f64,
    beta: f64,
    par: Par,
) {
    let n = x.nrows();
    if n == 0 || out.ncols() == 0 {
        return;
    }
    let fft = plan::<T>(n, inverse);
    let nf = n as f64;
    // The scale of the twiddle at k = 0 and at k ≥ 1, with everything else folded in:
    // DCT-II: X_k = s_k/2·Re(e^{−iπk/2n}·(Z[k] ± conj(Z[n−k]))) times alpha;
    // DCT-III: Z_k = e^{iπk/2n}·(y_k − i·y_{n−k})/s_k times alpha/n (the inverse FFT's 1/n).
    let (w0, wk) = if inverse {
        (alpha * nf.sqrt() / nf, alpha * (nf / 2.0).sqrt() / nf)
    } else {
        (
            alpha * (1.0 / nf).sqrt() / 2.0,
            alpha * (2.0 / nf).sqrt() / 2.0,
        )
    };
    let scaled = |col: ColRef<'_, T>| -> Vec<T> {
        col.iter()
            .enumerate()
            .map(|(k, &v)| t::<T>(if k == 0 { w0 } else { wk }) * v)
            .collect()
    };
    let (wc, ws) = (scaled(table.col(2)), scaled(table.col(3)));
    let step = Step {
        fft: &*fft,
        wc: &wc,
        ws: &ws,
        beta: t::<T>(beta),
        accumulate: beta != 0.0,
        stream: beta == 0.0 && crate::fwht::streams(out),
        inverse,
    };
    let cols = out.ncols();
    let par = if cols < 4 || n * cols < MIN_PARALLEL_WORK {
        Par::Seq
    } else {
        par
    };
    let scratch_len = fft.get_inplace_scratch_len();
    // Parts start at even columns, so column 2j's partner is 2j + 1 whatever the split.
    let grain = Grain { min: 2, align: 2 };
    for_each_part(par, out.as_mut(), grain, &|j0, mut part: MatMut<'_, T>| {
        let mut work = Work::take(n, scratch_len);
        let mut c = 0;
        while c < part.ncols() {
            // The next pair's input and output, fetched into the cache a share at a time during
            // this pair's output pass (its reorder and split would otherwise wait on memory);
            // not the output when it is written with non-temporal stores, which would evict
            // the fetched lines.
            let mut ahead = Ahead::default();
            for d in [c + 2, c + 3] {
                if d < part.ncols() {
                    ahead.add(x.col(j0 + d));
                    if !step.stream {
                        ahead.add(part.as_ref().col(d));
                    }
                }
            }
            let (left, right) = part.as_mut().split_at_col_mut(c + 1);
            let oa = contiguous(left.col_mut(c));
            let paired = right.ncols() > 0;
            let ob = if paired {
                Some(contiguous(right.col_mut(0)))
            } else {
                None
            };
            let xb = paired.then(|| x.col(j0 + c + 1));
            step.pair(x.col(j0 + c), xb, oa, ob, &ahead, &mut work);
            c += if paired { 2 } else { 1 };
        }
        if step.stream {
            crate::fwht::stream_fence();
        }
        work.give_back();
    });
}

/// Entries per block of a pair's output pass (the split or the inverse reorder, the copy out
/// when streaming, and a share of the next pair's prefetches): 2 KiB of each `f32` output
/// column, so that a streamed block's staging stays in L1.
const BLOCK: usize = 512;

/// The memory the next pair will touch (up to four contiguous columns), to be asked of the
/// cache hierarchy (L2) a share at a time ([`Ahead::fetch`]); no effect on any result.
/// Spreading the prefetches over the output pass keeps them from stalling the core: a burst of
/// 512 of them (the next pair's two 16 KiB columns at n = 4096) before the FFT filled the load
/// queue and took 10% of a batch-1024 apply's samples (`perf`, 2026-12-03).
#[derive(Default)]
struct Ahead {
    /// Start and length in bytes of each column; strided columns are left out.
    spans: [(usize, usize); 4],
    count: usize,
}

impl Ahead {
    fn add<T>(&mut self, col: ColRef<'_, T>) {
        if let Some(c) = col.try_as_col_major()
            && self.count < self.spans.len()
        {
            let s = c.as_slice();
            self.spans[self.count] = (s.as_ptr() as usize, size_of_val(s));
            self.count += 1;
        }
    }

    /// Prefetches the share `[k0, k1)` of `n` of every span's cache lines
    /// ([`crate::simd::prefetch_share`]).
    #[inline(always)]
    fn fetch(&self, k0: usize, k1: usize, n: usize) {
        for &(start, bytes) in &self.spans[..self.count] {
            crate::simd::prefetch_share(start, bytes, k0, k1, n);
        }
    }
}

/// The column as a slice (the output is an owned `Mat`, whose columns are contiguous).
fn contiguous<T>(col: faer::ColMut<'_, T>) -> &mut [T] {
    col.try_as_col_major_mut()
        .expect("owned faer matrices have contiguous columns")
        .as_slice_mut()
}

/// One part's buffers: the FFT's buffer and scratch, copies of strided input columns, and a
/// zero column and a discarded output standing in for the partner of a column that goes alone.
struct Work<T> {
    buf: Vec<Complex<T>>,
    scratch: Vec<Complex<T>>,
    copy_a: Vec<T>,
    copy_b: Vec<T>,
    zeros: Vec<T>,
    discard: Vec<T>,
    stage_a: Vec<T>,
    stage_b: Vec<T>,
}

/// Most part buffers kept by [`Work::give_back`].
const KEEP_WORKS: usize = 4;

/// Longest FFT whose part buffers are kept (larger ones cost little to zero next to their FFTs).
const KEEP_WORK_LEN: usize = 1 << 16;

/// The part buffers given back, most recently last (type-erased `Work<T>`: `f32` and `f64` share
/// the list).
static WORKS: Mutex<Vec<Box<dyn Any + Send>>> = Mutex::new(Vec::new());

impl<T: CpuElem + FftNum> Work<T> {
    /// Buffers for an `n`-point FFT with `scratch_len` scratch: kept ones of that size when
    /// there are ([`Work::give_back`]), else new. A new `Work` zeroes its `O(n)` buffers, which
    /// at n = 4096 costs about half an FFT, once per part of every apply.
    fn take(n: usize, scratch_len: usize) -> Self {
        let fits = |w: &Box<dyn Any + Send>| {
            w.downcast_ref::<Self>()
                .is_some_and(|w| w.buf.len() == n && w.scratch.len() == scratch_len)
        };
        let kept = {
            let mut works = WORKS.lock().unwrap_or_else(|e| e.into_inner());
            works.iter().rposition(fits).map(|i| works.remove(i))
        };
        match kept.map(|w| w.downcast::<Self>()) {
            Some(Ok(w)) => *w,
            _ => Self::new(n, scratch_len),
        }
    }

    /// Keeps the buffers for the next [`Work::take`] of the same size (at most [`KEEP_WORKS`],
    /// of FFTs up to [`KEEP_WORK_LEN`]). Their contents are never read before being written.
    fn give_back(self) {
        if self.buf.len() > KEEP_WORK_LEN {
            return;
        }
        let mut works = WORKS.lock().unwrap_or_else(|e| e.into_inner());
        works.push(Box::new(self));
        let cut = works.len().saturating_sub(KEEP_WORKS);
        works.drain(..cut);
    }

    fn new(n: usize, scratch_len: usize) -> Self {
        let zero = t::<T>(0.0);
        Self {
            buf: vec![Complex::new(zero, zero); n],
            scratch: vec![Complex::new(zero, zero); scratch_len],
            copy_a: Vec::new(),
            copy_b: Vec::new(),
            zeros: Vec::new(),
            discard: Vec::new(),
            stage_a: Vec::new(),
            stage_b: Vec::new(),
        }
    }
}

/// `col` as a slice: itself when contiguous, else copied into `copy`.
fn as_slice<'a, T: Copy>(col: ColRef<'a, T>, copy: &'a mut Vec<T>) -> &'a [T] {
    match col.try_as_col_major() {
        Some(c) => c.as_slice(),
        None => {
            copy.clear();
            copy.extend(col.iter().copied());
            copy
        }
    }
}

/// The constants of one DCT step.
struct Step<'a, T: CpuElem + FftNum> {
    fft: &'a dyn Fft<T>,
    /// `cos(πk/2n)` and `sin(πk/2n)` times the scale of entry `k` (see [`dct`]).
    wc: &'a [T],
    ws: &'a [T],
    beta: T,
    accumulate: bool,
    /// Results staged in the part's buffers and copied out with non-temporal stores
    /// ([`crate::fwht::stream_into`]: outputs of 8 MiB and more, `beta = 0`), so that the
    /// output's lines are not read from memory before being overwritten.
    stream: bool,
    inverse: bool,
}

impl<T: CpuElem + FftNum> Step<'_, T> {
    /// `oa`, `ob` from the columns `xa`, `xb` through one FFT (module docs); `xb` absent: `xa`
    /// alone (its partner zero, its partner's result discarded). The output pass runs in blocks
    /// of [`BLOCK`] entries, each followed by its share of `ahead`'s prefetches (and, when
    /// streaming, by its copy out; the caller fences once per part). Not inlined: its code is
    /// then the same whatever loop runs it.
    #[inline(never)]
    fn pair(
        &self,
        xa: ColRef<'_, T>,
        xb: Option<ColRef<'_, T>>,
        oa: &mut [T],
        ob: Option<&mut [T]>,
        ahead: &Ahead,
        work: &mut Work<T>,
    ) {
        let n = oa.len();
        let Work {
            buf,
            scratch,
            copy_a,
            copy_b,
            zeros,
            discard,
            stage_a,
            stage_b,
            ..
        } = work;
        let xa = as_slice(xa, copy_a);
        let xb = match xb {
            Some(c) => as_slice(c, copy_b),
            None => {
                zeros.resize(n, t::<T>(0.0));
                zeros
            }
        };
        let ob = match ob {
            Some(o) => o,
            None => {
                discard.resize(n, t::<T>(0.0));
                discard
            }
        };
        let (wc, ws, beta) = (self.wc, self.ws, self.beta);
        if self.inverse {
            spread_dispatch(xa, xb, wc, ws, buf);
        } else {
            reorder_dispatch(xa, xb, buf);
        }
        self.fft.process_with_scratch(buf, scratch);
        if self.stream {
            stage_a.resize(BLOCK, t::<T>(0.0));
            stage_b.resize(BLOCK, t::<T>(0.0));
        }
        let mut k0 = 0;
        while k0 < n {
            let k1 = (k0 + BLOCK).min(n);
            let (ea, eb) = (&mut oa[k0..k1], &mut ob[k0..k1]);
            // Where the block's results go first: the output, or the staging buffers.
            let (ta, tb) = if self.stream {
                (&mut stage_a[..k1 - k0], &mut stage_b[..k1 - k0])
            } else {
                (&mut *ea, &mut *eb)
            };
            match (self.inverse, self.accumulate) {
                (true, true) => unorder_dispatch::<T, true>(buf, k0, ta, tb, beta),
                (true, false) => unorder_dispatch::<T, false>(buf, k0, ta, tb, beta),
                (false, true) => split_dispatch::<T, true>(buf, k0, wc, ws, ta, tb, beta),
                (false, false) => split_dispatch::<T, false>(buf, k0, wc, ws, ta, tb, beta),
            }
            if self.stream {
                crate::fwht::stream_unfenced(ea, &stage_a[..k1 - k0]);
                crate::fwht::stream_unfenced(eb, &stage_b[..k1 - k0]);
            }
            ahead.fetch(k0, k1, n);
            k0 = k1;
        }
    }
}

/// `o = v` or `o = v + beta·o` (`ACC`).
#[inline(always)]
fn put<T: CpuElem, const ACC: bool>(o: &mut T, v: T, beta: T) {
    *o = if ACC { v + beta * *o } else { v };
}

/// DCT-II, before the FFT: `buf = v_a + i·v_b` with Makhoul's order (`v[m] = x[2m]`,
/// `v[n−1−m] = x[2m+1]`).
#[inline(always)]
fn reorder<T: CpuElem>(xa: &[T], xb: &[T], buf: &mut [Complex<T>]) {
    let n = buf.len();
    let (front, back) = buf.split_at_mut(n.div_ceil(2));
    // Two plain loops (rather than one writing both ends) so that each vectorizes.
    for (f, (a, b)) in front
        .iter_mut()
        .zip(xa.chunks_exact(2).zip(xb.chunks_exact(2)))
    {
        *f = Complex::new(a[0], b[0]);
    }
    for (r, (a, b)) in back
        .iter_mut()
        .rev()
        .zip(xa.chunks_exact(2).zip(xb.chunks_exact(2)))
    {
        *r = Complex::new(a[1], b[1]);
    }
    if n % 2 == 1 {
        front[n / 2] = Complex::new(xa[n - 1], xb[n - 1]);
    }
}

/// One entry of [`split`]: `(oa_k, ob_k)` from `Z[k]`, `Z[n−k]` and the scaled twiddle `(c, s)`.
#[inline(always)]
fn split_one<T: CpuElem>(zk: Complex<T>, zm: Complex<T>, c: T, s: T) -> (T, T) {
    (
        c * (zk.re + zm.re) + s * (zk.im - zm.im),
        c * (zk.im + zm.im) + s * (zm.re - zk.re),
    )
}

/// DCT-II, after the FFT `Z` of `v_a + i·v_b`, entries `k0..k0 + oa.len()`: with `(c, s)` the
/// scaled twiddles, `oa_k = c·(Re Z[k] + Re Z[n−k]) + s·(Im Z[k] − Im Z[n−k])` and
/// `ob_k = c·(Im Z[k] + Im Z[n−k]) + s·(Re Z[n−k] − Re Z[k])` (`Z[n] = Z[0]`), that is
/// `s_k·Re(e^{−iπk/2n}·V_k)` of each column's spectrum `V`.
#[inline(always)]
fn split<T: CpuElem, const ACC: bool>(
    z: &[Complex<T>],
    k0: usize,
    wc: &[T],
    ws: &[T],
    oa: &mut [T],
    ob: &mut [T],
    beta: T,
) {
    let n = z.len();
    let k1 = k0 + oa.len();
    let (oa, ob) = if k0 == 0 {
        let (a, b) = split_one(z[0], z[0], wc[0], ws[0]);
        put::<T, ACC>(&mut oa[0], a, beta);
        put::<T, ACC>(&mut ob[0], b, beta);
        (&mut oa[1..], &mut ob[1..])
    } else {
        (oa, ob)
    };
    let from = k0.max(1);
    // k runs over from..k1, so n − k over n − k1 + 1 ..= n − from, backwards.
    let rest = z[from..k1]
        .iter()
        .zip(z[n + 1 - k1..n + 1 - from].iter().rev())
        .zip(wc[from..k1].iter().zip(&ws[from..k1]))
        .zip(oa.iter_mut().zip(ob.iter_mut()));
    for (((zk, zm), (c, s)), (ea, eb)) in rest {
        let (a, b) = split_one(*zk, *zm, *c, *s);
        put::<T, ACC>(ea, a, beta);
        put::<T, ACC>(eb, b, beta);
    }
}

/// DCT-III, before the inverse FFT: `buf_k = V_a[k] + i·V_b[k]` with, for each column,
/// `V_k = (c + i·s)·(y_k − i·y_{n−k})` (`(c, s)` the scaled twiddles, `y_n = 0`).
#[inline(always)]
fn spread<T: CpuElem>(ya: &[T], yb: &[T], wc: &[T], ws: &[T], buf: &mut [Complex<T>]) {
    let n = buf.len();
    let (c, s) = (wc[0], ws[0]);
    buf[0] = Complex::new(c * ya[0] - s * yb[0], s * ya[0] + c * yb[0]);
    let rest = buf[1..n]
        .iter_mut()
        .zip(wc[1..n].iter().zip(&ws[1..n]))
        .zip(ya[1..n].iter().zip(ya[1..n].iter().rev()))
        .zip(yb[1..n].iter().zip(yb[1..n].iter().rev()));
    for (((e, (c, s)), (a1, b1)), (a2, b2)) in rest {
        let (c, s) = (*c, *s);
        // V_a = (c·a1 + s·b1) + i·(s·a1 − c·b1), V_b likewise; e = V_a + i·V_b.
        let (ra, ia) = (c * *a1 + s * *b1, s * *a1 - c * *b1);
        let (rb, ib) = (c * *a2 + s * *b2, s * *a2 - c * *b2);
        *e = Complex::new(ra - ib, ia + rb);
    }
}

/// DCT-III, after the inverse FFT, entries `k0..k0 + oa.len()` (`k0` even): Makhoul's order
/// undone, `o[2m] = v[m]`, `o[2m+1] = v[n−1−m]`, with `v_a = Re buf` and `v_b = Im buf`.
#[inline(always)]
fn unorder<T: CpuElem, const ACC: bool>(
    buf: &[Complex<T>],
    k0: usize,
    oa: &mut [T],
    ob: &mut [T],
    beta: T,
) {
    let n = buf.len();
    let k1 = k0 + oa.len();
    // Whole pairs m in m0..m1 (o[2m], o[2m+1]); a last odd entry (n odd) alone.
    let (m0, m1) = (k0 / 2, k1 / 2);
    let pairs = buf[m0..m1]
        .iter()
        .zip(buf[n - m1..n - m0].iter().rev())
        .zip(oa.chunks_exact_mut(2).zip(ob.chunks_exact_mut(2)));
    for ((f, r), (a, b)) in pairs {
        put::<T, ACC>(&mut a[0], f.re, beta);
        put::<T, ACC>(&mut a[1], r.re, beta);
        put::<T, ACC>(&mut b[0], f.im, beta);
        put::<T, ACC>(&mut b[1], r.im, beta);
    }
    if k1 == n && n % 2 == 1 {
        let f = buf[n / 2];
        let last = oa.len() - 1;
        put::<T, ACC>(&mut oa[last], f.re, beta);
        put::<T, ACC>(&mut ob[last], f.im, beta);
    }
}

/// [`reorder`] with the widest vector instructions the CPU has ([`simd_dispatch`]).
fn reorder_dispatch<T: CpuElem>(xa: &[T], xb: &[T], buf: &mut [Complex<T>]) {
    simd_dispatch!([T: CpuElem] reorder::<T>(xa: &[T], xb: &[T], buf: &mut [Complex<T>]))
}

/// [`split`] with the widest vector instructions the CPU has ([`simd_dispatch`]).
fn split_dispatch<T: CpuElem, const ACC: bool>(
    z: &[Complex<T>],
    k0: usize,
    wc: &[T],
    ws: &[T],
    oa: &mut [T],
    ob: &mut [T],
    beta: T,
) {
    simd_dispatch!([T: CpuElem, const ACC: bool] split::<T, ACC>(z: &[Complex<T>], k0: usize, wc: &[T], ws: &[T], oa: &mut [T], ob: &mut [T], beta: T))
}

/// [`spread`] with the widest vector instructions the CPU has ([`simd_dispatch`]).
fn spread_dispatch<T: CpuElem>(ya: &[T], yb: &[T], wc: &[T], ws: &[T], buf: &mut [Complex<T>]) {
    simd_dispatch!([T: CpuElem] spread::<T>(ya: &[T], yb: &[T], wc: &[T], ws: &[T], buf: &mut [Complex<T>]))
}

/// [`unorder`] with the widest vector instructions the CPU has ([`simd_dispatch`]).
fn unorder_dispatch<T: CpuElem, const ACC: bool>(
    buf: &[Complex<T>],
    k0: usize,
    oa: &mut [T],
    ob: &mut [T],
    beta: T,
) {
    simd_dispatch!([T: CpuElem, const ACC: bool] unorder::<T, ACC>(buf: &[Complex<T>], k0: usize, oa: &mut [T], ob: &mut [T], beta: T))
}

crate::execute::cpu_kernel!(linops_core::plan::kernel::Dct, |k, be, inputs, out| {
    let (x, table) = (inputs.mat(0)?, inputs.mat(1)?);
    T::dct_columns(x, table, out, k.inverse, k.alpha, k.beta, be.par());
    Ok(())
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::values;
    use std::f64::consts::PI;

    /// The dense orthonormal DCT-II in f64, `C[k, j] = s_k·cos(π(2j+1)k/2n)`, the angle reduced
    /// modulo `2π` in integers first (`cos` of an angle near 3000 would be off by ~`3000·u`,
    /// more than the kernel's own error at `n = 1021`).
    fn dense(n: usize) -> Mat<f64> {
        let nf = n as f64;
        Mat::from_fn(n, n, |k, j| {
            let s = if k == 0 { 1.0 / nf } else { 2.0 / nf }.sqrt();
            s * (PI * (((2 * j + 1) * k) % (4 * n)) as f64 / (2.0 * nf)).cos()
        })
    }

    /// The plan's twiddle table (`linops_core::op::Dct`) in `T`.
    fn table<T: CpuElem>(n: usize) -> Mat<T> {
        let d = linops_core::op::Dct::new(n).unwrap();
        let data = &d.table().data;
        Mat::from_fn(n, 4, |i, j| t::<T>(data[j * n + i]))
    }

    /// One case: `out = alpha·op(C)·x + beta·out0` by the kernel in `T` against the dense f64
    /// product, with `x` strided (columns not contiguous) when `strided`.
    ///
    /// Bound: the FFT's error in the 2-norm is at most `c·log₂n·u·‖z‖₂` for its input `z`, and
    /// `z` here holds two columns (`‖z‖₂² = ‖x_a‖² + ‖x_b‖²`, the transforms being orthogonal up
    /// to the scale); the reorder, split and twiddles add a few `u` per entry, and the `beta`
    /// term one rounding of `|beta·out0|`. With `c = 4` (rustfft's radix-2/4/8, mixed radix and
    /// Rader/Bluestein stay well under it) and `log₂n` taken as at least 1, every entry must be
    /// within `4·(log₂n + 2)·u·(|alpha|·‖z‖₂ + |beta·out0|)`.
    #[allow(clippy::too_many_arguments)]
    fn check<T: CpuElem>(
        n: usize,
        b: usize,
        inverse: bool,
        alpha: f64,
        beta: f64,
        strided: bool,
        par: Par,
        c_dense: &Mat<f64>,
    ) -> Mat<T> {
        let seed = (n * 131 + b * 7) as u64 + u64::from(inverse);
        let xv = values(seed, n * b);
        let x64 = Mat::from_fn(n, b, |i, j| xv[j * n + i]);
        let out0v = values(seed + 1, n * b);
        let out0 = Mat::from_fn(n, b, |i, j| out0v[j * n + i]);
        let x_t: Mat<T> = Mat::from_fn(n, b, |i, j| t::<T>(x64[(i, j)]));
        // Strided: the same values in a `b×n` matrix, viewed transposed.
        let x_rows: Mat<T> = Mat::from_fn(b, n, |j, i| x_t[(i, j)]);
        let x = if strided {
            x_rows.as_ref().transpose()
        } else {
            x_t.as_ref()
        };
        assert_eq!(x.col(0).try_as_col_major().is_some(), !strided || n == 1);
        let mut out: Mat<T> = Mat::from_fn(n, b, |i, j| t::<T>(out0[(i, j)]));
        let tab = table::<T>(n);
        T::dct_columns(x, tab.as_ref(), &mut out, inverse, alpha, beta, par);
        // The f64 values the kernel saw (x rounded to T).
        let xs = Mat::from_fn(n, b, |i, j| x_t[(i, j)].to_f64());
        let os = Mat::from_fn(n, b, |i, j| t::<T>(out0[(i, j)]).to_f64());
        // The unit roundoff of T.
        let u = match T::DTYPE {
            linops_core::DType::F32 => f64::from(f32::EPSILON) / 2.0,
            _ => f64::EPSILON / 2.0,
        };
        let log = (n as f64).log2().max(1.0);
        for j in 0..b {
            let partner = if j % 2 == 0 { j + 1 } else { j - 1 };
            let norm2 = |c: usize| (0..n).map(|i| xs[(i, c)] * xs[(i, c)]).sum::<f64>();
            let pair = (norm2(j) + if partner < b { norm2(partner) } else { 0.0 }).sqrt();
            for k in 0..n {
                let dot: f64 = (0..n)
                    .map(|i| {
                        let c = if inverse {
                            c_dense[(i, k)]
                        } else {
                            c_dense[(k, i)]
                        };
                        c * xs[(i, j)]
                    })
                    .sum();
                let want = alpha * dot + beta * os[(k, j)];
                let got = out[(k, j)].to_f64();
                let bound =
                    4.0 * (log + 2.0) * u * (alpha.abs() * pair + (beta * os[(k, j)]).abs());
                let err = (got - want).abs();
                assert!(
                    err <= bound,
                    "n={n} b={b} inverse={inverse} alpha={alpha} beta={beta} strided={strided} \
                     at ({k}, {j}): got {got:e}, want {want:e}, error {err:e} > bound {bound:e}"
                );
            }
        }
        out
    }

    /// Every n kind (1, 2, 3, powers of two, odd, primes 13 and 1021), one column, one pair, a
    /// pair and a single, both directions, plain and scaled/accumulated, in f32 and f64.
    #[test]
    fn matches_dense_dct() {
        for n in [1, 2, 3, 4, 5, 8, 13, 16, 30, 64, 100, 1021, 1024] {
            let c = dense(n);
            for b in [1, 2, 3] {
                for inverse in [false, true] {
                    for (alpha, beta) in [(1.0, 0.0), (-0.75, 0.5)] {
                        check::<f32>(n, b, inverse, alpha, beta, false, Par::Seq, &c);
                        check::<f64>(n, b, inverse, alpha, beta, false, Par::Seq, &c);
                    }
                }
            }
        }
    }

    /// Strided input columns (copied to a contiguous buffer per column) give the same bits as
    /// contiguous ones.
    #[test]
    fn strided_input_same_bits() {
        for (n, b) in [(7, 3), (64, 2), (100, 5)] {
            let c = dense(n);
            for inverse in [false, true] {
                let a = check::<f32>(n, b, inverse, 1.5, 0.25, false, Par::Seq, &c);
                let s = check::<f32>(n, b, inverse, 1.5, 0.25, true, Par::Seq, &c);
                assert!(a.as_ref() == s.as_ref(), "n={n} b={b} inverse={inverse}");
            }
        }
    }

    /// The column pairs are fixed (2j, 2j + 1), so a split over workers (parts of even width,
    /// an odd last column alone) gives the same bits as one thread, odd batch included.
    #[test]
    fn same_bits_for_every_thread_count() {
        for (n, b) in [(1021, 23), (512, 40), (4096, 9)] {
            let c = dense(n);
            for inverse in [false, true] {
                let seq = check::<f32>(n, b, inverse, 1.0, 0.0, false, Par::Seq, &c);
                let par = check::<f32>(n, b, inverse, 1.0, 0.0, false, Par::rayon(2), &c);
                assert!(
                    seq.as_ref() == par.as_ref(),
                    "n={n} b={b} inverse={inverse}"
                );
            }
        }
    }

    /// An output of 8 MiB and more (staged and copied with non-temporal stores) gives the same
    /// bits as the same columns in two smaller applies (written directly), odd column count
    /// (a last column alone) included; and a second apply, which reuses the kept part buffers
    /// ([`Work::take`]), gives the same bits as the first.
    #[test]
    fn streamed_output_same_bits() {
        let n = 2048;
        let b = (8 << 20) / (n * 4) + 1;
        let tab = table::<f32>(n);
        let xv = values(77, n * b);
        let x = Mat::from_fn(n, b, |i, j| xv[j * n + i] as f32);
        for inverse in [false, true] {
            let mut whole = Mat::<f32>::zeros(n, b);
            assert!(crate::fwht::streams(&whole));
            f32::dct_columns(
                x.as_ref(),
                tab.as_ref(),
                &mut whole,
                inverse,
                0.5,
                0.0,
                Par::rayon(2),
            );
            // Parts start at even columns, as the pairs do.
            let h = (b / 2) & !1;
            for (j0, w) in [(0, h), (h, b - h)] {
                let mut part = Mat::<f32>::zeros(n, w);
                assert!(!crate::fwht::streams(&part));
                let xs = x.as_ref().subcols(j0, w);
                f32::dct_columns(xs, tab.as_ref(), &mut part, inverse, 0.5, 0.0, Par::Seq);
                assert!(
                    part.as_ref() == whole.as_ref().subcols(j0, w),
                    "inverse={inverse} columns {j0}.."
                );
            }
            let mut again = Mat::<f32>::zeros(n, b);
            f32::dct_columns(
                x.as_ref(),
                tab.as_ref(),
                &mut again,
                inverse,
                0.5,
                0.0,
                Par::Seq,
            );
            assert!(again.as_ref() == whole.as_ref(), "inverse={inverse} again");
        }
    }

    /// The plan cache gives back the plan of the requested length and direction, and keeps at
    /// most `KEEP_PLANS` of them.
    #[test]
    fn plan_cache_returns_the_requested_plan() {
        use rustfft::FftDirection;
        for n in 1..(2 * KEEP_PLANS + 3) {
            for inverse in [false, true] {
                let p = plan::<f32>(n, inverse);
                assert_eq!(p.len(), n);
                let want = if inverse {
                    FftDirection::Inverse
                } else {
                    FftDirection::Forward
                };
                assert_eq!(p.fft_direction(), want);
                let q = plan::<f64>(n, inverse);
                assert_eq!((q.len(), q.fft_direction()), (n, want));
            }
        }
        assert!(PLANS.lock().unwrap_or_else(|e| e.into_inner()).len() <= KEEP_PLANS);
    }
}
