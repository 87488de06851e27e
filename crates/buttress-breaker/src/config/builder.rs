//! The builder.

use std::fmt;
use std::hash::Hash;
use std::time::Duration;

use buttress_core::layer::{BuildEnv, DefaultClassifier, LayerBuilder};

use super::{BackoffConfig, BreakerConfig, ConfigError, SlowCallConfig, WindowConfig};
use crate::keyed::KeyedCircuitBreakerLayer;
use crate::layer::CircuitBreakerLayer;

/// Builds a [`CircuitBreakerLayer`] (or, with
/// [`build_keyed`](Self::build_keyed), a per-key
/// [`KeyedCircuitBreakerLayer`]): the fields of a [`BreakerConfig`], plus
/// what is not data — the classifier `C`, the environment (name and
/// telemetry sink) it is built in, the key extractor.
///
/// ```
/// use buttress_core::layer::LayerBuilder;
/// use buttress_breaker::CircuitBreakerLayer;
/// use buttress_core::layer::LayerHandle;
/// use buttress_core::telemetry::RecordingSink;
/// use std::time::Duration;
///
/// let layer = CircuitBreakerLayer::builder()
///     .name("payments")
///     .time_window(Duration::from_secs(30), 10)
///     .failure_rate(40.0)
///     .slow_calls(Duration::from_secs(2), 80.0)
///     .minimum_calls(50)
///     .wait(Duration::from_secs(10))
///     .backoff(2.0, Duration::from_secs(160))
///     .jitter(0.2)
///     .permitted_probes(3)
///     .sink(RecordingSink::new())
///     .build()
///     .expect("a valid config");
/// assert_eq!(layer.handle().id().name(), "payments");
///
/// let err = CircuitBreakerLayer::builder().wait(Duration::ZERO).build().unwrap_err();
/// assert_eq!(err.field(), "wait");
/// ```
#[derive(Clone)]
pub struct CircuitBreakerLayerBuilder<C = DefaultClassifier> {
    config: BreakerConfig,
    env: BuildEnv,
    classifier: C,
}

impl Default for CircuitBreakerLayerBuilder {
    fn default() -> Self {
        Self::from_config(BreakerConfig::default())
    }
}

impl CircuitBreakerLayerBuilder {
    /// Starts from `config` (loaded from a file, say), to add what is not
    /// data.
    ///
    /// ```
    /// use buttress_core::layer::LayerBuilder;
    /// use buttress_breaker::{BreakerConfig, CircuitBreakerLayerBuilder};
    /// use buttress_core::classify::AnyErrorFails;
    /// use buttress_core::layer::{BuildEnv, LayerHandle};
    /// use buttress_core::telemetry::RecordingSink;
    ///
    /// let config = BreakerConfig { minimum_calls: 5, ..BreakerConfig::default() };
    /// let layer = CircuitBreakerLayerBuilder::from_config(config)
    ///     .env(BuildEnv::named("ledger").with_sink(RecordingSink::new()))
    ///     .classifier(AnyErrorFails)
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(layer.handle().id().name(), "ledger");
    /// ```
    pub fn from_config(config: BreakerConfig) -> Self {
        CircuitBreakerLayerBuilder {
            config,
            env: BuildEnv::default(),
            classifier: DefaultClassifier::default(),
        }
    }
}

impl<C> LayerBuilder for CircuitBreakerLayerBuilder<C> {
    fn name_and_env(&mut self) -> (&mut Option<String>, &mut BuildEnv) {
        (&mut self.config.name, &mut self.env)
    }
}

impl<C> CircuitBreakerLayerBuilder<C> {
    /// Judges results with `classifier` instead of [`DefaultClassifier`]
    /// (HTTP status, or `grpc-status` when an answer carries one):
    /// [`AnyErrorFails`] for services that are not HTTP, or a closure.
    ///
    /// [`AnyErrorFails`]: buttress_core::classify::AnyErrorFails
    pub fn classifier<C2>(self, classifier: C2) -> CircuitBreakerLayerBuilder<C2> {
        CircuitBreakerLayerBuilder {
            config: self.config,
            env: self.env,
            classifier,
        }
    }

    /// Rates over `window` (see also [`count_window`](Self::count_window)
    /// and [`time_window`](Self::time_window)).
    pub fn window(mut self, window: WindowConfig) -> Self {
        self.config.window = window;
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

    /// Scales each wait by a random factor in `1 ± jitter` (never past
    /// `max_wait`).
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

    /// Validates the config and builds the layer, registering it with its
    /// telemetry sink.
    pub fn build(self) -> Result<CircuitBreakerLayer<C>, ConfigError> {
        let policy = self.config.policy_in(&self.env)?;
        Ok(CircuitBreakerLayer::new(
            policy,
            self.config.metrics_only,
            self.classifier,
        ))
    }

    /// Validates the config and builds a layer holding one breaker per key,
    /// the key taken from each request by `extract` — the one way to build
    /// a [`KeyedCircuitBreakerLayer`].
    ///
    /// ```
    /// use buttress_core::layer::LayerBuilder;
    /// use buttress_breaker::CircuitBreakerLayer;
    ///
    /// let per_host = CircuitBreakerLayer::builder()
    ///     .name("upstreams")
    ///     .max_keys(100)
    ///     .build_keyed(|req: &http::Request<()>| req.uri().host().unwrap_or("").to_owned())
    ///     .unwrap();
    /// assert_eq!(per_host.handle().key_stats().capacity, 100);
    /// ```
    pub fn build_keyed<Req, K, E>(
        self,
        extract: E,
    ) -> Result<KeyedCircuitBreakerLayer<K, E, C>, ConfigError>
    where
        // Named here (not only by the service) so the key's type is
        // inferred from the closure.
        E: Fn(&Req) -> K,
        K: Hash + Eq + Send + Sync + 'static,
    {
        let policy = self.config.policy_in(&self.env)?;
        Ok(KeyedCircuitBreakerLayer::new(
            policy,
            self.config.max_keys,
            self.config.metrics_only,
            extract,
            self.classifier,
        ))
    }
}

impl<C> fmt::Debug for CircuitBreakerLayerBuilder<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerLayerBuilder")
            .field("config", &self.config)
            .field("env", &self.env)
            .finish()
    }
}
