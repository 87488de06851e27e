//! Quotas: how many requests a key may make, per key class.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use buttress_core::Quota;
use buttress_core::config::{MAX_DURATION, check_duration};

use super::gcra::Rate;
use crate::ConfigError;

/// The shortest period a quota may count over.
const MIN_PERIOD: Duration = Duration::from_millis(1);
/// The largest burst: with the longest period, a full bucket still fits
/// the nanosecond clock many times over.
const MAX_BURST: u32 = 100_000;

/// A quota: `limit` requests per `period` on average, at most `burst` at
/// once (GCRA: a bucket of `burst` that refills one request every
/// `period / limit`).
///
/// `QuotaConfig::per_second(10).burst(5)` admits 5 requests at once, then
/// one every 100 ms.
///
/// ```
/// use buttress_limit::rate::QuotaConfig;
/// use std::time::Duration;
///
/// let quota = QuotaConfig::per_second(10).burst(5);
/// assert_eq!(quota, QuotaConfig { limit: 10, period: Duration::from_secs(1), burst: 5 });
/// assert_eq!(QuotaConfig::per_minute(600).burst, 600);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaConfig {
    /// Requests (units of cost) allowed per `period`. At least 1.
    pub limit: u32,
    /// The period `limit` counts over, 1 ms to 24 h.
    #[serde(with = "humantime_serde")]
    pub period: Duration,
    /// Requests allowed at once, from a full bucket: 1 to 100,000.
    pub burst: u32,
}

impl QuotaConfig {
    /// `limit` requests per `period`, with a burst of `limit`.
    pub const fn new(limit: u32, period: Duration) -> Self {
        QuotaConfig {
            limit,
            period,
            burst: limit,
        }
    }

    /// `limit` requests per second, with a burst of `limit`.
    pub const fn per_second(limit: u32) -> Self {
        Self::new(limit, Duration::from_secs(1))
    }

    /// `limit` requests per minute, with a burst of `limit`.
    pub const fn per_minute(limit: u32) -> Self {
        Self::new(limit, Duration::from_secs(60))
    }

    /// The same quota with a burst of `burst`.
    pub const fn burst(mut self, burst: u32) -> Self {
        self.burst = burst;
        self
    }

    /// Checks that the quota can work.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.limit == 0 {
            return Err(ConfigError::new("limit", "must be at least 1"));
        }
        check_duration("period", self.period, MIN_PERIOD..=MAX_DURATION)?;
        if u128::from(self.limit) > self.period.as_nanos() {
            return Err(ConfigError::new(
                "limit",
                "must be at most one per nanosecond of the period",
            ));
        }
        if self.burst == 0 || self.burst > MAX_BURST {
            return Err(ConfigError::new("burst", "must be between 1 and 100000"));
        }
        Ok(())
    }
}

impl Default for QuotaConfig {
    fn default() -> Self {
        Self::per_second(100)
    }
}

/// A per-tenant quota: requests whose key is one of `keys` get `quota`
/// instead of the default, reported and advertised as `class`.
///
/// ```
/// use buttress_limit::rate::{QuotaConfig, QuotaOverride};
///
/// let premium = QuotaOverride::new("premium", QuotaConfig::per_second(1_000))
///     .keys(["acme", "globex"]);
/// assert_eq!(premium.keys, ["acme", "globex"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaOverride {
    /// The class name: a telemetry label and the policy name in the
    /// `RateLimit` fields, so a token (`premium`, `tier-2`).
    pub class: String,
    /// The keys it applies to: header values or route templates as
    /// written, or IP addresses for the address key sources.
    pub keys: Vec<String>,
    /// Their quota.
    pub quota: QuotaConfig,
}

impl QuotaOverride {
    /// A class named `class` with `quota`, for no key yet.
    pub fn new(class: impl Into<String>, quota: QuotaConfig) -> Self {
        QuotaOverride {
            class: class.into(),
            keys: Vec::new(),
            quota,
        }
    }

    /// Adds keys to the class.
    pub fn keys<I, S>(mut self, keys: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.keys.extend(keys.into_iter().map(Into::into));
        self
    }
}

/// Whether `name` is a structured-field token, as the `RateLimit` fields
/// write a policy name.
pub(crate) fn is_token(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'*')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b":/!#$%&'*+-.^_`|~".contains(&b))
}

/// A quota as the limiter uses it: its rate in nanoseconds and the
/// figures a rejection carries. Live: [`set`](Self::set) changes it
/// while requests run (the cells' state stays, read against the new
/// rate), so each field is an atomic, read with relaxed loads — a request
/// racing a change may see the old interval with the new capacity, which
/// only ever decides that one request by a mix of two valid quotas.
#[derive(Debug)]
pub(crate) struct Class {
    interval: AtomicU64,
    capacity: AtomicU64,
    /// The figures of `RateLimit-Policy`: units per whole-second window.
    name: Arc<str>,
    units: AtomicU64,
    window_secs: AtomicU64,
}

impl Class {
    pub(crate) fn new(name: &str, quota: &QuotaConfig) -> Self {
        let class = Class {
            interval: AtomicU64::new(0),
            capacity: AtomicU64::new(0),
            name: Arc::from(name),
            units: AtomicU64::new(0),
            window_secs: AtomicU64::new(1),
        };
        class.set(quota);
        class
    }

    /// The rate requests are decided by now.
    #[inline]
    pub(crate) fn rate(&self) -> Rate {
        Rate {
            interval: self.interval.load(Relaxed),
            capacity: self.capacity.load(Relaxed),
        }
    }

    /// Takes `quota` from the next request on.
    pub(crate) fn set(&self, quota: &QuotaConfig) {
        // The policy field counts in whole seconds: a sub-second or
        // fractional period is advertised as the units that fit its
        // rounded-up window, so the rate it states is the rate enforced.
        let window = quota.period.as_secs_f64().ceil().max(1.0) as u64;
        let units =
            u128::from(quota.limit) * u128::from(window) * 1_000_000_000 / quota.period.as_nanos();
        let rate = Rate::new(quota.limit, quota.period, quota.burst);
        self.interval.store(rate.interval, Relaxed);
        self.capacity.store(rate.capacity, Relaxed);
        self.units
            .store(u64::try_from(units).unwrap_or(u64::MAX), Relaxed);
        self.window_secs.store(window, Relaxed);
    }

    /// The quota figures for a rejection.
    pub(crate) fn figures(&self, remaining: u64, reset: Duration) -> Quota {
        Quota::new(
            self.name.clone(),
            self.units.load(Relaxed),
            Duration::from_secs(self.window_secs.load(Relaxed)),
        )
        .with_remaining(remaining)
        .with_reset(reset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_field() {
        let bad = [
            (QuotaConfig::per_second(0), "limit"),
            (QuotaConfig::new(1, Duration::ZERO), "period"),
            (QuotaConfig::new(1, Duration::from_secs(90_000)), "period"),
            (
                QuotaConfig::new(2_000_000, Duration::from_millis(1)),
                "limit",
            ),
            (QuotaConfig::per_second(1).burst(0), "burst"),
            (QuotaConfig::per_second(1).burst(100_001), "burst"),
        ];
        for (quota, field) in bad {
            assert_eq!(quota.validate().unwrap_err().field(), field, "{quota:?}");
        }
        assert!(QuotaConfig::per_second(10).burst(5).validate().is_ok());
    }

    #[test]
    fn the_policy_states_the_enforced_rate_in_whole_seconds() {
        let class = Class::new("default", &QuotaConfig::new(1, Duration::from_millis(100)));
        let quota = class.figures(0, Duration::ZERO);
        assert_eq!((quota.limit, quota.window), (10, Duration::from_secs(1)));
        let class = Class::new("slow", &QuotaConfig::new(3, Duration::from_millis(1_500)));
        let quota = class.figures(0, Duration::ZERO);
        assert_eq!((quota.limit, quota.window), (4, Duration::from_secs(2)));
        let class = Class::new("hourly", &QuotaConfig::new(500, Duration::from_secs(3_600)));
        let quota = class.figures(7, Duration::from_secs(3));
        assert_eq!(
            (quota.limit, quota.window),
            (500, Duration::from_secs(3_600))
        );
        assert_eq!((quota.remaining, quota.reset), (7, Duration::from_secs(3)));
    }

    #[test]
    fn tokens() {
        assert!(is_token("premium"));
        assert!(is_token("tier-2/eu"));
        assert!(!is_token("2nd"));
        assert!(!is_token("gold tier"));
        assert!(!is_token(""));
    }
}
