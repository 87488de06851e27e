//! `examples/axum_server.rs` on a real socket: the API behind the server
//! stack, `/metrics` and health beside it.

#![cfg(all(feature = "stack", feature = "axum", feature = "serve"))]

#[path = "../examples/axum_server.rs"]
mod axum_server;
mod support;

use support::Connection;

#[tokio::test]
async fn the_axum_example_serves_its_api_metrics_and_health() {
    let (prometheus, health) = axum_server::install();
    let app = axum_server::app(prometheus, health);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { buttress::serve::serve(listener, app).await.unwrap() });

    let mut conn = Connection::open(addr).await;
    let order = conn.get("/orders/7", &[]).await;
    assert_eq!(order.status, 200);
    assert!(
        order.headers.contains_key("x-request-id"),
        "the context layer echoes an ID"
    );
    assert_eq!(
        conn.get("/reports", &[]).await.status,
        504,
        "the stack's 2 s timeout"
    );
    assert_eq!(conn.get("/health/live", &[]).await.status, 200);
    assert_eq!(conn.get("/health/ready", &[]).await.status, 200);

    let metrics = conn.get("/metrics", &[]).await;
    let text = String::from_utf8_lossy(&metrics.body);
    assert!(
        text.contains("http_server_request_duration_seconds_bucket"),
        "{text}"
    );
    assert!(text.contains(r#"buttress_name="shop""#), "{text}");
    assert!(text.contains(r#"http_route="/orders/{id}""#), "{text}");
}
