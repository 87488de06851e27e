//! Closed → open → half-open → closed / open, on paused time.

mod common;

use buttress_core::layer::LayerBuilder;
use std::time::Duration;

use buttress_breaker::{BackoffConfig, CircuitBreakerLayer, SlowCallConfig, State, WindowConfig};
use buttress_core::{Reason, Rejected};
use common::*;
use tower::Layer;

const SECOND: Duration = Duration::from_secs(1);

fn layer(size: u32, minimum: u32) -> CircuitBreakerLayer {
    CircuitBreakerLayer::builder()
        .configure(|c| {
            c.window = WindowConfig::Count { size };
            c.minimum_calls = minimum;
            c.failure_rate = 50.0;
            c.wait = Duration::from_secs(30);
            c.permitted_probes = 2;
        })
        .name("test")
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn nine_of_nine_failures_under_minimum_calls_does_not_open() {
    let layer = layer(10, 10);
    let svc = layer.layer(dependency(counter()));
    for _ in 0..9 {
        assert_eq!(send(&svc, req(500)).await.unwrap(), 500);
    }
    assert_eq!(layer.handle().state(), State::Closed);
    assert_eq!(layer.handle().stats().failures, 9);
}

#[tokio::test(start_paused = true)]
async fn five_failures_in_ten_calls_open_at_fifty_percent() {
    // Failures first: the tenth call, a success, is the one that reaches
    // the minimum with the rate at 50 %.
    let layer = layer(10, 10);
    let svc = layer.layer(dependency(counter()));
    for _ in 0..5 {
        send(&svc, req(503)).await.unwrap();
    }
    for _ in 0..4 {
        send(&svc, req(200)).await.unwrap();
    }
    assert_eq!(layer.handle().state(), State::Closed);
    send(&svc, req(200)).await.unwrap();
    assert_eq!(layer.handle().state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn four_failures_in_ten_calls_stay_closed() {
    let layer = layer(10, 10);
    let svc = layer.layer(dependency(counter()));
    for status in [500, 200, 500, 200, 500, 200, 500, 200, 200, 200] {
        send(&svc, req(status)).await.unwrap();
    }
    assert_eq!(layer.handle().state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn count_window_forgets_calls_older_than_the_last_n() {
    // A long streak of successes, then failures: the window holds only the
    // last 100 calls, so it opens after exactly 100 × 50 % failures.
    let layer = layer(100, 20);
    let svc = layer.layer(dependency(counter()));
    for _ in 0..10_000 {
        send(&svc, req(200)).await.unwrap();
    }
    let mut failures = 0;
    while layer.handle().state() == State::Closed {
        send(&svc, req(500)).await.unwrap();
        failures += 1;
    }
    assert_eq!(failures, 50);
}

#[tokio::test(start_paused = true)]
async fn time_window_forgets_buckets_older_than_t() {
    let layer = CircuitBreakerLayer::builder()
        .configure(|c| {
            c.window = WindowConfig::Time {
                duration: Duration::from_secs(10),
                buckets: 10,
            };
            c.minimum_calls = 5;
        })
        .name("test")
        .build()
        .unwrap();
    let svc = layer.layer(dependency(counter()));
    for _ in 0..4 {
        send(&svc, req(500)).await.unwrap();
    }
    tokio::time::advance(Duration::from_secs(10)).await;
    // The four failures have aged out: four more are still under the
    // minimum of five.
    for _ in 0..4 {
        send(&svc, req(500)).await.unwrap();
    }
    assert_eq!(layer.handle().stats().calls, 4);
    assert_eq!(layer.handle().state(), State::Closed);
    send(&svc, req(500)).await.unwrap();
    assert_eq!(layer.handle().state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn open_rejects_without_calling_the_dependency_and_says_when_to_retry() {
    let layer = layer(10, 4);
    let calls = counter();
    let svc = layer.layer(dependency(calls.clone()));
    for _ in 0..4 {
        send(&svc, req(500)).await.unwrap();
    }
    assert_eq!(layer.handle().state(), State::Open);
    tokio::time::advance(Duration::from_secs(10)).await;

    let result = send(&svc, req(200)).await;
    let rejected = rejection(&result).expect("a rejection");
    assert_eq!(rejected.reason(), Reason::CircuitOpen);
    assert!(!rejected.was_sent());
    assert_eq!(rejected.retry_after(), Some(Duration::from_secs(20)));
    assert_eq!(hits(&calls), 4);
    assert_eq!(layer.handle().stats().rejected, 1);
}

#[tokio::test(start_paused = true)]
async fn open_turns_half_open_after_the_wait_and_closes_when_probes_pass() {
    let layer = layer(10, 4);
    let svc = layer.layer(dependency(counter()));
    for _ in 0..4 {
        send(&svc, req(500)).await.unwrap();
    }
    tokio::time::advance(Duration::from_secs(30)).await;
    assert_eq!(send(&svc, req(200)).await.unwrap(), 200);
    assert_eq!(layer.handle().state(), State::HalfOpen);
    assert_eq!(send(&svc, req(200)).await.unwrap(), 200);
    assert_eq!(layer.handle().state(), State::Closed);
    // Closed with a fresh window.
    assert_eq!(layer.handle().stats().calls, 0);
}

#[tokio::test(start_paused = true)]
async fn half_open_reopens_when_probe_failures_reach_the_threshold() {
    let layer = layer(10, 4);
    let svc = layer.layer(dependency(counter()));
    for _ in 0..4 {
        send(&svc, req(500)).await.unwrap();
    }
    tokio::time::advance(Duration::from_secs(30)).await;
    // One failure of two permitted probes is 50 %: re-open at once,
    // without waiting for the second probe.
    send(&svc, req(500)).await.unwrap();
    assert_eq!(layer.handle().state(), State::Open);
    let rejected = rejection(&send(&svc, req(200)).await).unwrap();
    assert_eq!(rejected.retry_after(), Some(Duration::from_secs(30)));
}

#[tokio::test(start_paused = true)]
async fn wait_grows_on_consecutive_reopens_up_to_the_cap() {
    let layer = CircuitBreakerLayer::builder()
        .configure(|c| {
            c.window = WindowConfig::Count { size: 4 };
            c.minimum_calls = 4;
            c.wait = Duration::from_secs(10);
            c.backoff = BackoffConfig {
                multiplier: 2.0,
                max_wait: Duration::from_secs(35),
                ..BackoffConfig::default()
            };
            c.permitted_probes = 1;
        })
        .name("test")
        .build()
        .unwrap();
    let handle = layer.handle();
    let svc = layer.layer(dependency(counter()));
    for _ in 0..4 {
        send(&svc, req(500)).await.unwrap();
    }
    let mut waits = vec![handle.stats().open_for.unwrap()];
    for _ in 0..3 {
        tokio::time::advance(*waits.last().unwrap()).await;
        send(&svc, req(500)).await.unwrap();
        waits.push(handle.stats().open_for.unwrap());
    }
    assert_eq!(waits, [10, 20, 35, 35].map(Duration::from_secs));

    // A successful probe closes and resets the growth.
    tokio::time::advance(Duration::from_secs(35)).await;
    send(&svc, req(200)).await.unwrap();
    assert_eq!(handle.state(), State::Closed);
    for _ in 0..4 {
        send(&svc, req(500)).await.unwrap();
    }
    assert_eq!(handle.stats().open_for, Some(Duration::from_secs(10)));
}

#[tokio::test(start_paused = true)]
async fn jitter_is_bounded_and_reproducible_with_a_seed() {
    let open_for = |seed| async move {
        let layer = CircuitBreakerLayer::builder()
            .configure(|c| {
                c.window = WindowConfig::Count { size: 4 };
                c.minimum_calls = 4;
                c.wait = Duration::from_secs(100);
                c.backoff.jitter = 0.2;
                c.seed = Some(seed);
            })
            .name("test")
            .build()
            .unwrap();
        let svc = layer.layer(dependency(counter()));
        for _ in 0..4 {
            send(&svc, req(500)).await.unwrap();
        }
        layer.handle().stats().open_for.unwrap()
    };
    let first = open_for(7).await;
    assert!(first >= Duration::from_secs(80) && first <= Duration::from_secs(120));
    let mut seen = Vec::new();
    for seed in 0..8 {
        seen.push(open_for(seed).await);
    }
    seen.dedup();
    assert!(seen.len() > 1, "jitter varies with the seed");
}

#[tokio::test(start_paused = true)]
async fn slow_calls_trip_the_breaker_like_failures() {
    let layer = CircuitBreakerLayer::builder()
        .configure(|c| {
            c.window = WindowConfig::Count { size: 10 };
            c.minimum_calls = 4;
            c.slow_calls = Some(SlowCallConfig {
                threshold: SECOND,
                rate: 50.0,
            });
        })
        .name("test")
        .build()
        .unwrap();
    let svc = layer.layer(dependency(counter()));
    send(&svc, slow_req(200, SECOND)).await.unwrap();
    send(&svc, req(200)).await.unwrap();
    send(&svc, req(200)).await.unwrap();
    assert_eq!(
        layer.handle().stats().slow_calls,
        0,
        "exactly the threshold is not slow"
    );
    send(&svc, slow_req(200, 2 * SECOND)).await.unwrap();
    send(&svc, slow_req(200, 2 * SECOND)).await.unwrap();
    let stats = layer.handle().stats();
    assert_eq!((stats.calls, stats.slow_calls), (5, 2));
    assert_eq!(stats.state, State::Closed);
    send(&svc, slow_req(200, 2 * SECOND)).await.unwrap();
    assert_eq!(layer.handle().state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn a_timeout_from_an_inner_layer_counts_as_failure() {
    let layer = CircuitBreakerLayer::builder()
        .configure(|c| {
            c.window = WindowConfig::Count { size: 4 };
            c.minimum_calls = 4;
        })
        .name("test")
        .build()
        .unwrap();
    // What the core timeout layer returns when the dependency hung: a
    // rejection after sending.
    let timing_out = tower::service_fn(|_: Req| async {
        Err::<http::Response<()>, _>(Rejected::new(Reason::Timeout).sent())
    });
    let svc = layer.layer(timing_out);
    for _ in 0..4 {
        let err = send(&svc, req(200)).await.unwrap_err();
        assert_eq!(Rejected::find(&*err).unwrap().reason(), Reason::Timeout);
    }
    assert_eq!(layer.handle().state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn rejections_before_sending_and_client_errors_are_not_failures() {
    let layer = CircuitBreakerLayer::builder()
        .configure(|c| {
            c.window = WindowConfig::Count { size: 4 };
            c.minimum_calls = 4;
        })
        .name("test")
        .build()
        .unwrap();
    let full = tower::service_fn(|req: Req| async move {
        match req.body().status {
            0 => Err(Rejected::new(Reason::BulkheadFull)),
            status => Ok(http::Response::builder().status(status).body(()).unwrap()),
        }
    });
    let svc = layer.layer(full);
    for _ in 0..8 {
        send(&svc, req(0)).await.unwrap_err();
        send(&svc, req(404)).await.unwrap();
    }
    let stats = layer.handle().stats();
    assert_eq!(stats.state, State::Closed);
    assert_eq!((stats.calls, stats.failures), (4, 0));
}

#[tokio::test(start_paused = true)]
async fn state_is_shared_by_every_service_the_layer_builds() {
    let layer = layer(10, 4);
    let first = layer.layer(dependency(counter()));
    let second_hits = counter();
    let second = layer.clone().layer(dependency(second_hits.clone()));
    for _ in 0..4 {
        send(&first, req(500)).await.unwrap();
    }
    assert!(rejection(&send(&second, req(200)).await).is_some());
    assert_eq!(hits(&second_hits), 0);
}

#[tokio::test(start_paused = true)]
async fn forced_open_rejects_and_disabled_admits_until_closed_by_hand() {
    let layer = layer(10, 4);
    let handle = layer.handle();
    let svc = layer.layer(dependency(counter()));
    handle.force_open();
    let rejected = rejection(&send(&svc, req(200)).await).unwrap();
    assert_eq!(rejected.retry_after(), None);
    tokio::time::advance(Duration::from_secs(3600)).await;
    assert!(rejection(&send(&svc, req(200)).await).is_some());

    handle.disable();
    for _ in 0..20 {
        assert_eq!(send(&svc, req(500)).await.unwrap(), 500);
    }
    assert_eq!(handle.state(), State::Disabled);
    assert_eq!(handle.stats().calls, 0);

    handle.close();
    assert_eq!(handle.state(), State::Closed);
    for _ in 0..4 {
        send(&svc, req(500)).await.unwrap();
    }
    assert_eq!(handle.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn subscribers_see_transitions() {
    let layer = layer(10, 4);
    let mut transitions = layer.handle().subscribe();
    let svc = layer.layer(dependency(counter()));
    for _ in 0..4 {
        send(&svc, req(500)).await.unwrap();
    }
    let seen = transitions.changed().await.unwrap();
    assert_eq!((seen.from, seen.to), (State::Closed, State::Open));
    tokio::time::advance(Duration::from_secs(30)).await;
    send(&svc, req(200)).await.unwrap();
    let seen = transitions.changed().await.unwrap();
    assert_eq!((seen.from, seen.to), (State::Open, State::HalfOpen));
}
