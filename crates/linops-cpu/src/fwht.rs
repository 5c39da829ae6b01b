//! `fwht` on the CPU: the orthonormal Walsh–Hadamard transform of each column.
//!
//! Mathematics: `out = alpha·Pₒᵀ·H_N·Pₓ·x + beta·out` with `H_N` the Sylvester Hadamard matrix
//! scaled by `1/√N`, `N = 2^m = max(rows(x), rows(out))`, and `Pₓ`/`Pₒ` the zero padding and
//! truncation (see `linops_core::Kernel::Fwht`): stages `h = 1, 2, 4, …, N/2` of butterflies
//! `(a, b) → (a + b, a − b)` on pairs `h` apart, then one scaling by `alpha/√N`. The stage order
//! and pairings are the GPU kernel's, so both round identically; every path below runs exactly
//! these additions on exactly these operands (only the order of independent butterflies changes),
//! so every CPU, path and thread count gives the same bits as the plain radix-2 loop
//! ([`fwht_in_place`]).
//!
//! Storage: a column is transformed in vectors of `W` lanes (16 f32 or 8 f64 in AVX-512
//! registers on x86-64 CPUs with AVX-512F, 8 f32 or 4 f64 in AVX2 registers on those with AVX2,
//! else 4 lanes of portable code the compiler vectorizes; lengths below one AVX-512 register take
//! the AVX2 lanes). The first
//! pass reads groups of up to 8 contiguous vectors straight from `X` (no separate copy), runs the
//! stages `h < W` inside each register and the next three across the group, and writes the column
//! of the output (or of a scratch column when `beta ≠ 0` or the output is truncated); each later
//! pass runs up to three more stages on groups of 8 vectors `h` apart, in place, in L1 cache, and
//! the last one multiplies by `alpha/√N` before its store. A column of `N = 4096` f32 is one pass
//! from `X` and two in cache. Outputs of 8 MiB and more are transformed in the scratch column and
//! copied into the output with non-temporal stores (their lines are not read from memory first).
//! Columns are split over the backend's `Par`
//! ([`crate::par::for_each_col`]). Cost: `N·log₂N` additions and `N` multiplications per column,
//! `X` read once and `Y` written once, no allocation per column.
//!
//! `fwht_base` (length `n = m·2^k`, see `linops_core::Kernel::FwhtBase`): per column, the
//! transform above of each of the `m` contiguous blocks of `p = 2^k` of `X` into one scratch
//! column of `n` entries that stays in cache, then the `±1` mix
//! `y_a = scale·Σ_{a'} A[a, a']·z_{a'}` over the blocks (in the order `a' = 0, 1, …, m−1`, the GPU
//! kernel's), up to 8 vectors of `y_a` kept in registers across all `m` blocks, scaled (and
//! `beta·y` added) and stored straight into the output column (non-temporal stores for outputs of
//! 8 MiB and more). The mix is one addition per loaded vector, so it is bound by the adders and
//! the loads alike; with FMA, four output blocks go together (the `m mod 4` left over one at a
//! time; none for the built-in orders 12, 20, 28), each loaded vector of `z` added into two of them by multiply-adds with `±1`
//! (exact product, one rounding: the same bits) and into the other two by the adders, so the
//! multiply-add units and the adders both work and each load serves four additions (in AVX-512
//! registers where the CPU has AVX-512F and a block holds whole ones; in AVX2 registers on CPUs
//! with AVX-512VL, whose 32 registers hold the 16 accumulators). The scratch column starts a
//! cache line ([`crate::simd::Scratch`]). `X` is read once and `Y` written once;
//! `n·log₂p + m·n` additions per column.

use crate::par::for_each_col;
use crate::simd::{Scratch, prefetch_line};
use crate::{CpuElem, t};
use faer::{Mat, MatRef, Par};
use lanes::{Lanes, Quad};
use std::any::TypeId;

/// The unnormalized Walsh–Hadamard transform of `v` (length a power of two), in place: the plain
/// radix-2 loop, stage `h = 1, 2, 4, …` after stage. The reference the fast paths reproduce bit
/// for bit, and the path for lengths below one vector.
pub(crate) fn fwht_in_place<T: CpuElem>(v: &mut [T]) {
    let n = v.len();
    let mut h = 1;
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

/// The unnormalized Walsh–Hadamard transform of `v` (length a power of two), in place, with the
/// widest vectors the CPU has (the same bits as [`fwht_in_place`]).
pub(crate) fn fwht_fast<T: CpuElem>(v: &mut [T]) {
    transform_into(None, v, None);
}

/// Whether `T` and `U` are the same type.
fn same<T: 'static, U: 'static>() -> bool {
    TypeId::of::<T>() == TypeId::of::<U>()
}

/// `s` as a `[U]` when `U` is `T`.
fn cast<T: 'static, U: 'static>(s: &[T]) -> Option<&[U]> {
    // SAFETY: `T` and `U` are the same type, so the cast changes nothing but the type's name.
    same::<T, U>().then(|| unsafe { &*(std::ptr::from_ref(s) as *const [U]) })
}

/// `s` as a mutable `[U]` when `U` is `T`.
fn cast_mut<T: 'static, U: 'static>(s: &mut [T]) -> Option<&mut [U]> {
    // SAFETY: as in `cast`.
    same::<T, U>().then(|| unsafe { &mut *(std::ptr::from_mut(s) as *mut [U]) })
}

/// `v` as a `U` when `U` is `T`.
fn cast_val<T: 'static + Copy, U: 'static + Copy>(v: T) -> Option<U> {
    cast::<T, U>(std::slice::from_ref(&v)).map(|s| s[0])
}

/// `dst = scale·H·src` (unnormalized `H` when `scale` is `None`), `src` the same length as `dst`
/// (a power of two) or `None` for `dst` in place.
///
/// Dispatched here rather than through [`crate::simd::simd_dispatch!`], which compiles one generic
/// body for every variant: the AVX2 lanes type must be chosen only in the variant compiled for
/// AVX2 (and its closure-free callees inlined into it, see [`first_pass`]).
fn transform_into<T: CpuElem>(src: Option<&[T]>, dst: &mut [T], scale: Option<T>) {
    transform_blocks(src, dst, scale, dst.len());
}

/// [`transform_into`] on each block of `p` contiguous elements of `dst` (a power of two dividing
/// `dst.len()`; `p = dst.len()` for the whole), in one call: the `m` blocks of `fwht_base` pay
/// the dispatch once per column, not once per block.
fn transform_blocks<T: CpuElem>(src: Option<&[T]>, dst: &mut [T], scale: Option<T>, p: usize) {
    let n = dst.len();
    // The planner checked the length; the passes rely on it for their bounds.
    assert!(
        (n == 0 || (p.is_power_of_two() && n.is_multiple_of(p)))
            && src.is_none_or(|s| s.len() == n)
    );
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") && p >= 16 {
        #[target_feature(enable = "avx512f")]
        fn f32_avx512(src: Option<&[f32]>, dst: &mut [f32], scale: Option<f32>, p: usize) {
            lanes_blocks::<lanes::F32x16>(src, dst, scale, p);
        }
        #[target_feature(enable = "avx512f")]
        fn f64_avx512(src: Option<&[f64]>, dst: &mut [f64], scale: Option<f64>, p: usize) {
            lanes_blocks::<lanes::F64x8>(src, dst, scale, p);
        }
        if let Some(d) = cast_mut::<T, f32>(dst) {
            let (s, c) = (src.and_then(cast), scale.and_then(cast_val));
            // SAFETY: the CPU supports AVX-512F (checked above), the only requirement.
            unsafe { f32_avx512(s, d, c, p) };
            return;
        }
        if let Some(d) = cast_mut::<T, f64>(dst) {
            let (s, c) = (src.and_then(cast), scale.and_then(cast_val));
            // SAFETY: as above.
            unsafe { f64_avx512(s, d, c, p) };
            return;
        }
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        #[target_feature(enable = "avx2")]
        fn f32_avx2(src: Option<&[f32]>, dst: &mut [f32], scale: Option<f32>, p: usize) {
            lanes_blocks::<lanes::F32x8>(src, dst, scale, p);
        }
        #[target_feature(enable = "avx2")]
        fn f64_avx2(src: Option<&[f64]>, dst: &mut [f64], scale: Option<f64>, p: usize) {
            lanes_blocks::<lanes::F64x4>(src, dst, scale, p);
        }
        if let Some(d) = cast_mut::<T, f32>(dst) {
            let (s, c) = (src.and_then(cast), scale.and_then(cast_val));
            // SAFETY: the CPU supports AVX2 (checked above), the only requirement.
            unsafe { f32_avx2(s, d, c, p) };
            return;
        }
        if let Some(d) = cast_mut::<T, f64>(dst) {
            let (s, c) = (src.and_then(cast), scale.and_then(cast_val));
            // SAFETY: as above.
            unsafe { f64_avx2(s, d, c, p) };
            return;
        }
    }
    lanes_blocks::<Quad<T>>(src, dst, scale, p);
}

/// [`transform_lanes`] on each block of `p` elements (see [`transform_blocks`]).
#[inline(always)]
fn lanes_blocks<V: Lanes>(src: Option<&[V::T]>, dst: &mut [V::T], scale: Option<V::T>, p: usize) {
    if p == 0 {
        return;
    }
    match src {
        Some(s) => {
            for (d, s) in dst.chunks_exact_mut(p).zip(s.chunks_exact(p)) {
                transform_lanes::<V>(Some(s), d, scale);
            }
        }
        None => {
            for d in dst.chunks_exact_mut(p) {
                transform_lanes::<V>(None, d, scale);
            }
        }
    }
}

/// [`transform_into`] in vectors `V` (the module docs' passes).
#[inline(always)]
fn transform_lanes<V: Lanes>(src: Option<&[V::T]>, dst: &mut [V::T], scale: Option<V::T>) {
    let n = dst.len();
    let w = V::W;
    if n < w {
        if let Some(s) = src {
            dst.copy_from_slice(s);
        }
        fwht_in_place(dst);
        if let Some(c) = scale {
            dst.iter_mut().for_each(|e| *e *= c);
        }
        return;
    }
    let nv = n / w;
    let d = dst.as_mut_ptr();
    let s = src.map_or(d.cast_const(), <[V::T]>::as_ptr);
    // SAFETY: the lanes type is used only where the CPU supports its instructions.
    let (c, scaled) = unsafe { (V::splat(scale.unwrap_or(t(1.0))), scale.is_some()) };
    let g1 = nv.min(8);
    // Whether the first pass is the last (and scales).
    let s1 = scaled && g1 == nv;
    // SAFETY: `s` and `d` hold `n` elements, a multiple of every group's `g1·w` elements.
    unsafe {
        match (g1, s1) {
            (1, false) => first_pass::<V, 1, false>(s, d, n, c),
            (1, true) => first_pass::<V, 1, true>(s, d, n, c),
            (2, false) => first_pass::<V, 2, false>(s, d, n, c),
            (2, true) => first_pass::<V, 2, true>(s, d, n, c),
            (4, false) => first_pass::<V, 4, false>(s, d, n, c),
            (4, true) => first_pass::<V, 4, true>(s, d, n, c),
            (_, false) => first_pass::<V, 8, false>(s, d, n, c),
            (_, true) => first_pass::<V, 8, true>(s, d, n, c),
        }
    }
    let mut sv = g1;
    while sv < nv {
        let left = (nv / sv).trailing_zeros() as usize;
        let r = left.div_ceil(left.div_ceil(3));
        let last = scaled && sv << r == nv;
        // SAFETY: `d` holds `n = nv·w` elements, a multiple of each pass's `2^r·sv·w`.
        unsafe {
            match (r, last) {
                (1, false) => strided_pass::<V, 2, false>(d, n, sv, c),
                (1, true) => strided_pass::<V, 2, true>(d, n, sv, c),
                (2, false) => strided_pass::<V, 4, false>(d, n, sv, c),
                (2, true) => strided_pass::<V, 4, true>(d, n, sv, c),
                (_, false) => strided_pass::<V, 8, false>(d, n, sv, c),
                (_, true) => strided_pass::<V, 8, true>(d, n, sv, c),
            }
        }
        sv <<= r;
    }
}

/// How far ahead of its reads the first pass prefetches `X` (measured on the Zen 5 dev box: the
/// hardware prefetcher alone left the loads of `X` the hottest instructions of the transform).
const PREFETCH_BYTES: usize = 4096;

/// The butterflies `(r[k], r[k + t]) → (r[k] + r[k + t], r[k] − r[k + t])` for `t = 1, 2, …, G/2`
/// in turn (the stages `h = t·s` of vectors `s` apart).
#[inline(always)]
fn across<V: Lanes, const G: usize>(r: &mut [V; G]) {
    let mut t = 1;
    while t < G {
        for k in 0..G {
            if k & t == 0 {
                let (a, b) = (r[k], r[k + t]);
                r[k] = a.add(b);
                r[k + t] = a.sub(b);
            }
        }
        t *= 2;
    }
}

/// The stages `h = 1, 2, …, G·W/2` on each group of `G` contiguous vectors of `src`, stored into
/// `dst` (which may be `src`), times `scale` when `SCALE`. Prefetches the data a few groups ahead
/// (past the end of a column: the next column of `X` when its columns are contiguous).
///
/// # Safety
/// `src` and `dst` are valid for `n` elements (a multiple of `G·W`).
#[inline(always)]
unsafe fn first_pass<V: Lanes, const G: usize, const SCALE: bool>(
    src: *const V::T,
    dst: *mut V::T,
    n: usize,
    scale: V,
) {
    let w = V::W;
    // No closures here: they are functions of their own, compiled without the caller's target
    // features, and the intrinsics in them would not be inlined.
    for i in (0..n).step_by(G * w) {
        // A hint only (never faults), so any address will do.
        let ahead = src.wrapping_add(i + PREFETCH_BYTES / size_of::<V::T>());
        for line in (0..G * w * size_of::<V::T>()).step_by(64) {
            prefetch_line(ahead.cast::<u8>().wrapping_add(line));
        }
        // SAFETY: `i + G·w ≤ n` (the caller's contract).
        let mut r = [unsafe { V::load(src.add(i)) }; G];
        for (k, v) in r.iter_mut().enumerate().skip(1) {
            // SAFETY: as above.
            *v = unsafe { V::load(src.add(i + k * w)) };
        }
        for v in r.iter_mut() {
            *v = v.within();
        }
        across(&mut r);
        for (k, mut v) in r.into_iter().enumerate() {
            if SCALE {
                v = v.mul(scale);
            }
            // SAFETY: as above.
            unsafe { v.store(dst.add(i + k * w)) };
        }
    }
}

/// The stages `h = sv·W, 2·sv·W, …, (G/2)·sv·W` in place on the `n` elements at `v`, on groups of
/// `G` vectors `sv` apart, times `scale` when `SCALE`.
///
/// # Safety
/// `v` is valid for `n` elements (a multiple of `G·sv·W`).
#[inline(always)]
unsafe fn strided_pass<V: Lanes, const G: usize, const SCALE: bool>(
    v: *mut V::T,
    n: usize,
    sv: usize,
    scale: V,
) {
    let (w, step) = (V::W, sv * V::W);
    for base in (0..n).step_by(G * step) {
        for j in (0..step).step_by(w) {
            // SAFETY: `base + j + (G − 1)·step + w ≤ base + G·step ≤ n`.
            let p = unsafe { v.add(base + j) };
            // SAFETY (loads and stores): as above.
            let mut r = [unsafe { V::load(p) }; G];
            for (k, x) in r.iter_mut().enumerate().skip(1) {
                *x = unsafe { V::load(p.add(k * step)) };
            }
            across(&mut r);
            for (k, mut x) in r.into_iter().enumerate() {
                if SCALE {
                    x = x.mul(scale);
                }
                unsafe { x.store(p.add(k * step)) };
            }
        }
    }
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
    let stream = streams::<T>(out) && r_out == n && beta == 0.0;
    // Transformed in the output column itself, or in a scratch column.
    let direct = r_out == n && beta == 0.0 && !stream;
    let whole = r_in == n;
    for_each_col(
        out,
        par,
        || Scratch::<T>::zeroed(if direct && whole { 0 } else { n }),
        |buf, j, o| {
            let col = x.col(j).try_as_col_major().filter(|_| whole);
            let v: &mut [T] = if direct { o } else { &mut buf[..] };
            match col {
                Some(c) => transform_into(Some(c.as_slice()), v, Some(scale)),
                None => {
                    // Padded or strided: gather into the destination, then transform in place.
                    let (head, pad) = v.split_at_mut(r_in);
                    head.iter_mut()
                        .zip(x.col(j).iter())
                        .for_each(|(e, s)| *e = *s);
                    pad.fill(t::<T>(0.0));
                    transform_into(None, v, Some(scale));
                }
            }
            if stream {
                stream_into(o, buf);
            } else if !direct {
                for (e, &t) in o.iter_mut().zip(buf.iter()) {
                    *e = if beta == 0.0 { t } else { t + beta_t * *e };
                }
            }
        },
    );
}

/// Outputs of at least this many bytes are written with non-temporal stores: with their input
/// they exceed a typical L3 share, so their lines would be read from memory before being
/// overwritten (a third more traffic) and evicted anyway. Smaller ones stay in cache for the
/// next step.
const STREAM_MIN_BYTES: usize = 8 << 20;

/// Whether the kernels write `out` with non-temporal stores ([`STREAM_MIN_BYTES`]).
pub(crate) fn streams<T>(out: &Mat<T>) -> bool {
    out.nrows() * out.ncols() * size_of::<T>() >= STREAM_MIN_BYTES
}

/// `dst = src` with non-temporal stores where `dst` is aligned for them (else a plain copy),
/// then [`stream_fence`].
pub(crate) fn stream_into<T: CpuElem>(dst: &mut [T], src: &[T]) {
    stream_unfenced(dst, src);
    stream_fence();
}

/// Orders every non-temporal store this thread made before ([`stream_unfenced`]) before its
/// later stores, so that whoever sees those later (the end of a kernel's part) sees the streamed
/// values too.
#[inline]
pub(crate) fn stream_fence() {
    lanes::fence();
}

/// [`stream_into`] without the fence: for a kernel that streams many short pieces and fences
/// once at the end of its part ([`stream_fence`]); an `sfence` per piece would wait for the
/// write-combining buffers each time.
pub(crate) fn stream_unfenced<T: CpuElem>(dst: &mut [T], src: &[T]) {
    assert_eq!(dst.len(), src.len());
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        #[target_feature(enable = "avx2")]
        fn f32_avx2(dst: &mut [f32], src: &[f32]) {
            stream_lanes::<lanes::F32x8>(dst, src);
        }
        #[target_feature(enable = "avx2")]
        fn f64_avx2(dst: &mut [f64], src: &[f64]) {
            stream_lanes::<lanes::F64x4>(dst, src);
        }
        if let (Some(d), Some(s)) = (cast_mut::<T, f32>(dst), cast::<T, f32>(src)) {
            // SAFETY: the CPU supports AVX2 (checked above), the only requirement.
            unsafe { f32_avx2(d, s) };
            return;
        }
        if let (Some(d), Some(s)) = (cast_mut::<T, f64>(dst), cast::<T, f64>(src)) {
            // SAFETY: as above.
            unsafe { f64_avx2(d, s) };
            return;
        }
    }
    dst.copy_from_slice(src);
}

/// [`stream_into`] in vectors `V`.
#[inline(always)]
fn stream_lanes<V: Lanes>(dst: &mut [V::T], src: &[V::T]) {
    let (n, w) = (dst.len(), V::W);
    if !aligned::<V>(dst.as_ptr()) || !n.is_multiple_of(w) {
        dst.copy_from_slice(src);
        return;
    }
    let (d, s) = (dst.as_mut_ptr(), src.as_ptr());
    for i in (0..n).step_by(w) {
        // SAFETY: `i + w ≤ n` for both slices, `d + i` is aligned to `w` elements (checked
        // above), and the lanes type is used only where the CPU supports its instructions.
        unsafe { V::load(s.add(i)).stream(d.add(i)) };
    }
}

/// Whether `p` is aligned to a whole vector of `V` (as [`Lanes::stream`] needs).
fn aligned<V: Lanes>(p: *const V::T) -> bool {
    (p as usize).is_multiple_of(V::W * size_of::<V::T>())
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
    let beta = (beta != 0.0).then(|| t::<T>(beta));
    let stream = streams::<T>(out) && beta.is_none();
    // Row a of op(A) as signs: true where the entry is −1.
    let neg: Vec<bool> = (0..m * m)
        .map(|e| {
            let (r, c) = (e / m, e % m);
            let v = if trans { a[(c, r)] } else { a[(r, c)] };
            v < t::<T>(0.0)
        })
        .collect();
    for_each_col(
        out,
        par,
        || Scratch::<T>::zeroed(n),
        |z, j, o| {
            match x.col(j).try_as_col_major() {
                Some(c) => transform_blocks(Some(c.as_slice()), z, None, p),
                None => {
                    z.iter_mut().zip(x.col(j).iter()).for_each(|(e, s)| *e = *s);
                    transform_blocks(None, z, None, p);
                }
            }
            mix_into(o, z, &neg, scale, beta, stream);
        },
    );
}

/// `o_a = scale·Σ_{a'} ±z_{a'} (+ beta·o_a)` for each block `a` of `o` (blocks of
/// `p = o.len()/m`, `m = √neg.len()`), `−` where `neg[a·m + a']`, summed in the order
/// `a' = 0, 1, …` (the first term negated exactly, then `d + (−z)` for `d − z`, the same bits).
/// With `stream` (and no `beta`), `o` is written with non-temporal stores where it is aligned for
/// them ([`STREAM_MIN_BYTES`]).
fn mix_into<T: CpuElem>(
    o: &mut [T],
    z: &[T],
    neg: &[bool],
    scale: T,
    beta: Option<T>,
    stream: bool,
) {
    let m = neg.len().isqrt();
    assert!(m * m == neg.len() && o.len() == z.len() && z.len().is_multiple_of(m.max(1)));
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        // The mix in fours keeps 16 accumulators, the loaded vectors and two signs in registers:
        // the 32 registers of AVX-512 (its 256-bit forms, AVX-512VL), not the 16 of AVX2.
        #[target_feature(enable = "avx2,fma,avx512f,avx512vl")]
        fn f32_fused(o: &mut [f32], z: &[f32], neg: &[bool], c: (f32, Option<f32>), st: bool) {
            // SAFETY: the CPU has FMA (this function's target features).
            unsafe { mix_lanes::<lanes::F32x8, true>(o, z, neg, c, st) };
        }
        #[target_feature(enable = "avx2,fma,avx512f,avx512vl")]
        fn f64_fused(o: &mut [f64], z: &[f64], neg: &[bool], c: (f64, Option<f64>), st: bool) {
            // SAFETY: as above.
            unsafe { mix_lanes::<lanes::F64x4, true>(o, z, neg, c, st) };
        }
        #[target_feature(enable = "avx2")]
        fn f32_avx2(o: &mut [f32], z: &[f32], neg: &[bool], c: (f32, Option<f32>), st: bool) {
            // SAFETY: `FUSED` is false.
            unsafe { mix_lanes::<lanes::F32x8, false>(o, z, neg, c, st) };
        }
        #[target_feature(enable = "avx2")]
        fn f64_avx2(o: &mut [f64], z: &[f64], neg: &[bool], c: (f64, Option<f64>), st: bool) {
            // SAFETY: as above.
            unsafe { mix_lanes::<lanes::F64x4, false>(o, z, neg, c, st) };
        }
        // 512-bit registers where a block holds whole ones (16 f32, 8 f64).
        #[target_feature(enable = "avx512f")]
        fn f32_wide(o: &mut [f32], z: &[f32], neg: &[bool], c: (f32, Option<f32>), st: bool) {
            // SAFETY: AVX-512F has the fused multiply-add of its registers.
            unsafe { mix_lanes::<lanes::F32x16, true>(o, z, neg, c, st) };
        }
        #[target_feature(enable = "avx512f")]
        fn f64_wide(o: &mut [f64], z: &[f64], neg: &[bool], c: (f64, Option<f64>), st: bool) {
            // SAFETY: as above.
            unsafe { mix_lanes::<lanes::F64x8, true>(o, z, neg, c, st) };
        }
        let p = o.len() / m.max(1);
        if has!("avx512f") && p > 0 && p.is_multiple_of(64 / size_of::<T>()) {
            if let (Some(o), Some(z)) = (cast_mut::<T, f32>(o), cast::<T, f32>(z)) {
                let (s, b) = (cast_val(scale).unwrap_or(0.0), beta.and_then(cast_val));
                // SAFETY: the CPU supports AVX-512F (checked above).
                unsafe { f32_wide(o, z, neg, (s, b), stream) };
                return;
            }
            if let (Some(o), Some(z)) = (cast_mut::<T, f64>(o), cast::<T, f64>(z)) {
                let (s, b) = (cast_val(scale).unwrap_or(0.0), beta.and_then(cast_val));
                // SAFETY: as above.
                unsafe { f64_wide(o, z, neg, (s, b), stream) };
                return;
            }
        }
        let fused = has!("avx2") && has!("fma") && has!("avx512f") && has!("avx512vl");
        if fused || has!("avx2") {
            if let (Some(o), Some(z)) = (cast_mut::<T, f32>(o), cast::<T, f32>(z)) {
                let (s, b) = (cast_val(scale).unwrap_or(0.0), beta.and_then(cast_val));
                // SAFETY: the CPU supports the features of the function called (checked above).
                unsafe {
                    if fused {
                        f32_fused(o, z, neg, (s, b), stream);
                    } else {
                        f32_avx2(o, z, neg, (s, b), stream);
                    }
                }
                return;
            }
            if let (Some(o), Some(z)) = (cast_mut::<T, f64>(o), cast::<T, f64>(z)) {
                let (s, b) = (cast_val(scale).unwrap_or(0.0), beta.and_then(cast_val));
                // SAFETY: as above.
                unsafe {
                    if fused {
                        f64_fused(o, z, neg, (s, b), stream);
                    } else {
                        f64_avx2(o, z, neg, (s, b), stream);
                    }
                }
                return;
            }
        }
    }
    // SAFETY: `FUSED` is false.
    unsafe { mix_lanes::<Quad<T>, false>(o, z, neg, (scale, beta), stream) };
}

/// [`mix_into`] in vectors `V`: up to 8 vectors of an output block in registers across all `m`
/// input blocks (one load and store of the output per vector). With `FUSED`, four output blocks
/// at a time ([`mix_block_quad`], up to 4 vectors of each), the `m mod 4` left over one at a
/// time: each loaded vector of `z` goes into all four, half through the fused multiply-add
/// units and half through the adders. Four blocks rather than two (the loop this replaced):
/// two blocks load one vector per two additions, so their loads (two 512-bit ones per cycle
/// on a Zen 5) take as many cycles as their additions (four units); four blocks halve them.
/// `hadamard28` 3584×64 on the Zen 5 dev VM (2026-12-03, medians, scratch aligned): one thread
/// 66–67 µs two blocks at a time, 61–62 in fours; two threads 42 and 39–40.
///
/// # Safety
/// With `FUSED`, the CPU supports FMA ([`Lanes::mul_add`]).
#[inline(always)]
unsafe fn mix_lanes<V: Lanes, const FUSED: bool>(
    o: &mut [V::T],
    z: &[V::T],
    neg: &[bool],
    (scale, beta): (V::T, Option<V::T>),
    stream: bool,
) {
    let m = neg.len().isqrt();
    if m == 0 {
        return;
    }
    let p = o.len() / m;
    if p < V::W || !p.is_multiple_of(V::W) {
        for (a, ob) in o.chunks_exact_mut(p).enumerate() {
            mix_scalar(ob, z, &neg[a * m..(a + 1) * m], scale, beta);
        }
        return;
    }
    let c = (p / V::W).min(8);
    let stream = stream && beta.is_none() && aligned::<V>(o.as_ptr());
    // SAFETY (both): the lanes type is used only where the CPU supports its instructions.
    let scale = unsafe { V::splat(scale) };
    let beta = beta.map(|b| unsafe { V::splat(b) });
    let (zp, op) = (z.as_ptr(), o.as_mut_ptr());
    // The blocks that go in fours (all but the last `m mod 4`, or none without FMA); the rest
    // one at a time.
    let quads = if FUSED { m & !3 } else { 0 };
    let cq = (p / V::W).min(4);
    for a in (0..quads).step_by(4) {
        let rows = [0, 1, 2, 3].map(|i| &neg[(a + i) * m..(a + i + 1) * m]);
        // SAFETY: as below, for blocks `a` to `a + 3`; the CPU has FMA (the contract).
        unsafe {
            let oa = op.add(a * p);
            match (cq, stream) {
                (1, false) => mix_block_quad::<V, 1, false>(oa, zp, p, rows, scale, beta),
                (1, true) => mix_block_quad::<V, 1, true>(oa, zp, p, rows, scale, beta),
                (2, false) => mix_block_quad::<V, 2, false>(oa, zp, p, rows, scale, beta),
                (2, true) => mix_block_quad::<V, 2, true>(oa, zp, p, rows, scale, beta),
                (_, false) => mix_block_quad::<V, 4, false>(oa, zp, p, rows, scale, beta),
                (_, true) => mix_block_quad::<V, 4, true>(oa, zp, p, rows, scale, beta),
            }
        }
    }
    for a in quads..m {
        let row = &neg[a * m..(a + 1) * m];
        // SAFETY: `z` and `o` hold `m·p` elements; block `a` of `o` is `p` elements from `a·p`,
        // a multiple of the `c·W` elements each call covers.
        unsafe {
            let ob = op.add(a * p);
            match (c, stream) {
                (1, false) => mix_block::<V, 1, false>(ob, zp, p, row, scale, beta),
                (1, true) => mix_block::<V, 1, true>(ob, zp, p, row, scale, beta),
                (2, false) => mix_block::<V, 2, false>(ob, zp, p, row, scale, beta),
                (2, true) => mix_block::<V, 2, true>(ob, zp, p, row, scale, beta),
                (4, false) => mix_block::<V, 4, false>(ob, zp, p, row, scale, beta),
                (4, true) => mix_block::<V, 4, true>(ob, zp, p, row, scale, beta),
                (_, false) => mix_block::<V, 8, false>(ob, zp, p, row, scale, beta),
                (_, true) => mix_block::<V, 8, true>(ob, zp, p, row, scale, beta),
            }
        }
    }
    if stream {
        lanes::fence();
    }
}

/// One output block (`p` elements at `o`) of [`mix_lanes`], `C` vectors at a time, stored with
/// non-temporal stores when `STREAM`.
///
/// # Safety
/// `o` is valid for `p` elements and `z` for `row.len()·p`, `p` a multiple of `C·W`; the CPU
/// supports the lanes type's instructions; with `STREAM`, `o` is aligned to `W` elements.
#[inline(always)]
unsafe fn mix_block<V: Lanes, const C: usize, const STREAM: bool>(
    o: *mut V::T,
    z: *const V::T,
    p: usize,
    row: &[bool],
    scale: V,
    beta: Option<V>,
) {
    let w = V::W;
    // No closures (see `first_pass`).
    for c0 in (0..p).step_by(C * w) {
        // SAFETY (loads and stores): `c0 + C·w ≤ p`, and block `a'` of `z` is the `p` elements
        // from `a'·p`.
        let mut acc = [unsafe { V::load(z.add(c0)) }; C];
        for (c, d) in acc.iter_mut().enumerate() {
            *d = unsafe { V::load(z.add(c0 + c * w)) }.signed(unsafe { V::sign(row[0]) });
        }
        for (k, &neg) in row.iter().enumerate().skip(1) {
            // SAFETY: the lanes type is used only where the CPU supports its instructions.
            let s = unsafe { V::sign(neg) };
            let zk = unsafe { z.add(k * p + c0) };
            for (c, d) in acc.iter_mut().enumerate() {
                *d = d.add(unsafe { V::load(zk.add(c * w)) }.signed(s));
            }
        }
        for (c, d) in acc.into_iter().enumerate() {
            let dst = unsafe { o.add(c0 + c * w) };
            // SAFETY: `dst` is inside the output block (as the loads above).
            unsafe { finish::<V, STREAM>(dst, d, scale, beta) };
        }
    }
}

/// Stores `scale·d (+ beta·*dst)` at `dst`: the mix's last step for one vector of an output
/// block, with a non-temporal store when `STREAM`.
///
/// # Safety
/// `dst` is valid for reading and writing `W` elements (aligned to `W` with `STREAM`); the CPU
/// supports the lanes type's instructions.
#[inline(always)]
unsafe fn finish<V: Lanes, const STREAM: bool>(dst: *mut V::T, d: V, scale: V, beta: Option<V>) {
    let mut t = d.mul(scale);
    if let Some(b) = beta {
        // SAFETY: the caller's contract.
        t = t.add(b.mul(unsafe { V::load(dst) }));
    }
    // SAFETY: the caller's contract.
    unsafe {
        if STREAM {
            t.stream(dst);
        } else {
            t.store(dst);
        }
    }
}

/// Four output blocks (`p` elements each, from `o`) of [`mix_lanes`], `C` vectors of each at a
/// time: every vector of `z` is loaded once and added into all four, into blocks 0 and 2 by
/// fused multiply-adds with `±1` (the product is exact, so `d·1 ± z` rounds once to the same bits
/// as `d ± z`) and into blocks 1 and 3 by additions or subtractions (`d − z` is `d + (−z)`
/// exactly), so the adders and the multiply-add units run at once.
///
/// # Safety
/// `o` is valid for `4·p` elements and `z` for `rows[0].len()·p`, `p` a multiple of `C·W`; the
/// CPU supports the lanes type's instructions and FMA; with `STREAM`, `o` is aligned to `W`
/// elements.
// The loops index the four rows of signs and accumulators by one counter each.
#[allow(clippy::needless_range_loop)]
#[inline(always)]
unsafe fn mix_block_quad<V: Lanes, const C: usize, const STREAM: bool>(
    o: *mut V::T,
    z: *const V::T,
    p: usize,
    rows: [&[bool]; 4],
    scale: V,
    beta: Option<V>,
) {
    let w = V::W;
    // SAFETY (splat and every `sign`): the CPU supports the lanes type's instructions.
    let one = unsafe { V::splat(t(1.0)) };
    // No closures (see `first_pass`).
    for c0 in (0..p).step_by(C * w) {
        // SAFETY (loads and stores): `c0 + C·w ≤ p`, block `a'` of `z` is the `p` elements
        // from `a'·p`, and output block `i` is the `p` elements from `o + i·p`.
        let z0 = [unsafe { V::load(z.add(c0)) }; C];
        let mut acc = [z0; 4];
        for c in 0..C {
            let v = unsafe { V::load(z.add(c0 + c * w)) };
            for (i, a) in acc.iter_mut().enumerate() {
                a[c] = v.signed(unsafe { V::sign(rows[i][0]) });
            }
        }
        for k in 1..rows[0].len() {
            let one_0 = one.signed(unsafe { V::sign(rows[0][k]) });
            let one_2 = one.signed(unsafe { V::sign(rows[2][k]) });
            let (neg_1, neg_3) = (rows[1][k], rows[3][k]);
            let zk = unsafe { z.add(k * p + c0) };
            for c in 0..C {
                let v = unsafe { V::load(zk.add(c * w)) };
                // SAFETY: the CPU has FMA (the contract).
                acc[0][c] = unsafe { v.mul_add(one_0, acc[0][c]) };
                acc[1][c] = if neg_1 {
                    acc[1][c].sub(v)
                } else {
                    acc[1][c].add(v)
                };
                acc[2][c] = unsafe { v.mul_add(one_2, acc[2][c]) };
                acc[3][c] = if neg_3 {
                    acc[3][c].sub(v)
                } else {
                    acc[3][c].add(v)
                };
            }
        }
        for (i, a) in acc.into_iter().enumerate() {
            for (c, d) in a.into_iter().enumerate() {
                let dst = unsafe { o.add(i * p + c0 + c * w) };
                // SAFETY: `dst` is inside block `i` of the output (as the loads above).
                unsafe { finish::<V, STREAM>(dst, d, scale, beta) };
            }
        }
    }
}

/// One output block `ob` of [`mix_into`] one element at a time (blocks shorter than a vector).
fn mix_scalar<T: CpuElem>(ob: &mut [T], z: &[T], neg: &[bool], scale: T, beta: Option<T>) {
    let p = ob.len();
    for (i, e) in ob.iter_mut().enumerate() {
        let mut d = if neg[0] { -z[i] } else { z[i] };
        for (k, &s) in neg.iter().enumerate().skip(1) {
            let v = z[k * p + i];
            d += if s { -v } else { v };
        }
        let t = d * scale;
        *e = beta.map_or(t, |b| t + b * *e);
    }
}

/// Vectors of lanes for the transform and the mix: one trait, a portable implementation, and the
/// AVX2 ones (x86-64).
mod lanes {
    use crate::CpuElem;

    /// `W` lanes of `T` and the operations the kernels need, each lane by lane (so the same bits
    /// as the scalar operations), plus [`Lanes::within`], the butterflies inside one vector.
    ///
    /// A value exists only where the CPU supports the type's instructions: the constructors
    /// ([`Lanes::load`], [`Lanes::splat`], [`Lanes::sign`]) are `unsafe` with that requirement,
    /// so the operations on values are safe.
    pub(super) trait Lanes: Copy {
        /// The element type.
        type T: CpuElem;
        /// A per-vector sign: `+` or `−`.
        type Sign: Copy;
        /// Lanes per vector.
        const W: usize;
        /// The `W` elements at `p`.
        ///
        /// # Safety
        /// `p` is valid for reading `W` elements; the CPU supports the type's instructions.
        unsafe fn load(p: *const Self::T) -> Self;
        /// Stores the lanes at `p`.
        ///
        /// # Safety
        /// `p` is valid for writing `W` elements.
        unsafe fn store(self, p: *mut Self::T);
        /// Stores the lanes at `p` past the caches (a non-temporal store, where the type has
        /// one; a plain store otherwise). Weakly ordered: [`fence`] before the data is handed
        /// over.
        ///
        /// # Safety
        /// `p` is valid for writing `W` elements and aligned to `W` elements.
        unsafe fn stream(self, p: *mut Self::T);
        /// `v` in every lane.
        ///
        /// # Safety
        /// The CPU supports the type's instructions.
        unsafe fn splat(v: Self::T) -> Self;
        /// `−` when `neg`, else `+`.
        ///
        /// # Safety
        /// The CPU supports the type's instructions.
        unsafe fn sign(neg: bool) -> Self::Sign;
        /// Lane by lane `self + o`.
        fn add(self, o: Self) -> Self;
        /// Lane by lane `self − o`.
        fn sub(self, o: Self) -> Self;
        /// Lane by lane `self · o`.
        fn mul(self, o: Self) -> Self;
        /// Lane by lane `self · s + acc`, rounded once (a fused multiply-add) on the AVX2 types;
        /// the portable type rounds the product first, which gives the same bits when `s` is
        /// `±1` (the product is exact), the only use.
        ///
        /// # Safety
        /// The CPU supports FMA (the AVX2 types).
        unsafe fn mul_add(self, s: Self, acc: Self) -> Self;
        /// Every lane negated (exactly: the sign bit flipped) when `s` is `−`.
        fn signed(self, s: Self::Sign) -> Self;
        /// The stages `h = 1, 2, …, W/2` of butterflies inside the vector, in that order: lane
        /// `i` with bit `h` clear becomes `x_i + x_{i+h}`, lane `i + h` becomes `x_i − x_{i+h}`.
        fn within(self) -> Self;
    }

    /// Four lanes of any element type in portable code (the compiler vectorizes it to the
    /// baseline's 128-bit registers).
    #[derive(Clone, Copy)]
    pub(super) struct Quad<T>([T; 4]);

    impl<T: CpuElem> Lanes for Quad<T> {
        type T = T;
        type Sign = bool;
        const W: usize = 4;

        #[inline(always)]
        unsafe fn load(p: *const T) -> Self {
            // SAFETY: `p` is valid for 4 elements (the caller's contract).
            Self(unsafe { p.cast::<[T; 4]>().read_unaligned() })
        }

        #[inline(always)]
        unsafe fn store(self, p: *mut T) {
            // SAFETY: as in `load`.
            unsafe { p.cast::<[T; 4]>().write_unaligned(self.0) }
        }

        #[inline(always)]
        unsafe fn stream(self, p: *mut T) {
            // SAFETY: as in `load`.
            unsafe { self.store(p) }
        }

        #[inline(always)]
        unsafe fn splat(v: T) -> Self {
            Self([v; 4])
        }

        #[inline(always)]
        unsafe fn sign(neg: bool) -> bool {
            neg
        }

        #[inline(always)]
        fn add(self, o: Self) -> Self {
            let (a, b) = (self.0, o.0);
            Self([a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3]])
        }

        #[inline(always)]
        fn sub(self, o: Self) -> Self {
            let (a, b) = (self.0, o.0);
            Self([a[0] - b[0], a[1] - b[1], a[2] - b[2], a[3] - b[3]])
        }

        #[inline(always)]
        fn mul(self, o: Self) -> Self {
            let (a, b) = (self.0, o.0);
            Self([a[0] * b[0], a[1] * b[1], a[2] * b[2], a[3] * b[3]])
        }

        #[inline(always)]
        unsafe fn mul_add(self, s: Self, acc: Self) -> Self {
            self.mul(s).add(acc)
        }

        #[inline(always)]
        fn signed(self, s: bool) -> Self {
            if s { Self(self.0.map(|v| -v)) } else { self }
        }

        #[inline(always)]
        fn within(self) -> Self {
            let [a, b, c, d] = self.0;
            let [a, b, c, d] = [a + b, a - b, c + d, c - d];
            Self([a + c, b + d, a - c, b - d])
        }
    }

    #[cfg(target_arch = "x86_64")]
    pub(super) use avx2::{F32x8, F64x4};
    #[cfg(target_arch = "x86_64")]
    pub(super) use avx512::{F32x16, F64x8};

    /// Orders the non-temporal stores before ([`Lanes::stream`]) before every later store.
    #[inline(always)]
    pub(super) fn fence() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: SSE is in the x86-64 baseline.
        unsafe {
            std::arch::x86_64::_mm_sfence();
        }
    }

    /// The AVX2 lanes (CPUs without AVX-512F, and lengths below one AVX-512 register).
    #[cfg(target_arch = "x86_64")]
    mod avx2 {
        use super::Lanes;
        use std::arch::x86_64::{
            __m256, __m256d, _mm256_add_pd, _mm256_add_ps, _mm256_fmadd_pd, _mm256_fmadd_ps,
            _mm256_loadu_pd, _mm256_loadu_ps, _mm256_mul_pd, _mm256_mul_ps, _mm256_permute_pd,
            _mm256_permute_ps, _mm256_permute2f128_pd, _mm256_permute2f128_ps, _mm256_set1_pd,
            _mm256_set1_ps, _mm256_setr_pd, _mm256_setr_ps, _mm256_storeu_pd, _mm256_storeu_ps,
            _mm256_stream_pd, _mm256_stream_ps, _mm256_sub_pd, _mm256_sub_ps, _mm256_xor_pd,
            _mm256_xor_ps,
        };

        /// Eight f32 lanes in an AVX register. Made only by the `unsafe` constructors, whose
        /// contract includes a CPU with AVX2 (see [`Lanes`]).
        #[derive(Clone, Copy)]
        pub(in super::super) struct F32x8(__m256);

        /// Four f64 lanes in an AVX register (as [`F32x8`]).
        #[derive(Clone, Copy)]
        pub(in super::super) struct F64x4(__m256d);

        impl Lanes for F32x8 {
            type T = f32;
            type Sign = __m256;
            const W: usize = 8;

            #[inline(always)]
            unsafe fn load(p: *const f32) -> Self {
                // SAFETY: `p` is valid for 8 elements and the CPU has AVX (the contract).
                Self(unsafe { _mm256_loadu_ps(p) })
            }

            #[inline(always)]
            unsafe fn store(self, p: *mut f32) {
                // SAFETY: as in `load`; the value exists, so the CPU has AVX.
                unsafe { _mm256_storeu_ps(p, self.0) }
            }

            #[inline(always)]
            unsafe fn stream(self, p: *mut f32) {
                // SAFETY: `p` is valid and aligned to 32 bytes (the contract).
                unsafe { _mm256_stream_ps(p, self.0) }
            }

            #[inline(always)]
            unsafe fn splat(v: f32) -> Self {
                // SAFETY: the CPU has AVX (the contract).
                Self(unsafe { _mm256_set1_ps(v) })
            }

            #[inline(always)]
            unsafe fn sign(neg: bool) -> __m256 {
                // SAFETY: as in `splat`.
                unsafe { _mm256_set1_ps(if neg { -0.0 } else { 0.0 }) }
            }

            // SAFETY (every operation below): a value exists, so the CPU has AVX2.
            #[inline(always)]
            fn add(self, o: Self) -> Self {
                Self(unsafe { _mm256_add_ps(self.0, o.0) })
            }

            #[inline(always)]
            fn sub(self, o: Self) -> Self {
                Self(unsafe { _mm256_sub_ps(self.0, o.0) })
            }

            #[inline(always)]
            fn mul(self, o: Self) -> Self {
                Self(unsafe { _mm256_mul_ps(self.0, o.0) })
            }

            #[inline(always)]
            unsafe fn mul_add(self, s: Self, acc: Self) -> Self {
                // SAFETY: the CPU has FMA (the contract) and AVX2 (a value exists).
                Self(unsafe { _mm256_fmadd_ps(self.0, s.0, acc.0) })
            }

            #[inline(always)]
            fn signed(self, s: __m256) -> Self {
                Self(unsafe { _mm256_xor_ps(self.0, s) })
            }

            #[inline(always)]
            fn within(self) -> Self {
                // Each stage: the partner lanes `p`, then `p + x` in the lanes with bit h clear
                // and `p + (−x)`, which is `p − x` (the lower minus the upper) exactly, in the
                // others: one addition per lane where an addition, a subtraction and a blend
                // took two.
                unsafe {
                    let x = self.0;
                    let m1 = _mm256_setr_ps(0.0, -0.0, 0.0, -0.0, 0.0, -0.0, 0.0, -0.0);
                    let m2 = _mm256_setr_ps(0.0, 0.0, -0.0, -0.0, 0.0, 0.0, -0.0, -0.0);
                    let m4 = _mm256_setr_ps(0.0, 0.0, 0.0, 0.0, -0.0, -0.0, -0.0, -0.0);
                    let x = _mm256_add_ps(_mm256_permute_ps::<0xB1>(x), _mm256_xor_ps(x, m1));
                    let x = _mm256_add_ps(_mm256_permute_ps::<0x4E>(x), _mm256_xor_ps(x, m2));
                    let p = _mm256_permute2f128_ps::<0x01>(x, x);
                    Self(_mm256_add_ps(p, _mm256_xor_ps(x, m4)))
                }
            }
        }

        impl Lanes for F64x4 {
            type T = f64;
            type Sign = __m256d;
            const W: usize = 4;

            #[inline(always)]
            unsafe fn load(p: *const f64) -> Self {
                // SAFETY: `p` is valid for 4 elements and the CPU has AVX (the contract).
                Self(unsafe { _mm256_loadu_pd(p) })
            }

            #[inline(always)]
            unsafe fn store(self, p: *mut f64) {
                // SAFETY: as in `load`; the value exists, so the CPU has AVX.
                unsafe { _mm256_storeu_pd(p, self.0) }
            }

            #[inline(always)]
            unsafe fn stream(self, p: *mut f64) {
                // SAFETY: `p` is valid and aligned to 32 bytes (the contract).
                unsafe { _mm256_stream_pd(p, self.0) }
            }

            #[inline(always)]
            unsafe fn splat(v: f64) -> Self {
                // SAFETY: the CPU has AVX (the contract).
                Self(unsafe { _mm256_set1_pd(v) })
            }

            #[inline(always)]
            unsafe fn sign(neg: bool) -> __m256d {
                // SAFETY: as in `splat`.
                unsafe { _mm256_set1_pd(if neg { -0.0 } else { 0.0 }) }
            }

            // SAFETY (every operation below): a value exists, so the CPU has AVX2.
            #[inline(always)]
            fn add(self, o: Self) -> Self {
                Self(unsafe { _mm256_add_pd(self.0, o.0) })
            }

            #[inline(always)]
            fn sub(self, o: Self) -> Self {
                Self(unsafe { _mm256_sub_pd(self.0, o.0) })
            }

            #[inline(always)]
            fn mul(self, o: Self) -> Self {
                Self(unsafe { _mm256_mul_pd(self.0, o.0) })
            }

            #[inline(always)]
            unsafe fn mul_add(self, s: Self, acc: Self) -> Self {
                // SAFETY: as for `F32x8`.
                Self(unsafe { _mm256_fmadd_pd(self.0, s.0, acc.0) })
            }

            #[inline(always)]
            fn signed(self, s: __m256d) -> Self {
                Self(unsafe { _mm256_xor_pd(self.0, s) })
            }

            #[inline(always)]
            fn within(self) -> Self {
                // As for `F32x8`, stages h = 1 and 2.
                unsafe {
                    let x = self.0;
                    let m1 = _mm256_setr_pd(0.0, -0.0, 0.0, -0.0);
                    let m2 = _mm256_setr_pd(0.0, 0.0, -0.0, -0.0);
                    let x = _mm256_add_pd(_mm256_permute_pd::<0b0101>(x), _mm256_xor_pd(x, m1));
                    let p = _mm256_permute2f128_pd::<0x01>(x, x);
                    Self(_mm256_add_pd(p, _mm256_xor_pd(x, m2)))
                }
            }
        }
    }

    /// The AVX-512F lanes: twice the AVX2 ones per instruction. On the Zen 5 dev box (512-bit
    /// adders and multiply-add units) a 256-bit operation takes a whole unit for half the work,
    /// and the core issues only so many instructions per cycle: the `m·2^k` mix at `m = 28`
    /// went from 1120 to 620 ns per column of 3584 f32 in a microbenchmark (2026-12-03).
    #[cfg(target_arch = "x86_64")]
    mod avx512 {
        use super::Lanes;
        use std::arch::x86_64::{
            __m512, __m512d, _mm512_add_pd, _mm512_add_ps, _mm512_castpd_si512,
            _mm512_castps_si512, _mm512_castsi512_pd, _mm512_castsi512_ps, _mm512_fmadd_pd,
            _mm512_fmadd_ps, _mm512_loadu_pd, _mm512_loadu_ps, _mm512_mul_pd, _mm512_mul_ps,
            _mm512_permute_pd, _mm512_permute_ps, _mm512_set1_pd, _mm512_set1_ps, _mm512_setr_pd,
            _mm512_setr_ps, _mm512_shuffle_f32x4, _mm512_shuffle_f64x2, _mm512_storeu_pd,
            _mm512_storeu_ps, _mm512_stream_pd, _mm512_stream_ps, _mm512_sub_pd, _mm512_sub_ps,
            _mm512_xor_si512,
        };

        /// Sixteen f32 lanes in an AVX-512 register. Made only by the `unsafe` constructors,
        /// whose contract includes a CPU with AVX-512F (see [`Lanes`]).
        #[derive(Clone, Copy)]
        pub(in super::super) struct F32x16(__m512);

        /// Eight f64 lanes in an AVX-512 register (as [`F32x16`]).
        #[derive(Clone, Copy)]
        pub(in super::super) struct F64x8(__m512d);

        /// `x` with the sign bit flipped where `m` has it (AVX-512F has no `xor` of floats).
        #[inline(always)]
        fn flip_ps(x: __m512, m: __m512) -> __m512 {
            // SAFETY: callers hold a value, so the CPU has AVX-512F.
            unsafe {
                _mm512_castsi512_ps(_mm512_xor_si512(
                    _mm512_castps_si512(x),
                    _mm512_castps_si512(m),
                ))
            }
        }

        /// As [`flip_ps`], for f64.
        #[inline(always)]
        fn flip_pd(x: __m512d, m: __m512d) -> __m512d {
            // SAFETY: as above.
            unsafe {
                _mm512_castsi512_pd(_mm512_xor_si512(
                    _mm512_castpd_si512(x),
                    _mm512_castpd_si512(m),
                ))
            }
        }

        impl Lanes for F32x16 {
            type T = f32;
            type Sign = __m512;
            const W: usize = 16;

            #[inline(always)]
            unsafe fn load(p: *const f32) -> Self {
                // SAFETY: `p` is valid for 16 elements and the CPU has AVX-512F (the contract).
                Self(unsafe { _mm512_loadu_ps(p) })
            }

            #[inline(always)]
            unsafe fn store(self, p: *mut f32) {
                // SAFETY: as in `load`; the value exists, so the CPU has AVX-512F.
                unsafe { _mm512_storeu_ps(p, self.0) }
            }

            #[inline(always)]
            unsafe fn stream(self, p: *mut f32) {
                // SAFETY: `p` is valid and aligned to 64 bytes (the contract: 16 elements).
                unsafe { _mm512_stream_ps(p, self.0) }
            }

            #[inline(always)]
            unsafe fn splat(v: f32) -> Self {
                // SAFETY: the CPU has AVX-512F (the contract).
                Self(unsafe { _mm512_set1_ps(v) })
            }

            #[inline(always)]
            unsafe fn sign(neg: bool) -> __m512 {
                // SAFETY: as in `splat`.
                unsafe { _mm512_set1_ps(if neg { -0.0 } else { 0.0 }) }
            }

            // SAFETY (every operation below): a value exists, so the CPU has AVX-512F.
            #[inline(always)]
            fn add(self, o: Self) -> Self {
                Self(unsafe { _mm512_add_ps(self.0, o.0) })
            }

            #[inline(always)]
            fn sub(self, o: Self) -> Self {
                Self(unsafe { _mm512_sub_ps(self.0, o.0) })
            }

            #[inline(always)]
            fn mul(self, o: Self) -> Self {
                Self(unsafe { _mm512_mul_ps(self.0, o.0) })
            }

            #[inline(always)]
            unsafe fn mul_add(self, s: Self, acc: Self) -> Self {
                // SAFETY: AVX-512F has the fused multiply-add of its registers.
                Self(unsafe { _mm512_fmadd_ps(self.0, s.0, acc.0) })
            }

            #[inline(always)]
            fn signed(self, s: __m512) -> Self {
                Self(flip_ps(self.0, s))
            }

            #[inline(always)]
            fn within(self) -> Self {
                // As for `F32x8`: each stage the partner lanes `p`, then `p + x` where bit h is
                // clear and `p + (−x)` where it is set; stages h = 4 and 8 swap 128-bit lanes.
                unsafe {
                    let x = self.0;
                    let (z, n) = (0.0, -0.0);
                    let m1 = _mm512_setr_ps(z, n, z, n, z, n, z, n, z, n, z, n, z, n, z, n);
                    let m2 = _mm512_setr_ps(z, z, n, n, z, z, n, n, z, z, n, n, z, z, n, n);
                    let m4 = _mm512_setr_ps(z, z, z, z, n, n, n, n, z, z, z, z, n, n, n, n);
                    let m8 = _mm512_setr_ps(z, z, z, z, z, z, z, z, n, n, n, n, n, n, n, n);
                    let x = _mm512_add_ps(_mm512_permute_ps::<0xB1>(x), flip_ps(x, m1));
                    let x = _mm512_add_ps(_mm512_permute_ps::<0x4E>(x), flip_ps(x, m2));
                    let p = _mm512_shuffle_f32x4::<0xB1>(x, x);
                    let x = _mm512_add_ps(p, flip_ps(x, m4));
                    let p = _mm512_shuffle_f32x4::<0x4E>(x, x);
                    Self(_mm512_add_ps(p, flip_ps(x, m8)))
                }
            }
        }

        impl Lanes for F64x8 {
            type T = f64;
            type Sign = __m512d;
            const W: usize = 8;

            #[inline(always)]
            unsafe fn load(p: *const f64) -> Self {
                // SAFETY: `p` is valid for 8 elements and the CPU has AVX-512F (the contract).
                Self(unsafe { _mm512_loadu_pd(p) })
            }

            #[inline(always)]
            unsafe fn store(self, p: *mut f64) {
                // SAFETY: as in `load`; the value exists, so the CPU has AVX-512F.
                unsafe { _mm512_storeu_pd(p, self.0) }
            }

            #[inline(always)]
            unsafe fn stream(self, p: *mut f64) {
                // SAFETY: `p` is valid and aligned to 64 bytes (the contract: 8 elements).
                unsafe { _mm512_stream_pd(p, self.0) }
            }

            #[inline(always)]
            unsafe fn splat(v: f64) -> Self {
                // SAFETY: the CPU has AVX-512F (the contract).
                Self(unsafe { _mm512_set1_pd(v) })
            }

            #[inline(always)]
            unsafe fn sign(neg: bool) -> __m512d {
                // SAFETY: as in `splat`.
                unsafe { _mm512_set1_pd(if neg { -0.0 } else { 0.0 }) }
            }

            // SAFETY (every operation below): a value exists, so the CPU has AVX-512F.
            #[inline(always)]
            fn add(self, o: Self) -> Self {
                Self(unsafe { _mm512_add_pd(self.0, o.0) })
            }

            #[inline(always)]
            fn sub(self, o: Self) -> Self {
                Self(unsafe { _mm512_sub_pd(self.0, o.0) })
            }

            #[inline(always)]
            fn mul(self, o: Self) -> Self {
                Self(unsafe { _mm512_mul_pd(self.0, o.0) })
            }

            #[inline(always)]
            unsafe fn mul_add(self, s: Self, acc: Self) -> Self {
                // SAFETY: as for `F32x16`.
                Self(unsafe { _mm512_fmadd_pd(self.0, s.0, acc.0) })
            }

            #[inline(always)]
            fn signed(self, s: __m512d) -> Self {
                Self(flip_pd(self.0, s))
            }

            #[inline(always)]
            fn within(self) -> Self {
                // As for `F32x16`, stages h = 1, 2 and 4.
                unsafe {
                    let x = self.0;
                    let (z, n) = (0.0, -0.0);
                    let m1 = _mm512_setr_pd(z, n, z, n, z, n, z, n);
                    let m2 = _mm512_setr_pd(z, z, n, n, z, z, n, n);
                    let m4 = _mm512_setr_pd(z, z, z, z, n, n, n, n);
                    let x = _mm512_add_pd(_mm512_permute_pd::<0x55>(x), flip_pd(x, m1));
                    let p = _mm512_shuffle_f64x2::<0xB1>(x, x);
                    let x = _mm512_add_pd(p, flip_pd(x, m2));
                    let p = _mm512_shuffle_f64x2::<0x4E>(x, x);
                    Self(_mm512_add_pd(p, flip_pd(x, m4)))
                }
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::values;

    /// `f64` bits of `v` (exact for `f32`, and `±0` stay apart).
    fn bits<T: CpuElem>(v: T) -> u64 {
        v.to_f64().to_bits()
    }

    /// Checks `got` equals `want` bit for bit, naming the first differing index.
    fn same_bits<T: CpuElem>(got: &[T], want: &[T], what: &str) {
        assert_eq!(got.len(), want.len(), "{what}: lengths");
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!(
                bits(*g) == bits(*w),
                "{what}: index {i}: got {}, want {}, diff {}",
                g.to_f64(),
                w.to_f64(),
                g.to_f64() - w.to_f64()
            );
        }
    }

    /// A seeded `r×c` matrix of values in `[-1, 1)` (some exact zeros and negative zeros, so the
    /// sign of zero is exercised too).
    fn mat<T: CpuElem>(seed: u64, r: usize, c: usize) -> Mat<T> {
        let v = values(seed, r * c);
        Mat::from_fn(r, c, |i, j| {
            let e = v[i + j * r];
            match (i * 7 + j * 3) % 23 {
                0 => t(0.0),
                1 => t(-0.0),
                _ => t(e),
            }
        })
    }

    /// The plain definition: pad/truncate, radix-2 loop, scale, then `t + beta·out`.
    fn fwht_reference<T: CpuElem>(x: MatRef<'_, T>, out: &Mat<T>, alpha: f64, beta: f64) -> Mat<T> {
        let n = x.nrows().max(out.nrows());
        let scale = t::<T>(alpha / (n as f64).sqrt());
        let mut r = out.clone();
        for j in 0..x.ncols() {
            let mut v: Vec<T> = (0..n)
                .map(|i| if i < x.nrows() { x[(i, j)] } else { t(0.0) })
                .collect();
            fwht_in_place(&mut v);
            for i in 0..out.nrows() {
                let s = scale * v[i];
                r[(i, j)] = if beta == 0.0 {
                    s
                } else {
                    s + t::<T>(beta) * out[(i, j)]
                };
            }
        }
        r
    }

    fn check_fwht<T: CpuElem>(r_in: usize, r_out: usize, cols: usize, alpha: f64, beta: f64) {
        let x = mat::<T>(r_in as u64 * 31 + cols as u64, r_in, cols);
        let out0 = mat::<T>(7 + r_out as u64, r_out, cols);
        let want = fwht_reference(x.as_ref(), &out0, alpha, beta);
        let what = format!("fwht {r_in}->{r_out} cols {cols} alpha {alpha} beta {beta}");
        for par in [Par::Seq, Par::rayon(2)] {
            let mut out = out0.clone();
            fwht(x.as_ref(), &mut out, alpha, beta, par);
            for j in 0..cols {
                same_bits(out.col_as_slice(j), want.col_as_slice(j), &what);
            }
        }
        // The same on a strided (row stride ≠ 1) view of `X`.
        let xt = x.transpose().to_owned();
        let mut out = out0.clone();
        fwht(xt.as_ref().transpose(), &mut out, alpha, beta, Par::Seq);
        for j in 0..cols {
            same_bits(
                out.col_as_slice(j),
                want.col_as_slice(j),
                &format!("{what} strided"),
            );
        }
    }

    #[test]
    fn fast_transform_matches_the_radix2_loop_bit_for_bit() {
        for k in 0..=13 {
            let n = 1usize << k;
            let v = values(k as u64, n);
            let v32: Vec<f32> = v.iter().map(|&e| e as f32).collect();
            let (mut a, mut b) = (v32.clone(), v32);
            fwht_in_place(&mut a);
            fwht_fast(&mut b);
            same_bits(&b, &a, &format!("f32 n={n}"));
            let (mut a, mut b) = (v.clone(), v);
            fwht_in_place(&mut a);
            fwht_fast(&mut b);
            same_bits(&b, &a, &format!("f64 n={n}"));
            // The portable lanes (the path of CPUs without AVX2).
            let v = values(100 + k as u64, n);
            let (mut a, mut b) = (v.clone(), v.clone());
            fwht_in_place(&mut a);
            transform_lanes::<Quad<f64>>(Some(&v), &mut b, None);
            same_bits(&b, &a, &format!("portable n={n}"));
        }
    }

    #[test]
    fn radix2_loop_is_the_hadamard_matrix() {
        // Sylvester: H[i, j] = (−1)^popcount(i & j).
        let n = 16;
        for j in 0..n {
            let mut v = vec![0.0f64; n];
            v[j] = 1.0;
            fwht_in_place(&mut v);
            for (i, e) in v.iter().enumerate() {
                let want = if (i & j).count_ones() % 2 == 0 {
                    1.0
                } else {
                    -1.0
                };
                assert_eq!(*e, want, "H[{i}, {j}]");
            }
        }
    }

    #[test]
    fn fwht_matches_the_definition_bit_for_bit_f32() {
        for k in 0..=13 {
            let n = 1 << k;
            let cols = if n >= 4096 { 3 } else { 5 };
            check_fwht::<f32>(n, n, cols, 1.0, 0.0);
        }
        check_fwht::<f32>(4096, 4096, 1, 0.7, 0.0);
        check_fwht::<f32>(1024, 1024, 4, -1.5, 0.25);
        check_fwht::<f32>(8, 8, 3, 2.0, -1.0);
        check_fwht::<f32>(2, 2, 3, 2.0, 0.5);
        // Padding (rows(x) < N) and truncation (rows(out) < N).
        check_fwht::<f32>(1000, 1024, 3, 1.0, 0.0);
        check_fwht::<f32>(512, 300, 3, 1.3, 0.0);
        check_fwht::<f32>(300, 512, 3, 1.3, 0.5);
        check_fwht::<f32>(4, 3, 2, 1.0, 0.0);
        check_fwht::<f32>(3, 4, 2, 1.0, 0.0);
        // Outputs of `STREAM_MIN_BYTES` and more: non-temporal stores.
        check_fwht::<f32>(4096, 4096, STREAM_MIN_BYTES / 4096 / 4, 0.9, 0.0);
    }

    #[test]
    fn stream_into_copies_at_any_alignment() {
        let src: Vec<f32> = values(1, 100).iter().map(|&v| v as f32).collect();
        for off in 0..9 {
            for len in [0, 1, 7, 8, 9, 64, 91 - off] {
                let mut dst = vec![0.0f32; 100];
                stream_into(&mut dst[off..off + len], &src[..len]);
                same_bits(
                    &dst[off..off + len],
                    &src[..len],
                    &format!("off {off} len {len}"),
                );
                assert!(
                    dst[..off]
                        .iter()
                        .chain(&dst[off + len..])
                        .all(|&v| v == 0.0)
                );
            }
        }
        let src = values(2, 64);
        let mut dst = vec![0.0f64; 65];
        stream_into(&mut dst[1..], &src);
        same_bits(&dst[1..], &src, "f64 off 1");
    }

    #[test]
    fn fwht_matches_the_definition_bit_for_bit_f64() {
        for k in 0..=12 {
            let n = 1 << k;
            check_fwht::<f64>(n, n, 3, 1.0, 0.0);
        }
        check_fwht::<f64>(2048, 2048, 2, -0.3, 1.5);
        check_fwht::<f64>(100, 128, 2, 1.0, 0.0);
        check_fwht::<f64>(128, 5, 2, 2.0, 0.5);
        check_fwht::<f64>(4, 4, 2, 2.0, 0.5);
    }

    /// The plain definition of `fwht_base`: radix-2 per block, the mix in order, scale, beta.
    fn base_reference<T: CpuElem>(
        a: &Mat<T>,
        trans: bool,
        x: MatRef<'_, T>,
        out: &Mat<T>,
        alpha: f64,
        beta: f64,
    ) -> Mat<T> {
        let (n, m) = (x.nrows(), a.nrows());
        let p = n / m;
        let scale = t::<T>(alpha / (n as f64).sqrt());
        let mut r = out.clone();
        for j in 0..x.ncols() {
            let mut z: Vec<T> = (0..n).map(|i| x[(i, j)]).collect();
            z.chunks_exact_mut(p).for_each(fwht_in_place);
            for ra in 0..m {
                for i in 0..p {
                    let mut d = t::<T>(0.0);
                    for c in 0..m {
                        let e = if trans { a[(c, ra)] } else { a[(ra, c)] };
                        let v = z[c * p + i];
                        let neg = e < t::<T>(0.0);
                        d = if c == 0 {
                            if neg { -v } else { v }
                        } else if neg {
                            d - v
                        } else {
                            d + v
                        };
                    }
                    let s = scale * d;
                    let o = out[(ra * p + i, j)];
                    r[(ra * p + i, j)] = if beta == 0.0 { s } else { s + t::<T>(beta) * o };
                }
            }
        }
        r
    }

    fn check_base<T: CpuElem>(m: usize, p: usize, cols: usize, alpha: f64, beta: f64) {
        let n = m * p;
        let signs = values(m as u64 * 1000 + p as u64, m * m);
        let a = Mat::<T>::from_fn(m, m, |i, j| {
            t(if signs[i * m + j] < 0.0 { -1.0 } else { 1.0 })
        });
        let x = mat::<T>(n as u64 + 5, n, cols);
        let out0 = mat::<T>(n as u64 + 9, n, cols);
        for trans in [false, true] {
            let want = base_reference(&a, trans, x.as_ref(), &out0, alpha, beta);
            let what = format!("fwht_base m={m} p={p} trans={trans} alpha={alpha} beta={beta}");
            for par in [Par::Seq, Par::rayon(2)] {
                let mut out = out0.clone();
                fwht_base(a.as_ref(), trans, x.as_ref(), &mut out, (alpha, beta), par);
                for j in 0..cols {
                    same_bits(out.col_as_slice(j), want.col_as_slice(j), &what);
                }
            }
            let xt = x.transpose().to_owned();
            let mut out = out0.clone();
            let xs = xt.as_ref().transpose();
            fwht_base(a.as_ref(), trans, xs, &mut out, (alpha, beta), Par::Seq);
            for j in 0..cols {
                same_bits(
                    out.col_as_slice(j),
                    want.col_as_slice(j),
                    &format!("{what} strided"),
                );
            }
        }
    }

    #[test]
    fn fwht_base_matches_the_definition_bit_for_bit() {
        for m in [1, 2, 3, 12, 20, 28] {
            for k in 0..=9 {
                check_base::<f32>(m, 1 << k, 2, 1.0, 0.0);
            }
        }
        check_base::<f32>(12, 256, 3, 0.6, -0.75);
        check_base::<f32>(28, 128, 1, 1.0, 0.0);
        check_base::<f32>(20, 4, 3, -2.0, 0.5);
        check_base::<f32>(12, 2048, 2, 1.0, 0.0);
        // Outputs of `STREAM_MIN_BYTES` and more: non-temporal stores.
        check_base::<f32>(12, 256, STREAM_MIN_BYTES / 3072 / 4 + 1, 0.8, 0.0);
        for m in [1, 12, 20] {
            for k in [0, 1, 2, 3, 5, 8] {
                check_base::<f64>(m, 1 << k, 2, 1.0, 0.0);
            }
        }
        check_base::<f64>(12, 64, 2, 0.6, 1.25);
        // The portable mix (CPUs without AVX2).
        let (m, p) = (12, 32);
        let z = values(3, m * p);
        let neg: Vec<bool> = values(4, m * m).iter().map(|&s| s < 0.0).collect();
        let o0 = values(5, m * p);
        let (mut a, mut b) = (o0.clone(), o0);
        // SAFETY: the portable lanes need no CPU feature; `Quad::mul_add` none either.
        unsafe { mix_lanes::<Quad<f64>, false>(&mut a, &z, &neg, (0.3, Some(0.5)), false) };
        for (blk, ob) in b.chunks_exact_mut(p).enumerate() {
            mix_scalar(ob, &z, &neg[blk * m..(blk + 1) * m], 0.3, Some(0.5));
        }
        same_bits(&a, &b, "portable mix");
        // The blocks in fours (`FUSED`) in portable lanes, block counts with 3 left over included.
        for m in [3, 7, 12] {
            let z = values(6, m * p);
            let neg: Vec<bool> = values(7, m * m).iter().map(|&s| s < 0.0).collect();
            let o0 = values(8, m * p);
            let (mut a, mut b) = (o0.clone(), o0);
            // SAFETY: the portable lanes need no CPU feature.
            unsafe { mix_lanes::<Quad<f64>, true>(&mut a, &z, &neg, (0.3, Some(0.5)), false) };
            for (blk, ob) in b.chunks_exact_mut(p).enumerate() {
                mix_scalar(ob, &z, &neg[blk * m..(blk + 1) * m], 0.3, Some(0.5));
            }
            same_bits(&a, &b, &format!("portable fused mix m={m}"));
        }
    }

    /// The transform and the mix in lanes `V` against the plain loops ([`fwht_in_place`],
    /// [`mix_scalar`]), bit for bit: from a source and in place, scaled or not, every length up
    /// to 2^11, the mix one block at a time and (with `fused`) in fours, block counts that leave
    /// one to three blocks over included. Runs each
    /// lanes type directly, so the narrower paths stay tested on a CPU whose dispatch picks the
    /// widest.
    ///
    /// # Safety
    /// The CPU supports `V`'s instructions, and FMA when `fused`.
    #[inline(always)]
    unsafe fn check_lanes<V: Lanes>(what: &str, fused: bool) {
        let cv =
            |seed: u64, len: usize| -> Vec<V::T> { values(seed, len).into_iter().map(t).collect() };
        for k in 0..=11 {
            let n = 1usize << k;
            let v = cv(k as u64, n);
            let mut want = v.clone();
            fwht_in_place(&mut want);
            let mut got = v.clone();
            transform_lanes::<V>(Some(&v), &mut got, None);
            same_bits(&got, &want, &format!("{what} transform n={n}"));
            let mut got = v.clone();
            transform_lanes::<V>(None, &mut got, Some(t(0.3)));
            let scaled: Vec<V::T> = want.iter().map(|&e| e * t::<V::T>(0.3)).collect();
            same_bits(&got, &scaled, &format!("{what} scaled in place n={n}"));
        }
        // Block counts that go in fours only (12, 28) and with 1 to 3 left over (1, 3, 6, 7).
        for m in [1, 3, 6, 7, 12, 28] {
            for p in [V::W, 2 * V::W, 4 * V::W, 8 * V::W, 16 * V::W] {
                let z = cv(6, m * p);
                let neg: Vec<bool> = values(7, m * m).iter().map(|&s| s < 0.0).collect();
                let o0 = cv(8, m * p);
                let mut want = o0.clone();
                for (blk, ob) in want.chunks_exact_mut(p).enumerate() {
                    mix_scalar(ob, &z, &neg[blk * m..(blk + 1) * m], t(0.3), Some(t(0.5)));
                }
                for beta in [Some(t(0.5)), None] {
                    let want = match beta {
                        Some(_) => want.clone(),
                        None => {
                            let mut w = o0.clone();
                            for (blk, ob) in w.chunks_exact_mut(p).enumerate() {
                                mix_scalar(ob, &z, &neg[blk * m..(blk + 1) * m], t(0.3), None);
                            }
                            w
                        }
                    };
                    let c = (t(0.3), beta);
                    let mut got = o0.clone();
                    // SAFETY: the caller's contract.
                    unsafe { mix_lanes::<V, false>(&mut got, &z, &neg, c, false) };
                    same_bits(&got, &want, &format!("{what} mix m={m} p={p}"));
                    if fused {
                        let mut got = o0.clone();
                        // SAFETY: as above, with FMA.
                        unsafe { mix_lanes::<V, true>(&mut got, &z, &neg, c, false) };
                        same_bits(&got, &want, &format!("{what} fused mix m={m} p={p}"));
                    }
                }
            }
        }
    }

    #[test]
    fn every_lanes_type_matches_the_plain_loops() {
        // SAFETY: the portable lanes need no CPU feature; `Quad::mul_add` none either.
        unsafe {
            check_lanes::<Quad<f32>>("portable f32", true);
            check_lanes::<Quad<f64>>("portable f64", true);
        }
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            #[target_feature(enable = "avx2,fma")]
            fn avx2() {
                // SAFETY: the CPU has AVX2 and FMA (this function's features).
                unsafe {
                    check_lanes::<lanes::F32x8>("avx2 f32", true);
                    check_lanes::<lanes::F64x4>("avx2 f64", true);
                }
            }
            #[target_feature(enable = "avx512f")]
            fn avx512() {
                // SAFETY: the CPU has AVX-512F, whose registers have the fused multiply-add.
                unsafe {
                    check_lanes::<lanes::F32x16>("avx512 f32", true);
                    check_lanes::<lanes::F64x8>("avx512 f64", true);
                }
            }
            if has!("avx2") && has!("fma") {
                // SAFETY: checked just above.
                unsafe { avx2() };
            } else {
                eprintln!("every_lanes_type: no AVX2+FMA on this CPU, its lanes not tested");
            }
            if has!("avx512f") {
                // SAFETY: as above.
                unsafe { avx512() };
            } else {
                eprintln!("every_lanes_type: no AVX-512F on this CPU, its lanes not tested");
            }
        }
    }
}
