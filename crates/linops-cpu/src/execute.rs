//! Plan execution on the CPU: one faer routine or column loop per step.
//!
//! Value buffers are faer matrices in `T` (parameters converted once and cached by the backend);
//! index arrays are read as the plan's own `u32` slices, with no conversion.

use crate::{CpuBackend, CpuElem};
use faer::{Mat, MatRef};
use linops_core::{BufferRole, Error, IndexParam, Kernel, Plan, Result};
use std::sync::Arc;

enum Slot<'a, T: CpuElem> {
    Empty,
    Input(&'a Mat<T>),
    Param(Arc<Mat<T>>),
    Index(&'a IndexParam),
    Owned(Mat<T>),
}

/// A step's argument: a matrix of values or an index array.
#[derive(Clone, Copy)]
enum Arg<'a, T: CpuElem> {
    Mat(MatRef<'a, T>),
    /// A parameter, converted once and shared while its operator lives (see
    /// [`Args::param`]).
    Param(&'a Arc<Mat<T>>),
    /// An index array of the plan (see [`Args::index_param`]).
    Index(&'a IndexParam),
}

impl<T: CpuElem> Slot<'_, T> {
    fn get(&self) -> Option<Arg<'_, T>> {
        match self {
            Slot::Empty => None,
            Slot::Input(m) => Some(Arg::Mat(m.as_ref())),
            Slot::Param(m) => Some(Arg::Param(m)),
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
            Some(&Arg::Param(m)) => Ok(m.as_ref().as_ref()),
            _ => Err(Error::InvalidArgument(format!(
                "plan step argument {i} is not a matrix of values"
            ))),
        }
    }

    /// Argument `i` when it is a parameter of the plan: the converted matrix the backend keeps
    /// while the operator lives, so that data derived from it can be kept with it
    /// ([`CpuBackend::derived`]).
    pub(crate) fn param(&self, i: usize) -> Option<&'a Arc<Mat<T>>> {
        match self.0.get(i) {
            Some(Arg::Param(m)) => Some(*m),
            _ => None,
        }
    }

    /// Argument `i` when it is an index array: the plan's parameter itself, whose
    /// process-unique key identifies data derived from it ([`CpuBackend::index_derived`]).
    pub(crate) fn index_param(&self, i: usize) -> Option<&'a IndexParam> {
        match self.0.get(i) {
            Some(Arg::Index(p)) => Some(*p),
            _ => None,
        }
    }

    /// Argument `i` as an index array.
    pub(crate) fn index(&self, i: usize) -> Result<&'a [u32]> {
        match self.0.get(i) {
            Some(Arg::Index(s)) => Ok(s.indices()),
            _ => Err(Error::InvalidArgument(format!(
                "plan step argument {i} is not an index array"
            ))),
        }
    }
}

/// Runs `plan` on `inputs`: its steps in order, on a worker of the thread pool when the
/// backend runs on more than one thread ([`crate::par::in_pool`]).
pub(crate) fn run<T: CpuElem>(
    be: &CpuBackend<T>,
    plan: &Plan,
    inputs: &[&Mat<T>],
) -> Result<Mat<T>> {
    crate::par::in_pool(be.par(), || run_steps(be, plan, inputs))
}

/// [`run`] on the calling thread.
fn run_steps<T: CpuElem>(be: &CpuBackend<T>, plan: &Plan, inputs: &[&Mat<T>]) -> Result<Mat<T>> {
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
            BufferRole::Index(p) => Slot::Index(p),
            BufferRole::Output | BufferRole::Temp => Slot::Empty,
        })
        .collect();
    for step in plan.steps() {
        let (rows, cols) = plan.shape_of(step.output);
        let mut out = match std::mem::replace(&mut slots[step.output.index()], Slot::Empty) {
            Slot::Owned(m) => m,
            _ if step.output == plan.output() => {
                crate::recycle::take(rows, cols, be.par(), !writes_every_element(&step.kernel))
            }
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

/// Whether the CPU implementation of `kernel` writes every element of its output without reading
/// it, so that the output's storage need not be zeroed first ([`crate::recycle::take`]): the
/// kernels whose `beta = 0` form computes each element from the inputs alone (the copies, the
/// scalings, the transforms, the dense and structured products, the SpMM, whose result is stored
/// whole). Not listed (zeroed first): kernels that accumulate into or write part of the output
/// (`CopyCols`, the random fill, the sketches, the reductions), and those no operator's plan
/// starts its output with (the transposes, the batched GEMM), which the test below could not
/// cover.
/// `tests::listed_kernels_overwrite_stale_storage` runs each listed kernel on storage full of
/// NaN.
fn writes_every_element(kernel: &Kernel) -> bool {
    match kernel {
        Kernel::Gather(k) => k.beta == 0.0,
        Kernel::DiagScale(k) => k.beta == 0.0,
        Kernel::Axpby(k) => k.beta == 0.0,
        Kernel::Fwht(k) => k.beta == 0.0,
        Kernel::FwhtBase(k) => k.beta == 0.0,
        Kernel::Dct(k) => k.beta == 0.0,
        Kernel::Butterfly(k) => k.beta == 0.0,
        Kernel::Spmm(k) => k.beta == 0.0,
        Kernel::Monarch(k) => k.beta == 0.0,
        Kernel::BlockGemm(k) => k.beta == 0.0,
        Kernel::KroneckerGemm(k) => k.beta == 0.0,
        Kernel::Gemm(k) => k.beta == 0.0,
        // Each panel is first set to `alpha·d∘X` (not read), then gets `alpha·A·B` added;
        // with `alpha = 0` the output is zeroed.
        Kernel::GemmDiag(k) => k.beta == 0.0,
        _ => false,
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

#[cfg(test)]
mod tests {
    use crate::CpuBackend;
    use crate::testing::values;
    use faer::Mat;
    use linops_core::op::{Dct, Hadamard, Monarch};
    use linops_core::{Backend, DType, HostMat, Op, Plan};

    /// Each kernel `writes_every_element` lists, run on recycled output storage full of NaN
    /// (taken without zeroing), gives the same bits as on fresh zeroed storage: it writes every
    /// element and reads none. The ops are chosen so that their plans' output steps cover every
    /// listed kernel (checked).
    #[test]
    fn listed_kernels_overwrite_stale_storage() {
        let n = 512;
        let host = |seed: u64, r: usize, c: usize| {
            let v = values(seed, r * c);
            HostMat::from_fn(r, c, |i, j| v[i + j * r])
        };
        let blocks = |seed: u64, count: usize, b: usize| -> Vec<HostMat> {
            (0..count).map(|i| host(seed + i as u64, b, b)).collect()
        };
        let perm: Vec<usize> = (0..n).map(|i| (i * 97 + 5) % n).collect();
        let (mut indptr, mut indices) = (vec![0], vec![]);
        for i in 0..n {
            indices.extend([(i * 7) % n, (i * 7 + 1) % n, (i * 13 + 300) % n]);
            indices[3 * i..].sort_unstable();
            indices.dedup();
            indptr.push(indices.len());
        }
        let nnz = indices.len();
        let ops: Vec<Op> = vec![
            Op::diagonal(values(1, n)).unwrap(),
            Op::permutation(perm).unwrap(),
            Op::hadamard(n).unwrap(),
            Op::leaf(Hadamard::new(384).unwrap()), // 12·2^5: the m·2^k transform
            Op::leaf(Dct::new(n).unwrap()),
            Op::butterfly(n, values(2, 2 * n * 9)).unwrap(),
            Op::csr(n, n, indptr, indices, values(3, nnz)).unwrap(),
            Op::leaf(
                Monarch::square(32, values(10, 1 << 15), values(11, 1 << 15))
                    .unwrap()
                    .with_fused(true),
            ),
            Op::block_diagonal(blocks(70, 16, 32)).unwrap(),
            Op::kronecker(vec![
                Op::from_host(host(4, 16, 16)).unwrap(),
                Op::from_host(host(5, 32, 32)).unwrap(),
            ])
            .unwrap(),
            Op::from_host(host(6, n, n)).unwrap(),
            Op::from_host(host(7, n, n)).unwrap().t(),
            Op::identity(n).unwrap().scaled(2.5).unwrap(),
            Op::diag_plus_low_rank(values(12, n), host(13, n, 8), host(14, n, 8)).unwrap(),
        ];
        let cpu = CpuBackend::<f32>::new();
        let _pool = crate::recycle::TEST_LOCK
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let mut covered = std::collections::BTreeSet::new();
        for (i, op) in ops.iter().enumerate() {
            // At least MIN_BYTES of f32 (so the pool keeps it) and a shape of its own.
            let rows = op.shape().0;
            let cols = crate::recycle::MIN_BYTES / (4 * rows) + 1 + i;
            let plan = Plan::new(op, op.shape().1, cols, DType::F32).unwrap();
            let first = plan
                .steps()
                .iter()
                .find(|s| s.output == plan.output())
                .unwrap();
            if super::writes_every_element(&first.kernel) {
                covered.insert(first.kernel.label());
            }
            let xv = values(100 + i as u64, op.shape().1 * cols);
            let x = Mat::<f32>::from_fn(op.shape().1, cols, |r, c| xv[r + c * op.shape().1] as f32);
            let fresh = cpu.execute(&plan, &[&x]).unwrap();
            let poison = Mat::<f32>::from_fn(rows, cols, |_, _| f32::NAN);
            let ptr = poison.as_ptr();
            crate::recycle::recycle(poison);
            let reused = cpu.execute(&plan, &[&x]).unwrap();
            assert_eq!(reused.as_ptr(), ptr, "op {i}: the stale storage is reused");
            for c in 0..cols {
                for r in 0..rows {
                    assert_eq!(
                        reused[(r, c)].to_bits(),
                        fresh[(r, c)].to_bits(),
                        "op {i} ({}) at ({r}, {c})",
                        first.kernel.label()
                    );
                }
            }
        }
        let listed = [
            "gather",
            "diag_scale",
            "axpby",
            "fwht",
            "fwht_base",
            "dct",
            "butterfly",
            "spmm",
            "monarch",
            "block_gemm",
            "kronecker_gemm",
            "gemm",
            "gemm_diag",
        ];
        let missing: Vec<_> = listed.iter().filter(|l| !covered.contains(**l)).collect();
        println!("covered: {covered:?}");
        assert!(missing.is_empty(), "kernels not exercised: {missing:?}");
    }
}
