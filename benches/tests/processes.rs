//! `linops-bench --processes N` end to end: a tiny suite (`quick --smoke` on the CPU) run in two
//! child processes, the merged rows written where the parent was asked to.

use std::process::Command;

#[test]
fn smoke_suite_in_two_processes_reports_each_row_once_from_one_of_them() {
    let path = std::env::temp_dir().join(format!("linops-bench-proc-{}.json", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let out = Command::new(env!("CARGO_BIN_EXE_linops-bench"))
        .args([
            "quick",
            "--smoke",
            "--backend",
            "cpu",
            "--processes",
            "2",
            "--json",
        ])
        .arg(&path)
        .output()
        .expect("run linops-bench");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "linops-bench failed: {stderr}");
    assert!(
        stderr.contains("process 1 of 2") && stderr.contains("process 2 of 2"),
        "both children ran: {stderr}"
    );
    let rows: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("merged rows written"))
            .expect("a JSON array");
    let _ = std::fs::remove_file(&path);
    // The smoke suite's 14 rows (7 cases on `cpu` and `cpu-f64`), each once.
    assert_eq!(rows.len(), 14, "{rows:?}");
    let mut keys: Vec<String> = rows
        .iter()
        .map(|r| format!("{} {} {}", r["op"], r["shape"], r["backend"]))
        .collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 14, "a row reported twice: {keys:?}");
    for r in &rows {
        let p = r["process"].as_u64().expect("a process index");
        assert!(p < 2, "process {p} of 2");
        assert!(r["median_ms"].as_f64().is_some_and(|m| m > 0.0), "{r}");
    }
    // The merged table went to stdout, with the `process` column.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.lines().next().is_some_and(|h| h.contains("process")),
        "{stdout}"
    );
}
