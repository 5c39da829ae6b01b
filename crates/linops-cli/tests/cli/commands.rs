//! Every subcommand in memory, against the library call and dense references.

use crate::support::*;
use linops::faer::Mat;
use linops::faer::linalg::solvers::SolveLstsq;
use linops::randnla::svd::{SvdOptions, randomized_svd};
use linops::{Engine, Op};

/// The CLI's default seed (`--seed`), the same as `SvdOptions::default().seed`.
const SEED: u64 = 0x5EED;

#[test]
fn svd_in_memory_matches_the_library_call_and_the_dense_svd() {
    let dir = tempdir("svd");
    let a = low_rank_plus(120, 37, 0.6, 0.0, 1);
    let f = p(&dir, "a.npy");
    write_npy(&f, &a, false);
    let out = p(&dir, "o.npz");
    let j = linops(&[
        "svd",
        &f,
        "-k",
        "6",
        "--oversample",
        "5",
        "--backend",
        "cpu",
        "--json",
        "--out",
        &out,
    ])
    .json();
    assert_eq!(j["mode"], "in-memory");
    let s = floats(&j["singular_values"]);
    let est = j["error_estimate"].as_f64().unwrap();
    // The library call with the same options: the same code path, so the same numbers.
    let opts = SvdOptions {
        oversample: 5,
        seed: SEED,
        ..SvdOptions::default()
    };
    let r = randomized_svd::<f64>(
        &Engine::cpu(),
        &linops::dense(a.as_ref()).unwrap(),
        6,
        &opts,
    )
    .unwrap();
    for (x, y) in s.iter().zip(&r.s) {
        assert!((x - y).abs() <= 1e-14 * r.s[0], "CLI {x} vs library {y}");
    }
    assert!((est - r.error_estimate).abs() <= 1e-12 * r.error_estimate);
    check_svd_against_dense(&a, &s, est, "svd");
    let (u, sv, vt) = (
        read_npz(&out, "U").mat(),
        read_npz(&out, "S").data,
        read_npz(&out, "Vt").mat(),
    );
    assert_eq!(
        (u.nrows(), u.ncols(), vt.nrows(), vt.ncols()),
        (120, 6, 6, 37)
    );
    // serde_json's default float parsing may be one ulp off the shortest representation printed.
    for (x, y) in sv.iter().zip(&s) {
        assert!(
            (x - y).abs() <= 4.0 * f64::EPSILON * x.abs(),
            "npz S {x} vs JSON {y}"
        );
    }
    let res = residual_2norm(&a, &u, &sv, &vt);
    assert!(res <= est, "‖A − UΣVᵀ‖ = {res} above the estimate {est}");
}

#[test]
fn fortran_order_f32_npz_and_compressed_npz_inputs_give_the_c_order_answer() {
    let dir = tempdir("layouts");
    let a = low_rank_plus(64, 20, 0.5, 0.0, 2);
    let (c, fo, z, zc) = (
        p(&dir, "c.npy"),
        p(&dir, "f.npy"),
        p(&dir, "z.npz"),
        p(&dir, "zc.npz"),
    );
    write_npy(&c, &a, false);
    write_npy(&fo, &a, true);
    write_npz(
        &z,
        &[("w", npy_of(&a)), ("other", npy_of(&Mat::identity(3, 3)))],
        false,
    );
    write_npz(&zc, &[("w", npy_of(&a))], true);
    let run = |f: &str| {
        floats(
            &linops(&["svd", f, "-k", "4", "--backend", "cpu", "--json"]).json()["singular_values"],
        )
    };
    let base = run(&c);
    assert_eq!(run(&fo), base, "Fortran order");
    assert_eq!(run(&format!("{z}:w")), base, "npz:key");
    assert_eq!(run(&zc), base, "compressed npz with one member");
    // f32 input: the matrix the CLI sees is `a` rounded to f32.
    let f32 = p(&dir, "a32.npy");
    write_npy_f32(&f32, &a);
    let j = linops(&[
        "svd",
        &f32,
        "-k",
        "4",
        "--backend",
        "cpu",
        "--dtype",
        "f32",
        "--json",
    ])
    .json();
    assert_eq!(j["input_dtype"], "f32");
    assert_eq!(j["dtype"], "f32");
    check_svd_against_dense(
        &rounded(&a, StDtype::F32),
        &floats(&j["singular_values"]),
        j["error_estimate"].as_f64().unwrap(),
        "f32",
    );
}

#[test]
fn svd_of_safetensors_weights_in_every_dtype_matches_the_dense_svd() {
    let dir = tempdir("safetensors");
    let w = low_rank_plus(96, 48, 0.7, 0.0, 3);
    let f = p(&dir, "model.safetensors");
    write_safetensors(
        &f,
        &[
            ("layer.f16", &w, StDtype::F16),
            ("layer.bf16", &w, StDtype::Bf16),
            ("layer.f32", &w, StDtype::F32),
            ("layer.f64", &w, StDtype::F64),
        ],
    );
    for (name, dt) in [
        ("layer.f16", StDtype::F16),
        ("layer.bf16", StDtype::Bf16),
        ("layer.f32", StDtype::F32),
        ("layer.f64", StDtype::F64),
    ] {
        let out = p(&dir, &format!("{name}.npz"));
        let j = linops(&[
            "svd",
            &format!("{f}:{name}"),
            "-k",
            "5",
            "--backend",
            "cpu",
            "--json",
            "--out",
            &out,
        ])
        .json();
        let seen = rounded(&w, dt);
        let s = floats(&j["singular_values"]);
        let est = j["error_estimate"].as_f64().unwrap();
        check_svd_against_dense(&seen, &s, est, name);
        let res = residual_2norm(
            &seen,
            &read_npz(&out, "U").mat(),
            &s,
            &read_npz(&out, "Vt").mat(),
        );
        assert!(
            res <= est,
            "{name}: residual {res} above the estimate {est}"
        );
    }
    let info = linops(&["info", &f, "--json"]).json();
    let names: Vec<&str> = info["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["layer.bf16", "layer.f16", "layer.f32", "layer.f64"]);
}

#[test]
fn scipy_sparse_csr_and_csc_match_the_library_on_the_csr_operator() {
    let dir = tempdir("sparse");
    let mut rng = Rng::new(4);
    let a = Mat::from_fn(80, 30, |_, _| {
        let v = rng.uniform();
        if v.abs() < 0.8 { 0.0 } else { v }
    });
    let (csr, csc) = (p(&dir, "csr.npz"), p(&dir, "csc.npz"));
    write_scipy_sparse(&csr, &a, "csr");
    write_scipy_sparse(&csc, &a, "csc");
    let j1 = linops(&["svd", &csr, "-k", "3", "--backend", "cpu", "--json"]).json();
    let j2 = linops(&["svd", &csc, "-k", "3", "--backend", "cpu", "--json"]).json();
    assert!(j1["layout"].as_str().unwrap().starts_with("sparse csr"));
    assert!(j2["layout"].as_str().unwrap().starts_with("sparse csc"));
    assert_eq!(
        j1["singular_values"], j2["singular_values"],
        "CSC is converted to the same CSR"
    );
    // The library on the CSR operator built directly.
    let (mut ip, mut ix, mut vals) = (vec![0], vec![], vec![]);
    for i in 0..80 {
        for jj in 0..30 {
            if a[(i, jj)] != 0.0 {
                ix.push(jj);
                vals.push(a[(i, jj)]);
            }
        }
        ip.push(ix.len());
    }
    let op = Op::csr(80, 30, ip, ix, vals).unwrap();
    let r = randomized_svd::<f64>(
        &Engine::cpu(),
        &op,
        3,
        &SvdOptions {
            seed: SEED,
            ..SvdOptions::default()
        },
    )
    .unwrap();
    let s = floats(&j1["singular_values"]);
    for (x, y) in s.iter().zip(&r.s) {
        assert!((x - y).abs() <= 1e-14 * r.s[0]);
    }
    check_svd_against_dense(&a, &s, j1["error_estimate"].as_f64().unwrap(), "sparse");
}

#[test]
fn pca_centers_implicitly_and_reports_explained_variance_ratios() {
    let dir = tempdir("pca");
    let a = low_rank_plus(150, 25, 0.6, 7.5, 5);
    let f = p(&dir, "a.npy");
    write_npy(&f, &a, false);
    let out = p(&dir, "pca.npz");
    let j = linops(&[
        "pca",
        &f,
        "-k",
        "4",
        "--backend",
        "cpu",
        "--json",
        "--out",
        &out,
    ])
    .json();
    // Dense reference: the explicitly centered matrix.
    let mu: Vec<f64> = (0..25)
        .map(|c| (0..150).map(|r| a[(r, c)]).sum::<f64>() / 150.0)
        .collect();
    let ac = Mat::from_fn(150, 25, |r, c| a[(r, c)] - mu[c]);
    let s = floats(&j["singular_values"]);
    let est = j["error_estimate"].as_f64().unwrap();
    check_svd_against_dense(&ac, &s, est, "pca");
    let total: f64 = (0..25)
        .map(|c| (0..150).map(|r| ac[(r, c)].powi(2)).sum::<f64>())
        .sum();
    let ratio = floats(&j["explained_variance_ratio"]);
    for (x, sv) in ratio.iter().zip(&s) {
        // ratio = σ²/‖A_c‖_F²: the same f64 formula up to the order of the sums.
        assert!(
            (x - sv * sv / total).abs() <= 1e-12,
            "ratio {x} vs {}",
            sv * sv / total
        );
    }
    let mean = read_npz(&out, "mean").data;
    for (x, y) in mean.iter().zip(&mu) {
        assert!((x - y).abs() <= 1e-13 * y.abs().max(1.0));
    }
    let comp = read_npz(&out, "components");
    assert_eq!(comp.shape, [4, 25]);
    let var = read_npz(&out, "explained_variance").data;
    assert!((var[0] - s[0] * s[0] / 149.0).abs() <= 1e-12 * var[0]);
}

#[test]
fn sketch_every_kind_and_side_equals_the_library_operator_bit_for_bit() {
    let dir = tempdir("sketch");
    let a = Rng::new(6).mat(70, 24);
    let f = p(&dir, "a.npy");
    write_npy(&f, &a, false);
    let e = Engine::cpu();
    for (kind, make) in [
        (
            "gaussian",
            Op::gaussian_sketch as fn(usize, usize, u64) -> linops::Result<Op>,
        ),
        ("rademacher", |d, m, s| Op::rademacher_sketch(d, m, s)),
        ("sparse-sign", |d, m, s| Op::sparse_sign(d, m, 8, s)),
        ("srht", |d, m, s| Op::srht(d, m, s)),
        ("very-sparse", |d, m, s| Op::very_sparse_projection(d, m, s)),
    ] {
        for side in ["left", "right"] {
            let out = p(&dir, &format!("{kind}-{side}.npy"));
            let r = linops(&[
                "sketch",
                &f,
                "--kind",
                kind,
                "--dim",
                "12",
                "--side",
                side,
                "--seed",
                "99",
                "--backend",
                "cpu",
                "--out",
                &out,
                "--json",
            ]);
            assert_eq!(r.code, 0, "{kind} {side}: {}", r.stderr);
            let got = read_npy(&out).mat();
            let want = if side == "left" {
                e.apply::<f64>(&make(12, 70, 99).unwrap(), a.as_ref())
                    .unwrap()
            } else {
                let at = a.transpose().to_owned();
                e.apply::<f64>(&make(12, 24, 99).unwrap(), at.as_ref())
                    .unwrap()
                    .transpose()
                    .to_owned()
            };
            assert_eq!(
                (got.nrows(), got.ncols()),
                (want.nrows(), want.ncols()),
                "{kind} {side}"
            );
            assert!(
                got == want,
                "{kind} {side}: CLI output differs from the library's S·A"
            );
            // Reproducible: the same seed, the same bits.
            let again = p(&dir, "again.npy");
            linops(&[
                "sketch",
                &f,
                "--kind",
                kind,
                "--dim",
                "12",
                "--side",
                side,
                "--seed",
                "99",
                "--backend",
                "cpu",
                "--out",
                &again,
            ]);
            assert_eq!(std::fs::read(&again).unwrap(), std::fs::read(&out).unwrap());
        }
    }
}

#[test]
fn lstsq_matches_a_dense_qr_solve() {
    let dir = tempdir("lstsq");
    let mut rng = Rng::new(7);
    let a = rng.mat(200, 12);
    let b: Vec<f64> = (0..200).map(|_| rng.uniform()).collect();
    let (fa, fb, out) = (p(&dir, "a.npy"), p(&dir, "b.npy"), p(&dir, "x.npy"));
    write_npy(&fa, &a, false);
    write_vec(&fb, &b);
    let j = linops(&[
        "lstsq",
        &fa,
        &fb,
        "--backend",
        "cpu",
        "--json",
        "--out",
        &out,
    ])
    .json();
    assert_eq!(j["converged"], true);
    let x = read_npy(&out).data;
    let bm = Mat::from_fn(200, 1, |i, _| b[i]);
    let xr = a.qr().solve_lstsq(&bm);
    // A well-conditioned A (uniform entries, 200×12: cond ≈ 1.5): LSQR's default tolerance
    // (1e-10 relative) bounds the forward error well below 1e-8.
    for i in 0..12 {
        assert!(
            (x[i] - xr[(i, 0)]).abs() <= 1e-8,
            "x[{i}] = {} vs {}",
            x[i],
            xr[(i, 0)]
        );
    }
    let resid: f64 = (0..200)
        .map(|i| (b[i] - (0..12).map(|t| a[(i, t)] * xr[(t, 0)]).sum::<f64>()).powi(2))
        .sum::<f64>()
        .sqrt();
    assert!((j["residual_norm"].as_f64().unwrap() - resid).abs() <= 1e-8 * resid);
}

#[test]
fn trace_is_exact_for_a_diagonal_and_equals_the_library_call() {
    let dir = tempdir("trace");
    let d: Vec<f64> = (1..=40).map(|i| 1.0 / i as f64).collect();
    let a = Mat::from_fn(40, 40, |i, j| if i == j { d[i] } else { 0.0 });
    let f = p(&dir, "d.npy");
    write_npy(&f, &a, false);
    let j = linops(&[
        "trace",
        &f,
        "--hutchinson",
        "--matvecs",
        "8",
        "--backend",
        "cpu",
        "--json",
    ])
    .json();
    let exact: f64 = d.iter().sum();
    // Rademacher probes: zᵀDz = Σ d_i exactly (z_i² = 1), up to the rounding of the sum.
    assert!((j["trace"].as_f64().unwrap() - exact).abs() <= 1e-13 * exact);
    let g = Rng::new(8).mat(30, 30);
    let fg = p(&dir, "g.npy");
    write_npy(&fg, &g, false);
    let j = linops(&[
        "trace",
        &fg,
        "--matvecs",
        "30",
        "--seed",
        "3",
        "--backend",
        "cpu",
        "--json",
    ])
    .json();
    let lib = linops::randnla::trace::hutch_plus_plus::<f64>(
        &Engine::cpu(),
        &linops::dense(g.as_ref()).unwrap(),
        &linops::randnla::trace::TraceOptions {
            matvecs: 30,
            seed: 3,
        },
    )
    .unwrap();
    assert_eq!(j["trace"].as_f64().unwrap(), lib.estimate);
}

#[test]
fn polar_matches_u_vt_of_the_dense_svd() {
    let dir = tempdir("polar");
    let a = Rng::new(9).mat(40, 15);
    let (f, out) = (p(&dir, "a.npy"), p(&dir, "q.npy"));
    write_npy(&f, &a, false);
    let j = linops(&["polar", &f, "--backend", "cpu", "--json", "--out", &out]).json();
    assert_eq!(j["converged"], true);
    let q = read_npy(&out).mat();
    let svd = a.thin_svd().unwrap();
    let uvt = svd.U() * svd.V().transpose();
    // Newton–Schulz stops at ‖QᵀQ − I‖_F ≤ tol (≈ n·u): with cond(A) ≈ 3 the factor's error is a
    // small multiple of that; 1e-10 leaves room.
    for i in 0..40 {
        for c in 0..15 {
            assert!((q[(i, c)] - uvt[(i, c)]).abs() <= 1e-10, "({i}, {c})");
        }
    }
}

#[test]
fn info_reports_shape_dtype_layout_and_members() {
    let dir = tempdir("info");
    let a = Rng::new(10).mat(5, 3);
    let (c, fo, z) = (p(&dir, "c.npy"), p(&dir, "f.npy"), p(&dir, "z.npz"));
    write_npy(&c, &a, false);
    write_npy(&fo, &a, true);
    write_npz(&z, &[("x", npy_of(&a)), ("y", npy_of(&a))], false);
    let j = linops(&["info", &c, "--json"]).json();
    assert_eq!(j["shape"], serde_json::json!([5, 3]));
    assert_eq!(j["input_dtype"], "f64");
    assert_eq!(j["layout"], "c");
    assert_eq!(j["data_bytes"], 5 * 3 * 8);
    assert_eq!(linops(&["info", &fo, "--json"]).json()["layout"], "fortran");
    let j = linops(&["info", &z, "--json"]).json();
    assert_eq!(j["arrays"].as_array().unwrap().len(), 2);
    assert_eq!(j["arrays"][0]["dtype"], "<f8");
    let t = linops(&["info", &c]);
    assert!(t.stdout.contains("shape: [5,3]"), "{}", t.stdout);
}

#[test]
fn plot_writes_an_svg_of_the_spectrum() {
    let dir = tempdir("plot");
    let a = low_rank_plus(60, 20, 0.5, 0.0, 11);
    let (f, svg) = (p(&dir, "a.npy"), p(&dir, "s.svg"));
    write_npy(&f, &a, false);
    let j = linops(&[
        "svd",
        &f,
        "-k",
        "8",
        "--backend",
        "cpu",
        "--json",
        "--plot",
        &svg,
    ])
    .json();
    assert_eq!(j["plot"], svg.as_str());
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(
        text.starts_with("<svg") && text.contains("</svg>"),
        "{}",
        &text[..80.min(text.len())]
    );
    assert!(text.contains("error estimate"));
}

#[test]
fn numpy_reads_the_outputs() {
    if !numpy() {
        eprintln!("SKIP numpy_reads_the_outputs: python3 with numpy is not installed");
        return;
    }
    let dir = tempdir("numpy");
    let a = low_rank_plus(50, 20, 0.5, 1.0, 12);
    let f = p(&dir, "a.npy");
    write_npy(&f, &a, false);
    let (o, pc, sk) = (p(&dir, "o.npz"), p(&dir, "p.npz"), p(&dir, "s.npy"));
    assert_eq!(
        linops(&["svd", &f, "-k", "3", "--backend", "cpu", "--out", &o]).code,
        0
    );
    assert_eq!(
        linops(&[
            "pca",
            &f,
            "-k",
            "3",
            "--backend",
            "cpu",
            "--stream",
            "--mem",
            "64K",
            "--out",
            &pc
        ])
        .code,
        0
    );
    assert_eq!(
        linops(&[
            "sketch",
            &f,
            "--kind",
            "srht",
            "--dim",
            "5",
            "--backend",
            "cpu",
            "--out",
            &sk
        ])
        .code,
        0
    );
    let script = format!(
        "import numpy as np\nA=np.load({f:?})\nz=np.load({o:?})\nassert z['U'].shape==(50,3) and z['Vt'].shape==(3,20)\n\
         r=np.linalg.norm(A-(z['U']*z['S'])@z['Vt'],2); s=np.linalg.svd(A,compute_uv=False)\nassert abs(r-s[3])<1e-8*s[0], (r, s[3])\n\
         p=np.load({pc:?})\nassert np.allclose(p['mean'], A.mean(0))\nassert np.load({sk:?}).shape==(5,20)\nprint('numpy ok')"
    );
    let out = std::process::Command::new("python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn gpu_backend_svd_matches_the_dense_svd_within_its_estimate() {
    let dir = tempdir("gpu");
    let a = low_rank_plus(128, 40, 0.6, 0.0, 13);
    let f = p(&dir, "a.npy");
    write_npy_f32(&f, &a);
    let r = linops(&["svd", &f, "-k", "5", "--backend", "gpu", "--json"]);
    if r.code != 0 {
        if std::env::var("LINOPS_REQUIRE_GPU").is_ok_and(|v| v == "1") {
            panic!("LINOPS_REQUIRE_GPU=1 but the GPU run failed: {}", r.stderr);
        }
        eprintln!("SKIP gpu_backend_svd: no GPU adapter ({})", r.stderr.trim());
        return;
    }
    let j = r.json();
    assert_eq!(j["backend"], "gpu");
    assert_eq!(j["dtype"], "f32");
    check_svd_against_dense(
        &rounded(&a, StDtype::F32),
        &floats(&j["singular_values"]),
        j["error_estimate"].as_f64().unwrap(),
        "gpu",
    );
    // Past memory on the GPU too.
    let j = linops(&[
        "svd",
        &f,
        "-k",
        "5",
        "--backend",
        "gpu",
        "--json",
        "--stream",
        "--mem",
        "128K",
    ])
    .json();
    assert_eq!(j["mode"], "multi-pass");
    check_svd_against_dense(
        &rounded(&a, StDtype::F32),
        &floats(&j["singular_values"]),
        j["error_estimate"].as_f64().unwrap(),
        "gpu streamed",
    );
}

#[test]
fn big_endian_npy_reads_as_the_little_endian_one() {
    let dir = tempdir("endian");
    let a = low_rank_plus(30, 12, 0.5, 0.0, 14);
    let (le, be) = (p(&dir, "le.npy"), p(&dir, "be.npy"));
    write_npy(&le, &a, false);
    // The same array as NumPy writes `a.astype('>f8')`: the header's descr and every 8-byte word
    // swapped (the header length is unchanged).
    let bytes = std::fs::read(&le).unwrap();
    let hlen = 10 + u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = String::from_utf8(bytes[10..hlen].to_vec())
        .unwrap()
        .replace("'<f8'", "'>f8'");
    let mut out = bytes[..10].to_vec();
    out.extend_from_slice(header.as_bytes());
    for w in bytes[hlen..].chunks_exact(8) {
        out.extend(w.iter().rev());
    }
    std::fs::write(&be, out).unwrap();
    assert_eq!(
        linops(&["info", &be, "--json"]).json()["shape"],
        serde_json::json!([30, 12])
    );
    let run = |f: &str| {
        linops(&["svd", f, "-k", "3", "--backend", "cpu", "--json"]).json()["singular_values"]
            .clone()
    };
    assert_eq!(run(&be), run(&le));
}

#[test]
fn auto_backend_skips_a_software_adapter_and_keeps_stderr_quiet() {
    let dir = tempdir("auto");
    let f = p(&dir, "a.npy");
    write_npy(&f, &Rng::new(15).mat(40, 10), false);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_linops"))
        .args(["svd", &f, "-k", "2", "--json"])
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("LINOPS_BACKEND")
        .env_remove("LINOPS_ADAPTER")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let device = j["device"].as_str().unwrap().to_ascii_lowercase();
    assert!(
        j["backend"] == "cpu" || !(device.contains("llvmpipe") || device.contains("lavapipe")),
        "auto chose the software adapter {device}"
    );
    assert!(
        out.stderr.is_empty(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// In-memory work shows a spinner with its stage and elapsed time on a terminal (run under
/// `script`, which gives the command a pseudo-terminal; `LINOPS_PROGRESS_DELAY_MS=0` draws at
/// once instead of after a second), and nothing with `--quiet` or when stderr is a pipe.
#[test]
fn in_memory_work_shows_a_spinner_on_a_terminal_only() {
    let has_script = std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_script {
        eprintln!(
            "SKIPPED in_memory_work_shows_a_spinner_on_a_terminal_only: no `script` (util-linux) to open a pseudo-terminal"
        );
        return;
    }
    let dir = tempdir("spinner");
    let f = p(&dir, "a.npy");
    write_npy(&f, &Rng::new(40).mat(600, 400), false);
    let bin = env!("CARGO_BIN_EXE_linops");
    let on_tty = |extra: &str| -> String {
        let cmd = format!("{bin} svd {f} -k 40 --krylov --power 6 --backend cpu {extra}");
        let out = std::process::Command::new("script")
            .args(["-qec", &cmd, "/dev/null"])
            .env("LINOPS_PROGRESS_DELAY_MS", "0")
            .env("XDG_RUNTIME_DIR", std::env::temp_dir())
            .output()
            .expect("run script");
        assert!(out.status.success(), "{cmd}: {out:?}");
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let shown = on_tty("");
    assert!(
        shown.contains(&format!("block Krylov SVD of {f}")),
        "no spinner on the terminal: {shown:?}"
    );
    assert!(shown.contains("singular_values"), "the summary follows");
    let quiet = on_tty("--quiet");
    assert!(!quiet.contains("Krylov SVD of"), "--quiet drew: {quiet:?}");
    // A pipe (the other tests' stderr): no spinner, whatever the delay.
    let out = std::process::Command::new(bin)
        .args(["svd", &f, "-k", "40", "--krylov", "--backend", "cpu"])
        .env("LINOPS_PROGRESS_DELAY_MS", "0")
        .output()
        .expect("run linops");
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stderr), "", "stderr is a pipe");
}

/// A weight matrix shaped like a trained layer's (a Marchenko–Pastur bulk, i.e. a Gaussian
/// `m×n` block scaled by `1/√n`, plus four spikes of 6, 4, 3 and 2.5: the spectrum Martin &
/// Mahoney report for trained weights), stored in BF16 and F32 as a checkpoint would hold it. NumPy
/// reads the same tensors from the `.safetensors` bytes (its own header parser: 8-byte length,
/// JSON, raw data; BF16 widened by a 16-bit shift) and checks `linops svd`: each `σ_i` within the
/// driver's error estimate of NumPy's (Weyl: `|σ_i(UΣVᵀ) − σ_i(W)| ≤ ‖W − UΣVᵀ‖₂`), and the
/// residual `‖W − UΣVᵀ‖₂` computed by NumPy below the estimate (the stated bound, probability
/// ≥ 99%).
#[test]
fn svd_of_a_safetensors_weight_matrix_matches_numpys_svd_within_its_estimate() {
    if !numpy() {
        eprintln!(
            "SKIP svd_of_a_safetensors_weight_matrix_matches_numpys_svd_within_its_estimate: python3 with numpy is not installed"
        );
        return;
    }
    let dir = tempdir("weights");
    let (m, n) = (256, 128);
    let mut rng = Rng::new(41);
    let bulk = rng.mat(m, n);
    let u = rng.mat(m, 4).qr().compute_thin_Q();
    let v = rng.mat(n, 4).qr().compute_thin_Q();
    let spikes = [6.0, 4.0, 3.0, 2.5];
    // Uniform on [-1, 1) has variance 1/3: scale by √3/√n for a unit-variance bulk over √n.
    let scale = 3f64.sqrt() / (n as f64).sqrt();
    let w = Mat::from_fn(m, n, |i, j| {
        bulk[(i, j)] * scale
            + (0..4)
                .map(|t| u[(i, t)] * spikes[t] * v[(j, t)])
                .sum::<f64>()
    });
    let f = p(&dir, "model.safetensors");
    write_safetensors(
        &f,
        &[
            ("mlp.down.weight", &w, StDtype::Bf16),
            ("attn.q.weight", &w, StDtype::F32),
        ],
    );
    for tensor in ["mlp.down.weight", "attn.q.weight"] {
        let out = p(&dir, &format!("{tensor}.npz"));
        let j = linops(&[
            "svd",
            &format!("{f}:{tensor}"),
            "-k",
            "8",
            "--backend",
            "cpu",
            "--json",
            "--out",
            &out,
        ])
        .json();
        let est = j["error_estimate"].as_f64().unwrap();
        let script = format!(
            r#"import json, struct, numpy as np
raw = open({f:?}, "rb").read()
hlen = struct.unpack("<Q", raw[:8])[0]
meta = json.loads(raw[8:8 + hlen])[{tensor:?}]
b0, b1 = meta["data_offsets"]
data = raw[8 + hlen + b0: 8 + hlen + b1]
if meta["dtype"] == "BF16":
    W = (np.frombuffer(data, "<u2").astype(np.uint32) << 16).view(np.float32)
else:
    W = np.frombuffer(data, "<f4")
W = W.astype(np.float64).reshape(meta["shape"])
s = np.linalg.svd(W, compute_uv=False)
z = np.load({out:?})
U, S, Vt = z["U"], z["S"], z["Vt"]
est = {est}
assert U.shape == ({m}, 8) and Vt.shape == (8, {n}), (U.shape, Vt.shape)
dev = np.abs(S - s[:8]).max()
assert dev <= est, ("sigma", dev, est)
r = np.linalg.norm(W - (U * S) @ Vt, 2)
assert r <= est, ("residual", r, est)
assert s[8] <= r * (1 + 1e-12), ("the residual cannot beat sigma_9", r, s[8])
print(json.dumps({{"dev": dev, "residual": r, "est": est, "sigma9": s[8]}}))"#
        );
        let o = std::process::Command::new("python3")
            .args(["-c", &script])
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{tensor}: NumPy check failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        eprintln!("{tensor}: {}", String::from_utf8_lossy(&o.stdout).trim());
    }
}
