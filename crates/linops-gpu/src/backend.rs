//! `GpuBackend`: runs linops-core plans on a [`GpuDevice`].
//!
//! Execution of one plan: operator parameters are converted to f32 and uploaded once per op (cached
//! by the parameter's key while the op is alive), output and temporaries come from the buffer pool,
//! every step is recorded into one command encoder, and the encoder is submitted once. Nothing is
//! read back: the output stays on the device until the caller downloads it.

use crate::{GemmArgs, GpuDevice, GpuMat, Side};
use linops_core::{Backend, BufferRole, DType, Error, Kernel, Param, Plan, Result};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

type ParamCache = HashMap<u64, (Weak<[f64]>, Arc<GpuMat>)>;

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
        if let Some((weak, m)) = cache.get(&p.key) {
            if weak.strong_count() > 0 {
                return Ok(m.clone());
            }
        }
        cache.retain(|_, (w, _)| w.strong_count() > 0);
        let data: Vec<f32> = p.data.iter().map(|v| *v as f32).collect();
        let m = Arc::new(self.dev.upload(p.rows, p.cols, &data)?);
        cache.insert(p.key, (Arc::downgrade(&p.data), m.clone()));
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
                BufferRole::Output | BufferRole::Temp => {
                    Slot::Owned(self.dev.alloc(b.rows, b.cols)?)
                }
            });
        }
        // Temporaries of DiagScale with beta != 0 and of Gemm with alpha == 0, beta != 0; kept alive until the submit has completed.
        let mut scratch: Vec<GpuMat> = Vec::new();
        let mut enc = self.dev.encoder();
        for step in plan.steps() {
            let arg = |i: usize| slots[step.inputs[i].index()].get();
            let out = slots[step.output.index()].get();
            match step.kernel {
                Kernel::Gemm {
                    alpha: 0.0, beta, ..
                } => {
                    // BLAS semantics: the product is not formed.
                    if beta == 0.0 {
                        enc.fill(0.0, out)?;
                    } else {
                        let t = self.dev.alloc(out.rows(), out.cols())?;
                        enc.scale(beta as f32, out, &t)?;
                        enc.scale(1.0, &t, out)?;
                        scratch.push(t);
                    }
                }
                Kernel::Gemm {
                    trans_a,
                    trans_b,
                    alpha,
                    beta,
                } => {
                    let (a, b) = (arg(0), arg(1));
                    let (m, n) = (out.rows(), out.cols());
                    let k = if trans_a { a.rows() } else { a.cols() };
                    let args = GemmArgs::new(m, n, k)
                        .with_trans_a(trans_a)
                        .with_trans_b(trans_b)
                        .with_alpha(alpha as f32)
                        .with_beta(beta as f32)
                        .with_ld(a.rows(), b.rows(), out.rows());
                    enc.gemm(&args, a, b, out)?;
                }
                Kernel::Axpby { alpha, beta } => {
                    enc.axpby(alpha as f32, arg(0), beta as f32, out)?
                }
                Kernel::DiagScale { alpha, beta } => {
                    if beta == 0.0 {
                        enc.diag_scale(alpha as f32, arg(0), arg(1), out, Side::Left)?;
                    } else {
                        let t = self.dev.alloc(out.rows(), out.cols())?;
                        enc.diag_scale(alpha as f32, arg(0), arg(1), &t, Side::Left)?;
                        enc.axpby(1.0, &t, beta as f32, out)?;
                        scratch.push(t);
                    }
                }
                Kernel::Transpose => enc.transpose(arg(0), out)?,
                Kernel::BatchTranspose {
                    rows,
                    cols,
                    alpha,
                    beta,
                } => enc.batch_transpose(rows, cols, alpha as f32, arg(0), beta as f32, out)?,
                Kernel::Spmm { alpha, beta } => enc.spmm(
                    alpha as f32,
                    [arg(0), arg(1), arg(2)],
                    arg(3),
                    beta as f32,
                    out,
                )?,
                Kernel::Fwht { alpha, beta } => {
                    let n = arg(0).rows().max(out.rows());
                    let scale = alpha / (n as f64).sqrt();
                    enc.fwht(scale as f32, arg(0), beta as f32, out)?
                }
                Kernel::Dct {
                    inverse,
                    alpha,
                    beta,
                } => enc.dct(inverse, alpha as f32, arg(0), arg(1), beta as f32, out)?,
                Kernel::SketchGemm {
                    dist,
                    rng,
                    rows,
                    cols,
                    trans,
                    alpha,
                    beta,
                } => {
                    let args = crate::SketchGemmArgs {
                        dist,
                        rng,
                        g_rows: rows,
                        g_cols: cols,
                        trans,
                        alpha: alpha as f32,
                        beta: beta as f32,
                        tile: crate::GemmTile::Auto,
                    };
                    enc.sketch_gemm(&args, arg(0), out)?;
                }
                Kernel::Gather { alpha, beta } => {
                    enc.gather(alpha as f32, arg(0), arg(1), beta as f32, out)?
                }
                Kernel::BlockGemm {
                    blocks,
                    trans,
                    x_layout,
                    y_layout,
                    alpha,
                    beta,
                } => {
                    let (w, x) = (arg(0), arg(1));
                    let args = crate::BlockGemmArgs {
                        blocks,
                        m: out.rows() / blocks.max(1),
                        k: x.rows() / blocks.max(1),
                        n: out.cols(),
                        trans,
                        x_layout,
                        y_layout,
                        alpha: alpha as f32,
                        beta: beta as f32,
                        tile: crate::GemmTile::Auto,
                    };
                    enc.block_gemm(&args, w, x, out)?;
                }
                Kernel::ColNorms => enc.col_norms(arg(0), out)?,
                Kernel::ColDots => enc.col_dots(arg(0), arg(1), out)?,
                Kernel::CopyCols { offset } => enc.copy_cols(arg(0), offset, out)?,
                Kernel::RandomFill {
                    dist,
                    rng,
                    rows,
                    cols,
                    trans,
                    alpha,
                } => enc.random_matrix(rng, dist, (rows, cols), trans, alpha as f32, out)?,
            }
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

/// A plan buffer during execution.
enum Slot<'a> {
    Input(&'a GpuMat),
    Param(Arc<GpuMat>),
    Owned(GpuMat),
}

impl Slot<'_> {
    fn get(&self) -> &GpuMat {
        match self {
            Slot::Input(m) => m,
            Slot::Param(m) => m,
            Slot::Owned(m) => m,
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
