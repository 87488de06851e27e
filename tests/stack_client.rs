//! The client stack: each layer in its place, each one removable, state
//! shared by every clone. In-process transports on tokio's paused clock.

#![cfg(feature = "stack")]

use buttress::core::layer::LayerBuilder;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use buttress::breaker::{BreakerConfig, State};
use buttress::fallback::FallbackLayer;
use buttress::stack::ClientStack;
use buttress::{BoxError, Reason, Rejected};
use tower::{Layer, Service, ServiceExt};

type Res = http::Response<String>;

/// A transport answering `status` after `delay`, counting its calls.
fn transport(
    status: u16,
    delay: Duration,
) -> (
    Arc<AtomicU32>,
    impl Service<http::Request<()>, Response = Res, Error = BoxError, Future: Send> + Clone + Send,
) {
    let calls = Arc::new(AtomicU32::new(0));
    let seen = calls.clone();
    let svc = tower::service_fn(move |_req: http::Request<()>| {
        seen.fetch_add(1, Ordering::SeqCst);
        async move {
            tokio::time::sleep(delay).await;
            let res = http::Response::builder()
                .status(status)
                .body(String::from("real"))
                .unwrap();
            Ok::<_, BoxError>(res)
        }
    });
    (calls, svc)
}

fn breaker(minimum_calls: u32) -> BreakerConfig {
    BreakerConfig {
        minimum_calls,
        wait: Duration::from_secs(10),
        ..BreakerConfig::default()
    }
}

#[tokio::test(start_paused = true)]
async fn failures_trip_the_breaker_and_then_the_dependency_is_not_called() {
    let (calls, svc) = transport(500, Duration::ZERO);
    let stack = ClientStack::new("inventory")
        .breaker(breaker(5))
        .retry(buttress::stack::Toggle::Off)
        .clone_requests()
        .build()
        .unwrap();
    let client = stack.layer(svc);
    for _ in 0..5 {
        let res = client
            .clone()
            .oneshot(http::Request::new(()))
            .await
            .unwrap();
        assert_eq!(res.status(), 500);
    }
    assert_eq!(stack.breaker().unwrap().state(), State::Open);
    for _ in 0..20 {
        let err = client
            .clone()
            .oneshot(http::Request::new(()))
            .await
            .unwrap_err();
        assert_eq!(Rejected::find(&*err).unwrap().reason(), Reason::CircuitOpen);
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        5,
        "no call after the breaker opened"
    );
}

#[tokio::test(start_paused = true)]
async fn a_hung_dependency_times_out_per_attempt_and_trips_the_breaker() {
    let (calls, svc) = transport(200, Duration::from_secs(60));
    let stack = ClientStack::new("slow")
        .breaker(breaker(4))
        .timeout(Duration::from_millis(100))
        .retry(buttress::stack::Toggle::Off)
        .clone_requests()
        .build()
        .unwrap();
    let client = stack.layer(svc);
    for _ in 0..4 {
        let err = client
            .clone()
            .oneshot(http::Request::new(()))
            .await
            .unwrap_err();
        assert_eq!(Rejected::find(&*err).unwrap().reason(), Reason::Timeout);
    }
    assert_eq!(stack.breaker().unwrap().state(), State::Open);
    let err = client
        .clone()
        .oneshot(http::Request::new(()))
        .await
        .unwrap_err();
    assert_eq!(Rejected::find(&*err).unwrap().reason(), Reason::CircuitOpen);
    assert_eq!(calls.load(Ordering::SeqCst), 4);
}

#[tokio::test(start_paused = true)]
async fn the_retry_sends_a_failed_idempotent_call_again() {
    let calls = Arc::new(AtomicU32::new(0));
    let seen = calls.clone();
    let flaky = tower::service_fn(move |_req: http::Request<()>| {
        let n = seen.fetch_add(1, Ordering::SeqCst);
        async move {
            let status = if n == 0 { 503 } else { 200 };
            Ok::<_, BoxError>(
                http::Response::builder()
                    .status(status)
                    .body(String::new())
                    .unwrap(),
            )
        }
    });
    let stack = ClientStack::new("flaky").clone_requests().build().unwrap();
    let res = stack
        .layer(flaky)
        .oneshot(http::Request::new(()))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn without_retry_a_failed_call_is_sent_once() {
    let (calls, svc) = transport(503, Duration::ZERO);
    let stack = ClientStack::new("once")
        .retry(buttress::stack::Toggle::Off)
        .clone_requests()
        .build()
        .unwrap();
    let res = stack
        .layer(svc)
        .oneshot(http::Request::new(()))
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(stack.retry_budget().is_none());
}

#[tokio::test(start_paused = true)]
async fn every_clone_and_every_application_shares_one_breaker_and_bulkhead() {
    let (_calls, svc) = transport(500, Duration::ZERO);
    let stack = ClientStack::new("shared")
        .breaker(breaker(4))
        .retry(buttress::stack::Toggle::Off)
        .clone_requests()
        .build()
        .unwrap();
    let copy = stack.clone();
    // Two services built separately, as axum or a pool would.
    for layer in [&stack, &copy, &stack, &copy] {
        let _ = layer
            .layer(svc.clone())
            .oneshot(http::Request::new(()))
            .await;
    }
    assert_eq!(stack.breaker().unwrap().state(), State::Open);
    assert_eq!(copy.breaker().unwrap().stats().calls, 4);
}

#[tokio::test(start_paused = true)]
async fn a_full_bulkhead_refuses_without_calling_the_dependency() {
    let (calls, svc) = transport(200, Duration::from_secs(1));
    let stack = ClientStack::new("narrow")
        .bulkhead(buttress::limit::BulkheadConfig {
            max_concurrent: 1,
            ..Default::default()
        })
        .clone_requests()
        .build()
        .unwrap();
    let mut client = stack.layer(svc);
    let first = client.ready().await.unwrap().call(http::Request::new(()));
    let err = client
        .ready()
        .await
        .unwrap()
        .call(http::Request::new(()))
        .await
        .unwrap_err();
    assert_eq!(
        Rejected::find(&*err).unwrap().reason(),
        Reason::BulkheadFull
    );
    assert_eq!(first.await.unwrap().status(), 200);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn the_fallback_answers_when_the_breaker_is_open() {
    let (calls, svc) = transport(500, Duration::ZERO);
    let fallback = FallbackLayer::builder()
        .name("recommendations")
        .respond_with(http::Response::new("[]"))
        .build()
        .unwrap();
    let stack = ClientStack::new("recommendations")
        .breaker(breaker(3))
        .retry(buttress::stack::Toggle::Off)
        .clone_requests()
        .fallback(fallback)
        .build()
        .unwrap();
    let client = stack.layer(svc);
    for _ in 0..10 {
        let res = client
            .clone()
            .oneshot(http::Request::new(()))
            .await
            .unwrap();
        assert_eq!(
            res.status(),
            200,
            "every failure is answered by the fallback"
        );
        assert!(res.headers().contains_key("x-fallback"));
    }
    assert_eq!(stack.breaker().unwrap().state(), State::Open);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[test]
fn a_bad_setting_names_its_layer_and_field() {
    let config = BreakerConfig {
        failure_rate: 101.0,
        ..BreakerConfig::default()
    };
    let err = ClientStack::new("x").breaker(config).build().unwrap_err();
    assert_eq!(err.field(), "breaker.failure_rate");
    let err = ClientStack::new("x")
        .timeout(Duration::ZERO)
        .build()
        .unwrap_err();
    // The stack's timeout is one setting, the limit, written alone in code
    // (`.timeout(d)`) and TOML (`timeout = "2s"`) alike: its errors name
    // the section, as a TOML user wrote it.
    assert_eq!(err.field(), "timeout");
    assert_eq!(ClientStack::new("").build().unwrap_err().field(), "name");
}

/// Hedging from TOML, in the retry's place: the first attempt hangs, the
/// hedge sent after the delay answers.
#[cfg(feature = "serde")]
#[tokio::test(start_paused = true)]
async fn a_hedged_client_from_toml_answers_from_the_hedge() {
    use std::sync::atomic::{AtomicU32, Ordering};
    let config = buttress::config::ServiceConfig::from_toml(
        r#"
        [clients.search.hedge]
        delay = "10ms"
        "#,
    )
    .unwrap();
    let attempts = std::sync::Arc::new(AtomicU32::new(0));
    let seen = attempts.clone();
    let transport = tower::service_fn(move |_req: http::Request<()>| {
        let n = seen.fetch_add(1, Ordering::Relaxed);
        async move {
            let wait = if n == 0 { 1_000 } else { 5 };
            tokio::time::sleep(Duration::from_millis(wait)).await;
            Ok::<_, std::io::Error>(http::Response::new(()))
        }
    });
    let stack = config
        .client_stack("search")
        .unwrap()
        .clone_requests()
        .build()
        .unwrap();
    let start = tokio::time::Instant::now();
    let response = stack
        .layer(transport)
        .oneshot(http::Request::get("/q").body(()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(start.elapsed(), Duration::from_millis(15));
    assert_eq!(attempts.load(Ordering::Relaxed), 2);

    let err = buttress::config::ServiceConfig::from_toml(
        "[clients.search]\nretry = false\n[clients.search.hedge]\ndelay = \"10ms\"",
    )
    .unwrap_err();
    assert_eq!(err.field(), "clients.search.hedge");
}
