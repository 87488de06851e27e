//! The throttle layer and its handle.

use std::fmt;
use std::sync::Arc;

use buttress_core::layer::{
    Bypass, DefaultClassifier, LayerConfig, LayerHandle, Reconfigure, check_name, fixed,
};
use buttress_core::telemetry::LayerId;
use tower_layer::Layer;

use super::config::{ThrottleConfig, ThrottleLayerBuilder};
use super::service::Throttle;
use super::throttler::Throttler;
use crate::ConfigError;

/// Applies [`Throttle`]: client-side adaptive throttling of one
/// dependency.
///
/// The window is created when the layer is built and shared by every
/// service it wraps and every clone, so that every caller of one
/// dependency judges it on the same evidence: build one layer per
/// dependency.
///
/// By default a call is judged by [`DefaultClassifier`]: an HTTP 5xx or
/// 429, or a failing `grpc-status`, is a refusal by the dependency.
///
/// ```
/// use buttress_core::layer::LayerBuilder;
/// use buttress_core::{Reason, Rejected};
/// use buttress_limit::throttle::ThrottleLayer;
/// use tower::{ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let throttle = ThrottleLayer::builder()
///     .configure(|c| c.seed = Some(7))
///     .name("recommendations")
///     .build()
///     .unwrap();
/// let handle = throttle.handle();
/// let svc = ServiceBuilder::new().layer(throttle).service_fn(|_req: http::Request<()>| async {
///     let res = http::Response::builder().status(503).body(()).unwrap();
///     Ok::<_, std::convert::Infallible>(res)
/// });
/// let mut throttled = 0;
/// for _ in 0..100 {
///     match svc.clone().oneshot(http::Request::new(())).await {
///         Ok(res) => assert_eq!(res.status(), 503),
///         Err(err) => {
///             assert_eq!(Rejected::find(&*err).unwrap().reason(), Reason::Throttled);
///             throttled += 1;
///         }
///     }
/// }
/// assert!(throttled > 70, "{throttled}");
/// assert_eq!(handle.probability(), 0.9);
/// # }
/// ```
pub struct ThrottleLayer<C = DefaultClassifier> {
    throttler: Arc<Throttler>,
    classifier: C,
}

impl ThrottleLayer {
    /// A builder with the defaults of [`ThrottleConfig`] (change them with
    /// [`configure`](buttress_core::layer::LayerBuilder::configure)) and
    /// the default classifier.
    pub fn builder() -> ThrottleLayerBuilder {
        ThrottleLayerBuilder::default()
    }

    /// Builds the layer from `config`, reporting to the global sink.
    pub fn from_config(config: &ThrottleConfig) -> Result<Self, ConfigError> {
        config.build()
    }
}

impl<C> ThrottleLayer<C> {
    pub(crate) fn new(throttler: Arc<Throttler>, classifier: C) -> Self {
        ThrottleLayer {
            throttler,
            classifier,
        }
    }

    /// The handle that reads the throttle's window and odds.
    pub fn handle(&self) -> ThrottleHandle {
        ThrottleHandle {
            throttler: self.throttler.clone(),
        }
    }
}

impl<C: Clone> Clone for ThrottleLayer<C> {
    fn clone(&self) -> Self {
        ThrottleLayer::new(self.throttler.clone(), self.classifier.clone())
    }
}

impl<S, C: Clone> Layer<S> for ThrottleLayer<C> {
    type Service = Throttle<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        Throttle::new(inner, self.throttler.clone(), self.classifier.clone())
    }
}

/// Left out of a stack, the throttle is its own service drawing nothing,
/// at the cost of one branch rather than one more level of future.
impl<S, C: Clone> Bypass<S> for ThrottleLayer<C> {
    fn bypass(inner: S) -> Throttle<S, C> {
        Throttle::bypassed(inner)
    }
}

impl<C: fmt::Debug> fmt::Debug for ThrottleLayer<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThrottleLayer")
            .field("config", &self.throttler.config)
            .field("probability", &self.throttler.probability())
            .field("classifier", &self.classifier)
            .finish()
    }
}

/// Reads a [`ThrottleLayer`]'s window and odds; every clone of the layer
/// shares them.
///
/// ```
/// use buttress_core::layer::LayerHandle;
/// use buttress_limit::throttle::ThrottleLayer;
///
/// let handle = ThrottleLayer::builder().build().unwrap().handle();
/// assert_eq!(handle.id().name(), "throttle");
/// assert_eq!((handle.counts(), handle.probability()), ((0, 0), 0.0));
/// ```
#[derive(Clone)]
pub struct ThrottleHandle {
    throttler: Arc<Throttler>,
}

impl ThrottleHandle {
    /// The chance of rejecting a call locally now.
    pub fn probability(&self) -> f64 {
        self.throttler.probability_now()
    }

    /// Requests and accepts counted in the window now.
    pub fn counts(&self) -> (u64, u64) {
        self.throttler.counts()
    }

    /// The settings the layer runs with now.
    pub fn config(&self) -> ThrottleConfig {
        let current = self.throttler.current.lock();
        current.unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Reconfigure for ThrottleHandle {
    type Config = ThrottleConfig;

    fn config(&self) -> ThrottleConfig {
        ThrottleHandle::config(self)
    }

    /// `k`, `max_probability` and `retry_after` may change while the
    /// layer runs (the window's counts stay); the window's span and
    /// buckets, the seed and the name are fixed once built.
    ///
    /// ```
    /// use buttress_core::layer::Reconfigure;
    /// use buttress_limit::{ThrottleConfig, ThrottleLayer};
    ///
    /// let layer = ThrottleLayer::from_config(&ThrottleConfig::default()).unwrap();
    /// let handle = layer.handle();
    /// handle.reconfigure(&ThrottleConfig { k: 1.5, ..ThrottleConfig::default() }).unwrap();
    /// assert_eq!(handle.config().k, 1.5);
    /// let buckets = ThrottleConfig { buckets: 7, ..ThrottleConfig::default() };
    /// assert_eq!(handle.reconfigure(&buckets).unwrap_err().field(), "buckets");
    /// ```
    fn check(&self, config: &ThrottleConfig) -> Result<(), ConfigError> {
        config.validate()?;
        check_name(self.id(), config.name.as_deref())?;
        let built = &self.throttler.config;
        fixed("window", &built.window, &config.window)?;
        fixed("buckets", &built.buckets, &config.buckets)?;
        fixed("seed", &built.seed, &config.seed)
    }

    fn reconfigure(&self, config: &ThrottleConfig) -> Result<(), ConfigError> {
        self.check(config)?;
        self.throttler.reconfigure(config);
        Ok(())
    }
}

impl LayerHandle for ThrottleHandle {
    fn id(&self) -> &LayerId {
        self.throttler.telemetry.layer()
    }
}

impl fmt::Debug for ThrottleHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThrottleHandle")
            .field("id", self.id())
            .field("probability", &self.throttler.probability())
            .finish()
    }
}
