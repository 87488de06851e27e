//! The builder.

use std::fmt;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use buttress_core::classify::HttpClassifier;
use buttress_core::telemetry::{LayerKind, Telemetry, TelemetrySink};

use super::{BackoffConfig, BreakerConfig, ConfigError, SlowCallConfig, WindowConfig};
use crate::keyed::KeyedCircuitBreakerLayer;
use crate::layer::CircuitBreakerLayer;
use crate::shared::Policy;

/// Builds a [`CircuitBreakerLayer`] (or a per-key
/// [`KeyedCircuitBreakerLayer`]): the fields of a [`BreakerConfig`], plus
/// the classifier `C` and where telemetry goes.
///
/// ```
/// use buttress_breaker::CircuitBreakerLayer;
/// use std::time::Duration;
///
/// let layer = CircuitBreakerLayer::builder("payments")
///     .time_window(Duration::from_secs(30), 10)
///     .failure_rate(40.0)
///     .slow_calls(Duration::from_secs(2), 80.0)
///     .minimum_calls(50)
///     .wait(Duration::from_secs(10))
///     .backoff(2.0, Duration::from_secs(160))
///     .jitter(0.2)
///     .permitted_probes(3)
///     .build()
///     .expect("a valid config");
/// # drop(layer);
/// ```
pub struct CircuitBreakerBuilder<C = HttpClassifier> {
    config: BreakerConfig,
    classifier: C,
    sink: Option<Arc<dyn TelemetrySink>>,
}

impl CircuitBreakerBuilder<HttpClassifier> {
    /// The documented defaults, named `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self::from_config(BreakerConfig::new(name))
    }

    /// Starts from `config` (loaded from a file, say).
    pub fn from_config(config: BreakerConfig) -> Self {
        CircuitBreakerBuilder {
            config,
            classifier: HttpClassifier::default(),
            sink: None,
        }
    }
}

impl<C> CircuitBreakerBuilder<C> {
    /// Judges results with `classifier` instead: [`AnyErrorFails`] for
    /// services that are not HTTP, [`GrpcClassifier`] for gRPC, or a
    /// closure.
    ///
    /// [`AnyErrorFails`]: buttress_core::classify::AnyErrorFails
    /// [`GrpcClassifier`]: buttress_core::classify::GrpcClassifier
    pub fn classifier<C2>(self, classifier: C2) -> CircuitBreakerBuilder<C2> {
        CircuitBreakerBuilder {
            config: self.config,
            classifier,
            sink: self.sink,
        }
    }

    /// Reports to `sink` rather than to the global sink.
    pub fn telemetry_sink(mut self, sink: impl TelemetrySink) -> Self {
        self.sink = Some(Arc::new(sink));
        self
    }

    /// Rates over exactly the last `size` calls.
    pub fn count_window(mut self, size: u32) -> Self {
        self.config.window = WindowConfig::Count { size };
        self
    }

    /// Rates over the last `duration`, split into `buckets` buckets.
    pub fn time_window(mut self, duration: Duration, buckets: u32) -> Self {
        self.config.window = WindowConfig::Time { duration, buckets };
        self
    }

    /// Trips at this failure rate, in percent.
    pub fn failure_rate(mut self, percent: f64) -> Self {
        self.config.failure_rate = percent;
        self
    }

    /// Calls longer than `threshold` are slow; trips at this slow-call
    /// rate, in percent.
    pub fn slow_calls(mut self, threshold: Duration, percent: f64) -> Self {
        self.config.slow_calls = Some(SlowCallConfig {
            threshold,
            rate: percent,
        });
        self
    }

    /// Judges rates only once the window holds this many calls.
    pub fn minimum_calls(mut self, calls: u32) -> Self {
        self.config.minimum_calls = calls;
        self
    }

    /// Stays open this long before probing.
    pub fn wait(mut self, wait: Duration) -> Self {
        self.config.wait = wait;
        self
    }

    /// Multiplies the wait by `multiplier` on each consecutive re-open, up
    /// to `max_wait`.
    pub fn backoff(mut self, multiplier: f64, max_wait: Duration) -> Self {
        self.config.backoff = BackoffConfig {
            multiplier,
            max_wait,
            ..self.config.backoff
        };
        self
    }

    /// Scales each wait by a random factor in `1 ± jitter`.
    pub fn jitter(mut self, jitter: f64) -> Self {
        self.config.backoff.jitter = jitter;
        self
    }

    /// Admits this many probes in half-open.
    pub fn permitted_probes(mut self, probes: u32) -> Self {
        self.config.permitted_probes = probes;
        self
    }

    /// Shadow mode: never reject, count what would have been rejected.
    pub fn metrics_only(mut self, on: bool) -> Self {
        self.config.metrics_only = on;
        self
    }

    /// Seeds the jitter, for reproducible runs.
    pub fn seed(mut self, seed: u64) -> Self {
        self.config.seed = Some(seed);
        self
    }

    /// For per-key breakers, the most keys held at once.
    pub fn max_keys(mut self, keys: usize) -> Self {
        self.config.max_keys = keys;
        self
    }

    /// The config built so far.
    pub fn config(&self) -> &BreakerConfig {
        &self.config
    }

    fn policy(&self) -> Result<Arc<Policy>, ConfigError> {
        let settings = self.config.settings()?;
        let name = self.config.name.as_str();
        let telemetry = match &self.sink {
            Some(sink) => Telemetry::with_sink(&**sink, LayerKind::Breaker, name),
            None => Telemetry::register(LayerKind::Breaker, name),
        };
        Ok(Arc::new(Policy::new(settings, telemetry)))
    }

    /// Validates the config and builds the layer, registering it with its
    /// telemetry sink.
    pub fn build(self) -> Result<CircuitBreakerLayer<C>, ConfigError> {
        let policy = self.policy()?;
        Ok(CircuitBreakerLayer::new(
            policy,
            self.config.metrics_only,
            self.classifier,
        ))
    }

    /// Validates the config and builds a layer holding one breaker per key,
    /// the key taken from each request by `extract`; see
    /// [`KeyedCircuitBreakerLayer`].
    pub fn build_keyed<K, E>(
        self,
        extract: E,
    ) -> Result<KeyedCircuitBreakerLayer<K, E, C>, ConfigError>
    where
        K: Hash + Eq + Send + Sync + 'static,
    {
        let policy = self.policy()?;
        Ok(KeyedCircuitBreakerLayer::new(
            policy,
            self.config.max_keys,
            self.config.metrics_only,
            extract,
            self.classifier,
        ))
    }
}

impl<C> fmt::Debug for CircuitBreakerBuilder<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerBuilder")
            .field("config", &self.config)
            .field("own_sink", &self.sink.is_some())
            .finish()
    }
}
