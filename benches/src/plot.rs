//! `--plot DIR`: a suite's rows drawn as SVG (plotters), next to the machine's measured peak.
//!
//! Two charts, each written only where the rows carry what it needs:
//!
//! - **`SUITE-speedup.svg`**, structured vs dense: for every row whose group (same backend, same
//!   size `n` or `m`, same `batch` and `d`) has an `op = dense` baseline, the speedup
//!   `dense median / row median` against the size (log–log), one panel per batch, one series per
//!   (op, backend), and the dense baseline as the line `speedup = 1`. Suites with a dense
//!   baseline: `structured`, `sketch` (its stored-Gaussian GEMM).
//! - **`SUITE-rates.svg`**, GFLOP/s against the work (FLOPs of one apply) and GB/s against the
//!   bytes moved, one series per backend, with horizontal lines at the peaks measured in the same
//!   run by [`measure_peak`] ([`linops::Engine::calibrate`]: a dense 512³ f32 GEMM and a
//!   2²²-entry diagonal scaling, i.e. a streaming copy). Rows with no timed rate (the accuracy
//!   zoo) draw nothing.
//!
//! Points are `row.gflops` and `row.gbps` as the runner computed them; the work is
//! `gflops · median_ms · 10⁶` FLOPs (and bytes likewise), so nothing is re-measured here.

use crate::measure::Target;
use crate::row::Row;
use plotters::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A backend's peak as measured by [`crate::measure::Roofline::measure`] (the best of a few
/// [`linops::Engine::calibrate`] runs, f32).
///
/// # Examples
/// ```
/// let p = linops_bench::plot::Peak { backend: "cpu".into(), device: "x86".into(),
///     gemm_gflops: 100.0, copy_gbps: 10.0 };
/// assert!(p.gemm_gflops > p.copy_gbps);
/// ```
#[derive(Debug, Clone)]
pub struct Peak {
    /// Target label (`cpu`, `gpu`).
    pub backend: String,
    /// Device name.
    pub device: String,
    /// Dense GEMM rate, GFLOP/s.
    pub gemm_gflops: f64,
    /// Copy bandwidth (a diagonal scaling: read `x` and `d`, write `y`), GB/s.
    pub copy_gbps: f64,
}

/// Measures `target`'s peak GEMM rate and copy bandwidth ([`crate::measure::Roofline::measure`]),
/// then puts the engine's cost model back (so the suite plans exactly as without `--plot`).
///
/// # Errors
/// As [`linops::Engine::calibrate`] (device failures).
///
/// # Examples
/// ```
/// let p = linops_bench::plot::measure_peak(&linops_bench::measure::Target::cpu_f32()).unwrap();
/// assert!(p.gemm_gflops > 0.0 && p.copy_gbps > 0.0);
/// ```
pub fn measure_peak(target: &Target) -> linops::Result<Peak> {
    let r = crate::measure::Roofline::measure(&target.engine)?;
    Ok(Peak {
        backend: target.label.to_string(),
        device: target.engine.device(),
        gemm_gflops: r.gemm_flops_per_s / 1e9,
        copy_gbps: r.bytes_per_s / 1e9,
    })
}

/// `k=v` pairs of a shape text (`n=4096,blocks=64,batch=1024`); items without `=` are skipped.
fn shape_map(shape: &str) -> BTreeMap<&str, &str> {
    shape
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .collect()
}

/// One point of the speedup chart: `(batch label, op, backend, size, speedup)`.
type SpeedupPoint = (String, String, String, f64, f64);

/// Speedups over the dense baseline of the same (backend, size, batch, d) group.
fn speedups(rows: &[Row]) -> Vec<SpeedupPoint> {
    let group = |r: &Row| -> Option<(String, String, f64)> {
        let s = shape_map(&r.shape);
        let size: f64 = s.get("n").or_else(|| s.get("m"))?.parse().ok()?;
        let batch = s.get("batch").copied().unwrap_or("-");
        let d = s.get("d").map_or(String::new(), |d| format!(",d={d}"));
        Some((r.backend.clone(), format!("batch={batch}{d}"), size))
    };
    let mut base: BTreeMap<(String, String, u64), f64> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.op == "dense") {
        if let Some((b, g, size)) = group(r)
            && r.median_ms > 0.0
        {
            base.insert((b, g, size.to_bits()), r.median_ms);
        }
    }
    rows.iter()
        .filter(|r| r.op != "dense" && r.median_ms > 0.0)
        .filter_map(|r| {
            let (b, g, size) = group(r)?;
            let d = base.get(&(b.clone(), g.clone(), size.to_bits()))?;
            let sp = d / r.median_ms;
            sp.is_finite().then(|| (g, r.op.clone(), b, size, sp))
        })
        .collect()
}

fn log_range(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    let (lo, hi) = values
        .filter(|v| v.is_finite() && *v > 0.0)
        .fold((f64::INFINITY, 0.0f64), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    (hi > 0.0).then(|| (lo / 2.0, hi * 2.0))
}

type PlotResult<T> = Result<T, String>;

fn err<E: std::fmt::Display>(path: &Path) -> impl Fn(E) -> String + '_ {
    move |e| format!("{}: {e}", path.display())
}

/// Draws the speedup chart, or returns `false` when no row has a dense baseline.
fn speedup_chart(path: &Path, suite: &str, rows: &[Row]) -> PlotResult<bool> {
    let pts = speedups(rows);
    if pts.is_empty() {
        return Ok(false);
    }
    let mut panels: Vec<String> = pts.iter().map(|p| p.0.clone()).collect();
    panels.sort_by_key(|g| {
        // Numeric order of the batch, not text order.
        shape_map(g)
            .get("batch")
            .and_then(|b| b.parse::<u64>().ok())
            .unwrap_or(u64::MAX)
    });
    panels.dedup();
    let mut series: Vec<(String, String)> =
        pts.iter().map(|p| (p.1.clone(), p.2.clone())).collect();
    series.sort();
    series.dedup();
    let (xlo, xhi) = log_range(pts.iter().map(|p| p.3)).unwrap_or((1.0, 2.0));
    let (ylo, yhi) = log_range(pts.iter().map(|p| p.4).chain([1.0])).unwrap_or((0.5, 2.0));
    let e = err(path);
    let height = 420 * panels.len() as u32;
    let root = SVGBackend::new(path, (1100, height)).into_drawing_area();
    root.fill(&WHITE).map_err(&e)?;
    let areas = root.split_evenly((panels.len(), 1));
    for (area, panel) in areas.iter().zip(&panels) {
        let mut chart = ChartBuilder::on(area)
            .caption(
                format!("{suite}: structured vs dense, {panel} (dense time / time)"),
                ("sans-serif", 18),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .right_y_label_area_size(10)
            .build_cartesian_2d((xlo..xhi).log_scale(), (ylo..yhi).log_scale())
            .map_err(&e)?;
        chart
            .configure_mesh()
            .x_desc("size (n, or m for sketches)")
            .y_desc("speedup vs dense")
            .draw()
            .map_err(&e)?;
        chart
            .draw_series(LineSeries::new(
                [(xlo, 1.0), (xhi, 1.0)],
                BLACK.stroke_width(2),
            ))
            .map_err(&e)?
            .label("dense GEMM baseline (= 1)")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.stroke_width(2)));
        for (i, (op, backend)) in series.iter().enumerate() {
            let mut xy: Vec<(f64, f64)> = pts
                .iter()
                .filter(|p| &p.0 == panel && &p.1 == op && &p.2 == backend)
                .map(|p| (p.3, p.4))
                .collect();
            if xy.is_empty() {
                continue;
            }
            xy.sort_by(|a, b| a.0.total_cmp(&b.0));
            let color = Palette99::pick(i).to_rgba();
            chart
                .draw_series(LineSeries::new(xy.clone(), color.stroke_width(2)))
                .map_err(&e)?;
            chart
                .draw_series(xy.iter().map(|&c| Circle::new(c, 4, color.filled())))
                .map_err(&e)?
                .label(format!("{op} ({backend})"))
                .legend(move |(x, y)| Circle::new((x + 10, y), 4, color.filled()));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 11))
            .draw()
            .map_err(&e)?;
    }
    root.present().map_err(&e)?;
    Ok(true)
}

/// One point of the rates chart: `(backend, work, rate)`.
type RatePoint<'a> = (&'a str, f64, f64);

/// Draws the rates chart, or returns `false` when no row has a timed rate.
fn rates_chart(path: &Path, suite: &str, rows: &[Row], peaks: &[Peak]) -> PlotResult<bool> {
    // (backend, work, rate) for GFLOP/s and GB/s.
    let flops: Vec<RatePoint<'_>> = rows
        .iter()
        .filter(|r| r.gflops > 0.0 && r.gflops.is_finite() && r.median_ms > 0.0)
        .map(|r| (r.backend.as_str(), r.gflops * r.median_ms * 1e6, r.gflops))
        .collect();
    let bytes: Vec<RatePoint<'_>> = rows
        .iter()
        .filter(|r| r.gbps > 0.0 && r.gbps.is_finite() && r.median_ms > 0.0)
        .map(|r| (r.backend.as_str(), r.gbps * r.median_ms * 1e6, r.gbps))
        .collect();
    if flops.is_empty() && bytes.is_empty() {
        return Ok(false);
    }
    let mut backends: Vec<&str> = rows.iter().map(|r| r.backend.as_str()).collect();
    backends.sort_unstable();
    backends.dedup();
    let e = err(path);
    let root = SVGBackend::new(path, (1000, 900)).into_drawing_area();
    root.fill(&WHITE).map_err(&e)?;
    let areas = root.split_evenly((2, 1));
    // (points, unit, x description, peak name)
    let panels: [(&[RatePoint<'_>], &str, &str, &str); 2] = [
        (&flops, "GFLOP/s", "FLOPs of one apply", "f32 GEMM peak"),
        (&bytes, "GB/s", "bytes moved by one apply", "copy bandwidth"),
    ];
    for (area, (pts, unit, xdesc, peak_name)) in areas.iter().zip(panels) {
        if pts.is_empty() {
            continue;
        }
        let peak_of = |p: &Peak| {
            if unit == "GFLOP/s" {
                p.gemm_gflops
            } else {
                p.copy_gbps
            }
        };
        let (xlo, xhi) = log_range(pts.iter().map(|p| p.1)).unwrap_or((1.0, 2.0));
        let (ylo, yhi) = log_range(pts.iter().map(|p| p.2).chain(peaks.iter().map(peak_of)))
            .unwrap_or((1.0, 2.0));
        let mut chart = ChartBuilder::on(area)
            .caption(
                format!("{suite}: {unit} against the measured peak"),
                ("sans-serif", 18),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d((xlo..xhi).log_scale(), (ylo..yhi).log_scale())
            .map_err(&e)?;
        chart
            .configure_mesh()
            .x_desc(xdesc)
            .y_desc(unit)
            .draw()
            .map_err(&e)?;
        for (i, b) in backends.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            let xy: Vec<(f64, f64)> = pts
                .iter()
                .filter(|p| p.0 == *b)
                .map(|p| (p.1, p.2))
                .collect();
            if !xy.is_empty() {
                chart
                    .draw_series(xy.iter().map(|&c| Circle::new(c, 4, color.filled())))
                    .map_err(&e)?
                    .label(format!("{b} rows"))
                    .legend(move |(x, y)| Circle::new((x + 10, y), 4, color.filled()));
            }
            if let Some(p) = peaks.iter().find(|p| p.backend == *b) {
                let v = peak_of(p);
                chart
                    .draw_series(LineSeries::new([(xlo, v), (xhi, v)], color.stroke_width(2)))
                    .map_err(&e)?
                    .label(format!("{b} {peak_name} (calibrate): {v:.1} {unit}"))
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                    });
            }
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 12))
            .draw()
            .map_err(&e)?;
    }
    root.present().map_err(&e)?;
    Ok(true)
}

/// Draws `rows` of `suite` into `dir` (created if needed): `SUITE-speedup.svg` where rows have
/// a dense baseline, `SUITE-rates.svg` where they have timed rates, against `peaks`. Returns the
/// files written (none when the rows support no chart).
///
/// # Errors
/// The directory or a file cannot be written (the message names it).
///
/// # Examples
/// ```
/// use linops_bench::{plot, row::Row};
/// let mut dense = Row::new("structured", "dense", "n=1024,batch=64", "cpu", "x86");
/// dense.median_ms = 4.0;
/// let mut h = Row::new("structured", "hadamard", "n=1024,batch=64", "cpu", "x86");
/// h.median_ms = 0.5;
/// let dir = std::env::temp_dir().join(format!("linops-bench-plot-doc-{}", std::process::id()));
/// let files = plot::write(&dir, "structured", &[dense, h], &[]).unwrap();
/// assert_eq!(files.len(), 1); // no rates on these rows: the speedup chart only
/// let svg = std::fs::read_to_string(&files[0]).unwrap();
/// assert!(svg.contains("<svg") && svg.contains("hadamard (cpu)"));
/// ```
pub fn write(dir: &Path, suite: &str, rows: &[Row], peaks: &[Peak]) -> PlotResult<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(err(dir))?;
    let mut written = Vec::new();
    let speed = dir.join(format!("{suite}-speedup.svg"));
    if speedup_chart(&speed, suite, rows)? {
        written.push(speed);
    }
    let rates = dir.join(format!("{suite}-rates.svg"));
    if rates_chart(&rates, suite, rows, peaks)? {
        written.push(rates);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(op: &str, shape: &str, backend: &str, ms: f64, gflops: f64) -> Row {
        let mut r = Row::new("structured", op, shape, backend, "dev");
        r.median_ms = ms;
        r.gflops = gflops;
        r.gbps = gflops / 4.0;
        r
    }

    #[test]
    fn speedups_divide_by_the_dense_row_of_the_same_group_only() {
        let rows = [
            row("dense", "n=1024,batch=64", "cpu", 8.0, 10.0),
            row("dense", "n=4096,batch=64", "cpu", 64.0, 10.0),
            row("monarch", "n=1024,blocks=32,batch=64", "cpu", 2.0, 1.0),
            row("monarch", "n=4096,blocks=64,batch=64", "cpu", 4.0, 1.0),
            // No dense row for gpu, nor for batch=1: no speedup.
            row("monarch", "n=1024,blocks=32,batch=64", "gpu", 1.0, 1.0),
            row("monarch", "n=1024,blocks=32,batch=1", "cpu", 1.0, 1.0),
        ];
        let s = speedups(&rows);
        assert_eq!(s.len(), 2, "{s:?}");
        assert_eq!((s[0].3, s[0].4), (1024.0, 4.0));
        assert_eq!((s[1].3, s[1].4), (4096.0, 16.0));
    }

    #[test]
    fn both_charts_carry_their_series_and_peak_labels() {
        let dir = std::env::temp_dir().join(format!("linops-bench-plot-{}", std::process::id()));
        let rows = [
            row(
                "dense",
                "m=4096,d=256,batch=1024,stored_gaussian",
                "cpu",
                8.0,
                60.0,
            ),
            row("srht", "m=4096,d=256,batch=1024", "cpu", 2.0, 5.0),
            row(
                "dense",
                "m=4096,d=256,batch=1024,stored_gaussian",
                "gpu",
                1.0,
                600.0,
            ),
            row("srht", "m=4096,d=256,batch=1024", "gpu", 0.5, 50.0),
        ];
        let peaks = [Peak {
            backend: "cpu".into(),
            device: "dev".into(),
            gemm_gflops: 90.0,
            copy_gbps: 12.5,
        }];
        let files = write(&dir, "sketch", &rows, &peaks).unwrap();
        assert_eq!(files.len(), 2);
        let sp = std::fs::read_to_string(dir.join("sketch-speedup.svg")).unwrap();
        for label in ["<svg", "srht (cpu)", "srht (gpu)", "dense GEMM baseline"] {
            assert!(sp.contains(label), "speedup chart lacks {label:?}");
        }
        let rt = std::fs::read_to_string(dir.join("sketch-rates.svg")).unwrap();
        for label in [
            "<svg",
            "cpu rows",
            "gpu rows",
            "cpu f32 GEMM peak (calibrate): 90.0 GFLOP/s",
            "cpu copy bandwidth (calibrate): 12.5 GB/s",
        ] {
            assert!(rt.contains(label), "rates chart lacks {label:?}");
        }
        // Rows without rates or baselines (the accuracy zoo) draw nothing.
        let zoo = [Row::new("accuracy", "rsvd", "m=100", "cpu", "dev")];
        assert!(write(&dir, "accuracy", &zoo, &peaks).unwrap().is_empty());
    }
}
