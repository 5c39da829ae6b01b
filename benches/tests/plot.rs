//! `linops-bench --plot DIR` end to end: a tiny suite (`quick --smoke` on the CPU) drawn into a
//! temporary directory, checked for the SVG files, their `<svg` root and their series labels.

use std::process::Command;

#[test]
fn smoke_suite_plots_its_rates_against_the_measured_peak() {
    let dir = std::env::temp_dir().join(format!("linops-bench-plot-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = Command::new(env!("CARGO_BIN_EXE_linops-bench"))
        .args(["quick", "--smoke", "--backend", "cpu", "--plot"])
        .arg(&dir)
        .output()
        .expect("run linops-bench");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "linops-bench failed: {stderr}");
    assert!(
        stderr.contains("f32 GEMM") && stderr.contains("(Engine::calibrate)"),
        "the measured peak is reported: {stderr}"
    );
    let rates = dir.join("quick-smoke-rates.svg");
    let svg = std::fs::read_to_string(&rates).expect("quick-smoke-rates.svg written");
    assert!(
        svg.starts_with("<svg"),
        "not an SVG: {:?}",
        &svg[..svg.len().min(80)]
    );
    assert!(svg.trim_end().ends_with("</svg>"), "SVG not closed");
    for label in [
        "cpu rows",
        "cpu-f64 rows",
        "cpu f32 GEMM peak (calibrate)",
        "cpu copy bandwidth (calibrate)",
        "GFLOP/s against the measured peak",
        "GB/s against the measured peak",
    ] {
        assert!(svg.contains(label), "rates chart lacks {label:?}");
    }
    // One point per row and panel: 14 rows with both rates.
    assert!(svg.matches("<circle").count() >= 2 * 14);
    // quick has no dense baseline: no speedup chart.
    assert!(!dir.join("quick-smoke-speedup.svg").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn structured_suite_plots_speedups_over_the_dense_baseline_by_size() {
    let dir = std::env::temp_dir().join(format!("linops-bench-plot-s-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // One family and one rep: seconds on a 2-core CPU (the dense 4096² baseline dominates).
    let out = Command::new(env!("CARGO_BIN_EXE_linops-bench"))
        .args([
            "structured",
            "--family",
            "hadamard",
            "--backend",
            "cpu",
            "--reps",
            "1",
            "--plot",
        ])
        .arg(&dir)
        .output()
        .expect("run linops-bench");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "linops-bench failed: {stderr}");
    let svg = std::fs::read_to_string(dir.join("structured-speedup.svg"))
        .expect("structured-speedup.svg written");
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    for label in [
        "hadamard (cpu)",
        "dense GEMM baseline (= 1)",
        "batch=1 ",
        "batch=64 ",
        "batch=1024 ",
    ] {
        assert!(svg.contains(label), "speedup chart lacks {label:?}");
    }
    // Two sizes per panel, three panels: six points of the hadamard series.
    assert!(svg.matches("<circle").count() >= 6);
    let rates = std::fs::read_to_string(dir.join("structured-rates.svg"))
        .expect("structured-rates.svg written");
    assert!(rates.contains("cpu f32 GEMM peak (calibrate)"));
    let _ = std::fs::remove_dir_all(&dir);
}
