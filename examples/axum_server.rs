//! An axum server behind the ready-made server stack, with Prometheus
//! text at `/metrics` and health at `/health/live`, `/health/ready` and
//! `/health/report` (outside the stack, so a saturated API never fails
//! its health checks).
//!
//! `cargo run --example axum_server --all-features`, then
//! `curl -i localhost:3000/orders/7` and `curl localhost:3000/metrics`.

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use buttress::limit::BulkheadConfig;
use buttress::metrics::{Health, LATENCY_BUCKETS};
use buttress::stack::ServerStack;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Installs the Prometheus recorder (true histograms, Prometheus naming)
/// and Buttress' metrics sink. Once per process.
pub(crate) fn install() -> (PrometheusHandle, Health) {
    let prometheus = PrometheusBuilder::new()
        .with_recommended_naming(true)
        .set_buckets_for_metric(Matcher::Suffix("duration".into()), &LATENCY_BUCKETS)
        .expect("buckets are not empty")
        .install_recorder()
        .expect("the first recorder of this process");
    let health = buttress::metrics::install().expect("the first sink of this process");
    (prometheus, health)
}

/// The API behind the server stack, `/metrics` and health beside it.
pub(crate) fn app(prometheus: PrometheusHandle, health: Health) -> Router {
    let stack = ServerStack::new("shop")
        .timeout(Duration::from_secs(2))
        .bulkhead(BulkheadConfig {
            max_concurrent: 256,
            ..BulkheadConfig::default()
        })
        .build()
        .expect("a valid server stack");
    let api = Router::new()
        .route("/orders/{id}", get(|| async { "order" }))
        .route(
            "/reports",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await; // past the stack's timeout: 504
                "report"
            }),
        )
        .layer(stack);
    api.route(
        "/metrics",
        get(move || std::future::ready(prometheus.render())),
    )
    .route_service("/health/live", health.live())
    .route_service("/health/ready", health.ready())
    .route_service("/health/report", health.report())
}

#[allow(dead_code)] // tests/examples_axum.rs includes this file for `app`
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
