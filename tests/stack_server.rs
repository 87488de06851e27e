//! The server stack on a real axum server: one layer for the whole
//! router, answers for every refusal, the ID echoed, state shared across
//! connections.

#![cfg(feature = "stack")]

mod support;

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use buttress::context::server::TrustConfig;
use buttress::limit::BulkheadConfig;
use buttress::stack::ServerStack;
use support::Connection;
use tokio::sync::watch;

async fn serve(app: Router) -> std::net::SocketAddr {
    support::serve_app(app).await
}

/// A router whose `/slow` takes 30 s.
fn slow_route() -> Router {
    Router::new().route(
        "/slow",
        get(|| async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            "late"
        }),
    )
}

/// The default server stack with this timeout.
fn with_timeout(name: &str, millis: u64) -> buttress::stack::ServerLayer {
    ServerStack::new(name)
        .timeout(Duration::from_millis(millis))
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_slow_handler_ends_at_the_timeout_with_504() {
    let app = slow_route()
        .route("/fast", get(|| async { "fast" }))
        .layer(with_timeout("timeouts", 100));
    let addr = serve(app).await;
    let mut conn = Connection::open(addr).await;
    let answer = conn.get("/slow", &[]).await;
    assert_eq!(answer.status, 504);
    // The connection survives the refusal; an ID is echoed on it, a fresh
    // one, since the default trusts no caller to choose its own.
    let answer = conn.get("/fast", &[("x-request-id", "req-42")]).await;
    assert_eq!(answer.status, 200);
    assert_ne!(answer.headers["x-request-id"], "req-42");
}

#[tokio::test]
async fn a_panicking_handler_answers_500_and_the_server_keeps_serving() {
    let stack = ServerStack::new("panics").build().unwrap();
    let app = Router::new()
        .route(
            "/boom",
            get(|| async {
                if true {
                    panic!("handler bug");
                }
                "never"
            }),
        )
        .route("/ok", get(|| async { "ok" }))
        .layer(stack);
    let addr = serve(app).await;
    let mut conn = Connection::open(addr).await;
    assert_eq!(conn.get("/boom", &[]).await.status, 500);
    assert_eq!(
        Connection::open(addr).await.get("/ok", &[]).await.status,
        200
    );
}

#[tokio::test]
async fn one_bulkhead_counts_every_connection_and_refuses_with_retry_after() {
    let (release, gate) = watch::channel(false);
    let stack = ServerStack::new("narrow")
        .adaptive_limit(buttress::stack::Toggle::Off)
        .bulkhead(BulkheadConfig {
            max_concurrent: 2,
            retry_after: Duration::from_secs(2),
            ..Default::default()
        })
        .build()
        .unwrap();
    let view = stack.clone();
    let app = Router::new()
        .route(
            "/wait",
            get(move || {
                let mut gate = gate.clone();
                async move {
                    gate.wait_for(|open| *open).await.unwrap();
                    "done"
                }
            }),
        )
        .layer(stack);
    let addr = serve(app).await;
    let held: Vec<_> = (0..2)
        .map(|_| tokio::spawn(async move { Connection::open(addr).await.get("/wait", &[]).await }))
        .collect();
    while view.bulkhead().unwrap().in_flight() < 2 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let refused = Connection::open(addr).await.get("/wait", &[]).await;
    assert_eq!(refused.status, 503);
    assert_eq!(refused.headers["retry-after"], "2");
    release.send(true).unwrap();
    for answer in held {
        assert_eq!(answer.await.unwrap().status, 200);
    }
    assert_eq!(view.bulkhead().unwrap().in_flight(), 0);
}

/// The two presets: the public edge keeps no caller's ID, whatever it
/// sends; the internal service keeps the ID of a request carrying the
/// gateway's secret, and only of such a request.
#[tokio::test]
async fn the_internal_preset_trusts_its_gateway_and_the_public_edge_no_one() {
    let gateway = TrustConfig::Header {
        name: "x-gateway".into(),
        value: "s3cret".into(),
    };
    let route = || Router::new().route("/", get(|| async { "ok" }));
    let internal =
        serve(route().layer(ServerStack::internal("inner", gateway).build().unwrap())).await;
    let edge = serve(route().layer(ServerStack::new("edge").build().unwrap())).await;

    let from_gateway = [("x-request-id", "req-7"), ("x-gateway", "s3cret")];
    let forged = [("x-request-id", "req-7"), ("x-gateway", "guess")];
    let mut conn = Connection::open(internal).await;
    assert_eq!(
        conn.get("/", &from_gateway).await.headers["x-request-id"],
        "req-7"
    );
    assert_ne!(
        conn.get("/", &forged).await.headers["x-request-id"],
        "req-7"
    );
    let mut conn = Connection::open(edge).await;
    assert_ne!(
        conn.get("/", &from_gateway).await.headers["x-request-id"],
        "req-7"
    );
}

#[tokio::test]
async fn without_context_no_id_is_echoed() {
    let stack = ServerStack::new("bare")
        .context(buttress::stack::Toggle::Off)
        .metrics(buttress::stack::Toggle::Off)
        .adaptive_limit(buttress::stack::Toggle::Off)
        .timeout(buttress::stack::Toggle::Off)
        .build()
        .unwrap();
    let app = Router::new()
        .route("/", get(|| async { "ok" }))
        .layer(stack);
    let addr = serve(app).await;
    let answer = Connection::open(addr)
        .await
        .get("/", &[("x-request-id", "abc")])
        .await;
    assert_eq!(answer.status, 200);
    assert!(!answer.headers.contains_key("x-request-id"));
}

#[test]
fn a_bad_setting_names_its_layer_and_field() {
    let err = ServerStack::new("x")
        .bulkhead(BulkheadConfig {
            max_concurrent: 0,
            ..Default::default()
        })
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "bulkhead.max_concurrent");
}

/// The context layer notes each request's protocol on its pass over the
/// headers, and the edge answers in it (`buttress_core::chain`): alternate
/// JSON, text and gRPC callers on one connection each get their own
/// answer, never the one noted for the request before.
#[tokio::test]
async fn each_refusal_answers_in_the_protocol_its_request_asked_for() {
    let app = slow_route().layer(with_timeout("protocols", 50));
    let mut conn = Connection::open(serve(app).await).await;
    for _ in 0..2 {
        let json = conn
            .get(
                "/slow",
                &[("accept", "text/html"), ("accept", "application/JSON")],
            )
            .await;
        assert_eq!(json.status, 504);
        assert_eq!(json.headers["content-type"], "application/json");
        let text = conn.get("/slow", &[("accept", "text/plain")]).await;
        assert_eq!(text.status, 504);
        assert_eq!(text.headers["content-type"], "text/plain; charset=utf-8");
        let grpc = conn
            .get(
                "/slow",
                &[
                    ("content-type", "application/grpc+proto"),
                    ("accept", "application/json"),
                ],
            )
            .await;
        // gRPC answers 200 with the status in `grpc-status`: 4 is
        // DEADLINE_EXCEEDED.
        assert_eq!(grpc.status, 200);
        assert_eq!(grpc.headers["grpc-status"], "4");
    }
}
