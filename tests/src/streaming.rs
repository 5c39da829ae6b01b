//! Streaming top-k eigenvectors of AᵀA (`linops::randnla::streaming`): Frequent Directions with its
//! deterministic bound, and block power / Oja; angles to the exact subspace from faer's
//! eigendecomposition.

use crate::support::{gpu_engines, report};
use faer::{Mat, Side};
use linops::randnla::streaming::{BlockOja, FrequentDirections};
use linops::{Engine, Error, Op, Scalar};
use linops_core::rng::{Dist, RngState};

const D: usize = 40;
const K: usize = 4;

/// Rows `g·diag(s)·Vᵀ` (`m×D`), spectrum with a gap after `K` plus a noise floor.
fn stream(m: usize, seed: u64) -> Mat<f64> {
    let r = RngState::new(seed);
    let g = Mat::from_fn(m, D, |i, j| {
        f64::from(r.entry(Dist::Gaussian, i as u64, j as u64))
    });
    let r2 = r.skip_columns(D as u64);
    let v = Mat::from_fn(D, D, |i, j| {
        f64::from(r2.entry(Dist::Gaussian, i as u64, j as u64))
    })
    .qr()
    .compute_thin_Q();
    let s = |j: usize| {
        if j < K {
            10.0 / (1.0 + j as f64)
        } else {
            0.5 * 0.95f64.powi(j as i32)
        }
    };
    let gs = Mat::from_fn(m, D, |i, j| g[(i, j)] * s(j));
    &gs * v.transpose()
}

/// Exact top-k eigenvectors of AᵀA and the spectral norm of `M`.
fn top_k_exact(a: &Mat<f64>, k: usize) -> Mat<f64> {
    let ata = a.transpose() * a;
    let evd = ata.self_adjoint_eigen(Side::Lower).unwrap();
    let u = evd.U();
    Mat::from_fn(D, k, |i, j| u[(i, D - 1 - j)]) // eigenvalues ascending
}

/// Largest principal angle between span(q) and span(u) (both orthonormal): acos σ_min(qᵀu).
fn max_angle(q: &Mat<f64>, u: &Mat<f64>) -> f64 {
    let s = (q.transpose() * u).singular_values().unwrap();
    s[s.len() - 1].clamp(-1.0, 1.0).acos()
}

fn spectral_norm(m: &Mat<f64>) -> f64 {
    m.singular_values().unwrap()[0]
}

fn blocks(a: &Mat<f64>, b: usize) -> Vec<Op> {
    (0..a.nrows())
        .step_by(b)
        .map(|i0| {
            let rows = b.min(a.nrows() - i0);
            linops::dense(a.as_ref().subrows(i0, rows)).unwrap()
        })
        .collect()
}

fn fd_case<T: Scalar>(e: &Engine, name: &str, tol_rel: f64) {
    let a = stream(1200, 11);
    let ell = 12;
    let mut fd = FrequentDirections::new(D, ell).unwrap();
    for blk in blocks(&a, 50) {
        fd.update::<T>(e, &blk).unwrap();
    }
    let b = fd.sketch();
    let err = spectral_norm(&(a.transpose() * &a - b.transpose() * &b));
    let delta = fd.shrinkage();
    // Ghashami et al.: ‖AᵀA − BᵀB‖₂ ≤ Δ ≤ ‖A − A_k‖_F²/(ℓ − k) for every k < ℓ.
    let sv = a.singular_values().unwrap();
    let tail = |k: usize| sv[k..].iter().map(|s| s * s).sum::<f64>();
    let frob2 = tail(0);
    for k in 0..ell {
        assert!(
            delta <= tail(k) / (ell - k) as f64 * (1.0 + tol_rel),
            "Δ bound at k={k}"
        );
    }
    assert!(
        err <= delta + tol_rel * frob2,
        "{name}: {err:.3e} > Δ {delta:.3e}"
    );
    assert_eq!(fd.seen().0, 1200);
    let (v, _) = fd.top_k(K).unwrap();
    let angle = max_angle(&v, &top_k_exact(&a, K));
    report(&format!(
        "frequent directions {name}: ‖AᵀA−BᵀB‖ = {err:.3e} ≤ Δ = {delta:.3e} \
         (‖A−A_k‖²/(ℓ−k) = {:.3e}); max angle to exact top-{K}: {angle:.3e} rad",
        tail(K) / (ell - K) as f64
    ));
    // Davis–Kahan: sin θ ≤ ‖AᵀA − BᵀB‖/(λ_K − λ_{K+1} − ‖AᵀA − BᵀB‖).
    let gap = sv[K - 1] * sv[K - 1] - sv[K] * sv[K];
    let dk = delta / (gap - delta);
    assert!(
        angle.sin() <= dk * (1.0 + 1e-6) + 10.0 * tol_rel,
        "angle {angle} vs DK {dk}"
    );
}

#[test]
fn frequent_directions_bound_and_angle() {
    fd_case::<f64>(&Engine::cpu(), "cpu f64", 1e-12);
    // f32: rows carry relative error u₃₂, so ‖AᵀA − BᵀB‖ gains ~‖A‖_F²·u₃₂·√D.
    fd_case::<f32>(&Engine::cpu(), "cpu f32", 1e-5);
    if let Some((e, _)) = gpu_engines() {
        fd_case::<f32>(&e, "gpu f32", 1e-5);
    }
}

fn oja_case<T: Scalar>(e: &Engine, name: &str, eta: Option<f64>) -> f64 {
    let a = stream(2000, 12);
    let mut o = BlockOja::new(D, K, eta, 3).unwrap();
    for blk in blocks(&a, 200) {
        o.update::<T>(e, &blk).unwrap();
    }
    let angle = max_angle(o.basis(), &top_k_exact(&a, K));
    report(&format!(
        "block oja {name} eta={eta:?}: max angle {angle:.3e} rad after {} blocks",
        o.blocks()
    ));
    angle
}

#[test]
fn block_power_and_oja_find_the_top_subspace() {
    // Gap λ_4/λ_5 ≈ (2.5/0.5)² = 25 per block power step, 10 blocks of 200 rows: the angle is
    // limited by the sampling noise of one block (≈ ‖E‖/gap with ‖E‖ ~ λ₁·√(D/200)); 0.3 rad is
    // a loose ceiling the iteration only meets when it has converged. Oja with η = 10 contracts
    // the angle by ≈ (1 + η·λ₄/λ̄)/(1 + η·λ₅/λ̄) ≥ 3 per block (λ̄ the mean Rayleigh quotient).
    for (eta, lim) in [(None, 0.3), (Some(10.0), 0.3)] {
        assert!(oja_case::<f64>(&Engine::cpu(), "cpu f64", eta) < lim);
        assert!(oja_case::<f32>(&Engine::cpu(), "cpu f32", eta) < lim);
    }
    if let Some((e, _)) = gpu_engines() {
        assert!(oja_case::<f32>(&e, "gpu f32", None) < 0.3);
    }
}

#[test]
fn streaming_bad_input() {
    let e = Engine::cpu();
    let mut fd = FrequentDirections::new(3, 2).unwrap();
    assert!(matches!(
        fd.update::<f64>(&e, &Op::identity(4).unwrap()),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(FrequentDirections::new(0, 3).is_err());
    assert!(fd.top_k(0).is_err());
    assert!(BlockOja::new(3, 0, None, 0).is_err());
    assert!(BlockOja::new(3, 1, Some(f64::NAN), 0).is_err());
}
