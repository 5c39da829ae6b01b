//! Orthonormal Walsh–Hadamard transform leaf.
//!
//! Mathematics: for `n = 2^k`, `H_n[i, j] = (−1)^{popcount(i & j)} / √n` (Sylvester order). `H_n`
//! is symmetric and orthogonal (`H_nᵀ·H_n = I`), so it is its own transpose and its own inverse.
//!
//! Lengths `n = m·2^k` with `m ∈ {12, 20, 28}` (the orders MLX and the CUDA Hadamard kernels
//! offer): `H_n = (A_m ⊗ S_{2^k}) / √n` with `S` the Sylvester matrix above (unnormalized) and
//! `A_m` a fixed `±1` Hadamard matrix of order `m` ([`hadamard_base`]): Paley's construction I for
//! `m = 12` (`q = 11`) and `m = 20` (`q = 19`), Paley's construction II for `m = 28` (`q = 13`).
//! Entrywise `H_n[a·2^k + b, a'·2^k + b'] = A_m[a, a']·(−1)^{popcount(b & b')} / √n`: orthogonal
//! with entries `±1/√n`; symmetric for `m ∈ {1, 28}` (Paley II is symmetric), not for 12 and 20
//! (Paley I gives skew Hadamard matrices, `A + Aᵀ = 2I`).
//! [`Hadamard::padded`] gives, for any `n ≥ 1`, the `N×n` operator `H_N·P` with `N` the next power
//! of two and `P` the `N×n` zero-padding (identity on the first `n` rows): an isometry onto its
//! range (`(H_N P)ᵀ(H_N P) = I_n`); its transpose `Pᵀ·H_N` transforms and keeps the first `n` rows.
//!
//! Storage: none (no parameters). Applied column by column by the fast transform
//! ([`crate::Kernel::Fwht`]): `N·log₂N` additions per column plus one scaling by `alpha/√N`, in
//! place on a contiguous column; never the dense matrix. A length `m·2^k` (`m > 1`) is one
//! [`crate::Kernel::FwhtBase`] step reading the `±1` matrix `A_m` (an `m×m` parameter, one per `m`
//! per process, so every plan and backend shares its cached copy) and `X`: per column, the
//! transform of each of the `m` contiguous blocks of `2^k` entries, then the `±1` mix across
//! blocks with `1/√n` folded in, in one pass (`X` read once, `Y` written once);
//! `n·log₂(2^k) + m·n` additions per column against `2·n²` dense.

use super::LeafOp;
use crate::lower::kernel;
use crate::op::Lowering;
use crate::{BufId, Error, HostMat, Param, Result};
use std::sync::OnceLock;

/// The orders `m > 1` of the fixed Hadamard matrices [`Hadamard::new`] takes lengths `m·2^k` of.
pub const HADAMARD_BASE_ORDERS: [usize; 3] = [12, 20, 28];

/// The orthonormal Walsh–Hadamard transform, square (`n×n`, `n = m·2^k` with `m ∈ {1, 12, 20,
/// 28}`) or zero-padding (`N×n`, `N` a power of two).
///
/// # Examples
/// ```
/// use linops_core::{LeafOp, op::Hadamard};
/// let h = Hadamard::new(4).unwrap();
/// assert_eq!(h.shape(), (4, 4));
/// assert_eq!(h.to_dense().get(3, 3), 0.5);
/// assert!(h.is_symmetric());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hadamard {
    n: usize,
    n_pad: usize,
    /// Order of the fixed factor `A_m` (1: the pure power-of-two transform).
    base: usize,
}

impl Hadamard {
    /// The `n×n` orthonormal Walsh–Hadamard transform, for `n = m·2^k` with `m ∈ {1, 12, 20,
    /// 28}` (`H_n = (A_m ⊗ S_{2^k})/√n`, see the module docs).
    ///
    /// # Errors
    /// [`Error::EmptyDimension`] when `n == 0`; [`Error::InvalidArgument`] for any other length
    /// (the message names `n`, the accepted forms and the next power of two; see
    /// [`Hadamard::padded`]).
    ///
    /// # Examples
    /// ```
    /// use linops_core::{LeafOp, op::Hadamard};
    /// assert!(Hadamard::new(8).is_ok());
    /// assert_eq!(Hadamard::new(12 * 64).unwrap().base_order(), 12);
    /// assert_eq!(Hadamard::new(28).unwrap().shape(), (28, 28));
    /// let e = Hadamard::new(6).unwrap_err().to_string();
    /// assert!(e.contains("6") && e.contains("8") && e.contains("12·2^k"));
    /// ```
    pub fn new(n: usize) -> Result<Self> {
        let n_pad = next_pow2("Walsh–Hadamard transform", n)?;
        if n_pad == n {
            return Ok(Self { n, n_pad, base: 1 });
        }
        let base = HADAMARD_BASE_ORDERS
            .into_iter()
            .find(|&m| n.is_multiple_of(m) && (n / m).is_power_of_two());
        match base {
            Some(base) => Ok(Self { n, n_pad: n, base }),
            None => Err(Error::InvalidArgument(format!(
                "the Walsh–Hadamard transform takes lengths 2^k, 12·2^k, 20·2^k or 28·2^k; {n} \
                 is none of them (the next power of two is {n_pad}; Hadamard::padded({n}) \
                 zero-pads to it)"
            ))),
        }
    }

    /// The `N×n` operator `H_N·P` that zero-pads its input to `N`, the next power of two `≥ n`,
    /// then transforms. An isometry onto its range; its transpose transforms a length-`N` input
    /// and keeps the first `n` entries. For a power-of-two `n` it equals [`Hadamard::new`].
    ///
    /// # Errors
    /// [`Error::EmptyDimension`] when `n == 0`; [`Error::InvalidArgument`] when the next power
    /// of two overflows `usize`.
    ///
    /// # Examples
    /// ```
    /// use linops_core::{LeafOp, op::Hadamard};
    /// assert_eq!(Hadamard::padded(5).unwrap().shape(), (8, 5));
    /// ```
    pub fn padded(n: usize) -> Result<Self> {
        let n_pad = next_pow2("padded Walsh–Hadamard transform", n)?;
        Ok(Self { n, n_pad, base: 1 })
    }

    /// The order `m` of the fixed factor: `n = m·2^k`, `m ∈ {1, 12, 20, 28}` (1 for a power of
    /// two and for every padded transform).
    ///
    /// # Examples
    /// ```
    /// use linops_core::op::Hadamard;
    /// assert_eq!(Hadamard::new(40).unwrap().base_order(), 20);
    /// assert_eq!(Hadamard::padded(40).unwrap().base_order(), 1);
    /// ```
    pub fn base_order(&self) -> usize {
        self.base
    }

    /// The input length `n`.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(linops_core::op::Hadamard::padded(3).unwrap().len(), 3);
    /// ```
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.n
    }

    /// The transform length `N` (`n` itself for a square transform, else the next power of two).
    ///
    /// # Examples
    /// ```
    /// assert_eq!(linops_core::op::Hadamard::padded(3).unwrap().padded_len(), 4);
    /// ```
    pub fn padded_len(&self) -> usize {
        self.n_pad
    }
}

/// The unnormalized `±1` Hadamard matrix `A_m` of order `m ∈ {1, 12, 20, 28}` that
/// [`Hadamard::new`] uses for lengths `m·2^k` (`A_m·A_mᵀ = m·I`).
///
/// Built in code from the quadratic character `χ` modulo a prime `q`, with the Jacobsthal matrix
/// `Q[i, j] = χ(j − i)`: Paley I (`q ≡ 3 mod 4`, order `q + 1`; `q = 11` gives 12, `q = 19`
/// gives 20) is `A = I + S`, `S = [[0, 1ᵀ], [−1, Q]]`; Paley II (`q ≡ 1 mod 4`, order
/// `2(q + 1)`; `q = 13` gives 28) is `A = [[C + I, C − I], [C − I, −C − I]]` with
/// `C = [[0, 1ᵀ], [1, Q]]`. Both are Hadamard because `S·Sᵀ = C·Cᵀ = q·I` (Paley 1933).
///
/// # Errors
/// [`Error::InvalidArgument`] for any other `m` (the message names the accepted orders).
///
/// # Examples
/// ```
/// let a = linops_core::op::hadamard_base(12).unwrap();
/// assert_eq!((a.rows(), a.cols()), (12, 12));
/// assert!(a.data().iter().all(|v| v.abs() == 1.0));
/// assert!(linops_core::op::hadamard_base(16).is_err());
/// ```
pub fn hadamard_base(m: usize) -> Result<HostMat> {
    let (q, paley2) = match m {
        1 => return Ok(HostMat::from_fn(1, 1, |_, _| 1.0)),
        12 => (11, false),
        20 => (19, false),
        28 => (13, true),
        _ => {
            return Err(Error::InvalidArgument(format!(
                "no built-in Hadamard matrix of order {m}; the orders are 1, 12, 20 and 28"
            )));
        }
    };
    // χ(x) for x mod q: 0 at 0, +1 on the non-zero squares, −1 elsewhere.
    let mut chi = vec![-1.0; q];
    chi[0] = 0.0;
    for x in 1..q {
        chi[x * x % q] = 1.0;
    }
    // The (q+1)×(q+1) core: S (Paley I, skew) or C (Paley II, symmetric).
    let core = |i: usize, j: usize| -> f64 {
        match (i, j) {
            (0, 0) => 0.0,
            (0, _) => 1.0,
            (_, 0) if paley2 => 1.0,
            (_, 0) => -1.0,
            _ => chi[(j + q - i) % q],
        }
    };
    let eye = |i: usize, j: usize| if i == j { 1.0 } else { 0.0 };
    Ok(if paley2 {
        let h = q + 1;
        HostMat::from_fn(m, m, |i, j| {
            let (c, e) = (core(i % h, j % h), eye(i % h, j % h));
            match (i < h, j < h) {
                (true, true) => c + e,
                (false, false) => -c - e,
                _ => c - e,
            }
        })
    } else {
        HostMat::from_fn(m, m, |i, j| core(i, j) + eye(i, j))
    })
}

/// The `±1` matrix `A_m` of an `m·2^k` transform as a parameter, built once per `m` per process
/// (so its parameter key, and any backend's cached copy, is shared by every plan).
fn base_signs(m: usize) -> Result<Param> {
    static CACHE: [OnceLock<Param>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    let slot = HADAMARD_BASE_ORDERS
        .iter()
        .position(|&o| o == m)
        .ok_or_else(|| Error::InvalidArgument(format!("no Hadamard base matrix of order {m}")))?;
    if let Some(p) = CACHE[slot].get() {
        return Ok(p.clone());
    }
    let a = hadamard_base(m)?;
    let p = Param::new(m, m, a.data().to_vec())?;
    Ok(CACHE[slot].get_or_init(|| p).clone())
}

/// The next power of two `≥ n`, or an error for `n == 0` and overflow.
fn next_pow2(context: &str, n: usize) -> Result<usize> {
    if n == 0 {
        return Err(Error::EmptyDimension {
            context: context.into(),
            rows: 0,
            cols: 0,
        });
    }
    n.checked_next_power_of_two().ok_or_else(|| {
        Error::InvalidArgument(format!(
            "{context}: length {n} has no power of two that fits usize"
        ))
    })
}

impl LeafOp for Hadamard {
    fn name(&self) -> &'static str {
        "hadamard"
    }
    fn shape(&self) -> (usize, usize) {
        (self.n_pad, self.n)
    }
    fn to_dense(&self) -> HostMat {
        let s = 1.0 / (self.n_pad as f64).sqrt();
        let a = hadamard_base(self.base).expect("base order checked by the constructor");
        let p = self.n_pad / self.base;
        HostMat::from_fn(self.n_pad, self.n, |i, j| {
            let (bi, bj) = (i % p, j % p);
            let sign = if (bi & bj).count_ones().is_multiple_of(2) {
                1.0
            } else {
                -1.0
            };
            s * sign * a.get(i / p, j / p)
        })
    }
    fn param_count(&self) -> usize {
        0
    }
    fn is_symmetric(&self) -> bool {
        self.n == self.n_pad && matches!(self.base, 1 | 28)
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
        if self.base > 1 {
            let a = cx.param(&base_signs(self.base)?);
            let k = kernel::FwhtBase {
                trans: transposed,
                alpha,
                beta,
            };
            return cx.push(k, vec![a, x], out);
        }
        // The kernel pads X to N rows and keeps as many rows as `out` has, so the shapes of X and
        // out alone say whether this is H_N·P (pad) or Pᵀ·H_N (truncate).
        cx.push(kernel::Fwht { alpha, beta }, vec![x], out)
    }
}
