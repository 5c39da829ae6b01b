//! The one place where the engine meets its backends.
//!
//! An operation that touches resident matrices (upload, download, running a plan) is written
//! once, generic over [`Backend`], as an [`OnBackend`]; [`Engine::dispatch`] picks the backend
//! for a dtype (the GPU for `f32` on a GPU engine, `CpuBackend<f32|f64>` otherwise) and tells
//! the operation which [`MatData`] variant holds that backend's matrices ([`Home`]).

use crate::matrix::{MatData, Matrix};
use crate::{BackendKind, Engine, Scalar};
use faer::MatRef;
use linops_core::{Backend, DType, Element, Error, Plan, Result, check_finite};
use std::any::TypeId;
use std::borrow::Cow;

/// Where the matrices of one backend live in [`MatData`]: its variant, both ways.
pub(crate) struct Home<B: Backend> {
    wrap: fn(B::Mat) -> MatData,
    get: fn(&MatData) -> Option<&B::Mat>,
}

/// An operation written once for every backend; [`Engine::dispatch`] picks the backend.
pub(crate) trait OnBackend {
    type Out;
    fn run<B: Backend>(self, be: &B, home: Home<B>) -> Result<Self::Out>;
    /// The host↔engine traffic this operation makes, for the engine's counter.
    fn traffic(&self, _dtype: DType) -> Traffic {
        Traffic::None
    }
}

/// What an [`OnBackend`] operation moves between the host and the engine.
pub(crate) enum Traffic {
    None,
    Upload(u64),
    Download(u64),
}

impl Engine {
    /// Checks that `ms` all live on this engine's backend in one dtype, which it returns.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming `what`, each matrix's dtype and home, and the engine.
    pub(crate) fn resident(&self, what: &str, ms: &[&Matrix]) -> Result<DType> {
        let dtype = ms.first().map_or(DType::F64, |m| m.dtype());
        let here = match self.kind() {
            BackendKind::Cpu => "cpu",
            BackendKind::Gpu => "gpu",
        };
        if ms
            .iter()
            .all(|m| m.dtype() == dtype && m.location() == here)
        {
            return Ok(dtype);
        }
        let list: Vec<String> = ms
            .iter()
            .map(|m| format!("a {} matrix on {}", m.dtype(), m.location()))
            .collect();
        Err(Error::InvalidArgument(format!(
            "{what} of {} (engine is {}; a matrix lives on the engine that made it)",
            list.join(" and "),
            self.name()
        )))
    }

    /// Runs `op` on the backend that computes in `dtype`: the one match over backends.
    pub(crate) fn dispatch<V: OnBackend>(&self, dtype: DType, op: V) -> Result<V::Out> {
        match op.traffic(dtype) {
            Traffic::None => {}
            Traffic::Upload(bytes) => self.counter.upload(bytes),
            Traffic::Download(bytes) => self.counter.download(bytes),
        }
        #[cfg(feature = "gpu")]
        if let Some(g) = self.gpu_backend() {
            if dtype != DType::F32 {
                return Err(Error::Unsupported(format!(
                    "the GPU backend computes in f32, not {dtype}"
                )));
            }
            return op.run(
                g,
                Home {
                    wrap: MatData::Gpu,
                    get: gpu_of,
                },
            );
        }
        match dtype {
            DType::F32 => op.run(
                &self.cpu32,
                Home {
                    wrap: MatData::Cpu32,
                    get: cpu32_of,
                },
            ),
            DType::F64 => op.run(
                &self.cpu64,
                Home {
                    wrap: MatData::Cpu64,
                    get: cpu64_of,
                },
            ),
        }
    }
}

#[cfg(feature = "gpu")]
fn gpu_of(d: &MatData) -> Option<&linops_gpu::GpuMat> {
    match d {
        MatData::Gpu(m) => Some(m),
        _ => None,
    }
}

fn cpu32_of(d: &MatData) -> Option<&faer::Mat<f32>> {
    match d {
        MatData::Cpu32(m) => Some(m),
        _ => None,
    }
}

fn cpu64_of(d: &MatData) -> Option<&faer::Mat<f64>> {
    match d {
        MatData::Cpu64(m) => Some(m),
        _ => None,
    }
}

/// The error for a matrix that does not live on the backend an operation runs on.
fn elsewhere(what: &str, m: &Matrix, engine: &str) -> Error {
    Error::InvalidArgument(format!(
        "{what}: matrix lives on {} in {} but this engine is {engine}",
        m.location(),
        m.dtype()
    ))
}

/// Uploads column-major `data` (converted exactly: the caller checked the dtype; no copy on the
/// way when it is already the backend's element type).
pub(crate) struct Upload<'a, T: Clone> {
    pub rows: usize,
    pub cols: usize,
    pub data: Cow<'a, [T]>,
}

impl<T: Element> OnBackend for Upload<'_, T> {
    type Out = Matrix;
    fn traffic(&self, dtype: DType) -> Traffic {
        Traffic::Upload((self.rows * self.cols) as u64 * dtype.size_bytes())
    }
    fn run<B: Backend>(self, be: &B, home: Home<B>) -> Result<Matrix> {
        let data: Cow<'_, [B::Elem]> = convert_slice(&self.data);
        let m = be.upload(self.rows, self.cols, &data)?;
        Ok(Matrix {
            data: (home.wrap)(m),
        })
    }
}

/// `v` as a vector of `U`, each entry through `f64` (exact for the same type or `f32 → f64`,
/// rounding to nearest for `f64 → f32`); the vector itself when `U` is `T`, without a copy.
fn convert<T: Element, U: Element>(v: Vec<T>) -> Vec<U> {
    if TypeId::of::<T>() == TypeId::of::<U>() {
        let any: Box<dyn std::any::Any> = Box::new(v);
        return *any.downcast::<Vec<U>>().expect("`T` is `U`");
    }
    convert_slice(&v).into_owned()
}

/// `v` as a slice of `U`, each entry through `f64` as in [`convert`]; `v` itself, borrowed, when
/// `U` is `T`.
fn convert_slice<T: Element, U: Element>(v: &[T]) -> Cow<'_, [U]> {
    if TypeId::of::<T>() == TypeId::of::<U>() {
        // SAFETY: `T` and `U` are the same type, so the slice's elements are `U`s.
        Cow::Borrowed(unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<U>(), v.len()) })
    } else {
        Cow::Owned(v.iter().map(|x| U::from_f64(x.to_f64())).collect())
    }
}

/// Downloads a matrix as column-major entries of `T` (widened to `f64` exactly with
/// `T = f64`; the caller checked that `T` holds the matrix's entries exactly otherwise).
pub(crate) struct Download<'a, T> {
    pub m: &'a Matrix,
    pub engine: &'static str,
    pub as_type: std::marker::PhantomData<T>,
}

impl<T: Element> OnBackend for Download<'_, T> {
    type Out = Vec<T>;
    fn traffic(&self, dtype: DType) -> Traffic {
        let (rows, cols) = self.m.shape();
        Traffic::Download((rows * cols) as u64 * dtype.size_bytes())
    }
    fn run<B: Backend>(self, be: &B, home: Home<B>) -> Result<Vec<T>> {
        let m =
            (home.get)(&self.m.data).ok_or_else(|| elsewhere("download", self.m, self.engine))?;
        Ok(convert(be.download(m)?))
    }
}

/// Executes a plan on resident inputs.
pub(crate) struct Execute<'a> {
    pub plan: &'a Plan,
    pub inputs: &'a [&'a Matrix],
    pub engine: &'static str,
}

impl OnBackend for Execute<'_> {
    type Out = Matrix;
    fn run<B: Backend>(self, be: &B, home: Home<B>) -> Result<Matrix> {
        let mats = self
            .inputs
            .iter()
            .map(|m| (home.get)(&m.data).ok_or_else(|| elsewhere("execute", m, self.engine)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Matrix {
            data: (home.wrap)(be.execute(self.plan, &mats)?),
        })
    }
}

/// `x`'s entries in column-major order, after checking it is non-empty and finite (the
/// checks every host input passes before it reaches a backend).
pub(crate) fn host_data<T: Scalar>(x: MatRef<'_, T>) -> Result<Cow<'_, [T]>> {
    let (rows, cols) = (x.nrows(), x.ncols());
    if rows == 0 || cols == 0 {
        return Err(Error::EmptyDimension {
            context: "input matrix".into(),
            rows,
            cols,
        });
    }
    let data = match x.try_as_col_major() {
        // Contiguous columns one after the other: the matrix's own storage, not a copy.
        Some(c) if cols == 1 || c.col_stride() == rows as isize => {
            // SAFETY: the row stride is 1 and each column starts `rows` elements after the one
            // before, so the `rows·cols` elements from the first are exactly the matrix's,
            // borrowed for as long as `x` is.
            Cow::Borrowed(unsafe { std::slice::from_raw_parts(c.as_ptr(), rows * cols) })
        }
        // Rows contiguous (a row-major matrix, e.g. a C-order NumPy array): transposed in
        // blocks in vector registers, a band of rows at a time (`rows_to_columns`). At
        // 3584x1024 f32 (`hadamard28`), `apply` from a row-major X took at best 30-45 ms
        // element by element (a cache line per element read), 4.9-5.1 ms in 8x8 blocks of
        // scalar copies into zeroed storage, 3.7-4.0 ms this way; 2.0-2.2 ms from a
        // column-major X (2026-12-03). The CPU engine's `apply` and `upload` transpose
        // straight into the backend's storage instead (`Engine::upload_rows_cpu`); this path
        // serves the GPU and the column panels of a tiled apply.
        _ => match linops_cpu::transpose::rows_to_columns(x) {
            Some(data) => Cow::Owned(data),
            None => {
                let mut data: Vec<T> = Vec::with_capacity(rows * cols);
                for j in 0..cols {
                    match x.col(j).try_as_col_major() {
                        Some(c) => data.extend_from_slice(c.as_slice()),
                        None => data.extend(x.col(j).iter().copied()),
                    }
                }
                Cow::Owned(data)
            }
        },
    };
    check_finite("input matrix", rows, &data)?;
    Ok(data)
}
