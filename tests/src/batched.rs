//! Batched operators and drivers (issue 13): the [`Batched`] leaf and the resident batched GEMM
//! against each matrix's product, batched CholeskyQR2 (orthonormal `Q_t`, `Q_t·R_t = A_t`, the
//! Householder fallback for a rank-deficient member) and the batched Newton–Schulz polar factor
//! against each matrix's SVD-based `U·Vᵀ` computed in f64; one plan per step whatever the batch;
//! typed errors for bad batches. On cpu f64, cpu f32 and the GPU (f32).

use crate::support::{Rng, cpu_engine, gpu_engines, report};
use faer::Mat;
use linops::randnla::batched::{
    batched_cholesky_qr2, batched_gemm, batched_polar_newton_schulz, download_batch, upload_batch,
};
use linops::randnla::matfun::{MatFunOptions, NsKind};
use linops::randnla::qr::QrMethod;
use linops::{Engine, Error, Matrix, Op, Scalar};
use linops_core::HostMat;
use linops_core::op::Batched;
use linops_core::rng::{Dist, RngState};

const U32: f64 = 1.0 / 16_777_216.0;
const U64: f64 = f64::EPSILON / 2.0;

/// The batched operators of the differential market: `(name, op, dense form, batch columns)`,
/// transposes included; parameters f32-representable (the market's rule).
pub fn market_cases() -> Vec<crate::structured::StructuredCase> {
    let mut rng = Rng::new(0xBA7C_0002);
    let mut v = Vec::new();
    for (b, p, q, cols) in [
        (1, 1, 1, 1),
        (3, 17, 5, 4),
        (7, 5, 13, 33),
        (64, 16, 16, 3),
        (128, 4, 4, 2),
    ] {
        let data: Vec<f64> = rng
            .vec(b * p * q)
            .iter()
            .map(|&x| f64::from(x as f32))
            .collect();
        let op = Batched::from_stacked(b, p, q, data).unwrap();
        let dense = Op::from_host(linops::LeafOp::to_dense(&op)).unwrap();
        let op = Op::leaf(op);
        v.push((format!("batched {b}×{p}x{q}ᵀ"), op.t(), dense.t(), cols));
        v.push((format!("batched {b}×{p}x{q}"), op, dense, cols));
    }
    v
}

/// An f32-representable Gaussian `m×n` matrix (so every backend sees the same input).
fn gauss(m: usize, n: usize, seed: u64) -> Mat<f64> {
    let r = RngState::new(seed);
    Mat::from_fn(m, n, |i, j| {
        f64::from(r.entry(Dist::Gaussian, i as u64, j as u64))
    })
}

/// `U·diag(s)·Vᵀ` with `s` log-spaced in `[1/kappa, 1]`.
fn with_spectrum(m: usize, n: usize, kappa: f64, seed: u64) -> Mat<f64> {
    let u = gauss(m, n, seed).qr().compute_thin_Q();
    let v = gauss(n, n, seed + 1).qr().compute_thin_Q();
    let s = Mat::from_fn(n, n, |i, j| {
        if i == j && n > 1 {
            kappa.powf(-(i as f64) / (n - 1) as f64)
        } else {
            f64::from(u8::from(i == j))
        }
    });
    &u * &s * v.transpose()
}

fn to_t<T: Scalar>(m: &Mat<f64>) -> Mat<T> {
    Mat::from_fn(m.nrows(), m.ncols(), |i, j| T::from_f64(m[(i, j)]))
}

fn upload<T: Scalar>(e: &Engine, mats: &[Mat<f64>]) -> Matrix {
    let ts: Vec<Mat<T>> = mats.iter().map(to_t::<T>).collect();
    let refs: Vec<_> = ts.iter().map(|m| m.as_ref()).collect();
    upload_batch(e, &refs).unwrap()
}

fn download<T: Scalar>(e: &Engine, x: &Matrix, batch: usize) -> Vec<Mat<f64>> {
    download_batch::<T>(e, x, batch)
        .unwrap()
        .iter()
        .map(|m| Mat::from_fn(m.nrows(), m.ncols(), |i, j| m[(i, j)].to_f64()))
        .collect()
}

fn abs(m: &Mat<f64>) -> Mat<f64> {
    Mat::from_fn(m.nrows(), m.ncols(), |i, j| m[(i, j)].abs())
}

/// Checks `|got − want| ≤ bound` entrywise, naming the matrix, index, values and bound.
fn check_entrywise(what: &str, t: usize, got: &Mat<f64>, want: &Mat<f64>, bound: &Mat<f64>) {
    for j in 0..want.ncols() {
        for i in 0..want.nrows() {
            let d = (got[(i, j)] - want[(i, j)]).abs();
            assert!(
                d <= bound[(i, j)] + f64::MIN_POSITIVE,
                "{what}: matrix {t} ({}x{}), entry ({i}, {j}): got {}, want {}, diff {d:e} > bound {:e}",
                want.nrows(),
                want.ncols(),
                got[(i, j)],
                want[(i, j)],
                bound[(i, j)]
            );
        }
    }
}

/// The [`Batched`] leaf applied to stacked right-hand sides, and the resident batched GEMM, each
/// against every matrix's own product in f64. Bound: `|fl(A·X) − A·X| ≤ γ_k·(|A||X|)` entrywise
/// (Higham 2002, (3.13)) with `γ_k ≤ 1.01·k·u`; the inputs are f32-representable so no input
/// rounding enters; `2·k·u` leaves the factor 2 of the project's rule.
fn apply_cases(e: &Engine, name: &str, u: f64, f32_data: bool) {
    let mut rng = Rng::new(0xBA7C_0001);
    for (b, p, q, cols) in [(1, 1, 1, 1), (3, 17, 5, 2), (5, 7, 13, 33), (64, 16, 16, 3)] {
        let mats: Vec<Mat<f64>> = (0..b).map(|t| gauss(p, q, 100 + t as u64)).collect();
        let hosts: Vec<HostMat> = mats
            .iter()
            .map(|m| HostMat::from_fn(p, q, |i, j| m[(i, j)]))
            .collect();
        let op = Op::leaf(Batched::new(hosts).unwrap());
        assert_eq!(op.shape(), (b * p, b * q));
        let x = Mat::<f64>::from_fn(b * q, cols, |_, _| f64::from(rng.uniform() as f32 - 0.5));
        let y = if f32_data {
            let y = e.apply(&op, to_t::<f32>(&x).as_ref()).unwrap();
            Mat::from_fn(y.nrows(), y.ncols(), |i, j| f64::from(y[(i, j)]))
        } else {
            e.apply(&op, x.as_ref()).unwrap()
        };
        let yt_op = op.t();
        for (t, a) in mats.iter().enumerate() {
            let xt = x.as_ref().subrows(t * q, q).to_owned();
            let want = a * &xt;
            let bound = (abs(a) * abs(&xt)) * (2.0 * q as f64 * u);
            let got = y.as_ref().subrows(t * p, p).to_owned();
            check_entrywise(
                &format!("{name} batched apply {b}x{p}x{q}"),
                t,
                &got,
                &want,
                &bound,
            );
        }
        // The transpose maps Y_t to A_tᵀ·Y_t.
        let z = Mat::<f64>::from_fn(b * p, cols, |i, j| {
            f64::from(((i + 3 * j) % 7) as f32) - 3.0
        });
        let w = if f32_data {
            let w = e.apply(&yt_op, to_t::<f32>(&z).as_ref()).unwrap();
            Mat::from_fn(w.nrows(), w.ncols(), |i, j| f64::from(w[(i, j)]))
        } else {
            e.apply(&yt_op, z.as_ref()).unwrap()
        };
        for (t, a) in mats.iter().enumerate() {
            let zt = z.as_ref().subrows(t * p, p).to_owned();
            let want = a.transpose() * &zt;
            let bound = (abs(a).transpose() * abs(&zt)) * (2.0 * p as f64 * u);
            let got = w.as_ref().subrows(t * q, q).to_owned();
            check_entrywise(
                &format!("{name} batched apply^T {b}x{p}x{q}"),
                t,
                &got,
                &want,
                &bound,
            );
        }
    }
    report(&format!(
        "{name}: batched apply equals each matrix's product"
    ));
}

/// The resident batched GEMM `alpha·op(A_t)·B_t + beta·C_t` against faer per matrix (same
/// bound, plus one rounding of the `beta·C` term).
fn resident_cases<T: Scalar>(e: &Engine, name: &str, u: f64) {
    for (b, m, k, n, trans) in [
        (1, 1, 1, 1, false),
        (3, 17, 5, 2, true),
        (7, 33, 65, 9, false),
        (16, 40, 6, 6, true),
    ] {
        let (ar, ac) = if trans { (k, m) } else { (m, k) };
        let a: Vec<Mat<f64>> = (0..b).map(|t| gauss(ar, ac, 7 + t as u64)).collect();
        let bb: Vec<Mat<f64>> = (0..b).map(|t| gauss(k, n, 300 + t as u64)).collect();
        let c: Vec<Mat<f64>> = (0..b).map(|t| gauss(m, n, 900 + t as u64)).collect();
        let (ra, rb, rc) = (upload::<T>(e, &a), upload::<T>(e, &bb), upload::<T>(e, &c));
        let (alpha, beta) = (0.75, -0.5);
        let out = batched_gemm(e, b, alpha, &ra, trans, &rb, beta, Some(&rc)).unwrap();
        let got = download::<T>(e, &out, b);
        for t in 0..b {
            let at = if trans {
                a[t].transpose().to_owned()
            } else {
                a[t].clone()
            };
            let want = (&at * &bb[t]) * alpha + &c[t] * beta;
            let bound = (abs(&at) * abs(&bb[t])) * (alpha * 2.0 * (k + 1) as f64 * u)
                + abs(&c[t]) * (beta.abs() * 2.0 * u);
            check_entrywise(
                &format!("{name} batched_gemm b={b}"),
                t,
                &got[t],
                &want,
                &bound,
            );
        }
    }
    report(&format!(
        "{name}: resident batched_gemm equals each matrix's product"
    ));
}

/// Batched CholeskyQR2: for every matrix `‖Q_tᵀQ_t − I‖_F ≤ 8·(mk + k²)·u` and
/// `‖Q_t·R_t − A_t‖_F ≤ 8·(mk + k²)·u·‖A_t‖_F` (Yamamoto et al. 2015, Thm 3.3 and 3.4: both
/// `O((mk + k²)·u)` for `κ(A_t) ≲ u^{-1/2}`; 8 bounds their constants), `R_t` upper triangular,
/// and the method CholeskyQR2 except for the rank-deficient member, which falls back to
/// Householder (same bounds: Householder QR is backward stable, Higham Thm 19.4).
fn cholqr_cases<T: Scalar>(e: &Engine, name: &str, u: f64) {
    let (m, k) = (40, 6);
    let kappas = [1.0, 10.0, 1e3, 3.0, 100.0];
    let mut mats: Vec<Mat<f64>> = kappas
        .iter()
        .enumerate()
        .map(|(t, &kp)| with_spectrum(m, k, kp, 40 + 2 * t as u64))
        .collect();
    // Rank 1 (column 0 repeated): its Gram matrix is singular.
    let g = gauss(m, 1, 77);
    mats.push(Mat::from_fn(m, k, |i, _| g[(i, 0)]));
    let b = mats.len();
    let x = upload::<T>(e, &mats);
    let f = batched_cholesky_qr2(e, &x, b).unwrap();
    let q = download::<T>(e, &f.q, b);
    let bound = 8.0 * (m * k + k * k) as f64 * u;
    for t in 0..b {
        // The documented switch: κ̂ > (8·k·u)^{-1/2} (≈ 589 in f32, 6·10⁶ in f64) → Householder.
        let limit = 1.0 / (8.0 * k as f64 * u).sqrt();
        let want = if t == b - 1 || kappas[t] > limit {
            QrMethod::Householder
        } else {
            QrMethod::CholeskyQr2
        };
        assert_eq!(f.methods[t], want, "{name}: matrix {t} method");
        let orth = (q[t].transpose() * &q[t] - Mat::<f64>::identity(k, k)).norm_l2();
        let a = to_t::<T>(&mats[t]);
        let a = Mat::from_fn(m, k, |i, j| a[(i, j)].to_f64());
        let rec = (&q[t] * &f.r[t] - &a).norm_l2() / a.norm_l2();
        assert!(
            orth <= bound,
            "{name}: matrix {t}: ‖QᵀQ − I‖ = {orth:e} > {bound:e}"
        );
        assert!(
            rec <= bound,
            "{name}: matrix {t}: ‖QR − A‖/‖A‖ = {rec:e} > {bound:e}"
        );
        for j in 0..k {
            for i in j + 1..k {
                assert_eq!(f.r[t][(i, j)], 0.0, "{name}: matrix {t}: R not triangular");
            }
        }
    }
    report(&format!(
        "{name}: batched CholeskyQR2 of {b} matrices {m}x{k} (κ up to 1e3, one rank-1 → Householder)"
    ));
}

/// Batched Newton–Schulz (cubic) against each matrix's polar factor `U·Vᵀ` from faer's SVD in
/// f64: `‖X_t − U_tV_tᵀ‖_F ≤ 100·κ_t·n·u`. Each step's rounding is a backward error of order
/// `n·u` and the polar factor's condition number is of order `κ` (Higham 2008, Thm 8.9: `‖ΔU‖_F ≤
/// 2‖ΔA‖_F/(σ_{n−1} + σ_n)`); the constant 100 is the single-matrix test's (tests/src/matfun.rs).
/// The quintic's singular values are `p⁵(σ_i/‖A_t‖_F)` per matrix.
fn polar_cases<T: Scalar>(e: &Engine, name: &str, u: f64) {
    let (m, n) = (20, 8);
    let kappas = [1.0, 10.0, 100.0, 2.0, 50.0, 5.0];
    let mats: Vec<Mat<f64>> = kappas
        .iter()
        .enumerate()
        .map(|(t, &kp)| with_spectrum(m, n, kp, 500 + 2 * t as u64) * (t as f64 + 0.5))
        .collect();
    let b = mats.len();
    let x = upload::<T>(e, &mats);
    let r =
        batched_polar_newton_schulz(e, &x, b, NsKind::Cubic, &MatFunOptions::default()).unwrap();
    let got = download::<T>(e, &r.x, b);
    for t in 0..b {
        let svd = mats[t].thin_svd().unwrap();
        let polar = svd.U() * svd.V().transpose();
        let err = (&got[t] - &polar).norm_l2();
        let bound = 100.0 * kappas[t] * n as f64 * u;
        assert!(r.converged[t], "{name}: matrix {t} did not converge");
        assert!(
            err <= bound,
            "{name}: matrix {t} (κ = {}): ‖X − UVᵀ‖_F = {err:e} > {bound:e}",
            kappas[t]
        );
    }
    report(&format!(
        "{name}: batched cubic Newton–Schulz of {b} matrices {m}x{n}: {} its, residuals ≤ {:.1e}",
        r.iterations,
        r.residuals.iter().fold(0.0f64, |a, &v| a.max(v))
    ));
    let q = batched_polar_newton_schulz(e, &x, b, NsKind::MuonQuintic, &MatFunOptions::default())
        .unwrap();
    assert_eq!(q.iterations, 5);
    let got = download::<T>(e, &q.x, b);
    let p = |s: f64| 3.4445 * s - 4.7750 * s.powi(3) + 2.0315 * s.powi(5);
    for t in 0..b {
        let s0 = mats[t].singular_values().unwrap();
        let f = mats[t].norm_l2();
        let mut want: Vec<f64> = s0
            .iter()
            .map(|&s| (0..5).fold(s / f, |x, _| p(x)))
            .collect();
        want.sort_by(|x, y| y.partial_cmp(x).unwrap());
        let got_s = got[t].singular_values().unwrap();
        for (i, (g, w)) in got_s.iter().zip(&want).enumerate() {
            // |p'| ≤ 3.5 on [0, 1.2]: five steps amplify each step's O(n·u) error by ≤ 3.5⁵.
            let bound = 3.5f64.powi(5) * 4.0 * n as f64 * u;
            assert!(
                (g - w).abs() <= bound,
                "{name}: quintic matrix {t} σ_{i}: got {g}, want {w}, bound {bound:e}"
            );
        }
    }
}

fn all_cases<T: Scalar>(e: &Engine, name: &str, u: f64, f32_data: bool) {
    apply_cases(e, name, u, f32_data);
    resident_cases::<T>(e, name, u);
    cholqr_cases::<T>(e, name, u);
    polar_cases::<T>(e, name, u);
}

#[test]
fn batched_cpu_f64() {
    all_cases::<f64>(&cpu_engine(), "cpu f64", U64, false);
}

#[test]
fn batched_cpu_f32() {
    all_cases::<f32>(&cpu_engine(), "cpu f32", U32, true);
}

#[test]
fn batched_gpu_f32() {
    let Some((trusted, checked)) = gpu_engines() else {
        return;
    };
    all_cases::<f32>(&trusted, "gpu f32", U32, true);
    // Checked shader modules give the same bits (no access was out of bounds).
    let a: Vec<Mat<f64>> = (0..9).map(|t| gauss(33, 7, t)).collect();
    let (x, y) = (upload::<f32>(&trusted, &a), upload::<f32>(&checked, &a));
    let g1 = batched_gemm(&trusted, 9, 1.0, &x, true, &x, 0.0, None).unwrap();
    let g2 = batched_gemm(&checked, 9, 1.0, &y, true, &y, 0.0, None).unwrap();
    assert_eq!(
        trusted.download::<f32>(&g1).unwrap(),
        checked.download::<f32>(&g2).unwrap(),
        "gpu batched_gemm: checked and trusted modules differ"
    );
}

/// The drivers issue as many plans for 64 matrices as for one (same matrix repeated, so the
/// iteration counts agree): no loop over the batch on the host.
#[test]
fn batched_drivers_one_plan_per_step() {
    let e = cpu_engine();
    let a = with_spectrum(24, 6, 10.0, 3);
    let plans = |b: usize, qr: bool| {
        let x = upload::<f64>(&e, &vec![a.clone(); b]);
        let before = e.transfers();
        if qr {
            batched_cholesky_qr2(&e, &x, b).unwrap();
        } else {
            batched_polar_newton_schulz(&e, &x, b, NsKind::Cubic, &MatFunOptions::default())
                .unwrap();
        }
        e.transfers().since(&before).plans
    };
    for qr in [true, false] {
        let (one, many) = (plans(1, qr), plans(64, qr));
        report(&format!(
            "plans for 1 and 64 matrices ({}): {one}, {many}",
            if qr { "CholeskyQR2" } else { "polar" }
        ));
        assert_eq!(one, many, "plans grow with the batch");
        assert!(one <= if qr { 6 } else { 2 * 40 });
    }
}

#[test]
fn batched_bad_input_is_typed() {
    let e = cpu_engine();
    let h = |r, c| HostMat::<f64>::zeros(r, c);
    // Mismatched shapes in a batch, named.
    match Batched::new(vec![h(2, 2), h(2, 2), h(3, 2)]) {
        Err(Error::ShapeMismatch { context, .. }) => {
            assert!(context.contains("matrix 2"), "{context}")
        }
        other => panic!("mismatched batch: {other:?}"),
    }
    let (a, b) = (Mat::<f64>::zeros(4, 2), Mat::<f64>::zeros(4, 3));
    match upload_batch(&e, &[a.as_ref(), b.as_ref()]) {
        Err(Error::ShapeMismatch { context, .. }) => {
            assert!(context.contains("matrix 1"), "{context}")
        }
        other => panic!("mismatched upload: {other:?}"),
    }
    // Empty batches.
    assert!(matches!(
        Batched::new(vec![]),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        upload_batch::<f64>(&e, &[]),
        Err(Error::InvalidArgument(_))
    ));
    let x = upload::<f64>(&e, &[gauss(5, 2, 1), gauss(5, 2, 2)]);
    let opts = MatFunOptions::default();
    for r in [
        batched_cholesky_qr2(&e, &x, 0).map(|_| ()),
        batched_polar_newton_schulz(&e, &x, 0, NsKind::Cubic, &opts).map(|_| ()),
        batched_gemm(&e, 0, 1.0, &x, true, &x, 0.0, None).map(|_| ()),
    ] {
        match r {
            Err(Error::InvalidArgument(s)) => assert!(s.contains("empty"), "{s}"),
            other => panic!("empty batch: {other:?}"),
        }
    }
    // Columns that are not a whole number of matrices.
    assert!(matches!(
        batched_cholesky_qr2(&e, &x, 3),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        batched_gemm(&e, 2, 1.0, &x, false, &x, 0.0, None),
        Err(Error::ShapeMismatch { .. })
    ));
    // Wide matrices.
    let w = upload::<f64>(&e, &[gauss(2, 5, 1)]);
    assert!(matches!(
        batched_cholesky_qr2(&e, &w, 1),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        batched_polar_newton_schulz(&e, &w, 1, NsKind::Cubic, &opts),
        Err(Error::InvalidArgument(_))
    ));
    // A zero matrix and a NaN, named by their index in the batch.
    let z = upload::<f64>(&e, &[gauss(5, 2, 1), Mat::zeros(5, 2)]);
    match batched_polar_newton_schulz(&e, &z, 2, NsKind::Cubic, &opts) {
        Err(Error::InvalidArgument(s)) => assert!(s.contains("matrix 1"), "{s}"),
        other => panic!("zero matrix: {other:?}"),
    }
    // NaN never enters a resident batch (uploads refuse it) nor an operator.
    let mut bad = gauss(5, 2, 3);
    bad[(4, 1)] = f64::NAN;
    let good = gauss(5, 2, 1);
    assert!(matches!(
        upload_batch(&e, &[good.as_ref(), bad.as_ref()]),
        Err(Error::NonFinite { .. })
    ));
    match Batched::from_stacked(2, 1, 1, vec![1.0, f64::NAN]) {
        Err(Error::NonFinite { .. }) => {}
        other => panic!("NaN in a batch: {other:?}"),
    }
}
