//! Client-side throttling, on tokio's paused clock with seeded draws.

use buttress_core::layer::LayerBuilder;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use buttress_core::classify::HttpClassifier;
use buttress_core::layer::{BuildEnv, LayerConfig, LayerHandle};
use buttress_core::telemetry::{Event, GaugeKind, LayerKind, RecordingSink};
use buttress_core::{BoxError, Reason, Rejected};
use buttress_limit::throttle::{ThrottleConfig, ThrottleLayer};
use tokio::time::Instant;
use tower::util::BoxCloneService;
use tower::{Layer, ServiceExt, service_fn};

type Req = http::Request<()>;
type Svc = BoxCloneService<Req, http::Response<()>, BoxError>;

fn status(code: u16) -> http::Response<()> {
    http::Response::builder().status(code).body(()).unwrap()
}

/// A dependency answering `code`, counting the calls it sees.
fn answering(code: Arc<AtomicU64>, seen: Arc<AtomicU64>) -> Svc {
    BoxCloneService::new(service_fn(move |_req: Req| {
        seen.fetch_add(1, Ordering::Relaxed);
        let code = code.load(Ordering::Relaxed) as u16;
        async move { Ok::<_, BoxError>(status(code)) }
    }))
}

fn layer(cap: f64) -> ThrottleLayer<HttpClassifier> {
    ThrottleLayer::builder()
        .configure(|c| {
            c.max_probability = cap;
            c.seed = Some(0x5eed_0006);
        })
        .name("dep")
        .classifier(HttpClassifier::default())
        .build()
        .unwrap()
}

fn is_throttled(err: &BoxError) -> bool {
    let rejected = Rejected::find(&**err).expect("a rejection");
    assert!(!rejected.was_sent());
    rejected.reason() == Reason::Throttled
}

/// Makes `failures` calls in a row that fail — refused by the dependency
/// (503) or, once the odds rise, locally — then returns the share of the
/// next `calls` calls rejected locally.
async fn rejection_after_failures(cap: f64, failures: u64, calls: u64) -> f64 {
    let code = Arc::new(AtomicU64::new(503));
    let seen = Arc::new(AtomicU64::new(0));
    let svc = layer(cap).layer(answering(code, seen.clone()));
    for _ in 0..failures {
        match svc.clone().oneshot(Req::new(())).await {
            Ok(res) => assert_eq!(res.status(), 503),
            Err(err) => assert!(is_throttled(&err)),
        }
        tokio::time::advance(Duration::from_millis(1)).await;
    }
    assert!(seen.load(Ordering::Relaxed) > 0);
    let mut rejected = 0;
    for _ in 0..calls {
        if let Err(err) = svc.clone().oneshot(Req::new(())).await {
            assert!(is_throttled(&err));
            rejected += 1;
        }
        tokio::time::advance(Duration::from_millis(1)).await;
    }
    rejected as f64 / calls as f64
}

#[tokio::test(start_paused = true)]
async fn after_300_failures_the_rejection_sits_at_the_cap() {
    let fraction = rejection_after_failures(0.9, 300, 2_000).await;
    println!("cap 0.9: rejected {fraction:.3}");
    assert!((fraction - 0.9).abs() <= 0.05, "{fraction}");
}

#[tokio::test(start_paused = true)]
async fn without_a_cap_nearly_everything_is_rejected() {
    let fraction = rejection_after_failures(1.0, 300, 2_000).await;
    println!("no cap: rejected {fraction:.3}");
    assert!((fraction - 0.98).abs() <= 0.05, "{fraction}");
}

/// A dependency that accepts at most `per_second` calls in each second
/// and answers 503 to the rest; a recovered one accepts everything.
fn rationed(per_second: u64, recovered: Arc<AtomicU64>, accepted: Arc<AtomicU64>) -> Svc {
    let start = Instant::now();
    let budget = Arc::new(AtomicU64::new(0)); // second << 32 | used
    BoxCloneService::new(service_fn(move |_req: Req| {
        let second = start.elapsed().as_secs();
        let state = budget.load(Ordering::Relaxed);
        let used = if state >> 32 == second {
            state & 0xffff_ffff
        } else {
            0
        };
        let ok = recovered.load(Ordering::Relaxed) == 1 || used < per_second;
        budget.store((second << 32) | (used + u64::from(ok)), Ordering::Relaxed);
        if ok {
            accepted.fetch_add(1, Ordering::Relaxed);
        }
        async move { Ok::<_, BoxError>(status(if ok { 200 } else { 503 })) }
    }))
}

#[tokio::test(start_paused = true)]
async fn upstream_traffic_settles_near_k_times_the_accepted_rate_and_recovers() {
    let recovered = Arc::new(AtomicU64::new(0));
    let accepted = Arc::new(AtomicU64::new(0));
    let seen = Arc::new(AtomicU64::new(0));
    let throttle = layer(0.9);
    let backend = rationed(300, recovered.clone(), accepted.clone());
    let counting = {
        let seen = seen.clone();
        backend.map_request(move |req: Req| {
            seen.fetch_add(1, Ordering::Relaxed);
            req
        })
    };
    let svc = throttle.layer(counting);
    // 1,000 calls per second: one per millisecond.
    let second = |svc: &_| {
        let svc: &buttress_limit::throttle::Throttle<_, _> = svc;
        let svc = svc.clone();
        async move {
            let (mut rejected, mut calls) = (0u64, 0u64);
            for _ in 0..1_000 {
                calls += 1;
                if let Err(err) = svc.clone().oneshot(Req::new(())).await {
                    assert!(is_throttled(&err));
                    rejected += 1;
                }
                tokio::time::advance(Duration::from_millis(1)).await;
            }
            (rejected, calls)
        }
    };
    // Three windows of sickness; judge the last minute.
    for _ in 0..300 {
        second(&svc).await;
    }
    let (sent_before, accepted_before) = (
        seen.load(Ordering::Relaxed),
        accepted.load(Ordering::Relaxed),
    );
    for _ in 0..60 {
        second(&svc).await;
    }
    let sent = seen.load(Ordering::Relaxed) - sent_before;
    let ok = accepted.load(Ordering::Relaxed) - accepted_before;
    let ratio = sent as f64 / ok as f64;
    println!(
        "sick: sent {:.0}/s upstream, accepted {:.0}/s: {ratio:.2}× (p = {:.3})",
        sent as f64 / 60.0,
        ok as f64 / 60.0,
        throttle.handle().probability()
    );
    assert!(ratio <= 2.2, "{ratio}");
    assert!(ok as f64 / 60.0 >= 290.0, "the dependency is kept busy");

    // Recovery: within one window (two minutes) nothing is rejected.
    recovered.store(1, Ordering::Relaxed);
    let mut seconds_to_zero = None;
    for s in 0..180 {
        let (rejected, _) = second(&svc).await;
        if rejected == 0 && seconds_to_zero.is_none() {
            seconds_to_zero = Some(s + 1);
        }
        if rejected > 0 {
            seconds_to_zero = None;
        }
    }
    println!("recovered: no rejection after {seconds_to_zero:?} s");
    let seconds = seconds_to_zero.expect("rejections stopped");
    assert!(seconds <= 120, "{seconds}");
    assert_eq!(throttle.handle().probability(), 0.0);
}

#[tokio::test(start_paused = true)]
async fn inner_rejections_count_as_neither_requests_nor_accepts() {
    let throttle = layer(0.9);
    let svc = throttle.layer(service_fn(|_req: Req| async {
        Err::<http::Response<()>, BoxError>(Box::new(Rejected::new(Reason::CircuitOpen)))
    }));
    for _ in 0..500 {
        let err = svc.clone().oneshot(Req::new(())).await.unwrap_err();
        assert_eq!(
            Rejected::find(&*err).unwrap().reason(),
            Reason::CircuitOpen,
            "never throttled: the breaker's refusals are not the dependency's"
        );
    }
    assert_eq!(throttle.handle().counts(), (0, 0));
    assert_eq!(throttle.handle().probability(), 0.0);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_call_counts_as_neither() {
    let throttle = layer(0.9);
    let svc = throttle.layer(service_fn(|_req: Req| async {
        std::future::pending::<()>().await;
        Ok::<_, BoxError>(status(200))
    }));
    for _ in 0..10 {
        let call = svc.clone().oneshot(Req::new(()));
        assert!(
            tokio::time::timeout(Duration::from_millis(5), call)
                .await
                .is_err()
        );
    }
    assert_eq!(throttle.handle().counts(), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn shared_by_clones_and_layers_with_telemetry() {
    let sink = RecordingSink::new();
    let throttle = ThrottleLayer::builder()
        .with_config(ThrottleConfig {
            window: Duration::from_secs(10),
            buckets: 10,
            seed: Some(1),
            ..ThrottleConfig::default()
        })
        .name("dep")
        .sink(sink.clone())
        .classifier(HttpClassifier::default())
        .build()
        .unwrap();
    let failing = || service_fn(|_req: Req| async { Ok::<_, BoxError>(status(500)) });
    // Two services from one layer (as axum's per-request layering does)
    // share one window.
    let a = throttle.layer(failing());
    let b = throttle.clone().layer(failing());
    for i in 0..200 {
        let svc = if i % 2 == 0 { a.clone() } else { b.clone() };
        let _ = svc.oneshot(Req::new(())).await;
        tokio::time::advance(Duration::from_millis(100)).await;
    }
    let (requests, accepts) = throttle.handle().counts();
    assert_eq!(accepts, 0);
    assert!((90..=110).contains(&requests), "a 10 s window: {requests}");
    let events = sink.events_for("dep");
    assert!(events.contains(&Event::Rejected(Reason::Throttled)));
    let gauges: Vec<f64> = events
        .iter()
        .filter_map(|e| match e {
            Event::Gauge {
                kind: GaugeKind::Probability,
                value,
            } => Some(*value),
            _ => None,
        })
        .collect();
    assert_eq!(gauges.first(), Some(&0.0));
    assert!(gauges.iter().any(|p| *p >= 0.85), "{gauges:?}");
}

#[tokio::test(start_paused = true)]
async fn a_bare_throttle_counts_an_http_503_as_a_refusal() {
    // No classifier given: the default judges the HTTP status, so a
    // dependency answering 503 is refusing, and the throttle backs off.
    let throttle = ThrottleLayer::builder()
        .configure(|c| c.seed = Some(3))
        .name("bare")
        .build()
        .unwrap();
    let handle = throttle.handle();
    let seen = Arc::new(AtomicU64::new(0));
    let svc = throttle.layer(answering(Arc::new(AtomicU64::new(503)), seen.clone()));
    let mut throttled = 0;
    for _ in 0..200 {
        match svc.clone().oneshot(Req::new(())).await {
            Ok(res) => assert_eq!(res.status(), 503),
            Err(err) => {
                assert!(is_throttled(&err));
                throttled += 1;
            }
        }
        tokio::time::advance(Duration::from_millis(1)).await;
    }
    let (requests, accepts) = handle.counts();
    assert_eq!(accepts, 0, "a 503 is no accept");
    assert_eq!(requests, 200, "sent and throttled calls both count");
    assert_eq!(seen.load(Ordering::Relaxed) + throttled, 200);
    assert!(throttled > 100, "it starts throttling: {throttled}");
    assert_eq!(handle.probability(), 0.9);

    // A gRPC error carried in an HTTP 200 is a refusal too.
    let grpc_unavailable = ThrottleLayer::builder()
        .configure(|c| c.seed = Some(3))
        .build()
        .unwrap();
    let handle = grpc_unavailable.handle();
    let svc = grpc_unavailable.layer(service_fn(|_req: Req| async {
        let res = http::Response::builder()
            .header("grpc-status", "14")
            .body(())
            .unwrap();
        Ok::<_, BoxError>(res)
    }));
    for _ in 0..20 {
        let _ = svc.clone().oneshot(Req::new(())).await;
    }
    assert_eq!(handle.counts().1, 0);
    assert!(handle.probability() > 0.0);
}

#[test]
fn builds_from_the_default_config_and_the_builder_under_one_name_rule() {
    let from_config = ThrottleLayer::from_config(&ThrottleConfig::default()).unwrap();
    assert_eq!(from_config.handle().id().name(), "throttle");
    assert_eq!(from_config.handle().id().kind(), LayerKind::Throttle);
    assert_eq!(from_config.handle().config(), ThrottleConfig::default());

    let sink = RecordingSink::new();
    let env = BuildEnv::named("payments").with_sink(sink.clone());
    let in_env = ThrottleConfig::default().build_in(&env).unwrap();
    assert_eq!(in_env.handle().id().name(), "payments");
    let built = ThrottleLayer::builder()
        .name("ledger")
        .env(env)
        .configure(|c| c.k = 1.5)
        .build()
        .unwrap();
    assert_eq!(built.handle().id().name(), "ledger", "its own name first");
    assert_eq!(built.handle().config().k, 1.5);
    assert_eq!(
        sink.registered()
            .iter()
            .map(|id| id.name().to_owned())
            .collect::<Vec<_>>(),
        ["payments", "ledger"]
    );
}

#[test]
fn invalid_settings_are_refused() {
    let bad = |config: ThrottleConfig| ThrottleLayer::from_config(&config).unwrap_err();
    let base = ThrottleConfig::default();
    assert_eq!(
        bad(ThrottleConfig {
            k: 0.5,
            ..base.clone()
        })
        .field(),
        "k"
    );
    assert_eq!(
        bad(ThrottleConfig {
            k: f64::NAN,
            ..base.clone()
        })
        .field(),
        "k"
    );
    assert_eq!(
        bad(ThrottleConfig {
            max_probability: 1.5,
            ..base.clone()
        })
        .field(),
        "max_probability"
    );
    assert_eq!(
        bad(ThrottleConfig {
            buckets: 0,
            ..base.clone()
        })
        .field(),
        "buckets"
    );
    assert_eq!(
        bad(ThrottleConfig {
            window: Duration::ZERO,
            ..base.clone()
        })
        .field(),
        "window"
    );
    assert_eq!(
        bad(ThrottleConfig {
            window: Duration::from_secs(2 * 86_400),
            ..base.clone()
        })
        .field(),
        "window"
    );
    assert_eq!(
        bad(ThrottleConfig {
            retry_after: Duration::from_secs(2 * 86_400),
            ..base.clone()
        })
        .field(),
        "retry_after"
    );
    assert_eq!(
        bad(ThrottleConfig {
            name: Some(String::new()),
            ..base
        })
        .field(),
        "name"
    );
}

#[test]
fn loads_from_data() {
    let config: ThrottleConfig = serde_json::from_str(
        r#"{ "name": "payments", "window": "1m", "buckets": 60, "k": 1.5, "max_probability": 1.0 }"#,
    )
    .unwrap();
    assert_eq!(config.window, Duration::from_secs(60));
    assert_eq!(config.k, 1.5);
    ThrottleLayer::from_config(&config).unwrap();
}
