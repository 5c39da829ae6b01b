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
