//! `--plot FILE.svg`: the singular-value spectrum on a log scale, with the error estimate as a
//! horizontal line (plotters, SVG backend only).

use crate::error::{CliError, CliResult};
use plotters::prelude::*;

/// Draws `s` (nonincreasing, positive) and the error estimate (when finite) to an SVG file,
/// written under a temporary name and renamed.
///
/// # Errors
/// A path that is not `.svg`, an empty spectrum, or a write failure.
pub fn spectrum(path: &str, title: &str, s: &[f64], error_estimate: f64) -> CliResult<()> {
    if !path.to_ascii_lowercase().ends_with(".svg") {
        return Err(CliError::new(
            path,
            "--plot writes SVG: the file must end in .svg",
        ));
    }
    let pos: Vec<f64> = s
        .iter()
        .copied()
        .filter(|v| *v > 0.0 && v.is_finite())
        .collect();
    if pos.is_empty() {
        return Err(CliError::new(path, "no positive singular value to plot"));
    }
    let mut lo = pos.iter().copied().fold(f64::INFINITY, f64::min);
    let mut hi = pos.iter().copied().fold(0.0, f64::max);
    if error_estimate.is_finite() && error_estimate > 0.0 {
        lo = lo.min(error_estimate);
        hi = hi.max(error_estimate);
    }
    let (lo, hi) = (lo / 2.0, hi * 2.0);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (800, 500)).into_drawing_area();
        let e = |x: DrawingAreaErrorKind<std::io::Error>| {
            CliError::new(path, format!("plot failed: {x}"))
        };
        root.fill(&WHITE).map_err(e)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..(s.len() as f64 + 1.0), (lo..hi).log_scale())
            .map_err(e)?;
        chart
            .configure_mesh()
            .x_desc("index i")
            .y_desc("singular value σᵢ")
            .draw()
            .map_err(e)?;
        chart
            .draw_series(LineSeries::new(
                s.iter()
                    .enumerate()
                    .filter(|(_, v)| **v > 0.0)
                    .map(|(i, v)| (i as f64 + 1.0, *v)),
                &BLUE,
            ))
            .map_err(e)?
            .label("σᵢ")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE));
        if error_estimate.is_finite() && error_estimate > 0.0 {
            chart
                .draw_series(LineSeries::new(
                    vec![
                        (0.0, error_estimate),
                        (s.len() as f64 + 1.0, error_estimate),
                    ],
                    &RED,
                ))
                .map_err(e)?
                .label("error estimate ‖A − UΣVᵀ‖₂")
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(e)?;
        root.present().map_err(e)?;
    }
    let target = std::path::Path::new(path);
    let tmp = target.with_file_name(format!(
        ".{}.linops-tmp-{}",
        target
            .file_name()
            .map(|f| f.to_string_lossy().to_string())
            .unwrap_or_default(),
        std::process::id()
    ));
    std::fs::write(&tmp, svg).map_err(|x| CliError::new(path, format!("cannot write: {x}")))?;
    std::fs::rename(&tmp, target).map_err(|x| {
        let _ = std::fs::remove_file(&tmp);
        CliError::new(path, format!("cannot write: {x}"))
    })
}
