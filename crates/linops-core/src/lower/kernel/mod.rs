//! The kernels a plan can contain: one file per kernel, each holding the kernel's arguments
//! type and everything the core knows about it.
//!
//! A kernel is a struct (its scalar arguments) implementing [`KernelSpec`]: its [`KernelKind`]
//! (label, cost-model key), its arity, its shape rule and cost, and its `explain()` text. The
//! [`Kernel`] enum, the [`KernelKind`] enum and their dispatch are generated from one list
//! ([`for_each_kernel!`](crate::for_each_kernel), which backends also use to dispatch to their
//! implementation of each kernel), so a new kernel is its file plus one line of that list. Each
//! kernel is one WGSL entry point family on the GPU and one faer routine (or plain loop) on the
//! CPU. All matrices are column-major.

mod axpby;
mod batch_transpose;
mod batched_gemm;
mod block_gemm;
mod butterfly;
mod col_dots;
mod col_norms;
mod copy_cols;
mod dct;
mod diag_scale;
mod fwht;
mod gather;
mod gemm;
mod gemm_diag;
mod kronecker_gemm;
mod monarch;
mod random_fill;
mod sketch_gemm;
mod spmm;
mod srht;
mod transpose;

pub use axpby::Axpby;
pub use batch_transpose::BatchTranspose;
pub use batched_gemm::BatchedGemm;
pub use block_gemm::{BlockGemm, BlockLayout};
pub use butterfly::Butterfly;
pub use col_dots::ColDots;
pub use col_norms::ColNorms;
pub use copy_cols::CopyCols;
pub use dct::Dct;
pub use diag_scale::DiagScale;
pub use fwht::{Fwht, FwhtBase};
pub use gather::Gather;
pub use gemm::Gemm;
pub use gemm_diag::GemmDiag;
pub use kronecker_gemm::KroneckerGemm;
pub use monarch::{Monarch, monarch_dims};
pub use random_fill::RandomFill;
pub use sketch_gemm::SketchGemm;
pub use spmm::Spmm;
pub use srht::Srht;
pub use transpose::Transpose;

use crate::{Error, Result};

/// Calls `$callback! { $(Variant),* }` with every kernel of [`Kernel`] (the variant name is also
/// the name of its arguments struct in [`crate::lower::kernel`]): the one list of kernels, from
/// which core generates [`Kernel`] and [`KernelKind`] and each backend its dispatch.
///
/// # Examples
/// ```
/// macro_rules! count { ($($k:ident),*) => { [$(stringify!($k)),*].len() } }
/// assert_eq!(linops_core::for_each_kernel!(count), linops_core::plan::KernelKind::ALL.len());
/// ```
#[macro_export]
macro_rules! for_each_kernel {
    ($callback:ident) => {
        $callback! {
            Gemm, Axpby, DiagScale, SketchGemm, Transpose, Gather, BlockGemm, Fwht, Dct,
            BatchTranspose, Spmm, ColNorms, ColDots, CopyCols, RandomFill, BatchedGemm,
            Butterfly, KroneckerGemm, Srht, GemmDiag, FwhtBase, Monarch
        }
    };
}

/// What the core knows about one kernel; implemented by each kernel's arguments struct.
///
/// # Examples
/// ```
/// use linops_core::plan::{KernelSpec, kernel::Axpby};
/// let k = Axpby { alpha: 1.0, beta: 0.0 };
/// assert_eq!((Axpby::LABEL, Axpby::ARITY), ("axpby", 1));
/// assert_eq!(k.cost(&[(2, 3)], (2, 3)).unwrap(), (6, 12));
/// assert!(k.cost(&[(2, 3)], (3, 2)).is_err());
/// ```
pub trait KernelSpec: Copy + std::fmt::Debug + PartialEq + Into<Kernel> {
    /// The kernel's name, shared with its WGSL file or entry point family and its pipeline label.
    const LABEL: &'static str;
    /// Number of input buffers.
    const ARITY: usize;
    /// Positions of the inputs that are index arrays ([`crate::IndexParam`] buffers, `u32` on
    /// every backend); every other input holds values of the plan's dtype. None by default.
    const INDEX_INPUTS: &'static [usize] = &[];
    /// The scalar factors (`alpha`, `beta`) that must be finite in the plan's dtype.
    fn scalars(&self) -> Vec<f64>;
    /// Checks the input and output shapes (`inputs.len() == ARITY`) and returns
    /// `(flops, elements moved)`, saturating, counting the elements of the plan's dtype only:
    /// index inputs ([`KernelSpec::INDEX_INPUTS`]) are counted by [`crate::Lowerer::push`] at
    /// [`crate::INDEX_BYTES`] per index.
    ///
    /// # Errors
    /// `Err(expected)`: a description of the shapes the kernel expected, which [`Kernel::cost`]
    /// turns into an [`Error::ShapeMismatch`] naming the kernel and the shapes found.
    fn cost(
        &self,
        inputs: &[(usize, usize)],
        out: (usize, usize),
    ) -> std::result::Result<(u64, u64), String>;
    /// The step's text in `Plan::explain`.
    fn describe(&self) -> String;
    /// Elements of the plan's dtype the kernel writes (part of [`KernelSpec::cost`]'s elements
    /// moved; the rest are read): by default the whole output.
    fn written(&self, _inputs: &[(usize, usize)], out: (usize, usize)) -> u64 {
        (Sat::of(out.0) * Sat::of(out.1)).0
    }
}

/// ` alpha=… beta=…` for the non-default scalars of a step's description.
pub(crate) fn ab(alpha: f64, beta: f64) -> String {
    let mut s = String::new();
    if alpha != 1.0 {
        s += &format!(" alpha={alpha}");
    }
    if beta != 0.0 {
        s += &format!(" beta={beta}");
    }
    s
}

/// Elements of `out` read by an update with `beta` (none when `beta == 0`).
pub(crate) fn reads_out(beta: f64, m: Sat, n: Sat) -> Sat {
    if beta != 0.0 { m * n } else { Sat(0) }
}

macro_rules! declare_kernels {
    ($($k:ident),*) => {
        /// A kernel and its scalar arguments: one variant per kernel, holding its arguments
        /// struct (see [`KernelSpec`]).
        ///
        /// Deliberately exhaustive: a new kernel fails to compile in every backend until each
        /// implements it, instead of reaching a run-time "not implemented".
        ///
        /// # Examples
        /// ```
        /// use linops_core::{Kernel, plan::kernel::Gemm};
        /// let k = Kernel::from(Gemm { trans_a: true, trans_b: false, alpha: 1.0, beta: 0.0 });
        /// assert_eq!(k.label(), "gemm");
        /// ```
        #[derive(Debug, Clone, Copy, PartialEq)]
        pub enum Kernel {
            $(
                #[doc = concat!("See [`kernel::", stringify!($k), "`](crate::lower::kernel::", stringify!($k), ").")]
                $k($k),
            )*
        }

        /// Which kernel a step runs, without its arguments: the cost model's key.
        ///
        /// # Examples
        /// ```
        /// use linops_core::plan::KernelKind;
        /// assert_eq!(KernelKind::BlockGemm.label(), "block_gemm");
        /// assert_eq!(KernelKind::from_label("block_gemm"), Some(KernelKind::BlockGemm));
        /// ```
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum KernelKind {
            $(
                #[doc = concat!("[`kernel::", stringify!($k), "`](crate::lower::kernel::", stringify!($k), ").")]
                $k,
            )*
        }

        impl KernelKind {
            /// Every kernel kind, in declaration order.
            ///
            /// # Examples
            /// ```
            /// assert!(linops_core::plan::KernelKind::ALL.contains(&linops_core::plan::KernelKind::Gemm));
            /// ```
            pub const ALL: &'static [KernelKind] = &[$(KernelKind::$k),*];

            /// The kernel's name, shared with its WGSL file or entry point family and its
            /// pipeline label (`BlockGemm` → `"block_gemm"`).
            ///
            /// # Examples
            /// ```
            /// assert_eq!(linops_core::plan::KernelKind::SketchGemm.label(), "sketch_gemm");
            /// ```
            pub fn label(self) -> &'static str {
                match self {
                    $(KernelKind::$k => <$k as KernelSpec>::LABEL,)*
                }
            }

            /// The kind whose [`label`](Self::label) is `label`.
            ///
            /// # Examples
            /// ```
            /// assert_eq!(linops_core::plan::KernelKind::from_label("no such kernel"), None);
            /// ```
            pub fn from_label(label: &str) -> Option<KernelKind> {
                KernelKind::ALL.iter().copied().find(|k| k.label() == label)
            }
        }

        $(
            impl From<$k> for Kernel {
                fn from(k: $k) -> Kernel {
                    Kernel::$k(k)
                }
            }
        )*

        impl Kernel {
            /// The kernel's kind.
            ///
            /// # Examples
            /// ```
            /// use linops_core::{Kernel, plan::{KernelKind, kernel::Transpose}};
            /// assert_eq!(Kernel::from(Transpose).kind(), KernelKind::Transpose);
            /// ```
            pub fn kind(&self) -> KernelKind {
                match self {
                    $(Kernel::$k(_) => KernelKind::$k,)*
                }
            }

            /// The kernel's scalar parameters (its `alpha` and `beta`; none for a copy).
            ///
            /// # Examples
            /// ```
            /// use linops_core::{Kernel, plan::kernel::{Axpby, Transpose}};
            /// assert_eq!(Kernel::from(Axpby { alpha: 2.0, beta: 1.0 }).scalars(), vec![2.0, 1.0]);
            /// assert!(Kernel::from(Transpose).scalars().is_empty());
            /// ```
            pub fn scalars(&self) -> Vec<f64> {
                match self {
                    $(Kernel::$k(k) => k.scalars(),)*
                }
            }

            /// Positions of the inputs that are index arrays ([`crate::IndexParam`] buffers,
            /// `u32` on every backend; [`KernelSpec::INDEX_INPUTS`]); every other input holds
            /// values of the plan's dtype.
            ///
            /// # Examples
            /// ```
            /// use linops_core::{Kernel, plan::kernel::{Spmm, Transpose}};
            /// assert_eq!(Kernel::from(Spmm { alpha: 1.0, beta: 0.0 }).index_inputs(), &[0, 1]);
            /// assert!(Kernel::from(Transpose).index_inputs().is_empty());
            /// ```
            pub fn index_inputs(&self) -> &'static [usize] {
                match self {
                    $(Kernel::$k(_) => <$k as KernelSpec>::INDEX_INPUTS,)*
                }
            }

            /// Elements of the plan's dtype the kernel writes ([`KernelSpec::written`]), for
            /// shapes [`Kernel::cost`] accepted.
            ///
            /// # Examples
            /// ```
            /// use linops_core::{Kernel, plan::kernel::{Axpby, CopyCols}};
            /// assert_eq!(Kernel::from(Axpby { alpha: 1.0, beta: 1.0 }).written(&[(2, 3)], (2, 3)), 6);
            /// assert_eq!(Kernel::from(CopyCols { offset: 1 }).written(&[(2, 3)], (2, 5)), 6);
            /// ```
            pub fn written(&self, inputs: &[(usize, usize)], out: (usize, usize)) -> u64 {
                match self {
                    $(Kernel::$k(k) => k.written(inputs, out),)*
                }
            }

            /// The step's text in `Plan::explain`.
            ///
            /// # Examples
            /// ```
            /// use linops_core::{Kernel, plan::kernel::Axpby};
            /// assert_eq!(Kernel::from(Axpby { alpha: 2.0, beta: 0.0 }).describe(), "axpby alpha=2");
            /// ```
            pub fn describe(&self) -> String {
                match self {
                    $(Kernel::$k(k) => k.describe(),)*
                }
            }

            /// Checks the argument count and shapes and returns `(flops, elements moved)`
            /// (saturating: sizes near `usize::MAX` do not wrap).
            ///
            /// # Errors
            /// [`Error::InvalidArgument`] for a wrong argument count, [`Error::ShapeMismatch`]
            /// when the shapes do not fit.
            ///
            /// # Examples
            /// ```
            /// use linops_core::{Kernel, plan::kernel::Axpby};
            /// let k = Kernel::from(Axpby { alpha: 1.0, beta: 0.0 });
            /// assert_eq!(k.cost(&[(2, 3)], (2, 3)).unwrap(), (6, 12));
            /// assert!(k.cost(&[(2, 3)], (3, 2)).is_err());
            /// assert!(k.cost(&[(2, 3), (2, 3)], (2, 3)).is_err());
            /// ```
            pub fn cost(&self, inputs: &[(usize, usize)], out: (usize, usize)) -> Result<(u64, u64)> {
                let (arity, checked) = match self {
                    $(Kernel::$k(k) => (
                        <$k as KernelSpec>::ARITY,
                        (inputs.len() == <$k as KernelSpec>::ARITY).then(|| k.cost(inputs, out)),
                    ),)*
                };
                match checked {
                    None => Err(Error::InvalidArgument(format!(
                        "{} takes {arity} inputs, got {}",
                        self.label(),
                        inputs.len()
                    ))),
                    Some(Ok(c)) => Ok(c),
                    Some(Err(expected)) => Err(Error::ShapeMismatch {
                        context: format!("{} step", self.label()),
                        expected,
                        found: format!("inputs {inputs:?}, output {out:?}"),
                    }),
                }
            }
        }
    };
}

for_each_kernel!(declare_kernels);

impl Kernel {
    /// The kernel's name ([`KernelKind::label`]).
    ///
    /// # Examples
    /// ```
    /// use linops_core::{Kernel, plan::kernel::Transpose};
    /// assert_eq!(Kernel::from(Transpose).label(), "transpose");
    /// ```
    pub fn label(&self) -> &'static str {
        self.kind().label()
    }
}

/// A saturating count of FLOPs or elements: a cost estimate for sizes near `usize::MAX` stays at
/// `u64::MAX` instead of wrapping (the plan rejects such buffers with a typed error afterwards).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sat(pub(crate) u64);

impl Sat {
    pub(crate) fn of(v: usize) -> Sat {
        Sat(u64::try_from(v).unwrap_or(u64::MAX))
    }
}

impl std::ops::Mul for Sat {
    type Output = Sat;
    fn mul(self, rhs: Sat) -> Sat {
        Sat(self.0.saturating_mul(rhs.0))
    }
}

impl std::ops::Mul<Sat> for u64 {
    type Output = Sat;
    fn mul(self, rhs: Sat) -> Sat {
        Sat(self.saturating_mul(rhs.0))
    }
}

impl std::ops::Add for Sat {
    type Output = Sat;
    fn add(self, rhs: Sat) -> Sat {
        Sat(self.0.saturating_add(rhs.0))
    }
}

impl std::ops::Add<u64> for Sat {
    type Output = Sat;
    fn add(self, rhs: u64) -> Sat {
        Sat(self.0.saturating_add(rhs))
    }
}
