//! Engines, opened once per process and shared by every call.
//!
//! `backend="cpu"`: the faer engine. `backend="gpu"`: the wgpu engine on the adapter
//! `DeviceOptions::from_env` picks (`LINOPS_ADAPTER`), or `RuntimeError` when none opens.
//! `backend="auto"`: the GPU for `float32` work when a hardware adapter exists (a software
//! adapter such as lavapipe is slower than faer on the same cores), else the CPU; `float64` work
//! always runs on the CPU under `auto` (the GPU engine computes in `f32` only).

use crate::errors::to_py;
use linops::{DType, Engine};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use std::sync::OnceLock;

static CPU: OnceLock<Engine> = OnceLock::new();
/// The GPU engine and whether its adapter is a software (CPU) one, or why none opened.
static GPU: OnceLock<Result<(Engine, bool), String>> = OnceLock::new();

fn cpu() -> &'static Engine {
    CPU.get_or_init(Engine::cpu)
}

fn gpu() -> &'static Result<(Engine, bool), String> {
    GPU.get_or_init(|| {
        let dev = linops::GpuDevice::new(&linops::DeviceOptions::from_env())
            .map_err(|e| e.to_string())?;
        let software = dev.is_software();
        Ok((Engine::from_device(dev), software))
    })
}

/// The engine for `backend` and work in `dtype`.
pub fn pick(py: Python<'_>, backend: &str, dtype: DType) -> PyResult<&'static Engine> {
    match backend {
        "cpu" => Ok(cpu()),
        "gpu" => match py.detach(gpu) {
            Ok((e, _)) => Ok(e),
            Err(msg) => Err(to_py(linops::Error::NoAdapter(msg.clone()))),
        },
        "auto" => {
            if dtype == DType::F32
                && let Ok((e, false)) = py.detach(gpu)
            {
                return Ok(e);
            }
            Ok(cpu())
        }
        other => Err(PyValueError::new_err(format!(
            "backend must be 'auto', 'cpu' or 'gpu', got {other:?}"
        ))),
    }
}

/// Which engine `backend` resolves to for `dtype` ("float32"/"float64"): `(name, device)`.
#[pyfunction]
#[pyo3(signature = (backend="auto", dtype="float64"))]
pub fn backend_info(py: Python<'_>, backend: &str, dtype: &str) -> PyResult<(String, String)> {
    let e = pick(py, backend, parse_dtype(dtype)?)?;
    Ok((e.name().to_string(), e.device()))
}

/// `"float32"`/`"float64"` → [`DType`].
pub fn parse_dtype(dtype: &str) -> PyResult<DType> {
    match dtype {
        "float32" => Ok(DType::F32),
        "float64" => Ok(DType::F64),
        other => Err(PyValueError::new_err(format!(
            "dtype must be 'float32' or 'float64', got {other:?}"
        ))),
    }
}
