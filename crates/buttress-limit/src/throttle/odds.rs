//! The throttling probability and a seeded, lock-free random draw.
//!
//! Std atomics only: no tokio, no lock.

use std::sync::atomic::{AtomicU64, Ordering};

use super::window::Counts;

/// Google SRE's client-side throttling: the chance of rejecting a request
/// locally, `max(0, (requests − k·accepts) / (requests + 1))`, capped.
///
/// While the dependency accepts more than `1/k` of what is sent, the
/// chance is zero; once it rejects more, the client sends about `k` times
/// what gets accepted, and keeps the rest local.
#[inline]
pub(crate) fn reject_probability(counts: Counts, k: f64, cap: f64) -> f64 {
    let requests = counts.requests as f64;
    let excess = requests - k * counts.accepts as f64;
    if excess <= 0.0 {
        return 0.0;
    }
    (excess / (requests + 1.0)).min(cap)
}

/// A random stream shared by every thread: one `fetch_add` per draw
/// (SplitMix64), so draws are seeded and repeatable for a given order of
/// calls, without a lock.
#[derive(Debug)]
pub(crate) struct SharedRng {
    state: AtomicU64,
}

impl SharedRng {
    pub(crate) const fn new(seed: u64) -> Self {
        SharedRng {
            state: AtomicU64::new(seed),
        }
    }

    /// A uniform draw in `0.0..1.0`.
    #[inline]
    pub(crate) fn next_f64(&self) -> f64 {
        let mut z = self
            .state
            .fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed)
            .wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(requests: u64, accepts: u64) -> Counts {
        Counts { requests, accepts }
    }

    #[test]
    fn zero_while_accepts_keep_up() {
        assert_eq!(reject_probability(counts(0, 0), 2.0, 0.9), 0.0);
        assert_eq!(reject_probability(counts(100, 50), 2.0, 0.9), 0.0);
        assert_eq!(reject_probability(counts(100, 90), 2.0, 0.9), 0.0);
    }

    #[test]
    fn grows_with_rejections_up_to_the_cap() {
        let p = reject_probability(counts(100, 25), 2.0, 1.0);
        assert!((p - 50.0 / 101.0).abs() < 1e-12);
        assert_eq!(reject_probability(counts(1_000, 0), 2.0, 0.9), 0.9);
        assert!(reject_probability(counts(1_000, 0), 2.0, 1.0) > 0.99);
    }

    #[test]
    fn draws_are_uniform_and_seeded() {
        let a = SharedRng::new(7);
        let b = SharedRng::new(7);
        let draws: Vec<f64> = (0..10_000).map(|_| a.next_f64()).collect();
        assert!(draws.iter().all(|d| (0.0..1.0).contains(d)));
        assert_eq!(
            draws[..5],
            (0..5).map(|_| b.next_f64()).collect::<Vec<_>>()[..]
        );
        let below = draws.iter().filter(|d| **d < 0.3).count();
        assert!((2_700..3_300).contains(&below), "{below}");
    }
}
