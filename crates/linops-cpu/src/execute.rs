//! Plan execution on the CPU: one faer routine or column loop per step.
//!
//! Value buffers are faer matrices in `T` (parameters converted once and cached by the backend);
//! index arrays are read as the plan's own `u32` slices, with no conversion.

use crate::{CpuBackend, CpuElem};
use faer::{Mat, MatRef};
use linops_core::{BufferRole, Error, Kernel, Plan, Result};
use std::sync::Arc;

enum Slot<'a, T: CpuElem> {
    Empty,
    Input(&'a Mat<T>),
    Param(Arc<Mat<T>>),
    Index(&'a [u32]),
    Owned(Mat<T>),
}

/// A step's argument: a matrix of values or an index array.
#[derive(Clone, Copy)]
enum Arg<'a, T: CpuElem> {
    Mat(MatRef<'a, T>),
    Index(&'a [u32]),
}

impl<T: CpuElem> Slot<'_, T> {
    fn get(&self) -> Option<Arg<'_, T>> {
        match self {
            Slot::Empty => None,
            Slot::Input(m) => Some(Arg::Mat(m.as_ref())),
            Slot::Param(m) => Some(Arg::Mat(m.as_ref().as_ref())),
            Slot::Index(i) => Some(Arg::Index(i)),
            Slot::Owned(m) => Some(Arg::Mat(m.as_ref())),
        }
    }
}

/// The arguments of one step, read by position with the kind the kernel expects.
pub(crate) struct Args<'a, T: CpuElem>(Vec<Arg<'a, T>>);

impl<'a, T: CpuElem> Args<'a, T> {
    /// Argument `i` as a matrix.
    pub(crate) fn mat(&self, i: usize) -> Result<MatRef<'a, T>> {
        match self.0.get(i) {
            Some(Arg::Mat(m)) => Ok(*m),
            _ => Err(Error::InvalidArgument(format!(
                "plan step argument {i} is not a matrix of values"
            ))),
        }
    }

    /// Argument `i` as an index array.
    pub(crate) fn index(&self, i: usize) -> Result<&'a [u32]> {
        match self.0.get(i) {
            Some(Arg::Index(s)) => Ok(s),
            _ => Err(Error::InvalidArgument(format!(
                "plan step argument {i} is not an index array"
            ))),
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
            BufferRole::Index(p) => Slot::Index(p.indices()),
            BufferRole::Output | BufferRole::Temp => Slot::Empty,
        })
        .collect();
    for step in plan.steps() {
        let (rows, cols) = plan.shape_of(step.output);
        let mut out = match std::mem::replace(&mut slots[step.output.index()], Slot::Empty) {
            Slot::Owned(m) => m,
            _ if step.output == plan.output() => crate::recycle::take(rows, cols, be.par()),
            _ => be.take_scratch(rows, cols),
        };
        {
            let inputs = step
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
            run_step(be, &step.kernel, &Args(inputs), &mut out)?;
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
/// `linops_core::plan::kernel`) in the CPU file named after it. Shapes and argument kinds were
/// checked when the step was planned (a kind that does not match is still an error here, never
/// a panic).
pub(crate) trait CpuKernel {
    /// `out ← kernel(inputs, out)`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when an argument is not of the kind the kernel reads (a value
    /// matrix where an index array is expected, or the reverse).
    fn run<T: CpuElem>(
        &self,
        be: &CpuBackend<T>,
        inputs: &Args<'_, T>,
        out: &mut Mat<T>,
    ) -> Result<()>;
}

/// Implements [`CpuKernel`] for a kernel's arguments type, so that a kernel's file holds only
/// what is its own: `cpu_kernel!(Spmm, |k, be, inputs, out| { … })` runs the block with `k` the
/// arguments (`&Spmm`), `be` the backend, `inputs` the step's arguments and `out` its output, for
/// every element type `T: CpuElem`.
macro_rules! cpu_kernel {
    ($kernel:ty, |$k:pat_param, $be:pat_param, $inputs:pat_param, $out:pat_param| $body:block) => {
        impl $crate::execute::CpuKernel for $kernel {
            fn run<T: $crate::CpuElem>(
                &self,
                $be: &$crate::CpuBackend<T>,
                $inputs: &$crate::execute::Args<'_, T>,
                $out: &mut faer::Mat<T>,
            ) -> linops_core::Result<()> {
                let $k = self;
                $body
            }
        }
    };
}
pub(crate) use cpu_kernel;

macro_rules! dispatch {
    ($($k:ident),*) => {
        /// Runs one step: the kernel's [`CpuKernel`] implementation.
        fn run_step<T: CpuElem>(
            be: &CpuBackend<T>,
            kernel: &Kernel,
            inputs: &Args<'_, T>,
            out: &mut Mat<T>,
        ) -> Result<()> {
            match kernel {
                $(Kernel::$k(k) => k.run(be, inputs, out),)*
            }
        }
    };
}

linops_core::for_each_kernel!(dispatch);
