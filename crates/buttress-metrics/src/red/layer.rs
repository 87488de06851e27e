//! [`RedLayer`], its config, its builder and its handle.

use std::sync::Arc;

use buttress_core::config::ConfigError;
use buttress_core::layer::{BuildEnv, LayerBuilder, LayerConfig, LayerHandle};
use buttress_core::telemetry::{LayerId, LayerKind, Telemetry};
use metrics::Gauge;
use tower_layer::Layer;

use super::Red;
use super::route::{Route, RouteSource};
use super::table::HandleTable;
use crate::names::{HTTP_CLIENT_ACTIVE, HTTP_SERVER_ACTIVE, LABEL_NAME};

/// The most distinct route labels a layer may be configured to keep.
const MAX_ROUTE_CAP: usize = 4096;
/// The longest route label a layer may be configured to accept.
const MAX_ROUTE_LEN: usize = 4096;
/// The largest route-label byte budget a layer may be configured with.
const MAX_ROUTE_BYTES: usize = 1 << 20;

/// What every [`Red`] service of one layer shares.
pub(super) struct Shared {
    pub(super) side: RedSide,
    pub(super) table: HandleTable,
    /// Routes longer than this count as `_OTHER`.
    pub(super) max_route_len: usize,
    /// `None` when the route cap is zero: every request is `_OTHER`, so
    /// no route is looked for.
    pub(super) routes: Option<RouteSource>,
    pub(super) active: Gauge,
    pub(super) telemetry: Telemetry,
}

impl Shared {
    /// The slot a request's route (at most `max_route_len` bytes, see
    /// [`RouteSource::route`]) records into now, and the route it
    /// would have if its answer earns one (see [`RouteSource`]).
    pub(super) fn slot(&self, route: Option<Route<'_>>) -> (usize, Option<Box<str>>) {
        let Some(route) = route else { return (0, None) };
        if let Some(slot) = self.table.known_slot(&route.name) {
            return (slot, None);
        }
        if route.vouched {
            return (self.table.route_slot(&route.name), None);
        }
        (0, Some(route.name.into()))
    }
}

/// Which RED family a layer records: a server's (`http.server.*`) or a
/// client's (`http.client.*`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case")
)]
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
/// | `side` | `server` | `http.server.*` or `http.client.*` metrics |
/// | `route_cap` | 64 | the most distinct `http.route` labels, 0 to 4096; later ones count as `_OTHER`, and 0 labels every request `_OTHER` |
/// | `max_route_len` | 256 | the longest route label in bytes, 1 to 4096; a longer route counts as `_OTHER` |
/// | `route_bytes` | 8192 | the bytes all route labels together may take, `max_route_len` to 1 MiB; routes past it count as `_OTHER` |
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
/// # #[cfg(feature = "serde")] {
/// use buttress_metrics::{RedConfig, RedSide};
///
/// let config: RedConfig = toml::from_str(r#"
///     name = "payments"
///     side = "client"
///     route_cap = 16
/// "#).unwrap();
/// assert_eq!(config.side, RedSide::Client);
/// assert!(toml::from_str::<RedConfig>("route_cpa = 16").is_err());
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
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
}

impl RedConfig {
    /// The default cap on distinct route labels.
    pub const DEFAULT_ROUTE_CAP: usize = 64;
    /// The default longest route label, in bytes.
    pub const DEFAULT_MAX_ROUTE_LEN: usize = 256;
    /// The default byte budget of all route labels together.
    pub const DEFAULT_ROUTE_BYTES: usize = 8 * 1024;
}

impl Default for RedConfig {
    fn default() -> Self {
        RedConfig {
            name: None,
            side: RedSide::Server,
            route_cap: Self::DEFAULT_ROUTE_CAP,
            max_route_len: Self::DEFAULT_MAX_ROUTE_LEN,
            route_bytes: Self::DEFAULT_ROUTE_BYTES,
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
    let name = telemetry.layer().name().to_owned();
    let active_name = match config.side {
        RedSide::Server => HTTP_SERVER_ACTIVE,
        RedSide::Client => HTTP_CLIENT_ACTIVE,
    };
    let active = metrics::gauge!(active_name, LABEL_NAME => name.clone());
    Ok(RedLayer {
        shared: Arc::new(Shared {
            side: config.side,
            table: HandleTable::new(config.side, name, config.route_cap, config.route_bytes),
            max_route_len: config.max_route_len,
            routes: (config.route_cap > 0).then_some(routes),
            active,
            telemetry,
        }),
    })
}

/// Records RED metrics — requests, errors, duration, in flight — for a
/// server stack or a client dependency.
///
/// A server's layer ([`RedSide::Server`], the default) records
/// `http.server.request.duration`, `buttress.http.server.requests`,
/// `buttress.http.server.errors` and `http.server.active_requests`; a
/// client's ([`RedSide::Client`]) the `client` counterparts. Labels:
/// `buttress.name` (the stack or dependency),
/// `http.request.method` (`_OTHER` for non-standard methods),
/// `http.route` (see [`RouteSource`]; never the raw URI, and at most a
/// capped number of values), `http.response.status_class`,
/// `buttress.outcome` (`success`, `failure`, `cancelled`, `rejected`) and
/// `buttress.reason` (the rejection's reason, from the `Rejected` the edge
/// leaves in the response extensions).
///
/// A server's request is timed from its start (the instant the outermost
/// layer took, or its context's start); a client's call from when it is
/// made, never from the start of the request being served.
///
/// Place it outside the edge on a server, so it sees final status codes
/// and the edge's rejections. Each label combination's handles are
/// resolved on its first request; after that a request costs a clock
/// read, a shared-lock route lookup and atomic increments.
///
/// For a streamed gRPC answer the status arrives in trailers, after the
/// layer has recorded the response head: it is recorded by its head
/// (success unless the head carries an error status).
///
/// Like every Buttress layer it is configured by data ([`RedConfig`], with
/// the `serde` feature loadable from TOML), which its builder sets too,
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

/// A [`RedLayer`], or none, with one service type either way: left out,
/// it still wraps response bodies in a [`RedBody`](super::RedBody) that
/// records nothing, so a stack whose metrics are switched off by config
/// has the same type as one whose metrics are on.
///
/// ```
/// use buttress_metrics::{OptionalRedLayer, RedLayer};
/// use tower::{Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let svc = tower::service_fn(|_req: http::Request<()>| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(()))
/// });
/// let off = OptionalRedLayer::new(None::<RedLayer>);
/// assert!(off.get().is_none());
/// let res = off.layer(svc).oneshot(http::Request::new(())).await.unwrap();
/// assert_eq!(res.status(), 200);
/// # }
/// ```
#[derive(Clone, Debug, Default)]
pub struct OptionalRedLayer {
    layer: Option<RedLayer>,
}

impl OptionalRedLayer {
    /// Records with `layer` if it is `Some`.
    pub fn new(layer: Option<RedLayer>) -> Self {
        OptionalRedLayer { layer }
    }

    /// The layer, if metrics are on.
    pub fn get(&self) -> Option<&RedLayer> {
        self.layer.as_ref()
    }
}

impl<S> Layer<S> for OptionalRedLayer {
    type Service = Red<S>;

    fn layer(&self, inner: S) -> Red<S> {
        Red::new(inner, self.layer.as_ref().map(|l| l.shared.clone()))
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
        self.shared.table.route_count()
    }

    /// The bytes the layer's route labels take, `_OTHER` not counted:
    /// never more than [`RedConfig::route_bytes`].
    pub fn route_label_bytes(&self) -> usize {
        self.shared.table.route_bytes()
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

    /// Validates and builds the layer. Its in-flight gauge is resolved
    /// against the `metrics` recorder installed now.
    pub fn build(self) -> Result<RedLayer, ConfigError> {
        build(&self.config, &self.env, self.routes)
    }
}
