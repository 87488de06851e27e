//! The adaptive limit's behaviour, on tokio's paused clock.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use buttress_core::Outcome;
use buttress_core::classify::AnyErrorFails;
use buttress_core::layer::{BuildEnv, LayerBuilder, LayerConfig, LayerHandle};
use buttress_core::telemetry::{Event, GaugeKind, LayerKind, RecordingSink};
use buttress_core::{BoxError, Reason, Rejected, RequestContext};
use buttress_limit::adaptive::{
    AdaptiveLimitConfig, AdaptiveLimitLayer, Aimd, Algorithm, Gradient,
};
use tokio::time::Instant;
use tower::util::BoxCloneService;
use tower::{Layer, Service, ServiceExt, service_fn};

type Req = http::Request<()>;
type Svc = BoxCloneService<Req, http::Response<()>, BoxError>;

fn reason(err: &BoxError) -> Reason {
    Rejected::find(&**err).expect("a rejection").reason()
}

const MS: Duration = Duration::from_millis(1);

/// Calls in flight and callers queued, read through the layer's handle.
fn gauges<C>(layer: &AdaptiveLimitLayer<C>) -> (usize, usize) {
    let handle = layer.handle();
    (handle.in_flight(), handle.queued())
}

/// A service whose latency (in ms) and failure (an error, which every
/// classifier counts as a failure) can be changed while the test runs.
fn tunable(delay_ms: Arc<AtomicU64>, fail: Arc<AtomicBool>) -> Svc {
    BoxCloneService::new(service_fn(move |_req: Req| {
        let delay = Duration::from_millis(delay_ms.load(Ordering::Relaxed));
        let fail = fail.load(Ordering::Relaxed);
        async move {
            tokio::time::sleep(delay).await;
            if fail {
                Err::<_, BoxError>("boom".into())
            } else {
                Ok(http::Response::new(()))
            }
        }
    }))
}

/// Offers `per_ms` calls a millisecond for `ms` milliseconds.
async fn offer(svc: &Svc, per_ms: usize, ms: u64) {
    let start = Instant::now();
    for tick in 0..ms {
        for _ in 0..per_ms {
            tokio::spawn(svc.clone().oneshot(http::Request::new(())));
        }
        tokio::time::sleep_until(start + MS * (tick as u32 + 1)).await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_full_limit_without_queue_rejects_as_overloaded() {
    let layer = AdaptiveLimitLayer::builder()
        .configure(|c| {
            c.min_limit = 1;
            c.initial_limit = Some(1);
            c.max_limit = 1;
            c.queue_capacity = 0;
            c.max_wait = Duration::ZERO; // no need to lower `codel_target` too
            c.retry_after = Duration::from_secs(3);
        })
        .build()
        .unwrap();
    let mut svc = layer.layer(tunable(Arc::new(AtomicU64::new(100)), Arc::default()));
    let _held = svc.ready().await.unwrap().call(http::Request::new(()));
    let err = svc
        .ready()
        .await
        .unwrap()
        .call(http::Request::new(()))
        .await
        .unwrap_err();
    let rejected = Rejected::find(&*err).unwrap();
    assert_eq!(rejected.reason(), Reason::Overloaded);
    assert_eq!(rejected.retry_after(), Some(Duration::from_secs(3)));
    assert!(!rejected.was_sent());
}

#[tokio::test(start_paused = true)]
async fn the_limit_grows_while_latency_is_flat_and_falls_when_it_rises() {
    let delay = Arc::new(AtomicU64::new(10));
    let layer = AdaptiveLimitLayer::builder()
        .configure(|c| {
            c.algorithm = Algorithm::Gradient(Gradient::default());
            c.min_limit = 4;
            c.initial_limit = Some(100);
            c.max_limit = 200;
        })
        .build()
        .unwrap();
    let svc: Svc = BoxCloneService::new(layer.layer(tunable(delay.clone(), Arc::default())));
    offer(&svc, 25, 3_000).await;
    assert_eq!(layer.handle().limit(), 200, "grew to the maximum");
    assert_eq!(layer.handle().min_rtt(), Duration::from_millis(10));

    // Four times slower: the gradient is clamped at 0.5, so the limit
    // falls towards the minimum (where √limit headroom balances it).
    delay.store(40, Ordering::Relaxed);
    offer(&svc, 25, 3_000).await;
    assert!(
        layer.handle().limit() <= 20,
        "fell to {}",
        layer.handle().limit()
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(gauges(&layer), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn an_idle_service_does_not_earn_a_higher_limit() {
    let layer = AdaptiveLimitLayer::builder()
        .configure(|c| {
            c.min_limit = 4;
            c.initial_limit = Some(50);
            c.max_limit = 200;
        })
        .build()
        .unwrap();
    let svc: Svc =
        BoxCloneService::new(layer.layer(tunable(Arc::new(AtomicU64::new(10)), Arc::default())));
    // One call a millisecond of 10 ms: about 10 in flight, under half of 50.
    offer(&svc, 1, 2_000).await;
    assert_eq!(layer.handle().limit(), 50);
}

#[tokio::test(start_paused = true)]
async fn aimd_counts_failures_as_drops() {
    let fail = Arc::new(AtomicBool::new(false));
    let layer = AdaptiveLimitLayer::builder()
        .configure(|c| {
            c.algorithm = Algorithm::Aimd(Aimd::default());
            c.min_limit = 4;
            c.initial_limit = Some(20);
            c.max_limit = 1000;
        })
        .build()
        .unwrap();
    let svc: Svc =
        BoxCloneService::new(layer.layer(tunable(Arc::new(AtomicU64::new(10)), fail.clone())));
    offer(&svc, 10, 300).await;
    let grown = layer.handle().limit();
    assert!(grown > 20, "slow start: {grown}");
    fail.store(true, Ordering::Relaxed);
    offer(&svc, 10, 2_000).await;
    // About twenty windows of drops, each cutting by 0.9 (from at most
    // twice `grown`: slow start may double once more before the first
    // failure completes).
    assert!(
        layer.handle().limit() * 3 <= grown,
        "{grown} -> {}",
        layer.handle().limit()
    );
}

#[tokio::test(start_paused = true)]
async fn the_baseline_rtt_is_re_probed() {
    let delay = Arc::new(AtomicU64::new(10));
    let layer = AdaptiveLimitLayer::builder()
        .configure(|c| {
            c.min_limit = 4;
            c.initial_limit = Some(20);
            c.max_limit = 200;
            c.probe_interval = Duration::from_secs(1);
            c.probe_jitter = 0.5;
            c.seed = Some(7);
        })
        .build()
        .unwrap();
    let svc: Svc = BoxCloneService::new(layer.layer(tunable(delay.clone(), Arc::default())));
    offer(&svc, 5, 500).await;
    assert_eq!(layer.handle().min_rtt(), Duration::from_millis(10));
    // The dependency gets slower for good; without re-probing the limiter
    // would keep comparing against 10 ms forever.
    delay.store(25, Ordering::Relaxed);
    offer(&svc, 5, 3_000).await;
    // The baseline is an average, not the fastest call: each probe pulls
    // it halfway to the unloaded mean, and every window nudges it.
    let baseline = layer.handle().min_rtt();
    assert!(
        baseline >= Duration::from_millis(20) && baseline <= Duration::from_millis(25),
        "{baseline:?}"
    );
}

/// When the limit first dips to its minimum (the first probe), for a seed.
async fn first_probe(seed: u64) -> Duration {
    let layer = AdaptiveLimitLayer::builder()
        .configure(|c| {
            c.min_limit = 4;
            c.initial_limit = Some(20);
            c.max_limit = 200;
            c.probe_interval = Duration::from_secs(1);
            c.probe_jitter = 1.0;
            c.seed = Some(seed);
        })
        .build()
        .unwrap();
    let svc: Svc =
        BoxCloneService::new(layer.layer(tunable(Arc::new(AtomicU64::new(10)), Arc::default())));
    let start = Instant::now();
    for tick in 0..3_000u32 {
        for _ in 0..5 {
            tokio::spawn(svc.clone().oneshot(http::Request::new(())));
        }
        tokio::time::sleep_until(start + MS * (tick + 1)).await;
        if layer.handle().limit() == 4 {
            return start.elapsed();
        }
    }
    panic!("no probe in 3 s");
}

#[tokio::test(start_paused = true)]
async fn probes_are_jittered_by_a_seeded_rng() {
    let a = first_probe(1).await;
    let b = first_probe(2).await;
    let a_again = first_probe(1).await;
    println!("first probe: seed 1 at {a:?}, seed 2 at {b:?}");
    assert_eq!(a, a_again, "repeatable for a seed");
    assert_ne!(a, b, "replicas with different seeds probe apart");
    for at in [a, b] {
        assert!(at >= Duration::from_secs(1) && at <= Duration::from_millis(2_300));
    }
}

#[tokio::test(start_paused = true)]
async fn gauges_go_to_the_telemetry_sink() {
    let sink = RecordingSink::new();
    let layer = AdaptiveLimitLayer::builder()
        .name("search")
        .sink(sink.clone())
        .build()
        .unwrap();
    let svc: Svc =
        BoxCloneService::new(layer.layer(tunable(Arc::new(AtomicU64::new(10)), Arc::default())));
    offer(&svc, 5, 500).await;
    let events = sink.events_for("search");
    for kind in [
        GaugeKind::Limit,
        GaugeKind::InFlight,
        GaugeKind::QueueDepth,
        GaugeKind::MinRtt,
    ] {
        assert!(
            events
                .iter()
                .any(|e| matches!(e, Event::Gauge { kind: k, .. } if *k == kind)),
            "{kind:?}"
        );
    }
    assert!(events.contains(&Event::Gauge {
        kind: GaugeKind::MinRtt,
        value: 0.01
    }));
    assert!(events.contains(&Event::Admitted));
}

#[tokio::test(start_paused = true)]
async fn a_standing_queue_shortens_patience() {
    let layer = AdaptiveLimitLayer::builder()
        .configure(|c| {
            c.min_limit = 1;
            c.initial_limit = Some(1);
            c.max_limit = 1;
            c.queue_capacity = 100;
            c.max_wait = Duration::from_millis(100);
            c.codel_target = Duration::from_millis(5);
            c.codel_interval = Duration::from_millis(50);
        })
        .build()
        .unwrap();
    let svc = layer.layer(tunable(Arc::new(AtomicU64::new(10_000)), Arc::default()));
    let _held = tokio::spawn(svc.clone().oneshot(http::Request::new(())));
    tokio::task::yield_now().await;
    let start = Instant::now();
    let first = tokio::spawn(svc.clone().oneshot(http::Request::new(())));
    tokio::time::sleep(Duration::from_millis(60)).await;
    // The queue has not emptied for 60 ms > 50 ms: newcomers get 5 ms.
    let late = Instant::now();
    let err = svc
        .clone()
        .oneshot(http::Request::new(()))
        .await
        .unwrap_err();
    assert_eq!(reason(&err), Reason::Overloaded);
    assert_eq!(late.elapsed(), Duration::from_millis(5));
    // The first waiter keeps the patience it queued with.
    let err = first.await.unwrap().unwrap_err();
    assert_eq!(reason(&err), Reason::Overloaded);
    assert_eq!(start.elapsed(), Duration::from_millis(100));
}

#[tokio::test(start_paused = true)]
async fn waits_end_at_the_deadline_and_cancelled_calls_return_permits() {
    let layer = AdaptiveLimitLayer::builder()
        .configure(|c| {
            c.min_limit = 1;
            c.initial_limit = Some(1);
            c.max_limit = 1;
            c.queue_capacity = 10;
            c.max_wait = Duration::from_millis(100);
        })
        .build()
        .unwrap();
    let svc = layer.layer(tunable(Arc::new(AtomicU64::new(1_000)), Arc::default()));
    let held = tokio::spawn(svc.clone().oneshot(http::Request::new(())));
    tokio::task::yield_now().await;

    let start = Instant::now();
    let mut req = http::Request::new(());
    req.extensions_mut()
        .insert(RequestContext::new(start).with_deadline(start + Duration::from_millis(20)));
    let err = svc.clone().oneshot(req).await.unwrap_err();
    assert_eq!(reason(&err), Reason::QueueTimeout);
    assert_eq!(start.elapsed(), Duration::from_millis(20));

    let queued = tokio::spawn(svc.clone().oneshot(http::Request::new(())));
    tokio::task::yield_now().await;
    assert_eq!(gauges(&layer), (1, 1));
    queued.abort();
    held.abort();
    let _ = queued.await;
    let _ = held.await;
    assert_eq!(gauges(&layer), (0, 0));
}

/// A dependency answering `status` after 10 ms.
fn answering(
    status: u16,
) -> impl Service<Req, Response = http::Response<()>, Error = Infallible, Future: Send>
+ Clone
+ Send
+ 'static {
    service_fn(move |_req: Req| async move {
        tokio::time::sleep(Duration::from_millis(10)).await;
        Ok::<_, Infallible>(http::Response::builder().status(status).body(()).unwrap())
    })
}

/// Runs AIMD (no slow start), judged by the default classifier, against a
/// dependency answering `status`; returns the final limit.
async fn aimd_limit_against(status: u16) -> usize {
    let layer = AdaptiveLimitLayer::builder()
        .configure(|c| {
            c.algorithm = Algorithm::Aimd(Aimd {
                slow_start: false,
                ..Aimd::default()
            });
            c.min_limit = 4;
            c.initial_limit = Some(20);
            c.max_limit = 100;
        })
        .build()
        .unwrap();
    let svc = layer.layer(answering(status));
    offer(&BoxCloneService::new(svc), 10, 500).await;
    layer.handle().limit()
}

#[tokio::test(start_paused = true)]
async fn the_classifier_decides_what_is_a_drop() {
    assert!(aimd_limit_against(503).await < 20, "503s are drops");
    assert!(
        aimd_limit_against(404).await > 20,
        "404s are the caller's fault"
    );
}

#[test]
fn invalid_settings_are_refused() {
    let field = |config: AdaptiveLimitConfig| {
        let err = AdaptiveLimitLayer::builder()
            .with_config(config)
            .build()
            .unwrap_err();
        err.field().to_owned()
    };
    let limits = |min_limit, initial, max_limit| AdaptiveLimitConfig {
        min_limit,
        initial_limit: Some(initial),
        max_limit,
        ..AdaptiveLimitConfig::default()
    };
    assert_eq!(field(limits(0, 1, 1)), "min_limit");
    assert_eq!(field(limits(5, 1, 10)), "initial_limit");
    assert_eq!(field(limits(5, 5, 4)), "max_limit");
    let aimd = Algorithm::Aimd(Aimd {
        backoff: 1.5,
        ..Aimd::default()
    });
    assert_eq!(
        field(AdaptiveLimitConfig {
            algorithm: aimd,
            ..AdaptiveLimitConfig::default()
        }),
        "aimd.backoff"
    );
    assert_eq!(
        field(AdaptiveLimitConfig {
            window: Duration::ZERO,
            ..AdaptiveLimitConfig::default()
        }),
        "window"
    );
    assert_eq!(
        field(AdaptiveLimitConfig {
            max_wait: Duration::from_secs(2 * 86_400),
            ..AdaptiveLimitConfig::default()
        }),
        "max_wait"
    );
}

#[test]
fn implied_settings_are_derived_not_demanded() {
    // A wait shorter than CoDel's target caps the target.
    let layer = AdaptiveLimitLayer::builder()
        .configure(|c| {
            c.queue_capacity = 10;
            c.max_wait = Duration::from_millis(1);
        })
        .build()
        .unwrap();
    assert_eq!(
        layer.handle().config().effective_codel_target(),
        Duration::from_millis(1)
    );
    // No wait at all: nothing else to set.
    AdaptiveLimitLayer::builder()
        .configure(|c| c.max_wait = Duration::ZERO)
        .build()
        .unwrap();
    // Bounds without a start: the start is clamped into them.
    let high = AdaptiveLimitLayer::builder()
        .configure(|c| {
            c.min_limit = 50;
            c.max_limit = 80;
        })
        .build()
        .unwrap();
    assert_eq!(high.handle().limit(), 50);
    let low = AdaptiveLimitLayer::builder()
        .configure(|c| c.max_limit = 8)
        .build()
        .unwrap();
    assert_eq!(low.handle().limit(), 8);
    // A start given outside the bounds is still a mistake.
    assert_eq!(
        AdaptiveLimitLayer::builder()
            .configure(|c| {
                c.max_limit = 8;
                c.initial_limit = Some(20);
            })
            .build()
            .unwrap_err()
            .field(),
        "initial_limit"
    );
}

#[tokio::test(start_paused = true)]
async fn a_bare_adaptive_limit_counts_a_503_as_a_failure() {
    let sink = RecordingSink::new();
    let layer = AdaptiveLimitLayer::builder()
        .name("bare")
        .sink(sink.clone())
        .build()
        .unwrap();
    let svc = layer.layer(answering(503));
    let res = svc.clone().oneshot(http::Request::new(())).await.unwrap();
    assert_eq!(res.status(), 503);
    let ok = layer.layer(answering(200));
    ok.oneshot(http::Request::new(())).await.unwrap();
    let completed: Vec<Outcome> = sink
        .events_for("bare")
        .into_iter()
        .filter_map(|event| match event {
            Event::Completed { outcome, .. } => Some(outcome),
            _ => None,
        })
        .collect();
    assert_eq!(completed, vec![Outcome::Failure, Outcome::Success]);
    // That the failures are drops, which lower the limit, is
    // `the_classifier_decides_what_is_a_drop`.
}

#[tokio::test(start_paused = true)]
async fn a_non_http_service_takes_any_error_fails() {
    let layer = AdaptiveLimitLayer::builder()
        .configure(|c| {
            c.min_limit = 4;
            c.initial_limit = Some(20);
            c.max_limit = 100;
            c.algorithm = Algorithm::Aimd(Aimd {
                slow_start: false,
                ..Aimd::default()
            });
        })
        .classifier(AnyErrorFails)
        .build()
        .unwrap();
    let handle = layer.handle();
    let svc = layer.layer(service_fn(|_req: Req| async {
        tokio::time::sleep(Duration::from_millis(10)).await;
        Ok::<_, Infallible>(7u32)
    }));
    let svc = BoxCloneService::new(svc.map_response(|_| http::Response::new(())));
    offer(&svc, 10, 500).await;
    assert!(handle.limit() > 20, "successes grow it: {}", handle.limit());
}

#[test]
fn the_name_and_sink_follow_the_layer_contract() {
    let sink = RecordingSink::new();
    let env = BuildEnv::named("checkout").with_sink(sink.clone());
    let from_env = AdaptiveLimitConfig::default().build_in(&env).unwrap();
    let handle = from_env.handle();
    assert_eq!(handle.id().name(), "checkout");
    assert_eq!(handle.id().kind(), LayerKind::AdaptiveLimit);
    // Registering reported the first gauges to the environment's sink.
    assert!(!sink.events_for("checkout").is_empty());

    let own = AdaptiveLimitLayer::builder()
        .name("search")
        .env(env)
        .build()
        .unwrap();
    assert_eq!(own.handle().id().name(), "search");

    let bare = AdaptiveLimitLayer::from_config(&AdaptiveLimitConfig::default()).unwrap();
    assert_eq!(bare.handle().id().name(), "adaptive_limit");
    assert_eq!(bare.handle().config(), AdaptiveLimitConfig::default());
    assert!(format!("{:?}", bare.handle()).contains("adaptive_limit"));
}

#[test]
fn config_loads_from_data() {
    use buttress_limit::adaptive::Vegas;
    let config: AdaptiveLimitConfig = serde_json::from_str(
        r#"{"name": "search", "algorithm": {"kind": "vegas", "alpha": 2.0},
            "max_wait": "50ms", "probe_interval": "30s", "drop_above": "300ms"}"#,
    )
    .unwrap();
    assert_eq!(
        config.algorithm,
        Algorithm::Vegas(Vegas {
            alpha: 2.0,
            ..Vegas::default()
        })
    );
    assert_eq!(config.max_wait, Duration::from_millis(50));
    assert_eq!(config.drop_above, Some(Duration::from_millis(300)));
    assert_eq!(config.name.as_deref(), Some("search"));
    AdaptiveLimitLayer::from_config(&config).unwrap();
}
