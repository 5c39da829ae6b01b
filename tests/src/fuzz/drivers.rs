//! Random calls of the drivers (`randnla`, sampling, streaming sketches, AMM, `Monarch::project`)
//! and of the resident-matrix primitives, with random valid and invalid options, on operators
//! scaled by `2^e` across the exponent range of the compute type.
//!
//! A call with invalid options or input (as each function documents them) must return a typed
//! error. A valid call is checked by what holds for every input, with tolerances from the
//! algorithm's rounding analysis (`u` the unit roundoff of the compute type, `m`, `n`, `k` the
//! dimensions): orthonormal factors to `50·(m + k)·k·u`, singular values and eigenvalues not
//! above the exact ones (interlacing) by more than `100·(m + n)·u·σ₁`, exact recovery of
//! well-conditioned (`κ ≤ 2`) operators of rank at most the sketch size to `10³·(m + n)·u·σ₁`,
//! the Frequent Directions guarantee `0 ⪯ AᵀA − BᵀB ⪯ Δ·I`, the HMT deviation bound of the
//! randomized SVD for oversampling `p ≥ 10` (failure probability `6·p^{−p}`), least-squares
//! solutions against a dense QR, matrix functions against their definitions, and finite outputs
//! wherever the exact outputs are in range (the exponent `e` is chosen so they are: products of
//! two scaled inputs scale like `2^{2e}`).

use super::model::{F32, F64};
use super::ops::{Gen, pow2};
use super::{Class, Engines, Outcome, Target};
use crate::support::Rng;
use faer::Mat;
use linops::randnla::id::{IdOptions, column_id, cur, row_id};
use linops::randnla::lstsq::{LstsqOptions, LstsqSketch, lstsq, lstsq_sketch_solve};
use linops::randnla::matfun::{
    MatFunOptions, NsKind, inverse_root, polar_newton_schulz, sqrt_newton_schulz,
};
use linops::randnla::nystrom::{CgOptions, NystromOptions, nystrom, nystrom_pcg};
use linops::randnla::qr::orthonormalize;
use linops::randnla::range::{
    AdaptiveRangeOptions, RangeOptions, adaptive_range_finder, range_finder,
};
use linops::randnla::streaming::{BlockOja, FrequentDirections};
use linops::randnla::svd::{SvdOptions, block_krylov_svd, randomized_svd};
use linops::randnla::trace::{TraceOptions, hutch_plus_plus, hutchinson};
use linops::{DType, Engine, Error, HostMat, Matrix, Op};
use linops_core::rng::RngState;

/// Runs a generic driver in the target's precision.
macro_rules! in_prec {
    ($t:expr, $f:ident ( $($arg:expr),* $(,)? )) => {
        if $t.prec == F64 { $f::<f64>($($arg),*) } else { $f::<f32>($($arg),*) }
    };
}

/// What the fuzzer knows about a test operator.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    /// Any tree from the operator generator.
    General,
    /// `U·diag(s)·Vᵀ` with orthonormal `U`, `V` and `s ∈ [1, 2]·2^e`: rank `r`, `κ ≤ 2`.
    LowRank(usize),
    /// `U·diag(λ)·Uᵀ`, `λ ∈ [1, 2]·2^e` (rank `r`, `κ ≤ 2` on its range).
    Psd(usize),
    Zero,
}

/// A test operator with its dense model.
pub struct TestOp {
    pub op: Op,
    pub a: Mat<f64>,
    pub kind: Kind,
    pub e: i32,
    /// A bound on `‖|A|‖` of the operator's parts (0: no more than `‖A‖`): a tree whose terms
    /// cancel has rounding errors relative to its parts, not to the (possibly zero) sum.
    pub mag: f64,
}

/// The state of one driver case.
struct D<'a, 'b> {
    g: Gen<'b>,
    t: Target<'a>,
}

fn orthonormal(g: &mut Gen<'_>, n: usize, r: usize) -> Mat<f64> {
    let x = Mat::from_fn(n, r, |_, _| g.rng.uniform() + 0.01);
    x.qr().compute_thin_Q()
}

pub fn to_f64(e: &Engine, m: &Matrix) -> Result<Mat<f64>, Error> {
    match m.dtype() {
        DType::F64 => e.download::<f64>(m),
        DType::F32 => {
            let h = e.download::<f32>(m)?;
            Ok(Mat::from_fn(h.nrows(), h.ncols(), |i, j| {
                f64::from(h[(i, j)])
            }))
        }
    }
}

pub fn upload(t: &Target<'_>, m: &Mat<f64>) -> Result<Matrix, Error> {
    if t.prec == F64 {
        t.engine.upload(m.as_ref())
    } else {
        let h = Mat::<f32>::from_fn(m.nrows(), m.ncols(), |i, j| m[(i, j)] as f32);
        t.engine.upload(h.as_ref())
    }
}

fn finite(m: &Mat<f64>) -> bool {
    (0..m.ncols()).all(|j| (0..m.nrows()).all(|i| m[(i, j)].is_finite()))
}

/// `max|QᵀQ − I|`.
pub fn orth_err(q: &Mat<f64>) -> f64 {
    let g = q.transpose() * q;
    let mut w = 0.0f64;
    for j in 0..g.ncols() {
        for i in 0..g.nrows() {
            let d = (g[(i, j)] - if i == j { 1.0 } else { 0.0 }).abs();
            w = w.max(if d.is_nan() { f64::INFINITY } else { d });
        }
    }
    w
}

/// The power of two nearest `max|m|` (1 for a zero matrix): dividing by it is exact, and faer's
/// dense SVD (our reference) is only reliable for data of moderate magnitude.
fn pow2_scale(m: &Mat<f64>) -> f64 {
    let v = super::model::mat_max_abs(m);
    if v == 0.0 || !v.is_finite() {
        1.0
    } else {
        pow2(v.log2().round() as i32)
    }
}

/// Singular values, computed on `m/2^k` and scaled back (exact powers of two).
pub fn singular_values(m: &Mat<f64>) -> Vec<f64> {
    if m.nrows() == 0 || m.ncols() == 0 {
        return Vec::new();
    }
    if !finite(m) {
        return vec![f64::INFINITY; m.nrows().min(m.ncols())];
    }
    let s = pow2_scale(m);
    let scaled = Mat::from_fn(m.nrows(), m.ncols(), |i, j| m[(i, j)] / s);
    scaled
        .singular_values()
        .map(|v| v.iter().map(|x| x * s).collect())
        .unwrap_or_else(|_| vec![f64::INFINITY])
}

/// `‖m‖₂` (scaled as [`singular_values`]).
pub fn spectral(m: &Mat<f64>) -> f64 {
    singular_values(m).first().copied().unwrap_or(0.0)
}

/// `‖v‖₂`, overflow- and underflow-safe.
fn norm2(v: &[f64]) -> f64 {
    let s = super::model::max_abs(v);
    if s == 0.0 {
        0.0
    } else {
        s * v.iter().map(|x| (x / s).powi(2)).sum::<f64>().sqrt()
    }
}

/// The first failed check decides the outcome.
struct Checks {
    key: String,
    fail: Option<Outcome>,
}

impl Checks {
    fn new(key: impl Into<String>) -> Checks {
        Checks {
            key: key.into(),
            fail: None,
        }
    }

    fn check(&mut self, ok: bool, class: Class, what: impl FnOnce() -> String) {
        if !ok && self.fail.is_none() {
            self.fail = Some(Outcome::new(class, self.key.clone(), what()));
        }
    }

    /// A non-finite output (the exact outputs are in range by construction of the case).
    fn finite(&mut self, m: &Mat<f64>, what: &str) {
        let ok = finite(m);
        self.check(ok, Class::NonFiniteFromFiniteInRange, || {
            format!("{what} has a non-finite entry")
        });
    }

    fn finite_vals(&mut self, v: &[f64], what: &str) {
        let ok = v.iter().all(|x| x.is_finite());
        self.check(ok, Class::NonFiniteFromFiniteInRange, || {
            format!("{what} = {v:?}")
        });
    }

    fn orth(&mut self, q: &Mat<f64>, u: f64, what: &str) {
        let (m, k) = (q.nrows() as f64, q.ncols() as f64);
        let err = orth_err(q);
        let tol = 50.0 * (m + k) * k * u;
        self.check(err <= tol, Class::WrongAnswer, || {
            format!(
                "{what} ({}x{}): max|QᵀQ − I| = {err:e} > {tol:e}",
                q.nrows(),
                q.ncols()
            )
        });
    }

    fn done(self) -> Outcome {
        self.fail.unwrap_or_else(|| Outcome::ok(self.key))
    }
}

/// A documented error for this input kind, or a valid input rejected.
fn on_err(key: &str, e: &Error, allowed: bool) -> Outcome {
    if allowed && !matches!(e, Error::NonFinite { .. } | Error::Backend(_)) {
        Outcome::new(
            Class::InvalidInputRejected,
            format!("{key} (documented for this input)"),
            e.to_string(),
        )
    } else {
        Outcome::from_valid_err(key, e)
    }
}

fn expect_err<T>(key: &str, what: &str, r: Result<T, Error>) -> Outcome {
    match r {
        Ok(_) => Outcome::new(Class::InvalidAccepted, key, format!("{what} accepted")),
        Err(e) => Outcome::rejected(key, &e),
    }
}

impl<'a, 'b> D<'a, 'b> {
    fn u(&self) -> f64 {
        self.t.prec.u
    }

    /// An exponent for data whose outputs scale like `2^{mult·e}`: 0, or anywhere the outputs
    /// stay in range with room for the dimensions (`|mult·e| ≤ 900` in f64, `≤ 100` in f32).
    fn exponent(&mut self, mult: i32) -> i32 {
        if self.g.rng.below(5) < 3 {
            return 0;
        }
        let lim = if self.t.prec == F64 { 900 } else { 100 } / mult;
        self.g.rng.below(2 * lim as usize + 1) as i32 - lim
    }

    fn dim(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.g.rng.below(hi - lo + 1)
    }

    /// A test operator of shape `m×n` of a random kind (`psd`: a square PSD one).
    fn test_op(&mut self, m: usize, n: usize, psd: bool, mult: i32) -> Option<TestOp> {
        let e = self.exponent(mult);
        let s = pow2(e);
        let pick = self.g.rng.below(10);
        if pick == 0 {
            let a = Mat::zeros(m, n);
            let op = match self.g.rng.below(3) {
                0 => Op::dense(m, n, vec![0.0; m * n]).ok()?,
                1 if m == n => Op::diagonal(vec![0.0; n]).ok()?,
                _ => Op::dense(m, n, vec![1.0; m * n]).ok()?.scaled(0.0).ok()?,
            };
            self.g.note(&format!("zero operator {m}x{n}"));
            return Some(TestOp {
                op,
                a,
                kind: Kind::Zero,
                e,
                mag: 0.0,
            });
        }
        if psd || pick < 6 || self.t.gpu {
            let r = 1 + self.g.rng.below(m.min(n));
            let sv: Vec<f64> = {
                let mut v: Vec<f64> = (0..r)
                    .map(|_| (1.0 + self.g.rng.uniform().abs()) * s)
                    .collect();
                v.sort_by(|x, y| y.total_cmp(x));
                v
            };
            let u = orthonormal(&mut self.g, m, r);
            let v = if psd {
                u.clone()
            } else {
                orthonormal(&mut self.g, n, r)
            };
            let sm = Mat::from_fn(r, r, |i, j| if i == j { sv[i] } else { 0.0 });
            let mut a = &u * &sm * v.transpose();
            if psd {
                a = Mat::from_fn(m, n, |i, j| 0.5 * (a[(i, j)] + a[(j, i)]));
            }
            let how = self.g.rng.below(3);
            self.g.note(&format!(
                "{} rank {r} {m}x{n}, singular values {sv:?} (2^{e}), as {}",
                if psd { "psd" } else { "low-rank" },
                ["dense", "LowRank leaf", "product U·diag·Vᵀ"][how]
            ));
            let hm = |x: &Mat<f64>| HostMat::from_fn(x.nrows(), x.ncols(), |i, j| x[(i, j)]);
            let op = match how {
                0 => linops::dense(a.as_ref()),
                1 => linops::op::LowRank::new(hm(&u), sv.clone(), hm(&v)).map(Op::leaf),
                _ => Op::product(vec![
                    linops::dense(u.as_ref()).ok()?,
                    Op::diagonal(sv.clone()).ok()?,
                    linops::dense(v.transpose().to_owned().as_ref()).ok()?,
                ]),
            };
            let op = match op {
                Ok(op) => op,
                Err(e) => {
                    self.g.decided = Some(Outcome::from_valid_err("test operator", &e));
                    return None;
                }
            };
            let kind = if psd { Kind::Psd(r) } else { Kind::LowRank(r) };
            return Some(TestOp {
                op,
                a,
                kind,
                e,
                mag: 0.0,
            });
        }
        // A general tree of plain values, scaled by 2^e (the scale rides on the plan's alpha).
        let spread = self.g.spread;
        self.g.spread = 0;
        let node = self.g.node(m, n, 2);
        self.g.spread = spread;
        let node = node?;
        let a = Mat::from_fn(m, n, |i, j| node.m.a[(i, j)] * s);
        let op = match node.op.scaled(s) {
            Ok(op) if finite(&a) => op,
            _ => {
                self.g.decided = Some(Outcome::new(
                    Class::OutOfRange,
                    "test operator",
                    "a tree out of range",
                ));
                return None;
            }
        };
        self.g.note(&format!("scaled(2^{e})"));
        Some(TestOp {
            op,
            a,
            kind: Kind::General,
            e,
            mag: node.m.peak * s.abs(),
        })
    }
}

/// Weyl/interlacing: every computed singular value is at most the exact one plus rounding.
fn check_interlacing(c: &mut Checks, s: &[f64], exact: &[f64], tol: f64, what: &str) {
    for (i, &v) in s.iter().enumerate() {
        let bound = exact.get(i).copied().unwrap_or(0.0) + tol;
        c.check(v <= bound, Class::WrongAnswer, || {
            format!(
                "{what}[{i}] = {v:e} exceeds the exact {:e} + {tol:e}",
                exact.get(i).copied().unwrap_or(0.0)
            )
        });
    }
    let sorted = s.windows(2).all(|w| w[0] >= w[1]) && s.iter().all(|&v| v >= 0.0);
    c.check(sorted, Class::WrongAnswer, || {
        format!("{what} not nonincreasing and nonnegative: {s:?}")
    });
}

fn svd_case(d: &mut D<'_, '_>, krylov: bool) -> Outcome {
    let key = if krylov {
        "block_krylov_svd"
    } else {
        "randomized_svd"
    };
    let (m, n) = (d.dim(2, 30), d.dim(2, 30));
    let Some(a) = d.test_op(m, n, false, 1) else {
        return d.g.decided.take().unwrap_or(Outcome::ok(key));
    };
    let mn = m.min(n);
    let k = d.g.rng.below(mn + 1);
    let q = d.g.rng.below(if krylov { 3 } else { 4 });
    let opts = SvdOptions {
        oversample: d.g.rng.below(mn + 2),
        // One case in four takes the default rule (scikit-learn's n_iter="auto", Krylov depth 2).
        power_iters: (d.g.rng.below(4) != 0).then_some(q),
        seed: d.g.rng.next_u64(),
        probes: d.g.rng.below(5),
    };
    d.g.note(&format!("{key}::<{}>(k {k}, {opts:?})", d.t.prec.name));
    let l = k + opts.oversample;
    let invalid = k == 0 || l > mn || (krylov && l * (opts.krylov_depth_for(k, (m, n)) + 1) > mn);
    let r = if krylov {
        in_prec!(d.t, block_krylov_svd(d.t.engine, &a.op, k, &opts))
    } else {
        in_prec!(d.t, randomized_svd(d.t.engine, &a.op, k, &opts))
    };
    if invalid {
        return expect_err(key, &format!("k {k}, l {l}, {opts:?} for {m}x{n}"), r);
    }
    let r = match r {
        Ok(r) => r,
        Err(e) => return on_err(key, &e, false),
    };
    let mut c = Checks::new(key);
    let (Ok(u), Ok(v)) = (to_f64(d.t.engine, &r.u), to_f64(d.t.engine, &r.v)) else {
        return Outcome::new(Class::ValidRejected, key, "download failed");
    };
    c.check(
        r.s.len() == k && u.shape() == (m, k) && v.shape() == (n, k),
        Class::WrongAnswer,
        || {
            format!(
                "{} values, U {:?}, V {:?} for k {k}",
                r.s.len(),
                u.shape(),
                v.shape()
            )
        },
    );
    if c.fail.is_some() {
        return c.done();
    }
    c.finite_vals(&r.s, "singular values");
    c.finite(&u, "U");
    c.finite(&v, "V");
    c.orth(&u, d.u(), "U");
    c.orth(&v, d.u(), "V");
    let exact = singular_values(&a.a);
    let s1 = exact.first().copied().unwrap_or(0.0).max(a.mag);
    let u_ = d.u();
    check_interlacing(&mut c, &r.s, &exact, 100.0 * (m + n) as f64 * u_ * s1, "s");
    c.check(
        (opts.probes == 0) == r.error_estimate.is_nan()
            && (opts.probes == 0 || (r.error_estimate.is_finite() && r.error_estimate >= 0.0)),
        Class::WrongAnswer,
        || {
            format!(
                "error estimate {} with {} probes",
                r.error_estimate, opts.probes
            )
        },
    );
    if c.fail.is_none() {
        let approx = Mat::from_fn(m, k, |i, j| u[(i, j)] * r.s[j]) * v.transpose();
        let err = spectral(&(&a.a - &approx));
        let rounding = 1e3 * (m + n) as f64 * u_ * s1;
        let sk1 = exact.get(k).copied().unwrap_or(0.0);
        // Exact recovery needs the sketch's k + p columns to capture rank(A) ≤ k with a
        // well-conditioned VᵀΩ: p ≥ 2 makes κ(VᵀΩ) > 10³ a 10⁻⁹ event.
        if let Kind::LowRank(rank) | Kind::Psd(rank) = a.kind
            && rank <= k
            && opts.oversample >= 2
        {
            c.check(err <= rounding, Class::WrongAnswer, || {
                format!("rank {rank} ≤ k = {k} but ‖A − UΣVᵀ‖ = {err:e} > {rounding:e} (σ₁ {s1:e})")
            });
        }
        if opts.oversample >= 10 {
            // HMT 2011 §10.3: ‖A − QQᵀA‖ ≤ (1 + 11√(k+p)·√min(m,n))·σ_{k+1} except with
            // probability 6·p^{−p}; truncating to rank k adds at most σ_{k+1}.
            let bound = (2.0 + 11.0 * (l as f64).sqrt() * (mn as f64).sqrt()) * sk1 + rounding;
            c.check(err <= bound, Class::WrongAnswer, || {
                format!("‖A − UΣVᵀ‖ = {err:e} above the HMT bound {bound:e} (σ_k+1 {sk1:e})")
            });
        }
    }
    c.done()
}

fn range_case(d: &mut D<'_, '_>, adaptive: bool) -> Outcome {
    let key = if adaptive {
        "adaptive_range_finder"
    } else {
        "range_finder"
    };
    let (m, n) = (d.dim(2, 30), d.dim(2, 30));
    let Some(a) = d.test_op(m, n, false, 1) else {
        return d.g.decided.take().unwrap_or(Outcome::ok(key));
    };
    let mn = m.min(n);
    let seed = d.g.rng.next_u64();
    let (q, invalid, desc) = if adaptive {
        let tol = match d.g.rng.below(8) {
            0 => -1.0,
            1 => f64::NAN,
            2 => f64::INFINITY,
            3 => 0.0,
            _ => pow2(a.e) * [1e-12, 1e-6, 1e-3, 0.1, 1.0][d.g.rng.below(5)],
        };
        let block = d.g.rng.below(5);
        let probes = d.g.rng.below(5);
        let max_rank = d.g.rng.below(mn + 2);
        let desc = format!("tol {tol:e}, block {block}, probes {probes}, max_rank {max_rank}");
        d.g.note(&format!("{key}::<{}>({desc})", d.t.prec.name));
        let invalid = block == 0
            || probes == 0
            || max_rank == 0
            || max_rank > mn
            || !(tol >= 0.0 && tol.is_finite());
        let r = in_prec!(
            d.t,
            adaptive_range_finder(
                d.t.engine,
                &a.op,
                tol,
                &AdaptiveRangeOptions {
                    block,
                    probes,
                    max_rank: Some(max_rank),
                    seed
                }
            )
        );
        let r = r.map(|r| {
            let ok =
                r.estimate.is_finite() && r.estimate >= 0.0 && r.converged == (r.estimate <= tol);
            (
                r.q,
                ok,
                max_rank,
                format!("estimate {:e}, converged {}", r.estimate, r.converged),
            )
        });
        (r, invalid, desc)
    } else {
        let l = d.g.rng.below(mn + 2);
        let q = d.g.rng.below(4);
        d.g.note(&format!("{key}::<{}>(l {l}, q {q})", d.t.prec.name));
        let r = in_prec!(
            d.t,
            range_finder(
                d.t.engine,
                &a.op,
                l,
                &RangeOptions {
                    power_iters: q,
                    seed
                }
            )
        );
        (
            r.map(|r| (r.q, true, l, String::new())),
            l == 0 || l > mn,
            format!("l {l}"),
        )
    };
    if invalid {
        return expect_err(key, &desc, q);
    }
    let (q, est_ok, cap, est) = match q {
        Ok(x) => x,
        Err(e) => return on_err(key, &e, false),
    };
    let mut c = Checks::new(key);
    c.check(est_ok, Class::WrongAnswer, || est.clone());
    let Ok(qh) = to_f64(d.t.engine, &q) else {
        return Outcome::new(Class::ValidRejected, key, "download");
    };
    c.check(
        qh.nrows() == m && qh.ncols() >= 1 && qh.ncols() <= cap,
        Class::WrongAnswer,
        || format!("Q is {:?}, cap {cap}", qh.shape()),
    );
    c.finite(&qh, "Q");
    c.orth(&qh, d.u(), "Q");
    if let (Kind::LowRank(r), false) = (a.kind, adaptive)
        && r + 2 <= qh.ncols()
        && c.fail.is_none()
    {
        let resid = &a.a - &qh * (qh.transpose() * &a.a);
        let err = spectral(&resid);
        let s1 = spectral(&a.a);
        let tol = 1e3 * (m + n) as f64 * d.u() * s1;
        c.check(err <= tol, Class::WrongAnswer, || {
            format!("rank {r} ≤ l but ‖(I − QQᵀ)A‖ = {err:e} > {tol:e}")
        });
    }
    c.done()
}

fn orthonormalize_case(d: &mut D<'_, '_>) -> Outcome {
    let key = "orthonormalize";
    let m = d.dim(1, 40);
    let k = d.dim(1, 12);
    let e = d.exponent(1);
    let rank = 1 + d.g.rng.below(k);
    let b = Mat::from_fn(m, rank, |_, _| d.g.rng.uniform());
    let w = Mat::from_fn(rank, k, |_, _| d.g.rng.uniform());
    let bw = &b * &w;
    let x = Mat::from_fn(m, k, |i, j| {
        let v = bw[(i, j)] * pow2(e);
        if d.t.prec == F32 {
            f64::from(v as f32)
        } else {
            v
        }
    });
    d.g.note(&format!(
        "orthonormalize({m}x{k}, rank ≤ {rank}, scale 2^{e}) on {}",
        d.t.describe()
    ));
    let xm = match upload(&d.t, &x) {
        Ok(x) => x,
        Err(err) => return on_err(key, &err, false),
    };
    let r = orthonormalize(d.t.engine, &xm);
    if k > m {
        return expect_err(key, &format!("{m}x{k}"), r);
    }
    let f = match r {
        Ok(f) => f,
        Err(err) => return on_err(key, &err, false),
    };
    let mut c = Checks::new(key);
    let Ok(q) = to_f64(d.t.engine, &f.q) else {
        return Outcome::new(Class::ValidRejected, key, "download");
    };
    c.check(
        q.shape() == (m, k) && f.r.shape() == (k, k),
        Class::WrongAnswer,
        || format!("Q {:?}, R {:?}", q.shape(), f.r.shape()),
    );
    if c.fail.is_some() {
        return c.done();
    }
    c.finite(&q, "Q");
    c.finite(&f.r, "R");
    c.orth(&q, d.u(), "Q");
    let lower = (0..k).any(|j| (j + 1..k).any(|i| f.r[(i, j)] != 0.0));
    c.check(!lower, Class::WrongAnswer, || {
        "R is not upper triangular".into()
    });
    let err = spectral(&(&q * &f.r - &x));
    let tol = 100.0 * (m + k) as f64 * d.u() * spectral(&x);
    c.check(err <= tol, Class::WrongAnswer, || {
        format!("‖QR − X‖ = {err:e} > {tol:e}")
    });
    c.done()
}

fn nystrom_case(d: &mut D<'_, '_>, pcg: bool) -> Outcome {
    let key = if pcg { "nystrom_pcg" } else { "nystrom" };
    let n = d.dim(2, 30);
    let nonsquare = d.g.rng.below(12) == 0;
    let Some(a) = d.test_op(n, if nonsquare { n + 1 } else { n }, !nonsquare, 1) else {
        return d.g.decided.take().unwrap_or(Outcome::ok(key));
    };
    let k = d.g.rng.below(n + 1);
    let opts = NystromOptions {
        oversample: d.g.rng.below(n + 1),
        seed: d.g.rng.next_u64(),
    };
    d.g.note(&format!("nystrom::<{}>(k {k}, {opts:?})", d.t.prec.name));
    let r = in_prec!(d.t, nystrom(d.t.engine, &a.op, k, &opts));
    let invalid = nonsquare || k == 0 || k + opts.oversample > n;
    if pcg {
        return pcg_case(d, &a, if invalid { None } else { r.ok() });
    }
    if invalid {
        return expect_err(key, &format!("k {k}, {opts:?}, {:?}", a.a.shape()), r);
    }
    let r = match r {
        Ok(r) => r,
        Err(e) => return on_err(key, &e, false),
    };
    let mut c = Checks::new(key);
    let Ok(u) = to_f64(d.t.engine, &r.u) else {
        return Outcome::new(Class::ValidRejected, key, "download");
    };
    c.check(
        r.lambda.len() == k && u.shape() == (n, k),
        Class::WrongAnswer,
        || format!("{} eigenvalues, U {:?}", r.lambda.len(), u.shape()),
    );
    if c.fail.is_some() {
        return c.done();
    }
    c.finite_vals(&r.lambda, "eigenvalues");
    c.finite(&u, "U");
    c.orth(&u, d.u(), "U");
    let exact = singular_values(&a.a);
    let l1 = exact.first().copied().unwrap_or(0.0).max(a.mag);
    c.check(
        r.rounding_slack.is_finite() && r.rounding_slack >= 0.0,
        Class::WrongAnswer,
        || format!("rounding slack {:e}", r.rounding_slack),
    );
    // λ̂_i ≤ λ_i up to the shift and the driver's first-order rounding slack (the sketch's
    // conditioning, which only the driver sees), with a factor 2 for second-order terms.
    let tol = 100.0 * n as f64 * d.u() * l1 + r.shift + 2.0 * r.rounding_slack;
    check_interlacing(&mut c, &r.lambda, &exact, tol, "λ");
    if let Kind::Psd(rank) = a.kind
        && rank <= k
        && opts.oversample >= 2
        && c.fail.is_none()
    {
        let approx = Mat::from_fn(n, k, |i, j| u[(i, j)] * r.lambda[j]) * u.transpose();
        let err = spectral(&(&a.a - &approx));
        let tol = 1e3 * n as f64 * d.u() * l1 + 10.0 * r.shift + 2.0 * r.rounding_slack;
        c.check(err <= tol, Class::WrongAnswer, || {
            format!("rank {rank} ≤ k: ‖A − UΛUᵀ‖ = {err:e} > {tol:e}")
        });
    }
    c.done()
}

fn pcg_case(
    d: &mut D<'_, '_>,
    a: &TestOp,
    pre: Option<linops::randnla::nystrom::Nystrom>,
) -> Outcome {
    let key = "nystrom_pcg";
    let (n, cols) = a.a.shape();
    let scale = pow2(a.e);
    let mu = match d.g.rng.below(8) {
        0 => -1.0,
        1 => f64::NAN,
        2 => 0.0,
        _ => scale * [1e-6, 1e-2, 1.0][d.g.rng.below(3)],
    };
    let opts = CgOptions {
        tol: [1e-10, 1e-6, 1e-3, 0.0, -1.0][d.g.rng.below(5)],
        max_iter: [0, 1, 5, 50, 300][d.g.rng.below(5)],
    };
    let bad_b = d.g.rng.below(10);
    // |b| ~ 2^eb with eb, eb − e and eb + e within ±900: b, x ≈ (A + μI)⁻¹b and A·b in range.
    let room = if d.t.prec == F64 { 900 } else { 100 } - a.e.abs();
    let eb = d.g.rng.below(2 * room as usize + 1) as i32 - room;
    let mut b: Vec<f64> = (0..n).map(|_| d.g.rng.uniform() * pow2(eb)).collect();
    if bad_b == 0 {
        b.push(1.0);
    } else if bad_b == 1 {
        b[0] = f64::NAN;
    }
    let use_pre = pre.is_some() && d.g.rng.below(2) == 0;
    d.g.note(&format!(
        "nystrom_pcg::<{}>(mu {mu:e}, {opts:?}, b of {} (|b| ≤ 2^{eb}), preconditioner {use_pre})",
        d.t.prec.name,
        b.len()
    ));
    let pre_ref = if use_pre { pre.as_ref() } else { None };
    let floor_bad = pre_ref.is_some_and(|p| {
        (p.lambda.last().copied().unwrap_or(0.0) + mu).is_nan()
            || p.lambda.last().copied().unwrap_or(0.0) + mu <= 0.0
    });
    let invalid = n != cols
        || bad_b < 2
        || !(mu.is_finite() && mu >= 0.0)
        || opts.tol.is_nan()
        || opts.tol <= 0.0
        || opts.max_iter == 0
        || floor_bad;
    let r = in_prec!(d.t, nystrom_pcg(d.t.engine, &a.op, mu, &b, pre_ref, &opts));
    if invalid {
        return expect_err(key, "invalid input", r);
    }
    // A singular system (μ = 0 and A singular) may break down: documented, not a defect.
    let exact = singular_values(&a.a);
    let smallest = exact.last().copied().unwrap_or(0.0);
    let singular = mu == 0.0
        && (a.kind == Kind::Zero || matches!(a.kind, Kind::Psd(r) if r < n) || smallest <= 0.0);
    let r = match r {
        Ok(r) => r,
        Err(e) => return on_err(key, &e, singular),
    };
    let mut c = Checks::new(key);
    c.check(r.x.len() == n, Class::WrongAnswer, || {
        format!("x of {}", r.x.len())
    });
    c.finite_vals(&r.x, "x");
    c.finite_vals(&r.residuals, "residuals");
    if r.converged && !singular && c.fail.is_none() {
        let xm = Mat::from_fn(n, 1, |i, _| r.x[i]);
        let ax = &a.a * &xm;
        let bn = norm2(&b);
        let rv: Vec<f64> = (0..n).map(|i| b[i] - ax[(i, 0)] - mu * r.x[i]).collect();
        let res = norm2(&rv) / bn;
        let lmax = exact.first().copied().unwrap_or(0.0) + mu;
        let lmin = match a.kind {
            Kind::Psd(r) if r == n => exact.last().copied().unwrap_or(0.0) + mu,
            _ => mu,
        };
        if lmin > 0.0 {
            let kappa = lmax / lmin;
            let tol = 10.0 * opts.tol + 100.0 * n as f64 * d.u() * kappa;
            c.check(res <= tol, Class::WrongAnswer, || {
                format!("converged but ‖b − (A + μI)x‖/‖b‖ = {res:e} > {tol:e} (κ {kappa:e})")
            });
        }
    }
    c.done()
}

fn id_case(d: &mut D<'_, '_>, which: usize) -> Outcome {
    let key = ["column_id", "row_id", "cur"][which];
    let (m, n) = (d.dim(2, 30), d.dim(2, 30));
    let Some(a) = d.test_op(m, n, false, 1) else {
        return d.g.decided.take().unwrap_or(Outcome::ok(key));
    };
    let mn = m.min(n);
    let k = d.g.rng.below(mn + 2);
    let opts = IdOptions {
        oversample: if d.g.rng.below(12) == 0 {
            usize::MAX
        } else {
            d.g.rng.below(12)
        },
        power_iters: d.g.rng.below(3),
        seed: d.g.rng.next_u64(),
        probes: d.g.rng.below(4),
    };
    d.g.note(&format!("{key}::<{}>(k {k}, {opts:?})", d.t.prec.name));
    let invalid = k == 0 || k > mn || opts.oversample == usize::MAX;
    // The sketch has numerical rank below k unless A is well conditioned of rank ≥ k.
    let rank_ok = matches!(a.kind, Kind::LowRank(r) | Kind::Psd(r) if r >= k);
    let mut c = Checks::new(key);
    if which == 2 {
        let r = in_prec!(d.t, cur(d.t.engine, &a.op, k, &opts));
        if invalid {
            return expect_err(key, "invalid rank or oversampling", r);
        }
        let f = match r {
            Ok(f) => f,
            Err(e) => return on_err(key, &e, !rank_ok),
        };
        let (Ok(cm), Ok(rm)) = (to_f64(d.t.engine, &f.c), to_f64(d.t.engine, &f.r)) else {
            return Outcome::new(Class::ValidRejected, key, "download");
        };
        c.check(
            f.cols.len() == k
                && f.rows.len() == k
                && f.cols.iter().all(|&j| j < n)
                && f.rows.iter().all(|&i| i < m),
            Class::WrongAnswer,
            || format!("cols {:?}, rows {:?}", f.cols, f.rows),
        );
        c.finite(&cm, "C");
        c.finite(&rm, "R");
        c.finite(&f.u, "U");
        if let (Kind::LowRank(r), true) = (a.kind, c.fail.is_none())
            && r == k
            && opts.oversample >= 2
        {
            let err = spectral(&(&a.a - &cm * &f.u * &rm));
            let s1 = spectral(&a.a);
            let tol = 1e4 * (m + n) as f64 * d.u() * s1;
            c.check(err <= tol, Class::WrongAnswer, || {
                format!("rank k: ‖A − CUR‖ = {err:e} > {tol:e}")
            });
        }
        return c.done();
    }
    let r = if which == 0 {
        in_prec!(d.t, column_id(d.t.engine, &a.op, k, &opts))
    } else {
        in_prec!(d.t, row_id(d.t.engine, &a.op, k, &opts))
    };
    if invalid {
        return expect_err(key, "invalid rank or oversampling", r);
    }
    let id = match r {
        Ok(id) => id,
        Err(e) => return on_err(key, &e, !rank_ok),
    };
    let at = if which == 0 {
        a.a.clone()
    } else {
        a.a.transpose().to_owned()
    };
    let nn = at.ncols();
    let mut distinct = id.cols.clone();
    distinct.sort_unstable();
    distinct.dedup();
    c.check(
        id.cols.len() == k
            && distinct.len() == k
            && id.cols.iter().all(|&j| j < nn)
            && id.x.shape() == (k, nn),
        Class::WrongAnswer,
        || format!("cols {:?}, x {:?}", id.cols, id.x.shape()),
    );
    if c.fail.is_some() {
        return c.done();
    }
    c.finite(&id.x, "X");
    let unit = id
        .cols
        .iter()
        .enumerate()
        .all(|(p, &j)| (0..k).all(|i| id.x[(i, j)] == if i == p { 1.0 } else { 0.0 }));
    c.check(unit, Class::WrongAnswer, || {
        "X[:, cols] is not the identity".into()
    });
    c.check(
        id.growth.is_finite() && id.growth >= 0.0,
        Class::NonFiniteFromFiniteInRange,
        || format!("growth {}", id.growth),
    );
    c.check(
        (opts.probes == 0) == id.error_estimate.is_nan()
            && (opts.probes == 0 || id.error_estimate >= 0.0),
        Class::WrongAnswer,
        || format!("error estimate {}", id.error_estimate),
    );
    if let (Kind::LowRank(r), true) = (a.kind, c.fail.is_none())
        && r == k
        && opts.oversample >= 2
    {
        let sel = Mat::from_fn(at.nrows(), k, |i, j| at[(i, id.cols[j])]);
        let err = spectral(&(&at - &sel * &id.x));
        let tol = 1e3 * (m + n) as f64 * d.u() * spectral(&at) * (1.0 + id.growth);
        c.check(err <= tol, Class::WrongAnswer, || {
            format!("rank k: ‖A − A[:,J]X‖ = {err:e} > {tol:e}")
        });
    }
    c.done()
}

fn lstsq_case(d: &mut D<'_, '_>, solve: bool) -> Outcome {
    let key = if solve { "lstsq_sketch_solve" } else { "lstsq" };
    let n = d.dim(1, 12);
    let m = n + d.g.rng.below(30);
    let wide = d.g.rng.below(12) == 0;
    let (m, n) = if wide && m > n { (n, m) } else { (m, n) };
    let eb = d.exponent(1);
    // A full-column-rank, well-conditioned A (κ ≤ 2), or any tree.
    let a = if d.g.rng.below(3) > 0 && m >= n {
        let e = d.exponent(1);
        let u = orthonormal(&mut d.g, m, n);
        let v = orthonormal(&mut d.g, n, n);
        let sv: Vec<f64> = (0..n)
            .map(|_| (1.0 + d.g.rng.uniform().abs()) * pow2(e))
            .collect();
        let a = &u * Mat::from_fn(n, n, |i, j| if i == j { sv[i] } else { 0.0 }) * v.transpose();
        d.g.note(&format!(
            "full rank {m}x{n}, singular values in [1, 2]·2^{e}"
        ));
        let op = match linops::dense(a.as_ref()) {
            Ok(op) => op,
            Err(err) => return Outcome::from_valid_err("test operator", &err),
        };
        TestOp {
            op,
            a,
            kind: Kind::LowRank(n),
            e,
            mag: 0.0,
        }
    } else {
        match d.test_op(m, n, false, 1) {
            Some(a) => a,
            None => return d.g.decided.take().unwrap_or(Outcome::ok(key)),
        }
    };
    // b = A·x₀ (consistent) or random, of magnitude 2^eb with |eb − e_A| ≤ 900 so that x* is
    // in range.
    let eb = if (eb - a.e).abs() > 900 { a.e } else { eb };
    let consistent = d.g.rng.below(2) == 0;
    let mut b: Vec<f64> = if consistent {
        let x0 = Mat::from_fn(n, 1, |_, _| d.g.rng.uniform() * pow2(eb - a.e));
        let b = &a.a * &x0;
        (0..m).map(|i| b[(i, 0)]).collect()
    } else {
        (0..m).map(|_| d.g.rng.uniform() * pow2(eb)).collect()
    };
    let bad = d.g.rng.below(14);
    if bad == 0 {
        b.push(1.0);
    } else if bad == 1 && !b.is_empty() {
        b[0] = f64::INFINITY;
    }
    let opts = LstsqOptions {
        sketch_factor: [
            Some(4.0),
            None,
            Some(1.0),
            Some(0.5),
            Some(0.0),
            Some(-1.0),
            Some(f64::NAN),
        ][d
            .g
            .rng
            .below(7)
            .min(if d.g.rng.below(3) == 0 { 6 } else { 2 })],
        seed: d.g.rng.next_u64(),
        tol: [1e-15, 1e-10, 1e-6, 0.0, -1.0][d.g.rng.below(5).min(if d.g.rng.below(3) == 0 {
            4
        } else {
            2
        })],
        max_iter: [100, 50, 10, 0][d
            .g
            .rng
            .below(4)
            .min(if d.g.rng.below(3) == 0 { 3 } else { 2 })],
        check_iter: d.g.rng.below(20),
        sketch_dtype: [None, Some(DType::F32), Some(DType::F64)][d.g.rng.below(3)],
        refine: d.g.rng.below(3),
        sketch: [LstsqSketch::default(), LstsqSketch::Gaussian][d.g.rng.below(2)],
    };
    d.g.note(&format!(
        "{key}(b of {} (2^{eb}), consistent {consistent}, {opts:?}) on {}",
        b.len(),
        d.t.describe()
    ));
    let invalid = bad < 2
        || m < n
        || opts
            .sketch_factor
            .is_some_and(|f| !(f > 0.0 && f.is_finite()))
        || opts.tol.is_nan()
        || opts.tol <= 0.0
        || opts.max_iter == 0;
    // An f32 sketch of data beyond f32's range: a typed error, or (after a fallback to f64) a
    // correct answer.
    let f32_sketch =
        opts.sketch_dtype == Some(DType::F32) || (d.t.gpu && opts.sketch_dtype.is_none());
    let f32_out = f32_sketch && (a.e.abs() > 100 || eb.abs() > 100);
    let r = if solve {
        lstsq_sketch_solve(d.t.engine, &a.op, &b, &opts)
    } else {
        lstsq(d.t.engine, &a.op, &b, &opts)
    };
    if invalid {
        return expect_err(key, "invalid problem or options", r);
    }
    let r = match r {
        Err(e @ Error::Unsupported(_)) if d.t.gpu && opts.sketch_dtype == Some(DType::F64) => {
            return Outcome::rejected(key, &e);
        }
        Err(e) if f32_out => return Outcome::rejected(key, &e),
        Err(e) => {
            return on_err(
                key,
                &e,
                a.kind == Kind::General
                    || a.kind == Kind::Zero
                    || matches!(a.kind, Kind::LowRank(r) if r < n),
            );
        }
        Ok(r) => r,
    };
    let mut c = Checks::new(key);
    c.check(r.x.len() == n, Class::WrongAnswer, || {
        format!("x of {}", r.x.len())
    });
    c.finite_vals(&r.x, "x");
    c.check(
        r.residual_norm.is_finite() && r.residual_norm >= 0.0,
        Class::NonFiniteFromFiniteInRange,
        || format!("residual norm {} for a finite residual", r.residual_norm),
    );
    if let (Kind::LowRank(rank), true) = (a.kind, c.fail.is_none())
        && rank == n
        && (r.converged || solve)
    {
        // x* from a dense QR of the normalized problem A/2^{e_A}, b/2^{eb}, scaled back.
        let (sa, sb) = (pow2(a.e), pow2(eb));
        let an = Mat::from_fn(m, n, |i, j| a.a[(i, j)] / sa);
        let bm = Mat::from_fn(m, 1, |i, _| b[i] / sb);
        let qr = an.qr();
        let q = qr.compute_thin_Q();
        let rr = qr.thin_R().to_owned();
        let qtb = q.transpose() * &bm;
        let mut xs = vec![0.0; n];
        for i in (0..n).rev() {
            let s: f64 = (i + 1..n).map(|j| rr[(i, j)] * xs[j]).sum();
            xs[i] = (qtb[(i, 0)] - s) / rr[(i, i)];
        }
        // In the normalized units: ‖A'(x/2^{eb−e_A} − x'*)‖ against ‖b'‖.
        let xscale = pow2(eb - a.e);
        let dx = Mat::from_fn(n, 1, |i, _| r.x[i] / xscale - xs[i]);
        let err = spectral(&(&an * &dx));
        let bn = spectral(&bm);
        let usk = if f32_sketch { F32.u } else { F64.u };
        let tol = if solve {
            if consistent {
                1e3 * (m + n) as f64 * usk * bn
            } else {
                f64::INFINITY
            }
        } else {
            // LSQR's stopping rule (Paige & Saunders): ‖r‖ ≤ tol·(‖b‖ + ‖Ā‖_est·‖y‖) with
            // Ā = A·R⁻¹, y = R·x and ‖Ā‖_est ≤ ‖Ā‖_F ≤ √n·‖A‖·‖R⁻¹‖, so for a consistent
            // problem ‖A(x − x*)‖ = ‖r‖ ≤ tol·(‖b‖ + √n·‖A‖·cond(R)·‖x‖), plus f64 rounding
            // of the iteration; refinement passes only lower it. Factor 2 for the recurrence.
            let xn = r.x.iter().map(|v| (v / xscale).powi(2)).sum::<f64>().sqrt();
            let an_norm = spectral(&an);
            2.0 * opts.tol * (bn + (n as f64).sqrt() * an_norm * r.r_cond * xn)
                + 1e3 * (m + n) as f64 * F64.u * bn
        };
        c.check(err <= tol, Class::WrongAnswer, || {
                format!("‖A(x − x*)‖/2^eb = {err:e} > {tol:e} (‖b‖/2^eb {bn:e}, converged {}, {} iterations)", r.converged, r.iterations)
            });
    }
    let mut out = c.done();
    if f32_out && out.class.is_failure() {
        out = Outcome::new(
            Class::InvalidAccepted,
            format!("{key}: data beyond the f32 sketch's range"),
            out.detail,
        );
    }
    out
}

fn trace_case(d: &mut D<'_, '_>, plus: bool) -> Outcome {
    let key = if plus {
        "hutch_plus_plus"
    } else {
        "hutchinson"
    };
    let n = d.dim(1, 30);
    let nonsquare = d.g.rng.below(12) == 0;
    let diag = !plus && d.g.rng.below(3) == 0;
    let a = if diag && !nonsquare {
        let e = d.exponent(1);
        let v: Vec<f64> = (0..n).map(|_| d.g.rng.uniform() * pow2(e)).collect();
        d.g.note(&format!("diagonal {v:?}"));
        let a = Mat::from_fn(n, n, |i, j| if i == j { v[i] } else { 0.0 });
        TestOp {
            op: Op::diagonal(v).unwrap_or_else(|_| unreachable!()),
            a,
            kind: Kind::General,
            e,
            mag: 0.0,
        }
    } else {
        let psd = !nonsquare && d.g.rng.below(2) == 0;
        match d.test_op(n, if nonsquare { n + 1 } else { n }, psd, 1) {
            Some(a) => a,
            None => return d.g.decided.take().unwrap_or(Outcome::ok(key)),
        }
    };
    let count = d.g.rng.below(if plus { 3 * n + 6 } else { 20 });
    let seed = d.g.rng.next_u64();
    d.g.note(&format!("{key}::<{}>({count}, seed {seed})", d.t.prec.name));
    let invalid = nonsquare
        || if plus {
            count < 6 || count / 3 >= n
        } else {
            count < 2
        };
    let r = if plus {
        in_prec!(
            d.t,
            hutch_plus_plus(
                d.t.engine,
                &a.op,
                &TraceOptions {
                    matvecs: count,
                    seed
                }
            )
        )
    } else {
        in_prec!(
            d.t,
            hutchinson(
                d.t.engine,
                &a.op,
                &TraceOptions {
                    matvecs: count,
                    seed
                }
            )
        )
    };
    if invalid {
        return expect_err(key, &format!("{count} for {:?}", a.a.shape()), r);
    }
    let r = match r {
        Ok(r) => r,
        Err(e) => return on_err(key, &e, false),
    };
    let mut c = Checks::new(key);
    c.check(
        r.estimate.is_finite() && r.std_error.is_finite() && r.std_error >= 0.0,
        Class::NonFiniteFromFiniteInRange,
        || format!("estimate {}, std error {}", r.estimate, r.std_error),
    );
    let norm = spectral(&a.a);
    let k = if plus { count / 3 } else { 0 };
    // |zᵀAz| ≤ ‖z‖²‖A‖ = n‖A‖ per probe; Hutch++ adds tr(QᵀAQ) ≤ k‖A‖. The operator as applied
    // carries rounding relative to its parts (`mag`), which dominates when they cancel.
    let bound = (n + k) as f64 * (norm + 100.0 * n as f64 * d.u() * norm.max(a.mag));
    c.check(r.estimate.abs() <= bound, Class::WrongAnswer, || {
        format!("|estimate| {:e} > (n + k)·‖A‖ = {bound:e}", r.estimate)
    });
    let tr: f64 = (0..n).map(|i| a.a[(i, i)]).sum();
    let abs_tr: f64 = (0..n).map(|i| a.a[(i, i)].abs()).sum();
    if diag {
        let tol = 10.0 * n as f64 * d.u() * abs_tr;
        c.check((r.estimate - tr).abs() <= tol, Class::WrongAnswer, || {
            format!(
                "diagonal: estimate {:e}, trace {tr:e} (exact for ±1 probes)",
                r.estimate
            )
        });
    }
    // Exact up to rounding amplified by κ(A·S) (unknown here): checked in f64 only.
    if let (true, Kind::Psd(rank), true) = (plus, a.kind, d.t.prec == F64)
        && rank <= k
    {
        // The rounding of Q = orth(A·S) is amplified by κ(A·S) restricted to range(A):
        // recompute S (the Rademacher block of the seed, host_la's layout).
        let rng = RngState::new(seed);
        let sm = Mat::from_fn(n, k, |i, j| {
            f64::from(rng.entry(linops_core::rng::Dist::Rademacher, i as u64, j as u64))
        });
        let sv = singular_values(&(&a.a * &sm));
        let kappa = sv[0] / sv[rank - 1];
        let tol = 1e3 * n as f64 * d.u() * abs_tr * kappa * kappa;
        c.check((r.estimate - tr).abs() <= tol, Class::WrongAnswer, || {
            format!(
                "PSD of rank {rank} ≤ k = {k}: estimate {:e}, trace {tr:e}",
                r.estimate
            )
        });
    }
    c.done()
}

fn streaming_case(d: &mut D<'_, '_>, oja: bool) -> Outcome {
    let key = if oja {
        "block_oja"
    } else {
        "frequent_directions"
    };
    let dd = d.dim(1, 16);
    let ell = d.g.rng.below(8);
    let k = d.g.rng.below(dd.min(6) + 2);
    let eta = [
        None,
        Some(1.0),
        Some(0.1),
        Some(0.0),
        Some(-1.0),
        Some(f64::NAN),
    ][d.g.rng.below(6)];
    let seed = d.g.rng.next_u64();
    // Squares of the data are outputs (‖A‖_F², the shrinkage): the exponent is halved.
    let e = d.exponent(2);
    let blocks = 1 + d.g.rng.below(5);
    let mut rows: Vec<Mat<f64>> = Vec::new();
    // Σ of the squared magnitude models |·|-products: the rounding of an entry is relative to its
    // magnitude, not to its value (which may cancel to a rounding residue of the f64 model).
    let mut mag2 = 0.0f64;
    let mut ops: Vec<Op> = Vec::new();
    for _ in 0..blocks {
        let b = 1 + d.g.rng.below(6);
        let spread = d.g.spread;
        d.g.spread = 0;
        let node = d.g.node(b, dd, 1);
        d.g.spread = spread;
        let Some(node) = node else {
            return d.g.decided.take().unwrap_or(Outcome::ok(key));
        };
        let Ok(op) = node.op.scaled(pow2(e)) else {
            return Outcome::ok(key);
        };
        if node.m.beyond_f32() && d.t.prec == F32 {
            return Outcome::ok(key);
        }
        rows.push(Mat::from_fn(b, dd, |i, j| node.m.a[(i, j)] * pow2(e)));
        mag2 += (0..dd)
            .map(|j| {
                (0..b)
                    .map(|i| (node.m.mag[(i, j)] * pow2(e)).powi(2))
                    .sum::<f64>()
            })
            .sum::<f64>();
        ops.push(op);
    }
    let wrong_cols = d.g.rng.below(12) == 0;
    if wrong_cols {
        ops.push(Op::identity(dd + 1).unwrap_or_else(|_| unreachable!()));
    }
    d.g.note(&format!(
        "{key}::<{}>(d {dd}, ell {ell}, k {k}, eta {eta:?}, {blocks} blocks, 2^{e}{})",
        d.t.prec.name,
        if wrong_cols {
            ", then a block of d + 1 columns"
        } else {
            ""
        }
    ));
    let mut c = Checks::new(key);
    if oja {
        let r = BlockOja::new(dd, k, eta, seed);
        if k == 0 || k > dd || eta.is_some_and(|x| !(x > 0.0 && x.is_finite())) {
            return expect_err(key, "k or eta", r);
        }
        let mut o = match r {
            Ok(o) => o,
            Err(err) => return on_err(key, &err, false),
        };
        for (i, op) in ops.iter().enumerate() {
            let r = in_prec!(d.t, update_oja(&mut o, d.t.engine, op));
            if i == blocks {
                return expect_err(key, "block of d + 1 columns", r);
            }
            if let Err(err) = r {
                return on_err(key, &err, false);
            }
        }
        c.check(
            o.blocks() == blocks && o.basis().shape() == (dd, k),
            Class::WrongAnswer,
            || format!("{} blocks, basis {:?}", o.blocks(), o.basis().shape()),
        );
        c.finite(o.basis(), "basis");
        c.orth(o.basis(), F64.u, "basis");
        return c.done();
    }
    let r = FrequentDirections::new(dd, ell);
    if ell < 2 {
        return expect_err(key, "ell < 2", r);
    }
    let mut fd = match r {
        Ok(fd) => fd,
        Err(err) => return on_err(key, &err, false),
    };
    for (i, op) in ops.iter().enumerate() {
        let r = in_prec!(d.t, update_fd(&mut fd, d.t.engine, op));
        if i == blocks {
            return expect_err(key, "block of d + 1 columns", r);
        }
        if let Err(err) = r {
            return on_err(key, &err, false);
        }
    }
    let total: usize = rows.iter().map(|r| r.nrows()).sum();
    let mut a = Mat::<f64>::zeros(total, dd);
    let mut at = 0;
    for r in &rows {
        for i in 0..r.nrows() {
            for j in 0..dd {
                a[(at + i, j)] = r[(i, j)];
            }
        }
        at += r.nrows();
    }
    let frob2: f64 = (0..dd)
        .map(|j| (0..total).map(|i| a[(i, j)].powi(2)).sum::<f64>())
        .sum();
    let (seen, f2) = fd.seen();
    // Entry errors δ ≤ γ·mag (|a| ≤ mag): |Σâ² − Σa²| ≤ Σ δ(2|a| + δ) ≤ 3γ·Σ mag², with the
    // accumulation's own rounding in the same γ.
    let tol = 100.0 * (total + dd) as f64 * d.u() * frob2.max(mag2);
    c.check(
        seen == total && (f2 - frob2).abs() <= tol,
        Class::WrongAnswer,
        || format!("seen ({seen}, {f2:e}), expected ({total}, {frob2:e})"),
    );
    c.check(
        f2.is_finite() && fd.shrinkage().is_finite(),
        Class::NonFiniteFromFiniteInRange,
        || format!("‖A‖_F² {f2}, shrinkage {}", fd.shrinkage()),
    );
    let b = fd.sketch();
    c.finite(&b, "sketch");
    if c.fail.is_none() {
        // 0 ⪯ AᵀA − BᵀB ⪯ Δ·I (Liberty 2013; Ghashami et al. 2016).
        let diff = a.transpose() * &a - b.transpose() * &b;
        let ev = diff
            .self_adjoint_eigenvalues(faer::Side::Lower)
            .unwrap_or_default();
        let (lo, hi) = (
            ev.first().copied().unwrap_or(0.0),
            ev.last().copied().unwrap_or(0.0),
        );
        let delta = fd.shrinkage();
        c.check(lo >= -tol && hi <= delta + tol, Class::WrongAnswer, || {
            format!(
                "eigenvalues of AᵀA − BᵀB in [{lo:e}, {hi:e}], shrinkage {delta:e}, tol {tol:e}"
            )
        });
    }
    let r = fd.top_k(k);
    if k == 0 || k >= ell || k > dd {
        return match (c.fail.take(), r) {
            (Some(f), _) => f,
            (None, r) => expect_err(key, &format!("top_k({k}) with ell {ell}, d {dd}"), r),
        };
    }
    match r {
        Ok((v, lam)) => {
            c.check(
                v.shape() == (dd, k) && lam.len() == k,
                Class::WrongAnswer,
                || format!("V {:?}, {} values", v.shape(), lam.len()),
            );
            c.finite(&v, "top-k V");
            c.orth(&v, F64.u, "top-k V");
            check_interlacing(&mut c, &lam, &[f64::INFINITY; 64], 0.0, "top-k λ");
        }
        Err(err) => return on_err(key, &err, false),
    }
    c.done()
}

fn update_fd<T: linops::Scalar>(
    fd: &mut FrequentDirections,
    e: &Engine,
    op: &Op,
) -> Result<(), Error> {
    fd.update::<T>(e, op)
}

fn update_oja<T: linops::Scalar>(o: &mut BlockOja, e: &Engine, op: &Op) -> Result<(), Error> {
    o.update::<T>(e, op)
}

fn matfun_case(d: &mut D<'_, '_>, which: usize) -> Outcome {
    let key = ["polar_newton_schulz", "sqrt_newton_schulz", "inverse_root"][which];
    let n = d.dim(1, 12);
    let m = if which == 0 { n + d.g.rng.below(8) } else { n };
    let wrong = d.g.rng.below(12) == 0;
    let (m, n) = if wrong && which == 0 && m > n {
        (n, m)
    } else if wrong && which > 0 {
        (n, n + 1)
    } else {
        (m, n)
    };
    // Full rank, κ ≤ 2 (SPD for the roots), possibly tiny or huge; or the zero operator. The
    // results scale like 2^{0} (polar), 2^{e/2} (sqrt), 2^{−e/p} (inverse root): in range.
    let zero = d.g.rng.below(10) == 0;
    let e = d.exponent(1);
    let r = m.min(n);
    let sv: Vec<f64> = (0..r)
        .map(|_| (1.0 + d.g.rng.uniform().abs()) * pow2(e))
        .collect();
    let u = orthonormal(&mut d.g, m, r);
    let v = if which == 0 || m != n {
        orthonormal(&mut d.g, n, r)
    } else {
        u.clone()
    };
    let a = if zero {
        Mat::zeros(m, n)
    } else {
        &u * Mat::from_fn(r, r, |i, j| if i == j { sv[i] } else { 0.0 }) * v.transpose()
    };
    let op = match linops::dense(a.as_ref()) {
        Ok(op) => op,
        Err(err) => return Outcome::from_valid_err("test operator", &err),
    };
    let tol = [
        None,
        Some(1e-6),
        Some(1e-12),
        Some(0.0),
        Some(-1.0),
        Some(f64::NAN),
    ][d
        .g
        .rng
        .below(6)
        .min(if d.g.rng.below(4) == 0 { 5 } else { 2 })];
    let max_iter = [60, 100, 5, 0][d
        .g
        .rng
        .below(4)
        .min(if d.g.rng.below(4) == 0 { 3 } else { 2 })];
    let kind = if d.g.rng.below(3) == 0 {
        NsKind::MuonQuintic
    } else {
        NsKind::Cubic
    };
    let p = [2u32, 4, 3, 0][d
        .g
        .rng
        .below(4)
        .min(if d.g.rng.below(4) == 0 { 3 } else { 1 })];
    d.g.note(&format!(
        "{key}::<{}>({m}x{n}, {}, tol {tol:?}, max_iter {max_iter}, {kind:?}, p {p})",
        d.t.prec.name,
        if zero {
            "zero".to_string()
        } else {
            format!("singular values in [1, 2]·2^{e}")
        }
    ));
    let bad_opts = max_iter == 0 || tol.is_some_and(|t| !(t > 0.0 && t.is_finite()));
    let invalid =
        bad_opts || if which == 0 { m < n } else { m != n } || (which == 2 && p != 2 && p != 4);
    let res = match which {
        0 => in_prec!(
            d.t,
            polar_newton_schulz(
                d.t.engine,
                &op,
                kind,
                &MatFunOptions {
                    tol,
                    max_iter: Some(max_iter)
                }
            )
        ),
        1 => in_prec!(
            d.t,
            sqrt_newton_schulz(
                d.t.engine,
                &op,
                &MatFunOptions {
                    tol,
                    max_iter: Some(max_iter)
                }
            )
        ),
        _ => in_prec!(
            d.t,
            inverse_root(
                d.t.engine,
                &op,
                p,
                &MatFunOptions {
                    tol,
                    max_iter: Some(max_iter)
                }
            )
        ),
    };
    if invalid {
        return expect_err(key, "invalid shape or options", res);
    }
    let res = match res {
        Ok(res) => res,
        // "of a zero operator" is documented; a nonzero operator must not be called zero.
        Err(err) => return on_err(key, &err, zero),
    };
    let mut c = Checks::new(key);
    let Ok(x) = to_f64(d.t.engine, &res.x) else {
        return Outcome::new(Class::ValidRejected, key, "download");
    };
    c.check(!zero, Class::InvalidAccepted, || {
        "the zero operator accepted".into()
    });
    c.finite(&x, "X");
    c.check(
        res.residual.is_finite() && res.residual >= 0.0,
        Class::NonFiniteFromFiniteInRange,
        || format!("residual {}", res.residual),
    );
    if c.fail.is_some() {
        return c.done();
    }
    let tol_used = tol.unwrap_or(linops::randnla::matfun::default_tol(
        if d.t.prec == F64 {
            DType::F64
        } else {
            DType::F32
        },
        n,
    ));
    let floor = 100.0 * tol_used + 1e3 * n as f64 * d.u();
    match which {
        0 if kind == NsKind::Cubic && res.converged => {
            let err = spectral(&(x.transpose() * &x - Mat::<f64>::identity(n, n)));
            c.check(err <= floor, Class::WrongAnswer, || {
                format!("converged but ‖XᵀX − I‖ = {err:e} > {floor:e}")
            });
            let polar = &u * v.transpose();
            let err = spectral(&(&x - &polar));
            c.check(err <= 10.0 * floor, Class::WrongAnswer, || {
                format!("‖X − UVᵀ‖ = {err:e} (κ ≤ 2)")
            });
        }
        0 => {
            c.check(
                kind == NsKind::Cubic || res.iterations == max_iter,
                Class::WrongAnswer,
                || format!("quintic ran {} of {max_iter} steps", res.iterations),
            );
        }
        1 if res.converged => {
            let an = spectral(&a);
            let err = spectral(&(&x * &x - &a)) / an;
            c.check(err <= 10.0 * floor, Class::WrongAnswer, || {
                format!("converged but ‖X² − A‖/‖A‖ = {err:e}")
            });
            if let Some(inv) = res
                .inverse
                .as_ref()
                .and_then(|m| to_f64(d.t.engine, m).ok())
            {
                c.finite(&inv, "inverse square root");
                let err = spectral(&(&x * &inv - Mat::<f64>::identity(n, n)));
                c.check(err <= 10.0 * floor, Class::WrongAnswer, || {
                    format!("‖X·X⁻¹ − I‖ = {err:e}")
                });
            }
        }
        2 if res.converged => {
            let mut xp = x.clone();
            for _ in 1..p {
                xp = &xp * &x;
            }
            let err = spectral(&(&xp * &a - Mat::<f64>::identity(n, n)));
            c.check(err <= 10.0 * floor, Class::WrongAnswer, || {
                format!("converged but ‖X^p·A − I‖ = {err:e}")
            });
        }
        _ => {}
    }
    c.done()
}

fn amm_case(d: &mut D<'_, '_>, priority: bool) -> Outcome {
    use linops::amm::{amm_norm_sampling, amm_priority};
    let key = if priority {
        "amm_priority"
    } else {
        "amm_norm_sampling"
    };
    let m = d.dim(1, 40);
    let (p, q) = (d.dim(1, 5), d.dim(1, 5));
    // AᵀB scales like 2^{2e}.
    let e = d.exponent(2);
    let zero_rows = d.g.rng.below(3) == 0;
    let mut a = Mat::from_fn(m, p, |_, _| d.g.rng.uniform() * pow2(e));
    let b = Mat::from_fn(m + usize::from(d.g.rng.below(12) == 0), q, |_, _| {
        d.g.rng.uniform() * pow2(e)
    });
    if zero_rows {
        for i in 0..m {
            if i % 2 == 0 {
                for j in 0..p {
                    a[(i, j)] = 0.0;
                }
            }
        }
    }
    if d.g.rng.below(14) == 0 {
        a[(0, 0)] = f64::NAN;
    }
    let cnt = d.g.rng.below(2 * m + 2);
    let rng = RngState::new(d.g.rng.next_u64());
    d.g.note(&format!(
        "{key}(A {m}x{p}, B {}x{q}, 2^{e}, {cnt}, {rng:?})",
        b.nrows()
    ));
    let invalid = b.nrows() != m || cnt == 0 || !finite(&a);
    let r = if priority {
        amm_priority(a.as_ref(), b.as_ref(), cnt, rng)
    } else {
        amm_norm_sampling(d.t.engine, a.as_ref(), b.as_ref(), cnt, rng)
    };
    if invalid {
        return expect_err(key, "invalid input", r);
    }
    let est = match r {
        Ok(x) => x,
        Err(err) => return on_err(key, &err, false),
    };
    let mut c = Checks::new(key);
    c.check(est.shape() == (p, q), Class::WrongAnswer, || {
        format!("estimate {:?}", est.shape())
    });
    c.finite(&est, "estimate");
    let exact = a.transpose() * &b;
    let norms =
        |x: &Mat<f64>, i: usize| norm2(&(0..x.ncols()).map(|j| x[(i, j)]).collect::<Vec<_>>());
    let total: f64 = (0..m).map(|i| norms(&a, i) * norms(&b, i)).sum();
    if !priority && c.fail.is_none() {
        // Σ_t A_iᵀB_i/(c·p_i) with p_i ∝ ‖A_i‖‖B_i‖: each term's norm is Σ‖A_j‖‖B_j‖/c.
        let f = spectral(&est);
        let tol = total * (1.0 + 100.0 * m as f64 * d.u());
        c.check(f <= tol, Class::WrongAnswer, || {
            format!("‖estimate‖ = {f:e} > Σ‖A_i‖‖B_i‖ = {total:e}")
        });
    }
    if !priority && cnt == 1 && total > 0.0 && c.fail.is_none() {
        // Some row has A_i ≠ 0 and B_i ≠ 0: the one sampled term A_iᵀB_i/p_i is nonzero (with
        // more samples, terms of opposite signs may cancel exactly).
        let f = spectral(&est);
        c.check(f > 0.0, Class::WrongAnswer, || {
            format!("a zero estimate although Σ‖A_i‖‖B_i‖ = {total:e}")
        });
    }
    if priority && cnt >= m && c.fail.is_none() {
        let err = spectral(&(&est - &exact));
        let tol = 100.0 * m as f64 * F64.u * total;
        c.check(err <= tol, Class::WrongAnswer, || {
            format!("k ≥ m must be exact: error {err:e}")
        });
    }
    c.done()
}

fn accumulator_case(d: &mut D<'_, '_>) -> Outcome {
    use linops::stream::{SketchAccumulator, SketchFamily, SketchSpec};
    let key = "sketch_accumulator";
    let (m, n, dd) = (d.dim(1, 40), d.dim(1, 4), d.dim(1, 12));
    let e = d.exponent(1);
    let a = Mat::from_fn(m, n, |_, _| d.g.rng.uniform() * pow2(e));
    let gaussian = d.g.rng.below(2) == 0;
    let family = if gaussian {
        SketchFamily::Gaussian
    } else {
        SketchFamily::Rademacher
    };
    let rng = RngState::new(d.g.rng.next_u64());
    let Ok(spec) = SketchSpec::new(family, dd, m, rng) else {
        return Outcome::new(Class::ValidRejected, key, "spec");
    };
    // Blocks in random order, into two accumulators merged at the end.
    let mut cuts = vec![0, m];
    for _ in 0..d.g.rng.below(4) {
        cuts.push(d.g.rng.below(m + 1));
    }
    cuts.sort_unstable();
    cuts.dedup();
    let mut blocks: Vec<(usize, usize)> = cuts.windows(2).map(|w| (w[0], w[1])).collect();
    for i in (1..blocks.len()).rev() {
        let j = d.g.rng.below(i + 1);
        blocks.swap(i, j);
    }
    let fault = d.g.rng.below(8);
    d.g.note(&format!(
        "{key}({family:?} {dd}x{m}, A {m}x{n} (2^{e}), blocks {blocks:?}, fault {fault}) on {}",
        d.t.describe()
    ));
    let (Ok(mut acc1), Ok(mut acc2)) = (SketchAccumulator::new(spec), SketchAccumulator::new(spec))
    else {
        return Outcome::new(Class::ValidRejected, key, "new");
    };
    for (t, &(r0, r1)) in blocks.iter().enumerate() {
        let blk = a.as_ref().subrows(r0, r1 - r0);
        let acc = if t % 2 == 0 { &mut acc1 } else { &mut acc2 };
        if let Err(err) = acc.push(d.t.engine, r0, blk) {
            return on_err(key, &err, false);
        }
    }
    match fault {
        0 => {
            // Row 0 again, into the accumulator that already holds it.
            let holder = blocks.iter().position(|b| b.0 == 0).unwrap_or(0);
            let acc = if holder % 2 == 0 {
                &mut acc1
            } else {
                &mut acc2
            };
            return expect_err(
                key,
                "overlapping block",
                acc.push(d.t.engine, 0, a.as_ref().subrows(0, 1)),
            );
        }
        1 => {
            return expect_err(
                key,
                "block past m",
                acc1.push(d.t.engine, m, a.as_ref().subrows(0, 1)),
            );
        }
        2 if n > 1 && m > 1 => {
            let Ok(mut fresh) = SketchAccumulator::new(spec) else {
                return Outcome::new(Class::ValidRejected, key, "new");
            };
            if let Err(err) = fresh.push(d.t.engine, 1, a.as_ref().subrows(1, m - 1)) {
                return on_err(key, &err, false);
            }
            let narrow = a.as_ref().subrows(0, 1).subcols(0, n - 1);
            return expect_err(
                key,
                "block with another column count",
                fresh.push(d.t.engine, 0, narrow),
            );
        }
        3 if blocks.len() > 1 => {
            return expect_err(key, "finish with missing rows", acc2.finish());
        }
        _ => {}
    }
    if let Err(err) = acc1.merge(acc2) {
        return on_err(key, &err, false);
    }
    let sa = match acc1.finish() {
        Ok(x) => x,
        Err(err) => return on_err(key, &err, false),
    };
    let scale = 1.0 / (dd as f64).sqrt();
    let dist = if gaussian {
        linops_core::rng::Dist::Gaussian
    } else {
        linops_core::rng::Dist::Rademacher
    };
    let s = Mat::from_fn(dd, m, |i, j| {
        f64::from(rng.entry(dist, i as u64, j as u64)) * scale
    });
    let want = &s * &a;
    let mag =
        Mat::from_fn(dd, m, |i, j| s[(i, j)].abs()) * Mat::from_fn(m, n, |i, j| a[(i, j)].abs());
    let u = if d.t.gpu { F32.u } else { d.u() };
    // docs/ops.md: each entry within 2·(m + p + 2)·u·(|S||A|)_ij of the one-pass sketch, plus the
    // GPU's 16-ulp Gaussian entries.
    let gamma = (2.0 * (m + blocks.len() + 2) as f64 + 34.0) * u;
    let mut c = Checks::new(key);
    c.check(sa.shape() == (dd, n), Class::WrongAnswer, || {
        format!("S·A {:?}", sa.shape())
    });
    if c.fail.is_none() {
        for j in 0..n {
            for i in 0..dd {
                let err = (sa[(i, j)] - want[(i, j)]).abs();
                c.check(
                    err <= gamma * mag[(i, j)] + 1e-300,
                    Class::WrongAnswer,
                    || {
                        format!(
                            "(S·A)[{i},{j}] = {:e}, model {:e}",
                            sa[(i, j)],
                            want[(i, j)]
                        )
                    },
                );
            }
        }
    }
    c.done()
}

fn monarch_project_case(d: &mut D<'_, '_>) -> Outcome {
    use linops::LeafOp;
    use linops::op::Monarch;
    let key = "monarch_project";
    let (lb, rb) = (d.dim(1, 4), d.dim(1, 4));
    let (s, p) = (d.dim(1, 4), d.dim(1, 4));
    let (rows, cols) = (lb * s, rb * p);
    // The projection's dense form is linear in A (products of √σ factors): e in the full range.
    let e = d.exponent(1);
    let of_monarch = d.g.rng.below(2) == 0;
    let a = if of_monarch {
        let l: Vec<f64> = (0..lb * s * rb).map(|_| d.g.rng.uniform()).collect();
        let r: Vec<f64> = (0..rb * lb * p)
            .map(|_| d.g.rng.uniform() * pow2(e))
            .collect();
        match linops::op::BlockDiagonal::from_stacked(lb, s, rb, l)
            .and_then(|lf| Ok((lf, linops::op::BlockDiagonal::from_stacked(rb, lb, p, r)?)))
            .and_then(|(lf, rf)| Monarch::from_factors(lf, rf))
        {
            Ok(mo) => mo.to_dense(),
            Err(err) => return Outcome::from_valid_err("test monarch", &err),
        }
    } else {
        HostMat::from_fn(rows, cols, |_, _| d.g.rng.uniform() * pow2(e))
    };
    let bad = d.g.rng.below(10);
    let (lbb, rbb) = match bad {
        0 => (lb + 1, rb),
        1 => (0, rb),
        _ => (lb, rb),
    };
    d.g.note(&format!(
        "Monarch::project({rows}x{cols}, {lbb}, {rbb}), input {} (2^{e})",
        if of_monarch {
            "a Monarch matrix"
        } else {
            "random"
        }
    ));
    let r = Monarch::project(&a, lbb, rbb);
    if bad < 2 && (lbb == 0 || rows % lbb != 0) {
        return expect_err(key, "block counts", r);
    }
    let mo = match r {
        Ok(mo) => mo,
        Err(err) => return on_err(key, &err, false),
    };
    let pd = mo.to_dense();
    let am = Mat::from_fn(rows, cols, |i, j| a.get(i, j));
    let pm = Mat::from_fn(rows, cols, |i, j| pd.get(i, j));
    let mut c = Checks::new(key);
    c.finite(&pm, "projection");
    let fro = |x: &Mat<f64>| {
        let s = super::model::mat_max_abs(x);
        if s == 0.0 {
            0.0
        } else {
            s * (0..x.ncols())
                .map(|j| (0..x.nrows()).map(|i| (x[(i, j)] / s).powi(2)).sum::<f64>())
                .sum::<f64>()
                .sqrt()
        }
    };
    let (na, err) = (fro(&am), fro(&(&am - &pm)));
    // Exact recovery holds only for the block structure the Monarch matrix was built with.
    if of_monarch && (lbb, rbb) == (lb, rb) {
        let tol = 1e-10 * na;
        c.check(err <= tol, Class::WrongAnswer, || {
            format!("projecting a Monarch matrix: ‖P − A‖_F = {err:e} > {tol:e}")
        });
    } else {
        // Each slice's best rank-1 approximation leaves at most the slice: ‖A − P‖_F ≤ ‖A‖_F.
        c.check(err <= na * (1.0 + 1e-12), Class::WrongAnswer, || {
            format!("‖A − P‖_F = {err:e} > ‖A‖_F = {na:e}")
        });
    }
    c.done()
}

/// `col_norms`, `col_dots`, `gemm` and `axpby` on resident matrices.
fn primitives_case(d: &mut D<'_, '_>) -> Outcome {
    let (m, n) = (d.dim(1, 20), d.dim(1, 6));
    // Anywhere in the type's range, subnormals included: [−1070, 1022] or [−148, 126].
    let (lo, hi) = if d.t.prec == F64 {
        (-1070, 1022)
    } else {
        (-148, 126)
    };
    let exp = move |g: &mut Gen<'_>| {
        if g.rng.below(2) == 0 {
            0
        } else {
            lo + g.rng.below((hi - lo + 1) as usize) as i32
        }
    };
    let (ex, ey) = (exp(&mut d.g), exp(&mut d.g));
    let tiny = d.t.prec.eta;
    let is32 = d.t.prec == F32;
    let round = move |v: f64| if is32 { f64::from(v as f32) } else { v };
    let zero_col = d.g.rng.below(8) == 0;
    let x = Mat::from_fn(m, n, |_, j| {
        if zero_col && j == 0 {
            0.0
        } else {
            round(d.g.rng.uniform() * pow2(ex))
        }
    });
    let y = Mat::from_fn(m, n, |_, _| round(d.g.rng.uniform() * pow2(ey)));
    let which = d.g.rng.below(4);
    let (Ok(xm), Ok(ym)) = (upload(&d.t, &x), upload(&d.t, &y)) else {
        return Outcome::new(Class::ValidRejected, "upload", "of finite in-range data");
    };
    let max = d.t.prec.max;
    let u = d.u();
    match which {
        0 => {
            let key = "col_norms";
            d.g.note(&format!("col_norms({m}x{n}, 2^{ex}) on {}", d.t.describe()));
            let r = match d.t.engine.col_norms(&xm) {
                Ok(r) => r,
                Err(err) => return on_err(key, &err, false),
            };
            let mut c = Checks::new(key);
            for j in 0..n {
                let s = (0..m).fold(0.0f64, |a, i| a.max(x[(i, j)].abs()));
                let want = if s == 0.0 {
                    0.0
                } else {
                    s * (0..m).map(|i| (x[(i, j)] / s).powi(2)).sum::<f64>().sqrt()
                };
                let err = (r[j] - want).abs();
                let tol = 4.0 * (m + 2) as f64 * u * want + 4.0 * tiny * (m as f64).sqrt();
                if want <= max / 2.0 {
                    c.check(r[j].is_finite(), Class::NonFiniteFromFiniteInRange, || {
                        format!("column {j}: norm {} for {want:e}", r[j])
                    });
                    c.check(err <= tol, Class::WrongAnswer, || {
                        format!("column {j}: norm {:e}, exact {want:e}", r[j])
                    });
                }
            }
            c.done()
        }
        1 => {
            let key = "col_dots";
            d.g.note(&format!(
                "col_dots({m}x{n}, 2^{ex}, 2^{ey}) on {}",
                d.t.describe()
            ));
            let r = match d.t.engine.col_dots(&xm, &ym) {
                Ok(r) => r,
                Err(err) => return on_err(key, &err, false),
            };
            let mut c = Checks::new(key);
            for j in 0..n {
                let want: f64 = (0..m).map(|i| x[(i, j)] * y[(i, j)]).sum();
                let mag: f64 = (0..m).map(|i| (x[(i, j)] * y[(i, j)]).abs()).sum();
                let pmax = (0..m).fold(0.0f64, |a, i| a.max(x[(i, j)].abs()) * 1.0)
                    * (0..m).fold(0.0f64, |a, i| a.max(y[(i, j)].abs()));
                if mag <= max / 4.0 && pmax <= max / 4.0 {
                    let tol = 4.0 * (m + 2) as f64 * u * mag + 4.0 * m as f64 * tiny;
                    c.check(
                        r[j].is_finite() && (r[j] - want).abs() <= tol,
                        Class::WrongAnswer,
                        || format!("column {j}: dot {:e}, exact {want:e}", r[j]),
                    );
                }
            }
            c.done()
        }
        2 => {
            let key = "gemm";
            let alpha = [0.0, 1.0, -2.5, pow2(exp(&mut d.g)), f64::NAN][d
                .g
                .rng
                .below(5)
                .min(if d.g.rng.below(6) == 0 { 4 } else { 3 })];
            let beta = [0.0, 1.0, -0.5, 2.0][d.g.rng.below(4)];
            let (ta, tb) = (d.g.rng.below(2) == 1, d.g.rng.below(2) == 1);
            // op(A) = Xᵀ or X; op(B) so that the shapes chain (or, rarely, do not).
            let mismatch = d.g.rng.below(12) == 0;
            let (ar, ac) = if ta { (n, m) } else { (m, n) };
            let k2 = d.dim(1, 5);
            let bsh = if mismatch { (ac + 1, k2) } else { (ac, k2) };
            let bmat = Mat::from_fn(
                if tb { bsh.1 } else { bsh.0 },
                if tb { bsh.0 } else { bsh.1 },
                |_, _| round(d.g.rng.uniform() * pow2(ey)),
            );
            let cmat = Mat::from_fn(ar, k2, |_, _| round(d.g.rng.uniform()));
            let give_c = beta != 0.0 || d.g.rng.below(2) == 0;
            let missing_c = beta != 0.0 && d.g.rng.below(10) == 0;
            d.g.note(&format!("gemm(alpha {alpha:e}, X {m}x{n} (2^{ex}) trans {ta}, B {:?} (2^{ey}) trans {tb}, beta {beta}, C {}) on {}", bmat.shape(), give_c && !missing_c, d.t.describe()));
            let (Ok(bm), Ok(cm)) = (upload(&d.t, &bmat), upload(&d.t, &cmat)) else {
                return Outcome::new(Class::ValidRejected, "upload", "of finite in-range data");
            };
            let cref = if give_c && !missing_c {
                Some(&cm)
            } else {
                None
            };
            let r = d.t.engine.gemm(alpha, &xm, ta, &bm, tb, beta, cref);
            // A scalar an f32 engine cannot hold (beyond f32::MAX, or flushing to 0): a typed
            // error, or a correct result. A subnormal f32 scalar is used as rounded to f32.
            let f32_scalar =
                d.t.prec == F32 && (alpha.abs() > max || (alpha != 0.0 && alpha as f32 == 0.0));
            if mismatch || missing_c || !alpha.is_finite() {
                return expect_err(key, "shapes, missing C or non-finite alpha", r);
            }
            let alpha = if d.t.prec == F32 && !f32_scalar {
                f64::from(alpha as f32)
            } else {
                alpha
            };
            let opa = if ta {
                x.transpose().to_owned()
            } else {
                x.clone()
            };
            let opb = if tb {
                bmat.transpose().to_owned()
            } else {
                bmat.clone()
            };
            let ab_mag = Mat::from_fn(ar, ac, |i, j| opa[(i, j)].abs())
                * Mat::from_fn(ac, k2, |i, j| opb[(i, j)].abs());
            // Every intermediate of any evaluation order (α·A, α·B, A·B, α·A·B) in range; with
            // α = 0 nothing of A·B is formed (BLAS).
            let (amax, bmax) = (
                super::model::mat_max_abs(&x),
                super::model::mat_max_abs(&bmat),
            );
            let abmax = super::model::mat_max_abs(&ab_mag);
            let lim = max / (16.0 * (ac + 1) as f64);
            let in_range = alpha == 0.0
                || [
                    alpha.abs() * amax,
                    alpha.abs() * bmax,
                    abmax,
                    alpha.abs() * abmax,
                    amax * bmax,
                ]
                .iter()
                .all(|v| *v <= lim);
            let r = match r {
                Ok(r) => r,
                Err(err) if f32_scalar => return Outcome::rejected(key, &err),
                Err(err) if !in_range => {
                    return Outcome::new(Class::OutOfRange, key, err.to_string());
                }
                Err(err) => return on_err(key, &err, false),
            };
            let Ok(got) = to_f64(d.t.engine, &r) else {
                return Outcome::new(Class::ValidRejected, key, "download");
            };
            let mut c = Checks::new(if alpha == 0.0 {
                "gemm with alpha = 0"
            } else {
                key
            });
            if !in_range {
                return Outcome::new(Class::OutOfRange, key, "");
            }
            if f32_scalar {
                let ok = finite(&got);
                c.check(ok, Class::InvalidAccepted, || {
                    format!("alpha {alpha:e} beyond f32 accepted, non-finite result")
                });
                return c.done();
            }
            let ab = &opa * &opb;
            for j in 0..k2 {
                for i in 0..ar {
                    // BLAS: alpha = 0 never forms op(A)·op(B); beta = 0 never reads C.
                    let prod = if alpha == 0.0 {
                        0.0
                    } else {
                        alpha * ab[(i, j)]
                    };
                    let cc = if beta == 0.0 {
                        0.0
                    } else {
                        beta * cmat[(i, j)]
                    };
                    let want = prod + cc;
                    let mag = if alpha == 0.0 {
                        0.0
                    } else {
                        alpha.abs() * ab_mag[(i, j)]
                    } + cc.abs();
                    // The last term: a backend may scale one operand by alpha first (faer
                    // does), and alpha·b_p can underflow (error ≤ η per product, times |a_p|).
                    let tol = 4.0 * (ac + 3) as f64 * u * mag
                        + 4.0 * ac as f64 * tiny * alpha.abs().max(1.0)
                        + 4.0
                            * ac as f64
                            * tiny
                            * (super::model::mat_max_abs(&opa) + super::model::mat_max_abs(&opb));
                    let v = got[(i, j)];
                    c.check(v.is_finite(), Class::NonFiniteFromFiniteInRange, || {
                        format!("({i},{j}) = {v}, exact {want:e}")
                    });
                    c.check((v - want).abs() <= tol, Class::WrongAnswer, || {
                        format!("({i},{j}) = {v:e}, exact {want:e}")
                    });
                }
            }
            c.done()
        }
        _ => {
            let key = "axpby";
            let alpha = [1.0, -2.0, 0.0, pow2(exp(&mut d.g))][d.g.rng.below(4)];
            let beta = [1.0, 0.5, 0.0, pow2(exp(&mut d.g)), f64::INFINITY][d
                .g
                .rng
                .below(5)
                .min(if d.g.rng.below(8) == 0 { 4 } else { 3 })];
            d.g.note(&format!(
                "axpby({alpha:e}, X (2^{ex}), {beta:e}, Y (2^{ey})) on {}",
                d.t.describe()
            ));
            let r = d.t.engine.axpby(alpha, &xm, beta, &ym);
            if !beta.is_finite() {
                return expect_err(key, "non-finite beta", r);
            }
            let out = |s: f64| d.t.prec == F32 && (s.abs() > max || (s != 0.0 && s as f32 == 0.0));
            let f32_scalar = out(alpha) || out(beta);
            // A subnormal f32 scalar is used as rounded to f32.
            let r32 = |s: f64| {
                if d.t.prec == F32 && !f32_scalar {
                    f64::from(s as f32)
                } else {
                    s
                }
            };
            let (alpha, beta) = (r32(alpha), r32(beta));
            let mag =
                |i: usize, j: usize| alpha.abs() * x[(i, j)].abs() + beta.abs() * y[(i, j)].abs();
            let in_range = (0..n).all(|j| (0..m).all(|i| mag(i, j) <= max / 4.0));
            let r = match r {
                Ok(r) => r,
                Err(err) if f32_scalar => return Outcome::rejected(key, &err),
                Err(err) if !in_range => {
                    return Outcome::new(Class::OutOfRange, key, err.to_string());
                }
                Err(err) => return on_err(key, &err, false),
            };
            let Ok(got) = to_f64(d.t.engine, &r) else {
                return Outcome::new(Class::ValidRejected, key, "download");
            };
            let mut c = Checks::new(key);
            let mut worst = 0.0f64;
            for j in 0..n {
                for i in 0..m {
                    let want = alpha * x[(i, j)] + beta * y[(i, j)];
                    let tol = 4.0 * u * mag(i, j) + 4.0 * tiny;
                    let e = (got[(i, j)] - want).abs();
                    worst = worst.max(if e.is_nan() { f64::INFINITY } else { e / tol });
                }
            }
            if worst > 1.0 {
                let class = if f32_scalar {
                    Class::InvalidAccepted
                } else if !in_range {
                    Class::OutOfRange
                } else if finite(&got) {
                    Class::WrongAnswer
                } else {
                    Class::NonFiniteFromFiniteInRange
                };
                let key = if f32_scalar {
                    "axpby: scalar beyond f32 on an f32 engine"
                } else {
                    key
                };
                c.check(false, class, || format!("error {worst:e}× the bound"));
                c.key = key.into();
            }
            c.done()
        }
    }
}

/// One driver case (module docs).
pub fn case(rng: &mut Rng, engines: &Engines, trail: &mut String) -> Outcome {
    let Some(target) = engines.pick(rng, true) else {
        return Class::skipped();
    };
    let which = rng.below(26);
    let spread = 0;
    let g = Gen::new(rng, trail, spread, 16, false);
    let mut d = D { g, t: target };
    let label = d.t.describe();
    d.g.note(&format!("target {label}"));
    match which {
        0 | 1 => svd_case(&mut d, which == 1),
        2 | 3 => range_case(&mut d, which == 3),
        4 => orthonormalize_case(&mut d),
        5 | 6 => nystrom_case(&mut d, which == 6),
        7..=9 => id_case(&mut d, which - 7),
        10 | 11 => lstsq_case(&mut d, which == 11),
        12 | 13 => trace_case(&mut d, which == 13),
        14 | 15 => streaming_case(&mut d, which == 15),
        16..=18 => matfun_case(&mut d, which - 16),
        19 | 20 => amm_case(&mut d, which == 20),
        21 => accumulator_case(&mut d),
        22 => monarch_project_case(&mut d),
        _ => primitives_case(&mut d),
    }
}
