//! Throttle settings, their builder and validation.

use std::sync::Arc;
use std::time::Duration;

use buttress_core::config::{MAX_DURATION, check_duration};
use buttress_core::layer::{BuildEnv, DefaultClassifier, LayerBuilder, LayerConfig};
use buttress_core::telemetry::LayerKind;

use super::layer::ThrottleLayer;
use super::throttler::Throttler;
use crate::ConfigError;

/// The shortest bucket the window may slide by.
const MIN_BUCKET: Duration = Duration::from_millis(1);

/// A throttle's configuration, as data (loadable from TOML or JSON,
/// durations written like `"2m"`).
///
/// | field | default | meaning |
/// |---|---|---|
/// | `name` | the stack's name, else `throttle` | what it reports under (the dependency's name) |
/// | `window` | 2 min | how far back requests and accepts count, 1 ms to a day |
/// | `buckets` | 120 | how many buckets the window slides by, 1 to 3600, each at least 1 ms |
/// | `k` | 2 | requests are rejected locally once they exceed `k` times the accepts; at least 1 |
/// | `max_probability` | 0.9 | the highest chance of rejecting locally (`1.0`: no cap) |
/// | `retry_after` | 1 s | the retry hint given with a rejection, up to a day |
/// | `seed` | random | the seed of the random draws, for repeatable runs |
///
/// What counts as an accept is the classifier's verdict, set on the
/// [builder](ThrottleLayerBuilder::classifier); by default
/// [`DefaultClassifier`]: 5xx, 429 and failing `grpc-status` answers are
/// refusals.
///
/// ```
/// use buttress_core::layer::LayerHandle;
/// use buttress_limit::throttle::{ThrottleConfig, ThrottleLayer};
///
/// let config = ThrottleConfig { name: Some("payments".into()), k: 1.5, ..ThrottleConfig::default() };
/// let layer = ThrottleLayer::from_config(&config).unwrap();
/// assert_eq!(layer.handle().probability(), 0.0);
/// assert_eq!(layer.handle().id().name(), "payments");
/// ```
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ThrottleConfig {
    /// The name the layer reports under (the dependency's); `None`: the
    /// stack's name, else `throttle`.
    pub name: Option<String>,
    /// How far back requests and accepts count.
    #[serde(with = "humantime_serde")]
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
    #[serde(with = "humantime_serde")]
    pub retry_after: Duration,
    /// Seed of the random draws, for repeatable runs; random if unset.
    pub seed: Option<u64>,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        ThrottleConfig {
            name: None,
            window: Duration::from_secs(120),
            buckets: 120,
            k: 2.0,
            max_probability: 0.9,
            retry_after: Duration::from_secs(1),
            seed: None,
        }
    }
}

impl LayerConfig for ThrottleConfig {
    type Layer = ThrottleLayer;

    fn name_mut(&mut self) -> &mut Option<String> {
        &mut self.name
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.name.as_deref() == Some("") {
            return Err(ConfigError::new("name", "must not be empty"));
        }
        check_duration("window", self.window, MIN_BUCKET..=MAX_DURATION)?;
        if !(1..=3_600).contains(&self.buckets) {
            return Err(ConfigError::new("buckets", "must be within 1..=3600"));
        }
        if self.window / self.buckets < MIN_BUCKET {
            return Err(ConfigError::new(
                "buckets",
                "must leave each bucket at least 1ms",
            ));
        }
        if !self.k.is_finite() || self.k < 1.0 {
            return Err(ConfigError::new("k", "must be a number of at least 1"));
        }
        if !(0.0..=1.0).contains(&self.max_probability) {
            return Err(ConfigError::new("max_probability", "must be within 0..=1"));
        }
        check_duration(
            "retry_after",
            self.retry_after,
            Duration::ZERO..=MAX_DURATION,
        )
    }

    fn build_in(&self, env: &BuildEnv) -> Result<ThrottleLayer, ConfigError> {
        self.build_with(env, DefaultClassifier::default())
    }
}

impl ThrottleConfig {
    /// Validates, then builds the layer judging calls with `classifier`.
    fn build_with<C>(
        &self,
        env: &BuildEnv,
        classifier: C,
    ) -> Result<ThrottleLayer<C>, ConfigError> {
        self.validate()?;
        let telemetry = env.telemetry(LayerKind::Throttle, self.name.as_deref());
        let throttler = Arc::new(Throttler::new(self.clone(), telemetry));
        throttler
            .telemetry
            .describe_config(&throttler, |t| &t.current);
        Ok(ThrottleLayer::new(throttler, classifier))
    }
}

/// Builds a [`ThrottleLayer`]. Its settings are a [`ThrottleConfig`], set
/// with [`configure`](LayerBuilder::configure) or
/// [`with_config`](LayerBuilder::with_config); the builder adds only the
/// classifier that tells an accept from a refusal, and the environment it
/// reports in ([`LayerBuilder`]'s `name`, `sink`, `env`).
///
/// ```
/// use buttress_core::layer::LayerBuilder;
/// use buttress_core::classify::AnyErrorFails;
/// use buttress_limit::throttle::ThrottleLayer;
/// use std::time::Duration;
///
/// // A dependency that is not HTTP: every error is a refusal.
/// let layer = ThrottleLayer::builder()
///     .configure(|c| {
///         c.window = Duration::from_secs(60);
///         c.buckets = 60;
///     })
///     .name("ledger")
///     .classifier(AnyErrorFails)
///     .build()
///     .unwrap();
/// assert_eq!(layer.handle().counts(), (0, 0));
/// assert!(ThrottleLayer::builder().configure(|c| c.k = 0.5).build().is_err());
/// ```
#[derive(Debug, Clone, Default)]
pub struct ThrottleLayerBuilder<C = DefaultClassifier> {
    config: ThrottleConfig,
    env: BuildEnv,
    classifier: C,
}

impl<C> LayerBuilder for ThrottleLayerBuilder<C> {
    type Config = ThrottleConfig;

    fn config(&self) -> &ThrottleConfig {
        &self.config
    }

    fn parts_mut(&mut self) -> (&mut ThrottleConfig, &mut BuildEnv) {
        (&mut self.config, &mut self.env)
    }
}

impl<C> ThrottleLayerBuilder<C> {
    /// Judges calls with `classifier`: a success is an accept, a failure a
    /// refusal, an ignored outcome (an inner layer's rejection) neither.
    /// The default, [`DefaultClassifier`], reads the HTTP status or the
    /// `grpc-status`; for services that are not HTTP, pass
    /// [`AnyErrorFails`](buttress_core::classify::AnyErrorFails).
    pub fn classifier<C2>(self, classifier: C2) -> ThrottleLayerBuilder<C2> {
        ThrottleLayerBuilder {
            config: self.config,
            env: self.env,
            classifier,
        }
    }

    /// Validates and builds the layer; its window is shared by every
    /// service it wraps.
    pub fn build(self) -> Result<ThrottleLayer<C>, ConfigError> {
        self.config.build_with(&self.env, self.classifier)
    }
}
