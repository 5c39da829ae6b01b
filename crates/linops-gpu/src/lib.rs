//! wgpu/WGSL GPU backend of linops: device and adapter choice, buffer pool, pipeline cache and
//! the kernel layer (GEMM, elementwise, transpose, column reductions).
//!
//! Every matrix is f32 and column-major: element (i, j) of a matrix with leading dimension `ld`
//! lives at `offset + i + j·ld`. Work is recorded into a [`GpuEncoder`] and submitted once:
//!
//! ```
//! use linops_gpu::{DeviceOptions, GemmArgs, GpuDevice};
//! let Ok(dev) = GpuDevice::new(&DeviceOptions::from_env()) else { return };
//! let a = dev.upload(2, 2, &[1.0, 0.0, 0.0, 1.0]).unwrap();
//! let b = dev.upload(2, 2, &[1.0, 2.0, 3.0, 4.0]).unwrap();
//! let c = dev.alloc(2, 2).unwrap();
//! let mut enc = dev.encoder();
//! enc.gemm(&GemmArgs::new(2, 2, 2), &a, &b, &c).unwrap();
//! enc.submit().unwrap();
//! assert_eq!(dev.download(&c).unwrap(), vec![1.0, 2.0, 3.0, 4.0]);
//! ```
//!
//! Shipped pipelines are trusted shader modules (no runtime bounds checks); every kernel method
//! validates its index ranges on the host first, and `LINOPS_CHECKED_SHADERS=1` (or
//! [`DeviceOptions::checked_shaders`]) compiles normal checked modules for debugging.

pub mod backend;
pub mod device;
pub mod encoder;
pub mod kernels;
pub mod pipeline;
pub mod pool;
pub mod shaders;
pub mod uniform;

pub use backend::GpuBackend;
pub use device::{AdapterChoice, DeviceInfo, DeviceOptions, GpuDevice};
pub use encoder::GpuEncoder;
pub use kernels::batched_gemm::BatchedGemmArgs;
pub use kernels::block_gemm::BlockGemmArgs;
pub use kernels::elementwise::Side;
pub use kernels::gemm::{GemmArgs, GemmConfig, GemmTile};
pub use kernels::sketch_gemm::SketchGemmArgs;
pub use pool::{GpuIndices, GpuMat, PoolStats};
