//! Output files NumPy reads: one array to `.npy`, several to an uncompressed `.npz`.
//!
//! Files appear whole or not at all: everything is written to a temporary name beside the target
//! (`.NAME.linops-tmp-PID`), flushed, and renamed over the target only once the last byte is
//! written; an error, or a run that ends early, removes the temporary file. Arrays are written in
//! `f64`, C order, and may be streamed row panel by row panel (a left factor of a matrix larger
//! than memory never exists in memory whole).

use crate::error::{CliError, CliResult};
use npyz::WriterBuilder;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Receives consecutive rows of an array being written (C-order entries).
pub type RowSink<'a> = dyn FnMut(&[f64]) -> CliResult<()> + 'a;

/// Which container the output path asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    /// One array.
    Npy,
    /// Several arrays.
    Npz,
}

/// The container of an output path, or an error naming it.
///
/// # Errors
/// An extension other than `.npy` or `.npz`.
pub fn container(path: &str) -> CliResult<Container> {
    let l = path.to_ascii_lowercase();
    if l.ends_with(".npz") {
        Ok(Container::Npz)
    } else if l.ends_with(".npy") {
        Ok(Container::Npy)
    } else {
        Err(CliError::new(path, "output must end in .npy or .npz"))
    }
}

enum Sink {
    Npy(Option<BufWriter<File>>),
    Npz(Box<zip::ZipWriter<BufWriter<File>>>),
}

/// An output file being written under a temporary name.
pub struct OutFile {
    target: PathBuf,
    tmp: PathBuf,
    sink: Option<Sink>,
    arrays: usize,
    committed: bool,
}

fn tmp_name(target: &Path) -> PathBuf {
    let dir = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let base = target
        .file_name()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    dir.join(format!(".{base}.linops-tmp-{}", std::process::id()))
}

impl OutFile {
    /// Creates the temporary file for `path` (`.npy` or `.npz`).
    ///
    /// # Errors
    /// A bad extension or a directory that cannot be written (named with the output path).
    pub fn create(path: &str) -> CliResult<Self> {
        let kind = container(path)?;
        let target = PathBuf::from(path);
        if target.is_dir() {
            return Err(CliError::new(path, "is a directory"));
        }
        let tmp = tmp_name(&target);
        let f =
            File::create(&tmp).map_err(|e| CliError::new(path, format!("cannot write: {e}")))?;
        let w = BufWriter::with_capacity(1 << 20, f);
        let sink = match kind {
            Container::Npy => Sink::Npy(Some(w)),
            Container::Npz => Sink::Npz(Box::new(zip::ZipWriter::new(w))),
        };
        Ok(Self {
            target,
            tmp,
            sink: Some(sink),
            arrays: 0,
            committed: false,
        })
    }

    fn err(&self, e: impl std::fmt::Display) -> CliError {
        CliError::new(
            self.target.display().to_string(),
            format!("cannot write: {e}"),
        )
    }

    /// Writes one array of `shape` (1-D or 2-D), its entries in C order (Fortran order when
    /// `fortran`) produced by `fill`, which
    /// receives a row sink and may call it any number of times with consecutive rows.
    ///
    /// # Errors
    /// Write failures; a second array in a `.npy`; whatever `fill` returns.
    pub fn array(
        &mut self,
        name: &str,
        shape: &[usize],
        fortran: bool,
        fill: impl FnOnce(&mut RowSink<'_>) -> CliResult<()>,
    ) -> CliResult<()> {
        let shape64: Vec<u64> = shape.iter().map(|&s| s as u64).collect();
        let total: usize = shape.iter().product();
        let order = if fortran {
            npyz::Order::Fortran
        } else {
            npyz::Order::C
        };
        let target = self.target.display().to_string();
        let werr = |e: std::io::Error| CliError::new(target.clone(), format!("cannot write: {e}"));
        match self.sink.as_mut() {
            Some(Sink::Npy(w)) => {
                if self.arrays > 0 {
                    return Err(CliError::new(
                        target,
                        "a .npy file holds one array; this command writes several: use .npz",
                    ));
                }
                let w = w
                    .as_mut()
                    .ok_or_else(|| CliError::new(target.clone(), "closed"))?;
                let mut npy = npyz::WriteOptions::new()
                    .default_dtype()
                    .shape(&shape64)
                    .order(order)
                    .writer(w)
                    .begin_nd()
                    .map_err(werr)?;
                write_rows(&mut npy, total, &target, fill)?;
                npy.finish().map_err(werr)?;
            }
            Some(Sink::Npz(z)) => {
                let opts = zip::write::SimpleFileOptions::default()
                    .compression_method(zip::CompressionMethod::Stored)
                    .large_file(total.saturating_mul(8) >= (1 << 31));
                z.start_file(format!("{name}.npy"), opts)
                    .map_err(|e| CliError::new(target.clone(), format!("cannot write: {e}")))?;
                let mut npy = npyz::WriteOptions::new()
                    .default_dtype()
                    .shape(&shape64)
                    .order(order)
                    .writer(&mut **z)
                    .begin_nd()
                    .map_err(werr)?;
                write_rows(&mut npy, total, &target, fill)?;
                npy.finish().map_err(werr)?;
            }
            None => return Err(CliError::new(target, "closed")),
        }
        self.arrays += 1;
        Ok(())
    }

    /// Writes a column-major `rows×cols` matrix (as C order) .
    ///
    /// # Errors
    /// As [`OutFile::array`].
    pub fn matrix(&mut self, name: &str, m: linops::faer::MatRef<'_, f64>) -> CliResult<()> {
        let (r, c) = (m.nrows(), m.ncols());
        self.array(name, &[r, c], false, |sink| {
            let mut row = vec![0.0; c];
            for i in 0..r {
                for (j, v) in row.iter_mut().enumerate() {
                    *v = m[(i, j)];
                }
                sink(&row)?;
            }
            Ok(())
        })
    }

    /// Writes a vector.
    ///
    /// # Errors
    /// As [`OutFile::array`].
    pub fn vector(&mut self, name: &str, v: &[f64]) -> CliResult<()> {
        self.array(name, &[v.len()], false, |sink| sink(v))
    }

    /// Flushes and renames the temporary file over the target.
    ///
    /// # Errors
    /// Flush or rename failures (the temporary file is removed).
    pub fn commit(mut self) -> CliResult<()> {
        let w = match self.sink.take() {
            Some(Sink::Npy(Some(w))) => w,
            Some(Sink::Npz(z)) => z.finish().map_err(|e| self.err(e))?,
            _ => return Err(self.err("closed")),
        };
        let f = w.into_inner().map_err(|e| self.err(e.error()))?;
        f.sync_all().map_err(|e| self.err(e))?;
        drop(f);
        std::fs::rename(&self.tmp, &self.target).map_err(|e| self.err(e))?;
        self.committed = true;
        Ok(())
    }
}

fn write_rows<W: Write>(
    npy: &mut npyz::NpyWriter<f64, W>,
    total: usize,
    target: &str,
    fill: impl FnOnce(&mut RowSink<'_>) -> CliResult<()>,
) -> CliResult<()> {
    let mut written = 0usize;
    let mut sink = |rows: &[f64]| -> CliResult<()> {
        written += rows.len();
        if written > total {
            return Err(CliError::new(
                target,
                "internal: more entries than the array's shape",
            ));
        }
        for v in rows {
            npy.push(v)
                .map_err(|e| CliError::new(target, format!("cannot write: {e}")))?;
        }
        Ok(())
    };
    fill(&mut sink)?;
    if written != total {
        return Err(CliError::new(
            target,
            format!("internal: wrote {written} of the array's {total} entries"),
        ));
    }
    Ok(())
}

impl Drop for OutFile {
    fn drop(&mut self) {
        if !self.committed {
            self.sink = None;
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// A scratch file of `f64` rows (the left sketch of a matrix larger than memory), removed when
/// dropped; written once, then read back panel by panel.
pub struct Scratch {
    path: PathBuf,
    file: Option<BufWriter<File>>,
    /// Entries per row.
    pub cols: usize,
    /// Rows written.
    pub rows: usize,
}

impl Scratch {
    /// A new scratch file in `dir`.
    ///
    /// # Errors
    /// The directory cannot be written.
    pub fn new(dir: &Path, cols: usize) -> CliResult<Self> {
        let path = dir.join(format!(
            ".linops-scratch-{}-{}",
            std::process::id(),
            next_id()
        ));
        let f = File::create(&path).map_err(|e| {
            CliError::new(
                path.display().to_string(),
                format!("cannot write scratch file: {e}"),
            )
        })?;
        Ok(Self {
            path,
            file: Some(BufWriter::with_capacity(1 << 20, f)),
            cols,
            rows: 0,
        })
    }

    /// Appends rows given as the columns of a `cols × b` matrix (one column per row).
    ///
    /// # Errors
    /// Write failures.
    pub fn push_t(&mut self, m: linops::faer::MatRef<'_, f64>) -> CliResult<()> {
        let name = self.path.display().to_string();
        let w = self
            .file
            .as_mut()
            .ok_or_else(|| CliError::new(&name, "closed"))?;
        for i in 0..m.ncols() {
            for j in 0..m.nrows() {
                w.write_all(&m[(j, i)].to_le_bytes())
                    .map_err(|e| CliError::new(&name, format!("cannot write scratch file: {e}")))?;
            }
        }
        self.rows += m.ncols();
        Ok(())
    }

    /// Calls `f(row0, rows)` on consecutive panels of at most `panel` rows (row-major data).
    ///
    /// # Errors
    /// Read failures and whatever `f` returns.
    pub fn for_panels(
        &mut self,
        panel: usize,
        mut f: impl FnMut(usize, &[f64], usize) -> CliResult<()>,
    ) -> CliResult<()> {
        use std::io::Read;
        let name = self.path.display().to_string();
        if let Some(w) = self.file.take() {
            w.into_inner().map_err(|e| {
                CliError::new(&name, format!("cannot write scratch file: {}", e.error()))
            })?;
        }
        let mut r = std::io::BufReader::new(
            File::open(&self.path)
                .map_err(|e| CliError::new(&name, format!("cannot read scratch file: {e}")))?,
        );
        let panel = panel.max(1);
        let mut bytes = vec![0u8; panel * self.cols * 8];
        let mut vals = vec![0.0f64; panel * self.cols];
        let mut r0 = 0;
        while r0 < self.rows {
            let b = panel.min(self.rows - r0);
            let nb = b * self.cols * 8;
            r.read_exact(&mut bytes[..nb])
                .map_err(|e| CliError::new(&name, format!("cannot read scratch file: {e}")))?;
            for (v, c) in vals.iter_mut().zip(bytes[..nb].chunks_exact(8)) {
                *v = f64::from_le_bytes(c.try_into().unwrap_or([0; 8]));
            }
            f(r0, &vals[..b * self.cols], b)?;
            r0 += b;
        }
        Ok(())
    }
}

fn next_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

impl Drop for Scratch {
    fn drop(&mut self) {
        self.file = None;
        let _ = std::fs::remove_file(&self.path);
    }
}
