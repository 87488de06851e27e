//! Active health check settings.

use std::time::Duration;

use buttress_core::config::{ConfigError, MAX_DURATION, check_duration};

/// What an active health check asks.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum HealthProbe {
    /// `GET path` over HTTP/1.1; a 2xx answer is healthy.
    Http {
        /// The path, starting with `/` (at most 1,024 bytes).
        path: String,
    },
    /// The gRPC health protocol (`grpc.health.v1.Health/Check`); `SERVING`
    /// is healthy. Needs the crate's `grpc` feature.
    Grpc {
        /// The service asked about; empty for the server as a whole.
        #[serde(default)]
        service: String,
    },
}

impl Default for HealthProbe {
    fn default() -> Self {
        HealthProbe::Http {
            path: "/healthz".to_owned(),
        }
    }
}

/// Active health checks: every `interval`, each endpoint is asked (at most
/// `max_concurrent` at once, each for at most `timeout`); after
/// `unhealthy_threshold` failed checks in a row it leaves rotation, after
/// `healthy_threshold` good ones in a row it comes back (and ramps up
/// through slow start).
///
/// The cost is bounded: one round at a time, at most `max_concurrent`
/// checks in flight, each cut at `timeout`, an HTTP check reading at
/// most 1 KiB of the answer.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HealthCheckConfig {
    /// What is asked (default `GET /healthz`).
    pub probe: HealthProbe,
    /// How often each endpoint is checked (default 10 s; at least 10 ms),
    /// jittered by ±10 %.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// How long one check may take (default 1 s; more than zero, at most
    /// `interval`).
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Failed checks in a row that take an endpoint out (default 2).
    pub unhealthy_threshold: u32,
    /// Good checks in a row that bring it back (default 2).
    pub healthy_threshold: u32,
    /// Checks in flight at once (default 4, 1 to 64).
    pub max_concurrent: usize,
}

impl Default for HealthCheckConfig {
    fn default() -> Self {
        HealthCheckConfig {
            probe: HealthProbe::default(),
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(1),
            unhealthy_threshold: 2,
            healthy_threshold: 2,
            max_concurrent: 4,
        }
    }
}

impl HealthCheckConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if let HealthProbe::Http { path } = &self.probe {
            let ok = path.starts_with('/')
                && path.len() <= 1_024
                && path.bytes().all(|b| b.is_ascii_graphic());
            if !ok {
                return Err(ConfigError::new(
                    "health_check.probe.path",
                    "must start with '/', at most 1,024 visible ASCII characters",
                ));
            }
        }
        #[cfg(not(feature = "grpc"))]
        if matches!(self.probe, HealthProbe::Grpc { .. }) {
            return Err(ConfigError::new(
                "health_check.probe",
                "the grpc probe needs buttress-balance's `grpc` feature",
            ));
        }
        check_duration(
            "health_check.interval",
            self.interval,
            Duration::from_millis(10)..=MAX_DURATION,
        )?;
        check_duration(
            "health_check.timeout",
            self.timeout,
            Duration::from_nanos(1)..=self.interval,
        )?;
        if self.unhealthy_threshold == 0 || self.unhealthy_threshold > 100 {
            return Err(ConfigError::new(
                "health_check.unhealthy_threshold",
                "must be between 1 and 100",
            ));
        }
        if self.healthy_threshold == 0 || self.healthy_threshold > 100 {
            return Err(ConfigError::new(
                "health_check.healthy_threshold",
                "must be between 1 and 100",
            ));
        }
        if !(1..=64).contains(&self.max_concurrent) {
            return Err(ConfigError::new(
                "health_check.max_concurrent",
                "must be between 1 and 64",
            ));
        }
        Ok(())
    }
}
