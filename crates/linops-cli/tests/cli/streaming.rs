//! Past memory: row panels, one read of the file per pass, `--mem`, single pass.

use crate::support::*;

#[test]
fn multi_pass_svd_reads_the_file_once_per_pass_in_panels() {
    let dir = tempdir("multipass");
    let a = low_rank_plus(400, 30, 0.7, 0.0, 21);
    let (f, out) = (p(&dir, "a.npy"), p(&dir, "o.npz"));
    write_npy(&f, &a, false);
    let j = linops(&[
        "svd",
        &f,
        "-k",
        "5",
        "--power",
        "2",
        "--backend",
        "cpu",
        "--mem",
        "96K",
        "--json",
        "--out",
        &out,
    ])
    .json();
    assert_eq!(
        j["mode"], "multi-pass",
        "the in-memory copy (400·30·16 B) is over 96K"
    );
    assert_eq!(j["passes"], 4, "q + 2 passes");
    let panel = j["panel_rows"].as_u64().unwrap();
    assert!(panel > 1 && panel < 400, "several panels: {panel}");
    assert_eq!(j["mem_budget_bytes"], 96 * 1024);
    assert!(j["peak_rss_bytes"].as_u64().unwrap() > 0);
    let s = floats(&j["singular_values"]);
    let est = j["error_estimate"].as_f64().unwrap();
    check_svd_against_dense(&a, &s, est, "multi-pass");
    let (u, vt) = (read_npz(&out, "U").mat(), read_npz(&out, "Vt").mat());
    assert!(residual_2norm(&a, &u, &s, &vt) <= est);
    // The in-memory run agrees within both estimates.
    let m = linops(&["svd", &f, "-k", "5", "--backend", "cpu", "--json"]).json();
    let sm = floats(&m["singular_values"]);
    for (x, y) in s.iter().zip(&sm) {
        assert!((x - y).abs() <= est + m["error_estimate"].as_f64().unwrap());
    }
}

#[test]
fn single_pass_reads_the_file_once_and_reports_its_error() {
    let dir = tempdir("singlepass");
    let a = low_rank_plus(400, 30, 0.5, 0.0, 22);
    let (f, out) = (p(&dir, "a.npy"), p(&dir, "o.npz"));
    write_npy(&f, &a, false);
    let j = linops(&[
        "svd",
        &f,
        "-k",
        "4",
        "--single-pass",
        "--backend",
        "cpu",
        "--mem",
        "128K",
        "--json",
        "--out",
        &out,
    ])
    .json();
    assert_eq!(j["mode"], "single-pass");
    assert_eq!(j["passes"], 1);
    let s = floats(&j["singular_values"]);
    let est = j["error_estimate"].as_f64().unwrap();
    check_svd_against_dense(&a, &s, est, "single-pass");
    let res = residual_2norm(
        &a,
        &read_npz(&out, "U").mat(),
        &s,
        &read_npz(&out, "Vt").mat(),
    );
    assert!(res <= est, "residual {res} above the estimate {est}");
    // Against the best rank-4 error σ₅: Tropp et al.'s bound is in expectation; with s = k + 10
    // and a spectrum decaying by 1/2 the single pass is within a small factor of it.
    let sigma = singular_values(&a);
    assert!(
        res <= 10.0 * sigma[4],
        "single-pass residual {res} vs σ₅ = {}",
        sigma[4]
    );
}

#[test]
fn streamed_pca_agrees_with_the_in_memory_pca() {
    let dir = tempdir("streampca");
    let a = low_rank_plus(300, 20, 0.6, 100.0, 23);
    let f = p(&dir, "a.npy");
    write_npy(&f, &a, false);
    let mem = linops(&["pca", &f, "-k", "3", "--backend", "cpu", "--json"]).json();
    for extra in [&[][..], &["--single-pass"][..]] {
        let mut args = vec![
            "pca",
            f.as_str(),
            "-k",
            "3",
            "--backend",
            "cpu",
            "--json",
            "--mem",
            "64K",
            "--stream",
        ];
        args.extend_from_slice(extra);
        let out = p(&dir, "p.npz");
        args.extend_from_slice(&["--out", &out]);
        let j = linops(&args).json();
        let est = j["error_estimate"].as_f64().unwrap() + mem["error_estimate"].as_f64().unwrap();
        for (x, y) in floats(&j["singular_values"])
            .iter()
            .zip(floats(&mem["singular_values"]))
        {
            assert!((x - y).abs() <= est, "{extra:?}: {x} vs {y}");
        }
        // The mean: a sum of 300 values near 100, rounding well below 1e-10.
        let mu = read_npz(&out, "mean").data;
        for c in 0..20 {
            let want = (0..300).map(|r| a[(r, c)]).sum::<f64>() / 300.0;
            assert!(
                (mu[c] - want).abs() <= 1e-10,
                "mean[{c}] {} vs {want}",
                mu[c]
            );
        }
        // Total variance with the first panel's shift: no cancellation against the mean of 100.
        let r = floats(&j["explained_variance_ratio"]);
        let rm = floats(&mem["explained_variance_ratio"]);
        let s = floats(&j["singular_values"]);
        let sm = floats(&mem["singular_values"]);
        for i in 0..3 {
            let total_stream = s[i] * s[i] / r[i];
            let total_mem = sm[i] * sm[i] / rm[i];
            assert!(
                (total_stream - total_mem).abs() <= 1e-9 * total_mem,
                "total variance {total_stream} vs {total_mem}"
            );
        }
    }
}

#[test]
fn fortran_order_and_f32_files_stream_too() {
    let dir = tempdir("streamlayouts");
    let a = low_rank_plus(200, 50, 0.6, 0.0, 24);
    let (fo, f32, out) = (p(&dir, "f.npy"), p(&dir, "a32.npy"), p(&dir, "o.npz"));
    write_npy(&fo, &a, true);
    write_npy_f32(&f32, &a);
    let j = linops(&[
        "svd",
        &fo,
        "-k",
        "4",
        "--backend",
        "cpu",
        "--stream",
        "--mem",
        "256K",
        "--json",
        "--out",
        &out,
    ])
    .json();
    // No --power: scikit-learn's rule, 7 power iterations for k = 4 < 0.1·min(200, 50) = 5.
    assert_eq!(
        (j["power"].as_u64(), j["passes"].as_u64()),
        (Some(7), Some(9))
    );
    // A tall matrix is read in panels of rows, gathered from the Fortran-order columns.
    assert_eq!(j["panels_of"], "rows");
    let s = floats(&j["singular_values"]);
    let est = j["error_estimate"].as_f64().unwrap();
    let (u, vt) = (read_npz(&out, "U").mat(), read_npz(&out, "Vt").mat());
    assert_eq!(
        (u.nrows(), u.ncols(), vt.nrows(), vt.ncols()),
        (200, 4, 4, 50)
    );
    assert!(residual_2norm(&a, &u, &s, &vt) <= est);
    check_svd_against_dense(&a, &s, est, "Fortran-order rows");
    // A wide one is read in panels of columns (contiguous here): Vt is the streamed factor,
    // written in Fortran order.
    let at = a.transpose().to_owned();
    let fw = p(&dir, "wide.npy");
    write_npy(&fw, &at, true);
    let j = linops(&[
        "svd",
        &fw,
        "-k",
        "4",
        "--backend",
        "cpu",
        "--stream",
        "--mem",
        "256K",
        "--json",
        "--out",
        &out,
    ])
    .json();
    assert_eq!(j["panels_of"], "columns");
    let s = floats(&j["singular_values"]);
    let est = j["error_estimate"].as_f64().unwrap();
    let (u, vt) = (read_npz(&out, "U").mat(), read_npz(&out, "Vt").mat());
    assert_eq!(
        (u.nrows(), u.ncols(), vt.nrows(), vt.ncols()),
        (50, 4, 4, 200)
    );
    assert!(residual_2norm(&at, &u, &s, &vt) <= est);
    check_svd_against_dense(&at, &s, est, "Fortran-order columns");
    let j = linops(&[
        "svd",
        &f32,
        "-k",
        "4",
        "--backend",
        "cpu",
        "--dtype",
        "f32",
        "--stream",
        "--mem",
        "128K",
        "--json",
    ])
    .json();
    check_svd_against_dense(
        &rounded(&a, StDtype::F32),
        &floats(&j["singular_values"]),
        j["error_estimate"].as_f64().unwrap(),
        "f32 streamed",
    );
}

#[test]
fn streamed_sketches_equal_the_in_memory_ones() {
    let dir = tempdir("streamsketch");
    let a = Rng::new(25).mat(500, 16);
    let f = p(&dir, "a.npy");
    write_npy(&f, &a, false);
    for (kind, side) in [
        ("gaussian", "left"),
        ("rademacher", "left"),
        ("srht", "right"),
        ("sparse-sign", "right"),
    ] {
        let (o1, o2) = (p(&dir, "m.npy"), p(&dir, "s.npy"));
        linops(&[
            "sketch",
            &f,
            "--kind",
            kind,
            "--side",
            side,
            "--dim",
            "8",
            "--backend",
            "cpu",
            "--out",
            &o1,
            "--json",
        ])
        .json();
        let j = linops(&[
            "sketch",
            &f,
            "--kind",
            kind,
            "--side",
            side,
            "--dim",
            "8",
            "--backend",
            "cpu",
            "--stream",
            "--mem",
            "32K",
            "--out",
            &o2,
            "--json",
        ])
        .json();
        assert_eq!(j["mode"], "streaming");
        let (x, y) = (read_npy(&o1).data, read_npy(&o2).data);
        assert_eq!(x.len(), y.len());
        // Left: the accumulator sums panel by panel, in another order than one product: the
        // library's stated bound 2·(m + p + 2)·u·(|S||A|)_ij with |S| ≤ 4/√d-ish Gaussians and
        // |A| ≤ 1 gives below 1e-11 here. Right: each row is computed alone, the same bits.
        let tol = if side == "left" { 1e-11 } else { 0.0 };
        for (i, (u, v)) in x.iter().zip(&y).enumerate() {
            assert!((u - v).abs() <= tol, "{kind} {side} entry {i}: {u} vs {v}");
        }
    }
}

#[test]
fn streaming_keeps_the_peak_rss_near_the_budget() {
    let dir = tempdir("rss");
    // 40,000×128 f64: 41 MB on disk, 82 MB as an in-memory copy plus the engine's. In C order
    // the rows are mapped and handed back panel by panel; in Fortran order they are gathered
    // from the columns by reads of the file, none of it mapped.
    let mut rng = Rng::new(26);
    let a = linops::faer::Mat::from_fn(40_000, 128, |_, j| rng.uniform() * 0.9f64.powi(j as i32));
    let (f, fo) = (p(&dir, "a.npy"), p(&dir, "f.npy"));
    write_npy(&f, &a, false);
    write_npy(&fo, &a, true);
    drop(a);
    for file in [&f, &fo] {
        let j = linops(&[
            "svd",
            file,
            "-k",
            "8",
            "--power",
            "1",
            "--backend",
            "cpu",
            "--mem",
            "4M",
            "--json",
        ])
        .json();
        assert_eq!(j["mode"], "multi-pass");
        assert_eq!(j["passes"], 3);
        assert_eq!(j["panels_of"], "rows");
        let (peak, base) = (
            j["peak_rss_bytes"].as_u64().unwrap(),
            j["base_rss_bytes"].as_u64().unwrap(),
        );
        // The budget covers the working set; the process's own footprint is base_rss. 8 MiB of
        // slack for what neither counts (faer's thread pool stacks, allocator slack, the pages
        // the kernel maps ahead of a sequential read): still far below the 41 MB file, so the
        // file was never resident whole.
        assert!(
            peak <= base + (4 << 20) + (8 << 20),
            "{file}: peak RSS {peak} with base {base} and --mem 4M"
        );
    }
}

/// PCA past memory on a Fortran-order file reads panels of rows gathered from its columns and
/// agrees with the in-memory PCA (singular values within both error estimates, the mean to
/// rounding), in both the multi-pass and the single-pass mode; so does the C-order file.
#[test]
fn streamed_pca_of_a_fortran_order_file_agrees_with_the_in_memory_pca() {
    let dir = tempdir("streampcaf");
    let a = low_rank_plus(600, 24, 0.6, 50.0, 27);
    let (fo, fc) = (p(&dir, "f.npy"), p(&dir, "c.npy"));
    write_npy(&fo, &a, true);
    write_npy(&fc, &a, false);
    let mem = linops(&["pca", &fo, "-k", "3", "--backend", "cpu", "--json"]).json();
    assert_eq!(mem["mode"], "in-memory");
    for extra in [&[][..], &["--single-pass"][..]] {
        let out = p(&dir, "p.npz");
        let mut args = vec![
            "pca",
            &fo,
            "-k",
            "3",
            "--backend",
            "cpu",
            "--json",
            "--mem",
            "256K",
            "--stream",
            "--out",
            &out,
        ];
        args.extend_from_slice(extra);
        let j = linops(&args).json();
        assert_eq!(j["layout"], "fortran");
        assert_eq!(j["panels_of"], "rows");
        let panel = j["panel_rows"].as_u64().unwrap();
        assert!(
            panel > 1 && panel < 600,
            "{extra:?}: several panels: {panel}"
        );
        let est = j["error_estimate"].as_f64().unwrap() + mem["error_estimate"].as_f64().unwrap();
        let (s, sm) = (
            floats(&j["singular_values"]),
            floats(&mem["singular_values"]),
        );
        for (x, y) in s.iter().zip(&sm) {
            assert!((x - y).abs() <= est, "{extra:?}: {x} vs {y} (bound {est})");
        }
        // The mean: sums of 600 values near 50, rounding far below 1e-10.
        let mu = read_npz(&out, "mean").data;
        assert_eq!(mu.len(), 24);
        for (c, got) in mu.iter().enumerate() {
            let want = (0..600).map(|r| a[(r, c)]).sum::<f64>() / 600.0;
            assert!((got - want).abs() <= 1e-10, "mean[{c}] {got} vs {want}");
        }
        let comps = read_npz(&out, "components").mat();
        assert_eq!((comps.nrows(), comps.ncols()), (3, 24));
        // The C-order file gives the same panels' values: the same answer to rounding.
        let mut cargs = args.clone();
        cargs[1] = &fc;
        cargs.retain(|x| *x != "--out" && *x != out.as_str());
        let jc = linops(&cargs).json();
        for (x, y) in s.iter().zip(floats(&jc["singular_values"])) {
            assert!(
                (x - y).abs() <= 1e-9 * sm[0],
                "{extra:?}: Fortran {x} vs C order {y}"
            );
        }
    }
}

/// Left and right sketches past memory on a Fortran-order file (panels of rows gathered from its
/// columns) equal the in-memory sketches.
#[test]
fn streamed_sketches_of_a_fortran_order_file_equal_the_in_memory_ones() {
    let dir = tempdir("streamsketchf");
    let a = Rng::new(28).mat(700, 12);
    let f = p(&dir, "f.npy");
    write_npy(&f, &a, true);
    for (kind, side) in [
        ("gaussian", "left"),
        ("rademacher", "left"),
        ("srht", "right"),
        ("gaussian", "right"),
    ] {
        let (o1, o2) = (p(&dir, "m.npy"), p(&dir, "s.npy"));
        let base = ["sketch", &f, "--kind", kind, "--side", side, "--dim", "8"];
        let mut args = base.to_vec();
        args.extend_from_slice(&["--backend", "cpu", "--json", "--out", &o1]);
        assert_eq!(linops(&args).json()["mode"], "in-memory");
        let mut args = base.to_vec();
        args.extend_from_slice(&[
            "--backend",
            "cpu",
            "--json",
            "--stream",
            "--mem",
            "256K",
            "--out",
            &o2,
        ]);
        let j = linops(&args).json();
        assert_eq!(j["mode"], "streaming");
        assert!(j["panel_rows"].as_u64().unwrap() < 700, "several panels");
        let (x, y) = (read_npy(&o1), read_npy(&o2));
        assert_eq!(x.shape, y.shape);
        // As for C order: the left accumulator sums panels in another order (bound
        // 2·(m + p + 2)·u·(|S||A|)_ij, below 1e-11 here); right rows are computed alone.
        let tol = if side == "left" { 1e-11 } else { 0.0 };
        for (i, (u, v)) in x.data.iter().zip(&y.data).enumerate() {
            assert!((u - v).abs() <= tol, "{kind} {side} entry {i}: {u} vs {v}");
        }
    }
}
