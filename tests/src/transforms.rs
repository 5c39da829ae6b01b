//! Fast transforms (orthonormal Walsh–Hadamard, DCT-II/III) against their definitions, on cpu f64,
//! cpu f32 and gpu f32 (trusted and checked shaders, bit-identical).
//!
//! References are computed in f64 straight from the definitions (`H[i, j] = ±1/√N` by the parity
//! of `popcount(i & j)`, `C[k, j] = s_k·cos(π(2j+1)k/2n)`), independently of the library's
//! `to_dense`; for long transforms on a sample of rows, so no dense matrix is ever formed.
//!
//! Error bounds (u the unit roundoff of the backend, γ(k) = k·u/(1 − k·u)):
//! - WHT, componentwise: each output is a ±-sum of the N inputs evaluated by a balanced tree of
//!   depth log₂N, then scaled once by a rounded `alpha/√N`, so
//!   `|ŷ_i − y_i| ≤ γ(log₂N + 2)·(|H|·|x|)_i`;
//! - DCT, normwise per column: an FFT with correctly rounded twiddles has
//!   `‖ŷ − y‖₂ ≤ L·η·‖x‖₂` with `η = u + γ(4)(√2 + u) ≈ 6.7u` and L the number of radix-2
//!   stages (Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd ed., Thm 24.2); the
//!   Makhoul permutation is exact and the rotation and scaling add one complex multiply and one
//!   scaling per entry, so we use `‖ŷ − y‖₂ ≤ 7·(L + 2)·u·‖x‖₂`, `L = ⌈log₂n⌉ + 1` (for a length
//!   that is not a power of two rustfft may go through Bluestein's FFT of length ≥ 2n − 1).
//!
//! The f64 reference itself carries the error of a plain length-`n` sum, `≤ n·u₆₄·(|op|·|x|)_i`,
//! which is added to every bound.

use crate::support::{Rng, gpu_engines, report, to_f32};
use faer::{Mat, MatRef};
use linops::op::{Dct, Hadamard};
use linops::{Error, Op};
use std::f64::consts::PI;

const U32: f64 = 1.0 / 16_777_216.0;
const U64: f64 = f64::EPSILON / 2.0;

fn gamma(k: f64, u: f64) -> f64 {
    k * u / (1.0 - k * u)
}

/// A transform given by its definition: the matrix entries and the error model.
#[derive(Clone, Copy, Debug)]
enum Def {
    /// `Pₒᵀ·H_N·Pᵢ` of shape `rows×cols` with `N = max(rows, cols)`.
    Wht { rows: usize, cols: usize },
    /// DCT-II of length n, or its transpose.
    Dct { n: usize, transposed: bool },
}

impl Def {
    fn shape(self) -> (usize, usize) {
        match self {
            Def::Wht { rows, cols } => (rows, cols),
            Def::Dct { n, .. } => (n, n),
        }
    }
    fn entry(self, i: usize, j: usize) -> f64 {
        match self {
            Def::Wht { rows, cols } => {
                let s = 1.0 / (rows.max(cols) as f64).sqrt();
                if (i & j).count_ones().is_multiple_of(2) {
                    s
                } else {
                    -s
                }
            }
            Def::Dct { n, transposed } => {
                let (k, j) = if transposed { (j, i) } else { (i, j) };
                let nf = n as f64;
                let s = if k == 0 {
                    (1.0 / nf).sqrt()
                } else {
                    (2.0 / nf).sqrt()
                };
                s * (PI * (2 * j + 1) as f64 * k as f64 / (2.0 * nf)).cos()
            }
        }
    }
    fn op(self) -> Op {
        match self {
            Def::Wht { rows, cols } if rows == cols => Op::leaf(Hadamard::new(rows).unwrap()),
            Def::Wht { rows, cols } if rows > cols => Op::leaf(Hadamard::padded(cols).unwrap()),
            Def::Wht { rows, .. } => Op::leaf(Hadamard::padded(rows).unwrap()).t(),
            Def::Dct { n, transposed } => {
                let op = Op::leaf(Dct::new(n).unwrap());
                if transposed { op.t() } else { op }
            }
        }
    }
    fn gpu_supported(self) -> bool {
        match self {
            Def::Wht { .. } => true,
            Def::Dct { n, .. } => linops_gpu::kernels::dct::dct_supported(n),
        }
    }
}

/// Reference rows `rows_checked` of `def·x` in f64, with the magnitudes `(|def|·|x|)_i`.
fn reference(def: Def, x: MatRef<'_, f64>, rows_checked: &[usize]) -> (Mat<f64>, Mat<f64>) {
    let cols = def.shape().1;
    let mut y = Mat::zeros(rows_checked.len(), x.ncols());
    let mut mag = Mat::zeros(rows_checked.len(), x.ncols());
    for (r, &i) in rows_checked.iter().enumerate() {
        let row: Vec<f64> = (0..cols).map(|j| def.entry(i, j)).collect();
        for c in 0..x.ncols() {
            let (mut s, mut m) = (0.0, 0.0);
            for (j, a) in row.iter().enumerate() {
                s += a * x[(j, c)];
                m += (a * x[(j, c)]).abs();
            }
            y[(r, c)] = s;
            mag[(r, c)] = m;
        }
    }
    (y, mag)
}

/// Checks `got` (rows `rows_checked` of the result) against the reference under `def`'s bound.
fn check(
    what: &str,
    def: Def,
    u: f64,
    got: MatRef<'_, f64>,
    x: MatRef<'_, f64>,
    rows_checked: &[usize],
) {
    let (y, mag) = reference(def, x, rows_checked);
    let (_, cols) = def.shape();
    for c in 0..x.ncols() {
        match def {
            Def::Wht { rows, cols } => {
                let big = rows.max(cols) as f64;
                let k = big.log2() + 2.0;
                for (r, &i) in rows_checked.iter().enumerate() {
                    let (g, w) = (got[(i, c)], y[(r, c)]);
                    let bound = (gamma(k, u) + cols as f64 * U64) * mag[(r, c)];
                    assert!(
                        (g - w).abs() <= bound,
                        "{what}: at ({i}, {c}): got {g}, expected {w}, diff {:e}, bound {bound:e}",
                        (g - w).abs()
                    );
                }
            }
            Def::Dct { n, .. } => {
                let l = (n as f64).log2().ceil() + 1.0;
                let xnorm = (0..cols).map(|j| x[(j, c)].powi(2)).sum::<f64>().sqrt();
                let (mut err2, mut ref2) = (0.0, 0.0);
                let mut worst = (0.0, 0);
                for (r, &i) in rows_checked.iter().enumerate() {
                    let d = got[(i, c)] - y[(r, c)];
                    if d.abs() > worst.0 || d.is_nan() {
                        worst = (d.abs(), i);
                    }
                    err2 += d * d;
                    ref2 += (n as f64 * U64 * mag[(r, c)]).powi(2);
                }
                let bound = 7.0 * (l + 2.0) * u * xnorm + ref2.sqrt();
                assert!(
                    err2.sqrt() <= bound,
                    "{what}: column {c}: error 2-norm {:e} exceeds 7·(L+2)·u·‖x‖ + ref {bound:e} (‖x‖ = {xnorm}, worst entry {:e} at row {})",
                    err2.sqrt(),
                    worst.0,
                    worst.1
                );
            }
        }
    }
}

fn widen(m: MatRef<'_, f32>) -> Mat<f64> {
    Mat::from_fn(m.nrows(), m.ncols(), |i, j| f64::from(m[(i, j)]))
}

/// Applies `def`'s op to `x` on cpu f64, cpu f32 and (when present) the GPU, and checks each
/// against the definition on `rows_checked`. Returns whether the GPU ran.
fn check_all(def: Def, batch: usize, seed: u64, rows_checked: Option<Vec<usize>>) -> bool {
    let (rows, cols) = def.shape();
    let rows_checked = rows_checked.unwrap_or_else(|| (0..rows).collect());
    let x = Rng::new(seed).mat(cols, batch);
    let x32 = to_f32(x.as_ref());
    let op = def.op();
    let what = format!(
        "{def:?} ({}) on X {cols}x{batch}, seed {seed:#x}",
        op.describe()
    );
    let cpu = crate::support::cpu_engine();
    let y64 = cpu
        .apply(&op, x.as_ref())
        .unwrap_or_else(|e| panic!("{what}: cpu f64: {e}"));
    check(
        &format!("{what} cpu f64"),
        def,
        U64,
        y64.as_ref(),
        x.as_ref(),
        &rows_checked,
    );
    let y32 = cpu
        .apply(&op, x32.as_ref())
        .unwrap_or_else(|e| panic!("{what}: cpu f32: {e}"));
    check(
        &format!("{what} cpu f32"),
        def,
        U32,
        widen(y32.as_ref()).as_ref(),
        x.as_ref(),
        &rows_checked,
    );
    let Some((trusted, checked)) = gpu_engines() else {
        return false;
    };
    if !def.gpu_supported() {
        match trusted.apply(&op, x32.as_ref()) {
            Err(Error::Unsupported(msg)) => assert!(msg.contains(&rows.to_string()), "{msg}"),
            other => panic!("{what}: gpu: expected Unsupported, got {other:?}"),
        }
        return false;
    }
    let yg = trusted
        .apply(&op, x32.as_ref())
        .unwrap_or_else(|e| panic!("{what}: gpu: {e}"));
    check(
        &format!("{what} gpu f32"),
        def,
        U32,
        widen(yg.as_ref()).as_ref(),
        x.as_ref(),
        &rows_checked,
    );
    let yc = checked
        .apply(&op, x32.as_ref())
        .unwrap_or_else(|e| panic!("{what}: gpu checked: {e}"));
    for j in 0..batch {
        for i in 0..rows {
            assert_eq!(
                yc[(i, j)].to_bits(),
                yg[(i, j)].to_bits(),
                "{what}: checked and trusted shaders differ at ({i}, {j})"
            );
        }
    }
    true
}

#[test]
fn every_length_up_to_64_matches_the_definition() {
    let mut gpu_runs = 0;
    for n in 1..=64usize {
        let seed = 0x7A_0000 + n as u64;
        let np = n.next_power_of_two();
        let batch = 1 + n % 5;
        let mut defs = vec![
            Def::Wht { rows: np, cols: n },
            Def::Wht { rows: n, cols: np },
            Def::Dct {
                n,
                transposed: false,
            },
            Def::Dct {
                n,
                transposed: true,
            },
        ];
        if np == n {
            defs.remove(1); // both are the square H_n
        }
        for def in defs {
            gpu_runs += usize::from(check_all(def, batch, seed, None));
        }
    }
    report(&format!(
        "transforms: lengths 1..=64 checked on cpu f64/f32, {gpu_runs} GPU runs"
    ));
}

#[test]
fn long_transforms_match_the_definition_on_sampled_rows() {
    let mut rng = Rng::new(0x10_4617);
    let mut sample = |rows: usize| {
        let mut v: Vec<usize> = (0..48).map(|_| rng.below(rows)).collect();
        v.extend([0, 1, rows - 1]);
        v
    };
    let defs = [
        (
            Def::Wht {
                rows: 1024,
                cols: 1024,
            },
            3,
        ),
        (
            Def::Wht {
                rows: 4096,
                cols: 4096,
            },
            2,
        ),
        // Beyond one workgroup's 4096 entries: the GPU's multi-pass path.
        (
            Def::Wht {
                rows: 8192,
                cols: 8192,
            },
            2,
        ),
        (
            Def::Wht {
                rows: 16384,
                cols: 16384,
            },
            1,
        ),
        (
            Def::Wht {
                rows: 16384,
                cols: 9000,
            },
            1,
        ),
        (
            Def::Wht {
                rows: 9000,
                cols: 16384,
            },
            2,
        ),
        (
            Def::Dct {
                n: 1000,
                transposed: false,
            },
            2,
        ),
        (
            Def::Dct {
                n: 1000,
                transposed: true,
            },
            2,
        ),
        (
            Def::Dct {
                n: 1024,
                transposed: false,
            },
            3,
        ),
        (
            Def::Dct {
                n: 1024,
                transposed: true,
            },
            3,
        ),
        (
            Def::Dct {
                n: 2048,
                transposed: false,
            },
            1,
        ),
        (
            Def::Dct {
                n: 4096,
                transposed: true,
            },
            1,
        ),
    ];
    for (i, (def, batch)) in defs.into_iter().enumerate() {
        let rows = sample(def.shape().0);
        check_all(def, batch, 0xB16 + i as u64, Some(rows));
    }
}

/// `op` applied to the identity on every backend: the columns of the result are orthonormal.
#[test]
fn transforms_are_orthogonal_and_invert() {
    let defs = [
        Def::Wht { rows: 64, cols: 64 },
        Def::Wht { rows: 64, cols: 37 },
        Def::Dct {
            n: 64,
            transposed: false,
        },
        Def::Dct {
            n: 37,
            transposed: false,
        },
        Def::Dct {
            n: 64,
            transposed: true,
        },
    ];
    let cpu = crate::support::cpu_engine();
    let gpu = gpu_engines();
    for def in defs {
        let (rows, cols) = def.shape();
        let op = def.op();
        let eye = Mat::<f64>::identity(cols, cols);
        let l = (rows as f64).log2().ceil() + 1.0;
        let eps = |u: f64| 7.0 * (l + 2.0) * u; // normwise column error (see the module docs)
        let mut results: Vec<(&str, Mat<f64>, f64)> =
            vec![("cpu f64", cpu.apply(&op, eye.as_ref()).unwrap(), eps(U64))];
        results.push((
            "cpu f32",
            widen(
                cpu.apply(&op, to_f32(eye.as_ref()).as_ref())
                    .unwrap()
                    .as_ref(),
            ),
            eps(U32),
        ));
        if let Some((g, _)) = &gpu
            && def.gpu_supported()
        {
            results.push((
                "gpu f32",
                widen(
                    g.apply(&op, to_f32(eye.as_ref()).as_ref())
                        .unwrap()
                        .as_ref(),
                ),
                eps(U32),
            ));
        }
        for (name, q, e) in results {
            // QᵀQ − I = Q₀ᵀE + EᵀQ₀ + EᵀE with ‖E e_j‖ ≤ e: entries at most 2e + e².
            let qtq = q.transpose() * &q;
            for i in 0..cols {
                for j in 0..cols {
                    let want = if i == j { 1.0 } else { 0.0 };
                    let d = (qtq[(i, j)] - want).abs();
                    assert!(
                        d <= 2.0 * e + e * e + 4.0 * rows as f64 * U64,
                        "{def:?} {name}: (QᵀQ)[{i}, {j}] = {}, off by {d:e} (bound {:e})",
                        qtq[(i, j)],
                        2.0 * e + e * e
                    );
                }
            }
        }
        // Round trip opᵀ·(op·x) = x through the planner (two fast transforms, no dense matrix).
        let round = Op::product(vec![op.t(), op.clone()]).unwrap();
        let x = Rng::new(0xB0B).mat(cols, 3);
        let mut engines = vec![("cpu", &cpu)];
        if let Some((g, _)) = &gpu
            && def.gpu_supported()
        {
            engines.push(("gpu", g));
        }
        for (name, eng) in engines {
            let y = widen(
                eng.apply(&round, to_f32(x.as_ref()).as_ref())
                    .unwrap()
                    .as_ref(),
            );
            for c in 0..3 {
                let xn = (0..cols).map(|i| x[(i, c)].powi(2)).sum::<f64>().sqrt();
                let en = (0..cols)
                    .map(|i| (y[(i, c)] - x[(i, c)]).powi(2))
                    .sum::<f64>()
                    .sqrt();
                let bound = 2.0 * eps(U32) * xn;
                assert!(
                    en <= bound,
                    "{def:?} {name}: round trip column {c}: error {en:e} > {bound:e}"
                );
            }
        }
    }
}

#[test]
fn bad_transform_inputs_are_typed_errors() {
    match Hadamard::new(6) {
        Err(Error::InvalidArgument(msg)) => {
            assert!(msg.contains('6') && msg.contains('8'), "{msg}")
        }
        other => panic!("expected InvalidArgument, got {other:?}"),
    }
    match Hadamard::new(1000) {
        Err(Error::InvalidArgument(msg)) => {
            assert!(msg.contains("1000") && msg.contains("1024"), "{msg}")
        }
        other => panic!("expected InvalidArgument, got {other:?}"),
    }
    assert!(matches!(
        Hadamard::new(0),
        Err(Error::EmptyDimension { .. })
    ));
    assert!(matches!(
        Hadamard::padded(0),
        Err(Error::EmptyDimension { .. })
    ));
    assert!(matches!(Dct::new(0), Err(Error::EmptyDimension { .. })));
    let mut engines = vec![crate::support::cpu_engine()];
    if let Some((g, _)) = gpu_engines() {
        engines.push(g);
    }
    let h = Op::leaf(Hadamard::new(8).unwrap());
    let hp = Op::leaf(Hadamard::padded(5).unwrap());
    let c = Op::leaf(Dct::new(8).unwrap());
    for eng in &engines {
        for (op, rows) in [(&h, 7), (&hp, 8), (&hp.t(), 5), (&c, 9), (&c.t(), 4)] {
            let x = Mat::<f32>::zeros(rows, 2);
            assert!(
                matches!(eng.apply(op, x.as_ref()), Err(Error::ShapeMismatch { .. })),
                "{} on {}: X with {rows} rows must be a shape mismatch",
                op.describe(),
                eng.name()
            );
        }
        let mut x = Mat::<f32>::zeros(8, 2);
        x[(3, 1)] = f32::NAN;
        assert!(matches!(
            eng.apply(&h, x.as_ref()),
            Err(Error::NonFinite { row: 3, col: 1, .. })
        ));
        assert!(matches!(
            eng.apply(&c, x.as_ref()),
            Err(Error::NonFinite { row: 3, col: 1, .. })
        ));
    }
}

#[test]
fn planner_drops_hadamard_transposes_and_counts_costs() {
    use linops::{DType, Kernel, LeafOp, Plan};
    let h = Op::leaf(Hadamard::new(8).unwrap());
    assert!(Hadamard::new(8).unwrap().is_symmetric());
    assert!(!Hadamard::padded(5).unwrap().is_symmetric());
    let p = Plan::new(&h.t(), 8, 2, DType::F32).unwrap();
    assert_eq!(p.steps().len(), 1);
    assert!(matches!(p.steps()[0].kernel, Kernel::Fwht(_)));
    // 8·log₂8 additions + 8 scalings per column.
    assert_eq!(p.steps()[0].flops, 2 * (8 * 3 + 8));
    assert!(
        p.explain().contains("normalized: hadamard[8]\n"),
        "{}",
        p.explain()
    );
    let c = Op::leaf(Dct::new(16).unwrap());
    let p = Plan::new(&c.t(), 16, 1, DType::F32).unwrap();
    assert!(matches!(
        p.steps()[0].kernel,
        Kernel::Dct(linops::plan::kernel::Dct { inverse: true, .. })
    ));
    assert!(p.explain().contains("dct-iii"));
    assert_eq!(p.steps()[0].flops, 5 * 16 * 4 + 4 * 16);
    assert_eq!(Op::leaf(Dct::new(16).unwrap()).param_count(), 0);
    assert_eq!(h.param_count(), 0);
    // Padded transpose: 8 rows in, 5 out.
    let hp = Op::leaf(Hadamard::padded(5).unwrap());
    let p = Plan::new(&hp.t(), 8, 3, DType::F64).unwrap();
    assert_eq!(p.shape_of(p.output()), (5, 3));
}
