//! A seedable random stream shared by every request of a layer, without a
//! lock: each draw advances an atomic counter and mixes it (SplitMix64).
//!
//! One sequential caller (a paused-clock simulation) sees the same numbers
//! for the same seed every run; concurrent callers each get distinct draws
//! of the same stream.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

#[derive(Debug)]
pub(crate) struct SharedRng {
    state: AtomicU64,
}

impl SharedRng {
    pub(crate) fn new(seed: u64) -> Self {
        SharedRng {
            state: AtomicU64::new(seed),
        }
    }

    pub(crate) fn next_u64(&self) -> u64 {
        let mut z = self.state.fetch_add(GOLDEN, Relaxed).wrapping_add(GOLDEN);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform draw in `[low, high]` (`high` below `low` yields `low`).
    pub(crate) fn between(&self, low: Duration, high: Duration) -> Duration {
        let low_ns = nanos(low);
        let span = nanos(high).saturating_sub(low_ns);
        if span == 0 {
            return low;
        }
        // Lemire's multiply-shift: no modulo bias worth speaking of.
        let offset = (u128::from(self.next_u64()) * (u128::from(span) + 1)) >> 64;
        Duration::from_nanos(low_ns + offset as u64)
    }
}

pub(crate) fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream() {
        let a = SharedRng::new(7);
        let b = SharedRng::new(7);
        let c = SharedRng::new(8);
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
}
