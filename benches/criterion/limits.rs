//! Criterion benches of the CPU limits that the `structured` suite's `limit` column names
//! ([`linops_bench::suites::structured::cpu_limit`]), each measured with no linops code in the
//! way, so that a row's note can be checked against the machine it ran on:
//!
//! - `limits/l2_gather/p=32`: the access pattern of the CSR panel kernel (`l2-gather`), one
//!   thread. A `4096×32` f32 panel (512 KiB, rows on 64-byte lines: more than L1, less than a
//!   1 MiB L2) and the suite's CSR shape (4096 rows of 16 random columns); each row sums
//!   `value·panel[column]` over its entries into 32 lanes, four rows interleaved (the kernel's
//!   order), the sums stored to a 16-row tile. Throughput in entries: the time per entry is what
//!   one gathered 128-byte row of the panel costs.
//! - `limits/l1_gather/p=32`: the same loop with every column below 256 (a 32 KiB part of the
//!   panel, in L1): what the loop costs when the gathered rows hit L1.
//! - `limits/l2_in_order/p=32`: the same loop with the columns in order (entry `p` reads panel
//!   row `p mod 4096`, so the hardware prefetchers see sequential streams): what the loop costs
//!   when the gathered rows are not random.
//! - `limits/fft/n=…`: rustfft's forward complex f32 FFT (the DCT's engine: `odd-fft`, and the
//!   FFT part of `fft+mem`) at
//!   4096 and 4095 = 3²·5·7·13, 1024 and 1023 = 3·11·31, 32 transforms per iteration (a batch
//!   of 64 real columns, two per FFT). Throughput in transformed elements.
//!
//! The gather runs compiled for AVX-512F when the CPU has it (as the kernel does), else as
//! portable code. Settings are short (10 samples, 1 s each) so the file runs in about half a
//! minute: `cargo bench -p linops-bench --bench limits`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rustfft::FftPlanner;
use rustfft::num_complex::Complex;
use std::hint::black_box;
use std::time::Duration;

/// Rows of the panel and of the CSR (the suite's `n = 4096`).
const K: usize = 4096;
/// Entries per row of the CSR (the suite's `nnz_per_row`).
const NNZ: usize = 16;
/// Lanes of the panel (the kernel's width for random rows, f32).
const P: usize = 32;
/// Panel rows the `l1_gather` case gathers from (32 KiB: in a 32 KiB or larger L1 cache).
const L1_ROWS: usize = 256;
/// Rows whose sums are kept together (the kernel's `TILE_ROWS`).
const TILE: usize = 16;

/// A row of the panel on its own 64-byte line(s), as in the kernel.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([f32; P]);

/// The suite-shaped CSR: `K·NNZ` column indices (xorshift, uniform below `K`) and values.
fn csr() -> (Vec<u32>, Vec<f32>) {
    let mut s = 0x9E37_79B9_7F4A_7C15_u64;
    let mut cols = Vec::with_capacity(K * NNZ);
    for _ in 0..K * NNZ {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        cols.push((s % K as u64) as u32);
    }
    let values = (0..K * NNZ).map(|i| (i % 7) as f32 - 3.0).collect();
    (cols, values)
}

/// `a += v·x` lane by lane (a multiplication and an addition, as the kernel).
#[inline(always)]
fn multiply_add(a: &mut [f32; P], v: f32, x: &[f32; P]) {
    for l in 0..P {
        a[l] += v * x[l];
    }
}

/// One pass of the CSR over the panel: four rows at a time, entries interleaved, sums into the
/// tile. Returns one lane of the tile (kept live).
#[inline(always)]
fn gather_pass(panel: &[Line], cols: &[u32], values: &[f32], tile: &mut [[f32; P]; TILE]) -> f32 {
    for r0 in (0..K).step_by(4) {
        let (mut a0, mut a1, mut a2, mut a3) = ([0f32; P], [0f32; P], [0f32; P], [0f32; P]);
        for e in 0..NNZ {
            let p = r0 * NNZ + e;
            multiply_add(&mut a0, values[p], &panel[cols[p] as usize].0);
            multiply_add(&mut a1, values[p + NNZ], &panel[cols[p + NNZ] as usize].0);
            multiply_add(
                &mut a2,
                values[p + 2 * NNZ],
                &panel[cols[p + 2 * NNZ] as usize].0,
            );
            multiply_add(
                &mut a3,
                values[p + 3 * NNZ],
                &panel[cols[p + 3 * NNZ] as usize].0,
            );
        }
        let t = r0 % TILE;
        tile[t] = a0;
        tile[t + 1] = a1;
        tile[t + 2] = a2;
        tile[t + 3] = a3;
    }
    tile[3][5]
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn gather_avx512(panel: &[Line], cols: &[u32], values: &[f32], tile: &mut [[f32; P]; TILE]) -> f32 {
    gather_pass(panel, cols, values, tile)
}

/// Whether the CPU runs the AVX-512F versions.
fn avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    return std::arch::is_x86_feature_detected!("avx512f");
    #[cfg(not(target_arch = "x86_64"))]
    false
}

fn gather(panel: &[Line], cols: &[u32], values: &[f32], tile: &mut [[f32; P]; TILE]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if avx512() {
        // SAFETY: the CPU has AVX-512F (checked), the only requirement of the function.
        return unsafe { gather_avx512(panel, cols, values, tile) };
    }
    gather_pass(panel, cols, values, tile)
}

/// The gather sums what the CSR defines: the last four rows (tile rows 12..16) against a plain
/// sum in storage order, on the path the CPU runs. Panics otherwise (a timing of a wrong loop
/// would mean nothing).
fn check_gather(panel: &[Line], cols: &[u32], values: &[f32]) {
    let mut tile = [[0f32; P]; TILE];
    gather(panel, cols, values, &mut tile);
    for (t, r) in (K - 4..K).enumerate() {
        for (l, &got) in tile[12 + t].iter().enumerate() {
            let want = (0..NNZ).fold(0f32, |s, e| {
                s + values[r * NNZ + e] * panel[cols[r * NNZ + e] as usize].0[l]
            });
            assert_eq!(got, want, "row {r} lane {l}");
        }
    }
}

fn limits(c: &mut Criterion) {
    let mut group = c.benchmark_group("limits");
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(300));
    group.measurement_time(Duration::from_secs(1));
    eprintln!(
        "limits: the gather loop compiled for {}",
        if avx512() { "AVX-512F" } else { "the baseline" }
    );
    let panel: Vec<Line> = (0..K)
        .map(|i| Line(std::array::from_fn(|l| ((i * 3 + l) % 11) as f32 - 5.0)))
        .collect();
    let (cols, values) = csr();
    let mut tile = [[0f32; P]; TILE];
    check_gather(&panel, &cols, &values);
    group.throughput(Throughput::Elements((K * NNZ) as u64));
    group.bench_function(format!("l2_gather/p={P}"), |b| {
        b.iter(|| gather(black_box(&panel), black_box(&cols), &values, &mut tile))
    });
    // The same loop with every column below L1_ROWS: the gathered rows come from L1.
    let in_l1: Vec<u32> = cols.iter().map(|&c| c % L1_ROWS as u32).collect();
    group.bench_function(format!("l1_gather/p={P}"), |b| {
        b.iter(|| gather(black_box(&panel), black_box(&in_l1), &values, &mut tile))
    });
    // The same loop with the columns in order: entry p reads panel row p mod K.
    let in_order: Vec<u32> = (0..K * NNZ).map(|p| (p % K) as u32).collect();
    group.bench_function(format!("l2_in_order/p={P}"), |b| {
        b.iter(|| gather(black_box(&panel), black_box(&in_order), &values, &mut tile))
    });
    const FFTS: usize = 32;
    let mut planner = FftPlanner::<f32>::new();
    for n in [4096, 4095, 1024, 1023] {
        let fft = planner.plan_fft_forward(n);
        let mut data: Vec<Complex<f32>> = (0..n * FFTS)
            .map(|i| Complex::new((i % 13) as f32 - 6.0, (i % 5) as f32 - 2.0))
            .collect();
        let mut scratch = vec![Complex::new(0.0, 0.0); fft.get_inplace_scratch_len()];
        group.throughput(Throughput::Elements((n * FFTS) as u64));
        group.bench_function(format!("fft/n={n}"), |b| {
            b.iter(|| fft.process_with_scratch(black_box(&mut data), &mut scratch))
        });
    }
    group.finish();
}

criterion_group!(benches, limits);
criterion_main!(benches);
