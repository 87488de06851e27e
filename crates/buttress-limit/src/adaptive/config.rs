//! Adaptive limit settings, their builder and validation.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use buttress_core::classify::AnyErrorFails;
use buttress_core::telemetry::{LayerKind, Telemetry, TelemetrySink};

use super::algorithm::{Aimd, Algorithm, Gradient, LimitAlgorithm, Vegas};
use super::layer::AdaptiveLimitLayer;
use super::limiter::Limiter;
use crate::ConfigError;
use crate::bulkhead::MAX_WAIT_CEILING;
use crate::permit::QueueOrder;

/// An adaptive limit's settings, as data (loadable with the `serde`
/// feature, durations written like `"100ms"`).
///
/// ```
/// use buttress_limit::adaptive::{AdaptiveLimitConfig, AdaptiveLimitLayer, Algorithm, Vegas};
///
/// let config = AdaptiveLimitConfig {
///     name: "search".into(),
///     algorithm: Algorithm::Vegas(Vegas::default()),
///     max_limit: 500,
///     ..AdaptiveLimitConfig::default()
/// };
/// let layer = AdaptiveLimitLayer::from_config(config).unwrap();
/// assert_eq!(layer.limit(), 20);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub struct AdaptiveLimitConfig {
    /// The name telemetry reports under.
    pub name: String,
    /// How the limit moves.
    pub algorithm: Algorithm,
    /// The limit never falls below this (at least 1).
    pub min_limit: usize,
    /// The limit never rises above this.
    pub max_limit: usize,
    /// The limit to start from.
    pub initial_limit: usize,
    /// The shortest sampling window; a window also lasts at least two
    /// no-load round trips, and holds at least `window_min_calls` calls.
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    pub window: Duration,
    /// The fewest calls a window needs before the limit moves.
    pub window_min_calls: u32,
    /// Calls slower than this count as drops (for AIMD: a timeout is a
    /// loss). `None`: only failures by the classifier are drops.
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    pub drop_above: Option<Duration>,
    /// How often the no-load round-trip time is re-measured: the limit
    /// drops to `min_limit` for one window, so the dependency drains and
    /// shows its unloaded speed again.
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    pub probe_interval: Duration,
    /// Up to this fraction of `probe_interval` is added at random to each
    /// interval, so replicas do not probe (and dip) together.
    pub probe_jitter: f64,
    /// Callers that may wait for a permit; 0 rejects at once.
    pub queue_capacity: usize,
    /// The longest a caller waits while the queue is healthy (never past
    /// its request's deadline). At most one hour.
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    pub max_wait: Duration,
    /// CoDel's target: once the queue has not emptied for
    /// `codel_interval`, new waiters wait at most this long.
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    pub codel_target: Duration,
    /// CoDel's interval: how long the queue may stay non-empty before it
    /// counts as a standing queue.
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    pub codel_interval: Duration,
    /// Which waiter is served first.
    pub order: QueueOrder,
    /// The retry hint given with a rejection.
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    pub retry_after: Duration,
    /// Seed of the probe jitter, for repeatable runs; random if unset.
    pub seed: Option<u64>,
}

impl Default for AdaptiveLimitConfig {
    fn default() -> Self {
        AdaptiveLimitConfig {
            name: "adaptive_limit".into(),
            algorithm: Algorithm::default(),
            min_limit: 4,
            max_limit: 1000,
            initial_limit: 20,
            window: Duration::from_millis(100),
            window_min_calls: 10,
            drop_above: None,
            probe_interval: Duration::from_secs(60),
            probe_jitter: 0.15,
            queue_capacity: 1000,
            max_wait: Duration::from_millis(100),
            codel_target: Duration::from_millis(5),
            codel_interval: Duration::from_millis(100),
            order: QueueOrder::Fifo,
            retry_after: Duration::from_secs(1),
            seed: None,
        }
    }
}

impl AdaptiveLimitConfig {
    /// Checks that the settings can work.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let fail = |field, problem| Err(ConfigError::new(field, problem));
        if self.name.is_empty() {
            return fail("name", "must not be empty");
        }
        if self.min_limit == 0 {
            return fail("min_limit", "must be at least 1");
        }
        if self.max_limit < self.min_limit {
            return fail("max_limit", "must be at least min_limit");
        }
        if !(self.min_limit..=self.max_limit).contains(&self.initial_limit) {
            return fail("initial_limit", "must be within min_limit..=max_limit");
        }
        if self.window.is_zero() || self.window > MAX_WAIT_CEILING {
            return fail("window", "must be above zero and at most one hour");
        }
        if self.window_min_calls == 0 {
            return fail("window_min_calls", "must be at least 1");
        }
        if self.probe_interval.is_zero() || self.probe_interval > Duration::from_secs(86_400) {
            return fail("probe_interval", "must be above zero and at most a day");
        }
        if !(0.0..=1.0).contains(&self.probe_jitter) {
            return fail("probe_jitter", "must be within 0..=1");
        }
        if self.max_wait > MAX_WAIT_CEILING {
            return fail("max_wait", "must be at most one hour");
        }
        if self.codel_target > self.max_wait {
            return fail("codel_target", "must not exceed max_wait");
        }
        if self.codel_interval.is_zero() || self.codel_interval > MAX_WAIT_CEILING {
            return fail("codel_interval", "must be above zero and at most one hour");
        }
        self.algorithm.validate()
    }
}

/// Builds an [`AdaptiveLimitLayer`]; see [`AdaptiveLimitLayer::builder`].
#[derive(Default)]
pub struct AdaptiveLimitBuilder {
    config: AdaptiveLimitConfig,
    custom: Option<Box<dyn LimitAlgorithm>>,
    sink: Option<Arc<dyn TelemetrySink>>,
}

impl fmt::Debug for AdaptiveLimitBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdaptiveLimitBuilder")
            .field("config", &self.config)
            .field("custom", &self.custom)
            .field("own_sink", &self.sink.is_some())
            .finish()
    }
}

impl AdaptiveLimitBuilder {
    /// A builder starting from `config`.
    pub fn from_config(config: AdaptiveLimitConfig) -> Self {
        AdaptiveLimitBuilder {
            config,
            ..Default::default()
        }
    }

    /// The name telemetry reports under.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.config.name = name.into();
        self
    }

    /// Uses the [`Gradient`] algorithm (the default).
    pub fn gradient(mut self, gradient: Gradient) -> Self {
        self.config.algorithm = Algorithm::Gradient(gradient);
        self.custom = None;
        self
    }

    /// Uses the [`Vegas`] algorithm.
    pub fn vegas(mut self, vegas: Vegas) -> Self {
        self.config.algorithm = Algorithm::Vegas(vegas);
        self.custom = None;
        self
    }

    /// Uses the [`Aimd`] algorithm.
    pub fn aimd(mut self, aimd: Aimd) -> Self {
        self.config.algorithm = Algorithm::Aimd(aimd);
        self.custom = None;
        self
    }

    /// Uses an algorithm of your own.
    pub fn algorithm(mut self, algorithm: impl LimitAlgorithm) -> Self {
        self.custom = Some(Box::new(algorithm));
        self
    }

    /// The minimum, initial and maximum limit.
    pub fn limits(mut self, min: usize, initial: usize, max: usize) -> Self {
        self.config.min_limit = min;
        self.config.initial_limit = initial;
        self.config.max_limit = max;
        self
    }

    /// The shortest sampling window.
    pub fn window(mut self, window: Duration) -> Self {
        self.config.window = window;
        self
    }

    /// Calls slower than `threshold` count as drops.
    pub fn drop_above(mut self, threshold: Duration) -> Self {
        self.config.drop_above = Some(threshold);
        self
    }

    /// How often, and with how much jitter, the no-load round trip is
    /// re-measured.
    pub fn probe(mut self, interval: Duration, jitter: f64) -> Self {
        self.config.probe_interval = interval;
        self.config.probe_jitter = jitter;
        self
    }

    /// A wait queue of `capacity` callers, each waiting at most `max_wait`
    /// while the queue is healthy.
    pub fn queue(mut self, capacity: usize, max_wait: Duration) -> Self {
        self.config.queue_capacity = capacity;
        self.config.max_wait = max_wait;
        self
    }

    /// CoDel's target wait and interval.
    pub fn codel(mut self, target: Duration, interval: Duration) -> Self {
        self.config.codel_target = target;
        self.config.codel_interval = interval;
        self
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

    /// Reports to `sink` instead of the process-wide sink.
    pub fn telemetry_sink(mut self, sink: impl TelemetrySink) -> Self {
        self.sink = Some(Arc::new(sink));
        self
    }

    /// Builds the layer; its limiter is shared by every service it wraps.
    pub fn build(self) -> Result<AdaptiveLimitLayer<AnyErrorFails>, ConfigError> {
        self.config.validate()?;
        let name: Arc<str> = self.config.name.as_str().into();
        let telemetry = match &self.sink {
            Some(sink) => Telemetry::with_sink(&**sink, LayerKind::AdaptiveLimit, name),
            None => Telemetry::register(LayerKind::AdaptiveLimit, name),
        };
        let algorithm = match self.custom {
            Some(custom) => custom,
            None => self.config.algorithm.boxed(),
        };
        let limiter = Limiter::new(self.config, algorithm, telemetry);
        Ok(AdaptiveLimitLayer::new(Arc::new(limiter), AnyErrorFails))
    }
}
