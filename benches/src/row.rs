//! Result rows: one per (case, backend), printed as a table and written as JSON.
//!
//! The fixed fields are `suite, op, shape, backend, device, median_ms, gflops, gbps, max_rel_err`.
//! Suites that need more (`speedup_vs_dense`, `flop_ratio`, …) put them in [`Row::extra`]: they
//! are flattened into the JSON object and become extra table columns, so the row type and the
//! writers need no change when a suite is added.

use crate::measure::CPU_F64;
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// One measured (case, backend) pair.
///
/// `max_rel_err` is `max_ij |Y − Y_ref| / max_ij |Y_ref|` with `Y_ref` the CPU `f64` result on the
/// same input; it is `None` (JSON `null`, table `ref`) on the row that *is* the reference.
///
/// # Examples
/// ```
/// let mut row = linops_bench::row::Row::new("quick", "gemm", "m=2,n=2,k=2", "cpu", "x86");
/// row.median_ms = 1.0;
/// row.extra.insert("flop_ratio".into(), serde_json::json!(0.5));
/// let json = serde_json::to_string(&row).unwrap();
/// assert!(json.contains("\"flop_ratio\":0.5"));
/// assert!(json.contains("\"max_rel_err\":null"));
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    /// Suite name (`quick`, `gpu-suite`, …).
    pub suite: String,
    /// Operation name (`gemm`, `diag`, …).
    pub op: String,
    /// Shape as a `key=value` comma list.
    pub shape: String,
    /// Backend label: `cpu` (f32), `cpu-f64`, `gpu` (f32).
    pub backend: String,
    /// Device: CPU model or GPU adapter name.
    pub device: String,
    /// Median wall time of one apply, in milliseconds.
    #[serde(deserialize_with = "f64_or_nan")]
    pub median_ms: f64,
    /// `plan.total_flops() / time`, in GFLOP/s.
    #[serde(deserialize_with = "f64_or_nan")]
    pub gflops: f64,
    /// `plan.total_bytes() / time`, in GB/s.
    #[serde(deserialize_with = "f64_or_nan")]
    pub gbps: f64,
    /// Max relative error against the CPU `f64` reference; `None` on the reference row.
    pub max_rel_err: Option<f64>,
    /// Suite-specific fields, flattened into the JSON object.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl Row {
    /// A row with labels set and measurements zero.
    ///
    /// # Examples
    /// ```
    /// let row = linops_bench::row::Row::new("quick", "diag", "n=4,batch=1", "cpu", "x86");
    /// assert_eq!(row.median_ms, 0.0);
    /// ```
    pub fn new(suite: &str, op: &str, shape: &str, backend: &str, device: &str) -> Row {
        Row {
            suite: suite.into(),
            op: op.into(),
            shape: shape.into(),
            backend: backend.into(),
            device: device.into(),
            median_ms: 0.0,
            gflops: 0.0,
            gbps: 0.0,
            max_rel_err: None,
            extra: BTreeMap::new(),
        }
    }
}

/// A number, or NaN for JSON `null` (which is how `serde_json` writes a NaN or an infinity).
fn f64_or_nan<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// The rows written by [`write_json`] at `path`, as they were: a `null` number reads as NaN, and
/// a `null` `max_rel_err` as NaN (not checked) except on the reference backend's rows (`None`).
///
/// # Errors
/// The I/O error, or the JSON error as an I/O error of kind `InvalidData`.
///
/// # Examples
/// ```
/// use linops_bench::row::{Row, read_json, write_json};
/// let mut a = Row::new("quick", "diag", "n=4,batch=1", "cpu", "x86");
/// a.median_ms = f64::NAN;
/// a.max_rel_err = Some(f64::NAN);
/// let b = Row::new("quick", "diag", "n=4,batch=1", "cpu-f64", "x86");
/// let path = std::env::temp_dir().join("linops_bench_read_json_doctest.json");
/// write_json(&path, &[a, b]).unwrap();
/// let rows = read_json(&path).unwrap();
/// assert!(rows[0].median_ms.is_nan() && rows[0].max_rel_err.unwrap().is_nan());
/// assert_eq!(rows[1].max_rel_err, None);
/// ```
pub fn read_json(path: &Path) -> std::io::Result<Vec<Row>> {
    let text = std::fs::read_to_string(path)?;
    let mut rows: Vec<Row> = serde_json::from_str(&text)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    for r in &mut rows {
        if r.max_rel_err.is_none() && r.backend != CPU_F64 {
            r.max_rel_err = Some(f64::NAN);
        }
    }
    Ok(rows)
}

/// Each row (by suite, op, shape and backend) from the run in which its `median_ms` was lowest,
/// with `process` (that run's index) added to its `extra`: the rows of several runs of one suite
/// (e.g. in separate processes, `linops-bench --processes`) merged so that a run that was slow
/// throughout is left out. Every column of a row comes from the same run, so its ratios
/// (`speedup_vs_dense`, `roofline_frac`) stay those that run measured. Rows appear in the order
/// of the first run that has them; a NaN median loses to any number.
///
/// # Examples
/// ```
/// use linops_bench::row::{Row, best_of_runs};
/// let row = |ms: f64| {
///     let mut r = Row::new("s", "diag", "n=4", "cpu", "x86");
///     r.median_ms = ms;
///     r
/// };
/// let best = best_of_runs(&[vec![row(2.0)], vec![row(1.5)], vec![row(f64::NAN)]]);
/// assert_eq!(best.len(), 1);
/// assert_eq!(best[0].median_ms, 1.5);
/// assert_eq!(best[0].extra["process"], 1);
/// ```
pub fn best_of_runs(runs: &[Vec<Row>]) -> Vec<Row> {
    let key = |r: &Row| {
        (
            r.suite.clone(),
            r.op.clone(),
            r.shape.clone(),
            r.backend.clone(),
        )
    };
    let mut order = Vec::new();
    let mut best: std::collections::HashMap<_, (usize, &Row)> = std::collections::HashMap::new();
    for (i, run) in runs.iter().enumerate() {
        for r in run {
            let k = key(r);
            match best.get(&k) {
                None => {
                    order.push(k.clone());
                    best.insert(k, (i, r));
                }
                Some((_, kept)) if r.median_ms < kept.median_ms || kept.median_ms.is_nan() => {
                    if !r.median_ms.is_nan() {
                        best.insert(k, (i, r));
                    }
                }
                Some(_) => {}
            }
        }
    }
    order
        .into_iter()
        .map(|k| {
            let (i, r) = best[&k];
            let mut r = r.clone();
            r.extra.insert("process".into(), serde_json::json!(i));
            r
        })
        .collect()
}

fn fmt_value(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() => fmt_num(f),
            _ => n.to_string(),
        },
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "-".into(),
        other => other.to_string(),
    }
}

fn fmt_num(v: f64) -> String {
    if v == 0.0 || (1e-2..1e5).contains(&v.abs()) {
        format!("{v:.3}")
    } else {
        format!("{v:.2e}")
    }
}

/// The rows as an aligned text table: the fixed columns, then every `extra` key in sorted order
/// (`-` where a row lacks it).
///
/// # Examples
/// ```
/// let row = linops_bench::row::Row::new("quick", "diag", "n=4,batch=1", "cpu", "x86");
/// let t = linops_bench::row::table(&[row]);
/// assert!(t.starts_with("op"));
/// assert!(t.contains("max_rel_err"));
/// ```
pub fn table(rows: &[Row]) -> String {
    let extra_keys: Vec<&String> = {
        let mut keys: Vec<&String> = rows.iter().flat_map(|r| r.extra.keys()).collect();
        keys.sort();
        keys.dedup();
        keys
    };
    let mut header: Vec<String> = [
        "op",
        "shape",
        "backend",
        "device",
        "median_ms",
        "GFLOP/s",
        "GB/s",
        "max_rel_err",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    header.extend(extra_keys.iter().map(|k| k.to_string()));
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut cells = vec![
                r.op.clone(),
                r.shape.clone(),
                r.backend.clone(),
                r.device.clone(),
                fmt_num(r.median_ms),
                fmt_num(r.gflops),
                fmt_num(r.gbps),
                r.max_rel_err
                    .map_or_else(|| "ref".into(), |e| format!("{e:.2e}")),
            ];
            cells.extend(
                extra_keys
                    .iter()
                    .map(|k| r.extra.get(*k).map_or_else(|| "-".into(), fmt_value)),
            );
            cells
        })
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|c| {
            body.iter()
                .map(|r| r[c].chars().count())
                .chain([header[c].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    // Text columns (op, shape, backend, device) are left-aligned, numbers right-aligned.
    let line = |cells: &[String]| {
        let mut s = String::new();
        for (c, cell) in cells.iter().enumerate() {
            let w = widths[c];
            if c > 0 {
                s.push_str("  ");
            }
            if c < 4 {
                let _ = write!(s, "{cell:<w$}");
            } else {
                let _ = write!(s, "{cell:>w$}");
            }
        }
        s.trim_end().to_string()
    };
    let mut out = line(&header);
    out.push('\n');
    for r in &body {
        out.push_str(&line(r));
        out.push('\n');
    }
    out
}

/// Writes the rows to `path` as a pretty-printed JSON array of objects.
///
/// # Errors
/// The I/O error when `path` cannot be written.
///
/// # Examples
/// ```
/// let row = linops_bench::row::Row::new("quick", "diag", "n=4,batch=1", "cpu", "x86");
/// let path = std::env::temp_dir().join("linops_bench_row_doctest.json");
/// linops_bench::row::write_json(&path, &[row]).unwrap();
/// let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
/// assert_eq!(v[0]["backend"], "cpu");
/// ```
pub fn write_json(path: &Path, rows: &[Row]) -> std::io::Result<()> {
    let text = serde_json::to_string_pretty(rows).map_err(std::io::Error::other)?;
    std::fs::write(path, text + "\n")
}
