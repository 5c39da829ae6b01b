//! Philox4x32-10 (Salmon, Moraes, Dror and Shaw, "Parallel random numbers: as easy as 1, 2, 3",
//! SC'11; the Random123 library), specified here once for every backend.
//!
//! **State.** A 128-bit counter `c = (c0, c1, c2, c3)` and a 64-bit key `k = (k0, k1)`, all
//! `u32` words; word 0 is the least significant when the counter is read as a 128-bit integer.
//!
//! **Round.** With the multipliers `M0 = 0xD2511F53`, `M1 = 0xCD9E8D57` and the full 64-bit
//! products `M0·c0 = (hi0, lo0)`, `M1·c2 = (hi1, lo1)`:
//!
//! ```text
//! (c0, c1, c2, c3) ← (hi1 ⊕ c1 ⊕ k0,  lo1,  hi0 ⊕ c3 ⊕ k1,  lo0)
//! ```
//!
//! **Key schedule.** Between rounds the key is bumped by the Weyl constants
//! `W0 = 0x9E3779B9`, `W1 = 0xBB67AE85` (mod 2³²): round `r` (0-based) uses
//! `(k0 + r·W0, k1 + r·W1)`. Ten rounds; the output is the final counter words.
//!
//! The WGSL twin (`shaders/philox.wgsl`) computes `hi` without a 64-bit multiply, from 16-bit
//! limbs; both are checked against Random123's known-answer vectors (`kat_vectors`).
//!
//! Cost: 10 rounds × 2 widening multiplies per 4 output words.

/// First Philox multiplier (applied to counter word 0).
pub const PHILOX_M0: u32 = 0xD251_1F53;
/// Second Philox multiplier (applied to counter word 2).
pub const PHILOX_M1: u32 = 0xCD9E_8D57;
/// Weyl increment of key word 0 (the golden ratio, 2³²/φ).
pub const PHILOX_W0: u32 = 0x9E37_79B9;
/// Weyl increment of key word 1 (√3 − 1, scaled by 2³²).
pub const PHILOX_W1: u32 = 0xBB67_AE85;
/// Number of rounds.
pub const PHILOX_ROUNDS: u32 = 10;

#[inline(always)]
fn mulhilo(a: u32, b: u32) -> (u32, u32) {
    let p = u64::from(a) * u64::from(b);
    ((p >> 32) as u32, p as u32)
}

/// One Philox4x32-10 block: the four output words for counter `ctr` under `key`.
///
/// # Examples
/// ```
/// use linops_core::rng::philox4x32_10;
/// // Random123 kat_vectors: all-zero counter and key.
/// assert_eq!(philox4x32_10([0; 4], [0; 2]), [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]);
/// ```
#[must_use]
#[inline(always)]
pub fn philox4x32_10(ctr: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let mut c = ctr;
    let mut k = key;
    for r in 0..PHILOX_ROUNDS {
        if r > 0 {
            k[0] = k[0].wrapping_add(PHILOX_W0);
            k[1] = k[1].wrapping_add(PHILOX_W1);
        }
        let (hi0, lo0) = mulhilo(PHILOX_M0, c[0]);
        let (hi1, lo1) = mulhilo(PHILOX_M1, c[2]);
        c = [hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0];
    }
    c
}
