//! Criterion benches of single kernels: GEMM 256/512, transposed dense apply and diagonal scaling,
//! on the CPU (f32) and on the GPU (f32) when an adapter can be opened.
//!
//! Bench ids follow the stem rule: `cpu/gemm/m=256,n=256,k=256`, `gpu/diag/n=4096,batch=64`, …
//! Each apply is `Engine::apply_to` on a resident input (no host↔device copy), so GPU times include
//! recording, submission and the wait for completion. Throughput is in FLOPs (criterion prints it
//! as elements per second). Settings are short (10 samples, 2 s) so the whole file runs in about a
//! minute; without a GPU the `gpu` group is skipped with a note on stderr.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use linops::Engine;
use linops_bench::cases::{self, Case};
use std::hint::black_box;
use std::time::Duration;

fn kernel_cases() -> Vec<Case> {
    let built = [
        cases::gemm(256, 256, 256),
        cases::gemm(512, 512, 512),
        cases::dense_t(4096, 64),
        cases::diag(4096, 64),
    ];
    built
        .into_iter()
        .map(|c| c.expect("bench cases are valid"))
        .collect()
}

fn bench_engine(c: &mut Criterion, group_name: &str, engine: &Engine) {
    let mut group = c.benchmark_group(group_name);
    for case in kernel_cases() {
        let x = case.x_f32();
        let plan = engine
            .plan::<f32>(&case.op, x.nrows(), x.ncols())
            .expect("plan");
        let xm = engine.upload(x.as_ref()).expect("upload");
        group.throughput(Throughput::Elements(plan.total_flops()));
        group.bench_function(format!("{}/{}", case.op_name, case.shape), |b| {
            b.iter_with_large_drop(|| {
                engine
                    .apply_to(black_box(&case.op), black_box(&xm))
                    .expect("apply")
            })
        });
    }
    group.finish();
}

fn kernels(c: &mut Criterion) {
    bench_engine(c, "cpu", &Engine::cpu());
    match Engine::gpu() {
        Ok(gpu) => {
            eprintln!("kernels: gpu group on {}", gpu.device());
            bench_engine(c, "gpu", &gpu);
        }
        Err(e) => eprintln!("kernels: skipping the gpu group: no usable GPU ({e})"),
    }
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = kernels
}
criterion_main!(benches);
