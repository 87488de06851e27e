//! The Buttress side: the ready-made stacks, tuned for the demo's time
//! scale, and one small piece of glue — a criticality gate on B.
//!
//! Priority load shedding is not built yet; until it is, B keeps its
//! critical traffic alive in a 3× spike with what exists: two bulkheads,
//! one per criticality class, chosen by the criticality each request
//! carries in its `RequestContext` (set by the load generator, forwarded
//! by A's client stack, read by B's context layer).

use buttress::core::layer::LayerBuilder;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use buttress::breaker::{BreakerConfig, CircuitBreakerHandle, WindowConfig};
use buttress::context::{ServerContextConfig, TrustConfig};
use buttress::core::classify::HttpClassifier;
use buttress::fallback::FallbackLayer;
use buttress::limit::{Bulkhead, BulkheadLayer};
use buttress::retry::RetryConfig;
use buttress::stack::{ClientStack, ServerStack};
use buttress::{BoxError, Classify, Criticality, Outcome, RequestContext, TrustPolicy};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use tower::{Layer, Service, ServiceBuilder, ServiceExt};

use super::services::Downstream;

fn breaker(window: u32, minimum_calls: u32, failure_rate: f64) -> BreakerConfig {
    BreakerConfig {
        window: WindowConfig::Count { size: window },
        minimum_calls,
        failure_rate,
        wait: Duration::from_secs(1),
        permitted_probes: 3,
        ..BreakerConfig::default()
    }
}

/// B's client for C, which B can do without: a 50 ms timeout, no retries,
/// a breaker that opens after 10 bad calls, and a fallback (an empty
/// part) for every failure and refusal.
pub fn c_client(http: Client<HttpConnector, Empty<Bytes>>) -> (Downstream, CircuitBreakerHandle) {
    let fallback = FallbackLayer::builder()
        .name("c")
        .respond_with(http::Response::new(Bytes::new()))
        .build()
        .expect("a valid fallback");
    let stack = ClientStack::new("c")
        .timeout(Duration::from_millis(50))
        .retry(buttress::stack::Toggle::Off)
        .breaker(breaker(20, 10, 50.0))
        .clone_requests()
        .fallback(fallback)
        .build()
        .expect("a valid client stack");
    let breaker = stack.breaker().expect("configured").clone();
    let client = stack
        .layer(http)
        .map_response(|res| res.map(|body| body.map_err(BoxError::from).boxed()));
    (Downstream::new(client), breaker)
}

/// How A judges B's answers: as the default HTTP classifier does, except
/// that a 503 carrying `Retry-After` — B turning a sheddable request away
/// on purpose, not B failing — counts neither way, so a spike of
/// sheddable traffic neither opens A's breaker nor draws retries.
/// (The client stack's throttle, off by default and here, is the tool that
/// reacts to such refusals.)
fn refusals_are_not_failures(
    result: Result<&http::Response<Incoming>, &(dyn std::error::Error + 'static)>,
) -> Outcome {
    if let Ok(response) = result
        && response.status() == http::StatusCode::SERVICE_UNAVAILABLE
        && response.headers().contains_key(http::header::RETRY_AFTER)
    {
        return Outcome::Ignored;
    }
    HttpClassifier::default().classify(result)
}

/// A's client for B, which A cannot do without: 500 ms per attempt, one
/// retry within the budget (never after a long `Retry-After`), and a
/// breaker.
pub fn b_client(http: Client<HttpConnector, Empty<Bytes>>) -> (Downstream, CircuitBreakerHandle) {
    let retry = RetryConfig {
        max_attempts: 2,
        max_retry_after: Duration::from_millis(100),
        ..RetryConfig::default()
    };
    let stack = ClientStack::new("b")
        .classifier(refusals_are_not_failures)
        .timeout(Duration::from_millis(500))
        .retry(retry)
        .breaker(breaker(50, 10, 50.0))
        .clone_requests()
        .build()
        .expect("a valid client stack");
    let breaker = stack.breaker().expect("configured").clone();
    let client = stack
        .layer(http)
        .map_response(|res| res.map(|body| body.map_err(BoxError::from).boxed()));
    (Downstream::new(client), breaker)
}

/// The context layer of A and B. Everything here is on loopback, so every
/// caller is trusted to send its deadline and criticality.
fn context() -> ServerContextConfig {
    ServerContextConfig {
        trust: TrustConfig::Always,
        ..ServerContextConfig::default()
    }
}

/// A's server stack. Its adaptive limit is left out: without priority
/// shedding it cannot tell critical requests from sheddable ones.
pub fn a_server(router: Router) -> Router {
    let stack = ServerStack::new("a")
        .context(context())
        .adaptive_limit(buttress::stack::Toggle::Off)
        .timeout(Duration::from_secs(2))
        .build()
        .expect("a valid server stack");
    router.layer(stack)
}

/// B's server stack, with the criticality gate inside the edge (so its
/// refusals become 503 + `Retry-After`).
pub fn b_server(router: Router) -> Router {
    let stack = ServerStack::new("b")
        .context(context())
        .adaptive_limit(buttress::stack::Toggle::Off)
        .timeout(Duration::from_secs(1))
        .build()
        .expect("a valid server stack");
    let gate = CriticalityGate {
        sheddable: BulkheadLayer::builder()
            .configure(|c| {
                c.max_concurrent = 1;
                c.retry_after = Duration::from_secs(1);
            })
            .name("b-sheddable")
            .build()
            .expect("a valid bulkhead"),
        critical: BulkheadLayer::builder()
            .configure(|c| c.max_concurrent = 64)
            .name("b-critical")
            .build()
            .expect("a valid bulkhead"),
    };
    router.layer(ServiceBuilder::new().layer(stack).layer(gate))
}

/// Sends sheddable requests through one bulkhead and the rest through
/// another.
#[derive(Clone)]
struct CriticalityGate {
    sheddable: BulkheadLayer,
    critical: BulkheadLayer,
}

impl<S: Clone> Layer<S> for CriticalityGate {
    type Service = Gate<S>;

    fn layer(&self, inner: S) -> Gate<S> {
        Gate {
            sheddable: self.sheddable.layer(inner.clone()),
            critical: self.critical.layer(inner),
        }
    }
}

#[derive(Clone)]
struct Gate<S> {
    sheddable: Bulkhead<S>,
    critical: Bulkhead<S>,
}

impl<S, B> Service<http::Request<B>> for Gate<S>
where
    Bulkhead<S>: Service<http::Request<B>>,
{
    type Response = <Bulkhead<S> as Service<http::Request<B>>>::Response;
    type Error = <Bulkhead<S> as Service<http::Request<B>>>::Error;
    type Future = <Bulkhead<S> as Service<http::Request<B>>>::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Both only pass on the inner service's readiness.
        match self.sheddable.poll_ready(cx) {
            Poll::Ready(Ok(())) => self.critical.poll_ready(cx),
            other => other,
        }
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let level = RequestContext::from_extensions(request.extensions())
            .map(RequestContext::criticality)
            .unwrap_or_default();
        if level < Criticality::Critical {
            self.sheddable.call(request)
        } else {
            self.critical.call(request)
        }
    }
}
