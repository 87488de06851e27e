//! The adaptive limit's builder.

use std::fmt;
use std::time::Duration;

use buttress_core::layer::{BuildEnv, DefaultClassifier, LayerBuilder};

use super::algorithm::{Aimd, Algorithm, Gradient, LimitAlgorithm, Vegas};
use super::config::{AdaptiveLimitConfig, build};
use super::layer::AdaptiveLimitLayer;
use crate::ConfigError;
use crate::permit::QueueOrder;

/// Builds an [`AdaptiveLimitLayer`]: the fields of an
/// [`AdaptiveLimitConfig`], plus what is not data — the classifier that
/// judges calls (default [`DefaultClassifier`]: HTTP status, or
/// `grpc-status` when present; 5xx and 429 fail) and a custom algorithm.
/// `.name(..)`, `.sink(..)` and `.env(..)` come from [`LayerBuilder`].
///
/// ```
/// use buttress_core::classify::AnyErrorFails;
/// use buttress_core::layer::{LayerBuilder, LayerHandle};
/// use buttress_limit::adaptive::{AdaptiveLimitLayer, Vegas};
/// use std::time::Duration;
///
/// let layer = AdaptiveLimitLayer::builder()
///     .name("search")
///     .vegas(Vegas::default())
///     .limits(4, 20, 400)
///     .queue(100, Duration::from_millis(20))
///     .classifier(AnyErrorFails) // a service that does not speak HTTP
///     .build()
///     .unwrap();
/// assert_eq!(layer.handle().limit(), 20);
/// assert!(AdaptiveLimitLayer::builder().limits(5, 1, 10).build().is_err());
/// ```
pub struct AdaptiveLimitLayerBuilder<C = DefaultClassifier> {
    config: AdaptiveLimitConfig,
    env: BuildEnv,
    custom: Option<Box<dyn LimitAlgorithm>>,
    classifier: C,
}

impl Default for AdaptiveLimitLayerBuilder {
    fn default() -> Self {
        Self::from_config(AdaptiveLimitConfig::default())
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

impl AdaptiveLimitLayerBuilder {
    /// Starts from `config` (loaded from a file, say).
    pub fn from_config(config: AdaptiveLimitConfig) -> Self {
        AdaptiveLimitLayerBuilder {
            config,
            env: BuildEnv::default(),
            custom: None,
            classifier: DefaultClassifier::default(),
        }
    }
}

impl<C> LayerBuilder for AdaptiveLimitLayerBuilder<C> {
    fn name_and_env(&mut self) -> (&mut Option<String>, &mut BuildEnv) {
        (&mut self.config.name, &mut self.env)
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

    /// How the limit moves, as data (and drops a custom algorithm).
    pub fn algorithm(mut self, algorithm: Algorithm) -> Self {
        self.config.algorithm = algorithm;
        self.custom = None;
        self
    }

    /// Uses the [`Gradient`] algorithm (the default).
    pub fn gradient(self, gradient: Gradient) -> Self {
        self.algorithm(Algorithm::Gradient(gradient))
    }

    /// Uses the [`Vegas`] algorithm.
    pub fn vegas(self, vegas: Vegas) -> Self {
        self.algorithm(Algorithm::Vegas(vegas))
    }

    /// Uses the [`Aimd`] algorithm.
    pub fn aimd(self, aimd: Aimd) -> Self {
        self.algorithm(Algorithm::Aimd(aimd))
    }

    /// Uses an algorithm of your own instead of the config's.
    pub fn custom_algorithm(mut self, algorithm: impl LimitAlgorithm) -> Self {
        self.custom = Some(Box::new(algorithm));
        self
    }

    /// The limit never falls below this (at least 1).
    pub fn min_limit(mut self, min: usize) -> Self {
        self.config.min_limit = min;
        self
    }

    /// The limit never rises above this.
    pub fn max_limit(mut self, max: usize) -> Self {
        self.config.max_limit = max;
        self
    }

    /// The limit to start from (default: 20, clamped into the bounds).
    pub fn initial_limit(mut self, initial: usize) -> Self {
        self.config.initial_limit = Some(initial);
        self
    }

    /// The minimum, initial and maximum limit at once.
    pub fn limits(self, min: usize, initial: usize, max: usize) -> Self {
        self.min_limit(min).initial_limit(initial).max_limit(max)
    }

    /// The shortest sampling window.
    pub fn window(mut self, window: Duration) -> Self {
        self.config.window = window;
        self
    }

    /// The fewest calls a window needs before the limit moves.
    pub fn window_min_calls(mut self, calls: u32) -> Self {
        self.config.window_min_calls = calls;
        self
    }

    /// Calls slower than `threshold` count as drops.
    pub fn drop_above(mut self, threshold: Duration) -> Self {
        self.config.drop_above = Some(threshold);
        self
    }

    /// How often the no-load round trip is re-measured.
    pub fn probe_interval(mut self, interval: Duration) -> Self {
        self.config.probe_interval = interval;
        self
    }

    /// The fraction of the probe interval added at random, in `0..=1`.
    pub fn probe_jitter(mut self, jitter: f64) -> Self {
        self.config.probe_jitter = jitter;
        self
    }

    /// The probe interval and its jitter at once.
    pub fn probe(self, interval: Duration, jitter: f64) -> Self {
        self.probe_interval(interval).probe_jitter(jitter)
    }

    /// Callers that may wait for a permit; 0 rejects at once.
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.config.queue_capacity = capacity;
        self
    }

    /// The longest a caller waits while the queue is healthy.
    pub fn max_wait(mut self, max_wait: Duration) -> Self {
        self.config.max_wait = max_wait;
        self
    }

    /// A wait queue of `capacity` callers, each waiting at most `max_wait`
    /// while the queue is healthy.
    pub fn queue(self, capacity: usize, max_wait: Duration) -> Self {
        self.queue_capacity(capacity).max_wait(max_wait)
    }

    /// CoDel's target wait, once the queue stands (capped at `max_wait`).
    pub fn codel_target(mut self, target: Duration) -> Self {
        self.config.codel_target = target;
        self
    }

    /// How long the queue may stay non-empty before it stands.
    pub fn codel_interval(mut self, interval: Duration) -> Self {
        self.config.codel_interval = interval;
        self
    }

    /// CoDel's target wait and interval at once.
    pub fn codel(self, target: Duration, interval: Duration) -> Self {
        self.codel_target(target).codel_interval(interval)
    }

    /// Which waiter is served first.
    pub fn order(mut self, order: QueueOrder) -> Self {
        self.config.order = order;
        self
    }

    /// The retry hint given with a rejection.
    pub fn retry_after(mut self, retry_after: Duration) -> Self {
        self.config.retry_after = retry_after;
        self
    }

    /// Seeds the probe jitter, for repeatable runs.
    pub fn seed(mut self, seed: u64) -> Self {
        self.config.seed = Some(seed);
        self
    }

    /// The config built so far.
    pub fn config(&self) -> &AdaptiveLimitConfig {
        &self.config
    }

    /// Validates and builds the layer, registering it with telemetry; its
    /// limiter is shared by every service it wraps and every clone.
    pub fn build(self) -> Result<AdaptiveLimitLayer<C>, ConfigError> {
        build(self.config, &self.env, self.custom, self.classifier)
    }
}
