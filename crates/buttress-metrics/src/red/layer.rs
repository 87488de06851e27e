//! [`RedLayer`], its config, its builder and its handle.

use std::sync::Arc;

use buttress_core::config::ConfigError;
use buttress_core::layer::{BuildEnv, LayerBuilder, LayerConfig, LayerHandle};
use buttress_core::telemetry::{LayerId, LayerKind, Telemetry};
use metrics::Gauge;
use tower_layer::Layer;

use super::Red;
use super::route::RouteSource;
use super::table::HandleTable;
use crate::names::{HTTP_CLIENT_ACTIVE, HTTP_SERVER_ACTIVE, LABEL_NAME};

/// The most distinct route labels a layer may be configured to keep.
const MAX_ROUTE_CAP: usize = 4096;

/// What every [`Red`] service of one layer shares.
pub(super) struct Shared {
    pub(super) side: RedSide,
    pub(super) table: HandleTable,
    /// `None` when the route cap is zero: every request is `_OTHER`, so
    /// no route is looked for.
    pub(super) routes: Option<RouteSource>,
    pub(super) active: Gauge,
    pub(super) telemetry: Telemetry,
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
}

impl RedConfig {
    /// The default cap on distinct route labels.
    pub const DEFAULT_ROUTE_CAP: usize = 64;
}

impl Default for RedConfig {
    fn default() -> Self {
        RedConfig {
            name: None,
            side: RedSide::Server,
            route_cap: Self::DEFAULT_ROUTE_CAP,
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
            table: HandleTable::new(config.side, name, config.route_cap),
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
        Red::new(inner, self.shared.clone())
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
