//! Throttle settings, their builder and validation.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use buttress_core::classify::AnyErrorFails;
use buttress_core::telemetry::{LayerKind, Telemetry, TelemetrySink};

use super::layer::ThrottleLayer;
use super::throttler::Throttler;
use crate::ConfigError;

/// A throttle's settings, as data (loadable with the `serde` feature,
/// durations written like `"2m"`).
///
/// ```
/// use buttress_limit::throttle::{ThrottleConfig, ThrottleLayer};
///
/// let config = ThrottleConfig { name: "payments".into(), k: 1.5, ..ThrottleConfig::default() };
/// let layer = ThrottleLayer::from_config(config).unwrap();
/// assert_eq!(layer.probability(), 0.0);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub struct ThrottleConfig {
    /// The name telemetry reports under (the dependency's).
    pub name: String,
    /// How far back requests and accepts count.
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    pub window: Duration,
    /// How many buckets the window slides by.
    pub buckets: u32,
    /// The multiplier: requests are rejected locally once they exceed
    /// `k` times the accepts. Lower is more aggressive; at least 1.
    pub k: f64,
    /// The highest chance of rejecting locally (`1.0`: no cap), so that
    /// some requests always reach the dependency and see it recover.
    pub max_probability: f64,
    /// The retry hint given with a rejection.
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    pub retry_after: Duration,
    /// Seed of the random draws, for repeatable runs; random if unset.
    pub seed: Option<u64>,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        ThrottleConfig {
            name: "throttle".into(),
            window: Duration::from_secs(120),
            buckets: 120,
            k: 2.0,
            max_probability: 0.9,
            retry_after: Duration::from_secs(1),
            seed: None,
        }
    }
}

impl ThrottleConfig {
    /// Checks that the settings can work.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let fail = |field, problem| Err(ConfigError::new(field, problem));
        if self.name.is_empty() {
            return fail("name", "must not be empty");
        }
        if self.window.is_zero() || self.window > Duration::from_secs(86_400) {
            return fail("window", "must be above zero and at most a day");
        }
        if !(1..=3_600).contains(&self.buckets) {
            return fail("buckets", "must be within 1..=3600");
        }
        if self.window / self.buckets < Duration::from_millis(1) {
            return fail("buckets", "must leave each bucket at least 1ms");
        }
        if !self.k.is_finite() || self.k < 1.0 {
            return fail("k", "must be a number of at least 1");
        }
        if !(0.0..=1.0).contains(&self.max_probability) {
            return fail("max_probability", "must be within 0..=1");
        }
        Ok(())
    }
}

/// Builds a [`ThrottleLayer`]; see [`ThrottleLayer::builder`].
#[derive(Default)]
pub struct ThrottleBuilder {
    config: ThrottleConfig,
    sink: Option<Arc<dyn TelemetrySink>>,
}

impl fmt::Debug for ThrottleBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThrottleBuilder")
            .field("config", &self.config)
            .field("own_sink", &self.sink.is_some())
            .finish()
    }
}

impl ThrottleBuilder {
    /// A builder starting from `config`.
    pub fn from_config(config: ThrottleConfig) -> Self {
        ThrottleBuilder { config, sink: None }
    }

    /// The name telemetry reports under.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.config.name = name.into();
        self
    }

    /// The window and how many buckets it slides by.
    pub fn window(mut self, window: Duration, buckets: u32) -> Self {
        self.config.window = window;
        self.config.buckets = buckets;
        self
    }

    /// The multiplier `k` (default 2).
    pub fn k(mut self, k: f64) -> Self {
        self.config.k = k;
        self
    }

    /// The highest chance of rejecting locally (default 0.9; 1.0: no cap).
    pub fn max_probability(mut self, cap: f64) -> Self {
        self.config.max_probability = cap;
        self
    }

    /// The retry hint given with a rejection.
    pub fn retry_after(mut self, retry_after: Duration) -> Self {
        self.config.retry_after = retry_after;
        self
    }

    /// Seeds the random draws, for repeatable runs.
    pub fn seed(mut self, seed: u64) -> Self {
        self.config.seed = Some(seed);
        self
    }

    /// Reports to `sink` instead of the process-wide sink.
    pub fn telemetry_sink(mut self, sink: impl TelemetrySink) -> Self {
        self.sink = Some(Arc::new(sink));
        self
    }

    /// Builds the layer; its window is shared by every service it wraps.
    pub fn build(self) -> Result<ThrottleLayer<AnyErrorFails>, ConfigError> {
        self.config.validate()?;
        let name: Arc<str> = self.config.name.as_str().into();
        let telemetry = match &self.sink {
            Some(sink) => Telemetry::with_sink(&**sink, LayerKind::Throttle, name),
            None => Telemetry::register(LayerKind::Throttle, name),
        };
        let throttler = Throttler::new(self.config, telemetry);
        Ok(ThrottleLayer::new(Arc::new(throttler), AnyErrorFails))
    }
}
