//! Plan execution on the CPU: one faer routine or column loop per step.
//!
//! Value buffers are faer matrices in `T` (parameters converted once and cached by the backend);
//! index arrays are read as the plan's own `u32` slices, with no conversion.

use crate::{CpuBackend, CpuElem, t};
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatRef};
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
struct Args<'a, T: CpuElem>(Vec<Arg<'a, T>>);

impl<'a, T: CpuElem> Args<'a, T> {
    /// Argument `i` as a matrix.
    fn mat(&self, i: usize) -> Result<MatRef<'a, T>> {
        match self.0.get(i) {
            Some(Arg::Mat(m)) => Ok(*m),
            _ => Err(Error::InvalidArgument(format!(
                "plan step argument {i} is not a matrix of values"
            ))),
        }
    }

    /// Argument `i` as an index array.
    fn index(&self, i: usize) -> Result<&'a [u32]> {
        match self.0.get(i) {
            Some(Arg::Index(s)) => Ok(s),
            _ => Err(Error::InvalidArgument(format!(
                "plan step argument {i} is not an index array"
            ))),
        }
    }
}

pub(crate) fn run<T: CpuElem>(be: &CpuBackend<T>, plan: &Plan, x: &Mat<T>) -> Result<Mat<T>> {
    let want = plan.shape_of(plan.input());
    if (x.nrows(), x.ncols()) != want {
        return Err(Error::ShapeMismatch {
            context: "execute".into(),
            expected: format!("input {}x{}", want.0, want.1),
            found: format!("{}x{}", x.nrows(), x.ncols()),
        });
    }
    let mut slots: Vec<Slot<'_, T>> = plan
        .buffers()
        .iter()
        .map(|b| match &b.role {
            BufferRole::Input => Slot::Input(x),
            BufferRole::Param(p) => Slot::Param(be.param(p)),
            BufferRole::Index(p) => Slot::Index(p.indices()),
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

/// Runs one kernel. Shapes and argument kinds were checked when the step was planned (a kind
/// that does not match is still an error here, never a panic).
fn run_step<T: CpuElem>(
    be: &CpuBackend<T>,
    kernel: &Kernel,
    args: &Args<'_, T>,
    out: &mut Mat<T>,
) -> Result<()> {
    let m = |i: usize| args.mat(i);
    match *kernel {
        Kernel::Gemm {
            trans_a,
            trans_b,
            alpha,
            beta,
        } => {
            let a = if trans_a { m(0)?.transpose() } else { m(0)? };
            let b = if trans_b { m(1)?.transpose() } else { m(1)? };
            let accum = if beta == 0.0 {
                Accum::Replace
            } else {
                if beta != 1.0 {
                    scale_in_place(out, t(beta));
                }
                Accum::Add
            };
            matmul(out.as_mut(), accum, a, b, t::<T>(alpha), be.par());
        }
        Kernel::Axpby { alpha, beta } => {
            let x = m(0)?;
            let (alpha, beta) = (t::<T>(alpha), t::<T>(beta));
            let zero_beta = beta == t(0.0);
            for j in 0..out.ncols() {
                let xc = x.col(j);
                let oc = out.col_as_slice_mut(j);
                for (i, o) in oc.iter_mut().enumerate() {
                    let v = alpha * xc[i];
                    *o = if zero_beta { v } else { v + beta * *o };
                }
            }
        }
        Kernel::DiagScale { alpha, beta } => {
            let (d, x) = (m(0)?, m(1)?);
            let (alpha, beta) = (t::<T>(alpha), t::<T>(beta));
            let zero_beta = beta == t(0.0);
            let d = d.col(0);
            for j in 0..out.ncols() {
                let xc = x.col(j);
                let oc = out.col_as_slice_mut(j);
                for (i, o) in oc.iter_mut().enumerate() {
                    let v = alpha * (d[i] * xc[i]);
                    *o = if zero_beta { v } else { v + beta * *o };
                }
            }
        }
        Kernel::Transpose => out.copy_from(m(0)?.transpose()),
        Kernel::BatchTranspose {
            rows,
            cols,
            alpha,
            beta,
        } => crate::batch_transpose::batch_transpose(rows, cols, t(alpha), t(beta), m(0)?, out),
        Kernel::Spmm { alpha, beta } => crate::spmm::spmm(
            be.par(),
            t(alpha),
            t(beta),
            [args.index(0)?, args.index(1)?],
            m(2)?,
            m(3)?,
            out,
        ),
        Kernel::Fwht { alpha, beta } => crate::fwht::fwht(m(0)?, out, alpha, beta, be.par()),
        Kernel::Dct {
            inverse,
            alpha,
            beta,
        } => T::dct_columns(m(0)?, m(1)?, out, inverse, alpha, beta, be.par()),
        Kernel::SketchGemm {
            dist,
            rng,
            rows,
            cols,
            trans,
            alpha,
            beta,
        } => crate::sketch_gemm::run(
            &crate::sketch_gemm::SketchGemm {
                dist,
                rng,
                rows,
                cols,
                trans,
                alpha,
                beta,
            },
            be.par(),
            m(0)?,
            out,
        ),
        Kernel::Gather { alpha, beta } => {
            crate::gather::gather(args.index(0)?, m(1)?, out, t(alpha), t(beta))
        }
        Kernel::BlockGemm {
            blocks,
            trans,
            x_layout,
            y_layout,
            alpha,
            beta,
        } => crate::block_gemm::block_gemm(
            crate::block_gemm::BlockGemm {
                blocks,
                trans,
                x_layout,
                y_layout,
            },
            m(0)?,
            m(1)?,
            out,
            t(alpha),
            t(beta),
            be.par(),
        ),
    }
    Ok(())
}

fn scale_in_place<T: CpuElem>(m: &mut Mat<T>, s: T) {
    for j in 0..m.ncols() {
        for v in m.col_as_slice_mut(j) {
            *v *= s;
        }
    }
}
