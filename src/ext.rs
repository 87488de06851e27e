//! [`ButtressExt`]: every Buttress layer as a `tower::ServiceBuilder`
//! method, for stacks assembled by hand.

use tower::ServiceBuilder;
use tower_layer::Stack;

use crate::edge::EdgeLayer;
use buttress_core::timeout::TimeoutLayer;

mod sealed {
    pub trait Sealed {}
    impl<L> Sealed for tower::ServiceBuilder<L> {}
}

/// Adds Buttress layers to a `tower::ServiceBuilder`, one method per
/// layer, each taking the built layer. Sealed: only `ServiceBuilder`
/// implements it.
///
/// The names are chosen so that they neither shadow nor are shadowed by
/// `ServiceBuilder`'s own methods (`retry`, `timeout`, `load_shed`,
/// `concurrency_limit`, `rate_limit`, `map_*` are tower's layers, with
/// tower's semantics) nor clash with tower-http's `ServiceBuilderExt`, so
/// both traits can be in scope at once.
///
/// Add layers outermost first, in the order the ready-made stacks use
/// (`buttress::stack`), or use those stacks.
///
/// ```
/// use buttress::ButtressExt;
/// use buttress::core::timeout::TimeoutLayer;
/// use std::time::Duration;
/// use tower::{ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let svc = ServiceBuilder::new()
///     .edge()
///     .deadline_timeout(TimeoutLayer::new(Duration::from_secs(1)).unwrap())
///     .service_fn(|_req: http::Request<()>| async {
///         Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Empty::<bytes::Bytes>::new()))
///     });
/// assert_eq!(svc.oneshot(http::Request::new(())).await.unwrap().status(), 200);
/// # }
/// ```
pub trait ButtressExt<L>: sealed::Sealed + Sized {
    /// The builder itself (what the provided methods add to).
    fn into_service_builder(self) -> ServiceBuilder<L>;

    /// Adds the [`EdgeLayer`]: rejections, errors and panics become
    /// HTTP or gRPC answers.
    fn edge(self) -> ServiceBuilder<Stack<EdgeLayer, L>> {
        self.into_service_builder().layer(EdgeLayer::new())
    }

    /// Adds core's deadline-aware [`TimeoutLayer`]: a call ends at its
    /// limit or at the request's deadline, whichever comes first.
    fn deadline_timeout(self, layer: TimeoutLayer) -> ServiceBuilder<Stack<TimeoutLayer, L>> {
        self.into_service_builder().layer(layer)
    }

    /// Adds a circuit breaker.
    #[cfg(feature = "breaker")]
    fn circuit_breaker<C>(
        self,
        layer: buttress_breaker::CircuitBreakerLayer<C>,
    ) -> ServiceBuilder<Stack<buttress_breaker::CircuitBreakerLayer<C>, L>> {
        self.into_service_builder().layer(layer)
    }

    /// Adds one circuit breaker per key (host, route, tenant).
    #[cfg(feature = "breaker")]
    fn keyed_circuit_breaker<K, E, C>(
        self,
        layer: buttress_breaker::KeyedCircuitBreakerLayer<K, E, C>,
    ) -> ServiceBuilder<Stack<buttress_breaker::KeyedCircuitBreakerLayer<K, E, C>, L>> {
        self.into_service_builder().layer(layer)
    }

    /// Adds a bulkhead (a global or per-key concurrency cap with a
    /// bounded queue).
    #[cfg(feature = "limit")]
    fn bulkhead<K, R>(
        self,
        layer: buttress_limit::BulkheadLayer<K, R>,
    ) -> ServiceBuilder<Stack<buttress_limit::BulkheadLayer<K, R>, L>> {
        self.into_service_builder().layer(layer)
    }

    /// Adds an adaptive concurrency limit.
    #[cfg(feature = "limit")]
    fn adaptive_limit<C>(
        self,
        layer: buttress_limit::AdaptiveLimitLayer<C>,
    ) -> ServiceBuilder<Stack<buttress_limit::AdaptiveLimitLayer<C>, L>> {
        self.into_service_builder().layer(layer)
    }

    /// Adds priority load shedding (by criticality, with hysteresis).
    #[cfg(feature = "limit")]
    fn priority_shedding(
        self,
        layer: buttress_limit::LoadShedLayer,
    ) -> ServiceBuilder<Stack<buttress_limit::LoadShedLayer, L>> {
        self.into_service_builder().layer(layer)
    }

    /// Adds client-side adaptive throttling.
    #[cfg(feature = "limit")]
    fn client_throttle<C>(
        self,
        layer: buttress_limit::ThrottleLayer<C>,
    ) -> ServiceBuilder<Stack<buttress_limit::ThrottleLayer<C>, L>> {
        self.into_service_builder().layer(layer)
    }

    /// Adds per-caller rate limiting (GCRA per key, quotas per class).
    #[cfg(feature = "limit")]
    fn caller_rate_limit(
        self,
        layer: buttress_limit::RateLimitLayer,
    ) -> ServiceBuilder<Stack<buttress_limit::RateLimitLayer, L>> {
        self.into_service_builder().layer(layer)
    }

    /// Adds Buttress's retry (budgeted, idempotency-aware, deadline-bound).
    #[cfg(feature = "retry")]
    fn retry_policy<P, C>(
        self,
        layer: buttress_retry::RetryLayer<P, C>,
    ) -> ServiceBuilder<Stack<buttress_retry::RetryLayer<P, C>, L>> {
        self.into_service_builder().layer(layer)
    }

    /// Adds fallback answers for failed or refused calls.
    #[cfg(feature = "fallback")]
    fn fallback<C>(
        self,
        layer: buttress_fallback::FallbackLayer<C>,
    ) -> ServiceBuilder<Stack<buttress_fallback::FallbackLayer<C>, L>> {
        self.into_service_builder().layer(layer)
    }

    /// Adds the server context layer (correlation ID, trace, deadline,
    /// criticality from trusted callers).
    #[cfg(feature = "context")]
    fn server_context(
        self,
        layer: buttress_context::ServerContextLayer,
    ) -> ServiceBuilder<Stack<buttress_context::ServerContextLayer, L>> {
        self.into_service_builder().layer(layer)
    }

    /// Adds the client context layer (forwards ID, trace, remaining
    /// deadline and criticality).
    #[cfg(feature = "context")]
    fn client_context(
        self,
        layer: buttress_context::ClientContextLayer,
    ) -> ServiceBuilder<Stack<buttress_context::ClientContextLayer, L>> {
        self.into_service_builder().layer(layer)
    }

    /// Adds RED metrics (rate, errors, duration).
    #[cfg(feature = "metrics")]
    fn red_metrics(
        self,
        layer: buttress_metrics::RedLayer,
    ) -> ServiceBuilder<Stack<buttress_metrics::RedLayer, L>> {
        self.into_service_builder().layer(layer)
    }

    /// Adds fault injection.
    #[cfg(feature = "chaos")]
    fn fault_injection(
        self,
        layer: buttress_chaos::ChaosLayer,
    ) -> ServiceBuilder<Stack<buttress_chaos::ChaosLayer, L>> {
        self.into_service_builder().layer(layer)
    }
}

impl<L> ButtressExt<L> for ServiceBuilder<L> {
    fn into_service_builder(self) -> ServiceBuilder<L> {
        self
    }
}
