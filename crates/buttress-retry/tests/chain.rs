//! A retry storm that does not happen (issue 7, "Done when"): a chain of
//! real hyper servers on loopback, A → B → C, each hop calling the next
//! through hyper-util's client under a default retry layer, with C failing
//! every call. 200 requests/s to A for 10 s: without budgets C would see up
//! to 9× what A receives (3 attempts at each of two hops); with them, at
//! most 1.5×.
//!
//! Real sockets and real time: the assertion is on counts, with the
//! budget's bound (about 1.32× for this run) well inside the 1.5× target.

mod support;

use buttress_core::layer::LayerBuilder;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use buttress_retry::{ReplayBody, RetryLayer};
use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use support::{reply, serve};
use tower::{Layer, ServiceExt};

const RATE: u64 = 200;
const SECONDS: u64 = 10;

/// A hop: counts what it receives and forwards it to `next` through a
/// retrying client, answering with the status it got.
async fn hop(
    name: &str,
    next: std::net::SocketAddr,
    received: Arc<AtomicUsize>,
) -> std::net::SocketAddr {
    let client = Client::builder(TokioExecutor::new()).build_http::<ReplayBody<Empty<Bytes>>>();
    let client = RetryLayer::builder()
        .name(name)
        .build()
        .unwrap()
        .layer(client);
    serve(move |_req: Request<Incoming>| {
        received.fetch_add(1, Relaxed);
        let client = client.clone();
        async move {
            let out = Request::get(format!("http://{next}/"))
                .body(Empty::new())
                .unwrap();
            match client.oneshot(out).await {
                Ok(res) => {
                    let status = res.status().as_u16();
                    let _ = res.into_body().collect().await;
                    reply(status, "")
                }
                Err(_) => reply(502, ""),
            }
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hops_send_c_at_most_1_5_times_what_a_receives() {
    let (at_a, at_b, at_c) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    let c_count = at_c.clone();
    let c = serve(move |_req: Request<Incoming>| {
        c_count.fetch_add(1, Relaxed);
        async { reply(503, "down") }
    })
    .await;
    let b = hop("b", c, at_b.clone()).await;
    let a = hop("a", b, at_a.clone()).await;

    // The load: a plain client, no retries.
    let load = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / RATE));
    let mut calls = Vec::new();
    for _ in 0..RATE * SECONDS {
        tick.tick().await;
        let load = load.clone();
        let req = Request::get(format!("http://{a}/"))
            .body(Empty::new())
            .unwrap();
        calls.push(tokio::spawn(async move {
            let res = load.request(req).await.expect("A answers");
            res.status().as_u16()
        }));
    }
    for call in calls {
        assert_eq!(call.await.unwrap(), 503, "C's failure reaches the caller");
    }

    let (a, b, c) = (at_a.load(Relaxed), at_b.load(Relaxed), at_c.load(Relaxed));
    let ratio = c as f64 / a as f64;
    println!("A received {a}, B {b}, C {c}: C/A = {ratio:.3}");
    assert_eq!(a as u64, RATE * SECONDS);
    assert!(b > a && c > b, "each hop retried within its budget");
    assert!(ratio <= 1.5, "C received {ratio:.3}× what A did");
}
