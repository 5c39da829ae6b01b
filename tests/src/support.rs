//! Shared test support: seeded inputs, engines for every backend, error measures.

use faer::{Mat, MatRef};
use linops::plan::CostModel;
use linops::{Engine, HostMat, Op};

pub use crate::gpu_kernels::test_device;

/// SplitMix64 (Steele, Lea and Flood 2014): seeded test inputs.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [-1, 1), exactly representable in f32 (so every backend sees the same input).
    pub fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 40) as f64 / (1u64 << 24) as f64) * 2.0 - 1.0
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    pub fn vec(&mut self, n: usize) -> Vec<f64> {
        (0..n).map(|_| self.uniform()).collect()
    }
    pub fn mat(&mut self, rows: usize, cols: usize) -> Mat<f64> {
        Mat::from_fn(rows, cols, |_, _| self.uniform())
    }
    pub fn dense_op(&mut self, rows: usize, cols: usize) -> Op {
        Op::dense(rows, cols, self.vec(rows * cols)).expect("valid dense op")
    }
    pub fn diag_op(&mut self, n: usize) -> Op {
        Op::diagonal(self.vec(n)).expect("valid diagonal")
    }
}

/// The operator with every parameter replaced by its absolute value (and scales by |s|): its dense
/// form bounds |op| entrywise through products, so `abs_op(op)·|X|` is the magnitude that
/// rounding errors scale with.
pub fn abs_op(op: &Op) -> Op {
    match op {
        Op::Scaled(s) => abs_op(s.inner()).scaled(s.factor().abs()).expect("finite"),
        Op::Transpose(t) => abs_op(t.inner()).t(),
        Op::Product(p) => {
            Op::product(p.factors().iter().map(abs_op).collect()).expect("same shapes")
        }
        Op::Sum(s) => Op::sum(s.terms().iter().map(abs_op).collect()).expect("same shapes"),
        leaf => {
            let d = leaf.to_dense();
            Op::from_host(HostMat::from_fn(d.rows(), d.cols(), |i, j| {
                d.get(i, j).abs()
            }))
            .expect("finite")
        }
    }
}

/// Depth of the longest chain of kernels (bounds how many roundings stack up).
pub fn depth(op: &Op) -> usize {
    match op {
        Op::Scaled(s) => 1 + depth(s.inner()),
        Op::Transpose(t) => depth(t.inner()),
        Op::Product(p) => p.factors().iter().map(depth).sum(),
        Op::Sum(s) => s.terms().len() + s.terms().iter().map(depth).max().unwrap_or(0),
        _ => 1,
    }
}

/// Largest inner dimension of any product in the tree (the reduction length of the longest dot).
pub fn max_inner(op: &Op) -> usize {
    match op {
        Op::Scaled(s) => max_inner(s.inner()),
        Op::Transpose(t) => max_inner(t.inner()),
        Op::Product(p) => p
            .factors()
            .iter()
            .map(|f| f.shape().1.max(max_inner(f)))
            .max()
            .unwrap_or(1),
        Op::Sum(s) => s.terms().iter().map(max_inner).max().unwrap_or(1),
        leaf => leaf.shape().1,
    }
}

/// |op|·|X| computed in f64: the entrywise magnitude scale of op·X.
pub fn magnitude(op: &Op, x: MatRef<'_, f64>) -> Mat<f64> {
    let a = linops::to_faer(&abs_op(op));
    let ax = Mat::from_fn(x.nrows(), x.ncols(), |i, j| x[(i, j)].abs());
    &a * &ax
}

/// Max entrywise |a − b| with the index where it occurs.
pub fn max_err<T: Copy + Into<f64>>(
    a: MatRef<'_, T>,
    reference: MatRef<'_, f64>,
) -> (f64, (usize, usize)) {
    let mut worst = (0.0f64, (0, 0));
    for j in 0..a.ncols() {
        for i in 0..a.nrows() {
            let v: f64 = a[(i, j)].into();
            let d = (v - reference[(i, j)]).abs();
            if d > worst.0 || d.is_nan() {
                worst = (if d.is_nan() { f64::INFINITY } else { d }, (i, j));
            }
        }
    }
    worst
}

pub fn max_abs(m: MatRef<'_, f64>) -> f64 {
    let mut v = 0.0f64;
    for j in 0..m.ncols() {
        for i in 0..m.nrows() {
            v = v.max(m[(i, j)].abs());
        }
    }
    v
}

pub fn to_f32(m: MatRef<'_, f64>) -> Mat<f32> {
    Mat::from_fn(m.nrows(), m.ncols(), |i, j| m[(i, j)] as f32)
}

/// GPU engines on the trusted-shader and the checked-shader device, or `None` (loudly skipped).
/// They apply every structure as such ([`CostModel::structure_only`]): these tests are about
/// the kernels, not the planner's materialization choice.
pub fn gpu_engines() -> Option<(Engine, Engine)> {
    let trusted = test_device(false)?;
    let checked = test_device(true)?;
    Some((
        Engine::from_device(trusted).with_cost_model(CostModel::structure_only()),
        Engine::from_device(checked).with_cost_model(CostModel::structure_only()),
    ))
}

/// The CPU engine applying every structure as such (see [`gpu_engines`]).
pub fn cpu_engine() -> Engine {
    Engine::cpu().with_cost_model(CostModel::structure_only())
}

/// Writes a line to the real stderr (visible even when the harness captures output).
pub fn report(line: &str) {
    let _ = std::io::Write::write_all(&mut std::io::stderr(), format!("{line}\n").as_bytes());
}
