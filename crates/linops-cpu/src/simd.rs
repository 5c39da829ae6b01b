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

/// A hint to bring the cache line at `p` into L1 (nothing on other architectures; never faults,
/// whatever the address).
#[inline(always)]
pub(crate) fn prefetch_line(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch has no memory-safety requirement.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Bytes to which [`Scratch`] aligns its start: a cache line, and one AVX-512 register.
const SCRATCH_ALIGN: usize = 64;

/// A zeroed scratch buffer of `len` elements whose first element starts a cache line.
///
/// Why: a `Vec` of `f32` from the allocator starts wherever its chunk does (16-byte aligned
/// on glibc), and the kernels' 512-bit loads and stores on such a buffer cross a cache line
/// every time, each counted as two by the load units. The `m·2^k` Walsh–Hadamard mix, which
/// loads its scratch column 28 times per output, ran 1.4× slower on one thread of the Zen 5
/// dev VM with a misaligned scratch (2026-12-03, `hadamard28` 3584×64, medians: 91–92 against
/// 66–67 µs; two threads 54–55 against 42). No effect on any result: the same elements, at
/// another address.
pub(crate) struct Scratch<T> {
    buf: Vec<T>,
    start: usize,
    len: usize,
}

impl<T: crate::CpuElem> Scratch<T> {
    /// `len` zeros, the first at a multiple of 64 bytes.
    pub(crate) fn zeroed(len: usize) -> Self {
        let pad = SCRATCH_ALIGN / size_of::<T>();
        let buf = vec![crate::t::<T>(0.0); len + pad];
        // At most `pad − 1`: the buffer is aligned to `size_of::<T>()`, which divides 64.
        let start = buf.as_ptr().align_offset(SCRATCH_ALIGN).min(pad);
        Self { buf, start, len }
    }
}

impl<T> std::ops::Deref for Scratch<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        &self.buf[self.start..self.start + self.len]
    }
}

impl<T> std::ops::DerefMut for Scratch<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.buf[self.start..self.start + self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::Scratch;

    /// Every length's scratch starts at a multiple of 64 bytes, holds `len` zeros, and keeps
    /// what is written into it.
    #[test]
    fn scratch_is_aligned_zeroed_and_of_its_length() {
        for len in [0, 1, 15, 16, 17, 3584, 100_000] {
            let mut s = Scratch::<f32>::zeroed(len);
            assert_eq!(s.len(), len);
            assert!(s.iter().all(|&v| v == 0.0));
            assert_eq!(s.as_ptr() as usize % 64, 0, "len {len}");
            s.iter_mut().enumerate().for_each(|(i, v)| *v = i as f32);
            assert!(s.iter().enumerate().all(|(i, &v)| v == i as f32));
            let d = Scratch::<f64>::zeroed(len);
            assert_eq!((d.len(), d.as_ptr() as usize % 64), (len, 0));
        }
    }
}
