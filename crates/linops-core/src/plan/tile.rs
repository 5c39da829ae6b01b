//! Tiling: plans whose every buffer fits a device's largest binding.
//!
//! A backend binds each buffer of a plan whole, so a buffer larger than the device's largest
//! binding (`max_storage_buffer_binding_size`: 128 MiB on lavapipe, 2 GiB on an H100) cannot run.
//! Given [`Limits`], the planner splits the work instead, in two independent ways.
//!
//! **Parameters** ([`split_parameters`]). A parameter array larger than the limit is written as
//! an exact sum of panels. With `E_I` the `m×|I|` selection that places a block in rows `I` and
//! `G_K` the `|K|×n` selection that takes rows `K` of `X` (CSR matrices of ones):
//! - dense `A` (`m×n`): `A = Σ_{I,K} E_I·A[I,K]·G_K`, row panels first (row blocks of `A` give
//!   row blocks of `Y`), and a K-split (column panels, accumulated) only when one row of `A` is
//!   longer than the limit;
//! - CSR `A`: `A = Σ_I E_I·A[I,:]`, panels of consecutive rows holding at most the limit's
//!   nonzeros;
//! - diagonal `D`: `D = Σ_I E_I·D_I·G_I`;
//! - low rank `U·diag(s)·Vᵀ`: the product of its factors, `U` and `V` split as dense;
//! - a leaf that lowers through a rewrite (sparse sketches, row samplers, butterflies) splits
//!   its rewrite.
//!
//! Transposes follow (`Aᵀ = Σ G_Kᵀ·A[I,K]ᵀ·E_Iᵀ`). Each panel computes the same dot products
//! as the whole, so row panels change no bits; a K-split sums a row's panels separately
//! (rounding as a sum of `#K` partial dot products). The selections cost one sparse pass over
//! `Y` per panel. Panels of a parameter are built once while the parameter lives, so a backend
//! keeps their uploads between plans.
//!
//! **Columns** ([`crate::Plan::tiled`]). An apply is column-separable, `Y[:, J] = op·X[:, J]`:
//! the widest panel width whose every buffer (`X`, `Y`, temporaries) fits is chosen, the
//! columns are split into balanced panels, and the caller runs one plan per panel. Sketches
//! generated on the fly have no parameter array: their entry `(i, j)` is a function of the
//! Philox counter at `(i, j)`, so column panels of `X` leave the sketch's bits unchanged.
//!
//! What cannot be split is a typed [`Error::DeviceLimit`] naming the buffer, its size and the
//! limit: one column of `X`, `Y` or a temporary longer than the limit, a parameter of a leaf with
//! its own lowering (Householder, Kronecker, Monarch, block diagonal, diagonal plus low rank, DCT), one CSR row with more nonzeros
//! than the limit holds.

use super::{CostModel, Plan};
use crate::lower::{BufferRole, INDEX_BYTES};
use crate::op::{Csr, LeafOp, LowRank, Lowering};
use crate::{DType, Error, Op, Result};
use std::sync::{Arc, Mutex, OnceLock, Weak};

/// The environment variable that lowers the binding limit the planner (and a GPU device opened
/// from the environment) sees: a number of bytes.
pub const MAX_BINDING_ENV: &str = "LINOPS_MAX_BINDING_BYTES";

/// Smallest binding limit accepted: one CSR row pointer pair and a few values.
pub const MIN_BINDING_BYTES: u64 = 64;

/// The device limits the planner tiles for: the largest buffer one kernel can bind.
///
/// # Examples
/// ```
/// use linops_core::plan::Limits;
/// let l = Limits::max_binding(1 << 20, "test clamp").unwrap();
/// assert_eq!(l.max_binding_bytes(), Some(1 << 20));
/// assert_eq!(Limits::unlimited().min(l.clone()), l);
/// assert!(Limits::max_binding(8, "too small").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Limits {
    max_binding: Option<(u64, String)>,
}

impl Limits {
    /// No limit: plans are never tiled (what [`Plan::new`] plans for).
    ///
    /// # Examples
    /// ```
    /// assert_eq!(linops_core::plan::Limits::unlimited().max_binding_bytes(), None);
    /// ```
    #[must_use]
    pub fn unlimited() -> Limits {
        Limits { max_binding: None }
    }

    /// A limit of `bytes` per buffer; `name` says where it comes from (a device limit's name or
    /// the clamp), and errors quote it.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when `bytes < MIN_BINDING_BYTES`.
    ///
    /// # Examples
    /// ```
    /// let l = linops_core::plan::Limits::max_binding(4096, "clamp").unwrap();
    /// assert_eq!(l.name(), Some("clamp"));
    /// ```
    pub fn max_binding(bytes: u64, name: &str) -> Result<Limits> {
        if bytes < MIN_BINDING_BYTES {
            return Err(Error::InvalidArgument(format!(
                "{name}: a binding limit of {bytes} bytes is below the smallest accepted, \
                 {MIN_BINDING_BYTES} bytes"
            )));
        }
        Ok(Limits {
            max_binding: Some((bytes, name.to_string())),
        })
    }

    /// The clamp in [`MAX_BINDING_ENV`], unlimited when it is unset or empty.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the variable and its value when it is not a number of
    /// bytes of at least [`MIN_BINDING_BYTES`].
    ///
    /// # Examples
    /// ```
    /// // Unset in the doctest's environment:
    /// # if std::env::var_os("LINOPS_MAX_BINDING_BYTES").is_none() {
    /// assert_eq!(linops_core::plan::Limits::from_env().unwrap().max_binding_bytes(), None);
    /// # }
    /// ```
    pub fn from_env() -> Result<Limits> {
        match std::env::var(MAX_BINDING_ENV) {
            Err(_) => Ok(Limits::unlimited()),
            Ok(v) if v.trim().is_empty() => Ok(Limits::unlimited()),
            Ok(v) => match v.trim().parse::<u64>() {
                Ok(b) => Limits::max_binding(b, MAX_BINDING_ENV),
                Err(_) => Err(Error::InvalidArgument(format!(
                    "{MAX_BINDING_ENV}={v:?}: expected a number of bytes (at least \
                     {MIN_BINDING_BYTES})"
                ))),
            },
        }
    }

    /// The limit in bytes, `None` when unlimited.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(linops_core::plan::Limits::default().max_binding_bytes(), None);
    /// ```
    #[must_use]
    pub fn max_binding_bytes(&self) -> Option<u64> {
        self.max_binding.as_ref().map(|(b, _)| *b)
    }

    /// Where the limit comes from, `None` when unlimited.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(linops_core::plan::Limits::unlimited().name(), None);
    /// ```
    #[must_use]
    pub fn name(&self) -> Option<&str> {
        self.max_binding.as_ref().map(|(_, n)| n.as_str())
    }

    /// The tighter of two limits.
    ///
    /// # Examples
    /// ```
    /// use linops_core::plan::Limits;
    /// let a = Limits::max_binding(1000, "a").unwrap();
    /// let b = Limits::max_binding(2000, "b").unwrap();
    /// assert_eq!(a.clone().min(b), a);
    /// ```
    #[must_use]
    pub fn min(self, other: Limits) -> Limits {
        match (&self.max_binding, &other.max_binding) {
            (Some((a, _)), Some((b, _))) if b < a => other,
            (None, _) => other,
            _ => self,
        }
    }
}

/// One column panel of a [`TiledPlan`]: columns `start..end` of `X` and `Y`, run by
/// `plans()[plan]`.
///
/// # Examples
/// See [`TiledPlan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Panel {
    /// First column.
    pub start: usize,
    /// One past the last column.
    pub end: usize,
    /// Index into [`TiledPlan::plans`].
    pub plan: usize,
}

/// An apply split into column panels, each run by a plan whose every buffer fits the limits.
///
/// # Examples
/// ```
/// use linops_core::{DType, Op, Plan, plan::Limits};
/// let a = Op::dense(64, 64, vec![0.5; 64 * 64]).unwrap();
/// // 16 KiB per buffer: A (16 KiB in f32 plus the index arrays) is split in row panels, and
/// // X, Y (64 rows x 100 columns, 25.6 KB) in column panels.
/// let limits = Limits::max_binding(16 * 1024, "test clamp").unwrap();
/// let t = Plan::tiled(&a, 64, 100, DType::F32, None, &limits).unwrap();
/// assert!(t.panels().len() > 1);
/// for p in t.plans() {
///     assert!(p.buffers().iter().all(|b| b.rows * b.cols * 4 <= 16 * 1024));
/// }
/// assert!(t.explain().contains("tiles:"));
/// ```
#[derive(Debug, Clone)]
pub struct TiledPlan {
    plans: Vec<Plan>,
    panels: Vec<Panel>,
    streaming: Option<Streaming>,
}

/// The environment variable that lowers the device memory the planner sees (bytes), so that
/// operands past it are streamed from the host at small sizes (`Engine::set_max_device_bytes`).
pub const MAX_DEVICE_ENV: &str = "LINOPS_MAX_DEVICE_BYTES";

/// A dense operand `A` (`rows × cols`) larger than the device's memory, kept on the host and
/// streamed through the device in row panels: each panel is uploaded, applied to the resident
/// `X` and its rows of `Y` read back, with at most two panels on the device at once (the next
/// one's upload overlapping the current one's compute).
///
/// Sizing: `X` (`cols × x_cols`) stays resident, and two panels of `r` rows of `A` and of `Y`
/// are in flight: `size·(cols·x_cols + 2·r·(cols + x_cols)) ≤ 0.8·budget` (the 20 % leave room for
/// the buffer pool's size classes, which round a request up by at most 25 %).
///
/// # Examples
/// ```
/// use linops_core::{DType, plan::Streaming};
/// // A 1000×100 f32 operand (400 kB) applied to 2 columns with a 100 kB device: streamed.
/// let s = Streaming::plan(1000, 100, 2, DType::F32, 100_000, "test clamp").unwrap().unwrap();
/// assert!(s.panels > 1 && 2 * s.panel_bytes < 100_000);
/// assert_eq!(s.row_panels().last().unwrap().end, 1000);
/// // It fits in 1 MB: resident, nothing streamed.
/// assert!(Streaming::plan(1000, 100, 2, DType::F32, 1_000_000, "test").unwrap().is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Streaming {
    /// Rows of the streamed operand.
    pub rows: usize,
    /// Columns of the streamed operand.
    pub cols: usize,
    /// Rows per panel (the last panel may have fewer).
    pub panel_rows: usize,
    /// Number of panels.
    pub panels: usize,
    /// Bytes of one full panel in the compute dtype.
    pub panel_bytes: u64,
    /// The device memory the planner saw.
    pub budget: u64,
    /// Where that budget came from.
    pub limit_name: String,
}

impl Streaming {
    /// The panels of a dense `rows × cols` operand applied to `x_cols` columns in `dtype` on a
    /// device of `budget` bytes; `None` when `A`, `X` and `Y` fit together (nothing streamed).
    ///
    /// # Errors
    /// [`Error::DeviceLimit`] when even one-row panels do not fit beside `X` (apply fewer
    /// columns at a time).
    ///
    /// # Examples
    /// See [`Streaming`].
    pub fn plan(
        rows: usize,
        cols: usize,
        x_cols: usize,
        dtype: DType,
        budget: u64,
        limit_name: &str,
    ) -> Result<Option<Streaming>> {
        let e = dtype.size_bytes();
        let bytes = |r: usize, c: usize| (r as u64).saturating_mul(c as u64).saturating_mul(e);
        let (a, x, y) = (bytes(rows, cols), bytes(cols, x_cols), bytes(rows, x_cols));
        if a.saturating_add(x).saturating_add(y) <= budget {
            return Ok(None);
        }
        let usable = budget - budget / 5;
        let per_row = 2 * (cols as u64 + x_cols as u64) * e;
        let r = usable.saturating_sub(x) / per_row;
        if r == 0 {
            return Err(Error::DeviceLimit {
                what: format!(
                    "streaming a dense {rows}x{cols} {dtype} operand: X ({cols}x{x_cols}) and two \
                     one-row panels of A and Y do not fit 80 % of the device memory; apply fewer \
                     columns at a time"
                ),
                requested: x.saturating_add(per_row),
                limit_name: limit_name.to_string(),
                limit: budget,
            });
        }
        let r = (r.min(rows as u64)) as usize;
        let panels = rows.div_ceil(r);
        let panel_rows = rows.div_ceil(panels);
        Ok(Some(Streaming {
            rows,
            cols,
            panel_rows,
            panels,
            panel_bytes: bytes(panel_rows, cols),
            budget,
            limit_name: limit_name.to_string(),
        }))
    }

    /// The row ranges of the panels, in order.
    ///
    /// # Examples
    /// See [`Streaming`].
    pub fn row_panels(&self) -> impl Iterator<Item = std::ops::Range<usize>> + '_ {
        (0..self.panels).map(|k| {
            let start = k * self.panel_rows;
            start..(start + self.panel_rows).min(self.rows)
        })
    }
}

impl TiledPlan {
    /// The column panels, in order; one panel covering every column when nothing was split.
    ///
    /// # Examples
    /// See [`TiledPlan`].
    #[must_use]
    pub fn panels(&self) -> &[Panel] {
        &self.panels
    }

    /// The distinct plans (one per panel width, at most two).
    ///
    /// # Examples
    /// See [`TiledPlan`].
    #[must_use]
    pub fn plans(&self) -> &[Plan] {
        &self.plans
    }

    /// How the operand is streamed from the host when it exceeds the device's memory (`None`:
    /// everything resident).
    ///
    /// # Examples
    /// ```
    /// use linops_core::{DType, Op, Plan, plan::Limits};
    /// let t = Plan::tiled(&Op::identity(2).unwrap(), 2, 1, DType::F32, None, &Limits::unlimited());
    /// assert!(t.unwrap().streaming().is_none());
    /// ```
    #[must_use]
    pub fn streaming(&self) -> Option<&Streaming> {
        self.streaming.as_ref()
    }

    /// This plan, marked as streaming its operand as `s` says (see [`Streaming`]).
    ///
    /// # Examples
    /// ```
    /// use linops_core::{DType, Op, Plan, plan::{Limits, Streaming}};
    /// let a = Op::dense(100, 10, vec![1.0; 1000]).unwrap();
    /// let s = Streaming::plan(100, 10, 1, DType::F32, 2_000, "test").unwrap();
    /// let t = Plan::tiled(&a, 10, 1, DType::F32, None, &Limits::unlimited()).unwrap();
    /// assert!(t.with_streaming(s).explain().contains("streamed from the host in"));
    /// ```
    #[must_use]
    pub fn with_streaming(mut self, s: Option<Streaming>) -> TiledPlan {
        self.streaming = s;
        self
    }

    /// Whether anything was split (columns or parameters).
    ///
    /// # Examples
    /// ```
    /// use linops_core::{DType, Op, Plan, plan::Limits};
    /// let t = Plan::tiled(&Op::identity(2).unwrap(), 2, 1, DType::F32, None, &Limits::unlimited());
    /// assert!(!t.unwrap().is_tiled());
    /// ```
    #[must_use]
    pub fn is_tiled(&self) -> bool {
        self.panels.len() > 1 || self.plans.iter().any(|p| !p.tiles.is_empty())
    }

    /// The single plan when there is one panel.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when the apply is split into several column panels.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{DType, Op, Plan, plan::Limits};
    /// let t = Plan::tiled(&Op::identity(2).unwrap(), 2, 1, DType::F32, None, &Limits::unlimited());
    /// assert_eq!(t.unwrap().into_single().unwrap().steps().len(), 1);
    /// ```
    pub fn into_single(mut self) -> Result<Plan> {
        if let Some(st) = &self.streaming {
            return Err(Error::InvalidArgument(format!(
                "the apply streams its {}x{} operand from the host in {} panels; run it through \
                 the engine",
                st.rows, st.cols, st.panels
            )));
        }
        if self.panels.len() == 1 {
            return Ok(self.plans.swap_remove(0));
        }
        Err(Error::InvalidArgument(format!(
            "the apply is split into {} column panels; run each panel's plan",
            self.panels.len()
        )))
    }

    /// The first plan's listing (its `tiles:` lines say what was split and why), followed by
    /// the other panel width's steps count when there are two.
    ///
    /// # Examples
    /// See [`TiledPlan`].
    #[must_use]
    pub fn explain(&self) -> String {
        let mut s = self.plans[0].explain();
        match &self.streaming {
            None => s.push_str("resident: on the device (A, X and Y fit its memory)\n"),
            Some(st) => s.push_str(&format!(
                "resident: A ({}x{}) stays on the host and is streamed from the host in {} \
                 panels of {} rows ({} bytes), at most two on the device at once, the next \
                 panel's upload overlapping the current one's compute; X and each panel's Y \
                 on the device (device memory {} bytes, {})\n",
                st.rows,
                st.cols,
                st.panels,
                st.panel_rows,
                st.panel_bytes,
                st.budget,
                st.limit_name
            )),
        }
        if let Some(p) = self.plans.get(1) {
            let (r, c) = p.shape_of(p.output());
            s.push_str(&format!(
                "  (the last panels run the same steps on Y[{r}x{c}]: {} steps)\n",
                p.steps().len()
            ));
        }
        s
    }
}

impl Plan {
    /// Plans `op · X` like [`Plan::with_model`] (or [`Plan::new`] without a model) so that
    /// every buffer of every plan fits `limits`: parameters larger than the limit are split
    /// into panels ([`split_parameters`]), then the columns of `X` into the widest panels whose
    /// buffers fit. `explain()` lists what was split and why on its `tiles:` lines.
    ///
    /// # Errors
    /// As [`Plan::new`]; [`Error::DeviceLimit`] naming the buffer, its size and the limit when
    /// something cannot be split: one column of `X`, `Y` or a temporary is longer than the
    /// limit, or a parameter of a leaf with its own lowering exceeds it.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{DType, Error, Op, Plan, plan::Limits};
    /// let limits = Limits::max_binding(2048, "clamp").unwrap();
    /// // A 40x40 dense operator (6400 bytes in f32) applied to 2 columns: row panels of A.
    /// let a = Op::dense(40, 40, vec![1.0; 1600]).unwrap();
    /// let t = Plan::tiled(&a, 40, 2, DType::F32, None, &limits).unwrap();
    /// assert!(t.plans()[0].explain().contains("4 row panels"));
    /// // One column of X of 1000 rows (4000 bytes) is over the limit and cannot be split.
    /// let big = Op::identity(1000).unwrap();
    /// assert!(matches!(
    ///     Plan::tiled(&big, 1000, 1, DType::F32, None, &limits),
    ///     Err(Error::DeviceLimit { .. })
    /// ));
    /// ```
    pub fn tiled(
        op: &Op,
        x_rows: usize,
        x_cols: usize,
        dtype: DType,
        model: Option<&CostModel>,
        limits: &Limits,
    ) -> Result<TiledPlan> {
        let Some(limit) = limits.max_binding_bytes() else {
            let plan = Self::build(op, x_rows, x_cols, dtype, model, None)?;
            return Ok(single(plan, x_cols));
        };
        let name = limits.name().unwrap_or("max binding");
        // Shapes first, so a wrong X is a shape error whatever the limit.
        Self::build_checks(op, x_rows, x_cols, dtype)?;
        let mut notes = Vec::new();
        let split = split_parameters(op, dtype, limits, &mut notes)?;
        let tiled_op = split.as_ref().unwrap_or(op);
        let mut width = x_cols;
        let mut largest = None;
        let plan = loop {
            let plan = Self::build(tiled_op, x_rows, width, dtype, model, Some(limit))?;
            let Some(over) = oversized(&plan, limit) else {
                break plan;
            };
            let per_column = over.bytes / over.cols.max(1) as u64;
            let unsplittable = !over.splits_with_columns || width == 1;
            if unsplittable {
                let what = if over.splits_with_columns {
                    format!("one column of {} ({} bytes)", over.what, per_column)
                } else {
                    over.what.clone()
                };
                return Err(Error::DeviceLimit {
                    what: format!("{what} of apply {}: it cannot be split", op.describe()),
                    requested: if over.splits_with_columns {
                        per_column
                    } else {
                        over.bytes
                    },
                    limit_name: name.to_string(),
                    limit,
                });
            }
            largest.get_or_insert_with(|| over.clone());
            let fit = (u128::from(limit) * width as u128 / u128::from(over.bytes)) as usize;
            width = fit.clamp(1, width - 1);
        };
        let count = x_cols.div_ceil(width);
        let (base, extra) = (x_cols / count, x_cols % count);
        let widths: Vec<usize> = (0..count).map(|k| base + usize::from(k < extra)).collect();
        if let Some(over) = &largest {
            notes.push(format!(
                "X[{x_rows}x{x_cols}] in {count} column panels of {} columns: {} is {} bytes, \
                 over the limit {limit} bytes ({name})",
                if extra > 0 && base > 0 {
                    format!("{}/{base}", base + 1)
                } else {
                    base.to_string()
                },
                over.what,
                over.bytes
            ));
        }
        let mut plans: Vec<Plan> = Vec::new();
        let mut panels = Vec::with_capacity(count);
        let mut start = 0;
        for w in widths {
            let k = match plans.iter().position(|p| p.shape_of(p.output()).1 == w) {
                Some(k) => k,
                None => {
                    let p = if w == width && plans.is_empty() && plan.shape_of(plan.output()).1 == w
                    {
                        plan.clone()
                    } else {
                        Self::build(tiled_op, x_rows, w, dtype, model, Some(limit))?
                    };
                    if let Some(over) = oversized(&p, limit) {
                        return Err(Error::DeviceLimit {
                            what: format!("{} of apply {}", over.what, op.describe()),
                            requested: over.bytes,
                            limit_name: name.to_string(),
                            limit,
                        });
                    }
                    plans.push(p);
                    plans.len() - 1
                }
            };
            panels.push(Panel {
                start,
                end: start + w,
                plan: k,
            });
            start += w;
        }
        for p in &mut plans {
            p.source = op.describe();
            p.tiles.clone_from(&notes);
        }
        Ok(TiledPlan {
            plans,
            panels,
            streaming: None,
        })
    }
}

fn single(plan: Plan, cols: usize) -> TiledPlan {
    TiledPlan {
        plans: vec![plan],
        panels: vec![Panel {
            start: 0,
            end: cols,
            plan: 0,
        }],
        streaming: None,
    }
}

/// The largest buffer of a plan over the limit.
#[derive(Debug, Clone)]
struct Oversized {
    what: String,
    bytes: u64,
    cols: usize,
    /// Whether the buffer shrinks with the panel width (X, Y, temporaries).
    splits_with_columns: bool,
}

fn oversized(plan: &Plan, limit: u64) -> Option<Oversized> {
    let elem = plan.dtype().size_bytes();
    plan.buffers()
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let (role, e, splits) = match &b.role {
                BufferRole::Input(_) => ("input block X".to_string(), elem, true),
                BufferRole::Output => ("output block Y".to_string(), elem, true),
                BufferRole::Temp => (format!("temporary t{i}"), elem, true),
                BufferRole::Param(_) => (format!("parameter array p{i}"), elem, false),
                BufferRole::Index(_) => (format!("index array i{i}"), INDEX_BYTES, false),
            };
            let bytes = (b.rows as u64)
                .saturating_mul(b.cols as u64)
                .saturating_mul(e);
            Oversized {
                what: format!("{role} ({}x{} {})", b.rows, b.cols, plan.dtype()),
                bytes,
                cols: b.cols,
                splits_with_columns: splits,
            }
        })
        .filter(|o| o.bytes > limit)
        .max_by_key(|o| o.bytes)
}

/// `op` with every parameter array larger than `limits` split into panels (see the module
/// docs), or `None` when nothing is over the limit. `notes` receives one line per split
/// parameter (what, its size, the panels).
///
/// # Errors
/// [`Error::DeviceLimit`] for a parameter that cannot be split: one of a leaf with its own
/// lowering, or one CSR row with more nonzeros than the limit holds.
///
/// # Examples
/// ```
/// use linops_core::{DType, Op, plan::{Limits, split_parameters}};
/// let a = Op::dense(40, 30, (0..1200).map(f64::from).collect()).unwrap();
/// let limits = Limits::max_binding(1024, "clamp").unwrap();
/// let mut notes = Vec::new();
/// let split = split_parameters(&a, DType::F32, &limits, &mut notes).unwrap().unwrap();
/// assert_eq!(split.to_dense().data(), a.to_dense().data()); // exact: selections of ones
/// assert_eq!(notes.len(), 1);
/// assert!(split_parameters(&a, DType::F32, &Limits::unlimited(), &mut notes).unwrap().is_none());
/// ```
pub fn split_parameters(
    op: &Op,
    dtype: DType,
    limits: &Limits,
    notes: &mut Vec<String>,
) -> Result<Option<Op>> {
    let Some(limit) = limits.max_binding_bytes() else {
        return Ok(None);
    };
    let cx = SplitCx {
        dtype,
        limit,
        name: limits.name().unwrap_or("max binding"),
    };
    cx.split(op, notes)
}

struct SplitCx<'a> {
    dtype: DType,
    limit: u64,
    name: &'a str,
}

impl SplitCx<'_> {
    /// Values of the plan's dtype one buffer holds, less one so that a panel's row pointers
    /// (one more than its rows, 4 bytes each) fit as well.
    fn capacity(&self) -> usize {
        let per = (self.limit / self.dtype.size_bytes()).min(self.limit / INDEX_BYTES);
        usize::try_from(per.saturating_sub(1))
            .unwrap_or(usize::MAX)
            .max(1)
    }

    fn bytes(&self, entries: usize) -> u64 {
        (entries as u64).saturating_mul(self.dtype.size_bytes())
    }

    fn split(&self, op: &Op, notes: &mut Vec<String>) -> Result<Option<Op>> {
        Ok(match op {
            Op::Scaled(s) => match self.split(s.inner(), notes)? {
                Some(inner) => Some(inner.scaled(s.factor())?),
                None => None,
            },
            Op::Transpose(t) => self.split(t.inner(), notes)?.map(|o| o.t()),
            Op::Product(p) => self
                .split_all(p.factors(), notes)?
                .map(Op::product)
                .transpose()?,
            Op::Sum(s) => self.split_all(s.terms(), notes)?.map(Op::sum).transpose()?,
            Op::Dense(d) => {
                let p = d.param();
                if self.bytes(p.data.len()) <= self.limit {
                    None
                } else {
                    Some(cached(
                        op_key(&p.data, p.key),
                        self.capacity(),
                        notes,
                        |n| self.split_dense(p.rows, p.cols, &p.data, n),
                    )?)
                }
            }
            Op::Diagonal(d) => {
                if self.bytes(d.values().len()) <= self.limit {
                    None
                } else {
                    Some(self.split_diagonal(d.values(), notes)?)
                }
            }
            Op::Identity(_) => None,
            Op::Leaf(leaf) => self.split_leaf(op, leaf, notes)?,
        })
    }

    fn split_all(&self, ops: &[Op], notes: &mut Vec<String>) -> Result<Option<Vec<Op>>> {
        let mut changed = false;
        let mut out = Vec::with_capacity(ops.len());
        for o in ops {
            match self.split(o, notes)? {
                Some(s) => {
                    changed = true;
                    out.push(s);
                }
                None => out.push(o.clone()),
            }
        }
        Ok(changed.then_some(out))
    }

    fn split_leaf(
        &self,
        op: &Op,
        leaf: &Arc<dyn LeafOp>,
        notes: &mut Vec<String>,
    ) -> Result<Option<Op>> {
        let Some((what, bytes)) = largest_parameter(leaf.as_ref(), self.dtype)? else {
            return Ok(None);
        };
        if bytes <= self.limit {
            return Ok(None);
        }
        if let Some(csr) = op.leaf_as::<Csr>() {
            let owner = Owner::Leaf(
                Arc::downgrade(leaf),
                Arc::as_ptr(leaf) as *const () as usize,
            );
            return Ok(Some(cached(owner, self.capacity(), notes, |n| {
                self.split_csr(csr, n)
            })?));
        }
        if let Some(lr) = op.leaf_as::<LowRank>() {
            // U·diag(s)·Vᵀ as the product it lowers to, its dense factors split.
            let owner = Owner::Leaf(
                Arc::downgrade(leaf),
                Arc::as_ptr(leaf) as *const () as usize,
            );
            return Ok(Some(cached(owner, self.capacity(), notes, |n| {
                let (u, s, v) = lr.factors();
                let product = Op::product(vec![
                    Op::from_host(u)?,
                    Op::diagonal(s)?,
                    Op::from_host(v)?.t(),
                ])?;
                Ok(self.split(&product, n)?.unwrap_or(product))
            })?));
        }
        if let Some(r) = leaf.rewrite() {
            return Ok(Some(self.split(&r, notes)?.unwrap_or(r)));
        }
        Err(Error::DeviceLimit {
            what: format!(
                "{what} of {} ({}x{}): a {} lowers itself and cannot be split",
                leaf.name(),
                leaf.shape().0,
                leaf.shape().1,
                leaf.name()
            ),
            requested: bytes,
            limit_name: self.name.to_string(),
            limit: self.limit,
        })
    }

    /// `A = Σ_{I,K} E_I·A[I,K]·G_K` for a column-major `rows×cols` `A`.
    fn split_dense(
        &self,
        rows: usize,
        cols: usize,
        data: &[f64],
        notes: &mut Vec<String>,
    ) -> Result<Op> {
        let cap = self.capacity();
        let (h, w) = if cols <= cap {
            ((cap / cols).max(1), cols)
        } else {
            let w = cols.div_ceil(cols.div_ceil(cap));
            ((cap / w).max(1), w)
        };
        let row_panels = balanced(rows, rows.div_ceil(h));
        let col_panels = balanced(cols, cols.div_ceil(w));
        notes.push(format!(
            "dense {rows}x{cols} ({} bytes in {}) over the limit {} bytes ({}): {} row panels{}",
            self.bytes(rows * cols),
            self.dtype,
            self.limit,
            self.name,
            row_panels.len(),
            if col_panels.len() > 1 {
                format!(
                    " × {} column panels (K-split, accumulated)",
                    col_panels.len()
                )
            } else {
                String::new()
            }
        ));
        let mut terms = Vec::with_capacity(row_panels.len() * col_panels.len());
        for &(r0, r1) in &row_panels {
            for &(c0, c1) in &col_panels {
                let mut block = Vec::with_capacity((r1 - r0) * (c1 - c0));
                for j in c0..c1 {
                    block.extend_from_slice(&data[j * rows + r0..j * rows + r1]);
                }
                let mut factors = Vec::with_capacity(3);
                if row_panels.len() > 1 {
                    factors.push(place(rows, r0, r1)?);
                }
                factors.push(Op::dense(r1 - r0, c1 - c0, block)?);
                if col_panels.len() > 1 {
                    factors.push(take(cols, c0, c1)?);
                }
                terms.push(product(factors)?);
            }
        }
        sum(terms)
    }

    /// `D = Σ_I E_I·D_I·G_I`.
    fn split_diagonal(&self, d: &[f64], notes: &mut Vec<String>) -> Result<Op> {
        let n = d.len();
        let panels = balanced(n, n.div_ceil(self.capacity()));
        notes.push(format!(
            "diagonal {n} ({} bytes in {}) over the limit {} bytes ({}): {} panels",
            self.bytes(n),
            self.dtype,
            self.limit,
            self.name,
            panels.len()
        ));
        let terms = panels
            .iter()
            .map(|&(a, b)| {
                product(vec![
                    place(n, a, b)?,
                    Op::diagonal(d[a..b].to_vec())?,
                    take(n, a, b)?,
                ])
            })
            .collect::<Result<Vec<_>>>()?;
        sum(terms)
    }

    /// `A = Σ_I E_I·A[I,:]`, panels of consecutive rows holding at most the capacity's nonzeros.
    fn split_csr(&self, csr: &Csr, notes: &mut Vec<String>) -> Result<Op> {
        let (rows, cols) = csr.shape();
        let (indptr, indices, values) = csr.arrays();
        let cap = self.capacity();
        let mut panels = Vec::new();
        let mut start = 0;
        while start < rows {
            let mut end = start;
            while end < rows && indptr[end + 1] - indptr[start] <= cap && end - start < cap {
                end += 1;
            }
            if end == start {
                return Err(Error::DeviceLimit {
                    what: format!(
                        "row {start} of a {rows}x{cols} CSR matrix ({} nonzeros): one row cannot \
                         be split",
                        indptr[start + 1] - indptr[start]
                    ),
                    requested: self.bytes(indptr[start + 1] - indptr[start]),
                    limit_name: self.name.to_string(),
                    limit: self.limit,
                });
            }
            panels.push((start, end));
            start = end;
        }
        notes.push(format!(
            "csr {rows}x{cols} ({} nonzeros, {} bytes of values in {}) over the limit {} bytes \
             ({}): {} row panels",
            indptr[rows],
            self.bytes(indptr[rows]),
            self.dtype,
            self.limit,
            self.name,
            panels.len()
        ));
        let terms = panels
            .iter()
            .map(|&(a, b)| {
                let (p0, p1) = (indptr[a], indptr[b]);
                let panel = Op::csr(
                    b - a,
                    cols,
                    indptr[a..=b].iter().map(|p| p - p0).collect(),
                    indices[p0..p1].to_vec(),
                    values[p0..p1].to_vec(),
                )?;
                if panels.len() > 1 {
                    product(vec![place(rows, a, b)?, panel])
                } else {
                    Ok(panel)
                }
            })
            .collect::<Result<Vec<_>>>()?;
        sum(terms)
    }
}

/// The largest parameter or index array `leaf` lowers to (either orientation), with its bytes.
fn largest_parameter(leaf: &dyn LeafOp, dtype: DType) -> Result<Option<(String, u64)>> {
    let (rows, cols) = leaf.shape();
    let mut best: Option<(String, u64)> = None;
    for transposed in [false, true] {
        let mut cx = Lowering::new(dtype, 1, Some(super::lower_sub));
        let (xr, yr) = if transposed {
            (rows, cols)
        } else {
            (cols, rows)
        };
        let x = cx.buffer(xr, 1, BufferRole::Input(0));
        let y = cx.buffer(yr, 1, BufferRole::Output);
        leaf.lower(&mut cx, transposed, x, y, 1.0, 0.0)?;
        for b in &cx.buffers {
            let (kind, e) = match &b.role {
                BufferRole::Param(_) => ("parameter array", dtype.size_bytes()),
                BufferRole::Index(_) => ("index array", INDEX_BYTES),
                _ => continue,
            };
            let bytes = (b.rows as u64)
                .saturating_mul(b.cols as u64)
                .saturating_mul(e);
            if best.as_ref().is_none_or(|(_, b0)| bytes > *b0) {
                best = Some((format!("{kind} ({}x{})", b.rows, b.cols), bytes));
            }
        }
    }
    Ok(best)
}

/// Balanced ranges: `n` split into `parts` consecutive ranges whose lengths differ by at most 1.
fn balanced(n: usize, parts: usize) -> Vec<(usize, usize)> {
    let parts = parts.clamp(1, n.max(1));
    let (base, extra) = (n / parts, n % parts);
    let mut out = Vec::with_capacity(parts);
    let mut start = 0;
    for k in 0..parts {
        let len = base + usize::from(k < extra);
        out.push((start, start + len));
        start += len;
    }
    out
}

/// `E` (`n × (b − a)`): places a block's rows at rows `a..b` of an `n`-row result.
fn place(n: usize, a: usize, b: usize) -> Result<Op> {
    let indptr = (0..=n).map(|i| i.clamp(a, b) - a).collect();
    Op::csr(n, b - a, indptr, (0..b - a).collect(), vec![1.0; b - a])
}

/// `G` (`(b − a) × n`): takes rows `a..b` of an `n`-row block.
fn take(n: usize, a: usize, b: usize) -> Result<Op> {
    Op::csr(
        b - a,
        n,
        (0..=b - a).collect(),
        (a..b).collect(),
        vec![1.0; b - a],
    )
}

fn product(mut factors: Vec<Op>) -> Result<Op> {
    if factors.len() == 1 {
        return Ok(factors.swap_remove(0));
    }
    Op::product(factors)
}

fn sum(mut terms: Vec<Op>) -> Result<Op> {
    if terms.len() == 1 {
        return Ok(terms.swap_remove(0));
    }
    Op::sum(terms)
}

/// What a cached split belongs to: a parameter array (dense) or a leaf (CSR), held weakly, with
/// a key that tells two owners apart while both live.
enum Owner {
    Data(Weak<[f64]>, u64),
    Leaf(Weak<dyn LeafOp>, usize),
}

impl Owner {
    fn alive(&self) -> bool {
        match self {
            Owner::Data(w, _) => w.strong_count() > 0,
            Owner::Leaf(w, _) => w.strong_count() > 0,
        }
    }
    fn same(&self, other: &Owner) -> bool {
        match (self, other) {
            (Owner::Data(_, a), Owner::Data(_, b)) => a == b,
            (Owner::Leaf(_, a), Owner::Leaf(_, b)) => a == b,
            _ => false,
        }
    }
}

fn op_key(data: &Arc<[f64]>, key: u64) -> Owner {
    Owner::Data(Arc::downgrade(data), key)
}

type SplitCache = Mutex<Vec<(Owner, usize, Op, Vec<String>)>>;

/// The split of `owner` for `capacity` values per buffer, built once while the owner lives (so
/// later plans reuse the panels' parameter keys and a backend keeps their uploads); its notes
/// are appended to `notes`.
fn cached(
    owner: Owner,
    capacity: usize,
    notes: &mut Vec<String>,
    build: impl FnOnce(&mut Vec<String>) -> Result<Op>,
) -> Result<Op> {
    static CACHE: OnceLock<SplitCache> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(Vec::new()));
    {
        let mut c = cache.lock().unwrap_or_else(|e| e.into_inner());
        c.retain(|(o, ..)| o.alive());
        if let Some((_, _, op, n)) = c
            .iter()
            .find(|(o, cap, ..)| o.same(&owner) && *cap == capacity)
        {
            notes.extend(n.iter().cloned());
            return Ok(op.clone());
        }
    }
    let mut own = Vec::new();
    let op = build(&mut own)?;
    notes.extend(own.iter().cloned());
    let mut c = cache.lock().unwrap_or_else(|e| e.into_inner());
    c.push((owner, capacity, op.clone(), own));
    Ok(op)
}
