//! Tiled plans past the device's binding limit (issue 10): exact parameter splits, every
//! buffer within the limit, typed errors for what cannot be split, sketch bits unchanged by
//! tiling, a GPU device whose own limit is clamped, and one honest operand over lavapipe's
//! 128 MiB binding.

use crate::support::{Rng, cpu_engine, gpu_engines, max_err, report, test_device, to_f32};
use faer::Mat;
use linops::plan::{BufferRole, Limits, split_parameters};
use linops::{DType, Engine, Error, Op, Plan};

/// Every buffer of every plan of `t` fits `limit` bytes.
fn assert_fits(t: &linops::plan::TiledPlan, limit: u64, what: &str) {
    for p in t.plans() {
        for b in p.buffers() {
            let e = match b.role {
                BufferRole::Index(_) => 4,
                _ => p.dtype().size_bytes(),
            };
            let bytes = (b.rows * b.cols) as u64 * e;
            assert!(
                bytes <= limit,
                "{what}: {}x{} buffer of {bytes} bytes over {limit}\n{}",
                b.rows,
                b.cols,
                p.explain()
            );
        }
    }
}

#[test]
fn parameter_splits_are_exact() {
    let mut rng = Rng::new(0x7111);
    let a = rng.dense_op(97, 61);
    let trip: Vec<(usize, usize, f64)> = (0..400)
        .map(|_| (rng.below(83), rng.below(59), rng.uniform()))
        .collect();
    let csr = Op::leaf(linops::op::Csr::from_triplets(83, 59, &trip).unwrap());
    let ops = [
        ("dense", a.clone()),
        ("dense^T", a.t()),
        ("diagonal", rng.diag_op(300)),
        ("csr", csr.clone()),
        ("csr^T scaled", csr.t().scaled(-2.0).unwrap()),
        ("sparse sign", Op::sparse_sign(40, 300, 3, 9).unwrap()),
        (
            "low rank",
            Op::low_rank(
                linops::HostMat::from_fn(90, 5, |i, j| ((i * 3 + j) % 11) as f64 - 5.0),
                vec![2.0, -1.0, 0.5, 3.0, 1.0],
                linops::HostMat::from_fn(70, 5, |i, j| ((i + 7 * j) % 13) as f64 - 6.0),
            )
            .unwrap()
            .t(),
        ),
        (
            "product dense·csr",
            Op::product(vec![rng.dense_op(20, 83), csr]).unwrap(),
        ),
    ];
    for (name, op) in ops {
        for limit in [400u64, 1024, 2048] {
            let limits = Limits::max_binding(limit, "test").unwrap();
            let mut notes = Vec::new();
            let split = split_parameters(&op, DType::F64, &limits, &mut notes)
                .unwrap_or_else(|e| panic!("{name} at {limit} bytes: {e}"))
                .unwrap_or_else(|| panic!("{name} at {limit} bytes: nothing split"));
            assert!(!notes.is_empty(), "{name}: no note");
            // Selections of ones place and take entries: the split is the operator, exactly.
            let (d0, d1) = (op.to_dense(), split.to_dense());
            assert_eq!(d0.data(), d1.data(), "{name} at {limit} bytes");
        }
    }
}

#[test]
fn tiled_plans_fit_and_explain_their_tiles() {
    let mut rng = Rng::new(0x7112);
    let a = rng.dense_op(300, 200);
    let limit = 4096;
    let limits = Limits::max_binding(limit, "test clamp").unwrap();
    for (name, op, batch) in [
        ("dense", a.clone(), 50),
        ("dense^T", a.t(), 3),
        ("product", Op::product(vec![a.t(), a.clone()]).unwrap(), 7),
        ("hadamard", Op::hadamard(512).unwrap(), 40),
        (
            "gaussian sketch",
            Op::gaussian_sketch(100, 200, 5).unwrap(),
            33,
        ),
    ] {
        let cols = op.shape().1;
        let t = Plan::tiled(&op, cols, batch, DType::F32, None, &limits).unwrap();
        assert!(t.is_tiled(), "{name}: not tiled\n{}", t.explain());
        assert_fits(&t, limit, name);
        let text = t.explain();
        assert!(text.contains("tiles:"), "{name}: {text}");
        assert!(
            text.contains("test clamp"),
            "{name}: the limit's name: {text}"
        );
        // Panels cover the columns in order.
        let mut next = 0;
        for p in t.panels() {
            assert_eq!(p.start, next, "{name}");
            assert!(p.end > p.start, "{name}");
            next = p.end;
        }
        assert_eq!(next, batch, "{name}");
    }
    // The dense operator's note names its size and the panels.
    let t = Plan::tiled(&a, 200, 1, DType::F32, None, &limits).unwrap();
    assert!(
        t.explain().contains("dense 300x200 (240000 bytes in f32)"),
        "{}",
        t.explain()
    );
}

#[test]
fn what_cannot_be_split_is_a_device_limit() {
    let limits = Limits::max_binding(1024, "test clamp").unwrap();
    // One column of X: 300 f32 values = 1200 bytes.
    match Plan::tiled(
        &Op::identity(300).unwrap(),
        300,
        4,
        DType::F32,
        None,
        &limits,
    ) {
        Err(Error::DeviceLimit {
            what,
            requested,
            limit_name,
            limit,
        }) => {
            assert!(
                what.contains("one column") && what.contains("cannot be split"),
                "{what}"
            );
            assert_eq!((requested, limit), (1200, 1024));
            assert_eq!(limit_name, "test clamp");
        }
        other => panic!("expected DeviceLimit, got {other:?}"),
    }
    // A Householder product lowers itself: its 60x8 vectors (1920 bytes in f32) are not split.
    let mut rng = Rng::new(0x7113);
    let q = Op::leaf(linops::op::Householder::from_vectors(60, 8, rng.vec(480)).unwrap());
    match Plan::tiled(&q, 60, 1, DType::F32, None, &limits) {
        Err(Error::DeviceLimit {
            what, requested, ..
        }) => {
            assert!(what.contains("householder"), "{what}");
            assert!(requested > 1024, "{requested}");
        }
        other => panic!("expected DeviceLimit, got {other:?}"),
    }
    // A CSR row with more nonzeros than one buffer holds.
    let row: Vec<(usize, usize, f64)> = (0..400).map(|j| (0, j, 1.0)).collect();
    let csr = Op::leaf(linops::op::Csr::from_triplets(2, 400, &row).unwrap());
    match Plan::tiled(&csr, 400, 1, DType::F32, None, &limits) {
        Err(Error::DeviceLimit { what, .. }) => assert!(what.contains("row 0"), "{what}"),
        other => panic!("expected DeviceLimit, got {other:?}"),
    }
    // Limits below the minimum are refused by name.
    assert!(matches!(
        Engine::cpu().set_max_binding_bytes(Some(63)),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn resident_apply_tiles_and_refuses_an_oversized_output() {
    let e = cpu_engine();
    let mut rng = Rng::new(0x7114);
    let a = rng.dense_op(64, 64);
    let x = rng.mat(64, 40);
    let want = linops::to_faer(&a) * &x;
    // 64 rows × 40 columns of f64 is 20480 bytes: with a 16 KiB limit the columns of the
    // product's temporary are split; Y (20 KiB) itself is over the limit, so a resident
    // apply refuses by name and a host apply tiles.
    e.set_max_binding_bytes(Some(16 * 1024)).unwrap();
    let xm = e.upload(x.as_ref()).unwrap();
    match e.apply_to(&a, &xm) {
        Err(Error::DeviceLimit { what, .. }) => assert!(what.contains("output block Y"), "{what}"),
        other => panic!("expected DeviceLimit for Y, got {other:?}"),
    }
    let y = e.apply(&a, x.as_ref()).unwrap();
    assert_eq!(
        y, want,
        "row panels and column panels compute the same dot products"
    );
    // A product with a tall intermediate: (64x200)·(200x64) has a 200x40 temporary (64000
    // bytes); with a 32 KiB limit Y (20480 bytes) fits, so the resident apply runs the column
    // panels and keeps Y resident.
    let b = rng.dense_op(64, 200);
    let c = rng.dense_op(200, 64);
    let prod = Op::product(vec![b.clone(), c.clone()]).unwrap();
    e.set_max_binding_bytes(Some(32 * 1024)).unwrap();
    let t = e.tiled_plan::<f64>(&prod, 64, 40).unwrap();
    assert!(t.panels().len() > 1, "{}", t.explain());
    let ym = e.apply_to(&prod, &xm).unwrap();
    let got = e.download::<f64>(&ym).unwrap();
    let want = linops::to_faer(&b) * (linops::to_faer(&c) * &x);
    let (err, at) = max_err(got.as_ref(), want.as_ref());
    assert!(
        err <= 1e-12,
        "resident tiled product: error {err:e} at {at:?}"
    );
}

/// Sketches are generated from the Philox counter at (row, column): tiling changes none of
/// their bits. Applied to the identity, each output column is a column of the sketch.
#[test]
fn sketch_bits_do_not_change_under_tiling() {
    let mut engines: Vec<(String, Engine)> = vec![("cpu".into(), cpu_engine())];
    if let Some((g, _)) = gpu_engines() {
        engines.push(("gpu".into(), g));
    }
    let sketches = [
        ("gaussian", Op::gaussian_sketch(50, 300, 11).unwrap()),
        ("rademacher", Op::rademacher_sketch(50, 300, 12).unwrap()),
        ("sparse sign", Op::sparse_sign(50, 300, 4, 13).unwrap()),
        ("srht", Op::srht(50, 300, 14).unwrap()),
        ("row sampler", Op::uniform_row_sampler(50, 300, 15).unwrap()),
    ];
    let eye = Mat::<f32>::identity(300, 300);
    for (backend, e) in &engines {
        for (name, s) in &sketches {
            e.set_max_binding_bytes(None).unwrap();
            let whole = e.apply(s, eye.as_ref()).unwrap();
            e.set_max_binding_bytes(Some(2048)).unwrap();
            let t = e.tiled_plan::<f32>(s, 300, 300).unwrap();
            assert!(t.panels().len() > 1, "{backend} {name}: not tiled");
            let tiled = e.apply(s, eye.as_ref()).unwrap();
            for j in 0..300 {
                for i in 0..50 {
                    assert_eq!(
                        whole[(i, j)].to_bits(),
                        tiled[(i, j)].to_bits(),
                        "{backend} {name}: entry ({i}, {j}) changed under tiling: {} vs {}",
                        whole[(i, j)],
                        tiled[(i, j)]
                    );
                }
            }
        }
    }
}

/// A device opened with a clamped binding limit refuses larger buffers itself, so a tiled
/// apply that runs there allocated nothing over the clamp.
#[test]
fn clamped_gpu_device_runs_tiled_applies() {
    let Some(dev) = test_device(false) else {
        return;
    };
    let clamp = 64 * 1024;
    let opts = linops::DeviceOptions::from_env().with_max_binding_bytes(Some(clamp));
    let small = linops::GpuDevice::new(&opts).expect("the same adapter opens again");
    assert_eq!(
        small.max_binding_bytes(),
        clamp.min(dev.max_binding_bytes())
    );
    let e = Engine::from_device(small);
    assert_eq!(e.limits().unwrap().max_binding_bytes(), Some(clamp));
    // The device itself refuses a 300x300 f32 matrix (360 KB).
    match e.upload(Mat::<f32>::zeros(300, 300).as_ref()) {
        Err(Error::DeviceLimit { limit, .. }) => assert_eq!(limit, clamp),
        other => panic!("expected the clamped device to refuse, got {other:?}"),
    }
    let mut rng = Rng::new(0x7115);
    let a = rng.dense_op(300, 300);
    let x = rng.mat(300, 120);
    let x32 = to_f32(x.as_ref());
    let cpu = cpu_engine();
    let y64 = cpu.apply(&a, x.as_ref()).unwrap();
    let y32 = cpu.apply(&a, x32.as_ref()).unwrap();
    let (err_cpu, _) = max_err(y32.as_ref(), y64.as_ref());
    let t = e.tiled_plan::<f32>(&a, 300, 120).unwrap();
    assert!(
        t.panels().len() > 1 && t.explain().contains("row panels"),
        "{}",
        t.explain()
    );
    let yg = e.apply(&a, x32.as_ref()).unwrap();
    let (err, at) = max_err(yg.as_ref(), y64.as_ref());
    // |A|·|X| ≤ 300 (entries in [-1, 1)): one f32 ulp of that scale.
    let bound = 2.0 * err_cpu + 300.0 / 16_777_216.0;
    assert!(
        err <= bound,
        "clamped gpu: error {err:e} at {at:?} over {bound:e}"
    );
    report(&format!(
        "clamped device ({clamp} bytes): 300x300 dense on 120 columns in {} panels, error {err:e} (cpu f32 {err_cpu:e})",
        t.panels().len()
    ));
}

/// One honest large case: a 6000×6000 f32 operand (144,000,000 bytes, over lavapipe's
/// 134,217,728-byte binding) applied to 4 columns on the GPU, against the CPU backend.
#[test]
fn dense_operand_over_the_device_binding() {
    let Some((gpu, _)) = gpu_engines() else {
        return;
    };
    let n = 6000;
    let limit = gpu.limits().unwrap().max_binding_bytes().unwrap();
    let bytes = (n * n * 4) as u64;
    if bytes <= limit {
        report(&format!(
            "SKIPPED dense_operand_over_the_device_binding: {bytes} bytes fit this adapter's binding ({limit} bytes)"
        ));
        return;
    }
    let start = std::time::Instant::now();
    // Entries in [-1, 1), exact in f32, from a formula (cheap to build).
    let entry = |i: usize, j: usize| ((i * 7 + j * 13) % 257) as f64 / 128.0 - 1.0;
    let mut data = Vec::with_capacity(n * n);
    for j in 0..n {
        data.extend((0..n).map(|i| entry(i, j)));
    }
    let a = Op::dense(n, n, data).unwrap();
    let x = Mat::<f64>::from_fn(n, 4, |i, j| ((i * 3 + j * 5) % 17) as f64 / 16.0 - 0.5);
    let x32 = to_f32(x.as_ref());
    let t = gpu.tiled_plan::<f32>(&a, n, 4).unwrap();
    assert!(t.explain().contains("row panels"), "{}", t.explain());
    let yg = gpu.apply(&a, x32.as_ref()).unwrap();
    let cpu = Engine::cpu();
    let y64 = cpu.apply(&a, x.as_ref()).unwrap();
    let y32 = cpu.apply(&a, x32.as_ref()).unwrap();
    let (err_cpu, _) = max_err(y32.as_ref(), y64.as_ref());
    let (err, at) = max_err(yg.as_ref(), y64.as_ref());
    // Entries are multiples of 2⁻⁷ and 2⁻⁴ with |A|·|X| ≤ 3000, so every partial sum is a
    // multiple of 2⁻¹¹ below 2¹², exact in f32: both backends must give the exact product
    // (err_cpu = 0), and any misplaced panel shows. The bound is the market's rule regardless:
    // |A|·|X| ≤ n·1·0.5, one f32 ulp of that scale.
    let bound = 2.0 * err_cpu + (n as f64 * 0.5) / 16_777_216.0;
    assert!(
        err <= bound,
        "6000x6000 on the GPU: error {err:e} at {at:?} (gpu {}, ref {}) over {bound:e}",
        yg[at],
        y64[at]
    );
    report(&format!(
        "dense 6000x6000 f32 ({bytes} bytes > binding {limit}) on {}: {} plan(s), error {err:e} (cpu f32 {err_cpu:e}), {:.1} s",
        gpu.device(),
        t.plans().len(),
        start.elapsed().as_secs_f64()
    ));
}
