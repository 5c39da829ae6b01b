//! Deterministic inputs: a SplitMix64 generator and seeded matrix builders.
//!
//! SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number generators", 2014) is
//! a 64-bit counter passed through a bijective mixer; it is tiny, fast and good enough for test
//! data. Values are mapped to `f64` uniform on `[-1, 1]` from the top 53 bits. Every case seeds its
//! own generator from its label ([`seed_for`]), so a case gets the same bits whatever the order or
//! selection of cases.

use faer::Mat;

/// The SplitMix64 generator.
///
/// # Examples
/// ```
/// let mut r = linops_bench::rng::SplitMix64::new(7);
/// let v = r.uniform();
/// assert!((-1.0..=1.0).contains(&v));
/// assert_eq!(linops_bench::rng::SplitMix64::new(7).next_u64(), linops_bench::rng::SplitMix64::new(7).next_u64());
/// ```
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator starting from `seed`.
    ///
    /// # Examples
    /// ```
    /// let _r = linops_bench::rng::SplitMix64::new(0);
    /// ```
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The next 64 random bits.
    ///
    /// # Examples
    /// ```
    /// // Reference value of SplitMix64 seeded with 0.
    /// assert_eq!(linops_bench::rng::SplitMix64::new(0).next_u64(), 0xe220a8397b1dcdaf);
    /// ```
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A value uniform on `[-1, 1]` (53 random bits).
    ///
    /// # Examples
    /// ```
    /// let mut r = linops_bench::rng::SplitMix64::new(1);
    /// assert!((0..1000).map(|_| r.uniform()).all(|v| (-1.0..=1.0).contains(&v)));
    /// ```
    pub fn uniform(&mut self) -> f64 {
        let unit = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64; // [0, 1)
        2.0 * unit - 1.0
    }

    /// `n` values uniform on `[-1, 1]`.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(linops_bench::rng::SplitMix64::new(1).uniform_vec(5).len(), 5);
    /// ```
    pub fn uniform_vec(&mut self, n: usize) -> Vec<f64> {
        (0..n).map(|_| self.uniform()).collect()
    }

    /// A `rows×cols` matrix of values uniform on `[-1, 1]`, filled column by column.
    ///
    /// # Examples
    /// ```
    /// let m = linops_bench::rng::SplitMix64::new(1).uniform_mat(3, 2);
    /// assert_eq!((m.nrows(), m.ncols()), (3, 2));
    /// ```
    pub fn uniform_mat(&mut self, rows: usize, cols: usize) -> Mat<f64> {
        let data = self.uniform_vec(rows * cols);
        Mat::from_fn(rows, cols, |i, j| data[i + j * rows])
    }
}

/// A seed derived from a case label (FNV-1a of its bytes), so each case has its own stream.
///
/// # Examples
/// ```
/// use linops_bench::rng::seed_for;
/// assert_eq!(seed_for("gemm m=8"), seed_for("gemm m=8"));
/// assert_ne!(seed_for("gemm m=8"), seed_for("gemm m=9"));
/// ```
pub fn seed_for(label: &str) -> u64 {
    label.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
