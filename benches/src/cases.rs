//! Benchmark cases: an operator, a seeded input block, and the labels a result row carries.
//!
//! A [`Case`] is `Y = op · X` with `op` of shape `rows×cols` and `X` of `cols×batch`, both built in
//! `f64` from a SplitMix64 stream seeded by the case's label (values uniform on `[-1, 1]`); the
//! backends receive `X` cast to their dtype. Builders here are shared by the runner's suites and
//! the criterion benches. Costs, as counted by the planner: a dense apply is `2·m·k·n` FLOPs, a
//! diagonal or scaled identity `n·batch` FLOPs (memory bound).

use crate::rng::{SplitMix64, seed_for};
use faer::Mat;
use linops::{Op, Result};

/// One benchmark case: `op · x`.
///
/// # Examples
/// ```
/// let c = linops_bench::cases::gemm(8, 4, 2).unwrap();
/// assert_eq!(c.shape, "m=8,n=4,k=2");
/// assert_eq!(c.op.shape(), (8, 2));
/// assert_eq!((c.x.nrows(), c.x.ncols()), (2, 4));
/// ```
#[derive(Debug, Clone)]
pub struct Case {
    /// Operation name, the stem shared with kernels and other benches (e.g. `gemm`).
    pub op_name: &'static str,
    /// Shape as a `key=value` comma list (e.g. `m=512,n=512,k=512` or `n=4096,batch=64`).
    pub shape: String,
    /// The operator.
    pub op: Op,
    /// The input block, generated in `f64`.
    pub x: Mat<f64>,
}

impl Case {
    /// `op_name shape`, the label used in progress lines and for seeding.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(linops_bench::cases::diag(4, 2).unwrap().label(), "diag n=4,batch=2");
    /// ```
    pub fn label(&self) -> String {
        format!("{} {}", self.op_name, self.shape)
    }

    /// `x` cast to `f32` (round to nearest).
    ///
    /// # Examples
    /// ```
    /// let c = linops_bench::cases::diag(4, 2).unwrap();
    /// assert_eq!(c.x_f32()[(1, 1)], c.x[(1, 1)] as f32);
    /// ```
    pub fn x_f32(&self) -> Mat<f32> {
        Mat::from_fn(self.x.nrows(), self.x.ncols(), |i, j| self.x[(i, j)] as f32)
    }
}

fn rng(op_name: &str, shape: &str) -> SplitMix64 {
    SplitMix64::new(seed_for(&format!("{op_name} {shape}")))
}

fn dense_op(r: &mut SplitMix64, rows: usize, cols: usize) -> Result<Op> {
    Op::dense(rows, cols, r.uniform_vec(rows * cols))
}

/// GEMM: a dense `m×k` operator applied to a dense `k×n` block.
///
/// # Errors
/// [`linops::Error::EmptyDimension`] for a zero size.
///
/// # Examples
/// ```
/// assert_eq!(linops_bench::cases::gemm(3, 2, 5).unwrap().op.shape(), (3, 5));
/// ```
pub fn gemm(m: usize, n: usize, k: usize) -> Result<Case> {
    let shape = format!("m={m},n={n},k={k}");
    let mut r = rng("gemm", &shape);
    let op = dense_op(&mut r, m, k)?;
    let x = r.uniform_mat(k, n);
    Ok(Case {
        op_name: "gemm",
        shape,
        op,
        x,
    })
}

/// Transposed dense apply: `Aᵀ · X` with `A` dense `n×n` and `X` of `n×batch`.
///
/// # Errors
/// [`linops::Error::EmptyDimension`] for a zero size.
///
/// # Examples
/// ```
/// assert_eq!(linops_bench::cases::dense_t(4, 2).unwrap().x.ncols(), 2);
/// ```
pub fn dense_t(n: usize, batch: usize) -> Result<Case> {
    let shape = format!("n={n},batch={batch}");
    let mut r = rng("dense_t", &shape);
    let op = dense_op(&mut r, n, n)?.t();
    let x = r.uniform_mat(n, batch);
    Ok(Case {
        op_name: "dense_t",
        shape,
        op,
        x,
    })
}

/// Diagonal scaling: `diag(d) · X`.
///
/// # Errors
/// [`linops::Error::EmptyDimension`] for a zero size.
///
/// # Examples
/// ```
/// assert_eq!(linops_bench::cases::diag(4, 2).unwrap().op.shape(), (4, 4));
/// ```
pub fn diag(n: usize, batch: usize) -> Result<Case> {
    let shape = format!("n={n},batch={batch}");
    let mut r = rng("diag", &shape);
    let op = Op::diagonal(r.uniform_vec(n))?;
    let x = r.uniform_mat(n, batch);
    Ok(Case {
        op_name: "diag",
        shape,
        op,
        x,
    })
}

/// Scaled identity: `2.5·I · X`.
///
/// # Errors
/// [`linops::Error::EmptyDimension`] for a zero size.
///
/// # Examples
/// ```
/// assert_eq!(linops_bench::cases::scaled_identity(4, 2).unwrap().op.shape(), (4, 4));
/// ```
pub fn scaled_identity(n: usize, batch: usize) -> Result<Case> {
    let shape = format!("n={n},batch={batch}");
    let mut r = rng("scaled_identity", &shape);
    let op = Op::identity(n)?.scaled(2.5)?;
    let x = r.uniform_mat(n, batch);
    Ok(Case {
        op_name: "scaled_identity",
        shape,
        op,
        x,
    })
}

/// Product `diag(d) · A · B · X` with `A`, `B` dense `n×n` (two GEMMs and a scaling).
///
/// # Errors
/// [`linops::Error::EmptyDimension`] for a zero size.
///
/// # Examples
/// ```
/// assert_eq!(linops_bench::cases::diag_dense_dense(4, 2).unwrap().op.shape(), (4, 4));
/// ```
pub fn diag_dense_dense(n: usize, batch: usize) -> Result<Case> {
    let shape = format!("n={n},batch={batch}");
    let mut r = rng("diag_dense_dense", &shape);
    let d = Op::diagonal(r.uniform_vec(n))?;
    let a = dense_op(&mut r, n, n)?;
    let b = dense_op(&mut r, n, n)?;
    let op = Op::product(vec![d, a, b])?;
    let x = r.uniform_mat(n, batch);
    Ok(Case {
        op_name: "diag_dense_dense",
        shape,
        op,
        x,
    })
}

/// Sum `(A + diag(d)) · X` with `A` dense `n×n`.
///
/// # Errors
/// [`linops::Error::EmptyDimension`] for a zero size.
///
/// # Examples
/// ```
/// assert_eq!(linops_bench::cases::dense_plus_diag(4, 2).unwrap().op.shape(), (4, 4));
/// ```
pub fn dense_plus_diag(n: usize, batch: usize) -> Result<Case> {
    let shape = format!("n={n},batch={batch}");
    let mut r = rng("dense_plus_diag", &shape);
    let a = dense_op(&mut r, n, n)?;
    let d = Op::diagonal(r.uniform_vec(n))?;
    let op = Op::sum(vec![a, d])?;
    let x = r.uniform_mat(n, batch);
    Ok(Case {
        op_name: "dense_plus_diag",
        shape,
        op,
        x,
    })
}

/// The non-GEMM operations of the `quick` suite at `(n, batch)`, in a fixed order.
///
/// # Errors
/// [`linops::Error::EmptyDimension`] for a zero size.
///
/// # Examples
/// ```
/// assert_eq!(linops_bench::cases::structured_ops(8, 2).unwrap().len(), 5);
/// ```
pub fn structured_ops(n: usize, batch: usize) -> Result<Vec<Case>> {
    Ok(vec![
        dense_t(n, batch)?,
        diag(n, batch)?,
        scaled_identity(n, batch)?,
        diag_dense_dense(n, batch)?,
        dense_plus_diag(n, batch)?,
    ])
}
