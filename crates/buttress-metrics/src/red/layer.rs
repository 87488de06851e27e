//! [`RedLayer`] and its builder.

use std::sync::Arc;

use buttress_core::config::ConfigError;
use metrics::Gauge;
use tower_layer::Layer;

use super::Red;
use super::route::RouteSource;
use super::table::{HandleTable, Side};
use crate::names::{HTTP_CLIENT_ACTIVE, HTTP_SERVER_ACTIVE, LABEL_NAME};

/// What every [`Red`] service of one layer shares.
pub(super) struct Shared {
    pub(super) table: HandleTable,
    pub(super) routes: RouteSource,
    pub(super) active: Gauge,
}

/// Records RED metrics — requests, errors, duration, in flight — for a
/// server stack or a client dependency. See the [module docs](super).
///
/// ```
/// use buttress_metrics::RedLayer;
/// use tower::ServiceBuilder;
///
/// let server = RedLayer::server("checkout");
/// let client = RedLayer::builder_client("payments").route_cap(16).build().unwrap();
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
    /// Server metrics (`http.server.*`) for the stack named `name`, with
    /// the default route source and cap.
    pub fn server(name: impl Into<String>) -> Self {
        Self::builder_server(name)
            .build()
            .expect("defaults are valid")
    }

    /// Client metrics (`http.client.*`) for the dependency named `name`.
    pub fn client(name: impl Into<String>) -> Self {
        Self::builder_client(name)
            .build()
            .expect("defaults are valid")
    }

    /// A builder for server metrics.
    pub fn builder_server(name: impl Into<String>) -> RedLayerBuilder {
        RedLayerBuilder::new(Side::Server, name.into())
    }

    /// A builder for client metrics.
    pub fn builder_client(name: impl Into<String>) -> RedLayerBuilder {
        RedLayerBuilder::new(Side::Client, name.into())
    }

    /// How many distinct route labels this layer has recorded, `_OTHER`
    /// included.
    pub fn route_labels(&self) -> usize {
        self.shared.table.route_count()
    }
}

impl std::fmt::Debug for RedLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedLayer")
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

/// Builds a [`RedLayer`].
#[derive(Debug)]
pub struct RedLayerBuilder {
    side: Side,
    name: String,
    route_cap: usize,
    routes: RouteSource,
}

impl RedLayerBuilder {
    /// The default cap on distinct route labels.
    pub const DEFAULT_ROUTE_CAP: usize = 64;

    fn new(side: Side, name: String) -> Self {
        RedLayerBuilder {
            side,
            name,
            route_cap: Self::DEFAULT_ROUTE_CAP,
            routes: RouteSource::Auto,
        }
    }

    /// At most this many distinct route labels; later ones count as
    /// `_OTHER`. Bounds the series an unexpected path flood can create.
    pub fn route_cap(mut self, cap: usize) -> Self {
        self.route_cap = cap;
        self
    }

    /// Where route labels come from.
    pub fn routes(mut self, source: RouteSource) -> Self {
        self.routes = source;
        self
    }

    /// Validates and builds the layer.
    pub fn build(self) -> Result<RedLayer, ConfigError> {
        if self.route_cap > 4096 {
            return Err(ConfigError::new(
                "route_cap",
                "at most 4096: each route label multiplies the series a metrics backend stores",
            ));
        }
        if self.name.is_empty() {
            return Err(ConfigError::new("name", "must not be empty"));
        }
        let active_name = match self.side {
            Side::Server => HTTP_SERVER_ACTIVE,
            Side::Client => HTTP_CLIENT_ACTIVE,
        };
        let active = metrics::gauge!(active_name, LABEL_NAME => self.name.clone());
        Ok(RedLayer {
            shared: Arc::new(Shared {
                table: HandleTable::new(self.side, self.name, self.route_cap),
                routes: self.routes,
                active,
            }),
        })
    }
}
