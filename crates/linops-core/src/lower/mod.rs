//! The lowering vocabulary: what a plan is made of, below both the operator IR and the planner.
//!
//! A plan is a list of [`Step`]s, each one [`Kernel`] (see [`kernel`], one file per kernel)
//! reading and writing virtual buffers ([`BufId`]): the plan's inputs, its output, operator
//! parameters (values: [`Param`]; `u32` index arrays: [`IndexParam`]; uploaded once and cached
//! by the backend) and temporaries. Leaves of the
//! operator IR record their steps into a [`Lowerer`] ([`crate::Lowering`] for operators), and the
//! planner (`crate::plan`) assembles them into a `Plan`. This module imports neither: `op` and
//! `plan` both build on it, and neither imports the other's internals through it.

pub mod kernel;

pub use kernel::{BlockLayout, Kernel, KernelKind, KernelSpec};

use crate::{DType, Error, Result};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A process-unique key for a parameter array, so backends can cache converted uploads.
pub(crate) fn next_param_key() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Index of a virtual buffer of a [`Plan`](crate::Plan).
///
/// # Examples
/// ```
/// let b = linops_core::BufId(3);
/// assert_eq!(b.index(), 3);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BufId(pub u32);

impl BufId {
    /// The buffer's position in [`Plan::buffers`](crate::Plan::buffers).
    ///
    /// # Examples
    /// ```
    /// assert_eq!(linops_core::BufId(0).index(), 0);
    /// ```
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// Operator parameters (a dense matrix, a diagonal: values) shared by the op and the plans built
/// from it. Index arrays are [`IndexParam`]s.
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
            key: next_param_key(),
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

/// Bytes of one entry of an index parameter (`u32`, on every backend).
pub const INDEX_BYTES: u64 = 4;

/// An index parameter: a column of `u32` indices (a permutation, the row pointers and column
/// indices of a CSR matrix, sampled rows) shared by the op and the plans built from it.
///
/// Indices are `u32` on every backend, whatever the plan's dtype: the CPU reads them as they are
/// and the GPU binds them as `array<u32>`, so an index moves [`INDEX_BYTES`] bytes and every entry
/// is at most [`IndexParam::MAX_INDEX`]. The key is process-unique (shared with [`Param`]'s), so
/// a backend can cache its uploaded copy while the op is alive.
///
/// # Examples
/// ```
/// use linops_core::{BufferRole, DType, IndexParam, Op, Plan, op::Permutation};
/// let p = IndexParam::new(&[2, 0, 1]).unwrap();
/// assert_eq!((p.len(), p.indices()), (3, &[2u32, 0, 1][..]));
/// let op = Op::leaf(Permutation::new(vec![2, 0, 1]).unwrap());
/// let plan = Plan::new(&op, 3, 1, DType::F32).unwrap();
/// assert!(plan.buffers().iter().any(|b| matches!(b.role, BufferRole::Index(_))));
/// ```
#[derive(Debug, Clone)]
pub struct IndexParam {
    key: u64,
    data: Arc<[u32]>,
}

impl IndexParam {
    /// The largest index an index parameter holds (`u32::MAX`).
    pub const MAX_INDEX: usize = u32::MAX as usize;

    /// An index parameter holding `indices`, with a fresh process-unique key.
    ///
    /// # Errors
    /// [`Error::EmptyDimension`] for an empty array, [`Error::DeviceLimit`] for an entry above
    /// [`IndexParam::MAX_INDEX`] (naming its position).
    ///
    /// # Examples
    /// ```
    /// use linops_core::IndexParam;
    /// assert!(IndexParam::new(&[0, 7]).is_ok());
    /// assert!(IndexParam::new(&[]).is_err());
    /// # #[cfg(target_pointer_width = "64")]
    /// assert!(IndexParam::new(&[1 << 32]).is_err());
    /// ```
    pub fn new(indices: &[usize]) -> Result<IndexParam> {
        if indices.is_empty() {
            return Err(Error::EmptyDimension {
                context: "index array".into(),
                rows: 0,
                cols: 1,
            });
        }
        if let Some(i) = indices.iter().position(|&v| v > Self::MAX_INDEX) {
            check_index(&format!("index array entry {i}"), indices[i])?;
        }
        Ok(Self::from_u32(indices.iter().map(|&v| v as u32).collect()))
    }

    /// An index parameter from indices already in `u32`.
    pub(crate) fn from_u32(data: Vec<u32>) -> IndexParam {
        IndexParam {
            key: next_param_key(),
            data: Arc::from(data),
        }
    }

    /// The process-unique cache key.
    ///
    /// # Examples
    /// ```
    /// let (a, b) = (linops_core::IndexParam::new(&[0]).unwrap(), linops_core::IndexParam::new(&[0]).unwrap());
    /// assert_ne!(a.key(), b.key());
    /// ```
    pub fn key(&self) -> u64 {
        self.key
    }

    /// Number of indices.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(linops_core::IndexParam::new(&[4, 5, 6]).unwrap().len(), 3);
    /// ```
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Always false: an index parameter has at least one entry.
    ///
    /// # Examples
    /// ```
    /// assert!(!linops_core::IndexParam::new(&[0]).unwrap().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The indices.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(linops_core::IndexParam::new(&[3, 1]).unwrap().indices(), &[3, 1]);
    /// ```
    pub fn indices(&self) -> &[u32] {
        &self.data
    }

    /// The shared storage of the indices (a backend keeps a weak reference to it, to drop its
    /// cached copy when the op dies).
    ///
    /// # Examples
    /// ```
    /// let p = linops_core::IndexParam::new(&[3, 1]).unwrap();
    /// assert_eq!(&p.shared()[..], p.indices());
    /// ```
    pub fn shared(&self) -> &Arc<[u32]> {
        &self.data
    }
}

/// Checks that `value` fits an index parameter (`≤ IndexParam::MAX_INDEX`); `what` names it.
pub(crate) fn check_index(what: &str, value: usize) -> Result<()> {
    if value > IndexParam::MAX_INDEX {
        return Err(Error::DeviceLimit {
            what: what.to_string(),
            requested: value as u64,
            limit_name: "u32 index parameters (IndexParam::MAX_INDEX)".into(),
            limit: IndexParam::MAX_INDEX as u64,
        });
    }
    Ok(())
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
    /// Operator parameters (values, converted to the plan's dtype by each backend).
    Param(Param),
    /// An index array (`u32` on every backend; `rows` indices, one column).
    Index(IndexParam),
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
    /// Bytes read and written: the kernel's elements in the plan's dtype plus [`INDEX_BYTES`]
    /// per entry of its index inputs.
    pub bytes: u64,
    /// The part of [`Step::bytes`] written (the rest is read).
    pub bytes_written: u64,
}

/// The lowering context: allocates virtual buffers and records steps. Leaves use it (as
/// [`crate::Lowering`], the context whose sub-operators are [`crate::Op`]s) in
/// [`crate::LeafOp::lower`].
///
/// `S` is the type of the sub-operators a leaf may ask the planner to lower in place
/// ([`Lowerer::lower_sub`]: the factors of a Kronecker product): this module does not know the
/// operator IR, the planner installs the function that lowers one.
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
pub struct Lowerer<S: 'static> {
    dtype: DType,
    batch: usize,
    pub(crate) buffers: Vec<BufferDesc>,
    pub(crate) steps: Vec<Step>,
    params: HashMap<u64, BufId>,
    free: Vec<BufId>,
    sub: Option<SubLowering<S>>,
}

/// One link of [`Lowerer::chain`]: the rows it writes and how it lowers
/// `output = alpha·link(input) + beta·output`.
///
/// # Examples
/// See [`Lowerer::chain`].
pub struct Link<'a, S: 'static> {
    rows: usize,
    /// Columns of the temporary when they are not the chain's batch (a reshape).
    cols: Option<usize>,
    lower: LinkFn<'a, S>,
}

/// How a [`Link`] lowers itself: `(cx, input, output, alpha, beta)`.
type LinkFn<'a, S> = Box<dyn FnOnce(&mut Lowerer<S>, BufId, BufId, f64, f64) -> Result<()> + 'a>;

impl<'a, S> Link<'a, S> {
    /// A link writing `rows × batch`, lowered by `lower(cx, input, output, alpha, beta)`.
    ///
    /// # Examples
    /// See [`Lowerer::chain`].
    pub fn new(
        rows: usize,
        lower: impl FnOnce(&mut Lowerer<S>, BufId, BufId, f64, f64) -> Result<()> + 'a,
    ) -> Self {
        Link {
            rows,
            cols: None,
            lower: Box::new(lower),
        }
    }

    /// A link of one step: `output = kernel(alpha, beta)` applied to `params` followed by the
    /// link's input (the common case: a GEMM with a parameter matrix, a scaling by a parameter
    /// vector, a transform of the input alone).
    ///
    /// # Examples
    /// ```
    /// use linops_core::{BufId, DType, HostMat, LeafOp, Link, Lowering, Op, Plan, Result};
    /// use linops_core::plan::kernel::Axpby;
    /// #[derive(Debug)]
    /// struct SixI(usize);
    /// impl LeafOp for SixI {
    ///     fn name(&self) -> &'static str { "six_i" }
    ///     fn shape(&self) -> (usize, usize) { (self.0, self.0) }
    ///     fn to_dense(&self) -> HostMat { HostMat::from_fn(self.0, self.0, |i, j| if i == j { 6.0 } else { 0.0 }) }
    ///     fn param_count(&self) -> usize { 0 }
    ///     fn lower(&self, cx: &mut Lowering, _t: bool, x: BufId, out: BufId, alpha: f64, beta: f64) -> Result<()> {
    ///         let scale = |s: f64| Link::step(self.0, vec![], move |a, b| Axpby { alpha: s * a, beta: b });
    ///         cx.chain(x, out, alpha, beta, vec![scale(3.0), scale(2.0)])
    ///     }
    /// }
    /// let plan = Plan::new(&Op::leaf(SixI(3)), 3, 2, DType::F64).unwrap();
    /// assert_eq!(plan.steps().len(), 2);
    /// ```
    pub fn step<K: Into<Kernel>>(
        rows: usize,
        params: Vec<BufId>,
        kernel: impl FnOnce(f64, f64) -> K + 'a,
    ) -> Self {
        Link::new(rows, move |cx: &mut Lowerer<S>, i, o, a, b| {
            let mut inputs = params;
            inputs.push(i);
            cx.push(kernel(a, b), inputs, o)
        })
    }

    /// A link writing a `rows × cols` temporary (a reshaped block: the Kronecker vec trick).
    ///
    /// # Examples
    /// See [`Lowerer::chain`].
    pub fn shaped(
        rows: usize,
        cols: usize,
        lower: impl FnOnce(&mut Lowerer<S>, BufId, BufId, f64, f64) -> Result<()> + 'a,
    ) -> Self {
        Link {
            cols: Some(cols),
            ..Link::new(rows, lower)
        }
    }
}

/// Lowers a sub-operator `op` as `out = alpha·op·x + beta·out` into the context (installed by
/// the planner; see [`Lowerer::lower_sub`]).
pub type SubLowering<S> = fn(&mut Lowerer<S>, &S, BufId, BufId, f64, f64) -> Result<()>;

impl<S> std::fmt::Debug for Lowerer<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lowerer")
            .field("dtype", &self.dtype)
            .field("batch", &self.batch)
            .field("buffers", &self.buffers)
            .field("steps", &self.steps)
            .finish()
    }
}

impl<S> Lowerer<S> {
    /// An empty context for a plan in `dtype` over blocks of `batch` columns; `sub` lowers the
    /// sub-operators leaves hand to [`Lowerer::lower_sub`].
    pub(crate) fn new(dtype: DType, batch: usize, sub: Option<SubLowering<S>>) -> Self {
        Self {
            dtype,
            batch,
            buffers: Vec::new(),
            steps: Vec::new(),
            params: HashMap::new(),
            free: Vec::new(),
            sub,
        }
    }

    /// Lowers the sub-operator `op` as `out = alpha·op·x + beta·out` (a Kronecker product lowers
    /// each factor this way), through the planner's own normalization and lowering.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when no planner installed a sub-lowering (a context built
    /// outside a plan); the sub-operator's own lowering errors.
    ///
    /// See the example on [`Lowerer`].
    pub fn lower_sub(&mut self, op: &S, x: BufId, out: BufId, alpha: f64, beta: f64) -> Result<()> {
        let sub = self.sub.ok_or_else(|| {
            Error::InvalidArgument("planner bug: no sub-operator lowering installed".into())
        })?;
        sub(self, op, x, out, alpha, beta)
    }

    /// Chains steps through temporaries: `out = alpha·L_k(…L_2(L_1(x))…) + beta·out`. Link `i`
    /// writes a `rows_i × batch` temporary (`rows_i × cols_i` for [`Link::shaped`]) (the last one writes `out` with `alpha`, `beta`; the
    /// others use `1, 0`); each temporary is released after its one reader, and `x` is never
    /// released.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for an empty chain; a link's own errors.
    ///
    /// # Examples
    /// `2·(3·X)` as a chain of two scaled copies:
    /// ```
    /// use linops_core::{BufId, DType, HostMat, LeafOp, Link, Lowering, Op, Plan, Result};
    /// use linops_core::plan::kernel::Axpby;
    /// #[derive(Debug)]
    /// struct SixI(usize);
    /// impl LeafOp for SixI {
    ///     fn name(&self) -> &'static str { "six_i" }
    ///     fn shape(&self) -> (usize, usize) { (self.0, self.0) }
    ///     fn to_dense(&self) -> HostMat { HostMat::from_fn(self.0, self.0, |i, j| if i == j { 6.0 } else { 0.0 }) }
    ///     fn param_count(&self) -> usize { 0 }
    ///     fn lower(&self, cx: &mut Lowering, _t: bool, x: BufId, out: BufId, alpha: f64, beta: f64) -> Result<()> {
    ///         let scale = |s: f64| move |cx: &mut Lowering, i, o, a: f64, b| cx.push(Axpby { alpha: s * a, beta: b }, vec![i], o);
    ///         cx.chain(x, out, alpha, beta, vec![Link::new(self.0, scale(3.0)), Link::new(self.0, scale(2.0))])
    ///     }
    /// }
    /// let plan = Plan::new(&Op::leaf(SixI(3)), 3, 2, DType::F64).unwrap();
    /// assert_eq!(plan.steps().len(), 2);
    /// ```
    pub fn chain(
        &mut self,
        x: BufId,
        out: BufId,
        alpha: f64,
        beta: f64,
        links: Vec<Link<'_, S>>,
    ) -> Result<()> {
        let last = links
            .len()
            .checked_sub(1)
            .ok_or_else(|| Error::InvalidArgument("planner bug: an empty chain".into()))?;
        let batch = self.shape_of(x).1;
        let mut cur = x;
        for (i, link) in links.into_iter().enumerate() {
            let (dst, a, b) = if i == last {
                (out, alpha, beta)
            } else {
                (self.temp(link.rows, link.cols.unwrap_or(batch)), 1.0, 0.0)
            };
            (link.lower)(self, cur, dst, a, b)?;
            if cur != x {
                self.release(cur);
            }
            cur = dst;
        }
        Ok(())
    }

    pub(crate) fn buffer(&mut self, rows: usize, cols: usize, role: BufferRole) -> BufId {
        self.buffers.push(BufferDesc { rows, cols, role });
        BufId((self.buffers.len() - 1) as u32)
    }

    /// Number of columns of the block being transformed.
    ///
    /// See the example on [`Lowerer`].
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// The dtype the plan computes in.
    ///
    /// See the example on [`Lowerer`].
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// A temporary `rows×cols` buffer, reusing a released one of the same shape when possible.
    ///
    /// See the example on [`Lowerer`].
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
    /// See the example on [`Lowerer`].
    pub fn release(&mut self, id: BufId) {
        if matches!(self.buffers[id.index()].role, BufferRole::Temp) && !self.free.contains(&id) {
            self.free.push(id);
        }
    }

    /// The buffer holding parameter `p` (one buffer per parameter array per plan).
    ///
    /// See the example on [`Lowerer`].
    pub fn param(&mut self, p: &Param) -> BufId {
        if let Some(id) = self.params.get(&p.key) {
            return *id;
        }
        let id = self.buffer(p.rows, p.cols, BufferRole::Param(p.clone()));
        self.params.insert(p.key, id);
        id
    }

    /// The buffer holding the index parameter `p` (`len×1`; one buffer per array per plan).
    ///
    /// # Examples
    /// ```
    /// use linops_core::{DType, Kernel, Plan, Op, op::Permutation};
    /// let op = Op::leaf(Permutation::new(vec![1, 0]).unwrap());
    /// let plan = Plan::new(&op, 2, 3, DType::F64).unwrap();
    /// let gather = &plan.steps()[0];
    /// assert!(matches!(gather.kernel, Kernel::Gather(_)));
    /// assert_eq!(plan.shape_of(gather.inputs[0]), (2, 1));
    /// ```
    pub fn index(&mut self, p: &IndexParam) -> BufId {
        if let Some(id) = self.params.get(&p.key) {
            return *id;
        }
        let id = self.buffer(p.len(), 1, BufferRole::Index(p.clone()));
        self.params.insert(p.key, id);
        id
    }

    /// `(rows, cols)` of a buffer.
    ///
    /// See the example on [`Lowerer`].
    pub fn shape_of(&self, id: BufId) -> (usize, usize) {
        let b = &self.buffers[id.index()];
        (b.rows, b.cols)
    }

    /// Appends a step after checking the shapes and kinds of its arguments, and computes its
    /// cost: the kernel's elements of the plan's dtype, plus [`INDEX_BYTES`] per entry of its
    /// index inputs ([`Kernel::index_inputs`]).
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] when the argument shapes do not fit the kernel,
    /// [`Error::InvalidArgument`] when an index input is not an index array (or a value input
    /// is one), or the output is an input or a parameter (planner bugs: caught here so that no
    /// backend ever runs a kernel on inconsistent arguments).
    ///
    /// See the example on [`Lowerer`].
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
        let index_inputs = kernel.index_inputs();
        let mut index_entries = 0u64;
        for (i, b) in inputs.iter().enumerate() {
            let is_index = matches!(self.buffers[b.index()].role, BufferRole::Index(_));
            if is_index != index_inputs.contains(&i) {
                return Err(Error::InvalidArgument(format!(
                    "planner bug: input {i} of {} {} an index array",
                    kernel.label(),
                    if is_index { "must not be" } else { "must be" }
                )));
            }
            if is_index {
                index_entries = index_entries.saturating_add(shapes[i].0 as u64);
            }
        }
        if matches!(
            self.buffers[output.index()].role,
            BufferRole::Param(_) | BufferRole::Index(_)
        ) {
            return Err(Error::InvalidArgument(format!(
                "planner bug: {} writes a parameter",
                kernel.label()
            )));
        }
        let size = self.dtype.size_bytes();
        let bytes = elems
            .saturating_mul(size)
            .saturating_add(index_entries.saturating_mul(INDEX_BYTES));
        let bytes_written = kernel.written(&shapes, out).saturating_mul(size).min(bytes);
        self.steps.push(Step {
            kernel,
            inputs,
            output,
            flops,
            bytes,
            bytes_written,
        });
        Ok(())
    }
}
