//! [`RedLayer`], its config, its builder and its handle.

use std::sync::Arc;

use buttress_core::config::ConfigError;
use buttress_core::layer::{BuildEnv, Bypass, LayerBuilder, LayerConfig, LayerHandle};
use buttress_core::telemetry::{LayerId, LayerKind, NameClaim, Telemetry};
use tower_layer::Layer;

use super::Red;
use super::route::{Route, RouteSource};
use super::table::HandleTable;

/// The most distinct route labels a layer may be configured to keep.
const MAX_ROUTE_CAP: usize = 4096;
/// The longest route label a layer may be configured to accept.
const MAX_ROUTE_LEN: usize = 4096;
/// The largest route-label byte budget a layer may be configured with.
const MAX_ROUTE_BYTES: usize = 1 << 20;
/// The most distinct server addresses a client's layer may be configured
/// to keep.
const MAX_SERVER_CAP: usize = 4096;

/// What every [`Red`] service of one layer shares.
pub(super) struct Shared {
    pub(super) side: RedSide,
    pub(super) table: HandleTable,
    /// Routes longer than this count as `_OTHER`.
    pub(super) max_route_len: usize,
    /// `None` when the route cap is zero: every request is `_OTHER`, so
    /// no route is looked for.
    pub(super) routes: Option<RouteSource>,
    pub(super) telemetry: Telemetry,
    /// The name this layer's series carry, distinct from every other live
    /// RED layer's of its side recording into the same recorder.
    claim: NameClaim,
}

impl Shared {
    /// The slot a request's route (at most `max_route_len` bytes, see
    /// [`RouteSource::route`]) records into now, and the route it
    /// would have if its answer earns one (see [`RouteSource`]).
    pub(super) fn slot(&self, route: Option<Route<'_>>) -> (usize, Option<Box<str>>) {
        let Some(route) = route else { return (0, None) };
        if let Some(slot) = self.table.routes.known(&route.name) {
            return (slot, None);
        }
        if route.vouched {
            return (self.table.routes.slot(&route.name), None);
        }
        (0, Some(route.name.into()))
    }
}

/// Which RED family a layer records: a server's (`http.server.*`,
/// `rpc.server.*`) or a client's (`http.client.*`, `rpc.client.*`).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum RedSide {
    /// A server stack: the requests this process answers.
    #[default]
    Server,
    /// A client stack: the calls this process makes to a dependency.
    Client,
}

/// The RED layer's configuration, as data.
///
/// | field | default | meaning |
/// |---|---|---|
/// | `name` | the stack's name, else `red` | the `buttress.name` label |
/// | `side` | `server` | server metrics (`http.server.*`, `rpc.server.*`) or client metrics (`http.client.*`, `rpc.client.*`) |
/// | `route_cap` | 64 | the most distinct route labels (`http.route`, `rpc.method`, a client's `url.template`), 0 to 4096; later ones count as `_OTHER`, and 0 labels every request `_OTHER` |
/// | `max_route_len` | 256 | the longest route label — or server address — in bytes, 1 to 4096; a longer one counts as `_OTHER` |
/// | `route_bytes` | 8192 | the bytes all route labels together may take, `max_route_len` to 1 MiB (and all server addresses as many); routes past it count as `_OTHER` |
/// | `server_cap` | 16 | on a client, the most distinct `server.address` and `server.port` pairs, 0 to 4096; later ones count as `_OTHER` |
///
/// The layer keeps each route label once (every series of the route
/// shares it), so the route labels it holds never take more than
/// `route_bytes`, however many distinct paths it is sent. A route taken
/// from the request itself — a gRPC path, or a
/// [`custom`](RouteSource::custom) function's value — earns its label
/// only once it is answered with something other than a 404, the gRPC
/// `UNIMPLEMENTED` status or a rejection; until then its requests count
/// as `_OTHER`, so a scan of unknown paths takes no label at all. A route
/// template of the router (axum's `MatchedPath`) is labelled at once.
///
/// Where route labels come from (axum's `MatchedPath`, a gRPC path, a
/// function of the request) is set in code with
/// [`routes`](RedLayerBuilder::routes).
///
/// ```
/// use buttress_metrics::{RedConfig, RedSide};
///
/// let config: RedConfig = toml::from_str(r#"
///     name = "payments"
///     side = "client"
///     route_cap = 16
/// "#).unwrap();
/// assert_eq!(config.side, RedSide::Client);
/// assert!(toml::from_str::<RedConfig>("route_cpa = 16").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedConfig {
    /// The name the layer labels its metrics with (`buttress.name`).
    pub name: Option<String>,
    /// Server or client metrics.
    pub side: RedSide,
    /// At most this many distinct route labels; later ones count as
    /// `_OTHER`. Bounds the series an unexpected path flood can create.
    pub route_cap: usize,
    /// The longest route label, in bytes; a longer route counts as
    /// `_OTHER` (a gRPC method path, `/package.Service/Method`, is far
    /// shorter).
    pub max_route_len: usize,
    /// The bytes all route labels together may take; a route that would
    /// take more counts as `_OTHER`. The layer holds each label once, so
    /// this bounds the label memory whatever paths arrive.
    pub route_bytes: usize,
    /// On a client, at most this many distinct server addresses (host and
    /// port); later ones count as `_OTHER`. A client stack calls one
    /// dependency, so it rarely sees more than one.
    pub server_cap: usize,
}

impl RedConfig {
    /// The default cap on distinct route labels.
    pub const DEFAULT_ROUTE_CAP: usize = 64;
    /// The default longest route label, in bytes.
    pub const DEFAULT_MAX_ROUTE_LEN: usize = 256;
    /// The default byte budget of all route labels together.
    pub const DEFAULT_ROUTE_BYTES: usize = 8 * 1024;
    /// The default cap on a client's distinct server addresses.
    pub const DEFAULT_SERVER_CAP: usize = 16;
}

impl Default for RedConfig {
    fn default() -> Self {
        RedConfig {
            name: None,
            side: RedSide::Server,
            route_cap: Self::DEFAULT_ROUTE_CAP,
            max_route_len: Self::DEFAULT_MAX_ROUTE_LEN,
            route_bytes: Self::DEFAULT_ROUTE_BYTES,
            server_cap: Self::DEFAULT_SERVER_CAP,
        }
    }
}

impl LayerConfig for RedConfig {
    type Layer = RedLayer;

    fn name_mut(&mut self) -> &mut Option<String> {
        &mut self.name
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.route_cap > MAX_ROUTE_CAP {
            return Err(ConfigError::new(
                "route_cap",
                "at most 4096: each route label multiplies the series a metrics backend stores",
            ));
        }
        if !(1..=MAX_ROUTE_LEN).contains(&self.max_route_len) {
            return Err(ConfigError::new(
                "max_route_len",
                "1 to 4096 bytes: a route label is a template or a method name, never a raw path",
            ));
        }
        if self.route_bytes > MAX_ROUTE_BYTES {
            return Err(ConfigError::new(
                "route_bytes",
                "at most 1 MiB (1048576): it bounds the memory route labels take",
            ));
        }
        if self.route_bytes < self.max_route_len {
            return Err(ConfigError::new(
                "route_bytes",
                "at least max_route_len, so that a route of the longest length fits",
            ));
        }
        if self.server_cap > MAX_SERVER_CAP {
            return Err(ConfigError::new(
                "server_cap",
                "at most 4096: each server address multiplies the series a metrics backend stores",
            ));
        }
        if self.name.as_deref() == Some("") {
            return Err(ConfigError::new("name", "must not be empty"));
        }
        Ok(())
    }

    fn build_in(&self, env: &BuildEnv) -> Result<RedLayer, ConfigError> {
        build(self, env, RouteSource::Auto)
    }
}

fn build(config: &RedConfig, env: &BuildEnv, routes: RouteSource) -> Result<RedLayer, ConfigError> {
    config.validate()?;
    // Registered so a sink knows of every layer; the metrics themselves
    // go straight to the `metrics` recorder, not through the sink.
    let telemetry = env.telemetry(LayerKind::Red, config.name.as_deref());
    // A server's and a client's layer of one name record different
    // metrics; two of one side would merge, so the later one is told a
    // distinct name. (Recorder addresses are aligned: + 1 is no other's.)
    let space = crate::sink::recorder_space() + usize::from(config.side == RedSide::Client);
    let claim = NameClaim::claim(space, telemetry.layer());
    let name: Arc<str> = claim.id().name().into();
    Ok(RedLayer {
        shared: Arc::new(Shared {
            side: config.side,
            table: HandleTable::new(
                config.side,
                name,
                config.route_cap,
                config.server_cap,
                config.route_bytes,
            ),
            max_route_len: config.max_route_len,
            routes: (config.route_cap > 0).then_some(routes),
            telemetry,
            claim,
        }),
    })
}

/// Records RED metrics — requests, errors, duration, in flight — for a
/// server stack or a client dependency.
///
/// A server's layer ([`RedSide::Server`], the default) records each HTTP
/// request in `http.server.request.duration` and each gRPC call in
/// `rpc.server.call.duration`, and what is in flight in
/// `http.server.active_requests` and `buttress.rpc.server.active_calls`;
/// a client's ([`RedSide::Client`]) the `client` counterparts. The names,
/// units and attributes are OpenTelemetry's (see the crate docs' table):
/// `http.request.method` (`_OTHER` for non-standard methods),
/// `http.route` (see [`RouteSource`]; never the raw URI, and at most a
/// capped number of values), `http.response.status_code`, `url.scheme`;
/// for gRPC `rpc.system.name`, `rpc.method` and
/// `rpc.response.status_code`; on a client `server.address` and
/// `server.port`; `error.type` when a call failed. Buttress adds
/// `buttress.name` (the stack or dependency) and `buttress.outcome`
/// (`success`, `failure`, `cancelled`, `rejected` — a Buttress layer
/// refused, its reason in `error.type` — or `fallback`, a fallback
/// layer's answer).
///
/// A server's request is timed from its start (the instant the outermost
/// layer took, or its context's start); a client's call from when it is
/// made, never from the start of the request being served.
///
/// Place it outside the edge on a server, so it sees final status codes
/// and the edge's rejections, and outside the fallback on a client, so it
/// sees fallback answers as such. Each label combination's handle is
/// resolved on its first request, against the `metrics` recorder of the
/// thread it records on; after that a request costs a clock read, a
/// shared-lock route lookup (and on a client a server lookup) and atomic
/// operations, and allocates nothing.
///
/// A gRPC call's status is read from its trailers when they arrive
/// through the layer; recorded at its head ([`RedLayer::at_head`]), a
/// streamed answer has none yet and carries no `rpc.response.status_code`.
///
/// Two live layers of one side given one name would merge their series:
/// the later one labels its series `name#2` (and a warning is logged).
///
/// Like every Buttress layer it is configured by data ([`RedConfig`],
/// loadable from TOML), which its builder sets too,
/// and observed through its handle ([`RedHandle`]); see
/// [`buttress_core::layer`].
///
/// ```
/// use buttress_core::layer::LayerBuilder;
/// use buttress_metrics::{RedLayer, RedSide};
/// use tower::ServiceBuilder;
///
/// let server = RedLayer::builder().name("checkout").build().unwrap();
/// let client = RedLayer::builder()
///     .configure(|c| {
///         c.side = RedSide::Client;
///         c.route_cap = 16;
///     })
///     .name("payments")
///     .build()
///     .unwrap();
/// let _svc = ServiceBuilder::new().layer(server).service_fn(|_req: http::Request<()>| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(()))
/// });
/// # let _ = client;
/// ```
#[derive(Clone)]
pub struct RedLayer {
    shared: Arc<Shared>,
}

impl RedLayer {
    /// A builder: server metrics, the default route source and cap.
    pub fn builder() -> RedLayerBuilder {
        RedLayerBuilder::default()
    }

    /// Builds the layer from `config`, registering with the global sink.
    pub fn from_config(config: &RedConfig) -> Result<Self, ConfigError> {
        config.build()
    }

    /// The handle that reads the layer's state.
    pub fn handle(&self) -> RedHandle {
        RedHandle {
            shared: self.shared.clone(),
        }
    }
}

impl std::fmt::Debug for RedLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedLayer")
            .field("id", self.shared.telemetry.layer())
            .field("routes", &self.shared.routes)
            .finish()
    }
}

impl<S> Layer<S> for RedLayer {
    type Service = Red<S>;

    fn layer(&self, inner: S) -> Red<S> {
        Red::new(inner, Some(self.shared.clone()))
    }
}

/// Left out of a stack, a RED layer is its own service recording nothing:
/// it still wraps response bodies in a [`RedBody`](super::RedBody) (which
/// records nothing either), so a stack whose metrics are switched off by
/// config has the same type as one whose metrics are on, without one more
/// level of future.
///
/// ```
/// use buttress_core::layer::Bypass;
/// use buttress_metrics::RedLayer;
/// use tower::ServiceExt;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let svc = tower::service_fn(|_req: http::Request<()>| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(()))
/// });
/// let off = <RedLayer as Bypass<_>>::bypass(svc);
/// let res = off.oneshot(http::Request::new(())).await.unwrap();
/// assert_eq!(res.status(), 200);
/// # }
/// ```
impl<S> Bypass<S> for RedLayer {
    fn bypass(inner: S) -> Red<S> {
        Red::new(inner, None)
    }
}

/// Reads a [`RedLayer`]'s state, shared by every clone of the layer and
/// every service it wrapped.
///
/// ```
/// use buttress_core::layer::LayerBuilder;
/// use buttress_core::layer::LayerHandle;
/// use buttress_metrics::RedLayer;
///
/// let handle = RedLayer::builder().name("checkout").build().unwrap().handle();
/// assert_eq!(handle.id().name(), "checkout");
/// assert_eq!(handle.route_labels(), 1, "_OTHER only, so far");
/// ```
#[derive(Clone)]
pub struct RedHandle {
    shared: Arc<Shared>,
}

impl RedHandle {
    /// How many distinct route labels the layer has recorded, `_OTHER`
    /// included.
    pub fn route_labels(&self) -> usize {
        self.shared.table.routes.count()
    }

    /// How many distinct server addresses a client's layer has recorded,
    /// `_OTHER` included (1 on a server).
    pub fn server_labels(&self) -> usize {
        self.shared.table.servers.count()
    }

    /// The name the layer's series carry in `buttress.name`: its own, or
    /// a distinct one if a live layer of its side already used it.
    pub fn series_name(&self) -> &str {
        self.shared.claim.id().name()
    }

    /// The bytes the layer's route labels take, `_OTHER` not counted:
    /// never more than [`RedConfig::route_bytes`].
    pub fn route_label_bytes(&self) -> usize {
        self.shared.table.routes.bytes()
    }
}

impl LayerHandle for RedHandle {
    fn id(&self) -> &LayerId {
        self.shared.telemetry.layer()
    }
}

impl std::fmt::Debug for RedHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedHandle")
            .field("id", self.id())
            .field("route_labels", &self.route_labels())
            .field("route_label_bytes", &self.route_label_bytes())
            .finish()
    }
}

/// Builds a [`RedLayer`].
///
/// Its settings are a [`RedConfig`], set with
/// [`configure`](LayerBuilder::configure) or
/// [`with_config`](LayerBuilder::with_config); `.name(..)`, `.sink(..)` and
/// `.env(..)` come from [`LayerBuilder`] too. What is code, not data, is
/// its own: the route source ([`routes`](Self::routes)).
///
/// ```
/// use buttress_core::layer::LayerBuilder;
/// use buttress_metrics::{RedConfig, RedLayer, RedSide, RouteSource};
/// use std::borrow::Cow;
///
/// let layer = RedLayer::builder()
///     .configure(|c| c.route_cap = 16)
///     .name("api")
///     .routes(RouteSource::custom(|req| req.uri.path().split('/').nth(1).map(Cow::Borrowed)))
///     .build()
///     .unwrap();
/// # let _ = layer;
///
/// // A whole config at once, as loaded from a file:
/// let client = RedConfig { side: RedSide::Client, ..RedConfig::default() };
/// let builder = RedLayer::builder().with_config(client);
/// assert_eq!(builder.config().side, RedSide::Client);
///
/// let too_many = RedLayer::builder().configure(|c| c.route_cap = 5000).build();
/// assert_eq!(too_many.unwrap_err().field(), "route_cap");
/// ```
#[derive(Debug, Default)]
pub struct RedLayerBuilder {
    config: RedConfig,
    env: BuildEnv,
    routes: RouteSource,
}

impl LayerBuilder for RedLayerBuilder {
    type Config = RedConfig;

    fn config(&self) -> &RedConfig {
        &self.config
    }

    fn parts_mut(&mut self) -> (&mut RedConfig, &mut BuildEnv) {
        (&mut self.config, &mut self.env)
    }
}

impl RedLayerBuilder {
    /// Where route labels come from (default [`RouteSource::Auto`]): code,
    /// so not part of the config.
    pub fn routes(mut self, source: RouteSource) -> Self {
        self.routes = source;
        self
    }

    /// Validates and builds the layer. Its name is claimed in the
    /// `metrics` recorder installed now (a second live layer of the name
    /// and side is told a distinct one); its handles are resolved as
    /// requests come.
    pub fn build(self) -> Result<RedLayer, ConfigError> {
        build(&self.config, &self.env, self.routes)
    }
}
