//! [`RetryLayerBuilder`].

use std::fmt;

use buttress_core::config::ConfigError;
use buttress_core::layer::{BuildEnv, DefaultClassifier, LayerBuilder};

use crate::budget::RetryBudget;
use crate::config::RetryConfig;
use crate::layer::RetryLayer;
use crate::replay::{BufferBody, CloneRequest};

/// Builds a [`RetryLayer`]. Its settings are a [`RetryConfig`], set with
/// [`configure`](LayerBuilder::configure) or
/// [`with_config`](LayerBuilder::with_config); its name and telemetry sink
/// with [`name`](LayerBuilder::name), [`sink`](LayerBuilder::sink) and
/// [`env`](LayerBuilder::env) (all from [`LayerBuilder`]). What it adds is
/// what is not data: the [`Replay`](crate::Replay) strategy `P`
/// ([`replay`](Self::replay), [`clone_requests`](Self::clone_requests)),
/// the classifier `C` (default [`DefaultClassifier`]), and a budget shared
/// with other layers ([`shared_budget`](Self::shared_budget)).
///
/// ```
/// use buttress_core::classify::AnyErrorFails;
/// use buttress_core::layer::{LayerBuilder, LayerHandle};
/// use buttress_core::telemetry::RecordingSink;
/// use buttress_retry::{BudgetConfig, Idempotency, Jitter, RetryConfig, RetryLayer};
/// use std::time::Duration;
///
/// let layer = RetryLayer::builder()
///     .configure(|c| {
///         c.max_attempts = 4;
///         c.backoff.base = Duration::from_millis(20);
///         c.backoff.max = Duration::from_secs(1);
///         c.backoff.jitter = Jitter::Decorrelated;
///         c.budget = Some(BudgetConfig { ratio: 0.2, min_per_sec: 5, window: Duration::from_secs(10) });
///         c.timeout = Some(Duration::from_secs(3));
///         c.idempotency = Idempotency::Required;
///         c.seed = Some(42);
///     })
///     .name("payments")
///     .sink(RecordingSink::new())
///     .build()
///     .expect("a valid config");
/// assert_eq!(layer.handle().id().name(), "payments");
/// assert_eq!(layer.handle().config().max_attempts, 4);
///
/// // A service that is not HTTP: every error is a failure worth a retry;
/// // its requests are cloned to be sent again.
/// let layer = RetryLayer::builder()
///     .with_config(RetryConfig { max_attempts: 2, ..RetryConfig::default() })
///     .classifier(AnyErrorFails)
///     .clone_requests()
///     .build()
///     .unwrap();
/// # drop(layer);
///
/// let err = RetryLayer::builder().configure(|c| c.max_attempts = 0).build().unwrap_err();
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

impl Default for RetryLayerBuilder {
    fn default() -> Self {
        RetryLayerBuilder {
            config: RetryConfig::default(),
            env: BuildEnv::default(),
            replay: BufferBody,
            classifier: DefaultClassifier::default(),
            budget: None,
        }
    }
}

impl<P, C> LayerBuilder for RetryLayerBuilder<P, C> {
    type Config = RetryConfig;

    fn config(&self) -> &RetryConfig {
        &self.config
    }

    fn parts_mut(&mut self) -> (&mut RetryConfig, &mut BuildEnv) {
        (&mut self.config, &mut self.env)
    }
}

impl<P, C> RetryLayerBuilder<P, C> {
    /// Draws on `budget`, shared with whatever else holds it (other
    /// layers for the same dependency, from
    /// [`RetryHandle::budget`](crate::RetryHandle::budget)), instead of a
    /// budget of its own. It takes the place of the config's `budget`
    /// section, whatever that says: the built layer's config reports the
    /// shared budget's settings.
    ///
    /// ```
    /// use buttress_core::layer::LayerBuilder;
    /// use buttress_retry::RetryLayer;
    ///
    /// let first = RetryLayer::builder().name("orders-read").build().unwrap();
    /// let budget = first.handle().budget().unwrap().clone();
    /// let second = RetryLayer::builder()
    ///     .shared_budget(budget)
    ///     .name("orders-write")
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(second.handle().config().budget, first.handle().config().budget);
    /// ```
    pub fn shared_budget(mut self, budget: RetryBudget) -> Self {
        self.config.budget = Some(budget.config().clone());
        self.budget = Some(budget);
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

    /// Validates the configuration and builds the layer, registering it
    /// with its telemetry sink.
    pub fn build(mut self) -> Result<RetryLayer<P, C>, ConfigError> {
        if let Some(shared) = &self.budget {
            // Set here too, not only in `shared_budget`: a later
            // `configure` or `with_config` may have replaced the section.
            self.config.budget = Some(shared.config().clone());
        }
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
