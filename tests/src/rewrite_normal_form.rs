//! The normalizer sees through rewriting leaves (issue 9, item 3): a leaf built from other
//! operators ([`LeafOp::rewrite`]: sparse sketches, samplers, butterflies) is expanded into its
//! parts before lowering, so a neighbouring permutation folds into its first or last CSR factor,
//! its scale merges, and a product of such leaves is flattened; the cost model still decides on
//! each leaf whole (a butterfly is materialized as one matrix, never factor by factor).
//!
//! Each case counts the plan's steps and `Rewrites` before (the parts planned alone) and after
//! (the product), and checks `apply` against the dense reference `to_dense(op)·X` on the CPU in
//! f64 and f32 and on the GPU in f32, with the bound of a dot product of length `k` (Higham,
//! *Accuracy and Stability*, Thm 3.1: `|error| ≤ γ_k·(|A|·|X|)`, `γ_k = k·u/(1 − k·u)`) where `k`
//! is the longest chain of roundings an entry sees (the operator's inner dimensions summed over
//! its factors), taken twice for the reassociation between the folded and unfolded forms.

use crate::support::{Rng, cpu_engine, gpu_engines, magnitude, max_err};
use faer::Mat;
use linops::plan::CostModel;
use linops::{DType, Engine, HostMat, Kernel, LeafOp, Op, Plan, Scalar};
use linops_core::op::{BlockButterfly, Permutation, RowSampler, SparseSign};
use linops_core::rng::RngState;

/// A seeded permutation of `0..n` (Fisher–Yates).
fn permutation(rng: &mut Rng, n: usize) -> Op {
    let mut p: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        p.swap(i, rng.below(i + 1));
    }
    Op::leaf(Permutation::new(p).expect("a permutation"))
}

/// The number of steps of `op` planned alone on `batch` columns.
fn steps(op: &Op, batch: usize) -> usize {
    Plan::new(op, op.shape().1, batch, DType::F64)
        .expect("plan")
        .steps()
        .len()
}

/// `op` with every rewriting leaf replaced by its rewrite (recursively): the same matrix, as
/// the product of the factors that are applied.
fn see_through(op: &Op) -> Op {
    match op {
        Op::Scaled(s) => see_through(s.inner()).scaled(s.factor()).expect("finite"),
        Op::Transpose(t) => see_through(t.inner()).t(),
        Op::Product(p) => {
            Op::product(p.factors().iter().map(see_through).collect()).expect("same shapes")
        }
        Op::Sum(s) => Op::sum(s.terms().iter().map(see_through).collect()).expect("same shapes"),
        Op::Leaf(l) => l.rewrite().map_or_else(|| op.clone(), |r| see_through(&r)),
        leaf => leaf.clone(),
    }
}

/// Checks `engine.apply(op, X)` against `to_dense(op)·X` in `T` with the bound of the module
/// docs (`k` roundings per entry, unit roundoff `u` of `T`).
fn check_apply<T: Scalar + Into<f64>>(engine: &Engine, what: &str, op: &Op, k: usize, u: f64) {
    let mut rng = Rng::new(7);
    let x = rng.mat(op.shape().1, 5);
    let xt = Mat::from_fn(x.nrows(), x.ncols(), |i, j| T::from_f64(x[(i, j)]));
    let got = engine.apply(op, xt.as_ref()).expect("apply");
    let reference = linops::to_faer(op) * &x;
    // |parts|·|X|: a rewriting leaf's rounding scales with the magnitudes of its factors.
    let mag = magnitude(&see_through(op), x.as_ref());
    for j in 0..got.ncols() {
        for i in 0..got.nrows() {
            let g: f64 = got[(i, j)].into();
            let d = (g - reference[(i, j)]).abs();
            // Twice γ_k (module docs); `k·u ≤ 1/2` here, so γ_k ≤ 2·k·u.
            let bound = 2.0 * 2.0 * k as f64 * u * mag[(i, j)];
            assert!(
                d <= bound,
                "{what}: entry ({i}, {j}) is {g}, reference {}, difference {d:e} > bound {bound:e} \
                 ({}x{} operator, k = {k}, seed 7)",
                reference[(i, j)],
                op.shape().0,
                op.shape().1,
            );
        }
    }
    let (worst, at) = max_err(got.as_ref(), reference.as_ref());
    assert!(worst.is_finite(), "{what}: non-finite result at {at:?}");
}

/// `apply` on the CPU (f64, f32) and on every GPU device (f32, loudly skipped without one).
fn check_everywhere(what: &str, op: &Op, k: usize) {
    let cpu = cpu_engine();
    check_apply::<f64>(&cpu, &format!("cpu f64: {what}"), op, k, f64::EPSILON / 2.0);
    check_apply::<f32>(
        &cpu,
        &format!("cpu f32: {what}"),
        op,
        k,
        f64::from(f32::EPSILON) / 2.0,
    );
    if let Some((trusted, checked)) = gpu_engines() {
        for (e, name) in [(trusted, "gpu f32"), (checked, "gpu f32 (checked shaders)")] {
            check_apply::<f32>(
                &e,
                &format!("{name}: {what}"),
                op,
                k,
                f64::from(f32::EPSILON) / 2.0,
            );
        }
    }
}

#[test]
fn permutation_folds_into_a_sparse_sign_sketch() {
    let mut rng = Rng::new(1);
    let (d, m) = (13, 40);
    let s = Op::leaf(SparseSign::new(d, m, 3, RngState::new(11)).unwrap());
    for (what, op, p) in [
        ("P·S", None, permutation(&mut rng, d)),
        ("S·P", Some(false), permutation(&mut rng, m)),
        ("Sᵀ·P", Some(true), permutation(&mut rng, d)),
    ] {
        let op = match op {
            None => Op::product(vec![p.clone(), s.clone()]),
            Some(false) => Op::product(vec![s.clone(), p.clone()]),
            Some(true) => Op::product(vec![s.t(), p.clone()]),
        }
        .unwrap();
        // Before: a gather and an SpMM, each leaf planned alone.
        assert_eq!(steps(&p, 2) + steps(&s, 2), 2, "{what}");
        let plan = Plan::new(&op, op.shape().1, 2, DType::F64).unwrap();
        // After: the permutation moved the CSR's rows or columns; one SpMM with the scale on alpha.
        assert_eq!(plan.steps().len(), 1, "{what}: {}", plan.explain());
        assert!(
            matches!(plan.steps()[0].kernel, Kernel::Spmm(_)),
            "{what}: {}",
            plan.explain()
        );
        let st = plan.stats();
        assert_eq!(
            (st.leaves_rewritten, st.permutations_folded),
            (1, 1),
            "{what}: {}",
            plan.explain()
        );
        assert!(
            plan.explain()
                .contains("1 leaves expanded into their rewrite"),
            "{what}: {}",
            plan.explain()
        );
        check_everywhere(what, &op, 3);
    }
}

#[test]
fn permutations_fold_into_the_outer_factors_of_a_block_butterfly() {
    let mut rng = Rng::new(2);
    let (n, b): (usize, usize) = (32, 2);
    let levels = (n / b).trailing_zeros() as usize; // 4 CSR factors
    let t = rng.vec(levels * 2 * n * b);
    // The explicit factor form (the leaf itself runs the butterfly kernel, which has no rows to
    // fold a permutation into).
    let bf = BlockButterfly::new(n, b, t).unwrap().to_factors();
    let (p, q) = (permutation(&mut rng, n), permutation(&mut rng, n));
    let op = Op::product(vec![p.clone(), bf.clone(), q.clone()]).unwrap();
    assert_eq!(steps(&bf, 3), levels);
    assert_eq!(steps(&p, 3) + steps(&bf, 3) + steps(&q, 3), levels + 2);
    let plan = Plan::new(&op, n, 3, DType::F64).unwrap();
    assert_eq!(plan.steps().len(), levels, "{}", plan.explain());
    assert!(
        plan.steps()
            .iter()
            .all(|s| matches!(s.kernel, Kernel::Spmm(_))),
        "{}",
        plan.explain()
    );
    let st = plan.stats();
    assert_eq!(st.permutations_folded, 2, "{}", plan.explain());
    // The butterfly's product is flattened into the enclosing one.
    assert_eq!(st.products_flattened, 1, "{}", plan.explain());
    check_everywhere("P·B·Q (block butterfly)", &op, levels * 2 * b);
    // The transpose: (P·B·Q)ᵀ = Qᵀ·Bᵀ·Pᵀ folds the same way.
    let opt = op.t();
    let plan = Plan::new(&opt, n, 3, DType::F64).unwrap();
    assert_eq!(plan.steps().len(), levels, "{}", plan.explain());
    assert_eq!(plan.stats().permutations_folded, 2, "{}", plan.explain());
    check_everywhere("(P·B·Q)ᵀ (block butterfly)", &opt, levels * 2 * b);
}

#[test]
fn products_of_rewriting_leaves_are_flattened_and_their_scales_merged() {
    // S₂·S₁ of two sparse sign sketches (scaled CSRs) with a row sampler between: one product of
    // three SpMMs carrying one merged scale, not three nested sub-plans.
    let (m, k, d) = (50, 20, 9);
    let s1 = Op::leaf(SparseSign::new(k, m, 2, RngState::new(3)).unwrap());
    let r = Op::leaf(RowSampler::uniform(k, k, RngState::new(4)).unwrap());
    let s2 = Op::leaf(SparseSign::new(d, k, 2, RngState::new(5)).unwrap());
    let op = Op::product(vec![s2, r, s1]).unwrap();
    let plan = Plan::new(&op, m, 2, DType::F64).unwrap();
    let st = plan.stats();
    assert_eq!(st.leaves_rewritten, 3, "{}", plan.explain());
    assert!(st.scalars_merged >= 2, "{}", plan.explain());
    assert_eq!(plan.steps().len(), 3, "{}", plan.explain());
    let explain = plan.explain();
    let normalized = explain
        .lines()
        .find(|l| l.trim_start().starts_with("normalized:"))
        .expect("a normalized line");
    assert!(
        normalized.contains("csr") && !normalized.contains("sparse_sign"),
        "{explain}"
    );
    check_everywhere("S₂·R·S₁ (sketches)", &op, m + k + k);
}

/// A leaf that is a row-shuffled dense matrix `P·A`, known to the planner only through its
/// rewrite (no lowering of its own): the planner must see the permutation inside it.
#[derive(Debug)]
struct ShuffledDense {
    p: Op,
    a: Op,
}

impl LeafOp for ShuffledDense {
    fn name(&self) -> &'static str {
        "shuffled_dense"
    }
    fn shape(&self) -> (usize, usize) {
        (self.p.shape().0, self.a.shape().1)
    }
    fn to_dense(&self) -> HostMat {
        let (p, a) = (self.p.to_dense(), self.a.to_dense());
        HostMat::from_fn(p.rows(), a.cols(), |i, j| {
            (0..p.cols()).map(|t| p.get(i, t) * a.get(t, j)).sum()
        })
    }
    fn param_count(&self) -> usize {
        self.p.shape().0 + self.a.shape().0 * self.a.shape().1
    }
    fn rewrite(&self) -> Option<Op> {
        Op::product(vec![self.p.clone(), self.a.clone()]).ok()
    }
}

#[test]
fn a_permutation_inside_a_rewrite_folds_with_one_outside() {
    let mut rng = Rng::new(3);
    let (n, c) = (17, 6);
    let inner = permutation(&mut rng, n);
    let leaf = Op::leaf(ShuffledDense {
        p: inner,
        a: rng.dense_op(n, c),
    });
    let outer = permutation(&mut rng, n);
    let op = Op::product(vec![outer.clone(), leaf.clone()]).unwrap();
    // Before: the outer gather, then the leaf's own gather and GEMM.
    assert_eq!(steps(&outer, 2) + steps(&leaf, 2), 1 + 1);
    let plan = Plan::new(&op, c, 2, DType::F64).unwrap();
    // After: P_outer·P_inner composed, then folded into A: one GEMM.
    assert_eq!(plan.steps().len(), 1, "{}", plan.explain());
    assert!(matches!(plan.steps()[0].kernel, Kernel::Gemm(_)));
    assert_eq!(plan.stats().permutations_folded, 2, "{}", plan.explain());
    assert_eq!(plan.stats().leaves_rewritten, 1, "{}", plan.explain());
    check_everywhere("P·(P'·A) (a rewrite holding a permutation)", &op, c);
}

#[test]
fn the_cost_model_still_decides_on_a_rewriting_leaf_whole() {
    let mut rng = Rng::new(4);
    let cpu = Engine::cpu().with_cost_model(CostModel::cpu_default());
    // Wide blocks: 3 SpMMs of 2·n·b entries each cost more than one n×n GEMM.
    let (n, b, batch): (usize, usize, usize) = (256, 32, 256);
    let levels = (n / b).trailing_zeros() as usize;
    let bf = Op::leaf(BlockButterfly::new(n, b, rng.vec(levels * 2 * n * b)).unwrap());
    let p = permutation(&mut rng, n);
    let op = Op::product(vec![p, bf.clone()]).unwrap();
    let plan = cpu.plan::<f32>(&op, n, batch).unwrap();
    // One decision on the butterfly whole (none per CSR factor), and it materializes.
    let on = |p: &Plan, name: &str| {
        p.decisions()
            .iter()
            .filter(|d| d.leaf.starts_with(name))
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(on(&plan, "csr").len(), 0, "{}", plan.explain());
    let d = on(&plan, "block_butterfly");
    assert_eq!(d.len(), 1, "{}", plan.explain());
    assert!(d[0].materialized, "{}", plan.explain());
    // The same decision as for the leaf planned alone ...
    let alone = cpu.plan::<f32>(&bf, n, batch).unwrap();
    assert_eq!(alone.decisions(), &d[..]);
    // ... and the materialized matrix is one GEMM with the permutation folded into it.
    assert_eq!(plan.steps().len(), 1, "{}", plan.explain());
    assert!(matches!(plan.steps()[0].kernel, Kernel::Gemm(_)));
    assert_eq!(plan.stats().permutations_folded, 1, "{}", plan.explain());
    assert_eq!(plan.stats().leaves_rewritten, 0, "{}", plan.explain());
    // A narrow block (b = 1) keeps its structure: one decision, one butterfly pass.
    let (n, b, batch): (usize, usize, usize) = (1024, 1, 64);
    let levels = (n / b).trailing_zeros() as usize;
    let bf = Op::leaf(BlockButterfly::new(n, b, rng.vec(levels * 2 * n * b)).unwrap());
    let plan = cpu.plan::<f32>(&bf, n, batch).unwrap();
    assert_eq!(plan.decisions().len(), 1, "{}", plan.explain());
    assert!(!plan.decisions()[0].materialized, "{}", plan.explain());
    assert_eq!(plan.steps().len(), 1, "{}", plan.explain());
    assert!(matches!(plan.steps()[0].kernel, Kernel::Butterfly(_)));
}
