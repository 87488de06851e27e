//! [`SharedRng`]: seeded randomness shared by every clone of a layer,
//! without a lock.
//!
//! A layer's jitter, sampling and fault draws come from one stream per
//! layer. Each draw advances one atomic counter and mixes it with
//! SplitMix64's output function, so the request path takes no lock; one
//! sequential caller (a paused-clock test) sees the same numbers for the
//! same seed every run, and concurrent callers each get distinct draws of
//! the same stream.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::clock::nanos;

/// SplitMix64's increment (the golden ratio in 64 bits).
const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// A lock-free, seedable random stream (SplitMix64 over an atomic
/// counter).
///
/// ```
/// use buttress_core::rng::SharedRng;
/// use std::time::Duration;
///
/// let (a, b) = (SharedRng::new(7), SharedRng::new(7));
/// assert_eq!(a.next_u64(), b.next_u64());
/// let d = a.between(Duration::from_millis(10), Duration::from_millis(20));
/// assert!((Duration::from_millis(10)..=Duration::from_millis(20)).contains(&d));
/// assert!((0.0..1.0).contains(&a.next_f64()));
/// ```
#[derive(Debug)]
pub struct SharedRng {
    state: AtomicU64,
}

impl SharedRng {
    /// A stream seeded with `seed`: the same seed, the same draws.
    pub const fn new(seed: u64) -> Self {
        SharedRng {
            state: AtomicU64::new(seed),
        }
    }

    /// A stream seeded from `seed` when given, else from the process's
    /// per-run entropy (std's random hasher keys), for layers whose seed
    /// is an optional setting.
    pub fn seeded_or_random(seed: Option<u64>) -> Self {
        Self::new(seed.unwrap_or_else(random_seed))
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&self) -> u64 {
        mix(self.state.fetch_add(GAMMA, Relaxed).wrapping_add(GAMMA))
    }

    /// A uniform draw in `[0, 1)`.
    #[inline]
    pub fn next_f64(&self) -> f64 {
        // The top 53 bits, as many as an f64's mantissa holds.
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// `true` with probability `p` (clamped to `[0, 1]`).
    #[inline]
    pub fn chance(&self, p: f64) -> bool {
        p >= 1.0 || (p > 0.0 && self.next_f64() < p)
    }

    /// A uniform draw in `[low, high]` (`high` below `low` yields `low`).
    pub fn between(&self, low: Duration, high: Duration) -> Duration {
        let low_ns = nanos(low);
        let span = nanos(high).saturating_sub(low_ns);
        if span == 0 {
            return low;
        }
        // Lemire's multiply-shift: no modulo bias worth speaking of.
        let offset = (u128::from(self.next_u64()) * (u128::from(span) + 1)) >> 64;
        Duration::from_nanos(low_ns.saturating_add(offset as u64))
    }
}

/// SplitMix64's output function: a 64-bit mix with full avalanche.
#[inline]
pub const fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// 64 bits that differ from run to run: std's `RandomState` is keyed from
/// the operating system's randomness once per process.
pub fn random_seed() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(0x5EED_u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream() {
        let (a, b, c) = (SharedRng::new(7), SharedRng::new(7), SharedRng::new(8));
        let xs: Vec<u64> = (0..5).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..5).map(|_| b.next_u64()).collect();
        let zs: Vec<u64> = (0..5).map(|_| c.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
    }

    #[test]
    fn between_stays_in_bounds_and_spreads() {
        let rng = SharedRng::new(1);
        let (low, high) = (Duration::from_millis(10), Duration::from_millis(20));
        let draws: Vec<Duration> = (0..10_000).map(|_| rng.between(low, high)).collect();
        assert!(draws.iter().all(|d| (low..=high).contains(d)));
        let below_mid = draws
            .iter()
            .filter(|d| **d < Duration::from_millis(15))
            .count();
        assert!((4_000..6_000).contains(&below_mid), "{below_mid}");
        assert_eq!(rng.between(high, low), high);
    }

    #[test]
    fn floats_are_uniform_and_chance_follows_p() {
        let rng = SharedRng::new(3);
        let draws: Vec<f64> = (0..10_000).map(|_| rng.next_f64()).collect();
        assert!(draws.iter().all(|x| (0.0..1.0).contains(x)));
        let low = draws.iter().filter(|x| **x < 0.5).count();
        assert!((4_700..5_300).contains(&low), "{low}");
        let hits = (0..10_000).filter(|_| rng.chance(0.1)).count();
        assert!((800..1_200).contains(&hits), "{hits}");
        assert!(!rng.chance(0.0) && rng.chance(1.0) && !rng.chance(f64::NAN));
    }
}
