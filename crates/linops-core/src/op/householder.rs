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
        // Each v_i is scaled by a power of two to max|v_i| ∈ [1, 2) and τ_i by its square
        // (exact, and H_i = I − τ_i·v_i·v_iᵀ is unchanged): the stored parameters, and T built
        // from them, are then as large as the operator itself, not as the caller's scaling of
        // v (an orthogonal H from tiny vectors had τ and T beyond f32's range).
        let mut v = v;
        let mut tau = tau;
        for i in 0..k {
            let col = &mut v[i * n..(i + 1) * n];
            let top = col.iter().fold(0.0f64, |m, x| m.max(x.abs()));
            let e = exponent_of(top);
            let t = scale_by_pow2(tau[i], 2 * e);
            if !t.is_finite() {
                return Err(Error::InvalidArgument(format!(
                    "householder: τ_{i}·max|v_{i}|² = {:e}·{top:e}² overflows: the reflector's \
                     entries are beyond f64",
                    tau[i]
                )));
            }
            col.iter_mut().for_each(|x| *x = scale_by_pow2(*x, -e));
            tau[i] = t;
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

    /// `Q` from unnormalized reflector vectors, with `τ_i = 2/‖v_i‖²` (every `H_i` orthogonal),
    /// for vectors of any magnitude.
    ///
    /// # Errors
    /// As [`Householder::new`].
    ///
    /// # Examples
    /// ```
    /// use linops_core::{LeafOp, op::Householder};
    /// let q = Householder::from_vectors(2, 1, vec![3.0, 4.0]).unwrap();
    /// // stored as v̂ = v/4 with τ̂ = 2/‖v̂‖² = 2·16/25
    /// assert!((q.tau()[0] - 32.0 / 25.0).abs() < 1e-15);
    /// let tiny = Householder::from_vectors(2, 1, vec![3e-200, 4e-200]).unwrap();
    /// assert!((tiny.to_dense().get(0, 1) - q.to_dense().get(0, 1)).abs() < 1e-15);
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
        // Each v_i scaled by a power of two to max|v_i| ∈ [1, 2) (exact): ‖v̂_i‖² neither over-
        // nor underflows and τ_i = 2/‖v̂_i‖² ∈ (1/(2n), 2] is the reflector's scale for v̂_i.
        let mut v = v;
        let mut tau = Vec::with_capacity(k);
        for i in 0..k {
            let col = &mut v[i * n..(i + 1) * n];
            let top = col.iter().fold(0.0f64, |m, x| m.max(x.abs()));
            if top == 0.0 {
                return Err(Error::InvalidArgument(format!(
                    "householder: reflector vector {i} is zero"
                )));
            }
            let e = exponent_of(top);
            col.iter_mut().for_each(|x| *x = scale_by_pow2(*x, -e));
            let nrm2: f64 = col.iter().map(|x| x * x).sum();
            tau.push(2.0 / nrm2);
        }
        Self::new(n, k, v, tau)
    }

    /// The scales `τ_i` of the stored reflectors: each `v_i` is kept scaled by a power of two to
    /// `max|v_i| ∈ [1, 2)`, and `τ_i` by the square of that power, so `H_i` is the caller's.
    ///
    /// # Examples
    /// ```
    /// let q = linops_core::op::Householder::new(1, 1, vec![1.0], vec![2.0]).unwrap();
    /// assert_eq!(q.tau(), &[2.0]);
    /// ```
    pub fn tau(&self) -> &[f64] {
        &self.tau
    }

    /// The stored reflector vectors `V` (`n×k` column-major), each the caller's scaled by a
    /// power of two to `max|v_i| ∈ [1, 2)` (see [`Householder::tau`]).
    ///
    /// # Examples
    /// ```
    /// let q = linops_core::op::Householder::from_vectors(2, 1, vec![3.0, 4.0]).unwrap();
    /// assert_eq!(q.vectors(), &[0.75, 1.0]);
    /// ```
    pub fn vectors(&self) -> &[f64] {
        &self.v.data
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
/// `e` with `x = m·2^e`, `m ∈ [1, 2)` (0 for `x = 0`).
fn exponent_of(x: f64) -> i32 {
    if x == 0.0 || !x.is_finite() {
        return 0;
    }
    let (mut m, mut e) = (x, 0i32);
    while m >= 2.0 {
        m *= 0.5;
        e += 1;
    }
    while m < 1.0 {
        m *= 2.0;
        e -= 1;
    }
    e
}

/// `x·2^k`, exact unless the result leaves the normal range.
fn scale_by_pow2(x: f64, k: i32) -> f64 {
    let mut y = x;
    let mut k = k;
    while k > 0 {
        let s = k.min(1000);
        y *= f64::powi(2.0, s);
        k -= s;
    }
    while k < 0 {
        let s = (-k).min(1000);
        y *= f64::powi(2.0, -s);
        k += s;
    }
    y
}

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
