//! The cooperative-matrix (tensor-core) tier: a GEMM (`shaders/coop_gemm.wgsl`) and a batched
//! block GEMM (`shaders/coop_block_gemm.wgsl`, in [`coop_block_gemm`](super::coop_block_gemm))
//! with f16 or bf16 inputs and f32 accumulation, behind the `coop-matrix` cargo feature and a
//! runtime check.
//!
//! Mathematics: `C = h(A)·h(B)` for f32 matrices `A` (`m×k`) and `B` (`k×n`), `h` the input
//! conversion of [`HalfInput`] ([`coop_convert`](super::coop_convert)): f16 rounding (unit
//! roundoff `u_h = 2⁻¹¹`), or bf16 rounding (`u_b = 2⁻⁸`) carried exactly as f16 by a
//! power-of-two scale per operand, undone on the f32 result. Every product of two f16 values is
//! exact in f32 and the sums are accumulated in f32 (`u = 2⁻²⁴`), so to first order
//! `|C − A·B| ≤ (2u_h + k·u)·|A|·|B|` entrywise for f16, `(2u_b + k·u)·|A|·|B|` plus the
//! f16-subnormal term for bf16 (docs/accuracy.md, "Half-precision inputs"). Only an explicitly
//! requested half-precision GEMM runs here; f32 results of every other path are untouched.
//! None of it has run on hardware with cooperative matrices yet: naga validates the shaders and
//! lavapipe runs the conversion (`coop_convert.wgsl`).
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

use crate::kernels::coop_convert::{CONVERT_WG, CoopConvertParams, HalfInput, convert_groups};
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
    mode: u32,
    _pad1: u32,
}

/// The compiled cooperative-matrix GEMM and block GEMM of one device (built once, kept).
#[derive(Debug)]
pub struct CoopGemm {
    pub(crate) dev: Arc<GpuDevice>,
    pipeline: wgpu::ComputePipeline,
    pub(crate) block_pipeline: wgpu::ComputePipeline,
}

/// Compiles entry point `name` of the optional shader of the same name, one workgroup per
/// subgroup of `subgroup` invocations.
fn compile(dev: &GpuDevice, name: &'static str, subgroup: u32) -> Result<wgpu::ComputePipeline> {
    let shader = crate::shaders::optional()
        .iter()
        .find(|s| s.name == name)
        .ok_or_else(|| Error::Backend(format!("{name}.wgsl is not registered")))?;
    dev.scoped(&format!("compiling pipeline {name}"), || {
        let module = dev
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(name),
                source: wgpu::ShaderSource::Wgsl(shader.source.into()),
            });
        dev.device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(name),
                layout: None,
                module: &module,
                entry_point: Some(name),
                compilation_options: wgpu::PipelineCompilationOptions {
                    constants: &[("WG", f64::from(subgroup))],
                    zero_initialize_workgroup_memory: true,
                },
                cache: None,
            })
    })
}

/// Checks the operands of [`CoopGemm::gemm`] (`A` `m×k`, `B` `k×n`, none empty) and returns
/// `(m, k, n)`; the same checks run before every product, on any device.
///
/// # Errors
/// [`Error::EmptyDimension`] for an empty operand; [`Error::ShapeMismatch`] when the columns of
/// `A` differ from the rows of `B`.
///
/// # Examples
/// ```
/// # let Ok(dev) = linops_gpu::GpuDevice::new(&Default::default()) else { return };
/// use linops_gpu::kernels::coop_gemm::check_gemm;
/// let a = dev.alloc(2, 3).unwrap();
/// assert_eq!(check_gemm(&a, &dev.alloc(3, 4).unwrap()).unwrap(), (2, 3, 4));
/// assert!(check_gemm(&a, &dev.alloc(2, 4).unwrap()).is_err());
/// ```
pub fn check_gemm(a: &GpuMat, b: &GpuMat) -> Result<(usize, usize, usize)> {
    let (m, k, n) = (a.rows(), a.cols(), b.cols());
    if m == 0 || k == 0 || n == 0 || b.rows() == 0 {
        return Err(Error::EmptyDimension {
            context: format!("coop_gemm (m={m}, k={k}, n={n}, B {}x{n})", b.rows()),
            rows: m,
            cols: k,
        });
    }
    if b.rows() != k {
        return Err(Error::ShapeMismatch {
            context: "coop_gemm: B against A".into(),
            expected: format!("{k} rows (the columns of A, {m}x{k})"),
            found: format!("{}x{}", b.rows(), b.cols()),
        });
    }
    Ok((m, k, n))
}

impl CoopGemm {
    /// Compiles `coop_gemm.wgsl` and `coop_block_gemm.wgsl` for `dev` after [`coop_support`]
    /// accepted it.
    ///
    /// # Errors
    /// [`Error::Unsupported`] from [`coop_support`]; [`Error::Backend`] when a pipeline does
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
        Ok(Self {
            dev: Arc::clone(dev),
            pipeline: compile(dev, "coop_gemm", subgroup)?,
            block_pipeline: compile(dev, "coop_block_gemm", subgroup)?,
        })
    }

    /// `C = fl16(A)·fl16(B)` with f32 accumulation, as a new `m×n` matrix (one dispatch,
    /// submitted): [`CoopGemm::gemm_with`] for [`HalfInput::F16`].
    ///
    /// # Errors
    /// As [`CoopGemm::gemm_with`].
    ///
    /// See [`CoopGemm::new`] for an example.
    pub fn gemm(&self, a: &GpuMat, b: &GpuMat) -> Result<GpuMat> {
        self.gemm_with(a, b, HalfInput::F16)
    }

    /// `C = h(A)·h(B)` with f32 accumulation for the input conversion `h` of `input`, as a new
    /// `m×n` matrix (bf16: two `coop_absmax` passes and the product, one submission).
    ///
    /// # Errors
    /// [`Error::EmptyDimension`] for an empty operand; [`Error::ShapeMismatch`] when the columns
    /// of `A` differ from the rows of `B`; [`Error::InvalidArgument`] for matrices of another
    /// device or sizes beyond u32; [`Error::DeviceLimit`] for a grid beyond the device;
    /// [`Error::Backend`] on device errors.
    ///
    /// # Examples
    /// ```
    /// # let Ok(dev) = linops_gpu::GpuDevice::new(&Default::default()) else { return };
    /// use linops_gpu::kernels::{coop_convert::HalfInput, coop_gemm::CoopGemm};
    /// let Ok(g) = CoopGemm::new(&dev) else { return }; // no tensor cores here
    /// let a = dev.upload(1, 1, &[1.0e20]).unwrap(); // beyond f16, fine for bf16
    /// let b = dev.upload(1, 1, &[0.5]).unwrap();
    /// let c = dev.download(&g.gemm_with(&a, &b, HalfInput::Bf16).unwrap()).unwrap();
    /// assert!((c[0] - 5.0e19).abs() <= 5.0e19 * 2f32.powi(-8));
    /// ```
    pub fn gemm_with(&self, a: &GpuMat, b: &GpuMat, input: HalfInput) -> Result<GpuMat> {
        let dev = &self.dev;
        let (m, k, n) = check_gemm(a, b)?;
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
            mode: input.mode(),
            _pad1: 0,
        };
        let groups = self.grid("coop_gemm", m, n, 1)?;
        self.run(
            "coop_gemm",
            &self.pipeline,
            [a, b, &c],
            bytemuck::bytes_of(&params),
            input,
            groups,
        )?;
        Ok(c)
    }

    /// The grid `(⌈m/16⌉, ⌈n/16⌉, z)`, or [`Error::DeviceLimit`] when a dimension exceeds the
    /// device.
    pub(crate) fn grid(&self, what: &str, m: usize, n: usize, z: usize) -> Result<[u32; 3]> {
        let tile = COOP_TILE as usize;
        let groups = [m.div_ceil(tile), n.div_ceil(tile), z];
        let max = self.dev.limits().max_compute_workgroups_per_dimension as usize;
        if let Some(&g) = groups.iter().find(|&&g| g > max) {
            return Err(Error::DeviceLimit {
                what: format!("{what} grid for m={m}, n={n}, {z} blocks"),
                requested: g as u64,
                limit_name: "max_compute_workgroups_per_dimension".into(),
                limit: max as u64,
            });
        }
        Ok(groups.map(|g| g as u32))
    }

    /// Records and submits one cooperative product: for bf16 first `coop_absmax` over
    /// `mats[0]` (slot 0) and `mats[1]` (slot 1), then `pipeline` with `mats` at bindings 0–2,
    /// `uniform` at 3 and the maxima at 4.
    pub(crate) fn run(
        &self,
        label: &'static str,
        pipeline: &wgpu::ComputePipeline,
        mats: [&GpuMat; 3],
        uniform: &[u8],
        input: HalfInput,
        groups: [u32; 3],
    ) -> Result<()> {
        use wgpu::util::DeviceExt;
        let dev = &self.dev;
        let absmax = match input {
            HalfInput::Bf16 => Some(dev.pipeline("coop_absmax", &[("WG", f64::from(CONVERT_WG))])?),
            HalfInput::F16 => None,
        };
        let maxima_params = [
            CoopConvertParams::new(mats[0].len(), input, 0)?,
            CoopConvertParams::new(mats[1].len(), input, 1)?,
        ];
        dev.scoped(label, || {
            let init = |what: &str, contents: &[u8], usage| {
                dev.device
                    .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                        label: Some(what),
                        contents,
                        usage,
                    })
            };
            // Zeroed before every product: coop_absmax atomicMax-es into it.
            let maxes = init(
                "coop maxima",
                bytemuck::cast_slice(&[0u32; 2]),
                wgpu::BufferUsages::STORAGE,
            );
            let params = init(label, uniform, wgpu::BufferUsages::UNIFORM);
            let mut enc = dev
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some(label) });
            if let Some(absmax) = &absmax {
                for (m, p) in mats[..2].iter().zip(&maxima_params) {
                    let u = init(
                        "coop_absmax params",
                        bytemuck::bytes_of(p),
                        wgpu::BufferUsages::UNIFORM,
                    );
                    let bind = dev.device.create_bind_group(&wgpu::BindGroupDescriptor {
                        label: Some("coop_absmax"),
                        layout: &absmax.get_bind_group_layout(0),
                        entries: &[
                            wgpu::BindGroupEntry {
                                binding: 0,
                                resource: m.binding(),
                            },
                            wgpu::BindGroupEntry {
                                binding: 1,
                                resource: maxes.as_entire_binding(),
                            },
                            wgpu::BindGroupEntry {
                                binding: 3,
                                resource: u.as_entire_binding(),
                            },
                        ],
                    });
                    let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                        label: Some("coop_absmax"),
                        timestamp_writes: None,
                    });
                    pass.set_pipeline(absmax);
                    pass.set_bind_group(0, &bind, &[]);
                    pass.dispatch_workgroups(convert_groups(m.len()), 1, 1);
                }
            }
            let bind = dev.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some(label),
                layout: &pipeline.get_bind_group_layout(0),
                entries: &[
                    wgpu::BindGroupEntry {
                        binding: 0,
                        resource: mats[0].binding(),
                    },
                    wgpu::BindGroupEntry {
                        binding: 1,
                        resource: mats[1].binding(),
                    },
                    wgpu::BindGroupEntry {
                        binding: 2,
                        resource: mats[2].binding(),
                    },
                    wgpu::BindGroupEntry {
                        binding: 3,
                        resource: params.as_entire_binding(),
                    },
                    wgpu::BindGroupEntry {
                        binding: 4,
                        resource: maxes.as_entire_binding(),
                    },
                ],
            });
            {
                let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some(label),
                    timestamp_writes: None,
                });
                pass.set_pipeline(pipeline);
                pass.set_bind_group(0, &bind, &[]);
                pass.dispatch_workgroups(groups[0], groups[1], groups[2]);
            }
            dev.queue.submit([enc.finish()]);
        })
    }
}
