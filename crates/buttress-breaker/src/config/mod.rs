//! The breaker's configuration, as data (DESIGN.md contract 10).
//!
//! [`BreakerConfig`] holds every setting with documented defaults and,
//! with the `serde` feature, loads from TOML or JSON with human durations
//! (`"30s"`, `"250ms"`). [`CircuitBreakerBuilder`] sets the same fields in
//! code and adds what is not data (the classifier, a telemetry sink).
//! Either way, [`build`](CircuitBreakerBuilder::build) validates the whole
//! config and says which field is wrong.

mod builder;

use std::time::Duration;

pub use self::builder::CircuitBreakerBuilder;
use crate::machine::probes::MAX_PROBES;
use crate::machine::settings::{Settings, SlowCalls, WindowShape};
use crate::window::count::MAX_SIZE;
use crate::window::time::MAX_BUCKETS;
pub use buttress_core::config::ConfigError;

/// The window over which rates are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)
)]
pub enum WindowConfig {
    /// Exactly the last `size` calls (1 to 1,000,000).
    Count {
        /// How many calls the window holds.
        size: u32,
    },
    /// The last `duration`, split into `buckets` buckets (1 to 1,000);
    /// calls age out one bucket at a time.
    Time {
        /// The span of the window.
        #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
        duration: Duration,
        /// How many buckets the span is split into.
        buckets: u32,
    },
}

impl Default for WindowConfig {
    /// A count window of the last 100 calls.
    fn default() -> Self {
        WindowConfig::Count { size: 100 }
    }
}

/// Slow-call tracking: calls that take longer than `threshold` are slow,
/// and a slow-call rate at or above `rate` percent trips the breaker as a
/// failure rate would.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(deny_unknown_fields)
)]
pub struct SlowCallConfig {
    /// A call taking longer than this is slow.
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    pub threshold: Duration,
    /// The slow-call rate, in percent (0, 100], that trips the breaker.
    pub rate: f64,
}

/// How the open wait grows on consecutive re-opens (half-open probes that
/// failed again), so that a dependency that stays down is probed less and
/// less often. The defaults keep the wait constant.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
pub struct BackoffConfig {
    /// The wait is multiplied by this on every consecutive re-open (at
    /// least 1; default 1, no growth).
    pub multiplier: f64,
    /// The wait never grows past this (default 5 minutes); jitter applies
    /// after the cap.
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    pub max_wait: Duration,
    /// Each wait is scaled by a random factor in `1 ± jitter` (0 to < 1;
    /// default 0), so that breakers tripped together do not probe
    /// together.
    pub jitter: f64,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        BackoffConfig {
            multiplier: 1.0,
            max_wait: Duration::from_secs(300),
            jitter: 0.0,
        }
    }
}

/// Every setting of a circuit breaker. `Default` gives the documented
/// defaults; see the [crate documentation](crate) for what each does.
///
/// ```
/// use buttress_breaker::{BreakerConfig, WindowConfig};
/// use std::time::Duration;
///
/// let mut config = BreakerConfig::new("payments");
/// config.window = WindowConfig::Time { duration: Duration::from_secs(60), buckets: 12 };
/// config.failure_rate = 25.0;
/// let layer = buttress_breaker::CircuitBreakerLayer::from_config(config).unwrap();
/// assert_eq!(layer.handle().state(), buttress_breaker::State::Closed);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
#[non_exhaustive]
pub struct BreakerConfig {
    /// The breaker's name in telemetry (required, non-empty).
    pub name: String,
    /// The window rates are computed over (default: the last 100 calls).
    pub window: WindowConfig,
    /// The failure rate, in percent (0, 100], that trips the breaker
    /// (default 50).
    pub failure_rate: f64,
    /// Slow-call tracking (default: off).
    pub slow_calls: Option<SlowCallConfig>,
    /// The fewest calls in the window before rates are judged (default
    /// 20; at most the size of a count window).
    pub minimum_calls: u32,
    /// How long the breaker stays open before probing (default 30 s).
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    pub wait: Duration,
    /// How the wait grows on consecutive re-opens (default: it does not).
    pub backoff: BackoffConfig,
    /// Probe calls admitted in half-open, in total and at most in flight
    /// (default 5, at most 1,000).
    pub permitted_probes: u32,
    /// Shadow mode: record and count what would be rejected, never reject
    /// (default false).
    pub metrics_only: bool,
    /// Seed of the jitter's random numbers; random when absent. Set it for
    /// reproducible simulations.
    pub seed: Option<u64>,
    /// For per-key breakers: the most keys held at once (default 1,000).
    pub max_keys: usize,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            name: String::new(),
            window: WindowConfig::default(),
            failure_rate: 50.0,
            slow_calls: None,
            minimum_calls: 20,
            wait: Duration::from_secs(30),
            backoff: BackoffConfig::default(),
            permitted_probes: 5,
            metrics_only: false,
            seed: None,
            max_keys: 1_000,
        }
    }
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

fn is_rate(rate: f64) -> bool {
    rate > 0.0 && rate <= 100.0
}

impl BreakerConfig {
    /// The defaults, named `name`.
    pub fn new(name: impl Into<String>) -> Self {
        BreakerConfig {
            name: name.into(),
            ..Self::default()
        }
    }

    /// Checks every field; the error names the first one that is wrong.
    ///
    /// ```
    /// let mut config = buttress_breaker::BreakerConfig::new("inventory");
    /// config.failure_rate = 0.0;
    /// let err = config.validate().unwrap_err();
    /// assert_eq!(err.field(), "failure_rate");
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.settings().map(|_| ())
    }

    /// The core's settings, once validated.
    pub(crate) fn settings(&self) -> Result<Settings, ConfigError> {
        let fail = ConfigError::new;
        if self.name.is_empty() {
            return Err(fail("name", "must not be empty"));
        }
        let window = match self.window {
            WindowConfig::Count { size } => {
                if size == 0 || size > MAX_SIZE {
                    return Err(fail("window.size", "must be between 1 and 1,000,000"));
                }
                if self.minimum_calls > size {
                    return Err(fail(
                        "minimum_calls",
                        "must not exceed the size of the count window",
                    ));
                }
                WindowShape::Count { size }
            }
            WindowConfig::Time { duration, buckets } => {
                if buckets == 0 || buckets > MAX_BUCKETS {
                    return Err(fail("window.buckets", "must be between 1 and 1,000"));
                }
                if nanos(duration) < u64::from(buckets) * 1_000 {
                    return Err(fail(
                        "window.duration",
                        "must give each bucket at least a microsecond",
                    ));
                }
                WindowShape::Time {
                    span: nanos(duration),
                    buckets,
                }
            }
        };
        if !is_rate(self.failure_rate) {
            return Err(fail("failure_rate", "must be a percentage in (0, 100]"));
        }
        let slow = match self.slow_calls {
            None => None,
            Some(slow) => {
                if !is_rate(slow.rate) {
                    return Err(fail("slow_calls.rate", "must be a percentage in (0, 100]"));
                }
                Some(SlowCalls {
                    after: nanos(slow.threshold),
                    rate: slow.rate,
                })
            }
        };
        if self.minimum_calls == 0 {
            return Err(fail("minimum_calls", "must be at least 1"));
        }
        let backoff = self.backoff;
        if !(backoff.multiplier.is_finite() && backoff.multiplier >= 1.0) {
            return Err(fail("backoff.multiplier", "must be a finite number >= 1"));
        }
        if backoff.max_wait < self.wait {
            return Err(fail("backoff.max_wait", "must not be shorter than wait"));
        }
        if !(0.0..1.0).contains(&backoff.jitter) {
            return Err(fail("backoff.jitter", "must be in [0, 1)"));
        }
        if self.permitted_probes == 0 || self.permitted_probes > MAX_PROBES {
            return Err(fail("permitted_probes", "must be between 1 and 1,000"));
        }
        if self.max_keys == 0 {
            return Err(fail("max_keys", "must be at least 1"));
        }
        Ok(Settings {
            window,
            failure_rate: self.failure_rate,
            slow,
            minimum_calls: u64::from(self.minimum_calls),
            wait: nanos(self.wait),
            max_wait: nanos(backoff.max_wait),
            multiplier: backoff.multiplier,
            jitter: backoff.jitter,
            permitted_probes: self.permitted_probes,
            seed: self.seed.unwrap_or_else(|| fastrand::u64(..)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_cores_config_error() {
        let err: buttress_core::config::ConfigError = crate::CircuitBreakerLayer::builder("db")
            .permitted_probes(0)
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "permitted_probes");
        assert_eq!(
            err.in_section("breaker").to_string(),
            "breaker.permitted_probes: must be between 1 and 1,000"
        );
    }

    #[test]
    fn defaults_are_valid_once_named() {
        assert_eq!(
            BreakerConfig::default().validate().unwrap_err().field(),
            "name"
        );
        BreakerConfig::new("x").validate().unwrap();
    }

    #[test]
    fn each_bad_field_is_named() {
        type Breaks = Box<dyn Fn(&mut BreakerConfig)>;
        let cases: Vec<(&str, Breaks)> = vec![
            (
                "window.size",
                Box::new(|c| c.window = WindowConfig::Count { size: 0 }),
            ),
            (
                "minimum_calls",
                Box::new(|c| c.window = WindowConfig::Count { size: 10 }),
            ),
            (
                "window.buckets",
                Box::new(|c| {
                    c.window = WindowConfig::Time {
                        duration: Duration::from_secs(1),
                        buckets: 0,
                    }
                }),
            ),
            ("failure_rate", Box::new(|c| c.failure_rate = 100.5)),
            (
                "slow_calls.rate",
                Box::new(|c| {
                    c.slow_calls = Some(SlowCallConfig {
                        threshold: Duration::from_secs(1),
                        rate: f64::NAN,
                    })
                }),
            ),
            ("minimum_calls", Box::new(|c| c.minimum_calls = 0)),
            (
                "backoff.multiplier",
                Box::new(|c| c.backoff.multiplier = 0.5),
            ),
            (
                "backoff.max_wait",
                Box::new(|c| c.backoff.max_wait = Duration::from_secs(1)),
            ),
            ("backoff.jitter", Box::new(|c| c.backoff.jitter = 1.0)),
            ("permitted_probes", Box::new(|c| c.permitted_probes = 0)),
            ("max_keys", Box::new(|c| c.max_keys = 0)),
        ];
        for (field, break_it) in cases {
            let mut config = BreakerConfig::new("x");
            break_it(&mut config);
            assert_eq!(config.validate().unwrap_err().field(), field);
        }
    }
}
