//! The client examples, run: hyper-util, reqwest, tonic, and the gateway
//! that degrades to a fallback for its non-critical dependency.

#![cfg(all(feature = "stack", feature = "axum", feature = "serve"))]

#[path = "../examples/gateway.rs"]
mod gateway;
#[path = "../examples/hyper_client.rs"]
mod hyper_client;
#[path = "../examples/reqwest_client.rs"]
mod reqwest_client;
mod support;
#[path = "../examples/tonic_grpc.rs"]
mod tonic_grpc;

use support::Connection;

#[tokio::test]
async fn the_hyper_client_retries_through_a_flaky_server_replaying_bodies() {
    let addr = hyper_client::flaky_server().await;
    let answers = hyper_client::demo(addr).await;
    for (id, (status, body)) in answers.iter().enumerate() {
        assert_eq!(*status, 200, "every PUT ends in success after a retry");
        assert_eq!(
            body,
            &format!("item {id}"),
            "the retried body is the original"
        );
    }
}

#[tokio::test]
async fn the_reqwest_client_fails_fast_once_the_breaker_opens() {
    let outcomes = reqwest_client::demo(reqwest_client::closed_port(), 8).await;
    assert_eq!(outcomes[0], "transport error");
    assert_eq!(
        outcomes.last().unwrap(),
        "rejected: circuit_open",
        "{outcomes:?}"
    );
}

#[tokio::test]
async fn the_tonic_client_reaches_the_tonic_server_through_both_stacks() {
    let addr = tonic_grpc::serve().await;
    assert_eq!(tonic_grpc::check(addr).await.unwrap(), 1, "SERVING");
}

#[tokio::test]
async fn the_gateway_serves_the_page_without_its_broken_recommendations() {
    let app = gateway::app(gateway::downstreams().await);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { buttress::serve::serve(listener, app).await.unwrap() });
    let mut conn = Connection::open(addr).await;
    for _ in 0..10 {
        let page = conn.get("/page", &[]).await;
        assert_eq!(page.status, 200);
        assert_eq!(page.headers["x-fallback"], "recommendations");
        let body = String::from_utf8_lossy(&page.body);
        assert!(
            body.contains(r#""name":"Ada""#) && body.contains(r#""recommendations":[]"#),
            "{body}"
        );
    }
}
