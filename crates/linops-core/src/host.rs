//! A plain column-major host matrix, the exchange format of linops-core.
//!
//! Element (i, j) of an `r×c` matrix lives at `data[i + j*r]`. linops-core knows no linear-algebra
//! library; the facade converts between [`HostMat`] and faer matrices.

use crate::{Element, Error, Result};

/// A dense column-major matrix of `f64` or `f32` on the host.
///
/// # Examples
/// ```
/// use linops_core::HostMat;
/// let m = HostMat::from_fn(2, 3, |i, j| (i + 10 * j) as f64);
/// assert_eq!(m.get(1, 2), 21.0);
/// assert_eq!(m.data()[1 + 2 * 2], 21.0);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct HostMat<T = f64> {
    rows: usize,
    cols: usize,
    data: Vec<T>,
}

impl<T: Element> HostMat<T> {
    /// Wraps column-major data.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] when `data.len() != rows * cols`.
    ///
    /// # Examples
    /// ```
    /// let m = linops_core::HostMat::new(2, 2, vec![1.0, 2.0, 3.0, 4.0]).unwrap();
    /// assert_eq!(m.get(0, 1), 3.0);
    /// assert!(linops_core::HostMat::new(2, 2, vec![1.0]).is_err());
    /// ```
    pub fn new(rows: usize, cols: usize, data: Vec<T>) -> Result<Self> {
        let want = rows.checked_mul(cols).ok_or_else(|| {
            Error::InvalidArgument(format!("{rows}x{cols} overflows the address space"))
        })?;
        if data.len() != want {
            return Err(Error::ShapeMismatch {
                context: "HostMat::new".into(),
                expected: format!("{want} elements for {rows}x{cols}"),
                found: format!("{} elements", data.len()),
            });
        }
        Ok(Self { rows, cols, data })
    }

    /// A matrix whose entry (i, j) is `f(i, j)`.
    ///
    /// # Examples
    /// ```
    /// let eye = linops_core::HostMat::<f64>::from_fn(3, 3, |i, j| if i == j { 1.0 } else { 0.0 });
    /// assert_eq!(eye.get(2, 2), 1.0);
    /// ```
    pub fn from_fn(rows: usize, cols: usize, mut f: impl FnMut(usize, usize) -> T) -> Self {
        let mut data = Vec::with_capacity(rows * cols);
        for j in 0..cols {
            for i in 0..rows {
                data.push(f(i, j));
            }
        }
        Self { rows, cols, data }
    }

    /// The all-zero matrix.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(linops_core::HostMat::<f32>::zeros(2, 2).get(1, 1), 0.0);
    /// ```
    pub fn zeros(rows: usize, cols: usize) -> Self {
        Self {
            rows,
            cols,
            data: vec![T::default(); rows * cols],
        }
    }

    /// Number of rows.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(linops_core::HostMat::<f64>::zeros(2, 5).rows(), 2);
    /// ```
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(linops_core::HostMat::<f64>::zeros(2, 5).cols(), 5);
    /// ```
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Entry (i, j).
    ///
    /// # Panics
    /// When (i, j) is out of range (an indexing bug in the caller).
    ///
    /// # Examples
    /// ```
    /// assert_eq!(linops_core::HostMat::<f64>::from_fn(2, 2, |i, j| (i * j) as f64).get(1, 1), 1.0);
    /// ```
    pub fn get(&self, i: usize, j: usize) -> T {
        assert!(
            i < self.rows && j < self.cols,
            "({i}, {j}) out of {}x{}",
            self.rows,
            self.cols
        );
        self.data[i + j * self.rows]
    }

    /// Sets entry (i, j).
    ///
    /// # Panics
    /// When (i, j) is out of range.
    ///
    /// # Examples
    /// ```
    /// let mut m = linops_core::HostMat::<f64>::zeros(2, 2);
    /// m.set(0, 1, 4.0);
    /// assert_eq!(m.get(0, 1), 4.0);
    /// ```
    pub fn set(&mut self, i: usize, j: usize, v: T) {
        assert!(
            i < self.rows && j < self.cols,
            "({i}, {j}) out of {}x{}",
            self.rows,
            self.cols
        );
        self.data[i + j * self.rows] = v;
    }

    /// The column-major data.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(linops_core::HostMat::<f64>::zeros(2, 3).data().len(), 6);
    /// ```
    pub fn data(&self) -> &[T] {
        &self.data
    }

    /// Consumes the matrix, returning its column-major data.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(linops_core::HostMat::<f64>::zeros(1, 3).into_data(), vec![0.0; 3]);
    /// ```
    pub fn into_data(self) -> Vec<T> {
        self.data
    }

    /// Converts every entry to another element type.
    ///
    /// # Examples
    /// ```
    /// let m = linops_core::HostMat::<f64>::from_fn(1, 1, |_, _| 0.1);
    /// assert_eq!(m.cast::<f32>().get(0, 0), 0.1f32);
    /// ```
    pub fn cast<U: Element>(&self) -> HostMat<U> {
        HostMat {
            rows: self.rows,
            cols: self.cols,
            data: self.data.iter().map(|v| U::from_f64(v.to_f64())).collect(),
        }
    }

    /// The transpose.
    ///
    /// # Examples
    /// ```
    /// let m = linops_core::HostMat::<f64>::from_fn(2, 3, |i, j| (i + 10 * j) as f64);
    /// assert_eq!(m.transpose().get(2, 1), 21.0);
    /// ```
    pub fn transpose(&self) -> Self {
        HostMat::from_fn(self.cols, self.rows, |i, j| self.get(j, i))
    }

    /// The product `self · rhs`, computed in `f64` by a plain loop (a test reference, not fast).
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] when the inner dimensions differ.
    ///
    /// # Examples
    /// ```
    /// let a = linops_core::HostMat::<f64>::from_fn(2, 2, |i, j| (i + j) as f64);
    /// let p = a.matmul(&a).unwrap();
    /// assert_eq!(p.get(1, 1), 5.0);
    /// ```
    pub fn matmul(&self, rhs: &HostMat<T>) -> Result<HostMat<T>> {
        if self.cols != rhs.rows {
            return Err(Error::ShapeMismatch {
                context: "HostMat::matmul".into(),
                expected: format!("{} rows on the right", self.cols),
                found: format!("{}x{}", rhs.rows, rhs.cols),
            });
        }
        let mut out = vec![0.0f64; self.rows * rhs.cols];
        for j in 0..rhs.cols {
            for l in 0..self.cols {
                let b = rhs.data[l + j * rhs.rows].to_f64();
                if b == 0.0 {
                    continue;
                }
                let col = &self.data[l * self.rows..(l + 1) * self.rows];
                let dst = &mut out[j * self.rows..(j + 1) * self.rows];
                for (d, a) in dst.iter_mut().zip(col) {
                    *d += a.to_f64() * b;
                }
            }
        }
        Ok(HostMat {
            rows: self.rows,
            cols: rhs.cols,
            data: out.into_iter().map(T::from_f64).collect(),
        })
    }

    /// Checks that every entry is finite.
    ///
    /// # Errors
    /// [`Error::NonFinite`] naming `context` and the first offending entry (column-major order).
    ///
    /// # Examples
    /// ```
    /// let mut m = linops_core::HostMat::<f64>::zeros(2, 2);
    /// assert!(m.check_finite("x").is_ok());
    /// m.set(1, 0, f64::NAN);
    /// assert!(m.check_finite("x").is_err());
    /// ```
    pub fn check_finite(&self, context: &str) -> Result<()> {
        check_finite(context, self.rows, &self.data)
    }
}

/// Checks that column-major `data` with `rows` rows holds only finite values.
///
/// # Errors
/// [`Error::NonFinite`] naming `context`, the row and column of the first non-finite entry and its
/// value.
///
/// # Examples
/// ```
/// assert!(linops_core::check_finite("x", 2, &[1.0f32, f32::INFINITY]).is_err());
/// assert!(linops_core::check_finite("x", 2, &[1.0f64, 2.0]).is_ok());
/// // The first non-finite entry, past the first chunk the scan tests at once.
/// let mut v = vec![1.0f32; 9000];
/// (v[8191], v[5003]) = (f32::NAN, f32::NEG_INFINITY);
/// match linops_core::check_finite("x", 100, &v) {
///     Err(linops_core::Error::NonFinite { row, col, value, .. }) => {
///         assert_eq!((row, col, value), (3, 50, f64::NEG_INFINITY))
///     }
///     other => panic!("{other:?}"),
/// }
/// ```
pub fn check_finite<T: Element>(context: &str, rows: usize, data: &[T]) -> Result<()> {
    // Chunks tested without an early exit (a loop the compiler vectorizes: the scan runs at
    // memory speed), then the first non-finite entry looked for in the first bad chunk.
    const CHUNK: usize = 4096;
    let bad = data
        .chunks(CHUNK)
        .position(|c| c.iter().fold(false, |b, v| b | !v.to_f64().is_finite()));
    let first = bad.and_then(|k| {
        data[k * CHUNK..]
            .iter()
            .position(|v| !v.to_f64().is_finite())
            .map(|p| k * CHUNK + p)
    });
    match first {
        None => Ok(()),
        Some(p) => Err(Error::NonFinite {
            context: context.to_string(),
            row: p % rows.max(1),
            col: p / rows.max(1),
            value: data[p].to_f64(),
        }),
    }
}
