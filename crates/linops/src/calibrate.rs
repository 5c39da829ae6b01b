//! The planner's cost model on an engine: planning with it, replacing it, and measuring it.
//!
//! The cost model decides, per structured leaf, whether a plan applies the structure or a
//! materialized dense matrix ([`linops_core::plan::cost`]). An engine starts from its backend's
//! defaults; [`Engine::calibrate`] times a few plans on the device and installs measured figures.

use crate::{BackendKind, Engine, Matrix, Scalar};
use faer::Mat;
use linops_core::plan::{CostModel, KernelKind};
use linops_core::{DType, Op, Plan, Result};

impl Engine {
    /// The plan this engine runs for `op · X` with `X` of `x_rows × x_cols` in type `T`, before
    /// tiling: when a buffer exceeds the device's binding limit, [`Engine::tiled_plan`] gives the
    /// panels `apply` actually runs.
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

    pub(crate) fn plan_in(
        &self,
        op: &Op,
        x_rows: usize,
        x_cols: usize,
        dtype: DType,
    ) -> Result<Plan> {
        self.counter.plan();
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
    /// assert!(m.rate(linops::plan::KernelKind::Gemm) > 0.0);
    /// assert!(m.name().starts_with("calibrated"));
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
        let scale = gemm / base.rate(KernelKind::Gemm);
        let mut m = base
            .clone()
            .named(format!("calibrated on {}", self.device()))
            .with_launch(launch)
            .with_bandwidth(bandwidth)
            .with_rate(KernelKind::Gemm, gemm)
            .with_rate(KernelKind::GemmDiag, gemm)
            .with_rate(KernelKind::BlockGemm, block);
        for kind in [
            KernelKind::SketchGemm,
            KernelKind::Fwht,
            KernelKind::FwhtBase,
            KernelKind::Monarch,
            KernelKind::Dct,
            KernelKind::Spmm,
            KernelKind::Butterfly,
            KernelKind::KroneckerGemm,
        ] {
            m = m.with_rate(kind, base.rate(kind) * scale);
        }
        self.set_cost_model(m.clone());
        Ok(m)
    }

    /// `op · x` planned without materialization (calibration measures the kernels themselves).
    fn apply_structured(&self, op: &Op, x: &Matrix) -> Result<Matrix> {
        let (rows, cols) = x.shape();
        let plan = Plan::new(op, rows, cols, x.dtype())?;
        self.run(&plan, &[x])
    }
}
