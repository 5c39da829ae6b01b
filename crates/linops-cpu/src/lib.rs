//! linops-cpu: the faer CPU backend of linops, in `f32` and `f64`.
//!
//! Every kernel a plan can contain maps to a faer routine or a plain loop over contiguous columns:
//! `gemm` → `faer::linalg::matmul::matmul`, `axpby`/`diag_scale` → column loops, `transpose` →
//! a strided copy, column norms → an overflow- and underflow-safe loop (a sum of squares in `f64`
//! for `f32` data, a scaled two-pass sum for `f64`). Instantiated with `f64` it is the
//! reference every other backend is tested against; with `f32` it is the CPU fallback and the
//! yardstick for the GPU tolerance rule (GPU error ≤ 2× CPU-f32 error vs the f64 reference).
//!
//! One file per kernel, named after it: `gemm`, `elementwise` (axpby, diag_scale, transpose,
//! copy_cols), `gather`, `block_gemm`, `butterfly`, `batch_transpose`, `spmm` (with `spmm/wide` for the
//! sketching orientation), `fwht`, `dct`, `kronecker_gemm`, `sketch_gemm`, `random_fill`, `reduce` (column norms
//! and dots). Each implements `execute::CpuKernel` for the kernel's arguments struct of
//! `linops_core::plan::kernel`; `execute` runs a plan's steps, dispatching through
//! `linops_core::for_each_kernel!`. Every parallel loop goes through the backend's `faer::Par` (`par`): with
//! `Par::Seq` everything runs on the calling thread, and results are bit-identical for every
//! thread count.
//!
//! ```
//! use linops_core::{Backend, DType, Op, Plan};
//! use linops_cpu::CpuBackend;
//! let cpu = CpuBackend::<f64>::new();
//! let op = Op::diagonal(vec![2.0, 3.0]).unwrap();
//! let x = cpu.upload(2, 1, &[1.0, 1.0]).unwrap();
//! let y = cpu.execute(&Plan::new(&op, 2, 1, DType::F64).unwrap(), &[&x]).unwrap();
//! assert_eq!(cpu.download(&y).unwrap(), vec![2.0, 3.0]);
//! ```

mod batch_transpose;
mod batched_gemm;
mod block_gemm;
mod butterfly;
mod dct;
mod elementwise;
mod execute;
mod flat;
mod fwht;
mod gather;
mod gemm;
mod kronecker_gemm;
mod monarch;
mod par;
mod random_fill;
pub mod recycle;
mod reduce;
mod simd;
mod sketch_gemm;
mod spmm;
mod srht;
#[cfg(test)]
mod testing;
pub mod transpose;

pub use dct::FftElem;

use faer::{Mat, Par};
use linops_core::{Backend, Element, Error, IndexParam, Param, Plan, Result};
use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

/// Element types the CPU backend computes in (`f32`, `f64`).
///
/// # Examples
/// ```
/// fn takes<T: linops_cpu::CpuElem>() {}
/// takes::<f32>();
/// takes::<f64>();
/// ```
pub trait CpuElem: Element + faer::traits::RealField + FftElem {}
impl CpuElem for f32 {}
impl CpuElem for f64 {}

/// `v` in `T` (the element type's own conversion, unambiguous next to rustfft's and faer's).
pub(crate) fn t<T: CpuElem>(v: f64) -> T {
    <T as Element>::from_f64(v)
}

/// Most bytes of plan temporaries a backend keeps between executions.
const SCRATCH_KEEP_BYTES: usize = 256 << 20;

type ParamCache<T> = HashMap<u64, (Weak<[f64]>, Arc<Mat<T>>)>;

/// Data derived from a converted parameter, by the parameter's address and what was derived.
type DerivedCache<T> = HashMap<(usize, u64), (Weak<Mat<T>>, Arc<Vec<T>>)>;

/// Data derived from two index parameters (by their process-unique keys) and three numbers that
/// say what was derived, with weak references to the two (to drop the entry when they go).
type IndexDerivedCache =
    HashMap<(u64, u64, [u64; 3]), (Weak<[u32]>, Weak<[u32]>, Arc<dyn Any + Send + Sync>)>;

/// The faer backend computing in `T`.
///
/// # Examples
/// ```
/// use linops_core::Backend;
/// let cpu = linops_cpu::CpuBackend::<f32>::new();
/// assert_eq!(cpu.name(), "cpu-f32");
/// ```
#[derive(Debug)]
pub struct CpuBackend<T: CpuElem> {
    par: Par,
    params: Mutex<ParamCache<T>>,
    /// Kernel-specific layouts of parameters ([`CpuBackend::derived`]), kept while the
    /// parameter lives.
    derived: Mutex<DerivedCache<T>>,
    /// Kernel-specific data derived from index parameters ([`CpuBackend::index_derived`]).
    index_derived: Mutex<IndexDerivedCache>,
    /// Plan temporaries kept between executions (see [`execute`]): a repeated apply reuses them
    /// instead of faulting in and zeroing fresh pages every time.
    scratch: Mutex<Vec<Mat<T>>>,
}

impl<T: CpuElem> Default for CpuBackend<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: CpuElem> CpuBackend<T> {
    /// A backend using all cores (faer's thread pool, `Par::rayon(0)`).
    ///
    /// # Examples
    /// ```
    /// let _cpu = linops_cpu::CpuBackend::<f64>::new();
    /// ```
    pub fn new() -> Self {
        Self::with_par(Par::rayon(0))
    }

    /// A backend with an explicit parallelism setting (`Par::Seq` for one thread).
    ///
    /// # Examples
    /// ```
    /// let _cpu = linops_cpu::CpuBackend::<f64>::with_par(faer::Par::Seq);
    /// ```
    pub fn with_par(par: Par) -> Self {
        Self {
            par,
            params: Mutex::new(HashMap::new()),
            derived: Mutex::new(HashMap::new()),
            index_derived: Mutex::new(HashMap::new()),
            scratch: Mutex::new(Vec::new()),
        }
    }

    /// The parallelism setting.
    ///
    /// # Examples
    /// ```
    /// assert!(matches!(linops_cpu::CpuBackend::<f32>::with_par(faer::Par::Seq).par(), faer::Par::Seq));
    /// ```
    pub fn par(&self) -> Par {
        self.par
    }

    /// The parameter as a `T` matrix, converted once and cached while the op is alive.
    /// A `rows×cols` temporary: a kept one of that shape if any (its contents are stale; every
    /// kernel's first write to a buffer uses `beta = 0`, which never reads it), else a new one.
    fn take_scratch(&self, rows: usize, cols: usize) -> Mat<T> {
        let mut pool = self.scratch.lock().unwrap_or_else(|e| e.into_inner());
        match pool
            .iter()
            .position(|m| m.nrows() == rows && m.ncols() == cols)
        {
            Some(i) => pool.swap_remove(i),
            None => Mat::zeros(rows, cols),
        }
    }

    /// Keeps temporaries for the next execution, at most [`SCRATCH_KEEP_BYTES`] in all (newest
    /// first).
    fn keep_scratch(&self, mats: Vec<Mat<T>>) {
        let mut pool = self.scratch.lock().unwrap_or_else(|e| e.into_inner());
        pool.extend(mats);
        let mut bytes = 0usize;
        let size = std::mem::size_of::<T>();
        let mut keep = pool.len();
        for (i, m) in pool.iter().enumerate().rev() {
            bytes += m.nrows() * m.ncols() * size;
            if bytes > SCRATCH_KEEP_BYTES {
                keep = pool.len() - 1 - i;
                break;
            }
        }
        let drop_n = pool.len() - keep;
        pool.drain(..drop_n);
    }

    /// `make()`, the layout `what` of parameter `param` that a kernel derives from it, made
    /// once and kept while the parameter lives (a repeated apply of one operator reuses it).
    /// The entry holds a weak reference to the parameter, which keeps its allocation (and so
    /// its address, the key) from being reused by another parameter until the entry goes; entries
    /// of parameters that are gone are dropped at the next insertion.
    pub(crate) fn derived(
        &self,
        param: &Arc<Mat<T>>,
        what: u64,
        make: impl FnOnce() -> Vec<T>,
    ) -> Arc<Vec<T>> {
        let key = (Arc::as_ptr(param).addr(), what);
        {
            let cache = self.derived.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((weak, d)) = cache.get(&key)
                && weak.upgrade().is_some_and(|w| Arc::ptr_eq(&w, param))
            {
                return d.clone();
            }
        }
        // Made outside the lock: another thread's kernels go on meanwhile.
        let d = Arc::new(make());
        let mut cache = self.derived.lock().unwrap_or_else(|e| e.into_inner());
        cache.retain(|_, (w, _)| w.strong_count() > 0);
        cache.insert(key, (Arc::downgrade(param), d.clone()));
        d
    }

    /// `make()`, the data `what` that a kernel derives from the index parameters `a` and `b`
    /// (e.g. the SpMM's row ranges and scan from a CSR's `indptr` and `indices`), made once and
    /// kept while both live. The keys of index parameters are unique in the process, so an
    /// entry is never taken for another parameter's; entries of parameters that are gone are
    /// dropped at the next insertion.
    pub(crate) fn index_derived<D: Any + Send + Sync>(
        &self,
        a: &IndexParam,
        b: &IndexParam,
        what: [u64; 3],
        make: impl FnOnce() -> D,
    ) -> Arc<D> {
        let key = (a.key(), b.key(), what);
        {
            let cache = self.index_derived.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((_, _, d)) = cache.get(&key)
                && let Ok(d) = d.clone().downcast::<D>()
            {
                return d;
            }
        }
        // Made outside the lock: another thread's kernels go on meanwhile.
        let d = Arc::new(make());
        let mut cache = self.index_derived.lock().unwrap_or_else(|e| e.into_inner());
        cache.retain(|_, (wa, wb, _)| wa.strong_count() > 0 && wb.strong_count() > 0);
        let entry: Arc<dyn Any + Send + Sync> = d.clone();
        cache.insert(
            key,
            (
                Arc::downgrade(a.shared()),
                Arc::downgrade(b.shared()),
                entry,
            ),
        );
        d
    }

    fn param(&self, p: &Param) -> Arc<Mat<T>> {
        let mut cache = self.params.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((weak, m)) = cache.get(&p.key)
            && weak.strong_count() > 0
        {
            return m.clone();
        }
        cache.retain(|_, (w, _)| w.strong_count() > 0);
        let m = Arc::new(Mat::from_fn(p.rows, p.cols, |i, j| {
            T::from_f64(p.data[i + j * p.rows])
        }));
        cache.insert(p.key, (Arc::downgrade(&p.data), m.clone()));
        m
    }
}

/// Whether the CPU backends run each plan's steps on one worker of the thread pool (`true`, the
/// default) or on the calling thread, for the whole process. In the pool, every parallel kernel
/// of a plan starts its join from inside it, and the hand-over from the caller and its wake-up
/// come once per plan instead of once per kernel (about 10 µs per parallel kernel on a 2-core
/// VM, 2026-12-03). Off keeps the memory a plan allocates in the calling thread's allocator
/// arena: glibc keeps one arena per thread, and a process that must stay within a memory
/// budget measured its peak resident memory 2.3 MB higher with plans in the pool (the command
/// line's streaming SVD under `--mem 4M`, which turns this off). Results are the same bits
/// either way.
///
/// # Examples
/// ```
/// linops_cpu::set_plans_in_pool(false);
/// linops_cpu::set_plans_in_pool(true);
/// ```
pub fn set_plans_in_pool(on: bool) {
    par::PLANS_IN_POOL.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// The CPU model name (from `/proc/cpuinfo` where available), for benchmark tables.
///
/// # Examples
/// ```
/// assert!(!linops_cpu::cpu_name().is_empty());
/// ```
pub fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

impl<T: CpuElem> Backend for CpuBackend<T> {
    type Elem = T;
    type Mat = Mat<T>;

    fn name(&self) -> String {
        format!("cpu-{}", T::DTYPE)
    }

    fn device(&self) -> String {
        format!("{} ({} threads)", cpu_name(), self.par.degree())
    }

    fn upload(&self, rows: usize, cols: usize, data: &[T]) -> Result<Mat<T>> {
        if rows == 0 || cols == 0 {
            return Err(Error::EmptyDimension {
                context: "upload".into(),
                rows,
                cols,
            });
        }
        if data.len() != rows * cols {
            return Err(Error::ShapeMismatch {
                context: "upload".into(),
                expected: format!("{} elements for {rows}x{cols}", rows * cols),
                found: format!("{} elements", data.len()),
            });
        }
        // Kept storage of a dropped matrix of this shape when there is one (no page faults:
        // `Engine::apply` uploads and drops an `X` of the same shape on every call).
        let x = faer::MatRef::from_column_major_slice(data, rows, cols);
        Ok(match recycle::take_kept::<T>(rows, cols) {
            Some(mut m) => {
                m.copy_from(x);
                m
            }
            None => x.to_owned(),
        })
    }

    fn download(&self, m: &Mat<T>) -> Result<Vec<T>> {
        let mut out = Vec::with_capacity(m.nrows() * m.ncols());
        for j in 0..m.ncols() {
            out.extend_from_slice(m.col_as_slice(j));
        }
        Ok(out)
    }

    fn shape(&self, m: &Mat<T>) -> (usize, usize) {
        (m.nrows(), m.ncols())
    }

    fn execute(&self, plan: &Plan, inputs: &[&Mat<T>]) -> Result<Mat<T>> {
        execute::run(self, plan, inputs)
    }
}
