//! The caller's address reaches Buttress with no adapter, on every server
//! kind users run: axum (`ConnectInfo`), tonic (`TcpConnectInfo`),
//! `buttress::serve`, and a hand-written hyper-util accept loop (one
//! `PeerAddr` layer). On each, a server stack loaded from TOML keeps
//! separate per-IP quotas for 127.0.0.1 and 127.0.0.2, and trusts the
//! ID and deadline of the peer its `trust = { peers = [..] }` names while
//! ignoring an untrusted peer's.

#![cfg(all(
    feature = "stack",
    feature = "serde",
    feature = "axum",
    feature = "tonic"
))]

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::Router;
use axum::routing::get;
use buttress::config::ServiceConfig;
use buttress::core::RequestContext;
use buttress::core::context::PeerAddr;
use buttress::stack::ServerLayer;
use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tonic::transport::Endpoint;
use tonic::transport::server::TcpIncoming;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use tower::{Layer, Service, ServiceBuilder};

const TRUSTED: &str = "127.0.0.2";
const UNTRUSTED: &str = "127.0.0.1";

/// Two requests a minute per peer IP; only 127.0.0.2 may set IDs and
/// deadlines.
fn stack() -> ServerLayer {
    ServiceConfig::from_toml(&format!(
        r#"
        [server]
        name = "peers"
        [server.context]
        trust = {{ peers = ["{TRUSTED}/32"] }}
        [server.rate_limit]
        key = "peer_ip"
        quota = {{ limit = 2, period = "1m", burst = 2 }}
        "#
    ))
    .expect("a valid service file")
    .build_server()
    .expect("the stack builds")
}

/// A TCP connection to `addr` from the loopback address `from`.
async fn connect_from(from: &str, addr: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(from.parse::<IpAddr>().unwrap(), 0))?;
    socket.connect(addr).await
}

/// What one request saw: its status, the ID echoed back, and the
/// deadline the handler was given (milliseconds left).
#[derive(Debug)]
struct Seen {
    status: u16,
    id: Option<String>,
    deadline_ms: Option<u64>,
}

/// Puts the deadline the handler got into the response, so the client
/// can see whether the caller's was adopted.
#[derive(Clone)]
struct ShowDeadline<S>(S);

impl<S, B, R> Service<Request<B>> for ShowDeadline<S>
where
    S: Service<Request<B>, Response = Response<R>>,
    S::Future: Send + 'static,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<R>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let left = RequestContext::with_request(&request, |ctx| {
            ctx.and_then(|ctx| ctx.remaining(tokio::time::Instant::now()))
        })
        .map(|left| left.as_millis());
        let future = self.0.call(request);
        Box::pin(async move {
            let mut response = future.await?;
            if let Some(left) = left {
                let value = HeaderValue::from_str(&left.to_string()).unwrap();
                response.headers_mut().insert("x-seen-deadline-ms", value);
            }
            Ok(response)
        })
    }
}

#[derive(Clone)]
struct ShowDeadlineLayer;

impl<S> Layer<S> for ShowDeadlineLayer {
    type Service = ShowDeadline<S>;
    fn layer(&self, inner: S) -> ShowDeadline<S> {
        ShowDeadline(inner)
    }
}

fn router() -> Router {
    Router::new()
        .route("/", get(|| async { "ok" }))
        .layer(ShowDeadlineLayer)
        .layer(stack())
}

/// One HTTP/1 request from `from`, with a caller-chosen ID and a 60 s
/// deadline.
async fn http_get(from: &str, addr: SocketAddr, id: &str) -> Seen {
    let stream = connect_from(from, addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let request = Request::get(format!("http://{addr}/"))
        .header("x-request-id", id)
        .header("x-request-timeout-ms", "60000")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let seen = Seen {
        status: response.status().as_u16(),
        id: header(response.headers(), "x-request-id"),
        deadline_ms: header(response.headers(), "x-seen-deadline-ms").map(|v| v.parse().unwrap()),
    };
    let _ = response.into_body().collect().await;
    seen
}

fn header(headers: &http::HeaderMap, name: &str) -> Option<String> {
    headers.get(name).map(|v| v.to_str().unwrap().to_owned())
}

/// The server stack's own deadline is 10 s (its default timeout): a
/// deadline above it was the caller's, adopted; none above it means the
/// caller's was ignored.
const SERVER_TIMEOUT_MS: u64 = 10_000;

/// Asserts separate quotas per IP and trust by peer, against requests
/// made by `request(from, id)`.
async fn check_peers<F, Fut>(request: F)
where
    F: Fn(&'static str, &'static str) -> Fut,
    Fut: Future<Output = Seen>,
{
    // Trust: the trusted peer's ID comes back, and its deadline is
    // adopted (capped at the server's own); the untrusted peer's are not.
    let trusted = request(TRUSTED, "trusted-caller-id").await;
    assert_eq!(trusted.status, 200, "{trusted:?}");
    assert_eq!(trusted.id.as_deref(), Some("trusted-caller-id"));
    let untrusted = request(UNTRUSTED, "forged-caller-id").await;
    assert_eq!(untrusted.status, 200, "{untrusted:?}");
    assert_ne!(untrusted.id.as_deref(), Some("forged-caller-id"));
    assert!(untrusted.id.is_some(), "the server mints its own ID");
    // Both end up with the server's own 10 s deadline here (the trusted
    // caller's 60 s is capped at it), so the deadline check is the
    // shorter one below.
    assert!(trusted.deadline_ms.unwrap() <= SERVER_TIMEOUT_MS);

    // Quotas: each IP has spent one of its two; the second is admitted,
    // the third refused — per IP, not shared.
    assert_eq!(request(UNTRUSTED, "x").await.status, 200);
    assert_eq!(request(UNTRUSTED, "x").await.status, 429);
    assert_eq!(request(TRUSTED, "x").await.status, 200);
    assert_eq!(request(TRUSTED, "x").await.status, 429);
}

#[tokio::test]
async fn axum_with_connect_info() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = router().into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    check_peers(|from, id| http_get(from, addr, id)).await;
}

#[tokio::test]
async fn buttress_serve() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(buttress::serve::serve(listener, router()));
    check_peers(|from, id| http_get(from, addr, id)).await;
}

#[tokio::test]
async fn hyper_util_accept_loop_with_one_peer_layer() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = router();
    tokio::spawn(async move {
        loop {
            let (stream, remote) = listener.accept().await.unwrap();
            // The one line a hand-written accept loop needs.
            let service = PeerAddr(remote).layer(app.clone());
            tokio::spawn(async move {
                let service = hyper_util::service::TowerToHyperService::new(service);
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    check_peers(|from, id| http_get(from, addr, id)).await;
}

/// A shorter deadline than the server's own shows adoption directly: the
/// trusted peer's 3 s arrives, the untrusted peer's is ignored.
#[tokio::test]
async fn a_trusted_peers_deadline_is_adopted_and_an_untrusted_ones_ignored() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(buttress::serve::serve(listener, router()));
    for (from, adopted) in [(TRUSTED, true), (UNTRUSTED, false)] {
        let stream = connect_from(from, addr).await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(conn);
        let request = Request::get(format!("http://{addr}/"))
            .header("x-request-timeout-ms", "3000")
            .body(Empty::<Bytes>::new())
            .unwrap();
        let response = sender.send_request(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let left: u64 = header(response.headers(), "x-seen-deadline-ms")
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(left <= 3_000, adopted, "from {from}: {left} ms left");
    }
}

/// tonic: the peer address comes from tonic's own `TcpConnectInfo`.
#[tokio::test]
async fn tonic_server() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (_reporter, health) = tonic_health::server::health_reporter();
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .layer(
                ServiceBuilder::new()
                    .layer(stack())
                    .layer(ShowDeadlineLayer),
            )
            .add_service(health)
            .serve_with_incoming(TcpIncoming::from(listener))
            .await
            .unwrap();
    });
    let mut channels = Vec::new();
    for from in [TRUSTED, UNTRUSTED] {
        let connector = tower::service_fn(move |_: http::Uri| async move {
            connect_from(from, addr).await.map(TokioIo::new)
        });
        let channel = Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect_with_connector(connector)
            .await
            .unwrap();
        channels.push((from, HealthClient::new(channel)));
    }
    let request = |from: &'static str, id: &'static str| {
        let mut client = channels
            .iter()
            .find(|(peer, _)| *peer == from)
            .map(|(_, client)| client.clone())
            .unwrap();
        async move {
            let mut request = tonic::Request::new(HealthCheckRequest {
                service: String::new(),
            });
            request
                .metadata_mut()
                .insert("x-request-id", id.parse().unwrap());
            request.set_timeout(std::time::Duration::from_secs(60));
            match client.check(request).await {
                Ok(response) => Seen {
                    status: 200,
                    id: response
                        .metadata()
                        .get("x-request-id")
                        .map(|v| v.to_str().unwrap().to_owned()),
                    deadline_ms: response
                        .metadata()
                        .get("x-seen-deadline-ms")
                        .map(|v| v.to_str().unwrap().parse().unwrap()),
                },
                Err(status) => Seen {
                    // The edge answers a rate-limited gRPC call with
                    // RESOURCE_EXHAUSTED: reported as the HTTP 429 it
                    // stands for.
                    status: match status.code() {
                        tonic::Code::ResourceExhausted => 429,
                        _ => panic!("unexpected {status:?}"),
                    },
                    id: None,
                    deadline_ms: None,
                },
            }
        }
    };
    check_peers(request).await;
}
