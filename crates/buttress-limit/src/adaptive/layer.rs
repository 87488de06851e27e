//! The adaptive limit layer.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tower_layer::Layer;

use super::config::{AdaptiveLimitBuilder, AdaptiveLimitConfig};
use super::limiter::Limiter;
use super::service::AdaptiveLimit;
use crate::ConfigError;

/// Applies an [`AdaptiveLimit`]: a concurrency limit that follows the
/// dependency's measured latency, with a bounded CoDel queue in front.
///
/// The limiter is created when the layer is built and shared by every
/// service it wraps and every clone (DESIGN.md contract 1).
///
/// ```
/// use buttress_core::classify::HttpClassifier;
/// use buttress_limit::adaptive::{AdaptiveLimitLayer, Vegas};
/// use tower::{ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let layer = AdaptiveLimitLayer::builder()
///     .name("search")
///     .vegas(Vegas::default())
///     .limits(4, 20, 400)
///     .build()
///     .unwrap()
///     .with_classifier(HttpClassifier::default());
/// let svc = ServiceBuilder::new().layer(layer.clone()).service_fn(|_req: http::Request<()>| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(()))
/// });
/// let res = svc.oneshot(http::Request::new(())).await.unwrap();
/// assert_eq!(res.status(), 200);
/// assert_eq!(layer.limit(), 20);
/// # }
/// ```
pub struct AdaptiveLimitLayer<C = buttress_core::classify::AnyErrorFails> {
    limiter: Arc<Limiter>,
    classifier: C,
}

impl AdaptiveLimitLayer {
    /// A builder with the defaults of [`AdaptiveLimitConfig`].
    pub fn builder() -> AdaptiveLimitBuilder {
        AdaptiveLimitBuilder::default()
    }

    /// A layer from validated settings.
    pub fn from_config(config: AdaptiveLimitConfig) -> Result<Self, ConfigError> {
        AdaptiveLimitBuilder::from_config(config).build()
    }
}

impl<C> AdaptiveLimitLayer<C> {
    pub(crate) fn new(limiter: Arc<Limiter>, classifier: C) -> Self {
        AdaptiveLimitLayer {
            limiter,
            classifier,
        }
    }

    /// Judges calls with `classifier` (failures are drops); the default,
    /// `AnyErrorFails`, fails every `Err` but local rejections.
    pub fn with_classifier<C2>(self, classifier: C2) -> AdaptiveLimitLayer<C2> {
        AdaptiveLimitLayer::new(self.limiter, classifier)
    }

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

    /// The settings the layer was built with.
    pub fn config(&self) -> &AdaptiveLimitConfig {
        &self.limiter.config
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
        AdaptiveLimit::new(inner, self.limiter.clone(), self.classifier.clone())
    }
}

impl<C: fmt::Debug> fmt::Debug for AdaptiveLimitLayer<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdaptiveLimitLayer")
            .field("limit", &self.limit())
            .field("in_flight", &self.in_flight())
            .field("classifier", &self.classifier)
            .finish()
    }
}
