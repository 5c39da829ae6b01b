//! `GpuBackend`: runs linops-core plans on a [`GpuDevice`].
//!
//! Execution of one plan: operator parameters are converted to f32 and index arrays uploaded as
//! `u32` once per op (cached by the parameter's key while the op is alive), output and temporaries come from the buffer pool,
//! every step is recorded into one command encoder, and the encoder is submitted once. Nothing is
//! read back: the output stays on the device until the caller downloads it.

use crate::{GpuDevice, GpuEncoder, GpuIndices, GpuMat};
use linops_core::{Backend, BufferRole, DType, Error, IndexParam, Kernel, Param, Plan, Result};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

type ParamCache = HashMap<u64, (Weak<[f64]>, Arc<GpuMat>)>;
type IndexCache = HashMap<u64, (Weak<[u32]>, Arc<GpuIndices>)>;

/// The wgpu backend of linops (computes in f32).
///
/// # Examples
/// ```
/// use linops_core::{Backend, DType, Op, Plan};
/// use linops_gpu::{DeviceOptions, GpuBackend, GpuDevice};
/// let Ok(dev) = GpuDevice::new(&DeviceOptions::from_env()) else { return };
/// let gpu = GpuBackend::new(dev);
/// let op = Op::diagonal(vec![2.0, 3.0]).unwrap();
/// let x = gpu.upload(2, 1, &[1.0, 1.0]).unwrap();
/// let y = gpu.execute(&Plan::new(&op, 2, 1, DType::F32).unwrap(), &[&x]).unwrap();
/// assert_eq!(gpu.download(&y).unwrap(), vec![2.0, 3.0]);
/// ```
#[derive(Debug)]
pub struct GpuBackend {
    dev: Arc<GpuDevice>,
    params: Mutex<ParamCache>,
    indices: Mutex<IndexCache>,
}

impl GpuBackend {
    /// A backend on `dev`.
    ///
    /// # Examples
    /// ```
    /// use linops_gpu::{DeviceOptions, GpuBackend, GpuDevice};
    /// if let Ok(dev) = GpuDevice::new(&DeviceOptions::from_env()) {
    ///     let _gpu = GpuBackend::new(dev);
    /// }
    /// ```
    pub fn new(dev: Arc<GpuDevice>) -> Self {
        Self {
            dev,
            params: Mutex::new(HashMap::new()),
            indices: Mutex::new(HashMap::new()),
        }
    }

    /// The device.
    ///
    /// # Examples
    /// ```
    /// use linops_gpu::{DeviceOptions, GpuBackend, GpuDevice};
    /// if let Ok(dev) = GpuDevice::new(&DeviceOptions::from_env()) {
    ///     assert!(!GpuBackend::new(dev).gpu().name().is_empty());
    /// }
    /// ```
    pub fn gpu(&self) -> &Arc<GpuDevice> {
        &self.dev
    }

    fn param(&self, p: &Param) -> Result<Arc<GpuMat>> {
        let mut cache = self.params.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((weak, m)) = cache.get(&p.key)
            && weak.strong_count() > 0
        {
            return Ok(m.clone());
        }
        cache.retain(|_, (w, _)| w.strong_count() > 0);
        let data: Vec<f32> = p.data.iter().map(|v| *v as f32).collect();
        let m = Arc::new(self.dev.upload(p.rows, p.cols, &data)?);
        cache.insert(p.key, (Arc::downgrade(&p.data), m.clone()));
        Ok(m)
    }

    /// The index parameter `p` on the device, uploaded once (as `u32`, no conversion) and cached
    /// while the op is alive.
    fn index(&self, p: &IndexParam) -> Result<Arc<GpuIndices>> {
        let mut cache = self.indices.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((weak, m)) = cache.get(&p.key())
            && weak.strong_count() > 0
        {
            return Ok(m.clone());
        }
        cache.retain(|_, (w, _)| w.strong_count() > 0);
        let m = Arc::new(self.dev.upload_indices(p.indices())?);
        cache.insert(p.key(), (Arc::downgrade(p.shared()), m.clone()));
        Ok(m)
    }

    /// Runs `plan` on `x` and returns the output with the GPU time of the whole plan in
    /// milliseconds (measured by timestamp queries; `None` where the device has none).
    ///
    /// # Errors
    /// As [`Backend::execute`].
    ///
    /// # Examples
    /// ```
    /// use linops_core::{Backend, DType, Op, Plan};
    /// use linops_gpu::{DeviceOptions, GpuBackend, GpuDevice};
    /// let Ok(dev) = GpuDevice::new(&DeviceOptions::from_env()) else { return };
    /// let gpu = GpuBackend::new(dev);
    /// let x = gpu.upload(2, 1, &[1.0, 1.0]).unwrap();
    /// let plan = Plan::new(&Op::identity(2).unwrap(), 2, 1, DType::F32).unwrap();
    /// let (_y, ms) = gpu.execute_timed(&plan, &[&x]).unwrap();
    /// if let Some(ms) = ms { assert!(ms >= 0.0); }
    /// ```
    pub fn execute_timed(&self, plan: &Plan, inputs: &[&GpuMat]) -> Result<(GpuMat, Option<f64>)> {
        if plan.dtype() != DType::F32 {
            return Err(Error::Unsupported(format!(
                "the GPU backend computes in f32, not {}",
                plan.dtype()
            )));
        }
        let shapes: Vec<(usize, usize)> = inputs.iter().map(|m| (m.rows(), m.cols())).collect();
        plan.check_inputs(&shapes)?;
        let mut slots: Vec<Slot<'_>> = Vec::with_capacity(plan.buffers().len());
        for b in plan.buffers() {
            slots.push(match &b.role {
                BufferRole::Input(i) => Slot::Input(inputs[*i]),
                BufferRole::Param(p) => Slot::Param(self.param(p)?),
                BufferRole::Index(p) => Slot::Index(self.index(p)?),
                BufferRole::Output | BufferRole::Temp => {
                    Slot::Owned(self.dev.alloc(b.rows, b.cols)?)
                }
            });
        }
        // Temporaries some kernels need (DiagScale with beta != 0, Gemm with alpha == 0 and
        // beta != 0); kept alive until the submit has completed.
        let mut scratch: Vec<GpuMat> = Vec::new();
        let mut enc = self.dev.encoder();
        for step in plan.steps() {
            let args = Args(step.inputs.iter().map(|b| &slots[b.index()]).collect());
            let out = slots[step.output.index()].get()?;
            let mut cx = StepCx {
                enc: &mut enc,
                dev: &self.dev,
                scratch: &mut scratch,
            };
            record_step(&mut cx, &step.kernel, &args, out)?;
        }
        let ms = enc.submit_timed()?;
        drop(scratch);
        let out_index = plan.output().index();
        match slots.swap_remove(out_index) {
            Slot::Owned(m) => Ok((m, ms)),
            _ => Err(Error::InvalidArgument(
                "plan output is not an owned buffer".into(),
            )),
        }
    }
}

/// What a kernel's recording may use besides its buffers.
pub(crate) struct StepCx<'a> {
    /// The encoder the plan is recorded into.
    pub enc: &'a mut GpuEncoder,
    /// The device (for temporaries).
    pub dev: &'a Arc<GpuDevice>,
    /// Temporaries that must outlive the submit.
    pub scratch: &'a mut Vec<GpuMat>,
}

/// The arguments of one step, read by position with the kind the kernel expects: `f32` value
/// matrices ([`Args::mat`]) or `u32` index vectors ([`Args::index`]).
pub(crate) struct Args<'a>(Vec<&'a Slot<'a>>);

impl Args<'_> {
    /// Argument `i` as an f32 matrix.
    pub(crate) fn mat(&self, i: usize) -> Result<&GpuMat> {
        self.slot(i)?.get()
    }

    /// Argument `i` as an index vector.
    pub(crate) fn index(&self, i: usize) -> Result<&GpuIndices> {
        self.slot(i)?.indices()
    }

    fn slot(&self, i: usize) -> Result<&Slot<'_>> {
        self.0.get(i).copied().ok_or_else(|| {
            Error::InvalidArgument(format!("plan step reads argument {i} of {}", self.0.len()))
        })
    }
}

/// How the GPU records one kernel: implemented by each kernel's arguments struct (from
/// `linops_core::plan::kernel`) in the file of `kernels/` named after it. Shapes and argument
/// kinds were checked when the step was planned (a kind that does not match is still an error
/// here, never a reinterpretation of the bits); the encoder methods check index ranges again.
pub(crate) trait GpuKernel {
    /// Records `out ← kernel(args, out)`.
    fn record(&self, cx: &mut StepCx<'_>, args: &Args<'_>, out: &GpuMat) -> Result<()>;
}

/// Implements [`GpuKernel`] for a kernel's arguments type, so that a kernel's file holds only
/// what is its own: `gpu_kernel!(Spmm, |k, cx, args, out| …)` records with `k` the arguments
/// (`&Spmm`), `cx` the step's context (encoder, device, scratch), `args` the step's arguments
/// and `out` its output.
macro_rules! gpu_kernel {
    ($kernel:ty, |$k:pat_param, $cx:pat_param, $args:pat_param, $out:pat_param| $body:expr) => {
        impl $crate::backend::GpuKernel for $kernel {
            fn record(
                &self,
                $cx: &mut $crate::backend::StepCx<'_>,
                $args: &$crate::backend::Args<'_>,
                $out: &$crate::GpuMat,
            ) -> linops_core::Result<()> {
                let $k = self;
                $body
            }
        }
    };
}
pub(crate) use gpu_kernel;

macro_rules! dispatch {
    ($($k:ident),*) => {
        /// Records one step: the kernel's [`GpuKernel`] implementation.
        fn record_step(
            cx: &mut StepCx<'_>,
            kernel: &Kernel,
            args: &Args<'_>,
            out: &GpuMat,
        ) -> Result<()> {
            match kernel {
                $(Kernel::$k(k) => k.record(cx, args, out),)*
            }
        }
    };
}

linops_core::for_each_kernel!(dispatch);

/// A plan buffer during execution.
pub(crate) enum Slot<'a> {
    Input(&'a GpuMat),
    Param(Arc<GpuMat>),
    Index(Arc<GpuIndices>),
    Owned(GpuMat),
}

impl Slot<'_> {
    /// The buffer as an f32 matrix (the planner checked every argument's kind; a mismatch is
    /// still an error here, never a reinterpretation of the bits).
    fn get(&self) -> Result<&GpuMat> {
        match self {
            Slot::Input(m) => Ok(m),
            Slot::Param(m) => Ok(m),
            Slot::Owned(m) => Ok(m),
            Slot::Index(_) => Err(Error::InvalidArgument(
                "plan step reads an index array as values".into(),
            )),
        }
    }

    /// The buffer as an index vector.
    fn indices(&self) -> Result<&GpuIndices> {
        match self {
            Slot::Index(m) => Ok(m),
            _ => Err(Error::InvalidArgument(
                "plan step reads values as an index array".into(),
            )),
        }
    }
}

impl Backend for GpuBackend {
    type Elem = f32;
    type Mat = GpuMat;

    fn name(&self) -> String {
        "gpu-f32".into()
    }

    fn device(&self) -> String {
        self.dev.name()
    }

    fn upload(&self, rows: usize, cols: usize, data: &[f32]) -> Result<GpuMat> {
        self.dev.upload(rows, cols, data)
    }

    fn download(&self, m: &GpuMat) -> Result<Vec<f32>> {
        self.dev.download(m)
    }

    fn shape(&self, m: &GpuMat) -> (usize, usize) {
        (m.rows(), m.cols())
    }

    fn execute(&self, plan: &Plan, inputs: &[&GpuMat]) -> Result<GpuMat> {
        Ok(self.execute_timed(plan, inputs)?.0)
    }
}
