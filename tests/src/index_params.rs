//! Index parameters (issue 9, item 4): index arrays are `u32` on every backend, so permutations
//! and CSR operators past 2²⁴ rows (where an `f32` no longer holds every integer) apply exactly;
//! the planner checks the kind of every argument and counts 4 bytes per index.
//!
//! The large cases use `n = 2²⁴ + 3` rows and one or two columns: big enough that an index kept
//! in `f32` would be rounded (2²⁴ + 1 is not an `f32`), small enough to stay fast and light. The
//! inputs are integers below 2¹⁶ and the operators have entries 1 and 2, so every result is
//! exact in `f32` and `f64` (sums of at most two terms below 2¹⁸): the comparisons are equalities.
//! On lavapipe (128 MiB storage bindings) a permutation of `n` rows fits (`4n` bytes ≈ 64 MiB),
//! a bidiagonal CSR of `n` rows does not (its `2n − 1` column indices take 128 MiB + 20 bytes):
//! the GPU CSR case uses `n` rows with two entries on every other row (`≈ 1.5n` indices,
//! 96 MiB; the row pointers still pass 2²⁴), and the full bidiagonal is refused with a typed
//! `DeviceLimit` naming the binding size, or applied when the device's bindings are larger.

use crate::support::{cpu_engine, gpu_engines, report};
use faer::Mat;
use linops::{DType, Engine, Error, Op, Plan, Scalar};
use linops_core::op::{Csr, Permutation};
use linops_core::plan::kernel;
use linops_core::{
    BufId, BufferRole, HostMat, INDEX_BYTES, IndexParam, Kernel, LeafOp, Lowering, Param, Result,
};

/// Rows of the large cases: the first sizes whose indices an `f32` cannot all hold.
const N: usize = (1 << 24) + 3;

/// Input entry `i`: an integer below 2¹⁶ in magnitude that differs from its neighbours (so a
/// gather from a wrong row shows).
fn x_entry(i: usize) -> f64 {
    ((i * 7919) % 65_521) as f64 - 32_760.0
}

fn input<T: Scalar>(n: usize, cols: usize) -> Mat<T> {
    Mat::from_fn(n, cols, |i, j| T::from_f64(x_entry(i + 3 * j)))
}

/// Asserts `got[i, j] == want(i, j)` exactly, naming the first mismatch.
fn assert_exact<T: Scalar>(what: &str, got: &Mat<T>, want: impl Fn(usize, usize) -> f64) {
    for j in 0..got.ncols() {
        for i in 0..got.nrows() {
            let (g, w) = (got[(i, j)].to_f64(), want(i, j));
            assert!(
                g == w,
                "{what}: entry ({i}, {j}) is {g}, expected {w} (n = {N})"
            );
        }
    }
}

/// The reversal `(P·x)_i = x_{n−1−i}`.
fn reversal(n: usize) -> Op {
    Op::leaf(Permutation::new((0..n).rev().collect()).expect("a bijection"))
}

/// The upper bidiagonal CSR `S[i, i] = 1`, `S[i, i+1] = 2` on the rows `i` with
/// `i % every == 0` (every row for `every = 1`).
fn bidiagonal(n: usize, every: usize) -> Op {
    let mut indptr = Vec::with_capacity(n + 1);
    let (mut indices, mut values) = (Vec::new(), Vec::new());
    indptr.push(0);
    for i in 0..n {
        indices.push(i);
        values.push(1.0);
        if i + 1 < n && i.is_multiple_of(every) {
            indices.push(i + 1);
            values.push(2.0);
        }
        indptr.push(indices.len());
    }
    Op::leaf(Csr::new(n, n, indptr, indices, values).expect("a valid CSR"))
}

/// `(S·x)_i` and `(Sᵀ·x)_i` of [`bidiagonal`] for the input column `x`.
fn bidiagonal_apply(n: usize, every: usize, x: impl Fn(usize) -> f64, i: usize, t: bool) -> f64 {
    let upper = |r: usize| r + 1 < n && r.is_multiple_of(every);
    if t {
        x(i) + if i > 0 && upper(i - 1) {
            2.0 * x(i - 1)
        } else {
            0.0
        }
    } else {
        x(i) + if upper(i) { 2.0 * x(i + 1) } else { 0.0 }
    }
}

fn permutation_on<T: Scalar>(engine: &Engine, what: &str) {
    let p = reversal(N);
    let x = input::<T>(N, 1);
    let y = engine.apply(&p, x.as_ref()).unwrap();
    assert_exact(&format!("{what}: P·x"), &y, |i, _| x_entry(N - 1 - i));
    // Pᵀ = P⁻¹ (the stored inverse); for the reversal it is the reversal again.
    let y = engine.apply(&p.t(), x.as_ref()).unwrap();
    assert_exact(&format!("{what}: Pᵀ·x"), &y, |i, _| x_entry(N - 1 - i));
}

#[test]
fn permutation_past_2_24_rows_on_cpu() {
    let cpu = cpu_engine();
    permutation_on::<f64>(&cpu, "cpu f64");
    permutation_on::<f32>(&cpu, "cpu f32");
}

#[test]
fn folded_permutations_past_2_24_rows_on_cpu() {
    // P_rev·P_shift with (P_shift·x)_i = x_{(i+1) mod n}: the folder makes one gather with
    // idx[i] = shift[rev[i]] = (n − i) mod n.
    let shift = Op::leaf(Permutation::new((0..N).map(|i| (i + 1) % N).collect()).unwrap());
    let op = Op::product(vec![reversal(N), shift]).unwrap();
    let plan = Plan::new(&op, N, 2, DType::F64).unwrap();
    assert_eq!(plan.stats().permutations_folded, 1, "{}", plan.explain());
    assert_eq!(plan.steps().len(), 1, "{}", plan.explain());
    assert!(matches!(plan.steps()[0].kernel, Kernel::Gather(_)));
    let x = input::<f64>(N, 2);
    let y = cpu_engine().apply(&op, x.as_ref()).unwrap();
    assert_exact("cpu f64: P_rev·P_shift·X", &y, |i, j| {
        x_entry((N - i) % N + 3 * j)
    });
}

#[test]
fn csr_past_2_24_rows_on_cpu() {
    let s = bidiagonal(N, 1);
    let cpu = cpu_engine();
    let x = input::<f64>(N, 1);
    let want = |i: usize, t: bool| bidiagonal_apply(N, 1, x_entry, i, t);
    let y = cpu.apply(&s, x.as_ref()).unwrap();
    assert_exact("cpu f64: S·x (bidiagonal)", &y, |i, _| want(i, false));
    let y = cpu.apply(&s.t(), x.as_ref()).unwrap();
    assert_exact("cpu f64: Sᵀ·x (bidiagonal)", &y, |i, _| want(i, true));
    let x = input::<f32>(N, 1);
    let y = cpu.apply(&s, x.as_ref()).unwrap();
    assert_exact("cpu f32: S·x (bidiagonal)", &y, |i, _| want(i, false));
}

#[test]
fn permutation_past_2_24_rows_on_gpu() {
    let Some((trusted, checked)) = gpu_engines() else {
        return;
    };
    permutation_on::<f32>(&trusted, "gpu (trusted shaders)");
    permutation_on::<f32>(&checked, "gpu (checked shaders)");
}

#[test]
fn csr_past_2_24_rows_on_gpu() {
    let Some((gpu, _)) = gpu_engines() else {
        return;
    };
    let x = input::<f32>(N, 1);
    // Two entries on every other row: 1.5n indices (96 MiB), row pointers past 2²⁴.
    let s = bidiagonal(N, 2);
    let want = |i: usize, t: bool| bidiagonal_apply(N, 2, x_entry, i, t);
    let y = gpu.apply(&s, x.as_ref()).unwrap();
    assert_exact("gpu: S·x (every other row bidiagonal)", &y, |i, _| {
        want(i, false)
    });
    let y = gpu.apply(&s.t(), x.as_ref()).unwrap();
    assert_exact("gpu: Sᵀ·x (every other row bidiagonal)", &y, |i, _| {
        want(i, true)
    });
    // The full bidiagonal: its 2n − 1 column indices need 4·(2n − 1) bytes in one binding.
    let binding = gpu
        .gpu_backend()
        .expect("a GPU engine")
        .gpu()
        .max_binding_bytes();
    let index_bytes = INDEX_BYTES * (2 * N as u64 - 1);
    let full = bidiagonal(N, 1);
    // Over the binding, the planner splits the CSR into row panels that each fit (issue 10):
    // the result is exact either way.
    let y = gpu.apply(&full, x.as_ref()).unwrap_or_else(|e| {
        panic!(
            "full bidiagonal CSR of {N} rows ({index_bytes} index bytes, binding {binding}): {e}"
        )
    });
    assert_exact("gpu: S·x (bidiagonal)", &y, |i, _| {
        bidiagonal_apply(N, 1, x_entry, i, false)
    });
    if index_bytes > binding {
        let t = gpu.tiled_plan::<f32>(&full, N, 1).unwrap();
        assert!(t.explain().contains("row panels"), "{}", t.explain());
        report(&format!(
            "index_params: the full bidiagonal CSR of {N} rows needs {index_bytes} bytes of \
             column indices, over this device's binding {binding}: applied exactly in row panels"
        ));
    }
}

#[test]
fn index_arrays_cost_four_bytes_per_index() {
    let (n, b) = (10usize, 3usize);
    let p = Op::leaf(Permutation::new((0..n).rev().collect()).unwrap());
    let s = bidiagonal(n, 1);
    let nnz = 2 * n as u64 - 1;
    for dtype in [DType::F32, DType::F64] {
        let size = dtype.size_bytes();
        let (n, b) = (n as u64, b as u64);
        // Gather: X read and Y written in the dtype, n indices of 4 bytes.
        let plan = Plan::new(&p, n as usize, b as usize, dtype).unwrap();
        assert_eq!(
            plan.steps()[0].bytes,
            2 * n * b * size + INDEX_BYTES * n,
            "{dtype}: {}",
            plan.explain()
        );
        // SpMM: nnz values, each of the min(k, nnz) rows of X read once (gathered rows stay in
        // cache), n·b writes in the dtype; n + 1 row pointers and nnz column indices of 4 bytes.
        let plan = Plan::new(&s, n as usize, b as usize, dtype).unwrap();
        assert_eq!(
            plan.steps()[0].bytes,
            (nnz + n.min(nnz) * b + n * b) * size + INDEX_BYTES * (n + 1 + nnz),
            "{dtype}: {}",
            plan.explain()
        );
        let kinds: Vec<bool> = plan.steps()[0]
            .inputs
            .iter()
            .map(|id| matches!(plan.buffers()[id.index()].role, BufferRole::Index(_)))
            .collect();
        assert_eq!(kinds, [true, true, false, false], "spmm argument kinds");
        assert!(
            plan.explain()
                .contains(&format!("i{}[{}x1]", plan.steps()[0].inputs[0].0, n + 1))
        );
    }
}

/// A leaf that hands the gather a value parameter where the indices go (or index arrays to a
/// kernel that reads values): a planner bug the lowering must catch.
#[derive(Debug)]
struct WrongKind {
    values: Param,
    indices: IndexParam,
    index_as_values: bool,
}

impl LeafOp for WrongKind {
    fn name(&self) -> &'static str {
        "wrong_kind"
    }
    fn shape(&self) -> (usize, usize) {
        (2, 2)
    }
    fn to_dense(&self) -> HostMat {
        HostMat::zeros(2, 2)
    }
    fn param_count(&self) -> usize {
        4
    }
    fn lower(
        &self,
        cx: &mut Lowering,
        _t: bool,
        x: BufId,
        out: BufId,
        alpha: f64,
        beta: f64,
    ) -> Result<()> {
        if self.index_as_values {
            let d = cx.index(&self.indices);
            cx.push(kernel::DiagScale { alpha, beta }, vec![d, x], out)
        } else {
            let idx = cx.param(&self.values);
            cx.push(kernel::Gather { alpha, beta }, vec![idx, x], out)
        }
    }
}

#[test]
fn planner_rejects_an_argument_of_the_wrong_kind() {
    for index_as_values in [false, true] {
        let op = Op::leaf(WrongKind {
            values: Param::new(2, 1, vec![1.0, 0.0]).unwrap(),
            indices: IndexParam::new(&[1, 0]).unwrap(),
            index_as_values,
        });
        match Plan::new(&op, 2, 1, DType::F32) {
            Err(Error::InvalidArgument(m)) => {
                assert!(m.contains("index array"), "message: {m}");
                let kernel = if index_as_values {
                    "diag_scale"
                } else {
                    "gather"
                };
                assert!(m.contains(kernel), "message: {m}");
            }
            other => panic!(
                "index_as_values = {index_as_values}: expected a planner error, got {other:?}"
            ),
        }
    }
}

#[test]
fn index_params_hold_the_u32_range() {
    assert!(matches!(
        IndexParam::new(&[]),
        Err(Error::EmptyDimension { .. })
    ));
    let top = IndexParam::new(&[IndexParam::MAX_INDEX, 0]).unwrap();
    assert_eq!(top.indices(), &[u32::MAX, 0]);
    #[cfg(target_pointer_width = "64")]
    {
        let past = IndexParam::MAX_INDEX + 1;
        match IndexParam::new(&[0, past]) {
            Err(Error::DeviceLimit {
                what,
                requested,
                limit,
                ..
            }) => {
                assert!(what.contains("entry 1"), "{what}");
                assert_eq!((requested, limit), (past as u64, u64::from(u32::MAX)));
            }
            other => panic!("expected DeviceLimit, got {other:?}"),
        }
        // Sizes past the u32 range are refused before anything is allocated.
        assert!(matches!(
            Csr::new(1, past, vec![0, 0], vec![], vec![]),
            Err(Error::DeviceLimit { .. })
        ));
    }
}
