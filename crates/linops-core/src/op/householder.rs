//! Householder product in compact WY form.
//!
//! Mathematics: `Q = H₁·H₂·…·H_k` with `H_i = I − τ_i·v_i·v_iᵀ` (`v_i ∈ ℝⁿ`), the LAPACK
//! convention of `xGEQRF`/`xORGQR` (whose `v_i` have a unit entry and zeros above it; here any
//! non-zero `v_i` is accepted). [`Householder::from_vectors`] takes unnormalized vectors and uses
//! `τ_i = 2/‖v_i‖²`, which makes every `H_i` (and so `Q`) orthogonal; with [`Householder::new`]
//! the caller's `τ` is used as given, and `Q` is orthogonal exactly when every `τ_i` is `0` or
//! `2/‖v_i‖²`.
//!
//! Storage: `V` (`n×k`, column-major, the reflector vectors as columns) and the upper-triangular
//! `T` (`k×k`) of the compact WY form `Q = I − V·T·Vᵀ` (Schreiber and Van Loan 1989), computed
//! at construction by the forward column-wise recurrence of LAPACK's `xLARFT`:
//! `T[i,i] = τ_i`, `T[0..i, i] = −τ_i·T[0..i, 0..i]·(V[:, 0..i]ᵀ·v_i)`, in `O(n·k² + k³)`.
//!
//! Apply: `Q·X = X − V·(T·(Vᵀ·X))` and `Qᵀ·X = X − V·(Tᵀ·(Vᵀ·X))`: two `k×b` temporaries, three
//! GEMMs and one axpby. Cost for `X` of `b` columns: `4·n·k·b + 2·k²·b` FLOPs plus one pass over
//! `X` (dense: `2·n²·b`).

use super::{LeafOp, check_generated, require_nonempty, try_filled};
use crate::lower::{Param, kernel};
use crate::op::Lowering;
use crate::{BufId, Error, HostMat, Link, Result, check_finite};

/// `Q = H₁·…·H_k`, `H_i = I − τ_i·v_i·v_iᵀ`, applied in compact WY form.
///
/// # Examples
/// ```
/// use linops_core::{LeafOp, op::Householder};
/// // One reflector along e₀ + e₁ in ℝ³: swaps the first two coordinates and negates nothing else.
/// let q = Householder::from_vectors(3, 1, vec![1.0, -1.0, 0.0]).unwrap();
/// let d = q.to_dense();
/// assert!((d.get(0, 1) - 1.0).abs() < 1e-15 && (d.get(2, 2) - 1.0).abs() < 1e-15);
/// ```
#[derive(Debug, Clone)]
pub struct Householder {
    v: Param,
    t: Param,
    tau: Vec<f64>,
}

impl Householder {
    /// `Q` from the reflector vectors `v` (`n×k` column-major) and scales `tau` (LAPACK convention).
    ///
    /// # Errors
    /// [`Error::EmptyDimension`] for `n == 0` or `k == 0`, [`Error::ShapeMismatch`] when `v` has
    /// not `n·k` entries or `tau` not `k`, [`Error::NonFinite`] for NaN/Inf in `v` or `tau`,
    /// [`Error::InvalidArgument`] for a zero reflector vector, [`Error::DeviceLimit`] when the
    /// `k×k` factor `T` (larger than the data `V` when `k > n`) exceeds
    /// [`super::MAX_GENERATED_ENTRIES`] (checked before allocating), [`Error::Backend`] when the
    /// allocator refuses a smaller one.
    ///
    /// # Examples
    /// ```
    /// use linops_core::op::Householder;
    /// assert!(Householder::new(2, 1, vec![1.0, 0.0], vec![2.0]).is_ok());
    /// assert!(Householder::new(2, 1, vec![1.0, 0.0], vec![2.0, 1.0]).is_err()); // 2 taus
    /// assert!(Householder::new(2, 1, vec![0.0, 0.0], vec![2.0]).is_err()); // zero vector
    /// ```
    pub fn new(n: usize, k: usize, v: Vec<f64>, tau: Vec<f64>) -> Result<Self> {
        require_nonempty("householder reflectors V", n, k)?;
        let len = n.checked_mul(k).ok_or_else(|| {
            Error::InvalidArgument(format!("householder: n·k = {n}·{k} overflows"))
        })?;
        if v.len() != len {
            return Err(Error::ShapeMismatch {
                context: "householder reflectors V".into(),
                expected: format!("{len} entries ({n}x{k} column-major)"),
                found: format!("{} entries", v.len()),
            });
        }
        if tau.len() != k {
            return Err(Error::ShapeMismatch {
                context: "householder scales tau".into(),
                expected: format!("{k} entries (one per reflector)"),
                found: format!("{} entries", tau.len()),
            });
        }
        check_finite("householder reflectors V", n, &v)?;
        check_finite("householder scales tau", k, &tau)?;
        for i in 0..k {
            if v[i * n..(i + 1) * n].iter().all(|x| *x == 0.0) {
                return Err(Error::InvalidArgument(format!(
                    "householder: reflector vector {i} is zero"
                )));
            }
        }
        // T is k×k: more than the data when k > n, so its size is checked and its allocation
        // fallible.
        let entries = check_generated("householder factor T (k×k)", k.checked_mul(k))?;
        let t = larft(
            n,
            k,
            &v,
            &tau,
            try_filled("householder factor T", entries, 0.0)?,
        );
        Ok(Self {
            v: Param::of_shape(n, k, v),
            t: Param::of_shape(k, k, t),
            tau,
        })
    }

    /// `Q` from unnormalized reflector vectors, with `τ_i = 2/‖v_i‖²` (every `H_i` orthogonal).
    ///
    /// # Errors
    /// As [`Householder::new`]; [`Error::InvalidArgument`] also when `‖v_i‖²` over- or underflows.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{LeafOp, op::Householder};
    /// let q = Householder::from_vectors(2, 1, vec![3.0, 4.0]).unwrap();
    /// assert!((q.tau()[0] - 2.0 / 25.0).abs() < 1e-17);
    /// assert!(Householder::from_vectors(2, 1, vec![f64::NAN, 1.0]).is_err());
    /// ```
    pub fn from_vectors(n: usize, k: usize, v: Vec<f64>) -> Result<Self> {
        require_nonempty("householder reflectors V", n, k)?;
        if v.len() != n.saturating_mul(k) {
            return Err(Error::ShapeMismatch {
                context: "householder reflectors V".into(),
                expected: format!("{} entries ({n}x{k} column-major)", n.saturating_mul(k)),
                found: format!("{} entries", v.len()),
            });
        }
        check_finite("householder reflectors V", n, &v)?;
        let mut tau = Vec::with_capacity(k);
        for i in 0..k {
            let nrm2: f64 = v[i * n..(i + 1) * n].iter().map(|x| x * x).sum();
            if nrm2 == 0.0 && v[i * n..(i + 1) * n].iter().all(|x| *x == 0.0) {
                return Err(Error::InvalidArgument(format!(
                    "householder: reflector vector {i} is zero"
                )));
            }
            let t = 2.0 / nrm2;
            if !nrm2.is_normal() || !t.is_normal() {
                return Err(Error::InvalidArgument(format!(
                    "householder: ‖v_{i}‖² = {nrm2:e} is out of range (rescale the vector)"
                )));
            }
            tau.push(t);
        }
        Self::new(n, k, v, tau)
    }

    /// The scales `τ_i`.
    ///
    /// # Examples
    /// ```
    /// let q = linops_core::op::Householder::new(1, 1, vec![1.0], vec![2.0]).unwrap();
    /// assert_eq!(q.tau(), &[2.0]);
    /// ```
    pub fn tau(&self) -> &[f64] {
        &self.tau
    }

    /// The upper-triangular `T` of `Q = I − V·T·Vᵀ` (`k×k`, column-major).
    ///
    /// # Examples
    /// ```
    /// let q = linops_core::op::Householder::new(2, 2, vec![1.0, 0.0, 0.0, 1.0], vec![2.0, 2.0]).unwrap();
    /// assert_eq!(q.t_factor(), &[2.0, 0.0, 0.0, 2.0]); // orthogonal vectors: T is diagonal
    /// ```
    pub fn t_factor(&self) -> &[f64] {
        &self.t.data
    }

    /// Number of reflectors `k`.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(linops_core::op::Householder::new(1, 1, vec![1.0], vec![2.0]).unwrap().reflectors(), 1);
    /// ```
    pub fn reflectors(&self) -> usize {
        self.v.cols
    }
}

/// `T` of the compact WY form (forward, column-wise storage; LAPACK `xLARFT`), column-major `k×k`.
fn larft(n: usize, k: usize, v: &[f64], tau: &[f64], mut t: Vec<f64>) -> Vec<f64> {
    let mut w = vec![0.0; k];
    for i in 0..k {
        let vi = &v[i * n..(i + 1) * n];
        // w = V[:, 0..i]ᵀ · v_i
        for (j, wj) in w.iter_mut().enumerate().take(i) {
            let vj = &v[j * n..(j + 1) * n];
            *wj = vj.iter().zip(vi).map(|(a, b)| a * b).sum();
        }
        // T[0..i, i] = −τ_i · T[0..i, 0..i] · w  (T upper triangular)
        for r in 0..i {
            let mut s = 0.0;
            for (c, wc) in w.iter().enumerate().take(i).skip(r) {
                s += t[r + c * k] * wc;
            }
            t[r + i * k] = -tau[i] * s;
        }
        t[i + i * k] = tau[i];
    }
    t
}

impl LeafOp for Householder {
    fn name(&self) -> &'static str {
        "householder"
    }
    fn shape(&self) -> (usize, usize) {
        (self.v.rows, self.v.rows)
    }
    fn to_dense(&self) -> HostMat {
        // The definition: Q = H₁·…·H_k, built by applying the reflectors right to left to I.
        let (n, k) = (self.v.rows, self.v.cols);
        let mut q = HostMat::from_fn(n, n, |i, j| if i == j { 1.0 } else { 0.0 });
        for r in (0..k).rev() {
            let vr = &self.v.data[r * n..(r + 1) * n];
            for j in 0..n {
                let dot: f64 = (0..n).map(|i| vr[i] * q.get(i, j)).sum();
                for (i, vi) in vr.iter().enumerate() {
                    q.set(i, j, q.get(i, j) - self.tau[r] * vi * dot);
                }
            }
        }
        q
    }
    fn param_count(&self) -> usize {
        self.v.data.len() + self.t.data.len()
    }
    fn lower(
        &self,
        cx: &mut Lowering,
        transposed: bool,
        x: BufId,
        out: BufId,
        alpha: f64,
        beta: f64,
    ) -> Result<()> {
        let k = self.v.cols;
        let v = cx.param(&self.v);
        let t = cx.param(&self.t);
        let gemm = |trans_a: bool, alpha: f64, beta: f64| kernel::Gemm {
            trans_a,
            trans_b: false,
            alpha,
            beta,
        };
        let rows = cx.shape_of(out).0;
        cx.push(kernel::Axpby { alpha, beta }, vec![x], out)?; // out = alpha·X + beta·out
        // W = Vᵀ·X, Z = T·W (or Tᵀ·W), out −= alpha·V·Z.
        let links = vec![
            Link::new(k, move |cx: &mut Lowering, i, o, a, b| {
                cx.push(gemm(true, a, b), vec![v, i], o)
            }),
            Link::new(k, move |cx: &mut Lowering, i, o, a, b| {
                cx.push(gemm(transposed, a, b), vec![t, i], o)
            }),
            Link::new(rows, move |cx: &mut Lowering, i, o, a, b| {
                cx.push(gemm(false, a, b), vec![v, i], o)
            }),
        ];
        cx.chain(x, out, -alpha, 1.0, links)
    }
}
