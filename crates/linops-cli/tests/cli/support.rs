//! Test support: seeded matrices, writers of `.npy`/`.npz`/`.safetensors`/SciPy sparse files,
//! a runner for the `linops` binary, and readers of its outputs.

use linops::faer::Mat;
use npyz::WriterBuilder;
use serde_json::Value;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

/// SplitMix64 (Steele, Lea and Flood 2014): seeded test inputs.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [-1, 1), exactly representable in f32.
    pub fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 40) as f64 / (1u64 << 24) as f64) * 2.0 - 1.0
    }
    pub fn mat(&mut self, rows: usize, cols: usize) -> Mat<f64> {
        Mat::from_fn(rows, cols, |_, _| self.uniform())
    }
}

/// `m×n` with singular values `decay^i` (times `scale`) and random singular vectors, plus `shift`
/// in every entry (so PCA's centering matters).
pub fn low_rank_plus(m: usize, n: usize, decay: f64, shift: f64, seed: u64) -> Mat<f64> {
    let mut rng = Rng::new(seed);
    let r = m.min(n);
    let u = rng.mat(m, r).qr().compute_thin_Q();
    let v = rng.mat(n, r).qr().compute_thin_Q();
    Mat::from_fn(m, n, |i, j| {
        shift
            + (0..r)
                .map(|t| u[(i, t)] * decay.powi(t as i32) * v[(j, t)])
                .sum::<f64>()
    })
}

/// A fresh directory for one test.
pub fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("linops-cli-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

pub fn p(dir: &Path, name: &str) -> String {
    dir.join(name).display().to_string()
}

/// The C-order (or Fortran-order) entries of `a`.
fn entries(a: &Mat<f64>, fortran: bool) -> Vec<f64> {
    let (m, n) = (a.nrows(), a.ncols());
    if fortran {
        (0..n)
            .flat_map(|j| (0..m).map(move |i| a[(i, j)]))
            .collect()
    } else {
        (0..m)
            .flat_map(|i| (0..n).map(move |j| a[(i, j)]))
            .collect()
    }
}

fn npy_bytes_f64(a: &Mat<f64>, fortran: bool) -> Vec<u8> {
    let mut buf = Vec::new();
    {
        let order = if fortran {
            npyz::Order::Fortran
        } else {
            npyz::Order::C
        };
        let mut w = npyz::WriteOptions::<f64>::new()
            .default_dtype()
            .shape(&[a.nrows() as u64, a.ncols() as u64])
            .order(order)
            .writer(&mut buf)
            .begin_nd()
            .expect("npy writer");
        for v in entries(a, fortran) {
            w.push(&v).expect("push");
        }
        w.finish().expect("finish");
    }
    buf
}

/// Writes `a` as an f64 `.npy` (C or Fortran order).
pub fn write_npy(path: &str, a: &Mat<f64>, fortran: bool) {
    std::fs::write(path, npy_bytes_f64(a, fortran)).expect("write npy");
}

/// Writes `a` rounded to f32 as a C-order `.npy`.
pub fn write_npy_f32(path: &str, a: &Mat<f64>) {
    let mut buf = Vec::new();
    {
        let mut w = npyz::WriteOptions::<f32>::new()
            .default_dtype()
            .shape(&[a.nrows() as u64, a.ncols() as u64])
            .writer(&mut buf)
            .begin_nd()
            .expect("npy writer");
        for v in entries(a, false) {
            w.push(&(v as f32)).expect("push");
        }
        w.finish().expect("finish");
    }
    std::fs::write(path, buf).expect("write npy");
}

/// Writes a 1-D f64 `.npy`.
pub fn write_vec(path: &str, v: &[f64]) {
    let mut buf = Vec::new();
    {
        let mut w = npyz::WriteOptions::<f64>::new()
            .default_dtype()
            .shape(&[v.len() as u64])
            .writer(&mut buf)
            .begin_nd()
            .expect("npy writer");
        for x in v {
            w.push(x).expect("push");
        }
        w.finish().expect("finish");
    }
    std::fs::write(path, buf).expect("write npy");
}

/// Writes raw `.npy` members into an `.npz` (stored or deflated).
pub fn write_npz(path: &str, members: &[(&str, Vec<u8>)], deflate: bool) {
    let f = std::fs::File::create(path).expect("create npz");
    let mut z = zip::ZipWriter::new(f);
    let method = if deflate {
        zip::CompressionMethod::Deflated
    } else {
        zip::CompressionMethod::Stored
    };
    for (name, bytes) in members {
        let o = zip::write::SimpleFileOptions::default().compression_method(method);
        z.start_file(format!("{name}.npy"), o).expect("member");
        z.write_all(bytes).expect("write member");
    }
    z.finish().expect("finish npz");
}

/// `.npy` bytes of a matrix (f64, C order).
pub fn npy_of(a: &Mat<f64>) -> Vec<u8> {
    npy_bytes_f64(a, false)
}

/// `.npy` bytes of a 1-D array of any npyz-serializable type.
pub fn npy_1d<T: npyz::AutoSerialize>(v: &[T]) -> Vec<u8> {
    let mut buf = Vec::new();
    {
        let mut w = npyz::WriteOptions::<T>::new()
            .default_dtype()
            .shape(&[v.len() as u64])
            .writer(&mut buf)
            .begin_nd()
            .expect("npy writer");
        for x in v {
            w.push(x).expect("push");
        }
        w.finish().expect("finish");
    }
    buf
}

/// `.npy` bytes of SciPy's `format` member (a 0-d `|S3` array).
pub fn npy_format(fmt: &str) -> Vec<u8> {
    let header = format!(
        "{{'descr': '|S{}', 'fortran_order': False, 'shape': (), }}",
        fmt.len()
    );
    let mut h = header.into_bytes();
    while (10 + h.len() + 1) % 64 != 0 {
        h.push(b' ');
    }
    h.push(b'\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(h.len() as u16).to_le_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(fmt.as_bytes());
    out
}

/// Writes `a` as SciPy's `save_npz` does (`format` csr or csc; explicit zeros dropped).
pub fn write_scipy_sparse(path: &str, a: &Mat<f64>, format: &str) {
    let (m, n) = (a.nrows(), a.ncols());
    let (major, minor) = if format == "csr" { (m, n) } else { (n, m) };
    let mut indptr = vec![0i32];
    let mut indices = Vec::new();
    let mut data = Vec::new();
    for p in 0..major {
        for q in 0..minor {
            let v = if format == "csr" {
                a[(p, q)]
            } else {
                a[(q, p)]
            };
            if v != 0.0 {
                indices.push(q as i32);
                data.push(v);
            }
        }
        indptr.push(indices.len() as i32);
    }
    write_npz(
        path,
        &[
            ("indices", npy_1d(&indices)),
            ("indptr", npy_1d(&indptr)),
            ("format", npy_format(format)),
            ("shape", npy_1d(&[m as i64, n as i64])),
            ("data", npy_1d(&data)),
        ],
        false,
    );
}

/// Element types of a `.safetensors` test file.
#[derive(Clone, Copy, Debug)]
pub enum StDtype {
    F16,
    Bf16,
    F32,
    F64,
}

/// `a` rounded to `dt` and back to f64 (the matrix the CLI sees).
pub fn rounded(a: &Mat<f64>, dt: StDtype) -> Mat<f64> {
    Mat::from_fn(a.nrows(), a.ncols(), |i, j| {
        let v = a[(i, j)];
        match dt {
            StDtype::F16 => half::f16::from_f64(v).to_f64(),
            StDtype::Bf16 => half::bf16::from_f64(v).to_f64(),
            StDtype::F32 => f64::from(v as f32),
            StDtype::F64 => v,
        }
    })
}

/// Writes tensors (row-major) to a `.safetensors` file.
pub fn write_safetensors(path: &str, tensors: &[(&str, &Mat<f64>, StDtype)]) {
    let mut owned: Vec<(String, safetensors::Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    for (name, a, dt) in tensors {
        let e = entries(a, false);
        let (dtype, bytes): (safetensors::Dtype, Vec<u8>) = match dt {
            StDtype::F16 => (
                safetensors::Dtype::F16,
                e.iter()
                    .flat_map(|v| half::f16::from_f64(*v).to_le_bytes())
                    .collect(),
            ),
            StDtype::Bf16 => (
                safetensors::Dtype::BF16,
                e.iter()
                    .flat_map(|v| half::bf16::from_f64(*v).to_le_bytes())
                    .collect(),
            ),
            StDtype::F32 => (
                safetensors::Dtype::F32,
                e.iter().flat_map(|v| (*v as f32).to_le_bytes()).collect(),
            ),
            StDtype::F64 => (
                safetensors::Dtype::F64,
                e.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ),
        };
        owned.push((name.to_string(), dtype, vec![a.nrows(), a.ncols()], bytes));
    }
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = owned
        .iter()
        .map(|(n, d, s, b)| {
            (
                n.clone(),
                safetensors::tensor::TensorView::new(*d, s.clone(), b).expect("view"),
            )
        })
        .collect();
    safetensors::serialize_to_file(views, None, Path::new(path)).expect("write safetensors");
}

/// What one run of the binary gave.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The `--json` summary (the last stdout line).
    pub fn json(&self) -> Value {
        assert_eq!(self.code, 0, "linops failed: {}", self.stderr);
        let line = self.stdout.lines().last().unwrap_or("");
        serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"))
    }
}

/// Runs `linops ARGS` (on the CPU unless the arguments say otherwise).
pub fn linops(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_linops"))
        .args(args)
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .output()
        .expect("run linops");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).to_string(),
    }
}

/// An array read back from an `.npy` file or an `.npz` member: shape and C-order entries.
pub struct Array {
    pub shape: Vec<usize>,
    pub data: Vec<f64>,
}

impl Array {
    /// As a matrix (a 1-D array is one column).
    pub fn mat(&self) -> Mat<f64> {
        let (m, n) = match self.shape[..] {
            [m, n] => (m, n),
            [m] => (m, 1),
            _ => panic!("shape {:?}", self.shape),
        };
        Mat::from_fn(m, n, |i, j| self.data[i * n + j])
    }
}

fn parse_npy(bytes: &[u8]) -> Array {
    let f = npyz::NpyFile::new(bytes).expect("npy");
    let shape: Vec<usize> = f.shape().iter().map(|&s| s as usize).collect();
    let fortran = f.order() == npyz::Order::Fortran;
    let raw: Vec<f64> = f.into_vec().expect("f64 data");
    let data = if fortran && shape.len() == 2 {
        let (m, n) = (shape[0], shape[1]);
        (0..m)
            .flat_map(|i| (0..n).map(|j| (i, j)).collect::<Vec<_>>())
            .map(|(i, j)| raw[i + j * m])
            .collect()
    } else {
        raw
    };
    Array { shape, data }
}

/// Reads an `.npy` output.
pub fn read_npy(path: &str) -> Array {
    parse_npy(&std::fs::read(path).expect("read npy"))
}

/// Reads one member of an `.npz` output.
pub fn read_npz(path: &str, key: &str) -> Array {
    let mut z = zip::ZipArchive::new(std::fs::File::open(path).expect("open npz")).expect("zip");
    let mut e = z
        .by_name(&format!("{key}.npy"))
        .unwrap_or_else(|_| panic!("{path} has no {key}"));
    let mut v = Vec::new();
    e.read_to_end(&mut v).expect("read member");
    parse_npy(&v)
}

/// Singular values of a dense matrix (faer, f64).
pub fn singular_values(a: &Mat<f64>) -> Vec<f64> {
    a.singular_values().expect("faer svd")
}

/// `‖A − U·diag(s)·Vt‖₂` (largest singular value of the residual).
pub fn residual_2norm(a: &Mat<f64>, u: &Mat<f64>, s: &[f64], vt: &Mat<f64>) -> f64 {
    let r = Mat::from_fn(a.nrows(), a.ncols(), |i, j| {
        a[(i, j)]
            - (0..s.len())
                .map(|t| u[(i, t)] * s[t] * vt[(t, j)])
                .sum::<f64>()
    });
    singular_values(&r)[0]
}

/// The f64 entries of a JSON array.
pub fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

/// Whether `python3` with NumPy is available (the NumPy checks skip loudly otherwise).
pub fn numpy() -> bool {
    Command::new("python3")
        .args(["-c", "import numpy"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// `|σ_i(UΣVᵀ) − σ_i(A)| ≤ ‖A − UΣVᵀ‖₂` (Weyl), and the residual is bounded by the error
/// estimate (with the estimate's probability): so each approximate singular value lies within
/// the estimate of the exact one.
pub fn check_svd_against_dense(a: &Mat<f64>, s: &[f64], est: f64, what: &str) {
    let exact = singular_values(a);
    for (i, (x, y)) in s.iter().zip(&exact).enumerate() {
        assert!(
            (x - y).abs() <= est,
            "{what}: σ_{i} = {x}, exact {y}, estimate {est}"
        );
    }
}
