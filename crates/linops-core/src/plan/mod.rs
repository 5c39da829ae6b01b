//! Plans: what a backend runs.
//!
//! The planner lowers "apply `op` to a block `X` of `b` vectors" into a [`Plan`]: a list of
//! [`Step`]s, each one [`Kernel`] reading and writing virtual buffers ([`BufId`]). Buffers are the
//! input `X`, the output `Y = op·X`, operator parameters ([`Param`], uploaded once and cached by the
//! backend) and temporaries (reused once their last reader has run). The same plan runs on every
//! backend; [`Plan::explain`] prints each step with its shapes, FLOPs and bytes.
//!
//! Lowering goes in four passes: normalize (flatten products, push transposes to the leaves, merge
//! adjacent diagonals and scalars, drop identities, fold permutations; see [`normalize`]), let the
//! cost model choose for each leaf between its structure and its dense form ([`cost`]), expand
//! the leaves that are built from other operators into their parts and normalize again where they
//! land ([`normalize::expand`]), and lower each leaf to kernels (the leaf's
//! [`crate::LeafOp::lower`]), reusing temporaries by lifetime.

mod batched;
pub mod cost;
mod explain;
pub mod fold;
pub mod normalize;
mod resident;
mod tile;

pub use crate::lower::kernel;
pub use crate::lower::{
    BlockLayout, BufId, BufferDesc, BufferRole, INDEX_BYTES, IndexParam, Kernel, KernelKind,
    KernelSpec, Param, Step,
};
pub use cost::{CostModel, Decision};
pub use normalize::{NormalForm, Rewrites};
pub use tile::{
    Limits, MAX_BINDING_ENV, MAX_DEVICE_ENV, MIN_BINDING_BYTES, Panel, Streaming, TiledPlan,
    split_parameters,
};

use crate::op::Lowering;
use crate::{DType, Error, Op, Result};

/// Lowers a sub-operator a leaf hands to [`crate::Lowerer::lower_sub`] (the factors of a
/// Kronecker product) with the planner's own rules: its scale factors checked, normalized,
/// lowered.
fn lower_sub(
    cx: &mut Lowering,
    op: &Op,
    x: BufId,
    out: BufId,
    alpha: f64,
    beta: f64,
) -> Result<()> {
    check_parameters(op, cx.dtype())?;
    normalize::normalize_in(op, cx.dtype(), &mut Rewrites::default())?
        .lower(cx, x, out, alpha, beta)
}

/// Applies the cost model to every structured leaf of a normalized tree.
fn choose(
    norm: NormalForm,
    model: &CostModel,
    batch: usize,
    dtype: DType,
    limit: Option<u64>,
    out: &mut Vec<Decision>,
) -> Result<NormalForm> {
    Ok(match norm {
        NormalForm::Leaf {
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
            // A dense form over the binding limit would have to be split again; keep the
            // structure (whose own parameters were split to fit, see `tile`).
            let (rows, cols) = leaf.shape();
            let dense_bytes = (rows as u64)
                .saturating_mul(cols as u64)
                .saturating_mul(dtype.size_bytes());
            let dense = match dense {
                Some(_) if limit.is_some_and(|l| dense_bytes > l) => {
                    d.materialized = false;
                    d.reason = "dense form exceeds the binding limit";
                    None
                }
                other => other,
            };
            out.push(d);
            let op = match dense {
                Some(op) => op,
                None => Op::Leaf(
                    model
                        .specialize(&leaf, transposed, batch, dtype)?
                        .unwrap_or(leaf),
                ),
            };
            NormalForm::Leaf { op, transposed }
        }
        leaf @ NormalForm::Leaf { .. } => leaf,
        NormalForm::Scaled(s, inner) => NormalForm::Scaled(
            s,
            Box::new(choose(*inner, model, batch, dtype, limit, out)?),
        ),
        NormalForm::Product(f) => NormalForm::Product(
            f.into_iter()
                .map(|n| choose(n, model, batch, dtype, limit, out))
                .collect::<Result<_>>()?,
        ),
        NormalForm::Sum(t) => NormalForm::Sum(
            t.into_iter()
                .map(|n| choose(n, model, batch, dtype, limit, out))
                .collect::<Result<_>>()?,
        ),
    })
}

/// Bytes of a `rows×cols` buffer of elements of `elem_bytes` bytes (`elem` names the type).
///
/// # Errors
/// [`Error::DeviceLimit`] naming the buffer when it exceeds the largest allocation a process can
/// make (`isize::MAX` bytes), so that no later size computation overflows.
fn buffer_bytes(what: &str, rows: usize, cols: usize, elem_bytes: u64, elem: &str) -> Result<u64> {
    let limit = isize::MAX as u64;
    let bytes = (rows as u128)
        .checked_mul(cols as u128)
        .and_then(|e| e.checked_mul(u128::from(elem_bytes)));
    match bytes {
        Some(b) if b <= u128::from(limit) => Ok(b as u64),
        _ => Err(Error::DeviceLimit {
            what: format!("{what} ({rows}x{cols} {elem})"),
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

/// Checks every number the caller wrote in `op` against `dtype`'s range, before the planner merges
/// or materializes anything: each scale factor ([`check_scale_factors`]) and each entry of each
/// leaf's own parameter arrays (the arrays the leaf lowers to, e.g. a diagonal's values, a CSR
/// matrix's stored entries, a Kronecker product's factors). The normalizer folds scales into
/// diagonals and merges adjacent diagonals, and a cost model may replace a leaf by its dense form
/// (duplicate CSR entries summed, say); a check on the lowered plan alone would then accept an
/// entry outside the range under one planner and refuse it under another.
///
/// # Errors
/// [`Error::InvalidArgument`] naming the operator, the leaf, the entry and the range of `dtype`.
///
/// # Examples
/// ```
/// use linops_core::{DType, Op, plan::check_parameters};
/// // The scale would bring 1e40 into f32's range once folded into the diagonal.
/// let op = Op::diagonal(vec![1e40, 1.0]).unwrap().scaled(1e-20).unwrap();
/// assert!(check_parameters(&op, DType::F64).is_ok());
/// assert!(check_parameters(&op, DType::F32).is_err()); // 1e40 is not an f32
/// ```
pub fn check_parameters(op: &Op, dtype: DType) -> Result<()> {
    fn leaves<'a>(op: &'a Op, out: &mut Vec<&'a Op>) {
        match op {
            Op::Scaled(s) => leaves(s.inner(), out),
            Op::Transpose(t) => leaves(t.inner(), out),
            Op::Product(p) => p.factors().iter().for_each(|f| leaves(f, out)),
            Op::Sum(s) => s.terms().iter().for_each(|t| leaves(t, out)),
            leaf => out.push(leaf),
        }
    }
    check_scale_factors(op, dtype)?;
    let (finite, max): (fn(f64) -> bool, f64) = match dtype {
        DType::F64 => (|v| v.is_finite(), f64::MAX),
        DType::F32 => (|v| (v as f32).is_finite(), f64::from(f32::MAX)),
    };
    let mut found = Vec::new();
    leaves(op, &mut found);
    for leaf in found.into_iter().filter_map(Op::as_leaf) {
        // The leaf's own arrays: lower it alone (one column; nothing is allocated).
        let (rows, cols) = leaf.shape();
        let mut cx = Lowering::new(dtype, 1, Some(lower_sub));
        let x = cx.buffer(cols, 1, BufferRole::Input(0));
        let y = cx.buffer(rows, 1, BufferRole::Output);
        leaf.lower(&mut cx, false, x, y, 1.0, 0.0)?;
        for b in &cx.buffers {
            let BufferRole::Param(p) = &b.role else {
                continue;
            };
            if finite(p.max_abs()) {
                continue;
            }
            let pos = p.data.iter().position(|v| !finite(*v)).unwrap_or(0);
            return Err(Error::InvalidArgument(format!(
                "apply {} in {dtype}: entry ({}, {}) of a {}x{} parameter array of {} is {:e}, \
                 outside {dtype}'s range (|v| ≤ {max:e}); compute in f64 or rescale the operator",
                op.describe(),
                pos % p.rows.max(1),
                pos / p.rows.max(1),
                p.rows,
                p.cols,
                leaf.name(),
                p.data.get(pos).copied().unwrap_or(f64::NAN),
            )));
        }
    }
    Ok(())
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
    stats: Rewrites,
    model: String,
    decisions: Vec<Decision>,
    /// What tiling split and why (`explain()`'s `tiles:` lines; empty when untiled).
    tiles: Vec<String>,
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
        Self::build(op, x_rows, x_cols, dtype, None, None)
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
        Self::build(op, x_rows, x_cols, dtype, Some(model), None)
    }

    /// The shape and size checks of [`Plan::new`], before any lowering.
    fn build_checks(op: &Op, x_rows: usize, x_cols: usize, dtype: DType) -> Result<()> {
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
        let values = (dtype.size_bytes(), dtype.to_string());
        buffer_bytes("input block X", x_rows, x_cols, values.0, &values.1)?;
        buffer_bytes("output block Y", rows, x_cols, values.0, &values.1)?;
        Ok(())
    }

    /// Plans `op · X`; `limit` (bytes per buffer) keeps the cost model from materializing a
    /// leaf whose dense form would exceed it.
    fn build(
        op: &Op,
        x_rows: usize,
        x_cols: usize,
        dtype: DType,
        model: Option<&CostModel>,
        limit: Option<u64>,
    ) -> Result<Plan> {
        Self::build_checks(op, x_rows, x_cols, dtype)?;
        let rows = op.shape().0;
        let mut stats = Rewrites::default();
        // The cost model decides on the leaves as written (a rewriting leaf whole: a butterfly is
        // materialized as one matrix, never factor by factor); the rewrites are expanded after.
        let mut norm = normalize::normalize_leaves(op, dtype, &mut stats)?;
        let mut decisions = Vec::new();
        if let Some(m) = model {
            norm = choose(norm, m, x_cols, dtype, limit, &mut decisions)?;
        }
        // A materialized leaf may now fold with a neighbouring permutation: renormalize all.
        let norm = if decisions.iter().any(|d| d.materialized) {
            normalize::expand_all_nodes(norm, dtype, &mut stats)?
        } else {
            normalize::expand(norm, dtype, &mut stats)?
        };
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
        let mut cx = Lowering::new(dtype, out.1, Some(lower_sub));
        let ids: Vec<BufId> = inputs
            .iter()
            .enumerate()
            .map(|(i, &(r, c))| cx.buffer(r, c, BufferRole::Input(i)))
            .collect();
        let output = cx.buffer(out.0, out.1, BufferRole::Output);
        lower(&mut cx, &ids, output)?;
        let values = (dtype.size_bytes(), dtype.to_string());
        for b in &cx.buffers {
            let (role, elem_bytes, elem) = match b.role {
                BufferRole::Input(_) => ("input block", values.0, values.1.as_str()),
                BufferRole::Output => ("output block", values.0, values.1.as_str()),
                BufferRole::Temp => ("temporary", values.0, values.1.as_str()),
                BufferRole::Param(_) => ("parameter array", values.0, values.1.as_str()),
                BufferRole::Index(_) => ("index array", INDEX_BYTES, "u32"),
            };
            buffer_bytes(
                &format!("{role} of {what}"),
                b.rows,
                b.cols,
                elem_bytes,
                elem,
            )?;
        }
        if let Some(op) = op {
            check_parameters(op, dtype)?;
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
            stats: Rewrites::default(),
            model: String::new(),
            decisions: Vec::new(),
            tiles: Vec::new(),
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
    pub fn stats(&self) -> &Rewrites {
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
    /// Bytes written by all steps (the rest of [`Plan::total_bytes`] is read).
    ///
    /// # Examples
    /// ```
    /// use linops_core::{DType, Op, Plan};
    /// let p = Plan::new(&Op::dense(2, 2, vec![1.0; 4]).unwrap(), 2, 1, DType::F32).unwrap();
    /// assert_eq!(p.total_bytes_written(), 4 * 2);
    /// ```
    pub fn total_bytes_written(&self) -> u64 {
        self.steps
            .iter()
            .fold(0u64, |t, s| t.saturating_add(s.bytes_written))
    }
    /// The least traffic any implementation of the plan needs: read each input once, write the
    /// output once, read each parameter (values and index arrays) once. Temporaries, repeated
    /// passes and re-reads are what [`Plan::total_bytes`] adds on top ([`Plan::bytes_ratio`]).
    /// A sketch generated in the kernel from its seed has no parameter bytes. An operator that
    /// ignores part of `X` (a row sampler, a matrix with an empty column) may move less.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{DType, Op, Plan};
    /// let a = Op::dense(3, 2, vec![1.0; 6]).unwrap();
    /// let p = Plan::new(&a, 2, 5, DType::F32).unwrap();
    /// assert_eq!(p.min_bytes(), 4 * (6 + 2 * 5 + 3 * 5));
    /// ```
    pub fn min_bytes(&self) -> u64 {
        let size = self.dtype.size_bytes();
        self.buffers
            .iter()
            .map(|b| {
                let entries = (b.rows as u64).saturating_mul(b.cols as u64);
                match b.role {
                    BufferRole::Temp => 0,
                    BufferRole::Index(_) => entries.saturating_mul(INDEX_BYTES),
                    _ => entries.saturating_mul(size),
                }
            })
            .fold(0u64, u64::saturating_add)
    }
    /// [`Plan::total_bytes`] ÷ [`Plan::min_bytes`]: 1 when the plan reads its inputs and
    /// parameters once and writes its output once, more for every extra pass over memory.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{DType, Op, Plan};
    /// let a = Op::dense(3, 2, vec![1.0; 6]).unwrap();
    /// assert_eq!(Plan::new(&a, 2, 5, DType::F32).unwrap().bytes_ratio(), 1.0);
    /// let twice = Op::product(vec![a.t(), a.clone()]).unwrap(); // two GEMMs through a temporary
    /// assert!(Plan::new(&twice, 2, 5, DType::F32).unwrap().bytes_ratio() > 1.0);
    /// ```
    pub fn bytes_ratio(&self) -> f64 {
        self.total_bytes() as f64 / self.min_bytes().max(1) as f64
    }
    /// The roofline time of the plan's step list: `Σ_steps max(flops / flops_per_s, bytes /
    /// bytes_per_s)`, each step bounded by whichever of compute and memory traffic limits it
    /// (no launch overhead). With the rates of a dense GEMM and a copy measured on a backend
    /// (`linops::Engine::calibrate`), `roofline_seconds / measured seconds` is the fraction of
    /// that backend's limits a run achieved.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{DType, Op, Plan};
    /// let a = Op::dense(2, 2, vec![1.0; 4]).unwrap();
    /// let p = Plan::new(&a, 2, 1, DType::F32).unwrap(); // 8 FLOPs, 32 bytes
    /// assert_eq!(p.roofline_seconds(8.0, 64.0), 1.0); // compute-bound
    /// assert_eq!(p.roofline_seconds(16.0, 16.0), 2.0); // memory-bound
    /// ```
    pub fn roofline_seconds(&self, flops_per_s: f64, bytes_per_s: f64) -> f64 {
        self.steps
            .iter()
            .map(|s| (s.flops as f64 / flops_per_s).max(s.bytes as f64 / bytes_per_s))
            .sum()
    }
}
