//! Column norms fused into the producing step (issue 16 item 2): `orthonormalize` (CholeskyQR2,
//! under every randomized driver) reads the scale of its input off the diagonal of the first
//! Gram matrix instead of a separate column-norm pass over `X` when that diagonal proves that
//! no scaling is needed.
//!
//! - ordinary input builds 4 plans (two Gram products, two `X·R⁻¹`), not 5: the `m×k` read of
//!   the norm pass is gone; input at the edge of the window or outside it still computes the
//!   norms safely (5 and 7 plans);
//! - the fused route gives the unfused route's bits: `X` (fused) against `2^e·X` outside the
//!   window (norms, exact scaling, a fresh Gram product), on the CPU in f64 and f32 and on the GPU.

use crate::support::{Rng, report};
use faer::Mat;
use linops::randnla::qr::{QrMethod, orthonormalize};
use linops::{Engine, Matrix, Scalar};

/// `orthonormalize(x)` and the number of plans it built.
fn counted(e: &Engine, x: &Matrix) -> (linops::randnla::qr::QrFactors, u64) {
    let before = e.transfers();
    let f = orthonormalize(e, x).unwrap();
    (f, e.transfers().since(&before).plans)
}

fn host(e: &Engine, m: &Matrix) -> Mat<f64> {
    e.download_f64(m).unwrap()
}

/// The fused route against the unfused one on `engine` in `T`: `X` in the window, `2^e·X`
/// outside it (`e` beyond the window of `T`), and `X` with its largest column norm in the
/// window's outermost binade (norms computed, the Gram product reused).
fn fused_equals_unfused<T: Scalar>(e: &Engine, label: &str, outside: i32, edge: i32) {
    let (m, k) = (300, 17);
    let x = Rng::new(0xF05E_0001).mat(m, k);
    let up = |s: f64| {
        let xs = Mat::<T>::from_fn(m, k, |i, j| T::from_f64(x[(i, j)] * s));
        e.upload(xs.as_ref()).unwrap()
    };
    let (base, plans) = counted(e, &up(1.0));
    assert_eq!(base.method, QrMethod::CholeskyQr2, "{label}");
    // Two Gram products and two X·R⁻¹, no column-norm pass.
    assert_eq!(plans, 4, "{label}: plans built for ordinary input");
    let q0 = host(e, &base.q);
    let scale = 2f64.powi(outside);
    let (far, plans) = counted(e, &up(scale));
    // The Gram attempt, the norms, the scaling, then the four products.
    assert_eq!(
        plans, 7,
        "{label}: plans built for input scaled by 2^{outside}"
    );
    assert_eq!(far.method, base.method, "{label}");
    let qf = host(e, &far.q);
    for j in 0..k {
        for i in 0..m {
            assert_eq!(
                qf[(i, j)].to_bits(),
                q0[(i, j)].to_bits(),
                "{label}: Q({i}, {j}) of 2^{outside}·X differs from Q of X (fused route)"
            );
        }
    }
    for j in 0..k {
        for i in 0..k {
            assert_eq!(
                far.r[(i, j)].to_bits(),
                (base.r[(i, j)] * scale).to_bits(),
                "{label}: R({i}, {j}) of 2^{outside}·X is not 2^{outside}·R"
            );
        }
    }
    // Largest column norm 2^edge·‖x‖ with exponent at the window's edge: the Gram diagonal
    // cannot prove "no scaling" with its rounding, so the norms are computed (and say no
    // scaling: the Gram product is reused).
    let top = (0..k)
        .map(|j| (0..m).map(|i| x[(i, j)] * x[(i, j)]).sum::<f64>().sqrt())
        .fold(0.0, f64::max);
    let to_edge = edge - top.log2().floor() as i32;
    let (_, plans) = counted(e, &up(2f64.powi(to_edge)));
    assert_eq!(
        plans, 5,
        "{label}: plans built at the window's edge (2^{to_edge}·X)"
    );
}

#[test]
fn orthonormalize_reads_its_scale_off_the_gram_diagonal_cpu() {
    let e = Engine::cpu();
    // Windows: |exponent| ≤ 256 in f64, ≤ 32 in f32; the edge binade is the outermost one.
    fused_equals_unfused::<f64>(&e, "cpu f64", 400, 256);
    fused_equals_unfused::<f32>(&e, "cpu f32", 60, 32);
    report("fused norms: orthonormalize skips the norm pass for ordinary input (cpu f64, f32)");
}

#[test]
fn orthonormalize_reads_its_scale_off_the_gram_diagonal_gpu() {
    let Some((e, _)) = crate::support::gpu_engines() else {
        return;
    };
    fused_equals_unfused::<f32>(&e, "gpu f32", 60, 32);
    report("fused norms: orthonormalize skips the norm pass for ordinary input (gpu f32)");
}

/// Block Oja reads `A_t·Q` once for its column norms: the scale and `‖A_t·Q‖_F` of Oja's step
/// come from the same norms (the second reduction over the scaled block is gone), so an Oja
/// update builds exactly the plans of a power update from the same state (`A_t·Q`, its norms,
/// the power-of-two scaling, `A_tᵀ·(…)`), one fewer than before; the result of the step is
/// checked by `streaming` (accuracy) and `scale_invariance` (bits under `2^e·A_t`).
#[test]
fn block_oja_reads_its_block_once_for_norms() {
    use linops::randnla::streaming::BlockOja;
    let e = Engine::cpu();
    let mut rng = Rng::new(0xF05E_0002);
    let (d, k, rows) = (40, 3, 25);
    for _ in 0..3 {
        let block = rng.dense_op(rows, d);
        let count = |eta: Option<f64>| {
            // The same seed: the same Q, so the same A_t·Q and the same scaling.
            let mut o = BlockOja::new(d, k, eta, 7).unwrap();
            let before = e.transfers();
            o.update::<f64>(&e, &block).unwrap();
            e.transfers().since(&before).plans
        };
        let (power, oja) = (count(None), count(Some(10.0)));
        assert_eq!(
            oja, power,
            "plans built by an Oja update and a power update"
        );
        assert!(
            (3..=4).contains(&power),
            "plans built by a power update: {power}"
        );
    }
}
