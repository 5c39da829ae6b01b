//! The `Backend` trait: what every executor of plans provides.
//!
//! A backend owns matrices (`Mat`), moves them between host and backend, and runs plans. The CPU
//! backend (faer) and the GPU backend (wgpu) implement it; algorithms are written once against it.

use crate::{Element, Plan, Result};

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
    /// Runs `plan` on input `x` and returns the output buffer.
    ///
    /// # Errors
    /// [`crate::Error::ShapeMismatch`] when `x` does not have the plan's input shape; device limits
    /// and failures.
    fn execute(&self, plan: &Plan, x: &Self::Mat) -> Result<Self::Mat>;
    /// Euclidean norm of each column of `x` (a 1×cols result).
    ///
    /// # Errors
    /// Device failures.
    fn col_norms(&self, x: &Self::Mat) -> Result<Vec<Self::Elem>>;
    /// `Σ_i x[i,j]·y[i,j]` for each column j.
    ///
    /// # Errors
    /// [`crate::Error::ShapeMismatch`] when the shapes differ; device failures.
    fn col_dots(&self, x: &Self::Mat, y: &Self::Mat) -> Result<Vec<Self::Elem>>;
}
