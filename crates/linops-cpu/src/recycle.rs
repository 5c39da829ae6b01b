//! Recycled plan outputs: the storage of large CPU matrices the caller has dropped, kept for the
//! next plan output of the same shape.
//!
//! A fresh `rows × cols` allocation of many MiB comes from the operating system untouched, so its
//! first write faults in every 4 KiB page and the kernel zeroes it: at n = 4096, batch 1024
//! (16 MiB of `f32`) that costs about as much as a butterfly or Kronecker apply itself, on one
//! thread, whatever the kernel's parallelism. Iterative drivers and repeated applies drop an
//! output and ask for one of the same shape right away; [`recycle`] (called when a `linops`
//! `Matrix` on the CPU is dropped) keeps that storage, and a plan's output takes it back
//! (`take`; the backend's `upload` takes kept storage of its shape too, `take_kept`):
//! zero-filled when the step that first writes the output may leave elements
//! unwritten or read them, so an output never shows a previous result, and as it is when that
//! step writes every element without reading it (`beta = 0` of the kernels that
//! `crate::execute` lists), which saves a write pass over the output: a third of the memory
//! traffic of a memory-bound step such as a permutation or a Walsh–Hadamard transform. The GPU
//! backend's buffer pool does the same for device buffers.
//!
//! Bounds: only matrices of at least [`MIN_BYTES`] are kept (smaller ones are cheap for the
//! allocator; from a few hundred KiB up a fresh output still costs a zero-fill pass of its own,
//! 6% of a batch-64 `m·2^k` Walsh–Hadamard apply at n = 3584 with its 0.9 MiB output), at most
//! [`KEEP_COUNT`] of them and [`keep_bytes`] in all ([`KEEP_BYTES`] unless [`set_keep_bytes`]
//! changed it), newest first; one process-wide pool shared by every engine (a mutex held only to
//! push or pick an entry); [`clear`] frees it.
//!
//! The kept storage is memory the process holds beyond what its live matrices need. A program
//! that works within a memory budget (the `linops` command line reading a file in panels under
//! `--mem`) turns the pool off with `set_keep_bytes(0)`, or bounds it to what its budget leaves.

use crate::CpuElem;
use crate::par::{Grain, for_each_part};
use faer::{Mat, MatMut, Par};
use std::any::Any;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

/// Smallest matrix kept, in bytes.
pub const MIN_BYTES: usize = 256 << 10;
/// Most bytes of storage kept by default ([`set_keep_bytes`] changes the bound).
pub const KEEP_BYTES: usize = 256 << 20;
/// Most matrices kept.
pub const KEEP_COUNT: usize = 8;

/// One kept matrix: its shape and size, and the `Mat<T>` itself (type-erased: `f32` and `f64`
/// share the pool).
struct Kept {
    rows: usize,
    cols: usize,
    bytes: usize,
    mat: Box<dyn Any + Send>,
}

static POOL: Mutex<Vec<Kept>> = Mutex::new(Vec::new());
/// The bound on the bytes kept: [`KEEP_BYTES`] until [`set_keep_bytes`].
static LIMIT: AtomicUsize = AtomicUsize::new(KEEP_BYTES);

/// Held by the unit tests that fill the pool and then expect an entry to still be there (the
/// pool is process-wide and the test harness runs tests concurrently).
#[cfg(test)]
pub(crate) static TEST_LOCK: Mutex<()> = Mutex::new(());

fn pool() -> MutexGuard<'static, Vec<Kept>> {
    POOL.lock().unwrap_or_else(|e| e.into_inner())
}

/// The most bytes of storage the pool keeps ([`KEEP_BYTES`] unless [`set_keep_bytes`] changed it).
pub fn keep_bytes() -> usize {
    LIMIT.load(Ordering::Relaxed)
}

/// Bounds the bytes of storage the pool keeps, process-wide, and frees the oldest kept matrices
/// over the new bound; `0` turns recycling off (every dropped matrix is freed). For a program
/// that must stay within a memory budget: kept storage is not part of any live matrix.
///
/// # Examples
/// ```
/// use linops_cpu::recycle;
/// recycle::set_keep_bytes(0); // recycling off: nothing is kept
/// recycle::recycle(faer::Mat::<f32>::zeros(1024, 512));
/// assert_eq!(recycle::keep_bytes(), 0);
/// recycle::set_keep_bytes(recycle::KEEP_BYTES); // the default again
/// ```
pub fn set_keep_bytes(bytes: usize) {
    LIMIT.store(bytes, Ordering::Relaxed);
    let evicted = {
        let mut pool = pool();
        trim(&mut pool, bytes)
    };
    drop(evicted);
}

/// Removes all but the newest entries within [`KEEP_COUNT`] and `limit` bytes; returns the
/// removed ones, for the caller to free outside the lock.
fn trim(pool: &mut Vec<Kept>, limit: usize) -> Vec<Kept> {
    let (mut total, mut keep) = (0usize, 0usize);
    for k in pool.iter().rev() {
        if keep == KEEP_COUNT || total + k.bytes > limit {
            break;
        }
        total += k.bytes;
        keep += 1;
    }
    let cut = pool.len() - keep;
    pool.drain(..cut).collect()
}

/// Gives the storage of a dropped matrix to the pool (module docs); a matrix under
/// [`MIN_BYTES`] or over [`keep_bytes`] is simply freed.
///
/// # Examples
/// ```
/// use linops_cpu::recycle;
/// recycle::recycle(faer::Mat::<f32>::zeros(1024, 512)); // 2 MiB: kept for the next output
/// recycle::recycle(faer::Mat::<f64>::zeros(3, 3)); // small: freed
/// ```
pub fn recycle<T: CpuElem + 'static>(m: Mat<T>) {
    let (rows, cols) = (m.nrows(), m.ncols());
    let bytes = rows.saturating_mul(cols).saturating_mul(size_of::<T>());
    let limit = keep_bytes();
    if !(MIN_BYTES..=limit).contains(&bytes) {
        return;
    }
    let evicted: Vec<Kept> = {
        let mut pool = pool();
        pool.push(Kept {
            rows,
            cols,
            bytes,
            mat: Box::new(m),
        });
        // Keep the newest entries within both bounds; free the rest outside the lock.
        trim(&mut pool, limit)
    };
    drop(evicted);
}

/// Frees every kept matrix (e.g. after a large computation, to return its memory to the
/// system); later drops fill the pool again.
///
/// # Examples
/// ```
/// linops_cpu::recycle::recycle(faer::Mat::<f64>::zeros(512, 512)); // 2 MiB, kept
/// linops_cpu::recycle::clear();
/// ```
pub fn clear() {
    let kept: Vec<Kept> = std::mem::take(&mut *pool());
    drop(kept);
}

/// A `rows × cols` matrix on kept storage of that shape and type when there is one (the newest),
/// else newly allocated (zero). Kept storage is zero-filled over the workers of `par` when
/// `zero`; otherwise it holds a previous result, for a caller that overwrites every element
/// before anything reads it.
pub(crate) fn take<T: CpuElem + 'static>(rows: usize, cols: usize, par: Par, zero: bool) -> Mat<T> {
    let Some(mut m) = take_kept::<T>(rows, cols) else {
        return Mat::zeros(rows, cols);
    };
    if zero {
        for_each_part(par, m.as_mut(), Grain::min(1), &|_,
                                                        mut part: MatMut<
            '_,
            T,
        >| {
            part.fill(T::from_f64(0.0));
        });
    }
    m
}

/// The newest kept `rows × cols` matrix of `T` (holding a previous result), if there is one.
pub(crate) fn take_kept<T: CpuElem + 'static>(rows: usize, cols: usize) -> Option<Mat<T>> {
    if rows.saturating_mul(cols).saturating_mul(size_of::<T>()) < MIN_BYTES {
        return None;
    }
    let kept = {
        let mut pool = pool();
        pool.iter()
            .rposition(|k| k.rows == rows && k.cols == cols && k.mat.is::<Mat<T>>())
            .map(|i| pool.remove(i))
    }?;
    Some(
        *kept
            .mat
            .downcast::<Mat<T>>()
            .expect("type checked in rposition"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A recycled matrix comes back for the same shape and type, zeroed, and not for another.
    #[test]
    fn same_shape_comes_back_zeroed() {
        let _pool = TEST_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let (rows, cols) = (1024, 300); // 1.2 MiB of f32, 2.3 MiB of f64
        let mut m = Mat::<f32>::zeros(rows, cols);
        m[(5, 7)] = 3.0;
        let ptr = m.as_ptr();
        recycle(m);
        // Another type or shape does not take it.
        let other: Mat<f64> = take(rows, cols, Par::Seq, true);
        assert_ne!(other.as_ptr() as usize, ptr as usize);
        let wrong: Mat<f32> = take(rows, cols + 1, Par::Seq, true);
        assert_ne!(wrong.as_ptr(), ptr);
        let back: Mat<f32> = take(rows, cols, Par::rayon(2), true);
        assert_eq!(back.as_ptr(), ptr, "the kept storage is reused");
        assert_eq!(back[(5, 7)], 0.0, "reused storage is zeroed");
        // Taken for a full overwrite, it comes back as it was.
        let mut m = back;
        m[(5, 7)] = 4.0;
        recycle(m);
        let kept: Mat<f32> = take(rows, cols, Par::Seq, false);
        assert_eq!(kept.as_ptr(), ptr);
        assert_eq!(
            kept[(5, 7)],
            4.0,
            "not zero-filled when the caller overwrites"
        );
        // The pool never holds more than its bounds.
        for c in 0..KEEP_COUNT + 3 {
            recycle(Mat::<f32>::zeros(rows, 1000 + c));
        }
        assert!(pool().len() <= KEEP_COUNT);
        assert!(pool().iter().map(|k| k.bytes).sum::<usize>() <= KEEP_BYTES);
    }

    /// `set_keep_bytes` bounds the pool at once and for later drops; `0` keeps nothing.
    #[test]
    fn the_bound_is_set_at_run_time() {
        let _pool = TEST_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        for c in 0..4 {
            recycle(Mat::<f32>::zeros(1024, 256 + c)); // about 1 MiB each
        }
        set_keep_bytes(2 << 20 | 1 << 19); // 2.5 MiB: the two newest stay
        let held: Vec<usize> = pool().iter().map(|k| k.cols).collect();
        assert_eq!(held, vec![258, 259]);
        assert_eq!(keep_bytes(), 2 << 20 | 1 << 19);
        recycle(Mat::<f32>::zeros(1024, 260));
        let held: Vec<usize> = pool().iter().map(|k| k.cols).collect();
        assert_eq!(held, vec![259, 260]);
        set_keep_bytes(0);
        assert!(pool().is_empty());
        recycle(Mat::<f32>::zeros(1024, 261));
        assert!(pool().is_empty(), "with a bound of 0 nothing is kept");
        set_keep_bytes(KEEP_BYTES);
        recycle(Mat::<f32>::zeros(1024, 262));
        assert_eq!(pool().len(), 1);
        clear();
    }
}
