//! The breaker layer.

use std::fmt;
use std::sync::Arc;

use buttress_core::layer::{Bypass, DefaultClassifier, LayerConfig};
use tower_layer::Layer;

use crate::config::{BreakerConfig, CircuitBreakerLayerBuilder, ConfigError};
use crate::handle::CircuitBreakerHandle;
use crate::service::CircuitBreaker;
use crate::shared::{Breaker, Lanes, Policy};

/// Wraps services in a [`CircuitBreaker`] that they all share.
///
/// Built the way every Buttress layer is (see [`buttress_core::layer`]):
/// in code with [`builder`](Self::builder), from data with
/// [`from_config`](Self::from_config) or
/// [`LayerConfig::build_in`](buttress_core::layer::LayerConfig::build_in);
/// read and steered through [`handle`](Self::handle). Answers are judged
/// by [`DefaultClassifier`] unless the builder is given another.
///
/// The breaker's state is created when the layer is built; `layer()` and
/// `clone()` share it and never create it, so under `axum::serve` (which
/// applies a route's layers per connection and per request) one breaker
/// still sees all the traffic.
///
/// ```
/// use buttress_breaker::{CircuitBreakerLayer, State, WindowConfig};
/// use buttress_core::classify::AnyErrorFails;
/// use buttress_core::layer::LayerBuilder;
/// use std::time::Duration;
/// use tower::{ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let layer = CircuitBreakerLayer::builder()
///     .configure(|c| {
///         c.window = WindowConfig::Count { size: 10 };
///         c.minimum_calls = 4;
///         c.wait = Duration::from_secs(5);
///     })
///     .name("inventory")
///     .classifier(AnyErrorFails)
///     .build()
///     .unwrap();
/// let handle = layer.handle();
///
/// let svc = ServiceBuilder::new().layer(layer).service_fn(|_: ()| async {
///     Err::<(), _>(std::io::Error::other("connection refused"))
/// });
/// for _ in 0..4 {
///     let _ = svc.clone().oneshot(()).await;
/// }
/// assert_eq!(handle.state(), State::Open);
///
/// let err = svc.clone().oneshot(()).await.unwrap_err();
/// let rejected = buttress_core::Rejected::find(&*err).unwrap();
/// assert_eq!(rejected.reason(), buttress_core::Reason::CircuitOpen);
/// assert!(rejected.retry_after().unwrap() <= Duration::from_secs(5));
/// # }
/// ```
pub struct CircuitBreakerLayer<C = DefaultClassifier> {
    lanes: Lanes,
    classifier: C,
}

impl CircuitBreakerLayer {
    /// A builder with the documented defaults (see [`BreakerConfig`]):
    /// set data with `.configure(..)` or `.with_config(..)`, from
    /// [`LayerBuilder`](buttress_core::layer::LayerBuilder).
    pub fn builder() -> CircuitBreakerLayerBuilder {
        CircuitBreakerLayerBuilder::default()
    }

    /// A breaker from `config`, judging answers with
    /// [`DefaultClassifier`], reporting to the global telemetry sink.
    pub fn from_config(config: &BreakerConfig) -> Result<Self, ConfigError> {
        config.build()
    }
}

impl<C> CircuitBreakerLayer<C> {
    pub(crate) fn new(policy: Arc<Policy>, metrics_only: bool, classifier: C) -> Self {
        let breaker = Arc::new(Breaker::new(policy, metrics_only));
        // A sink installed after this breaker was built (and tripped)
        // learns its state when it binds.
        breaker.policy.telemetry.replay_on_bind(&breaker);
        breaker
            .policy
            .telemetry
            .describe_config(&breaker.policy, |p| &p.config);
        CircuitBreakerLayer {
            lanes: crate::shared::lanes_for(&breaker),
            classifier,
        }
    }

    /// The handle that reads and steers the breaker (every clone of the
    /// layer, and every service it built, share it).
    pub fn handle(&self) -> CircuitBreakerHandle {
        CircuitBreakerHandle::single(self.lanes[0].breaker.clone())
    }

    pub(crate) fn lanes(&self) -> &Lanes {
        &self.lanes
    }

    pub(crate) fn classifier(&self) -> &C {
        &self.classifier
    }
}

impl<C: Clone> Clone for CircuitBreakerLayer<C> {
    fn clone(&self) -> Self {
        CircuitBreakerLayer {
            lanes: self.lanes.clone(),
            classifier: self.classifier.clone(),
        }
    }
}

impl<C> fmt::Debug for CircuitBreakerLayer<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerLayer")
            .field("breaker", &self.lanes[0].breaker.policy.telemetry.layer())
            .field("state", &self.lanes[0].breaker.machine.state())
            .finish()
    }
}

impl<S, C: Clone> Layer<S> for CircuitBreakerLayer<C> {
    type Service = CircuitBreaker<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        CircuitBreaker::new(inner, self.lanes.clone(), self.classifier.clone())
    }
}

/// Left out of a stack, the breaker is its own service deciding nothing,
/// at the cost of one branch rather than one more level of future.
impl<S, C: Clone> Bypass<S> for CircuitBreakerLayer<C> {
    fn bypass(inner: S) -> CircuitBreaker<S, C> {
        CircuitBreaker::bypassed(inner)
    }
}
