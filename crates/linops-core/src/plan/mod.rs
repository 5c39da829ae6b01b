//! Plans: what a backend runs.
//!
//! The planner lowers "apply `op` to a block `X` of `b` vectors" into a [`Plan`]: a list of
//! [`Step`]s, each one [`Kernel`] reading and writing virtual buffers ([`BufId`]). Buffers are the
//! input `X`, the output `Y = op·X`, operator parameters ([`Param`], uploaded once and cached by the
//! backend) and temporaries (reused once their last reader has run). The same plan runs on every
//! backend; [`Plan::explain`] prints each step with its shapes, FLOPs and bytes.
//!
//! Lowering goes in three passes: normalize (flatten products, push transposes to the leaves, merge
//! adjacent diagonals and scalars, drop identities; see [`normalize`]), lower each leaf to kernels
//! (the leaf's [`crate::LeafOp::lower`]), and reuse temporaries by lifetime.

pub mod cost;
mod explain;
pub mod fold;
pub mod kernel;
pub mod normalize;
mod resident;

pub use cost::{CostModel, Decision};
pub use kernel::{BlockLayout, Kernel, KernelKind, KernelSpec};
pub use normalize::{Norm, NormStats};

use crate::{DType, Error, Op, Result};
use std::collections::HashMap;
use std::sync::Arc;

/// Applies the cost model to every structured leaf of a normalized tree.
fn choose(
    norm: Norm,
    model: &CostModel,
    batch: usize,
    dtype: DType,
    out: &mut Vec<Decision>,
) -> Result<Norm> {
    Ok(match norm {
        Norm::Leaf {
            op: Op::Leaf(leaf),
            transposed,
        } => {
            let mut d = model.decide(&leaf, transposed, batch, dtype)?;
            // The dense form must hold what the structure computes: a leaf whose entries
            // overflow the compute precision (a Kronecker product of large factors, say) keeps
            // its structure, so the outcome never depends on the model's choice.
            let dense = if d.materialized {
                cost::materialized(&leaf)?.filter(|op| cost::dense_fits(op, dtype))
            } else {
                None
            };
            if d.materialized && dense.is_none() {
                d.materialized = false;
                d.reason = match dtype {
                    DType::F32 => "dense form overflows f32",
                    DType::F64 => "dense form overflows f64",
                };
            }
            out.push(d);
            let op = dense.unwrap_or(Op::Leaf(leaf));
            Norm::Leaf { op, transposed }
        }
        leaf @ Norm::Leaf { .. } => leaf,
        Norm::Scaled(s, inner) => {
            Norm::Scaled(s, Box::new(choose(*inner, model, batch, dtype, out)?))
        }
        Norm::Product(f) => Norm::Product(
            f.into_iter()
                .map(|n| choose(n, model, batch, dtype, out))
                .collect::<Result<_>>()?,
        ),
        Norm::Sum(t) => Norm::Sum(
            t.into_iter()
                .map(|n| choose(n, model, batch, dtype, out))
                .collect::<Result<_>>()?,
        ),
    })
}

/// Bytes of a `rows×cols` buffer of `dtype`.
///
/// # Errors
/// [`Error::DeviceLimit`] naming the buffer when it exceeds the largest allocation a process can
/// make (`isize::MAX` bytes), so that no later size computation overflows.
fn buffer_bytes(what: &str, rows: usize, cols: usize, dtype: DType) -> Result<u64> {
    let limit = isize::MAX as u64;
    let bytes = (rows as u128)
        .checked_mul(cols as u128)
        .and_then(|e| e.checked_mul(u128::from(dtype.size_bytes())));
    match bytes {
        Some(b) if b <= u128::from(limit) => Ok(b as u64),
        _ => Err(Error::DeviceLimit {
            what: format!("{what} ({rows}x{cols} {dtype})"),
            requested: bytes.map_or(u64::MAX, |b| u64::try_from(b).unwrap_or(u64::MAX)),
            limit_name: "largest allocation (isize::MAX bytes)".into(),
            limit,
        }),
    }
}

/// Checks that every scale factor the caller wrote in `op` (nested [`Op::scaled`] factors, also
/// inside the factors of a Kronecker leaf, which calls this when it lowers them) is a finite
/// `dtype` value itself, whatever the planner merges it with: the outcome must not depend on
/// which scales happen to be merged into one kernel scalar.
///
/// # Errors
/// [`Error::InvalidArgument`] naming the operator, the factor and the range of `dtype`.
///
/// # Examples
/// ```
/// use linops_core::{DType, Op, plan::check_scale_factors};
/// let op = Op::identity(2).unwrap().scaled(1e300).unwrap().scaled(1e-300).unwrap();
/// assert!(check_scale_factors(&op, DType::F64).is_ok());
/// assert!(check_scale_factors(&op, DType::F32).is_err()); // 1e300 is not an f32
/// ```
pub fn check_scale_factors(op: &Op, dtype: DType) -> Result<()> {
    fn scales(op: &Op, out: &mut Vec<f64>) {
        match op {
            Op::Scaled(s) => {
                out.push(s.factor());
                scales(s.inner(), out);
            }
            Op::Transpose(t) => scales(t.inner(), out),
            Op::Product(p) => p.factors().iter().for_each(|f| scales(f, out)),
            Op::Sum(s) => s.terms().iter().for_each(|t| scales(t, out)),
            _ => {}
        }
    }
    let (finite, max): (fn(f64) -> bool, f64) = match dtype {
        DType::F64 => (|v| v.is_finite(), f64::MAX),
        DType::F32 => (|v| (v as f32).is_finite(), f64::from(f32::MAX)),
    };
    let mut factors = Vec::new();
    scales(op, &mut factors);
    match factors.into_iter().find(|v| !finite(*v)) {
        None => Ok(()),
        Some(v) => Err(Error::InvalidArgument(format!(
            "apply {} in {dtype}: the scale factor {v:e} is outside {dtype}'s range \
             (|s| ≤ {max:e}); compute in f64 or rescale the operator",
            op.describe(),
        ))),
    }
}

/// Checks that every parameter entry and every kernel scalar of a lowered plan rounds to a
/// finite value of `dtype` (an `f32` plan takes `f64` parameters; a scale factor is a product of
/// the operator's nested scales).
///
/// # Errors
/// [`Error::InvalidArgument`] naming the operator, the value and the range of `dtype`.
fn check_ranges(what: &str, dtype: DType, buffers: &[BufferDesc], steps: &[Step]) -> Result<()> {
    let finite = |v: f64| match dtype {
        DType::F64 => v.is_finite(),
        DType::F32 => (v as f32).is_finite(),
    };
    let max = match dtype {
        DType::F64 => f64::MAX,
        DType::F32 => f64::from(f32::MAX),
    };
    for b in buffers {
        let BufferRole::Param(p) = &b.role else {
            continue;
        };
        if finite(p.max_abs()) {
            continue;
        }
        let pos = p.data.iter().position(|v| !finite(*v)).unwrap_or(0);
        return Err(Error::InvalidArgument(format!(
            "{what} in {dtype}: entry ({}, {}) of a {}x{} parameter array is {:e}, outside \
             {dtype}'s range (|v| ≤ {max:e}); compute in f64 or rescale the operator",
            pos % p.rows.max(1),
            pos / p.rows.max(1),
            p.rows,
            p.cols,
            p.data.get(pos).copied().unwrap_or(f64::NAN),
        )));
    }
    for (i, s) in steps.iter().enumerate() {
        for v in s.kernel.scalars() {
            if !finite(v) {
                return Err(Error::InvalidArgument(format!(
                    "{what} in {dtype}: step {i} ({}) has the scale factor {v:e}, outside \
                     {dtype}'s range (|s| ≤ {max:e}); nested scale factors multiply into one, \
                     so compute in f64 or rescale the operator",
                    s.kernel.label(),
                )));
            }
        }
    }
    Ok(())
}

/// Index of a virtual buffer of a [`Plan`].
///
/// # Examples
/// ```
/// let b = linops_core::BufId(3);
/// assert_eq!(b.index(), 3);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BufId(pub u32);

impl BufId {
    /// The buffer's position in [`Plan::buffers`].
    ///
    /// # Examples
    /// ```
    /// assert_eq!(linops_core::BufId(0).index(), 0);
    /// ```
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// Operator parameters (a dense matrix, a diagonal) shared by the op and the plans built from it.
///
/// `key` is unique per parameter array in the process, so a backend can cache its converted or
/// uploaded copy; `data` is column-major `rows×cols`.
///
/// # Examples
/// ```
/// use linops_core::{Op, BufferRole};
/// let op = Op::diagonal(vec![1.0, 2.0]).unwrap();
/// let plan = linops_core::Plan::new(&op, 2, 1, linops_core::DType::F64).unwrap();
/// assert!(plan.buffers().iter().any(|b| matches!(b.role, BufferRole::Param(_))));
/// ```
#[derive(Debug, Clone)]
pub struct Param {
    /// Process-unique cache key.
    pub key: u64,
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// Column-major values.
    pub data: Arc<[f64]>,
    /// Largest magnitude in `data` (computed once, so that planning in `f32` checks the
    /// parameter's range without a pass over it).
    max_abs: f64,
}

impl Param {
    /// A parameter array with a fresh process-unique key; `data` is column-major `rows×cols`.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] when `data.len() != rows·cols` (or the product overflows),
    /// [`Error::NonFinite`] for NaN/Inf entries.
    ///
    /// # Examples
    /// ```
    /// let p = linops_core::Param::new(2, 1, vec![3.0, -4.0]).unwrap();
    /// assert_eq!((p.rows, p.cols, p.max_abs()), (2, 1, 4.0));
    /// assert_ne!(p.key, linops_core::Param::new(2, 1, vec![3.0, -4.0]).unwrap().key);
    /// assert!(linops_core::Param::new(2, 2, vec![1.0]).is_err());
    /// assert!(linops_core::Param::new(1, 1, vec![f64::NAN]).is_err());
    /// ```
    pub fn new(rows: usize, cols: usize, data: Vec<f64>) -> Result<Param> {
        if rows.checked_mul(cols) != Some(data.len()) {
            return Err(Error::ShapeMismatch {
                context: "parameter array".into(),
                expected: format!("{rows}x{cols} entries"),
                found: format!("{} entries", data.len()),
            });
        }
        crate::check_finite("parameter array", rows, &data)?;
        Ok(Param::of_shape(rows, cols, data))
    }

    /// [`Param::new`] for a length the caller has already made `rows·cols`.
    pub(crate) fn of_shape(rows: usize, cols: usize, data: Vec<f64>) -> Param {
        debug_assert_eq!(rows.checked_mul(cols), Some(data.len()));
        // NaN-propagating, so a range check on `max_abs` cannot miss a NaN.
        let max_abs = data.iter().fold(0.0f64, |m, v| {
            if m.is_nan() || v.is_nan() {
                f64::NAN
            } else {
                m.max(v.abs())
            }
        });
        Param {
            key: crate::op::next_param_key(),
            rows,
            cols,
            data: Arc::from(data),
            max_abs,
        }
    }

    /// The largest magnitude of the parameter's entries.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(linops_core::Param::new(1, 3, vec![1.0, -7.5, 2.0]).unwrap().max_abs(), 7.5);
    /// ```
    pub fn max_abs(&self) -> f64 {
        self.max_abs
    }
}

/// What a virtual buffer holds.
///
/// # Examples
/// ```
/// use linops_core::{BufferRole, DType, Op, Plan};
/// let plan = Plan::new(&Op::identity(2).unwrap(), 2, 1, DType::F32).unwrap();
/// assert!(matches!(plan.buffers()[plan.inputs()[0].index()].role, BufferRole::Input(0)));
/// ```
#[derive(Debug, Clone)]
pub enum BufferRole {
    /// Input `i` of the plan (for an operator plan, `Input(0)` is the block `X` the op is
    /// applied to); bound to the `i`-th matrix passed to [`crate::Backend::execute`].
    Input(usize),
    /// The result `op·X`.
    Output,
    /// A temporary.
    Temp,
    /// Operator parameters.
    Param(Param),
}

/// A virtual buffer: a `rows×cols` column-major matrix.
///
/// # Examples
/// ```
/// use linops_core::{DType, Op, Plan};
/// let plan = Plan::new(&Op::identity(2).unwrap(), 2, 5, DType::F32).unwrap();
/// assert_eq!(plan.buffers()[plan.output().index()].cols, 5);
/// ```
#[derive(Debug, Clone)]
pub struct BufferDesc {
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// What it holds.
    pub role: BufferRole,
}

/// One kernel launch of a plan: `output ← kernel(inputs, output)`.
///
/// # Examples
/// ```
/// use linops_core::{DType, Kernel, Op, Plan};
/// let op = Op::dense(3, 2, vec![1.0; 6]).unwrap();
/// let plan = Plan::new(&op, 2, 4, DType::F32).unwrap();
/// assert!(matches!(plan.steps()[0].kernel, Kernel::Gemm(_)));
/// assert_eq!(plan.steps()[0].flops, 2 * 3 * 2 * 4);
/// ```
#[derive(Debug, Clone)]
pub struct Step {
    /// The kernel and its scalar parameters.
    pub kernel: Kernel,
    /// Buffers read, in the kernel's argument order.
    pub inputs: Vec<BufId>,
    /// Buffer written (and read, when the kernel accumulates with `beta != 0`).
    pub output: BufId,
    /// Floating-point operations.
    pub flops: u64,
    /// Bytes read and written, in the plan's dtype.
    pub bytes: u64,
}

/// A lowered operator application, ready for any backend.
///
/// # Examples
/// ```
/// use linops_core::{DType, Op, Plan};
/// let a = Op::dense(3, 3, vec![1.0; 9]).unwrap();
/// let d = Op::diagonal(vec![1.0, 2.0, 3.0]).unwrap();
/// let op = Op::product(vec![d.clone(), d, a.t()]).unwrap();
/// let plan = Plan::new(&op, 3, 2, DType::F32).unwrap();
/// assert_eq!(plan.steps().len(), 2); // one GEMM, one diagonal scaling (the two diagonals merged)
/// println!("{}", plan.explain());
/// ```
#[derive(Debug, Clone)]
pub struct Plan {
    dtype: DType,
    buffers: Vec<BufferDesc>,
    steps: Vec<Step>,
    inputs: Vec<BufId>,
    output: BufId,
    source: String,
    normalized: String,
    stats: NormStats,
    model: String,
    decisions: Vec<Decision>,
}

impl Plan {
    /// Plans `op · X` for `X` of shape `x_rows × x_cols` computed in `dtype`.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] when `x_rows` differs from the op's columns,
    /// [`Error::EmptyDimension`] when `x_cols == 0` (or `x_rows == 0`), [`Error::DeviceLimit`]
    /// when a buffer of the plan (`X`, `Y` or a temporary) exceeds `isize::MAX` bytes (checked
    /// before lowering for `X` and `Y`), [`Error::InvalidArgument`] when a parameter entry or a
    /// combined scale factor does not round to a finite value of `dtype` (an `f32` plan takes
    /// `f64` parameters; see `docs/errors.md`).
    ///
    /// # Examples
    /// ```
    /// use linops_core::{DType, Op, Plan};
    /// let op = Op::identity(3).unwrap();
    /// assert!(Plan::new(&op, 3, 1, DType::F64).is_ok());
    /// assert!(Plan::new(&op, 4, 1, DType::F64).is_err());
    /// assert!(Plan::new(&op, 3, 0, DType::F64).is_err());
    /// let big = Op::diagonal(vec![1e300, 1.0]).unwrap();
    /// assert!(Plan::new(&big, 2, 1, DType::F64).is_ok());
    /// assert!(Plan::new(&big, 2, 1, DType::F32).is_err()); // 1e300 is not an f32
    /// ```
    pub fn new(op: &Op, x_rows: usize, x_cols: usize, dtype: DType) -> Result<Plan> {
        Self::build(op, x_rows, x_cols, dtype, None)
    }

    /// Plans `op · X` like [`Plan::new`], letting `model` choose for each structured leaf between
    /// applying its structure and materializing it for a dense GEMM (see [`cost`]); the estimates
    /// and choices are in [`Plan::decisions`] and in `explain()`.
    ///
    /// # Errors
    /// As [`Plan::new`]; materializing a leaf can fail only as `Op::from_host` does.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{DType, Op, Plan, plan::CostModel, op::LowRank};
    /// // A "low-rank" factorization of full rank 256 costs twice the dense GEMM:
    /// let u = linops_core::HostMat::from_fn(256, 256, |i, j| ((i * 7 + j) % 13) as f64 - 6.0);
    /// let lr = Op::leaf(LowRank::new(u.clone(), vec![1.0; 256], u).unwrap());
    /// let plan = Plan::with_model(&lr, 256, 256, DType::F32, &CostModel::cpu_default()).unwrap();
    /// assert!(plan.decisions()[0].materialized);
    /// assert!(plan.explain().contains("materialized"));
    /// // A true low rank (8) keeps its structure:
    /// let u = linops_core::HostMat::from_fn(256, 8, |i, j| ((i * 7 + j) % 13) as f64 - 6.0);
    /// let lr = Op::leaf(LowRank::new(u.clone(), vec![1.0; 8], u).unwrap());
    /// let plan = Plan::with_model(&lr, 256, 256, DType::F32, &CostModel::cpu_default()).unwrap();
    /// assert!(!plan.decisions()[0].materialized);
    /// // Plan::new never materializes and records no decisions.
    /// assert!(Plan::new(&lr, 256, 256, DType::F32).unwrap().decisions().is_empty());
    /// ```
    pub fn with_model(
        op: &Op,
        x_rows: usize,
        x_cols: usize,
        dtype: DType,
        model: &CostModel,
    ) -> Result<Plan> {
        Self::build(op, x_rows, x_cols, dtype, Some(model))
    }

    fn build(
        op: &Op,
        x_rows: usize,
        x_cols: usize,
        dtype: DType,
        model: Option<&CostModel>,
    ) -> Result<Plan> {
        let (rows, cols) = op.shape();
        if x_rows == 0 || x_cols == 0 {
            return Err(Error::EmptyDimension {
                context: "input block X".into(),
                rows: x_rows,
                cols: x_cols,
            });
        }
        if x_rows != cols {
            return Err(Error::ShapeMismatch {
                context: format!("apply {}", op.describe()),
                expected: format!("X with {cols} rows (the operator is {rows}x{cols})"),
                found: format!("X of {x_rows}x{x_cols}"),
            });
        }
        // Sizes first: nothing below may compute with a buffer that cannot exist.
        buffer_bytes("input block X", x_rows, x_cols, dtype)?;
        buffer_bytes("output block Y", rows, x_cols, dtype)?;
        let mut stats = NormStats::default();
        let mut norm = normalize::normalize_in(op, dtype, &mut stats)?;
        let mut decisions = Vec::new();
        if let Some(m) = model {
            norm = choose(norm, m, x_cols, dtype, &mut decisions)?;
        }
        let mut plan = Plan::from_steps(
            &format!("apply {}", op.describe()),
            Some(op),
            dtype,
            &[(x_rows, x_cols)],
            (rows, x_cols),
            |cx, inputs, output| norm.lower(cx, inputs[0], output, 1.0, 0.0),
        )?;
        plan.source = op.describe();
        plan.normalized = norm.describe();
        plan.stats = stats;
        plan.model = model.map_or_else(String::new, |m| m.name().to_string());
        plan.decisions = decisions;
        Ok(plan)
    }

    /// A plan over `inputs` (their shapes, bound in order to `BufferRole::Input(i)`) writing an
    /// `out`-shaped output, whose steps `lower` records; `what` names it in error messages and
    /// in [`Plan::explain`]. Every buffer's size and every parameter and scalar's range (and
    /// the scale factors the caller wrote in `op`, see [`check_scale_factors`]) are checked
    /// here, so all plans obey the same rules.
    pub(crate) fn from_steps(
        what: &str,
        op: Option<&Op>,
        dtype: DType,
        inputs: &[(usize, usize)],
        out: (usize, usize),
        lower: impl FnOnce(&mut Lowering, &[BufId], BufId) -> Result<()>,
    ) -> Result<Plan> {
        let mut cx = Lowering::new(dtype, out.1);
        let ids: Vec<BufId> = inputs
            .iter()
            .enumerate()
            .map(|(i, &(r, c))| cx.buffer(r, c, BufferRole::Input(i)))
            .collect();
        let output = cx.buffer(out.0, out.1, BufferRole::Output);
        lower(&mut cx, &ids, output)?;
        for b in &cx.buffers {
            let role = match b.role {
                BufferRole::Input(_) => "input block",
                BufferRole::Output => "output block",
                BufferRole::Temp => "temporary",
                BufferRole::Param(_) => "parameter array",
            };
            buffer_bytes(&format!("{role} of {what}"), b.rows, b.cols, dtype)?;
        }
        if let Some(op) = op {
            check_scale_factors(op, dtype)?;
        }
        check_ranges(what, dtype, &cx.buffers, &cx.steps)?;
        Ok(Plan {
            dtype,
            buffers: cx.buffers,
            steps: cx.steps,
            inputs: ids,
            output,
            source: what.to_string(),
            normalized: what.to_string(),
            stats: NormStats::default(),
            model: String::new(),
            decisions: Vec::new(),
        })
    }

    /// The cost model's structured-vs-materialized decisions, one per structured leaf (empty for
    /// [`Plan::new`]).
    ///
    /// See the example on [`Plan::with_model`].
    pub fn decisions(&self) -> &[Decision] {
        &self.decisions
    }

    /// The dtype the plan computes in.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{DType, Op, Plan};
    /// assert_eq!(Plan::new(&Op::identity(1).unwrap(), 1, 1, DType::F32).unwrap().dtype(), DType::F32);
    /// ```
    pub fn dtype(&self) -> DType {
        self.dtype
    }
    /// The virtual buffers, indexed by [`BufId`].
    ///
    /// # Examples
    /// ```
    /// use linops_core::{DType, Op, Plan};
    /// assert_eq!(Plan::new(&Op::identity(2).unwrap(), 2, 1, DType::F32).unwrap().buffers().len(), 2);
    /// ```
    pub fn buffers(&self) -> &[BufferDesc] {
        &self.buffers
    }
    /// The steps, in execution order.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{DType, Op, Plan};
    /// assert_eq!(Plan::new(&Op::identity(2).unwrap(), 2, 1, DType::F32).unwrap().steps().len(), 1);
    /// ```
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }
    /// The input buffers, in the order [`crate::Backend::execute`] binds its matrices (an
    /// operator plan has one, the block X; a random fill none).
    ///
    /// # Examples
    /// ```
    /// use linops_core::{DType, Op, Plan};
    /// let p = Plan::new(&Op::identity(2).unwrap(), 2, 1, DType::F32).unwrap();
    /// assert_eq!(p.inputs()[0].0, 0);
    /// ```
    pub fn inputs(&self) -> &[BufId] {
        &self.inputs
    }

    /// Checks that `shapes` are the shapes of the plan's inputs, in order (what every backend
    /// does before it runs the plan).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a wrong number of inputs, [`Error::ShapeMismatch`] naming
    /// the input whose shape differs.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{DType, Op, Plan};
    /// let p = Plan::new(&Op::identity(2).unwrap(), 2, 3, DType::F32).unwrap();
    /// assert!(p.check_inputs(&[(2, 3)]).is_ok());
    /// assert!(p.check_inputs(&[(3, 2)]).is_err());
    /// assert!(p.check_inputs(&[(2, 3), (2, 3)]).is_err());
    /// ```
    pub fn check_inputs(&self, shapes: &[(usize, usize)]) -> Result<()> {
        if shapes.len() != self.inputs.len() {
            return Err(Error::InvalidArgument(format!(
                "execute {}: the plan takes {} inputs, got {}",
                self.source,
                self.inputs.len(),
                shapes.len()
            )));
        }
        for (i, (&id, &found)) in self.inputs.iter().zip(shapes).enumerate() {
            let want = self.shape_of(id);
            if found != want {
                return Err(Error::ShapeMismatch {
                    context: format!("execute {}: input {i}", self.source),
                    expected: format!("{}x{}", want.0, want.1),
                    found: format!("{}x{}", found.0, found.1),
                });
            }
        }
        Ok(())
    }
    /// The output buffer op·X.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{DType, Op, Plan};
    /// assert_eq!(Plan::new(&Op::identity(2).unwrap(), 2, 1, DType::F32).unwrap().output().0, 1);
    /// ```
    pub fn output(&self) -> BufId {
        self.output
    }
    /// `(rows, cols)` of buffer `id`.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{DType, Op, Plan};
    /// let p = Plan::new(&Op::identity(2).unwrap(), 2, 3, DType::F32).unwrap();
    /// assert_eq!(p.shape_of(p.output()), (2, 3));
    /// ```
    pub fn shape_of(&self, id: BufId) -> (usize, usize) {
        let b = &self.buffers[id.index()];
        (b.rows, b.cols)
    }
    /// What normalization did (counts of rewrites).
    ///
    /// # Examples
    /// ```
    /// use linops_core::{DType, Op, Plan};
    /// let a = Op::dense(2, 2, vec![1.0; 4]).unwrap();
    /// let p = Plan::new(&Op::product(vec![a.clone(), a]).unwrap().t(), 2, 1, DType::F32).unwrap();
    /// assert_eq!(p.stats().transposes_pushed, 1);
    /// ```
    pub fn stats(&self) -> &NormStats {
        &self.stats
    }
    /// Total FLOPs of all steps.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{DType, Op, Plan};
    /// let p = Plan::new(&Op::dense(2, 2, vec![1.0; 4]).unwrap(), 2, 1, DType::F32).unwrap();
    /// assert_eq!(p.total_flops(), 8);
    /// ```
    pub fn total_flops(&self) -> u64 {
        self.steps
            .iter()
            .fold(0u64, |t, s| t.saturating_add(s.flops))
    }
    /// Total bytes moved by all steps.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{DType, Op, Plan};
    /// let p = Plan::new(&Op::dense(2, 2, vec![1.0; 4]).unwrap(), 2, 1, DType::F32).unwrap();
    /// assert_eq!(p.total_bytes(), 4 * (4 + 2 + 2));
    /// ```
    pub fn total_bytes(&self) -> u64 {
        self.steps
            .iter()
            .fold(0u64, |t, s| t.saturating_add(s.bytes))
    }
}

/// The lowering context: allocates virtual buffers and records steps. Leaves use it in
/// [`crate::LeafOp::lower`].
///
/// # Examples
/// A custom leaf `2·I` lowered through a temporary (a real leaf would use one step):
/// ```
/// use linops_core::{BufId, DType, HostMat, LeafOp, Lowering, Op, Plan, Result};
/// use linops_core::plan::kernel::Axpby;
/// #[derive(Debug)]
/// struct TwiceIdentity(usize);
/// impl LeafOp for TwiceIdentity {
///     fn name(&self) -> &'static str { "twice_identity" }
///     fn shape(&self) -> (usize, usize) { (self.0, self.0) }
///     fn to_dense(&self) -> HostMat { HostMat::from_fn(self.0, self.0, |i, j| if i == j { 2.0 } else { 0.0 }) }
///     fn param_count(&self) -> usize { 0 }
///     fn lower(&self, cx: &mut Lowering, _t: bool, x: BufId, out: BufId, alpha: f64, beta: f64) -> Result<()> {
///         let t = cx.temp(self.0, cx.batch());
///         cx.push(Axpby { alpha: 2.0, beta: 0.0 }, vec![x], t)?;
///         cx.push(Axpby { alpha, beta }, vec![t], out)?;
///         cx.release(t);
///         Ok(())
///     }
/// }
/// let plan = Plan::new(&Op::leaf(TwiceIdentity(3)), 3, 2, DType::F64).unwrap();
/// assert_eq!(plan.steps().len(), 2);
/// assert_eq!(plan.shape_of(plan.steps()[0].output), (3, 2));
/// ```
#[derive(Debug)]
pub struct Lowering {
    dtype: DType,
    batch: usize,
    buffers: Vec<BufferDesc>,
    steps: Vec<Step>,
    params: HashMap<u64, BufId>,
    free: Vec<BufId>,
}

impl Lowering {
    fn new(dtype: DType, batch: usize) -> Self {
        Self {
            dtype,
            batch,
            buffers: Vec::new(),
            steps: Vec::new(),
            params: HashMap::new(),
            free: Vec::new(),
        }
    }

    fn buffer(&mut self, rows: usize, cols: usize, role: BufferRole) -> BufId {
        self.buffers.push(BufferDesc { rows, cols, role });
        BufId((self.buffers.len() - 1) as u32)
    }

    /// Number of columns of the block being transformed.
    ///
    /// See the example on [`Lowering`].
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// The dtype the plan computes in.
    ///
    /// See the example on [`Lowering`].
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// A temporary `rows×cols` buffer, reusing a released one of the same shape when possible.
    ///
    /// See the example on [`Lowering`].
    pub fn temp(&mut self, rows: usize, cols: usize) -> BufId {
        if let Some(pos) = self.free.iter().position(|b| {
            let d = &self.buffers[b.index()];
            d.rows == rows && d.cols == cols
        }) {
            return self.free.swap_remove(pos);
        }
        self.buffer(rows, cols, BufferRole::Temp)
    }

    /// Marks a temporary as dead: later `temp` calls may reuse it. Non-temporaries are ignored.
    ///
    /// See the example on [`Lowering`].
    pub fn release(&mut self, id: BufId) {
        if matches!(self.buffers[id.index()].role, BufferRole::Temp) && !self.free.contains(&id) {
            self.free.push(id);
        }
    }

    /// The buffer holding parameter `p` (one buffer per parameter array per plan).
    ///
    /// See the example on [`Lowering`].
    pub fn param(&mut self, p: &Param) -> BufId {
        if let Some(id) = self.params.get(&p.key) {
            return *id;
        }
        let id = self.buffer(p.rows, p.cols, BufferRole::Param(p.clone()));
        self.params.insert(p.key, id);
        id
    }

    /// `(rows, cols)` of a buffer.
    ///
    /// See the example on [`Lowering`].
    pub fn shape_of(&self, id: BufId) -> (usize, usize) {
        let b = &self.buffers[id.index()];
        (b.rows, b.cols)
    }

    /// Appends a step after checking the shapes of its arguments, and computes its cost.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] when the argument shapes do not fit the kernel (a planner bug:
    /// caught here so that no backend ever runs a kernel on inconsistent shapes).
    ///
    /// See the example on [`Lowering`].
    pub fn push(
        &mut self,
        kernel: impl Into<Kernel>,
        inputs: Vec<BufId>,
        output: BufId,
    ) -> Result<()> {
        let kernel: Kernel = kernel.into();
        let shapes: Vec<(usize, usize)> = inputs.iter().map(|b| self.shape_of(*b)).collect();
        let out = self.shape_of(output);
        if inputs.contains(&output) {
            return Err(Error::InvalidArgument(format!(
                "planner bug: {} reads its own output",
                kernel.label()
            )));
        }
        let (flops, elems) = kernel.cost(&shapes, out)?;
        self.steps.push(Step {
            kernel,
            inputs,
            output,
            flops,
            bytes: elems.saturating_mul(self.dtype.size_bytes()),
        });
        Ok(())
    }
}
