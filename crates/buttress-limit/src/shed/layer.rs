//! The load shedding layer and its handle.

use std::fmt;
use std::sync::Arc;

use buttress_core::Criticality;
use buttress_core::layer::{Bypass, LayerConfig, LayerHandle, Reconfigure, check_name, fixed};
use buttress_core::telemetry::LayerId;
use tower_layer::Layer;

use super::config::{LoadShedLayerBuilder, ShedConfig};
use super::service::LoadShed;
use super::shedder::Shedder;
use crate::ConfigError;

/// Applies [`LoadShed`]: under overload, refuses the least important
/// requests first with [`Reason::Shed`](buttress_core::Reason::Shed) and a
/// retry hint, keeping critical work alive.
///
/// The state (calls in flight, the shed level, the signal's window) is
/// created when the layer is built and shared by every service it wraps
/// and every clone, so that services built per request or per connection
/// (as axum does) all count against one shedder.
///
/// ```
/// use buttress_core::layer::LayerBuilder;
/// use buttress_core::{Criticality, Reason, Rejected, RequestContext};
/// use buttress_limit::shed::{LoadShedLayer, RouteRule, ShedSignalConfig};
/// use tower::{Service, ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let shed = LoadShedLayer::builder()
///     .configure(|c| {
///         c.signal = ShedSignalConfig::InFlight { high: 1, low: 0 };
///         c.routes.push(RouteRule::new("/prefetch/{*rest}", Criticality::Sheddable));
///     })
///     .name("api")
///     .build()
///     .unwrap();
/// let handle = shed.handle();
/// let mut svc = ServiceBuilder::new().layer(shed).service_fn(|_req: http::Request<()>| async {
///     Ok::<_, std::convert::Infallible>("done")
/// });
///
/// let first = svc.ready().await.unwrap().call(http::Request::get("/orders").body(()).unwrap());
/// // Two in flight is above the high mark: shedding starts with the
/// // sheddable class, and the prefetch is refused.
/// let req = http::Request::get("/prefetch/a").body(()).unwrap();
/// let err = svc.ready().await.unwrap().call(req).await.unwrap_err();
/// assert_eq!(Rejected::find(&*err).unwrap().reason(), Reason::Shed);
/// assert_eq!(handle.shedding(), Some(Criticality::Sheddable));
/// // Critical work still passes.
/// assert_eq!(svc.ready().await.unwrap().call(http::Request::get("/orders").body(()).unwrap()).await.unwrap(), "done");
/// assert_eq!(first.await.unwrap(), "done");
/// # }
/// ```
#[derive(Clone)]
pub struct LoadShedLayer {
    shedder: Arc<Shedder>,
}

impl LoadShedLayer {
    /// A builder with the defaults of [`ShedConfig`]: change them with
    /// [`configure`](buttress_core::layer::LayerBuilder::configure); add
    /// a priority closure or a signal of your own.
    pub fn builder() -> LoadShedLayerBuilder {
        LoadShedLayerBuilder::default()
    }

    /// Builds the layer from `config`, reporting to the global sink.
    pub fn from_config(config: &ShedConfig) -> Result<Self, ConfigError> {
        config.build()
    }

    pub(crate) fn new(shedder: Arc<Shedder>) -> Self {
        LoadShedLayer { shedder }
    }

    /// The handle that reads the shedder's state: calls in flight, the
    /// level shed now, its settings.
    pub fn handle(&self) -> LoadShedHandle {
        LoadShedHandle {
            shedder: self.shedder.clone(),
        }
    }
}

impl<S> Layer<S> for LoadShedLayer {
    type Service = LoadShed<S>;

    fn layer(&self, inner: S) -> Self::Service {
        LoadShed::new(inner, Some(self.shedder.clone()))
    }
}

impl<S> Bypass<S> for LoadShedLayer {
    /// Nothing shed, nothing counted.
    fn bypass(inner: S) -> LoadShed<S> {
        LoadShed::new(inner, None)
    }
}

impl fmt::Debug for LoadShedLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadShedLayer")
            .field("config", &self.shedder.config)
            .field("in_flight", &self.shedder.in_flight())
            .finish()
    }
}

/// Reads a [`LoadShedLayer`]'s state; every clone of the layer shares it.
///
/// ```
/// use buttress_core::layer::LayerHandle;
/// use buttress_limit::shed::LoadShedLayer;
///
/// let handle = LoadShedLayer::builder().build().unwrap().handle();
/// assert_eq!(handle.id().name(), "shed");
/// assert_eq!((handle.in_flight(), handle.shedding()), (0, None));
/// ```
#[derive(Clone)]
pub struct LoadShedHandle {
    shedder: Arc<Shedder>,
}

impl LoadShedHandle {
    /// Calls in flight through the layer now.
    pub fn in_flight(&self) -> usize {
        self.shedder.in_flight()
    }

    /// The most important class being shed now (`None`: not shedding).
    /// A level whose cooldown has passed falls first.
    pub fn shedding(&self) -> Option<Criticality> {
        self.shedder.shedding()
    }

    /// The settings the layer runs with now.
    pub fn config(&self) -> ShedConfig {
        let current = self.shedder.current.lock();
        current.unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Reconfigure for LoadShedHandle {
    type Config = ShedConfig;

    fn config(&self) -> ShedConfig {
        LoadShedHandle::config(self)
    }

    /// `escalate_after`, `cooldown`, `relax_ratio` and `retry_after` may
    /// change while the layer runs (the level it is at stays). The
    /// signal, the priority rules and the name are fixed once built.
    ///
    /// ```
    /// use buttress_core::layer::Reconfigure;
    /// use buttress_limit::{LoadShedLayer, ShedConfig};
    /// use std::time::Duration;
    ///
    /// let layer = LoadShedLayer::from_config(&ShedConfig::default()).unwrap();
    /// let handle = layer.handle();
    /// let slower = ShedConfig { cooldown: Duration::from_secs(5), ..ShedConfig::default() };
    /// handle.reconfigure(&slower).unwrap();
    /// assert_eq!(handle.config().cooldown, Duration::from_secs(5));
    /// ```
    fn check(&self, config: &ShedConfig) -> Result<(), ConfigError> {
        config.validate()?;
        check_name(self.id(), config.name.as_deref())?;
        let built = &self.shedder.config;
        fixed("signal", &built.signal, &config.signal)?;
        fixed(
            "default_criticality",
            &built.default_criticality,
            &config.default_criticality,
        )?;
        fixed("health_routes", &built.health_routes, &config.health_routes)?;
        fixed("routes", &built.routes, &config.routes)?;
        fixed("methods", &built.methods, &config.methods)
    }

    fn reconfigure(&self, config: &ShedConfig) -> Result<(), ConfigError> {
        self.check(config)?;
        self.shedder.reconfigure(config);
        Ok(())
    }
}

impl LayerHandle for LoadShedHandle {
    fn id(&self) -> &LayerId {
        self.shedder.telemetry.layer()
    }
}

impl fmt::Debug for LoadShedHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadShedHandle")
            .field("id", self.id())
            .field("in_flight", &self.shedder.in_flight())
            .finish()
    }
}
