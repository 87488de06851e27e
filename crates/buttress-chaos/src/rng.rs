//! Seeded, lock-free randomness shared by every clone of a layer.
//!
//! A `fastrand::Rng` is not `Sync`, and a mutex around one would put a
//! lock on the request path. Instead the layer keeps one atomic counter:
//! each call takes the next value (one `fetch_add`), mixes it with
//! SplitMix64's finaliser, and seeds a local `Rng` with the result for
//! the draws of that call. The same seed and the same order of calls give
//! the same faults, run after run; draws of different calls do not
//! overlap, since each call's stream starts from its own mixed seed.

use std::sync::atomic::{AtomicU64, Ordering};

/// SplitMix64's increment (the golden ratio in 64 bits).
const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

pub(crate) struct Draws {
    counter: AtomicU64,
}

impl Draws {
    pub(crate) fn new(seed: u64) -> Self {
        Draws {
            counter: AtomicU64::new(seed),
        }
    }

    /// The generator for one call's draws.
    #[inline]
    pub(crate) fn next(&self) -> fastrand::Rng {
        let n = self.counter.fetch_add(GAMMA, Ordering::Relaxed);
        fastrand::Rng::with_seed(mix(n.wrapping_add(GAMMA)))
    }
}

/// SplitMix64's output function.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_draws() {
        let (a, b) = (Draws::new(7), Draws::new(7));
        for _ in 0..100 {
            assert_eq!(a.next().u64(..), b.next().u64(..));
        }
        assert_ne!(Draws::new(7).next().u64(..), Draws::new(8).next().u64(..));
    }
}
