//! hyper-util's client behind a client stack, calling a flaky local
//! server: the retry rides out its failures, and the request body is
//! replayed from a bounded buffer (no `Request: Clone` needed).
//!
//! `cargo run --example hyper_client --all-features`

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::put;
use buttress::retry::ReplayBody;
use buttress::stack::ClientStack;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::{Layer, ServiceExt};

/// A server that fails every other request with 503.
pub(crate) async fn flaky_server() -> SocketAddr {
    let calls = Arc::new(AtomicU32::new(0));
    let app = Router::new().route(
        "/items/{id}",
        put(move |body: Bytes| {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move {
                if n.is_multiple_of(2) {
                    (StatusCode::SERVICE_UNAVAILABLE, Bytes::from_static(b"busy"))
                } else {
                    (StatusCode::OK, body)
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let addr = listener.local_addr().expect("bound");
    tokio::spawn(async move { buttress::serve::serve(listener, app).await.expect("server") });
    addr
}

/// Sends three PUTs (idempotent, so retried) through the stack; returns
/// each answer's status and body.
pub(crate) async fn demo(addr: SocketAddr) -> Vec<(u16, Bytes)> {
    let transport = Client::builder(TokioExecutor::new()).build_http::<ReplayBody<Full<Bytes>>>();
    let stack = ClientStack::new("items")
        .timeout(Duration::from_millis(500))
        .build()
        .expect("a valid client stack");
    let client = stack.layer(transport);
    let mut answers = Vec::new();
    for id in 0..3 {
        let request = http::Request::put(format!("http://{addr}/items/{id}"))
            .body(Full::new(Bytes::from(format!("item {id}"))))
            .expect("a valid request");
        let response = client.clone().oneshot(request).await.expect("an answer");
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("a body")
            .to_bytes();
        answers.push((status, body));
    }
    answers
}

#[allow(dead_code)] // tests/examples_clients.rs includes this file
#[tokio::main]
async fn main() {
    let addr = flaky_server().await;
    for (status, body) in demo(addr).await {
        println!("{status} {}", String::from_utf8_lossy(&body));
    }
}
