//! The policy end to end on a paused clock: what is retried, when, how
//! often, and what the caller gets back.

mod common;

use buttress_core::layer::LayerBuilder;
use std::time::Duration;

use buttress_core::classify::GrpcClassifier;
use buttress_core::telemetry::{Event, RecordingSink};
use buttress_core::{BoxError, Reason, Rejected, RequestContext};
use buttress_retry::{
    BudgetConfig, CloneRequest, Idempotency, Jitter, RetryLayer, RetryLayerBuilder,
};
use common::{Answer, scripted, status};
use http::Request;
use tokio::time::Instant;
use tower::{Layer, ServiceExt};

fn layer() -> RetryLayerBuilder<CloneRequest> {
    RetryLayer::builder()
        .configure(|c| c.seed = Some(7))
        .clone_requests()
}

fn get() -> Request<()> {
    Request::get("http://dep/items").body(()).unwrap()
}

#[tokio::test(start_paused = true)]
async fn transient_statuses_are_retried_until_success() {
    let (log, dep) = scripted(vec![status(503), status(502), status(200)]);
    let svc = layer().build().unwrap().layer(dep);
    let res = svc.oneshot(get()).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        log.attempt_headers(),
        [None, Some("2".to_owned()), Some("3".to_owned())]
    );
}

#[tokio::test(start_paused = true)]
async fn the_last_answer_is_returned_after_max_attempts() {
    let (log, dep) = scripted(vec![status(503), status(504), status(429), status(200)]);
    let svc = layer()
        .configure(|c| c.max_attempts = 3)
        .build()
        .unwrap()
        .layer(dep);
    let res = svc.oneshot(get()).await.unwrap();
    assert_eq!(res.status(), 429);
    assert_eq!(log.count(), 3);
}

#[tokio::test(start_paused = true)]
async fn status_500_408_and_the_gateway_errors_are_retried() {
    for code in [408, 429, 500, 502, 503, 504] {
        let (log, dep) = scripted(vec![status(code), status(200)]);
        let svc = layer().build().unwrap().layer(dep);
        let res = svc.oneshot(get()).await.unwrap();
        assert_eq!(res.status(), 200, "{code}");
        assert_eq!(log.count(), 2, "{code}");
    }
}

#[tokio::test(start_paused = true)]
async fn other_4xx_and_501_are_not_retried() {
    // 500 was not retried before; it is now retried by default (as by
    // reqwest-retry, Polly and Envoy's `5xx`), see
    // `status_500_408_and_the_gateway_errors_are_retried`. 501 says the method
    // will never work, so it is not.
    for code in [400, 401, 404, 409, 501] {
        let (log, dep) = scripted(vec![status(code), status(200)]);
        let svc = layer().build().unwrap().layer(dep);
        let res = svc.oneshot(get()).await.unwrap();
        assert_eq!(res.status(), code);
        assert_eq!(log.count(), 1, "{code}");
    }
}

#[tokio::test(start_paused = true)]
async fn retry_after_2_sends_the_next_attempt_2_to_2_5_seconds_later() {
    for seed in 0..20 {
        let (log, dep) = scripted(vec![
            Answer::WithHeader(503, "retry-after", "2"),
            status(200),
        ]);
        let svc = RetryLayer::builder()
            .configure(|c| c.seed = Some(seed))
            .clone_requests()
            .build()
            .unwrap()
            .layer(dep);
        assert_eq!(svc.oneshot(get()).await.unwrap().status(), 200);
        let calls = log.calls();
        let gap = calls[1].at - calls[0].at;
        assert!(
            gap >= Duration::from_secs(2) && gap < Duration::from_millis(2_500),
            "seed {seed}: {gap:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_hint_above_the_maximum_is_not_retried() {
    let (log, dep) = scripted(vec![
        Answer::WithHeader(503, "retry-after", "30"),
        status(200),
    ]);
    let svc = layer()
        .configure(|c| c.max_retry_after = Duration::from_secs(10))
        .build()
        .unwrap()
        .layer(dep);
    let start = Instant::now();
    let res = svc.oneshot(get()).await.unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(
        res.headers()["retry-after"],
        "30",
        "the answer is returned as it is"
    );
    assert_eq!(log.count(), 1);
    assert_eq!(Instant::now(), start, "no waiting");
}

#[tokio::test(start_paused = true)]
async fn negative_pushback_is_not_retried() {
    let (log, dep) = scripted(vec![
        Answer::WithHeader(503, "grpc-retry-pushback-ms", "-1"),
        status(200),
    ]);
    let svc = layer().build().unwrap().layer(dep);
    assert_eq!(svc.oneshot(get()).await.unwrap().status(), 503);
    assert_eq!(log.count(), 1);
}

#[tokio::test(start_paused = true)]
async fn pushback_sets_the_next_delay() {
    let (log, dep) = scripted(vec![
        Answer::WithHeader(503, "grpc-retry-pushback-ms", "300"),
        status(200),
    ]);
    let svc = layer().build().unwrap().layer(dep);
    assert_eq!(svc.oneshot(get()).await.unwrap().status(), 200);
    let calls = log.calls();
    let gap = calls[1].at - calls[0].at;
    assert!(
        gap >= Duration::from_millis(300) && gap <= Duration::from_millis(330),
        "{gap:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn post_is_retried_only_with_an_idempotency_key() {
    let (log, dep) = scripted(vec![status(503), status(503), status(200)]);
    let svc = layer().build().unwrap().layer(dep);
    let post = Request::post("http://dep/orders").body(()).unwrap();
    assert_eq!(svc.clone().oneshot(post).await.unwrap().status(), 503);
    assert_eq!(log.count(), 1);

    let keyed = Request::post("http://dep/orders")
        .header("idempotency-key", "order-8e03978e")
        .body(())
        .unwrap();
    assert_eq!(svc.oneshot(keyed).await.unwrap().status(), 200);
    assert_eq!(log.count(), 3);
    assert!(
        log.calls()
            .iter()
            .all(|seen| seen.method == http::Method::POST)
    );
}

#[tokio::test(start_paused = true)]
async fn post_is_retried_when_idempotency_is_ignored() {
    let (log, dep) = scripted(vec![status(503), status(200)]);
    let svc = layer()
        .configure(|c| c.idempotency = Idempotency::Ignored)
        .build()
        .unwrap()
        .layer(dep);
    let post = Request::post("http://dep/orders").body(()).unwrap();
    assert_eq!(svc.oneshot(post).await.unwrap().status(), 200);
    assert_eq!(log.count(), 2);
}

#[tokio::test(start_paused = true)]
async fn local_rejections_are_not_retried_but_sent_timeouts_and_transport_errors_are() {
    for reason in [
        Reason::CircuitOpen,
        Reason::BulkheadFull,
        Reason::Throttled,
        Reason::Overloaded,
    ] {
        let (log, dep) = scripted(vec![
            Answer::error(move || Rejected::new(reason).into()),
            status(200),
        ]);
        let err = layer()
            .build()
            .unwrap()
            .layer(dep)
            .oneshot(get())
            .await
            .unwrap_err();
        assert_eq!(Rejected::find(&*err).unwrap().reason(), reason);
        assert_eq!(log.count(), 1, "{reason:?}");
    }
    let retried: [fn() -> BoxError; 3] = [
        || Rejected::new(Reason::Timeout).sent().into(),
        || Rejected::new(Reason::FaultInjected).sent().into(),
        || "connection reset by peer".into(),
    ];
    for make in retried {
        let (log, dep) = scripted(vec![Answer::error(make), status(200)]);
        let res = layer().build().unwrap().layer(dep).oneshot(get()).await;
        assert_eq!(res.unwrap().status(), 200);
        assert_eq!(log.count(), 2);
    }
    let (log, dep) = scripted(vec![
        Answer::error(|| Rejected::new(Reason::DeadlineExceeded).sent().into()),
        status(200),
    ]);
    assert!(
        layer()
            .build()
            .unwrap()
            .layer(dep)
            .oneshot(get())
            .await
            .is_err()
    );
    assert_eq!(log.count(), 1, "no time left after a deadline");
}

#[tokio::test(start_paused = true)]
async fn grpc_unavailable_is_retried_with_previous_attempts() {
    let (log, dep) = scripted(vec![
        Answer::WithHeader(200, "grpc-status", "14"),
        Answer::WithHeader(200, "grpc-status", "0"),
    ]);
    let svc = layer()
        .classifier(GrpcClassifier::default())
        .configure(|c| c.idempotency = Idempotency::Ignored)
        .build()
        .unwrap()
        .layer(dep);
    let call = Request::post("http://dep/pkg.Inventory/Get")
        .header("content-type", "application/grpc")
        .body(())
        .unwrap();
    let res = svc.oneshot(call).await.unwrap();
    assert_eq!(res.headers()["grpc-status"], "0");
    let calls = log.calls();
    assert_eq!(calls.len(), 2);
    assert!(!calls[0].headers.contains_key("grpc-previous-rpc-attempts"));
    assert_eq!(calls[1].headers["grpc-previous-rpc-attempts"], "1");
    assert_eq!(calls[1].headers["x-retry-attempt"], "2");
}

#[tokio::test(start_paused = true)]
async fn a_backoff_that_would_cross_the_deadline_ends_the_call_at_once() {
    let (log, dep) = scripted(vec![
        Answer::WithHeader(503, "retry-after", "1"),
        status(200),
    ]);
    let svc = layer().build().unwrap().layer(dep);
    let start = Instant::now();
    let mut req = get();
    req.extensions_mut()
        .insert(RequestContext::new(start).with_deadline(start + Duration::from_millis(500)));
    assert_eq!(svc.oneshot(req).await.unwrap().status(), 503);
    assert_eq!(log.count(), 1);
    assert_eq!(Instant::now(), start);
}

#[tokio::test(start_paused = true)]
async fn the_current_context_deadline_applies_too() {
    let (log, dep) = scripted(vec![
        Answer::WithHeader(503, "retry-after", "1"),
        status(200),
    ]);
    let svc = layer().build().unwrap().layer(dep);
    let start = Instant::now();
    let ctx = RequestContext::new(start).with_deadline(start + Duration::from_millis(500));
    let res = ctx.scope(svc.oneshot(get())).await.unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(log.count(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_retry_in_flight_is_cut_at_the_deadline() {
    let (log, dep) = scripted(vec![
        Answer::After(Duration::from_millis(100), Box::new(status(503))),
        Answer::Hang,
    ]);
    let svc = layer()
        .configure(|c| {
            c.backoff.jitter = Jitter::None;
            c.backoff.base = Duration::from_millis(50);
            c.backoff.max = Duration::from_secs(1);
        })
        .build()
        .unwrap()
        .layer(dep);
    let start = Instant::now();
    let mut req = get();
    req.extensions_mut()
        .insert(RequestContext::new(start).with_deadline(start + Duration::from_secs(1)));
    let err = svc.oneshot(req).await.unwrap_err();
    let rejected = Rejected::find(&*err).unwrap();
    assert_eq!(rejected.reason(), Reason::DeadlineExceeded);
    assert!(rejected.was_sent());
    assert_eq!(Instant::now() - start, Duration::from_secs(1));
    assert_eq!(log.count(), 2);
}

#[tokio::test(start_paused = true)]
async fn the_layer_timeout_bounds_the_whole_call() {
    let (log, dep) = scripted(vec![Answer::Hang]);
    let svc = layer()
        .configure(|c| c.timeout = Some(Duration::from_millis(800)))
        .build()
        .unwrap()
        .layer(dep);
    let start = Instant::now();
    let err = svc.oneshot(get()).await.unwrap_err();
    assert_eq!(Rejected::find(&*err).unwrap().reason(), Reason::Timeout);
    assert_eq!(Instant::now() - start, Duration::from_millis(800));
    assert_eq!(log.count(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_spent_budget_returns_the_answer_and_is_reported() {
    let sink = RecordingSink::new();
    let (log, dep) = scripted(vec![status(503)]);
    // No ratio and a floor of one retry per second over one second: one
    // retry in all.
    let layer = layer()
        .configure(|c| {
            c.budget = Some(BudgetConfig {
                ratio: 0.0,
                min_per_sec: 1,
                window: Duration::from_secs(1),
            });
            c.max_attempts = 2;
        })
        .name("inventory")
        .sink(sink.clone())
        .build()
        .unwrap();
    // Two services from one layer share its budget, built once with it.
    let first = layer.layer(dep.clone());
    let second = layer.layer(dep);
    assert_eq!(first.oneshot(get()).await.unwrap().status(), 503);
    assert_eq!(log.count(), 2);
    assert_eq!(second.oneshot(get()).await.unwrap().status(), 503);
    assert_eq!(log.count(), 3, "the budget is spent");
    let events = sink.events_for("inventory");
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, Event::Retry { attempt: 2, .. }))
            .count(),
        1
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| **e == Event::BudgetExhausted)
            .count(),
        1
    );
    assert_eq!(events.iter().filter(|e| **e == Event::Admitted).count(), 2);
}

#[tokio::test(start_paused = true)]
async fn the_same_seed_gives_the_same_backoffs() {
    let mut runs = Vec::new();
    for _ in 0..2 {
        let (log, dep) = scripted(vec![status(503)]);
        let svc = RetryLayer::builder()
            .configure(|c| {
                c.seed = Some(99);
                c.max_attempts = 5;
                c.budget = None;
            })
            .clone_requests()
            .build()
            .unwrap()
            .layer(dep);
        let start = Instant::now();
        svc.oneshot(get()).await.unwrap();
        runs.push(
            log.calls()
                .iter()
                .map(|seen| seen.at - start)
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(runs[0], runs[1]);
    assert_eq!(runs[0].len(), 5);
}

#[tokio::test(start_paused = true)]
async fn exponential_backoff_without_jitter_doubles() {
    let (log, dep) = scripted(vec![status(503)]);
    let svc = layer()
        .configure(|c| {
            c.max_attempts = 5;
            c.backoff.jitter = Jitter::None;
            c.backoff.base = Duration::from_millis(100);
            c.backoff.max = Duration::from_millis(300);
        })
        .build()
        .unwrap()
        .layer(dep);
    let start = Instant::now();
    svc.oneshot(get()).await.unwrap();
    let at: Vec<u128> = log
        .calls()
        .iter()
        .map(|s| (s.at - start).as_millis())
        .collect();
    assert_eq!(at, [0, 100, 300, 600, 900]);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_future_mid_backoff_stops_retrying() {
    let (log, dep) = scripted(vec![status(503)]);
    let svc = layer()
        .configure(|c| {
            c.backoff.jitter = Jitter::None;
            c.backoff.base = Duration::from_secs(1);
            c.backoff.max = Duration::from_secs(1);
        })
        .build()
        .unwrap()
        .layer(dep);
    let call = svc.oneshot(get());
    assert!(
        tokio::time::timeout(Duration::from_millis(500), call)
            .await
            .is_err()
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(log.count(), 1);
}

/// A timeout the application set on the gRPC call itself (tonic's
/// `set_timeout` writes `grpc-timeout`) bounds the retries like the
/// request's deadline: no attempt starts after it, and each retried
/// attempt carries only the time left.
#[tokio::test(start_paused = true)]
async fn a_grpc_timeout_set_on_the_call_bounds_the_retries() {
    let unavailable = Answer::After(
        Duration::from_millis(100),
        Box::new(Answer::WithHeader(200, "grpc-status", "14")),
    );
    let (log, dep) = scripted(vec![unavailable]);
    let svc = RetryLayer::builder()
        .configure(|c| {
            c.seed = Some(3);
            c.max_attempts = 10;
            c.budget = None;
            c.idempotency = Idempotency::Ignored;
        })
        .clone_requests()
        .classifier(GrpcClassifier::new())
        .build()
        .unwrap()
        .layer(dep);
    let start = Instant::now();
    let request = Request::post("http://dep/pkg.Svc/Get")
        .header("content-type", "application/grpc")
        .header("grpc-timeout", "250m")
        .body(())
        .unwrap();
    let res = svc.oneshot(request).await.unwrap();
    assert_eq!(res.headers()["grpc-status"], "14");
    let calls = log.calls();
    assert!(
        calls.len() >= 2,
        "retried within the timeout: {}",
        calls.len()
    );
    assert!(
        calls
            .iter()
            .all(|seen| seen.at < start + Duration::from_millis(250)),
        "every attempt starts before the call's own deadline"
    );
    for seen in &calls[1..] {
        let left = buttress_core::codec::parse_grpc_timeout(&seen.headers["grpc-timeout"]).unwrap();
        assert!(
            seen.at + left <= start + Duration::from_millis(250),
            "a retried attempt carries only the time left: {left:?}"
        );
    }
}
