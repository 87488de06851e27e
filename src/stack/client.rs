//! [`ClientStack`]: one dependency's client side, every layer behind one
//! [`Toggle`].

use std::sync::Arc;
use std::time::Duration;

use buttress_breaker::{BreakerConfig, CircuitBreakerHandle, CircuitBreakerLayer};
use buttress_context::{ClientContextConfig, ClientContextLayer};
use buttress_core::config::ConfigError;
use buttress_core::layer::{BuildEnv, DefaultClassifier, LayerBuilder, LayerConfig, fixed};
use buttress_core::telemetry::TelemetrySink;
use buttress_core::timeout::{TimeoutConfig, TimeoutHandle, TimeoutLayer};
use buttress_fallback::{FallbackConfig, FallbackHandle, FallbackLayer};
use buttress_limit::{BulkheadConfig, BulkheadHandle, BulkheadLayer, ThrottleConfig};
use buttress_limit::{ThrottleHandle, ThrottleLayer};
use buttress_metrics::{RedConfig, RedHandle, RedHeadLayer, RedLayer, RedSide};
use buttress_retry::replay::BufferInto;
use buttress_retry::{
    BufferBody, CloneRequest, HedgeConfig, RetryBudget, RetryConfig, RetryHandle, RetryLayer,
};
use tower_layer::{Identity, Layer, Stack};

use super::defaults::client as defaults;
use super::live::{self, LiveLayers, Running};
use super::{BypassLayer, Toggle};

/// The default per-attempt timeout of a client stack.
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);

/// The default concurrency of a client stack's bulkhead.
pub const DEFAULT_CLIENT_CONCURRENCY: usize = 64;

/// Fault injection with the `chaos` feature, nothing without it.
#[cfg(feature = "chaos")]
pub(super) type ChaosSlot = BypassLayer<buttress_chaos::ChaosLayer>;
#[cfg(not(feature = "chaos"))]
pub(super) type ChaosSlot = Identity;

/// gRPC refusals as `tonic::Status` with the `tonic` feature, nothing
/// without it.
#[cfg(feature = "tonic")]
type StatusSlot = buttress_core::status_errors::GrpcStatusLayer;
#[cfg(not(feature = "tonic"))]
type StatusSlot = Identity;

/// The layers as `tower::ServiceBuilder` stacks them: the last one added
/// (chaos) is innermost, just above the transport.
pub(super) type Layers<P, C, F> = Stack<
    ChaosSlot,
    Stack<
        BypassLayer<TimeoutLayer>,
        Stack<
            BypassLayer<BulkheadLayer>,
            Stack<
                BypassLayer<CircuitBreakerLayer<C>>,
                Stack<
                    BypassLayer<ThrottleLayer<C>>,
                    Stack<
                        RetryLayer<P, C>,
                        Stack<
                            F,
                            Stack<
                                BypassLayer<RedHeadLayer>,
                                Stack<BypassLayer<ClientContextLayer>, Stack<StatusSlot, Identity>>,
                            >,
                        >,
                    >,
                >,
            >,
        >,
    >,
>;

/// The layers a balanced stack builds once per endpoint, below the
/// balancer: breaker → bulkhead → per-attempt timeout → chaos.
#[cfg_attr(not(feature = "balance"), allow(dead_code))]
pub(super) type EndpointLayers<C> = Stack<
    ChaosSlot,
    Stack<
        BypassLayer<TimeoutLayer>,
        Stack<BypassLayer<BulkheadLayer>, Stack<BypassLayer<CircuitBreakerLayer<C>>, Identity>>,
    >,
>;

/// One dependency's client stack, as data: each layer's [`Toggle`].
/// This is the `[clients.<name>]` table of a
/// `buttress::config::ServiceConfig`.
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize, serde::Serialize),
    serde(default, deny_unknown_fields)
)]
pub struct ClientStackConfig {
    /// Where the dependency lives (an absolute URI), for the code that
    /// builds the transport; the stack itself does not read it.
    pub uri: Option<String>,
    /// Forwards ID, trace, remaining deadline and criticality.
    pub context: Toggle<ClientContextConfig>,
    /// RED metrics (the stack always records the client side).
    pub metrics: Toggle<RedConfig>,
    /// Fallback answers (off unless given). A fallback changes the
    /// response body's type, so it is chosen in the stack's type:
    /// `ServiceConfig::build_client_with_fallback` builds a stack with
    /// this section, `build_client` one without.
    pub fallback: Option<FallbackConfig>,
    /// Retries (`false`: every request is sent once).
    pub retry: Toggle<RetryConfig>,
    /// Hedging instead of retrying (off unless given): in the retry's
    /// place, with its attempts, budget and idempotency rules.
    pub hedge: Option<HedgeConfig>,
    /// Client-side adaptive throttling (off unless given).
    pub throttle: Toggle<ThrottleConfig>,
    /// The circuit breaker.
    pub breaker: Toggle<BreakerConfig>,
    /// The bulkhead.
    pub bulkhead: Toggle<BulkheadConfig>,
    /// The per-attempt timeout (`timeout = "300ms"` in TOML).
    pub timeout: Toggle<TimeoutConfig>,
    /// Fault injection (feature `chaos`; off unless given).
    #[cfg(feature = "chaos")]
    pub chaos: Toggle<buttress_chaos::ChaosConfig>,
    /// Balancing over the dependency's replicas (feature `balance`; off
    /// unless given): with it, the breaker, bulkhead and per-attempt
    /// timeout are built once per endpoint, below the balancer (fault
    /// injection stays one layer), and the stack is applied with
    /// [`ClientLayer::balanced`].
    #[cfg(feature = "balance")]
    pub balance: Option<buttress_balance::BalanceConfig>,
}

impl ClientStackConfig {
    /// Checks every layer's settings; an error names the layer and the
    /// field (`breaker.failure_rate: …`).
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(uri) = &self.uri {
            let parsed: Result<http::Uri, _> = uri.parse();
            if !parsed.is_ok_and(|uri| uri.scheme().is_some() && uri.authority().is_some()) {
                return Err(ConfigError::new(
                    "uri",
                    "must be an absolute URI (http://host:port)",
                ));
            }
        }
        self.context.validate("context")?;
        self.metrics.validate("metrics")?;
        if let Some(fallback) = &self.fallback {
            fallback.validate().map_err(|e| e.in_section("fallback"))?;
        }
        self.retry.validate("retry")?;
        if let Some(hedge) = &self.hedge {
            if self.retry == Toggle::Off {
                return Err(ConfigError::new(
                    "hedge",
                    "needs the retry's attempts: `retry = false` turns them off",
                ));
            }
            let retry = self.retry.settings().cloned().unwrap_or_default();
            RetryConfig {
                hedge: Some(hedge.clone()),
                ..retry
            }
            .validate()
            .map_err(|e| e.in_section("hedge"))?;
        }
        self.throttle.validate("throttle")?;
        self.breaker.validate("breaker")?;
        self.bulkhead.validate("bulkhead")?;
        super::server::validate_timeout(&self.timeout)?;
        #[cfg(feature = "chaos")]
        self.chaos.validate("chaos")?;
        #[cfg(feature = "balance")]
        if let Some(balance) = &self.balance {
            balance.validate().map_err(|e| e.in_section("balance"))?;
        }
        Ok(())
    }
}

/// What a client stack holds in the fallback's place: [`NoFallback`], a
/// [`FallbackConfig`] (built with the stack's name, sink and classifier),
/// or a [`FallbackLayer`] built by hand (a function fallback, say).
pub trait FallbackSlot<C> {
    /// The layer in the stack: `Identity` or a `FallbackLayer`.
    type Layer: Clone;

    /// Whether this slot holds a fallback.
    const GIVEN: bool;

    /// Builds the layer in the stack's environment.
    fn build(&self, env: &BuildEnv, classifier: &C) -> Result<Self::Layer, ConfigError>;

    /// The fallback's handle, if there is one.
    fn handle(layer: &Self::Layer) -> Option<FallbackHandle>;
}

/// No fallback: calls that fail, fail.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoFallback;

impl<C> FallbackSlot<C> for NoFallback {
    type Layer = Identity;
    const GIVEN: bool = false;

    fn build(&self, _: &BuildEnv, _: &C) -> Result<Identity, ConfigError> {
        Ok(Identity::new())
    }

    fn handle(_: &Identity) -> Option<FallbackHandle> {
        None
    }
}

impl<C: Clone> FallbackSlot<C> for FallbackConfig {
    type Layer = FallbackLayer<C>;
    const GIVEN: bool = true;

    fn build(&self, env: &BuildEnv, classifier: &C) -> Result<FallbackLayer<C>, ConfigError> {
        let builder = FallbackLayer::builder()
            .with_config(self.clone())
            .env(env.clone());
        builder.classifier(classifier.clone()).build()
    }

    fn handle(layer: &FallbackLayer<C>) -> Option<FallbackHandle> {
        Some(layer.handle())
    }
}

impl<C: Clone> FallbackSlot<C> for FallbackLayer<C> {
    type Layer = FallbackLayer<C>;
    const GIVEN: bool = true;

    fn build(&self, _: &BuildEnv, _: &C) -> Result<FallbackLayer<C>, ConfigError> {
        Ok(self.clone())
    }

    fn handle(layer: &FallbackLayer<C>) -> Option<FallbackHandle> {
        Some(layer.handle())
    }
}

/// Builds the client stack for one dependency, outermost first:
///
/// `context → metrics → fallback → retry → throttle → breaker → bulkhead → timeout (per attempt) → chaos → transport`
///
/// | layer | default | why |
/// | --- | --- | --- |
/// | context | on | the ID, trace, remaining deadline and criticality reach the dependency |
/// | metrics | on, client side | rate, errors and duration of calls to this dependency |
/// | fallback | off | what to answer instead is the application's choice |
/// | retry | on: 3 attempts, budget 10 % + 10/s, idempotent requests only | transient failures are absorbed; the budget keeps retries from multiplying load |
/// | hedge | off; in the retry's place when given | cuts tail latency: another attempt after a delay (adaptive: p90 of recent attempts), paid from the same budget |
/// | throttle | off | the breaker already sheds load from a failing dependency |
/// | breaker | on: last 100 calls, 50 % failures, 20 calls minimum, 30 s open | a failing dependency is cut off fast instead of piling up waits |
/// | bulkhead | on: [`DEFAULT_CLIENT_CONCURRENCY`] calls, no queue | one slow dependency cannot take every task |
/// | timeout | on, per attempt: [`DEFAULT_ATTEMPT_TIMEOUT`] | a hung attempt ends, and counts as a failure for the breaker |
/// | chaos | off (feature `chaos`) | faults are injected only when asked for |
///
/// Every layer that judges answers (fallback, retry, throttle, breaker)
/// uses the stack's one classifier, `C` ([`DefaultClassifier`]: HTTP
/// status, or `grpc-status` when the answer carries one). The retry
/// replays HTTP bodies from a bounded buffer ([`BufferBody`]); for
/// requests without a streaming body, [`clone_requests`](Self::clone_requests)
/// sends them unchanged.
///
/// ```
/// use buttress::breaker::BreakerConfig;
/// use buttress::stack::ClientStack;
/// use std::time::Duration;
/// use tower::{Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let stack = ClientStack::new("inventory")
///     .breaker(BreakerConfig { wait: Duration::from_secs(5), ..BreakerConfig::default() })
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
#[derive(Debug, Clone)]
pub struct ClientStack<P = BufferBody, C = DefaultClassifier, F = NoFallback> {
    name: String,
    config: ClientStackConfig,
    env: BuildEnv,
    replay: P,
    classifier: C,
    fallback: F,
    retry_budget: Option<RetryBudget>,
}

impl ClientStack {
    /// The defaults, for the dependency named `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self::from_config(name, ClientStackConfig::default())
    }

    /// The stack `config` describes, for the dependency named `name`.
    pub fn from_config(name: impl Into<String>, config: ClientStackConfig) -> Self {
        ClientStack {
            name: name.into(),
            config,
            env: BuildEnv::default(),
            replay: BufferBody,
            classifier: DefaultClassifier::default(),
            fallback: NoFallback,
            retry_budget: None,
        }
    }
}

impl<P, C, F> ClientStack<P, C, F> {
    /// The dependency's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The layers' settings.
    pub fn config(&self) -> &ClientStackConfig {
        &self.config
    }

    /// Changes the layers' settings in place.
    pub fn configure(mut self, change: impl FnOnce(&mut ClientStackConfig)) -> Self {
        change(&mut self.config);
        self
    }

    /// Judges answers with `classifier` in the fallback, retry, throttle
    /// and breaker: `GrpcClassifier` for gRPC only, `AnyErrorFails` for
    /// services that are not HTTP, or a closure.
    pub fn classifier<C2>(self, classifier: C2) -> ClientStack<P, C2, F> {
        self.map_parts(|replay, _, fallback| (replay, classifier, fallback))
    }

    /// Sends requests again with `replay` (see `buttress::retry::Replay`).
    pub fn replay<P2>(self, replay: P2) -> ClientStack<P2, C, F> {
        self.map_parts(|_, classifier, fallback| (replay, classifier, fallback))
    }

    /// Answers for the dependency when a call fails or is refused: a
    /// [`FallbackConfig`], or a [`FallbackLayer`] built by hand. It sits
    /// between the metrics and the retry: metrics see the fallback
    /// answer, the retry and the breaker see the failure.
    pub fn fallback<F2: FallbackSlot<C>>(self, fallback: F2) -> ClientStack<P, C, F2> {
        self.map_parts(|replay, classifier, _| (replay, classifier, fallback))
    }

    /// The same stack with the replay policy, classifier and fallback
    /// `change` makes of the current ones.
    fn map_parts<P2, C2, F2>(
        self,
        change: impl FnOnce(P, C, F) -> (P2, C2, F2),
    ) -> ClientStack<P2, C2, F2> {
        let (replay, classifier, fallback) = change(self.replay, self.classifier, self.fallback);
        let ClientStack {
            name,
            config,
            env,
            retry_budget,
            ..
        } = self;
        ClientStack {
            name,
            config,
            env,
            replay,
            classifier,
            fallback,
            retry_budget,
        }
    }

    /// Hands the transport its own body type `T` (see
    /// `buttress::retry::replay::FromReplayBody`) while replaying bodies
    /// from the bounded buffer: `tonic::body::Body` for a tonic `Channel`,
    /// so a generated client works over the stack with no adapter.
    ///
    /// ```
    /// # #[cfg(feature = "tonic")] {
    /// use buttress::stack::ClientStack;
    ///
    /// let stack = ClientStack::new("grpc-dep")
    ///     .replay_into::<tonic::body::Body>()
    ///     .build()
    ///     .unwrap();
    /// // `HealthClient::new(stack.layer(channel))`
    /// # drop(stack); }
    /// ```
    pub fn replay_into<T>(self) -> ClientStack<BufferInto<T>, C, F> {
        self.replay(BufferInto::new())
    }

    /// Retries by cloning requests, for request types without a streaming
    /// body (`http::Request<()>`, `http::Request<Full<Bytes>>`): the
    /// transport receives them unchanged.
    pub fn clone_requests(self) -> ClientStack<CloneRequest, C, F> {
        self.replay(CloneRequest)
    }

    /// Draws retries from `budget`, shared with other stacks (several
    /// routes to the same dependency, say).
    pub fn retry_budget(mut self, budget: RetryBudget) -> Self {
        self.retry_budget = Some(budget);
        self
    }

    /// Every layer reports to `sink` instead of the process-wide sink.
    pub fn sink(mut self, sink: impl TelemetrySink) -> Self {
        self.env.set_sink(sink);
        self
    }

    /// Sets the context layer: a config turns it on, `Toggle::Off` leaves
    /// it out.
    pub fn context(self, toggle: impl Into<Toggle<ClientContextConfig>>) -> Self {
        self.configure(|c| c.context = toggle.into())
    }

    /// Sets the metrics layer.
    pub fn metrics(self, toggle: impl Into<Toggle<RedConfig>>) -> Self {
        self.configure(|c| c.metrics = toggle.into())
    }

    /// Sets the retry; `Toggle::Off` sends every request once.
    pub fn retry(self, toggle: impl Into<Toggle<RetryConfig>>) -> Self {
        self.configure(|c| c.retry = toggle.into())
    }

    /// Hedges instead of retrying (off by default): after the delay with
    /// no answer, another attempt; the first acceptable answer wins.
    pub fn hedge(self, hedge: HedgeConfig) -> Self {
        self.configure(|c| c.hedge = Some(hedge))
    }

    /// Sets client-side throttling (off by default).
    pub fn throttle(self, toggle: impl Into<Toggle<ThrottleConfig>>) -> Self {
        self.configure(|c| c.throttle = toggle.into())
    }

    /// Sets the breaker.
    pub fn breaker(self, toggle: impl Into<Toggle<BreakerConfig>>) -> Self {
        self.configure(|c| c.breaker = toggle.into())
    }

    /// Sets the bulkhead.
    pub fn bulkhead(self, toggle: impl Into<Toggle<BulkheadConfig>>) -> Self {
        self.configure(|c| c.bulkhead = toggle.into())
    }

    /// Sets the per-attempt timeout: a `Duration`, a config, or
    /// `Toggle::Off` (attempts then end only at the request's deadline).
    pub fn timeout(self, toggle: impl Into<Toggle<TimeoutConfig>>) -> Self {
        self.configure(|c| c.timeout = toggle.into())
    }

    /// Sets fault injection, just above the transport (off by default).
    #[cfg(feature = "chaos")]
    pub fn chaos(self, toggle: impl Into<Toggle<buttress_chaos::ChaosConfig>>) -> Self {
        self.configure(|c| c.chaos = toggle.into())
    }

    /// Validates every layer's settings and builds the stack, creating
    /// each layer's shared state once; an error names the layer and the
    /// field (`breaker.failure_rate: …`).
    pub fn build(&self) -> Result<ClientLayer<P, C, F::Layer>, ConfigError>
    where
        P: Clone,
        C: Clone,
        F: FallbackSlot<C>,
    {
        if self.name.is_empty() {
            return Err(ConfigError::new("name", "must not be empty"));
        }
        let config = &self.config;
        config.validate()?;
        let env = self.env.clone().with_name(self.name.as_str());
        let classifier = &self.classifier;
        let context = config
            .context
            .build_in(&env, "context", defaults::context)?;
        let metrics = config
            .metrics
            .resolve(defaults::metrics)
            .map(|config| {
                RedConfig {
                    side: RedSide::Client,
                    ..config
                }
                .build_in(&env)
            })
            .transpose()
            .map_err(|e| e.in_section("metrics"))?;
        if config.fallback.is_some() && !F::GIVEN {
            let problem = "needs a stack with a fallback: `.fallback(config)`, or `ServiceConfig::build_client_with_fallback`";
            return Err(ConfigError::new("fallback", problem));
        }
        let fallback = self
            .fallback
            .build(&env, classifier)
            .map_err(|e| e.in_section("fallback"))?;
        let retry = config
            .retry
            .resolve(defaults::retry)
            .map(|retry| RetryConfig {
                hedge: config.hedge.clone().or(retry.hedge),
                ..retry
            })
            .unwrap_or_else(|| {
                // Off: the retry stays in the stack's type, sending each request once.
                RetryConfig {
                    max_attempts: 1,
                    budget: None,
                    ..RetryConfig::default()
                }
            });
        let mut retry = RetryLayer::builder().with_config(retry).env(env.clone());
        if let Some(budget) = &self.retry_budget {
            retry = retry.shared_budget(budget.clone());
        }
        let retry = retry
            .replay(self.replay.clone())
            .classifier(classifier.clone())
            .build();
        let retry = retry.map_err(|e| e.in_section("retry"))?;
        let throttle = config.throttle.resolve(defaults::throttle).map(|config| {
            let builder = ThrottleLayer::builder()
                .with_config(config)
                .env(env.clone());
            builder.classifier(classifier.clone()).build()
        });
        let throttle = throttle.transpose().map_err(|e| e.in_section("throttle"))?;
        let endpoint = EndpointParts::build(config, &env, classifier)?;
        #[cfg(feature = "balance")]
        let balancer = config
            .balance
            .as_ref()
            .map(|balance| {
                let chaos = endpoint.chaos.clone();
                super::balanced::balancer(balance, config, &env, classifier, chaos)
            })
            .transpose()?;
        // The layers above the endpoint, over given endpoint layers: the
        // stack's own (applied with `layer`), or none when `balanced`
        // puts a set below the balancer per endpoint. Clones share state,
        // so both chains have one retry budget, one throttle.
        let chain = |endpoint: EndpointParts<C>| -> Layers<P, C, F::Layer> {
            tower::ServiceBuilder::new()
                .layer(StatusSlot::default())
                .layer(BypassLayer::new(context.clone()))
                .layer(BypassLayer::new(metrics.clone().map(RedLayer::at_head)))
                .layer(fallback.clone())
                .layer(retry.clone())
                .layer(BypassLayer::new(throttle.clone()))
                .layer(BypassLayer::new(endpoint.breaker))
                .layer(BypassLayer::new(endpoint.bulkhead))
                .layer(BypassLayer::new(endpoint.timeout))
                .layer(endpoint.chaos)
                .into_inner()
        };
        #[cfg(feature = "balance")]
        let (balancer, endpoint_guards) = match balancer {
            Some((balancer, guards)) => (
                Some((chain(EndpointParts::default()), balancer)),
                Some(guards),
            ),
            None => (None, None),
        };
        let EndpointParts {
            breaker,
            bulkhead,
            timeout,
            chaos,
        } = endpoint;
        let handles = ClientHandles {
            running: Running::new(self.config.clone()),
            timeout: timeout.as_ref().map(TimeoutLayer::handle),
            metrics: metrics.as_ref().map(RedLayer::handle),
            fallback: F::handle(&fallback),
            retry: retry.handle(),
            throttle: throttle.as_ref().map(ThrottleLayer::handle),
            breaker: breaker.as_ref().map(CircuitBreakerLayer::handle),
            bulkhead: bulkhead.as_ref().map(|layer| layer.handle()),
            #[cfg(feature = "chaos")]
            chaos: chaos.get().map(buttress_chaos::ChaosLayer::handle),
            #[cfg(feature = "balance")]
            balance: balancer.as_ref().map(|(_, layer)| layer.handle()),
            #[cfg(feature = "balance")]
            endpoint_guards,
        };
        let layers = chain(EndpointParts {
            breaker,
            bulkhead,
            timeout,
            chaos,
        });
        Ok(ClientLayer {
            layers,
            name: self.name.as_str().into(),
            handles: Arc::new(handles),
            #[cfg(feature = "balance")]
            balancer,
        })
    }
}

/// The layers between the throttle and the transport — breaker, bulkhead,
/// per-attempt timeout, chaos: the stack's own, or (balanced) the first
/// three once per endpoint over the stack's one chaos layer.
pub(super) struct EndpointParts<C> {
    pub(super) breaker: Option<CircuitBreakerLayer<C>>,
    pub(super) bulkhead: Option<BulkheadLayer>,
    pub(super) timeout: Option<TimeoutLayer>,
    pub(super) chaos: ChaosSlot,
}

impl<C> Default for EndpointParts<C> {
    fn default() -> Self {
        EndpointParts {
            breaker: None,
            bulkhead: None,
            timeout: None,
            chaos: ChaosSlot::default(),
        }
    }
}

impl<C: Clone> EndpointParts<C> {
    /// Builds them from the stack's sections, named by `env`.
    pub(super) fn build(
        config: &ClientStackConfig,
        env: &BuildEnv,
        classifier: &C,
    ) -> Result<Self, ConfigError> {
        #[cfg(feature = "chaos")]
        let chaos = BypassLayer::new(config.chaos.build_in(env, "chaos", defaults::chaos)?);
        #[cfg(not(feature = "chaos"))]
        let chaos = Identity::new();
        Ok(EndpointParts {
            chaos,
            ..Self::guards(config, env, classifier)?
        })
    }

    /// The breaker, bulkhead and timeout alone, named by `env` (chaos
    /// left out): what a balanced stack builds again for each endpoint.
    /// Fault injection stays one layer for the dependency, under its
    /// name, which directives spell.
    pub(super) fn guards(
        config: &ClientStackConfig,
        env: &BuildEnv,
        classifier: &C,
    ) -> Result<Self, ConfigError> {
        let breaker = config.breaker.resolve(defaults::breaker).map(|config| {
            let builder = CircuitBreakerLayer::builder()
                .with_config(config)
                .env(env.clone());
            builder.classifier(classifier.clone()).build()
        });
        let breaker = breaker.transpose().map_err(|e| e.in_section("breaker"))?;
        let bulkhead = config
            .bulkhead
            .build_in(env, "bulkhead", defaults::bulkhead)?;
        let timeout = config.timeout.build_in(env, "timeout", defaults::timeout)?;
        Ok(EndpointParts {
            breaker,
            bulkhead,
            timeout,
            chaos: ChaosSlot::default(),
        })
    }

    /// The layers, innermost (chaos) first, as `tower::ServiceBuilder`
    /// stacks them.
    #[cfg_attr(not(feature = "balance"), allow(dead_code))]
    pub(super) fn into_layers(self) -> EndpointLayers<C> {
        tower::ServiceBuilder::new()
            .layer(BypassLayer::new(self.breaker))
            .layer(BypassLayer::new(self.bulkhead))
            .layer(BypassLayer::new(self.timeout))
            .layer(self.chaos)
            .into_inner()
    }
}

/// The handles of a built client stack's stateful layers, and the
/// settings it runs with.
#[derive(Debug)]
struct ClientHandles {
    running: Running<ClientStackConfig>,
    timeout: Option<TimeoutHandle>,
    metrics: Option<RedHandle>,
    fallback: Option<FallbackHandle>,
    retry: RetryHandle,
    throttle: Option<ThrottleHandle>,
    breaker: Option<CircuitBreakerHandle>,
    bulkhead: Option<BulkheadHandle>,
    #[cfg(feature = "chaos")]
    chaos: Option<buttress_chaos::ChaosHandle>,
    #[cfg(feature = "balance")]
    balance: Option<buttress_balance::BalanceHandle>,
    /// Balanced: every endpoint's breaker, bulkhead and timeout, and the
    /// sections new endpoints are built from.
    #[cfg(feature = "balance")]
    endpoint_guards: Option<Arc<super::endpoint_guards::EndpointGuards>>,
}

/// The client a built stack makes of transport `T`: a type to name where
/// the client is kept (axum state, a struct field). Clones share the
/// stack's state.
///
/// ```
/// use buttress::stack::{Client, ClientStack};
///
/// type Transport = tower::util::BoxCloneSyncService<http::Request<()>, http::Response<()>, std::io::Error>;
/// struct AppState {
///     inventory: Client<Transport, buttress::retry::CloneRequest>,
/// }
/// # let _ = |t: Transport| AppState {
/// #     inventory: tower::Layer::layer(&ClientStack::new("inventory").clone_requests().build().unwrap(), t),
/// # };
/// ```
pub type Client<T, P = BufferBody, C = DefaultClassifier, F = Identity> =
    <ClientLayer<P, C, F> as Layer<T>>::Service;

/// One dependency's client stack as one [`Layer`], built by
/// [`ClientStack::build`]. Clones share every layer's state: one breaker,
/// one bulkhead, one retry budget per dependency.
#[derive(Debug)]
pub struct ClientLayer<P = BufferBody, C = DefaultClassifier, F = Identity> {
    layers: Layers<P, C, F>,
    name: Arc<str>,
    handles: Arc<ClientHandles>,
    /// With a `balance` section: the chain above the balancer (the
    /// endpoint slots empty) and the balancer.
    #[cfg(feature = "balance")]
    pub(super) balancer: Option<(Layers<P, C, F>, super::balanced::StackBalancer<C>)>,
}

impl<P, C, F> ClientLayer<P, C, F> {
    /// The dependency's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The RED metrics layer's handle (its server labels), if the stack
    /// has one.
    pub fn metrics(&self) -> Option<&RedHandle> {
        self.handles.metrics.as_ref()
    }

    /// The fallback's handle, if a fallback is on.
    pub fn fallback(&self) -> Option<&FallbackHandle> {
        self.handles.fallback.as_ref()
    }

    /// The retry's handle (its budget).
    pub fn retry(&self) -> &RetryHandle {
        &self.handles.retry
    }

    /// The retry budget, if retries have one.
    pub fn retry_budget(&self) -> Option<&RetryBudget> {
        self.handles.retry.budget()
    }

    /// The throttle's handle, if the stack has one.
    pub fn throttle(&self) -> Option<&ThrottleHandle> {
        self.handles.throttle.as_ref()
    }

    /// A handle to read and steer the breaker, if the stack has one.
    pub fn breaker(&self) -> Option<&CircuitBreakerHandle> {
        self.handles.breaker.as_ref()
    }

    /// The bulkhead's handle, if the stack has one.
    pub fn bulkhead(&self) -> Option<&BulkheadHandle> {
        self.handles.bulkhead.as_ref()
    }

    /// The fault injector's handle, if the stack has one.
    #[cfg(feature = "chaos")]
    pub fn chaos(&self) -> Option<&buttress_chaos::ChaosHandle> {
        self.handles.chaos.as_ref()
    }

    /// The balancer's handle (every endpoint's standing), if the stack
    /// balances over replicas.
    #[cfg(feature = "balance")]
    pub fn balance(&self) -> Option<&buttress_balance::BalanceHandle> {
        self.handles.balance.as_ref()
    }

    /// The settings the stack runs with now.
    pub fn config(&self) -> ClientStackConfig {
        self.live().config()
    }

    /// Takes `new` settings while calls run, from the next call on: the
    /// retry's attempts, backoff and timeouts, the throttle's odds, the
    /// breaker's thresholds
    /// and wait, the bulkhead's limits and the per-attempt timeout change
    /// live, each layer keeping its state (an
    /// open breaker stays open). Any other layer must keep its settings,
    /// and none may be turned on or off. Every change is checked before
    /// any is made: a refused config changes nothing.
    ///
    /// ```
    /// use buttress::breaker::BreakerConfig;
    /// use buttress::stack::ClientStack;
    /// use std::time::Duration;
    ///
    /// let layer = ClientStack::new("inventory").build().unwrap();
    /// let mut config = layer.config();
    /// config.breaker = BreakerConfig { wait: Duration::from_secs(5), ..Default::default() }.into();
    /// layer.reload(&config).unwrap();
    /// assert_eq!(layer.config().breaker, config.breaker);
    /// ```
    pub fn reload(&self, new: &ClientStackConfig) -> Result<(), ConfigError> {
        self.live().reload(new)
    }

    /// Whether [`reload`](Self::reload) would take `new`; changes nothing.
    pub fn check_reload(&self, new: &ClientStackConfig) -> Result<(), ConfigError> {
        self.live().check_reload(new)
    }

    /// The stack's settings, to read and change while it runs, as a
    /// handle that does not carry the stack's types (for a reloader
    /// holding every dependency's stack).
    pub fn live(&self) -> LiveClient {
        LiveClient {
            handles: self.handles.clone(),
        }
    }
}

/// A built client stack's settings, read and changed while it runs
/// ([`ClientLayer::live`]). Clones share the stack.
#[derive(Debug, Clone)]
pub struct LiveClient {
    handles: Arc<ClientHandles>,
}

impl LiveClient {
    /// The settings the stack runs with now.
    pub fn config(&self) -> ClientStackConfig {
        self.handles.running.get()
    }

    /// See [`ClientLayer::reload`].
    pub fn reload(&self, new: &ClientStackConfig) -> Result<(), ConfigError> {
        let handles = &*self.handles;
        handles.running.reload(handles, new, |_, new| new.clone())
    }

    /// See [`ClientLayer::check_reload`].
    pub fn check_reload(&self, new: &ClientStackConfig) -> Result<(), ConfigError> {
        self.handles.running.check(&*self.handles, new)
    }
}

/// The live layers' new settings, checked.
struct ClientPlan {
    retry: Option<RetryConfig>,
    throttle: Option<ThrottleConfig>,
    breaker: Option<BreakerConfig>,
    bulkhead: Option<BulkheadConfig>,
    timeout: Option<TimeoutConfig>,
    /// Balanced: the sections endpoints are built from after the reload.
    #[cfg(feature = "balance")]
    sections: Option<ClientStackConfig>,
}

impl LiveLayers for ClientHandles {
    type Config = ClientStackConfig;
    type Plan = ClientPlan;

    fn plan(
        &self,
        running: &ClientStackConfig,
        new: &ClientStackConfig,
    ) -> Result<ClientPlan, ConfigError> {
        new.validate()?;
        fixed("uri", &running.uri, &new.uri)?;
        fixed("fallback", &running.fallback, &new.fallback)?;
        // The hedge's delays reload with the retry layer it schedules
        // (checked there); whether it hedges is fixed.
        match (&running.hedge, &new.hedge) {
            (Some(running), Some(new)) => {
                running.check_live(new).map_err(|e| e.in_section("hedge"))?;
            }
            (running, new) => fixed("hedge", running, new)?,
        }
        live::unchanged("context", &running.context, &new.context)?;
        live::unchanged("metrics", &running.metrics, &new.metrics)?;
        #[cfg(feature = "chaos")]
        live::unchanged("chaos", &running.chaos, &new.chaos)?;
        #[cfg(feature = "balance")]
        if running.balance.is_some() || new.balance.is_some() {
            // Balanced, the endpoint layers are one set per endpoint, built
            // as endpoints arrive: a reload changes every live set (below)
            // and the sections later ones are built from; the balancer's
            // own settings are fixed.
            fixed("balance", &running.balance, &new.balance)?;
        }
        let breaker = live::resolved("breaker", &running.breaker, &new.breaker, defaults::breaker)?;
        let bulkhead = live::resolved(
            "bulkhead",
            &running.bulkhead,
            &new.bulkhead,
            defaults::bulkhead,
        )?;
        let timeout = live::resolved("timeout", &running.timeout, &new.timeout, defaults::timeout)?;
        let retry =
            live::resolved("retry", &running.retry, &new.retry, defaults::retry)?.map(|retry| {
                RetryConfig {
                    hedge: new.hedge.clone().or(retry.hedge),
                    ..retry
                }
            });
        live::check("retry", Some(&self.retry), &retry)?;
        let throttle = live::resolved(
            "throttle",
            &running.throttle,
            &new.throttle,
            defaults::throttle,
        )?;
        live::check("throttle", self.throttle.as_ref(), &throttle)?;
        live::check("breaker", self.breaker.as_ref(), &breaker)?;
        live::check("bulkhead", self.bulkhead.as_ref(), &bulkhead)?;
        live::check("timeout", self.timeout.as_ref(), &timeout)?;
        #[cfg(feature = "balance")]
        if let Some(guards) = &self.endpoint_guards {
            guards.check(&super::endpoint_guards::GuardPlan {
                breaker: &breaker,
                bulkhead: &bulkhead,
                timeout: &timeout,
            })?;
        }
        Ok(ClientPlan {
            retry,
            throttle,
            breaker,
            bulkhead,
            timeout,
            #[cfg(feature = "balance")]
            sections: self.endpoint_guards.as_ref().map(|_| new.clone()),
        })
    }

    fn apply(&self, plan: &ClientPlan) -> Result<(), ConfigError> {
        live::apply("retry", Some(&self.retry), &plan.retry)?;
        live::apply("throttle", self.throttle.as_ref(), &plan.throttle)?;
        live::apply("breaker", self.breaker.as_ref(), &plan.breaker)?;
        live::apply("bulkhead", self.bulkhead.as_ref(), &plan.bulkhead)?;
        live::apply("timeout", self.timeout.as_ref(), &plan.timeout)?;
        #[cfg(feature = "balance")]
        if let (Some(guards), Some(sections)) = (&self.endpoint_guards, &plan.sections) {
            let guard_plan = super::endpoint_guards::GuardPlan {
                breaker: &plan.breaker,
                bulkhead: &plan.bulkhead,
                timeout: &plan.timeout,
            };
            guards.apply(&guard_plan, sections)?;
        }
        Ok(())
    }
}

impl<P: Clone, C: Clone, F: Clone> Clone for ClientLayer<P, C, F> {
    fn clone(&self) -> Self {
        ClientLayer {
            layers: self.layers.clone(),
            name: self.name.clone(),
            handles: self.handles.clone(),
            #[cfg(feature = "balance")]
            balancer: self.balancer.clone(),
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
