//! An axum server with RED metrics, health endpoints and Prometheus text
//! at `/metrics`:
//!
//! `cargo run --example metrics_server --all-features`, then
//! `curl localhost:3000/metrics`.
//!
//! The integration test `tests/metrics_prometheus.rs` builds the same app
//! (it includes this file) and checks `/metrics` strictly.

use buttress::core::layer::LayerBuilder;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use buttress::edge::EdgeLayer;
use buttress::limit::BulkheadLayer;
use buttress::metrics::{Health, LATENCY_BUCKETS, RedLayer};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tower::ServiceBuilder;

/// Installs the Prometheus recorder — true histograms with latency
/// buckets, Prometheus naming — then Buttress' telemetry sink.
pub(crate) fn install() -> (PrometheusHandle, Health) {
    let prometheus = PrometheusBuilder::new()
        .with_recommended_naming(true)
        .set_buckets_for_metric(Matcher::Suffix("duration".into()), &LATENCY_BUCKETS)
        .expect("buckets are not empty")
        .set_buckets_for_metric(Matcher::Suffix("wait".into()), &LATENCY_BUCKETS)
        .expect("buckets are not empty")
        .install_recorder()
        .expect("the first recorder of this process");
    let health = buttress::metrics::install().expect("the first sink of this process");
    (prometheus, health)
}

/// The app: two API routes behind the server stack, plus `/metrics` and
/// the health endpoints outside it.
pub(crate) fn app(prometheus: PrometheusHandle, health: Health) -> Router {
    let api = Router::new()
        .route("/orders/{id}", get(|| async { "order" }))
        .route(
            "/reports",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(20)).await;
                "report"
            }),
        )
        .layer(
            ServiceBuilder::new()
                .layer(
                    RedLayer::builder()
                        .name("shop")
                        .build()
                        .expect("a valid RED layer"),
                )
                .layer(EdgeLayer::new())
                .layer(
                    BulkheadLayer::builder()
                        .configure(|c| c.max_concurrent = 64)
                        .name("api")
                        .build()
                        .expect("valid bulkhead"),
                ),
        );
    api.route(
        "/metrics",
        get(move || std::future::ready(prometheus.render())),
    )
    .route_service("/health/live", health.live())
    .route_service("/health/ready", health.ready())
    .route_service("/health/report", health.report())
}

#[allow(dead_code)] // the integration test includes this file for `app`
#[tokio::main]
async fn main() {
    let (prometheus, health) = install();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000")
        .await
        .expect("port 3000 is free");
    println!(
        "serving on http://{}",
        listener.local_addr().expect("bound")
    );
    buttress::serve::serve(listener, app(prometheus, health))
        .await
        .expect("server");
}
