//! Sparse sign sketches (CountSketch, OSNAP-like), the very sparse projection and the SRHT:
//! market cases, apply = dense·X on both CPU SpMM paths, CPU/GPU bit identity of the sketch,
//! column structure, subspace embedding bounds from the second moment, SRHT orthogonality and bad
//! input.
//!
//! Subspace-embedding bound used (all families): for `Q` (`m×k`, orthonormal columns) and
//! `M = QᵀSᵀSQ − I`, with independent columns of unit norm (sparse sign, any `s`: `⟨S_i, S_j⟩` has
//! mean 0 and second moment `1/d`) `E‖M‖_F² ≤ (k² + k)/d`; with i.i.d. entries of variance `1/d`
//! and kurtosis `κ` (very sparse: `κ = 1/ρ`) `E‖M‖_F² = ((k² + k) + (κ − 3)·Σ_j‖Q_j,:‖⁴)/d`. By
//! Markov, `‖M‖_2 ≤ ‖M‖_F < ε = √(E‖M‖_F²/δ)` with probability `≥ 1 − δ` (the CountSketch
//! `d ≳ k²/(ε²δ)` of Clarkson–Woodruff / Nelson–Nguyễn), so the squared singular values of `S·Q`
//! lie in `1 ± ε`. We take `δ = 0.1` at a fixed seed.

use crate::support::{Rng, gpu_engines, report};
use faer::Mat;
use linops::{Engine, Op};
use linops_core::op::{Csr, SparseSign, Srht, VerySparseProjection};
use linops_core::rng::RngState;
use linops_core::{Error, LeafOp};
use std::sync::Arc;

/// Market cases `(name, op, batch)`: each family, both orientations, awkward shapes; plus a short,
/// wide general CSR (the CPU wide path) — appended to the differential market.
pub(crate) fn market_cases() -> Vec<(String, Op, usize)> {
    let mut v = Vec::new();
    for (i, (d, m, s, b)) in [
        (1usize, 1usize, 1usize, 1usize),
        (3, 257, 1, 5),
        (17, 1000, 8, 3),
        (16, 300, 3, 37),
        (40, 33, 2, 2),
    ]
    .into_iter()
    .enumerate()
    {
        let st = RngState::new(0x5A5E_0000 + i as u64);
        let ss = Op::leaf(SparseSign::new(d, m, s, st).unwrap());
        v.push((format!("sparse sign s={s} {d}x{m}"), ss.clone(), b));
        v.push((format!("sparse sign^T s={s} {d}x{m}"), ss.t(), b));
        let vs = Op::leaf(VerySparseProjection::new(d, m, st).unwrap());
        v.push((format!("very sparse {d}x{m}"), vs.clone(), b));
        v.push((format!("very sparse^T {d}x{m}"), vs.t(), b));
        if d <= m.next_power_of_two() {
            let sr = Op::leaf(Srht::new(d, m, st).unwrap());
            v.push((format!("srht {d}x{m}"), sr.clone(), b));
            v.push((format!("srht^T {d}x{m}"), sr.t(), b));
        }
    }
    let mut rng = Rng::new(0xC5C5);
    let trip: Vec<_> = (0..900)
        .map(|_| (rng.below(5), rng.below(300), rng.uniform() - 0.5))
        .collect();
    let wide = Op::leaf(Csr::from_triplets(5, 300, &trip).unwrap());
    v.push(("csr wide 5x300".into(), wide.scaled(0.75).unwrap(), 19));
    v
}

fn families(d: usize, m: usize, seed: u64) -> Vec<(String, Arc<dyn LeafOp>)> {
    let st = RngState::new(seed);
    vec![
        (
            "countsketch".into(),
            Arc::new(SparseSign::new(d, m, 1, st).unwrap()) as Arc<dyn LeafOp>,
        ),
        (
            "sparse sign s=8".into(),
            Arc::new(SparseSign::new(d, m, 8.min(d), st).unwrap()),
        ),
        (
            "very sparse".into(),
            Arc::new(VerySparseProjection::new(d, m, st).unwrap()),
        ),
        ("srht".into(), Arc::new(Srht::new(d, m, st).unwrap())),
    ]
}

/// `S·X` and `Sᵀ·Y` on the CPU (f64 and f32) equal the dense products; the short, wide `S·X`
/// takes the CPU wide path (batches 1, 16 and 37 cover a partial, a full and several panels), `Sᵀ`
/// the row-wise gather.
#[test]
fn apply_equals_dense_on_cpu() {
    let cpu = crate::support::cpu_engine();
    let (d, m) = (24, 700);
    let mut rng = Rng::new(0xA11);
    for (name, leaf) in families(d, m, 77) {
        let dense = leaf.to_dense();
        let sd = Mat::<f64>::from_fn(d, m, |i, j| dense.get(i, j));
        let op = Op::Leaf(leaf);
        for b in [1, 16, 37] {
            let x = rng.mat(m, b);
            let y = rng.mat(d, b);
            let want = &sd * &x;
            let want_t = sd.transpose() * &y;
            let got = cpu.apply(&op, x.as_ref()).unwrap();
            let got_t = cpu.apply(&op.t(), y.as_ref()).unwrap();
            let x32 = Mat::<f32>::from_fn(m, b, |i, j| x[(i, j)] as f32);
            let got32 = cpu.apply(&op, x32.as_ref()).unwrap();
            let mag = |a: &Mat<f64>| {
                a.col_iter()
                    .flat_map(|c| c.iter().copied())
                    .fold(0.0, |s: f64, v| s.max(v.abs()))
            };
            let scale = mag(&want).max(1.0) * m as f64;
            for j in 0..b {
                for i in 0..d {
                    let e = (got[(i, j)] - want[(i, j)]).abs();
                    assert!(e <= 1e-13 * scale, "{name} S·X b={b} ({i},{j}): {e}");
                    let e32 = (f64::from(got32[(i, j)]) - want[(i, j)]).abs();
                    assert!(e32 <= 1e-5 * scale, "{name} f32 S·X b={b} ({i},{j}): {e32}");
                }
                for i in 0..m {
                    let e = (got_t[(i, j)] - want_t[(i, j)]).abs();
                    assert!(e <= 1e-13 * scale, "{name} Sᵀ·Y b={b} ({i},{j}): {e}");
                }
            }
        }
    }
}

/// The same seed gives the same sketch on the CPU and the GPU, bit for bit in f32: `S` and `Sᵀ`
/// materialized by applying them to identities; the CPU f32 `S` also equals `to_dense()` rounded
/// to f32 (the sparse families: one nonzero times the f32 scale).
#[test]
fn same_seed_same_sketch_cpu_gpu() {
    let (d, m) = (16, 300);
    let cpu = crate::support::cpu_engine();
    let gpu = gpu_engines();
    let eye = Mat::<f32>::identity(m, m);
    let eye_d = Mat::<f32>::identity(d, d);
    for (name, leaf) in families(d, m, 4242) {
        let dense = leaf.to_dense();
        let op = Op::Leaf(leaf);
        let s32 = cpu.apply(&op, eye.as_ref()).unwrap();
        let st32 = cpu.apply(&op.t(), eye_d.as_ref()).unwrap();
        for j in 0..m {
            for i in 0..d {
                let want = dense.get(i, j);
                for (got, what) in [(s32[(i, j)], "S"), (st32[(j, i)], "Sᵀ")] {
                    let e = (f64::from(got) - want).abs();
                    assert!(
                        e <= 2.0 * f64::from(f32::EPSILON) * want.abs(),
                        "{name} cpu {what} ({i},{j}): {got} vs {want}"
                    );
                    if name != "srht" {
                        assert_eq!(got, want as f32, "{name} cpu {what} ({i},{j})");
                    }
                }
            }
        }
        let Some((trusted, checked)) = &gpu else {
            continue;
        };
        for e in [trusted, checked] {
            let sg = e.apply(&op, eye.as_ref()).unwrap();
            let stg = e.apply(&op.t(), eye_d.as_ref()).unwrap();
            for j in 0..m {
                for i in 0..d {
                    assert_eq!(
                        sg[(i, j)].to_bits(),
                        s32[(i, j)].to_bits(),
                        "{name} gpu S ({i},{j})"
                    );
                    assert_eq!(
                        stg[(j, i)].to_bits(),
                        st32[(j, i)].to_bits(),
                        "{name} gpu Sᵀ ({j},{i})"
                    );
                }
            }
        }
    }
}

/// Exactly `s` nonzeros per column, each `±1/√s`, matching [`SparseSign::column`]; the signs and
/// row counts are balanced within 5σ of their binomial laws; the very sparse projection's number
/// of nonzeros and signs likewise.
#[test]
fn column_structure_and_balance() {
    let (d, m) = (32, 4000);
    for s in [1, 3, 8, 32] {
        let sk = SparseSign::new(d, m, s, RngState::new(900 + s as u64)).unwrap();
        let dense = sk.to_dense();
        let mag = 1.0 / (s as f64).sqrt();
        let (mut plus, mut row_count) = (0usize, vec![0usize; d]);
        for j in 0..m {
            let nz: Vec<usize> = (0..d).filter(|&i| dense.get(i, j) != 0.0).collect();
            assert_eq!(nz.len(), s, "s={s} column {j}");
            for &i in &nz {
                assert_eq!(dense.get(i, j).abs(), mag, "s={s} ({i},{j})");
                plus += usize::from(dense.get(i, j) > 0.0);
                row_count[i] += 1;
            }
            let mut col = sk.column(j).unwrap();
            col.sort_by_key(|e| e.0);
            assert_eq!(col.iter().map(|e| e.0).collect::<Vec<_>>(), nz);
            for (i, v) in col {
                assert_eq!(v * mag, dense.get(i, j));
            }
        }
        let n = (s * m) as f64;
        assert!(
            (plus as f64 - n / 2.0).abs() <= 5.0 * (n / 4.0).sqrt(),
            "s={s}: {plus} of {n} positive"
        );
        if s < d {
            let p = s as f64 / d as f64;
            let (mu, sd) = (m as f64 * p, (m as f64 * p * (1.0 - p)).sqrt());
            for (i, c) in row_count.iter().enumerate() {
                assert!(
                    (*c as f64 - mu).abs() <= 5.0 * sd,
                    "s={s} row {i}: {c} vs {mu}±{sd}"
                );
            }
        }
    }
    let vs = VerySparseProjection::new(d, m, RngState::new(31)).unwrap();
    let dense = vs.to_dense();
    let (mut nnz, mut plus) = (0usize, 0usize);
    for j in 0..m {
        for i in 0..d {
            let v = dense.get(i, j);
            if v != 0.0 {
                assert_eq!(v.abs(), vs.scale());
                nnz += 1;
                plus += usize::from(v > 0.0);
            }
        }
    }
    assert_eq!(nnz, vs.nnz());
    let (n, p) = ((d * m) as f64, vs.density());
    assert!(
        (nnz as f64 - n * p).abs() <= 5.0 * (n * p * (1.0 - p)).sqrt(),
        "nnz {nnz}"
    );
    assert!((plus as f64 - nnz as f64 / 2.0).abs() <= 5.0 * (nnz as f64 / 4.0).sqrt());
    assert!((vs.scale() - (1.0 / (p * d as f64)).sqrt()).abs() < 1e-15);
}

fn orthonormal(m: usize, k: usize, seed: u64) -> Mat<f64> {
    let mut q = Rng::new(seed).mat(m, k);
    for _ in 0..2 {
        for j in 0..k {
            for p in 0..j {
                let dot: f64 = (0..m).map(|i| q[(i, p)] * q[(i, j)]).sum();
                for i in 0..m {
                    q[(i, j)] -= dot * q[(i, p)];
                }
            }
            let nrm = (0..m).map(|i| q[(i, j)].powi(2)).sum::<f64>().sqrt();
            for i in 0..m {
                q[(i, j)] /= nrm;
            }
        }
    }
    q
}

/// Subspace embedding at a fixed seed with the Markov bound of the module docs (δ = 0.1), on the
/// CPU in f64 (and the GPU in f32 when present): `‖QᵀSᵀSQ − I‖_F < ε`.
#[test]
fn subspace_embedding_second_moment() {
    let (m, k, d, delta) = (8192usize, 3usize, 1024usize, 0.1f64);
    let q = orthonormal(m, k, 0x5B5E_0002);
    let row4: f64 = (0..m)
        .map(|i| (0..k).map(|a| q[(i, a)].powi(2)).sum::<f64>().powi(2))
        .sum();
    let base = (k * k + k) as f64 / d as f64;
    let st = RngState::new(2026);
    let vs = VerySparseProjection::new(d, m, st).unwrap();
    let kappa = 1.0 / vs.density();
    let cases: Vec<(&str, Op, f64)> = vec![
        (
            "countsketch",
            Op::leaf(SparseSign::new(d, m, 1, st).unwrap()),
            base,
        ),
        (
            "sparse sign s=8",
            Op::leaf(SparseSign::new(d, m, 8, st).unwrap()),
            base,
        ),
        (
            "very sparse",
            Op::leaf(vs),
            base + (kappa - 3.0f64).max(0.0) * row4 / d as f64,
        ),
    ];
    let gpu = gpu_engines();
    for (name, op, second) in cases {
        let eps = (second / delta).sqrt();
        let mut results = vec![("cpu-f64", Engine::cpu().apply(&op, q.as_ref()).unwrap())];
        if let Some((g, _)) = &gpu {
            let q32 = Mat::<f32>::from_fn(m, k, |i, j| q[(i, j)] as f32);
            let y = g.apply(&op, q32.as_ref()).unwrap();
            results.push(("gpu-f32", Mat::from_fn(d, k, |i, j| f64::from(y[(i, j)]))));
        }
        for (be, sq) in results {
            let g = sq.transpose() * &sq;
            let fro = (0..k)
                .flat_map(|a| (0..k).map(move |b| (a, b)))
                .map(|(a, b)| (g[(a, b)] - f64::from(u8::from(a == b))).powi(2))
                .sum::<f64>()
                .sqrt();
            report(&format!(
                "subspace embedding {name} ({be}): ‖QᵀSᵀSQ − I‖_F = {fro:.4}, bound ε = {eps:.4}"
            ));
            assert!(fro < eps, "{name} {be}: {fro} ≥ {eps}");
        }
    }
}

/// SRHT with `d = m'` keeps every row: `SᵀS = I_m` (any `m`), and for a power-of-two `m` also
/// `SSᵀ = I` (orthogonal). With `d < m'`, `E[SᵀS] = I`: the diagonal of `SᵀS` is exactly 1
/// (`|S(r, j)| = 1/√d`).
#[test]
fn srht_orthogonality() {
    let cpu = crate::support::cpu_engine();
    for (d, m) in [(512, 300), (256, 256), (64, 200)] {
        let s = Srht::new(d, m, RngState::new(d as u64 + m as u64)).unwrap();
        let n_pad = s.padded_len();
        let op = Op::leaf(s);
        let sd = cpu.apply(&op, Mat::<f64>::identity(m, m).as_ref()).unwrap();
        let sts = sd.transpose() * &sd;
        for i in 0..m {
            assert!((sts[(i, i)] - 1.0).abs() < 1e-12, "d={d} m={m} diag {i}");
            if d == n_pad {
                for j in 0..m {
                    if i != j {
                        assert!(sts[(i, j)].abs() < 1e-12, "d={d} m={m} ({i},{j})");
                    }
                }
            }
        }
        if d == m {
            let sst = &sd * sd.transpose();
            for i in 0..d {
                for j in 0..d {
                    let want = f64::from(u8::from(i == j));
                    assert!((sst[(i, j)] - want).abs() < 1e-12, "SSᵀ ({i},{j})");
                }
            }
        }
        // Sᵀ·(S·x) = x when every row is kept.
        if d == n_pad {
            let x = Rng::new(5).mat(m, 3);
            let back = cpu
                .apply(&op.t(), cpu.apply(&op, x.as_ref()).unwrap().as_ref())
                .unwrap();
            for j in 0..3 {
                for i in 0..m {
                    assert!((back[(i, j)] - x[(i, j)]).abs() < 1e-12);
                }
            }
        }
    }
}

/// Bad parameters are typed errors; sizes past the index limit are refused before any drawing.
#[test]
fn bad_input_is_typed() {
    let st = RngState::new(1);
    let inv = |r: linops_core::Result<SparseSign>| matches!(r, Err(Error::InvalidArgument(_)));
    assert!(inv(SparseSign::new(8, 10, 0, st)));
    assert!(inv(SparseSign::new(8, 10, 9, st)));
    assert!(matches!(
        SparseSign::new(0, 10, 1, st),
        Err(Error::EmptyDimension { .. })
    ));
    assert!(matches!(
        SparseSign::new(8, 0, 1, st),
        Err(Error::EmptyDimension { .. })
    ));
    // Indices are u32: sizes and nonzero counts past u32::MAX are refused before drawing.
    #[cfg(target_pointer_width = "64")]
    assert!(matches!(
        SparseSign::new(4, 1 << 31, 4, st),
        Err(Error::DeviceLimit { .. })
    ));
    #[cfg(target_pointer_width = "64")]
    assert!(matches!(
        SparseSign::new(1 << 32, 4, 1, st),
        Err(Error::DeviceLimit { .. })
    ));
    for rho in [0.0, -0.5, 1.5, f64::NAN, f64::INFINITY, 1e-12] {
        assert!(
            matches!(
                VerySparseProjection::with_density(4, 4, rho, st),
                Err(Error::InvalidArgument(_))
            ),
            "density {rho}"
        );
    }
    assert!(matches!(
        VerySparseProjection::new(0, 4, st),
        Err(Error::EmptyDimension { .. })
    ));
    #[cfg(target_pointer_width = "64")]
    assert!(matches!(
        VerySparseProjection::new(4, 1 << 32, st),
        Err(Error::DeviceLimit { .. })
    ));
    assert!(matches!(
        Srht::new(9, 5, st),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        Srht::new(0, 5, st),
        Err(Error::EmptyDimension { .. })
    ));
    // The m'-entry inverse map is built from the sizes alone: m' ≤ MAX_GENERATED_ENTRIES.
    #[cfg(target_pointer_width = "64")]
    assert!(matches!(
        Srht::new(4, (1 << 32) + 1, st),
        Err(Error::DeviceLimit { .. })
    ));
    // A wrong input shape is a typed error on every backend.
    let op = Op::leaf(SparseSign::new(4, 10, 2, st).unwrap());
    let x = Mat::<f64>::zeros(9, 2);
    assert!(Engine::cpu().apply(&op, x.as_ref()).is_err());
    if let Some((g, _)) = gpu_engines() {
        let x32 = Mat::<f32>::zeros(9, 2);
        assert!(g.apply(&op, x32.as_ref()).is_err());
        assert!(
            g.apply(&Op::leaf(Srht::new(4, 10, st).unwrap()).t(), x32.as_ref())
                .is_err()
        );
    }
}
