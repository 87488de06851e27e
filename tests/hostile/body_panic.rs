//! (10) A response body that panics (or fails) mid-stream.
//!
//! Reproduced against an earlier Buttress: a handler whose body panicked
//! after its first chunk reached the client as a 200 with a truncated
//! body; the server survived (tokio caught the panic that took the
//! connection task down), but RED metrics recorded a success — they judged
//! the head — and so did every layer that classifies answers.
//!
//! Now the edge catches a panic while the body streams as it catches one
//! in the handler: the inner body is dropped, the stream ends with a body
//! error (for gRPC, `INTERNAL` trailers), and the connection task ends
//! normally. RED holds each request's record in the response body until
//! the body ends, so a body error or panic turns the head's verdict into
//! a failure; a breaker built with `judge_on_body_end()` does the same.
//! Real loopback sockets: an axum app behind the default server stack,
//! served by hyper connection tasks this test spawns (to see how they
//! end), called through hyper-util's client behind such a breaker.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use buttress::breaker::CircuitBreakerLayer;
use buttress::core::layer::LayerBuilder;
use buttress::metrics::names::{
    HTTP_SERVER_DURATION, LABEL_ERROR_TYPE, LABEL_NAME, LABEL_OUTCOME, LABEL_ROUTE,
};
use buttress::stack::ServerStack;
use bytes::Bytes;
use http_body::Frame;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use tokio::task::JoinHandle;
use tower::{Layer, ServiceExt};

const NAME: &str = "hostile-body-panic";

/// A body that sends one chunk, waits a moment (so that the head and the
/// chunk reach the client), then panics (or fails).
struct Exploding {
    sent: bool,
    pause: Pin<Box<tokio::time::Sleep>>,
    panics: bool,
}

impl http_body::Body for Exploding {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        if !self.sent {
            self.sent = true;
            return Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"first chunk")))));
        }
        std::task::ready!(self.pause.as_mut().poll(cx));
        if self.panics {
            panic!("the handler's body exploded mid-stream");
        }
        Poll::Ready(Some(Err(std::io::Error::other("body failed mid-stream"))))
    }
}

fn exploding(panics: bool) -> axum::response::Response {
    axum::response::Response::new(axum::body::Body::new(Exploding {
        sent: false,
        pause: Box::pin(tokio::time::sleep(Duration::from_millis(20))),
        panics,
    }))
}

type Connections = Arc<Mutex<Vec<JoinHandle<Result<(), hyper::Error>>>>>;

/// Serves `app` on loopback, one spawned hyper connection task per
/// connection, kept in `connections`.
async fn serve(app: Router, connections: Connections) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let service = TowerToHyperService::new(app.clone());
            let task = tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service),
            );
            connections.lock().unwrap().push(task);
        }
    });
    format!("http://{addr}")
}

/// Sum of counter `name` over series of this test's layer carrying every
/// label of `with` (`key=value`).
fn count(snapshot: &[(String, u64)], name: &str, with: &[&str]) -> u64 {
    snapshot
        .iter()
        .filter(|(key, _)| key.starts_with(&format!("{name}{{")))
        .filter(|(key, _)| key.contains(&format!("{LABEL_NAME}={NAME}")))
        .filter(|(key, _)| with.iter().all(|label| key.contains(label)))
        .map(|(_, value)| value)
        .sum()
}

/// Counters and histogram sample counts seen so far, added to `seen` (a
/// debugging snapshot drains).
fn drain(snapshotter: &Snapshotter, seen: &mut Vec<(String, u64)>) {
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let value = match value {
            DebugValue::Counter(value) => Some(value),
            DebugValue::Histogram(samples) => Some(samples.len() as u64),
            DebugValue::Gauge(_) => None,
        };
        if let Some(value) = value {
            let key = key.key();
            let labels: Vec<String> = key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            seen.push((format!("{}{{{}}}", key.name(), labels.join(",")), value));
        }
    }
}

#[test]
fn a_body_that_panics_mid_stream_is_a_failure_for_red_and_the_breaker() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // One thread runs server and client alike, so the local recorder sees
    // what the server's connection tasks record.
    metrics::with_local_recorder(&recorder, || {
        runtime.block_on(async {
            let connections = Connections::default();
            let stack = ServerStack::new(NAME).build().unwrap();
            let app = Router::new()
                .route("/ok", get(|| async { "whole answer" }))
                .route("/panic", get(|| async { exploding(true) }))
                .route("/error", get(|| async { exploding(false) }))
                .layer(stack);
            let url = serve(app, connections.clone()).await;

            let breaker = CircuitBreakerLayer::builder()
                .name("hostile-body-panic-client")
                .build()
                .unwrap()
                .judge_on_body_end();
            let handle = breaker.handle();
            let client = breaker.layer(Client::builder(TokioExecutor::new()).build_http());

            let mut outcomes = Vec::new();
            for path in ["/ok", "/panic", "/error", "/ok"] {
                let request = http::Request::get(format!("{url}{path}"))
                    .body(Empty::<Bytes>::new())
                    .unwrap();
                let response = client.clone().oneshot(request).await.unwrap();
                // The head was already on its way: a 200 either way.
                assert_eq!(response.status(), 200, "{path}");
                let body = response.into_body().collect().await;
                outcomes.push((path, body.is_ok()));
            }
            // The truncated answers are not passed off as whole ones, and
            // the server still answers after them.
            assert_eq!(
                outcomes,
                [
                    ("/ok", true),
                    ("/panic", false),
                    ("/error", false),
                    ("/ok", true)
                ]
            );

            // The breaker counted both truncated answers as failures.
            let stats = handle.stats();
            assert_eq!((stats.calls, stats.failures), (4, 2), "{stats:?}");

            // No connection task panicked: the edge caught the body's panic.
            drop(client);
            let tasks: Vec<_> = connections.lock().unwrap().drain(..).collect();
            assert!(!tasks.is_empty());
            for task in tasks {
                let ended = tokio::time::timeout(Duration::from_secs(5), task)
                    .await
                    .expect("the connection ends once the client is gone");
                assert!(ended.is_ok(), "a connection task panicked: {ended:?}");
            }
        })
    });

    // RED recorded the truncated answers as failures (with an error type:
    // their 200 is no error status, so `_OTHER`), the whole ones as
    // successes.
    let mut seen = Vec::new();
    drain(&snapshotter, &mut seen);
    let failure = format!("{LABEL_OUTCOME}=failure");
    let success = format!("{LABEL_OUTCOME}=success");
    for route in ["/panic", "/error"] {
        let route = format!("{LABEL_ROUTE}={route}");
        assert_eq!(
            count(&seen, HTTP_SERVER_DURATION, &[&route, &failure]),
            1,
            "{route}: {seen:?}"
        );
        assert_eq!(
            count(&seen, HTTP_SERVER_DURATION, &[&route, &success]),
            0,
            "{route}"
        );
        let error = format!("{LABEL_ERROR_TYPE}=_OTHER");
        assert_eq!(
            count(&seen, HTTP_SERVER_DURATION, &[&route, &error]),
            1,
            "{route}"
        );
    }
    let ok = format!("{LABEL_ROUTE}=/ok");
    assert_eq!(count(&seen, HTTP_SERVER_DURATION, &[&ok, &success]), 2);
    assert_eq!(count(&seen, HTTP_SERVER_DURATION, &[&failure]), 2);
}
