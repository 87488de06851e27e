//! The load shedder's invariants, on tokio's paused clock.

use buttress_core::layer::LayerBuilder;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use buttress_core::layer::{BuildEnv, LayerConfig, LayerHandle};
use buttress_core::telemetry::{Event, LayerKind, RecordingSink};
use buttress_core::{BoxError, Criticality, Reason, Rejected, RequestContext};
use buttress_limit::shed::{
    LoadShed, LoadShedLayer, MethodRule, OverloadSignal, Pressure, Probe, RouteRule, ShedConfig,
    ShedSignalConfig,
};
use tokio::sync::watch;
use tower::{Layer, Service, ServiceExt, service_fn};

type Req = http::Request<()>;

fn get(path: &str) -> Req {
    http::Request::get(path).body(()).unwrap()
}

fn with_level(path: &str, level: Criticality) -> Req {
    let mut req = get(path);
    req.extensions_mut()
        .insert(RequestContext::starting_now().with_criticality(level));
    req
}

fn is_shed(result: &Result<&'static str, BoxError>) -> bool {
    match result {
        Ok(_) => false,
        Err(err) => {
            let rejected = Rejected::find(&**err).expect("a rejection");
            assert_eq!(rejected.reason(), Reason::Shed);
            assert_eq!(rejected.retry_after(), Some(Duration::from_secs(2)));
            assert!(!rejected.was_sent());
            true
        }
    }
}

/// A service whose calls to `/orders` wait for the gate (others answer at
/// once), counting the calls it sees.
fn gated() -> (
    impl Service<Req, Response = &'static str, Error = Infallible, Future: Send> + Clone + Send,
    watch::Sender<bool>,
    Arc<AtomicUsize>,
) {
    let (open, gate) = watch::channel(false);
    let seen = Arc::new(AtomicUsize::new(0));
    let count = seen.clone();
    let svc = service_fn(move |req: Req| {
        count.fetch_add(1, Ordering::SeqCst);
        let mut gate = gate.clone();
        let wait = req.uri().path() == "/orders";
        async move {
            if wait {
                gate.wait_for(|open| *open).await.unwrap();
            }
            Ok::<_, Infallible>("done")
        }
    });
    (svc, open, seen)
}

fn shed_layer(high: usize, low: usize) -> LoadShedLayer {
    LoadShedLayer::builder()
        .with_config(ShedConfig {
            signal: ShedSignalConfig::InFlight { high, low },
            retry_after: Duration::from_secs(2),
            escalate_after: Duration::from_millis(100),
            cooldown: Duration::from_secs(1),
            relax_ratio: 0.5,
            ..rules()
        })
        .name("shed")
        .build()
        .unwrap()
}

/// The route and method rules the tests shed by.
fn rules() -> ShedConfig {
    ShedConfig {
        routes: vec![RouteRule::new("/batch/{*rest}", Criticality::Sheddable)],
        methods: vec![MethodRule::new(
            http::Method::DELETE,
            Criticality::SheddablePlus,
        )],
        ..ShedConfig::default()
    }
}

/// Starts `n` calls that hold their place in flight until the gate opens.
fn hold<S>(svc: &LoadShed<S>, n: usize, level: Criticality) -> Vec<tokio::task::JoinHandle<bool>>
where
    S: Service<Req, Response = &'static str, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send,
{
    (0..n)
        .map(|_| {
            let call = svc.clone().oneshot(with_level("/orders", level));
            tokio::spawn(async move { is_shed(&call.await) })
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn sheds_the_lowest_priority_first_and_never_calls_the_inner_service() {
    let layer = shed_layer(4, 2);
    let (inner, open, seen) = gated();
    let svc = layer.layer(inner);
    let held = hold(&svc, 4, Criticality::Critical);
    tokio::task::yield_now().await;
    assert_eq!(layer.handle().in_flight(), 4);
    assert_eq!(
        layer.handle().shedding(),
        None,
        "at the high mark, not above"
    );

    // Above the high mark: the sheddable class is shed...
    let shed = svc
        .clone()
        .oneshot(with_level("/orders", Criticality::Sheddable))
        .await;
    assert!(is_shed(&shed));
    assert_eq!(layer.handle().shedding(), Some(Criticality::Sheddable));
    assert_eq!(
        seen.load(Ordering::SeqCst),
        4,
        "a shed request never reaches the service"
    );
    // ...while everything more important still passes.
    let more = hold(&svc, 1, Criticality::SheddablePlus);
    tokio::task::yield_now().await;
    assert_eq!(layer.handle().in_flight(), 5);
    open.send(true).unwrap();
    for call in held.into_iter().chain(more) {
        assert!(!call.await.unwrap());
    }
    assert_eq!(layer.handle().in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn critical_work_is_shed_only_when_nothing_else_is_left() {
    let sink = RecordingSink::new();
    let layer = LoadShedLayer::builder()
        .configure(|c| {
            c.signal = ShedSignalConfig::InFlight { high: 2, low: 1 };
            c.escalate_after = Duration::from_millis(100);
            c.retry_after = Duration::from_secs(2);
        })
        .name("ramp")
        .sink(sink.clone())
        .build()
        .unwrap();
    let (inner, open, _) = gated();
    let svc = layer.layer(inner);
    let _held = hold(&svc, 2, Criticality::CriticalPlus);
    tokio::task::yield_now().await;
    let mut levels = Vec::new();
    // Critical work keeps the signal overloaded: the level climbs one
    // class per dwell, and critical work is refused only at the third —
    // and, the overload standing, critical-plus at the fourth.
    for _ in 0..5 {
        let result = svc
            .clone()
            .oneshot(with_level("/x", Criticality::Critical))
            .await;
        levels.push((layer.handle().shedding(), is_shed(&result)));
        tokio::time::advance(Duration::from_millis(100)).await;
    }
    assert_eq!(
        levels,
        vec![
            (Some(Criticality::Sheddable), false),
            (Some(Criticality::SheddablePlus), false),
            (Some(Criticality::Critical), true),
            (Some(Criticality::CriticalPlus), true),
            (Some(Criticality::CriticalPlus), true),
        ]
    );
    let changes = sink.count(|_, e| matches!(e, Event::StateChanged { .. }));
    assert_eq!(changes, 4);
    assert!(sink.events_for("ramp").contains(&Event::StateChanged {
        from: "sheddable_plus",
        to: "critical"
    }));
    open.send(true).unwrap();
}

#[tokio::test(start_paused = true)]
async fn the_level_falls_once_the_spike_is_over() {
    let layer = shed_layer(1, 1);
    let (inner, open, _) = gated();
    let svc = layer.layer(inner);
    let held = hold(&svc, 2, Criticality::Critical);
    tokio::task::yield_now().await;
    assert_eq!(layer.handle().shedding(), Some(Criticality::Sheddable));
    open.send(true).unwrap();
    for call in held {
        call.await.unwrap();
    }
    // Sheddable work is let in again while relieved, at once...
    let ok = svc
        .clone()
        .oneshot(with_level("/o", Criticality::Sheddable))
        .await;
    assert!(!is_shed(&ok));
    assert_eq!(layer.handle().shedding(), Some(Criticality::Sheddable));
    // ...and the state itself ends after a cooldown without refusals.
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(layer.handle().shedding(), None);
}

#[tokio::test(start_paused = true)]
async fn priorities_come_from_rules_then_the_trusted_context() {
    let layer = LoadShedLayer::builder()
        .with_config(ShedConfig {
            retry_after: Duration::from_secs(2),
            ..rules()
        })
        .custom_signal(Always(Pressure::Overloaded))
        .build()
        .unwrap();
    let svc = layer.layer(service_fn(|_req: Req| async {
        Ok::<_, Infallible>("done")
    }));
    // Push the level to "sheddable plus" (two classes gated).
    let _ = svc.clone().oneshot(get("/")).await;
    tokio::time::advance(Duration::from_millis(100)).await;
    let _ = svc.clone().oneshot(get("/")).await;
    assert_eq!(layer.handle().shedding(), Some(Criticality::SheddablePlus));

    let call = |req: Req| svc.clone().oneshot(req);
    // Route rule beats the context.
    assert!(is_shed(
        &call(with_level("/batch/a/b", Criticality::CriticalPlus)).await
    ));
    // Health routes are critical-plus whatever the context says.
    assert!(!is_shed(
        &call(with_level("/health", Criticality::Sheddable)).await
    ));
    assert!(!is_shed(
        &call(with_level("/readyz", Criticality::Sheddable)).await
    ));
    // Method rule.
    let delete = http::Request::delete("/orders/1").body(()).unwrap();
    assert!(is_shed(&call(delete).await));
    // The context, from the extensions...
    assert!(is_shed(
        &call(with_level("/orders", Criticality::Sheddable)).await
    ));
    assert!(!is_shed(
        &call(with_level("/orders", Criticality::Critical)).await
    ));
    // ...or from the current task.
    let ctx = RequestContext::starting_now().with_criticality(Criticality::SheddablePlus);
    assert!(is_shed(&ctx.scope(call(get("/orders"))).await));
    // No rule, no context: the default (critical).
    assert!(!is_shed(&call(get("/orders")).await));
}

#[tokio::test(start_paused = true)]
async fn a_closure_is_consulted_first() {
    let layer = LoadShedLayer::builder()
        .configure(|c| c.retry_after = Duration::from_secs(2))
        .custom_signal(Always(Pressure::Overloaded))
        .priority_fn(|req| {
            req.headers()
                .contains_key("x-prefetch")
                .then_some(Criticality::Sheddable)
        })
        .build()
        .unwrap();
    let svc = layer.layer(service_fn(|_req: Req| async {
        Ok::<_, Infallible>("done")
    }));
    let mut prefetch = with_level("/health", Criticality::CriticalPlus);
    prefetch
        .headers_mut()
        .insert("x-prefetch", "1".parse().unwrap());
    assert!(is_shed(&svc.clone().oneshot(prefetch).await));
    assert!(!is_shed(&svc.clone().oneshot(get("/x")).await));
}

#[tokio::test(start_paused = true)]
async fn response_future_drop_releases_in_flight() {
    let layer = shed_layer(10, 5);
    let (inner, _open, _) = gated();
    let mut svc = layer.layer(inner.clone());
    let call = svc.ready().await.unwrap().call(get("/"));
    // Another service from the same layer (axum layers per request)
    // counts against the same state.
    let mut other = layer.layer(inner);
    let second = other.ready().await.unwrap().call(get("/"));
    assert_eq!(layer.handle().in_flight(), 2);
    drop(call);
    drop(second);
    assert_eq!(layer.handle().in_flight(), 0);
}

struct Always(Pressure);

impl OverloadSignal for Always {
    fn pressure(&self, _probe: &Probe) -> Pressure {
        self.0
    }
}

#[tokio::test(start_paused = true)]
async fn a_custom_signal_drives_the_level() {
    let layer = LoadShedLayer::builder()
        .configure(|c| c.retry_after = Duration::from_secs(2))
        .custom_signal(Always(Pressure::Overloaded))
        .build()
        .unwrap();
    let svc = layer.layer(service_fn(|_req: Req| async {
        Ok::<_, Infallible>("done")
    }));
    assert!(is_shed(
        &svc.clone()
            .oneshot(with_level("/", Criticality::Sheddable))
            .await
    ));
    assert!(!is_shed(
        &svc.clone()
            .oneshot(with_level("/", Criticality::Critical))
            .await
    ));
}

#[tokio::test(start_paused = true)]
async fn the_latency_signal_sheds_once_calls_are_slow() {
    let layer = LoadShedLayer::builder()
        .configure(|c| {
            c.signal = ShedSignalConfig::Latency {
                target: Duration::from_millis(50),
                relief: Duration::from_millis(20),
                window: Duration::from_millis(100),
            };
            c.retry_after = Duration::from_secs(2);
        })
        .build()
        .unwrap();
    let svc = layer.layer(service_fn(|_req: Req| async {
        tokio::time::sleep(Duration::from_millis(80)).await;
        Ok::<_, Infallible>("done")
    }));
    for _ in 0..3 {
        assert!(!is_shed(&svc.clone().oneshot(get("/")).await));
    }
    assert!(is_shed(
        &svc.clone()
            .oneshot(with_level("/", Criticality::Sheddable))
            .await
    ));
    assert!(!is_shed(&svc.clone().oneshot(get("/")).await));
}

#[tokio::test(start_paused = true)]
async fn the_queue_delay_signal_sheds_on_a_standing_queue() {
    let layer = LoadShedLayer::builder()
        .configure(|c| {
            c.signal = ShedSignalConfig::QueueDelay {
                target: Duration::from_millis(10),
                interval: Duration::from_millis(100),
            };
            c.retry_after = Duration::from_secs(2);
        })
        .build()
        .unwrap();
    let svc = layer.layer(service_fn(|_req: Req| async {
        Ok::<_, Infallible>("done")
    }));
    let late = |level| {
        let mut req = get("/");
        let start = tokio::time::Instant::now() - Duration::from_millis(30);
        req.extensions_mut()
            .insert(RequestContext::new(start).with_criticality(level));
        req
    };
    // A burst of delay is tolerated...
    assert!(!is_shed(
        &svc.clone().oneshot(late(Criticality::Sheddable)).await
    ));
    tokio::time::advance(Duration::from_millis(100)).await;
    // ...a delay standing for the interval is overload.
    assert!(is_shed(
        &svc.clone().oneshot(late(Criticality::Sheddable)).await
    ));
    assert!(!is_shed(
        &svc.clone().oneshot(late(Criticality::Critical)).await
    ));
    // A request that did not wait is let in.
    assert!(!is_shed(
        &svc.clone()
            .oneshot(with_level("/", Criticality::Sheddable))
            .await
    ));
}

#[test]
fn invalid_settings_are_refused() {
    let bad = |config: ShedConfig| LoadShedLayer::from_config(&config).unwrap_err();
    let base = ShedConfig::default();
    let signal = ShedSignalConfig::InFlight { high: 10, low: 20 };
    assert_eq!(
        bad(ShedConfig {
            signal,
            ..base.clone()
        })
        .field(),
        "signal.low"
    );
    let routes = vec![RouteRule::new("no-slash", Criticality::Sheddable)];
    assert_eq!(
        bad(ShedConfig {
            routes,
            ..base.clone()
        })
        .field(),
        "routes"
    );
    let methods = vec![MethodRule {
        method: "BAD METHOD".into(),
        criticality: Criticality::Sheddable,
    }];
    assert_eq!(
        bad(ShedConfig {
            methods,
            ..base.clone()
        })
        .field(),
        "methods"
    );
    assert_eq!(
        bad(ShedConfig {
            cooldown: Duration::ZERO,
            ..base.clone()
        })
        .field(),
        "cooldown"
    );
    assert_eq!(
        bad(ShedConfig {
            relax_ratio: 2.0,
            ..base.clone()
        })
        .field(),
        "relax_ratio"
    );
    let signal = ShedSignalConfig::Latency {
        target: Duration::from_millis(10),
        relief: Duration::from_millis(20),
        window: Duration::from_secs(1),
    };
    assert_eq!(
        bad(ShedConfig {
            signal,
            ..base.clone()
        })
        .field(),
        "signal.relief"
    );
    let signal = ShedSignalConfig::QueueDelay {
        target: Duration::from_millis(10),
        interval: Duration::ZERO,
    };
    assert_eq!(
        bad(ShedConfig {
            signal,
            ..base.clone()
        })
        .field(),
        "signal.interval"
    );
    let two_days = Duration::from_secs(2 * 86_400);
    assert_eq!(
        bad(ShedConfig {
            retry_after: two_days,
            ..base.clone()
        })
        .field(),
        "retry_after"
    );
    assert_eq!(
        bad(ShedConfig {
            escalate_after: two_days,
            ..base.clone()
        })
        .field(),
        "escalate_after"
    );
    assert_eq!(
        bad(ShedConfig {
            name: Some(String::new()),
            ..base
        })
        .field(),
        "name"
    );
}

#[test]
fn builds_from_the_default_config_and_the_builder_under_one_name_rule() {
    let from_config = LoadShedLayer::from_config(&ShedConfig::default()).unwrap();
    assert_eq!(from_config.handle().id().name(), "shed");
    assert_eq!(from_config.handle().id().kind(), LayerKind::Shed);
    assert_eq!(from_config.handle().config(), ShedConfig::default());

    let sink = RecordingSink::new();
    let env = BuildEnv::named("checkout").with_sink(sink.clone());
    let in_env = ShedConfig::default().build_in(&env).unwrap();
    assert_eq!(in_env.handle().id().name(), "checkout");
    let built = LoadShedLayer::builder()
        .name("api")
        .env(env)
        .configure(|c| c.relax_ratio = 0.25)
        .build()
        .unwrap();
    assert_eq!(built.handle().id().name(), "api", "its own name first");
    assert_eq!(built.handle().config().relax_ratio, 0.25);
    assert_eq!(
        sink.registered()
            .iter()
            .map(|id| id.name().to_owned())
            .collect::<Vec<_>>(),
        ["checkout", "api"]
    );
}

#[test]
fn loads_from_data() {
    let config: ShedConfig = serde_json::from_str(
        r#"{
            "name": "api",
            "signal": { "kind": "latency", "target": "200ms", "relief": "100ms", "window": "1s" },
            "cooldown": "2s",
            "routes": [{ "route": "/reports/{id}", "criticality": "SHEDDABLE" }],
            "methods": [{ "method": "POST", "criticality": "critical_plus" }]
        }"#,
    )
    .unwrap();
    assert_eq!(config.cooldown, Duration::from_secs(2));
    assert_eq!(config.routes[0].criticality, Criticality::Sheddable);
    assert_eq!(config.methods[0].criticality, Criticality::CriticalPlus);
    assert_eq!(config.health_routes.len(), 5, "health routes by default");
    LoadShedLayer::from_config(&config).unwrap();
    let bad = serde_json::from_str::<ShedConfig>(
        r#"{ "routes": [{ "route": "/x", "criticality": "URGENT" }] }"#,
    );
    assert!(bad.is_err());
}
