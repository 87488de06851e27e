//! The edge layer under a real axum 0.8 server, asked by a real HTTP
//! client over 127.0.0.1. A handler returns `Rejected` itself, which needs
//! the `axum` feature's `IntoResponse for Rejected`.

#![cfg(feature = "axum")]

mod support;

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use buttress::core::timeout::TimeoutLayer;
use buttress::edge::EdgeLayer;
use buttress::{Reason, Rejected};
use support::{Connection, REJECT_HEADER, RefuseLayer};
use tower::ServiceBuilder;

async fn serve(app: Router) -> std::net::SocketAddr {
    support::serve_app(app).await
}

async fn app() -> std::net::SocketAddr {
    let app = Router::new()
        .route("/ok", get(|| async { "ok" }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                "too late"
            }),
        )
        .route(
            "/panic",
            get(|| async {
                panic!("handler bug");
                #[allow(unreachable_code)]
                "never"
            }),
        )
        .route(
            "/client-rejected",
            get(|| async {
                // The handler's own call to a dependency was refused.
                Err::<String, _>(
                    Rejected::new(Reason::CircuitOpen).with_retry_after(Duration::from_secs(3)),
                )
            }),
        )
        .layer(
            ServiceBuilder::new()
                .layer(EdgeLayer::new())
                .layer(RefuseLayer)
                .layer(TimeoutLayer::new(Duration::from_millis(200)).expect("a valid timeout")),
        );
    serve(app).await
}

#[tokio::test]
async fn circuit_open_answers_503_with_retry_after() {
    let mut conn = Connection::open(app().await).await;
    let answer = conn.get("/ok", &[(REJECT_HEADER, "circuit_open")]).await;
    assert_eq!(answer.status, 503);
    assert_eq!(answer.headers["retry-after"], "3");
    assert_eq!(answer.body.as_ref(), b"circuit open\n");

    let json = conn
        .get(
            "/ok",
            &[
                (REJECT_HEADER, "circuit_open"),
                ("accept", "application/json"),
            ],
        )
        .await;
    assert_eq!(json.status, 503);
    assert_eq!(json.headers["content-type"], "application/json");
    assert!(json.body.starts_with(b"{\"error\":\"circuit_open\""));
}

#[tokio::test]
async fn rate_limited_answers_429() {
    let mut conn = Connection::open(app().await).await;
    let answer = conn.get("/ok", &[(REJECT_HEADER, "rate_limited")]).await;
    assert_eq!(answer.status, 429);
    assert_eq!(answer.headers["retry-after"], "3");
    let passed = conn.get("/ok", &[]).await;
    assert_eq!(passed.status, 200);
    assert_eq!(passed.body.as_ref(), b"ok");
}

#[tokio::test]
async fn a_handler_slower_than_the_timeout_answers_504() {
    let mut conn = Connection::open(app().await).await;
    let started = std::time::Instant::now();
    let answer = conn.get("/slow", &[]).await;
    assert_eq!(answer.status, 504);
    assert_eq!(answer.body.as_ref(), b"timed out\n");
    // Wide margin: the point is that we did not wait for the 30 s handler.
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn a_panicking_handler_answers_500_and_the_connection_survives() {
    let mut conn = Connection::open(app().await).await;
    let answer = conn.get("/panic", &[]).await;
    assert_eq!(answer.status, 500);
    assert!(!conn.is_closed());
    let next = conn.get("/ok", &[]).await;
    assert_eq!(
        next.status, 200,
        "the same connection serves the next request"
    );
    assert_eq!(next.body.as_ref(), b"ok");
}

#[tokio::test]
async fn a_handler_returning_a_client_rejection_answers_503() {
    let mut conn = Connection::open(app().await).await;
    let answer = conn.get("/client-rejected", &[]).await;
    assert_eq!(answer.status, 503);
    assert_eq!(answer.headers["retry-after"], "3");
    assert_eq!(answer.body.as_ref(), b"circuit open\n");
}

/// A handler's own refusal (`IntoResponse for Rejected`, which cannot see
/// the request) answers in JSON when the caller asks for it, as the edge's
/// own refusals do.
#[tokio::test]
async fn a_handlers_rejection_answers_in_json_when_asked() {
    let mut conn = Connection::open(app().await).await;
    let answer = conn
        .get("/client-rejected", &[("accept", "application/json")])
        .await;
    assert_eq!(answer.status, 503);
    assert_eq!(answer.headers["content-type"], "application/json");
    assert_eq!(answer.headers["retry-after"], "3");
    assert_eq!(
        answer.body.as_ref(),
        br#"{"error":"circuit_open","message":"circuit open"}"#
    );
    // Asked for nothing in particular: text, as before.
    let answer = conn.get("/client-rejected", &[]).await;
    assert_eq!(answer.headers["content-type"], "text/plain; charset=utf-8");
}
