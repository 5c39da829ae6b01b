//! Recording kernels: a [`GpuEncoder`] collects validated dispatches and submits them as one
//! command buffer (one compute pass) with a single wait.
//!
//! Kernel methods (`gemm`, `axpby`, … in [`kernels`](crate::kernels)) validate their arguments,
//! fetch the cached pipeline, build the bind group and a small uniform buffer, and append one
//! dispatch. Nothing runs until [`GpuEncoder::submit`]; dropping an encoder discards its work.
//! The encoder holds every buffer it binds, so matrices dropped before submit stay valid.

use std::sync::Arc;

use linops_core::{Error, Result};
use wgpu::util::DeviceExt;

use crate::device::GpuDevice;
use crate::pool::{GpuMat, PooledBuffer};

/// One recorded dispatch.
struct Step {
    label: &'static str,
    pipeline: wgpu::ComputePipeline,
    bind_group: wgpu::BindGroup,
    workgroups: [u32; 3],
    /// Keeps the bound matrices' buffers out of the pool until the work has run.
    _keep: Vec<Arc<PooledBuffer>>,
}

/// Records kernel dispatches for one submission; see the module docs.
pub struct GpuEncoder {
    pub(crate) device: Arc<GpuDevice>,
    steps: Vec<Step>,
}

impl std::fmt::Debug for GpuEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let labels: Vec<_> = self.steps.iter().map(|s| s.label).collect();
        f.debug_struct("GpuEncoder")
            .field("steps", &labels)
            .finish()
    }
}

impl GpuDevice {
    /// A new, empty encoder on this device.
    ///
    /// # Examples
    /// ```
    /// # let Ok(dev) = linops_gpu::GpuDevice::new(&Default::default()) else { return };
    /// let enc = dev.encoder();
    /// enc.submit().unwrap();
    /// ```
    #[must_use]
    pub fn encoder(self: &Arc<Self>) -> GpuEncoder {
        GpuEncoder {
            device: Arc::clone(self),
            steps: Vec::new(),
        }
    }
}

impl GpuEncoder {
    /// Number of dispatches recorded so far.
    #[must_use]
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// Whether nothing has been recorded.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// The device this encoder records for.
    #[must_use]
    pub fn device(&self) -> &Arc<GpuDevice> {
        &self.device
    }

    /// Checks a dispatch size against `max_compute_workgroups_per_dimension`.
    pub(crate) fn check_workgroups(&self, what: &str, groups: [u64; 3]) -> Result<[u32; 3]> {
        let limit = self.device.limits().max_compute_workgroups_per_dimension;
        let mut out = [0u32; 3];
        for (d, (&g, o)) in groups.iter().zip(out.iter_mut()).enumerate() {
            if g > u64::from(limit) {
                return Err(Error::DeviceLimit {
                    what: format!("{what}: workgroups in dimension {}", ["x", "y", "z"][d]),
                    requested: g,
                    limit_name: "max_compute_workgroups_per_dimension".into(),
                    limit: u64::from(limit),
                });
            }
            *o = g as u32;
        }
        Ok(out)
    }

    /// Appends one dispatch of `entry_point`: `mats` are bound at their binding indices and
    /// `uniform` (a Pod struct's bytes) at `uniform_binding`. The caller has validated every
    /// index range the shader will touch.
    pub(crate) fn record(
        &mut self,
        entry_point: &'static str,
        constants: &[(&'static str, f64)],
        mats: &[(u32, &GpuMat)],
        uniform: &[u8],
        uniform_binding: u32,
        workgroups: [u32; 3],
    ) -> Result<()> {
        let dev = Arc::clone(&self.device);
        for (_, m) in mats {
            dev.check_owned(entry_point, m)?;
        }
        let pipeline = dev.pipeline(entry_point, constants)?;
        let bind_group = dev.scoped(entry_point, || {
            let params = dev
                .device
                .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some("linops params"),
                    contents: uniform,
                    usage: wgpu::BufferUsages::UNIFORM,
                });
            let layout = pipeline.get_bind_group_layout(0);
            let mut entries: Vec<wgpu::BindGroupEntry<'_>> = mats
                .iter()
                .map(|(b, m)| wgpu::BindGroupEntry {
                    binding: *b,
                    resource: m.binding(),
                })
                .collect();
            entries.push(wgpu::BindGroupEntry {
                binding: uniform_binding,
                resource: params.as_entire_binding(),
            });
            dev.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some(entry_point),
                layout: &layout,
                entries: &entries,
            })
        })?;
        self.steps.push(Step {
            label: entry_point,
            pipeline,
            bind_group,
            workgroups,
            _keep: mats.iter().map(|(_, m)| Arc::clone(&m.storage)).collect(),
        });
        Ok(())
    }

    /// Submits all recorded dispatches as one command buffer and waits for them to finish.
    ///
    /// # Errors
    /// [`Error::Backend`] if the device reports an error while encoding or running the work.
    ///
    /// # Examples
    /// ```
    /// # let Ok(dev) = linops_gpu::GpuDevice::new(&Default::default()) else { return };
    /// let x = dev.upload(1, 2, &[1.0, 2.0]).unwrap();
    /// let y = dev.alloc(1, 2).unwrap();
    /// let mut enc = dev.encoder();
    /// enc.scale(2.0, &x, &y).unwrap();
    /// enc.submit().unwrap();
    /// assert_eq!(dev.download(&y).unwrap(), vec![2.0, 4.0]);
    /// ```
    pub fn submit(self) -> Result<()> {
        self.run(false).map(|_| ())
    }

    /// As [`submit`](Self::submit), and returns the GPU time of the work in milliseconds,
    /// measured with timestamp queries around the compute pass (`None` when the device does not
    /// support timestamps).
    ///
    /// # Errors
    /// As [`submit`](Self::submit).
    ///
    /// # Examples
    /// ```
    /// # let Ok(dev) = linops_gpu::GpuDevice::new(&Default::default()) else { return };
    /// let ms = dev.encoder().submit_timed().unwrap();
    /// assert_eq!(ms.is_some(), dev.supports_timestamps());
    /// ```
    pub fn submit_timed(self) -> Result<Option<f64>> {
        let timed = self.device.supports_timestamps();
        self.run(timed)
    }

    fn run(self, timed: bool) -> Result<Option<f64>> {
        let dev = Arc::clone(&self.device);
        let readback = dev.scoped("submit", || {
            let mut enc = dev
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("linops encoder"),
                });
            let queries = timed.then(|| {
                let set = dev.device.create_query_set(&wgpu::QuerySetDescriptor {
                    label: Some("linops timestamps"),
                    ty: wgpu::QueryType::Timestamp,
                    count: 2,
                });
                let resolve = dev.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("linops timestamp resolve"),
                    size: 16,
                    usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                    mapped_at_creation: false,
                });
                let readback = dev.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("linops timestamp readback"),
                    size: 16,
                    usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                });
                (set, resolve, readback)
            });
            {
                let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("linops kernels"),
                    timestamp_writes: queries.as_ref().map(|(set, _, _)| {
                        wgpu::ComputePassTimestampWrites {
                            query_set: set,
                            beginning_of_pass_write_index: Some(0),
                            end_of_pass_write_index: Some(1),
                        }
                    }),
                });
                for s in &self.steps {
                    pass.set_pipeline(&s.pipeline);
                    pass.set_bind_group(0, &s.bind_group, &[]);
                    let [x, y, z] = s.workgroups;
                    pass.dispatch_workgroups(x, y, z);
                }
            }
            if let Some((set, resolve, readback)) = &queries {
                enc.resolve_query_set(set, 0..2, resolve, 0);
                enc.copy_buffer_to_buffer(resolve, 0, readback, 0, 16);
            }
            dev.queue.submit([enc.finish()]);
            queries.map(|(_, _, readback)| readback)
        })?;
        let ms = match readback {
            Some(buf) => {
                let bytes = dev.read_mapped(&buf, "submit_timed")?;
                let ticks: Vec<u64> = bytemuck::pod_collect_to_vec(&bytes);
                let period_ns = f64::from(dev.queue.get_timestamp_period());
                let delta = ticks[1].wrapping_sub(ticks[0]);
                Some(delta as f64 * period_ns / 1.0e6)
            }
            None => {
                dev.wait_idle("submit")?;
                None
            }
        };
        dev.take_uncaptured("submit")?;
        drop(self.steps);
        Ok(ms)
    }
}
