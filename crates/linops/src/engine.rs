//! `Engine`: backend choice, fallback, and the one way to a backend.
//!
//! An engine owns one backend (CPU, or GPU with a CPU beside it for `f64` requests is *not* done
//! implicitly: a GPU engine computes in `f32` and says so with [`Error::Unsupported`] when asked for
//! `f64`). Every entry point checks its inputs (shapes, empty dimensions, NaN/Inf) the same way
//! for every backend before any backend runs.
//!
//! Every operation is a [`Plan`] over resident matrices: an `apply` plans `op·X`, and the
//! front doors of `resident` (GEMM, `axpby`, column norms and dots, concatenation, random
//! matrices) plan their step the same way. All of them reach the backend through
//! `Engine::run`, and upload, download and run meet the backends in one place,
//! `Engine::dispatch` (in `engine/dispatch.rs`), the only match over the engine's backends.

mod dispatch;
mod tiling;
mod transfers;

pub use transfers::{SMALL_TRANSFER_BYTES, TransferCount};

use crate::matrix::Matrix;
use dispatch::{Download, Execute, Upload};
use faer::{Mat, MatRef};
use linops_core::plan::CostModel;
use linops_core::{Backend, DType, Error, Op, Plan, Result};
use linops_cpu::{CpuBackend, CpuElem};

/// Which kind of backend an engine runs on.
///
/// # Examples
/// ```
/// assert_eq!(linops::Engine::cpu().kind(), linops::BackendKind::Cpu);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// The faer CPU backend.
    Cpu,
    /// The wgpu GPU backend.
    Gpu,
}

/// Element types the engine accepts: `f32` and `f64` (sealed).
///
/// # Examples
/// ```
/// fn f<T: linops::Scalar>() {}
/// f::<f32>();
/// f::<f64>();
/// ```
pub trait Scalar: CpuElem + sealed::Sealed {}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

impl Scalar for f32 {}
impl Scalar for f64 {}

/// Runs operators on one backend.
///
/// # Examples
/// ```
/// use linops::{Engine, Op, faer::Mat};
/// let e = Engine::cpu();
/// let op = Op::identity(2).unwrap().scaled(3.0).unwrap();
/// let y = e.apply(&op, Mat::<f32>::from_fn(2, 1, |i, _| i as f32).as_ref()).unwrap();
/// assert_eq!(y[(1, 0)], 3.0);
/// ```
#[derive(Debug)]
pub struct Engine {
    pub(crate) cpu32: CpuBackend<f32>,
    pub(crate) cpu64: CpuBackend<f64>,
    #[cfg(feature = "gpu")]
    gpu: Option<linops_gpu::GpuBackend>,
    /// The planner's cost model (see [`Engine::cost_model`]).
    pub(crate) cost: std::sync::RwLock<CostModel>,
    /// The planner's binding clamp in bytes, 0 for none ([`Engine::set_max_binding_bytes`]).
    pub(crate) binding_clamp: std::sync::atomic::AtomicU64,
    /// The device memory clamp in bytes, 0 for none ([`Engine::set_max_device_bytes`]).
    pub(crate) device_clamp: std::sync::atomic::AtomicU64,
    /// Uploads, downloads and plan builds so far (see [`Engine::transfers`]).
    pub(crate) counter: transfers::Counter,
}

fn env_backend() -> Result<Option<BackendKind>> {
    match std::env::var("LINOPS_BACKEND") {
        Err(_) => Ok(None),
        Ok(v) => match v.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => Ok(None),
            "cpu" => Ok(Some(BackendKind::Cpu)),
            "gpu" => Ok(Some(BackendKind::Gpu)),
            other => Err(Error::InvalidArgument(format!(
                "LINOPS_BACKEND={other:?}: expected cpu, gpu or auto"
            ))),
        },
    }
}

impl Engine {
    /// The CPU engine (faer, all cores).
    ///
    /// # Examples
    /// ```
    /// assert_eq!(linops::Engine::cpu().name(), "cpu");
    /// ```
    pub fn cpu() -> Engine {
        Engine {
            cpu32: CpuBackend::new(),
            cpu64: CpuBackend::new(),
            #[cfg(feature = "gpu")]
            gpu: None,
            cost: std::sync::RwLock::new(CostModel::cpu_default()),
            binding_clamp: std::sync::atomic::AtomicU64::new(0),
            device_clamp: std::sync::atomic::AtomicU64::new(0),
            counter: transfers::Counter::default(),
        }
    }

    /// The GPU engine on the adapter chosen by [`crate::DeviceOptions::from_env`].
    ///
    /// # Errors
    /// [`Error::NoAdapter`] when no adapter exists or none matches `LINOPS_ADAPTER`;
    /// [`Error::Unsupported`] when linops was built without the `gpu` feature.
    ///
    /// # Examples
    /// ```
    /// match linops::Engine::gpu() {
    ///     Ok(e) => assert_eq!(e.name(), "gpu"),
    ///     Err(e) => eprintln!("no GPU here: {e}"),
    /// }
    /// ```
    pub fn gpu() -> Result<Engine> {
        #[cfg(feature = "gpu")]
        {
            let dev = linops_gpu::GpuDevice::new(&linops_gpu::DeviceOptions::from_env())?;
            Ok(Engine::from_device(dev))
        }
        #[cfg(not(feature = "gpu"))]
        Err(Error::Unsupported(
            "linops was built without the `gpu` feature".into(),
        ))
    }

    /// A GPU engine on a device opened elsewhere (so tests and applications share one adapter).
    ///
    /// # Examples
    /// ```
    /// use linops::{DeviceOptions, Engine, GpuDevice};
    /// if let Ok(dev) = GpuDevice::new(&DeviceOptions::from_env()) {
    ///     assert_eq!(Engine::from_device(dev).name(), "gpu");
    /// }
    /// ```
    #[cfg(feature = "gpu")]
    pub fn from_device(dev: std::sync::Arc<linops_gpu::GpuDevice>) -> Engine {
        let mut e = Engine::cpu();
        e.gpu = Some(linops_gpu::GpuBackend::new(dev));
        e.cost = std::sync::RwLock::new(CostModel::gpu_default());
        e
    }

    /// The GPU when an adapter exists, else the CPU with a one-line notice on stderr.
    /// `LINOPS_BACKEND=cpu|gpu` forces the choice.
    ///
    /// # Errors
    /// [`Error::NoAdapter`] when `LINOPS_BACKEND=gpu` and no adapter can be opened;
    /// [`Error::InvalidArgument`] for an unknown `LINOPS_BACKEND` value.
    ///
    /// # Examples
    /// ```
    /// let e = linops::Engine::auto().unwrap();
    /// println!("running on {} ({})", e.name(), e.device());
    /// ```
    pub fn auto() -> Result<Engine> {
        match env_backend()? {
            Some(BackendKind::Cpu) => Ok(Engine::cpu()),
            Some(BackendKind::Gpu) => Engine::gpu(),
            None => match Engine::gpu() {
                Ok(e) => Ok(e),
                Err(err) => {
                    eprintln!("linops: no usable GPU ({err}); using the CPU backend");
                    Ok(Engine::cpu())
                }
            },
        }
    }

    /// The kind of backend.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(linops::Engine::cpu().kind(), linops::BackendKind::Cpu);
    /// ```
    pub fn kind(&self) -> BackendKind {
        #[cfg(feature = "gpu")]
        if self.gpu.is_some() {
            return BackendKind::Gpu;
        }
        BackendKind::Cpu
    }

    /// `"cpu"` or `"gpu"`.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(linops::Engine::cpu().name(), "cpu");
    /// ```
    pub fn name(&self) -> &'static str {
        match self.kind() {
            BackendKind::Cpu => "cpu",
            BackendKind::Gpu => "gpu",
        }
    }

    /// The device: CPU model or GPU adapter name.
    ///
    /// # Examples
    /// ```
    /// assert!(!linops::Engine::cpu().device().is_empty());
    /// ```
    pub fn device(&self) -> String {
        #[cfg(feature = "gpu")]
        if let Some(g) = &self.gpu {
            return g.device();
        }
        self.cpu64.device()
    }

    /// The GPU backend, when this is a GPU engine.
    ///
    /// # Examples
    /// ```
    /// assert!(linops::Engine::cpu().gpu_backend().is_none());
    /// ```
    #[cfg(feature = "gpu")]
    pub fn gpu_backend(&self) -> Option<&linops_gpu::GpuBackend> {
        self.gpu.as_ref()
    }

    /// The dtype this engine computes in for inputs of type `T`.
    ///
    /// # Errors
    /// [`Error::Unsupported`] for `f64` on the GPU engine (it computes in `f32`).
    ///
    /// # Examples
    /// ```
    /// assert_eq!(linops::Engine::cpu().compute_dtype::<f64>().unwrap(), linops::DType::F64);
    /// ```
    pub fn compute_dtype<T: Scalar>(&self) -> Result<DType> {
        match (self.kind(), T::DTYPE) {
            (BackendKind::Gpu, DType::F64) => Err(Error::Unsupported(
                "the GPU backend computes in f32; pass f32 data, or use Engine::cpu() for f64"
                    .into(),
            )),
            (_, d) => Ok(d),
        }
    }

    /// `op · x`, returned to the host; tiled in column panels when `X`, `Y` or a temporary
    /// exceeds the engine's binding limit ([`Engine::limits`]).
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] when `x` has not `op.shape().1` rows, [`Error::EmptyDimension`]
    /// for an empty `x`, [`Error::NonFinite`] for NaN/Inf in `x`, [`Error::InvalidArgument`] for
    /// an operator parameter or scale factor outside the compute precision's range (an `f32`
    /// engine and a parameter beyond `f32`, see [`crate::errors`]), device limits and failures.
    ///
    /// # Examples
    /// ```
    /// use linops::{Engine, Op, faer::Mat};
    /// let e = Engine::cpu();
    /// let op = Op::diagonal(vec![1.0, 2.0]).unwrap();
    /// assert!(e.apply(&op, Mat::<f64>::zeros(3, 1).as_ref()).is_err());
    /// ```
    pub fn apply<T: Scalar>(&self, op: &Op, x: MatRef<'_, T>) -> Result<Mat<T>> {
        self.apply_host(op, x)
    }

    /// Moves a host matrix onto the engine's backend.
    ///
    /// # Errors
    /// [`Error::EmptyDimension`], [`Error::NonFinite`], [`Error::Unsupported`] (f64 on GPU),
    /// device limits ([`Error::DeviceLimit`]).
    ///
    /// # Examples
    /// ```
    /// let e = linops::Engine::cpu();
    /// let m = linops::faer::Mat::<f64>::from_fn(2, 2, |_, _| f64::NAN);
    /// assert!(matches!(e.upload(m.as_ref()), Err(linops::Error::NonFinite { .. })));
    /// ```
    pub fn upload<T: Scalar>(&self, x: MatRef<'_, T>) -> Result<Matrix> {
        if let Some(m) = self.upload_rows_cpu(x)? {
            return Ok(m);
        }
        let data = dispatch::host_data(x)?;
        let dtype = self.compute_dtype::<T>()?;
        let (rows, cols) = (x.nrows(), x.ncols());
        self.dispatch(dtype, Upload { rows, cols, data })
    }

    /// Copies a matrix back to the host as `T`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when the matrix is stored in another dtype or lives on another
    /// backend; device failures.
    ///
    /// # Examples
    /// ```
    /// let e = linops::Engine::cpu();
    /// let m = e.upload(linops::faer::Mat::<f32>::identity(2, 2).as_ref()).unwrap();
    /// assert_eq!(e.download::<f32>(&m).unwrap()[(1, 1)], 1.0);
    /// assert!(e.download::<f64>(&m).is_err());
    /// ```
    pub fn download<T: Scalar>(&self, m: &Matrix) -> Result<Mat<T>> {
        if T::DTYPE != m.dtype() {
            return Err(Error::InvalidArgument(format!(
                "matrix holds {} on {}; download it as {}",
                m.dtype(),
                m.location(),
                m.dtype()
            )));
        }
        // The matrix holds `T`: no conversion.
        let (rows, cols) = m.shape();
        let v = self.download_as::<T>(m)?;
        Ok(MatRef::from_column_major_slice(&v, rows, cols).to_owned())
    }

    /// Copies a matrix back to the host in `f64`, whatever it is stored in (`f32` widens
    /// exactly), so results of any engine can be read the same way.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when the matrix lives on another backend; device failures.
    ///
    /// # Examples
    /// ```
    /// let e = linops::Engine::cpu();
    /// let m = e.upload(linops::faer::Mat::<f32>::identity(2, 2).as_ref()).unwrap();
    /// assert_eq!(e.download_f64(&m).unwrap()[(1, 1)], 1.0);
    /// ```
    pub fn download_f64(&self, m: &Matrix) -> Result<Mat<f64>> {
        let (rows, cols) = m.shape();
        let v = self.download_vec(m)?;
        Ok(MatRef::from_column_major_slice(&v, rows, cols).to_owned())
    }

    /// The entries of `m` in `f64`, column-major.
    pub(crate) fn download_vec(&self, m: &Matrix) -> Result<Vec<f64>> {
        self.download_as::<f64>(m)
    }

    /// The entries of `m` as `T`, column-major: exact when `T` is `f64` or `m`'s own dtype.
    pub(crate) fn download_as<T: Scalar>(&self, m: &Matrix) -> Result<Vec<T>> {
        self.dispatch(
            m.dtype(),
            Download {
                m,
                engine: self.name(),
                as_type: std::marker::PhantomData::<T>,
            },
        )
    }

    /// `op · x` for a resident matrix; the result stays on the backend.
    ///
    /// # Errors
    /// As [`Engine::apply`]; [`Error::InvalidArgument`] for a matrix of another engine kind;
    /// [`Error::DeviceLimit`] when the plan needs column panels and `Y` itself is over the
    /// binding limit (apply from the host instead, which tiles `Y`).
    ///
    /// # Examples
    /// ```
    /// use linops::{Engine, Op, faer::Mat};
    /// let e = Engine::cpu();
    /// let op = Op::identity(2).unwrap().scaled(2.0).unwrap();
    /// let x = e.upload(Mat::<f32>::identity(2, 2).as_ref()).unwrap();
    /// let y = e.apply_to(&op, &e.apply_to(&op, &x).unwrap()).unwrap(); // stays resident
    /// assert_eq!(e.download::<f32>(&y).unwrap()[(0, 0)], 4.0);
    /// ```
    pub fn apply_to(&self, op: &Op, x: &Matrix) -> Result<Matrix> {
        self.apply_resident(op, x)
    }

    /// Runs a plan on resident `inputs` (bound in order to its inputs); the result stays on the
    /// backend. The one way every operation reaches a backend.
    pub(crate) fn run(&self, plan: &Plan, inputs: &[&Matrix]) -> Result<Matrix> {
        let engine = self.name();
        self.dispatch(
            plan.dtype(),
            Execute {
                plan,
                inputs,
                engine,
            },
        )
    }
}
