//! Structured operator families: permutation, low-rank, diagonal-plus-low-rank, block-diagonal and
//! Monarch.
//!
//! - [`cases`] is this module's contribution to the differential market (`market.rs` runs each on
//!   cpu f64, cpu f32 and gpu f32 with checked-vs-trusted identity); each case comes with its
//!   *factor form* (the same map as a product/sum of plain leaves) whose entrywise absolute value
//!   bounds the rounding errors (`|L|·|R|`, not `|L·R|`, which cancellation can make tiny);
//! - here: the adjoint identity `⟨Y, A·X⟩ = ⟨Aᵀ·Y, X⟩` on every backend, bad input for each family,
//!   `explain()` showing folded permutations and single-launch block GEMMs, and the Monarch
//!   projection (exactness on Monarch inputs, optimality against the generating matrix).
//!
//! Adjoint bound: each side is a sum of `rows·B` products of computed entries whose error is at
//! most `γ·(|A|·|X|)` (γ = 2·(depth + longest reduction)·u), so
//! `|⟨Y, AX⟩ − ⟨AᵀY, X⟩| ≤ 2·(γ + rows·B·u)·⟨|Y|, |A|·|X|⟩` with u the unit roundoff of the dtype.

use crate::support::{Rng, depth, gpu_engines, magnitude, max_inner, report, to_f32};
use faer::Mat;
use linops::{DType, Engine, Error, HostMat, Kernel, Op, Plan};
use linops_core::BlockLayout;
use linops_core::op::{BlockDiagonal, DiagPlusLowRank, LowRank, Monarch, Permutation, best_rank1};

/// One structured market case: (name, op, factor form, batch).
pub type StructuredCase = (String, Op, Op, usize);

fn host(rng: &mut Rng, r: usize, c: usize) -> HostMat {
    HostMat::new(r, c, rng.vec(r * c)).unwrap()
}

fn dense(m: &HostMat) -> Op {
    Op::from_host(m.clone()).unwrap()
}

fn random_perm(rng: &mut Rng, n: usize) -> Vec<usize> {
    let mut p: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        p.swap(i, rng.below(i + 1));
    }
    p
}

/// A permutation leaf and its factor form (its dense matrix).
pub fn perm_op(p: Permutation) -> (Op, Op) {
    let d = Op::from_host(linops::LeafOp::to_dense(&p)).unwrap();
    (Op::leaf(p), d)
}

pub fn low_rank(rng: &mut Rng, n: usize, m: usize, r: usize) -> (Op, Op) {
    let (u, v, s) = (host(rng, n, r), host(rng, m, r), rng.vec(r));
    let factors = Op::product(vec![
        dense(&u),
        Op::diagonal(s.clone()).unwrap(),
        dense(&v).t(),
    ])
    .unwrap();
    (Op::leaf(LowRank::new(u, s, v).unwrap()), factors)
}

pub fn diag_plus_low_rank(rng: &mut Rng, n: usize, r: usize) -> (Op, Op) {
    let (d, u, v) = (rng.vec(n), host(rng, n, r), host(rng, n, r));
    let factors = Op::sum(vec![
        Op::diagonal(d.clone()).unwrap(),
        Op::product(vec![dense(&u), dense(&v).t()]).unwrap(),
    ])
    .unwrap();
    (Op::leaf(DiagPlusLowRank::new(d, u, v).unwrap()), factors)
}

pub fn block_diag(rng: &mut Rng, b: usize, p: usize, q: usize) -> (Op, Op) {
    let bd = BlockDiagonal::from_stacked(b, p, q, rng.vec(b * p * q)).unwrap();
    let d = Op::from_host(linops::LeafOp::to_dense(&bd)).unwrap();
    (Op::leaf(bd), d)
}

/// Monarch with `b1` R blocks of `b2×p` and `b2` L blocks of `s×b1`.
pub fn monarch_leaf(rng: &mut Rng, b1: usize, b2: usize, p: usize, s: usize) -> Monarch {
    Monarch::from_factors(
        BlockDiagonal::from_stacked(b2, s, b1, rng.vec(b2 * s * b1)).unwrap(),
        BlockDiagonal::from_stacked(b1, b2, p, rng.vec(b1 * b2 * p)).unwrap(),
    )
    .unwrap()
}

/// A Monarch leaf and its factor form `P_out·L·P_mid·R` with the block-diagonal factors dense.
pub fn monarch(rng: &mut Rng, b1: usize, b2: usize, p: usize, s: usize) -> (Op, Op) {
    let m = monarch_leaf(rng, b1, b2, p, s);
    let Op::Product(f) = m.to_factors() else {
        unreachable!("to_factors is a product")
    };
    let dense_factors = f
        .factors()
        .iter()
        .map(|op| Op::from_host(op.to_dense()).unwrap())
        .collect();
    (Op::leaf(m), Op::product(dense_factors).unwrap())
}

/// The structured cases of the differential market.
pub fn cases() -> Vec<StructuredCase> {
    let mut rng = Rng::new(0x5EED_0003);
    let mut v: Vec<StructuredCase> = Vec::new();
    let mut push = |name: String, (op, f): (Op, Op), batch: usize| {
        v.push((format!("{name}ᵀ"), op.t(), f.t(), batch));
        v.push((name, op, f, batch));
    };
    for (n, b) in [(1, 1), (7, 3), (64, 17), (257, 5)] {
        let p = Permutation::new(random_perm(&mut rng, n)).unwrap();
        push(format!("permutation {n}"), perm_op(p), b);
    }
    for (r, c, b) in [(3, 5, 4), (16, 16, 9), (1, 7, 2)] {
        let p = Permutation::perfect_shuffle(r, c).unwrap();
        push(format!("perfect shuffle {r}x{c}"), perm_op(p), b);
    }
    for (n, m, r, b) in [
        (1, 1, 1, 1),
        (17, 5, 3, 4),
        (64, 127, 8, 33),
        (257, 100, 33, 5),
    ] {
        push(
            format!("low-rank {n}x{m} r={r}"),
            low_rank(&mut rng, n, m, r),
            b,
        );
    }
    for (n, r, b) in [(1, 1, 1), (17, 4, 3), (127, 16, 20)] {
        push(
            format!("diag+low-rank {n} r={r}"),
            diag_plus_low_rank(&mut rng, n, r),
            b,
        );
    }
    for (nb, p, q, b) in [
        (1, 1, 1, 1),
        (3, 4, 5, 7),
        (8, 16, 16, 33),
        (5, 33, 7, 3),
        (64, 2, 2, 2),
    ] {
        push(
            format!("block-diagonal {nb}×{p}x{q}"),
            block_diag(&mut rng, nb, p, q),
            b,
        );
    }
    for (b1, b2, p, s, b) in [
        (1, 1, 1, 1, 1),
        (2, 2, 2, 2, 3),
        (4, 4, 4, 4, 5),
        (8, 8, 8, 8, 33),
        (16, 16, 16, 16, 4),
        (3, 2, 4, 5, 6),
        (4, 8, 2, 7, 17),
        (2, 3, 5, 1, 2),
        (5, 1, 3, 6, 3),
    ] {
        push(
            format!("monarch b1={b1} b2={b2} p={p} s={s}"),
            monarch(&mut rng, b1, b2, p, s),
            b,
        );
    }
    // Compositions: a product with a standalone permutation and a sum of two structured terms.
    let (m, mf) = monarch(&mut rng, 4, 4, 4, 4);
    let (bd, bdf) = block_diag(&mut rng, 4, 4, 4);
    let (perm, pf) = perm_op(Permutation::new(random_perm(&mut rng, 16)).unwrap());
    let (lr, lrf) = low_rank(&mut rng, 16, 16, 2);
    push(
        "product(P, monarch, block-diag)".into(),
        (
            Op::product(vec![perm, m.clone(), bd]).unwrap(),
            Op::product(vec![pf, mf.clone(), bdf]).unwrap(),
        ),
        9,
    );
    push(
        "sum(monarch, 0.5·low-rank)".into(),
        (
            Op::sum(vec![m, lr.scaled(0.5).unwrap()]).unwrap(),
            Op::sum(vec![mf, lrf.scaled(0.5).unwrap()]).unwrap(),
        ),
        5,
    );
    v
}

pub(crate) fn engines() -> Vec<Engine> {
    let mut v = vec![crate::support::cpu_engine()];
    if let Some((gpu, _)) = gpu_engines() {
        v.push(gpu);
    }
    v
}

/// ⟨Y, A·X⟩ against ⟨Aᵀ·Y, X⟩ for one engine and dtype (`T` = f32 or f64).
pub(crate) fn adjoint_check<T: linops::Scalar + Into<f64>>(
    e: &Engine,
    (name, op, factors, batch): &StructuredCase,
    seed: u64,
    u: f64,
    to_t: impl Fn(&Mat<f64>) -> Mat<T>,
) {
    let (rows, cols) = op.shape();
    let mut rng = Rng::new(seed);
    let x = rng.mat(cols, *batch);
    let y = rng.mat(rows, *batch);
    let ax = e.apply(op, to_t(&x).as_ref()).unwrap();
    let aty = e.apply(&op.t(), to_t(&y).as_ref()).unwrap();
    let dot = |a: &Mat<T>, b: &Mat<f64>| -> f64 {
        let mut s = 0.0;
        for j in 0..b.ncols() {
            for i in 0..b.nrows() {
                s += a[(i, j)].into() * b[(i, j)];
            }
        }
        s
    };
    let (lhs, rhs) = (dot(&ax, &y), dot(&aty, &x));
    let mag = magnitude(factors, x.as_ref());
    let mut scale = 0.0;
    for j in 0..*batch {
        for i in 0..rows {
            scale += y[(i, j)].abs() * mag[(i, j)];
        }
    }
    let gamma = 2.0 * (depth(factors) + max_inner(factors)) as f64 * u;
    let bound = 2.0 * (gamma + (rows.max(cols) * batch) as f64 * u) * scale;
    assert!(
        (lhs - rhs).abs() <= bound,
        "{} `{name}` (seed {seed:#x}): ⟨Y, AX⟩ = {lhs}, ⟨AᵀY, X⟩ = {rhs}, diff {:e} > bound {bound:e}",
        e.name(),
        (lhs - rhs).abs()
    );
}

#[test]
fn adjoint_identity_on_every_backend() {
    let cases = cases();
    let engines = engines();
    for (ci, case) in cases.iter().enumerate() {
        let seed = 0xAD70 + ci as u64;
        let cpu = &engines[0];
        adjoint_check::<f64>(cpu, case, seed, f64::EPSILON / 2.0, |m| m.clone());
        for e in &engines {
            adjoint_check::<f32>(e, case, seed, f64::from(f32::EPSILON) / 2.0, |m| {
                to_f32(m.as_ref())
            });
        }
    }
    report(&format!(
        "structured adjoint identity: {} cases on {}",
        cases.len(),
        engines
            .iter()
            .map(|e| e.name())
            .collect::<Vec<_>>()
            .join(", ")
    ));
}

#[test]
fn leaves_equal_their_factor_forms() {
    for (name, op, factors, _) in cases() {
        let (a, b) = (op.to_dense(), factors.to_dense());
        for (i, (x, y)) in a.data().iter().zip(b.data()).enumerate() {
            assert!(
                (x - y).abs() <= 1e-12 * (1.0 + y.abs()),
                "`{name}`: to_dense differs from the factor form at {i}: {x} vs {y}"
            );
        }
    }
}

#[test]
fn permutation_convention_and_shuffle() {
    let p = Permutation::new(vec![2, 0, 1]).unwrap();
    let x = Mat::from_fn(3, 1, |i, _| 10.0 * (i + 1) as f64);
    let y = crate::support::cpu_engine()
        .apply(&Op::leaf(p.clone()), x.as_ref())
        .unwrap();
    assert_eq!((y[(0, 0)], y[(1, 0)], y[(2, 0)]), (30.0, 10.0, 20.0));
    let yt = crate::support::cpu_engine()
        .apply(&Op::leaf(p).t(), y.as_ref())
        .unwrap();
    assert_eq!(yt, x);
    // S(r, c)ᵀ = S(c, r): the inverse of a reshape-transpose is the reverse one.
    for (r, c) in [(1, 1), (2, 3), (4, 4), (5, 7)] {
        let s = Permutation::perfect_shuffle(r, c).unwrap();
        assert_eq!(
            s.inverse().indices(),
            Permutation::perfect_shuffle(c, r).unwrap().indices(),
            "S({r}, {c})ᵀ"
        );
    }
}

#[test]
fn bad_input_is_a_typed_error_for_each_family() {
    let h = |r, c| HostMat::from_fn(r, c, |i, j| (i + j) as f64);
    // Permutation.
    assert!(matches!(
        Permutation::new(vec![]),
        Err(Error::EmptyDimension { .. })
    ));
    assert!(matches!(
        Permutation::new(vec![0, 0]),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        Permutation::new(vec![0, 3, 1]),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        Permutation::perfect_shuffle(0, 3),
        Err(Error::EmptyDimension { .. })
    ));
    assert!(matches!(
        Permutation::perfect_shuffle(usize::MAX, 2),
        Err(Error::InvalidArgument(_))
    ));
    // Low-rank.
    assert!(matches!(
        LowRank::new(h(3, 3), vec![1.0; 3], h(2, 3)),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        LowRank::new(h(3, 2), vec![1.0; 3], h(4, 2)),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        LowRank::new(h(3, 2), vec![1.0; 2], h(4, 1)),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        LowRank::new(h(3, 0), vec![], h(4, 0)),
        Err(Error::EmptyDimension { .. })
    ));
    assert!(matches!(
        LowRank::new(h(3, 1), vec![f64::NAN], h(4, 1)),
        Err(Error::NonFinite { .. })
    ));
    let mut bad = h(3, 1);
    bad.set(2, 0, f64::INFINITY);
    assert!(matches!(
        LowRank::new(bad.clone(), vec![1.0], h(4, 1)),
        Err(Error::NonFinite { row: 2, .. })
    ));
    // Diagonal plus low-rank.
    assert!(matches!(
        DiagPlusLowRank::new(vec![1.0; 2], h(3, 1), h(3, 1)),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        DiagPlusLowRank::new(vec![1.0; 2], h(2, 3), h(2, 3)),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        DiagPlusLowRank::new(vec![], h(2, 1), h(2, 1)),
        Err(Error::EmptyDimension { .. })
    ));
    assert!(matches!(
        DiagPlusLowRank::new(vec![1.0, f64::NAN, 1.0], h(3, 1), h(3, 1)),
        Err(Error::NonFinite { .. })
    ));
    // Block-diagonal.
    assert!(matches!(
        BlockDiagonal::new(vec![]),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        BlockDiagonal::new(vec![h(2, 2), h(2, 3)]),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        BlockDiagonal::new(vec![h(0, 2)]),
        Err(Error::EmptyDimension { .. })
    ));
    assert!(matches!(
        BlockDiagonal::new(vec![h(2, 2), bad]),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        BlockDiagonal::from_stacked(2, 2, 2, vec![1.0; 7]),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        BlockDiagonal::from_stacked(2, 1, 1, vec![1.0, f64::NEG_INFINITY]),
        Err(Error::NonFinite { .. })
    ));
    assert!(matches!(
        BlockDiagonal::from_stacked(0, 1, 1, vec![]),
        Err(Error::EmptyDimension { .. })
    ));
    // Monarch: the factors must chain (R blocks have b2 rows, L blocks b1 columns).
    assert!(matches!(
        Monarch::new(vec![h(2, 2); 2], vec![h(3, 2); 2]),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        Monarch::new(vec![h(2, 3); 2], vec![h(2, 2); 2]),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        Monarch::new(vec![], vec![h(2, 2); 2]),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        Monarch::square(0, vec![], vec![]),
        Err(Error::EmptyDimension { .. })
    ));
    assert!(matches!(
        Monarch::square(2, vec![1.0; 8], vec![1.0; 9]),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        Monarch::project(&h(6, 6), 4, 2),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        Monarch::project(&h(6, 6), 0, 2),
        Err(Error::EmptyDimension { .. })
    ));
    let mut nan = h(4, 4);
    nan.set(1, 1, f64::NAN);
    assert!(matches!(
        Monarch::project(&nan, 2, 2),
        Err(Error::NonFinite { row: 1, col: 1, .. })
    ));
    // Applying to an X of the wrong height, or with NaN, fails on every backend.
    let mut rng = Rng::new(7);
    let ops = [
        perm_op(Permutation::new(vec![1, 0, 2]).unwrap()).0,
        low_rank(&mut rng, 3, 3, 1).0,
        diag_plus_low_rank(&mut rng, 3, 1).0,
        block_diag(&mut rng, 3, 1, 1).0,
        monarch(&mut rng, 3, 1, 1, 3).0,
    ];
    for e in engines() {
        for op in &ops {
            assert!(
                matches!(
                    e.apply(op, Mat::<f32>::zeros(4, 2).as_ref()),
                    Err(Error::ShapeMismatch { .. })
                ),
                "{} {}",
                e.name(),
                op.describe()
            );
            let mut x = Mat::<f32>::zeros(3, 2);
            x[(2, 1)] = f32::NAN;
            assert!(matches!(
                e.apply(op, x.as_ref()),
                Err(Error::NonFinite { .. })
            ));
        }
    }
}

fn block_gemm_steps(p: &Plan) -> Vec<(usize, BlockLayout, BlockLayout)> {
    p.steps()
        .iter()
        .filter_map(|s| match s.kernel {
            Kernel::BlockGemm(linops::plan::kernel::BlockGemm {
                blocks,
                x_layout,
                y_layout,
                ..
            }) => Some((blocks, x_layout, y_layout)),
            _ => None,
        })
        .collect()
}

#[test]
fn explain_shows_single_launch_block_gemms_and_folded_permutations() {
    let mut rng = Rng::new(11);
    // Block-diagonal: one block GEMM step for all 8 blocks.
    let (bd, _) = block_diag(&mut rng, 8, 3, 5);
    let p = Plan::new(&bd, 40, 4, DType::F32).unwrap();
    assert_eq!(p.steps().len(), 1, "{}", p.explain());
    assert_eq!(
        block_gemm_steps(&p),
        vec![(8, BlockLayout::Contiguous, BlockLayout::Contiguous)]
    );
    assert!(p.explain().contains("block_gemm ×8 N"), "{}", p.explain());
    assert!(!p.explain().contains("folded"), "{}", p.explain());
    // Monarch: two block GEMMs, both permutations folded into the second; no gather.
    let (m, _) = monarch(&mut rng, 4, 4, 4, 4);
    for (op, first, second) in [
        (m.clone(), BlockLayout::Contiguous, BlockLayout::Strided),
        (m.t(), BlockLayout::Strided, BlockLayout::Contiguous),
    ] {
        let p = Plan::new(&op, 16, 3, DType::F32).unwrap();
        let text = p.explain();
        assert_eq!(p.steps().len(), 2, "{text}");
        assert!(
            p.steps()
                .iter()
                .all(|s| matches!(s.kernel, Kernel::BlockGemm(_))),
            "{text}"
        );
        assert_eq!(
            block_gemm_steps(&p),
            vec![(4, first, first), (4, second, second)],
            "{text}"
        );
        assert!(
            text.contains("(Pᵀ folded into X rows, P folded into Y rows)"),
            "{text}"
        );
        // The FLOPs are those of the two block GEMMs: 2·b1·b2·(p + s)·B.
        assert_eq!(p.total_flops(), 2 * 16 * 8 * 3, "{text}");
    }
    // The same map written as an explicit product pays two gathers.
    let explicit = monarch_leaf(&mut rng, 4, 4, 4, 4).to_factors();
    let p = Plan::new(&explicit, 16, 3, DType::F32).unwrap();
    let gathers = p
        .steps()
        .iter()
        .filter(|s| matches!(s.kernel, Kernel::Gather(_)))
        .count();
    assert_eq!((p.steps().len(), gathers), (4, 2), "{}", p.explain());
    // Low-rank: three steps (Vᵀ·X, diag(s), U·(…)) with 2·r·(n+m)·B + r·B FLOPs.
    let (lr, _) = low_rank(&mut rng, 30, 20, 4);
    let p = Plan::new(&lr, 20, 5, DType::F64).unwrap();
    assert_eq!(p.steps().len(), 3, "{}", p.explain());
    assert_eq!(p.total_flops(), 2 * 4 * (30 + 20) * 5 + 2 * 4 * 5);
}

#[test]
fn gpu_block_gemm_is_one_dispatch_and_validates_its_ranges() {
    let Some(dev) = crate::support::test_device(false) else {
        return;
    };
    use linops_gpu::{BlockGemmArgs, GemmTile};
    let w = dev.upload(2, 6, &[1.0; 12]).unwrap(); // 3 blocks of 2x2
    let x = dev.upload(6, 4, &[1.0; 24]).unwrap();
    let y = dev.alloc(6, 4).unwrap();
    let mut args = BlockGemmArgs {
        blocks: 3,
        m: 2,
        k: 2,
        n: 4,
        trans: false,
        x_layout: BlockLayout::Strided,
        y_layout: BlockLayout::Strided,
        alpha: 1.0,
        beta: 0.0,
        tile: GemmTile::Auto,
    };
    let mut enc = dev.encoder();
    enc.block_gemm(&args, &w, &x, &y).unwrap();
    assert_eq!(enc.len(), 1);
    enc.submit().unwrap();
    assert_eq!(dev.download(&y).unwrap(), vec![2.0; 24]);
    let mut enc = dev.encoder();
    args.k = 3; // X would need 9 rows and W 3x6
    assert!(matches!(
        enc.block_gemm(&args, &w, &x, &y),
        Err(Error::ShapeMismatch { .. })
    ));
    args.k = 2;
    assert!(matches!(
        enc.block_gemm(&args, &w, &x, &x),
        Err(Error::InvalidArgument(_))
    ));
    args.blocks = 0;
    assert!(matches!(
        enc.block_gemm(&args, &w, &x, &y),
        Err(Error::EmptyDimension { .. })
    ));
    let idx = dev.upload_indices(&[0; 5]).unwrap();
    assert!(matches!(
        enc.gather(1.0, &idx, &x, 0.0, &y),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(enc.is_empty());
    // Out-of-range indices (u32, so never negative or fractional) read zero rows, never
    // outside x.
    let idx = dev
        .upload_indices(&[0, 5, 6, 1 << 30, u32::MAX, 2])
        .unwrap();
    let xs = dev.upload(6, 1, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
    let out = dev.alloc(6, 1).unwrap();
    let mut enc = dev.encoder();
    enc.gather(1.0, &idx, &xs, 0.0, &out).unwrap();
    enc.submit().unwrap();
    assert_eq!(
        dev.download(&out).unwrap(),
        vec![1.0, 6.0, 0.0, 0.0, 0.0, 3.0]
    );
}

fn frob_diff(a: &HostMat, b: &HostMat) -> f64 {
    a.data()
        .iter()
        .zip(b.data())
        .map(|(x, y)| (x - y).powi(2))
        .sum::<f64>()
        .sqrt()
}

#[test]
fn monarch_projection_returns_monarch_matrices() {
    // (a) Projecting a Monarch matrix returns it: ‖proj(M) − M‖_F ≤ 1e-12·‖M‖_F (each slice is
    // exactly rank 1 up to the rounding of its entries, so power iteration converges at once).
    let mut rng = Rng::new(21);
    for (b1, b2, p, s) in [
        (1, 1, 1, 1),
        (4, 4, 4, 4),
        (8, 8, 8, 8),
        (3, 2, 4, 5),
        (2, 5, 3, 1),
    ] {
        let m = linops::LeafOp::to_dense(&monarch_leaf(&mut rng, b1, b2, p, s));
        let proj = Monarch::project(&m, b2, b1).unwrap();
        let norm = frob_diff(&m, &HostMat::zeros(m.rows(), m.cols()));
        let err = frob_diff(&linops::LeafOp::to_dense(&proj), &m);
        assert!(
            err <= 1e-12 * norm,
            "b1={b1} b2={b2} p={p} s={s}: ‖proj(M) − M‖ = {err:e}, ‖M‖ = {norm:e}"
        );
    }
}

#[test]
fn monarch_projection_is_no_worse_than_the_generating_matrix() {
    // (b) For A = M₀ + noise, ‖A − proj(A)‖_F ≤ ‖A − M₀‖_F·(1 + 1e-10): the projection is the
    // Frobenius-optimal Monarch matrix, M₀ one competitor. The relative slack 1e-10 covers the
    // power iteration's stopping tolerance (4u on the captured energy) and f64 rounding.
    let mut rng = Rng::new(22);
    for (b1, b2, p, s) in [(4, 4, 4, 4), (8, 8, 8, 8), (3, 2, 4, 5), (6, 3, 2, 2)] {
        for noise in [1e-6, 1e-2, 0.3, 3.0] {
            let m0 = linops::LeafOp::to_dense(&monarch_leaf(&mut rng, b1, b2, p, s));
            let a = HostMat::from_fn(m0.rows(), m0.cols(), |i, j| {
                m0.get(i, j) + noise * rng.uniform()
            });
            let proj = linops::LeafOp::to_dense(&Monarch::project(&a, b2, b1).unwrap());
            let (e_proj, e_m0) = (frob_diff(&a, &proj), frob_diff(&a, &m0));
            assert!(
                e_proj <= e_m0 * (1.0 + 1e-10),
                "b1={b1} b2={b2} p={p} s={s} noise={noise}: ‖A − proj(A)‖ = {e_proj:e} > ‖A − M₀‖ = {e_m0:e}"
            );
        }
    }
}

#[test]
fn best_rank1_matches_the_top_singular_value() {
    let mut rng = Rng::new(23);
    for (r, c) in [(1, 1), (1, 5), (5, 1), (3, 3), (7, 5), (16, 16), (9, 30)] {
        let a = rng.mat(r, c);
        let data: Vec<f64> = (0..c)
            .flat_map(|j| (0..r).map(move |i| (i, j)))
            .map(|(i, j)| a[(i, j)])
            .collect();
        let (sigma, u, v) = best_rank1(r, c, &data).unwrap();
        let s1 = a.singular_values().unwrap()[0];
        assert!(
            (sigma - s1).abs() <= 1e-10 * s1,
            "{r}x{c}: power iteration σ = {sigma}, SVD σ₁ = {s1}"
        );
        let nu: f64 = u.iter().map(|x| x * x).sum();
        let nv: f64 = v.iter().map(|x| x * x).sum();
        assert!((nu - 1.0).abs() < 1e-12 && (nv - 1.0).abs() < 1e-12);
    }
    assert_eq!(best_rank1(2, 2, &[0.0; 4]).unwrap().0, 0.0);
}

#[test]
fn cpu_block_gemm_column_panels_and_thread_split_agree_with_dense() {
    // n = 1024 in f64: a panel holds 256 KiB / (2·1024·8 B) = 16 columns, so batch 41 runs split
    // over threads and in several panels (the market's small cases fit one panel).
    let mut rng = Rng::new(31);
    for (op, factors) in [
        block_diag(&mut rng, 64, 16, 16),
        monarch(&mut rng, 32, 32, 32, 32),
    ] {
        for (op, factors) in [(op.clone(), factors.clone()), (op.t(), factors.t())] {
            let x = rng.mat(op.shape().1, 41);
            let y = crate::support::cpu_engine().apply(&op, x.as_ref()).unwrap();
            let want = linops::to_faer(&op) * &x;
            let mag = magnitude(&factors, x.as_ref());
            for j in 0..41 {
                for i in 0..op.shape().0 {
                    let bound = 4.0 * 1024.0 * f64::EPSILON * mag[(i, j)];
                    assert!(
                        (y[(i, j)] - want[(i, j)]).abs() <= bound,
                        "{} at ({i}, {j}): {} vs {}",
                        op.describe(),
                        y[(i, j)],
                        want[(i, j)]
                    );
                }
            }
        }
    }
}
