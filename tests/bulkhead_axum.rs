//! Two routes of a real axum server, each behind its own bulkhead:
//! saturating one leaves the other serving, and the rejected callers get
//! 503 with `Retry-After` through the edge layer.

mod support;

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use buttress::core::layer::LayerBuilder;
use buttress::edge::EdgeLayer;
use buttress::limit::BulkheadLayer;
use support::Connection;
use tokio::sync::watch;
use tower::ServiceBuilder;

#[tokio::test]
async fn saturating_one_route_leaves_the_other_serving() {
    // A gate the slow handlers wait on; unlike a notification, it cannot
    // be missed by a handler that arrives late.
    let (release, gate) = watch::channel(false);
    let reports = BulkheadLayer::builder()
        .configure(|c| {
            c.max_concurrent = 2;
            c.retry_after = Duration::from_secs(2);
        })
        .name("reports")
        .build()
        .unwrap();
    let search = BulkheadLayer::builder()
        .configure(|c| c.max_concurrent = 2)
        .name("search")
        .build()
        .unwrap();
    let reports_view = reports.handle();
    let app = Router::new()
        .route(
            "/reports",
            get(move || {
                let mut gate = gate.clone();
                async move {
                    gate.wait_for(|open| *open).await.unwrap();
                    "report"
                }
            })
            .layer(ServiceBuilder::new().layer(EdgeLayer::new()).layer(reports)),
        )
        .route(
            "/search",
            get(|| async { "results" })
                .layer(ServiceBuilder::new().layer(EdgeLayer::new()).layer(search)),
        );
    let addr = support::serve_app(app).await;

    // Two slow report requests take the reports bulkhead's two slots.
    let mut slow = Vec::new();
    for _ in 0..2 {
        slow.push(tokio::spawn(async move {
            Connection::open(addr).await.get("/reports", &[]).await
        }));
    }
    for _ in 0..500 {
        if reports_view.in_flight() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        reports_view.in_flight(),
        2,
        "the slow requests hold both slots"
    );

    let mut conn = Connection::open(addr).await;
    let refused = conn.get("/reports", &[]).await;
    assert_eq!(refused.status, 503);
    assert_eq!(refused.headers["retry-after"], "2");
    assert_eq!(refused.body.as_ref(), b"bulkhead full\n");

    for _ in 0..10 {
        let answer = conn.get("/search", &[]).await;
        assert_eq!(answer.status, 200, "search has its own bulkhead");
        assert_eq!(answer.body.as_ref(), b"results");
    }

    release.send(true).unwrap();
    for request in slow {
        assert_eq!(request.await.unwrap().status, 200);
    }
    assert_eq!(reports_view.in_flight(), 0);
}
