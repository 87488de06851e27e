//! Injected latency: a fixed delay or one drawn from a distribution.

use std::time::Duration;

use buttress_core::config::{ConfigError, check_duration};

/// How long an injected delay lasts.
///
/// Real dependencies are not slow by a constant: most calls are a little
/// slow and a few are very slow. [`Latency::uniform`] spreads delays
/// evenly over a range; [`Latency::exponential`] gives the long tail
/// (most delays short, some many times the mean), capped at the layer's
/// maximum delay so that nothing waits without a bound.
///
/// ```
/// use buttress_chaos::Latency;
/// use std::time::Duration;
///
/// let fixed = Latency::fixed(Duration::from_millis(200));
/// assert_eq!(fixed.sample(0.73, Duration::from_secs(30)), Duration::from_millis(200));
///
/// let spread = Latency::uniform(Duration::from_millis(100), Duration::from_millis(300));
/// assert_eq!(spread.sample(0.5, Duration::from_secs(30)), Duration::from_millis(200));
///
/// let tail = Latency::exponential(Duration::from_millis(100));
/// assert_eq!(tail.sample(0.999_999_999, Duration::from_secs(1)), Duration::from_secs(1)); // capped
/// ```
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Latency {
    /// Always this long.
    Fixed {
        /// The delay.
        #[serde(with = "humantime_serde")]
        delay: Duration,
    },
    /// Evenly spread from `min` to `max`.
    Uniform {
        /// The shortest delay.
        #[serde(with = "humantime_serde")]
        min: Duration,
        /// The longest delay.
        #[serde(with = "humantime_serde")]
        max: Duration,
    },
    /// Exponentially distributed around `mean`: a long tail.
    Exponential {
        /// The mean delay.
        #[serde(with = "humantime_serde")]
        mean: Duration,
    },
}

impl Latency {
    /// Always `delay`.
    pub const fn fixed(delay: Duration) -> Self {
        Latency::Fixed { delay }
    }

    /// Evenly spread from `min` to `max`.
    pub const fn uniform(min: Duration, max: Duration) -> Self {
        Latency::Uniform { min, max }
    }

    /// Exponentially distributed with `mean`.
    pub const fn exponential(mean: Duration) -> Self {
        Latency::Exponential { mean }
    }

    /// The delay for a uniform draw `u` in `[0, 1)`, at most `cap`.
    pub fn sample(&self, u: f64, cap: Duration) -> Duration {
        let u = if u.is_nan() { 0.0 } else { u.clamp(0.0, 1.0) };
        let delay = match *self {
            Latency::Fixed { delay } => delay,
            Latency::Uniform { min, max } => min + (max.saturating_sub(min)).mul_f64(u),
            Latency::Exponential { mean } => {
                // Inverse CDF; `1 - u` is in (0, 1], so the log is finite.
                let factor = -(1.0 - u).max(f64::MIN_POSITIVE).ln();
                Duration::try_from_secs_f64(mean.as_secs_f64() * factor).unwrap_or(cap)
            }
        };
        delay.min(cap)
    }

    /// Checks the latency against the layer's cap: every duration at most
    /// `cap` and, but a uniform `min`, above zero; errors named
    /// `latency.<field>`.
    pub(crate) fn validate(&self, cap: Duration) -> Result<(), ConfigError> {
        let positive = Duration::from_nanos(1)..=cap;
        match *self {
            Latency::Fixed { delay } => check_duration("delay", delay, positive),
            Latency::Uniform { min, max } => check_duration("min", min, Duration::ZERO..=cap)
                .and_then(|()| {
                    if min > max {
                        return Err(ConfigError::new("max", "must be at least min"));
                    }
                    check_duration("max", max, positive)
                }),
            Latency::Exponential { mean } => check_duration("mean", mean, positive),
        }
        .map_err(|e| e.in_section("latency"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAP: Duration = Duration::from_secs(30);

    #[test]
    fn exponential_mean_is_close_to_its_parameter() {
        let latency = Latency::exponential(Duration::from_millis(100));
        let mut rng = fastrand::Rng::with_seed(1);
        let n = 100_000;
        let total: f64 = (0..n)
            .map(|_| latency.sample(rng.f64(), CAP).as_secs_f64())
            .sum();
        let mean = total / f64::from(n);
        assert!((mean - 0.1).abs() < 0.003, "{mean}");
    }

    #[test]
    fn samples_stay_in_range() {
        let uniform = Latency::uniform(Duration::from_millis(10), Duration::from_millis(20));
        for u in [0.0, 0.25, 0.999_999, 1.0, -3.0, f64::NAN] {
            let d = uniform.sample(u, CAP);
            assert!(
                d >= Duration::from_millis(10) && d <= Duration::from_millis(20),
                "{u}: {d:?}"
            );
        }
        let tail = Latency::exponential(Duration::from_secs(10));
        assert_eq!(tail.sample(1.0, CAP), CAP);
    }

    #[test]
    fn validation() {
        assert!(Latency::fixed(Duration::ZERO).validate(CAP).is_err());
        assert!(
            Latency::fixed(Duration::from_secs(31))
                .validate(CAP)
                .is_err()
        );
        assert!(
            Latency::uniform(Duration::from_secs(2), Duration::from_secs(1))
                .validate(CAP)
                .is_err()
        );
        assert!(Latency::exponential(Duration::ZERO).validate(CAP).is_err());
        assert!(Latency::fixed(Duration::from_secs(1)).validate(CAP).is_ok());
    }
}
