//! The one error type of linops.
//!
//! Errors separate "this input is wrong" ([`Error::ShapeMismatch`], [`Error::InvalidArgument`],
//! [`Error::EmptyDimension`], [`Error::NonFinite`]) from "this device cannot"
//! ([`Error::Unsupported`], [`Error::DeviceLimit`], [`Error::NoAdapter`]) and from failures of the
//! backend itself ([`Error::Backend`]).

/// Every failure a linops call can report.
///
/// # Examples
/// ```
/// use linops_core::Error;
/// let e = Error::ShapeMismatch { context: "product".into(), expected: "3 rows".into(), found: "4 rows".into() };
/// assert!(e.to_string().contains("product"));
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Two shapes that must agree do not.
    #[error("shape mismatch in {context}: expected {expected}, found {found}")]
    ShapeMismatch {
        /// Where the mismatch was found (operator or call).
        context: String,
        /// What the shape had to be.
        expected: String,
        /// What it was.
        found: String,
    },
    /// A dimension is zero where linops needs at least one row or column.
    #[error("empty dimension in {context}: {rows}x{cols} (every dimension must be at least 1)")]
    EmptyDimension {
        /// Where the empty dimension was found.
        context: String,
        /// Rows of the offending matrix.
        rows: usize,
        /// Columns of the offending matrix.
        cols: usize,
    },
    /// An input holds NaN or ±Inf (linops rejects non-finite inputs on every backend).
    #[error("non-finite value {value} in {context} at row {row}, column {col}")]
    NonFinite {
        /// Which input held the value.
        context: String,
        /// Row of the first non-finite entry.
        row: usize,
        /// Column of the first non-finite entry.
        col: usize,
        /// The value itself (NaN or ±inf), for the message.
        value: f64,
    },
    /// A parameter is outside its valid range.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The input is valid but exceeds a limit of the device or of linops.
    #[error("{what} needs {requested} but the device limit {limit_name} is {limit}")]
    DeviceLimit {
        /// What was being allocated or dispatched.
        what: String,
        /// The amount asked for (bytes, elements or workgroups).
        requested: u64,
        /// The name of the limit (for example `max_storage_buffer_binding_size`).
        limit_name: String,
        /// The limit's value on this device.
        limit: u64,
    },
    /// The backend cannot do this at all (a missing feature, a dtype it does not compute in).
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// No GPU adapter could be found or opened.
    #[error("no GPU adapter: {0}")]
    NoAdapter(String),
    /// The backend failed while running (device lost, out of memory, validation error).
    #[error("backend failure: {0}")]
    Backend(String),
}

/// Result with the linops [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
