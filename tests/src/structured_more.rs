//! Householder products, Kronecker products and sparse CSR operators: apply against independent
//! references, transposes, orthogonality, normalization policies and bad input.
//!
//! Tolerances are rounding bounds: an f64 result of a computation with reductions of length at
//! most `k` and `d` chained kernels is within `2·(d + k)·u64·(|op|·|X|)` of the exact value, with
//! the magnitude taken over every factor the computation touches (for Householder, `I + |V||T||V|ᵀ`).
//! The cross-backend (cpu f32, gpu f32) checks of these families are in the differential market.

use crate::support::{Rng, gpu_engines, max_abs, report, to_f32};
use faer::Mat;
use linops::op::{Csr, Householder, Kronecker};
use linops::{Error, LeafOp, Op};

const U64: f64 = f64::EPSILON / 2.0;

/// Asserts |got − want| ≤ bound entrywise, naming the index.
fn assert_close(what: &str, got: &Mat<f64>, want: &Mat<f64>, bound: f64) {
    assert_eq!(
        (got.nrows(), got.ncols()),
        (want.nrows(), want.ncols()),
        "{what}: shape"
    );
    for j in 0..got.ncols() {
        for i in 0..got.nrows() {
            let d = (got[(i, j)] - want[(i, j)]).abs();
            assert!(
                d <= bound,
                "{what}: at ({i}, {j}) got {}, expected {}, diff {d:e}, bound {bound:e}",
                got[(i, j)],
                want[(i, j)]
            );
        }
    }
}

fn identity(n: usize) -> Mat<f64> {
    Mat::from_fn(n, n, |i, j| if i == j { 1.0 } else { 0.0 })
}

/// Applies the reflectors one at a time: `H₁·(H₂·(…(H_k·X)))`, or the transpose order.
fn reflectors_one_by_one(
    n: usize,
    k: usize,
    v: &[f64],
    tau: &[f64],
    x: &Mat<f64>,
    t: bool,
) -> Mat<f64> {
    let mut y = x.clone();
    let order: Vec<usize> = if t {
        (0..k).collect()
    } else {
        (0..k).rev().collect()
    };
    for r in order {
        let vr = &v[r * n..(r + 1) * n];
        for j in 0..y.ncols() {
            let dot: f64 = (0..n).map(|i| vr[i] * y[(i, j)]).sum();
            for i in 0..n {
                y[(i, j)] -= tau[r] * vr[i] * dot;
            }
        }
    }
    y
}

#[test]
fn householder_matches_reflectors_and_is_orthogonal() {
    let cpu = crate::support::cpu_engine();
    for (n, k, b) in [
        (1, 1, 1),
        (2, 1, 3),
        (5, 3, 4),
        (17, 17, 2),
        (64, 8, 5),
        (33, 40, 3),
    ] {
        let mut rng = Rng::new(0x4840 + (n * 100 + k) as u64);
        let v = rng.vec(n * k);
        let q = Householder::from_vectors(n, k, v).unwrap();
        // The stored (power-of-two-scaled) reflectors and their scales define the same H.
        let (v, tau) = (q.vectors().to_vec(), q.tau().to_vec());
        let op = Op::leaf(q.clone());
        let x = rng.mat(n, b);
        let scale = (n + k) as f64 * 4.0; // ≥ max row sum of I + |V||T||V|ᵀ for these inputs
        let bound = 2.0 * (4 + n + k) as f64 * U64 * scale * max_abs(x.as_ref()).max(1.0) * 8.0;
        for t in [false, true] {
            let what = format!("householder n={n} k={k} b={b} transposed={t}");
            let opt = if t { op.t() } else { op.clone() };
            let got = cpu.apply(&opt, x.as_ref()).unwrap();
            let want = reflectors_one_by_one(n, k, &v, &tau, &x, t);
            assert_close(&what, &got, &want, bound);
            // to_dense agrees with the reflectors applied to I.
            let dense = linops::to_faer(&opt);
            let want_dense = reflectors_one_by_one(n, k, &v, &tau, &identity(n), t);
            assert_close(&format!("{what}: to_dense"), &dense, &want_dense, bound);
        }
        // QᵀQ = I: apply Q to the identity, then Qᵀ.
        let qi = cpu.apply(&op, identity(n).as_ref()).unwrap();
        let qtq = cpu.apply(&op.t(), qi.as_ref()).unwrap();
        let bound = 4.0 * (8 + 2 * (n + k)) as f64 * U64 * scale * scale;
        assert_close(&format!("QᵀQ = I, n={n} k={k}"), &qtq, &identity(n), bound);
        assert_eq!(op.param_count(), n * k + k * k);
    }
}

#[test]
fn householder_lapack_convention_matches_definition() {
    // τ as given (here not orthogonal: τ = 1/‖v‖²), unit-lower-trapezoidal V as LAPACK stores it.
    let (n, k) = (6, 3);
    let mut rng = Rng::new(77);
    let mut v = rng.vec(n * k);
    for j in 0..k {
        for i in 0..j {
            v[i + j * n] = 0.0;
        }
        v[j + j * n] = 1.0;
    }
    let tau: Vec<f64> = (0..k)
        .map(|j| 1.0 / v[j * n..(j + 1) * n].iter().map(|a| a * a).sum::<f64>())
        .collect();
    let op = Op::leaf(Householder::new(n, k, v.clone(), tau.clone()).unwrap());
    let x = rng.mat(n, 4);
    let got = crate::support::cpu_engine().apply(&op, x.as_ref()).unwrap();
    let want = reflectors_one_by_one(n, k, &v, &tau, &x, false);
    assert_close("householder LAPACK τ", &got, &want, 1e-13);
}

#[test]
fn householder_rejects_bad_input() {
    assert!(matches!(
        Householder::new(3, 1, vec![0.0; 3], vec![1.0]),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        Householder::from_vectors(3, 2, vec![1.0, 0.0, 0.0, 0.0, 0.0, 0.0]),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        Householder::new(3, 1, vec![1.0; 3], vec![1.0, 2.0]),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        Householder::new(3, 1, vec![1.0; 4], vec![1.0]),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        Householder::new(3, 1, vec![1.0, f64::NAN, 0.0], vec![1.0]),
        Err(Error::NonFinite { .. })
    ));
    assert!(matches!(
        Householder::new(3, 1, vec![1.0; 3], vec![f64::INFINITY]),
        Err(Error::NonFinite { .. })
    ));
    assert!(matches!(
        Householder::new(0, 1, vec![], vec![1.0]),
        Err(Error::EmptyDimension { .. })
    ));
    // Tiny vectors are valid reflectors (stored scaled by a power of two): the same H as e₀'s.
    let tiny = Householder::from_vectors(2, 1, vec![1e-300, 0.0]).unwrap();
    let unit = Householder::from_vectors(2, 1, vec![1.0, 0.0]).unwrap();
    // 1 − (2/m²)·m² with m = 1e-300·2^{997} ∈ [1, 2): two roundings.
    assert!((tiny.to_dense().get(0, 0) - unit.to_dense().get(0, 0)).abs() <= 4.0 * f64::EPSILON);
    assert_eq!(unit.to_dense().get(0, 0), -1.0);
    let op = Op::leaf(Householder::from_vectors(3, 1, vec![1.0; 3]).unwrap());
    assert!(matches!(
        crate::support::cpu_engine().apply(&op, Mat::<f64>::zeros(4, 1).as_ref()),
        Err(Error::ShapeMismatch { .. })
    ));
}

/// `apply(op)` and `apply(opᵀ)` against the dense form, and the adjoint identity.
fn check_against_dense(what: &str, op: &Op, b: usize, seed: u64) {
    let cpu = crate::support::cpu_engine();
    let (m, n) = op.shape();
    let mut rng = Rng::new(seed);
    let dense = linops::to_faer(op);
    let absd = Mat::from_fn(m, n, |i, j| dense[(i, j)].abs());
    let scale = (0..m)
        .map(|i| (0..n).map(|j| absd[(i, j)]).sum::<f64>())
        .fold(1.0f64, f64::max)
        .max(
            (0..n)
                .map(|j| (0..m).map(|i| absd[(i, j)]).sum::<f64>())
                .fold(1.0, f64::max),
        );
    // Reductions of length ≤ n (or m) per factor, at most 2·(#factors + 2) chained kernels.
    let bound = 2.0 * (16 + m + n) as f64 * U64 * scale;
    let x = rng.mat(n, b);
    let y = cpu.apply(op, x.as_ref()).unwrap();
    assert_close(&format!("{what}: apply"), &y, &(&dense * &x), bound);
    let w = rng.mat(m, b);
    let yt = cpu.apply(&op.t(), w.as_ref()).unwrap();
    assert_close(
        &format!("{what}: transpose apply"),
        &yt,
        &(dense.transpose() * &w),
        bound,
    );
    // ⟨W, A·X⟩ = ⟨Aᵀ·W, X⟩ column by column.
    for j in 0..b {
        let l: f64 = (0..m).map(|i| w[(i, j)] * y[(i, j)]).sum();
        let r: f64 = (0..n).map(|i| yt[(i, j)] * x[(i, j)]).sum();
        let tol = 2.0 * (m + n) as f64 * bound;
        assert!(
            (l - r).abs() <= tol,
            "{what}: adjoint identity column {j}: {l} vs {r} (tol {tol:e})"
        );
    }
}

#[test]
fn kronecker_matches_dense_for_every_factor_kind() {
    let mut rng = Rng::new(0x6B0);
    let a = rng.dense_op(3, 2);
    let b = rng.dense_op(4, 5);
    let c = rng.dense_op(2, 3);
    let d = rng.diag_op(3);
    let k2 = Op::leaf(Kronecker::new(vec![a.clone(), b.clone()]).unwrap());
    check_against_dense("A⊗B rectangular", &k2, 3, 1);
    check_against_dense(
        "1-fold",
        &Op::leaf(Kronecker::new(vec![b.clone()]).unwrap()),
        2,
        2,
    );
    let k3 = Op::leaf(Kronecker::new(vec![a.clone(), b.clone(), c.clone()]).unwrap());
    check_against_dense("A⊗B⊗C", &k3, 2, 3);
    let kd =
        Op::leaf(Kronecker::new(vec![d.clone(), b.clone(), Op::identity(2).unwrap()]).unwrap());
    check_against_dense("D⊗B⊗I", &kd, 4, 4);
    let nested = Op::leaf(Kronecker::new(vec![k2.clone(), d.t(), c.t()]).unwrap());
    check_against_dense("(A⊗B)⊗D⊗Cᵀ", &nested, 2, 5);
    let h = Op::leaf(Householder::from_vectors(4, 2, rng.vec(8)).unwrap());
    let s = Op::leaf(Csr::from_triplets(3, 4, &[(0, 1, 2.0), (2, 3, -1.0), (2, 0, 0.5)]).unwrap());
    let composed = Op::product(vec![d.clone(), a.clone()])
        .unwrap()
        .scaled(-0.5)
        .unwrap();
    let mixed = Op::leaf(Kronecker::new(vec![h, s, composed]).unwrap());
    check_against_dense("Householder⊗CSR⊗(−0.5·D·A)", &mixed, 3, 6);
    // Inside compositions.
    let sum = Op::sum(vec![
        k2.clone(),
        Op::leaf(Kronecker::new(vec![a.clone(), b.clone()]).unwrap())
            .scaled(2.0)
            .unwrap(),
    ])
    .unwrap();
    check_against_dense("sum of Kroneckers", &sum, 2, 7);
    assert_eq!(k3.param_count(), 6 + 20 + 6);
    // No dense n²×n² GEMM in the plan: the widest GEMM multiplies a factor.
    let plan = crate::support::cpu_engine()
        .plan::<f64>(&k3, 30, 2)
        .unwrap();
    assert!(
        plan.steps().iter().all(|s| s.flops <= 2 * 5 * 4 * 30 * 2),
        "{}",
        plan.explain()
    );
}

#[test]
fn kronecker_rejects_bad_input() {
    assert!(matches!(
        Kronecker::new(vec![]),
        Err(Error::InvalidArgument(_))
    ));
    let big = Op::identity(1 << 32).unwrap();
    assert!(matches!(
        Kronecker::new(vec![big.clone(), big.clone(), big]),
        Err(Error::InvalidArgument(_))
    ));
    let k =
        Op::leaf(Kronecker::new(vec![Op::identity(2).unwrap(), Op::identity(3).unwrap()]).unwrap());
    assert!(matches!(
        crate::support::cpu_engine().apply(&k, Mat::<f64>::zeros(5, 1).as_ref()),
        Err(Error::ShapeMismatch { .. })
    ));
}

#[test]
fn csr_normalizes_and_matches_dense() {
    // Unsorted columns and duplicates: row 0 = (2: 1.5 + 0.5), (0: 1); row 1 empty; row 2 = (1: 3).
    let s = Csr::new(
        3,
        3,
        vec![0, 3, 3, 4],
        vec![2, 0, 2, 1],
        vec![1.5, 1.0, 0.5, 3.0],
    )
    .unwrap();
    assert_eq!(
        s.arrays(),
        (vec![0, 2, 2, 3], vec![0, 2, 1], vec![1.0, 2.0, 3.0])
    );
    let d = s.to_dense();
    assert_eq!(
        (d.get(0, 0), d.get(0, 2), d.get(2, 1), d.get(1, 1)),
        (1.0, 2.0, 3.0, 0.0)
    );
    // Duplicates summing to zero stay explicit; an all-empty matrix is the zero operator.
    let z = Csr::new(2, 2, vec![0, 2, 2], vec![1, 1], vec![1.0, -1.0]).unwrap();
    assert_eq!(z.nnz(), 1);
    let empty = Op::leaf(Csr::new(2, 3, vec![0, 0, 0], vec![], vec![]).unwrap());
    check_against_dense("empty csr", &empty, 2, 9);
    for (m, n, density, b) in [
        (1, 1, 1.0, 1),
        (5, 7, 0.3, 3),
        (40, 17, 0.1, 5),
        (17, 60, 0.5, 2),
    ] {
        let mut rng = Rng::new((m * 1000 + n) as u64);
        let mut trip = Vec::new();
        for i in 0..m {
            for j in 0..n {
                if (rng.uniform() + 1.0) / 2.0 < density {
                    trip.push((i, j, rng.uniform()));
                }
            }
        }
        // Shuffle, and repeat a few entries (split in two halves).
        for t in 0..trip.len() {
            let o = rng.below(trip.len());
            trip.swap(t, o);
        }
        for t in 0..trip.len() / 4 {
            let (i, j, v) = trip[t];
            trip[t].2 = v / 2.0;
            trip.push((i, j, v / 2.0));
        }
        let op = Op::leaf(Csr::from_triplets(m, n, &trip).unwrap());
        check_against_dense(&format!("csr {m}x{n} density {density}"), &op, b, 11);
    }
}

#[test]
fn csr_rejects_bad_input() {
    let bad = |r: linops::Result<Csr>| r.map(|_| ()).unwrap_err();
    assert!(matches!(
        bad(Csr::new(0, 2, vec![0], vec![], vec![])),
        Error::EmptyDimension { .. }
    ));
    assert!(matches!(
        bad(Csr::new(2, 2, vec![0, 1], vec![0], vec![1.0])),
        Error::ShapeMismatch { .. }
    ));
    assert!(matches!(
        bad(Csr::new(1, 2, vec![1, 1], vec![0], vec![1.0])),
        Error::InvalidArgument(_)
    ));
    assert!(matches!(
        bad(Csr::new(2, 2, vec![0, 2, 1], vec![0, 1], vec![1.0, 1.0])),
        Error::InvalidArgument(_)
    ));
    assert!(matches!(
        bad(Csr::new(1, 2, vec![0, 2], vec![0, 1], vec![1.0])),
        Error::ShapeMismatch { .. }
    ));
    assert!(matches!(
        bad(Csr::new(1, 2, vec![0, 1], vec![0], vec![1.0, 2.0])),
        Error::ShapeMismatch { .. }
    ));
    assert!(matches!(
        bad(Csr::new(1, 2, vec![0, 1], vec![2], vec![1.0])),
        Error::InvalidArgument(_)
    ));
    assert!(matches!(
        bad(Csr::new(1, 2, vec![0, 1], vec![1], vec![f64::NAN])),
        Error::NonFinite { .. }
    ));
    assert!(matches!(
        bad(Csr::new(1, 2, vec![0, 1], vec![1], vec![f64::NEG_INFINITY])),
        Error::NonFinite { .. }
    ));
    assert!(matches!(
        bad(Csr::new(
            1,
            2,
            vec![0, 2],
            vec![1, 1],
            vec![f64::MAX, f64::MAX]
        )),
        Error::NonFinite { .. }
    ));
    // Indices are u32: cols past u32::MAX is refused before anything is allocated.
    #[cfg(target_pointer_width = "64")]
    assert!(matches!(
        bad(Csr::new(1, 1 << 32, vec![0, 0], vec![], vec![])),
        Error::DeviceLimit { .. }
    ));
    assert!(matches!(
        bad(Csr::from_triplets(2, 2, &[(2, 0, 1.0)])),
        Error::InvalidArgument(_)
    ));
}

/// The three families on the GPU in f32 against the CPU f64 result (small sizes for lavapipe); the
/// full rule (2× the CPU f32 error) runs in the differential market.
#[test]
fn structured_more_on_gpu() {
    let Some((gpu, _)) = gpu_engines() else {
        report("structured_more_on_gpu: SKIPPED (no GPU adapter)");
        return;
    };
    let cpu = crate::support::cpu_engine();
    let mut rng = Rng::new(0x9A);
    let h = Op::leaf(Householder::from_vectors(20, 6, rng.vec(120)).unwrap());
    let s = Op::leaf(
        Csr::from_triplets(
            9,
            7,
            &[(0, 6, 1.0), (8, 0, -2.0), (4, 3, 0.25), (4, 3, 0.5)],
        )
        .unwrap(),
    );
    let k = Op::leaf(
        Kronecker::new(vec![rng.dense_op(3, 4), rng.diag_op(2), rng.dense_op(5, 3)]).unwrap(),
    );
    for (name, op) in [("householder", h), ("csr", s), ("kronecker", k)] {
        for opt in [op.clone(), op.t()] {
            let x = rng.mat(opt.shape().1, 3);
            let want = cpu.apply(&opt, x.as_ref()).unwrap();
            let got = gpu.apply(&opt, to_f32(x.as_ref()).as_ref()).unwrap();
            let got = Mat::from_fn(got.nrows(), got.ncols(), |i, j| f64::from(got[(i, j)]));
            assert_close(
                &format!("{name} on gpu"),
                &got,
                &want,
                1e-4 * max_abs(want.as_ref()).max(1.0),
            );
        }
    }
}
