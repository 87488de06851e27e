//! tower-resilience 0.13, the Rust peer users weigh Buttress against:
//! its circuit breaker, bulkhead, retry, time limiter and adaptive
//! limiter alone, and its stacks in the order its own docs recommend
//! (`composition::ordering`), configured as Buttress' defaults are.

use std::time::Duration;

use buttress_benches::Bare;
use http::Request;
use tower::ServiceBuilder;
use tower::util::MapRequestLayer;
use tower_resilience::adaptive::{AdaptiveLimiterLayer, Aimd};
use tower_resilience::bulkhead::BulkheadLayer;
use tower_resilience::circuitbreaker::CircuitBreakerLayer;
use tower_resilience::retry::RetryLayer;
use tower_resilience::timelimiter::TimeLimiterLayer;

use super::variants::Visit;

/// `http::Request<()>` as tower-resilience's retry needs it (`Req:
/// Clone`): a copy is rebuilt from the parts, as tower's retry policy in
/// `variants.rs` and Buttress' `clone_requests` do.
struct Cloneable(Request<()>);

impl Clone for Cloneable {
    fn clone(&self) -> Self {
        let mut copy = Request::new(());
        *copy.method_mut() = self.0.method().clone();
        *copy.uri_mut() = self.0.uri().clone();
        *copy.headers_mut() = self.0.headers().clone();
        Cloneable(copy)
    }
}

/// Into and out of [`Cloneable`], around a retry.
fn wrap() -> MapRequestLayer<fn(Request<()>) -> Cloneable> {
    MapRequestLayer::new(Cloneable)
}
fn unwrap() -> MapRequestLayer<fn(Cloneable) -> Request<()>> {
    MapRequestLayer::new(|Cloneable(request)| request)
}

fn breaker() -> CircuitBreakerLayer {
    // Buttress' default: the last 100 calls, 50 % failures.
    CircuitBreakerLayer::builder()
        .failure_rate_threshold(0.5)
        .sliding_window_size(100)
        .build()
        .expect("a valid breaker")
}

fn bulkhead(max: usize) -> BulkheadLayer {
    BulkheadLayer::builder()
        .max_concurrent_calls(max)
        .build()
        .expect("a valid bulkhead")
}

fn time_limiter(limit: Duration) -> TimeLimiterLayer {
    TimeLimiterLayer::builder().timeout_duration(limit).build()
}

/// Visits each tower-resilience layer alone over the bare service, and
/// its client and server stacks.
pub(crate) fn each_resilience(visit: &mut impl Visit) {
    visit.visit(
        "resilience_breaker",
        ServiceBuilder::new().layer(breaker()).service(Bare),
    );
    visit.visit(
        "resilience_bulkhead",
        ServiceBuilder::new().layer(bulkhead(1024)).service(Bare),
    );
    visit.visit(
        "resilience_time_limiter",
        ServiceBuilder::new()
            .layer(time_limiter(Duration::from_secs(1)))
            .service(Bare),
    );
    // Pinned at 1,024, as the Buttress adaptive limit it is compared with.
    let aimd = Aimd::builder()
        .initial_limit(1024)
        .min_limit(1024)
        .max_limit(1024)
        .build()
        .expect("a valid AIMD");
    visit.visit(
        "resilience_adaptive",
        ServiceBuilder::new()
            .layer(AdaptiveLimiterLayer::new(aimd))
            .service(Bare),
    );
    visit.visit(
        "resilience_retry",
        ServiceBuilder::new()
            .layer(wrap())
            .layer(
                RetryLayer::<Cloneable, _, _>::builder()
                    .max_attempts(3)
                    .build(),
            )
            .layer(unwrap())
            .service(Bare),
    );
    // Client, outermost first as the docs recommend: total timeout →
    // retry → circuit breaker → bulkhead → per-call timeout; Buttress'
    // client defaults (3 attempts, 64 calls, 2 s per attempt).
    let client = ServiceBuilder::new()
        .layer(wrap())
        .layer(time_limiter(Duration::from_secs(10)))
        .layer(
            RetryLayer::<Cloneable, _, _>::builder()
                .max_attempts(3)
                .build(),
        )
        .layer(breaker())
        .layer(bulkhead(64))
        .layer(time_limiter(Duration::from_secs(2)))
        .layer(unwrap())
        .service(Bare);
    visit.visit("resilience_client", client);
    // Server, as the docs recommend (rate limiter → bulkhead → timeout;
    // no rate limit, as Buttress' server defaults have none), with the
    // adaptive limiter Buttress' server stack has: bulkhead → adaptive →
    // 10 s timeout.
    let aimd = Aimd::builder().build().expect("the default AIMD");
    let server = ServiceBuilder::new()
        .layer(bulkhead(1_000))
        .layer(AdaptiveLimiterLayer::new(aimd))
        .layer(time_limiter(Duration::from_secs(10)))
        .service(Bare);
    visit.visit("resilience_server", server);
}
