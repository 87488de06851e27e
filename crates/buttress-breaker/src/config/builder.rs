//! The builder.

use std::fmt;
use std::hash::Hash;

use buttress_core::layer::{BuildEnv, DefaultClassifier, LayerBuilder};

use super::{BreakerConfig, ConfigError};
use crate::keyed::KeyedCircuitBreakerLayer;
use crate::layer::CircuitBreakerLayer;

/// Builds a [`CircuitBreakerLayer`] (or, with
/// [`build_keyed`](Self::build_keyed), a per-key
/// [`KeyedCircuitBreakerLayer`]).
///
/// Its settings are a [`BreakerConfig`], set through [`LayerBuilder`]:
/// `.configure(|c| ..)` changes fields in place, `.with_config(..)`
/// replaces them all (a config loaded from a file, say), and `.name(..)`,
/// `.sink(..)` and `.env(..)` say what the layer reports under and where.
/// The builder itself holds only what is not data: the classifier `C`
/// ([`classifier`](Self::classifier)) and, for a keyed breaker, the key
/// extractor ([`build_keyed`](Self::build_keyed)).
///
/// ```
/// use buttress_breaker::{BackoffConfig, CircuitBreakerLayer, SlowCallConfig, WindowConfig};
/// use buttress_core::classify::AnyErrorFails;
/// use buttress_core::layer::{LayerBuilder, LayerHandle};
/// use buttress_core::telemetry::RecordingSink;
/// use std::time::Duration;
///
/// let layer = CircuitBreakerLayer::builder()
///     .configure(|c| {
///         c.window = WindowConfig::Time { duration: Duration::from_secs(30), buckets: 10 };
///         c.failure_rate = 40.0;
///         c.slow_calls = Some(SlowCallConfig { threshold: Duration::from_secs(2), rate: 80.0 });
///         c.minimum_calls = 50;
///         c.wait = Duration::from_secs(10);
///         c.backoff = BackoffConfig {
///             multiplier: 2.0,
///             max_wait: Duration::from_secs(160),
///             jitter: 0.2,
///         };
///         c.permitted_probes = 3;
///     })
///     .name("payments")
///     .sink(RecordingSink::new())
///     .classifier(AnyErrorFails)
///     .build()
///     .expect("a valid config");
/// assert_eq!(layer.handle().id().name(), "payments");
///
/// let err = CircuitBreakerLayer::builder()
///     .configure(|c| c.wait = Duration::ZERO)
///     .build()
///     .unwrap_err();
/// assert_eq!(err.field(), "wait");
/// ```
///
/// From a config loaded as data, adding what is not data:
///
/// ```
/// use buttress_breaker::{BreakerConfig, CircuitBreakerLayer};
/// use buttress_core::classify::AnyErrorFails;
/// use buttress_core::layer::{BuildEnv, LayerBuilder, LayerHandle};
/// use buttress_core::telemetry::RecordingSink;
///
/// let config = BreakerConfig { minimum_calls: 5, ..BreakerConfig::default() };
/// let layer = CircuitBreakerLayer::builder()
///     .with_config(config)
///     .env(BuildEnv::named("ledger").with_sink(RecordingSink::new()))
///     .classifier(AnyErrorFails)
///     .build()
///     .unwrap();
/// assert_eq!(layer.handle().id().name(), "ledger");
/// ```
#[derive(Clone)]
pub struct CircuitBreakerLayerBuilder<C = DefaultClassifier> {
    config: BreakerConfig,
    env: BuildEnv,
    classifier: C,
}

impl Default for CircuitBreakerLayerBuilder {
    fn default() -> Self {
        CircuitBreakerLayerBuilder {
            config: BreakerConfig::default(),
            env: BuildEnv::default(),
            classifier: DefaultClassifier::default(),
        }
    }
}

impl<C> LayerBuilder for CircuitBreakerLayerBuilder<C> {
    type Config = BreakerConfig;

    fn config(&self) -> &BreakerConfig {
        &self.config
    }

    fn parts_mut(&mut self) -> (&mut BreakerConfig, &mut BuildEnv) {
        (&mut self.config, &mut self.env)
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

    /// Validates the config for a keyed breaker
    /// ([`BreakerConfig::validate_keyed`]: every field, and its keys'
    /// memory in all) and builds a layer holding one breaker per key, the
    /// key taken from each request by `extract` — the one way to build a
    /// [`KeyedCircuitBreakerLayer`].
    ///
    /// ```
    /// use buttress_breaker::CircuitBreakerLayer;
    /// use buttress_core::layer::LayerBuilder;
    ///
    /// let per_host = CircuitBreakerLayer::builder()
    ///     .configure(|c| c.max_keys = 100)
    ///     .name("upstreams")
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
        self.config.validate_keyed()?;
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
