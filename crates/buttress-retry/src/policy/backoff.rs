//! The delay before a retry, when the server gave no hint.

use std::time::Duration;

use super::rng::SharedRng;
use crate::config::Jitter;

#[derive(Debug, Clone, Copy)]
pub(crate) struct Backoff {
    pub(crate) base: Duration,
    pub(crate) max: Duration,
    pub(crate) jitter: Jitter,
}

impl Backoff {
    /// `base × 2^(retry - 1)`, capped at `max`.
    fn exponential(&self, retry: u32) -> Duration {
        let factor = 1u32 << retry.saturating_sub(1).min(31);
        self.base.saturating_mul(factor).min(self.max)
    }

    /// The delay before retry number `retry` (1 for the first retry), given
    /// the delay before the previous one (`Duration::ZERO` for the first).
    pub(crate) fn delay(&self, retry: u32, previous: Duration, rng: &SharedRng) -> Duration {
        match self.jitter {
            Jitter::None => self.exponential(retry),
            Jitter::Full => rng.between(Duration::ZERO, self.exponential(retry)),
            Jitter::Decorrelated => {
                let high = previous.max(self.base).saturating_mul(3).min(self.max);
                rng.between(self.base, high)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backoff(jitter: Jitter) -> Backoff {
        Backoff {
            base: Duration::from_millis(100),
            max: Duration::from_secs(1),
            jitter,
        }
    }

    #[test]
    fn exponential_doubles_up_to_the_cap() {
        let rng = SharedRng::new(0);
        let b = backoff(Jitter::None);
        let delays: Vec<u64> = (1..=6)
            .map(|n| b.delay(n, Duration::ZERO, &rng).as_millis() as u64)
            .collect();
        assert_eq!(delays, [100, 200, 400, 800, 1_000, 1_000]);
        assert_eq!(
            b.delay(u32::MAX, Duration::ZERO, &rng),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn full_jitter_stays_under_the_exponential() {
        let rng = SharedRng::new(3);
        let b = backoff(Jitter::Full);
        for retry in 1..=5 {
            let ceiling = backoff(Jitter::None).delay(retry, Duration::ZERO, &rng);
            for _ in 0..200 {
                assert!(b.delay(retry, Duration::ZERO, &rng) <= ceiling);
            }
        }
    }

    #[test]
    fn decorrelated_jitter_stays_within_base_and_cap() {
        let rng = SharedRng::new(5);
        let b = backoff(Jitter::Decorrelated);
        let mut previous = Duration::ZERO;
        for retry in 1..=200 {
            let delay = b.delay(retry, previous, &rng);
            assert!(delay >= b.base && delay <= b.max, "{delay:?}");
            assert!(delay <= previous.max(b.base) * 3);
            previous = delay;
        }
    }
}
