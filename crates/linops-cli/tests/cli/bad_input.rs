//! Every bad input of issue 11: one line `linops: <file>: <problem>`, exit status 1, no panic,
//! and no output file left behind (not even the temporary one).

use crate::support::*;
use std::path::Path;

/// Runs a command that must fail; checks the one-line message names `names` and says `says`.
fn fails(args: &[&str], names: &str, says: &str) -> String {
    let r = linops(args);
    assert_eq!(
        r.code, 1,
        "{args:?} should fail with status 1; stdout {:?} stderr {:?}",
        r.stdout, r.stderr
    );
    assert!(
        !r.stderr.contains("panicked"),
        "{args:?} panicked: {}",
        r.stderr
    );
    let lines: Vec<&str> = r.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        lines.len(),
        1,
        "{args:?}: one line expected, got {:?}",
        r.stderr
    );
    let line = lines[0];
    assert!(
        line.starts_with(&format!("linops: {names}")),
        "{args:?}: {line:?} should name {names}"
    );
    assert!(
        line.contains(says),
        "{args:?}: {line:?} should say {says:?}"
    );
    line.to_string()
}

/// No file other than `keep` in `dir` (no output, no temporary left).
fn only(dir: &Path, keep: &[&str]) {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| !keep.contains(&n.as_str()))
        .collect();
    names.sort();
    assert!(names.is_empty(), "left behind: {names:?}");
}

#[test]
fn wrong_dtype_is_named() {
    let dir = tempdir("dtype");
    let f = p(&dir, "ints.npy");
    let bytes = npy_1d(&[1i64, 2, 3, 4]);
    std::fs::write(&f, bytes).unwrap();
    fails(
        &["svd", &f, "-k", "1", "--backend", "cpu"],
        &f,
        "dtype <i8 is not supported",
    );
    let st = p(&dir, "m.safetensors");
    let raw: Vec<u8> = (0..12i32).flat_map(|v| v.to_le_bytes()).collect();
    let view =
        safetensors::tensor::TensorView::new(safetensors::Dtype::I32, vec![3, 4], &raw).unwrap();
    safetensors::serialize_to_file(vec![("w", view)], None, Path::new(&st)).unwrap();
    fails(
        &["info", &format!("{st}:w")],
        &format!("{st}:w"),
        "dtype I32 is not supported",
    );
}

#[test]
fn unknown_key_or_tensor_lists_what_the_file_has() {
    let dir = tempdir("keys");
    let a = Rng::new(30).mat(6, 4);
    let (z, st) = (p(&dir, "z.npz"), p(&dir, "m.safetensors"));
    write_npz(&z, &[("alpha", npy_of(&a)), ("beta", npy_of(&a))], false);
    write_safetensors(
        &st,
        &[("enc.w", &a, StDtype::F32), ("dec.w", &a, StDtype::F16)],
    );
    fails(
        &["svd", &format!("{z}:gamma"), "-k", "1", "--backend", "cpu"],
        &z,
        "no array named \"gamma\" in the archive (keys: alpha, beta)",
    );
    fails(
        &["svd", &z, "-k", "1", "--backend", "cpu"],
        &z,
        "name one as",
    );
    fails(
        &["svd", &format!("{st}:mid.w"), "-k", "1", "--backend", "cpu"],
        &st,
        "no tensor named \"mid.w\" (tensors: dec.w, enc.w)",
    );
}

#[test]
fn k_larger_than_the_matrix_is_refused_before_any_work() {
    let dir = tempdir("bigk");
    let f = p(&dir, "a.npy");
    write_npy(&f, &Rng::new(31).mat(10, 4), false);
    fails(
        &["svd", &f, "-k", "5", "--backend", "cpu"],
        "-k",
        "k = 5 must lie in 1..=4 for the 10x4 matrix",
    );
    fails(
        &["pca", &f, "-k", "0", "--backend", "cpu"],
        "-k",
        "must lie in 1..=4",
    );
    fails(
        &[
            "sketch",
            &f,
            "--kind",
            "gaussian",
            "--dim",
            "11",
            "--backend",
            "cpu",
        ],
        "--dim",
        "d = 11 must lie in 1..=10",
    );
}

#[test]
fn truncated_and_corrupt_files_are_named() {
    let dir = tempdir("corrupt");
    let f = p(&dir, "a.npy");
    write_npy(&f, &Rng::new(32).mat(20, 5), false);
    let bytes = std::fs::read(&f).unwrap();
    let t = p(&dir, "t.npy");
    std::fs::write(&t, &bytes[..bytes.len() - 100]).unwrap();
    fails(
        &["svd", &t, "-k", "2", "--backend", "cpu"],
        &t,
        "truncated: the header says 20x5 f64 (800 bytes of data) but only 700 bytes follow",
    );
    let g = p(&dir, "garbage.npy");
    std::fs::write(&g, b"this is not numpy at all").unwrap();
    fails(&["info", &g], &g, "not a valid .npy file");
    let z = p(&dir, "garbage.npz");
    std::fs::write(&z, b"PK but not really a zip").unwrap();
    fails(&["info", &z], &z, "not a valid .npz (zip) archive");
    let st = p(&dir, "garbage.safetensors");
    std::fs::write(&st, [255u8; 64]).unwrap();
    fails(
        &["svd", &st, "-k", "1", "--backend", "cpu"],
        &st,
        "not a valid .safetensors file",
    );
    fails(
        &[
            "svd",
            &p(&dir, "missing.npy"),
            "-k",
            "1",
            "--backend",
            "cpu",
        ],
        &p(&dir, "missing.npy"),
        "No such file",
    );
    let txt = p(&dir, "a.csv");
    std::fs::write(&txt, "1,2\n").unwrap();
    fails(&["info", &txt], &txt, "unknown file type");
}

#[test]
fn nan_in_the_data_is_named_by_position_and_leaves_no_output() {
    let dir = tempdir("nan");
    let mut a = Rng::new(33).mat(300, 8);
    a[(287, 3)] = f64::NAN;
    let f = p(&dir, "a.npy");
    write_npy(&f, &a, false);
    let out = p(&dir, "o.npz");
    fails(
        &["svd", &f, "-k", "2", "--backend", "cpu", "--out", &out],
        &f,
        "NaN at row 287, column 3",
    );
    only(&dir, &["a.npy"]);
    // Streaming: the NaN is met in a late panel, after the output file was opened.
    fails(
        &[
            "svd",
            &f,
            "-k",
            "2",
            "--backend",
            "cpu",
            "--stream",
            "--mem",
            "32K",
            "--out",
            &out,
        ],
        &f,
        "NaN at row 287, column 3",
    );
    only(&dir, &["a.npy"]);
    fails(
        &[
            "sketch",
            &f,
            "--kind",
            "srht",
            "--side",
            "right",
            "--dim",
            "4",
            "--backend",
            "cpu",
            "--stream",
            "--mem",
            "32K",
            "--out",
            &p(&dir, "s.npy"),
        ],
        &f,
        "NaN at row 287",
    );
    only(&dir, &["a.npy"]);
    // A Fortran-order file read in panels of rows gathered from its columns: the same position.
    let fo = p(&dir, "f.npy");
    write_npy(&fo, &a, true);
    for cmd in ["svd", "pca"] {
        fails(
            &[
                cmd,
                &fo,
                "-k",
                "2",
                "--backend",
                "cpu",
                "--stream",
                "--mem",
                "32K",
                "--out",
                &out,
            ],
            &fo,
            "NaN at row 287, column 3",
        );
    }
    only(&dir, &["a.npy", "f.npy"]);
}

#[test]
fn unwritable_output_is_named_and_nothing_is_left() {
    let dir = tempdir("unwritable");
    let f = p(&dir, "a.npy");
    write_npy(&f, &Rng::new(34).mat(30, 6), false);
    let bad = "/nonexistent-linops-dir/o.npz";
    fails(
        &["svd", &f, "-k", "2", "--backend", "cpu", "--out", bad],
        bad,
        "cannot write",
    );
    fails(
        &[
            "svd",
            &f,
            "-k",
            "2",
            "--backend",
            "cpu",
            "--out",
            &p(&dir, "o.txt"),
        ],
        &p(&dir, "o.txt"),
        "output must end in .npy or .npz",
    );
    fails(
        &[
            "svd",
            &f,
            "-k",
            "2",
            "--backend",
            "cpu",
            "--out",
            &p(&dir, "o.npy"),
        ],
        &p(&dir, "o.npy"),
        "use an .npz output",
    );
    only(&dir, &["a.npy"]);
}

#[test]
fn bad_options_are_named() {
    let dir = tempdir("options");
    let f = p(&dir, "a.npy");
    write_npy(&f, &Rng::new(35).mat(30, 6), false);
    fails(
        &["svd", &f, "-k", "2", "--backend", "cpu", "--mem", "lots"],
        "--mem",
        "\"lots\" is not a size",
    );
    fails(
        &[
            "svd",
            &f,
            "-k",
            "2",
            "--backend",
            "cpu",
            "--stream",
            "--mem",
            "1K",
        ],
        "--mem",
        "is below the",
    );
    fails(
        &["trace", &f, "--backend", "cpu"],
        &f,
        "trace needs a square matrix, got 30x6",
    );
    fails(
        &["lstsq", &f, &f, "--backend", "cpu"],
        &f,
        "the right-hand side must have 30 entries",
    );
}

#[test]
fn nan_in_sparse_data_and_f64_on_the_gpu_are_refused() {
    let dir = tempdir("sparsenan");
    let a = linops::faer::Mat::from_fn(6, 4, |i, j| if (i + j) % 3 == 0 { f64::NAN } else { 0.0 });
    let f = p(&dir, "s.npz");
    write_scipy_sparse(&f, &a, "csr");
    fails(
        &["svd", &f, "-k", "1", "--backend", "cpu"],
        &f,
        "NaN in the sparse data at entry 0",
    );
    // --dtype f64 on the GPU engine: refused by name when a GPU exists (skipped otherwise).
    let g = p(&dir, "g.npy");
    write_npy(&g, &Rng::new(36).mat(8, 4), false);
    let r = linops(&["svd", &g, "-k", "1", "--backend", "gpu", "--dtype", "f64"]);
    if r.stderr.contains("--backend gpu") {
        eprintln!(
            "SKIP the f64-on-GPU case: no GPU adapter ({})",
            r.stderr.trim()
        );
    } else {
        fails(
            &["svd", &g, "-k", "1", "--backend", "gpu", "--dtype", "f64"],
            "--dtype f64",
            "the GPU backend computes in f32",
        );
    }
}

/// PCA centers the columns, so past memory it reads panels of rows; when one row of a wide
/// (Fortran-order) file and its sketch blocks exceed `--mem`, the error names `--mem`, says what
/// is read and how much is needed, and leaves no output.
#[test]
fn pca_past_memory_of_a_wide_fortran_file_below_the_budget_is_refused_by_name() {
    let dir = tempdir("pcawide");
    let a = Rng::new(31).mat(20, 3000);
    let (f, out) = (p(&dir, "w.npy"), p(&dir, "p.npz"));
    write_npy(&f, &a, true);
    let line = fails(
        &[
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
            &out,
        ],
        "--mem",
        "raise --mem",
    );
    assert!(
        line.contains("panels of rows of 3000 entries"),
        "{line:?} should say what is read"
    );
    only(&dir, &["w.npy"]);
}
