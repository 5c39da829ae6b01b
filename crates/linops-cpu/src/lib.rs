//! linops-cpu: the faer CPU backend of linops, in `f32` and `f64`.
//!
//! Every kernel a plan can contain maps to a faer routine or a plain loop over contiguous columns:
//! `gemm` → `faer::linalg::matmul::matmul`, `axpby`/`diag_scale` → column loops, `transpose` →
//! a strided copy, column norms → an overflow- and underflow-safe loop (a sum of squares in `f64`
//! for `f32` data, a scaled two-pass sum for `f64`). Instantiated with `f64` it is the
//! reference every other backend is tested against; with `f32` it is the CPU fallback and the
//! yardstick for the GPU tolerance rule (GPU error ≤ 2× CPU-f32 error vs the f64 reference).
//!
//! One file per structured kernel, named after it: `gather`, `block_gemm`, `batch_transpose`,
//! `spmm` (with `spmm/wide` for the sketching orientation), `fwht`, `dct`, `sketch_gemm`; `execute`
//! runs a plan's steps. Every parallel loop goes through the backend's `faer::Par` (`par`): with
//! `Par::Seq` everything runs on the calling thread, and results are bit-identical for every
//! thread count.
//!
//! ```
//! use linops_core::{Backend, DType, Op, Plan};
//! use linops_cpu::CpuBackend;
//! let cpu = CpuBackend::<f64>::new();
//! let op = Op::diagonal(vec![2.0, 3.0]).unwrap();
//! let x = cpu.upload(2, 1, &[1.0, 1.0]).unwrap();
//! let y = cpu.execute(&Plan::new(&op, 2, 1, DType::F64).unwrap(), &x).unwrap();
//! assert_eq!(cpu.download(&y).unwrap(), vec![2.0, 3.0]);
//! ```

mod batch_transpose;
mod block_gemm;
mod dct;
mod execute;
mod flat;
mod fwht;
mod gather;
mod par;
mod sketch_gemm;
mod spmm;

pub use dct::FftElem;

use faer::Accum;
use faer::linalg::matmul::matmul;
use faer::{Mat, Par};
use linops_core::{
    Backend, DType, Element, Error, Param, Plan, Result, axpby_shape, check_scalar, gemm_shape,
};
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

    fn param(&self, p: &Param) -> Arc<Mat<T>> {
        let mut cache = self.params.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((weak, m)) = cache.get(&p.key) {
            if weak.strong_count() > 0 {
                return m.clone();
            }
        }
        cache.retain(|_, (w, _)| w.strong_count() > 0);
        let m = Arc::new(Mat::from_fn(p.rows, p.cols, |i, j| {
            T::from_f64(p.data[i + j * p.rows])
        }));
        cache.insert(p.key, (Arc::downgrade(&p.data), m.clone()));
        m
    }
}

/// The Euclidean norm of a column, overflow- and underflow-safe in both precisions.
///
/// `f32`: the squares of `f32` values are exact in `f64` and their sum can neither overflow
/// (`n·f32::MAX² < f64::MAX`) nor underflow (the smallest `f32` subnormal squared is a normal
/// `f64`), so the sum is taken in `f64` and rounded once. `f64`: two passes, the largest magnitude
/// `s` first, then `s·√(Σ(x/s)²)` (each `x/s` is at most 1 in magnitude, so nothing overflows,
/// and dividing by a subnormal `s` stays finite).
fn col_norm<T: CpuElem>(col: &[T]) -> T {
    match T::DTYPE {
        DType::F32 => {
            let sum: f64 = col.iter().map(|v| v.to_f64() * v.to_f64()).sum();
            T::from_f64(sum.sqrt())
        }
        DType::F64 => {
            let scale = col.iter().fold(0.0f64, |m, v| m.max(v.to_f64().abs()));
            if scale == 0.0 || !scale.is_finite() {
                return T::from_f64(scale);
            }
            let sum: f64 = col
                .iter()
                .map(|v| {
                    let q = v.to_f64() / scale;
                    q * q
                })
                .sum();
            T::from_f64(scale * sum.sqrt())
        }
    }
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
        Ok(Mat::from_fn(rows, cols, |i, j| data[i + j * rows]))
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

    fn execute(&self, plan: &Plan, x: &Mat<T>) -> Result<Mat<T>> {
        execute::run(self, plan, x)
    }

    fn col_norms(&self, x: &Mat<T>) -> Result<Vec<T>> {
        Ok((0..x.ncols())
            .map(|j| col_norm(x.col_as_slice(j)))
            .collect())
    }

    fn col_dots(&self, x: &Mat<T>, y: &Mat<T>) -> Result<Vec<T>> {
        if (x.nrows(), x.ncols()) != (y.nrows(), y.ncols()) {
            return Err(Error::ShapeMismatch {
                context: "col_dots".into(),
                expected: format!("{}x{}", x.nrows(), x.ncols()),
                found: format!("{}x{}", y.nrows(), y.ncols()),
            });
        }
        Ok((0..x.ncols())
            .map(|j| {
                let mut acc = T::from_f64(0.0);
                for (a, b) in x.col_as_slice(j).iter().zip(y.col_as_slice(j)) {
                    acc += *a * *b;
                }
                acc
            })
            .collect())
    }

    fn gemm(
        &self,
        alpha: f64,
        a: &Mat<T>,
        trans_a: bool,
        b: &Mat<T>,
        trans_b: bool,
        beta: f64,
        c: Option<&Mat<T>>,
    ) -> Result<Mat<T>> {
        let shape = |m: &Mat<T>| (m.nrows(), m.ncols());
        let (m, n, _) = gemm_shape(
            alpha,
            shape(a),
            trans_a,
            shape(b),
            trans_b,
            beta,
            c.map(shape),
        )?;
        check_scalar("gemm alpha", alpha, T::DTYPE)?;
        check_scalar("gemm beta", beta, T::DTYPE)?;
        if alpha == 0.0 {
            // BLAS semantics: op(A)·op(B) is not formed (it may overflow, and 0·Inf is NaN), and
            // with beta = 0 C is not read (a NaN in C does not propagate).
            return Ok(match c {
                Some(c) if beta != 0.0 => {
                    let bt = T::from_f64(beta);
                    Mat::from_fn(m, n, |i, j| bt * c[(i, j)])
                }
                _ => Mat::zeros(m, n),
            });
        }
        let ar = if trans_a { a.transpose() } else { a.as_ref() };
        let br = if trans_b { b.transpose() } else { b.as_ref() };
        let (mut out, accum) = match c {
            Some(c) if beta != 0.0 => {
                let bt = T::from_f64(beta);
                (Mat::from_fn(m, n, |i, j| bt * c[(i, j)]), Accum::Add)
            }
            _ => (Mat::zeros(m, n), Accum::Replace),
        };
        matmul(out.as_mut(), accum, ar, br, T::from_f64(alpha), self.par);
        Ok(out)
    }

    fn axpby(&self, alpha: f64, x: &Mat<T>, beta: f64, y: &Mat<T>) -> Result<Mat<T>> {
        axpby_shape(alpha, (x.nrows(), x.ncols()), beta, (y.nrows(), y.ncols()))?;
        check_scalar("axpby alpha", alpha, T::DTYPE)?;
        check_scalar("axpby beta", beta, T::DTYPE)?;
        let (a, b) = (T::from_f64(alpha), T::from_f64(beta));
        Ok(Mat::from_fn(x.nrows(), x.ncols(), |i, j| {
            a * x[(i, j)] + b * y[(i, j)]
        }))
    }
}
