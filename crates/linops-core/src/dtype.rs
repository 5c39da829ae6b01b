//! Element types a backend computes in.
//!
//! linops computes in `f32` (GPU, fast CPU path) or `f64` (the CPU reference). Operator parameters
//! are stored once in `f64` and converted by each backend on first use.

use std::fmt::Debug;

/// The floating-point type of a backend's matrices.
///
/// # Examples
/// ```
/// use linops_core::DType;
/// assert_eq!(DType::F32.size_bytes(), 4);
/// assert_eq!(DType::F64.to_string(), "f64");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DType {
    /// IEEE single precision.
    F32,
    /// IEEE double precision.
    F64,
}

impl DType {
    /// Size of one element in bytes.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(linops_core::DType::F64.size_bytes(), 8);
    /// ```
    pub fn size_bytes(self) -> u64 {
        match self {
            DType::F32 => 4,
            DType::F64 => 8,
        }
    }

    /// Unit roundoff u = 2^-p (half the machine epsilon) of the type.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(linops_core::DType::F32.unit_roundoff(), 2f64.powi(-24));
    /// ```
    pub fn unit_roundoff(self) -> f64 {
        match self {
            DType::F32 => 2f64.powi(-24),
            DType::F64 => 2f64.powi(-53),
        }
    }
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DType::F32 => "f32",
            DType::F64 => "f64",
        })
    }
}

/// A scalar type linops computes in: `f32` or `f64`.
///
/// # Examples
/// ```
/// use linops_core::{DType, Element};
/// assert_eq!(<f32 as Element>::DTYPE, DType::F32);
/// assert_eq!(f32::from_f64(0.5).to_f64(), 0.5);
/// ```
pub trait Element: Copy + Send + Sync + Debug + PartialEq + PartialOrd + Default + 'static {
    /// The matching [`DType`].
    const DTYPE: DType;
    /// Converts from `f64` (rounding to nearest for `f32`).
    fn from_f64(v: f64) -> Self;
    /// Converts to `f64` (exact).
    fn to_f64(self) -> f64;
}

impl Element for f32 {
    const DTYPE: DType = DType::F32;
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    fn to_f64(self) -> f64 {
        self as f64
    }
}

impl Element for f64 {
    const DTYPE: DType = DType::F64;
    fn from_f64(v: f64) -> Self {
        v
    }
    fn to_f64(self) -> f64 {
        self
    }
}
