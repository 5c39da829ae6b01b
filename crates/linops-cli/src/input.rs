//! Input files: `.npy` (C or Fortran order, memory-mapped), `.npz:key`, `.safetensors:tensor`
//! (F16, BF16, F32, F64) and SciPy's sparse `.npz` (CSR or CSC, read as a CSR operator).
//!
//! **Storage.** A dense input stays in the file: `.npy`, `.safetensors` and uncompressed `.npz`
//! members are memory-mapped and read in panels of rows or of columns ([`Lines`]), each converted
//! to the compute type on the fly and checked for NaN/Inf. Lines stored contiguously (rows of a
//! C-order array, columns of a Fortran-order one) are read through the map and their pages handed
//! back to the kernel once read ([`Lines::release`]); the others are gathered by reads of the file
//! outside the map; either way a pass over a file larger than memory keeps one panel resident.
//! Members of a compressed `.npz` are inflated into memory (zip cannot be read at an offset).
//! Half types (F16, BF16) are converted panel by panel, never wholesale.
//!
//! **Checks.** Every header is checked against the bytes that follow it (a truncated file is an
//! error naming both sizes), dtypes other than little- or big-endian f16/bf16/f32/f64 are refused
//! naming the dtype, and an unknown key or tensor lists the ones the file has.

use crate::error::{CliError, CliResult};
use linops::faer::Mat;
use linops::{HostMat, Scalar};
use memmap2::Mmap;
use std::fs::File;
use std::io::Read;
use std::path::Path;

/// Element types a dense input may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Elem {
    /// IEEE half precision.
    F16,
    /// bfloat16.
    Bf16,
    /// IEEE single.
    F32,
    /// IEEE double.
    F64,
}

impl Elem {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Elem::F16 | Elem::Bf16 => 2,
            Elem::F32 => 4,
            Elem::F64 => 8,
        }
    }

    /// The NumPy-style name (`f16`, `bf16`, `f32`, `f64`).
    pub fn name(self) -> &'static str {
        match self {
            Elem::F16 => "f16",
            Elem::Bf16 => "bf16",
            Elem::F32 => "f32",
            Elem::F64 => "f64",
        }
    }
}

/// Where a dense input's bytes live.
enum Bytes {
    /// A memory-mapped file and the byte range of the array in it.
    Mapped {
        map: Mmap,
        /// The file itself, for the reads of gathered panels ([`Lines`]).
        #[cfg_attr(not(unix), allow(dead_code))]
        file: File,
        offset: usize,
        len: usize,
    },
    /// Bytes inflated from a compressed archive member.
    Owned(Vec<u8>),
}

impl Bytes {
    fn slice(&self) -> &[u8] {
        match self {
            Bytes::Mapped {
                map, offset, len, ..
            } => &map[*offset..*offset + *len],
            Bytes::Owned(v) => v,
        }
    }
}

/// A dense matrix in a file, read in panels of major lines.
pub struct Dense {
    /// The input as the user named it (`file.npz:key`).
    pub name: String,
    /// Rows of the matrix (a 1-D array is one column).
    pub rows: usize,
    /// Columns of the matrix.
    pub cols: usize,
    /// Element type in the file.
    pub elem: Elem,
    /// Big-endian elements (NumPy `>f8`).
    pub big_endian: bool,
    /// Fortran order: columns are contiguous (the major lines are columns).
    pub fortran: bool,
    /// Where the array came from: `npy`, `npz`, `safetensors`.
    pub container: &'static str,
    bytes: Bytes,
}

/// A sparse matrix from SciPy's `.npz` (`scipy.sparse.save_npz`), converted to CSR.
pub struct Sparse {
    /// The input as named.
    pub name: String,
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// The stored format (`csr` or `csc`).
    pub format: String,
    /// CSR row pointers (`rows + 1`).
    pub indptr: Vec<usize>,
    /// CSR column indices.
    pub indices: Vec<usize>,
    /// CSR values.
    pub values: Vec<f64>,
}

/// An opened input.
pub enum Source {
    /// A dense array.
    Dense(Dense),
    /// A SciPy sparse matrix.
    Sparse(Sparse),
}

impl Source {
    /// The input's name as given.
    pub fn name(&self) -> &str {
        match self {
            Source::Dense(d) => &d.name,
            Source::Sparse(s) => &s.name,
        }
    }

    /// `(rows, cols)`.
    pub fn shape(&self) -> (usize, usize) {
        match self {
            Source::Dense(d) => (d.rows, d.cols),
            Source::Sparse(s) => (s.rows, s.cols),
        }
    }

    /// The operator: a dense copy in `f64` (the library's dense op holds `f64`), or CSR.
    pub fn to_op(&self) -> CliResult<linops::Op> {
        match self {
            Source::Dense(d) => {
                let h = d.to_host()?;
                linops::Op::from_host(h).map_err(|e| CliError::lib(&d.name, e))
            }
            Source::Sparse(s) => linops::Op::csr(
                s.rows,
                s.cols,
                s.indptr.clone(),
                s.indices.clone(),
                s.values.clone(),
            )
            .map_err(|e| CliError::lib(&s.name, e)),
        }
    }

    /// The dense input, or an error saying that `what` needs one.
    pub fn dense(&self, what: &str) -> CliResult<&Dense> {
        match self {
            Source::Dense(d) => Ok(d),
            Source::Sparse(s) => Err(CliError::new(
                &s.name,
                format!(
                    "{what} needs a dense array; this is a SciPy sparse {} matrix",
                    s.format
                ),
            )),
        }
    }
}

/// One element from its file bytes, in `f64` (exact for every supported type).
fn decode(elem: Elem, big: bool, b: &[u8]) -> f64 {
    match (elem, big) {
        (Elem::F64, false) => f64::from_le_bytes(b[..8].try_into().unwrap_or([0; 8])),
        (Elem::F64, true) => f64::from_be_bytes(b[..8].try_into().unwrap_or([0; 8])),
        (Elem::F32, false) => f64::from(f32::from_le_bytes(b[..4].try_into().unwrap_or([0; 4]))),
        (Elem::F32, true) => f64::from(f32::from_be_bytes(b[..4].try_into().unwrap_or([0; 4]))),
        (Elem::F16, false) => half::f16::from_le_bytes([b[0], b[1]]).to_f64(),
        (Elem::F16, true) => half::f16::from_be_bytes([b[0], b[1]]).to_f64(),
        (Elem::Bf16, false) => half::bf16::from_le_bytes([b[0], b[1]]).to_f64(),
        (Elem::Bf16, true) => half::bf16::from_be_bytes([b[0], b[1]]).to_f64(),
    }
}

/// `cnt` lines of `n` elements of `S` bytes each as the columns of an `n×cnt` matrix, and the
/// first non-finite entry `(line, index, value)`.
fn convert<T: Num, const S: usize>(
    data: &[u8],
    n: usize,
    cnt: usize,
    f: impl Fn(&[u8; S]) -> f64,
) -> (Mat<T>, Option<(usize, usize, f64)>) {
    let mut bad = None;
    let mut m = Mat::<T>::zeros(n, cnt);
    for (i, line) in data.chunks_exact(n * S).take(cnt).enumerate() {
        for (j, b) in line.chunks_exact(S).enumerate() {
            let v = f(b.try_into().unwrap_or(&[0; S]));
            if !v.is_finite() && bad.is_none() {
                bad = Some((i, j, v));
            }
            m[(j, i)] = T::of(v);
        }
    }
    (m, bad)
}

/// Decodes one run of elements of `S` bytes into row `j` of `m` (column `i` gets the `i`-th
/// element), and returns the first non-finite entry `(i, value)`.
fn decode_run<T: Num, const S: usize>(
    run: &[u8],
    m: &mut Mat<T>,
    j: usize,
    f: impl Fn(&[u8; S]) -> f64,
) -> Option<(usize, f64)> {
    let mut bad = None;
    for (i, b) in run.chunks_exact(S).enumerate() {
        let v = f(b.try_into().unwrap_or(&[0; S]));
        if !v.is_finite() && bad.is_none() {
            bad = Some((i, v));
        }
        m[(j, i)] = T::of(v);
    }
    bad
}

/// Calls `conv::<T, SIZE>(args.., decode)` with the element decoder of `(elem, big_endian)`: one
/// monomorphized loop per element type.
macro_rules! by_elem {
    ($elem:expr, $big:expr, $conv:ident($($arg:expr),*)) => {
        match ($elem, $big) {
            (Elem::F64, false) => $conv::<T, 8>($($arg,)* |b| f64::from_le_bytes(*b)),
            (Elem::F64, true) => $conv::<T, 8>($($arg,)* |b| f64::from_be_bytes(*b)),
            (Elem::F32, false) => $conv::<T, 4>($($arg,)* |b| f64::from(f32::from_le_bytes(*b))),
            (Elem::F32, true) => $conv::<T, 4>($($arg,)* |b| f64::from(f32::from_be_bytes(*b))),
            (Elem::F16, false) => $conv::<T, 2>($($arg,)* |b| half::f16::from_le_bytes(*b).to_f64()),
            (Elem::F16, true) => $conv::<T, 2>($($arg,)* |b| half::f16::from_be_bytes(*b).to_f64()),
            (Elem::Bf16, false) => {
                $conv::<T, 2>($($arg,)* |b| half::bf16::from_le_bytes(*b).to_f64())
            }
            (Elem::Bf16, true) => {
                $conv::<T, 2>($($arg,)* |b| half::bf16::from_be_bytes(*b).to_f64())
            }
        }
    };
}

/// The lines a pass over a dense input reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Axis {
    /// Rows of the matrix.
    Rows,
    /// Columns of the matrix.
    Cols,
}

/// A dense input read in panels of rows or of columns, whatever its order in the file.
///
/// Lines stored contiguously (rows of a C-order file, columns of a Fortran-order one) are read
/// sequentially from the memory map; the other lines are gathered as one contiguous run of `cnt`
/// elements from each stored line, read with `pread` rather than through the map (a fault in the
/// map brings in whole page-cache folios around it, far more than the run, which would count in
/// the resident set), so a panel of `cnt` lines costs `stored lines` reads of `cnt·size` bytes
/// and keeps nothing of the file resident.
#[derive(Clone, Copy)]
pub struct Lines<'a> {
    /// The input.
    pub d: &'a Dense,
    /// Which lines a panel holds.
    pub axis: Axis,
}

impl Lines<'_> {
    /// Whether the lines are contiguous in the file.
    pub fn contiguous(&self) -> bool {
        self.axis == self.d.stored_axis()
    }

    /// Number of lines (rows or columns of the matrix).
    pub fn count(&self) -> usize {
        match self.axis {
            Axis::Rows => self.d.rows,
            Axis::Cols => self.d.cols,
        }
    }

    /// Entries per line.
    pub fn len(&self) -> usize {
        match self.axis {
            Axis::Rows => self.d.cols,
            Axis::Cols => self.d.rows,
        }
    }

    /// Lines `p0 .. p0 + cnt` as the columns of a `len × cnt` matrix in `T` (a panel of rows
    /// `A[p0..p0+cnt, :]` comes back transposed).
    ///
    /// # Errors
    /// A NaN or ±Inf entry, named by its row and column.
    pub fn panel_t<T: Num>(&self, p0: usize, cnt: usize) -> CliResult<Mat<T>> {
        if self.contiguous() {
            self.d.major_panel_t(p0, cnt)
        } else {
            self.d.minor_panel_t(p0, cnt)
        }
    }

    /// Hands the mapped pages of lines `p0 .. p0 + cnt` back to the kernel (re-read from the
    /// file if touched again), so that one pass over a large file keeps one panel resident.
    /// Gathered lines are read without the map: nothing to release.
    pub fn release(&self, p0: usize, cnt: usize) {
        if self.contiguous() {
            let line = self.d.minors() * self.d.elem.size();
            self.d.release_bytes(p0 * line, (p0 + cnt) * line);
        }
    }
}

/// `f32` and `f64`, converted from `f64` (rounding to nearest for `f32`).
pub trait Num: Scalar {
    /// `v` in this type.
    fn of(v: f64) -> Self;
    /// `self` widened to `f64` (exact).
    fn wide(self) -> f64;
}

impl Num for f32 {
    fn of(v: f64) -> Self {
        v as f32
    }
    fn wide(self) -> f64 {
        f64::from(self)
    }
}

impl Num for f64 {
    fn of(v: f64) -> Self {
        v
    }
    fn wide(self) -> f64 {
        self
    }
}

impl Dense {
    /// Number of major lines (rows for C order, columns for Fortran order).
    pub fn majors(&self) -> usize {
        if self.fortran { self.cols } else { self.rows }
    }

    /// Length of one major line.
    pub fn minors(&self) -> usize {
        if self.fortran { self.rows } else { self.cols }
    }

    /// Size of the array's data in bytes.
    pub fn data_bytes(&self) -> usize {
        self.rows * self.cols * self.elem.size()
    }

    fn nonfinite(&self, major: usize, minor: usize, v: f64) -> CliError {
        let (i, j) = if self.fortran {
            (minor, major)
        } else {
            (major, minor)
        };
        CliError::new(
            &self.name,
            format!("{v} at row {i}, column {j} (linops needs finite data)"),
        )
    }

    /// Which lines are contiguous in the file: rows (C order) or columns (Fortran order).
    pub fn stored_axis(&self) -> Axis {
        if self.fortran { Axis::Cols } else { Axis::Rows }
    }

    /// A view that reads this matrix in panels of `axis` lines (rows or columns), whatever the
    /// file's order.
    pub fn lines(&self, axis: Axis) -> Lines<'_> {
        Lines { d: self, axis }
    }

    /// The major lines `p0 .. p0 + cnt` as the columns of a `minors × cnt` matrix in `T` (so a
    /// C-order panel of rows `A[p0..p0+cnt, :]` comes back transposed, read sequentially).
    ///
    /// # Errors
    /// A NaN or ±Inf entry, named by its row and column.
    fn major_panel_t<T: Num>(&self, p0: usize, cnt: usize) -> CliResult<Mat<T>> {
        let n = self.minors();
        let sz = self.elem.size();
        let bytes = self.bytes.slice();
        let start = p0 * n * sz;
        let data = &bytes[start..start + cnt * n * sz];
        // One monomorphized loop per element type: the conversion is the hot loop of a pass.
        let (m, bad) = by_elem!(self.elem, self.big_endian, convert(data, n, cnt));
        if let Some((i, j, v)) = bad {
            return Err(self.nonfinite(p0 + i, j, v));
        }
        Ok(m)
    }

    /// The minor lines `p0 .. p0 + cnt` (columns of a C-order file, rows of a Fortran-order one)
    /// as the columns of a `majors × cnt` matrix in `T`: one contiguous run of `cnt` elements
    /// from each major line.
    ///
    /// # Errors
    /// A NaN or ±Inf entry, named by its row and column.
    fn minor_panel_t<T: Num>(&self, p0: usize, cnt: usize) -> CliResult<Mat<T>> {
        let (majors, minors, sz) = (self.majors(), self.minors(), self.elem.size());
        let mut m = Mat::<T>::zeros(majors, cnt);
        let mut buf = vec![0u8; cnt * sz];
        for j in 0..majors {
            let start = (j * minors + p0) * sz;
            let run = self.run_at(start, &mut buf)?;
            if let Some((i, v)) = by_elem!(self.elem, self.big_endian, decode_run(run, &mut m, j)) {
                return Err(self.nonfinite(j, p0 + i, v));
            }
        }
        Ok(m)
    }

    /// The `buf.len()` bytes of the array from byte `start`: read from the file into `buf` (not
    /// through the map, see [`Lines`]) on Unix, else sliced from the map.
    fn run_at<'a>(&'a self, start: usize, buf: &'a mut [u8]) -> CliResult<&'a [u8]> {
        match &self.bytes {
            #[cfg(unix)]
            Bytes::Mapped { file, offset, .. } => {
                use std::os::unix::fs::FileExt;
                file.read_exact_at(buf, (offset + start) as u64)
                    .map_err(|e| CliError::io(&self.name, e))?;
                Ok(buf)
            }
            _ => Ok(&self.bytes.slice()[start..start + buf.len()]),
        }
    }

    /// Hands the pages of the byte range `lo .. hi` of the array (rounded inwards to pages)
    /// back to the kernel; they are re-read from the file if touched again.
    fn release_bytes(&self, lo: usize, hi: usize) {
        if let Bytes::Mapped { map, offset, .. } = &self.bytes {
            let page = 4096;
            let lo = (offset + lo).next_multiple_of(page);
            let hi = (offset + hi) / page * page;
            if hi > lo {
                // SAFETY: the map is a read-only shared mapping of a file: MADV_DONTNEED drops
                // its resident pages, and a later access faults them in again from the file, so
                // no data is lost and no live reference can observe a change.
                let _ = unsafe {
                    map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, lo, hi - lo)
                };
            }
        }
    }

    /// The whole matrix as a column-major `f64` host matrix (the in-memory path).
    ///
    /// # Errors
    /// NaN/Inf entries, named by position.
    pub fn to_host(&self) -> CliResult<HostMat> {
        let (m, n) = (self.rows, self.cols);
        let sz = self.elem.size();
        let bytes = self.bytes.slice();
        let mut bad: Option<(usize, usize, f64)> = None;
        let (elem, big, fortran) = (self.elem, self.big_endian, self.fortran);
        let h = HostMat::from_fn(m, n, |i, j| {
            let o = if fortran { i + j * m } else { i * n + j } * sz;
            let v = decode(elem, big, &bytes[o..o + sz]);
            if !v.is_finite() && bad.is_none() {
                bad = Some((i, j, v));
            }
            v
        });
        if let Some((i, j, v)) = bad {
            return Err(CliError::new(
                &self.name,
                format!("{v} at row {i}, column {j} (linops needs finite data)"),
            ));
        }
        Ok(h)
    }

    /// The whole matrix as a faer matrix in `T`.
    ///
    /// # Errors
    /// As [`Dense::to_host`].
    pub fn to_mat<T: Num>(&self) -> CliResult<Mat<T>> {
        let h = self.to_host()?;
        Ok(Mat::from_fn(h.rows(), h.cols(), |i, j| T::of(h.get(i, j))))
    }

    /// The entries as a vector (for a 1-D array or one column).
    ///
    /// # Errors
    /// As [`Dense::to_host`].
    pub fn to_vec(&self) -> CliResult<Vec<f64>> {
        Ok(self.to_host()?.into_data())
    }
}

/// One line of `linops info` about an archive member or tensor.
pub struct Member {
    /// Key or tensor name.
    pub name: String,
    /// Shape.
    pub shape: Vec<usize>,
    /// dtype as the file states it.
    pub dtype: String,
}

/// Splits `file.npz:key` / `file.safetensors:tensor` into the path and the key.
pub fn split_spec(spec: &str) -> (String, Option<String>) {
    if Path::new(spec).exists() {
        return (spec.to_string(), None);
    }
    match spec.rsplit_once(':') {
        Some((p, k)) if !p.is_empty() && Path::new(p).exists() => {
            (p.to_string(), Some(k.to_string()))
        }
        _ => (spec.to_string(), None),
    }
}

fn open_file(spec: &str, path: &str) -> CliResult<(File, u64)> {
    let f = File::open(path).map_err(|e| CliError::io(spec, e))?;
    let len = f.metadata().map_err(|e| CliError::io(spec, e))?.len();
    Ok((f, len))
}

fn map_file(spec: &str, f: &File) -> CliResult<Mmap> {
    // SAFETY: the map is read-only; linops never writes to its inputs. Another process truncating
    // the file while it is mapped would fault this process (SIGBUS): the usual caveat of every
    // memory-mapped reader (NumPy's mmap_mode included), stated in docs/cli.md.
    unsafe { Mmap::map(f) }.map_err(|e| CliError::io(spec, e))
}

/// Opens an input named by `spec`.
///
/// # Errors
/// A missing file, an unknown container, key or tensor, an unsupported dtype, a truncated or
/// corrupt file: each names the file and the problem.
pub fn open(spec: &str) -> CliResult<Source> {
    let (path, key) = split_spec(spec);
    let lower = path.to_ascii_lowercase();
    if lower.ends_with(".npy") {
        if let Some(k) = key {
            return Err(CliError::new(
                spec,
                format!("a .npy file has no key (got :{k})"),
            ));
        }
        let (f, _) = open_file(spec, &path)?;
        let map = map_file(spec, &f)?;
        let (header, offset) = npy_header(spec, &map)?;
        npy_dense(
            spec,
            header,
            Bytes::Mapped {
                len: map.len() - offset,
                map,
                file: f,
                offset,
            },
            "npy",
        )
        .map(Source::Dense)
    } else if lower.ends_with(".npz") {
        open_npz(spec, &path, key)
    } else if lower.ends_with(".safetensors") {
        open_safetensors(spec, &path, key).map(Source::Dense)
    } else if !Path::new(&path).exists() {
        Err(CliError::new(spec, "no such file"))
    } else {
        Err(CliError::new(
            spec,
            "unknown file type: expected .npy, .npz[:key] or .safetensors[:tensor]",
        ))
    }
}

/// Parses an `.npy` header at the start of `bytes`; returns it and the data offset.
fn npy_header(spec: &str, bytes: &[u8]) -> CliResult<(npyz::NpyHeader, usize)> {
    let mut cur = std::io::Cursor::new(bytes);
    let h = npyz::NpyHeader::from_reader(&mut cur)
        .map_err(|e| CliError::new(spec, format!("not a valid .npy file ({e})")))?;
    Ok((h, cur.position() as usize))
}

fn elem_of(spec: &str, descr: &str) -> CliResult<(Elem, bool)> {
    let (big, rest) = match descr.as_bytes().first() {
        Some(b'>') => (true, &descr[1..]),
        Some(b'<') | Some(b'|') | Some(b'=') => (false, &descr[1..]),
        _ => (false, descr),
    };
    let e = match rest {
        "f2" => Elem::F16,
        "f4" => Elem::F32,
        "f8" => Elem::F64,
        _ => {
            return Err(CliError::new(
                spec,
                format!(
                    "dtype {descr} is not supported: linops reads float16, float32 and float64 arrays"
                ),
            ));
        }
    };
    Ok((e, big && e.size() > 1))
}

fn npy_dense(
    spec: &str,
    h: npyz::NpyHeader,
    bytes: Bytes,
    container: &'static str,
) -> CliResult<Dense> {
    let descr = match h.dtype() {
        npyz::DType::Plain(t) => t.to_string(),
        other => {
            return Err(CliError::new(
                spec,
                format!(
                    "dtype {} is not supported: linops reads plain float arrays",
                    other.descr()
                ),
            ));
        }
    };
    let (elem, big_endian) = elem_of(spec, &descr)?;
    let shape: Vec<usize> = h.shape().iter().map(|&s| s as usize).collect();
    let (rows, cols) = match shape.as_slice() {
        [m, n] => (*m, *n),
        [m] => (*m, 1),
        _ => {
            return Err(CliError::new(
                spec,
                format!("shape {shape:?}: linops reads 1-D and 2-D arrays"),
            ));
        }
    };
    let d = Dense {
        name: spec.to_string(),
        rows,
        cols,
        elem,
        big_endian,
        fortran: h.order() == npyz::Order::Fortran && shape.len() == 2,
        container,
        bytes,
    };
    check_size(&d)?;
    Ok(d)
}

/// The header's size against the bytes present.
fn check_size(d: &Dense) -> CliResult<()> {
    if d.rows == 0 || d.cols == 0 {
        return Err(CliError::new(
            &d.name,
            format!("the array is empty ({}x{})", d.rows, d.cols),
        ));
    }
    let want = d
        .rows
        .checked_mul(d.cols)
        .and_then(|e| e.checked_mul(d.elem.size()))
        .ok_or_else(|| CliError::new(&d.name, "the header's shape overflows the address space"))?;
    let have = d.bytes.slice().len();
    if have < want {
        return Err(CliError::new(
            &d.name,
            format!(
                "truncated: the header says {}x{} {} ({want} bytes of data) but only {have} bytes follow",
                d.rows,
                d.cols,
                d.elem.name()
            ),
        ));
    }
    Ok(())
}

fn zip_err(spec: &str, e: zip::result::ZipError) -> CliError {
    CliError::new(spec, format!("not a valid .npz (zip) archive ({e})"))
}

/// The members of an `.npz` archive (`name` without `.npy`), for `info` and error messages.
pub fn npz_members(spec: &str, path: &str) -> CliResult<Vec<Member>> {
    let (f, _) = open_file(spec, path)?;
    let mut z = zip::ZipArchive::new(f).map_err(|e| zip_err(spec, e))?;
    let names: Vec<String> = z.file_names().map(str::to_string).collect();
    let mut out = Vec::new();
    for name in names {
        let mut e = z.by_name(&name).map_err(|e| zip_err(spec, e))?;
        let mut head = Vec::new();
        (&mut e)
            .take(64 * 1024)
            .read_to_end(&mut head)
            .map_err(|e| CliError::io(spec, e))?;
        let (h, _) = npy_header(&format!("{spec}:{name}"), &head)?;
        out.push(Member {
            name: name.trim_end_matches(".npy").to_string(),
            shape: h.shape().iter().map(|&s| s as usize).collect(),
            dtype: h.dtype().descr().trim_matches('\'').to_string(),
        });
    }
    Ok(out)
}

fn read_member(
    spec: &str,
    path: &str,
    z: &mut zip::ZipArchive<File>,
    key: &str,
) -> CliResult<Option<(npyz::NpyHeader, Bytes)>> {
    let name = format!("{key}.npy");
    let idx = match z.index_for_name(&name) {
        Some(i) => i,
        None => return Ok(None),
    };
    let mut e = z.by_index(idx).map_err(|e| zip_err(spec, e))?;
    if e.compression() == zip::CompressionMethod::Stored {
        let start = e
            .data_start()
            .ok_or_else(|| CliError::new(spec, "corrupt zip entry"))? as usize;
        let size = e.size() as usize;
        drop(e);
        let (f, _) = open_file(spec, path)?;
        let map = map_file(spec, &f)?;
        if start + size > map.len() {
            return Err(CliError::new(
                spec,
                format!(
                    "truncated: member {key} needs bytes up to {} but the file has {}",
                    start + size,
                    map.len()
                ),
            ));
        }
        let (h, off) = npy_header(spec, &map[start..start + size])?;
        return Ok(Some((
            h,
            Bytes::Mapped {
                map,
                file: f,
                offset: start + off,
                len: size - off,
            },
        )));
    }
    let mut v = Vec::with_capacity(e.size().min(1 << 32) as usize);
    e.read_to_end(&mut v)
        .map_err(|err| CliError::new(spec, format!("corrupt compressed member {key} ({err})")))?;
    let (h, off) = npy_header(spec, &v)?;
    v.drain(..off);
    Ok(Some((h, Bytes::Owned(v))))
}

fn open_npz(spec: &str, path: &str, key: Option<String>) -> CliResult<Source> {
    let (f, _) = open_file(spec, path)?;
    let mut z = zip::ZipArchive::new(f).map_err(|e| zip_err(spec, e))?;
    let keys: Vec<String> = z
        .file_names()
        .map(|n| n.trim_end_matches(".npy").to_string())
        .collect();
    let is_sparse = ["indptr", "indices", "data", "format", "shape"]
        .iter()
        .all(|k| keys.iter().any(|x| x == k));
    if key.is_none() && is_sparse {
        return open_sparse(spec, &mut z).map(Source::Sparse);
    }
    let key = match key {
        Some(k) => k,
        None if keys.len() == 1 => keys[0].clone(),
        None => {
            return Err(CliError::new(
                spec,
                format!(
                    "the archive holds {} arrays; name one as {spec}:KEY (keys: {})",
                    keys.len(),
                    keys.join(", ")
                ),
            ));
        }
    };
    let name = format!("{path}:{key}");
    match read_member(&name, path, &mut z, &key)? {
        Some((h, bytes)) => npy_dense(&name, h, bytes, "npz").map(Source::Dense),
        None => Err(CliError::new(
            spec,
            format!(
                "no array named {key:?} in the archive (keys: {})",
                keys.join(", ")
            ),
        )),
    }
}

fn small_array<T: npyz::Deserialize>(
    spec: &str,
    z: &mut zip::ZipArchive<File>,
    key: &str,
) -> CliResult<Vec<T>> {
    let name = format!("{key}.npy");
    let mut e = z.by_name(&name).map_err(|e| zip_err(spec, e))?;
    let mut v = Vec::new();
    e.read_to_end(&mut v).map_err(|e| CliError::io(spec, e))?;
    let f = npyz::NpyFile::new(&v[..])
        .map_err(|e| CliError::new(spec, format!("member {key}: {e}")))?;
    f.into_vec::<T>()
        .map_err(|e| CliError::new(spec, format!("member {key}: {e}")))
}

fn int_array(spec: &str, z: &mut zip::ZipArchive<File>, key: &str) -> CliResult<Vec<usize>> {
    let as_i64 = small_array::<i64>(spec, z, key);
    let v = match as_i64 {
        Ok(v) => v,
        Err(_) => small_array::<i32>(spec, z, key)?
            .into_iter()
            .map(i64::from)
            .collect(),
    };
    v.into_iter()
        .map(|x| {
            usize::try_from(x).map_err(|_| {
                CliError::new(spec, format!("member {key} holds the negative index {x}"))
            })
        })
        .collect()
}

fn open_sparse(spec: &str, z: &mut zip::ZipArchive<File>) -> CliResult<Sparse> {
    let format_bytes: Vec<Vec<u8>> = small_array(spec, z, "format")?;
    let format =
        String::from_utf8_lossy(format_bytes.first().map(Vec::as_slice).unwrap_or(b"")).to_string();
    let shape = int_array(spec, z, "shape")?;
    let [rows, cols] = shape[..] else {
        return Err(CliError::new(
            spec,
            format!("sparse shape {shape:?} is not 2-D"),
        ));
    };
    let indptr = int_array(spec, z, "indptr")?;
    let indices = int_array(spec, z, "indices")?;
    let values: Vec<f64> = match small_array::<f64>(spec, z, "data") {
        Ok(v) => v,
        Err(_) => small_array::<f32>(spec, z, "data")
            .map_err(|_| CliError::new(spec, "sparse data must be float32 or float64"))?
            .into_iter()
            .map(f64::from)
            .collect(),
    };
    if let Some(p) = values.iter().position(|v| !v.is_finite()) {
        return Err(CliError::new(
            spec,
            format!(
                "{} in the sparse data at entry {p} (linops needs finite data)",
                values[p]
            ),
        ));
    }
    let (major, minor) = match format.as_str() {
        "csr" => (rows, cols),
        "csc" => (cols, rows),
        other => {
            return Err(CliError::new(
                spec,
                format!("sparse format {other:?} is not supported (csr or csc)"),
            ));
        }
    };
    if indptr.len() != major + 1
        || indptr.last() != Some(&indices.len())
        || indices.len() != values.len()
    {
        return Err(CliError::new(
            spec,
            format!(
                "corrupt {format} arrays: indptr has {} entries (want {}), indices {}, data {}",
                indptr.len(),
                major + 1,
                indices.len(),
                values.len()
            ),
        ));
    }
    if let Some(&bad) = indices.iter().find(|&&i| i >= minor) {
        return Err(CliError::new(
            spec,
            format!("sparse index {bad} out of range for {rows}x{cols}"),
        ));
    }
    if format == "csr" {
        return Ok(Sparse {
            name: spec.into(),
            rows,
            cols,
            format,
            indptr,
            indices,
            values,
        });
    }
    // CSC → CSR: count entries per row, then scatter.
    let mut count = vec![0usize; rows + 1];
    for &i in &indices {
        count[i + 1] += 1;
    }
    for i in 0..rows {
        count[i + 1] += count[i];
    }
    let row_ptr = count.clone();
    let mut next = count;
    let mut col_idx = vec![0usize; values.len()];
    let mut vals = vec![0.0; values.len()];
    for j in 0..cols {
        if indptr[j] > indptr[j + 1] {
            return Err(CliError::new(spec, "corrupt csc arrays: indptr decreases"));
        }
        for p in indptr[j]..indptr[j + 1] {
            let i = indices[p];
            col_idx[next[i]] = j;
            vals[next[i]] = values[p];
            next[i] += 1;
        }
    }
    Ok(Sparse {
        name: spec.into(),
        rows,
        cols,
        format,
        indptr: row_ptr,
        indices: col_idx,
        values: vals,
    })
}

/// The tensors of a `.safetensors` file, for `info`.
pub fn safetensors_members(spec: &str, path: &str) -> CliResult<Vec<Member>> {
    let (f, _) = open_file(spec, path)?;
    let map = map_file(spec, &f)?;
    let st = safetensors::SafeTensors::deserialize(&map)
        .map_err(|e| CliError::new(spec, format!("not a valid .safetensors file ({e})")))?;
    let mut out: Vec<Member> = st
        .tensors()
        .into_iter()
        .map(|(name, v)| Member {
            name,
            shape: v.shape().to_vec(),
            dtype: format!("{:?}", v.dtype()),
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

fn open_safetensors(spec: &str, path: &str, key: Option<String>) -> CliResult<Dense> {
    let (f, _) = open_file(spec, path)?;
    let map = map_file(spec, &f)?;
    let (offset, len, shape, dtype) = {
        let st = safetensors::SafeTensors::deserialize(&map)
            .map_err(|e| CliError::new(spec, format!("not a valid .safetensors file ({e})")))?;
        let mut names: Vec<String> = st.names().into_iter().map(str::to_string).collect();
        names.sort();
        let key = match key {
            Some(k) => k,
            None if names.len() == 1 => names[0].clone(),
            None => {
                return Err(CliError::new(
                    spec,
                    format!(
                        "the file holds {} tensors; name one as {spec}:TENSOR (tensors: {})",
                        names.len(),
                        names.join(", ")
                    ),
                ));
            }
        };
        let v = st.tensor(&key).map_err(|_| {
            CliError::new(
                spec,
                format!("no tensor named {key:?} (tensors: {})", names.join(", ")),
            )
        })?;
        let offset = v.data().as_ptr() as usize - map.as_ptr() as usize;
        (offset, v.data().len(), v.shape().to_vec(), v.dtype())
    };
    let elem = match dtype {
        safetensors::Dtype::F16 => Elem::F16,
        safetensors::Dtype::BF16 => Elem::Bf16,
        safetensors::Dtype::F32 => Elem::F32,
        safetensors::Dtype::F64 => Elem::F64,
        other => {
            return Err(CliError::new(
                spec,
                format!(
                    "dtype {other:?} is not supported: linops reads F16, BF16, F32 and F64 tensors"
                ),
            ));
        }
    };
    let (rows, cols) = match shape.as_slice() {
        [m, n] => (*m, *n),
        [m] => (*m, 1),
        _ => {
            return Err(CliError::new(
                spec,
                format!("shape {shape:?}: linops reads 1-D and 2-D tensors"),
            ));
        }
    };
    let d = Dense {
        name: spec.to_string(),
        rows,
        cols,
        elem,
        big_endian: false,
        fortran: false,
        container: "safetensors",
        bytes: Bytes::Mapped {
            map,
            file: f,
            offset,
            len,
        },
    };
    check_size(&d)?;
    Ok(d)
}
