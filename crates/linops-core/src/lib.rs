//! linops-core: the operator IR, planner, cost model and `Backend` trait of linops.
//!
//! No GPU and no linear-algebra library here: an [`Op`] describes a linear map, [`Plan::new`]
//! lowers `op · X` into kernel [`Step`]s over virtual buffers, and a [`Backend`] (faer on the CPU,
//! wgpu on the GPU) runs the plan.
//!
//! ```
//! use linops_core::{DType, Op, Plan};
//! let a = Op::dense(3, 2, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
//! let d = Op::diagonal(vec![1.0, 10.0, 100.0]).unwrap();
//! let op = Op::product(vec![d, a]).unwrap();           // diag(d) · A
//! let plan = Plan::new(&op, 2, 8, DType::F32).unwrap(); // applied to X of 2x8
//! assert_eq!(plan.steps().len(), 2);
//! print!("{}", plan.explain());
//! ```

pub mod backend;
pub mod dtype;
pub mod error;
pub mod host;
pub mod lower;
pub mod op;
pub mod plan;
pub mod rng;

pub use backend::{Backend, axpby_shape, check_scalar, gemm_shape};
pub use dtype::{DType, Element};
pub use error::{Error, Result};
pub use host::{HostMat, check_finite};
pub use lower::{
    BlockLayout, BufId, BufferDesc, BufferRole, INDEX_BYTES, IndexParam, Kernel, Link, Lowerer,
    Param, Step,
};
pub use op::{LeafOp, Lowering, Op};
pub use plan::{Plan, Rewrites};
