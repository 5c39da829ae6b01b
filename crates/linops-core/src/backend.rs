//! The `Backend` trait: what every executor of plans provides.
//!
//! A backend owns matrices (`Mat`), moves them between host and backend, and runs plans: that is
//! all it is. Every operation (an operator application, a GEMM, a column norm, a concatenation, a
//! random fill) is a [`Plan`], so a backend has one way in. The CPU backend (faer) and the GPU
//! backend (wgpu) implement it; algorithms are written once against it.

use crate::{DType, Element, Error, Plan, Result};

/// An executor of plans.
///
/// Data convention: host data is column-major; `upload(rows, cols, data)` expects
/// `data.len() == rows*cols`.
///
/// # Examples
/// ```
/// // Implemented by `linops_cpu::CpuBackend<f32|f64>` and `linops_gpu::GpuBackend`;
/// // see the `linops` facade for an end-to-end example.
/// fn rows_of<B: linops_core::Backend>(b: &B, m: &B::Mat) -> usize { b.shape(m).0 }
/// ```
pub trait Backend: Send + Sync {
    /// The element type the backend computes in.
    type Elem: Element;
    /// A matrix resident on this backend.
    type Mat: Send + Sync;

    /// Short backend name, e.g. `cpu-f64` or `gpu-f32`.
    fn name(&self) -> String;
    /// The device, e.g. the CPU model or the GPU adapter name.
    fn device(&self) -> String;
    /// Moves a column-major host matrix onto the backend.
    ///
    /// # Errors
    /// Shape errors for a wrong data length or an empty dimension; device limits.
    fn upload(&self, rows: usize, cols: usize, data: &[Self::Elem]) -> Result<Self::Mat>;
    /// Copies a matrix back to the host (column-major).
    ///
    /// # Errors
    /// Device failures.
    fn download(&self, m: &Self::Mat) -> Result<Vec<Self::Elem>>;
    /// `(rows, cols)` of a matrix.
    fn shape(&self, m: &Self::Mat) -> (usize, usize);
    /// Runs `plan` on `inputs` (bound in order to the plan's [`Plan::inputs`]) and returns the
    /// output buffer.
    ///
    /// # Errors
    /// [`crate::Error::InvalidArgument`] for a wrong number of inputs and
    /// [`crate::Error::ShapeMismatch`] when an input does not have the plan's shape (see
    /// [`Plan::check_inputs`]); [`crate::Error::Unsupported`] for a plan in a dtype the backend
    /// does not compute in; device limits and failures.
    fn execute(&self, plan: &Plan, inputs: &[&Self::Mat]) -> Result<Self::Mat>;
}

/// Checks the operands of a GEMM ([`Plan::gemm`]) and returns `(m, n, k)` of `op(A)` (m×k) times
/// `op(B)` (k×n).
///
/// # Errors
/// [`Error::InvalidArgument`] for non-finite `alpha`/`beta` or `beta ≠ 0` without `C`;
/// [`Error::ShapeMismatch`] when the inner dimensions differ or `C` is not m×n.
///
/// # Examples
/// ```
/// use linops_core::gemm_shape;
/// assert_eq!(gemm_shape(1.0, (3, 4), true, (3, 2), false, 0.0, None).unwrap(), (4, 2, 3));
/// assert!(gemm_shape(1.0, (3, 4), false, (3, 2), false, 0.0, None).is_err());
/// assert!(gemm_shape(1.0, (3, 4), true, (3, 2), false, 1.0, None).is_err());
/// ```
#[allow(clippy::too_many_arguments)]
pub fn gemm_shape(
    alpha: f64,
    a: (usize, usize),
    trans_a: bool,
    b: (usize, usize),
    trans_b: bool,
    beta: f64,
    c: Option<(usize, usize)>,
) -> Result<(usize, usize, usize)> {
    if !alpha.is_finite() || !beta.is_finite() {
        return Err(Error::InvalidArgument(format!(
            "gemm: alpha = {alpha} and beta = {beta} must be finite"
        )));
    }
    let (m, ka) = if trans_a { (a.1, a.0) } else { a };
    let (kb, n) = if trans_b { (b.1, b.0) } else { b };
    if ka != kb {
        return Err(Error::ShapeMismatch {
            context: "gemm: inner dimensions of op(A)·op(B)".into(),
            expected: format!("op(B) with {ka} rows (op(A) is {m}x{ka})"),
            found: format!("op(B) is {kb}x{n}"),
        });
    }
    match c {
        None if beta != 0.0 => Err(Error::InvalidArgument(format!(
            "gemm: beta = {beta} needs a C matrix"
        ))),
        Some(cs) if cs != (m, n) => Err(Error::ShapeMismatch {
            context: "gemm: C".into(),
            expected: format!("{m}x{n}"),
            found: format!("{}x{}", cs.0, cs.1),
        }),
        _ => Ok((m, n, ka)),
    }
}

/// Checks the operands of an `axpby` ([`Plan::axpby`]).
///
/// # Errors
/// [`Error::InvalidArgument`] for non-finite scalars, [`Error::ShapeMismatch`] for unequal shapes.
///
/// # Examples
/// ```
/// assert!(linops_core::axpby_shape(1.0, (2, 3), 2.0, (2, 3)).is_ok());
/// assert!(linops_core::axpby_shape(1.0, (2, 3), 2.0, (3, 2)).is_err());
/// ```
pub fn axpby_shape(alpha: f64, x: (usize, usize), beta: f64, y: (usize, usize)) -> Result<()> {
    if !alpha.is_finite() || !beta.is_finite() {
        return Err(Error::InvalidArgument(format!(
            "axpby: alpha = {alpha} and beta = {beta} must be finite"
        )));
    }
    if x != y {
        return Err(Error::ShapeMismatch {
            context: "axpby: Y against X".into(),
            expected: format!("{}x{}", x.0, x.1),
            found: format!("{}x{}", y.0, y.1),
        });
    }
    Ok(())
}

/// Checks that a scalar of a plan (`alpha`, `beta` of [`Plan::gemm`] or
/// [`Plan::axpby`]) rounds to a finite value of the backend's `dtype`: an `f32` backend takes
/// `f64` scalars, and one beyond `f32`'s range would turn every result into ±Inf. Magnitudes below
/// the smallest `f32` round to subnormals or zero, as any conversion does.
///
/// # Errors
/// [`Error::InvalidArgument`] naming `what` (e.g. `"gemm alpha"`), the value and the range.
///
/// # Examples
/// ```
/// use linops_core::{DType, check_scalar};
/// assert!(check_scalar("axpby alpha", 1e300, DType::F64).is_ok());
/// assert!(check_scalar("axpby alpha", 1e300, DType::F32).is_err());
/// assert!(check_scalar("axpby alpha", f64::NAN, DType::F64).is_err());
/// ```
pub fn check_scalar(what: &str, v: f64, dtype: DType) -> Result<()> {
    let (finite, max) = match dtype {
        DType::F64 => (v.is_finite(), f64::MAX),
        DType::F32 => ((v as f32).is_finite(), f64::from(f32::MAX)),
    };
    if finite {
        return Ok(());
    }
    Err(Error::InvalidArgument(format!(
        "{what} = {v:e} is outside {dtype}'s range (finite, |v| ≤ {max:e}); compute in f64 or \
         rescale"
    )))
}
