//! [`ServerStack`]: the server side, in DESIGN.md's order.

use buttress_core::layer::LayerBuilder;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use buttress_context::ServerContextLayer;
use buttress_core::classify::HttpOrGrpcClassifier;
use buttress_core::config::ConfigError;
use buttress_core::layer::{BuildEnv, LayerConfig};
use buttress_core::telemetry::TelemetrySink;
use buttress_core::timeout::TimeoutLayer;
use buttress_limit::adaptive::{AdaptiveLimitConfig, AdaptiveLimitHandle, AdaptiveLimitLayer};
use buttress_limit::{BulkheadConfig, BulkheadHandle, BulkheadLayer};
use buttress_metrics::RedLayer;
use tower_layer::{Layer, Stack};

use super::OptionalLayer;
use super::slot::{SharedSink, Slot};
use crate::edge::EdgeLayer;

/// The adaptive limit as the server stack builds it: answers judged by
/// HTTP status, or by `grpc-status` when they carry one.
pub type ServerAdaptiveLimit = AdaptiveLimitLayer<HttpOrGrpcClassifier>;

/// The layers, innermost first (`Stack<inner, outer>`): timeout, bulkhead,
/// adaptive limit, edge, metrics, context. Shedding and rate limiting
/// will sit between the edge and the adaptive limit.
type Layers = Stack<
    OptionalLayer<TimeoutLayer>,
    Stack<
        OptionalLayer<BulkheadLayer>,
        Stack<
            OptionalLayer<ServerAdaptiveLimit>,
            Stack<EdgeLayer, Stack<OptionalLayer<RedLayer>, OptionalLayer<ServerContextLayer>>>,
        >,
    >,
>;

/// The default limit of the server's own timeout (the request's deadline
/// ends a call sooner).
pub const DEFAULT_SERVER_TIMEOUT: Duration = Duration::from_secs(10);

/// Builds the server stack, outermost first:
///
/// `context → metrics → edge → adaptive limit → bulkhead → timeout → handler`
///
/// | layer | default |
/// | --- | --- |
/// | context | on: fresh IDs, trusting no caller ([`ServerContextLayer::builder`]) |
/// | metrics | on: a server [`RedLayer`] named after the stack |
/// | edge | always: rejections, errors and panics become answers |
/// | adaptive limit | on: gradient, 4..1000 from 20, named after the stack |
/// | bulkhead | off |
/// | timeout | on: [`DEFAULT_SERVER_TIMEOUT`], and never past the request's deadline |
///
/// Load shedding and rate limiting will take their places between the
/// edge and the adaptive limit when they land. Each layer's state is
/// created once, by [`build`](Self::build): place the result with
/// `Router::layer` (axum applies it per route and per connection, and the
/// layers are shared, not rebuilt).
///
/// ```
/// use axum::{Router, routing::get};
/// use buttress::stack::ServerStack;
/// use std::time::Duration;
///
/// let stack = ServerStack::new("shop")
///     .timeout(Duration::from_secs(2))
///     .build()
///     .unwrap();
/// let app: Router = Router::new().route("/", get(|| async { "hi" })).layer(stack);
/// # drop(app);
/// ```
pub struct ServerStack {
    name: String,
    sink: Option<Arc<dyn TelemetrySink>>,
    context: Slot<ServerContextLayer>,
    metrics: Slot<RedLayer>,
    adaptive_limit: Slot<AdaptiveLimitConfig>,
    bulkhead: Slot<BulkheadConfig>,
    timeout: Slot<Duration>,
}

impl ServerStack {
    /// The defaults, for the service named `name` (metrics and layer
    /// names).
    pub fn new(name: impl Into<String>) -> Self {
        ServerStack {
            name: name.into(),
            sink: None,
            context: Slot::Default,
            metrics: Slot::Default,
            adaptive_limit: Slot::Default,
            bulkhead: Slot::Off,
            timeout: Slot::Default,
        }
    }

    /// The stack's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Uses this context layer (to trust callers, set default deadlines).
    pub fn context(mut self, layer: ServerContextLayer) -> Self {
        self.context = Slot::Given(layer);
        self
    }

    /// Leaves the context layer out.
    pub fn without_context(mut self) -> Self {
        self.context = Slot::Off;
        self
    }

    /// Uses this metrics layer (a server [`RedLayer`], the builder's default).
    pub fn metrics(mut self, layer: RedLayer) -> Self {
        self.metrics = Slot::Given(layer);
        self
    }

    /// Leaves the metrics layer out.
    pub fn without_metrics(mut self) -> Self {
        self.metrics = Slot::Off;
        self
    }

    /// Configures the adaptive limit. A config without a name takes the
    /// stack's.
    pub fn adaptive_limit(mut self, config: AdaptiveLimitConfig) -> Self {
        self.adaptive_limit = Slot::Given(config);
        self
    }

    /// Leaves the adaptive limit out.
    pub fn without_adaptive_limit(mut self) -> Self {
        self.adaptive_limit = Slot::Off;
        self
    }

    /// Adds a bulkhead (off by default). A config without a name takes the
    /// stack's.
    pub fn bulkhead(mut self, config: BulkheadConfig) -> Self {
        self.bulkhead = Slot::Given(config);
        self
    }

    /// Leaves the bulkhead out.
    pub fn without_bulkhead(mut self) -> Self {
        self.bulkhead = Slot::Off;
        self
    }

    /// Ends every call after `limit` (or at its deadline, if sooner).
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.timeout = Slot::Given(limit);
        self
    }

    /// Leaves the timeout layer out: no limit, and request deadlines are
    /// not enforced here.
    pub fn without_timeout(mut self) -> Self {
        self.timeout = Slot::Off;
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
    /// names the layer and the field (`adaptive_limit.max_limit: …`).
    pub fn build(self) -> Result<ServerLayer, ConfigError> {
        let sink = self.sink.map(SharedSink);
        let name = self.name;
        if name.is_empty() {
            return Err(ConfigError::new("name", "must not be empty"));
        }
        let context = self.context.build(
            || {
                let builder = ServerContextLayer::builder();
                match &sink {
                    Some(sink) => builder.sink(sink.0.clone()),
                    None => builder,
                }
                .build()
            },
            Ok,
        );
        let context = context.map_err(|e| e.in_section("context"))?;
        let metrics = self
            .metrics
            .build(|| RedLayer::builder().name(name.as_str()).build(), Ok)
            .map_err(|e| e.in_section("metrics"))?;
        let adaptive_limit = self
            .adaptive_limit
            .build(
                || build_adaptive(AdaptiveLimitConfig::default(), &name, sink.as_ref()),
                |config| build_adaptive(config, &name, sink.as_ref()),
            )
            .map_err(|e| e.in_section("adaptive_limit"))?;
        let bulkhead = self
            .bulkhead
            .build(
                || build_bulkhead(BulkheadConfig::default(), &name, sink.as_ref()),
                |config| build_bulkhead(config, &name, sink.as_ref()),
            )
            .map_err(|e| e.in_section("bulkhead"))?;
        let timeout = self
            .timeout
            .build(
                || build_timeout(DEFAULT_SERVER_TIMEOUT, &name, sink.as_ref()),
                |limit| build_timeout(limit, &name, sink.as_ref()),
            )
            .map_err(|e| e.in_section("timeout"))?;
        let layers = Stack::new(
            OptionalLayer::new(timeout),
            Stack::new(
                OptionalLayer::new(bulkhead.clone()),
                Stack::new(
                    OptionalLayer::new(adaptive_limit.clone()),
                    Stack::new(
                        EdgeLayer::new(),
                        Stack::new(OptionalLayer::new(metrics), OptionalLayer::new(context)),
                    ),
                ),
            ),
        );
        Ok(ServerLayer {
            layers,
            name: name.into(),
            adaptive_limit: adaptive_limit.as_ref().map(AdaptiveLimitLayer::handle),
            bulkhead: bulkhead.as_ref().map(|layer| layer.handle()),
        })
    }
}

/// The stack's environment: its name, and its sink if it has one.
fn limit_env(name: &str, sink: Option<&SharedSink>) -> BuildEnv {
    let mut env = BuildEnv::named(name);
    if let Some(sink) = sink {
        env.set_sink(sink.0.clone());
    }
    env
}

fn build_adaptive(
    config: AdaptiveLimitConfig,
    name: &str,
    sink: Option<&SharedSink>,
) -> Result<ServerAdaptiveLimit, ConfigError> {
    config.build_in(&limit_env(name, sink))
}

pub(super) fn build_bulkhead(
    config: BulkheadConfig,
    name: &str,
    sink: Option<&SharedSink>,
) -> Result<BulkheadLayer, ConfigError> {
    config.build_in(&limit_env(name, sink))
}

pub(super) fn build_timeout(
    limit: Duration,
    name: &str,
    sink: Option<&SharedSink>,
) -> Result<TimeoutLayer, ConfigError> {
    let builder = TimeoutLayer::builder().limit(limit).name(name);
    match sink {
        Some(sink) => builder.sink(sink.0.clone()),
        None => builder,
    }
    .build()
}

impl fmt::Debug for ServerStack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerStack")
            .field("name", &self.name)
            .field("context", &self.context.is_on())
            .field("metrics", &self.metrics.is_on())
            .field("adaptive_limit", &self.adaptive_limit)
            .field("bulkhead", &self.bulkhead)
            .field("timeout", &self.timeout)
            .field("own_sink", &self.sink.is_some())
            .finish()
    }
}

/// The server stack as one [`Layer`], built by [`ServerStack::build`].
///
/// Cloning it, and applying it any number of times, shares every layer's
/// state: one adaptive limit and one bulkhead for the whole server.
#[derive(Clone)]
pub struct ServerLayer {
    layers: Layers,
    name: Arc<str>,
    adaptive_limit: Option<AdaptiveLimitHandle>,
    bulkhead: Option<BulkheadHandle>,
}

impl ServerLayer {
    /// The stack's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The adaptive limit's handle, to read its limit and in-flight
    /// count, if the stack has one.
    pub fn adaptive_limit(&self) -> Option<&AdaptiveLimitHandle> {
        self.adaptive_limit.as_ref()
    }

    /// The bulkhead's handle, if the stack has one.
    pub fn bulkhead(&self) -> Option<&BulkheadHandle> {
        self.bulkhead.as_ref()
    }
}

impl<S> Layer<S> for ServerLayer
where
    Layers: Layer<S>,
{
    type Service = <Layers as Layer<S>>::Service;

    fn layer(&self, inner: S) -> Self::Service {
        self.layers.layer(inner)
    }
}

impl fmt::Debug for ServerLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerLayer")
            .field("name", &self.name)
            .field("adaptive_limit", &self.adaptive_limit.is_some())
            .field("bulkhead", &self.bulkhead.is_some())
            .finish_non_exhaustive()
    }
}
