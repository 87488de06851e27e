//! [`Backoff`]: how a wait grows from one attempt to the next.
//!
//! Retries wait longer before each attempt, and a breaker that keeps
//! failing its probes stays open longer each time; both are the same
//! curve, `base × multiplier^step` capped at `max`, with jitter so that
//! many callers do not act in step.

use std::time::Duration;

use crate::rng::SharedRng;

/// How a wait is spread around its curve, so callers do not act in step.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Jitter {
    /// Exactly the curve.
    None,
    /// Uniform in `[0, curve]` ("full jitter"): the fewest collisions, the
    /// default for retries.
    #[default]
    Full,
    /// Uniform in `[base, min(max, 3 × previous)]` ("decorrelated
    /// jitter"): each wait depends on the one before.
    Decorrelated,
    /// Uniform in `curve × [1 - f, 1 + f]`, `f` in `[0, 1]`: the wait
    /// stays near its curve (a breaker's open wait).
    Proportional(f64),
}

/// The curve `base × multiplier^step`, capped at `max`, spread by
/// [`Jitter`].
///
/// ```
/// use buttress_core::backoff::{Backoff, Jitter};
/// use buttress_core::rng::SharedRng;
/// use std::time::Duration;
///
/// let backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1))
///     .jitter(Jitter::None);
/// let rng = SharedRng::new(0);
/// let waits: Vec<u128> = (0..6)
///     .map(|step| backoff.delay(step, Duration::ZERO, &rng).as_millis())
///     .collect();
/// assert_eq!(waits, [100, 200, 400, 800, 1_000, 1_000]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    base: Duration,
    multiplier: f64,
    max: Duration,
    jitter: Jitter,
}

impl Backoff {
    /// Doubling from `base` up to `max`, with full jitter.
    pub const fn new(base: Duration, max: Duration) -> Self {
        Backoff {
            base,
            multiplier: 2.0,
            max,
            jitter: Jitter::Full,
        }
    }

    /// Multiplies the wait by `multiplier` (at least 1) on each step.
    pub const fn multiplier(mut self, multiplier: f64) -> Self {
        self.multiplier = multiplier;
        self
    }

    /// Spreads each wait by `jitter`.
    pub const fn jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// The first wait.
    pub const fn base(&self) -> Duration {
        self.base
    }

    /// The longest wait.
    pub const fn max(&self) -> Duration {
        self.max
    }

    /// The curve without jitter at `step` (0 for the first wait).
    pub fn curve(&self, step: u32) -> Duration {
        let factor = self.multiplier.max(1.0).powi(step.min(1_000) as i32);
        let secs = self.base.as_secs_f64() * factor;
        if !secs.is_finite() || secs >= self.max.as_secs_f64() {
            return self.max;
        }
        Duration::from_secs_f64(secs).min(self.max)
    }

    /// The wait at `step` (0 for the first), given the previous wait
    /// (`Duration::ZERO` before the first; only decorrelated jitter reads
    /// it). Never longer than `max`.
    pub fn delay(&self, step: u32, previous: Duration, rng: &SharedRng) -> Duration {
        match self.jitter {
            Jitter::None => self.curve(step),
            Jitter::Full => rng.between(Duration::ZERO, self.curve(step)),
            Jitter::Decorrelated => {
                let high = previous.max(self.base).saturating_mul(3).min(self.max);
                rng.between(self.base.min(self.max), high)
            }
            Jitter::Proportional(spread) => {
                let spread = if spread.is_finite() {
                    spread.clamp(0.0, 1.0)
                } else {
                    0.0
                };
                let factor = 1.0 - spread + 2.0 * spread * rng.next_f64();
                self.curve(step).mul_f64(factor).min(self.max)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backoff(jitter: Jitter) -> Backoff {
        Backoff::new(Duration::from_millis(100), Duration::from_secs(1)).jitter(jitter)
    }

    #[test]
    fn the_curve_grows_by_its_multiplier_up_to_the_cap() {
        let rng = SharedRng::new(0);
        let b = backoff(Jitter::None);
        assert_eq!(
            b.delay(u32::MAX, Duration::ZERO, &rng),
            Duration::from_secs(1)
        );
        let tripling = b.multiplier(3.0);
        assert_eq!(tripling.curve(1), Duration::from_millis(300));
        let constant = b.multiplier(1.0);
        assert_eq!(constant.curve(50), Duration::from_millis(100));
    }

    #[test]
    fn full_jitter_stays_under_the_curve() {
        let rng = SharedRng::new(3);
        let b = backoff(Jitter::Full);
        for step in 0..5 {
            for _ in 0..200 {
                assert!(b.delay(step, Duration::ZERO, &rng) <= b.curve(step));
            }
        }
    }

    #[test]
    fn decorrelated_jitter_stays_within_base_and_cap() {
        let rng = SharedRng::new(5);
        let b = backoff(Jitter::Decorrelated);
        let mut previous = Duration::ZERO;
        for step in 0..200 {
            let delay = b.delay(step, previous, &rng);
            assert!(delay >= Duration::from_millis(100) && delay <= Duration::from_secs(1));
            previous = delay;
        }
    }

    #[test]
    fn proportional_jitter_stays_near_the_curve() {
        let rng = SharedRng::new(9);
        let b = Backoff::new(Duration::from_secs(10), Duration::from_secs(100))
            .multiplier(1.0)
            .jitter(Jitter::Proportional(0.2));
        for _ in 0..1_000 {
            let d = b.delay(0, Duration::ZERO, &rng);
            assert!(
                d >= Duration::from_secs(8) && d <= Duration::from_secs(12),
                "{d:?}"
            );
        }
    }
}
