//! `buttress::serve` on real loopback sockets: HTTP/1 with keep-alive,
//! HTTP/2 with prior knowledge, and graceful shutdown that lets a request
//! in flight finish. (Its bounds under attack are in the hostile suite,
//! `tests/hostile/slow_connections.rs`.)

#![cfg(all(feature = "serve", feature = "axum"))]

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use buttress::serve::{ServeConfig, ServeHandle, Server};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::sync::oneshot;

fn app() -> Router {
    Router::new().route("/", get(|| async { "hello" })).route(
        "/slow",
        get(|| async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            "slow"
        }),
    )
}

/// A server on a free port, stopped when the sender is used or dropped.
async fn start(
    config: ServeConfig,
) -> (
    SocketAddr,
    ServeHandle,
    oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Server::new(config).unwrap();
    let handle = server.handle();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server.serve_with_shutdown(listener, app(), async move {
        let _ = stopped.await;
    }));
    (addr, handle, stop, task)
}

async fn get_h1(
    sender: &mut hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
    path: &str,
) -> (u16, Bytes) {
    let request = http::Request::get(path)
        .header("host", "x")
        .body(Empty::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let status = response.status().as_u16();
    (
        status,
        response.into_body().collect().await.unwrap().to_bytes(),
    )
}

#[tokio::test]
async fn http1_keeps_its_connection_alive_across_requests() {
    let (addr, handle, _stop, _task) = start(ServeConfig::default()).await;
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    for _ in 0..3 {
        assert_eq!(get_h1(&mut sender, "/").await, (200, Bytes::from("hello")));
    }
    assert_eq!(handle.connections(), 1, "one connection served all three");
}

#[tokio::test]
async fn http2_prior_knowledge_is_detected_and_served() {
    let (addr, _handle, _stop, _task) = start(ServeConfig::default()).await;
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let request = http::Request::get(format!("http://{addr}/"))
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.version(), http::Version::HTTP_2);
    assert_eq!(response.status(), 200);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "hello");
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_header_timeout() {
    let config = ServeConfig {
        header_read_timeout: Duration::from_millis(200),
        ..ServeConfig::default()
    };
    let (addr, handle, _stop, _task) = start(config).await;
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    let conn = tokio::spawn(conn);
    assert_eq!(get_h1(&mut sender, "/").await.0, 200);
    tokio::time::timeout(Duration::from_secs(5), conn)
        .await
        .expect("the server closed the idle connection")
        .unwrap()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(handle.connections(), 0);
}

#[tokio::test]
async fn graceful_shutdown_finishes_the_request_in_flight() {
    let (addr, handle, stop, task) = start(ServeConfig::default()).await;
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let slow = tokio::spawn(async move { get_h1(&mut sender, "/slow").await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(handle.connections(), 1);
    stop.send(()).unwrap();
    assert_eq!(slow.await.unwrap(), (200, Bytes::from("slow")));
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the server returned after draining")
        .unwrap()
        .unwrap();
    assert_eq!(handle.connections(), 0);
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "the listener is closed"
    );
}
