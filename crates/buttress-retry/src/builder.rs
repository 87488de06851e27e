//! [`RetryLayerBuilder`].

use std::fmt;
use std::time::Duration;

use buttress_core::config::ConfigError;
use buttress_core::layer::{BuildEnv, DefaultClassifier, LayerBuilder};

use crate::budget::RetryBudget;
use crate::config::{BudgetConfig, Idempotency, Jitter, RetryConfig, RetryOnConfig};
use crate::layer::RetryLayer;
use crate::replay::{BufferBody, CloneRequest};

/// Builds a [`RetryLayer`]: the fields of a [`RetryConfig`], plus what is
/// not data — the [`Replay`](crate::Replay) strategy `P`, the classifier
/// `C` (default [`DefaultClassifier`]), the environment (name and
/// telemetry sink) it is built in, a budget shared with other layers.
///
/// ```
/// use buttress_core::layer::LayerBuilder;
/// use buttress_core::classify::AnyErrorFails;
/// use buttress_core::layer::LayerHandle;
/// use buttress_core::telemetry::RecordingSink;
/// use buttress_retry::{Idempotency, Jitter, RetryLayer};
/// use std::time::Duration;
///
/// let layer = RetryLayer::builder()
///     .name("payments")
///     .max_attempts(4)
///     .backoff(Duration::from_millis(20), Duration::from_secs(1))
///     .jitter(Jitter::Decorrelated)
///     .budget(0.2, 5, Duration::from_secs(10))
///     .timeout(Duration::from_secs(3))
///     .idempotency(Idempotency::Required)
///     .seed(42)
///     .sink(RecordingSink::new())
///     .build()
///     .expect("a valid config");
/// assert_eq!(layer.handle().id().name(), "payments");
///
/// // A service that is not HTTP: every error is a failure worth a retry.
/// let layer = RetryLayer::builder().classifier(AnyErrorFails).clone_requests().build().unwrap();
/// # drop(layer);
///
/// let err = RetryLayer::builder().max_attempts(0).build().unwrap_err();
/// assert_eq!(err.field(), "max_attempts");
/// ```
#[derive(Clone)]
pub struct RetryLayerBuilder<P = BufferBody, C = DefaultClassifier> {
    config: RetryConfig,
    env: BuildEnv,
    replay: P,
    classifier: C,
    budget: Option<RetryBudget>,
}

impl RetryLayerBuilder {
    /// Starts from `config` (loaded from a file, say).
    pub fn from_config(config: RetryConfig) -> Self {
        RetryLayerBuilder {
            config,
            env: BuildEnv::default(),
            replay: BufferBody,
            classifier: DefaultClassifier::default(),
            budget: None,
        }
    }
}

impl Default for RetryLayerBuilder {
    fn default() -> Self {
        Self::from_config(RetryConfig::default())
    }
}

impl<P, C> LayerBuilder for RetryLayerBuilder<P, C> {
    fn name_and_env(&mut self) -> (&mut Option<String>, &mut BuildEnv) {
        (&mut self.config.name, &mut self.env)
    }
}

impl<P, C> RetryLayerBuilder<P, C> {
    /// Attempts per request, the first included (1 to 10; default 3).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.config.max_attempts = attempts;
        self
    }

    /// The backoff's scale and cap (defaults 50 ms and 2 s).
    pub fn backoff(mut self, base: Duration, max: Duration) -> Self {
        self.config.backoff.base = base;
        self.config.backoff.max = max;
        self
    }

    /// How backoffs are drawn (default [`Jitter::Full`]).
    pub fn jitter(mut self, jitter: Jitter) -> Self {
        self.config.backoff.jitter = jitter;
        self
    }

    /// The longest server hint honoured (default 10 s); a longer one ends
    /// the call with the answer that carried it.
    pub fn max_retry_after(mut self, max: Duration) -> Self {
        self.config.max_retry_after = max;
        self
    }

    /// A budget of its own: `ratio` of the requests plus `min_per_sec`
    /// retries per second, over a sliding `window` (defaults 0.1, 10, 10 s).
    pub fn budget(mut self, ratio: f64, min_per_sec: u32, window: Duration) -> Self {
        self.config.budget = Some(BudgetConfig {
            ratio,
            min_per_sec,
            window,
        });
        self.budget = None;
        self
    }

    /// Draws on `budget`, shared with whatever else holds it (other
    /// layers for the same dependency), instead of a budget of its own.
    pub fn shared_budget(mut self, budget: RetryBudget) -> Self {
        self.config.budget = Some(budget.config().clone());
        self.budget = Some(budget);
        self
    }

    /// No budget: only `max_attempts` limits retries. This is how retry
    /// storms happen; use it for experiments and controls.
    pub fn no_budget(mut self) -> Self {
        self.config.budget = None;
        self.budget = None;
        self
    }

    /// The layer's own limit on a whole call, attempts and backoffs
    /// included (default none: only the request's deadline applies).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.config.timeout = Some(timeout);
        self
    }

    /// The largest HTTP request body kept for replay (default 64 KiB; at
    /// most 16 MiB; 0 replays only requests without a body).
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.config.body_limit = bytes;
        self
    }

    /// Which requests may be retried (default: idempotent ones).
    pub fn idempotency(mut self, idempotency: Idempotency) -> Self {
        self.config.idempotency = idempotency;
        self
    }

    /// Which failures are retried.
    pub fn retry_on(mut self, retry_on: RetryOnConfig) -> Self {
        self.config.retry_on = retry_on;
        self
    }

    /// Seeds the jitter, for reproducible runs.
    pub fn seed(mut self, seed: u64) -> Self {
        self.config.seed = Some(seed);
        self
    }

    /// Judges results with `classifier` instead of [`DefaultClassifier`]
    /// (HTTP status, or `grpc-status` when an answer carries one):
    /// [`AnyErrorFails`] for services that are not HTTP,
    /// [`GrpcClassifier`] for gRPC only, or a closure. Only what it calls a
    /// failure is ever retried.
    ///
    /// [`AnyErrorFails`]: buttress_core::classify::AnyErrorFails
    /// [`GrpcClassifier`]: buttress_core::classify::GrpcClassifier
    pub fn classifier<C2>(self, classifier: C2) -> RetryLayerBuilder<P, C2> {
        RetryLayerBuilder {
            config: self.config,
            env: self.env,
            replay: self.replay,
            classifier,
            budget: self.budget,
        }
    }

    /// Sends requests again with `replay` (see [`Replay`](crate::Replay)).
    pub fn replay<P2>(self, replay: P2) -> RetryLayerBuilder<P2, C> {
        RetryLayerBuilder {
            config: self.config,
            env: self.env,
            replay,
            classifier: self.classifier,
            budget: self.budget,
        }
    }

    /// Replays requests by cloning them ([`CloneRequest`]), for request
    /// types without a streaming body such as `http::Request<()>`.
    pub fn clone_requests(self) -> RetryLayerBuilder<CloneRequest, C> {
        self.replay(CloneRequest)
    }

    /// The configuration so far.
    pub fn config(&self) -> &RetryConfig {
        &self.config
    }

    /// Validates the configuration and builds the layer, registering it
    /// with its telemetry sink.
    pub fn build(self) -> Result<RetryLayer<P, C>, ConfigError> {
        let shared = self
            .config
            .shared_in(&self.env, self.replay, self.classifier, self.budget)?;
        Ok(RetryLayer::new(shared))
    }
}

impl<P, C> fmt::Debug for RetryLayerBuilder<P, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryLayerBuilder")
            .field("config", &self.config)
            .field("env", &self.env)
            .field("shared_budget", &self.budget.is_some())
            .finish_non_exhaustive()
    }
}
