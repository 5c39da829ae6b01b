//! Front doors for operations on resident matrices: GEMM, `axpby`, column norms and dots,
//! column concatenation and random matrices.
//!
//! Each one checks that its matrices live on this engine in one dtype, builds the one-step plan
//! of [`linops_core::plan`] (`Plan::gemm`, `Plan::axpby`, …), and runs it through the engine's
//! one way to a backend, like any operator application. Results stay on the backend (the
//! reductions come back to the host as `f64`, exactly).

use crate::{Engine, Matrix};
#[cfg(doc)]
use linops_core::Error;
use linops_core::rng::{Dist, RngState};
use linops_core::{DType, Plan, Result};

impl Engine {
    /// `alpha·op(A)·op(B) + beta·C` on resident matrices (`op(M) = Mᵀ` when `trans_*`); the result
    /// stays on the backend. `C` is required iff `beta ≠ 0`.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] for incompatible shapes, [`Error::InvalidArgument`] for mixed
    /// dtypes or backends, non-finite scalars, scalars outside the matrices' precision
    /// (`1e300` for `f32` data) or a missing `C`; device failures. BLAS semantics on every
    /// backend: with `alpha == 0` the product is not formed (it may overflow; `0·Inf` is NaN),
    /// and with `beta == 0` `C` is not read.
    ///
    /// # Examples
    /// ```
    /// use linops::{Engine, faer::Mat};
    /// let e = Engine::cpu();
    /// let a = e.upload(Mat::<f64>::from_fn(3, 2, |i, j| (i + j) as f64).as_ref()).unwrap();
    /// let g = e.gemm(1.0, &a, true, &a, false, 0.0, None).unwrap(); // AᵀA, 2×2
    /// assert_eq!(e.download::<f64>(&g).unwrap()[(0, 1)], 0.0 * 1.0 + 1.0 * 2.0 + 2.0 * 3.0);
    /// let h = e.gemm(1.0, &a, true, &a, false, -1.0, Some(&g)).unwrap(); // AᵀA − AᵀA
    /// assert_eq!(e.download::<f64>(&h).unwrap()[(1, 1)], 0.0);
    /// assert!(e.gemm(1.0, &a, false, &a, false, 0.0, None).is_err()); // 3×2 · 3×2
    /// let z = e.gemm(0.0, &a, true, &a, false, 0.0, None).unwrap(); // alpha = 0: AᵀA not formed
    /// assert_eq!(e.download::<f64>(&z).unwrap()[(1, 1)], 0.0);
    /// ```
    #[allow(clippy::too_many_arguments)]
    pub fn gemm(
        &self,
        alpha: f64,
        a: &Matrix,
        trans_a: bool,
        b: &Matrix,
        trans_b: bool,
        beta: f64,
        c: Option<&Matrix>,
    ) -> Result<Matrix> {
        let mut all = vec![a, b];
        all.extend(c);
        let dtype = self.resident("gemm", &all)?;
        let cs = c.map(Matrix::shape);
        let plan = Plan::gemm(
            dtype,
            alpha,
            a.shape(),
            trans_a,
            b.shape(),
            trans_b,
            beta,
            cs,
        )?;
        self.counter.plan();
        self.run(&plan, &all)
    }

    /// `alpha·X + beta·Y` on resident matrices of equal shape; the result stays on the backend.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] for different shapes, [`Error::InvalidArgument`] for mixed dtypes
    /// or backends, non-finite scalars and scalars outside the matrices' precision; device
    /// failures.
    ///
    /// # Examples
    /// ```
    /// use linops::{Engine, faer::Mat};
    /// let e = Engine::cpu();
    /// let x = e.upload(Mat::<f32>::from_fn(2, 1, |i, _| i as f32).as_ref()).unwrap();
    /// let y = e.upload(Mat::<f32>::from_fn(2, 1, |_, _| 1.0).as_ref()).unwrap();
    /// let z = e.axpby(2.0, &x, -1.0, &y).unwrap();
    /// assert_eq!(e.download::<f32>(&z).unwrap()[(1, 0)], 1.0);
    /// ```
    pub fn axpby(&self, alpha: f64, x: &Matrix, beta: f64, y: &Matrix) -> Result<Matrix> {
        let dtype = self.resident("axpby", &[x, y])?;
        let plan = Plan::axpby(dtype, alpha, x.shape(), beta, y.shape())?;
        self.counter.plan();
        self.run(&plan, &[x, y])
    }

    /// Euclidean norm of each column of a resident matrix, overflow- and underflow-safe on every
    /// backend (a representable norm is returned even when its squares are not; one beyond the
    /// precision is `+Inf`).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a matrix of another engine kind; device failures.
    ///
    /// # Examples
    /// ```
    /// let e = linops::Engine::cpu();
    /// let m = e.upload(linops::faer::Mat::<f64>::from_fn(2, 1, |i, _| [3.0, 4.0][i]).as_ref()).unwrap();
    /// assert_eq!(e.col_norms(&m).unwrap(), vec![5.0]);
    /// ```
    pub fn col_norms(&self, x: &Matrix) -> Result<Vec<f64>> {
        let dtype = self.resident("col_norms", &[x])?;
        let plan = Plan::col_norms(dtype, x.shape())?;
        self.counter.plan();
        self.download_vec(&self.run(&plan, &[x])?)
    }

    /// Column-wise dot products `Σ_i x[i,j]·y[i,j]` of two resident matrices.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] for different shapes, [`Error::InvalidArgument`] for mixed dtypes or
    /// backends.
    ///
    /// # Examples
    /// ```
    /// let e = linops::Engine::cpu();
    /// let m = e.upload(linops::faer::Mat::<f64>::from_fn(2, 1, |i, _| [3.0, 4.0][i]).as_ref()).unwrap();
    /// assert_eq!(e.col_dots(&m, &m).unwrap(), vec![25.0]);
    /// ```
    pub fn col_dots(&self, x: &Matrix, y: &Matrix) -> Result<Vec<f64>> {
        let dtype = self.resident("col_dots", &[x, y])?;
        let plan = Plan::col_dots(dtype, x.shape(), y.shape())?;
        self.counter.plan();
        self.download_vec(&self.run(&plan, &[x, y])?)
    }

    /// The horizontal concatenation `[X₁ X₂ …]` of resident blocks with equal row counts; the
    /// result stays on the backend.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) for no blocks or blocks of
    /// mixed dtypes or backends, [`Error::ShapeMismatch`](crate::Error::ShapeMismatch) naming
    /// the first block whose row count differs; device failures.
    ///
    /// # Examples
    /// ```
    /// use linops::{Engine, faer::Mat};
    /// let e = Engine::cpu();
    /// let x = e.upload(Mat::<f64>::from_fn(2, 1, |i, _| i as f64).as_ref()).unwrap();
    /// let y = e.upload(Mat::<f64>::from_fn(2, 2, |i, j| (10 * (j + 1) + i) as f64).as_ref()).unwrap();
    /// let z = e.download::<f64>(&e.concat_cols(&[&x, &y]).unwrap()).unwrap();
    /// assert_eq!((z[(1, 0)], z[(0, 1)], z[(1, 2)]), (1.0, 10.0, 21.0));
    /// assert!(e.concat_cols(&[&x, &e.upload(Mat::<f64>::zeros(3, 1).as_ref()).unwrap()]).is_err());
    /// ```
    pub fn concat_cols(&self, blocks: &[&Matrix]) -> Result<Matrix> {
        let dtype = self.resident("concat_cols", blocks)?;
        let shapes: Vec<(usize, usize)> = blocks.iter().map(|b| b.shape()).collect();
        let plan = Plan::concat_cols(dtype, &shapes)?;
        self.counter.plan();
        self.run(&plan, blocks)
    }

    /// The resident matrix `alpha·op(G)` in `dtype`, with `G` the `rows×cols` random matrix of
    /// `dist` under `rng` (the Philox matrix layout of [`linops_core::rng`]; `op(G) = Gᵀ` when
    /// `trans`), generated on the backend. Entry for entry the same values as the CPU's
    /// [`RngState::entry`] (Gaussian entries on the GPU within `GAUSSIAN_GPU_MAX_ULPS` ulps).
    ///
    /// # Errors
    /// [`Error::EmptyDimension`](crate::Error::EmptyDimension) for an empty `G`,
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) for an `alpha` outside `dtype`,
    /// [`Error::Unsupported`](crate::Error::Unsupported) for `f64` on the GPU engine; device
    /// limits and failures.
    ///
    /// # Examples
    /// ```
    /// use linops::{DType, Dist, Engine, RngState};
    /// let e = Engine::cpu();
    /// let s = RngState::new(5);
    /// let g = e.random_matrix(DType::F64, Dist::Rademacher, s, 3, 4, true, 2.0).unwrap();
    /// assert_eq!(g.shape(), (4, 3));
    /// let h = e.download::<f64>(&g).unwrap();
    /// assert_eq!(h[(1, 2)], 2.0 * f64::from(s.entry(Dist::Rademacher, 2, 1)));
    /// ```
    #[allow(clippy::too_many_arguments)]
    pub fn random_matrix(
        &self,
        dtype: DType,
        dist: Dist,
        rng: RngState,
        rows: usize,
        cols: usize,
        trans: bool,
        alpha: f64,
    ) -> Result<Matrix> {
        let plan = Plan::random_fill(dtype, dist, rng, rows, cols, trans, alpha)?;
        self.counter.plan();
        self.run(&plan, &[])
    }
}
