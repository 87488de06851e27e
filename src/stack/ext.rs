//! [`ServiceBuilderExt`]: Buttress layers as `ServiceBuilder` methods, for
//! stacks assembled by hand.

use std::time::Duration;

use buttress_core::timeout::TimeoutLayer;
use tower::ServiceBuilder;
use tower_layer::Stack;

use crate::edge::EdgeLayer;

mod sealed {
    pub trait Sealed {}
    impl<L> Sealed for tower::ServiceBuilder<L> {}
}

/// Adds Buttress layers to a `tower::ServiceBuilder`, à la carte. Sealed:
/// only `ServiceBuilder` implements it. Add layers outermost first, in
/// DESIGN.md's order, or use the ready-made stacks
/// (`ServerStack`, `ClientStack`, feature `stack`).
///
/// ```
/// use buttress::stack::ServiceBuilderExt;
/// use std::time::Duration;
/// use tower::{ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let svc = ServiceBuilder::new()
///     .edge()
///     .deadline_timeout(Duration::from_secs(1))
///     .service_fn(|_req: http::Request<()>| async {
///         Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Empty::<bytes::Bytes>::new()))
///     });
/// assert_eq!(svc.oneshot(http::Request::new(())).await.unwrap().status(), 200);
/// # }
/// ```
pub trait ServiceBuilderExt<L>: sealed::Sealed + Sized {
    /// Adds the [`EdgeLayer`]: rejections, errors and panics become
    /// answers.
    fn edge(self) -> ServiceBuilder<Stack<EdgeLayer, L>>;

    /// Adds core's deadline-aware [`TimeoutLayer`] with `limit`.
    ///
    /// # Panics
    ///
    /// If `limit` is zero.
    fn deadline_timeout(self, limit: Duration) -> ServiceBuilder<Stack<TimeoutLayer, L>>;

    /// Adds a circuit breaker.
    #[cfg(feature = "breaker")]
    fn circuit_breaker<C>(
        self,
        layer: buttress_breaker::CircuitBreakerLayer<C>,
    ) -> ServiceBuilder<Stack<buttress_breaker::CircuitBreakerLayer<C>, L>>;

    /// Adds a bulkhead.
    #[cfg(feature = "limit")]
    fn bulkhead<K, R>(
        self,
        layer: buttress_limit::BulkheadLayer<K, R>,
    ) -> ServiceBuilder<Stack<buttress_limit::BulkheadLayer<K, R>, L>>;

    /// Adds an adaptive concurrency limit.
    #[cfg(feature = "limit")]
    fn adaptive_limit<C>(
        self,
        layer: buttress_limit::adaptive::AdaptiveLimitLayer<C>,
    ) -> ServiceBuilder<Stack<buttress_limit::adaptive::AdaptiveLimitLayer<C>, L>>;

    /// Adds a retry.
    #[cfg(feature = "retry")]
    fn retry<P, C>(
        self,
        layer: buttress_retry::RetryLayer<P, C>,
    ) -> ServiceBuilder<Stack<buttress_retry::RetryLayer<P, C>, L>>;

    /// Adds the server context layer.
    #[cfg(feature = "context")]
    fn server_context(
        self,
        layer: buttress_context::ServerContextLayer,
    ) -> ServiceBuilder<Stack<buttress_context::ServerContextLayer, L>>;

    /// Adds the client context layer.
    #[cfg(feature = "context")]
    fn client_context(
        self,
        layer: buttress_context::ClientContextLayer,
    ) -> ServiceBuilder<Stack<buttress_context::ClientContextLayer, L>>;

    /// Adds RED metrics.
    #[cfg(feature = "metrics")]
    fn red_metrics(
        self,
        layer: buttress_metrics::RedLayer,
    ) -> ServiceBuilder<Stack<buttress_metrics::RedLayer, L>>;

    /// Adds fault injection.
    #[cfg(feature = "chaos")]
    fn chaos(
        self,
        layer: buttress_chaos::ChaosLayer,
    ) -> ServiceBuilder<Stack<buttress_chaos::ChaosLayer, L>>;
}

impl<L> ServiceBuilderExt<L> for ServiceBuilder<L> {
    fn edge(self) -> ServiceBuilder<Stack<EdgeLayer, L>> {
        self.layer(EdgeLayer::new())
    }

    fn deadline_timeout(self, limit: Duration) -> ServiceBuilder<Stack<TimeoutLayer, L>> {
        self.layer(TimeoutLayer::new(limit).expect("a valid timeout"))
    }

    #[cfg(feature = "breaker")]
    fn circuit_breaker<C>(
        self,
        layer: buttress_breaker::CircuitBreakerLayer<C>,
    ) -> ServiceBuilder<Stack<buttress_breaker::CircuitBreakerLayer<C>, L>> {
        self.layer(layer)
    }

    #[cfg(feature = "limit")]
    fn bulkhead<K, R>(
        self,
        layer: buttress_limit::BulkheadLayer<K, R>,
    ) -> ServiceBuilder<Stack<buttress_limit::BulkheadLayer<K, R>, L>> {
        self.layer(layer)
    }

    #[cfg(feature = "limit")]
    fn adaptive_limit<C>(
        self,
        layer: buttress_limit::adaptive::AdaptiveLimitLayer<C>,
    ) -> ServiceBuilder<Stack<buttress_limit::adaptive::AdaptiveLimitLayer<C>, L>> {
        self.layer(layer)
    }

    #[cfg(feature = "retry")]
    fn retry<P, C>(
        self,
        layer: buttress_retry::RetryLayer<P, C>,
    ) -> ServiceBuilder<Stack<buttress_retry::RetryLayer<P, C>, L>> {
        self.layer(layer)
    }

    #[cfg(feature = "context")]
    fn server_context(
        self,
        layer: buttress_context::ServerContextLayer,
    ) -> ServiceBuilder<Stack<buttress_context::ServerContextLayer, L>> {
        self.layer(layer)
    }

    #[cfg(feature = "context")]
    fn client_context(
        self,
        layer: buttress_context::ClientContextLayer,
    ) -> ServiceBuilder<Stack<buttress_context::ClientContextLayer, L>> {
        self.layer(layer)
    }

    #[cfg(feature = "metrics")]
    fn red_metrics(
        self,
        layer: buttress_metrics::RedLayer,
    ) -> ServiceBuilder<Stack<buttress_metrics::RedLayer, L>> {
        self.layer(layer)
    }

    #[cfg(feature = "chaos")]
    fn chaos(
        self,
        layer: buttress_chaos::ChaosLayer,
    ) -> ServiceBuilder<Stack<buttress_chaos::ChaosLayer, L>> {
        self.layer(layer)
    }
}
