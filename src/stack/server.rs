//! [`ServerStack`]: the server side, every layer behind one [`Toggle`].

use std::sync::Arc;
use std::time::Duration;

use buttress_context::server::TrustConfig;
use buttress_context::{ServerContextConfig, ServerContextHandle, ServerContextLayer};
use buttress_core::config::ConfigError;
use buttress_core::layer::{BuildEnv, LayerBuilder, LayerConfig};
use buttress_core::telemetry::TelemetrySink;
use buttress_core::timeout::{TimeoutConfig, TimeoutHandle, TimeoutLayer};
use buttress_limit::shed::{FollowLimitSignal, ShedSignalConfig};
use buttress_limit::{
    AdaptiveLimitConfig, AdaptiveLimitHandle, AdaptiveLimitLayer, BulkheadConfig, BulkheadHandle,
    BulkheadLayer, LoadShedHandle, LoadShedLayer, RateLimitConfig, RateLimitHandle, RateLimitLayer,
    ShedConfig,
};
use buttress_metrics::{RedConfig, RedHandle, RedLayer, RedSide};
use tower_layer::{Identity, Layer, Stack};

use super::defaults::server as defaults;
use super::heap::HeapFutureLayer;
use super::live::{self, LiveLayers, Running};
use super::{BypassLayer, Toggle};
use crate::edge::EdgeLayer;

/// The default limit of the server's own timeout (the request's deadline
/// ends a call sooner).
pub const DEFAULT_SERVER_TIMEOUT: Duration = Duration::from_secs(10);

/// The layers as `tower::ServiceBuilder` stacks them: the last one added
/// (the timeout) is innermost.
type Layers = Stack<
    BypassLayer<TimeoutLayer>,
    Stack<
        BypassLayer<BulkheadLayer>,
        Stack<
            BypassLayer<AdaptiveLimitLayer>,
            Stack<
                BypassLayer<LoadShedLayer>,
                Stack<
                    BypassLayer<RateLimitLayer>,
                    Stack<
                        HeapFutureLayer,
                        Stack<
                            EdgeLayer,
                            Stack<
                                BypassLayer<RedLayer>,
                                Stack<BypassLayer<ServerContextLayer>, Identity>,
                            >,
                        >,
                    >,
                >,
            >,
        >,
    >,
>;

/// The server stack, outermost first:
///
/// `context → metrics → edge → rate limit → shedding → adaptive limit → bulkhead → timeout → handler`
///
/// | layer | default | why |
/// | --- | --- | --- |
/// | context | on, trusting no caller | every request gets an ID and a deadline (a trusted caller's, at most the timeout; else the timeout); a caller's headers steer nothing until you trust it |
/// | metrics | on, server side | rate, errors and duration per route, bounded labels |
/// | edge | always | rejections, errors and panics become typed HTTP or gRPC answers |
/// | rate limit | off | quotas need a key (peer, header, tenant) only you can choose |
/// | shedding | on; in front of the adaptive limit (and no signal of yours) by calls in flight against that limit: sheds above 1.5× it, lets lower priorities in at ¾ of it | under overload sheddable work goes first, taking only free permits and leaving a quarter to critical work, which keeps being answered (fixed watermarks are never reached in front of the limit) |
/// | adaptive limit | on, gradient, 4..1000 from 20 | finds the concurrency the handler sustains without queueing |
/// | bulkhead | off | a fixed cap is a capacity decision only you can make |
/// | timeout | on, [`DEFAULT_SERVER_TIMEOUT`] | no call outlives its deadline or the server's own limit |
///
/// Each layer is a [`Toggle`] of its config: the default above, off, or
/// your settings. Every layer reports under the stack's name unless its
/// config names it. The layers' state is created once, by
/// [`build`](Self::build); place the result with `Router::layer` (axum
/// applies it per route and per connection, and the state is shared, not
/// rebuilt).
///
/// ```
/// use axum::{Router, routing::get};
/// use buttress::stack::{ServerStack, Toggle};
/// use std::time::Duration;
///
/// let stack = ServerStack::new("shop")
///     .timeout(Duration::from_secs(2))
///     .adaptive_limit(Toggle::Off)
///     .build()
///     .unwrap();
/// let app: Router = Router::new().route("/", get(|| async { "hi" })).layer(stack);
/// # drop(app);
/// ```
///
/// With the `serde` feature it loads from TOML as the `[server]` table of
/// a `buttress::config::ServiceConfig`, one sub-table per layer.
#[derive(Debug, Clone)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize, serde::Serialize),
    serde(default, deny_unknown_fields)
)]
pub struct ServerStack {
    /// The service's name: what every layer reports under unless its own
    /// config names it (default `server`).
    pub name: String,
    /// Correlation ID, trace, deadline and criticality.
    pub context: Toggle<ServerContextConfig>,
    /// RED metrics (the stack always records the server side).
    pub metrics: Toggle<RedConfig>,
    /// Per-caller rate limiting.
    pub rate_limit: Toggle<RateLimitConfig>,
    /// Priority load shedding.
    pub shed: Toggle<ShedConfig>,
    /// Adaptive concurrency limit.
    pub adaptive_limit: Toggle<AdaptiveLimitConfig>,
    /// A fixed concurrency cap with a bounded queue.
    pub bulkhead: Toggle<BulkheadConfig>,
    /// The server's own limit (`timeout = "5s"` in TOML).
    pub timeout: Toggle<TimeoutConfig>,
    #[cfg_attr(feature = "serde", serde(skip))]
    env: BuildEnv,
}

impl Default for ServerStack {
    fn default() -> Self {
        Self::new("server")
    }
}

impl ServerStack {
    /// The defaults, for the service named `name`: the **public edge**
    /// preset. It trusts no caller — an ID, deadline, criticality or fault
    /// directive a caller sends is ignored; every request gets a fresh ID
    /// and the server's own deadline. Pick it for anything the internet
    /// (or any caller you do not control) can reach.
    pub fn new(name: impl Into<String>) -> Self {
        ServerStack {
            name: name.into(),
            context: Toggle::Default,
            metrics: Toggle::Default,
            rate_limit: Toggle::Default,
            shed: Toggle::Default,
            adaptive_limit: Toggle::Default,
            bulkhead: Toggle::Default,
            timeout: Toggle::Default,
            env: BuildEnv::default(),
        }
    }

    /// The **internal service** preset: the defaults, but callers that
    /// `trust` names — peer ranges (`TrustConfig::Peers`) or requests
    /// carrying your gateway's shared-secret header (`TrustConfig::Header`)
    /// — keep their valid IDs, deadlines (at most the server's timeout)
    /// and criticality. Pick it for a service only your gateway or mesh
    /// can reach. In TOML: `[server.context] trust = { peers = [..] }`.
    ///
    /// ```
    /// use buttress::context::server::TrustConfig;
    /// use buttress::stack::ServerStack;
    ///
    /// let stack = ServerStack::internal("orders", TrustConfig::Peers(vec!["10.0.0.0/8".into()]));
    /// assert!(stack.build().is_ok());
    /// ```
    pub fn internal(name: impl Into<String>, trust: TrustConfig) -> Self {
        Self::new(name).context(ServerContextConfig {
            trust,
            ..ServerContextConfig::default()
        })
    }

    /// Sets the context layer: a config turns it on, `Toggle::Off` leaves
    /// it out.
    pub fn context(mut self, toggle: impl Into<Toggle<ServerContextConfig>>) -> Self {
        self.context = toggle.into();
        self
    }

    /// Sets the metrics layer.
    pub fn metrics(mut self, toggle: impl Into<Toggle<RedConfig>>) -> Self {
        self.metrics = toggle.into();
        self
    }

    /// Sets the rate limit (off by default).
    pub fn rate_limit(mut self, toggle: impl Into<Toggle<RateLimitConfig>>) -> Self {
        self.rate_limit = toggle.into();
        self
    }

    /// Sets load shedding.
    pub fn shed(mut self, toggle: impl Into<Toggle<ShedConfig>>) -> Self {
        self.shed = toggle.into();
        self
    }

    /// Sets the adaptive limit.
    pub fn adaptive_limit(mut self, toggle: impl Into<Toggle<AdaptiveLimitConfig>>) -> Self {
        self.adaptive_limit = toggle.into();
        self
    }

    /// Sets the bulkhead (off by default).
    pub fn bulkhead(mut self, toggle: impl Into<Toggle<BulkheadConfig>>) -> Self {
        self.bulkhead = toggle.into();
        self
    }

    /// Sets the server's own timeout: a `Duration`, a config, or
    /// `Toggle::Off` (request deadlines are then not enforced here).
    pub fn timeout(mut self, toggle: impl Into<Toggle<TimeoutConfig>>) -> Self {
        self.timeout = toggle.into();
        self
    }

    /// Every layer reports to `sink` instead of the process-wide sink.
    pub fn sink(mut self, sink: impl TelemetrySink) -> Self {
        self.env.set_sink(sink);
        self
    }

    /// Checks every layer's settings; an error names the layer and the
    /// field (`adaptive_limit.max_limit: …`).
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.name.is_empty() {
            return Err(ConfigError::new("name", "must not be empty"));
        }
        self.context.validate("context")?;
        self.metrics.validate("metrics")?;
        self.rate_limit.validate("rate_limit")?;
        self.shed.validate("shed")?;
        self.adaptive_limit.validate("adaptive_limit")?;
        self.bulkhead.validate("bulkhead")?;
        validate_timeout(&self.timeout)
    }

    /// Validates every layer's settings and builds the stack, creating
    /// each layer's shared state once.
    pub fn build(&self) -> Result<ServerLayer, ConfigError> {
        self.validate()?;
        let env = self.env.clone().with_name(self.name.as_str());
        let metrics = self
            .metrics
            .resolve(defaults::metrics)
            .map(|config| {
                RedConfig {
                    side: RedSide::Server,
                    ..config
                }
                .build_in(&env)
            })
            .transpose()
            .map_err(|e| e.in_section("metrics"))?;
        // Every request gets a deadline no later than the timeout allows:
        // see `bounded_by_timeout`.
        let limit = self
            .timeout
            .resolve(defaults::timeout)
            .and_then(|timeout| timeout.limit);
        let context = self
            .context
            .resolve(defaults::context)
            .map(|config| bounded_by_timeout(config, limit).build_in(&env))
            .transpose()
            .map_err(|e| e.in_section("context"))?;
        let rate_limit = self
            .rate_limit
            .build_in(&env, "rate_limit", defaults::rate_limit)?;
        let adaptive =
            self.adaptive_limit
                .build_in(&env, "adaptive_limit", defaults::adaptive_limit)?;
        let shed = match (self.shed.resolve(defaults::shed), &adaptive) {
            // In front of the adaptive limit, a shedder whose signal is
            // left at its default reads that limit (`FollowLimitSignal`).
            (Some(config), Some(adaptive)) if config.signal == ShedSignalConfig::default() => {
                let builder = LoadShedLayer::builder()
                    .with_config(config)
                    .env(env.clone());
                let signal = FollowLimitSignal::new(adaptive.handle());
                Some(
                    builder
                        .custom_signal(signal)
                        .build()
                        .map_err(|e| e.in_section("shed"))?,
                )
            }
            _ => self.shed.build_in(&env, "shed", defaults::shed)?,
        };
        let bulkhead = self
            .bulkhead
            .build_in(&env, "bulkhead", defaults::bulkhead)?;
        let timeout = self.timeout.build_in(&env, "timeout", defaults::timeout)?;
        let handles = ServerHandles {
            running: Running::new(self.clone()),
            context: context.as_ref().map(ServerContextLayer::handle),
            timeout: timeout.as_ref().map(TimeoutLayer::handle),
            metrics: metrics.as_ref().map(RedLayer::handle),
            rate_limit: rate_limit.as_ref().map(RateLimitLayer::handle),
            shed: shed.as_ref().map(LoadShedLayer::handle),
            adaptive_limit: adaptive.as_ref().map(AdaptiveLimitLayer::handle),
            bulkhead: bulkhead.as_ref().map(|layer| layer.handle()),
        };
        let layers = tower::ServiceBuilder::new()
            .layer(BypassLayer::new(context))
            .layer(BypassLayer::new(metrics))
            .layer(EdgeLayer::new())
            .layer(HeapFutureLayer)
            .layer(BypassLayer::new(rate_limit))
            .layer(BypassLayer::new(shed))
            .layer(BypassLayer::new(adaptive))
            .layer(BypassLayer::new(bulkhead))
            .layer(BypassLayer::new(timeout))
            .into_inner();
        Ok(ServerLayer {
            layers,
            name: self.name.as_str().into(),
            handles: Arc::new(handles),
        })
    }
}

/// The context's deadlines bounded by the server's own `limit`, so that
/// every request the stack serves has a deadline and it is the one the
/// timeout enforces: a trusted caller's, never later than the limit, else
/// the limit itself (or the context's own shorter `default_deadline`).
/// Every layer inside and every client call made while serving then sees
/// that deadline; without it a call would carry no deadline of its own,
/// and a caller's deadline header the handler copied onto it would reach
/// the dependency untouched.
fn bounded_by_timeout(
    mut config: ServerContextConfig,
    limit: Option<Duration>,
) -> ServerContextConfig {
    if let Some(limit) = limit {
        let max = config.max_deadline.map_or(limit, |max| max.min(limit));
        config.max_deadline = Some(max);
        config.default_deadline = Some(config.default_deadline.map_or(max, |d| d.min(max)));
    }
    config
}

/// Checks a stack's timeout. Its limit is usually written alone
/// (`timeout = "2s"`), so an error about the limit names the section.
pub(super) fn validate_timeout(timeout: &Toggle<TimeoutConfig>) -> Result<(), ConfigError> {
    timeout.validate("timeout").map_err(|e| match e.field() {
        "timeout.limit" => ConfigError::new("timeout", e.problem().to_owned()),
        _ => e,
    })
}

/// The handles of a built server stack's stateful layers, and the
/// settings it runs with.
#[derive(Debug)]
struct ServerHandles {
    running: Running<ServerStack>,
    context: Option<ServerContextHandle>,
    timeout: Option<TimeoutHandle>,
    metrics: Option<RedHandle>,
    rate_limit: Option<RateLimitHandle>,
    shed: Option<LoadShedHandle>,
    adaptive_limit: Option<AdaptiveLimitHandle>,
    bulkhead: Option<BulkheadHandle>,
}

/// The server stack as one [`Layer`], built by [`ServerStack::build`].
///
/// Cloning it, and applying it any number of times, shares every layer's
/// state: one adaptive limit, one shedder and one bulkhead for the whole
/// server.
#[derive(Clone, Debug)]
pub struct ServerLayer {
    layers: Layers,
    name: Arc<str>,
    handles: Arc<ServerHandles>,
}

impl ServerLayer {
    /// The stack's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The RED metrics layer's handle (its route labels), if the stack
    /// has one.
    pub fn metrics(&self) -> Option<&RedHandle> {
        self.handles.metrics.as_ref()
    }

    /// The rate limit's handle, if the stack has one.
    pub fn rate_limit(&self) -> Option<&RateLimitHandle> {
        self.handles.rate_limit.as_ref()
    }

    /// The shedder's handle, if the stack has one.
    pub fn shed(&self) -> Option<&LoadShedHandle> {
        self.handles.shed.as_ref()
    }

    /// The adaptive limit's handle (its limit and in-flight count).
    pub fn adaptive_limit(&self) -> Option<&AdaptiveLimitHandle> {
        self.handles.adaptive_limit.as_ref()
    }

    /// The bulkhead's handle, if the stack has one.
    pub fn bulkhead(&self) -> Option<&BulkheadHandle> {
        self.handles.bulkhead.as_ref()
    }

    /// The settings the stack runs with now.
    pub fn config(&self) -> ServerStack {
        self.handles.running.get()
    }

    /// Takes `new` settings while serving, from the next request on:
    /// the rate limit's quotas (every caller keeping what it has spent),
    /// the shedder's dwell, cooldown and hint, the adaptive limit's bounds
    /// and waits, the bulkhead's limits and the timeout (with the deadlines the
    /// context derives from it) change live; every request in flight
    /// finishes under the settings it started with, and each layer keeps
    /// its state. Any other layer must keep its settings, and none may be
    /// turned on or off (see `stack::live`). Every change is checked
    /// before any is made: a refused config — its error names the layer
    /// and field — changes nothing.
    ///
    /// ```
    /// use buttress::limit::BulkheadConfig;
    /// use buttress::stack::{ServerStack, Toggle};
    ///
    /// let stack = ServerStack::new("shop").bulkhead(BulkheadConfig { max_concurrent: 10, ..Default::default() });
    /// let layer = stack.build().unwrap();
    /// layer.reload(&stack.clone().bulkhead(BulkheadConfig { max_concurrent: 2, ..Default::default() })).unwrap();
    /// assert_eq!(layer.bulkhead().unwrap().max_concurrent(), 2);
    /// let err = layer.reload(&stack.clone().shed(Toggle::Off)).unwrap_err();
    /// assert_eq!(err.field(), "shed");
    /// ```
    pub fn reload(&self, new: &ServerStack) -> Result<(), ConfigError> {
        let handles = &*self.handles;
        handles
            .running
            .reload(handles, new, |running, new| ServerStack {
                env: running.env.clone(),
                ..new.clone()
            })
    }

    /// Whether [`reload`](Self::reload) would take `new`; changes nothing.
    pub fn check_reload(&self, new: &ServerStack) -> Result<(), ConfigError> {
        self.handles.running.check(&*self.handles, new)
    }
}

/// The live layers' new settings, checked.
struct ServerPlan {
    rate_limit: Option<RateLimitConfig>,
    shed: Option<ShedConfig>,
    adaptive_limit: Option<AdaptiveLimitConfig>,
    bulkhead: Option<BulkheadConfig>,
    timeout: Option<TimeoutConfig>,
    /// The context's new deadline bounds.
    deadlines: Option<(Option<Duration>, Option<Duration>)>,
}

impl LiveLayers for ServerHandles {
    type Config = ServerStack;
    type Plan = ServerPlan;

    fn plan(&self, running: &ServerStack, new: &ServerStack) -> Result<ServerPlan, ConfigError> {
        new.validate()?;
        if new.name != running.name {
            return Err(ConfigError::new(
                "name",
                "cannot change while the service runs",
            ));
        }
        live::unchanged("metrics", &running.metrics, &new.metrics)?;
        let rate_limit = live::resolved(
            "rate_limit",
            &running.rate_limit,
            &new.rate_limit,
            defaults::rate_limit,
        )?;
        live::check("rate_limit", self.rate_limit.as_ref(), &rate_limit)?;
        let bulkhead = live::resolved(
            "bulkhead",
            &running.bulkhead,
            &new.bulkhead,
            defaults::bulkhead,
        )?;
        let timeout = live::resolved("timeout", &running.timeout, &new.timeout, defaults::timeout)?;
        let adaptive_limit = live::resolved(
            "adaptive_limit",
            &running.adaptive_limit,
            &new.adaptive_limit,
            defaults::adaptive_limit,
        )?;
        live::check(
            "adaptive_limit",
            self.adaptive_limit.as_ref(),
            &adaptive_limit,
        )?;
        let shed = live::resolved("shed", &running.shed, &new.shed, defaults::shed)?;
        live::check("shed", self.shed.as_ref(), &shed)?;
        live::check("bulkhead", self.bulkhead.as_ref(), &bulkhead)?;
        live::check("timeout", self.timeout.as_ref(), &timeout)?;
        // The context may change only where it follows the timeout: its
        // deadlines, bounded by the new limit as `build` bounds them.
        let limit = timeout.as_ref().and_then(|timeout| timeout.limit);
        let context = live::resolved("context", &running.context, &new.context, defaults::context)?;
        let deadlines = context.map(|config| {
            let bounded = bounded_by_timeout(config, limit);
            (bounded.max_deadline, bounded.default_deadline)
        });
        let strip = |toggle: &Toggle<ServerContextConfig>| match toggle {
            Toggle::On(config) => Toggle::On(ServerContextConfig {
                max_deadline: None,
                default_deadline: None,
                ..config.clone()
            }),
            other => other.clone(),
        };
        live::unchanged("context", &strip(&running.context), &strip(&new.context))?;
        Ok(ServerPlan {
            rate_limit,
            shed,
            adaptive_limit,
            bulkhead,
            timeout,
            deadlines,
        })
    }

    fn apply(&self, plan: &ServerPlan) -> Result<(), ConfigError> {
        live::apply("rate_limit", self.rate_limit.as_ref(), &plan.rate_limit)?;
        live::apply("shed", self.shed.as_ref(), &plan.shed)?;
        live::apply(
            "adaptive_limit",
            self.adaptive_limit.as_ref(),
            &plan.adaptive_limit,
        )?;
        live::apply("bulkhead", self.bulkhead.as_ref(), &plan.bulkhead)?;
        live::apply("timeout", self.timeout.as_ref(), &plan.timeout)?;
        if let (Some(context), Some((max, default))) = (&self.context, plan.deadlines) {
            context
                .set_deadlines(max, default)
                .map_err(|e| e.in_section("context"))?;
        }
        Ok(())
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
