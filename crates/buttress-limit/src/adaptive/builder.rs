//! The adaptive limit's builder.

use std::fmt;

use buttress_core::layer::{BuildEnv, DefaultClassifier, LayerBuilder};

use super::algorithm::LimitAlgorithm;
use super::config::{AdaptiveLimitConfig, build};
use super::layer::AdaptiveLimitLayer;
use crate::ConfigError;

/// Builds an [`AdaptiveLimitLayer`].
///
/// Its settings are an [`AdaptiveLimitConfig`], all data (the algorithm
/// too): set them with `.configure(|c| ..)` or `.with_config(..)`;
/// `.name(..)`, `.sink(..)` and `.env(..)` come from [`LayerBuilder`]
/// too. The builder adds what is not data: the classifier that judges
/// calls (default [`DefaultClassifier`]: HTTP status, or `grpc-status`
/// when present; 5xx and 429 fail) and an algorithm of your own.
///
/// ```
/// use buttress_core::classify::AnyErrorFails;
/// use buttress_core::layer::{LayerBuilder, LayerHandle};
/// use buttress_limit::adaptive::{AdaptiveLimitConfig, AdaptiveLimitLayer, Algorithm, Vegas};
/// use std::time::Duration;
///
/// let layer = AdaptiveLimitLayer::builder()
///     .configure(|c| {
///         c.algorithm = Algorithm::Vegas(Vegas::default());
///         c.min_limit = 4;
///         c.initial_limit = Some(20);
///         c.max_limit = 400;
///         c.queue_capacity = 100;
///         c.max_wait = Duration::from_millis(20);
///     })
///     .name("search")
///     .classifier(AnyErrorFails) // a service that does not speak HTTP
///     .build()
///     .unwrap();
/// assert_eq!(layer.handle().limit(), 20);
///
/// // Or a whole config at once, as loaded from a file:
/// let config = AdaptiveLimitConfig { min_limit: 5, max_limit: 1, ..AdaptiveLimitConfig::default() };
/// assert!(AdaptiveLimitLayer::builder().with_config(config).build().is_err());
/// ```
pub struct AdaptiveLimitLayerBuilder<C = DefaultClassifier> {
    config: AdaptiveLimitConfig,
    env: BuildEnv,
    custom: Option<Box<dyn LimitAlgorithm>>,
    classifier: C,
}

impl Default for AdaptiveLimitLayerBuilder {
    fn default() -> Self {
        AdaptiveLimitLayerBuilder {
            config: AdaptiveLimitConfig::default(),
            env: BuildEnv::default(),
            custom: None,
            classifier: DefaultClassifier::default(),
        }
    }
}

impl<C: fmt::Debug> fmt::Debug for AdaptiveLimitLayerBuilder<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdaptiveLimitLayerBuilder")
            .field("config", &self.config)
            .field("env", &self.env)
            .field("custom", &self.custom)
            .field("classifier", &self.classifier)
            .finish()
    }
}

impl<C> LayerBuilder for AdaptiveLimitLayerBuilder<C> {
    type Config = AdaptiveLimitConfig;

    fn config(&self) -> &AdaptiveLimitConfig {
        &self.config
    }

    fn parts_mut(&mut self) -> (&mut AdaptiveLimitConfig, &mut BuildEnv) {
        (&mut self.config, &mut self.env)
    }
}

impl<C> AdaptiveLimitLayerBuilder<C> {
    /// Judges calls with `classifier`: its failures are drops. For
    /// services that do not answer HTTP, pass
    /// [`AnyErrorFails`](buttress_core::classify::AnyErrorFails).
    pub fn classifier<C2>(self, classifier: C2) -> AdaptiveLimitLayerBuilder<C2> {
        AdaptiveLimitLayerBuilder {
            config: self.config,
            env: self.env,
            custom: self.custom,
            classifier,
        }
    }

    /// Moves the limit with an algorithm of your own instead of the
    /// config's `algorithm` (which is then ignored; the config's bounds,
    /// window and queue still apply).
    ///
    /// ```
    /// use buttress_core::layer::LayerBuilder;
    /// use buttress_limit::adaptive::{AdaptiveLimitLayer, LimitAlgorithm, Sample};
    ///
    /// /// Grows by one per clean window, halves on a drop.
    /// #[derive(Debug)]
    /// struct Halving;
    ///
    /// impl LimitAlgorithm for Halving {
    ///     fn name(&self) -> &'static str {
    ///         "halving"
    ///     }
    ///     fn update(&mut self, limit: f64, sample: &Sample) -> f64 {
    ///         if sample.dropped() { limit / 2.0 } else { limit + 1.0 }
    ///     }
    /// }
    ///
    /// let layer = AdaptiveLimitLayer::builder()
    ///     .configure(|c| c.initial_limit = Some(10))
    ///     .custom_algorithm(Halving)
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(layer.handle().limit(), 10);
    /// ```
    pub fn custom_algorithm(mut self, algorithm: impl LimitAlgorithm) -> Self {
        self.custom = Some(Box::new(algorithm));
        self
    }

    /// Validates and builds the layer, registering it with telemetry; its
    /// limiter is shared by every service it wraps and every clone.
    pub fn build(self) -> Result<AdaptiveLimitLayer<C>, ConfigError> {
        build(self.config, &self.env, self.custom, self.classifier)
    }
}
