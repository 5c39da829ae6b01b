//! Streaming top-`k` eigenvectors of `AᵀA` over a stream of row blocks `A_1, A_2, …` (one pass).
//!
//! **Frequent Directions** ([`FrequentDirections`], Liberty 2013; Ghashami, Liberty, Phillips,
//! Woodruff 2016): keeps a sketch `B` of at most `ℓ` rows (`ℓ×d`) in a buffer of `2ℓ` rows. When the
//! buffer is full it takes the SVD `B = U·Σ·Vᵀ`, subtracts `δ = σ_ℓ²` from every squared singular
//! value (`σ_i² ← max(σ_i² − δ, 0)`), and keeps `Σ'·Vᵀ` (at most `ℓ − 1` nonzero rows). Each shrink
//! removes at least `ℓ·δ` from `‖B‖_F²`, so the total shrinkage `Δ = Σ δ ≤ (‖A‖_F² − ‖B‖_F²)/ℓ`,
//! and `0 ⪯ AᵀA − BᵀB ⪯ Δ·I`, with `Δ ≤ ‖A − A_k‖_F²/(ℓ − k)` for every `k < ℓ`. The driver returns
//! `Δ` ([`FrequentDirections::shrinkage`]) as a certified bound on `‖AᵀA − BᵀB‖₂`. The top-`k` right
//! singular vectors of `B` estimate those of `A`.
//!
//! **Block power / Oja** ([`BlockOja`]): keeps an orthonormal `Q` (`d×k`) and for each block
//! `Q ← orth(Q + η·k·A_tᵀ·A_t·Q/‖A_t·Q‖_F²)` (Oja's rule, the step normalized by the block's
//! mean Rayleigh quotient) or, with `η = ∞`,
//! `Q ← orth(A_tᵀ·A_t·Q)` (the streaming block power method of Mitliagkas, Caramanis and Jain 2013).
//! Its accuracy depends on the block size and the eigengap; it has no deterministic bound.
//!
//! **Where the work runs.** Each block is an [`Op`] (`b×d`, any structure). Frequent Directions
//! needs the block's rows: it gets them as `(A_tᵀ·I_b)ᵀ` from the engine (`2·b²·d` flops for a dense
//! block) and runs the `(2ℓ)×d` SVD on the host in f64 every `ℓ` rows: `O(d·ℓ²)` amortized per row.
//! Block Oja applies `A_t` and `A_tᵀ` on the engine (`4·b·d·k` flops for a dense block), reads
//! `A_t·Q` once for its column norms (the scale and, for Oja's step, `‖A_t·Q‖_F`) and
//! orthonormalizes `d×k` on the host (`O(d·k²)`). Memory: `2ℓ×d` (FD), `d×k` (Oja).

use super::host_la::{check_positive, norm, orth, rademacher, thin_svd, to_f64};
use super::{check_block, exponent, ldexp, max_norm, scale_pow2};
use crate::{Engine, Error, Op, Result, Scalar};
use faer::Mat;
use linops_core::rng::RngState;

/// The rows of a `b×d` block op, as a host f64 matrix, computed in `T` on `engine`.
fn block_rows<T: Scalar>(engine: &Engine, block: &Op) -> Result<Mat<f64>> {
    let b = block.shape().0;
    let id = Mat::<T>::from_fn(b, b, |i, j| T::from_f64(if i == j { 1.0 } else { 0.0 }));
    let at = engine.apply::<T>(&block.t(), id.as_ref())?; // d×b = A_tᵀ
    Ok(to_f64(at.transpose()))
}

fn check_block_cols(block: &Op, d: usize, who: &str) -> Result<()> {
    if block.shape().1 != d {
        return Err(Error::ShapeMismatch {
            context: format!("{who} row block"),
            expected: format!("{d} columns"),
            found: format!("{}", block.shape().1),
        });
    }
    Ok(())
}

/// Frequent Directions sketch of a row stream (`ℓ` rows kept, buffer of `2ℓ`).
///
/// # Examples
/// ```
/// use linops::{Engine, Op, randnla::streaming::FrequentDirections};
/// let mut fd = FrequentDirections::new(3, 2).unwrap();
/// fd.update::<f64>(&Engine::cpu(), &Op::dense(1, 3, vec![1.0, 0.0, 0.0]).unwrap()).unwrap();
/// let (v, lam) = fd.top_k(1).unwrap();
/// assert!((lam[0] - 1.0).abs() < 1e-12 && (v[(0, 0)].abs() - 1.0).abs() < 1e-12);
/// ```
#[derive(Debug, Clone)]
pub struct FrequentDirections {
    d: usize,
    ell: usize,
    buf: Mat<f64>,
    filled: usize,
    shrinkage: f64,
    rows_seen: usize,
    frob2: f64,
}

impl FrequentDirections {
    /// An empty sketch for rows of length `d`, keeping `ell` rows.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when `d == 0` or `ell < 2`; [`Error::DeviceLimit`] when the
    /// `2ℓ×d` buffer exceeds [`MAX_BLOCK_ENTRIES`](super::MAX_BLOCK_ENTRIES) (checked before
    /// anything is allocated).
    ///
    /// # Examples
    /// ```
    /// assert!(linops::randnla::streaming::FrequentDirections::new(5, 1).is_err());
    /// ```
    pub fn new(d: usize, ell: usize) -> Result<Self> {
        if d == 0 || ell < 2 {
            return Err(Error::InvalidArgument(format!(
                "frequent directions needs d >= 1 and ell >= 2, got d = {d}, ell = {ell}"
            )));
        }
        check_block(
            &format!("frequent directions: a buffer of 2·ell = 2·{ell} rows of length d = {d}"),
            ell.saturating_mul(2),
            d,
        )?;
        Ok(Self {
            d,
            ell,
            buf: Mat::zeros(2 * ell, d),
            filled: 0,
            shrinkage: 0.0,
            rows_seen: 0,
            frob2: 0.0,
        })
    }

    /// Feeds one row block (`b×d` op), computed in `T` on `engine`.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] when the block has not `d` columns; [`Error::DeviceLimit`] when a
    /// `b×max(b, d)` block exceeds [`MAX_BLOCK_ENTRIES`](super::MAX_BLOCK_ENTRIES); engine and SVD
    /// failures.
    ///
    /// # Examples
    /// ```
    /// use linops::{Engine, Op, randnla::streaming::FrequentDirections};
    /// let mut fd = FrequentDirections::new(2, 2).unwrap();
    /// assert!(fd.update::<f64>(&Engine::cpu(), &Op::identity(3).unwrap()).is_err());
    /// ```
    pub fn update<T: Scalar>(&mut self, engine: &Engine, block: &Op) -> Result<()> {
        check_block_cols(block, self.d, "frequent directions")?;
        let b = block.shape().0;
        // The rows come as A_tᵀ·I_b: a b×b identity and a d×b result.
        check_block(
            &format!(
                "frequent directions: a row block of {b} rows of length {}",
                self.d
            ),
            b,
            b.max(self.d),
        )?;
        let rows = block_rows::<T>(engine, block)?;
        for i in 0..rows.nrows() {
            if self.filled == 2 * self.ell {
                self.shrink()?;
            }
            for j in 0..self.d {
                let v = rows[(i, j)];
                self.buf[(self.filled, j)] = v;
                self.frob2 += v * v;
            }
            self.filled += 1;
            self.rows_seen += 1;
        }
        Ok(())
    }

    /// SVD of the buffer, subtract `σ_ℓ²`, keep the top rows.
    fn shrink(&mut self) -> Result<()> {
        let (_, s, v) = thin_svd(self.buf.as_ref().subrows(0, self.filled))?;
        let r = s.len();
        let s_ell = if r >= self.ell { s[self.ell - 1] } else { 0.0 };
        self.shrinkage += s_ell * s_ell;
        let mut out = Mat::<f64>::zeros(2 * self.ell, self.d);
        let mut kept = 0;
        for i in 0..r.min(self.ell) {
            // √(σ_i² − σ_ℓ²) = σ_i·√((1 − ρ)(1 + ρ)), ρ = σ_ℓ/σ_i: no squares that could over- or
            // underflow, so the sketch scales with the rows.
            let sp = if s[i] > s_ell {
                let rho = s_ell / s[i];
                s[i] * ((1.0 - rho) * (1.0 + rho)).sqrt()
            } else {
                0.0
            };
            if sp > 0.0 {
                for j in 0..self.d {
                    out[(kept, j)] = sp * v[(j, i)];
                }
                kept += 1;
            }
        }
        self.buf = out;
        self.filled = kept;
        Ok(())
    }

    /// The current sketch `B` (at most `2ℓ` rows before the final shrink, `ℓ − 1` after).
    ///
    /// # Examples
    /// ```
    /// let fd = linops::randnla::streaming::FrequentDirections::new(4, 2).unwrap();
    /// assert_eq!(fd.sketch().nrows(), 0);
    /// ```
    pub fn sketch(&self) -> Mat<f64> {
        self.buf.as_ref().subrows(0, self.filled).to_owned()
    }

    /// Certified bound `Δ` with `0 ⪯ AᵀA − BᵀB ⪯ Δ·I` for the rows seen so far.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(linops::randnla::streaming::FrequentDirections::new(4, 2).unwrap().shrinkage(), 0.0);
    /// ```
    pub fn shrinkage(&self) -> f64 {
        self.shrinkage
    }

    /// Rows seen and `‖A‖_F²` of the stream so far.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(linops::randnla::streaming::FrequentDirections::new(4, 2).unwrap().seen(), (0, 0.0));
    /// ```
    pub fn seen(&self) -> (usize, f64) {
        (self.rows_seen, self.frob2)
    }

    /// Top-`k` eigenvectors (`d×k`, orthonormal columns) and eigenvalues of `BᵀB`, largest first.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when `k == 0`, `k ≥ ℓ` or `k > d`; SVD failures.
    ///
    /// # Examples
    /// ```
    /// let fd = linops::randnla::streaming::FrequentDirections::new(4, 2).unwrap();
    /// assert!(fd.top_k(2).is_err());
    /// ```
    pub fn top_k(&self, k: usize) -> Result<(Mat<f64>, Vec<f64>)> {
        if k == 0 || k >= self.ell || k > self.d {
            return Err(Error::InvalidArgument(format!(
                "top_k needs 1 <= k < ell = {} and k <= d = {}, got {k}",
                self.ell, self.d
            )));
        }
        let mut b = Mat::<f64>::zeros(self.filled.max(k), self.d);
        for i in 0..self.filled {
            for j in 0..self.d {
                b[(i, j)] = self.buf[(i, j)];
            }
        }
        let (_, s, v) = thin_svd(b.as_ref())?;
        let v = v.subcols(0, k).to_owned();
        let lam = (0..k)
            .map(|i| if i < s.len() { s[i] * s[i] } else { 0.0 })
            .collect();
        Ok((v, lam))
    }
}

/// Streaming block power / Oja iteration for the top-`k` eigenvectors of `AᵀA`.
///
/// # Examples
/// ```
/// use linops::{Engine, Op, randnla::streaming::BlockOja};
/// let mut o = BlockOja::new(3, 1, None, 1).unwrap();
/// let blk = Op::dense(2, 3, vec![0.0, 0.0, 1.0, 1.0, 0.0, 0.0]).unwrap(); // two copies of the row e₂ᵀ
/// o.update::<f64>(&Engine::cpu(), &blk).unwrap();
/// assert_eq!(o.basis().ncols(), 1);
/// ```
#[derive(Debug, Clone)]
pub struct BlockOja {
    q: Mat<f64>,
    eta: Option<f64>,
    blocks: usize,
}

impl BlockOja {
    /// A random orthonormal start (`d×k`, from `seed`); `eta = None` is the block power method,
    /// `Some(η)` Oja's rule `Q ← orth(Q + η·k·A_tᵀA_t·Q/‖A_t·Q‖_F²)`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for `k == 0`, `k > d` or a non-positive `η`;
    /// [`Error::DeviceLimit`] when the `d×k` basis exceeds
    /// [`MAX_BLOCK_ENTRIES`](super::MAX_BLOCK_ENTRIES) (checked before anything is allocated).
    ///
    /// # Examples
    /// ```
    /// assert!(linops::randnla::streaming::BlockOja::new(3, 4, None, 0).is_err());
    /// ```
    pub fn new(d: usize, k: usize, eta: Option<f64>, seed: u64) -> Result<Self> {
        if k == 0 || k > d {
            return Err(Error::InvalidArgument(format!(
                "block oja needs 1 <= k <= d, got k = {k}, d = {d}"
            )));
        }
        if let Some(e) = eta {
            check_positive("eta", e)?;
        }
        check_block(
            &format!("block oja: a basis of d = {d} rows and k = {k} columns"),
            d,
            k,
        )?;
        let q = orth(rademacher(d, k, RngState::new(seed)).as_ref());
        Ok(Self { q, eta, blocks: 0 })
    }

    /// Feeds one row block (`b×d` op): `A_tᵀ·(A_t·Q)` on `engine` in `T`, orth on the host.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] when the block has not `d` columns; [`Error::DeviceLimit`] when the
    /// `b×k` product exceeds [`MAX_BLOCK_ENTRIES`](super::MAX_BLOCK_ENTRIES); engine failures.
    ///
    /// # Examples
    /// ```
    /// use linops::{Engine, Op, randnla::streaming::BlockOja};
    /// let mut o = BlockOja::new(3, 1, None, 1).unwrap();
    /// assert!(o.update::<f64>(&Engine::cpu(), &Op::identity(2).unwrap()).is_err());
    /// ```
    pub fn update<T: Scalar>(&mut self, engine: &Engine, block: &Op) -> Result<()> {
        check_block_cols(block, self.q.nrows(), "block oja")?;
        let (d, k) = (self.q.nrows(), self.q.ncols());
        check_block(
            &format!(
                "block oja: A_t·Q for a row block of {} rows",
                block.shape().0
            ),
            block.shape().0,
            k,
        )?;
        let qt = Mat::<T>::from_fn(d, k, |i, j| T::from_f64(self.q[(i, j)]));
        let qm = engine.upload(qt.as_ref())?;
        let aq = engine.apply_to(block, &qm)?;
        // A_tᵀ·A_t·Q squares the block's scale: apply A_tᵀ to A_t·Q·2^{-s} (exact, s the
        // exponent of its largest column norm), so that y = A_tᵀA_tQ·2^{-s} neither over- nor
        // underflows; only its span (power) or y/‖A_tQ‖_F² (Oja) is used.
        let norms = engine.col_norms(&aq)?;
        let top = max_norm(&norms);
        let s = if top > 0.0 && top.is_finite() {
            exponent(top)
        } else {
            0
        };
        let aq_scaled = scale_pow2(engine, &aq, -s)?;
        let aq = aq_scaled.as_ref().unwrap_or(&aq);
        let ataq = engine.apply_to(&block.t(), aq)?;
        let y = to_f64(engine.download::<T>(&ataq)?.as_ref());
        let y = match self.eta {
            None => y,
            Some(eta) => {
                // η·k·A_tᵀA_tQ/‖A_tQ‖_F² = η·k·(y/f/f)·2^{-s} with f = ‖A_tQ‖_F·2^{-s}
                // (dividing twice: f² need not be representable). The column norms of
                // A_t·Q·2^{-s} are those computed above times 2^{-s} (both reductions are
                // homogeneous under powers of two; exact but for subnormal norms), so A_t·Q is
                // not read a second time.
                let scaled: Vec<f64> = norms.iter().map(|&v| ldexp(v, -s)).collect();
                let f = norm(&scaled);
                let step = eta * k as f64;
                if f > 0.0 && f.is_finite() {
                    Mat::from_fn(d, k, |i, j| {
                        self.q[(i, j)] + step * ldexp(y[(i, j)] / f / f, -s)
                    })
                } else {
                    self.q.clone()
                }
            }
        };
        self.q = orth(y.as_ref());
        self.blocks += 1;
        Ok(())
    }

    /// The current orthonormal basis `Q` (`d×k`).
    ///
    /// # Examples
    /// ```
    /// assert_eq!(linops::randnla::streaming::BlockOja::new(5, 2, Some(1.0), 0).unwrap().basis().nrows(), 5);
    /// ```
    pub fn basis(&self) -> &Mat<f64> {
        &self.q
    }

    /// Blocks seen.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(linops::randnla::streaming::BlockOja::new(5, 2, None, 0).unwrap().blocks(), 0);
    /// ```
    pub fn blocks(&self) -> usize {
        self.blocks
    }
}
