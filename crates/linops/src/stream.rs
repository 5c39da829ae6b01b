//! Streaming sketches: accumulate `S·A` from row blocks of `A`, in any order, without holding `A`;
//! merge accumulators over disjoint rows; describe the sketch by a serializable [`SketchSpec`].
//!
//! **Mathematics.** With `A` split into row blocks `A = [A_1; …; A_p]` at row offsets `r_1, …, r_p`,
//! `S·A = Σ_k S[:, r_k .. r_k + b_k]·A_k`. Each term needs only the columns `r_k .. r_k + b_k` of
//! `S`, which the spec generates alone: for the dense families, entry `(i, j)` of `S` is a pure
//! function of `(rng, i, j)` and `S[:, c0 ..]` is the same family with state
//! `rng.skip_columns(c0)` ([`SketchSpec::column_block`]). The sum is associative up to rounding,
//! so two accumulators over disjoint row sets merge by adding their partial sums.
//!
//! **Spec.** [`SketchSpec`] `{ family, d, m, rng }` (serde): family (Gaussian or Rademacher dense
//! sketch now; the enum is `#[non_exhaustive]` so sparse families can join), the sketch shape
//! `d×m` and the Philox [`RngState`]. Shards sketched in different processes from the same spec
//! (for example its JSON) produce partial sums of the same `S·A`.
//!
//! **Storage.** The `d×n` partial sum in `f64` on the host and the list of covered row ranges.
//! **Cost.** Per block of `b` rows: `2·d·b·n` FLOPs on the engine plus generating `d·b` entries;
//! merging: `d·n` additions.
//!
//! **Rounding.** Each entry of the finished sum is a sum of `m` products accumulated in a different
//! order than one pass over all of `A`: against one pass the difference is at most
//! `2·γ·(|S|·|A|)_{ij}` with `γ = (m + p + 2)·u` (`p` blocks, `u` the unit roundoff of the engine's
//! compute type).

use crate::randnla::check_block;
use crate::sampling::apply_f64;
use crate::{Engine, Error, Op, Result, op::DenseSketch};
use faer::{Mat, MatRef};
use linops_core::rng::RngState;
use serde::{Deserialize, Serialize};
use std::ops::Range;

/// The family of a streamable sketch.
///
/// # Examples
/// ```
/// use linops::stream::SketchFamily;
/// assert_eq!(serde_json::to_string(&SketchFamily::Gaussian).unwrap(), "\"Gaussian\"");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum SketchFamily {
    /// Dense Gaussian `S = G/√d` ([`DenseSketch::gaussian`]).
    Gaussian,
    /// Dense Rademacher `S = ±1/√d` ([`DenseSketch::rademacher`]).
    Rademacher,
}

/// A serializable description of a sketch `S` (`d×m`): family, shape and generator state.
///
/// # Examples
/// ```
/// use linops::stream::{SketchFamily, SketchSpec};
/// use linops_core::rng::RngState;
/// let spec = SketchSpec::new(SketchFamily::Rademacher, 8, 100, RngState::new(7)).unwrap();
/// let json = serde_json::to_string(&spec).unwrap();
/// let back: SketchSpec = serde_json::from_str(&json).unwrap();
/// assert_eq!(back, spec);
/// assert_eq!(spec.op().unwrap().shape(), (8, 100));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SketchSpec {
    /// The sketch family.
    pub family: SketchFamily,
    /// Rows of `S` (the sketch dimension).
    pub d: usize,
    /// Columns of `S` (the rows of the data `A`).
    pub m: usize,
    /// The Philox generator state.
    pub rng: RngState,
}

impl SketchSpec {
    /// A validated spec.
    ///
    /// # Errors
    /// As [`SketchSpec::validate`].
    ///
    /// # Examples
    /// ```
    /// use linops::stream::{SketchFamily, SketchSpec};
    /// assert!(SketchSpec::new(SketchFamily::Gaussian, 0, 5, linops_core::rng::RngState::new(1)).is_err());
    /// ```
    pub fn new(family: SketchFamily, d: usize, m: usize, rng: RngState) -> Result<Self> {
        let s = Self { family, d, m, rng };
        s.validate()?;
        Ok(s)
    }

    /// Checks the shape (a spec may come from untrusted JSON).
    ///
    /// # Errors
    /// [`Error::EmptyDimension`] when `d` or `m` is 0; [`Error::InvalidArgument`] when either
    /// exceeds `u32::MAX`.
    ///
    /// # Examples
    /// ```
    /// use linops::stream::{SketchFamily, SketchSpec};
    /// let s = SketchSpec { family: SketchFamily::Gaussian, d: 3, m: 0, rng: Default::default() };
    /// assert!(s.validate().is_err());
    /// ```
    pub fn validate(&self) -> Result<()> {
        if self.m == 0 || self.d == 0 {
            return Err(Error::EmptyDimension {
                context: "sketch spec".into(),
                rows: self.d,
                cols: self.m,
            });
        }
        self.column_block(0, self.m).map(|_| ())
    }

    /// The whole sketch `S` as an operator.
    ///
    /// # Errors
    /// As [`SketchSpec::validate`].
    ///
    /// # Examples
    /// ```
    /// use linops::stream::{SketchFamily, SketchSpec};
    /// let s = SketchSpec::new(SketchFamily::Gaussian, 2, 9, Default::default()).unwrap();
    /// assert_eq!(s.op().unwrap().shape(), (2, 9));
    /// ```
    pub fn op(&self) -> Result<Op> {
        self.column_block(0, self.m)
    }

    /// The columns `c0 .. c0 + cols` of `S` as a `d×cols` operator, generated alone.
    ///
    /// # Errors
    /// [`Error::EmptyDimension`] for `cols == 0` or `d == 0`; [`Error::InvalidArgument`] when the
    /// range leaves `0 .. m` (for `d`, `m` of at most `u32::MAX`).
    ///
    /// # Examples
    /// ```
    /// use linops::stream::{SketchFamily, SketchSpec};
    /// let s = SketchSpec::new(SketchFamily::Rademacher, 3, 10, Default::default()).unwrap();
    /// let whole = s.op().unwrap().to_dense();
    /// let part = s.column_block(4, 5).unwrap().to_dense();
    /// assert_eq!(part.get(2, 1), whole.get(2, 5));
    /// assert!(s.column_block(8, 5).is_err());
    /// ```
    pub fn column_block(&self, c0: usize, cols: usize) -> Result<Op> {
        if cols > 0 && c0.checked_add(cols).is_none_or(|e| e > self.m) {
            return Err(Error::InvalidArgument(format!(
                "sketch columns {c0}..{} leave the {}x{} sketch",
                c0.saturating_add(cols),
                self.d,
                self.m
            )));
        }
        if self.m > u32::MAX as usize {
            return Err(Error::InvalidArgument(format!(
                "sketch spec m = {} exceeds 2^32 - 1",
                self.m
            )));
        }
        let rng = self.rng.skip_columns(c0 as u64);
        let s = match self.family {
            SketchFamily::Gaussian => DenseSketch::gaussian(self.d, cols, rng)?,
            SketchFamily::Rademacher => DenseSketch::rademacher(self.d, cols, rng)?,
        };
        Ok(Op::leaf(s))
    }
}

/// Accumulates `S·A` from row blocks of `A` (any order), mergeable over disjoint rows.
///
/// # Examples
/// ```
/// use linops::{Engine, faer::Mat, stream::{SketchAccumulator, SketchFamily, SketchSpec}};
/// let spec = SketchSpec::new(SketchFamily::Gaussian, 4, 10, Default::default()).unwrap();
/// let a = Mat::<f64>::from_fn(10, 2, |i, j| (i + j) as f64);
/// let e = Engine::cpu();
/// let mut acc = SketchAccumulator::new(spec).unwrap();
/// acc.push(&e, 6, a.as_ref().subrows(6, 4)).unwrap();
/// assert_eq!(acc.missing_rows(), vec![0..6]);
/// acc.push(&e, 0, a.as_ref().subrows(0, 6)).unwrap();
/// let sa = acc.finish().unwrap();
/// let direct = e.apply(&spec.op().unwrap(), a.as_ref()).unwrap();
/// assert!((sa[(3, 1)] - direct[(3, 1)]).abs() < 1e-12);
/// ```
#[derive(Debug, Clone)]
pub struct SketchAccumulator {
    spec: SketchSpec,
    sum: Option<Mat<f64>>,
    /// Covered row ranges, sorted by start, pairwise disjoint.
    covered: Vec<Range<usize>>,
    blocks: usize,
}

impl SketchAccumulator {
    /// An empty accumulator for `spec`.
    ///
    /// # Errors
    /// As [`SketchSpec::validate`].
    ///
    /// # Examples
    /// ```
    /// use linops::stream::{SketchAccumulator, SketchFamily, SketchSpec};
    /// let spec = SketchSpec::new(SketchFamily::Gaussian, 4, 10, Default::default()).unwrap();
    /// assert!(!SketchAccumulator::new(spec).unwrap().is_complete());
    /// ```
    pub fn new(spec: SketchSpec) -> Result<Self> {
        spec.validate()?;
        Ok(Self {
            spec,
            sum: None,
            covered: Vec::new(),
            blocks: 0,
        })
    }

    /// The spec.
    ///
    /// # Examples
    /// ```
    /// use linops::stream::{SketchAccumulator, SketchFamily, SketchSpec};
    /// let spec = SketchSpec::new(SketchFamily::Gaussian, 4, 10, Default::default()).unwrap();
    /// assert_eq!(SketchAccumulator::new(spec).unwrap().spec(), &spec);
    /// ```
    #[must_use]
    pub fn spec(&self) -> &SketchSpec {
        &self.spec
    }

    /// Adds `S[:, row_offset .. row_offset + b]·block` for the rows `row_offset .. row_offset + b`
    /// of `A` (`block` is `b×n`), computed on `engine` (in `f32` on a GPU engine).
    ///
    /// # Errors
    /// [`Error::EmptyDimension`] for an empty block; [`Error::InvalidArgument`] when the rows leave
    /// `0 .. m` or overlap rows already pushed; [`Error::ShapeMismatch`] when `n` differs from the
    /// earlier blocks; [`Error::NonFinite`] for NaN/Inf in the block; [`Error::DeviceLimit`] when
    /// the `d×max(n, b)` partial sum exceeds
    /// [`MAX_BLOCK_ENTRIES`](crate::randnla::MAX_BLOCK_ENTRIES); engine errors.
    ///
    /// # Examples
    /// ```
    /// use linops::{Engine, faer::Mat, stream::{SketchAccumulator, SketchFamily, SketchSpec}};
    /// let spec = SketchSpec::new(SketchFamily::Rademacher, 2, 4, Default::default()).unwrap();
    /// let mut acc = SketchAccumulator::new(spec).unwrap();
    /// let e = Engine::cpu();
    /// acc.push(&e, 1, Mat::<f64>::ones(2, 3).as_ref()).unwrap();
    /// assert!(acc.push(&e, 2, Mat::<f64>::ones(1, 3).as_ref()).is_err()); // row 2 again
    /// assert!(acc.push(&e, 3, Mat::<f64>::ones(1, 2).as_ref()).is_err()); // 2 columns, not 3
    /// ```
    pub fn push(
        &mut self,
        engine: &Engine,
        row_offset: usize,
        block: MatRef<'_, f64>,
    ) -> Result<()> {
        let (b, n) = (block.nrows(), block.ncols());
        if b == 0 || n == 0 {
            return Err(Error::EmptyDimension {
                context: "sketch accumulator block".into(),
                rows: b,
                cols: n,
            });
        }
        if row_offset.checked_add(b).is_none_or(|e| e > self.spec.m) {
            return Err(Error::InvalidArgument(format!(
                "block rows {row_offset}..{} leave the {} rows of A",
                row_offset.saturating_add(b),
                self.spec.m
            )));
        }
        if let Some(s) = &self.sum
            && s.ncols() != n
        {
            return Err(Error::ShapeMismatch {
                context: "sketch accumulator block".into(),
                expected: format!("{} columns (as the earlier blocks)", s.ncols()),
                found: format!("{n} columns"),
            });
        }
        // The partial sum is d×n and the column block of S d×b (it may be materialized).
        check_block(
            &format!(
                "sketch accumulator: S·A of d = {} rows and n = {n} columns",
                self.spec.d
            ),
            self.spec.d,
            n.max(b),
        )?;
        let range = row_offset..row_offset + b;
        self.check_disjoint(&range)?;
        let part = apply_f64(engine, &self.spec.column_block(row_offset, b)?, block)?;
        match &mut self.sum {
            Some(s) => *s += &part,
            None => self.sum = Some(part),
        }
        self.insert(range);
        self.blocks += 1;
        Ok(())
    }

    fn check_disjoint(&self, r: &Range<usize>) -> Result<()> {
        if let Some(c) = self
            .covered
            .iter()
            .find(|c| c.start < r.end && r.start < c.end)
        {
            return Err(Error::InvalidArgument(format!(
                "rows {}..{} overlap rows {}..{} already accumulated",
                r.start,
                r.end,
                c.start.max(r.start),
                c.end.min(r.end)
            )));
        }
        Ok(())
    }

    fn insert(&mut self, r: Range<usize>) {
        let at = self.covered.partition_point(|c| c.start < r.start);
        self.covered.insert(at, r);
    }

    /// Adds the partial sum of `other` (same spec, disjoint rows) into `self`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a different spec or overlapping rows (the overlap is
    /// named); [`Error::ShapeMismatch`] when the two have different column counts `n`.
    ///
    /// # Examples
    /// ```
    /// use linops::{Engine, faer::Mat, stream::{SketchAccumulator, SketchFamily, SketchSpec}};
    /// let spec = SketchSpec::new(SketchFamily::Gaussian, 2, 4, Default::default()).unwrap();
    /// let e = Engine::cpu();
    /// let (mut a, mut b) = (SketchAccumulator::new(spec).unwrap(), SketchAccumulator::new(spec).unwrap());
    /// a.push(&e, 0, Mat::<f64>::ones(2, 1).as_ref()).unwrap();
    /// b.push(&e, 1, Mat::<f64>::ones(3, 1).as_ref()).unwrap();
    /// assert!(a.clone().merge(b).is_err()); // row 1 twice
    /// ```
    pub fn merge(&mut self, other: SketchAccumulator) -> Result<()> {
        if other.spec != self.spec {
            return Err(Error::InvalidArgument(format!(
                "cannot merge sketch accumulators of different specs: {:?} and {:?}",
                self.spec, other.spec
            )));
        }
        if let (Some(a), Some(b)) = (&self.sum, &other.sum)
            && a.ncols() != b.ncols()
        {
            return Err(Error::ShapeMismatch {
                context: "sketch accumulator merge".into(),
                expected: format!("{} columns", a.ncols()),
                found: format!("{} columns", b.ncols()),
            });
        }
        for r in &other.covered {
            self.check_disjoint(r)?;
        }
        for r in other.covered {
            self.insert(r);
        }
        self.blocks += other.blocks;
        match (&mut self.sum, other.sum) {
            (Some(a), Some(b)) => *a += &b,
            (None, Some(b)) => self.sum = Some(b),
            (_, None) => {}
        }
        Ok(())
    }

    /// The row ranges of `A` not pushed yet (sorted).
    ///
    /// # Examples
    /// ```
    /// use linops::stream::{SketchAccumulator, SketchFamily, SketchSpec};
    /// let spec = SketchSpec::new(SketchFamily::Gaussian, 2, 4, Default::default()).unwrap();
    /// assert_eq!(SketchAccumulator::new(spec).unwrap().missing_rows(), vec![0..4]);
    /// ```
    #[must_use]
    pub fn missing_rows(&self) -> Vec<Range<usize>> {
        let mut out = Vec::new();
        let mut next = 0;
        for c in &self.covered {
            if c.start > next {
                out.push(next..c.start);
            }
            next = c.end;
        }
        if next < self.spec.m {
            out.push(next..self.spec.m);
        }
        out
    }

    /// Whether every row of `A` has been pushed.
    ///
    /// # Examples
    /// ```
    /// use linops::{Engine, faer::Mat, stream::{SketchAccumulator, SketchFamily, SketchSpec}};
    /// let spec = SketchSpec::new(SketchFamily::Gaussian, 2, 3, Default::default()).unwrap();
    /// let mut acc = SketchAccumulator::new(spec).unwrap();
    /// acc.push(&Engine::cpu(), 0, Mat::<f64>::ones(3, 1).as_ref()).unwrap();
    /// assert!(acc.is_complete());
    /// ```
    #[must_use]
    pub fn is_complete(&self) -> bool {
        self.missing_rows().is_empty()
    }

    /// Number of blocks pushed (over merges).
    ///
    /// # Examples
    /// ```
    /// use linops::stream::{SketchAccumulator, SketchFamily, SketchSpec};
    /// let spec = SketchSpec::new(SketchFamily::Gaussian, 2, 3, Default::default()).unwrap();
    /// assert_eq!(SketchAccumulator::new(spec).unwrap().blocks(), 0);
    /// ```
    #[must_use]
    pub fn blocks(&self) -> usize {
        self.blocks
    }

    /// The sketch `S·A` (`d×n`) once every row has been pushed.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the rows not covered yet.
    ///
    /// # Examples
    /// ```
    /// use linops::stream::{SketchAccumulator, SketchFamily, SketchSpec};
    /// let spec = SketchSpec::new(SketchFamily::Gaussian, 2, 3, Default::default()).unwrap();
    /// assert!(SketchAccumulator::new(spec).unwrap().finish().is_err());
    /// ```
    pub fn finish(self) -> Result<Mat<f64>> {
        let missing = self.missing_rows();
        match self.sum {
            Some(s) if missing.is_empty() => Ok(s),
            _ => Err(Error::InvalidArgument(format!(
                "sketch accumulator is missing rows {missing:?} of A"
            ))),
        }
    }
}
