//! The throttle layer.

use std::fmt;
use std::sync::Arc;

use tower_layer::Layer;

use super::config::{ThrottleBuilder, ThrottleConfig};
use super::service::Throttle;
use super::throttler::Throttler;
use crate::ConfigError;

/// Applies [`Throttle`]: client-side adaptive throttling of one
/// dependency.
///
/// The window is created when the layer is built and shared by every
/// service it wraps and every clone (DESIGN.md contract 1): build one
/// layer per dependency.
///
/// ```
/// use buttress_core::classify::HttpClassifier;
/// use buttress_core::{Reason, Rejected};
/// use buttress_limit::throttle::ThrottleLayer;
/// use tower::{ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let throttle = ThrottleLayer::builder()
///     .name("recommendations")
///     .seed(7)
///     .build()
///     .unwrap()
///     .with_classifier(HttpClassifier::default());
/// let svc = ServiceBuilder::new().layer(throttle.clone()).service_fn(|_req: http::Request<()>| async {
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
/// assert_eq!(throttle.probability(), 0.9);
/// # }
/// ```
pub struct ThrottleLayer<C = buttress_core::classify::AnyErrorFails> {
    throttler: Arc<Throttler>,
    classifier: C,
}

impl ThrottleLayer {
    /// A builder with the defaults of [`ThrottleConfig`].
    pub fn builder() -> ThrottleBuilder {
        ThrottleBuilder::default()
    }

    /// A layer from validated settings.
    pub fn from_config(config: ThrottleConfig) -> Result<Self, ConfigError> {
        ThrottleBuilder::from_config(config).build()
    }
}

impl<C> ThrottleLayer<C> {
    pub(crate) fn new(throttler: Arc<Throttler>, classifier: C) -> Self {
        ThrottleLayer {
            throttler,
            classifier,
        }
    }

    /// Judges calls with `classifier` (failures are refusals); the
    /// default, `AnyErrorFails`, fails every `Err` but local rejections.
    pub fn with_classifier<C2>(self, classifier: C2) -> ThrottleLayer<C2> {
        ThrottleLayer::new(self.throttler, classifier)
    }

    /// The chance of rejecting a call locally now.
    pub fn probability(&self) -> f64 {
        self.throttler.probability_now()
    }

    /// Requests and accepts counted in the window now.
    pub fn counts(&self) -> (u64, u64) {
        self.throttler.counts()
    }

    /// The settings the layer was built with.
    pub fn config(&self) -> &ThrottleConfig {
        &self.throttler.config
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

impl<C: fmt::Debug> fmt::Debug for ThrottleLayer<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThrottleLayer")
            .field("config", &self.throttler.config)
            .field("probability", &self.throttler.probability())
            .field("classifier", &self.classifier)
            .finish()
    }
}
