//! Random operator trees over every public constructor, built next to their dense models
//! ([`super::model`]), with broken structure, extreme and non-finite values; applied on a random
//! engine and checked.
//!
//! A case either (a) calls one constructor somewhere in the tree with invalid input (a
//! non-finite value, a wrong length, an empty or mismatched shape, a non-bijective permutation, a
//! bad CSR array, a block size that does not divide, an invalid density or weight, …) and
//! expects a typed error; or (b) builds a valid tree and applies it to a random `X` (or to a bad
//! `X`: wrong rows, NaN/Inf, no columns), comparing with the model. Parameters beyond `f32`'s
//! range are invalid for an `f32` engine (issue 15, item 5): a typed error, or a correct result
//! when the planner folded them into an in-range parameter, are both accepted.

use super::model::{self, F32, F64, Model, Precision, abs, mat_max_abs};
use super::{Class, Engines, Outcome, Target};
use crate::support::Rng;
use faer::Mat;
use linops::op::{
    BlockButterfly, BlockDiagonal, Butterfly, Csr, Dct, DenseSketch, DiagPlusLowRank,
    FlatBlockButterfly, Hadamard, Householder, Kronecker, LowRank, Monarch, Permutation,
    PixelatedButterfly, RowSampler, SparseSign, Srht, VerySparseProjection,
};
use linops::{Error, HostMat, LeafOp, Op};
use linops_core::rng::{Dist, RngState};

/// A built operator with its model.
pub struct Node {
    pub op: Op,
    pub m: Model,
}

/// `2^e`, exact over the whole `f64` exponent range (subnormals included).
pub fn pow2(e: i32) -> f64 {
    let e = e.clamp(-1074, 1023);
    if e >= -1022 {
        f64::from_bits(((e + 1023) as u64) << 52)
    } else {
        f64::from_bits(1u64 << (e + 1074))
    }
}

pub fn mat(r: usize, c: usize, data: &[f64]) -> Mat<f64> {
    Mat::from_fn(r, c, |i, j| data[i + j * r])
}

pub fn host(r: usize, c: usize, data: &[f64]) -> HostMat {
    HostMat::new(r, c, data.to_vec()).expect("length r·c")
}

fn leaf<L: LeafOp + 'static>(r: Result<L, Error>) -> Result<Op, Error> {
    r.map(Op::leaf)
}

/// Random generation state of one case.
pub struct Gen<'a> {
    pub rng: &'a mut Rng,
    trail: &'a mut String,
    /// Exponent spread of parameter values (0: values in [-1, 1)).
    pub spread: i32,
    want_broken: bool,
    /// Decided during construction: a broken call's result, or a valid call that failed.
    pub decided: Option<Outcome>,
    nodes: usize,
    pub max_dim: usize,
}

impl<'a> Gen<'a> {
    pub fn new(
        rng: &'a mut Rng,
        trail: &'a mut String,
        spread: i32,
        max_dim: usize,
        want_broken: bool,
    ) -> Gen<'a> {
        Gen {
            rng,
            trail,
            spread,
            want_broken,
            decided: None,
            nodes: 0,
            max_dim,
        }
    }

    pub fn note(&mut self, s: &str) {
        if !self.trail.is_empty() {
            self.trail.push_str("; ");
        }
        self.trail.push_str(s);
    }

    fn below(&mut self, n: usize) -> usize {
        self.rng.below(n.max(1))
    }

    fn coin(&mut self, one_in: usize) -> bool {
        self.rng.below(one_in.max(1)) == 0
    }

    fn should_break(&mut self) -> bool {
        self.want_broken && self.decided.is_none() && self.coin(3)
    }

    fn exp(&mut self) -> i32 {
        if self.spread == 0 {
            0
        } else {
            self.rng.below(2 * self.spread as usize + 1) as i32 - self.spread
        }
    }

    /// `n` parameter values: uniform in [-1, 1) times `2^e` (one `e` per call, or one per entry),
    /// with occasional zeros, signed zeros and subnormals when the case spreads exponents.
    pub fn vals(&mut self, n: usize) -> Vec<f64> {
        let e = self.exp();
        let wide = self.spread > 0 && self.coin(4);
        (0..n)
            .map(|_| {
                if self.spread > 0 && self.coin(40) {
                    return [0.0, -0.0, f64::MIN_POSITIVE, 5e-324, 1.0][self.below(5)];
                }
                let e = if wide { self.exp() } else { e };
                self.rng.uniform() * pow2(e)
            })
            .collect()
    }

    /// Values bounded away from zero (for weights, scales and reflectors that must not vanish).
    fn nonzero_vals(&mut self, n: usize) -> Vec<f64> {
        let mut v = self.vals(n);
        for x in &mut v {
            if *x == 0.0 {
                *x = 1.0;
            }
        }
        v
    }

    fn poison(&mut self, v: &mut [f64]) -> f64 {
        let bad = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY][self.below(3)];
        if !v.is_empty() {
            let i = self.below(v.len());
            v[i] = bad;
        }
        bad
    }

    fn rng_state(&mut self) -> RngState {
        if self.coin(4) {
            // Counters near the carry of every word.
            let w =
                |g: &mut Self| [0, 1, u32::MAX, u32::MAX - 3, g.rng.next_u64() as u32][g.below(5)];
            let counter = [w(self), w(self), w(self), w(self)];
            RngState::with_counter(counter, [self.rng.next_u64() as u32, 7])
        } else {
            RngState::new(self.rng.next_u64())
        }
    }

    /// A constructor call on valid input: its op, or the decided outcome when it failed.
    fn accept(&mut self, what: &str, r: Result<Op, Error>, m: Model) -> Option<Node> {
        match r {
            Ok(op) => {
                if op.shape() != m.shape() {
                    self.decided = Some(Outcome::new(
                        Class::WrongAnswer,
                        what,
                        format!("shape {:?}, the model says {:?}", op.shape(), m.shape()),
                    ));
                    return None;
                }
                Some(Node { op, m })
            }
            Err(e) => {
                self.decided = Some(Outcome::from_valid_err(what, &e));
                None
            }
        }
    }

    /// A constructor call on invalid input: it must return a typed error.
    fn reject(&mut self, what: &str, r: Result<Op, Error>) -> Option<Node> {
        self.decided = Some(match r {
            Ok(op) => Outcome::new(
                Class::InvalidAccepted,
                what,
                format!("returned Ok({})", op.describe()),
            ),
            Err(e) => Outcome::rejected(what, &e),
        });
        None
    }

    /// Notes `desc` on the trail, then builds: `reject` for a broken call, `accept` otherwise.
    fn call(
        &mut self,
        what: &str,
        desc: String,
        broken: bool,
        build: impl FnOnce() -> Result<Op, Error>,
        m: impl FnOnce() -> Model,
    ) -> Option<Node> {
        self.note(&format!(
            "{}{what}{desc}",
            if broken { "BROKEN " } else { "" }
        ));
        let r = build();
        if broken {
            self.reject(what, r)
        } else {
            let m = m();
            self.accept(what, r, m)
        }
    }

    /// A random operator of shape `r×c` at most `depth` compositions deep.
    pub fn node(&mut self, r: usize, c: usize, depth: usize) -> Option<Node> {
        self.nodes += 1;
        if depth == 0 || self.nodes > 10 || self.coin(3) {
            return self.leaf(r, c);
        }
        match self.below(5) {
            0 => {
                let n = self.node(c, r, depth - 1)?;
                self.note("t");
                Some(Node {
                    op: n.op.t(),
                    m: n.m.t(),
                })
            }
            1 => self.scaled(r, c, depth),
            2 => self.product(r, c, depth),
            3 => self.sum(r, c, depth),
            _ => self.kronecker(r, c, depth),
        }
    }

    fn scaled(&mut self, r: usize, c: usize, depth: usize) -> Option<Node> {
        let n = self.node(r, c, depth - 1)?;
        let broken = self.should_break();
        let s = if broken {
            [f64::NAN, f64::INFINITY, f64::NEG_INFINITY][self.below(3)]
        } else if self.coin(6) {
            [0.0, -1.0, 2.0, 0.5][self.below(4)]
        } else {
            self.nonzero_vals(1)[0]
        };
        let op = n.op;
        self.call(
            "scaled",
            format!("({s:e})"),
            broken,
            || op.scaled(s),
            || n.m.scaled(s),
        )
    }

    fn dim(&mut self) -> usize {
        let max = self.max_dim;
        let d = [1, 2, 3, 4, 5, 7, 8, 9, 16, 17][self.below(10)];
        d.min(max)
    }

    fn product(&mut self, r: usize, c: usize, depth: usize) -> Option<Node> {
        let k = self.below(2) + 2;
        let mut dims = vec![r];
        for _ in 1..k {
            let d = self.dim();
            dims.push(d);
        }
        dims.push(c);
        let mut nodes = Vec::new();
        for w in dims.windows(2) {
            nodes.push(self.node(w[0], w[1], depth - 1)?);
        }
        if self.should_break() {
            if self.coin(3) {
                return self.call(
                    "product",
                    "([])".into(),
                    true,
                    || Op::product(vec![]),
                    || unreachable!(),
                );
            }
            // A factor whose rows differ from the columns of its left neighbour.
            let i = 1 + self.below(nodes.len() - 1);
            let (fr, fc) = nodes[i].m.shape();
            let bad = self.node(fr + 1, fc, 0)?;
            nodes[i] = bad;
            let ops: Vec<Op> = nodes.into_iter().map(|n| n.op).collect();
            return self.call(
                "product",
                format!("(factor {i} with {} rows)", fr + 1),
                true,
                || Op::product(ops),
                || unreachable!(),
            );
        }
        let (ops, ms): (Vec<Op>, Vec<Model>) = nodes.into_iter().map(|n| (n.op, n.m)).unzip();
        self.call(
            "product",
            format!("({} factors)", ops.len()),
            false,
            || Op::product(ops),
            || Model::product(ms),
        )
    }

    fn sum(&mut self, r: usize, c: usize, depth: usize) -> Option<Node> {
        let k = self.below(2) + 2;
        let mut nodes = Vec::new();
        for _ in 0..k {
            nodes.push(self.node(r, c, depth - 1)?);
        }
        if self.should_break() {
            if self.coin(3) {
                return self.call(
                    "sum",
                    "([])".into(),
                    true,
                    || Op::sum(vec![]),
                    || unreachable!(),
                );
            }
            let bad = if self.coin(2) {
                self.node(r + 1, c, 0)?
            } else {
                self.node(r, c + 1, 0)?
            };
            let mut ops: Vec<Op> = nodes.into_iter().map(|n| n.op).collect();
            let at = self.below(ops.len() + 1);
            ops.insert(at, bad.op);
            return self.call(
                "sum",
                format!("(term {at} of another shape)"),
                true,
                || Op::sum(ops),
                || unreachable!(),
            );
        }
        let (ops, ms): (Vec<Op>, Vec<Model>) = nodes.into_iter().map(|n| (n.op, n.m)).unzip();
        self.call(
            "sum",
            format!("({} terms)", ops.len()),
            false,
            || Op::sum(ops),
            || Model::sum(ms),
        )
    }

    fn divisor(&mut self, n: usize) -> usize {
        let ds: Vec<usize> = (1..=n).filter(|d| n.is_multiple_of(*d)).collect();
        ds[self.below(ds.len())]
    }

    fn kronecker(&mut self, r: usize, c: usize, depth: usize) -> Option<Node> {
        if self.should_break() {
            return self.call(
                "kronecker",
                "([])".into(),
                true,
                || leaf(Kronecker::new(vec![])),
                || unreachable!(),
            );
        }
        let (r1, c1) = (self.divisor(r), self.divisor(c));
        let a = self.node(r1, c1, depth - 1)?;
        let b = self.node(r / r1, c / c1, depth - 1)?;
        let mut nodes = vec![a, b];
        if self.coin(4) {
            // A trailing 1×1 factor (a scalar), or an identity of size 1.
            nodes.push(self.node(1, 1, 0)?);
        }
        let (ops, ms): (Vec<Op>, Vec<Model>) = nodes.into_iter().map(|n| (n.op, n.m)).unzip();
        self.call(
            "kronecker",
            format!("({} factors)", ops.len()),
            false,
            || leaf(Kronecker::new(ops)),
            || Model::kronecker(ms),
        )
    }

    /// A random leaf family that has an `r×c` member.
    pub fn leaf(&mut self, r: usize, c: usize) -> Option<Node> {
        type Make<'g> = fn(&mut Gen<'g>, usize, usize) -> Option<Node>;
        let mut fams: Vec<Make<'a>> = vec![
            Gen::dense,
            Gen::csr,
            Gen::low_rank,
            Gen::block_diagonal,
            Gen::monarch,
            Gen::dense_sketch,
            Gen::sparse_sign,
            Gen::very_sparse,
            Gen::srht,
            Gen::row_sampler,
            Gen::sketch_spec,
        ];
        if r == c {
            fams.extend([
                Gen::identity as Make<'a>,
                Gen::diagonal,
                Gen::permutation,
                Gen::householder,
                Gen::diag_plus_low_rank,
                Gen::dct,
                Gen::dense,
                Gen::diagonal,
            ]);
            if r.is_power_of_two() {
                fams.extend([Gen::hadamard as Make<'a>, Gen::butterfly, Gen::butterfly]);
            }
            let b = (r as f64).sqrt().round() as usize;
            if b * b == r {
                fams.push(Gen::monarch_square);
            }
        }
        if r == c.next_power_of_two() || c == r.next_power_of_two() {
            fams.push(Gen::hadamard_padded);
        }
        let f = fams[self.below(fams.len())];
        f(self, r, c)
    }

    fn dense(&mut self, r: usize, c: usize) -> Option<Node> {
        let mut data = self.vals(r * c);
        let broken = self.should_break();
        let how = self.below(3);
        if broken {
            match self.below(3) {
                0 => {
                    let bad = self.poison(&mut data);
                    let d = data.clone();
                    return self.call(
                        "dense",
                        format!("({r}x{c} with {bad})"),
                        true,
                        || Op::dense(r, c, d),
                        || unreachable!(),
                    );
                }
                1 => {
                    let extra = if self.coin(2) || data.is_empty() {
                        data.push(1.0);
                        "one more"
                    } else {
                        data.pop();
                        "one fewer"
                    };
                    return self.call(
                        "dense",
                        format!("({r}x{c} with {extra} value)"),
                        true,
                        || Op::dense(r, c, data),
                        || unreachable!(),
                    );
                }
                _ => {
                    let (rr, cc) = if self.coin(2) { (0, c) } else { (r, 0) };
                    return self.call(
                        "dense",
                        format!("({rr}x{cc})"),
                        true,
                        || Op::dense(rr, cc, vec![]),
                        || unreachable!(),
                    );
                }
            }
        }
        let m = mat(r, c, &data);
        let d2 = data.clone();
        self.call(
            "dense",
            format!(
                "({r}x{c} via {})",
                ["Op::dense", "Op::from_host", "linops::dense"][how]
            ),
            false,
            move || match how {
                0 => Op::dense(r, c, d2),
                1 => Op::from_host(host(r, c, &d2)),
                _ => linops::dense(mat(r, c, &d2).as_ref()),
            },
            || Model::single(m, 0.0, &data),
        )
    }

    fn identity(&mut self, n: usize, _: usize) -> Option<Node> {
        if self.should_break() {
            return self.call(
                "identity",
                "(0)".into(),
                true,
                || Op::identity(0),
                || unreachable!(),
            );
        }
        self.call(
            "identity",
            format!("({n})"),
            false,
            || Op::identity(n),
            || Model::single(Mat::identity(n, n), 0.0, &[1.0]),
        )
    }

    fn diagonal(&mut self, n: usize, _: usize) -> Option<Node> {
        let mut d = self.vals(n);
        if self.should_break() {
            if self.coin(2) {
                return self.call(
                    "diagonal",
                    "([])".into(),
                    true,
                    || Op::diagonal(vec![]),
                    || unreachable!(),
                );
            }
            let bad = self.poison(&mut d);
            return self.call(
                "diagonal",
                format!("({n} with {bad})"),
                true,
                || Op::diagonal(d),
                || unreachable!(),
            );
        }
        let m = Mat::from_fn(n, n, |i, j| if i == j { d[i] } else { 0.0 });
        let d2 = d.clone();
        self.call(
            "diagonal",
            format!("({n})"),
            false,
            || Op::diagonal(d2),
            || Model::single(m, 0.0, &d),
        )
    }

    fn permutation(&mut self, n: usize, _: usize) -> Option<Node> {
        let mut perm: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let j = self.below(i + 1);
            perm.swap(i, j);
        }
        if self.should_break() {
            match self.below(4) {
                0 if n >= 2 => {
                    let (i, j) = (self.below(n), self.below(n));
                    let j = if i == j { (j + 1) % n } else { j };
                    perm[i] = perm[j];
                    return self.call(
                        "permutation",
                        format!("({perm:?}: repeated index)"),
                        true,
                        || leaf(Permutation::new(perm)),
                        || unreachable!(),
                    );
                }
                1 => {
                    let i = self.below(n);
                    perm[i] = n + self.below(3);
                    return self.call(
                        "permutation",
                        format!("({perm:?}: index out of range)"),
                        true,
                        || leaf(Permutation::new(perm)),
                        || unreachable!(),
                    );
                }
                2 => {
                    let (a, b) = if self.coin(2) { (0, n) } else { (n, 0) };
                    return self.call(
                        "perfect_shuffle",
                        format!("({a}, {b})"),
                        true,
                        || leaf(Permutation::perfect_shuffle(a, b)),
                        || unreachable!(),
                    );
                }
                _ => {
                    return self.call(
                        "permutation",
                        "([])".into(),
                        true,
                        || leaf(Permutation::new(vec![])),
                        || unreachable!(),
                    );
                }
            }
        }
        match self.below(3) {
            0 => {
                let a = self.divisor(n);
                let b = n / a;
                // (S·x)[j + i·b] = x[i + j·a] for i < a, j < b.
                let mut m = Mat::zeros(n, n);
                for i in 0..a {
                    for j in 0..b {
                        m[(j + i * b, i + j * a)] = 1.0;
                    }
                }
                self.call(
                    "perfect_shuffle",
                    format!("({a}, {b})"),
                    false,
                    || leaf(Permutation::perfect_shuffle(a, b)),
                    || Model::single(m, 0.0, &[1.0]),
                )
            }
            k => {
                let inverse = k == 2;
                let mut m = Mat::zeros(n, n);
                for (i, &p) in perm.iter().enumerate() {
                    if inverse {
                        m[(p, i)] = 1.0;
                    } else {
                        m[(i, p)] = 1.0;
                    }
                }
                let p2 = perm.clone();
                self.call(
                    if inverse {
                        "permutation.inverse"
                    } else {
                        "permutation"
                    },
                    format!("({perm:?})"),
                    false,
                    move || {
                        let p = Permutation::new(p2)?;
                        Ok(Op::leaf(if inverse { p.inverse() } else { p }))
                    },
                    || Model::single(m, 0.0, &[1.0]),
                )
            }
        }
    }

    fn csr(&mut self, r: usize, c: usize) -> Option<Node> {
        let nnz = self.below(r * c + 3);
        let vals = self.vals(nnz);
        let mut trip: Vec<(usize, usize, f64)> = (0..nnz)
            .map(|t| (self.below(r), self.below(c), vals[t]))
            .collect();
        if self.coin(3) && !trip.is_empty() {
            // A duplicate of an existing entry (summed), possibly cancelling it.
            let t = trip[self.below(trip.len())];
            trip.push((t.0, t.1, if self.coin(2) { -t.2 } else { t.2 }));
        }
        let by_triplets = self.coin(2);
        // The arrays of `Csr::new`: rows in order, entries of a row in input order.
        let mut sorted = trip.clone();
        sorted.sort_by_key(|t| t.0);
        let mut indptr = vec![0usize; r + 1];
        for t in &sorted {
            indptr[t.0 + 1] += 1;
        }
        for i in 0..r {
            indptr[i + 1] += indptr[i];
        }
        let mut indices: Vec<usize> = sorted.iter().map(|t| t.1).collect();
        let mut values: Vec<f64> = sorted.iter().map(|t| t.2).collect();
        // The model sums duplicates in input order (the documented normalization).
        let mut m = Mat::<f64>::zeros(r, c);
        for t in &sorted {
            m[(t.0, t.1)] += t.2;
        }
        let overflow = (0..c).any(|j| (0..r).any(|i| !m[(i, j)].is_finite()));
        if self.should_break() || overflow {
            let why;
            let res = if overflow {
                why = "duplicates summing to ±inf".to_string();
                leaf(Csr::new(r, c, indptr, indices, values))
            } else {
                match self.below(8) {
                    0 => {
                        indptr.push(nnz);
                        why = "indptr of rows + 2 entries".into();
                        leaf(Csr::new(r, c, indptr, indices, values))
                    }
                    1 => {
                        indptr[0] = 1;
                        why = "indptr[0] = 1".into();
                        leaf(Csr::new(r, c, indptr, indices, values))
                    }
                    2 if r >= 2 => {
                        indptr[1] = values.len() + 1;
                        why = format!("decreasing indptr {indptr:?}");
                        leaf(Csr::new(r, c, indptr, indices, values))
                    }
                    3 => {
                        indices.push(0);
                        why = "one more index than values".into();
                        leaf(Csr::new(r, c, indptr, indices, values))
                    }
                    4 if !indices.is_empty() => {
                        let i = self.below(indices.len());
                        indices[i] = c + self.below(3);
                        why = format!("column index {} of {c}", indices[i]);
                        leaf(Csr::new(r, c, indptr, indices, values))
                    }
                    5 if !values.is_empty() => {
                        let bad = self.poison(&mut values);
                        why = format!("value {bad}");
                        leaf(Csr::new(r, c, indptr, indices, values))
                    }
                    6 => {
                        trip.push((r + self.below(2), 0, 1.0));
                        why = "triplet row out of range".into();
                        leaf(Csr::from_triplets(r, c, &trip))
                    }
                    _ => {
                        let (rr, cc) = if self.coin(2) { (0, c) } else { (r, 0) };
                        why = format!("{rr}x{cc}");
                        leaf(Csr::from_triplets(rr, cc, &[]))
                    }
                }
            };
            self.note(&format!("BROKEN csr({r}x{c}, {why})"));
            return self.reject("csr", res);
        }
        let trip2 = trip.clone();
        self.call(
            "csr",
            format!(
                "({r}x{c}, {} via {}: {trip:?})",
                trip.len(),
                if by_triplets { "from_triplets" } else { "new" }
            ),
            false,
            move || {
                if by_triplets {
                    leaf(Csr::from_triplets(r, c, &trip2))
                } else {
                    leaf(Csr::new(r, c, indptr, indices, values))
                }
            },
            // Both constructors store the summed duplicates (`Csr::new` normalizes too): those
            // (the dense entries) are the parameters an engine converts, not the individual
            // values given.
            || Model::single(m, 0.0, &[]),
        )
    }

    fn low_rank(&mut self, r: usize, c: usize) -> Option<Node> {
        let k = 1 + self.below(r.min(c));
        let (u, mut s, v) = (self.vals(r * k), self.vals(k), self.vals(c * k));
        if self.should_break() {
            let (what, res) = match self.below(3) {
                0 => {
                    let kk = r.min(c) + 1;
                    (
                        format!("rank {kk} > min({r}, {c})"),
                        leaf(LowRank::new(
                            HostMat::zeros(r, kk),
                            vec![1.0; kk],
                            HostMat::zeros(c, kk),
                        )),
                    )
                }
                1 => {
                    s.push(1.0);
                    (
                        format!("{} weights for rank {k}", s.len()),
                        leaf(LowRank::new(host(r, k, &u), s, host(c, k, &v))),
                    )
                }
                _ => {
                    let bad = self.poison(&mut s);
                    (
                        format!("weight {bad}"),
                        leaf(LowRank::new(host(r, k, &u), s, host(c, k, &v))),
                    )
                }
            };
            self.note(&format!("BROKEN low_rank({r}x{c}, {what})"));
            return self.reject("low_rank", res);
        }
        let (um, vm) = (mat(r, k, &u), mat(c, k, &v));
        let sm = Mat::from_fn(k, k, |i, j| if i == j { s[i] } else { 0.0 });
        let a = &um * &sm * vm.transpose();
        let (ua, sa, vta) = (abs(&um), abs(&sm), abs(&vm.transpose().to_owned()));
        let mag = &ua * &sa * &vta;
        let params: Vec<f64> = u.iter().chain(&s).chain(&v).copied().collect();
        let (u2, s2, v2) = (u.clone(), s.clone(), v.clone());
        self.call(
            "low_rank",
            format!("({r}x{c}, rank {k})"),
            false,
            move || leaf(LowRank::new(host(r, k, &u2), s2, host(c, k, &v2))),
            || Model::chain(a, mag, &[&ua, &sa, &vta], 0.0, &params),
        )
    }

    fn diag_plus_low_rank(&mut self, n: usize, _: usize) -> Option<Node> {
        let k = 1 + self.below(n.min(4));
        let (mut d, u, v) = (self.vals(n), self.vals(n * k), self.vals(n * k));
        if self.should_break() {
            let (what, res) = match self.below(3) {
                0 => (
                    format!("U of {}x{k}", n + 1),
                    leaf(DiagPlusLowRank::new(
                        d,
                        HostMat::zeros(n + 1, k),
                        host(n, k, &v),
                    )),
                ),
                1 => (
                    format!("rank {} > n = {n}", n + 1),
                    leaf(DiagPlusLowRank::new(
                        d,
                        HostMat::zeros(n, n + 1),
                        HostMat::zeros(n, n + 1),
                    )),
                ),
                _ => {
                    let bad = self.poison(&mut d);
                    (
                        format!("diagonal entry {bad}"),
                        leaf(DiagPlusLowRank::new(d, host(n, k, &u), host(n, k, &v))),
                    )
                }
            };
            self.note(&format!("BROKEN diag_plus_low_rank({n}, {what})"));
            return self.reject("diag_plus_low_rank", res);
        }
        let (um, vtm) = (mat(n, k, &u), mat(n, k, &v).transpose().to_owned());
        let dm = Mat::from_fn(n, n, |i, j| if i == j { d[i] } else { 0.0 });
        let a = &dm + &um * &vtm;
        let (ua, vta) = (abs(&um), abs(&vtm));
        let mag = abs(&dm) + &ua * &vta;
        let params: Vec<f64> = d.iter().chain(&u).chain(&v).copied().collect();
        let (d2, u2, v2) = (d.clone(), u.clone(), v.clone());
        self.call(
            "diag_plus_low_rank",
            format!("({n}, rank {k})"),
            false,
            move || leaf(DiagPlusLowRank::new(d2, host(n, k, &u2), host(n, k, &v2))),
            || Model::chain(a, mag, &[&ua, &vta], 1.0, &params),
        )
    }

    fn common_divisor(&mut self, r: usize, c: usize) -> usize {
        let ds: Vec<usize> = (1..=r.min(c))
            .filter(|d| r.is_multiple_of(*d) && c.is_multiple_of(*d))
            .collect();
        ds[self.below(ds.len())]
    }

    fn block_diagonal(&mut self, r: usize, c: usize) -> Option<Node> {
        let b = self.common_divisor(r, c);
        let (p, q) = (r / b, c / b);
        let mut data = self.vals(b * p * q);
        if self.should_break() {
            let (what, res) = match self.below(4) {
                0 => ("no blocks".to_string(), leaf(BlockDiagonal::new(vec![]))),
                1 => {
                    let mut blocks: Vec<HostMat> = (0..b)
                        .map(|t| host(p, q, &data[t * p * q..(t + 1) * p * q]))
                        .collect();
                    blocks.push(HostMat::zeros(p + 1, q));
                    (
                        format!("a block of {}x{q} among {p}x{q}", p + 1),
                        leaf(BlockDiagonal::new(blocks)),
                    )
                }
                2 => {
                    data.push(0.0);
                    (
                        "stacked data one too long".into(),
                        leaf(BlockDiagonal::from_stacked(b, p, q, data)),
                    )
                }
                _ => {
                    let bad = self.poison(&mut data);
                    (
                        format!("value {bad}"),
                        leaf(BlockDiagonal::from_stacked(b, p, q, data)),
                    )
                }
            };
            self.note(&format!(
                "BROKEN block_diagonal({b} blocks of {p}x{q}, {what})"
            ));
            return self.reject("block_diagonal", res);
        }
        let mut m = Mat::zeros(r, c);
        for t in 0..b {
            for j in 0..q {
                for i in 0..p {
                    m[(t * p + i, t * q + j)] = data[t * p * q + i + j * p];
                }
            }
        }
        let stacked = self.coin(2);
        let d2 = data.clone();
        self.call(
            "block_diagonal",
            format!("({b} blocks of {p}x{q})"),
            false,
            move || {
                if stacked {
                    leaf(BlockDiagonal::from_stacked(b, p, q, d2))
                } else {
                    leaf(BlockDiagonal::new(
                        (0..b)
                            .map(|t| host(p, q, &d2[t * p * q..(t + 1) * p * q]))
                            .collect(),
                    ))
                }
            },
            || Model::single(m, 0.0, &data),
        )
    }

    /// The Monarch model `M[σ·b₂ + l, t·p + j] = L_l[σ, t]·R_t[l, j]` with its factor magnitudes.
    fn monarch_model(l: &[Vec<f64>], r: &[Vec<f64>], s: usize, p: usize) -> Model {
        let (b2, b1) = (l.len(), r.len());
        let a = Mat::from_fn(b2 * s, b1 * p, |row, col| {
            let (sg, li) = (row / b2, row % b2);
            let (t, j) = (col / p, col % p);
            l[li][sg + t * s] * r[t][li + j * b2]
        });
        let lbd = Mat::from_fn(b2 * s, b2 * b1, |i, j| {
            if i / s == j / b1 {
                l[i / s][i % s + (j % b1) * s].abs()
            } else {
                0.0
            }
        });
        let rbd = Mat::from_fn(b1 * b2, b1 * p, |i, j| {
            if i / b2 == j / p {
                r[i / b2][i % b2 + (j % p) * b2].abs()
            } else {
                0.0
            }
        });
        let params: Vec<f64> = l.iter().chain(r).flatten().copied().collect();
        let mag = abs(&a);
        Model::chain(a, mag, &[&lbd, &rbd], 0.0, &params)
    }

    fn monarch(&mut self, rows: usize, cols: usize) -> Option<Node> {
        let (b2, b1) = (self.divisor(rows), self.divisor(cols));
        let (s, p) = (rows / b2, cols / b1);
        let l: Vec<Vec<f64>> = (0..b2).map(|_| self.vals(s * b1)).collect();
        let mut r: Vec<Vec<f64>> = (0..b1).map(|_| self.vals(b2 * p)).collect();
        if self.should_break() {
            let lb: Vec<HostMat> = l.iter().map(|d| host(s, b1, d)).collect();
            let (what, res) = match self.below(3) {
                0 => {
                    // R blocks with b₂ + 1 rows: the factors do not chain.
                    let rb = vec![HostMat::zeros(b2 + 1, p); b1];
                    (
                        "R blocks with b2 + 1 rows".to_string(),
                        leaf(Monarch::new(lb, rb)),
                    )
                }
                1 => ("no R blocks".into(), leaf(Monarch::new(lb, vec![]))),
                _ => {
                    let bad = self.poison(&mut r[0]);
                    let rb = r.iter().map(|d| host(b2, p, d)).collect();
                    (format!("R value {bad}"), leaf(Monarch::new(lb, rb)))
                }
            };
            self.note(&format!(
                "BROKEN monarch({rows}x{cols}, b1 {b1}, b2 {b2}, {what})"
            ));
            return self.reject("monarch", res);
        }
        let via_factors = self.coin(2);
        let m = Self::monarch_model(&l, &r, s, p);
        self.call(
            "monarch",
            format!(
                "({rows}x{cols}: {b2} L blocks of {s}x{b1}, {b1} R blocks of {b2}x{p}{})",
                if via_factors { ", from_factors" } else { "" }
            ),
            false,
            move || {
                if via_factors {
                    let lf = BlockDiagonal::from_stacked(b2, s, b1, l.concat())?;
                    let rf = BlockDiagonal::from_stacked(b1, b2, p, r.concat())?;
                    leaf(Monarch::from_factors(lf, rf))
                } else {
                    leaf(Monarch::new(
                        l.iter().map(|d| host(s, b1, d)).collect(),
                        r.iter().map(|d| host(b2, p, d)).collect(),
                    ))
                }
            },
            || m,
        )
    }

    fn monarch_square(&mut self, n: usize, _: usize) -> Option<Node> {
        let b = (n as f64).sqrt().round() as usize;
        let (lv, mut rv) = (self.vals(b * b * b), self.vals(b * b * b));
        if self.should_break() {
            let bad = self.poison(&mut rv);
            return self.call(
                "monarch_square",
                format!("({b}, R value {bad})"),
                true,
                || leaf(Monarch::square(b, lv, rv)),
                || unreachable!(),
            );
        }
        let l: Vec<Vec<f64>> = lv.chunks(b * b).map(<[f64]>::to_vec).collect();
        let r: Vec<Vec<f64>> = rv.chunks(b * b).map(<[f64]>::to_vec).collect();
        let m = Self::monarch_model(&l, &r, b, b);
        let to_factors = self.coin(3);
        self.call(
            "monarch_square",
            format!("({b}{})", if to_factors { ", to_factors" } else { "" }),
            false,
            move || {
                let mo = Monarch::square(b, lv, rv)?;
                Ok(if to_factors {
                    mo.to_factors()
                } else {
                    Op::leaf(mo)
                })
            },
            || m,
        )
    }

    fn householder(&mut self, n: usize, _: usize) -> Option<Node> {
        let k = 1 + self.below(n.min(5));
        let mut v = self.nonzero_vals(n * k);
        let from_vectors = self.coin(2);
        // τ: orthogonal (2/‖v‖²), zero (an identity factor), or arbitrary.
        let tau: Vec<f64> = (0..k)
            .map(|i| {
                let nrm2: f64 = v[i * n..(i + 1) * n].iter().map(|x| x * x).sum();
                let t = match self.below(4) {
                    0 => 0.0,
                    1 => self.vals(1)[0],
                    _ => 2.0 / nrm2,
                };
                if t.is_finite() { t } else { 1.0 }
            })
            .collect();
        if self.should_break() {
            let (what, res) = match self.below(4) {
                0 => {
                    let i = self.below(k);
                    v[i * n..(i + 1) * n].iter_mut().for_each(|x| *x = 0.0);
                    (
                        format!("reflector {i} zero"),
                        if from_vectors {
                            leaf(Householder::from_vectors(n, k, v))
                        } else {
                            leaf(Householder::new(n, k, v, tau))
                        },
                    )
                }
                1 => {
                    v.push(1.0);
                    (
                        "n·k + 1 values".into(),
                        leaf(Householder::new(n, k, v, tau)),
                    )
                }
                2 => {
                    let mut t = tau;
                    t.push(1.0);
                    ("k + 1 taus".into(), leaf(Householder::new(n, k, v, t)))
                }
                _ => {
                    let bad = self.poison(&mut v);
                    (format!("value {bad}"), leaf(Householder::new(n, k, v, tau)))
                }
            };
            self.note(&format!("BROKEN householder({n}, {k}, {what})"));
            return self.reject("householder", res);
        }
        // from_vectors takes any finite nonzero vectors: the leaf scales each by a power of two
        // to max|v_i| ∈ [1, 2) before forming ‖v_i‖², so the model uses that scaled form. For
        // `new`, τ_i·max|v_i|² beyond f64 means entries of H beyond f64: a refusal.
        let mut tau_used = tau.clone();
        let mut out_of_range = false;
        let mut vm = v.clone();
        for (i, t) in tau_used.iter_mut().enumerate() {
            let col = &mut vm[i * n..(i + 1) * n];
            let top = col.iter().fold(0.0f64, |a, x| a.max(x.abs()));
            let e = top.log2().floor() as i32;
            if from_vectors {
                let s = pow2(-e);
                col.iter_mut().for_each(|x| *x *= s);
                *t = 2.0 / col.iter().map(|x| x * x).sum::<f64>();
            } else if !(*t * pow2(e) * pow2(e)).is_finite() {
                out_of_range = true;
            }
        }
        if out_of_range {
            let desc = format!("({n}, {k}, tau {tau:?}, τ·max|v|² beyond f64)");
            self.note(&format!("householder{desc}"));
            return self.reject("householder", leaf(Householder::new(n, k, v, tau)));
        }
        let m = householder_model(n, k, &vm, &tau_used);
        let (v2, t2) = (v.clone(), tau.clone());
        self.call(
            if from_vectors {
                "householder.from_vectors"
            } else {
                "householder"
            },
            format!("({n}, {k}, tau {tau_used:?})"),
            false,
            move || {
                if from_vectors {
                    leaf(Householder::from_vectors(n, k, v2))
                } else {
                    leaf(Householder::new(n, k, v2, t2))
                }
            },
            || m,
        )
    }

    fn hadamard(&mut self, n: usize, _: usize) -> Option<Node> {
        if self.should_break() {
            // 36 = 12·3: not m·2^k for m ∈ {1, 12, 20, 28} (12 itself is a valid length).
            let bad = [0, 3, 6, 36, n + 1][self.below(5)];
            if !bad.is_power_of_two() {
                return self.call(
                    "hadamard",
                    format!("({bad})"),
                    true,
                    || leaf(Hadamard::new(bad)),
                    || unreachable!(),
                );
            }
        }
        self.call(
            "hadamard",
            format!("({n})"),
            false,
            || leaf(Hadamard::new(n)),
            || hadamard_model(n, n),
        )
    }

    fn hadamard_padded(&mut self, r: usize, c: usize) -> Option<Node> {
        if self.should_break() {
            return self.call(
                "hadamard_padded",
                "(0)".into(),
                true,
                || leaf(Hadamard::padded(0)),
                || unreachable!(),
            );
        }
        if r == c.next_power_of_two() {
            self.call(
                "hadamard_padded",
                format!("({c})"),
                false,
                || leaf(Hadamard::padded(c)),
                || hadamard_model(r, c),
            )
        } else {
            self.call(
                "hadamard_padded",
                format!("({r})ᵀ"),
                false,
                || Ok(leaf(Hadamard::padded(r))?.t()),
                || hadamard_model(c, r).t(),
            )
        }
    }

    fn dct(&mut self, n: usize, _: usize) -> Option<Node> {
        if self.should_break() {
            return self.call(
                "dct",
                "(0)".into(),
                true,
                || leaf(Dct::new(0)),
                || unreachable!(),
            );
        }
        let nf = n as f64;
        let a = Mat::from_fn(n, n, |k, j| {
            let s = if k == 0 {
                (1.0 / nf).sqrt()
            } else {
                (2.0 / nf).sqrt()
            };
            s * (std::f64::consts::PI * (2 * j + 1) as f64 * k as f64 / (2.0 * nf)).cos()
        });
        // Normwise bound 7·(L + 2)·u·‖x‖ (docs/ops.md): |C| plus max|C| times all-ones.
        let top = mat_max_abs(&a);
        let mag = Mat::from_fn(n, n, |i, j| a[(i, j)].abs() + top);
        let l = (nf.log2().ceil() + 1.0).max(1.0);
        let mut m = Model::chain(a, mag, &[], 7.0 * (l + 2.0), &[1.0]);
        m.peak = m.peak.max(4.0 * nf);
        self.call("dct", format!("({n})"), false, || leaf(Dct::new(n)), || m)
    }

    /// `n`, block size `b` (`n/b` a power of two ≥ 2), and the butterfly leaf kind.
    fn butterfly(&mut self, n: usize, _: usize) -> Option<Node> {
        if n < 2 {
            return self.dense(n, n);
        }
        let bs: Vec<usize> = (0..=n.trailing_zeros())
            .map(|e| 1usize << e)
            .filter(|&b| n / b >= 2)
            .collect();
        let b = bs[self.below(bs.len())];
        let levels = (n / b).trailing_zeros() as usize;
        let kind = self.below(5);
        let mut tw = self.vals(levels * 2 * n * b);
        if self.should_break() {
            let (what, res) = match self.below(4) {
                0 => {
                    tw.pop();
                    (
                        "one parameter short".to_string(),
                        leaf(BlockButterfly::new(n, b, tw)),
                    )
                }
                1 => {
                    let bad = self.poison(&mut tw);
                    (format!("value {bad}"), leaf(BlockButterfly::new(n, b, tw)))
                }
                2 => {
                    let bb = [0, 3, n, 2 * n][self.below(4)];
                    (
                        format!("block size {bb}"),
                        leaf(BlockButterfly::new(n, bb, tw)),
                    )
                }
                _ => (
                    "flat values one short".into(),
                    leaf(FlatBlockButterfly::new(
                        n,
                        b,
                        vec![0.0; (n / b) * (1 + levels) * b * b - 1],
                    )),
                ),
            };
            self.note(&format!("BROKEN butterfly({n}, {b}, {what})"));
            return self.reject("butterfly", res);
        }
        let factors = butterfly_factors(n, b, &tw);
        let params = tw.clone();
        match kind {
            0 | 1 => {
                // The butterfly B = F_{L−1}·…·F_0, as a leaf or as its factor product.
                let mut a = Mat::identity(n, n);
                let mut mag = Mat::identity(n, n);
                for f in &factors {
                    a = f * &a;
                    mag = abs(f) * &mag;
                }
                let fabs: Vec<Mat<f64>> = factors.iter().map(abs).collect();
                let refs: Vec<&Mat<f64>> = fabs.iter().rev().collect();
                let m = Model::chain(a, mag, &refs, 0.0, &params);
                let to_factors = kind == 1;
                let plain = b == 1 && self.coin(2);
                self.call(
                    if plain {
                        "butterfly"
                    } else {
                        "block_butterfly"
                    },
                    format!(
                        "({n}, b {b}{})",
                        if to_factors { ", to_factors" } else { "" }
                    ),
                    false,
                    move || {
                        if plain {
                            let bf = Butterfly::new(n, tw)?;
                            Ok(if to_factors {
                                bf.as_block().to_factors()
                            } else {
                                Op::leaf(bf)
                            })
                        } else {
                            let bb = BlockButterfly::new(n, b, tw)?;
                            Ok(if to_factors {
                                bb.to_factors()
                            } else {
                                Op::leaf(bb)
                            })
                        }
                    },
                    || m,
                )
            }
            2 => {
                // I + Σ_k B_k, exactly (from_block_butterfly).
                let mut a = Mat::identity(n, n);
                for f in &factors {
                    a += f;
                }
                // Finite twiddles whose sum overflows f64 are out of range: a refusal (the
                // library sums each entry in the same order: 1, then level 0, 1, …).
                let overflows = (0..n).any(|j| (0..n).any(|i| !a[(i, j)].is_finite()));
                let m = Model::single(a, 0.0, &params);
                self.call(
                    "flat_block_butterfly.from_block_butterfly",
                    format!(
                        "({n}, b {b}){}",
                        if overflows { ", sum overflows" } else { "" }
                    ),
                    overflows,
                    move || {
                        leaf(FlatBlockButterfly::from_block_butterfly(
                            &BlockButterfly::new(n, b, tw)?,
                        ))
                    },
                    || m,
                )
            }
            k => {
                let vals = self.vals((n / b) * (1 + levels) * b * b);
                let a = flat_model(n, b, &vals);
                if k == 3 {
                    let m = Model::single(a, 0.0, &vals);
                    return self.call(
                        "flat_block_butterfly",
                        format!("({n}, b {b})"),
                        false,
                        move || leaf(FlatBlockButterfly::new(n, b, vals)),
                        || m,
                    );
                }
                let r = 1 + self.below(n.min(3));
                let (u, v) = (self.vals(n * r), self.vals(n * r));
                let (um, vtm) = (mat(n, r, &u), mat(n, r, &v).transpose().to_owned());
                let full = &a + &um * &vtm;
                let (ua, vta) = (abs(&um), abs(&vtm));
                let mag = abs(&a) + &ua * &vta;
                let params: Vec<f64> = vals.iter().chain(&u).chain(&v).copied().collect();
                let m = Model::chain(full, mag, &[&ua, &vta], 1.0, &params);
                self.call(
                    "pixelated_butterfly",
                    format!("({n}, b {b}, rank {r})"),
                    false,
                    move || {
                        let flat = FlatBlockButterfly::new(n, b, vals)?;
                        leaf(PixelatedButterfly::new(
                            flat,
                            host(n, r, &u),
                            host(n, r, &v),
                        ))
                    },
                    || m,
                )
            }
        }
    }

    fn dense_sketch(&mut self, d: usize, m: usize) -> Option<Node> {
        let rng = self.rng_state();
        let gaussian = self.coin(2);
        if self.should_break() {
            let (dd, mm) = if self.coin(2) { (0, m) } else { (d, 0) };
            return self.call(
                "dense_sketch",
                format!("({dd}x{mm})"),
                true,
                || leaf(DenseSketch::gaussian(dd, mm, rng)),
                || unreachable!(),
            );
        }
        let dist = if gaussian {
            Dist::Gaussian
        } else {
            Dist::Rademacher
        };
        let a = sketch_model(dist, d, m, rng, 0);
        // Gaussian entries of the GPU are within 16 ulps of the CPU recipe (docs/ops.md).
        let model = Model::single(a, if gaussian { 32.0 } else { 0.0 }, &[1.0])
            .with_alpha(1.0 / (d as f64).sqrt());
        self.call(
            if gaussian {
                "dense_sketch.gaussian"
            } else {
                "dense_sketch.rademacher"
            },
            format!("({d}x{m}, {rng:?})"),
            false,
            move || {
                if gaussian {
                    leaf(DenseSketch::gaussian(d, m, rng))
                } else {
                    leaf(DenseSketch::rademacher(d, m, rng))
                }
            },
            || model,
        )
    }

    fn sketch_spec(&mut self, d: usize, cols: usize) -> Option<Node> {
        use linops::stream::{SketchFamily, SketchSpec};
        let rng = self.rng_state();
        let gaussian = self.coin(2);
        let family = if gaussian {
            SketchFamily::Gaussian
        } else {
            SketchFamily::Rademacher
        };
        let c0 = self.below(5);
        let total = c0 + cols + self.below(3);
        if self.should_break() {
            let c0b = total - cols + 1;
            return self.call(
                "sketch_spec.column_block",
                format!("(spec {d}x{total}, block at {c0b} of {cols} columns)"),
                true,
                || SketchSpec::new(family, d, total, rng)?.column_block(c0b, cols),
                || unreachable!(),
            );
        }
        let dist = if gaussian {
            Dist::Gaussian
        } else {
            Dist::Rademacher
        };
        let a = sketch_model(dist, d, cols, rng, c0);
        let model = Model::single(a, if gaussian { 32.0 } else { 0.0 }, &[1.0])
            .with_alpha(1.0 / (d as f64).sqrt());
        self.call(
            "sketch_spec.column_block",
            format!(
                "({family:?} {d}x{total}, columns {c0}..{}, {rng:?})",
                c0 + cols
            ),
            false,
            move || SketchSpec::new(family, d, total, rng)?.column_block(c0, cols),
            || model,
        )
    }

    fn sparse_sign(&mut self, d: usize, m: usize) -> Option<Node> {
        let rng = self.rng_state();
        let s = 1 + self.below(d);
        if self.should_break() {
            let bad = if self.coin(2) { 0 } else { d + 1 };
            return self.call(
                "sparse_sign",
                format!("({d}x{m}, s {bad})"),
                true,
                || leaf(SparseSign::new(d, m, bad, rng)),
                || unreachable!(),
            );
        }
        self.note(&format!("sparse_sign({d}x{m}, s {s}, {rng:?})"));
        let ss = match SparseSign::new(d, m, s, rng) {
            Ok(ss) => ss,
            Err(e) => {
                self.decided = Some(Outcome::from_valid_err("sparse_sign", &e));
                return None;
            }
        };
        let mut a = Mat::zeros(d, m);
        for j in 0..m {
            match ss.column(j) {
                Ok(col) => {
                    for (r, v) in col {
                        a[(r, j)] += v * ss.scale();
                    }
                }
                Err(e) => {
                    self.decided = Some(Outcome::from_valid_err("sparse_sign.column", &e));
                    return None;
                }
            }
        }
        let model = Model::single(a, 0.0, &[1.0]).with_alpha(ss.scale());
        self.accept("sparse_sign", Ok(Op::leaf(ss)), model)
    }

    fn very_sparse(&mut self, d: usize, m: usize) -> Option<Node> {
        let rng = self.rng_state();
        let density = if self.coin(2) {
            None
        } else {
            Some([1.0, 0.5, 0.1, 2f64.powi(-31), 0.7][self.below(5)])
        };
        if self.should_break() {
            let bad = [0.0, -0.5, 1.5, f64::NAN, f64::INFINITY, 2f64.powi(-33)][self.below(6)];
            return self.call(
                "very_sparse",
                format!("({d}x{m}, density {bad})"),
                true,
                || leaf(VerySparseProjection::with_density(d, m, bad, rng)),
                || unreachable!(),
            );
        }
        self.note(&format!(
            "very_sparse({d}x{m}, density {density:?}, {rng:?})"
        ));
        let r = match density {
            None => VerySparseProjection::new(d, m, rng),
            Some(rho) => VerySparseProjection::with_density(d, m, rho, rng),
        };
        let vs = match r {
            Ok(v) => v,
            Err(e) => {
                self.decided = Some(Outcome::from_valid_err("very_sparse", &e));
                return None;
            }
        };
        let t = (vs.density() * 2f64.powi(32)) as u64;
        let a = Mat::from_fn(d, m, |i, j| {
            let w = rng.matrix_block(i as u64, j as u64)[i % 4];
            if u64::from(w) < t {
                if w.is_multiple_of(2) {
                    vs.scale()
                } else {
                    -vs.scale()
                }
            } else {
                0.0
            }
        });
        let model = Model::single(a, 0.0, &[1.0]).with_alpha(vs.scale());
        self.accept("very_sparse", Ok(Op::leaf(vs)), model)
    }

    fn srht(&mut self, d: usize, m: usize) -> Option<Node> {
        let rng = self.rng_state();
        let np = m.next_power_of_two();
        if self.should_break() || d > np {
            let bad = if d > np { d } else { np + 1 + self.below(3) };
            return self.call(
                "srht",
                format!("({bad}x{m})"),
                true,
                || leaf(Srht::new(bad, m, rng)),
                || unreachable!(),
            );
        }
        self.note(&format!("srht({d}x{m}, {rng:?})"));
        let s = match Srht::new(d, m, rng) {
            Ok(s) => s,
            Err(e) => {
                self.decided = Some(Outcome::from_valid_err("srht", &e));
                return None;
            }
        };
        let (rows, signs) = (s.sampled_rows(), s.signs());
        let v = 1.0 / (d as f64).sqrt();
        let a = Mat::from_fn(d, m, |r, j| {
            let h = if (rows[r] & j).count_ones() % 2 == 0 {
                v
            } else {
                -v
            };
            h * signs[j]
        });
        let mut model = Model::single(a, (np as f64).log2() + 3.0, &[1.0]).with_alpha(s.scale());
        model.peak = model.peak.max(np as f64);
        self.accept("srht", Ok(Op::leaf(s)), model)
    }

    fn row_sampler(&mut self, d: usize, m: usize) -> Option<Node> {
        let rng = self.rng_state();
        let kind = self.below(6);
        let mut w: Vec<f64> = self.vals(m).iter().map(|x| x.abs()).collect();
        if w.iter().all(|&x| x == 0.0) {
            w[0] = 1.0;
        }
        if self.should_break() {
            let (what, res) = match self.below(5) {
                0 => {
                    let i = self.below(m);
                    w[i] = -1.0;
                    (
                        "a negative weight".to_string(),
                        leaf(RowSampler::from_probabilities(d, &w, rng)),
                    )
                }
                1 => (
                    "all-zero weights".into(),
                    leaf(RowSampler::from_probabilities(d, &vec![0.0; m], rng)),
                ),
                2 => {
                    let bad = self.poison(&mut w);
                    (
                        format!("weight {bad}"),
                        leaf(RowSampler::leverage(d, &w, rng)),
                    )
                }
                3 => (
                    "no weights".into(),
                    leaf(RowSampler::squared_row_norms(d, &[], rng)),
                ),
                _ => ("d = 0".into(), leaf(RowSampler::uniform(0, m, rng))),
            };
            self.note(&format!("BROKEN row_sampler({d}x{m}, {what})"));
            return self.reject("row_sampler", res);
        }
        // The probabilities p_i = w_i/Σw of the weights each constructor documents.
        let (name, weights, res) = match kind {
            0 => ("uniform", vec![1.0; m], RowSampler::uniform(d, m, rng)),
            1 => {
                let sq: Vec<f64> = w.iter().map(|x| x * x).collect();
                (
                    "squared_row_norms",
                    sq,
                    RowSampler::squared_row_norms(d, &w, rng),
                )
            }
            2 => {
                let cols = 1 + self.below(3);
                let a = self.vals(m * cols);
                let sq: Vec<f64> = (0..m)
                    .map(|i| (0..cols).map(|j| a[i + j * m] * a[i + j * m]).sum())
                    .collect();
                let hm = host(m, cols, &a);
                (
                    "from_matrix_rows",
                    sq,
                    RowSampler::from_matrix_rows(d, &hm, rng),
                )
            }
            3 => (
                "from_probabilities",
                w.clone(),
                RowSampler::from_probabilities(d, &w, rng),
            ),
            4 => ("leverage", w.clone(), RowSampler::leverage(d, &w, rng)),
            _ => (
                "leverage_sampler",
                w.clone(),
                linops::sampling::leverage_sampler(d, &w, rng),
            ),
        };
        self.note(&format!(
            "row_sampler.{name}({d}x{m}, weights {weights:?}, {rng:?})"
        ));
        let total: f64 = weights.iter().sum();
        let valid = total > 0.0 && total.is_finite() && weights.iter().all(|x| x.is_finite());
        let s = match (res, valid) {
            (Ok(s), true) => s,
            (Err(e), false) => {
                // Weights whose squares or sum leave f64: the input is out of range.
                self.decided = Some(Outcome::new(
                    Class::OutOfRange,
                    "row_sampler",
                    e.to_string(),
                ));
                return None;
            }
            (Ok(_), false) => {
                self.decided = Some(Outcome::new(
                    Class::InvalidAccepted,
                    "row_sampler",
                    format!("weights summing to {total} accepted"),
                ));
                return None;
            }
            (Err(e), true) => {
                self.decided = Some(Outcome::from_valid_err(format!("row_sampler.{name}"), &e));
                return None;
            }
        };
        let mut a = Mat::zeros(d, m);
        for (t, &i) in s.indices().iter().enumerate() {
            if i >= m || weights[i] <= 0.0 {
                self.decided = Some(Outcome::new(
                    Class::WrongAnswer,
                    "row_sampler",
                    format!("draw {t} picked row {i} of weight {:?}", weights.get(i)),
                ));
                return None;
            }
            a[(t, i)] = 1.0 / (d as f64 * (weights[i] / total)).sqrt();
        }
        let model = Model::single(a, 4.0, &[1.0]);
        self.accept("row_sampler", Ok(Op::leaf(s)), model)
    }
}

/// `H_N[:, 0..c]` with `N = r` a power of two ≥ c: `(−1)^{popcount(i & j)}/√N`.
fn hadamard_model(r: usize, c: usize) -> Model {
    let v = 1.0 / (r as f64).sqrt();
    let a = Mat::from_fn(
        r,
        c,
        |i, j| if (i & j).count_ones() % 2 == 0 { v } else { -v },
    );
    let mut m = Model::single(a, (r as f64).log2() + 2.0, &[1.0]);
    m.peak = m.peak.max(r as f64);
    m
}

/// Entry `(i, j + c0)` of the random matrix of `dist`, scaled by `1/√d` (docs/ops.md).
fn sketch_model(dist: Dist, d: usize, m: usize, rng: RngState, c0: usize) -> Mat<f64> {
    let scale = 1.0 / (d as f64).sqrt();
    Mat::from_fn(d, m, |i, j| {
        f64::from(rng.entry(dist, i as u64, (j + c0) as u64)) * scale
    })
}

/// `Q = H_1·…·H_k` with `H_i = I − τ_i v_i v_iᵀ`, and the magnitude `I + |V|·|T|·|V|ᵀ` of the
/// compact WY evaluation (`T` by LAPACK's forward column-wise `xLARFT` recurrence), plus
/// `Π(I + |τ_i|·|v_i|·|v_i|ᵀ)`, the magnitude of the model's own reflector-by-reflector product.
fn householder_model(n: usize, k: usize, v: &[f64], tau: &[f64]) -> Model {
    let mut q = Mat::<f64>::identity(n, n);
    let mut prod = Mat::<f64>::identity(n, n);
    for i in 0..k {
        let vi = &v[i * n..(i + 1) * n];
        let qv: Vec<f64> = (0..n)
            .map(|r| (0..n).map(|c| q[(r, c)] * vi[c]).sum())
            .collect();
        for r in 0..n {
            for c in 0..n {
                q[(r, c)] -= tau[i] * qv[r] * vi[c];
            }
        }
        let h = Mat::from_fn(n, n, |r, c| {
            f64::from(u8::from(r == c)) + tau[i].abs() * vi[r].abs() * vi[c].abs()
        });
        prod = &prod * h;
    }
    // The leaf stores each v_i scaled by a power of two to max|v_i| ∈ [1, 2) and τ_i by the
    // square (H_i unchanged), and its parameter arrays are that V̂ and the T̂ built from it:
    // those are what an f32 engine must hold. |V̂||T̂||V̂ᵀ| = |V||T||Vᵀ|.
    let mut vh = v.to_vec();
    let mut tauh = tau.to_vec();
    for i in 0..k {
        let top = v[i * n..(i + 1) * n]
            .iter()
            .fold(0.0f64, |a, x| a.max(x.abs()));
        if top > 0.0 {
            let e = top.log2().floor() as i32;
            vh[i * n..(i + 1) * n]
                .iter_mut()
                .for_each(|x| *x *= pow2(-e));
            tauh[i] = tauh[i] * pow2(e) * pow2(e);
        }
    }
    let (v, tau) = (&vh[..], &tauh[..]);
    let mut t = Mat::<f64>::zeros(k, k);
    for i in 0..k {
        t[(i, i)] = tau[i];
        let w: Vec<f64> = (0..i)
            .map(|j| (0..n).map(|r| v[j * n + r] * v[i * n + r]).sum())
            .collect();
        for r in 0..i {
            t[(r, i)] = -tau[i] * (r..i).map(|j| t[(r, j)] * w[j]).sum::<f64>();
        }
    }
    let va = abs(&mat(n, k, v));
    let ta = abs(&t);
    let vta = va.transpose().to_owned();
    let mag = Mat::<f64>::identity(n, n) + &va * &ta * &vta + prod;
    let params: Vec<f64> = v
        .iter()
        .copied()
        .chain(
            (0..k)
                .flat_map(|c| (0..k).map(move |r| (r, c)))
                .map(|(r, c)| t[(r, c)]),
        )
        .collect();
    Model::chain(q, mag, &[&va, &ta, &vta], 2.0, &params)
}

/// The factor matrices `F_0 … F_{L−1}` of a block butterfly (docs/ops.md layout).
fn butterfly_factors(n: usize, b: usize, tw: &[f64]) -> Vec<Mat<f64>> {
    let levels = (n / b).trailing_zeros() as usize;
    let (per, bb) = (2 * n * b, b * b);
    (0..levels)
        .map(|f| {
            let h = 1usize << f;
            let mut fm = Mat::<f64>::zeros(n, n);
            for j in 0..n / (2 * b) {
                let (s, p) = (j / h, j % h);
                let r0 = 2 * h * s + p;
                let r1 = r0 + h;
                for (q, (br, bc)) in [(r0, r0), (r0, r1), (r1, r0), (r1, r1)]
                    .into_iter()
                    .enumerate()
                {
                    for e in 0..bb {
                        fm[(br * b + e / b, bc * b + e % b)] +=
                            tw[f * per + j * 4 * bb + q * bb + e];
                    }
                }
            }
            fm
        })
        .collect()
}

/// The flat block butterfly: block-row `R`, slot `t` is block `(R, R xor 2^{t−1})` (slot 0 the
/// diagonal), `b×b` row-major at `(R·(1+L) + t)·b²`.
fn flat_model(n: usize, b: usize, vals: &[f64]) -> Mat<f64> {
    let m = n / b;
    let slots = 1 + m.trailing_zeros() as usize;
    let mut a = Mat::zeros(n, n);
    for r in 0..m {
        for t in 0..slots {
            let c = if t == 0 { r } else { r ^ (1 << (t - 1)) };
            for e in 0..b * b {
                a[(r * b + e / b, c * b + e % b)] = vals[(r * slots + t) * b * b + e];
            }
        }
    }
    a
}

/// A random `X` for an operator with `cols` columns: values `uniform·2^e`, rounded to `f32` for
/// an `f32` target (so the reference sees the exact input).
pub fn random_x(g: &mut Gen<'_>, rows: usize, batch: usize, p: Precision) -> Mat<f64> {
    let e = if g.spread == 0 {
        0
    } else {
        let lim = if p == F32 { 120 } else { g.spread.min(1000) };
        g.rng.below(2 * lim as usize + 1) as i32 - lim
    };
    Mat::from_fn(rows, batch, |_, _| {
        let v = g.rng.uniform() * pow2(e);
        if p == F32 { f64::from(v as f32) } else { v }
    })
}

/// `op·X` on the target, returned in `f64`.
pub fn apply(t: &Target<'_>, op: &Op, x: &Mat<f64>) -> Result<Mat<f64>, Error> {
    if t.prec == F64 {
        t.engine.apply::<f64>(op, x.as_ref())
    } else {
        let x32 = Mat::<f32>::from_fn(x.nrows(), x.ncols(), |i, j| x[(i, j)] as f32);
        let y = t.engine.apply::<f32>(op, x32.as_ref())?;
        Ok(Mat::from_fn(y.nrows(), y.ncols(), |i, j| {
            f64::from(y[(i, j)])
        }))
    }
}

/// Checks `y = op·x` against the model: the class of the result.
pub fn classify_apply(
    key: &str,
    t: &Target<'_>,
    m: &Model,
    x: &Mat<f64>,
    y: Result<Mat<f64>, Error>,
) -> Outcome {
    let beyond_f32 = t.prec == F32 && m.beyond_f32();
    // Merged scales beyond the precision (the planner may multiply nested scales into one kernel
    // scalar), or an operator whose own entries are beyond it (a derived factor such as a
    // Householder T can then overflow): a typed refusal is as correct as an overflow.
    let merged_beyond = (t.prec == F32 && m.merged_beyond_f32())
        || m.alpha_hi > t.prec.max / 4.0
        || mat_max_abs(&m.a) > t.prec.max;
    let in_range = model::in_range(m, mat_max_abs(x), t.prec);
    let y = match y {
        Ok(y) => y,
        Err(e) if beyond_f32 || merged_beyond => return Outcome::rejected(key, &e),
        Err(e) if !in_range => return Outcome::new(Class::OutOfRange, key, e.to_string()),
        Err(e) => return Outcome::from_valid_err(format!("{key} on {}", t.describe()), &e),
    };
    if y.nrows() != m.a.nrows() || y.ncols() != x.ncols() {
        return Outcome::new(
            Class::WrongAnswer,
            key,
            format!(
                "result {}x{}, expected {}x{}",
                y.nrows(),
                y.ncols(),
                m.a.nrows(),
                x.ncols()
            ),
        );
    }
    let (ratio, (i, j)) = model::apply_error(m, x, &y, t.prec);
    if ratio <= 1.0 {
        return Outcome::ok(key);
    }
    let want = (&m.a * x)[(i, j)];
    let detail = format!(
        "on {}: entry ({i},{j}) = {:e}, model {want:e}, error {ratio:.3e}× the bound",
        t.describe(),
        y[(i, j)]
    );
    let finite = (0..y.ncols()).all(|j| (0..y.nrows()).all(|i| y[(i, j)].is_finite()));
    if beyond_f32 {
        Outcome::new(
            Class::InvalidAccepted,
            format!("{key}: parameter or merged scale beyond f32 on an f32 engine"),
            format!(
                "largest parameter {:e}, merged scales in [{:e}, {:e}]; {detail}",
                m.pmax, m.alpha_lo, m.alpha_hi
            ),
        )
    } else if !in_range {
        Outcome::new(Class::OutOfRange, key, detail)
    } else if !finite {
        Outcome::new(
            Class::NonFiniteFromFiniteInRange,
            format!("{key} on {}", t.describe()),
            detail,
        )
    } else {
        Outcome::new(
            Class::WrongAnswer,
            format!("{key} on {}", t.describe()),
            detail,
        )
    }
}

/// The leaf families of the tree (the failure's group key), from its description.
fn families(trail: &str) -> String {
    let comps = ["t", "target", "scaled", "product", "sum", "kronecker", "X"];
    let mut names: Vec<&str> = trail
        .split("; ")
        .map(|s| s.split(['(', ' ']).next().unwrap_or(s))
        .filter(|s| !comps.contains(s))
        .collect();
    names.sort_unstable();
    names.dedup();
    if names.is_empty() {
        "composition".into()
    } else {
        names.join("+")
    }
}

/// One operator case (module docs).
pub fn case(rng: &mut Rng, engines: &Engines, trail: &mut String) -> Outcome {
    let Some(target) = engines.pick(rng, true) else {
        return Class::skipped();
    };
    let max_dim = if target.gpu { 24 } else { 40 };
    let emax = if target.prec == F32 { 150 } else { 1023 };
    let spread = match rng.below(10) {
        0..=5 => 0,
        6 | 7 => emax / 8,
        _ => emax,
    };
    let want_broken = rng.below(4) == 0;
    let dims = [1usize, 2, 3, 4, 5, 7, 8, 9, 12, 16, 17, 24, 32, 33];
    let pick = |rng: &mut Rng| loop {
        let d = dims[rng.below(dims.len())];
        if d <= max_dim {
            return d;
        }
    };
    let (r, c) = (pick(rng), pick(rng));
    let depth = rng.below(4);
    let mut g = Gen::new(rng, trail, spread, max_dim, want_broken);
    g.note(&format!("target {}, spread {spread}", target.describe()));
    let node = g.node(r, c, depth);
    if let Some(o) = g.decided.take() {
        return o;
    }
    let Node { op, m } = node.expect("a node or a decided outcome");
    let families = families(g.trail);
    let key = "apply";
    let batch = [1usize, 2, 3, 5, 8, 17][g.rng.below(6)];
    let x = random_x(&mut g, c, batch, target.prec);
    g.note(&format!("X {c}x{batch}, max|X| {:e}", mat_max_abs(&x)));
    if g.rng.below(8) == 0 {
        // Bad X: wrong rows, a non-finite entry, or no columns.
        let (bad, what) = match g.rng.below(3) {
            0 => (
                Mat::from_fn(c + 1, batch, |i, j| if i < c { x[(i, j)] } else { 1.0 }),
                "one row too many",
            ),
            1 => {
                let mut b = x.clone();
                let (i, j) = (g.rng.below(c), g.rng.below(batch));
                b[(i, j)] = [f64::NAN, f64::INFINITY][g.rng.below(2)];
                (b, "a non-finite entry")
            }
            _ => (Mat::zeros(c, 0), "no columns"),
        };
        g.note(&format!("BROKEN X with {what}"));
        return match apply(&target, &op, &bad) {
            Ok(_) => Outcome::new(
                Class::InvalidAccepted,
                "apply",
                format!("X with {what} accepted"),
            ),
            Err(e) => Outcome::rejected("apply", &e),
        };
    }
    if g.rng.below(4) == 0 {
        // The planner alone, with explain().
        let plan = if target.prec == F64 {
            target.engine.plan::<f64>(&op, c, batch)
        } else {
            target.engine.plan::<f32>(&op, c, batch)
        };
        match plan {
            Ok(p) => {
                let _ = p.explain();
            }
            Err(e) => return classify_apply("plan", &target, &m, &x, Err(e)),
        }
    }
    let y = apply(&target, &op, &x);
    let mut outcome = classify_apply(key, &target, &m, &x, y);
    if outcome.class.is_failure() {
        outcome.detail = format!("{} [{families}]", outcome.detail);
    }
    if outcome.class == Class::OutOfRange && !target.gpu {
        // Out of range, any result is acceptable, but the same one under every cost model.
        let results: Vec<(String, bool)> = engines
            .cpu_targets(target.prec)
            .iter()
            .map(|t| (t.label.to_string(), apply(t, &op, &x).is_ok()))
            .collect();
        if results.iter().any(|r| r.1 != results[0].1) {
            let ok: Vec<&str> = results
                .iter()
                .filter(|r| r.1)
                .map(|r| r.0.as_str())
                .collect();
            return Outcome::new(
                Class::CostModelDependent,
                format!("{key} in {}: Ok only under {ok:?}", target.prec.name),
                format!("{}: {} [{families}]", outcome.key, outcome.detail),
            );
        }
    }
    outcome
}
