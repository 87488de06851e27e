//! [`ClientStack`]: one dependency's client side, in DESIGN.md's order.

use buttress_core::layer::LayerBuilder;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use buttress_breaker::{
    BreakerConfig, CircuitBreakerHandle, CircuitBreakerLayer, CircuitBreakerLayerBuilder,
};
use buttress_context::ClientContextLayer;
use buttress_core::classify::HttpClassifier;
use buttress_core::config::ConfigError;
use buttress_core::telemetry::TelemetrySink;
use buttress_core::timeout::TimeoutLayer;
use buttress_limit::{BulkheadConfig, BulkheadHandle, BulkheadLayer};
use buttress_metrics::{RedLayer, RedSide};
use buttress_retry::{
    BufferBody, CloneRequest, RetryBudget, RetryConfig, RetryLayer, RetryLayerBuilder,
};
use tower_layer::{Identity, Layer, Stack};

use super::OptionalLayer;
use super::server::{build_bulkhead, build_timeout};
use super::slot::{SharedSink, Slot};

/// The chaos slot: fault injection with the `chaos` feature, nothing
/// without it.
#[cfg(feature = "chaos")]
type ChaosSlot = OptionalLayer<buttress_chaos::ChaosLayer>;
#[cfg(not(feature = "chaos"))]
type ChaosSlot = Identity;

/// The layers, innermost first (`Stack<inner, outer>`): chaos, timeout,
/// bulkhead, breaker, retry, fallback (`F`, [`Identity`] when there is
/// none), metrics, context. Client-side throttling will sit between the
/// retry and the breaker.
type Layers<P, C, F> = Stack<
    ChaosSlot,
    Stack<
        OptionalLayer<TimeoutLayer>,
        Stack<
            OptionalLayer<BulkheadLayer>,
            Stack<
                OptionalLayer<CircuitBreakerLayer<C>>,
                Stack<
                    RetryLayer<P, C>,
                    Stack<F, Stack<OptionalLayer<RedLayer>, OptionalLayer<ClientContextLayer>>>,
                >,
            >,
        >,
    >,
>;

/// The default per-attempt timeout of a client stack.
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);

/// The default concurrency of a client stack's bulkhead.
pub const DEFAULT_CLIENT_CONCURRENCY: usize = 64;

/// Builds the client stack for one dependency, outermost first:
///
/// `context → metrics → fallback → retry → breaker → bulkhead → timeout (per attempt) → chaos → transport`
///
/// | layer | default |
/// | --- | --- |
/// | context | on: ID, `traceparent`, remaining deadline, criticality forwarded |
/// | metrics | on: a client [`RedLayer`] named after the dependency |
/// | fallback | none unless given ([`fallback`](Self::fallback), `buttress::fallback`) |
/// | retry | on: 3 attempts, budget of 10 % + 10/s, idempotent requests only |
/// | breaker | on: the last 100 calls, 50 % failures, 20 calls minimum, 30 s open |
/// | bulkhead | on: [`DEFAULT_CLIENT_CONCURRENCY`] calls, no queue |
/// | timeout | on, per attempt: [`DEFAULT_ATTEMPT_TIMEOUT`], and never past the deadline |
/// | chaos | off (feature `chaos`) |
///
/// The per-attempt timeout sits below the breaker, so a hung dependency
/// counts as failing and trips it. Client-side throttling will take its
/// place between the retry and the breaker when it lands. Every layer judges answers with one classifier,
/// `C` ([`HttpClassifier`] by default; see [`classifier`](Self::classifier)).
///
/// The retry replays HTTP bodies from a bounded buffer ([`BufferBody`]):
/// the transport receives `http::Request<ReplayBody<B>>`. For requests
/// without a streaming body, [`clone_requests`](Self::clone_requests)
/// sends them unchanged. Without retries
/// ([`without_retry`](Self::without_retry)) the retry layer stays in the
/// stack's type but sends every request once.
///
/// ```
/// use buttress::stack::ClientStack;
/// use buttress::breaker::BreakerConfig;
/// use std::time::Duration;
/// use tower::{Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let breaker = BreakerConfig { wait: Duration::from_secs(5), ..BreakerConfig::default() };
/// let stack = ClientStack::new("inventory")
///     .breaker(breaker)
///     .timeout(Duration::from_millis(300))
///     .clone_requests()
///     .build()
///     .unwrap();
/// let transport = tower::service_fn(|_req: http::Request<()>| async {
///     Ok::<_, std::io::Error>(http::Response::new(()))
/// });
/// let client = stack.layer(transport);
/// assert_eq!(client.oneshot(http::Request::new(())).await.unwrap().status(), 200);
/// assert_eq!(stack.breaker().unwrap().stats().calls, 1);
/// # }
/// ```
pub struct ClientStack<P = BufferBody, C = HttpClassifier, F = Identity> {
    name: String,
    fallback: F,
    sink: Option<Arc<dyn TelemetrySink>>,
    replay: P,
    classifier: C,
    context: Slot<ClientContextLayer>,
    metrics: Slot<RedLayer>,
    retry: Slot<RetryConfig>,
    retry_budget: Option<RetryBudget>,
    breaker: Slot<BreakerConfig>,
    bulkhead: Slot<BulkheadConfig>,
    timeout: Slot<Duration>,
    #[cfg(feature = "chaos")]
    chaos: Option<buttress_chaos::ChaosLayer>,
}

impl ClientStack {
    /// The defaults, for the dependency named `name`.
    pub fn new(name: impl Into<String>) -> Self {
        ClientStack {
            name: name.into(),
            fallback: Identity::new(),
            sink: None,
            replay: BufferBody,
            classifier: HttpClassifier::default(),
            context: Slot::Default,
            metrics: Slot::Default,
            retry: Slot::Default,
            retry_budget: None,
            breaker: Slot::Default,
            bulkhead: Slot::Default,
            timeout: Slot::Default,
            #[cfg(feature = "chaos")]
            chaos: None,
        }
    }
}

impl<P, C, F> ClientStack<P, C, F> {
    /// The dependency's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Judges answers with `classifier` in the retry and the breaker:
    /// `GrpcClassifier` or `HttpOrGrpcClassifier` for gRPC, or a closure.
    pub fn classifier<C2>(self, classifier: C2) -> ClientStack<P, C2, F> {
        ClientStack {
            name: self.name,
            fallback: self.fallback,
            sink: self.sink,
            replay: self.replay,
            classifier,
            context: self.context,
            metrics: self.metrics,
            retry: self.retry,
            retry_budget: self.retry_budget,
            breaker: self.breaker,
            bulkhead: self.bulkhead,
            timeout: self.timeout,
            #[cfg(feature = "chaos")]
            chaos: self.chaos,
        }
    }

    /// Sends requests again with `replay` (see `buttress::retry::Replay`).
    pub fn replay<P2>(self, replay: P2) -> ClientStack<P2, C, F> {
        ClientStack {
            name: self.name,
            fallback: self.fallback,
            sink: self.sink,
            replay,
            classifier: self.classifier,
            context: self.context,
            metrics: self.metrics,
            retry: self.retry,
            retry_budget: self.retry_budget,
            breaker: self.breaker,
            bulkhead: self.bulkhead,
            timeout: self.timeout,
            #[cfg(feature = "chaos")]
            chaos: self.chaos,
        }
    }

    /// Retries by cloning requests, for request types without a streaming
    /// body (`http::Request<()>`, `http::Request<Full<Bytes>>`): the
    /// transport receives them unchanged.
    pub fn clone_requests(self) -> ClientStack<CloneRequest, C, F> {
        self.replay(CloneRequest)
    }

    /// Answers for the dependency when a call fails or is refused, with
    /// `layer` (`buttress::fallback`), placed between the metrics and the
    /// retry: metrics see the fallback answer, the retry and the breaker
    /// see the failure.
    pub fn fallback<L>(self, layer: L) -> ClientStack<P, C, L> {
        ClientStack {
            name: self.name,
            fallback: layer,
            sink: self.sink,
            replay: self.replay,
            classifier: self.classifier,
            context: self.context,
            metrics: self.metrics,
            retry: self.retry,
            retry_budget: self.retry_budget,
            breaker: self.breaker,
            bulkhead: self.bulkhead,
            timeout: self.timeout,
            #[cfg(feature = "chaos")]
            chaos: self.chaos,
        }
    }

    /// Uses this context layer.
    pub fn context(mut self, layer: ClientContextLayer) -> Self {
        self.context = Slot::Given(layer);
        self
    }

    /// Leaves the context layer out.
    pub fn without_context(mut self) -> Self {
        self.context = Slot::Off;
        self
    }

    /// Uses this metrics layer (a client [`RedLayer`]: `.side(RedSide::Client)`).
    pub fn metrics(mut self, layer: RedLayer) -> Self {
        self.metrics = Slot::Given(layer);
        self
    }

    /// Leaves the metrics layer out.
    pub fn without_metrics(mut self) -> Self {
        self.metrics = Slot::Off;
        self
    }

    /// Configures the retry. An unnamed config (the default) takes the
    /// dependency's name.
    pub fn retry(mut self, config: RetryConfig) -> Self {
        self.retry = Slot::Given(config);
        self
    }

    /// Draws retries from `budget`, shared with other stacks (several
    /// routes to the same dependency, say).
    pub fn retry_budget(mut self, budget: RetryBudget) -> Self {
        self.retry_budget = Some(budget);
        self
    }

    /// Sends every request once.
    pub fn without_retry(mut self) -> Self {
        self.retry = Slot::Off;
        self
    }

    /// Configures the breaker. A config without a name (the default)
    /// takes the dependency's name.
    pub fn breaker(mut self, config: BreakerConfig) -> Self {
        self.breaker = Slot::Given(config);
        self
    }

    /// Leaves the breaker out.
    pub fn without_breaker(mut self) -> Self {
        self.breaker = Slot::Off;
        self
    }

    /// Configures the bulkhead. A config without a name takes the
    /// dependency's.
    pub fn bulkhead(mut self, config: BulkheadConfig) -> Self {
        self.bulkhead = Slot::Given(config);
        self
    }

    /// Leaves the bulkhead out.
    pub fn without_bulkhead(mut self) -> Self {
        self.bulkhead = Slot::Off;
        self
    }

    /// Ends each attempt after `limit` (or at the deadline, if sooner).
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.timeout = Slot::Given(limit);
        self
    }

    /// Leaves the per-attempt timeout out: attempts end only at the
    /// request's deadline, enforced by the retry.
    pub fn without_timeout(mut self) -> Self {
        self.timeout = Slot::Off;
        self
    }

    /// Injects faults with `layer`, just above the transport.
    #[cfg(feature = "chaos")]
    pub fn chaos(mut self, layer: buttress_chaos::ChaosLayer) -> Self {
        self.chaos = Some(layer);
        self
    }

    /// Every layer the stack builds reports to `sink` instead of the
    /// process-wide sink (the context and metrics layers given ready-made
    /// keep theirs).
    pub fn telemetry_sink(mut self, sink: Arc<dyn TelemetrySink>) -> Self {
        self.sink = Some(sink);
        self
    }

    /// Validates every layer's settings and builds the stack; an error
    /// names the layer and the field (`breaker.failure_rate: …`).
    pub fn build(self) -> Result<ClientLayer<P, C, F>, ConfigError>
    where
        C: Clone,
    {
        let sink = self.sink.map(SharedSink);
        let name = self.name;
        if name.is_empty() {
            return Err(ConfigError::new("name", "must not be empty"));
        }
        let context = self
            .context
            .build(
                || {
                    let builder = ClientContextLayer::builder();
                    match &sink {
                        Some(sink) => builder.sink(sink.0.clone()),
                        None => builder,
                    }
                    .build()
                },
                Ok,
            )
            .map_err(|e| e.in_section("context"))?;
        let metrics = self
            .metrics
            .build(
                || {
                    RedLayer::builder()
                        .name(name.as_str())
                        .side(RedSide::Client)
                        .build()
                },
                Ok,
            )
            .map_err(|e| e.in_section("metrics"))?;
        // An unnamed retry takes the dependency's name from the environment.
        let retry_config = match self.retry {
            Slot::Default => RetryConfig::default(),
            Slot::Given(config) => config,
            Slot::Off => RetryConfig {
                max_attempts: 1,
                budget: None,
                ..RetryConfig::default()
            },
        };
        let mut retry_env = buttress_core::layer::BuildEnv::named(name.as_str());
        if let Some(sink) = &sink {
            retry_env.set_sink(sink.0.clone());
        }
        let mut retry = RetryLayerBuilder::from_config(retry_config)
            .env(retry_env)
            .replay(self.replay)
            .classifier(self.classifier.clone());
        if let Some(budget) = self.retry_budget {
            retry = retry.shared_budget(budget);
        }
        let retry = retry.build().map_err(|e| e.in_section("retry"))?;
        let classifier = self.classifier;
        let breaker = self
            .breaker
            .build(
                || build_breaker(BreakerConfig::default(), &name, &classifier, sink.as_ref()),
                |config| build_breaker(config, &name, &classifier, sink.as_ref()),
            )
            .map_err(|e| e.in_section("breaker"))?;
        let bulkhead = self
            .bulkhead
            .build(
                || {
                    let config = BulkheadConfig {
                        max_concurrent: DEFAULT_CLIENT_CONCURRENCY,
                        ..BulkheadConfig::default()
                    };
                    build_bulkhead(config, &name, sink.as_ref())
                },
                |config| build_bulkhead(config, &name, sink.as_ref()),
            )
            .map_err(|e| e.in_section("bulkhead"))?;
        let timeout = self
            .timeout
            .build(
                || build_timeout(DEFAULT_ATTEMPT_TIMEOUT, &name, sink.as_ref()),
                |limit| build_timeout(limit, &name, sink.as_ref()),
            )
            .map_err(|e| e.in_section("timeout"))?;
        #[cfg(feature = "chaos")]
        let chaos = OptionalLayer::new(self.chaos);
        #[cfg(not(feature = "chaos"))]
        let chaos = Identity::new();
        let breaker_handle = breaker.as_ref().map(CircuitBreakerLayer::handle);
        let layers = Stack::new(
            chaos,
            Stack::new(
                OptionalLayer::new(timeout),
                Stack::new(
                    OptionalLayer::new(bulkhead.clone()),
                    Stack::new(
                        OptionalLayer::new(breaker),
                        Stack::new(
                            retry.clone(),
                            Stack::new(
                                self.fallback,
                                Stack::new(
                                    OptionalLayer::new(metrics),
                                    OptionalLayer::new(context),
                                ),
                            ),
                        ),
                    ),
                ),
            ),
        );
        Ok(ClientLayer {
            layers,
            name: name.into(),
            breaker: breaker_handle,
            bulkhead: bulkhead.as_ref().map(|layer| layer.handle()),
            retry_budget: retry.handle().budget().cloned(),
        })
    }
}

fn build_breaker<C: Clone>(
    config: BreakerConfig,
    name: &str,
    classifier: &C,
    sink: Option<&SharedSink>,
) -> Result<CircuitBreakerLayer<C>, ConfigError> {
    // An unnamed breaker takes the dependency's name from the environment.
    let mut env = buttress_core::layer::BuildEnv::named(name);
    if let Some(sink) = sink {
        env.set_sink(sink.0.clone());
    }
    CircuitBreakerLayerBuilder::from_config(config)
        .env(env)
        .classifier(classifier.clone())
        .build()
}

impl<P, C, F> fmt::Debug for ClientStack<P, C, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientStack")
            .field("name", &self.name)
            .field("context", &self.context.is_on())
            .field("metrics", &self.metrics.is_on())
            .field("retry", &self.retry)
            .field("breaker", &self.breaker)
            .field("bulkhead", &self.bulkhead)
            .field("timeout", &self.timeout)
            .field("own_sink", &self.sink.is_some())
            .finish_non_exhaustive()
    }
}

/// One dependency's client stack as one [`Layer`], built by
/// [`ClientStack::build`]. Clones share every layer's state: one breaker,
/// one bulkhead, one retry budget per dependency.
pub struct ClientLayer<P = BufferBody, C = HttpClassifier, F = Identity> {
    layers: Layers<P, C, F>,
    name: Arc<str>,
    breaker: Option<CircuitBreakerHandle>,
    bulkhead: Option<BulkheadHandle>,
    retry_budget: Option<RetryBudget>,
}

impl<P, C, F> ClientLayer<P, C, F> {
    /// The dependency's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A handle to read and steer the breaker, if the stack has one.
    pub fn breaker(&self) -> Option<&CircuitBreakerHandle> {
        self.breaker.as_ref()
    }

    /// The bulkhead's handle, to read its in-flight count.
    pub fn bulkhead(&self) -> Option<&BulkheadHandle> {
        self.bulkhead.as_ref()
    }

    /// The retry budget, if retries have one.
    pub fn retry_budget(&self) -> Option<&RetryBudget> {
        self.retry_budget.as_ref()
    }
}

impl<P, C: Clone, F: Clone> Clone for ClientLayer<P, C, F> {
    fn clone(&self) -> Self {
        ClientLayer {
            layers: self.layers.clone(),
            name: self.name.clone(),
            breaker: self.breaker.clone(),
            bulkhead: self.bulkhead.clone(),
            retry_budget: self.retry_budget.clone(),
        }
    }
}

impl<S, P, C, F> Layer<S> for ClientLayer<P, C, F>
where
    Layers<P, C, F>: Layer<S>,
{
    type Service = <Layers<P, C, F> as Layer<S>>::Service;

    fn layer(&self, inner: S) -> Self::Service {
        self.layers.layer(inner)
    }
}

impl<P, C, F> fmt::Debug for ClientLayer<P, C, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientLayer")
            .field("name", &self.name)
            .field(
                "breaker",
                &self.breaker.as_ref().map(CircuitBreakerHandle::state),
            )
            .field("bulkhead", &self.bulkhead.is_some())
            .finish_non_exhaustive()
    }
}
