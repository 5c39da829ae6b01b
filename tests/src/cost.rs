//! The cost model's structured-vs-materialized choice: which way it goes, that the materialized
//! plan computes the same map, that a materialization is built once and reused, and calibration.

use crate::support::{Rng, gpu_engines, max_abs, max_err, report};
use linops::op::{DenseSketch, LowRank, Monarch};
use linops::plan::BufferRole;
use linops::plan::{CostModel, KernelKind};
use linops::{DType, Engine, HostMat, Op, Plan};
use linops_core::rng::RngState;

fn full_rank_low_rank(rng: &mut Rng, n: usize) -> Op {
    let u = HostMat::from_fn(n, n, |_, _| rng.uniform());
    let v = HostMat::from_fn(n, n, |_, _| rng.uniform());
    Op::leaf(LowRank::new(u, rng.vec(n), v).unwrap())
}

fn monarch(rng: &mut Rng, b: usize) -> Op {
    Op::leaf(Monarch::square(b, rng.vec(b * b * b), rng.vec(b * b * b)).unwrap())
}

/// Keys of the parameter buffers a plan reads.
fn param_keys(p: &Plan) -> Vec<u64> {
    p.buffers()
        .iter()
        .filter_map(|b| match &b.role {
            BufferRole::Param(p) => Some(p.key),
            _ => None,
        })
        .collect()
}

#[test]
fn full_rank_low_rank_is_materialized_and_computes_the_same_map() {
    let mut rng = Rng::new(71);
    let n = 256;
    let op = full_rank_low_rank(&mut rng, n);
    let e = Engine::cpu(); // the default CPU model
    let plan = e.plan::<f64>(&op, n, n).unwrap();
    let d = &plan.decisions()[0];
    // rank n: 2·(2n³) structured FLOPs vs 2n³ dense.
    assert!(d.materialized, "{d:?}");
    assert!(d.dense_s < d.structured_s);
    assert!(
        plan.explain().contains("materialized"),
        "{}",
        plan.explain()
    );
    assert_eq!(plan.steps().len(), 1, "{}", plan.explain());
    // Same map: the materialized apply equals to_dense·X to f64 rounding.
    let x = rng.mat(n, n);
    let y = e.apply(&op, x.as_ref()).unwrap();
    let want = linops::to_faer(&op) * &x;
    let scale = max_abs(want.as_ref());
    let (err, at) = max_err(y.as_ref(), want.as_ref());
    assert!(
        err <= 1e-12 * scale * n as f64,
        "err {err} at {at:?}, scale {scale}"
    );
    // Built once: a second plan reads the same parameter (so backends keep their copy).
    let again = e.plan::<f64>(&op, n, n).unwrap();
    assert_eq!(param_keys(&plan), param_keys(&again));
    // The structure-only model keeps the low-rank steps.
    let s = Plan::with_model(&op, n, n, DType::F64, &CostModel::structure_only()).unwrap();
    assert!(!s.decisions()[0].materialized);
    assert!(s.steps().len() >= 2, "{}", s.explain());
}

#[test]
fn decisions_follow_shape_and_batch() {
    let mut rng = Rng::new(72);
    let m = CostModel::cpu_default();
    // Monarch 1024 (32 blocks): 32× fewer FLOPs than dense; structure at every batch.
    let op = monarch(&mut rng, 32);
    for batch in [1, 64, 1024] {
        let p = Plan::with_model(&op, 1024, batch, DType::F32, &m).unwrap();
        assert!(!p.decisions()[0].materialized, "{}", p.explain());
    }
    // A model on which block GEMMs are 100× slower than GEMMs per FLOP, launches are
    // expensive and every read streams from memory (no cache tier): Monarch loses to dense at
    // large batch, but for one column the dense matrix's 4 MiB read costs more than the
    // structure.
    let slow = CostModel::cpu_default()
        .with_rate(KernelKind::BlockGemm, 1e9)
        .with_launch(20e-6)
        .with_cache(0, 10e9);
    let p = Plan::with_model(&op, 1024, 1024, DType::F32, &slow).unwrap();
    assert!(p.decisions()[0].materialized, "{}", p.explain());
    let p1 = Plan::with_model(&op, 1024, 1, DType::F32, &slow).unwrap();
    assert!(!p1.decisions()[0].materialized, "{}", p1.explain());
    // With the default cache tier (8 MiB at 40 GB/s) that read is costed at the cache's rate
    // (the dense matrix stays in cache across applies): a quarter of the streaming estimate,
    // and then dense wins on this model.
    let cached = slow.clone().with_cache(8 << 20, 40e9);
    let pc = Plan::with_model(&op, 1024, 1, DType::F32, &cached).unwrap();
    let (ds, dc) = (p1.decisions()[0].dense_s, pc.decisions()[0].dense_s);
    assert!((dc - 20e-6) < 0.3 * (ds - 20e-6), "{ds} vs {dc}");
    assert!(pc.decisions()[0].materialized, "{}", pc.explain());
    // The transposed leaf is decided as a transposed leaf.
    let pt = Plan::with_model(&op.t(), 1024, 1024, DType::F32, &slow).unwrap();
    assert!(
        pt.decisions()[0].leaf.ends_with('ᵀ'),
        "{:?}",
        pt.decisions()
    );
    assert!(pt.decisions()[0].materialized);
    // Composition: each structured leaf of a product is decided on its own.
    let h = Op::leaf(linops::op::Hadamard::new(1024).unwrap());
    let prod = Op::product(vec![h, op.clone()]).unwrap();
    let pp = Plan::with_model(&prod, 1024, 1024, DType::F32, &slow).unwrap();
    let got: Vec<bool> = pp.decisions().iter().map(|d| d.materialized).collect();
    assert_eq!(got, vec![false, true], "{}", pp.explain());
}

#[test]
fn sketches_are_never_materialized() {
    let s = Op::leaf(DenseSketch::gaussian(64, 512, RngState::new(3)).unwrap());
    let hostile = CostModel::cpu_default().with_rate(KernelKind::SketchGemm, 1e6);
    let p = Plan::with_model(&s, 512, 512, DType::F32, &hostile).unwrap();
    let d = &p.decisions()[0];
    assert!(!d.materialized && d.dense_s < d.structured_s, "{d:?}");
    assert_eq!(d.reason, "leaf is never materialized");
    // Nor the sparse sketches, whatever their estimates.
    let ss = Op::leaf(linops::op::SparseSign::new(64, 512, 8, RngState::new(4)).unwrap());
    let hostile = CostModel::cpu_default().with_rate(KernelKind::Spmm, 1e3);
    let p = Plan::with_model(&ss, 512, 512, DType::F32, &hostile).unwrap();
    assert!(!p.decisions()[0].materialized, "{}", p.explain());
}

#[test]
fn materialized_plan_agrees_on_every_backend() {
    let mut rng = Rng::new(73);
    let op = monarch(&mut rng, 8); // n = 64
    let force = CostModel::cpu_default()
        .with_rate(KernelKind::BlockGemm, 1e3)
        .with_policy(0.8, 0.0, 1 << 24);
    let x = rng.mat(64, 5);
    let want = linops::to_faer(&op) * &x;
    let scale = crate::support::max_abs(crate::support::magnitude(&op, x.as_ref()).as_ref());
    let xf = crate::support::to_f32(x.as_ref());
    let cpu = Engine::cpu().with_cost_model(force.clone());
    assert!(cpu.plan::<f32>(&op, 64, 5).unwrap().decisions()[0].materialized);
    let y: faer::Mat<f32> = cpu.apply(&op, xf.as_ref()).unwrap();
    let bound = 64.0 * f32::EPSILON as f64 * scale;
    let (err, at) = max_err(y.as_ref(), want.as_ref());
    assert!(err <= bound, "cpu f32: err {err} at {at:?} > {bound}");
    match gpu_engines() {
        Some((g, _)) => {
            g.set_cost_model(force);
            let y: faer::Mat<f32> = g.apply(&op, xf.as_ref()).unwrap();
            let (gerr, at) = max_err(y.as_ref(), want.as_ref());
            assert!(gerr <= 2.0 * err + bound, "gpu: err {gerr} at {at:?}");
        }
        None => report("cost: materialized_plan_agrees_on_every_backend GPU half SKIPPED"),
    }
}

#[test]
fn calibration_measures_positive_rates() {
    let e = Engine::cpu();
    let m = e.calibrate().unwrap();
    for kind in [
        KernelKind::Gemm,
        KernelKind::BlockGemm,
        KernelKind::Fwht,
        KernelKind::Spmm,
    ] {
        let r = m.rate(kind);
        assert!(r.is_finite() && r > 0.0, "{}: {r}", kind.label());
    }
    assert!(m.bandwidth().is_finite() && m.bandwidth() > 0.0);
    assert!(m.launch_seconds() >= 0.0 && m.launch_seconds() < 0.1);
    assert_eq!(e.cost_model(), m);
    match gpu_engines() {
        Some((g, _)) => {
            let gm = g.calibrate().unwrap();
            assert!(gm.rate(KernelKind::Gemm).is_finite() && gm.rate(KernelKind::Gemm) > 0.0);
            assert!(gm.name().starts_with("calibrated on"));
        }
        None => report("cost: GPU calibration SKIPPED"),
    }
}

fn random_perm(rng: &mut Rng, n: usize) -> Vec<usize> {
    let mut p: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        p.swap(i, rng.below(i + 1));
    }
    p
}

#[test]
fn permutations_fold_into_dense_neighbours_and_each_other() {
    use linops::op::Permutation;
    let mut rng = Rng::new(74);
    let (m, n, b) = (7, 5, 3);
    let pm = Op::leaf(Permutation::new(random_perm(&mut rng, m)).unwrap());
    let pn = Op::leaf(Permutation::new(random_perm(&mut rng, n)).unwrap());
    let pn2 = Op::leaf(Permutation::new(random_perm(&mut rng, n)).unwrap());
    let a = rng.dense_op(m, n);
    let at = rng.dense_op(n, m).t();
    let e = crate::support::cpu_engine();
    let cases: Vec<(&str, Op, usize)> = vec![
        ("P·A", Op::product(vec![pm.clone(), a.clone()]).unwrap(), 1),
        ("A·P", Op::product(vec![a.clone(), pn.clone()]).unwrap(), 1),
        ("Pᵀ·Bᵀ", Op::product(vec![pm.t(), at.clone()]).unwrap(), 1),
        ("Bᵀ·Pᵀ", Op::product(vec![at.clone(), pn.t()]).unwrap(), 1),
        (
            "P·A·P₁·P₂",
            Op::product(vec![pm.clone(), a.clone(), pn.clone(), pn2.t()]).unwrap(),
            3,
        ),
        (
            "P₁·P₂ alone",
            Op::product(vec![pn.clone(), pn2.clone()]).unwrap(),
            1,
        ),
        (
            "3·P·A (scaled)",
            Op::product(vec![pm.clone(), a.clone()])
                .unwrap()
                .scaled(3.0)
                .unwrap(),
            1,
        ),
    ];
    for (name, op, folds) in cases {
        let plan = e.plan::<f64>(&op, n, b).unwrap();
        assert_eq!(
            plan.stats().permutations_folded,
            folds,
            "{name}: {}",
            plan.explain()
        );
        assert_eq!(plan.steps().len(), 1, "{name}: {}", plan.explain());
        assert!(plan.explain().contains("permutations folded"), "{name}");
        let x = rng.mat(n, b);
        let y = e.apply(&op, x.as_ref()).unwrap();
        let want = linops::to_faer(&op) * &x;
        let (err, at) = max_err(y.as_ref(), want.as_ref());
        let scale = max_abs(crate::support::magnitude(&op, x.as_ref()).as_ref());
        assert!(err <= 1e-14 * scale, "{name}: err {err} at {at:?}");
        // The fold is built once: a second plan reads the same parameters.
        let again = e.plan::<f64>(&op, n, b).unwrap();
        assert_eq!(param_keys(&plan), param_keys(&again), "{name}");
    }
    // A permutation next to a non-dense factor stays a gather.
    let d = Op::leaf(linops::op::Hadamard::new(8).unwrap());
    let p8 = Op::leaf(Permutation::new(random_perm(&mut rng, 8)).unwrap());
    let plan = e
        .plan::<f64>(&Op::product(vec![p8, d]).unwrap(), 8, 2)
        .unwrap();
    assert_eq!(plan.stats().permutations_folded, 0);
    assert_eq!(plan.steps().len(), 2, "{}", plan.explain());
}
