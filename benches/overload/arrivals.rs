//! Open-loop arrivals: a Poisson process at a fixed mean rate from a
//! seeded generator, so every run offers the same schedule.

use std::time::Duration;

/// Send times as offsets from the start of a phase.
#[derive(Debug)]
pub(crate) struct Arrivals {
    state: u64,
    mean_gap_secs: f64,
    at: Duration,
}

impl Arrivals {
    pub(crate) fn new(per_sec: f64, seed: u64) -> Arrivals {
        Arrivals {
            state: seed,
            mean_gap_secs: 1.0 / per_sec,
            at: Duration::ZERO,
        }
    }
}

/// The next SplitMix64 draw from `state` (small, fast, and good enough
/// for arrival times), as a uniform in (0, 1]: 53 random bits, never
/// zero, so its logarithm is finite.
pub(crate) fn uniform(state: &mut u64) -> f64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (((z ^ (z >> 31)) >> 11) + 1) as f64 / (1u64 << 53) as f64
}

impl Iterator for Arrivals {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let uniform = uniform(&mut self.state);
        self.at += Duration::from_secs_f64(-uniform.ln() * self.mean_gap_secs);
        Some(self.at)
    }
}
