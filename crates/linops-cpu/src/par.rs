//! The one parallelism mechanism of the CPU kernels: the backend's [`faer::Par`].
//!
//! A kernel that runs in parallel hands its output (the columns of a matrix, or the elements of
//! a flat buffer) to [`for_each_part`], which cuts it into contiguous parts, up to
//! [`PARTS_PER_WORKER`] per worker, and starts `par.degree()` workers through faer's `join_raw`
//! (faer's thread pool, the one its own routines such as `matmul` use with the same `Par`). Each
//! worker takes the next part not yet taken until none is left, so a worker that the operating
//! system delays does not hold up the others. The parts are disjoint and cover the output, so no
//! output element is written twice, and since every kernel computes each element the same way in
//! whatever part it lands, results are bit-identical for every thread count. With `Par::Seq` the
//! whole output is one part, run on the calling thread: `CpuBackend::with_par(Par::Seq)` is
//! sequential everywhere. Cost: `O(log p)` levels of joins for `p` workers and one atomic
//! increment per part, nothing per element. A plan's steps run together on one worker of the
//! pool ([`in_pool`]), so that its kernels' joins start from inside the pool: the hand-over from
//! the caller's thread, and its wake-up, come once per plan instead of once per kernel.

use faer::{Mat, MatMut, Par};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Parts per worker: enough that the workers balance their load when one of them is slowed
/// down, few enough that a part amortizes its setup (scratch, a panel of weights).
const PARTS_PER_WORKER: usize = 4;

/// An output that can be split into two disjoint, contiguous parts.
pub(crate) trait Parts: Send + Sized {
    /// Number of units (columns of a matrix, elements of a slice).
    fn units(&self) -> usize;
    /// The first `at` units and the rest (`at ≤ units()`).
    fn split_at(self, at: usize) -> (Self, Self);
}

impl<T: Send> Parts for MatMut<'_, T> {
    fn units(&self) -> usize {
        self.ncols()
    }

    fn split_at(self, at: usize) -> (Self, Self) {
        self.split_at_col_mut(at)
    }
}

/// The rows of a matrix view as [`Parts`] (units are rows; a part is a block of rows).
pub(crate) struct Rows<'a, T>(pub MatMut<'a, T>);

impl<T: Send> Parts for Rows<'_, T> {
    fn units(&self) -> usize {
        self.0.nrows()
    }

    fn split_at(self, at: usize) -> (Self, Self) {
        let (top, bottom) = self.0.split_at_row_mut(at);
        (Rows(top), Rows(bottom))
    }
}

impl<T: Send> Parts for &mut [T] {
    fn units(&self) -> usize {
        self.len()
    }

    fn split_at(self, at: usize) -> (Self, Self) {
        self.split_at_mut(at)
    }
}

/// How finely [`for_each_part`] may split an output.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Grain {
    /// Fewest units of a part (the output is one part when it has fewer than `2·min`).
    pub min: usize,
    /// Parts start at multiples of this (e.g. a panel width); `1` for any point.
    pub align: usize,
}

impl Grain {
    /// Parts of at least `min` units, starting anywhere.
    pub(crate) const fn min(min: usize) -> Self {
        Self { min, align: 1 }
    }
}

/// Runs `f(first, part)` for disjoint parts of `data` that cover it, where `first` is the index
/// of the part's first unit in `data`, over the workers of `par` (see the module docs). Each call
/// of `f` runs on one worker and should be sequential itself.
#[inline]
pub(crate) fn for_each_part<D: Parts>(
    par: Par,
    data: D,
    grain: Grain,
    f: &(impl Fn(usize, D) + Sync),
) {
    let n = data.units();
    let (min, align) = (grain.min.max(1), grain.align.max(1));
    let workers = par.degree();
    // The part size: at least `min`, a multiple of `align`, about n / (workers·PARTS_PER_WORKER).
    let size = n
        .div_ceil(workers * PARTS_PER_WORKER)
        .max(min)
        .next_multiple_of(align);
    // Whole parts of `size` units; the last one also takes the remainder.
    let count = n / size;
    if workers <= 1 || count < 2 {
        f(0, data);
        return;
    }
    let mut parts = Vec::with_capacity(count);
    let mut rest = data;
    for i in 0..count - 1 {
        let (part, tail) = rest.split_at(size);
        parts.push(Mutex::new(Some((i * size, part))));
        rest = tail;
    }
    parts.push(Mutex::new(Some(((count - 1) * size, rest))));
    let next = AtomicUsize::new(0);
    let work = || {
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(slot) = parts.get(i) else { break };
            let taken = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
            if let Some((first, part)) = taken {
                f(first, part);
            }
        }
    };
    start_workers(workers.min(count), &work);
}

/// Runs `work` on `count` workers of faer's pool (recursively in halves through `join_raw`).
fn start_workers(count: usize, work: &(impl Fn() + Sync)) {
    if count <= 1 {
        work();
        return;
    }
    let half = count / 2;
    faer::utils::thread::join_raw(
        |_| start_workers(half, work),
        |_| start_workers(count - half, work),
        Par::rayon(count),
    );
}

/// Whether [`in_pool`] enters the pool ([`crate::set_plans_in_pool`]).
pub(crate) static PLANS_IN_POOL: AtomicBool = AtomicBool::new(true);

/// Runs `f` on a worker thread of the pool that `par`'s workers come from (rayon's global pool,
/// which faer's `Par::rayon` uses) when `par` has more than one thread, the caller is not such
/// a worker already and [`crate::set_plans_in_pool`] has not turned it off; else on the calling
/// thread. The caller waits either way.
///
/// Why: [`for_each_part`] from a thread outside the pool hands its joins to the pool and sleeps
/// until they are done, a wake-up of a worker and of the caller for every parallel kernel;
/// from a worker, the join runs its first half in place and only the other worker is woken.
/// A plan runs all its steps inside one call (`execute::run`), so the hand-over is paid once
/// per plan rather than once per kernel: about 10 µs less per parallel kernel on the 2-core dev
/// VM (rayon joins of 2×49 µs of work, 2026-12-03: 59 µs each from the main thread, 51 µs
/// inside one pool call).
pub(crate) fn in_pool<R: Send>(par: Par, f: impl FnOnce() -> R + Send) -> R {
    if par.degree() > 1
        && PLANS_IN_POOL.load(Ordering::Relaxed)
        && rayon::current_thread_index().is_none()
    {
        rayon::scope(|_| f())
    } else {
        f()
    }
}

/// Elements (`rows·cols`) below which [`for_each_col`] runs on one thread.
const MIN_PARALLEL_COL_WORK: usize = 1 << 14;

/// Runs `f(state, j, column_j)` for every column `j` of `out` (a contiguous slice), the columns
/// split over the workers of `par` when there are at least two and [`MIN_PARALLEL_COL_WORK`]
/// elements; each part makes its `state` (scratch) once with `init`.
#[inline]
pub(crate) fn for_each_col<T: Send, S>(
    out: &mut Mat<T>,
    par: Par,
    init: impl Fn() -> S + Sync,
    f: impl Fn(&mut S, usize, &mut [T]) + Sync,
) {
    for_each_col_of(out.as_mut(), par, init, f);
}

/// [`for_each_col`] on a view of a matrix with contiguous columns (an owned matrix or a block
/// of its columns, e.g. one panel of a plan's output).
///
/// # Panics
/// If `out`'s columns are not contiguous (row stride 1): callers pass views of owned matrices.
#[inline]
pub(crate) fn for_each_col_of<T: Send, S>(
    mut out: MatMut<'_, T>,
    par: Par,
    init: impl Fn() -> S + Sync,
    f: impl Fn(&mut S, usize, &mut [T]) + Sync,
) {
    let par = if out.ncols() < 2 || out.nrows() * out.ncols() < MIN_PARALLEL_COL_WORK {
        Par::Seq
    } else {
        par
    };
    // Written out rather than one part of `for_each_part`: the common one-column apply then
    // runs the kernel's column body directly.
    if matches!(par, Par::Seq) {
        let mut state = init();
        for j in 0..out.ncols() {
            f(&mut state, j, contiguous(out.as_mut().col_mut(j)));
        }
        return;
    }
    for_each_part(par, out, Grain::min(1), &|j0, mut part: MatMut<'_, T>| {
        let mut state = init();
        for c in 0..part.ncols() {
            f(&mut state, j0 + c, contiguous(part.as_mut().col_mut(c)));
        }
    });
}

/// A column of a matrix with row stride 1 as a slice.
fn contiguous<T>(col: faer::ColMut<'_, T>) -> &mut [T] {
    col.try_as_col_major_mut()
        .expect("owned faer matrices and their column blocks have contiguous columns")
        .as_slice_mut()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `in_pool` runs on a worker of the pool when `par` has two threads or more, the caller is
    /// outside it and plans in the pool are on; on the calling thread otherwise; and returns
    /// what `f` returns.
    #[test]
    fn in_pool_enters_the_pool_once() {
        let here = std::thread::current().id();
        let (id, index) = in_pool(Par::rayon(2), || {
            (std::thread::current().id(), rayon::current_thread_index())
        });
        assert!(index.is_some(), "ran outside the pool");
        assert_ne!(id, here);
        // From a worker: in place, no second hand-over.
        let (outer, inner) = in_pool(Par::rayon(2), || {
            let outer = std::thread::current().id();
            (
                outer,
                in_pool(Par::rayon(2), || std::thread::current().id()),
            )
        });
        assert_eq!(outer, inner);
        // One thread: the caller's.
        assert_eq!(in_pool(Par::Seq, || std::thread::current().id()), here);
        assert_eq!(in_pool(Par::rayon(1), || 7), 7);
        // Turned off (process-wide; other tests' results do not depend on it): the caller's.
        crate::set_plans_in_pool(false);
        let off = in_pool(Par::rayon(2), || std::thread::current().id());
        crate::set_plans_in_pool(true);
        assert_eq!(off, here);
    }
}
