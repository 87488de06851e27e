//! The edge layer serves a hyper 1 connection through hyper-util's
//! `serve_connection` inside `tokio::spawn` — which does not compile with a
//! `BoxError` service error (rust-lang/rust#64552) — and answers.

mod support;

use std::convert::Infallible;

use buttress::edge::EdgeLayer;
use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use support::{Connection, REJECT_HEADER, RefuseLayer};
use tower::ServiceBuilder;

#[tokio::test]
async fn edge_serves_a_spawned_hyper_connection() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let service = ServiceBuilder::new()
                .layer(EdgeLayer::new())
                .layer(RefuseLayer)
                .service_fn(|_req: http::Request<hyper::body::Incoming>| async {
                    Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from_static(
                        b"hello",
                    ))))
                });
            tokio::spawn(async move {
                auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
                    .await
                    .unwrap();
            });
        }
    });

    let mut conn = Connection::open(addr).await;
    let ok = conn.get("/", &[]).await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.body.as_ref(), b"hello");
    let shed = conn.get("/", &[(REJECT_HEADER, "shed")]).await;
    assert_eq!(shed.status, 503);
    assert_eq!(shed.headers["retry-after"], "3");
}
