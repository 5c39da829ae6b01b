//! The cost model: estimated seconds of a plan on one backend, and the planner's choice between
//! applying a structured leaf and materializing it for one dense GEMM.
//!
//! **Model.** A step costs `launch + max(flops / rate(kernel), bytes / bandwidth)`: a fixed
//! per-launch overhead, then whichever of compute and memory traffic is the bottleneck (a
//! roofline). `rate` is a per-kernel throughput in FLOP/s (a dense GEMM reaches a far larger
//! fraction of peak than a 64×64 block GEMM or a gather), `bandwidth` the backend's streaming
//! bytes/s; FLOPs and bytes are the step's own counts ([`super::Step`]). A plan costs the sum of
//! its steps. Two refinements on the CPU default: a step whose bytes fit a cache tier
//! ([`CostModel::with_cache`]) is costed at the cache's bandwidth (a plan applied again finds a
//! small working set in cache: a dense 1024² matrix–vector product reads its 4 MiB at about four
//! times the streaming rate), and an SpMM over fewer than 16 columns at the element-wise loop's
//! rate, over more at the panel path's, which grows with the nonzeros per row (its per-row costs
//! are amortized over them).
//!
//! **Where the numbers come from.** [`CostModel::cpu_default`] holds rates measured on the
//! project's 2-core AMD EPYC development machine (f32, 2026-11-26: dense GEMM 1024³ at about
//! 110 GFLOP/s, 64×64 block GEMM panels about 35 GFLOP/s, streaming about 10 GB/s);
//! [`CostModel::gpu_default`] holds round figures for a current discrete GPU. Both are starting
//! points: `linops::Engine::calibrate` measures the rates of the backend it runs on (timing a
//! dense GEMM, a block GEMM, a copy and an empty launch) and installs them.
//!
//! **Materialization.** For every structured leaf of the normalized operator (an [`Op::Leaf`]
//! whose [`LeafOp::materializable`] is true — every sketch and sampler says false), the planner estimates the leaf's own plan and one
//! dense GEMM `rows×cols · cols×batch`. It materializes the leaf (its `to_dense()`, built once per
//! leaf and shared by every later plan through a process-wide cache keyed by the leaf's identity,
//! so backends keep their uploaded copy) when all of these hold:
//! - the dense estimate is below `ratio` (default 0.8) times the structured one;
//! - the structured estimate exceeds `min_seconds` (default 50 µs): below that an apply is
//!   dominated by fixed costs that the model does not resolve, and a dense copy costs memory for
//!   nothing;
//! - the dense form has at most `max_dense_entries` entries (default 2²⁴);
//! - every entry of the dense form is finite in the compute precision: a leaf whose entries
//!   overflow (a Kronecker product of large factors) keeps its structure, which computes the
//!   same finite result wherever one exists, so the outcome never depends on the choice.
//!
//! Every candidate's two estimates and the outcome are kept in the plan ([`super::Plan::decisions`])
//! and printed by `explain()`. [`CostModel::structure_only`] never materializes: it is what
//! [`super::Plan::new`] uses, and what tests of the structured kernels pin.

use crate::op::LeafOp;
use crate::{DType, Op, Result};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use super::{Kernel, KernelKind, Plan, kernel};

/// Per-backend throughput figures and the materialization policy; see the module docs.
///
/// # Examples
/// ```
/// use linops_core::plan::{CostModel, KernelKind};
/// let m = CostModel::cpu_default().with_rate(KernelKind::BlockGemm, 20e9);
/// assert_eq!(m.rate(KernelKind::BlockGemm), 20e9);
/// assert!(CostModel::structure_only().name().contains("structure"));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct CostModel {
    name: String,
    launch_s: f64,
    bytes_per_s: f64,
    default_rate: f64,
    rates: HashMap<KernelKind, f64>,
    block_butterfly_speedup: f64,
    narrow_spmm_rate: Option<f64>,
    cache_bytes: u64,
    cache_bytes_per_s: f64,
    materialize: bool,
    ratio: f64,
    min_seconds: f64,
    max_dense_entries: usize,
}

/// One structured-vs-materialized decision of the planner, shown by `explain()`.
///
/// # Examples
/// ```
/// use linops_core::{DType, Op, Plan, plan::CostModel, op::Hadamard};
/// let h = Op::leaf(Hadamard::new(1024).unwrap());
/// let plan = Plan::with_model(&h, 1024, 64, DType::F32, &CostModel::cpu_default()).unwrap();
/// let d = &plan.decisions()[0];
/// assert_eq!(d.leaf, "hadamard[1024]");
/// assert!(!d.materialized); // O(n log n) beats the n² GEMM
/// assert!(d.structured_s < d.dense_s);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The leaf, as `describe()` prints it (with `ᵀ` when transposed).
    pub leaf: String,
    /// Estimated seconds of applying the structure.
    pub structured_s: f64,
    /// Estimated seconds of one dense GEMM with the materialized matrix.
    pub dense_s: f64,
    /// Whether the plan uses the materialized matrix.
    pub materialized: bool,
    /// Why, in a few words.
    pub reason: &'static str,
}

impl CostModel {
    fn base(name: &str, launch_s: f64, bytes_per_s: f64, default_rate: f64) -> Self {
        Self {
            name: name.into(),
            launch_s,
            bytes_per_s,
            default_rate,
            rates: HashMap::new(),
            block_butterfly_speedup: 1.0,
            narrow_spmm_rate: None,
            cache_bytes: 0,
            cache_bytes_per_s: bytes_per_s,
            materialize: true,
            ratio: 0.8,
            min_seconds: 50e-6,
            max_dense_entries: 1 << 24,
        }
    }

    /// Never materializes (estimates are still computed with the CPU figures and shown).
    ///
    /// # Examples
    /// ```
    /// assert!(!linops_core::plan::CostModel::structure_only().materializes());
    /// ```
    pub fn structure_only() -> Self {
        let mut m = Self::cpu_default();
        m.name = "structure-only".into();
        m.materialize = false;
        m
    }

    /// Figures measured on the 2-core AMD EPYC development machine, f32 (see the module docs).
    ///
    /// # Examples
    /// ```
    /// use linops_core::plan::{CostModel, KernelKind};
    /// let m = CostModel::cpu_default();
    /// assert!(m.rate(KernelKind::Gemm) > m.rate(KernelKind::BlockGemm));
    /// ```
    pub fn cpu_default() -> Self {
        let mut m = Self::base("cpu-default", 2e-6, 10e9, 5e9);
        for (k, v) in [
            (KernelKind::Gemm, 110e9),
            // A GEMM with a diagonal epilogue: the GEMM's rate (the epilogue is memory work).
            (KernelKind::GemmDiag, 110e9),
            (KernelKind::BlockGemm, 35e9),
            (KernelKind::SketchGemm, 40e9),
            (KernelKind::Fwht, 8e9),
            // The transform of the m blocks plus the ±1 mix, in one cache-resident column.
            (KernelKind::FwhtBase, 8e9),
            // Fused Monarch: per-column axpys over the b₂ rows of each block (SSE2), measured.
            (KernelKind::Monarch, MONARCH_CPU_RATE),
            (KernelKind::Srht, 8e9),
            (KernelKind::Dct, 4e9),
            // The panel path's rate depends on the nonzeros per row and the element-wise loop's
            // is lower: `plan_seconds` costs SpMM steps by WIDE_SPMM_CPU_PEAK and
            // NARROW_SPMM_CPU_RATE; this figure is what `rate(Spmm)` reports.
            (KernelKind::Spmm, 16e9),
            // In-place plain butterfly 22 GFLOP/s (n = 4096, batch 1024, measured 2026-12-02
            // quiet); block butterflies (b ≥ 16) at twice this ([`CostModel::step_rate`]).
            (KernelKind::Butterfly, 20e9),
            // faer matmuls on mode views (64×64 factors): between block_gemm and gemm.
            (KernelKind::KroneckerGemm, 60e9),
        ] {
            m.rates.insert(k, v);
        }
        m.block_butterfly_speedup = BLOCK_BUTTERFLY_CPU_SPEEDUP;
        m.narrow_spmm_rate = Some(NARROW_SPMM_CPU_RATE);
        m.with_cache(CPU_CACHE_BYTES, CPU_CACHE_BYTES_PER_S)
    }

    /// Round figures for a current discrete GPU (tens of TFLOP/s for GEMM, ~2 TB/s, ~8 µs per
    /// launch); calibrate for real decisions.
    ///
    /// # Examples
    /// ```
    /// let m = linops_core::plan::CostModel::gpu_default();
    /// assert!(m.launch_seconds() > 0.0);
    /// ```
    pub fn gpu_default() -> Self {
        let mut m = Self::base("gpu-default", 8e-6, 2e12, 5e11);
        for (k, v) in [
            (KernelKind::Gemm, 20e12),
            (KernelKind::GemmDiag, 20e12),
            (KernelKind::BlockGemm, 5e12),
            (KernelKind::SketchGemm, 10e12),
            (KernelKind::Fwht, 1e12),
            (KernelKind::FwhtBase, 1e12),
            // One workgroup per column, one dot per invocation (not measured on a device).
            (KernelKind::Monarch, 1e12),
            (KernelKind::Srht, 1e12),
            (KernelKind::Dct, 5e11),
            (KernelKind::Spmm, 2e11),
            (KernelKind::Butterfly, 1e12),
            (KernelKind::KroneckerGemm, 2e11),
        ] {
            m.rates.insert(k, v);
        }
        m
    }

    /// The model's name (shown by `explain()`).
    ///
    /// # Examples
    /// ```
    /// assert_eq!(linops_core::plan::CostModel::cpu_default().name(), "cpu-default");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the planner may materialize leaves under this model.
    ///
    /// # Examples
    /// ```
    /// assert!(linops_core::plan::CostModel::cpu_default().materializes());
    /// ```
    pub fn materializes(&self) -> bool {
        self.materialize
    }

    /// Throughput of a kind of kernel in FLOP/s (the model's default rate for kernels it has no
    /// figure for).
    ///
    /// # Examples
    /// ```
    /// use linops_core::plan::{CostModel, KernelKind};
    /// assert!(CostModel::cpu_default().rate(KernelKind::Gather) > 0.0); // the default rate
    /// ```
    pub fn rate(&self, kind: KernelKind) -> f64 {
        self.rates.get(&kind).copied().unwrap_or(self.default_rate)
    }

    /// Fixed seconds per kernel launch.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(linops_core::plan::CostModel::cpu_default().with_launch(1e-5).launch_seconds(), 1e-5);
    /// ```
    pub fn launch_seconds(&self) -> f64 {
        self.launch_s
    }

    /// Streaming bandwidth in bytes/s.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(linops_core::plan::CostModel::cpu_default().with_bandwidth(5e9).bandwidth(), 5e9);
    /// ```
    pub fn bandwidth(&self) -> f64 {
        self.bytes_per_s
    }

    /// Sets the rate of one kernel (FLOP/s; non-finite or non-positive values are ignored).
    ///
    /// # Examples
    /// ```
    /// use linops_core::plan::{CostModel, KernelKind};
    /// let m = CostModel::cpu_default().with_rate(KernelKind::Gemm, -1.0);
    /// assert_eq!(m.rate(KernelKind::Gemm), 110e9);
    /// ```
    pub fn with_rate(mut self, kind: KernelKind, flops_per_s: f64) -> Self {
        if flops_per_s.is_finite() && flops_per_s > 0.0 {
            self.rates.insert(kind, flops_per_s);
        }
        self
    }

    /// Sets the per-launch overhead (seconds; negative or non-finite values are ignored).
    ///
    /// # Examples
    /// ```
    /// assert_eq!(linops_core::plan::CostModel::cpu_default().with_launch(0.0).launch_seconds(), 0.0);
    /// ```
    pub fn with_launch(mut self, seconds: f64) -> Self {
        if seconds.is_finite() && seconds >= 0.0 {
            self.launch_s = seconds;
        }
        self
    }

    /// Sets the streaming bandwidth (bytes/s; non-positive or non-finite values are ignored).
    ///
    /// # Examples
    /// ```
    /// assert_eq!(linops_core::plan::CostModel::cpu_default().with_bandwidth(0.0).bandwidth(), 10e9);
    /// ```
    pub fn with_bandwidth(mut self, bytes_per_s: f64) -> Self {
        if bytes_per_s.is_finite() && bytes_per_s > 0.0 {
            self.bytes_per_s = bytes_per_s;
        }
        self
    }

    /// Sets the cache tier: a step that moves at most `bytes` bytes (its inputs, parameters and
    /// output together) is costed at `bytes_per_s` instead of the streaming bandwidth, since a
    /// plan applied again finds such a working set still in cache (on the CPU default: 8 MiB at
    /// 40 GB/s, a quarter of the dev box's 32 MiB L3; a dense 1024² `f32` matrix read by a
    /// matrix–vector product ran at 40 GB/s there). `bytes = 0` turns the tier off (the GPU
    /// default). Non-finite or non-positive rates are ignored.
    ///
    /// # Examples
    /// ```
    /// use linops_core::plan::{CostModel, KernelKind};
    /// let m = CostModel::cpu_default().with_launch(0.0).with_cache(1 << 20, 40e9);
    /// // 1 MiB moved: at the cache rate; 2 MiB: at the streaming rate (10 GB/s).
    /// assert_eq!(m.kernel_seconds(KernelKind::Gemm, 0, 1 << 20), (1 << 20) as f64 / 40e9);
    /// assert_eq!(m.kernel_seconds(KernelKind::Gemm, 0, 2 << 20), (2 << 20) as f64 / 10e9);
    /// ```
    pub fn with_cache(mut self, bytes: u64, bytes_per_s: f64) -> Self {
        if bytes_per_s.is_finite() && bytes_per_s > 0.0 {
            self.cache_bytes = bytes;
            self.cache_bytes_per_s = bytes_per_s;
        }
        self
    }

    /// The bandwidth a step moving `bytes` bytes is costed at: the cache tier's when it fits
    /// ([`Self::with_cache`]), else the streaming bandwidth.
    fn bandwidth_for(&self, bytes: u64) -> f64 {
        if bytes <= self.cache_bytes {
            self.cache_bytes_per_s.max(self.bytes_per_s)
        } else {
            self.bytes_per_s
        }
    }

    /// Sets the materialization policy: `ratio` (dense must be below `ratio`× structured),
    /// `min_seconds` (structured estimates below it are never materialized) and the largest dense
    /// form in entries. Out-of-range values are clamped (`ratio` to `(0, 1]`, the others to ≥ 0).
    ///
    /// # Examples
    /// ```
    /// let m = linops_core::plan::CostModel::cpu_default().with_policy(0.5, 0.0, 1 << 20);
    /// assert!(m.materializes());
    /// ```
    pub fn with_policy(mut self, ratio: f64, min_seconds: f64, max_dense_entries: usize) -> Self {
        self.ratio = if ratio.is_finite() {
            ratio.clamp(f64::MIN_POSITIVE, 1.0)
        } else {
            self.ratio
        };
        self.min_seconds = if min_seconds.is_finite() {
            min_seconds.max(0.0)
        } else {
            self.min_seconds
        };
        self.max_dense_entries = max_dense_entries;
        self
    }

    /// Renames the model (e.g. `"calibrated on <device>"`).
    ///
    /// # Examples
    /// ```
    /// assert_eq!(linops_core::plan::CostModel::cpu_default().named("x").name(), "x");
    /// ```
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Estimated seconds of one kernel doing `flops` FLOPs and moving `bytes` bytes.
    ///
    /// # Examples
    /// ```
    /// use linops_core::plan::{CostModel, KernelKind};
    /// let m = CostModel::cpu_default().with_launch(0.0);
    /// // 1 GFLOP of GEMM is compute bound: 1e9 / 110e9 s.
    /// let t = m.kernel_seconds(KernelKind::Gemm, 1_000_000_000, 1000);
    /// assert!((t - 1.0 / 110.0).abs() < 1e-12);
    /// ```
    pub fn kernel_seconds(&self, kind: KernelKind, flops: u64, bytes: u64) -> f64 {
        self.launch_s
            + (flops as f64 / self.rate(kind)).max(bytes as f64 / self.bandwidth_for(bytes))
    }

    /// Throughput of one step's kernel in FLOP/s: its kind's [`Self::rate`], except a block
    /// butterfly step with blocks of at least 16 rows (which the CPU runs as small GEMMs per pair
    /// of block-rows) runs at the `butterfly` rate times the model's
    /// block-butterfly speedup (1 on the GPU model, measured on the CPU).
    ///
    /// # Examples
    /// ```
    /// use linops_core::plan::{CostModel, Kernel, KernelKind, kernel::Butterfly};
    /// let m = CostModel::cpu_default();
    /// let step = |block| Kernel::from(Butterfly { block, first: 0, count: 1, trans: false, alpha: 1.0, beta: 0.0 });
    /// assert_eq!(m.step_rate(&step(1)), m.rate(KernelKind::Butterfly));
    /// assert!(m.step_rate(&step(32)) > m.rate(KernelKind::Butterfly));
    /// ```
    pub fn step_rate(&self, kernel: &Kernel) -> f64 {
        match kernel {
            Kernel::Butterfly(k) if k.block >= BLOCK_BUTTERFLY_GEMM_MIN => {
                self.rate(KernelKind::Butterfly) * self.block_butterfly_speedup
            }
            k => self.rate(k.kind()),
        }
    }

    /// Estimated seconds of a whole plan (the sum over its steps).
    ///
    /// # Examples
    /// ```
    /// use linops_core::{DType, Op, Plan, plan::CostModel};
    /// let p = Plan::new(&Op::dense(64, 64, vec![1.0; 4096]).unwrap(), 64, 8, DType::F32).unwrap();
    /// assert!(CostModel::cpu_default().plan_seconds(&p) > 0.0);
    /// ```
    pub fn plan_seconds(&self, plan: &Plan) -> f64 {
        plan.steps()
            .iter()
            .map(|s| {
                let (m, b) = plan.shape_of(s.output);
                let rate = match (&s.kernel, self.narrow_spmm_rate) {
                    (Kernel::Spmm(_), Some(narrow)) if b < NARROW_SPMM_COLS => narrow,
                    (Kernel::Spmm(_), Some(_)) => {
                        // Nonzeros per row: the panel path's per-row work is amortized over them.
                        let per_row = s.flops as f64 / (2.0 * (m * b).max(1) as f64);
                        WIDE_SPMM_CPU_PEAK * per_row / (per_row + WIDE_SPMM_CPU_HALF_ROW)
                    }
                    (k, _) => self.step_rate(k),
                };
                let compute = s.flops as f64 / rate;
                self.launch_s + compute.max(s.bytes as f64 / self.bandwidth_for(s.bytes))
            })
            .sum()
    }

    /// The decision for one leaf applied (transposed or not) to `batch` columns in `dtype`.
    pub(super) fn decide(
        &self,
        leaf: &Arc<dyn LeafOp>,
        transposed: bool,
        batch: usize,
        dtype: DType,
    ) -> Result<Decision> {
        let op = Op::Leaf(leaf.clone());
        let op = if transposed { op.t() } else { op };
        let (rows, cols) = op.shape();
        let structured = Plan::new(&op, cols, batch, dtype)?;
        let structured_s = self.plan_seconds(&structured);
        let gemm = Kernel::from(kernel::Gemm {
            trans_a: false,
            trans_b: false,
            alpha: 1.0,
            beta: 0.0,
        });
        let (flops, elems) = gemm.cost(&[(rows, cols), (cols, batch)], (rows, batch))?;
        let dense_s = self.kernel_seconds(
            KernelKind::Gemm,
            flops,
            elems.saturating_mul(dtype.size_bytes()),
        );
        let (materialized, reason) = if !self.materialize {
            (false, "model never materializes")
        } else if !leaf.materializable() {
            (false, "leaf is never materialized")
        } else if rows.saturating_mul(cols) > self.max_dense_entries {
            (false, "dense form too large")
        } else if structured_s < self.min_seconds {
            (false, "too small to matter")
        } else if dense_s < self.ratio * structured_s {
            (true, "dense GEMM is cheaper")
        } else {
            (false, "structure is cheaper")
        };
        Ok(Decision {
            leaf: op.describe(),
            structured_s,
            dense_s,
            materialized,
            reason,
        })
    }
}

/// Output columns below which an SpMM step is costed at the narrow rate
/// ([`NARROW_SPMM_CPU_RATE`]): the CPU gathers 16-lane panels of `X` from 16 columns up and runs
/// an element-wise loop below.
const NARROW_SPMM_COLS: usize = 16;

/// The CPU's element-wise SpMM rate (FLOP/s, f32), for fewer than [`NARROW_SPMM_COLS`] columns:
/// 1.6 GFLOP/s measured at batch 1 for 16 and for 192 nonzeros per row (structured suite,
/// n = 1024, 2026-12-02), a tenth of the panel path's.
const NARROW_SPMM_CPU_RATE: f64 = 2e9;

/// The CPU panel path's SpMM rate with many nonzeros per row (FLOP/s, f32); with `ρ` nonzeros
/// per row it runs at `peak·ρ/(ρ + WIDE_SPMM_CPU_HALF_ROW)` (a fixed cost per row and column:
/// the output tile's transposed store and the row's setup). Fitted to the structured suite on the
/// 2-core dev box, 2026-12-02 12:05 UTC (quiet): about 30 GFLOP/s with 16 nonzeros per row (CSR,
/// n = 1024, batch 1024), about 96 with the flat block butterfly's 192 (n = 1024, batch 1024).
const WIDE_SPMM_CPU_PEAK: f64 = 120e9;
/// See [`WIDE_SPMM_CPU_PEAK`]: the nonzeros per row at which the rate is half the peak.
const WIDE_SPMM_CPU_HALF_ROW: f64 = 48.0;

/// The CPU default's cache tier ([`CostModel::with_cache`]): working sets up to 8 MiB at 40 GB/s.
const CPU_CACHE_BYTES: u64 = 8 << 20;
/// See [`CPU_CACHE_BYTES`].
const CPU_CACHE_BYTES_PER_S: f64 = 40e9;

/// Smallest block size of a block butterfly step costed at the block-butterfly rate
/// ([`CostModel::step_rate`]): the CPU runs `b ≥ 16` as small GEMMs per pair of block-rows (and
/// `b = 8` only below 4 columns, where either path is a few microseconds).
const BLOCK_BUTTERFLY_GEMM_MIN: usize = 16;

/// The block butterfly's CPU rate over the plain butterfly's (`butterfly` kind, 20 GFLOP/s),
/// giving 40 GFLOP/s: the pair GEMMs measured 17–19 GFLOP/s at batch 1, 58–71 at batch 64 and
/// 28–39 at batch 1024 (structured suite, b = 32, n ∈ {1024, 4096}, 2 threads, 2026-12-02,
/// load ≈ 9). Dense wins at n = 1024 (FLOP ratio 3.2) only below about 27 GFLOP/s, and the
/// structure measured 2.2–3.6× faster there at batch 64 and 1024; batch 1 is memory-bound in
/// the model on both sides.
const BLOCK_BUTTERFLY_CPU_SPEEDUP: f64 = 2.0;

/// Rate of the fused `monarch` kernel in the CPU default model (FLOP/s, f32): measured
/// 0.7–3.9 GFLOP/s on the 2-core dev box (2026-12-02, square b = 4…64, batch 64–1024, load ≈ 7),
/// below the block GEMMs' rate at every size but b = 16, so this model keeps the block GEMMs.
const MONARCH_CPU_RATE: f64 = 2e9;

impl CostModel {
    /// The leaf to lower in place of `leaf`, when the model prefers another lowering of the same
    /// operator: a [`crate::op::Monarch`] lowers to the one-pass `monarch` kernel when that plan
    /// moves fewer bytes and is estimated no slower than the two block GEMMs (small blocks, where
    /// Monarch is memory-bound), else keeps the block GEMMs. `None`: keep `leaf`.
    pub(super) fn specialize(
        &self,
        leaf: &Arc<dyn LeafOp>,
        transposed: bool,
        batch: usize,
        dtype: DType,
    ) -> Result<Option<Arc<dyn LeafOp>>> {
        let Some(m) = leaf.as_any().downcast_ref::<crate::op::Monarch>() else {
            return Ok(None);
        };
        if m.is_fused() {
            return Ok(None);
        }
        let fused = m.with_fused(true);
        let plan = |op: Op| -> Result<Plan> {
            let op = if transposed { op.t() } else { op };
            Plan::new(&op, op.shape().1, batch, dtype)
        };
        let two = plan(Op::leaf(m.clone()))?;
        let one = plan(Op::leaf(fused.clone()))?;
        let wins = one.total_bytes() < two.total_bytes()
            && self.plan_seconds(&one) <= self.plan_seconds(&two);
        Ok(wins.then(|| Arc::new(fused) as Arc<dyn LeafOp>))
    }
}

type MaterializedCache = Mutex<Vec<(Weak<dyn LeafOp>, Option<Op>)>>;

/// Whether the materialized `op` (a dense leaf) has every entry finite in `dtype`.
pub(super) fn dense_fits(op: &Op, dtype: DType) -> bool {
    let max = match op {
        Op::Dense(d) => d.param().max_abs(),
        _ => return true,
    };
    match dtype {
        DType::F64 => max.is_finite(),
        DType::F32 => (max as f32).is_finite(),
    }
}

/// The dense form of `leaf`, built once per leaf while the leaf lives: later plans reuse the same
/// `Op` (and so the same parameter key, so a backend keeps its uploaded copy). `None` when the
/// dense form has entries that overflow `f64` (the structure is then the only faithful form;
/// remembered too, so the dense form is not rebuilt for every plan).
pub(super) fn materialized(leaf: &Arc<dyn LeafOp>) -> Result<Option<Op>> {
    static CACHE: OnceLock<MaterializedCache> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(Vec::new()));
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    cache.retain(|(w, _)| w.strong_count() > 0);
    if let Some((_, op)) = cache.iter().find(|(w, _)| {
        w.upgrade()
            .is_some_and(|l| std::ptr::addr_eq(Arc::as_ptr(&l), Arc::as_ptr(leaf)))
    }) {
        return Ok(op.clone());
    }
    let dense = leaf.to_dense();
    let op = if dense.data().iter().all(|v| v.is_finite()) {
        Some(Op::from_host(dense)?)
    } else {
        None
    };
    cache.push((Arc::downgrade(leaf), op.clone()));
    Ok(op)
}
