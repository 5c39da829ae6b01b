//! Resident vectors of an iterative driver (LSQR, CG) with their plans built once.
//!
//! An iteration that keeps its vectors on the engine updates them with scalars that change every
//! step (`u ← Ā·v − α·u`, `u ← u/β`, …). The one-step plans of the resident front doors bake their
//! scalars in, so calling them per step would build a plan per step. Here the scalar is a `1×1`
//! resident matrix instead, and the update is one GEMM plan built once per vector length:
//! `y + x·[s]` (`m×1 · 1×1 + m×1`) and `x·[s]`. The scalar's upload (8 bytes) is the only
//! host→engine traffic of an update; a norm or dot product is one cached reduction plan and one
//! 8-byte download. [`OpPlan`] holds an operator's plan for one input width, built once with the
//! engine's cost model, so applying the operator per step neither re-plans nor re-runs the cost
//! model. [`GemmPlan`] is one GEMM over resident matrices of fixed shapes, planned once (the
//! engine's [`Engine::gemm`] front door plans on every call).
//!
//! **Cost.** `scale_add` reads `x` and `y` and writes the result (the GEMM copies `y` into the
//! output, then accumulates `x·s`); `scale` reads `x` once; `norm`/`dot` read their operands once.

use crate::{Engine, Matrix, Op, Plan, Result};
use faer::Mat;
use linops_core::DType;
use linops_core::plan::TiledPlan;

/// The plans over resident `len×1` vectors in one dtype.
pub(crate) struct VecPlans {
    dtype: DType,
    /// `1·x·[s] + 1·y`.
    scale_add: Plan,
    /// `x·[s]`.
    scale: Plan,
    norm: Plan,
    dot: Plan,
}

impl VecPlans {
    /// Builds the four plans for vectors of `len` entries (counted once by the engine).
    pub(crate) fn new(e: &Engine, dtype: DType, len: usize) -> Result<VecPlans> {
        let v = (len, 1);
        let plans = VecPlans {
            dtype,
            scale_add: Plan::gemm(dtype, 1.0, v, false, (1, 1), false, 1.0, Some(v))?,
            scale: Plan::gemm(dtype, 1.0, v, false, (1, 1), false, 0.0, None)?,
            norm: Plan::col_norms(dtype, v)?,
            dot: Plan::col_dots(dtype, v, v)?,
        };
        for _ in 0..4 {
            e.counter.plan();
        }
        Ok(plans)
    }

    /// The resident `1×1` matrix `[s]` (one small upload).
    fn scalar(&self, e: &Engine, s: f64) -> Result<Matrix> {
        match self.dtype {
            DType::F64 => e.upload(Mat::<f64>::from_fn(1, 1, |_, _| s).as_ref()),
            DType::F32 => e.upload(Mat::<f32>::from_fn(1, 1, |_, _| s as f32).as_ref()),
        }
    }

    /// `y + s·x`.
    pub(crate) fn scale_add(&self, e: &Engine, x: &Matrix, s: f64, y: &Matrix) -> Result<Matrix> {
        let s = self.scalar(e, s)?;
        e.run(&self.scale_add, &[x, &s, y])
    }

    /// `s·x`.
    pub(crate) fn scale(&self, e: &Engine, x: &Matrix, s: f64) -> Result<Matrix> {
        let s = self.scalar(e, s)?;
        e.run(&self.scale, &[x, &s])
    }

    /// `‖x‖₂` (overflow- and underflow-safe; one small download).
    pub(crate) fn norm(&self, e: &Engine, x: &Matrix) -> Result<f64> {
        Ok(e.download_vec(&e.run(&self.norm, &[x])?)?[0])
    }

    /// `xᵀy` (one small download).
    pub(crate) fn dot(&self, e: &Engine, x: &Matrix, y: &Matrix) -> Result<f64> {
        Ok(e.download_vec(&e.run(&self.dot, &[x, y])?)?[0])
    }
}

/// `alpha·op(A)·op(B) + beta·C` over resident matrices of fixed shapes, planned once (counted
/// once by the engine) and run any number of times.
pub(crate) struct GemmPlan(Plan);

impl GemmPlan {
    /// Plans the GEMM for `a`, `b` (and `c` when `beta ≠ 0`) of these shapes in `dtype`.
    pub(crate) fn new(
        e: &Engine,
        dtype: DType,
        alpha: f64,
        (a, trans_a): ((usize, usize), bool),
        (b, trans_b): ((usize, usize), bool),
        beta: f64,
        c: Option<(usize, usize)>,
    ) -> Result<GemmPlan> {
        let plan = Plan::gemm(dtype, alpha, a, trans_a, b, trans_b, beta, c)?;
        e.counter.plan();
        Ok(GemmPlan(plan))
    }

    /// Runs the GEMM on `[A, B]` or `[A, B, C]`; the result stays on the engine.
    pub(crate) fn run(&self, e: &Engine, inputs: &[&Matrix]) -> Result<Matrix> {
        e.run(&self.0, inputs)
    }
}

/// An operator's (tiled) plan for `cols`-column inputs, built once.
pub(crate) struct OpPlan {
    op: Op,
    plan: TiledPlan,
}

impl OpPlan {
    /// Plans `op·X` for `X` of `op.shape().1 × cols` in `dtype` with the engine's cost model and
    /// limits (parameters over the binding limit split inside the plan, as [`Engine::apply_to`]).
    pub(crate) fn new(e: &Engine, op: &Op, cols: usize, dtype: DType) -> Result<OpPlan> {
        Ok(OpPlan {
            op: op.clone(),
            plan: e.tiled_plan_in(op, op.shape().1, cols, dtype)?,
        })
    }

    /// `op·x`; the result stays on the engine.
    pub(crate) fn apply(&self, e: &Engine, x: &Matrix) -> Result<Matrix> {
        e.run_tiled(&self.op, &self.plan, x)
    }
}
