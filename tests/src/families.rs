//! The families of issue 13 item 3 against their definitions: Walsh–Hadamard of length `m·2^k`
//! (`m ∈ {12, 20, 28}`), the GPU DCT of every length, and rectangular Monarch with its
//! projection. Their differential-market lines ([`market_cases`]) run in `market` (CPU f64/f32,
//! the GPU, and tiled).
//!
//! Bounds:
//! - Hadamard base matrices are integer matrices: `A·Aᵀ = m·I` and the ±1 entries are checked
//!   exactly. The normalized `H_n` has entries `±1/√n` (one rounding of `1/√n`, so compared
//!   within `u₆₄/√n`) and `HᵀH = I` within `n·u₆₄` per entry (a length-`n` dot of such entries).
//! - GPU DCT (any length): the project's rule, `max|Y_gpu − Y64| ≤ 2·max|Y_cpu32 − Y64| +
//!   u₃₂·max(|C|·|X|)` (the absolute term is one f32 ulp of the result's magnitude).
//! - Monarch projection: `proj(A)` is the Frobenius-nearest Monarch matrix of its block
//!   structure, so `‖A − proj(A)‖_F ≤ ‖A − c·M‖_F` for every Monarch `M` of that structure and
//!   scalar `c` (`c·M` is Monarch); the slack `1e-10` relative covers the power iteration's stopping
//!   tolerance (4u on the captured energy) and f64 rounding.

use crate::structured::{monarch, monarch_leaf};
use crate::support::{Rng, gpu_engines, max_abs, max_err, report, to_f32};
use faer::Mat;
use linops::op::{Dct, HADAMARD_BASE_ORDERS, Hadamard, Monarch, hadamard_base};
use linops::{Error, HostMat, LeafOp, Op};

const U32: f64 = 1.0 / 16_777_216.0;
const U64: f64 = f64::EPSILON / 2.0;

/// Market lines of the new families: (name, op, factor form, batch).
pub fn market_cases() -> Vec<(String, Op, Op, usize)> {
    let mut rng = Rng::new(0x5EED_F4A1);
    let mut v = Vec::new();
    let mut push = |name: String, op: Op, batch: usize| v.push((name, op.clone(), op, batch));
    for (n, b) in [
        (12, 3),
        (24, 1),
        (80, 17),
        (224, 5),
        (768, 33),
        (28 * 32, 2),
    ] {
        let h = Op::leaf(Hadamard::new(n).unwrap());
        push(format!("hadamard m·2^k {n}"), h.clone(), b);
        push(
            format!("hadamard m·2^k^T scaled {n}"),
            h.t().scaled(-0.5).unwrap(),
            b,
        );
        let d = rng.diag_op(n);
        push(
            format!("sum hadamard m·2^k + D {n}"),
            Op::sum(vec![h.clone(), d.clone()]).unwrap(),
            b,
        );
        push(
            format!("product hadamard^T·D·hadamard {n}"),
            Op::product(vec![h.t(), d, h]).unwrap(),
            b,
        );
    }
    // DCT lengths the GPU's FFT path does not take (direct path), next to the CPU's FFT.
    for (n, b) in [
        (3, 2),
        (5, 1),
        (12, 7),
        (100, 3),
        (257, 4),
        (1000, 5),
        (2049, 2),
    ] {
        let c = Op::leaf(Dct::new(n).unwrap());
        push(format!("dct any-length {n}"), c.clone(), b);
        push(format!("dct^T any-length {n}"), c.t(), b);
        push(
            format!("sum dct + 2·dct^T any-length {n}"),
            Op::sum(vec![c.clone(), c.t().scaled(2.0).unwrap()]).unwrap(),
            b,
        );
    }
    // Rectangular Monarch: block counts other than √n, non-square blocks, n_in ≠ n_out.
    for (b1, b2, p, s, b) in [
        (8, 2, 3, 5, 7),
        (2, 8, 6, 1, 3),
        (16, 4, 1, 3, 9),
        (3, 7, 2, 2, 4),
        (32, 4, 8, 16, 65),
    ] {
        let (m, mf) = monarch(&mut rng, b1, b2, p, s);
        v.push((
            format!("rectangular monarch b1={b1} b2={b2} p={p} s={s}"),
            m.clone(),
            mf.clone(),
            b,
        ));
        v.push((
            format!("rectangular monarch^T b1={b1} b2={b2} p={p} s={s}"),
            m.t(),
            mf.t(),
            b,
        ));
        // The same map through the fused one-pass kernel (issue 16 item 2).
        let fused = Op::leaf(
            m.leaf_as::<Monarch>()
                .expect("a Monarch leaf")
                .with_fused(true),
        );
        v.push((
            format!("fused monarch b1={b1} b2={b2} p={p} s={s}"),
            fused.clone(),
            mf.clone(),
            b,
        ));
        v.push((
            format!("fused monarch^T b1={b1} b2={b2} p={p} s={s}"),
            fused.t(),
            mf.t(),
            b,
        ));
    }
    v
}

/// Sylvester's `±1` matrix of order `p` (a power of two), entry `(i, j)`.
fn sylvester(i: usize, j: usize) -> f64 {
    if (i & j).count_ones().is_multiple_of(2) {
        1.0
    } else {
        -1.0
    }
}

#[test]
fn hadamard_base_matrices_are_hadamard() {
    for m in [1].into_iter().chain(HADAMARD_BASE_ORDERS) {
        let a = hadamard_base(m).unwrap();
        assert_eq!((a.rows(), a.cols()), (m, m));
        for i in 0..m {
            for j in 0..m {
                assert_eq!(a.get(i, j).abs(), 1.0, "A_{m}[{i}, {j}] = {}", a.get(i, j));
                // Integer arithmetic: exact.
                let dot: f64 = (0..m).map(|k| a.get(i, k) * a.get(j, k)).sum();
                let want = if i == j { m as f64 } else { 0.0 };
                assert_eq!(dot, want, "(A_{m}·A_{m}ᵀ)[{i}, {j}]");
                // Paley I (12, 20) is skew Hadamard (A + Aᵀ = 2I); Paley II (28) symmetric.
                let (x, y) = (a.get(i, j), a.get(j, i));
                match m {
                    12 | 20 if i != j => assert_eq!(x, -y, "A_{m} skew at ({i}, {j})"),
                    28 => assert_eq!(x, y, "A_28 symmetric at ({i}, {j})"),
                    _ => {}
                }
            }
        }
    }
    for m in [0, 2, 4, 8, 16, 24, 36] {
        match hadamard_base(m) {
            Err(Error::InvalidArgument(msg)) => {
                assert!(msg.contains(&m.to_string()) && msg.contains("12"), "{msg}")
            }
            other => panic!("hadamard_base({m}): expected InvalidArgument, got {other:?}"),
        }
    }
}

#[test]
fn hadamard_m_pow2_is_orthogonal_kronecker_with_pm_entries() {
    for (m, p) in [
        (12, 1),
        (12, 2),
        (20, 8),
        (28, 4),
        (12, 64),
        (20, 16),
        (28, 32),
    ] {
        let n = m * p;
        let h = Hadamard::new(n).unwrap();
        assert_eq!((h.base_order(), h.len(), h.padded_len()), (m, n, n));
        assert_eq!(h.shape(), (n, n));
        let d = h.to_dense();
        let a = hadamard_base(m).unwrap();
        let s = 1.0 / (n as f64).sqrt();
        // Equals (A_m ⊗ S_p)/√n, built here from its definition; entries ±1/√n.
        for i in 0..n {
            for j in 0..n {
                let want = a.get(i / p, j / p) * sylvester(i % p, j % p) * s;
                assert_eq!(d.get(i, j), want, "H_{n}[{i}, {j}]");
                assert!((d.get(i, j).abs() - s).abs() <= U64 * s);
            }
        }
        // Orthogonal: HᵀH = I within n·u per entry.
        let dm = Mat::from_fn(n, n, |i, j| d.get(i, j));
        let hth = dm.transpose() * &dm;
        for i in 0..n {
            for j in 0..n {
                let want = if i == j { 1.0 } else { 0.0 };
                assert!(
                    (hth[(i, j)] - want).abs() <= n as f64 * U64,
                    "n = {n}: (HᵀH)[{i}, {j}] = {}",
                    hth[(i, j)]
                );
            }
        }
        // is_symmetric tells the truth (the planner drops transposes of symmetric leaves).
        let sym = (0..n).all(|i| (0..n).all(|j| d.get(i, j) == d.get(j, i)));
        assert_eq!(h.is_symmetric(), sym, "n = {n}");
        assert_eq!(sym, m == 28, "n = {n}");
    }
}

#[test]
fn hadamard_rejects_other_lengths() {
    assert!(matches!(
        Hadamard::new(0),
        Err(Error::EmptyDimension { .. })
    ));
    for n in [3, 6, 36, 44, 60, 12 * 3, 20 * 5, 28 * 9, 52, 1000] {
        match Hadamard::new(n) {
            Err(Error::InvalidArgument(msg)) => assert!(
                msg.contains(&n.to_string())
                    && msg.contains("12·2^k")
                    && msg.contains("28·2^k")
                    && msg.contains(&n.next_power_of_two().to_string()),
                "{msg}"
            ),
            other => panic!("Hadamard::new({n}): expected InvalidArgument, got {other:?}"),
        }
    }
    // The same constructor through the Op facade.
    assert!(matches!(Op::hadamard(44), Err(Error::InvalidArgument(_))));
    assert_eq!(Op::hadamard(32).unwrap().shape(), (32, 32));
    assert_eq!(Op::hadamard(40).unwrap().shape(), (40, 40));
}

/// `H_n·x` on every backend for `n = m·2^k` equals the Kronecker definition, and `H_nᵀ·H_n·x = x`.
#[test]
fn hadamard_m_pow2_applies_and_inverts_on_every_backend() {
    let mut engines = vec![("cpu", crate::support::cpu_engine())];
    match gpu_engines() {
        Some((g, _)) => engines.push(("gpu", g)),
        None => {
            report("families::hadamard_m_pow2_applies_and_inverts_on_every_backend: GPU SKIPPED")
        }
    }
    for n in [12 * 256, 20 * 128, 28 * 64] {
        let h = Op::hadamard(n).unwrap();
        let x = Rng::new(n as u64).mat(n, 3);
        let round = Op::product(vec![h.t(), h.clone()]).unwrap();
        for (name, e) in &engines {
            let y = e.apply(&round, to_f32(x.as_ref()).as_ref()).unwrap();
            let y = Mat::from_fn(n, 3, |i, j| f64::from(y[(i, j)]));
            let (err, at) = max_err(y.as_ref(), x.as_ref());
            // Two transforms, each a GEMM of length m and log₂(n/m) butterfly stages plus
            // scalings, on entries ≤ 1: ‖·‖∞ error ≤ 2·(m + log₂n + 4)·u₃₂·√n·max|x| (the
            // 2-norm of a row of |H| is 1, of |H|·|x| at most √n·max|x|).
            let m = Hadamard::new(n).unwrap().base_order() as f64;
            let bound = 2.0 * (m + (n as f64).log2() + 4.0) * U32 * (n as f64).sqrt();
            assert!(
                err <= bound,
                "{name}: Hᵀ·H·x − x for n = {n}: {err:e} at {at:?} over {bound:e}"
            );
        }
    }
}

/// The GPU DCT (and DCT-III) of lengths the FFT path does not take, past the old limits
/// (non-powers of two and 4096 > 2048), under the project's GPU tolerance rule.
#[test]
fn gpu_dct_takes_every_length_the_cpu_takes() {
    let Some((trusted, checked)) = gpu_engines() else {
        report("families::gpu_dct_takes_every_length_the_cpu_takes: GPU SKIPPED");
        return;
    };
    let cpu = crate::support::cpu_engine();
    for (n, b) in [(1, 2), (7, 3), (96, 5), (1023, 2), (3001, 1), (4096, 1)] {
        assert!(linops_gpu::kernels::dct::dct_supported(n));
        let c = Op::leaf(Dct::new(n).unwrap());
        for (label, op) in [("dct-ii", c.clone()), ("dct-iii", c.t())] {
            let x = Rng::new(0xDC7 + n as u64).mat(n, b);
            let x32 = to_f32(x.as_ref());
            let y64 = cpu.apply(&op, x.as_ref()).unwrap();
            let y32 = cpu.apply(&op, x32.as_ref()).unwrap();
            let (err_cpu, _) = max_err(y32.as_ref(), y64.as_ref());
            let yg = trusted
                .apply(&op, x32.as_ref())
                .unwrap_or_else(|e| panic!("{label} {n}: gpu: {e}"));
            let (err_gpu, at) = max_err(yg.as_ref(), y64.as_ref());
            // |C|·|x|: ≤ √(2/n)·Σ|x_j| per entry; its max is the rule's magnitude.
            let col_sum = (0..b)
                .map(|j| (0..n).map(|i| x[(i, j)].abs()).sum::<f64>())
                .fold(0.0, f64::max);
            let scale = (2.0 / n as f64).sqrt() * col_sum;
            let bound = 2.0 * err_cpu + U32 * scale;
            assert!(
                err_gpu <= bound,
                "{label} n = {n}: gpu error {err_gpu:e} at {at:?} over 2·cpu-f32 {err_cpu:e} + u·{scale:e} = {bound:e}"
            );
            let yc = checked.apply(&op, x32.as_ref()).unwrap();
            for j in 0..b {
                for i in 0..n {
                    assert_eq!(
                        yc[(i, j)].to_bits(),
                        yg[(i, j)].to_bits(),
                        "{label} n = {n}: checked and trusted shaders differ at ({i}, {j})"
                    );
                }
            }
            report(&format!(
                "families: gpu {label} n = {n}: error {err_gpu:.2e} (cpu f32 {err_cpu:.2e}, bound {bound:.2e})"
            ));
        }
    }
}

fn frob_diff(a: &HostMat, b: &HostMat) -> f64 {
    a.data()
        .iter()
        .zip(b.data())
        .map(|(x, y)| (x - y).powi(2))
        .sum::<f64>()
        .sqrt()
}

/// The dense product `P_out·L·P_mid·R` from the definition (block matrices and perfect shuffles
/// written out here), for a rectangular Monarch.
fn monarch_by_definition(m: &Monarch) -> HostMat {
    let (l, r) = (m.l(), m.r());
    let (b1, b2) = (r.num_blocks(), l.num_blocks());
    let (s, p) = (l.block_shape().0, r.block_shape().1);
    let (rows, cols, mid) = (b2 * s, b1 * p, b1 * b2);
    // R·x: block t maps x[t·p..] to mid[t·b2..]; P_mid: mid index t·b2 + l → l·b1 + t;
    // L: block l maps [l·b1..] to [l·s..]; P_out: l·s + σ → σ·b2 + l.
    let rb: Vec<HostMat> = (0..b1).map(|t| r.block(t).unwrap()).collect();
    let lb: Vec<HostMat> = (0..b2).map(|t| l.block(t).unwrap()).collect();
    let r_dense = HostMat::from_fn(mid, cols, |i, j| {
        if i / b2 == j / p {
            rb[i / b2].get(i % b2, j % p)
        } else {
            0.0
        }
    });
    let l_dense = HostMat::from_fn(b2 * s, mid, |i, j| {
        if i / s == j / b1 {
            lb[i / s].get(i % s, j % b1)
        } else {
            0.0
        }
    });
    let p_mid = |i: usize, j: usize| (i == (j % b2) * b1 + j / b2) as u8 as f64;
    let p_out = |i: usize, j: usize| (i == (j % s) * b2 + j / s) as u8 as f64;
    let to = |h: &HostMat| Mat::from_fn(h.rows(), h.cols(), |i, j| h.get(i, j));
    let full = Mat::from_fn(rows, rows, p_out)
        * to(&l_dense)
        * Mat::from_fn(mid, mid, p_mid)
        * to(&r_dense);
    HostMat::from_fn(rows, cols, |i, j| full[(i, j)])
}

#[test]
fn rectangular_monarch_equals_its_dense_product() {
    let mut rng = Rng::new(0x40A);
    for (b1, b2, p, s) in [
        (8, 2, 3, 5),
        (2, 8, 6, 1),
        (16, 4, 1, 3),
        (3, 7, 2, 2),
        (4, 4, 4, 4),
    ] {
        let m = monarch_leaf(&mut rng, b1, b2, p, s);
        assert_eq!(m.shape(), (b2 * s, b1 * p));
        let want = monarch_by_definition(&m);
        let got = m.to_dense();
        let scale = max_abs(Mat::from_fn(want.rows(), want.cols(), |i, j| want.get(i, j)).as_ref());
        // Every entry is one product L·R (the permutations are exact): one rounding.
        let d = frob_diff(&got, &want);
        assert!(
            d <= 2.0 * U64 * scale * ((want.rows() * want.cols()) as f64).sqrt(),
            "b1={b1} b2={b2} p={p} s={s}: ‖to_dense − P·L·P·R‖ = {d:e}"
        );
    }
}

#[test]
fn rectangular_monarch_projection_recovers_and_beats_random_monarchs() {
    let mut rng = Rng::new(0x40B);
    for (b1, b2, p, s) in [(8, 2, 3, 5), (2, 8, 6, 1), (16, 4, 1, 3), (3, 7, 2, 2)] {
        // A Monarch matrix projects to itself (to rounding).
        let m0 = monarch_leaf(&mut rng, b1, b2, p, s).to_dense();
        let back = Monarch::project(&m0, b2, b1).unwrap();
        assert_eq!(back.shape(), (m0.rows(), m0.cols()));
        let norm = frob_diff(&m0, &HostMat::zeros(m0.rows(), m0.cols()));
        let err = frob_diff(&back.to_dense(), &m0);
        assert!(err <= 1e-12 * norm, "b1={b1} b2={b2} p={p} s={s}: {err:e}");
        // A dense matrix: the projection is no worse than the best multiple of any random
        // Monarch of the same structure.
        let a = HostMat::new(m0.rows(), m0.cols(), rng.vec(m0.rows() * m0.cols())).unwrap();
        let proj_err = frob_diff(&Monarch::project(&a, b2, b1).unwrap().to_dense(), &a);
        for trial in 0..20 {
            let r = monarch_leaf(&mut rng, b1, b2, p, s).to_dense();
            let rr: f64 = r.data().iter().map(|v| v * v).sum();
            let ra: f64 = r.data().iter().zip(a.data()).map(|(x, y)| x * y).sum();
            let c = ra / rr;
            let scaled = HostMat::from_fn(r.rows(), r.cols(), |i, j| c * r.get(i, j));
            let rand_err = frob_diff(&scaled, &a);
            assert!(
                proj_err <= rand_err * (1.0 + 1e-10),
                "b1={b1} b2={b2} p={p} s={s} trial {trial}: projection error {proj_err:e} > random Monarch's {rand_err:e}"
            );
        }
    }
}
