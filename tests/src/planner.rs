//! Planner normalization and plan structure.

use linops::{DType, Kernel, Op, Plan};
use linops_core::BufferRole;

fn dense(r: usize, c: usize, v: f64) -> Op {
    Op::dense(r, c, (0..r * c).map(|i| v + i as f64).collect()).unwrap()
}

fn plan(op: &Op, batch: usize) -> Plan {
    Plan::new(op, op.shape().1, batch, DType::F64).unwrap()
}

#[test]
fn transposes_are_pushed_to_the_leaves() {
    let (a, b) = (dense(2, 3, 1.0), dense(3, 4, 2.0));
    let p = plan(&Op::product(vec![a, b]).unwrap().t(), 2);
    assert_eq!(p.stats().transposes_pushed, 1);
    let kernels: Vec<_> = p.steps().iter().map(|s| s.kernel).collect();
    assert!(
        matches!(
            kernels[0],
            Kernel::Gemm(linops::plan::kernel::Gemm { trans_a: true, .. })
        ),
        "{kernels:?}"
    );
    assert!(
        matches!(
            kernels[1],
            Kernel::Gemm(linops::plan::kernel::Gemm { trans_a: true, .. })
        ),
        "{kernels:?}"
    );
    assert_eq!(p.steps().len(), 2);
    // (Aᵀ)ᵀ = A: no transposed GEMM at all.
    let a = dense(2, 3, 1.0);
    let p = plan(&a.t().t(), 1);
    assert!(matches!(
        p.steps()[0].kernel,
        Kernel::Gemm(linops::plan::kernel::Gemm { trans_a: false, .. })
    ));
}

#[test]
fn products_are_flattened_and_identities_dropped() {
    let (a, b, c) = (dense(3, 3, 1.0), dense(3, 3, 2.0), dense(3, 3, 3.0));
    let i = Op::identity(3).unwrap();
    let op = Op::product(vec![
        Op::product(vec![a, i.clone()]).unwrap(),
        Op::product(vec![b, c, i]).unwrap(),
    ])
    .unwrap();
    let p = plan(&op, 2);
    // product(a, I) normalizes to `a` (no longer a product); product(b, c, I) is spliced in.
    assert_eq!(p.stats().products_flattened, 1);
    assert_eq!(p.stats().identities_dropped, 2);
    assert_eq!(p.steps().len(), 3);
    assert!(
        p.steps()
            .iter()
            .all(|s| matches!(s.kernel, Kernel::Gemm(_)))
    );
}

#[test]
fn diagonals_and_scalars_merge() {
    let d1 = Op::diagonal(vec![1.0, 2.0, 3.0]).unwrap();
    let d2 = Op::diagonal(vec![4.0, 5.0, 6.0]).unwrap();
    let a = dense(3, 3, 1.0);
    // 2·(D1·(3·D2)·A): one diagonal scaling (with the 6 folded in) and one GEMM.
    let op = Op::product(vec![d1, d2.scaled(3.0).unwrap(), a])
        .unwrap()
        .scaled(2.0)
        .unwrap();
    let p = plan(&op, 1);
    assert_eq!(p.steps().len(), 2, "{}", p.explain());
    assert_eq!(p.stats().diagonals_merged, 1);
    assert!(p.stats().scalars_merged >= 2);
    match p.steps()[1].kernel {
        Kernel::DiagScale(linops::plan::kernel::DiagScale { alpha, beta }) => {
            assert_eq!((alpha, beta), (1.0, 0.0))
        }
        k => panic!(
            "expected the merged diagonal last, got {k:?}\n{}",
            p.explain()
        ),
    }
    let dparam = &p.buffers()[p.steps()[1].inputs[0].index()];
    match &dparam.role {
        BufferRole::Param(prm) => assert_eq!(&prm.data[..], &[24.0, 60.0, 108.0]),
        r => panic!("diagonal should be a parameter, got {r:?}"),
    }
    // Nested scales multiply into one GEMM alpha.
    let p = plan(
        &dense(2, 2, 1.0).scaled(3.0).unwrap().scaled(-2.0).unwrap(),
        1,
    );
    assert!(
        matches!(p.steps()[0].kernel, Kernel::Gemm(linops::plan::kernel::Gemm { alpha, .. }) if alpha == -6.0)
    );
}

#[test]
fn diagonal_terms_of_a_sum_merge_into_one() {
    let n = 4;
    let op = Op::sum(vec![
        Op::diagonal(vec![1.0; n]).unwrap(),
        dense(n, n, 0.0),
        Op::identity(n).unwrap().scaled(2.0).unwrap(),
        Op::identity(n).unwrap(),
    ])
    .unwrap();
    let p = plan(&op, 3);
    assert_eq!(p.stats().diagonals_merged, 2);
    assert_eq!(p.steps().len(), 2, "{}", p.explain());
    // The dense term accumulates onto the merged diagonal's output (beta = 1).
    assert!(
        matches!(p.steps()[1].kernel, Kernel::Gemm(linops::plan::kernel::Gemm { beta, .. }) if beta == 1.0)
    );
}

#[test]
fn temporaries_are_reused_by_lifetime() {
    let fs: Vec<Op> = (0..6).map(|i| dense(8, 8, i as f64)).collect();
    let p = plan(&Op::product(fs).unwrap(), 4);
    let temps = p
        .buffers()
        .iter()
        .filter(|b| matches!(b.role, BufferRole::Temp))
        .count();
    assert_eq!(p.steps().len(), 6);
    assert_eq!(
        temps,
        2,
        "a chain needs two alternating temporaries:\n{}",
        p.explain()
    );
    for s in p.steps() {
        assert!(
            !s.inputs.contains(&s.output),
            "a step reads its own output:\n{}",
            p.explain()
        );
    }
}

#[test]
fn explain_lists_kernels_shapes_flops_and_bytes() {
    let op = Op::product(vec![
        Op::diagonal(vec![1.0; 5]).unwrap(),
        dense(3, 5, 1.0).t(),
    ])
    .unwrap();
    let p = Plan::new(&op, 3, 7, DType::F32).unwrap();
    let text = p.explain();
    for needle in [
        "gemm TN",
        "diag_scale",
        "Y[5x7]",
        "X[3x7]",
        "FLOPs",
        "bytes",
        "f32",
    ] {
        assert!(text.contains(needle), "explain() lacks {needle:?}:\n{text}");
    }
    assert_eq!(p.steps()[0].flops, 2 * 5 * 3 * 7);
    assert_eq!(
        p.total_bytes(),
        p.steps().iter().map(|s| s.bytes).sum::<u64>()
    );
}

#[test]
fn a_sum_inside_a_product_keeps_its_input_alive() {
    // Regression: a product term of a sum released the sum's input (a temporary of the outer
    // product) after its first step, so the next term read a reused, overwritten buffer.
    let d = |v: f64| Op::dense(1, 1, vec![v]).unwrap();
    let inner = Op::sum(vec![Op::product(vec![d(2.0), d(3.0)]).unwrap(), d(5.0)]).unwrap();
    let op = Op::product(vec![inner, d(7.0), d(11.0)]).unwrap();
    let y = linops::Engine::cpu()
        .apply(&op, faer::Mat::<f64>::from_fn(1, 1, |_, _| 1.0).as_ref())
        .unwrap();
    assert_eq!(y[(0, 0)], (2.0 * 3.0 + 5.0) * 7.0 * 11.0);
}

#[test]
fn generic_leaves_plug_in_through_op_leaf() {
    // A leaf wrapped with Op::leaf goes through the planner like a built-in one, and a symmetric
    // leaf's transpose is dropped.
    let d = linops::op::Diagonal::new(vec![2.0, 3.0]).unwrap();
    let op = Op::leaf(d).t();
    let p = plan(&op, 1);
    assert!(matches!(p.steps()[0].kernel, Kernel::DiagScale(_)));
    let y = linops::Engine::cpu()
        .apply(&op, faer::Mat::<f64>::from_fn(2, 1, |_, _| 1.0).as_ref())
        .unwrap();
    assert_eq!((y[(0, 0)], y[(1, 0)]), (2.0, 3.0));
}

/// One step's kernel (with its scalars), input shapes and output shape.
type StepSignature = (Kernel, Vec<(usize, usize)>, (usize, usize));

/// The kernels, scalars and buffer shapes of a plan's steps (what its bits depend on).
fn step_signature(p: &Plan) -> Vec<StepSignature> {
    p.steps()
        .iter()
        .map(|s| {
            let ins = s.inputs.iter().map(|b| p.shape_of(*b)).collect();
            (s.kernel, ins, p.shape_of(s.output))
        })
        .collect()
}

/// Leaves that are other operators in disguise (a scaled CSR, a product of CSR factors, a sum)
/// say so with `LeafOp::rewrite` and need no lowering of their own: their plans are step for
/// step the plans of what they rewrite to (so the results are the same bits), in both
/// orientations and inside sums (beta = 1).
#[test]
fn rewriting_leaves_plan_like_their_rewrite() {
    use linops::LeafOp;
    use linops::op::{
        Butterfly, FlatBlockButterfly, PixelatedButterfly, RowSampler, SparseSign,
        VerySparseProjection,
    };
    use linops_core::rng::RngState;
    let rng = RngState::new(0xC5);
    let mut r = crate::support::Rng::new(0x5EED_0009);
    let n = 16;
    // Butterfly: log₂n = 4 levels of 2·n twiddles (its rewrite is the block butterfly leaf with
    // b = 1); flat, b = 2: L = 3 levels, (n/b)·(1+L)·b² values.
    let bf = Butterfly::new(n, r.vec(4 * 2 * n)).unwrap();
    let flat = FlatBlockButterfly::new(n, 2, r.vec(8 * 4 * 4)).unwrap();
    let u = linops::HostMat::from_fn(n, 2, |i, j| r.uniform() + (i + j) as f64);
    let leaves: Vec<(&str, std::sync::Arc<dyn LeafOp>)> = vec![
        (
            "sparse sign",
            std::sync::Arc::new(SparseSign::new(8, n, 3, rng).unwrap()),
        ),
        (
            "very sparse",
            std::sync::Arc::new(VerySparseProjection::new(8, n, rng).unwrap()),
        ),
        (
            "row sampler",
            std::sync::Arc::new(RowSampler::uniform(5, n, rng).unwrap()),
        ),
        ("butterfly", std::sync::Arc::new(bf)),
        (
            "pixelated butterfly",
            std::sync::Arc::new(PixelatedButterfly::new(flat, u.clone(), u).unwrap()),
        ),
    ];
    for (name, leaf) in leaves {
        let rewrite = leaf
            .rewrite()
            .unwrap_or_else(|| panic!("{name}: no rewrite"));
        let op = Op::Leaf(leaf);
        let (rows, cols) = op.shape();
        let other = dense(rows, cols, 0.5);
        for (what, a, b) in [
            ("as is", op.clone(), rewrite.clone()),
            ("transposed", op.t(), rewrite.t()),
            (
                "in a sum",
                Op::sum(vec![other.clone(), op.clone()]).unwrap(),
                Op::sum(vec![other.clone(), rewrite.clone()]).unwrap(),
            ),
        ] {
            for batch in [1, 3] {
                assert_eq!(
                    step_signature(&plan(&a, batch)),
                    step_signature(&plan(&b, batch)),
                    "{name} {what}, batch {batch}"
                );
            }
        }
    }
}

/// A leaf that only names its rewrite is planned and applied like the rewrite; a leaf with
/// neither a rewrite nor a lowering is a typed error, not a panic.
#[test]
fn a_leaf_may_lower_by_rewriting_alone() {
    use linops::{Error, HostMat, LeafOp};
    #[derive(Debug)]
    struct Twice(Option<Op>, usize);
    impl LeafOp for Twice {
        fn name(&self) -> &'static str {
            "twice"
        }
        fn shape(&self) -> (usize, usize) {
            (self.1, self.1)
        }
        fn to_dense(&self) -> HostMat {
            HostMat::from_fn(self.1, self.1, |i, j| if i == j { 2.0 } else { 0.0 })
        }
        fn param_count(&self) -> usize {
            0
        }
        fn rewrite(&self) -> Option<Op> {
            self.0.clone()
        }
    }
    let two = Op::identity(3).unwrap().scaled(2.0).unwrap();
    let op = Op::leaf(Twice(Some(two), 3));
    let y = linops::Engine::cpu()
        .apply(
            &op.t(),
            faer::Mat::<f64>::from_fn(3, 2, |i, j| (i + j) as f64).as_ref(),
        )
        .unwrap();
    assert_eq!((y[(2, 0)], y[(1, 1)]), (4.0, 4.0));
    let none = Op::leaf(Twice(None, 3));
    assert!(matches!(
        Plan::new(&none, 3, 1, DType::F64),
        Err(Error::InvalidArgument(_))
    ));
}

/// The operator IR builds on the lowering vocabulary only: no file of `op/` imports the
/// planner, and `lower/` imports neither (the import circle of issue 9 stays broken).
#[test]
fn op_and_lower_do_not_import_the_planner() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/linops-core/src");
    let mut checked = 0;
    for (dir, banned) in [
        ("op", &["use crate::plan"][..]),
        (
            "lower",
            &["use crate::plan", "use crate::op", "crate::op::"][..],
        ),
    ] {
        let mut stack = vec![src.join(dir)];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
                    for b in banned {
                        assert!(!line.contains(b), "{}: `{line}` ({b})", path.display());
                    }
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 20, "only {checked} files checked: wrong path?");
}
