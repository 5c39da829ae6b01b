//! The cooperative-matrix (tensor-core) tier: a GEMM with f16 inputs and f32 accumulation
//! (`shaders/coop_gemm.wgsl`), behind the `coop-matrix` cargo feature and a runtime check.
//!
//! Mathematics: `C = fl16(A)·fl16(B)` for f32 matrices `A` (`m×k`) and `B` (`k×n`): each input
//! element is rounded to f16 once (unit roundoff `u_h = 2⁻¹¹`), every product of two f16 values
//! is exact in f32 and the sums are accumulated in f32 (`u = 2⁻²⁴`), so to first order
//! `|C − A·B| ≤ (2u_h + k·u)·|A|·|B|` entrywise (docs/accuracy.md, "Half-precision inputs").
//! Only an explicitly requested half-precision GEMM runs here; f32 results of every other path
//! are untouched.
//!
//! Requirements, checked by [`coop_support`] before anything is compiled: the crate built with
//! `coop-matrix` (the device then requests `EXPERIMENTAL_COOPERATIVE_MATRIX` and `SHADER_F16`
//! when the adapter offers them), both features granted, and a subgroup-scope cooperative-matrix
//! configuration 16×16×16 with f16 `A`/`B` and f32 `C` among
//! `adapter.cooperative_matrix_properties()`. NVIDIA GPUs offer it through
//! `VK_KHR_cooperative_matrix`; lavapipe does not.
//!
//! Storage: column-major f32 in and out (`lda = m`, `ldb = k`, `ldc = m`). Cost: `2·m·n·k`
//! FLOPs in one dispatch, grid `(⌈m/16⌉, ⌈n/16⌉, 1)` of one subgroup each (the adapter's largest
//! subgroup size), each workgroup one 16×16 tile of `C`, staging 16-deep slices of `A` and `B` as
//! f16 in workgroup memory.

use std::sync::Arc;

use linops_core::{Error, Result};

use crate::kernels::{check_distinct, to_u32};
use crate::{GpuDevice, GpuMat};

/// The wgpu features the device requests for this tier (none without `coop-matrix`).
pub(crate) fn wanted_features() -> wgpu::Features {
    if cfg!(feature = "coop-matrix") {
        wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX | wgpu::Features::SHADER_F16
    } else {
        wgpu::Features::empty()
    }
}

/// The experimental-features token for a device requesting `features`: enabled only when the
/// cooperative-matrix feature is among them.
pub(crate) fn experimental_features(features: wgpu::Features) -> wgpu::ExperimentalFeatures {
    if features.contains(wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX) {
        // SAFETY: the only experimental feature requested is the cooperative matrix, used by
        // `coop_gemm.wgsl` alone, on configurations the adapter reports; the module is
        // validated by naga (tests/src/coop_gemm.rs) and every access is bounds-guarded in
        // WGSL.
        unsafe { wgpu::ExperimentalFeatures::enabled() }
    } else {
        wgpu::ExperimentalFeatures::disabled()
    }
}

/// What the adapter offers this tier, captured when the device is created.
#[derive(Debug, Clone, Default)]
pub(crate) struct CoopInfo {
    /// The cooperative-matrix configurations (empty unless the device has the feature).
    configs: Vec<wgpu::CooperativeMatrixProperties>,
    /// The adapter's subgroup sizes `(min, max)`.
    subgroup: (u32, u32),
}

/// The adapter's cooperative-matrix configurations when the device has the feature (else none)
/// and its subgroup sizes.
pub(crate) fn adapter_configs(adapter: &wgpu::Adapter, device: &wgpu::Device) -> CoopInfo {
    let info = adapter.get_info();
    let configs = if device
        .features()
        .contains(wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX)
    {
        adapter.cooperative_matrix_properties()
    } else {
        Vec::new()
    };
    CoopInfo {
        configs,
        subgroup: (info.subgroup_min_size, info.subgroup_max_size),
    }
}

/// Tile edge of the configuration this tier uses (16×16×16).
pub const COOP_TILE: u32 = 16;

/// Whether `dev` can run the cooperative-matrix GEMM: `Ok(subgroup size)` or
/// [`Error::Unsupported`] naming the missing capability (the cargo feature, a wgpu feature, or
/// the 16×16×16 f16→f32 configuration, with the configurations the adapter does offer).
///
/// # Errors
/// [`Error::Unsupported`] as above.
///
/// # Examples
/// ```
/// # let Ok(dev) = linops_gpu::GpuDevice::new(&Default::default()) else { return };
/// match linops_gpu::kernels::coop_gemm::coop_support(&dev) {
///     Ok(sg) => println!("tensor cores, subgroup {sg}"),
///     Err(e) => assert!(e.to_string().contains("cooperative") || e.to_string().contains("coop")),
/// }
/// ```
pub fn coop_support(dev: &GpuDevice) -> Result<u32> {
    let name = &dev.info().name;
    if !cfg!(feature = "coop-matrix") {
        return Err(Error::Unsupported(format!(
            "half-precision GEMM on cooperative matrices: linops-gpu was built without the \
             `coop-matrix` feature (adapter {name})"
        )));
    }
    let have = dev.device.features();
    for (f, what) in [
        (
            wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX,
            "EXPERIMENTAL_COOPERATIVE_MATRIX (VK_KHR_cooperative_matrix with the Vulkan memory \
             model at device scope)",
        ),
        (wgpu::Features::SHADER_F16, "SHADER_F16"),
    ] {
        if !have.contains(f) {
            return Err(Error::Unsupported(format!(
                "half-precision GEMM on cooperative matrices: adapter {name} lacks the wgpu \
                 feature {what}"
            )));
        }
    }
    let ok = dev.cooperative.configs.iter().any(|p| {
        (p.m_size, p.n_size, p.k_size) == (COOP_TILE, COOP_TILE, COOP_TILE)
            && p.ab_type == wgpu::CooperativeScalarType::F16
            && p.cr_type == wgpu::CooperativeScalarType::F32
    });
    if !ok {
        let offered: Vec<String> = dev
            .cooperative
            .configs
            .iter()
            .map(|p| {
                format!(
                    "{}x{}x{} {:?}->{:?}",
                    p.m_size, p.n_size, p.k_size, p.ab_type, p.cr_type
                )
            })
            .collect();
        return Err(Error::Unsupported(format!(
            "half-precision GEMM on cooperative matrices: adapter {name} has no 16x16x16 \
             f16->f32 cooperative-matrix configuration (offers: [{}])",
            offered.join(", ")
        )));
    }
    // One workgroup is one subgroup (the cooperative operations are subgroup-scoped): that needs
    // a fixed subgroup size.
    let (lo, hi) = dev.cooperative.subgroup;
    if lo != hi || lo == 0 {
        return Err(Error::Unsupported(format!(
            "half-precision GEMM on cooperative matrices: adapter {name} has a varying subgroup \
             size ({lo}..={hi}); the kernel needs one workgroup to be one subgroup"
        )));
    }
    Ok(lo)
}

/// Uniform block of `coop_gemm.wgsl` (`CoopGemmParams`).
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct CoopGemmParams {
    m: u32,
    n: u32,
    k: u32,
    lda: u32,
    ldb: u32,
    ldc: u32,
    _pad0: u32,
    _pad1: u32,
}

/// The compiled cooperative-matrix GEMM of one device (built once, kept).
#[derive(Debug)]
pub struct CoopGemm {
    dev: Arc<GpuDevice>,
    pipeline: wgpu::ComputePipeline,
}

impl CoopGemm {
    /// Compiles `coop_gemm.wgsl` for `dev` after [`coop_support`] accepted it.
    ///
    /// # Errors
    /// [`Error::Unsupported`] from [`coop_support`]; [`Error::Backend`] when the pipeline does
    /// not compile.
    ///
    /// # Examples
    /// ```
    /// # let Ok(dev) = linops_gpu::GpuDevice::new(&Default::default()) else { return };
    /// use linops_gpu::kernels::coop_gemm::CoopGemm;
    /// let Ok(g) = CoopGemm::new(&dev) else { return }; // no tensor cores here
    /// let a = dev.upload(1, 1, &[3.0]).unwrap();
    /// let b = dev.upload(1, 1, &[0.5]).unwrap();
    /// assert_eq!(dev.download(&g.gemm(&a, &b).unwrap()).unwrap(), vec![1.5]);
    /// ```
    pub fn new(dev: &Arc<GpuDevice>) -> Result<Self> {
        let subgroup = coop_support(dev)?;
        let shader = crate::shaders::optional()
            .iter()
            .find(|s| s.name == "coop_gemm")
            .ok_or_else(|| Error::Backend("coop_gemm.wgsl is not registered".into()))?;
        let pipeline = dev.scoped("compiling pipeline coop_gemm", || {
            let module = dev
                .device
                .create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some("coop_gemm"),
                    source: wgpu::ShaderSource::Wgsl(shader.source.into()),
                });
            dev.device
                .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some("coop_gemm"),
                    layout: None,
                    module: &module,
                    entry_point: Some("coop_gemm"),
                    compilation_options: wgpu::PipelineCompilationOptions {
                        constants: &[("WG", f64::from(subgroup))],
                        zero_initialize_workgroup_memory: true,
                    },
                    cache: None,
                })
        })?;
        Ok(Self {
            dev: Arc::clone(dev),
            pipeline,
        })
    }

    /// `C = fl16(A)·fl16(B)` with f32 accumulation, as a new `m×n` matrix (one dispatch,
    /// submitted).
    ///
    /// # Errors
    /// [`Error::EmptyDimension`] for an empty operand; [`Error::ShapeMismatch`] when the columns
    /// of `A` differ from the rows of `B`; [`Error::InvalidArgument`] for matrices of another
    /// device or sizes beyond u32; [`Error::DeviceLimit`] for a grid beyond the device;
    /// [`Error::Backend`] on device errors.
    ///
    /// See [`CoopGemm::new`] for an example.
    pub fn gemm(&self, a: &GpuMat, b: &GpuMat) -> Result<GpuMat> {
        let dev = &self.dev;
        let (m, k, n) = (a.rows(), a.cols(), b.cols());
        if m == 0 || k == 0 || n == 0 {
            return Err(Error::EmptyDimension {
                context: format!("coop_gemm (m={m}, k={k}, n={n})"),
                rows: m,
                cols: k,
            });
        }
        if b.rows() != k {
            return Err(Error::ShapeMismatch {
                context: "coop_gemm: B against A".into(),
                expected: format!("{k} rows (the columns of A)"),
                found: format!("{}x{}", b.rows(), b.cols()),
            });
        }
        dev.check_owned("coop_gemm: A", a)?;
        dev.check_owned("coop_gemm: B", b)?;
        let c = dev.alloc(m, n)?;
        check_distinct("coop_gemm", &c, &[a, b])?;
        to_u32("A elements", a.len())?;
        to_u32("B elements", b.len())?;
        to_u32("C elements", c.len())?;
        let params = CoopGemmParams {
            m: to_u32("m", m)?,
            n: to_u32("n", n)?,
            k: to_u32("k", k)?,
            lda: to_u32("lda", m)?,
            ldb: to_u32("ldb", k)?,
            ldc: to_u32("ldc", m)?,
            _pad0: 0,
            _pad1: 0,
        };
        let tile = COOP_TILE as usize;
        let groups = [m.div_ceil(tile), n.div_ceil(tile)];
        let max = dev.limits().max_compute_workgroups_per_dimension as usize;
        if groups.iter().any(|&g| g > max) {
            return Err(Error::DeviceLimit {
                what: format!("coop_gemm grid for {m}x{n}"),
                requested: groups.iter().copied().max().unwrap_or(0) as u64,
                limit_name: "max_compute_workgroups_per_dimension".into(),
                limit: max as u64,
            });
        }
        dev.scoped("coop_gemm", || {
            use wgpu::util::DeviceExt;
            let uniform = dev
                .device
                .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some("coop_gemm params"),
                    contents: bytemuck::bytes_of(&params),
                    usage: wgpu::BufferUsages::UNIFORM,
                });
            let layout = self.pipeline.get_bind_group_layout(0);
            let bind = dev.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("coop_gemm"),
                layout: &layout,
                entries: &[
                    wgpu::BindGroupEntry {
                        binding: 0,
                        resource: a.binding(),
                    },
                    wgpu::BindGroupEntry {
                        binding: 1,
                        resource: b.binding(),
                    },
                    wgpu::BindGroupEntry {
                        binding: 2,
                        resource: c.binding(),
                    },
                    wgpu::BindGroupEntry {
                        binding: 3,
                        resource: uniform.as_entire_binding(),
                    },
                ],
            });
            let mut enc = dev
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("coop_gemm"),
                });
            {
                let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("coop_gemm"),
                    timestamp_writes: None,
                });
                pass.set_pipeline(&self.pipeline);
                pass.set_bind_group(0, &bind, &[]);
                pass.dispatch_workgroups(groups[0] as u32, groups[1] as u32, 1);
            }
            dev.queue.submit([enc.finish()]);
        })?;
        Ok(c)
    }
}
