//! A circuit breaker in front of a real axum handler, asked by a real
//! HTTP client over 127.0.0.1: it trips on 500s, answers 503 with
//! `Retry-After` without calling the dependency, and closes again once
//! the dependency recovers.

mod support;

use buttress::core::layer::LayerBuilder;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use buttress::breaker::{CircuitBreakerLayer, State, WindowConfig};
use buttress::edge::EdgeLayer;
use support::Connection;
use tower::ServiceBuilder;

#[derive(Default)]
struct Dependency {
    failing: AtomicBool,
    hits: AtomicUsize,
}

#[tokio::test]
async fn a_failing_dependency_trips_the_breaker_and_recovery_closes_it() {
    let dependency = Arc::new(Dependency::default());
    dependency.failing.store(true, Ordering::SeqCst);
    let breaker = CircuitBreakerLayer::builder()
        .configure(|c| {
            c.window = WindowConfig::Count { size: 10 };
            c.minimum_calls = 5;
            c.failure_rate = 50.0;
            c.wait = Duration::from_millis(300);
            c.permitted_probes = 2;
        })
        .name("orders")
        .build()
        .unwrap();
    let handle = breaker.handle();
    let state = dependency.clone();
    let app = Router::new()
        .route(
            "/orders",
            get(move || {
                let state = state.clone();
                async move {
                    state.hits.fetch_add(1, Ordering::SeqCst);
                    if state.failing.load(Ordering::SeqCst) {
                        (StatusCode::INTERNAL_SERVER_ERROR, "down")
                    } else {
                        (StatusCode::OK, "orders")
                    }
                }
            }),
        )
        .layer(ServiceBuilder::new().layer(EdgeLayer::new()).layer(breaker));
    let addr = support::serve_app(app).await;
    let mut conn = Connection::open(addr).await;

    for _ in 0..5 {
        assert_eq!(conn.get("/orders", &[]).await.status, 500);
    }
    assert_eq!(handle.state(), State::Open);
    let hits_at_trip = dependency.hits.load(Ordering::SeqCst);
    assert_eq!(hits_at_trip, 5);

    for _ in 0..20 {
        let answer = conn.get("/orders", &[]).await;
        assert_eq!(answer.status, 503);
        assert_eq!(
            answer.headers["retry-after"], "1",
            "300 ms rounds up to 1 s"
        );
        assert_eq!(answer.body.as_ref(), b"circuit open\n");
    }
    assert_eq!(
        dependency.hits.load(Ordering::SeqCst),
        hits_at_trip,
        "an open breaker must not call the dependency"
    );

    dependency.failing.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(450)).await;
    for _ in 0..5 {
        let answer = conn.get("/orders", &[]).await;
        assert_eq!(answer.status, 200);
        assert_eq!(answer.body.as_ref(), b"orders");
    }
    assert_eq!(handle.state(), State::Closed);
    assert_eq!(dependency.hits.load(Ordering::SeqCst), hits_at_trip + 5);
}
