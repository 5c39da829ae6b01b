//! Runtime selection of the widest x86-64 vector instructions for the CPU kernels' hot loops.
//!
//! The crates build for baseline x86-64, whose 128-bit lanes halve or quarter the throughput of
//! loops that vectorize. [`simd_dispatch!`] compiles one generic function three times (AVX-512,
//! AVX2, baseline) and calls the widest the CPU has. Every variant runs the same multiplications
//! and additions element by element (Rust never contracts them into FMAs), so the bits are the
//! same on every x86-64 CPU. The function's callees must be `#[inline(always)]` (or generic code
//! the compiler inlines) to be compiled with the wider instructions too.

/// Calls `$f::<…>($args…)` (generic parameters `[$gen]`, returning `()`) compiled for AVX-512 or
/// AVX2 when the CPU has it, else for the baseline (module docs).
macro_rules! simd_dispatch {
    ([$($gen:tt)*] $f:ident::<$($g:ty),*>($($a:ident: $t:ty),* $(,)?)) => {{
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx512f")]
            unsafe fn avx512<$($gen)*>($($a: $t),*) {
                $f::<$($g),*>($($a),*);
            }
            #[target_feature(enable = "avx2")]
            unsafe fn avx2<$($gen)*>($($a: $t),*) {
                $f::<$($g),*>($($a),*);
            }
            if std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU supports AVX-512F (checked just above), the only requirement
                // of a `target_feature` function.
                unsafe { avx512::<$($g),*>($($a),*) };
                return;
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: as above, for AVX2.
                unsafe { avx2::<$($g),*>($($a),*) };
                return;
            }
        }
        $f::<$($g),*>($($a),*);
    }};
}

pub(crate) use simd_dispatch;

/// Asks the cache hierarchy (L2) for the share `[k0, k1)` of `n` of the 64-byte lines of the
/// `bytes` bytes at address `start` (share `k0..k1` of a pass over `n` entries, so that a pass
/// spreads the prefetches of the next unit of work over its own: a burst of hundreds stalls
/// the core; used by the DCT's output pass and the streamed gather). No effect on any result;
/// nothing on other architectures.
#[inline(always)]
pub(crate) fn prefetch_share(start: usize, bytes: usize, k0: usize, k1: usize, n: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T1, _mm_prefetch};
        let lines = bytes.div_ceil(64);
        for l in lines * k0 / n..lines * k1 / n {
            // The address lies inside the span (and a prefetch never faults).
            let p = (start + l * 64) as *const i8;
            // SAFETY: `_mm_prefetch` has no memory-safety requirement.
            unsafe { _mm_prefetch::<_MM_HINT_T1>(p) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (start, bytes, k0, k1, n);
}
