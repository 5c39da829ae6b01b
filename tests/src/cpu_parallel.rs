//! The CPU backend's one parallelism mechanism (faer's `Par`, issue 9): every kernel gives the
//! same bits with `Par::Seq` as with 2, 3 and 8 workers, at shapes large enough that each kernel
//! splits its output (block GEMM: ≥ 32 columns; FWHT/DCT: ≥ 2¹⁴ elements; SpMM: ≥ 2¹⁵
//! multiply-adds on both the row-wise and the wide path; faer's GEMM; `gemm_diag`: two
//! column panels).
//!
//! Each output element is computed by the same sequence of operations whatever part of the
//! output it lands in, so the comparison is exact (`to_bits`), not within a tolerance.

use crate::support::Rng;
use faer::{Mat, Par};
use linops::{DType, Op, Plan};
use linops_core::op::{
    BlockDiagonal, Csr, Dct, DenseSketch, Hadamard, Kronecker, Monarch, Permutation, SparseSign,
};
use linops_core::rng::RngState;
use linops_core::{Backend, HostMat};
use linops_cpu::{CpuBackend, CpuElem};

/// One operator per CPU kernel family, with a batch that makes the kernel split its columns.
fn cases(rng: &mut Rng) -> Vec<(&'static str, Op, usize)> {
    let b = 16;
    let monarch = Op::leaf(Monarch::square(b, rng.vec(b * b * b), rng.vec(b * b * b)).unwrap());
    let blocks = (0..8)
        .map(|_| HostMat::new(40, 24, rng.vec(40 * 24)).unwrap())
        .collect();
    let block_diag = Op::leaf(BlockDiagonal::new(blocks).unwrap());
    let csr = |rng: &mut Rng, m: usize, n: usize, per_row: usize| {
        let trip: Vec<_> = (0..m)
            .flat_map(|i| (0..per_row).map(move |_| i))
            .map(|i| (i, rng.below(n), rng.uniform() - 0.5))
            .collect();
        Op::leaf(Csr::from_triplets(m, n, &trip).unwrap())
    };
    let mut perm: Vec<usize> = (0..700).collect();
    for i in (1..perm.len()).rev() {
        perm.swap(i, rng.below(i + 1));
    }
    let kron = Op::leaf(Kronecker::new(vec![rng.dense_op(24, 20), rng.dense_op(30, 35)]).unwrap());
    vec![
        ("monarch (block_gemm, strided)", monarch.clone(), 70),
        ("monarch^T (block_gemm, strided)", monarch.t(), 33),
        ("block diagonal (block_gemm)", block_diag.clone(), 67),
        ("block diagonal^T (block_gemm)", block_diag.t(), 40),
        (
            "hadamard 512 (fwht, in place)",
            Op::leaf(Hadamard::new(512).unwrap()),
            67,
        ),
        (
            "hadamard padded 600 (fwht, scratch)",
            Op::leaf(Hadamard::padded(600).unwrap()),
            45,
        ),
        ("dct 300 (dct-ii)", Op::leaf(Dct::new(300).unwrap()), 67),
        (
            "dct^T 300 (dct-iii)",
            Op::leaf(Dct::new(300).unwrap()).t(),
            60,
        ),
        ("csr 1000x64 (spmm, row-wise)", csr(rng, 1000, 64, 4), 33),
        ("csr 64x5000 (spmm, wide)", csr(rng, 64, 5000, 8), 100),
        (
            "sparse sign 64x4000 (spmm, wide)",
            Op::leaf(SparseSign::new(64, 4000, 4, RngState::new(9)).unwrap()),
            130,
        ),
        (
            "gaussian sketch 48x300 (sketch_gemm)",
            Op::leaf(DenseSketch::gaussian(48, 300, RngState::new(5)).unwrap()),
            90,
        ),
        ("dense 200x150 (gemm)", rng.dense_op(200, 150), 120),
        (
            "diag+low-rank 700 r=24 (gemm_diag panels)",
            crate::gemm_diag::op(rng, 700, 24),
            300,
        ),
        (
            "permutation 700 (gather)",
            Op::leaf(Permutation::new(perm).unwrap()),
            50,
        ),
        ("kronecker 24x20 ⊗ 30x35 (batch_transpose)", kron, 9),
    ]
}

/// `op·x` on a CPU backend with parallelism `par`, as `f64` values.
fn apply<T: CpuElem>(par: Par, op: &Op, x: &Mat<f64>) -> Vec<T> {
    let be = CpuBackend::<T>::with_par(par);
    let data: Vec<T> = (0..x.ncols())
        .flat_map(|j| (0..x.nrows()).map(move |i| T::from_f64(x[(i, j)])))
        .collect();
    let xd = be.upload(x.nrows(), x.ncols(), &data).unwrap();
    let plan = Plan::new(op, x.nrows(), x.ncols(), T::DTYPE).unwrap();
    be.download(&be.execute(&plan, &[&xd]).unwrap()).unwrap()
}

fn same_bits_every_degree<T: CpuElem>(dtype: DType) {
    let mut rng = Rng::new(0x9A7_5E9);
    for (name, op, batch) in cases(&mut rng) {
        let x = rng.mat(op.shape().1, batch);
        let seq = apply::<T>(Par::Seq, &op, &x);
        for degree in [2, 3, 8] {
            let got = apply::<T>(Par::rayon(degree), &op, &x);
            assert_eq!(got.len(), seq.len(), "{name} {dtype}: length");
            for (e, (g, s)) in got.iter().zip(&seq).enumerate() {
                assert!(
                    g.to_f64().to_bits() == s.to_f64().to_bits(),
                    "{name} {dtype}, batch {batch}: element {e} (row {}, col {}) is {} with {degree} \
                     workers, {} with Par::Seq",
                    e % op.shape().0,
                    e / op.shape().0,
                    g.to_f64(),
                    s.to_f64(),
                );
            }
        }
    }
}

#[test]
fn cpu_kernels_same_bits_for_every_thread_count_f32() {
    same_bits_every_degree::<f32>(DType::F32);
}

#[test]
fn cpu_kernels_same_bits_for_every_thread_count_f64() {
    same_bits_every_degree::<f64>(DType::F64);
}
