//! Passive outlier ejection settings.

use std::time::Duration;

use buttress_breaker::{BackoffConfig, BreakerConfig, WindowConfig};
use buttress_core::config::{ConfigError, MAX_DURATION, check_duration};

/// Ejecting an endpoint by its failure rate over a time window.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FailureRateConfig {
    /// The failure rate, in percent (0, 100], that ejects (default 50).
    pub rate: f64,
    /// The window the rate is taken over (default 10 s; at least 10 ms).
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// The fewest calls in the window before the rate is judged
    /// (default 20).
    pub minimum_calls: u32,
}

impl Default for FailureRateConfig {
    fn default() -> Self {
        FailureRateConfig {
            rate: 50.0,
            window: Duration::from_secs(10),
            minimum_calls: 20,
        }
    }
}

/// Passive outlier ejection: endpoints whose answers fail are taken out
/// of rotation for a while, as Envoy's outlier detection and gRPC's
/// (gRFC A50) do, judged by the balancer's classifier (core's
/// `DefaultClassifier` unless replaced).
///
/// Each criterion runs a circuit breaker's state machine in shadow mode
/// per endpoint (see the crate documentation): open means ejected, its
/// wait is the ejection time (growing by `multiplier` on each ejection
/// that follows a failed readmission, to `max_time`, jittered), and
/// half-open is the readmission, judged by `probes` calls.
///
/// | field | default | meaning |
/// |---|---|---|
/// | `enabled` | true | eject at all |
/// | `consecutive_failures` | 5 | this many failures in a row eject (`None`: off) |
/// | `failure_rate` | 50 % over 10 s, 20 calls | a failure rate that ejects (`None`: off) |
/// | `base_time` | 30 s | the first ejection's length |
/// | `max_time` | 5 min | the longest ejection |
/// | `multiplier` | 2 | growth per repeated ejection |
/// | `jitter` | 0.1 | each ejection time × `1 ± jitter` |
/// | `probes` | 3 | calls that judge a readmission |
/// | `max_ejection_percent` | 50 | at most this share of the endpoints ejected at once |
/// | `overload_ejects` | false | whether overloaded answers count as failures here |
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EjectionConfig {
    /// Whether endpoints are ejected at all (default true).
    pub enabled: bool,
    /// Failures in a row that eject an endpoint (default 5, 1 to 1,000;
    /// `None`: off).
    pub consecutive_failures: Option<u32>,
    /// A failure rate that ejects an endpoint (default 50 % over 10 s once
    /// 20 calls are in; `None`: off).
    pub failure_rate: Option<FailureRateConfig>,
    /// How long the first ejection lasts (default 30 s; more than zero, at
    /// most a day).
    #[serde(with = "humantime_serde")]
    pub base_time: Duration,
    /// The longest ejection, jitter included (default 5 min; at least
    /// `base_time`).
    #[serde(with = "humantime_serde")]
    pub max_time: Duration,
    /// Each ejection that follows a failed readmission lasts this many
    /// times longer than the one before (default 2, at least 1).
    pub multiplier: f64,
    /// Each ejection time is scaled by a random factor in `1 ± jitter`
    /// (default 0.1, 0 to < 1), so endpoints ejected together are not
    /// readmitted together.
    pub jitter: f64,
    /// Calls that judge a readmitted endpoint (default 3, 1 to 1,000).
    pub probes: u32,
    /// At most this percent of the endpoints are ejected at once, rounded
    /// down (default 50; 0 to 100): a fleet-wide problem never ejects
    /// every endpoint. With three endpoints, 34 allows one.
    pub max_ejection_percent: f64,
    /// Whether an overloaded answer (429, `RESOURCE_EXHAUSTED`) counts as
    /// a failure toward ejection (default false: it only lowers the
    /// endpoint's share through the load estimate).
    pub overload_ejects: bool,
}

impl Default for EjectionConfig {
    fn default() -> Self {
        EjectionConfig {
            enabled: true,
            consecutive_failures: Some(5),
            failure_rate: Some(FailureRateConfig::default()),
            base_time: Duration::from_secs(30),
            max_time: Duration::from_secs(300),
            multiplier: 2.0,
            jitter: 0.1,
            probes: 3,
            max_ejection_percent: 50.0,
            overload_ejects: false,
        }
    }
}

fn fail(field: &'static str, problem: &'static str) -> ConfigError {
    ConfigError::new(field, problem)
}

impl EjectionConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if let Some(n) = self.consecutive_failures
            && !(1..=1_000).contains(&n)
        {
            return Err(fail(
                "ejection.consecutive_failures",
                "must be between 1 and 1,000",
            ));
        }
        if let Some(rate) = &self.failure_rate {
            if !(rate.rate > 0.0 && rate.rate <= 100.0) {
                return Err(fail(
                    "ejection.failure_rate.rate",
                    "must be a percentage in (0, 100]",
                ));
            }
            check_duration(
                "ejection.failure_rate.window",
                rate.window,
                Duration::from_millis(10)..=MAX_DURATION,
            )?;
            if rate.minimum_calls == 0 {
                return Err(fail(
                    "ejection.failure_rate.minimum_calls",
                    "must be at least 1",
                ));
            }
        }
        check_duration(
            "ejection.base_time",
            self.base_time,
            Duration::from_nanos(1)..=MAX_DURATION,
        )?;
        check_duration(
            "ejection.max_time",
            self.max_time,
            Duration::from_nanos(1)..=MAX_DURATION,
        )?;
        if self.max_time < self.base_time {
            return Err(fail("ejection.max_time", "must be at least base_time"));
        }
        if !(self.multiplier >= 1.0 && self.multiplier.is_finite()) {
            return Err(fail("ejection.multiplier", "must be at least 1"));
        }
        if !(0.0..1.0).contains(&self.jitter) {
            return Err(fail("ejection.jitter", "must be in [0, 1)"));
        }
        if !(1..=1_000).contains(&self.probes) {
            return Err(fail("ejection.probes", "must be between 1 and 1,000"));
        }
        if !(0.0..=100.0).contains(&self.max_ejection_percent) {
            return Err(fail(
                "ejection.max_ejection_percent",
                "must be a percentage in [0, 100]",
            ));
        }
        // What the breaker itself checks, in its own words: a mistake
        // here must not surface later, when an endpoint is added.
        for config in [self.consecutive(0), self.rate(0)].into_iter().flatten() {
            buttress_core::layer::LayerConfig::validate(&config)
                .map_err(|err| err.in_section("ejection"))?;
        }
        Ok(())
    }

    fn breaker(&self, seed: u64) -> BreakerConfig {
        BreakerConfig {
            wait: self.base_time,
            backoff: BackoffConfig {
                multiplier: self.multiplier,
                max_wait: self.max_time,
                jitter: self.jitter,
            },
            permitted_probes: self.probes,
            // Shadow mode: the breaker judges, the balancer acts (it may
            // keep an endpoint past `max_ejection_percent`).
            metrics_only: true,
            seed: Some(seed),
            ..BreakerConfig::default()
        }
    }

    /// The breaker that counts failures in a row: a count window of `n`
    /// calls that trips when all `n` failed.
    pub(crate) fn consecutive(&self, seed: u64) -> Option<BreakerConfig> {
        let n = self.consecutive_failures.filter(|_| self.enabled)?;
        Some(BreakerConfig {
            window: WindowConfig::Count { size: n },
            failure_rate: 100.0,
            minimum_calls: n,
            ..self.breaker(seed)
        })
    }

    /// The breaker that judges the failure rate over a time window.
    pub(crate) fn rate(&self, seed: u64) -> Option<BreakerConfig> {
        let rate = self.failure_rate.filter(|_| self.enabled)?;
        Some(BreakerConfig {
            window: WindowConfig::Time {
                duration: rate.window,
                buckets: 10,
            },
            failure_rate: rate.rate,
            minimum_calls: rate.minimum_calls,
            ..self.breaker(seed)
        })
    }
}

/// How many of `endpoints` may be ejected at once under `percent`,
/// rounded down.
pub(crate) fn ejection_cap(percent: f64, endpoints: usize) -> usize {
    // A hair above, so that 100 % of 3 is 3 however `f64` rounds.
    ((endpoints as f64) * percent / 100.0 + 1e-9).floor() as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_rounds_down() {
        assert_eq!(ejection_cap(34.0, 3), 1);
        assert_eq!(ejection_cap(34.0, 2), 0);
        assert_eq!(ejection_cap(100.0, 3), 3);
        assert_eq!(ejection_cap(50.0, 4), 2);
    }
}
