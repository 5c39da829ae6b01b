//! The Kronecker mode-GEMM kernel (`kronecker_gemm`): a Kronecker product of dense factors is one
//! step per factor with no transpose of the data; each step against the definition
//! (`to_dense·X`, the Kronecker product built here entry by entry) on CPU f64/f32 and the GPU,
//! for rectangular and stored-transposed factors, odd column counts, `beta ≠ 0` (inside a sum),
//! the transpose; plan steps and FLOPs; bad steps.

use crate::support::{Rng, max_abs, report, to_f32};
use faer::Mat;
use linops::plan::kernel::KroneckerGemm;
use linops::{DType, Error, Kernel, Op, Plan};
use linops_core::op::Kronecker;

/// `A ⊗ B` entry by entry: `(A⊗B)[i·p + k, j·q + l] = A[i, j]·B[k, l]` for `B` of `p × q`.
fn kron(a: &Mat<f64>, b: &Mat<f64>) -> Mat<f64> {
    let (p, q) = (b.nrows(), b.ncols());
    Mat::from_fn(a.nrows() * p, a.ncols() * q, |r, c| {
        a[(r / p, c / q)] * b[(r % p, c % q)]
    })
}

/// Factors of the given shapes (`t`: the factor is stored transposed, `Op::t` of a dense matrix)
/// and their Kronecker product built by [`kron`].
fn factors(rng: &mut Rng, shapes: &[(usize, usize, bool)]) -> (Vec<Op>, Mat<f64>) {
    let mut ops = Vec::new();
    let mut full = Mat::from_fn(1, 1, |_, _| 1.0);
    for &(m, d, t) in shapes {
        let (op, dense) = if t {
            let a = rng.mat(d, m);
            let op = Op::dense(d, m, col_major(&a)).unwrap().t();
            (op, a.transpose().to_owned())
        } else {
            let a = rng.mat(m, d);
            (Op::dense(m, d, col_major(&a)).unwrap(), a)
        };
        full = kron(&full, &dense);
        ops.push(op);
    }
    (ops, full)
}

fn col_major(m: &Mat<f64>) -> Vec<f64> {
    (0..m.ncols())
        .flat_map(|j| (0..m.nrows()).map(move |i| (i, j)))
        .map(|(i, j)| m[(i, j)])
        .collect()
}

#[test]
fn dense_kronecker_is_one_mode_gemm_per_factor() {
    let mut rng = Rng::new(0x4B01);
    for (shapes, batch) in [
        (vec![(64usize, 64usize, false), (64, 64, false)], 3usize),
        (vec![(3, 5, false), (4, 2, true)], 7),
        (vec![(2, 3, false), (3, 2, true), (4, 4, false)], 5),
    ] {
        let (ops, _) = factors(&mut rng, &shapes);
        let k = Op::leaf(Kronecker::new(ops).unwrap());
        for (op, t) in [(k.clone(), false), (k.t(), true)] {
            let (rows, cols) = op.shape();
            let p = Plan::new(&op, cols, batch, DType::F32).unwrap();
            assert_eq!(
                p.steps().len(),
                shapes.len(),
                "{shapes:?} t={t}\n{}",
                p.explain()
            );
            // Fastest mode first: inner stride 1, then the products of the transformed sizes.
            let mut s = 1;
            let mut flops = 0;
            let mut len = cols;
            for (step, &(m, d, _)) in p.steps().iter().zip(shapes.iter().rev()) {
                let (m, d) = if t { (d, m) } else { (m, d) };
                match step.kernel {
                    Kernel::KroneckerGemm(KroneckerGemm { inner, .. }) => assert_eq!(inner, s),
                    ref k => panic!("{shapes:?}: a {} step\n{}", k.label(), p.explain()),
                }
                flops += 2 * m * d * (len / d) * batch;
                len = len / d * m;
                s *= m;
            }
            assert_eq!(len, rows);
            assert_eq!(p.total_flops(), flops as u64, "{shapes:?} t={t}");
        }
    }
}

#[test]
fn mode_gemms_equal_the_kronecker_definition_on_every_backend() {
    const U64: f64 = f64::EPSILON / 2.0;
    const U32: f64 = f32::EPSILON as f64 / 2.0;
    let cpu = crate::support::cpu_engine();
    let gpu = crate::support::gpu_engines();
    let mut rng = Rng::new(0x4B02);
    let cases = [
        (vec![(3usize, 5usize, false), (4, 2, true)], [1usize, 3, 17]),
        (vec![(2, 3, true), (3, 2, false), (4, 4, false)], [2, 5, 16]),
        (vec![(16, 16, false), (16, 16, false)], [1, 4, 33]),
        (vec![(7, 1, false), (1, 6, false)], [1, 2, 3]),
    ];
    for (shapes, batches) in cases {
        let (ops, full) = factors(&mut rng, &shapes);
        let abs_full = Mat::from_fn(full.nrows(), full.ncols(), |i, j| full[(i, j)].abs());
        let k = Op::leaf(Kronecker::new(ops).unwrap());
        let (rows, cols) = k.shape();
        let other = rng.mat(rows, cols);
        let other_op = Op::dense(rows, cols, col_major(&other)).unwrap();
        // The sum makes the last step accumulate (beta = 1).
        let with_sum = Op::sum(vec![other_op, k.clone()]).unwrap();
        let d_sum = &other + &full;
        let abs_sum = Mat::from_fn(rows, cols, |i, j| other[(i, j)].abs() + abs_full[(i, j)]);
        let variants = [
            ("K", k.clone(), full.clone(), abs_full.clone()),
            (
                "Kᵀ",
                k.t(),
                full.transpose().to_owned(),
                abs_full.transpose().to_owned(),
            ),
            ("M + K", with_sum, d_sum, abs_sum),
        ];
        for (name, op, dense, abs_dense) in variants {
            for batch in batches {
                let what = format!("{name} of {shapes:?}, X {}x{batch}", dense.ncols());
                let x = rng.mat(dense.ncols(), batch);
                let abs_x = Mat::from_fn(x.nrows(), batch, |i, j| x[(i, j)].abs());
                let want = &dense * &x;
                let mag = &abs_dense * &abs_x;
                // Each entry is a sum over the factors' inner dimensions taken one mode at a
                // time (at most Σ d_i roundings), plus, in the sum, the dense M·X over its
                // `cols` terms and the accumulation: Higham Thm. 3.5 with |M| + |A₁|⊗…⊗|A_k|.
                let depth = shapes.iter().map(|s| s.0.max(s.1)).sum::<usize>() + dense.ncols() + 2;
                let y = cpu.apply(&op, x.as_ref()).unwrap();
                let y32 = cpu.apply(&op, to_f32(x.as_ref()).as_ref()).unwrap();
                let mut err32: f64 = 0.0;
                for j in 0..batch {
                    for i in 0..dense.nrows() {
                        let (m, w) = (mag[(i, j)], want[(i, j)]);
                        let e64 = (y[(i, j)] - w).abs();
                        assert!(
                            e64 <= depth as f64 * U64 * m,
                            "{what}: cpu f64 at ({i}, {j}): got {}, expected {w}, diff {e64:e}",
                            y[(i, j)]
                        );
                        let e32 = (f64::from(y32[(i, j)]) - w).abs();
                        assert!(
                            e32 <= (depth + 1) as f64 * U32 * m,
                            "{what}: cpu f32 at ({i}, {j}): got {}, expected {w}, diff {e32:e}",
                            y32[(i, j)]
                        );
                        err32 = err32.max(e32);
                    }
                }
                let Some((trusted, _)) = &gpu else {
                    continue;
                };
                let yg = trusted.apply(&op, to_f32(x.as_ref()).as_ref()).unwrap();
                let scale = max_abs(mag.as_ref());
                let mut err: f64 = 0.0;
                for j in 0..batch {
                    for i in 0..dense.nrows() {
                        err = err.max((f64::from(yg[(i, j)]) - want[(i, j)]).abs());
                    }
                }
                assert!(
                    err <= 2.0 * err32 + U32 * scale,
                    "{what}: gpu error {err:e} against 2·{err32:e} + u·{scale:e}"
                );
            }
        }
    }
    if gpu.is_none() {
        report("kronecker_gemm: GPU half SKIPPED (no adapter)");
    }
}

#[test]
fn bad_kronecker_steps_are_typed_errors() {
    let step = |inner, trans| {
        Kernel::from(KroneckerGemm {
            inner,
            trans,
            alpha: 1.0,
            beta: 0.0,
        })
    };
    // A 4×5, s = 3, w = 2: X of 30 rows, out of 24.
    assert!(step(3, false).cost(&[(4, 5), (30, 2)], (24, 2)).is_ok());
    assert!(step(3, true).cost(&[(5, 4), (30, 2)], (24, 2)).is_ok());
    for (k, x, out, what) in [
        (step(3, false), (31, 2), (24, 2), "X rows not s·d·w"),
        (step(3, false), (30, 2), (25, 2), "out rows not s·m·w"),
        (step(3, false), (30, 2), (24, 3), "columns differ"),
        (step(0, false), (30, 2), (24, 2), "inner stride 0"),
        (
            step(3, true),
            (30, 2),
            (24, 2),
            "Aᵀ is 5×4: X would have 3·4·w rows",
        ),
    ] {
        let e = k.cost(&[(4, 5), x], out).unwrap_err();
        assert!(matches!(e, Error::ShapeMismatch { .. }), "{what}: {e}");
        assert!(e.to_string().contains("kronecker_gemm"), "{what}: {e}");
    }
    let Some(dev) = crate::support::test_device(false) else {
        return;
    };
    let k = KroneckerGemm {
        inner: 2,
        trans: false,
        alpha: 1.0,
        beta: 0.0,
    };
    let a = dev.upload(1, 2, &[1.0, 2.0]).unwrap();
    let x = dev.upload(4, 3, &[1.0; 12]).unwrap();
    let y = dev.alloc(2, 3).unwrap();
    let mut enc = dev.encoder();
    enc.kronecker_gemm(&k, &a, &x, &y).unwrap();
    assert_eq!(enc.len(), 1);
    enc.submit().unwrap();
    assert_eq!(dev.download(&y).unwrap(), vec![3.0; 6]);
    let mut enc = dev.encoder();
    // A square factor keeps the shape, so only the aliasing is wrong.
    let square = dev.upload(2, 2, &[1.0, 0.0, 0.0, 1.0]).unwrap();
    assert!(matches!(
        enc.kronecker_gemm(&k, &square, &x, &x),
        Err(Error::InvalidArgument(_))
    ));
    let bad = dev.alloc(3, 3).unwrap();
    assert!(matches!(
        enc.kronecker_gemm(&k, &a, &x, &bad),
        Err(Error::ShapeMismatch { .. })
    ));
}
