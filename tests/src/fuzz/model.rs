//! The fuzzer's independent dense model of an operator and the rounding bound it is checked with.
//!
//! A [`Model`] is built from the same parameters the fuzzer hands to a constructor, by the
//! definitions in `docs/ops.md` (never by the library's `to_dense`), and carries what the check
//! needs:
//!
//! - `a`: the exact operator in `f64`;
//! - `mag`: an entrywise bound on the magnitudes every rounding of an evaluation is relative to.
//!   For a leaf that is applied in one step it is `|A|`; for a leaf applied as a chain of factors
//!   it is the product of the factors' magnitudes (`|U|·|s|·|V|ᵀ` for a low-rank leaf,
//!   `I + |V|·|T|·|V|ᵀ` for a Householder product, `|L|·|R|` for Monarch); compositions combine
//!   them as the matrices (products multiply, sums add, transposes transpose);
//! - `steps`: roundings that stack along one evaluation chain (kernels, parameter conversions to
//!   the compute type, and the documented transform error constants), `inner` the longest
//!   reduction. The apply check is the standard bound
//!   `|Y − A·X| ≤ γ·(mag·|X|) + slack`, `γ = 4·(steps + inner + 2)·u` (each length-`k` dot product
//!   errs by at most `k·u·(|a|·|x|)`, every later kernel by one more `u` of its magnitude; the
//!   factor 4 absorbs the second-order terms and the GPU's blocked summation);
//! - `peak`: a bound on every intermediate of every evaluation order relative to `max|X|`
//!   (cumulative products of the factors' max row/column sums), which decides whether a case is
//!   *in range*: when `peak·max|X|` stays below the largest finite value of the compute type, a
//!   correct evaluation cannot overflow, so a non-finite output is a defect. `slack = η·W·peak·max(1,
//!   max|X|)` bounds the absolute errors of underflow (`η` = half the smallest subnormal of `f64`, the
//!   smallest normal of `f32` to cover flush-to-zero GPUs), `W` the total dimension of the tree.
//! - `pmax`: the largest parameter magnitude, scale factors included: above `f32::MAX` the
//!   operator is outside the range of an `f32` engine (issue 15, item 5).

use faer::Mat;

/// A dense model with its error-bound ingredients (module docs).
#[derive(Clone, Debug)]
pub struct Model {
    pub a: Mat<f64>,
    pub mag: Mat<f64>,
    pub peak: f64,
    pub steps: f64,
    pub inner: usize,
    pub width: usize,
    pub pmax: f64,
    /// Largest and smallest products of scale factors along the tree (a leaf's own isometry scale
    /// included): the planner merges nested scales into one kernel `alpha`.
    pub alpha_hi: f64,
    pub alpha_lo: f64,
}

/// `max(max row sum, max column sum)` of `|m|`: bounds `|m·x|` by `‖·‖·max|x|` for `m` and `mᵀ`.
pub fn abs_norm(m: &Mat<f64>) -> f64 {
    let mut best = 0.0f64;
    for i in 0..m.nrows() {
        best = best.max((0..m.ncols()).map(|j| m[(i, j)].abs()).sum());
    }
    for j in 0..m.ncols() {
        best = best.max((0..m.nrows()).map(|i| m[(i, j)].abs()).sum());
    }
    best
}

pub fn abs(m: &Mat<f64>) -> Mat<f64> {
    Mat::from_fn(m.nrows(), m.ncols(), |i, j| m[(i, j)].abs())
}

pub fn max_abs(v: &[f64]) -> f64 {
    v.iter().fold(0.0f64, |a, x| a.max(x.abs()))
}

/// Largest `|m_ij|`.
pub fn mat_max_abs(m: &Mat<f64>) -> f64 {
    let mut v = 0.0f64;
    for j in 0..m.ncols() {
        for i in 0..m.nrows() {
            v = v.max(m[(i, j)].abs());
        }
    }
    v
}

/// Kronecker product with column-major `vec` (the last factor on the fastest index).
pub fn kron(a: &Mat<f64>, b: &Mat<f64>) -> Mat<f64> {
    let (mb, nb) = (b.nrows(), b.ncols());
    Mat::from_fn(a.nrows() * mb, a.ncols() * nb, |i, j| {
        a[(i / mb, j / nb)] * b[(i % mb, j % nb)]
    })
}

impl Model {
    /// A leaf applied in one step: `mag = |a|`, `peak = ‖|a|‖`; its entries are what a backend
    /// stores (and converts), so they count as parameters (a CSR's summed duplicates).
    pub fn single(a: Mat<f64>, steps: f64, params: &[f64]) -> Model {
        let mag = abs(&a);
        let mut m = Model::chain(a, mag, &[], steps, params);
        m.pmax = m.pmax.max(mat_max_abs(&m.a));
        m
    }

    /// A leaf applied as a chain: `factors` are the magnitudes of its steps, the first applied
    /// last (`peak` = the largest cumulative product of their norms, at least the final `mag`).
    pub fn chain(
        a: Mat<f64>,
        mag: Mat<f64>,
        factors: &[&Mat<f64>],
        steps: f64,
        params: &[f64],
    ) -> Model {
        let mut peak = abs_norm(&mag).max(1.0);
        let mut cum = 1.0f64;
        for f in factors.iter().rev() {
            cum *= abs_norm(f).max(1.0);
            peak = peak.max(cum);
        }
        let inner = a
            .ncols()
            .max(factors.iter().map(|f| f.ncols()).max().unwrap_or(0));
        let width = a.nrows() + a.ncols();
        Model {
            a,
            mag,
            peak,
            steps: steps + factors.len() as f64 + 1.0,
            inner,
            width,
            pmax: max_abs(params),
            alpha_hi: 1.0,
            alpha_lo: 1.0,
        }
    }

    /// Records the leaf's own scale (a sketch's `1/√d`), which rides on a kernel's `alpha`.
    pub fn with_alpha(mut self, s: f64) -> Model {
        self.alpha_hi = s.abs();
        self.alpha_lo = s.abs();
        self
    }

    /// Whether a parameter or a merged scale factor lies beyond `f32`'s largest value: such an
    /// operator is outside the range of an `f32` engine, which must refuse it (docs/errors.md).
    /// Merged scales (products of factors that are each in range) are not a reason to refuse:
    /// the planner may apply them in different steps, and a result beyond `f32` overflows as the
    /// error policy says; `in_range` classifies those cases as out of range.
    pub fn beyond_f32(&self) -> bool {
        self.pmax > f64::from(f32::MAX)
    }

    /// Whether merged scale factors may leave `f32`'s range (the planner may multiply nested
    /// scales into one kernel scalar): a typed refusal is then as correct as an overflow.
    pub fn merged_beyond_f32(&self) -> bool {
        self.alpha_hi > f64::from(f32::MAX) / 4.0 || self.tiny_f32_scale()
    }

    /// Whether a merged scale factor is below `f32`'s normal range (a zero scale is exact). Such
    /// scales are accepted (docs/errors.md: tiny magnitudes round to subnormals, as any
    /// conversion to `f32` does), but where the planner applies them is free, so the unscaled
    /// intermediates may overflow: the case is out of range, not a wrong answer.
    pub fn tiny_f32_scale(&self) -> bool {
        self.alpha_lo > 0.0 && self.alpha_lo < f64::from(f32::MIN_POSITIVE) * 4.0
    }

    pub fn shape(&self) -> (usize, usize) {
        (self.a.nrows(), self.a.ncols())
    }

    /// `s·A`: the scale may be applied at any step of the evaluation (the planner moves it).
    pub fn scaled(self, s: f64) -> Model {
        Model {
            a: Mat::from_fn(self.a.nrows(), self.a.ncols(), |i, j| s * self.a[(i, j)]),
            mag: Mat::from_fn(self.a.nrows(), self.a.ncols(), |i, j| {
                s.abs() * self.mag[(i, j)]
            }),
            peak: self.peak * s.abs().max(1.0),
            steps: self.steps + 1.0,
            inner: self.inner,
            width: self.width,
            pmax: self.pmax.max(s.abs()),
            alpha_hi: self.alpha_hi * s.abs(),
            alpha_lo: self.alpha_lo * s.abs(),
        }
    }

    pub fn t(self) -> Model {
        Model {
            a: self.a.transpose().to_owned(),
            mag: self.mag.transpose().to_owned(),
            ..self
        }
    }

    /// `A₁·A₂·…` (right to left).
    pub fn product(factors: Vec<Model>) -> Model {
        let mut it = factors.into_iter().rev();
        let mut acc = it.next().expect("a product has factors");
        for f in it {
            acc = Model {
                a: &f.a * &acc.a,
                mag: &f.mag * &acc.mag,
                peak: acc.peak.max(f.peak * acc.peak),
                steps: acc.steps + f.steps,
                inner: acc.inner.max(f.inner),
                width: acc.width + f.width,
                pmax: acc.pmax.max(f.pmax),
                alpha_hi: acc.alpha_hi * f.alpha_hi,
                alpha_lo: acc.alpha_lo * f.alpha_lo,
            };
        }
        acc
    }

    /// `A₁ + A₂ + …` (accumulated one term after the other).
    pub fn sum(terms: Vec<Model>) -> Model {
        let n = terms.len() as f64;
        let mut it = terms.into_iter();
        let mut acc = it.next().expect("a sum has terms");
        let mut norms = abs_norm(&acc.mag);
        for t in it {
            norms += abs_norm(&t.mag);
            acc = Model {
                a: &acc.a + &t.a,
                mag: &acc.mag + &t.mag,
                peak: acc.peak.max(t.peak),
                steps: acc.steps.max(t.steps),
                inner: acc.inner.max(t.inner),
                width: acc.width + t.width,
                pmax: acc.pmax.max(t.pmax),
                alpha_hi: acc.alpha_hi.max(t.alpha_hi),
                alpha_lo: acc.alpha_lo.min(t.alpha_lo),
            };
        }
        acc.peak = acc.peak.max(norms);
        acc.steps += n;
        acc
    }

    /// `A₁⊗A₂⊗…`, applied factor by factor (the vec trick) or as one materialized matrix.
    pub fn kronecker(factors: Vec<Model>) -> Model {
        let mut it = factors.into_iter();
        let mut acc = it.next().expect("a kronecker product has factors");
        for f in it {
            acc = Model {
                a: kron(&acc.a, &f.a),
                mag: kron(&acc.mag, &f.mag),
                peak: acc.peak * f.peak,
                steps: acc.steps + f.steps + 1.0,
                inner: acc.inner.max(f.inner),
                width: acc.width + f.width,
                pmax: acc.pmax.max(f.pmax),
                // Each factor is planned on its own, so its nested scales merge into a kernel
                // scalar of their own: the merged scales are each factor's and their product.
                alpha_hi: (acc.alpha_hi * f.alpha_hi)
                    .max(acc.alpha_hi)
                    .max(f.alpha_hi),
                alpha_lo: (acc.alpha_lo * f.alpha_lo)
                    .min(acc.alpha_lo)
                    .min(f.alpha_lo),
            };
        }
        // A materializing cost model multiplies by the dense Kronecker product instead.
        acc.inner = acc.inner.max(acc.a.ncols());
        acc.steps += 1.0;
        acc
    }
}

/// Precision of an evaluation: unit roundoff, underflow granularity, largest finite value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Precision {
    pub name: &'static str,
    pub u: f64,
    pub eta: f64,
    pub max: f64,
}

pub const F64: Precision = Precision {
    name: "f64",
    u: f64::EPSILON / 2.0,
    // Half the smallest subnormal, doubled for the reference's own underflow.
    eta: f64::from_bits(1),
    max: f64::MAX,
};

pub const F32: Precision = Precision {
    name: "f32",
    u: 5.960_464_477_539_063e-8,
    // The smallest normal: covers flush-to-zero GPUs and parameters below f32's range.
    eta: 1.175_494_350_822_287_5e-38,
    max: f32::MAX as f64,
};

/// Whether every intermediate of an evaluation of `m` on an `X` with `max|X| = xmax` stays below
/// the largest finite value of `p` (with a factor 16 of headroom for rounding and reordering).
pub fn in_range(m: &Model, xmax: f64, p: Precision) -> bool {
    let worst = m.peak * xmax.max(f64::MIN_POSITIVE);
    let finite = (0..m.a.ncols()).all(|j| (0..m.a.nrows()).all(|i| m.a[(i, j)].is_finite()));
    let tiny = p.max <= f64::from(f32::MAX) && m.tiny_f32_scale();
    finite && !tiny && worst.is_finite() && worst * 16.0 <= p.max && m.pmax <= p.max
}

/// The worst ratio `|Y − A·X| / (γ·mag·|X| + slack)` over the entries (≤ 1 passes), with its
/// index; NaN or an infinite entry counts as infinitely wrong.
pub fn apply_error(m: &Model, x: &Mat<f64>, y: &Mat<f64>, p: Precision) -> (f64, (usize, usize)) {
    let want = &m.a * x;
    let xabs = abs(x);
    let scale = &m.mag * &xabs;
    let xmax = mat_max_abs(x);
    let gamma = 4.0 * (m.steps + m.inner as f64 + 2.0) * p.u;
    let slack = p.eta * (m.width as f64 + m.steps) * m.peak.max(1.0) * xmax.max(1.0);
    let mut worst = (0.0f64, (0, 0));
    for j in 0..y.ncols() {
        for i in 0..y.nrows() {
            let d = (y[(i, j)] - want[(i, j)]).abs();
            let r = if d.is_finite() {
                d / (gamma * scale[(i, j)] + slack)
            } else {
                f64::INFINITY
            };
            if r > worst.0 || r.is_nan() {
                worst = (if r.is_nan() { f64::INFINITY } else { r }, (i, j));
            }
        }
    }
    worst
}
