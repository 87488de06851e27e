//! The retry policy as data (DESIGN.md contract 10).
//!
//! [`RetryConfig`] holds every setting with documented, safe defaults and,
//! with the `serde` feature, loads from TOML or JSON with human durations
//! (`"50ms"`, `"10s"`). [`RetryLayerBuilder`](crate::RetryLayerBuilder)
//! sets the same fields in code and adds what is not data (a classifier, a
//! replay strategy, a telemetry sink, a budget shared with other layers).
//! Either way `build()` validates the whole config and names the field at
//! fault.
//!
//! ```
//! use buttress_retry::{Jitter, RetryConfig, RetryLayer};
//! use std::time::Duration;
//!
//! let mut config = RetryConfig::new("inventory");
//! config.max_attempts = 4;
//! config.backoff.base = Duration::from_millis(20);
//! config.backoff.jitter = Jitter::Decorrelated;
//! let layer = RetryLayer::from_config(config).unwrap();
//! # drop(layer);
//!
//! let mut bad = RetryConfig::new("inventory");
//! bad.retry_on.statuses.push(404);
//! let err = RetryLayer::from_config(bad).unwrap_err();
//! assert_eq!(err.field(), "retry_on.statuses");
//! ```

use std::time::Duration;

use buttress_core::GrpcCode;
use buttress_core::classify::{GrpcCodeSet, StatusSet};
use buttress_core::config::ConfigError;

use crate::policy::Policy;
use crate::policy::backoff::Backoff;
use crate::policy::retry_on::RetryOn;

/// The most attempts a request may take, the first included.
pub const MAX_ATTEMPTS: u32 = 10;

/// The largest request body [`BufferBody`](crate::BufferBody) keeps for
/// replay: 16 MiB. Larger caps hold too much memory per request in flight.
pub const MAX_BODY_LIMIT: usize = 16 << 20;

/// How the delay before a retry is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case")
)]
pub enum Jitter {
    /// The exponential delay itself, `base × 2ⁿ⁻¹` capped at `max`. Clients
    /// that failed together retry together: use only for tests.
    None,
    /// A uniform draw in `[0, base × 2ⁿ⁻¹]`, capped at `max` ("full
    /// jitter"): spreads retries the most. The default.
    #[default]
    Full,
    /// A uniform draw in `[base, 3 × previous delay]`, capped at `max`
    /// ("decorrelated jitter"): grows like the exponential on average but
    /// never waits less than `base`.
    Decorrelated,
}

/// The backoff between attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
pub struct BackoffConfig {
    /// The delay scale: the first retry waits up to this (default 50 ms;
    /// more than zero).
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    pub base: Duration,
    /// No backoff drawn from the policy exceeds this (default 2 s; at least
    /// `base`). Server hints have their own cap, `max_retry_after`.
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    pub max: Duration,
    /// How the delay is drawn (default [`Jitter::Full`]).
    pub jitter: Jitter,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        BackoffConfig {
            base: Duration::from_millis(50),
            max: Duration::from_secs(2),
            jitter: Jitter::Full,
        }
    }
}

/// The retry budget: see [`RetryBudget`](crate::RetryBudget).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
pub struct BudgetConfig {
    /// Retries may add this fraction of the requests in the window
    /// (default 0.1, i.e. 10 %; 0 to 10).
    pub ratio: f64,
    /// And this many retries per second of the window regardless of
    /// traffic, so that a quiet client can still retry (default 10; at most
    /// 100,000).
    pub min_per_sec: u32,
    /// The span of the sliding window (default 10 s; 10 ms to 1 h). It
    /// slides a tenth of its span at a time.
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    pub window: Duration,
}

impl Default for BudgetConfig {
    fn default() -> Self {
        BudgetConfig {
            ratio: 0.1,
            min_per_sec: 10,
            window: Duration::from_secs(10),
        }
    }
}

impl BudgetConfig {
    /// Checks every field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(0.0..=10.0).contains(&self.ratio) {
            return Err(ConfigError::new("ratio", "must be within 0 and 10"));
        }
        if self.min_per_sec > 100_000 {
            return Err(ConfigError::new("min_per_sec", "must be at most 100000"));
        }
        if self.window < Duration::from_millis(10) || self.window > Duration::from_secs(3_600) {
            return Err(ConfigError::new("window", "must be within 10ms and 1h"));
        }
        Ok(())
    }
}

/// Which requests may be sent more than once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case")
)]
pub enum Idempotency {
    /// Only idempotent methods (GET, HEAD, OPTIONS, PUT, DELETE, TRACE),
    /// or requests carrying an `Idempotency-Key` header. A POST or PATCH
    /// may have done its work before failing; sending it again could do it
    /// twice. The default.
    #[default]
    Required,
    /// Any request. For protocols whose methods are all POST but whose
    /// calls the caller knows to be safe to repeat (gRPC reads, say).
    Ignored,
}

/// What failures are worth another attempt.
///
/// An answer is only ever retried if the layer's classifier judges it a
/// failure (one notion of failure, DESIGN.md contract 6); these settings
/// then narrow which failures are transient.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
pub struct RetryOnConfig {
    /// HTTP statuses to retry (default 429, 502, 503, 504). Only 5xx, 408,
    /// 425 and 429 are accepted: any other 4xx is the caller's mistake and
    /// would fail again.
    pub statuses: Vec<u16>,
    /// gRPC status codes to retry, by number (default 14, UNAVAILABLE).
    pub grpc_codes: Vec<u8>,
    /// Retry transport errors: refused or reset connections, protocol
    /// errors, and faults injected in their place (default true).
    pub transport_errors: bool,
    /// Retry an attempt ended by its per-attempt timeout, a sent
    /// `Rejected` with reason `Timeout` (default true). An attempt ended by
    /// the request's deadline is never retried: no time is left.
    pub timeouts: bool,
    /// Retry rejections by inner layers before sending (circuit open,
    /// bulkhead full, throttled…) (default false: the call was refused
    /// locally, and another try now would be refused too).
    pub local_rejections: bool,
}

impl Default for RetryOnConfig {
    fn default() -> Self {
        RetryOnConfig {
            statuses: vec![429, 502, 503, 504],
            grpc_codes: vec![GrpcCode::Unavailable.as_u8()],
            transport_errors: true,
            timeouts: true,
            local_rejections: false,
        }
    }
}

impl RetryOnConfig {
    fn to_retry_on(&self) -> Result<RetryOn, ConfigError> {
        let mut statuses = StatusSet::empty();
        for &status in &self.statuses {
            if !(matches!(status, 408 | 425 | 429) || (500..=599).contains(&status)) {
                return Err(ConfigError::new(
                    "statuses",
                    "only 5xx, 408, 425 and 429 may be retried",
                ));
            }
            statuses = statuses.with(status);
        }
        let mut codes = GrpcCodeSet::empty();
        for &code in &self.grpc_codes {
            match GrpcCode::from_u8(code) {
                Some(GrpcCode::Ok) | None => {
                    return Err(ConfigError::new(
                        "grpc_codes",
                        "must be gRPC error codes (1 to 16)",
                    ));
                }
                Some(code) => codes = codes.with(code),
            }
        }
        Ok(RetryOn {
            statuses,
            grpc_codes: codes,
            transport_errors: self.transport_errors,
            timeouts: self.timeouts,
            local_rejections: self.local_rejections,
        })
    }
}

/// Every setting of a retry layer. `Default` gives the documented
/// defaults; see the [crate documentation](crate) for what each does.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
#[non_exhaustive]
pub struct RetryConfig {
    /// The layer's name in telemetry (default `retry`; not empty).
    pub name: String,
    /// Attempts per request, the first included (default 3; 1 to 10). 1
    /// turns retries off.
    pub max_attempts: u32,
    /// The backoff between attempts.
    pub backoff: BackoffConfig,
    /// The longest server hint (`Retry-After`, `grpc-retry-pushback-ms`)
    /// honoured (default 10 s). A server asking for longer is not retried:
    /// it is telling us it will not be back soon.
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    pub max_retry_after: Duration,
    /// The retry budget (default: 10 % + 10/s over 10 s). `None` turns it
    /// off, leaving only `max_attempts`, which is what causes retry
    /// storms; use it only for experiments.
    pub budget: Option<BudgetConfig>,
    /// The layer's own limit on a whole call, every attempt and backoff
    /// included (default none: the request's `RequestContext` deadline,
    /// if any, is the only limit).
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    pub timeout: Option<Duration>,
    /// HTTP request bodies up to this many bytes are kept to be replayed
    /// (default 64 KiB; at most 16 MiB). A larger body is sent once and
    /// its request is not retried.
    pub body_limit: usize,
    /// Which requests may be retried (default: idempotent ones).
    pub idempotency: Idempotency,
    /// Which failures are retried.
    pub retry_on: RetryOnConfig,
    /// Seed of the jitter's random numbers; random when absent. Set it for
    /// reproducible simulations.
    pub seed: Option<u64>,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            name: "retry".to_owned(),
            max_attempts: 3,
            backoff: BackoffConfig::default(),
            max_retry_after: Duration::from_secs(10),
            budget: Some(BudgetConfig::default()),
            timeout: None,
            body_limit: 64 << 10,
            idempotency: Idempotency::Required,
            retry_on: RetryOnConfig::default(),
            seed: None,
        }
    }
}

impl RetryConfig {
    /// The defaults, named `name`.
    pub fn new(name: impl Into<String>) -> Self {
        RetryConfig {
            name: name.into(),
            ..Self::default()
        }
    }

    /// Checks every field; the error names the first one that is wrong.
    ///
    /// ```
    /// let mut config = buttress_retry::RetryConfig::default();
    /// config.max_attempts = 0;
    /// assert_eq!(config.validate().unwrap_err().field(), "max_attempts");
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.policy().map(|_| ())
    }

    pub(crate) fn policy(&self) -> Result<Policy, ConfigError> {
        if self.name.is_empty() {
            return Err(ConfigError::new("name", "must not be empty"));
        }
        if !(1..=MAX_ATTEMPTS).contains(&self.max_attempts) {
            return Err(ConfigError::new("max_attempts", "must be within 1 and 10"));
        }
        if self.backoff.base.is_zero() {
            return Err(ConfigError::new("base", "must be greater than zero").in_section("backoff"));
        }
        if self.backoff.max < self.backoff.base {
            return Err(ConfigError::new("max", "must be at least base").in_section("backoff"));
        }
        if self.max_retry_after > buttress_core::codec::MAX_RETRY_AFTER {
            return Err(ConfigError::new("max_retry_after", "must be at most 24h"));
        }
        if let Some(budget) = &self.budget {
            budget.validate().map_err(|e| e.in_section("budget"))?;
        }
        if self.timeout.is_some_and(|t| t.is_zero()) {
            return Err(ConfigError::new("timeout", "must be greater than zero"));
        }
        if self.body_limit > MAX_BODY_LIMIT {
            return Err(ConfigError::new("body_limit", "must be at most 16 MiB"));
        }
        let retry_on = self
            .retry_on
            .to_retry_on()
            .map_err(|e| e.in_section("retry_on"))?;
        Ok(Policy {
            max_attempts: self.max_attempts,
            backoff: Backoff {
                base: self.backoff.base,
                max: self.backoff.max,
                jitter: self.backoff.jitter,
            },
            max_retry_after: self.max_retry_after,
            retry_on,
            idempotency: self.idempotency,
            timeout: self.timeout,
            body_limit: self.body_limit,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(config: RetryConfig) -> String {
        config.validate().unwrap_err().field().to_owned()
    }

    #[test]
    fn defaults_are_valid() {
        RetryConfig::default().validate().unwrap();
    }

    #[test]
    fn each_field_is_checked() {
        let base = RetryConfig::default;
        assert_eq!(
            field(RetryConfig {
                name: String::new(),
                ..base()
            }),
            "name"
        );
        assert_eq!(
            field(RetryConfig {
                max_attempts: 11,
                ..base()
            }),
            "max_attempts"
        );
        let mut c = base();
        c.backoff.base = Duration::ZERO;
        assert_eq!(field(c), "backoff.base");
        let mut c = base();
        c.backoff.max = Duration::from_millis(1);
        assert_eq!(field(c), "backoff.max");
        let mut c = base();
        c.budget.as_mut().unwrap().ratio = 11.0;
        assert_eq!(field(c), "budget.ratio");
        assert_eq!(
            field(RetryConfig {
                timeout: Some(Duration::ZERO),
                ..base()
            }),
            "timeout"
        );
        assert_eq!(
            field(RetryConfig {
                body_limit: usize::MAX,
                ..base()
            }),
            "body_limit"
        );
        assert_eq!(
            field(RetryConfig {
                max_retry_after: Duration::from_secs(100_000),
                ..base()
            }),
            "max_retry_after"
        );
        for status in [200, 400, 404, 499, 600] {
            let mut c = base();
            c.retry_on.statuses = vec![status];
            assert_eq!(field(c), "retry_on.statuses", "{status}");
        }
        for code in [0, 17] {
            let mut c = base();
            c.retry_on.grpc_codes = vec![code];
            assert_eq!(field(c), "retry_on.grpc_codes", "{code}");
        }
    }

    #[test]
    fn accepted_statuses() {
        let mut c = RetryConfig::default();
        c.retry_on.statuses = vec![408, 425, 429, 500, 599];
        c.validate().unwrap();
    }
}
