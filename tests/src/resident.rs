//! `Engine::gemm` and `Engine::axpby` on resident matrices: cpu f64 against the faer definition
//! (bound `2k·u64·(|α||A||B| + |β||C|)` entrywise), cpu f32 and gpu f32 under the market rule
//! (GPU error ≤ 2× CPU f32 error + one f32 ulp of the magnitude scale), and typed errors.

use crate::support::{Rng, gpu_engines, max_abs, max_err, report, to_f32};
use faer::Mat;
use linops::{Engine, Error};

const U32: f64 = 1.0 / 16_777_216.0;
const U64: f64 = f64::EPSILON / 2.0;

fn op_t(m: &Mat<f64>, t: bool) -> Mat<f64> {
    if t {
        m.transpose().to_owned()
    } else {
        m.clone()
    }
}

fn abs(m: &Mat<f64>) -> Mat<f64> {
    Mat::from_fn(m.nrows(), m.ncols(), |i, j| m[(i, j)].abs())
}

#[test]
fn gemm_matches_faer_on_every_backend() {
    let cpu = Engine::cpu();
    let gpu = gpu_engines();
    let (m, n, k) = (37, 19, 53);
    let mut rng = Rng::new(0x6E33);
    for (ci, &(ta, tb, alpha, beta)) in [
        (false, false, 1.0, 0.0),
        (true, false, -0.5, 0.0),
        (false, true, 2.0, 1.0),
        (true, true, 1.0, -0.75),
    ]
    .iter()
    .enumerate()
    {
        let a = rng.mat(if ta { k } else { m }, if ta { m } else { k });
        let b = rng.mat(if tb { n } else { k }, if tb { k } else { n });
        let c = rng.mat(m, n);
        let (oa, ob) = (op_t(&a, ta), op_t(&b, tb));
        let want = &oa * &ob * alpha + &c * beta;
        let mag = &abs(&oa) * &abs(&ob) * alpha.abs() + abs(&c) * beta.abs();
        let scale = max_abs(mag.as_ref());
        let cin = (beta != 0.0).then_some(&c);
        let what = format!("case {ci} (trans_a {ta}, trans_b {tb}, alpha {alpha}, beta {beta})");

        let run64 = |e: &Engine| {
            let up = |x: &Mat<f64>| e.upload(x.as_ref()).unwrap();
            let cm = cin.map(up);
            let g = e
                .gemm(alpha, &up(&a), ta, &up(&b), tb, beta, cm.as_ref())
                .unwrap_or_else(|err| panic!("{what}: {err}"));
            e.download::<f64>(&g).unwrap()
        };
        let run32 = |e: &Engine| {
            let up = |x: &Mat<f64>| e.upload(to_f32(x.as_ref()).as_ref()).unwrap();
            let cm = cin.map(up);
            let g = e
                .gemm(alpha, &up(&a), ta, &up(&b), tb, beta, cm.as_ref())
                .unwrap_or_else(|err| panic!("{what}: {err}"));
            e.download::<f32>(&g).unwrap()
        };
        let y64 = run64(&cpu);
        assert_eq!((y64.nrows(), y64.ncols()), (m, n), "{what}");
        let gamma = 2.0 * (k + 1) as f64 * U64;
        for j in 0..n {
            for i in 0..m {
                let d = (y64[(i, j)] - want[(i, j)]).abs();
                assert!(
                    d <= gamma * mag[(i, j)],
                    "{what}: cpu f64 at ({i}, {j}): diff {d:e}"
                );
            }
        }
        let (err_cpu, _) = max_err(run32(&cpu).as_ref(), y64.as_ref());
        assert!(
            err_cpu > 0.0 && err_cpu <= 2.0 * (k + 1) as f64 * U32 * scale,
            "{what}: cpu f32 {err_cpu:e}"
        );
        if let Some((trusted, checked)) = &gpu {
            let yg = run32(trusted);
            let (err_gpu, at) = max_err(yg.as_ref(), y64.as_ref());
            let bound = 2.0 * err_cpu + U32 * scale;
            assert!(
                err_gpu <= bound,
                "{what}: gpu f32 error {err_gpu:e} at {at:?} exceeds {bound:e}"
            );
            let yc = run32(checked);
            for j in 0..n {
                for i in 0..m {
                    assert_eq!(
                        yc[(i, j)].to_bits(),
                        yg[(i, j)].to_bits(),
                        "{what}: checked vs trusted"
                    );
                }
            }
        }
    }
    if gpu.is_none() {
        report("SKIPPED resident gemm on gpu f32: no adapter");
    }
}

#[test]
fn axpby_matches_definition_on_every_backend() {
    let cpu = Engine::cpu();
    let gpu = gpu_engines();
    let mut rng = Rng::new(0xA8B7);
    let (x, y) = (rng.mat(29, 7), rng.mat(29, 7));
    let (alpha, beta) = (1.5, -0.25);
    let want = &x * alpha + &y * beta;
    let scale = max_abs((abs(&x) * alpha.abs() + abs(&y) * beta.abs()).as_ref());
    let z = cpu
        .axpby(
            alpha,
            &cpu.upload(x.as_ref()).unwrap(),
            beta,
            &cpu.upload(y.as_ref()).unwrap(),
        )
        .unwrap();
    let (err64, _) = max_err(cpu.download::<f64>(&z).unwrap().as_ref(), want.as_ref());
    assert!(err64 <= 2.0 * U64 * scale, "cpu f64 axpby error {err64:e}");
    let run32 = |e: &Engine| {
        let up = |m: &Mat<f64>| e.upload(to_f32(m.as_ref()).as_ref()).unwrap();
        e.download::<f32>(&e.axpby(alpha, &up(&x), beta, &up(&y)).unwrap())
            .unwrap()
    };
    let (err_cpu, _) = max_err(run32(&cpu).as_ref(), want.as_ref());
    assert!(
        err_cpu <= 4.0 * U32 * scale,
        "cpu f32 axpby error {err_cpu:e}"
    );
    // beta = 0 must ignore Y's contents exactly, and alpha = 0 must ignore X's.
    let only_x = cpu
        .axpby(
            2.0,
            &cpu.upload(x.as_ref()).unwrap(),
            0.0,
            &cpu.upload(y.as_ref()).unwrap(),
        )
        .unwrap();
    assert_eq!(cpu.download::<f64>(&only_x).unwrap(), &x * 2.0);
    match &gpu {
        Some((trusted, _)) => {
            let (err_gpu, at) = max_err(run32(trusted).as_ref(), want.as_ref());
            let bound = 2.0 * err_cpu + U32 * scale;
            assert!(
                err_gpu <= bound,
                "gpu f32 axpby error {err_gpu:e} at {at:?} exceeds {bound:e}"
            );
        }
        None => report("SKIPPED resident axpby on gpu f32: no adapter"),
    }
}

#[test]
fn gemm_and_axpby_reject_bad_operands() {
    let mut engines = vec![Engine::cpu()];
    if let Some((g, _)) = gpu_engines() {
        engines.push(g);
    }
    for e in &engines {
        let a = e.upload(Mat::<f32>::zeros(3, 4).as_ref()).unwrap();
        let b = e.upload(Mat::<f32>::zeros(3, 2).as_ref()).unwrap();
        let c = e.upload(Mat::<f32>::zeros(4, 3).as_ref()).unwrap();
        let name = e.name();
        assert!(
            matches!(
                e.gemm(1.0, &a, false, &b, false, 0.0, None),
                Err(Error::ShapeMismatch { .. })
            ),
            "{name}"
        );
        assert!(
            matches!(
                e.gemm(1.0, &a, true, &b, false, 1.0, None),
                Err(Error::InvalidArgument(_))
            ),
            "{name}"
        );
        assert!(
            matches!(
                e.gemm(1.0, &a, true, &b, false, 1.0, Some(&c)),
                Err(Error::ShapeMismatch { .. })
            ),
            "{name}"
        );
        assert!(
            matches!(
                e.gemm(f64::NAN, &a, true, &b, false, 0.0, None),
                Err(Error::InvalidArgument(_))
            ),
            "{name}"
        );
        assert!(
            e.gemm(1.0, &a, true, &b, false, 0.0, None).is_ok(),
            "{name}"
        );
        assert!(
            matches!(e.axpby(1.0, &a, 1.0, &c), Err(Error::ShapeMismatch { .. })),
            "{name}"
        );
        assert!(
            matches!(
                e.axpby(1.0, &a, f64::INFINITY, &a),
                Err(Error::InvalidArgument(_))
            ),
            "{name}"
        );
    }
    let cpu = Engine::cpu();
    let a32 = cpu.upload(Mat::<f32>::zeros(2, 2).as_ref()).unwrap();
    let a64 = cpu.upload(Mat::<f64>::zeros(2, 2).as_ref()).unwrap();
    assert!(matches!(
        cpu.gemm(1.0, &a32, false, &a64, false, 0.0, None),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        cpu.gemm(1.0, &a64, false, &a64, false, 1.0, Some(&a32)),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        cpu.axpby(1.0, &a32, 1.0, &a64),
        Err(Error::InvalidArgument(_))
    ));
    if let Some((g, _)) = gpu_engines() {
        let ag = g.upload(Mat::<f32>::zeros(2, 2).as_ref()).unwrap();
        assert!(matches!(
            g.gemm(1.0, &ag, false, &a32, false, 0.0, None),
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            cpu.axpby(1.0, &ag, 1.0, &ag),
            Err(Error::InvalidArgument(_))
        ));
    }
}

/// The drivers' Gaussian test matrix `Ω = √l·Sᵀ` (`S` the `l×n` Gaussian `DenseSketch` of a
/// seed) is now a random fill; it must be, bit for bit, what sketching the identity `I_l` gave
/// before on every backend, so that seeded driver results do not change.
#[test]
fn gaussian_fill_equals_sketching_the_identity_bit_for_bit() {
    use linops::{DType, Dist, Op, RngState, op::DenseSketch};
    let mut engines = vec![(Engine::cpu(), DType::F64), (Engine::cpu(), DType::F32)];
    if let Some((g, _)) = gpu_engines() {
        engines.push((g, DType::F32));
    }
    for (e, dtype) in &engines {
        for (n, l, seed) in [
            (1, 1, 0u64),
            (7, 3, 1),
            (300, 10, 42),
            (1000, 17, 7),
            (64, 64, 9),
        ] {
            let s = DenseSketch::gaussian(l, n, RngState::new(seed)).unwrap();
            let alpha = (l as f64).sqrt() * s.scale();
            let old_s = DenseSketch::gaussian(l, n, RngState::new(seed)).unwrap();
            let old_op = Op::leaf(old_s).t().scaled((l as f64).sqrt()).unwrap();
            let eye = match dtype {
                DType::F64 => e.upload(Mat::<f64>::identity(l, l).as_ref()),
                DType::F32 => e.upload(Mat::<f32>::identity(l, l).as_ref()),
            }
            .unwrap();
            let old = e.download_f64(&e.apply_to(&old_op, &eye).unwrap()).unwrap();
            let new = e
                .random_matrix(*dtype, Dist::Gaussian, s.rng(), l, n, true, alpha)
                .unwrap();
            let new = e.download_f64(&new).unwrap();
            for j in 0..l {
                for i in 0..n {
                    assert_eq!(
                        old[(i, j)].to_bits(),
                        new[(i, j)].to_bits(),
                        "{} {dtype} n={n} l={l} seed={seed} at ({i}, {j}): sketch {} vs fill {}",
                        e.name(),
                        old[(i, j)],
                        new[(i, j)]
                    );
                }
            }
        }
    }
}

/// Plans over several inputs refuse inputs of the wrong number, shape, dtype or backend with a
/// typed error before anything runs.
#[test]
fn multi_input_plans_reject_bad_inputs() {
    use linops::{Backend, CpuBackend, DType, Dist, Plan, RngState};
    let cpu = CpuBackend::<f64>::new();
    let x = cpu.upload(2, 3, &[1.0; 6]).unwrap();
    let y = cpu.upload(3, 2, &[1.0; 6]).unwrap();
    let axpby = Plan::axpby(DType::F64, 1.0, (2, 3), 1.0, (2, 3)).unwrap();
    assert!(matches!(
        cpu.execute(&axpby, &[&x]),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        cpu.execute(&axpby, &[&x, &x, &x]),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        cpu.execute(&axpby, &[&x, &y]),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(cpu.execute(&axpby, &[&x, &x]).is_ok());
    let f32_plan = Plan::axpby(DType::F32, 1.0, (2, 3), 1.0, (2, 3)).unwrap();
    assert!(matches!(
        cpu.execute(&f32_plan, &[&x, &x]),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        Plan::col_dots(DType::F64, (2, 3), (3, 2)),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        Plan::concat_cols(DType::F64, &[(2, 3), (3, 3)]),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        Plan::concat_cols(DType::F64, &[]),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        Plan::concat_cols(DType::F64, &[(2, 3), (2, 0)]),
        Err(Error::EmptyDimension { .. })
    ));
    let s = RngState::new(1);
    assert!(matches!(
        Plan::random_fill(DType::F64, Dist::Gaussian, s, 0, 3, false, 1.0),
        Err(Error::EmptyDimension { .. })
    ));
    assert!(matches!(
        Plan::random_fill(DType::F32, Dist::Gaussian, s, 2, 3, false, 1e300),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        Plan::random_fill(DType::F64, Dist::Gaussian, s, usize::MAX / 2, 3, false, 1.0),
        Err(Error::DeviceLimit { .. })
    ));
    for (name, e) in engines_named() {
        let a = e.upload(Mat::<f32>::zeros(2, 3).as_ref()).unwrap();
        let b = e.upload(Mat::<f32>::zeros(3, 2).as_ref()).unwrap();
        assert!(
            matches!(e.col_dots(&a, &b), Err(Error::ShapeMismatch { .. })),
            "{name}"
        );
        assert!(
            matches!(e.concat_cols(&[&a, &b]), Err(Error::ShapeMismatch { .. })),
            "{name}"
        );
        assert!(
            matches!(e.concat_cols(&[]), Err(Error::InvalidArgument(_))),
            "{name}"
        );
        let fill = e
            .random_matrix(DType::F32, Dist::Uniform, s, 2, 3, false, 1.0)
            .unwrap();
        assert_eq!(fill.shape(), (2, 3), "{name}");
    }
    let e = Engine::cpu();
    let a32 = e.upload(Mat::<f32>::zeros(2, 3).as_ref()).unwrap();
    let a64 = e.upload(Mat::<f64>::zeros(2, 3).as_ref()).unwrap();
    assert!(matches!(
        e.concat_cols(&[&a32, &a64]),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        e.col_dots(&a32, &a64),
        Err(Error::InvalidArgument(_))
    ));
    if let Some((g, _)) = gpu_engines() {
        assert!(matches!(
            g.random_matrix(DType::F64, Dist::Uniform, s, 2, 3, false, 1.0),
            Err(Error::Unsupported(_))
        ));
        let ag = g.upload(Mat::<f32>::zeros(2, 3).as_ref()).unwrap();
        assert!(matches!(
            g.concat_cols(&[&ag, &a32]),
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(e.col_norms(&ag), Err(Error::InvalidArgument(_))));
    }
}

fn engines_named() -> Vec<(&'static str, Engine)> {
    let mut v = vec![("cpu", Engine::cpu())];
    if let Some((g, _)) = gpu_engines() {
        v.push(("gpu", g));
    }
    v
}
