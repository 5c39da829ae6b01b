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
use linops_core::plan::{Limits, MAX_DEVICE_ENV, Streaming, TiledPlan};
use linops_core::{DType, Element, Error, Op, Result};
use std::sync::atomic::Ordering;

/// The smallest device memory clamp accepted.
const MIN_DEVICE_BYTES: u64 = 4096;

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

    /// The device memory the planner sizes resident data for: the tightest of the
    /// `LINOPS_MAX_DEVICE_BYTES` clamp and [`Engine::set_max_device_bytes`], `None` when neither
    /// is set (wgpu does not report a device's memory size, so the GPU engine has no default).
    /// A dense operand that does not fit beside `X` and `Y` is streamed from the host in row
    /// panels ([`linops_core::plan::Streaming`]).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a `LINOPS_MAX_DEVICE_BYTES` that is not a number of bytes.
    ///
    /// # Examples
    /// ```
    /// let e = linops::Engine::cpu();
    /// e.set_max_device_bytes(Some(1 << 20)).unwrap();
    /// assert!(e.max_device_bytes().unwrap() <= Some(1 << 20));
    /// ```
    pub fn max_device_bytes(&self) -> Result<Option<u64>> {
        Ok(self.device_budget()?.map(|(b, _)| b))
    }

    /// The device memory budget and where it comes from.
    fn device_budget(&self) -> Result<Option<(u64, &'static str)>> {
        let env = match std::env::var(MAX_DEVICE_ENV) {
            Err(_) => None,
            Ok(v) if v.trim().is_empty() => None,
            Ok(v) => match v.trim().parse::<u64>() {
                Ok(b) if b >= MIN_DEVICE_BYTES => Some((b, MAX_DEVICE_ENV)),
                _ => {
                    return Err(Error::InvalidArgument(format!(
                        "{MAX_DEVICE_ENV}={v:?}: expected a number of bytes (at least \
                         {MIN_DEVICE_BYTES})"
                    )));
                }
            },
        };
        let clamp = self.device_clamp.load(Ordering::Relaxed);
        let set = (clamp > 0).then_some((clamp, "Engine::set_max_device_bytes"));
        Ok(match (env, set) {
            (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
            (a, b) => a.or(b),
        })
    }

    /// Lowers the device memory the planner sees to `bytes` on this engine (`None` lifts the
    /// clamp): a dense operand that does not fit beside `X` and `Y` then stays on the host and is
    /// streamed through the device in row panels, at most two at once. On a GPU engine the
    /// device's buffer pool is held under the same budget (it frees cached buffers rather than
    /// pass it), and [`linops_gpu::PoolStats::peak_bytes`] shows what was allocated.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for fewer than 4096 bytes.
    ///
    /// # Examples
    /// ```
    /// use linops::{Engine, Op, faer::Mat};
    /// let e = Engine::cpu();
    /// e.set_max_device_bytes(Some(64 * 1024)).unwrap();
    /// let a = Op::dense(400, 100, (0..40_000).map(|v| f64::from(v % 7)).collect()).unwrap();
    /// let t = e.tiled_plan::<f64>(&a, 100, 2).unwrap();
    /// assert!(t.streaming().unwrap().panels > 1);
    /// assert!(t.explain().contains("streamed from the host in"));
    /// let x = Mat::<f64>::from_fn(100, 2, |i, j| (i + j) as f64);
    /// assert_eq!(e.apply(&a, x.as_ref()).unwrap(), linops::to_faer(&a) * &x);
    /// assert!(e.set_max_device_bytes(Some(8)).is_err());
    /// ```
    pub fn set_max_device_bytes(&self, bytes: Option<u64>) -> Result<()> {
        let v = match bytes {
            None => 0,
            Some(b) if b >= MIN_DEVICE_BYTES => b,
            Some(b) => {
                return Err(Error::InvalidArgument(format!(
                    "Engine::set_max_device_bytes({b}): at least {MIN_DEVICE_BYTES} bytes"
                )));
            }
        };
        self.device_clamp.store(v, Ordering::Relaxed);
        #[cfg(feature = "gpu")]
        if let Some(g) = self.gpu_backend() {
            g.gpu().set_pool_budget(bytes);
        }
        Ok(())
    }

    pub(crate) fn tiled_plan_in(
        &self,
        op: &Op,
        x_rows: usize,
        x_cols: usize,
        dtype: DType,
    ) -> Result<TiledPlan> {
        let tiled = self.tiled_plan_resident(op, x_rows, x_cols, dtype)?;
        let Some((budget, name)) = self.device_budget()? else {
            return Ok(tiled);
        };
        let Some((param, _)) = streamed_operand(op) else {
            return Ok(tiled);
        };
        let streaming = Streaming::plan(param.rows, param.cols, x_cols, dtype, budget, name)?;
        if streaming.is_some() && tiled.panels().len() > 1 {
            return Err(Error::DeviceLimit {
                what: format!(
                    "streaming the dense {}x{} operand while X ({x_rows}x{x_cols} {dtype}) is \
                     itself split in column panels: apply fewer columns at a time",
                    param.rows, param.cols
                ),
                requested: (param.rows as u64)
                    .saturating_mul(param.cols as u64)
                    .saturating_mul(dtype.size_bytes()),
                limit_name: name.to_string(),
                limit: budget,
            });
        }
        Ok(tiled.with_streaming(streaming))
    }

    /// The tiled plan for the binding limits alone (nothing streamed).
    fn tiled_plan_resident(
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
        if let Some(xm) = self.upload_rows_cpu(x)? {
            let tiled = self.tiled_plan_in(op, rows, cols, xm.dtype())?;
            let ym = self.run_tiled(op, &tiled, &xm)?;
            return self.returned::<T>(ym);
        }
        let data = super::dispatch::host_data(x)?;
        let dtype = self.compute_dtype::<T>()?;
        let tiled = self.tiled_plan_in(op, rows, cols, dtype)?;
        let y_rows = op.shape().0;
        let y = if let Some(st) = tiled.streaming() {
            let xm = self.dispatch(dtype, Upload { rows, cols, data })?;
            self.run_streamed(op, st, &xm)?
        } else if tiled.panels().len() == 1 {
            // One plan: the result comes back as `T` (the dtype it was computed in), not through
            // `f64`; on the CPU it is the plan's output itself (counted as the download it
            // stands for).
            let xm = self.dispatch(dtype, Upload { rows, cols, data })?;
            let ym = self.run(&tiled.plans()[0], &[&xm])?;
            return self.returned::<T>(ym);
        } else {
            self.run_panels(&tiled, rows, &data, dtype)?
        };
        Ok(Mat::from_fn(y_rows, cols, |i, j| {
            T::from_f64(y[i + j * y_rows])
        }))
    }

    /// A result back on the host as `T` (the dtype it was computed in, not through `f64`); on
    /// the CPU the matrix itself, counted as the download it stands for.
    fn returned<T: Scalar>(&self, ym: Matrix) -> Result<Mat<T>> {
        let dtype = ym.dtype();
        match ym.into_cpu::<T>() {
            Ok(y) => {
                self.counter
                    .download((y.nrows() * y.ncols()) as u64 * dtype.size_bytes());
                Ok(y)
            }
            Err(ym) => self.download::<T>(&ym),
        }
    }

    /// On the CPU, a row-major `x` (contiguous rows: a C-order NumPy array, a transposed view)
    /// transposed straight into the backend's storage of its shape
    /// (`linops_cpu::transpose::rows_to_mat`: kept storage of a dropped matrix, no staging copy)
    /// and checked finite there; `None` for any other `x` or engine (the general upload). At
    /// 3584x1024 f32 (`hadamard28`, alternated, 2026-12-03), `apply` from a row-major `x`
    /// took at best 4.2-4.3 ms through a column-major staging copy, 3.1-3.2 ms this way.
    ///
    /// # Errors
    /// [`Error::NonFinite`] at the entry's coordinates in `x`.
    pub(crate) fn upload_rows_cpu<T: Scalar>(&self, x: MatRef<'_, T>) -> Result<Option<Matrix>> {
        let (rows, cols) = (x.nrows(), x.ncols());
        if self.kind() != crate::BackendKind::Cpu
            || rows == 0
            || cols == 0
            || x.try_as_col_major().is_some()
            || self.compute_dtype::<T>()? != T::DTYPE
        {
            return Ok(None);
        }
        let Some(m) = linops_cpu::transpose::rows_to_mat(x) else {
            return Ok(None);
        };
        for j in 0..cols {
            let col = m
                .col(j)
                .try_as_col_major()
                .expect("an owned matrix's column");
            if let Err(Error::NonFinite { row, value, .. }) =
                linops_core::check_finite("input matrix", rows, col.as_slice())
            {
                return Err(Error::NonFinite {
                    context: "input matrix".into(),
                    row,
                    col: j,
                    value,
                });
            }
        }
        self.counter
            .upload((rows * cols) as u64 * T::DTYPE.size_bytes());
        Ok(Some(Matrix::from_cpu(m)))
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
        if let Some(st) = tiled.streaming() {
            let y = self.run_streamed(op, st, x)?;
            return self.dispatch(
                x.dtype(),
                Upload {
                    rows: st.rows,
                    cols: x.shape().1,
                    data: y.into(),
                },
            );
        }
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
                data: y.into(),
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
            let xm = self.dispatch(
                dtype,
                Upload {
                    rows,
                    cols: p.end - p.start,
                    data: data[p.start * rows..p.end * rows].into(),
                },
            )?;
            let ym = self.run(&tiled.plans()[p.plan], &[&xm])?;
            let v = self.download_vec(&ym)?;
            y[p.start * y_rows..p.end * y_rows].copy_from_slice(&v);
        }
        Ok(y)
    }

    /// `op · x` with `op`'s dense operand streamed from the host in the row panels of `st`
    /// (`x` resident): `Y` in `f64`, column-major.
    ///
    /// Order, per panel `k`: gather its rows on the host, plan it, run it (its upload is a
    /// `queue.write_buffer`, staged at once and copied to the device ahead of the panel's
    /// compute in queue order), submit the copy of `Y_k` to a readback buffer, then wait for the
    /// copy of `Y_{k−1}` only. So on wgpu the device computes panel `k` while the host reads
    /// `Y_{k−1}` back and gathers panel `k + 1`; the upload itself is not concurrent with a
    /// compute (one queue: a staged copy runs between submissions), and the CPU engine runs
    /// the panels one after the other. Panel `k − 1`'s buffers return to the pool once its
    /// plan is dropped, so at most two panels are allocated at once.
    fn run_streamed(&self, op: &Op, st: &Streaming, x: &Matrix) -> Result<Vec<f64>> {
        let Some((param, alpha)) = streamed_operand(op) else {
            return Err(Error::InvalidArgument(format!(
                "streaming {}: only a dense operand (or a scaled one) is streamed",
                op.describe()
            )));
        };
        let (m, n) = (st.rows, st.cols);
        let (c, dtype) = (x.shape().1, x.dtype());
        let mut y = vec![0.0f64; m * c];
        let mut pending: Option<(std::ops::Range<usize>, Pending)> = None;
        for rows in st.row_panels() {
            let r = rows.len();
            let data: Vec<f64> = (0..n)
                .flat_map(|j| {
                    param.data[j * m + rows.start..j * m + rows.end]
                        .iter()
                        .copied()
                })
                .collect();
            let mut panel = Op::dense(r, n, data)?;
            if alpha != 1.0 {
                panel = panel.scaled(alpha)?;
            }
            self.counter.upload(
                (r as u64)
                    .saturating_mul(n as u64)
                    .saturating_mul(dtype.size_bytes()),
            );
            let plan = self.tiled_plan_resident(&panel, n, c, dtype)?;
            let yk = self.run_tiled(&panel, &plan, x)?;
            let started = self.start_download(&yk)?;
            if let Some((prev, p)) = pending.take() {
                self.finish_download(p, prev, m, &mut y)?;
            }
            pending = Some((rows, started));
        }
        if let Some((prev, p)) = pending.take() {
            self.finish_download(p, prev, m, &mut y)?;
        }
        Ok(y)
    }

    /// Starts reading `m` back: on the GPU the copy is submitted and not waited for.
    fn start_download(&self, m: &Matrix) -> Result<Pending> {
        #[cfg(feature = "gpu")]
        if let (Some(g), crate::matrix::MatData::Gpu(gm)) = (self.gpu_backend(), &m.data) {
            self.counter.download(gm.byte_len());
            return Ok(Pending::Gpu(g.gpu().start_download(gm)?, gm.rows()));
        }
        let (rows, _) = m.shape();
        Ok(Pending::Host(self.download_vec(m)?, rows))
    }

    /// Waits for a download and writes it into rows `rows` of the `m`-row column-major `y`.
    fn finish_download(
        &self,
        p: Pending,
        rows: std::ops::Range<usize>,
        m: usize,
        y: &mut [f64],
    ) -> Result<()> {
        let (v, r): (Vec<f64>, usize) = match p {
            Pending::Host(v, r) => (v, r),
            #[cfg(feature = "gpu")]
            Pending::Gpu(d, r) => {
                let g = self.gpu_backend().ok_or_else(|| {
                    Error::InvalidArgument("a GPU download on a CPU engine".into())
                })?;
                let v = g.gpu().finish_download(d)?;
                (v.into_iter().map(f64::from).collect(), r)
            }
        };
        for (j, col) in v.chunks(r.max(1)).enumerate() {
            y[j * m + rows.start..j * m + rows.end].copy_from_slice(col);
        }
        Ok(())
    }
}

/// A download in flight: values already on the host (CPU), or a submitted GPU copy; with the
/// matrix's row count.
enum Pending {
    Host(Vec<f64>, usize),
    #[cfg(feature = "gpu")]
    Gpu(linops_gpu::pool::PendingDownload, usize),
}

/// The dense operand of `op` that streaming can split in row panels, with the scale applied to
/// it: a dense leaf or a scaled one.
fn streamed_operand(op: &Op) -> Option<(&linops_core::lower::Param, f64)> {
    match op {
        Op::Dense(d) => Some((d.param(), 1.0)),
        Op::Scaled(s) => match s.inner() {
            Op::Dense(d) => Some((d.param(), s.factor())),
            _ => None,
        },
        _ => None,
    }
}
