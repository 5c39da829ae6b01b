//! The column generator of [`RngState::column_into`] for [`LANES`] Philox blocks at a time.
//!
//! Each step fills `4·LANES` consecutive rows of one column: the `LANES` counters, the Philox
//! rounds on each, and the distribution's mapping of each block's words, every one a loop over
//! the lanes of arrays with no branch that the compiler cannot turn into a select. Called from a
//! function compiled for wide vector instructions (the CPU backend's AVX-512 and AVX2 variants),
//! these loops become vector code: 16 blocks per AVX-512 instruction where the scalar generator
//! takes one. Every entry is computed by the same operations on the same operands as in
//! [`RngState::column_into`] (the scalar functions themselves, inlined into the lane loops), so
//! the bits are the same; the rows before the first multiple of 4 and after the last whole step
//! go through [`RngState::column_into`].

use super::dist::{Dist, box_muller, rademacher, uniform_f32};
use super::philox::philox4x32_10;
use super::{RngState, from_u128, to_u128};

/// Philox blocks per step of [`RngState::column_into_lanes`].
pub const LANES: usize = 16;

impl RngState {
    /// The same entries as [`RngState::column_into`] (the same bits), generated [`LANES`] Philox
    /// blocks at a time (module docs). `#[inline(always)]` so that a caller compiled with wider
    /// vector instructions (`#[target_feature]`) gets them in these loops too.
    ///
    /// # Examples
    /// ```
    /// use linops_core::rng::{Dist, RngState};
    /// let s = RngState::new(3);
    /// let (mut a, mut b) = ([0.0f32; 150], [0.0f32; 150]);
    /// s.column_into(Dist::Gaussian, 5, 9, &mut a);
    /// s.column_into_lanes(Dist::Gaussian, 5, 9, &mut b);
    /// assert_eq!(a.map(f32::to_bits), b.map(f32::to_bits));
    /// ```
    #[inline(always)]
    pub fn column_into_lanes(&self, dist: Dist, i0: u64, j: u64, out: &mut [f32]) {
        // Rows up to the first multiple of 4: a part of one block.
        let head = (i0.next_multiple_of(4) - i0).min(out.len() as u64) as usize;
        let (head_out, rest) = out.split_at_mut(head);
        self.column_into(dist, i0, j, head_out);
        let i1 = i0 + head as u64;
        let rest_len = rest.len();
        let mut steps = rest.chunks_exact_mut(4 * LANES);
        let base = to_u128(self.counter).wrapping_add((u128::from(j) << 32) + u128::from(i1 >> 2));
        for (s, step) in (&mut steps).enumerate() {
            let first = base.wrapping_add((s * LANES) as u128);
            let mut ctr = [[0u32; 4]; LANES];
            for (t, c) in ctr.iter_mut().enumerate() {
                *c = from_u128(first.wrapping_add(t as u128));
            }
            let words = blocks(ctr, self.key);
            let step: &mut [f32; 4 * LANES] = step.try_into().expect("a whole step");
            map_blocks(dist, &words, step);
        }
        let tail = steps.into_remainder();
        let done = (rest_len - tail.len()) as u64;
        self.column_into(dist, i1 + done, j, tail);
    }
}

/// The Philox block of each counter (lane by lane).
#[inline(always)]
fn blocks(ctr: [[u32; 4]; LANES], key: [u32; 2]) -> [[u32; 4]; LANES] {
    let mut w = [[0u32; 4]; LANES];
    for (w, c) in w.iter_mut().zip(ctr) {
        *w = philox4x32_10(c, key);
    }
    w
}

/// Each block's four entries under `dist`, block `t` into `out[4t..4t + 4]` (the order of
/// [`Dist::block`]).
#[inline(always)]
fn map_blocks(dist: Dist, w: &[[u32; 4]; LANES], out: &mut [f32; 4 * LANES]) {
    match dist {
        Dist::Uniform => {
            for (o, w) in out.chunks_exact_mut(4).zip(w) {
                for (o, &w) in o.iter_mut().zip(w) {
                    *o = uniform_f32(w);
                }
            }
        }
        Dist::Rademacher => {
            for (o, w) in out.chunks_exact_mut(4).zip(w) {
                for (o, &w) in o.iter_mut().zip(w) {
                    *o = rademacher(w);
                }
            }
        }
        Dist::Gaussian => {
            for (o, w) in out.chunks_exact_mut(4).zip(w) {
                let (a, b) = box_muller(w[0], w[1]);
                let (c, d) = box_muller(w[2], w[3]);
                o.copy_from_slice(&[a, b, c, d]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bits of `column_into_lanes` against `column_into` for every distribution, row origins
    /// on and off a block boundary, lengths around the step (`4·LANES`) and counters whose
    /// low word wraps inside a step (the carry into the next word).
    #[test]
    fn lanes_give_the_bits_of_the_scalar_generator() {
        let states = [
            RngState::new(7),
            RngState::with_counter([u32::MAX - 20, 5, u32::MAX, 1], [3, 9]),
            RngState::with_counter([u32::MAX; 4], [u32::MAX, 0]),
        ];
        for s in states {
            for dist in [Dist::Uniform, Dist::Rademacher, Dist::Gaussian] {
                for i0 in [0u64, 1, 2, 3, 4, 61, (1 << 32) - 8] {
                    for len in [0usize, 1, 3, 4, 63, 64, 65, 130, 257] {
                        for j in [0u64, 5, u64::from(u32::MAX)] {
                            let mut want = vec![0.0f32; len];
                            let mut got = vec![1.0f32; len];
                            s.column_into(dist, i0, j, &mut want);
                            s.column_into_lanes(dist, i0, j, &mut got);
                            let (w, g): (Vec<u32>, Vec<u32>) = (
                                want.iter().map(|v| v.to_bits()).collect(),
                                got.iter().map(|v| v.to_bits()).collect(),
                            );
                            assert_eq!(g, w, "{s:?} {dist:?} i0={i0} len={len} j={j}");
                        }
                    }
                }
            }
        }
    }
}
