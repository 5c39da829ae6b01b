//! The one-pass kernels of issue 16 item 2 against their definitions and their byte budgets:
//! the Walsh–Hadamard transform of length `m·2^k` (`fwht_base`).
//!
//! Bounds:
//! - `fwht_base`, componentwise: output `i` is the transform of each block (a balanced tree of
//!   depth `log₂p`), then a sequential `±` sum over the `m` blocks (`m − 1` additions), then one
//!   multiplication by a rounded `alpha/√n`, so `|ŷ_i − y_i| ≤ γ(log₂p + m + 2)·(|H|·|x|)_i`
//!   with `γ(k) = k·u/(1 − k·u)`; the f64 reference (a length-`n` sum) adds `n·u₆₄·(|H|·|x|)_i`.
//! - The GPU runs the same operations in the same order as the CPU in f32 (the stage order of
//!   every FWHT path, the block order `0, 1, …, m−1` of the mix, multiplications by `±1` only),
//!   so with `beta = 0` its result is bit-identical to the CPU's f32 result.
//! - Applied to the identity, every output entry is one `±1` times the rounded `1/√n`: exactly
//!   `to_dense()` (f64) and exactly `to_dense()` rounded to f32 (f32).

use crate::support::{Rng, gpu_engines, report, to_f32};
use faer::{Mat, MatRef};
use linops::op::{Hadamard, hadamard_base};
use linops::{DType, Error, Kernel, LeafOp, Op, Plan};

const U32: f64 = 1.0 / 16_777_216.0;
const U64: f64 = f64::EPSILON / 2.0;

fn gamma(k: f64, u: f64) -> f64 {
    k * u / (1.0 - k * u)
}

/// `H_n[i, j] = A_m[i / p, j / p]·(−1)^{popcount((i mod p) & (j mod p))}/√n`, written out here
/// from the definition (not through `to_dense`).
fn h_entry(a: &linops::HostMat, p: usize, i: usize, j: usize) -> f64 {
    let s = if ((i % p) & (j % p)).count_ones().is_multiple_of(2) {
        1.0
    } else {
        -1.0
    };
    a.get(i / p, j / p) * s / ((a.rows() * p) as f64).sqrt()
}

/// Checks `y ≈ scale·op(H)·x` on `rows` within the componentwise bound (see the module docs).
#[allow(clippy::too_many_arguments)]
fn check_rows(
    what: &str,
    m: usize,
    p: usize,
    trans: bool,
    scale: f64,
    y: MatRef<'_, f64>,
    x: MatRef<'_, f64>,
    u: f64,
    rows: &[usize],
) {
    let a = hadamard_base(m).unwrap();
    let n = m * p;
    let k = (p.trailing_zeros() as usize + m + 2) as f64;
    for j in 0..x.ncols() {
        for &i in rows {
            let (mut want, mut mag) = (0.0, 0.0);
            for c in 0..n {
                let h = if trans {
                    h_entry(&a, p, c, i)
                } else {
                    h_entry(&a, p, i, c)
                };
                want += scale * h * x[(c, j)];
                mag += (scale * h * x[(c, j)]).abs();
            }
            let bound = gamma(k, u) * mag + n as f64 * U64 * mag;
            let err = (y[(i, j)] - want).abs();
            assert!(
                err <= bound && !err.is_nan(),
                "{what}: y[{i}, {j}] = {} against {want}: error {err:e} over the bound {bound:e} \
                 (n = {n} = {m}·{p}, trans = {trans})",
                y[(i, j)]
            );
        }
    }
}

fn widen(m: MatRef<'_, f32>) -> Mat<f64> {
    Mat::from_fn(m.nrows(), m.ncols(), |i, j| f64::from(m[(i, j)]))
}

/// `H_n`, `H_nᵀ` and `−0.5·H_nᵀ + D` for `n = m·2^k` (one-pass lengths, the suite's lengths
/// 3072, 2560 and 3584, and 12·1024 = 12288, past every adapter's workgroup buffer, so the GPU's
/// long path runs) on cpu f64, cpu f32 and the GPU, against the definition on sampled rows; the
/// GPU bit-identical to cpu f32 without accumulation.
#[test]
fn hadamard_m_pow2_one_pass_matches_the_definition_on_every_backend() {
    let gpu = gpu_engines();
    if gpu.is_none() {
        report("one_pass::hadamard_m_pow2_one_pass_matches_the_definition GPU SKIPPED");
    }
    let cpu = crate::support::cpu_engine();
    for (m, p, batch) in [
        (12, 1, 3),
        (20, 2, 1),
        (28, 4, 5),
        (12, 16, 2),
        (12, 256, 2),
        (20, 128, 2),
        (28, 128, 3),
        (12, 1024, 2),
    ] {
        let n = m * p;
        let h = Op::leaf(Hadamard::new(n).unwrap());
        let mut rng = Rng::new(0xF00D + n as u64);
        let x = rng.mat(n, batch);
        let x32 = to_f32(x.as_ref());
        let rows: Vec<usize> = if n <= 256 {
            (0..n).collect()
        } else {
            (0..48).map(|_| rng.below(n)).chain([0, n - 1]).collect()
        };
        for (trans, scale) in [(false, 1.0), (true, -0.5)] {
            let op = if trans {
                h.t().scaled(scale).unwrap()
            } else {
                h.clone()
            };
            let plan = Plan::new(&op, n, batch, DType::F32).unwrap();
            assert!(
                plan.steps().len() == 1 && matches!(plan.steps()[0].kernel, Kernel::FwhtBase(_)),
                "n = {n}: expected one fwht_base step:\n{}",
                plan.explain()
            );
            let what = format!("{} n = {n}", op.describe());
            let y64 = cpu.apply(&op, x.as_ref()).unwrap();
            check_rows(
                &format!("{what} cpu f64"),
                m,
                p,
                trans,
                scale,
                y64.as_ref(),
                x.as_ref(),
                U64,
                &rows,
            );
            let y32 = cpu.apply(&op, x32.as_ref()).unwrap();
            check_rows(
                &format!("{what} cpu f32"),
                m,
                p,
                trans,
                scale,
                widen(y32.as_ref()).as_ref(),
                x.as_ref(),
                U32,
                &rows,
            );
            if let Some((g, checked)) = &gpu {
                let yg = g.apply(&op, x32.as_ref()).unwrap();
                let yc = checked.apply(&op, x32.as_ref()).unwrap();
                for j in 0..batch {
                    for i in 0..n {
                        assert_eq!(
                            yg[(i, j)].to_bits(),
                            y32[(i, j)].to_bits(),
                            "{what}: gpu {} against cpu f32 {} at ({i}, {j})",
                            yg[(i, j)],
                            y32[(i, j)]
                        );
                        assert_eq!(
                            yc[(i, j)].to_bits(),
                            yg[(i, j)].to_bits(),
                            "{what}: checked"
                        );
                    }
                }
            }
        }
        // Accumulation (beta = 1 in a sum with a diagonal): within the bound plus the diagonal's
        // one addition (u·|D x| on top; |D x| ≤ |x| ≤ 1 ≤ the bound's magnitude scale).
        let d = rng.diag_op(n);
        let sum = Op::sum(vec![h.t().scaled(-0.5).unwrap(), d.clone()]).unwrap();
        let y = cpu.apply(&sum, x.as_ref()).unwrap();
        let dx = cpu.apply(&d, x.as_ref()).unwrap();
        let hx = Mat::from_fn(n, batch, |i, j| y[(i, j)] - dx[(i, j)]);
        check_rows(
            &format!("sum −0.5·Hᵀ + D, n = {n}, cpu f64"),
            m,
            p,
            true,
            -0.5,
            hx.as_ref(),
            x.as_ref(),
            2.0 * U64,
            &rows,
        );
        if let Some((g, _)) = &gpu {
            let yg = g.apply(&sum, x32.as_ref()).unwrap();
            let y32 = cpu.apply(&sum, x32.as_ref()).unwrap();
            // The project's rule: GPU error ≤ 2·(CPU f32 error) + one f32 ulp of the scale.
            let (mut e32, mut eg) = (0.0f64, 0.0f64);
            for j in 0..batch {
                for i in 0..n {
                    e32 = e32.max((f64::from(y32[(i, j)]) - y[(i, j)]).abs());
                    eg = eg.max((f64::from(yg[(i, j)]) - y[(i, j)]).abs());
                }
            }
            let scale = (0..n).map(|i| y[(i, 0)].abs()).fold(0.0, f64::max);
            assert!(
                eg <= 2.0 * e32 + U32 * scale,
                "sum n = {n}: gpu {eg:e}, cpu f32 {e32:e}"
            );
        }
    }
}

/// Applied to the identity, the kernel gives `to_dense()` exactly (f64, and f32 against the
/// f32-rounded entries), and that matrix is orthogonal with entries `±1/√n`.
#[test]
fn hadamard_m_pow2_of_the_identity_is_its_dense_form() {
    let gpu = gpu_engines();
    if gpu.is_none() {
        report("one_pass::hadamard_m_pow2_of_the_identity_is_its_dense_form GPU SKIPPED");
    }
    let cpu = crate::support::cpu_engine();
    for n in [12, 40, 112, 192] {
        let leaf = Hadamard::new(n).unwrap();
        let dense = leaf.to_dense();
        let h = Op::leaf(leaf);
        let eye = Mat::<f64>::identity(n, n);
        for trans in [false, true] {
            let op = if trans { h.t() } else { h.clone() };
            let want = |i: usize, j: usize| {
                if trans {
                    dense.get(j, i)
                } else {
                    dense.get(i, j)
                }
            };
            let y = cpu.apply(&op, eye.as_ref()).unwrap();
            let y32 = cpu.apply(&op, to_f32(eye.as_ref()).as_ref()).unwrap();
            let yg = gpu
                .as_ref()
                .map(|(g, _)| g.apply(&op, to_f32(eye.as_ref()).as_ref()).unwrap());
            let s = 1.0 / (n as f64).sqrt();
            for j in 0..n {
                for i in 0..n {
                    assert_eq!(y[(i, j)], want(i, j), "n = {n} trans = {trans} ({i}, {j})");
                    assert_eq!(y[(i, j)].abs(), s, "n = {n}: ±1/√n at ({i}, {j})");
                    assert_eq!(y32[(i, j)], want(i, j) as f32, "f32 n = {n} ({i}, {j})");
                    if let Some(yg) = &yg {
                        assert_eq!(yg[(i, j)], want(i, j) as f32, "gpu n = {n} ({i}, {j})");
                    }
                }
            }
            // Orthogonal: YᵀY = I within n·u₆₄ per entry (a length-n dot of ±1/√n entries).
            let yty = y.transpose() * &y;
            for j in 0..n {
                for i in 0..n {
                    let e = if i == j { 1.0 } else { 0.0 };
                    assert!(
                        (yty[(i, j)] - e).abs() <= n as f64 * U64,
                        "n = {n}: (HᵀH)[{i}, {j}] = {}",
                        yty[(i, j)]
                    );
                }
            }
        }
    }
}

/// One pass: the plan of an `m·2^k` transform moves the operator's minimum (X once, Y once, the
/// `m×m` signs once) at the structured suite's lengths, in f32 and f64.
#[test]
fn hadamard_m_pow2_moves_its_minimum_bytes() {
    for (n, batch) in [
        (3072, 64),
        (2560, 1024),
        (3584, 64),
        (768, 1024),
        (12 * 1024, 3),
    ] {
        for dtype in [DType::F32, DType::F64] {
            let h = Op::leaf(Hadamard::new(n).unwrap());
            for op in [h.clone(), h.t()] {
                let plan = Plan::new(&op, n, batch, dtype).unwrap();
                let ratio = plan.bytes_ratio();
                assert!(
                    plan.steps().len() == 1 && ratio <= 1.0 + 1e-12,
                    "n = {n} batch {batch} {dtype}: bytes_ratio {ratio} over 1:\n{}",
                    plan.explain()
                );
            }
        }
    }
}

/// Bad shapes for the kernel are typed errors: the step's shape rule and the GPU entry point.
#[test]
fn fwht_base_rejects_bad_shapes() {
    use linops::plan::kernel::FwhtBase;
    let k = Kernel::from(FwhtBase {
        trans: false,
        alpha: 1.0,
        beta: 0.0,
    });
    for (a, x, out) in [
        ((12, 12), (36, 2), (36, 2)), // 36 = 12·3
        ((12, 11), (24, 2), (24, 2)), // A not square
        ((12, 12), (24, 2), (24, 3)), // columns differ
        ((12, 12), (24, 2), (48, 2)), // rows differ
    ] {
        match k.cost(&[a, x], out) {
            Err(Error::ShapeMismatch { context, .. }) => assert!(context.contains("fwht_base")),
            other => panic!("A {a:?}, X {x:?}, out {out:?}: expected ShapeMismatch, got {other:?}"),
        }
    }
    let Some(dev) = crate::support::test_device(false) else {
        report("one_pass::fwht_base_rejects_bad_shapes GPU half SKIPPED");
        return;
    };
    let a = dev.upload(12, 12, &[1.0; 144]).unwrap();
    let x = dev.upload(36, 1, &[0.0; 36]).unwrap();
    let y = dev.alloc(36, 1).unwrap();
    let mut enc = dev.encoder();
    assert!(matches!(
        enc.fwht_base(1.0, &a, false, &x, 0.0, &y),
        Err(Error::ShapeMismatch { .. })
    ));
    let x = dev.upload(24, 1, &[0.0; 24]).unwrap();
    assert!(matches!(
        enc.fwht_base(1.0, &a, false, &x, 0.0, &x),
        Err(Error::InvalidArgument(_))
    ));
}
