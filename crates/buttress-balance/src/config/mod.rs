//! The balancer's configuration, as data.
//!
//! [`BalanceConfig`] holds every setting with documented defaults and
//! loads from TOML with human durations. It is
//! the balancer's [`LayerConfig`]: it validates itself, naming the field
//! at fault (`ejection.base_time`, `endpoints[2]`), and builds a
//! [`BalanceLayer`].

mod ejection;
mod endpoints;
mod health;

use std::time::Duration;

use buttress_core::config::{ConfigError, MAX_DURATION, check_duration};
use buttress_core::layer::{BuildEnv, LayerConfig};

pub(crate) use self::ejection::ejection_cap;
pub use self::ejection::{EjectionConfig, FailureRateConfig};
pub use self::endpoints::EndpointAddress;
pub use self::health::{HealthCheckConfig, HealthProbe};
use crate::layer::BalanceLayer;

/// The most endpoints a config may list. Discovery may find more (a DNS
/// name with many records); the table itself is bounded by
/// [`MAX_ENDPOINTS`](crate::MAX_ENDPOINTS).
pub const MAX_CONFIGURED_ENDPOINTS: usize = 1_024;

/// How the load estimate of each endpoint is kept: a peak EWMA of its
/// round-trip times (as tower's `PeakEwma` and Finagle's), times its calls
/// in flight plus one.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoadConfig {
    /// The estimate of an endpoint with no answer yet (default 30 ms).
    #[serde(with = "humantime_serde")]
    pub default_rtt: Duration,
    /// How fast the estimate forgets: a sample's weight falls by `1/e`
    /// every `decay` (default 10 s, more than zero).
    #[serde(with = "humantime_serde")]
    pub decay: Duration,
    /// An overloaded answer (429, `RESOURCE_EXHAUSTED`, a refusal below
    /// the balancer) counts as a round trip at least this long (default
    /// 1 s): the endpoint loses share without being ejected.
    #[serde(with = "humantime_serde")]
    pub overload_penalty: Duration,
}

impl Default for LoadConfig {
    fn default() -> Self {
        LoadConfig {
            default_rtt: Duration::from_millis(30),
            decay: Duration::from_secs(10),
            overload_penalty: Duration::from_secs(1),
        }
    }
}

/// Every setting of a balancer. `Default` gives the documented defaults.
///
/// | field | default | meaning |
/// |---|---|---|
/// | `name` | the stack's name, else `balance` | what it reports under |
/// | `endpoints` | none | `host:port` entries ([`EndpointAddress`]) for the config-fed discovery |
/// | `discovery_interval` | off | re-resolve `endpoints` through DNS this often |
/// | `load` | 30 ms, 10 s, 1 s | the peak-EWMA load estimate ([`LoadConfig`]) |
/// | `ejection` | on | passive outlier ejection ([`EjectionConfig`]) |
/// | `health_check` | off | active health checks ([`HealthCheckConfig`]) |
/// | `slow_start` | 10 s | a new or readmitted endpoint's share ramps over this |
/// | `max_endpoint_labels` | 16 | endpoints with telemetry of their own |
/// | `seed` | random | the choices' and jitters' seed |
///
/// ```
/// use buttress_balance::BalanceConfig;
/// use buttress_core::layer::LayerConfig;
/// use std::time::Duration;
///
/// let config = BalanceConfig {
///     endpoints: vec!["10.0.0.1:8080".into(), "payments.internal:8080".into()],
///     discovery_interval: Some(Duration::from_secs(30)),
///     ..BalanceConfig::default()
/// };
/// config.validate().unwrap();
///
/// let bad = BalanceConfig { endpoints: vec!["no-port".into()], ..BalanceConfig::default() };
/// assert_eq!(bad.validate().unwrap_err().field(), "endpoints[0]");
/// ```
///
/// From TOML:
///
/// ```
/// use buttress_balance::{BalanceConfig, HealthProbe};
/// use std::time::Duration;
///
/// let config: BalanceConfig = toml::from_str(r#"
///     endpoints = ["10.0.0.1:8080", "10.0.0.2:8080"]
///     slow_start = "30s"
///     ejection = { consecutive_failures = 3, base_time = "10s", max_ejection_percent = 34 }
///     health_check = { probe = { kind = "http", path = "/healthz" }, interval = "5s" }
/// "#).unwrap();
/// assert_eq!(config.ejection.base_time, Duration::from_secs(10));
/// assert_eq!(config.health_check.unwrap().probe, HealthProbe::Http { path: "/healthz".into() });
/// assert!(toml::from_str::<BalanceConfig>("endpionts = []").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BalanceConfig {
    /// The name the balancer reports under; `None` takes the name of the
    /// stack or environment it is built in, else `balance`.
    pub name: Option<String>,
    /// The endpoints, as `host:port` (an IP literal or a DNS name), for a
    /// balancer fed from its config ([`BalanceLayer`] as a
    /// `tower::Layer`). Ignored by [`BalanceLayer::discover`], which is
    /// fed by its own stream. At most [`MAX_CONFIGURED_ENDPOINTS`].
    pub endpoints: Vec<String>,
    /// Re-resolve every entry of `endpoints` through DNS this often
    /// (default: off — names are resolved once, at the first call). At
    /// least 100 ms, at most a day.
    #[serde(with = "humantime_serde")]
    pub discovery_interval: Option<Duration>,
    /// The load estimate.
    pub load: LoadConfig,
    /// Passive outlier ejection.
    pub ejection: EjectionConfig,
    /// Active health checks (default: off).
    pub health_check: Option<HealthCheckConfig>,
    /// A newly added or readmitted endpoint's share ramps from near zero
    /// to a full share over this window (default 10 s; `None`: at once).
    /// Endpoints found when the balancer had none do not ramp.
    #[serde(with = "humantime_serde")]
    pub slow_start: Option<Duration>,
    /// At most this many endpoints report telemetry of their own, named
    /// `<name>/<endpoint>` (default 16, at most 256): labels stay bounded
    /// whatever discovery finds.
    pub max_endpoint_labels: usize,
    /// Seed of the choices' and the ejection jitter's random numbers;
    /// random when absent. Set it for reproducible simulations.
    pub seed: Option<u64>,
}

impl Default for BalanceConfig {
    fn default() -> Self {
        BalanceConfig {
            name: None,
            endpoints: Vec::new(),
            discovery_interval: None,
            load: LoadConfig::default(),
            ejection: EjectionConfig::default(),
            health_check: None,
            slow_start: Some(Duration::from_secs(10)),
            max_endpoint_labels: 16,
            seed: None,
        }
    }
}

/// The shortest setting that means anything.
const MIN: Duration = Duration::from_nanos(1);

impl LayerConfig for BalanceConfig {
    type Layer = BalanceLayer;

    fn name_mut(&mut self) -> &mut Option<String> {
        &mut self.name
    }

    /// Checks every field; the error names the first one that is wrong.
    ///
    /// ```
    /// use buttress_balance::BalanceConfig;
    /// use buttress_core::layer::LayerConfig;
    ///
    /// let mut config = BalanceConfig::default();
    /// config.ejection.max_ejection_percent = 120.0;
    /// assert_eq!(config.validate().unwrap_err().field(), "ejection.max_ejection_percent");
    /// ```
    fn validate(&self) -> Result<(), ConfigError> {
        if self.endpoints.len() > MAX_CONFIGURED_ENDPOINTS {
            return Err(ConfigError::new("endpoints", "at most 1,024 entries"));
        }
        for (i, entry) in self.endpoints.iter().enumerate() {
            if let Err(problem) = EndpointAddress::parse(entry) {
                return Err(ConfigError::new(format!("endpoints[{i}]"), problem));
            }
        }
        if let Some(interval) = self.discovery_interval {
            check_duration(
                "discovery_interval",
                interval,
                Duration::from_millis(100)..=MAX_DURATION,
            )?;
        }
        check_duration(
            "load.default_rtt",
            self.load.default_rtt,
            MIN..=MAX_DURATION,
        )?;
        check_duration("load.decay", self.load.decay, MIN..=MAX_DURATION)?;
        check_duration(
            "load.overload_penalty",
            self.load.overload_penalty,
            Duration::ZERO..=MAX_DURATION,
        )?;
        self.ejection.validate()?;
        if let Some(health) = &self.health_check {
            health.validate()?;
        }
        if let Some(window) = self.slow_start {
            check_duration("slow_start", window, MIN..=MAX_DURATION)?;
        }
        if self.max_endpoint_labels > 256 {
            return Err(ConfigError::new("max_endpoint_labels", "at most 256"));
        }
        Ok(())
    }

    fn build_in(&self, env: &BuildEnv) -> Result<BalanceLayer, ConfigError> {
        BalanceLayer::builder_in(self.clone(), env.clone()).build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        BalanceConfig::default().validate().unwrap();
    }

    #[test]
    fn each_bad_field_is_named() {
        type Breaks = Box<dyn Fn(&mut BalanceConfig)>;
        let cases: Vec<(&str, Breaks)> = vec![
            (
                "endpoints[1]",
                Box::new(|c| c.endpoints = vec!["a:1".into(), "b".into()]),
            ),
            (
                "discovery_interval",
                Box::new(|c| c.discovery_interval = Some(Duration::ZERO)),
            ),
            ("load.decay", Box::new(|c| c.load.decay = Duration::ZERO)),
            (
                "ejection.consecutive_failures",
                Box::new(|c| c.ejection.consecutive_failures = Some(0)),
            ),
            (
                "ejection.failure_rate.rate",
                Box::new(|c| c.ejection.failure_rate.as_mut().unwrap().rate = 0.0),
            ),
            (
                "ejection.base_time",
                Box::new(|c| c.ejection.base_time = Duration::ZERO),
            ),
            (
                "ejection.max_time",
                Box::new(|c| c.ejection.max_time = Duration::from_secs(1)),
            ),
            (
                "ejection.multiplier",
                Box::new(|c| c.ejection.multiplier = 0.5),
            ),
            ("ejection.jitter", Box::new(|c| c.ejection.jitter = 1.0)),
            ("ejection.probes", Box::new(|c| c.ejection.probes = 0)),
            (
                "ejection.max_ejection_percent",
                Box::new(|c| c.ejection.max_ejection_percent = -1.0),
            ),
            (
                "health_check.timeout",
                Box::new(|c| {
                    c.health_check = Some(HealthCheckConfig {
                        timeout: Duration::ZERO,
                        ..HealthCheckConfig::default()
                    })
                }),
            ),
            (
                "health_check.probe.path",
                Box::new(|c| {
                    c.health_check = Some(HealthCheckConfig {
                        probe: HealthProbe::Http {
                            path: "healthz".into(),
                        },
                        ..HealthCheckConfig::default()
                    })
                }),
            ),
            (
                "slow_start",
                Box::new(|c| c.slow_start = Some(Duration::ZERO)),
            ),
            (
                "max_endpoint_labels",
                Box::new(|c| c.max_endpoint_labels = 1_000),
            ),
        ];
        for (field, break_it) in cases {
            let mut config = BalanceConfig::default();
            break_it(&mut config);
            assert_eq!(config.validate().unwrap_err().field(), field);
        }
    }

    #[test]
    fn loads_from_toml_and_refuses_unknown_fields() {
        let config: BalanceConfig = toml::from_str(
            r#"
            name = "payments"
            endpoints = ["10.0.0.1:80", "payments:80"]
            discovery_interval = "30s"
            slow_start = "20s"
            load = { decay = "5s" }
            ejection = { consecutive_failures = 3, failure_rate = { rate = 40.0, window = "30s", minimum_calls = 10 }, max_ejection_percent = 34.0 }
            health_check = { probe = { kind = "http", path = "/ready" }, interval = "2s", timeout = "500ms" }
            "#,
        )
        .unwrap();
        config.validate().unwrap();
        assert_eq!(config.load.decay, Duration::from_secs(5));
        assert_eq!(config.ejection.consecutive_failures, Some(3));
        assert!(toml::from_str::<BalanceConfig>("ejection = { consecutive = 3 }").is_err());
    }
}
