//! Reproducible randomness: Philox4x32-10 keyed by an [`RngState`], and the distributions built on
//! its output words, specified once so that the CPU and the GPU produce the same bits.
//!
//! **Generator.** [`philox4x32_10`] (see [`philox`] for the full specification: rounds,
//! multipliers, Weyl constants, word order), a counter-based generator: each output block of four
//! `u32` words is a pure function of a 128-bit counter and a 64-bit key.
//!
//! **State.** `RngState { counter: [u32; 4], key: [u32; 2] }` as in RandBLAS: the key selects the
//! stream, the counter is a base offset within it. Counters are 128-bit integers with word 0 least
//! significant; `+` below is addition mod 2¹²⁸.
//!
//! **Matrix layout** (dense sketches and [`RngState::entry`]). Entry `(i, j)` of a random matrix
//! (row `i`, column `j`, any shape) is value `i mod 4` of the block
//!
//! ```text
//! philox4x32_10(counter + j·2³² + ⌊i/4⌋, key)
//! ```
//!
//! mapped by a [`Dist`] (word `i mod 4`; for Gaussian, Box–Muller on words (0, 1) or (2, 3)). So
//! every entry is a pure function of (key, counter, i, j): any submatrix, column panel or GPU tile
//! can be generated on its own, and four consecutive rows of one column (starting at a multiple
//! of 4) share one Philox call — tiles whose row origin is a multiple of 4 waste nothing. Column
//! `j` uses the counter range `counter + j·2³² + [0, 2³²)`, so columns never overlap for up to
//! 2³⁴ rows; a matrix with `m` columns consumes `m·2³²` counters, and
//! [`RngState::skip_columns`] gives the state for the next, independent matrix.
//!
//! **Distributions** ([`dist`]): uniform f32 `[0, 1)` and `(0, 1]`, uniform f64 `[0, 1)`,
//! Rademacher, Gaussian (Box–Muller), with exact bit recipes and the cross-backend guarantee
//! (bit-identical except Gaussian: at most [`GAUSSIAN_GPU_MAX_ULPS`] ulps).
//!
//! Cost: one Philox block (10 rounds) per four entries; Box–Muller adds one `ln`, one `sqrt`
//! and one `sin`/`cos` pair per two entries. [`RngState::column_into_lanes`] ([`lanes`]) gives
//! the same entries 16 blocks at a time, in loops a caller compiled for wide vector
//! instructions turns into vector code (the CPU backend's generator: 5.3× faster Gaussian
//! sketches on the 2-core dev box, 2026-12-03).

pub mod dist;
pub mod lanes;
pub mod philox;

pub use dist::{
    Dist, GAUSSIAN_GPU_MAX_ULPS, box_muller, rademacher, uniform_f32, uniform_f64, uniform_open_f32,
};
pub use philox::philox4x32_10;

/// The state of a Philox stream: a 128-bit counter and a 64-bit key (RandBLAS's `RNGState`).
///
/// # Examples
/// ```
/// use linops_core::rng::RngState;
/// let s = RngState::new(42);
/// assert_eq!(s.key, [42, 0]);
/// assert_eq!(s.counter, [0; 4]);
/// ```
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
pub struct RngState {
    /// Base counter, word 0 least significant.
    pub counter: [u32; 4],
    /// Key: `[low 32 bits, high 32 bits]` of the seed for [`RngState::new`].
    pub key: [u32; 2],
}

/// A seed is the state [`RngState::new`] makes of it, so every constructor that takes
/// `impl Into<RngState>` accepts a plain `u64` seed as well.
///
/// # Examples
/// ```
/// use linops_core::rng::RngState;
/// assert_eq!(RngState::from(42), RngState::new(42));
/// ```
impl From<u64> for RngState {
    fn from(seed: u64) -> Self {
        RngState::new(seed)
    }
}

fn to_u128(c: [u32; 4]) -> u128 {
    u128::from(c[0]) | u128::from(c[1]) << 32 | u128::from(c[2]) << 64 | u128::from(c[3]) << 96
}

fn from_u128(v: u128) -> [u32; 4] {
    [
        v as u32,
        (v >> 32) as u32,
        (v >> 64) as u32,
        (v >> 96) as u32,
    ]
}

impl RngState {
    /// The state with key `seed` (low word first) and counter 0.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(linops_core::rng::RngState::new(1 << 32).key, [0, 1]);
    /// ```
    #[must_use]
    pub fn new(seed: u64) -> Self {
        Self {
            counter: [0; 4],
            key: [seed as u32, (seed >> 32) as u32],
        }
    }

    /// The state with an explicit counter and key.
    ///
    /// # Examples
    /// ```
    /// let s = linops_core::rng::RngState::with_counter([1, 2, 3, 4], [5, 6]);
    /// assert_eq!(s.counter[3], 4);
    /// ```
    #[must_use]
    pub fn with_counter(counter: [u32; 4], key: [u32; 2]) -> Self {
        Self { counter, key }
    }

    /// The counter `counter + offset` (mod 2¹²⁸).
    ///
    /// # Examples
    /// ```
    /// let s = linops_core::rng::RngState::with_counter([u32::MAX, 0, 0, 0], [0, 0]);
    /// assert_eq!(s.counter_at(1), [0, 1, 0, 0]);
    /// ```
    #[must_use]
    pub fn counter_at(&self, offset: u128) -> [u32; 4] {
        from_u128(to_u128(self.counter).wrapping_add(offset))
    }

    /// The Philox block at `counter + offset`.
    ///
    /// # Examples
    /// ```
    /// use linops_core::rng::{RngState, philox4x32_10};
    /// let s = RngState::new(7);
    /// assert_eq!(s.block(3), philox4x32_10([3, 0, 0, 0], [7, 0]));
    /// ```
    #[must_use]
    pub fn block(&self, offset: u128) -> [u32; 4] {
        philox4x32_10(self.counter_at(offset), self.key)
    }

    /// The block holding rows `4⌊i/4⌋ .. 4⌊i/4⌋ + 3` of column `j` in the matrix layout (module
    /// docs): `philox(counter + j·2³² + ⌊i/4⌋, key)`.
    ///
    /// # Examples
    /// ```
    /// use linops_core::rng::RngState;
    /// let s = RngState::new(7);
    /// assert_eq!(s.matrix_block(5, 2), s.block((2u128 << 32) + 1));
    /// ```
    #[must_use]
    pub fn matrix_block(&self, i: u64, j: u64) -> [u32; 4] {
        self.block((u128::from(j) << 32) + u128::from(i >> 2))
    }

    /// Entry `(i, j)` of the random matrix with entries from `dist` (module docs).
    ///
    /// # Examples
    /// ```
    /// use linops_core::rng::{Dist, RngState};
    /// let s = RngState::new(1);
    /// let v = s.entry(Dist::Rademacher, 10, 3);
    /// assert!(v == 1.0 || v == -1.0);
    /// ```
    #[must_use]
    pub fn entry(&self, dist: Dist, i: u64, j: u64) -> f32 {
        dist.block(self.matrix_block(i, j))[(i % 4) as usize]
    }

    /// The state whose matrices are independent of the first `cols` columns of this one's
    /// (counter advanced by `cols·2³²`).
    ///
    /// # Examples
    /// ```
    /// let s = linops_core::rng::RngState::new(1).skip_columns(3);
    /// assert_eq!(s.counter, [0, 3, 0, 0]);
    /// ```
    #[must_use]
    pub fn skip_columns(&self, cols: u64) -> Self {
        Self {
            counter: self.counter_at(u128::from(cols) << 32),
            key: self.key,
        }
    }
}

impl RngState {
    /// Fills `out[r]` with entry `(i0 + r, j)` of the random matrix with entries from `dist`,
    /// one Philox call per four rows (the CPU's column generator).
    ///
    /// # Examples
    /// ```
    /// use linops_core::rng::{Dist, RngState};
    /// let s = RngState::new(9);
    /// let mut col = [0.0f32; 7];
    /// s.column_into(Dist::Gaussian, 2, 5, &mut col);
    /// assert_eq!(col[4], s.entry(Dist::Gaussian, 6, 5));
    /// ```
    pub fn column_into(&self, dist: Dist, i0: u64, j: u64, out: &mut [f32]) {
        let mut r = 0usize;
        while r < out.len() {
            let i = i0 + r as u64;
            let vals = dist.block(self.matrix_block(i, j));
            let first = (i % 4) as usize;
            let take = (4 - first).min(out.len() - r);
            out[r..r + take].copy_from_slice(&vals[first..first + take]);
            r += take;
        }
    }
}
