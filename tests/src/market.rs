//! The differential market: every op × {cpu f64, cpu f32, gpu f32} × awkward shapes.
//!
//! For each case, X and the op's parameters are f32-representable, so every backend sees the same
//! input. With Y64 the CPU f64 result (the reference):
//! - CPU f64 agrees with the definition `to_dense(op)·X` within `2·(d + k)·u64·(|op|·|X|)`
//!   (d the kernel depth, k the longest reduction, u64 = 2⁻⁵³);
//! - the GPU f32 error `max|Y_gpu − Y64|` is at most `2·max|Y_cpu32 − Y64| + u32·max(|op|·|X|)`
//!   (the tolerance rule of the project; the absolute term is one f32 ulp of the result's scale),
//!   plus `gen_rel·max(|op|·|X|)` for ops whose GPU-generated entries may differ from the CPU's
//!   (Gaussian sketches: `GAUSSIAN_GPU_MAX_ULPS` ulps per entry, a relative `16·2⁻²³`);
//! - the GPU result with checked shader modules is bit-identical to the one with trusted modules
//!   (a difference would mean an out-of-bounds access that the checks clamped).

use crate::support::{
    Rng, depth, gpu_engines, magnitude, max_abs, max_err, max_inner, report, to_f32,
};
use linops::Op;
use linops_core::op::DenseSketch;
use linops_core::rng::{GAUSSIAN_GPU_MAX_ULPS, RngState};

struct Case {
    name: String,
    op: Op,
    /// The same map in factor form; `|factors|·|X|` is the magnitude rounding errors scale with.
    factors: Op,
    batch: usize,
    /// Relative error of the GPU's generated parameters against the CPU's (0 unless the op
    /// generates entries with transcendental functions: Gaussian sketches,
    /// `GAUSSIAN_GPU_MAX_ULPS` ulps, i.e. at most that many 2⁻²³ relative). It adds
    /// `gen_rel·max(|op|·|X|)` to the GPU bound.
    gen_rel: f64,
}

const U32: f64 = 1.0 / 16_777_216.0;
const U64: f64 = f64::EPSILON / 2.0;

fn cases() -> Vec<Case> {
    let mut rng = Rng::new(0x5EED_0001);
    let mut v = Vec::new();
    let mut cases_gen: Vec<Case> = Vec::new();
    let mut push = |name: String, op: Op, batch: usize| {
        v.push(Case {
            name,
            factors: op.clone(),
            op,
            batch,
            gen_rel: 0.0,
        })
    };
    // GEMM shapes (m, k, batch): 1×1, primes, non-multiples of the tile, tall-skinny and wide.
    let gemm = [
        (1, 1, 1),
        (3, 17, 5),
        (17, 3, 1),
        (64, 64, 64),
        (127, 257, 33),
        (257, 127, 1),
        (1000, 3, 17),
        (3, 1000, 17),
        (17, 3, 1000),
        (1000, 257, 64),
        (64, 1000, 127),
    ];
    for (m, k, b) in gemm {
        push(format!("dense {m}x{k}"), rng.dense_op(m, k), b);
        push(format!("dense^T {m}x{k}"), rng.dense_op(k, m).t(), b);
        push(
            format!("scaled dense {m}x{k}"),
            rng.dense_op(m, k).scaled(-0.75).unwrap(),
            b,
        );
    }
    for (n, b) in [
        (1, 1),
        (3, 17),
        (17, 3),
        (64, 64),
        (127, 5),
        (257, 1000),
        (1000, 17),
    ] {
        push(format!("identity {n}"), Op::identity(n).unwrap(), b);
        push(format!("diagonal {n}"), rng.diag_op(n), b);
        push(
            format!("scaled identity {n}"),
            Op::identity(n).unwrap().scaled(2.5).unwrap(),
            b,
        );
        push(
            format!("diagonal^T scaled {n}"),
            rng.diag_op(n).t().scaled(0.5).unwrap(),
            b,
        );
    }
    for (m, k, p, b) in [
        (1, 1, 1, 1),
        (3, 17, 5, 2),
        (127, 64, 257, 33),
        (1000, 17, 3, 64),
        (17, 257, 1000, 3),
    ] {
        let d = rng.diag_op(m);
        let a = rng.dense_op(m, k);
        let c = rng.dense_op(p, k);
        push(
            format!("product diag·A·C^T {m}x{k}x{p}"),
            Op::product(vec![d.clone(), a.clone(), c.t()]).unwrap(),
            b,
        );
        push(
            format!("(diag·A·C^T)^T {m}x{k}x{p}"),
            Op::product(vec![d, a, c.t()]).unwrap().t(),
            b,
        );
    }
    for (n, b) in [(1, 1), (17, 3), (127, 64), (257, 17), (1000, 5)] {
        let a = rng.dense_op(n, n);
        let d = rng.diag_op(n);
        let sum = Op::sum(vec![
            a.clone(),
            d.clone(),
            Op::identity(n).unwrap().scaled(2.0).unwrap(),
            a.t(),
        ])
        .unwrap();
        push(format!("sum A + D + 2I + A^T {n}"), sum.clone(), b);
        let nested = Op::product(vec![sum.scaled(0.5).unwrap().t(), d.clone(), d, a]).unwrap();
        push(format!("nested (0.5·sum)^T·D·D·A {n}"), nested, b);
    }
    // Fast transforms (orthonormal Walsh–Hadamard and DCT-II/III): alone, transposed, padded,
    // in sums (beta = 1 accumulation) and products.
    use linops::op::{Dct, Hadamard};
    for (n, b) in [(1, 1), (2, 3), (64, 17), (1024, 5)] {
        let h = Op::leaf(Hadamard::new(n).unwrap());
        push(format!("hadamard {n}"), h.clone(), b);
        push(
            format!("hadamard^T scaled {n}"),
            h.t().scaled(-0.5).unwrap(),
            b,
        );
        let d = rng.diag_op(n);
        push(
            format!("sum hadamard + D {n}"),
            Op::sum(vec![h.clone(), d.clone()]).unwrap(),
            b,
        );
        let c = Op::leaf(Dct::new(n).unwrap());
        push(format!("dct {n}"), c.clone(), b);
        push(format!("dct^T {n}"), c.t(), b);
        push(
            format!("product dct^T·D·hadamard {n}"),
            Op::product(vec![c.t(), d, h]).unwrap(),
            b,
        );
        push(
            format!("sum dct + dct^T {n}"),
            Op::sum(vec![c.clone(), c.t().scaled(2.0).unwrap()]).unwrap(),
            b,
        );
    }
    for (n, b) in [(3, 2), (100, 7), (600, 2)] {
        let hp = Op::leaf(Hadamard::padded(n).unwrap());
        push(format!("hadamard padded {n}"), hp.clone(), b);
        push(format!("hadamard padded^T {n}"), hp.t(), b);
    }
    structured_more_cases(&mut rng, &mut push);
    for (name, op, factors, batch) in crate::structured::cases()
        .into_iter()
        .chain(crate::sampling::market_cases())
        .chain(crate::butterfly::cases())
        .chain(crate::families::market_cases())
        .chain(crate::batched::market_cases())
        .chain(crate::gemm_diag::market_cases())
    {
        v.push(Case {
            name,
            op,
            factors,
            batch,
            gen_rel: 0.0,
        });
    }
    // Dense sketches generated on the fly: S (d×m), Sᵀ, A·Sᵀ and a scaled S.
    let gauss_rel = GAUSSIAN_GPU_MAX_ULPS * 2f64.powi(-23);
    for (si, (d, m, b)) in [
        (1, 1, 1),
        (3, 257, 5),
        (17, 1000, 3),
        (1, 1000, 17),
        (17, 1, 4),
        (3, 1, 2),
        (17, 257, 64),
    ]
    .into_iter()
    .enumerate()
    {
        let rng_state = RngState::new(0x5CE7_C400 + si as u64).skip_columns(si as u64);
        for (label, sk, rel) in [
            (
                "gaussian",
                DenseSketch::gaussian(d, m, rng_state).unwrap(),
                gauss_rel,
            ),
            (
                "rademacher",
                DenseSketch::rademacher(d, m, rng_state).unwrap(),
                0.0,
            ),
        ] {
            let s = Op::leaf(sk);
            let mut add = |name: String, op: Op, batch: usize| {
                cases_gen.push(Case {
                    name,
                    factors: op.clone(),
                    op,
                    batch,
                    gen_rel: rel,
                })
            };
            add(format!("{label} sketch {d}x{m}"), s.clone(), b);
            add(format!("{label} sketch^T {d}x{m}"), s.t(), b);
            add(
                format!("scaled {label} sketch {d}x{m}"),
                s.clone().scaled(-1.5).unwrap(),
                b,
            );
            let a = rng.dense_op(5, m);
            add(
                format!("A·{label} sketch^T 5x{m}x{d}"),
                Op::product(vec![a, s.t()]).unwrap(),
                b,
            );
        }
    }
    v.extend(cases_gen);
    for (name, op, batch) in crate::sketch_sparse::market_cases() {
        v.push(Case {
            name,
            factors: op.clone(),
            op,
            batch,
            gen_rel: 0.0,
        });
    }
    v
}

/// Householder products, Kronecker products and sparse CSR (tests/src/structured_more.rs).
fn structured_more_cases(rng: &mut Rng, push: &mut impl FnMut(String, Op, usize)) {
    use linops::op::{Csr, Householder, Kronecker};
    for (n, k, b) in [(1, 1, 1), (17, 5, 3), (64, 64, 17), (257, 16, 5)] {
        let q = Op::leaf(Householder::from_vectors(n, k, rng.vec(n * k)).unwrap());
        push(format!("householder n={n} k={k}"), q.clone(), b);
        push(format!("householder^T n={n} k={k}"), q.t(), b);
    }
    for (dims, b) in [
        (vec![(1, 1), (1, 1)], 1),
        (vec![(3, 2), (4, 5)], 7),
        (vec![(17, 13), (5, 9)], 3),
        (vec![(2, 3), (3, 2), (4, 4)], 5),
        (vec![(16, 16), (16, 16)], 33),
    ] {
        let f: Vec<Op> = dims.iter().map(|&(m, n)| rng.dense_op(m, n)).collect();
        let k = Op::leaf(Kronecker::new(f).unwrap());
        push(format!("kronecker {dims:?}"), k.clone(), b);
        push(format!("kronecker^T {dims:?}"), k.t(), b);
    }
    let inner = Op::leaf(Kronecker::new(vec![rng.dense_op(2, 3), rng.diag_op(2)]).unwrap());
    let mixed =
        Op::leaf(Kronecker::new(vec![rng.diag_op(5), inner, rng.dense_op(3, 3).t()]).unwrap());
    push("kronecker D⊗(A⊗D)⊗B^T".into(), mixed.clone(), 4);
    push(
        "kronecker (D⊗(A⊗D)⊗B^T)^T".into(),
        mixed.t().scaled(0.5).unwrap(),
        4,
    );
    for (m, n, per_row, b) in [
        (1, 1, 1, 1),
        (17, 3, 2, 5),
        (127, 257, 9, 33),
        (1000, 64, 4, 3),
    ] {
        let mut trip = Vec::new();
        for i in 0..m {
            for _ in 0..per_row {
                trip.push((i, rng.below(n), rng.uniform()));
            }
        }
        let s = Op::leaf(Csr::from_triplets(m, n, &trip).unwrap());
        push(format!("csr {m}x{n} ({per_row}/row)"), s.clone(), b);
        push(format!("csr^T {m}x{n} ({per_row}/row)"), s.t(), b);
    }
}

#[test]
fn differential_market() {
    let cpu = crate::support::cpu_engine();
    let gpu = gpu_engines();
    let cases = cases();
    let mut gpu_cases = 0usize;
    for (ci, case) in cases.iter().enumerate() {
        let (rows, cols) = case.op.shape();
        let seed = 0xC0FFEE + ci as u64;
        let x = Rng::new(seed).mat(cols, case.batch);
        let x32 = to_f32(x.as_ref());
        let what = format!(
            "case {ci} `{}` (op {rows}x{cols}, X {cols}x{}, seed {seed:#x})",
            case.name, case.batch
        );

        let y64 = cpu
            .apply(&case.op, x.as_ref())
            .unwrap_or_else(|e| panic!("{what}: cpu f64: {e}"));
        let mag = magnitude(&case.factors, x.as_ref());
        let scale = max_abs(mag.as_ref());

        // CPU f64 against the definition.
        let dense = linops::to_faer(&case.op) * &x;
        let gamma = 2.0 * (depth(&case.factors) + max_inner(&case.factors)) as f64 * U64;
        for j in 0..case.batch {
            for i in 0..rows {
                let (got, want, bound) = (y64[(i, j)], dense[(i, j)], gamma * mag[(i, j)]);
                assert!(
                    (got - want).abs() <= bound,
                    "{what}: cpu f64 vs to_dense·X at ({i}, {j}): got {got}, expected {want}, diff {}, bound {bound}",
                    (got - want).abs()
                );
            }
        }

        let y32 = cpu
            .apply(&case.op, x32.as_ref())
            .unwrap_or_else(|e| panic!("{what}: cpu f32: {e}"));
        let (err_cpu, _) = max_err(y32.as_ref(), y64.as_ref());

        let Some((trusted, checked)) = &gpu else {
            continue;
        };
        let yg = trusted
            .apply(&case.op, x32.as_ref())
            .unwrap_or_else(|e| panic!("{what}: gpu: {e}"));
        let (err_gpu, at) = max_err(yg.as_ref(), y64.as_ref());
        let bound = 2.0 * err_cpu + (U32 + case.gen_rel) * scale;
        assert!(
            err_gpu <= bound,
            "{what}: gpu f32 error {err_gpu:e} at {at:?} (gpu {}, ref {}) exceeds 2·cpu-f32 error {err_cpu:e} + (u + gen_rel {:e})·scale {:e} = {bound:e}",
            yg[at],
            y64[at],
            case.gen_rel,
            U32 * scale
        );
        let yc = checked
            .apply(&case.op, x32.as_ref())
            .unwrap_or_else(|e| panic!("{what}: gpu checked: {e}"));
        for j in 0..case.batch {
            for i in 0..rows {
                assert_eq!(
                    yc[(i, j)].to_bits(),
                    yg[(i, j)].to_bits(),
                    "{what}: checked and trusted shaders differ at ({i}, {j}): {} vs {}",
                    yc[(i, j)],
                    yg[(i, j)]
                );
            }
        }
        gpu_cases += 1;
    }
    let adapter = gpu
        .as_ref()
        .map(|(t, _)| t.device())
        .unwrap_or_else(|| "none (skipped)".into());
    report(&format!(
        "differential market: {} cases on cpu-f64 and cpu-f32, {gpu_cases} GPU cases (trusted + checked shaders) on adapter: {adapter}",
        cases.len()
    ));
    if gpu.is_some() {
        assert_eq!(gpu_cases, cases.len(), "every case must run on the GPU");
    }
}

/// The binding clamp for a case's tiled run: a third of its largest buffer in the untiled f32
/// plan (so every splittable buffer is split), doubled while the f64 plan (the strictest: 8-byte
/// values) has a buffer that cannot be split under it. `None` when even the largest buffer is
/// unsplittable.
fn tiling_clamp(cpu: &linops::Engine, case: &Case) -> Option<u64> {
    let (_, cols) = case.op.shape();
    let largest = cpu_untiled_largest(cpu, case);
    let mut clamp = (largest / 3).max(linops::plan::MIN_BINDING_BYTES);
    while clamp < 8 * largest {
        cpu.set_max_binding_bytes(Some(clamp)).expect("valid clamp");
        match cpu.tiled_plan::<f64>(&case.op, cols, case.batch) {
            Ok(_) => return Some(clamp),
            Err(linops::Error::DeviceLimit { .. }) => clamp *= 2,
            Err(e) => panic!("{}: tiled plan: {e}", case.name),
        }
    }
    None
}

/// Bytes of the largest buffer of the case's untiled f32 plan.
fn cpu_untiled_largest(cpu: &linops::Engine, case: &Case) -> u64 {
    let (_, cols) = case.op.shape();
    let old = cpu.limits().expect("limits").max_binding_bytes();
    cpu.set_max_binding_bytes(None).expect("no clamp");
    let untiled = cpu
        .tiled_plan::<f32>(&case.op, cols, case.batch)
        .expect("untiled plan");
    cpu.set_max_binding_bytes(old).expect("restored clamp");
    untiled.plans()[0]
        .buffers()
        .iter()
        .map(|b| (b.rows * b.cols * 4) as u64)
        .max()
        .unwrap_or(0)
}

/// The market again with the engines' binding limit clamped per case ([`tiling_clamp`]), so
/// parameters, X, Y and temporaries are split into panels: CPU f64 tiled against the
/// definition, GPU f32 tiled within 2× the CPU f32 error (tiled or not, the larger) plus one
/// f32 ulp of the magnitude, checked and trusted shaders bit-identical, and every buffer of
/// every panel plan within the clamp.
#[test]
fn differential_market_tiled() {
    let cpu = crate::support::cpu_engine();
    let gpu = gpu_engines();
    let cases = cases();
    let (mut tiled, mut gpu_cases, mut panels_total) = (0usize, 0usize, 0usize);
    let mut untiled_names = Vec::new();
    let mut no_clamp = 0usize;
    for (ci, case) in cases.iter().enumerate() {
        let (rows, cols) = case.op.shape();
        cpu.set_max_binding_bytes(None).unwrap();
        let Some(clamp) = tiling_clamp(&cpu, case) else {
            untiled_names.push(case.name.clone());
            no_clamp += 1;
            continue;
        };
        let seed = 0xC0FFEE + ci as u64;
        let x = Rng::new(seed).mat(cols, case.batch);
        let x32 = to_f32(x.as_ref());
        let what = format!(
            "tiled case {ci} `{}` (op {rows}x{cols}, X {cols}x{}, seed {seed:#x}, clamp {clamp} bytes)",
            case.name, case.batch
        );
        // Untiled references first.
        cpu.set_max_binding_bytes(None).unwrap();
        let y64 = cpu.apply(&case.op, x.as_ref()).unwrap();
        let y32 = cpu.apply(&case.op, x32.as_ref()).unwrap();
        let (err_cpu, _) = max_err(y32.as_ref(), y64.as_ref());

        cpu.set_max_binding_bytes(Some(clamp)).unwrap();
        let plan = cpu.tiled_plan::<f32>(&case.op, cols, case.batch).unwrap();
        for dtype_plan in [
            plan.clone(),
            cpu.tiled_plan::<f64>(&case.op, cols, case.batch).unwrap(),
        ] {
            for p in dtype_plan.plans() {
                let elem = p.dtype().size_bytes();
                for b in p.buffers() {
                    let e = if matches!(b.role, linops::plan::BufferRole::Index(_)) {
                        4
                    } else {
                        elem
                    };
                    let bytes = (b.rows * b.cols) as u64 * e;
                    assert!(
                        bytes <= clamp,
                        "{what}: a {}x{} buffer of {bytes} bytes is over the clamp\n{}",
                        b.rows,
                        b.cols,
                        p.explain()
                    );
                }
            }
        }
        let largest_f32 = cpu_untiled_largest(&cpu, case);
        if plan.is_tiled() {
            tiled += 1;
            panels_total += plan.panels().len();
        } else {
            // Not tiled in f32 only when the clamp had to rise to the largest f32 buffer
            // (an unsplittable buffer is the largest one).
            assert!(
                clamp >= largest_f32,
                "{what}: nothing split although the clamp is below the largest buffer ({largest_f32} bytes)\n{}",
                plan.explain()
            );
            untiled_names.push(case.name.clone());
        }
        let y64t = cpu
            .apply(&case.op, x.as_ref())
            .unwrap_or_else(|e| panic!("{what}: cpu f64: {e}"));
        let mag = magnitude(&case.factors, x.as_ref());
        let scale = max_abs(mag.as_ref());
        let dense = linops::to_faer(&case.op) * &x;
        // A K-split sums a row's panels separately: at most one more rounding per panel, and
        // panels ≤ the reduction length; two kernel levels more than the untiled plan (the
        // selections add exact zeros).
        let gamma = 2.0 * (depth(&case.factors) + 2 + 2 * max_inner(&case.factors)) as f64 * U64;
        for j in 0..case.batch {
            for i in 0..rows {
                let (got, want, bound) = (y64t[(i, j)], dense[(i, j)], gamma * mag[(i, j)]);
                assert!(
                    (got - want).abs() <= bound,
                    "{what}: cpu f64 tiled vs to_dense·X at ({i}, {j}): got {got}, expected {want}, diff {}, bound {bound}",
                    (got - want).abs()
                );
            }
        }
        let y32t = cpu
            .apply(&case.op, x32.as_ref())
            .unwrap_or_else(|e| panic!("{what}: cpu f32: {e}"));
        let (err_cpu_t, _) = max_err(y32t.as_ref(), y64.as_ref());
        let Some((trusted, checked)) = &gpu else {
            continue;
        };
        trusted.set_max_binding_bytes(Some(clamp)).unwrap();
        checked.set_max_binding_bytes(Some(clamp)).unwrap();
        let yg = trusted
            .apply(&case.op, x32.as_ref())
            .unwrap_or_else(|e| panic!("{what}: gpu: {e}"));
        let (err_gpu, at) = max_err(yg.as_ref(), y64.as_ref());
        let bound = 2.0 * err_cpu.max(err_cpu_t) + (U32 + case.gen_rel) * scale;
        assert!(
            err_gpu <= bound,
            "{what}: gpu f32 tiled error {err_gpu:e} at {at:?} (gpu {}, ref {}) exceeds 2·cpu-f32 error max({err_cpu:e}, tiled {err_cpu_t:e}) + (u + gen_rel {:e})·scale {:e} = {bound:e}",
            yg[at],
            y64[at],
            case.gen_rel,
            U32 * scale
        );
        let yc = checked
            .apply(&case.op, x32.as_ref())
            .unwrap_or_else(|e| panic!("{what}: gpu checked: {e}"));
        for j in 0..case.batch {
            for i in 0..rows {
                assert_eq!(
                    yc[(i, j)].to_bits(),
                    yg[(i, j)].to_bits(),
                    "{what}: checked and trusted shaders differ at ({i}, {j})"
                );
            }
        }
        gpu_cases += 1;
    }
    let adapter = gpu
        .as_ref()
        .map(|(t, _)| t.device())
        .unwrap_or_else(|| "none (skipped)".into());
    report(&format!(
        "tiled market: {} cases, {tiled} tiled in f32 ({panels_total} column panels in all), {} whose largest buffer cannot be split ({untiled_names:?}), {gpu_cases} GPU cases on adapter: {adapter}",
        cases.len(),
        untiled_names.len()
    ));
    // Every case whose largest buffer can be split is tiled (asserted per case above).
    assert_eq!(tiled + untiled_names.len(), cases.len());
    assert!(
        tiled * 2 > cases.len(),
        "most cases must be tiled: {tiled} of {}",
        cases.len()
    );
    if gpu.is_some() {
        assert_eq!(
            gpu_cases,
            cases.len() - no_clamp,
            "every clamped case must run on the GPU"
        );
    }
}

/// Runs a step on an engine in a dtype, with the inputs uploaded in that dtype.
type RunStep = Box<
    dyn Fn(&linops::Engine, linops::DType, &[linops::Matrix]) -> linops::Result<faer::Mat<f64>>,
>;
/// A step's definition on host matrices.
type Definition = Box<dyn Fn(&[faer::Mat<f64>]) -> faer::Mat<f64>>;

/// One line of the step market: a plan over several resident inputs (an `Engine` front door),
/// its f64 definition on the host, and the length of its longest reduction.
struct StepCase {
    name: String,
    inputs: Vec<faer::Mat<f64>>,
    /// Runs the step on an engine in a dtype, with the inputs uploaded in that dtype.
    run: RunStep,
    /// The definition on host matrices (applied to `|inputs|` it gives the magnitude).
    reference: Definition,
    /// Longest reduction (inner dimension) of the step; 0 for copies and fills.
    k: usize,
    /// Exact on every backend (copies, exactly representable scalings): compared bit for bit.
    exact: bool,
}

fn step_cases() -> Vec<StepCase> {
    use faer::Mat;
    let mut rng = Rng::new(0x5EED_0002);
    let mut v: Vec<StepCase> = Vec::new();
    let tr = |m: &Mat<f64>, t: bool| {
        if t {
            m.transpose().to_owned()
        } else {
            m.clone()
        }
    };
    // GEMM: every transpose combination, with and without C, on shapes that break tiles.
    for (m, k, n) in [
        (1, 1, 1),
        (3, 17, 5),
        (64, 64, 64),
        (127, 257, 33),
        (1000, 3, 17),
    ] {
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            for (alpha, beta) in [(1.0, 0.0), (-0.75, 0.5), (0.0, 2.0)] {
                let a = rng.mat(if ta { k } else { m }, if ta { m } else { k });
                let b = rng.mat(if tb { n } else { k }, if tb { k } else { n });
                let mut inputs = vec![a, b];
                if beta != 0.0 {
                    inputs.push(rng.mat(m, n));
                }
                v.push(StepCase {
                    name: format!("gemm {m}x{k}x{n} ta={ta} tb={tb} alpha={alpha} beta={beta}"),
                    inputs,
                    run: Box::new(move |e, _, x| {
                        let c = x.get(2);
                        e.download_f64(&e.gemm(alpha, &x[0], ta, &x[1], tb, beta, c)?)
                    }),
                    reference: Box::new(move |x| {
                        let mut y = (tr(&x[0], ta) * tr(&x[1], tb)) * alpha;
                        if let Some(c) = x.get(2) {
                            y += c * beta;
                        }
                        y
                    }),
                    k,
                    exact: false,
                });
            }
        }
    }
    for (m, n) in [(1, 1), (17, 3), (257, 64), (1000, 17)] {
        let (x, y) = (rng.mat(m, n), rng.mat(m, n));
        v.push(StepCase {
            name: format!("axpby {m}x{n}"),
            inputs: vec![x.clone(), y.clone()],
            run: Box::new(|e, _, x| e.download_f64(&e.axpby(1.5, &x[0], -0.25, &x[1])?)),
            reference: Box::new(|x| &x[0] * 1.5 + &x[1] * -0.25),
            k: 1,
            exact: false,
        });
        v.push(StepCase {
            name: format!("col_norms {m}x{n}"),
            inputs: vec![x.clone()],
            run: Box::new(|e, _, x| {
                let v = e.col_norms(&x[0])?;
                Ok(Mat::from_fn(1, v.len(), |_, j| v[j]))
            }),
            reference: Box::new(|x| Mat::from_fn(1, x[0].ncols(), |_, j| x[0].col(j).norm_l2())),
            k: m,
            exact: false,
        });
        v.push(StepCase {
            name: format!("col_dots {m}x{n}"),
            inputs: vec![x.clone(), y.clone()],
            run: Box::new(|e, _, x| {
                let v = e.col_dots(&x[0], &x[1])?;
                Ok(Mat::from_fn(1, v.len(), |_, j| v[j]))
            }),
            reference: Box::new(|x| {
                Mat::from_fn(1, x[0].ncols(), |_, j| {
                    (0..x[0].nrows()).map(|i| x[0][(i, j)] * x[1][(i, j)]).sum()
                })
            }),
            k: m,
            exact: false,
        });
        let z = rng.mat(m, 2 * n + 1);
        v.push(StepCase {
            name: format!("concat_cols {m}x({n}+{}+1)", 2 * n + 1),
            inputs: vec![x, z, rng.mat(m, 1)],
            run: Box::new(|e, _, x| e.download_f64(&e.concat_cols(&[&x[0], &x[1], &x[2]])?)),
            reference: Box::new(|x| {
                let total: usize = x.iter().map(|b| b.ncols()).sum();
                let mut out = Mat::zeros(x[0].nrows(), total);
                let mut off = 0;
                for b in x {
                    out.as_mut().subcols_mut(off, b.ncols()).copy_from(b);
                    off += b.ncols();
                }
                out
            }),
            k: 0,
            exact: true,
        });
    }
    // Random fills: uniform and Rademacher entries are exact on every backend (scaled by a
    // power of two); Gaussian entries on the GPU are within GAUSSIAN_GPU_MAX_ULPS ulps.
    use linops::Dist;
    for (si, (rows, cols)) in [(1, 1), (3, 257), (17, 5), (1000, 3)]
        .into_iter()
        .enumerate()
    {
        for dist in [Dist::Uniform, Dist::Rademacher, Dist::Gaussian] {
            for trans in [false, true] {
                let s = RngState::new(0xF111 + si as u64);
                v.push(StepCase {
                    name: format!("random_fill {dist:?} {rows}x{cols} trans={trans}"),
                    inputs: Vec::new(),
                    run: Box::new(move |e, dtype, _| {
                        let g = e.random_matrix(dtype, dist, s, rows, cols, trans, -2.0)?;
                        e.download_f64(&g)
                    }),
                    reference: Box::new(move |_| {
                        let g = Mat::from_fn(rows, cols, |i, j| {
                            -2.0 * f64::from(s.entry(dist, i as u64, j as u64))
                        });
                        tr(&g, trans)
                    }),
                    k: 0,
                    exact: dist != Dist::Gaussian,
                });
            }
        }
    }
    v
}

/// The differential market for the steps over resident matrices (GEMM with trans/alpha/beta,
/// `axpby`, column norms and dots, concatenation, random fill): the same rules as
/// [`differential_market`], with the bound `2·(k + 2)·u64·|definition|(|inputs|)` for the CPU in
/// f64 (k the reduction length; one rounding per product and per addition, plus the scaling and
/// the `beta` update) and `2·err(cpu f32) + u32·scale` for the GPU; copies and power-of-two
/// scalings of uniform or ±1 entries are bit-exact everywhere.
#[test]
fn differential_market_steps() {
    use faer::Mat;
    let cpu = crate::support::cpu_engine();
    let gpu = gpu_engines();
    let cases = step_cases();
    let mut gpu_cases = 0usize;
    for (ci, case) in cases.iter().enumerate() {
        let what = format!("step case {ci} `{}`", case.name);
        let up64: Vec<linops::Matrix> = case
            .inputs
            .iter()
            .map(|m| cpu.upload(m.as_ref()).unwrap())
            .collect();
        let y64 = (case.run)(&cpu, linops::DType::F64, &up64)
            .unwrap_or_else(|e| panic!("{what}: cpu f64: {e}"));
        let want = (case.reference)(&case.inputs);
        let abs: Vec<Mat<f64>> = case
            .inputs
            .iter()
            .map(|m| Mat::from_fn(m.nrows(), m.ncols(), |i, j| m[(i, j)].abs()))
            .collect();
        let mag = if abs.is_empty() {
            Mat::from_fn(want.nrows(), want.ncols(), |i, j| want[(i, j)].abs())
        } else {
            let m = (case.reference)(&abs);
            Mat::from_fn(m.nrows(), m.ncols(), |i, j| m[(i, j)].abs())
        };
        assert_eq!(
            (y64.nrows(), y64.ncols()),
            (want.nrows(), want.ncols()),
            "{what}: shape"
        );
        let gamma = 2.0 * (case.k + 2) as f64 * U64;
        for j in 0..want.ncols() {
            for i in 0..want.nrows() {
                let (got, exp, bound) = (y64[(i, j)], want[(i, j)], gamma * mag[(i, j)]);
                let ok = if case.exact {
                    got.to_bits() == exp.to_bits()
                } else {
                    (got - exp).abs() <= bound
                };
                assert!(
                    ok,
                    "{what}: cpu f64 vs definition at ({i}, {j}): got {got}, expected {exp}, diff {}, bound {bound}",
                    (got - exp).abs()
                );
            }
        }
        let up32 = |e: &linops::Engine| -> Vec<linops::Matrix> {
            case.inputs
                .iter()
                .map(|m| e.upload(to_f32(m.as_ref()).as_ref()).unwrap())
                .collect()
        };
        let run32 = |e: &linops::Engine| -> linops::Result<Mat<f64>> {
            (case.run)(e, linops::DType::F32, &up32(e))
        };
        let y32 = run32(&cpu).unwrap_or_else(|e| panic!("{what}: cpu f32: {e}"));
        let (err_cpu, _) = max_err(y32.as_ref(), y64.as_ref());
        let Some((trusted, checked)) = &gpu else {
            continue;
        };
        let yg = run32(trusted).unwrap_or_else(|e| panic!("{what}: gpu: {e}"));
        let (err_gpu, at) = max_err(yg.as_ref(), y64.as_ref());
        let gen_rel = if case.inputs.is_empty() && !case.exact {
            GAUSSIAN_GPU_MAX_ULPS * 2f64.powi(-23)
        } else {
            0.0
        };
        let bound = if case.exact {
            err_cpu
        } else {
            2.0 * err_cpu + (U32 + gen_rel) * max_abs(mag.as_ref())
        };
        assert!(
            err_gpu <= bound,
            "{what}: gpu f32 error {err_gpu:e} at {at:?} (gpu {}, ref {}) exceeds {bound:e}",
            yg[at],
            y64[at]
        );
        let yc = run32(checked).unwrap_or_else(|e| panic!("{what}: gpu checked: {e}"));
        for j in 0..yg.ncols() {
            for i in 0..yg.nrows() {
                assert_eq!(
                    yc[(i, j)].to_bits(),
                    yg[(i, j)].to_bits(),
                    "{what}: checked and trusted shaders differ at ({i}, {j})"
                );
            }
        }
        gpu_cases += 1;
    }
    report(&format!(
        "differential market (steps): {} cases on cpu-f64 and cpu-f32, {gpu_cases} GPU cases",
        cases.len()
    ));
    if gpu.is_some() {
        assert_eq!(
            gpu_cases,
            cases.len(),
            "every step case must run on the GPU"
        );
    }
}

/// Every market plan moves at least its minimum traffic (inputs and parameters read once, the
/// output written once), and no step writes more than it moves: the byte accounting the
/// runner's `bytes_ratio` and roofline columns rest on. Plans are built by the CPU engine and,
/// when an adapter exists, the GPU engine (their cost models may lower differently).
#[test]
fn market_plans_move_at_least_their_minimum_bytes() {
    let mut engines = vec![("cpu", crate::support::cpu_engine())];
    if let Some((g, _)) = gpu_engines() {
        engines.push(("gpu", g));
    }
    let cases = cases();
    for (label, e) in &engines {
        for case in &cases {
            let cols = case.op.shape().1;
            let plan = e
                .plan::<f32>(&case.op, cols, case.batch)
                .unwrap_or_else(|err| panic!("{label} `{}`: {err}", case.name));
            let what = format!("{label} `{}`\n{}", case.name, plan.explain());
            assert!(plan.min_bytes() > 0, "{what}");
            // An operator with a zero column (a row sampler, a sparse matrix with an empty
            // column) need not read all of X: its plan may move less than the minimum, but never
            // less than the minimum without X.
            let dense = linops::to_faer(&case.op);
            let reads_all_of_x =
                (0..cols).all(|j| (0..dense.nrows()).any(|i| dense[(i, j)] != 0.0));
            let x_bytes = 4 * (cols * case.batch) as u64;
            let floor = if reads_all_of_x {
                plan.min_bytes()
            } else {
                plan.min_bytes() - x_bytes
            };
            assert!(
                plan.total_bytes() >= floor,
                "{what}: moves {} bytes, below {floor} (minimum {}, all of X needed: {reads_all_of_x})",
                plan.total_bytes(),
                plan.min_bytes()
            );
            for st in plan.steps() {
                assert!(st.bytes_written <= st.bytes, "{what}");
            }
            assert!(plan.total_bytes_written() > 0, "{what}");
        }
    }
    report(&format!(
        "byte accounting: {} market plans on {} engines",
        cases.len(),
        engines.len()
    ));
}

/// `bytes_ratio` is exactly 1 for one-pass lowerings and counts the extra passes of chains.
#[test]
fn bytes_ratio_counts_passes() {
    let e = crate::support::cpu_engine();
    let n = 64;
    let d = Op::diagonal((0..n).map(|i| 1.0 + i as f64).collect()).unwrap();
    let p = e.plan::<f32>(&d, n, 8).unwrap();
    assert_eq!(p.min_bytes(), 4 * (n + 2 * n * 8) as u64);
    assert_eq!(p.bytes_ratio(), 1.0, "{}", p.explain());
    // D·D·D lowered without merging would be three passes; the normalizer merges diagonals
    // into one, so the ratio stays 1.
    let ddd = Op::product(vec![d.clone(), d.clone(), d.clone()]).unwrap();
    assert_eq!(e.plan::<f32>(&ddd, n, 8).unwrap().bytes_ratio(), 1.0);
    // A dense product A·B is two GEMMs through an n×8 temporary: the temporary is written
    // and read once beyond the minimum.
    let a = Op::dense(n, n, vec![0.5; n * n]).unwrap();
    let ab = Op::product(vec![a.clone(), a.t()]).unwrap();
    let p = e.plan::<f32>(&ab, n, 8).unwrap();
    let extra = p.total_bytes() - p.min_bytes();
    // The minimum counts A once although the plan reads it twice (as A and as Aᵀ: one
    // parameter), so the extra is the second read of A plus the temporary's write and read.
    assert_eq!(extra, 4 * (n * n + 2 * n * 8) as u64, "{}", p.explain());
}
