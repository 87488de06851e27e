//! The distributed mode's settings, as data.
//!
//! Plain data, present with or without the `redis` feature, so that a
//! service's TOML loads the same everywhere; building a layer whose
//! config asks for Redis without the feature fails with the field named.

use std::time::Duration;

use buttress_core::config::{MAX_DURATION, check_duration};

use crate::ConfigError;

/// What a replica does while Redis is down (its breaker open).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RedisFallback {
    /// Fail open to local limits: each replica enforces its share of the
    /// quota (`limit / replicas`, `burst / replicas`) on its own, so the
    /// fleet as a whole admits about the quota.
    #[default]
    Local,
    /// Fail closed: a request that no leased permit covers is refused
    /// with [`Reason::RateLimited`](buttress_core::Reason::RateLimited)
    /// and a retry hint of when Redis is next tried.
    Refuse,
}

/// A fleet-wide rate limit: the quota state of every key in Redis,
/// shared by every replica ([`RateLimitConfig::distributed`](super::super::RateLimitConfig::distributed)).
/// Needs the `redis` feature to build.
///
/// | field | default | meaning |
/// |---|---|---|
/// | `url` | `redis://127.0.0.1:6379` | the server; a password or user from the URL (`redis://:secret@host/0`); `rediss://` for TLS (feature `redis-tls`) |
/// | `key_prefix` | `buttress:rate:` | what every Redis key starts with, before `<name>:<class>:<key>` |
/// | `timeout` | 50 ms | the longest any Redis call (connecting included) may take, 1 ms to 10 s |
/// | `lease` | 20 | permits a replica takes from Redis at once per hot key (at most the class's burst); the fleet's worst-case over-admission is `lease × replicas` |
/// | `replicas` | 1 | how many replicas share the quota: the local fallback enforces `1 / replicas` of it |
/// | `fallback` | local | while Redis is down: `local` (each replica its share) or `refuse` |
/// | `max_in_flight` | 64 | Redis calls one layer may have outstanding; refills beyond it wait for the next request |
/// | `failures` | 2 | consecutive failed calls that mark Redis down |
/// | `backoff` | 250 ms | how long Redis stays marked down before one call tries it again, doubling (with jitter) while it keeps failing |
/// | `max_backoff` | 5 s | the longest such wait |
/// | `tls` | system roots, no client certificate | for a `rediss://` URL: extra trusted roots (`ca_file`) and a client certificate (`client_cert_file`, `client_key_file`), PEM files ([`RedisTlsConfig`]) |
///
/// ```
/// use buttress_limit::rate::{RedisFallback, RedisRateConfig};
/// use std::time::Duration;
///
/// let redis = RedisRateConfig {
///     url: "redis://:secret@10.0.0.5:6379/0".into(),
///     replicas: 3,
///     lease: 20,
///     fallback: RedisFallback::Local,
///     ..RedisRateConfig::default()
/// };
/// assert!(redis.validate().is_ok());
/// let slow = RedisRateConfig { timeout: Duration::ZERO, ..RedisRateConfig::default() };
/// assert_eq!(slow.validate().unwrap_err().field(), "timeout");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisRateConfig {
    /// The Redis server, as a `redis://` (or `unix://`) URL; credentials
    /// and database come from it.
    pub url: String,
    /// What every key this layer writes starts with; keep it apart from
    /// other users of the same Redis.
    pub key_prefix: String,
    /// The longest one Redis call may take, connecting included. No
    /// request ever waits on Redis: this bounds how long a refill may be
    /// outstanding before the replica counts it as a failure.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Permits leased per hot key per Redis call, 1 to 10,000 (capped at
    /// the class's burst). Larger leases mean fewer Redis calls and a
    /// larger worst-case over-admission (`lease × replicas`).
    pub lease: u32,
    /// The replicas sharing the quota, 1 to 10,000: while Redis is down
    /// each enforces `1 / replicas` of it.
    pub replicas: u32,
    /// While Redis is down: enforce the local share, or refuse.
    pub fallback: RedisFallback,
    /// Redis calls outstanding at once, 1 to 10,000.
    pub max_in_flight: u32,
    /// Consecutive failed calls (errors or timeouts) that mark Redis
    /// down, 1 to 1,000.
    pub failures: u32,
    /// The first wait before a replica tries Redis again once it is
    /// marked down, 1 ms to 1 min.
    #[serde(with = "humantime_serde")]
    pub backoff: Duration,
    /// The longest such wait, `backoff` to 1 h.
    #[serde(with = "humantime_serde")]
    pub max_backoff: Duration,
    /// TLS for a `rediss://` URL (`[server.rate_limit.distributed.tls]`).
    pub tls: RedisTlsConfig,
}

/// TLS to Redis, for a `rediss://` URL (feature `redis-tls`): the
/// server's certificate is checked against the system's roots, plus
/// `ca_file`'s; with `client_cert_file` and `client_key_file` the replica
/// presents its own (Redis' `tls-auth-clients`). Files are PEM, read when
/// the layer is built; an unreadable one fails the build naming its field.
///
/// ```
/// use buttress_limit::rate::{RedisRateConfig, RedisTlsConfig};
///
/// let redis = RedisRateConfig {
///     url: "rediss://:secret@redis.internal:6380/0".into(),
///     tls: RedisTlsConfig { ca_file: Some("/etc/redis/ca.crt".into()), ..Default::default() },
///     ..RedisRateConfig::default()
/// };
/// assert!(redis.validate().is_ok());
/// let half = RedisTlsConfig { client_cert_file: Some("client.crt".into()), ..Default::default() };
/// let err = RedisRateConfig { url: "rediss://redis:6380".into(), tls: half, ..Default::default() }
///     .validate()
///     .unwrap_err();
/// assert_eq!(err.field(), "tls.client_key_file");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisTlsConfig {
    /// Roots to trust besides the system's (a private CA), PEM.
    pub ca_file: Option<std::path::PathBuf>,
    /// This replica's certificate, PEM, for servers that ask for one.
    pub client_cert_file: Option<std::path::PathBuf>,
    /// Its private key, PEM.
    pub client_key_file: Option<std::path::PathBuf>,
}

impl RedisTlsConfig {
    fn is_set(&self) -> bool {
        self != &RedisTlsConfig::default()
    }
}

impl Default for RedisRateConfig {
    fn default() -> Self {
        RedisRateConfig {
            url: "redis://127.0.0.1:6379".into(),
            key_prefix: "buttress:rate:".into(),
            timeout: Duration::from_millis(50),
            lease: 20,
            replicas: 1,
            fallback: RedisFallback::Local,
            max_in_flight: 64,
            failures: 2,
            backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(5),
            tls: RedisTlsConfig::default(),
        }
    }
}

/// The URL schemes the `redis` crate reads.
const SCHEMES: [&str; 4] = ["redis://", "rediss://", "unix://", "redis+unix://"];

impl RedisRateConfig {
    /// Checks every field; errors name it (`timeout`, `lease`, …). The
    /// URL is parsed fully only when the layer is built (with the `redis`
    /// feature); here its scheme is checked.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !SCHEMES.iter().any(|scheme| self.url.starts_with(scheme)) {
            return Err(ConfigError::new(
                "url",
                "must be a redis://, rediss:// or unix:// URL",
            ));
        }
        if self.tls.is_set() && !self.url.starts_with("rediss://") {
            return Err(ConfigError::new(
                "tls",
                "applies to a rediss:// URL only: use rediss:// or drop the section",
            ));
        }
        if self.tls.client_cert_file.is_some() != self.tls.client_key_file.is_some() {
            let missing = match self.tls.client_cert_file {
                Some(_) => "tls.client_key_file",
                None => "tls.client_cert_file",
            };
            return Err(ConfigError::new(
                missing,
                "a client certificate needs both its certificate and its key",
            ));
        }
        if self.key_prefix.len() > 128 {
            return Err(ConfigError::new("key_prefix", "must be at most 128 bytes"));
        }
        check_duration(
            "timeout",
            self.timeout,
            Duration::from_millis(1)..=Duration::from_secs(10),
        )?;
        if !(1..=10_000).contains(&self.lease) {
            return Err(ConfigError::new("lease", "must be between 1 and 10000"));
        }
        if !(1..=10_000).contains(&self.replicas) {
            return Err(ConfigError::new("replicas", "must be between 1 and 10000"));
        }
        if !(1..=10_000).contains(&self.max_in_flight) {
            return Err(ConfigError::new(
                "max_in_flight",
                "must be between 1 and 10000",
            ));
        }
        if !(1..=1_000).contains(&self.failures) {
            return Err(ConfigError::new("failures", "must be between 1 and 1000"));
        }
        check_duration(
            "backoff",
            self.backoff,
            Duration::from_millis(1)..=Duration::from_secs(60),
        )?;
        check_duration(
            "max_backoff",
            self.max_backoff,
            self.backoff..=Duration::from_secs(3_600).min(MAX_DURATION),
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(change: impl FnOnce(&mut RedisRateConfig)) -> String {
        let mut config = RedisRateConfig::default();
        change(&mut config);
        config.validate().unwrap_err().field().to_owned()
    }

    #[test]
    fn errors_name_the_field() {
        RedisRateConfig::default().validate().unwrap();
        assert_eq!(field(|c| c.url = "http://x".into()), "url");
        assert_eq!(field(|c| c.url = "http://x".into()), "url");
        assert_eq!(field(|c| c.key_prefix = "x".repeat(200)), "key_prefix");
        assert_eq!(field(|c| c.timeout = Duration::ZERO), "timeout");
        assert_eq!(field(|c| c.timeout = Duration::from_secs(11)), "timeout");
        assert_eq!(field(|c| c.lease = 0), "lease");
        assert_eq!(field(|c| c.replicas = 0), "replicas");
        assert_eq!(field(|c| c.max_in_flight = 0), "max_in_flight");
        assert_eq!(field(|c| c.failures = 0), "failures");
        assert_eq!(field(|c| c.backoff = Duration::ZERO), "backoff");
        assert_eq!(
            field(|c| c.max_backoff = Duration::from_millis(1)),
            "max_backoff"
        );
    }
}
