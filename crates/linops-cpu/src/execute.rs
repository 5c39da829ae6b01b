//! Plan execution on the CPU: one faer routine or column loop per step.

use crate::{CpuBackend, CpuElem, t};
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatRef};
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

/// Runs one kernel. Shapes were checked when the step was planned.
fn run_step<T: CpuElem>(
    be: &CpuBackend<T>,
    kernel: &Kernel,
    inputs: &[MatRef<'_, T>],
    out: &mut Mat<T>,
) {
    match *kernel {
        Kernel::Gemm {
            alpha: 0.0, beta, ..
        } => {
            // BLAS semantics: the product is not formed.
            if beta == 0.0 {
                out.fill(t(0.0));
            } else {
                scale_in_place(out, t(beta));
            }
        }
        Kernel::Gemm {
            trans_a,
            trans_b,
            alpha,
            beta,
        } => {
            let a = if trans_a {
                inputs[0].transpose()
            } else {
                inputs[0]
            };
            let b = if trans_b {
                inputs[1].transpose()
            } else {
                inputs[1]
            };
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
            let x = inputs[0];
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
            let (d, x) = (inputs[0], inputs[1]);
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
        Kernel::Transpose => out.copy_from(inputs[0].transpose()),
        Kernel::BatchTranspose {
            rows,
            cols,
            alpha,
            beta,
        } => crate::batch_transpose::batch_transpose(rows, cols, t(alpha), t(beta), inputs[0], out),
        Kernel::Spmm { alpha, beta } => crate::spmm::spmm(
            be.par(),
            t(alpha),
            t(beta),
            [inputs[0], inputs[1], inputs[2]],
            inputs[3],
            out,
        ),
        Kernel::Fwht { alpha, beta } => crate::fwht::fwht(inputs[0], out, alpha, beta, be.par()),
        Kernel::Dct {
            inverse,
            alpha,
            beta,
        } => T::dct_columns(inputs[0], inputs[1], out, inverse, alpha, beta, be.par()),
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
            inputs[0],
            out,
        ),
        Kernel::Gather { alpha, beta } => {
            crate::gather::gather(inputs[0], inputs[1], out, t(alpha), t(beta))
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
            inputs[0],
            inputs[1],
            out,
            t(alpha),
            t(beta),
            be.par(),
        ),
        Kernel::ColNorms => crate::reduce::col_norms(inputs[0], out),
        Kernel::ColDots => crate::reduce::col_dots(inputs[0], inputs[1], out),
        Kernel::CopyCols { offset } => copy_cols(inputs[0], offset, out),
        Kernel::RandomFill {
            dist,
            rng,
            rows,
            cols,
            trans,
            alpha,
        } => crate::random_fill::random_fill(dist, rng, (rows, cols), trans, alpha, out),
    }
}

/// `out[:, offset..offset + cols(x)] = x`.
fn copy_cols<T: CpuElem>(x: MatRef<'_, T>, offset: usize, out: &mut Mat<T>) {
    out.as_mut().subcols_mut(offset, x.ncols()).copy_from(x);
}

fn scale_in_place<T: CpuElem>(m: &mut Mat<T>, s: T) {
    for j in 0..m.ncols() {
        for v in m.col_as_slice_mut(j) {
            *v *= s;
        }
    }
}
