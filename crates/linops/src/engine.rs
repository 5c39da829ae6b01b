//! `Engine`: backend choice, fallback, and the apply entry points.
//!
//! An engine owns one backend (CPU, or GPU with a CPU beside it for `f64` requests is *not* done
//! implicitly: a GPU engine computes in `f32` and says so with [`Error::Unsupported`] when asked for
//! `f64`). Every entry point checks its inputs (shapes, empty dimensions, NaN/Inf) the same way
//! for every backend before any backend runs.

use crate::matrix::{MatData, Matrix};
use faer::{Mat, MatRef};
use linops_core::plan::CostModel;
use linops_core::{Backend, DType, Error, Op, Plan, Result, check_finite};
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
pub trait Scalar: CpuElem + sealed::Sealed {
    #[doc(hidden)]
    fn cpu(e: &Engine) -> &CpuBackend<Self>;
    #[doc(hidden)]
    fn wrap(m: Mat<Self>) -> MatData;
    #[doc(hidden)]
    fn unwrap(d: &MatData) -> Option<&Mat<Self>>;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

impl Scalar for f32 {
    fn cpu(e: &Engine) -> &CpuBackend<f32> {
        &e.cpu32
    }
    fn wrap(m: Mat<f32>) -> MatData {
        MatData::Cpu32(m)
    }
    fn unwrap(d: &MatData) -> Option<&Mat<f32>> {
        match d {
            MatData::Cpu32(m) => Some(m),
            _ => None,
        }
    }
}

impl Scalar for f64 {
    fn cpu(e: &Engine) -> &CpuBackend<f64> {
        &e.cpu64
    }
    fn wrap(m: Mat<f64>) -> MatData {
        MatData::Cpu64(m)
    }
    fn unwrap(d: &MatData) -> Option<&Mat<f64>> {
        match d {
            MatData::Cpu64(m) => Some(m),
            _ => None,
        }
    }
}

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
    cpu32: CpuBackend<f32>,
    cpu64: CpuBackend<f64>,
    #[cfg(feature = "gpu")]
    gpu: Option<linops_gpu::GpuBackend>,
    /// The planner's cost model (see [`Engine::cost_model`]).
    cost: std::sync::RwLock<CostModel>,
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

    /// The plan this engine runs for `op · X` with `X` of `x_rows × x_cols` in type `T`.
    ///
    /// # Errors
    /// As [`Plan::new`] and [`Engine::compute_dtype`].
    ///
    /// # Examples
    /// ```
    /// let e = linops::Engine::cpu();
    /// let op = linops::Op::identity(3).unwrap();
    /// println!("{}", e.plan::<f32>(&op, 3, 2).unwrap().explain());
    /// ```
    pub fn plan<T: Scalar>(&self, op: &Op, x_rows: usize, x_cols: usize) -> Result<Plan> {
        self.plan_in(op, x_rows, x_cols, self.compute_dtype::<T>()?)
    }

    fn plan_in(&self, op: &Op, x_rows: usize, x_cols: usize, dtype: DType) -> Result<Plan> {
        let model = self.cost.read().unwrap_or_else(|e| e.into_inner());
        Plan::with_model(op, x_rows, x_cols, dtype, &model)
    }

    /// The cost model the planner uses on this engine: it decides, per structured leaf, whether
    /// to apply the structure or a materialized dense matrix ([`linops_core::plan::cost`]).
    /// Defaults: [`CostModel::cpu_default`] on the CPU, [`CostModel::gpu_default`] on the GPU;
    /// [`Engine::calibrate`] replaces it with measured figures.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(linops::Engine::cpu().cost_model().name(), "cpu-default");
    /// ```
    pub fn cost_model(&self) -> CostModel {
        self.cost.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Replaces the cost model (e.g. [`CostModel::structure_only`] to always apply structure).
    ///
    /// # Examples
    /// ```
    /// use linops::{Engine, plan::CostModel};
    /// let e = Engine::cpu();
    /// e.set_cost_model(CostModel::structure_only());
    /// assert!(!e.cost_model().materializes());
    /// ```
    pub fn set_cost_model(&self, model: CostModel) {
        *self.cost.write().unwrap_or_else(|e| e.into_inner()) = model;
    }

    /// This engine with another cost model (builder form of [`Engine::set_cost_model`]).
    ///
    /// # Examples
    /// ```
    /// use linops::{Engine, plan::CostModel};
    /// let e = Engine::cpu().with_cost_model(CostModel::structure_only());
    /// assert_eq!(e.cost_model().name(), "structure-only");
    /// ```
    pub fn with_cost_model(self, model: CostModel) -> Engine {
        self.set_cost_model(model);
        self
    }

    /// Measures this engine's backend (f32) and installs the measured cost model, which it also
    /// returns: the time of an empty-ish plan (launch overhead), a diagonal scaling of 2²² entries
    /// (bandwidth), a dense 512³ GEMM and a 64-block 32×32 block GEMM over 256 columns (their
    /// FLOP rates); the other kernels' rates are the defaults scaled by measured/default GEMM
    /// rate. Each figure is the median of several runs; takes well under a second on a CPU or a
    /// GPU (longer on a software rasterizer).
    ///
    /// # Errors
    /// Device failures.
    ///
    /// # Examples
    /// ```
    /// let e = linops::Engine::cpu();
    /// let m = e.calibrate().unwrap();
    /// assert!(m.rate("gemm") > 0.0 && m.name().starts_with("calibrated"));
    /// assert_eq!(e.cost_model(), m);
    /// ```
    pub fn calibrate(&self) -> Result<CostModel> {
        use linops_core::op::BlockDiagonal;
        let median = |op: &Op, x: &Matrix, reps: usize| -> Result<f64> {
            let _ = self.apply_structured(op, x)?; // warm-up: uploads, pipelines
            let mut t = Vec::with_capacity(reps);
            for _ in 0..reps {
                let t0 = std::time::Instant::now();
                // Execution returns when the work is done (GPU submissions wait for the queue).
                let _y = self.apply_structured(op, x)?;
                t.push(t0.elapsed().as_secs_f64());
            }
            t.sort_by(f64::total_cmp);
            Ok(t[reps / 2])
        };
        let fill = |r: usize, c: usize| {
            Mat::<f32>::from_fn(r, c, |i, j| ((i * 31 + j * 17) % 29) as f32 / 29.0 - 0.5)
        };
        let base = match self.kind() {
            BackendKind::Cpu => CostModel::cpu_default(),
            BackendKind::Gpu => CostModel::gpu_default(),
        };
        // Launch: a 1×1 diagonal.
        let one = self.upload(fill(1, 1).as_ref())?;
        let launch = median(&Op::diagonal(vec![2.0])?, &one, 9)?;
        // Bandwidth: diagonal scaling of a 2^22-entry column.
        let n = 1 << 22;
        let big = self.upload(fill(n, 1).as_ref())?;
        let t = median(&Op::diagonal(vec![1.5; n])?, &big, 5)?;
        let bandwidth = (3 * n * 4) as f64 / (t - launch).max(1e-9);
        // Dense GEMM 512³.
        let k = 512;
        let a = Op::from_host(linops_core::HostMat::from_fn(k, k, |i, j| {
            ((i + 3 * j) % 7) as f64 - 3.0
        }))?;
        let xk = self.upload(fill(k, k).as_ref())?;
        let t = median(&a, &xk, 5)?;
        let gemm = (2 * k * k * k) as f64 / (t - launch).max(1e-9);
        // Block GEMM: 64 blocks of 32×32 over 256 columns.
        let (blocks, bs, cols) = (64, 32, 256);
        let w: Vec<f64> = (0..blocks * bs * bs)
            .map(|i| (i % 11) as f64 - 5.0)
            .collect();
        let bd = Op::leaf(BlockDiagonal::from_stacked(blocks, bs, bs, w)?);
        let xb = self.upload(fill(blocks * bs, cols).as_ref())?;
        let t = median(&bd, &xb, 5)?;
        let block = (2 * blocks * bs * bs * cols) as f64 / (t - launch).max(1e-9);
        let scale = gemm / base.rate("gemm");
        let mut m = base
            .clone()
            .named(format!("calibrated on {}", self.device()))
            .with_launch(launch)
            .with_bandwidth(bandwidth)
            .with_rate("gemm", gemm)
            .with_rate("block_gemm", block);
        for label in ["sketch_gemm", "fwht", "dct", "spmm"] {
            m = m.with_rate(label, base.rate(label) * scale);
        }
        self.set_cost_model(m.clone());
        Ok(m)
    }

    /// `op · x` planned without materialization (calibration measures the kernels themselves).
    fn apply_structured(&self, op: &Op, x: &Matrix) -> Result<Matrix> {
        let (rows, cols) = x.shape();
        let plan = Plan::new(op, rows, cols, x.dtype())?;
        self.execute(&plan, x)
    }

    /// `op · x`, returned to the host.
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
        let xm = self.upload(x)?;
        let y = self.apply_to(op, &xm)?;
        self.download(&y)
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
        let (rows, cols) = (x.nrows(), x.ncols());
        if rows == 0 || cols == 0 {
            return Err(Error::EmptyDimension {
                context: "input matrix".into(),
                rows,
                cols,
            });
        }
        let data: Vec<T> = (0..cols)
            .flat_map(|j| (0..rows).map(move |i| x[(i, j)]))
            .collect();
        check_finite("input matrix", rows, &data)?;
        self.compute_dtype::<T>()?;
        #[cfg(feature = "gpu")]
        if let Some(g) = &self.gpu {
            let f: Vec<f32> = data.iter().map(|v| v.to_f64() as f32).collect();
            return Ok(Matrix {
                data: MatData::Gpu(g.upload(rows, cols, &f)?),
            });
        }
        Ok(Matrix {
            data: T::wrap(T::cpu(self).upload(rows, cols, &data)?),
        })
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
        #[cfg(feature = "gpu")]
        if let MatData::Gpu(g) = &m.data {
            let (rows, cols) = m.shape();
            let be = self.gpu_for(m)?;
            if T::DTYPE != DType::F32 {
                return Err(Error::InvalidArgument(
                    "a GPU matrix holds f32; download it as f32".into(),
                ));
            }
            let v = be.download(g)?;
            return Ok(Mat::from_fn(rows, cols, |i, j| {
                T::from_f64(v[i + j * rows] as f64)
            }));
        }
        match T::unwrap(&m.data) {
            Some(x) => Ok(x.clone()),
            None => Err(Error::InvalidArgument(format!(
                "matrix holds {} on {}; download it as {}",
                m.dtype(),
                m.location(),
                m.dtype()
            ))),
        }
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
        match m.dtype() {
            DType::F64 => self.download::<f64>(m),
            DType::F32 => {
                let x = self.download::<f32>(m)?;
                Ok(Mat::from_fn(x.nrows(), x.ncols(), |i, j| {
                    f64::from(x[(i, j)])
                }))
            }
        }
    }

    #[cfg(feature = "gpu")]
    fn gpu_for(&self, m: &Matrix) -> Result<&linops_gpu::GpuBackend> {
        self.gpu.as_ref().ok_or_else(|| {
            Error::InvalidArgument(format!(
                "matrix lives on {} but this engine is {}",
                m.location(),
                self.name()
            ))
        })
    }

    /// `op · x` for a resident matrix; the result stays on the backend.
    ///
    /// # Errors
    /// As [`Engine::apply`]; [`Error::InvalidArgument`] for a matrix of another engine kind.
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
        let (rows, cols) = x.shape();
        let plan = self.plan_in(op, rows, cols, x.dtype())?;
        self.execute(&plan, x)
    }

    /// Runs a plan (of `x`'s dtype) on `x`'s backend.
    fn execute(&self, plan: &Plan, x: &Matrix) -> Result<Matrix> {
        match &x.data {
            MatData::Cpu32(m) => {
                self.require_cpu(x)?;
                Ok(Matrix {
                    data: MatData::Cpu32(self.cpu32.execute(plan, m)?),
                })
            }
            MatData::Cpu64(m) => {
                self.require_cpu(x)?;
                Ok(Matrix {
                    data: MatData::Cpu64(self.cpu64.execute(plan, m)?),
                })
            }
            #[cfg(feature = "gpu")]
            MatData::Gpu(m) => {
                let be = self.gpu_for(x)?;
                Ok(Matrix {
                    data: MatData::Gpu(be.execute(plan, m)?),
                })
            }
        }
    }

    fn require_cpu(&self, m: &Matrix) -> Result<()> {
        if self.kind() != BackendKind::Cpu {
            return Err(Error::InvalidArgument(format!(
                "matrix lives on {} but this engine is {}",
                m.location(),
                self.name()
            )));
        }
        Ok(())
    }

    /// Euclidean norm of each column of a resident matrix, overflow- and underflow-safe on every
    /// backend (a representable norm is returned even when its squares are not; one beyond the
    /// precision is `+Inf`).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a matrix of another engine kind; device failures.
    ///
    /// # Examples
    /// ```
    /// let e = linops::Engine::cpu();
    /// let m = e.upload(linops::faer::Mat::<f64>::from_fn(2, 1, |i, _| [3.0, 4.0][i]).as_ref()).unwrap();
    /// assert_eq!(e.col_norms(&m).unwrap(), vec![5.0]);
    /// ```
    pub fn col_norms(&self, x: &Matrix) -> Result<Vec<f64>> {
        match &x.data {
            MatData::Cpu32(m) => {
                self.require_cpu(x)?;
                Ok(self
                    .cpu32
                    .col_norms(m)?
                    .into_iter()
                    .map(f64::from)
                    .collect())
            }
            MatData::Cpu64(m) => {
                self.require_cpu(x)?;
                self.cpu64.col_norms(m)
            }
            #[cfg(feature = "gpu")]
            MatData::Gpu(m) => Ok(self
                .gpu_for(x)?
                .col_norms(m)?
                .into_iter()
                .map(f64::from)
                .collect()),
        }
    }

    /// Column-wise dot products `Σ_i x[i,j]·y[i,j]` of two resident matrices.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] for different shapes, [`Error::InvalidArgument`] for mixed dtypes or
    /// backends.
    ///
    /// # Examples
    /// ```
    /// let e = linops::Engine::cpu();
    /// let m = e.upload(linops::faer::Mat::<f64>::from_fn(2, 1, |i, _| [3.0, 4.0][i]).as_ref()).unwrap();
    /// assert_eq!(e.col_dots(&m, &m).unwrap(), vec![25.0]);
    /// ```
    pub fn col_dots(&self, x: &Matrix, y: &Matrix) -> Result<Vec<f64>> {
        match (&x.data, &y.data) {
            (MatData::Cpu32(a), MatData::Cpu32(b)) => {
                self.require_cpu(x)?;
                Ok(self
                    .cpu32
                    .col_dots(a, b)?
                    .into_iter()
                    .map(f64::from)
                    .collect())
            }
            (MatData::Cpu64(a), MatData::Cpu64(b)) => {
                self.require_cpu(x)?;
                self.cpu64.col_dots(a, b)
            }
            #[cfg(feature = "gpu")]
            (MatData::Gpu(a), MatData::Gpu(b)) => Ok(self
                .gpu_for(x)?
                .col_dots(a, b)?
                .into_iter()
                .map(f64::from)
                .collect()),
            _ => Err(Error::InvalidArgument(format!(
                "col_dots of a {} matrix on {} and a {} matrix on {}",
                x.dtype(),
                x.location(),
                y.dtype(),
                y.location()
            ))),
        }
    }

    fn mixed(&self, what: &str, ms: &[&Matrix]) -> Error {
        let list: Vec<String> = ms
            .iter()
            .map(|m| format!("a {} matrix on {}", m.dtype(), m.location()))
            .collect();
        Error::InvalidArgument(format!(
            "{what} of {} (engine is {})",
            list.join(" and "),
            self.name()
        ))
    }

    /// `alpha·op(A)·op(B) + beta·C` on resident matrices (`op(M) = Mᵀ` when `trans_*`); the result
    /// stays on the backend. `C` is required iff `beta ≠ 0`.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] for incompatible shapes, [`Error::InvalidArgument`] for mixed
    /// dtypes or backends, non-finite scalars, scalars outside the matrices' precision
    /// (`1e300` for `f32` data) or a missing `C`; device failures. BLAS semantics on every
    /// backend: with `alpha == 0` the product is not formed (it may overflow; `0·Inf` is NaN),
    /// and with `beta == 0` `C` is not read.
    ///
    /// # Examples
    /// ```
    /// use linops::{Engine, faer::Mat};
    /// let e = Engine::cpu();
    /// let a = e.upload(Mat::<f64>::from_fn(3, 2, |i, j| (i + j) as f64).as_ref()).unwrap();
    /// let g = e.gemm(1.0, &a, true, &a, false, 0.0, None).unwrap(); // AᵀA, 2×2
    /// assert_eq!(e.download::<f64>(&g).unwrap()[(0, 1)], 0.0 * 1.0 + 1.0 * 2.0 + 2.0 * 3.0);
    /// let h = e.gemm(1.0, &a, true, &a, false, -1.0, Some(&g)).unwrap(); // AᵀA − AᵀA
    /// assert_eq!(e.download::<f64>(&h).unwrap()[(1, 1)], 0.0);
    /// assert!(e.gemm(1.0, &a, false, &a, false, 0.0, None).is_err()); // 3×2 · 3×2
    /// let z = e.gemm(0.0, &a, true, &a, false, 0.0, None).unwrap(); // alpha = 0: AᵀA not formed
    /// assert_eq!(e.download::<f64>(&z).unwrap()[(1, 1)], 0.0);
    /// ```
    #[allow(clippy::too_many_arguments)]
    pub fn gemm(
        &self,
        alpha: f64,
        a: &Matrix,
        trans_a: bool,
        b: &Matrix,
        trans_b: bool,
        beta: f64,
        c: Option<&Matrix>,
    ) -> Result<Matrix> {
        let mut all = vec![a, b];
        all.extend(c);
        match (&a.data, &b.data) {
            (MatData::Cpu32(x), MatData::Cpu32(y)) => {
                self.require_cpu(a)?;
                let cm = match c.map(|m| &m.data) {
                    None => None,
                    Some(MatData::Cpu32(m)) => Some(m),
                    Some(_) => return Err(self.mixed("gemm", &all)),
                };
                Ok(Matrix {
                    data: MatData::Cpu32(self.cpu32.gemm(alpha, x, trans_a, y, trans_b, beta, cm)?),
                })
            }
            (MatData::Cpu64(x), MatData::Cpu64(y)) => {
                self.require_cpu(a)?;
                let cm = match c.map(|m| &m.data) {
                    None => None,
                    Some(MatData::Cpu64(m)) => Some(m),
                    Some(_) => return Err(self.mixed("gemm", &all)),
                };
                Ok(Matrix {
                    data: MatData::Cpu64(self.cpu64.gemm(alpha, x, trans_a, y, trans_b, beta, cm)?),
                })
            }
            #[cfg(feature = "gpu")]
            (MatData::Gpu(x), MatData::Gpu(y)) => {
                let be = self.gpu_for(a)?;
                let cm = match c.map(|m| &m.data) {
                    None => None,
                    Some(MatData::Gpu(m)) => Some(m),
                    Some(_) => return Err(self.mixed("gemm", &all)),
                };
                Ok(Matrix {
                    data: MatData::Gpu(be.gemm(alpha, x, trans_a, y, trans_b, beta, cm)?),
                })
            }
            _ => Err(self.mixed("gemm", &all)),
        }
    }

    /// `alpha·X + beta·Y` on resident matrices of equal shape; the result stays on the backend.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] for different shapes, [`Error::InvalidArgument`] for mixed dtypes
    /// or backends, non-finite scalars and scalars outside the matrices' precision; device
    /// failures.
    ///
    /// # Examples
    /// ```
    /// use linops::{Engine, faer::Mat};
    /// let e = Engine::cpu();
    /// let x = e.upload(Mat::<f32>::from_fn(2, 1, |i, _| i as f32).as_ref()).unwrap();
    /// let y = e.upload(Mat::<f32>::from_fn(2, 1, |_, _| 1.0).as_ref()).unwrap();
    /// let z = e.axpby(2.0, &x, -1.0, &y).unwrap();
    /// assert_eq!(e.download::<f32>(&z).unwrap()[(1, 0)], 1.0);
    /// ```
    pub fn axpby(&self, alpha: f64, x: &Matrix, beta: f64, y: &Matrix) -> Result<Matrix> {
        match (&x.data, &y.data) {
            (MatData::Cpu32(a), MatData::Cpu32(b)) => {
                self.require_cpu(x)?;
                Ok(Matrix {
                    data: MatData::Cpu32(self.cpu32.axpby(alpha, a, beta, b)?),
                })
            }
            (MatData::Cpu64(a), MatData::Cpu64(b)) => {
                self.require_cpu(x)?;
                Ok(Matrix {
                    data: MatData::Cpu64(self.cpu64.axpby(alpha, a, beta, b)?),
                })
            }
            #[cfg(feature = "gpu")]
            (MatData::Gpu(a), MatData::Gpu(b)) => Ok(Matrix {
                data: MatData::Gpu(self.gpu_for(x)?.axpby(alpha, a, beta, b)?),
            }),
            _ => Err(self.mixed("axpby", &[x, y])),
        }
    }
}
