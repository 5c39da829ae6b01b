//! Randomized SVD timing on the CPU backend for `benches/scripts/rsvd_vs_sklearn.py`.
//!
//! Usage: `rsvd <matrix.npy> <k> <p> <q> <reps>`. Reads a float64 `.npy` matrix (C or Fortran
//! order), runs `linops::randnla::svd::randomized_svd::<f64>` once to warm up and `reps` times
//! timed, and prints one JSON line with the median seconds and the spectral-norm error
//! `‖A − UΣVᵀ‖₂` (30 steps of power iteration on `EᵀE`, in f64 on the host).

use faer::Mat;
use linops::randnla::svd::{SvdOptions, randomized_svd};
use std::time::Instant;

fn read_npy(path: &str) -> Result<Mat<f64>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(format!("{path}: not an .npy file"));
    }
    let (hlen, off) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        _ => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
    };
    let header = std::str::from_utf8(&bytes[off..off + hlen]).map_err(|e| e.to_string())?;
    if !header.contains("'<f8'") {
        return Err(format!("{path}: expected dtype '<f8', header {header}"));
    }
    let fortran = header.contains("'fortran_order': True");
    let shape = header
        .split("'shape': (")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .ok_or("no shape")?;
    let dims: Vec<usize> = shape
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse::<usize>().map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    let [rows, cols] = dims[..] else {
        return Err(format!("{path}: expected a 2-d array, got {dims:?}"));
    };
    let data = &bytes[off + hlen..];
    if data.len() != rows * cols * 8 {
        return Err(format!(
            "{path}: {} data bytes for {rows}x{cols}",
            data.len()
        ));
    }
    let at = |k: usize| f64::from_le_bytes(data[8 * k..8 * k + 8].try_into().unwrap_or([0; 8]));
    Ok(Mat::from_fn(rows, cols, |i, j| {
        if fortran {
            at(i + j * rows)
        } else {
            at(i * cols + j)
        }
    }))
}

fn spectral_norm(e: &Mat<f64>) -> f64 {
    let mut x = Mat::<f64>::from_fn(e.ncols(), 1, |i, _| 1.0 + (i % 7) as f64 * 0.1);
    let mut s = 0.0;
    for _ in 0..30 {
        let y = e * &x;
        let z = e.transpose() * &y;
        let nz = z.norm_l2();
        s = nz.sqrt();
        x = z * (1.0 / nz);
    }
    s
}

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 6 {
        return Err("usage: rsvd <matrix.npy> <k> <p> <q> <reps>".into());
    }
    let num = |i: usize| {
        args[i]
            .parse::<usize>()
            .map_err(|e| format!("{}: {e}", args[i]))
    };
    let a = read_npy(&args[1])?;
    let (k, p, q, reps) = (num(2)?, num(3)?, num(4)?, num(5)?.max(1));
    let op = linops::dense(a.as_ref()).map_err(|e| e.to_string())?;
    let e = linops::Engine::cpu();
    let opts = SvdOptions {
        oversample: p,
        power_iters: Some(q),
        seed: 7,
        probes: 0,
    };
    let run = || randomized_svd::<f64>(&e, &op, k, &opts).map_err(|e| e.to_string());
    let mut r = run()?;
    let mut times = Vec::new();
    for _ in 0..reps {
        let t = Instant::now();
        r = run()?;
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let u = e.download::<f64>(&r.u).map_err(|e| e.to_string())?;
    let v = e.download::<f64>(&r.v).map_err(|e| e.to_string())?;
    let us = Mat::<f64>::from_fn(u.nrows(), k, |i, j| u[(i, j)] * r.s[j]);
    let err = spectral_norm(&(&a - &us * v.transpose()));
    println!(
        "{{\"median_s\": {}, \"min_s\": {}, \"spectral_error\": {err:e}, \"fallbacks\": {}}}",
        times[times.len() / 2],
        times[0],
        r.householder_fallbacks
    );
    Ok(())
}
