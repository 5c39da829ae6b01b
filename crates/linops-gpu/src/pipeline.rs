//! The pipeline cache: every (entry point, checked/trusted, override constants) triple is compiled
//! once per device and kept.
//!
//! Shipped pipelines use trusted modules (`create_shader_module_trusted` with
//! `ShaderRuntimeChecks::unchecked()`): naga then emits no bounds checks or loop guards, which on
//! a real GPU is worth more than an order of magnitude for GEMM. That is sound only because every
//! kernel entry point in [`kernels`](crate::kernels) validates all shapes, leading dimensions,
//! offsets and index ranges against the bound buffer lengths before it records a dispatch.
//! A device opened with `checked_shaders` compiles normal, fully checked modules instead (and
//! zero-initialises workgroup memory), which the tests use to detect out-of-bounds accesses.

use std::collections::HashMap;
use std::sync::Mutex;

use linops_core::{Error, Result};

use crate::device::GpuDevice;
use crate::shaders;

/// Key of one compiled pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct PipelineKey {
    entry_point: &'static str,
    checked: bool,
    /// Override constants as (name, f64 bits), in the caller's order.
    constants: Vec<(&'static str, u64)>,
}

/// Compiled modules and pipelines of one device.
#[derive(Default)]
pub(crate) struct PipelineCache {
    modules: Mutex<HashMap<(&'static str, bool), wgpu::ShaderModule>>,
    pipelines: Mutex<HashMap<PipelineKey, wgpu::ComputePipeline>>,
}

impl PipelineCache {
    pub(crate) fn len(&self) -> usize {
        self.pipelines.lock().map(|p| p.len()).unwrap_or(0)
    }
}

impl GpuDevice {
    /// The pipeline of `entry_point` with override `constants`, compiled on first use.
    pub(crate) fn pipeline(
        &self,
        entry_point: &'static str,
        constants: &[(&'static str, f64)],
    ) -> Result<wgpu::ComputePipeline> {
        let checked = self.checked_shaders();
        let key = PipelineKey {
            entry_point,
            checked,
            constants: constants.iter().map(|&(n, v)| (n, v.to_bits())).collect(),
        };
        let poisoned = |_| Error::Backend("pipeline cache lock poisoned".into());
        if let Some(p) = self.pipelines.pipelines.lock().map_err(poisoned)?.get(&key) {
            return Ok(p.clone());
        }
        let file = shaders::file_of(entry_point).ok_or_else(|| {
            Error::Backend(format!("no shader defines entry point {entry_point}"))
        })?;
        let module = self.module(file, checked)?;
        let label = format!("{entry_point}{}", if checked { " (checked)" } else { "" });
        let pipeline = self.scoped(&format!("compiling pipeline {label}"), || {
            self.device
                .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(&label),
                    layout: None,
                    module: &module,
                    entry_point: Some(entry_point),
                    compilation_options: wgpu::PipelineCompilationOptions {
                        constants,
                        zero_initialize_workgroup_memory: checked,
                    },
                    cache: None,
                })
        })?;
        self.pipelines
            .pipelines
            .lock()
            .map_err(poisoned)?
            .insert(key, pipeline.clone());
        Ok(pipeline)
    }

    /// The shader module of `file`, checked or trusted, created on first use.
    fn module(&self, file: &'static str, checked: bool) -> Result<wgpu::ShaderModule> {
        let poisoned = |_| Error::Backend("shader module cache lock poisoned".into());
        if let Some(m) = self
            .pipelines
            .modules
            .lock()
            .map_err(poisoned)?
            .get(&(file, checked))
        {
            return Ok(m.clone());
        }
        let source = shaders::assemble(file);
        let module = self.scoped(&format!("compiling shader {file}"), || {
            let desc = wgpu::ShaderModuleDescriptor {
                label: Some(file),
                source: wgpu::ShaderSource::Wgsl(source.into()),
            };
            if checked {
                self.device.create_shader_module(desc)
            } else {
                // SAFETY: every dispatch of these shaders is preceded by host-side validation of
                // all shapes, leading dimensions, offsets, strides and batch ranges against the
                // lengths of the bound buffers (see `kernels::validate`), and the shaders guard
                // every edge explicitly, so no access is out of bounds and no loop is unbounded.
                // The shaders contain no integer division by a runtime value that can be zero
                // (`rows` is validated non-zero) and no workgroup memory is read before written.
                unsafe {
                    self.device
                        .create_shader_module_trusted(desc, wgpu::ShaderRuntimeChecks::unchecked())
                }
            }
        })?;
        self.pipelines
            .modules
            .lock()
            .map_err(poisoned)?
            .insert((file, checked), module.clone());
        Ok(module)
    }
}
