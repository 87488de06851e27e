//! The peak-EWMA round-trip estimate, lock-free.
//!
//! As tower's `PeakEwma`: a sample above the estimate replaces it at once
//! (the peak), one below pulls it down by how long ago the last sample
//! was, and an endpoint nobody calls decays toward zero, so it is tried
//! again. Unlike tower's, the estimate is two atomics rather than a
//! `Mutex` per endpoint: every clone of the balancer reads it on every
//! choice, and a read is two loads and one `exp`. Two samples landing at
//! once may lose one of them; an estimate does not need both.

use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;

#[derive(Debug)]
pub(crate) struct PeakEwma {
    /// Nanoseconds, as `f64` bits, as of `stamp`.
    estimate: AtomicU64,
    /// When `estimate` was written, in clock ticks.
    stamp: AtomicU64,
}

impl PeakEwma {
    pub(crate) fn new(initial_ns: f64, now: u64) -> Self {
        PeakEwma {
            estimate: AtomicU64::new(initial_ns.to_bits()),
            stamp: AtomicU64::new(now),
        }
    }

    /// The estimate at `now`, decayed toward zero since its last sample.
    #[inline]
    pub(crate) fn estimate(&self, now: u64, decay_ns: f64) -> f64 {
        let estimate = f64::from_bits(self.estimate.load(Relaxed));
        let elapsed = now.saturating_sub(self.stamp.load(Relaxed)) as f64;
        estimate * (-elapsed / decay_ns).exp()
    }

    /// Takes one round trip of `rtt_ns`, ending at `now`.
    pub(crate) fn observe(&self, now: u64, rtt_ns: f64, decay_ns: f64) {
        let prior = f64::from_bits(self.estimate.load(Relaxed));
        let elapsed = now.saturating_sub(self.stamp.load(Relaxed)) as f64;
        let decay = (-elapsed / decay_ns).exp();
        let next = if rtt_ns > prior * decay {
            rtt_ns
        } else {
            prior * decay + rtt_ns * (1.0 - decay)
        };
        self.estimate.store(next.to_bits(), Relaxed);
        self.stamp.store(now, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: f64 = 1_000_000.0;
    const DECAY: f64 = 10_000.0 * MS;

    #[test]
    fn a_peak_replaces_the_estimate_and_decays_while_idle() {
        let ewma = PeakEwma::new(30.0 * MS, 0);
        ewma.observe(0, 100.0 * MS, DECAY);
        assert_eq!(ewma.estimate(0, DECAY), 100.0 * MS);
        let later = ewma.estimate(10_000 * 1_000_000, DECAY);
        assert!((later - 100.0 * MS / std::f64::consts::E).abs() < MS);
    }

    #[test]
    fn lower_samples_pull_it_down_by_recency() {
        let ewma = PeakEwma::new(100.0 * MS, 0);
        // A sample right after the last barely moves it.
        ewma.observe(1, 1.0 * MS, DECAY);
        assert!(ewma.estimate(1, DECAY) > 99.0 * MS);
        // One a decay period later moves it most of the way.
        ewma.observe(1 + DECAY as u64, 1.0 * MS, DECAY);
        assert!(ewma.estimate(1 + DECAY as u64, DECAY) < 40.0 * MS);
    }
}
