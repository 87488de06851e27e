//! Real sockets on 127.0.0.1, on real time with generous bounds (a
//! paused clock would auto-advance while tasks wait on sockets).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;

use buttress_balance::{BalanceLayer, EndpointState};
use buttress_core::layer::LayerBuilder;
use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::{Layer, ServiceExt};

/// An axum backend answering `status`, counting its calls.
async fn backend(status: u16) -> (SocketAddr, Arc<AtomicU64>) {
    let calls = Arc::new(AtomicU64::new(0));
    let counted = calls.clone();
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(move || {
            let calls = counted.clone();
            async move {
                calls.fetch_add(1, Relaxed);
                http::StatusCode::from_u16(status).unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, calls)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_loopback_a_backend_answering_500s_is_ejected() {
    let mut backends = Vec::new();
    for status in [200, 200, 500] {
        backends.push(backend(status).await);
    }
    let bad = backends[2].0;
    let layer = BalanceLayer::builder()
        .configure(|c| {
            c.endpoints = backends.iter().map(|(addr, _)| addr.to_string()).collect();
            c.seed = Some(3);
        })
        .name("loopback")
        .build()
        .unwrap();
    // One hyper-util client (one pool) for all; each endpoint's service
    // points requests at its own address.
    let http: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let client = layer.layer(move |addr: &SocketAddr| {
        let (http, addr) = (http.clone(), *addr);
        tower::service_fn(move |mut req: http::Request<Empty<Bytes>>| {
            *req.uri_mut() = format!("http://{addr}/").parse().unwrap();
            http.request(req)
        })
    });

    let (mut ok, mut failed) = (0u32, 0u32);
    let mut ejected_after = None;
    for n in 0..1_000u32 {
        let mut success = false;
        for _ in 0..3 {
            let res = client
                .clone()
                .oneshot(http::Request::new(Empty::new()))
                .await;
            if res.is_ok_and(|res| res.status().is_success()) {
                success = true;
                break;
            }
        }
        if success {
            ok += 1
        } else {
            failed += 1
        }
        if ejected_after.is_none()
            && client
                .handle()
                .endpoints()
                .iter()
                .any(|ep| ep.endpoint == bad.to_string() && ep.state == EndpointState::Ejected)
        {
            ejected_after = Some((n, backends[2].1.load(Relaxed)));
        }
    }
    let calls: Vec<u64> = backends.iter().map(|(_, c)| c.load(Relaxed)).collect();
    let (after, bad_then) = ejected_after.expect("the failing backend was ejected");
    println!("loopback: ejected after {after} requests; calls {calls:?}; ok {ok} failed {failed}");
    assert!(after < 100);
    assert!(calls[2] - bad_then <= 10, "barely called once ejected");
    // Before its ejection a retry may land on it again: generous bound.
    let success = f64::from(ok) * 100.0 / f64::from(ok + failed);
    assert!(success >= 99.5, "client success {success:.2} %");
}
