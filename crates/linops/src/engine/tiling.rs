//! Tiling on the engine: the limits its planner sees, and applies run panel by panel.
//!
//! The planner splits parameters larger than the engine's binding limit into panels inside one
//! plan, and the columns of `X` into panels when `X`, `Y` or a temporary is over the limit
//! ([`linops_core::plan::TiledPlan`]). A column-tiled apply from the host uploads each panel of
//! `X`, runs its plan and downloads its panel of `Y`, so neither `X` nor `Y` is ever one
//! buffer. The limit is the tightest of the GPU's largest binding (none on the CPU), the
//! `LINOPS_MAX_BINDING_BYTES` clamp and [`Engine::set_max_binding_bytes`].

use super::dispatch::Upload;
use crate::{Engine, Matrix, Scalar};
use faer::{Mat, MatRef};
use linops_core::plan::{Limits, TiledPlan};
use linops_core::{DType, Element, Error, Op, Result};
use std::sync::atomic::Ordering;

impl Engine {
    /// The limits this engine's planner tiles for: the tightest of the GPU's largest binding
    /// (`max_storage_buffer_binding_size`, `max_buffer_size`, [`crate::DeviceOptions`]'s clamp;
    /// the CPU backend has none), the `LINOPS_MAX_BINDING_BYTES` clamp and
    /// [`Engine::set_max_binding_bytes`].
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a `LINOPS_MAX_BINDING_BYTES` that is not a number of bytes.
    ///
    /// # Examples
    /// ```
    /// let e = linops::Engine::cpu();
    /// e.set_max_binding_bytes(Some(1 << 20)).unwrap();
    /// assert!(e.limits().unwrap().max_binding_bytes() <= Some(1 << 20));
    /// ```
    pub fn limits(&self) -> Result<Limits> {
        let mut limits = Limits::from_env()?;
        let clamp = self.binding_clamp.load(Ordering::Relaxed);
        if clamp > 0 {
            limits = limits.min(Limits::max_binding(clamp, "Engine::set_max_binding_bytes")?);
        }
        #[cfg(feature = "gpu")]
        if let Some(g) = self.gpu_backend() {
            let (bytes, name) = g.gpu().binding_limit();
            limits = limits.min(Limits::max_binding(bytes, name)?);
        }
        Ok(limits)
    }

    /// Lowers the binding limit the planner sees to `bytes` on this engine (`None` lifts the
    /// clamp), so that plans are tiled as on a device with bindings that small: what the tests
    /// use to run every operator tiled at small sizes. A GPU device keeps its own limit; open it
    /// with [`crate::DeviceOptions::with_max_binding_bytes`] to clamp the device as well.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for fewer than [`linops_core::plan::MIN_BINDING_BYTES`] bytes.
    ///
    /// # Examples
    /// ```
    /// use linops::{Engine, Op, faer::Mat};
    /// let e = Engine::cpu();
    /// e.set_max_binding_bytes(Some(4096)).unwrap();
    /// let a = Op::dense(100, 100, (0..10_000).map(|v| f64::from(v % 7)).collect()).unwrap();
    /// let x = Mat::<f64>::from_fn(100, 30, |i, j| (i + j) as f64);
    /// assert!(e.tiled_plan::<f64>(&a, 100, 30).unwrap().is_tiled());
    /// let y = e.apply(&a, x.as_ref()).unwrap();
    /// assert_eq!(y, linops::to_faer(&a) * &x); // row panels: the same dot products
    /// assert!(e.set_max_binding_bytes(Some(8)).is_err());
    /// ```
    pub fn set_max_binding_bytes(&self, bytes: Option<u64>) -> Result<()> {
        let v = match bytes {
            None => 0,
            Some(b) => Limits::max_binding(b, "Engine::set_max_binding_bytes")?
                .max_binding_bytes()
                .unwrap_or(0),
        };
        self.binding_clamp.store(v, Ordering::Relaxed);
        Ok(())
    }

    /// The tiled plan this engine runs for `op · X` with `X` of `x_rows × x_cols` in type `T`:
    /// its column panels and their plans, whose `explain()` says what was split and why.
    ///
    /// # Errors
    /// As [`Engine::plan`]; [`Error::DeviceLimit`] for what cannot be split (one column of `X`,
    /// `Y` or a temporary over the limit; an oversized parameter of a leaf that lowers itself).
    ///
    /// # Examples
    /// ```
    /// let e = linops::Engine::cpu();
    /// let t = e.tiled_plan::<f32>(&linops::Op::identity(3).unwrap(), 3, 2).unwrap();
    /// assert_eq!(t.panels().len(), 1);
    /// println!("{}", t.explain());
    /// ```
    pub fn tiled_plan<T: Scalar>(
        &self,
        op: &Op,
        x_rows: usize,
        x_cols: usize,
    ) -> Result<TiledPlan> {
        self.tiled_plan_in(op, x_rows, x_cols, self.compute_dtype::<T>()?)
    }

    pub(crate) fn tiled_plan_in(
        &self,
        op: &Op,
        x_rows: usize,
        x_cols: usize,
        dtype: DType,
    ) -> Result<TiledPlan> {
        let limits = self.limits()?;
        let model = self.cost.read().unwrap_or_else(|e| e.into_inner());
        // Every apply from the front doors plans here: counted, so that a driver that re-plans
        // per iteration shows it in `Engine::transfers`.
        self.counter.plan();
        linops_core::Plan::tiled(op, x_rows, x_cols, dtype, Some(&model), &limits)
    }

    /// `op · x` from the host: one plan, or one upload, plan and download per column panel.
    pub(crate) fn apply_host<T: Scalar>(&self, op: &Op, x: MatRef<'_, T>) -> Result<Mat<T>> {
        let (rows, cols) = (x.nrows(), x.ncols());
        let data = super::dispatch::host_data(x)?;
        let dtype = self.compute_dtype::<T>()?;
        let tiled = self.tiled_plan_in(op, rows, cols, dtype)?;
        let y_rows = op.shape().0;
        let y = if tiled.panels().len() == 1 {
            let xm = self.dispatch(dtype, Upload { rows, cols, data })?;
            let ym = self.run(&tiled.plans()[0], &[&xm])?;
            self.download_vec(&ym)?
        } else {
            self.run_panels(&tiled, rows, &data, dtype)?
        };
        Ok(Mat::from_fn(y_rows, cols, |i, j| {
            T::from_f64(y[i + j * y_rows])
        }))
    }

    /// `op · x` for a resident `x`: one plan, or (when the columns must be split and `Y` still
    /// fits one buffer) the panels run from a host copy of `x`, and `Y` uploaded.
    pub(crate) fn apply_resident(&self, op: &Op, x: &Matrix) -> Result<Matrix> {
        self.resident("apply", &[x])?;
        let (rows, cols) = x.shape();
        let tiled = self.tiled_plan_in(op, rows, cols, x.dtype())?;
        self.run_tiled(op, &tiled, x)
    }

    /// Runs a tiled plan of `op` (built for `x`'s shape and dtype) on a resident `x`: the one
    /// plan, or the column panels from a host copy of `x` with `Y` uploaded (see
    /// [`Engine::apply_to`]). Drivers that apply one operator many times build the tiled plan
    /// once and call this.
    pub(crate) fn run_tiled(&self, op: &Op, tiled: &TiledPlan, x: &Matrix) -> Result<Matrix> {
        if tiled.panels().len() == 1 {
            return self.run(&tiled.plans()[0], &[x]);
        }
        let (rows, cols) = x.shape();
        let dtype = x.dtype();
        let y_rows = op.shape().0;
        let y_bytes = (y_rows as u64)
            .saturating_mul(cols as u64)
            .saturating_mul(dtype.size_bytes());
        let limits = self.limits()?;
        if let Some(limit) = limits.max_binding_bytes().filter(|&l| y_bytes > l) {
            return Err(Error::DeviceLimit {
                what: format!(
                    "output block Y ({y_rows}x{cols} {dtype}) of apply {} on a resident X: a \
                     resident matrix is one buffer; apply it from the host (Engine::apply) to get \
                     Y in column panels",
                    op.describe()
                ),
                requested: y_bytes,
                limit_name: limits.name().unwrap_or("max binding").to_string(),
                limit,
            });
        }
        let host = self.download_vec(x)?;
        let y = self.run_panels(tiled, rows, &host, dtype)?;
        self.dispatch(
            dtype,
            Upload {
                rows: y_rows,
                cols,
                data: y,
            },
        )
    }

    /// Runs every column panel of `tiled` on the columns of the column-major `rows`-row `data`:
    /// `Y` in `f64`, column-major.
    fn run_panels<E: Element>(
        &self,
        tiled: &TiledPlan,
        rows: usize,
        data: &[E],
        dtype: DType,
    ) -> Result<Vec<f64>> {
        let first = &tiled.plans()[0];
        let y_rows = first.shape_of(first.output()).0;
        let cols = tiled.panels().last().map_or(0, |p| p.end);
        let mut y = vec![0.0f64; y_rows * cols];
        for p in tiled.panels() {
            let panel = data[p.start * rows..p.end * rows].to_vec();
            let xm = self.dispatch(
                dtype,
                Upload {
                    rows,
                    cols: p.end - p.start,
                    data: panel,
                },
            )?;
            let ym = self.run(&tiled.plans()[p.plan], &[&xm])?;
            let v = self.download_vec(&ym)?;
            y[p.start * y_rows..p.end * y_rows].copy_from_slice(&v);
        }
        Ok(y)
    }
}
