//! Retry amplification on a paused clock (issue 7, "Done when"): 1,000
//! requests/s for 60 s against a dependency answering 503 to everything.
//! With the default budget the dependency sees at most 1.15 attempts per
//! original request; with the budget off and 3 retries, exactly 4.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use buttress_core::layer::LayerBuilder;
use buttress_retry::{RetryLayer, RetryLayerBuilder};
use http::{Request, Response};
use tower::{Layer, ServiceExt};

const RATE: u64 = 1_000;
const SECONDS: u64 = 60;

/// Runs the load; returns (original requests, attempts the dependency saw).
async fn run(builder: RetryLayerBuilder<buttress_retry::CloneRequest>) -> (u64, u64) {
    let attempts = Arc::new(AtomicU64::new(0));
    let seen = attempts.clone();
    let dependency = tower::service_fn(move |_req: Request<()>| {
        seen.fetch_add(1, Relaxed);
        async {
            // A little latency, as a real dependency has.
            tokio::time::sleep(Duration::from_millis(5)).await;
            Ok::<_, std::convert::Infallible>(Response::builder().status(503).body(()).unwrap())
        }
    });
    let svc = builder.build().unwrap().layer(dependency);
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / RATE));
    let mut calls = Vec::with_capacity((RATE * SECONDS) as usize);
    for _ in 0..RATE * SECONDS {
        tick.tick().await;
        calls.push(tokio::spawn(svc.clone().oneshot(Request::new(()))));
    }
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap().status(), 503);
    }
    (RATE * SECONDS, attempts.load(Relaxed))
}

#[tokio::test(start_paused = true)]
async fn default_budget_keeps_amplification_under_1_15() {
    let (requests, attempts) = run(RetryLayer::builder()
        .configure(|c| c.seed = Some(1))
        .clone_requests())
    .await;
    let ratio = attempts as f64 / requests as f64;
    println!(
        "default budget: {attempts} attempts for {requests} requests = {ratio:.4} per request"
    );
    assert!(ratio <= 1.15, "{ratio}");
    assert!(
        ratio > 1.05,
        "retries still happen within the budget: {ratio}"
    );
}

#[tokio::test(start_paused = true)]
async fn without_a_budget_three_retries_quadruple_the_load() {
    let builder = RetryLayer::builder()
        .configure(|c| {
            c.seed = Some(1);
            c.budget = None;
            c.max_attempts = 4;
        })
        .clone_requests();
    let (requests, attempts) = run(builder).await;
    let ratio = attempts as f64 / requests as f64;
    println!("no budget, 3 retries: {attempts} attempts for {requests} requests = {ratio:.4}");
    assert_eq!(attempts, 4 * requests);
}
