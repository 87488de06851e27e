//! Half-open probes under concurrency, drops, panics and late outcomes;
//! shadow mode; telemetry; readiness.

mod common;

use buttress_core::layer::LayerBuilder;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use buttress_breaker::{BackoffConfig, CircuitBreakerLayer, State, WindowConfig};
use buttress_core::Reason;
use buttress_core::telemetry::{Event, RecordingSink};
use common::*;
use http::{Request, Response};
use tokio::sync::oneshot;
use tower::{Layer, Service, ServiceExt};

const WAIT: Duration = Duration::from_secs(30);

fn layer(probes: u32) -> CircuitBreakerLayer {
    CircuitBreakerLayer::builder()
        .configure(|c| {
            c.window = WindowConfig::Count { size: 10 };
            c.minimum_calls = 4;
            c.wait = WAIT;
            c.permitted_probes = probes;
        })
        .name("test")
        .build()
        .unwrap()
}

/// Trips `svc`'s breaker and waits until the next call will probe.
async fn trip_and_wait<S>(svc: &S)
where
    S: Service<Req, Response = Response<()>, Error = buttress_core::BoxError> + Clone,
{
    for _ in 0..4 {
        send(svc, req(500)).await.unwrap();
    }
    tokio::time::advance(WAIT).await;
}

/// A dependency that never answers, counting calls.
fn hanging(
    calls: Arc<AtomicUsize>,
) -> impl Service<Req, Response = Response<()>, Error = std::convert::Infallible> + Clone {
    tower::service_fn(move |_: Req| {
        calls.fetch_add(1, Ordering::SeqCst);
        std::future::pending()
    })
}

fn poll_once<F: Future>(future: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    future.poll(&mut Context::from_waker(std::task::Waker::noop()))
}

#[tokio::test(start_paused = true)]
async fn half_open_admits_exactly_the_permitted_probes_among_a_thousand_concurrent_calls() {
    let layer = layer(5);
    trip_and_wait(&layer.layer(dependency(counter()))).await;
    let calls = counter();
    let mut svc = layer.layer(hanging(calls.clone()));

    let mut pending = Vec::new();
    let mut rejected = 0;
    for _ in 0..1_000 {
        svc.ready().await.unwrap();
        let mut future = Box::pin(svc.call(req(200)));
        match poll_once(future.as_mut()) {
            Poll::Pending => pending.push(future),
            Poll::Ready(Err(err)) => {
                let found = buttress_core::Rejected::find(&*err).unwrap();
                assert_eq!(found.reason(), Reason::CircuitOpen);
                assert!(found.retry_after().is_some());
                rejected += 1;
            }
            Poll::Ready(Ok(_)) => unreachable!("the dependency never answers"),
        }
    }
    assert_eq!(pending.len(), 5);
    assert_eq!(rejected, 995);
    assert_eq!(hits(&calls), 5);
    assert_eq!(layer.handle().stats().probes_in_flight, 5);
}

#[tokio::test(start_paused = true)]
async fn dropped_probe_futures_return_their_slots() {
    let layer = layer(3);
    trip_and_wait(&layer.layer(dependency(counter()))).await;
    let calls = counter();
    let mut svc = layer.layer(hanging(calls.clone()));

    let probes: Vec<_> = (0..3).map(|_| svc.call(req(200))).collect();
    assert!(rejection(&send(&layer.layer(dependency(counter())), req(200)).await).is_some());
    drop(probes);
    assert_eq!(layer.handle().stats().probes_in_flight, 0);
    assert_eq!(layer.handle().state(), State::HalfOpen);

    // The three slots are free again and decide as usual.
    let healthy = layer.layer(dependency(counter()));
    for _ in 0..3 {
        assert_eq!(send(&healthy, req(200)).await.unwrap(), 200);
    }
    assert_eq!(layer.handle().state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_panicking_probe_returns_its_slot() {
    let layer = layer(1);
    trip_and_wait(&layer.layer(dependency(counter()))).await;
    let panicking = layer.layer(tower::service_fn(|_: Req| async {
        if true {
            panic!("the dependency client panicked");
        }
        Ok::<Response<()>, std::convert::Infallible>(Response::new(()))
    }));
    let task = tokio::spawn(async move { send(&panicking, req(200)).await });
    assert!(task.await.unwrap_err().is_panic());
    assert_eq!(layer.handle().stats().probes_in_flight, 0);

    let healthy = layer.layer(dependency(counter()));
    assert_eq!(send(&healthy, req(200)).await.unwrap(), 200);
    assert_eq!(layer.handle().state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_late_outcome_from_before_the_trip_does_not_close_half_open() {
    let layer = layer(1);
    // A call admitted while closed, answered only later.
    let (answer, answered) = oneshot::channel::<()>();
    let mut answered = Some(answered);
    let mut held = layer.layer(tower::service_fn(move |_: Req| {
        let answered = answered.take().unwrap();
        async move {
            answered.await.unwrap();
            Ok::<_, std::convert::Infallible>(Response::new(()))
        }
    }));
    let early = tokio::spawn(held.call(req(200)));

    trip_and_wait(&layer.layer(dependency(counter()))).await;
    let probes = counter();
    let mut probing = layer.layer(hanging(probes.clone()));
    let probe = probing.call(req(200));
    assert_eq!(hits(&probes), 1);

    answer.send(()).unwrap();
    assert_eq!(early.await.unwrap().unwrap().status(), 200);
    assert_eq!(layer.handle().state(), State::HalfOpen, "not a probe");
    assert_eq!(layer.handle().stats().probes_in_flight, 1);
    drop(probe);
}

#[tokio::test(start_paused = true)]
async fn metrics_only_never_rejects_and_counts_what_enforcing_rejects() {
    let mut rng = fastrand::Rng::with_seed(11);
    let script: Vec<(u16, u64)> = (0..2_000)
        .map(|_| {
            let status = if rng.u8(..10) < 4 { 500 } else { 200 };
            (status, rng.u64(..3_000))
        })
        .collect();
    let run = |metrics_only: bool| {
        let script = script.clone();
        async move {
            let layer = CircuitBreakerLayer::builder()
                .configure(|c| {
                    c.window = WindowConfig::Count { size: 20 };
                    c.minimum_calls = 10;
                    c.wait = Duration::from_secs(5);
                    c.backoff = BackoffConfig {
                        multiplier: 2.0,
                        max_wait: Duration::from_secs(60),
                        ..BackoffConfig::default()
                    };
                    c.permitted_probes = 3;
                    c.metrics_only = metrics_only;
                    c.seed = Some(3);
                })
                .name("test")
                .build()
                .unwrap();
            let svc = layer.layer(dependency(counter()));
            let mut rejected = 0;
            for (status, pause) in script {
                if rejection(&send(&svc, req(status)).await).is_some() {
                    rejected += 1;
                }
                tokio::time::advance(Duration::from_millis(pause)).await;
            }
            (rejected, layer.handle().stats())
        }
    };
    let (enforced, enforcing) = run(false).await;
    let (shadow_rejected, shadow) = run(true).await;
    assert!(enforced > 100, "the script trips the breaker: {enforced}");
    assert_eq!(shadow_rejected, 0);
    assert_eq!(shadow.would_reject, enforced);
    assert_eq!(enforcing.rejected, enforced);
    assert_eq!(shadow.state, enforcing.state);
}

#[tokio::test(start_paused = true)]
async fn every_decision_and_transition_is_reported() {
    let sink = RecordingSink::new();
    let layer = CircuitBreakerLayer::builder()
        .configure(|c| {
            c.window = WindowConfig::Count { size: 2 };
            c.minimum_calls = 2;
        })
        .name("payments")
        .sink(sink.clone())
        .build()
        .unwrap();
    let svc = layer.layer(dependency(counter()));
    send(&svc, req(500)).await.unwrap();
    send(&svc, req(503)).await.unwrap();
    send(&svc, req(200)).await.unwrap_err();

    assert_eq!(sink.registered()[0].to_string(), "breaker/payments");
    let events = sink.events_for("payments");
    let failed = Event::Completed {
        outcome: buttress_core::Outcome::Failure,
        duration: Duration::ZERO,
    };
    assert_eq!(
        events,
        vec![
            Event::Admitted,
            failed,
            Event::Admitted,
            failed,
            Event::StateChanged {
                from: "closed",
                to: "open"
            },
            Event::Rejected(Reason::CircuitOpen),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn poll_ready_passes_on_the_inner_readiness_only() {
    let layer = layer(1);
    let handle = layer.handle();
    handle.force_open();
    let (mock, mut controller) = tower_test::mock::pair::<Request<()>, Response<()>>();
    let mut svc = tokio_test::task::spawn(layer.layer(mock));

    controller.allow(0);
    tokio_test::assert_pending!(svc.enter(|cx, mut svc| svc.as_mut().poll_ready(cx)));
    controller.allow(1);
    // Open, yet ready: the breaker decides in `call`.
    tokio_test::assert_ready_ok!(svc.enter(|cx, mut svc| svc.as_mut().poll_ready(cx)));
    let err = svc.call(Request::new(())).await.unwrap_err();
    assert!(buttress_core::Rejected::find(&*err).is_some());
    // The dependency saw nothing.
    tokio_test::assert_pending!(tokio_test::task::spawn(controller.next_request()).poll());
}
