//! The subcommands: open the input, pick the engine and the path (in memory through the library's
//! drivers, or past memory through [`crate::stream`]), write the outputs atomically, print the
//! summary.

use crate::budget::{default_budget, parse_bytes, peak_rss, rss};
use crate::error::{CliError, CliResult};
use crate::input::{self, Axis, Dense, Num, Source};
use crate::output::{Container, OutFile, RowSink, container};
use crate::progress::Spinner;
use crate::stream::{self, StreamParams};
use crate::{Backend, Command, Common, Dtype, Side, SketchKind, SvdArgs};
use linops::faer::Mat;
use linops::prelude::*;
use linops::randnla::lstsq::lstsq;
use linops::randnla::matfun::polar_newton_schulz;
use linops::randnla::svd::{SvdOptions, block_krylov_svd, randomized_svd};
use linops::randnla::trace::{hutch_plus_plus, hutchinson};
use linops::stream::{SketchAccumulator, SketchFamily, SketchSpec};
use linops::{BackendKind, HostMat};
use serde_json::{Map, Value, json};
use std::path::Path;
use std::time::Instant;

/// The one-line summary, built up by a command.
struct Summary(Map<String, Value>);

impl Summary {
    fn set(&mut self, k: &str, v: impl Into<Value>) {
        self.0.insert(k.to_string(), v.into());
    }

    fn print(mut self, c: &Common, start: Instant) {
        self.set(
            "time_s",
            (start.elapsed().as_secs_f64() * 1e4).round() / 1e4,
        );
        if let Some(p) = peak_rss() {
            self.set("peak_rss_bytes", p);
        }
        if c.json {
            println!("{}", Value::Object(self.0));
        } else {
            for (k, v) in &self.0 {
                match v {
                    Value::String(s) => println!("{k}: {s}"),
                    other => println!("{k}: {other}"),
                }
            }
        }
    }
}

/// Runs one subcommand.
///
/// # Errors
/// Every failure, as one line naming the file or option.
pub fn run(cmd: &Command, c: &Common) -> CliResult<()> {
    let start = Instant::now();
    let mut s = Summary(Map::new());
    match cmd {
        Command::Info { file } => info(file, &mut s)?,
        Command::Svd(a) => with_engine(c, &mut s, |e, dt, s| match dt {
            Dtype::F32 => svd::<f32>(a, false, c, e, s),
            Dtype::F64 => svd::<f64>(a, false, c, e, s),
        })?,
        Command::Pca(a) => with_engine(c, &mut s, |e, dt, s| match dt {
            Dtype::F32 => svd::<f32>(a, true, c, e, s),
            Dtype::F64 => svd::<f64>(a, true, c, e, s),
        })?,
        Command::Sketch {
            file,
            kind,
            dim,
            side,
            nnz,
            stream,
            out,
        } => {
            let args = SketchArgs {
                file,
                kind: *kind,
                dim: *dim,
                side: *side,
                nnz: *nnz,
                stream: *stream,
                out: out.as_deref(),
            };
            with_engine(c, &mut s, |e, dt, s| match dt {
                Dtype::F32 => sketch::<f32>(&args, c, e, s),
                Dtype::F64 => sketch::<f64>(&args, c, e, s),
            })?
        }
        Command::Lstsq { a, b, tol, out } => with_engine(c, &mut s, |e, _, s| {
            lstsq_cmd(a, b, *tol, out.as_deref(), c, e, s)
        })?,
        Command::Trace {
            file,
            matvecs,
            hutchinson,
        } => with_engine(c, &mut s, |e, dt, s| match dt {
            Dtype::F32 => trace::<f32>(file, *matvecs, *hutchinson, c, e, s),
            Dtype::F64 => trace::<f64>(file, *matvecs, *hutchinson, c, e, s),
        })?,
        Command::Polar {
            file,
            quintic,
            max_iter,
            out,
        } => with_engine(c, &mut s, |e, dt, s| match dt {
            Dtype::F32 => polar::<f32>(file, *quintic, *max_iter, out.as_deref(), c, e, s),
            Dtype::F64 => polar::<f64>(file, *quintic, *max_iter, out.as_deref(), c, e, s),
        })?,
    }
    s.print(c, start);
    Ok(())
}

fn with_engine(
    c: &Common,
    s: &mut Summary,
    f: impl FnOnce(&Engine, Dtype, &mut Summary) -> CliResult<()>,
) -> CliResult<()> {
    let e = match c.backend {
        Backend::Cpu => Engine::cpu(),
        Backend::Gpu => Engine::gpu().map_err(|e| CliError::new("--backend gpu", e.to_string()))?,
        Backend::Auto => auto_engine()?,
    };
    let dt = match (c.dtype, e.kind()) {
        (Some(Dtype::F64), BackendKind::Gpu) => {
            return Err(CliError::new(
                "--dtype f64",
                "the GPU backend computes in f32; use --dtype f32 or --backend cpu",
            ));
        }
        (Some(d), _) => d,
        (None, BackendKind::Gpu) => Dtype::F32,
        (None, BackendKind::Cpu) => Dtype::F64,
    };
    s.set("backend", e.name());
    s.set("device", e.device());
    s.set("dtype", if dt == Dtype::F32 { "f32" } else { "f64" });
    if let Some(r) = rss() {
        s.set("base_rss_bytes", r);
    }
    f(&e, dt, s)
}

/// `--backend auto`: a hardware GPU when one exists, else the CPU. A software adapter (lavapipe)
/// is used only when asked for (`LINOPS_ADAPTER`, or `--backend gpu`): it is slower than the CPU
/// backend and computes in f32. `LINOPS_BACKEND=cpu|gpu` forces the choice as in the library.
fn auto_engine() -> CliResult<Engine> {
    let err = |e: linops::Error| CliError::new("--backend auto", e.to_string());
    if std::env::var_os("LINOPS_BACKEND").is_some() {
        return Engine::auto().map_err(err);
    }
    match linops::GpuDevice::new(&linops::DeviceOptions::from_env()) {
        Ok(dev) if !dev.is_software() || std::env::var_os("LINOPS_ADAPTER").is_some() => {
            Ok(Engine::from_device(dev))
        }
        _ => Ok(Engine::cpu()),
    }
}

fn budget(c: &Common, s: &mut Summary) -> CliResult<u64> {
    let b = match &c.mem {
        Some(m) => parse_bytes(m)?,
        None => default_budget(),
    };
    s.set("mem_budget_bytes", b);
    Ok(b)
}

/// The CPU backend's process-wide settings for a streaming run. Streaming sizes its panels to
/// `--mem`: the pool of recycled outputs would hold dropped panels' storage beyond that budget
/// (up to 8 matrices of other shapes), so it is off; and plans run on this thread, not on a worker of the pool, so that what they allocate stays
/// in this thread's allocator arena (in the pool the peak resident memory of `svd --mem 4M` on
/// a 41 MB file rose by 2.3 MB, 2026-12-03).
fn hold_to_the_memory_budget() {
    linops::recycle::set_keep_bytes(0);
    linops::set_plans_in_pool(false);
}

fn describe(src: &Source, s: &mut Summary) {
    s.set("input", src.name());
    let (m, n) = src.shape();
    s.set("shape", json!([m, n]));
    match src {
        Source::Dense(d) => {
            s.set("input_dtype", d.elem.name());
            s.set("layout", if d.fortran { "fortran" } else { "c" });
        }
        Source::Sparse(sp) => {
            s.set("input_dtype", "f64");
            s.set(
                "layout",
                format!("sparse {} ({} nonzeros)", sp.format, sp.values.len()),
            );
        }
    }
}

fn info(file: &str, s: &mut Summary) -> CliResult<()> {
    let (path, key) = input::split_spec(file);
    let lower = path.to_ascii_lowercase();
    let members = if key.is_none() && lower.ends_with(".npz") {
        Some(input::npz_members(file, &path)?)
    } else if key.is_none() && lower.ends_with(".safetensors") {
        Some(input::safetensors_members(file, &path)?)
    } else {
        None
    };
    if let Ok(len) = std::fs::metadata(&path).map(|m| m.len()) {
        s.set("file_bytes", len);
    }
    match members {
        Some(list) if list.len() != 1 || lower.ends_with(".safetensors") => {
            s.set("input", file);
            let is_sparse = ["indptr", "indices", "data", "format", "shape"]
                .iter()
                .all(|k| list.iter().any(|m| m.name == *k));
            if is_sparse && let Ok(src) = input::open(file) {
                describe(&src, s);
            }
            let arr: Vec<Value> = list
                .iter()
                .map(|m| json!({"name": m.name, "shape": m.shape, "dtype": m.dtype}))
                .collect();
            s.set(
                if lower.ends_with(".safetensors") {
                    "tensors"
                } else {
                    "arrays"
                },
                arr,
            );
        }
        _ => {
            let src = input::open(file)?;
            describe(&src, s);
            if let Source::Dense(d) = &src {
                s.set("data_bytes", d.data_bytes());
                s.set("container", d.container);
            }
        }
    }
    Ok(())
}

/// The column means and `‖A − 1μᵀ‖_F²` of an input (in f64), and the host copy of a dense one.
fn column_stats(src: &Source) -> CliResult<(Vec<f64>, f64, Option<HostMat>)> {
    let (m, n) = src.shape();
    match src {
        Source::Dense(d) => {
            let h = d.to_host()?;
            let mu: Vec<f64> = (0..n)
                .map(|j| (0..m).map(|i| h.get(i, j)).sum::<f64>() / m as f64)
                .collect();
            let total = (0..n)
                .map(|j| (0..m).map(|i| (h.get(i, j) - mu[j]).powi(2)).sum::<f64>())
                .sum();
            Ok((mu, total, Some(h)))
        }
        Source::Sparse(sp) => {
            let mut sum = vec![0.0; n];
            let mut sq = 0.0;
            for (&j, &v) in sp.indices.iter().zip(&sp.values) {
                sum[j] += v;
                sq += v * v;
            }
            let mu: Vec<f64> = sum.iter().map(|x| x / m as f64).collect();
            let total = sq - m as f64 * mu.iter().map(|x| x * x).sum::<f64>();
            Ok((mu, total, None))
        }
    }
}

/// Opens an input, with a spinner while it takes (inflating a compressed `.npz`, say).
fn open(spec: &str, c: &Common) -> CliResult<Source> {
    let _opening = Spinner::start(format!("opening {spec}"), c.quiet);
    input::open(spec)
}

fn lib_err(name: &str) -> impl Fn(linops::Error) -> CliError + '_ {
    move |e| CliError::lib(name, e)
}

fn svd<T: Num>(a: &SvdArgs, pca: bool, c: &Common, e: &Engine, s: &mut Summary) -> CliResult<()> {
    let what = if pca { "pca" } else { "svd" };
    s.set("command", what);
    let src = open(&a.file, c)?;
    describe(&src, s);
    let (m, n) = src.shape();
    let small = m.min(n);
    if a.k == 0 || a.k > small {
        return Err(CliError::new(
            "-k",
            format!(
                "k = {} must lie in 1..={small} for the {m}x{n} matrix in {}",
                a.k, a.file
            ),
        ));
    }
    // k + p may not exceed min(m, n): oversampling is cut to fit (and reported).
    let p = a.oversample.min(small - a.k);
    // No --power: the library's default (scikit-learn's n_iter="auto" rule; Krylov depth 2).
    let rule = SvdOptions {
        oversample: p,
        power_iters: a.power,
        ..SvdOptions::default()
    };
    let power = if a.krylov {
        rule.krylov_depth_for(a.k, (m, n))
    } else {
        rule.power_iters_for(a.k, (m, n))
    };
    s.set("k", a.k);
    s.set("oversample", p);
    s.set("power", power);
    let mem = budget(c, s)?;
    let mut out = match &a.out {
        Some(o) => {
            if container(o)? != Container::Npz {
                return Err(CliError::new(
                    o,
                    format!("{what} writes several arrays: use an .npz output"),
                ));
            }
            Some(OutFile::create(o)?)
        }
        None => None,
    };
    let tsz = std::mem::size_of::<T>() as u64;
    let in_memory_bytes = (m as u64) * (n as u64) * (8 + tsz);
    let streaming =
        matches!(src, Source::Dense(_)) && (a.stream || a.single_pass || in_memory_bytes > mem);
    if matches!(src, Source::Sparse(_)) && (a.stream || a.single_pass) {
        return Err(CliError::new(
            &a.file,
            "a sparse matrix is processed in memory (--stream and --single-pass need a dense file)",
        ));
    }
    if streaming && a.krylov {
        return Err(CliError::new(
            "--krylov",
            format!(
                "block Krylov runs in memory, but {} needs {in_memory_bytes} bytes in memory, over --mem {mem} (raise --mem or drop --krylov)",
                a.file
            ),
        ));
    }
    let mut streamed_cols = false;
    let (sv, v, err_est, total, mean, u_host) = if streaming {
        hold_to_the_memory_budget();
        let d: &Dense = src.dense(what)?;
        // PCA centers the columns, so it reads panels of rows (gathered from a Fortran-order
        // file). The SVD reads lines along the longer side, so that the resident n×(k + p) blocks
        // span the shorter one (rows of a tall matrix, columns of a wide one).
        let axis = if pca || m >= n {
            Axis::Rows
        } else {
            Axis::Cols
        };
        let params = StreamParams {
            k: a.k,
            oversample: p,
            power,
            probes: a.probes,
            seed: c.seed,
            center: pca,
            single_pass: a.single_pass,
            budget: mem,
            quiet: c.quiet,
        };
        let dir = a
            .out
            .as_deref()
            .and_then(|o| Path::new(o).parent())
            .filter(|p| !p.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(std::env::temp_dir);
        // The streamed factor is U when reading rows and V (written as Vt in Fortran order)
        // when reading columns.
        let by_cols = axis == Axis::Cols;
        let name = if by_cols { "Vt" } else { "U" };
        let r = stream::svd::<T>(
            d.lines(axis),
            e,
            &params,
            out.as_mut().map(|f| (f, name, by_cols)),
            &dir,
        )?;
        s.set("panels_of", if by_cols { "columns" } else { "rows" });
        streamed_cols = by_cols;
        s.set(
            "mode",
            if a.single_pass {
                "single-pass"
            } else {
                "multi-pass"
            },
        );
        s.set("passes", r.passes);
        s.set("panel_rows", r.panel_rows);
        (r.s, r.v, r.error_estimate, r.total_var, r.mean, None)
    } else {
        let opts = SvdOptions {
            oversample: p,
            power_iters: Some(power),
            seed: c.seed,
            probes: a.probes,
        };
        let reading = Spinner::start(format!("reading {}", a.file), c.quiet);
        let (op, total, mean) = if pca {
            let (mu, total, host) = column_stats(&src)?;
            let base = match host {
                Some(h) => Op::from_host(h).map_err(lib_err(&a.file))?,
                None => src.to_op()?,
            };
            // A − 1·μᵀ as a sum with a rank-one term: the centered matrix is never formed.
            let ones = HostMat::from_fn(m, 1, |_, _| 1.0);
            let mu_col = HostMat::from_fn(n, 1, |i, _| mu[i]);
            let shift = Op::low_rank(ones, vec![-1.0], mu_col).map_err(lib_err(&a.file))?;
            (
                Op::sum(vec![base, shift]).map_err(lib_err(&a.file))?,
                Some(total),
                Some(mu),
            )
        } else {
            (src.to_op()?, None, None)
        };
        drop(reading);
        let _computing = Spinner::start(
            format!(
                "{} of {}",
                if a.krylov {
                    "block Krylov SVD"
                } else {
                    "randomized SVD"
                },
                a.file
            ),
            c.quiet,
        );
        let r = if a.krylov {
            block_krylov_svd::<T>(e, &op, a.k, &opts)
        } else {
            randomized_svd::<T>(e, &op, a.k, &opts)
        }
        .map_err(lib_err(&a.file))?;
        s.set(
            "mode",
            if a.krylov {
                "in-memory block Krylov"
            } else {
                "in-memory"
            },
        );
        s.set("passes", 1);
        let u = e.download_f64(&r.u).map_err(lib_err(&a.file))?;
        let v = e.download_f64(&r.v).map_err(lib_err(&a.file))?;
        (r.s, v, r.error_estimate, total, mean, Some(u))
    };
    let k = sv.len();
    s.set("singular_values", sv.clone());
    s.set(
        "error_estimate",
        if err_est.is_finite() {
            json!(err_est)
        } else {
            Value::Null
        },
    );
    let ratio: Option<Vec<f64>> = total.map(|t| sv.iter().map(|x| x * x / t).collect());
    if let Some(r) = &ratio {
        s.set("explained_variance_ratio", r.clone());
    }
    if let Some(f) = out.as_mut() {
        let streamed_small = u_host.is_none() && streamed_cols;
        // `v` is n×k, or (Fortran-order streaming) the small factor U of A (m×k).
        if let Some(u) = &u_host {
            f.matrix("U", u.as_ref())?;
        } else if streamed_small {
            f.matrix("U", v.as_ref())?;
        }
        f.vector(if pca { "singular_values" } else { "S" }, &sv)?;
        if !streamed_small {
            f.matrix(
                if pca { "components" } else { "Vt" },
                v.as_ref().transpose(),
            )?;
        }
        if pca {
            let var: Vec<f64> = sv.iter().map(|x| x * x / (m.max(2) - 1) as f64).collect();
            f.vector("explained_variance", &var)?;
            f.vector("explained_variance_ratio", ratio.as_deref().unwrap_or(&[]))?;
            f.vector("mean", mean.as_deref().unwrap_or(&[]))?;
        }
    }
    if let Some(plot) = &a.plot {
        crate::plot::spectrum(
            plot,
            &format!("{what} of {} (k = {k})", a.file),
            &sv,
            err_est,
        )?;
        s.set("plot", plot.as_str());
    }
    if let (Some(f), Some(o)) = (out, &a.out) {
        f.commit()?;
        s.set("out", o.as_str());
    }
    Ok(())
}

struct SketchArgs<'a> {
    file: &'a str,
    kind: SketchKind,
    dim: usize,
    side: Side,
    nnz: usize,
    stream: bool,
    out: Option<&'a str>,
}

fn sketch_op(kind: SketchKind, d: usize, m: usize, nnz: usize, seed: u64) -> linops::Result<Op> {
    let rng = RngState::new(seed);
    match kind {
        SketchKind::Gaussian => Op::gaussian_sketch(d, m, rng),
        SketchKind::Rademacher => Op::rademacher_sketch(d, m, rng),
        SketchKind::SparseSign => Op::sparse_sign(d, m, nnz.min(d), rng),
        SketchKind::Srht => Op::srht(d, m, rng),
        SketchKind::VerySparse => Op::very_sparse_projection(d, m, rng),
    }
}

fn sketch<T: Num>(a: &SketchArgs<'_>, c: &Common, e: &Engine, s: &mut Summary) -> CliResult<()> {
    s.set("command", "sketch");
    let src = open(a.file, c)?;
    describe(&src, s);
    let (m, n) = src.shape();
    let reduced = if a.side == Side::Left { m } else { n };
    if a.dim == 0 || a.dim > reduced {
        return Err(CliError::new(
            "--dim",
            format!(
                "d = {} must lie in 1..={reduced} (the {} of the {m}x{n} matrix in {})",
                a.dim,
                if a.side == Side::Left {
                    "rows"
                } else {
                    "columns"
                },
                a.file
            ),
        ));
    }
    s.set("kind", format!("{:?}", a.kind).to_lowercase());
    s.set(
        "side",
        if a.side == Side::Left {
            "left"
        } else {
            "right"
        },
    );
    s.set("dim", a.dim);
    s.set("seed", c.seed);
    let mem = budget(c, s)?;
    let mut out = a.out.map(OutFile::create).transpose()?;
    let name = a.file;
    let le = lib_err(name);
    let s_op = sketch_op(a.kind, a.dim, reduced, a.nnz, c.seed).map_err(&le)?;
    let tsz = std::mem::size_of::<T>() as u64;
    let too_big = (m as u64) * (n as u64) * (8 + tsz) > mem;
    let dense = matches!(src, Source::Dense(_));
    let streaming = dense && (a.stream || too_big);
    let (rows_out, cols_out) = if a.side == Side::Left {
        (a.dim, n)
    } else {
        (m, a.dim)
    };
    s.set("out_shape", json!([rows_out, cols_out]));
    if streaming {
        hold_to_the_memory_budget();
        let d = src.dense("sketch")?;
        // Both sides go through panels of rows (gathered from a Fortran-order file): the left
        // sketch accumulates S_i·A_i, the right one writes the rows A_i·Sᵀ.
        let rows = d.lines(Axis::Rows);
        let per_row = (n as u64) * (8 + 2 * tsz) + a.dim as u64 * 24;
        let avail = mem / 2;
        if avail < per_row {
            return Err(CliError::new(
                "--mem",
                format!(
                    "{mem} bytes is below the {} bytes a sketch of {name} needs (twice a panel of one row of {n} entries); raise --mem",
                    2 * per_row
                ),
            ));
        }
        let panel = ((avail / per_row) as usize).clamp(1, m);
        s.set("mode", "streaming");
        s.set("passes", 1);
        s.set("panel_rows", panel);
        let mut progress = crate::progress::Progress::new(d.data_bytes() as u64, c.quiet);
        progress.pass(1, Some(1));
        let line = (n * d.elem.size()) as u64;
        match a.side {
            Side::Left => {
                let family = match a.kind {
                    SketchKind::Gaussian => SketchFamily::Gaussian,
                    SketchKind::Rademacher => SketchFamily::Rademacher,
                    other => {
                        return Err(CliError::new(
                            "--kind",
                            format!(
                                "{other:?} sketches from the left need the whole matrix in memory (the library's streaming accumulator takes gaussian and rademacher); raise --mem or use --side right"
                            ),
                        ));
                    }
                };
                let spec = SketchSpec::new(family, a.dim, m, RngState::new(c.seed)).map_err(&le)?;
                let mut acc = SketchAccumulator::new(spec).map_err(&le)?;
                let mut p0 = 0;
                while p0 < m {
                    let b = panel.min(m - p0);
                    let pt = rows.panel_t::<f64>(p0, b)?;
                    acc.push(e, p0, pt.as_ref().transpose()).map_err(&le)?;
                    rows.release(p0, b);
                    progress.inc(line * b as u64);
                    p0 += b;
                }
                let y = acc.finish().map_err(&le)?;
                if let Some(f) = out.as_mut() {
                    f.matrix("sketch", y.as_ref())?;
                }
            }
            Side::Right => {
                let panel_rows = rows;
                let mut write = |sink: &mut RowSink<'_>| -> CliResult<()> {
                    let mut p0 = 0;
                    while p0 < m {
                        let b = panel.min(m - p0);
                        let pt = panel_rows.panel_t::<T>(p0, b)?;
                        let y = e.apply::<T>(&s_op, pt.as_ref()).map_err(&le)?; // d×b = (A_i·Sᵀ)ᵀ
                        let mut out_rows = Vec::with_capacity(b * a.dim);
                        for i in 0..b {
                            out_rows.extend((0..a.dim).map(|j| y[(j, i)].wide()));
                        }
                        sink(&out_rows)?;
                        panel_rows.release(p0, b);
                        progress.inc(line * b as u64);
                        p0 += b;
                    }
                    Ok(())
                };
                match out.as_mut() {
                    Some(f) => f.array("sketch", &[m, a.dim], false, |sink| write(sink))?,
                    None => write(&mut |_| Ok(()))?,
                }
            }
        }
        progress.finish();
    } else {
        s.set("mode", "in-memory");
        s.set("passes", 1);
        let _computing = Spinner::start(format!("sketching {name}"), c.quiet);
        let y: Mat<f64> = match (&src, a.side) {
            (Source::Dense(d), Side::Left) => {
                let am = d.to_mat::<T>()?;
                widen(&e.apply::<T>(&s_op, am.as_ref()).map_err(&le)?)
            }
            (Source::Dense(d), Side::Right) => {
                let am = d.to_mat::<T>()?;
                let at = am.transpose().to_owned();
                widen(&e.apply::<T>(&s_op, at.as_ref()).map_err(&le)?)
                    .transpose()
                    .to_owned()
            }
            (Source::Sparse(_), side) => {
                // S·A = (Aᵀ·Sᵀ)ᵀ and A·Sᵀ: the sparse operator applied to the dense Sᵀ.
                let a_op = src.to_op()?;
                let sd = s_op.to_dense();
                let st = Mat::<T>::from_fn(sd.cols(), sd.rows(), |i, j| T::of(sd.get(j, i)));
                match side {
                    Side::Left => widen(&e.apply::<T>(&a_op.t(), st.as_ref()).map_err(&le)?)
                        .transpose()
                        .to_owned(),
                    Side::Right => widen(&e.apply::<T>(&a_op, st.as_ref()).map_err(&le)?),
                }
            }
        };
        if let Some(f) = out.as_mut() {
            f.matrix("sketch", y.as_ref())?;
        }
    }
    if let (Some(f), Some(o)) = (out, a.out) {
        f.commit()?;
        s.set("out", o);
    }
    Ok(())
}

fn widen<T: Num>(m: &Mat<T>) -> Mat<f64> {
    Mat::from_fn(m.nrows(), m.ncols(), |i, j| m[(i, j)].wide())
}

fn lstsq_cmd(
    a: &str,
    b: &str,
    tol: Option<f64>,
    out: Option<&str>,
    c: &Common,
    e: &Engine,
    s: &mut Summary,
) -> CliResult<()> {
    s.set("command", "lstsq");
    let src = open(a, c)?;
    describe(&src, s);
    let (m, n) = src.shape();
    if m < n {
        return Err(CliError::new(
            a,
            format!("least squares needs at least as many rows as columns, got {m}x{n}"),
        ));
    }
    let bsrc = open(b, c)?;
    let bd = bsrc.dense("lstsq's right-hand side")?;
    if bd.cols != 1 || bd.rows != m {
        return Err(CliError::new(
            b,
            format!(
                "the right-hand side must have {m} entries (one per row of {a}), got shape {}x{}",
                bd.rows, bd.cols
            ),
        ));
    }
    let rhs = bd.to_vec()?;
    let mut out_f = out.map(OutFile::create).transpose()?;
    let reading = Spinner::start(format!("reading {a}"), c.quiet);
    let op = src.to_op()?;
    drop(reading);
    let mut opts = LstsqOptions::default();
    if let Some(t) = tol {
        if !(t.is_finite() && t > 0.0) {
            return Err(CliError::new(
                "--tol",
                format!("{t} must be a positive number"),
            ));
        }
        opts.tol = t;
    }
    let solving = Spinner::start(format!("sketch-and-precondition LSQR on {a}"), c.quiet);
    let r = lstsq(e, &op, &rhs, &opts).map_err(lib_err(a))?;
    let xm = Mat::<f64>::from_fn(n, 1, |i, _| r.x[i]);
    let ax = Engine::cpu()
        .apply::<f64>(&op, xm.as_ref())
        .map_err(lib_err(a))?;
    let resid = (0..m)
        .map(|i| (rhs[i] - ax[(i, 0)]).powi(2))
        .sum::<f64>()
        .sqrt();
    drop(solving);
    s.set("residual_norm", resid);
    s.set("lsqr_residual_estimate", r.residual_norm);
    s.set("normal_residual_estimate", r.normal_residual_norm);
    s.set("iterations", r.iterations);
    s.set("converged", r.converged);
    s.set("method", format!("{:?}", r.method));
    s.set("sketch_rows", r.sketch_rows);
    s.set("sketch_dtype", r.sketch_dtype.to_string());
    s.set("r_cond", r.r_cond);
    s.set("precond_cond", r.precond_cond);
    if let Some(fb) = &r.fallback {
        s.set("fallback", fb.as_str());
    }
    if let (Some(mut f), Some(o)) = (out_f.take(), out) {
        f.vector("x", &r.x)?;
        f.commit()?;
        s.set("out", o);
    }
    Ok(())
}

fn trace<T: Num>(
    file: &str,
    matvecs: usize,
    plain: bool,
    c: &Common,
    e: &Engine,
    s: &mut Summary,
) -> CliResult<()> {
    s.set("command", "trace");
    let src = open(file, c)?;
    describe(&src, s);
    let (m, n) = src.shape();
    if m != n {
        return Err(CliError::new(
            file,
            format!("trace needs a square matrix, got {m}x{n}"),
        ));
    }
    let reading = Spinner::start(format!("reading {file}"), c.quiet);
    let op = src.to_op()?;
    drop(reading);
    let _computing = Spinner::start(
        format!("{} on {file}", if plain { "Hutchinson" } else { "Hutch++" }),
        c.quiet,
    );
    let opts = TraceOptions {
        matvecs,
        seed: c.seed,
    };
    let t = if plain {
        hutchinson::<T>(e, &op, &opts)
    } else {
        hutch_plus_plus::<T>(e, &op, &opts)
    }
    .map_err(|err| CliError::new(file, format!("{err} (--matvecs {matvecs})")))?;
    s.set("estimator", if plain { "hutchinson" } else { "hutch++" });
    s.set("trace", t.estimate);
    s.set("std_error", t.std_error);
    s.set("matvecs", t.matvecs);
    Ok(())
}

fn polar<T: Num>(
    file: &str,
    quintic: bool,
    max_iter: Option<usize>,
    out: Option<&str>,
    c: &Common,
    e: &Engine,
    s: &mut Summary,
) -> CliResult<()> {
    s.set("command", "polar");
    let src = open(file, c)?;
    describe(&src, s);
    let (m, n) = src.shape();
    if m < n {
        return Err(CliError::new(
            file,
            format!("polar needs m >= n, got {m}x{n} (transpose the matrix)"),
        ));
    }
    let mut out_f = out.map(OutFile::create).transpose()?;
    let reading = Spinner::start(format!("reading {file}"), c.quiet);
    let op = src.to_op()?;
    drop(reading);
    let _computing = Spinner::start(format!("Newton–Schulz polar factor of {file}"), c.quiet);
    let kind = if quintic {
        NsKind::MuonQuintic
    } else {
        NsKind::Cubic
    };
    let opts = MatFunOptions {
        tol: None,
        max_iter,
    };
    let r = polar_newton_schulz::<T>(e, &op, kind, &opts).map_err(lib_err(file))?;
    s.set("iteration", if quintic { "muon-quintic" } else { "cubic" });
    s.set("iterations", r.iterations);
    s.set("converged", r.converged);
    s.set("orthogonality_residual", r.residual);
    if let (Some(mut f), Some(o)) = (out_f.take(), out) {
        let x = e.download_f64(&r.x).map_err(lib_err(file))?;
        f.matrix("polar", x.as_ref())?;
        f.commit()?;
        s.set("out", o);
    }
    Ok(())
}
