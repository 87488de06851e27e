//! [`ChaosConfig`]: the layer's settings as data (DESIGN.md contract 10).

use std::time::Duration;

use buttress_core::config::ConfigError;

use crate::builder::{DEFAULT_MAX_ACTIVE, DEFAULT_MAX_DELAY};
use crate::directive::parse::parse_abort;
use crate::latency::Latency;
use crate::layer::ChaosLayer;

/// Aborts at a rate.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(deny_unknown_fields)
)]
pub struct AbortConfig {
    /// The share of calls aborted, 0 to 100.
    pub percent: f64,
    /// What they fail with, in the directive syntax: `"503"`,
    /// `"grpc:14"`, `"grpc:UNAVAILABLE"` or `"reset"`.
    pub with: String,
}

/// Delays at a rate.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(deny_unknown_fields)
)]
pub struct DelayConfig {
    /// The share of calls delayed, 0 to 100.
    pub percent: f64,
    /// How long.
    pub latency: Latency,
}

/// A [`ChaosLayer`]'s settings, with the builder's defaults. With the
/// `serde` feature it loads from TOML or JSON, durations written as
/// `"250ms"`:
///
/// ```toml
/// name = "recommendations"
/// directives = true
/// seed = 7
/// [abort]
/// percent = 2.0
/// with = "503"
/// [delay]
/// percent = 10.0
/// latency = { kind = "exponential", mean = "80ms" }
/// ```
///
/// ```
/// use buttress_chaos::config::{AbortConfig, ChaosConfig};
///
/// let config = ChaosConfig {
///     abort: Some(AbortConfig { percent: 2.0, with: "grpc:UNAVAILABLE".into() }),
///     ..ChaosConfig::new("inventory")
/// };
/// assert!(config.build().is_ok());
///
/// let bad = ChaosConfig {
///     abort: Some(AbortConfig { percent: 2.0, with: "200".into() }),
///     ..ChaosConfig::new("inventory")
/// };
/// assert_eq!(bad.build().unwrap_err().field(), "abort.with");
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(deny_unknown_fields)
)]
pub struct ChaosConfig {
    /// The dependency's name, as directives name it.
    pub name: String,
    /// Aborts at a rate (default none).
    #[cfg_attr(feature = "serde", serde(default))]
    pub abort: Option<AbortConfig>,
    /// Delays at a rate (default none).
    #[cfg_attr(feature = "serde", serde(default))]
    pub delay: Option<DelayConfig>,
    /// Honour trusted `x-buttress-fault` directives (default no).
    #[cfg_attr(feature = "serde", serde(default))]
    pub directives: bool,
    /// The seed of the draws (default random).
    #[cfg_attr(feature = "serde", serde(default))]
    pub seed: Option<u64>,
    /// The longest delay (default 30 s, at most 60 s).
    #[cfg_attr(
        feature = "serde",
        serde(default = "default_max_delay", with = "humantime_serde")
    )]
    pub max_delay: Duration,
    /// The most faults active at once (default 100).
    #[cfg_attr(feature = "serde", serde(default = "default_max_active"))]
    pub max_active: usize,
    /// Whether the layer starts enabled (default yes).
    #[cfg_attr(feature = "serde", serde(default = "default_enabled"))]
    pub enabled: bool,
}

#[cfg(feature = "serde")]
fn default_max_delay() -> Duration {
    DEFAULT_MAX_DELAY
}

#[cfg(feature = "serde")]
fn default_max_active() -> usize {
    DEFAULT_MAX_ACTIVE
}

#[cfg(feature = "serde")]
fn default_enabled() -> bool {
    true
}

impl ChaosConfig {
    /// The defaults for the dependency `name`: nothing injected.
    pub fn new(name: impl Into<String>) -> Self {
        ChaosConfig {
            name: name.into(),
            abort: None,
            delay: None,
            directives: false,
            seed: None,
            max_delay: DEFAULT_MAX_DELAY,
            max_active: DEFAULT_MAX_ACTIVE,
            enabled: true,
        }
    }

    /// Validates and builds the layer.
    pub fn build(&self) -> Result<ChaosLayer, ConfigError> {
        let mut builder = ChaosLayer::builder(self.name.as_str())
            .directives(self.directives)
            .max_delay(self.max_delay)
            .max_active(self.max_active)
            .enabled(self.enabled);
        if let Some(abort) = &self.abort {
            let with = parse_abort(abort.with.as_bytes()).map_err(|_| {
                ConfigError::new(
                    "abort.with",
                    "must be a 4xx/5xx status, grpc:<code> or reset",
                )
            })?;
            builder = builder.abort(abort.percent, with);
        }
        if let Some(delay) = &self.delay {
            builder = builder.delay(delay.percent, delay.latency);
        }
        if let Some(seed) = self.seed {
            builder = builder.seed(seed);
        }
        builder.build()
    }
}
