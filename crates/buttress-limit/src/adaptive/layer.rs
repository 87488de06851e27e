//! The adaptive limit layer and its handle.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use buttress_core::layer::{
    Bypass, DefaultClassifier, LayerConfig, LayerHandle, Reconfigure, check_name, fixed,
};
use buttress_core::telemetry::LayerId;
use tower_layer::Layer;

use super::builder::AdaptiveLimitLayerBuilder;
use super::config::AdaptiveLimitConfig;
use super::limiter::Limiter;
use super::service::AdaptiveLimit;
use crate::ConfigError;

/// Applies an [`AdaptiveLimit`]: a concurrency limit that follows the
/// dependency's measured latency, with a bounded CoDel queue in front.
///
/// The limiter is created when the layer is built and shared by every
/// service it wraps and every clone, so a router that applies its layers
/// per connection still counts against one limit. Calls are judged by
/// the classifier `C` (default [`DefaultClassifier`]: HTTP status, or
/// `grpc-status` when present): its failures are drops.
///
/// ```
/// use buttress_core::layer::LayerBuilder;
/// use buttress_limit::adaptive::{AdaptiveLimitLayer, Algorithm, Vegas};
/// use tower::{ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let layer = AdaptiveLimitLayer::builder()
///     .configure(|c| {
///         c.algorithm = Algorithm::Vegas(Vegas::default());
///         c.max_limit = 400;
///     })
///     .name("search")
///     .build()
///     .unwrap();
/// let handle = layer.handle();
/// let svc = ServiceBuilder::new().layer(layer).service_fn(|_req: http::Request<()>| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(()))
/// });
/// let res = svc.oneshot(http::Request::new(())).await.unwrap();
/// assert_eq!(res.status(), 200);
/// assert_eq!((handle.limit(), handle.in_flight()), (20, 0));
/// # }
/// ```
pub struct AdaptiveLimitLayer<C = DefaultClassifier> {
    limiter: Arc<Limiter>,
    classifier: C,
}

impl AdaptiveLimitLayer {
    /// A builder, starting from the defaults of [`AdaptiveLimitConfig`].
    pub fn builder() -> AdaptiveLimitLayerBuilder {
        AdaptiveLimitLayerBuilder::default()
    }

    /// Builds the layer from `config`, reporting to the global sink.
    pub fn from_config(config: &AdaptiveLimitConfig) -> Result<Self, ConfigError> {
        config.build()
    }
}

impl<C> AdaptiveLimitLayer<C> {
    pub(crate) fn new(limiter: Arc<Limiter>, classifier: C) -> Self {
        AdaptiveLimitLayer {
            limiter,
            classifier,
        }
    }

    /// The handle that reads the limit and its gauges.
    pub fn handle(&self) -> AdaptiveLimitHandle {
        AdaptiveLimitHandle {
            limiter: self.limiter.clone(),
        }
    }
}

impl<C: Clone> Clone for AdaptiveLimitLayer<C> {
    fn clone(&self) -> Self {
        AdaptiveLimitLayer::new(self.limiter.clone(), self.classifier.clone())
    }
}

impl<S, C: Clone> Layer<S> for AdaptiveLimitLayer<C> {
    type Service = AdaptiveLimit<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        AdaptiveLimit::new(inner, Some(self.limiter.clone()), self.classifier.clone())
    }
}

impl<S, C: Clone + Default> Bypass<S> for AdaptiveLimitLayer<C> {
    /// No limit, nothing learned.
    fn bypass(inner: S) -> AdaptiveLimit<S, C> {
        AdaptiveLimit::new(inner, None, C::default())
    }
}

impl<C: fmt::Debug> fmt::Debug for AdaptiveLimitLayer<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdaptiveLimitLayer")
            .field("handle", &self.handle())
            .field("classifier", &self.classifier)
            .finish()
    }
}

/// Reads an [`AdaptiveLimitLayer`]'s limit and gauges, shared with every
/// clone of the layer and every service it wrapped.
///
/// ```
/// use buttress_core::layer::LayerHandle;
/// use buttress_limit::adaptive::{AdaptiveLimitConfig, AdaptiveLimitLayer};
/// use std::time::Duration;
///
/// let config = AdaptiveLimitConfig {
///     min_limit: 2,
///     initial_limit: Some(8),
///     max_limit: 64,
///     ..AdaptiveLimitConfig::default()
/// };
/// let handle = AdaptiveLimitLayer::from_config(&config).unwrap().handle();
/// assert_eq!(handle.id().name(), "adaptive_limit");
/// assert_eq!((handle.limit(), handle.in_flight(), handle.queued()), (8, 0, 0));
/// assert_eq!(handle.min_rtt(), Duration::ZERO); // no window closed yet
/// ```
#[derive(Clone)]
pub struct AdaptiveLimitHandle {
    limiter: Arc<Limiter>,
}

impl AdaptiveLimitHandle {
    /// The current limit.
    pub fn limit(&self) -> usize {
        self.limiter.pool.limit()
    }

    /// The current limit before rounding (takes the controller's lock; for
    /// tests and diagnostics).
    pub fn limit_exact(&self) -> f64 {
        self.limiter.limit_exact()
    }

    /// Calls in flight now.
    pub fn in_flight(&self) -> usize {
        self.limiter.pool.in_flight()
    }

    /// Callers waiting now.
    pub fn queued(&self) -> usize {
        self.limiter.pool.queued()
    }

    /// The no-load round trip measured last (zero before the first window).
    pub fn min_rtt(&self) -> Duration {
        self.limiter.no_load_rtt()
    }

    /// The settings the layer runs with now.
    pub fn config(&self) -> AdaptiveLimitConfig {
        let current = self.limiter.current.lock();
        current.unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Reconfigure for AdaptiveLimitHandle {
    type Config = AdaptiveLimitConfig;

    fn config(&self) -> AdaptiveLimitConfig {
        AdaptiveLimitHandle::config(self)
    }

    /// `min_limit` and `max_limit` (a limit outside them moves inside at
    /// once; the controller goes on from there), `max_wait`,
    /// `codel_target`, `codel_interval` and `retry_after` may change while
    /// the layer runs. The algorithm, the window and its judging
    /// (`window`, `window_min_calls`, `drop_above`, `baseline_windows`),
    /// the probes, the queue's capacity and order, `initial_limit`, the
    /// seed and the name are fixed once built.
    ///
    /// ```
    /// use buttress_core::layer::Reconfigure;
    /// use buttress_limit::{AdaptiveLimitConfig, AdaptiveLimitLayer};
    ///
    /// let layer = AdaptiveLimitLayer::from_config(&AdaptiveLimitConfig::default()).unwrap();
    /// let handle = layer.handle();
    /// assert_eq!(handle.limit(), 20);
    /// handle.reconfigure(&AdaptiveLimitConfig { max_limit: 10, ..Default::default() }).unwrap();
    /// assert_eq!(handle.limit(), 10);
    /// let window = AdaptiveLimitConfig { window: std::time::Duration::from_secs(3), ..Default::default() };
    /// assert_eq!(handle.reconfigure(&window).unwrap_err().field(), "window");
    /// ```
    fn check(&self, config: &AdaptiveLimitConfig) -> Result<(), ConfigError> {
        config.validate()?;
        check_name(self.id(), config.name.as_deref())?;
        let built = &self.limiter.config;
        fixed("algorithm", &built.algorithm, &config.algorithm)?;
        fixed("window", &built.window, &config.window)?;
        fixed(
            "window_min_calls",
            &built.window_min_calls,
            &config.window_min_calls,
        )?;
        fixed("drop_above", &built.drop_above, &config.drop_above)?;
        fixed(
            "baseline_windows",
            &built.baseline_windows,
            &config.baseline_windows,
        )?;
        fixed(
            "probe_interval",
            &built.probe_interval,
            &config.probe_interval,
        )?;
        fixed("probe_jitter", &built.probe_jitter, &config.probe_jitter)?;
        fixed(
            "queue_capacity",
            &built.queue_capacity,
            &config.queue_capacity,
        )?;
        fixed("order", &built.order, &config.order)?;
        fixed("initial_limit", &built.initial_limit, &config.initial_limit)?;
        fixed("seed", &built.seed, &config.seed)
    }

    fn reconfigure(&self, config: &AdaptiveLimitConfig) -> Result<(), ConfigError> {
        self.check(config)?;
        self.limiter.reconfigure(config);
        Ok(())
    }
}

impl LayerHandle for AdaptiveLimitHandle {
    fn id(&self) -> &LayerId {
        self.limiter.telemetry.layer()
    }
}

impl fmt::Debug for AdaptiveLimitHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdaptiveLimitHandle")
            .field("id", self.id())
            .field("limit", &self.limit())
            .field("in_flight", &self.in_flight())
            .field("queued", &self.queued())
            .finish()
    }
}
