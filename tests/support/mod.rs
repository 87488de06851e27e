//! Shared pieces of the integration tests: a layer that rejects on
//! request, and a plain HTTP/1 client on one connection.

#![allow(dead_code, unreachable_pub)] // each test binary uses its own subset

pub mod dependency;
pub mod example;
pub mod prometheus;
pub mod scratch;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use buttress::{BoxError, Reason, Rejected};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tower::{Layer, Service};

/// Serves `app` on an ephemeral 127.0.0.1 port, in a task of its own
/// that lives as long as the runtime; returns its address.
pub async fn serve_app(app: axum::Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let addr = listener.local_addr().expect("the listener's address");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("the app serves") });
    addr
}

/// The header a test sets to make [`Refuse`] reject its request.
pub const REJECT_HEADER: &str = "x-test-reject";

/// Stands in for the resilience layers: rejects a request whose
/// `x-test-reject` header names a reason (`circuit_open`, `shed`,
/// `rate_limited`), with a 3-second retry hint; passes the rest on.
#[derive(Debug, Clone, Copy, Default)]
pub struct RefuseLayer;

impl<S> Layer<S> for RefuseLayer {
    type Service = Refuse<S>;

    fn layer(&self, inner: S) -> Refuse<S> {
        Refuse { inner }
    }
}

#[derive(Debug, Clone)]
pub struct Refuse<S> {
    inner: S,
}

pub fn reason_named(name: &[u8]) -> Option<Reason> {
    Reason::ALL
        .into_iter()
        .find(|r| r.as_str().as_bytes() == name)
}

impl<S, B> Service<http::Request<B>> for Refuse<S>
where
    S: Service<http::Request<B>>,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let refusal = request
            .headers()
            .get(REJECT_HEADER)
            .and_then(|value| reason_named(value.as_bytes()));
        match refusal {
            Some(reason) => {
                let rejected = Rejected::new(reason).with_retry_after(Duration::from_secs(3));
                Box::pin(async move { Err(rejected.into()) })
            }
            None => {
                let future = self.inner.call(request);
                Box::pin(async move { future.await.map_err(Into::into) })
            }
        }
    }
}

/// One HTTP/1 connection to `addr`, for tests that must prove the
/// connection survives an answer.
pub struct Connection {
    sender: hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
}

/// What a test reads of an answer.
#[derive(Debug)]
pub struct Answer {
    pub status: http::StatusCode,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Connection {
    pub async fn open(addr: std::net::SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).await.expect("connect");
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("handshake");
        tokio::spawn(connection);
        Connection { sender }
    }

    pub async fn get(&mut self, path: &str, headers: &[(&str, &str)]) -> Answer {
        let mut builder = http::Request::get(path).header("host", "127.0.0.1");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        self.sender.ready().await.expect("connection still open");
        let response = self
            .sender
            .send_request(builder.body(Empty::new()).unwrap())
            .await
            .expect("an answer");
        let (parts, body) = response.into_parts();
        Answer {
            status: parts.status,
            headers: parts.headers,
            body: body.collect().await.expect("a body").to_bytes(),
        }
    }

    pub fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }
}
