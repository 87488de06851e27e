//! A real dependency on 127.0.0.1 for the client-kind tests: `/echo`
//! (records headers, echoes the body), `/flaky` (fails every first
//! attempt, echoes retries) and `/failing` (always 503).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::routing::{post, put};
use bytes::Bytes;
use http::{HeaderMap, StatusCode};

/// What the dependency received.
#[derive(Clone, Default)]
pub struct Seen {
    pub headers: Arc<Mutex<Vec<HeaderMap>>>,
    pub bodies: Arc<Mutex<Vec<Bytes>>>,
}

async fn echo(State(seen): State<Seen>, headers: HeaderMap, body: Bytes) -> Bytes {
    seen.headers.lock().unwrap().push(headers);
    body
}

/// Fails every first attempt (after reading the body), echoes retries.
async fn flaky(State(seen): State<Seen>, headers: HeaderMap, body: Bytes) -> (StatusCode, Bytes) {
    seen.bodies.lock().unwrap().push(body.clone());
    match headers.get("x-retry-attempt") {
        None => (StatusCode::SERVICE_UNAVAILABLE, Bytes::new()),
        Some(_) => (StatusCode::OK, body),
    }
}

async fn failing() -> StatusCode {
    StatusCode::SERVICE_UNAVAILABLE
}

/// Serves the dependency with `buttress::serve` on an ephemeral port.
pub async fn serve() -> (SocketAddr, Seen) {
    let seen = Seen::default();
    let app = Router::new()
        .route("/echo", post(echo))
        .route("/flaky", put(flaky))
        .route("/failing", post(failing))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(buttress::serve::serve(listener, app));
    (addr, seen)
}
