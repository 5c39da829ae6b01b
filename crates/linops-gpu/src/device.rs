//! Adapter choice and the [`GpuDevice`]: one wgpu device and queue plus everything built once
//! and kept for it (pipeline cache, buffer pool, error capture).
//!
//! The device requests the adapter's maximum limits and the optional features linops uses
//! (timestamp queries). wgpu's default uncaptured-error handler panics; linops replaces it and
//! wraps every fallible wgpu call in error scopes, so device errors become
//! [`Error::Backend`] instead of panics.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use linops_core::{Error, Result};

use crate::pipeline::PipelineCache;
use crate::pool::{BufferPool, PoolStats};

/// How [`GpuDevice::new`] picks an adapter.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AdapterChoice {
    /// The fastest adapter: discrete, then integrated, then virtual, then other, then CPU.
    #[default]
    HighPerformance,
    /// The first adapter whose name contains this text (case-insensitive).
    NameContains(String),
    /// A software (CPU) adapter such as Mesa's lavapipe (llvmpipe).
    Software,
}

/// Options for opening a [`GpuDevice`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeviceOptions {
    /// Which adapter to open.
    pub adapter: AdapterChoice,
    /// Compile every pipeline as a normal (bounds-checked) module instead of a trusted one.
    pub checked_shaders: bool,
    /// Lowers the largest buffer the device binds ([`GpuDevice::max_binding_bytes`]) to this
    /// many bytes, so that tests see tiled plans at small sizes (`LINOPS_MAX_BINDING_BYTES`).
    pub max_binding_bytes: Option<u64>,
}

impl DeviceOptions {
    /// Options from the environment: `LINOPS_ADAPTER=<name substring>` (or `software`/`cpu` for a
    /// CPU adapter), `LINOPS_CHECKED_SHADERS=1` and `LINOPS_MAX_BINDING_BYTES=<bytes>` (a value
    /// that is not a number is ignored here; the engine's planner refuses it by name);
    /// defaults otherwise.
    ///
    /// # Examples
    /// ```
    /// let opts = linops_gpu::DeviceOptions::from_env();
    /// # let _ = opts;
    /// ```
    #[must_use]
    pub fn from_env() -> Self {
        let adapter = match std::env::var("LINOPS_ADAPTER") {
            Ok(v) if !v.trim().is_empty() => {
                let v = v.trim();
                if v.eq_ignore_ascii_case("software") || v.eq_ignore_ascii_case("cpu") {
                    AdapterChoice::Software
                } else {
                    AdapterChoice::NameContains(v.to_string())
                }
            }
            _ => AdapterChoice::HighPerformance,
        };
        Self {
            adapter,
            checked_shaders: env_checked_shaders(),
            max_binding_bytes: linops_core::plan::Limits::from_env()
                .ok()
                .and_then(|l| l.max_binding_bytes()),
        }
    }

    /// These options with the binding limit lowered to `bytes` (`None`: the adapter's).
    ///
    /// # Examples
    /// ```
    /// let o = linops_gpu::DeviceOptions::default().with_max_binding_bytes(Some(1 << 16));
    /// assert_eq!(o.max_binding_bytes, Some(1 << 16));
    /// ```
    #[must_use]
    pub fn with_max_binding_bytes(mut self, bytes: Option<u64>) -> Self {
        self.max_binding_bytes = bytes;
        self
    }

    /// These options with `checked_shaders` set to `checked`.
    ///
    /// # Examples
    /// ```
    /// assert!(linops_gpu::DeviceOptions::default().with_checked_shaders(true).checked_shaders);
    /// ```
    #[must_use]
    pub fn with_checked_shaders(mut self, checked: bool) -> Self {
        self.checked_shaders = checked;
        self
    }
}

/// What the opened adapter is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Adapter name, e.g. `"NVIDIA H100 80GB HBM3"` or `"llvmpipe (LLVM 15.0.6, 256 bits)"`.
    pub name: String,
    /// Graphics API backend, e.g. `"Vulkan"`.
    pub backend: String,
    /// Device type, e.g. `"DiscreteGpu"` or `"Cpu"`.
    pub device_type: String,
    /// Driver name.
    pub driver: String,
    /// Driver version or other driver details.
    pub driver_info: String,
}

impl fmt::Display for DeviceInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}, {}, driver {} {})",
            self.name, self.backend, self.device_type, self.driver, self.driver_info
        )
    }
}

/// Identifies devices so matrices of two devices are never mixed.
static NEXT_DEVICE_ID: AtomicU64 = AtomicU64::new(1);

/// One opened GPU: device, queue, limits, pipeline cache and buffer pool. `Send + Sync`.
pub struct GpuDevice {
    pub(crate) device: wgpu::Device,
    pub(crate) queue: wgpu::Queue,
    pub(crate) id: u64,
    info: DeviceInfo,
    is_software: bool,
    limits: wgpu::Limits,
    timestamps: bool,
    /// Subgroup sizes (min, max) when the device has `Features::SUBGROUP`.
    subgroups: Option<(u32, u32)>,
    checked: bool,
    /// The clamp of [`DeviceOptions::max_binding_bytes`], when below the device's limits.
    clamp: Option<u64>,
    pub(crate) pipelines: PipelineCache,
    pub(crate) pool: Arc<BufferPool>,
    uncaptured: Arc<Mutex<Vec<String>>>,
    /// What the adapter offers the cooperative-matrix tier (`kernels::coop_gemm`).
    pub(crate) cooperative: crate::kernels::coop_gemm::CoopInfo,
}

impl fmt::Debug for GpuDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GpuDevice")
            .field("info", &self.info)
            .field("checked", &self.checked)
            .field("timestamps", &self.timestamps)
            .finish_non_exhaustive()
    }
}

const BACKENDS: wgpu::Backends = wgpu::Backends::VULKAN
    .union(wgpu::Backends::METAL)
    .union(wgpu::Backends::DX12);

fn type_rank(t: wgpu::DeviceType) -> u32 {
    match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    }
}

fn looks_software(info: &wgpu::AdapterInfo) -> bool {
    let name = info.name.to_lowercase();
    info.device_type == wgpu::DeviceType::Cpu
        || ["llvmpipe", "lavapipe", "swiftshader", "warp"]
            .iter()
            .any(|s| name.contains(s))
}

/// Whether `LINOPS_CHECKED_SHADERS` asks for checked shaders (`1`, `true` or `yes`).
fn env_checked_shaders() -> bool {
    matches!(
        std::env::var("LINOPS_CHECKED_SHADERS")
            .as_deref()
            .map(str::trim),
        Ok("1") | Ok("true") | Ok("yes")
    )
}

pub(crate) fn block_on<F: Future>(f: F) -> F::Output {
    pollster::block_on(f)
}

impl GpuDevice {
    /// Opens the adapter chosen by `options` (headless) and creates a device with the adapter's
    /// maximum limits. `LINOPS_CHECKED_SHADERS=1` in the environment forces checked shaders
    /// whatever `options` says.
    ///
    /// # Errors
    /// [`Error::NoAdapter`] when no Vulkan/Metal/DX12 adapter matches the choice;
    /// [`Error::Backend`] when the device cannot be created.
    ///
    /// # Examples
    /// ```
    /// use linops_gpu::{DeviceOptions, GpuDevice};
    /// match GpuDevice::new(&DeviceOptions::from_env()) {
    ///     Ok(dev) => println!("{}", dev.info()),
    ///     Err(e) => println!("no GPU: {e}"),
    /// }
    /// ```
    pub fn new(options: &DeviceOptions) -> Result<Arc<Self>> {
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
        desc.backends = BACKENDS;
        let instance = wgpu::Instance::new(desc);
        let adapters = block_on(instance.enumerate_adapters(BACKENDS));
        if adapters.is_empty() {
            return Err(Error::NoAdapter(
                "no Vulkan, Metal or DX12 adapter found (on Linux without a GPU install Mesa's \
                 lavapipe: mesa-vulkan-drivers)"
                    .into(),
            ));
        }
        let names: Vec<String> = adapters.iter().map(|a| a.get_info().name).collect();
        let mut candidates: Vec<(wgpu::Adapter, wgpu::AdapterInfo)> = adapters
            .into_iter()
            .map(|a| {
                let i = a.get_info();
                (a, i)
            })
            .filter(|(_, info)| match &options.adapter {
                AdapterChoice::HighPerformance => true,
                AdapterChoice::NameContains(s) => {
                    info.name.to_lowercase().contains(&s.to_lowercase())
                }
                AdapterChoice::Software => looks_software(info),
            })
            .collect();
        candidates.sort_by_key(|(_, info)| type_rank(info.device_type));
        let Some((adapter, ainfo)) = candidates.into_iter().next() else {
            return Err(Error::NoAdapter(format!(
                "no adapter matches {:?}; available: {}",
                options.adapter,
                names.join(", ")
            )));
        };

        // SUBGROUP when the adapter has it: the subgroup variants of some kernels
        // (`shaders::SUBGROUP_SHADERS`) use it, with a workgroup-memory fallback otherwise.
        let wanted = wgpu::Features::TIMESTAMP_QUERY
            | wgpu::Features::SUBGROUP
            | crate::kernels::coop_gemm::wanted_features();
        let features = adapter.features() & wanted;
        let limits = adapter.limits();
        let (device, queue) = block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("linops"),
            required_features: features,
            required_limits: limits.clone(),
            experimental_features: crate::kernels::coop_gemm::experimental_features(features),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        }))
        .map_err(|e| Error::Backend(format!("request_device on {}: {e}", ainfo.name)))?;

        let uncaptured = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&uncaptured);
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            if let Ok(mut v) = sink.lock() {
                v.push(e.to_string());
            }
        }));

        let info = DeviceInfo {
            name: ainfo.name.clone(),
            backend: format!("{:?}", ainfo.backend),
            device_type: format!("{:?}", ainfo.device_type),
            driver: ainfo.driver.clone(),
            driver_info: ainfo.driver_info.clone(),
        };
        let limits = device.limits();
        let timestamps = device.features().contains(wgpu::Features::TIMESTAMP_QUERY);
        let cooperative = crate::kernels::coop_gemm::adapter_configs(&adapter, &device);
        let subgroups = device
            .features()
            .contains(wgpu::Features::SUBGROUP)
            .then_some((ainfo.subgroup_min_size, ainfo.subgroup_max_size));
        Ok(Arc::new(Self {
            id: NEXT_DEVICE_ID.fetch_add(1, Ordering::Relaxed),
            is_software: looks_software(&ainfo),
            pool: Arc::new(BufferPool::new()),
            pipelines: PipelineCache::default(),
            device,
            queue,
            info,
            limits,
            timestamps,
            subgroups,
            checked: options.checked_shaders || env_checked_shaders(),
            clamp: options.max_binding_bytes,
            uncaptured,
            cooperative,
        }))
    }

    /// Adapter name, backend, device type and driver.
    #[must_use]
    pub fn info(&self) -> &DeviceInfo {
        &self.info
    }

    /// Adapter name.
    #[must_use]
    pub fn name(&self) -> String {
        self.info.name.clone()
    }

    /// The limits the device was created with (the adapter's maxima).
    #[must_use]
    pub fn limits(&self) -> &wgpu::Limits {
        &self.limits
    }

    /// Whether the adapter is a software (CPU) implementation such as lavapipe.
    #[must_use]
    pub fn is_software(&self) -> bool {
        self.is_software
    }

    /// Whether [`GpuEncoder::submit_timed`](crate::GpuEncoder::submit_timed) can measure GPU time.
    #[must_use]
    pub fn supports_timestamps(&self) -> bool {
        self.timestamps
    }

    /// The adapter's subgroup sizes `(min, max)` when the device has `Features::SUBGROUP` (the
    /// subgroup kernel variants are then used), `None` otherwise.
    ///
    /// # Examples
    /// ```
    /// # let Ok(dev) = linops_gpu::GpuDevice::new(&Default::default()) else { return };
    /// if let Some((lo, hi)) = dev.subgroup_sizes() {
    ///     assert!(lo.is_power_of_two() && lo <= hi);
    /// }
    /// ```
    #[must_use]
    pub fn subgroup_sizes(&self) -> Option<(u32, u32)> {
        self.subgroups
    }

    /// Whether pipelines are compiled as normal bounds-checked modules (else trusted ones).
    #[must_use]
    pub fn checked_shaders(&self) -> bool {
        self.checked
    }

    /// Largest matrix, in bytes, that one kernel can bind: the smaller of
    /// `max_storage_buffer_binding_size` and `max_buffer_size`, and of the clamp
    /// [`DeviceOptions::max_binding_bytes`] when one was given.
    #[must_use]
    pub fn max_binding_bytes(&self) -> u64 {
        self.binding_limit().0
    }

    /// [`GpuDevice::max_binding_bytes`] with the name of the limit it comes from.
    #[must_use]
    pub fn binding_limit(&self) -> (u64, &'static str) {
        let l = &self.limits;
        let mut out = if l.max_storage_buffer_binding_size <= l.max_buffer_size {
            (
                l.max_storage_buffer_binding_size,
                "max_storage_buffer_binding_size",
            )
        } else {
            (l.max_buffer_size, "max_buffer_size")
        };
        if let Some(c) = self.clamp.filter(|&c| c < out.0) {
            out = (
                c,
                "DeviceOptions::max_binding_bytes (LINOPS_MAX_BINDING_BYTES)",
            );
        }
        out
    }

    /// Buffer pool counters (fresh allocations, reuses, cached buffers).
    #[must_use]
    pub fn pool_stats(&self) -> PoolStats {
        self.pool.stats()
    }

    /// Frees every cached (unused) buffer of the pool.
    pub fn trim_pool(&self) {
        self.pool.trim();
    }

    /// Number of compiled pipelines kept in the cache.
    #[must_use]
    pub fn cached_pipelines(&self) -> usize {
        self.pipelines.len()
    }

    /// Runs `f` inside validation, out-of-memory and internal error scopes and turns any captured
    /// error (or an uncaptured one reported meanwhile) into [`Error::Backend`].
    pub(crate) fn scoped<T>(&self, what: &str, f: impl FnOnce() -> T) -> Result<T> {
        let internal = self.device.push_error_scope(wgpu::ErrorFilter::Internal);
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let out = f();
        let errors = [
            block_on(validation.pop()),
            block_on(oom.pop()),
            block_on(internal.pop()),
        ];
        if let Some(e) = errors.into_iter().flatten().next() {
            return Err(Error::Backend(format!("{what}: {e}")));
        }
        self.take_uncaptured(what)?;
        Ok(out)
    }

    /// Reports (and clears) errors that reached the uncaptured-error handler.
    pub(crate) fn take_uncaptured(&self, what: &str) -> Result<()> {
        let mut v = self
            .uncaptured
            .lock()
            .map_err(|_| Error::Backend("uncaptured-error log poisoned".into()))?;
        if v.is_empty() {
            return Ok(());
        }
        let msg = v.join("; ");
        v.clear();
        Err(Error::Backend(format!("{what}: {msg}")))
    }

    /// Blocks until all submitted work is done.
    pub(crate) fn wait_idle(&self, what: &str) -> Result<()> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map(|_| ())
            .map_err(|e| Error::Backend(format!("{what}: poll failed: {e}")))
    }
}
