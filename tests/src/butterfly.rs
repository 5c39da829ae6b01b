//! Butterfly families: butterfly (2×2 blocks), block butterfly, flat block butterfly and the
//! Pixelated butterfly (flat + low-rank).
//!
//! - [`cases`] joins the differential market (cpu f64, cpu f32, gpu f32, checked-vs-trusted);
//!   the factor form of a (block) butterfly is the product of its factor matrices built here,
//!   independently of the library, from the paper's definition (block-diagonal butterfly factors
//!   `[[D₁, D₂], [D₃, D₄]]`), so `|B_m|⋯|B_2|·|X|` is the rounding-error scale;
//! - here: `apply == to_dense·X` and its transpose for n ∈ {2, 4, 8, 64, 256} and several block
//!   sizes; `to_dense` against the independent factor form; the ±1 pattern giving the Walsh–Hadamard
//!   matrix (the layout of a pair); an order-sensitive 4×4 example (the factor order); the adjoint
//!   identity on every backend; plan steps and FLOPs; parameter counts; bad input;
//! - the butterfly kernel (several factors per pass) against the CSR factor form on every
//!   backend: pass boundaries, groups below and above a workgroup, odd column counts, transposes;
//!   bad kernel steps.

use crate::structured::{StructuredCase, adjoint_check, engines};
use crate::support::{Rng, max_abs, report, to_f32};
use faer::Mat;
use linops::{DType, Engine, Error, HostMat, Kernel, LeafOp, Op, Plan};
use linops_core::op::{BlockButterfly, Butterfly, FlatBlockButterfly, PixelatedButterfly};

/// The butterfly factor matrix `B_k` (`k` in blocks) of size `n` with block size `b`, from the
/// paper's definition, reading the parameters of one factor in the documented layout.
fn factor_matrix(n: usize, b: usize, k: usize, t: &[f64]) -> HostMat {
    let h = k / 2;
    let mut m = HostMat::zeros(n, n);
    let mut off = 0;
    // Butterfly factors s (block-rows s·k .. s·k + k), pairs p < h inside, D₁..D₄ row-major.
    for s in 0..n / (k * b) {
        for p in 0..h {
            let r0 = s * k + p;
            for (br, bc) in [(r0, r0), (r0, r0 + h), (r0 + h, r0), (r0 + h, r0 + h)] {
                for u in 0..b {
                    for v in 0..b {
                        m.set(br * b + u, bc * b + v, t[off]);
                        off += 1;
                    }
                }
            }
        }
    }
    assert_eq!(off, t.len());
    m
}

/// The factor matrices `[B_2, B_4, …, B_m]` (application order).
fn factor_matrices(n: usize, b: usize, t: &[f64]) -> Vec<HostMat> {
    let per = 2 * n * b;
    (0..t.len() / per)
        .map(|f| factor_matrix(n, b, 2 << f, &t[f * per..(f + 1) * per]))
        .collect()
}

fn levels(n: usize, b: usize) -> usize {
    (n / b).trailing_zeros() as usize
}

/// A block butterfly leaf and its factor form `B_m·…·B_2` (dense factors).
fn block_butterfly(rng: &mut Rng, n: usize, b: usize) -> (BlockButterfly, Op) {
    let t = rng.vec(levels(n, b) * 2 * n * b);
    let f = factor_matrices(n, b, &t)
        .into_iter()
        .rev()
        .map(|m| Op::from_host(m).unwrap())
        .collect();
    (
        BlockButterfly::new(n, b, t).unwrap(),
        Op::product(f).unwrap(),
    )
}

fn flat(rng: &mut Rng, n: usize, b: usize) -> FlatBlockButterfly {
    let len = (n / b) * (1 + levels(n, b)) * b * b;
    FlatBlockButterfly::new(n, b, rng.vec(len)).unwrap()
}

fn pixelated(rng: &mut Rng, n: usize, b: usize, r: usize) -> (Op, Op) {
    let f = flat(rng, n, b);
    let u = HostMat::new(n, r, rng.vec(n * r)).unwrap();
    let v = HostMat::new(n, r, rng.vec(n * r)).unwrap();
    let factors = Op::sum(vec![
        Op::from_host(f.to_dense()).unwrap(),
        Op::product(vec![
            Op::from_host(u.clone()).unwrap(),
            Op::from_host(v.clone()).unwrap().t(),
        ])
        .unwrap(),
    ])
    .unwrap();
    (Op::leaf(PixelatedButterfly::new(f, u, v).unwrap()), factors)
}

/// The butterfly cases of the differential market (each with its transpose).
pub fn cases() -> Vec<StructuredCase> {
    let mut rng = Rng::new(0x5EED_0B7F);
    let mut v: Vec<StructuredCase> = Vec::new();
    let mut push = |name: String, op: Op, f: Op, batch: usize| {
        v.push((format!("{name}ᵀ"), op.t(), f.t(), batch));
        v.push((name, op, f, batch));
    };
    for (n, b, batch) in [
        (2, 1, 1),
        (8, 1, 3),
        (64, 1, 17),
        (256, 1, 5),
        (8, 2, 2),
        (64, 4, 9),
        (256, 16, 3),
    ] {
        let (bb, f) = block_butterfly(&mut rng, n, b);
        if b == 1 {
            let bf = Butterfly::new(n, bb.twiddle().to_vec()).unwrap();
            push(format!("butterfly n={n}"), Op::leaf(bf), f, batch);
        } else {
            push(
                format!("block butterfly n={n} b={b}"),
                Op::leaf(bb),
                f,
                batch,
            );
        }
    }
    for (n, b, batch) in [(4, 2, 3), (64, 8, 5)] {
        let fl = flat(&mut rng, n, b);
        let d = Op::from_host(fl.to_dense()).unwrap();
        push(
            format!("flat block butterfly n={n} b={b}"),
            Op::leaf(fl),
            d,
            batch,
        );
    }
    for (n, b, r, batch) in [(8, 2, 1, 2), (64, 4, 5, 7), (256, 8, 16, 3)] {
        let (op, f) = pixelated(&mut rng, n, b, r);
        push(
            format!("pixelated butterfly n={n} b={b} r={r}"),
            op,
            f,
            batch,
        );
    }
    // In a composition: scaled, and summed with the identity (beta = 1 accumulation after a chain).
    let (bb, f) = block_butterfly(&mut rng, 32, 2);
    let op = Op::sum(vec![
        Op::leaf(bb).scaled(-0.5).unwrap(),
        Op::identity(32).unwrap(),
    ])
    .unwrap();
    let fo = Op::sum(vec![f.scaled(-0.5).unwrap(), Op::identity(32).unwrap()]).unwrap();
    push("sum -0.5·block butterfly + I n=32 b=2".into(), op, fo, 4);
    v
}

fn max_abs_diff(a: &Mat<f64>, b: &Mat<f64>) -> f64 {
    let mut m: f64 = 0.0;
    for j in 0..a.ncols() {
        for i in 0..a.nrows() {
            m = m.max((a[(i, j)] - b[(i, j)]).abs());
        }
    }
    m
}

/// `apply(op)·X` and `apply(opᵀ)·X` on the CPU in f64 against `to_dense`.
fn check_apply(name: &str, op: &Op, batch: usize, rng: &mut Rng) {
    let e = Engine::cpu();
    for (label, o) in [("", op.clone()), ("ᵀ", op.t())] {
        let x = rng.mat(o.shape().1, batch);
        let y = e.apply(&o, x.as_ref()).unwrap();
        let d = linops::to_faer(&o);
        let want = &d * &x;
        let scale = 1.0 + max_abs(want.as_ref());
        let err = max_abs_diff(&y, &want);
        assert!(
            err <= 1e-12 * scale,
            "`{name}{label}`: apply differs from to_dense·X by {err:e} (scale {scale})"
        );
    }
}

#[test]
fn apply_equals_to_dense_for_every_size_and_block() {
    let mut rng = Rng::new(0xB7F1);
    let mut count = 0;
    for n in [2usize, 4, 8, 64, 256] {
        for b in [1usize, 2, 4, 16] {
            if b * 2 > n {
                continue;
            }
            let (bb, f) = block_butterfly(&mut rng, n, b);
            // to_dense against the independent factor form (B_m·…·B_2 from the definition).
            let (a, want) = (bb.to_dense(), f.to_dense());
            for (i, (x, y)) in a.data().iter().zip(want.data()).enumerate() {
                assert!(
                    (x - y).abs() <= 1e-12 * (1.0 + y.abs()),
                    "block butterfly n={n} b={b}: to_dense differs from the factors at {i}"
                );
            }
            check_apply(
                &format!("block butterfly n={n} b={b}"),
                &Op::leaf(bb.clone()),
                3,
                &mut rng,
            );
            if b == 1 {
                let bf = Butterfly::new(n, bb.twiddle().to_vec()).unwrap();
                assert_eq!(bf.to_dense().data(), bb.to_dense().data());
                check_apply(&format!("butterfly n={n}"), &Op::leaf(bf), 2, &mut rng);
            }
            let fl = FlatBlockButterfly::from_block_butterfly(&bb).unwrap();
            // I + Σ_k B_k, from the independent factor matrices.
            let mut sum = HostMat::from_fn(n, n, |i, j| if i == j { 1.0 } else { 0.0 });
            for m in factor_matrices(n, b, bb.twiddle()) {
                sum = HostMat::from_fn(n, n, |i, j| sum.get(i, j) + m.get(i, j));
            }
            assert_eq!(fl.to_dense().data(), sum.data(), "flat n={n} b={b}");
            check_apply(&format!("flat n={n} b={b}"), &Op::leaf(fl), 4, &mut rng);
            let (px, pf) = pixelated(&mut rng, n, b, 1.max(n / 16));
            let (a, want) = (px.to_dense(), pf.to_dense());
            for (x, y) in a.data().iter().zip(want.data()) {
                assert!(
                    (x - y).abs() <= 1e-12 * (1.0 + y.abs()),
                    "pixelated n={n} b={b}"
                );
            }
            check_apply(&format!("pixelated n={n} b={b}"), &px, 3, &mut rng);
            count += 1;
        }
    }
    report(&format!(
        "butterfly apply == to_dense·X: {count} (n, b) pairs, 4 families"
    ));
}

/// The Sylvester Walsh–Hadamard matrix `H[i, j] = (−1)^{popcount(i & j)}` (unnormalized).
fn sylvester(n: usize) -> HostMat {
    HostMat::from_fn(n, n, |i, j| {
        if (i & j).count_ones() % 2 == 0 {
            1.0
        } else {
            -1.0
        }
    })
}

#[test]
fn hadamard_pattern_gives_walsh_hadamard_on_every_backend() {
    let engines = engines();
    for n in [2usize, 4, 8, 64, 256] {
        // Every pair [[1, 1], [1, −1]].
        let t: Vec<f64> = (0..2 * n * levels(n, 1))
            .map(|i| if i % 4 == 3 { -1.0 } else { 1.0 })
            .collect();
        let bf = Butterfly::new(n, t).unwrap();
        let h = sylvester(n);
        assert_eq!(bf.to_dense().data(), h.data(), "butterfly n={n} is not H_n");
        // Integer inputs: every backend is exact (|entries| ≤ 256·4 < 2²⁴).
        let x = Mat::from_fn(n, 3, |i, j| ((i * 7 + j * 3) % 9) as f64 - 4.0);
        let want = &linops::to_faer(&Op::from_host(h).unwrap()) * &x;
        for e in &engines {
            let y = e
                .apply(&Op::leaf(bf.clone()), to_f32(x.as_ref()).as_ref())
                .unwrap();
            let y64 = Mat::from_fn(n, 3, |i, j| f64::from(y[(i, j)]));
            assert_eq!(
                max_abs_diff(&y64, &want),
                0.0,
                "{} butterfly H_{n}",
                e.name()
            );
        }
    }
    // Block form: D₁ = D₂ = D₃ = I_b, D₄ = −I_b gives H_{n/b} ⊗ I_b.
    for (n, b) in [(8usize, 2usize), (64, 4), (32, 16)] {
        let mut t = Vec::new();
        for _ in 0..levels(n, b) * n / (2 * b) {
            for q in 0..4 {
                for u in 0..b {
                    for v in 0..b {
                        let d = if u == v { 1.0 } else { 0.0 };
                        t.push(if q == 3 { -d } else { d });
                    }
                }
            }
        }
        let bb = BlockButterfly::new(n, b, t).unwrap();
        let h = sylvester(n / b);
        let want = HostMat::from_fn(n, n, |i, j| {
            if i % b == j % b {
                h.get(i / b, j / b)
            } else {
                0.0
            }
        });
        assert_eq!(
            bb.to_dense().data(),
            want.data(),
            "block butterfly n={n} b={b}"
        );
    }
    report("butterfly with ±1 pairs = Walsh–Hadamard (n = 2..256, blocks 2..16)");
}

#[test]
fn factor_order_is_b2_first_and_pairs_are_laid_out_as_documented() {
    // n = 4: B_2 pairs (0,1) = [[1,2],[3,4]], (2,3) = [[5,6],[7,8]];
    //        B_4 pairs (0,2) = [[9,10],[11,12]], (1,3) = [[13,14],[15,16]]; B = B_4·B_2.
    let t: Vec<f64> = (1..=16).map(f64::from).collect();
    let b2 = HostMat::new(
        4,
        4,
        // column-major
        vec![
            1., 3., 0., 0., 2., 4., 0., 0., 0., 0., 5., 7., 0., 0., 6., 8.,
        ],
    )
    .unwrap();
    let b4 = HostMat::new(
        4,
        4,
        vec![
            9., 0., 11., 0., 0., 13., 0., 15., 10., 0., 12., 0., 0., 14., 0., 16.,
        ],
    )
    .unwrap();
    let bf = Butterfly::new(4, t).unwrap();
    let want = b4.matmul(&b2).unwrap();
    assert_ne!(
        want.data(),
        b2.matmul(&b4).unwrap().data(),
        "the example must be order-sensitive"
    );
    assert_eq!(bf.to_dense().data(), want.data());
    for e in engines() {
        let x = Mat::from_fn(4, 4, |i, j| if i == j { 1.0f32 } else { 0.0 });
        let y = e.apply(&Op::leaf(bf.clone()), x.as_ref()).unwrap();
        let yt = e.apply(&Op::leaf(bf.clone()).t(), x.as_ref()).unwrap();
        for i in 0..4 {
            for j in 0..4 {
                assert_eq!(f64::from(y[(i, j)]), want.get(i, j), "{} B", e.name());
                assert_eq!(f64::from(yt[(i, j)]), want.get(j, i), "{} Bᵀ", e.name());
            }
        }
    }
}

#[test]
fn adjoint_identity_on_every_backend() {
    let cases = cases();
    let engines = engines();
    for (ci, case) in cases.iter().enumerate() {
        let seed = 0xB7AD + ci as u64;
        adjoint_check::<f64>(&engines[0], case, seed, f64::EPSILON / 2.0, |m| m.clone());
        for e in &engines {
            adjoint_check::<f32>(e, case, seed, f64::from(f32::EPSILON) / 2.0, |m| {
                to_f32(m.as_ref())
            });
        }
    }
    report(&format!(
        "butterfly adjoint identity: {} cases on {} engines",
        cases.len(),
        engines.len()
    ));
}

#[test]
fn plans_are_butterfly_passes_with_the_documented_cost() {
    use linops::plan::kernel::Butterfly as Step;
    let mut rng = Rng::new(0xB7C0);
    // (n, b, batch, factor ranges of the passes): groups of 2^count·b ≤ 4096 entries.
    type Size = (usize, usize, usize, &'static [(usize, usize)]);
    let sizes: [Size; 5] = [
        (64, 1, 5, &[(0, 6)]),
        (256, 4, 3, &[(0, 6)]),
        (2, 1, 1, &[(0, 1)]),
        (4096, 1, 2, &[(0, 12)]),
        (8192, 1, 2, &[(0, 7), (7, 6)]),
    ];
    for (n, b, batch, ranges) in sizes {
        let bb = BlockButterfly::new(n, b, rng.vec(levels(n, b) * 2 * n * b)).unwrap();
        let l = levels(n, b);
        for trans in [false, true] {
            let op = if trans {
                Op::leaf(bb.clone()).t()
            } else {
                Op::leaf(bb.clone())
            };
            let p = Plan::new(&op, n, batch, DType::F32).unwrap();
            let got: Vec<(usize, usize, bool)> = p
                .steps()
                .iter()
                .map(|s| match s.kernel {
                    Kernel::Butterfly(Step {
                        first,
                        count,
                        trans,
                        block,
                        ..
                    }) => {
                        assert_eq!(block, b);
                        (first, count, trans)
                    }
                    ref k => panic!("n={n} b={b}: a {} step", k.label()),
                })
                .collect();
            // The transposed passes run in reverse order.
            let mut want: Vec<(usize, usize, bool)> =
                ranges.iter().map(|&(f, c)| (f, c, trans)).collect();
            if trans {
                want.reverse();
            }
            assert_eq!(got, want, "n={n} b={b} trans={trans}\n{}", p.explain());
            // Per factor and output 2b products and 2b − 1 additions; n·B per pass for alpha.
            let flops = (l * (4 * b - 1) * n + ranges.len() * n) * batch;
            assert_eq!(p.total_flops(), flops as u64, "n={n} b={b}");
        }
        let fl = FlatBlockButterfly::from_block_butterfly(&bb).unwrap();
        let p = Plan::new(&Op::leaf(fl), n, batch, DType::F32).unwrap();
        assert_eq!(p.steps().len(), 1);
        assert_eq!(p.total_flops(), ((2 * b * (1 + l) + 1) * n * batch) as u64);
    }
}

/// `|y − want|` entrywise against `bound·mag`, naming the first failure.
fn check_within(what: &str, y: &Mat<f64>, want: &Mat<f64>, mag: &Mat<f64>, bound: f64) {
    for j in 0..want.ncols() {
        for i in 0..want.nrows() {
            let (got, exp, lim) = (y[(i, j)], want[(i, j)], bound * mag[(i, j)]);
            assert!(
                (got - exp).abs() <= lim,
                "{what}: at ({i}, {j}): got {got}, expected {exp}, diff {:e}, bound {lim:e}",
                (got - exp).abs()
            );
        }
    }
}

/// The butterfly kernel against the factor form (`L` CSR SpMM steps, an independent path) on
/// CPU f64 and f32 and the GPU: sizes that need two passes (each pass boundary: the second
/// pass's groups are strided), groups smaller and larger than a workgroup (n = 2 … 4096, items
/// per invocation 1 … 8), odd and lane-crossing column counts, and the transpose.
#[test]
fn kernel_equals_factor_form_across_passes_columns_and_tiles() {
    const U64: f64 = f64::EPSILON / 2.0;
    const U32: f64 = f32::EPSILON as f64 / 2.0;
    let cpu = crate::support::cpu_engine();
    let gpu = crate::support::gpu_engines();
    let mut rng = Rng::new(0xB7C7);
    let sizes = [
        (8192usize, 1usize, 3usize), // passes of 7 + 6 factors
        (8192, 4, 5),                // 6 + 5, blocks of 4
        (16384, 2, 1),               // 7 + 6, blocks of 2
        (4096, 1, 2),                // one pass of 12 factors: 8 pairs per invocation
        (4096, 32, 4),               // one pass, b = 32 (the bench's block size)
        (512, 8, 3),                 // a group of 512: one pair of outputs per invocation
        (8, 2, 17),                  // a group far below the workgroup; 16 + 1 lanes
        (64, 1, 33),                 // 2 tiles of 16 lanes + 1
        (256, 4, 15),                // lanes of 4: 3 tiles + 3
    ];
    for (n, b, batch) in sizes {
        let l = levels(n, b);
        let t = rng.vec(l * 2 * n * b);
        let abs_t: Vec<f64> = t.iter().map(|v| v.abs()).collect();
        let bb = BlockButterfly::new(n, b, t).unwrap();
        let abs_b = BlockButterfly::new(n, b, abs_t).unwrap().to_factors();
        for trans in [false, true] {
            let tr = |o: Op| if trans { o.t() } else { o };
            let (op, reference, mag_op) = (
                tr(Op::leaf(bb.clone())),
                tr(bb.to_factors()),
                tr(abs_b.clone()),
            );
            let what = format!(
                "block butterfly n={n} b={b}{} X {n}x{batch}",
                ["", "ᵀ"][trans as usize]
            );
            let x = rng.mat(n, batch);
            let abs_x = Mat::from_fn(n, batch, |i, j| x[(i, j)].abs());
            let y = cpu.apply(&op, x.as_ref()).unwrap();
            let want = cpu.apply(&reference, x.as_ref()).unwrap();
            let mag = cpu.apply(&mag_op, abs_x.as_ref()).unwrap();
            // Each factor's output is a sum of 2b products: L factors give at most 2bL roundings
            // per path (Higham, Thm. 3.5: |error| ≤ γ_{2bL}·|B_L|⋯|B_1|·|X|), both paths.
            let k = (2 * b * l + 1) as f64;
            check_within(&format!("{what}: cpu f64"), &y, &want, &mag, 2.0 * k * U64);
            let y32 = cpu.apply(&op, to_f32(x.as_ref()).as_ref()).unwrap();
            let y32 = Mat::from_fn(n, batch, |i, j| f64::from(y32[(i, j)]));
            // f32: the same bound in f32 plus the rounding of X to f32 (one more per path).
            check_within(&format!("{what}: cpu f32"), &y32, &y, &mag, (k + 1.0) * U32);
            let err32 = max_abs_diff(&y32, &y);
            let Some((trusted, _)) = &gpu else {
                continue;
            };
            let yg = trusted.apply(&op, to_f32(x.as_ref()).as_ref()).unwrap();
            let yg = Mat::from_fn(n, batch, |i, j| f64::from(yg[(i, j)]));
            let scale = max_abs(mag.as_ref());
            let err = max_abs_diff(&yg, &y);
            // The market's rule: within 2× the CPU f32 error plus one f32 ulp of the magnitude.
            assert!(
                err <= 2.0 * err32 + U32 * scale,
                "{what}: gpu error {err:e} against 2·{err32:e} + u·{scale:e}"
            );
        }
    }
    if gpu.is_none() {
        report("butterfly: kernel vs factor form GPU half SKIPPED (no adapter)");
    }
}

/// Bad steps are rejected by the core's shape rule (which the GPU encoder also applies) and by the
/// encoder's own checks: groups over 4096 entries, factors past `L`, twiddles of the wrong
/// shape, `n/b` not a power of two, an output that is an input.
#[test]
fn bad_butterfly_steps_are_typed_errors() {
    use linops::plan::kernel::Butterfly as Step;
    let step = |block, first, count| {
        Kernel::from(Step {
            block,
            first,
            count,
            trans: false,
            alpha: 1.0,
            beta: 0.0,
        })
    };
    // n = 8192, b = 1: 13 factors; a group of 2^13 entries is over the bound.
    let tw = (2 * 8192, 13);
    assert!(step(1, 0, 12).cost(&[tw, (8192, 2)], (8192, 2)).is_ok());
    for (k, what) in [
        (step(1, 0, 13), "group of 8192 entries"),
        (step(1, 7, 7), "factors 7..14 of 13"),
        (step(1, 0, 0), "no factor"),
        (step(0, 0, 1), "block 0"),
        (step(3, 0, 1), "8192 not a multiple of 3"),
    ] {
        let e = k.cost(&[tw, (8192, 2)], (8192, 2)).unwrap_err();
        assert!(matches!(e, Error::ShapeMismatch { .. }), "{what}: {e}");
        assert!(e.to_string().contains("butterfly"), "{what}: {e}");
    }
    let e = step(1, 0, 1).cost(&[(2 * 8192, 12), (8192, 2)], (8192, 2));
    assert!(
        matches!(e, Err(Error::ShapeMismatch { .. })),
        "12 twiddle columns"
    );
    let e = step(1, 0, 1).cost(&[tw, (8192, 2)], (8192, 3));
    assert!(
        matches!(e, Err(Error::ShapeMismatch { .. })),
        "out of 3 columns"
    );
    let e = step(1, 0, 1).cost(&[(2 * 6, 1), (6, 2)], (6, 2));
    assert!(matches!(e, Err(Error::ShapeMismatch { .. })), "n = 6");
    let Some(dev) = crate::support::test_device(false) else {
        return;
    };
    let k = Step {
        block: 1,
        first: 0,
        count: 2,
        trans: false,
        alpha: 1.0,
        beta: 0.0,
    };
    let tw = dev.upload(8, 2, &[1.0; 16]).unwrap();
    let x = dev.upload(4, 3, &[1.0; 12]).unwrap();
    let y = dev.alloc(4, 3).unwrap();
    let mut enc = dev.encoder();
    enc.butterfly(&k, &tw, &x, &y).unwrap();
    assert_eq!(enc.len(), 1, "one dispatch for both factors");
    enc.submit().unwrap();
    // Every pair [[1, 1], [1, 1]]: each factor doubles the column sum's share: 4·1.
    assert_eq!(dev.download(&y).unwrap(), vec![4.0; 12]);
    let mut enc = dev.encoder();
    assert!(matches!(
        enc.butterfly(&k, &tw, &x, &x),
        Err(Error::InvalidArgument(_))
    ));
    let short = dev.upload(8, 1, &[1.0; 8]).unwrap();
    assert!(matches!(
        enc.butterfly(&k, &short, &x, &y),
        Err(Error::ShapeMismatch { .. })
    ));
    let wide = dev.alloc(4, 2).unwrap();
    assert!(matches!(
        enc.butterfly(&k, &tw, &x, &wide),
        Err(Error::ShapeMismatch { .. })
    ));
}

#[test]
fn param_counts() {
    let mut rng = Rng::new(0xB7C1);
    for n in [2usize, 8, 256] {
        let l = levels(n, 1);
        let bf = Butterfly::new(n, rng.vec(2 * n * l)).unwrap();
        assert_eq!(bf.param_count(), 2 * n * l);
        assert_eq!(Op::leaf(bf).t().param_count(), 2 * n * l);
    }
    let (bb, _) = block_butterfly(&mut rng, 64, 4);
    assert_eq!(bb.param_count(), 4 * 2 * 64 * 4);
    let fl = flat(&mut rng, 64, 4);
    assert_eq!(fl.param_count(), 16 * 5 * 16);
    let (px, _) = pixelated(&mut rng, 64, 4, 3);
    assert_eq!(px.param_count(), 16 * 5 * 16 + 2 * 64 * 3);
}

#[test]
fn bad_input_is_a_typed_error() {
    use Error::*;
    let ok = |n: usize, b: usize| vec![0.5; levels(n, b) * 2 * n * b];
    assert!(matches!(
        Butterfly::new(0, vec![]),
        Err(EmptyDimension { .. })
    ));
    assert!(matches!(
        BlockButterfly::new(8, 0, vec![]),
        Err(EmptyDimension { .. })
    ));
    for (n, b) in [(6, 1), (1, 1), (12, 2), (8, 3), (4, 4), (2, 4)] {
        let e = BlockButterfly::new(n, b, vec![0.0; 64]).unwrap_err();
        assert!(matches!(e, InvalidArgument(_)), "n={n} b={b}: {e}");
        assert!(e.to_string().contains(&n.to_string()), "{e}");
        assert!(matches!(
            FlatBlockButterfly::new(n, b, vec![0.0; 64]),
            Err(InvalidArgument(_))
        ));
    }
    assert!(matches!(
        Butterfly::new(8, vec![0.0; 47]),
        Err(ShapeMismatch { .. })
    ));
    assert!(matches!(
        BlockButterfly::new(8, 2, vec![0.0; 65]),
        Err(ShapeMismatch { .. })
    ));
    assert!(matches!(
        FlatBlockButterfly::new(8, 2, vec![0.0; 47]),
        Err(ShapeMismatch { .. })
    ));
    // NaN at parameter 16 + 4·1 + 1 of n = 8: factor 1 (B_4), pair 1 (rows 1 and 3), entry D₂:
    // row 1, column 3.
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let mut t = ok(8, 1);
        t[16 + 4 + 1] = bad;
        match Butterfly::new(8, t) {
            Err(NonFinite { row, col, .. }) => assert_eq!((row, col), (1, 3)),
            other => panic!("expected NonFinite, got {other:?}"),
        }
        let mut v = vec![0.0; 4 * 3 * 4];
        v[(2 * 3 + 1) * 4 + 3] = bad; // block-row 2, slot 1 (block 3), entry (1, 1): (5, 7)
        match FlatBlockButterfly::new(8, 2, v) {
            Err(NonFinite { row, col, .. }) => assert_eq!((row, col), (5, 7)),
            other => panic!("expected NonFinite, got {other:?}"),
        }
    }
    let fl = FlatBlockButterfly::new(8, 2, vec![0.0; 48]).unwrap();
    let h = |r, c| HostMat::from_fn(r, c, |i, j| (i + j) as f64);
    assert!(matches!(
        PixelatedButterfly::new(fl.clone(), h(7, 2), h(8, 2)),
        Err(ShapeMismatch { .. })
    ));
    assert!(matches!(
        PixelatedButterfly::new(fl.clone(), h(8, 2), h(8, 3)),
        Err(ShapeMismatch { .. })
    ));
    let mut u = h(8, 1);
    u.set(3, 0, f64::NAN);
    assert!(matches!(
        PixelatedButterfly::new(fl, u, h(8, 1)),
        Err(NonFinite { .. })
    ));
    // Applying to a block of the wrong height, on every backend.
    let op = Op::leaf(Butterfly::new(8, ok(8, 1)).unwrap());
    for e in engines() {
        let x = Mat::<f32>::zeros(7, 2);
        assert!(
            matches!(e.apply(&op, x.as_ref()), Err(ShapeMismatch { .. })),
            "{}",
            e.name()
        );
    }
}
