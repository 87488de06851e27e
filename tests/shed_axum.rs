//! A real axum server flooded on a sheddable route: `/health` and a
//! critical route keep answering, the flood gets 503 with `Retry-After`.
//!
//! The criticality comes from the `x-criticality` header, honoured by the
//! context layer only for callers its `TrustPolicy` trusts (here: those
//! presenting `x-internal: yes`); the flood claims `CRITICAL_PLUS` without
//! it and stays at the default, sheddable. Real sockets, real time: the
//! assertions are counts and causes, not timings.

mod support;

use buttress::core::layer::LayerBuilder;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use buttress::context::ServerContextLayer;
use buttress::core::{Criticality, TrustPolicy};
use buttress::edge::EdgeLayer;
use buttress::limit::shed::{LoadShedLayer, ShedSignalConfig};
use http::{HeaderName, HeaderValue};
use support::Connection;
use tower::ServiceBuilder;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_critical_routes_survive_a_flood_on_a_sheddable_route() {
    let shed = LoadShedLayer::builder()
        .configure(|c| {
            c.signal = ShedSignalConfig::InFlight { high: 8, low: 4 };
            c.escalate_after = Duration::from_secs(5);
            c.retry_after = Duration::from_secs(3);
        })
        .name("api")
        .build()
        .unwrap();
    let context = ServerContextLayer::builder()
        .trust(TrustPolicy::header(
            HeaderName::from_static("x-internal"),
            HeaderValue::from_static("yes"),
        ))
        .configure(|c| c.default_criticality = Criticality::Sheddable.as_str().into())
        .build()
        .unwrap();
    let slow = || async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        "ok"
    };
    let app = Router::new()
        .route("/health", get(|| async { "healthy" }))
        .route("/orders", get(slow))
        .route("/flood", get(slow))
        .layer(
            ServiceBuilder::new()
                .layer(context)
                .layer(EdgeLayer::new())
                .layer(shed.clone()),
        );
    let addr = support::serve_app(app).await;

    let flood_ok = Arc::new(AtomicU64::new(0));
    let flood_503 = Arc::new(AtomicU64::new(0));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut flood = Vec::new();
    for _ in 0..24 {
        let (ok, refused, stopped) = (flood_ok.clone(), flood_503.clone(), stopped.clone());
        flood.push(tokio::spawn(async move {
            let mut conn = Connection::open(addr).await;
            while !*stopped.borrow() {
                let answer = conn
                    .get("/flood", &[("x-criticality", "CRITICAL_PLUS")])
                    .await;
                match answer.status.as_u16() {
                    200 => ok.fetch_add(1, Ordering::Relaxed),
                    503 => {
                        assert_eq!(answer.headers["retry-after"], "3");
                        refused.fetch_add(1, Ordering::Relaxed)
                    }
                    other => panic!("flood answered {other}"),
                };
            }
        }));
    }
    // Let the flood start shedding.
    while flood_503.load(Ordering::Relaxed) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(shed.handle().shedding(), Some(Criticality::Sheddable));

    let health = tokio::spawn(async move {
        let mut conn = Connection::open(addr).await;
        let mut statuses = Vec::new();
        for _ in 0..40 {
            statuses.push(conn.get("/health", &[]).await.status.as_u16());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        statuses
    });
    let critical = tokio::spawn(async move {
        let mut conn = Connection::open(addr).await;
        let mut statuses = Vec::new();
        for _ in 0..40 {
            let answer = conn
                .get(
                    "/orders",
                    &[("x-internal", "yes"), ("x-criticality", "CRITICAL")],
                )
                .await;
            statuses.push(answer.status.as_u16());
        }
        statuses
    });
    let health = health.await.unwrap();
    let critical = critical.await.unwrap();
    stop.send(true).unwrap();
    for task in flood {
        task.await.unwrap();
    }
    let (ok, refused) = (
        flood_ok.load(Ordering::Relaxed),
        flood_503.load(Ordering::Relaxed),
    );
    println!("flood: {ok} served, {refused} shed; health and critical: 40 + 40 served");
    assert!(health.iter().all(|s| *s == 200), "{health:?}");
    assert!(critical.iter().all(|s| *s == 200), "{critical:?}");
    assert!(refused > 100, "the flood was shed: {refused}");
    assert!(ok > 0, "sheddable work kept what was left free");
}
