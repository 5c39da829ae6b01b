//! Plan execution on the CPU: one faer routine or column loop per step.

use crate::{CpuBackend, CpuElem};
use faer::{Mat, MatRef};
use linops_core::{BufferRole, Error, Kernel, Plan, Result};
use std::sync::Arc;

enum Slot<'a, T: CpuElem> {
    Empty,
    Input(&'a Mat<T>),
    Param(Arc<Mat<T>>),
    Owned(Mat<T>),
}

impl<T: CpuElem> Slot<'_, T> {
    fn get(&self) -> Option<MatRef<'_, T>> {
        match self {
            Slot::Empty => None,
            Slot::Input(m) => Some(m.as_ref()),
            Slot::Param(m) => Some(m.as_ref().as_ref()),
            Slot::Owned(m) => Some(m.as_ref()),
        }
    }
}

pub(crate) fn run<T: CpuElem>(
    be: &CpuBackend<T>,
    plan: &Plan,
    inputs: &[&Mat<T>],
) -> Result<Mat<T>> {
    if plan.dtype() != T::DTYPE {
        return Err(Error::InvalidArgument(format!(
            "execute: a plan in {} on the {} CPU backend",
            plan.dtype(),
            T::DTYPE
        )));
    }
    let shapes: Vec<(usize, usize)> = inputs.iter().map(|m| (m.nrows(), m.ncols())).collect();
    plan.check_inputs(&shapes)?;
    let mut slots: Vec<Slot<'_, T>> = plan
        .buffers()
        .iter()
        .map(|b| match &b.role {
            BufferRole::Input(i) => Slot::Input(inputs[*i]),
            BufferRole::Param(p) => Slot::Param(be.param(p)),
            BufferRole::Output | BufferRole::Temp => Slot::Empty,
        })
        .collect();
    for step in plan.steps() {
        let (rows, cols) = plan.shape_of(step.output);
        let mut out = match std::mem::replace(&mut slots[step.output.index()], Slot::Empty) {
            Slot::Owned(m) => m,
            _ if step.output == plan.output() => Mat::zeros(rows, cols),
            _ => be.take_scratch(rows, cols),
        };
        {
            let inputs: Vec<MatRef<'_, T>> = step
                .inputs
                .iter()
                .map(|b| {
                    slots[b.index()].get().ok_or_else(|| {
                        Error::InvalidArgument(format!(
                            "plan reads buffer {} before writing it",
                            b.0
                        ))
                    })
                })
                .collect::<Result<_>>()?;
            run_step(be, &step.kernel, &inputs, &mut out);
        }
        slots[step.output.index()] = Slot::Owned(out);
    }
    let out = std::mem::replace(&mut slots[plan.output().index()], Slot::Empty);
    be.keep_scratch(
        slots
            .into_iter()
            .filter_map(|s| match s {
                Slot::Owned(m) => Some(m),
                _ => None,
            })
            .collect(),
    );
    match out {
        Slot::Owned(m) => Ok(m),
        _ => Err(Error::InvalidArgument(
            "plan never writes its output".into(),
        )),
    }
}

/// How the CPU runs one kernel: implemented by each kernel's arguments struct (from
/// `linops_core::plan::kernel`) in the CPU file named after it. Shapes were checked when the
/// step was planned.
pub(crate) trait CpuKernel {
    /// `out ← kernel(inputs, out)`.
    fn run<T: CpuElem>(&self, be: &CpuBackend<T>, inputs: &[MatRef<'_, T>], out: &mut Mat<T>);
}

macro_rules! dispatch {
    ($($k:ident),*) => {
        /// Runs one step: the kernel's [`CpuKernel`] implementation.
        fn run_step<T: CpuElem>(
            be: &CpuBackend<T>,
            kernel: &Kernel,
            inputs: &[MatRef<'_, T>],
            out: &mut Mat<T>,
        ) {
            match kernel {
                $(Kernel::$k(k) => k.run(be, inputs, out),)*
            }
        }
    };
}

linops_core::for_each_kernel!(dispatch);
